/* Helpers shared by the engine tests (see support.h). */
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

void support_require_uring(void)
{
    corio_loop_t *loop;
    int err = corio_loop_new(&loop, NULL);
    if (err == -EPERM || err == -ENOSYS || err == -ENOMEM) {
        fprintf(stderr, "skipped: io_uring unavailable: %s\n", corio_loop_setup_hint(err));
        exit(77);
    }
    if (err == 0)
        corio_loop_free(loop);
}

const char *support_backend(void)
{
    static const char *name;
    if (name == NULL) {
        corio_loop_t *loop;
        if (corio_loop_new(&loop, NULL) != 0)
            return "none";
        name = corio_loop_backend(loop); /* a static string */
        corio_loop_free(loop);
    }
    return name;
}

int support_on_uring(void)
{
    return strcmp(support_backend(), "io_uring") == 0;
}

corio_loop_t *support_loop_opts(const corio_loop_opts_t *opts)
{
    corio_loop_t *loop = NULL;
    int err = corio_loop_new(&loop, opts);
    if (err == -EPERM && (opts->flags & CORIO_LOOP_SQPOLL))
        skip();
    if (err != 0)
        fail_msg("corio_loop_new: %s", corio_loop_setup_hint(err));
    return loop;
}

corio_loop_t *support_loop(unsigned entries)
{
    return support_loop_opts(&(corio_loop_opts_t){.entries = entries});
}

void support_watchdog(unsigned seconds)
{
    alarm(seconds);
}

struct sockaddr_in support_loopback(uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

uint16_t support_local_port(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

uint16_t support_peer_port(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    assert_int_equal(getpeername(fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

int support_listener(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = support_loopback(0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 4096), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

int support_connect(uint16_t port)
{
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(c >= 0);
    struct sockaddr_in a = support_loopback(port);
    assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof a), 0);
    return c;
}

void support_tcp_pair(int *client, int *server)
{
    uint16_t port;
    int lfd = support_listener(&port);
    int c = support_connect(port);
    int s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(s >= 0);
    close(lfd);
    *client = c;
    *server = s;
}

uint16_t support_refused_port(void)
{
    /* Bind without listening: the port is ours, so nobody else can start listening on it
     * during the test, and connections to it are refused. */
    static int holder = -1;
    if (holder < 0) {
        holder = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = support_loopback(0);
        assert_int_equal(bind(holder, (struct sockaddr *)&a, sizeof a), 0);
    }
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(holder, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

void support_close_with_reset(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(fd);
}

void *support_run(void *(*fn)(void *), void *arg)
{
    void *result = NULL;
    int err = corio_run(fn, arg, &result);
    if (err != 0)
        fail_msg("corio_run: %s", corio_strerror(err));
    return result;
}

int support_pattern_file(size_t len)
{
    char path[] = "/tmp/corio-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    unsigned char buf[4096];
    for (size_t done = 0; done < len;) {
        size_t n = len - done < sizeof buf ? len - done : sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = (unsigned char)(((done + i) * 7 + 3) & 0xff);
        assert_int_equal(write(fd, buf, n), (ssize_t)n);
        done += n;
    }
    return fd;
}

uint64_t support_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int support_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}
