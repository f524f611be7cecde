/* serving.h: how the tools (corio-echo, corio-httpd, corio-kv) say that they serve: a
 * start gate their loop threads pass once they accept or have failed, and the listening
 * line printed on stdout after it. Header-only, so that each tool stays one program.
 *
 * The listening line, one per address served:
 *
 *   listening on [SCHEME://]ADDR:PORT
 *
 * ADDR is the numeric address the socket is bound to, an IPv6 one in brackets
 * ("listening on [::1]:8080"). SCHEME names the protocol where it has a URL scheme:
 * corio-httpd prints "listening on http://127.0.0.1:8080" (an HTTPS listener would add
 * its own "https://" line); corio-echo and corio-kv speak plain TCP protocols and print
 * none ("listening on 127.0.0.1:7000"). Several loops sharing one address (--threads N,
 * SO_REUSEPORT) are one line. The lines come only once every loop is accepting, then
 * stdout is flushed; a tool that cannot start prints none, says why on stderr and exits
 * 1. Scripts take the line they want (the first, or the one with their scheme) and the
 * port after its last ':'. */
#ifndef CORIO_EXAMPLES_SERVING_H
#define CORIO_EXAMPLES_SERVING_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>

/* ---- the start gate ------------------------------------------------------------------
 * Each of `expected` loop threads passes once: when it accepts, or when it has failed
 * (its loop could not be made, or ended before it got that far). The main thread waits
 * until every one has passed, so that it knows which loops exist before it prints a line
 * or stops them. */
struct start_gate {
    pthread_mutex_t mu;
    pthread_cond_t passed;
    unsigned expected, ready, failed;
};

static inline void start_gate_init(struct start_gate *g, unsigned expected)
{
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->passed, NULL);
    g->expected = expected;
    g->ready = g->failed = 0;
}

/* A loop thread's one pass: ok when it accepts, false when it failed. Returns true for
 * the first failure: several loops that fail the same way say why once. */
static inline bool start_gate_pass(struct start_gate *g, bool ok)
{
    pthread_mutex_lock(&g->mu);
    bool first_failure = !ok && g->failed == 0;
    if (ok)
        g->ready++;
    else
        g->failed++;
    pthread_cond_broadcast(&g->passed);
    pthread_mutex_unlock(&g->mu);
    return first_failure;
}

/* Waits for every loop thread's pass. Returns true if all of them accept. */
static inline bool start_gate_wait(struct start_gate *g)
{
    pthread_mutex_lock(&g->mu);
    while (g->ready + g->failed < g->expected)
        pthread_cond_wait(&g->passed, &g->mu);
    bool ok = g->failed == 0;
    pthread_mutex_unlock(&g->mu);
    return ok;
}

static inline void start_gate_destroy(struct start_gate *g)
{
    pthread_cond_destroy(&g->passed);
    pthread_mutex_destroy(&g->mu);
}

/* ---- the listening line ------------------------------------------------------------ */

/* Prints the listening line of the bound socket fd (scheme NULL: none) and flushes
 * stdout. Returns 0, or -errno if the socket's address cannot be read or stdout fails. */
static inline int print_listening(const char *scheme, int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -errno;
    char addr[INET6_ADDRSTRLEN];
    unsigned port;
    bool v6 = ss.ss_family == AF_INET6;
    if (v6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof addr);
        port = ntohs(in6->sin6_port);
    } else if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &in->sin_addr, addr, sizeof addr);
        port = ntohs(in->sin_port);
    } else {
        return -EAFNOSUPPORT;
    }
    if (printf("listening on %s%s%s%s%s:%u\n", scheme != NULL ? scheme : "",
               scheme != NULL ? "://" : "", v6 ? "[" : "", addr, v6 ? "]" : "", port) < 0 ||
        fflush(stdout) != 0)
        return -EIO;
    return 0;
}

#endif
