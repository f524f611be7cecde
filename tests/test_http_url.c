/* Tests of libcorio-http's URLs (engine/http/url.c): parsing http and https URLs (schemes,
 * hosts, IPv6 literals, ports and their defaults, userinfo, what is refused and why), the
 * authority of a Host field, same-origin checks, resolving redirect Locations (absolute,
 * scheme-relative, absolute-path, query and relative references, dot segments), and the
 * file names corio-fetch -o saves under, which must never leave the directory: no '/', no
 * "." or "..", no leading dot, bounded length, distinct for long names that share a
 * prefix, never the userinfo. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <corio/http.h>

static void expect_url(const char *s, const char *host, unsigned port, const char *target)
{
    corio_http_url_t u;
    int rc = corio_http_url_parse(s, &u);
    if (rc != 0)
        fail_msg("%s: %s", s, corio_strerror(rc));
    assert_string_equal(u.host, host);
    assert_int_equal(u.port, port);
    if (u.target_len != strlen(target) || memcmp(u.target, target, u.target_len) != 0)
        fail_msg("%s: target '%.*s', expected '%s'", s, (int)u.target_len, u.target, target);
    assert_null(u.user);
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
    expect_url("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1", 80, "/");
    expect_url("http://h/%2e%2e/x", "h", 80, "/%2e%2e/x");
    corio_http_url_t u;
    assert_int_equal(corio_http_url_parse("http://[::1]/", &u), 0);
    assert_true(u.ipv6);
    assert_int_equal(u.scheme, CORIO_HTTP_SCHEME_HTTP);
    char auth[CORIO_HTTP_MAX_AUTHORITY];
    assert_int_equal(corio_http_url_authority(&u, auth, sizeof auth), 5);
    assert_string_equal(auth, "[::1]");
    assert_int_equal(corio_http_url_parse("http://h:81/", &u), 0);
    assert_false(u.ipv6);
    corio_http_url_authority(&u, auth, sizeof auth);
    assert_string_equal(auth, "h:81");
    assert_int_equal(corio_http_url_authority(&u, auth, 3), CORIO_HTTP_EURL);
    assert_int_equal(corio_http_url_authority(&u, auth, 4), CORIO_HTTP_EURL); /* no room for NUL */
    assert_int_equal(corio_http_url_authority(&u, auth, 5), 4);

    static const struct {
        const char *url;
        int err;
    } bad[] = {
        {"ftp://example.com/", CORIO_HTTP_EURL_SCHEME},
        {"httpx://example.com/", CORIO_HTTP_EURL_SCHEME},
        {"example.com/", CORIO_HTTP_EURL_SCHEME},
        {"//example.com/", CORIO_HTTP_EURL_SCHEME},
        {"1http://example.com/", CORIO_HTTP_EURL_SCHEME},
        {"", CORIO_HTTP_EURL_SCHEME},
        {"http:/x", CORIO_HTTP_EURL},
        {"https:x", CORIO_HTTP_EURL},
        {"http:///path", CORIO_HTTP_EURL},
        {"http://:80/", CORIO_HTTP_EURL},
        {"http://ho$t/", CORIO_HTTP_EURL},
        {"http://[::1/", CORIO_HTTP_EURL},
        {"http://[::g]/", CORIO_HTTP_EURL},
        {"http://[::1]x/", CORIO_HTTP_EURL},
        {"http://[1.2.3.4]/", CORIO_HTTP_EURL},    /* not IPv6 */
        {"http://[1:2:3]/", CORIO_HTTP_EURL},      /* too few groups */
        {"http://[::1%25eth0]/", CORIO_HTTP_EURL}, /* no zone identifiers */
        {"http://[]/", CORIO_HTTP_EURL},
        {"http://h:0/", CORIO_HTTP_EURL},
        {"http://h:65536/", CORIO_HTTP_EURL},
        {"http://h:/", CORIO_HTTP_EURL},
        {"http://h:8o/", CORIO_HTTP_EURL},
        {"http://h:123456/", CORIO_HTTP_EURL},
        {"http://h/a b", CORIO_HTTP_EURL},
        {"http://h/a\r\nX: y", CORIO_HTTP_EURL},
        {"http://h/a\x7f", CORIO_HTTP_EURL},
        {"http://h?q", CORIO_HTTP_EURL},
        {"https://h?q", CORIO_HTTP_EURL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = corio_http_url_parse(bad[i].url, &u);
        if (rc != bad[i].err)
            fail_msg("%s gave %d, expected %d", bad[i].url, rc, bad[i].err);
    }

    /* The longest URL accepted is CORIO_HTTP_MAX_URL bytes. */
    char *huge = malloc(CORIO_HTTP_MAX_URL + 64);
    assert_non_null(huge);
    strcpy(huge, "http://h/");
    memset(huge + 9, 'a', CORIO_HTTP_MAX_URL - 9);
    huge[CORIO_HTTP_MAX_URL] = '\0';
    assert_int_equal(corio_http_url_parse(huge, &u), 0);
    assert_int_equal(u.target_len, CORIO_HTTP_MAX_URL - 8);
    memset(huge + 9, 'a', CORIO_HTTP_MAX_URL);
    huge[CORIO_HTTP_MAX_URL + 9] = '\0';
    assert_int_equal(corio_http_url_parse(huge, &u), CORIO_HTTP_EURL);
    free(huge);

    /* A host of CORIO_HTTP_MAX_HOST bytes fits; one more does not. */
    char host_url[CORIO_HTTP_MAX_HOST + 32];
    strcpy(host_url, "http://");
    memset(host_url + 7, 'h', CORIO_HTTP_MAX_HOST);
    strcpy(host_url + 7 + CORIO_HTTP_MAX_HOST, "/");
    assert_int_equal(corio_http_url_parse(host_url, &u), 0);
    assert_int_equal(strlen(u.host), CORIO_HTTP_MAX_HOST);
    memset(host_url + 7, 'h', CORIO_HTTP_MAX_HOST + 1);
    strcpy(host_url + 8 + CORIO_HTTP_MAX_HOST, "/");
    assert_int_equal(corio_http_url_parse(host_url, &u), CORIO_HTTP_EURL);
}

static void test_https(void **state)
{
    (void)state;
    corio_http_url_t u;
    char auth[CORIO_HTTP_MAX_AUTHORITY];
    assert_int_equal(corio_http_url_parse("https://example.com/x?y", &u), 0);
    assert_int_equal(u.scheme, CORIO_HTTP_SCHEME_HTTPS);
    assert_int_equal(u.port, 443);
    assert_string_equal(u.host, "example.com");
    assert_int_equal(corio_http_url_authority(&u, auth, sizeof auth), 11);
    assert_string_equal(auth, "example.com"); /* 443 is https's default */
    assert_int_equal(corio_http_url_parse("HTTPS://[2001:db8::7]:8443", &u), 0);
    assert_int_equal(u.scheme, CORIO_HTTP_SCHEME_HTTPS);
    assert_true(u.ipv6);
    assert_int_equal(u.port, 8443);
    assert_int_equal(u.target_len, 1);
    corio_http_url_authority(&u, auth, sizeof auth);
    assert_string_equal(auth, "[2001:db8::7]:8443");
    /* Port 80 is no default for https, nor 443 for http. */
    assert_int_equal(corio_http_url_parse("https://h:80/", &u), 0);
    corio_http_url_authority(&u, auth, sizeof auth);
    assert_string_equal(auth, "h:80");
    assert_int_equal(corio_http_url_parse("http://h:443/", &u), 0);
    corio_http_url_authority(&u, auth, sizeof auth);
    assert_string_equal(auth, "h:443");
    /* The longest authority fits CORIO_HTTP_MAX_AUTHORITY. */
    char longest[CORIO_HTTP_MAX_HOST + 32];
    strcpy(longest, "https://");
    memset(longest + 8, 'x', CORIO_HTTP_MAX_HOST);
    strcpy(longest + 8 + CORIO_HTTP_MAX_HOST, ":65535/");
    assert_int_equal(corio_http_url_parse(longest, &u), 0);
    assert_int_equal(corio_http_url_authority(&u, auth, sizeof auth), CORIO_HTTP_MAX_HOST + 6);
}

static void test_userinfo(void **state)
{
    (void)state;
    corio_http_url_t u;
    const char *s = "http://al%20ice:p%40ss:w0rd@example.com:8080/p";
    assert_int_equal(corio_http_url_parse(s, &u), 0);
    assert_non_null(u.user);
    assert_int_equal(u.user_len, 8);
    assert_memory_equal(u.user, "al%20ice", 8); /* still percent-encoded */
    assert_non_null(u.password);
    assert_int_equal(u.password_len, strlen("p%40ss:w0rd")); /* the first ':' splits */
    assert_memory_equal(u.password, "p%40ss:w0rd", u.password_len);
    assert_string_equal(u.host, "example.com");
    assert_int_equal(u.port, 8080);
    assert_memory_equal(u.target, "/p", 2);
    /* Never put back: not in the authority, the file name, or a resolved URL. */
    char auth[CORIO_HTTP_MAX_AUTHORITY];
    corio_http_url_authority(&u, auth, sizeof auth);
    assert_string_equal(auth, "example.com:8080");
    char name[CORIO_HTTP_MAX_FILENAME + 1];
    corio_http_url_filename(&u, name, sizeof name);
    assert_string_equal(name, "example.com_8080_p");
    char out[256];
    assert_true(corio_http_url_resolve(&u, "/q", out, sizeof out) > 0);
    assert_string_equal(out, "http://example.com:8080/q");
    assert_true(corio_http_url_resolve(&u, "//other/q", out, sizeof out) > 0);
    assert_string_equal(out, "http://other/q");

    /* A user alone, an empty one, an empty password. */
    assert_int_equal(corio_http_url_parse("https://bob@h/", &u), 0);
    assert_int_equal(u.user_len, 3);
    assert_memory_equal(u.user, "bob", 3);
    assert_null(u.password);
    assert_int_equal(corio_http_url_parse("http://@h/", &u), 0);
    assert_non_null(u.user);
    assert_int_equal(u.user_len, 0);
    assert_null(u.password);
    assert_int_equal(corio_http_url_parse("http://u:@[::1]/", &u), 0);
    assert_int_equal(u.user_len, 1);
    assert_non_null(u.password);
    assert_int_equal(u.password_len, 0);
    assert_string_equal(u.host, "::1");
    /* An '@' in the path or query is not userinfo. */
    assert_int_equal(corio_http_url_parse("http://h/a@b?c@d", &u), 0);
    assert_null(u.user);
    assert_string_equal(u.host, "h");

    static const char *const bad[] = {
        "http://a@b@c/",       /* a second '@': the host would hold it */
        "http://us[er@h/",     /* not a userinfo character */
        "http://user%2@h/",    /* bad percent-encoding */
        "http://user%zz:p@h/", /* bad percent-encoding */
        "http://user@/",       /* no host */
        "http://user@:80/",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (corio_http_url_parse(bad[i], &u) != CORIO_HTTP_EURL)
            fail_msg("%s was not refused", bad[i]);
}

static bool same_origin(const char *a, const char *b)
{
    corio_http_url_t ua, ub;
    assert_int_equal(corio_http_url_parse(a, &ua), 0);
    assert_int_equal(corio_http_url_parse(b, &ub), 0);
    bool r = corio_http_url_same_origin(&ua, &ub);
    assert_true(corio_http_url_same_origin(&ub, &ua) == r); /* symmetric */
    return r;
}

static void test_same_origin(void **state)
{
    (void)state;
    assert_true(same_origin("http://h/a", "http://h/b?c"));
    assert_true(same_origin("http://Example.COM/", "HTTP://example.com:80/x"));
    assert_true(same_origin("https://h/", "https://h:443/"));
    assert_true(same_origin("http://u:p@h/", "http://h/")); /* userinfo is no part of it */
    assert_true(same_origin("http://[::1]:8080/", "http://[::1]:8080/x"));
    assert_false(same_origin("http://h/", "https://h/"));
    assert_false(same_origin("http://h:80/", "https://h:80/"));
    assert_false(same_origin("http://h/", "http://h:81/"));
    assert_false(same_origin("http://h/", "http://h.example/"));
    assert_false(same_origin("http://a.h/", "http://b.h/"));
    assert_false(same_origin("http://[::1]/", "http://[::2]/"));
}

static void expect_resolve(const char *base, const char *loc, const char *want)
{
    corio_http_url_t u;
    assert_int_equal(corio_http_url_parse(base, &u), 0);
    char out[CORIO_HTTP_MAX_URL + 1];
    int n = corio_http_url_resolve(&u, loc, out, sizeof out);
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

    corio_http_url_t u;
    assert_int_equal(corio_http_url_parse(b, &u), 0);
    char small[16];
    assert_int_equal(
        corio_http_url_resolve(&u, "/a-long-path-that-does-not-fit", small, sizeof small),
        CORIO_HTTP_EURL);
    char out[64];
    assert_int_equal(corio_http_url_resolve(&u, "", out, sizeof out), CORIO_HTTP_EURL);
    assert_int_equal(corio_http_url_resolve(&u, "#only-a-fragment", out, sizeof out),
                     CORIO_HTTP_EURL);
    assert_int_equal(corio_http_url_resolve(&u, "http://far/", out, 0), CORIO_HTTP_EURL);

    /* An https base: relative references and "//" keep https, and its default port. */
    expect_resolve("https://h/a/b", "c", "https://h/a/c");
    expect_resolve("https://h:443/a/b", "/c", "https://h/c");
    expect_resolve("https://h:8443/a", "?q", "https://h:8443/a?q");
    expect_resolve("https://h/a", "//other/x", "https://other/x");
    expect_resolve("https://h/a", "http://plain/x", "http://plain/x");
}

/* A name that is safe to create inside a directory. */
static void check_safe(const char *name)
{
    size_t n = strlen(name);
    assert_true(n > 0 && n <= CORIO_HTTP_MAX_FILENAME);
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
    corio_http_url_t u;
    assert_int_equal(corio_http_url_parse(url, &u), 0);
    char name[CORIO_HTTP_MAX_FILENAME + 1];
    size_t n = corio_http_url_filename(&u, name, sizeof name);
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
    expect_name("https://h/x", "h_x"); /* 443 is https's default */
    expect_name("https://h:80/x", "h_80_x");
    expect_name("http://h:443/", "h_443_index");
    expect_name("http://user:secret@h/x", "h_x"); /* never the userinfo */
    expect_name("http://..../x", NULL);
    expect_name("http://h/\xc3\xa9t\xc3\xa9", "h___t__index");

    /* Long names are cut to CORIO_HTTP_MAX_FILENAME and stay distinct. */
    char a[3000], b[3000];
    strcpy(a, "http://h/");
    memset(a + 9, 'x', 2000);
    strcpy(a + 2009, "/one");
    strcpy(b, a);
    strcpy(b + 2009, "/two");
    corio_http_url_t ua, ub;
    assert_int_equal(corio_http_url_parse(a, &ua), 0);
    assert_int_equal(corio_http_url_parse(b, &ub), 0);
    char na[CORIO_HTTP_MAX_FILENAME + 1], nb[CORIO_HTTP_MAX_FILENAME + 1];
    assert_int_equal(corio_http_url_filename(&ua, na, sizeof na), CORIO_HTTP_MAX_FILENAME);
    assert_int_equal(corio_http_url_filename(&ub, nb, sizeof nb), CORIO_HTTP_MAX_FILENAME);
    check_safe(na);
    check_safe(nb);
    assert_string_not_equal(na, nb);
    /* A small buffer bounds the name too. */
    char tiny[12];
    assert_int_equal(corio_http_url_filename(&ua, tiny, sizeof tiny), 11);
    assert_null(strchr(tiny, '/'));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),    cmocka_unit_test(test_https),
        cmocka_unit_test(test_userinfo), cmocka_unit_test(test_same_origin),
        cmocka_unit_test(test_resolve),  cmocka_unit_test(test_filename),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
