/* What the baseline echo servers (epoll_echo.c, uring_echo.c, uv_echo.c) share: their command
 * line (--host, --port, --help), the listening socket, and the listening line. Header-only
 * so that each stays a standalone one-file program with no corio dependency. */
#ifndef CORIO_BENCH_ECHO_BASELINE_H
#define CORIO_BENCH_ECHO_BASELINE_H

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static void echo_usage(const char *name, FILE *out)
{
    fprintf(out,
            "usage: %s [--host ADDR] [--port P]\n"
            "  --host ADDR  address to listen on (default 127.0.0.1)\n"
            "  --port P     TCP port, 0 for an ephemeral one (default 0)\n"
            "Prints \"listening on ADDR:PORT\" as its first line; SIGINT/SIGTERM stop it.\n",
            name);
}

static bool echo_parse_port(const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return !errno && end != s && !*end && v >= 0 && v <= 65535;
}

/* Parses the command line into *host and *port. Returns -1 to go on, or the exit status
 * (0 after --help, 2 for a bad flag, with the reason and the usage on stderr). Also raises
 * the open-file limit to its maximum, for tests with many connections. */
static int echo_parse_args(const char *name, int argc, char **argv, const char **host,
                           const char **port)
{
    static const struct option opts[] = {{"host", required_argument, NULL, 'H'},
                                         {"port", required_argument, NULL, 'p'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    *host = "127.0.0.1";
    *port = "0";
    int opt;
    while ((opt = getopt_long(argc, argv, "H:p:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'H':
            *host = optarg;
            break;
        case 'p':
            if (!echo_parse_port(optarg)) {
                fprintf(stderr, "%s: bad port '%s' (0-65535)\n", name, optarg);
                return 2;
            }
            *port = optarg;
            break;
        case 'h':
            echo_usage(name, stdout);
            return 0;
        default:
            echo_usage(name, stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", name, argv[optind]);
        echo_usage(name, stderr);
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    return -1;
}

/* A nonblocking listening socket on host:port, or -1 with the reason on stderr. */
static int echo_listen(const char *name, const char *host, const char *port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    int err = getaddrinfo(host, port, &hints, &res);
    if (err) {
        fprintf(stderr, "%s: %s: %s\n", name, host, gai_strerror(err));
        return -1;
    }
    int fd = -1, saved = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0)
            break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        fprintf(stderr, "%s: cannot listen on %s port %s: %s\n", name, host, port, strerror(saved));
    return fd;
}

/* Prints "listening on ADDR:PORT" ("[ADDR]:PORT" for IPv6) for the listening socket fd,
 * flushed: scripts wait for that line. The format is corio's tools' (examples/serving.h),
 * so one parser serves both. */
static void echo_print_listening(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char addr[INET6_ADDRSTRLEN] = "?";
    int port = -1;
    bool v6 = false;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
        v6 = ss.ss_family == AF_INET6;
        const void *a = v6 ? (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
                           : (const void *)&((struct sockaddr_in *)&ss)->sin_addr;
        inet_ntop(ss.ss_family, a, addr, sizeof addr);
        port = v6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                  : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    printf("listening on %s%s%s:%d\n", v6 ? "[" : "", addr, v6 ? "]" : "", port);
    fflush(stdout);
}

#endif
