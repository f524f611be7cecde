/* What corio-fetch's files share: main.c (command line, setup), run.c (the tasks of a
 * run, the outcome of each request), input.c (-i streamed), save.c (-o files), report.c (progress
 * line, summary, JSON), proxy.c (--proxy, --proxy-file, the environment's proxies, their counters).
 * The HTTP work itself is the library's: corio_http_client_do (corio/http.h). One run's state lives
 * in one struct fetch, used on the loop's thread only. */
#ifndef CORIO_FETCH_H
#define CORIO_FETCH_H

#include "backend.h" /* examples/backend.h */
#include "hist.h"

#include <corio/corio.h>
#include <corio/http.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define MS          1000000ull
#define SEC         1000000000ull
#define PROGRESS_NS (100 * MS) /* progress line refresh */
#define MAX_CONNS   100000
#define FD_RESERVE  64 /* open files kept for other than connections */
#define USER_AGENT  "corio-fetch/0.2"

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

/* One --resolve HOST:PORT:ADDR[,ADDR...]. */
struct resolve {
    const char *text; /* as given, for messages */
    char host[CORIO_HTTP_MAX_HOST + 1];
    uint16_t port;     /* 0: any */
    const char *addrs; /* within text */
};

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
    const char *input; /* -i FILE ('-': stdin); NULL: none */
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
    double rate;               /* --rate: requests per second, open loop; 0: closed loop */
    const char *latency_csv;   /* --latency-csv FILE; NULL: none */
    /* Politeness and names: 0 for the client's defaults */
    unsigned per_host;           /* --per-host: connections per origin; 0: -c */
    double host_rate;            /* --host-rate: requests per second per host; 0: no cap */
    uint64_t retry_after_max_ns; /* --retry-after-max */
    uint64_t dns_ttl_ns;         /* --dns-ttl (0 s is kept as 1 ns: never reused) */
    struct resolve *resolves;    /* --resolve, split and checked, applied in order */
    size_t nresolves;
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
    uint64_t connect_ns; /* of the final attempt; 0 when it reused a connection */
    char detail[600];
};

struct stats {
    uint64_t done, ok, http_errors, errors, retries, redirects;
    uint64_t body_bytes;
    uint64_t status[1000];
    uint64_t kind[K_COUNT];
    struct hist lat;      /* latency of each response (4xx/5xx too) */
    struct hist lat_excl; /* the same less the time its final attempt spent connecting */
};

struct fetch;

/* A worker task and what it owns. */
struct worker {
    struct fetch *f;
    corio_task_t *task;
    bool running;
    uint64_t requests;             /* recorded: how evenly the connections were served */
    corio_http_client_resp_t resp; /* reused request after request */
    /* -o: the file being written for the current request */
    int save_fd;
    char save_name[CORIO_HTTP_MAX_FILENAME + 16];
    struct target *save_target;
    int save_err;
    /* -i streamed: the current URL, copied out of the input (grown to the longest) */
    struct target target;
    char *url;
    size_t url_cap;
};

struct fetch {
    struct options o;
    struct target *targets; /* the command line's (and -i's when loaded whole) */
    size_t ntargets;
    struct input *input; /* -i streamed: its URLs after the targets; NULL: none */
    corio_http_client_t *client;
    corio_tls_ctx_t *tls; /* NULL: the client makes one at its first https request */
    struct worker *workers;
    unsigned nworkers;
    unsigned conn_cap; /* connections allowed at once (the fd limit may lower it) */
    uint64_t total;    /* requests to make; 0: until the deadline */
    uint64_t next;     /* the next request's number */
    bool stop, interrupted, list_mode, progress;
    uint64_t t_start, t_end, deadline;
    double rate_period_ns; /* --rate: 1e9 / rate (rate.c) */
    uint64_t rate_slots;   /* --rate: requests made so far (the schedule's slots used) */
    FILE *latency_csv;     /* --latency-csv, opened before the run */
    int dirfd;
    uint64_t prog_t[10], prog_done[10]; /* progress samples, for the current rate */
    unsigned prog_n;
    struct stats st;
    corio_http_client_stats_t cst;     /* the client's, at the end */
    corio_http_proxy_stats_t *proxies; /* each proxy's, at the end (urls our copies) */
    size_t nproxies;
    struct backend_info backend; /* the loop's: io_uring, or epoll and why (the JSON) */
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

/* input.c */

struct input;

/* Opens -i's FILE ('-': stdin) for streaming, before the run. Returns 0, or -1 with a
 * message naming the file. */
int input_open(struct input **out, const char *path);
void input_close(struct input *in);

/* Inside a worker: copies the next URL into w->target (its own buffer, so nothing of the
 * input is kept per request). Returns 1 for a URL, 2 for a line that is no URL (too long:
 * w->target.text names FILE:LINE, why says what is wrong), 0 when no more are to be taken:
 * the end, a read error, or the task was cancelled. May park the task for a read. */
int input_next(struct input *in, struct worker *w, char *why, size_t why_len);

/* After the run: true, with a message, when reading the input failed midway. */
bool input_failed(const struct input *in);

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
/* rate.c */

/* When request i is due under --rate: the run's start + i * the period. */
uint64_t rate_due(const struct fetch *f, uint64_t i);

/* Inside a worker: sets *due to request i's due time and sleeps until it, when it is ahead.
 * Returns 0 to make the request, 1 when it falls at or past the -d deadline (the run is
 * over for this worker), or the sleep's error (-ECANCELED: the run was stopped). */
int rate_wait(struct fetch *f, uint64_t i, uint64_t *due);

/* The requests completed per second over the schedule's window: from the first due time to
 * the due time of the first slot not made or the run's end, whichever is later. */
double rate_achieved(const struct fetch *f);

/* report.c */

void fetch_draw_progress(struct fetch *f, uint64_t now);
void fetch_clear_progress(const struct fetch *f);
void fetch_print_json(const struct fetch *f, double secs);
void fetch_print_summary(const struct fetch *f, double secs);

/* spectrum.c */

/* Writes st.lat's percentile spectrum to f->latency_csv and closes it. Returns 0, or -1
 * with a message. */
int fetch_write_latency_csv(struct fetch *f);

#endif
