/**
 * @file dlibos.h
 * @brief The DLibOS application API: asynchronous events and commands.
 *
 * DLibOS splits a machine into **network cores** (driver + TCP/IP stack) and
 * **application cores**. They never call each other: network cores send
 * *events* to application cores and application cores send *commands* to
 * network cores, as messages on a network-on-chip (the TILE-Gx UDN, or on x86
 * single-producer rings with credit-based flow control). This header is the
 * whole application-facing interface (paper Table 1, completed with listen,
 * connected, connect_failed and an error event).
 *
 * An application is a set of callbacks plus options, handed to dlibos_main():
 *
 * @code
 * static void on_data(struct dlibos_core *c, dlibos_conn_t conn,
 *                     const struct dlibos_iov *iov, unsigned n) { ... }
 * static const struct dlibos_app app = {
 *         .name = "echo",
 *         .core_init = my_core_init,            // e.g. dlibos_listen(c, 7, 128)
 *         .cb = { .new_data = on_data, ... },
 * };
 * int main(int argc, char **argv) { return dlibos_main(argc, argv, &app); }
 * @endcode
 *
 * The same source runs unchanged in every execution mode; only arguments
 * change (`--mode rtc|dlibos`, `--attach PATH` for protected mode):
 *  - `rtc`: each core runs driver, stack and callbacks (run to completion);
 *    commands are direct calls into the stack;
 *  - `dlibos`: net cores and app cores are threads; events and commands
 *    travel over the NoC;
 *  - protected: the application is a separate process attached to a
 *    `dlibosd` service; its RX memory is mapped read-only and every command
 *    is validated by the service.
 *
 * **Rules every application follows**
 *  - Everything is non-blocking and fire-and-forget. A command returns 0 when
 *    it was issued; failures detected later by the network core arrive as the
 *    `cmd_error` event. A negative return value means the command was
 *    rejected on the spot (bad argument, memory not in TX memory, ...).
 *    Commands leave the core at the end of its loop iteration, in the order
 *    issued; a `send` and the `recv_done` of the same connection issued one
 *    after the other travel as one NoC message (so does a `data_acked` with
 *    the `new_data` that follows it), which is why a NoC failure of a `send`
 *    or `recv_done` is reported as a `cmd_error` event rather than returned.
 *  - Received data (new_data) is zero-copy: the iovecs point into RX
 *    buffers, read-only. They stay valid until the application returns the
 *    bytes with dlibos_recv_done(); data is returned in order, by count. The
 *    receive window only reopens as bytes are returned, so an application
 *    that keeps data keeps its peers waiting (and is counted).
 *  - Sent data is zero-touch: dlibos_send() passes references to memory from
 *    dlibos_tx_alloc(). The memory must not change until the `data_acked`
 *    events have covered it (acknowledgements count bytes in send order, per
 *    connection). Responses prepared once can be sent on many connections.
 *  - Connections are named `<net core, id>` (dlibos_conn_t); the application
 *    core that accepted (or opened) a connection owns it: all its events go
 *    to that core and only that core may command it.
 *  - Callbacks of one application core run on that core only; different
 *    application cores run in parallel (shared application state needs its
 *    own synchronisation). Commands may be issued from inside callbacks.
 *  - After `cleanup` the handle is dead; `cleanup` follows every connection
 *    the application saw (closed by either side, reset, or aborted).
 */
#ifndef DLIBOS_H
#define DLIBOS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A connection: bits 0-31 the id, bits 32-47 the network core. */
typedef uint64_t dlibos_conn_t;

/** Never a valid connection. */
#define DLIBOS_CONN_NONE UINT64_MAX

/** The network core that owns a connection. */
static inline unsigned dlibos_conn_net(dlibos_conn_t c)
{
	return (unsigned)((c >> 32) & 0xffff);
}

/** The connection's id within its network core. */
static inline uint32_t dlibos_conn_id(dlibos_conn_t c)
{
	return (uint32_t)c;
}

/** Build a handle (used by the runtime). */
static inline dlibos_conn_t dlibos_conn_make(unsigned net, uint32_t id)
{
	return (uint64_t)(net & 0xffff) << 32 | id;
}

/** One application core's context, passed to every callback and command. */
struct dlibos_core;

/** A piece of received data (read-only, zero-copy). */
struct dlibos_iov {
	const uint8_t *base;
	uint32_t len;
};

/** A piece of data to send; base must lie in memory from dlibos_tx_alloc(). */
struct dlibos_frag {
	const void *base;
	uint32_t len;
};

/** What new_conn reports about a connection. */
struct dlibos_conn_info {
	uint16_t local_port; /**< the listening port */
	uint16_t peer_port;
	uint32_t peer_ip; /**< host byte order */
};

/** Why a connection was closed by the other side (remote_closed). */
enum dlibos_close_reason {
	DLIBOS_CLOSED_FIN = 0,     /**< orderly FIN: the peer sends nothing more */
	DLIBOS_CLOSED_RESET = 1,   /**< the peer reset the connection */
	DLIBOS_CLOSED_TIMEOUT = 2, /**< retransmissions or keepalives exhausted */
	DLIBOS_CLOSED_ABORT = 3,   /**< aborted by the runtime (resources, policy) */
};

/** The command a cmd_error event refers to. */
enum dlibos_cmd {
	DLIBOS_CMD_LISTEN = 9,
	DLIBOS_CMD_ACCEPT = 10,
	DLIBOS_CMD_CONNECT = 11,
	DLIBOS_CMD_RECV_DONE = 12,
	DLIBOS_CMD_SEND = 13,
	DLIBOS_CMD_SHUTDOWN = 14,
	DLIBOS_CMD_CLOSE = 15,
};

/** Name of a command, e.g. "send". */
const char *dlibos_cmd_name(enum dlibos_cmd cmd);

/**
 * Event callbacks (network core -> application core). Any may be NULL;
 * a NULL new_conn accepts every connection offered.
 */
struct dlibos_callbacks {
	/** A connection arrived on a listening port and is offered to this
	 *  core: call dlibos_accept() to take it (or dlibos_close() to refuse). */
	void (*new_conn)(struct dlibos_core *c, dlibos_conn_t conn,
			 const struct dlibos_conn_info *info);
	/** dlibos_connect() with this cookie succeeded. */
	void (*connected)(struct dlibos_core *c, dlibos_conn_t conn, uint64_t cookie);
	/** dlibos_connect() with this cookie failed (err: positive errno). */
	void (*connect_failed)(struct dlibos_core *c, uint64_t cookie, int err);
	/** Data arrived, in order. Return it with dlibos_recv_done(). */
	void (*new_data)(struct dlibos_core *c, dlibos_conn_t conn, const struct dlibos_iov *iov,
			 unsigned n);
	/** The peer acknowledged `bytes` more bytes: that much of the oldest
	 *  unacknowledged sent data may be reused. */
	void (*data_acked)(struct dlibos_core *c, dlibos_conn_t conn, uint32_t bytes);
	/** The peer closed its side (or the connection was reset). */
	void (*remote_closed)(struct dlibos_core *c, dlibos_conn_t conn,
			      enum dlibos_close_reason why);
	/** The connection is gone; free what the application kept for it. */
	void (*cleanup)(struct dlibos_core *c, dlibos_conn_t conn);
	/** A command failed at the network core (err: positive errno;
	 *  context: the listen port or connect cookie, else 0). */
	void (*cmd_error)(struct dlibos_core *c, dlibos_conn_t conn, enum dlibos_cmd cmd, int err,
			  uint64_t context);
};

/** One application option (`--name VALUE`, or a flag when arg_name is NULL). */
struct dlibos_opt {
	const char *name;     /**< long name without dashes, e.g. "root" */
	const char *arg_name; /**< NULL for a flag, else e.g. "DIR" (a value is required) */
	const char *help;     /**< one line for the usage */
	int key;              /**< passed to parse_opt */
};

/** An application: its options, life-cycle hooks and callbacks. */
struct dlibos_app {
	/** Short name, used in messages and protected-mode policies. */
	const char *name;
	/** One line saying what the program does (first line of the usage). */
	const char *summary;
	/** The application's own options (may be NULL), n_options of them. */
	const struct dlibos_opt *options;
	unsigned n_options;
	/**
	 * Handle one given application option (value NULL for flags). On a bad
	 * value write what is wrong into err (errlen bytes) and return -1: the
	 * runtime prints it with the usage and exits with status 2.
	 */
	int (*parse_opt)(int key, const char *value, char *err, size_t errlen);
	/** Optional: check the options once all are parsed (e.g. a required
	 *  one); 0, or -1 with err written. */
	int (*check_opts)(char *err, size_t errlen);
	/** After option parsing, before cores start: load data, dlibos_tx_alloc().
	 *  Non-zero aborts start-up. */
	int (*init)(void);
	/** On each application core before it polls (e.g. dlibos_listen()). */
	int (*core_init)(struct dlibos_core *c);
	/** Called on each application core every loop iteration (optional). */
	void (*core_poll)(struct dlibos_core *c, uint64_t now_us);
	/** On each application core at shutdown. */
	void (*core_fini)(struct dlibos_core *c);
	/** After all cores stopped. */
	void (*fini)(void);
	/** Bytes of transmit memory the application needs, asked after option
	 *  parsing (NULL or 0: 64 MiB). */
	size_t (*tx_memory)(void);
	/** The event callbacks. */
	struct dlibos_callbacks cb;
};

/**
 * Run an application: parse `[EAL args] -- [runtime and app args]` (or
 * `--attach PATH [args]` for protected mode), start the cores, serve until
 * SIGINT/SIGTERM or dlibos_stop(), shut down cleanly and print counters.
 * @return the process exit status (0 on a clean stop, 2 on bad arguments,
 *         1 on other start-up failures).
 */
int dlibos_main(int argc, char **argv, const struct dlibos_app *app);

/** Ask every core to stop (async-signal-safe). */
void dlibos_stop(void);

/**
 * Parse the value of an application option as an unsigned decimal in
 * [@p min, @p max]: digits only (no sign, blank, suffix or leading '+'),
 * no overflow. For parse_opt:
 *
 *     case OPT_PORT:
 *         if (dlibos_opt_uint("port", value, 1, 65535, &v, err, errlen) != 0)
 *             return -1;
 *
 * @param name the option's name without dashes (for the message).
 * @return 0 with *out set, or -1 after writing
 *         "--NAME 'VALUE': expected an integer in MIN..MAX" into @p err.
 */
int dlibos_opt_uint(const char *name, const char *value, unsigned long long min,
		    unsigned long long max, unsigned long long *out, char *err, size_t errlen);

/* ---- commands (application core -> network core) ---------------------- */

/**
 * Listen on `port` on every network core this application core serves;
 * new_conn events follow. Several application cores may listen on the same
 * port: each network core then offers connections to them by the dispatch
 * policy (`--dispatch rr|least-loaded`).
 * @return 0 or -EINVAL.
 */
int dlibos_listen(struct dlibos_core *c, uint16_t port, uint32_t backlog);

/** Take a connection offered by new_conn. @return 0 or -EINVAL. */
int dlibos_accept(struct dlibos_core *c, dlibos_conn_t conn);

/**
 * Open a connection to ip:port (host byte order). The result arrives as
 * connected or connect_failed carrying `cookie`.
 * @return 0 or -EINVAL.
 */
int dlibos_connect(struct dlibos_core *c, uint32_t ip, uint16_t port, uint64_t cookie);

/**
 * Return `bytes` bytes of received data (the oldest first): their RX
 * buffers are released and the receive window reopens.
 * @return 0 or -EINVAL.
 */
int dlibos_recv_done(struct dlibos_core *c, dlibos_conn_t conn, uint32_t bytes);

/**
 * Send a scatter-gather array. Every fragment must lie in TX memory
 * (dlibos_tx_alloc) and stay unchanged until acknowledged (data_acked).
 * @return 0, -EFAULT (a fragment is not in TX memory), -EINVAL.
 */
int dlibos_send(struct dlibos_core *c, dlibos_conn_t conn, const struct dlibos_frag *frags,
		unsigned n);

/** Shut down reading (SHUT_RD), writing (SHUT_WR: FIN after queued data) or both. */
int dlibos_shutdown(struct dlibos_core *c, dlibos_conn_t conn, int how);

/**
 * Close the connection and release it: queued data is still sent, then FIN;
 * unreturned received data is released. `cleanup` follows.
 */
int dlibos_close(struct dlibos_core *c, dlibos_conn_t conn);

/* ---- memory and context ------------------------------------------------ */

/**
 * Allocate `len` bytes of transmit memory (64-byte aligned), the only
 * memory dlibos_send() accepts. Thread-safe; meant for start-up and coarse
 * allocations (slabs, preloaded responses), not per message.
 * @return the memory or NULL when the TX region is exhausted.
 */
void *dlibos_tx_alloc(size_t len);

/** Free memory from dlibos_tx_alloc() (it must no longer be unacknowledged). */
void dlibos_tx_free(void *p);

/** True if [p, p+len) lies in transmit memory. */
bool dlibos_is_tx_mem(const void *p, size_t len);

/** This application core's index, 0 .. dlibos_app_cores()-1. */
unsigned dlibos_core_index(const struct dlibos_core *c);

/** Number of application cores. */
unsigned dlibos_app_cores(void);

/** The application's per-core pointer (NULL until set). */
void *dlibos_core_data(const struct dlibos_core *c);

/** Set the application's per-core pointer. */
void dlibos_set_core_data(struct dlibos_core *c, void *data);

/** The time of the current loop iteration, microseconds (monotonic). */
uint64_t dlibos_now_us(const struct dlibos_core *c);

/* ---- counters ------------------------------------------------------------ */

/** A registration made by dlibos_counters_register(). */
struct dlibos_counters;

/**
 * Show an application's counters in the runtime's counter dump (printed at
 * exit and on SIGUSR1), as `module.name` summed over the application cores
 * with the per-core values. `values` holds n counters that only the calling
 * application core writes (plain increments, no atomics); names and values
 * must outlive the registration.
 * @param c the application core (NULL: process-wide counters).
 * @return a handle for dlibos_counters_unregister(), NULL when out of memory.
 */
struct dlibos_counters *dlibos_counters_register(struct dlibos_core *c, const char *module,
						 const char *const *names, unsigned n,
						 uint64_t *values);

/** Remove a registration (NULL is fine); call it before freeing the values. */
void dlibos_counters_unregister(struct dlibos_counters *h);

#ifdef __cplusplus
}
#endif

#endif /* DLIBOS_H */
