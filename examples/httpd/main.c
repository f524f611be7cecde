/* corio-httpd: an HTTP/1.1 and HTTPS server, a thin program over libcorio-http's server
 * core (corio/http_server.h): GET /hello, POST /echo, and static files from --root.
 *
 * Usage: corio-httpd [--host ADDR] [--port P] [--tls-port P --cert FILE --key FILE]
 *                    [--threads N] [--root DIR] [--max-body BYTES] [--max-conns N]
 *                    [--idle-timeout S] [--header-timeout S] [--grace S] [--no-openat2]
 *                    [-v|--verbose]
 *
 *   --host ADDR          numeric IPv4 or IPv6 address to listen on (default 127.0.0.1)
 *   --port P             HTTP on port P (0 picks a free port: read it from the listening
 *                        line); the default is --port 0 when no --tls-port is given
 *   --tls-port P         HTTPS on port P, with --cert FILE (the certificate chain, PEM,
 *                        leaf first) and --key FILE (its private key, PEM; default: in
 *                        the cert file). With --port too, both are served.
 *   --threads N          N loops, one per thread, each with its own SO_REUSEPORT listeners
 *   --root DIR           serve the files under DIR (without it only /hello and /echo)
 *   --max-body BYTES     largest request body (1M): a larger Content-Length is 413, as is
 *                        a larger chunked body sent to /echo
 *   --max-conns N        connections open at once, all threads together (10000); one more
 *                        is answered 503 and closed (closed at once on HTTPS)
 *   --idle-timeout S     a connection silent for S seconds while waiting for a request is
 *                        closed; also the bound on a send, and on reading a body (60)
 *   --header-timeout S   a request head, or a TLS handshake, must arrive whole within S
 *                        seconds of its first byte (slow-loris defence) (20)
 *   --grace S            at SIGINT/SIGTERM, how long in-flight requests may take (5)
 *   --no-openat2         resolve paths with openat + a /proc/self/fd check (the fallback
 *                        for kernels before 5.6), for testing
 *   -v, --verbose        say on stderr which backend the loops run on (io_uring, epoll)
 * S may be fractional (0.5); BYTES may end in K, M or G.
 *
 * Behaviour
 * - The protocol (keep-alive, pipelining, the 400/413/414/431/501/505 refusals and when
 *   they close, the Host check, 503 over --max-conns, pausing accepts when out of file
 *   descriptors, timeouts, TLS) is the server core's: corio/http_server.h says it all.
 * - Routes (routes.c): GET/HEAD /hello answers "hello\n"; POST /echo answers the request
 *   body (Content-Length or chunked) byte for byte as application/octet-stream; other
 *   methods on them are 405 with Allow. Everything else is a static file (GET and HEAD).
 * - Files (files.c): Content-Type by extension (html css js json txt png jpg gif svg ico
 *   wasm pdf and a few more; else application/octet-stream), Content-Length,
 *   Last-Modified, 304 for an If-Modified-Since not older than the file, one byte range
 *   ("Range: bytes=A-B", "A-", "-N": 206 with Content-Range; past the end or malformed:
 *   416, as nginx answers; several ranges: the whole file, 200), 404 when missing, 503
 *   with Retry-After when out of file descriptors. A directory is served by its
 *   index.html (404 without one: no listings); one named without its trailing '/' is
 *   301-redirected. Files are opened relative to the root's fd and read with corio_read,
 *   64 KiB at a time.
 * - Traversal: the path is percent-decoded first (so %2e%2e is ".."), then its dot
 *   segments are resolved; a ".." climbing above the root is 403. Symlinks are followed
 *   only while they stay under the root (openat2 RESOLVE_BENEATH, or a check of the opened
 *   file without it): one leading out is 403, as is anything but a regular file.
 * - Shutdown: SIGINT or SIGTERM drains (corio_http_server_stop): no new connections, idle
 *   ones closed, requests in flight answered with Connection: close for up to --grace
 *   seconds, then the rest cancelled. Exit 0. A second signal cancels everything at once.
 * - Start-up: once every loop runs, stdout gets "listening on http://ADDR:PORT" and/or
 *   "listening on https://ADDR:PORT" ("http://[ADDR]:PORT" for IPv6), a line per listener
 *   (serving.h has the format). A server that cannot start prints no such line: it says
 *   why on stderr and exits 1.
 * - Backends (backend.h): where io_uring is blocked (a seccomp profile such as Docker's,
 *   kernel.io_uring_disabled) the loops run on epoll and serve the same, and stderr says
 *   so and why, before the listening lines; -v names the backend in any case.
 *   CORIO_BACKEND=io_uring|epoll|auto in the environment chooses.
 * - Exit status: 0 after a signal, 1 when the server cannot start (port in use,
 *   CORIO_BACKEND=io_uring where io_uring is blocked, a bad CORIO_BACKEND, a bad root,
 *   certificate or key), 2 for a bad flag (with usage). */
#define _GNU_SOURCE
#include <corio/corio.h>
#include <corio/http.h>

#include "backend.h"
#include "httpd.h"
#include "serving.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64
#define SEC         1e9

struct options {
    const char *host;
    unsigned port, tls_port;
    bool plain, tls; /* which listeners */
    const char *cert, *key;
    unsigned threads;
    const char *root;
    uint64_t max_body;
    unsigned max_conns;
    uint64_t idle_ns, header_ns, grace_ns;
    bool no_openat2;
    bool verbose; /* the backend on stderr */
};

/* What every worker shares, read-only once the threads start. */
struct server {
    struct options opt;
    struct site site;
    corio_http_server_t *http;
    corio_tls_ctx_t *tls;
    struct start_gate gate; /* each worker passes once its loop runs, or has failed */
};

/* One loop thread and its listeners (-1 once handed to the server, or when unused). */
struct worker {
    struct server *srv;
    int plain_fd, tls_fd;
    pthread_t thread;
    int exit_code;
    struct backend_info backend; /* of its loop, once it runs */
    bool passed;                 /* the worker has passed srv->gate */
    atomic_bool done;            /* the thread has finished (a failed loop ends it early) */
};

/* Returns true for the server's first failure to start (see start_gate_pass). */
static bool pass_gate(struct worker *w, bool ok)
{
    if (w->passed)
        return false;
    w->passed = true;
    return start_gate_pass(&w->srv->gate, ok);
}

static void *serve_tls(void *arg)
{
    struct worker *w = arg;
    int fd = w->tls_fd;
    w->tls_fd = -1; /* the server has it */
    int err = corio_http_server_serve(w->srv->http, fd, w->srv->tls);
    if (err < 0) {
        fprintf(stderr, "corio-httpd: serving HTTPS: %s\n", corio_strerror(err));
        w->exit_code = 1;
    }
    return NULL;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    int err = corio_nop(); /* a round trip through the ring: the loop really runs */
    if (err == 0 && w->tls_fd >= 0)
        err = corio_spawn(NULL, serve_tls, w, NULL);
    if (err < 0) {
        w->exit_code = 1;
        if (pass_gate(w, false))
            fprintf(stderr, "corio-httpd: cannot start serving: %s\n", corio_strerror(err));
        corio_http_server_stop(w->srv->http, true);
        return NULL;
    }
    w->backend = backend_of(corio_current_loop());
    (void)pass_gate(w, true);
    if (w->plain_fd >= 0) {
        int fd = w->plain_fd;
        w->plain_fd = -1;
        err = corio_http_server_serve(w->srv->http, fd, NULL);
        if (err < 0) {
            fprintf(stderr, "corio-httpd: serving HTTP: %s\n", corio_strerror(err));
            w->exit_code = 1;
        }
    }
    return NULL;
}

static void *worker_thread(void *arg)
{
    struct worker *w = arg;
    corio_loop_opts_t opts = {0};
#ifndef __SANITIZE_ADDRESS__
    opts.stack_size = 128 * 1024; /* OpenSSL's handshake and a file's path buffer */
#endif
    corio_loop_t *loop;
    int err = corio_loop_new(&loop, &opts);
    if (err < 0) {
        w->exit_code = 1;
        if (pass_gate(w, false)) /* loops failing alike say it once */
            backend_say_loop_error("corio-httpd", err);
        atomic_store(&w->done, true);
        return NULL;
    }
    err = corio_spawn(loop, worker_main, w, NULL);
    if (err == 0)
        err = corio_loop_run(loop); /* ends when every task has finished */
    if (err < 0) {
        fprintf(stderr, "corio-httpd: loop: %s\n", corio_strerror(err));
        w->exit_code = 1;
    }
    corio_loop_free(loop);
    (void)pass_gate(w, false); /* unless it passed already: the loop ended before it ran */
    atomic_store(&w->done, true);
    return NULL;
}

/* ---- setting up ---------------------------------------------------------------------------- */

static int usage(const char *why)
{
    fprintf(stderr,
            "corio-httpd: %s\n"
            "usage: corio-httpd [--host ADDR] [--port P] [--tls-port P --cert FILE --key FILE]\n"
            "                   [--threads N] [--root DIR] [--max-body BYTES] [--max-conns N]\n"
            "                   [--idle-timeout S] [--header-timeout S] [--grace S]\n"
            "                   [--no-openat2] [-v|--verbose]\n" BACKEND_HELP,
            why);
    return 2;
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    if (s == NULL || *s < '0' || *s > '9')
        return false;
    unsigned long v = strtoul(s, &end, 10);
    if (*end != '\0' || errno != 0 || v > max)
        return false;
    *out = v;
    return true;
}

/* BYTES: digits with an optional K, M or G (powers of 1024). */
static bool parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (s == NULL || *s < '0' || *s > '9')
        return false;
    unsigned long long v = strtoull(s, &end, 10);
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k')
        shift = 10;
    else if (*end == 'M' || *end == 'm')
        shift = 20;
    else if (*end == 'G' || *end == 'g')
        shift = 30;
    if (shift != 0)
        end++;
    if (*end != '\0' || errno != 0 || v > (UINT64_MAX >> shift))
        return false;
    *out = (uint64_t)v << shift;
    return true;
}

/* S: seconds, possibly fractional, above 0 and at most a day. */
static bool parse_seconds(const char *s, uint64_t *ns)
{
    char *end;
    if (s == NULL || *s < '0' || *s > '9')
        return false;
    double v = strtod(s, &end);
    if (*end != '\0' || !(v > 0) || v > 86400)
        return false;
    *ns = (uint64_t)(v * SEC);
    return *ns > 0;
}

static int parse_args(int argc, char **argv, struct options *opt)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        unsigned long n;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage("an HTTP/1.1 server (see the comment at the top of examples/httpd/main.c)");
            exit(0);
        } else if (strcmp(a, "--no-openat2") == 0) {
            opt->no_openat2 = true;
            continue;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            opt->verbose = true;
            continue;
        }
        if (v == NULL) {
            char why[128];
            snprintf(why, sizeof why, "unknown argument '%s'", a);
            if (strncmp(a, "--", 2) == 0 && strcmp(a, "--help") != 0)
                snprintf(why, sizeof why, "'%s' needs a value, or is unknown", a);
            return usage(why);
        }
        i++;
        if (strcmp(a, "--host") == 0) {
            unsigned char addr[sizeof(struct in6_addr)];
            if (inet_pton(AF_INET, v, addr) != 1 && inet_pton(AF_INET6, v, addr) != 1)
                return usage("--host needs a numeric IPv4 or IPv6 address");
            opt->host = v;
        } else if (strcmp(a, "--port") == 0) {
            if (!parse_uint(v, 65535, &n))
                return usage("--port needs a number from 0 to 65535");
            opt->port = (unsigned)n;
            opt->plain = true;
        } else if (strcmp(a, "--tls-port") == 0) {
            if (!parse_uint(v, 65535, &n))
                return usage("--tls-port needs a number from 0 to 65535");
            opt->tls_port = (unsigned)n;
            opt->tls = true;
        } else if (strcmp(a, "--cert") == 0) {
            opt->cert = v;
        } else if (strcmp(a, "--key") == 0) {
            opt->key = v;
        } else if (strcmp(a, "--threads") == 0) {
            if (!parse_uint(v, MAX_THREADS, &n) || n == 0)
                return usage("--threads needs a number from 1 to 64");
            opt->threads = (unsigned)n;
        } else if (strcmp(a, "--root") == 0) {
            if (*v == '\0')
                return usage("--root needs a directory");
            opt->root = v;
        } else if (strcmp(a, "--max-body") == 0) {
            if (!parse_size(v, &opt->max_body))
                return usage("--max-body needs a size in bytes (K, M, G suffixes allowed)");
        } else if (strcmp(a, "--max-conns") == 0) {
            if (!parse_uint(v, 1000000000, &n) || n == 0)
                return usage("--max-conns needs a number from 1");
            opt->max_conns = (unsigned)n;
        } else if (strcmp(a, "--idle-timeout") == 0) {
            if (!parse_seconds(v, &opt->idle_ns))
                return usage("--idle-timeout needs seconds above 0 (up to 86400)");
        } else if (strcmp(a, "--header-timeout") == 0) {
            if (!parse_seconds(v, &opt->header_ns))
                return usage("--header-timeout needs seconds above 0 (up to 86400)");
        } else if (strcmp(a, "--grace") == 0) {
            if (!parse_seconds(v, &opt->grace_ns))
                return usage("--grace needs seconds above 0 (up to 86400)");
        } else {
            char why[128];
            snprintf(why, sizeof why, "unknown argument '%s'", a);
            return usage(why);
        }
    }
    if (opt->tls && opt->cert == NULL)
        return usage("--tls-port needs --cert FILE (and --key FILE, unless the key is in it)");
    if (!opt->tls && (opt->cert != NULL || opt->key != NULL))
        return usage("--cert and --key serve HTTPS on --tls-port P: give it too");
    if (!opt->tls)
        opt->plain = true; /* HTTP on the default port */
    return 0;
}

static int listen_on(const struct options *opt, unsigned port, unsigned *bound)
{
    int fd = corio_listen_ex(opt->host, (uint16_t)port, -1,
                             opt->threads > 1 ? CORIO_LISTEN_REUSEPORT : 0);
    if (fd < 0) {
        bool v6 = strchr(opt->host, ':') != NULL;
        fprintf(stderr, "corio-httpd: cannot listen on %s%s%s:%u: %s\n", v6 ? "[" : "", opt->host,
                v6 ? "]" : "", port, corio_strerror(fd));
        return -1;
    }
    *bound = (unsigned)corio_sock_port(fd);
    return fd;
}

/* Makes the server and its TLS context. Returns 0, or 1 having said why. */
static int make_server(struct server *srv)
{
    const struct options *opt = &srv->opt;
    char why[512];
    if (opt->tls) {
        corio_tls_config_t tc = {
            .role = CORIO_TLS_SERVER, .cert_file = opt->cert, .key_file = opt->key};
        int err = corio_tls_ctx_new(&srv->tls, &tc, why, sizeof why);
        if (err < 0) {
            fprintf(stderr, "corio-httpd: %s\n", why);
            return 1;
        }
    }
    corio_http_server_config_t cfg = {
        .handler = httpd_handle,
        .arg = &srv->site,
        .max_body = opt->max_body,
        .max_conns = opt->max_conns,
        .idle_timeout_ns = opt->idle_ns,
        .header_timeout_ns = opt->header_ns,
        .grace_ns = opt->grace_ns,
        .server_name = "corio-httpd",
    };
    int err = corio_http_server_new(&srv->http, &cfg);
    if (err < 0) {
        fprintf(stderr, "corio-httpd: %s\n", corio_strerror(err));
        return 1;
    }
    return 0;
}

/* Opens every worker's listeners; the first of each kind picks port 0's port. */
static int open_listeners(struct server *srv, struct worker *workers, unsigned n)
{
    unsigned port = srv->opt.port, tls_port = srv->opt.tls_port;
    for (unsigned t = 0; t < n; t++) {
        workers[t] = (struct worker){.srv = srv, .plain_fd = -1, .tls_fd = -1};
        if (srv->opt.plain && (workers[t].plain_fd = listen_on(&srv->opt, port, &port)) < 0)
            return 1;
        if (srv->opt.tls && (workers[t].tls_fd = listen_on(&srv->opt, tls_port, &tls_port)) < 0)
            return 1;
    }
    return 0;
}

static int print_lines(const struct worker *w)
{
    int err = 0;
    if (w->plain_fd >= 0)
        err = print_listening("http", w->plain_fd);
    if (err == 0 && w->tls_fd >= 0)
        err = print_listening("https", w->tls_fd);
    if (err < 0)
        fprintf(stderr, "corio-httpd: cannot print the listening line: %s\n", corio_strerror(err));
    return err < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    static struct server srv;
    srv.opt = (struct options){
        .host = "127.0.0.1",
        .threads = 1,
        .max_body = 1u << 20,
        .max_conns = 10000,
        .idle_ns = (uint64_t)(60 * SEC),
        .header_ns = (uint64_t)(20 * SEC),
        .grace_ns = (uint64_t)(5 * SEC),
    };
    int code = parse_args(argc, argv, &srv.opt);
    if (code != 0)
        return code;
    srv.site.max_body = srv.opt.max_body;
    srv.site.root.fd = -1;
    if (srv.opt.root != NULL) {
        char why[256];
        if (docroot_open(&srv.site.root, srv.opt.root, !srv.opt.no_openat2, why, sizeof why) < 0) {
            fprintf(stderr, "corio-httpd: --root %s: %s\n", srv.opt.root, why);
            return 1;
        }
    }
    if (make_server(&srv) != 0)
        return 1;

    /* Signals are taken by this thread alone, with sigwait: block them everywhere first. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    static struct worker workers[MAX_THREADS];
    unsigned nthreads = srv.opt.threads, started = 0;
    code = open_listeners(&srv, workers, nthreads);
    /* The lines are printed from worker 0's fds before its thread takes them. */
    int first_plain = workers[0].plain_fd, first_tls = workers[0].tls_fd;
    start_gate_init(&srv.gate, nthreads);
    for (; code == 0 && started < nthreads; started++)
        if (pthread_create(&workers[started].thread, NULL, worker_thread, &workers[started]) != 0) {
            fprintf(stderr, "corio-httpd: cannot start a thread\n");
            code = 1;
            break;
        }
    for (unsigned t = started; t < nthreads; t++)
        (void)start_gate_pass(&srv.gate, false); /* for the threads that do not exist */
    /* The listening lines only once every loop runs. */
    if (code == 0 && !start_gate_wait(&srv.gate)) {
        code = 1;
    } else if (code == 0) {
        backend_say("corio-httpd", workers[0].backend, srv.opt.verbose); /* one for all loops */
        code = print_lines(&(struct worker){.plain_fd = first_plain, .tls_fd = first_tls});
    }
    if (code == 0) {
        /* Until a signal, or a worker that ended on its own (its loop failed). */
        struct timespec poll = {.tv_nsec = 100 * 1000 * 1000};
        bool ended = false;
        while (!ended && sigtimedwait(&stop_signals, NULL, &poll) < 0)
            for (unsigned t = 0; t < started; t++)
                ended |= atomic_load(&workers[t].done);
    }

    /* Drain; a second signal while draining cancels everything at once. */
    corio_http_server_stop(srv.http, false);
    for (unsigned t = 0; t < started; t++) {
        struct timespec poll = {.tv_nsec = 50 * 1000 * 1000};
        while (pthread_tryjoin_np(workers[t].thread, NULL) == EBUSY)
            if (sigtimedwait(&stop_signals, NULL, &poll) > 0)
                corio_http_server_stop(srv.http, true);
        code |= workers[t].exit_code;
    }
    for (unsigned t = 0; t < nthreads; t++) {
        if (workers[t].plain_fd >= 0)
            close(workers[t].plain_fd);
        if (workers[t].tls_fd >= 0)
            close(workers[t].tls_fd);
    }
    corio_http_server_free(srv.http);
    corio_tls_ctx_free(srv.tls);
    docroot_close(&srv.site.root);
    start_gate_destroy(&srv.gate);
    return code;
}
