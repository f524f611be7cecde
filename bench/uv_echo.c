/* uv_echo: the libuv baseline, the echo server a good libuv user would write.
 *
 *   uv_echo [--host ADDR] [--port P]
 *
 * A single-threaded TCP echo server on libuv (1.44 or later: Debian bookworm's libuv1-dev),
 * written the way the libuv documentation teaches: one loop, a uv_tcp_t listener with the
 * same backlog as the other baselines (SOMAXCONN), TCP_NODELAY on every connection, and
 * uv_read_start into one buffer per connection (its alloc_cb hands back that buffer, so
 * reading never allocates). Each message read is echoed with uv_try_write first, the common
 * case being that it all goes at once: one read and one write per message, as in epoll_echo.
 * When the write comes up short, the rest goes out with uv_write from the same buffer,
 * reading stops (back-pressure) and starts again in the write's callback.
 *
 * The command line, the listening socket and the listening line are epoll_echo's
 * (echo_baseline.h): the socket is made there and handed to libuv with uv_tcp_open.
 * The first line on stdout is "listening on ADDR:PORT" (flushed), so scripts and tests can
 * use --port 0.
 * SIGINT/SIGTERM (uv_signal_t) stop it cleanly (exit 0); bad flags exit 2, a bind or listen
 * failure or a libuv error at start-up exits 1 (and so does running out of memory).
 * Standalone: no corio dependency, C11 + GNU extensions, Linux, links libuv.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "echo_baseline.h"

#define BUF_SIZE (64 * 1024) /* per connection, as epoll_echo's; untouched pages cost nothing */

struct conn {
    uv_tcp_t tcp; /* first: the handle's address is the connection's */
    uv_write_t req;
    unsigned char buf[BUF_SIZE];
};

static uv_loop_t loop;
static uv_tcp_t server;
static uv_signal_t sigint_h, sigterm_h;
static unsigned long long served;

static void on_closed(uv_handle_t *h)
{
    if (h->data == &served) /* connections carry this mark; the loop's own handles do not */
        free(h);
}

static void conn_close(struct conn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct conn *c = (struct conn *)h;
    *buf = uv_buf_init((char *)c->buf, BUF_SIZE);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void on_written(uv_write_t *req, int status)
{
    struct conn *c = req->data;
    if (status < 0) { /* a reset, or UV_ECANCELED when closed meanwhile */
        conn_close(c);
        return;
    }
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
        conn_close(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = (struct conn *)s;
    if (nread == 0) /* EAGAIN: nothing this time */
        return;
    if (nread < 0) { /* UV_EOF or a reset: this connection only */
        conn_close(c);
        return;
    }
    uv_buf_t out = uv_buf_init(buf->base, (unsigned)nread);
    int n = uv_try_write(s, &out, 1);
    if (n == nread)
        return;
    if (n == UV_EAGAIN)
        n = 0;
    if (n < 0) {
        conn_close(c);
        return;
    }
    /* Short: the rest from the same buffer, so no more reads into it until it has gone. */
    out = uv_buf_init(buf->base + n, (unsigned)(nread - n));
    c->req.data = c;
    if (uv_read_stop(s) < 0 || uv_write(&c->req, s, &out, 1, on_written) < 0)
        conn_close(c);
}

static void on_connection(uv_stream_t *srv, int status)
{
    if (status < 0) { /* libuv sheds a connection at EMFILE itself and reports it here */
        fprintf(stderr, "uv_echo: accept: %s\n", uv_strerror(status));
        return;
    }
    struct conn *c = malloc(sizeof *c);
    if (!c) { /* a connection left unaccepted would stop libuv's accepting for good */
        fprintf(stderr, "uv_echo: out of memory\n");
        exit(1);
    }
    uv_tcp_init(&loop, &c->tcp); /* cannot fail: it makes no socket */
    c->tcp.data = &served;
    if (uv_accept(srv, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
        conn_close(c);
        return;
    }
    served++;
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)h;
    (void)signum;
    uv_stop(&loop);
}

static void close_all(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, on_closed);
}

static int fail(const char *what, int err)
{
    fprintf(stderr, "uv_echo: %s: %s\n", what, uv_strerror(err));
    return 1;
}

int main(int argc, char **argv)
{
    const char *host, *port;
    int status = echo_parse_args("uv_echo", argc, argv, &host, &port);
    if (status >= 0)
        return status;
    signal(SIGPIPE, SIG_IGN); /* libuv writes with write(2): a reset peer must not kill us */

    int err = uv_loop_init(&loop);
    if (err < 0)
        return fail("uv_loop_init", err);
    /* The signal watchers first, so a stop request sent once the line is out is not lost. */
    if ((err = uv_signal_init(&loop, &sigint_h)) < 0 ||
        (err = uv_signal_start(&sigint_h, on_signal, SIGINT)) < 0 ||
        (err = uv_signal_init(&loop, &sigterm_h)) < 0 ||
        (err = uv_signal_start(&sigterm_h, on_signal, SIGTERM)) < 0)
        return fail("uv_signal_start", err);

    int lfd = echo_listen("uv_echo", host, port);
    if (lfd < 0)
        return 1;
    if ((err = uv_tcp_init(&loop, &server)) < 0 || (err = uv_tcp_open(&server, lfd)) < 0)
        return fail("uv_tcp_open", err);
    if ((err = uv_listen((uv_stream_t *)&server, SOMAXCONN, on_connection)) < 0)
        return fail("uv_listen", err);
    echo_print_listening(lfd);

    err = uv_run(&loop, UV_RUN_DEFAULT);
    (void)err; /* uv_stop: handles are still active */
    uv_walk(&loop, close_all, NULL);
    uv_run(&loop, UV_RUN_DEFAULT); /* the close callbacks */
    if ((err = uv_loop_close(&loop)) < 0)
        fprintf(stderr, "uv_echo: uv_loop_close: %s\n", uv_strerror(err));
    fprintf(stderr, "uv_echo: stopped after %llu connections\n", served);
    return 0;
}
