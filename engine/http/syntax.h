/* The pieces of HTTP and URI syntax the parsers of libcorio-http share (engine/http/):
 * character classes of RFC 9110 and RFC 3986, and the host[:port] check. Internal: not
 * exported from libcorio-http.so. */
#ifndef CORIO_HTTP_SYNTAX_H
#define CORIO_HTTP_SYNTAX_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* Token characters of RFC 9110 section 5.6.2 mapped to their lower case; 0 for any other
 * byte. A table: field names are walked byte by byte, and this is the test made on each. */
extern const unsigned char corio_http_token_lower[256];

static inline bool http_is_tchar(unsigned char c)
{
    return corio_http_token_lower[c] != 0;
}

static inline bool http_is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

static inline unsigned char http_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c | 0x20) : c;
}

/* The value of a hex digit, or -1. */
static inline int http_hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = http_lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Whether s[0, len) equals the lower-case literal lit, ASCII case-insensitively. */
static inline bool http_ieq(const char *s, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    if (len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (http_lower((unsigned char)s[i]) != (unsigned char)lit[i])
            return false;
    return true;
}

/* Percent-decodes s[0, n) into out (room for n bytes: decoding only shrinks); a '%' not
 * followed by two hex digits is kept as it is. Returns the decoded length. */
size_t corio_http_pct_decode(const char *s, size_t n, char *out);

/* Whether s[0, len) is an IPv6 address (RFC 4291 text form, as inet_pton reads it). */
bool corio_http_ipv6_valid(const char *s, size_t len);

/* Whether s[0, len) is uri-host [":" port] (RFC 3986 section 3.2.2): an IP-literal
 * ("[" IPv6address or IPvFuture "]"), or a reg-name (an IPv4 address is one) of
 * unreserved, sub-delims and percent-encoded bytes, at most CORIO_HTTP_MAX_HOST bytes;
 * then a port of at most 5 digits up to 65535. The host may be empty unless need_host,
 * the port absent or empty unless need_port. */
bool corio_http_host_port_valid(const char *s, size_t len, bool need_host, bool need_port);

#endif
