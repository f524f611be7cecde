/* corio/net.h: TCP helpers on top of the await-style calls of corio.h.
 *
 *   1. errors of name resolution
 *   2. listen: a listening socket in one call
 *   3. dial: resolve a name (on the executor) and connect, address by address
 *   4. name resolution: getaddrinfo(3) without blocking the loop
 *   5. socket options
 *
 * Conventions
 * - Results are >= 0 (an fd, a port, 0) or a negative errno, as everywhere in corio, plus
 *   the two resolution codes below. corio_strerror() names all of them.
 * - Every fd handed out is close-on-exec and in blocking mode (the io_uring calls of
 *   corio.h want that: they never block the thread). The caller owns it and closes it
 *   (corio_close or close(2)). On any failure no fd is left open.
 * - Hosts are numeric addresses or names. Numeric means what inet_pton(3) accepts: a
 *   dotted IPv4 address ("127.0.0.1") or an IPv6 address without scope or brackets
 *   ("::1"); these never touch the resolver. Anything else is a name, resolved with
 *   getaddrinfo(3) on the executor (corio/executor.h), which needs a task. Names in the
 *   reserved ".invalid" top-level domain (RFC 6761 section 6.4) fail at once with
 *   CORIO_ENONAME, without asking the resolver.
 */
#ifndef CORIO_NET_H
#define CORIO_NET_H

#include <corio/corio.h>

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct addrinfo;

/* ---- 1. errors ----------------------------------------------------------------------
 * Name resolution fails in ways no errno describes. These codes lie below -4095, outside
 * the range of any errno, so they never collide with one. */

/* The name does not exist, or has no address usable for a TCP socket (EAI_NONAME,
 * EAI_NODATA, EAI_ADDRFAMILY; and every name under ".invalid"). */
#define CORIO_ENONAME (-4097)
/* The resolver failed to answer: a temporary failure (EAI_AGAIN; try again later) or a
 * permanent one (EAI_FAIL), e.g. no name server reachable. */
#define CORIO_ERESOLVE (-4098)

/* ---- 2. listen ---------------------------------------------------------------------- */

enum {
    /* Set SO_REUSEPORT before binding: several sockets (one per loop thread) may listen
     * on the same port, and the kernel spreads connections among them. */
    CORIO_LISTEN_REUSEPORT = 1u << 0,
};

/* A TCP socket bound to host:port and listening, with SO_REUSEADDR set (a restarted
 * server can bind again while old connections linger in TIME_WAIT). host NULL means the
 * loopback address 127.0.0.1: a server is reachable from other machines only when asked
 * for ("0.0.0.0" or "::" for every interface, or a given address). port 0 picks a free
 * port: read it back with corio_sock_port(). backlog is listen(2)'s: the queue of
 * connections not yet accepted; -1 means the system maximum (net.core.somaxconn). A name
 * that resolves to several addresses binds the first that works.
 * Returns the listening fd, or -EINVAL (empty host, unknown flags), -EADDRINUSE (the port
 * is taken), -EADDRNOTAVAIL (not an address of this machine), -EACCES (a port below
 * 1024 without the privilege), CORIO_ENONAME, CORIO_ERESOLVE, or another negative errno
 * of socket/bind/listen. Numeric hosts and NULL work anywhere and never block (plain
 * system calls); a name needs a task (-EPERM outside one) and is resolved on the
 * executor, with -ECANCELED/-ETIMEDOUT like any await-style call. */
CORIO_API int corio_listen(const char *host, uint16_t port, int backlog);

/* corio_listen with flags (CORIO_LISTEN_*). */
CORIO_API int corio_listen_ex(const char *host, uint16_t port, int backlog, unsigned flags);

/* ---- 3. dial ------------------------------------------------------------------------ */

/* Inside a task: a TCP connection to host:port. A name is resolved on the executor (the
 * loop keeps running), then each address it gave is tried in turn, in getaddrinfo's
 * order, with corio_socket + corio_connect, until one connects. The task's deadline
 * (corio_timeout_begin) covers the whole call, resolution included; put a deadline
 * around a dial, since an unanswered connect is otherwise only given up by the kernel
 * after about two minutes. Returns the connected fd (blocking mode, close-on-exec;
 * TCP_NODELAY is not set: see corio_sock_nodelay), or:
 *   -EINVAL         NULL or empty host, port 0
 *   -EPERM          outside a task
 *   -ECANCELED      the task was cancelled; -ETIMEDOUT: its deadline passed
 *   CORIO_ENONAME   the name does not resolve; CORIO_ERESOLVE: the resolver failed
 *   -ECONNREFUSED   nothing listens there (the first address's error is returned when
 *                   every address fails: -ENETUNREACH, -EHOSTUNREACH, ...)
 * No socket is left open on any failure path. */
CORIO_API int corio_dial(const char *host, uint16_t port);

/* ---- 4. name resolution ------------------------------------------------------------- */

/* Inside a task: getaddrinfo(node, service, hints, res) run on an executor worker (it
 * may block for seconds and needs a deeper stack than a task has); the task is parked
 * meanwhile. The arguments are copied: they need only live for the call. Returns 0 and
 * sets *res (free it with freeaddrinfo(3)), or CORIO_ENONAME, CORIO_ERESOLVE, -ENOMEM,
 * -EINVAL (NULL res, both node and service NULL, or hints getaddrinfo rejects),
 * -EPERM outside a task, -ECANCELED or -ETIMEDOUT (the lookup finishes on its worker
 * and its result is freed there), or the errno of a system error (EAI_SYSTEM). */
CORIO_API int corio_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                                struct addrinfo **res);

/* ---- 5. socket options --------------------------------------------------------------
 * Plain setsockopt/fcntl calls: they work anywhere (no task needed), never block, and
 * are as thread-safe as the fd. Each returns 0, -EBADF for a negative or closed fd, or
 * the negative errno the kernel gave (-ENOTSOCK, -ENOPROTOOPT, ...). */

/* TCP_NODELAY: send small writes at once instead of coalescing them (Nagle). */
CORIO_API int corio_sock_nodelay(int fd, bool on);

/* SO_REUSEPORT (takes effect at bind: see CORIO_LISTEN_REUSEPORT). */
CORIO_API int corio_sock_reuseport(int fd, bool on);

/* SO_KEEPALIVE, and when on, the probing schedule: idle_s seconds of silence before the
 * first probe (TCP_KEEPIDLE), interval_s between probes (TCP_KEEPINTVL), count probes
 * unanswered before the connection is dropped (TCP_KEEPCNT). 0 leaves a value at the
 * system default. */
CORIO_API int corio_sock_keepalive(int fd, bool on, unsigned idle_s, unsigned interval_s,
                                   unsigned count);

/* O_NONBLOCK on or off. corio's own calls do not need it (io_uring waits for readiness
 * itself); it is for handing the fd to other code. */
CORIO_API int corio_sock_nonblocking(int fd, bool on);

/* SO_RCVBUF and SO_SNDBUF in bytes; 0 leaves one unchanged. The kernel doubles the value
 * for its bookkeeping and caps it at net.core.rmem_max / wmem_max. -EINVAL if negative. */
CORIO_API int corio_sock_buffers(int fd, int rcvbuf, int sndbuf);

/* The local port an fd is bound to (after corio_listen with port 0, say), or -errno. */
CORIO_API int corio_sock_port(int fd);

#ifdef __cplusplus
}
#endif

#endif
