/* Loop benchmarks, each beside its baseline in the same run:
 *   {nop,read64}/{raw_liburing,corio_callbacks,corio_coroutines}: throughput of NOPs and
 *     of 64-byte reads from /dev/zero at the same queue depth (one iteration = one
 *     completed op);
 *   {nop,read64}/minimal_fibers: the floor for any stackful design: 64 fibers on corio's
 *     stacks and switch over the raw ring, with no engine at all (each fiber preps its
 *     own SQE and hands over to the next completed one);
 *   task/spawn_join: spawn and join an empty task (pooled stacks);
 *   task/yield_round_trip: two tasks yielding to each other (one iteration = A->B->A),
 *     compared with boost.context's switch from bench_switch.c;
 *   task/yield_64_tasks: 64 tasks yielding round robin (one iteration = one hand-over),
 *     the scheduling an await pays at depth 64 without the kernel, against the same. */
#include "bench.h"

#include "fiber.h"
#include "stack.h"

#include <corio/corio.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <unistd.h>

#define QUEUE_DEPTH 64u
#define READ_SIZE   64u

/* The op each throughput benchmark runs: a NOP (fd < 0) or a read from /dev/zero. */
struct workload {
    int fd;
};

static struct workload nop_work = {-1}, read_work = {-1};
static char buffers[QUEUE_DEPTH][READ_SIZE];

static struct io_uring_sqe *raw_prep(struct io_uring *ring, const struct workload *w, uint64_t i)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    if (w->fd < 0)
        io_uring_prep_nop(sqe);
    else
        io_uring_prep_read(sqe, w->fd, buffers[i % QUEUE_DEPTH], READ_SIZE, 0);
    return sqe;
}

static void bench_raw(corio_bench_state_t *st, void *arg)
{
    const struct workload *w = arg;
    struct io_uring ring;
    if (bench_raw_ring(&ring, 256) < 0) {
        corio_bench_skip(st, "io_uring unavailable");
        return;
    }
    uint64_t n = corio_bench_start(st), queued = 0, done = 0, enters = 0;
    for (; queued < n && queued < QUEUE_DEPTH; queued++)
        raw_prep(&ring, w, queued);
    while (done < n) {
        io_uring_submit_and_wait(&ring, 1);
        enters++;
        unsigned head, seen = 0;
        struct io_uring_cqe *cqe;
        io_uring_for_each_cqe(&ring, head, cqe) seen++;
        io_uring_cq_advance(&ring, seen);
        done += seen;
        for (unsigned i = 0; i < seen && queued < n; i++, queued++)
            raw_prep(&ring, w, queued);
    }
    corio_bench_stop(st);
    corio_bench_counter(st, "ops_per_enter", (double)done / (double)enters, 0);
    io_uring_queue_exit(&ring);
}

/* ---- the stackful floor: fibers over the raw ring, no engine --------------------- */

struct mini_fiber {
    struct corio_fiber fiber;
    unsigned row; /* its row of `buffers` */
};

static struct mini_run {
    struct io_uring ring;
    const struct workload *w;
    uint64_t to_start;
    struct corio_fiber sched;
    struct mini_fiber fibers[QUEUE_DEPTH];
    struct mini_fiber *ready[QUEUE_DEPTH]; /* completed this round, in CQE order */
    unsigned nready, next;
} mini;

/* Hands over to the next fiber whose op completed, or back to the scheduler. */
static void mini_hand_over(struct mini_fiber *self)
{
    if (mini.next < mini.nready) {
        struct mini_fiber *to = mini.ready[mini.next++];
        corio_fiber_switch(&self->fiber, &to->fiber, to);
    } else {
        corio_fiber_switch(&self->fiber, &mini.sched, NULL);
    }
}

static void mini_entry(void *arg)
{
    struct mini_fiber *self = arg;
    corio_fiber_started(&mini.sched);
    for (;;) { /* never returns: the benchmark abandons its fibers parked */
        if (mini.to_start > 0) {
            mini.to_start--;
            io_uring_sqe_set_data(raw_prep(&mini.ring, mini.w, self->row), self);
        }
        mini_hand_over(self);
    }
}

static void bench_minimal_fibers(corio_bench_state_t *st, void *arg)
{
    struct corio_stack_pool pool;
    struct corio_stack *stacks[QUEUE_DEPTH];
    if (bench_raw_ring(&mini.ring, 256) < 0) {
        corio_bench_skip(st, "io_uring unavailable");
        return;
    }
    if (corio_stack_pool_init(&pool, corio_stack_default_size(), QUEUE_DEPTH) != 0) {
        corio_bench_skip(st, "cannot set up stacks");
        io_uring_queue_exit(&mini.ring);
        return;
    }
    mini.w = arg;
    mini.nready = 0;
    while (mini.nready < QUEUE_DEPTH && corio_stack_get(&pool, &stacks[mini.nready]) == 0) {
        struct mini_fiber *f = &mini.fibers[mini.nready];
        f->row = mini.nready;
        corio_fiber_init(&f->fiber, stacks[mini.nready]->lo, stacks[mini.nready]->size, mini_entry);
        mini.ready[mini.nready++] = f;
    }
    unsigned nstacks = mini.nready;
    uint64_t n = nstacks == QUEUE_DEPTH ? corio_bench_start(st) : 0, done = 0;
    mini.to_start = n;
    while (done < n) {
        if (mini.nready > 0) {
            mini.next = 1;
            struct mini_fiber *first = mini.ready[0];
            corio_fiber_switch(&mini.sched, &first->fiber, first);
        }
        io_uring_submit_and_wait(&mini.ring, 1);
        unsigned head, seen = 0;
        struct io_uring_cqe *cqe;
        io_uring_for_each_cqe(&mini.ring, head, cqe) mini.ready[seen++] =
            io_uring_cqe_get_data(cqe);
        io_uring_cq_advance(&mini.ring, seen);
        mini.nready = seen;
        done += seen;
    }
    if (nstacks == QUEUE_DEPTH)
        corio_bench_stop(st);
    else
        corio_bench_skip(st, "cannot map a stack");
    for (unsigned i = 0; i < nstacks; i++) /* the fibers stay parked: nothing runs on them */
        corio_stack_put(&pool, stacks[i]);
    corio_stack_pool_destroy(&pool);
    io_uring_queue_exit(&mini.ring);
}

/* Completions per io_uring_enter: at depth 64 the loop should enter once per 64 ops, as
 * the raw loop does; fewer would mean extra enters. */
static void report_ops_per_enter(corio_bench_state_t *st, corio_loop_t *loop)
{
    corio_loop_stats_t s;
    corio_loop_stats(loop, &s);
    corio_bench_counter(st, "ops_per_enter",
                        s.enters ? (double)s.completions / (double)s.enters : 0, 0);
}

/* ---- corio, callback mode ---------------------------------------------------------- */

struct cb_run {
    corio_loop_t *loop;
    const struct workload *w;
    uint64_t to_start;
};

static corio_op_t cb_ops[QUEUE_DEPTH];

static void start_again(corio_op_t *op, int res);

static void cb_start(struct cb_run *run, corio_op_t *op)
{
    run->to_start--;
    if (run->w->fd < 0)
        corio_nop_cb(run->loop, op, start_again);
    else
        corio_read_cb(run->loop, op, run->w->fd, buffers[op - cb_ops], READ_SIZE, 0, start_again);
}

static void start_again(corio_op_t *op, int res)
{
    struct cb_run *run = op->data;
    if (res >= 0 && run->to_start > 0)
        cb_start(run, op);
}

static void bench_corio_callbacks(corio_bench_state_t *st, void *arg)
{
    struct cb_run run = {.w = arg};
    if (corio_loop_new(&run.loop, NULL) != 0) {
        corio_bench_skip(st, "io_uring unavailable");
        return;
    }
    run.to_start = corio_bench_start(st);
    for (unsigned i = 0; i < QUEUE_DEPTH && run.to_start > 0; i++) {
        cb_ops[i] = (corio_op_t){.data = &run};
        cb_start(&run, &cb_ops[i]);
    }
    corio_loop_run(run.loop);
    corio_bench_stop(st);
    report_ops_per_enter(st, run.loop);
    corio_loop_free(run.loop);
}

/* ---- corio, coroutine mode --------------------------------------------------------- */

struct co_run {
    const struct workload *w;
    uint64_t to_start;
};

/* One task: its run and its row of `buffers`. Every variant reads into the same 4 KiB,
 * so the comparison is of the engines: with a buffer on each task's stack, the kernel's
 * copies alone touched 64 more pages and cost ~5 ns per read. */
struct co_task {
    struct co_run *run;
    char *buf;
};

static void *op_task(void *arg)
{
    const struct co_task *me = arg;
    struct co_run *run = me->run;
    while (run->to_start > 0) {
        run->to_start--;
        if (run->w->fd < 0)
            corio_nop();
        else
            corio_read(run->w->fd, me->buf, READ_SIZE, 0);
    }
    return NULL;
}

static void bench_corio_coroutines(corio_bench_state_t *st, void *arg)
{
    struct co_run run = {.w = arg};
    struct co_task tasks[QUEUE_DEPTH];
    corio_loop_t *loop;
    if (corio_loop_new(&loop, NULL) != 0) {
        corio_bench_skip(st, "io_uring unavailable");
        return;
    }
    for (unsigned i = 0; i < QUEUE_DEPTH; i++) {
        tasks[i] = (struct co_task){.run = &run, .buf = buffers[i]};
        corio_spawn(loop, op_task, &tasks[i], NULL);
    }
    run.to_start = corio_bench_start(st);
    corio_loop_run(loop);
    corio_bench_stop(st);
    report_ops_per_enter(st, loop);
    corio_loop_free(loop);
}

/* ---- tasks: spawn + join, yield round trip ----------------------------------------- */

static void *empty_task(void *arg)
{
    return arg;
}

static void *spawn_join_main(void *arg)
{
    corio_bench_state_t *st = arg;
    corio_task_t *t;
    for (uint64_t n = corio_bench_start(st); n > 0; n--) {
        corio_spawn(NULL, empty_task, NULL, &t);
        corio_join(t, NULL);
    }
    corio_bench_stop(st);
    return NULL;
}

static void *yielder(void *arg)
{
    for (uint64_t n = *(uint64_t *)arg; n > 0; n--)
        corio_yield();
    return NULL;
}

static void *yield_main(void *arg)
{
    corio_bench_state_t *st = arg;
    corio_task_t *a, *b;
    uint64_t n = corio_bench_start(st);
    corio_spawn(NULL, yielder, &n, &a);
    corio_spawn(NULL, yielder, &n, &b);
    corio_join(a, NULL);
    corio_join(b, NULL);
    corio_bench_stop(st);
    return NULL;
}

static uint64_t yields_left;

static void *round_robin_yielder(void *arg)
{
    (void)arg;
    while (yields_left > 0) {
        yields_left--;
        corio_yield();
    }
    return NULL;
}

static void *yield64_main(void *arg)
{
    corio_bench_state_t *st = arg;
    corio_task_t *tasks[QUEUE_DEPTH];
    yields_left = corio_bench_start(st);
    for (unsigned i = 0; i < QUEUE_DEPTH; i++)
        corio_spawn(NULL, round_robin_yielder, NULL, &tasks[i]);
    for (unsigned i = 0; i < QUEUE_DEPTH; i++)
        corio_join(tasks[i], NULL);
    corio_bench_stop(st);
    return NULL;
}

void bench_loop_register(void)
{
    read_work.fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    corio_bench_register("nop/raw_liburing", bench_raw, &nop_work);
    corio_bench_register("nop/corio_callbacks", bench_corio_callbacks, &nop_work);
    corio_bench_register("nop/corio_coroutines", bench_corio_coroutines, &nop_work);
    corio_bench_register("nop/minimal_fibers", bench_minimal_fibers, &nop_work);
    corio_bench_register("read64/raw_liburing", bench_raw, &read_work);
    corio_bench_register("read64/corio_callbacks", bench_corio_callbacks, &read_work);
    corio_bench_register("read64/corio_coroutines", bench_corio_coroutines, &read_work);
    corio_bench_register("read64/minimal_fibers", bench_minimal_fibers, &read_work);
    corio_bench_register("task/spawn_join", bench_in_task, (void *)spawn_join_main);
    corio_bench_register("task/yield_round_trip", bench_in_task, (void *)yield_main);
    corio_bench_register("task/yield_64_tasks", bench_in_task, (void *)yield64_main);
}

void bench_loop_summary(void)
{
    static const char *const kinds[] = {"nop", "read64"};
    for (int k = 0; k < 2; k++) {
        char what[64], name[64];
        snprintf(what, sizeof what, "%s at depth %u, ns per op", kinds[k], QUEUE_DEPTH);
        snprintf(name, sizeof name, "%s/raw_liburing", kinds[k]);
        double raw = corio_bench_result_ns(name);
        snprintf(name, sizeof name, "%s/corio_callbacks", kinds[k]);
        bench_line(what, "callbacks", corio_bench_result_ns(name), "raw liburing", raw);
        snprintf(name, sizeof name, "%s/corio_coroutines", kinds[k]);
        double coroutines = corio_bench_result_ns(name);
        bench_line(what, "coroutines", coroutines, "raw liburing", raw);
        snprintf(name, sizeof name, "%s/minimal_fibers", kinds[k]);
        double floor = corio_bench_result_ns(name);
        bench_line(what, "minimal fibers", floor, "raw liburing", raw);
        bench_line(what, "coroutines", coroutines, "minimal fibers", floor);
    }
    double spawn = corio_bench_result_ns("task/spawn_join");
    if (spawn > 0)
        printf("%-40s %-16s %9.2f\n", "spawn + join an empty task, ns", "corio", spawn);
    bench_line("yield round trip vs one switch, ns", "corio yield",
               corio_bench_result_ns("task/yield_round_trip"), "boost switch",
               corio_bench_result_ns("switch/boost_context") / 2);
    bench_line("yield among 64 tasks vs one switch, ns", "corio yield",
               corio_bench_result_ns("task/yield_64_tasks"), "boost switch",
               corio_bench_result_ns("switch/boost_context") / 2);
}
