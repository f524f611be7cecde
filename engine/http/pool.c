/* The HTTP client's connections: origins and their resolved addresses, the keep-alive
 * pool every task of the client draws from, the total and per-origin caps with the tasks
 * waiting under them, and making a connection (TCP, to the origin or to its proxy and
 * through it: proxy.c, then TLS for https). */
#include "client_internal.h"
#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* ---- origins ------------------------------------------------------------------------- */

#define DNS_TTL_DEFAULT_NS (60 * 1000000000ull)

/* Addresses given for a host and port (corio_http_client_add_resolve). */
struct hc_pin {
    struct hc_pin *next;
    uint16_t port; /* 0: every port */
    unsigned naddrs;
    struct sockaddr_storage addr[HC_MAX_ADDRS]; /* ports unset: the origin's own */
    socklen_t addrlen[HC_MAX_ADDRS];
    char host[CORIO_HTTP_MAX_HOST + 1];
};

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

/* Parses a numeric IPv4 or IPv6 address (brackets allowed around IPv6) of len bytes. */
static bool parse_addr(const char *s, size_t len, struct sockaddr_storage *ss, socklen_t *sl)
{
    char buf[INET6_ADDRSTRLEN + 2];
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']')
        s++, len -= 2;
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, buf, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        *sl = sizeof *v4;
    } else if (inet_pton(AF_INET6, buf, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        *sl = sizeof *v6;
    } else {
        return false;
    }
    return true;
}

static void pin_apply(const struct hc_pin *p, struct hc_origin *o)
{
    if ((p->port != 0 && p->port != o->port) || strcasecmp(p->host, o->host) != 0)
        return;
    for (unsigned i = 0; i < p->naddrs; i++) {
        o->addr[i] = p->addr[i];
        o->addrlen[i] = p->addrlen[i];
        set_port(&o->addr[i], o->port);
    }
    o->naddrs = p->naddrs;
    o->rstate = HC_R_DONE;
    o->pinned = true;
}

int corio_http_client_add_resolve(corio_http_client_t *c, const char *host, uint16_t port,
                                  const char *addrs)
{
    if (c == NULL || host == NULL || addrs == NULL)
        return -EINVAL;
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']')
        host++, hl -= 2;
    if (hl == 0 || hl > CORIO_HTTP_MAX_HOST)
        return -EINVAL;
    struct hc_pin *p = calloc(1, sizeof *p);
    if (p == NULL)
        return -ENOMEM;
    memcpy(p->host, host, hl);
    p->port = port;
    for (const char *s = addrs;;) {
        const char *e = strchr(s, ',');
        size_t len = e != NULL ? (size_t)(e - s) : strlen(s);
        if (p->naddrs == HC_MAX_ADDRS ||
            !parse_addr(s, len, &p->addr[p->naddrs], &p->addrlen[p->naddrs])) {
            free(p);
            return -EINVAL;
        }
        p->naddrs++;
        if (e == NULL)
            break;
        s = e + 1;
    }
    /* The newest pin wins: it goes first, and origins made already take it now. */
    p->next = c->pins;
    c->pins = p;
    for (unsigned i = 0; i < HC_BUCKETS; i++)
        for (struct hc_origin *o = c->origins[i]; o != NULL; o = o->next)
            pin_apply(p, o);
    return 0;
}

/* A numeric host needs no resolver: its one address, now. */
static void resolve_numeric(struct hc_origin *o)
{
    socklen_t sl;
    if (!parse_addr(o->host, strlen(o->host), &o->addr[0], &sl))
        return;
    set_port(&o->addr[0], o->port);
    o->addrlen[0] = sl;
    o->naddrs = 1;
    o->rstate = HC_R_DONE;
    o->pinned = true;
}

struct hc_origin *hc_origin_get(corio_http_client_t *c, bool https, const char *host, uint16_t port,
                                struct hc_proxy *proxy)
{
    uint64_t h = 0xcbf29ce484222325u ^ port ^ (https ? 0x9e3779b97f4a7c15u : 0) ^ (uintptr_t)proxy;
    for (const char *p = host; *p; p++)
        h = (h ^ (unsigned char)(*p | 0x20)) * 0x100000001b3u;
    struct hc_origin **slot = &c->origins[h % HC_BUCKETS];
    for (struct hc_origin *o = *slot; o != NULL; o = o->next)
        if (o->port == port && o->https == https && o->proxy == proxy &&
            strcasecmp(o->host, host) == 0)
            return o;
    struct hc_origin *o = calloc(1, sizeof *o);
    if (o == NULL)
        return NULL;
    o->proxy = proxy;
    o->https = https;
    o->port = port;
    snprintf(o->host, sizeof o->host, "%s", host);
    corio_event_init(&o->resolved);
    resolve_numeric(o);
    for (const struct hc_pin *p = c->pins; p != NULL && !o->pinned; p = p->next)
        pin_apply(p, o);
    o->next = *slot;
    *slot = o;
    return o;
}

void hc_origins_free(corio_http_client_t *c)
{
    for (unsigned i = 0; i < HC_BUCKETS; i++)
        for (struct hc_origin *o = c->origins[i], *next; o != NULL; o = next) {
            next = o->next;
            free(o);
        }
    memset(c->origins, 0, sizeof c->origins);
    for (struct hc_pin *p = c->pins, *next; p != NULL; p = next) {
        next = p->next;
        free(p);
    }
    c->pins = NULL;
}

/* Resolves o; tasks asking meanwhile wait for the same answer. An answer, and a name that
 * does not exist, are kept for dns_ttl_ns; a resolver failure is tried again by the next
 * request, and meanwhile the addresses of an earlier answer are used if there are any
 * (getaddrinfo gives no record lifetimes, so the client's bound is the only one). */
static uint64_t dns_now(void)
{
    struct timespec ts; /* precise: a lifetime may be shorter than the coarse clock's tick */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int resolve(corio_http_client_t *c, struct hc_origin *o)
{
    uint64_t ttl = c->o.dns_ttl_ns != 0 ? c->o.dns_ttl_ns : DNS_TTL_DEFAULT_NS;
    for (;;) {
        if ((o->rstate == HC_R_DONE || o->rstate == HC_R_FAILED) && !o->pinned &&
            dns_now() - o->resolved_at >= ttl)
            o->rstate = HC_R_NONE; /* expired */
        if (o->rstate == HC_R_DONE)
            return 0;
        if (o->rstate == HC_R_FAILED)
            return o->rerr;
        if (o->rstate == HC_R_BUSY) {
            int rc = corio_event_wait(&o->resolved);
            if (rc < 0)
                return rc;
            continue;
        }
        o->rstate = HC_R_BUSY;
        corio_event_clear(&o->resolved);
        char port[8];
        snprintf(port, sizeof port, "%u", (unsigned)o->port);
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
        c->st.dns_lookups++;
        int rc = corio_getaddrinfo(o->host, port, &hints, &res);
        o->rstate = HC_R_NONE;
        if (rc == 0) {
            o->naddrs = 0;
            for (struct addrinfo *a = res; a != NULL && o->naddrs < HC_MAX_ADDRS; a = a->ai_next) {
                if (a->ai_addrlen > sizeof o->addr[0])
                    continue;
                memcpy(&o->addr[o->naddrs], a->ai_addr, a->ai_addrlen);
                o->addrlen[o->naddrs++] = a->ai_addrlen;
            }
            freeaddrinfo(res);
            rc = o->naddrs > 0 ? 0 : CORIO_ENONAME;
        }
        if (rc == 0 || rc == CORIO_ENONAME) {
            o->rstate = rc == 0 ? HC_R_DONE : HC_R_FAILED;
            o->resolved_at = dns_now();
        } else if (rc != -ECANCELED && rc != -ETIMEDOUT && o->naddrs > 0) {
            o->rstate = HC_R_DONE; /* stale, until the next request tries again */
            rc = 0;
        }
        o->rerr = rc;
        corio_event_set(&o->resolved);
        return rc;
    }
}

/* ---- the idle lists -------------------------------------------------------------------- */

static void idle_unlink(corio_http_client_t *c, struct hc_conn *conn)
{
    struct hc_origin *o = conn->o;
    if (conn->prev != NULL)
        conn->prev->next = conn->next;
    else
        o->idle = conn->next;
    if (conn->next != NULL)
        conn->next->prev = conn->prev;
    if (conn->older != NULL)
        conn->older->newer = conn->newer;
    else
        c->lru_oldest = conn->newer;
    if (conn->newer != NULL)
        conn->newer->older = conn->older;
    else
        c->lru_newest = conn->older;
    conn->next = conn->prev = conn->older = conn->newer = NULL;
    c->nidle--;
}

static void idle_push(corio_http_client_t *c, struct hc_conn *conn)
{
    struct hc_origin *o = conn->o;
    conn->prev = NULL;
    conn->next = o->idle;
    if (o->idle != NULL)
        o->idle->prev = conn;
    o->idle = conn;
    conn->newer = NULL;
    conn->older = c->lru_newest;
    if (c->lru_newest != NULL)
        c->lru_newest->newer = conn;
    else
        c->lru_oldest = conn;
    c->lru_newest = conn;
    c->nidle++;
}

/* ---- waiting for a slot ----------------------------------------------------------------
 * Waiters queue in arrival order. Whenever a connection is given back or closed, it is
 * granted at once to the first waiter that can use it: the connection itself (handed
 * over, never idle in between), or a slot taken on the waiter's behalf. So a task that
 * gives a connection back and asks again at once does not take it from under a waiter,
 * nor does one that just arrived. */

static void conn_release(corio_http_client_t *c, struct hc_conn *conn);

static void slot_take(corio_http_client_t *c, struct hc_origin *o)
{
    o->nopen++;
    c->nopen++;
    c->st.conns_open = c->nopen;
}

static void waiter_unlink(corio_http_client_t *c, struct hc_waiter *w)
{
    if (!w->queued)
        return;
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        c->wait_head = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    else
        c->wait_tail = w->prev;
    w->queued = false;
    c->st.waiting--;
}

/* Grants what is free to the waiters that can use it, first come first served. */
static void wake(corio_http_client_t *c)
{
    for (struct hc_waiter *w = c->wait_head, *next; w != NULL; w = next) {
        next = w->next;
        struct hc_origin *o = w->o;
        if (o->idle != NULL) {
            w->conn = o->idle;
            idle_unlink(c, w->conn);
            c->st.conns_idle = c->nidle;
        } else if (o->nopen < c->o.max_conns_per_host &&
                   (c->nopen < c->o.max_conns || c->lru_oldest != NULL)) {
            if (c->nopen >= c->o.max_conns) { /* room: another origin's oldest idle one */
                struct hc_conn *old = c->lru_oldest;
                idle_unlink(c, old);
                c->st.conns_idle = c->nidle;
                conn_release(c, old);
            }
            slot_take(c, o);
            w->slot = true;
        } else {
            continue;
        }
        waiter_unlink(c, w);
        corio_event_set(&w->ev);
    }
}

/* Waits for a grant: *conn (a connection handed over) or *slot (a slot taken for the
 * caller). Returns 0, or -ETIMEDOUT/-ECANCELED (a grant that came anyway is passed on). */
static int wait_for_slot(corio_http_client_t *c, struct hc_origin *o, struct hc_conn **conn,
                         bool *slot)
{
    struct hc_waiter w = {.o = o, .queued = true, .prev = c->wait_tail};
    corio_event_init(&w.ev);
    if (c->wait_tail != NULL)
        c->wait_tail->next = &w;
    else
        c->wait_head = &w;
    c->wait_tail = &w;
    c->st.waiting++;
    int rc = corio_event_wait(&w.ev);
    if (rc < 0) {
        waiter_unlink(c, &w);
        if (w.conn != NULL) {
            hc_pool_put(c, w.conn);
        } else if (w.slot) {
            o->nopen--;
            c->nopen--;
            c->st.conns_open = c->nopen;
            wake(c);
        }
        return rc;
    }
    *conn = w.conn;
    *slot = w.slot;
    return 0;
}

/* ---- connections ------------------------------------------------------------------------- */

ssize_t hc_conn_read(struct hc_conn *conn, void *buf, size_t len)
{
    if (conn->tls_on)
        return corio_tls_read(&conn->tls, buf, len);
    return corio_recv(conn->fd, buf, len, 0);
}

int hc_conn_write(struct hc_conn *conn, const void *buf, size_t len)
{
    if (conn->tls_on) {
        ssize_t n = corio_tls_write(&conn->tls, buf, len);
        return n < 0 ? (int)n : 0;
    }
    const char *p = buf;
    while (len > 0) {
        ssize_t n = corio_send(conn->fd, p, len, 0);
        if (n <= 0)
            return n < 0 ? (int)n : -EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void conn_release(corio_http_client_t *c, struct hc_conn *conn)
{
    if (conn->tls_on)
        corio_tls_free(&conn->tls);
    if (conn->fd >= 0)
        close(conn->fd); /* plain close: it must work in a cancelled task too */
    conn->o->nopen--;
    c->nopen--;
    c->st.conns_open = c->nopen;
    free(conn);
}

void hc_conn_close(corio_http_client_t *c, struct hc_conn *conn)
{
    conn_release(c, conn);
    wake(c);
}

void hc_pool_put(corio_http_client_t *c, struct hc_conn *conn)
{
    conn->idle_since = hc_now();
    idle_push(c, conn);
    c->st.conns_idle = c->nidle;
    wake(c);
}

void hc_pool_close_idle(corio_http_client_t *c)
{
    for (struct hc_conn *conn; (conn = c->lru_oldest) != NULL;) {
        idle_unlink(c, conn);
        conn_release(c, conn);
    }
    c->st.conns_idle = 0;
    wake(c);
}

/* The TLS context for https: the caller's, or one made now from the client's options. */
static int tls_context(corio_http_client_t *c, char *why, size_t why_len)
{
    if (c->tls != NULL)
        return 0;
    corio_tls_config_t cfg = {.flags = c->o.tls_flags, .ca_file = c->ca_file};
    char reason[256];
    int rc = corio_tls_ctx_new(&c->tls, &cfg, reason, sizeof reason);
    if (rc < 0) {
        hc_say(why, why_len, "cannot set up TLS: %s", reason);
        return rc;
    }
    c->own_tls = true;
    return 0;
}

/* Connects conn to one of its origin's addresses in turn (or its proxy's, then through
 * it: proxy.c), then sets up TLS for https, under the connect deadline. Returns 0 or an
 * error (the first address's, when all fail). */
static int dial(corio_http_client_t *c, struct hc_conn *conn, char *why, size_t why_len)
{
    struct hc_origin *o = conn->o;
    struct hc_origin *to = o->proxy != NULL ? hc_proxy_endpoint(c, o->proxy) : o; /* dialled */
    if (to == NULL) {
        hc_say(why, why_len, "out of memory");
        return -ENOMEM;
    }
    int rc = resolve(c, to);
    if (rc < 0 && o->proxy != NULL)
        return hc_proxy_unreachable(c, o->proxy, rc, why, why_len);
    if (rc < 0) {
        hc_say(why, why_len, "cannot resolve %s: %s", o->host, corio_strerror(rc));
        return rc;
    }
    if (o->https && (rc = tls_context(c, why, why_len)) < 0)
        return rc;
    conn->fd = hc_connect(to->addr, to->addrlen, to->naddrs);
    if (conn->fd < 0) {
        rc = conn->fd;
        conn->fd = -1;
        if (o->proxy != NULL)
            return hc_proxy_unreachable(c, o->proxy, rc, why, why_len);
        hc_say(why, why_len, "cannot connect to %s port %u: %s", o->host, (unsigned)o->port,
               corio_strerror(rc));
        return rc;
    }
    int one = 1;
    (void)setsockopt(conn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->st.conns_opened++;
    if (o->proxy != NULL && (rc = hc_proxy_through(c, conn, why, why_len)) < 0)
        return rc;
    if (!o->https)
        return 0;
    rc = corio_tls_connect(&conn->tls, c->tls, conn->fd, o->host);
    if (rc < 0) {
        hc_say(why, why_len, "%s", corio_tls_error(&conn->tls));
        corio_tls_free(&conn->tls);
        return rc;
    }
    conn->tls_on = true;
    if (corio_tls_resumed(&conn->tls))
        c->st.tls_resumed++;
    else
        c->st.tls_handshakes++;
    return 0;
}

struct hc_conn *hc_pool_get(corio_http_client_t *c, struct hc_origin *o, bool *reused, int *err,
                            char *why, size_t why_len)
{
    bool reserved = false; /* a slot granted while waiting */
    for (;;) {
        while (o->idle != NULL) {
            struct hc_conn *conn = o->idle;
            idle_unlink(c, conn);
            c->st.conns_idle = c->nidle;
            if (hc_now() - conn->idle_since <= c->o.idle_timeout_ns) {
                *reused = true;
                c->st.conns_reused++;
                return conn;
            }
            conn_release(c, conn); /* too long idle: the server may have closed it */
        }
        if (o->nopen < c->o.max_conns_per_host) {
            if (c->nopen < c->o.max_conns)
                break;
            if (c->lru_oldest != NULL) { /* make room: another origin's oldest idle one */
                struct hc_conn *old = c->lru_oldest;
                idle_unlink(c, old);
                c->st.conns_idle = c->nidle;
                conn_release(c, old);
                continue;
            }
        }
        struct hc_conn *given = NULL;
        int rc = wait_for_slot(c, o, &given, &reserved);
        if (rc < 0) {
            *err = rc;
            hc_say(why, why_len, "no connection to %s became free: %s", o->host,
                   corio_strerror(rc));
            return NULL;
        }
        if (given != NULL) {
            if (hc_now() - given->idle_since <= c->o.idle_timeout_ns) {
                *reused = true;
                c->st.conns_reused++;
                return given;
            }
            slot_take(c, o); /* too long idle: closed, and its slot kept for a new one */
            conn_release(c, given);
            reserved = true;
        }
        if (reserved)
            break;
    }
    struct hc_conn *conn = calloc(1, sizeof *conn);
    if (conn == NULL) {
        if (reserved) {
            o->nopen--;
            c->nopen--;
            c->st.conns_open = c->nopen;
            wake(c);
        }
        *err = -ENOMEM;
        hc_say(why, why_len, "out of memory for a connection");
        return NULL;
    }
    conn->o = o;
    conn->fd = -1;
    if (!reserved)
        slot_take(c, o); /* the slot is taken while connecting, so the caps hold */
    *reused = false;
    uint64_t connect_ns = c->o.connect_timeout_ns;
    bool limited = connect_ns != 0 && connect_ns != UINT64_MAX;
    if (limited)
        corio_timeout_begin(connect_ns);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = dial(c, conn, why, why_len);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    conn->connect_ns = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000u + (uint64_t)t1.tv_nsec -
                       (uint64_t)t0.tv_nsec;
    if (limited)
        corio_timeout_end();
    if (rc < 0) {
        *err = rc;
        hc_conn_close(c, conn);
        return NULL;
    }
    return conn;
}
