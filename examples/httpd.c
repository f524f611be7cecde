/* corio-httpd: a small HTTP/1.1 server on corio's coroutines: one task per connection,
 * a built-in GET /hello, and static files from --root.
 *
 * Usage: corio-httpd [--host ADDR] [--port P] [--threads N] [--root DIR]
 *                    [--max-body BYTES] [--max-conns N] [--idle-timeout S]
 *                    [--header-timeout S] [--grace S] [--no-openat2]
 *
 *   --host ADDR          numeric IPv4 or IPv6 address to listen on (default 127.0.0.1)
 *   --port P             0 picks a free port (read it from the listening line)
 *   --threads N          N loops, one per thread, each with its own SO_REUSEPORT listener
 *   --root DIR           serve the files under DIR (without it only /hello exists)
 *   --max-body BYTES     largest request body read (and discarded); larger is 413 (1M)
 *   --max-conns N        connections open at once, all threads together (10000); one more
 *                        is accepted, answered 503 at once and closed
 *   --idle-timeout S     a connection silent for S seconds while waiting for a request is
 *                        closed; also the bound on a send, and on reading a body (60)
 *   --header-timeout S   a request head must arrive whole within S seconds of its first
 *                        byte, or the connection is closed (slow-loris defence) (20)
 *   --grace S            at SIGINT/SIGTERM, how long in-flight requests may take (5)
 *   --no-openat2         resolve paths with openat + a /proc/self/fd check (the fallback
 *                        for kernels before 5.6), for testing
 * S may be fractional (0.5); BYTES may end in K, M or G.
 *
 * Behaviour
 * - GET and HEAD. GET /hello answers "hello\n" (text/plain) without touching the disk or
 *   allocating. Other known methods are 405 (with Allow: GET, HEAD), unknown ones 501.
 * - Keep-alive (HTTP/1.1 by default, HTTP/1.0 with "Connection: keep-alive") and
 *   pipelining: requests read together are answered in order, and their responses leave
 *   in one send when they fit the 8 KiB write buffer.
 * - Limits: a malformed head is 400; a request line longer than 8 KiB 414; a head longer
 *   than 8 KiB (or with more than 100 fields) 431; HTTP/2+ 505; a Content-Length body up
 *   to --max-body is read and discarded (after "100 Continue" if asked), a larger one is
 *   413; chunked request bodies are 501 (this server takes no bodies, so it does not
 *   decode them). After 400, 413, 414, 431, 501 and 505 the connection is closed.
 * - Files (httpd_files.c): Content-Type by extension (html css js json txt png jpg gif
 *   svg ico wasm pdf and a few more; else application/octet-stream), Content-Length, 404
 *   when missing. A directory is served by its index.html (404 without one: no
 *   listings); one named without its trailing '/' is 301-redirected. Files are opened
 *   relative to the root's fd and read with corio_read, 64 KiB at a time.
 * - Traversal: the path is percent-decoded first (so %2e%2e is ".."), then its dot
 *   segments are resolved; a ".." climbing above the root is 403. Symlinks are followed
 *   only while they stay under the root (openat2 RESOLVE_BENEATH, or a check of the opened
 *   file without it): one leading out is 403, as is anything but a regular file.
 * - Timeouts are corio deadlines (corio_timeout_begin/end) around each wait: the wait for
 *   a request (idle timeout), the rest of a head once its first byte came (header
 *   timeout), a body, and a send that the socket could not take at once (the first try
 *   is a plain non-blocking send: see send_all).
 * - Shutdown: SIGINT or SIGTERM stops accepting and closes idle connections (those
 *   waiting for a request of which no byte has arrived); requests in flight are answered
 *   (with Connection: close) for up to --grace seconds, then whatever is left is
 *   cancelled. Exit 0. A second signal cancels everything at once.
 * - Start-up: once every loop accepts, stdout gets "listening on http://ADDR:PORT"
 *   ("http://[ADDR]:PORT" for IPv6), one line per address served; more listeners (HTTPS)
 *   would each add their own line, with their own scheme (serving.h has the format).
 *   A server that cannot start prints no such line: it says why on stderr and exits 1.
 * - Exit status: 0 after a signal, 1 when the server cannot start (port in use, io_uring
 *   blocked by a seccomp profile or kernel.io_uring_disabled, bad root: missing, not a
 *   directory or not readable), 2 for a bad flag (with usage).
 *
 * The request parser is libcorio-http's (corio/http.h): a pure function over a byte
 * buffer, allocation-free, unit-tested and fuzzed. Debian's libhttp-parser-dev
 * (joyent/nodejs http-parser 2.9.4) is unmaintained upstream since 2020, its repository
 * archived in favour of llhttp, which Debian ships only as Node.js sources (node-llhttp),
 * not as a C library; and a server that only needs GET/HEAD heads needs a few hundred
 * lines, which we can keep strict about framing (see corio/http_parse.h). */
#define _GNU_SOURCE
#include <corio/corio.h>
#include <corio/http.h>

#include "httpd_files.h"
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

#define MAX_THREADS       64
#define READ_BUF          (16 * 1024) /* per connection: a whole head (8 KiB) and more */
#define WRITE_BUF         (8 * 1024)  /* per connection: pipelined responses batch here */
#define FILE_CHUNK        (64 * 1024) /* file bodies are read and sent this much at a time */
#define MAX_PATH          4096        /* a decoded path, relative to the root */
#define LINGER_NS         (1000ull * 1000 * 1000) /* reading what a refused client still sends */
#define LINGER_BYTES      (256 * 1024)
#define ACCEPT_BACKOFF_NS (10ull * 1000 * 1000) /* out of fds: retry accepting after 10 ms */
#define SEC               1e9

struct options {
    const char *host;
    unsigned port;
    unsigned threads;
    const char *root;
    uint64_t max_body;
    unsigned max_conns;
    uint64_t idle_ns, header_ns, grace_ns;
    bool no_openat2;
};

/* What every worker shares: read-only once the threads start, except live_conns. */
struct server {
    struct options opt;
    struct docroot root;    /* root.fd is -1 without --root */
    atomic_uint live_conns; /* open connections, all threads */
    struct start_gate gate; /* each worker passes once it accepts, or has failed */
};

/* One loop's share of the server. The main thread reaches a worker only through
 * corio_call_soon_threadsafe, under mu, while loop is set. */
struct worker {
    struct server *srv;
    int listen_fd;
    pthread_t thread;
    pthread_mutex_t mu;
    corio_loop_t *loop;      /* under mu: set while the loop exists */
    atomic_int stop_level;   /* 1: drain, 2: cancel everything */
    corio_event_t stop;      /* set on the loop when a stop is asked for */
    bool draining;           /* stop accepting; answer with Connection: close */
    bool hard;               /* cancel everything */
    corio_task_t *main_task; /* the tasks alive, to cancel them */
    corio_task_t *acceptor;
    struct conn *conns;         /* live connections (each lives on its task's stack) */
    corio_waitgroup_t conns_wg; /* counts them, spawned or running */
    time_t date_sec;            /* the cached Date header, rebuilt once a second */
    char date[48];
    size_t date_len;
    time_t hello_sec; /* the cached response to GET /hello, rebuilt with the Date */
    char hello[256];
    size_t hello_len;
    int exit_code;
    bool passed;      /* the worker has passed srv->gate */
    atomic_bool done; /* the thread has finished (a failed loop ends it early) */
};

/* A connection, on its task's stack. */
struct conn {
    struct worker *w;
    int fd;
    corio_task_t *task;
    struct conn *prev, *next;
    bool idle;           /* waiting for a request, no byte of it received: cancelled at a drain */
    corio_stream_t s;    /* reading (writes go through wbuf) */
    unsigned char *wbuf; /* WRITE_BUF bytes on the task's stack */
    size_t wlen;         /* response bytes waiting in wbuf */
    char *chunk;         /* file buffer, allocated by the first file body, freed at close */
};

static _Thread_local struct worker *current_worker;

/* ---- writing responses --------------------------------------------------------------- */

/* Sends all of buf. The first attempt is a plain non-blocking send(2), with no deadline:
 * a response that fits the socket's buffer (the usual case) leaves at once, without the
 * task parking. Through the ring it would leave only at the loop's next submit, after
 * every other ready connection has run: with 256 busy connections that doubled the p99
 * latency under wrk (same throughput and CPU). What the socket cannot take at once is
 * sent with corio_send under the idle timeout, so a client that stops reading cannot
 * hold the connection forever. Returns 0 or -errno. */
static int send_all(struct conn *c, const void *buf, size_t len)
{
    ssize_t n = send(c->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n == (ssize_t)len)
        return 0;
    if (n < 0 && errno != EAGAIN && errno != EINTR)
        return -errno;
    size_t done = n > 0 ? (size_t)n : 0;
    int err = 0;
    corio_timeout_begin(c->w->srv->opt.idle_ns);
    while (done < len) {
        n = corio_send(c->fd, (const char *)buf + done, len - done, 0);
        if (n <= 0) {
            err = n < 0 ? (int)n : -EIO;
            break;
        }
        done += (size_t)n;
    }
    corio_timeout_end();
    return err;
}

/* Hands the buffered responses to the kernel. Returns 0 or -errno. */
static int flush(struct conn *c)
{
    if (c->wlen == 0)
        return 0;
    int err = send_all(c, c->wbuf, c->wlen);
    c->wlen = 0; /* on an error the connection ends anyway */
    return err;
}

/* Writes through the connection's buffer: responses collect there until the next wait
 * for input (so pipelined responses leave together), or until it is full. Data that does
 * not fit goes straight out after what is buffered. Returns 0 or -errno. */
static int out(struct conn *c, const void *buf, size_t len)
{
    if (c->wlen + len > WRITE_BUF) {
        int err = flush(c);
        if (err < 0)
            return err;
        if (len > WRITE_BUF)
            return send_all(c, buf, len);
    }
    memcpy(c->wbuf + c->wlen, buf, len);
    c->wlen += len;
    return 0;
}

/* A response head under construction. Every piece put in it is bounded and the total
 * stays far below the buffer, except an `extra` field (a Location), written apart. */
struct head {
    size_t len;
    char buf[512];
};

static void put(struct head *h, const char *s, size_t n)
{
    memcpy(h->buf + h->len, s, n);
    h->len += n;
}

#define PUT_LIT(h, lit) put((h), (lit), sizeof(lit) - 1)

static void put_u64(struct head *h, uint64_t v)
{
    char digits[20];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    while (n > 0)
        h->buf[h->len++] = digits[--n];
}

static const char *date_line(struct worker *w, size_t *len)
{
    time_t now = time(NULL);
    if (now != w->date_sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        w->date_len = strftime(w->date, sizeof w->date, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
        w->date_sec = now;
    }
    *len = w->date_len;
    return w->date;
}

enum conn_mode {
    KEEP,    /* HTTP/1.1 keep-alive: nothing to say */
    KEEP_10, /* HTTP/1.0 keep-alive: say so */
    CLOSE,   /* this is the last response */
};

/* Puts a status line and the usual fields into h (empty), all but the final CRLF. */
static void format_head(struct worker *w, struct head *h, int status, const char *ctype,
                        uint64_t length, enum conn_mode mode)
{
    PUT_LIT(h, "HTTP/1.1 ");
    put_u64(h, (uint64_t)status);
    h->buf[h->len++] = ' ';
    const char *reason = corio_http_reason(status);
    put(h, reason, strlen(reason));
    PUT_LIT(h, "\r\nServer: corio-httpd\r\n");
    size_t dlen;
    const char *date = date_line(w, &dlen);
    put(h, date, dlen);
    if (ctype != NULL) {
        PUT_LIT(h, "Content-Type: ");
        put(h, ctype, strlen(ctype));
        PUT_LIT(h, "\r\n");
    }
    PUT_LIT(h, "Content-Length: ");
    put_u64(h, length);
    PUT_LIT(h, "\r\n");
    if (mode == CLOSE)
        PUT_LIT(h, "Connection: close\r\n");
    else if (mode == KEEP_10)
        PUT_LIT(h, "Connection: keep-alive\r\n");
}

/* Writes a response head; `extra` (complete field lines) goes last. */
static int write_head(struct conn *c, int status, const char *ctype, uint64_t length,
                      enum conn_mode mode, const char *extra)
{
    struct head h;
    h.len = 0;
    format_head(c->w, &h, status, ctype, length, mode);
    if (extra != NULL) {
        size_t elen = strlen(extra);
        if (h.len + elen + 2 > sizeof h.buf) { /* a long Location: out in pieces */
            int err = out(c, h.buf, h.len);
            if (err < 0)
                return err;
            h.len = 0;
            if ((err = out(c, extra, elen)) < 0)
                return err;
        } else {
            put(&h, extra, elen);
        }
    }
    PUT_LIT(&h, "\r\n");
    return out(c, h.buf, h.len);
}

/* A response with a short text body ("404 Not Found\n" for errors). */
static int write_simple(struct conn *c, int status, const char *ctype, const char *body,
                        size_t blen, bool head_only, enum conn_mode mode, const char *extra)
{
    int err = write_head(c, status, ctype, blen, mode, extra);
    if (err == 0 && !head_only)
        err = out(c, body, blen);
    return err;
}

static int write_error(struct conn *c, int status, bool head_only, enum conn_mode mode)
{
    char body[64];
    const char *reason = corio_http_reason(status);
    int n = snprintf(body, sizeof body, "%d %s\n", status, reason);
    return write_simple(c, status, "text/plain; charset=utf-8", body, (size_t)n, head_only, mode,
                        status == 405 ? "Allow: GET, HEAD\r\n" : NULL);
}

/* GET /hello. On a kept-alive HTTP/1.1 connection (the benchmark's case) the whole
 * response is one copy of a per-worker cache, rebuilt when its Date changes. */
static int write_hello(struct conn *c, bool head_only, enum conn_mode mode)
{
    struct worker *w = c->w;
    if (mode != KEEP || head_only)
        return write_simple(c, 200, "text/plain", "hello\n", 6, head_only, mode, NULL);
    time_t now = time(NULL);
    if (now != w->hello_sec) {
        struct head h;
        h.len = 0;
        format_head(w, &h, 200, "text/plain", 6, KEEP);
        PUT_LIT(&h, "\r\nhello\n");
        memcpy(w->hello, h.buf, h.len);
        w->hello_len = h.len;
        w->hello_sec = now;
    }
    return out(c, w->hello, w->hello_len);
}

/* ---- static files ---------------------------------------------------------------------- */

/* Sends size bytes of fd as the body; any failure ends the connection (the head promised
 * a length). Returns 0 or -errno. */
static int send_file_body(struct conn *c, int fd, uint64_t size)
{
    if (size > 0 && c->chunk == NULL && (c->chunk = malloc(FILE_CHUNK)) == NULL)
        return -ENOMEM;
    for (uint64_t off = 0; off < size;) {
        size_t want = size - off < FILE_CHUNK ? (size_t)(size - off) : FILE_CHUNK;
        ssize_t n = corio_read(fd, c->chunk, want, (int64_t)off);
        if (n <= 0)
            return n < 0 ? (int)n : -EIO; /* the file shrank */
        int err = out(c, c->chunk, (size_t)n);
        if (err < 0)
            return err;
        off += (uint64_t)n;
    }
    return 0;
}

/* Answers GET/HEAD for path (decoded, relative, in a buffer with DOCROOT_INDEX_EXTRA
 * bytes to spare). Returns 0, or -errno when the connection must end. */
static int serve_file(struct conn *c, char *path, size_t plen, bool head_only, enum conn_mode mode)
{
    uint64_t size;
    int fd = docroot_resolve(&c->w->srv->root, path, &plen, &size);
    if (fd == -301) {
        char loc[MAX_PATH * 3 + 32];
        if (docroot_location(path, loc, sizeof loc) < 0)
            return write_error(c, 414, head_only, mode);
        static const char body[] = "301 Moved Permanently\n";
        return write_simple(c, 301, "text/plain; charset=utf-8", body, sizeof body - 1, head_only,
                            mode, loc);
    }
    if (fd < 0)
        return write_error(c, -fd, head_only, mode);
    int err = write_head(c, 200, docroot_content_type(path, plen), size, mode, NULL);
    if (err == 0 && !head_only)
        err = send_file_body(c, fd, size);
    close(fd);
    return err;
}

/* ---- requests --------------------------------------------------------------------------- */

/* Reads until a whole request head is buffered. Returns the head's length (the head is at
 * the start of the stream's buffer, *view), a CORIO_HTTP_E* code for a refused head, or 0
 * when the connection is over: end of stream, an error, a timeout, a cancel, or a drain. */
static int read_head(struct conn *c, corio_http_request_head_t *req, const void **view)
{
    const struct options *opt = &c->w->srv->opt;
    uint64_t header_deadline = 0;
    for (;;) {
        size_t have = corio_stream_buffered(&c->s);
        if (have > 0) {
            if (corio_stream_peek(&c->s, have, view) < 0)
                return 0;
            int r = corio_http_parse_request(*view, have, CORIO_HTTP_MAX_HEAD_DEFAULT, req);
            if (r != 0)
                return r;
        }
        uint64_t wait_ns;
        if (have == 0) {
            /* Between requests: the responses so far leave before we wait. While
             * draining, only a request whose bytes have arrived is still served. */
            char byte;
            if (flush(c) < 0 ||
                (c->w->draining && recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) <= 0))
                return 0;
            c->idle = true;
            wait_ns = opt->idle_ns;
        } else {
            /* A head has begun: all of it must come within the header timeout, however
             * it trickles in. */
            uint64_t now = corio_loop_now(c->w->loop);
            if (header_deadline == 0)
                header_deadline = now + opt->header_ns;
            if (now >= header_deadline)
                return 0;
            wait_ns = header_deadline - now;
        }
        corio_timeout_begin(wait_ns);
        ssize_t n = corio_stream_peek(&c->s, have + 1, view);
        corio_timeout_end();
        c->idle = false;
        if (n <= (ssize_t)have)
            return 0;
    }
}

/* Reads and drops n body bytes, all within the idle timeout. Returns 0 or -errno. */
static int discard_body(struct conn *c, uint64_t n)
{
    int err = 0;
    corio_timeout_begin(c->w->srv->opt.idle_ns);
    while (n > 0) {
        size_t have = corio_stream_buffered(&c->s);
        if (have == 0) {
            ssize_t r = corio_stream_peek(&c->s, 1, NULL);
            if (r <= 0) {
                err = r < 0 ? (int)r : -EPIPE;
                break;
            }
            have = (size_t)r;
        }
        size_t k = have < n ? have : (size_t)n;
        corio_stream_consume(&c->s, k);
        n -= k;
    }
    corio_timeout_end();
    return err;
}

/* Handles one parsed request whose head is head_len bytes at the front of the buffer.
 * Returns 1 to go on with the connection, 0 to close it (the response said so), -1 to
 * close it at once (an I/O error: the response may be cut). */
static int handle(struct conn *c, corio_http_request_head_t *req, int head_len)
{
    struct worker *w = c->w;
    /* Everything the response needs is taken from the head now: reading a body moves
     * the buffer under it. */
    bool head_only = req->method == CORIO_HTTP_METHOD_HEAD;
    bool keep = req->keep_alive && !w->draining;
    bool expect = req->expect_continue && req->version_minor == 1;
    uint64_t body = req->has_content_length ? req->content_length : 0;
    char path[MAX_PATH + DOCROOT_INDEX_EXTRA];
    int plen = -1, status = 0;
    if (req->method == CORIO_HTTP_METHOD_GET || req->method == CORIO_HTTP_METHOD_HEAD) {
        plen = corio_http_path_normalize(req->path, req->path_len, path, MAX_PATH);
        if (plen < 0)
            status = corio_http_error_status(plen);
    } else {
        status = req->method == CORIO_HTTP_METHOD_OTHER ? 501 : 405;
    }
    if (req->chunked) {
        status = 501; /* no body decoding: its end cannot be found, so close */
        keep = false;
        body = 0;
    } else if (body > w->srv->opt.max_body) {
        status = 413;
        keep = false;
        body = 0;
    }
    enum conn_mode mode = !keep ? CLOSE : req->version_minor == 0 ? KEEP_10 : KEEP;
    corio_stream_consume(&c->s, (size_t)head_len);
    if (body > 0) {
        if (expect && (out(c, "HTTP/1.1 100 Continue\r\n\r\n", 25) < 0 || flush(c) < 0))
            return -1;
        if (discard_body(c, body) < 0)
            return -1;
    }
    int err;
    if (status != 0)
        err = write_error(c, status, head_only, mode);
    else if (plen == 5 && memcmp(path, "hello", 5) == 0)
        err = write_hello(c, head_only, mode);
    else if (w->srv->root.fd < 0)
        err = write_error(c, 404, head_only, mode);
    else
        err = serve_file(c, path, (size_t)plen, head_only, mode);
    if (err < 0)
        return -1;
    return keep ? 1 : 0;
}

/* Closes after our last response. When the client may still be sending (a refused head or
 * body, unread pipelined requests), half-close and read on for a moment first: closing
 * with unread data makes the kernel send a reset, which can destroy the response before
 * the client reads it. */
static void finish_conn(struct conn *c, bool linger)
{
    if (flush(c) < 0)
        return;
    if (!linger && corio_stream_buffered(&c->s) == 0)
        return;
    shutdown(c->fd, SHUT_WR);
    size_t total = 0;
    corio_timeout_begin(LINGER_NS);
    while (total < LINGER_BYTES) {
        size_t have = corio_stream_buffered(&c->s);
        if (have > 0) {
            corio_stream_consume(&c->s, have);
            total += have;
        }
        if (corio_stream_peek(&c->s, 1, NULL) <= 0)
            break;
    }
    corio_timeout_end();
}

static void *serve_connection(void *arg)
{
    struct worker *w = current_worker;
    unsigned char rbuf[READ_BUF], wbuf[WRITE_BUF];
    struct conn c = {.w = w, .fd = (int)(intptr_t)arg, .task = corio_current(), .wbuf = wbuf};
    if (!w->hard && corio_stream_init(&c.s, c.fd, rbuf, sizeof rbuf, NULL, 0) == 0) {
        c.next = w->conns;
        if (w->conns != NULL)
            w->conns->prev = &c;
        w->conns = &c;
        for (;;) {
            corio_http_request_head_t req = {0};
            const void *view;
            int r = read_head(&c, &req, &view);
            if (r == 0)
                break;
            if (r < 0) {
                if (write_error(&c, corio_http_error_status(r), false, CLOSE) == 0)
                    finish_conn(&c, true);
                break;
            }
            bool linger = req.chunked ||
                          (req.has_content_length && req.content_length > w->srv->opt.max_body);
            r = handle(&c, &req, r);
            if (r == 0)
                finish_conn(&c, linger);
            if (r <= 0)
                break;
        }
        if (c.prev != NULL)
            c.prev->next = c.next;
        else
            w->conns = c.next;
        if (c.next != NULL)
            c.next->prev = c.prev;
    }
    close(c.fd); /* plain close: it must happen even when the task was cancelled */
    free(c.chunk);
    atomic_fetch_sub(&w->srv->live_conns, 1);
    corio_waitgroup_done(&w->conns_wg);
    return NULL;
}

/* ---- accepting -------------------------------------------------------------------------- */

/* Over --max-conns: answer 503 without a task and close. The socket is new, so its send
 * buffer is empty and the non-blocking send takes the whole response. */
static void refuse(int fd)
{
    static const char resp[] = "HTTP/1.1 503 Service Unavailable\r\n"
                               "Server: corio-httpd\r\n"
                               "Content-Type: text/plain; charset=utf-8\r\n"
                               "Content-Length: 24\r\n"
                               "Retry-After: 1\r\n"
                               "Connection: close\r\n"
                               "\r\n"
                               "503 Service Unavailable\n";
    (void)send(fd, resp, sizeof resp - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    shutdown(fd, SHUT_WR);
    char drain[4096]; /* what the client sent already: unread data would mean a reset */
    while (recv(fd, drain, sizeof drain, MSG_DONTWAIT) > 0)
        ;
    close(fd);
}

static void *accept_connections(void *arg)
{
    struct worker *w = arg;
    struct server *srv = w->srv;
    w->acceptor = corio_current();
    while (!w->draining) {
        int fd = corio_accept(w->listen_fd, NULL, NULL);
        if (fd == -ECANCELED)
            break;
        if (fd == -EMFILE || fd == -ENFILE || fd == -ENOMEM) {
            if (corio_sleep(ACCEPT_BACKOFF_NS) == -ECANCELED)
                break;
            continue;
        }
        if (fd < 0)
            continue; /* a connection that died in the backlog */
        if (atomic_fetch_add(&srv->live_conns, 1) >= srv->opt.max_conns) {
            atomic_fetch_sub(&srv->live_conns, 1);
            refuse(fd);
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        corio_waitgroup_add(&w->conns_wg, 1);
        if (corio_spawn(NULL, serve_connection, (void *)(intptr_t)fd, NULL) < 0) {
            close(fd);
            atomic_fetch_sub(&srv->live_conns, 1);
            corio_waitgroup_done(&w->conns_wg);
        }
    }
    w->acceptor = NULL;
    return NULL;
}

/* ---- the worker's life: run, drain, stop ------------------------------------------------ */

static void cancel_conns(struct worker *w, bool idle_only)
{
    for (struct conn *c = w->conns; c != NULL; c = c->next)
        if (!idle_only || c->idle)
            corio_cancel(c->task);
}

/* On the loop, from the main thread: a stop was asked for. */
static void on_stop(void *arg)
{
    struct worker *w = arg;
    corio_event_set(&w->stop);
    if (atomic_load(&w->stop_level) < 2 || w->hard)
        return;
    w->hard = true;
    if (w->main_task != NULL)
        corio_cancel(w->main_task);
    if (w->acceptor != NULL)
        corio_cancel(w->acceptor);
    cancel_conns(w, false);
}

/* Returns true for the server's first failure to start (see start_gate_pass). */
static bool pass_gate(struct worker *w, bool ok)
{
    if (w->passed)
        return false;
    w->passed = true;
    return start_gate_pass(&w->srv->gate, ok);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    w->main_task = corio_current();
    int err = corio_spawn(NULL, accept_connections, w, NULL);
    if (err == 0)
        err = corio_nop(); /* a round trip through the ring: the loop really runs */
    if (err < 0) {
        w->exit_code = 1;
        if (pass_gate(w, false))
            fprintf(stderr, "corio-httpd: cannot start accepting: %s\n", corio_strerror(err));
    } else {
        (void)pass_gate(w, true);
        if (atomic_load(&w->stop_level) == 0)
            (void)corio_event_wait(&w->stop); /* -ECANCELED on a hard stop: drain all the same */
    }
    w->draining = true;
    if (w->acceptor != NULL)
        corio_cancel(w->acceptor);
    close(w->listen_fd); /* new connections are refused from now on */
    w->listen_fd = -1;
    cancel_conns(w, true);
    corio_timeout_begin(w->srv->opt.grace_ns);
    err = corio_waitgroup_wait(&w->conns_wg);
    corio_timeout_end();
    if (err == -ETIMEDOUT)
        cancel_conns(w, false);
    w->main_task = NULL;
    return NULL;
}

static void *worker_thread(void *arg)
{
    struct worker *w = arg;
    current_worker = w;
    corio_loop_opts_t opts = {0};
#ifndef __SANITIZE_ADDRESS__
    opts.stack_size = 128 * 1024; /* a connection's buffers take ~30 KiB of it */
#endif
    corio_loop_t *loop;
    int err = corio_loop_new(&loop, &opts);
    if (err < 0) {
        w->exit_code = 1;
        if (pass_gate(w, false)) /* loops failing alike say it once */
            fprintf(stderr, "corio-httpd: %s\n", corio_loop_setup_hint(err));
        atomic_store(&w->done, true);
        return NULL;
    }
    pthread_mutex_lock(&w->mu);
    w->loop = loop;
    pthread_mutex_unlock(&w->mu);
    err = corio_spawn(loop, worker_main, w, NULL);
    if (err == 0)
        err = corio_loop_run(loop); /* ends when every task has finished */
    if (err < 0) {
        fprintf(stderr, "corio-httpd: loop: %s\n", corio_strerror(err));
        w->exit_code = 1;
    }
    pthread_mutex_lock(&w->mu);
    w->loop = NULL;
    pthread_mutex_unlock(&w->mu);
    corio_loop_free(loop);
    (void)pass_gate(w, false); /* unless it passed already: the loop ended before it accepted */
    atomic_store(&w->done, true);
    return NULL;
}

static void ask_stop(struct worker *w, int level)
{
    atomic_store(&w->stop_level, level);
    pthread_mutex_lock(&w->mu);
    if (w->loop != NULL)
        (void)corio_call_soon_threadsafe(w->loop, on_stop, w);
    pthread_mutex_unlock(&w->mu);
}

/* ---- setting up ---------------------------------------------------------------------------- */

static int usage(const char *why)
{
    fprintf(stderr,
            "corio-httpd: %s\n"
            "usage: corio-httpd [--host ADDR] [--port P] [--threads N] [--root DIR]\n"
            "                   [--max-body BYTES] [--max-conns N] [--idle-timeout S]\n"
            "                   [--header-timeout S] [--grace S] [--no-openat2]\n",
            why);
    return 2;
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    if (s == NULL || *s < '0' || *s > '9')
        return false;
    unsigned long v = strtoul(s, &end, 10);
    if (*end != '\0' || errno != 0 || v > max)
        return false;
    *out = v;
    return true;
}

/* BYTES: digits with an optional K, M or G (powers of 1024). */
static bool parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (s == NULL || *s < '0' || *s > '9')
        return false;
    unsigned long long v = strtoull(s, &end, 10);
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k')
        shift = 10;
    else if (*end == 'M' || *end == 'm')
        shift = 20;
    else if (*end == 'G' || *end == 'g')
        shift = 30;
    if (shift != 0)
        end++;
    if (*end != '\0' || errno != 0 || v > (UINT64_MAX >> shift))
        return false;
    *out = (uint64_t)v << shift;
    return true;
}

/* S: seconds, possibly fractional, above 0 and at most a day. */
static bool parse_seconds(const char *s, uint64_t *ns)
{
    char *end;
    if (s == NULL || *s < '0' || *s > '9')
        return false;
    double v = strtod(s, &end);
    if (*end != '\0' || !(v > 0) || v > 86400)
        return false;
    *ns = (uint64_t)(v * SEC);
    return *ns > 0;
}

static int parse_args(int argc, char **argv, struct options *opt)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        unsigned long n;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage("an HTTP/1.1 server (see the comment at the top of examples/httpd.c)");
            exit(0);
        } else if (strcmp(a, "--no-openat2") == 0) {
            opt->no_openat2 = true;
            continue;
        }
        if (v == NULL) {
            char why[128];
            snprintf(why, sizeof why, "unknown argument '%s'", a);
            if (strncmp(a, "--", 2) == 0 && strcmp(a, "--help") != 0)
                snprintf(why, sizeof why, "'%s' needs a value, or is unknown", a);
            return usage(why);
        }
        i++;
        if (strcmp(a, "--host") == 0) {
            unsigned char addr[sizeof(struct in6_addr)];
            if (inet_pton(AF_INET, v, addr) != 1 && inet_pton(AF_INET6, v, addr) != 1)
                return usage("--host needs a numeric IPv4 or IPv6 address");
            opt->host = v;
        } else if (strcmp(a, "--port") == 0) {
            if (!parse_uint(v, 65535, &n))
                return usage("--port needs a number from 0 to 65535");
            opt->port = (unsigned)n;
        } else if (strcmp(a, "--threads") == 0) {
            if (!parse_uint(v, MAX_THREADS, &n) || n == 0)
                return usage("--threads needs a number from 1 to 64");
            opt->threads = (unsigned)n;
        } else if (strcmp(a, "--root") == 0) {
            if (*v == '\0')
                return usage("--root needs a directory");
            opt->root = v;
        } else if (strcmp(a, "--max-body") == 0) {
            if (!parse_size(v, &opt->max_body))
                return usage("--max-body needs a size in bytes (K, M, G suffixes allowed)");
        } else if (strcmp(a, "--max-conns") == 0) {
            if (!parse_uint(v, 1000000000, &n) || n == 0)
                return usage("--max-conns needs a number from 1");
            opt->max_conns = (unsigned)n;
        } else if (strcmp(a, "--idle-timeout") == 0) {
            if (!parse_seconds(v, &opt->idle_ns))
                return usage("--idle-timeout needs seconds above 0 (up to 86400)");
        } else if (strcmp(a, "--header-timeout") == 0) {
            if (!parse_seconds(v, &opt->header_ns))
                return usage("--header-timeout needs seconds above 0 (up to 86400)");
        } else if (strcmp(a, "--grace") == 0) {
            if (!parse_seconds(v, &opt->grace_ns))
                return usage("--grace needs seconds above 0 (up to 86400)");
        } else {
            char why[128];
            snprintf(why, sizeof why, "unknown argument '%s'", a);
            return usage(why);
        }
    }
    return 0;
}

static int listen_on(const struct options *opt, unsigned port, unsigned *bound)
{
    int fd = corio_listen_ex(opt->host, (uint16_t)port, -1,
                             opt->threads > 1 ? CORIO_LISTEN_REUSEPORT : 0);
    if (fd < 0) {
        bool v6 = strchr(opt->host, ':') != NULL;
        fprintf(stderr, "corio-httpd: cannot listen on %s%s%s:%u: %s\n", v6 ? "[" : "", opt->host,
                v6 ? "]" : "", port, corio_strerror(fd));
        return -1;
    }
    *bound = (unsigned)corio_sock_port(fd);
    return fd;
}

int main(int argc, char **argv)
{
    static struct server srv;
    srv.opt = (struct options){
        .host = "127.0.0.1",
        .threads = 1,
        .max_body = 1u << 20,
        .max_conns = 10000,
        .idle_ns = (uint64_t)(60 * SEC),
        .header_ns = (uint64_t)(20 * SEC),
        .grace_ns = (uint64_t)(5 * SEC),
    };
    int code = parse_args(argc, argv, &srv.opt);
    if (code != 0)
        return code;
    srv.root.fd = -1;
    if (srv.opt.root != NULL) {
        char why[256];
        if (docroot_open(&srv.root, srv.opt.root, !srv.opt.no_openat2, why, sizeof why) < 0) {
            fprintf(stderr, "corio-httpd: --root %s: %s\n", srv.opt.root, why);
            return 1;
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
    unsigned nthreads = srv.opt.threads, port = srv.opt.port, started = 0;
    for (unsigned t = 0; t < nthreads; t++) {
        workers[t] = (struct worker){.srv = &srv};
        pthread_mutex_init(&workers[t].mu, NULL);
        workers[t].listen_fd = listen_on(&srv.opt, port, &port); /* the first picks port 0's */
        if (workers[t].listen_fd < 0) {
            code = 1;
            nthreads = t;
            break;
        }
    }
    start_gate_init(&srv.gate, nthreads);
    for (; code == 0 && started < nthreads; started++)
        if (pthread_create(&workers[started].thread, NULL, worker_thread, &workers[started]) != 0) {
            fprintf(stderr, "corio-httpd: cannot start a thread\n");
            code = 1;
            break;
        }
    for (unsigned t = started; t < nthreads; t++)
        (void)start_gate_pass(&srv.gate, false); /* for the threads that do not exist */
    /* The listening line only once every loop accepts. */
    int err;
    if (code == 0 && !start_gate_wait(&srv.gate)) {
        code = 1;
    } else if (code == 0 && (err = print_listening("http", workers[0].listen_fd)) < 0) {
        fprintf(stderr, "corio-httpd: cannot print the listening line: %s\n", corio_strerror(err));
        code = 1;
    }
    if (code == 0) {
        /* Until a signal, or a worker that ended on its own (its loop failed). */
        struct timespec poll = {.tv_nsec = 100 * 1000 * 1000};
        bool ended = false;
        while (!ended && sigtimedwait(&stop_signals, NULL, &poll) < 0)
            for (unsigned t = 0; t < started; t++)
                ended |= atomic_load(&workers[t].done);
    }

    /* Drain; a second signal while draining cancels everything at once. */
    for (unsigned t = 0; t < started; t++)
        ask_stop(&workers[t], 1);
    for (unsigned t = 0; t < started; t++) {
        struct timespec poll = {.tv_nsec = 50 * 1000 * 1000};
        while (pthread_tryjoin_np(workers[t].thread, NULL) == EBUSY)
            if (sigtimedwait(&stop_signals, NULL, &poll) > 0)
                for (unsigned u = 0; u < started; u++)
                    ask_stop(&workers[u], 2);
        code |= workers[t].exit_code;
    }
    for (unsigned t = 0; t < nthreads; t++)
        if (workers[t].listen_fd >= 0)
            close(workers[t].listen_fd);
    docroot_close(&srv.root);
    start_gate_destroy(&srv.gate);
    return code;
}
