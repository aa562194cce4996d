/*
 * dl_tcp_check.h - a consistency check of one net core's TCP state, for
 * tests and fuzz targets (never called by the stack itself: it walks every
 * connection, every queue and the timing wheel).
 *
 * What it checks, per connection in use:
 *  - identity: the id names the slot, the 4-tuple hash finds the TCB;
 *  - send sequence space: iss <= snd_una <= snd_nxt <= snd_max <= the end
 *    of the send queue (+1 for a FIN sent), sq_seq at snd_una (or iss + 1
 *    before the SYN is acknowledged, or just before an acknowledged FIN);
 *  - the send queue: chunks and fragments add up to sq_bytes and
 *    sq_nfrags, sq_tail is the last chunk, sq_cur lies at snd_nxt; the
 *    chunks of all connections add up to the pool's count;
 *  - the receive queues: in-order buffers are contiguous and end at
 *    rcv_nxt (less a FIN), add up to rx_held, rx_unret <= rx_held;
 *    out-of-order buffers are sorted without overlap and add up to
 *    ooo_segs and ooo_bytes; the buffer count and the limits; per
 *    application core, the unreturned bytes add up;
 *  - listeners: their SYN_RCVD and unaccepted counts match the TCBs;
 *  - timers: every deadline set has the wheel node armed no later than
 *    it, the wheel's count matches, and the deadlines that must be set are
 *    (SYN retransmission, data in flight or waiting, TIME_WAIT, FIN_WAIT_2
 *    after close, keepalive, a delayed ACK owed);
 *  - nothing deferred, no upcall in progress, no frame left in the batch.
 *
 * Call it only between loop iterations: after dl_stack_flush(), never from
 * an upcall (the stack is allowed to be inconsistent in the middle of one).
 */
#ifndef DL_TCP_CHECK_H
#define DL_TCP_CHECK_H

#include "dl_stack.h"

#include <stddef.h>

/**
 * Check the TCP state of stack @p s.
 * @return 0 when consistent, -1 with a description of the first violation
 *         (connection id, state, the values involved) in @p why.
 */
int dl_stack_check(const struct dl_stack *s, char *why, size_t len);

#endif /* DL_TCP_CHECK_H */
