/* The HTTP client (corio/http_client.h): one request through the pool (pool.c) with its
 * attempts, the request head and body going out, the response coming in through the
 * incremental parser, bodies delivered (decoded by decode.c), redirects with their
 * credential rules, and retries with backoff or after a Retry-After. Proxies are proxy.c's:
 * an attempt takes one from there and writes its request line for it; each attempt first
 * waits for its host's turn (polite.c). */
#include "client_internal.h"
#include "proxy.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "syntax.h"

#define MS              1000000ull
#define SEC             (1000 * MS)
#define RBUF_SIZE       (16 * 1024) /* one receive */
#define STORE_SIZE      (32 * 1024) /* the final response's fields */
#define DECODE_SIZE     (16 * 1024) /* decoded body, a piece at a time */
#define SOURCE_CHUNK    (16 * 1024) /* a streamed body, a chunk at a time */
#define HEAD_MIN        (4 * 1024)  /* the request head buffer, grown as needed */
#define BACKOFF_BASE_NS (100 * MS)  /* the first retry's delay; doubles each time */
#define BACKOFF_MAX_NS  (5 * SEC)
#define RETRY_AFTER_MAX (60 * SEC) /* retry_after_max_ns's default */
#define HC_FLAGS                                                                                   \
    (unsigned)(CORIO_HTTP_FOLLOW | CORIO_HTTP_DECOMPRESS | CORIO_HTTP_NO_RETRY |                   \
               CORIO_HTTP_NO_KEEPALIVE)

void hc_say(char *why, size_t len, const char *fmt, ...)
{
    if (why == NULL || len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
}

uint64_t hc_now(void)
{
    /* Only idle connections' ages are taken from it: the coarse clock (a few ms) is
     * plenty and costs a fraction of the precise one. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

/* ---- the client ---------------------------------------------------------------------- */

int corio_http_client_new(corio_http_client_t **out, const corio_http_client_opts_t *opts)
{
    static const corio_http_client_opts_t defaults = {0};
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (opts == NULL)
        opts = &defaults;
    corio_http_client_opts_t o = *opts;
    if ((o.flags & ~HC_FLAGS) != 0)
        return -EINVAL;
    if (o.max_conns == 0)
        o.max_conns = 256;
    if (o.max_conns_per_host == 0)
        o.max_conns_per_host = o.max_conns;
    if (o.max_conns_per_host > o.max_conns)
        return -EINVAL;
    if (o.timeout_ns == 0)
        o.timeout_ns = 30 * SEC;
    if (o.idle_timeout_ns == 0)
        o.idle_timeout_ns = 30 * SEC;
    if (o.max_redirects == 0)
        o.max_redirects = 10;
    if (o.max_body == 0)
        o.max_body = 64u << 20;
    if (!isfinite(o.host_rate) || o.host_rate < 0)
        return -EINVAL;
    if (o.retry_after_max_ns == 0)
        o.retry_after_max_ns = RETRY_AFTER_MAX;
    corio_http_client_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return -ENOMEM;
    c->o = o;
    c->tls = o.tls;
    c->rng = (uint64_t)hc_now() | 1;
    char ua[32];
    snprintf(ua, sizeof ua, "corio/%d.%d", CORIO_VERSION_MAJOR, CORIO_VERSION_MINOR);
    c->user_agent = strdup(o.user_agent != NULL ? o.user_agent : ua);
    c->ca_file = o.ca_file != NULL ? strdup(o.ca_file) : NULL;
    if (c->user_agent == NULL || (o.ca_file != NULL && c->ca_file == NULL)) {
        corio_http_client_free(c);
        return -ENOMEM;
    }
    c->o.user_agent = c->user_agent;
    c->o.ca_file = c->ca_file;
    int rc = hc_proxies_init(c, &o);
    if (rc < 0) {
        corio_http_client_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void corio_http_client_free(corio_http_client_t *c)
{
    if (c == NULL)
        return;
    if (c->active != 0) {
        fprintf(stderr,
                "corio: corio_http_client_free with %u requests in progress: let them "
                "finish (or cancel their tasks and join them) first\n",
                c->active);
        abort();
    }
    hc_pool_close_idle(c);
    hc_origins_free(c);
    hc_proxies_free(c);
    hc_hosts_free(c);
    if (c->own_tls)
        corio_tls_ctx_free(c->tls);
    free(c->user_agent);
    free(c->ca_file);
    free(c);
}

void corio_http_client_close_idle(corio_http_client_t *c)
{
    if (c != NULL)
        hc_pool_close_idle(c);
}

void corio_http_client_stats(const corio_http_client_t *c, corio_http_client_stats_t *st)
{
    if (c != NULL && st != NULL)
        *st = c->st;
}

/* ---- the response's buffers ----------------------------------------------------------- */

struct corio_http_client_buf {
    /* What every request touches first, together. */
    corio_http_resp_parser_t p;
    corio_http_url_t u[2];  /* the current URL and a redirect's, parsed from url[] */
    corio_http_url_t first; /* the URL asked for: the origin credentials belong to */
    char auth[2][CORIO_HTTP_MAX_AUTHORITY]; /* u[]'s authorities, for the Host field */
    int auth_len[2];
    bool first_parsed; /* url[0]/u[0] still hold the last request's URL, parsed */
    char *head;        /* the request head */
    size_t head_cap, head_len;
    char *body; /* the body kept in memory */
    size_t body_cap;
    struct hc_decoder dec;
    char why[512];
    size_t raw_len;     /* the response head as received (interim heads included) */
    bool fields_parsed; /* fields holds raw's fields */
    char rbuf[RBUF_SIZE];
    /* The fields are stored only when asked for (corio_http_client_resp_header): the head
     * is kept as received, and parsed again with a field store then, so a request whose
     * fields nobody reads pays a copy, not a store of every field. */
    corio_http_resp_parser_t fields;
    char raw[CORIO_HTTP_MAX_RESPONSE_HEAD];
    char store[STORE_SIZE];
    char url[2][CORIO_HTTP_MAX_URL + 1];
    unsigned char decoded[DECODE_SIZE];
    char userinfo[CORIO_HTTP_MAX_URL + 1]; /* first's, which url[0] loses to a redirect */
};

void corio_http_client_resp_init(corio_http_client_resp_t *r)
{
    if (r != NULL)
        memset(r, 0, sizeof *r);
}

void corio_http_client_resp_free(corio_http_client_resp_t *r)
{
    if (r == NULL || r->priv == NULL)
        return;
    hc_decoder_end(&r->priv->dec);
    free(r->priv->head);
    free(r->priv->body);
    free(r->priv);
    memset(r, 0, sizeof *r);
}

const char *corio_http_client_resp_header(const corio_http_client_resp_t *r, const char *name,
                                          unsigned nth, size_t *len)
{
    if (r == NULL || r->priv == NULL || name == NULL)
        return NULL;
    struct corio_http_client_buf *b = r->priv;
    if (!b->fields_parsed) {
        corio_http_resp_parser_init(&b->fields, false);
        corio_http_resp_parser_set_store(&b->fields, b->store, sizeof b->store);
        const char *at = b->raw, *body;
        size_t left = b->raw_len, used, blen;
        int ev;
        do {
            ev = corio_http_resp_parser_feed(&b->fields, at, left, &used, &body, &blen);
            at += used;
            left -= used;
        } while (ev > 0 && ev != CORIO_HTTP_HEAD);
        b->fields_parsed = true; /* a store too small leaves the fields that fitted */
    }
    size_t pos = 0, vlen;
    const char *value;
    for (unsigned i = 0;; i++) {
        if (!corio_http_resp_parser_field(&b->fields, name, &pos, &value, &vlen))
            return NULL;
        if (i == nth) {
            if (len != NULL)
                *len = vlen;
            return value;
        }
    }
}

const char *corio_http_client_resp_error(const corio_http_client_resp_t *r)
{
    return r != NULL && r->priv != NULL ? r->priv->why : "";
}

int corio_http_sink_fd(void *arg, const void *data, size_t len)
{
    int fd = *(int *)arg;
    const char *p = data;
    while (len > 0) {
        ssize_t n = corio_write(fd, p, len, -1);
        if (n <= 0)
            return n < 0 ? (int)n : -EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* ---- one request's state --------------------------------------------------------------- */

struct call {
    corio_http_client_t *c;
    const corio_http_client_req_t *req;
    corio_http_client_resp_t *r;
    struct corio_http_client_buf *b;
    const char *method;
    unsigned cur;        /* which of b->url/b->u is the current URL */
    unsigned flags;      /* the client's and the request's */
    bool has_body;       /* body or body_source, for this method */
    bool source_started; /* body_source was read: the body cannot be sent again */
    bool head_request;
    unsigned tries; /* retries made for the current URL */
    /* proxies: the attempt's (NULL: direct), the one the last attempt could not reach,
     * and how many times the request moved to another */
    struct hc_proxy *px;
    const struct hc_proxy *avoid;
    unsigned moves;
    /* the attempt in progress */
    bool passing; /* this response's body is thrown away (a redirect, a retry) */
    bool paced;   /* the host's turn was waited for, for the attempt about to be made */
    bool told;    /* a Retry-After within the cap came: the retry waits for it, no backoff */
    bool decoding;
    int sink_err;
};

static bool method_is(const char *m, const char *lit)
{
    return strcmp(m, lit) == 0;
}

static bool idempotent(const struct call *k)
{
    static const char *const safe[] = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"};
    for (size_t i = 0; i < sizeof safe / sizeof safe[0]; i++)
        if (method_is(k->method, safe[i]))
            return true;
    for (size_t i = 0; i < k->req->nheaders; i++)
        if (http_ieq(k->req->headers[i].name, k->req->headers[i].name_len, "idempotency-key"))
            return true;
    return false;
}

/* Whether another attempt may be made (a retry, or a stale connection replaced). */
static bool replayable(const struct call *k)
{
    return !k->source_started;
}

static bool may_retry(const struct call *k)
{
    return (k->flags & CORIO_HTTP_NO_RETRY) == 0 && k->tries < k->c->o.retries && idempotent(k) &&
           replayable(k);
}

/* Statuses after which the same request may succeed later. */
static bool retry_status(int status)
{
    return status >= 500 || status == 429;
}

static bool is_redirect(int status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

static const corio_http_url_t *cur_url(const struct call *k)
{
    return &k->b->u[k->cur];
}

/* "GET https://host/path: " and the rest, into b->why. */
static int fail(struct call *k, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct call *k, int err, const char *fmt, ...)
{
    char detail[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    snprintf(k->b->why, sizeof k->b->why, "%s %.200s: %s", k->method, k->b->url[k->cur], detail);
    return err;
}

/* ---- the request head ------------------------------------------------------------------ */

static bool __attribute__((noinline)) head_grow(struct corio_http_client_buf *b, size_t more)
{
    size_t cap = b->head_cap > 0 ? b->head_cap : HEAD_MIN;
    while (cap < b->head_len + more)
        cap *= 2;
    char *p = realloc(b->head, cap);
    if (p == NULL)
        return false;
    b->head = p;
    b->head_cap = cap;
    return true;
}

static inline bool head_reserve(struct corio_http_client_buf *b, size_t more)
{
    return __builtin_expect(b->head_len + more <= b->head_cap, 1) || head_grow(b, more);
}

static inline bool put(struct corio_http_client_buf *b, const char *s, size_t n)
{
    if (!head_reserve(b, n))
        return false;
    memcpy(b->head + b->head_len, s, n);
    b->head_len += n;
    return true;
}

static inline bool put_str(struct corio_http_client_buf *b, const char *s)
{
    return put(b, s, strlen(s));
}

static bool put_field(struct corio_http_client_buf *b, const char *name, const char *value,
                      size_t value_len)
{
    return put_str(b, name) && put(b, ": ", 2) && put(b, value, value_len) && put(b, "\r\n", 2);
}

/* Authorization: Basic from the current URL's userinfo. */
static bool put_basic_auth(struct corio_http_client_buf *b, const corio_http_url_t *u)
{
    size_t n = u->user_len + 1 + (u->password != NULL ? u->password_len : 0);
    char *plain = malloc(n + 1);
    unsigned char *enc = malloc(4 * ((n + 2) / 3) + 1);
    bool ok = false;
    if (plain != NULL && enc != NULL) {
        size_t len = corio_http_pct_decode(u->user, u->user_len, plain);
        plain[len++] = ':';
        if (u->password != NULL)
            len += corio_http_pct_decode(u->password, u->password_len, plain + len);
        int elen = EVP_EncodeBlock(enc, (const unsigned char *)plain, (int)len);
        ok = put_str(b, "Authorization: Basic ") && put(b, (const char *)enc, (size_t)elen) &&
             put(b, "\r\n", 2);
        OPENSSL_cleanse(plain, n + 1);
    }
    free(plain);
    free(enc);
    return ok;
}

static bool user_has(const corio_http_client_req_t *req, const char *lower)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (http_ieq(req->headers[i].name, req->headers[i].name_len, lower))
            return true;
    return false;
}

/* The fields a request carries only to the origin it was made for (RFC 9110 section
 * 15.4: a client should not send credentials to another origin on redirect). */
static bool origin_bound(const corio_http_header_t *h)
{
    return http_ieq(h->name, h->name_len, "authorization") ||
           http_ieq(h->name, h->name_len, "cookie") ||
           http_ieq(h->name, h->name_len, "proxy-authorization") ||
           http_ieq(h->name, h->name_len, "host");
}

/* Builds the request head for the current URL into b->head. Returns 0 or -ENOMEM. */
static int build_head(struct call *k, uint64_t content_length)
{
    struct corio_http_client_buf *b = k->b;
    const corio_http_client_req_t *req = k->req;
    const corio_http_url_t *u = cur_url(k);
    bool home = corio_http_url_same_origin(u, &b->first);
    b->head_len = 0;
    const char *auth = b->auth[k->cur];
    int alen = b->auth_len[k->cur];
    bool absolute = k->px != NULL && u->scheme == CORIO_HTTP_SCHEME_HTTP; /* to a proxy */
    bool ok = alen > 0 && put_str(b, k->method) && put(b, " ", 1) &&
              (!absolute || (put_str(b, "http://") && put(b, auth, (size_t)alen))) &&
              put(b, u->target, u->target_len) && put_str(b, " HTTP/1.1\r\n");
    if (ok && absolute && k->px->auth != NULL && !user_has(req, "proxy-authorization"))
        ok = put_field(b, "Proxy-Authorization", k->px->auth, k->px->auth_len);
    bool own_host = home && user_has(req, "host");
    if (ok && !own_host)
        ok = put_field(b, "Host", auth, (size_t)alen);
    if (ok && *k->c->user_agent != '\0' && !user_has(req, "user-agent"))
        ok = put_field(b, "User-Agent", k->c->user_agent, strlen(k->c->user_agent));
    if (ok && !user_has(req, "accept"))
        ok = put_str(b, "Accept: */*\r\n");
    if (ok && (k->flags & CORIO_HTTP_NO_KEEPALIVE))
        ok = put_str(b, "Connection: close\r\n");
    if (ok && (k->flags & CORIO_HTTP_DECOMPRESS) && !user_has(req, "accept-encoding"))
        ok = put_str(b, "Accept-Encoding: gzip, deflate\r\n");
    /* Basic credentials: the current URL's own, else at home the first URL's (a
     * redirect's Location, resolved, never carries userinfo over). */
    const corio_http_url_t *cred = u->user != NULL ? u : home ? &b->first : NULL;
    if (ok && cred != NULL && cred->user != NULL && !(home && user_has(req, "authorization")))
        ok = put_basic_auth(b, cred);
    for (size_t i = 0; ok && i < req->nheaders; i++) {
        const corio_http_header_t *h = &req->headers[i];
        if (!home && origin_bound(h))
            continue; /* the redirect left the origin these were meant for */
        ok = put(b, h->name, h->name_len) && put(b, ": ", 2) && put(b, h->value, h->value_len) &&
             put(b, "\r\n", 2);
    }
    if (ok && k->has_body && req->body_source != NULL) {
        ok = put_str(b, "Transfer-Encoding: chunked\r\n");
    } else if (ok && (k->has_body || method_is(k->method, "POST") || method_is(k->method, "PUT") ||
                      method_is(k->method, "PATCH"))) {
        char n[24];
        int len = snprintf(n, sizeof n, "%llu", (unsigned long long)content_length);
        ok = put_field(b, "Content-Length", n, (size_t)len); /* 0 too: or the server waits */
    }
    ok = ok && put(b, "\r\n", 2);
    return ok ? 0 : -ENOMEM;
}

/* Checks what the caller asked for. Returns 0 or -EINVAL, with the reason in why. */
static int check_req(const corio_http_client_req_t *req, char *why, size_t why_len)
{
    if (req->url == NULL) {
        hc_say(why, why_len, "no URL");
        return -EINVAL;
    }
    if (req->body != NULL && req->body_source != NULL) {
        hc_say(why, why_len, "a body and a body source at once");
        return -EINVAL;
    }
    if ((req->flags & ~HC_FLAGS) != 0) {
        hc_say(why, why_len, "unknown flags 0x%x", req->flags & ~HC_FLAGS);
        return -EINVAL;
    }
    if (req->body == NULL && req->body_len > 0) {
        hc_say(why, why_len, "a body length without a body");
        return -EINVAL;
    }
    if (req->method != NULL) {
        size_t n = strlen(req->method);
        bool token = n > 0;
        for (size_t i = 0; i < n; i++)
            token = token && http_is_tchar((unsigned char)req->method[i]);
        if (!token) {
            hc_say(why, why_len, "method '%.40s' is not a token", req->method);
            return -EINVAL;
        }
    }
    if (req->headers == NULL && req->nheaders > 0) {
        hc_say(why, why_len, "header count without headers");
        return -EINVAL;
    }
    for (size_t i = 0; i < req->nheaders; i++) {
        const corio_http_header_t *h = &req->headers[i];
        bool token = h->name != NULL && h->name_len > 0;
        for (size_t j = 0; token && j < h->name_len; j++)
            token = http_is_tchar((unsigned char)h->name[j]);
        if (!token) {
            hc_say(why, why_len, "header %zu: the name is not a token", i);
            return -EINVAL;
        }
        if (h->value == NULL && h->value_len > 0) {
            hc_say(why, why_len, "header %.*s: a length without a value", (int)h->name_len,
                   h->name);
            return -EINVAL;
        }
        for (size_t j = 0; j < h->value_len; j++)
            if (h->value[j] == '\r' || h->value[j] == '\n' || h->value[j] == '\0') {
                hc_say(why, why_len, "header %.*s: CR, LF or NUL in the value", (int)h->name_len,
                       h->name);
                return -EINVAL;
            }
        if (http_ieq(h->name, h->name_len, "content-length") ||
            http_ieq(h->name, h->name_len, "transfer-encoding") ||
            http_ieq(h->name, h->name_len, "connection")) {
            hc_say(why, why_len, "header %.*s is set by the client itself", (int)h->name_len,
                   h->name);
            return -EINVAL;
        }
    }
    return 0;
}

/* ---- sending ------------------------------------------------------------------------------ */

/* Sends the head and the body. Returns 0 or an error. */
static int send_request(struct call *k, struct hc_conn *conn)
{
    struct corio_http_client_buf *b = k->b;
    const corio_http_client_req_t *req = k->req;
    if (k->has_body && req->body != NULL) {
        /* A body that fits goes out with the head, in one write. */
        if (req->body_len <= 16 * 1024 && head_reserve(b, req->body_len)) {
            memcpy(b->head + b->head_len, req->body, req->body_len);
            return hc_conn_write(conn, b->head, b->head_len + req->body_len);
        }
        int rc = hc_conn_write(conn, b->head, b->head_len);
        return rc < 0 ? rc : hc_conn_write(conn, req->body, req->body_len);
    }
    int rc = hc_conn_write(conn, b->head, b->head_len);
    if (rc < 0 || !k->has_body)
        return rc;
    /* Streamed: each chunk is its size line, the data and CRLF, in one write. */
    char *chunk = b->rbuf; /* free until the response is read */
    size_t room = sizeof b->rbuf - CORIO_HTTP_CHUNK_SIZE_LINE_MAX - 2;
    k->source_started = true;
    for (;;) {
        ssize_t n =
            req->body_source(req->body_source_arg, chunk + CORIO_HTTP_CHUNK_SIZE_LINE_MAX, room);
        if (n < 0)
            return k->sink_err = (int)n;
        if (n == 0)
            return hc_conn_write(conn, CORIO_HTTP_LAST_CHUNK, sizeof CORIO_HTTP_LAST_CHUNK - 1);
        if ((size_t)n > room)
            return k->sink_err = -EINVAL;
        char line[CORIO_HTTP_CHUNK_SIZE_LINE_MAX];
        size_t l = corio_http_chunk_size_line((uint64_t)n, line);
        char *start = chunk + CORIO_HTTP_CHUNK_SIZE_LINE_MAX - l;
        memcpy(start, line, l);
        memcpy(chunk + CORIO_HTTP_CHUNK_SIZE_LINE_MAX + n, "\r\n", 2);
        if ((rc = hc_conn_write(conn, start, l + (size_t)n + 2)) < 0)
            return rc;
    }
}

/* ---- receiving ---------------------------------------------------------------------------- */

/* Where body bytes go: the caller's sink, or the body kept in memory. */
static int deliver(void *arg, const void *data, size_t len)
{
    struct call *k = arg;
    corio_http_client_resp_t *r = k->r;
    struct corio_http_client_buf *b = k->b;
    r->body_bytes += len;
    if (k->req->sink != NULL) {
        int rc = k->req->sink(k->req->sink_arg, data, len);
        if (rc < 0)
            k->sink_err = rc;
        return rc;
    }
    if (r->body_len + len > k->c->o.max_body)
        return CORIO_HTTP_EBODY_TOO_BIG;
    if (r->body_len + len + 1 > b->body_cap) {
        size_t cap = b->body_cap > 0 ? b->body_cap : 16 * 1024;
        while (cap < r->body_len + len + 1)
            cap *= 2;
        char *p = realloc(b->body, cap);
        if (p == NULL)
            return -ENOMEM;
        b->body = p;
        b->body_cap = cap;
    }
    memcpy(b->body + r->body_len, data, len);
    r->body_len += len;
    b->body[r->body_len] = '\0';
    return 0;
}

/* Whether a redirect of this status changes the method to GET (and drops the body): 303
 * asks for it; a POST redirected by 301 or 302 becomes a GET, as browsers do. */
static bool redirect_to_get(const struct call *k, int status)
{
    return (status == 303 && !k->head_request) ||
           ((status == 301 || status == 302) && method_is(k->method, "POST"));
}

/* Whether the response just read (its head) is a redirect to follow. A 307 or 308 of a
 * streamed body is not: the body cannot be sent again. */
static bool follows(const struct call *k, const corio_http_resp_parser_t *p)
{
    return is_redirect(p->status) && (k->flags & CORIO_HTTP_FOLLOW) && p->location_len > 0 &&
           (!k->has_body || replayable(k) || redirect_to_get(k, p->status));
}

/* Whether the head just read is a proxy's 407 to a plain http request sent through it:
 * an error (CORIO_HTTP_EPROXY_AUTH), as for a CONNECT, not the response. */
static bool proxy_refused(const struct call *k, const corio_http_resp_parser_t *p)
{
    return p->status == 407 && k->px != NULL && cur_url(k)->scheme == CORIO_HTTP_SCHEME_HTTP;
}

static const char *proxy_refusal(const struct call *k, char *buf, size_t len)
{
    if (k->px->auth != NULL || user_has(k->req, "proxy-authorization"))
        hc_say(buf, len, "proxy %s refused the credentials (407 Proxy Authentication Required)",
               k->px->label);
    else
        hc_say(buf, len,
               "proxy %s asks for credentials (407 Proxy Authentication Required): give them in "
               "the proxy URL, http://user:password@host:port",
               k->px->label);
    return buf;
}

/* A 429's or 503's Retry-After: blocks the host for it. Returns whether the response may
 * be retried (no Retry-After, or one within the cap); k->told says whether one came. */
static bool retry_after(struct call *k, int status)
{
    k->told = false;
    if (status != 429 && status != 503)
        return true;
    size_t len;
    const char *v = corio_http_client_resp_header(k->r, "retry-after", 0, &len);
    uint64_t delay;
    if (v == NULL || hc_retry_after_parse(v, len, time(NULL), &delay) < 0)
        return true; /* garbage is no Retry-After at all */
    corio_http_client_t *c = k->c;
    bool within = delay <= c->o.retry_after_max_ns;
    hc_polite_block(c, cur_url(k)->host, within ? delay : c->o.retry_after_max_ns);
    if (within) {
        c->st.retry_after++;
        k->told = true;
    }
    return within;
}

/* The head of the final response is in: what becomes of its body. */
static int on_head(struct call *k)
{
    const corio_http_resp_parser_t *p = &k->b->p;
    bool again = retry_status(p->status) && retry_after(k, p->status) && may_retry(k);
    k->passing = follows(k, p) || again || proxy_refused(k, p);
    k->decoding = false;
    if (k->passing || (k->flags & CORIO_HTTP_DECOMPRESS) == 0)
        return 0;
    if (p->content_encoding == CORIO_HTTP_CODING_GZIP ||
        p->content_encoding == CORIO_HTTP_CODING_DEFLATE) {
        k->decoding = true;
        return hc_decoder_start(&k->b->dec, p->content_encoding, k->b->decoded,
                                sizeof k->b->decoded);
    }
    return 0;
}

static int on_body(struct call *k, const char *data, size_t len)
{
    if (k->passing)
        return 0;
    if (!k->decoding)
        return deliver(k, data, len);
    char why[256];
    why[0] = '\0';
    int rc = hc_decoder_feed(&k->b->dec, data, len, deliver, k, why, sizeof why);
    if (rc == CORIO_HTTP_EDECODE)
        fail(k, rc, "%s", why);
    return rc;
}

/* How an attempt ended. */
enum { AT_DONE, AT_STALE, AT_FAIL, AT_MOVE /* its proxy could not be reached: another one */ };

/* Fills b->why for a response cut short; quiet: no byte of it had come (asked before
 * corio_http_resp_parser_eof, after which the parser counts as started). */
static int truncated(struct call *k, bool quiet)
{
    const corio_http_resp_parser_t *p = &k->b->p;
    if (quiet)
        return fail(k, CORIO_HTTP_ETRUNCATED, "the connection closed before the response");
    if (!corio_http_resp_parser_head_done(p))
        return fail(k, CORIO_HTTP_ETRUNCATED,
                    "the connection closed in the middle of the response head");
    if (p->framing == CORIO_HTTP_FRAMING_LENGTH)
        return fail(k, CORIO_HTTP_ETRUNCATED, "the connection closed after %llu of %lld body bytes",
                    (unsigned long long)p->body_bytes, (long long)p->content_length);
    return fail(k, CORIO_HTTP_ETRUNCATED,
                "the connection closed in the middle of the chunked body (%llu bytes)",
                (unsigned long long)p->body_bytes);
}

/* Reads the response on conn. Returns AT_DONE (*keep: the connection may be reused),
 * AT_STALE, or AT_FAIL with *err. */
static int read_response(struct call *k, struct hc_conn *conn, bool reused, bool *keep, int *err)
{
    struct corio_http_client_buf *b = k->b;
    corio_http_resp_parser_t *p = &b->p;
    corio_http_resp_parser_init(p, k->head_request);
    b->raw_len = 0;
    b->fields_parsed = false;
    for (;;) {
        ssize_t n = hc_conn_read(conn, b->rbuf, sizeof b->rbuf);
        if (n > 0)
            k->c->st.bytes_in += (uint64_t)n;
        bool quiet = !corio_http_resp_parser_started(p);
        if (n <= 0 && reused && quiet && replayable(k) &&
            (n == 0 || n == -ECONNRESET || n == -EPIPE))
            return AT_STALE; /* the server closed it while it was idle */
        if (n < 0) {
            *err = fail(k, (int)n, "%s %s", corio_strerror((int)n),
                        quiet ? "waiting for the response" : "while reading the response");
            if (conn->tls_on && (n == CORIO_ETLS || n == CORIO_ETLS_VERIFY || n == -EPIPE))
                fail(k, (int)n, "%s", corio_tls_error(&conn->tls));
            return AT_FAIL;
        }
        if (n == 0) {
            int ev = corio_http_resp_parser_eof(p);
            if (ev != CORIO_HTTP_DONE) {
                *err = ev == CORIO_HTTP_ETRUNCATED ? truncated(k, quiet)
                                                   : fail(k, ev, "%s", corio_strerror(ev));
                return AT_FAIL;
            }
            *keep = false;
            return AT_DONE;
        }
        const char *at = b->rbuf;
        size_t left = (size_t)n;
        for (;;) {
            size_t used, blen;
            const char *body;
            bool in_head = !corio_http_resp_parser_head_done(p);
            int ev = corio_http_resp_parser_feed(p, at, left, &used, &body, &blen);
            if (in_head && used <= sizeof b->raw - b->raw_len) { /* the parser bounds a head */
                memcpy(b->raw + b->raw_len, at, used);
                b->raw_len += used;
            }
            at += used;
            left -= used;
            if (ev == CORIO_HTTP_NEED_MORE)
                break;
            int rc = 0;
            if (ev == CORIO_HTTP_HEAD) {
                rc = on_head(k);
            } else if (ev == CORIO_HTTP_BODY) {
                rc = on_body(k, body, blen);
            } else if (ev == CORIO_HTTP_DONE) {
                for (size_t i = 0; i < left; i++)
                    if (at[i] != '\r' && at[i] != '\n') {
                        *err = fail(k, CORIO_HTTP_EMALFORMED,
                                    "%zu bytes after the end of the response (a Content-Length "
                                    "too small?)",
                                    left);
                        return AT_FAIL;
                    }
                *keep = p->keep_alive && left == 0 && (k->flags & CORIO_HTTP_NO_KEEPALIVE) == 0;
                return AT_DONE;
            } else {
                *err = fail(k, ev, "%s", corio_strerror(ev));
                return AT_FAIL;
            }
            if (rc < 0) {
                if (rc == k->sink_err)
                    fail(k, rc, "the body's sink failed: %s", corio_strerror(rc));
                else if (rc == CORIO_HTTP_EBODY_TOO_BIG)
                    fail(k, rc, "the body is larger than %zu bytes (the client's max_body)",
                         k->c->o.max_body);
                else if (rc != CORIO_HTTP_EDECODE) /* on_body said why */
                    fail(k, rc, "%s", corio_strerror(rc));
                *err = rc;
                return AT_FAIL;
            }
        }
    }
}

/* One attempt at the current URL under the attempt's deadline. Returns AT_DONE (the
 * response is in r), AT_STALE (a pooled connection the server had closed: try again at
 * once), AT_MOVE (its proxy could not be reached: try again at once through another) or
 * AT_FAIL with *err. */
static int attempt(struct call *k, int *err)
{
    corio_http_client_t *c = k->c;
    const corio_http_url_t *u = cur_url(k);
    uint64_t timeout = k->req->timeout_ns != 0 ? k->req->timeout_ns : c->o.timeout_ns;
    bool limited = timeout != UINT64_MAX;
    k->r->body_len = 0;
    k->r->body_bytes = 0;
    k->b->why[0] = '\0';
    k->sink_err = 0;
    bool https = u->scheme == CORIO_HTTP_SCHEME_HTTPS;
    k->px = hc_proxy_pick(c, u, k->avoid);
    struct hc_origin *o = hc_origin_get(c, https, u->host, u->port, k->px);
    if (o == NULL) {
        *err = fail(k, -ENOMEM, "out of memory");
        return AT_FAIL;
    }
    uint64_t length = k->req->body != NULL && k->has_body ? k->req->body_len : 0;
    if (build_head(k, length) < 0) {
        *err = fail(k, -ENOMEM, "out of memory for the request head");
        return AT_FAIL;
    }
    if (limited)
        corio_timeout_begin(timeout);
    bool reused = false, keep = false;
    char why[300];
    why[0] = '\0';
    struct hc_conn *conn = hc_pool_get(c, o, &reused, err, why, sizeof why);
    int at = AT_FAIL;
    if (conn == NULL) {
        fail(k, *err, "%s", why);
        if (hc_proxy_move(c, k->px, https, *err, &k->moves))
            at = AT_MOVE;
    } else {
        c->st.requests++;
        k->r->connect_ns = reused ? 0 : conn->connect_ns;
        int rc = send_request(k, conn);
        if (rc < 0 && reused && replayable(k) && (rc == -EPIPE || rc == -ECONNRESET)) {
            at = AT_STALE;
        } else if (rc < 0) {
            *err = rc;
            if (rc == k->sink_err)
                fail(k, rc, "the body source failed: %s", corio_strerror(rc));
            else if (conn->tls_on && rc != -ETIMEDOUT && rc != -ECANCELED)
                fail(k, rc, "sending the request: %s", corio_tls_error(&conn->tls));
            else
                fail(k, rc, "%s while sending the request", corio_strerror(rc));
        } else {
            at = read_response(k, conn, reused, &keep, err);
        }
        if (at == AT_DONE && proxy_refused(k, &k->b->p)) {
            *err = fail(k, CORIO_HTTP_EPROXY_AUTH, "%s", proxy_refusal(k, why, sizeof why));
            at = AT_FAIL;
        }
        if (at == AT_DONE && k->decoding && !k->passing) {
            char dwhy[256];
            dwhy[0] = '\0';
            int drc = hc_decoder_finish(&k->b->dec, dwhy, sizeof dwhy);
            if (drc < 0) {
                *err = fail(k, drc, "%s", dwhy);
                at = AT_FAIL;
            }
        }
        if (at == AT_DONE && keep)
            hc_pool_put(c, conn);
        else
            hc_conn_close(c, conn);
    }
    if (limited)
        corio_timeout_end();
    if (k->px != NULL && at != AT_STALE)
        hc_proxy_count(k->px, at == AT_DONE ? 0 : *err);
    k->avoid = at == AT_MOVE ? k->px : NULL;
    if (at == AT_FAIL && *err == -ETIMEDOUT && why[0] == '\0' && k->sink_err == 0)
        fail(k, -ETIMEDOUT, "no complete response within %.3g s", (double)timeout / 1e9);
    k->r->reused = reused;
    return at;
}

/* ---- redirects and retries --------------------------------------------------------------- */

/* Parses b->url[i] into b->u[i] and its authority. Returns 0 or an error. */
static int parse_url(struct corio_http_client_buf *b, unsigned i)
{
    int rc = corio_http_url_parse(b->url[i], &b->u[i]);
    if (rc < 0)
        return rc;
    b->auth_len[i] = corio_http_url_authority(&b->u[i], b->auth[i], sizeof b->auth[i]);
    return b->auth_len[i] < 0 ? b->auth_len[i] : 0;
}

/* Follows the response's Location into the other URL buffer. Returns 0 or an error. */
static int redirect(struct call *k)
{
    struct corio_http_client_buf *b = k->b;
    const corio_http_resp_parser_t *p = &b->p;
    int status = p->status;
    if (k->r->redirects == k->c->o.max_redirects)
        return fail(k, CORIO_HTTP_EREDIRECTS, "more than %u redirects", k->c->o.max_redirects);
    unsigned next = k->cur ^ 1;
    if (p->location_too_long ||
        corio_http_url_resolve(&b->u[k->cur], p->location, b->url[next], sizeof b->url[next]) < 0)
        return fail(k, CORIO_HTTP_EURL, "redirect %d with an unusable Location", status);
    if (next == 0)
        b->first_parsed = false;
    int rc = parse_url(b, next);
    if (rc < 0)
        return fail(k, rc, "redirect %d to %.200s: %s", status, b->url[next], corio_strerror(rc));
    if (redirect_to_get(k, status)) {
        k->method = "GET";
        k->has_body = false;
    }
    k->cur = next;
    k->r->redirects++;
    k->tries = 0;
    return 0;
}

/* Sleeps before retry number k->tries (0-based): 100 ms, 200 ms, ... up to 5 s, +-25%. */
static int backoff(struct call *k)
{
    corio_http_client_t *c = k->c;
    uint64_t d = BACKOFF_BASE_NS << (k->tries < 16 ? k->tries : 16);
    if (d > BACKOFF_MAX_NS)
        d = BACKOFF_MAX_NS;
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    d = d - d / 4 + c->rng % (d / 2 + 1);
    return corio_sleep(d);
}

/* Errors after which the same request may succeed on another try. */
static bool transient(int err)
{
    switch (err) {
    case -ECONNREFUSED:
    case -ECONNRESET:
    case -ECONNABORTED:
    case -EPIPE:
    case -ETIMEDOUT:
    case -ENETUNREACH:
    case -EHOSTUNREACH:
    case -ENETDOWN:
    case -EHOSTDOWN:
    case CORIO_ERESOLVE:
    case CORIO_HTTP_ETRUNCATED:
        return true;
    default:
        return false;
    }
}

/* Waits for the current URL's host's turn (polite.c). Returns 0 or an error. */
static int pace(struct call *k)
{
    char why[300];
    why[0] = '\0';
    int rc = hc_polite_wait(k->c, cur_url(k)->host, why, sizeof why);
    k->paced = rc == 0;
    return rc < 0 ? fail(k, rc, "%s", why) : 0;
}

static int run(struct call *k)
{
    corio_http_client_resp_t *r = k->r;
    for (;;) {
        int err = 0;
        /* Before the attempt takes a connection: a task waiting for its host's turn holds
         * none, so the pool's connections stay free for requests to other hosts, and a
         * pooled one does not age towards idle_timeout_ns in a waiter's hands. */
        if (!k->paced && (err = pace(k)) < 0)
            return err;
        int at = attempt(k, &err);
        if (at == AT_STALE || at == AT_MOVE)
            continue;     /* not the request's fault: a fresh connection (or proxy), no retry */
        k->paced = false; /* the host saw an attempt, or it failed: the next one waits */
        if (at == AT_DONE) {
            const corio_http_resp_parser_t *p = &k->b->p;
            r->status = p->status;
            r->version_minor = p->minor;
            if (k->passing && retry_status(p->status)) {
                /* After a Retry-After the host is blocked: the next pace waits for it. */
                err = k->told ? 0 : backoff(k);
                if (err < 0)
                    return fail(k, err, "%s before a retry", corio_strerror(err));
                k->tries++;
                r->retries++;
                continue;
            }
            if (k->passing) {
                int rc = redirect(k);
                if (rc < 0)
                    return rc;
                continue;
            }
            r->url = k->b->url[k->cur];
            if (k->req->sink == NULL) {
                if (k->b->body == NULL && deliver(k, "", 0) < 0) /* a buffer for the NUL */
                    return fail(k, -ENOMEM, "out of memory");
                k->b->body[r->body_len] = '\0';
                r->body = k->b->body;
            }
            k->b->why[0] = '\0';
            return 0;
        }
        if (transient(err) && may_retry(k) && k->sink_err == 0) {
            int rc = backoff(k);
            if (rc < 0)
                return fail(k, rc, "%s before a retry (after: %s)", corio_strerror(rc),
                            corio_strerror(err));
            k->tries++;
            r->retries++;
            continue;
        }
        return err;
    }
}

int corio_http_client_do(corio_http_client_t *c, const corio_http_client_req_t *req,
                         corio_http_client_resp_t *r)
{
    if (c == NULL || req == NULL || r == NULL)
        return -EINVAL;
    struct corio_http_client_buf *b = r->priv;
    if (b == NULL) {
        if ((b = calloc(1, sizeof *b)) == NULL)
            return -ENOMEM;
        r->priv = b;
    }
    memset(r, 0, offsetof(corio_http_client_resp_t, priv));
    b->why[0] = '\0';
    int rc = check_req(req, b->why, sizeof b->why);
    if (rc < 0)
        return rc;
    if (corio_current() == NULL) {
        hc_say(b->why, sizeof b->why, "corio_http_client_do works only inside a task");
        return -EPERM;
    }
    struct call k = {.c = c, .req = req, .r = r, .b = b, .flags = c->o.flags | req->flags};
    bool body = req->body != NULL || req->body_source != NULL;
    k.method = req->method != NULL ? req->method : (body ? "POST" : "GET");
    k.has_body = body;
    k.head_request = method_is(k.method, "HEAD");
    /* A load generator asks for the same URL again and again: it is parsed once. */
    if (!b->first_parsed || strcmp(b->url[0], req->url) != 0) {
        b->first_parsed = false;
        size_t ulen = strlen(req->url);
        if (ulen >= sizeof b->url[0])
            return fail(&k, CORIO_HTTP_EURL, "the URL is longer than %d bytes", CORIO_HTTP_MAX_URL);
        memcpy(b->url[0], req->url, ulen + 1);
        if ((rc = parse_url(b, 0)) < 0)
            return fail(&k, rc, "%s", corio_strerror(rc));
        b->first_parsed = true;
    }
    b->first = b->u[0];
    if (b->first.user != NULL) { /* its views into url[0] must outlive the redirects */
        size_t n = b->first.user_len;
        memcpy(b->userinfo, b->first.user, n);
        b->first.user = b->userinfo;
        if (b->first.password != NULL) {
            memcpy(b->userinfo + n, b->first.password, b->first.password_len);
            b->first.password = b->userinfo + n;
        }
    }
    c->active++;
    rc = run(&k);
    c->active--;
    return rc;
}
