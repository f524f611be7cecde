/* What corio-fetch's files share: main.c (command line, setup), run.c (the tasks of a
 * run, the outcome of each request), save.c (-o files), report.c (progress line, summary,
 * JSON), proxy.c (--proxy, --proxy-file, the environment's proxies, their counters). The
 * HTTP work itself is the library's: corio_http_client_do (corio/http.h). One run's state
 * lives in one struct fetch, used on the loop's thread only. */
#ifndef CORIO_FETCH_H
#define CORIO_FETCH_H

#include <corio/corio.h>
#include <corio/http.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define MS          1000000ull
#define SEC         1000000000ull
#define PROGRESS_NS (100 * MS) /* progress line refresh */
#define MAX_CONNS   100000
#define FD_RESERVE  64 /* open files kept for other than connections */
#define USER_AGENT  "corio-fetch/0.2"

/* Latency histogram, log-linear: exact below 2^SUB_BITS ns, then 2^(SUB_BITS-1) buckets per
 * power of two (relative error below 1.6%). */
#define SUB_BITS 7
#define HIST_LEN (((64 - SUB_BITS + 1) << (SUB_BITS - 1)) + (1 << (SUB_BITS - 1)))

/* Why a request failed (it got no complete response). */
enum kind {
    K_REFUSED,     /* nothing listens there */
    K_RESET,       /* the server reset the connection */
    K_TIMEOUT,     /* --timeout or --connect-timeout passed */
    K_PARSE,       /* the response was not valid HTTP/1.x (or its coding not decodable) */
    K_DNS,         /* the name did not resolve */
    K_CLOSED,      /* the server closed the connection before the response ended */
    K_UNREACHABLE, /* no route to the host or network */
    K_URL,         /* a URL (or redirect Location) that cannot be fetched */
    K_REDIRECTS,   /* more than --max-redirects */
    K_SAVE,        /* writing the -o file failed */
    K_TLS,         /* HTTPS could not be set up, or the certificate was refused */
    K_FDS,         /* out of file descriptors (the open-file limit) */
    K_PROXY,       /* a proxy refused the tunnel or the credentials (407) */
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
    const char *method; /* NULL: GET, or POST with --data */
    const char *outdir;
    const char *cacert;
    const char *data; /* --data / --data-file, in memory */
    size_t data_len;
    corio_http_header_t *headers; /* -H */
    size_t nheaders;
    bool follow, json, verbose, quiet, insecure, compressed, no_keepalive, no_resume;
    /* proxy.c: --proxy and --proxy-file URLs; proxy_set: one of them was given (even
     * --proxy ""), so the environment's proxies are not used */
    const char **proxies;
    size_t nproxies;
    bool proxy_set, noproxy_set;
    const char *noproxy;       /* --noproxy */
    unsigned proxy_failures;   /* --proxy-failures; 0: the client's default */
    uint64_t proxy_backoff_ns; /* --proxy-backoff; 0: the client's default */
};

/* A URL as given. */
struct target {
    const char *text;
    unsigned saves; /* -o files made for it: the next collision suffix */
};

/* The outcome of one request (after retries and redirects). */
struct result {
    int status; /* > 0: a complete response */
    int kind;   /* an enum kind, or -1: none */
    bool cancelled;
    unsigned retries, redirects;
    uint64_t body_bytes;
    char detail[600];
};

struct stats {
    uint64_t done, ok, http_errors, errors, retries, redirects;
    uint64_t body_bytes;
    uint64_t status[1000];
    uint64_t kind[K_COUNT];
    uint64_t hist[HIST_LEN];
    uint64_t max_ns;
};

struct fetch;

/* A worker task and what it owns. */
struct worker {
    struct fetch *f;
    corio_task_t *task;
    bool running;
    corio_http_client_resp_t resp; /* reused request after request */
    /* -o: the file being written for the current request */
    int save_fd;
    char save_name[CORIO_HTTP_MAX_FILENAME + 16];
    struct target *save_target;
    int save_err;
};

struct fetch {
    struct options o;
    struct target *targets;
    size_t ntargets;
    corio_http_client_t *client;
    corio_tls_ctx_t *tls; /* NULL: the client makes one at its first https request */
    struct worker *workers;
    unsigned nworkers;
    unsigned conn_cap; /* connections allowed at once (the fd limit may lower it) */
    uint64_t total; /* requests to make; 0: until the deadline */
    uint64_t next;  /* the next request's number */
    bool stop, interrupted, list_mode, progress;
    uint64_t t_start, t_end, deadline;
    int dirfd;
    uint64_t prog_t[10], prog_done[10]; /* progress samples, for the current rate */
    unsigned prog_n;
    struct stats st;
    corio_http_client_stats_t cst; /* the client's, at the end */
    corio_http_proxy_stats_t *proxies; /* each proxy's, at the end (urls our copies) */
    size_t nproxies;
};

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

/* run.c */

/* The run, as the loop's first task: starts the workers (and the progress, deadline and
 * signal tasks) and waits for them. f is set up by main.c. */
void *fetch_main_task(void *arg);

/* save.c */

/* The sink of a request saved with -o: the file is made at the first byte. */
int save_sink(void *arg, const void *data, size_t len);

/* Ends w's file: kept when the response was complete (made empty if no byte came),
 * removed otherwise. Returns 0, or the error of making the empty file. */
int save_end(struct worker *w, bool keep);

/* proxy.c */

/* --proxy URL (checked; "" only sets proxy_set). Returns 0, or -1 with a message. */
int fetch_add_proxy(struct options *o, const char *url);

/* --proxy-file FILE: one URL a line, blank lines and # comments skipped. Returns 0, or -1
 * with a message naming the line. */
int fetch_read_proxy_file(struct options *o, const char *path);

/* Fills co's proxy fields from o, or from the environment when no --proxy or
 * --proxy-file was given. Returns 0, or -1 with a message. */
int fetch_proxy_opts(const struct options *o, corio_http_client_opts_t *co);

/* How many proxies one origin's requests are spread over (for the connection caps). */
size_t fetch_proxy_spread(const struct options *o);

/* Copies the client's per-proxy counters into f (at the end of the run). */
void fetch_save_proxy_stats(struct fetch *f);

/* The summary's proxy lines, and the JSON's "proxies" member. */
void fetch_print_proxies(const struct fetch *f);
void fetch_print_proxies_json(const struct fetch *f);

/* report.c */

void fetch_draw_progress(struct fetch *f, uint64_t now);
void fetch_clear_progress(const struct fetch *f);
void fetch_print_json(const struct fetch *f, double secs);
void fetch_print_summary(const struct fetch *f, double secs);
unsigned fetch_hist_index(uint64_t v);

#endif
