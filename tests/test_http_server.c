/* Tests of the HTTP server core (corio/http_server.h) through its public header only: a
 * server serving a listener on 127.0.0.1 (port 0) in a task of one loop, and clients that
 * are tasks of the same loop speaking raw HTTP/1.x over corio_dial, corio_send and
 * corio_recv (or corio_tls_* for HTTPS), reading the answers with a parser of their own.
 * Covered: the configuration's errors, the handler's view of a request, request bodies
 * (Content-Length, chunked with extensions and trailers, over max_body, truncated, 100
 * Continue, left unread before a pipelined request), responses (fields refused, streamed,
 * cut, chunked, close-delimited, HEAD, 204 and 304, the 500 for a handler that does not
 * answer, a handler that fails, one that leaves a response open, send errors, the Server
 * field), timeouts, the refusals made without the handler, max_conns, the stop (drain,
 * grace, cancel, two serve calls, a cancelled serve task), the statistics and TLS. Every
 * client wait is under a deadline, and a handler that must be mid-request waits on an
 * event the test sets: no sleep stands in for synchronisation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <corio/http.h>
#include <corio/http_server.h>
#include <corio/net.h>
#include <corio/sync.h>
#include <corio/tls.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support.h"

#define MS  1000000ull
#define SEC (1000 * MS)

#define DEADLINE_NS (5 * SEC) /* any one client wait */
#define CLI_BUF     (512 * 1024)

static const char *certs; /* make_certs.sh's directory, or NULL: the TLS tests are skipped */

static unsigned char pat(size_t i)
{
    return (unsigned char)((i * 7 + 3) & 0xff);
}

static bool fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

/* ---- a client speaking raw HTTP/1.x ---------------------------------------------------- */

struct cli {
    int fd;
    bool tls_on;
    corio_tls_t tls;
    size_t len; /* received and not yet taken, at buf */
    char buf[CLI_BUF];
};

static struct cli *cli_wrap(int fd)
{
    struct cli *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->fd = fd;
    assert_int_equal(corio_sock_nodelay(fd, true), 0);
    return c;
}

static struct cli *cli_open(uint16_t port)
{
    corio_timeout_begin(DEADLINE_NS);
    int fd = corio_dial("127.0.0.1", port);
    corio_timeout_end();
    if (fd < 0)
        fail_msg("dial: %s", corio_strerror(fd));
    return cli_wrap(fd);
}

static void cli_close(struct cli *c)
{
    if (c->tls_on)
        corio_tls_free(&c->tls);
    close(c->fd);
    free(c);
}

static void cli_send(struct cli *c, const void *buf, size_t len)
{
    corio_timeout_begin(DEADLINE_NS);
    if (c->tls_on) {
        ssize_t n = corio_tls_write(&c->tls, buf, len);
        if (n != (ssize_t)len)
            fail_msg("tls write: %s", corio_strerror((int)n));
    }
    for (size_t done = 0; !c->tls_on && done < len;) {
        ssize_t n = corio_send(c->fd, (const char *)buf + done, len - done, MSG_NOSIGNAL);
        if (n <= 0)
            fail_msg("send: %s", corio_strerror((int)n));
        done += (size_t)n;
    }
    corio_timeout_end();
}

static void cli_puts(struct cli *c, const char *s)
{
    cli_send(c, s, strlen(s));
}

/* Receives more: the count, 0 at the end of the stream, or a negative code. */
static ssize_t cli_fill(struct cli *c)
{
    assert_true(c->len < CLI_BUF);
    corio_timeout_begin(DEADLINE_NS);
    ssize_t n = c->tls_on ? corio_tls_read(&c->tls, c->buf + c->len, CLI_BUF - c->len)
                          : corio_recv(c->fd, c->buf + c->len, CLI_BUF - c->len, 0);
    corio_timeout_end();
    if (n == -ETIMEDOUT)
        fail_msg("no answer within the deadline (%zu bytes buffered)", c->len);
    if (n > 0)
        c->len += (size_t)n;
    return n;
}

static void cli_take(struct cli *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

static void cli_need(struct cli *c, size_t n)
{
    while (c->len < n) {
        ssize_t r = cli_fill(c);
        if (r <= 0)
            fail_msg("the connection ended (%zd) with %zu of %zu bytes", r, c->len, n);
    }
}

/* The length of the line at the front (its CRLF not counted, still buffered). */
static size_t cli_line(struct cli *c)
{
    for (;;) {
        const char *e = memmem(c->buf, c->len, "\r\n", 2);
        if (e != NULL)
            return (size_t)(e - c->buf);
        cli_need(c, c->len + 1);
    }
}

/* The server closed: nothing is left over, and the stream ends (a reset is a failure: a
 * response before it could have been lost). */
static void cli_expect_eof(struct cli *c)
{
    if (c->len != 0)
        fail_msg("%zu bytes more than expected: %.*s", c->len, (int)c->len, c->buf);
    ssize_t n = cli_fill(c);
    if (n != 0)
        fail_msg("expected the end of the stream, got %zd (%s)", n,
                 n < 0 ? corio_strerror((int)n) : "data");
}

/* Everything until the server closes, appended to what is buffered. */
static size_t cli_read_to_eof(struct cli *c)
{
    ssize_t n;
    while ((n = cli_fill(c)) > 0)
        ;
    if (n < 0)
        fail_msg("reading to the end: %s", corio_strerror((int)n));
    return c->len;
}

/* ---- responses as the client reads them ------------------------------------------------ */

struct resp {
    int status;
    size_t head_len; /* the status line and fields, the empty line included */
    char head[16 * 1024];
    bool chunked;   /* Transfer-Encoding: chunked */
    int64_t length; /* Content-Length, or -1 */
    size_t chunks;  /* data chunks seen in a chunked body */
    size_t body_len;
    char body[CLI_BUF];
};

static struct resp *resp_new(void)
{
    struct resp *r = calloc(1, sizeof *r);
    assert_non_null(r);
    return r;
}

/* The value of the first field named name (trimmed), or NULL; *len its length. */
static const char *resp_field(const struct resp *r, const char *name, size_t *len)
{
    size_t nlen = strlen(name);
    const char *p = memmem(r->head, r->head_len, "\r\n", 2) + 2;
    const char *end = r->head + r->head_len;
    while (p + 2 < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if ((size_t)(eol - p) > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
            const char *v = p + nlen + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            *len = (size_t)(ve - v);
            return v;
        }
        p = eol + 2;
    }
    return NULL;
}

static int resp_count(const struct resp *r, const char *name)
{
    int n = 0;
    size_t nlen = strlen(name);
    const char *p = memmem(r->head, r->head_len, "\r\n", 2) + 2;
    const char *end = r->head + r->head_len;
    while (p + 2 < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if ((size_t)(eol - p) > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0)
            n++;
        p = eol + 2;
    }
    return n;
}

/* Asserts that field name is there once with value value (NULL: that it is absent). */
static void expect_field(const struct resp *r, const char *name, const char *value)
{
    size_t len;
    const char *v = resp_field(r, name, &len);
    if (value == NULL) {
        if (v != NULL)
            fail_msg("unexpected %s: %.*s", name, (int)len, v);
        return;
    }
    if (v == NULL)
        fail_msg("no %s field in %.*s", name, (int)r->head_len, r->head);
    if (len != strlen(value) || memcmp(v, value, len) != 0)
        fail_msg("%s: got \"%.*s\", expected \"%s\"", name, (int)len, v, value);
    assert_int_equal(resp_count(r, name), 1);
}

static void expect_body(const struct resp *r, const char *body)
{
    if (r->body_len != strlen(body) || memcmp(r->body, body, r->body_len) != 0)
        fail_msg("body \"%.*s\", expected \"%s\"", (int)r->body_len, r->body, body);
}

/* Reads a response head: the status line, the fields and the empty line. */
static void cli_head(struct cli *c, struct resp *r)
{
    const char *e;
    while ((e = memmem(c->buf, c->len, "\r\n\r\n", 4)) == NULL)
        cli_need(c, c->len + 1);
    r->head_len = (size_t)(e - c->buf) + 4;
    assert_true(r->head_len < sizeof r->head);
    memcpy(r->head, c->buf, r->head_len);
    cli_take(c, r->head_len);
    if (r->head_len < 13 || memcmp(r->head, "HTTP/1.1 ", 9) != 0)
        fail_msg("not a status line: %.*s", (int)r->head_len, r->head);
    r->status = atoi(r->head + 9);
    size_t len;
    const char *te = resp_field(r, "Transfer-Encoding", &len);
    r->chunked = te != NULL;
    if (te != NULL && (len != 7 || strncasecmp(te, "chunked", 7) != 0))
        fail_msg("Transfer-Encoding: %.*s", (int)len, te);
    const char *cl = resp_field(r, "Content-Length", &len);
    r->length = cl != NULL ? strtoll(cl, NULL, 10) : -1;
    if (r->chunked && cl != NULL)
        fail_msg("both Transfer-Encoding and Content-Length");
}

static void body_append(struct resp *r, const char *p, size_t n)
{
    assert_true(r->body_len + n <= sizeof r->body);
    memcpy(r->body + r->body_len, p, n);
    r->body_len += n;
}

/* Reads the body that r's head announces: none (HEAD, 1xx, 204, 304), chunked (decoded
 * here, extensions and trailers refused: the server sends neither), Content-Length bytes,
 * or everything to the end of the stream. */
static void cli_body(struct cli *c, struct resp *r, bool head_request)
{
    r->body_len = 0;
    if (head_request || r->status < 200 || r->status == 204 || r->status == 304)
        return;
    if (r->chunked) {
        for (;;) {
            size_t n = cli_line(c);
            char line[32];
            assert_true(n > 0 && n < sizeof line);
            memcpy(line, c->buf, n);
            line[n] = '\0';
            char *end;
            unsigned long long size = strtoull(line, &end, 16);
            if (*end != '\0')
                fail_msg("chunk-size line \"%s\"", line);
            cli_take(c, n + 2);
            if (size == 0)
                break;
            cli_need(c, (size_t)size + 2);
            body_append(r, c->buf, (size_t)size);
            if (memcmp(c->buf + size, "\r\n", 2) != 0)
                fail_msg("chunk data not followed by CRLF");
            cli_take(c, (size_t)size + 2);
            r->chunks++;
        }
        assert_int_equal(cli_line(c), 0); /* no trailers */
        cli_take(c, 2);
    } else if (r->length >= 0) {
        cli_need(c, (size_t)r->length);
        body_append(r, c->buf, (size_t)r->length);
        cli_take(c, (size_t)r->length);
    } else {
        cli_read_to_eof(c);
        body_append(r, c->buf, c->len);
        cli_take(c, c->len);
    }
}

static struct resp *cli_response(struct cli *c, bool head_request)
{
    struct resp *r = resp_new();
    cli_head(c, r);
    cli_body(c, r, head_request);
    return r;
}

/* Sends a request and reads the response into a new resp. */
static struct resp *cli_request(struct cli *c, const char *req)
{
    cli_puts(c, req);
    return cli_response(c, strncmp(req, "HEAD ", 5) == 0);
}

/* A request expected to be answered status with "Connection: close", and the end. */
static void expect_closing(struct cli *c, const char *req, int status)
{
    struct resp *r = cli_request(c, req);
    if (r->status != status)
        fail_msg("status %d, expected %d, for %s", r->status, status, req);
    expect_field(r, "Connection", "close");
    cli_expect_eof(c);
    free(r);
}

/* ---- the server under test ------------------------------------------------------------- */

struct env {
    corio_http_server_config_t cfg; /* handler and limits set by the test */
    corio_tls_ctx_t *tls;           /* the listener's server context, or NULL */
    void (*client)(struct env *e);  /* runs in the main task */
    corio_http_server_t *srv;
    int lfd;
    uint16_t port;
    corio_task_t *serve_task;
    int serve_rc;
    bool serve_done, joined;
    corio_http_server_stats_t stats; /* at the end */
    int log_lines;

    /* what handlers saw and did */
    int calls;
    corio_event_t entered, release; /* the slow handler: it has begun; it may answer */
    int wait_rc, after_rc;          /* its wait's result, and a corio call's after it */
    bool serve_done_when_returned;
    int rcs[32]; /* return codes a handler recorded */
    size_t nrcs;
    int read_err; /* the last corio_http_request_read result */
    size_t got_len;
    char got[64 * 1024];
    bool answer_200_after_error;
    bool stop_twice;
    const char *want_server; /* the Server value expected, NULL: none */
};

static void quiet_log(void *arg, const char *line)
{
    (void)line;
    ((struct env *)arg)->log_lines++;
}

static void *serve_main(void *arg)
{
    struct env *e = arg;
    e->serve_rc = corio_http_server_serve(e->srv, e->lfd, e->tls);
    e->serve_done = true;
    return NULL;
}

/* Joins the serve task within a deadline, which a stuck drain would miss; join_rc is
 * corio_join's result and serve's own (-ECANCELED for a serve task that was cancelled). */
static void env_join(struct env *e, int join_rc)
{
    corio_timeout_begin(10 * SEC);
    int rc = corio_join(e->serve_task, NULL);
    corio_timeout_end();
    if (rc != join_rc)
        fail_msg("joining serve: %s", corio_strerror(rc));
    e->joined = true;
    assert_true(e->serve_done);
    assert_int_equal(e->serve_rc, join_rc);
}

static void *env_main(void *arg)
{
    struct env *e = arg;
    e->lfd = corio_listen("127.0.0.1", 0, -1);
    assert_true(e->lfd >= 0);
    e->port = (uint16_t)corio_sock_port(e->lfd);
    e->cfg.arg = e;
    if (e->cfg.log == NULL) {
        e->cfg.log = quiet_log;
        e->cfg.log_arg = e;
    }
    corio_event_init(&e->entered);
    corio_event_init(&e->release);
    assert_int_equal(corio_http_server_new(&e->srv, &e->cfg), 0);
    assert_int_equal(corio_spawn(NULL, serve_main, e, &e->serve_task), 0);
    e->client(e);
    if (!e->joined) {
        corio_http_server_stop(e->srv, false);
        env_join(e, 0);
    }
    assert_false(fd_is_open(e->lfd)); /* the server took the listener */
    corio_http_server_stats(e->srv, &e->stats);
    corio_http_server_free(e->srv);
    return NULL;
}

static struct env *env_new(corio_http_handler_fn handler, void (*client)(struct env *))
{
    struct env *e = calloc(1, sizeof *e);
    assert_non_null(e);
    e->cfg.handler = handler;
    e->client = client;
    return e;
}

static void env_run(struct env *e)
{
    support_run(env_main, e);
}

static void record(struct env *e, int rc)
{
    assert_true(e->nrcs < sizeof e->rcs / sizeof e->rcs[0]);
    e->rcs[e->nrcs++] = rc;
}

static bool path_is(corio_http_request_t *req, const char *want)
{
    size_t len;
    const char *p = corio_http_request_path(req, &len);
    return p != NULL && len == strlen(want) && memcmp(p, want, len) == 0;
}

static int send_text(corio_http_response_t *resp, int status, const char *text)
{
    return corio_http_response_send(resp, status, "text/plain", text, strlen(text));
}

/* Answers 200 with the path ("/" gives "root"). */
static int answer_path(corio_http_request_t *req, corio_http_response_t *resp)
{
    size_t len;
    const char *p = corio_http_request_path(req, &len);
    if (p == NULL || len == 0)
        return send_text(resp, 200, "root");
    return corio_http_response_send(resp, 200, "text/plain", p, len);
}

static int path_handler(corio_http_request_t *req, corio_http_response_t *resp, void *arg)
{
    ((struct env *)arg)->calls++;
    return answer_path(req, resp);
}

/* ---- configuration ----------------------------------------------------------------------- */

static void test_new_refuses_a_missing_config_or_handler(void **state)
{
    (void)state;
    corio_http_server_t *srv = NULL;
    corio_http_server_config_t cfg = {0};
    assert_int_equal(corio_http_server_new(&srv, NULL), -EINVAL);
    assert_int_equal(corio_http_server_new(&srv, &cfg), -EINVAL);
    assert_null(srv);
    cfg.handler = path_handler;
    assert_int_equal(corio_http_server_new(NULL, &cfg), -EINVAL);
    assert_int_equal(corio_http_server_new(&srv, &cfg), 0); /* needs no loop */
    assert_non_null(srv);
    corio_http_server_stats_t st;
    memset(&st, 0xff, sizeof st);
    corio_http_server_stats(srv, &st);
    assert_true(st.connections == 0 && st.requests == 0 && st.refused == 0 && st.tls_failed == 0 &&
                st.accept_paused == 0);
    corio_http_server_stop(NULL, false); /* ignored */
    corio_http_server_free(srv);
    corio_http_server_free(NULL);
}

static void test_serve_outside_a_task_is_eperm_and_closes_the_listener(void **state)
{
    (void)state;
    corio_http_server_config_t cfg = {.handler = path_handler};
    corio_http_server_t *srv;
    assert_int_equal(corio_http_server_new(&srv, &cfg), 0);
    uint16_t port;
    int lfd = support_listener(&port);
    assert_int_equal(corio_http_server_serve(srv, lfd, NULL), -EPERM);
    assert_false(fd_is_open(lfd)); /* the server takes listen_fd, errors included */
    corio_http_server_free(srv);
}

struct args_case {
    corio_http_server_t *srv;
};

static void *serve_args_main(void *arg)
{
    struct args_case *a = arg;
    assert_int_equal(corio_http_server_serve(a->srv, -1, NULL), -EINVAL);

    int lfd = corio_listen("127.0.0.1", 0, -1);
    assert_true(lfd >= 0);
    assert_int_equal(corio_http_server_serve(NULL, lfd, NULL), -EINVAL);
    assert_false(fd_is_open(lfd));

    /* After a stop, serve returns 0 at once (it is called inline here: a wait would
     * hang this task, and the watchdog would end the test), having closed the listener. */
    corio_http_server_stop(a->srv, false);
    lfd = corio_listen("127.0.0.1", 0, -1);
    assert_true(lfd >= 0);
    uint16_t port = (uint16_t)corio_sock_port(lfd);
    assert_int_equal(corio_http_server_serve(a->srv, lfd, NULL), 0);
    assert_false(fd_is_open(lfd));
    corio_timeout_begin(DEADLINE_NS);
    assert_int_equal(corio_dial("127.0.0.1", port), -ECONNREFUSED);
    corio_timeout_end();
    return NULL;
}

static void test_serve_checks_its_arguments_and_returns_at_once_after_a_stop(void **state)
{
    (void)state;
    corio_http_server_config_t cfg = {.handler = path_handler};
    struct args_case a = {0};
    assert_int_equal(corio_http_server_new(&a.srv, &cfg), 0);
    support_run(serve_args_main, &a);
    corio_http_server_free(a.srv);
}

/* ---- the handler's view of a request ----------------------------------------------------- */

struct view {
    int method, minor;
    bool has_path, tls;
    char path[64], query[64], mixed[64], upper[64], host[64];
    size_t path_len;
    bool missing_is_null;
};

static struct view views[3];
static int nviews;

static void copy_view(char *dst, const char *src, size_t len)
{
    if (src == NULL) {
        strcpy(dst, "(null)");
        return;
    }
    snprintf(dst, 64, "%.*s", (int)len, src);
}

static int view_handler(corio_http_request_t *req, corio_http_response_t *resp, void *arg)
{
    (void)arg;
    assert_true(nviews < 3);
    struct view *v = &views[nviews++];
    const corio_http_request_head_t *h = corio_http_request_head(req);
    v->method = h->method;
    v->minor = h->version_minor;
    size_t len = 0;
    const char *p = corio_http_request_path(req, &len);
    v->has_path = p != NULL;
    v->path_len = len;
    copy_view(v->path, p, len);
    if (p != NULL)
        assert_int_equal(p[len], '\0');
    copy_view(v->query, h->query, h->query_len);
    p = corio_http_request_header(req, "x-mixed-case", &len);
    copy_view(v->mixed, p, len);
    p = corio_http_request_header(req, "X-MIXED-CASE", &len);
    copy_view(v->upper, p, len);
    p = corio_http_request_header(req, "Host", &len);
    copy_view(v->host, p, len);
    v->missing_is_null = corio_http_request_header(req, "X-Missing", &len) == NULL;
    v->tls = corio_http_request_tls(req);
    return send_text(resp, 200, "seen");
}

static void view_client(struct env *e)
{
    struct cli *c = cli_open(e->port);
    cli_puts(c, "GET /a/./b/c/../%7Ex?q=1&r=%20 HTTP/1.1\r\nHost: example.test\r\n"
                "X-Mixed-Case: Value 1\r\n\r\n"
                "GET / HTTP/1.1\r\nHost: example.test\r\n\r\n"
                "OPTIONS * HTTP/1.1\r\nHost: example.test\r\n\r\n");
    for (int i = 0; i < 3; i++) {
        struct resp *r = cli_response(c, false);
        assert_int_equal(r->status, 200);
        expect_body(r, "seen");
        free(r);
    }
    cli_close(c);
}

static void test_a_handler_sees_the_method_a_normalised_path_the_query_and_fields(void **state)
{
    (void)state;
    nviews = 0;
    struct env *e = env_new(view_handler, view_client);
    env_run(e);
    assert_int_equal(nviews, 3);
    struct view *v = &views[0];
    assert_int_equal(v->method, CORIO_HTTP_METHOD_GET);
    assert_int_equal(v->minor, 1);
    assert_true(v->has_path);
    assert_string_equal(v->path, "a/b/~x"); /* "/a/./b/c/../%7Ex" */
    assert_int_equal(v->path_len, 6);
    assert_string_equal(v->query, "q=1&r=%20");
    assert_string_equal(v->mixed, "Value 1");
    assert_string_equal(v->upper, "Value 1");
    assert_string_equal(v->host, "example.test");
    assert_true(v->missing_is_null);
    assert_false(v->tls);
    assert_true(views[1].has_path);
    assert_string_equal(views[1].path, "");
    assert_int_equal(views[1].path_len, 0);
    assert_string_equal(views[1].query, "(null)");
    assert_string_equal(views[1].mixed, "(null)");
    assert_int_equal(views[2].method, CORIO_HTTP_METHOD_OPTIONS);
    assert_false(views[2].has_path); /* "*" is not a path */
    free(e);
}

/* ---- request bodies ---------------------------------------------------------------------- */

/* "echo" reads the body in pieces of 1 to 7 bytes and answers it back (or, after a read
 * error, the error's status, or 200 when the test asks); "noread" answers without reading;
 * anything else gets its path. */
static int body_handler(corio_http_request_t *req, corio_http_response_t *resp, void *arg)
{
    struct env *e = arg;
    e->calls++;
    if (path_is(req, "noread"))
        return send_text(resp, 200, "noread");
    if (!path_is(req, "echo"))
        return answer_path(req, resp);
    e->got_len = 0;
    ssize_t n;
    for (size_t i = 0;; i++) {
        size_t want = i % 7 + 1;
        assert_true(e->got_len + want <= sizeof e->got);
        n = corio_http_request_read(req, e->got + e->got_len, want);
        if (n <= 0)
            break;
        assert_true((size_t)n <= want);
        e->got_len += (size_t)n;
    }
    e->read_err = (int)n;
    char byte;
    record(e, (int)corio_http_request_read(req, &byte, 1)); /* after the end, or the error */
    if (n < 0 && e->answer_200_after_error)
        return send_text(resp, 200, "after error");
    if (n < 0) { /* no status for a truncated body: the client may still read a 400 */
        int status = corio_http_error_status((int)n);
        return corio_http_response_error(resp, status != 0 ? status : 400);
    }
    return corio_http_response_send(resp, 200, "application/octet-stream", e->got, e->got_len);
}

static void content_length_client(struct env *e)
{
    static char body[3001];
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (char)pat(i);
    struct cli *c = cli_open(e->port);
    char head[128];
    snprintf(head, sizeof head, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n",
             sizeof body);
    cli_puts(c, head);
    cli_send(c, body, sizeof body);
    struct resp *r = cli_response(c, false);
    assert_int_equal(r->status, 200);
    assert_int_equal(r->body_len, sizeof body);
    assert_memory_equal(r->body, body, sizeof body);
    expect_field(r, "Connection", NULL);
    free(r);
    /* A request without a body reads 0 at once. */
    r = cli_request(c, "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(r->status, 200);
    assert_int_equal(r->body_len, 0);
    free(r);
    cli_close(c);
}

static void test_a_content_length_body_read_in_small_pieces_is_what_was_sent(void **state)
{
    (void)state;
    struct env *e = env_new(body_handler, content_length_client);
    env_run(e);
    assert_int_equal(e->calls, 2);
    assert_int_equal(e->read_err, 0);
    assert_int_equal(e->nrcs, 2);
    assert_int_equal(e->rcs[0], 0);
    assert_int_equal(e->rcs[1], 0);
    free(e);
}

static const char chunked_body[] = "hello, chunked world: 26 b";

static void chunked_client(struct env *e)
{
    /* Chunk extensions (quoted too), a bare size, trailers, then a pipelined request, sent
     * three bytes at a time so that lines and data arrive in pieces. */
    static const char req[] = "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "5;name=value\r\nhello\r\n"
                              "9 ; q=\"a;b\\\"c\"\r\n, chunked\r\n"
                              "c\r\n world: 26 b\r\n"
                              "0;last\r\nX-Trailer: one\r\nX-Other: two\r\n\r\n"
                              "GET /after HTTP/1.1\r\nHost: t\r\n\r\n";
    struct cli *c = cli_open(e->port);
    for (size_t i = 0; i < sizeof req - 1; i += 3) {
        cli_send(c, req + i, sizeof req - 1 - i < 3 ? sizeof req - 1 - i : 3);
        corio_yield();
    }
    struct resp *r = cli_response(c, false);
    assert_int_equal(r->status, 200);
    expect_body(r, chunked_body);
    free(r);
    r = cli_response(c, false);
    assert_int_equal(r->status, 200);
    expect_body(r, "after");
    free(r);
    cli_close(c);
}

static void test_a_chunked_body_with_extensions_and_trailers_reads_back_exactly(void **state)
{
    (void)state;
    struct env *e = env_new(body_handler, chunked_client);
    env_run(e);
    assert_int_equal(e->calls, 2);
    assert_int_equal(e->read_err, 0);
    assert_int_equal(e->got_len, strlen(chunked_body));
    assert_memory_equal(e->got, chunked_body, e->got_len);
    free(e);
}

static void chunked_too_big_client(struct env *e)
{
    /* max_body is 100: the second chunk passes it. A request pipelined after the body is
     * not answered: the connection closes after the 413. */
    char req[512];
    char data[64];
    memset(data, 'x', sizeof data);
    int n = snprintf(req, sizeof req,
                     "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "40\r\n%.64s\r\n40\r\n%.64s\r\n0\r\n\r\n"
                     "GET /after HTTP/1.1\r\nHost: t\r\n\r\n",
                     data, data);
    struct cli *c = cli_open(e->port);
    cli_send(c, req, (size_t)n);
    struct resp *r = cli_response(c, false);
    assert_int_equal(r->status, e->answer_200_after_error ? 200 : 413);
    expect_field(r, "Connection", "close");
    free(r);
    cli_expect_eof(c);
    cli_close(c);
}

static void
test_a_chunked_body_over_max_body_fails_the_read_and_closes_after_the_answer(void **state)
{
    (void)state;
    for (int answer_200 = 0; answer_200 <= 1; answer_200++) {
        struct env *e = env_new(body_handler, chunked_too_big_client);
        e->cfg.max_body = 100;
        e->answer_200_after_error = answer_200;
        env_run(e);
        assert_int_equal(e->calls, 1);
        assert_int_equal(e->read_err, CORIO_HTTP_EBODY_TOO_BIG);
        assert_true(e->got_len >= 64 && e->got_len <= 100);
        assert_int_equal(e->rcs[0], CORIO_HTTP_EBODY_TOO_BIG); /* the error sticks */
        free(e);
    }
}

static void length_too_big_client(struct env *e)
{
    static char req[2048];
    int n = snprintf(req, sizeof req,
                     "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n%0101d"
                     "GET /after HTTP/1.1\r\nHost: t\r\n\r\n",
                     0);
    struct cli *c = cli_open(e->port);
    cli_send(c, req, (size_t)n);
    struct resp *r = cli_response(c, false);
    assert_int_equal(r->status, 413);
    expect_field(r, "Connection", "close");
    free(r);
    cli_expect_eof(c);
    cli_close(c);
}

static void test_a_content_length_over_max_body_is_413_without_the_handler(void **state)
{
    (void)state;
    struct env *e = env_new(body_handler, length_too_big_client);
    e->cfg.max_body = 100;
    env_run(e);
    assert_int_equal(e->calls, 0);
    assert_int_equal(e->stats.requests, 1);
    free(e);
}

static void truncated_client(struct env *e)
{
    struct cli *c = cli_open(e->port);
    cli_puts(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 50\r\n\r\n0123456789");
    assert_int_equal(shutdown(c->fd, SHUT_WR), 0);
    struct resp *r = cli_response(c, false);
    assert_int_equal(r->status, 400);
    expect_field(r, "Connection", "close");
    free(r);
    cli_expect_eof(c);
    cli_close(c);
}

static void test_a_body_cut_by_the_peer_is_etruncated(void **state)
{
    (void)state;
    struct env *e = env_new(body_handler, truncated_client);
    env_run(e);
    assert_int_equal(e->calls, 1);
    assert_int_equal(e->got_len, 10);
    assert_memory_equal(e->got, "0123456789", 10);
    assert_int_equal(e->read_err, CORIO_HTTP_ETRUNCATED);
    assert_int_equal(e->rcs[0], CORIO_HTTP_ETRUNCATED);
    free(e);
}

static void bad_chunk_client(struct env *e)
{
    struct cli *c = cli_open(e->port);
    cli_puts(c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                "3\r\nabc\r\nzz\r\nGET /after HTTP/1.1\r\nHost: t\r\n\r\n");
    struct resp *r = cli_response(c, false);
    assert_int_equal(r->status, 400);
    expect_field(r, "Connection", "close");
    free(r);
    cli_expect_eof(c);
    cli_close(c);
}

static void test_bad_chunked_framing_is_echunk_and_closes_after_the_answer(void **state)
{
    (void)state;
    struct env *e = env_new(body_handler, bad_chunk_client);
    env_run(e);
    assert_int_equal(e->calls, 1);
    assert_int_equal(e->got_len, 3);
    assert_int_equal(e->read_err, CORIO_HTTP_ECHUNK);
    free(e);
}

static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";

static void continue_client(struct env *e)
{
    /* The handler reads: 100 Continue comes first, then the body may be sent. */
    struct cli *c = cli_open(e->port);
    cli_puts(c, "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                "Content-Length: 5\r\n\r\n");
    cli_need(c, sizeof continue_line - 1);
    assert_memory_equal(c->buf, continue_line, sizeof continue_line - 1);
    cli_take(c, sizeof continue_line - 1);
    cli_puts(c, "hello");
    struct resp *r = cli_response(c, false);
    assert_int_equal(r->status, 200);
    expect_body(r, "hello");
    expect_field(r, "Connection", NULL);
    free(r);
    r = cli_request(c, "GET /again HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_body(r, "again");
    free(r);
    cli_close(c);

    /* The handler does not read: no 100, the answer, and the connection closes (the
     * client still holds its body back). */
    c = cli_open(e->port);
    cli_puts(c, "POST /noread HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                "Content-Length: 5\r\n\r\n");
    r = cli_response(c, false);
    assert_int_equal(r->status, 200);
    expect_body(r, "noread");
    expect_field(r, "Connection", "close");
    free(r);
    cli_expect_eof(c);
    cli_close(c);
}

static void test_100_continue_is_sent_only_when_the_handler_reads(void **state)
{
    (void)state;
    struct env *e = env_new(body_handler, continue_client);
    env_run(e);
    assert_int_equal(e->calls, 3);
    free(e);
}

static void unread_body_client(struct env *e)
{
    /* Bodies left unread (small, chunked, and larger than the server's buffers), each
     * followed by a pipelined request in the same send. */
    static char req[200 * 1024];
    size_t n =
        (size_t)snprintf(req, sizeof req,
                         "POST /noread HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n"
                         "GET /x\r\n\r\n"
                         "GET /first HTTP/1.1\r\nHost: t\r\n\r\n"
                         "POST /noread HTTP/1.1\r\nHost: t\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n"
                         "4;e=1\r\nGET \r\n0\r\nT: v\r\n\r\n"
                         "GET /second HTTP/1.1\r\nHost: t\r\n\r\n"
                         "POST /noread HTTP/1.1\r\nHost: t\r\nContent-Length: 150000\r\n\r\n");
    for (size_t i = 0; i < 150000; i++)
        req[n++] = (char)pat(i);
    n += (size_t)snprintf(req + n, sizeof req - n, "GET /third HTTP/1.1\r\nHost: t\r\n\r\n");
    struct cli *c = cli_open(e->port);
    cli_send(c, req, n);
    static const char *const bodies[] = {"noread", "first", "noread", "second", "noread", "third"};
    for (size_t i = 0; i < 6; i++) {
        struct resp *r = cli_response(c, false);
        assert_int_equal(r->status, 200);
        expect_body(r, bodies[i]);
        expect_field(r, "Connection", NULL);
        free(r);
    }
    cli_close(c);
}

static void test_an_unread_body_is_drained_and_the_next_pipelined_request_answered(void **state)
{
    (void)state;
    struct env *e = env_new(body_handler, unread_body_client);
    env_run(e);
    assert_int_equal(e->calls, 6);
    assert_int_equal(e->stats.requests, 6);
    free(e);
}

/* ---- responses ----------------------------------------------------------------------------- */

#define BIG_CHUNK 20000

static int resp_handler(corio_http_request_t *req, corio_http_response_t *resp, void *arg)
{
    struct env *e = arg;
    e->calls++;
    if (path_is(req, "fields")) {
        static const char *const bad[][2] = {
            {"X-Bad", "a\r\nb"},     {"X-Bad", "a\nb"},
            {"X-Bad", "a\rb"},       {"", "v"},
            {"Bad Name", "v"},       {"Bad:Name", "v"},
            {"X-Bad\r\n", "v"},      {"Content-Length", "1"},
            {"content-length", "1"}, {"Transfer-Encoding", "chunked"},
            {"Connection", "close"}, {"CONNECTION", "keep-alive"},
            {"Date", "today"},       {"Server", "other"},
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
            record(e, corio_http_response_header(resp, bad[i][0], bad[i][1]));
        char big[1001];
        memset(big, 'v', 1000);
        big[1000] = '\0';
        char name[16];
        for (int i = 1; i <= 5; i++) { /* 1010 bytes each: the fifth passes 4 KiB */
            snprintf(name, sizeof name, "X-Fill-%d", i);
            record(e, corio_http_response_header(resp, name, big));
        }
        record(e, corio_http_response_header(resp, "X-Small", "s")); /* still fits */
        record(e, (int)corio_http_response_write(resp, "x", 1));     /* not begun */
        record(e, corio_http_response_end(resp));
        record(e, corio_http_response_begin(resp, 199, "text/plain", 2));
        record(e, corio_http_response_begin(resp, 600, "text/plain", 2));
        record(e, corio_http_response_begin(resp, 200, "text/plain", 2));
        record(e, corio_http_response_begin(resp, 200, "text/plain", 2));
        record(e, corio_http_response_header(resp, "X-Late", "v"));
        record(e, (int)corio_http_response_write(resp, "ok", 2));
        record(e, corio_http_response_end(resp));
        record(e, corio_http_response_end(resp));
        record(e, (int)corio_http_response_write(resp, "x", 1));
        return 0;
    }
    if (path_is(req, "past")) {
        record(e, corio_http_response_begin(resp, 200, "text/plain", 5));
        record(e, (int)corio_http_response_write(resp, "abc", 3));
        record(e, (int)corio_http_response_write(resp, "def", 3));
        return 0;
    }
    if (path_is(req, "short")) {
        record(e, corio_http_response_begin(resp, 200, "text/plain", 10));
        record(e, (int)corio_http_response_write(resp, "1234", 4));
        record(e, corio_http_response_end(resp));
        record(e, (int)corio_http_response_write(resp, "5", 1));
        record(e, corio_http_response_end(resp));
        return 0;
    }
    if (path_is(req, "chunked")) {
        static char big[BIG_CHUNK];
        for (size_t i = 0; i < sizeof big; i++)
            big[i] = (char)pat(i);
        record(e, corio_http_response_begin(resp, 200, "text/plain", -1));
        record(e, (int)corio_http_response_write(resp, "hello", 5));
        record(e, (int)corio_http_response_write(resp, "", 0)); /* not the last chunk */
        record(e, (int)corio_http_response_write(resp, ", ", 2));
        record(e, (int)corio_http_response_write(resp, "world", 5));
        record(e, (int)corio_http_response_write(resp, big, sizeof big));
        record(e, corio_http_response_end(resp));
        return 0;
    }
    if (path_is(req, "h")) {
        record(e, corio_http_response_header(resp, "X-Custom", "yes"));
        record(e, corio_http_response_begin(resp, 200, "text/plain", 11));
        record(e, (int)corio_http_response_write(resp, "hello world", 11));
        record(e, corio_http_response_end(resp));
        return 0;
    }
    if (path_is(req, "204")) {
        record(e, corio_http_response_begin(resp, 204, NULL, -1));
        record(e, corio_http_response_end(resp));
        return 0;
    }
    if (path_is(req, "304"))
        return corio_http_response_send(resp, 304, "text/plain", NULL, 0);
    if (path_is(req, "silent")) {
        record(e, corio_http_response_header(resp, "X-Leak", "1"));
        return 0;
    }
    if (path_is(req, "fail"))
        return -1;
    if (path_is(req, "stream") || path_is(req, "unended")) {
        record(e, corio_http_response_begin(resp, 200, "text/plain", -1));
        record(e, (int)corio_http_response_write(resp, "abc", 3));
        return path_is(req, "stream") ? corio_http_response_end(resp) : 0;
    }
    if (path_is(req, "unended-sized")) {
        record(e, corio_http_response_begin(resp, 200, "text/plain", 3));
        record(e, (int)corio_http_response_write(resp, "abc", 3));
        return 0;
    }
    if (path_is(req, "big")) { /* the client resets the connection: a send fails */
        static char chunk[64 * 1024];
        corio_event_set(&e->entered);
        if (corio_event_wait(&e->release) < 0)
            return -1;
        record(e, corio_http_response_begin(resp, 200, NULL, 160 * (int64_t)sizeof chunk));
        ssize_t n = 0;
        for (int i = 0; i < 160 && n >= 0; i++)
            n = corio_http_response_write(resp, chunk, sizeof chunk);
        record(e, (int)n);
        record(e, (int)corio_http_response_write(resp, chunk, 1));
        record(e, corio_http_response_end(resp));
        return 0;
    }
    return answer_path(req, resp);
}

static void fields_client(struct env *e)
{
    struct cli *c = cli_open(e->port);
    struct resp *r = cli_request(c, "GET /fields HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(r->status, 200);
    expect_body(r, "ok");
    char big[1001];
    memset(big, 'v', 1000);
    big[1000] = '\0';
    char name[16];
    for (int i = 1; i <= 4; i++) {
        snprintf(name, sizeof name, "X-Fill-%d", i);
        expect_field(r, name, big);
    }
    expect_field(r, "X-Fill-5", NULL);
    expect_field(r, "X-Small", "s");
    expect_field(r, "X-Bad", NULL);
    expect_field(r, "X-Late", NULL);
    expect_field(r, "Server", "corio");
    expect_field(r, "Content-Length", "2");
    expect_field(r, "Content-Type", "text/plain");
    expect_field(r, "Connection", NULL);
    assert_int_equal(resp_count(r, "Date"), 1);
    free(r);
    r = cli_request(c, "GET /next HTTP/1.1\r\nHost: t\r\n\r\n"); /* the connection goes on */
    expect_body(r, "next");
    free(r);
    cli_close(c);
}

static void test_response_fields_and_calls_out_of_order_are_refused(void **state)
{
    (void)state;
    struct env *e = env_new(resp_handler, fields_client);
    env_run(e);
    static const int want[] = {
        -EINVAL,   -EINVAL, -EINVAL, -EINVAL,   -EINVAL,   -EINVAL, -EINVAL, /* syntax */
        -EINVAL,   -EINVAL, -EINVAL, -EINVAL,   -EINVAL,   -EINVAL, -EINVAL, /* the server's */
        0,         0,       0,       0,         -ENOSPC,   0,                /* 4 KiB */
        -EINVAL,   -EINVAL,                                                  /* not begun */
        -EINVAL,   -EINVAL, 0,       -EALREADY,                              /* begin */
        -EALREADY, 2,       0,       -EALREADY, -EALREADY,                   /* after */
    };
    assert_int_equal(e->nrcs, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < e->nrcs; i++)
        if (e->rcs[i] != want[i])
            fail_msg("call %zu returned %d, expected %d", i, e->rcs[i], want[i]);
    free(e);
}

static void cut_client(struct env *e)
{
    /* A write past the length: refused, and the connection ends after what was sent. */
    struct cli *c = cli_open(e->port);
    cli_puts(c,
             "GET /past HTTP/1.1\r\nHost: t\r\n\r\nGET /not-answered HTTP/1.1\r\nHost: t\r\n\r\n");
    struct resp *r = resp_new();
    cli_head(c, r);
    assert_int_equal(r->status, 200);
    assert_int_equal(r->length, 5);
    assert_int_equal(cli_read_to_eof(c), 3);
    assert_memory_equal(c->buf, "abc", 3);
    cli_close(c);
    free(r);

    /* An end short of the length: the same. */
    c = cli_open(e->port);
    cli_puts(c, "GET /short HTTP/1.1\r\nHost: t\r\n\r\n");
    r = resp_new();
    cli_head(c, r);
    assert_int_equal(r->length, 10);
    assert_int_equal(cli_read_to_eof(c), 4);
    assert_memory_equal(c->buf, "1234", 4);
    cli_close(c);
    free(r);
}

static void test_a_write_past_the_length_or_an_end_short_of_it_closes_after_the_bytes(void **state)
{
    (void)state;
    struct env *e = env_new(resp_handler, cut_client);
    env_run(e);
    static const int want[] = {0, 3, -EINVAL, 0, 4, CORIO_HTTP_ETRUNCATED, -EALREADY, -EALREADY};
    assert_int_equal(e->nrcs, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < e->nrcs; i++)
        if (e->rcs[i] != want[i])
            fail_msg("call %zu returned %d, expected %d", i, e->rcs[i], want[i]);
    assert_int_equal(e->calls, 2);
    free(e);
}

static void chunked_resp_client(struct env *e)
{
    struct cli *c = cli_open(e->port);
    struct resp *r = cli_request(c, "GET /chunked HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(r->status, 200);
    assert_true(r->chunked);
    assert_int_equal(r->length, -1);
    assert_int_equal(r->chunks, 4); /* the empty write made no chunk */
    assert_int_equal(r->body_len, 12 + BIG_CHUNK);
    assert_memory_equal(r->body, "hello, world", 12);
    for (size_t i = 0; i < BIG_CHUNK; i++)
        if ((unsigned char)r->body[12 + i] != pat(i))
            fail_msg("byte %zu of the big chunk differs", i);
    expect_field(r, "Connection", NULL);
    free(r);
    r = cli_request(c, "GET /next HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_body(r, "next");
    free(r);
    cli_close(c);

    /* HTTP/1.0: no framing field, "Connection: close" (though it asked for keep-alive),
     * the body ends with the connection. */
    c = cli_open(e->port);
    cli_puts(c, "GET /chunked HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    r = cli_response(c, false);
    assert_int_equal(r->status, 200);
    assert_false(r->chunked);
    assert_int_equal(r->length, -1);
    expect_field(r, "Connection", "close");
    assert_int_equal(r->body_len, 12 + BIG_CHUNK);
    assert_memory_equal(r->body, "hello, world", 12);
    free(r);
    cli_close(c);
}

static void test_an_unknown_length_is_chunked_for_1_1_and_close_delimited_for_1_0(void **state)
{
    (void)state;
    struct env *e = env_new(resp_handler, chunked_resp_client);
    env_run(e);
    static const int want[] = {0, 5, 0, 2, 5, BIG_CHUNK, 0};
    assert_int_equal(e->nrcs, 2 * (sizeof want / sizeof want[0]));
    for (size_t i = 0; i < e->nrcs; i++)
        if (e->rcs[i] != want[i % 7])
            fail_msg("call %zu returned %d, expected %d", i, e->rcs[i], want[i % 7]);
    free(e);
}

/* The head without its Date line (it may change between two responses). */
static void head_without_date(const struct resp *r, char *out, size_t cap)
{
    size_t n = 0;
    const char *p = r->head, *end = r->head + r->head_len;
    while (p < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2) + 2;
        if (strncasecmp(p, "Date:", 5) != 0) {
            assert_true(n + (size_t)(eol - p) < cap);
            memcpy(out + n, p, (size_t)(eol - p));
            n += (size_t)(eol - p);
        }
        p = eol;
    }
    out[n] = '\0';
}

static void head_client(struct env *e)
{
    struct cli *c = cli_open(e->port);
    /* Pipelined: a body sent for a HEAD would be read as the next response's head. */
    cli_puts(c, "HEAD /h HTTP/1.1\r\nHost: t\r\n\r\nGET /h HTTP/1.1\r\nHost: t\r\n\r\n"
                "HEAD /h HTTP/1.1\r\nHost: t\r\n\r\nGET /204 HTTP/1.1\r\nHost: t\r\n\r\n"
                "GET /304 HTTP/1.1\r\nHost: t\r\n\r\nGET /end HTTP/1.1\r\nHost: t\r\n\r\n");
    struct resp *head1 = cli_response(c, true);
    struct resp *get = cli_response(c, false);
    struct resp *head2 = cli_response(c, true);
    assert_int_equal(head1->status, 200);
    assert_int_equal(get->status, 200);
    expect_body(get, "hello world");
    expect_field(head1, "Content-Length", "11");
    expect_field(head1, "X-Custom", "yes");
    static char a[4096], b[4096];
    head_without_date(head1, a, sizeof a);
    head_without_date(get, b, sizeof b);
    assert_string_equal(a, b);
    head_without_date(head2, b, sizeof b);
    assert_string_equal(a, b);
    free(head1);
    free(get);
    free(head2);

    for (int status = 204; status <= 304; status += 100) {
        struct resp *r = cli_response(c, false); /* no body read for them */
        assert_int_equal(r->status, status);
        expect_field(r, "Content-Length", NULL);
        expect_field(r, "Transfer-Encoding", NULL);
        expect_field(r, "Connection", NULL);
        free(r);
    }
    struct resp *r = cli_response(c, false);
    expect_body(r, "end");
    free(r);
    cli_close(c);
}

static void test_head_gets_the_head_of_get_and_204_and_304_have_no_body(void **state)
{
    (void)state;
    struct env *e = env_new(resp_handler, head_client);
    env_run(e);
    /* HEAD and GET alike: writes are counted though dropped for HEAD. */
    static const int want[] = {0, 0, 11, 0, 0, 0, 11, 0, 0, 0, 11, 0, 0, 0};
    assert_int_equal(e->nrcs, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < e->nrcs; i++)
        if (e->rcs[i] != want[i])
            fail_msg("call %zu returned %d, expected %d", i, e->rcs[i], want[i]);
    free(e);
}

static void unanswered_client(struct env *e)
{
    struct cli *c = cli_open(e->port);
    struct resp *r = cli_request(c, "GET /silent HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(r->status, 500);
    expect_field(r, "X-Leak", NULL); /* fields meant for the handler's own answer */
    expect_field(r, "Connection", NULL);
    expect_body(r, "500 Internal Server Error\n");
    free(r);
    r = cli_request(c, "GET /next HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_body(r, "next");
    free(r);
    cli_puts(c, "GET /fail HTTP/1.1\r\nHost: t\r\n\r\n");
    cli_expect_eof(c); /* closed, nothing sent */
    cli_close(c);
}

static void test_a_handler_that_does_not_answer_gets_500_and_one_that_fails_a_close(void **state)
{
    (void)state;
    struct env *e = env_new(resp_handler, unanswered_client);
    env_run(e);
    assert_int_equal(e->calls, 3);
    free(e);
}

static void http10_client(struct env *e)
{
    struct cli *c = cli_open(e->port);
    struct resp *r = cli_request(c, "GET /one HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_int_equal(r->status, 200);
    expect_field(r, "Connection", "keep-alive");
    expect_body(r, "one");
    free(r);
    r = cli_request(c, "GET /two HTTP/1.0\r\n\r\n"); /* 1.0 without keep-alive: the last */
    expect_field(r, "Connection", "close");
    expect_body(r, "two");
    free(r);
    cli_expect_eof(c);
    cli_close(c);
}

static void test_http_1_0_keep_alive_is_answered_with_keep_alive(void **state)
{
    (void)state;
    struct env *e = env_new(resp_handler, http10_client);
    env_run(e);
    assert_int_equal(e->calls, 2);
    free(e);
}

static void unended_client(struct env *e)
{
    struct cli *c = cli_open(e->port);
    struct resp *r = cli_request(c, "HEAD /stream HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(r->status, 200);
    expect_field(r, "Content-Length", NULL);
    expect_field(r, "Connection", NULL);
    free(r);
    static const char *const paths[] = {"/stream", "/unended", "/unended-sized"};
    for (size_t i = 0; i < 3; i++) {
        char req[128];
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", paths[i]);
        r = cli_request(c, req);
        assert_int_equal(r->status, 200);
        assert_int_equal(r->chunked, i < 2);
        expect_body(r, "abc");
        expect_field(r, "Connection", NULL);
        free(r);
    }
    r = cli_request(c, "GET /next HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_body(r, "next");
    free(r);
    cli_close(c);
}

static void test_a_response_begun_and_not_ended_is_ended_for_the_handler(void **state)
{
    (void)state;
    struct env *e = env_new(resp_handler, unended_client);
    env_run(e);
    assert_int_equal(e->calls, 5);
    for (size_t i = 0; i < e->nrcs; i++)
        assert_int_equal(e->rcs[i], i % 2 == 0 ? 0 : 3);
    free(e);
}

static void reset_client(struct env *e)
{
    struct cli *c = cli_open(e->port);
    cli_puts(c, "GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
    corio_timeout_begin(DEADLINE_NS);
    assert_int_equal(corio_event_wait(&e->entered), 0); /* the head was read */
    corio_timeout_end();
    support_close_with_reset(c->fd);
    free(c);
    corio_event_set(&e->release);
    corio_http_server_stop(e->srv, false);
    env_join(e, 0); /* the handler has returned */
}

static void test_after_a_send_error_every_call_returns_it(void **state)
{
    (void)state;
    struct env *e = env_new(resp_handler, reset_client);
    e->cfg.grace_ns = 60 * SEC;
    env_run(e);
    assert_int_equal(e->calls, 1);
    assert_int_equal(e->nrcs, 4);
    assert_int_equal(e->rcs[0], 0);
    int err = e->rcs[1];
    if (err != -EPIPE && err != -ECONNRESET)
        fail_msg("the write returned %d", err);
    assert_int_equal(e->rcs[2], err);
    assert_int_equal(e->rcs[3], err);
    free(e);
}

static void server_name_client(struct env *e)
{
    struct cli *c = cli_open(e->port);
    struct resp *r = cli_request(c, "GET /x HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_field(r, "Server", e->want_server);
    assert_int_equal(resp_count(r, "Date"), 1);
    free(r);
    cli_close(c);
}

static void test_the_server_field_follows_server_name(void **state)
{
    (void)state;
    static const char *const names[][2] = {{"test/1.0", "test/1.0"}, {"", NULL}};
    for (size_t i = 0; i < 2; i++) {
        struct env *e = env_new(path_handler, server_name_client);
        e->cfg.server_name = names[i][0];
        e->want_server = names[i][1];
        env_run(e);
        free(e);
    }
}

static void timeouts_client(struct env *e)
{
    struct cli *c = cli_open(e->port); /* says nothing: idle_timeout_ns */
    cli_expect_eof(c);
    cli_close(c);
    c = cli_open(e->port); /* a head that never ends: header_timeout_ns */
    cli_puts(c, "GET / HTTP/1.1\r\nHost: t\r\n");
    cli_expect_eof(c);
    cli_close(c);
    c = cli_open(e->port); /* a body that stops: idle_timeout_ns for the read */
    cli_puts(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
    struct resp *r = cli_response(c, false);
    assert_int_equal(r->status, 400);
    expect_field(r, "Connection", "close");
    free(r);
    cli_expect_eof(c);
    cli_close(c);
}

static void test_idle_header_and_body_timeouts_close_the_connection(void **state)
{
    (void)state;
    struct env *e = env_new(body_handler, timeouts_client);
    e->cfg.idle_timeout_ns = 30 * MS;
    e->cfg.header_timeout_ns = 30 * MS;
    env_run(e);
    assert_int_equal(e->calls, 1);
    assert_int_equal(e->got_len, 3);
    assert_int_equal(e->read_err, -ETIMEDOUT);
    assert_int_equal(e->stats.connections, 3);
    free(e);
}

/* ---- refusals ------------------------------------------------------------------------------ */

static void refusals_client(struct env *e)
{
    struct cli *c = cli_open(e->port);
    expect_closing(c, "BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n", 501);
    cli_close(c);
    c = cli_open(e->port);
    expect_closing(c, "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400);
    cli_close(c);
    c = cli_open(e->port);
    expect_closing(c, "GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505);
    cli_close(c);

    c = cli_open(e->port);
    struct resp *r = cli_request(c, "GET /../x HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(r->status, 403);
    expect_field(r, "Connection", NULL);
    free(r);
    r = cli_request(c, "GET /kept HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_body(r, "kept");
    free(r);
    cli_close(c);
}

static void test_refusals_are_answered_without_the_handler(void **state)
{
    (void)state;
    struct env *e = env_new(path_handler, refusals_client);
    env_run(e);
    assert_int_equal(e->calls, 1); /* only /kept */
    assert_int_equal(e->stats.connections, 4);
    assert_int_equal(e->stats.requests, 5); /* refused heads count */
    free(e);
}

static void max_conns_client(struct env *e)
{
    struct cli *a = cli_open(e->port), *b = cli_open(e->port);
    struct resp *r = cli_request(a, "GET /a HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_body(r, "a");
    free(r);
    r = cli_request(b, "GET /b HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_body(r, "b");
    free(r);
    struct cli *c = cli_open(e->port);
    r = cli_response(c, false); /* answered before it asks */
    assert_int_equal(r->status, 503);
    expect_field(r, "Connection", "close");
    size_t len;
    assert_non_null(resp_field(r, "Retry-After", &len));
    free(r);
    cli_expect_eof(c);
    cli_close(c);
    corio_http_server_stats_t st;
    corio_http_server_stats(e->srv, &st);
    assert_int_equal(st.refused, 1);
    assert_int_equal(st.connections, 2);
    /* The two served go on. */
    r = cli_request(a, "GET /a2 HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_body(r, "a2");
    free(r);
    cli_close(a);
    cli_close(b);
}

static void test_a_connection_over_max_conns_gets_503_and_is_closed(void **state)
{
    (void)state;
    struct env *e = env_new(path_handler, max_conns_client);
    e->cfg.max_conns = 2;
    env_run(e);
    assert_int_equal(e->stats.refused, 1);
    assert_int_equal(e->stats.requests, 3);
    free(e);
}

/* ---- stopping ------------------------------------------------------------------------------ */

/* "slow" says it has begun, waits until the test releases it, and answers; a cancel
 * shows as its wait's result, and a corio call after it. */
static int slow_handler(corio_http_request_t *req, corio_http_response_t *resp, void *arg)
{
    struct env *e = arg;
    if (!path_is(req, "slow"))
        return answer_path(req, resp);
    e->calls++;
    corio_event_set(&e->entered);
    e->wait_rc = corio_event_wait(&e->release);
    e->after_rc = corio_sleep(1);
    e->serve_done_when_returned = e->serve_done;
    if (e->wait_rc < 0)
        return e->wait_rc;
    return send_text(resp, 200, "done");
}

/* Opens an idle connection (one request answered) and one whose request is in the slow
 * handler. */
static void open_idle_and_slow(struct env *e, struct cli **idle, struct cli **slow)
{
    *idle = cli_open(e->port);
    struct resp *r = cli_request(*idle, "GET /idle HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_body(r, "idle");
    free(r);
    *slow = cli_open(e->port);
    cli_puts(*slow, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
    corio_timeout_begin(DEADLINE_NS);
    assert_int_equal(corio_event_wait(&e->entered), 0);
    corio_timeout_end();
}

static void expect_refused(struct env *e)
{
    corio_timeout_begin(DEADLINE_NS);
    int fd = corio_dial("127.0.0.1", e->port);
    corio_timeout_end();
    if (fd >= 0)
        close(fd);
    assert_int_equal(fd, -ECONNREFUSED);
}

static void drain_client(struct env *e)
{
    struct cli *idle, *slow;
    open_idle_and_slow(e, &idle, &slow);
    corio_http_server_stop(e->srv, false);
    cli_expect_eof(idle); /* closed at once */
    expect_refused(e);    /* the listener is closed */
    assert_false(e->serve_done);
    corio_event_set(&e->release);
    struct resp *r = cli_response(slow, false);
    assert_int_equal(r->status, 200);
    expect_body(r, "done");
    expect_field(r, "Connection", "close");
    free(r);
    cli_expect_eof(slow);
    env_join(e, 0);
    cli_close(idle);
    cli_close(slow);
}

static void test_a_stop_drains_requests_in_flight_and_closes_idle_connections(void **state)
{
    (void)state;
    struct env *e = env_new(slow_handler, drain_client);
    e->cfg.grace_ns = 60 * SEC; /* the handler answers well before */
    env_run(e);
    assert_int_equal(e->wait_rc, 0);
    assert_int_equal(e->after_rc, 0);
    assert_false(e->serve_done_when_returned);
    free(e);
}

static void grace_client(struct env *e)
{
    struct cli *idle, *slow;
    open_idle_and_slow(e, &idle, &slow);
    corio_http_server_stop(e->srv, false);
    cli_expect_eof(idle);
    env_join(e, 0); /* the handler is never released: the grace ends it */
    cli_expect_eof(slow);
    cli_close(idle);
    cli_close(slow);
}

static void test_a_handler_stuck_past_grace_ns_is_cancelled(void **state)
{
    (void)state;
    struct env *e = env_new(slow_handler, grace_client);
    e->cfg.grace_ns = 20 * MS;
    env_run(e);
    assert_int_equal(e->wait_rc, -ECANCELED);
    assert_int_equal(e->after_rc, -ECANCELED);
    assert_false(e->serve_done_when_returned);
    free(e);
}

/* stop(srv, true), or a second stop during a drain: the handler is cancelled at once (the
 * grace, 60 s, is longer than env_join's deadline). */
static void stop_now_client(struct env *e)
{
    struct cli *idle, *slow;
    open_idle_and_slow(e, &idle, &slow);
    if (e->stop_twice) {
        corio_http_server_stop(e->srv, false);
        cli_expect_eof(idle);
        assert_false(e->serve_done);
        corio_http_server_stop(e->srv, false);
    } else {
        corio_http_server_stop(e->srv, true);
        cli_expect_eof(idle);
    }
    env_join(e, 0);
    cli_expect_eof(slow);
    cli_close(idle);
    cli_close(slow);
}

static void test_stop_now_or_a_second_stop_cancels_at_once(void **state)
{
    (void)state;
    for (int twice = 0; twice <= 1; twice++) {
        struct env *e = env_new(slow_handler, stop_now_client);
        e->cfg.grace_ns = 60 * SEC;
        e->stop_twice = twice;
        env_run(e);
        assert_int_equal(e->wait_rc, -ECANCELED);
        assert_int_equal(e->after_rc, -ECANCELED);
        free(e);
    }
}

struct second_site {
    struct env *e;
    int lfd;
    int rc;
    bool done;
};

static void *second_serve_main(void *arg)
{
    struct second_site *s = arg;
    s->rc = corio_http_server_serve(s->e->srv, s->lfd, NULL);
    s->done = true;
    return NULL;
}

static void two_sites_client(struct env *e)
{
    struct second_site s = {.e = e, .rc = 1};
    s.lfd = corio_listen("127.0.0.1", 0, -1);
    assert_true(s.lfd >= 0);
    uint16_t port2 = (uint16_t)corio_sock_port(s.lfd);
    corio_task_t *t;
    assert_int_equal(corio_spawn(NULL, second_serve_main, &s, &t), 0);
    struct cli *c1 = cli_open(e->port), *c2 = cli_open(port2);
    struct resp *r = cli_request(c1, "GET /one HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_body(r, "one");
    free(r);
    r = cli_request(c2, "GET /two HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_body(r, "two");
    free(r);
    corio_http_server_stop(e->srv, false);
    env_join(e, 0);
    corio_timeout_begin(10 * SEC);
    assert_int_equal(corio_join(t, NULL), 0);
    corio_timeout_end();
    assert_true(s.done);
    assert_int_equal(s.rc, 0);
    assert_false(fd_is_open(s.lfd));
    cli_expect_eof(c1);
    cli_expect_eof(c2);
    cli_close(c1);
    cli_close(c2);
}

static void test_two_serve_calls_on_one_loop_both_return_after_one_stop(void **state)
{
    (void)state;
    struct env *e = env_new(path_handler, two_sites_client);
    env_run(e);
    assert_int_equal(e->stats.connections, 2);
    assert_int_equal(e->stats.requests, 2);
    free(e);
}

static void cancel_serve_client(struct env *e)
{
    struct cli *idle, *slow;
    open_idle_and_slow(e, &idle, &slow);
    assert_int_equal(corio_cancel(e->serve_task), 0);
    cli_expect_eof(idle);
    env_join(e, -ECANCELED);
    cli_expect_eof(slow);
    expect_refused(e);
    cli_close(idle);
    cli_close(slow);
}

static void test_a_cancelled_serve_task_waits_for_its_connections(void **state)
{
    (void)state;
    struct env *e = env_new(slow_handler, cancel_serve_client);
    e->cfg.grace_ns = 60 * SEC;
    env_run(e);
    assert_int_equal(e->calls, 1);
    assert_false(e->serve_done_when_returned); /* the handler returned before serve did */
    free(e);
}

/* ---- statistics ---------------------------------------------------------------------------- */

static void stats_client(struct env *e)
{
    struct cli *c = cli_open(e->port);
    cli_puts(c, "GET /1 HTTP/1.1\r\nHost: t\r\n\r\nGET /2 HTTP/1.1\r\nHost: t\r\n\r\n"
                "GET /3 HTTP/1.1\r\nHost: t\r\n\r\n");
    for (int i = 0; i < 3; i++)
        free(cli_response(c, false));
    cli_close(c);
    c = cli_open(e->port);
    expect_closing(c, "GET / HTTP/1.1\r\n\r\n", 400); /* no Host */
    cli_close(c);
}

static void test_stats_count_connections_and_requests(void **state)
{
    (void)state;
    struct env *e = env_new(path_handler, stats_client);
    env_run(e);
    assert_int_equal(e->stats.connections, 2);
    assert_int_equal(e->stats.requests, 4);
    assert_int_equal(e->stats.refused, 0);
    assert_int_equal(e->stats.tls_failed, 0);
    assert_int_equal(e->stats.accept_paused, 0);
    assert_int_equal(e->calls, 3);
    free(e);
}

/* ---- TLS ----------------------------------------------------------------------------------- */

static corio_tls_ctx_t *tls_ctx(bool server)
{
    char cert[512], key[512], ca[512], why[256] = "";
    snprintf(cert, sizeof cert, "%s/server.pem", certs);
    snprintf(key, sizeof key, "%s/server.key", certs);
    snprintf(ca, sizeof ca, "%s/ca.pem", certs);
    corio_tls_config_t cfg = {0};
    if (server) {
        cfg.role = CORIO_TLS_SERVER;
        cfg.cert_file = cert;
        cfg.key_file = key;
    } else {
        cfg.ca_file = ca;
    }
    corio_tls_ctx_t *ctx;
    int rc = corio_tls_ctx_new(&ctx, &cfg, why, sizeof why);
    if (rc < 0)
        fail_msg("TLS context: %s (%s)", corio_strerror(rc), why);
    return ctx;
}

static int tls_handler(corio_http_request_t *req, corio_http_response_t *resp, void *arg)
{
    struct env *e = arg;
    e->calls++;
    return send_text(resp, 200, corio_http_request_tls(req) ? "tls" : "plain");
}

static struct cli *tls_open(struct env *e, corio_tls_ctx_t *cctx)
{
    struct cli *c = cli_open(e->port);
    corio_timeout_begin(DEADLINE_NS);
    int rc = corio_tls_connect(&c->tls, cctx, c->fd, "localhost");
    corio_timeout_end();
    if (rc < 0)
        fail_msg("TLS handshake: %s (%s)", corio_strerror(rc), corio_tls_error(&c->tls));
    c->tls_on = true;
    return c;
}

static void tls_client(struct env *e)
{
    corio_tls_ctx_t *cctx = tls_ctx(false);
    struct cli *c = tls_open(e, cctx);
    struct resp *r = cli_request(c, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_int_equal(r->status, 200);
    expect_body(r, "tls");
    free(r);
    r = cli_request(c, "GET /again HTTP/1.1\r\nHost: localhost\r\n\r\n"); /* keep-alive */
    expect_body(r, "tls");
    free(r);

    /* Plain HTTP on the TLS listener: closed, counted, and no harm to the others. */
    struct cli *p = cli_open(e->port);
    cli_puts(p, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    ssize_t n;
    while ((n = cli_fill(p)) > 0) /* an alert may come first */
        cli_take(p, p->len);
    assert_true(n == 0 || n == -ECONNRESET);
    cli_close(p);
    corio_http_server_stats_t st;
    corio_http_server_stats(e->srv, &st);
    assert_int_equal(st.tls_failed, 1);

    r = cli_request(c, "GET /third HTTP/1.1\r\nHost: localhost\r\n\r\n");
    expect_body(r, "tls");
    free(r);
    struct cli *c2 = tls_open(e, cctx);
    r = cli_request(c2, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    expect_body(r, "tls");
    free(r);
    cli_close(c2);
    cli_close(c);
    corio_tls_ctx_free(cctx);
}

static void test_tls_requests_are_marked_and_a_plain_client_is_counted_and_closed(void **state)
{
    (void)state;
    if (certs == NULL)
        skip();
    struct env *e = env_new(tls_handler, tls_client);
    e->tls = tls_ctx(true);
    env_run(e);
    assert_int_equal(e->calls, 4);
    assert_int_equal(e->stats.tls_failed, 1);
    assert_int_equal(e->stats.connections, 3);
    corio_tls_ctx_free(e->tls);
    free(e);
}

static void tls_max_conns_client(struct env *e)
{
    corio_tls_ctx_t *cctx = tls_ctx(false);
    struct cli *c = tls_open(e, cctx);
    struct resp *r = cli_request(c, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    expect_body(r, "tls");
    free(r);
    struct cli *over = cli_open(e->port); /* closed at once: no handshake, no 503 */
    assert_true(cli_read_to_eof(over) == 0);
    cli_close(over);
    r = cli_request(c, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    expect_body(r, "tls");
    free(r);
    cli_close(c);
    corio_tls_ctx_free(cctx);
}

static void test_over_max_conns_a_tls_listener_closes_without_a_handshake(void **state)
{
    (void)state;
    if (certs == NULL)
        skip();
    struct env *e = env_new(tls_handler, tls_max_conns_client);
    e->tls = tls_ctx(true);
    e->cfg.max_conns = 1;
    env_run(e);
    assert_int_equal(e->stats.refused, 1);
    assert_int_equal(e->stats.tls_failed, 0);
    assert_int_equal(e->stats.connections, 1);
    corio_tls_ctx_free(e->tls);
    free(e);
}

int main(void)
{
    certs = getenv("CORIO_TEST_CERTS");
    if (certs != NULL && access(certs, R_OK) != 0)
        certs = NULL;
    support_require_uring();
    support_watchdog(60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_refuses_a_missing_config_or_handler),
        cmocka_unit_test(test_serve_outside_a_task_is_eperm_and_closes_the_listener),
        cmocka_unit_test(test_serve_checks_its_arguments_and_returns_at_once_after_a_stop),
        cmocka_unit_test(test_a_handler_sees_the_method_a_normalised_path_the_query_and_fields),
        cmocka_unit_test(test_a_content_length_body_read_in_small_pieces_is_what_was_sent),
        cmocka_unit_test(test_a_chunked_body_with_extensions_and_trailers_reads_back_exactly),
        cmocka_unit_test(
            test_a_chunked_body_over_max_body_fails_the_read_and_closes_after_the_answer),
        cmocka_unit_test(test_a_content_length_over_max_body_is_413_without_the_handler),
        cmocka_unit_test(test_a_body_cut_by_the_peer_is_etruncated),
        cmocka_unit_test(test_bad_chunked_framing_is_echunk_and_closes_after_the_answer),
        cmocka_unit_test(test_100_continue_is_sent_only_when_the_handler_reads),
        cmocka_unit_test(test_an_unread_body_is_drained_and_the_next_pipelined_request_answered),
        cmocka_unit_test(test_response_fields_and_calls_out_of_order_are_refused),
        cmocka_unit_test(test_a_write_past_the_length_or_an_end_short_of_it_closes_after_the_bytes),
        cmocka_unit_test(test_an_unknown_length_is_chunked_for_1_1_and_close_delimited_for_1_0),
        cmocka_unit_test(test_head_gets_the_head_of_get_and_204_and_304_have_no_body),
        cmocka_unit_test(test_a_handler_that_does_not_answer_gets_500_and_one_that_fails_a_close),
        cmocka_unit_test(test_http_1_0_keep_alive_is_answered_with_keep_alive),
        cmocka_unit_test(test_a_response_begun_and_not_ended_is_ended_for_the_handler),
        cmocka_unit_test(test_after_a_send_error_every_call_returns_it),
        cmocka_unit_test(test_the_server_field_follows_server_name),
        cmocka_unit_test(test_idle_header_and_body_timeouts_close_the_connection),
        cmocka_unit_test(test_refusals_are_answered_without_the_handler),
        cmocka_unit_test(test_a_connection_over_max_conns_gets_503_and_is_closed),
        cmocka_unit_test(test_a_stop_drains_requests_in_flight_and_closes_idle_connections),
        cmocka_unit_test(test_a_handler_stuck_past_grace_ns_is_cancelled),
        cmocka_unit_test(test_stop_now_or_a_second_stop_cancels_at_once),
        cmocka_unit_test(test_two_serve_calls_on_one_loop_both_return_after_one_stop),
        cmocka_unit_test(test_a_cancelled_serve_task_waits_for_its_connections),
        cmocka_unit_test(test_stats_count_connections_and_requests),
        cmocka_unit_test(test_tls_requests_are_marked_and_a_plain_client_is_counted_and_closed),
        cmocka_unit_test(test_over_max_conns_a_tls_listener_closes_without_a_handshake),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
