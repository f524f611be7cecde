/* http_request.c: the HTTP/1.1 request-head parser and path normaliser of corio-httpd (see
 * http_request.h for what is accepted and refused). A single forward pass over the bytes
 * with no state kept between calls: an incomplete head is parsed again from its start
 * when more bytes arrive, which costs little next to the receive that brought them and
 * keeps the parser a pure function, easy to fuzz. Depends on nothing but libc. */
#include "http_request.h"

#include <string.h>

/* Internal result of the scanning steps: the bytes ran out before the step could finish. */
#define MORE 1

typedef const unsigned char *cursor;

/* tchar (RFC 9110 5.6.2): "!#$%&'*+-.^_`|~", digits and letters. */
static bool is_tchar(unsigned char c)
{
    static const unsigned char table[256] = {
        ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
        ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,  ['~'] = 1, ['0'] = 1,
        ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,  ['7'] = 1, ['8'] = 1,
        ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,  ['F'] = 1, ['G'] = 1,
        ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1,  ['N'] = 1, ['O'] = 1,
        ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,  ['V'] = 1, ['W'] = 1,
        ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,  ['d'] = 1, ['e'] = 1,
        ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1,  ['l'] = 1, ['m'] = 1,
        ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1,  ['t'] = 1, ['u'] = 1,
        ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
    };
    return table[c] != 0;
}

/* A byte of a request-target: visible ASCII except '#' (a fragment is never sent). */
static bool is_target_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '#';
}

/* A byte of a field value: HTAB, SP, visible ASCII, obs-text (0x80-0xff). */
static bool is_value_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

static unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c | 0x20) : c;
}

/* Case-insensitive comparison of s[0, len) with the lowercase literal lit. */
static bool ieq(const unsigned char *s, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    if (len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower(s[i]) != (unsigned char)lit[i])
            return false;
    return true;
}

/* Consumes CRLF or a bare LF at *p. Returns 0, MORE, or -400 (a CR without its LF). */
static int eat_eol(cursor *p, cursor end)
{
    if (**p == '\n') {
        (*p)++;
        return 0;
    }
    if (**p != '\r')
        return -400;
    if (*p + 1 == end)
        return MORE;
    if ((*p)[1] != '\n')
        return -400;
    *p += 2;
    return 0;
}

static enum http_method method_of(const unsigned char *m, size_t len)
{
    static const struct {
        const char *name;
        enum http_method method;
    } known[] = {
        {"GET", HTTP_METHOD_GET},         {"HEAD", HTTP_METHOD_HEAD},
        {"POST", HTTP_METHOD_POST},       {"PUT", HTTP_METHOD_PUT},
        {"DELETE", HTTP_METHOD_DELETE},   {"CONNECT", HTTP_METHOD_CONNECT},
        {"OPTIONS", HTTP_METHOD_OPTIONS}, {"TRACE", HTTP_METHOD_TRACE},
        {"PATCH", HTTP_METHOD_PATCH},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strlen(known[i].name) == len && memcmp(known[i].name, m, len) == 0)
            return known[i].method;
    return HTTP_METHOD_OTHER;
}

/* ---- the request line -------------------------------------------------------------- */

/* Splits the target into path and query; checks its form against the method. */
static int parse_target(struct http_request *req)
{
    const char *t = req->target;
    size_t len = req->target_len;
    if (req->method == HTTP_METHOD_CONNECT) { /* authority-form: refused later with 405 */
        req->path = t + len;
        req->path_len = 0;
        return 0;
    }
    if (len == 1 && t[0] == '*') { /* asterisk-form */
        if (req->method != HTTP_METHOD_OPTIONS)
            return -400;
        req->path = t;
        req->path_len = 1;
        return 0;
    }
    if (t[0] != '/') { /* absolute-form: scheme "://" authority [path] */
        size_t skip;
        if (len >= 7 && ieq((const unsigned char *)t, 7, "http://"))
            skip = 7;
        else if (len >= 8 && ieq((const unsigned char *)t, 8, "https://"))
            skip = 8;
        else
            return -400;
        size_t a = skip;
        while (a < len && t[a] != '/' && t[a] != '?')
            a++;
        if (a == skip)
            return -400; /* no authority */
        if (a == len || t[a] == '?') {
            req->path = "/";
            req->path_len = 1;
            req->query = a < len ? t + a + 1 : NULL;
            req->query_len = a < len ? len - a - 1 : 0;
            return 0;
        }
        t += a;
        len -= a;
    }
    const char *q = memchr(t, '?', len);
    req->path = t;
    req->path_len = q != NULL ? (size_t)(q - t) : len;
    if (q != NULL) {
        req->query = q + 1;
        req->query_len = len - req->path_len - 1;
    }
    return 0;
}

/* Parses "METHOD SP TARGET SP HTTP/d.d EOL" at *p. Returns 0, MORE or -status. */
static int parse_request_line(cursor *pp, cursor end, struct http_request *req)
{
    cursor p = *pp;
    /* RFC 9112 2.2: empty lines before the request line are ignored. */
    while (p < end && (*p == '\r' || *p == '\n')) {
        int r = eat_eol(&p, end);
        if (r != 0)
            return r;
    }
    cursor m = p;
    while (p < end && is_tchar(*p))
        p++;
    if (p == end)
        return MORE;
    if (*p != ' ' || p == m)
        return -400;
    req->method_name = (const char *)m;
    req->method_len = (size_t)(p - m);
    req->method = method_of(m, req->method_len);

    cursor t = ++p;
    while (p < end && is_target_char(*p))
        p++;
    if (p == end)
        return MORE;
    if (*p != ' ' || p == t)
        return -400;
    req->target = (const char *)t;
    req->target_len = (size_t)(p - t);
    p++;

    static const char prefix[] = "HTTP/";
    for (size_t i = 0; i < sizeof prefix - 1; i++, p++) {
        if (p == end)
            return MORE;
        if (*p != (unsigned char)prefix[i])
            return -400;
    }
    unsigned char v[3];
    for (size_t i = 0; i < 3; i++, p++) {
        if (p == end)
            return MORE;
        v[i] = *p;
    }
    if (v[0] < '0' || v[0] > '9' || v[1] != '.' || v[2] < '0' || v[2] > '9')
        return -400;
    if (p == end)
        return MORE;
    int r = eat_eol(&p, end);
    if (r != 0)
        return r;
    if (v[0] != '1')
        return -505;
    req->version_minor = v[2] == '0' ? 0 : 1;
    *pp = p;
    return parse_target(req);
}

/* ---- header fields ------------------------------------------------------------------ */

/* What the fields said about framing and the connection, kept during the parse. */
struct field_state {
    bool te_seen;       /* a Transfer-Encoding field was present */
    bool te_last_chunk; /* its last coding so far is chunked */
    unsigned chunks;    /* how many times "chunked" was listed */
    bool conn_close, conn_keep_alive;
};

/* Calls each(element, len, st) for every non-empty element of a comma-separated list,
 * trimmed of whitespace. */
static void for_each_element(const unsigned char *v, size_t len, struct field_state *st,
                             void (*each)(const unsigned char *, size_t, struct field_state *))
{
    size_t i = 0;
    while (i < len) {
        size_t start = i;
        while (i < len && v[i] != ',')
            i++;
        size_t a = start, b = i;
        while (a < b && is_ows(v[a]))
            a++;
        while (b > a && is_ows(v[b - 1]))
            b--;
        if (b > a)
            each(v + a, b - a, st);
        i++; /* past the comma */
    }
}

static void te_element(const unsigned char *e, size_t len, struct field_state *st)
{
    st->te_last_chunk = ieq(e, len, "chunked");
    if (st->te_last_chunk)
        st->chunks++;
}

static void connection_element(const unsigned char *e, size_t len, struct field_state *st)
{
    if (ieq(e, len, "close"))
        st->conn_close = true;
    else if (ieq(e, len, "keep-alive"))
        st->conn_keep_alive = true;
}

/* Interprets the fields that matter for framing and the connection. Returns 0 or -400. */
static int interpret_field(struct http_request *req, struct field_state *st,
                           const unsigned char *name, size_t nlen, const unsigned char *v,
                           size_t vlen)
{
    if (ieq(name, nlen, "content-length")) {
        if (req->has_content_length || vlen == 0)
            return -400; /* a second one (even equal), or empty */
        uint64_t n = 0;
        for (size_t i = 0; i < vlen; i++) {
            if (v[i] < '0' || v[i] > '9')
                return -400; /* a sign, a list, junk */
            unsigned d = v[i] - '0';
            n = n > (UINT64_MAX - d) / 10 ? UINT64_MAX : n * 10 + d;
        }
        req->content_length = n;
        req->has_content_length = true;
    } else if (ieq(name, nlen, "transfer-encoding")) {
        st->te_seen = true;
        st->te_last_chunk = false; /* an empty field ends in no coding at all */
        for_each_element(v, vlen, st, te_element);
    } else if (ieq(name, nlen, "connection")) {
        for_each_element(v, vlen, st, connection_element);
    } else if (ieq(name, nlen, "host")) {
        if (req->host != NULL)
            return -400;
        req->host = (const char *)v;
        req->host_len = vlen;
    } else if (ieq(name, nlen, "expect")) {
        req->expect_continue = ieq(v, vlen, "100-continue");
    }
    return 0;
}

/* Parses one "name: value EOL" at *p. Returns 0, MORE or -status. */
static int parse_field(cursor *pp, cursor end, struct http_request *req, struct field_state *st)
{
    cursor p = *pp;
    if (is_ows(*p))
        return -400; /* obsolete line folding, or whitespace before the first name */
    cursor name = p;
    while (p < end && is_tchar(*p))
        p++;
    if (p == end)
        return MORE;
    if (*p != ':' || p == name)
        return -400; /* whitespace before the colon is refused (RFC 9112 5.1) */
    size_t nlen = (size_t)(p - name);
    p++;
    while (p < end && is_ows(*p))
        p++;
    cursor v = p;
    while (p < end && is_value_char(*p))
        p++;
    if (p == end)
        return MORE;
    cursor ve = p;
    while (ve > v && is_ows(ve[-1]))
        ve--;
    int r = eat_eol(&p, end); /* a control character other than CR/LF is -400 here */
    if (r != 0)
        return r;
    size_t vlen = (size_t)(ve - v);
    if (++req->num_headers > HTTP_MAX_HEADERS)
        return -431;
    if (req->headers != NULL) {
        if (req->num_headers > req->max_headers)
            return -431;
        req->headers[req->num_headers - 1] = (struct http_header){
            .name = (const char *)name,
            .name_len = nlen,
            .value = (const char *)v,
            .value_len = vlen,
        };
    }
    r = interpret_field(req, st, name, nlen, v, vlen);
    if (r != 0)
        return r;
    *pp = p;
    return 0;
}

/* The checks that need every field. Returns 0 or -400. */
static int finish(struct http_request *req, const struct field_state *st)
{
    if (st->te_seen) {
        /* The body length is only known when chunked is the last coding, listed once
         * (RFC 9112 6.1); TE with Content-Length, or in HTTP/1.0, is a smuggling attempt or
         * a broken intermediary: refuse rather than guess. */
        if (!st->te_last_chunk || st->chunks > 1 || req->has_content_length ||
            req->version_minor == 0)
            return -400;
        req->chunked = true;
    }
    if (req->version_minor == 1 && req->host == NULL)
        return -400;
    req->keep_alive =
        req->version_minor == 1 ? !st->conn_close : st->conn_keep_alive && !st->conn_close;
    return 0;
}

int http_parse_request(const char *buf, size_t len, size_t max_head, struct http_request *req)
{
    struct http_header *headers = req->headers;
    size_t max_headers = req->max_headers;
    *req = (struct http_request){.headers = headers, .max_headers = max_headers};
    if (max_head == 0)
        max_head = HTTP_MAX_HEAD;
    /* Only the first max_head bytes are looked at: a head not complete within them is
     * too long, whatever follows. */
    bool at_limit = len >= max_head;
    cursor start = (cursor)buf, p = start, end = start + (at_limit ? max_head : len);
    if (len == 0)
        return 0;

    int r = parse_request_line(&p, end, req);
    if (r == MORE)
        return at_limit ? -414 : 0;
    if (r < 0)
        return r;
    struct field_state st = {0};
    for (;;) {
        if (p == end)
            return at_limit ? -431 : 0;
        if (*p == '\r' || *p == '\n') { /* the empty line */
            r = eat_eol(&p, end);
            if (r == MORE)
                return at_limit ? -431 : 0;
            if (r < 0)
                return r;
            break;
        }
        r = parse_field(&p, end, req, &st);
        if (r == MORE)
            return at_limit ? -431 : 0;
        if (r < 0)
            return r;
    }
    r = finish(req, &st);
    return r < 0 ? r : (int)(p - start);
}

/* ---- paths -------------------------------------------------------------------------- */

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int http_path_normalize(const char *path, size_t len, char *out, size_t cap)
{
    if (len == 0 || path[0] != '/')
        return -400;
    if (cap == 0)
        return -414;
    size_t o = 0;   /* bytes written */
    size_t seg = 0; /* where the current segment starts in out */
    for (size_t i = 1; i <= len; i++) {
        unsigned char c;
        bool boundary = i == len;
        if (!boundary) {
            c = (unsigned char)path[i];
            if (c == '%') {
                if (i + 2 >= len)
                    return -400; /* "%" or "%a" at the end */
                int h = hex_value((unsigned char)path[i + 1]);
                int l = hex_value((unsigned char)path[i + 2]);
                if (h < 0 || l < 0)
                    return -400;
                c = (unsigned char)(h << 4 | l);
                if (c == 0)
                    return -400;
                i += 2;
            }
            boundary = c == '/';
            if (!boundary) {
                if (o + 1 >= cap)
                    return -414;
                out[o++] = (char)c;
                continue;
            }
        }
        /* End of a segment: out[seg, o). */
        size_t n = o - seg;
        if (n == 0 || (n == 1 && out[seg] == '.')) {
            o = seg; /* "//" or "/./": nothing */
        } else if (n == 2 && out[seg] == '.' && out[seg + 1] == '.') {
            if (seg == 0)
                return -403; /* above the root */
            /* Drop the previous segment: out[0, seg) ends with its '/'. */
            size_t prev = seg - 1;
            while (prev > 0 && out[prev - 1] != '/')
                prev--;
            o = seg = prev;
        } else if (i < len) {
            if (o + 1 >= cap)
                return -414;
            out[o++] = '/';
            seg = o;
        }
    }
    out[o] = '\0';
    return (int)o;
}

const char *http_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}
