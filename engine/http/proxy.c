/* The HTTP client's proxies (corio/http_client.h, the proxy options): proxy URLs parsed
 * into hosts and Basic credentials, curl's no_proxy matching, the proxies read from the
 * environment, picking one per attempt in turn with the back-off of failing ones, and the
 * CONNECT tunnel that https requests go through. pool.c's dial() calls in here for what
 * it connects to; client.c for the proxy of an attempt and its request line. */
#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "syntax.h"

#define SEC                 1000000000ull
#define DEFAULT_PORT        1080 /* curl's, for a proxy URL without one */
#define DEFAULT_MAX_FAILS   3
#define DEFAULT_BACKOFF_NS  (30 * SEC)
#define CONNECT_ANSWER_READ 1024

/* ---- proxy URLs ------------------------------------------------------------------------ */

static bool has_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return true;
    return false;
}

/* Whether the authority p[0, n) (userinfo taken off) names a port; -1 when the port is
 * not a number from 1 to 65535. */
static int explicit_port(const char *p, size_t n)
{
    const char *port = NULL;
    if (n > 0 && p[0] == '[') {
        const char *close = memchr(p, ']', n);
        if (close != NULL && close + 1 < p + n && close[1] == ':')
            port = close + 2;
    } else {
        const char *colon = memchr(p, ':', n);
        if (colon != NULL)
            port = colon + 1;
    }
    if (port == NULL)
        return 0;
    size_t len = (size_t)(p + n - port);
    unsigned v = 0;
    if (len == 0 || len > 5)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (port[i] < '0' || port[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(port[i] - '0');
    }
    return v >= 1 && v <= 65535 ? 1 : -1;
}

/* "Basic base64(user:password)" from the URL's userinfo into px->auth. */
static int make_auth(struct hc_proxy *px, const corio_http_url_t *u, char *why, size_t why_len)
{
    if (u->user_len > 3 * HC_PROXY_MAX_CRED || u->password_len > 3 * HC_PROXY_MAX_CRED) {
        hc_say(why, why_len, "the proxy user name or password is longer than %d bytes",
               HC_PROXY_MAX_CRED);
        return -EINVAL;
    }
    char plain[6 * HC_PROXY_MAX_CRED + 2];
    size_t ulen = corio_http_pct_decode(u->user, u->user_len, plain);
    size_t plen = u->password != NULL
                      ? corio_http_pct_decode(u->password, u->password_len, plain + ulen + 1)
                      : 0;
    int rc = 0;
    if (ulen > HC_PROXY_MAX_CRED || plen > HC_PROXY_MAX_CRED) {
        hc_say(why, why_len, "the proxy user name or password is longer than %d bytes",
               HC_PROXY_MAX_CRED);
        rc = -EINVAL;
    } else if (has_control(plain, ulen) || has_control(plain + ulen + 1, plen)) {
        hc_say(why, why_len,
               "the proxy user name or password holds a control character (CR, LF, NUL, ...) "
               "once decoded");
        rc = -EINVAL;
    } else if (memchr(plain, ':', ulen) != NULL) {
        hc_say(why, why_len,
               "the proxy user name holds a ':' once decoded, which Basic "
               "credentials cannot carry");
        rc = -EINVAL;
    } else {
        plain[ulen] = ':';
        size_t len = ulen + 1 + plen;
        size_t cap = 6 + 4 * ((len + 2) / 3) + 1;
        px->auth = malloc(cap);
        if (px->auth == NULL) {
            hc_say(why, why_len, "out of memory");
            rc = -ENOMEM;
        } else {
            memcpy(px->auth, "Basic ", 6);
            int elen = EVP_EncodeBlock((unsigned char *)px->auth + 6, (const unsigned char *)plain,
                                       (int)len);
            px->auth_len = 6 + (size_t)elen;
        }
    }
    OPENSSL_cleanse(plain, sizeof plain);
    return rc;
}

static int parse_scheme(const char *s, const char **rest, char *why, size_t why_len)
{
    const char *sep = strstr(s, "://");
    *rest = s;
    if (sep == NULL)
        return 0; /* "host:port": http, as curl takes it */
    size_t n = (size_t)(sep - s);
    *rest = sep + 3;
    if (n == 4 && strncasecmp(s, "http", 4) == 0)
        return 0;
    if (n == 5 && strncasecmp(s, "https", 5) == 0) {
        hc_say(why, why_len,
               "https:// proxies (TLS to the proxy) are not supported: give an http:// proxy "
               "(https requests still go through it encrypted, in a CONNECT tunnel)");
        return -EOPNOTSUPP;
    }
    if (n >= 6 && n <= 7 && strncasecmp(s, "socks", 5) == 0) { /* socks4, 4a, 5, 5h */
        hc_say(why, why_len, "SOCKS proxies are not supported: give an http:// proxy");
        return -EOPNOTSUPP;
    }
    size_t ok = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");
    if (ok >= n && n > 0 && n <= 16)
        hc_say(why, why_len, "a proxy URL starts with http:// (not %.*s://)", (int)n, s);
    else
        hc_say(why, why_len, "a proxy URL starts with http://");
    return -EINVAL;
}

int hc_proxy_parse(const char *s, struct hc_proxy *px, char *why, size_t why_len)
{
    memset(px, 0, sizeof *px);
    if (s == NULL || *s == '\0') {
        hc_say(why, why_len, "the proxy URL is empty");
        return -EINVAL;
    }
    size_t n = strnlen(s, HC_PROXY_MAX_URL + 1);
    if (n > HC_PROXY_MAX_URL) {
        hc_say(why, why_len, "the proxy URL is longer than %d bytes", HC_PROXY_MAX_URL);
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f) {
            hc_say(why, why_len,
                   "the proxy URL holds a space or a control character (CR, "
                   "LF, ...); percent-encode it in a user name or password");
            return -EINVAL;
        }
    const char *rest;
    int rc = parse_scheme(s, &rest, why, why_len);
    if (rc < 0)
        return rc;
    size_t alen = strcspn(rest, "/?#");
    const char *at = memchr(rest, '@', alen);
    const char *hostport = at != NULL ? at + 1 : rest;
    int port = explicit_port(hostport, alen - (size_t)(hostport - rest));
    if (port < 0) {
        hc_say(why, why_len, "the proxy port must be a number from 1 to 65535");
        return -EINVAL;
    }
    char buf[HC_PROXY_MAX_URL + 8];
    snprintf(buf, sizeof buf, "http://%s", rest);
    corio_http_url_t u;
    rc = corio_http_url_parse(buf, &u);
    if (rc < 0) {
        hc_say(why, why_len,
               "malformed proxy URL: it is http://[user:password@]host[:port], with a host "
               "name or address and any reserved character of the user name or password "
               "percent-encoded");
    } else if (u.target_len != 1) {
        hc_say(why, why_len,
               "a proxy URL has no path or query: http://[user:password@]host[:port]");
        rc = -EINVAL;
    } else {
        memcpy(px->host, u.host, sizeof px->host);
        px->ipv6 = u.ipv6;
        px->port = port > 0 ? u.port : DEFAULT_PORT;
        snprintf(px->label, sizeof px->label, u.ipv6 ? "http://[%s]:%u" : "http://%s:%u", u.host,
                 (unsigned)px->port);
        rc = u.user != NULL ? make_auth(px, &u, why, why_len) : 0;
    }
    OPENSSL_cleanse(buf, sizeof buf);
    OPENSSL_cleanse(&u, sizeof u);
    return rc < 0 ? (rc == -ENOMEM ? rc : -EINVAL) : 0;
}

void hc_proxy_clear(struct hc_proxy *px)
{
    if (px->auth != NULL) {
        OPENSSL_cleanse(px->auth, px->auth_len);
        free(px->auth);
        px->auth = NULL;
    }
}

int corio_http_proxy_check(const char *url, char *why, size_t why_len)
{
    struct hc_proxy px;
    int rc = hc_proxy_parse(url, &px, why, why_len);
    hc_proxy_clear(&px);
    return rc;
}

/* ---- no_proxy -------------------------------------------------------------------------- */

struct ip {
    int family; /* 0: not an address */
    unsigned char a[16];
};

static void parse_ip(const char *s, size_t n, struct ip *ip)
{
    char tmp[64];
    ip->family = 0;
    if (n == 0 || n >= sizeof tmp)
        return;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (inet_pton(AF_INET, tmp, ip->a) == 1)
        ip->family = AF_INET;
    else if (inet_pton(AF_INET6, tmp, ip->a) == 1)
        ip->family = AF_INET6;
}

static bool prefix_equal(const unsigned char *a, const unsigned char *b, unsigned bits)
{
    unsigned bytes = bits / 8, rest = bits % 8;
    if (memcmp(a, b, bytes) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[bytes] & mask) == (b[bytes] & mask);
}

/* One no_proxy entry e[0, n) against the host h[0, hlen) (an address when ip->family). */
static bool entry_matches(const char *e, size_t n, const char *h, size_t hlen, const struct ip *ip,
                          uint16_t port)
{
    if (n == 1 && e[0] == '*')
        return true;
    /* ":port": after "]" for an IPv6 entry in brackets, or the one colon of the others. */
    const char *colon = NULL;
    if (e[0] == '[') {
        const char *close = memchr(e, ']', n);
        if (close == NULL)
            return false;
        if (close + 1 < e + n) {
            if (close[1] != ':')
                return false;
            colon = close + 1;
        }
    } else if (memchr(e, ':', n) != NULL && memchr(e, ':', n) == memrchr(e, ':', n)) {
        colon = memchr(e, ':', n);
    }
    if (colon != NULL) {
        const char *p = colon + 1;
        size_t plen = (size_t)(e + n - p);
        unsigned v = 0;
        if (plen == 0 || plen > 5)
            return false;
        for (size_t i = 0; i < plen; i++) {
            if (p[i] < '0' || p[i] > '9')
                return false;
            v = v * 10 + (unsigned)(p[i] - '0');
        }
        if (v != port)
            return false;
        n = (size_t)(colon - e);
    }
    if (n >= 2 && e[0] == '[' && e[n - 1] == ']') {
        e++;
        n -= 2;
    }
    if (ip->family != 0) { /* an address: compared as one, with an optional /bits */
        const char *slash = memchr(e, '/', n);
        unsigned full = ip->family == AF_INET ? 32 : 128, bits = full;
        size_t alen = n;
        if (slash != NULL) {
            alen = (size_t)(slash - e);
            size_t blen = n - alen - 1;
            if (blen == 0 || blen > 3)
                return false;
            bits = 0;
            for (size_t i = 0; i < blen; i++) {
                if (slash[1 + i] < '0' || slash[1 + i] > '9')
                    return false;
                bits = bits * 10 + (unsigned)(slash[1 + i] - '0');
            }
            if (bits > full)
                return false;
        }
        struct ip want;
        parse_ip(e, alen, &want);
        return want.family == ip->family && prefix_equal(want.a, ip->a, bits);
    }
    /* A name: itself or any name below it; dots around the entry do not count. */
    if (n > 0 && e[n - 1] == '.')
        n--;
    if (n > 0 && e[0] == '.') {
        e++;
        n--;
    }
    if (n == 0)
        return false;
    if (n == hlen)
        return strncasecmp(e, h, n) == 0;
    return n < hlen && h[hlen - n - 1] == '.' && strncasecmp(e, h + hlen - n, n) == 0;
}

bool hc_no_proxy_match(const char *list, const char *host, uint16_t port)
{
    if (list == NULL || host == NULL)
        return false;
    size_t hlen = strlen(host);
    if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
        host++;
        hlen -= 2;
    }
    if (hlen > 0 && host[hlen - 1] == '.')
        hlen--;
    if (hlen == 0 || hlen > CORIO_HTTP_MAX_HOST)
        return false;
    struct ip ip;
    parse_ip(host, hlen, &ip);
    for (const char *p = list;;) {
        p += strspn(p, ", \t\r\n");
        if (*p == '\0')
            return false;
        size_t n = strcspn(p, ", \t\r\n");
        if (entry_matches(p, n, host, hlen, &ip, port))
            return true;
        p += n;
    }
}

/* ---- the environment -------------------------------------------------------------------- */

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? v : NULL;
}

unsigned corio_http_client_proxy_env(corio_http_client_opts_t *o)
{
    if (o == NULL)
        return 0;
    unsigned n = 0;
    const char *all = env("all_proxy");
    if (all == NULL)
        all = env("ALL_PROXY");
    const char *v;
    if (o->http_proxy == NULL && ((v = env("http_proxy")) != NULL || (v = all) != NULL)) {
        o->http_proxy = v;
        n++;
    }
    if (o->https_proxy == NULL && ((v = env("https_proxy")) != NULL ||
                                   (v = env("HTTPS_PROXY")) != NULL || (v = all) != NULL)) {
        o->https_proxy = v;
        n++;
    }
    if (o->no_proxy == NULL && ((v = env("no_proxy")) != NULL || (v = env("NO_PROXY")) != NULL)) {
        o->no_proxy = v;
        n++;
    }
    return n;
}

/* ---- the client's list ------------------------------------------------------------------ */

/* Adds url for the schemes given, merged into an entry of the same proxy (same address
 * and credentials) when there is one. */
static int add(struct hc_proxies *ps, const char *url, unsigned schemes)
{
    struct hc_proxy *px = &ps->v[ps->n];
    int rc = hc_proxy_parse(url, px, NULL, 0);
    if (rc < 0) {
        hc_proxy_clear(px);
        return rc;
    }
    px->schemes = schemes;
    for (size_t i = 0; i < ps->n; i++) {
        struct hc_proxy *q = &ps->v[i];
        if (q->port == px->port && strcasecmp(q->host, px->host) == 0 &&
            q->auth_len == px->auth_len &&
            (q->auth == NULL || CRYPTO_memcmp(q->auth, px->auth, q->auth_len) == 0)) {
            q->schemes |= schemes;
            hc_proxy_clear(px);
            return 0;
        }
    }
    px->st.url = px->label;
    ps->n++;
    return 0;
}

static bool given(const char *s)
{
    return s != NULL && *s != '\0';
}

int hc_proxies_init(corio_http_client_t *c, const corio_http_client_opts_t *o)
{
    c->proxies = NULL;
    if (o->proxies == NULL && o->nproxies > 0)
        return -EINVAL;
    size_t total = o->nproxies + given(o->proxy) + given(o->http_proxy) + given(o->https_proxy);
    if (total == 0)
        return 0;
    if (given(o->no_proxy) && strlen(o->no_proxy) > CORIO_HTTP_MAX_URL)
        return -EINVAL;
    struct hc_proxies *ps = calloc(1, sizeof *ps);
    if (ps == NULL)
        return -ENOMEM;
    c->proxies = ps;
    ps->v = calloc(total, sizeof *ps->v);
    if (ps->v == NULL)
        return -ENOMEM;
    int rc = 0;
    const unsigned both = HC_PX_HTTP | HC_PX_HTTPS;
    if (given(o->proxy))
        rc = add(ps, o->proxy, both);
    for (size_t i = 0; rc == 0 && i < o->nproxies; i++)
        rc = o->proxies[i] != NULL ? add(ps, o->proxies[i], both) : -EINVAL;
    if (rc == 0 && given(o->http_proxy))
        rc = add(ps, o->http_proxy, HC_PX_HTTP);
    if (rc == 0 && given(o->https_proxy))
        rc = add(ps, o->https_proxy, HC_PX_HTTPS);
    if (rc < 0)
        return rc;
    if (given(o->no_proxy) && (ps->no_proxy = strdup(o->no_proxy)) == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < ps->n; i++) {
        ps->nfor[0] += (ps->v[i].schemes & HC_PX_HTTP) != 0;
        ps->nfor[1] += (ps->v[i].schemes & HC_PX_HTTPS) != 0;
    }
    ps->max_failures = o->proxy_max_failures != 0 ? o->proxy_max_failures : DEFAULT_MAX_FAILS;
    ps->backoff_ns = o->proxy_backoff_ns != 0 ? o->proxy_backoff_ns : DEFAULT_BACKOFF_NS;
    return 0;
}

void hc_proxies_free(corio_http_client_t *c)
{
    struct hc_proxies *ps = c->proxies;
    if (ps == NULL)
        return;
    for (size_t i = 0; ps->v != NULL && i < ps->n; i++)
        hc_proxy_clear(&ps->v[i]);
    free(ps->v);
    free(ps->no_proxy);
    free(ps);
    c->proxies = NULL;
}

int corio_http_client_proxy_stats(const corio_http_client_t *c, size_t index,
                                  corio_http_proxy_stats_t *st)
{
    if (c == NULL || st == NULL || c->proxies == NULL || index >= c->proxies->n)
        return -ENOENT;
    const struct hc_proxy *px = &c->proxies->v[index];
    *st = px->st;
    st->http = (px->schemes & HC_PX_HTTP) != 0;
    st->https = (px->schemes & HC_PX_HTTPS) != 0;
    st->failures_in_row = px->in_row;
    st->out = px->out_until > hc_now();
    return 0;
}

/* ---- picking, counting, back-off --------------------------------------------------------- */

struct hc_proxy *hc_proxy_pick(corio_http_client_t *c, const corio_http_url_t *u,
                               const struct hc_proxy *avoid)
{
    struct hc_proxies *ps = c->proxies;
    if (ps == NULL)
        return NULL;
    unsigned s = u->scheme == CORIO_HTTP_SCHEME_HTTPS;
    unsigned bit = s ? HC_PX_HTTPS : HC_PX_HTTP;
    if (ps->nfor[s] == 0 || hc_no_proxy_match(ps->no_proxy, u->host, u->port))
        return NULL;
    uint64_t now = hc_now();
    struct hc_proxy *soonest = NULL, *avoided = NULL;
    for (size_t i = 0; i < ps->n; i++) {
        size_t idx = (ps->next[s] + i) % ps->n;
        struct hc_proxy *px = &ps->v[idx];
        if ((px->schemes & bit) == 0)
            continue;
        if (px->out_until > now) {
            if (soonest == NULL || px->out_until < soonest->out_until)
                soonest = px;
        } else if (px == avoid) {
            avoided = px;
        } else {
            ps->next[s] = idx + 1;
            return px;
        }
    }
    return avoided != NULL ? avoided : soonest;
}

void hc_proxy_count(struct hc_proxy *px, int err)
{
    px->st.requests++;
    if (err != 0)
        px->st.errors++;
}

/* A connection through px failed (not by the caller's cancel). */
static void failed(corio_http_client_t *c, struct hc_proxy *px, int rc)
{
    if (rc == -ECANCELED)
        return;
    struct hc_proxies *ps = c->proxies;
    uint64_t now = hc_now();
    px->st.conn_failures++;
    px->in_row++;
    if (px->in_row >= ps->max_failures && px->out_until <= now) {
        px->out_until = now + ps->backoff_ns;
        px->st.backoffs++;
    }
}

static void reached(struct hc_proxy *px)
{
    px->in_row = 0;
    px->out_until = 0;
}

bool hc_proxy_move(const corio_http_client_t *c, const struct hc_proxy *px, bool https, int err,
                   unsigned *moves)
{
    if (px == NULL || *moves + 1 >= c->proxies->nfor[https])
        return false;
    switch (err) {
    case -ECONNREFUSED:
    case -ECONNRESET:
    case -ECONNABORTED:
    case -EPIPE:
    case -ENETUNREACH:
    case -EHOSTUNREACH:
    case -ENETDOWN:
    case -EHOSTDOWN:
    case -EADDRNOTAVAIL:
    case CORIO_ENONAME:
    case CORIO_ERESOLVE:
    case CORIO_HTTP_ETRUNCATED:
        ++*moves;
        return true;
    default:
        return false;
    }
}

struct hc_origin *hc_proxy_endpoint(corio_http_client_t *c, struct hc_proxy *px)
{
    if (px->ep == NULL)
        px->ep = hc_origin_get(c, false, px->host, px->port, NULL);
    return px->ep;
}

int hc_proxy_unreachable(corio_http_client_t *c, struct hc_proxy *px, int rc, char *why,
                         size_t why_len)
{
    failed(c, px, rc);
    if (rc == -ECONNREFUSED)
        hc_say(why, why_len, "proxy %s refused the connection", px->label);
    else if (rc == CORIO_ENONAME || rc == CORIO_ERESOLVE)
        hc_say(why, why_len, "cannot resolve proxy %s: %s", px->label, corio_strerror(rc));
    else
        hc_say(why, why_len, "cannot connect to proxy %s: %s", px->label, corio_strerror(rc));
    return rc;
}

/* ---- CONNECT ------------------------------------------------------------------------------ */

static const char *reason(int status)
{
    return status == 407 ? "Proxy Authentication Required" : corio_http_reason(status);
}

/* Reads the proxy's answer to CONNECT target. Returns 0 for a 2xx with nothing after it. */
static int connect_answer(corio_http_client_t *c, struct hc_conn *conn, struct hc_proxy *px,
                          const char *target, char *why, size_t why_len)
{
    corio_http_resp_parser_t *p = malloc(sizeof *p);
    if (p == NULL) {
        hc_say(why, why_len, "out of memory");
        return -ENOMEM;
    }
    corio_http_resp_parser_init(p, true); /* an answer to CONNECT has no body */
    char buf[CONNECT_ANSWER_READ];
    int rc;
    for (;;) {
        ssize_t n = hc_conn_read(conn, buf, sizeof buf);
        if (n <= 0) {
            rc = n < 0 ? (int)n : CORIO_HTTP_ETRUNCATED;
            if (rc != -ETIMEDOUT)
                failed(c, px, rc);
            if (n == 0)
                hc_say(why, why_len, "proxy %s closed the connection before answering CONNECT %s",
                       px->label, target);
            else
                hc_say(why, why_len, "proxy %s: %s waiting for its answer to CONNECT %s", px->label,
                       corio_strerror(rc), target);
            break;
        }
        c->st.bytes_in += (uint64_t)n;
        size_t used, blen;
        const char *body;
        int ev = corio_http_resp_parser_feed(p, buf, (size_t)n, &used, &body, &blen);
        if (ev == CORIO_HTTP_NEED_MORE)
            continue;
        reached(px); /* it answers: whatever it says, the proxy is up */
        rc = CORIO_HTTP_EPROXY;
        if (ev != CORIO_HTTP_HEAD && ev != CORIO_HTTP_DONE) {
            hc_say(why, why_len, "proxy %s did not answer CONNECT %s with an HTTP response: %s",
                   px->label, target, corio_strerror(ev < 0 ? ev : CORIO_HTTP_EMALFORMED));
        } else if (p->status == 407 || p->status == 401) {
            /* 401 too: some proxies (tinyproxy) answer wrong credentials with it, and an
             * answer to CONNECT is the proxy's own. */
            rc = CORIO_HTTP_EPROXY_AUTH;
            if (px->auth != NULL)
                hc_say(why, why_len, "proxy %s refused the credentials (%d %s)", px->label,
                       p->status, reason(p->status));
            else
                hc_say(why, why_len,
                       "proxy %s asks for credentials (%d %s): give them in the proxy URL, "
                       "http://user:password@host:port",
                       px->label, p->status, reason(p->status));
        } else if (p->status < 200 || p->status > 299) {
            hc_say(why, why_len, "proxy %s answered CONNECT %s with %d %s", px->label, target,
                   p->status, reason(p->status));
        } else if (used != (size_t)n) {
            hc_say(why, why_len, "proxy %s sent %zu bytes after its answer to CONNECT %s",
                   px->label, (size_t)n - used, target);
        } else {
            rc = 0;
        }
        break;
    }
    free(p);
    return rc;
}

int hc_proxy_through(corio_http_client_t *c, struct hc_conn *conn, char *why, size_t why_len)
{
    struct hc_origin *o = conn->o;
    struct hc_proxy *px = o->proxy;
    if (!o->https) {
        reached(px);
        return 0;
    }
    char target[CORIO_HTTP_MAX_AUTHORITY];
    bool v6 = strchr(o->host, ':') != NULL;
    snprintf(target, sizeof target, v6 ? "[%s]:%u" : "%s:%u", o->host, (unsigned)o->port);
    size_t ua = strlen(c->user_agent);
    size_t cap = 2 * strlen(target) + px->auth_len + ua + 96;
    char *req = malloc(cap);
    if (req == NULL) {
        hc_say(why, why_len, "out of memory");
        return -ENOMEM;
    }
    int n = snprintf(req, cap, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", target, target);
    if (px->auth != NULL)
        n += snprintf(req + n, cap - (size_t)n, "Proxy-Authorization: %s\r\n", px->auth);
    if (ua > 0)
        n += snprintf(req + n, cap - (size_t)n, "User-Agent: %s\r\n", c->user_agent);
    n += snprintf(req + n, cap - (size_t)n, "\r\n");
    int rc = hc_conn_write(conn, req, (size_t)n);
    OPENSSL_cleanse(req, cap);
    free(req);
    if (rc < 0) {
        if (rc != -ETIMEDOUT)
            failed(c, px, rc);
        hc_say(why, why_len, "proxy %s: %s sending CONNECT %s", px->label, corio_strerror(rc),
               target);
        return rc;
    }
    return connect_answer(c, conn, px, target, why, why_len);
}
