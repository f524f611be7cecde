/* Tests of coroutine mode (engine/task.c, engine/future.c, await_op in engine/op.c):
 * spawn order, joining and its errors, cancellation wherever a task can wait, deadlines,
 * futures, yield and sleep, many tasks on a tiny ring, and corio_run with a stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "support.h"

#define US  1000ull
#define MS  1000000ull
#define SEC (1000 * MS)

/* ---- shared helpers ---------------------------------------------------------------- */

/* A task that counts its turns while others run. An await that leaves `ticks` unchanged
 * returned without parking: that is what "at once" means below. */
static unsigned long ticks;
static bool ticker_quit;

static void *ticker(void *arg)
{
    (void)arg;
    while (!ticker_quit) {
        ticks++;
        corio_yield();
    }
    return NULL;
}

/* Inside a task: starts the ticker and lets it take its first turn. */
static void ticker_start(void)
{
    ticks = 0;
    ticker_quit = false;
    assert_int_equal(corio_spawn(NULL, ticker, NULL, NULL), 0);
    corio_yield();
    assert_true(ticks > 0);
}

static void ticker_stop(void)
{
    ticker_quit = true;
}

static void *returns_arg(void *arg)
{
    return arg;
}

/* For the races below: each write must reach the peer at once (no Nagle delay), and a
 * blocking read of data that must be there is bounded rather than hanging. */
static void tcp_pair_for_races(int *client, int *server)
{
    support_tcp_pair(client, server);
    int one = 1;
    assert_int_equal(setsockopt(*client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one), 0);
    struct timeval tv = {.tv_sec = 5};
    assert_int_equal(setsockopt(*server, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
}

/* A gate that tasks wait on until the test opens it. */
static corio_future_t gate;

static void *await_gate(void *arg)
{
    (void)arg;
    void *v = NULL;
    return corio_future_await(&gate, &v) == 0 ? v : (void *)-1;
}

struct resolve_req {
    corio_future_t *f;
    void *value;
};

static void resolve_cb(void *arg)
{
    struct resolve_req *r = arg;
    assert_int_equal(corio_future_resolve(r->f, r->value), 0);
}

/* ---- spawn ------------------------------------------------------------------------- */

static char order[32];
static int norder;

static void note(char c)
{
    order[norder++] = c;
}

static void note_cb(void *arg)
{
    note(*(const char *)arg);
}

static void *note_task(void *arg)
{
    note(*(const char *)arg);
    return NULL;
}

static void *spawning_task(void *arg)
{
    (void)arg;
    note('1');
    assert_int_equal(corio_spawn(NULL, note_task, "3", NULL), 0);
    note('x'); /* the new task has not run inside corio_spawn */
    return NULL;
}

static void test_spawn_runs_tasks_in_order_after_scheduled_callbacks(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    norder = 0;
    assert_int_equal(corio_call_soon(loop, note_cb, "a"), 0);
    assert_int_equal(corio_spawn(loop, spawning_task, NULL, NULL), 0);
    assert_int_equal(corio_spawn(loop, note_task, "2", NULL), 0);
    assert_int_equal(corio_call_soon(loop, note_cb, "b"), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    /* FIFO with the callbacks; "3", spawned by a running task, waits for a later round. */
    assert_int_equal(norder, 6);
    assert_memory_equal(order, "a1x2b3", 6);
    corio_loop_free(loop);
}

static void *spawn_errors_main(void *arg)
{
    (void)arg;
    assert_int_equal(corio_spawn(NULL, NULL, NULL, NULL), -EINVAL);
    corio_task_t *t = (corio_task_t *)0x1;
    assert_int_equal(corio_spawn(corio_current_loop(), NULL, NULL, &t), -EINVAL);
    assert_ptr_equal(t, (corio_task_t *)0x1); /* no handle handed out on failure */
    return NULL;
}

static void test_spawn_rejects_null_fn_and_a_missing_loop(void **state)
{
    (void)state;
    /* Outside any task or running loop there is no loop to default to. */
    assert_int_equal(corio_spawn(NULL, returns_arg, NULL, NULL), -EINVAL);
    corio_loop_t *loop = support_loop(0);
    assert_int_equal(corio_spawn(loop, NULL, NULL, NULL), -EINVAL);
    corio_loop_free(loop);
    support_run(spawn_errors_main, NULL);
}

/* ---- join and gather --------------------------------------------------------------- */

static corio_task_t *seen_self;

static void *double_after_io(void *arg)
{
    seen_self = corio_current();
    assert_int_equal(corio_nop(), 0);
    return (void *)((intptr_t)arg * 2);
}

static void *join_main(void *arg)
{
    (void)arg;
    corio_task_t *t;
    void *r = NULL;
    /* Joined before it starts: the joiner waits for it. */
    assert_int_equal(corio_spawn(NULL, double_after_io, (void *)21, &t), 0);
    assert_int_equal(corio_join(t, &r), 0);
    assert_ptr_equal(r, (void *)42);
    assert_ptr_equal(seen_self, t); /* corio_current() inside is the spawn handle */

    /* Joined after it has finished: no wait, same result. */
    assert_int_equal(corio_spawn(NULL, returns_arg, (void *)7, &t), 0);
    corio_yield();
    assert_int_equal(corio_join(t, &r), 0);
    assert_ptr_equal(r, (void *)7);

    /* A NULL result pointer is allowed. */
    assert_int_equal(corio_spawn(NULL, returns_arg, (void *)8, &t), 0);
    assert_int_equal(corio_join(t, NULL), 0);
    return (void *)0x600d;
}

static void test_join_returns_the_task_result(void **state)
{
    (void)state;
    assert_ptr_equal(support_run(join_main, NULL), (void *)0x600d);
}

#define NGATHER 200

static void *yield_then_return(void *arg)
{
    intptr_t i = (intptr_t)arg;
    /* Different amounts of work, so the tasks finish out of spawn order. */
    for (intptr_t k = 0; k < (i * 37) % 11; k++)
        corio_yield();
    return (void *)(i * 3 + 1);
}

static void *gather_main(void *arg)
{
    (void)arg;
    corio_task_t *tasks[NGATHER];
    void *results[NGATHER];
    for (intptr_t i = 0; i < NGATHER; i++)
        assert_int_equal(corio_spawn(NULL, yield_then_return, (void *)i, &tasks[i]), 0);
    assert_int_equal(corio_gather(tasks, NGATHER, results), 0);
    for (intptr_t i = 0; i < NGATHER; i++)
        assert_ptr_equal(results[i], (void *)(i * 3 + 1));
    /* Every handle was released (their stacks sit in the pool: nothing spawned since). */
    for (int i = 0; i < NGATHER; i++)
        assert_int_equal(corio_join(tasks[i], NULL), -EINVAL);
    assert_int_equal(corio_gather(NULL, 0, NULL), 0);
    return NULL;
}

static void test_gather_returns_all_results_in_order(void **state)
{
    (void)state;
    support_run(gather_main, NULL);
}

static void *gather_error_main(void *arg)
{
    (void)arg;
    corio_task_t *tasks[3];
    void *results[3] = {(void *)-1, (void *)-1, (void *)-1};
    for (intptr_t i = 0; i < 3; i++)
        assert_int_equal(corio_spawn(NULL, returns_arg, (void *)(i + 10), &tasks[i]), 0);
    assert_int_equal(corio_cancel(tasks[1]), 0);
    assert_int_equal(corio_gather(tasks, 3, results), -ECANCELED);
    assert_ptr_equal(results[0], (void *)10);
    assert_null(results[1]); /* cancelled before it started */
    assert_ptr_equal(results[2], (void *)12);
    for (int i = 0; i < 3; i++)
        assert_int_equal(corio_join(tasks[i], NULL), -EINVAL); /* all joined regardless */
    return NULL;
}

static void test_gather_reports_first_error_and_still_joins_the_rest(void **state)
{
    (void)state;
    support_run(gather_error_main, NULL);
}

static void *gather_deadline_main(void *arg)
{
    (void)arg;
    corio_future_init(&gate);
    corio_task_t *tasks[3];
    void *results[3] = {NULL, NULL, NULL};
    assert_int_equal(corio_spawn(NULL, returns_arg, (void *)10, &tasks[0]), 0);
    assert_int_equal(corio_spawn(NULL, await_gate, NULL, &tasks[1]), 0);
    assert_int_equal(corio_spawn(NULL, returns_arg, (void *)12, &tasks[2]), 0);
    uint64_t t0 = support_now_ns();
    assert_int_equal(corio_timeout_begin(20 * MS), 0);
    assert_int_equal(corio_gather(tasks, 3, results), -ETIMEDOUT);
    corio_timeout_end();
    uint64_t took = support_now_ns() - t0;
    assert_true(took >= 20 * MS);
    assert_true(took < 2 * SEC);
    assert_ptr_equal(results[0], (void *)10);
    /* tasks[0] was joined; the caller ran out of time at tasks[1], which stays joinable
     * with everything after it. */
    assert_int_equal(corio_join(tasks[0], NULL), -EINVAL);
    assert_int_equal(corio_future_resolve(&gate, (void *)11), 0);
    assert_int_equal(corio_gather(&tasks[1], 2, &results[1]), 0);
    assert_ptr_equal(results[1], (void *)11);
    assert_ptr_equal(results[2], (void *)12);
    return NULL;
}

static void test_gather_interrupted_by_a_deadline_leaves_the_rest_joinable(void **state)
{
    (void)state;
    support_run(gather_deadline_main, NULL);
}

/* A task's deadline timer stays armed between waits (task.c): a wait with a later
 * deadline must outlast the timer armed for an earlier one, and a wait with an earlier
 * deadline must re-arm it sooner. */
struct later_set {
    corio_event_t *ev;
    uint64_t after_ns;
};

static void *set_later(void *arg)
{
    struct later_set *l = arg;
    assert_int_equal(corio_sleep(l->after_ns), 0);
    corio_event_set(l->ev);
    return NULL;
}

static int event_wait_within(corio_event_t *ev, uint64_t timeout_ns, uint64_t set_after_ns,
                             uint64_t *took)
{
    corio_task_t *setter = NULL;
    struct later_set l = {ev, set_after_ns};
    corio_event_clear(ev);
    if (set_after_ns != 0)
        assert_int_equal(corio_spawn(NULL, set_later, &l, &setter), 0);
    uint64_t t0 = support_now_ns();
    assert_int_equal(corio_timeout_begin(timeout_ns), 0);
    int rc = corio_event_wait(ev);
    corio_timeout_end();
    *took = support_now_ns() - t0;
    if (setter != NULL) {
        corio_cancel(setter);
        corio_join(setter, NULL);
    }
    return rc;
}

static void *deadline_rearm_main(void *arg)
{
    (void)arg;
    corio_event_t ev;
    corio_event_init(&ev);
    uint64_t took;
    /* Arms the timer at +20 ms, and the wait ends well before it. */
    assert_int_equal(event_wait_within(&ev, 20 * MS, 1 * MS, &took), 0);
    /* The +20 ms timer fires during this wait, whose deadline is 2 s away: no timeout. */
    assert_int_equal(event_wait_within(&ev, 2 * SEC, 100 * MS, &took), 0);
    assert_true(took >= 100 * MS);
    /* The timer is armed at the 2 s deadline now; this wait needs it at +30 ms. */
    assert_int_equal(event_wait_within(&ev, 30 * MS, 0, &took), -ETIMEDOUT);
    assert_true(took >= 30 * MS);
    assert_true(took < SEC);
    /* 1000 waits under the same long timeout, then one that runs out. */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(event_wait_within(&ev, 5 * SEC, 1, &took), 0);
    assert_int_equal(event_wait_within(&ev, 10 * MS, 0, &took), -ETIMEDOUT);
    assert_true(took < SEC);
    return NULL;
}

static void
test_deadline_timer_kept_between_waits_times_out_each_wait_at_its_own_deadline(void **state)
{
    (void)state;
    support_run(deadline_rearm_main, NULL);
}

static int detached_done;

static void *detached_worker(void *arg)
{
    assert_int_equal(corio_nop(), 0);
    corio_yield();
    detached_done++;
    return arg;
}

static void test_detached_tasks_run_and_are_released(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    detached_done = 0;
    for (int i = 0; i < 100; i++)
        assert_int_equal(corio_spawn(loop, detached_worker, NULL, NULL), 0);
    assert_int_equal(corio_loop_run(loop), 0); /* returns: nothing keeps the loop alive */
    assert_int_equal(detached_done, 100);
    assert_int_equal(loop->ntasks, 0);
    assert_null(loop->tasks); /* released, not left for corio_loop_free to sweep */
    corio_loop_free(loop);    /* aborts if any task were still counted alive */
}

static corio_task_t *detached_self;

static void *detached_gate_waiter(void *arg)
{
    (void)arg;
    detached_self = corio_current();
    return await_gate(NULL);
}

static void *join_errors_main(void *arg)
{
    (void)arg;
    assert_int_equal(corio_join(corio_current(), NULL), -EDEADLK);
    assert_int_equal(corio_join(NULL, NULL), -EINVAL);

    /* A detached task, alive and parked: its handle cannot be joined. */
    corio_future_init(&gate);
    detached_self = NULL;
    assert_int_equal(corio_spawn(NULL, detached_gate_waiter, NULL, NULL), 0);
    corio_yield();
    assert_non_null(detached_self);
    assert_int_equal(corio_join(detached_self, NULL), -EINVAL);
    assert_int_equal(corio_future_resolve(&gate, NULL), 0);

    /* Joined twice: the second call finds a released handle (its stack still pooled). */
    corio_task_t *t;
    void *r = NULL;
    assert_int_equal(corio_spawn(NULL, returns_arg, (void *)7, &t), 0);
    assert_int_equal(corio_join(t, &r), 0);
    assert_ptr_equal(r, (void *)7);
    r = (void *)0xdead;
    assert_int_equal(corio_join(t, &r), -EINVAL);
    assert_ptr_equal(r, (void *)0xdead);
    return NULL;
}

static void test_join_errors_deadlock_detached_twice_and_null(void **state)
{
    (void)state;
    support_run(join_errors_main, NULL);
}

struct joiner {
    corio_task_t *target;
    int res;
    void *result;
    bool gate_was_open; /* when the join returned */
};

static void *join_target(void *arg)
{
    struct joiner *j = arg;
    j->res = corio_join(j->target, &j->result);
    j->gate_was_open = corio_future_done(&gate);
    return NULL;
}

static void *second_joiner_main(void *arg)
{
    (void)arg;
    corio_future_init(&gate);
    corio_task_t *t, *jt;
    struct joiner j = {0};
    assert_int_equal(corio_spawn(NULL, await_gate, NULL, &t), 0);
    j.target = t;
    assert_int_equal(corio_spawn(NULL, join_target, &j, &jt), 0);
    corio_yield(); /* t parks on the gate, jt parks joining t */
    assert_int_equal(corio_join(t, NULL), -EINVAL);
    assert_int_equal(corio_future_resolve(&gate, (void *)0x99), 0);
    assert_int_equal(corio_join(jt, NULL), 0);
    assert_int_equal(j.res, 0); /* the first joiner was not disturbed */
    assert_ptr_equal(j.result, (void *)0x99);
    return NULL;
}

static void test_second_joiner_while_one_waits_gets_einval(void **state)
{
    (void)state;
    support_run(second_joiner_main, NULL);
}

/* ---- outside a task ---------------------------------------------------------------- */

static void test_calls_outside_a_task_are_refused(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    corio_task_t *t;
    assert_int_equal(corio_spawn(loop, returns_arg, (void *)5, &t), 0);
    void *r = (void *)0xdead;
    assert_int_equal(corio_join(t, &r), -EPERM);
    assert_ptr_equal(r, (void *)0xdead);
    assert_int_equal(corio_join(NULL, NULL), -EPERM);
    corio_task_t *tasks[1] = {t};
    assert_int_equal(corio_gather(tasks, 1, NULL), -EPERM);
    assert_null(corio_current());
    assert_null(corio_current_loop());

    int fd = support_pattern_file(64);
    int client, server;
    support_tcp_pair(&client, &server);
    unsigned char buf[16];
    memset(buf, 0xee, sizeof buf);
    assert_int_equal(corio_read(fd, buf, sizeof buf, 0), -EPERM);
    assert_int_equal(corio_recv(server, buf, sizeof buf, 0), -EPERM);
    for (size_t i = 0; i < sizeof buf; i++)
        assert_int_equal(buf[i], 0xee); /* nothing was read into the buffer */
    assert_int_equal(corio_nop(), -EPERM);
    assert_int_equal(corio_sleep(MS), -EPERM);
    assert_int_equal(corio_timeout_begin(SEC), -EPERM);
    corio_timeout_end(); /* a no-op */
    corio_yield();       /* a no-op */
    corio_future_t f;
    corio_future_init(&f);
    assert_int_equal(corio_future_await(&f, NULL), -EPERM);

    /* The refused join left the handle as it was: the task still runs and finishes;
     * corio_loop_free releases it unjoined. */
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(loop->ntasks, 0);
    corio_loop_free(loop);
    close(client);
    close(server);
    close(fd);
}

static void test_future_await_outside_a_task_returns_eperm_even_when_resolved(void **state)
{
    (void)state;
    corio_future_t f;
    corio_future_init(&f);
    assert_int_equal(corio_future_resolve(&f, (void *)0x1), 0);
    void *v = NULL;
    /* corio.h promises -EPERM outside a task for every await-style call, and says so
     * for this one: a settled future is no exception. */
    assert_int_equal(corio_future_await(&f, &v), -EPERM);
    assert_null(v);
}

/* Resetting a future that tasks wait on would leave them parked forever: refused, and
 * the waiters still get the value. A settled future, or one nobody waits on, is reset. */
static void *future_reset_waiter(void *arg)
{
    void *v = NULL;
    assert_int_equal(corio_future_await(arg, &v), 0);
    return v;
}

static void *future_reset_main(void *arg)
{
    (void)arg;
    corio_future_t f;
    assert_int_equal(corio_future_init(&f), 0);
    assert_int_equal(corio_future_reset(&f), 0); /* pending, nobody waits */
    corio_task_t *t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(corio_spawn(NULL, future_reset_waiter, &f, &t[i]), 0);
    corio_yield();
    assert_int_equal(corio_future_reset(&f), -EBUSY);
    assert_false(corio_future_done(&f));
    assert_int_equal(corio_future_resolve(&f, (void *)0x5), 0);
    void *r[2] = {NULL, NULL};
    assert_int_equal(corio_gather(t, 2, r), 0);
    assert_ptr_equal(r[0], (void *)0x5);
    assert_ptr_equal(r[1], (void *)0x5);

    assert_int_equal(corio_future_reset(&f), 0); /* settled: pending again */
    assert_false(corio_future_done(&f));
    assert_int_equal(corio_future_reject(&f, -EIO), 0);
    assert_int_equal(corio_future_await(&f, NULL), -EIO);
    return NULL;
}

static void test_future_reset_with_waiters_is_ebusy_and_they_still_get_the_value(void **state)
{
    (void)state;
    support_run(future_reset_main, NULL);
    assert_int_equal(corio_future_init(NULL), -EINVAL);
    assert_int_equal(corio_future_reset(NULL), -EINVAL);
}

/* ---- yield and sleep --------------------------------------------------------------- */

static char trace[16];
static int ntrace;

static void *yield_writer(void *arg)
{
    for (int i = 0; i < 3; i++) {
        trace[ntrace++] = *(const char *)arg;
        trace[ntrace++] = (char)('1' + i);
        corio_yield();
    }
    return NULL;
}

static void test_yield_interleaves_two_tasks(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    ntrace = 0;
    assert_int_equal(corio_spawn(loop, yield_writer, "A", NULL), 0);
    assert_int_equal(corio_spawn(loop, yield_writer, "B", NULL), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(ntrace, 12);
    assert_memory_equal(trace, "A1B1A2B2A3B3", 12);
    corio_loop_free(loop);
}

static void yield_in_callback(void *arg)
{
    note('y');
    corio_yield(); /* a callback is not a task: returns at once */
    note(*(const char *)arg);
}

static void test_yield_outside_a_task_does_nothing(void **state)
{
    (void)state;
    corio_yield(); /* no loop, no task */
    corio_loop_t *loop = support_loop(0);
    norder = 0;
    assert_int_equal(corio_call_soon(loop, yield_in_callback, "z"), 0);
    assert_int_equal(corio_call_soon(loop, note_cb, "n"), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(norder, 3);
    assert_memory_equal(order, "yzn", 3);
    corio_loop_free(loop);
}

static void *sleep_main(void *arg)
{
    (void)arg;
    uint64_t t0 = support_now_ns();
    assert_int_equal(corio_sleep(20 * MS), 0);
    uint64_t took = support_now_ns() - t0;
    assert_true(took >= 20 * MS);
    assert_true(took < 2 * SEC);
    assert_int_equal(corio_sleep(0), 0);
    return NULL;
}

static void test_sleep_returns_zero_after_its_duration(void **state)
{
    (void)state;
    support_run(sleep_main, NULL);
}

static void *sleep_until_main(void *arg)
{
    (void)arg;
    corio_loop_t *loop = corio_current_loop();
    uint64_t when = corio_loop_now(loop) + 20 * MS;
    assert_int_equal(corio_sleep_until(when), 0);
    uint64_t woke = corio_loop_now(loop);
    assert_true(woke >= when);
    assert_true(woke - when < 2 * SEC);
    assert_int_equal(corio_sleep_until(when), 0); /* in the past: a yield */
    assert_int_equal(corio_sleep_until(0), 0);
    assert_int_equal(corio_timeout_begin(5 * MS), 0);
    assert_int_equal(corio_sleep_until(corio_loop_now(loop) + 10 * SEC), -ETIMEDOUT);
    corio_timeout_end();
    return NULL;
}

static void test_sleep_until_wakes_at_the_absolute_time_and_honours_deadlines(void **state)
{
    (void)state;
    assert_int_equal(corio_sleep_until(0), -EPERM);
    support_run(sleep_until_main, NULL);
}

#define NSLEEPERS     10000
#define SLEEP_STEP_NS (2 * 1000) /* durations spread over 20 ms */

static int sleep_woke[NSLEEPERS], nstarted, nwoke, sleep_errors;
static uint64_t sleep_base;       /* every deadline is sleep_base + rank steps */
static uint64_t first_start;      /* when sleeper 0 ran */
static corio_future_t sleep_gate; /* opened by the last sleeper to start */

/* Sleeper i sleeps a distinct duration: a permutation of 0..N-1 steps, so the order
 * they are spawned in says nothing about the order they must wake in. */
static uint64_t sleep_rank(int i)
{
    return (uint64_t)i * 7919 % NSLEEPERS; /* 7919 is prime, coprime to N */
}

static void *sleeper(void *arg)
{
    int i = (int)(intptr_t)arg;
    if (nstarted == 0)
        first_start = support_now_ns();
    if (++nstarted == NSLEEPERS) {
        /* Time enough to resume every sleeper before the first deadline: four times what
         * starting them took (slow under ASan on a loaded machine), at least 100 ms. */
        uint64_t now = support_now_ns(), margin = 4 * (now - first_start);
        sleep_base = now + (margin > 100 * MS ? margin : 100 * MS);
        corio_future_resolve(&sleep_gate, NULL);
    }
    if (corio_future_await(&sleep_gate, NULL) != 0)
        sleep_errors++;
    /* The deadline itself, not a duration: one read of the clock here and another
     * inside a relative sleep could be preempted apart by more than a step. */
    uint64_t deadline = sleep_base + sleep_rank(i) * SLEEP_STEP_NS;
    if (support_now_ns() >= deadline || corio_sleep_until(deadline) != 0)
        sleep_errors++;
    sleep_woke[nwoke++] = i;
    return NULL;
}

static void test_10000_sleepers_wake_in_deadline_order_without_a_kernel_timer_each(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    nstarted = nwoke = sleep_errors = 0;
    corio_future_init(&sleep_gate);
    for (intptr_t i = 0; i < NSLEEPERS; i++)
        assert_int_equal(corio_spawn(loop, sleeper, (void *)i, NULL), 0);
    corio_loop_stats_t before, after;
    corio_loop_stats(loop, &before);
    uint64_t t0 = support_now_ns();
    assert_int_equal(corio_loop_run(loop), 0);
    uint64_t took = support_now_ns() - t0;
    corio_loop_stats(loop, &after);
    assert_int_equal(sleep_errors, 0);
    assert_int_equal(nwoke, NSLEEPERS);
    /* Spawn order was 0, 1, 2, ...; wake order must follow the deadlines instead. */
    size_t inversions = 0;
    for (int k = 1; k < NSLEEPERS; k++)
        if (sleep_rank(sleep_woke[k]) < sleep_rank(sleep_woke[k - 1]))
            inversions++;
    assert_int_equal(inversions, 0);
    /* The heap's earliest deadline is the wait's timeout: sleeping costs no SQEs. */
    assert_int_equal(after.submitted - before.submitted, 0);
    /* From the first deadline on (starting the tasks, slow under ASan, is not what is
     * measured): one after another would be 100 s. */
    uint64_t sleeping = t0 + took - sleep_base;
    assert_true(sleeping < 10 * SEC);
    corio_loop_free(loop);
}

/* ---- cancellation ------------------------------------------------------------------ */

struct parked {
    int fd;
    ssize_t recv_res;
    int nop_res, sleep_res, future_res;
    unsigned long ticks_before, ticks_after;
};

static void *recv_then_more(void *arg)
{
    struct parked *p = arg;
    char buf[16];
    p->recv_res = corio_recv(p->fd, buf, sizeof buf, 0);
    p->ticks_before = ticks;
    p->nop_res = corio_nop();
    p->sleep_res = corio_sleep(10 * SEC);
    corio_future_t never;
    corio_future_init(&never);
    p->future_res = corio_future_await(&never, NULL);
    p->ticks_after = ticks;
    return (void *)0x5a;
}

static void *cancel_parked_main(void *arg)
{
    struct parked *p = arg;
    ticker_start();
    corio_task_t *t;
    assert_int_equal(corio_spawn(NULL, recv_then_more, p, &t), 0);
    corio_yield();                    /* it parks in recv */
    assert_int_equal(corio_nop(), 0); /* the recv is now in the kernel */
    assert_int_equal(corio_cancel(t), 0);
    void *result = NULL;
    assert_int_equal(corio_join(t, &result), -ECANCELED);
    assert_ptr_equal(result, (void *)0x5a);
    ticker_stop();
    return NULL;
}

static void test_cancel_while_parked_in_recv_makes_every_await_return_ecanceled(void **state)
{
    (void)state;
    int client, server;
    support_tcp_pair(&client, &server);
    struct parked p = {.fd = server};
    uint64_t t0 = support_now_ns();
    support_run(cancel_parked_main, &p);
    assert_true(support_now_ns() - t0 < 2 * SEC); /* the 10 s sleep never happened */
    assert_int_equal(p.recv_res, -ECANCELED);
    assert_int_equal(p.nop_res, -ECANCELED);
    assert_int_equal(p.sleep_res, -ECANCELED);
    assert_int_equal(p.future_res, -ECANCELED);
    assert_int_equal(p.ticks_after, p.ticks_before); /* none of them parked */
    close(client);
    close(server);
}

/* Cleanup after a cancel (issue 21): a cancelled task's corio_close still closes its fds,
 * the one its recv was parked on and one it opened, where every other await call refuses;
 * and so does a task past its deadline. */
struct closer {
    int fd, other;
    ssize_t recv_res;
    int close_res, other_res, nop_res, late_res;
};

static void *recv_then_close(void *arg)
{
    struct closer *c = arg;
    char buf[16];
    c->recv_res = corio_recv(c->fd, buf, sizeof buf, 0);
    c->nop_res = corio_nop();
    c->close_res = corio_close(c->fd);
    c->other_res = corio_close(c->other);
    return NULL;
}

static void *cancel_closer_main(void *arg)
{
    struct closer *c = arg;
    corio_task_t *t;
    assert_int_equal(corio_spawn(NULL, recv_then_close, c, &t), 0);
    corio_yield();                    /* it parks in recv */
    assert_int_equal(corio_nop(), 0); /* the recv is now in flight */
    assert_int_equal(corio_cancel(t), 0);
    assert_int_equal(corio_join(t, NULL), -ECANCELED);
    /* past a deadline: the close acts too */
    int late = dup(STDIN_FILENO);
    assert_true(late >= 0);
    assert_int_equal(corio_timeout_begin(1), 0);
    assert_int_equal(corio_sleep(1000000), -ETIMEDOUT);
    c->late_res = corio_close(late);
    corio_timeout_end();
    assert_int_equal(fcntl(late, F_GETFD), -1);
    return NULL;
}

static void test_corio_close_closes_in_a_cancelled_task(void **state)
{
    (void)state;
    int fds_before = support_count_fds();
    int client, server;
    support_tcp_pair(&client, &server);
    struct closer c = {.fd = server, .other = dup(client)};
    assert_true(c.other >= 0);
    support_run(cancel_closer_main, &c);
    assert_int_equal(c.recv_res, -ECANCELED);
    assert_int_equal(c.nop_res, -ECANCELED); /* other calls refuse */
    assert_int_equal(c.close_res, 0);
    assert_int_equal(c.other_res, 0);
    assert_int_equal(c.late_res, 0);
    assert_int_equal(fcntl(server, F_GETFD), -1);
    assert_int_equal(fcntl(c.other, F_GETFD), -1);
    char b;
    assert_int_equal(recv(client, &b, 1, 0), 0); /* the peer saw the connection end */
    close(client);
    assert_int_equal(support_count_fds(), fds_before);
}

/* corio_close of an fd a task is parked on in recv: the task returns -ECANCELED and the
 * connection really ends (a bare close(2) would leave the file to the recv, and the peer
 * would see nothing). */
static void *parked_recv(void *arg)
{
    struct closer *c = arg;
    char buf[16];
    c->recv_res = corio_recv(c->fd, buf, sizeof buf, 0);
    return NULL;
}

static void *close_under_parked_main(void *arg)
{
    struct closer *c = arg;
    corio_task_t *t;
    assert_int_equal(corio_spawn(NULL, parked_recv, c, &t), 0);
    corio_yield();                    /* it parks in recv */
    assert_int_equal(corio_nop(), 0); /* the recv is now in flight */
    c->close_res = corio_close(c->fd);
    assert_int_equal(corio_join(t, NULL), 0);
    return NULL;
}

static void test_corio_close_wakes_the_task_parked_on_the_fd_and_ends_the_connection(void **state)
{
    (void)state;
    int fds_before = support_count_fds();
    int client, server;
    support_tcp_pair(&client, &server);
    struct closer c = {.fd = server, .recv_res = 1, .close_res = 1};
    support_run(close_under_parked_main, &c);
    assert_int_equal(c.close_res, 0);
    assert_int_equal(c.recv_res, -ECANCELED);
    char b;
    assert_int_equal(recv(client, &b, 1, 0), 0); /* FIN: the socket is gone */
    close(client);
    assert_int_equal(support_count_fds(), fds_before);
}

/* A cancelled task closes an fd another task is parked on: that task wakes with
 * -ECANCELED and the peer sees the connection end, as with a plain corio_close. */
struct cancelled_closer {
    int fd;
    ssize_t recv_res;
    int close_res;
    corio_task_t *reader;
};

static void *recv_on_shared(void *arg)
{
    struct cancelled_closer *c = arg;
    char buf[16];
    c->recv_res = corio_recv(c->fd, buf, sizeof buf, 0);
    return NULL;
}

static void *close_when_cancelled(void *arg)
{
    struct cancelled_closer *c = arg;
    (void)corio_sleep(10 * SEC); /* -ECANCELED */
    c->close_res = corio_close(c->fd);
    return NULL;
}

static void *cancelled_closer_main(void *arg)
{
    struct cancelled_closer *c = arg;
    corio_task_t *closer;
    assert_int_equal(corio_spawn(NULL, recv_on_shared, c, &c->reader), 0);
    assert_int_equal(corio_spawn(NULL, close_when_cancelled, c, &closer), 0);
    corio_yield();                    /* both park */
    assert_int_equal(corio_nop(), 0); /* the recv is in flight */
    assert_int_equal(corio_cancel(closer), 0);
    assert_int_equal(corio_join(closer, NULL), -ECANCELED);
    assert_int_equal(corio_join(c->reader, NULL), 0);
    return NULL;
}

static void test_a_cancelled_tasks_close_wakes_the_others_parked_on_the_fd(void **state)
{
    (void)state;
    support_watchdog(20);
    int client, server;
    support_tcp_pair(&client, &server);
    struct cancelled_closer c = {.fd = server, .recv_res = 1, .close_res = 1};
    support_run(cancelled_closer_main, &c);
    alarm(0);
    assert_int_equal(c.close_res, 0);
    assert_int_equal(c.recv_res, -ECANCELED);
    char b;
    assert_int_equal(recv(client, &b, 1, 0), 0);
    close(client);
}

static int ran;

/* Sets `ran`: for tasks that must never run, and for one that must. */
static void *mark_ran(void *arg)
{
    ran = 1;
    return arg;
}

static void *cancel_before_start_main(void *arg)
{
    (void)arg;
    corio_task_t *t;
    void *result = (void *)2;
    assert_int_equal(corio_spawn(NULL, mark_ran, (void *)1, &t), 0);
    assert_int_equal(corio_cancel(t), 0);
    assert_int_equal(corio_join(t, &result), -ECANCELED);
    assert_null(result);

    /* The same with a joiner already waiting when the loop reaches the cancelled task. */
    struct joiner j = {.res = 1, .result = (void *)2};
    corio_task_t *jt;
    assert_int_equal(corio_spawn(NULL, join_target, &j, &jt), 0);
    assert_int_equal(corio_spawn(NULL, mark_ran, (void *)1, &t), 0);
    j.target = t;
    assert_int_equal(corio_cancel(t), 0);
    assert_int_equal(corio_join(jt, NULL), 0);
    assert_int_equal(j.res, -ECANCELED);
    assert_null(j.result);
    return NULL;
}

static void test_task_cancelled_before_start_never_runs(void **state)
{
    (void)state;
    ran = 0;
    corio_future_init(&gate); /* join_target looks at it */
    support_run(cancel_before_start_main, NULL);
    assert_int_equal(ran, 0);
}

struct sleeper_rec {
    int res;
    uint64_t took;
};

static void *long_sleeper(void *arg)
{
    struct sleeper_rec *s = arg;
    uint64_t t0 = support_now_ns();
    s->res = corio_sleep(10 * SEC);
    s->took = support_now_ns() - t0;
    return (void *)0x51;
}

static void *cancel_finished_main(void *arg)
{
    (void)arg;
    assert_int_equal(corio_cancel(NULL), -EINVAL);

    /* Finished: the cancel changes nothing, the join still reports success. */
    corio_task_t *t;
    ran = 0;
    assert_int_equal(corio_spawn(NULL, mark_ran, (void *)5, &t), 0);
    corio_yield();
    assert_int_equal(ran, 1);
    assert_int_equal(corio_cancel(t), 0);
    void *r = NULL;
    assert_int_equal(corio_join(t, &r), 0);
    assert_ptr_equal(r, (void *)5);

    /* Already cancelled while parked in a sleep: further cancels must not abort the
     * wait again (which would wake the task twice). */
    struct sleeper_rec s = {0};
    assert_int_equal(corio_spawn(NULL, long_sleeper, &s, &t), 0);
    corio_yield();
    assert_int_equal(corio_cancel(t), 0);
    assert_int_equal(corio_cancel(t), 0);
    corio_yield();
    assert_int_equal(corio_cancel(t), 0);
    assert_int_equal(corio_join(t, &r), -ECANCELED);
    assert_ptr_equal(r, (void *)0x51);
    assert_int_equal(s.res, -ECANCELED);
    return NULL;
}

static void test_cancelling_a_finished_or_cancelled_task_is_harmless(void **state)
{
    (void)state;
    support_run(cancel_finished_main, NULL);
}

static void *cancel_sleeper_main(void *arg)
{
    struct sleeper_rec *s = arg;
    corio_task_t *t;
    assert_int_equal(corio_spawn(NULL, long_sleeper, s, &t), 0);
    corio_yield();
    assert_int_equal(corio_cancel(t), 0);
    assert_int_equal(corio_join(t, NULL), -ECANCELED);
    return NULL;
}

static void test_cancel_while_parked_in_sleep_ends_the_sleep(void **state)
{
    (void)state;
    struct sleeper_rec s = {0};
    uint64_t t0 = support_now_ns();
    support_run(cancel_sleeper_main, &s);
    assert_int_equal(s.res, -ECANCELED);
    assert_true(s.took < 2 * SEC);
    /* The sleep's timer left the heap: the loop did not wait 10 s for it. */
    assert_true(support_now_ns() - t0 < 2 * SEC);
}

static void *cancel_joiner_main(void *arg)
{
    (void)arg;
    corio_future_init(&gate);
    corio_task_t *t, *jt;
    struct joiner j = {.res = 1};
    assert_int_equal(corio_spawn(NULL, await_gate, NULL, &t), 0);
    j.target = t;
    assert_int_equal(corio_spawn(NULL, join_target, &j, &jt), 0);
    corio_yield(); /* t parks on the gate, jt parks joining t */
    assert_int_equal(corio_cancel(jt), 0);
    assert_int_equal(corio_join(jt, NULL), -ECANCELED);
    assert_int_equal(j.res, -ECANCELED);
    assert_false(j.gate_was_open); /* it left the wait at once, not when t finished */
    /* t no longer has a joiner: someone else may join it. */
    assert_int_equal(corio_future_resolve(&gate, (void *)0x31), 0);
    void *r = NULL;
    assert_int_equal(corio_join(t, &r), 0);
    assert_ptr_equal(r, (void *)0x31);
    return NULL;
}

static void test_cancel_while_parked_in_join_leaves_the_target_joinable(void **state)
{
    (void)state;
    support_run(cancel_joiner_main, NULL);
}

struct fwaiter {
    int res;
    void *v;
    bool gate_was_open;
};

static void *await_gate_rec(void *arg)
{
    struct fwaiter *w = arg;
    w->res = corio_future_await(&gate, &w->v);
    w->gate_was_open = corio_future_done(&gate);
    return NULL;
}

static void *cancel_future_waiter_main(void *arg)
{
    (void)arg;
    corio_future_init(&gate);
    struct fwaiter w1 = {.res = 1}, w2 = {.res = 1};
    corio_task_t *t1, *t2;
    assert_int_equal(corio_spawn(NULL, await_gate_rec, &w1, &t1), 0);
    assert_int_equal(corio_spawn(NULL, await_gate_rec, &w2, &t2), 0);
    corio_yield(); /* both park on the gate */
    assert_int_equal(corio_cancel(t1), 0);
    assert_int_equal(corio_join(t1, NULL), -ECANCELED);
    assert_int_equal(w1.res, -ECANCELED);
    assert_false(w1.gate_was_open);
    /* Only t2 is still waiting: resolving must not touch the finished t1. */
    assert_ptr_equal(gate.priv_waiters, (void *)t2);
    assert_int_equal(corio_future_resolve(&gate, (void *)0x88), 0);
    assert_int_equal(corio_join(t2, NULL), 0);
    assert_int_equal(w2.res, 0);
    assert_ptr_equal(w2.v, (void *)0x88);
    return NULL;
}

static void test_cancel_while_parked_in_future_await_removes_the_waiter(void **state)
{
    (void)state;
    support_run(cancel_future_waiter_main, NULL);
}

/* A recv whose data and cancel reach the kernel in the same io_uring_enter: the data
 * either comes back from the recv or is still in the socket, never both, never lost. */
#define RACE_ROUNDS 1500

struct racer {
    int fd;
    uint64_t deadline; /* 0: none */
    ssize_t res;
    int after;
    char buf[32];
};

static void *race_reader(void *arg)
{
    struct racer *r = arg;
    if (r->deadline != 0)
        assert_int_equal(corio_timeout_begin(r->deadline), 0);
    r->res = corio_recv(r->fd, r->buf, sizeof r->buf, 0);
    if (r->deadline != 0)
        corio_timeout_end();
    r->after = corio_nop();
    return NULL;
}

struct race {
    int client, server;
    int got_data, got_cancel;
};

/* The reader got msg, or failed with lost_err and msg is still in the socket, whole;
 * either way nothing else is left there. */
static void check_race_outcome(struct race *rc, const struct racer *r, const char *msg,
                               int lost_err)
{
    char left[32];
    if (r->res == 8) {
        assert_memory_equal(r->buf, msg, 8);
        rc->got_data++;
    } else {
        assert_int_equal(r->res, lost_err);
        assert_int_equal(recv(rc->server, left, 8, MSG_WAITALL), 8);
        assert_memory_equal(left, msg, 8);
        rc->got_cancel++;
    }
    assert_int_equal(recv(rc->server, left, sizeof left, MSG_DONTWAIT), -1);
    assert_int_equal(errno, EAGAIN);
}

static void *race_main(void *arg)
{
    struct race *rc = arg;
    for (int i = 0; i < RACE_ROUNDS; i++) {
        char msg[9];
        snprintf(msg, sizeof msg, "m%07d", i);
        struct racer r = {.fd = rc->server};
        corio_task_t *t;
        assert_int_equal(corio_spawn(NULL, race_reader, &r, &t), 0);
        corio_yield(); /* the reader parks with its recv queued */
        switch (i % 4) {
        case 0: /* data and cancel before the recv is even submitted */
            assert_int_equal(write(rc->client, msg, 8), 8);
            assert_int_equal(corio_cancel(t), 0);
            break;
        case 1: /* the recv waits in the kernel; data first, then the cancel */
            assert_int_equal(corio_nop(), 0);
            assert_int_equal(write(rc->client, msg, 8), 8);
            assert_int_equal(corio_cancel(t), 0);
            break;
        case 2: /* the recv waits in the kernel; the cancel first, then data */
            assert_int_equal(corio_nop(), 0);
            assert_int_equal(corio_cancel(t), 0);
            assert_int_equal(write(rc->client, msg, 8), 8);
            break;
        default: /* the recv completes in the same enter as our nop, whose completion
                  * comes first: we run first and cancel a reader whose data has been
                  * delivered to it but which has not run yet */
            assert_int_equal(corio_nop(), 0);
            assert_int_equal(write(rc->client, msg, 8), 8);
            assert_int_equal(corio_nop(), 0);
            assert_int_equal(corio_cancel(t), 0);
            break;
        }
        assert_int_equal(corio_join(t, NULL), -ECANCELED);
        assert_int_equal(r.after, -ECANCELED);
        check_race_outcome(rc, &r, msg, -ECANCELED);
    }
    return NULL;
}

static void test_recv_racing_its_cancel_returns_data_or_ecanceled_never_loses_it(void **state)
{
    (void)state;
    struct race rc = {0};
    tcp_pair_for_races(&rc.client, &rc.server);
    support_run(race_main, &rc);
    assert_int_equal(rc.got_data + rc.got_cancel, RACE_ROUNDS);
    print_message("recv/cancel race: %d data, %d cancelled\n", rc.got_data, rc.got_cancel);
    close(rc.client);
    close(rc.server);
}

/* A recv whose deadline expires around the moment its data arrives (the writer sleeps
 * 0-200 us against a 100 us deadline, so the two timers often fire in the same loop
 * iteration): the data comes back from the recv, or the recv says -ETIMEDOUT and the data
 * is still in the socket. Never both, never lost, and the task's next call is unaffected. */
#define DEADLINE_RACE_ROUNDS 600

static void *deadline_race_main(void *arg)
{
    struct race *rc = arg;
    for (int i = 0; i < DEADLINE_RACE_ROUNDS; i++) {
        char msg[9];
        snprintf(msg, sizeof msg, "d%07d", i);
        struct racer r = {.fd = rc->server, .deadline = 100 * US};
        corio_task_t *t;
        assert_int_equal(corio_spawn(NULL, race_reader, &r, &t), 0);
        corio_yield(); /* the reader parks with its recv queued and its deadline set */
        assert_int_equal(corio_sleep((uint64_t)(i % 5) * 50 * US), 0);
        assert_int_equal(write(rc->client, msg, 8), 8);
        assert_int_equal(corio_join(t, NULL), 0);
        assert_int_equal(r.after, 0);
        check_race_outcome(rc, &r, msg, -ETIMEDOUT);
    }
    return NULL;
}

static void test_recv_racing_its_deadline_returns_data_or_etimedout_never_loses_it(void **state)
{
    (void)state;
    struct race rc = {0};
    tcp_pair_for_races(&rc.client, &rc.server);
    support_run(deadline_race_main, &rc);
    assert_int_equal(rc.got_data + rc.got_cancel, DEADLINE_RACE_ROUNDS);
    print_message("recv/deadline race: %d data, %d timed out\n", rc.got_data, rc.got_cancel);
    close(rc.client);
    close(rc.server);
}

/* Ops of await-style calls live on the task's stack: a task cancelled (or timed out) in
 * the middle of a recv must keep that stack until the kernel has let go of the op. Here
 * the stacks are handed to new tasks right away and the data the old recvs waited for
 * arrives afterwards: neither the new tasks' stacks nor the data may be touched. */
#define MIDIO 32

struct midio_reader {
    int fd;
    ssize_t res;
    bool with_deadline;
};

static void *midio_read(void *arg)
{
    struct midio_reader *m = arg;
    char buf[512];
    if (m->with_deadline)
        assert_int_equal(corio_timeout_begin(10 * MS), 0);
    m->res = corio_recv(m->fd, buf, sizeof buf, 0);
    if (m->with_deadline)
        corio_timeout_end();
    return NULL;
}

struct painter {
    corio_task_t *self;
    int sleep_res;
    bool intact;
};

static void *paint_and_wait(void *arg)
{
    struct painter *p = arg;
    volatile unsigned char area[4096];
    for (size_t i = 0; i < sizeof area; i++)
        area[i] = 0xa5;
    p->self = corio_current();
    p->sleep_res = corio_sleep(30 * MS); /* the old recvs' data arrives meanwhile */
    p->intact = true;
    for (size_t i = 0; i < sizeof area; i++)
        if (area[i] != 0xa5)
            p->intact = false;
    return NULL;
}

static int midio_client[MIDIO], midio_server[MIDIO];

static void *midio_main(void *arg)
{
    (void)arg;
    struct midio_reader readers[MIDIO];
    corio_task_t *rt[MIDIO];
    for (int i = 0; i < MIDIO; i++) {
        readers[i] = (struct midio_reader){.fd = midio_server[i], .with_deadline = i % 2};
        assert_int_equal(corio_spawn(NULL, midio_read, &readers[i], &rt[i]), 0);
    }
    corio_yield();                    /* all park in recv */
    assert_int_equal(corio_nop(), 0); /* and the recvs are in the kernel */
    for (int i = 0; i < MIDIO; i += 2)
        assert_int_equal(corio_cancel(rt[i]), 0);
    for (int i = 0; i < MIDIO; i++) {
        assert_int_equal(corio_join(rt[i], NULL), i % 2 ? 0 : -ECANCELED);
        assert_int_equal(readers[i].res, i % 2 ? -ETIMEDOUT : -ECANCELED);
    }

    struct painter painters[MIDIO];
    corio_task_t *pt[MIDIO];
    for (int i = 0; i < MIDIO; i++)
        assert_int_equal(corio_spawn(NULL, paint_and_wait, &painters[i], &pt[i]), 0);
    corio_yield(); /* all paint and sleep */
    static const char payload[100] = "late data for a recv that is gone";
    for (int i = 0; i < MIDIO; i++)
        assert_int_equal(write(midio_client[i], payload, sizeof payload), (ssize_t)sizeof payload);
    for (int i = 0; i < MIDIO; i++) {
        assert_int_equal(corio_join(pt[i], NULL), 0);
        assert_int_equal(painters[i].sleep_res, 0);
        assert_true(painters[i].intact);
        /* The test's premise: the painters run on the readers' recycled stacks. */
        bool reused = false;
        for (int k = 0; k < MIDIO; k++)
            reused |= painters[i].self == rt[k];
        assert_true(reused);
    }
    for (int i = 0; i < MIDIO; i++) {
        char got[sizeof payload];
        assert_int_equal(recv(midio_server[i], got, sizeof got, MSG_WAITALL),
                         (ssize_t)sizeof payload);
        assert_memory_equal(got, payload, sizeof payload);
    }
    return NULL;
}

static void test_task_stack_outlives_its_cancelled_recv(void **state)
{
    (void)state;
    for (int i = 0; i < MIDIO; i++)
        tcp_pair_for_races(&midio_client[i], &midio_server[i]);
    support_run(midio_main, NULL);
    for (int i = 0; i < MIDIO; i++) {
        close(midio_client[i]);
        close(midio_server[i]);
    }
}

/* An await call's completion and its cancel are addressed to the task (there is no op
 * for nop, read, write, recv and send): a cancel must reach the cancelled task's op and
 * no other, for both kinds of await call. */
struct pipe_waiter {
    int fd;
    bool poll; /* corio_poll (an await call through an op) instead of corio_read */
    ssize_t res;
    char buf[8];
};

static void *wait_on_pipe(void *arg)
{
    struct pipe_waiter *w = arg;
    w->res = w->poll ? corio_poll(w->fd, POLLIN) : corio_read(w->fd, w->buf, sizeof w->buf, -1);
    return NULL;
}

static void *cancel_one_of_each_main(void *arg)
{
    int(*pipes)[2] = arg;
    struct pipe_waiter w[4] = {{.fd = pipes[0][0]},
                               {.fd = pipes[1][0]},
                               {.fd = pipes[2][0], .poll = true},
                               {.fd = pipes[3][0], .poll = true}};
    corio_task_t *t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(corio_spawn(NULL, wait_on_pipe, &w[i], &t[i]), 0);
    corio_yield();                    /* all four park */
    assert_int_equal(corio_nop(), 0); /* and their ops are in the kernel */
    assert_int_equal(corio_cancel(t[0]), 0);
    assert_int_equal(corio_cancel(t[2]), 0);
    assert_int_equal(write(pipes[1][1], "read", 4), 4);
    assert_int_equal(write(pipes[3][1], "poll", 4), 4);
    assert_int_equal(corio_join(t[0], NULL), -ECANCELED);
    assert_int_equal(corio_join(t[1], NULL), 0);
    assert_int_equal(corio_join(t[2], NULL), -ECANCELED);
    assert_int_equal(corio_join(t[3], NULL), 0);
    assert_int_equal(w[0].res, -ECANCELED);
    assert_int_equal(w[1].res, 4);
    assert_memory_equal(w[1].buf, "read", 4);
    assert_int_equal(w[2].res, -ECANCELED);
    assert_true(w[3].res > 0 && (w[3].res & POLLIN));
    /* The cancelled read is gone from the pipe: what is written now stays there. */
    char got[4];
    assert_int_equal(write(pipes[0][1], "kept", 4), 4);
    assert_int_equal(read(pipes[0][0], got, sizeof got), 4);
    assert_memory_equal(got, "kept", 4);
    return NULL;
}

static void test_cancel_reaches_the_cancelled_tasks_op_and_no_other(void **state)
{
    (void)state;
    int pipes[4][2];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pipe(pipes[i]), 0);
    support_run(cancel_one_of_each_main, pipes);
    for (int i = 0; i < 4; i++) {
        close(pipes[i][0]);
        close(pipes[i][1]);
    }
}

/* ---- deadlines --------------------------------------------------------------------- */

struct late_writer {
    int fd;
    uint64_t delay;
};

static void *write_later(void *arg)
{
    struct late_writer *w = arg;
    assert_int_equal(corio_sleep(w->delay), 0);
    assert_int_equal(write(w->fd, "late", 4), 4);
    return NULL;
}

static void *deadline_recv_main(void *arg)
{
    int *fds = arg;    /* client, server */
    char buf[8] = {0}; /* valgrind does not see io_uring's writes: start defined */
    uint64_t t0 = support_now_ns();
    assert_int_equal(corio_timeout_begin(20 * MS), 0);
    ssize_t r = corio_recv(fds[1], buf, sizeof buf, 0);
    uint64_t took = support_now_ns() - t0;
    corio_timeout_end();
    assert_int_equal(r, -ETIMEDOUT);
    assert_true(took >= 20 * MS);
    assert_true(took < 2 * SEC);

    /* The deadline is gone: a recv now waits past 20 ms for data that comes at 50 ms. */
    struct late_writer w = {.fd = fds[0], .delay = 50 * MS};
    corio_task_t *t;
    t0 = support_now_ns();
    assert_int_equal(corio_spawn(NULL, write_later, &w, &t), 0);
    assert_int_equal(corio_recv(fds[1], buf, sizeof buf, 0), 4);
    assert_true(support_now_ns() - t0 >= 50 * MS);
    assert_memory_equal(buf, "late", 4);
    assert_int_equal(corio_join(t, NULL), 0);
    assert_int_equal(corio_nop(), 0);
    return NULL;
}

static void test_deadline_times_out_recv_and_ends_cleanly(void **state)
{
    (void)state;
    int fds[2];
    support_tcp_pair(&fds[0], &fds[1]);
    support_run(deadline_recv_main, fds);
    close(fds[0]);
    close(fds[1]);
}

/* A deadline is a timer in the loop, not a kernel timeout per call: calls under one
 * submit exactly one SQE each, and once the calls are done no timer is left behind (a
 * leftover 10 s timer would keep corio_run from returning). */
static void *deadline_cost_main(void *arg)
{
    (void)arg;
    corio_loop_t *loop = corio_current_loop();
    corio_loop_stats_t before, after;
    assert_int_equal(corio_timeout_begin(10 * SEC), 0);
    corio_loop_stats(loop, &before);
    for (int i = 0; i < 100; i++)
        assert_int_equal(corio_nop(), 0);
    corio_loop_stats(loop, &after);
    corio_timeout_end();
    assert_int_equal(after.submitted - before.submitted, 100);
    return NULL;
}

static void test_deadline_costs_no_sqe_and_leaves_no_timer(void **state)
{
    (void)state;
    uint64_t t0 = support_now_ns();
    support_run(deadline_cost_main, NULL);
    assert_true(support_now_ns() - t0 < 5 * SEC);
}

static void *nested_deadline_main(void *arg)
{
    int server = *(int *)arg;
    char buf[8];

    /* Outer 20 ms, inner 10 s: the outer one still bounds the call. */
    uint64_t t0 = support_now_ns();
    assert_int_equal(corio_timeout_begin(20 * MS), 0);
    assert_int_equal(corio_timeout_begin(10 * SEC), 0);
    assert_int_equal(corio_recv(server, buf, sizeof buf, 0), -ETIMEDOUT);
    uint64_t took = support_now_ns() - t0;
    assert_true(took >= 20 * MS);
    assert_true(took < 2 * SEC);
    corio_timeout_end();
    corio_timeout_end();

    /* Outer 10 s, inner 20 ms: the inner one; once it ends, the outer one is all that
     * is left, and a 30 ms sleep completes under it. */
    t0 = support_now_ns();
    assert_int_equal(corio_timeout_begin(10 * SEC), 0);
    assert_int_equal(corio_timeout_begin(20 * MS), 0);
    assert_int_equal(corio_sleep(5 * SEC), -ETIMEDOUT);
    took = support_now_ns() - t0;
    assert_true(took >= 20 * MS);
    assert_true(took < 2 * SEC);
    corio_timeout_end();
    assert_int_equal(corio_sleep(30 * MS), 0);
    corio_timeout_end();
    return NULL;
}

static void test_nested_deadlines_the_earliest_wins(void **state)
{
    (void)state;
    int client, server;
    support_tcp_pair(&client, &server);
    support_run(nested_deadline_main, &server);
    close(client);
    close(server);
}

static void *deadline_sleep_main(void *arg)
{
    (void)arg;
    uint64_t t0 = support_now_ns();
    assert_int_equal(corio_timeout_begin(20 * MS), 0);
    assert_int_equal(corio_sleep(5 * SEC), -ETIMEDOUT);
    uint64_t took = support_now_ns() - t0;
    assert_true(took >= 20 * MS);
    assert_true(took < 2 * SEC);
    corio_timeout_end();

    /* A sleep that ends before the deadline is not affected. */
    assert_int_equal(corio_timeout_begin(5 * SEC), 0);
    assert_int_equal(corio_sleep(10 * MS), 0);
    corio_timeout_end();
    return NULL;
}

static void test_deadline_cuts_a_longer_sleep_short(void **state)
{
    (void)state;
    support_run(deadline_sleep_main, NULL);
}

static void *deadline_join_main(void *arg)
{
    (void)arg;
    corio_future_init(&gate);
    corio_task_t *t;
    assert_int_equal(corio_spawn(NULL, await_gate, NULL, &t), 0);
    uint64_t t0 = support_now_ns();
    assert_int_equal(corio_timeout_begin(20 * MS), 0);
    void *r = (void *)0xdead;
    assert_int_equal(corio_join(t, &r), -ETIMEDOUT);
    uint64_t took = support_now_ns() - t0;
    corio_timeout_end();
    assert_true(took >= 20 * MS);
    assert_true(took < 2 * SEC);
    assert_ptr_equal(r, (void *)0xdead);
    /* The handle is still valid and the task still runs: join again. */
    assert_int_equal(corio_future_resolve(&gate, (void *)0x55), 0);
    assert_int_equal(corio_join(t, &r), 0);
    assert_ptr_equal(r, (void *)0x55);
    return NULL;
}

static void test_deadline_on_join_times_out_and_the_handle_stays_joinable(void **state)
{
    (void)state;
    support_run(deadline_join_main, NULL);
}

static void *deadline_future_main(void *arg)
{
    (void)arg;
    corio_future_t f;
    corio_future_init(&f);
    uint64_t t0 = support_now_ns();
    assert_int_equal(corio_timeout_begin(20 * MS), 0);
    void *v = (void *)0xdead;
    assert_int_equal(corio_future_await(&f, &v), -ETIMEDOUT);
    uint64_t took = support_now_ns() - t0;
    corio_timeout_end();
    assert_true(took >= 20 * MS);
    assert_true(took < 2 * SEC);
    assert_ptr_equal(v, (void *)0xdead);
    assert_false(corio_future_done(&f));
    assert_null(f.priv_waiters); /* the timed-out waiter left the list */
    /* The future is still usable: awaited again, resolved later by a callback. */
    struct resolve_req req = {&f, (void *)0x66};
    assert_int_equal(corio_call_later(corio_current_loop(), 5 * MS, resolve_cb, &req, NULL), 0);
    assert_int_equal(corio_future_await(&f, &v), 0);
    assert_ptr_equal(v, (void *)0x66);
    return NULL;
}

static void test_deadline_on_future_await_times_out_and_the_future_stays_usable(void **state)
{
    (void)state;
    support_run(deadline_future_main, NULL);
}

static void *expired_deadline_main(void *arg)
{
    int server = *(int *)arg;
    corio_future_init(&gate);
    corio_task_t *t;
    assert_int_equal(corio_spawn(NULL, await_gate, NULL, &t), 0);
    ticker_start();

    assert_int_equal(corio_timeout_begin(1), 0);
    uint64_t until = support_now_ns() + 1000;
    while (support_now_ns() < until) {
    }
    unsigned long before = ticks;
    uint64_t t0 = support_now_ns();
    char buf[8];
    corio_future_t f;
    corio_future_init(&f);
    assert_int_equal(corio_nop(), -ETIMEDOUT);
    assert_int_equal(corio_recv(server, buf, sizeof buf, 0), -ETIMEDOUT);
    assert_int_equal(corio_sleep(SEC), -ETIMEDOUT);
    assert_int_equal(corio_join(t, NULL), -ETIMEDOUT);
    assert_int_equal(corio_future_await(&f, NULL), -ETIMEDOUT);
    assert_int_equal(ticks, before); /* none of them parked */
    assert_true(support_now_ns() - t0 < SEC);
    corio_timeout_end();

    ticker_stop();
    assert_int_equal(corio_future_resolve(&gate, NULL), 0);
    assert_int_equal(corio_join(t, NULL), 0);
    return NULL;
}

static void test_expired_deadline_makes_awaits_time_out_at_once(void **state)
{
    (void)state;
    int client, server;
    support_tcp_pair(&client, &server);
    support_run(expired_deadline_main, &server);
    close(client);
    close(server);
}

static void *too_many_deadlines_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 16; i++)
        assert_int_equal(corio_timeout_begin(10 * SEC), 0);
    assert_int_equal(corio_timeout_begin(10 * SEC), -E2BIG);
    assert_int_equal(corio_nop(), 0); /* 16 far deadlines do not disturb a call */
    for (int i = 0; i < 16; i++)
        corio_timeout_end();
    corio_timeout_end(); /* one too many: harmless */
    assert_int_equal(corio_timeout_begin(20 * MS), 0);
    assert_int_equal(corio_sleep(5 * SEC), -ETIMEDOUT); /* deadlines still work */
    corio_timeout_end();
    assert_int_equal(corio_sleep(MS), 0);
    return NULL;
}

static void test_seventeen_nested_deadlines_are_refused_with_e2big(void **state)
{
    (void)state;
    support_run(too_many_deadlines_main, NULL);
}

/* The end that balances a refused begin removes nothing: the innermost deadline (here the
 * earliest, 20 ms) still holds after it. */
static void *refused_begin_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 15; i++)
        assert_int_equal(corio_timeout_begin(10 * SEC), 0);
    assert_int_equal(corio_timeout_begin(20 * MS), 0);
    assert_int_equal(corio_timeout_begin(MS), -E2BIG);
    corio_timeout_end(); /* balances the refused one */
    assert_int_equal(corio_sleep(2 * SEC), -ETIMEDOUT);
    for (int i = 0; i < 16; i++)
        corio_timeout_end();
    assert_int_equal(corio_sleep(MS), 0); /* none left */
    return NULL;
}

static void test_the_end_of_a_refused_timeout_begin_keeps_the_others(void **state)
{
    (void)state;
    uint64_t t0 = support_now_ns();
    support_run(refused_begin_main, NULL);
    assert_true(support_now_ns() - t0 < SEC); /* the 20 ms deadline ended the sleep */
}

/* ---- futures ----------------------------------------------------------------------- */

#define NWAITERS 4

static corio_future_t fut;
static int woke_order[NWAITERS], nwoken;

struct fut_waiter {
    int id;
    int res;
    void *v;
};

static void *await_fut(void *arg)
{
    struct fut_waiter *w = arg;
    w->res = corio_future_await(&fut, &w->v);
    woke_order[nwoken++] = w->id;
    return NULL;
}

static void reject_cb(void *arg)
{
    assert_int_equal(corio_future_reject(&fut, (int)(intptr_t)arg), 0);
}

/* Runs NWAITERS tasks awaiting `fut`, which `settle` (a callback) settles after 1 ms. */
static void run_waiters(struct fut_waiter *w, void (*settle)(void *), void *arg)
{
    corio_loop_t *loop = support_loop(0);
    corio_future_init(&fut);
    nwoken = 0;
    for (int i = 0; i < NWAITERS; i++) {
        w[i] = (struct fut_waiter){.id = i, .res = 1};
        assert_int_equal(corio_spawn(loop, await_fut, &w[i], NULL), 0);
    }
    assert_int_equal(corio_call_later(loop, MS, settle, arg, NULL), 0);
    assert_false(corio_future_done(&fut));
    assert_int_equal(corio_loop_run(loop), 0);
    assert_true(corio_future_done(&fut));
    assert_int_equal(nwoken, NWAITERS);
    for (int i = 0; i < NWAITERS; i++)
        assert_int_equal(woke_order[i], i); /* in the order they began waiting */
    corio_loop_free(loop);
}

static void test_future_resolve_wakes_every_waiter_in_order_with_the_value(void **state)
{
    (void)state;
    struct fut_waiter w[NWAITERS];
    struct resolve_req req = {&fut, (void *)0x77};
    run_waiters(w, resolve_cb, &req);
    for (int i = 0; i < NWAITERS; i++) {
        assert_int_equal(w[i].res, 0);
        assert_ptr_equal(w[i].v, (void *)0x77);
    }
}

static void test_future_reject_gives_every_waiter_the_error(void **state)
{
    (void)state;
    struct fut_waiter w[NWAITERS];
    run_waiters(w, reject_cb, (void *)(intptr_t)-ECONNRESET);
    for (int i = 0; i < NWAITERS; i++)
        assert_int_equal(w[i].res, -ECONNRESET);
}

static void test_future_settles_once_and_reject_needs_a_negative_errno(void **state)
{
    (void)state;
    corio_future_t f;
    corio_future_init(&f);
    assert_false(corio_future_done(&f));
    assert_int_equal(corio_future_reject(&f, 0), -EINVAL);
    assert_int_equal(corio_future_reject(&f, EIO), -EINVAL);
    assert_false(corio_future_done(&f)); /* a refused reject settles nothing */
    assert_int_equal(corio_future_resolve(&f, (void *)1), 0);
    assert_true(corio_future_done(&f));
    assert_int_equal(corio_future_resolve(&f, (void *)2), -EALREADY);
    assert_int_equal(corio_future_reject(&f, -EIO), -EALREADY);

    corio_future_init(&f); /* reset */
    assert_false(corio_future_done(&f));
    assert_int_equal(corio_future_reject(&f, -EIO), 0);
    assert_true(corio_future_done(&f));
    assert_int_equal(corio_future_resolve(&f, (void *)2), -EALREADY);
    assert_int_equal(corio_future_reject(&f, -EPIPE), -EALREADY);
}

static void *await_settled_main(void *arg)
{
    (void)arg;
    corio_future_t ok, bad;
    corio_future_init(&ok);
    corio_future_init(&bad);
    assert_int_equal(corio_future_resolve(&ok, (void *)0x11), 0);
    assert_int_equal(corio_future_reject(&bad, -EPIPE), 0);
    ticker_start();
    unsigned long before = ticks;
    void *v = NULL;
    assert_int_equal(corio_future_await(&ok, &v), 0);
    assert_ptr_equal(v, (void *)0x11);
    assert_int_equal(corio_future_await(&ok, NULL), 0); /* as often as you like */
    assert_int_equal(corio_future_await(&bad, &v), -EPIPE);
    assert_int_equal(ticks, before); /* none of them parked */
    ticker_stop();
    return NULL;
}

static void test_awaiting_a_settled_future_returns_at_once(void **state)
{
    (void)state;
    support_run(await_settled_main, NULL);
}

static void *resolved_by_callback_main(void *arg)
{
    (void)arg;
    corio_future_t f;
    corio_future_init(&f);
    struct resolve_req req = {&f, (void *)0x42};
    uint64_t t0 = support_now_ns();
    assert_int_equal(corio_call_later(corio_current_loop(), 10 * MS, resolve_cb, &req, NULL), 0);
    void *v = NULL;
    assert_int_equal(corio_future_await(&f, &v), 0);
    assert_ptr_equal(v, (void *)0x42);
    uint64_t took = support_now_ns() - t0;
    assert_true(took >= 10 * MS);
    assert_true(took < 2 * SEC);
    return NULL;
}

static void test_future_resolved_from_a_timer_callback_wakes_the_task(void **state)
{
    (void)state;
    support_run(resolved_by_callback_main, NULL);
}

/* ---- await and callback completions in one batch ----------------------------------- */

#define MIXED_TASKS 8
#define MIXED_TOTAL (2 * MIXED_TASKS - 1) /* task 0 queues no callback NOP */

static corio_op_t mixed_ops[MIXED_TASKS];
static char mixed_log[MIXED_TOTAL + 1];
static size_t mixed_len;
static int mixed_bad_results;

static void mixed_log_add(char c)
{
    if (mixed_len < MIXED_TOTAL)
        mixed_log[mixed_len] = c;
    mixed_len++;
}

static void mixed_done(corio_op_t *op, int res)
{
    mixed_bad_results += res != 0;
    mixed_log_add((char)('a' + (op - mixed_ops)));
}

/* Queues a callback NOP (except task 0) and then awaits a NOP of its own, so the SQ
 * holds A, b, B, c, C, ... */
static void *mixed_task(void *arg)
{
    size_t i = (size_t)(uintptr_t)arg;
    if (i > 0)
        mixed_bad_results += corio_nop_cb(corio_current_loop(), &mixed_ops[i], mixed_done) != 0;
    mixed_bad_results += corio_nop() != 0;
    mixed_log_add((char)('A' + i));
    return NULL;
}

/* The reap wakes a run of await completions in place (here A) and copies the rest out from
 * the first op's completion on (b, B, c, ...), waking runs of tasks between callbacks:
 * each completion arrives once and in order (callbacks as they are reaped, tasks when
 * they resume), and no op is left counted in flight. */
static void
test_await_and_callback_completions_alternating_in_one_batch_each_arrive_once(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    memset(mixed_log, 0, sizeof mixed_log);
    mixed_len = 0;
    mixed_bad_results = 0;
    for (uintptr_t i = 0; i < MIXED_TASKS; i++)
        assert_int_equal(corio_spawn(loop, mixed_task, (void *)i, NULL), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(mixed_bad_results, 0);
    assert_string_equal(mixed_log, "bcdefghABCDEFGH");
    assert_int_equal(mixed_len, MIXED_TOTAL);
    assert_int_equal(loop->inflight, 0);
    corio_loop_stats_t stats;
    corio_loop_stats(loop, &stats);
    /* the 15 NOPs, each reaped once (the loop's own eventfd read stays in flight) */
    assert_int_equal(stats.completions, MIXED_TOTAL);
    corio_loop_free(loop);
}

/* ---- many tasks, deep stacks ------------------------------------------------------- */

#define READERS 4096
#define CHUNK   64

static int pattern_fd, reads_ok, reads_bad;

static void *read_chunk(void *arg)
{
    size_t i = (size_t)(intptr_t)arg;
    unsigned char buf[CHUNK] = {0}; /* valgrind does not see io_uring's writes */
    if (corio_read(pattern_fd, buf, CHUNK, (int64_t)(i * CHUNK)) != CHUNK) {
        reads_bad++;
        return NULL;
    }
    for (size_t b = 0; b < CHUNK; b++)
        if (buf[b] != (unsigned char)((i * CHUNK + b) * 7 + 3)) {
            reads_bad++;
            return NULL;
        }
    reads_ok++;
    return NULL;
}

/* 4096 tasks each await a read on an 8-entry ring: the await path's inline SQE finds the
 * SQ full and flushes it (with SQPOLL: waits for the kernel thread to take entries). */
static void run_4096_concurrent_reads_on_an_8_entry_ring(unsigned flags)
{
    corio_loop_t *loop = support_loop_opts(&(corio_loop_opts_t){.entries = 8, .flags = flags});
    pattern_fd = support_pattern_file((size_t)READERS * CHUNK);
    reads_ok = reads_bad = 0;
    for (intptr_t i = 0; i < READERS; i++)
        assert_int_equal(corio_spawn(loop, read_chunk, (void *)i, NULL), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(reads_bad, 0);
    assert_int_equal(reads_ok, READERS);
    corio_loop_stats_t stats;
    corio_loop_stats(loop, &stats);
    if (support_on_uring())
        assert_true(stats.sq_full > 0); /* the full-SQ path really ran */
    corio_loop_free(loop);
    close(pattern_fd);
}

static void test_4096_concurrent_reads_on_an_8_entry_ring_all_complete(void **state)
{
    (void)state;
    run_4096_concurrent_reads_on_an_8_entry_ring(0);
}

static void test_4096_concurrent_reads_on_an_8_entry_sqpoll_ring_all_complete(void **state)
{
    (void)state;
    run_4096_concurrent_reads_on_an_8_entry_ring(CORIO_LOOP_SQPOLL);
}

#define FRAME 1024
#define DEPTH 40

/* Each level keeps a 1 KiB frame with a pattern of its own, yields at the bottom (so
 * another deep task runs meanwhile) and checks its frame on the way back up. Returns the
 * number of intact levels. */
static __attribute__((noinline)) unsigned dive(unsigned depth, unsigned salt, uintptr_t *lowest)
{
    volatile unsigned char frame[FRAME];
    for (size_t i = 0; i < FRAME; i++)
        frame[i] = (unsigned char)(depth * 31 + salt + i);
    unsigned intact;
    if (depth == 0) {
        *lowest = (uintptr_t)frame;
        corio_yield();
        intact = 0;
    } else {
        intact = dive(depth - 1, salt, lowest);
    }
    for (size_t i = 0; i < FRAME; i++)
        if (frame[i] != (unsigned char)(depth * 31 + salt + i))
            return intact;
    return intact + 1;
}

struct diver {
    unsigned salt, intact;
    size_t span;
};

static void *deep_task(void *arg)
{
    struct diver *d = arg;
    volatile char top = 0;
    uintptr_t lowest = 0;
    d->intact = dive(DEPTH - 1, d->salt, &lowest);
    d->span = (size_t)((uintptr_t)&top - lowest);
    return NULL;
}

static void test_deep_recursion_fits_the_default_stack(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    struct diver d[2] = {{.salt = 1}, {.salt = 101}};
    for (int i = 0; i < 2; i++)
        assert_int_equal(corio_spawn(loop, deep_task, &d[i], NULL), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(d[i].intact, DEPTH);
        assert_true(d[i].span >= 32 * 1024); /* the frames really took 32 KiB or more */
    }
    corio_loop_free(loop);
}

/* ---- corio_run and corio_loop_stop ------------------------------------------------- */

static void test_corio_run_returns_main_result(void **state)
{
    (void)state;
    void *result = NULL;
    assert_int_equal(corio_run(returns_arg, (void *)0x1234, &result), 0);
    assert_ptr_equal(result, (void *)0x1234);
    assert_int_equal(corio_run(returns_arg, NULL, NULL), 0);
}

struct stop_case {
    int fd;
    ssize_t recv_res;
    int sleep_res, future_res, nop_res;
    int finished;
};

static void *stop_recv(void *arg)
{
    struct stop_case *s = arg;
    char buf[8];
    s->recv_res = corio_recv(s->fd, buf, sizeof buf, 0);
    s->finished++;
    return NULL;
}

static void *stop_sleep(void *arg)
{
    struct stop_case *s = arg;
    s->sleep_res = corio_sleep(10 * SEC);
    s->finished++;
    return NULL;
}

static void *stop_future(void *arg)
{
    struct stop_case *s = arg;
    corio_future_t never;
    corio_future_init(&never);
    s->future_res = corio_future_await(&never, NULL);
    s->finished++;
    return NULL;
}

static void *stop_busy(void *arg)
{
    struct stop_case *s = arg;
    int res;
    while ((res = corio_nop()) == 0) {
    }
    s->nop_res = res;
    s->finished++;
    return NULL;
}

static void *stop_main(void *arg)
{
    struct stop_case *s = arg;
    corio_task_t *joinable;
    assert_int_equal(corio_spawn(NULL, stop_recv, s, NULL), 0);
    assert_int_equal(corio_spawn(NULL, stop_sleep, s, NULL), 0);
    assert_int_equal(corio_spawn(NULL, stop_future, s, &joinable), 0); /* never joined */
    assert_int_equal(corio_spawn(NULL, stop_busy, s, NULL), 0);
    corio_yield(); /* every child is waiting now */
    /* Spawned in the stopping iteration, so due in a later one: cancelled unstarted. */
    assert_int_equal(corio_spawn(NULL, mark_ran, NULL, NULL), 0);
    corio_loop_stop(corio_current_loop());
    return (void *)0x5709;
}

static void test_loop_stop_inside_a_task_makes_corio_run_cancel_the_rest(void **state)
{
    (void)state;
    int client, server;
    support_tcp_pair(&client, &server);
    struct stop_case s = {.fd = server, .recv_res = 1, .sleep_res = 1, .future_res = 1};
    void *result = NULL;
    ran = 0;
    uint64_t t0 = support_now_ns();
    assert_int_equal(corio_run(stop_main, &s, &result), 0);
    assert_int_equal(ran, 0);
    assert_true(support_now_ns() - t0 < 2 * SEC);
    assert_ptr_equal(result, (void *)0x5709);
    assert_int_equal(s.finished, 4);
    assert_int_equal(s.recv_res, -ECANCELED);
    assert_int_equal(s.sleep_res, -ECANCELED);
    assert_int_equal(s.future_res, -ECANCELED);
    assert_int_equal(s.nop_res, -ECANCELED);
    close(client);
    close(server);
}

/* A task that, unwinding after the stop, spawns a helper which would wait forever (a
 * recv on an idle connection): refused with -ESHUTDOWN, so corio_run returns. */
struct spawn_on_stop {
    int fd;
    int sleep_res, spawn_res;
};

static void *wait_forever_on(void *arg)
{
    struct spawn_on_stop *s = arg;
    char b;
    (void)corio_recv(s->fd, &b, 1, 0);
    return NULL;
}

static void *spawn_when_cancelled(void *arg)
{
    struct spawn_on_stop *s = arg;
    s->sleep_res = corio_sleep(10 * SEC);
    s->spawn_res = corio_spawn(NULL, wait_forever_on, s, NULL);
    return NULL;
}

static void *stop_with_spawner(void *arg)
{
    assert_int_equal(corio_spawn(NULL, spawn_when_cancelled, arg, NULL), 0);
    corio_yield();
    corio_loop_stop(corio_current_loop());
    return NULL;
}

static void test_after_a_stop_corio_run_refuses_new_tasks(void **state)
{
    (void)state;
    support_watchdog(20);
    int client, server;
    support_tcp_pair(&client, &server);
    struct spawn_on_stop s = {.fd = server, .sleep_res = 1, .spawn_res = 1};
    assert_int_equal(corio_run(stop_with_spawner, &s, NULL), 0);
    assert_int_equal(s.sleep_res, -ECANCELED);
    assert_int_equal(s.spawn_res, -ESHUTDOWN);
    alarm(0);
    close(client);
    close(server);
}

static int stopped_main_join_res;

static void *stop_loop_soon(void *arg)
{
    (void)arg;
    corio_yield();
    corio_loop_stop(corio_current_loop());
    return NULL;
}

static void *main_waits_through_stop(void *arg)
{
    (void)arg;
    corio_future_init(&gate);
    corio_task_t *t;
    assert_int_equal(corio_spawn(NULL, await_gate, NULL, &t), 0);
    assert_int_equal(corio_spawn(NULL, stop_loop_soon, NULL, NULL), 0);
    stopped_main_join_res = corio_join(t, NULL); /* the gate never opens */
    return (void *)0x7a5c;
}

static void test_loop_stop_while_main_waits_still_delivers_its_result(void **state)
{
    (void)state;
    stopped_main_join_res = 1;
    void *result = NULL;
    uint64_t t0 = support_now_ns();
    int err = corio_run(main_waits_through_stop, NULL, &result);
    assert_true(support_now_ns() - t0 < 2 * SEC);
    assert_int_equal(stopped_main_join_res, -ECANCELED);
    assert_ptr_equal(result, (void *)0x7a5c);
    /* corio.h: main was cancelled while it waited, so corio_run says so. */
    assert_int_equal(err, -ECANCELED);
}

int main(void)
{
    support_require_uring();
    support_watchdog(60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spawn_runs_tasks_in_order_after_scheduled_callbacks),
        cmocka_unit_test(test_future_reset_with_waiters_is_ebusy_and_they_still_get_the_value),
        cmocka_unit_test(test_spawn_rejects_null_fn_and_a_missing_loop),
        cmocka_unit_test(test_join_returns_the_task_result),
        cmocka_unit_test(test_gather_returns_all_results_in_order),
        cmocka_unit_test(test_gather_reports_first_error_and_still_joins_the_rest),
        cmocka_unit_test(test_gather_interrupted_by_a_deadline_leaves_the_rest_joinable),
        cmocka_unit_test(
            test_deadline_timer_kept_between_waits_times_out_each_wait_at_its_own_deadline),
        cmocka_unit_test(test_detached_tasks_run_and_are_released),
        cmocka_unit_test(test_join_errors_deadlock_detached_twice_and_null),
        cmocka_unit_test(test_second_joiner_while_one_waits_gets_einval),
        cmocka_unit_test(test_calls_outside_a_task_are_refused),
        cmocka_unit_test(test_future_await_outside_a_task_returns_eperm_even_when_resolved),
        cmocka_unit_test(test_yield_interleaves_two_tasks),
        cmocka_unit_test(test_yield_outside_a_task_does_nothing),
        cmocka_unit_test(test_sleep_returns_zero_after_its_duration),
        cmocka_unit_test(test_sleep_until_wakes_at_the_absolute_time_and_honours_deadlines),
        cmocka_unit_test(test_10000_sleepers_wake_in_deadline_order_without_a_kernel_timer_each),
        cmocka_unit_test(test_cancel_while_parked_in_recv_makes_every_await_return_ecanceled),
        cmocka_unit_test(test_corio_close_closes_in_a_cancelled_task),
        cmocka_unit_test(test_corio_close_wakes_the_task_parked_on_the_fd_and_ends_the_connection),
        cmocka_unit_test(test_a_cancelled_tasks_close_wakes_the_others_parked_on_the_fd),
        cmocka_unit_test(test_task_cancelled_before_start_never_runs),
        cmocka_unit_test(test_cancelling_a_finished_or_cancelled_task_is_harmless),
        cmocka_unit_test(test_cancel_while_parked_in_sleep_ends_the_sleep),
        cmocka_unit_test(test_cancel_while_parked_in_join_leaves_the_target_joinable),
        cmocka_unit_test(test_cancel_while_parked_in_future_await_removes_the_waiter),
        cmocka_unit_test(test_recv_racing_its_cancel_returns_data_or_ecanceled_never_loses_it),
        cmocka_unit_test(test_recv_racing_its_deadline_returns_data_or_etimedout_never_loses_it),
        cmocka_unit_test(test_task_stack_outlives_its_cancelled_recv),
        cmocka_unit_test(test_cancel_reaches_the_cancelled_tasks_op_and_no_other),
        cmocka_unit_test(test_deadline_times_out_recv_and_ends_cleanly),
        cmocka_unit_test(test_deadline_costs_no_sqe_and_leaves_no_timer),
        cmocka_unit_test(test_nested_deadlines_the_earliest_wins),
        cmocka_unit_test(test_deadline_cuts_a_longer_sleep_short),
        cmocka_unit_test(test_deadline_on_join_times_out_and_the_handle_stays_joinable),
        cmocka_unit_test(test_deadline_on_future_await_times_out_and_the_future_stays_usable),
        cmocka_unit_test(test_expired_deadline_makes_awaits_time_out_at_once),
        cmocka_unit_test(test_seventeen_nested_deadlines_are_refused_with_e2big),
        cmocka_unit_test(test_the_end_of_a_refused_timeout_begin_keeps_the_others),
        cmocka_unit_test(test_future_resolve_wakes_every_waiter_in_order_with_the_value),
        cmocka_unit_test(test_future_reject_gives_every_waiter_the_error),
        cmocka_unit_test(test_future_settles_once_and_reject_needs_a_negative_errno),
        cmocka_unit_test(test_awaiting_a_settled_future_returns_at_once),
        cmocka_unit_test(test_future_resolved_from_a_timer_callback_wakes_the_task),
        cmocka_unit_test(
            test_await_and_callback_completions_alternating_in_one_batch_each_arrive_once),
        cmocka_unit_test(test_4096_concurrent_reads_on_an_8_entry_ring_all_complete),
        cmocka_unit_test(test_4096_concurrent_reads_on_an_8_entry_sqpoll_ring_all_complete),
        cmocka_unit_test(test_deep_recursion_fits_the_default_stack),
        cmocka_unit_test(test_corio_run_returns_main_result),
        cmocka_unit_test(test_loop_stop_inside_a_task_makes_corio_run_cancel_the_rest),
        cmocka_unit_test(test_after_a_stop_corio_run_refuses_new_tasks),
        cmocka_unit_test(test_loop_stop_while_main_waits_still_delivers_its_result),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
