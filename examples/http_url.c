/* http_url.c: http:// URL parsing, Location resolution and safe file names (http_url.h). */
#include "http_url.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool has_prefix_ci(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

static bool bad_char(unsigned char c)
{
    return c <= ' ' || c == 0x7f;
}

/* Host characters of a reg-name or IPv4 address (RFC 3986 3.2.2), less the sub-delims a
 * host name never has in practice. */
static bool host_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

int http_url_parse(const char *s, http_url_t *u)
{
    size_t n = strlen(s);
    if (n > HTTP_URL_MAX)
        return HTTP_URL_E_LONG;
    for (size_t i = 0; i < n; i++)
        if (bad_char((unsigned char)s[i]))
            return HTTP_URL_E_CHARS;
    if (has_prefix_ci(s, "https://"))
        return HTTP_URL_E_HTTPS;
    if (!has_prefix_ci(s, "http://"))
        return HTTP_URL_E_SCHEME;
    const char *p = s + 7;
    size_t alen = strcspn(p, "/?#"); /* the authority */
    const char *at = memchr(p, '@', alen);
    if (at != NULL)
        return HTTP_URL_E_USER;
    const char *host = p, *port = NULL;
    size_t hlen;
    u->ipv6 = false;
    if (alen > 0 && p[0] == '[') {
        const char *close = memchr(p, ']', alen);
        if (close == NULL)
            return HTTP_URL_E_HOST;
        host = p + 1;
        hlen = (size_t)(close - host);
        for (size_t i = 0; i < hlen; i++)
            if (!(host[i] == ':' || host[i] == '.' || (host[i] >= '0' && host[i] <= '9') ||
                  (host[i] >= 'a' && host[i] <= 'f') || (host[i] >= 'A' && host[i] <= 'F')))
                return HTTP_URL_E_HOST;
        if (close + 1 < p + alen) {
            if (close[1] != ':')
                return HTTP_URL_E_HOST;
            port = close + 2;
        }
        u->ipv6 = true;
    } else {
        const char *colon = memchr(p, ':', alen);
        hlen = colon != NULL ? (size_t)(colon - p) : alen;
        if (colon != NULL)
            port = colon + 1;
        for (size_t i = 0; i < hlen; i++)
            if (!host_char((unsigned char)host[i]))
                return HTTP_URL_E_HOST;
    }
    if (hlen == 0 || hlen > HTTP_URL_HOST_MAX)
        return HTTP_URL_E_HOST;
    memcpy(u->host, host, hlen);
    u->host[hlen] = '\0';
    u->port = 80;
    if (port != NULL) {
        unsigned v = 0;
        size_t plen = (size_t)(p + alen - port);
        if (plen == 0 || plen > 5)
            return HTTP_URL_E_PORT;
        for (size_t i = 0; i < plen; i++) {
            if (port[i] < '0' || port[i] > '9')
                return HTTP_URL_E_PORT;
            v = v * 10 + (unsigned)(port[i] - '0');
        }
        if (v == 0 || v > 65535)
            return HTTP_URL_E_PORT;
        u->port = (uint16_t)v;
    }
    const char *t = p + alen;
    size_t tlen = strcspn(t, "#");
    if (tlen == 0 || t[0] == '?') {
        /* "http://h" and "http://h?q": the path is "/"; a query needs it spelled out, so
         * such a URL is refused rather than rewritten. */
        if (tlen > 0)
            return HTTP_URL_E_PATH;
        t = "/";
        tlen = 1;
    }
    u->target = t;
    u->target_len = tlen;
    return 0;
}

const char *http_url_strerror(int err)
{
    switch (err) {
    case HTTP_URL_E_SCHEME:
        return "not an http:// URL";
    case HTTP_URL_E_HTTPS:
        return "https not supported";
    case HTTP_URL_E_HOST:
        return "bad host in URL";
    case HTTP_URL_E_PORT:
        return "bad port in URL (1..65535)";
    case HTTP_URL_E_USER:
        return "user:password@ in URLs not supported";
    case HTTP_URL_E_CHARS:
        return "space or control character in URL";
    case HTTP_URL_E_LONG:
        return "URL too long";
    case HTTP_URL_E_PATH:
        return "query without a path in URL (write http://host/?query)";
    default:
        return "bad URL";
    }
}

int http_url_authority(const http_url_t *u, char *out, size_t outsz)
{
    int n;
    if (u->port == 80)
        n = snprintf(out, outsz, u->ipv6 ? "[%s]" : "%s", u->host);
    else
        n = snprintf(out, outsz, u->ipv6 ? "[%s]:%u" : "%s:%u", u->host, (unsigned)u->port);
    return n < 0 || (size_t)n >= outsz ? -1 : n;
}

/* A bounded string builder: ok turns false once something did not fit. */
struct sbuf {
    char *p;
    size_t len, cap;
    bool ok;
};

static void put(struct sbuf *b, const char *s, size_t n)
{
    if (!b->ok || b->len + n >= b->cap) {
        b->ok = false;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* RFC 3986 5.2.4: removes "." and ".." segments from the absolute path path[0..n) in
 * place and returns its new length (never more than n; nothing is written at or past the
 * new end). A ".." above the root stays at the root. */
static size_t remove_dot_segments(char *path, size_t n)
{
    size_t in = 0, out = 0; /* path[in] is the '/' starting a segment; out <= in */
    while (in < n) {
        size_t seg = in + 1, end = seg;
        while (end < n && path[end] != '/')
            end++;
        size_t slen = end - seg;
        bool last = end == n;
        if (slen == 2 && path[seg] == '.' && path[seg + 1] == '.') {
            if (out > 0)
                do
                    out--;
                while (out > 0 && path[out] != '/');
            if (last)
                path[out++] = '/';
        } else if (slen == 1 && path[seg] == '.') {
            if (last)
                path[out++] = '/';
        } else {
            memmove(path + out, path + in, end - in);
            out += end - in;
        }
        in = end;
    }
    if (out == 0)
        path[out++] = '/';
    return out;
}

int http_url_resolve(const http_url_t *base, const char *loc, char *out, size_t outsz)
{
    size_t llen = strcspn(loc, "#");
    if (llen == 0 || outsz == 0)
        return -1;
    struct sbuf b = {out, 0, outsz, true};
    out[0] = '\0';
    size_t scheme =
        strspn(loc, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");
    if (scheme > 0 && scheme < llen && loc[scheme] == ':' && !(loc[0] >= '0' && loc[0] <= '9')) {
        put(&b, loc, llen); /* absolute: any scheme; parsing says whether it is http */
        return b.ok ? (int)b.len : -1;
    }
    if (llen >= 2 && loc[0] == '/' && loc[1] == '/') {
        put(&b, "http:", 5);
        put(&b, loc, llen);
        return b.ok ? (int)b.len : -1;
    }
    char auth[HTTP_URL_HOST_MAX + 16];
    if (http_url_authority(base, auth, sizeof auth) < 0)
        return -1;
    put(&b, "http://", 7);
    put(&b, auth, strlen(auth));
    size_t path_at = b.len;
    size_t bpath = strcspn(base->target, "?");
    if (bpath > base->target_len)
        bpath = base->target_len;
    if (loc[0] == '/') {
        put(&b, loc, llen);
    } else if (loc[0] == '?') {
        put(&b, base->target, bpath);
        put(&b, loc, llen);
    } else {
        size_t dir = bpath;
        while (dir > 0 && base->target[dir - 1] != '/')
            dir--;
        put(&b, base->target, dir);
        put(&b, loc, llen);
    }
    if (!b.ok)
        return -1;
    /* Dot segments are removed from the path, not the query, which then moves up. */
    char *path = out + path_at;
    size_t plen = strcspn(path, "?"), qlen = strlen(path + plen);
    size_t np = remove_dot_segments(path, plen);
    memmove(path + np, path + plen, qlen + 1);
    return (int)(path_at + np + qlen);
}

/* FNV-1a: spreads long names that share a prefix over distinct endings. */
static uint64_t fnv1a(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3u;
    }
    return h;
}

static bool name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
}

size_t http_url_filename(const http_url_t *u, char *out, size_t outsz)
{
    char raw[HTTP_URL_HOST_MAX + 8 + HTTP_URL_MAX + 8];
    int n = u->port == 80 ? snprintf(raw, sizeof raw, "%s", u->host)
                          : snprintf(raw, sizeof raw, "%s_%u", u->host, (unsigned)u->port);
    size_t len = n > 0 ? (size_t)n : 0;
    size_t tlen = u->target_len < sizeof raw - len - 1 ? u->target_len : sizeof raw - len - 1;
    memcpy(raw + len, u->target, tlen);
    len += tlen;
    raw[len] = '\0';

    size_t cap = outsz - 1 < HTTP_NAME_MAX ? outsz - 1 : HTTP_NAME_MAX;
    size_t o = 0;
    bool long_name = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)raw[i];
        if (!name_char(c) || (c == '.' && (o == 0 || out[o - 1] == '.')))
            c = '_';
        if (o == cap) {
            long_name = true;
            break;
        }
        out[o++] = (char)c;
    }
    if (o == 0 || out[o - 1] == '_') {
        if (o + 5 <= cap) {
            memcpy(out + o, "index", 5);
            o += 5;
        } else {
            long_name = true;
        }
    }
    if (long_name) {
        /* Cut, and end with a hash of the whole so that names sharing a prefix differ. */
        char tail[18];
        snprintf(tail, sizeof tail, "-%016llx",
                 (unsigned long long)fnv1a(0xcbf29ce484222325u, raw, len));
        size_t tl = strlen(tail);
        o = cap > tl ? cap - tl : 0;
        memcpy(out + o, tail, cap - o);
        o = cap;
    }
    out[o] = '\0';
    return o;
}
