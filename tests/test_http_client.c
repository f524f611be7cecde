/* Tests of the HTTP client (corio/http_client.h: engine/http/client.c, pool.c, decode.c)
 * against scripted peers: tasks on the client's own loop listening on 127.0.0.1 with a
 * free port, each connection answering the requests it reads with the next step of a
 * script (send these bytes, then keep the connection, close it, reset it or stall). They
 * cover a GET and its fields, keep-alive reuse, the body framings both ways, resets and
 * truncations, stale pooled connections, retries, deadlines and cancels, the caps, their
 * FIFO of waiters and the hand-over of a freed connection, the total cap closing idle
 * connections, redirects and the credentials they carry, the caller's fields, max_body,
 * gzip and deflate, oversized and malformed heads, argument errors and the statistics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <corio/http.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "support.h"

#define MS        1000000ull
#define MAX_REQS  64
#define MAX_CONNS 64
#define MAX_STEPS 8
#define IN_CAP    (128 * 1024)

/* ---- a scripted peer ----------------------------------------------------------------- */

/* What a peer's connection does after sending a step's bytes. */
enum { KEEP, CLOSE, RESET, STALL };

struct step {
    const char *resp; /* NULL: send nothing */
    size_t len;       /* 0: strlen(resp) */
    int then;
};

/* One request as the peer read it. */
struct rec {
    char *head; /* request line and fields, NUL-terminated */
    char *body; /* de-chunked if it came chunked; NUL-terminated */
    size_t body_len;
    bool chunked;
    unsigned conn; /* which accepted connection, from 0 */
    char method[16], target[256];
};

struct peer;

struct pconn {
    struct peer *p;
    int fd;
    unsigned index;
    size_t in_len;
    char in[IN_CAP];
};

struct peer {
    int lfd;
    uint16_t port;
    /* Request n (counted over all connections) gets steps[min(n, nsteps - 1)], unless
     * respond is set: it then answers and says what follows. */
    struct step steps[MAX_STEPS];
    unsigned nsteps;
    int (*respond)(struct peer *p, struct pconn *c, const struct rec *r, unsigned n);
    void *user;
    unsigned accepts, live, max_live, nreqs;
    uint64_t bytes_out;
    struct rec reqs[MAX_REQS];
    corio_task_t *acceptor, *conns[MAX_CONNS];
    struct pconn *pcs[MAX_CONNS];
    corio_event_t got_request; /* set at every request read */
    corio_event_t closed;      /* set whenever a connection task ends */
};

/* More bytes into c->in: > 0, 0 at the end, or -errno. */
static ssize_t fill(struct pconn *c)
{
    assert_true(c->in_len < sizeof c->in);
    ssize_t n = corio_recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
    if (n > 0)
        c->in_len += (size_t)n;
    return n;
}

static void consume(struct pconn *c, size_t n)
{
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
}

/* The offset just past the first CRLF in c->in at or after from, reading as needed; -1 at
 * the end of the stream. */
static ssize_t line_end(struct pconn *c, size_t from)
{
    for (;;) {
        for (size_t i = from; i + 1 < c->in_len; i++)
            if (c->in[i] == '\r' && c->in[i + 1] == '\n')
                return (ssize_t)(i + 2);
        if (fill(c) <= 0)
            return -1;
    }
}

static bool need(struct pconn *c, size_t n)
{
    while (c->in_len < n)
        if (fill(c) <= 0)
            return false;
    return true;
}

/* The value of field name in a recorded head, copied into out; false when absent. */
static bool rec_field(const struct rec *r, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    for (const char *at = strstr(r->head, "\r\n"); at != NULL; at = strstr(at + 2, "\r\n")) {
        const char *f = at + 2;
        if (strncasecmp(f, name, nlen) == 0 && f[nlen] == ':') {
            const char *v = f + nlen + 1, *end = strstr(v, "\r\n");
            while (*v == ' ')
                v++;
            size_t vlen = end != NULL ? (size_t)(end - v) : strlen(v);
            if (out != NULL)
                snprintf(out, cap, "%.*s", (int)vlen, v);
            return true;
        }
    }
    return false;
}

/* Reads one request (head, and a body by Content-Length or chunked). Returns 1 and
 * records it, or 0 when the stream ended or broke first. */
static int read_request(struct pconn *c, struct rec **out)
{
    struct peer *p = c->p;
    size_t end = 0;
    for (;;) {
        char *e = memmem(c->in, c->in_len, "\r\n\r\n", 4);
        if (e != NULL) {
            end = (size_t)(e - c->in) + 4;
            break;
        }
        if (fill(c) <= 0)
            return 0;
    }
    assert_true(p->nreqs < MAX_REQS);
    struct rec *r = &p->reqs[p->nreqs];
    memset(r, 0, sizeof *r);
    r->head = strndup(c->in, end - 2);
    r->conn = c->index;
    assert_int_equal(sscanf(r->head, "%15s %255s", r->method, r->target), 2);
    consume(c, end);
    char v[64];
    r->body = calloc(1, 1);
    if (rec_field(r, "transfer-encoding", v, sizeof v)) {
        assert_string_equal(v, "chunked");
        r->chunked = true;
        for (;;) {
            ssize_t le = line_end(c, 0);
            if (le < 0)
                goto broken;
            size_t size = strtoul(c->in, NULL, 16);
            consume(c, (size_t)le);
            if (size == 0) { /* no trailers from the client: the empty line */
                if (!need(c, 2))
                    goto broken;
                assert_memory_equal(c->in, "\r\n", 2);
                consume(c, 2);
                break;
            }
            if (!need(c, size + 2))
                goto broken;
            r->body = realloc(r->body, r->body_len + size + 1);
            memcpy(r->body + r->body_len, c->in, size);
            r->body_len += size;
            r->body[r->body_len] = '\0';
            assert_memory_equal(c->in + size, "\r\n", 2);
            consume(c, size + 2);
        }
    } else if (rec_field(r, "content-length", v, sizeof v)) {
        size_t len = strtoul(v, NULL, 10);
        if (!need(c, len))
            goto broken;
        r->body = realloc(r->body, len + 1);
        memcpy(r->body, c->in, len);
        r->body[len] = '\0';
        r->body_len = len;
        consume(c, len);
    }
    p->nreqs++;
    *out = r;
    return 1;
broken: /* a request cut short is not recorded */
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof *r);
    return 0;
}

static void psend(struct pconn *c, const void *data, size_t len)
{
    const char *at = data;
    while (len > 0) {
        ssize_t n = corio_send(c->fd, at, len, 0);
        if (n <= 0)
            return; /* the client left: what it saw is the test's business */
        c->p->bytes_out += (uint64_t)n;
        at += n;
        len -= (size_t)n;
    }
}

static void psend_str(struct pconn *c, const char *s)
{
    psend(c, s, strlen(s));
}

/* Waits until the client closes its end (or the peer is stopped). */
static void wait_eof(struct pconn *c)
{
    char buf[4096];
    while (corio_recv(c->fd, buf, sizeof buf, 0) > 0) {
    }
}

static void *conn_main(void *arg)
{
    struct pconn *c = arg;
    struct peer *p = c->p;
    for (;;) {
        struct rec *r;
        if (read_request(c, &r) == 0)
            break;
        unsigned n = p->nreqs - 1;
        corio_event_set(&p->got_request);
        int then;
        if (p->respond != NULL) {
            then = p->respond(p, c, r, n);
        } else {
            const struct step *s = &p->steps[n < p->nsteps ? n : p->nsteps - 1];
            if (s->resp != NULL)
                psend(c, s->resp, s->len != 0 ? s->len : strlen(s->resp));
            then = s->then;
        }
        if (then == KEEP)
            continue;
        if (then == RESET) {
            support_close_with_reset(c->fd);
            c->fd = -1;
        } else if (then == STALL) {
            wait_eof(c);
        }
        break;
    }
    p->live--;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    corio_event_set(&p->closed);
    return NULL;
}

static void *acceptor_main(void *arg)
{
    struct peer *p = arg;
    for (;;) {
        int fd = corio_accept(p->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            return NULL;
        assert_true(p->accepts < MAX_CONNS);
        struct pconn *c = calloc(1, sizeof *c);
        assert_non_null(c);
        c->p = p;
        c->fd = fd;
        c->index = p->accepts;
        p->pcs[p->accepts] = c;
        if (++p->live > p->max_live)
            p->max_live = p->live;
        assert_int_equal(corio_spawn(NULL, conn_main, c, &p->conns[p->accepts]), 0);
        p->accepts++;
    }
}

static void peer_listen(struct peer *p)
{
    p->lfd = corio_listen("127.0.0.1", 0, 64);
    assert_true(p->lfd >= 0);
    p->port = (uint16_t)corio_sock_port(p->lfd);
    corio_event_init(&p->got_request);
    corio_event_init(&p->closed);
    assert_int_equal(corio_spawn(NULL, acceptor_main, p, &p->acceptor), 0);
}

/* A peer answering every request with the steps given, the last one repeated (on the
 * heap: a task's stack is small). */
static struct peer *peer_script(const struct step *steps, unsigned n)
{
    struct peer *p = calloc(1, sizeof *p);
    assert_non_null(p);
    assert_true(n <= MAX_STEPS);
    memcpy(p->steps, steps, n * sizeof *steps);
    p->nsteps = n;
    peer_listen(p);
    return p;
}

/* A peer whose respond function answers. */
static struct peer *
peer_new(int (*respond)(struct peer *, struct pconn *, const struct rec *, unsigned), void *user)
{
    struct peer *p = calloc(1, sizeof *p);
    assert_non_null(p);
    p->respond = respond;
    p->user = user;
    peer_listen(p);
    return p;
}

/* Waits until every connection the peer accepted has ended. */
static void peer_wait_idle(struct peer *p)
{
    while (p->live > 0) {
        corio_event_clear(&p->closed);
        assert_int_equal(corio_event_wait(&p->closed), 0);
    }
}

static void peer_stop(struct peer *p)
{
    corio_cancel(p->acceptor);
    corio_join(p->acceptor, NULL);
    for (unsigned i = 0; i < p->accepts; i++) {
        corio_cancel(p->conns[i]);
        corio_join(p->conns[i], NULL);
        free(p->pcs[i]);
    }
    close(p->lfd);
    for (unsigned i = 0; i < p->nreqs; i++) {
        free(p->reqs[i].head);
        free(p->reqs[i].body);
    }
    free(p);
}

/* ---- the client side ------------------------------------------------------------------- */

static const char *url_of(const struct peer *p, const char *path)
{
    static char urls[8][512];
    static unsigned next;
    char *u = urls[next++ % 8];
    snprintf(u, sizeof urls[0], "http://127.0.0.1:%u%s", (unsigned)p->port, path);
    return u;
}

static corio_http_client_t *new_client(const corio_http_client_opts_t *o)
{
    corio_http_client_t *c;
    assert_int_equal(corio_http_client_new(&c, o), 0);
    return c;
}

static int get(corio_http_client_t *c, const char *url, corio_http_client_resp_t *r)
{
    corio_http_client_req_t req = {.url = url};
    return corio_http_client_do(c, &req, r);
}

/* The response field name as a NUL-terminated string (empty when absent). */
static const char *field(const corio_http_client_resp_t *r, const char *name, unsigned nth)
{
    static char buf[256];
    size_t len;
    const char *v = corio_http_client_resp_header(r, name, nth, &len);
    if (v == NULL)
        return "";
    snprintf(buf, sizeof buf, "%.*s", (int)len, v);
    return buf;
}

static corio_http_client_stats_t stats(const corio_http_client_t *c)
{
    corio_http_client_stats_t st;
    corio_http_client_stats(c, &st);
    return st;
}

/* A test body runs as the only task of a fresh loop; the peers are tasks beside it. */
#define TASK_TEST(name)                                                                            \
    static void *name##_task(void *arg);                                                           \
    static void name(void **state)                                                                 \
    {                                                                                              \
        (void)state;                                                                               \
        support_run(name##_task, NULL);                                                            \
    }                                                                                              \
    static void *name##_task(void *arg __attribute__((unused)))

#define OK_HELLO "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Thing: one\r\n\r\nhello"

/* ---- a GET, keep-alive ------------------------------------------------------------------- */

TASK_TEST(test_get_simple)
{
    const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n"
                       "Set-Cookie: a=1\r\nset-cookie: b=2\r\n\r\nhello";
    struct peer *p = peer_script(&(struct step){resp, 0, KEEP}, 1);
    corio_http_client_t *c = new_client(NULL);
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    assert_int_equal(get(c, url_of(p, "/index?q=1"), &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.version_minor, 1);
    assert_int_equal(r.body_len, 5);
    assert_string_equal(r.body, "hello");
    assert_int_equal(r.body_bytes, 5);
    assert_false(r.reused);
    assert_int_equal(r.redirects, 0);
    assert_string_equal(r.url, url_of(p, "/index?q=1"));
    assert_string_equal(corio_http_client_resp_error(&r), "");
    assert_string_equal(field(&r, "content-type", 0), "text/plain");
    assert_string_equal(field(&r, "CONTENT-LENGTH", 0), "5");
    assert_string_equal(field(&r, "Set-Cookie", 0), "a=1");
    assert_string_equal(field(&r, "Set-Cookie", 1), "b=2");
    assert_null(corio_http_client_resp_header(&r, "Set-Cookie", 2, NULL));
    assert_null(corio_http_client_resp_header(&r, "X-Absent", 0, NULL));
    /* What went out: GET of the target, Host, the default User-Agent and Accept. */
    assert_int_equal(p->nreqs, 1);
    assert_string_equal(p->reqs[0].method, "GET");
    assert_string_equal(p->reqs[0].target, "/index?q=1");
    char v[128], host[64];
    snprintf(host, sizeof host, "127.0.0.1:%u", (unsigned)p->port);
    assert_true(rec_field(&p->reqs[0], "host", v, sizeof v));
    assert_string_equal(v, host);
    assert_true(rec_field(&p->reqs[0], "user-agent", v, sizeof v));
    assert_true(strncmp(v, "corio/", 6) == 0);
    assert_true(rec_field(&p->reqs[0], "accept", v, sizeof v));
    assert_false(rec_field(&p->reqs[0], "accept-encoding", NULL, 0));
    assert_false(rec_field(&p->reqs[0], "content-length", NULL, 0));
    assert_false(rec_field(&p->reqs[0], "connection", NULL, 0));
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    peer_stop(p);
    return NULL;
}

TASK_TEST(test_keepalive_reuse)
{
    struct peer *p = peer_script(&(struct step){OK_HELLO, 0, KEEP}, 1);
    corio_http_client_t *c = new_client(NULL);
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    assert_int_equal(get(c, url_of(p, "/a"), &r), 0);
    assert_false(r.reused);
    assert_int_equal(stats(c).conns_idle, 1);
    assert_int_equal(get(c, url_of(p, "/b"), &r), 0);
    assert_true(r.reused);
    assert_string_equal(r.body, "hello");
    assert_int_equal(p->accepts, 1);
    assert_int_equal(p->nreqs, 2);
    assert_int_equal(p->reqs[1].conn, 0);
    assert_string_equal(p->reqs[1].target, "/b");
    /* close_idle empties the pool: the next request opens a new connection. */
    corio_http_client_close_idle(c);
    assert_int_equal(stats(c).conns_idle, 0);
    assert_int_equal(stats(c).conns_open, 0);
    assert_int_equal(get(c, url_of(p, "/c"), &r), 0);
    assert_false(r.reused);
    assert_int_equal(p->accepts, 2);
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    peer_stop(p);
    return NULL;
}

TASK_TEST(test_no_keepalive)
{
    struct peer *p = peer_script(&(struct step){OK_HELLO, 0, KEEP}, 1);
    corio_http_client_t *c = new_client(NULL);
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    corio_http_client_req_t req = {.url = url_of(p, "/"), .flags = CORIO_HTTP_NO_KEEPALIVE};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(corio_http_client_do(c, &req, &r), 0);
        assert_false(r.reused);
    }
    assert_int_equal(p->accepts, 2);
    char v[32];
    assert_true(rec_field(&p->reqs[0], "connection", v, sizeof v));
    assert_string_equal(v, "close");
    assert_int_equal(stats(c).conns_open, 0);
    /* The server's "Connection: close" keeps a connection out of the pool too. */
    struct peer *q = peer_script(
        &(struct step){"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 0,
                       KEEP},
        1);
    assert_int_equal(get(c, url_of(q, "/"), &r), 0);
    assert_int_equal(r.body_len, 0);
    assert_string_equal(r.body, "");
    assert_int_equal(stats(c).conns_open, 0);
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    peer_stop(q);
    peer_stop(p);
    return NULL;
}

/* ---- response bodies ------------------------------------------------------------------- */

TASK_TEST(test_body_framings)
{
    struct step steps[] = {
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
         "5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n",
         0, KEEP},
        /* HTTP/1.0 without a length: the body runs to the close. */
        {"HTTP/1.0 200 OK\r\n\r\nuntil the end", 0, CLOSE},
        /* an interim 100 before the final response */
        {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", 0, KEEP},
    };
    struct peer *p = peer_script(steps, 3);
    corio_http_client_t *c = new_client(NULL);
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    assert_int_equal(get(c, url_of(p, "/chunked"), &r), 0);
    assert_string_equal(r.body, "hello world");
    assert_int_equal(r.body_len, 11);
    assert_int_equal(stats(c).conns_idle, 1);
    assert_int_equal(get(c, url_of(p, "/close"), &r), 0);
    assert_int_equal(r.version_minor, 0);
    assert_string_equal(r.body, "until the end");
    assert_true(r.reused);
    assert_int_equal(stats(c).conns_open, 0); /* the close ended it */
    assert_int_equal(get(c, url_of(p, "/interim"), &r), 0);
    assert_int_equal(r.status, 204);
    assert_int_equal(r.body_len, 0);
    assert_int_equal(p->accepts, 2);
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    peer_stop(p);
    return NULL;
}

/* A HEAD response has no body whatever its Content-Length, and the connection lives on. */
TASK_TEST(test_head_request)
{
    struct peer *p =
        peer_script(&(struct step){"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", 0, KEEP}, 1);
    corio_http_client_t *c = new_client(NULL);
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    corio_http_client_req_t req = {.url = url_of(p, "/"), .method = "HEAD"};
    assert_int_equal(corio_http_client_do(c, &req, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    assert_string_equal(field(&r, "content-length", 0), "100");
    assert_int_equal(corio_http_client_do(c, &req, &r), 0);
    assert_true(r.reused);
    assert_string_equal(p->reqs[1].method, "HEAD");
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    peer_stop(p);
    return NULL;
}

struct collect {
    char buf[256];
    size_t len;
    unsigned calls;
    int fail_with; /* nonzero: the sink returns it */
};

static int collect_sink(void *arg, const void *data, size_t len)
{
    struct collect *s = arg;
    s->calls++;
    if (s->fail_with != 0)
        return s->fail_with;
    assert_true(s->len + len < sizeof s->buf);
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    return 0;
}

/* A sink gets the final body only, never a redirect's; its error ends the request. */
TASK_TEST(test_sink)
{
    struct step steps[] = {
        {"HTTP/1.1 302 Found\r\nLocation: /final\r\nContent-Length: 5\r\n\r\nmoved", 0, KEEP},
        {OK_HELLO, 0, KEEP},
    };
    struct peer *p = peer_script(steps, 2);
    corio_http_client_t *c = new_client(NULL);
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    struct collect s = {0};
    corio_http_client_req_t req = {
        .url = url_of(p, "/"), .sink = collect_sink, .sink_arg = &s, .flags = CORIO_HTTP_FOLLOW};
    assert_int_equal(corio_http_client_do(c, &req, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.redirects, 1);
    assert_null(r.body);
    assert_int_equal(r.body_bytes, 5);
    assert_int_equal(s.len, 5);
    assert_memory_equal(s.buf, "hello", 5);
    /* The sink's own error comes back, and the connection is not kept. */
    struct collect bad = {.fail_with = -ENOSPC};
    req.sink_arg = &bad;
    req.flags = 0;
    req.url = url_of(p, "/final");
    assert_int_equal(corio_http_client_do(c, &req, &r), -ENOSPC);
    assert_int_equal(bad.calls, 1);
    assert_non_null(strstr(corio_http_client_resp_error(&r), "sink"));
    assert_int_equal(stats(c).conns_open, 0);
    /* corio_http_sink_fd writes to an fd. */
    int fd = support_pattern_file(0);
    req.sink = corio_http_sink_fd;
    req.sink_arg = &fd;
    assert_int_equal(corio_http_client_do(c, &req, &r), 0);
    char back[8] = {0};
    assert_int_equal(pread(fd, back, sizeof back, 0), 5);
    assert_string_equal(back, "hello");
    close(fd);
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    peer_stop(p);
    return NULL;
}

/* ---- request bodies ---------------------------------------------------------------------- */

struct source {
    const char *const *pieces;
    unsigned next, reads;
    int fail_at; /* 1-based read that fails with -EIO; 0 never */
};

static ssize_t source_read(void *arg, void *buf, size_t len)
{
    struct source *s = arg;
    s->reads++;
    if (s->fail_at != 0 && s->reads == (unsigned)s->fail_at)
        return -EIO;
    const char *piece = s->pieces[s->next];
    if (piece == NULL)
        return 0;
    s->next++;
    size_t n = strlen(piece);
    assert_true(n <= len);
    memcpy(buf, piece, n);
    return (ssize_t)n;
}

TASK_TEST(test_request_bodies)
{
    struct peer *p = peer_script(&(struct step){OK_HELLO, 0, KEEP}, 1);
    corio_http_client_t *c = new_client(NULL);
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    /* A body in memory: POST with Content-Length. */
    corio_http_client_req_t req = {.url = url_of(p, "/up"), .body = "a=1&b=2", .body_len = 7};
    assert_int_equal(corio_http_client_do(c, &req, &r), 0);
    const struct rec *q = &p->reqs[0];
    assert_string_equal(q->method, "POST");
    char v[32];
    assert_true(rec_field(q, "content-length", v, sizeof v));
    assert_string_equal(v, "7");
    assert_false(q->chunked);
    assert_string_equal(q->body, "a=1&b=2");
    /* A large one goes out after the head, in its own writes. */
    size_t big_len = 40000;
    char *big = malloc(big_len);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (char)('a' + i % 26);
    req = (corio_http_client_req_t){
        .url = url_of(p, "/big"), .method = "PUT", .body = big, .body_len = big_len};
    assert_int_equal(corio_http_client_do(c, &req, &r), 0);
    assert_string_equal(p->reqs[1].method, "PUT");
    assert_int_equal(p->reqs[1].body_len, big_len);
    assert_memory_equal(p->reqs[1].body, big, big_len);
    free(big);
    /* A streamed source: chunked, in the pieces it gave. */
    const char *pieces[] = {"one ", "two ", "three", NULL};
    struct source s = {.pieces = pieces};
    req = (corio_http_client_req_t){
        .url = url_of(p, "/stream"), .body_source = source_read, .body_source_arg = &s};
    assert_int_equal(corio_http_client_do(c, &req, &r), 0);
    q = &p->reqs[2];
    assert_string_equal(q->method, "POST");
    assert_true(q->chunked);
    assert_false(rec_field(q, "content-length", NULL, 0));
    assert_string_equal(q->body, "one two three");
    /* A POST without a body still says Content-Length: 0, or the server would wait. */
    req = (corio_http_client_req_t){.url = url_of(p, "/empty"), .method = "POST"};
    assert_int_equal(corio_http_client_do(c, &req, &r), 0);
    assert_true(rec_field(&p->reqs[3], "content-length", v, sizeof v));
    assert_string_equal(v, "0");
    /* The source's error ends the request; the half-sent connection is not kept. */
    struct source bad = {.pieces = pieces, .fail_at = 2};
    req = (corio_http_client_req_t){
        .url = url_of(p, "/stream"), .body_source = source_read, .body_source_arg = &bad};
    assert_int_equal(corio_http_client_do(c, &req, &r), -EIO);
    assert_non_null(strstr(corio_http_client_resp_error(&r), "source"));
    assert_int_equal(stats(c).conns_open, 0);
    assert_int_equal(p->accepts, 1);
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    peer_stop(p);
    return NULL;
}

/* ---- broken responses --------------------------------------------------------------------- */

struct broken_case {
    struct step step;
    int want;
    const char *why; /* a piece of the error sentence */
};

/* Each case on a fresh connection: the error, the sentence, and no connection left. */
TASK_TEST(test_broken_responses)
{
    static char big_head[CORIO_HTTP_MAX_RESPONSE_HEAD + 512];
    size_t n = (size_t)snprintf(big_head, sizeof big_head, "HTTP/1.1 200 OK\r\nX-Big: ");
    memset(big_head + n, 'x', CORIO_HTTP_MAX_RESPONSE_HEAD);
    memcpy(big_head + n + CORIO_HTTP_MAX_RESPONSE_HEAD, "\r\nContent-Length: 0\r\n\r\n", 24);
    const struct broken_case cases[] = {
        {{"HTTP/1.1 200 OK\r\nContent-", 0, RESET}, -ECONNRESET, "reading the response"},
        {{"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhel", 0, RESET}, -ECONNRESET, "reading"},
        {{NULL, 0, RESET}, -ECONNRESET, "waiting for the response"},
        {{"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", 0, CLOSE},
         CORIO_HTTP_ETRUNCATED,
         "after 5 of 10 body bytes"},
        {{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", 0, CLOSE},
         CORIO_HTTP_ETRUNCATED,
         "chunked"},
        {{"HTTP/1.1 200 OK\r\nContent-Le", 0, CLOSE}, CORIO_HTTP_ETRUNCATED, "response head"},
        {{NULL, 0, CLOSE}, CORIO_HTTP_ETRUNCATED, "before the response"},
        {{"FOO BAR BAZ\r\n\r\n", 0, CLOSE}, CORIO_HTTP_EMALFORMED, ""},
        {{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabcdef", 0, KEEP},
         CORIO_HTTP_EMALFORMED,
         "after the end"},
        {{"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", 0, CLOSE}, CORIO_HTTP_ELENGTH, ""},
        {{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0, CLOSE},
         CORIO_HTTP_ECHUNK,
         ""},
        {{big_head, 0, CLOSE}, CORIO_HTTP_EHEAD_TOO_BIG, ""},
    };
    int fds = support_count_fds();
    corio_http_client_t *c = new_client(&(corio_http_client_opts_t){.timeout_ns = 5000 * MS});
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct peer *p = peer_script(&cases[i].step, 1);
        int rc = get(c, url_of(p, "/broken"), &r);
        if (rc != cases[i].want)
            fail_msg("case %zu: %s, not %s (%s)", i, corio_strerror(rc),
                     corio_strerror(cases[i].want), corio_http_client_resp_error(&r));
        const char *why = corio_http_client_resp_error(&r);
        if (strstr(why, "GET http://127.0.0.1") == NULL || strstr(why, cases[i].why) == NULL)
            fail_msg("case %zu: the sentence '%s' lacks '%s'", i, why, cases[i].why);
        assert_int_equal(stats(c).conns_open, 0);
        assert_int_equal(p->accepts, 1); /* retries default to 0 */
        peer_stop(p);
    }
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    assert_int_equal(support_count_fds(), fds);
    return NULL;
}

TASK_TEST(test_connect_refused)
{
    corio_http_client_t *c = new_client(NULL);
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/", (unsigned)support_refused_port());
    assert_int_equal(get(c, url, &r), -ECONNREFUSED);
    assert_non_null(strstr(corio_http_client_resp_error(&r), "cannot connect"));
    assert_int_equal(stats(c).conns_open, 0);
    assert_int_equal(stats(c).conns_opened, 0);
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    return NULL;
}

/* ---- stale connections and retries ---------------------------------------------------------- */

/* The peer closes a connection once it is idle in the pool: the next GET finds it dead and
 * is sent again on a new connection, uncounted, with or without NO_RETRY. */
TASK_TEST(test_stale_connection_replaced)
{
    struct step steps[] = {{OK_HELLO, 0, CLOSE}};
    struct peer *p = peer_script(steps, 1);
    corio_http_client_t *c = new_client(NULL);
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    for (unsigned round = 0; round < 2; round++) {
        corio_http_client_req_t req = {.url = url_of(p, "/"),
                                       .flags = round == 1 ? CORIO_HTTP_NO_RETRY : 0};
        peer_wait_idle(p);
        corio_http_client_close_idle(c); /* the last round's dead connection */
        assert_int_equal(corio_http_client_do(c, &req, &r), 0);
        assert_int_equal(stats(c).conns_idle, 1); /* no "Connection: close": pooled */
        peer_wait_idle(p);                        /* and then closed by the peer */
        assert_int_equal(corio_http_client_do(c, &req, &r), 0);
        assert_string_equal(r.body, "hello");
        assert_false(r.reused);
        assert_int_equal(r.retries, 0);
    }
    corio_http_client_stats_t st = stats(c);
    assert_int_equal(p->accepts, 4);
    assert_int_equal(p->nreqs, 4); /* the dead connections never got a request */
    assert_int_equal(st.conns_opened, 4);
    assert_int_equal(st.conns_reused, 2);
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    peer_stop(p);
    return NULL;
}

/* A streamed body cannot be sent again: on a dead pooled connection it fails. */
TASK_TEST(test_stale_connection_streamed_body)
{
    struct peer *p = peer_script(&(struct step){OK_HELLO, 0, CLOSE}, 1);
    corio_http_client_t *c = new_client(NULL);
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    assert_int_equal(get(c, url_of(p, "/"), &r), 0);
    peer_wait_idle(p);
    const char *pieces[] = {"data", NULL};
    struct source s = {.pieces = pieces};
    corio_http_client_req_t req = {
        .url = url_of(p, "/"), .method = "PUT", .body_source = source_read, .body_source_arg = &s};
    int rc = corio_http_client_do(c, &req, &r);
    if (rc != -ECONNRESET && rc != -EPIPE && rc != CORIO_HTTP_ETRUNCATED)
        fail_msg("%s (%s)", corio_strerror(rc), corio_http_client_resp_error(&r));
    assert_int_equal(p->accepts, 1);
    assert_int_equal(stats(c).conns_open, 0);
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    peer_stop(p);
    return NULL;
}

TASK_TEST(test_retries)
{
    struct step steps[] = {{NULL, 0, RESET}, {OK_HELLO, 0, KEEP}};
    corio_http_client_t *c = new_client(&(corio_http_client_opts_t){.retries = 2});
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    /* A GET reset on a fresh connection is tried again. */
    struct peer *p = peer_script(steps, 2);
    assert_int_equal(get(c, url_of(p, "/"), &r), 0);
    assert_string_equal(r.body, "hello");
    assert_int_equal(r.retries, 1);
    assert_int_equal(p->accepts, 2);
    assert_int_equal(stats(c).requests, 2);
    peer_stop(p);
    corio_http_client_close_idle(c); /* a new peer may get the old one's port */
    /* NO_RETRY: not tried again. */
    p = peer_script(steps, 2);
    corio_http_client_req_t req = {.url = url_of(p, "/"), .flags = CORIO_HTTP_NO_RETRY};
    assert_int_equal(corio_http_client_do(c, &req, &r), -ECONNRESET);
    assert_int_equal(p->accepts, 1);
    peer_stop(p);
    corio_http_client_close_idle(c); /* a new peer may get the old one's port */
    /* A POST is not idempotent: not tried again... */
    p = peer_script(steps, 2);
    req = (corio_http_client_req_t){.url = url_of(p, "/"), .body = "x", .body_len = 1};
    assert_int_equal(corio_http_client_do(c, &req, &r), -ECONNRESET);
    assert_int_equal(p->accepts, 1);
    assert_int_equal(p->nreqs, 1);
    peer_stop(p);
    corio_http_client_close_idle(c); /* a new peer may get the old one's port */
    /* ...unless it carries an Idempotency-Key. */
    p = peer_script(steps, 2);
    corio_http_header_t key = {"Idempotency-Key", 15, "k1", 2};
    req.url = url_of(p, "/");
    req.headers = &key;
    req.nheaders = 1;
    assert_int_equal(corio_http_client_do(c, &req, &r), 0);
    assert_int_equal(r.retries, 1);
    assert_string_equal(p->reqs[1].body, "x");
    peer_stop(p);
    corio_http_client_close_idle(c); /* a new peer may get the old one's port */
    /* A 5xx is retried for a GET (and its body never delivered), returned for a POST. */
    struct step busy[] = {{"HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy", 0, KEEP},
                          {OK_HELLO, 0, KEEP}};
    p = peer_script(busy, 2);
    assert_int_equal(get(c, url_of(p, "/"), &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.retries, 1);
    assert_string_equal(r.body, "hello");
    assert_true(r.reused);
    peer_stop(p);
    corio_http_client_close_idle(c); /* a new peer may get the old one's port */
    p = peer_script(busy, 2);
    req = (corio_http_client_req_t){.url = url_of(p, "/"), .body = "x", .body_len = 1};
    assert_int_equal(corio_http_client_do(c, &req, &r), 0);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "busy");
    assert_int_equal(p->nreqs, 1);
    peer_stop(p);
    corio_http_client_close_idle(c); /* a new peer may get the old one's port */
    /* Retries run out: the last error comes back. */
    p = peer_script(&(struct step){NULL, 0, RESET}, 1);
    assert_int_equal(get(c, url_of(p, "/"), &r), -ECONNRESET);
    assert_int_equal(p->accepts, 3);
    peer_stop(p);
    corio_http_client_close_idle(c); /* a new peer may get the old one's port */
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    return NULL;
}

/* ---- deadlines and cancels ------------------------------------------------------------------- */

TASK_TEST(test_deadline)
{
    corio_http_client_t *c = new_client(NULL);
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    const struct step stalls[] = {
        {NULL, 0, STALL},                                               /* no response */
        {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhel", 0, STALL}, /* half a body */
    };
    for (unsigned i = 0; i < 2; i++) {
        struct peer *p = peer_script(&stalls[i], 1);
        corio_http_client_req_t req = {.url = url_of(p, "/"), .timeout_ns = 200 * MS};
        uint64_t t0 = support_now_ns();
        assert_int_equal(corio_http_client_do(c, &req, &r), -ETIMEDOUT);
        uint64_t took = support_now_ns() - t0;
        assert_true(took >= 190 * MS); /* not before the deadline (the loop's clock) */
        assert_true(took < 5000 * MS);
        assert_non_null(strstr(corio_http_client_resp_error(&r), "within 0.2 s"));
        assert_int_equal(stats(c).conns_open, 0);
        peer_wait_idle(p); /* the peer saw the close */
        peer_stop(p);
    }
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    return NULL;
}

struct bg {
    corio_http_client_t *c;
    const char *url;
    uint64_t timeout_ns;
    corio_http_client_resp_t r;
    int rc;
    bool done;
};

static void *bg_get(void *arg)
{
    struct bg *b = arg;
    corio_http_client_resp_init(&b->r);
    corio_http_client_req_t req = {.url = b->url, .timeout_ns = b->timeout_ns};
    b->rc = corio_http_client_do(b->c, &req, &b->r);
    b->done = true;
    corio_http_client_resp_free(&b->r);
    return NULL;
}

/* A cancelled task's request ends with -ECANCELED, its connection closed, not pooled. */
TASK_TEST(test_cancel)
{
    const struct step stalls[] = {
        {NULL, 0, STALL},
        {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhel", 0, STALL},
    };
    corio_http_client_t *c = new_client(NULL);
    for (unsigned i = 0; i < 2; i++) {
        struct peer *p = peer_script(&stalls[i], 1);
        struct bg b = {.c = c, .url = url_of(p, "/")};
        corio_task_t *t;
        assert_int_equal(corio_spawn(NULL, bg_get, &b, &t), 0);
        assert_int_equal(corio_event_wait(&p->got_request), 0);
        assert_int_equal(stats(c).conns_open, 1);
        corio_cancel(t);
        corio_join(t, NULL);
        assert_true(b.done);
        assert_int_equal(b.rc, -ECANCELED);
        assert_int_equal(stats(c).conns_open, 0);
        assert_int_equal(stats(c).conns_idle, 0);
        peer_wait_idle(p);
        peer_stop(p);
    }
    corio_http_client_free(c);
    return NULL;
}

/* ---- caps and waiters ------------------------------------------------------------------------ */

struct barrier {
    corio_http_client_t *c;
    unsigned pending, waiting_seen, open_seen;
    corio_event_t go;
    unsigned order[MAX_REQS], norder;
};

/* Holds every response until two requests are in at once, then answers all. */
static int barrier_respond(struct peer *p, struct pconn *c, const struct rec *r, unsigned n)
{
    (void)n;
    struct barrier *b = p->user;
    char v[16];
    assert_true(b->norder < MAX_REQS);
    if (rec_field(r, "x-task", v, sizeof v))
        b->order[b->norder++] = (unsigned)atoi(v);
    if (++b->pending == 2 && !corio_event_is_set(&b->go)) {
        corio_http_client_stats_t st = stats(b->c);
        b->waiting_seen = st.waiting;
        b->open_seen = st.conns_open;
        corio_event_set(&b->go);
    }
    corio_event_wait(&b->go);
    psend_str(c, OK_HELLO);
    return KEEP;
}

struct worker {
    corio_http_client_t *c;
    const char *url;
    unsigned id, flags;
    int rc[4];
    unsigned nreq;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    char id[8];
    int idlen = snprintf(id, sizeof id, "%u", w->id);
    corio_http_header_t h = {"X-Task", 6, id, (size_t)idlen};
    corio_http_client_req_t req = {.url = w->url, .headers = &h, .nheaders = 1, .flags = w->flags};
    for (unsigned i = 0; i < w->nreq; i++) {
        w->rc[i] = corio_http_client_do(w->c, &req, &r);
        if (w->rc[i] == 0 && strcmp(r.body, "hello") != 0)
            w->rc[i] = -EBADMSG;
    }
    corio_http_client_resp_free(&r);
    return NULL;
}

/* A per-origin cap of 2 and 8 tasks: never more than 2 connections, all 8 served. */
TASK_TEST(test_cap_per_origin)
{
    for (unsigned mode = 0; mode < 2; mode++) { /* keep-alive, then a connection each */
        struct barrier b = {0};
        corio_event_init(&b.go);
        struct peer *p = peer_new(barrier_respond, &b);
        corio_http_client_t *c =
            new_client(&(corio_http_client_opts_t){.max_conns = 16, .max_conns_per_host = 2});
        b.c = c;
        struct worker w[8];
        corio_task_t *t[8];
        for (unsigned i = 0; i < 8; i++) {
            w[i] = (struct worker){.c = c,
                                   .url = url_of(p, "/"),
                                   .id = i,
                                   .nreq = 3,
                                   .flags = mode == 1 ? CORIO_HTTP_NO_KEEPALIVE : 0};
            assert_int_equal(corio_spawn(NULL, worker_main, &w[i], &t[i]), 0);
        }
        assert_int_equal(corio_gather(t, 8, NULL), 0);
        for (unsigned i = 0; i < 8; i++)
            for (unsigned j = 0; j < 3; j++)
                assert_int_equal(w[i].rc[j], 0);
        assert_int_equal(b.waiting_seen, 6);
        assert_int_equal(b.open_seen, 2);
        assert_int_equal(p->nreqs, 24);
        assert_true(p->max_live <= 2);
        assert_int_equal(p->accepts, mode == 0 ? 2 : 24);
        corio_http_client_stats_t st = stats(c);
        assert_int_equal(st.waiting, 0);
        assert_int_equal(st.conns_open, mode == 0 ? 2 : 0);
        assert_int_equal(st.requests, 24);
        corio_http_client_free(c);
        peer_stop(p);
    }
    return NULL;
}

/* One connection allowed: the waiters are served in the order they came. */
TASK_TEST(test_cap_fifo)
{
    struct barrier b = {0};
    corio_event_init(&b.go);
    corio_event_set(&b.go); /* no holding back */
    struct peer *p = peer_new(barrier_respond, &b);
    corio_http_client_t *c = new_client(&(corio_http_client_opts_t){.max_conns_per_host = 1});
    b.c = c;
    struct worker w[6];
    corio_task_t *t[6];
    for (unsigned i = 0; i < 6; i++) {
        w[i] = (struct worker){.c = c, .url = url_of(p, "/"), .id = i, .nreq = 1};
        assert_int_equal(corio_spawn(NULL, worker_main, &w[i], &t[i]), 0);
    }
    assert_int_equal(corio_gather(t, 6, NULL), 0);
    assert_int_equal(b.norder, 6);
    for (unsigned i = 0; i < 6; i++) {
        assert_int_equal(w[i].rc[0], 0);
        assert_int_equal(b.order[i], i);
    }
    assert_int_equal(p->accepts, 1);
    corio_http_client_free(c);
    peer_stop(p);
    return NULL;
}

/* A connection given back goes to the task waiting longest, not to the task that gave it
 * back and asks again at once: three tasks of three requests each, one connection, take
 * turns. */
TASK_TEST(test_cap_handoff)
{
    for (unsigned mode = 0; mode < 2; mode++) { /* the connection kept, then closed */
        struct barrier b = {0};
        corio_event_init(&b.go);
        corio_event_set(&b.go);
        struct peer *p = peer_new(barrier_respond, &b);
        corio_http_client_t *c = new_client(&(corio_http_client_opts_t){.max_conns_per_host = 1});
        b.c = c;
        struct worker w[3];
        corio_task_t *t[3];
        for (unsigned i = 0; i < 3; i++) {
            w[i] = (struct worker){.c = c,
                                   .url = url_of(p, "/"),
                                   .id = i,
                                   .nreq = 3,
                                   .flags = mode == 1 ? CORIO_HTTP_NO_KEEPALIVE : 0};
            assert_int_equal(corio_spawn(NULL, worker_main, &w[i], &t[i]), 0);
        }
        assert_int_equal(corio_gather(t, 3, NULL), 0);
        assert_int_equal(b.norder, 9);
        for (unsigned i = 0; i < 9; i++) {
            assert_int_equal(w[i / 3].rc[i % 3], 0);
            if (b.order[i] != i % 3)
                fail_msg("mode %u: request %u came from task %u, not %u", mode, i, b.order[i],
                         i % 3);
        }
        assert_int_equal(p->accepts, mode == 0 ? 1 : 9);
        corio_http_client_free(c);
        peer_stop(p);
    }
    return NULL;
}

/* A task waiting for a slot: its deadline and its cancel end the wait, and the queue. */
TASK_TEST(test_cap_wait_deadline_and_cancel)
{
    struct peer *p = peer_script(&(struct step){NULL, 0, STALL}, 1);
    corio_http_client_t *c = new_client(&(corio_http_client_opts_t){.max_conns = 1});
    struct bg holder = {.c = c, .url = url_of(p, "/")};
    corio_task_t *th;
    assert_int_equal(corio_spawn(NULL, bg_get, &holder, &th), 0);
    assert_int_equal(corio_event_wait(&p->got_request), 0);
    /* Another origin is under the total cap as well. */
    struct peer *q = peer_script(&(struct step){OK_HELLO, 0, KEEP}, 1);
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    corio_http_client_req_t req = {.url = url_of(q, "/"), .timeout_ns = 100 * MS};
    assert_int_equal(corio_http_client_do(c, &req, &r), -ETIMEDOUT);
    assert_non_null(strstr(corio_http_client_resp_error(&r), "no connection"));
    assert_int_equal(stats(c).waiting, 0);
    assert_int_equal(q->accepts, 0);
    struct bg waiter = {.c = c, .url = url_of(q, "/")};
    corio_task_t *tw;
    assert_int_equal(corio_spawn(NULL, bg_get, &waiter, &tw), 0);
    while (stats(c).waiting == 0)
        corio_yield();
    corio_cancel(tw);
    corio_join(tw, NULL);
    assert_int_equal(waiter.rc, -ECANCELED);
    assert_int_equal(stats(c).waiting, 0);
    /* Once the holder is gone, the other origin gets its connection. */
    corio_cancel(th);
    corio_join(th, NULL);
    assert_int_equal(get(c, url_of(q, "/"), &r), 0);
    assert_int_equal(q->accepts, 1);
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    peer_stop(q);
    peer_stop(p);
    return NULL;
}

/* ---- redirects --------------------------------------------------------------------------------
 */

struct router {
    char location[512];
    int status;
};

/* "/r<status>" redirects to the router's location (or "/ok"); "/loop" to itself; anything
 * else is answered with its method and body. */
static int route(struct peer *p, struct pconn *c, const struct rec *r, unsigned n)
{
    (void)n;
    struct router *rt = p->user;
    char buf[1024];
    int status;
    if (strcmp(r->target, "/loop") == 0) {
        psend_str(c, "HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n");
    } else if (sscanf(r->target, "/r%d", &status) == 1) {
        const char *to = rt != NULL && rt->location[0] != '\0' ? rt->location : "/ok";
        snprintf(buf, sizeof buf,
                 "HTTP/1.1 %d Moved\r\nLocation: %s\r\nContent-Length: 3\r\n\r\nbye", status, to);
        psend_str(c, buf);
    } else {
        char body[300];
        int blen = snprintf(body, sizeof body, "%s %s %s", r->method, r->target, r->body);
        snprintf(buf, sizeof buf, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", blen, body);
        psend_str(c, buf);
    }
    return KEEP;
}

TASK_TEST(test_redirects)
{
    struct router rt = {0};
    struct peer *p = peer_new(route, &rt);
    corio_http_client_t *c =
        new_client(&(corio_http_client_opts_t){.flags = CORIO_HTTP_FOLLOW, .max_redirects = 3});
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    static const int codes[] = {301, 302, 303, 307, 308};
    for (unsigned i = 0; i < 5; i++) {
        char path[16];
        snprintf(path, sizeof path, "/r%d", codes[i]);
        for (unsigned absolute = 0; absolute < 2; absolute++) {
            snprintf(rt.location, sizeof rt.location, "%s", absolute ? url_of(p, "/abs") : "/ok");
            assert_int_equal(get(c, url_of(p, path), &r), 0);
            assert_int_equal(r.status, 200);
            assert_int_equal(r.redirects, 1);
            assert_string_equal(r.body, absolute ? "GET /abs " : "GET /ok ");
            assert_string_equal(r.url, url_of(p, absolute ? "/abs" : "/ok"));
        }
        /* POST: 303 (and 301/302, as browsers do) turn it into a GET without the body;
         * 307 and 308 send it again. */
        rt.location[0] = '\0';
        corio_http_client_req_t req = {.url = url_of(p, path), .body = "data", .body_len = 4};
        assert_int_equal(corio_http_client_do(c, &req, &r), 0);
        unsigned last = p->nreqs - 1;
        if (codes[i] == 307 || codes[i] == 308) {
            assert_string_equal(r.body, "POST /ok data");
            assert_string_equal(p->reqs[last].body, "data");
        } else {
            assert_string_equal(r.body, "GET /ok ");
            assert_false(rec_field(&p->reqs[last], "content-length", NULL, 0));
        }
    }
    /* Without FOLLOW the redirect is the response. */
    corio_http_client_t *plain = new_client(NULL);
    assert_int_equal(get(plain, url_of(p, "/r302"), &r), 0);
    assert_int_equal(r.status, 302);
    assert_string_equal(field(&r, "location", 0), "/ok");
    assert_string_equal(r.body, "bye");
    corio_http_client_free(plain);
    /* A streamed body cannot be sent again: a 307 is then the final response. */
    const char *pieces[] = {"streamed", NULL};
    struct source s = {.pieces = pieces};
    corio_http_client_req_t req = {
        .url = url_of(p, "/r307"), .body_source = source_read, .body_source_arg = &s};
    assert_int_equal(corio_http_client_do(c, &req, &r), 0);
    assert_int_equal(r.status, 307);
    assert_int_equal(r.redirects, 0);
    /* A loop ends after max_redirects: the first request and three redirects. */
    unsigned before = p->nreqs;
    assert_int_equal(get(c, url_of(p, "/loop"), &r), CORIO_HTTP_EREDIRECTS);
    assert_int_equal(p->nreqs - before, 4);
    assert_non_null(strstr(corio_http_client_resp_error(&r), "more than 3 redirects"));
    /* An unusable Location. */
    snprintf(rt.location, sizeof rt.location, "ftp://127.0.0.1/x");
    int rc = get(c, url_of(p, "/r301"), &r);
    assert_true(rc == CORIO_HTTP_EURL_SCHEME || rc == CORIO_HTTP_EURL);
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    peer_stop(p);
    return NULL;
}

/* Credentials stay with their origin: A redirects to B (another port), which must not see
 * them; B redirects back to A, which gets them again; within A they are kept. */
TASK_TEST(test_redirect_credentials)
{
    struct router ra = {0}, rb = {0};
    struct peer *a = peer_new(route, &ra), *b = peer_new(route, &rb);
    snprintf(ra.location, sizeof ra.location, "%s", url_of(b, "/r302"));
    snprintf(rb.location, sizeof rb.location, "%s", url_of(a, "/home"));
    corio_http_client_t *c = new_client(&(corio_http_client_opts_t){.flags = CORIO_HTTP_FOLLOW});
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    corio_http_header_t h[] = {{"Authorization", 13, "Bearer secret", 13},
                               {"Cookie", 6, "sid=1", 5},
                               {"Proxy-Authorization", 19, "Basic xyz", 9},
                               {"Host", 4, "example.test", 12},
                               {"X-Other", 7, "kept", 4}};
    corio_http_client_req_t req = {.url = url_of(a, "/r301"), .headers = h, .nheaders = 5};
    assert_int_equal(corio_http_client_do(c, &req, &r), 0);
    assert_int_equal(r.redirects, 2);
    assert_string_equal(r.body, "GET /home ");
    assert_int_equal(a->nreqs, 2);
    assert_int_equal(b->nreqs, 1);
    char v[64];
    for (unsigned i = 0; i < 2; i++) { /* the first request, and the one back home */
        const struct rec *q = &a->reqs[i];
        assert_true(rec_field(q, "authorization", v, sizeof v));
        assert_string_equal(v, "Bearer secret");
        assert_true(rec_field(q, "cookie", v, sizeof v));
        assert_string_equal(v, "sid=1");
        assert_true(rec_field(q, "proxy-authorization", NULL, 0));
        assert_true(rec_field(q, "host", v, sizeof v));
        assert_string_equal(v, "example.test");
    }
    const struct rec *q = &b->reqs[0];
    assert_false(rec_field(q, "authorization", NULL, 0));
    assert_false(rec_field(q, "cookie", NULL, 0));
    assert_false(rec_field(q, "proxy-authorization", NULL, 0));
    char host[64];
    snprintf(host, sizeof host, "127.0.0.1:%u", (unsigned)b->port);
    assert_true(rec_field(q, "host", v, sizeof v));
    assert_string_equal(v, host); /* its own, once: not the caller's */
    assert_null(strstr(q->head, "example.test"));
    assert_true(rec_field(q, "x-other", v, sizeof v));
    assert_string_equal(v, "kept");
    /* The URL's userinfo becomes Basic credentials: kept on a redirect within the origin
     * (whose resolved Location has no userinfo), never sent to another. */
    char url[128];
    snprintf(url, sizeof url, "http://us%%65r:p%%40ss@127.0.0.1:%u/r302", (unsigned)a->port);
    req = (corio_http_client_req_t){.url = url};
    ra.location[0] = '\0'; /* /r302 -> /ok, within A */
    assert_int_equal(corio_http_client_do(c, &req, &r), 0);
    assert_int_equal(a->nreqs, 4);
    for (unsigned i = 2; i < 4; i++) {
        assert_true(rec_field(&a->reqs[i], "authorization", v, sizeof v));
        assert_string_equal(v, "Basic dXNlcjpwQHNz"); /* "user:p@ss" */
    }
    /* A, to B, back to A: B gets none, A gets them again (after two redirects, when the
     * first URL's buffer holds another). */
    snprintf(ra.location, sizeof ra.location, "%s", url_of(b, "/r302"));
    assert_int_equal(corio_http_client_do(c, &req, &r), 0);
    assert_string_equal(r.body, "GET /home ");
    assert_int_equal(r.redirects, 2);
    assert_int_equal(a->nreqs, 6);
    assert_int_equal(b->nreqs, 2);
    assert_false(rec_field(&b->reqs[1], "authorization", NULL, 0));
    for (unsigned i = 4; i < 6; i++) {
        assert_true(rec_field(&a->reqs[i], "authorization", v, sizeof v));
        assert_string_equal(v, "Basic dXNlcjpwQHNz");
    }
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    peer_stop(b);
    peer_stop(a);
    return NULL;
}

/* ---- bodies: max_body and decoding -------------------------------------------------------------
 */

/* data compressed with zlib: wbits 31 for gzip, 15 for zlib, -15 for raw deflate. */
static size_t compress_to(const void *data, size_t len, int wbits, unsigned char *out, size_t cap)
{
    z_stream z = {0};
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t n = z.total_out;
    deflateEnd(&z);
    return n;
}

/* A response head with Content-Encoding and Content-Length, then the coded bytes. */
static size_t coded_response(char *out, size_t cap, const char *coding, const unsigned char *body,
                             size_t len)
{
    int n =
        snprintf(out, cap, "HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: %zu\r\n\r\n",
                 coding, len);
    assert_true((size_t)n + len <= cap);
    memcpy(out + n, body, len);
    return (size_t)n + len;
}

TASK_TEST(test_max_body)
{
    static char resp[200];
    snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n0123456789a");
    struct peer *p = peer_script(&(struct step){resp, 0, KEEP}, 1);
    corio_http_client_t *c = new_client(&(corio_http_client_opts_t){.max_body = 10});
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    assert_int_equal(get(c, url_of(p, "/"), &r), CORIO_HTTP_EBODY_TOO_BIG);
    assert_non_null(strstr(corio_http_client_resp_error(&r), "larger than 10 bytes"));
    assert_int_equal(stats(c).conns_open, 0);
    /* A sink is not bounded by max_body. */
    struct collect s = {0};
    corio_http_client_req_t req = {.url = url_of(p, "/"), .sink = collect_sink, .sink_arg = &s};
    assert_int_equal(corio_http_client_do(c, &req, &r), 0);
    assert_int_equal(s.len, 11);
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    peer_stop(p);
    return NULL;
}

TASK_TEST(test_decompress)
{
    size_t plain_len = 100000;
    char *plain = malloc(plain_len + 1);
    for (size_t i = 0; i < plain_len; i++)
        plain[i] = (char)('a' + (i * 7 / 13) % 26);
    plain[plain_len] = '\0';
    static unsigned char coded[3][200000];
    size_t clen[3];
    static const int wbits[3] = {31, 15, -15};
    static const char *const names[3] = {"gzip", "deflate", "deflate"};
    static char resp[3][210000];
    size_t rlen[3];
    for (unsigned i = 0; i < 3; i++) {
        clen[i] = compress_to(plain, plain_len, wbits[i], coded[i], sizeof coded[i]);
        rlen[i] = coded_response(resp[i], sizeof resp[i], names[i], coded[i], clen[i]);
    }
    struct step steps[4];
    for (unsigned i = 0; i < 3; i++)
        steps[i] = (struct step){resp[i], rlen[i], KEEP};
    steps[3] = (struct step){resp[0], rlen[0], KEEP};
    struct peer *p = peer_script(steps, 4);
    corio_http_client_t *c = new_client(NULL);
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    corio_http_client_req_t req = {.url = url_of(p, "/"), .flags = CORIO_HTTP_DECOMPRESS};
    for (unsigned i = 0; i < 3; i++) { /* gzip, zlib's deflate, raw deflate */
        assert_int_equal(corio_http_client_do(c, &req, &r), 0);
        assert_int_equal(r.body_len, plain_len);
        assert_memory_equal(r.body, plain, plain_len);
        char v[64];
        assert_true(rec_field(&p->reqs[i], "accept-encoding", v, sizeof v));
        assert_string_equal(v, "gzip, deflate");
    }
    /* Without DECOMPRESS the coded bytes come as they are. */
    assert_int_equal(get(c, url_of(p, "/"), &r), 0);
    assert_int_equal(r.body_len, clen[0]);
    assert_memory_equal(r.body, coded[0], clen[0]);
    assert_string_equal(field(&r, "content-encoding", 0), "gzip");
    peer_stop(p);
    corio_http_client_close_idle(c);

    /* max_body bounds the decoded size. */
    corio_http_client_t *small = new_client(&(corio_http_client_opts_t){.max_body = 50000});
    p = peer_script(&(struct step){resp[0], rlen[0], KEEP}, 1);
    req.url = url_of(p, "/");
    assert_int_equal(corio_http_client_do(small, &req, &r), CORIO_HTTP_EBODY_TOO_BIG);
    assert_int_equal(stats(small).conns_open, 0);
    corio_http_client_free(small);
    peer_stop(p);

    /* Corrupt and cut-short streams, within complete HTTP bodies. */
    unsigned char bad[200];
    memcpy(bad, coded[0], 10); /* a gzip header, then a block of the reserved type */
    memset(bad + 10, 0xff, sizeof bad - 10);
    static char bad_resp[3][1024];
    size_t blen[3];
    blen[0] = coded_response(bad_resp[0], sizeof bad_resp[0], "gzip", bad, sizeof bad);
    blen[1] = coded_response(bad_resp[1], sizeof bad_resp[1], "gzip", coded[0], 30);
    unsigned char twice[64];
    size_t one = compress_to("x", 1, 31, twice, sizeof twice);
    memcpy(twice + one, "junk", 4); /* bytes after the end of the stream */
    blen[2] = coded_response(bad_resp[2], sizeof bad_resp[2], "gzip", twice, one + 4);
    for (unsigned i = 0; i < 3; i++) {
        p = peer_script(&(struct step){bad_resp[i], blen[i], KEEP}, 1);
        req.url = url_of(p, "/");
        int rc = corio_http_client_do(c, &req, &r);
        if (rc != CORIO_HTTP_EDECODE)
            fail_msg("case %u: %s (%s)", i, corio_strerror(rc), corio_http_client_resp_error(&r));
        assert_non_null(strstr(corio_http_client_resp_error(&r), "gzip"));
        if (stats(c).conns_open != 0)
            fail_msg("case %u: the connection outlived the failure (%s)", i,
                     corio_http_client_resp_error(&r));
        peer_stop(p);
    }
    free(plain);
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    return NULL;
}

/* Decoded bytes reach a sink too; a HEAD of a coded body has nothing to decode. */
TASK_TEST(test_decompress_sink_and_head)
{
    unsigned char coded[128];
    size_t clen = compress_to("hello", 5, 31, coded, sizeof coded);
    static char resp[512];
    size_t rlen = coded_response(resp, sizeof resp, "gzip", coded, clen);
    struct step steps[] = {
        {resp, rlen, KEEP},
        {"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 25\r\n\r\n", 0, KEEP}};
    struct peer *p = peer_script(steps, 2);
    corio_http_client_t *c =
        new_client(&(corio_http_client_opts_t){.flags = CORIO_HTTP_DECOMPRESS});
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    struct collect s = {0};
    corio_http_client_req_t req = {.url = url_of(p, "/"), .sink = collect_sink, .sink_arg = &s};
    assert_int_equal(corio_http_client_do(c, &req, &r), 0);
    assert_int_equal(s.len, 5);
    assert_memory_equal(s.buf, "hello", 5);
    assert_int_equal(r.body_bytes, 5);
    req = (corio_http_client_req_t){.url = url_of(p, "/"), .method = "HEAD"};
    assert_int_equal(corio_http_client_do(c, &req, &r), 0);
    assert_int_equal(r.body_len, 0);
    assert_true(r.reused);
    assert_int_equal(stats(c).conns_idle, 1);
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    peer_stop(p);
    return NULL;
}

/* Under the total cap, a request to another origin closes the oldest idle connection. */
TASK_TEST(test_total_cap_evicts_idle)
{
    struct peer *a = peer_script(&(struct step){OK_HELLO, 0, KEEP}, 1);
    struct peer *b = peer_script(&(struct step){OK_HELLO, 0, KEEP}, 1);
    corio_http_client_t *c = new_client(&(corio_http_client_opts_t){.max_conns = 1});
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    assert_int_equal(get(c, url_of(a, "/"), &r), 0);
    assert_int_equal(stats(c).conns_idle, 1);
    assert_int_equal(get(c, url_of(b, "/"), &r), 0);
    peer_wait_idle(a); /* its connection was closed to make room */
    corio_http_client_stats_t st = stats(c);
    assert_int_equal(st.conns_open, 1);
    assert_int_equal(st.conns_idle, 1);
    assert_int_equal(st.conns_opened, 2);
    assert_int_equal(get(c, url_of(a, "/"), &r), 0);
    assert_int_equal(a->accepts, 2);
    peer_wait_idle(b);
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    peer_stop(b);
    peer_stop(a);
    return NULL;
}

/* The caller's User-Agent and Accept replace corio's; an empty user_agent sends none. */
TASK_TEST(test_request_fields)
{
    struct peer *p = peer_script(&(struct step){OK_HELLO, 0, KEEP}, 1);
    corio_http_client_t *c = new_client(&(corio_http_client_opts_t){.user_agent = ""});
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    assert_int_equal(get(c, url_of(p, "/"), &r), 0);
    assert_false(rec_field(&p->reqs[0], "user-agent", NULL, 0));
    corio_http_header_t h[] = {
        {"user-agent", 10, "mine/1", 6}, {"Accept", 6, "text/html", 9}, {"X-Empty", 7, "", 0}};
    corio_http_client_req_t req = {.url = url_of(p, "/"), .headers = h, .nheaders = 3};
    assert_int_equal(corio_http_client_do(c, &req, &r), 0);
    const struct rec *q = &p->reqs[1];
    char v[32];
    assert_true(rec_field(q, "user-agent", v, sizeof v));
    assert_string_equal(v, "mine/1");
    assert_true(rec_field(q, "accept", v, sizeof v));
    assert_string_equal(v, "text/html");
    assert_null(strstr(q->head, "*/*"));
    assert_true(rec_field(q, "x-empty", v, sizeof v));
    assert_string_equal(v, "");
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    peer_stop(p);
    return NULL;
}

/* ---- bad input ----------------------------------------------------------------------------------
 */

TASK_TEST(test_bad_requests)
{
    corio_http_client_t *c = new_client(NULL);
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    corio_http_client_req_t req = {.url = "http://127.0.0.1:1/"};
    assert_int_equal(corio_http_client_do(NULL, &req, &r), -EINVAL);
    assert_int_equal(corio_http_client_do(c, NULL, &r), -EINVAL);
    assert_int_equal(corio_http_client_do(c, &req, NULL), -EINVAL);
    struct {
        corio_http_client_req_t req;
        int want;
    } cases[] = {
        {{.url = NULL}, -EINVAL},
        {{.url = "ftp://127.0.0.1/"}, CORIO_HTTP_EURL_SCHEME},
        {{.url = "not a url"}, CORIO_HTTP_EURL},
        {{.url = "http://"}, CORIO_HTTP_EURL},
        {{.url = "http://127.0.0.1:99999/"}, CORIO_HTTP_EURL},
        {{.url = "http://127.0.0.1:1/", .method = "GE T"}, -EINVAL},
        {{.url = "http://127.0.0.1:1/", .method = ""}, -EINVAL},
        {{.url = "http://127.0.0.1:1/", .body = "x", .body_len = 1, .body_source = source_read},
         -EINVAL},
        {{.url = "http://127.0.0.1:1/", .body_len = 3}, -EINVAL},
        {{.url = "http://127.0.0.1:1/", .flags = 1u << 20}, -EINVAL},
        {{.url = "http://127.0.0.1:1/", .nheaders = 1}, -EINVAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = corio_http_client_do(c, &cases[i].req, &r);
        if (rc != cases[i].want)
            fail_msg("case %zu: %s, not %s", i, corio_strerror(rc), corio_strerror(cases[i].want));
        assert_true(corio_http_client_resp_error(&r)[0] != '\0');
    }
    /* Fields that would smuggle, or that are the client's alone. */
    const corio_http_header_t bad[] = {
        {"X-A", 3, "a\r\nInjected: 1", 15},
        {"X-A", 3, "a\nb", 3},
        {"X A", 3, "v", 1},
        {"", 0, "v", 1},
        {"Content-Length", 14, "5", 1},
        {"transfer-encoding", 17, "chunked", 7},
        {"Connection", 10, "close", 5},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        req = (corio_http_client_req_t){
            .url = "http://127.0.0.1:1/", .headers = &bad[i], .nheaders = 1};
        assert_int_equal(corio_http_client_do(c, &req, &r), -EINVAL);
    }
    corio_http_client_stats_t st = stats(c);
    assert_int_equal(st.requests, 0);
    assert_int_equal(st.conns_opened, 0);
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    return NULL;
}

/* No task needed to make a client; a request needs one. */
static void test_outside_task(void **state)
{
    (void)state;
    corio_http_client_t *c;
    assert_int_equal(corio_http_client_new(NULL, NULL), -EINVAL);
    assert_int_equal(corio_http_client_new(
                         &c, &(corio_http_client_opts_t){.max_conns = 2, .max_conns_per_host = 3}),
                     -EINVAL);
    assert_null(c);
    assert_int_equal(corio_http_client_new(&c, &(corio_http_client_opts_t){.flags = 1u << 20}),
                     -EINVAL);
    assert_int_equal(corio_http_client_new(&c, NULL), 0);
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    corio_http_client_req_t req = {.url = "http://127.0.0.1:1/"};
    assert_int_equal(corio_http_client_do(c, &req, &r), -EPERM);
    assert_non_null(strstr(corio_http_client_resp_error(&r), "inside a task"));
    corio_http_client_resp_free(&r);
    corio_http_client_resp_free(NULL);
    corio_http_client_close_idle(NULL);
    corio_http_client_free(c);
    corio_http_client_free(NULL);
}

/* ---- statistics
 * ---------------------------------------------------------------------------------- */

TASK_TEST(test_stats)
{
    struct step steps[] = {
        {OK_HELLO, 0, KEEP},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 0, KEEP},
        {"HTTP/1.1 301 Moved\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n", 0, KEEP},
        {OK_HELLO, 0, CLOSE},
        {OK_HELLO, 0, KEEP},
    };
    struct peer *p = peer_script(steps, 5);
    corio_http_client_t *c = new_client(NULL);
    corio_http_client_stats_t st = stats(c);
    assert_int_equal(st.requests, 0);
    assert_int_equal(st.bytes_in, 0);
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    corio_http_client_req_t req = {.url = url_of(p, "/"), .flags = CORIO_HTTP_FOLLOW};
    for (int i = 0; i < 3; i++) /* 200; chunked; 301 then 200, and the peer closes */
        assert_int_equal(corio_http_client_do(c, &req, &r), 0);
    peer_wait_idle(p);
    assert_int_equal(corio_http_client_do(c, &req, &r), 0); /* a dead one replaced */
    st = stats(c);
    assert_int_equal(p->nreqs, 5);
    assert_int_equal(st.requests, 6); /* the attempt on the dead connection counts */
    assert_int_equal(st.conns_opened, 2);
    assert_int_equal(st.conns_reused, 4);
    assert_int_equal(st.bytes_in, p->bytes_out);
    assert_int_equal(st.conns_open, 1);
    assert_int_equal(st.conns_idle, 1);
    assert_int_equal(st.waiting, 0);
    assert_int_equal(st.tls_handshakes, 0);
    assert_int_equal(st.tls_resumed, 0);
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    peer_stop(p);
    return NULL;
}

int main(void)
{
    support_require_uring();
    support_watchdog(120);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_simple),
        cmocka_unit_test(test_keepalive_reuse),
        cmocka_unit_test(test_no_keepalive),
        cmocka_unit_test(test_body_framings),
        cmocka_unit_test(test_head_request),
        cmocka_unit_test(test_sink),
        cmocka_unit_test(test_request_bodies),
        cmocka_unit_test(test_broken_responses),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_stale_connection_replaced),
        cmocka_unit_test(test_stale_connection_streamed_body),
        cmocka_unit_test(test_retries),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_cap_per_origin),
        cmocka_unit_test(test_cap_fifo),
        cmocka_unit_test(test_cap_handoff),
        cmocka_unit_test(test_cap_wait_deadline_and_cancel),
        cmocka_unit_test(test_redirects),
        cmocka_unit_test(test_redirect_credentials),
        cmocka_unit_test(test_max_body),
        cmocka_unit_test(test_decompress),
        cmocka_unit_test(test_decompress_sink_and_head),
        cmocka_unit_test(test_total_cap_evicts_idle),
        cmocka_unit_test(test_request_fields),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_outside_task),
        cmocka_unit_test(test_stats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
