/* routes.c: what corio-httpd answers: GET /hello, POST /echo, and static files from the
 * root with Last-Modified, If-Modified-Since and single byte ranges. */
#define _GNU_SOURCE
#include "httpd.h"

#include <corio/corio.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define FILE_CHUNK (64 * 1024) /* file bodies are read and sent this much at a time */
#define MAX_PATH   4096

static int allow(corio_http_response_t *resp, const char *methods)
{
    int err = corio_http_response_header(resp, "Allow", methods);
    return err < 0 ? err : corio_http_response_error(resp, 405);
}

/* POST /echo: the body back, byte for byte. It is read whole before the answer starts:
 * echoing while reading would deadlock a client that sends everything before it reads. */
static int echo(corio_http_request_t *req, corio_http_response_t *resp, const struct site *site)
{
    const corio_http_request_head_t *h = corio_http_request_head(req);
    size_t cap = h->has_content_length ? (size_t)h->content_length : 64 * 1024, len = 0;
    char *buf = malloc(cap > 0 ? cap : 1);
    if (buf == NULL)
        return corio_http_response_error(resp, 503);
    for (;;) {
        if (len == cap) {
            size_t ncap = cap * 2 > site->max_body ? (size_t)site->max_body + 1 : cap * 2;
            char *nbuf = ncap > cap ? realloc(buf, ncap) : NULL;
            if (nbuf == NULL) {
                free(buf);
                return corio_http_response_error(resp, 503);
            }
            buf = nbuf;
            cap = ncap;
        }
        ssize_t n = corio_http_request_read(req, buf + len, cap - len);
        if (n == 0)
            break;
        if (n < 0) {
            free(buf);
            int status = corio_http_error_status((int)n);
            return status != 0 ? corio_http_response_error(resp, status) : (int)n;
        }
        len += (size_t)n;
    }
    int err = corio_http_response_send(resp, 200, "application/octet-stream", buf, len);
    free(buf);
    return err;
}

/* ---- static files ---------------------------------------------------------------------- */

static void http_date(int64_t t, char *out, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* An HTTP date (RFC 9110 section 5.6.7: IMF-fixdate, or the obsolete RFC 850 and asctime
 * forms), as seconds since the epoch; -1 when it is none of them. */
static int64_t parse_http_date(const char *v, size_t len)
{
    static const char *const forms[] = {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
                                        "%a %b %e %H:%M:%S %Y"};
    char s[64];
    if (len >= sizeof s)
        return -1;
    memcpy(s, v, len);
    s[len] = '\0';
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        struct tm tm = {0};
        const char *end = strptime(s, forms[i], &tm);
        if (end != NULL && *end == '\0')
            return (int64_t)timegm(&tm);
    }
    return -1;
}

static bool parse_u64(const char **p, const char *end, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (s == end || *s < '0' || *s > '9')
        return false;
    for (; s < end && *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *p = s;
    *out = v;
    return true;
}

enum range_kind { RANGE_NONE, RANGE_ONE, RANGE_MANY, RANGE_BAD };

/* A Range field (RFC 9110 section 14.1.2), read as nginx 1.22 reads it
 * (ngx_http_range_parse), so that the two answer alike: RANGE_ONE with [*first, *last]
 * when one range can be served; RANGE_MANY when several can (this server answers them
 * with the whole file, as a server may); RANGE_BAD for 416 (malformed, or nothing in
 * the file); RANGE_NONE for 200 (no Range, not in bytes, a range from 0 that holds
 * nothing, or ranges adding up to more than the file). */
static enum range_kind parse_range(const char *v, size_t len, uint64_t size, uint64_t *first,
                                   uint64_t *last)
{
    if (v == NULL || len < 6 || strncasecmp(v, "bytes=", 6) != 0)
        return RANGE_NONE;
    const char *p = v + 6, *end = v + len;
    unsigned found = 0;
    uint64_t total = 0;
    for (;;) {
        uint64_t a = 0, b = 0;
        bool suffix = false, open_end = false;
        while (p < end && *p == ' ')
            p++;
        if (p < end && *p == '-') {
            suffix = true;
            p++;
        } else {
            if (!parse_u64(&p, end, &a))
                return RANGE_BAD;
            while (p < end && *p == ' ')
                p++;
            if (p == end || *p++ != '-')
                return RANGE_BAD;
            while (p < end && *p == ' ')
                p++;
            open_end = p == end || *p == ',';
        }
        if (!open_end) {
            if (!parse_u64(&p, end, &b))
                return RANGE_BAD;
            while (p < end && *p == ' ')
                p++;
            if (p != end && *p != ',')
                return RANGE_BAD;
        }
        /* [a, b) from here on: b is one past the last byte. */
        if (open_end) {
            b = size;
        } else {
            if (suffix) {
                a = b < size ? size - b : 0;
                b = size; /* nginx: end = size - 1, then one past it */
            } else {
                b = b >= size ? size : b + 1;
            }
        }
        if (a < b) {
            if (found++ == 0) {
                *first = a;
                *last = b - 1;
            }
            total += b - a;
        } else if (a == 0) {
            return RANGE_NONE;
        }
        if (p == end)
            break;
        p++; /* the ',' */
    }
    if (found == 0)
        return RANGE_BAD;
    if (total > size)
        return RANGE_NONE;
    return found == 1 ? RANGE_ONE : RANGE_MANY;
}

/* Sends bytes [off, off + len) of fd as the body. Any failure ends the connection (the
 * head promised a length). */
static int send_file_body(corio_http_response_t *resp, int fd, uint64_t off, uint64_t len)
{
    if (len == 0)
        return 0;
    char *chunk = malloc(FILE_CHUNK);
    if (chunk == NULL)
        return -ENOMEM;
    int err = 0;
    while (len > 0 && err == 0) {
        size_t want = len < FILE_CHUNK ? (size_t)len : FILE_CHUNK;
        ssize_t n = corio_read(fd, chunk, want, (int64_t)off);
        if (n <= 0) {
            err = n < 0 ? (int)n : -EIO; /* the file shrank */
            break;
        }
        ssize_t w = corio_http_response_write(resp, chunk, (size_t)n);
        err = w < 0 ? (int)w : 0;
        off += (uint64_t)n;
        len -= (uint64_t)n;
    }
    free(chunk);
    return err;
}

static int serve_file(corio_http_request_t *req, corio_http_response_t *resp,
                      const struct site *site, const char *rel, size_t rlen)
{
    char path[MAX_PATH + DOCROOT_INDEX_EXTRA];
    if (rlen >= MAX_PATH)
        return corio_http_response_error(resp, 414);
    memcpy(path, rel, rlen + 1);
    struct docfile f;
    int fd = docroot_resolve(&site->root, path, &rlen, &f);
    if (fd == -301) {
        char loc[MAX_PATH * 3 + 8];
        int err = docroot_location(path, loc, sizeof loc) < 0
                      ? -ENAMETOOLONG
                      : corio_http_response_header(resp, "Location", loc);
        if (err < 0)
            return corio_http_response_error(resp, 414);
        return corio_http_response_error(resp, 301);
    }
    if (fd < 0) {
        if (fd == -503)
            (void)corio_http_response_header(resp, "Retry-After", "1");
        return corio_http_response_error(resp, -fd);
    }
    char date[40];
    http_date(f.mtime, date, sizeof date);
    size_t vlen;
    const char *ims = corio_http_request_header(req, "If-Modified-Since", &vlen);
    int64_t since = ims != NULL ? parse_http_date(ims, vlen) : -1;
    uint64_t first = 0, last = 0;
    const char *rv = corio_http_request_header(req, "Range", &vlen);
    enum range_kind range = parse_range(rv, rv != NULL ? vlen : 0, f.size, &first, &last);
    char cr[96];
    int err = 0;
    if (range != RANGE_BAD) /* nginx's 416 has neither */
        if ((err = corio_http_response_header(resp, "Last-Modified", date)) == 0)
            err = corio_http_response_header(resp, "Accept-Ranges", "bytes");
    if (err < 0) {
        /* the fields do not fit: cannot happen with these two */
    } else if (since >= 0 && f.mtime <= since) {
        err = corio_http_response_send(resp, 304, NULL, NULL, 0);
    } else if (range == RANGE_BAD) {
        snprintf(cr, sizeof cr, "bytes */%" PRIu64, f.size);
        err = corio_http_response_header(resp, "Content-Range", cr);
        if (err == 0)
            err = corio_http_response_error(resp, 416);
    } else {
        int status = range == RANGE_ONE ? 206 : 200;
        if (status == 200)
            first = 0;
        uint64_t n = status == 206 ? last - first + 1 : f.size;
        if (status == 206) {
            snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first, last, f.size);
            err = corio_http_response_header(resp, "Content-Range", cr);
        }
        if (err == 0)
            err = corio_http_response_begin(resp, status, docroot_content_type(path, rlen),
                                            (int64_t)n);
        if (err == 0 && corio_http_request_head(req)->method != CORIO_HTTP_METHOD_HEAD)
            err = send_file_body(resp, fd, first, n);
        if (err == 0)
            err = corio_http_response_end(resp);
    }
    close(fd);
    return err;
}

int httpd_handle(corio_http_request_t *req, corio_http_response_t *resp, void *arg)
{
    const struct site *site = arg;
    const corio_http_request_head_t *h = corio_http_request_head(req);
    size_t plen = 0;
    const char *path = corio_http_request_path(req, &plen);
    bool get = h->method == CORIO_HTTP_METHOD_GET || h->method == CORIO_HTTP_METHOD_HEAD;
    if (path != NULL && plen == 4 && memcmp(path, "echo", 4) == 0)
        return h->method == CORIO_HTTP_METHOD_POST ? echo(req, resp, site) : allow(resp, "POST");
    if (!get || path == NULL)
        return allow(resp, "GET, HEAD");
    if (plen == 5 && memcmp(path, "hello", 5) == 0)
        return corio_http_response_send(resp, 200, "text/plain", "hello\n", 6);
    if (site->root.fd < 0)
        return corio_http_response_error(resp, 404);
    return serve_file(req, resp, site, path, plen);
}
