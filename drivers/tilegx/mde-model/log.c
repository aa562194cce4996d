/*
 * log.c - how the model reports guest errors: count, print, and abort when
 * asked to (MDE_MODEL_FATAL=1 or mde_model_set_fatal()). Messages go to
 * stderr prefixed "mde-model: guest error:"; after 20 messages only the
 * counters keep counting, so a flood cannot drown the program's output.
 */
#include "model_priv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fatal = -1; /* -1: read the environment once */
static unsigned printed;

static bool is_fatal(void)
{
	int f = __atomic_load_n(&fatal, __ATOMIC_RELAXED);

	if (f < 0) {
		const char *e = getenv("MDE_MODEL_FATAL");
		f = e != NULL && strcmp(e, "0") != 0 && e[0] != '\0';
		__atomic_store_n(&fatal, f, __ATOMIC_RELAXED);
	}
	return f != 0;
}

void mde_model_set_fatal(bool f)
{
	__atomic_store_n(&fatal, f ? 1 : 0, __ATOMIC_RELAXED);
}

void mde_guest_error(uint64_t *ctr, uint64_t *total, const char *fmt, ...)
{
	va_list ap;

	if (ctr != NULL)
		__atomic_fetch_add(ctr, 1, __ATOMIC_RELAXED);
	if (total != NULL)
		__atomic_fetch_add(total, 1, __ATOMIC_RELAXED);
	if (__atomic_fetch_add(&printed, 1, __ATOMIC_RELAXED) < 20 || is_fatal()) {
		va_start(ap, fmt);
		fputs("mde-model: guest error: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
	if (is_fatal()) {
		fputs("mde-model: MDE_MODEL_FATAL is set: aborting\n", stderr);
		fflush(stderr);
		abort();
	}
}

void mde_model_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("mde-model: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

const char *gxio_strerror(int error)
{
	switch (error) {
	case 0:
		return "Success";
	case GXIO_ERR_OPCODE:
		return "Bad RPC opcode";
	case GXIO_ERR_INVAL:
		return "Invalid parameter";
	case GXIO_ERR_ALIGNMENT:
		return "Memory buffer did not meet alignment requirements";
	case GXIO_ERR_COHERENCE:
		return "Memory buffers must be coherent and cacheable";
	case GXIO_ERR_ALREADY_INIT:
		return "Resource already initialized";
	case GXIO_ERR_NO_SVC_DOM:
		return "No service domains available";
	case GXIO_ERR_INVAL_SVC_DOM:
		return "Illegal service domain number";
	case GXIO_ERR_MMIO_ADDRESS:
		return "Illegal MMIO address";
	case GXIO_ERR_INTERRUPT:
		return "Illegal interrupt binding";
	case GXIO_ERR_CLIENT_MEMORY:
		return "Unreasonable client memory";
	case GXIO_ERR_IOTLB_ENTRY:
		return "No more IOTLB entries";
	case GXIO_ERR_INVAL_MEMORY_SIZE:
		return "Invalid memory size";
	case GXIO_ERR_UNSUPPORTED_OP:
		return "Unsupported operation";
	case GXIO_ERR_DMA_CREDITS:
		return "Insufficient DMA credits";
	case GXIO_ERR_TIMEOUT:
		return "Operation timed out";
	case GXIO_ERR_NO_DEVICE:
		return "No such device or link";
	case GXIO_ERR_BUSY:
		return "Device or resource busy";
	case GXIO_ERR_IO:
		return "I/O error";
	case GXIO_ERR_PERM:
		return "Permissions error";
	case GXIO_MPIPE_ERR_INVAL_BUFFER_SIZE:
		return "Invalid buffer size";
	case GXIO_MPIPE_ERR_NO_BUFFER_STACK:
		return "Cannot allocate buffer stack";
	case GXIO_MPIPE_ERR_BAD_BUFFER_STACK:
		return "Invalid buffer stack number";
	case GXIO_MPIPE_ERR_NO_NOTIF_RING:
		return "Cannot allocate NotifRing";
	case GXIO_MPIPE_ERR_BAD_NOTIF_RING:
		return "Invalid NotifRing number";
	case GXIO_MPIPE_ERR_NO_NOTIF_GROUP:
		return "Cannot allocate NotifGroup";
	case GXIO_MPIPE_ERR_BAD_NOTIF_GROUP:
		return "Invalid NotifGroup number";
	case GXIO_MPIPE_ERR_NO_BUCKET:
		return "Cannot allocate bucket";
	case GXIO_MPIPE_ERR_BAD_BUCKET:
		return "Invalid bucket number";
	case GXIO_MPIPE_ERR_NO_EDMA_RING:
		return "Cannot allocate eDMA ring";
	case GXIO_MPIPE_ERR_BAD_EDMA_RING:
		return "Invalid eDMA ring number";
	case GXIO_MPIPE_ERR_BAD_CHANNEL:
		return "Invalid channel number";
	case GXIO_MPIPE_ERR_BAD_CONFIG:
		return "Invalid configuration";
	case GXIO_MPIPE_ERR_IQUEUE_EMPTY:
		return "Empty iqueue";
	case GXIO_MPIPE_ERR_RULES_EMPTY:
		return "Empty rules";
	case GXIO_MPIPE_ERR_RULES_FULL:
		return "Full rules";
	case GXIO_MPIPE_ERR_RULES_CORRUPT:
		return "Corrupt rules";
	case GXIO_MPIPE_ERR_RULES_INVALID:
		return "Invalid rules";
	default:
		return error < 0 && error > -4096 ? strerror(-error) : "Unknown gxio error";
	}
}
