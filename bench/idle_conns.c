/* idle_conns: holds N idle TCP connections open against an echo server, so that what an idle
 * connection costs the server can be measured (bench/idle_memory.sh).
 *
 *   idle_conns [--host ADDR] --port P [-n CONNS] [-s BYTES] [-w WINDOW] [-t SECONDS]
 *
 * Opens CONNS connections with non-blocking connects under one epoll, sends one BYTES-byte
 * message on each (64 by default, a pattern of the connection's own), reads the echo back and
 * compares every byte. At most WINDOW connections are between connect and echo at any time:
 * an echoed connection is one the server has accepted, so the listener's backlog never holds
 * more than WINDOW and never overflows (an overflowing backlog drops SYNs, which costs a 1 s
 * retransmit each). A connect the server refuses or resets is retried a few times.
 *
 * When every connection is echoed it prints "ready N" on stdout (flushed) and holds them all,
 * idle, until stdin reaches end of file or SIGINT/SIGTERM/SIGHUP arrives; then it closes them.
 *
 * Exit status: 0 when all CONNS were echoed intact and none was closed by the server while
 * held; 1 otherwise (a connection failed, a byte mismatched, the timeout passed: the reason is
 * on stderr); 2 on bad flags. Raises its open-file soft limit to the hard limit at start.
 * Standalone: no corio dependency, C11 + GNU extensions, Linux only.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
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
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS   1000000
#define MAX_SIZE    4096
#define MAX_EVENTS  512
#define MAX_RETRIES 5 /* connects refused or reset before a connection counts as failed */

/* epoll data: a connection index, or one of these (above any index). */
#define TAG_STDIN  ((uint64_t)MAX_CONNS + 1)
#define TAG_SIGNAL ((uint64_t)MAX_CONNS + 2)

enum state { IDLE_NEW, IDLE_CONNECTING, IDLE_SENDING, IDLE_ECHOING, IDLE_HELD, IDLE_CLOSED };

struct conn {
    int fd;
    uint8_t state; /* enum state */
    uint8_t tries; /* connects made */
    uint16_t sent, rcvd;
};

static struct {
    const char *host, *port;
    unsigned conns, window;
    unsigned size;
    double timeout;
} cfg = {.host = "127.0.0.1", .conns = 1, .window = 512, .size = 64, .timeout = 60};

static struct conn *conns;
static unsigned *retry; /* stack of connections to connect again */
static unsigned n_retry;
static int epfd = -1;
static struct addrinfo *addr;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Byte i of connection id's message: differs between connections and positions, so an echo
 * from the wrong connection or the wrong place is caught. */
static unsigned char msg_byte(unsigned id, unsigned i)
{
    uint32_t x = (id + 1) * 2654435761u + i * 40503u;
    return (unsigned char)((x >> 24) ^ (x >> 11));
}

static void close_all(void)
{
    for (unsigned i = 0; i < cfg.conns; i++) {
        if (conns[i].fd >= 0)
            close(conns[i].fd);
        conns[i].fd = -1;
    }
}

/* Gives up: the reason is on stderr already. */
static _Noreturn void give_up(void)
{
    close_all();
    exit(1);
}

static void watch(struct conn *c, unsigned id, uint32_t events, int op)
{
    struct epoll_event ev = {.events = events, .data.u64 = id};
    if (epoll_ctl(epfd, op, c->fd, &ev) < 0) {
        fprintf(stderr, "idle_conns: epoll_ctl: %s\n", strerror(errno));
        give_up();
    }
}

/* Starts connection id's connect; false when it failed at once in a way worth a retry. */
static bool start_connect(unsigned id)
{
    struct conn *c = &conns[id];
    c->tries++;
    c->sent = c->rcvd = 0;
    c->fd = socket(addr->ai_family, addr->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                   addr->ai_protocol);
    if (c->fd < 0) {
        int err = errno;
        struct rlimit rl = {0};
        getrlimit(RLIMIT_NOFILE, &rl);
        fprintf(stderr, "idle_conns: socket for connection %u: %s", id + 1, strerror(err));
        if (err == EMFILE)
            fprintf(stderr, " (open-file limit %llu: raise it with ulimit -n to more than %u)",
                    (unsigned long long)rl.rlim_cur, cfg.conns);
        else if (err == ENFILE)
            fprintf(stderr, " (the system's file table is full: fs.file-max)");
        fputc('\n', stderr);
        give_up();
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int r = connect(c->fd, addr->ai_addr, addr->ai_addrlen);
    if (r < 0 && errno != EINPROGRESS) {
        int err = errno;
        if (err == ECONNREFUSED || err == ECONNRESET || err == EAGAIN)
            return false;
        fprintf(stderr, "idle_conns: connect %s port %s, connection %u: %s%s\n", cfg.host, cfg.port,
                id + 1, strerror(err),
                err == EADDRNOTAVAIL ? " (out of local ports: net.ipv4.ip_local_port_range)" : "");
        give_up();
    }
    c->state = IDLE_CONNECTING;
    watch(c, id, EPOLLOUT, EPOLL_CTL_ADD);
    return true;
}

/* Connection id could not connect (err): queues a retry, or gives up after MAX_RETRIES. */
static void connect_failed(unsigned id, int err)
{
    struct conn *c = &conns[id];
    if (c->fd >= 0)
        close(c->fd); /* also leaves the epoll set */
    c->fd = -1;
    c->state = IDLE_NEW;
    if (c->tries <= MAX_RETRIES && (err == ECONNREFUSED || err == ECONNRESET || err == EAGAIN)) {
        retry[n_retry++] = id;
        return;
    }
    fprintf(stderr, "idle_conns: connect %s port %s, connection %u: %s (after %u tries)%s\n",
            cfg.host, cfg.port, id + 1, strerror(err), c->tries,
            err == ECONNREFUSED ? ": is a server listening there?" : "");
    give_up();
}

static void fail_conn(unsigned id, const char *what, int err)
{
    fprintf(stderr, "idle_conns: connection %u: %s%s%s\n", id + 1, what, err ? ": " : "",
            err ? strerror(err) : "");
    give_up();
}

static void send_message(unsigned id)
{
    struct conn *c = &conns[id];
    unsigned char msg[MAX_SIZE];
    for (unsigned i = c->sent; i < cfg.size; i++)
        msg[i] = msg_byte(id, i);
    while (c->sent < cfg.size) {
        ssize_t n = send(c->fd, msg + c->sent, cfg.size - c->sent, MSG_NOSIGNAL);
        if (n > 0) {
            c->sent += (uint16_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            if (c->state != IDLE_SENDING)
                watch(c, id, EPOLLOUT, EPOLL_CTL_MOD);
            c->state = IDLE_SENDING;
            return;
        } else {
            fail_conn(id, "send", n < 0 ? errno : 0);
        }
    }
    c->state = IDLE_ECHOING;
    watch(c, id, EPOLLIN, EPOLL_CTL_MOD);
}

/* Reads what has come of the echo; returns true once all of it has, intact. */
static bool read_echo(unsigned id)
{
    struct conn *c = &conns[id];
    unsigned char buf[MAX_SIZE];
    for (;;) {
        ssize_t n = recv(c->fd, buf, cfg.size - c->rcvd, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return false;
        if (n < 0)
            fail_conn(id, "recv", errno);
        if (n == 0)
            fail_conn(id, "the server closed it before echoing", 0);
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != msg_byte(id, c->rcvd + (unsigned)i))
                fail_conn(id, "the echo does not match what was sent", 0);
        c->rcvd += (uint16_t)n;
        if (c->rcvd == cfg.size)
            return true;
    }
}

/* One event of connection id while connecting; returns true when it is now held. */
static bool on_event(unsigned id, uint32_t events)
{
    struct conn *c = &conns[id];
    if (c->state == IDLE_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err) {
            connect_failed(id, err);
            return false;
        }
        send_message(id);
        return false;
    }
    if (c->state == IDLE_SENDING) {
        send_message(id);
        return false;
    }
    if (c->state == IDLE_ECHOING && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && read_echo(id)) {
        c->state = IDLE_HELD;
        return true;
    }
    if (c->state == IDLE_HELD) /* EOF, a reset, or bytes nobody asked for */
        fail_conn(id, "the server closed or wrote to it while it was held", 0);
    return false;
}

/* Opens and echoes every connection; returns when all are held, or gives up. */
static void open_all(void)
{
    unsigned next = 0, held = 0, pending = 0; /* pending: started, not yet echoed */
    double start = now_s(), deadline = start + cfg.timeout;
    struct epoll_event ev[MAX_EVENTS];
    while (held < cfg.conns) {
        while (pending < cfg.window && (n_retry > 0 || next < cfg.conns)) {
            unsigned id = n_retry > 0 ? retry[--n_retry] : next++;
            if (start_connect(id))
                pending++;
            else
                connect_failed(id, errno);
        }
        double left = deadline - now_s();
        if (left <= 0) {
            fprintf(stderr,
                    "idle_conns: timed out after %.0f s with %u of %u connections echoed (%u "
                    "waiting to connect or for the echo): is the server accepting? (its open-file "
                    "limit, its listener; --timeout gives it longer)\n",
                    cfg.timeout, held, cfg.conns, pending);
            give_up();
        }
        int n = epoll_wait(epfd, ev, MAX_EVENTS, (int)(left * 1000) + 1);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "idle_conns: epoll_wait: %s\n", strerror(errno));
            give_up();
        }
        for (int i = 0; i < n; i++) {
            if (ev[i].data.u64 == TAG_SIGNAL) {
                fprintf(stderr, "idle_conns: stopped by a signal with %u of %u echoed\n", held,
                        cfg.conns);
                give_up();
            }
            unsigned id = (unsigned)ev[i].data.u64;
            uint8_t before = conns[id].state;
            if (on_event(id, ev[i].events)) {
                held++;
                pending--;
            } else if (before != IDLE_NEW && conns[id].state == IDLE_NEW) {
                pending--; /* queued for a retry */
            }
        }
    }
    fprintf(stderr, "idle_conns: %u connections to %s port %s echoed in %.2f s\n", cfg.conns,
            cfg.host, cfg.port, now_s() - start);
}

/* Holds the connections until stdin ends or a signal comes. Returns the exit status. */
static int hold_all(void)
{
    struct epoll_event in = {.events = EPOLLIN, .data.u64 = TAG_STDIN};
    bool stdin_polled = epoll_ctl(epfd, EPOLL_CTL_ADD, STDIN_FILENO, &in) == 0;
    if (!stdin_polled) { /* a regular file or /dev/null: epoll refuses it, and it never blocks */
        char buf[4096];
        while (read(STDIN_FILENO, buf, sizeof buf) > 0) {
        }
        return 0;
    }
    struct epoll_event ev[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(epfd, ev, MAX_EVENTS, -1);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "idle_conns: epoll_wait: %s\n", strerror(errno));
            return 1;
        }
        for (int i = 0; i < n; i++) {
            uint64_t tag = ev[i].data.u64;
            if (tag == TAG_SIGNAL)
                return 0;
            if (tag == TAG_STDIN) {
                char buf[4096];
                ssize_t r = read(STDIN_FILENO, buf, sizeof buf);
                if (r <= 0 && !(r < 0 && (errno == EINTR || errno == EAGAIN)))
                    return 0; /* end of file (or an error reading it): let go */
                continue;
            }
            fail_conn((unsigned)tag, "the server closed or wrote to it while it was held", 0);
        }
    }
}

static bool parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || *s == '-' || v < min || v > max)
        return false;
    *out = (unsigned)v;
    return true;
}

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: idle_conns [--host ADDR] --port P [-n CONNS] [-s BYTES] [-w WINDOW] [-t SECS]\n"
        "  -H, --host ADDR      server address (default 127.0.0.1)\n"
        "  -p, --port P         server port (required)\n"
        "  -n, --conns N        connections to open and hold (default 1)\n"
        "  -s, --size BYTES     the one message each sends and reads back, 1 to %d (default "
        "64)\n"
        "  -w, --window W       connections at most between connect and echo (default 512)\n"
        "  -t, --timeout SECS   give up when not all are echoed by then (default 60)\n"
        "Prints \"ready N\" once all N are echoed, then holds them until stdin ends or\n"
        "SIGINT/SIGTERM/SIGHUP. Exits 1 when a connection failed or was closed by the server.\n",
        MAX_SIZE);
}

static int parse_args(int argc, char **argv)
{
    static const struct option opts[] = {
        {"host", required_argument, NULL, 'H'},   {"port", required_argument, NULL, 'p'},
        {"conns", required_argument, NULL, 'n'},  {"size", required_argument, NULL, 's'},
        {"window", required_argument, NULL, 'w'}, {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    int opt;
    unsigned v;
    char *end;
    while ((opt = getopt_long(argc, argv, "H:p:n:s:w:t:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'H':
            cfg.host = optarg;
            break;
        case 'p':
            if (!parse_uint(optarg, 1, 65535, &v)) {
                fprintf(stderr, "idle_conns: bad port '%s' (1-65535)\n", optarg);
                return 2;
            }
            cfg.port = optarg;
            break;
        case 'n':
            if (!parse_uint(optarg, 1, MAX_CONNS, &cfg.conns)) {
                fprintf(stderr, "idle_conns: bad connection count '%s' (1-%d)\n", optarg,
                        MAX_CONNS);
                return 2;
            }
            break;
        case 's':
            if (!parse_uint(optarg, 1, MAX_SIZE, &cfg.size)) {
                fprintf(stderr, "idle_conns: bad message size '%s' (1-%d)\n", optarg, MAX_SIZE);
                return 2;
            }
            break;
        case 'w':
            if (!parse_uint(optarg, 1, MAX_CONNS, &cfg.window)) {
                fprintf(stderr, "idle_conns: bad window '%s'\n", optarg);
                return 2;
            }
            break;
        case 't':
            errno = 0;
            cfg.timeout = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(cfg.timeout > 0) || cfg.timeout > 1e6) {
                fprintf(stderr, "idle_conns: bad timeout '%s'\n", optarg);
                return 2;
            }
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
        fprintf(stderr, "idle_conns: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!cfg.port) {
        fprintf(stderr, "idle_conns: --port is required\n");
        usage(stderr);
        return 2;
    }
    return -1;
}

/* Raises the open-file soft limit to the hard one; fails, saying what to do, when even that
 * is too low for the connections asked for. */
static bool raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return true;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    /* The connections, stdin/stdout/stderr, the epoll and the signalfd. */
    rlim_t need = (rlim_t)cfg.conns + 8;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        fprintf(stderr,
                "idle_conns: %u connections need about %llu file descriptors, the limit is %llu "
                "(hard limit %llu): raise it (ulimit -Hn, /etc/security/limits.conf) or ask for "
                "fewer\n",
                cfg.conns, (unsigned long long)need, (unsigned long long)rl.rlim_cur,
                (unsigned long long)rl.rlim_max);
        return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    int status = parse_args(argc, argv);
    if (status >= 0)
        return status;
    if (!raise_fd_limit())
        return 1;
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    int err = getaddrinfo(cfg.host, cfg.port, &hints, &addr);
    if (err) {
        fprintf(stderr, "idle_conns: %s: %s\n", cfg.host, gai_strerror(err));
        return 1;
    }
    conns = malloc((size_t)cfg.conns * sizeof *conns);
    retry = malloc((size_t)cfg.conns * sizeof *retry);
    if (!conns || !retry) {
        fprintf(stderr, "idle_conns: out of memory for %u connections\n", cfg.conns);
        return 1;
    }
    for (unsigned i = 0; i < cfg.conns; i++)
        conns[i] = (struct conn){.fd = -1};

    /* Signals come through a signalfd in the same epoll, so a stop is seen in either phase. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGHUP);
    sigprocmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    int sfd = signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC);
    struct epoll_event sev = {.events = EPOLLIN, .data.u64 = TAG_SIGNAL};
    if (epfd < 0 || sfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &sev) < 0) {
        fprintf(stderr, "idle_conns: epoll/signalfd: %s\n", strerror(errno));
        return 1;
    }

    open_all();
    printf("ready %u\n", cfg.conns);
    fflush(stdout);
    status = hold_all();
    close_all();
    freeaddrinfo(addr);
    free(conns);
    free(retry);
    return status;
}
