/* corio-fetch: a concurrent HTTP/1.1 client and load generator on corio coroutines.
 *
 *   corio-fetch [options] URL...          fetch each URL once, report every failure
 *   corio-fetch -n 100000 -c 256 URL      load: 100000 requests over 256 connections
 *   corio-fetch -d 10 -c 64 URL           load for 10 seconds
 *
 * How it works. -c N worker tasks each run one request at a time (no pipelining) and take
 * the next request from a shared counter; request i goes to URL i mod (number of URLs).
 * Connections live in a keep-alive pool per host:port; there are never more than N, so a
 * worker that needs a connection to a host with none idle either takes a free slot or
 * closes the least recently used idle connection of another host. A request goes out with
 * one send of bytes prepared when the URL was read; the response is received into the
 * worker's buffer and parsed in place (http_response.c), body bytes written to -o files or
 * dropped. Nothing is allocated per request. Names are resolved once per host on the
 * executor (corio_getaddrinfo); numeric hosts never touch the resolver.
 *
 * Deadlines come from corio_timeout_begin: one over the whole attempt (connect, send,
 * response), and one inside it over the connect. The send and the receives of an exchange
 * are callback-mode operations, in flight together, that the worker waits for through a
 * future (fetch_client.c, "I/O"); under a deadline that wait is a timer in the loop's heap,
 * as an await-style call's is. A reused connection that the server had
 * closed meanwhile (no byte of a response came back) is replaced by another at once, which
 * is not counted as a retry; --retries retries connection errors and 5xx responses after an
 * exponential backoff. Every failure is classified (refused, reset, timeout, parse, dns,
 * closed, ...), counted, and printed per URL when URLs are fetched once or with -v.
 *
 * Output: a progress line on stderr when it is a terminal (refreshed 10 times a second by
 * a task of its own), then a summary on stdout, or with --json one JSON object. Latencies
 * go to a log-linear histogram (no per-request memory). Exit status: 0 when every request
 * got a response below 400, 1 otherwise, 2 for bad usage, 130 when interrupted (SIGINT or
 * SIGTERM end the run early and still print the summary).
 *
 * Files: this one holds the command line, setup, progress line and report; fetch_run.c the
 * tasks of a run; fetch_client.c the pool, connecting and one request; fetch.h what they
 * share; http_response.c the response parser; libcorio-http (corio/http.h) URL parsing,
 * redirects and -o file names. */
#include "fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- progress and report --------------------------------------------------------------- */

static double hist_value(unsigned idx) /* the middle of bucket idx, in ns */
{
    if (idx < (1u << SUB_BITS))
        return idx;
    unsigned shift = (idx >> (SUB_BITS - 1)) - 1;
    uint64_t mant = idx - ((uint64_t)shift << (SUB_BITS - 1));
    return (double)(mant << shift) + (double)(1ull << shift) / 2;
}

static double percentile_ms(const struct stats *st, double p)
{
    uint64_t n = st->ok + st->http_errors;
    if (n == 0)
        return 0;
    uint64_t rank = (uint64_t)ceil(p * (double)n), seen = 0;
    if (rank < 1)
        rank = 1;
    for (unsigned i = 0; i < HIST_LEN; i++) {
        seen += st->hist[i];
        if (seen >= rank) {
            double v = hist_value(i);
            return (v > (double)st->max_ns ? (double)st->max_ns : v) / 1e6;
        }
    }
    return (double)st->max_ns / 1e6;
}

static void human_count(char *out, size_t n, double v, const char *unit)
{
    if (v >= 1e9)
        snprintf(out, n, "%.2f G%s", v / 1e9, unit);
    else if (v >= 1e6)
        snprintf(out, n, "%.2f M%s", v / 1e6, unit);
    else if (v >= 1e4)
        snprintf(out, n, "%.1f k%s", v / 1e3, unit);
    else
        snprintf(out, n, "%.0f %s", v, unit);
}

void fetch_draw_progress(struct fetch *f, uint64_t now)
{
    uint64_t done = f->st.done, errors = f->st.errors + f->st.http_errors;
    double elapsed = (double)(now - f->t_start) / 1e9;
    /* The rate over the last second: ten samples of (time, done), the oldest replaced. */
    unsigned slot = f->prog_n % 10;
    uint64_t t_then = f->prog_n >= 10 ? f->prog_t[slot] : f->t_start;
    uint64_t base = f->prog_n >= 10 ? f->prog_done[slot] : 0;
    f->prog_t[slot] = now;
    f->prog_done[slot] = done;
    f->prog_n++;
    double span = (double)(now - t_then);
    double rate = span > 0 ? (double)(done - base) * 1e9 / span : 0;
    double frac;
    char count[64];
    if (f->total != 0) {
        frac = (double)done / (double)f->total;
        snprintf(count, sizeof count, "%llu/%llu", (unsigned long long)done,
                 (unsigned long long)f->total);
    } else {
        frac = elapsed / ((double)f->o.duration_ns / 1e9);
        snprintf(count, sizeof count, "%llu done", (unsigned long long)done);
    }
    if (frac > 1)
        frac = 1;
    char bar[31];
    int fill = (int)(frac * 30);
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    char rs[32];
    human_count(rs, sizeof rs, rate, "req/s");
    fprintf(stderr, "\r[%s] %s  %s  %llu errors  %.1f s\033[K", bar, count, rs,
            (unsigned long long)errors, elapsed);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void print_json(const struct fetch *f, double secs)
{
    const struct stats *st = &f->st;
    printf("{\"requests\":%llu,\"ok\":%llu,\"http_errors\":%llu,\"errors\":%llu,",
           (unsigned long long)st->done, (unsigned long long)st->ok,
           (unsigned long long)st->http_errors, (unsigned long long)st->errors);
    printf("\"seconds\":%.3f,\"rps\":%.1f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
           "\"max_ms\":%.3f,",
           secs, secs > 0 ? (double)st->done / secs : 0, percentile_ms(st, 0.50),
           percentile_ms(st, 0.90), percentile_ms(st, 0.99), (double)st->max_ns / 1e6);
    printf("\"bytes\":%llu,\"wire_bytes\":%llu,\"connections\":%llu,\"retries\":%llu,"
           "\"redirects\":%llu,\"client_cpu_sec\":%.3f,\"interrupted\":%s,",
           (unsigned long long)st->body_bytes, (unsigned long long)st->wire_bytes,
           (unsigned long long)st->conns_opened, (unsigned long long)st->retries,
           (unsigned long long)st->redirects, cpu_seconds(), f->interrupted ? "true" : "false");
    printf("\"status\":{");
    const char *sep = "";
    for (int s = 0; s < 1000; s++)
        if (st->status[s] != 0) {
            printf("%s\"%d\":%llu", sep, s, (unsigned long long)st->status[s]);
            sep = ",";
        }
    printf("},\"error_kinds\":{");
    for (int k = 0; k < K_COUNT; k++)
        printf("%s\"%s\":%llu", k ? "," : "", fetch_kind_names[k], (unsigned long long)st->kind[k]);
    printf("}}\n");
}

static void print_summary(const struct fetch *f, double secs)
{
    const struct stats *st = &f->st;
    char bytes[32], rate[32];
    human_count(bytes, sizeof bytes, (double)st->body_bytes, "B");
    human_count(rate, sizeof rate, secs > 0 ? (double)st->done / secs : 0, "req/s");
    printf("%llu requests in %.2f s, %s, %s of bodies%s\n", (unsigned long long)st->done, secs,
           rate, bytes, f->interrupted ? " (interrupted)" : "");
    printf("  responses: %llu", (unsigned long long)(st->ok + st->http_errors));
    const char *sep = " (";
    for (int s = 0; s < 1000; s++)
        if (st->status[s] != 0) {
            printf("%s%d: %llu", sep, s, (unsigned long long)st->status[s]);
            sep = ", ";
        }
    printf("%s\n", *sep == ',' ? ")" : "");
    printf("  errors:    %llu", (unsigned long long)st->errors);
    sep = " (";
    for (int k = 0; k < K_COUNT; k++)
        if (st->kind[k] != 0) {
            printf("%s%s: %llu", sep, fetch_kind_names[k], (unsigned long long)st->kind[k]);
            sep = ", ";
        }
    printf("%s\n", *sep == ',' ? ")" : "");
    if (st->ok + st->http_errors > 0)
        printf("  latency:   p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms\n",
               percentile_ms(st, 0.50), percentile_ms(st, 0.90), percentile_ms(st, 0.99),
               (double)st->max_ns / 1e6);
    printf("  connections opened: %llu, retries: %llu, redirects followed: %llu\n",
           (unsigned long long)st->conns_opened, (unsigned long long)st->retries,
           (unsigned long long)st->redirects);
}

/* ---- setup ---------------------------------------------------------------------------------- */

static bool token_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool is_token(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!token_char((unsigned char)s[i]))
            return false;
    return true;
}

static int usage(const char *why)
{
    if (why != NULL)
        fprintf(stderr, "corio-fetch: %s\n", why);
    fprintf(why != NULL ? stderr : stdout,
            "usage: corio-fetch [options] URL...   (or -i FILE, one URL a line; -i - for stdin)\n"
            "  -c, --connections N   concurrent connections (default 16)\n"
            "  -n, --requests N      make N requests, cycling through the URLs\n"
            "  -d, --duration S      make requests for S seconds\n"
            "  -i, --input FILE      read URLs from FILE ('-': standard input)\n"
            "  -o, --output DIR      save bodies in DIR (names derived from the URLs)\n"
            "  -X, --method M        request method (default GET)\n"
            "  -I, --head            HEAD requests\n"
            "  -H, --header 'N: V'   add a request header (repeatable)\n"
            "  -L, --follow          follow redirects\n"
            "      --max-redirects N at most N redirects per request (default 10)\n"
            "      --timeout S       deadline per attempt: connect, send, response (default 30)\n"
            "      --connect-timeout S  deadline for connecting (default: --timeout)\n"
            "      --retries N       retry connection errors and 5xx N times (default 0)\n"
            "      --json            print one JSON object of results on stdout\n"
            "  -v, --verbose         print every request's outcome on stderr\n"
            "  -q, --quiet           no progress line\n"
            "  -h, --help            this help\n");
    return why != NULL ? 2 : 0;
}

static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    if (s == NULL || *s < '0' || *s > '9')
        return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' || errno != 0 || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_seconds(const char *s, bool zero_ok, uint64_t *ns)
{
    char *end;
    errno = 0;
    if (s == NULL || *s == '\0')
        return false;
    double v = strtod(s, &end);
    if (*end != '\0' || errno != 0 || !(v >= 0) || v > 1e6 || (!zero_ok && v == 0))
        return false;
    *ns = (uint64_t)(v * 1e9);
    return zero_ok || *ns > 0;
}

static bool header_named(const char *h, const char *name)
{
    size_t n = strlen(name);
    return strncasecmp(h, name, n) == 0 && h[n] == ':';
}

/* Appends a URL to the list (grown by doubling; the strings are the caller's). */
static int add_url(const char ***urls, size_t *n, size_t *cap, const char *u)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        const char **p = realloc(*urls, nc * sizeof *p);
        if (p == NULL)
            return -1;
        *urls = p;
        *cap = nc;
    }
    (*urls)[(*n)++] = u;
    return 0;
}

static int read_urls(const char *path, const char ***urls, size_t *n, size_t *cap)
{
    FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (in == NULL) {
        fprintf(stderr, "corio-fetch: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    int rc = 0;
    while ((len = getline(&line, &lcap, in)) >= 0) {
        char *s = line, *e = line + len;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (s == e || *s == '#')
            continue;
        char *u = strndup(s, (size_t)(e - s));
        if (u == NULL || add_url(urls, n, cap, u) < 0) {
            free(u);
            fprintf(stderr, "corio-fetch: out of memory reading %s\n", path);
            rc = -1;
            break;
        }
    }
    free(line);
    if (in != stdin)
        fclose(in);
    return rc;
}

static bool is_opt(const char *a, const char *short_name, const char *long_name)
{
    return (short_name != NULL && strcmp(a, short_name) == 0) || strcmp(a, long_name) == 0;
}

/* Parses the command line into f->o and the URL list. Returns -1 to go on, or an exit
 * status. */
static int parse_args(int argc, char **argv, struct fetch *f, const char ***urls, size_t *nurls)
{
    struct options *o = &f->o;
    *o =
        (struct options){.conns = 16, .timeout_ns = 30 * SEC, .max_redirects = 10, .method = "GET"};
    bool connect_set = false, no_more_flags = false;
    size_t cap = 0;
    static const char *hdrs[256];
    o->headers = hdrs;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        char flag[40];
        if (no_more_flags || a[0] != '-' || a[1] == '\0') {
            if (add_url(urls, nurls, &cap, a) < 0)
                return usage("out of memory");
            continue;
        }
        if (strcmp(a, "--") == 0) {
            no_more_flags = true;
            continue;
        }
        /* --name=value is --name value. */
        const char *eq = a[1] == '-' ? strchr(a, '=') : NULL;
        if (eq != NULL && (size_t)(eq - a) < sizeof flag) {
            memcpy(flag, a, (size_t)(eq - a));
            flag[eq - a] = '\0';
            a = flag;
            v = eq + 1;
        }
#define IS(short_, long_) is_opt(a, short_, long_)
#define VALUE()                                                                                    \
    do {                                                                                           \
        took = true;                                                                               \
        if (v == NULL && i + 1 < argc)                                                             \
            v = argv[++i];                                                                         \
        if (v == NULL) {                                                                           \
            snprintf(why, sizeof why, "%s needs a value", a);                                      \
            return usage(why);                                                                     \
        }                                                                                          \
    } while (0)
        char why[300];
        uint64_t n;
        bool took = false;
        if (IS("-h", "--help")) {
            return usage(NULL);
        } else if (IS("-c", "--connections")) {
            VALUE();
            if (!parse_u64(v, 1, MAX_CONNS, &n))
                return usage("-c needs a number from 1 to 100000");
            o->conns = (unsigned)n;
        } else if (IS("-n", "--requests")) {
            VALUE();
            if (!parse_u64(v, 1, UINT64_MAX / 2, &o->requests))
                return usage("-n needs a positive number");
        } else if (IS("-d", "--duration")) {
            VALUE();
            if (!parse_seconds(v, false, &o->duration_ns))
                return usage("-d needs a positive number of seconds");
        } else if (IS("-i", "--input")) {
            VALUE();
            if (read_urls(v, urls, nurls, &cap) < 0)
                return 1;
        } else if (IS("-o", "--output")) {
            VALUE();
            o->outdir = v;
        } else if (IS("-X", "--method")) {
            VALUE();
            if (!is_token(v, strlen(v)) || strlen(v) > 32)
                return usage("--method needs a method name (a token such as GET)");
            o->method = v;
        } else if (IS("-I", "--head")) {
            o->method = "HEAD";
        } else if (IS("-H", "--header")) {
            VALUE();
            const char *colon = strchr(v, ':');
            if (colon == NULL || !is_token(v, (size_t)(colon - v)) || strpbrk(v, "\r\n") != NULL) {
                snprintf(why, sizeof why, "-H '%.200s' is not 'Name: value'", v);
                return usage(why);
            }
            if (o->nheaders == sizeof hdrs / sizeof hdrs[0])
                return usage("too many -H headers (256 at most)");
            hdrs[o->nheaders++] = v;
            o->has_host |= header_named(v, "host");
            o->has_user_agent |= header_named(v, "user-agent");
            o->has_accept |= header_named(v, "accept");
            o->has_length |= header_named(v, "content-length");
        } else if (IS("-L", "--follow")) {
            o->follow = true;
        } else if (IS(NULL, "--max-redirects")) {
            VALUE();
            if (!parse_u64(v, 0, 100, &n))
                return usage("--max-redirects needs a number from 0 to 100");
            o->max_redirects = (unsigned)n;
        } else if (IS(NULL, "--timeout")) {
            VALUE();
            if (!parse_seconds(v, true, &o->timeout_ns))
                return usage("--timeout needs a number of seconds (0: none)");
        } else if (IS(NULL, "--connect-timeout")) {
            VALUE();
            if (!parse_seconds(v, true, &o->connect_ns))
                return usage("--connect-timeout needs a number of seconds (0: none)");
            connect_set = true;
        } else if (IS(NULL, "--retries")) {
            VALUE();
            if (!parse_u64(v, 0, 100, &n))
                return usage("--retries needs a number from 0 to 100");
            o->retries = (unsigned)n;
        } else if (IS(NULL, "--json")) {
            o->json = true;
        } else if (IS("-v", "--verbose")) {
            o->verbose = true;
        } else if (IS("-q", "--quiet")) {
            o->quiet = true;
        } else {
            snprintf(why, sizeof why, "unknown option '%.200s'", argv[i]);
            return usage(why);
        }
        if (eq != NULL && !took) {
            snprintf(why, sizeof why, "%s takes no value", a);
            return usage(why);
        }
#undef IS
#undef VALUE
    }
    if (!connect_set)
        o->connect_ns = o->timeout_ns;
    if (*nurls == 0)
        return usage("no URL given");
    return -1;
}

/* Parses every URL and prepares its request. Returns 0, or -1 (out of memory). */
static int prepare_targets(struct fetch *f, const char **urls, size_t n)
{
    f->targets = calloc(n, sizeof *f->targets);
    char *buf = malloc(REQ_MAX);
    if (f->targets == NULL || buf == NULL) {
        free(buf);
        return -1;
    }
    f->ntargets = n;
    for (size_t i = 0; i < n; i++) {
        struct target *t = &f->targets[i];
        t->text = urls[i];
        t->url_err = fetch_url_parse(urls[i], &t->url);
        if (t->url_err != 0)
            continue;
        t->host = fetch_host_get(f, &t->url);
        int len = fetch_build_request(buf, REQ_MAX, f->o.method, &t->url, &f->o);
        if (len < 0) {
            t->url_err = CORIO_HTTP_EURL; /* too long for a request */
            continue;
        }
        t->req = malloc((size_t)len);
        if (t->host == NULL || t->req == NULL) {
            free(buf);
            return -1;
        }
        memcpy(t->req, buf, (size_t)len);
        t->req_len = (size_t)len;
    }
    free(buf);
    return 0;
}

static int prepare_workers(struct fetch *f)
{
    f->conns = calloc(f->nworkers, sizeof *f->conns);
    f->workers = calloc(f->nworkers, sizeof *f->workers);
    if (f->conns == NULL || f->workers == NULL)
        return -1;
    for (unsigned i = 0; i < f->nworkers; i++) {
        f->conns[i].fd = -1;
        f->conns[i].next = f->free_conns;
        f->free_conns = &f->conns[i];
        struct worker *w = &f->workers[i];
        w->f = f;
        w->save_fd = -1;
        w->rbuf = malloc(RBUF_SIZE);
        if (w->rbuf == NULL)
            return -1;
        /* Redirect buffers only when redirects are followed. */
        if (f->o.follow) {
            w->sbuf = malloc(REQ_MAX);
            w->urlbuf[0] = malloc(CORIO_HTTP_MAX_URL + 1);
            w->urlbuf[1] = malloc(CORIO_HTTP_MAX_URL + 1);
            if (w->sbuf == NULL || w->urlbuf[0] == NULL || w->urlbuf[1] == NULL)
                return -1;
        }
    }
    return 0;
}

static int open_outdir(struct fetch *f)
{
    f->dirfd = -1;
    if (f->o.outdir == NULL)
        return 0;
    if (mkdir(f->o.outdir, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "corio-fetch: cannot create %s: %s\n", f->o.outdir, strerror(errno));
        return -1;
    }
    f->dirfd = open(f->o.outdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (f->dirfd < 0) {
        fprintf(stderr, "corio-fetch: cannot open %s: %s\n", f->o.outdir, strerror(errno));
        return -1;
    }
    return 0;
}

/* Each connection is an fd: raise the soft limit towards the hard one when -c needs it. */
static void raise_fd_limit(unsigned conns)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)conns + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    static struct fetch fetch;
    struct fetch *f = &fetch;
    static const char **urls; /* static: reachable until exit, like everything in fetch */
    size_t nurls = 0;
    int rc = parse_args(argc, argv, f, &urls, &nurls);
    if (rc >= 0)
        return rc;

    f->list_mode = f->o.requests == 0 && f->o.duration_ns == 0;
    f->total = f->list_mode ? nurls : f->o.requests;
    f->head = strcmp(f->o.method, "HEAD") == 0;
    f->nworkers = f->o.conns;
    if (f->total != 0 && f->total < f->nworkers)
        f->nworkers = (unsigned)f->total;
    f->progress = !f->o.quiet && isatty(STDERR_FILENO);
    f->rng = (uint64_t)now_ns() | 1;
    raise_fd_limit(f->nworkers);
    if (open_outdir(f) < 0)
        return 1;
    if (prepare_targets(f, urls, nurls) < 0 || prepare_workers(f) < 0) {
        fprintf(stderr, "corio-fetch: out of memory\n");
        return 1;
    }

    /* SIGINT and SIGTERM are taken by a task (corio_signal_wait): block them first. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

    /* Room for every worker's operations (a send and a receive) in one submission. */
    unsigned entries = 256;
    while (entries < 2 * f->nworkers + 64 && entries < 32768)
        entries *= 2;
    corio_loop_opts_t lo = {.entries = entries};
    corio_loop_t *loop;
    rc = corio_loop_new(&loop, &lo);
    if (rc < 0) {
        fprintf(stderr, "corio-fetch: %s\n",
                rc == -EPERM || rc == -ENOSYS ? corio_loop_setup_hint(rc) : corio_strerror(rc));
        return 1;
    }
    rc = corio_spawn(loop, fetch_main_task, f, NULL);
    if (rc == 0)
        rc = corio_loop_run(loop);
    corio_loop_free(loop);
    if (rc < 0) {
        fprintf(stderr, "corio-fetch: %s\n", corio_strerror(rc));
        return 1;
    }

    double secs = (double)(f->t_end - f->t_start) / 1e9;
    if (f->o.json)
        print_json(f, secs);
    else
        print_summary(f, secs);
    fflush(stdout);
    if (f->interrupted)
        return 130;
    bool all_done = f->total == 0 || f->st.done == f->total;
    return f->st.errors == 0 && f->st.http_errors == 0 && all_done ? 0 : 1;
}
