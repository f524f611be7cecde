/* Helpers shared by the engine tests: loopback sockets, a loop that must exist, and a
 * watchdog that kills a hung test instead of letting ctest wait. */
#ifndef CORIO_TEST_SUPPORT_H
#define CORIO_TEST_SUPPORT_H

#include <corio/corio.h>

#include <netinet/in.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t support_now_ns(void);

/* Exits 77 (ctest: skipped) with the reason when io_uring cannot be set up here. */
void support_require_uring(void);

/* The backend a default loop runs on here: "io_uring", or "epoll" (CORIO_BACKEND=epoll,
 * or io_uring blocked). */
const char *support_backend(void);

/* True when default loops run on io_uring: checks of io_uring-only counters (a full SQ,
 * CQ overflow) are made only then. */
int support_on_uring(void);

/* A loop with `entries` SQ entries (0: default); fails the test if it cannot be made. */
corio_loop_t *support_loop(unsigned entries);

/* A loop with these options: skips the test when SQPOLL was asked for and refused with
 * -EPERM (it needs CAP_SYS_NICE before Linux 5.13), fails it if it cannot be made. */
corio_loop_t *support_loop_opts(const corio_loop_opts_t *opts);

/* Kills the process with SIGALRM after `seconds`: a hang becomes a failure. */
void support_watchdog(unsigned seconds);

/* 127.0.0.1:port as a sockaddr. */
struct sockaddr_in support_loopback(uint16_t port);

/* The local and the peer port of a connected or bound IPv4 socket (fails the test on
 * error). */
uint16_t support_local_port(int fd);
uint16_t support_peer_port(int fd);

/* A listening TCP socket on 127.0.0.1 with an ephemeral port (written to *port). */
int support_listener(uint16_t *port);

/* A blocking TCP socket connected to 127.0.0.1:port (close-on-exec). */
int support_connect(uint16_t port);

/* A connected TCP pair over 127.0.0.1 (blocking sockets). */
void support_tcp_pair(int *client, int *server);

/* A TCP port on 127.0.0.1 that refuses connections (nothing listens on it). */
uint16_t support_refused_port(void);

/* Sets SO_LINGER 0 and closes: the peer sees a reset (ECONNRESET), not an EOF. */
void support_close_with_reset(int fd);

/* Runs fn(arg) as the only task of a fresh loop (corio_run) and returns its result;
 * fails the test if the loop could not run. */
void *support_run(void *(*fn)(void *), void *arg);

/* A file in /tmp with `len` bytes of a known pattern (byte i is (i * 7 + 3) & 0xff); the
 * path is unlinked right away, the open fd (O_RDWR) returned. */
int support_pattern_file(size_t len);

/* Entries of /proc/self/fd now: a failure path that leaks an fd shows as a difference. */
int support_count_fds(void);

#endif
