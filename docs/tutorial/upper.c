/* upper.c - a first DLibOS server: echoes what it receives, in upper case. */
#include <dlibos/dlibos.h>

/* Send back what is queued, as far as copy memory allows. */
static void pump(struct dlibos_core *c, dlibos_conn_t conn)
{
	struct dlibos_iov in;
	char out[2048];

	while (dlibos_rx_peek(c, conn, &in) > 0) {
		uint32_t n = in.len < sizeof(out) ? in.len : sizeof(out);
		for (uint32_t i = 0; i < n; i++)
			out[i] = in.base[i] >= 'a' && in.base[i] <= 'z' ? in.base[i] - 32 : in.base[i];
		int sent = dlibos_send_copy(c, conn, out, n);
		if (sent <= 0)
			return; /* memory is short: `writable` calls pump again */
		dlibos_rx_consume(c, conn, (size_t)sent);
	}
}

static void on_data(struct dlibos_core *c, dlibos_conn_t conn, const struct dlibos_iov *iov,
		    unsigned n)
{
	if (dlibos_rx_push(c, conn, iov, n) != 0)
		dlibos_close(c, conn);
	else
		pump(c, conn);
}

static void on_closed(struct dlibos_core *c, dlibos_conn_t conn, enum dlibos_close_reason why)
{
	(void)why;
	pump(c, conn);
	dlibos_close(c, conn);
}

static int start(struct dlibos_core *c)
{
	return dlibos_listen(c, 7, 128);
}

static const struct dlibos_app upper = {
	.name = "upper",
	.summary = "echoes in upper case on TCP port 7",
	.core_init = start,
	.cb = {.new_data = on_data, .writable = pump, .remote_closed = on_closed},
};

int main(int argc, char **argv)
{
	return dlibos_main(argc, argv, &upper);
}
