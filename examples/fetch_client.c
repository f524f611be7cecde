/* fetch_client.c: one request of corio-fetch (see fetch.c for the whole picture): the
 * keep-alive connection pool, name resolution and connecting, the exchange (a send and
 * receives as callback-mode operations), parsing, saving bodies, retries and redirects.
 * Everything runs on the loop's thread; nothing here allocates per request. */
#include "fetch.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

const char *const fetch_kind_names[K_COUNT] = {
    [K_REFUSED] = "refused",
    [K_RESET] = "reset",
    [K_TIMEOUT] = "timeout",
    [K_PARSE] = "parse",
    [K_DNS] = "dns",
    [K_CLOSED] = "closed",
    [K_UNREACHABLE] = "unreachable",
    [K_URL] = "url",
    [K_REDIRECTS] = "too_many_redirects",
    [K_SAVE] = "save",
    [K_OTHER] = "other",
};

/* ---- hosts and the connection pool ------------------------------------------------------ */

struct host *fetch_host_get(struct fetch *f, const corio_http_url_t *u)
{
    uint64_t h = 0xcbf29ce484222325u ^ u->port;
    for (const char *p = u->host; *p; p++)
        h = (h ^ (unsigned char)(*p | 0x20)) * 0x100000001b3u;
    struct host **slot = &f->hosts[h % HOST_BUCKETS];
    for (struct host *x = *slot; x != NULL; x = x->next)
        if (x->port == u->port && strcasecmp(x->name, u->host) == 0)
            return x;
    struct host *x = calloc(1, sizeof *x);
    if (x == NULL)
        return NULL;
    snprintf(x->name, sizeof x->name, "%s", u->host);
    x->port = u->port;
    corio_event_init(&x->resolved);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&x->addr[0];
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&x->addr[0];
    if (inet_pton(AF_INET, x->name, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(x->port);
        x->addrlen[0] = sizeof *v4;
        x->naddrs = 1;
        x->rstate = R_DONE;
    } else if (inet_pton(AF_INET6, x->name, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(x->port);
        x->addrlen[0] = sizeof *v6;
        x->naddrs = 1;
        x->rstate = R_DONE;
    }
    x->next = *slot;
    *slot = x;
    return x;
}

static void lru_unlink(struct fetch *f, struct conn *c)
{
    if (c->older != NULL)
        c->older->newer = c->newer;
    else
        f->lru_oldest = c->newer;
    if (c->newer != NULL)
        c->newer->older = c->older;
    else
        f->lru_newest = c->older;
    c->older = c->newer = NULL;
}

static void idle_unlink(struct fetch *f, struct conn *c)
{
    struct host *h = c->host;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        h->idle = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
    c->host = NULL;
    lru_unlink(f, c);
}

/* An idle connection to h, most recently used first, or NULL. */
static struct conn *pool_take(struct fetch *f, struct host *h)
{
    struct conn *c = h->idle;
    if (c != NULL)
        idle_unlink(f, c);
    return c;
}

static void pool_put(struct fetch *f, struct host *h, struct conn *c)
{
    c->host = h;
    c->prev = NULL;
    c->next = h->idle;
    if (h->idle != NULL)
        h->idle->prev = c;
    h->idle = c;
    c->newer = NULL;
    c->older = f->lru_newest;
    if (f->lru_newest != NULL)
        f->lru_newest->newer = c;
    else
        f->lru_oldest = c;
    f->lru_newest = c;
}

/* A slot for a new connection: a free one, or else the least recently used idle connection,
 * closed. There are as many slots as workers, so one of the two always exists. */
static struct conn *conn_slot(struct fetch *f)
{
    struct conn *c = f->free_conns;
    if (c != NULL) {
        f->free_conns = c->next;
        c->next = NULL;
        return c;
    }
    c = f->lru_oldest;
    assert(c != NULL && "a worker holds at most one connection, so one is idle");
    idle_unlink(f, c);
    close(c->fd);
    c->fd = -1;
    return c;
}

static void conn_free(struct fetch *f, struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd); /* plain close: it must work in a cancelled task too */
    c->fd = -1;
    c->next = f->free_conns;
    f->free_conns = c;
}

void fetch_close_idle(struct fetch *f)
{
    for (struct conn *c; (c = f->lru_oldest) != NULL;) {
        idle_unlink(f, c);
        conn_free(f, c);
    }
}

/* ---- connecting ---------------------------------------------------------------------------- */

/* Resolves h once (other tasks asking meanwhile wait for the same answer). A name that does
 * not exist stays unresolved for the run; a resolver failure is tried again next time. */
static int resolve(struct host *h)
{
    for (;;) {
        if (h->rstate == R_DONE)
            return 0;
        if (h->rstate == R_FAILED)
            return h->rerr;
        if (h->rstate == R_BUSY) {
            int rc = corio_event_wait(&h->resolved);
            if (rc < 0)
                return rc;
            continue;
        }
        h->rstate = R_BUSY;
        corio_event_clear(&h->resolved);
        char port[8];
        snprintf(port, sizeof port, "%u", (unsigned)h->port);
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
        int rc = corio_getaddrinfo(h->name, port, &hints, &res);
        h->rstate = R_NONE;
        if (rc == 0) {
            for (struct addrinfo *a = res; a != NULL && h->naddrs < MAX_ADDRS; a = a->ai_next) {
                if (a->ai_addrlen > sizeof h->addr[0])
                    continue;
                memcpy(&h->addr[h->naddrs], a->ai_addr, a->ai_addrlen);
                h->addrlen[h->naddrs++] = a->ai_addrlen;
            }
            freeaddrinfo(res);
            h->rstate = h->naddrs > 0 ? R_DONE : R_FAILED;
            rc = h->naddrs > 0 ? 0 : CORIO_ENONAME;
        }
        if (rc == CORIO_ENONAME)
            h->rstate = R_FAILED;
        h->rerr = rc;
        corio_event_set(&h->resolved);
        return rc;
    }
}

/* A new connection to h: each address in turn. Returns the fd or -errno (the first
 * address's error when all fail). */
static int dial(struct fetch *f, struct host *h)
{
    int rc = resolve(h);
    if (rc < 0)
        return rc;
    int first = 0;
    for (unsigned i = 0; i < h->naddrs; i++) {
        int fd = corio_socket(h->addr[i].ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0) {
            rc = corio_connect(fd, (struct sockaddr *)&h->addr[i], h->addrlen[i]);
            if (rc == 0) {
                int one = 1;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                f->st.conns_opened++;
                return fd;
            }
            close(fd);
        } else {
            rc = fd;
        }
        if (first == 0)
            first = rc;
        if (rc == -ECANCELED || rc == -ETIMEDOUT)
            return rc; /* no time left for the other addresses */
    }
    return first != 0 ? first : -EHOSTUNREACH;
}

/* ---- one request ------------------------------------------------------------------------- */

static int kind_of(int err)
{
    switch (err) {
    case -ECONNREFUSED:
        return K_REFUSED;
    case -ECONNRESET:
    case -EPIPE:
    case -ECONNABORTED:
        return K_RESET;
    case -ETIMEDOUT:
        return K_TIMEOUT;
    case CORIO_ENONAME:
    case CORIO_ERESOLVE:
        return K_DNS;
    case -ENETUNREACH:
    case -EHOSTUNREACH:
    case -ENETDOWN:
    case -EHOSTDOWN:
    case -EADDRNOTAVAIL:
        return K_UNREACHABLE;
    default:
        return K_OTHER;
    }
}

static void fail(struct result *r, int kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct result *r, int kind, const char *fmt, ...)
{
    r->kind = kind;
    r->status = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof r->detail, fmt, ap);
    va_end(ap);
}

static void fail_errno(struct result *r, int err, const char *when)
{
    fail(r, kind_of(err), "%s %s", corio_strerror(err), when);
}

/* ---- saving bodies --------------------------------------------------------------------- */

/* Creates the -o file for a response to t: the URL's safe name, or name.1, name.2, ... if
 * taken. O_EXCL|O_NOFOLLOW: an existing file or symlink is never written through. */
static int save_open(struct worker *w, struct target *t)
{
    char base[CORIO_HTTP_MAX_FILENAME + 1];
    corio_http_url_filename(&t->url, base, sizeof base);
    for (int tries = 0; tries < 100000; tries++) {
        unsigned k = t->saves++;
        if (k == 0)
            snprintf(w->save_name, sizeof w->save_name, "%s", base);
        else
            snprintf(w->save_name, sizeof w->save_name, "%s.%u", base, k);
        int fd = corio_openat(w->f->dirfd, w->save_name,
                              O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd >= 0) {
            w->save_fd = fd;
            w->save_off = 0;
            return 0;
        }
        if (fd != -EEXIST)
            return fd;
    }
    return -EEXIST;
}

static int save_write(struct worker *w, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = corio_write(w->save_fd, p, n, (int64_t)w->save_off);
        if (k <= 0)
            return k < 0 ? (int)k : -EIO;
        p += k;
        n -= (size_t)k;
        w->save_off += (uint64_t)k;
    }
    return 0;
}

/* Ends the file: kept when the response was complete, removed otherwise. */
static void save_end(struct worker *w, bool keep)
{
    if (w->save_fd < 0)
        return;
    close(w->save_fd);
    w->save_fd = -1;
    if (!keep)
        unlinkat(w->f->dirfd, w->save_name, 0);
}

/* ---- I/O: the exchange's send and receive ----------------------------------------------- */

/* The task waiting on w (for a receive, or for the ops to drain) continues if it can. */
static void io_wake(struct worker *w)
{
    if (w->draining && !w->send_busy && !w->recv_busy) {
        w->draining = false;
        corio_future_resolve(&w->drained, NULL);
    } else if (w->waiting && (w->recv_done || w->send_err != 0)) {
        w->waiting = false;
        corio_future_resolve(&w->wake, NULL);
    }
}

static void on_send(corio_op_t *op, int res)
{
    struct worker *w = op->data;
    if (res > 0 && (size_t)res < w->send_left) {
        /* A short send: the rest follows. */
        w->send_p += res;
        w->send_left -= (size_t)res;
        res = corio_send_cb(w->loop, &w->send_op, w->send_fd, w->send_p, w->send_left, 0, on_send);
        if (res == 0)
            return;
    }
    w->send_busy = false;
    if (res <= 0)
        w->send_err = res < 0 ? res : -EIO;
    else
        w->send_left = 0;
    io_wake(w);
}

static void on_recv(corio_op_t *op, int res)
{
    struct worker *w = op->data;
    w->recv_busy = false;
    w->recv_res = res;
    w->recv_done = true;
    io_wake(w);
}

/* Gives up on the ops in flight: the kernel is asked to cancel them; their callbacks still
 * run, and io_drain waits for that before the ops are used again. */
static void io_abandon(struct worker *w)
{
    if (w->recv_busy)
        corio_op_cancel(w->loop, &w->recv_op);
    if (w->send_busy)
        corio_op_cancel(w->loop, &w->send_op);
}

/* Waits until no op of w is in flight. Returns 0, or -ECANCELED/-ETIMEDOUT. */
static int io_drain(struct worker *w)
{
    while (w->send_busy || w->recv_busy) {
        corio_future_init(&w->drained);
        w->draining = true;
        int rc = corio_future_await(&w->drained, NULL);
        w->draining = false;
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Starts sending len bytes of req on fd (continued over short sends by on_send). */
static int io_send(struct worker *w, int fd, const char *req, size_t len)
{
    w->send_fd = fd;
    w->send_p = req;
    w->send_left = len;
    w->send_err = 0;
    int rc = corio_send_cb(w->loop, &w->send_op, fd, req, len, 0, on_send);
    w->send_busy = rc == 0;
    return rc;
}

/* One receive into w->rbuf, under the task's deadline. Returns the bytes received, 0 when
 * the server closed, or -errno: the send's error if it failed first, -ETIMEDOUT,
 * -ECANCELED (the ops in flight are then abandoned). */
static int io_recv(struct worker *w, int fd)
{
    if (w->send_err != 0)
        return w->send_err;
    w->recv_done = false;
    int rc = corio_recv_cb(w->loop, &w->recv_op, fd, w->rbuf, RBUF_SIZE, 0, on_recv);
    if (rc < 0)
        return rc;
    w->recv_busy = true;
    corio_future_init(&w->wake);
    w->waiting = true;
    rc = corio_future_await(&w->wake, NULL);
    w->waiting = false;
    if (rc < 0 || !w->recv_done) {
        io_abandon(w);
        return rc < 0 ? rc : w->send_err;
    }
    return w->recv_res;
}

/* ---- the exchange -------------------------------------------------------------------------- */

enum { RT_KEEP, RT_CLOSE, RT_FAIL, RT_STALE, RT_CANCEL };

static bool is_redirect(int status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* Whether this response's body is thrown away for another request (a retry after a 5xx,
 * or a redirect to follow) rather than kept. */
static bool passing_through(const struct worker *w)
{
    const struct options *o = &w->f->o;
    const http_resp_t *p = &w->resp;
    return (p->status >= 500 && w->tries < o->retries) ||
           (o->follow && is_redirect(p->status) && p->location_len > 0);
}

static void fail_closed(struct worker *w, struct result *r)
{
    const http_resp_t *p = &w->resp;
    if (!http_resp_started(p))
        fail(r, K_CLOSED, "connection closed before the response");
    else if (!http_resp_head_done(p))
        fail(r, K_CLOSED, "connection closed in the middle of the response head");
    else if (p->body == HTTP_BODY_LENGTH)
        fail(r, K_CLOSED, "connection closed after %llu of %lld body bytes",
             (unsigned long long)p->body_bytes, (long long)p->content_length);
    else
        fail(r, K_CLOSED, "connection closed in the middle of the chunked body (%llu bytes)",
             (unsigned long long)p->body_bytes);
}

/* Handles one buffer of response bytes. Returns -1 while the response goes on, or an RT_*
 * outcome. */
static int take_bytes(struct worker *w, struct target *t, struct result *r, const char *p,
                      size_t left)
{
    struct fetch *f = w->f;
    for (;;) {
        size_t used;
        const char *body;
        size_t blen;
        int ev = http_resp_feed(&w->resp, p, left, &used, &body, &blen);
        p += used;
        left -= used;
        switch (ev) {
        case HTTP_NEED_MORE:
            return -1;
        case HTTP_HEAD:
            if (f->dirfd >= 0 && !passing_through(w)) {
                int err = save_open(w, t);
                if (err < 0) {
                    fail(r, K_SAVE, "cannot create a file in %s: %s", f->o.outdir,
                         corio_strerror(err));
                    return err == -ECANCELED ? RT_CANCEL : RT_FAIL;
                }
            }
            continue;
        case HTTP_BODY:
            r->body_bytes += blen;
            if (w->save_fd >= 0) {
                int err = save_write(w, body, blen);
                if (err < 0) {
                    fail(r, K_SAVE, "writing %s/%s: %s", f->o.outdir, w->save_name,
                         corio_strerror(err));
                    return err == -ECANCELED ? RT_CANCEL : RT_FAIL;
                }
            }
            continue;
        case HTTP_DONE:
            r->status = w->resp.status;
            for (size_t i = 0; i < left; i++)
                if (p[i] != '\r' && p[i] != '\n') {
                    fail(r, K_PARSE,
                         "%zu bytes after the end of the response (a Content-Length "
                         "too small?)",
                         left);
                    return RT_FAIL;
                }
            return w->resp.keep_alive ? RT_KEEP : RT_CLOSE;
        default:
            fail(r, K_PARSE, "%s", http_resp_strerror(ev));
            return RT_FAIL;
        }
    }
}

/* Sends the request on c and reads the response. fresh: c was just connected (a reused one
 * that fails before any response byte is RT_STALE: try another). */
static int roundtrip(struct worker *w, struct conn *c, bool fresh, struct target *t,
                     const char *req, size_t req_len, bool head, struct result *r)
{
    int rc = io_drain(w); /* what an earlier exchange left in flight */
    if (rc == 0)
        rc = io_send(w, c->fd, req, req_len);
    if (rc == -ECANCELED)
        return RT_CANCEL;
    if (rc < 0) {
        fail_errno(r, rc, "before sending the request");
        return RT_FAIL;
    }
    http_resp_init(&w->resp, head);
    do {
        int n = io_recv(w, c->fd);
        if (n == -ECANCELED) {
            rc = RT_CANCEL;
        } else if (n <= 0 && !fresh && !http_resp_started(&w->resp) &&
                   (n == 0 || n == -ECONNRESET || n == -EPIPE)) {
            rc = RT_STALE;
        } else if (n == -ETIMEDOUT) {
            fail(r, K_TIMEOUT, "no complete response within %.3g s (%llu body bytes came)",
                 (double)w->f->o.timeout_ns / 1e9, (unsigned long long)w->resp.body_bytes);
            rc = RT_FAIL;
        } else if (n < 0) {
            fail_errno(r, n,
                       http_resp_started(&w->resp) ? "while reading the response"
                                                   : "waiting for the response");
            rc = RT_FAIL;
        } else if (n == 0) {
            if (http_resp_eof(&w->resp) == HTTP_DONE) {
                r->status = w->resp.status;
                rc = RT_CLOSE;
            } else {
                fail_closed(w, r);
                rc = RT_FAIL;
            }
        } else {
            w->f->st.wire_bytes += (uint64_t)n;
            rc = take_bytes(w, t, r, w->rbuf, (size_t)n);
        }
    } while (rc < 0);
    if (w->send_busy) {
        /* The server answered before taking the whole request: not a connection to reuse. */
        io_abandon(w);
        if (rc == RT_KEEP)
            rc = RT_CLOSE;
    }
    save_end(w, rc == RT_KEEP || rc == RT_CLOSE);
    return rc;
}

/* One attempt under the --timeout deadline: a pooled or new connection, one exchange.
 * Returns RT_KEEP/RT_CLOSE (a response), RT_FAIL (r says why) or RT_CANCEL. */
static int attempt(struct worker *w, struct host *h, struct target *t, const char *req,
                   size_t req_len, bool head, struct result *r)
{
    struct fetch *f = w->f;
    const struct options *o = &f->o;
    r->kind = -1;
    r->status = 0;
    if (o->timeout_ns != 0)
        corio_timeout_begin(o->timeout_ns);
    int rc;
    for (;;) {
        bool fresh = false;
        struct conn *c = pool_take(f, h);
        if (c == NULL) {
            c = conn_slot(f);
            if (o->connect_ns != 0)
                corio_timeout_begin(o->connect_ns);
            int fd = dial(f, h);
            if (o->connect_ns != 0)
                corio_timeout_end();
            if (fd < 0) {
                conn_free(f, c);
                if (fd == -ECANCELED) {
                    rc = RT_CANCEL;
                } else {
                    if (fd == -ETIMEDOUT)
                        fail(r, K_TIMEOUT, "no connection within the deadline (%.3g s)",
                             (double)(o->connect_ns ? o->connect_ns : o->timeout_ns) / 1e9);
                    else
                        fail_errno(r, fd, "while connecting");
                    rc = RT_FAIL;
                }
                break;
            }
            c->fd = fd;
            fresh = true;
        }
        rc = roundtrip(w, c, fresh, t, req, req_len, head, r);
        if (rc == RT_STALE) {
            conn_free(f, c); /* the server closed it while idle: not this request's fault */
            continue;
        }
        if (rc == RT_KEEP && !f->stop)
            pool_put(f, h, c);
        else
            conn_free(f, c);
        break;
    }
    if (o->timeout_ns != 0)
        corio_timeout_end();
    return rc;
}

static bool retryable(int kind)
{
    return kind == K_REFUSED || kind == K_RESET || kind == K_TIMEOUT || kind == K_CLOSED ||
           kind == K_DNS || kind == K_UNREACHABLE;
}

/* Sleeps before retry number `tries` (0-based): 100 ms, 200 ms, ... up to 5 s, +-25%.
 * Returns 0, -ECANCELED, or -ETIMEDOUT when the run ends before then (no retry). */
static int backoff(struct fetch *f, unsigned tries)
{
    uint64_t d = BACKOFF_BASE_NS << (tries < 16 ? tries : 16);
    if (d > BACKOFF_MAX_NS)
        d = BACKOFF_MAX_NS;
    f->rng ^= f->rng << 13;
    f->rng ^= f->rng >> 7;
    f->rng ^= f->rng << 17;
    d = d - d / 4 + f->rng % (d / 2 + 1);
    if (f->deadline != 0 && now_ns() + d >= f->deadline)
        return -ETIMEDOUT;
    return corio_sleep(d);
}

/* Follows r's redirect: the next URL into the worker's other buffer, its host, its request.
 * Returns 0, or fills r with the error. */
static int redirect(struct worker *w, const corio_http_url_t **u, struct host **h,
                    const char **method, const char **req, size_t *req_len, struct result *r)
{
    struct fetch *f = w->f;
    if (r->redirects == f->o.max_redirects) {
        fail(r, K_REDIRECTS, "more than %u redirects", f->o.max_redirects);
        return -1;
    }
    int status = r->status;
    r->redirects++;
    unsigned k = r->redirects & 1;
    if (w->resp.location_too_long ||
        corio_http_url_resolve(*u, w->resp.location, w->urlbuf[k], CORIO_HTTP_MAX_URL + 1) < 0) {
        fail(r, K_URL, "redirect %d with an unusable Location", status);
        return -1;
    }
    int err = fetch_url_parse(w->urlbuf[k], &w->url[k]);
    if (err != 0) {
        fail(r, K_URL, "redirect to %.160s: %s", w->urlbuf[k], fetch_url_strerror(err));
        return -1;
    }
    *u = &w->url[k];
    *h = fetch_host_get(f, *u);
    if (*h == NULL) {
        fail(r, K_OTHER, "out of memory");
        return -1;
    }
    /* 303 asks for a GET; a POST redirected by 301/302 becomes a GET, as browsers do. */
    if ((status == 303 && strcmp(*method, "HEAD") != 0) ||
        ((status == 301 || status == 302) && strcmp(*method, "POST") == 0))
        *method = "GET";
    int n = fetch_build_request(w->sbuf, REQ_MAX, *method, *u, &f->o);
    if (n < 0) {
        fail(r, K_URL, "redirect target too long for a request");
        return -1;
    }
    *req = w->sbuf;
    *req_len = (size_t)n;
    return 0;
}

void fetch_request(struct worker *w, struct target *t, struct result *r)
{
    struct fetch *f = w->f;
    r->status = 0;
    r->kind = -1;
    r->cancelled = false;
    r->retries = r->redirects = 0;
    r->body_bytes = 0;
    r->detail[0] = '\0';
    if (t->url_err != 0) {
        fail(r, K_URL, "%s", fetch_url_strerror(t->url_err));
        return;
    }
    const corio_http_url_t *u = &t->url;
    struct host *h = t->host;
    const char *method = f->o.method, *req = t->req;
    size_t req_len = t->req_len;
    w->tries = 0;
    for (;;) {
        int rc = attempt(w, h, t, req, req_len, strcmp(method, "HEAD") == 0, r);
        if (rc == RT_CANCEL) {
            r->cancelled = true;
            return;
        }
        bool failed = r->kind >= 0;
        if (w->tries < f->o.retries && (failed ? retryable(r->kind) : r->status >= 500)) {
            int err = backoff(f, w->tries);
            if (err == -ECANCELED) {
                r->cancelled = true;
                return;
            }
            if (err == 0) {
                w->tries++;
                r->retries++;
                continue;
            }
        }
        if (!failed && f->o.follow && is_redirect(r->status) && w->resp.location_len > 0) {
            if (redirect(w, &u, &h, &method, &req, &req_len, r) < 0)
                return;
            w->tries = 0;
            continue;
        }
        return;
    }
}

/* ---- requests ---------------------------------------------------------------------- */

int fetch_url_parse(const char *s, corio_http_url_t *u)
{
    int err = corio_http_url_parse(s, u);
    if (err != 0)
        return err;
    if (u->scheme == CORIO_HTTP_SCHEME_HTTPS)
        return FETCH_E_HTTPS;
    if (u->user != NULL)
        return FETCH_E_USERINFO;
    return 0;
}

const char *fetch_url_strerror(int err)
{
    switch (err) {
    case FETCH_E_HTTPS:
        return "https not supported";
    case FETCH_E_USERINFO:
        return "user:password@ in URLs not supported";
    default:
        return corio_strerror(err);
    }
}

/* A bounded string builder: ok turns false once something did not fit. */
struct sb {
    char *p;
    size_t len, cap;
    bool ok;
};

static void sb_put(struct sb *b, const char *s, size_t n)
{
    if (!b->ok || n > b->cap - b->len) {
        b->ok = false;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void sb_str(struct sb *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

int fetch_build_request(char *out, size_t cap, const char *method, const corio_http_url_t *u,
                        const struct options *o)
{
    struct sb b = {out, 0, cap, true};
    char auth[CORIO_HTTP_MAX_AUTHORITY];
    if (corio_http_url_authority(u, auth, sizeof auth) < 0)
        return -1;
    sb_str(&b, method);
    sb_str(&b, " ");
    sb_put(&b, u->target, u->target_len);
    sb_str(&b, " HTTP/1.1\r\n");
    if (!o->has_host) {
        sb_str(&b, "Host: ");
        sb_str(&b, auth);
        sb_str(&b, "\r\n");
    }
    if (!o->has_user_agent)
        sb_str(&b, "User-Agent: " USER_AGENT "\r\n");
    if (!o->has_accept)
        sb_str(&b, "Accept: */*\r\n");
    for (size_t i = 0; i < o->nheaders; i++) {
        sb_str(&b, o->headers[i]);
        sb_str(&b, "\r\n");
    }
    if (!o->has_length &&
        (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0))
        sb_str(&b, "Content-Length: 0\r\n"); /* no body: say so, or the server waits */
    sb_str(&b, "\r\n");
    return b.ok && b.len <= INT32_MAX ? (int)b.len : -1;
}
