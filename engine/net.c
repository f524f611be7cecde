/* TCP helpers: listen, dial, name resolution on the executor, socket options. Built on
 * the await-style calls (op.c) and corio_run_blocking (executor.c); nothing here touches
 * the loop directly. */
#include "corio/executor.h"
#include "corio/net.h"
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ---- name resolution ------------------------------------------------------------- */

/* One getaddrinfo call, owned by the job: the strings are copied into it, because a
 * caller that gives up (cancel, deadline) returns while the worker still reads them. */
struct gai_job {
    struct addrinfo hints;
    bool has_hints;
    const char *node, *service; /* into buf, or NULL */
    struct addrinfo *res;
    int gai;     /* getaddrinfo's return value */
    int sys_err; /* errno, for EAI_SYSTEM */
    char buf[];
};

static void *gai_run(void *arg)
{
    struct gai_job *g = arg;
    g->gai = getaddrinfo(g->node, g->service, g->has_hints ? &g->hints : NULL, &g->res);
    g->sys_err = errno;
    return g;
}

/* The caller gave up: free what the lookup produced, on whichever thread finishes. */
static void gai_dispose(void *arg, void *result)
{
    (void)result;
    struct gai_job *g = arg;
    if (g->gai == 0)
        freeaddrinfo(g->res);
    free(g);
}

static int gai_to_err(int gai, int sys_err)
{
    switch (gai) {
    case 0:
        return 0;
    case EAI_NONAME:
    case EAI_NODATA:
    case EAI_ADDRFAMILY:
        return CORIO_ENONAME;
    case EAI_AGAIN:
    case EAI_FAIL:
        return CORIO_ERESOLVE;
    case EAI_MEMORY:
        return -ENOMEM;
    case EAI_SYSTEM:
        return sys_err > 0 ? -sys_err : CORIO_ERESOLVE;
    case EAI_OVERFLOW:
        return -EOVERFLOW;
    default: /* EAI_BADFLAGS, EAI_FAMILY, EAI_SOCKTYPE, EAI_SERVICE: the hints */
        return -EINVAL;
    }
}

/* RFC 6761 6.4: "invalid" and names under it never resolve; resolvers should say so at
 * once. Ours does, so that no query leaves the machine. */
static bool in_invalid_tld(const char *name)
{
    static const char tld[] = "invalid";
    const size_t tn = sizeof tld - 1;
    size_t n = strlen(name);
    if (n > 0 && name[n - 1] == '.')
        n--; /* fully qualified */
    if (n < tn || strncasecmp(name + n - tn, tld, tn) != 0)
        return false;
    return n == tn || name[n - tn - 1] == '.';
}

static char *copy_str(char **at, const char *s)
{
    if (s == NULL)
        return NULL;
    char *d = *at;
    size_t n = strlen(s) + 1;
    memcpy(d, s, n);
    *at += n;
    return d;
}

int corio_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                      struct addrinfo **res)
{
    if (res == NULL || (node == NULL && service == NULL))
        return -EINVAL;
    int err;
    if (corio_task_enter_await(&err) == NULL)
        return err;
    if (node != NULL && in_invalid_tld(node))
        return CORIO_ENONAME;

    size_t len =
        (node != NULL ? strlen(node) + 1 : 0) + (service != NULL ? strlen(service) + 1 : 0);
    struct gai_job *g = calloc(1, sizeof *g + len);
    if (g == NULL)
        return -ENOMEM;
    char *at = g->buf;
    g->node = copy_str(&at, node);
    g->service = copy_str(&at, service);
    if (hints != NULL) {
        /* Only these four fields are inputs; POSIX wants the rest zero. */
        g->hints.ai_flags = hints->ai_flags;
        g->hints.ai_family = hints->ai_family;
        g->hints.ai_socktype = hints->ai_socktype;
        g->hints.ai_protocol = hints->ai_protocol;
        g->has_hints = true;
    }
    g->gai = EAI_SYSTEM; /* until gai_run has run: gai_dispose frees no list */
    err = corio_run_blocking_ex(gai_run, g, gai_dispose, NULL);
    if (err < 0)
        return err; /* g went to gai_dispose, now or once the lookup has finished */
    err = gai_to_err(g->gai, g->sys_err);
    if (err == 0)
        *res = g->res;
    free(g);
    return err;
}

/* ---- addresses ------------------------------------------------------------------- */

/* A numeric host (see net.h) as a socket address; false if host is a name. */
static bool parse_numeric(const char *host, uint16_t port, struct sockaddr_storage *ss,
                          socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        *len = sizeof *in;
        return true;
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        *len = sizeof *in6;
        return true;
    }
    return false;
}

/* Resolves a name for a TCP socket; port as the numeric service. */
static int resolve_tcp(const char *host, uint16_t port, int flags, struct addrinfo **res)
{
    char service[8];
    snprintf(service, sizeof service, "%u", (unsigned)port);
    struct addrinfo hints = {
        .ai_flags = flags | AI_NUMERICSERV,
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_protocol = IPPROTO_TCP,
    };
    return corio_getaddrinfo(host, service, &hints, res);
}

/* ---- listen ---------------------------------------------------------------------- */

static int listen_one(const struct sockaddr *sa, socklen_t len, int backlog, unsigned flags)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
    if (fd < 0)
        return -errno;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        ((flags & CORIO_LISTEN_REUSEPORT) &&
         setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) ||
        bind(fd, sa, len) < 0 || listen(fd, backlog) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

int corio_listen_ex(const char *host, uint16_t port, int backlog, unsigned flags)
{
    if ((host != NULL && *host == '\0') || (flags & ~(unsigned)CORIO_LISTEN_REUSEPORT))
        return -EINVAL;
    struct sockaddr_storage ss;
    socklen_t len;
    if (parse_numeric(host != NULL ? host : "127.0.0.1", port, &ss, &len))
        return listen_one((struct sockaddr *)&ss, len, backlog, flags);

    struct addrinfo *res;
    int err = resolve_tcp(host, port, AI_PASSIVE, &res);
    if (err < 0)
        return err;
    int first = 0;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        int fd = listen_one(ai->ai_addr, ai->ai_addrlen, backlog, flags);
        if (fd >= 0) {
            freeaddrinfo(res);
            return fd;
        }
        if (first == 0)
            first = fd;
    }
    freeaddrinfo(res);
    return first != 0 ? first : CORIO_ENONAME;
}

int corio_listen(const char *host, uint16_t port, int backlog)
{
    return corio_listen_ex(host, port, backlog, 0);
}

/* ---- dial ------------------------------------------------------------------------ */

/* One connection attempt. Sockets are closed with close(2), not corio_close: a cancelled
 * task's corio_close would return -ECANCELED without closing. */
static int dial_one(const struct sockaddr *sa, socklen_t len)
{
    int fd = corio_socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
    if (fd < 0)
        return fd;
    int err = corio_connect(fd, sa, len);
    if (err < 0) {
        close(fd);
        return err;
    }
    return fd;
}

int corio_dial(const char *host, uint16_t port)
{
    if (host == NULL || *host == '\0' || port == 0)
        return -EINVAL;
    int err;
    if (corio_task_enter_await(&err) == NULL)
        return err;
    struct sockaddr_storage ss;
    socklen_t len;
    if (parse_numeric(host, port, &ss, &len))
        return dial_one((struct sockaddr *)&ss, len);

    struct addrinfo *res;
    err = resolve_tcp(host, port, 0, &res);
    if (err < 0)
        return err;
    int first = 0;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        int fd = dial_one(ai->ai_addr, ai->ai_addrlen);
        if (fd >= 0) {
            freeaddrinfo(res);
            return fd;
        }
        if (first == 0)
            first = fd;
        /* Cancelled, or out of time: the next address would fail the same way. */
        if (corio_task_enter_await(&err) == NULL) {
            first = err;
            break;
        }
    }
    freeaddrinfo(res);
    return first != 0 ? first : CORIO_ENONAME;
}

/* ---- socket options -------------------------------------------------------------- */

static int set_int(int fd, int level, int name, int value)
{
    if (fd < 0)
        return -EBADF;
    return setsockopt(fd, level, name, &value, sizeof value) < 0 ? -errno : 0;
}

int corio_sock_nodelay(int fd, bool on)
{
    return set_int(fd, IPPROTO_TCP, TCP_NODELAY, on);
}

int corio_sock_reuseport(int fd, bool on)
{
    return set_int(fd, SOL_SOCKET, SO_REUSEPORT, on);
}

int corio_sock_keepalive(int fd, bool on, unsigned idle_s, unsigned interval_s, unsigned count)
{
    if (idle_s > INT32_MAX || interval_s > INT32_MAX || count > INT32_MAX)
        return -EINVAL;
    int err = set_int(fd, SOL_SOCKET, SO_KEEPALIVE, on);
    if (err == 0 && on && idle_s != 0)
        err = set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, (int)idle_s);
    if (err == 0 && on && interval_s != 0)
        err = set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, (int)interval_s);
    if (err == 0 && on && count != 0)
        err = set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, (int)count);
    return err;
}

int corio_sock_nonblocking(int fd, bool on)
{
    if (fd < 0)
        return -EBADF;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -errno;
    int want = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
    if (want != fl && fcntl(fd, F_SETFL, want) < 0)
        return -errno;
    return 0;
}

int corio_sock_buffers(int fd, int rcvbuf, int sndbuf)
{
    if (fd < 0)
        return -EBADF;
    if (rcvbuf < 0 || sndbuf < 0)
        return -EINVAL;
    int err = 0;
    if (rcvbuf > 0)
        err = set_int(fd, SOL_SOCKET, SO_RCVBUF, rcvbuf);
    if (err == 0 && sndbuf > 0)
        err = set_int(fd, SOL_SOCKET, SO_SNDBUF, sndbuf);
    return err;
}

int corio_sock_port(int fd)
{
    if (fd < 0)
        return -EBADF;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -errno;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -EAFNOSUPPORT;
}
