/* The run loop and its callback-mode scheduling: creation and teardown, the iteration
 * (run ready work, submit + wait, reap, fire timers), call_soon, call_later, and the work
 * other threads post: call_soon_threadsafe and corio_loop_post. Tasks (task.c) and ops (op.c) plug
 * into the ready queue and the completion dispatch here. */
#include "internal.h"
#include "backend.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_ENTRIES       256u
#define MAX_ENTRIES           32768u
#define MAX_CQ_ENTRIES        65536u
#define DEFAULT_POOLED_STACKS 1024u
#define MAX_FREE_CALLS        1024u

/* The loop this thread is running (callbacks and tasks see it). */
static __thread corio_loop_t *tls_loop __attribute__((tls_model("initial-exec")));

/* A call_soon / call_soon_threadsafe node. */
struct corio_call {
    struct corio_runnable run;
    void (*fn)(void *);
    void *arg;
};

uint64_t corio_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t corio_loop_update_time(corio_loop_t *loop)
{
    return loop->now = corio_clock_ns();
}

/* ---- call_soon ------------------------------------------------------------------- */

static void call_run(corio_loop_t *loop, struct corio_runnable *r)
{
    struct corio_call *c = (struct corio_call *)r;
    void (*fn)(void *) = c->fn;
    void *arg = c->arg;
    /* Recycle before calling: fn may schedule more calls. */
    c->run.next = (struct corio_runnable *)loop->free_calls;
    loop->free_calls = c;
    fn(arg);
}

static struct corio_call *call_alloc(corio_loop_t *loop)
{
    struct corio_call *c = loop->free_calls;
    if (c != NULL) {
        loop->free_calls = (struct corio_call *)c->run.next;
        return c;
    }
    return corio_malloc(sizeof *c);
}

/* Loop-thread-only calls made from another thread would race the loop on its queues and
 * allocator lists: refuse them. The inline half (internal.h) answers for the common case,
 * a task of this loop. */
bool corio_loop_foreign_thread_slow(const corio_loop_t *loop)
{
    return tls_loop != loop && loop->has_owner && !pthread_equal(loop->owner, pthread_self());
}

int corio_call_soon(corio_loop_t *loop, void (*fn)(void *), void *arg)
{
    if (loop == NULL || fn == NULL)
        return -EINVAL;
    if (corio_loop_foreign_thread(loop))
        return -EPERM;
    struct corio_call *c = call_alloc(loop);
    if (c == NULL)
        return -ENOMEM;
    c->run.run = call_run;
    c->fn = fn;
    c->arg = arg;
    corio_runq_push(&loop->ready, &c->run);
    return 0;
}

/* ---- call_later ------------------------------------------------------------------ */

void corio_timer_start(corio_loop_t *loop, struct corio_timer *t, uint64_t when)
{
    t->loop = loop;
    t->pending = true;
    corio_heap_insert(&loop->timers, &t->node, when);
    loop->ntimers++;
}

void corio_timer_stop(corio_loop_t *loop, struct corio_timer *t)
{
    if (!t->pending)
        return;
    corio_heap_remove(&loop->timers, &t->node);
    t->pending = false;
    loop->ntimers--;
}

int corio_call_later(corio_loop_t *loop, uint64_t delay_ns, void (*fn)(void *), void *arg,
                     corio_timer_t **out)
{
    if (loop == NULL || fn == NULL)
        return -EINVAL;
    if (corio_loop_foreign_thread(loop))
        return -EPERM;
    struct corio_timer *t = corio_malloc(sizeof *t);
    if (t == NULL)
        return -ENOMEM;
    t->fn = fn;
    t->arg = arg;
    t->owned = true;
    t->handle = out != NULL;
    t->fired = false;
    uint64_t now = corio_clock_ns();
    uint64_t when = delay_ns > UINT64_MAX - now ? UINT64_MAX : now + delay_ns;
    corio_timer_start(loop, t, when);
    if (out != NULL)
        *out = t;
    return 0;
}

int corio_timer_cancel(corio_timer_t *t)
{
    if (t == NULL || !t->owned)
        return -EINVAL;
    if (corio_loop_foreign_thread(t->loop))
        return -EPERM;
    int ret = 0;
    if (t->fired) {
        corio_link_del(&t->link);
        ret = -ENOENT;
    } else {
        corio_timer_stop(t->loop, t);
    }
    free(t);
    return ret;
}

/* Fires the timers due by loop->now. Timers set while firing wait for the next
 * iteration even with a zero delay, so a timer that re-arms itself cannot starve I/O. */
static void fire_timers(corio_loop_t *loop)
{
    uint64_t seq_limit = loop->timers.next_seq;
    struct corio_heap_node *n;
    while ((n = corio_heap_min(&loop->timers)) != NULL && n->when <= loop->now &&
           n->seq < seq_limit) {
        struct corio_timer *t = (struct corio_timer *)n;
        corio_timer_stop(loop, t);
        void (*fn)(void *) = t->fn;
        void *arg = t->arg;
        if (t->handle) {
            /* Its handle stays valid until corio_timer_cancel gives it back, so that a
             * cancel racing the firing (the usual case) is an answer, not a use after
             * free. */
            t->fired = true;
            corio_link_add(&loop->fired_timers, &t->link);
        } else if (t->owned) {
            free(t);
        }
        fn(arg);
    }
}

/* ---- work from other threads: call_soon_threadsafe, corio_loop_post ------------- */

static int arm_wakeup(corio_loop_t *loop);

static void write_wake_fd(corio_loop_t *loop)
{
    uint64_t one = 1;
    ssize_t ignored = write(loop->wake_fd, &one, sizeof one);
    (void)ignored; /* an eventfd write only fails on counter overflow: already awake */
}

/* Wakes the loop unless a wake-up is already on its way: the first caller after the loop
 * took what was posted sends one. From a thread running an io_uring loop, the doorbell
 * rides on that loop's next submit; otherwise it is an eventfd write. */
static void wake_loop(corio_loop_t *loop)
{
    if (atomic_exchange(&loop->ts_signalled, true))
        return;
    /* Against the loop's clearing of `spinning` (busy_poll): one of the two sees the other,
     * so a loop that stops spinning finds this post. */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&loop->spinning, memory_order_relaxed))
        return;
    corio_loop_t *self = tls_loop;
    if (self == loop) {
        /* Our own thread, inside the loop: take it now, no wake-up needed. */
        corio_loop_take_posted(loop);
        return;
    }
    if (self != NULL && corio_backend_queue_doorbell(self, loop) == 0)
        return;
    write_wake_fd(loop);
}

void corio_loop_doorbell_failed(corio_loop_t *target)
{
    write_wake_fd(target); /* ts_signalled is still set: nobody else will */
}

/* A Treiber push: a producer's pushes are ordered in the stack's modification order, so
 * reversing what the loop takes restores each producer's order. The loop only ever takes
 * the whole stack (no pop of one node), so there is no ABA problem. */
static void push_posted(corio_loop_t *loop, struct corio_runnable *r)
{
    struct corio_runnable *head = atomic_load_explicit(&loop->posted, memory_order_relaxed);
    do
        r->next = head;
    while (!atomic_compare_exchange_weak_explicit(&loop->posted, &head, r, memory_order_release,
                                                  memory_order_relaxed));
}

/* Moves everything posted, oldest first, to the ready queue. The flag is cleared before
 * the stack is taken: whoever posts after the take finds it clear and wakes us again. */
void corio_loop_take_posted(corio_loop_t *loop)
{
    atomic_store(&loop->ts_signalled, false);
    struct corio_runnable *r = atomic_exchange(&loop->posted, NULL);
    struct corio_runnable *fifo = NULL;
    while (r != NULL) {
        struct corio_runnable *next = r->next;
        r->next = fifo;
        fifo = r;
        r = next;
    }
    while (fifo != NULL) {
        struct corio_runnable *next = fifo->next;
        corio_runq_push(&loop->ready, fifo);
        fifo = next;
    }
}

/* The eventfd read completed: take what was posted and read again. */
static void on_wakeup(corio_op_t *op, int res)
{
    corio_loop_t *loop = op->data;
    corio_loop_take_posted(loop);
    if (res >= 0 || res == -EINTR || res == -EAGAIN)
        (void)arm_wakeup(loop);
}

static int arm_wakeup(corio_loop_t *loop)
{
    corio_op_t *op = &loop->wake_op;
    op->priv_kind = CORIO_OP_READ;
    op->priv_fd = loop->wake_fd;
    op->priv_addr = &loop->wake_buf;
    op->priv_len = sizeof loop->wake_buf;
    op->priv_off = 0;
    op->priv_bits = CORIO_OPB_INTERNAL;
    op->data = loop;
    return corio_op_start(loop, op, on_wakeup);
}

int corio_call_soon_threadsafe(corio_loop_t *loop, void (*fn)(void *), void *arg)
{
    if (loop == NULL || fn == NULL)
        return -EINVAL;
    /* Other threads cannot touch the loop's free list: a fresh node each time. */
    struct corio_call *c = corio_malloc(sizeof *c);
    if (c == NULL)
        return -ENOMEM;
    c->run.run = call_run;
    c->fn = fn;
    c->arg = arg;
    push_posted(loop, &c->run);
    wake_loop(loop);
    return 0;
}

/* The message's link is a struct corio_runnable in all but name. */
_Static_assert(sizeof(((corio_msg_t *)0)->priv_link) == sizeof(struct corio_runnable),
               "corio_msg_t's link does not fit a runnable");
_Static_assert(offsetof(struct corio_runnable, next) == 0, "runnable layout changed");

static struct corio_runnable *msg_link(corio_msg_t *msg)
{
    return (struct corio_runnable *)(void *)msg->priv_link;
}

static void msg_run(corio_loop_t *loop, struct corio_runnable *r)
{
    (void)loop;
    corio_msg_t *msg = corio_container_of((void *)r, corio_msg_t, priv_link);
    void (*fn)(corio_msg_t *) = msg->priv_fn;
    msg->priv_fn = NULL; /* the caller's again: fn may post it anew */
    fn(msg);
}

int corio_loop_post(corio_loop_t *target, corio_msg_t *msg, void (*fn)(corio_msg_t *msg))
{
    if (target == NULL || msg == NULL || fn == NULL)
        return -EINVAL;
    if (msg->priv_fn != NULL)
        return -EBUSY;
    msg->priv_fn = fn;
    struct corio_runnable *r = msg_link(msg);
    r->run = msg_run;
    push_posted(target, r);
    wake_loop(target);
    return 0;
}

/* ---- the loop -------------------------------------------------------------------- */

static int apply_defaults(corio_loop_opts_t *o)
{
    if (o->entries == 0)
        o->entries = DEFAULT_ENTRIES;
    if (o->entries > MAX_ENTRIES || o->busy_poll_us > 1000000)
        return -EINVAL;
    if (o->cq_entries == 0)
        o->cq_entries = o->entries * 4 < MAX_CQ_ENTRIES ? o->entries * 4 : MAX_CQ_ENTRIES;
    if (o->cq_entries < o->entries || o->cq_entries > MAX_CQ_ENTRIES)
        return -EINVAL;
    if (o->stack_size == 0)
        o->stack_size = corio_stack_default_size();
    if (o->max_pooled_stacks == 0)
        o->max_pooled_stacks = DEFAULT_POOLED_STACKS;
    return 0;
}

/* Sets up the loop's backend: the one opts asks for, unless CORIO_BACKEND says otherwise;
 * AUTO falls back to epoll when io_uring is blocked or absent, and remembers why. */
static int backend_init(corio_loop_t *loop, const corio_loop_opts_t *opts)
{
    unsigned want = opts->backend;
    const char *env = getenv("CORIO_BACKEND");
    if (env != NULL && *env != '\0') {
        if (strcmp(env, "io_uring") == 0)
            want = CORIO_BACKEND_IO_URING;
        else if (strcmp(env, "epoll") == 0)
            want = CORIO_BACKEND_EPOLL;
        else if (strcmp(env, "auto") == 0)
            want = CORIO_BACKEND_AUTO;
        else
            return -EINVAL;
    }
    if (want > CORIO_BACKEND_EPOLL)
        return -EINVAL;
    if (want != CORIO_BACKEND_EPOLL) {
        int err = corio_ring_init(&loop->ring, opts);
        if (err == 0 || want == CORIO_BACKEND_IO_URING ||
            (err != -EPERM && err != -EACCES && err != -ENOSYS))
            return err;
        loop->fallback_err = err;
    }
    return corio_epoll_init(&loop->epoll, opts);
}

static void backend_exit(corio_loop_t *loop)
{
    if (loop->ring != NULL)
        corio_ring_exit(loop->ring);
    else if (loop->epoll != NULL)
        corio_epoll_exit(loop->epoll);
}

int corio_loop_new(corio_loop_t **out, const corio_loop_opts_t *opts_in)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    corio_loop_opts_t opts = opts_in != NULL ? *opts_in : (corio_loop_opts_t){0};
    int err = apply_defaults(&opts);
    if (err < 0)
        return err;

    corio_loop_t *loop = corio_calloc(1, sizeof *loop);
    if (loop == NULL)
        return -ENOMEM;
    loop->wake_fd = -1;
    err = corio_stack_pool_init(&loop->stacks, opts.stack_size, opts.max_pooled_stacks);
    if (err < 0)
        goto fail;
    err = backend_init(loop, &opts);
    if (err < 0)
        goto fail;
    /* Blocking on purpose: io_uring returns -EAGAIN for reads on O_NONBLOCK files instead
     * of waiting for them. */
    loop->wake_fd = eventfd(0, EFD_CLOEXEC);
    if (loop->wake_fd < 0) {
        err = -errno;
        goto fail;
    }
    corio_heap_init(&loop->timers);
    loop->report_overflow = !(opts.flags & CORIO_LOOP_NO_OVERFLOW_REPORT);
    loop->busy_poll_ns = (uint64_t)opts.busy_poll_us * 1000;
    corio_loop_update_time(loop);
    err = arm_wakeup(loop);
    if (err < 0)
        goto fail;
    *out = loop;
    return 0;

fail:
    if (loop->wake_fd >= 0)
        close(loop->wake_fd);
    backend_exit(loop);
    free(loop);
    return err;
}

/* A wake-up on its way (ts_signalled) keeps the loop alive: what was posted runs before
 * corio_loop_run returns for want of work. */
static bool loop_alive(const corio_loop_t *loop)
{
    return loop->ntasks > 0 || loop->inflight > 0 || loop->ntimers > 0 || loop->ready.n > 0 ||
           loop->jobs > 0 || atomic_load_explicit(&loop->ts_signalled, memory_order_relaxed);
}

/* Runs what was ready when the batch started; what becomes ready meanwhile (a task that
 * yields, a callback that schedules another) waits for the next iteration, so I/O is
 * never starved. */
static void run_ready(corio_loop_t *loop)
{
    /* A task that parks may hand over to the next task of the batch itself (task.c),
     * consuming batch entries on the way. */
    loop->batch = loop->ready.n;
    while (loop->batch > 0) {
        loop->batch--;
        loop->runs_since_poll++;
        struct corio_runnable *r = corio_runq_pop(&loop->ready);
        r->run(loop, r);
    }
}

static uint64_t wait_timeout(const corio_loop_t *loop)
{
    /* Do not sleep with work ready, completions waiting, a stop requested, or nothing
     * left that could wake us (the last task may have just finished). */
    if (loop->ready.n > 0 || loop->cq_pending ||
        atomic_load_explicit(&loop->stop, memory_order_relaxed) || !loop_alive(loop))
        return 0;
    const struct corio_heap_node *n = corio_heap_min(&loop->timers);
    if (n == NULL)
        return UINT64_MAX;
    return n->when > loop->now ? n->when - loop->now : 0;
}

/* Delivers up to CORIO_REAP_BATCH completions and notes whether more are waiting. */
static void reap_batch(corio_loop_t *loop)
{
    unsigned n = corio_backend_deliver(loop, CORIO_REAP_BATCH);
    loop->cq_pending = n == CORIO_REAP_BATCH && corio_backend_has_completions(loop);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* Before a sleep of up to `timeout` ns: spins up to busy_poll_ns for work from other threads
 * or completions, having submitted what is queued (a reply a poster waits for must not
 * wait for our sleep). Returns 1 when something came (posted work is in the ready queue;
 * completions are left to the reap), 0 when the loop should sleep, or -errno. */
static int busy_poll(corio_loop_t *loop, uint64_t timeout)
{
    if (loop->sq_dirty) {
        int err = corio_backend_submit_wait(loop, 0);
        if (err < 0)
            return err;
        loop->sq_dirty = false;
    }
    uint64_t now = corio_clock_ns();
    uint64_t end = now + (timeout < loop->busy_poll_ns ? timeout : loop->busy_poll_ns);
    atomic_store(&loop->spinning, true);
    bool came = false;
    while (!came && now < end) {
        for (int i = 0; i < 64 && !came; i++) {
            came = atomic_load_explicit(&loop->posted, memory_order_acquire) != NULL ||
                   corio_backend_has_completions(loop);
            cpu_relax();
        }
        now = corio_clock_ns();
    }
    atomic_store_explicit(&loop->spinning, false, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst); /* see wake_loop */
    if (atomic_load_explicit(&loop->posted, memory_order_relaxed) != NULL) {
        corio_loop_take_posted(loop);
        came = true;
    }
    return came;
}

/* Delivers every completion there is (corio_loop_free's drain). */
static void reap_all(corio_loop_t *loop)
{
    do
        reap_batch(loop);
    while (loop->cq_pending);
}

int corio_loop_run(corio_loop_t *loop)
{
    if (loop == NULL)
        return -EINVAL;
    if (loop->running)
        return -EBUSY;
    pthread_t self = pthread_self();
    if (loop->has_owner && !pthread_equal(loop->owner, self))
        return -EEXIST;
    loop->owner = self;
    loop->has_owner = true;
    loop->running = true;
    corio_loop_t *outer = tls_loop;
    tls_loop = loop;
    if (loop->report_overflow)
        (void)corio_stack_overflow_report_install();

    int err = 0;
    while (loop_alive(loop)) {
        run_ready(loop);
        if (corio_loop_must_enter(loop)) {
            if (loop->timers.n > 0)
                corio_loop_update_time(loop);
            uint64_t timeout = wait_timeout(loop);
            int came = timeout > 0 && loop->busy_poll_ns > 0 ? busy_poll(loop, timeout) : 0;
            if (came < 0) {
                err = came;
                break;
            }
            /* What came is in the ready queue or the CQ already: no need to enter. */
            err = came ? 0 : corio_backend_submit_wait(loop, timeout);
            if (err < 0)
                break;
            loop->sq_dirty = false;
            loop->runs_since_poll = 0;
            reap_batch(loop);
        } else if (loop->cq_pending) {
            reap_batch(loop);
        }
        if (loop->timers.n > 0) {
            corio_loop_update_time(loop);
            fire_timers(loop);
        }
        loop->iterations++;
        if (atomic_load_explicit(&loop->stop, memory_order_relaxed) &&
            atomic_exchange(&loop->stop, false))
            break;
    }
    /* Doorbells to other loops queued by the last callbacks (a timer's, or one that made
     * the loop run out of work) are sent now: they must not wait for a next run. */
    if (err == 0 && loop->sq_dirty && loop->ring != NULL) {
        err = corio_backend_submit_wait(loop, 0);
        loop->sq_dirty = false;
    }
    tls_loop = outer;
    loop->running = false;
    return err;
}

void corio_loop_stop(corio_loop_t *loop)
{
    if (loop == NULL)
        return;
    atomic_store(&loop->stop, true);
    /* Only the thread running the loop may skip the wake-up, and only it can know that it
     * runs it (its own thread-local): the owner fields are the loop thread's, unsynchronised. */
    if (tls_loop != loop)
        wake_loop(loop);
}

static void free_call_list(struct corio_call *c)
{
    while (c != NULL) {
        struct corio_call *next = (struct corio_call *)c->run.next;
        free(c);
        c = next;
    }
}

void corio_loop_free(corio_loop_t *loop)
{
    if (loop == NULL)
        return;
    if (loop->running) {
        fprintf(stderr, "corio_loop_free: the loop is running; stop it and let "
                        "corio_loop_run return first\n");
        abort();
    }
    if (loop->ntasks > 0) {
        fprintf(stderr,
                "corio_loop_free: %zu task(s) still alive; cancel them and run the loop "
                "until they finish before freeing it\n",
                loop->ntasks);
        abort();
    }
    corio_task_release_all(loop);

    /* The kernel may write into in-flight ops' buffers until their completions: cancel
     * them and deliver those completions before the memory can go away. */
    loop->closing = true;
    if (loop->inflight > 0)
        (void)corio_backend_queue_cancel(loop, 0);
    while (loop->inflight > 0) {
        if (corio_backend_submit_wait(loop, UINT64_MAX) < 0)
            break;
        reap_all(loop);
    }
    /* Before the wake-ups of finished jobs are dropped (unrun) below. */
    corio_executor_detach_loop(loop);
    corio_bufring_free_all(loop); /* no op uses them any more */

    /* Pending callbacks, messages and timers are dropped without running; messages are
     * the caller's memory. */
    corio_loop_take_posted(loop);
    struct corio_runnable *r;
    while ((r = corio_runq_pop(&loop->ready)) != NULL) {
        assert(r->run == call_run || r->run == msg_run);
        if (r->run == call_run)
            free(r);
    }
    struct corio_heap_node *n;
    while ((n = corio_heap_min(&loop->timers)) != NULL) {
        struct corio_timer *t = (struct corio_timer *)n;
        corio_timer_stop(loop, t);
        if (t->owned)
            free(t);
    }
    while (loop->fired_timers != NULL) {
        struct corio_link *l = loop->fired_timers;
        corio_link_del(l);
        free(corio_container_of(l, struct corio_timer, link));
    }
    free_call_list(loop->free_calls);

    backend_exit(loop); /* also ends the eventfd read */
    close(loop->wake_fd);
    corio_stack_pool_destroy(&loop->stacks);
    free(loop);
}

int corio_run(void *(*main)(void *), void *arg, void **result)
{
    if (main == NULL)
        return -EINVAL;
    corio_loop_t *loop;
    int err = corio_loop_new(&loop, NULL);
    if (err < 0)
        return err;
    corio_task_t *task;
    err = corio_spawn(loop, main, arg, &task);
    if (err == 0) {
        err = corio_loop_run(loop);
        /* Stopped early: cancel what is left and let it unwind, spawning nothing new (a
         * task spawned now would not be cancelled, and could wait forever). */
        loop->stopping = true;
        while (err == 0 && loop->ntasks > 0) {
            corio_task_cancel_all(loop);
            err = corio_loop_run(loop);
        }
        err = corio_task_take_result(task, result, err);
    }
    corio_loop_free(loop);
    return err;
}

const char *corio_loop_backend(const corio_loop_t *loop)
{
    if (loop == NULL)
        return "none";
    return loop->ring != NULL ? "io_uring" : "epoll";
}

int corio_loop_fallback_error(const corio_loop_t *loop)
{
    return loop != NULL ? loop->fallback_err : 0;
}

int corio_loop_stats(const corio_loop_t *loop, corio_loop_stats_t *stats)
{
    if (loop == NULL || stats == NULL)
        return -EINVAL;
    if (loop->ring != NULL)
        corio_ring_stats(loop->ring, stats);
    else
        corio_epoll_stats(loop->epoll, stats);
    stats->iterations = loop->iterations;
    return 0;
}

uint64_t corio_loop_now(const corio_loop_t *loop)
{
    (void)loop;
    return corio_clock_ns();
}

/* stack.c's fork handler, in the child: the parent's loop is not this thread's any more. */
void corio_loop_forget_thread(void)
{
    tls_loop = NULL;
}

corio_loop_t *corio_current_loop(void)
{
    return corio_this_task != NULL ? corio_this_task->loop : tls_loop;
}
