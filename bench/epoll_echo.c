/* epoll_echo: the epoll baseline that corio's echo server is measured against.
 *
 *   epoll_echo [--host ADDR] [--port P]
 *
 * A plain single-threaded TCP echo server over level-triggered epoll, written the way a careful
 * C programmer would write it without an engine: nonblocking sockets, an accept4 loop,
 * TCP_NODELAY, one buffer per connection. Level-triggered is the fastest fair choice for
 * request/response traffic: one recv and one send per message, no extra recv to reach EAGAIN
 * and no epoll_ctl unless a send comes up short. When it does, the unsent bytes stay in the
 * connection's buffer, reading stops (back-pressure) and the connection waits for EPOLLOUT.
 *
 * The first line on stdout is "listening on ADDR:PORT" (flushed), so scripts and tests can
 * use --port 0.
 * SIGINT/SIGTERM stop it cleanly (exit 0); bad flags exit 2, a bind or listen failure exits 1.
 * Standalone: no corio dependency, C11 + GNU extensions, Linux only.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "echo_baseline.h"

#define BUF_SIZE   (64 * 1024) /* per connection; pages untouched by small messages cost nothing */
#define MAX_EVENTS 512

struct conn {
    struct conn *prev, *next; /* every open connection, to free them at exit */
    int fd;
    uint32_t off; /* pending output is buf[off, len) */
    uint32_t len;
    unsigned char buf[BUF_SIZE];
};

static volatile sig_atomic_t stop_requested;
static int epfd = -1;
static int idle_fd = -1; /* spare descriptor for shedding connections at EMFILE */
static unsigned long long served;
static struct conn *conns;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void conn_close(struct conn *c)
{
    close(c->fd); /* also removes it from the epoll set */
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
}

static int set_events(struct conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    return epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Sends the pending output; returns 0 when it is all gone, 1 when some remains, -1 on error. */
static int flush_pending(struct conn *c)
{
    while (c->off < c->len) {
        ssize_t n = send(c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
        if (n > 0) {
            c->off += (uint32_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            return 1;
        } else {
            return -1;
        }
    }
    c->off = c->len = 0;
    return 0;
}

static void on_readable(struct conn *c)
{
    ssize_t n = recv(c->fd, c->buf, BUF_SIZE, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) { /* EOF or reset: this connection only */
        conn_close(c);
        return;
    }
    c->off = 0;
    c->len = (uint32_t)n;
    int r = flush_pending(c);
    if (r < 0) {
        conn_close(c);
    } else if (r > 0 && set_events(c, EPOLLOUT) < 0) {
        conn_close(c);
    }
}

static void on_writable(struct conn *c)
{
    int r = flush_pending(c);
    if (r < 0 || (r == 0 && set_events(c, EPOLLIN) < 0))
        conn_close(c);
}

static void accept_all(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if ((errno == EMFILE || errno == ENFILE) && idle_fd >= 0) {
                /* Out of descriptors: accept and drop one so the level-triggered listener
                 * does not spin, then keep the spare for next time. */
                close(idle_fd);
                fd = accept(lfd, NULL, NULL);
                if (fd >= 0)
                    close(fd);
                idle_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                fprintf(stderr, "epoll_echo: out of file descriptors, dropped a connection\n");
                continue;
            }
            if (errno != EAGAIN)
                fprintf(stderr, "epoll_echo: accept: %s\n", strerror(errno));
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = malloc(sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->off = c->len = 0;
        c->prev = NULL;
        c->next = conns;
        if (conns)
            conns->prev = c;
        conns = c;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            fprintf(stderr, "epoll_echo: epoll_ctl: %s\n", strerror(errno));
            conn_close(c);
            continue;
        }
        served++;
    }
}

int main(int argc, char **argv)
{
    const char *host, *port;
    int status = echo_parse_args("epoll_echo", argc, argv, &host, &port);
    if (status >= 0)
        return status;

    /* SIGINT/SIGTERM are blocked except inside epoll_pwait, so a stop request can never slip
     * in between the check and the wait. */
    sigset_t block, wait_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &wait_mask);
    sigdelset(&wait_mask, SIGINT);
    sigdelset(&wait_mask, SIGTERM);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int lfd = echo_listen("epoll_echo", host, port);
    if (lfd < 0)
        return 1;
    epfd = epoll_create1(EPOLL_CLOEXEC);
    idle_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev) < 0) {
        fprintf(stderr, "epoll_echo: epoll: %s\n", strerror(errno));
        return 1;
    }
    echo_print_listening(lfd);

    struct epoll_event events[MAX_EVENTS];
    while (!stop_requested) {
        int n = epoll_pwait(epfd, events, MAX_EVENTS, -1, &wait_mask);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "epoll_echo: epoll_wait: %s\n", strerror(errno));
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            uint32_t ev = events[i].events;
            if (!c) {
                accept_all(lfd);
            } else if (c->len) { /* waiting to flush: only EPOLLOUT (or an error) is armed */
                on_writable(c);
            } else if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                on_readable(c);
            }
        }
    }
    while (conns)
        conn_close(conns);
    close(lfd);
    close(epfd);
    fprintf(stderr, "epoll_echo: stopped after %llu connections\n", served);
    return 0;
}
