/* Tests of the TCP helpers (engine/net.c): listen and dial over 127.0.0.1, names resolved
 * on the executor, the errors of refused ports, unresolvable names, ports in use and bad
 * arguments, deadlines and cancels while connecting (no fd left behind), and the socket
 * options. Servers listen on 127.0.0.1 only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "support.h"

#define MS  1000000ull
#define SEC (1000 * MS)

static bool has_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFD);
    assert_true(fl >= 0);
    return (fl & FD_CLOEXEC) != 0;
}

static bool is_nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    assert_true(fl >= 0);
    return (fl & O_NONBLOCK) != 0;
}

static int get_int(int fd, int level, int name)
{
    int v = -1;
    socklen_t len = sizeof v;
    assert_int_equal(getsockopt(fd, level, name, &v, &len), 0);
    return v;
}

static uint16_t listen_port(int lfd)
{
    int port = corio_sock_port(lfd);
    assert_true(port > 0);
    return (uint16_t)port;
}

/* A listener whose accept queue is full: with backlog 0 the kernel queues one
 * connection, and drops the SYNs of later ones, so their connects hang until given up. */
static int full_listener(uint16_t *port, int *filler)
{
    int lfd = corio_listen("127.0.0.1", 0, 0);
    assert_true(lfd >= 0);
    *port = listen_port(lfd);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(*port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    *filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(*filler >= 0);
    assert_int_equal(connect(*filler, (struct sockaddr *)&a, sizeof a), 0);
    return lfd;
}

/* ---- listen and dial --------------------------------------------------------------- */

static void *echo_server(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    int fd = corio_accept(lfd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(fd >= 0);
    char buf[16];
    ssize_t n = corio_recv(fd, buf, sizeof buf, 0);
    assert_int_equal(n, 4);
    assert_memory_equal(buf, "ping", 4);
    assert_int_equal(corio_send(fd, "pong", 4, 0), 4);
    assert_int_equal(corio_close(fd), 0);
    return NULL;
}

/* Dials host:port of a fresh echo server on lfd, exchanges "ping"/"pong", closes. */
static void exchange_with(int lfd, const char *host)
{
    corio_task_t *server;
    assert_int_equal(corio_spawn(NULL, echo_server, (void *)(intptr_t)lfd, &server), 0);
    int fd = corio_dial(host, listen_port(lfd));
    assert_true(fd >= 0);
    assert_true(has_cloexec(fd));
    assert_false(is_nonblocking(fd));
    assert_int_equal(corio_send(fd, "ping", 4, 0), 4);
    char buf[16];
    assert_int_equal(corio_recv(fd, buf, sizeof buf, 0), 4);
    assert_memory_equal(buf, "pong", 4);
    assert_int_equal(corio_recv(fd, buf, sizeof buf, 0), 0); /* the server closed */
    assert_int_equal(corio_join(server, NULL), 0);
    assert_int_equal(corio_close(fd), 0);
}

static void *listen_dial_main(void *arg)
{
    (void)arg;
    int lfd = corio_listen("127.0.0.1", 0, 16);
    assert_true(lfd >= 0);
    assert_true(has_cloexec(lfd));
    assert_false(is_nonblocking(lfd));
    assert_int_equal(get_int(lfd, SOL_SOCKET, SO_REUSEADDR), 1);
    assert_int_equal(get_int(lfd, SOL_SOCKET, SO_ACCEPTCONN), 1);
    exchange_with(lfd, "127.0.0.1");
    assert_int_equal(corio_close(lfd), 0);
    return NULL;
}

static void test_listen_on_loopback_port_0_then_dial_it_and_exchange_bytes(void **state)
{
    (void)state;
    support_run(listen_dial_main, NULL);
}

static void test_listen_with_a_null_host_binds_the_loopback_address(void **state)
{
    (void)state;
    /* Numeric and NULL hosts need no task. */
    int lfd = corio_listen(NULL, 0, 4);
    assert_true(lfd >= 0);
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
    assert_int_equal(a.sin_family, AF_INET);
    assert_int_equal(ntohl(a.sin_addr.s_addr), INADDR_LOOPBACK);
    close(lfd);
}

static void *dial_name_main(void *arg)
{
    (void)arg;
    int lfd = corio_listen("127.0.0.1", 0, 16);
    assert_true(lfd >= 0);
    corio_executor_stats_t before, after;
    corio_executor_stats(&before);
    exchange_with(lfd, "localhost");
    corio_executor_stats(&after);
    assert_true(after.done > before.done); /* the name was resolved on a worker */

    /* A name works for listen too (inside a task). */
    int lfd2 = corio_listen("localhost", 0, 4);
    assert_true(lfd2 >= 0);
    exchange_with(lfd2, "localhost");
    close(lfd2);
    close(lfd);
    return NULL;
}

static void test_dial_resolves_a_name_on_the_executor_and_connects(void **state)
{
    (void)state;
    support_run(dial_name_main, NULL);
}

/* ---- errors ------------------------------------------------------------------------ */

static void *refused_main(void *arg)
{
    (void)arg;
    uint16_t port = support_refused_port(); /* its first call opens a socket */
    int before = support_count_fds();
    assert_int_equal(corio_dial("127.0.0.1", port), -ECONNREFUSED);
    assert_int_equal(corio_dial("localhost", port), -ECONNREFUSED);
    assert_int_equal(support_count_fds(), before); /* the failed sockets were closed */
    return NULL;
}

static void test_dial_a_refused_port_returns_econnrefused_and_leaks_no_fd(void **state)
{
    (void)state;
    support_run(refused_main, NULL);
}

static void *invalid_name_main(void *arg)
{
    (void)arg;
    static const char *names[] = {"no-such-host.invalid", "invalid", "X.Y.INVALID.",
                                  "corio.test.invalid"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        uint64_t t0 = support_now_ns();
        assert_int_equal(corio_dial(names[i], 80), CORIO_ENONAME);
        assert_true(support_now_ns() - t0 < 1 * SEC);
    }
    assert_int_equal(corio_listen("no-such-host.invalid", 0, 1), CORIO_ENONAME);
    return NULL;
}

static void test_dial_an_invalid_name_returns_corio_enoname_quickly(void **state)
{
    (void)state;
    support_run(invalid_name_main, NULL);
    assert_non_null(strstr(corio_strerror(CORIO_ENONAME), "resolve"));
    assert_non_null(strstr(corio_strerror(CORIO_ERESOLVE), "resol"));
    assert_string_not_equal(corio_strerror(CORIO_ENONAME), corio_strerror(CORIO_ERESOLVE));
}

static void *getaddrinfo_main(void *arg)
{
    (void)arg;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    assert_int_equal(corio_getaddrinfo("127.0.0.1", "8080", &hints, &res), 0);
    assert_non_null(res);
    const struct sockaddr_in *a = (const struct sockaddr_in *)res->ai_addr;
    assert_int_equal(ntohs(a->sin_port), 8080);
    assert_int_equal(ntohl(a->sin_addr.s_addr), INADDR_LOOPBACK);
    freeaddrinfo(res);

    /* getaddrinfo's own EAI_NONAME, found locally: a name where only numbers may go. */
    hints.ai_flags = AI_NUMERICHOST;
    res = (struct addrinfo *)0x1;
    assert_int_equal(corio_getaddrinfo("not-a-number", NULL, &hints, &res), CORIO_ENONAME);
    assert_ptr_equal(res, (struct addrinfo *)0x1); /* untouched on failure */
    /* Hints getaddrinfo rejects. */
    hints = (struct addrinfo){.ai_family = 12345};
    assert_int_equal(corio_getaddrinfo("127.0.0.1", NULL, &hints, &res), -EINVAL);

    assert_int_equal(corio_getaddrinfo(NULL, NULL, NULL, &res), -EINVAL);
    assert_int_equal(corio_getaddrinfo("127.0.0.1", NULL, NULL, NULL), -EINVAL);
    return NULL;
}

static void test_getaddrinfo_runs_on_a_worker_and_maps_its_errors(void **state)
{
    (void)state;
    support_run(getaddrinfo_main, NULL);
    struct addrinfo *res = NULL;
    assert_int_equal(corio_getaddrinfo("127.0.0.1", NULL, NULL, &res), -EPERM);
    assert_null(res);
}

static void test_listen_on_a_port_in_use_returns_eaddrinuse(void **state)
{
    (void)state;
    int lfd = corio_listen("127.0.0.1", 0, 4);
    assert_true(lfd >= 0);
    int before = support_count_fds();
    assert_int_equal(corio_listen("127.0.0.1", listen_port(lfd), 4), -EADDRINUSE);
    assert_int_equal(support_count_fds(), before);
    /* With CORIO_LISTEN_REUSEPORT on both, two sockets may share the port. */
    int a = corio_listen_ex("127.0.0.1", 0, 4, CORIO_LISTEN_REUSEPORT);
    assert_true(a >= 0);
    assert_int_equal(get_int(a, SOL_SOCKET, SO_REUSEPORT), 1);
    int b = corio_listen_ex("127.0.0.1", listen_port(a), 4, CORIO_LISTEN_REUSEPORT);
    assert_true(b >= 0);
    close(a);
    close(b);
    close(lfd);
}

static void *bad_args_main(void *arg)
{
    (void)arg;
    assert_int_equal(corio_dial(NULL, 80), -EINVAL);
    assert_int_equal(corio_dial("", 80), -EINVAL);
    assert_int_equal(corio_dial("127.0.0.1", 0), -EINVAL);
    assert_int_equal(corio_listen("", 0, 1), -EINVAL);
    assert_int_equal(corio_listen_ex("127.0.0.1", 0, 1, 0x80), -EINVAL);
    return NULL;
}

static void test_bad_arguments_return_einval_and_calls_needing_a_task_eperm(void **state)
{
    (void)state;
    support_run(bad_args_main, NULL);
    /* Argument errors come first, also outside a task. */
    assert_int_equal(corio_dial(NULL, 80), -EINVAL);
    assert_int_equal(corio_dial("127.0.0.1", 0), -EINVAL);
    assert_int_equal(corio_dial("127.0.0.1", 80), -EPERM);
    assert_int_equal(corio_dial("localhost", 80), -EPERM);
    assert_int_equal(corio_listen("localhost", 0, 1), -EPERM); /* a name needs a task */
}

/* ---- deadlines and cancel ---------------------------------------------------------- */

static void *dial_deadline_main(void *arg)
{
    (void)arg;
    int filler;
    uint16_t port;
    int lfd = full_listener(&port, &filler);
    int before = support_count_fds();

    assert_int_equal(corio_timeout_begin(100 * MS), 0);
    uint64_t t0 = support_now_ns();
    int fd = corio_dial("127.0.0.1", port);
    uint64_t took = support_now_ns() - t0;
    corio_timeout_end();
    assert_int_equal(fd, -ETIMEDOUT);
    assert_true(took >= 90 * MS);
    assert_true(took < 5 * SEC);
    assert_int_equal(support_count_fds(), before);

    /* The same through a name: the deadline covers resolution and connect. */
    assert_int_equal(corio_timeout_begin(100 * MS), 0);
    assert_int_equal(corio_dial("localhost", port), -ETIMEDOUT);
    corio_timeout_end();
    assert_int_equal(support_count_fds(), before);
    close(filler);
    close(lfd);

    /* A deadline that leaves time enough: the dial succeeds. */
    int lfd2 = corio_listen("127.0.0.1", 0, 4);
    assert_true(lfd2 >= 0);
    assert_int_equal(corio_timeout_begin(10 * SEC), 0);
    fd = corio_dial("localhost", listen_port(lfd2));
    corio_timeout_end();
    assert_true(fd >= 0);
    close(fd);
    close(lfd2);
    return NULL;
}

static void test_dial_with_a_deadline_times_out_on_an_unanswered_connect(void **state)
{
    (void)state;
    support_run(dial_deadline_main, NULL);
}

static void *dialer(void *arg)
{
    return (void *)(intptr_t)corio_dial("127.0.0.1", (uint16_t)(uintptr_t)arg);
}

static void *dial_cancel_main(void *arg)
{
    (void)arg;
    int filler;
    uint16_t port;
    int lfd = full_listener(&port, &filler);
    int before = support_count_fds();
    corio_task_t *t;
    assert_int_equal(corio_spawn(NULL, dialer, (void *)(uintptr_t)port, &t), 0);
    corio_yield(); /* it parks in connect */
    assert_int_equal(corio_cancel(t), 0);
    void *r = NULL;
    assert_int_equal(corio_join(t, &r), -ECANCELED);
    assert_int_equal((intptr_t)r, -ECANCELED);
    assert_int_equal(support_count_fds(), before);
    close(filler);
    close(lfd);
    return NULL;
}

static void test_cancel_while_dialing_returns_ecanceled_and_leaks_no_fd(void **state)
{
    (void)state;
    support_run(dial_cancel_main, NULL);
}

/* ---- socket options ---------------------------------------------------------------- */

static void test_socket_options_are_set_as_asked(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);

    assert_int_equal(corio_sock_nodelay(fd, true), 0);
    assert_int_equal(get_int(fd, IPPROTO_TCP, TCP_NODELAY), 1);
    assert_int_equal(corio_sock_nodelay(fd, false), 0);
    assert_int_equal(get_int(fd, IPPROTO_TCP, TCP_NODELAY), 0);

    assert_int_equal(corio_sock_reuseport(fd, true), 0);
    assert_int_equal(get_int(fd, SOL_SOCKET, SO_REUSEPORT), 1);

    int idle = get_int(fd, IPPROTO_TCP, TCP_KEEPIDLE);
    assert_int_equal(corio_sock_keepalive(fd, true, 0, 7, 3), 0);
    assert_int_equal(get_int(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
    assert_int_equal(get_int(fd, IPPROTO_TCP, TCP_KEEPIDLE), idle); /* 0: left alone */
    assert_int_equal(get_int(fd, IPPROTO_TCP, TCP_KEEPINTVL), 7);
    assert_int_equal(get_int(fd, IPPROTO_TCP, TCP_KEEPCNT), 3);
    assert_int_equal(corio_sock_keepalive(fd, true, 30, 0, 0), 0);
    assert_int_equal(get_int(fd, IPPROTO_TCP, TCP_KEEPIDLE), 30);
    assert_int_equal(corio_sock_keepalive(fd, false, 0, 0, 0), 0);
    assert_int_equal(get_int(fd, SOL_SOCKET, SO_KEEPALIVE), 0);

    assert_int_equal(corio_sock_nonblocking(fd, true), 0);
    assert_true(is_nonblocking(fd));
    assert_int_equal(corio_sock_nonblocking(fd, false), 0);
    assert_false(is_nonblocking(fd));

    int snd = get_int(fd, SOL_SOCKET, SO_SNDBUF);
    assert_int_equal(corio_sock_buffers(fd, 64 * 1024, 0), 0);
    assert_true(get_int(fd, SOL_SOCKET, SO_RCVBUF) >= 64 * 1024);
    assert_int_equal(get_int(fd, SOL_SOCKET, SO_SNDBUF), snd); /* 0: left alone */
    assert_int_equal(corio_sock_buffers(fd, -1, 0), -EINVAL);

    assert_int_equal(corio_sock_port(fd), 0); /* not bound yet */
    close(fd);

    /* Errors: a negative fd, a closed fd, an fd that is not a socket. */
    assert_int_equal(corio_sock_nodelay(-1, true), -EBADF);
    assert_int_equal(corio_sock_nonblocking(-1, true), -EBADF);
    assert_int_equal(corio_sock_port(-1), -EBADF);
    assert_int_equal(corio_sock_nodelay(fd, true), -EBADF);
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(corio_sock_nodelay(p[0], true), -ENOTSOCK);
    assert_int_equal(corio_sock_port(p[0]), -ENOTSOCK);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    support_require_uring();
    support_watchdog(60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listen_on_loopback_port_0_then_dial_it_and_exchange_bytes),
        cmocka_unit_test(test_listen_with_a_null_host_binds_the_loopback_address),
        cmocka_unit_test(test_dial_resolves_a_name_on_the_executor_and_connects),
        cmocka_unit_test(test_dial_a_refused_port_returns_econnrefused_and_leaks_no_fd),
        cmocka_unit_test(test_dial_an_invalid_name_returns_corio_enoname_quickly),
        cmocka_unit_test(test_getaddrinfo_runs_on_a_worker_and_maps_its_errors),
        cmocka_unit_test(test_listen_on_a_port_in_use_returns_eaddrinuse),
        cmocka_unit_test(test_bad_arguments_return_einval_and_calls_needing_a_task_eperm),
        cmocka_unit_test(test_dial_with_a_deadline_times_out_on_an_unanswered_connect),
        cmocka_unit_test(test_cancel_while_dialing_returns_ecanceled_and_leaks_no_fd),
        cmocka_unit_test(test_socket_options_are_set_as_asked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
