/* Tests of the loop and callback mode (engine/loop.c, engine/op.c): call_soon order,
 * call_later order and cancel, call_soon_threadsafe from several threads, bad options,
 * back-pressure on a tiny ring, and teardown with an op in flight. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "support.h"

/* ---- call_soon ------------------------------------------------------------------ */

struct order {
    int seen[16];
    int n;
    corio_loop_t *loop;
};

struct rec {
    struct order *o;
    int id;
};

static void record_rec(void *arg)
{
    struct rec *r = arg;
    r->o->seen[r->o->n++] = r->id;
}

static struct rec late = {NULL, 99};

static void schedule_late(void *arg)
{
    struct rec *r = arg;
    r->o->seen[r->o->n++] = r->id;
    late.o = r->o;
    assert_int_equal(corio_call_soon(r->o->loop, record_rec, &late), 0);
}

static void test_call_soon_runs_in_fifo_order(void **state)
{
    (void)state;
    struct order o = {.loop = support_loop(0)};
    struct rec recs[5];
    for (int i = 0; i < 5; i++) {
        recs[i] = (struct rec){&o, i};
        assert_int_equal(corio_call_soon(o.loop, i == 1 ? schedule_late : record_rec, &recs[i]), 0);
    }
    assert_int_equal(corio_loop_run(o.loop), 0);
    /* 99 was scheduled while the first batch ran: it comes after the whole batch. */
    int expect[] = {0, 1, 2, 3, 4, 99};
    assert_int_equal(o.n, 6);
    assert_memory_equal(o.seen, expect, sizeof expect);
    assert_int_equal(corio_call_soon(NULL, record_rec, &recs[0]), -EINVAL);
    assert_int_equal(corio_call_soon(o.loop, NULL, &recs[0]), -EINVAL);
    corio_loop_free(o.loop);
}

/* ---- call_later ----------------------------------------------------------------- */

static void test_call_later_fires_in_deadline_order_and_cancel_wins(void **state)
{
    (void)state;
    struct order o = {.loop = support_loop(0)};
    struct rec recs[5];
    const uint64_t ms = 1000000;
    uint64_t delays[5] = {30 * ms, 10 * ms, 20 * ms, 10 * ms, 5 * ms};
    corio_timer_t *timers[5];
    /* Read before the timers are set: their delays count from then or later. */
    uint64_t start = corio_loop_now(o.loop);
    for (int i = 0; i < 5; i++) {
        recs[i] = (struct rec){&o, i};
        assert_int_equal(corio_call_later(o.loop, delays[i], record_rec, &recs[i], &timers[i]), 0);
    }
    assert_int_equal(corio_timer_cancel(timers[2]), 0); /* 20 ms: must never fire */
    assert_int_equal(corio_loop_run(o.loop), 0);
    assert_true(corio_loop_now(o.loop) - start >= 30 * ms);
    /* 5 ms, then the two 10 ms timers in the order set, then 30 ms. */
    int expect[] = {4, 1, 3, 0};
    assert_int_equal(o.n, 4);
    assert_memory_equal(o.seen, expect, sizeof expect);
    assert_int_equal(corio_timer_cancel(NULL), -EINVAL);
    corio_loop_free(o.loop);
}

/* ---- call_soon_threadsafe ------------------------------------------------------- */

#define THREADS 4
#define CALLS   5000

struct ts_state {
    corio_loop_t *loop;
    corio_future_t all_done;
    int next_seq[THREADS]; /* per thread: the sequence number expected next */
    int total;
    int out_of_order;
};

struct ts_call {
    struct ts_state *st;
    int thread, seq;
};

static struct ts_call ts_calls[THREADS][CALLS];

static void ts_deliver(void *arg)
{
    struct ts_call *c = arg;
    struct ts_state *st = c->st;
    if (st->next_seq[c->thread] != c->seq)
        st->out_of_order++;
    st->next_seq[c->thread] = c->seq + 1;
    if (++st->total == THREADS * CALLS)
        corio_future_resolve(&st->all_done, NULL);
}

static void *ts_producer(void *arg)
{
    struct ts_call *calls = arg;
    for (int i = 0; i < CALLS; i++)
        if (corio_call_soon_threadsafe(calls[i].st->loop, ts_deliver, &calls[i]) != 0)
            return (void *)1;
    return NULL;
}

/* Keeps the loop alive (parked, so the loop sleeps in the kernel) until every call is in. */
static void *ts_waiter(void *arg)
{
    struct ts_state *st = arg;
    return (void *)(intptr_t)corio_future_await(&st->all_done, NULL);
}

static void test_call_soon_threadsafe_from_four_threads_delivers_each_once(void **state)
{
    (void)state;
    struct ts_state st = {.loop = support_loop(0)};
    corio_future_init(&st.all_done);
    corio_task_t *waiter;
    assert_int_equal(corio_spawn(st.loop, ts_waiter, &st, &waiter), 0);
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++) {
        for (int i = 0; i < CALLS; i++)
            ts_calls[t][i] = (struct ts_call){&st, t, i};
        assert_int_equal(pthread_create(&threads[t], NULL, ts_producer, ts_calls[t]), 0);
    }
    assert_int_equal(corio_loop_run(st.loop), 0);
    for (int t = 0; t < THREADS; t++) {
        void *failed;
        pthread_join(threads[t], &failed);
        assert_null(failed);
        assert_int_equal(st.next_seq[t], CALLS); /* each call of each thread, once */
    }
    assert_int_equal(st.total, THREADS * CALLS);
    assert_int_equal(st.out_of_order, 0);
    corio_loop_free(st.loop);
}

/* Two tasks that only yield never leave the ready queue empty, so the loop never waits:
 * a call from another thread must still get in (the loop polls while one is pending). */
struct busy {
    atomic_bool go; /* set by the other thread once the tasks are spinning */
    bool delivered;
    unsigned long spins;
};

static void busy_deliver(void *arg)
{
    ((struct busy *)arg)->delivered = true;
}

static void *busy_yielder(void *arg)
{
    struct busy *b = arg;
    while (!b->delivered) {
        b->spins++;
        atomic_store(&b->go, true);
        corio_yield();
    }
    return NULL;
}

struct busy_call {
    corio_loop_t *loop;
    struct busy *b;
};

static void *call_into_busy_loop(void *arg)
{
    struct busy_call *c = arg;
    while (!atomic_load(&c->b->go)) {
    }
    return (void *)(intptr_t)corio_call_soon_threadsafe(c->loop, busy_deliver, c->b);
}

static void test_call_soon_threadsafe_reaches_a_loop_whose_tasks_only_yield(void **state)
{
    (void)state;
    struct busy b = {.delivered = false};
    atomic_init(&b.go, false);
    struct busy_call c = {.loop = support_loop(0), .b = &b};
    assert_int_equal(corio_spawn(c.loop, busy_yielder, &b, NULL), 0);
    assert_int_equal(corio_spawn(c.loop, busy_yielder, &b, NULL), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, call_into_busy_loop, &c), 0);
    assert_int_equal(corio_loop_run(c.loop), 0); /* returns once the yielders see the call */
    void *err;
    pthread_join(th, &err);
    assert_int_equal((intptr_t)err, 0);
    assert_true(b.delivered);
    assert_true(b.spins > 0);
    corio_loop_free(c.loop);
}

/* ---- stop from another thread ----------------------------------------------------- */

struct stopper {
    corio_loop_t *loop;
    int pipe[2];
};

/* Waits until the loop is running (it writes the pipe from a callback), then stops it. */
static void *stop_when_running(void *arg)
{
    struct stopper *s = arg;
    char c;
    if (read(s->pipe[0], &c, 1) != 1)
        return (void *)1;
    corio_loop_stop(s->loop);
    return NULL;
}

static void tell_stopper(void *arg)
{
    struct stopper *s = arg;
    assert_int_equal(write(s->pipe[1], "x", 1), 1);
}

static void never(corio_op_t *op, int res)
{
    int *calls = op->data;
    (*calls)++;
    (void)res;
}

static void test_stop_from_another_thread_wakes_a_sleeping_loop(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    int client, server, calls = 0;
    support_tcp_pair(&client, &server);
    char buf[8];
    corio_op_t op = {.data = &calls};
    assert_int_equal(corio_recv_cb(loop, &op, server, buf, sizeof buf, 0, never), 0);
    struct stopper s = {.loop = loop};
    assert_int_equal(pipe(s.pipe), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stop_when_running, &s), 0);
    assert_int_equal(corio_call_soon(loop, tell_stopper, &s), 0);
    assert_int_equal(corio_loop_run(loop), 0); /* returns although the recv is pending */
    void *failed;
    pthread_join(th, &failed);
    assert_null(failed);
    close(s.pipe[0]);
    close(s.pipe[1]);
    assert_int_equal(calls, 0);
    /* Freeing cancels the pending recv and delivers its callback first. */
    corio_loop_free(loop);
    assert_int_equal(calls, 1);
    close(client);
    close(server);
}

/* ---- options and errors ----------------------------------------------------------- */

static void test_bad_options_are_rejected(void **state)
{
    (void)state;
    corio_loop_t *loop = (corio_loop_t *)&loop;
    corio_loop_opts_t too_big = {.entries = 40000};
    assert_int_equal(corio_loop_new(&loop, &too_big), -EINVAL);
    assert_null(loop);
    corio_loop_opts_t small_cq = {.entries = 64, .cq_entries = 32};
    assert_int_equal(corio_loop_new(&loop, &small_cq), -EINVAL);
    corio_loop_opts_t tiny_stack = {.stack_size = 1};
    assert_int_equal(corio_loop_new(&loop, &tiny_stack), -EINVAL);
    assert_int_equal(corio_loop_new(NULL, NULL), -EINVAL);
    corio_loop_opts_t defaults = {0}; /* zero means default, stack size included */
    assert_int_equal(corio_loop_new(&loop, &defaults), 0);
    assert_string_equal(corio_loop_backend(loop), support_backend());
    corio_loop_free(loop);
}

/* Restores CORIO_BACKEND as the test found it (the epoll pass of the suite sets it). */
static void restore_backend_env(const char *saved)
{
    if (saved != NULL)
        setenv("CORIO_BACKEND", saved, 1);
    else
        unsetenv("CORIO_BACKEND");
}

static void test_the_backend_is_chosen_by_option_and_environment(void **state)
{
    (void)state;
    char *saved = getenv("CORIO_BACKEND") ? strdup(getenv("CORIO_BACKEND")) : NULL;
    corio_loop_t *loop = NULL;
    corio_loop_opts_t epoll_opts = {.backend = CORIO_BACKEND_EPOLL};
    corio_loop_opts_t uring_opts = {.backend = CORIO_BACKEND_IO_URING};

    /* The option, with the environment silent. */
    unsetenv("CORIO_BACKEND");
    assert_int_equal(corio_loop_new(&loop, &epoll_opts), 0);
    assert_string_equal(corio_loop_backend(loop), "epoll");
    assert_int_equal(corio_loop_fallback_error(loop), 0); /* chosen, not fallen back to */
    corio_loop_free(loop);
    int err = corio_loop_new(&loop, &uring_opts);
    if (err == 0) { /* io_uring works here: it is what AUTO picks too */
        assert_string_equal(corio_loop_backend(loop), "io_uring");
        corio_loop_free(loop);
        assert_int_equal(corio_loop_new(&loop, NULL), 0);
        assert_string_equal(corio_loop_backend(loop), "io_uring");
        assert_int_equal(corio_loop_fallback_error(loop), 0);
        corio_loop_free(loop);
    } else { /* blocked here: AUTO falls back and says why */
        assert_int_equal(corio_loop_new(&loop, NULL), 0);
        assert_string_equal(corio_loop_backend(loop), "epoll");
        assert_int_equal(corio_loop_fallback_error(loop), err);
        corio_loop_free(loop);
    }

    /* The environment overrides the option. */
    setenv("CORIO_BACKEND", "epoll", 1);
    assert_int_equal(corio_loop_new(&loop, &uring_opts), 0);
    assert_string_equal(corio_loop_backend(loop), "epoll");
    corio_loop_free(loop);
    if (err == 0) {
        setenv("CORIO_BACKEND", "io_uring", 1);
        assert_int_equal(corio_loop_new(&loop, &epoll_opts), 0);
        assert_string_equal(corio_loop_backend(loop), "io_uring");
        corio_loop_free(loop);
    }
    setenv("CORIO_BACKEND", "auto", 1);
    assert_int_equal(corio_loop_new(&loop, &epoll_opts), 0);
    assert_string_equal(corio_loop_backend(loop), err == 0 ? "io_uring" : "epoll");
    corio_loop_free(loop);

    /* Unknown names and values are refused, and the hint names the variable. */
    static const char *const bogus[] = {"epol", "EPOLL", "uring", " epoll"};
    for (size_t i = 0; i < sizeof bogus / sizeof *bogus; i++) {
        setenv("CORIO_BACKEND", bogus[i], 1);
        loop = (corio_loop_t *)&loop;
        assert_int_equal(corio_loop_new(&loop, NULL), -EINVAL);
        assert_null(loop);
    }
    assert_non_null(strstr(corio_loop_setup_hint(-EINVAL), "CORIO_BACKEND"));
    unsetenv("CORIO_BACKEND");
    corio_loop_opts_t bad = {.backend = 3};
    assert_int_equal(corio_loop_new(&loop, &bad), -EINVAL);
    assert_string_equal(corio_loop_backend(NULL), "none");
    assert_int_equal(corio_loop_fallback_error(NULL), 0);
    restore_backend_env(saved);
    free(saved);
}

static void test_errors_are_named_with_remedies(void **state)
{
    (void)state;
    assert_string_equal(corio_strerror(-ECANCELED), corio_strerror(ECANCELED));
    assert_non_null(strstr(corio_strerror(-ETIMEDOUT), "timed out"));
    assert_string_equal(corio_strerror(0), "Success");
    assert_non_null(strstr(corio_loop_setup_hint(-ENOMEM), "ulimit -l"));
    const char *perm = corio_loop_setup_hint(-EPERM);
    assert_true(strstr(perm, "seccomp") != NULL || strstr(perm, "io_uring_disabled") != NULL);
    assert_non_null(strstr(corio_loop_setup_hint(-ENOSYS), "Linux"));
}

/* ---- reaping in batches --------------------------------------------------------- */

#define FLOOD 200

static corio_op_t flood_ops[FLOOD];
static uint64_t flood_iteration[FLOOD], flood_enters[FLOOD];
static int flood_order[FLOOD], flood_n;

static void note_flood(corio_op_t *op, int res)
{
    assert_int_equal(res, 0);
    corio_loop_stats_t s;
    corio_loop_stats(op->data, &s);
    int i = (int)(op - flood_ops);
    flood_iteration[i] = s.iterations;
    flood_enters[i] = s.enters;
    flood_order[flood_n++] = i;
}

/* 200 NOPs complete at once: their callbacks run in order, at most 64 per iteration (what
 * one batch woke runs before the next is reaped), and the later batches are reaped
 * without entering the kernel again. */
static void test_a_flood_of_completions_is_reaped_64_per_iteration_after_one_enter(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(256);
    flood_n = 0;
    for (int i = 0; i < FLOOD; i++) {
        flood_ops[i] = (corio_op_t){.data = loop};
        assert_int_equal(corio_nop_cb(loop, &flood_ops[i], note_flood), 0);
    }
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(flood_n, FLOOD);
    for (int i = 0; i < FLOOD; i++) {
        assert_int_equal(flood_order[i], i);
        assert_int_equal(flood_iteration[i], flood_iteration[0] + (uint64_t)(i / 64));
        assert_int_equal(flood_enters[i], flood_enters[0]);
    }
    corio_loop_free(loop);
}

/* ---- back-pressure ---------------------------------------------------------------- */

#define READS 4096
#define CHUNK 64

struct read_slot {
    corio_op_t op;
    unsigned char buf[CHUNK];
    int res;
};

static void read_done(corio_op_t *op, int res)
{
    ((struct read_slot *)op)->res = res;
}

/* 4096 reads of distinct offsets queued at once on an 8-entry ring: the full SQ is
 * flushed and refilled, and every read completes with its own bytes. */
static void run_4096_reads_on_an_8_entry_ring(unsigned flags)
{
    corio_loop_t *loop =
        support_loop_opts(&(corio_loop_opts_t){.entries = 8, .cq_entries = 16, .flags = flags});
    int fd = support_pattern_file((size_t)READS * CHUNK);
    static struct read_slot slots[READS];
    for (int i = 0; i < READS; i++) {
        slots[i].res = -1000;
        assert_int_equal(corio_read_cb(loop, &slots[i].op, fd, slots[i].buf, CHUNK,
                                       (int64_t)i * CHUNK, read_done),
                         0);
    }
    assert_int_equal(corio_loop_run(loop), 0);
    for (int i = 0; i < READS; i++) {
        assert_int_equal(slots[i].res, CHUNK);
        for (int b = 0; b < CHUNK; b++)
            assert_int_equal(slots[i].buf[b], (unsigned char)(((size_t)i * CHUNK + b) * 7 + 3));
    }
    corio_loop_stats_t stats;
    corio_loop_stats(loop, &stats);
    if (support_on_uring())
        assert_true(stats.sq_full > 0); /* the full-SQ path really ran */
    assert_true(stats.completions >= READS);
    corio_loop_free(loop);
    close(fd);
}

static void test_4096_reads_on_an_8_entry_ring_all_complete(void **state)
{
    (void)state;
    run_4096_reads_on_an_8_entry_ring(0);
}

/* The same with a kernel thread consuming the SQ while the loop fills it. */
static void test_4096_reads_on_an_8_entry_sqpoll_ring_all_complete(void **state)
{
    (void)state;
    run_4096_reads_on_an_8_entry_ring(CORIO_LOOP_SQPOLL);
}

static void count_call(void *arg)
{
    (*(int *)arg)++;
}

static void test_stats_with_a_null_loop_or_stats_is_einval(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    corio_loop_stats_t st;
    assert_int_equal(corio_loop_stats(NULL, &st), -EINVAL);
    assert_int_equal(corio_loop_stats(loop, NULL), -EINVAL);
    int calls = 0;
    assert_int_equal(corio_call_soon(loop, count_call, &calls), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(calls, 1);
    assert_int_equal(corio_loop_stats(loop, &st), 0);
    assert_true(st.iterations >= 1); /* the stats are the loop's, copied out */
    corio_loop_free(loop);
}

/* The loop-thread-only calls, made from another thread, are refused instead of racing
 * the loop's own use of its queues; the thread-safe call still works. */
struct other_thread {
    corio_loop_t *loop;
    int soon, later, spawn, threadsafe;
    bool ran;
    corio_future_t done; /* resolved by the thread-safe call: keeps the loop alive till then */
};

static void note_ran(void *arg)
{
    struct other_thread *o = arg;
    o->ran = true;
    (void)corio_future_resolve(&o->done, NULL);
}

static void *await_done(void *arg)
{
    assert_int_equal(corio_future_await(arg, NULL), 0);
    return NULL;
}

static void *never_runs(void *arg)
{
    (void)arg;
    fail_msg("a task spawned from another thread ran");
    return NULL;
}

static void *other_thread_main(void *arg)
{
    struct other_thread *o = arg;
    corio_timer_t *h = NULL;
    o->soon = corio_call_soon(o->loop, note_ran, o);
    o->later = corio_call_later(o->loop, 0, note_ran, o, &h);
    o->spawn = corio_spawn(o->loop, never_runs, NULL, NULL);
    o->threadsafe = corio_call_soon_threadsafe(o->loop, note_ran, o);
    return NULL;
}

static void test_loop_thread_only_calls_from_another_thread_are_eperm(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    assert_int_equal(corio_loop_run(loop), 0); /* the loop now knows its thread */
    struct other_thread o = {.loop = loop};
    assert_int_equal(corio_future_init(&o.done), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, other_thread_main, &o), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(o.soon, -EPERM);
    assert_int_equal(o.later, -EPERM);
    assert_int_equal(o.spawn, -EPERM);
    assert_int_equal(o.threadsafe, 0);
    assert_int_equal(loop->ntimers, 0);
    assert_int_equal(loop->ntasks, 0);
    assert_false(o.ran);
    assert_int_equal(corio_spawn(loop, await_done, &o.done, NULL), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_true(o.ran); /* the thread-safe call was queued, and nothing else */
    corio_loop_free(loop);
}

int main(void)
{
    support_require_uring();
    support_watchdog(60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_call_soon_runs_in_fifo_order),
        cmocka_unit_test(test_call_later_fires_in_deadline_order_and_cancel_wins),
        cmocka_unit_test(test_call_soon_threadsafe_from_four_threads_delivers_each_once),
        cmocka_unit_test(test_call_soon_threadsafe_reaches_a_loop_whose_tasks_only_yield),
        cmocka_unit_test(test_stop_from_another_thread_wakes_a_sleeping_loop),
        cmocka_unit_test(test_bad_options_are_rejected),
        cmocka_unit_test(test_the_backend_is_chosen_by_option_and_environment),
        cmocka_unit_test(test_errors_are_named_with_remedies),
        cmocka_unit_test(test_a_flood_of_completions_is_reaped_64_per_iteration_after_one_enter),
        cmocka_unit_test(test_4096_reads_on_an_8_entry_ring_all_complete),
        cmocka_unit_test(test_4096_reads_on_an_8_entry_sqpoll_ring_all_complete),
        cmocka_unit_test(test_stats_with_a_null_loop_or_stats_is_einval),
        cmocka_unit_test(test_loop_thread_only_calls_from_another_thread_are_eperm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
