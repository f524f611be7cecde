/* corio/http_client.h: an HTTP/1.1 client for tasks (included by <corio/http.h>).
 *
 *   1. conventions
 *   2. the client: options, new, free, statistics, proxies
 *   3. one request: what to send, what came back, corio_http_client_do
 *   4. bodies: sources and sinks
 *
 * Conventions
 * - A client belongs to one loop and is used by the tasks of that loop only (one per
 *   thread, like the loop). Any number of tasks may make requests through it at once:
 *   connections are kept alive in one pool per origin (scheme, host, port), and any task
 *   takes an idle one from there, so ten thousand requests to three hosts over 64 tasks
 *   open at most 64 connections per host, not one per request.
 * - Connections are capped in total and per origin. A task that finds none idle and may
 *   not open another waits (in arrival order) until one is given back or closed; its
 *   deadline and cancel end the wait as they end any call.
 * - HTTPS goes through <corio/tls.h>, with its secure defaults: the server's certificate
 *   and name are verified against the system trust store unless the client is given
 *   another CA or, explicitly, CORIO_TLS_INSECURE.
 * - A redirect that leaves the original origin (another scheme, host or port) never
 *   carries the request's Authorization, Cookie or Proxy-Authorization fields, nor a Host
 *   field the caller set, nor credentials from the original URL's userinfo.
 * - Proxies (http:// ones): a plain http request goes to the proxy in absolute form
 *   ("GET http://host:port/path HTTP/1.1"), an https one through a CONNECT tunnel with
 *   TLS to the origin inside it (the certificate is the origin's, verified as always).
 *   The proxy's credentials (user:password@ in its URL) go only to the proxy, as
 *   Proxy-Authorization: Basic, in the absolute-form request or the CONNECT; never to an
 *   origin, and never into a redirect. Connections are pooled per proxy and origin (the
 *   per-origin cap counts each such pair). Several proxies are used in turn
 *   (round-robin); one that fails to connect proxy_max_failures times in a row is taken
 *   out for proxy_backoff_ns, and an attempt whose proxy could not be reached (refused,
 *   reset, unreachable, not resolved; not a timeout) goes at once to another one, as
 *   neither a retry nor an error of the request.
 * - Calls that send work only inside a task. Results are 0 or a negative code: an errno
 *   (-ECONNREFUSED, -ECONNRESET, -ETIMEDOUT, -ECANCELED, ...), a resolution code of
 *   <corio/net.h>, a TLS code of <corio/tls.h> or an HTTP code of <corio/http.h>;
 *   corio_strerror() names each, and corio_http_client_resp_error() says in a sentence
 *   what went wrong with which request.
 */
#ifndef CORIO_HTTP_CLIENT_H
#define CORIO_HTTP_CLIENT_H

#include <corio/http.h>
#include <corio/tls.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- 2. the client ------------------------------------------------------------------ */

typedef struct corio_http_client corio_http_client_t; /* opaque */

enum {
    /* Follow redirects (301, 302, 303, 307, 308 with a Location), up to max_redirects. */
    CORIO_HTTP_FOLLOW = 1u << 0,
    /* Ask for gzip and deflate (Accept-Encoding) and decode a response body so coded:
     * the body delivered is the decoded one, and max_body bounds its decoded size. */
    CORIO_HTTP_DECOMPRESS = 1u << 1,
    /* Never retry (overrides retries). */
    CORIO_HTTP_NO_RETRY = 1u << 2,
    /* Send "Connection: close" and close the connection after the response: a new
     * connection (and for https a handshake) per request. */
    CORIO_HTTP_NO_KEEPALIVE = 1u << 3,
};

/* Zero means "default" for every field. */
typedef struct corio_http_client_opts {
    unsigned max_conns;          /* connections open at once, all origins (default 256) */
    unsigned max_conns_per_host; /* connections open at once to one origin (default:
                                  * max_conns) */
    uint64_t timeout_ns;         /* deadline of one attempt: waiting for a connection,
                                  * connecting, sending, the whole response (default 30 s;
                                  * UINT64_MAX: none) */
    uint64_t connect_timeout_ns; /* deadline of a connect and TLS handshake, within the
                                  * attempt's (default: the attempt's) */
    uint64_t idle_timeout_ns;    /* a pooled connection unused for this long is closed
                                  * instead of reused (default 30 s) */
    unsigned retries;            /* retries of an idempotent request after a connection
                                  * error, a 5xx or a 429, with exponential backoff
                                  * from 100 ms up to 5 s, +-25%, or after the
                                  * response's Retry-After (default 0) */
    unsigned max_redirects;      /* with CORIO_HTTP_FOLLOW (default 10) */
    unsigned flags;              /* CORIO_HTTP_* defaults for every request */
    size_t max_body;             /* the largest response body kept in memory, decoded
                                  * (default 64 MiB): CORIO_HTTP_EBODY_TOO_BIG beyond */
    corio_tls_ctx_t *tls;        /* client context for https (the caller keeps it and
                                  * frees it after the client); NULL: one is made at the
                                  * first https request, from the fields below */
    const char *ca_file;         /* with tls NULL: trust these CAs instead of the system
                                  * store (copied) */
    unsigned tls_flags;          /* with tls NULL: CORIO_TLS_* (CORIO_TLS_INSECURE...) */
    const char *user_agent;      /* default "corio/X.Y"; "" sends none (copied) */
    /* Proxies, each "http://[user:password@]host[:port]" (default port 1080, as curl;
     * "host:port" alone means http://; the userinfo percent-encoded). Every one given
     * is used, the ones that serve a request's scheme taken in turn. All copied. A bad
     * one fails corio_http_client_new (corio_http_proxy_check says why). */
    const char *proxy;          /* one proxy for every scheme; NULL: none */
    const char *const *proxies; /* nproxies more, for every scheme */
    size_t nproxies;
    const char *http_proxy;      /* a proxy for http:// URLs only (curl's http_proxy) */
    const char *https_proxy;     /* a proxy for https:// URLs only (curl's https_proxy) */
    const char *no_proxy;        /* hosts reached directly, as curl's no_proxy: a comma
                                  * (or space) separated list of names, each matching
                                  * itself and its subdomains (a leading dot is the
                                  * same), IPv4 and IPv6 addresses and CIDR ranges
                                  * (10.0.0.0/8), case-insensitive; "*" alone: every
                                  * host. An entry with ":port" matches that port only
                                  * (beyond curl). NULL or "": none */
    unsigned proxy_max_failures; /* connection failures in a row (connect refused or
                                  * failed, name not resolved, closed before answering
                                  * CONNECT) that take a proxy out (default 3) */
    uint64_t proxy_backoff_ns;   /* how long a proxy is out; after it, one more failure
                                  * takes it out again (default 30 s). While every proxy
                                  * of a scheme is out, the one back soonest is used. */

    /* Names and addresses. A host's addresses (up to 8, as the resolver orders them) are
     * looked up once and kept for dns_ttl_ns, as is an answer that the name does not
     * exist; tasks asking meanwhile share the one lookup. A resolver failure (not a
     * "no such name") is tried again by the next new connection, which meanwhile uses the
     * addresses of an earlier answer if there was one. Connecting races the addresses as
     * RFC 8305 says: IPv6 and IPv4 interleaved, the next address tried after the RFC's
     * recommended Connection Attempt Delay (docs/DESIGN-NOTES.md has the figure) or at
     * once when the one before failed (refused, unreachable), the first to connect
     * kept and the others closed; the connect deadline bounds the whole race. */
    uint64_t dns_ttl_ns; /* how long an answer is kept (default 60 s; UINT64_MAX:
                          * for the client's life) */

    /* Politeness to hosts. A host is the URL's host name, compared case-insensitively,
     * over all its ports and schemes; through a proxy it is still the URL's host, never
     * the proxy's. The waits below come before each attempt (retries and redirects are
     * attempts) and before it takes a connection; they are bounded by the task's own
     * deadline and cancel, not by timeout_ns, which starts when the attempt does. */
    double host_rate;            /* attempts per second to one host, spaced evenly and
                                  * granted in arrival order, so other hosts' requests
                                  * never wait behind them (default 0: unlimited) */
    uint64_t retry_after_max_ns; /* the longest Retry-After honoured on a 429 or 503
                                  * (default 60 s). One within it blocks the host for
                                  * that long for every request of the client, and the
                                  * request that got it is retried once the block ends
                                  * (if retries remain and it is idempotent, as for a
                                  * 5xx; a 429 without Retry-After is retried with the
                                  * normal backoff). One beyond it is not waited for:
                                  * the response is the final one, and the host is
                                  * blocked for retry_after_max_ns only. */
} corio_http_client_opts_t;

/* Makes a client with opts (NULL: all defaults). Needs no task; makes no connection.
 * Returns 0 and *out, -EINVAL (NULL out; max_conns_per_host above max_conns; unknown
 * flags; a malformed proxy URL or no_proxy longer than CORIO_HTTP_MAX_URL; host_rate
 * negative, NaN or infinite),
 * -EOPNOTSUPP (an https:// or socks proxy), or -ENOMEM. */
CORIO_HTTP_API int corio_http_client_new(corio_http_client_t **out,
                                         const corio_http_client_opts_t *opts);

/* Closes every idle connection and frees the client. No request may be in progress
 * (asserts otherwise, naming the misuse). NULL is ignored. */
CORIO_HTTP_API void corio_http_client_free(corio_http_client_t *c);

/* Closes every idle connection now (the pool starts afresh); requests in progress keep
 * theirs. */
CORIO_HTTP_API void corio_http_client_close_idle(corio_http_client_t *c);

typedef struct corio_http_client_stats {
    uint64_t requests;                    /* attempts sent (retries and redirects count each) */
    uint64_t conns_opened;                /* connections made (TCP connects that succeeded) */
    uint64_t conns_reused;                /* attempts that took a pooled connection */
    uint64_t tls_handshakes, tls_resumed; /* full and abbreviated handshakes */
    uint64_t bytes_in;    /* response bytes received (heads and bodies as sent, after
                           * TLS decryption) */
    unsigned conns_open;  /* open now: idle plus in use */
    unsigned conns_idle;  /* in the pools now */
    unsigned waiting;     /* tasks waiting for a connection now */
    uint64_t dns_lookups; /* names looked up (corio_getaddrinfo calls) */
    /* Politeness to hosts (host_rate, retry_after_max_ns). */
    uint64_t rate_waits;  /* attempts that waited for a host's rate or Retry-After */
    uint64_t retry_after; /* 429 and 503 responses whose Retry-After was honoured (within
                           * retry_after_max_ns: the host was blocked for it) */
} corio_http_client_stats_t;

/* Copies c's counters into *st. */
CORIO_HTTP_API void corio_http_client_stats(const corio_http_client_t *c,
                                            corio_http_client_stats_t *st);

/* Pins host's addresses, as curl's --resolve: connections to host at port (0: every
 * port) go to addrs, a comma-separated list of up to 8 numeric IPv4 or IPv6 addresses
 * (brackets allowed), raced in that order as any host's are, never looked up and never
 * expired. host is compared case-insensitively with a URL's (or a proxy's) host; a later
 * pin for the same host wins; it applies to connections made from now on. Returns 0,
 * -EINVAL (NULL or empty arguments, a host over CORIO_HTTP_MAX_HOST bytes, an address
 * that is not numeric, more than 8), or -ENOMEM. */
CORIO_HTTP_API int corio_http_client_add_resolve(corio_http_client_t *c, const char *host,
                                                 uint16_t port, const char *addrs);

/* Whether url is a proxy URL the client takes (see the proxy options). Returns 0, -EINVAL
 * (empty; longer than 2048 bytes; a space or control character; a scheme other than
 * http; a malformed host; a port outside 1..65535; a path or query; a user name or
 * password over 255 bytes or with a control character once decoded), or -EOPNOTSUPP
 * (https:// and socks proxies), with the reason in why (never the URL itself, which may
 * hold a password). */
CORIO_HTTP_API int corio_http_proxy_check(const char *url, char *why, size_t why_len);

/* Fills o's http_proxy, https_proxy and no_proxy from the environment as curl reads it:
 * http_proxy (lowercase only: a CGI program's HTTP_PROXY comes from a request's
 * "Proxy:" field), https_proxy or HTTPS_PROXY, all_proxy or ALL_PROXY for a scheme
 * that has none of its own, no_proxy or NO_PROXY; empty values count as unset. Fields
 * already set are kept. The strings are the environment's (the client copies them at
 * corio_http_client_new). Returns how many fields it set. */
CORIO_HTTP_API unsigned corio_http_client_proxy_env(corio_http_client_opts_t *o);

/* One proxy's counters. */
typedef struct corio_http_proxy_stats {
    const char *url;          /* "http://host:port": never the credentials (the client's
                               * string, valid until it is freed) */
    bool http, https;         /* the schemes it serves */
    uint64_t requests;        /* attempts made through it (retries, redirects and requests
                               * moved to another proxy count each) */
    uint64_t errors;          /* those that failed, for whatever reason */
    uint64_t conn_failures;   /* connections to it that failed (proxy_max_failures) */
    uint64_t backoffs;        /* times it was taken out */
    unsigned failures_in_row; /* connection failures since its last success */
    bool out;                 /* taken out now */
} corio_http_proxy_stats_t;

/* Copies the counters of c's proxy number index (0 first, in the order given: proxy,
 * proxies, http_proxy, https_proxy, one entry for a URL given twice) into *st. Returns
 * 0, or -ENOENT past the last one. */
CORIO_HTTP_API int corio_http_client_proxy_stats(const corio_http_client_t *c, size_t index,
                                                 corio_http_proxy_stats_t *st);

/* ---- 3. one request ------------------------------------------------------------------ */

/* What to send. Every pointer needs only live for the call. Zero-initialise it and set
 * what you need: only url is required. */
typedef struct corio_http_client_req {
    const char *url;    /* an absolute http:// or https:// URL, NUL-terminated; userinfo
                         * becomes Basic credentials for its own origin */
    const char *method; /* NULL: GET, or POST when there is a body */
    /* Fields sent after corio's own. A field named Host, User-Agent, Accept or
     * Accept-Encoding replaces corio's; Content-Length, Transfer-Encoding and
     * Connection are corio's alone (-EINVAL). Names must be tokens and values free of
     * CR, LF and NUL (-EINVAL): nothing can be smuggled into the request. */
    const corio_http_header_t *headers;
    size_t nheaders;
    /* A body: either body/body_len, sent with Content-Length and replayable (a retry or
     * a 307/308 redirect sends it again), or body_source, read until it returns 0 and
     * sent chunked, which is not replayable (no retry after any of it was sent; a
     * 307/308 is then returned as the final response). */
    const void *body;
    size_t body_len;
    ssize_t (*body_source)(void *arg, void *buf, size_t len); /* > 0 bytes, 0: end, -errno */
    void *body_source_arg;
    /* Where the response body goes: NULL keeps it in the response (resp->body, bounded by
     * the client's max_body); otherwise sink(arg, data, len) is called, in the requesting
     * task, for every piece as it arrives (it may wait on corio calls; a negative return
     * aborts the request with that error). A redirect's or retried response's body never
     * reaches the sink. corio_http_sink_fd writes to an fd. */
    int (*sink)(void *arg, const void *data, size_t len);
    void *sink_arg;
    unsigned flags;      /* CORIO_HTTP_*, added to the client's flags */
    uint64_t timeout_ns; /* deadline of each attempt; 0: the client's */
} corio_http_client_req_t;

/* What came back: caller-owned; set up with corio_http_client_resp_init, reused across
 * requests (its buffers are kept) and released with corio_http_client_resp_free. The
 * public fields are valid after corio_http_client_do returned 0, until the next request
 * made with it. */
typedef struct corio_http_client_resp {
    int status;        /* 100..999 */
    int version_minor; /* HTTP/1.x */
    char *body;        /* the body (NUL-terminated; decoded with CORIO_HTTP_DECOMPRESS),
                        * when the request had no sink; else NULL */
    size_t body_len;
    uint64_t body_bytes; /* body bytes delivered (to body or sink) */
    unsigned redirects;  /* redirects followed */
    unsigned retries;    /* retries made */
    bool reused;         /* the final attempt took a pooled connection */
    uint64_t connect_ns; /* how long the final attempt spent connecting (TCP connect and,
                          * for https, the TLS handshake); 0 when it was reused */
    const char *url;     /* the URL of the final response (after redirects) */

    /* private: */
    struct corio_http_client_buf *priv;
} corio_http_client_resp_t;

CORIO_HTTP_API void corio_http_client_resp_init(corio_http_client_resp_t *r);
CORIO_HTTP_API void corio_http_client_resp_free(corio_http_client_resp_t *r);

/* The value of the final response's field named name (case-insensitive): a view of
 * *len bytes (len may be NULL), not NUL-terminated; NULL when there is none. nth picks
 * the nth field of that name (0 first: several Set-Cookie fields, say). Valid as the
 * public fields are. */
CORIO_HTTP_API const char *corio_http_client_resp_header(const corio_http_client_resp_t *r,
                                                         const char *name, unsigned nth,
                                                         size_t *len);

/* Why the last request made with r failed, in a sentence naming the URL or host ("GET
 * https://localhost:8443/: certificate verify failed: hostname mismatch for host
 * localhost"), or "" after success. */
CORIO_HTTP_API const char *corio_http_client_resp_error(const corio_http_client_resp_t *r);

/* Inside a task: makes the request req through c and reads the whole response into r
 * (its head, and the body into r->body or req->sink), following redirects and retrying
 * as the flags and options say. Returns 0 when a complete response arrived, whatever its
 * status (r->status), or:
 *   -EINVAL                 NULL c, req or r; no URL; a bad header or method; both body
 *                           kinds at once
 *   CORIO_HTTP_EURL, _EURL_SCHEME  the URL (or a redirect's Location) cannot be fetched
 *   CORIO_ENONAME, CORIO_ERESOLVE  the host does not resolve
 *   -ECONNREFUSED, -ENETUNREACH, -EHOSTUNREACH, -ECONNRESET, -EPIPE  the connection
 *   CORIO_ETLS, CORIO_ETLS_VERIFY  HTTPS could not be set up or verified
 *   CORIO_HTTP_EPROXY       a proxy did not open a CONNECT tunnel (its status is in the
 *                           error sentence)
 *   CORIO_HTTP_EPROXY_AUTH  a proxy wants other credentials: it answered 407 (to CONNECT
 *                           or, for http, to the request itself, which is then not
 *                           returned as a response) or 401 to CONNECT
 *   CORIO_HTTP_EMALFORMED, _ELENGTH, _ECHUNK, _EHEAD_TOO_BIG  the response was not valid
 *   CORIO_HTTP_ETRUNCATED   the connection ended before the response did
 *   CORIO_HTTP_EBODY_TOO_BIG  the body kept in memory passed max_body
 *   CORIO_HTTP_EDECODE      a body coded in a way that cannot be decoded
 *   CORIO_HTTP_EREDIRECTS   more than max_redirects
 *   -ETIMEDOUT              an attempt's deadline (or the task's) passed
 *   -ECANCELED              the task was cancelled
 *   the sink's or body source's own error
 *   -EPERM outside a task, -ENOMEM
 * A failure at a proxy says so, naming it ("proxy http://127.0.0.1:3128 refused the
 * connection"); the errno stays the connection's.
 * After an error, corio_http_client_resp_error(r) says what failed; r's public fields
 * are undefined. A connection goes back to the pool only after a complete response that
 * allows keep-alive; any failure closes it. */
CORIO_HTTP_API int corio_http_client_do(corio_http_client_t *c, const corio_http_client_req_t *req,
                                        corio_http_client_resp_t *r);

/* ---- 4. bodies ------------------------------------------------------------------------ */

/* A sink that writes every piece to the fd *(int *)arg at its current position, through
 * corio_write (so it waits like any await call). Returns 0 or -errno. */
CORIO_HTTP_API int corio_http_sink_fd(void *arg, const void *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif
