/* What the HTTP client's proxy code (engine/http/proxy.c) gives client.c and pool.c:
 * proxy URLs parsed, no_proxy matching, picking a proxy for an attempt with the back-off
 * of failing ones, and the CONNECT tunnel. Nothing here is visible outside
 * libcorio-http. */
#ifndef CORIO_HTTP_PROXY_H
#define CORIO_HTTP_PROXY_H

#include "client_internal.h"

#define HC_PROXY_MAX_URL  2048 /* a proxy URL, in bytes */
#define HC_PROXY_MAX_CRED 255  /* a proxy's user name or password, decoded */

enum { HC_PX_HTTP = 1u << 0, HC_PX_HTTPS = 1u << 1 }; /* the schemes a proxy serves */

/* One proxy. */
struct hc_proxy {
    char host[CORIO_HTTP_MAX_HOST + 1]; /* an IPv6 literal without its brackets */
    bool ipv6;
    uint16_t port;
    unsigned schemes;                         /* HC_PX_* */
    char label[CORIO_HTTP_MAX_AUTHORITY + 8]; /* "http://host:port", for messages and
                                               * stats: never the credentials */
    char *auth;                               /* "Basic ..." for Proxy-Authorization, or NULL;
                                               * a secret: wiped when freed */
    size_t auth_len;
    struct hc_origin *ep; /* the proxy's own address, resolved as an origin's is (made at
                           * the first connection through it) */
    unsigned in_row;      /* connection failures since the last success */
    uint64_t out_until;   /* hc_now() before which it is out; 0: never taken out */
    corio_http_proxy_stats_t st;
};

/* A client's proxies (corio_http_client.proxies; NULL when it has none). */
struct hc_proxies {
    struct hc_proxy *v;
    size_t n;
    size_t next[2]; /* round-robin: where the next pick starts, per scheme (0 http) */
    size_t nfor[2]; /* how many serve each scheme */
    char *no_proxy; /* NULL: none */
    unsigned max_failures;
    uint64_t backoff_ns;
};

/* Parses the proxy URL s into *px (zeroed first; px->auth allocated). Returns 0, -EINVAL,
 * -EOPNOTSUPP or -ENOMEM with the reason in why (never s itself: it may hold a password).
 * Free with hc_proxy_clear. */
int hc_proxy_parse(const char *s, struct hc_proxy *px, char *why, size_t why_len);

/* Frees what hc_proxy_parse allocated, wiping the credentials. */
void hc_proxy_clear(struct hc_proxy *px);

/* Whether host (a name, or an IP address, an IPv6 one with or without brackets) at port
 * is to be reached directly under the no_proxy list (NULL: no). */
bool hc_no_proxy_match(const char *no_proxy, const char *host, uint16_t port);

/* Sets up c->proxies from o's proxy fields (c->proxies stays NULL when there are none).
 * Returns 0, -EINVAL, -EOPNOTSUPP or -ENOMEM. */
int hc_proxies_init(corio_http_client_t *c, const corio_http_client_opts_t *o);

/* Frees c->proxies. */
void hc_proxies_free(corio_http_client_t *c);

/* The proxy for an attempt at u: NULL to go directly (no proxy for its scheme, or
 * no_proxy says so), else the next one in turn that is not out, avoiding `avoid` (the one
 * that just failed the request) while another can be had; the one back soonest when all
 * are out. */
struct hc_proxy *hc_proxy_pick(corio_http_client_t *c, const corio_http_url_t *u,
                               const struct hc_proxy *avoid);

/* How an attempt through px ended (0 or its error), for its counters. */
void hc_proxy_count(struct hc_proxy *px, int err);

/* Whether an attempt that failed with err, unsent, because px could not be reached, may go
 * at once to another proxy: *moves (the request's count of such moves) stays below the
 * number of proxies for the scheme. Counts the move. */
bool hc_proxy_move(const corio_http_client_t *c, const struct hc_proxy *px, bool https, int err,
                   unsigned *moves);

/* For pool.c's dial(): the origin holding px's address (NULL: out of memory). */
struct hc_origin *hc_proxy_endpoint(corio_http_client_t *c, struct hc_proxy *px);

/* For dial(): resolving or connecting to px failed with rc. Counts the failure (taking px
 * out after max_failures in a row), writes the reason naming the proxy into why and
 * returns rc. */
int hc_proxy_unreachable(corio_http_client_t *c, struct hc_proxy *px, int rc, char *why,
                         size_t why_len);

/* For dial(), once conn's TCP connection to its origin's proxy is up: for https, the
 * CONNECT tunnel to the origin (TLS then goes inside it). Counts px as reached. Returns 0,
 * CORIO_HTTP_EPROXY, CORIO_HTTP_EPROXY_AUTH, or the connection's error, with why set. */
int hc_proxy_through(corio_http_client_t *c, struct hc_conn *conn, char *why, size_t why_len);

#endif
