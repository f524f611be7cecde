/* Tests of multishot ops in coroutine mode (engine/multishot.c): results that arrive
 * while the task is busy queue up and come out in order; the end of stream, a reset peer,
 * -ENOBUFS and a restart; a deadline and a cancel while waiting lose nothing and leave the
 * op running; stop gives queued buffers back and closes queued fds; argument errors,
 * -EPERM outside a task, -EBUSY for a second user, a failed start leaving nothing to
 * stop; and a task that returns with a multishot it did not stop is reported and aborts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

/* The kernel lacks multishot recv (before 6.0) or buffer rings: say so and pass. */
static bool unsupported(int err)
{
    if (err == -EOPNOTSUPP) {
        print_message("multishot recv or accept needs a newer kernel: skipped\n");
        return true;
    }
    return false;
}

static void send_str(int fd, const char *s)
{
    assert_int_equal(send(fd, s, strlen(s), 0), (ssize_t)strlen(s));
}

/* Lets the loop enter the kernel once, so that data already sent has been received by
 * the multishot recv and its completion queued. */
static void let_kernel_post(void)
{
    assert_int_equal(corio_nop(), 0);
}

/* Takes the next result and checks it is exactly `want`; gives the buffer back. */
static void expect_next(corio_multishot_t *m, corio_bufring_t *br, const char *want)
{
    void *buf = NULL;
    ssize_t n = corio_multishot_next(m, &buf);
    assert_int_equal(n, (ssize_t)strlen(want));
    assert_non_null(buf);
    assert_memory_equal(buf, want, strlen(want));
    assert_int_equal(corio_bufring_put(br, buf), 0);
}

/* The result that ended m: anything but a byte count, and never with a buffer. */
static ssize_t next_end(corio_multishot_t *m)
{
    void *buf = (void *)1;
    ssize_t n = corio_multishot_next(m, &buf);
    assert_null(buf);
    return n;
}

/* ---- recv ----------------------------------------------------------------------------- */

/* A multishot recv m, started on the server end of a TCP pair into br (`buffers` buffers
 * of 64 bytes), for a test body to drive; the body stops m. The bufring is freed after:
 * that fails (-EBUSY) if the op did not really end. */
struct fixture {
    unsigned buffers;
    void (*body)(struct fixture *f);
    corio_bufring_t *br;
    int client, server;
    corio_multishot_t m;
};

static void close_client(struct fixture *f)
{
    close(f->client);
    f->client = -1;
}

static void *fixture_main(void *arg)
{
    struct fixture *f = arg;
    int err = corio_bufring_new(corio_current_loop(), f->buffers, 64, &f->br);
    if (err == 0) {
        support_tcp_pair(&f->client, &f->server);
        err = corio_recv_multishot(&f->m, f->server, f->br, 0);
        if (err == 0)
            f->body(f);
        if (f->client >= 0)
            close_client(f);
        close(f->server);
        assert_int_equal(corio_bufring_free(f->br), 0);
    }
    if (!unsupported(err))
        assert_int_equal(err, 0);
    return NULL;
}

static void run_fixture(unsigned buffers, void (*body)(struct fixture *f))
{
    struct fixture f = {.buffers = buffers, .body = body, .client = -1, .server = -1};
    support_run(fixture_main, &f);
}

static void queued_in_order(struct fixture *f)
{
    /* Three arrivals while the task does other things: three queued results. */
    const char *words[] = {"one", "two", "three"};
    for (int i = 0; i < 3; i++) {
        send_str(f->client, words[i]);
        let_kernel_post();
    }
    /* A recv result needs somewhere to put its buffer: refused, and not consumed. */
    assert_int_equal(corio_multishot_next(&f->m, NULL), -EINVAL);
    for (int i = 0; i < 3; i++)
        expect_next(&f->m, f->br, words[i]);
    /* The end of stream after the last result, on every call. */
    close_client(f);
    assert_int_equal(next_end(&f->m), 0);
    assert_int_equal(next_end(&f->m), 0);
    assert_int_equal(corio_multishot_stop(&f->m), 0);
    assert_int_equal(corio_multishot_stop(&f->m), 0); /* stopping twice is harmless */
}

static void test_results_that_arrive_while_busy_come_out_in_order_then_the_end(void **state)
{
    (void)state;
    run_fixture(8, queued_in_order);
}

static void reset_peer(struct fixture *f)
{
    send_str(f->client, "last words");
    let_kernel_post();
    support_close_with_reset(f->client);
    f->client = -1;
    expect_next(&f->m, f->br, "last words");
    assert_int_equal(next_end(&f->m), -ECONNRESET);
    assert_int_equal(corio_multishot_stop(&f->m), 0);
}

static void test_a_reset_peer_ends_it_after_the_data_that_came_before(void **state)
{
    (void)state;
    run_fixture(4, reset_peer);
}

static void ring_runs_dry(struct fixture *f)
{
    send_str(f->client, "first");
    let_kernel_post(); /* takes the only buffer */
    send_str(f->client, "second");
    let_kernel_post(); /* finds none: the op ends with -ENOBUFS */
    void *held = NULL;
    assert_int_equal(corio_multishot_next(&f->m, &held), 5);
    assert_memory_equal(held, "first", 5);
    assert_int_equal(next_end(&f->m), -ENOBUFS);
    /* Give the buffer back and start again: the second message was never consumed. */
    assert_int_equal(corio_bufring_put(f->br, held), 0);
    assert_int_equal(corio_recv_multishot(&f->m, f->server, f->br, 0), 0);
    expect_next(&f->m, f->br, "second");
    assert_int_equal(corio_multishot_stop(&f->m), 0);
}

static void test_a_dry_bufring_ends_it_with_enobufs_and_a_restart_loses_nothing(void **state)
{
    (void)state;
    run_fixture(1, ring_runs_dry);
}

static void stop_returns_buffers(struct fixture *f)
{
    send_str(f->client, "aa");
    let_kernel_post();
    send_str(f->client, "bb");
    let_kernel_post();
    /* Both buffers sit in untaken results: stop must hand them back... */
    assert_int_equal(corio_multishot_stop(&f->m), 0);
    /* ...or these two arrivals would find the ring dry. */
    assert_int_equal(corio_recv_multishot(&f->m, f->server, f->br, 0), 0);
    send_str(f->client, "cc");
    let_kernel_post();
    send_str(f->client, "dd");
    let_kernel_post();
    expect_next(&f->m, f->br, "cc");
    expect_next(&f->m, f->br, "dd");
    assert_int_equal(corio_multishot_stop(&f->m), 0);
    assert_int_equal(next_end(&f->m), -EINVAL); /* stopped: nothing left */
}

static void test_stop_gives_the_buffers_of_untaken_results_back(void **state)
{
    (void)state;
    run_fixture(2, stop_returns_buffers);
}

/* ---- waiting: deadline, cancel, a second user ------------------------------------------ */

static void deadline_while_waiting(struct fixture *f)
{
    assert_int_equal(corio_timeout_begin(20 * 1000000ull), 0);
    uint64_t t0 = support_now_ns();
    assert_int_equal(next_end(&f->m), -ETIMEDOUT);
    uint64_t waited = support_now_ns() - t0;
    corio_timeout_end();
    assert_true(waited >= 20 * 1000000ull);
    assert_true(waited < 2000 * 1000000ull);
    /* The op kept running: data sent now still arrives. */
    send_str(f->client, "late");
    expect_next(&f->m, f->br, "late");
    assert_int_equal(corio_multishot_stop(&f->m), 0);
}

static void test_a_deadline_while_waiting_times_out_and_the_op_keeps_running(void **state)
{
    (void)state;
    run_fixture(4, deadline_while_waiting);
}

struct waiter {
    corio_multishot_t *m;
    ssize_t next_res, stop_res;
    bool waiting;
};

static void *waiter_task(void *arg)
{
    struct waiter *w = arg;
    w->waiting = true;
    void *buf;
    w->next_res = corio_multishot_next(w->m, &buf);
    w->waiting = false;
    /* Cancelled, yet stop still waits for the op's last completion. */
    w->stop_res = corio_multishot_stop(w->m);
    return NULL;
}

static void cancelled_while_waiting(struct fixture *f)
{
    struct waiter w = {.m = &f->m};
    corio_task_t *task;
    assert_int_equal(corio_spawn(NULL, waiter_task, &w, &task), 0);
    corio_yield(); /* the waiter parks in next */
    assert_true(w.waiting);
    assert_int_equal(next_end(&f->m), -EBUSY); /* one user at a time */
    assert_int_equal(corio_multishot_stop(&f->m), -EBUSY);
    assert_int_equal(corio_cancel(task), 0);
    assert_int_equal(corio_join(task, NULL), -ECANCELED);
    assert_int_equal(w.next_res, -ECANCELED);
    assert_int_equal(w.stop_res, 0);
    assert_int_equal(next_end(&f->m), -EINVAL); /* stopped */
}

static void test_a_task_cancelled_while_waiting_gets_ecanceled_and_can_still_stop(void **state)
{
    (void)state;
    run_fixture(4, cancelled_while_waiting);
}

/* ---- accept --------------------------------------------------------------------------- */

static void *accept_main(void *arg)
{
    (void)arg;
    uint16_t port;
    int lfd = support_listener(&port);
    int before = support_count_fds();
    corio_multishot_t m = {0};
    int err = corio_accept_multishot(&m, lfd, SOCK_CLOEXEC);
    if (!unsupported(err)) {
        assert_int_equal(err, 0);
        int clients[5];
        for (int i = 0; i < 5; i++) {
            clients[i] = support_connect(port);
            let_kernel_post();
        }
        /* Three taken and checked to be sockets; two left queued for stop to close. */
        for (int i = 0; i < 3; i++) {
            int fd = (int)corio_multishot_next(&m, NULL);
            assert_true(fd >= 0);
            int type = 0;
            socklen_t len = sizeof type;
            assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len), 0);
            assert_int_equal(type, SOCK_STREAM);
            assert_int_equal(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
            close(fd);
        }
        assert_int_equal(corio_multishot_stop(&m), 0);
        for (int i = 0; i < 5; i++)
            close(clients[i]);
        assert_int_equal(support_count_fds(), before); /* nothing leaked */
    }
    close(lfd);
    return NULL;
}

static void test_accept_results_are_fds_and_stop_closes_the_untaken_ones(void **state)
{
    (void)state;
    support_run(accept_main, NULL);
}

/* ---- misuse --------------------------------------------------------------------------- */

static void *arguments_main(void *arg)
{
    (void)arg;
    corio_multishot_t m = {0};
    assert_int_equal(corio_multishot_next(&m, NULL), -EINVAL); /* never started */
    assert_int_equal(corio_multishot_next(NULL, NULL), -EINVAL);
    assert_int_equal(corio_multishot_stop(NULL), -EINVAL);
    assert_int_equal(corio_multishot_stop(&m), 0); /* never started: nothing to do */
    assert_int_equal(corio_multishot_cancel(NULL), -EINVAL);
    assert_int_equal(corio_multishot_cancel(&m), 0);
    assert_int_equal(corio_multishot_pending(NULL), 0);
    assert_int_equal(corio_recv_multishot(&m, 0, NULL, 0), -EINVAL);
    assert_int_equal(corio_accept_multishot(NULL, 0, 0), -EINVAL);
    assert_int_equal(corio_accept_multishot(&m, -1, 0), -EBADF);
    corio_bufring_t *br;
    if (!unsupported(corio_bufring_new(corio_current_loop(), 2, 64, &br))) {
        assert_int_equal(corio_recv_multishot(NULL, 0, br, 0), -EINVAL);
        assert_int_equal(corio_recv_multishot(&m, -1, br, 0), -EBADF);
        assert_int_equal(corio_bufring_free(br), 0);
    }
    return NULL;
}

static void test_bad_arguments_are_refused(void **state)
{
    (void)state;
    support_run(arguments_main, NULL);
}

static void second_start_and_refused_restart(struct fixture *f)
{
    assert_int_equal(corio_recv_multishot(&f->m, f->server, f->br, 0), -EBUSY);
    /* Ended by the peer, then a refused restart: m is left stopped, so this task may
     * return without a stop (it would abort otherwise, see the last test). */
    send_str(f->client, "x");
    close_client(f);
    expect_next(&f->m, f->br, "x");
    assert_int_equal(next_end(&f->m), 0);
    assert_int_equal(corio_recv_multishot(&f->m, -1, f->br, 0), -EBADF);
    assert_int_equal(next_end(&f->m), -EINVAL);
}

static void test_a_second_start_is_ebusy_and_a_refused_restart_leaves_it_stopped(void **state)
{
    (void)state;
    run_fixture(2, second_start_and_refused_restart);
}

static void test_outside_a_task_the_calls_return_eperm(void **state)
{
    (void)state;
    corio_multishot_t m = {0};
    assert_int_equal(corio_accept_multishot(&m, 0, 0), -EPERM);
    assert_int_equal(corio_multishot_stop(&m), 0); /* never started */
}

static void *leaves_it_unstopped(void *arg)
{
    (void)arg;
    uint16_t port;
    int lfd = support_listener(&port);
    static corio_multishot_t m; /* outlives the task: only the report is under test */
    int err = corio_accept_multishot(&m, lfd, 0);
    if (err == -EOPNOTSUPP)
        exit(77);
    return NULL; /* started and not stopped: must be reported */
}

static void test_a_task_returning_with_a_multishot_it_did_not_stop_is_reported(void **state)
{
    (void)state;
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(20);
        dup2(pipefd[1], STDERR_FILENO);
        (void)corio_run(leaves_it_unstopped, NULL, NULL);
        _exit(0); /* not reported: the parent fails the test */
    }
    close(pipefd[1]);
    char out[1024] = {0};
    size_t got = 0;
    ssize_t n;
    while (got < sizeof out - 1 && (n = read(pipefd[0], out + got, sizeof out - 1 - got)) > 0)
        got += (size_t)n;
    close(pipefd[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
        print_message("multishot accept needs Linux 5.19: skipped\n");
        return;
    }
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    assert_non_null(strstr(out, "did not stop"));
    assert_non_null(strstr(out, "corio_multishot_stop"));
}

int main(void)
{
    support_require_uring();
    support_watchdog(60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_results_that_arrive_while_busy_come_out_in_order_then_the_end),
        cmocka_unit_test(test_a_reset_peer_ends_it_after_the_data_that_came_before),
        cmocka_unit_test(test_a_dry_bufring_ends_it_with_enobufs_and_a_restart_loses_nothing),
        cmocka_unit_test(test_stop_gives_the_buffers_of_untaken_results_back),
        cmocka_unit_test(test_a_deadline_while_waiting_times_out_and_the_op_keeps_running),
        cmocka_unit_test(test_a_task_cancelled_while_waiting_gets_ecanceled_and_can_still_stop),
        cmocka_unit_test(test_accept_results_are_fds_and_stop_closes_the_untaken_ones),
        cmocka_unit_test(test_bad_arguments_are_refused),
        cmocka_unit_test(test_a_second_start_is_ebusy_and_a_refused_restart_leaves_it_stopped),
        cmocka_unit_test(test_outside_a_task_the_calls_return_eperm),
        cmocka_unit_test(test_a_task_returning_with_a_multishot_it_did_not_stop_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
