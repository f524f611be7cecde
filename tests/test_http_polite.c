/* Tests of the HTTP client's politeness to hosts (engine/http/polite.c and its hooks in
 * client.c): host_rate's evenly spaced slots per host name (case and port aside), other
 * hosts going unhindered, through a proxy too; Retry-After on 429 and 503 in seconds and
 * as HTTP-dates, its cap, the block it puts on every request to the host, garbage taken
 * as absent; waiters cancelled or timed out giving their slots back; the Retry-After
 * parser itself and the option's validation. The servers are tasks on the client's own
 * loop on 127.0.0.1, recording when each request arrived. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <corio/http.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "http/client_internal.h"
#include "support.h"

#define MS       1000000ull
#define SEC      (1000 * MS)
#define MAX_REQS 64
#define MAX_CONN 32

/* ---- a recording server ------------------------------------------------------------------ */

struct srv;

/* The response to request n (counted over all connections) of srv. */
typedef const char *(*respond_fn)(struct srv *s, unsigned n);

struct arrival {
    uint64_t at; /* support_now_ns() when its head was in */
    char host[64];
};

struct srv {
    int lfd;
    uint16_t port;
    respond_fn respond;
    const char *fixed; /* with respond NULL: every response */
    unsigned nreqs, accepts;
    struct arrival reqs[MAX_REQS];
    corio_task_t *acceptor, *conns[MAX_CONN];
    int fds[MAX_CONN];
};

struct sconn {
    struct srv *s;
    int fd;
};

static void record(struct srv *s, const char *head)
{
    assert_true(s->nreqs < MAX_REQS);
    struct arrival *a = &s->reqs[s->nreqs];
    a->at = support_now_ns();
    const char *h = strcasestr(head, "\r\nhost:");
    assert_non_null(h);
    h += 7;
    while (*h == ' ')
        h++;
    size_t n = strcspn(h, "\r");
    snprintf(a->host, sizeof a->host, "%.*s", (int)n, h);
}

static void *sconn_main(void *arg)
{
    struct sconn *c = arg;
    struct srv *s = c->s;
    char in[8192];
    size_t len = 0;
    for (;;) {
        char *end = memmem(in, len, "\r\n\r\n", 4);
        if (end == NULL) {
            if (len == sizeof in)
                break;
            ssize_t n = corio_recv(c->fd, in + len, sizeof in - len, 0);
            if (n <= 0)
                break;
            len += (size_t)n;
            continue;
        }
        *end = '\0'; /* GETs only: no body follows */
        record(s, in);
        unsigned n = s->nreqs++;
        const char *resp = s->respond != NULL ? s->respond(s, n) : s->fixed;
        size_t used = (size_t)(end - in) + 4;
        memmove(in, in + used, len - used);
        len -= used;
        if (corio_send(c->fd, resp, strlen(resp), 0) < 0)
            break;
    }
    close(c->fd);
    free(c);
    return NULL;
}

static void *acceptor_main(void *arg)
{
    struct srv *s = arg;
    for (;;) {
        int fd = corio_accept(s->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            return NULL;
        assert_true(s->accepts < MAX_CONN);
        struct sconn *c = calloc(1, sizeof *c);
        assert_non_null(c);
        c->s = s;
        c->fd = fd;
        assert_int_equal(corio_spawn(NULL, sconn_main, c, &s->conns[s->accepts]), 0);
        s->accepts++;
    }
}

/* A server answering request n with respond(n), or every one with fixed. */
static struct srv *srv_new(respond_fn respond, const char *fixed)
{
    struct srv *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->respond = respond;
    s->fixed = fixed;
    s->lfd = corio_listen("127.0.0.1", 0, 64);
    assert_true(s->lfd >= 0);
    s->port = (uint16_t)corio_sock_port(s->lfd);
    assert_int_equal(corio_spawn(NULL, acceptor_main, s, &s->acceptor), 0);
    return s;
}

static void srv_stop(struct srv *s)
{
    corio_cancel(s->acceptor);
    corio_join(s->acceptor, NULL);
    for (unsigned i = 0; i < s->accepts; i++) {
        corio_cancel(s->conns[i]);
        corio_join(s->conns[i], NULL);
    }
    close(s->lfd);
    free(s);
}

static const char *url(const char *host, const struct srv *s)
{
    static char urls[32][128];
    static unsigned next;
    char *u = urls[next++ % 32];
    snprintf(u, sizeof urls[0], "http://%s:%u/", host, (unsigned)s->port);
    return u;
}

#define OK "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

static corio_http_client_t *new_client(const corio_http_client_opts_t *o)
{
    corio_http_client_t *c;
    assert_int_equal(corio_http_client_new(&c, o), 0);
    return c;
}

static corio_http_client_stats_t stats(const corio_http_client_t *c)
{
    corio_http_client_stats_t st;
    corio_http_client_stats(c, &st);
    return st;
}

/* One GET in its own task. */
struct bg {
    corio_http_client_t *c;
    const char *url;
    unsigned n;          /* requests, one after another (0: one) */
    uint64_t timeout_ns; /* a task deadline around the requests (0: none) */
    int rc;
    int status;
    uint64_t start, end;
    char why[256];
};

static void *bg_main(void *arg)
{
    struct bg *b = arg;
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    corio_http_client_req_t req = {.url = b->url};
    b->start = support_now_ns();
    if (b->timeout_ns != 0)
        assert_int_equal(corio_timeout_begin(b->timeout_ns), 0);
    for (unsigned i = 0; i < (b->n > 0 ? b->n : 1); i++) {
        b->rc = corio_http_client_do(b->c, &req, &r);
        if (b->rc < 0)
            break;
        b->status = r.status;
    }
    if (b->timeout_ns != 0)
        corio_timeout_end();
    b->end = support_now_ns();
    snprintf(b->why, sizeof b->why, "%s", corio_http_client_resp_error(&r));
    corio_http_client_resp_free(&r);
    return NULL;
}

static corio_task_t *bg_spawn(struct bg *b)
{
    corio_task_t *t;
    assert_int_equal(corio_spawn(NULL, bg_main, b, &t), 0);
    return t;
}

static int get(corio_http_client_t *c, const char *u, corio_http_client_resp_t *r)
{
    corio_http_client_req_t req = {.url = u};
    return corio_http_client_do(c, &req, r);
}

#define TASK_TEST(name)                                                                            \
    static void *name##_task(void *arg);                                                           \
    static void name(void **state)                                                                 \
    {                                                                                              \
        (void)state;                                                                               \
        support_run(name##_task, NULL);                                                            \
    }                                                                                              \
    static void *name##_task(void *arg __attribute__((unused)))

/* ---- host_rate ------------------------------------------------------------------------------ */

/* 20 per second to one host from 8 tasks making 2 requests each: the server sees them
 * 50 ms apart; a task fetching from another host meanwhile is not held back. The tasks
 * wait for their turn before they take a connection, so a few connections serve them all,
 * each going back to the pool before the next slot. */
TASK_TEST(test_rate_spacing)
{
    struct srv *s = srv_new(NULL, OK);
    corio_http_client_t *c = new_client(&(corio_http_client_opts_t){.host_rate = 20});
    struct bg w[8], other = {.c = c, .url = url("localhost", s), .n = 3};
    corio_task_t *t[8];
    for (unsigned i = 0; i < 8; i++) {
        w[i] = (struct bg){.c = c, .url = url("127.0.0.1", s), .n = 2};
        t[i] = bg_spawn(&w[i]);
    }
    corio_task_t *ot = bg_spawn(&other);
    uint64_t start = support_now_ns(), end = 0;
    for (unsigned i = 0; i < 8; i++) {
        corio_join(t[i], NULL);
        assert_int_equal(w[i].rc, 0);
        assert_int_equal(w[i].status, 200);
        end = w[i].end > end ? w[i].end : end;
    }
    corio_join(ot, NULL);
    assert_int_equal(other.rc, 0);
    uint64_t first = 0, last = 0;
    unsigned n = 0;
    for (unsigned i = 0; i < s->nreqs; i++) {
        if (strncmp(s->reqs[i].host, "127.0.0.1", 9) != 0)
            continue;
        uint64_t at = s->reqs[i].at;
        if (n > 0 && at - last < 40 * MS) /* arrival order is slot order */
            fail_msg("request %u came %.1f ms after the one before", n, (double)(at - last) / 1e6);
        if (n++ == 0)
            first = at;
        last = at;
    }
    assert_int_equal(n, 16);
    assert_true(last - first >= 15 * 50 * MS - 10 * MS);
    assert_true(end - start >= 15 * 50 * MS - 10 * MS);
    assert_true(end - start < 10 * SEC);
    /* the other host's three requests: its own 50 ms apart, long before the first host's
     * last */
    assert_true(other.end - other.start >= 2 * 50 * MS - 10 * MS);
    assert_true(other.end - other.start < 500 * MS);
    assert_true(other.end < last);
    corio_http_client_stats_t st = stats(c);
    assert_int_equal(st.requests, 19);
    assert_true(st.rate_waits >= 16); /* all but the first of each host */
    assert_true(st.rate_waits <= 17);
    assert_true(st.conns_opened <= 4); /* not one per waiting task */
    corio_http_client_free(c);
    srv_stop(s);
    return NULL;
}

/* "LOCALHOST" and "localhost" are one host, and so are two ports of it. */
TASK_TEST(test_rate_shared_by_case_and_port)
{
    struct srv *a = srv_new(NULL, OK), *b = srv_new(NULL, OK);
    corio_http_client_t *c = new_client(&(corio_http_client_opts_t){.host_rate = 10});
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    uint64_t t0 = support_now_ns();
    assert_int_equal(get(c, url("LOCALHOST", a), &r), 0);
    assert_int_equal(get(c, url("localhost", b), &r), 0);
    assert_int_equal(get(c, url("LocalHost", a), &r), 0);
    uint64_t took = support_now_ns() - t0;
    assert_true(took >= 2 * 100 * MS - 10 * MS);
    assert_true(took < 5 * SEC);
    assert_int_equal(a->nreqs, 2);
    assert_int_equal(b->nreqs, 1);
    assert_true(b->reqs[0].at - a->reqs[0].at >= 95 * MS);
    assert_true(a->reqs[1].at - b->reqs[0].at >= 95 * MS);
    assert_int_equal(stats(c).rate_waits, 2);
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    srv_stop(a);
    srv_stop(b);
    return NULL;
}

/* Through a proxy the host is the URL's: two origins behind one proxy keep their own
 * rates (the server here plays the proxy, answering the absolute-form requests itself). */
TASK_TEST(test_rate_through_proxy)
{
    struct srv *s = srv_new(NULL, OK);
    char proxy[64];
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%u", (unsigned)s->port);
    corio_http_client_t *c =
        new_client(&(corio_http_client_opts_t){.host_rate = 10, .proxy = proxy});
    struct bg a = {.c = c, .url = "http://a.example/", .n = 2};
    struct bg b = {.c = c, .url = "http://b.example/", .n = 2};
    corio_task_t *ta = bg_spawn(&a), *tb = bg_spawn(&b);
    corio_join(ta, NULL);
    corio_join(tb, NULL);
    assert_int_equal(a.rc, 0);
    assert_int_equal(b.rc, 0);
    assert_int_equal(s->nreqs, 4);
    uint64_t at[2][2];
    unsigned na = 0, nb = 0;
    for (unsigned i = 0; i < 4; i++) {
        if (strcmp(s->reqs[i].host, "a.example") == 0)
            at[0][na++] = s->reqs[i].at;
        else if (strcmp(s->reqs[i].host, "b.example") == 0)
            at[1][nb++] = s->reqs[i].at;
    }
    assert_int_equal(na, 2);
    assert_int_equal(nb, 2);
    for (unsigned h = 0; h < 2; h++)
        assert_true(at[h][1] - at[h][0] >= 95 * MS);
    uint64_t firsts = at[0][0] > at[1][0] ? at[0][0] - at[1][0] : at[1][0] - at[0][0];
    assert_true(firsts < 90 * MS); /* b's first did not wait behind a's */
    assert_int_equal(stats(c).rate_waits, 2);
    corio_http_client_free(c);
    srv_stop(s);
    return NULL;
}

/* ---- Retry-After ---------------------------------------------------------------------------- */

static const char *first_resp; /* request 0's response; OK after it */

static const char *then_ok(struct srv *s, unsigned n)
{
    (void)s;
    return n == 0 ? first_resp : OK;
}

/* Runs one GET with retries against a server answering first, then 200: the response,
 * how long it took and the server's gap between the two attempts (0 with one). */
struct outcome {
    int rc, status;
    unsigned retries, nreqs;
    uint64_t took, gap;
    corio_http_client_stats_t st;
};

static struct outcome retry_case(const char *first, unsigned retries, uint64_t cap)
{
    first_resp = first;
    struct srv *s = srv_new(then_ok, NULL);
    corio_http_client_t *c =
        new_client(&(corio_http_client_opts_t){.retries = retries, .retry_after_max_ns = cap});
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    struct outcome o = {0};
    uint64_t t0 = support_now_ns();
    o.rc = get(c, url("127.0.0.1", s), &r);
    o.took = support_now_ns() - t0;
    o.status = r.status;
    o.retries = r.retries;
    o.nreqs = s->nreqs;
    o.gap = s->nreqs >= 2 ? s->reqs[1].at - s->reqs[0].at : 0;
    o.st = stats(c);
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    srv_stop(s);
    return o;
}

/* A 503 with "Retry-After: 1": the retry goes a second later and succeeds. */
TASK_TEST(test_retry_after_seconds)
{
    struct outcome o = retry_case(
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n", 1, 0);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.status, 200);
    assert_int_equal(o.retries, 1);
    assert_int_equal(o.nreqs, 2);
    assert_true(o.took >= SEC - 5 * MS);
    assert_true(o.took < 10 * SEC);
    assert_true(o.gap >= SEC - 5 * MS);
    assert_int_equal(o.st.retry_after, 1);
    assert_int_equal(o.st.rate_waits, 1);
    assert_int_equal(o.st.requests, 2);
    return NULL;
}

static void http_date(char *out, size_t cap, time_t when)
{
    struct tm tm;
    gmtime_r(&when, &tm);
    strftime(out, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* A 429 whose Retry-After is a date two seconds ahead: the retry waits for it; a date in
 * the past: retried at once, without the backoff. */
TASK_TEST(test_retry_after_date)
{
    char date[64], resp[256];
    http_date(date, sizeof date, time(NULL) + 2);
    snprintf(resp, sizeof resp,
             "HTTP/1.1 429 Too Many Requests\r\nRetry-After: %s\r\nContent-Length: 0\r\n\r\n",
             date);
    struct outcome o = retry_case(resp, 1, 0);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.status, 200);
    assert_int_equal(o.retries, 1);
    assert_true(o.took >= SEC); /* time() is whole seconds: the date is 1 to 2 s ahead */
    assert_true(o.took < 10 * SEC);
    assert_true(o.gap >= SEC);
    assert_int_equal(o.st.retry_after, 1);

    http_date(date, sizeof date, time(NULL) - 10);
    snprintf(resp, sizeof resp,
             "HTTP/1.1 429 Too Many Requests\r\nRetry-After: %s\r\nContent-Length: 0\r\n\r\n",
             date);
    o = retry_case(resp, 1, 0);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.status, 200);
    assert_int_equal(o.retries, 1);
    assert_true(o.took < 70 * MS); /* the backoff's shortest is 75 ms */
    assert_int_equal(o.st.retry_after, 1);
    assert_int_equal(o.st.rate_waits, 0);
    return NULL;
}

/* A Retry-After beyond retry_after_max_ns: the 429 is the final response, at once; so is
 * one too large to count. */
TASK_TEST(test_retry_after_beyond_cap)
{
    static const char *const values[] = {"3600", "99999999999999999999999999"};
    for (unsigned i = 0; i < 2; i++) {
        char resp[256];
        snprintf(resp, sizeof resp,
                 "HTTP/1.1 429 Too Many Requests\r\nRetry-After: %s\r\nContent-Length: 0\r\n\r\n",
                 values[i]);
        struct outcome o = retry_case(resp, 3, SEC);
        assert_int_equal(o.rc, 0);
        assert_int_equal(o.status, 429);
        assert_int_equal(o.retries, 0);
        assert_int_equal(o.nreqs, 1);
        assert_true(o.took < 500 * MS);
        assert_int_equal(o.st.retry_after, 0);
    }
    return NULL;
}

/* Past the cap the host is blocked for the cap only: the next request goes after it. */
TASK_TEST(test_retry_after_cap_blocks_for_cap)
{
    first_resp = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 3600\r\nContent-Length: "
                 "0\r\n\r\n";
    struct srv *s = srv_new(then_ok, NULL);
    corio_http_client_t *c = new_client(&(corio_http_client_opts_t){.retry_after_max_ns = SEC});
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    assert_int_equal(get(c, url("127.0.0.1", s), &r), 0);
    assert_int_equal(r.status, 503);
    uint64_t t0 = support_now_ns();
    assert_int_equal(get(c, url("127.0.0.1", s), &r), 0);
    uint64_t took = support_now_ns() - t0;
    assert_int_equal(r.status, 200);
    assert_true(s->reqs[1].at - s->reqs[0].at >= SEC - 5 * MS);
    assert_true(took < 5 * SEC);
    assert_int_equal(stats(c).rate_waits, 1);
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    srv_stop(s);
    return NULL;
}

/* Garbage in Retry-After is no Retry-After: the retry comes after the normal backoff. */
TASK_TEST(test_retry_after_garbage)
{
    static const char *const values[] = {"soon", "-5", "1e3", "", "1 2", "Sun, 06 Nov 1994"};
    for (unsigned i = 0; i < sizeof values / sizeof values[0]; i++) {
        char resp[256];
        snprintf(resp, sizeof resp,
                 "HTTP/1.1 429 Too Many Requests\r\nRetry-After: %s\r\nContent-Length: 0\r\n\r\n",
                 values[i]);
        struct outcome o = retry_case(resp, 1, 0);
        assert_int_equal(o.rc, 0);
        assert_int_equal(o.status, 200);
        assert_int_equal(o.retries, 1);
        assert_true(o.gap >= 70 * MS); /* the backoff: 100 ms +-25% */
        assert_true(o.took < 5 * SEC);
        assert_int_equal(o.st.retry_after, 0);
        assert_int_equal(o.st.rate_waits, 0);
    }
    /* and a 429 without any is retried like a 5xx */
    struct outcome o =
        retry_case("HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n", 1, 0);
    assert_int_equal(o.status, 200);
    assert_int_equal(o.retries, 1);
    assert_true(o.gap >= 70 * MS);
    return NULL;
}

/* While a Retry-After blocks the host, another task's request to it waits too, and one to
 * another host does not. */
TASK_TEST(test_retry_after_blocks_others)
{
    first_resp = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n";
    struct srv *s = srv_new(then_ok, NULL);
    corio_http_client_t *c = new_client(NULL); /* no retries: the 503 is returned */
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    assert_int_equal(get(c, url("127.0.0.1", s), &r), 0);
    assert_int_equal(r.status, 503);
    assert_int_equal(stats(c).retry_after, 1);
    struct bg same = {.c = c, .url = url("127.0.0.1", s)};
    struct bg other = {.c = c, .url = url("localhost", s)};
    corio_task_t *t1 = bg_spawn(&same), *t2 = bg_spawn(&other);
    corio_join(t2, NULL);
    corio_join(t1, NULL);
    assert_int_equal(same.rc, 0);
    assert_int_equal(same.status, 200);
    assert_int_equal(other.rc, 0);
    assert_int_equal(s->nreqs, 3);
    assert_true(other.end - other.start < 500 * MS);
    for (unsigned i = 1; i < 3; i++) {
        if (strncmp(s->reqs[i].host, "127.0.0.1", 9) == 0)
            assert_true(s->reqs[i].at - s->reqs[0].at >= SEC - 5 * MS);
        else
            assert_true(s->reqs[i].at - s->reqs[0].at < 500 * MS);
    }
    assert_int_equal(stats(c).rate_waits, 1);
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    srv_stop(s);
    return NULL;
}

/* ---- waiters that leave -------------------------------------------------------------------- */

/* At 2 per second, five tasks queued behind a request and all cancelled (first in, first
 * out: the order that leaves the most holes) end at once with -ECANCELED, and the next
 * request goes at the next slot, not behind the five abandoned ones; a task whose
 * deadline passes while it waits ends with -ETIMEDOUT as promptly. */
TASK_TEST(test_wait_cancel_and_timeout)
{
    struct srv *s = srv_new(NULL, OK);
    corio_http_client_t *c = new_client(&(corio_http_client_opts_t){.host_rate = 2});
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    assert_int_equal(get(c, url("127.0.0.1", s), &r), 0);
    struct bg w[5];
    corio_task_t *t[5];
    for (unsigned i = 0; i < 5; i++) {
        w[i] = (struct bg){.c = c, .url = url("127.0.0.1", s)};
        t[i] = bg_spawn(&w[i]);
    }
    corio_yield(); /* each runs up to its wait for a slot: no I/O comes before it */
    uint64_t t0 = support_now_ns();
    for (unsigned i = 0; i < 5; i++) {
        corio_cancel(t[i]);
        corio_join(t[i], NULL);
        assert_int_equal(w[i].rc, -ECANCELED);
        assert_non_null(strstr(w[i].why, "waiting for its turn at host 127.0.0.1"));
    }
    assert_true(support_now_ns() - t0 < 200 * MS);
    assert_int_equal(s->nreqs, 1);
    assert_int_equal(get(c, url("127.0.0.1", s), &r), 0);
    uint64_t gap = s->reqs[1].at - s->reqs[0].at;
    assert_true(gap >= 450 * MS);
    assert_true(gap < 1500 * MS); /* five abandoned slots would make it 3 s */

    struct bg late = {.c = c, .url = url("127.0.0.1", s), .timeout_ns = 100 * MS};
    corio_task_t *lt = bg_spawn(&late);
    corio_join(lt, NULL);
    assert_int_equal(late.rc, -ETIMEDOUT);
    assert_true(late.end - late.start >= 95 * MS);
    assert_true(late.end - late.start < 450 * MS);
    assert_non_null(strstr(late.why, "waiting for its turn"));
    assert_int_equal(get(c, url("127.0.0.1", s), &r), 0);
    gap = s->reqs[2].at - s->reqs[1].at;
    assert_true(gap >= 450 * MS);
    assert_true(gap < 1500 * MS);
    assert_int_equal(s->nreqs, 3);
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    srv_stop(s);
    return NULL;
}

/* ---- the parser and the option --------------------------------------------------------------- */

static int parse(const char *v, time_t now, uint64_t *d)
{
    return hc_retry_after_parse(v, strlen(v), now, d);
}

static void test_parse_retry_after(void **state)
{
    (void)state;
    uint64_t d;
    /* Sun, 06 Nov 1994 08:49:37 GMT */
    const time_t when = 784111777;
    assert_int_equal(parse("120", 0, &d), 0);
    assert_int_equal(d, 120 * SEC);
    assert_int_equal(parse(" 0 ", 0, &d), 0);
    assert_int_equal(d, 0);
    assert_int_equal(parse("99999999999999999999999", 0, &d), 0);
    assert_true(d == UINT64_MAX);
    assert_int_equal(parse("Sun, 06 Nov 1994 08:49:37 GMT", when - 30, &d), 0);
    assert_int_equal(d, 30 * SEC);
    assert_int_equal(parse("Sunday, 06-Nov-94 08:49:37 GMT", when - 30, &d), 0);
    assert_int_equal(d, 30 * SEC);
    assert_int_equal(parse("Sun Nov  6 08:49:37 1994", when - 30, &d), 0);
    assert_int_equal(d, 30 * SEC);
    assert_int_equal(parse("Sun, 06 Nov 1994 08:49:37 GMT", when + 5, &d), 0);
    assert_int_equal(d, 0); /* past */
    /* RFC 850's two-digit year: 50 years ahead at most, else the century before */
    time_t y2030 = 1893456000; /* 2030-01-01 */
    assert_int_equal(parse("Tuesday, 01-Jan-30 00:00:10 GMT", y2030, &d), 0);
    assert_int_equal(d, 10 * SEC);
    assert_int_equal(parse("Friday, 01-Jan-99 00:00:00 GMT", y2030, &d), 0);
    assert_int_equal(d, 0); /* 1999, not 2099 */
    static const char *const bad[] = {
        "",
        "   ",
        "soon",
        "-5",
        "+5",
        "1e3",
        "1.5",
        "12 s",
        "0x10",
        "Sun, 06 Nov 1994 08:49:37",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sun, 32 Nov 1994 08:49:37 GMT",
        "Sun, 31 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMTx",
        "Sunday, 06-Nov-1994 08:49:37 GMT",
        "Sun Nov 6 08:49:37 1994",
        "Xyz, 06 Nov 1994 08:49:37 GMT",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        d = 12345;
        if (parse(bad[i], when, &d) != -EINVAL)
            fail_msg("'%s' was taken", bad[i]);
        assert_int_equal(d, 12345);
    }
}

static void test_bad_host_rate(void **state)
{
    (void)state;
    corio_http_client_t *c = (corio_http_client_t *)1;
    const double bad[] = {-1, -0.001, NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(
            corio_http_client_new(&c, &(corio_http_client_opts_t){.host_rate = bad[i]}), -EINVAL);
        assert_null(c);
    }
    assert_int_equal(corio_http_client_new(&c, &(corio_http_client_opts_t){.host_rate = 0.5}), 0);
    corio_http_client_free(c);
}

int main(void)
{
    support_require_uring();
    support_watchdog(120);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_retry_after),
        cmocka_unit_test(test_bad_host_rate),
        cmocka_unit_test(test_rate_spacing),
        cmocka_unit_test(test_rate_shared_by_case_and_port),
        cmocka_unit_test(test_rate_through_proxy),
        cmocka_unit_test(test_retry_after_seconds),
        cmocka_unit_test(test_retry_after_date),
        cmocka_unit_test(test_retry_after_beyond_cap),
        cmocka_unit_test(test_retry_after_cap_blocks_for_cap),
        cmocka_unit_test(test_retry_after_garbage),
        cmocka_unit_test(test_retry_after_blocks_others),
        cmocka_unit_test(test_wait_cancel_and_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
