/* corio-fetch: a concurrent HTTP/1.1 and HTTPS client and load generator, a thin program
 * over libcorio-http's client (corio/http_client.h).
 *
 *   corio-fetch [options] URL...          fetch each URL once, report every failure
 *   corio-fetch -n 100000 -c 256 URL      load: 100000 requests over 256 connections
 *   corio-fetch -d 10 -c 64 URL           load for 10 seconds
 *
 * How it works. -c N worker tasks each run one request at a time and take the next
 * request from a shared counter; request i goes to URL i mod (number of URLs). The
 * client keeps connections alive in one pool per origin that every worker draws from,
 * with at most N connections per origin (and N per origin in total), so a run over
 * several hosts keeps its connections instead of opening one per request. HTTPS verifies
 * certificates against the system store (--cacert FILE, or -k to skip, with a warning);
 * sessions are resumed. Deadlines: --timeout over each attempt (connect, send, response),
 * --connect-timeout over the connect and handshake. --retries retries connection errors
 * and 5xx responses of idempotent requests after an exponential backoff; a pooled
 * connection the server had closed meanwhile is replaced at once, uncounted. -L follows
 * redirects, never carrying Authorization, Cookie or Proxy-Authorization (nor -H Host) to
 * another origin. Every failure is classified (refused, reset, timeout, parse, dns,
 * closed, tls, ...), counted, and printed per URL when URLs are fetched once or with -v.
 * Proxies: --proxy URL or --proxy-file FILE (several are used in turn; one that keeps
 * refusing connections is taken out for a while and its requests go to the others), else
 * http_proxy, https_proxy, all_proxy and no_proxy from the environment, as curl reads
 * them; --noproxy LIST. The summary and the JSON count requests and errors per proxy.
 *
 * Output: a progress line on stderr when it is a terminal (refreshed 10 times a second by
 * a task of its own), then a summary on stdout, or with --json one JSON object. Where
 * io_uring is blocked (a seccomp profile such as Docker's) the loop runs on epoll: stderr
 * says so and why at the start (unless -q), and the JSON has "backend" ("io_uring" or
 * "epoll") and, after such a fallback, "backend_fallback" (the reason); -v names the
 * backend in any case, after the requests' outcomes (backend.h). Latencies go to
 * log-linear histograms (hist.c: 3 significant digits, no per-request memory), with and
 * without the connect. --rate R makes it an open loop (rate.c): request i is due at the
 * start + i/R, and its latency counts from then, so a stalled server shows in the
 * percentiles. Exit status: 0 when every request got a response below 400, 1 otherwise, 2
 * for bad usage, 130 when interrupted (SIGINT or SIGTERM end the run early and still print
 * the summary).
 *
 * -i FILE: without -n or -d its URLs are streamed (input.c): read in chunks while the
 * requests run, each one copied out and dropped after its request, so memory stays the same
 * for a million lines as for ten; the command line's URLs come first. The origins cannot be
 * counted ahead, so the file counts as one more origin for the total connection cap (each
 * origin still gets at most -c). With -n or -d the file is loaded whole, after the command
 * line's URLs, to be cycled through.
 *
 * Files: this one holds the command line and setup; run.c the tasks of a run; input.c -i
 * streamed; rate.c the --rate schedule; save.c the -o files; report.c the progress line and
 * the reports; hist.c the histogram; spectrum.c --latency-csv; proxy.c the proxy options;
 * fetch.h what they share. */
#include "fetch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads a whole file (--data-file). Returns 0, or -1 with a message. */
static int read_file(const char *path, const char **data, size_t *len)
{
    FILE *in = fopen(path, "rb");
    if (in == NULL) {
        fprintf(stderr, "corio-fetch: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64 * 1024;
            char *p = realloc(buf, cap);
            if (p == NULL) {
                fprintf(stderr, "corio-fetch: out of memory reading %s\n", path);
                free(buf);
                fclose(in);
                return -1;
            }
            buf = p;
        }
        size_t got = fread(buf + n, 1, cap - n, in);
        n += got;
        if (got == 0)
            break;
    }
    bool bad = ferror(in);
    fclose(in);
    if (bad) {
        fprintf(stderr, "corio-fetch: cannot read %s\n", path);
        free(buf);
        return -1;
    }
    *data = buf; /* kept for the run */
    *len = n;
    return 0;
}

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
            "      --rate R          open loop: R requests per second across the connections,\n"
            "                        each timed from when it was due (decimals allowed)\n"
            "      --latency-csv FILE  write the latency percentile spectrum to FILE (CSV)\n"
            "  -i, --input FILE      read URLs from FILE ('-': standard input), after the\n"
            "                        command line's; streamed, unless -n or -d load it whole\n"
            "  -o, --output DIR      save bodies in DIR (names derived from the URLs)\n"
            "  -X, --method M        request method (default GET, or POST with a body)\n"
            "  -I, --head            HEAD requests\n"
            "  -H, --header 'N: V'   add a request header (repeatable)\n"
            "      --data STR        send STR as the request body (POST unless -X)\n"
            "      --data-file FILE  send FILE as the request body (POST unless -X)\n"
            "      --compressed      ask for gzip/deflate and decode the bodies\n"
            "      --cacert FILE     trust the CAs in FILE (PEM) instead of the system store\n"
            "  -k, --insecure        do not verify HTTPS certificates (prints a warning)\n"
            "      --no-keepalive    a new connection per request (Connection: close)\n"
            "      --no-resume       no TLS session resumption: a full handshake each time\n"
            "  -L, --follow          follow redirects\n"
            "      --max-redirects N at most N redirects per request (default 10)\n"
            "      --timeout S       deadline per attempt: connect, send, response (default 30)\n"
            "      --connect-timeout S  deadline for connecting (default: --timeout)\n"
            "      --retries N       retry connection errors and 5xx N times (default 0)\n"
            "  -x, --proxy URL       through the proxy http://[user:pass@]host[:port] (repeat\n"
            "                        to rotate; \"\" for none: not even the environment's)\n"
            "      --proxy-file FILE proxies one a line, used in turn (# comments)\n"
            "      --noproxy LIST    hosts reached directly (no_proxy: a.com,.b.org,10.0.0.0/8)\n"
            "      --proxy-failures N  connection failures in a row that take a proxy out (3)\n"
            "      --proxy-backoff S   how long a proxy stays out (default 30)\n"
            "                        without -x: http_proxy, https_proxy, all_proxy, no_proxy\n"
            "      --per-host N      at most N connections to one origin (default: -c)\n"
            "      --host-rate R     at most R requests per second to one host (decimals allowed)\n"
            "      --retry-after-max S  longest Retry-After (429, 503) waited for (default 60)\n"
            "      --dns-ttl S       reuse a name's addresses for S seconds (default 60; 0: look\n"
            "                        it up for every new connection)\n"
            "      --resolve HOST:PORT:ADDR[,ADDR...]  connect to these addresses for HOST at\n"
            "                        PORT ('*': any port), raced in order; never looked up\n"
            "      --json            print one JSON object of results on stdout (with\n"
            "                        \"backend\", and \"backend_fallback\" after a fallback)\n"
            "  -v, --verbose         print every request's outcome, then the backend, on stderr\n"
            "  -q, --quiet           no progress line, nor the note of a fallback to epoll\n"
            "  -h, --help            this help\n" BACKEND_HELP);
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

static bool parse_rate(const char *s, double *rate)
{
    char *end;
    errno = 0;
    if (s == NULL || *s == '\0')
        return false;
    double v = strtod(s, &end);
    if (*end != '\0' || errno != 0 || !(v > 0) || v > 1e7)
        return false;
    *rate = v;
    return true;
}

/* Splits --resolve's HOST:PORT:ADDR[,ADDR...] (HOST may be [an IPv6 literal]; PORT '*' is
 * any) into r's host (brackets dropped), port (0: any) and address list, checking each
 * address is numeric and at most 8 are given. Returns false with why filled. */
static bool split_resolve(const char *v, struct resolve *r, char *why, size_t why_len)
{
    r->text = v;
    const char *h = v, *colon = strchr(v, ':');
    size_t hlen = colon != NULL ? (size_t)(colon - v) : 0;
    if (*v == '[') {
        const char *close = strchr(v, ']');
        colon = close != NULL && close[1] == ':' ? close + 1 : NULL;
        h = v + 1;
        hlen = colon != NULL ? (size_t)(close - h) : 0;
    }
    const char *pend = colon != NULL ? strchr(colon + 1, ':') : NULL;
    if (pend == NULL || hlen == 0 || hlen > CORIO_HTTP_MAX_HOST) {
        snprintf(why, why_len, "--resolve '%.200s' is not HOST:PORT:ADDR[,ADDR...]", v);
        return false;
    }
    memcpy(r->host, h, hlen);
    r->host[hlen] = '\0';
    char num[8];
    size_t plen = (size_t)(pend - colon - 1);
    uint64_t n = 0; /* '*': 0, any port */
    if (!(plen == 1 && colon[1] == '*') &&
        (plen == 0 || plen >= sizeof num ||
         (memcpy(num, colon + 1, plen), num[plen] = '\0', !parse_u64(num, 1, 65535, &n)))) {
        snprintf(why, why_len, "--resolve '%.200s': the port is not a number from 1 to 65535 or *",
                 v);
        return false;
    }
    r->port = (uint16_t)n;
    r->addrs = pend + 1;
    size_t count = 0;
    for (const char *a = r->addrs;; count++) {
        const char *end = strchr(a, ',');
        size_t len = end != NULL ? (size_t)(end - a) : strlen(a);
        char one[INET6_ADDRSTRLEN + 2];
        unsigned char bin[sizeof(struct in6_addr)];
        if (len >= 2 && a[0] == '[' && a[len - 1] == ']')
            a++, len -= 2;
        bool ok = len > 0 && len < sizeof one;
        if (ok) {
            memcpy(one, a, len);
            one[len] = '\0';
            ok = inet_pton(AF_INET, one, bin) == 1 || inet_pton(AF_INET6, one, bin) == 1;
        }
        if (!ok) {
            snprintf(why, why_len,
                     "--resolve '%.200s': '%.*s' is not a numeric IPv4 or IPv6 address", v,
                     (int)(len < 100 ? len : 100), a);
            return false;
        }
        if (end == NULL)
            break;
        a = end + 1;
    }
    if (count >= 8) {
        snprintf(why, why_len, "--resolve '%.200s': at most 8 addresses", v);
        return false;
    }
    return true;
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
    *o = (struct options){.conns = 16, .timeout_ns = 30 * SEC, .max_redirects = 10};
    bool connect_set = false, no_more_flags = false, head = false;
    size_t cap = 0;
    static corio_http_header_t hdrs[256];
    static struct resolve resolves[64];
    o->headers = hdrs;
    o->resolves = resolves;
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
        } else if (IS(NULL, "--rate")) {
            VALUE();
            if (!parse_rate(v, &o->rate))
                return usage("--rate needs a number of requests per second above 0 (such as "
                             "500 or 0.5), at most 10000000");
        } else if (IS(NULL, "--latency-csv")) {
            VALUE();
            o->latency_csv = v;
        } else if (IS("-i", "--input")) {
            VALUE();
            if (o->input != NULL)
                return usage("-i given twice");
            o->input = v; /* streamed or loaded, as -n and -d say: opened in main */
        } else if (IS("-o", "--output")) {
            VALUE();
            o->outdir = v;
        } else if (IS("-X", "--method")) {
            VALUE();
            if (!is_token(v, strlen(v)) || strlen(v) > 32)
                return usage("--method needs a method name (a token such as GET)");
            o->method = v;
        } else if (IS("-I", "--head")) {
            head = true;
        } else if (IS(NULL, "--data")) {
            VALUE();
            o->data = v;
            o->data_len = strlen(v);
        } else if (IS(NULL, "--data-file")) {
            VALUE();
            if (read_file(v, &o->data, &o->data_len) < 0)
                return 1;
        } else if (IS(NULL, "--compressed")) {
            o->compressed = true;
        } else if (IS(NULL, "--cacert")) {
            VALUE();
            o->cacert = v;
        } else if (IS("-k", "--insecure")) {
            o->insecure = true;
        } else if (IS(NULL, "--no-keepalive")) {
            o->no_keepalive = true;
        } else if (IS(NULL, "--no-resume")) {
            o->no_resume = true;
        } else if (IS("-H", "--header")) {
            VALUE();
            const char *colon = strchr(v, ':');
            if (colon == NULL || !is_token(v, (size_t)(colon - v)) || strpbrk(v, "\r\n") != NULL) {
                snprintf(why, sizeof why, "-H '%.200s' is not 'Name: value'", v);
                return usage(why);
            }
            if (o->nheaders == sizeof hdrs / sizeof hdrs[0])
                return usage("too many -H headers (256 at most)");
            const char *value = colon + 1, *end = value + strlen(value);
            while (*value == ' ' || *value == '\t')
                value++;
            while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
                end--;
            hdrs[o->nheaders++] =
                (corio_http_header_t){v, (size_t)(colon - v), value, (size_t)(end - value)};
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
        } else if (IS("-x", "--proxy")) {
            VALUE();
            if (fetch_add_proxy(o, v) < 0)
                return 2;
        } else if (IS(NULL, "--proxy-file")) {
            VALUE();
            if (fetch_read_proxy_file(o, v) < 0)
                return 2;
        } else if (IS(NULL, "--noproxy")) {
            VALUE();
            o->noproxy = v;
            o->noproxy_set = true;
        } else if (IS(NULL, "--proxy-failures")) {
            VALUE();
            if (!parse_u64(v, 1, 1000, &n))
                return usage("--proxy-failures needs a number from 1 to 1000");
            o->proxy_failures = (unsigned)n;
        } else if (IS(NULL, "--proxy-backoff")) {
            VALUE();
            if (!parse_seconds(v, false, &o->proxy_backoff_ns))
                return usage("--proxy-backoff needs a positive number of seconds");
        } else if (IS(NULL, "--per-host")) {
            VALUE();
            if (!parse_u64(v, 1, MAX_CONNS, &n))
                return usage("--per-host needs a number from 1 to 100000");
            o->per_host = (unsigned)n;
        } else if (IS(NULL, "--host-rate")) {
            VALUE();
            if (!parse_rate(v, &o->host_rate))
                return usage("--host-rate needs a number of requests per second above 0 (such "
                             "as 2 or 0.5), at most 10000000");
        } else if (IS(NULL, "--retry-after-max")) {
            VALUE();
            if (!parse_seconds(v, false, &o->retry_after_max_ns))
                return usage("--retry-after-max needs a positive number of seconds");
        } else if (IS(NULL, "--dns-ttl")) {
            VALUE();
            if (!parse_seconds(v, true, &o->dns_ttl_ns))
                return usage("--dns-ttl needs a number of seconds (0: no reuse)");
            if (o->dns_ttl_ns == 0)
                o->dns_ttl_ns = 1; /* the client's 0 is its default */
        } else if (IS(NULL, "--resolve")) {
            VALUE();
            if (o->nresolves == sizeof resolves / sizeof resolves[0])
                return usage("too many --resolve options (64 at most)");
            if (!split_resolve(v, &resolves[o->nresolves++], why, sizeof why))
                return usage(why);
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
    if (head)
        o->method = "HEAD";
    if (head && o->data != NULL)
        return usage("-I and --data together: a HEAD request has no body");
    if (!connect_set)
        o->connect_ns = o->timeout_ns;
    if (*nurls == 0 && o->input == NULL)
        return usage("no URL given");
    return -1;
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

/* Each connection is an fd: raises the soft limit towards the hard one when conns need it.
 * Returns how many connections the limit allows (conns, or fewer), with a warning when it
 * allows fewer: a run past the limit says so at the start instead of failing requests with
 * "Too many open files". */
static unsigned fit_fd_limit(unsigned conns)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)conns + FD_RESERVE;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
        return conns;
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        rl.rlim_cur = was;
    if (rl.rlim_cur >= want)
        return conns;
    rlim_t reserve = rl.rlim_cur / 4 < FD_RESERVE ? rl.rlim_cur / 4 : FD_RESERVE;
    unsigned fit = rl.rlim_cur > reserve ? (unsigned)(rl.rlim_cur - reserve) : 1;
    fprintf(stderr,
            "corio-fetch: warning: %u connections need %llu open files, but the open-file limit "
            "is %llu (hard limit %llu; raise it with ulimit -n): at most %u connections will "
            "be open, and requests beyond them wait for one\n",
            conns, (unsigned long long)want, (unsigned long long)rl.rlim_cur,
            (unsigned long long)rl.rlim_max, fit);
    return fit;
}

/* The number of distinct origins among the URLs (bad URLs aside): each may hold -c
 * connections. An open-addressing set of origin hashes: a collision merely undercounts. */
static size_t count_origins(struct fetch *f)
{
    size_t cap = 64;
    while (cap < 2 * f->ntargets)
        cap *= 2;
    uint64_t *set = calloc(cap, sizeof *set);
    if (set == NULL)
        return f->ntargets;
    size_t n = 0;
    for (size_t i = 0; i < f->ntargets; i++) {
        corio_http_url_t u;
        if (corio_http_url_parse(f->targets[i].text, &u) < 0)
            continue;
        uint64_t h = 0xcbf29ce484222325u ^ ((uint64_t)u.port << 1 | u.scheme);
        for (const char *p = u.host; *p; p++)
            h = (h ^ (unsigned char)(*p | 0x20)) * 0x100000001b3u;
        h |= 1; /* 0 marks a free slot */
        size_t j = h & (cap - 1);
        while (set[j] != 0 && set[j] != h)
            j = (j + 1) & (cap - 1);
        if (set[j] == 0) {
            set[j] = h;
            n++;
        }
    }
    free(set);
    return n > 0 ? n : 1;
}

static int make_client(struct fetch *f)
{
    const struct options *o = &f->o;
    size_t origins = count_origins(f) + (f->input != NULL); /* the stream's: one more */
    origins *= fetch_proxy_spread(o);                       /* a pool per proxy too */
    uint64_t total = (uint64_t)f->nworkers * origins;
    if (total > MAX_CONNS)
        total = MAX_CONNS;
    if (total < f->nworkers)
        total = f->nworkers;
    f->conn_cap = fit_fd_limit((unsigned)total);
    unsigned per_host = f->nworkers < f->conn_cap ? f->nworkers : f->conn_cap;
    if (o->per_host != 0 && o->per_host < per_host)
        per_host = o->per_host;
    /* A TLS context made here rather than at the first https request, so that a bad
     * --cacert stops the run at once with its reason. */
    if (o->cacert != NULL || o->insecure || o->no_resume) {
        corio_tls_config_t tc = {
            .ca_file = o->cacert,
            .flags =
                (o->insecure ? CORIO_TLS_INSECURE : 0) | (o->no_resume ? CORIO_TLS_NO_RESUME : 0),
        };
        char why[300];
        int rc = corio_tls_ctx_new(&f->tls, &tc, why, sizeof why);
        if (rc < 0) {
            fprintf(stderr, "corio-fetch: %s\n", why);
            return rc;
        }
    }
    corio_http_client_opts_t co = {
        .max_conns = f->conn_cap,
        .max_conns_per_host = per_host,
        .timeout_ns = o->timeout_ns != 0 ? o->timeout_ns : UINT64_MAX,
        .connect_timeout_ns = o->connect_ns != 0 ? o->connect_ns : UINT64_MAX,
        .retries = o->retries,
        .max_redirects = o->max_redirects,
        .flags = (o->follow ? CORIO_HTTP_FOLLOW : 0) | (o->compressed ? CORIO_HTTP_DECOMPRESS : 0) |
                 (o->no_keepalive ? CORIO_HTTP_NO_KEEPALIVE : 0),
        .ca_file = o->cacert,
        .tls_flags =
            (o->insecure ? CORIO_TLS_INSECURE : 0) | (o->no_resume ? CORIO_TLS_NO_RESUME : 0),
        .user_agent = USER_AGENT,
        .dns_ttl_ns = o->dns_ttl_ns,
        .host_rate = o->host_rate,
        .retry_after_max_ns = o->retry_after_max_ns,
    };
    if (o->max_redirects == 0) /* the client's 0 means its default */
        co.flags &= ~(unsigned)CORIO_HTTP_FOLLOW;
    if (fetch_proxy_opts(o, &co) < 0)
        return -EINVAL;
    int rc = corio_http_client_new(&f->client, &co);
    if (rc < 0) {
        fprintf(stderr, "corio-fetch: cannot make the HTTP client: %s\n", corio_strerror(rc));
        return rc;
    }
    for (size_t i = 0; i < o->nresolves; i++) {
        const struct resolve *r = &o->resolves[i];
        rc = corio_http_client_add_resolve(f->client, r->host, r->port, r->addrs);
        if (rc < 0) {
            fprintf(stderr, "corio-fetch: --resolve %s: %s\n", r->text, corio_strerror(rc));
            return rc;
        }
    }
    return 0;
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
    if (f->o.insecure)
        fprintf(stderr, "corio-fetch: warning: -k: HTTPS certificates are not verified; anyone "
                        "on the path can read and change this traffic\n");

    f->list_mode = f->o.requests == 0 && f->o.duration_ns == 0;
    if (f->o.input != NULL) {
        size_t cap = nurls; /* add_url grows the array from here */
        if (f->list_mode ? input_open(&f->input, f->o.input) < 0
                         : read_urls(f->o.input, &urls, &nurls, &cap) < 0)
            return 1;
        if (nurls == 0 && f->input == NULL)
            return usage("no URL given");
    }
    f->total = f->list_mode && f->input == NULL ? nurls : f->o.requests;
    f->nworkers = f->o.conns;
    if (f->total != 0 && f->total < f->nworkers)
        f->nworkers = (unsigned)f->total;
    f->progress = !f->o.quiet && isatty(STDERR_FILENO);
    f->targets = calloc(nurls + 1, sizeof *f->targets); /* + 1: none is not out of memory */
    f->workers = calloc(f->nworkers, sizeof *f->workers);
    if (f->targets == NULL || f->workers == NULL) {
        fprintf(stderr, "corio-fetch: out of memory\n");
        return 1;
    }
    f->ntargets = nurls;
    for (size_t i = 0; i < nurls; i++)
        f->targets[i].text = urls[i];
    for (unsigned i = 0; i < f->nworkers; i++) {
        f->workers[i].f = f;
        f->workers[i].save_fd = -1;
        corio_http_client_resp_init(&f->workers[i].resp);
    }
    if (open_outdir(f) < 0 || make_client(f) < 0)
        return 1;
    if (f->o.rate > 0)
        f->rate_period_ns = 1e9 / f->o.rate;
    /* Opened now, so that a path that cannot be written stops the run before it starts. */
    if (f->o.latency_csv != NULL && (f->latency_csv = fopen(f->o.latency_csv, "w")) == NULL) {
        fprintf(stderr, "corio-fetch: cannot write %s: %s\n", f->o.latency_csv, strerror(errno));
        return 1;
    }
    hist_init(&f->st.lat);
    hist_init(&f->st.lat_excl);

    /* SIGINT and SIGTERM are taken by a task (corio_signal_wait): block them first. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

    /* Room for every worker's operation in one submission. */
    unsigned entries = 256;
    while (entries < 2 * f->nworkers + 64 && entries < 32768)
        entries *= 2;
    corio_loop_opts_t lo = {.entries = entries};
    corio_loop_t *loop;
    rc = corio_loop_new(&loop, &lo);
    if (rc < 0) {
        backend_say_loop_error("corio-fetch", rc);
        return 1;
    }
    /* A fallback is said at once (unless -q); -v's "backend io_uring" comes after the
     * requests' outcomes, so that the first line of -v is the first outcome. */
    f->backend = backend_of(loop);
    if (f->backend.fallback_err != 0 && (f->o.verbose || !f->o.quiet))
        backend_say("corio-fetch", f->backend, false);
    rc = corio_spawn(loop, fetch_main_task, f, NULL);
    if (rc == 0)
        rc = corio_loop_run(loop);
    corio_http_client_free(f->client);
    corio_tls_ctx_free(f->tls);
    corio_loop_free(loop);
    for (unsigned i = 0; i < f->nworkers; i++) {
        corio_http_client_resp_free(&f->workers[i].resp);
        free(f->workers[i].url);
    }
    bool read_failed = input_failed(f->input);
    input_close(f->input);
    if (rc < 0) {
        fprintf(stderr, "corio-fetch: %s\n", corio_strerror(rc));
        return 1;
    }

    if (f->o.verbose && f->backend.fallback_err == 0)
        backend_say("corio-fetch", f->backend, true);
    double secs = (double)(f->t_end - f->t_start) / 1e9;
    bool csv_failed = f->latency_csv != NULL && fetch_write_latency_csv(f) < 0;
    if (f->o.json)
        fetch_print_json(f, secs);
    else
        fetch_print_summary(f, secs);
    fflush(stdout);
    if (f->interrupted)
        return 130;
    if (f->st.done == 0 && f->input != NULL && !read_failed) {
        fprintf(stderr, "corio-fetch: no URL in %s\n", f->o.input);
        return 1;
    }
    if (f->st.done == 0 && f->total == 0) {
        fprintf(stderr, "corio-fetch: no request completed in the %.3g s run\n", secs);
        return 1;
    }
    bool all_done = f->total == 0 || f->st.done == f->total;
    return f->st.errors == 0 && f->st.http_errors == 0 && all_done && !csv_failed && !read_failed
               ? 0
               : 1;
}
