/* The HTTP/1.1 request-head parser and the request-path normaliser (corio/http_parse.h
 * section 3 says what is accepted and refused). A single forward pass over the bytes with
 * no state kept between calls: an incomplete head is parsed again from its start when
 * more bytes arrive, which costs little next to the receive that brought them and keeps
 * the parser a pure function, easy to fuzz. */
#include <corio/http.h>

#include "http/syntax.h"

#include <string.h>

/* Internal result of the scanning steps: the bytes ran out before the step could finish. */
#define MORE 1

typedef const unsigned char *cursor;

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

static bool ieq(const unsigned char *s, size_t len, const char *lit)
{
    return http_ieq((const char *)s, len, lit);
}

/* Consumes CRLF or a bare LF at *p. Returns 0, MORE, or CORIO_HTTP_EMALFORMED (a CR
 * without its LF). */
static int eat_eol(cursor *p, cursor end)
{
    if (**p == '\n') {
        (*p)++;
        return 0;
    }
    if (**p != '\r')
        return CORIO_HTTP_EMALFORMED;
    if (*p + 1 == end)
        return MORE;
    if ((*p)[1] != '\n')
        return CORIO_HTTP_EMALFORMED;
    *p += 2;
    return 0;
}

static corio_http_method_t method_of(const unsigned char *m, size_t len)
{
    static const struct {
        const char *name;
        corio_http_method_t method;
    } known[] = {
        {"GET", CORIO_HTTP_METHOD_GET},         {"HEAD", CORIO_HTTP_METHOD_HEAD},
        {"POST", CORIO_HTTP_METHOD_POST},       {"PUT", CORIO_HTTP_METHOD_PUT},
        {"DELETE", CORIO_HTTP_METHOD_DELETE},   {"CONNECT", CORIO_HTTP_METHOD_CONNECT},
        {"OPTIONS", CORIO_HTTP_METHOD_OPTIONS}, {"TRACE", CORIO_HTTP_METHOD_TRACE},
        {"PATCH", CORIO_HTTP_METHOD_PATCH},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strlen(known[i].name) == len && memcmp(known[i].name, m, len) == 0)
            return known[i].method;
    return CORIO_HTTP_METHOD_OTHER;
}

/* ---- the request line -------------------------------------------------------------- */

/* Splits the target into path and query; checks its form against the method. */
static int parse_target(corio_http_request_head_t *req)
{
    const char *t = req->target;
    size_t len = req->target_len;
    if (req->method == CORIO_HTTP_METHOD_CONNECT) { /* authority-form: host and port */
        if (!corio_http_host_port_valid(t, len, true, true))
            return CORIO_HTTP_EMALFORMED;
        req->authority = t;
        req->authority_len = len;
        req->path = t + len;
        req->path_len = 0;
        return 0;
    }
    if (len == 1 && t[0] == '*') { /* asterisk-form */
        if (req->method != CORIO_HTTP_METHOD_OPTIONS)
            return CORIO_HTTP_EMALFORMED;
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
            return CORIO_HTTP_EMALFORMED;
        size_t a = skip;
        while (a < len && t[a] != '/' && t[a] != '?')
            a++;
        /* A host is required (RFC 9110 4.2.1) and userinfo refused (4.2.4): the
         * authority is what a Host field could hold. */
        if (!corio_http_host_port_valid(t + skip, a - skip, true, false))
            return CORIO_HTTP_EMALFORMED;
        req->authority = t + skip;
        req->authority_len = a - skip;
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

/* Parses "METHOD SP TARGET SP HTTP/d.d EOL" at *p. Returns 0, MORE or a code. */
static int parse_request_line(cursor *pp, cursor end, corio_http_request_head_t *req)
{
    cursor p = *pp;
    /* RFC 9112 2.2: empty lines before the request line are ignored. */
    while (p < end && (*p == '\r' || *p == '\n')) {
        int r = eat_eol(&p, end);
        if (r != 0)
            return r;
    }
    cursor m = p;
    while (p < end && http_is_tchar(*p))
        p++;
    if (p == end)
        return MORE;
    if (*p != ' ' || p == m)
        return CORIO_HTTP_EMALFORMED;
    req->method_name = (const char *)m;
    req->method_len = (size_t)(p - m);
    req->method = method_of(m, req->method_len);

    cursor t = ++p;
    while (p < end && is_target_char(*p))
        p++;
    if (p == end)
        return MORE;
    if (*p != ' ' || p == t)
        return CORIO_HTTP_EMALFORMED;
    req->target = (const char *)t;
    req->target_len = (size_t)(p - t);
    p++;

    static const char prefix[] = "HTTP/";
    for (size_t i = 0; i < sizeof prefix - 1; i++, p++) {
        if (p == end)
            return MORE;
        if (*p != (unsigned char)prefix[i])
            return CORIO_HTTP_EMALFORMED;
    }
    unsigned char v[3];
    for (size_t i = 0; i < 3; i++, p++) {
        if (p == end)
            return MORE;
        v[i] = *p;
    }
    if (v[0] < '0' || v[0] > '9' || v[1] != '.' || v[2] < '0' || v[2] > '9')
        return CORIO_HTTP_EMALFORMED;
    if (p == end)
        return MORE;
    int r = eat_eol(&p, end);
    if (r != 0)
        return r;
    if (v[0] != '1')
        return CORIO_HTTP_EVERSION;
    req->version_minor = v[2] == '0' ? 0 : 1;
    *pp = p;
    return parse_target(req);
}

/* ---- header fields ------------------------------------------------------------------ */

/* What the fields said about framing and the connection, kept during the parse. */
struct field_state {
    bool te_seen;               /* a Transfer-Encoding field was present */
    bool te_last_chunk;         /* its last coding so far is chunked */
    unsigned chunks;            /* how many times "chunked" was listed */
    unsigned others;            /* how many other codings were listed */
    bool te_unknown;            /* one of them is neither gzip nor deflate */
    corio_http_coding_t coding; /* the last of them */
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
        while (a < b && http_is_ows(v[a]))
            a++;
        while (b > a && http_is_ows(v[b - 1]))
            b--;
        if (b > a)
            each(v + a, b - a, st);
        i++; /* past the comma */
    }
}

static void te_element(const unsigned char *e, size_t len, struct field_state *st)
{
    st->te_last_chunk = ieq(e, len, "chunked");
    if (st->te_last_chunk) {
        st->chunks++;
        return;
    }
    size_t name = 0;
    while (name < len && e[name] != ';' && !http_is_ows(e[name]))
        name++; /* a coding may carry parameters (RFC 9112 7) */
    st->others++;
    if (ieq(e, name, "gzip") || ieq(e, name, "x-gzip")) {
        st->coding = CORIO_HTTP_CODING_GZIP;
    } else if (ieq(e, name, "deflate")) {
        st->coding = CORIO_HTTP_CODING_DEFLATE;
    } else {
        st->coding = CORIO_HTTP_CODING_OTHER;
        st->te_unknown = true;
    }
}

static void connection_element(const unsigned char *e, size_t len, struct field_state *st)
{
    if (ieq(e, len, "close"))
        st->conn_close = true;
    else if (ieq(e, len, "keep-alive"))
        st->conn_keep_alive = true;
}

/* Interprets the fields that matter for framing, the connection and the host. Returns 0,
 * CORIO_HTTP_ELENGTH or CORIO_HTTP_EHOST. */
static int interpret_field(corio_http_request_head_t *req, struct field_state *st,
                           const unsigned char *name, size_t nlen, const unsigned char *v,
                           size_t vlen)
{
    if (ieq(name, nlen, "content-length")) {
        if (req->has_content_length || vlen == 0)
            return CORIO_HTTP_ELENGTH; /* a second one (even equal), or empty */
        uint64_t n = 0;
        for (size_t i = 0; i < vlen; i++) {
            if (v[i] < '0' || v[i] > '9')
                return CORIO_HTTP_ELENGTH; /* a sign, a list, junk */
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
        /* RFC 9112 3.2: one Host, uri-host [":" port]. A second one, or one a URI could
         * not hold, leaves the server unsure which host was meant. */
        if (req->host != NULL || !corio_http_host_port_valid((const char *)v, vlen, false, false))
            return CORIO_HTTP_EHOST;
        req->host = (const char *)v;
        req->host_len = vlen;
    } else if (ieq(name, nlen, "expect")) {
        req->expect_continue = ieq(v, vlen, "100-continue");
    }
    return 0;
}

/* Parses one "name: value EOL" at *p. Returns 0, MORE or a code. */
static int parse_field(cursor *pp, cursor end, corio_http_request_head_t *req, struct field_state *st)
{
    cursor p = *pp;
    if (http_is_ows(*p))
        return CORIO_HTTP_EMALFORMED; /* obsolete line folding, or whitespace before the
                                         first name */
    cursor name = p;
    while (p < end && http_is_tchar(*p))
        p++;
    if (p == end)
        return MORE;
    if (*p != ':' || p == name)
        return CORIO_HTTP_EMALFORMED; /* whitespace before the colon is refused (RFC 9112 5.1) */
    size_t nlen = (size_t)(p - name);
    p++;
    while (p < end && http_is_ows(*p))
        p++;
    cursor v = p;
    while (p < end && is_value_char(*p))
        p++;
    if (p == end)
        return MORE;
    cursor ve = p;
    while (ve > v && http_is_ows(ve[-1]))
        ve--;
    int r = eat_eol(&p, end); /* a control character other than CR/LF is refused here */
    if (r != 0)
        return r;
    size_t vlen = (size_t)(ve - v);
    if (++req->num_headers > CORIO_HTTP_MAX_HEADERS)
        return CORIO_HTTP_EHEAD_TOO_BIG;
    if (req->headers != NULL) {
        if (req->num_headers > req->max_headers)
            return CORIO_HTTP_EHEAD_TOO_BIG;
        req->headers[req->num_headers - 1] = (corio_http_header_t){
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

/* The checks that need every field. Returns 0, CORIO_HTTP_ELENGTH, CORIO_HTTP_ENOTIMPL or
 * CORIO_HTTP_EHOST. */
static int finish(corio_http_request_head_t *req, const struct field_state *st)
{
    if (st->te_seen) {
        /* The body length is only known when chunked is the last coding, listed once
         * (RFC 9112 6.1); TE with Content-Length, or in HTTP/1.0, is a smuggling attempt or
         * a broken intermediary: refuse rather than guess. */
        if (!st->te_last_chunk || st->chunks > 1 || req->has_content_length ||
            req->version_minor == 0)
            return CORIO_HTTP_ELENGTH;
        /* Framed, but with a coding under chunked that no decoder here undoes: 501. */
        if (st->te_unknown || st->others > 1)
            return CORIO_HTTP_ENOTIMPL;
        req->chunked = true;
        req->transfer_coding = st->others == 1 ? st->coding : CORIO_HTTP_CODING_IDENTITY;
    }
    if (req->version_minor == 1 && req->host == NULL)
        return CORIO_HTTP_EHOST;
    req->keep_alive =
        req->version_minor == 1 ? !st->conn_close : st->conn_keep_alive && !st->conn_close;
    return 0;
}

int corio_http_parse_request(const char *buf, size_t len, size_t max_head,
                             corio_http_request_head_t *req)
{
    corio_http_header_t *headers = req->headers;
    size_t max_headers = req->max_headers;
    *req = (corio_http_request_head_t){.headers = headers, .max_headers = max_headers};
    if (max_head == 0)
        max_head = CORIO_HTTP_MAX_HEAD_DEFAULT;
    /* Only the first max_head bytes are looked at: a head not complete within them is
     * too long, whatever follows. */
    bool at_limit = len >= max_head;
    cursor start = (cursor)buf, p = start, end = start + (at_limit ? max_head : len);
    if (len == 0)
        return 0;

    int r = parse_request_line(&p, end, req);
    if (r == MORE)
        return at_limit ? CORIO_HTTP_EURI_TOO_LONG : 0;
    if (r < 0)
        return r;
    struct field_state st = {0};
    for (;;) {
        if (p == end)
            return at_limit ? CORIO_HTTP_EHEAD_TOO_BIG : 0;
        if (*p == '\r' || *p == '\n') { /* the empty line */
            r = eat_eol(&p, end);
            if (r == MORE)
                return at_limit ? CORIO_HTTP_EHEAD_TOO_BIG : 0;
            if (r < 0)
                return r;
            break;
        }
        r = parse_field(&p, end, req, &st);
        if (r == MORE)
            return at_limit ? CORIO_HTTP_EHEAD_TOO_BIG : 0;
        if (r < 0)
            return r;
    }
    r = finish(req, &st);
    return r < 0 ? r : (int)(p - start);
}

/* ---- paths -------------------------------------------------------------------------- */

int corio_http_path_normalize(const char *path, size_t len, char *out, size_t cap)
{
    if (len == 0 || path[0] != '/')
        return CORIO_HTTP_EMALFORMED;
    if (cap == 0)
        return CORIO_HTTP_EURI_TOO_LONG;
    size_t o = 0;   /* bytes written */
    size_t seg = 0; /* where the current segment starts in out */
    for (size_t i = 1; i <= len; i++) {
        unsigned char c;
        bool boundary = i == len;
        if (!boundary) {
            c = (unsigned char)path[i];
            if (c == '%') {
                if (i + 2 >= len)
                    return CORIO_HTTP_EMALFORMED; /* "%" or "%a" at the end */
                int h = http_hex_value((unsigned char)path[i + 1]);
                int l = http_hex_value((unsigned char)path[i + 2]);
                if (h < 0 || l < 0)
                    return CORIO_HTTP_EMALFORMED;
                c = (unsigned char)(h << 4 | l);
                if (c == 0)
                    return CORIO_HTTP_EMALFORMED;
                i += 2;
            }
            boundary = c == '/';
            if (!boundary) {
                if (o + 1 >= cap)
                    return CORIO_HTTP_EURI_TOO_LONG;
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
                return CORIO_HTTP_EFORBIDDEN; /* above the root */
            /* Drop the previous segment: out[0, seg) ends with its '/'. */
            size_t prev = seg - 1;
            while (prev > 0 && out[prev - 1] != '/')
                prev--;
            o = seg = prev;
        } else if (i < len) {
            if (o + 1 >= cap)
                return CORIO_HTTP_EURI_TOO_LONG;
            out[o++] = '/';
            seg = o;
        }
    }
    out[o] = '\0';
    return (int)o;
}
