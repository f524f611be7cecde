/* Cross-loop benchmarks: two loops on two threads (pinned to CPUs 0 and 1 when there are
 * two), bouncing messages; one iteration = one round trip A->B->A of one message.
 *   xloop/{post,threadsafe,pipe}_pingpong: one message in play, so time per iteration is
 *     the round-trip latency and every message has to wake a sleeping thread;
 *   xloop/{post,threadsafe,pipe}_window64: 64 messages in play at once, the throughput
 *     of a busy pair (wake-ups can be merged);
 * post: corio_loop_post, caller-owned messages (a MSG_RING doorbell between io_uring
 * loops; the eventfd on epoll, CORIO_BACKEND=epoll); threadsafe:
 * corio_call_soon_threadsafe, a node allocated per call; pipe, the baseline: two plain
 * threads, blocking read and write of 8 bytes on two pipes. Built with
 * CORIO_XLOOP_BASELINE (against a corio without corio_loop_post, to measure the
 * call_soon_threadsafe it had) only the threadsafe and pipe variants exist. */
#define _GNU_SOURCE /* pthread_setaffinity_np, CPU_SET */
#include "bench.h"

#include <corio/corio.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#define WINDOW 64u

enum path { PATH_POST, PATH_THREADSAFE };

struct xbench;

struct xball {
#ifndef CORIO_XLOOP_BASELINE
    corio_msg_t msg;
#endif
    struct xbench *x;
    uint64_t left; /* round trips still to make */
    bool at_b;     /* where it is going */
};

struct xbench {
    corio_loop_t *a, *b;
    enum path path;
    unsigned balls_out; /* balls still bouncing (A's thread only) */
    corio_future_t a_done, b_done;
    struct xball balls[WINDOW];
#ifndef CORIO_XLOOP_BASELINE
    corio_msg_t stop_b;
#endif
};

/* Runs on the calling thread only on CPU cpu, when there are at least two. */
static void pin_to(int cpu)
{
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    (void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void ball_arrived(struct xball *ball);

#ifndef CORIO_XLOOP_BASELINE
static void on_post(corio_msg_t *msg)
{
    ball_arrived((struct xball *)msg);
}
#endif

static void on_call(void *arg)
{
    ball_arrived(arg);
}

static void send_ball(struct xball *ball)
{
    corio_loop_t *to = ball->at_b ? ball->x->b : ball->x->a;
#ifndef CORIO_XLOOP_BASELINE
    if (ball->x->path == PATH_POST) {
        (void)corio_loop_post(to, &ball->msg, on_post);
        return;
    }
#endif
    (void)corio_call_soon_threadsafe(to, on_call, ball);
}

#ifndef CORIO_XLOOP_BASELINE
static void stop_b(corio_msg_t *msg)
{
    struct xbench *x = msg->data;
    corio_future_resolve(&x->b_done, NULL);
}
#endif

static void stop_b_call(void *arg)
{
    struct xbench *x = arg;
    corio_future_resolve(&x->b_done, NULL);
}

static void ball_arrived(struct xball *ball)
{
    struct xbench *x = ball->x;
    if (ball->at_b) { /* on B: straight back */
        ball->at_b = false;
        send_ball(ball);
        return;
    }
    if (--ball->left > 0) {
        ball->at_b = true;
        send_ball(ball);
        return;
    }
    if (--x->balls_out > 0)
        return;
    corio_future_resolve(&x->a_done, NULL);
#ifndef CORIO_XLOOP_BASELINE
    if (x->path == PATH_POST) {
        x->stop_b.data = x;
        (void)corio_loop_post(x->b, &x->stop_b, stop_b);
        return;
    }
#endif
    (void)corio_call_soon_threadsafe(x->b, stop_b_call, x);
}

static void *await_future(void *arg)
{
    return (void *)(intptr_t)corio_future_await(arg, NULL);
}

static void *run_b(void *arg)
{
    struct xbench *x = arg;
    pin_to(1);
    return (void *)(intptr_t)corio_loop_run(x->b);
}

static void *serve_balls(void *arg)
{
    struct xbench *x = arg;
    for (unsigned i = 0; i < x->balls_out; i++)
        send_ball(&x->balls[i]);
    return (void *)(intptr_t)corio_future_await(&x->a_done, NULL);
}

#define BUSY_POLL_US 50 /* with busy polling, the loops spin this long before they sleep */

/* arg: the path in the low bit, busy polling in the next, the window above them. */
static void bench_loops(corio_bench_state_t *st, void *arg)
{
    static struct xbench x;
    uintptr_t how = (uintptr_t)arg;
    unsigned window = (unsigned)(how >> 2);
    x = (struct xbench){.path = (enum path)(how & 1)};
    corio_loop_opts_t opts = {0};
#ifndef CORIO_XLOOP_BASELINE
    opts.busy_poll_us = how & 2 ? BUSY_POLL_US : 0;
#endif
    if (corio_loop_new(&x.a, &opts) != 0 || corio_loop_new(&x.b, &opts) != 0) {
        corio_loop_free(x.a);
        corio_bench_skip(st, "no loop");
        return;
    }
    cpu_set_t saved;
    (void)pthread_getaffinity_np(pthread_self(), sizeof saved, &saved);
    pin_to(0);
    corio_future_init(&x.a_done);
    corio_future_init(&x.b_done);
    (void)corio_spawn(x.b, await_future, &x.b_done, NULL);
    pthread_t tb;
    pthread_create(&tb, NULL, run_b, &x);
    uint64_t n = corio_bench_start(st);
    uint64_t per = (n + window - 1) / window;
    x.balls_out = window;
    for (unsigned i = 0; i < window; i++) {
        x.balls[i] = (struct xball){.x = &x, .left = per, .at_b = true};
#ifndef CORIO_XLOOP_BASELINE
        x.balls[i].msg = (corio_msg_t){0};
#endif
    }
    (void)corio_spawn(x.a, serve_balls, &x, NULL);
    (void)corio_loop_run(x.a);
    corio_bench_stop(st);
    pthread_join(tb, NULL);
    corio_bench_counter(st, "msgs/s", 2.0 * (double)(per * window), CORIO_BENCH_RATE);
    corio_bench_counter(st, "rt_per_iter", (double)(per * window) / (double)n, CORIO_BENCH_PLAIN);
    (void)pthread_setaffinity_np(pthread_self(), sizeof saved, &saved);
    corio_loop_free(x.a);
    corio_loop_free(x.b);
}

/* ---- the baseline: two threads, two pipes ------------------------------------------- */

struct pipes {
    int ab[2], ba[2]; /* [0] read end, [1] write end */
};

static void *pipe_echo(void *arg)
{
    struct pipes *p = arg;
    pin_to(1);
    uint64_t v;
    while (read(p->ab[0], &v, sizeof v) == sizeof v)
        if (write(p->ba[1], &v, sizeof v) != sizeof v)
            break;
    return NULL;
}

static void bench_pipes(corio_bench_state_t *st, void *arg)
{
    unsigned window = (unsigned)(uintptr_t)arg;
    struct pipes p;
    if (pipe(p.ab) != 0 || pipe(p.ba) != 0) {
        corio_bench_skip(st, "no pipes");
        return;
    }
    cpu_set_t saved;
    (void)pthread_getaffinity_np(pthread_self(), sizeof saved, &saved);
    pin_to(0);
    pthread_t tb;
    pthread_create(&tb, NULL, pipe_echo, &p);
    uint64_t n = corio_bench_start(st);
    uint64_t v = 0;
    bool ok = true;
    for (unsigned i = 0; i < window && i < n; i++)
        ok = ok && write(p.ab[1], &v, sizeof v) == sizeof v;
    for (uint64_t done = 0; ok && done < n; done++) {
        ok = read(p.ba[0], &v, sizeof v) == sizeof v;
        if (ok && done + window < n)
            ok = write(p.ab[1], &v, sizeof v) == sizeof v;
    }
    corio_bench_stop(st);
    close(p.ab[1]); /* the echo thread's read sees EOF */
    pthread_join(tb, NULL);
    close(p.ab[0]);
    close(p.ba[0]);
    close(p.ba[1]);
    corio_bench_counter(st, "msgs/s", 2.0 * (double)n, CORIO_BENCH_RATE);
    (void)pthread_setaffinity_np(pthread_self(), sizeof saved, &saved);
}

#define HOW(path, window) ((void *)(uintptr_t)((unsigned)(window) << 2 | (path)))
#define BUSY 2u

void bench_xloop_register(void)
{
#ifndef CORIO_XLOOP_BASELINE
    corio_bench_register_real_time("xloop/post_pingpong", bench_loops, HOW(PATH_POST, 1));
    corio_bench_register_real_time("xloop/post_busy_poll_pingpong", bench_loops,
                                   (void *)((uintptr_t)HOW(PATH_POST, 1) | BUSY));
#endif
    corio_bench_register_real_time("xloop/threadsafe_pingpong", bench_loops,
                                   HOW(PATH_THREADSAFE, 1));
    corio_bench_register_real_time("xloop/pipe_pingpong", bench_pipes, (void *)(uintptr_t)1);
#ifndef CORIO_XLOOP_BASELINE
    corio_bench_register_real_time("xloop/post_window64", bench_loops, HOW(PATH_POST, WINDOW));
#endif
    corio_bench_register_real_time("xloop/threadsafe_window64", bench_loops,
                                   HOW(PATH_THREADSAFE, WINDOW));
    corio_bench_register_real_time("xloop/pipe_window64", bench_pipes, (void *)(uintptr_t)WINDOW);
}

void bench_xloop_summary(void)
{
    bench_line("cross-loop round trip, ns", "corio_loop_post",
               corio_bench_result_ns("xloop/post_pingpong"), "pipe threads",
               corio_bench_result_ns("xloop/pipe_pingpong"));
    bench_line("cross-loop round trip, ns", "corio_loop_post",
               corio_bench_result_ns("xloop/post_pingpong"), "call_soon_threadsafe",
               corio_bench_result_ns("xloop/threadsafe_pingpong"));
    bench_line("cross-loop round trip, ns", "post, busy_poll_us 50",
               corio_bench_result_ns("xloop/post_busy_poll_pingpong"), "call_soon_threadsafe",
               corio_bench_result_ns("xloop/threadsafe_pingpong"));
    bench_line("cross-loop, 64 in play, ns/round trip", "corio_loop_post",
               corio_bench_result_ns("xloop/post_window64"), "pipe threads",
               corio_bench_result_ns("xloop/pipe_window64"));
    bench_line("cross-loop, 64 in play, ns/round trip", "corio_loop_post",
               corio_bench_result_ns("xloop/post_window64"), "call_soon_threadsafe",
               corio_bench_result_ns("xloop/threadsafe_window64"));
}
