/* echo_load: load client for TCP echo servers (corio-echo, epoll_echo, anything that echoes).
 *
 *   echo_load [--host ADDR] --port P [-c CONNS] [-s BYTES] (-d SECONDS | -n MESSAGES) [--json]
 *
 * Every connection plays ping-pong: it sends one S-byte message, reads back exactly S bytes,
 * compares every byte, records the round-trip latency and sends the next. Messages are windows
 * of one random pattern, starting at an offset that depends on the connection and the message
 * number, so a byte echoed from the wrong message, the wrong connection or the wrong place is
 * caught; nothing is generated per message and one receive buffer serves every connection.
 *
 * One thread, level-triggered epoll: it uses one CPU, so it is the ceiling of what it can
 * measure; it reports its own CPU time so a saturated client is visible. Large messages (up to
 * 64 MiB) are sent in pieces while the echo is read back concurrently, so a server that stops
 * reading until its output drains cannot deadlock against it.
 *
 * Exit status: 0 when every message was echoed intact; 1 when any byte mismatched, any
 * connection failed or (with -n) not every message completed; 2 on bad flags.
 * Standalone: no corio dependency, C11 + GNU extensions, Linux only.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_MSG      (64u << 20)
#define PATTERN_SPAN 4096u /* message start offsets into the pattern: 0 .. PATTERN_MOD-1 */
#define PATTERN_MOD  4093u /* prime, so offsets cycle through every value */
#define RBUF_SIZE    (256 * 1024)
#define MAX_EVENTS   512
#define MAX_REPORTS  5 /* error messages printed to stderr before going quiet */

/* Latency histogram, log-linear: values below 2^SUB_BITS ns are exact, above that each power of
 * two is split into 2^(SUB_BITS-1) buckets (relative error below 0.8%). */
#define SUB_BITS 8
#define HIST_LEN (((64 - SUB_BITS + 1) << (SUB_BITS - 1)) + (1 << (SUB_BITS - 1)))

struct conn {
    int fd;
    bool want_out; /* EPOLLOUT armed: the message is not fully sent */
    bool busy;     /* a message is in flight */
    uint32_t id;
    uint64_t seq;
    size_t sent, rcvd;
    const unsigned char *msg;
    uint64_t t0; /* ns, when the message was started */
};

static struct {
    const char *host, *port;
    unsigned conns;
    size_t size;
    double duration;
    uint64_t messages; /* 0: run for duration */
    double timeout;
    bool json;
} cfg = {.host = "127.0.0.1", .conns = 1, .size = 64, .timeout = 10};

static struct {
    uint64_t issued, completed, mismatched_bytes, errors;
    unsigned failed_conns, inflight;
    uint64_t max_ns, sum_ns;
    uint64_t hist[HIST_LEN];
} st;

static unsigned char *pattern, *rbuf;
static int epfd;
static bool deadline_passed;
static volatile sig_atomic_t interrupted;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static unsigned hist_index(uint64_t v)
{
    int msb = 63 - __builtin_clzll(v | 1);
    if (msb < SUB_BITS)
        return (unsigned)v;
    int shift = msb - SUB_BITS + 1;
    return ((unsigned)shift << (SUB_BITS - 1)) + (unsigned)(v >> shift);
}

/* The middle of bucket idx, in ns. */
static double hist_value(unsigned idx)
{
    if (idx < (1u << SUB_BITS))
        return idx;
    unsigned shift = (idx >> (SUB_BITS - 1)) - 1;
    uint64_t mant = idx - ((uint64_t)shift << (SUB_BITS - 1));
    return (double)(mant << shift) + (double)(1ull << shift) / 2;
}

static double percentile_us(double p)
{
    if (!st.completed)
        return 0;
    uint64_t rank = (uint64_t)ceil(p * (double)st.completed), seen = 0;
    if (rank < 1)
        rank = 1;
    for (unsigned i = 0; i < HIST_LEN; i++) {
        seen += st.hist[i];
        if (seen >= rank) {
            double v = hist_value(i);
            return (v > (double)st.max_ns ? (double)st.max_ns : v) / 1e3;
        }
    }
    return (double)st.max_ns / 1e3;
}

static void report(struct conn *c, const char *what, int err)
{
    st.errors++;
    if (st.errors <= MAX_REPORTS)
        fprintf(stderr, "echo_load: connection %u: %s%s%s\n", c ? c->id : 0, what, err ? ": " : "",
                err ? strerror(err) : "");
    if (st.errors == MAX_REPORTS + 1)
        fprintf(stderr, "echo_load: further errors are counted, not printed\n");
}

static void conn_fail(struct conn *c, const char *what, int err)
{
    report(c, what, err);
    st.failed_conns++;
    if (c->busy)
        st.inflight--;
    close(c->fd);
    c->fd = -1;
    c->busy = false;
}

static int arm(struct conn *c, bool out)
{
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
        conn_fail(c, "epoll_ctl", errno);
        return -1;
    }
    c->want_out = out;
    return 0;
}

/* Sends what is left of the current message; arms or disarms EPOLLOUT as needed. */
static void send_more(struct conn *c)
{
    while (c->sent < cfg.size) {
        ssize_t n = send(c->fd, c->msg + c->sent, cfg.size - c->sent, MSG_NOSIGNAL);
        if (n > 0) {
            c->sent += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            if (!c->want_out)
                arm(c, true);
            return;
        } else {
            conn_fail(c, "send", n < 0 ? errno : 0);
            return;
        }
    }
    if (c->want_out)
        arm(c, false);
}

static bool may_start(void)
{
    if (interrupted || deadline_passed)
        return false;
    return !cfg.messages || st.issued < cfg.messages;
}

static void start_message(struct conn *c, uint64_t t)
{
    c->seq++;
    uint32_t shift = (uint32_t)((c->id * 2654435761ull + c->seq * 40503ull) % PATTERN_MOD);
    c->msg = pattern + shift;
    c->sent = c->rcvd = 0;
    c->t0 = t;
    c->busy = true;
    st.issued++;
    st.inflight++;
    send_more(c);
}

static void complete_message(struct conn *c)
{
    uint64_t t = now_ns(), lat = t - c->t0;
    c->busy = false;
    st.inflight--;
    st.completed++;
    st.sum_ns += lat;
    if (lat > st.max_ns)
        st.max_ns = lat;
    st.hist[hist_index(lat)]++;
    if (may_start())
        start_message(c, t);
}

static void on_readable(struct conn *c)
{
    for (;;) {
        size_t want = cfg.size - c->rcvd;
        if (want > RBUF_SIZE)
            want = RBUF_SIZE;
        if (!c->busy)
            want = 1; /* nothing expected: any byte is an error */
        ssize_t n = recv(c->fd, rbuf, want, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                conn_fail(c, "recv", errno);
            return;
        }
        if (n == 0) {
            conn_fail(c, "server closed the connection", 0);
            return;
        }
        if (!c->busy || c->rcvd + (size_t)n > c->sent) {
            st.mismatched_bytes += (uint64_t)n;
            conn_fail(c, "received bytes that were never sent", 0);
            return;
        }
        const unsigned char *expect = c->msg + c->rcvd;
        if (memcmp(rbuf, expect, (size_t)n) != 0) {
            uint64_t bad = 0;
            for (ssize_t i = 0; i < n; i++)
                bad += rbuf[i] != expect[i];
            st.mismatched_bytes += bad;
            char what[96];
            snprintf(what, sizeof what, "%" PRIu64 " mismatched bytes in message %" PRIu64, bad,
                     c->seq);
            conn_fail(c, what, 0);
            return;
        }
        c->rcvd += (size_t)n;
        if (c->rcvd == cfg.size) {
            complete_message(c);
            return;
        }
        if ((size_t)n < want)
            return; /* drained for now: level-triggered epoll calls again */
    }
}

static int connect_one(struct conn *c, const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return -errno;
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv); /* bounds connect() */
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    int one = 1, fl;
    struct timeval zero = {0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &zero, sizeof zero);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    c->fd = fd;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int err = errno;
        close(fd);
        c->fd = -1;
        return -err;
    }
    return 0;
}

static bool parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-')
        return false;
    if (*end == 'k' || *end == 'K')
        v <<= 10, end++;
    else if (*end == 'm' || *end == 'M')
        v <<= 20, end++;
    if (*end || v < 1 || v > MAX_MSG)
        return false;
    *out = (size_t)v;
    return true;
}

static bool parse_u64(const char *s, uint64_t *out, uint64_t max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || *s == '-' || v < 1 || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_seconds(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v > 0) || v > 1e6)
        return false;
    *out = v;
    return true;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: echo_load [--host ADDR] --port P [-c CONNS] [-s BYTES] (-d SECONDS | -n "
            "MESSAGES) [--json]\n"
            "  -H, --host ADDR      server address (default 127.0.0.1)\n"
            "  -p, --port P         server port (required)\n"
            "  -c, --conns N        concurrent connections, one message in flight each (default "
            "1)\n"
            "  -s, --size BYTES     message size, 1 to 64M; k/M suffixes are KiB/MiB (default "
            "64)\n"
            "  -d, --duration SECS  run for this long (default 5 unless -n is given)\n"
            "  -n, --messages N     send N messages in total, then stop\n"
            "  -t, --timeout SECS   fail when no message completes for this long (default 10)\n"
            "  -j, --json           print one JSON object instead of text\n"
            "Exits 1 when a byte mismatched, a connection failed or -n was not reached.\n");
}

static int parse_args(int argc, char **argv)
{
    static const struct option opts[] = {
        {"host", required_argument, NULL, 'H'},     {"port", required_argument, NULL, 'p'},
        {"conns", required_argument, NULL, 'c'},    {"size", required_argument, NULL, 's'},
        {"duration", required_argument, NULL, 'd'}, {"messages", required_argument, NULL, 'n'},
        {"timeout", required_argument, NULL, 't'},  {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    int opt;
    uint64_t v;
    while ((opt = getopt_long(argc, argv, "H:p:c:s:d:n:t:jh", opts, NULL)) != -1) {
        switch (opt) {
        case 'H':
            cfg.host = optarg;
            break;
        case 'p':
            if (!parse_u64(optarg, &v, 65535)) {
                fprintf(stderr, "echo_load: bad port '%s' (1-65535)\n", optarg);
                return 2;
            }
            cfg.port = optarg;
            break;
        case 'c':
            if (!parse_u64(optarg, &v, 1000000)) {
                fprintf(stderr, "echo_load: bad connection count '%s'\n", optarg);
                return 2;
            }
            cfg.conns = (unsigned)v;
            break;
        case 's':
            if (!parse_size(optarg, &cfg.size)) {
                fprintf(stderr, "echo_load: bad message size '%s' (1 to 64M)\n", optarg);
                return 2;
            }
            break;
        case 'd':
            if (!parse_seconds(optarg, &cfg.duration)) {
                fprintf(stderr, "echo_load: bad duration '%s'\n", optarg);
                return 2;
            }
            break;
        case 'n':
            if (!parse_u64(optarg, &cfg.messages, UINT64_MAX / 2)) {
                fprintf(stderr, "echo_load: bad message count '%s'\n", optarg);
                return 2;
            }
            break;
        case 't':
            if (!parse_seconds(optarg, &cfg.timeout)) {
                fprintf(stderr, "echo_load: bad timeout '%s'\n", optarg);
                return 2;
            }
            break;
        case 'j':
            cfg.json = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "echo_load: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!cfg.port) {
        fprintf(stderr, "echo_load: --port is required\n");
        usage(stderr);
        return 2;
    }
    if (cfg.duration > 0 && cfg.messages) {
        fprintf(stderr, "echo_load: give -d or -n, not both\n");
        return 2;
    }
    if (!cfg.messages && !(cfg.duration > 0))
        cfg.duration = 5;
    return 0;
}

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

int main(int argc, char **argv)
{
    int rc = parse_args(argc, argv);
    if (rc)
        return rc;

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    /* The pattern: xorshift bytes, long enough for a message at any start offset. */
    size_t plen = cfg.size + PATTERN_SPAN;
    pattern = malloc(plen);
    rbuf = malloc(RBUF_SIZE);
    struct conn *conns = calloc(cfg.conns, sizeof *conns);
    if (!pattern || !rbuf || !conns) {
        fprintf(stderr, "echo_load: out of memory\n");
        return 1;
    }
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < plen; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        pattern[i] = (unsigned char)(x >> 32);
    }

    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai;
    int gerr = getaddrinfo(cfg.host, cfg.port, &hints, &ai);
    if (gerr) {
        fprintf(stderr, "echo_load: %s: %s\n", cfg.host, gai_strerror(gerr));
        return 1;
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        fprintf(stderr, "echo_load: epoll_create1: %s\n", strerror(errno));
        return 1;
    }

    /* Connect everything first, so the clock only measures echoing. */
    for (unsigned i = 0; i < cfg.conns; i++) {
        conns[i].id = i;
        conns[i].fd = -1;
        int err = connect_one(&conns[i], ai);
        if (err < 0) {
            char what[128];
            snprintf(what, sizeof what, "connect to %s port %s", cfg.host, cfg.port);
            report(&conns[i], what, -err);
            st.failed_conns++;
        }
    }
    freeaddrinfo(ai);

    double cpu0 = cpu_seconds();
    uint64_t t_start = now_ns(), t_end = t_start;
    uint64_t deadline = cfg.messages ? UINT64_MAX : t_start + (uint64_t)(cfg.duration * 1e9);
    uint64_t idle_limit = (uint64_t)(cfg.timeout * 1e9), last_progress = t_start;
    uint64_t last_completed = 0;
    for (unsigned i = 0; i < cfg.conns && may_start(); i++)
        if (conns[i].fd >= 0)
            start_message(&conns[i], t_start);

    struct epoll_event events[MAX_EVENTS];
    /* Ends when nothing is in flight: -n reached, or every connection failed. */
    while (st.inflight && !interrupted) {
        uint64_t t = now_ns();
        if (t >= deadline) {
            deadline_passed = true;
            t_end = t;
            break;
        }
        if (st.completed != last_completed) {
            last_completed = st.completed;
            last_progress = t;
        } else if (t - last_progress >= idle_limit) {
            st.errors++;
            fprintf(stderr, "echo_load: no message completed for %.1f s, giving up\n", cfg.timeout);
            break;
        }
        uint64_t wake =
            deadline < last_progress + idle_limit ? deadline : last_progress + idle_limit;
        int ms = (int)((wake - t + 999999) / 1000000);
        int n = epoll_wait(epfd, events, MAX_EVENTS, ms);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "echo_load: epoll_wait: %s\n", strerror(errno));
            st.errors++;
            break;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (c->fd < 0)
                continue; /* failed earlier in this batch */
            uint32_t ev = events[i].events;
            if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
                on_readable(c);
            if (c->fd >= 0 && c->want_out && (ev & (EPOLLOUT | EPOLLERR)))
                send_more(c);
        }
    }
    if (!deadline_passed)
        t_end = now_ns();
    double cpu = cpu_seconds() - cpu0;

    /* In -d mode messages in flight at the deadline are dropped, not counted as errors. */
    bool incomplete = cfg.messages && st.completed < cfg.messages;
    if (incomplete && !interrupted && !st.errors)
        fprintf(stderr, "echo_load: only %" PRIu64 " of %" PRIu64 " messages completed\n",
                st.completed, cfg.messages);
    for (unsigned i = 0; i < cfg.conns; i++)
        if (conns[i].fd >= 0)
            close(conns[i].fd);

    double secs = (double)(t_end - t_start) / 1e9;
    if (secs <= 0)
        secs = 1e-9;
    double rate = (double)st.completed / secs;
    double mbps = rate * (double)cfg.size / 1e6;
    double mean_us = st.completed ? (double)st.sum_ns / (double)st.completed / 1e3 : 0;
    double p50 = percentile_us(0.50), p99 = percentile_us(0.99), p999 = percentile_us(0.999);
    double max_us = (double)st.max_ns / 1e3;
    if (cfg.json) {
        printf("{\"host\":\"%s\",\"port\":%s,\"connections\":%u,\"size\":%zu,"
               "\"seconds\":%.3f,\"messages\":%" PRIu64 ",\"messages_per_sec\":%.1f,"
               "\"mb_per_sec\":%.3f,\"mean_us\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,"
               "\"p999_us\":%.1f,\"max_us\":%.1f,"
               "\"client_cpu_sec\":%.3f,\"failed_connections\":%u,\"errors\":%" PRIu64
               ",\"mismatched_bytes\":%" PRIu64 ",\"ok\":%s}\n",
               cfg.host, cfg.port, cfg.conns, cfg.size, secs, st.completed, rate, mbps, mean_us,
               p50, p99, p999, max_us, cpu, st.failed_conns, st.errors, st.mismatched_bytes,
               st.failed_conns || st.mismatched_bytes || st.errors || incomplete ? "false"
                                                                                 : "true");
    } else {
        printf("echo_load: %s port %s, %u connections, %zu-byte messages, %.2f s\n", cfg.host,
               cfg.port, cfg.conns, cfg.size, secs);
        printf("  messages     %" PRIu64 " (%.0f/s)\n", st.completed, rate);
        printf("  throughput   %.2f MB/s each way\n", mbps);
        printf("  latency µs   p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f\n", p50, p99,
               p999, max_us, mean_us);
        printf("  client cpu   %.2f s (%.0f%% of one core)\n", cpu, 100 * cpu / secs);
        printf("  errors       %" PRIu64 " (failed connections %u, mismatched bytes %" PRIu64 ")\n",
               st.errors, st.failed_conns, st.mismatched_bytes);
    }
    fflush(stdout);
    free(conns);
    free(rbuf);
    free(pattern);
    return st.failed_conns || st.mismatched_bytes || st.errors || incomplete ? 1 : 0;
}
