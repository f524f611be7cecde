/* Engine-internal structures shared by loop.c, op.c, task.c and future.c: the loop, the
 * ready queue, tasks and op kinds. Nothing here is visible to users of corio.h. */
#ifndef CORIO_INTERNAL_H
#define CORIO_INTERNAL_H

#include "corio/corio.h"
#include "fiber.h"
#include "fault.h"
#include "stack.h"
#include "timer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct corio_ring;
struct corio_epoll;
struct corio_mutex;

/* Prints a message naming the misuse and aborts: for what cannot be an error code. */
__attribute__((noreturn, format(printf, 1, 2))) void corio_panic(const char *fmt, ...);

/* ---- ready queue ------------------------------------------------------------------- */

/* Something the loop runs at its next iteration: a task to resume or a callback. */
struct corio_runnable {
    struct corio_runnable *next;
    void (*run)(corio_loop_t *loop, struct corio_runnable *self);
};

struct corio_runq {
    struct corio_runnable *head, *tail;
    size_t n;
};

static inline void corio_runq_push(struct corio_runq *q, struct corio_runnable *r)
{
    r->next = NULL;
    if (q->tail != NULL)
        q->tail->next = r;
    else
        q->head = r;
    q->tail = r;
    q->n++;
}

/* Pops the head of a non-empty queue and pushes r: the count does not change. */
static inline void corio_runq_rotate(struct corio_runq *q, struct corio_runnable *r)
{
    r->next = NULL;
    q->head = q->head->next;
    if (q->head == NULL)
        q->head = r;
    else
        q->tail->next = r;
    q->tail = r;
}

static inline struct corio_runnable *corio_runq_pop(struct corio_runq *q)
{
    struct corio_runnable *r = q->head;
    if (r != NULL) {
        q->head = r->next;
        if (q->head == NULL)
            q->tail = NULL;
        q->n--;
    }
    return r;
}

/* ---- ops --------------------------------------------------------------------------- */

enum corio_op_kind {
    CORIO_OP_NONE,
    CORIO_OP_NOP,
    CORIO_OP_READ,
    CORIO_OP_WRITE,
    CORIO_OP_READV,
    CORIO_OP_WRITEV,
    CORIO_OP_FSYNC,
    CORIO_OP_OPENAT,
    CORIO_OP_CLOSE,
    CORIO_OP_STATX,
    CORIO_OP_SOCKET,
    CORIO_OP_ACCEPT,
    CORIO_OP_ACCEPT_MULTI,
    CORIO_OP_CONNECT,
    CORIO_OP_RECV,
    CORIO_OP_RECV_BUF,   /* recv into a buffer the kernel picks from a corio_bufring */
    CORIO_OP_RECV_MULTI, /* multishot recv, always into bufring buffers */
    CORIO_OP_SEND,
    CORIO_OP_RECVMSG,
    CORIO_OP_SENDMSG,
    CORIO_OP_SHUTDOWN,
    CORIO_OP_TIMEOUT,
    CORIO_OP_POLL,
    CORIO_OP_KIND_COUNT
};

enum corio_op_state {
    CORIO_OP_IDLE = 0,
    CORIO_OP_INFLIGHT = 0x5a, /* a distinct value: catches ops that were never started */
};

/* An intrusive list link. The loop keeps its tasks, bufrings and executor jobs on such
 * lists; pprev points at whatever points at this link (the head or the previous link's
 * next), so removal needs neither the head nor a special case for the first element. */
struct corio_link {
    struct corio_link *next, **pprev;
};

#define corio_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline void corio_link_add(struct corio_link **head, struct corio_link *l)
{
    l->next = *head;
    if (l->next != NULL)
        l->next->pprev = &l->next;
    l->pprev = head;
    *head = l;
}

static inline void corio_link_del(struct corio_link *l)
{
    *l->pprev = l->next;
    if (l->next != NULL)
        l->next->pprev = l->pprev;
}

/* A provided-buffer ring (bufring.c): `count` buffers of `size` bytes at `base`, buffer
 * i at base + i * size, lent to the kernel through a descriptor ring (ring.c). */
struct corio_bufring {
    corio_loop_t *loop;
    char *base;
    size_t size;
    unsigned count;
    uint16_t group;
    void *descs;    /* the descriptor ring shared with the kernel */
    size_t users;   /* ops using it that have not completed for the last time */
    uint64_t *held; /* one bit per buffer: filled by the kernel, not yet put back */
    /* Per buffer, while a multishot recv's result waits in its corio_multishot_t: the bytes
     * and the next waiting buffer of that queue (multishot.c). A buffer is in at most one
     * queue at a time, so the queues cost their connections nothing. */
    struct corio_bufring_slot {
        int res;
        unsigned next;
    } * slots;
    struct corio_link link; /* on loop->bufrings, freed with the loop */
};

/* A completion of op carried buffer bid (op.c): it is the user's until put back. */
static inline void corio_bufring_mark_held(struct corio_bufring *br, unsigned bid)
{
    if (bid < br->count)
        br->held[bid / 64] |= (uint64_t)1 << (bid % 64);
}

/* Frees the bufrings a loop still has (corio_loop_free, after every op completed). */
void corio_bufring_free_all(corio_loop_t *loop);

/* priv_bits */
#define CORIO_OPB_INTERNAL 0x1u /* the loop's own op: does not keep the loop alive */
#define CORIO_OPB_BUFRING  0x2u /* uses the corio_bufring in priv_addr2 */

/* Starts a described op (priv_kind and arguments set) with callback cb. */
int corio_op_start(corio_loop_t *loop, corio_op_t *op, corio_cb_t cb);

/* At most this many completions are delivered per loop iteration, and their tasks run
 * before more are reaped: what the kernel just wrote into their buffers is still in the
 * cache when they use it. (Draining 512 at once, 4 KiB each, left corio-echo's sends
 * copying from memory the later receives had pushed out: see docs/DESIGN-NOTES.md.) */
#define CORIO_REAP_BATCH 64u

/* ---- tasks ------------------------------------------------------------------------- */

#define CORIO_MAX_DEADLINES 16

enum corio_task_state {
    CORIO_TASK_NEW,     /* spawned, not yet run */
    CORIO_TASK_READY,   /* in the ready queue */
    CORIO_TASK_RUNNING, /* the current task */
    CORIO_TASK_PARKED,  /* waiting for a wake-up */
    CORIO_TASK_DONE,    /* fn returned (or never ran, after a cancel) */
};

/* ---- timers ------------------------------------------------------------------------ */

struct corio_timer {
    struct corio_heap_node node;
    void (*fn)(void *arg);
    void *arg;
    corio_loop_t *loop;
    bool pending;
    bool owned;             /* allocated by corio_call_later: freed by the loop */
    bool handle;            /* owned, and its handle was handed out: freed by corio_timer_cancel */
    bool fired;             /* handle, fn has been called: on loop->fired_timers until cancelled */
    struct corio_link link; /* on loop->fired_timers */
};

void corio_timer_start(corio_loop_t *loop, struct corio_timer *t, uint64_t when);
void corio_timer_stop(corio_loop_t *loop, struct corio_timer *t);

/* A task lives at the top of its own stack mapping (just below struct corio_stack), so
 * spawning allocates nothing beyond a pooled stack. */
struct corio_task {
    /* What every park, wake and hand-over touches comes first, in the first cache line
     * (the control block is 64-byte aligned): with many tasks taking turns, each extra
     * line is a likely L1 miss per operation. */
    struct corio_runnable run; /* ready-queue link */
    corio_loop_t *loop;
    uint8_t state;
    bool cancelled;
    bool detached;
    bool joined;
    int wake_res; /* what the parked task's wait returns */
    /* While parked: how to abort the wait on cancellation (NULL: it cannot be aborted
     * early, e.g. an op whose cancel is already on its way). */
    void (*abort_wait)(struct corio_task *task, int res);
    void *wait_obj;
    unsigned ndeadlines;
    uint32_t magic;
    struct corio_fiber fiber; /* its sp ends the first line */
    struct corio_stack *stack;
    void *(*fn)(void *);
    void *arg;
    void *result;
    struct corio_task *joiner;
    struct corio_task *next_waiter; /* link in a future's waiter list */
    struct corio_link link;         /* on loop->tasks */
    unsigned multishots; /* corio_multishot_t it started and has not stopped (multishot.c) */
    struct corio_mutex *held_mutexes; /* the corio_mutex_t it owns, linked through them (sync.c) */
    /* The deadline of the wait in progress (0: none), and the timer that enforces it. The
     * timer outlives a wait: it stays armed while it fires no later than the next wait's
     * deadline, and when it fires early it re-arms itself at the current one (task.c). */
    uint64_t park_deadline;
    struct corio_timer deadline_timer;
    uint64_t deadlines[CORIO_MAX_DEADLINES]; /* absolute ns; [ndeadlines-1] is the earliest */
    unsigned refused_deadlines; /* corio_timeout_begin calls refused (-E2BIG) not yet ended */
};

#define CORIO_TASK_MAGIC 0xc0210a5bu

/* The running task of this thread (NULL on the loop's own stack): the user area of the
 * stack it runs on, so a switch stores one thread-local (stack.h). */
#define corio_this_task ((struct corio_task *)corio_this_stack_user)

/* Parks the current task until corio_task_wake; returns the wake result. abort_wait is
 * called by corio_cancel or a deadline while parked. When deadline is non-zero and
 * earlier than any wake-up, the wait is aborted with -ETIMEDOUT through abort_wait. */
int corio_task_park(struct corio_task *t, void (*abort_wait)(struct corio_task *, int),
                    void *wait_obj, uint64_t deadline);

/* The current task's deadline (0: none). */
static inline uint64_t corio_task_deadline(const struct corio_task *t)
{
    return t->ndeadlines ? t->deadlines[t->ndeadlines - 1] : 0;
}

/* For await-style calls: returns the current task, or NULL with *err set to -EPERM
 * (outside a task), -ECANCELED or -ETIMEDOUT (deadline already passed). The common case
 * (a task with no deadline, not cancelled) is inline. */
struct corio_task *corio_task_enter_await_slow(int *err);
static inline struct corio_task *corio_task_enter_await(int *err)
{
    struct corio_task *t = corio_this_task;
    if (__builtin_expect(t != NULL && !t->cancelled && t->ndeadlines == 0, 1))
        return t;
    return corio_task_enter_await_slow(err);
}

/* ---- the loop ---------------------------------------------------------------------- */

struct corio_call; /* a call_soon node */

struct corio_loop {
    /* The backend (backend.h): ring on io_uring, epoll on epoll; the other is NULL. */
    struct corio_ring *ring;
    struct corio_epoll *epoll;
    int fallback_err; /* why io_uring was not used after an automatic fallback, else 0 */
    struct corio_runq ready;
    size_t batch;             /* items of the ready queue still to run in this iteration's batch */
    bool sq_dirty;            /* SQEs were queued since the last submit */
    bool cq_pending;          /* completions are posted that the last reap left for later */
    unsigned runs_since_poll; /* tasks and callbacks run since the kernel was last entered */
    struct corio_heap timers;
    struct corio_fiber sched; /* the loop's own context: the thread stack that runs it */
    struct corio_stack_pool stacks;
    uint64_t now;             /* CLOCK_MONOTONIC ns, refreshed every iteration */
    size_t ntasks;            /* live tasks (not yet finished) */
    struct corio_link *tasks; /* every task not yet released: live, and finished unjoined */
    size_t inflight;          /* user ops awaiting their last completion */
    size_t ntimers;           /* pending call_later timers and timed waits */
    struct corio_call *free_calls;
    struct corio_link *fired_timers; /* fired call_later timers whose handle is still out */
    bool running;
    bool closing;                /* corio_loop_free is draining: no new ops */
    bool stopping;               /* corio_run is cancelling its tasks: no new ones */
    struct corio_link *bufrings; /* every bufring not yet freed */
    atomic_bool stop;
    bool report_overflow;
    pthread_t owner;
    bool has_owner;
    uint64_t iterations;

    /* Work from other threads (call_soon_threadsafe, corio_loop_post): a lock-free
     * stack, newest first, that the loop takes whole and reverses. ts_signalled is set by
     * the first poster after the loop emptied it, who then wakes the loop: through an
     * eventfd whose read is kept in flight, or a MSG_RING doorbell (CORIO_UD_DOORBELL). */
    _Atomic(struct corio_runnable *) posted;
    atomic_bool ts_signalled;
    /* Spinning before a sleep (corio_loop_opts_t.busy_poll_us): a poster that sees it set
     * sends no wake-up, and the loop looks at `posted` once more after clearing it. */
    atomic_bool spinning;
    uint64_t busy_poll_ns;
    uint64_t doorbells_sent; /* MSG_RING doorbells this loop queued for others (tests) */
    int wake_fd;
    uint64_t wake_buf;
    corio_op_t wake_op;

    /* executor.c: jobs whose completion will still run here (they keep the loop alive),
     * and every job still attached to this loop (guarded by the executor's lock). */
    size_t jobs;
    struct corio_link *job_list;
};

/* executor.c, from corio_loop_free: detaches the loop's outstanding jobs (they finish on
 * their workers and are disposed) so that no worker touches the loop afterwards. */
void corio_executor_detach_loop(corio_loop_t *loop);

/* Runs fn(arg) on an executor worker, then done(arg, result) on that same worker: no loop
 * is involved (the epoll backend's file ops, which post their own completions). Returns
 * 0, or -EAGAIN / -ENOMEM and neither runs. */
int corio_executor_submit_detached(void *(*fn)(void *), void *arg,
                                   void (*done)(void *arg, void *result));

/* With ready work and nothing to submit, the kernel is not entered; but completions are
 * collected at least every this many runs of tasks and callbacks, so busy tasks cannot
 * starve I/O. Counted in runs, not time: a clock read costs more than a hand-over. */
#define CORIO_POLL_EVERY_RUNS 512u

/* Entering the kernel is needed to submit, to wait when idle, and now and then to see
 * completions: under DEFER_TASKRUN they are only posted when we enter. */
static inline bool corio_loop_must_enter(const corio_loop_t *loop)
{
    if (loop->sq_dirty || atomic_load_explicit(&loop->stop, memory_order_relaxed))
        return true;
    if (loop->ready.n == 0) /* nothing to run: wait, unless completions are already there */
        return !loop->cq_pending;
    /* Polling is for completions: with nothing in flight and no call from another thread
     * waiting behind the eventfd, there is nothing to see. */
    return loop->runs_since_poll >= CORIO_POLL_EVERY_RUNS &&
           (loop->inflight > 0 || atomic_load_explicit(&loop->ts_signalled, memory_order_relaxed));
}

/* loop.c: a MSG_RING doorbell arrived (CORIO_UD_DOORBELL): takes what was posted. */
void corio_loop_take_posted(corio_loop_t *loop);

/* loop.c: a doorbell this loop sent to target could not be delivered (its completion
 * came back with an error): wakes target through its eventfd instead. */
void corio_loop_doorbell_failed(corio_loop_t *target);

/* Called by a task handing over when the current batch has run out: starts the next
 * iteration's batch right there if the loop would have nothing to do in between
 * (nothing to submit, no timers, completions not overdue, no stop): exactly what the loop
 * does for an iteration that skips the kernel. Returns true if it did. */
static inline bool corio_loop_next_batch(corio_loop_t *loop)
{
    if (corio_loop_must_enter(loop) || loop->timers.n > 0 || loop->cq_pending)
        return false;
    loop->iterations++;
    loop->batch = loop->ready.n;
    return true;
}

/* Marks a parked task ready (its park returns res) without queueing it: what
 * corio_task_wake does before the push. Inline: every await call's completion runs it,
 * for each of ~64 tasks in a row. */
static inline void corio_task_make_ready(struct corio_task *t, int res)
{
    if (t->state != CORIO_TASK_PARKED)
        corio_panic("corio: waking task %p that is not waiting (state %d)", (void *)t, t->state);
    t->wake_res = res;
    t->abort_wait = NULL;
    t->wait_obj = NULL;
    t->state = CORIO_TASK_READY;
}

/* Makes a parked task ready and queues it; its park returns res. */
static inline void corio_task_wake(struct corio_task *t, int res)
{
    corio_task_make_ready(t, res);
    corio_runq_push(&t->loop->ready, &t->run);
}

/* True when a loop-thread-only call on loop is made from another thread than the one
 * that runs it (before it first runs, any thread may set it up). */
bool corio_loop_foreign_thread_slow(const corio_loop_t *loop);
static inline bool corio_loop_foreign_thread(const corio_loop_t *loop)
{
    const struct corio_task *t = corio_this_task;
    return (t == NULL || t->loop != loop) && corio_loop_foreign_thread_slow(loop);
}

/* In a forked child (stack.c's fork handler): forgets the parent's loop of this thread. */
void corio_loop_forget_thread(void);

/* Refreshes loop->now from the clock and returns it. */
uint64_t corio_loop_update_time(corio_loop_t *loop);

/* Monotonic clock in ns. */
uint64_t corio_clock_ns(void);

/* sync.c, when a task's function has returned still owning a corio_mutex_t, which would
 * otherwise stay locked forever: reports it and aborts. */
__attribute__((noreturn, cold)) void corio_sync_task_exit_holding(const struct corio_task *t);

/* Loop-side task hooks (task.c). */
/* Releases finished tasks nobody joined (at loop free: their handles become invalid). */
void corio_task_release_all(corio_loop_t *loop);
/* Cancels every live task (corio_run after a stop). */
void corio_task_cancel_all(corio_loop_t *loop);
/* For corio_run: hands out a finished task's result and releases it. Returns err, or
 * -ECANCELED if the task was cancelled. */
int corio_task_take_result(corio_task_t *task, void **result, int err);

#endif
