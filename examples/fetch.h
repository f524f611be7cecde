/* fetch.h: the parts of corio-fetch shared by its files: fetch.c (command line, setup,
 * progress line and report), fetch_run.c (the tasks of a run) and fetch_client.c (the
 * connection pool and one request). Not a library interface: one run's state lives in one
 * struct fetch, used on the loop's thread only. */
#ifndef CORIO_EXAMPLES_FETCH_H
#define CORIO_EXAMPLES_FETCH_H

#include <corio/corio.h>
#include <corio/http.h>

#include "http_response.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#define MS              1000000ull
#define SEC             1000000000ull
#define RBUF_SIZE       (16 * 1024) /* one receive, per worker */
#define REQ_MAX         (16 * 1024) /* a request head */
#define MAX_ADDRS       8           /* addresses kept per host name */
#define HOST_BUCKETS    1024        /* the host table's chains */
#define PROGRESS_NS     (100 * MS)  /* progress line refresh */
#define BACKOFF_BASE_NS (100 * MS)  /* first retry delay; doubles each time */
#define BACKOFF_MAX_NS  (5 * SEC)
#define MAX_CONNS       100000
#define USER_AGENT      "corio-fetch/0.1"

/* Latency histogram, log-linear: exact below 2^SUB_BITS ns, then 2^(SUB_BITS-1) buckets per
 * power of two (relative error below 1.6%). */
#define SUB_BITS 7
#define HIST_LEN (((64 - SUB_BITS + 1) << (SUB_BITS - 1)) + (1 << (SUB_BITS - 1)))

/* URLs that parse but that corio-fetch does not fetch: https (it has no TLS) and URLs with
 * userinfo (it sends no credentials). Positive, beside the negative CORIO_HTTP_E* codes. */
enum { FETCH_E_HTTPS = 1, FETCH_E_USERINFO = 2 };

/* Why a request failed (it got no complete response). */
enum kind {
    K_REFUSED,     /* nothing listens there */
    K_RESET,       /* the server reset the connection */
    K_TIMEOUT,     /* --timeout or --connect-timeout passed */
    K_PARSE,       /* the response was not valid HTTP/1.x */
    K_DNS,         /* the name did not resolve */
    K_CLOSED,      /* the server closed the connection before the response ended */
    K_UNREACHABLE, /* no route to the host or network */
    K_URL,         /* a URL (or redirect Location) that cannot be fetched */
    K_REDIRECTS,   /* more than --max-redirects */
    K_SAVE,        /* writing the -o file failed */
    K_OTHER,
    K_COUNT,
};
extern const char *const fetch_kind_names[K_COUNT];

struct options {
    unsigned conns;
    uint64_t requests;    /* -n; 0: each URL once (or unbounded with -d) */
    uint64_t duration_ns; /* -d; 0: none */
    uint64_t timeout_ns;  /* whole attempt; 0: none */
    uint64_t connect_ns;  /* the connect; 0: none */
    unsigned retries;
    unsigned max_redirects;
    const char *method;
    const char *outdir;
    const char **headers;
    size_t nheaders;
    bool follow, json, verbose, quiet;
    bool has_host, has_user_agent, has_accept, has_length; /* -H replaces these */
};

struct conn;

/* One host:port: its idle connections and its resolved addresses. */
struct host {
    struct host *next; /* hash chain */
    char name[CORIO_HTTP_MAX_HOST + 1];
    uint16_t port;
    struct conn *idle; /* most recently used first */
    enum { R_NONE, R_BUSY, R_DONE, R_FAILED } rstate;
    int rerr;               /* with R_FAILED */
    corio_event_t resolved; /* set when a resolution in progress ends */
    unsigned naddrs;
    struct sockaddr_storage addr[MAX_ADDRS];
    socklen_t addrlen[MAX_ADDRS];
};

/* A connection slot: free (fd -1), in use by a worker, or idle in its host's pool. */
struct conn {
    int fd;
    struct host *host;          /* while idle */
    struct conn *next, *prev;   /* the host's idle list, or the free list (next only) */
    struct conn *older, *newer; /* every idle connection, least recently used first */
};

/* A URL as given, parsed once, with its request prepared. */
struct target {
    const char *text;
    corio_http_url_t url;
    int url_err; /* 0, a CORIO_HTTP_E* code, or a FETCH_E_* one */
    struct host *host;
    char *req;
    size_t req_len;
    unsigned saves; /* -o files made for it: the next collision suffix */
};

/* The outcome of one request (after retries and redirects). */
struct result {
    int status; /* > 0: a complete response */
    int kind;   /* an enum kind, or -1: none */
    bool cancelled;
    unsigned retries, redirects;
    uint64_t body_bytes;
    char detail[256];
};

struct fetch;

/* A worker task and what it owns. The send and receive of an exchange are callback-mode
 * operations on send_op/recv_op (the worker waits on `wake`), not await-style calls: a wait
 * on a future under the task's deadline is a timer in the loop's heap, while an await-style
 * call under a deadline carries a linked kernel timeout, which costs ~15% of the client's
 * CPU per request here. The ops and rbuf stay valid until their callbacks have run, even
 * after the worker gave up waiting (it cancels them and drains them before the next use). */
struct worker {
    struct fetch *f;
    corio_loop_t *loop;
    corio_task_t *task;
    bool running;
    char *rbuf;              /* RBUF_SIZE */
    char *sbuf;              /* REQ_MAX: requests after a redirect */
    char *urlbuf[2];         /* CORIO_HTTP_MAX_URL + 1 each: redirect targets, alternately */
    corio_http_url_t url[2]; /* parsed from urlbuf */
    http_resp_t resp;        /* the response being read */
    unsigned tries;          /* retries made for the current URL (reset by a redirect) */
    int save_fd;             /* the -o file being written, or -1 */
    uint64_t save_off;
    char save_name[CORIO_HTTP_MAX_FILENAME + 16];

    /* The exchange in flight (fetch_client.c, "I/O"). */
    corio_op_t send_op, recv_op;
    bool send_busy, recv_busy; /* the op is in flight: its callback has not run */
    bool waiting, draining;    /* the task waits on wake / drained */
    bool recv_done;            /* recv_res holds the result of the last receive */
    int send_err;              /* the send failed: -errno; 0 otherwise */
    int send_fd;
    const char *send_p; /* what is left to send */
    size_t send_left;
    int recv_res;
    corio_future_t wake;    /* a receive ended, or the send failed */
    corio_future_t drained; /* no op is in flight any more */
};

struct stats {
    uint64_t done, ok, http_errors, errors, retries, redirects;
    uint64_t body_bytes, wire_bytes, conns_opened;
    uint64_t status[1000];
    uint64_t kind[K_COUNT];
    uint64_t hist[HIST_LEN];
    uint64_t max_ns;
};

struct fetch {
    struct options o;
    struct target *targets;
    size_t ntargets;
    struct host *hosts[HOST_BUCKETS];
    struct conn *conns, *free_conns;
    struct conn *lru_oldest, *lru_newest;
    struct worker *workers;
    unsigned nworkers;
    uint64_t total; /* requests to make; 0: until the deadline */
    uint64_t next;  /* the next request's number */
    bool stop, interrupted, list_mode, progress, head;
    uint64_t t_start, t_end, deadline;
    int dirfd;
    uint64_t rng;
    uint64_t prog_t[10], prog_done[10]; /* progress samples, for the current rate */
    unsigned prog_n;
    struct stats st;
};

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

/* fetch_client.c */

/* One request to t, with its retries and redirects, by worker w; the outcome in *r
 * (r->cancelled when the worker was cancelled in the middle: no outcome). */
void fetch_request(struct worker *w, struct target *t, struct result *r);

/* Parses URL s into *u (corio_http_url_parse), refusing what corio-fetch cannot fetch.
 * Returns 0, a CORIO_HTTP_E* code or a FETCH_E_* one. */
int fetch_url_parse(const char *s, corio_http_url_t *u);

/* Names an error of fetch_url_parse. */
const char *fetch_url_strerror(int err);

/* Closes every idle connection of the pool. */
void fetch_close_idle(struct fetch *f);

/* The host entry of u, made on first use (a numeric host is resolved right there). NULL if
 * out of memory. */
struct host *fetch_host_get(struct fetch *f, const corio_http_url_t *u);

/* The request head for method and u, with the -H headers of o. Returns its length, or -1
 * if it is longer than cap. */
int fetch_build_request(char *out, size_t cap, const char *method, const corio_http_url_t *u,
                        const struct options *o);

/* fetch_run.c */

/* The run, as the loop's first task: starts the workers (and the progress, deadline and
 * signal tasks), waits for them, closes the idle connections. f is set up by fetch.c. */
void *fetch_main_task(void *arg);

/* fetch.c */

/* Redraws the progress line on stderr. */
void fetch_draw_progress(struct fetch *f, uint64_t now);

#endif
