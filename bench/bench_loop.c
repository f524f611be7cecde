/* Loop benchmarks, each beside its baseline in the same run:
 *   nop/raw_liburing, nop/corio_callbacks, nop/corio_coroutines: NOP throughput at the
 *     same queue depth (one iteration = one completed NOP);
 *   task/spawn_join: spawn and join an empty task (pooled stacks);
 *   task/yield_round_trip: two tasks yielding to each other (one iteration = A->B->A),
 *     compared with boost.context's switch from bench_switch.c. */
#include "bench.h"

#include <corio/corio.h>
#include <liburing.h>
#include <stdio.h>

#define QUEUE_DEPTH 64u

/* The flags corio asks for, so the baseline runs the same kernel path. */
static int raw_ring(struct io_uring *ring)
{
    struct io_uring_params p = {.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
                                         IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN};
    int rc = io_uring_queue_init_params(256, ring, &p);
    if (rc == -EINVAL) {
        struct io_uring_params plain = {0};
        rc = io_uring_queue_init_params(256, ring, &plain);
    }
    return rc;
}

static void bench_raw_nop(corio_bench_state_t *st, void *arg)
{
    (void)arg;
    struct io_uring ring;
    if (raw_ring(&ring) < 0) {
        corio_bench_skip(st, "io_uring unavailable");
        return;
    }
    uint64_t n = corio_bench_start(st), queued = 0, done = 0;
    for (; queued < n && queued < QUEUE_DEPTH; queued++)
        io_uring_prep_nop(io_uring_get_sqe(&ring));
    while (done < n) {
        io_uring_submit_and_wait(&ring, 1);
        unsigned head, seen = 0;
        struct io_uring_cqe *cqe;
        io_uring_for_each_cqe(&ring, head, cqe) seen++;
        io_uring_cq_advance(&ring, seen);
        done += seen;
        for (unsigned i = 0; i < seen && queued < n; i++, queued++)
            io_uring_prep_nop(io_uring_get_sqe(&ring));
    }
    corio_bench_stop(st);
    io_uring_queue_exit(&ring);
}

/* ---- corio, callback mode ---------------------------------------------------------- */

struct nop_run {
    corio_loop_t *loop;
    uint64_t to_start;
};

static void nop_again(corio_op_t *op, int res)
{
    struct nop_run *run = op->data;
    if (res == 0 && run->to_start > 0) {
        run->to_start--;
        corio_nop_cb(run->loop, op, nop_again);
    }
}

static void bench_corio_callbacks(corio_bench_state_t *st, void *arg)
{
    (void)arg;
    static corio_op_t ops[QUEUE_DEPTH];
    struct nop_run run;
    if (corio_loop_new(&run.loop, NULL) != 0) {
        corio_bench_skip(st, "io_uring unavailable");
        return;
    }
    uint64_t n = corio_bench_start(st);
    run.to_start = n;
    for (unsigned i = 0; i < QUEUE_DEPTH && run.to_start > 0; i++, run.to_start--) {
        ops[i] = (corio_op_t){.data = &run};
        corio_nop_cb(run.loop, &ops[i], nop_again);
    }
    corio_loop_run(run.loop);
    corio_bench_stop(st);
    corio_loop_free(run.loop);
}

/* ---- corio, coroutine mode --------------------------------------------------------- */

static void *nop_task(void *arg)
{
    uint64_t *to_start = arg;
    while (*to_start > 0) {
        (*to_start)--;
        corio_nop();
    }
    return NULL;
}

static void bench_corio_coroutines(corio_bench_state_t *st, void *arg)
{
    (void)arg;
    corio_loop_t *loop;
    if (corio_loop_new(&loop, NULL) != 0) {
        corio_bench_skip(st, "io_uring unavailable");
        return;
    }
    uint64_t to_start = 0;
    for (unsigned i = 0; i < QUEUE_DEPTH; i++)
        corio_spawn(loop, nop_task, &to_start, NULL);
    to_start = corio_bench_start(st);
    corio_loop_run(loop);
    corio_bench_stop(st);
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

static void bench_in_task(corio_bench_state_t *st, void *main)
{
    if (corio_run((void *(*)(void *))main, st, NULL) != 0)
        corio_bench_skip(st, "io_uring unavailable");
}

void bench_loop_register(void)
{
    corio_bench_register("nop/raw_liburing", bench_raw_nop, NULL);
    corio_bench_register("nop/corio_callbacks", bench_corio_callbacks, NULL);
    corio_bench_register("nop/corio_coroutines", bench_corio_coroutines, NULL);
    corio_bench_register("task/spawn_join", bench_in_task, (void *)spawn_join_main);
    corio_bench_register("task/yield_round_trip", bench_in_task, (void *)yield_main);
}

void bench_loop_summary(void)
{
    double raw = corio_bench_result_ns("nop/raw_liburing");
    bench_line("NOP at depth 64, ns per op", "callbacks",
               corio_bench_result_ns("nop/corio_callbacks"), "raw liburing", raw);
    bench_line("NOP at depth 64, ns per op", "coroutines",
               corio_bench_result_ns("nop/corio_coroutines"), "raw liburing", raw);
    printf("%-40s %-16s %9.2f  (target <= 100)\n", "spawn + join an empty task, ns", "corio",
           corio_bench_result_ns("task/spawn_join"));
    bench_line("yield round trip vs one switch, ns", "corio yield",
               corio_bench_result_ns("task/yield_round_trip"), "boost switch",
               corio_bench_result_ns("switch/boost_context") / 2);
}
