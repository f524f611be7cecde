/* Tests of libcorio-http's chunked coding (engine/http/chunked.c): the decoder alone, fed
 * each body whole, cut in two at every offset, in three at every pair of offsets, and one
 * byte at a time (the same data, the same end, the same bytes left over every way);
 * extensions, trailers and bare LF line ends; malformed framing; the limits on a size line
 * and on trailers, at their exact bounds; errors that stick; and the encoder, alone and
 * decoded back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <corio/http.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct outcome {
    int rc;      /* CORIO_HTTP_DONE, CORIO_HTTP_NEED_MORE (ran out of input) or an error */
    size_t used; /* bytes consumed in all */
    size_t data_len;
    char *data; /* the decoded data, malloc'ed */
};

/* Feeds s[0..n) to a fresh decoder cut at cuts[0..ncuts) (ascending offsets). Checks the
 * contract on the way: *used within the piece, data views inside the piece just given,
 * CORIO_HTTP_NEED_MORE only with the piece used up, data_bytes counting the data. With a
 * syntax error, used adds up to the offset of the wrong byte, however the bytes came. */
static struct outcome decode_cut(const char *s, size_t n, const size_t *cuts, size_t ncuts)
{
    struct outcome o = {.rc = CORIO_HTTP_NEED_MORE, .data = malloc(n + 1)};
    assert_non_null(o.data);
    corio_http_chunked_t d;
    corio_http_chunked_init(&d);
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
            const char *data = NULL;
            size_t dl = 0;
            int rc = corio_http_chunked_decode(&d, p, len, &used, &data, &dl);
            assert_true(used <= len);
            p += used;
            len -= used;
            o.used += used;
            if (rc == CORIO_HTTP_BODY) {
                assert_true(dl > 0);
                assert_true(data >= piece && data + dl <= piece + (end - start));
                memcpy(o.data + o.data_len, data, dl);
                o.data_len += dl;
                assert_int_equal(d.data_bytes, o.data_len);
                continue;
            }
            assert_null(data);
            assert_int_equal(dl, 0);
            if (rc == CORIO_HTTP_NEED_MORE) {
                assert_int_equal(len, 0);
                break;
            }
            o.rc = rc;
            free(piece);
            return o;
        }
        free(piece);
        start = end;
    }
    return o;
}

static void same(const struct outcome *a, const struct outcome *b, const char *how, size_t at)
{
    if (a->rc != b->rc || a->used != b->used || a->data_len != b->data_len ||
        memcmp(a->data, b->data, a->data_len) != 0)
        fail_msg("%s at %zu: rc %d/%d used %zu/%zu data %zu/%zu", how, at, a->rc, b->rc, a->used,
                 b->used, a->data_len, b->data_len);
}

/* Decodes s[0, n) whole, cut in two at every offset, in three at every pair when short,
 * and byte by byte: every way must agree. Returns the whole-buffer outcome. */
static struct outcome decode_every_way_n(const char *s, size_t n)
{
    struct outcome whole = decode_cut(s, n, NULL, 0);
    for (size_t i = 0; i <= n; i++) {
        struct outcome o = decode_cut(s, n, &i, 1);
        same(&whole, &o, "cut", i);
        free(o.data);
    }
    if (n <= 120)
        for (size_t i = 0; i <= n; i++)
            for (size_t j = i; j <= n; j++) {
                size_t cuts[2] = {i, j};
                struct outcome o = decode_cut(s, n, cuts, 2);
                same(&whole, &o, "cut pair", i * 1000 + j);
                free(o.data);
            }
    size_t *all = malloc((n + 1) * sizeof *all);
    assert_non_null(all);
    for (size_t i = 0; i < n; i++)
        all[i] = i + 1;
    struct outcome o = decode_cut(s, n, all, n);
    free(all);
    same(&whole, &o, "byte by byte", 0);
    free(o.data);
    return whole;
}

static struct outcome decode_every_way(const char *s)
{
    return decode_every_way_n(s, strlen(s));
}

static void expect_data(struct outcome *o, const char *data)
{
    assert_int_equal(o->data_len, strlen(data));
    assert_memory_equal(o->data, data, o->data_len);
    free(o->data);
    o->data = NULL;
}

/* ---- decoding ------------------------------------------------------------------------- */

static void test_decodes_chunks_extensions_and_trailers(void **state)
{
    (void)state;
    const char *body = "5;ext=1;q=\"a;b\"\r\n"
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
    struct outcome o = decode_every_way(body);
    assert_int_equal(o.rc, CORIO_HTTP_DONE);
    assert_int_equal(o.used, strlen(body) - 5); /* "AFTER" is not the body's */
    expect_data(&o, "hello0123456789\n");

    /* No trailers; bare LF line ends; upper-case hex; an empty body. */
    o = decode_every_way("3\nabc\n0\n\nX");
    assert_int_equal(o.rc, CORIO_HTTP_DONE);
    assert_int_equal(o.used, 9);
    expect_data(&o, "abc");
    o = decode_every_way("1F\r\n0123456789012345678901234567890\r\n0\r\n\r\n");
    assert_int_equal(o.rc, CORIO_HTTP_DONE);
    expect_data(&o, "0123456789012345678901234567890");
    o = decode_every_way("0\r\n\r\n");
    assert_int_equal(o.rc, CORIO_HTTP_DONE);
    assert_int_equal(o.used, 5);
    expect_data(&o, "");
    /* Binary data, NULs and line ends inside a chunk are data. */
    o = decode_every_way_n("4\r\n\0\r\n\n\r\n0\r\n\r\n", 14);
    assert_int_equal(o.rc, CORIO_HTTP_DONE);
    assert_int_equal(o.data_len, 4);
    assert_memory_equal(o.data, "\0\r\n\n", 4);
    free(o.data);

    /* Cut short anywhere: more is needed, and what came is handed out. */
    o = decode_every_way("5\r\nhel");
    assert_int_equal(o.rc, CORIO_HTTP_NEED_MORE);
    expect_data(&o, "hel");
    o = decode_every_way("5\r\nhello\r\n0\r\nTrailer: x\r\n");
    assert_int_equal(o.rc, CORIO_HTTP_NEED_MORE);
    expect_data(&o, "hello");
}

static void test_malformed_framing_is_echunk(void **state)
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
        "+1\r\n",
        "0x5\r\n",
        "5 x\r\nhello\r\n",
        "5\rX",
        "0\r\n\rX",
        "5\r\nhello\r\n0\r\nTrailer: x\r\n\rZ",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct outcome o = decode_every_way(bad[i]);
        if (o.rc != CORIO_HTTP_ECHUNK)
            fail_msg("chunk case %zu gave %d", i, o.rc);
        free(o.data);
    }
    /* A NUL in an extension. */
    struct outcome o = decode_every_way_n("1;a\0b\r\nx\r\n0\r\n\r\n", 15);
    assert_int_equal(o.rc, CORIO_HTTP_ECHUNK);
    free(o.data);
    /* The largest size accepted: 2^63 - 1. */
    o = decode_cut("7fffffffffffffff\r\nab", 20, NULL, 0);
    assert_int_equal(o.rc, CORIO_HTTP_NEED_MORE);
    expect_data(&o, "ab");
}

static void test_errors_and_the_end_stick(void **state)
{
    (void)state;
    corio_http_chunked_t d;
    size_t used;
    const char *data;
    size_t dl;
    corio_http_chunked_init(&d);
    assert_int_equal(corio_http_chunked_decode(&d, "2\r\nab\r\nQ", 8, &used, &data, &dl),
                     CORIO_HTTP_BODY);
    assert_int_equal(used, 5);
    assert_int_equal(corio_http_chunked_decode(&d, "\r\nQ", 3, &used, &data, &dl),
                     CORIO_HTTP_ECHUNK);
    assert_int_equal(used, 2); /* up to the 'Q' */
    assert_int_equal(corio_http_chunked_decode(&d, "0\r\n\r\n", 5, &used, &data, &dl),
                     CORIO_HTTP_ECHUNK);
    assert_int_equal(used, 0);
    assert_null(data);

    corio_http_chunked_init(&d); /* init starts over */
    assert_int_equal(corio_http_chunked_decode(&d, "0\r\n\r\nmore", 9, &used, &data, &dl),
                     CORIO_HTTP_DONE);
    assert_int_equal(used, 5);
    assert_int_equal(corio_http_chunked_decode(&d, "more", 4, &used, &data, &dl), CORIO_HTTP_DONE);
    assert_int_equal(used, 0);
    assert_int_equal(d.data_bytes, 0);

    /* Nothing to decode: nothing happens. */
    corio_http_chunked_init(&d);
    assert_int_equal(corio_http_chunked_decode(&d, NULL, 0, &used, &data, &dl),
                     CORIO_HTTP_NEED_MORE);
    assert_int_equal(used, 0);
    assert_int_equal(corio_http_chunked_decode(&d, "", 0, &used, &data, &dl), CORIO_HTTP_NEED_MORE);
    assert_int_equal(corio_http_chunked_decode(&d, "1\r\nz\r\n0\r\n\r\n", 11, &used, &data, &dl),
                     CORIO_HTTP_BODY);
    assert_int_equal(dl, 1);
}

/* A size line of exactly CORIO_HTTP_MAX_CHUNK_LINE bytes, CRLF included. */
static char *size_line(size_t total, const char *rest)
{
    char *s = malloc(total + strlen(rest) + 1);
    assert_non_null(s);
    memcpy(s, "1;", 2);
    memset(s + 2, 'e', total - 4);
    memcpy(s + total - 2, "\r\n", 2);
    strcpy(s + total, rest);
    return s;
}

static void test_size_line_limit(void **state)
{
    (void)state;
    char *s = size_line(CORIO_HTTP_MAX_CHUNK_LINE, "x\r\n0\r\n\r\n");
    struct outcome o = decode_cut(s, strlen(s), NULL, 0);
    assert_int_equal(o.rc, CORIO_HTTP_DONE);
    expect_data(&o, "x");
    size_t one = 1;
    o = decode_cut(s, strlen(s), &one, 1); /* the count spans pieces */
    assert_int_equal(o.rc, CORIO_HTTP_DONE);
    expect_data(&o, "x");
    free(s);
    s = size_line(CORIO_HTTP_MAX_CHUNK_LINE + 1, "x\r\n0\r\n\r\n");
    o = decode_cut(s, strlen(s), &one, 1);
    assert_int_equal(o.rc, CORIO_HTTP_ECHUNK);
    free(o.data);
    free(s);
    /* Each line has the limit to itself, the last chunk's too. */
    s = size_line(CORIO_HTTP_MAX_CHUNK_LINE, "x\r\n");
    char *two = malloc(3 * CORIO_HTTP_MAX_CHUNK_LINE + 16);
    assert_non_null(two);
    strcpy(two, s);
    strcat(two, s);
    free(s);
    s = size_line(CORIO_HTTP_MAX_CHUNK_LINE, "\r\n");
    s[0] = '0';
    strcat(two, s);
    free(s);
    o = decode_cut(two, strlen(two), NULL, 0);
    assert_int_equal(o.rc, CORIO_HTTP_DONE);
    expect_data(&o, "xx");
    free(two);
    /* An endless line is refused at the limit, not when it ends. */
    s = malloc(2 * CORIO_HTTP_MAX_CHUNK_LINE);
    assert_non_null(s);
    memcpy(s, "5;", 2);
    memset(s + 2, 'e', 2 * CORIO_HTTP_MAX_CHUNK_LINE - 2);
    o = decode_cut(s, 2 * CORIO_HTTP_MAX_CHUNK_LINE, NULL, 0);
    assert_int_equal(o.rc, CORIO_HTTP_ECHUNK);
    free(o.data);
    free(s);
}

static void test_trailer_limit(void **state)
{
    (void)state;
    /* "0\r\n", then trailers of exactly CORIO_HTTP_MAX_TRAILERS bytes with the last CRLF. */
    size_t n = 3 + CORIO_HTTP_MAX_TRAILERS;
    char *s = malloc(n + 2);
    assert_non_null(s);
    memcpy(s, "0\r\nT: ", 6);
    memset(s + 6, 't', n - 6 - 4);
    memcpy(s + n - 4, "\r\n\r\n", 4);
    struct outcome o = decode_cut(s, n, NULL, 0);
    assert_int_equal(o.rc, CORIO_HTTP_DONE);
    assert_int_equal(o.used, n);
    free(o.data);
    size_t cuts[2] = {4, n - 1};
    o = decode_cut(s, n, cuts, 2);
    assert_int_equal(o.rc, CORIO_HTTP_DONE);
    free(o.data);
    /* One byte more. */
    memcpy(s + n - 4, "t\r\n\r\n", 5);
    o = decode_cut(s, n + 1, cuts, 2);
    assert_int_equal(o.rc, CORIO_HTTP_EHEAD_TOO_BIG);
    free(o.data);
    free(s);
    /* Endless trailers, never a line end: refused at the limit. */
    n = 2 * CORIO_HTTP_MAX_TRAILERS;
    s = malloc(n);
    assert_non_null(s);
    memcpy(s, "0\r\nT: ", 6);
    memset(s + 6, 't', n - 6);
    o = decode_cut(s, n, NULL, 0);
    assert_int_equal(o.rc, CORIO_HTTP_EHEAD_TOO_BIG);
    free(o.data);
    free(s);
}

/* ---- encoding ------------------------------------------------------------------------- */

static void test_size_lines(void **state)
{
    (void)state;
    static const struct {
        uint64_t n;
        const char *line;
    } cases[] = {
        {1, "1\r\n"},
        {15, "f\r\n"},
        {16, "10\r\n"},
        {255, "ff\r\n"},
        {4096, "1000\r\n"},
        {0x123456789abcdefULL, "123456789abcdef\r\n"},
        {UINT64_MAX, "ffffffffffffffff\r\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[CORIO_HTTP_CHUNK_SIZE_LINE_MAX];
        size_t len = corio_http_chunk_size_line(cases[i].n, out);
        assert_int_equal(len, strlen(cases[i].line));
        assert_string_equal(out, cases[i].line);
    }
    char out[CORIO_HTTP_CHUNK_SIZE_LINE_MAX] = "junk";
    assert_int_equal(corio_http_chunk_size_line(0, out), 0); /* no empty chunk */
    assert_string_equal(out, "");
    assert_int_equal(strlen(CORIO_HTTP_LAST_CHUNK), 5);
    assert_int_equal(strlen(CORIO_HTTP_CHUNK_END), 2);
}

/* Random data in random chunk sizes, encoded, then decoded in random pieces. */
static void test_encoded_body_decodes_to_the_same_bytes(void **state)
{
    (void)state;
    unsigned seed = 12345;
    for (int round = 0; round < 200; round++) {
        size_t n = (size_t)(rand_r(&seed) % 5000);
        char *data = malloc(n + 1);
        char *wire = malloc(2 * n + 64 * (n + 1) + 16);
        assert_non_null(data);
        assert_non_null(wire);
        for (size_t i = 0; i < n; i++)
            data[i] = (char)rand_r(&seed);
        size_t w = 0;
        for (size_t at = 0; at < n;) {
            size_t chunk = 1 + (size_t)rand_r(&seed) % (round % 2 ? 7 : 700);
            if (chunk > n - at)
                chunk = n - at;
            w += corio_http_chunk_size_line(chunk, wire + w);
            memcpy(wire + w, data + at, chunk);
            w += chunk;
            memcpy(wire + w, CORIO_HTTP_CHUNK_END, 2);
            w += 2;
            at += chunk;
        }
        memcpy(wire + w, CORIO_HTTP_LAST_CHUNK, 5);
        w += 5;
        size_t cuts[64], ncuts = 0, at = 0;
        while (ncuts < 64 && at < w) {
            at += (size_t)rand_r(&seed) % 50;
            if (at < w)
                cuts[ncuts++] = at;
        }
        struct outcome o = decode_cut(wire, w, cuts, ncuts);
        assert_int_equal(o.rc, CORIO_HTTP_DONE);
        assert_int_equal(o.used, w);
        assert_int_equal(o.data_len, n);
        assert_memory_equal(o.data, data, n);
        free(o.data);
        free(data);
        free(wire);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decodes_chunks_extensions_and_trailers),
        cmocka_unit_test(test_malformed_framing_is_echunk),
        cmocka_unit_test(test_errors_and_the_end_stick),
        cmocka_unit_test(test_size_line_limit),
        cmocka_unit_test(test_trailer_limit),
        cmocka_unit_test(test_size_lines),
        cmocka_unit_test(test_encoded_body_decodes_to_the_same_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
