/* The backend seam: everything the loop asks of the kernel's I/O interface. A loop runs
 * on one backend, chosen when it is created: io_uring (ring.c, the default) or epoll
 * (backend_epoll.c, where io_uring is blocked). Each backend queues described ops, waits
 * with a timeout, and is the only reader of its completions, which it hands to op.c's
 * corio_op_deliver (or, for await calls, wakes the parked tasks itself). The loop, tasks,
 * timers and the public API see nothing else. The one exception to "through here" is
 * op.c's inline SQE path for the hot await calls (ring_sqe.h), taken when the loop runs
 * on io_uring. */
#ifndef CORIO_BACKEND_H
#define CORIO_BACKEND_H

#include "internal.h"

#include <errno.h>
#include <unistd.h>
#include <stdbool.h>
#include <stdint.h>

/* ---- what both backends share ------------------------------------------------------ */

/* user_data of requests whose completions the loop drops: cancel requests. Their results
 * are never needed (the target op's own completion says what happened), and they point
 * at nothing, so a late one can never touch freed memory. */
#define CORIO_UD_IGNORE ((uint64_t)1)
/* Lowest user_data that is an op pointer. */
#define CORIO_UD_MIN_OP ((uint64_t)4096)
/* Set in the user_data of an await call's request: the rest is the address of the task
 * parked on it (64-byte aligned), which the completion wakes directly. Op pointers are at
 * least 8-byte aligned, so they never have this bit. */
#define CORIO_UD_TASK ((uint64_t)2)

/* user_data of a completion that another loop's MSG_RING posted to this one: a doorbell
 * saying that something was posted (corio_loop_take_posted). Below CORIO_UD_MIN_OP and
 * without the task bit, so it points at nothing; what was posted is on the loop's queue,
 * never in the completion, so doorbells may be merged, lost to a race or spurious. */
#define CORIO_UD_DOORBELL ((uint64_t)8)
/* Set in the user_data of a doorbell's own request, on the sender's ring: the rest is the
 * target loop (heap-allocated, 16-byte aligned). Its completion comes back only when the
 * doorbell failed (it is queued with IOSQE_CQE_SKIP_SUCCESS). Ops are 8-byte aligned. */
#define CORIO_UD_DOORBELL_SENT ((uint64_t)4)

/* Completion flags, io_uring's values (checked in ring.c), which the epoll backend uses
 * too: IORING_CQE_F_MORE, and IORING_CQE_F_BUFFER with the buffer id in the upper 16
 * bits. */
#define CORIO_CQE_F_MORE       (1u << 1)
#define CORIO_CQE_F_BUFFER     (1u << 0)
#define CORIO_CQE_BUFFER_SHIFT 16

/* A completion: whose it is (user_data), its result and flags. */
struct corio_cqe {
    uint64_t user_data;
    int32_t res;
    uint32_t flags;
};

/* op.c: delivers completions in order: ops' callbacks run, tasks parked on await calls
 * are queued to run. Backends call it with the completions they reaped. */
void corio_op_deliver(corio_loop_t *loop, const struct corio_cqe *cqes, unsigned n);

/* Whether user_data belongs to an op of the user's (an await call's task, or an op that
 * is not the loop's own): the ones whose results the fault point may replace. */
static inline bool corio_ud_is_user_op(uint64_t user_data)
{
    if (user_data & CORIO_UD_TASK)
        return true;
    return user_data >= CORIO_UD_MIN_OP && !(user_data & CORIO_UD_DOORBELL_SENT) &&
           !(((const corio_op_t *)(uintptr_t)user_data)->priv_bits & CORIO_OPB_INTERNAL);
}

/* An await call's completion: makes its task ready and queues it on `ready`, a copy of
 * the loop's queue held in a local by the callers. A wake's byte-sized stores may alias
 * the loop's fields, so updating those in place made every wake wait on the previous
 * one's stores (DESIGN-NOTES, "the wake pass keeps the ready queue ... in locals"). */
static inline void corio_wake_task_into(struct corio_runq *ready, uint64_t user_data, int res)
{
    struct corio_task *t = (struct corio_task *)(uintptr_t)(user_data & ~CORIO_UD_TASK);
    corio_task_make_ready(t, res);
    corio_runq_push(ready, &t->run);
}

/* ---- the two implementations --------------------------------------------------------
 * Each has the same calls: init (opts with defaults applied; 0 or -errno), exit, queue
 * (the op's description with user_data as its completion's; 0 or -errno), queue_rw (the
 * same for a nop or plain transfer described by its arguments, with no op), queue_cancel
 * (cancel the request queued with user_data, or every one when it is 0), submit_wait
 * (submit what is queued and wait at most timeout_ns for a completion: 0 do not wait,
 * UINT64_MAX no limit; 0 or a fatal -errno), deliver (reap up to max completions and
 * deliver them; returns how many), has_completions, stats. */

struct corio_ring;
struct corio_epoll;

int corio_ring_init(struct corio_ring **ring, const corio_loop_opts_t *opts);
void corio_ring_exit(struct corio_ring *ring);
int corio_ring_queue(struct corio_ring *ring, const corio_op_t *op, uint64_t user_data);
int corio_ring_queue_cancel(struct corio_ring *ring, uint64_t user_data);
/* Queues a cancel of every op in flight on fd (Linux 5.19+; older kernels refuse it and
 * the ops keep waiting), its completion ignored. 0 or -errno (no SQE). */
int corio_ring_queue_cancel_fd(struct corio_ring *ring, int fd);
int corio_ring_submit_wait(struct corio_ring *ring, uint64_t timeout_ns);
unsigned corio_ring_deliver(corio_loop_t *loop, struct corio_ring *ring, unsigned max);
bool corio_ring_has_completions(const struct corio_ring *ring);
void corio_ring_stats(const struct corio_ring *ring, corio_loop_stats_t *stats);
bool corio_ring_has_multishot_accept(const struct corio_ring *ring);
/* Queues a MSG_RING request on `ring` that posts a CQE_DOORBELL completion to `target`'s
 * ring (another thread's; only its fd and a flag are read). 0, or -EOPNOTSUPP when the
 * kernel lacks MSG_RING or skipping successful completions, or target is not enabled yet
 * (its loop has never entered the kernel), or the -errno of flushing a full SQ; the
 * caller wakes target another way then. target_loop names it in the failure's
 * completion (CORIO_UD_DOORBELL_SENT). */
int corio_ring_queue_doorbell(struct corio_ring *ring, const struct corio_ring *target,
                              const corio_loop_t *target_loop);
bool corio_ring_has_multishot_recv(const struct corio_ring *ring);
/* Provided-buffer rings (5.19): a ring of `entries` buffer descriptors (a power of two, at
 * most 32768) shared with the kernel, which picks a buffer from it when a buffer-select
 * recv completes. register maps and registers one under a free group id: 0, -EOPNOTSUPP
 * on kernels without them, -ENOSPC when every id is taken, -ENOMEM or another -errno.
 * unregister: no op using the group may be in flight. give hands buffer bid to the
 * kernel. */
int corio_ring_pbuf_register(struct corio_ring *ring, unsigned entries, void **mem,
                             uint16_t *group);
void corio_ring_pbuf_unregister(struct corio_ring *ring, void *mem, unsigned entries,
                                uint16_t group);
void corio_ring_pbuf_give(void *mem, unsigned entries, void *addr, unsigned len, uint16_t bid);

int corio_epoll_init(struct corio_epoll **ep, const corio_loop_opts_t *opts);
void corio_epoll_exit(struct corio_epoll *ep);
int corio_epoll_queue(struct corio_epoll *ep, const corio_op_t *op, uint64_t user_data);
int corio_epoll_queue_rw(struct corio_epoll *ep, enum corio_op_kind kind, int fd, void *buf,
                         unsigned len, uint64_t off, unsigned flags, uint64_t user_data);
int corio_epoll_queue_cancel(struct corio_epoll *ep, uint64_t user_data);
int corio_epoll_submit_wait(struct corio_epoll *ep, uint64_t timeout_ns);
unsigned corio_epoll_deliver(corio_loop_t *loop, struct corio_epoll *ep, unsigned max);
bool corio_epoll_has_completions(const struct corio_epoll *ep);
/* Closes fd at once, as its close op would: the ops waiting on it complete with
 * -ECANCELED. */
int corio_epoll_close_now(struct corio_epoll *ep, int fd);
void corio_epoll_stats(const struct corio_epoll *ep, corio_loop_stats_t *stats);

/* ---- dispatch: the loop's backend is loop->ring when it runs on io_uring, else
 * loop->epoll (exactly one is set). One predictable branch on a field the io_uring path
 * loads anyway. */

static inline int corio_backend_queue(corio_loop_t *loop, const corio_op_t *op, uint64_t ud)
{
    if (__builtin_expect(loop->ring != NULL, 1))
        return corio_ring_queue(loop->ring, op, ud);
    return corio_epoll_queue(loop->epoll, op, ud);
}

static inline int corio_backend_queue_cancel(corio_loop_t *loop, uint64_t ud)
{
    if (__builtin_expect(loop->ring != NULL, 1))
        return corio_ring_queue_cancel(loop->ring, ud);
    return corio_epoll_queue_cancel(loop->epoll, ud);
}

static inline int corio_backend_submit_wait(corio_loop_t *loop, uint64_t timeout_ns)
{
    if (__builtin_expect(loop->ring != NULL, 1))
        return corio_ring_submit_wait(loop->ring, timeout_ns);
    return corio_epoll_submit_wait(loop->epoll, timeout_ns);
}

static inline unsigned corio_backend_deliver(corio_loop_t *loop, unsigned max)
{
    if (__builtin_expect(loop->ring != NULL, 1))
        return corio_ring_deliver(loop, loop->ring, max);
    return corio_epoll_deliver(loop, loop->epoll, max);
}

/* Closes fd at once, without an op: 0 or -errno. The ops waiting on it complete with
 * -ECANCELED. On io_uring the cancel is submitted before the close: the kernel finds the
 * file to cancel by the fd number, which the close would take away. */
static inline int corio_backend_close_now(corio_loop_t *loop, int fd)
{
    if (loop->epoll != NULL)
        return corio_epoll_close_now(loop->epoll, fd);
    if (corio_ring_queue_cancel_fd(loop->ring, fd) == 0)
        (void)corio_ring_submit_wait(loop->ring, 0);      /* completions are left to the reap */
    return close(fd) == 0 || errno == EINTR ? 0 : -errno; /* EINTR: Linux closed it anyway */
}

static inline bool corio_backend_has_completions(const corio_loop_t *loop)
{
    if (__builtin_expect(loop->ring != NULL, 1))
        return corio_ring_has_completions(loop->ring);
    return corio_epoll_has_completions(loop->epoll);
}

/* A doorbell from loop (the one this thread runs) to target: 0 if one was queued for
 * loop's next submit, else -errno and the caller writes target's eventfd. */
static inline int corio_backend_queue_doorbell(corio_loop_t *loop, const corio_loop_t *target)
{
    if (loop->ring == NULL || target->ring == NULL)
        return -EOPNOTSUPP;
    int err = corio_ring_queue_doorbell(loop->ring, target->ring, target);
    if (err == 0) {
        loop->sq_dirty = true;
        loop->doorbells_sent++;
    }
    return err;
}

/* Multishot accept: io_uring on 5.19+, emulated on epoll. Multishot recv needs buffer
 * rings: io_uring on 6.0+ only. */
static inline bool corio_backend_has_multishot_accept(const corio_loop_t *loop)
{
    return loop->ring == NULL || corio_ring_has_multishot_accept(loop->ring);
}

static inline bool corio_backend_has_multishot_recv(const corio_loop_t *loop)
{
    return loop->ring != NULL && corio_ring_has_multishot_recv(loop->ring);
}

#endif
