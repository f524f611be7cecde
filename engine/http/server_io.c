/* server_io.c: the server core's requests and responses as handlers see them: reading a
 * request body (Content-Length or chunked, with 100 Continue), writing response heads
 * and bodies (whole, with a length, chunked or close-delimited) through the connection's
 * write buffer, plain or over TLS. */
#include "server_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* ---- sending -------------------------------------------------------------------------- */

/* Sends all of buf. Plain: the first try is a non-blocking send(2) with no deadline, so a
 * response that fits the socket buffer (the usual case) leaves at once, without the task
 * parking until the loop's next submit. What the socket cannot take at once, and every
 * TLS record, goes through corio under the idle timeout, so a client that stops reading
 * cannot hold the connection forever. Returns 0 or a negative code, remembered. */
static int send_all(struct srv_conn *c, const void *buf, size_t len)
{
    if (c->werr != 0)
        return c->werr;
    size_t done = 0;
    if (!c->tls_on) {
        ssize_t n = send(c->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n == (ssize_t)len)
            return 0;
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return c->werr = -errno;
        done = n > 0 ? (size_t)n : 0;
    }
    int err = 0;
    corio_timeout_begin(c->site->srv->cfg.idle_timeout_ns);
    if (c->tls_on) {
        ssize_t n = corio_tls_write(&c->tls, buf, len);
        err = n < 0 ? (int)n : 0;
        done = len;
    }
    while (err == 0 && done < len) {
        ssize_t n = corio_send(c->fd, (const char *)buf + done, len - done, 0);
        if (n <= 0)
            err = n < 0 ? (int)n : -EIO;
        else
            done += (size_t)n;
    }
    corio_timeout_end();
    return c->werr = err;
}

int srv_flush(struct srv_conn *c)
{
    if (c->wlen == 0)
        return c->werr;
    int err = send_all(c, c->wbuf, c->wlen);
    c->wlen = 0;
    return err;
}

/* Responses collect in wbuf until the next wait for input (so pipelined responses leave
 * together) or until it is full; what does not fit goes straight out after it. */
int srv_out(struct srv_conn *c, const void *buf, size_t len)
{
    if (c->werr != 0)
        return c->werr;
    if (c->wlen + len > SRV_WRITE_BUF) {
        int err = srv_flush(c);
        if (err < 0)
            return err;
        if (len > SRV_WRITE_BUF)
            return send_all(c, buf, len);
    }
    memcpy(c->wbuf + c->wlen, buf, len);
    c->wlen += len;
    return 0;
}

/* ---- response heads --------------------------------------------------------------------- */

struct head {
    size_t len;
    char buf[512]; /* every piece is bounded: the total stays below this */
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

static void put_date(struct head *h, struct srv_site *site)
{
    time_t now = time(NULL);
    if (now != site->date_sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        site->date_len =
            strftime(site->date, sizeof site->date, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
        site->date_sec = now;
    }
    put(h, site->date, site->date_len);
}

/* Field text: no CR, LF or NUL (a NUL cannot be in a C string; the others would let a
 * value start a field or a body of its own). */
static bool text_ok(const char *s)
{
    return s[strcspn(s, "\r\n")] == '\0';
}

static bool token_ok(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (*s <= ' ' || *s >= 127 || strchr("\"(),/:;<=>?@[\\]{}", *s) != NULL)
            return false;
    return true;
}

static const char *const server_fields[] = {"content-length", "transfer-encoding", "connection",
                                            "date", "server"};

int corio_http_response_header(corio_http_response_t *resp, const char *name, const char *value)
{
    if (resp == NULL || name == NULL || value == NULL || !token_ok(name) || !text_ok(value))
        return -EINVAL;
    for (size_t i = 0; i < sizeof server_fields / sizeof server_fields[0]; i++)
        if (strcasecmp(name, server_fields[i]) == 0)
            return -EINVAL;
    if (resp->state != RESP_NONE)
        return -EALREADY;
    size_t nlen = strlen(name), vlen = strlen(value);
    if (resp->extra_len + nlen + vlen + 4 > sizeof resp->extra)
        return -ENOSPC;
    char *p = resp->extra + resp->extra_len;
    memcpy(p, name, nlen);
    memcpy(p + nlen, ": ", 2);
    memcpy(p + nlen + 2, value, vlen);
    memcpy(p + nlen + 2 + vlen, "\r\n", 2);
    resp->extra_len += nlen + vlen + 4;
    return 0;
}

void corio_http_response_close(corio_http_response_t *resp)
{
    if (resp != NULL)
        resp->close = true;
}

void srv_response_init(struct corio_http_response *resp, struct srv_conn *c,
                       struct corio_http_request *req, bool close)
{
    resp->c = c;
    resp->req = req;
    resp->state = RESP_NONE;
    resp->close = close;
    resp->head_only = req->head.method == CORIO_HTTP_METHOD_HEAD;
    resp->chunked = resp->no_body = false;
    resp->left = -1;
    resp->extra_len = 0;
}

int corio_http_response_begin(corio_http_response_t *resp, int status, const char *content_type,
                              int64_t length)
{
    if (resp == NULL || status < 200 || status > 599 || length < -1 ||
        (content_type != NULL && !text_ok(content_type)))
        return -EINVAL;
    if (resp->state != RESP_NONE)
        return -EALREADY;
    struct srv_conn *c = resp->c;
    int minor = resp->req->head.version_minor;
    resp->no_body = status == 204 || status == 304;
    if (resp->no_body)
        length = 0;
    else if (length < 0 && minor == 0)
        resp->close = true; /* an HTTP/1.0 client reads to the end */
    if (resp->req->continue_due)
        resp->close = true; /* the client holds its body back for a 100 that will not come */
    if (resp->req->body_err != 0 || c->site->draining)
        resp->close = true; /* the body's end is lost, or a stop began during the handler */
    resp->chunked = length < 0 && minor == 1;
    resp->left = length;
    resp->state = RESP_BEGUN;

    struct head h;
    h.len = 0;
    PUT_LIT(&h, "HTTP/1.1 ");
    put_u64(&h, (uint64_t)status);
    h.buf[h.len++] = ' ';
    const char *reason = corio_http_reason(status);
    put(&h, reason, strlen(reason));
    PUT_LIT(&h, "\r\n");
    const corio_http_server_t *srv = c->site->srv;
    put(&h, srv->server_line, srv->server_line_len);
    put_date(&h, c->site);
    if (content_type != NULL) {
        size_t n = strlen(content_type);
        if (n > 200)
            return -EINVAL;
        PUT_LIT(&h, "Content-Type: ");
        put(&h, content_type, n);
        PUT_LIT(&h, "\r\n");
    }
    if (resp->chunked && !resp->head_only) {
        PUT_LIT(&h, "Transfer-Encoding: chunked\r\n");
    } else if (length >= 0 && !resp->no_body) {
        PUT_LIT(&h, "Content-Length: ");
        put_u64(&h, (uint64_t)length);
        PUT_LIT(&h, "\r\n");
    }
    if (resp->close)
        PUT_LIT(&h, "Connection: close\r\n");
    else if (minor == 0)
        PUT_LIT(&h, "Connection: keep-alive\r\n");
    int err = 0;
    if (resp->extra_len > 0) {
        if (h.len + resp->extra_len + 2 <= sizeof h.buf) {
            put(&h, resp->extra, resp->extra_len);
        } else {
            err = srv_out(c, h.buf, h.len);
            h.len = 0;
            if (err == 0)
                err = srv_out(c, resp->extra, resp->extra_len);
        }
    }
    PUT_LIT(&h, "\r\n");
    return err < 0 ? err : srv_out(c, h.buf, h.len);
}

ssize_t corio_http_response_write(corio_http_response_t *resp, const void *buf, size_t len)
{
    if (resp == NULL || (buf == NULL && len > 0))
        return -EINVAL;
    if (resp->c->werr != 0)
        return resp->c->werr; /* the connection is over: say why, whatever the call */
    if (resp->state == RESP_NONE)
        return -EINVAL;
    if (resp->state == RESP_ENDED)
        return -EALREADY;
    if (resp->left >= 0 && (uint64_t)resp->left < len) {
        resp->close = true; /* the framing is broken: the connection must end */
        return -EINVAL;
    }
    if (len == 0)
        return 0;
    if (resp->left >= 0)
        resp->left -= (int64_t)len;
    if (resp->head_only || resp->no_body)
        return (ssize_t)len;
    int err;
    if (resp->chunked) {
        char line[CORIO_HTTP_CHUNK_SIZE_LINE_MAX];
        size_t n = corio_http_chunk_size_line(len, line);
        if ((err = srv_out(resp->c, line, n)) < 0 || (err = srv_out(resp->c, buf, len)) < 0 ||
            (err = srv_out(resp->c, CORIO_HTTP_CHUNK_END, 2)) < 0)
            return err;
    } else if ((err = srv_out(resp->c, buf, len)) < 0) {
        return err;
    }
    return (ssize_t)len;
}

int corio_http_response_end(corio_http_response_t *resp)
{
    if (resp == NULL)
        return -EINVAL;
    if (resp->c->werr != 0)
        return resp->c->werr;
    if (resp->state == RESP_NONE)
        return -EINVAL;
    if (resp->state == RESP_ENDED)
        return -EALREADY;
    resp->state = RESP_ENDED;
    if (resp->left > 0 && !resp->head_only) {
        resp->close = true;
        return CORIO_HTTP_ETRUNCATED;
    }
    if (resp->chunked && !resp->head_only)
        return srv_out(resp->c, CORIO_HTTP_LAST_CHUNK, sizeof CORIO_HTTP_LAST_CHUNK - 1);
    return resp->c->werr;
}

int corio_http_response_send(corio_http_response_t *resp, int status, const char *content_type,
                             const void *body, size_t len)
{
    if (len > INT64_MAX || (body == NULL && len > 0))
        return -EINVAL;
    int err = corio_http_response_begin(resp, status, content_type, (int64_t)len);
    if (err == 0 && len > 0 && !resp->no_body) {
        ssize_t n = corio_http_response_write(resp, body, len);
        err = n < 0 ? (int)n : 0;
    }
    if (err == 0)
        err = corio_http_response_end(resp);
    return err;
}

int corio_http_response_error(corio_http_response_t *resp, int status)
{
    if (resp == NULL)
        return -EINVAL;
    switch (status) {
    case 400:
    case 413:
    case 414:
    case 431:
    case 501:
    case 505:
        resp->close = true;
        break;
    default:
        break;
    }
    char body[64];
    int n = snprintf(body, sizeof body, "%d %s\n", status, corio_http_reason(status));
    return corio_http_response_send(resp, status, "text/plain; charset=utf-8", body, (size_t)n);
}

int srv_response_finish(struct corio_http_response *resp)
{
    if (resp->c->werr != 0)
        return resp->c->werr;
    int err = 0;
    if (resp->state == RESP_NONE) {
        resp->extra_len = 0;
        err = corio_http_response_error(resp, 500);
    } else if (resp->state == RESP_BEGUN) {
        err = corio_http_response_end(resp);
    }
    return err;
}

/* ---- requests ----------------------------------------------------------------------------- */

const corio_http_request_head_t *corio_http_request_head(const corio_http_request_t *req)
{
    return req != NULL ? &req->head : NULL;
}

const char *corio_http_request_path(const corio_http_request_t *req, size_t *len)
{
    if (req == NULL || req->path == NULL)
        return NULL;
    if (len != NULL)
        *len = req->path_len;
    return req->path;
}

const char *corio_http_request_header(const corio_http_request_t *req, const char *name,
                                      size_t *len)
{
    if (req == NULL || name == NULL || len == NULL)
        return NULL;
    size_t nlen = strlen(name);
    const corio_http_request_head_t *h = &req->head;
    for (size_t i = 0; i < h->num_headers; i++)
        if (h->headers[i].name_len == nlen && strncasecmp(h->headers[i].name, name, nlen) == 0) {
            *len = h->headers[i].value_len;
            return h->headers[i].value;
        }
    return NULL;
}

bool corio_http_request_tls(const corio_http_request_t *req)
{
    return req != NULL && req->c->tls_on;
}

/* Makes sure some body bytes are buffered. Returns the count, or an error (the stream's
 * end before the body's is CORIO_HTTP_ETRUNCATED). */
static ssize_t body_bytes(struct corio_http_request *req, const void **view)
{
    corio_stream_t *s = &req->c->s;
    size_t have = corio_stream_buffered(s);
    ssize_t n = corio_stream_peek(s, have > 0 ? have : 1, view);
    if (n == 0 || (n > 0 && (size_t)n < (have > 0 ? have : 1)))
        return CORIO_HTTP_ETRUNCATED;
    return n;
}

static ssize_t read_body(struct corio_http_request *req, char *buf, size_t len)
{
    corio_stream_t *s = &req->c->s;
    for (;;) {
        const void *view;
        ssize_t n = body_bytes(req, &view);
        if (n < 0)
            return n;
        if (req->body == BODY_LENGTH || req->pending > 0) {
            uint64_t *left = req->body == BODY_LENGTH ? &req->left : &req->pending;
            size_t k = (size_t)n < len ? (size_t)n : len;
            if (k > *left)
                k = (size_t)*left;
            memcpy(buf, view, k);
            corio_stream_consume(s, k);
            *left -= k;
            if (req->body == BODY_LENGTH && req->left == 0)
                req->body_done = true;
            return (ssize_t)k;
        }
        size_t used;
        const char *data;
        size_t dlen;
        int ev = corio_http_chunked_decode(&req->chunked, view, (size_t)n, &used, &data, &dlen);
        if (ev < 0)
            return ev;
        if (ev == CORIO_HTTP_DONE) {
            corio_stream_consume(s, used);
            req->body_done = true;
            return 0;
        }
        if (ev == CORIO_HTTP_BODY) {
            /* Chunk data the caller has no room for stays at the front of the stream's
             * buffer, already decoded: `pending` says how much. */
            size_t k = dlen < len ? dlen : len;
            if (req->total + dlen > req->c->site->srv->cfg.max_body)
                return CORIO_HTTP_EBODY_TOO_BIG;
            memcpy(buf, data, k);
            req->total += dlen;
            req->pending = dlen - k;
            corio_stream_consume(s, (size_t)(data - (const char *)view) + k);
            return (ssize_t)k;
        }
        corio_stream_consume(s, used); /* NEED_MORE: a size line or trailer in pieces */
    }
}

ssize_t corio_http_request_read(corio_http_request_t *req, void *buf, size_t len)
{
    if (req == NULL || (buf == NULL && len > 0))
        return -EINVAL;
    if (req->body_err != 0)
        return req->body_err;
    if (req->body == BODY_NONE || req->body_done || len == 0)
        return 0;
    struct srv_conn *c = req->c;
    ssize_t n;
    if (req->continue_due) {
        req->continue_due = false;
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        int err = srv_out(c, cont, sizeof cont - 1);
        if (err == 0)
            err = srv_flush(c);
        if (err < 0)
            return req->body_err = err;
    }
    corio_timeout_begin(c->site->srv->cfg.idle_timeout_ns);
    n = read_body(req, buf, len);
    corio_timeout_end();
    if (n < 0)
        req->body_err = (int)n;
    return n;
}

int srv_request_drain(struct corio_http_request *req)
{
    if (req->body_err != 0)
        return req->body_err;
    if (req->body == BODY_NONE || req->body_done)
        return 0;
    if (req->continue_due)
        return -ECONNABORTED; /* the client waits for a 100 that will not come */
    char scratch[4096];
    ssize_t n;
    while ((n = corio_http_request_read(req, scratch, sizeof scratch)) > 0)
        ;
    return (int)n;
}
