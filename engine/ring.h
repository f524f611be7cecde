/* The kernel seam: everything the loop asks of io_uring goes through these calls and the
 * inline paths in ring_sqe.h that the hot await calls and their completions take. Only ring.c and
 * ring_sqe.h include liburing.h, and only ring.c and op.c include ring_sqe.h. A different
 * backend (epoll, for machines where io_uring is blocked) would implement these two
 * headers and nothing else. */
#ifndef CORIO_RING_H
#define CORIO_RING_H

#include "corio/corio.h"

#include <stdbool.h>
#include <stdint.h>

/* user_data of SQEs whose completions the loop drops: cancel requests. Their results are
 * never needed (the target op's own CQE says what happened), and they point at nothing,
 * so a late one can never touch freed memory. */
#define CORIO_UD_IGNORE ((uint64_t)1)
/* Lowest user_data that is an op pointer. */
#define CORIO_UD_MIN_OP ((uint64_t)4096)
/* Set in the user_data of an await call's SQE: the rest is the address of the task
 * parked on it (64-byte aligned), which the completion wakes directly (op.c). Op
 * pointers are at least 8-byte aligned, so they never have this bit. */
#define CORIO_UD_TASK ((uint64_t)2)

/* IORING_CQE_F_MORE, for code that must not include liburing (checked in ring.c). */
#define CORIO_CQE_F_MORE (1u << 1)
/* IORING_CQE_F_BUFFER and IORING_CQE_BUFFER_SHIFT: the completion used a provided buffer,
 * whose id is in the flags' upper 16 bits. */
#define CORIO_CQE_F_BUFFER     (1u << 0)
#define CORIO_CQE_BUFFER_SHIFT 16

/* A completion copied out of the CQ ring before the ring slot is released. */
struct corio_cqe {
    uint64_t user_data;
    int32_t res;
    uint32_t flags;
};

struct corio_ring;

/* Sets up the ring for opts (defaults already applied). Returns 0 or -errno. */
int corio_ring_init(struct corio_ring **ring, const corio_loop_opts_t *opts);
void corio_ring_exit(struct corio_ring *ring);

/* Queues the SQE op describes, with user_data as its completion's. A full SQ is flushed
 * to the kernel first, never reported. Returns 0 or a negative errno the kernel gave
 * while flushing. */
int corio_ring_queue(struct corio_ring *ring, const corio_op_t *op, uint64_t user_data);

/* Queues a cancel request (user_data CORIO_UD_IGNORE) for the SQE queued with
 * user_data, or for every op in flight when user_data is 0. */
int corio_ring_queue_cancel(struct corio_ring *ring, uint64_t user_data);

/* Submits everything queued and waits for a completion for at most timeout_ns
 * (0: do not wait, UINT64_MAX: no limit), in one io_uring_enter. Returns 0 or a fatal
 * negative errno; interruptions and timeouts are not errors. */
int corio_ring_submit_wait(struct corio_ring *ring, uint64_t timeout_ns);

/* Copies up to max completions into out and releases their ring slots (completions set
 * aside while the SQ was being flushed come first). Returns how many. */
unsigned corio_ring_reap(struct corio_ring *ring, struct corio_cqe *out, unsigned max);

/* True when completions are waiting to be reaped (posted in the CQ, or set aside while
 * the SQ was being flushed). */
bool corio_ring_has_completions(const struct corio_ring *ring);

/* Counters and accepted setup for corio_loop_stats. */
void corio_ring_stats(const struct corio_ring *ring, corio_loop_stats_t *stats);

/* True when the kernel supports the multishot form of accept. */
bool corio_ring_has_multishot_accept(const struct corio_ring *ring);

/* True when the kernel supports multishot recv (6.0). */
bool corio_ring_has_multishot_recv(const struct corio_ring *ring);

/* ---- provided-buffer rings (5.19) ----
 * A ring of `entries` buffer descriptors (a power of two, at most 32768) shared with the
 * kernel, which picks a buffer from it when a buffer-select recv completes. */

/* Maps and registers a descriptor ring under a free buffer-group id (*group). Returns 0,
 * -EOPNOTSUPP on kernels without provided-buffer rings, -ENOSPC when every group id is
 * taken, -ENOMEM or another -errno. */
int corio_ring_pbuf_register(struct corio_ring *ring, unsigned entries, void **mem,
                             uint16_t *group);
/* Unregisters and unmaps it. No op using the group may be in flight. */
void corio_ring_pbuf_unregister(struct corio_ring *ring, void *mem, unsigned entries,
                                uint16_t group);
/* Hands buffer bid ([addr, addr + len)) to the kernel. */
void corio_ring_pbuf_give(void *mem, unsigned entries, void *addr, unsigned len, uint16_t bid);

#endif
