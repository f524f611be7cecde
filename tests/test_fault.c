/* Injected failures (engine/fault.h; built with CORIO_FAULT_INJECTION): a full SQ, submits
 * refused with -EAGAIN/-EBUSY/-EINTR or a fatal error, completions carrying -ENOBUFS or
 * -ECANCELED, genuinely short transfers, and allocation, mmap and ring set-up failures.
 * Each must be retried, reported to the caller, or surfaced as a clear message: never a
 * crash, a hang, a leak (the sanitizer build runs this) or a lost completion; an executor
 * worker that cannot be started refuses or queues the job; a multishot without memory is
 * refused or closes the connection that does not fit. A real CQ
 * overflow is provoked in test_op.c, without injection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fault.h"
#include "support.h"

#define NOPS 1000

static int reset_faults(void **state)
{
    (void)state;
    corio_fault_reset();
    return 0;
}

/* ---- the SQ and submits ------------------------------------------------------------ */

static corio_op_t ops[NOPS];
static int delivered[NOPS], bad_res;

static void note_delivery(corio_op_t *op, int res)
{
    delivered[op - ops]++;
    if (res != 0)
        bad_res++;
}

/* Starts NOPS nops in one go and runs the loop: every one must be delivered once. */
static void run_nops(corio_loop_t *loop)
{
    memset(delivered, 0, sizeof delivered);
    bad_res = 0;
    for (int i = 0; i < NOPS; i++) {
        ops[i] = (corio_op_t){0};
        assert_int_equal(corio_nop_cb(loop, &ops[i], note_delivery), 0);
    }
    assert_int_equal(corio_loop_run(loop), 0);
    for (int i = 0; i < NOPS; i++)
        assert_int_equal(delivered[i], 1);
    assert_int_equal(bad_res, 0);
}

/* The SQ and io_uring_enter are io_uring's: on epoll there is nothing to find full or
 * refuse. */
static void require_uring(void)
{
    if (!support_on_uring()) {
        print_message("skipped: io_uring's submission queue (this loop runs on %s)\n",
                      support_backend());
        skip();
    }
}

static void test_sq_found_full_is_flushed_and_retried(void **state)
{
    (void)state;
    require_uring();
    corio_loop_t *loop = support_loop(64);
    corio_loop_stats_t before, after;
    corio_loop_stats(loop, &before);
    corio_fault_arm(CORIO_FAULT_SQE_NULL, 0, 300, 0);
    run_nops(loop);
    corio_loop_stats(loop, &after);
    assert_int_equal(corio_fault_fired(CORIO_FAULT_SQE_NULL), 300);
    assert_true(after.sq_full - before.sq_full >= 300);
    corio_loop_free(loop);
}

static void submits_refused_with(int err)
{
    require_uring();
    corio_loop_t *loop = support_loop(16); /* a small SQ: starting 1000 ops flushes often */
    corio_fault_arm(CORIO_FAULT_SUBMIT, 0, 40, err);
    run_nops(loop);
    assert_int_equal(corio_fault_fired(CORIO_FAULT_SUBMIT), 40);
    corio_loop_free(loop);
}

static void test_submit_eagain_is_retried(void **state)
{
    (void)state;
    submits_refused_with(-EAGAIN);
}

static void test_submit_ebusy_is_retried(void **state)
{
    (void)state;
    submits_refused_with(-EBUSY);
}

static void test_submit_eintr_is_retried(void **state)
{
    (void)state;
    submits_refused_with(-EINTR);
}

static void test_a_fatal_submit_error_ends_the_run_and_the_loop_still_frees(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    memset(delivered, 0, sizeof delivered);
    ops[0] = (corio_op_t){0};
    assert_int_equal(corio_nop_cb(loop, &ops[0], note_delivery), 0);
    corio_fault_arm(CORIO_FAULT_SUBMIT, 0, 1, -EFAULT);
    assert_int_equal(corio_loop_run(loop), -EFAULT); /* reported to the caller */
    assert_int_equal(delivered[0], 0);
    /* The loop is still usable: the op was never lost, a second run delivers it. */
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(delivered[0], 1);
    corio_loop_free(loop);
}

/* ---- completions -------------------------------------------------------------------- */

struct recv_case {
    int fd;
    ssize_t first, second;
    char buf[16];
};

static void *recv_twice(void *arg)
{
    struct recv_case *r = arg;
    r->first = corio_recv(r->fd, r->buf, sizeof r->buf, 0);
    r->second = corio_recv(r->fd, r->buf, sizeof r->buf, 0);
    return NULL;
}

/* A completion with an error the op did not cause reaches the caller as it is, and the
 * task (not cancelled) goes on: the next call works. */
static void completion_carries(int err)
{
    int client, server;
    support_tcp_pair(&client, &server);
    assert_int_equal(send(client, "abc", 3, 0), 3);
    shutdown(client, SHUT_WR);
    struct recv_case r = {.fd = server};
    corio_fault_arm(CORIO_FAULT_CQE_RES, 0, 1, err);
    support_run(recv_twice, &r);
    assert_int_equal(r.first, err);
    /* The kernel did read "abc" for the first recv (its result was replaced), so the
     * second sees what follows: the end of the stream. */
    assert_int_equal(r.second, 0);
    close(client);
    close(server);
}

static void test_completion_with_enobufs_reaches_the_caller(void **state)
{
    (void)state;
    completion_carries(-ENOBUFS);
}

static void test_completion_with_ecanceled_reaches_an_uncancelled_task(void **state)
{
    (void)state;
    completion_carries(-ECANCELED);
}

static void test_callback_gets_the_injected_result_once(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    corio_fault_arm(CORIO_FAULT_CQE_RES, 3, 1, -ENOBUFS); /* the 4th completion */
    memset(delivered, 0, sizeof delivered);
    bad_res = 0;
    for (int i = 0; i < 8; i++) {
        ops[i] = (corio_op_t){0};
        assert_int_equal(corio_nop_cb(loop, &ops[i], note_delivery), 0);
    }
    assert_int_equal(corio_loop_run(loop), 0);
    for (int i = 0; i < 8; i++)
        assert_int_equal(delivered[i], 1);
    assert_int_equal(bad_res, 1);
    corio_loop_free(loop);
}

/* ---- short transfers ---------------------------------------------------------------- */

#define STREAM_BYTES (256 * 1024)

struct transfer {
    int fd;
    unsigned char *data;
    ssize_t res;
};

static unsigned char pattern(size_t i)
{
    return (unsigned char)(i * 31 + 7);
}

static void *write_through_stream(void *arg)
{
    struct transfer *t = arg;
    char wbuf[4096];
    corio_stream_t s;
    assert_int_equal(corio_stream_init(&s, t->fd, NULL, 0, wbuf, sizeof wbuf), 0);
    t->res = corio_stream_write_all(&s, t->data, STREAM_BYTES);
    return NULL;
}

static void *read_through_stream(void *arg)
{
    struct transfer *t = arg;
    char rbuf[4096];
    corio_stream_t s;
    assert_int_equal(corio_stream_init(&s, t->fd, rbuf, sizeof rbuf, NULL, 0), 0);
    t->res = corio_stream_read_exactly(&s, t->data, STREAM_BYTES);
    return NULL;
}

static void *both_ends(void *arg)
{
    struct transfer *pair = arg;
    corio_task_t *w, *r;
    assert_int_equal(corio_spawn(NULL, write_through_stream, &pair[0], &w), 0);
    assert_int_equal(corio_spawn(NULL, read_through_stream, &pair[1], &r), 0);
    assert_int_equal(corio_join(w, NULL), 0);
    assert_int_equal(corio_join(r, NULL), 0);
    return NULL;
}

static void test_short_sends_and_recvs_lose_no_byte_through_streams(void **state)
{
    (void)state;
    int client, server;
    support_tcp_pair(&client, &server);
    unsigned char *out = malloc(STREAM_BYTES), *in = calloc(1, STREAM_BYTES);
    for (size_t i = 0; i < STREAM_BYTES; i++)
        out[i] = pattern(i);
    struct transfer pair[2] = {{.fd = client, .data = out}, {.fd = server, .data = in}};
    corio_fault_arm(CORIO_FAULT_SHORT, 0, 100000, 0); /* every transfer asks for half */
    support_run(both_ends, pair);
    assert_true(corio_fault_fired(CORIO_FAULT_SHORT) > 10);
    assert_int_equal(pair[0].res, STREAM_BYTES);
    assert_int_equal(pair[1].res, STREAM_BYTES);
    assert_memory_equal(in, out, STREAM_BYTES);
    free(out);
    free(in);
    close(client);
    close(server);
}

static void *short_file_read(void *arg)
{
    int fd = *(int *)arg;
    char buf[1000];
    /* Asked for 1000 at offset 10, the kernel is asked for 500: a short read, not more. */
    assert_int_equal(corio_read(fd, buf, sizeof buf, 10), 500);
    for (size_t i = 0; i < 500; i++)
        assert_int_equal((unsigned char)buf[i], (unsigned char)((10 + i) * 7 + 3));
    return NULL;
}

static void test_short_file_read_returns_the_short_count(void **state)
{
    (void)state;
    int fd = support_pattern_file(4096);
    corio_fault_arm(CORIO_FAULT_SHORT, 0, 1, 0);
    support_run(short_file_read, &fd);
    assert_int_equal(corio_fault_fired(CORIO_FAULT_SHORT), 1);
    close(fd);
}

/* ---- allocation, mmap and set-up failures ------------------------------------------- */

static void test_loop_new_fails_cleanly_at_every_allocation(void **state)
{
    (void)state;
    /* Fail the 1st allocation, then the 2nd, ... until creating a loop allocates less
     * than that: each failure must be -ENOMEM and leak nothing (checked by ASan). */
    int failures = 0;
    for (unsigned skip = 0; skip < 64; skip++) {
        corio_fault_arm(CORIO_FAULT_ALLOC, skip, 1, 0);
        corio_loop_t *loop = NULL;
        int err = corio_loop_new(&loop, NULL);
        unsigned fired = corio_fault_fired(CORIO_FAULT_ALLOC);
        corio_fault_reset();
        if (fired == 0) { /* this many allocations succeed: the loop was made */
            assert_int_equal(err, 0);
            corio_loop_free(loop);
            break;
        }
        assert_int_equal(err, -ENOMEM);
        assert_null(loop);
        failures++;
    }
    assert_true(failures >= 2); /* the loop and its ring, at least */
}

static void never(void *arg)
{
    (void)arg;
    fail_msg("a callback whose scheduling failed ran");
}

static void test_call_soon_and_call_later_report_enomem_and_schedule_nothing(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    corio_fault_arm(CORIO_FAULT_ALLOC, 0, 2, 0);
    assert_int_equal(corio_call_soon(loop, never, NULL), -ENOMEM);
    corio_timer_t *t = (corio_timer_t *)1;
    assert_int_equal(corio_call_later(loop, 1000, never, NULL, &t), -ENOMEM);
    assert_int_equal(corio_loop_run(loop), 0); /* nothing to run: returns at once */
    corio_loop_free(loop);
}

static void *empty(void *arg)
{
    return arg;
}

static void test_spawn_without_a_stack_is_enomem_and_the_next_works(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    /* a slab, then (as under a tight RLIMIT_AS) a single slot: both refused */
    corio_fault_arm(CORIO_FAULT_MMAP, 0, 2, 0);
    corio_task_t *t = NULL;
    assert_int_equal(corio_spawn(loop, empty, NULL, &t), -ENOMEM);
    assert_null(t);
    assert_int_equal(corio_spawn(loop, empty, NULL, NULL), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    corio_loop_free(loop);
}

static void test_bufring_new_without_memory_is_enomem(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    corio_bufring_t *br = NULL;
    for (unsigned skip = 0; skip < 2; skip++) { /* the buffers, then the descriptor ring */
        corio_fault_arm(CORIO_FAULT_MMAP, skip, 1, 0);
        int err = corio_bufring_new(loop, 8, 4096, &br);
        if (err == -EOPNOTSUPP)
            break;
        assert_int_equal(err, -ENOMEM);
        assert_null(br);
    }
    corio_fault_arm(CORIO_FAULT_ALLOC, 0, 1, 0);
    int err = corio_bufring_new(loop, 8, 4096, &br);
    assert_true(err == -ENOMEM || err == -EOPNOTSUPP);
    corio_loop_free(loop);
}

#define ACCEPT_QUEUE_START 16 /* engine/multishot.c */

static void *multishot_without_memory_main(void *arg)
{
    (void)arg;
    uint16_t port;
    int lfd = support_listener(&port);
    int fds_before = support_count_fds();
    corio_multishot_t m = {0};
    /* No memory for the queue: refused, and m is left with nothing to stop. */
    corio_fault_arm(CORIO_FAULT_ALLOC, 0, 1, 0);
    int err = corio_accept_multishot(&m, lfd, SOCK_CLOEXEC);
    if (err == -EOPNOTSUPP) {
        close(lfd);
        return NULL;
    }
    assert_int_equal(err, -ENOMEM);
    assert_int_equal(corio_multishot_next(&m, NULL), -EINVAL);

    /* A full accept queue that cannot grow: the connection that does not fit is closed,
     * the others stay queued. */
    assert_int_equal(corio_accept_multishot(&m, lfd, SOCK_CLOEXEC), 0);
    int clients[ACCEPT_QUEUE_START + 1];
    for (int i = 0; i <= ACCEPT_QUEUE_START; i++) {
        if (i == ACCEPT_QUEUE_START)
            corio_fault_arm(CORIO_FAULT_ALLOC, 0, 1, 0);
        clients[i] = support_connect(port);
        assert_int_equal(corio_nop(), 0); /* the accept completes */
    }
    assert_int_equal(corio_fault_fired(CORIO_FAULT_ALLOC), 1);
    assert_int_equal(corio_multishot_pending(&m), ACCEPT_QUEUE_START);
    char c;
    assert_int_equal(recv(clients[ACCEPT_QUEUE_START], &c, 1, MSG_DONTWAIT), 0); /* closed */
    for (int i = 0; i < ACCEPT_QUEUE_START; i++) {
        int fd = (int)corio_multishot_next(&m, NULL);
        assert_true(fd >= 0);
        close(fd);
    }
    assert_int_equal(corio_multishot_stop(&m), 0);
    for (int i = 0; i <= ACCEPT_QUEUE_START; i++)
        close(clients[i]);
    assert_int_equal(support_count_fds(), fds_before);
    close(lfd);
    return NULL;
}

static void test_multishot_without_memory_is_refused_or_closes_what_does_not_fit(void **state)
{
    (void)state;
    support_run(multishot_without_memory_main, NULL);
}

/* A multishot recv's queue is linked through its bufring: with every allocation refused it
 * starts and queues as many results as arrive (issue 20: an idle connection holds no queue
 * of its own). */
#define RECV_MESSAGES 40
static void *multishot_recv_without_memory_main(void *arg)
{
    (void)arg;
    corio_bufring_t *br;
    int err = corio_bufring_new(corio_current_loop(), 64, 256, &br);
    if (err == -EOPNOTSUPP)
        return NULL; /* the epoll backend has no bufrings */
    assert_int_equal(err, 0);
    int client, server;
    support_tcp_pair(&client, &server);
    corio_multishot_t m = {0};
    corio_fault_arm(CORIO_FAULT_ALLOC, 0, 1000000, 0);
    err = corio_recv_multishot(&m, server, br, 0);
    if (err == -EOPNOTSUPP) {
        corio_fault_reset();
        close(client);
        close(server);
        return NULL;
    }
    assert_int_equal(err, 0);
    char msg[RECV_MESSAGES];
    for (int i = 0; i < RECV_MESSAGES; i++) {
        msg[i] = (char)('a' + i % 26);
        assert_int_equal(send(client, &msg[i], 1, 0), 1);
        assert_int_equal(corio_nop(), 0); /* its completion is queued */
    }
    unsigned queued = corio_multishot_pending(&m);
    assert_true(queued >= 1);
    char got[RECV_MESSAGES];
    size_t n = 0;
    while (n < RECV_MESSAGES) {
        void *buf;
        ssize_t r = corio_multishot_next(&m, &buf);
        assert_true(r > 0);
        memcpy(got + n, buf, (size_t)r);
        n += (size_t)r;
        assert_int_equal(corio_bufring_put(br, buf), 0);
    }
    assert_memory_equal(got, msg, RECV_MESSAGES); /* in order, nothing lost */
    assert_int_equal(corio_fault_fired(CORIO_FAULT_ALLOC), 0);
    corio_fault_reset();
    assert_int_equal(corio_multishot_stop(&m), 0);
    close(client);
    close(server);
    assert_int_equal(corio_bufring_free(br), 0);
    return NULL;
}

static void test_multishot_recv_needs_no_allocation(void **state)
{
    (void)state;
    support_run(multishot_recv_without_memory_main, NULL);
}

static void test_ring_setup_failures_come_with_their_remedy(void **state)
{
    (void)state;
    /* The options decide here, not the environment (the epoll pass sets CORIO_BACKEND). */
    char *env = getenv("CORIO_BACKEND") ? strdup(getenv("CORIO_BACKEND")) : NULL;
    unsetenv("CORIO_BACKEND");
    static const struct {
        int err;
        const char *says;
    } cases[] = {{-EPERM, "io_uring"}, {-ENOSYS, "io_uring"}, {-ENOMEM, "ulimit -l"}};
    corio_loop_opts_t uring_only = {.backend = CORIO_BACKEND_IO_URING};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        /* io_uring asked for: the error, with its remedy. */
        corio_fault_arm(CORIO_FAULT_RING_SETUP, 0, 1, cases[i].err);
        corio_loop_t *loop = NULL;
        assert_int_equal(corio_loop_new(&loop, &uring_only), cases[i].err);
        assert_null(loop);
        const char *hint = corio_loop_setup_hint(cases[i].err);
        if (strstr(hint, cases[i].says) == NULL)
            fail_msg("hint for %d does not mention '%s': %s", cases[i].err, cases[i].says, hint);
        /* The default: blocked or absent io_uring falls back to epoll and says why; out
         * of memory is no reason to run elsewhere. */
        corio_fault_arm(CORIO_FAULT_RING_SETUP, 0, 1, cases[i].err);
        int err = corio_loop_new(&loop, NULL);
        if (cases[i].err == -ENOMEM) {
            assert_int_equal(err, -ENOMEM);
            continue;
        }
        assert_int_equal(err, 0);
        assert_string_equal(corio_loop_backend(loop), "epoll");
        assert_int_equal(corio_loop_fallback_error(loop), cases[i].err);
        corio_loop_free(loop);
    }
    /* corio_run passes the error on instead of running anything, when io_uring is
     * required (here through the environment, which overrides the options)... */
    setenv("CORIO_BACKEND", "io_uring", 1);
    corio_fault_arm(CORIO_FAULT_RING_SETUP, 0, 1, -EPERM);
    assert_int_equal(corio_run(empty, NULL, NULL), -EPERM);
    /* ... and runs on epoll when it is not. */
    setenv("CORIO_BACKEND", "auto", 1);
    corio_fault_arm(CORIO_FAULT_RING_SETUP, 0, 1, -EPERM);
    assert_int_equal(corio_run(empty, NULL, NULL), 0);
    corio_fault_reset();
    if (env != NULL)
        setenv("CORIO_BACKEND", env, 1);
    else
        unsetenv("CORIO_BACKEND");
    free(env);
}

/* ---- executor threads --------------------------------------------------------------- */

static sem_t release_first;
static atomic_int first_running, quick_runs;

static void *block_until_released(void *arg)
{
    atomic_store(&first_running, 1);
    while (sem_wait(&release_first) != 0)
        ;
    return arg;
}

static void *quick(void *arg)
{
    atomic_fetch_add(&quick_runs, 1);
    return arg;
}

static void never_called(void *arg, void *result)
{
    (void)arg;
    (void)result;
    fail_msg("a refused job's callback ran");
}

static void *run_job(void *fn)
{
    void *result = NULL;
    assert_int_equal(corio_run_blocking((void *(*)(void *))fn, &quick_runs, &result), 0);
    assert_ptr_equal(result, &quick_runs);
    return NULL;
}

/* No worker thread can be started: with none running, the job is refused with the error
 * and never runs; with one running, the job waits for it instead. */
static void *thread_failure_main(void *arg)
{
    (void)arg;
    corio_executor_stats_t st;
    corio_executor_stats(&st);
    assert_int_equal(st.started, 0); /* this process has no worker yet */

    corio_fault_arm(CORIO_FAULT_THREAD, 0, 2, -EAGAIN);
    assert_int_equal(corio_run_blocking(quick, NULL, NULL), -EAGAIN);
    assert_int_equal(corio_run_blocking_cb(corio_current_loop(), quick, NULL, never_called, NULL),
                     -EAGAIN);
    assert_int_equal(corio_fault_fired(CORIO_FAULT_THREAD), 2);
    corio_executor_stats(&st);
    assert_int_equal(st.started, 0);
    assert_int_equal(st.queued, 0);
    assert_int_equal(atomic_load(&quick_runs), 0);

    /* One worker starts and blocks in the first job; starting a second fails. */
    assert_int_equal(sem_init(&release_first, 0, 0), 0);
    corio_task_t *first, *second;
    assert_int_equal(corio_spawn(NULL, run_job, (void *)block_until_released, &first), 0);
    uint64_t give_up = support_now_ns() + 10ull * 1000 * 1000 * 1000;
    while (!atomic_load(&first_running) && support_now_ns() < give_up)
        corio_yield();
    assert_true(atomic_load(&first_running));
    corio_fault_arm(CORIO_FAULT_THREAD, 0, 1, -EAGAIN);
    assert_int_equal(corio_spawn(NULL, run_job, (void *)quick, &second), 0);
    corio_yield(); /* the second task submits its job */
    assert_int_equal(corio_fault_fired(CORIO_FAULT_THREAD), 1);
    corio_executor_stats(&st);
    assert_int_equal(st.started, 1);
    assert_int_equal(st.queued, 1); /* waiting for the one worker */
    assert_int_equal(sem_post(&release_first), 0);
    assert_int_equal(corio_join(first, NULL), 0);
    assert_int_equal(corio_join(second, NULL), 0);
    assert_int_equal(atomic_load(&quick_runs), 1);
    sem_destroy(&release_first);
    return NULL;
}

static void test_executor_thread_start_failure_refuses_or_queues(void **state)
{
    (void)state;
    support_run(thread_failure_main, NULL);
}

int main(void)
{
    support_require_uring();
    support_watchdog(60);
    const struct CMUnitTest tests[] = {
        /* First: it needs a process with no executor worker yet. */
        cmocka_unit_test_setup(test_executor_thread_start_failure_refuses_or_queues, reset_faults),
        cmocka_unit_test_setup(test_sq_found_full_is_flushed_and_retried, reset_faults),
        cmocka_unit_test_setup(test_submit_eagain_is_retried, reset_faults),
        cmocka_unit_test_setup(test_submit_ebusy_is_retried, reset_faults),
        cmocka_unit_test_setup(test_submit_eintr_is_retried, reset_faults),
        cmocka_unit_test_setup(test_a_fatal_submit_error_ends_the_run_and_the_loop_still_frees,
                               reset_faults),
        cmocka_unit_test_setup(test_completion_with_enobufs_reaches_the_caller, reset_faults),
        cmocka_unit_test_setup(test_completion_with_ecanceled_reaches_an_uncancelled_task,
                               reset_faults),
        cmocka_unit_test_setup(test_callback_gets_the_injected_result_once, reset_faults),
        cmocka_unit_test_setup(test_short_sends_and_recvs_lose_no_byte_through_streams,
                               reset_faults),
        cmocka_unit_test_setup(test_short_file_read_returns_the_short_count, reset_faults),
        cmocka_unit_test_setup(test_loop_new_fails_cleanly_at_every_allocation, reset_faults),
        cmocka_unit_test_setup(test_call_soon_and_call_later_report_enomem_and_schedule_nothing,
                               reset_faults),
        cmocka_unit_test_setup(test_spawn_without_a_stack_is_enomem_and_the_next_works,
                               reset_faults),
        cmocka_unit_test_setup(test_bufring_new_without_memory_is_enomem, reset_faults),
        cmocka_unit_test_setup(test_multishot_without_memory_is_refused_or_closes_what_does_not_fit,
                               reset_faults),
        cmocka_unit_test_setup(test_multishot_recv_needs_no_allocation, reset_faults),
        cmocka_unit_test_setup(test_ring_setup_failures_come_with_their_remedy, reset_faults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
