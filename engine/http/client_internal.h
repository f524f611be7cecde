/* What the HTTP client's files share (engine/http/client.c: a request, its redirects and
 * retries; pool.c: origins, the connection pool, its caps and waiters, connecting;
 * decode.c: Content-Encoding). Nothing here is visible outside libcorio-http. */
#ifndef CORIO_HTTP_CLIENT_INTERNAL_H
#define CORIO_HTTP_CLIENT_INTERNAL_H

#include "corio/http.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <zlib.h>

#define HC_MAX_ADDRS 8 /* addresses kept per origin */
#define HC_BUCKETS   256
/* RFC 8305's recommended Connection Attempt Delay */
#define HC_ATTEMPT_DELAY_NS (250 * 1000000ull)

struct hc_conn;
struct hc_pin;
struct hc_proxy;   /* proxy.h */
struct hc_proxies; /* proxy.h */

/* One origin (scheme, host, port) as reached directly or through one proxy: its idle
 * connections and its resolved addresses (unused through a proxy: the proxy's own origin
 * holds those). */
struct hc_origin {
    struct hc_origin *next; /* hash chain */
    struct hc_proxy *proxy; /* the proxy its connections go through; NULL: direct */
    bool https;
    uint16_t port;
    char host[CORIO_HTTP_MAX_HOST + 1];
    struct hc_conn *idle; /* most recently used first */
    unsigned nopen;       /* connections open or being opened */
    enum { HC_R_NONE, HC_R_BUSY, HC_R_DONE, HC_R_FAILED } rstate;
    int rerr;               /* with HC_R_FAILED */
    corio_event_t resolved; /* set when a resolution in progress ends */
    bool pinned;            /* numeric, or given by corio_http_client_add_resolve: never
                             * looked up */
    uint64_t resolved_at;   /* CLOCK_MONOTONIC of the answer (DONE or FAILED): dns_ttl_ns */
    unsigned naddrs;
    struct sockaddr_storage addr[HC_MAX_ADDRS];
    socklen_t addrlen[HC_MAX_ADDRS];
};

/* A connection: in use by one request, or idle in its origin's pool. */
struct hc_conn {
    struct hc_origin *o;
    int fd;
    bool tls_on;
    corio_tls_t tls;
    uint64_t idle_since;           /* hc_now(), while idle */
    uint64_t connect_ns;           /* how long connecting and the handshake took */
    struct hc_conn *next, *prev;   /* the origin's idle list */
    struct hc_conn *older, *newer; /* every idle connection, least recently used first */
};

/* A task waiting for a connection slot, on its own stack. */
struct hc_waiter {
    struct hc_waiter *next, *prev;
    struct hc_origin *o;
    corio_event_t ev;
    bool queued;
    struct hc_conn *conn; /* granted: a connection handed over */
    bool slot;            /* granted: a slot taken on the waiter's behalf */
};

struct corio_http_client {
    corio_http_client_opts_t o; /* with the defaults filled in; strings are ours */
    char *ca_file, *user_agent;
    corio_tls_ctx_t *tls; /* o.tls, or one made at the first https request */
    bool own_tls;
    struct hc_origin *origins[HC_BUCKETS];
    struct hc_conn *lru_oldest, *lru_newest;
    unsigned nopen, nidle;
    struct hc_waiter *wait_head, *wait_tail;
    unsigned active;     /* requests in progress */
    uint64_t rng;        /* backoff jitter */
    struct hc_pin *pins; /* corio_http_client_add_resolve's (pool.c) */
    /* proxy.c's (NULL: no proxy configured) */
    struct hc_proxies *proxies;
    corio_http_client_stats_t st;
    /* polite.c's: host_rate and Retry-After per host name (NULL until first needed) */
    struct hc_hosts *hosts;
};

/* Error sentences, into a caller's buffer. */
void hc_say(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* CLOCK_MONOTONIC_COARSE in nanoseconds: for the ages of idle connections. */
uint64_t hc_now(void);

/* ---- pool.c -------------------------------------------------------------------------- */

/* The origin of (https, host, port) through proxy (NULL: direct), made on first use.
 * NULL when out of memory. */
struct hc_origin *hc_origin_get(corio_http_client_t *c, bool https, const char *host, uint16_t port,
                                struct hc_proxy *proxy);

/* Inside a task: a connection to o for one attempt, under the task's deadline: an idle
 * one (*reused true) or a new one (connected, TLS set up), waiting for a slot while the
 * caps allow none. Returns it, or NULL with *err (and why) set. */
struct hc_conn *hc_pool_get(corio_http_client_t *c, struct hc_origin *o, bool *reused, int *err,
                            char *why, size_t why_len);

/* Gives back a connection after a complete exchange that allows keep-alive. */
void hc_pool_put(corio_http_client_t *c, struct hc_conn *conn);

/* Closes a connection that is not in the pool (a failure, or "Connection: close"). */
void hc_conn_close(corio_http_client_t *c, struct hc_conn *conn);

/* Closes every idle connection. */
void hc_pool_close_idle(corio_http_client_t *c);

/* Frees every origin and pinned address (no connection may be open). */
void hc_origins_free(corio_http_client_t *c);

/* Reads up to len bytes from conn (> 0, 0 at the end, or -errno / a TLS code). */
ssize_t hc_conn_read(struct hc_conn *conn, void *buf, size_t len);

/* Writes all len bytes to conn. Returns 0 or -errno / a TLS code. */
int hc_conn_write(struct hc_conn *conn, const void *buf, size_t len);

/* ---- connect.c ------------------------------------------------------------------------ */

/* Inside a task: a socket connected to one of the n addresses (RFC 8305: families
 * interleaved, a new attempt every HC_ATTEMPT_DELAY_NS or at once after a failure, the
 * first to connect kept), under the task's deadline. Returns the fd, or the first
 * attempt's error (-ETIMEDOUT/-ECANCELED when the deadline or a cancel came first). */
int hc_connect(const struct sockaddr_storage *addr, const socklen_t *len, unsigned n);

/* ---- decode.c ------------------------------------------------------------------------- */

/* Decoding one body's Content-Encoding, writing the decoded bytes through a callback. */
struct hc_decoder {
    z_stream z;
    bool active;          /* inflate is set up */
    bool done;            /* the coded stream ended */
    bool fed;             /* some coded input came */
    unsigned char hdr[2]; /* deflate: the first two bytes, which tell zlib from raw */
    unsigned hdr_len;
    corio_http_coding_t coding;
    unsigned char *out; /* the decoded bytes, out_cap at a time */
    size_t out_cap;
};

/* Prepares d for a body in `coding` (IDENTITY or OTHER: passed through as is). out is a
 * buffer of out_cap bytes for decoded data. Returns 0 or -ENOMEM. */
int hc_decoder_start(struct hc_decoder *d, corio_http_coding_t coding, unsigned char *out,
                     size_t out_cap);

/* Decodes len bytes of the coded body, calling emit(arg, data, n) for the decoded bytes.
 * Returns 0, emit's error, or CORIO_HTTP_EDECODE (why says how). */
int hc_decoder_feed(struct hc_decoder *d, const void *data, size_t len,
                    int (*emit)(void *arg, const void *data, size_t len), void *arg, char *why,
                    size_t why_len);

/* The coded body has ended: CORIO_HTTP_EDECODE if the coded stream had not (why says so),
 * else 0. */
int hc_decoder_finish(struct hc_decoder *d, char *why, size_t why_len);

/* Releases d's inflate state. */
void hc_decoder_end(struct hc_decoder *d);

/* ---- polite.c: host_rate and Retry-After -------------------------------------------------- */

#include <time.h>

struct hc_hosts;

/* Inside a task, before an attempt to host (the URL's, never a proxy's): waits for the
 * host's next slot under host_rate and for the end of a Retry-After block on it, under the
 * task's own deadline and cancel. Returns 0, or -ETIMEDOUT, -ECANCELED or -ENOMEM with why
 * set. */
int hc_polite_wait(corio_http_client_t *c, const char *host, char *why, size_t why_len);

/* Blocks host for delay_ns from now for every request of c (a longer block already set
 * stays). */
void hc_polite_block(corio_http_client_t *c, const char *host, uint64_t delay_ns);

/* Frees the host table. */
void hc_hosts_free(corio_http_client_t *c);

/* Parses a Retry-After value of len bytes (RFC 9110 section 10.2.3: delta-seconds, or an
 * HTTP-date in any of its three forms) as seen at now (time(), for a date): *delay_ns, 0
 * for a date past; delta-seconds too large to count give UINT64_MAX. Returns 0, or
 * -EINVAL for anything else. */
int hc_retry_after_parse(const char *v, size_t len, time_t now, uint64_t *delay_ns);

#endif
