/* The syntax the parsers of libcorio-http share (engine/http/syntax.h): the token table,
 * IPv6 literals and the RFC 3986 host[:port] check used for Host fields and request
 * targets. */
#include "http/syntax.h"

#include <corio/http.h>

#include <arpa/inet.h>
#include <netinet/in.h>

const unsigned char corio_http_token_lower[256] = {
    ['!'] = '!', ['#'] = '#', ['$'] = '$', ['%'] = '%', ['&'] = '&', ['\''] = '\'', ['*'] = '*',
    ['+'] = '+', ['-'] = '-', ['.'] = '.', ['^'] = '^', ['_'] = '_', ['`'] = '`',   ['|'] = '|',
    ['~'] = '~', ['0'] = '0', ['1'] = '1', ['2'] = '2', ['3'] = '3', ['4'] = '4',   ['5'] = '5',
    ['6'] = '6', ['7'] = '7', ['8'] = '8', ['9'] = '9', ['a'] = 'a', ['b'] = 'b',   ['c'] = 'c',
    ['d'] = 'd', ['e'] = 'e', ['f'] = 'f', ['g'] = 'g', ['h'] = 'h', ['i'] = 'i',   ['j'] = 'j',
    ['k'] = 'k', ['l'] = 'l', ['m'] = 'm', ['n'] = 'n', ['o'] = 'o', ['p'] = 'p',   ['q'] = 'q',
    ['r'] = 'r', ['s'] = 's', ['t'] = 't', ['u'] = 'u', ['v'] = 'v', ['w'] = 'w',   ['x'] = 'x',
    ['y'] = 'y', ['z'] = 'z', ['A'] = 'a', ['B'] = 'b', ['C'] = 'c', ['D'] = 'd',   ['E'] = 'e',
    ['F'] = 'f', ['G'] = 'g', ['H'] = 'h', ['I'] = 'i', ['J'] = 'j', ['K'] = 'k',   ['L'] = 'l',
    ['M'] = 'm', ['N'] = 'n', ['O'] = 'o', ['P'] = 'p', ['Q'] = 'q', ['R'] = 'r',   ['S'] = 's',
    ['T'] = 't', ['U'] = 'u', ['V'] = 'v', ['W'] = 'w', ['X'] = 'x', ['Y'] = 'y',   ['Z'] = 'z',
};

bool corio_http_ipv6_valid(const char *s, size_t len)
{
    char text[INET6_ADDRSTRLEN];
    struct in6_addr addr;
    if (len == 0 || len >= sizeof text)
        return false;
    memcpy(text, s, len);
    text[len] = '\0';
    return inet_pton(AF_INET6, text, &addr) == 1;
}

static bool is_unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static bool is_sub_delim(unsigned char c)
{
    return c != '\0' && strchr("!$&'()*+,;=", c) != NULL;
}

/* IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ) */
static bool ipvfuture_valid(const char *s, size_t len)
{
    size_t i = 1, hex;
    if (len == 0 || http_lower((unsigned char)s[0]) != 'v')
        return false;
    while (i < len && http_hex_value((unsigned char)s[i]) >= 0)
        i++;
    hex = i - 1;
    if (hex == 0 || i == len || s[i] != '.' || i + 1 == len)
        return false;
    for (i++; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!is_unreserved(c) && !is_sub_delim(c) && c != ':')
            return false;
    }
    return true;
}

/* reg-name = *( unreserved / pct-encoded / sub-delims ) */
static bool reg_name_valid(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= len || http_hex_value((unsigned char)s[i + 1]) < 0 ||
                http_hex_value((unsigned char)s[i + 2]) < 0)
                return false;
            i += 2;
        } else if (!is_unreserved(c) && !is_sub_delim(c)) {
            return false;
        }
    }
    return true;
}

bool corio_http_host_port_valid(const char *s, size_t len, bool need_host, bool need_port)
{
    size_t host_end; /* the host is s[0, host_end) */
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL)
            return false;
        const char *lit = s + 1;
        size_t lit_len = (size_t)(close - lit);
        if (!corio_http_ipv6_valid(lit, lit_len) && !ipvfuture_valid(lit, lit_len))
            return false;
        host_end = (size_t)(close - s) + 1;
    } else {
        const char *colon = memchr(s, ':', len);
        host_end = colon != NULL ? (size_t)(colon - s) : len;
        if (host_end > CORIO_HTTP_MAX_HOST || !reg_name_valid(s, host_end))
            return false;
    }
    if (need_host && host_end == 0)
        return false;
    if (host_end == len)
        return !need_port;
    if (s[host_end] != ':')
        return false;
    const char *port = s + host_end + 1;
    size_t plen = len - host_end - 1;
    if (plen > 5 || (need_port && plen == 0))
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < plen; i++) {
        if (port[i] < '0' || port[i] > '9')
            return false;
        v = v * 10 + (unsigned)(port[i] - '0');
    }
    return v <= 65535;
}

size_t corio_http_pct_decode(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int h, l;
        if (s[i] == '%' && i + 2 < n && (h = http_hex_value((unsigned char)s[i + 1])) >= 0 &&
            (l = http_hex_value((unsigned char)s[i + 2])) >= 0) {
            out[o++] = (char)(h << 4 | l);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    return o;
}
