/* Tests of engine/http/response.c, libcorio-http's HTTP/1.1 response parser: status lines,
 * header fields split anywhere, Content-Length (duplicates, conflicts), chunked bodies with
 * extensions and trailers cut at every byte boundary, bodies read to the end of the
 * connection, the responses without a body (1xx, 204, 304, HEAD), limits, and errors that
 * stay errors. Every well-formed case is parsed whole, cut in two at every offset, and one
 * byte at a time, and must give the same result each way. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <corio/http.h>

struct outcome {
    int rc;     /* CORIO_HTTP_DONE, CORIO_HTTP_NEED_MORE (ran out of input) or an error */
    int status; /* from CORIO_HTTP_HEAD; 0 if it never came */
    int heads;  /* CORIO_HTTP_HEAD events */
    bool keep_alive;
    corio_http_framing_t body_kind;
    size_t used; /* bytes consumed in all */
    size_t body_len;
    char body[8192];
};

/* Feeds s[0..n) to a fresh parser cut at cuts[0..ncuts) (ascending offsets), then the
 * end of the stream if eof. Checks the contract on the way: *used within the piece, body
 * views inside the piece just given, CORIO_HTTP_NEED_MORE only with the piece used up. */
static struct outcome parse_cut(const char *s, size_t n, bool head, const size_t *cuts,
                                size_t ncuts, bool eof)
{
    static struct outcome o;
    memset(&o, 0, sizeof o);
    corio_http_resp_parser_t r;
    corio_http_resp_parser_init(&r, head);
    size_t start = 0;
    for (size_t k = 0; k <= ncuts; k++) {
        size_t end = k < ncuts ? cuts[k] : n;
        /* A copy of just this piece, so that ASan sees any read outside it. */
        char *piece = malloc(end - start + 1);
        assert_non_null(piece);
        memcpy(piece, s + start, end - start);
        const char *p = piece;
        size_t len = end - start;
        for (;;) {
            size_t used = 999999;
            const char *b = NULL;
            size_t bl = 0;
            int rc = corio_http_resp_parser_feed(&r, p, len, &used, &b, &bl);
            assert_true(used <= len);
            p += used;
            len -= used;
            o.used += used;
            if (rc == CORIO_HTTP_BODY) {
                assert_true(bl > 0);
                assert_true(b >= piece && b + bl <= piece + (end - start));
                assert_true(o.body_len + bl <= sizeof o.body);
                memcpy(o.body + o.body_len, b, bl);
                o.body_len += bl;
                continue;
            }
            if (rc == CORIO_HTTP_HEAD) {
                assert_true(corio_http_resp_parser_head_done(&r));
                o.heads++;
                o.status = r.status;
                continue;
            }
            if (rc == CORIO_HTTP_NEED_MORE) {
                assert_int_equal(len, 0);
                break;
            }
            o.rc = rc;
            o.keep_alive = r.keep_alive;
            o.body_kind = r.framing;
            assert_int_equal(r.body_bytes, o.body_len);
            free(piece);
            return o;
        }
        free(piece);
        start = end;
    }
    o.rc = eof ? corio_http_resp_parser_eof(&r) : CORIO_HTTP_NEED_MORE;
    o.keep_alive = r.keep_alive;
    o.body_kind = r.framing;
    return o;
}

static struct outcome parse_whole(const char *s, bool head, bool eof)
{
    return parse_cut(s, strlen(s), head, NULL, 0, eof);
}

static void same(const struct outcome *a, const struct outcome *b, const char *how, size_t at)
{
    if (a->rc != b->rc || a->status != b->status || a->heads != b->heads ||
        a->keep_alive != b->keep_alive || a->used != b->used || a->body_len != b->body_len ||
        memcmp(a->body, b->body, a->body_len) != 0)
        fail_msg("%s at %zu: rc %d/%d status %d/%d used %zu/%zu body %zu/%zu", how, at, a->rc,
                 b->rc, a->status, b->status, a->used, b->used, a->body_len, b->body_len);
}

/* Parses s whole, cut in two at every offset, cut in three at every pair of offsets when
 * short, and one byte at a time: every way must agree. Returns the whole-buffer outcome. */
static struct outcome parse_every_way(const char *s, bool head, bool eof)
{
    size_t n = strlen(s);
    struct outcome whole = parse_whole(s, head, eof);
    for (size_t i = 0; i <= n; i++) {
        struct outcome o = parse_cut(s, n, head, &i, 1, eof);
        same(&whole, &o, "cut", i);
    }
    if (n <= 160)
        for (size_t i = 0; i <= n; i++)
            for (size_t j = i; j <= n; j++) {
                size_t cuts[2] = {i, j};
                struct outcome o = parse_cut(s, n, head, cuts, 2, eof);
                same(&whole, &o, "cut pair", i * 1000 + j);
            }
    size_t *all = malloc(n * sizeof *all);
    assert_non_null(all);
    for (size_t i = 0; i < n; i++)
        all[i] = i + 1;
    struct outcome o = parse_cut(s, n, head, all, n, eof);
    free(all);
    same(&whole, &o, "byte by byte", 0);
    return whole;
}

static void expect_body(const struct outcome *o, const char *body)
{
    assert_int_equal(o->body_len, strlen(body));
    assert_memory_equal(o->body, body, o->body_len);
}

/* ---- status line ----------------------------------------------------------------------- */

static void test_status_line(void **state)
{
    (void)state;
    struct outcome o =
        parse_every_way("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, false);
    assert_int_equal(o.rc, CORIO_HTTP_DONE);
    assert_int_equal(o.status, 200);
    assert_int_equal(o.heads, 1);
    assert_true(o.keep_alive);
    assert_int_equal(o.body_kind, CORIO_HTTP_FRAMING_LENGTH);
    expect_body(&o, "hello");

    /* No reason phrase; a reason with odd bytes; bare LF line ends; empty lines first. */
    o = parse_every_way("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", false, false);
    assert_int_equal(o.rc, CORIO_HTTP_DONE);
    assert_int_equal(o.status, 404);
    o = parse_every_way("HTTP/1.1 503 Service \x01 Unavailable \xff\r\ncontent-length: 1\r\n\r\nx",
                        false, false);
    assert_int_equal(o.status, 503);
    expect_body(&o, "x");
    o = parse_every_way("\r\n\r\nHTTP/1.1 201 Created\nContent-Length: 2\n\nok", false, false);
    assert_int_equal(o.rc, CORIO_HTTP_DONE);
    assert_int_equal(o.status, 201);
    expect_body(&o, "ok");

    /* HTTP/1.0 closes unless asked to keep alive. */
    o = parse_every_way("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\na", false, false);
    assert_false(o.keep_alive);
    o = parse_every_way("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\na",
                        false, false);
    assert_true(o.keep_alive);

    static const char *const bad[] = {
        "HTTP/2 200 OK\r\n\r\n",   "HTTP/1.1 20 OK\r\n\r\n",  "HTTP/1.1 2000 OK\r\n\r\n",
        "http/1.1 200 OK\r\n\r\n", "HTTP/1.1 099 X\r\n\r\n",  "HTTP/1.1  200 OK\r\n\r\n",
        "GARBAGE\r\n\r\n",         "HTTP/1.x 200 OK\r\n\r\n", "HTTP/1.1 2a0 OK\r\n\r\n",
        "SSH-2.0-OpenSSH_9.2\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o = parse_every_way(bad[i], false, true);
        if (o.rc != CORIO_HTTP_EMALFORMED)
            fail_msg("'%s' gave %d", bad[i], o.rc);
    }
    /* Binary noise is refused within the first 13 bytes, without waiting for a line end. */
    o = parse_whole("\x16\x03\x01\x02\x05\x01\x07\x01\xfc\x03\x03\x01\x02\x03\x04", false, false);
    assert_int_equal(o.rc, CORIO_HTTP_EMALFORMED);
}

/* ---- header fields ---------------------------------------------------------------------- */

static void test_headers_split_anywhere(void **state)
{
    (void)state;
    const char *resp =
        "HTTP/1.1 301 Moved Permanently\r\n"
        "Server: test\r\n"
        "X-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
        "LOCATION:   http://example.com/new?x=1  \r\n"
        "content-LENGTH: 3\r\n"
        "X-Empty:\r\n"
        "X-Folded: one\r\n"
        "  two\r\n"
        "Connection:\r\n"
        " keep-alive\r\n"
        "\r\n"
        "abcNEXT";
    struct outcome o = parse_every_way(resp, false, false);
    assert_int_equal(o.rc, CORIO_HTTP_DONE);
    assert_int_equal(o.status, 301);
    expect_body(&o, "abc");
    assert_int_equal(o.used, strlen(resp) - 4); /* "NEXT" is not this response's */
    assert_true(o.keep_alive);

    corio_http_resp_parser_t r;
    corio_http_resp_parser_init(&r, false);
    size_t used;
    const char *b;
    size_t bl;
    assert_int_equal(corio_http_resp_parser_feed(&r, resp, strlen(resp), &used, &b, &bl),
                     CORIO_HTTP_HEAD);
    assert_string_equal(r.location, "http://example.com/new?x=1");
    assert_int_equal(r.location_len, strlen("http://example.com/new?x=1"));
    assert_int_equal(r.content_length, 3);

    /* A folded Connection: close is seen. */
    o = parse_every_way("HTTP/1.1 200 OK\r\nConnection: keep-alive,\r\n\tclose\r\n"
                        "Content-Length: 0\r\n\r\n",
                        false, false);
    assert_int_equal(o.rc, CORIO_HTTP_DONE);
    assert_false(o.keep_alive);
}

static void test_bad_headers(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\n: novalue\r\n\r\n",
        "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
        "HTTP/1.1 200 OK\r\n folded-first: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nName : x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nLocation: a\x01"
        "b\r\n\r\n",
        "HTTP/1.1 200 OK\r\nConnection: y\r\rZ: w\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX: y\r\n\rx",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct outcome o = parse_every_way(bad[i], false, true);
        if (o.rc != CORIO_HTTP_EMALFORMED)
            fail_msg("case %zu gave %d", i, o.rc);
    }
    /* Errors stick. */
    corio_http_resp_parser_t r;
    corio_http_resp_parser_init(&r, false);
    size_t used;
    const char *b;
    size_t bl;
    const char *s = bad[0];
    assert_int_equal(corio_http_resp_parser_feed(&r, s, strlen(s), &used, &b, &bl),
                     CORIO_HTTP_EMALFORMED);
    assert_int_equal(corio_http_resp_parser_feed(&r, "HTTP/1.1 200 OK\r\n", 17, &used, &b, &bl),
                     CORIO_HTTP_EMALFORMED);
    assert_int_equal(used, 0);
    assert_int_equal(corio_http_resp_parser_eof(&r), CORIO_HTTP_EMALFORMED);
    assert_string_equal(corio_strerror(CORIO_HTTP_EMALFORMED), "Malformed HTTP message");
}

static void test_head_too_big(void **state)
{
    (void)state;
    size_t n = CORIO_HTTP_MAX_RESPONSE_HEAD + 4096;
    char *s = malloc(n + 64);
    assert_non_null(s);
    strcpy(s, "HTTP/1.1 200 OK\r\n");
    size_t at = strlen(s);
    while (at < n) {
        memcpy(s + at, "X-Filler: 0123456789012345678901234567890123456789\r\n", 52);
        at += 52;
    }
    strcpy(s + at, "\r\n");
    struct outcome o = parse_whole(s, false, false);
    assert_int_equal(o.rc, CORIO_HTTP_EHEAD_TOO_BIG);
    /* One endless line, never a line end: refused at the limit all the same. */
    memset(s + 17, 'a', n - 17);
    s[20] = ':';
    s[n] = '\0';
    o = parse_whole(s, false, false);
    assert_int_equal(o.rc, CORIO_HTTP_EHEAD_TOO_BIG);
    free(s);

    /* A Location too long to keep is flagged, not an error. */
    char *loc = malloc(CORIO_HTTP_MAX_LOCATION + 200);
    assert_non_null(loc);
    int len = snprintf(loc, 64, "HTTP/1.1 302 Found\r\nLocation: /");
    memset(loc + len, 'b', CORIO_HTTP_MAX_LOCATION + 10);
    strcpy(loc + len + CORIO_HTTP_MAX_LOCATION + 10, "\r\nContent-Length: 0\r\n\r\n");
    corio_http_resp_parser_t r;
    corio_http_resp_parser_init(&r, false);
    size_t used;
    const char *b;
    size_t bl;
    assert_int_equal(corio_http_resp_parser_feed(&r, loc, strlen(loc), &used, &b, &bl),
                     CORIO_HTTP_HEAD);
    assert_true(r.location_too_long);
    free(loc);
}

/* ---- Content-Length --------------------------------------------------------------------- */

static void test_content_length(void **state)
{
    (void)state;
    struct outcome o =
        parse_every_way("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n"
                        "12345HTTP/1.1",
                        false, false);
    assert_int_equal(o.rc, CORIO_HTTP_DONE);
    expect_body(&o, "12345");

    o = parse_every_way("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, false);
    assert_int_equal(o.rc, CORIO_HTTP_DONE);
    assert_int_equal(o.body_len, 0);

    /* Cut short: the end of the connection does not complete it. */
    o = parse_every_way("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345", false, true);
    assert_int_equal(o.rc, CORIO_HTTP_ETRUNCATED);
    expect_body(&o, "12345");

    static const char *const bad[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5 5\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1000000000000000000\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o = parse_every_way(bad[i], false, true);
        if (o.rc != CORIO_HTTP_ELENGTH)
            fail_msg("case %zu gave %d", i, o.rc);
    }
    /* The largest accepted: 18 digits. */
    corio_http_resp_parser_t r;
    corio_http_resp_parser_init(&r, false);
    size_t used;
    const char *b;
    size_t bl;
    const char *big = "HTTP/1.1 200 OK\r\nContent-Length: 999999999999999999\r\n\r\n";
    assert_int_equal(corio_http_resp_parser_feed(&r, big, strlen(big), &used, &b, &bl),
                     CORIO_HTTP_HEAD);
    assert_int_equal(r.content_length, 999999999999999999LL);
}

/* ---- chunked ------------------------------------------------------------------------------ */

static void test_chunked(void **state)
{
    (void)state;
    const char *resp = "HTTP/1.1 200 OK\r\n"
                       "Transfer-Encoding: chunked\r\n"
                       "\r\n"
                       "5;ext=1;q=\"a;b\"\r\n"
                       "hello\r\n"
                       "0A \t; name\r\n"
                       "0123456789\r\n"
                       "1\r\n"
                       "\n\r\n"
                       "0;last\r\n"
                       "Trailer-One: x\r\n"
                       "Trailer-Two: y\r\n"
                       "\r\n"
                       "AFTER";
    struct outcome o = parse_every_way(resp, false, false);
    assert_int_equal(o.rc, CORIO_HTTP_DONE);
    assert_int_equal(o.body_kind, CORIO_HTTP_FRAMING_CHUNKED);
    assert_true(o.keep_alive);
    expect_body(&o, "hello0123456789\n");
    assert_int_equal(o.used, strlen(resp) - 5);

    /* No trailers; bare LF line ends; a coding before chunked. */
    o = parse_every_way("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                        "3\nabc\n0\n\n",
                        false, false);
    assert_int_equal(o.rc, CORIO_HTTP_DONE);
    expect_body(&o, "abc");

    /* Transfer-Encoding overrides Content-Length, and the connection is not reused. */
    o = parse_every_way("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n"
                        "\r\n2\r\nhi\r\n0\r\n\r\n",
                        false, false);
    assert_int_equal(o.rc, CORIO_HTTP_DONE);
    expect_body(&o, "hi");
    assert_false(o.keep_alive);

    /* chunked not last: the body runs to the end of the connection. */
    o = parse_every_way("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                        "Transfer-Encoding: gzip\r\n\r\nraw bytes",
                        false, true);
    assert_int_equal(o.rc, CORIO_HTTP_DONE);
    assert_int_equal(o.body_kind, CORIO_HTTP_FRAMING_EOF);
    expect_body(&o, "raw bytes");
    assert_false(o.keep_alive);

    /* Cut short anywhere in the chunks: truncated. */
    o = parse_every_way("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", false,
                        true);
    assert_int_equal(o.rc, CORIO_HTTP_ETRUNCATED);
    o = parse_every_way("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n",
                        false, true);
    assert_int_equal(o.rc, CORIO_HTTP_ETRUNCATED);
}

static void test_bad_chunks(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "zz\r\n",
        "\r\n",
        ";ext\r\n",
        "5\r\nhelloX\r\n0\r\n\r\n",
        "5\r\nhello\rX0\r\n\r\n",
        "ffffffffffffffffff\r\n",
        "8000000000000000\r\n",
        "-1\r\n",
        "5 x\r\nhello\r\n",
        "5\rX",
        "0\r\n\rX",
        "5\r\nhello\r\n0\r\nTrailer: x\r\n\rZ",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char resp[256];
        snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%s",
                 bad[i]);
        struct outcome o = parse_every_way(resp, false, true);
        if (o.rc != CORIO_HTTP_ECHUNK)
            fail_msg("chunk case %zu gave %d", i, o.rc);
    }
    /* The largest size accepted: 2^63 - 1. */
    struct outcome o =
        parse_whole("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7fffffffffffffff\r\nab",
                    false, false);
    assert_int_equal(o.rc, CORIO_HTTP_NEED_MORE);
    expect_body(&o, "ab");

    /* chunked applied twice, and TE in an HTTP/1.0 response: faulty framing. */
    o = parse_every_way("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", false,
                        true);
    assert_int_equal(o.rc, CORIO_HTTP_ELENGTH);
    o = parse_every_way("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false,
                        true);
    assert_int_equal(o.rc, CORIO_HTTP_ELENGTH);

    /* Endless extensions and endless trailers hit their limits. */
    size_t n = CORIO_HTTP_MAX_TRAILERS + 1024;
    char *s = malloc(n + 128);
    assert_non_null(s);
    int len = snprintf(s, 128, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;");
    memset(s + len, 'e', n - (size_t)len);
    s[n] = '\0';
    o = parse_whole(s, false, false);
    assert_int_equal(o.rc, CORIO_HTTP_ECHUNK); /* a chunk-size line past its limit */
    len = snprintf(s, 128, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: ");
    memset(s + len, 't', n - (size_t)len);
    s[n] = '\0';
    o = parse_whole(s, false, false);
    assert_int_equal(o.rc, CORIO_HTTP_EHEAD_TOO_BIG);
    free(s);
}

/* ---- bodies without length; no bodies -------------------------------------------------- */

static void test_body_to_eof(void **state)
{
    (void)state;
    struct outcome o = parse_every_way("HTTP/1.1 200 OK\r\nX: y\r\n\r\nall of this", false, true);
    assert_int_equal(o.rc, CORIO_HTTP_DONE);
    assert_int_equal(o.body_kind, CORIO_HTTP_FRAMING_EOF);
    assert_false(o.keep_alive);
    expect_body(&o, "all of this");
    /* An empty one. */
    o = parse_every_way("HTTP/1.0 200 OK\r\n\r\n", false, true);
    assert_int_equal(o.rc, CORIO_HTTP_DONE);
    assert_int_equal(o.body_len, 0);
    /* The end in the middle of the head, or before any byte. */
    o = parse_every_way("HTTP/1.1 200 OK\r\nX: y\r\n", false, true);
    assert_int_equal(o.rc, CORIO_HTTP_ETRUNCATED);
    corio_http_resp_parser_t r;
    corio_http_resp_parser_init(&r, false);
    assert_false(corio_http_resp_parser_started(&r));
    assert_int_equal(corio_http_resp_parser_eof(&r), CORIO_HTTP_ETRUNCATED);
    corio_http_resp_parser_init(&r, false);
    size_t used;
    const char *b;
    size_t bl;
    assert_int_equal(corio_http_resp_parser_feed(&r, "HT", 2, &used, &b, &bl),
                     CORIO_HTTP_NEED_MORE);
    assert_true(corio_http_resp_parser_started(&r));
    assert_false(corio_http_resp_parser_head_done(&r));
}

static void test_no_body(void **state)
{
    (void)state;
    /* Interim responses are skipped; the final one counts. */
    struct outcome o = parse_every_way("HTTP/1.1 100 Continue\r\n\r\n"
                                       "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
                                       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
                                       false, false);
    assert_int_equal(o.rc, CORIO_HTTP_DONE);
    assert_int_equal(o.status, 200);
    assert_int_equal(o.heads, 1);
    expect_body(&o, "hi");

    /* 204 and 304 carry no body whatever their fields say; the next bytes are not theirs. */
    const char *r204 = "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nHTTP/";
    o = parse_every_way(r204, false, false);
    assert_int_equal(o.rc, CORIO_HTTP_DONE);
    assert_int_equal(o.status, 204);
    assert_int_equal(o.body_len, 0);
    assert_int_equal(o.used, strlen(r204) - 5);
    assert_true(o.keep_alive);
    o = parse_every_way("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", false,
                        false);
    assert_int_equal(o.rc, CORIO_HTTP_DONE);
    assert_int_equal(o.body_kind, CORIO_HTTP_FRAMING_NONE);

    /* HEAD: the fields describe the body a GET would get; none follows. */
    const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
    o = parse_every_way(head, true, false);
    assert_int_equal(o.rc, CORIO_HTTP_DONE);
    assert_int_equal(o.body_len, 0);
    assert_int_equal(o.used, strlen(head));
    assert_true(o.keep_alive);
    o = parse_every_way("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true, false);
    assert_int_equal(o.rc, CORIO_HTTP_DONE);

    /* 101: no body, and the connection is not HTTP any more. */
    o = parse_every_way("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", false, false);
    assert_int_equal(o.rc, CORIO_HTTP_DONE);
    assert_int_equal(o.status, 101);
    assert_false(o.keep_alive);

    /* After CORIO_HTTP_DONE, more calls keep saying so and take nothing. */
    corio_http_resp_parser_t r;
    corio_http_resp_parser_init(&r, false);
    size_t used;
    const char *b;
    size_t bl;
    const char *s = "HTTP/1.1 204 No Content\r\n\r\n";
    assert_int_equal(corio_http_resp_parser_feed(&r, s, strlen(s), &used, &b, &bl),
                     CORIO_HTTP_HEAD);
    assert_int_equal(corio_http_resp_parser_feed(&r, "xyz", 3, &used, &b, &bl), CORIO_HTTP_DONE);
    assert_int_equal(used, 0);
    assert_int_equal(corio_http_resp_parser_eof(&r), CORIO_HTTP_DONE);
}

/* ---- the field store, Content-Encoding ---------------------------------------------------- */

/* Parses s whole into r with a store of cap bytes; returns the last event. */
static int parse_stored(corio_http_resp_parser_t *r, const char *s, char *store, size_t cap)
{
    corio_http_resp_parser_init(r, false);
    corio_http_resp_parser_set_store(r, store, cap);
    size_t left = strlen(s), used, bl;
    const char *b;
    int ev;
    do {
        ev = corio_http_resp_parser_feed(r, s, left, &used, &b, &bl);
        s += used;
        left -= used;
    } while (ev > 0 && ev != CORIO_HTTP_DONE);
    return ev;
}

static void test_the_store_keeps_the_final_responses_fields_in_order(void **state)
{
    (void)state;
    static const char resp[] = "HTTP/1.1 100 Continue\r\nX-Interim: no\r\n\r\n"
                               "HTTP/1.1 200 OK\r\n"
                               "Content-Type:  text/plain  \r\n"
                               "Set-Cookie: a=1\r\n"
                               "X-Folded: one\r\n two\r\n"
                               "set-cookie: b=2\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n"
                               "0\r\nX-Trailer: no\r\n\r\n";
    corio_http_resp_parser_t r;
    char store[1024];
    assert_int_equal(parse_stored(&r, resp, store, sizeof store), CORIO_HTTP_DONE);
    static const char *const names[] = {"Content-Type", "Set-Cookie", "X-Folded", "set-cookie",
                                        "Transfer-Encoding"};
    static const char *const values[] = {"text/plain", "a=1", "one two", "b=2", "chunked"};
    size_t pos = 0, nl, vl, i = 0;
    const char *n, *v;
    while (corio_http_resp_parser_next_field(&r, &pos, &n, &nl, &v, &vl)) {
        assert_true(i < 5);
        assert_int_equal(nl, strlen(names[i]));
        assert_memory_equal(n, names[i], nl);
        assert_int_equal(vl, strlen(values[i]));
        assert_memory_equal(v, values[i], vl);
        i++;
    }
    assert_int_equal(i, 5); /* neither the interim response's field nor the trailer */
    pos = 0;
    assert_true(corio_http_resp_parser_field(&r, "SET-COOKIE", &pos, &v, &vl));
    assert_memory_equal(v, "a=1", vl);
    assert_true(corio_http_resp_parser_field(&r, "set-cookie", &pos, &v, &vl));
    assert_memory_equal(v, "b=2", vl);
    assert_false(corio_http_resp_parser_field(&r, "set-cookie", &pos, &v, &vl));
    pos = 0;
    assert_false(corio_http_resp_parser_field(&r, "x-interim", &pos, &v, &vl));
    pos = 0;
    assert_false(corio_http_resp_parser_field(&r, "x-trailer", &pos, &v, &vl));
}

static void test_fields_that_do_not_fit_the_store_are_head_too_big(void **state)
{
    (void)state;
    corio_http_resp_parser_t r;
    char store[64];
    assert_int_equal(parse_stored(&r,
                                  "HTTP/1.1 200 OK\r\nX-Long: "
                                  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                                  "\r\nContent-Length: 0\r\n\r\n",
                                  store, sizeof store),
                     CORIO_HTTP_EHEAD_TOO_BIG);
    /* Without a store the same response is fine, and nothing is kept. */
    assert_int_equal(
        parse_stored(&r, "HTTP/1.1 200 OK\r\nX-Long: aaaa\r\nContent-Length: 0\r\n\r\n", NULL, 0),
        CORIO_HTTP_DONE);
    size_t pos = 0, nl, vl;
    const char *n, *v;
    assert_false(corio_http_resp_parser_next_field(&r, &pos, &n, &nl, &v, &vl));
}

/* Feeds s to a fresh parser with a store of cap bytes, in pieces of at most piece bytes,
 * until an error; returns it, with the bytes consumed before it in *used_all. */
static int stored_error_at(const char *s, size_t cap, size_t piece, size_t *used_all)
{
    corio_http_resp_parser_t r;
    char store[256];
    assert_true(cap <= sizeof store);
    corio_http_resp_parser_init(&r, false);
    corio_http_resp_parser_set_store(&r, store, cap);
    size_t at = 0, n = strlen(s), used, bl;
    const char *b;
    *used_all = 0;
    while (at < n) {
        size_t len = n - at < piece ? n - at : piece;
        int ev = corio_http_resp_parser_feed(&r, s + at, len, &used, &b, &bl);
        *used_all += used;
        if (ev < 0)
            return ev;
        at += used;
    }
    return CORIO_HTTP_NEED_MORE;
}

static void test_a_name_that_does_not_fit_the_store_fails_at_the_same_byte_fed_any_way(void **state)
{
    (void)state;
    static const char resp[] = "HTTP/1.1 200 OK\r\nX-Fits: 1\r\n"
                               "X-A-Field-Name-Longer-Than-The-Store-Has-Room-For: 1\r\n\r\n";
    size_t whole, bytewise;
    assert_int_equal(stored_error_at(resp, 40, sizeof resp, &whole), CORIO_HTTP_EHEAD_TOO_BIG);
    assert_int_equal(stored_error_at(resp, 40, 1, &bytewise), CORIO_HTTP_EHEAD_TOO_BIG);
    assert_int_equal(whole, bytewise);
    assert_true(whole > strlen("HTTP/1.1 200 OK\r\nX-Fits: 1\r\nX-A"));
    assert_true(whole < strlen(resp) - strlen(": 1\r\n\r\n"));
    /* The same inside the value of a field the parser reads (Location). */
    static const char loc[] = "HTTP/1.1 302 Found\r\nX-Fits: 1\r\n"
                              "Location: /a-path-longer-than-the-store-has-room-for\r\n\r\n";
    assert_int_equal(stored_error_at(loc, 40, sizeof loc, &whole), CORIO_HTTP_EHEAD_TOO_BIG);
    assert_int_equal(stored_error_at(loc, 40, 1, &bytewise), CORIO_HTTP_EHEAD_TOO_BIG);
    assert_int_equal(whole, bytewise);
    assert_true(whole > strlen("HTTP/1.1 302 Found\r\nX-Fits: 1\r\nLocation: /"));
}

static void test_content_encoding_is_named(void **state)
{
    (void)state;
    static const struct {
        const char *field;
        corio_http_coding_t coding;
    } cases[] = {
        {"", CORIO_HTTP_CODING_IDENTITY},
        {"Content-Encoding: gzip\r\n", CORIO_HTTP_CODING_GZIP},
        {"Content-Encoding: X-GZIP\r\n", CORIO_HTTP_CODING_GZIP},
        {"Content-Encoding: deflate\r\n", CORIO_HTTP_CODING_DEFLATE},
        {"Content-Encoding: identity\r\n", CORIO_HTTP_CODING_IDENTITY},
        {"Content-Encoding: br\r\n", CORIO_HTTP_CODING_OTHER},
        {"Content-Encoding: gzip, br\r\n", CORIO_HTTP_CODING_OTHER},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char resp[256];
        snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\n%sContent-Length: 0\r\n\r\n",
                 cases[i].field);
        corio_http_resp_parser_t r;
        assert_int_equal(parse_stored(&r, resp, NULL, 0), CORIO_HTTP_DONE);
        if (r.content_encoding != cases[i].coding)
            fail_msg("'%s': coding %d, expected %d", cases[i].field, r.content_encoding,
                     cases[i].coding);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_line),
        cmocka_unit_test(test_headers_split_anywhere),
        cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_head_too_big),
        cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_bad_chunks),
        cmocka_unit_test(test_body_to_eof),
        cmocka_unit_test(test_no_body),
        cmocka_unit_test(test_the_store_keeps_the_final_responses_fields_in_order),
        cmocka_unit_test(test_fields_that_do_not_fit_the_store_are_head_too_big),
        cmocka_unit_test(
            test_a_name_that_does_not_fit_the_store_fails_at_the_same_byte_fed_any_way),
        cmocka_unit_test(test_content_encoding_is_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
