/* corio-echo: a TCP echo server, written in both of corio's styles.
 *
 *   --mode coroutines  one task per connection: recv, send it all back, repeat; the
 *                      code reads like a blocking server. Each recv takes its buffer
 *                      from a provided-buffer ring only when data arrives (one
 *                      submission per message, as a plain recv), and the buffer goes
 *                      back after the echo: a task waiting for data holds none, so an
 *                      idle connection costs its task's one stack page. With --plain-recv
 *                      it recvs into a 16 KiB stack buffer instead, whose first page then
 *                      stays resident too (8 KB an idle connection against 4; the 512
 *                      connections x 4 KiB echo measured 2-6% faster, the ring's 16 MiB
 *                      of buffers rotating through the cache). With --multishot each
 *                      task takes what a multishot recv into the ring has queued
 *                      (corio_multishot_next): one submission per connection rather than
 *                      one per message. Where the kernel has no buffer rings, and while
 *                      the ring is dry, it recvs into the stack buffer.
 *   --mode callbacks   no tasks: a multishot accept, and per connection a multishot recv
 *                      into a provided-buffer ring, each buffer sent back (short sends
 *                      continued) and then returned to the ring. Where the kernel lacks
 *                      multishot recv or buffer rings (or with --plain-recv) it falls back
 *                      to one recv at a time into a per-connection buffer.
 *
 * --threads N runs N loops, one per thread, each with its own SO_REUSEPORT listener.
 * Once every loop accepts, stdout gets one line, "listening on ADDR:PORT" (serving.h has
 * the format; --port 0 picks a free port). A server that cannot start (the port in use,
 * CORIO_BACKEND=io_uring where io_uring is blocked, a bad CORIO_BACKEND, ...) prints no
 * such line, says why on stderr and exits 1. SIGINT or SIGTERM stops every loop;
 * connections are closed and everything freed before exit, with status 0.
 *
 * Backends (backend.h): where io_uring is blocked (a seccomp profile such as Docker's,
 * kernel.io_uring_disabled) the loops run on epoll, and stderr says so and why, before the
 * listening line. Every mode works there: buffer rings and multishot recv are io_uring
 * only, so --multishot and callback mode recv one message at a time, as --plain-recv
 * does. -v/--verbose names the backend in any case, and the recv in use.
 *
 * Usage: corio-echo [--host ADDR] [--port P] [--mode coroutines|callbacks] [--threads N]
 *                   [--plain-recv] [--multishot] [-v|--verbose] */
#include <corio/corio.h>

#include "backend.h"
#include "serving.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RECV_SIZE         (16 * 1024) /* one recv's buffer */
#define RING_BUFFERS      1024        /* provided buffers per loop: see docs/DESIGN-NOTES.md */
#define QUEUE_PAUSE       16          /* buffers queued on a connection before it stops reading */
#define MAX_THREADS       64
#define ACCEPT_BACKOFF_NS (10 * 1000 * 1000) /* out of fds: retry accepting after 10 ms */

struct options {
    const char *host;
    unsigned port;
    bool callbacks;
    bool plain_recv; /* one recv at a time into a connection's own buffer (no ring) */
    bool multishot;  /* coroutine mode: take results of a multishot recv */
    bool verbose;    /* the backend and the recv in use on stderr */
    unsigned threads;
};

/* One loop's share of the server. */
struct worker {
    const struct options *opt;
    int listen_fd;
    pthread_t thread;
    struct start_gate *gate; /* passed once: accepting, or failed (serving.h) */
    bool passed;             /* the worker's thread has passed the gate */
    corio_loop_t *loop;      /* the worker's own loop */
    pthread_mutex_t mu;
    corio_loop_t *live;    /* under mu: the loop while it accepts, for the main thread's stop */
    corio_bufring_t *ring; /* when the kernel has buffer rings (and no --plain-recv) */
    bool multishot_recv;
    int ring_err;                /* why there is no ring when the mode wanted one; 0: it did not */
    struct backend_info backend; /* of the loop, once it serves */
    corio_op_t accept_op;        /* callback mode; freed with the loop */
    struct conn *starved;        /* connections waiting for a ring buffer to come back */
    struct conn *conns;          /* callback mode: every open connection */
    int exit_code;               /* read by the main thread after joining */
    atomic_bool done;            /* the thread has finished (a failed loop ends it early) */
};

/* Returns true for the server's first failure to start (see start_gate_pass). */
static bool pass_gate(struct worker *w, bool ok)
{
    if (w->passed)
        return false;
    w->passed = true;
    return start_gate_pass(w->gate, ok);
}

/* Called on the worker's loop once it is about to accept: one round trip through the
 * ring (a NOP) shows that the loop really runs, then the loop is published for the main
 * thread's stop and the gate passed. Returns false, having said why, if it does not. */
static bool now_serving(struct worker *w)
{
    int err = corio_nop();
    if (err < 0) {
        w->exit_code = 1;
        if (pass_gate(w, false))
            fprintf(stderr, "corio-echo: the loop cannot run: %s\n", corio_strerror(err));
        return false;
    }
    w->backend = backend_of(w->loop);
    pthread_mutex_lock(&w->mu);
    w->live = w->loop;
    pthread_mutex_unlock(&w->mu);
    (void)pass_gate(w, true);
    return true;
}

static int send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = corio_send(fd, buf, len, 0);
        if (n < 0)
            return (int)n;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static void set_nodelay(int fd)
{
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* ---- coroutine mode ------------------------------------------------------------------ */

/* The worker's buffer ring with --multishot (NULL: plain recv). Each worker is one thread
 * running one loop, so its connection tasks find the ring here. */
static __thread corio_bufring_t *thread_ring;
static __thread bool thread_multishot; /* take thread_ring's buffers through multishot recv */

/* One recv into a stack buffer and its echo. Returns the bytes echoed, or <= 0 for the
 * end of stream, a reset, or a cancel at shutdown. */
static ssize_t echo_once(int fd)
{
    char buf[RECV_SIZE];
    ssize_t n = corio_recv(fd, buf, sizeof buf, 0);
    if (n > 0 && send_all(fd, buf, (size_t)n) < 0)
        return -1;
    return n;
}

/* One recv into a buffer the kernel takes from the ring when data arrives, and its echo:
 * a task waiting for data holds no buffer, so an idle connection is its task's one stack
 * page. Returns as echo_once does; a dry ring (-ENOBUFS) falls back to the stack buffer. */
static ssize_t echo_once_from_ring(int fd, corio_bufring_t *ring)
{
    void *buf;
    ssize_t n = corio_recv_bufring(fd, ring, 0, &buf);
    if (n == -ENOBUFS)
        return echo_once(fd);
    if (buf == NULL)
        return n;
    int err = n > 0 ? send_all(fd, buf, (size_t)n) : 0;
    (void)corio_bufring_put(ring, buf);
    return err < 0 ? -1 : n;
}

/* Echoes what the multishot recv queues. Returns when the connection is over. */
static void echo_multishot(int fd, corio_bufring_t *ring)
{
    corio_multishot_t m = {0};
    bool paused = false;
    if (corio_recv_multishot(&m, fd, ring, 0) < 0) {
        while (echo_once(fd) > 0) {
        }
        return;
    }
    for (;;) {
        void *buf;
        ssize_t n = corio_multishot_next(&m, &buf);
        if (n > 0) {
            /* A client that does not read its echo must not hold the whole ring: pause,
             * send what is queued, then read again. */
            if (!paused && corio_multishot_pending(&m) >= QUEUE_PAUSE) {
                paused = true;
                (void)corio_multishot_cancel(&m);
            }
            int err = send_all(fd, buf, (size_t)n);
            (void)corio_bufring_put(ring, buf);
            if (err < 0)
                break;
            continue;
        }
        /* The op ended with everything taken: read on where that makes sense. */
        if (n == -ENOBUFS) /* the ring ran dry: one plain recv waits for data without it */
            n = echo_once(fd);
        else if (n == -EAGAIN || (n == -ECANCELED && paused))
            n = 1;
        if (n <= 0 || corio_recv_multishot(&m, fd, ring, 0) < 0)
            break; /* end of stream, reset, or cancelled at shutdown */
        paused = false;
    }
    (void)corio_multishot_stop(&m); /* waits even when cancelled: m is on this stack */
}

static void *serve_connection(void *arg)
{
    int fd = (int)(intptr_t)arg;
    if (thread_ring != NULL && thread_multishot) {
        echo_multishot(fd, thread_ring);
    } else if (thread_ring != NULL) {
        while (echo_once_from_ring(fd, thread_ring) > 0) {
        }
    } else {
        while (echo_once(fd) > 0) {
        }
    }
    close(fd); /* plain close: it must happen even when the task was cancelled */
    return NULL;
}

static void *accept_connections(void *arg)
{
    struct worker *w = arg;
    bool ring = w->opt->multishot || !w->opt->plain_recv;
    int err = !ring ? 0 : corio_bufring_new(w->loop, RING_BUFFERS, RECV_SIZE, &w->ring);
    if (err < 0 && err != -EOPNOTSUPP) /* -EOPNOTSUPP: epoll, or an old kernel (--verbose) */
        fprintf(stderr, "corio-echo: no buffer ring (%s); using plain recv\n", corio_strerror(err));
    w->ring_err = err;
    thread_ring = w->ring;
    thread_multishot = w->opt->multishot;
    if (!now_serving(w))
        return NULL;
    for (;;) {
        int fd = corio_accept(w->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd == -ECANCELED)
            return NULL;
        if (fd == -EMFILE || fd == -ENFILE || fd == -ENOMEM) {
            /* Out of fds: give connections time to close instead of spinning. */
            if (corio_sleep(ACCEPT_BACKOFF_NS) == -ECANCELED)
                return NULL;
            continue;
        }
        if (fd < 0)
            continue; /* a connection that died in the backlog (ECONNABORTED, ...) */
        set_nodelay(fd);
        if (corio_spawn(NULL, serve_connection, (void *)(intptr_t)fd, NULL) < 0)
            close(fd);
    }
}

/* ---- callback mode ------------------------------------------------------------------- */

/* A received chunk waiting to be echoed: [buf + off, buf + len) is still to send. */
struct chunk {
    char *buf;
    unsigned len, off;
};

struct conn {
    struct worker *w;
    int fd;
    corio_op_t recv_op, send_op;
    bool reading; /* recv_op in flight */
    bool sending; /* send_op in flight */
    bool paused;  /* we cancelled the multishot recv: the client is not reading its echo */
    bool eof;     /* the peer finished sending: echo what is queued, then close */
    bool done;    /* an error, or eof with everything echoed: close once no op is in flight */
    bool starved; /* on w->starved: the ring ran dry (-ENOBUFS) */
    struct conn *starved_next, *starved_prev;
    struct conn *next, *prev; /* on w->conns, for the stop */
    struct chunk *queue;      /* ring buffer of chunks, grown on demand */
    unsigned qhead, qlen, qcap;
    char *own_buf; /* the plain-recv fallback's only buffer */
};

static void resume_reading(struct conn *c);

static void set_starved(struct conn *c, bool starved)
{
    struct worker *w = c->w;
    if (c->starved == starved)
        return;
    c->starved = starved;
    if (starved) {
        c->starved_prev = NULL;
        c->starved_next = w->starved;
        if (w->starved != NULL)
            w->starved->starved_prev = c;
        w->starved = c;
        return;
    }
    if (c->starved_prev != NULL)
        c->starved_prev->starved_next = c->starved_next;
    else
        w->starved = c->starved_next;
    if (c->starved_next != NULL)
        c->starved_next->starved_prev = c->starved_prev;
}

/* Returns a ring buffer, and lets one connection that found the ring dry read again. */
static void give_back(struct conn *c, char *buf)
{
    if (buf == NULL || buf == c->own_buf)
        return;
    (void)corio_bufring_put(c->w->ring, buf);
    struct conn *s = c->w->starved;
    if (s != NULL) {
        set_starved(s, false);
        resume_reading(s);
    }
}

/* Frees the connection once it is done and no op of it is in flight. */
static void maybe_finish(struct conn *c)
{
    if (c->eof && c->qlen == 0 && !c->sending)
        c->done = true; /* a half-close: everything it sent has been echoed */
    if (!c->done)
        return;
    if (c->reading) {
        (void)corio_op_cancel(c->w->loop, &c->recv_op); /* on_recv comes back here */
        return;
    }
    if (c->sending)
        return; /* on_sent comes back here */
    set_starved(c, false);
    for (; c->qlen > 0; c->qlen--, c->qhead = (c->qhead + 1) % c->qcap)
        give_back(c, c->queue[c->qhead].buf);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        c->w->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    close(c->fd);
    free(c->queue);
    free(c->own_buf);
    free(c);
}

static bool push_chunk(struct conn *c, char *buf, unsigned len)
{
    if (c->qlen == c->qcap) {
        /* Bounded by the ring: a connection never holds more buffers than exist. */
        unsigned cap = c->qcap ? c->qcap * 2 : 4;
        struct chunk *q = malloc(cap * sizeof *q);
        if (q == NULL)
            return false;
        for (unsigned i = 0; i < c->qlen; i++)
            q[i] = c->queue[(c->qhead + i) % c->qcap];
        free(c->queue);
        c->queue = q;
        c->qcap = cap;
        c->qhead = 0;
    }
    c->queue[(c->qhead + c->qlen) % c->qcap] = (struct chunk){buf, len, 0};
    c->qlen++;
    return true;
}

static void on_sent(corio_op_t *op, int res);
static void on_recv(corio_op_t *op, int res);

static void start_send(struct conn *c)
{
    if (c->sending || c->done || c->qlen == 0)
        return;
    struct chunk *k = &c->queue[c->qhead];
    if (corio_send_cb(c->w->loop, &c->send_op, c->fd, k->buf + k->off, k->len - k->off, 0,
                      on_sent) == 0)
        c->sending = true;
    else
        c->done = true;
}

/* Reads again unless something says wait: an op already reading, the end, no ring
 * buffer, too much queued, or (plain fallback) its only buffer still being sent. */
static void resume_reading(struct conn *c)
{
    struct worker *w = c->w;
    if (c->reading || c->done || c->eof || c->starved || c->qlen >= QUEUE_PAUSE / 2 ||
        (w->ring == NULL && c->qlen > 0))
        return;
    int err;
    if (w->multishot_recv)
        err = corio_recv_multishot_cb(w->loop, &c->recv_op, c->fd, w->ring, 0, on_recv);
    else if (w->ring != NULL)
        err = corio_recv_bufring_cb(w->loop, &c->recv_op, c->fd, w->ring, 0, on_recv);
    else
        err = corio_recv_cb(w->loop, &c->recv_op, c->fd, c->own_buf, RECV_SIZE, 0, on_recv);
    if (err == 0)
        c->reading = true;
    else
        c->done = true; /* -ESHUTDOWN at shutdown */
}

static void on_sent(corio_op_t *op, int res)
{
    struct conn *c = op->data;
    c->sending = false;
    if (res < 0) {
        c->done = true; /* -EPIPE, -ECONNRESET, or -ECANCELED at shutdown */
    } else {
        struct chunk *k = &c->queue[c->qhead];
        k->off += (unsigned)res; /* a short send continues from k->off */
        if (k->off == k->len) {
            c->qhead = (c->qhead + 1) % c->qcap;
            c->qlen--;
            give_back(c, k->buf);
        }
        start_send(c);
        resume_reading(c);
    }
    maybe_finish(c);
}

static void on_recv(corio_op_t *op, int res)
{
    struct conn *c = op->data;
    char *buf = c->w->ring != NULL ? corio_op_buffer(op) : c->own_buf;
    bool more = corio_op_more(op);
    if (!more)
        c->reading = false;
    if (res > 0) {
        if (push_chunk(c, buf, (unsigned)res)) {
            start_send(c);
        } else {
            give_back(c, buf);
            c->done = true;
        }
        if (more && c->qlen >= QUEUE_PAUSE && !c->paused) {
            c->paused = true; /* stop reading a client that does not read its echo */
            (void)corio_op_cancel(c->w->loop, &c->recv_op);
        }
    } else {
        if (c->w->ring != NULL)
            give_back(c, buf);
        if (res == -ENOBUFS)
            set_starved(c, true); /* give_back of any buffer resumes it */
        else if (res == 0)
            c->eof = true; /* the peer shut down its side: still echo what it sent */
        else if (!(res == -ECANCELED && c->paused))
            c->done = true; /* -ECONNRESET, or -ECANCELED at shutdown */
    }
    if (!more) {
        c->paused = false;
        resume_reading(c);
    }
    maybe_finish(c);
}

static void on_accept(corio_op_t *op, int res);

/* Returns 0, or -errno (said on stderr unless it is -ESHUTDOWN, the loop being freed). */
static int start_accepting(struct worker *w)
{
    corio_op_t *op = &w->accept_op;
    int err = corio_accept_multishot_cb(w->loop, op, w->listen_fd, SOCK_CLOEXEC, on_accept);
    if (err == -EOPNOTSUPP)
        err = corio_accept_cb(w->loop, op, w->listen_fd, NULL, NULL, SOCK_CLOEXEC, on_accept);
    if (err < 0 && err != -ESHUTDOWN)
        fprintf(stderr, "corio-echo: cannot accept: %s\n", corio_strerror(err));
    return err;
}

static void accept_again(void *arg)
{
    (void)start_accepting(arg);
}

static void on_accept(corio_op_t *op, int res)
{
    struct worker *w = op->data;
    if (res >= 0) {
        struct conn *c = calloc(1, sizeof *c);
        char *own = w->ring == NULL ? malloc(RECV_SIZE) : NULL;
        if (c == NULL || (w->ring == NULL && own == NULL)) {
            free(c);
            free(own);
            close(res);
        } else {
            set_nodelay(res);
            *c = (struct conn){.w = w, .fd = res, .own_buf = own, .next = w->conns};
            if (w->conns != NULL)
                w->conns->prev = c;
            w->conns = c;
            c->recv_op.data = c->send_op.data = c;
            resume_reading(c);
            maybe_finish(c);
        }
    }
    if (corio_op_more(op) || res == -ECANCELED || res == -ESHUTDOWN)
        return;
    if (res == -EMFILE || res == -ENFILE || res == -ENOMEM) /* out of fds: back off */
        (void)corio_call_later(w->loop, ACCEPT_BACKOFF_NS, accept_again, w, NULL);
    else
        (void)start_accepting(w); /* a one-shot accept, or a multishot the kernel ended */
}

/* Callback mode still runs under corio_run, in a task that sets things up and then waits
 * to be cancelled: that is how a stop reaches it. The connections' ops are callback-mode
 * ops, which a stop leaves alone (corio.h): the task ends each connection (its recv is
 * cancelled, a send in flight completes), and corio_run returns once their callbacks have
 * freed them, idle clients or not. */
static void *serve_with_callbacks(void *arg)
{
    struct worker *w = arg;
    int err =
        w->opt->plain_recv ? 0 : corio_bufring_new(w->loop, RING_BUFFERS, RECV_SIZE, &w->ring);
    if (err < 0 && err != -EOPNOTSUPP) /* -EOPNOTSUPP: epoll, or an old kernel (--verbose) */
        fprintf(stderr, "corio-echo: no buffer ring (%s); using plain recv\n", corio_strerror(err));
    w->ring_err = err;
    /* Probe multishot recv once: a kernel without it refuses before queuing anything. */
    w->multishot_recv = w->ring != NULL;
    w->accept_op.data = w;
    if (start_accepting(w) < 0) {
        w->exit_code = 1;
        (void)pass_gate(w, false);
        return NULL;
    }
    if (!now_serving(w)) {
        (void)corio_op_cancel(w->loop, &w->accept_op);
        return NULL;
    }
    corio_future_t never;
    corio_future_init(&never);
    (void)corio_future_await(&never, NULL); /* -ECANCELED at shutdown */
    (void)corio_op_cancel(w->loop, &w->accept_op);
    for (struct conn *c = w->conns, *next; c != NULL; c = next) {
        next = c->next; /* maybe_finish may free c (nothing in flight) */
        c->done = true;
        maybe_finish(c);
    }
    return NULL;
}

/* ---- threads, listeners, signals ----------------------------------------------------- */

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    w->loop = corio_current_loop();
    void *result = w->opt->callbacks ? serve_with_callbacks(w) : accept_connections(w);
    /* The loop is freed soon after this task ends: the main thread must not reach it. */
    pthread_mutex_lock(&w->mu);
    w->live = NULL;
    pthread_mutex_unlock(&w->mu);
    return result;
}

static void *worker_thread(void *arg)
{
    struct worker *w = arg;
    int err = corio_run(worker_main, w, NULL);
    if (err < 0 && err != -ECANCELED) {
        w->exit_code = 1;
        if (w->passed || pass_gate(w, false)) /* after start-up, or its first failure */
            backend_say_loop_error("corio-echo", err);
    }
    (void)pass_gate(w, false); /* unless it passed already: the loop ended before it accepted */
    atomic_store(&w->done, true);
    return NULL;
}

/* Binds a listener; with several threads each has its own, sharing the port. */
static int listen_on(const struct options *opt, unsigned port, unsigned *bound)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, opt->host, &sa.sin_addr) != 1) {
        fprintf(stderr, "corio-echo: --host %s is not an IPv4 address\n", opt->host);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        (opt->threads > 1 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4096) < 0) {
        fprintf(stderr, "corio-echo: cannot listen on %s:%u: %s\n", opt->host, port,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    *bound = ntohs(sa.sin_port);
    return fd;
}

/* The backend line (backend.h), and with --verbose the recv in use, for the first loop:
 * every loop runs on the same backend. */
static void say_backend(const struct options *opt, const struct worker *w)
{
    backend_say("corio-echo", w->backend, opt->verbose);
    if (!opt->verbose)
        return;
    const char *recv = w->ring == NULL                    ? "one recv at a time"
                       : opt->callbacks || opt->multishot ? "multishot recv into a buffer ring"
                                                          : "one recv at a time into a buffer ring";
    fprintf(stderr, "corio-echo: %s mode, %s%s%s\n", opt->callbacks ? "callback" : "coroutine",
            recv, w->ring_err == -EOPNOTSUPP ? " (no buffer rings on this backend or kernel)" : "",
            opt->threads > 1 ? ", on each loop" : "");
}

static int usage(const char *why)
{
    if (why != NULL)
        fprintf(stderr, "corio-echo: %s\n", why);
    fprintf(why != NULL ? stderr : stdout,
            "usage: corio-echo [--host ADDR] [--port P] [--mode coroutines|callbacks]\n"
            "                  [--threads N] [--plain-recv] [--multishot] [-v|--verbose]\n"
            "  --mode M        coroutines (a task per connection, the default) or callbacks\n"
            "  --multishot     coroutine mode: a multishot recv into a buffer ring\n"
            "  --plain-recv    no buffer ring: one recv at a time into the connection's own\n"
            "                  buffer (coroutine mode: on the task's stack)\n"
            "  --threads N     N loops with SO_REUSEPORT listeners (default 1)\n"
            "  -v, --verbose   the backend and the recv in use, on stderr\n"
            "  -h, --help      this help\n" BACKEND_HELP);
    return why != NULL ? 2 : 0;
}

static bool parse_uint(const char *s, unsigned max, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = s != NULL ? strtoul(s, &end, 10) : 0;
    if (s == NULL || *s == '\0' || *end != '\0' || errno != 0 || v > max)
        return false;
    *out = (unsigned)v;
    return true;
}

int main(int argc, char **argv)
{
    struct options opt = {.host = "127.0.0.1", .threads = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--host") == 0 && v != NULL) {
            opt.host = v;
            i++;
        } else if (strcmp(a, "--port") == 0) {
            if (!parse_uint(v, 65535, &opt.port))
                return usage("--port needs a number from 0 to 65535");
            i++;
        } else if (strcmp(a, "--threads") == 0) {
            if (!parse_uint(v, MAX_THREADS, &opt.threads) || opt.threads == 0)
                return usage("--threads needs a number from 1 to 64");
            i++;
        } else if (strcmp(a, "--mode") == 0 && v != NULL &&
                   (strcmp(v, "coroutines") == 0 || strcmp(v, "callbacks") == 0)) {
            opt.callbacks = strcmp(v, "callbacks") == 0;
            i++;
        } else if (strcmp(a, "--mode") == 0) {
            return usage("--mode is coroutines or callbacks");
        } else if (strcmp(a, "--plain-recv") == 0) {
            opt.plain_recv = true;
        } else if (strcmp(a, "--multishot") == 0) {
            opt.multishot = true;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            opt.verbose = true;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            return usage(NULL);
        } else {
            char why[128];
            snprintf(why, sizeof why, "unknown argument '%s'", a);
            return usage(why);
        }
    }

    /* Signals are taken by this thread alone, with sigwait: block them everywhere first. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    static struct worker workers[MAX_THREADS];
    static struct start_gate gate;
    start_gate_init(&gate, opt.threads);
    unsigned port = opt.port, started = 0;
    for (unsigned t = 0; t < opt.threads; t++) {
        workers[t] = (struct worker){.opt = &opt, .gate = &gate};
        pthread_mutex_init(&workers[t].mu, NULL);
        workers[t].listen_fd = listen_on(&opt, port, &port); /* the first picks port 0's */
        if (workers[t].listen_fd < 0) {
            for (unsigned u = 0; u < t; u++)
                close(workers[u].listen_fd);
            return 1;
        }
    }
    for (; started < opt.threads; started++)
        if (pthread_create(&workers[started].thread, NULL, worker_thread, &workers[started]) != 0) {
            fprintf(stderr, "corio-echo: cannot start a thread\n");
            break;
        }
    for (unsigned t = started; t < opt.threads; t++)
        (void)start_gate_pass(&gate, false); /* for the threads that do not exist */

    /* The listening line once every loop accepts; then serve until a signal, or until a
     * worker ends on its own (its loop failed). */
    int code = 0, err;
    bool serving = start_gate_wait(&gate);
    if (serving)
        say_backend(&opt, &workers[0]); /* before the listening line */
    if (!serving) {
        code = 1;
    } else if ((err = print_listening(NULL, workers[0].listen_fd)) < 0) {
        fprintf(stderr, "corio-echo: cannot print the listening line: %s\n", corio_strerror(err));
        code = 1;
    } else {
        struct timespec poll = {.tv_nsec = 100 * 1000 * 1000};
        bool ended = false;
        while (!ended && sigtimedwait(&stop_signals, NULL, &poll) < 0)
            for (unsigned t = 0; t < started; t++)
                ended |= atomic_load(&workers[t].done);
    }

    for (unsigned t = 0; t < started; t++) {
        pthread_mutex_lock(&workers[t].mu);
        corio_loop_stop(workers[t].live); /* NULL (ignored): it failed or is ending */
        pthread_mutex_unlock(&workers[t].mu);
    }
    for (unsigned t = 0; t < started; t++) {
        pthread_join(workers[t].thread, NULL);
        code |= workers[t].exit_code;
    }
    for (unsigned t = 0; t < opt.threads; t++)
        close(workers[t].listen_fd);
    start_gate_destroy(&gate);
    return code;
}
