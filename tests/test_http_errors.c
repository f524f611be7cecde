/* Tests of libcorio-http's one error convention (corio/http.h): every CORIO_HTTP_E* code
 * lies in its range beyond the errnos, is distinct, has its own name from corio_strerror
 * (libcorio, which names them without depending on libcorio-http), and maps to the status
 * a server answers, or to 0 when it is not a request error. Also the reason phrases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <corio/http.h>
#include <corio/net.h>

#include <errno.h>
#include <string.h>

static const struct {
    int code;
    const char *name;
    int status; /* what a server answers; 0: not a request error */
} codes[] = {
    {CORIO_HTTP_EMALFORMED, "Malformed HTTP message", 400},
    {CORIO_HTTP_ELENGTH,
     "Bad or conflicting HTTP message framing (Content-Length, Transfer-Encoding)", 400},
    {CORIO_HTTP_ECHUNK, "Bad HTTP chunked coding", 400},
    {CORIO_HTTP_EURI_TOO_LONG, "HTTP request line too long", 414},
    {CORIO_HTTP_EHEAD_TOO_BIG, "HTTP header section too large", 431},
    {CORIO_HTTP_EVERSION, "HTTP version not supported", 505},
    {CORIO_HTTP_ENOTIMPL, "HTTP transfer coding not implemented", 501},
    {CORIO_HTTP_EHOST, "Missing, duplicated or invalid HTTP Host", 400},
    {CORIO_HTTP_ETRUNCATED, "HTTP message truncated (the stream ended first)", 0},
    {CORIO_HTTP_EBODY_TOO_BIG, "HTTP body too large", 413},
    {CORIO_HTTP_EFORBIDDEN, "HTTP path climbs above the root", 403},
    {CORIO_HTTP_EURL, "Malformed URL", 0},
    {CORIO_HTTP_EURL_SCHEME, "URL scheme is not http or https", 0},
    {CORIO_HTTP_EREDIRECTS, "Too many HTTP redirects", 0},
    {CORIO_HTTP_EDECODE, "HTTP content encoding cannot be decoded", 0},
    {CORIO_HTTP_EPROXY, "HTTP proxy refused the tunnel (CONNECT)", 0},
    {CORIO_HTTP_EPROXY_AUTH, "HTTP proxy authentication failed (407)", 0},
};
#define NCODES (sizeof codes / sizeof codes[0])

static void test_codes_lie_in_their_range_and_are_distinct(void **state)
{
    (void)state;
    for (size_t i = 0; i < NCODES; i++) {
        assert_true(codes[i].code <= -4200 && codes[i].code >= -4299);
        assert_true(codes[i].code < -4095); /* beyond every errno */
        assert_true(codes[i].code != CORIO_ENONAME && codes[i].code != CORIO_ERESOLVE);
        for (size_t j = 0; j < i; j++)
            assert_int_not_equal(codes[i].code, codes[j].code);
    }
}

static void test_strerror_names_each_code(void **state)
{
    (void)state;
    for (size_t i = 0; i < NCODES; i++) {
        const char *got = corio_strerror(codes[i].code);
        if (strcmp(got, codes[i].name) != 0)
            fail_msg("corio_strerror(%d) is \"%s\", expected \"%s\"", codes[i].code, got,
                     codes[i].name);
        /* A positive value names the same error, as for errnos. */
        assert_string_equal(corio_strerror(-codes[i].code), codes[i].name);
    }
    /* Next to the range's used part: unknown, not an HTTP name or a crash. */
    assert_string_equal(corio_strerror(CORIO_HTTP_EPROXY_AUTH - 1), "Unknown error");
    assert_string_equal(corio_strerror(CORIO_HTTP_EMALFORMED + 1), "Unknown error");
    /* The other names are untouched. */
    assert_string_equal(corio_strerror(-ENOENT), "No such file or directory");
    assert_string_equal(corio_strerror(CORIO_ENONAME), "Name does not resolve (no such host)");
}

static void test_error_status_for_request_errors_only(void **state)
{
    (void)state;
    for (size_t i = 0; i < NCODES; i++)
        if (corio_http_error_status(codes[i].code) != codes[i].status)
            fail_msg("corio_http_error_status(%s) is %d, expected %d", codes[i].name,
                     corio_http_error_status(codes[i].code), codes[i].status);
    assert_int_equal(corio_http_error_status(0), 0);
    assert_int_equal(corio_http_error_status(-EINVAL), 0);
    assert_int_equal(corio_http_error_status(400), 0); /* a status is not a code */
    assert_int_equal(corio_http_error_status(CORIO_ENONAME), 0);
}

static void test_reason_phrases(void **state)
{
    (void)state;
    assert_string_equal(corio_http_reason(200), "OK");
    assert_string_equal(corio_http_reason(404), "Not Found");
    assert_string_equal(corio_http_reason(431), "Request Header Fields Too Large");
    assert_string_equal(corio_http_reason(413), "Content Too Large");
    assert_string_equal(corio_http_reason(999), "Unknown");
    assert_string_equal(corio_http_reason(-1), "Unknown");
    /* Every status a request error maps to has its phrase. */
    for (size_t i = 0; i < NCODES; i++)
        if (codes[i].status != 0)
            assert_string_not_equal(corio_http_reason(codes[i].status), "Unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codes_lie_in_their_range_and_are_distinct),
        cmocka_unit_test(test_strerror_names_each_code),
        cmocka_unit_test(test_error_status_for_request_errors_only),
        cmocka_unit_test(test_reason_phrases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
