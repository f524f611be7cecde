/* Tests of examples/http_url.c: parsing http:// URLs (hosts, IPv6 literals, ports, what is
 * refused and why), resolving redirect Locations (absolute, scheme-relative, absolute-path,
 * query and relative references, dot segments), and the file names corio-fetch -o saves
 * under, which must never leave the directory: no '/', no "." or "..", no leading dot,
 * bounded length, distinct for long names that share a prefix. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_url.h"

static void expect_url(const char *s, const char *host, unsigned port, const char *target)
{
    http_url_t u;
    int rc = http_url_parse(s, &u);
    if (rc != 0)
        fail_msg("%s: %s", s, http_url_strerror(rc));
    assert_string_equal(u.host, host);
    assert_int_equal(u.port, port);
    if (u.target_len != strlen(target) || memcmp(u.target, target, u.target_len) != 0)
        fail_msg("%s: target '%.*s', expected '%s'", s, (int)u.target_len, u.target, target);
}

static void test_parse(void **state)
{
    (void)state;
    expect_url("http://127.0.0.1:8080/hello", "127.0.0.1", 8080, "/hello");
    expect_url("http://example.com", "example.com", 80, "/");
    expect_url("HTTP://Example.COM/a/b?x=1&y=2#frag", "Example.COM", 80, "/a/b?x=1&y=2");
    expect_url("http://h:65535/", "h", 65535, "/");
    expect_url("http://[::1]:9000/p", "::1", 9000, "/p");
    expect_url("http://[fe80::1]/", "fe80::1", 80, "/");
    expect_url("http://h/%2e%2e/x", "h", 80, "/%2e%2e/x");
    http_url_t u;
    assert_int_equal(http_url_parse("http://[::1]/", &u), 0);
    assert_true(u.ipv6);
    char auth[300];
    assert_int_equal(http_url_authority(&u, auth, sizeof auth), 5);
    assert_string_equal(auth, "[::1]");
    assert_int_equal(http_url_parse("http://h:81/", &u), 0);
    http_url_authority(&u, auth, sizeof auth);
    assert_string_equal(auth, "h:81");
    assert_int_equal(http_url_authority(&u, auth, 3), -1);

    static const struct {
        const char *url;
        int err;
    } bad[] = {
        {"https://example.com/", HTTP_URL_E_HTTPS},
        {"HTTPS://example.com/", HTTP_URL_E_HTTPS},
        {"ftp://example.com/", HTTP_URL_E_SCHEME},
        {"example.com/", HTTP_URL_E_SCHEME},
        {"http:/x", HTTP_URL_E_SCHEME},
        {"http:///path", HTTP_URL_E_HOST},
        {"http://:80/", HTTP_URL_E_HOST},
        {"http://ho$t/", HTTP_URL_E_HOST},
        {"http://[::1/", HTTP_URL_E_HOST},
        {"http://[::g]/", HTTP_URL_E_HOST},
        {"http://[::1]x/", HTTP_URL_E_HOST},
        {"http://h:0/", HTTP_URL_E_PORT},
        {"http://h:65536/", HTTP_URL_E_PORT},
        {"http://h:/", HTTP_URL_E_PORT},
        {"http://h:8o/", HTTP_URL_E_PORT},
        {"http://h:123456/", HTTP_URL_E_PORT},
        {"http://user:pw@h/", HTTP_URL_E_USER},
        {"http://h/a b", HTTP_URL_E_CHARS},
        {"http://h/a\r\nX: y", HTTP_URL_E_CHARS},
        {"http://h?q", HTTP_URL_E_PATH},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = http_url_parse(bad[i].url, &u);
        if (rc != bad[i].err)
            fail_msg("%s gave %d, expected %d", bad[i].url, rc, bad[i].err);
    }
    assert_string_equal(http_url_strerror(HTTP_URL_E_HTTPS), "https not supported");

    char *huge = malloc(HTTP_URL_MAX + 64);
    assert_non_null(huge);
    strcpy(huge, "http://h/");
    memset(huge + 9, 'a', HTTP_URL_MAX);
    huge[HTTP_URL_MAX + 9] = '\0';
    assert_int_equal(http_url_parse(huge, &u), HTTP_URL_E_LONG);
    free(huge);
}

static void expect_resolve(const char *base, const char *loc, const char *want)
{
    http_url_t u;
    assert_int_equal(http_url_parse(base, &u), 0);
    char out[HTTP_URL_MAX + 1];
    int n = http_url_resolve(&u, loc, out, sizeof out);
    if (n < 0 || strcmp(out, want) != 0 || (size_t)n != strlen(want))
        fail_msg("%s + %s: '%s' (%d), expected '%s'", base, loc, n < 0 ? "" : out, n, want);
}

static void test_resolve(void **state)
{
    (void)state;
    const char *b = "http://h:8080/a/b/c?q=1";
    expect_resolve(b, "http://other/x", "http://other/x");
    expect_resolve(b, "https://other/x", "https://other/x");
    expect_resolve(b, "//other:81/y#f", "http://other:81/y");
    expect_resolve(b, "/abs", "http://h:8080/abs");
    expect_resolve(b, "/a/./b/../../z?k=../v", "http://h:8080/z?k=../v");
    expect_resolve(b, "?new", "http://h:8080/a/b/c?new");
    expect_resolve(b, "d", "http://h:8080/a/b/d");
    expect_resolve(b, "./d/", "http://h:8080/a/b/d/");
    expect_resolve(b, "../d", "http://h:8080/a/d");
    expect_resolve(b, "../../../../d", "http://h:8080/d");
    expect_resolve(b, "..", "http://h:8080/a/");
    expect_resolve(b, ".", "http://h:8080/a/b/");
    expect_resolve("http://h/", "x", "http://h/x");
    expect_resolve("http://[::1]:9/p", "/q", "http://[::1]:9/q");
    expect_resolve("http://h/redirect-rel/a/b", "../../hello", "http://h/hello");
    /* A digit first is a relative path with a colon, not a scheme. */
    expect_resolve("http://h/dir/x", "1:2", "http://h/dir/1:2");

    http_url_t u;
    assert_int_equal(http_url_parse(b, &u), 0);
    char small[16];
    assert_int_equal(http_url_resolve(&u, "/a-long-path-that-does-not-fit", small, sizeof small),
                     -1);
    char out[64];
    assert_int_equal(http_url_resolve(&u, "", out, sizeof out), -1);
    assert_int_equal(http_url_resolve(&u, "#only-a-fragment", out, sizeof out), -1);
}

/* A name that is safe to create inside a directory. */
static void check_safe(const char *name)
{
    size_t n = strlen(name);
    assert_true(n > 0 && n <= HTTP_NAME_MAX);
    assert_null(strchr(name, '/'));
    assert_true(name[0] != '.');
    assert_null(strstr(name, ".."));
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        assert_true((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_');
    }
}

static void expect_name(const char *url, const char *want)
{
    http_url_t u;
    assert_int_equal(http_url_parse(url, &u), 0);
    char name[HTTP_NAME_MAX + 1];
    size_t n = http_url_filename(&u, name, sizeof name);
    assert_int_equal(n, strlen(name));
    check_safe(name);
    if (want != NULL && strcmp(name, want) != 0)
        fail_msg("%s: '%s', expected '%s'", url, name, want);
}

static void test_filename(void **state)
{
    (void)state;
    expect_name("http://127.0.0.1:8080/hello", "127.0.0.1_8080_hello");
    expect_name("http://example.com/", "example.com_index");
    expect_name("http://example.com/dir/", "example.com_dir_index");
    expect_name("http://h/a/b.txt?x=1&y=2", "h_a_b.txt_x_1_y_2");
    expect_name("http://h/../../etc/passwd", "h_.__.__etc_passwd");
    expect_name("http://h/%2e%2e/%2e%2e/x", "h__2e_2e__2e_2e_x");
    expect_name("http://h/.hidden", "h_.hidden");
    expect_name("http://h/a...b", "h_a._.b");
    expect_name("http://[::1]:9/p", "__1_9_p");
    expect_name("http://..../x", NULL);
    expect_name("http://h/\xc3\xa9t\xc3\xa9", "h___t__index");

    /* Long names are cut to HTTP_NAME_MAX and stay distinct. */
    char a[3000], b[3000];
    strcpy(a, "http://h/");
    memset(a + 9, 'x', 2000);
    strcpy(a + 2009, "/one");
    strcpy(b, a);
    strcpy(b + 2009, "/two");
    http_url_t ua, ub;
    assert_int_equal(http_url_parse(a, &ua), 0);
    assert_int_equal(http_url_parse(b, &ub), 0);
    char na[HTTP_NAME_MAX + 1], nb[HTTP_NAME_MAX + 1];
    assert_int_equal(http_url_filename(&ua, na, sizeof na), HTTP_NAME_MAX);
    assert_int_equal(http_url_filename(&ub, nb, sizeof nb), HTTP_NAME_MAX);
    check_safe(na);
    check_safe(nb);
    assert_string_not_equal(na, nb);
    /* A small buffer bounds the name too. */
    char tiny[12];
    assert_int_equal(http_url_filename(&ua, tiny, sizeof tiny), 11);
    assert_null(strchr(tiny, '/'));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_filename),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
