/* Tests for the server core (corio/http_server.h): a server serving a loopback listener on
 * one loop, driven by client tasks on the same loop that speak raw HTTP/1.1 and read the
 * answer to the end. The handler's behaviour is picked per test; what it saw is recorded
 * for the test to check. */
#include <corio/corio.h>
#include <corio/http.h>
#include <corio/net.h>
#include <corio/sync.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "support.h"

#define SEC (1000ull * 1000 * 1000)

enum mode {
    ECHO_SMALL,   /* read the body 3 bytes at a time, answer it */
    REPORT,       /* answer "path|query|x-test" */
    API_ERRORS,   /* try the response calls that must fail, then answer */
    SHORT_BODY,   /* promise 10 bytes, write 3 */
    CHUNKED_RESP, /* length -1: "hello" in two writes */
    NO_ANSWER,    /* return 0 without a response */
    FAIL,         /* return -1 */
    WAIT_EVENT,   /* wait on t.gate, then answer (records the wait's result) */
};

static struct {
    enum mode mode;
    int calls;          /* handler calls */
    int body_err;       /* the last error corio_http_request_read returned */
    int api[8];         /* API_ERRORS: the results, in order */
    int wait_result;    /* WAIT_EVENT */
    int handlers_done;  /* WAIT_EVENT: handlers that have returned */
    int done_at_return; /* handlers_done when serve returned */
    int want_serve;     /* what serve must return */
    corio_event_t gate; /* WAIT_EVENT waits on it */
    corio_http_server_t *srv;
    int port;
    int serve_result;
    corio_task_t *serve_task;
} t;

static int handler(corio_http_request_t *req, corio_http_response_t *resp, void *arg)
{
    (void)arg;
    t.calls++;
    switch (t.mode) {
    case ECHO_SMALL: {
        char body[4096];
        size_t len = 0;
        ssize_t n;
        while (len + 3 <= sizeof body && (n = corio_http_request_read(req, body + len, 3)) > 0)
            len += (size_t)n;
        if (n < 0) {
            t.body_err = (int)n;
            int status = corio_http_error_status((int)n);
            return status != 0 ? corio_http_response_error(resp, status) : (int)n;
        }
        return corio_http_response_send(resp, 200, "application/octet-stream", body, len);
    }
    case REPORT: {
        char out[512];
        size_t plen = 0, xlen = 0;
        const char *path = corio_http_request_path(req, &plen);
        const char *x = corio_http_request_header(req, "X-TEST", &xlen);
        const corio_http_request_head_t *h = corio_http_request_head(req);
        int n = snprintf(out, sizeof out, "%.*s|%.*s|%.*s|%d", (int)plen, path ? path : "",
                         (int)(h->query ? h->query_len : 0), h->query ? h->query : "", (int)xlen,
                         x ? x : "", corio_http_request_tls(req));
        return corio_http_response_send(resp, 200, "text/plain", out, (size_t)n);
    }
    case API_ERRORS:
        t.api[0] = corio_http_response_header(resp, "X-Bad", "a\r\nInjected: 1");
        t.api[1] = corio_http_response_header(resp, "Content-Length", "5");
        t.api[2] = corio_http_response_header(resp, "Bad Name", "v");
        t.api[3] = corio_http_response_write(resp, "x", 1); /* nothing begun */
        t.api[4] = corio_http_response_header(resp, "X-Good", "yes");
        t.api[5] = corio_http_response_begin(resp, 200, "text/plain", 2);
        t.api[6] = corio_http_response_begin(resp, 200, "text/plain", 2);
        t.api[7] = corio_http_response_header(resp, "X-Late", "no");
        (void)corio_http_response_write(resp, "ok", 2);
        return corio_http_response_end(resp);
    case SHORT_BODY:
        if (corio_http_response_begin(resp, 200, NULL, 10) < 0 ||
            corio_http_response_write(resp, "abc", 3) != 3)
            return -1;
        t.api[0] = corio_http_response_end(resp);
        return 0;
    case CHUNKED_RESP:
        if (corio_http_response_begin(resp, 200, "text/plain", -1) < 0)
            return -1;
        (void)corio_http_response_write(resp, "hel", 3);
        (void)corio_http_response_write(resp, "lo", 2);
        return corio_http_response_end(resp);
    case NO_ANSWER:
        return 0;
    case FAIL:
        return -1;
    case WAIT_EVENT:
        t.wait_result = corio_event_wait(&t.gate);
        t.handlers_done++;
        return corio_http_response_send(resp, 200, "text/plain", "late\n", 5);
    }
    return -1;
}

/* ---- clients --------------------------------------------------------------------------- */

/* Inside a task: sends req on a new connection (then half-closes when asked) and reads
 * until the server closes, within 5 s. Returns the bytes read (NUL-terminated in out), or
 * a negative errno. */
static ssize_t talk_on(int fd, const char *req, size_t len, char *out, size_t cap, bool half_close)
{
    if (len > 0 && corio_send(fd, req, len, 0) != (ssize_t)len)
        return -EIO;
    if (half_close)
        shutdown(fd, SHUT_WR);
    size_t got = 0;
    ssize_t n = 0;
    corio_timeout_begin(5 * SEC);
    while (got + 1 < cap && (n = corio_recv(fd, out + got, cap - 1 - got, 0)) > 0)
        got += (size_t)n;
    corio_timeout_end();
    out[got] = '\0';
    return n < 0 && n != -ECONNRESET ? n : (ssize_t)got;
}

static ssize_t talk(const char *req, char *out, size_t cap, bool half_close)
{
    int fd = corio_dial("127.0.0.1", (uint16_t)t.port);
    if (fd < 0)
        return fd;
    ssize_t n = talk_on(fd, req, strlen(req), out, cap, half_close);
    close(fd);
    return n;
}

/* ---- the harness --------------------------------------------------------------------------- */

static void *serve_task(void *arg)
{
    int fd = (int)(intptr_t)arg;
    t.serve_task = corio_current();
    t.serve_result = corio_http_server_serve(t.srv, fd, NULL);
    t.done_at_return = t.handlers_done;
    t.serve_task = NULL;
    return NULL;
}

struct drive {
    void (*fn)(void);
};

static void *driver(void *arg)
{
    ((struct drive *)arg)->fn();
    corio_http_server_stop(t.srv, false);
    return NULL;
}

/* Runs fn in a task beside a server made with cfg (handler set here), then stops the
 * server and runs the loop until everything has ended. */
static void run(corio_http_server_config_t cfg, void (*fn)(void))
{
    corio_loop_t *loop = support_loop(0);
    corio_event_init(&t.gate);
    t.calls = 0;
    t.body_err = 0;
    t.serve_result = 1;
    t.handlers_done = 0;
    cfg.handler = handler;
    assert_int_equal(corio_http_server_new(&t.srv, &cfg), 0);
    int fd = corio_listen("127.0.0.1", 0, -1);
    assert_true(fd >= 0);
    t.port = corio_sock_port(fd);
    struct drive d = {fn};
    assert_int_equal(corio_spawn(loop, serve_task, (void *)(intptr_t)fd, NULL), 0);
    assert_int_equal(corio_spawn(loop, driver, &d, NULL), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(t.serve_result, t.want_serve);
    t.want_serve = 0;
    corio_http_server_free(t.srv);
    corio_loop_free(loop);
}

static const char *body_of(const char *resp)
{
    const char *p = strstr(resp, "\r\n\r\n");
    return p != NULL ? p + 4 : "";
}

/* ---- configuration ------------------------------------------------------------------------ */

static void *serve_bad_fd(void *arg)
{
    return (void *)(intptr_t)corio_http_server_serve(arg, -1, NULL);
}

static void test_config_errors(void **state)
{
    (void)state;
    corio_http_server_t *srv;
    corio_http_server_config_t cfg = {0};
    assert_int_equal(corio_http_server_new(NULL, &cfg), -EINVAL);
    assert_int_equal(corio_http_server_new(&srv, NULL), -EINVAL);
    assert_int_equal(corio_http_server_new(&srv, &cfg), -EINVAL); /* no handler */
    cfg.handler = handler;
    cfg.server_name = "a\r\nInjected: 1";
    assert_int_equal(corio_http_server_new(&srv, &cfg), -EINVAL);
    cfg.server_name = NULL;
    assert_int_equal(corio_http_server_new(&srv, &cfg), 0);
    assert_int_equal(corio_http_server_serve(srv, 3, NULL), -EPERM); /* outside a task */
    assert_int_equal((intptr_t)support_run(serve_bad_fd, srv), -EINVAL);
    corio_http_server_free(srv);
    corio_http_server_free(NULL);
}

/* ---- requests ------------------------------------------------------------------------------ */

static char resp[1 << 16];

static void report_drive(void)
{
    ssize_t n = talk("GET /a/./b//c%20d?x=1&y HTTP/1.1\r\nHost: t\r\nx-test: seen\r\n"
                     "Connection: close\r\n\r\n",
                     resp, sizeof resp, false);
    assert_true(n > 0);
    assert_non_null(strstr(resp, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(resp, "Server: corio\r\n"));
    assert_non_null(strstr(resp, "Connection: close\r\n"));
    assert_string_equal(body_of(resp), "a/b/c d|x=1&y|seen|0");
}

static void test_request_view(void **state)
{
    (void)state;
    t.mode = REPORT;
    run((corio_http_server_config_t){0}, report_drive);
    assert_int_equal(t.calls, 1);
}

static void bodies_drive(void)
{
    /* Content-Length and chunked (extensions, trailers), pipelined on one connection. */
    talk("POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world"
         "POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
         "4;ext=1\r\nabcd\r\n7\r\nefghijk\r\n0\r\nX-Trailer: t\r\n\r\n",
         resp, sizeof resp, false);
    const char *second = strstr(body_of(resp), "HTTP/1.1 200");
    assert_non_null(second);
    assert_memory_equal(body_of(resp), "hello world", 11);
    assert_non_null(strstr(resp, "Content-Length: 11\r\n"));
    assert_string_equal(body_of(second), "abcdefghijk");
}

static void test_bodies(void **state)
{
    (void)state;
    t.mode = ECHO_SMALL;
    run((corio_http_server_config_t){0}, bodies_drive);
    assert_int_equal(t.calls, 2);
}

static void too_big_drive(void)
{
    /* Chunked past max_body (10): the handler sees the error, answers 413, and the
     * connection closes though the request asked for keep-alive. */
    talk("POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n"
         "8\r\n12345678\r\n0\r\n\r\n",
         resp, sizeof resp, false);
    assert_non_null(strstr(resp, "HTTP/1.1 413 "));
    assert_non_null(strstr(resp, "Connection: close\r\n"));
    assert_int_equal(t.body_err, CORIO_HTTP_EBODY_TOO_BIG);
    /* Content-Length past it: refused before the handler. */
    int calls = t.calls;
    talk("POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world", resp, sizeof resp,
         false);
    assert_non_null(strstr(resp, "HTTP/1.1 413 "));
    assert_int_equal(t.calls, calls);
    /* A body cut short by the peer. */
    talk("POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 9\r\n\r\nabc", resp, sizeof resp, true);
    assert_int_equal(t.body_err, CORIO_HTTP_ETRUNCATED);
}

static void test_body_limits(void **state)
{
    (void)state;
    t.mode = ECHO_SMALL;
    run((corio_http_server_config_t){.max_body = 10}, too_big_drive);
}

static void expect_drive(void)
{
    talk("POST /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2\r\n"
         "Connection: close\r\n\r\nhi",
         resp, sizeof resp, false);
    assert_memory_equal(resp, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", 42);
    assert_string_equal(body_of(strstr(resp, "HTTP/1.1 200")), "hi");
}

static void test_expect_continue(void **state)
{
    (void)state;
    t.mode = ECHO_SMALL;
    run((corio_http_server_config_t){0}, expect_drive);
}

/* ---- responses ----------------------------------------------------------------------------- */

static void api_drive(void)
{
    talk("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", resp, sizeof resp, false);
    assert_non_null(strstr(resp, "X-Good: yes\r\n"));
    assert_null(strstr(resp, "Injected"));
    assert_null(strstr(resp, "X-Late"));
    assert_string_equal(body_of(resp), "ok");
}

static void test_response_api_errors(void **state)
{
    (void)state;
    t.mode = API_ERRORS;
    run((corio_http_server_config_t){0}, api_drive);
    int want[8] = {-EINVAL, -EINVAL, -EINVAL, -EINVAL, 0, 0, -EALREADY, -EALREADY};
    assert_memory_equal(t.api, want, sizeof want);
}

static void short_drive(void)
{
    /* Keep-alive asked for, but the body fell short: the bytes sent, then the close. */
    ssize_t n = talk("GET / HTTP/1.1\r\nHost: t\r\n\r\n", resp, sizeof resp, false);
    assert_true(n > 0);
    assert_non_null(strstr(resp, "Content-Length: 10\r\n"));
    assert_string_equal(body_of(resp), "abc");
}

static void test_short_body_closes(void **state)
{
    (void)state;
    t.mode = SHORT_BODY;
    run((corio_http_server_config_t){0}, short_drive);
    assert_int_equal(t.api[0], CORIO_HTTP_ETRUNCATED);
}

static void chunked_drive(void)
{
    talk("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", resp, sizeof resp, false);
    assert_non_null(strstr(resp, "Transfer-Encoding: chunked\r\n"));
    assert_null(strstr(resp, "Content-Length"));
    assert_string_equal(body_of(resp), "3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n");
    /* HTTP/1.0: no chunked coding; the body ends with the connection. */
    talk("GET / HTTP/1.0\r\n\r\n", resp, sizeof resp, false);
    assert_null(strstr(resp, "Transfer-Encoding"));
    assert_non_null(strstr(resp, "Connection: close\r\n"));
    assert_string_equal(body_of(resp), "hello");
    /* HEAD: the head GET would get, no body. */
    talk("HEAD / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", resp, sizeof resp, false);
    assert_non_null(strstr(resp, "HTTP/1.1 200 OK\r\n"));
    assert_string_equal(body_of(resp), "");
}

static void test_chunked_response(void **state)
{
    (void)state;
    t.mode = CHUNKED_RESP;
    run((corio_http_server_config_t){0}, chunked_drive);
}

static void no_answer_drive(void)
{
    talk("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", resp, sizeof resp, false);
    assert_non_null(strstr(resp, "HTTP/1.1 500 "));
    t.mode = FAIL;
    assert_int_equal(talk("GET / HTTP/1.1\r\nHost: t\r\n\r\n", resp, sizeof resp, false), 0);
}

static void test_handler_without_answer(void **state)
{
    (void)state;
    t.mode = NO_ANSWER;
    run((corio_http_server_config_t){0}, no_answer_drive);
    assert_int_equal(t.calls, 2);
}

static void keepalive_10_drive(void)
{
    int fd = corio_dial("127.0.0.1", (uint16_t)t.port);
    assert_true(fd >= 0);
    static const char req[] = "GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    assert_int_equal(corio_send(fd, req, sizeof req - 1, 0), sizeof req - 1);
    corio_timeout_begin(5 * SEC);
    ssize_t n = corio_recv(fd, resp, sizeof resp - 1, 0);
    corio_timeout_end();
    assert_true(n > 0);
    resp[n] = '\0';
    assert_non_null(strstr(resp, "Connection: keep-alive\r\n"));
    /* The connection is still open: a second request on it is answered. */
    assert_true(talk_on(fd, req, sizeof req - 1, resp, sizeof resp, true) > 0);
    assert_non_null(strstr(resp, "HTTP/1.1 200 OK"));
    close(fd);
}

static void test_http10_keepalive(void **state)
{
    (void)state;
    t.mode = REPORT;
    run((corio_http_server_config_t){0}, keepalive_10_drive);
    assert_int_equal(t.calls, 2);
}

/* ---- refusals ---------------------------------------------------------------------------------
 */

static void refusals_drive(void)
{
    static const struct {
        const char *req, *status;
        bool closes;
    } cases[] = {
        {"BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n", "501", true},
        {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "400", true},
        {"GET / HTTP/1.1\r\n\r\n", "400", true},
        {"GET / HTTP/2.0\r\nHost: t\r\n\r\n", "505", true},
        {"GET /../x HTTP/1.1\r\nHost: t\r\n\r\n", "403", false},
        {"GET /%zz HTTP/1.1\r\nHost: t\r\n\r\n", "400", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* A second request follows: answered only when the first did not close. */
        char req[256];
        snprintf(req, sizeof req, "%sGET /ok HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                 cases[i].req);
        talk(req, resp, sizeof resp, false);
        char want[32];
        snprintf(want, sizeof want, "HTTP/1.1 %s ", cases[i].status);
        assert_memory_equal(resp, want, strlen(want));
        assert_true((strstr(resp, "HTTP/1.1 200 OK") == NULL) == cases[i].closes);
    }
}

static void test_refusals(void **state)
{
    (void)state;
    t.mode = REPORT;
    run((corio_http_server_config_t){0}, refusals_drive);
    assert_int_equal(t.calls, 1); /* only the /ok after the 403 */
}

static void max_conns_drive(void)
{
    int first = corio_dial("127.0.0.1", (uint16_t)t.port);
    static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    assert_int_equal(corio_send(first, req, sizeof req - 1, 0), sizeof req - 1);
    assert_true(corio_recv(first, resp, sizeof resp, 0) > 0); /* accepted and served */
    talk(req, resp, sizeof resp, false);
    assert_memory_equal(resp, "HTTP/1.1 503 ", 13);
    assert_non_null(strstr(resp, "Retry-After: 1\r\n"));
    corio_http_server_stats_t st;
    corio_http_server_stats(t.srv, &st);
    assert_int_equal(st.refused, 1);
    assert_int_equal(st.connections, 1);
    assert_int_equal(st.requests, 1);
    close(first);
}

static void test_max_conns(void **state)
{
    (void)state;
    t.mode = REPORT;
    run((corio_http_server_config_t){.max_conns = 1}, max_conns_drive);
}

/* ---- stopping -------------------------------------------------------------------------------- */

static void *slow_client(void *arg)
{
    (void)arg;
    talk("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n", resp, sizeof resp, false);
    return NULL;
}

static void drain_drive(void)
{
    /* An idle keep-alive connection, and a request whose handler waits. */
    int idle = corio_dial("127.0.0.1", (uint16_t)t.port);
    static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    t.mode = REPORT;
    assert_int_equal(corio_send(idle, req, sizeof req - 1, 0), sizeof req - 1);
    char buf[512];
    assert_true(corio_recv(idle, buf, sizeof buf, 0) > 0);
    t.mode = WAIT_EVENT;
    corio_task_t *slow;
    assert_int_equal(corio_spawn(NULL, slow_client, NULL, &slow), 0);
    while (t.calls < 2)
        corio_yield();
    corio_http_server_stop(t.srv, false);
    /* The idle connection is closed at once; new ones are refused. */
    corio_timeout_begin(5 * SEC);
    assert_int_equal(corio_recv(idle, buf, sizeof buf, 0), 0);
    corio_timeout_end();
    close(idle);
    int late = corio_dial("127.0.0.1", (uint16_t)t.port);
    assert_true(late < 0);
    /* The request in flight is answered, with Connection: close. */
    assert_int_not_equal(t.serve_result, 0); /* serve still waits for it */
    corio_event_set(&t.gate);
    assert_int_equal(corio_join(slow, NULL), 0);
    assert_int_equal(t.wait_result, 0);
    assert_non_null(strstr(resp, "Connection: close\r\n"));
    assert_string_equal(body_of(resp), "late\n");
}

static void test_stop_drains(void **state)
{
    (void)state;
    run((corio_http_server_config_t){0}, drain_drive);
}

static void grace_drive(void)
{
    t.mode = WAIT_EVENT;
    corio_task_t *slow;
    assert_int_equal(corio_spawn(NULL, slow_client, NULL, &slow), 0);
    while (t.calls < 1)
        corio_yield();
    corio_http_server_stop(t.srv, false); /* the gate is never set: the grace runs out */
    assert_int_equal(corio_join(slow, NULL), 0);
    assert_int_equal(t.wait_result, -ECANCELED);
}

static void test_stop_grace_cancels(void **state)
{
    (void)state;
    run((corio_http_server_config_t){.grace_ns = 50 * 1000 * 1000}, grace_drive);
}

static void hard_drive(void)
{
    t.mode = WAIT_EVENT;
    corio_task_t *slow;
    assert_int_equal(corio_spawn(NULL, slow_client, NULL, &slow), 0);
    while (t.calls < 1)
        corio_yield();
    corio_http_server_stop(t.srv, true); /* the grace (60 s) is not waited for */
    assert_int_equal(corio_join(slow, NULL), 0);
    assert_int_equal(t.wait_result, -ECANCELED);
}

static void test_stop_now(void **state)
{
    (void)state;
    run((corio_http_server_config_t){.grace_ns = 60 * SEC}, hard_drive);
}

static void cancel_serve_drive(void)
{
    t.mode = WAIT_EVENT;
    corio_task_t *slow;
    assert_int_equal(corio_spawn(NULL, slow_client, NULL, &slow), 0);
    while (t.calls < 1)
        corio_yield();
    corio_cancel(t.serve_task); /* its connections are cancelled; it waits for them */
    assert_int_equal(corio_join(slow, NULL), 0);
    assert_int_equal(t.wait_result, -ECANCELED);
}

static void test_cancelled_serve_waits(void **state)
{
    (void)state;
    t.want_serve = -ECANCELED;
    run((corio_http_server_config_t){0}, cancel_serve_drive);
    assert_int_equal(t.done_at_return, 1); /* the handler had returned before serve did */
}

int main(void)
{
    support_require_uring();
    support_watchdog(60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_request_view),
        cmocka_unit_test(test_bodies),
        cmocka_unit_test(test_body_limits),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_response_api_errors),
        cmocka_unit_test(test_short_body_closes),
        cmocka_unit_test(test_chunked_response),
        cmocka_unit_test(test_handler_without_answer),
        cmocka_unit_test(test_http10_keepalive),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_max_conns),
        cmocka_unit_test(test_stop_drains),
        cmocka_unit_test(test_stop_grace_cancels),
        cmocka_unit_test(test_stop_now),
        cmocka_unit_test(test_cancelled_serve_waits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
