/* Tests of corio-httpd's request parser and path normaliser (examples/http_request.c):
 * complete, incomplete and pipelined heads, versions, line ends, limits (414, 431),
 * malformed request lines and fields (400), framing (Content-Length, Transfer-Encoding),
 * connection persistence, header-name case, and percent-decoding with traversal
 * detection. Every head is also fed byte by byte, to check that each prefix of a good
 * head is "incomplete" and that errors show as soon as their bytes have arrived. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_request.h"

static int parse(const char *s, struct http_request *req)
{
    return http_parse_request(s, strlen(s), 0, req);
}

/* Parses s whole, and checks that every proper prefix of a complete head is incomplete. */
static int parse_all_prefixes(const char *s, struct http_request *req)
{
    size_t len = strlen(s);
    int r = http_parse_request(s, len, 0, req);
    if (r > 0)
        for (size_t n = 0; n < (size_t)r; n++) {
            struct http_request part = {0};
            int rp = http_parse_request(s, n, 0, &part);
            if (rp != 0)
                fail_msg("prefix of %zu bytes of a %d-byte head gave %d, not 0", n, r, rp);
        }
    return r;
}

static void assert_str(const char *got, size_t len, const char *want)
{
    if (want == NULL) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    if (len != strlen(want) || memcmp(got, want, len) != 0)
        fail_msg("got \"%.*s\", want \"%s\"", (int)len, got, want);
}

/* ---- complete heads ----------------------------------------------------------------- */

static void simple_get(void **state)
{
    (void)state;
    const char *s = "GET /index.html?x=1&y=2 HTTP/1.1\r\nHost: example.com\r\n"
                    "User-Agent: test\r\n\r\n";
    struct http_header h[8];
    struct http_request req = {.headers = h, .max_headers = 8};
    assert_int_equal(parse_all_prefixes(s, &req), (int)strlen(s));
    assert_int_equal(req.method, HTTP_METHOD_GET);
    assert_str(req.method_name, req.method_len, "GET");
    assert_str(req.target, req.target_len, "/index.html?x=1&y=2");
    assert_str(req.path, req.path_len, "/index.html");
    assert_str(req.query, req.query_len, "x=1&y=2");
    assert_int_equal(req.version_minor, 1);
    assert_true(req.keep_alive);
    assert_false(req.has_content_length);
    assert_false(req.chunked);
    assert_int_equal(req.num_headers, 2);
    assert_str(h[0].name, h[0].name_len, "Host");
    assert_str(h[0].value, h[0].value_len, "example.com");
    assert_str(h[1].name, h[1].name_len, "User-Agent");
    assert_str(h[1].value, h[1].value_len, "test");
    assert_str(req.host, req.host_len, "example.com");
}

static void head_and_methods(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        enum http_method m;
    } cases[] = {
        {"HEAD", HTTP_METHOD_HEAD},      {"POST", HTTP_METHOD_POST},   {"PUT", HTTP_METHOD_PUT},
        {"DELETE", HTTP_METHOD_DELETE},  {"TRACE", HTTP_METHOD_TRACE}, {"PATCH", HTTP_METHOD_PATCH},
        {"BREW", HTTP_METHOD_OTHER},     {"get", HTTP_METHOD_OTHER}, /* case-sensitive */
        {"M-SEARCH", HTTP_METHOD_OTHER},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char s[128];
        snprintf(s, sizeof s, "%s / HTTP/1.1\r\nHost: h\r\n\r\n", cases[i].name);
        struct http_request req = {0};
        assert_int_equal(parse(s, &req), (int)strlen(s));
        assert_int_equal(req.method, cases[i].m);
        assert_str(req.method_name, req.method_len, cases[i].name);
    }
}

/* Headers split across reads: incomplete at every cut, complete once all has arrived. */
static void split_across_reads(void **state)
{
    (void)state;
    char buf[256] = "GET /a HTTP/1.1\r\nHo";
    struct http_request req = {0};
    assert_int_equal(http_parse_request(buf, strlen(buf), 0, &req), 0);
    strcat(buf, "st: x\r\nAccept: */*\r");
    assert_int_equal(http_parse_request(buf, strlen(buf), 0, &req), 0);
    strcat(buf, "\n\r");
    assert_int_equal(http_parse_request(buf, strlen(buf), 0, &req), 0);
    strcat(buf, "\n");
    assert_int_equal(http_parse_request(buf, strlen(buf), 0, &req), (int)strlen(buf));
    assert_str(req.path, req.path_len, "/a");
}

static void pipelined(void **state)
{
    (void)state;
    const char *s = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
                    "HEAD /2 HTTP/1.1\r\nHost: h\r\n\r\n"
                    "GET /3 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
                    "GET /4 HT";
    const char *want[] = {"/1", "/2", "/3"};
    size_t off = 0, len = strlen(s);
    for (int i = 0; i < 3; i++) {
        struct http_request req = {0};
        int r = http_parse_request(s + off, len - off, 0, &req);
        assert_true(r > 0);
        assert_str(req.path, req.path_len, want[i]);
        assert_int_equal(req.keep_alive, i < 2);
        off += (size_t)r;
    }
    struct http_request req = {0};
    assert_int_equal(http_parse_request(s + off, len - off, 0, &req), 0); /* "GET /4 HT" */
}

static void http10(void **state)
{
    (void)state;
    struct http_request req = {0};
    const char *s = "GET / HTTP/1.0\r\n\r\n"; /* no Host needed */
    assert_int_equal(parse_all_prefixes(s, &req), (int)strlen(s));
    assert_int_equal(req.version_minor, 0);
    assert_false(req.keep_alive); /* 1.0 closes by default */
    assert_null(req.host);
    s = "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";
    assert_int_equal(parse(s, &req), (int)strlen(s));
    assert_true(req.keep_alive);
    s = "GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, close\r\n\r\n";
    assert_int_equal(parse(s, &req), (int)strlen(s));
    assert_false(req.keep_alive);
    s = "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\n\r\n";
    assert_int_equal(parse(s, &req), (int)strlen(s));
    assert_true(req.keep_alive);
    /* A newer minor version is read as 1.1 (RFC 9110 2.5). */
    s = "GET / HTTP/1.7\r\nHost: h\r\n\r\n";
    assert_int_equal(parse(s, &req), (int)strlen(s));
    assert_int_equal(req.version_minor, 1);
}

static void bad_versions(void **state)
{
    (void)state;
    struct http_request req = {0};
    /* Well-formed but not HTTP/1: 505. */
    assert_int_equal(parse("GET / HTTP/2.0\r\n\r\n", &req), -505);
    assert_int_equal(parse("GET / HTTP/0.9\r\n\r\n", &req), -505);
    assert_int_equal(parse("GET / HTTP/3.0\r\nHost: h\r\n\r\n", &req), -505);
    /* Malformed: 400. */
    const char *bad[] = {
        "GET / HTTP/1\r\n\r\n",    "GET / HTTP/1.1x\r\n\r\n",
        "GET / HTTP/11.0\r\n\r\n", "GET / http/1.1\r\n\r\n",
        "GET / HTTX/1.1\r\n\r\n",  "GET / HTTP/1.1 \r\n\r\n",
        "GET /\r\n\r\n",           /* HTTP/0.9 simple request */ "GET / HTTP/a.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (parse(bad[i], &req) != -400)
            fail_msg("\"%s\" gave %d, not -400", bad[i], parse(bad[i], &req));
}

static void bad_request_lines(void **state)
{
    (void)state;
    struct http_request req = {0};
    const char *bad[] = {
        "GET  / HTTP/1.1\r\nHost: h\r\n\r\n",   /* two spaces */
        "GET /  HTTP/1.1\r\nHost: h\r\n\r\n",   /* two spaces */
        " GET / HTTP/1.1\r\nHost: h\r\n\r\n",   /* leading space */
        "GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n",   /* tab */
        "G(T / HTTP/1.1\r\nHost: h\r\n\r\n",    /* not a token */
        "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", /* space in target */
        "GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", /* raw UTF-8 in target */
        "GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET a HTTP/1.1\r\nHost: h\r\n\r\n", /* not origin-form */
        "GET * HTTP/1.1\r\nHost: h\r\n\r\n", /* asterisk-form only for OPTIONS */
        "GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n",    /* no authority */
        "GET / HTTP/1.1\rX\n\r\n",                      /* bare CR */
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", /* a TLS ClientHello */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int r = parse(bad[i], &req);
        if (r != -400)
            fail_msg("case %zu gave %d, not -400", i, r);
    }
    /* Errors show as soon as the offending byte is there, before the head is complete. */
    assert_int_equal(parse("GET  ", &req), -400);
    assert_int_equal(parse("\x16\x03", &req), -400);
    assert_int_equal(parse("GET / HTTP/1.1\r\nBad Name: x\r\n", &req), -400);
}

static void target_forms(void **state)
{
    (void)state;
    struct http_request req = {0};
    const char *s = "GET http://example.com:8080/p/q?r HTTP/1.1\r\nHost: example.com\r\n\r\n";
    assert_int_equal(parse(s, &req), (int)strlen(s));
    assert_str(req.path, req.path_len, "/p/q");
    assert_str(req.query, req.query_len, "r");
    s = "GET HTTPS://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n";
    assert_int_equal(parse(s, &req), (int)strlen(s));
    assert_str(req.path, req.path_len, "/");
    assert_null(req.query);
    s = "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n";
    assert_int_equal(parse(s, &req), (int)strlen(s));
    assert_int_equal(req.method, HTTP_METHOD_OPTIONS);
    assert_str(req.path, req.path_len, "*");
    s = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n";
    assert_int_equal(parse(s, &req), (int)strlen(s));
    assert_int_equal(req.method, HTTP_METHOD_CONNECT);
    assert_int_equal(req.path_len, 0);
    s = "GET /a?b?c HTTP/1.1\r\nHost: h\r\n\r\n";
    assert_int_equal(parse(s, &req), (int)strlen(s));
    assert_str(req.path, req.path_len, "/a");
    assert_str(req.query, req.query_len, "b?c");
}

/* ---- fields ------------------------------------------------------------------------- */

static void header_case_and_whitespace(void **state)
{
    (void)state;
    struct http_header h[8];
    struct http_request req = {.headers = h, .max_headers = 8};
    const char *s = "GET / HTTP/1.1\r\nhOsT:\t  x.org \t\r\ncontent-LENGTH: 0\r\n"
                    "CONNECTION: CLOSE\r\nX-Empty:\r\nX-Utf8: caf\xc3\xa9\r\n\r\n";
    assert_int_equal(parse_all_prefixes(s, &req), (int)strlen(s));
    assert_str(req.host, req.host_len, "x.org");
    assert_true(req.has_content_length);
    assert_int_equal(req.content_length, 0);
    assert_false(req.keep_alive);
    assert_int_equal(req.num_headers, 5);
    assert_str(h[3].name, h[3].name_len, "X-Empty");
    assert_int_equal(h[3].value_len, 0);
    assert_str(h[4].value, h[4].value_len, "caf\xc3\xa9"); /* obs-text passes */
}

static void bad_fields(void **state)
{
    (void)state;
    struct http_request req = {0};
    const char *bad[] = {
        "GET / HTTP/1.1\r\nHost : h\r\n\r\n",           /* space before colon */
        "GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", /* obs-fold */
        "GET / HTTP/1.1\r\n Host: h\r\n\r\n",
        "GET / HTTP/1.1\r\n: h\r\n\r\n",          /* empty name */
        "GET / HTTP/1.1\r\nHost h\r\n\r\n",       /* no colon */
        "GET / HTTP/1.1\r\nHost: h\x01x\r\n\r\n", /* control character */
        "GET / HTTP/1.1\r\nHost: h\x7f\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n",      /* bare CR */
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", /* two Hosts */
        "GET / HTTP/1.1\r\n\r\n",                       /* no Host in 1.1 */
        "GET / HTTP/1.1\r\nX: y\r\n\r",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0] - 1; i++) {
        int r = parse(bad[i], &req);
        if (r != -400)
            fail_msg("case %zu gave %d, not -400", i, r);
    }
    /* An incomplete head with a CR as its last byte is only incomplete. */
    assert_int_equal(parse(bad[sizeof bad / sizeof bad[0] - 1], &req), 0);
}

/* LF-only line ends are accepted (RFC 9112 2.2 allows it; nginx does too), and mixed. */
static void lf_only(void **state)
{
    (void)state;
    struct http_request req = {0};
    const char *s = "GET /lf HTTP/1.1\nHost: h\nX: 1\r\n\n";
    assert_int_equal(parse_all_prefixes(s, &req), (int)strlen(s));
    assert_str(req.path, req.path_len, "/lf");
    assert_int_equal(req.num_headers, 2);
    /* Leading empty lines are skipped. */
    s = "\r\n\nGET / HTTP/1.0\n\n";
    assert_int_equal(parse_all_prefixes(s, &req), (int)strlen(s));
}

static void content_length(void **state)
{
    (void)state;
    struct http_request req = {0};
    const char *s = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0042\r\n\r\nbody";
    assert_int_equal(parse(s, &req), (int)strlen(s) - 4); /* the body is not the head's */
    assert_true(req.has_content_length);
    assert_int_equal(req.content_length, 42);
    s = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n";
    assert_int_equal(parse(s, &req), (int)strlen(s));
    assert_true(req.content_length == UINT64_MAX); /* saturates: the caller says 413 */
    s = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551615\r\n\r\n";
    assert_int_equal(parse(s, &req), (int)strlen(s));
    assert_true(req.content_length == UINT64_MAX);
    s = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551614\r\n\r\n";
    assert_int_equal(parse(s, &req), (int)strlen(s));
    assert_true(req.content_length == UINT64_MAX - 1);
    const char *bad[] = {
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int r = parse(bad[i], &req);
        if (r != -400)
            fail_msg("case %zu gave %d, not -400", i, r);
    }
}

static void transfer_encoding(void **state)
{
    (void)state;
    struct http_request req = {0};
    const char *s = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n";
    assert_int_equal(parse(s, &req), (int)strlen(s));
    assert_true(req.chunked);
    s = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n"
        "Transfer-Encoding: chunked\r\n\r\n";
    assert_int_equal(parse(s, &req), (int)strlen(s));
    assert_true(req.chunked);
    const char *bad[] = {
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
        "Transfer-Encoding: gzip\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int r = parse(bad[i], &req);
        if (r != -400)
            fail_msg("case %zu gave %d, not -400", i, r);
    }
    s = "PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n";
    assert_int_equal(parse(s, &req), (int)strlen(s));
    assert_true(req.expect_continue);
}

/* ---- limits ------------------------------------------------------------------------- */

static char *repeat(const char *head, char c, size_t n, const char *tail)
{
    size_t hl = strlen(head), tl = strlen(tail);
    char *s = malloc(hl + n + tl + 1);
    assert_non_null(s);
    memcpy(s, head, hl);
    memset(s + hl, c, n);
    memcpy(s + hl + n, tail, tl + 1);
    return s;
}

static void too_long(void **state)
{
    (void)state;
    struct http_request req = {0};
    /* A head of exactly max_head bytes is fine; one byte more is 431. */
    const char *pre = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
    size_t fill = HTTP_MAX_HEAD - strlen(pre) - 4;
    char *s = repeat(pre, 'a', fill, "\r\n\r\n");
    assert_int_equal(strlen(s), HTTP_MAX_HEAD);
    assert_int_equal(parse(s, &req), HTTP_MAX_HEAD);
    free(s);
    s = repeat(pre, 'a', fill + 1, "\r\n\r\n");
    assert_int_equal(parse(s, &req), -431);
    /* Known as soon as max_head bytes without the end have arrived. */
    assert_int_equal(http_parse_request(s, HTTP_MAX_HEAD, 0, &req), -431);
    assert_int_equal(http_parse_request(s, HTTP_MAX_HEAD - 1, 0, &req), 0);
    free(s);
    /* A custom limit. */
    s = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    assert_int_equal(http_parse_request(s, strlen(s), strlen(s), &req), (int)strlen(s));
    assert_int_equal(http_parse_request(s, strlen(s), strlen(s) - 1, &req), -431);
    /* A request line that does not fit: 414. */
    s = repeat("GET /", 'a', HTTP_MAX_HEAD, " HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_int_equal(parse(s, &req), -414);
    free(s);
    /* Too many fields: 431, whether stored or not. */
    char many[4096] = "GET / HTTP/1.1\r\nHost: h\r\n";
    for (int i = 1; i < HTTP_MAX_HEADERS; i++)
        strcat(many, "X: y\r\n");
    strcat(many, "\r\n");
    assert_int_equal(parse(many, &req), (int)strlen(many)); /* exactly the maximum */
    many[strlen(many) - 2] = '\0';
    strcat(many, "X: y\r\n\r\n");
    assert_int_equal(parse(many, &req), -431);
    struct http_header h[4];
    struct http_request small = {.headers = h, .max_headers = 4};
    s = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    assert_int_equal(parse(s, &small), (int)strlen(s));
    assert_int_equal(
        parse("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", &small), -431);
}

static void empty_input(void **state)
{
    (void)state;
    struct http_request req = {0};
    assert_int_equal(http_parse_request("", 0, 0, &req), 0);
    assert_int_equal(http_parse_request("\r\n", 2, 0, &req), 0);
    assert_int_equal(http_parse_request("\r", 1, 0, &req), 0);
}

/* ---- paths -------------------------------------------------------------------------- */

static void path_decoding(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int status; /* 0: ok */
        const char *out;
    } cases[] = {
        {"/", 0, ""},
        {"/index.html", 0, "index.html"},
        {"/a/b/c.txt", 0, "a/b/c.txt"},
        {"/dir/", 0, "dir/"},
        {"//a///b", 0, "a/b"},
        {"/./a/./b/.", 0, "a/b/"},
        {"/a/../b", 0, "b"},
        {"/a/b/..", 0, "a/"},
        {"/a/b/../../c", 0, "c"},
        {"/hello%20world.txt", 0, "hello world.txt"},
        {"/%41%62%63", 0, "Abc"},
        {"/caf%C3%A9", 0, "caf\xc3\xa9"},
        {"/a%2Fb", 0, "a/b"}, /* an encoded slash separates too */
        {"/a+b", 0, "a+b"},
        {"/...", 0, "..."}, /* not a dot segment */
        {"/..a/b..", 0, "..a/b.."},
        {"/..", -403, NULL},
        {"/../etc/passwd", -403, NULL},
        {"/a/../../etc/passwd", -403, NULL},
        {"/%2e%2e/etc/passwd", -403, NULL},
        {"/%2E%2E%2Fetc%2Fpasswd", -403, NULL},
        {"/.%2e/x", -403, NULL},
        {"/a/%2e%2e%2f%2e%2e/x", -403, NULL},
        {"/%", -400, NULL},
        {"/%4", -400, NULL},
        {"/%zz", -400, NULL},
        {"/a%00b", -400, NULL},
        {"a", -400, NULL},
        {"", -400, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[64];
        int r = http_path_normalize(cases[i].in, strlen(cases[i].in), out, sizeof out);
        if (cases[i].status != 0) {
            if (r != cases[i].status)
                fail_msg("\"%s\" gave %d, not %d", cases[i].in, r, cases[i].status);
            continue;
        }
        if (r < 0)
            fail_msg("\"%s\" gave %d", cases[i].in, r);
        if ((size_t)r != strlen(cases[i].out) || strcmp(out, cases[i].out) != 0)
            fail_msg("\"%s\" gave \"%s\", not \"%s\"", cases[i].in, out, cases[i].out);
    }
}

static void path_limits(void **state)
{
    (void)state;
    char out[8];
    assert_int_equal(http_path_normalize("/abcdefg", 8, out, sizeof out), 7); /* 7 + NUL */
    assert_string_equal(out, "abcdefg");
    assert_int_equal(http_path_normalize("/abcdefgh", 9, out, sizeof out), -414);
    assert_int_equal(http_path_normalize("/abc/efg", 8, out, sizeof out), 7);
    assert_int_equal(http_path_normalize("/abcdefg/", 9, out, sizeof out), -414);
    assert_int_equal(http_path_normalize("/x", 2, out, 0), -414);
    /* The bound holds for every step: a long segment later removed by ".." is too long. */
    assert_int_equal(http_path_normalize("/aaaaaaaaaaaa/../b", 18, out, sizeof out), -414);
    assert_int_equal(http_path_normalize("/aaaa/../b", 10, out, sizeof out), 1);
    assert_string_equal(out, "b");
}

static void reasons(void **state)
{
    (void)state;
    assert_string_equal(http_reason(200), "OK");
    assert_string_equal(http_reason(404), "Not Found");
    assert_string_equal(http_reason(431), "Request Header Fields Too Large");
    assert_string_equal(http_reason(999), "Unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(simple_get),
        cmocka_unit_test(head_and_methods),
        cmocka_unit_test(split_across_reads),
        cmocka_unit_test(pipelined),
        cmocka_unit_test(http10),
        cmocka_unit_test(bad_versions),
        cmocka_unit_test(bad_request_lines),
        cmocka_unit_test(target_forms),
        cmocka_unit_test(header_case_and_whitespace),
        cmocka_unit_test(bad_fields),
        cmocka_unit_test(lf_only),
        cmocka_unit_test(content_length),
        cmocka_unit_test(transfer_encoding),
        cmocka_unit_test(too_long),
        cmocka_unit_test(empty_input),
        cmocka_unit_test(path_decoding),
        cmocka_unit_test(path_limits),
        cmocka_unit_test(reasons),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
