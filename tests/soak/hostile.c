/* hostile: a misbehaving (and a few well-behaved, verifying) TCP clients for the soak test
 * (tests/soak/soak.sh). One thread, level-triggered epoll, plain sockets: no corio.
 *
 * Usage: hostile --mode MODE --port P [--host ADDR] [--proto echo|http] [-c CONNS]
 *                (-d SECONDS | -n CONNECTIONS) [--size BYTES] [--hold MS] [--interval MS]
 *                [--timeout S] [--seed N] [-v]
 *
 * Modes (each bounded by -d and/or -n; -c connections at a time):
 *   flood      open connections as fast as possible, send a few bytes on some, hold each
 *              up to --hold ms, then drop it: every other one with a reset (SO_LINGER 0),
 *              the rest with a plain close
 *   reset-mid  start a large message (up to --size; for http a request with a body of
 *              that length), stop at a random point and reset the connection
 *   halfclose  (echo, verifying) send a random-size payload (1 B .. --size, log-uniform),
 *              shutdown(SHUT_WR), read the echo to end of stream and compare every byte
 *   loris      trickle one byte every --interval ms (~100) until the run ends; for echo
 *              the echo of each byte is checked, for http the bytes are an endless
 *              request head. A server closing a loris is counted (a defence), not an error
 *   garbage    random bytes (1 B .. 64 KiB; for http sometimes after a valid request line),
 *              then a close or a reset
 *   http-bad   crafted malformed requests, one per connection, cycling through a table
 *              (bad request line, a header over 8 KiB, a huge Content-Length, an unknown
 *              method, ...): the answer must be a 4xx/5xx status line or a close; anything
 *              else, or nothing within --timeout, is a finding
 *   http-good  (verifying) keep-alive GET /hello, pipelined batches of 1..16 and single
 *              requests: every response must be 200 with the body exactly "hello\n"
 *
 * Output: one line, "hostile mode=M conns=N ok=N failures=N findings=N ..." (key=value).
 * Exit status: 0; 1 when a verifying mode saw wrong or missing bytes, a finding was made,
 * or no connection could be made at all; 2 on bad flags; 3 on a failure of the tool
 * itself (epoll, memory). A server refusing, closing or resetting a hostile client is
 * counted, never an error. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PATTERN_SIZE  (3u << 20) /* random bytes every payload is a window of */
#define MAX_SIZE      (2u << 20) /* largest --size */
#define RBUF_SIZE     (64 * 1024)
#define HTTP_BUF      (16 * 1024) /* per http-good / http-bad connection */
#define MAX_EVENTS    256
#define MAX_REPORTS   5
#define RETRY_NS      (10ull * 1000 * 1000) /* after a failed connect, before the next one */
#define CONNECT_NS    (5ull * 1000 * 1000 * 1000)
#define HELLO_REQ_MAX 16 /* requests in one pipelined http-good batch */

enum mode { FLOOD, RESET_MID, HALFCLOSE, LORIS, GARBAGE, HTTP_BAD, HTTP_GOOD };
static const char *const mode_names[] = {"flood",   "reset-mid", "halfclose", "loris",
                                         "garbage", "http-bad",  "http-good"};

enum phase { IDLE, CONNECTING, ACTIVE };

struct conn {
    int fd;
    enum phase phase;
    unsigned slot;
    uint64_t deadline; /* ns: the next timer of this connection (0: none) */
    uint64_t progress; /* ns: last time bytes moved (verifying modes time out from it) */
    uint64_t retry_at; /* ns: an idle slot starts no connection before this */
    bool rst;          /* drop with a reset */
    bool sent_all;     /* the whole payload is out (halfclose: SHUT_WR done) */
    bool stopping;     /* http-good: the run is over, finish the batch and close */
    bool deaf;         /* reset-mid: never reads, so the server's sends back up */
    const unsigned char *out;
    size_t out_len, out_off; /* what to send: out[out_off .. out_len) */
    size_t target;           /* reset-mid: reset once this much is sent */
    size_t pat_off;          /* echo verification: the payload is pattern + pat_off */
    size_t rcvd;             /* bytes received (echo: verified) */
    unsigned kase;           /* http-bad: which case */
    unsigned pending;        /* http-good: responses still expected in this batch */
    unsigned left;           /* http-good: requests still to send on this connection */
    char *buf;               /* http modes: received bytes not parsed yet */
    size_t blen;
    char req[HELLO_REQ_MAX * 96]; /* http-good: the batch being sent; http-bad/garbage: head */
};

static struct {
    enum mode mode;
    bool http;
    const char *host, *port;
    unsigned conns;
    double duration;
    uint64_t limit;
    size_t size;
    unsigned hold_ms, interval_ms;
    double timeout;
    uint64_t seed;
    bool verbose;
} cfg = {.mode = FLOOD,
         .host = "127.0.0.1",
         .conns = 16,
         .size = 1u << 20,
         .hold_ms = 200,
         .interval_ms = 100,
         .timeout = 10};

static struct {
    uint64_t attempts, conns, ok, failures, findings, connect_errors, connect_timeouts;
    uint64_t rst, fin, server_closed, bytes_sent, bytes_verified, responses;
    uint64_t codes[6]; /* http-bad: answers by class (1xx .. 5xx); [0]: closed, no answer */
} st;

static struct sockaddr_storage addr;
static socklen_t addr_len;
static unsigned char *pattern;
static char *scratch;
static int ep;
static uint64_t rng_state;
static unsigned reports;

/* ---- small helpers -------------------------------------------------------------------- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rnd(void) /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static uint64_t rnd_below(uint64_t n)
{
    return n ? rnd() % n : 0;
}

/* 1 .. max, log-uniform: small sizes as likely as each larger power of two. */
static size_t rnd_size(size_t max)
{
    unsigned bits = 0;
    while (bits < 63 && (1ull << (bits + 1)) <= max)
        bits++;
    size_t top = (size_t)1 << rnd_below(bits + 1);
    size_t n = top + rnd_below(top);
    return n < 1 ? 1 : n > max ? max : n;
}

static void die(const char *what)
{
    fprintf(stderr, "hostile: %s: %s\n", what, strerror(errno));
    exit(3);
}

static void report(const char *kind, const struct conn *c, const char *fmt, ...)
{
    if (reports++ >= MAX_REPORTS && !cfg.verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "hostile %s: %s (connection %u): ", mode_names[cfg.mode], kind, c->slot);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

#define FAILURE(c, ...) (st.failures++, report("FAILURE", (c), __VA_ARGS__))
#define FINDING(c, ...) (st.findings++, report("FINDING", (c), __VA_ARGS__))

static void watch(struct conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        die("epoll_ctl");
}

/* Closes the connection: with a reset when c->rst, else a plain close (FIN). */
static void drop(struct conn *c)
{
    if (c->fd < 0)
        return;
    if (c->rst) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        (void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        st.rst++;
    } else {
        st.fin++;
    }
    close(c->fd); /* also takes it out of the epoll set */
    c->fd = -1;
    c->phase = IDLE;
    c->deadline = 0;
    c->blen = 0;
}

/* Closes a connection that never got established: nothing to count. */
static void abandon(struct conn *c)
{
    close(c->fd);
    c->fd = -1;
    c->phase = IDLE;
    c->deadline = 0;
}

/* Sends from c->out until done or the socket is full. Returns bytes sent (>= 0), or -1
 * when the connection failed (errno set). */
static ssize_t push(struct conn *c, size_t upto)
{
    size_t sent = 0;
    while (c->out_off < upto) {
        ssize_t n = send(c->fd, c->out + c->out_off, upto - c->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            return -1;
        }
        c->out_off += (size_t)n;
        sent += (size_t)n;
        st.bytes_sent += (uint64_t)n;
    }
    return (ssize_t)sent;
}

/* Reads what is there into scratch. Returns bytes (> 0), 0 at end of stream, -1 on a
 * reset or error (errno set), or -2 when nothing is there yet. */
static ssize_t pull(struct conn *c, char *into, size_t cap)
{
    for (;;) {
        ssize_t n = recv(c->fd, into, cap, 0);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN ? -2 : -1;
    }
}

/* ---- payloads --------------------------------------------------------------------------- */

/* http-bad: each a complete request (or what passes for one) that a server must refuse. */
struct bad_case {
    const char *name;
    char *req;
    size_t len;
};
static struct bad_case bad_cases[32];
static unsigned n_bad;

static void add_bad(const char *name, const char *head, char fill, size_t nfill, const char *tail)
{
    size_t hl = strlen(head), tail_len = strlen(tail);
    char *r = malloc(hl + nfill + tail_len);
    if (r == NULL)
        die("malloc");
    memcpy(r, head, hl);
    memset(r + hl, fill, nfill);
    memcpy(r + hl + nfill, tail, tail_len);
    bad_cases[n_bad++] = (struct bad_case){name, r, hl + nfill + tail_len};
}

#define BAD(name, req) add_bad((name), (req), 0, 0, "")

static void build_bad_cases(void)
{
    BAD("bad request line", "GARBAGE\r\n\r\n");
    add_bad("header over 8 KiB", "GET /hello HTTP/1.1\r\nHost: soak\r\nX-Big: ", 'a', 9000,
            "\r\n\r\n");
    add_bad("request line over 8 KiB", "GET /", 'a', 9000, " HTTP/1.1\r\nHost: soak\r\n\r\n");
    BAD("huge Content-Length",
        "GET /hello HTTP/1.1\r\nHost: soak\r\nContent-Length: 1099511627776\r\n\r\n");
    BAD("overflowing Content-Length",
        "GET /hello HTTP/1.1\r\nHost: soak\r\nContent-Length: 99999999999999999999999\r\n\r\n");
    BAD("negative Content-Length",
        "GET /hello HTTP/1.1\r\nHost: soak\r\nContent-Length: -1\r\n\r\n");
    BAD("Content-Length with junk",
        "GET /hello HTTP/1.1\r\nHost: soak\r\nContent-Length: 12abc\r\n\r\n");
    BAD("two Content-Lengths",
        "GET /hello HTTP/1.1\r\nHost: soak\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab");
    BAD("unknown method", "BREW /hello HTTP/1.1\r\nHost: soak\r\n\r\n");
    BAD("POST", "POST /hello HTTP/1.1\r\nHost: soak\r\nContent-Length: 0\r\n\r\n");
    BAD("HTTP/2.0", "GET /hello HTTP/2.0\r\nHost: soak\r\n\r\n");
    BAD("bad version", "GET /hello HTTP/1.x\r\nHost: soak\r\n\r\n");
    BAD("bad chunk size",
        "POST /echo HTTP/1.1\r\nHost: soak\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n"
        "\r\n");
    BAD("Content-Length and chunked",
        "GET /hello HTTP/1.1\r\nHost: soak\r\nContent-Length: 5\r\nTransfer-Encoding: "
        "chunked\r\n\r\nhello");
    BAD("header without colon", "GET /hello HTTP/1.1\r\nHost soak\r\n\r\n");
    BAD("space before colon", "GET /hello HTTP/1.1\r\nHost : soak\r\n\r\n");
    add_bad("NUL in a header", "GET /hello HTTP/1.1\r\nHost: soak\r\nX-A: a", '\0', 1, "b\r\n\r\n");
    BAD("folded header", "GET /hello HTTP/1.1\r\nHost: soak\r\nX-A: a\r\n b\r\n\r\n");
    BAD("bare CR", "GET /hello HTTP/1.1\rHost: soak\r\n\r\n");
    BAD("control byte in path", "GET /he\001llo HTTP/1.1\r\nHost: soak\r\n\r\n");
    BAD("traversal", "GET /../../../etc/passwd HTTP/1.1\r\nHost: soak\r\n\r\n");
    BAD("over max body, 100-continue",
        "GET /hello HTTP/1.1\r\nHost: soak\r\nExpect: 100-continue\r\nContent-Length: "
        "1073741824\r\n\r\n");
    {
        static char many[101 * 12 + 64];
        size_t n = (size_t)snprintf(many, sizeof many, "GET /hello HTTP/1.1\r\nHost: soak\r\n");
        for (int i = 0; i < 101; i++)
            n += (size_t)snprintf(many + n, sizeof many - n, "X-%03d: v\r\n", i);
        snprintf(many + n, sizeof many - n, "\r\n");
        BAD("101 header fields", many);
    }
}

static const char *const hello_reqs[] = {
    "GET /hello HTTP/1.1\r\nHost: soak\r\n\r\n",
    "GET /hello HTTP/1.1\r\nHost: soak\r\nUser-Agent: hostile/1\r\nAccept: */*\r\n\r\n",
    "GET /hello?x=1 HTTP/1.1\r\nhost: soak\r\nX-Padding: abcdefghijklmnopqrstuvwxyz\r\n\r\n",
};

/* ---- modes: what happens on connect, on readiness, on a timer, at the end --------------- */

static void set_payload_from_pattern(struct conn *c, size_t len)
{
    c->pat_off = (size_t)rnd_below(PATTERN_SIZE - len);
    c->out = pattern + c->pat_off;
    c->out_len = len;
    c->out_off = 0;
    c->rcvd = 0;
}

/* Checks echoed bytes against what was sent. Returns false after a failure. */
static bool check_echo(struct conn *c, const char *data, size_t n)
{
    if (c->rcvd + n > c->out_off) {
        FAILURE(c, "%zu bytes echoed but only %zu sent", c->rcvd + n, c->out_off);
        return false;
    }
    if (memcmp(data, pattern + c->pat_off + c->rcvd, n) != 0) {
        size_t i = 0;
        while (data[i] == (char)pattern[c->pat_off + c->rcvd + i])
            i++;
        FAILURE(c, "echo differs at byte %zu of %zu", c->rcvd + i, c->out_len);
        return false;
    }
    c->rcvd += n;
    st.bytes_verified += n;
    return true;
}

static void next_batch(struct conn *c);

/* The connection is up. */
static void on_connected(struct conn *c, uint64_t now)
{
    st.conns++;
    c->phase = ACTIVE;
    c->progress = now;
    c->rst = false;
    c->sent_all = c->stopping = false;
    c->blen = 0;
    switch (cfg.mode) {
    case FLOOD:
        c->rst = st.conns % 2 == 0;
        c->out = NULL;
        if (rnd_below(2)) { /* some bytes in flight when it is dropped */
            if (cfg.http) {
                c->out = (const unsigned char *)hello_reqs[0];
                c->out_len = strlen(hello_reqs[0]);
                c->out_off = 0;
            } else {
                set_payload_from_pattern(c, 1 + rnd_below(512));
            }
            (void)push(c, c->out_len);
        }
        c->deadline = now + rnd_below((uint64_t)cfg.hold_ms * 1000000 + 1);
        watch(c, EPOLLIN);
        break;
    case RESET_MID: {
        c->rst = true;
        size_t body = 1 + rnd_below(cfg.size);
        if (cfg.http) {
            /* A request whose body is cut short (or, sometimes, whose head is). */
            int n =
                snprintf(c->req, sizeof c->req,
                         "GET /hello HTTP/1.1\r\nHost: soak\r\nContent-Length: %zu\r\n\r\n", body);
            set_payload_from_pattern(c, body);
            /* The head goes first, by hand; the body is the pattern. */
            if (rnd_below(4) == 0) {
                size_t cut = 1 + rnd_below((size_t)n - 1);
                (void)send(c->fd, c->req, cut, MSG_NOSIGNAL);
                c->target = 0;
            } else {
                (void)send(c->fd, c->req, (size_t)n, MSG_NOSIGNAL);
                c->target = rnd_below(body);
            }
        } else {
            set_payload_from_pattern(c, body > 1 ? body : 2);
            c->target = 1 + rnd_below(c->out_len - 1);
        }
        /* After the target is reached, linger a little (0-50 ms) so the server is caught
         * both before and in the middle of its answer. */
        c->deadline = now + (uint64_t)(cfg.timeout * 1e9);
        c->deaf = rnd_below(2);
        watch(c, c->deaf ? EPOLLOUT : EPOLLIN | EPOLLOUT);
        break;
    }
    case HALFCLOSE:
        set_payload_from_pattern(c, rnd_size(cfg.size));
        watch(c, EPOLLIN | EPOLLOUT);
        c->deadline = now + (uint64_t)(cfg.timeout * 1e9);
        break;
    case LORIS:
        if (cfg.http) {
            static const char head[] = "GET /hello HTTP/1.1\r\nHost: soak\r\nX-Loris: ";
            memcpy(c->req, head, sizeof head - 1);
            memset(c->req + sizeof head - 1, 'a', sizeof c->req - (sizeof head - 1));
            c->out = (const unsigned char *)c->req;
            c->out_len = sizeof c->req;
            c->out_off = 0;
            c->rcvd = 0;
        } else {
            set_payload_from_pattern(c, 1u << 20);
        }
        c->deadline = now + rnd_below((uint64_t)cfg.interval_ms * 1000000 + 1);
        watch(c, EPOLLIN);
        break;
    case GARBAGE: {
        c->rst = rnd_below(2);
        size_t len = rnd_size(64 * 1024);
        set_payload_from_pattern(c, len);
        if (cfg.http && rnd_below(3) == 0) {
            static const char *const starts[] = {"GET /hello HTTP/1.1\r\n", "GET /",
                                                 "GET /hello HTTP/1.1\r\nHost: soak\r\nX: "};
            const char *s = starts[rnd_below(3)];
            (void)send(c->fd, s, strlen(s), MSG_NOSIGNAL);
        }
        c->deadline = now + (uint64_t)(cfg.timeout * 1e9);
        watch(c, EPOLLIN | EPOLLOUT);
        break;
    }
    case HTTP_BAD:
        c->kase = (unsigned)((st.conns - 1) % n_bad);
        c->out = (const unsigned char *)bad_cases[c->kase].req;
        c->out_len = bad_cases[c->kase].len;
        c->out_off = 0;
        c->deadline = now + (uint64_t)(cfg.timeout * 1e9);
        watch(c, EPOLLIN | EPOLLOUT);
        break;
    case HTTP_GOOD:
        c->left = 1 + (unsigned)rnd_below(200);
        next_batch(c);
        c->deadline = now + (uint64_t)(cfg.timeout * 1e9);
        watch(c, EPOLLIN | EPOLLOUT);
        break;
    }
}

/* http-good: queues the next batch of requests (1, or 1..16 pipelined). */
static void next_batch(struct conn *c)
{
    unsigned k = rnd_below(2) ? 1 : 1 + (unsigned)rnd_below(HELLO_REQ_MAX);
    if (k > c->left)
        k = c->left;
    size_t len = 0;
    for (unsigned i = 0; i < k; i++) {
        const char *r = hello_reqs[rnd_below(sizeof hello_reqs / sizeof hello_reqs[0])];
        size_t n = strlen(r);
        memcpy(c->req + len, r, n);
        len += n;
    }
    c->out = (const unsigned char *)c->req;
    c->out_len = len;
    c->out_off = 0;
    c->pending = k;
    c->left -= k;
}

/* http-good: parses the responses buffered. Returns false when the connection is over
 * (a failure was reported, or the server ended it as allowed). */
static bool parse_hello(struct conn *c)
{
    for (;;) {
        char *end = memmem(c->buf, c->blen, "\r\n\r\n", 4);
        if (end == NULL) {
            if (c->blen >= HTTP_BUF) {
                FAILURE(c, "response head over %d bytes", HTTP_BUF);
                return false;
            }
            return true;
        }
        size_t head = (size_t)(end - c->buf) + 4;
        if (c->pending == 0) {
            FAILURE(c, "a response nobody asked for: %.40s", c->buf);
            return false;
        }
        char *eol = memmem(c->buf, head, "\r\n", 2);
        if (memcmp(c->buf, "HTTP/1.1 200 ", 13) != 0) {
            FAILURE(c, "not 200 OK: %.*s", (int)(eol - c->buf), c->buf);
            return false;
        }
        long clen = -1;
        bool close_after = false;
        for (char *line = eol + 2; line < c->buf + head - 2;) {
            char *lend = memmem(line, (size_t)(c->buf + head - line), "\r\n", 2);
            if (strncasecmp(line, "Content-Length:", 15) == 0)
                clen = strtol(line + 15, NULL, 10);
            else if (strncasecmp(line, "Connection:", 11) == 0 &&
                     memmem(line, (size_t)(lend - line), "close", 5) != NULL)
                close_after = true;
            line = lend + 2;
        }
        if (clen != 6) {
            FAILURE(c, "Content-Length %ld, not 6", clen);
            return false;
        }
        if (c->blen < head + 6)
            return true;
        if (memcmp(c->buf + head, "hello\n", 6) != 0) {
            FAILURE(c, "body is \"%.6s\", not \"hello\\n\"", c->buf + head);
            return false;
        }
        st.responses++;
        st.bytes_verified += 6;
        c->pending--;
        memmove(c->buf, c->buf + head + 6, c->blen - head - 6);
        c->blen -= head + 6;
        if (close_after) {
            if (c->pending > 0 || c->left > 0) {
                FAILURE(c, "Connection: close with %u requests unanswered", c->pending + c->left);
                return false;
            }
            return false;
        }
    }
}

/* http-bad: judges what came back. Returns false once judged. */
static bool judge_bad(struct conn *c, bool eof)
{
    const struct bad_case *k = &bad_cases[c->kase];
    char *eol = memmem(c->buf, c->blen, "\r\n", 2);
    if (eol == NULL && !eof && c->blen < 256)
        return true;
    if (c->blen == 0) { /* closed without a word: acceptable */
        st.codes[0]++;
        st.ok++;
        return false;
    }
    if (c->blen >= 12 && memcmp(c->buf, "HTTP/1.", 7) == 0 && c->buf[8] == ' ' &&
        (c->buf[9] == '4' || c->buf[9] == '5')) {
        st.codes[c->buf[9] - '0']++;
        st.ok++;
        if (cfg.verbose)
            fprintf(stderr, "hostile http-bad: %s: %.12s\n", k->name, c->buf);
        return false;
    }
    if (c->blen >= 13 && memcmp(c->buf, "HTTP/1.1 100 ", 13) == 0) {
        /* An interim 100 Continue before the verdict: skip it and its blank line. */
        char *end = memmem(c->buf, c->blen, "\r\n\r\n", 4);
        if (end == NULL && !eof)
            return true;
        if (end == NULL) {
            FINDING(c, "%s: closed after 100 Continue, without a final answer", k->name);
            return false;
        }
        size_t skip = (size_t)(end - c->buf) + 4;
        memmove(c->buf, c->buf + skip, c->blen - skip);
        c->blen -= skip;
        return judge_bad(c, eof);
    }
    if (c->blen >= 10 && memcmp(c->buf, "HTTP/1.", 7) == 0 && c->buf[9] >= '1' && c->buf[9] <= '3')
        st.codes[c->buf[9] - '0']++;
    FINDING(c, "%s: answered \"%.*s\"", k->name,
            (int)(eol != NULL ? eol - c->buf : (long)(c->blen < 60 ? c->blen : 60)), c->buf);
    return false;
}

/* Readiness on an established connection. */
static void on_ready(struct conn *c, uint32_t ev, uint64_t now)
{
    if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        for (;;) {
            char *into = scratch;
            size_t cap = RBUF_SIZE;
            if (cfg.mode == HTTP_GOOD || cfg.mode == HTTP_BAD) {
                into = c->buf + c->blen;
                cap = HTTP_BUF - c->blen;
                if (cap == 0)
                    break;
            }
            ssize_t n = pull(c, into, cap);
            if (n == -2)
                break;
            if (n > 0)
                c->progress = now;
            switch (cfg.mode) {
            case HALFCLOSE:
            case LORIS:
                if (n > 0 && (cfg.mode == HALFCLOSE || !cfg.http)) {
                    if (!check_echo(c, into, (size_t)n)) {
                        c->rst = true;
                        drop(c);
                        return;
                    }
                    continue;
                }
                if (n > 0)
                    continue; /* http loris: whatever the server says (408, 400) */
                if (cfg.mode == HALFCLOSE) {
                    if (n == 0 && c->sent_all && c->rcvd == c->out_len) {
                        st.ok++;
                    } else if (n == 0) {
                        FAILURE(c, "end of stream after %zu of %zu bytes echoed%s", c->rcvd,
                                c->out_len, c->sent_all ? "" : " (before all were sent)");
                    } else {
                        FAILURE(c, "%s after %zu of %zu bytes echoed", strerror(errno), c->rcvd,
                                c->out_len);
                    }
                } else {
                    st.server_closed++;
                }
                drop(c);
                return;
            case HTTP_GOOD:
                if (n > 0) {
                    c->blen += (size_t)n;
                    if (!parse_hello(c)) {
                        drop(c);
                        return;
                    }
                    if (c->pending == 0 && c->out_off == c->out_len) {
                        if (c->left == 0 || c->stopping) {
                            st.ok++;
                            drop(c);
                            return;
                        }
                        next_batch(c);
                        watch(c, EPOLLIN | EPOLLOUT);
                    }
                    continue;
                }
                if (n == 0)
                    FAILURE(c, "end of stream with %u responses outstanding", c->pending);
                else
                    FAILURE(c, "%s with %u responses outstanding", strerror(errno), c->pending);
                drop(c);
                return;
            case HTTP_BAD:
                if (n > 0)
                    c->blen += (size_t)n;
                if (!judge_bad(c, n <= 0)) {
                    c->rst = rnd_below(2); /* half are reset with the verdict in hand */
                    drop(c);
                    return;
                }
                if (n <= 0) {
                    drop(c);
                    return;
                }
                continue;
            default: /* flood, reset-mid, garbage: read and forget */
                if (n > 0)
                    continue;
                st.server_closed++;
                c->rst = n < 0 || c->rst;
                drop(c);
                return;
            }
        }
    }
    if (!(ev & EPOLLOUT) || c->fd < 0)
        return;
    switch (cfg.mode) {
    case RESET_MID:
        if (push(c, c->target) < 0 || c->out_off >= c->target) {
            watch(c, c->deaf ? 0 : EPOLLIN);
            c->deadline = now + rnd_below(50 * 1000000ull); /* then reset */
        }
        break;
    case GARBAGE:
    case HTTP_BAD:
    case HALFCLOSE:
    case HTTP_GOOD: {
        ssize_t n = push(c, c->out_len);
        if (n > 0)
            c->progress = now;
        if (n < 0) {
            if (cfg.mode == HALFCLOSE || cfg.mode == HTTP_GOOD) {
                FAILURE(c, "send: %s", strerror(errno));
                c->rst = true;
                drop(c);
            } else if (cfg.mode == HTTP_BAD) {
                /* The server closed while the request was still going out (it may have
                 * answered already): read what is there, then judge. */
                watch(c, EPOLLIN);
            } else {
                st.server_closed++;
                c->rst = true;
                drop(c);
            }
            return;
        }
        if (c->out_off < c->out_len)
            break;
        if (cfg.mode == GARBAGE) {
            c->deadline = now + rnd_below(20 * 1000000ull); /* read a moment, then drop */
            watch(c, EPOLLIN);
        } else if (cfg.mode == HALFCLOSE) {
            c->sent_all = true;
            if (shutdown(c->fd, SHUT_WR) < 0) {
                FAILURE(c, "shutdown: %s", strerror(errno));
                drop(c);
                return;
            }
            watch(c, EPOLLIN);
        } else {
            watch(c, EPOLLIN);
        }
        break;
    }
    default:
        break;
    }
}

/* A connection's timer expired. */
static void on_timer(struct conn *c, uint64_t now)
{
    double idle_s = (double)(now - c->progress) / 1e9;
    switch (cfg.mode) {
    case FLOOD:
    case GARBAGE:
        drop(c);
        return;
    case RESET_MID:
        if (c->out_off < c->target) /* the server stopped reading: reset all the same */
            c->rst = true;
        drop(c);
        return;
    case LORIS: {
        char byte = (char)c->out[c->out_off % c->out_len];
        if (send(c->fd, &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1) {
            c->out_off++;
            st.bytes_sent++;
        } else if (errno != EAGAIN) {
            st.server_closed++;
            drop(c);
            return;
        }
        uint64_t iv = (uint64_t)cfg.interval_ms * 1000000;
        c->deadline = now + iv / 2 + rnd_below(iv + 1);
        return;
    }
    case HALFCLOSE:
    case HTTP_GOOD:
        if (idle_s < cfg.timeout) {
            c->deadline = c->progress + (uint64_t)(cfg.timeout * 1e9);
            return;
        }
        if (cfg.mode == HALFCLOSE)
            FAILURE(c, "no progress for %.1f s: %zu of %zu bytes sent, %zu echoed", idle_s,
                    c->out_off, c->out_len, c->rcvd);
        else
            FAILURE(c, "no response for %.1f s, %u outstanding", idle_s, c->pending);
        c->rst = true;
        drop(c);
        return;
    case HTTP_BAD:
        if (idle_s < cfg.timeout) {
            c->deadline = c->progress + (uint64_t)(cfg.timeout * 1e9);
            return;
        }
        FINDING(c, "%s: neither an answer nor a close within %.1f s (%zu of %zu bytes sent)",
                bad_cases[c->kase].name, cfg.timeout, c->out_off, c->out_len);
        c->rst = true;
        drop(c);
        return;
    }
}

/* The run is over: hostile connections go now, verifying ones finish what they started. */
static void on_stop(struct conn *c)
{
    if (c->phase == CONNECTING) {
        abandon(c);
        return;
    }
    switch (cfg.mode) {
    case HALFCLOSE:
    case HTTP_BAD:
        break;
    case HTTP_GOOD:
        c->stopping = true;
        if (c->pending == 0 && c->out_off == c->out_len) {
            st.ok++;
            drop(c);
        }
        break;
    case LORIS:
        c->rst = rnd_below(2);
        drop(c);
        break;
    default:
        drop(c);
        break;
    }
}

/* ---- the connection slots ------------------------------------------------------------- */

static bool verifying(void)
{
    return cfg.mode == HALFCLOSE || cfg.mode == HTTP_GOOD;
}

static void start(struct conn *c, uint64_t now)
{
    st.attempts++;
    c->rst = false;
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            st.connect_errors++;
            c->retry_at = now + RETRY_NS;
            return;
        }
        die("socket");
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
        die("epoll_ctl");
    if (connect(fd, (struct sockaddr *)&addr, addr_len) == 0) {
        on_connected(c, now);
        return;
    }
    if (errno == EINPROGRESS) {
        c->phase = CONNECTING;
        c->deadline = now + CONNECT_NS;
        return;
    }
    int err = errno;
    st.connect_errors++;
    if (verifying() && err == ECONNREFUSED)
        FAILURE(c, "connect: %s", strerror(err));
    else if (cfg.verbose)
        report("note", c, "connect: %s", strerror(err));
    abandon(c);
    c->retry_at = now + RETRY_NS;
}

static void connect_done(struct conn *c, uint64_t now)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err == 0) {
        on_connected(c, now);
        return;
    }
    st.connect_errors++;
    if (verifying())
        FAILURE(c, "connect: %s", strerror(err));
    abandon(c);
    c->retry_at = now + RETRY_NS;
}

static int run(void)
{
    struct conn *conns = calloc(cfg.conns, sizeof *conns);
    if (conns == NULL)
        die("calloc");
    for (unsigned i = 0; i < cfg.conns; i++) {
        conns[i].fd = -1;
        conns[i].slot = i;
        if (cfg.mode == HTTP_GOOD || cfg.mode == HTTP_BAD)
            if ((conns[i].buf = malloc(HTTP_BUF)) == NULL)
                die("malloc");
    }
    uint64_t t0 = now_ns();
    uint64_t stop_at = cfg.duration > 0 ? t0 + (uint64_t)(cfg.duration * 1e9) : UINT64_MAX;
    uint64_t end_at = UINT64_MAX; /* set at stop: a bound on finishing */
    bool stopped = false;
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        uint64_t now = now_ns();
        bool starting = now < stop_at && (cfg.limit == 0 || st.attempts < cfg.limit);
        if (!starting && !stopped) {
            stopped = true;
            end_at = now + (uint64_t)((cfg.timeout + 1) * 1e9);
            for (unsigned i = 0; i < cfg.conns; i++)
                if (conns[i].fd >= 0)
                    on_stop(&conns[i]);
        }
        unsigned active = 0;
        uint64_t next = now + 50 * 1000000ull;
        for (unsigned i = 0; i < cfg.conns; i++) {
            struct conn *c = &conns[i];
            if (c->fd < 0 && starting && now >= c->retry_at &&
                (cfg.limit == 0 || st.attempts < cfg.limit))
                start(c, now);
            if (c->fd >= 0 && c->deadline != 0 && now >= c->deadline) {
                if (c->phase == CONNECTING) {
                    st.connect_timeouts++;
                    if (verifying())
                        FAILURE(c, "connect took over %.0f s", CONNECT_NS / 1e9);
                    abandon(c);
                } else {
                    on_timer(c, now);
                }
                if (c->fd >= 0 && stopped)
                    on_stop(c);
            }
            if (c->fd >= 0) {
                active++;
                if (c->deadline != 0 && c->deadline < next)
                    next = c->deadline;
            } else if (starting && c->retry_at > now && c->retry_at < next) {
                next = c->retry_at;
            }
        }
        if (stopped && active == 0)
            break;
        if (now >= end_at) {
            for (unsigned i = 0; i < cfg.conns; i++) {
                struct conn *c = &conns[i];
                if (c->fd < 0)
                    continue;
                if (verifying())
                    FAILURE(c, "still unfinished %.1f s after the end", cfg.timeout + 1);
                else if (cfg.mode == HTTP_BAD)
                    FINDING(c, "%s: still unanswered at the end", bad_cases[c->kase].name);
                c->rst = true;
                drop(c);
            }
            break;
        }
        if (stop_at < next && !stopped)
            next = stop_at;
        int wait_ms = next > now ? (int)((next - now + 999999) / 1000000) : 0;
        int n = epoll_wait(ep, evs, MAX_EVENTS, wait_ms);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        now = now_ns();
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->fd < 0)
                continue;
            if (c->phase == CONNECTING)
                connect_done(c, now);
            else
                on_ready(c, evs[i].events, now);
        }
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    printf("hostile mode=%s proto=%s conns=%" PRIu64 " ok=%" PRIu64 " failures=%" PRIu64
           " findings=%" PRIu64 " connect_errors=%" PRIu64 " connect_timeouts=%" PRIu64
           " rst=%" PRIu64 " fin=%" PRIu64 " server_closed=%" PRIu64 " bytes_sent=%" PRIu64
           " bytes_verified=%" PRIu64 " responses=%" PRIu64,
           mode_names[cfg.mode], cfg.http ? "http" : "echo", st.conns, st.ok, st.failures,
           st.findings, st.connect_errors, st.connect_timeouts, st.rst, st.fin, st.server_closed,
           st.bytes_sent, st.bytes_verified, st.responses);
    if (cfg.mode == HTTP_BAD)
        printf(" closed=%" PRIu64 " 4xx=%" PRIu64 " 5xx=%" PRIu64, st.codes[0], st.codes[4],
               st.codes[5]);
    printf(" seconds=%.2f seed=%" PRIu64 "\n", secs, cfg.seed);
    fflush(stdout);
    for (unsigned i = 0; i < cfg.conns; i++)
        free(conns[i].buf);
    free(conns);
    if (st.conns == 0 && st.attempts > 0) {
        fprintf(stderr, "hostile %s: no connection to %s:%s succeeded (%" PRIu64 " tried)\n",
                mode_names[cfg.mode], cfg.host, cfg.port, st.attempts);
        return 1;
    }
    return st.failures || st.findings ? 1 : 0;
}

/* ---- flags ------------------------------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: hostile --mode MODE --port P [--host ADDR] [--proto echo|http] [-c CONNS]\n"
            "               (-d SECONDS | -n CONNECTIONS) [--size BYTES] [--hold MS]\n"
            "               [--interval MS] [--timeout S] [--seed N] [-v]\n"
            "  MODE: flood reset-mid halfclose loris garbage http-bad http-good\n"
            "  -c, --conns N      connections at a time (default 16)\n"
            "  -d, --duration S   start new connections for S seconds\n"
            "  -n, --count N      start N connections in all\n"
            "  -s, --size BYTES   largest message (reset-mid, halfclose); k/M suffixes (1M)\n"
            "  --hold MS          flood: hold each connection up to MS ms (200)\n"
            "  --interval MS      loris: one byte every ~MS ms (100)\n"
            "  -t, --timeout S    verifying modes and http-bad: no progress for S s is a\n"
            "                     failure (10)\n"
            "  --seed N           random seed (default: from the clock); printed\n"
            "  -v, --verbose      report every failure, finding and note\n");
}

static bool parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || errno)
        return false;
    if (*end == 'k' || *end == 'K')
        v <<= 10, end++;
    else if (*end == 'm' || *end == 'M')
        v <<= 20, end++;
    if (*end != '\0' || v < 2 || v > MAX_SIZE)
        return false;
    *out = (size_t)v;
    return true;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"mode", required_argument, NULL, 'm'},
                                             {"host", required_argument, NULL, 'H'},
                                             {"port", required_argument, NULL, 'p'},
                                             {"proto", required_argument, NULL, 'P'},
                                             {"conns", required_argument, NULL, 'c'},
                                             {"duration", required_argument, NULL, 'd'},
                                             {"count", required_argument, NULL, 'n'},
                                             {"size", required_argument, NULL, 's'},
                                             {"hold", required_argument, NULL, 'h'},
                                             {"interval", required_argument, NULL, 'i'},
                                             {"timeout", required_argument, NULL, 't'},
                                             {"seed", required_argument, NULL, 'S'},
                                             {"verbose", no_argument, NULL, 'v'},
                                             {"help", no_argument, NULL, 'z'},
                                             {NULL, 0, NULL, 0}};
    bool have_mode = false, have_seed = false;
    int o;
    while ((o = getopt_long(argc, argv, "m:H:p:P:c:d:n:s:t:v", longopts, NULL)) != -1) {
        char *end = NULL;
        switch (o) {
        case 'm':
            have_mode = false;
            for (unsigned i = 0; i < sizeof mode_names / sizeof mode_names[0]; i++)
                if (strcmp(optarg, mode_names[i]) == 0) {
                    cfg.mode = (enum mode)i;
                    have_mode = true;
                }
            if (!have_mode) {
                fprintf(stderr, "hostile: unknown mode '%s'\n", optarg);
                usage(stderr);
                return 2;
            }
            break;
        case 'H':
            cfg.host = optarg;
            break;
        case 'p':
            cfg.port = optarg;
            break;
        case 'P':
            if (strcmp(optarg, "echo") != 0 && strcmp(optarg, "http") != 0) {
                fprintf(stderr, "hostile: --proto is echo or http\n");
                return 2;
            }
            cfg.http = strcmp(optarg, "http") == 0;
            break;
        case 'c':
            cfg.conns = (unsigned)strtoul(optarg, &end, 10);
            if (*end != '\0' || cfg.conns == 0 || cfg.conns > 100000) {
                fprintf(stderr, "hostile: -c needs 1 to 100000\n");
                return 2;
            }
            break;
        case 'd':
            cfg.duration = strtod(optarg, &end);
            if (*end != '\0' || !(cfg.duration > 0)) {
                fprintf(stderr, "hostile: -d needs a positive number of seconds\n");
                return 2;
            }
            break;
        case 'n':
            cfg.limit = strtoull(optarg, &end, 10);
            if (*end != '\0' || cfg.limit == 0) {
                fprintf(stderr, "hostile: -n needs a positive count\n");
                return 2;
            }
            break;
        case 's':
            if (!parse_size(optarg, &cfg.size)) {
                fprintf(stderr, "hostile: --size needs 2 to 2M bytes\n");
                return 2;
            }
            break;
        case 'h':
            cfg.hold_ms = (unsigned)strtoul(optarg, &end, 10);
            if (*end != '\0') {
                fprintf(stderr, "hostile: --hold needs milliseconds\n");
                return 2;
            }
            break;
        case 'i':
            cfg.interval_ms = (unsigned)strtoul(optarg, &end, 10);
            if (*end != '\0' || cfg.interval_ms == 0) {
                fprintf(stderr, "hostile: --interval needs milliseconds\n");
                return 2;
            }
            break;
        case 't':
            cfg.timeout = strtod(optarg, &end);
            if (*end != '\0' || !(cfg.timeout > 0)) {
                fprintf(stderr, "hostile: --timeout needs a positive number of seconds\n");
                return 2;
            }
            break;
        case 'S':
            cfg.seed = strtoull(optarg, &end, 10);
            have_seed = *end == '\0';
            break;
        case 'v':
            cfg.verbose = true;
            break;
        case 'z':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc || !have_mode || cfg.port == NULL || (cfg.duration <= 0 && cfg.limit == 0)) {
        fprintf(stderr, "hostile: --mode, --port and -d or -n are required\n");
        usage(stderr);
        return 2;
    }
    if (cfg.mode == HTTP_BAD || cfg.mode == HTTP_GOOD)
        cfg.http = true;
    else if (cfg.mode == HALFCLOSE && cfg.http) {
        fprintf(stderr, "hostile: halfclose is an echo mode\n");
        return 2;
    }
    if (!have_seed)
        cfg.seed = now_ns() ^ ((uint64_t)getpid() << 32);
    rng_state = cfg.seed ? cfg.seed : 1;

    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV},
                    *ai;
    int gai = getaddrinfo(cfg.host, cfg.port, &hints, &ai);
    if (gai != 0) {
        fprintf(stderr, "hostile: %s:%s: %s\n", cfg.host, cfg.port, gai_strerror(gai));
        return 2;
    }
    memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
    addr_len = ai->ai_addrlen;
    freeaddrinfo(ai);

    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    pattern = malloc(PATTERN_SIZE);
    scratch = malloc(RBUF_SIZE);
    if (pattern == NULL || scratch == NULL)
        die("malloc");
    for (size_t i = 0; i < PATTERN_SIZE; i += 8) {
        uint64_t r = rnd();
        memcpy(pattern + i, &r, 8);
    }
    build_bad_cases();
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");
    int status = run();
    for (unsigned i = 0; i < n_bad; i++)
        free(bad_cases[i].req);
    free(pattern);
    free(scratch);
    close(ep);
    return status;
}
