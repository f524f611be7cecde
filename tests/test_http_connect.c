/* Tests of how the HTTP client reaches a host (engine/http/connect.c, pool.c's resolve):
 * addresses pinned with corio_http_client_add_resolve, raced as RFC 8305 says against
 * real sockets on loopback addresses: a listener that answers, addresses that refuse, and
 * "black holes" (a listener whose accept queue is full, so its SYNs are dropped and a
 * connect hangs, as to a filtered host). They check the move to the next address at once
 * after a refusal and after the attempt delay when one hangs, the families interleaved,
 * the first error when all fail, the connect deadline and a cancel during a race, no
 * socket left behind, the DNS cache's lifetime, and add_resolve's argument errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <corio/http.h>
#include <corio/net.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support.h"

#define MS 1000000ull

/* ---- the peer: an answering listener on 127.0.0.1 (and [::1]) at one port ------------ */

struct peer {
    uint16_t port;
    int lfd[2]; /* 127.0.0.1, [::1] (-1 when not asked for or not available) */
    corio_task_t *acceptor[2];
    unsigned accepted[2]; /* connections per family: [0] IPv4, [1] IPv6 */
    int holes[4];         /* black-hole listeners and their filler connections */
    unsigned nholes;
};

static void *serve_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    size_t got = 0;
    while (got < sizeof buf - 1) {
        ssize_t n = corio_recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        buf[got] = '\0';
        if (strstr(buf, "\r\n\r\n") != NULL) {
            static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                                     "Connection: close\r\n\r\nok";
            corio_send(fd, ok, sizeof ok - 1, 0);
            break;
        }
    }
    close(fd);
    return NULL;
}

struct acceptor {
    struct peer *p;
    int family; /* 0 IPv4, 1 IPv6 */
};

static struct acceptor acceptors[2];

static void *accept_main(void *arg)
{
    struct acceptor *a = arg;
    for (;;) {
        int fd = corio_accept(a->p->lfd[a->family], NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            return NULL;
        a->p->accepted[a->family]++;
        corio_task_t *t;
        if (corio_spawn(NULL, serve_conn, (void *)(intptr_t)fd, &t) < 0)
            close(fd);
    }
}

static int listen_at(int family, const char *ip, uint16_t port, int backlog)
{
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        inet_pton(AF_INET, ip, &v4->sin_addr);
        len = sizeof *v4;
    } else {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        inet_pton(AF_INET6, ip, &v6->sin6_addr);
        len = sizeof *v6;
    }
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, backlog) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Starts the answering listener on 127.0.0.1 at a free port, and on [::1] at the same
 * port when want_v6 (skipping the test when this machine has no IPv6 loopback). */
static void peer_start(struct peer *p, bool want_v6)
{
    *p = (struct peer){.lfd = {-1, -1}};
    p->lfd[0] = support_listener(&p->port);
    if (want_v6) {
        p->lfd[1] = listen_at(AF_INET6, "::1", p->port, 64);
        if (p->lfd[1] < 0)
            skip();
    }
    for (int i = 0; i < 2; i++) {
        if (p->lfd[i] < 0)
            continue;
        acceptors[i] = (struct acceptor){.p = p, .family = i};
        assert_int_equal(corio_spawn(NULL, accept_main, &acceptors[i], &p->acceptor[i]), 0);
    }
}

/* A black hole at ip and the peer's port: a listener with a backlog of 0 whose one queue
 * place a filler connection takes, so the kernel drops every further SYN. */
static void peer_hole(struct peer *p, const char *ip)
{
    int l = listen_at(AF_INET, ip, p->port, 0);
    assert_true(l >= 0);
    int f = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(p->port)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    assert_int_equal(connect(f, (struct sockaddr *)&a, sizeof a), 0);
    p->holes[p->nholes++] = l;
    p->holes[p->nholes++] = f;
}

static void peer_stop(struct peer *p)
{
    for (int i = 0; i < 2; i++)
        if (p->acceptor[i] != NULL) {
            corio_cancel(p->acceptor[i]);
            corio_join(p->acceptor[i], NULL);
            close(p->lfd[i]);
        }
    for (unsigned i = 0; i < p->nholes; i++)
        close(p->holes[i]);
}

static corio_http_client_t *client(uint64_t connect_ms)
{
    corio_http_client_opts_t o = {.connect_timeout_ns = connect_ms * MS,
                                  .flags = CORIO_HTTP_NO_KEEPALIVE};
    corio_http_client_t *c = NULL;
    assert_int_equal(corio_http_client_new(&c, &o), 0);
    return c;
}

/* GET http://HOST:port/ through c; returns the result, *ms the time it took. */
static int get(corio_http_client_t *c, const char *host, uint16_t port, uint64_t *ms)
{
    char url[128];
    snprintf(url, sizeof url, "http://%s:%u/", host, (unsigned)port);
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    corio_http_client_req_t req = {.url = url};
    uint64_t t0 = support_now_ns();
    int rc = corio_http_client_do(c, &req, &r);
    if (ms != NULL)
        *ms = (support_now_ns() - t0) / MS;
    if (rc == 0)
        assert_int_equal(r.status, 200);
    corio_http_client_resp_free(&r);
    return rc;
}

/* ---- the race ----------------------------------------------------------------------- */

static void *refused_then_live(void *arg)
{
    (void)arg;
    struct peer p;
    peer_start(&p, false);
    /* Seven addresses that refuse (nothing listens at this port on them), then the live
     * one: waiting the 250 ms attempt delay after each would pass the 1 s deadline. */
    corio_http_client_t *c = client(1000);
    assert_int_equal(corio_http_client_add_resolve(c, "many.test", p.port,
                                                   "127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,"
                                                   "127.0.0.7,127.0.0.8,127.0.0.9,127.0.0.1"),
                     0);
    assert_int_equal(get(c, "many.test", p.port, NULL), 0);
    assert_int_equal(p.accepted[0], 1);
    corio_http_client_stats_t st;
    corio_http_client_stats(c, &st);
    assert_int_equal(st.dns_lookups, 0); /* pinned: never looked up */
    assert_int_equal(st.conns_opened, 1);
    corio_http_client_free(c);
    peer_stop(&p);
    return NULL;
}

static void test_refused_moves_on_at_once(void **state)
{
    (void)state;
    support_run(refused_then_live, NULL);
}

static void *hole_then_live(void *arg)
{
    int *fds_before = arg;
    struct peer p;
    peer_start(&p, false);
    peer_hole(&p, "127.0.0.2");
    *fds_before = support_count_fds();
    corio_http_client_t *c = client(3000);
    assert_int_equal(corio_http_client_add_resolve(c, "hole.test", p.port, "127.0.0.2,127.0.0.1"),
                     0);
    uint64_t ms;
    assert_int_equal(get(c, "hole.test", p.port, &ms), 0);
    assert_true(ms >= 240); /* the hanging attempt had its 250 ms first */
    assert_true(ms < 3000); /* and the live address did not wait for the deadline */
    assert_int_equal(p.accepted[0], 1);
    corio_http_client_free(c);
    peer_stop(&p);
    return NULL;
}

static void test_hanging_address_moves_on_after_delay(void **state)
{
    (void)state;
    int before = -1;
    int now_fds = support_count_fds();
    support_run(hole_then_live, &before);
    /* Everything the run opened is closed: the hanging attempt was cancelled and its
     * socket closed, the peer's too. */
    assert_int_equal(support_count_fds(), now_fds);
    assert_true(before > now_fds);
}

static void *interleaved(void *arg)
{
    (void)arg;
    struct peer p;
    peer_start(&p, true);
    peer_hole(&p, "127.0.0.2");
    corio_http_client_t *c = client(3000);
    /* Given as IPv4, IPv4, IPv6: interleaved, the second attempt is the IPv6 one, and it
     * is the one that connects once the first hangs past the delay. */
    assert_int_equal(
        corio_http_client_add_resolve(c, "dual.test", p.port, "127.0.0.2,127.0.0.1,[::1]"), 0);
    assert_int_equal(get(c, "dual.test", p.port, NULL), 0);
    assert_int_equal(p.accepted[1], 1);
    assert_int_equal(p.accepted[0], 0);
    corio_http_client_free(c);
    peer_stop(&p);
    return NULL;
}

static void test_families_interleaved(void **state)
{
    (void)state;
    support_run(interleaved, NULL);
}

static void *all_refused(void *arg)
{
    uint16_t port = *(uint16_t *)arg;
    corio_http_client_t *c = client(2000);
    assert_int_equal(
        corio_http_client_add_resolve(c, "none.test", port, "127.0.0.1,127.0.0.3,[::1]"), 0);
    assert_int_equal(get(c, "none.test", port, NULL), -ECONNREFUSED);
    corio_http_client_free(c);
    return NULL;
}

static void test_all_refused(void **state)
{
    (void)state;
    uint16_t port = support_refused_port(); /* its socket stays open, holding the port */
    int before = support_count_fds();
    support_run(all_refused, &port);
    assert_int_equal(support_count_fds(), before);
}

/* Starts *p with black holes on 127.0.0.2 and 127.0.0.3, and a client whose "holes.test"
 * is those two, with a connect deadline of connect_ms. */
static corio_http_client_t *holes_client(struct peer *p, uint64_t connect_ms)
{
    peer_start(p, false);
    peer_hole(p, "127.0.0.2");
    peer_hole(p, "127.0.0.3");
    corio_http_client_t *c = client(connect_ms);
    assert_int_equal(corio_http_client_add_resolve(c, "holes.test", p->port, "127.0.0.2,127.0.0.3"),
                     0);
    return c;
}

static void *all_holes(void *arg)
{
    (void)arg;
    struct peer p;
    corio_http_client_t *c = holes_client(&p, 400);
    uint64_t ms;
    assert_int_equal(get(c, "holes.test", p.port, &ms), -ETIMEDOUT);
    assert_true(ms >= 390);
    corio_http_client_free(c);
    peer_stop(&p);
    return NULL;
}

static void test_deadline_ends_race(void **state)
{
    (void)state;
    int before = support_count_fds();
    support_run(all_holes, NULL);
    assert_int_equal(support_count_fds(), before);
}

struct cancel_arg {
    corio_http_client_t *c;
    uint16_t port;
    int rc;
};

static void *racing_get(void *arg)
{
    struct cancel_arg *a = arg;
    a->rc = get(a->c, "holes.test", a->port, NULL);
    return NULL;
}

static void *cancel_mid_race(void *arg)
{
    (void)arg;
    struct peer p;
    corio_http_client_t *c = holes_client(&p, 5000);
    struct cancel_arg a = {.c = c, .port = p.port, .rc = 1};
    corio_task_t *t;
    assert_int_equal(corio_spawn(NULL, racing_get, &a, &t), 0);
    /* Past the attempt delay, so both attempts are in flight when the cancel comes. */
    assert_int_equal(corio_sleep(300 * MS), 0);
    uint64_t t0 = support_now_ns();
    corio_cancel(t);
    corio_join(t, NULL);
    assert_true(support_now_ns() - t0 < 1000 * MS);
    assert_int_equal(a.rc, -ECANCELED);
    /* The client is usable afterwards: nothing is held for the cancelled race. */
    corio_http_client_stats_t st;
    corio_http_client_stats(a.c, &st);
    assert_int_equal(st.conns_open, 0);
    corio_http_client_free(a.c);
    peer_stop(&p);
    return NULL;
}

static void test_cancel_mid_race(void **state)
{
    (void)state;
    int before = support_count_fds();
    support_run(cancel_mid_race, NULL);
    assert_int_equal(support_count_fds(), before);
}

/* ---- the DNS cache ------------------------------------------------------------------- */

struct ttl_arg {
    uint64_t ttl_ns;
    uint64_t lookups;
};

static void *lookups(void *arg)
{
    struct ttl_arg *a = arg;
    struct peer p;
    peer_start(&p, false);
    corio_http_client_opts_t o = {.dns_ttl_ns = a->ttl_ns, .flags = CORIO_HTTP_NO_KEEPALIVE};
    corio_http_client_t *c = NULL;
    assert_int_equal(corio_http_client_new(&c, &o), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(get(c, "localhost", p.port, NULL), 0);
    corio_http_client_stats_t st;
    corio_http_client_stats(c, &st);
    assert_int_equal(st.conns_opened, 3);
    a->lookups = st.dns_lookups;
    corio_http_client_free(c);
    peer_stop(&p);
    return NULL;
}

static void test_dns_ttl(void **state)
{
    (void)state;
    /* A name is resolved on the executor's thread, and valgrind runs one thread at a
     * time while holding its lock across the loop's io_uring wait: the lookup never runs. */
    if (getenv("CORIO_UNDER_VALGRIND") != NULL)
        skip();
    struct ttl_arg keep = {.ttl_ns = 0}; /* the default, 60 s */
    support_run(lookups, &keep);
    assert_int_equal(keep.lookups, 1);
    struct ttl_arg expire = {.ttl_ns = 1}; /* every answer stale at once */
    support_run(lookups, &expire);
    assert_int_equal(expire.lookups, 3);
}

/* ---- add_resolve's arguments -------------------------------------------------------- */

static void test_add_resolve_errors(void **state)
{
    (void)state;
    corio_http_client_t *c = NULL;
    assert_int_equal(corio_http_client_new(&c, NULL), 0);
    assert_int_equal(corio_http_client_add_resolve(NULL, "a", 80, "127.0.0.1"), -EINVAL);
    assert_int_equal(corio_http_client_add_resolve(c, NULL, 80, "127.0.0.1"), -EINVAL);
    assert_int_equal(corio_http_client_add_resolve(c, "a", 80, NULL), -EINVAL);
    assert_int_equal(corio_http_client_add_resolve(c, "", 80, "127.0.0.1"), -EINVAL);
    assert_int_equal(corio_http_client_add_resolve(c, "a", 80, ""), -EINVAL);
    assert_int_equal(corio_http_client_add_resolve(c, "a", 80, "example.com"), -EINVAL);
    assert_int_equal(corio_http_client_add_resolve(c, "a", 80, "127.0.0.1,"), -EINVAL);
    assert_int_equal(corio_http_client_add_resolve(c, "a", 80, "1.2.3.4.5"), -EINVAL);
    assert_int_equal(corio_http_client_add_resolve(c, "a", 80,
                                                   "1.0.0.1,1.0.0.2,1.0.0.3,1.0.0.4,1.0.0.5,"
                                                   "1.0.0.6,1.0.0.7,1.0.0.8,1.0.0.9"),
                     -EINVAL); /* nine */
    char host[CORIO_HTTP_MAX_HOST + 2];
    memset(host, 'h', sizeof host - 1);
    host[sizeof host - 1] = '\0';
    assert_int_equal(corio_http_client_add_resolve(c, host, 80, "127.0.0.1"), -EINVAL);
    assert_int_equal(corio_http_client_add_resolve(c, "[::1]", 0, "[::1],127.0.0.1"), 0);
    assert_int_equal(corio_http_client_add_resolve(c, "x.test", 443, "::1"), 0);
    corio_http_client_free(c);
}

int main(void)
{
    support_require_uring();
    support_watchdog(60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_moves_on_at_once),
        cmocka_unit_test(test_hanging_address_moves_on_after_delay),
        cmocka_unit_test(test_families_interleaved),
        cmocka_unit_test(test_all_refused),
        cmocka_unit_test(test_deadline_ends_race),
        cmocka_unit_test(test_cancel_mid_race),
        cmocka_unit_test(test_dns_ttl),
        cmocka_unit_test(test_add_resolve_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
