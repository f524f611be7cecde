/* Tests of the executor (engine/executor.c): results come back to the waiting task, more
 * jobs than workers queue FIFO, the loop keeps running while a job blocks, cancel and
 * deadlines give up at once and the late result is disposed, the callback form, and a
 * loop freed while jobs are outstanding. Jobs block on a gate the test opens, never on a
 * sleep; waits for a worker's progress use condition variables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "support.h"

#define MS      1000000ull
#define SEC     (1000 * MS)
#define WORKERS 4u

/* ---- the gate: jobs block on it until the test opens it ----------------------------- */

static pthread_mutex_t glock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gcond = PTHREAD_COND_INITIALIZER;
static bool gate_is_open;
static unsigned gate_waiting; /* jobs blocked on the gate right now */
static unsigned gate_passed;  /* jobs that went through it */
static unsigned disposed;     /* results handed to count_dispose */
static bool disposed_null;    /* the last of them was NULL */
static bool cb_ran;           /* a callback that must not run did */

static void gate_reset(void)
{
    pthread_mutex_lock(&glock);
    gate_is_open = false;
    gate_waiting = gate_passed = disposed = 0;
    disposed_null = false;
    cb_ran = false;
    pthread_mutex_unlock(&glock);
}

static void gate_open(void)
{
    pthread_mutex_lock(&glock);
    gate_is_open = true;
    pthread_cond_broadcast(&gcond);
    pthread_mutex_unlock(&glock);
}

/* Blocks the calling thread (the loop's, in a test: workers do not need the loop) until
 * *counter reaches n. The watchdog turns a hang into a failure. */
static void wait_until(const unsigned *counter, unsigned n)
{
    pthread_mutex_lock(&glock);
    while (*counter < n)
        pthread_cond_wait(&gcond, &glock);
    pthread_mutex_unlock(&glock);
}

static unsigned read_locked(const unsigned *counter)
{
    pthread_mutex_lock(&glock);
    unsigned v = *counter;
    pthread_mutex_unlock(&glock);
    return v;
}

/* A job: waits for the gate, then returns arg. */
static void *gate_job(void *arg)
{
    pthread_mutex_lock(&glock);
    gate_waiting++;
    pthread_cond_broadcast(&gcond);
    while (!gate_is_open)
        pthread_cond_wait(&gcond, &glock);
    gate_waiting--;
    gate_passed++;
    pthread_cond_broadcast(&gcond);
    pthread_mutex_unlock(&glock);
    return arg;
}

/* A job whose result owns memory: waits for the gate, then returns a fresh allocation. */
static void *gate_then_alloc(void *arg)
{
    (void)gate_job(arg);
    return strdup("late result");
}

/* Releases a result nobody received, and counts it. */
static void count_dispose(void *arg, void *result)
{
    (void)arg;
    bool was_null = result == NULL;
    free(result);
    pthread_mutex_lock(&glock);
    disposed++;
    disposed_null = was_null;
    pthread_cond_broadcast(&gcond);
    pthread_mutex_unlock(&glock);
}

static void must_not_run_cb(void *arg, void *result)
{
    (void)arg;
    (void)result;
    cb_ran = true;
}

/* Waits (yielding the thread) until the pool has no job queued or running: each test
 * leaves the pool as it found it. */
static void wait_pool_idle(void)
{
    uint64_t until = support_now_ns() + 10 * SEC;
    for (;;) {
        corio_executor_stats_t s;
        corio_executor_stats(&s);
        if (s.busy == 0 && s.queued == 0)
            return;
        assert_true(support_now_ns() < until);
        sched_yield();
    }
}

/* True once a worker has posted a finished job's wake-up to the loop (internal state:
 * the call is on the loop's posted stack, not yet run). */
static bool wakeup_posted(corio_loop_t *loop)
{
    return atomic_load(&loop->posted) != NULL;
}

static void wait_wakeup_posted(corio_loop_t *loop)
{
    uint64_t until = support_now_ns() + 10 * SEC;
    while (!wakeup_posted(loop)) {
        assert_true(support_now_ns() < until);
        sched_yield();
    }
}

static void *square(void *arg)
{
    intptr_t x = (intptr_t)arg;
    return (void *)(x * x);
}

/* ---- configuration ----------------------------------------------------------------- */

static void *one_job_main(void *arg)
{
    (void)arg;
    void *r = NULL;
    assert_int_equal(corio_run_blocking(square, (void *)3, &r), 0);
    assert_ptr_equal(r, (void *)9);
    return NULL;
}

/* Runs first: the pool has not started yet. */
static void test_configure_before_first_use_then_ebusy(void **state)
{
    (void)state;
    corio_executor_stats_t s;
    corio_executor_stats(&s);
    assert_int_equal(s.started, 0);
    assert_int_equal(s.threads, CORIO_EXECUTOR_DEFAULT_THREADS);

    corio_executor_opts_t bad = {.threads = CORIO_EXECUTOR_MAX_THREADS + 1};
    assert_int_equal(corio_executor_configure(&bad), -EINVAL);
    bad = (corio_executor_opts_t){.stack_size = 4096};
    assert_int_equal(corio_executor_configure(&bad), -EINVAL);
    corio_executor_opts_t opts = {.threads = WORKERS, .stack_size = 1u << 20};
    assert_int_equal(corio_executor_configure(&opts), 0);

    support_run(one_job_main, NULL);
    corio_executor_stats(&s);
    assert_int_equal(s.threads, WORKERS);
    assert_true(s.started >= 1 && s.started <= WORKERS);
    assert_int_equal(corio_executor_configure(NULL), -EBUSY);
    corio_executor_stats(&s);
    assert_int_equal(s.threads, WORKERS); /* unchanged */
}

/* ---- results ----------------------------------------------------------------------- */

static pthread_t loop_thread;

static void *report_thread(void *arg)
{
    *(pthread_t *)arg = pthread_self();
    return (void *)0x5eed;
}

static void *result_main(void *arg)
{
    (void)arg;
    void *r = NULL;
    assert_int_equal(corio_run_blocking(square, (void *)12, &r), 0);
    assert_ptr_equal(r, (void *)144);
    assert_int_equal(corio_run_blocking(square, (void *)5, NULL), 0); /* result not wanted */

    pthread_t ran_on = pthread_self();
    assert_int_equal(corio_run_blocking(report_thread, &ran_on, &r), 0);
    assert_ptr_equal(r, (void *)0x5eed);
    assert_false(pthread_equal(ran_on, loop_thread)); /* a worker ran it */
    return NULL;
}

static void test_run_blocking_returns_the_result_of_fn_run_on_a_worker(void **state)
{
    (void)state;
    loop_thread = pthread_self();
    support_run(result_main, NULL);
}

static void *eperm_job_ran;

static void *mark_ran(void *arg)
{
    eperm_job_ran = arg;
    return NULL;
}

static void *einval_main(void *arg)
{
    (void)arg;
    assert_int_equal(corio_run_blocking(NULL, NULL, NULL), -EINVAL);
    return NULL;
}

static void test_run_blocking_outside_a_task_is_eperm_and_fn_never_runs(void **state)
{
    (void)state;
    eperm_job_ran = NULL;
    void *r = (void *)0x1;
    assert_int_equal(corio_run_blocking(mark_ran, (void *)0x1, &r), -EPERM);
    assert_ptr_equal(r, (void *)0x1); /* untouched */
    assert_int_equal(corio_run_blocking(NULL, NULL, NULL), -EINVAL);

    /* With a disposer, an error before queueing hands arg to it at once (result NULL). */
    gate_reset();
    char *arg = strdup("arg");
    assert_int_equal(corio_run_blocking_ex(mark_ran, arg, count_dispose, NULL), -EPERM);
    assert_int_equal(read_locked(&disposed), 1);
    assert_true(disposed_null);
    free(arg);

    wait_pool_idle();
    assert_null(eperm_job_ran);
    support_run(einval_main, NULL);
}

/* ---- more jobs than workers -------------------------------------------------------- */

static atomic_uint running_now, peak_running;
static pthread_barrier_t first_four;

/* The first WORKERS jobs meet at a barrier, which they can pass only if WORKERS of them
 * run at once; every job records how many ran at the same time. */
static void *counted_square(void *arg)
{
    unsigned now = atomic_fetch_add(&running_now, 1) + 1;
    unsigned peak = atomic_load(&peak_running);
    while (now > peak && !atomic_compare_exchange_weak(&peak_running, &peak, now))
        ;
    if ((intptr_t)arg < (intptr_t)WORKERS)
        pthread_barrier_wait(&first_four);
    void *r = square(arg);
    atomic_fetch_sub(&running_now, 1);
    return r;
}

static void *square_task(void *arg)
{
    void *r = NULL;
    assert_int_equal(corio_run_blocking(counted_square, arg, &r), 0);
    return r;
}

static void *many_jobs_main(void *arg)
{
    (void)arg;
    enum { N = 64 };
    corio_task_t *tasks[N];
    void *results[N];
    for (intptr_t i = 0; i < N; i++)
        assert_int_equal(corio_spawn(NULL, square_task, (void *)i, &tasks[i]), 0);
    assert_int_equal(corio_gather(tasks, N, results), 0);
    for (intptr_t i = 0; i < N; i++)
        assert_ptr_equal(results[i], (void *)(i * i));
    return NULL;
}

static void test_64_jobs_on_4_workers_all_complete_with_the_right_results(void **state)
{
    (void)state;
    atomic_store(&running_now, 0);
    atomic_store(&peak_running, 0);
    pthread_barrier_init(&first_four, NULL, WORKERS);
    corio_executor_stats_t before, after;
    corio_executor_stats(&before);
    support_run(many_jobs_main, NULL);
    corio_executor_stats(&after);
    pthread_barrier_destroy(&first_four);
    assert_int_equal(atomic_load(&peak_running), WORKERS); /* 4 at once, never more */
    assert_int_equal(after.started, WORKERS);
    assert_int_equal(after.done - before.done, 64);
}

static unsigned fifo_order[16];
static atomic_uint fifo_n;

static void *record_order(void *arg)
{
    fifo_order[atomic_fetch_add(&fifo_n, 1)] = (unsigned)(uintptr_t)arg;
    return arg;
}

static void *record_task(void *arg)
{
    assert_int_equal(corio_run_blocking(record_order, arg, NULL), 0);
    return NULL;
}

static void *gate_task(void *arg)
{
    void *r = NULL;
    assert_int_equal(corio_run_blocking(gate_job, arg, &r), 0);
    return r;
}

static void *fifo_main(void *arg)
{
    (void)arg;
    /* Three workers blocked on the gate leave exactly one to run the rest, one by one. */
    corio_task_t *gated[WORKERS - 1];
    for (unsigned i = 0; i < WORKERS - 1; i++)
        assert_int_equal(corio_spawn(NULL, gate_task, NULL, &gated[i]), 0);
    corio_yield(); /* they submit their jobs and park */
    wait_until(&gate_waiting, WORKERS - 1);

    corio_task_t *tasks[16];
    for (uintptr_t i = 0; i < 16; i++)
        assert_int_equal(corio_spawn(NULL, record_task, (void *)i, &tasks[i]), 0);
    assert_int_equal(corio_gather(tasks, 16, NULL), 0);
    assert_int_equal(read_locked(&gate_waiting), WORKERS - 1); /* still blocked */

    gate_open();
    assert_int_equal(corio_gather(gated, WORKERS - 1, NULL), 0);
    return NULL;
}

static void test_jobs_beyond_the_workers_queue_and_start_in_fifo_order(void **state)
{
    (void)state;
    gate_reset();
    atomic_store(&fifo_n, 0);
    support_run(fifo_main, NULL);
    assert_int_equal(atomic_load(&fifo_n), 16);
    for (unsigned i = 0; i < 16; i++)
        assert_int_equal(fifo_order[i], i);
}

/* ---- the loop keeps running -------------------------------------------------------- */

static unsigned long ticks;
static bool blocked_done;

static void *ticking_opener(void *arg)
{
    (void)arg;
    while (!blocked_done) {
        if (++ticks == 1000)
            gate_open(); /* only now can the job finish */
        corio_yield();
    }
    return NULL;
}

static void *blocked_waiter(void *arg)
{
    (void)arg;
    void *r = NULL;
    assert_int_equal(corio_run_blocking(gate_job, (void *)0xb10c, &r), 0);
    assert_ptr_equal(r, (void *)0xb10c);
    blocked_done = true;
    return (void *)(uintptr_t)ticks;
}

static void *keeps_running_main(void *arg)
{
    (void)arg;
    corio_task_t *waiter, *ticker;
    assert_int_equal(corio_spawn(NULL, blocked_waiter, NULL, &waiter), 0);
    assert_int_equal(corio_spawn(NULL, ticking_opener, NULL, &ticker), 0);
    void *ticks_at_return = NULL;
    assert_int_equal(corio_join(waiter, &ticks_at_return), 0);
    assert_int_equal(corio_join(ticker, NULL), 0);
    /* The job was released by the other task's 1000th turn: the loop ran it all along. */
    assert_true((uintptr_t)ticks_at_return >= 1000);
    return NULL;
}

static void test_other_tasks_keep_running_while_a_job_blocks(void **state)
{
    (void)state;
    gate_reset();
    ticks = 0;
    blocked_done = false;
    support_run(keeps_running_main, NULL);
    assert_int_equal(read_locked(&gate_passed), 1);
}

/* ---- cancel and deadlines ---------------------------------------------------------- */

static void *cancellable_waiter(void *arg)
{
    (void)arg;
    void *r = (void *)0x1;
    int err = corio_run_blocking_ex(gate_then_alloc, NULL, count_dispose, &r);
    assert_ptr_equal(r, (void *)0x1); /* no result handed out */
    return (void *)(intptr_t)err;
}

static void *cancel_main(void *arg)
{
    (void)arg;
    corio_task_t *t;
    assert_int_equal(corio_spawn(NULL, cancellable_waiter, NULL, &t), 0);
    corio_yield();
    wait_until(&gate_waiting, 1); /* the job runs and blocks */
    assert_int_equal(corio_cancel(t), 0);
    void *err = NULL;
    assert_int_equal(corio_join(t, &err), -ECANCELED);
    assert_int_equal((intptr_t)err, -ECANCELED);
    /* "At once": the task has finished while its job is still blocked on the gate. */
    assert_int_equal(read_locked(&gate_waiting), 1);
    assert_int_equal(read_locked(&disposed), 0);
    gate_open();
    wait_until(&disposed, 1); /* the late result went to dispose, on the worker */
    return NULL;
}

static void test_cancel_while_waiting_returns_at_once_and_the_late_result_is_disposed(void **state)
{
    (void)state;
    gate_reset();
    support_run(cancel_main, NULL);
    assert_int_equal(read_locked(&gate_passed), 1);
    wait_pool_idle();
}

static void *plain_cancellable_waiter(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)corio_run_blocking(gate_job, (void *)0x77, NULL);
}

static void *cancel_plain_main(void *arg)
{
    (void)arg;
    corio_task_t *t;
    assert_int_equal(corio_spawn(NULL, plain_cancellable_waiter, NULL, &t), 0);
    corio_yield();
    wait_until(&gate_waiting, 1);
    assert_int_equal(corio_cancel(t), 0);
    void *err = NULL;
    assert_int_equal(corio_join(t, &err), -ECANCELED);
    assert_int_equal((intptr_t)err, -ECANCELED);
    gate_open();
    return NULL;
}

/* Without a disposer the result is dropped; the job record must still be freed (ASan's
 * leak check would name it). */
static void test_cancel_without_a_disposer_discards_the_result_without_leaking(void **state)
{
    (void)state;
    gate_reset();
    support_run(cancel_plain_main, NULL);
    wait_until(&gate_passed, 1);
    wait_pool_idle();
}

static void *alloc_job(void *arg)
{
    (void)arg;
    return strdup("finished before the cancel");
}

static void *finished_waiter(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)corio_run_blocking_ex(alloc_job, NULL, count_dispose, NULL);
}

static void *cancel_after_finish_main(void *arg)
{
    (void)arg;
    corio_task_t *t;
    assert_int_equal(corio_spawn(NULL, finished_waiter, NULL, &t), 0);
    corio_yield();
    /* The loop thread stays here until the worker has posted the result: the task is
     * still parked, the wake-up is queued but has not run. */
    wait_wakeup_posted(corio_current_loop());
    assert_int_equal(corio_cancel(t), 0);
    void *err = NULL;
    assert_int_equal(corio_join(t, &err), -ECANCELED);
    assert_int_equal((intptr_t)err, -ECANCELED);
    /* The wake-up still runs on the loop, and disposes instead of delivering. */
    while (read_locked(&disposed) == 0)
        corio_yield();
    return NULL;
}

static void test_cancel_after_the_job_finished_but_before_delivery_disposes_the_result(void **state)
{
    (void)state;
    gate_reset();
    support_run(cancel_after_finish_main, NULL);
    assert_int_equal(read_locked(&disposed), 1);
}

static void *deadline_main(void *arg)
{
    (void)arg;
    assert_int_equal(corio_timeout_begin(50 * MS), 0);
    uint64_t t0 = support_now_ns();
    void *r = (void *)0x1;
    assert_int_equal(corio_run_blocking_ex(gate_then_alloc, NULL, count_dispose, &r), -ETIMEDOUT);
    uint64_t took = support_now_ns() - t0;
    corio_timeout_end();
    assert_ptr_equal(r, (void *)0x1);
    assert_true(took >= 45 * MS);
    assert_true(took < 5 * SEC);
    assert_int_equal(read_locked(&gate_waiting), 1); /* the job still runs */

    /* An expired deadline: -ETIMEDOUT before anything is queued; fn never runs, arg goes
     * to dispose at once. */
    unsigned done_before = read_locked(&disposed);
    assert_int_equal(corio_timeout_begin(0), 0);
    eperm_job_ran = NULL;
    assert_int_equal(corio_run_blocking_ex(mark_ran, (void *)0x2, count_dispose, NULL), -ETIMEDOUT);
    corio_timeout_end();
    assert_int_equal(read_locked(&disposed), done_before + 1);

    gate_open();
    wait_until(&disposed, 2);
    return NULL;
}

static void test_deadline_returns_etimedout_while_the_job_runs_on(void **state)
{
    (void)state;
    gate_reset();
    support_run(deadline_main, NULL);
    wait_pool_idle();
    assert_null(eperm_job_ran);
}

/* ---- callback form ----------------------------------------------------------------- */

static void *cb_result;
static pthread_t cb_thread;
static int cb_count;

static void record_cb(void *arg, void *result)
{
    (void)arg;
    cb_result = result;
    cb_thread = pthread_self();
    cb_count++;
}

static void test_callback_form_runs_cb_on_the_loop_thread_and_keeps_the_loop_alive(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    cb_count = 0;
    assert_int_equal(corio_run_blocking_cb(loop, square, (void *)7, record_cb, NULL), 0);
    assert_int_equal(cb_count, 0); /* never inside the call */
    /* Nothing but the job is pending: the loop still waits for it. */
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(cb_count, 1);
    assert_ptr_equal(cb_result, (void *)49);
    assert_true(pthread_equal(cb_thread, pthread_self()));

    /* cb NULL: the result goes to dispose, on the loop thread. */
    gate_reset();
    assert_int_equal(corio_run_blocking_cb(loop, alloc_job, NULL, NULL, count_dispose), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(read_locked(&disposed), 1);

    assert_int_equal(corio_run_blocking_cb(loop, NULL, NULL, record_cb, NULL), -EINVAL);
    assert_int_equal(corio_run_blocking_cb(NULL, square, NULL, record_cb, NULL), -EINVAL);
    corio_loop_free(loop);
    assert_int_equal(cb_count, 1);
}

/* ---- a loop freed with jobs outstanding -------------------------------------------- */

static void test_loop_freed_while_a_job_runs_returns_at_once_and_the_job_is_disposed(void **state)
{
    (void)state;
    gate_reset();
    corio_loop_t *loop = support_loop(0);
    assert_int_equal(
        corio_run_blocking_cb(loop, gate_then_alloc, NULL, must_not_run_cb, count_dispose), 0);
    wait_until(&gate_waiting, 1);
    corio_loop_free(loop); /* does not wait for the gate */
    assert_int_equal(read_locked(&gate_waiting), 1);
    gate_open(); /* the worker finishes after the loop is gone: ASan watches it */
    wait_until(&disposed, 1);
    wait_pool_idle();
    assert_false(cb_ran);
}

static void test_loop_freed_with_a_finished_undelivered_job_disposes_it(void **state)
{
    (void)state;
    gate_reset();
    corio_loop_t *loop = support_loop(0);
    assert_int_equal(corio_run_blocking_cb(loop, alloc_job, NULL, must_not_run_cb, count_dispose),
                     0);
    wait_wakeup_posted(loop);
    corio_loop_free(loop); /* the wake-up is dropped; the result is disposed here */
    assert_int_equal(read_locked(&disposed), 1);
    assert_false(cb_ran);
}

static void *stopping_main(void *arg)
{
    (void)arg;
    corio_loop_stop(corio_current_loop());
    void *r = (void *)0x1;
    /* corio_run cancels this wait after the stop, then frees the loop. */
    int err = corio_run_blocking_ex(gate_then_alloc, NULL, count_dispose, &r);
    assert_ptr_equal(r, (void *)0x1);
    return (void *)(intptr_t)err;
}

static void
test_task_waiting_on_a_job_when_its_loop_stops_unwinds_and_the_loop_is_freed(void **state)
{
    (void)state;
    gate_reset();
    void *result = NULL;
    assert_int_equal(corio_run(stopping_main, NULL, &result), -ECANCELED);
    assert_int_equal((intptr_t)result, -ECANCELED);
    /* corio_run has freed the loop; the job may not even have started yet. */
    gate_open();
    wait_until(&disposed, 1);
    wait_pool_idle();
}

/* ---- fork and exit ----------------------------------------------------------------- */

static void *child_main(void *arg)
{
    (void)arg;
    void *r = NULL;
    if (corio_run_blocking(square, (void *)6, &r) != 0 || r != (void *)36)
        return (void *)1;
    /* A job that never finishes (the gate stays shut in the child), given up on. */
    corio_task_t *t;
    if (corio_spawn(NULL, plain_cancellable_waiter, NULL, &t) != 0)
        return (void *)2;
    corio_yield();
    wait_until(&gate_waiting, 1);
    corio_cancel(t);
    if (corio_join(t, &r) != -ECANCELED)
        return (void *)3;
    return NULL;
}

/* The child starts with an empty pool (the parent's workers are not in it), runs a job
 * on its own workers, leaves one blocked forever, and exits: exit() must not wait for
 * it. The parent gives the child 20 seconds, a generous bound for a prompt exit. */
static void test_a_forked_child_gets_its_own_pool_and_exits_with_a_job_still_blocked(void **state)
{
    (void)state;
    gate_reset();
    support_run(one_job_main, NULL); /* the parent's pool is running */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(0);
        void *r = (void *)1;
        int err = corio_run(child_main, NULL, &r);
        exit(err == 0 && r == NULL ? 0 : 10 + (int)(intptr_t)r);
    }
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    assert_true(pidfd >= 0);
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    int ready = poll(&p, 1, 20000);
    if (ready != 1)
        kill(pid, SIGKILL);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    close(pidfd);
    assert_int_equal(ready, 1); /* it exited in time */
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_stats_with_null_is_einval(void **state)
{
    (void)state;
    corio_executor_stats_t st;
    assert_int_equal(corio_executor_stats(NULL), -EINVAL);
    assert_int_equal(corio_executor_stats(&st), 0);
    assert_true(st.threads > 0);
}

int main(void)
{
    support_require_uring();
    support_watchdog(60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_configure_before_first_use_then_ebusy),
        cmocka_unit_test(test_stats_with_null_is_einval),
        cmocka_unit_test(test_run_blocking_returns_the_result_of_fn_run_on_a_worker),
        cmocka_unit_test(test_run_blocking_outside_a_task_is_eperm_and_fn_never_runs),
        cmocka_unit_test(test_64_jobs_on_4_workers_all_complete_with_the_right_results),
        cmocka_unit_test(test_jobs_beyond_the_workers_queue_and_start_in_fifo_order),
        cmocka_unit_test(test_other_tasks_keep_running_while_a_job_blocks),
        cmocka_unit_test(test_cancel_while_waiting_returns_at_once_and_the_late_result_is_disposed),
        cmocka_unit_test(test_cancel_without_a_disposer_discards_the_result_without_leaking),
        cmocka_unit_test(
            test_cancel_after_the_job_finished_but_before_delivery_disposes_the_result),
        cmocka_unit_test(test_deadline_returns_etimedout_while_the_job_runs_on),
        cmocka_unit_test(test_callback_form_runs_cb_on_the_loop_thread_and_keeps_the_loop_alive),
        cmocka_unit_test(test_loop_freed_while_a_job_runs_returns_at_once_and_the_job_is_disposed),
        cmocka_unit_test(test_loop_freed_with_a_finished_undelivered_job_disposes_it),
        cmocka_unit_test(
            test_task_waiting_on_a_job_when_its_loop_stops_unwinds_and_the_loop_is_freed),
        cmocka_unit_test(test_a_forked_child_gets_its_own_pool_and_exits_with_a_job_still_blocked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
