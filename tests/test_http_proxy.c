/* Tests of the HTTP client's proxies (engine/http/proxy.c and its hooks in client.c and
 * pool.c): proxy URLs parsed into hosts and Basic credentials, hostile ones refused with
 * a reason that never repeats the password; curl's no_proxy matching; the environment
 * read as curl reads it; the client's options; the round-robin pick with back-off; and,
 * against scripted proxies that are tasks of the client's loop on 127.0.0.1, the
 * absolute-form request with Proxy-Authorization, the CONNECT tunnel with TLS inside it
 * (with the tls_certs fixture's certificates), CONNECT refusals as errors naming the
 * proxy, a 407 to plain http, credentials kept from a direct origin after a redirect,
 * and requests moving off a dead proxy, which is taken out and comes back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <corio/http.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "http/proxy.h"
#include "support.h"

#define MS        1000000ull
#define MAX_CONNS 32
#define MAX_HEADS 32

static const char *certs;   /* CORIO_TEST_CERTS, or NULL: the TLS case is skipped */
static const char *ca_file; /* its ca.pem */

/* ---- proxy URLs -------------------------------------------------------------------------- */

/* Parses s, which must be good; the caller clears px. */
static void parse_ok(const char *s, struct hc_proxy *px)
{
    char why[300] = "";
    int rc = hc_proxy_parse(s, px, why, sizeof why);
    if (rc != 0)
        fail_msg("hc_proxy_parse(\"%s\") = %d: %s", s, rc, why);
}

/* s must be refused with rc and a reason holding want; never holding the secret. */
static void parse_bad(const char *s, int rc, const char *want)
{
    char why[300] = "";
    struct hc_proxy px;
    int got = hc_proxy_parse(s, &px, why, sizeof why);
    hc_proxy_clear(&px);
    if (got != rc)
        fail_msg("hc_proxy_parse(\"%.80s\") = %d, expected %d (%s)", s, got, rc, why);
    if (strstr(why, want) == NULL)
        fail_msg("hc_proxy_parse(\"%.80s\"): \"%s\" does not say \"%s\"", s, why, want);
    assert_null(strstr(why, "s3cret"));
    /* The public check says the same. */
    char why2[300] = "";
    assert_int_equal(corio_http_proxy_check(s, why2, sizeof why2), rc);
    assert_string_equal(why, why2);
}

static void test_proxy_urls_parse_into_host_port_and_basic_credentials(void **state)
{
    (void)state;
    struct hc_proxy px;
    parse_ok("http://127.0.0.1:3128", &px);
    assert_string_equal(px.host, "127.0.0.1");
    assert_int_equal(px.port, 3128);
    assert_null(px.auth);
    assert_string_equal(px.label, "http://127.0.0.1:3128");
    hc_proxy_clear(&px);

    parse_ok("HTTP://Proxy.Example:8080/", &px);
    assert_string_equal(px.host, "Proxy.Example");
    assert_int_equal(px.port, 8080);
    hc_proxy_clear(&px);

    parse_ok("proxy.example", &px); /* curl's defaults: http, port 1080 */
    assert_int_equal(px.port, 1080);
    assert_string_equal(px.label, "http://proxy.example:1080");
    hc_proxy_clear(&px);

    parse_ok("127.0.0.1:3128", &px);
    assert_string_equal(px.label, "http://127.0.0.1:3128");
    hc_proxy_clear(&px);

    parse_ok("http://[::1]:3128", &px);
    assert_true(px.ipv6);
    assert_string_equal(px.host, "::1");
    assert_string_equal(px.label, "http://[::1]:3128");
    hc_proxy_clear(&px);

    parse_ok("http://alice:s3cret@proxy:1", &px);
    assert_string_equal(px.auth, "Basic YWxpY2U6czNjcmV0");
    assert_int_equal(px.auth_len, strlen(px.auth));
    assert_string_equal(px.label, "http://proxy:1"); /* never the credentials */
    hc_proxy_clear(&px);
    assert_null(px.auth);

    parse_ok("http://al%69ce:p%40ss%3Aword@proxy:1", &px); /* decoded: alice:p@ss:word */
    assert_string_equal(px.auth, "Basic YWxpY2U6cEBzczp3b3Jk");
    hc_proxy_clear(&px);

    parse_ok("http://bob@proxy:1", &px); /* no password: "bob:" */
    assert_string_equal(px.auth, "Basic Ym9iOg==");
    hc_proxy_clear(&px);
}

static void test_other_proxy_schemes_are_refused_with_a_reason(void **state)
{
    (void)state;
    parse_bad("https://proxy:443", -EOPNOTSUPP, "https:// proxies");
    parse_bad("socks5://proxy:1080", -EOPNOTSUPP, "SOCKS");
    parse_bad("socks5h://proxy:1080", -EOPNOTSUPP, "SOCKS");
    parse_bad("socks4://proxy:1080", -EOPNOTSUPP, "SOCKS");
    parse_bad("ftp://proxy:21", -EINVAL, "not ftp://");
    parse_bad("://proxy:1", -EINVAL, "starts with http://");
}

static void test_hostile_proxy_urls_are_refused_without_repeating_them(void **state)
{
    (void)state;
    parse_bad("", -EINVAL, "empty");
    parse_bad(NULL, -EINVAL, "empty");
    parse_bad("http://alice:s3cret\r\nX-Injected: 1@proxy:1", -EINVAL, "control character");
    parse_bad("http://alice:s3cret\n@proxy:1", -EINVAL, "control character");
    parse_bad("http://alice:s3 cret@proxy:1", -EINVAL, "space");
    parse_bad("http://alice:s3cret%0d%0aX:1@proxy:1", -EINVAL, "control character");
    parse_bad("http://al%00ice:s3cret@proxy:1", -EINVAL, "control character");
    parse_bad("http://al%7fice:s3cret@proxy:1", -EINVAL, "control character");
    parse_bad("http://al%3Aice:s3cret@proxy:1", -EINVAL, "':'");
    parse_bad("http://alice:s3cret%zz@proxy:1", -EINVAL, "malformed");
    parse_bad("http://alice:s3cret@@proxy:1", -EINVAL, "malformed");
    static const char *const ports[] = {"0", "65536", "99999", "", "12a", "-1", "123456", "+80"};
    for (size_t i = 0; i < sizeof ports / sizeof ports[0]; i++) {
        char url[64];
        snprintf(url, sizeof url, "http://alice:s3cret@proxy:%s", ports[i]);
        parse_bad(url, -EINVAL, "port must be a number from 1 to 65535");
    }
    parse_bad("http://[::1]:0", -EINVAL, "port");
    parse_bad("http://[::1]x", -EINVAL, "malformed");
    parse_bad("http://[::zz]:1", -EINVAL, "malformed");
    parse_bad("http://proxy:1/path", -EINVAL, "no path or query");
    parse_bad("http://proxy:1/?q", -EINVAL, "no path or query");
    parse_bad("http://proxy:1?q", -EINVAL, "malformed");
    parse_bad("http://", -EINVAL, "malformed");
    parse_bad("http://pr\xffoxy:1", -EINVAL, "malformed");
    parse_bad("http://pro^xy:1", -EINVAL, "malformed");

    char *big = malloc(4000);
    assert_non_null(big);
    memset(big, 'a', 3999);
    big[3999] = '\0';
    memcpy(big, "http://", 7);
    parse_bad(big, -EINVAL, "longer than 2048 bytes");
    /* A host past CORIO_HTTP_MAX_HOST, and credentials past 255 bytes decoded. */
    snprintf(big, 4000, "http://%0300d:1", 7);
    parse_bad(big, -EINVAL, "malformed");
    int n = snprintf(big, 4000, "http://alice:");
    memset(big + n, 's', 256);
    snprintf(big + n + 256, 4000 - (size_t)n - 256, "@proxy:1");
    parse_bad(big, -EINVAL, "longer than 255 bytes");
    n = snprintf(big, 4000, "http://alice:");
    for (int i = 0; i < 300; i++)
        n += snprintf(big + n, 4000 - (size_t)n, "%%41");
    snprintf(big + n, 4000 - (size_t)n, "@proxy:1");
    parse_bad(big, -EINVAL, "longer than 255 bytes");
    free(big);

    /* A reason cut to a small buffer, or no buffer at all. */
    char tiny[8];
    assert_int_equal(corio_http_proxy_check("socks5://x", tiny, sizeof tiny), -EOPNOTSUPP);
    assert_int_equal(strlen(tiny), 7);
    assert_int_equal(corio_http_proxy_check("http://x:0", NULL, 0), -EINVAL);
    assert_int_equal(corio_http_proxy_check("http://x:1", NULL, 0), 0);
    assert_int_equal(corio_http_proxy_check("http://:@x:1", NULL, 0), 0); /* empty both */
}

/* ---- no_proxy --------------------------------------------------------------------------- */

static void expect_np(const char *list, const char *host, uint16_t port, bool want)
{
    if (hc_no_proxy_match(list, host, port) != want)
        fail_msg("no_proxy \"%s\" for %s port %u: expected %s", list ? list : "(null)", host,
                 (unsigned)port, want ? "a match" : "no match");
}

static void test_no_proxy_matches_as_curl_does(void **state)
{
    (void)state;
    /* A name: itself and below it, case-insensitive, dots around it not counting. */
    for (const char *const *l =
             (const char *const[]){"example.com", ".example.com", "EXAMPLE.com.", NULL};
         *l != NULL; l++) {
        expect_np(*l, "example.com", 80, true);
        expect_np(*l, "www.example.com", 80, true);
        expect_np(*l, "a.b.EXAMPLE.COM", 443, true);
        expect_np(*l, "example.com.", 80, true);
        expect_np(*l, "nonexample.com", 80, false);
        expect_np(*l, "example.com.evil", 80, false);
        expect_np(*l, "com", 80, false);
        expect_np(*l, "example.org", 80, false);
    }
    /* "*": everything. */
    expect_np("*", "anything.example", 80, true);
    expect_np("*", "10.1.2.3", 80, true);
    expect_np(" a.example, * ", "b.example", 80, true);
    /* Lists: commas and white space. */
    expect_np(" a.example ,\tb.org,,c.net ", "x.b.org", 80, true);
    expect_np(" a.example ,\tb.org,,c.net ", "c.net", 80, true);
    expect_np(" a.example ,\tb.org,,c.net ", "d.net", 80, false);
    expect_np("a.example b.org", "b.org", 80, true);
    /* Addresses, compared as addresses; names and addresses never match each other. */
    expect_np("localhost,127.0.0.1,::1", "127.0.0.1", 80, true);
    expect_np("localhost,127.0.0.1,::1", "127.0.0.2", 80, false);
    expect_np("localhost,127.0.0.1,::1", "::1", 80, true);
    expect_np("localhost,127.0.0.1,::1", "[::1]", 80, true);
    expect_np("localhost,127.0.0.1,::1", "0:0:0:0:0:0:0:1", 80, true);
    expect_np("localhost,127.0.0.1,::1", "localhost", 80, true);
    expect_np("127.0.0.1", "localhost", 80, false);
    expect_np("localhost", "127.0.0.1", 80, false);
    expect_np("[::1]", "::1", 80, true);
    expect_np("0.1", "10.0.0.1", 80, false); /* no suffix matching for addresses */
    /* CIDR ranges. */
    expect_np("10.0.0.0/8", "10.1.2.3", 80, true);
    expect_np("10.0.0.0/8", "11.0.0.1", 80, false);
    expect_np("192.168.1.0/24", "192.168.1.255", 80, true);
    expect_np("192.168.1.0/24", "192.168.2.1", 80, false);
    expect_np("192.168.1.128/25", "192.168.1.127", 80, false);
    expect_np("0.0.0.0/0", "203.0.113.9", 80, true);
    expect_np("0.0.0.0/0", "name.example", 80, false);
    expect_np("fe80::/10", "fe80::1", 80, true);
    expect_np("fe80::/10", "fec0::1", 80, false);
    expect_np("10.0.0.0/33", "10.0.0.1", 80, false);
    expect_np("10.0.0.0/", "10.0.0.1", 80, false);
    expect_np("10.0.0.0/x", "10.0.0.1", 80, false);
    expect_np("10.0.0.0/8", "::ffff:10.0.0.1", 80, false); /* another family */
    /* ":port": that port only. */
    expect_np("localhost:8080", "localhost", 8080, true);
    expect_np("localhost:8080", "localhost", 8081, false);
    expect_np("127.0.0.1:8080", "127.0.0.1", 8080, true);
    expect_np("127.0.0.1:8080", "127.0.0.1", 80, false);
    expect_np("[::1]:8443", "::1", 8443, true);
    expect_np("[::1]:8443", "::1", 443, false);
    expect_np("localhost:", "localhost", 80, false);
    expect_np("localhost:99999", "localhost", 80, false);
    /* Nothing, and things that are no entry at all. */
    expect_np(NULL, "example.com", 80, false);
    expect_np("", "example.com", 80, false);
    expect_np(",,, ", "example.com", 80, false);
    expect_np(".", "example.com", 80, false);
    expect_np("[", "example.com", 80, false);
    expect_np("[::1", "::1", 80, false);
    expect_np("example.com", "", 80, false);
    char *big = malloc(20000);
    assert_non_null(big);
    memset(big, 'a', 19999);
    big[19999] = '\0';
    expect_np(big, "example.com", 80, false);
    expect_np(big, "10.0.0.1", 80, false);
    free(big);
}

/* ---- the environment and the options ------------------------------------------------------ */

static void clear_env(void)
{
    static const char *const names[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                                        "all_proxy",  "ALL_PROXY",  "no_proxy",    "NO_PROXY"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        unsetenv(names[i]);
}

static void test_the_environment_is_read_as_curl_reads_it(void **state)
{
    (void)state;
    clear_env();
    corio_http_client_opts_t o = {0};
    assert_int_equal(corio_http_client_proxy_env(&o), 0);
    assert_null(o.http_proxy);
    /* HTTP_PROXY is never read (a CGI program's comes from the request's Proxy field). */
    setenv("HTTP_PROXY", "http://upper:1", 1);
    assert_int_equal(corio_http_client_proxy_env(&o), 0);
    assert_null(o.http_proxy);
    setenv("http_proxy", "http://lower:1", 1);
    setenv("HTTPS_PROXY", "http://secure:2", 1);
    setenv("NO_PROXY", "internal.example", 1);
    assert_int_equal(corio_http_client_proxy_env(&o), 3);
    assert_string_equal(o.http_proxy, "http://lower:1");
    assert_string_equal(o.https_proxy, "http://secure:2");
    assert_string_equal(o.no_proxy, "internal.example");
    /* Lowercase first; set fields are kept. */
    setenv("https_proxy", "http://secure-lower:2", 1);
    setenv("no_proxy", "lower.example", 1);
    o = (corio_http_client_opts_t){.http_proxy = "http://mine:1"};
    assert_int_equal(corio_http_client_proxy_env(&o), 2);
    assert_string_equal(o.http_proxy, "http://mine:1");
    assert_string_equal(o.https_proxy, "http://secure-lower:2");
    assert_string_equal(o.no_proxy, "lower.example");
    /* all_proxy for a scheme without its own; empty values count as unset. */
    clear_env();
    setenv("ALL_PROXY", "http://all:3", 1);
    setenv("http_proxy", "", 1);
    setenv("no_proxy", "", 1);
    o = (corio_http_client_opts_t){0};
    assert_int_equal(corio_http_client_proxy_env(&o), 2);
    assert_string_equal(o.http_proxy, "http://all:3");
    assert_string_equal(o.https_proxy, "http://all:3");
    assert_null(o.no_proxy);
    clear_env();
    assert_int_equal(corio_http_client_proxy_env(NULL), 0);
}

static corio_http_proxy_stats_t pstats(const corio_http_client_t *c, size_t i)
{
    corio_http_proxy_stats_t st;
    assert_int_equal(corio_http_client_proxy_stats(c, i, &st), 0);
    return st;
}

static void test_the_client_takes_proxy_options_and_refuses_bad_ones(void **state)
{
    (void)state;
    corio_http_client_t *c;
    corio_http_client_opts_t o = {.proxy = "http://alice:s3cret@127.0.0.1:3128"};
    assert_int_equal(corio_http_client_new(&c, &o), 0);
    corio_http_proxy_stats_t st = pstats(c, 0);
    assert_string_equal(st.url, "http://127.0.0.1:3128");
    assert_true(st.http && st.https);
    assert_int_equal(st.requests, 0);
    assert_int_equal(corio_http_client_proxy_stats(c, 1, &st), -ENOENT);
    corio_http_client_free(c);

    /* The same proxy for both schemes is one entry; different ones are two. */
    o = (corio_http_client_opts_t){.http_proxy = "http://p:1", .https_proxy = "p:1"};
    assert_int_equal(corio_http_client_new(&c, &o), 0);
    st = pstats(c, 0);
    assert_true(st.http && st.https);
    assert_int_equal(corio_http_client_proxy_stats(c, 1, &st), -ENOENT);
    corio_http_client_free(c);
    o = (corio_http_client_opts_t){.http_proxy = "http://p:1", .https_proxy = "http://q:1"};
    assert_int_equal(corio_http_client_new(&c, &o), 0);
    st = pstats(c, 0);
    assert_true(st.http && !st.https);
    st = pstats(c, 1);
    assert_true(!st.http && st.https);
    assert_string_equal(st.url, "http://q:1");
    corio_http_client_free(c);
    /* Same address, other credentials: two entries. */
    const char *const list[] = {"http://a:1@p:1", "http://b:1@p:1", "http://a:1@p:1"};
    o = (corio_http_client_opts_t){.proxies = list, .nproxies = 3};
    assert_int_equal(corio_http_client_new(&c, &o), 0);
    pstats(c, 1);
    assert_int_equal(corio_http_client_proxy_stats(c, 2, &st), -ENOENT);
    corio_http_client_free(c);
    /* No proxy: no entries; "" is none too. */
    o = (corio_http_client_opts_t){.proxy = "", .no_proxy = "x"};
    assert_int_equal(corio_http_client_new(&c, &o), 0);
    assert_int_equal(corio_http_client_proxy_stats(c, 0, &st), -ENOENT);
    assert_int_equal(corio_http_client_proxy_stats(NULL, 0, &st), -ENOENT);
    corio_http_client_free(c);

    c = NULL;
    o = (corio_http_client_opts_t){.proxy = "http://p:0"};
    assert_int_equal(corio_http_client_new(&c, &o), -EINVAL);
    assert_null(c);
    o = (corio_http_client_opts_t){.https_proxy = "https://p:1"};
    assert_int_equal(corio_http_client_new(&c, &o), -EOPNOTSUPP);
    o = (corio_http_client_opts_t){.nproxies = 2};
    assert_int_equal(corio_http_client_new(&c, &o), -EINVAL);
    const char *const with_null[] = {"http://p:1", NULL};
    o = (corio_http_client_opts_t){.proxies = with_null, .nproxies = 2};
    assert_int_equal(corio_http_client_new(&c, &o), -EINVAL);
    const char *const with_bad[] = {"http://p:1", "http://a:s3cret\r\n@p:1"};
    o = (corio_http_client_opts_t){.proxies = with_bad, .nproxies = 2};
    assert_int_equal(corio_http_client_new(&c, &o), -EINVAL);
    assert_null(c);
}

/* ---- picking and back-off ------------------------------------------------------------------ */

static corio_http_url_t url(const char *s)
{
    static char keep[8][256];
    static unsigned next;
    char *k = keep[next++ % 8];
    snprintf(k, sizeof keep[0], "%s", s);
    corio_http_url_t u;
    assert_int_equal(corio_http_url_parse(k, &u), 0);
    return u;
}

static void test_picks_rotate_skip_a_proxy_taken_out_and_honour_no_proxy(void **state)
{
    (void)state;
    const char *const list[] = {"http://p0:1", "http://p1:1", "http://p2:1"};
    corio_http_client_opts_t o = {.proxies = list,
                                  .nproxies = 3,
                                  .no_proxy = "direct.example",
                                  .proxy_max_failures = 2,
                                  .proxy_backoff_ns = 3600 * 1000 * MS};
    corio_http_client_t *c;
    assert_int_equal(corio_http_client_new(&c, &o), 0);
    struct hc_proxy *v = c->proxies->v;
    corio_http_url_t a = url("http://a.example/"), s = url("https://a.example/");
    assert_ptr_equal(hc_proxy_pick(c, &a, NULL), &v[0]);
    assert_ptr_equal(hc_proxy_pick(c, &a, NULL), &v[1]);
    assert_ptr_equal(hc_proxy_pick(c, &s, NULL), &v[0]); /* a turn per scheme */
    assert_ptr_equal(hc_proxy_pick(c, &a, NULL), &v[2]);
    assert_ptr_equal(hc_proxy_pick(c, &a, NULL), &v[0]);
    corio_http_url_t d = url("http://www.direct.example/");
    assert_null(hc_proxy_pick(c, &d, NULL));
    /* Avoiding the one that just failed. */
    assert_ptr_equal(hc_proxy_pick(c, &a, &v[1]), &v[2]);

    /* Two failures in a row take p1 out; a success between them would not. */
    char why[300];
    assert_int_equal(hc_proxy_unreachable(c, &v[1], -ECONNREFUSED, why, sizeof why), -ECONNREFUSED);
    assert_string_equal(why, "proxy http://p1:1 refused the connection");
    assert_false(pstats(c, 1).out);
    assert_int_equal(hc_proxy_unreachable(c, &v[1], CORIO_ENONAME, why, sizeof why), CORIO_ENONAME);
    assert_non_null(strstr(why, "cannot resolve proxy http://p1:1"));
    corio_http_proxy_stats_t st = pstats(c, 1);
    assert_true(st.out);
    assert_int_equal(st.backoffs, 1);
    assert_int_equal(st.conn_failures, 2);
    assert_int_equal(st.failures_in_row, 2);
    for (int i = 0; i < 6; i++)
        assert_ptr_not_equal(hc_proxy_pick(c, &a, NULL), &v[1]);
    /* Failing again while out does not count another back-off; a cancel is no failure. */
    hc_proxy_unreachable(c, &v[1], -ETIMEDOUT, why, sizeof why);
    assert_non_null(strstr(why, "cannot connect to proxy http://p1:1"));
    hc_proxy_unreachable(c, &v[1], -ECANCELED, why, sizeof why);
    st = pstats(c, 1);
    assert_int_equal(st.backoffs, 1);
    assert_int_equal(st.conn_failures, 3);

    /* All out: the one back soonest (the clock is coarse: their ends are set apart). */
    hc_proxy_unreachable(c, &v[0], -ECONNREFUSED, why, sizeof why);
    hc_proxy_unreachable(c, &v[0], -ECONNREFUSED, why, sizeof why);
    hc_proxy_unreachable(c, &v[2], -ECONNREFUSED, why, sizeof why);
    assert_ptr_equal(hc_proxy_pick(c, &a, NULL), &v[2]);  /* the one still in */
    assert_ptr_equal(hc_proxy_pick(c, &a, &v[2]), &v[2]); /* even if it is to be avoided */
    hc_proxy_unreachable(c, &v[2], -ECONNREFUSED, why, sizeof why);
    assert_true(pstats(c, 0).out && pstats(c, 1).out && pstats(c, 2).out);
    v[0].out_until = v[2].out_until = v[1].out_until + 1000;
    assert_ptr_equal(hc_proxy_pick(c, &a, NULL), &v[1]);
    assert_ptr_equal(hc_proxy_pick(c, &a, NULL), &v[1]);
    /* Moves: only for connection errors, fewer than the proxies of the scheme. */
    unsigned moves = 0;
    assert_true(hc_proxy_move(c, &v[0], false, -ECONNREFUSED, &moves));
    assert_true(hc_proxy_move(c, &v[0], false, -ECONNRESET, &moves));
    assert_false(hc_proxy_move(c, &v[0], false, -ECONNREFUSED, &moves));
    moves = 0;
    assert_false(hc_proxy_move(c, &v[0], false, -ETIMEDOUT, &moves));
    assert_false(hc_proxy_move(c, &v[0], false, CORIO_HTTP_EPROXY, &moves));
    assert_false(hc_proxy_move(c, NULL, false, -ECONNREFUSED, &moves));
    corio_http_client_free(c);

    /* A scheme without a proxy goes directly. */
    o = (corio_http_client_opts_t){.http_proxy = "http://p:1"};
    assert_int_equal(corio_http_client_new(&c, &o), 0);
    assert_null(hc_proxy_pick(c, &s, NULL));
    assert_non_null(hc_proxy_pick(c, &a, NULL));
    corio_http_client_free(c);
}

/* ---- scripted proxies ------------------------------------------------------------------------ */

struct peer;

/* Answers the request head (NUL-terminated) read on fd; the connection is closed after. */
typedef void (*respond_fn)(struct peer *p, int fd, const char *head);

struct peer {
    int lfd;
    uint16_t port;
    respond_fn respond;
    const char *answer; /* for respond_fixed */
    unsigned accepts, nheads;
    char *heads[MAX_HEADS]; /* every request head read, in order (a tunnel's inner one too) */
    corio_task_t *acceptor, *conns[MAX_CONNS];
    int fds[MAX_CONNS];
    corio_tls_ctx_t *tls; /* for respond_tunnel */
};

/* Reads a head ending in an empty line from fd (through t when not NULL). */
static char *read_head(int fd, corio_tls_t *t)
{
    size_t cap = 16384, len = 0;
    char *buf = malloc(cap + 1);
    assert_non_null(buf);
    for (;;) {
        ssize_t n = t != NULL ? corio_tls_read(t, buf + len, cap - len)
                              : corio_recv(fd, buf + len, cap - len, 0);
        if (n <= 0) {
            free(buf);
            return NULL;
        }
        len += (size_t)n;
        buf[len] = '\0';
        if (strstr(buf, "\r\n\r\n") != NULL)
            return buf;
        assert_true(len < cap);
    }
}

static void record(struct peer *p, char *head)
{
    assert_true(p->nheads < MAX_HEADS);
    p->heads[p->nheads++] = head;
}

static void send_all(int fd, const char *s)
{
    size_t len = strlen(s);
    while (len > 0) {
        ssize_t n = corio_send(fd, s, len, 0);
        if (n <= 0)
            return;
        s += n;
        len -= (size_t)n;
    }
}

struct pconn {
    struct peer *p;
    int fd;
};

static void *conn_main(void *arg)
{
    struct pconn *pc = arg;
    char *head = read_head(pc->fd, NULL);
    if (head != NULL) {
        record(pc->p, head);
        pc->p->respond(pc->p, pc->fd, head);
    }
    close(pc->fd);
    free(pc);
    return NULL;
}

static void *acceptor_main(void *arg)
{
    struct peer *p = arg;
    for (;;) {
        int fd = corio_accept(p->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            return NULL;
        assert_true(p->accepts < MAX_CONNS);
        struct pconn *pc = malloc(sizeof *pc);
        assert_non_null(pc);
        *pc = (struct pconn){p, fd};
        assert_int_equal(corio_spawn(NULL, conn_main, pc, &p->conns[p->accepts++]), 0);
    }
}

static struct peer *peer_new(respond_fn respond, const char *answer)
{
    struct peer *p = calloc(1, sizeof *p);
    assert_non_null(p);
    p->respond = respond;
    p->answer = answer;
    p->lfd = corio_listen("127.0.0.1", 0, 64);
    assert_true(p->lfd >= 0);
    p->port = (uint16_t)corio_sock_port(p->lfd);
    assert_int_equal(corio_spawn(NULL, acceptor_main, p, &p->acceptor), 0);
    return p;
}

static void peer_stop(struct peer *p)
{
    corio_cancel(p->acceptor);
    corio_join(p->acceptor, NULL);
    for (unsigned i = 0; i < p->accepts; i++) {
        corio_cancel(p->conns[i]);
        corio_join(p->conns[i], NULL);
    }
    close(p->lfd);
    for (unsigned i = 0; i < p->nheads; i++)
        free(p->heads[i]);
    corio_tls_ctx_free(p->tls);
    free(p);
}

static void respond_fixed(struct peer *p, int fd, const char *head)
{
    (void)head;
    send_all(fd, p->answer);
}

/* Whether head has the field line "Name: value" (exactly). */
static bool has_line(const char *head, const char *line)
{
    size_t n = strlen(line);
    for (const char *at = strstr(head, "\r\n"); at != NULL; at = strstr(at + 2, "\r\n"))
        if (strncasecmp(at + 2, line, n) == 0 && at[2 + n] == '\r')
            return true;
    return false;
}

static bool has_field(const char *head, const char *name)
{
    size_t n = strlen(name);
    for (const char *at = strstr(head, "\r\n"); at != NULL; at = strstr(at + 2, "\r\n"))
        if (strncasecmp(at + 2, name, n) == 0 && at[2 + n] == ':')
            return true;
    return false;
}

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

#define TASK_TEST(name)                                                                            \
    static void *name##_task(void *arg);                                                           \
    static void name(void **state)                                                                 \
    {                                                                                              \
        (void)state;                                                                               \
        support_run(name##_task, NULL);                                                            \
    }                                                                                              \
    static void *name##_task(void *arg __attribute__((unused)))

#define OK_CLOSE "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"

static int get(corio_http_client_t *c, const char *u, corio_http_client_resp_t *r)
{
    corio_http_client_req_t req = {.url = u};
    return corio_http_client_do(c, &req, r);
}

static corio_http_client_t *client_via(const char *proxy, const char *no_proxy)
{
    corio_http_client_opts_t o = {
        .proxy = proxy, .no_proxy = no_proxy, .ca_file = ca_file, .timeout_ns = 10000 * MS};
    corio_http_client_t *c;
    assert_int_equal(corio_http_client_new(&c, &o), 0);
    return c;
}

TASK_TEST(test_http_goes_to_the_proxy_in_absolute_form_with_proxy_authorization)
{
    struct peer *px = peer_new(respond_fixed, OK_CLOSE);
    uint16_t origin = support_refused_port(); /* the client never connects there itself */
    char pu[128], u[128], line[256], host[64];
    snprintf(pu, sizeof pu, "http://alice:s3cret@127.0.0.1:%u", (unsigned)px->port);
    snprintf(u, sizeof u, "http://127.0.0.1:%u/p?q=1", (unsigned)origin);
    corio_http_client_t *c = client_via(pu, NULL);
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    assert_int_equal(get(c, u, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello");
    assert_int_equal(px->nheads, 1);
    const char *h = px->heads[0];
    snprintf(line, sizeof line, "GET http://127.0.0.1:%u/p?q=1 HTTP/1.1\r\n", (unsigned)origin);
    if (!starts(h, line))
        fail_msg("the proxy got: %s", h);
    snprintf(host, sizeof host, "Host: 127.0.0.1:%u", (unsigned)origin);
    assert_true(has_line(h, host));
    assert_true(has_line(h, "Proxy-Authorization: Basic YWxpY2U6czNjcmV0"));
    assert_false(has_field(h, "authorization"));
    corio_http_proxy_stats_t st = pstats(c, 0);
    assert_int_equal(st.requests, 1);
    assert_int_equal(st.errors, 0);
    /* Without credentials, no Proxy-Authorization. */
    corio_http_client_free(c);
    snprintf(pu, sizeof pu, "http://127.0.0.1:%u", (unsigned)px->port);
    c = client_via(pu, NULL);
    assert_int_equal(get(c, u, &r), 0);
    assert_int_equal(px->nheads, 2);
    assert_false(has_field(px->heads[1], "proxy-authorization"));
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    peer_stop(px);
    return NULL;
}

/* The proxy redirects to an origin that no_proxy names: reached directly, in origin form,
 * without the proxy's credentials. */
static uint16_t direct_port;
static void respond_redirect(struct peer *p, int fd, const char *head)
{
    (void)p, (void)head;
    char resp[256];
    snprintf(resp, sizeof resp,
             "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:%u/next\r\nContent-Length: "
             "0\r\nConnection: close\r\n\r\n",
             (unsigned)direct_port);
    send_all(fd, resp);
}

TASK_TEST(test_a_redirect_to_a_no_proxy_origin_goes_direct_without_the_proxy_credentials)
{
    struct peer *px = peer_new(respond_redirect, NULL);
    struct peer *direct = peer_new(respond_fixed, OK_CLOSE);
    direct_port = direct->port;
    char pu[128], np[64], u[128];
    snprintf(pu, sizeof pu, "http://alice:s3cret@127.0.0.1:%u", (unsigned)px->port);
    snprintf(np, sizeof np, "example.org, 127.0.0.1:%u", (unsigned)direct->port);
    snprintf(u, sizeof u, "http://127.0.0.1:%u/start", (unsigned)support_refused_port());
    corio_http_client_opts_t o = {.proxy = pu, .no_proxy = np, .flags = CORIO_HTTP_FOLLOW};
    corio_http_client_t *c;
    assert_int_equal(corio_http_client_new(&c, &o), 0);
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    assert_int_equal(get(c, u, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.redirects, 1);
    assert_int_equal(px->nheads, 1);
    assert_true(has_field(px->heads[0], "proxy-authorization"));
    assert_int_equal(direct->nheads, 1);
    if (!starts(direct->heads[0], "GET /next HTTP/1.1\r\n"))
        fail_msg("the direct origin got: %s", direct->heads[0]);
    assert_false(has_field(direct->heads[0], "proxy-authorization"));
    assert_null(strstr(direct->heads[0], "YWxpY2U6czNjcmV0"));
    assert_int_equal(pstats(c, 0).requests, 1); /* the direct attempt is not the proxy's */
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    peer_stop(direct);
    peer_stop(px);
    return NULL;
}

/* A proxy that opens the tunnel and is, inside it, the TLS origin itself. */
static void respond_tunnel(struct peer *p, int fd, const char *head)
{
    (void)head;
    send_all(fd, "HTTP/1.1 200 Connection established\r\n\r\n");
    corio_tls_t t;
    if (corio_tls_accept(&t, p->tls, fd) < 0)
        return;
    char *inner = read_head(fd, &t);
    if (inner != NULL) {
        record(p, inner);
        const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecret";
        corio_tls_write(&t, ok, strlen(ok));
        corio_tls_shutdown(&t);
    }
    corio_tls_free(&t);
}

TASK_TEST(test_https_goes_through_a_connect_tunnel_with_tls_to_the_origin_inside)
{
    if (certs == NULL) {
        fprintf(stderr, "(no CORIO_TEST_CERTS: the tunnel case is skipped)\n");
        return NULL;
    }
    struct peer *px = peer_new(respond_tunnel, NULL);
    char cert[512], key[512], why[300];
    snprintf(cert, sizeof cert, "%s/server.pem", certs);
    snprintf(key, sizeof key, "%s/server.key", certs);
    corio_tls_config_t sc = {.role = CORIO_TLS_SERVER, .cert_file = cert, .key_file = key};
    assert_int_equal(corio_tls_ctx_new(&px->tls, &sc, why, sizeof why), 0);
    uint16_t origin = support_refused_port();
    char pu[128], u[128], line[128];
    snprintf(pu, sizeof pu, "http://alice:s3cret@127.0.0.1:%u", (unsigned)px->port);
    snprintf(u, sizeof u, "https://localhost:%u/x", (unsigned)origin);
    corio_http_client_t *c = client_via(pu, NULL);
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    int rc = get(c, u, &r);
    if (rc != 0)
        fail_msg("%s", corio_http_client_resp_error(&r));
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "secret");
    assert_int_equal(px->nheads, 2);
    snprintf(line, sizeof line, "CONNECT localhost:%u HTTP/1.1\r\n", (unsigned)origin);
    if (!starts(px->heads[0], line))
        fail_msg("the proxy got: %s", px->heads[0]);
    snprintf(line, sizeof line, "Host: localhost:%u", (unsigned)origin);
    assert_true(has_line(px->heads[0], line));
    assert_true(has_line(px->heads[0], "Proxy-Authorization: Basic YWxpY2U6czNjcmV0"));
    /* Inside the tunnel: the origin's request, in origin form, without the proxy's
     * credentials. */
    if (!starts(px->heads[1], "GET /x HTTP/1.1\r\n"))
        fail_msg("the origin got: %s", px->heads[1]);
    snprintf(line, sizeof line, "Host: localhost:%u", (unsigned)origin);
    assert_true(has_line(px->heads[1], line));
    assert_false(has_field(px->heads[1], "proxy-authorization"));
    corio_http_client_stats_t cs;
    corio_http_client_stats(c, &cs);
    assert_int_equal(cs.tls_handshakes, 1);
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    peer_stop(px);
    return NULL;
}

/* What a CONNECT that fails returns, through a proxy answering `answer` (NULL: it closes
 * without a word). */
static int connect_through(const char *answer, bool creds, char *why, size_t why_len,
                           corio_http_proxy_stats_t *st)
{
    struct peer *px = peer_new(respond_fixed, answer != NULL ? answer : "");
    char pu[128], u[128];
    snprintf(pu, sizeof pu, "http://%s127.0.0.1:%u", creds ? "alice:s3cret@" : "",
             (unsigned)px->port);
    snprintf(u, sizeof u, "https://localhost:%u/", (unsigned)support_refused_port());
    corio_http_client_t *c = client_via(pu, NULL);
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    int rc = get(c, u, &r);
    snprintf(why, why_len, "%s", corio_http_client_resp_error(&r));
    assert_null(strstr(why, "s3cret"));
    *st = pstats(c, 0);
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    peer_stop(px);
    return rc;
}

TASK_TEST(test_connect_refusals_are_proxy_errors_that_name_the_proxy)
{
    char why[600];
    corio_http_proxy_stats_t st;
    const char *auth407 = "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: "
                          "Basic realm=\"p\"\r\nContent-Length: 4\r\n\r\nnope";
    assert_int_equal(connect_through(auth407, false, why, sizeof why, &st), CORIO_HTTP_EPROXY_AUTH);
    assert_non_null(strstr(why, "asks for credentials (407 Proxy Authentication Required)"));
    assert_non_null(strstr(why, "proxy http://127.0.0.1:"));
    assert_int_equal(st.errors, 1);
    assert_int_equal(st.conn_failures, 0); /* it answered: it is up */
    assert_int_equal(connect_through(auth407, true, why, sizeof why, &st), CORIO_HTTP_EPROXY_AUTH);
    assert_non_null(strstr(why, "refused the credentials (407"));
    assert_int_equal(
        connect_through("HTTP/1.0 401 Unauthorized\r\n\r\n", true, why, sizeof why, &st),
        CORIO_HTTP_EPROXY_AUTH);
    assert_non_null(strstr(why, "refused the credentials (401 Unauthorized)"));

    assert_int_equal(connect_through("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", false,
                                     why, sizeof why, &st),
                     CORIO_HTTP_EPROXY);
    assert_non_null(strstr(why, "answered CONNECT localhost:"));
    assert_non_null(strstr(why, "with 403 Forbidden"));
    assert_int_equal(connect_through("HTTP/1.1 200 OK\r\n\r\nEXTRA", false, why, sizeof why, &st),
                     CORIO_HTTP_EPROXY);
    assert_non_null(strstr(why, "sent 5 bytes after its answer to CONNECT"));
    assert_int_equal(connect_through("SSH-2.0-OpenSSH\r\n\r\n", false, why, sizeof why, &st),
                     CORIO_HTTP_EPROXY);
    assert_non_null(strstr(why, "did not answer CONNECT"));
    /* Closed without an answer: the connection failed, counted for the back-off. */
    assert_int_equal(connect_through(NULL, false, why, sizeof why, &st), CORIO_HTTP_ETRUNCATED);
    assert_non_null(strstr(why, "closed the connection before answering CONNECT"));
    assert_int_equal(st.conn_failures, 1);
    assert_int_equal(st.failures_in_row, 1);
    return NULL;
}

static size_t sunk;
static int count_sink(void *arg, const void *data, size_t len)
{
    (void)arg, (void)data;
    sunk += len;
    return 0;
}

TASK_TEST(test_a_407_to_plain_http_is_an_error_and_its_body_goes_nowhere)
{
    struct peer *px =
        peer_new(respond_fixed, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: "
                                "12\r\nConnection: close\r\n\r\nproxy's page");
    char pu[128], u[128];
    snprintf(pu, sizeof pu, "http://alice:s3cret@127.0.0.1:%u", (unsigned)px->port);
    snprintf(u, sizeof u, "http://127.0.0.1:%u/", (unsigned)support_refused_port());
    corio_http_client_t *c = client_via(pu, NULL);
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    corio_http_client_req_t req = {.url = u, .sink = count_sink};
    sunk = 0;
    assert_int_equal(corio_http_client_do(c, &req, &r), CORIO_HTTP_EPROXY_AUTH);
    assert_int_equal(sunk, 0);
    const char *why = corio_http_client_resp_error(&r);
    assert_non_null(strstr(why, "refused the credentials (407 Proxy Authentication Required)"));
    assert_null(strstr(why, "s3cret"));
    assert_int_equal(pstats(c, 0).errors, 1);
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    peer_stop(px);
    return NULL;
}

TASK_TEST(test_requests_move_off_a_dead_proxy_which_is_taken_out_and_comes_back)
{
    struct peer *a = peer_new(respond_fixed, OK_CLOSE), *b = peer_new(respond_fixed, OK_CLOSE);
    char pa[64], pb[64], pd[64], u[128];
    snprintf(pa, sizeof pa, "http://127.0.0.1:%u", (unsigned)a->port);
    snprintf(pd, sizeof pd, "http://127.0.0.1:%u", (unsigned)support_refused_port());
    snprintf(pb, sizeof pb, "http://127.0.0.1:%u", (unsigned)b->port);
    snprintf(u, sizeof u, "http://origin.invalid/");
    const char *const list[] = {pa, pd, pb};
    const uint64_t backoff = 200 * MS;
    corio_http_client_opts_t o = {
        .proxies = list, .nproxies = 3, .proxy_max_failures = 2, .proxy_backoff_ns = backoff};
    corio_http_client_t *c;
    assert_int_equal(corio_http_client_new(&c, &o), 0);
    corio_http_client_resp_t r;
    corio_http_client_resp_init(&r);
    for (int i = 0; i < 12; i++) {
        int rc = get(c, u, &r);
        if (rc != 0)
            fail_msg("request %d: %s", i, corio_http_client_resp_error(&r));
        assert_int_equal(r.status, 200);
        assert_int_equal(r.retries, 0); /* a move is no retry */
    }
    corio_http_proxy_stats_t sa = pstats(c, 0), sd = pstats(c, 1), sb = pstats(c, 2);
    assert_int_equal(sd.conn_failures, 2);
    assert_int_equal(sd.requests, 2);
    assert_int_equal(sd.errors, 2);
    assert_int_equal(sd.backoffs, 1);
    assert_true(sd.out);
    assert_int_equal(sa.errors + sb.errors, 0);
    assert_int_equal(sa.requests + sb.requests, 12);
    assert_int_equal(a->nheads + b->nheads, 12);
    assert_true(sa.requests >= 5 && sb.requests >= 5); /* in turn */

    /* Once the back-off is over it is tried again: one failure takes it out at once. */
    assert_int_equal(corio_sleep(backoff + 100 * MS), 0);
    assert_false(pstats(c, 1).out);
    for (int i = 0; i < 3; i++)
        assert_int_equal(get(c, u, &r), 0);
    sd = pstats(c, 1);
    assert_int_equal(sd.conn_failures, 3);
    assert_int_equal(sd.backoffs, 2);
    assert_true(sd.out);
    corio_http_client_free(c);

    /* The dead one alone: the error, naming it; nowhere to move. */
    o = (corio_http_client_opts_t){.proxy = pd};
    assert_int_equal(corio_http_client_new(&c, &o), 0);
    assert_int_equal(get(c, u, &r), -ECONNREFUSED);
    char want[128];
    snprintf(want, sizeof want, "GET http://origin.invalid/: proxy %s refused the connection", pd);
    assert_string_equal(corio_http_client_resp_error(&r), want);
    corio_http_client_resp_free(&r);
    corio_http_client_free(c);
    peer_stop(a);
    peer_stop(b);
    return NULL;
}

int main(void)
{
    certs = getenv("CORIO_TEST_CERTS");
    if (certs != NULL && access(certs, R_OK) != 0)
        certs = NULL;
    static char ca[512];
    if (certs != NULL) {
        snprintf(ca, sizeof ca, "%s/ca.pem", certs);
        ca_file = ca;
    }
    support_require_uring();
    support_watchdog(60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proxy_urls_parse_into_host_port_and_basic_credentials),
        cmocka_unit_test(test_other_proxy_schemes_are_refused_with_a_reason),
        cmocka_unit_test(test_hostile_proxy_urls_are_refused_without_repeating_them),
        cmocka_unit_test(test_no_proxy_matches_as_curl_does),
        cmocka_unit_test(test_the_environment_is_read_as_curl_reads_it),
        cmocka_unit_test(test_the_client_takes_proxy_options_and_refuses_bad_ones),
        cmocka_unit_test(test_picks_rotate_skip_a_proxy_taken_out_and_honour_no_proxy),
        cmocka_unit_test(test_http_goes_to_the_proxy_in_absolute_form_with_proxy_authorization),
        cmocka_unit_test(
            test_a_redirect_to_a_no_proxy_origin_goes_direct_without_the_proxy_credentials),
        cmocka_unit_test(test_https_goes_through_a_connect_tunnel_with_tls_to_the_origin_inside),
        cmocka_unit_test(test_connect_refusals_are_proxy_errors_that_name_the_proxy),
        cmocka_unit_test(test_a_407_to_plain_http_is_an_error_and_its_body_goes_nowhere),
        cmocka_unit_test(test_requests_move_off_a_dead_proxy_which_is_taken_out_and_comes_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
