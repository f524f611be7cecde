/* URLs (corio/http_parse.h section 2): parsing http and https URLs, the authority of a
 * Host field, same-origin checks, resolving a redirect's Location and safe file names. */
#include <corio/http.h>

#include "http/syntax.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static uint16_t default_port(corio_http_scheme_t scheme)
{
    return scheme == CORIO_HTTP_SCHEME_HTTPS ? 443 : 80;
}

static const char *scheme_name(corio_http_scheme_t scheme)
{
    return scheme == CORIO_HTTP_SCHEME_HTTPS ? "https" : "http";
}

static bool bad_char(unsigned char c)
{
    return c <= ' ' || c == 0x7f;
}

/* Host characters of a reg-name or IPv4 address (RFC 3986 3.2.2), less the sub-delims
 * and percent-encodings a host name never has in practice: what a resolver takes. */
static bool host_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* userinfo = *( unreserved / pct-encoded / sub-delims / ":" ) (RFC 3986 3.2.1) */
static bool userinfo_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n || http_hex_value((unsigned char)s[i + 1]) < 0 ||
                http_hex_value((unsigned char)s[i + 2]) < 0)
                return false;
            i += 2;
        } else if (!host_char(c) && (c == '\0' || strchr("!$&'()*+,;=:", c) == NULL)) {
            return false;
        }
    }
    return true;
}

/* The scheme and the "//" after it. Sets *rest to the authority. */
static int parse_scheme(const char *s, corio_http_url_t *u, const char **rest)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");
    if (n == 0 || s[n] != ':' || (s[0] >= '0' && s[0] <= '9') || s[0] == '+' || s[0] == '-' ||
        s[0] == '.')
        return CORIO_HTTP_EURL_SCHEME; /* no scheme at all */
    if (n == 4 && strncasecmp(s, "http", 4) == 0)
        u->scheme = CORIO_HTTP_SCHEME_HTTP;
    else if (n == 5 && strncasecmp(s, "https", 5) == 0)
        u->scheme = CORIO_HTTP_SCHEME_HTTPS;
    else
        return CORIO_HTTP_EURL_SCHEME;
    if (s[n + 1] != '/' || s[n + 2] != '/')
        return CORIO_HTTP_EURL; /* "http:/x", "http:x": no authority */
    *rest = s + n + 3;
    return 0;
}

/* The host and port of an authority p[0, alen), userinfo already taken off. */
static int parse_host_port(const char *p, size_t alen, corio_http_url_t *u)
{
    const char *host = p, *port = NULL;
    size_t hlen;
    u->ipv6 = false;
    if (alen > 0 && p[0] == '[') {
        const char *close = memchr(p, ']', alen);
        if (close == NULL)
            return CORIO_HTTP_EURL;
        host = p + 1;
        hlen = (size_t)(close - host);
        if (!corio_http_ipv6_valid(host, hlen))
            return CORIO_HTTP_EURL;
        if (close + 1 < p + alen) {
            if (close[1] != ':')
                return CORIO_HTTP_EURL;
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
                return CORIO_HTTP_EURL;
    }
    if (hlen == 0 || hlen > CORIO_HTTP_MAX_HOST)
        return CORIO_HTTP_EURL;
    memcpy(u->host, host, hlen);
    u->host[hlen] = '\0';
    u->port = default_port(u->scheme);
    if (port != NULL) {
        unsigned v = 0;
        size_t plen = (size_t)(p + alen - port);
        if (plen == 0 || plen > 5)
            return CORIO_HTTP_EURL;
        for (size_t i = 0; i < plen; i++) {
            if (port[i] < '0' || port[i] > '9')
                return CORIO_HTTP_EURL;
            v = v * 10 + (unsigned)(port[i] - '0');
        }
        if (v == 0 || v > 65535)
            return CORIO_HTTP_EURL;
        u->port = (uint16_t)v;
    }
    return 0;
}

int corio_http_url_parse(const char *s, corio_http_url_t *u)
{
    size_t n = strlen(s);
    if (n > CORIO_HTTP_MAX_URL)
        return CORIO_HTTP_EURL;
    for (size_t i = 0; i < n; i++)
        if (bad_char((unsigned char)s[i]))
            return CORIO_HTTP_EURL;
    const char *p;
    int rc = parse_scheme(s, u, &p);
    if (rc < 0)
        return rc;
    size_t alen = strcspn(p, "/?#"); /* the authority */
    u->user = u->password = NULL;
    u->user_len = u->password_len = 0;
    const char *at = memchr(p, '@', alen);
    if (at != NULL) {
        size_t ulen = (size_t)(at - p);
        if (!userinfo_valid(p, ulen))
            return CORIO_HTTP_EURL;
        const char *colon = memchr(p, ':', ulen);
        u->user = p;
        u->user_len = colon != NULL ? (size_t)(colon - p) : ulen;
        if (colon != NULL) {
            u->password = colon + 1;
            u->password_len = ulen - u->user_len - 1;
        }
        alen -= ulen + 1;
        p = at + 1;
    }
    rc = parse_host_port(p, alen, u);
    if (rc < 0)
        return rc;
    const char *t = p + alen;
    size_t tlen = strcspn(t, "#");
    if (tlen == 0 || t[0] == '?') {
        /* "http://h" and "http://h?q": the path is "/"; a query needs it spelled out, so
         * such a URL is refused rather than rewritten. */
        if (tlen > 0)
            return CORIO_HTTP_EURL;
        t = "/";
        tlen = 1;
    }
    u->target = t;
    u->target_len = tlen;
    return 0;
}

int corio_http_url_authority(const corio_http_url_t *u, char *out, size_t outsz)
{
    int n;
    if (u->port == default_port(u->scheme))
        n = snprintf(out, outsz, u->ipv6 ? "[%s]" : "%s", u->host);
    else
        n = snprintf(out, outsz, u->ipv6 ? "[%s]:%u" : "%s:%u", u->host, (unsigned)u->port);
    return n < 0 || (size_t)n >= outsz ? CORIO_HTTP_EURL : n;
}

bool corio_http_url_same_origin(const corio_http_url_t *a, const corio_http_url_t *b)
{
    return a->scheme == b->scheme && a->port == b->port && a->ipv6 == b->ipv6 &&
           strcasecmp(a->host, b->host) == 0;
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

int corio_http_url_resolve(const corio_http_url_t *base, const char *loc, char *out, size_t outsz)
{
    size_t llen = strcspn(loc, "#");
    if (llen == 0 || outsz == 0)
        return CORIO_HTTP_EURL;
    struct sbuf b = {out, 0, outsz, true};
    out[0] = '\0';
    size_t scheme =
        strspn(loc, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");
    if (scheme > 0 && scheme < llen && loc[scheme] == ':' && !(loc[0] >= '0' && loc[0] <= '9')) {
        put(&b, loc, llen); /* absolute: any scheme; parsing says whether it is http(s) */
        return b.ok ? (int)b.len : CORIO_HTTP_EURL;
    }
    if (llen >= 2 && loc[0] == '/' && loc[1] == '/') {
        put(&b, scheme_name(base->scheme), strlen(scheme_name(base->scheme)));
        put(&b, ":", 1);
        put(&b, loc, llen);
        return b.ok ? (int)b.len : CORIO_HTTP_EURL;
    }
    char auth[CORIO_HTTP_MAX_AUTHORITY];
    if (corio_http_url_authority(base, auth, sizeof auth) < 0)
        return CORIO_HTTP_EURL;
    put(&b, scheme_name(base->scheme), strlen(scheme_name(base->scheme)));
    put(&b, "://", 3);
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
        return CORIO_HTTP_EURL;
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

size_t corio_http_url_filename(const corio_http_url_t *u, char *out, size_t outsz)
{
    char raw[CORIO_HTTP_MAX_HOST + 8 + CORIO_HTTP_MAX_URL + 8];
    if (outsz == 0)
        return 0;
    int n = u->port == default_port(u->scheme)
                ? snprintf(raw, sizeof raw, "%s", u->host)
                : snprintf(raw, sizeof raw, "%s_%u", u->host, (unsigned)u->port);
    size_t len = n > 0 ? (size_t)n : 0;
    size_t tlen = u->target_len < sizeof raw - len - 1 ? u->target_len : sizeof raw - len - 1;
    memcpy(raw + len, u->target, tlen);
    len += tlen;
    raw[len] = '\0';

    size_t cap = outsz - 1 < CORIO_HTTP_MAX_FILENAME ? outsz - 1 : CORIO_HTTP_MAX_FILENAME;
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
