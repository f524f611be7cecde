/* Tests of signal waiting (engine/signal.c): kill and raise while a task waits, sets of
 * several signals, FIFO delivery among waiters, signals outside the set left alone,
 * cancellation and deadlines, the callback form (restart, cancel, loop free), argument
 * errors, and that the signalfd goes away with the last waiter. SIGUSR1 and SIGUSR2 are
 * blocked in main() before anything else runs, as the header asks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

#define MS  1000000ull
#define SEC (1000 * MS)

/* ---- shared helpers ---------------------------------------------------------------- */

static sigset_t set_of(int a, int b)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, a);
    if (b != 0)
        sigaddset(&s, b);
    return s;
}

static bool is_pending(int sig)
{
    sigset_t p;
    assert_int_equal(sigpending(&p), 0);
    return sigismember(&p, sig) == 1;
}

/* Takes every pending SIGUSR1/SIGUSR2 so that each test starts clean. */
static void drain(void)
{
    sigset_t s = set_of(SIGUSR1, SIGUSR2);
    struct timespec zero = {0, 0};
    while (sigtimedwait(&s, NULL, &zero) > 0)
        ;
}

static int setup(void **state)
{
    (void)state;
    drain();
    return 0;
}

/* A task that waits once for its set and records the result. */
struct waiter {
    sigset_t set;
    bool waiting;
    bool done;
    int res;
};

static void *wait_task(void *arg)
{
    struct waiter *w = arg;
    w->waiting = true;
    w->res = corio_signal_wait(&w->set);
    w->done = true;
    return NULL;
}

/* Inside a task: starts a waiter and lets it run until it is parked in its wait, then
 * lets the loop submit its poll (a nop round trip enters the kernel). */
static corio_task_t *start_waiter(struct waiter *w)
{
    corio_task_t *t;
    assert_int_equal(corio_spawn(NULL, wait_task, w, &t), 0);
    corio_yield();
    assert_true(w->waiting);
    assert_false(w->done);
    assert_int_equal(corio_nop(), 0);
    assert_false(w->done);
    return t;
}

/* ---- delivery to tasks ------------------------------------------------------------- */

static void *kill_main(void *arg)
{
    struct waiter *w = arg;
    corio_task_t *t = start_waiter(w);
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
    assert_int_equal(corio_join(t, NULL), 0);
    return NULL;
}

static void test_kill_while_a_task_waits_gives_it_the_signal(void **state)
{
    (void)state;
    int fds = support_count_fds();
    struct waiter w = {.set = set_of(SIGUSR1, 0)};
    support_run(kill_main, &w);
    assert_int_equal(w.res, SIGUSR1);
    assert_false(is_pending(SIGUSR1));          /* taken from the kernel, not left pending */
    assert_int_equal(support_count_fds(), fds); /* the signalfd went with the last waiter */
}

static void *raise_main(void *arg)
{
    struct waiter *w = arg;
    corio_task_t *t = start_waiter(w);
    assert_int_equal(raise(SIGUSR1), 0); /* sent to this thread only */
    assert_int_equal(corio_join(t, NULL), 0);
    return NULL;
}

static void test_raise_to_the_loop_thread_while_a_task_waits_gives_it_the_signal(void **state)
{
    (void)state;
    struct waiter w = {.set = set_of(SIGUSR1, 0)};
    support_run(raise_main, &w);
    assert_int_equal(w.res, SIGUSR1);
    assert_false(is_pending(SIGUSR1));
}

struct two {
    struct waiter first, second;
};

static void *two_signals_main(void *arg)
{
    struct two *tw = arg;
    corio_task_t *t = start_waiter(&tw->first);
    assert_int_equal(kill(getpid(), SIGUSR2), 0);
    assert_int_equal(corio_join(t, NULL), 0);
    t = start_waiter(&tw->second);
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
    assert_int_equal(corio_join(t, NULL), 0);
    return NULL;
}

static void test_a_set_of_two_signals_returns_whichever_arrives(void **state)
{
    (void)state;
    struct two tw = {.first = {.set = set_of(SIGUSR1, SIGUSR2)},
                     .second = {.set = set_of(SIGUSR1, SIGUSR2)}};
    support_run(two_signals_main, &tw);
    assert_int_equal(tw.first.res, SIGUSR2);
    assert_int_equal(tw.second.res, SIGUSR1);
    assert_false(is_pending(SIGUSR1));
    assert_false(is_pending(SIGUSR2));
}

static void *pending_first_main(void *arg)
{
    struct waiter *w = arg;
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
    assert_true(is_pending(SIGUSR1));
    w->res = corio_signal_wait(&w->set);
    return NULL;
}

static void test_a_signal_pending_before_the_wait_is_returned_at_once(void **state)
{
    (void)state;
    struct waiter w = {.set = set_of(SIGUSR1, 0)};
    support_run(pending_first_main, &w);
    assert_int_equal(w.res, SIGUSR1);
    assert_false(is_pending(SIGUSR1));
}

struct fifo {
    struct waiter w[3];
    struct waiter only1, only2;
};

static void *fifo_main(void *arg)
{
    struct fifo *f = arg;
    corio_task_t *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = start_waiter(&f->w[i]);
    /* One signal at a time: each goes to the longest waiter, the others keep waiting. */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(kill(getpid(), SIGUSR1), 0);
        assert_int_equal(corio_join(t[i], NULL), 0);
        for (int j = i + 1; j < 3; j++)
            assert_false(f->w[j].done);
    }
    /* The oldest waiter does not take a signal outside its set. */
    corio_task_t *a = start_waiter(&f->only1);
    corio_task_t *b = start_waiter(&f->only2);
    assert_int_equal(kill(getpid(), SIGUSR2), 0);
    assert_int_equal(corio_join(b, NULL), 0);
    assert_false(f->only1.done);
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
    assert_int_equal(corio_join(a, NULL), 0);
    return NULL;
}

static void test_waiters_get_signals_in_the_order_they_started_waiting(void **state)
{
    (void)state;
    struct fifo f = {.only1 = {.set = set_of(SIGUSR1, 0)}, .only2 = {.set = set_of(SIGUSR2, 0)}};
    for (int i = 0; i < 3; i++)
        f.w[i].set = set_of(SIGUSR1, 0);
    support_run(fifo_main, &f);
    for (int i = 0; i < 3; i++)
        assert_int_equal(f.w[i].res, SIGUSR1);
    assert_int_equal(f.only1.res, SIGUSR1);
    assert_int_equal(f.only2.res, SIGUSR2);
}

static void *outside_set_main(void *arg)
{
    struct waiter *w = arg;
    corio_task_t *t = start_waiter(w);
    assert_int_equal(kill(getpid(), SIGUSR2), 0);
    assert_int_equal(corio_nop(), 0); /* a round through the kernel: nothing for the waiter */
    assert_false(w->done);
    assert_true(is_pending(SIGUSR2));
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
    assert_int_equal(corio_join(t, NULL), 0);
    return NULL;
}

static void test_a_signal_outside_the_set_stays_pending(void **state)
{
    (void)state;
    struct waiter w = {.set = set_of(SIGUSR1, 0)};
    support_run(outside_set_main, &w);
    assert_int_equal(w.res, SIGUSR1);
    assert_true(is_pending(SIGUSR2));
    drain();
}

/* ---- cancellation and deadlines ---------------------------------------------------- */

static void *cancel_main(void *arg)
{
    struct waiter *w = arg;
    corio_task_t *t = start_waiter(w);
    assert_int_equal(corio_cancel(t), 0);
    assert_int_equal(corio_join(t, NULL), -ECANCELED);
    /* Nobody waits now: a signal stays pending instead of being taken by a stale read. */
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
    assert_int_equal(corio_nop(), 0);
    assert_true(is_pending(SIGUSR1));
    return NULL;
}

static void test_cancel_while_waiting_returns_ecanceled_and_takes_no_signal(void **state)
{
    (void)state;
    int fds = support_count_fds();
    struct waiter w = {.set = set_of(SIGUSR1, 0)};
    uint64_t t0 = support_now_ns();
    support_run(cancel_main, &w); /* returns: the poll did not keep the loop alive */
    assert_int_equal(w.res, -ECANCELED);
    assert_true(support_now_ns() - t0 < 5 * SEC);
    assert_true(is_pending(SIGUSR1));
    assert_int_equal(support_count_fds(), fds);
    drain();
}

struct deadline_case {
    int res;
    uint64_t elapsed;
};

static void *deadline_main(void *arg)
{
    struct deadline_case *c = arg;
    sigset_t s = set_of(SIGUSR1, 0);
    assert_int_equal(corio_timeout_begin(50 * MS), 0);
    uint64_t t0 = support_now_ns();
    c->res = corio_signal_wait(&s);
    c->elapsed = support_now_ns() - t0;
    corio_timeout_end();
    return NULL;
}

static void test_deadline_ends_the_wait_with_etimedout(void **state)
{
    (void)state;
    int fds = support_count_fds();
    struct deadline_case c = {0};
    support_run(deadline_main, &c);
    assert_int_equal(c.res, -ETIMEDOUT);
    assert_true(c.elapsed >= 45 * MS);
    assert_true(c.elapsed < 5 * SEC);
    assert_int_equal(support_count_fds(), fds);
}

/* ---- callback form ----------------------------------------------------------------- */

struct cb_case {
    corio_signal_t req;
    corio_loop_t *loop;
    sigset_t set;
    int calls;
    int res[4];
    int restarts; /* how many more times the callback starts the request again */
    bool inside_start;
};

static void send_usr1(void *arg)
{
    (void)arg;
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
}

static void on_signal(corio_signal_t *req, int res)
{
    struct cb_case *c = req->data;
    assert_false(c->inside_start);
    c->res[c->calls++] = res;
    if (c->restarts > 0) {
        c->restarts--;
        assert_int_equal(corio_signal_wait_cb(c->loop, req, &c->set, on_signal), 0);
        assert_int_equal(corio_call_soon(c->loop, send_usr1, NULL), 0);
    }
}

static void cb_case_init(struct cb_case *c, corio_loop_t *loop)
{
    memset(c, 0, sizeof *c);
    c->req.data = c;
    c->loop = loop;
    c->set = set_of(SIGUSR1, 0);
}

static int cb_start(struct cb_case *c)
{
    c->inside_start = true;
    int err = corio_signal_wait_cb(c->loop, &c->req, &c->set, on_signal);
    c->inside_start = false;
    return err;
}

static void test_callback_form_runs_once_per_signal_and_may_restart(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    int fds = support_count_fds();
    struct cb_case c;
    cb_case_init(&c, loop);
    c.restarts = 1;
    assert_int_equal(cb_start(&c), 0);
    assert_int_equal(support_count_fds(),
                     fds + 1); /* the loop's signalfd, made by the first wait */
    assert_int_equal(corio_signal_wait_cb(loop, &c.req, &c.set, on_signal), -EBUSY);
    assert_int_equal(corio_call_soon(loop, send_usr1, NULL), 0);
    assert_int_equal(corio_loop_run(loop), 0); /* ends once the request is idle */
    assert_int_equal(c.calls, 2);
    assert_int_equal(c.res[0], SIGUSR1);
    assert_int_equal(c.res[1], SIGUSR1);
    assert_false(is_pending(SIGUSR1));
    assert_int_equal(corio_signal_cancel(&c.req), -ENOENT);
    assert_int_equal(support_count_fds(), fds); /* the signalfd went with the last wait */
    corio_loop_free(loop);
}

static void test_cancelled_callback_request_never_runs_and_takes_no_signal(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    int fds = support_count_fds();
    struct cb_case c;
    cb_case_init(&c, loop);
    assert_int_equal(cb_start(&c), 0);
    assert_int_equal(corio_signal_cancel(&c.req), 0);
    assert_int_equal(corio_signal_cancel(&c.req), -ENOENT);
    assert_int_equal(corio_call_soon(loop, send_usr1, NULL), 0);
    uint64_t t0 = support_now_ns();
    assert_int_equal(corio_loop_run(loop), 0);
    assert_true(support_now_ns() - t0 < 5 * SEC);
    assert_int_equal(c.calls, 0);
    assert_true(is_pending(SIGUSR1));
    assert_int_equal(support_count_fds(), fds);
    corio_loop_free(loop);
    drain();
}

static void stop_loop(void *arg)
{
    corio_loop_stop(arg);
}

static void test_loop_free_ends_a_waiting_callback_request_with_ecanceled(void **state)
{
    (void)state;
    int fds = support_count_fds();
    corio_loop_t *loop = support_loop(0);
    struct cb_case c;
    cb_case_init(&c, loop);
    assert_int_equal(cb_start(&c), 0);
    /* One iteration, so that the poll is in the kernel when the loop is freed. */
    assert_int_equal(corio_call_soon(loop, stop_loop, loop), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(c.calls, 0);
    corio_loop_free(loop);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.res[0], -ECANCELED);
    assert_int_equal(support_count_fds(), fds);
}

struct mixed {
    struct waiter task;
    struct cb_case cb;
};

static void *mixed_main(void *arg)
{
    struct mixed *m = arg;
    corio_task_t *t = start_waiter(&m->task);
    cb_case_init(&m->cb, corio_current_loop());
    assert_int_equal(cb_start(&m->cb), 0);
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
    assert_int_equal(corio_join(t, NULL), 0);
    assert_int_equal(m->cb.calls, 0);
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
    for (long i = 0; m->cb.calls == 0; i++) {
        if (i > 10000000)
            fail_msg("the callback never ran");
        corio_yield();
    }
    return NULL;
}

static void test_tasks_and_callback_requests_share_one_fifo(void **state)
{
    (void)state;
    struct mixed m = {.task = {.set = set_of(SIGUSR1, 0)}};
    support_run(mixed_main, &m);
    assert_int_equal(m.task.res, SIGUSR1);
    assert_int_equal(m.cb.calls, 1);
    assert_int_equal(m.cb.res[0], SIGUSR1);
}

/* ---- errors ------------------------------------------------------------------------ */

static void *errors_in_task_main(void *arg)
{
    (void)arg;
    sigset_t winch = set_of(SIGWINCH, 0); /* not blocked */
    assert_int_equal(corio_signal_wait(&winch), -EINVAL);
    sigset_t mixed = set_of(SIGUSR1, SIGWINCH);
    assert_int_equal(corio_signal_wait(&mixed), -EINVAL);
    return NULL;
}

static void test_bad_sets_and_calls_outside_a_task_are_refused(void **state)
{
    (void)state;
    sigset_t usr1 = set_of(SIGUSR1, 0), empty, kill_only = set_of(SIGKILL, SIGSTOP);
    sigemptyset(&empty);
    assert_int_equal(corio_signal_wait(NULL), -EFAULT);
    assert_int_equal(corio_signal_wait(&empty), -EINVAL);
    assert_int_equal(corio_signal_wait(&kill_only), -EINVAL);
    assert_int_equal(corio_signal_wait(&usr1), -EPERM); /* a good set: only the task is missing */
    support_run(errors_in_task_main, NULL);

    corio_loop_t *loop = support_loop(0);
    corio_signal_t req = {0};
    assert_int_equal(corio_signal_wait_cb(NULL, &req, &usr1, on_signal), -EINVAL);
    assert_int_equal(corio_signal_wait_cb(loop, NULL, &usr1, on_signal), -EINVAL);
    assert_int_equal(corio_signal_wait_cb(loop, &req, &usr1, NULL), -EINVAL);
    assert_int_equal(corio_signal_wait_cb(loop, &req, NULL, on_signal), -EFAULT);
    assert_int_equal(corio_signal_wait_cb(loop, &req, &empty, on_signal), -EINVAL);
    assert_int_equal(corio_signal_cancel(NULL), -EINVAL);
    assert_int_equal(corio_signal_cancel(&req), -ENOENT);
    assert_int_equal(corio_loop_run(loop), 0); /* nothing was left waiting */
    corio_loop_free(loop);
}

int main(void)
{
    support_require_uring();
    support_watchdog(60);
    /* Before any thread exists, so that every thread inherits the mask. */
    sigset_t usr = set_of(SIGUSR1, SIGUSR2);
    assert_int_equal(pthread_sigmask(SIG_BLOCK, &usr, NULL), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_kill_while_a_task_waits_gives_it_the_signal, setup),
        cmocka_unit_test_setup(test_raise_to_the_loop_thread_while_a_task_waits_gives_it_the_signal,
                               setup),
        cmocka_unit_test_setup(test_a_set_of_two_signals_returns_whichever_arrives, setup),
        cmocka_unit_test_setup(test_a_signal_pending_before_the_wait_is_returned_at_once, setup),
        cmocka_unit_test_setup(test_waiters_get_signals_in_the_order_they_started_waiting, setup),
        cmocka_unit_test_setup(test_a_signal_outside_the_set_stays_pending, setup),
        cmocka_unit_test_setup(test_cancel_while_waiting_returns_ecanceled_and_takes_no_signal,
                               setup),
        cmocka_unit_test_setup(test_deadline_ends_the_wait_with_etimedout, setup),
        cmocka_unit_test_setup(test_callback_form_runs_once_per_signal_and_may_restart, setup),
        cmocka_unit_test_setup(test_cancelled_callback_request_never_runs_and_takes_no_signal,
                               setup),
        cmocka_unit_test_setup(test_loop_free_ends_a_waiting_callback_request_with_ecanceled,
                               setup),
        cmocka_unit_test_setup(test_tasks_and_callback_requests_share_one_fifo, setup),
        cmocka_unit_test_setup(test_bad_sets_and_calls_outside_a_task_are_refused, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
