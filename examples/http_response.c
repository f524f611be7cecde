/* http_response.c: the HTTP/1.1 response parser of http_response.h, a byte-driven state
 * machine. The head is walked byte by byte except where nothing needs reading (the reason
 * phrase, fields nobody asked about), which memchr skips; body bytes are never walked at
 * all: they are handed back as views. Only the fields that decide framing and redirects
 * (Content-Length, Transfer-Encoding, Connection, Location) have their values kept. */
#include "http_response.h"

#include <string.h>

enum state {
    S_START,         /* before the status line: empty lines are skipped */
    S_STATUS,        /* the first 13 bytes of the status line, kept in status_line */
    S_REASON,        /* the rest of the status line, skipped */
    S_STATUS_LF,     /* CR seen at the end of the status line */
    S_LINE_START,    /* the start of a field line, or of the empty line ending the head */
    S_NAME,          /* a field name */
    S_VALUE_WS,      /* whitespace before a value (or an obs-fold continuation) */
    S_VALUE,         /* a value */
    S_VALUE_LF,      /* CR seen at the end of a kept value */
    S_HEAD_LF,       /* CR seen on the empty line */
    S_BODY_LEN,      /* remaining bytes of a Content-Length body */
    S_BODY_EOF,      /* a body until the connection ends */
    S_CHUNK_SIZE0,   /* the first hex digit of a chunk size */
    S_CHUNK_SIZE,    /* more hex digits */
    S_CHUNK_WS,      /* whitespace after the size, before ';' */
    S_CHUNK_EXT,     /* chunk extensions, skipped */
    S_CHUNK_LF,      /* CR seen at the end of the size line */
    S_CHUNK_DATA,    /* remaining bytes of a chunk */
    S_CHUNK_DATA_CR, /* the CRLF after chunk data */
    S_CHUNK_DATA_LF,
    S_TRAILER_START, /* the start of a trailer line or of the final empty line */
    S_TRAILER_LINE,  /* a trailer field, skipped */
    S_TRAILER_LF,    /* CR seen on the final empty line */
    S_DONE,
    S_ERROR,
};

enum field { F_OTHER, F_CONTENT_LENGTH, F_TRANSFER_ENCODING, F_CONNECTION, F_LOCATION };

/* Token characters of RFC 9110 5.6.2, lower-cased; 0 for anything else. A table: field
 * names are walked byte by byte, and this is the test made on each. */
static const unsigned char token_map[256] = {
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

static unsigned char token_lower(unsigned char c)
{
    return token_map[c];
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\t';
}

static int fail(http_resp_t *r, int err)
{
    r->state = S_ERROR;
    r->error = err;
    return err;
}

static void reset_fields(http_resp_t *r)
{
    r->content_length = -1;
    r->location_len = 0;
    r->location[0] = '\0';
    r->location_too_long = false;
    r->have_field = false;
    r->cl_seen = r->te_seen = r->te_chunked = r->te_chunked_once = false;
    r->conn_close = r->conn_keep_alive = false;
    r->status_len = 0;
}

void http_resp_init(http_resp_t *r, bool head_request)
{
    r->status = 0;
    r->minor = 0;
    r->body = HTTP_BODY_NONE;
    r->keep_alive = false;
    r->body_bytes = 0;
    r->head_request = head_request;
    r->state = S_START;
    r->error = 0;
    r->head_done = false;
    r->head_bytes = 0;
    r->line_bytes = 0;
    r->remaining = 0;
    reset_fields(r);
}

/* Calls fn on each element of a comma-separated list in value (RFC 9110 5.6.1: empty
 * elements and whitespace around elements are ignored). Stops at the first non-zero
 * result and returns it. */
static int for_each_element(http_resp_t *r, const char *v, size_t n,
                            int (*fn)(http_resp_t *r, const char *e, size_t len))
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (is_ws((unsigned char)v[i]) || v[i] == ','))
            i++;
        size_t start = i;
        while (i < n && v[i] != ',')
            i++;
        size_t end = i;
        while (end > start && is_ws((unsigned char)v[end - 1]))
            end--;
        if (end > start) {
            int rc = fn(r, v + start, end - start);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

static bool token_is(const char *e, size_t len, const char *word)
{
    size_t wn = strlen(word);
    if (len != wn)
        return false;
    for (size_t i = 0; i < len; i++)
        if (token_lower((unsigned char)e[i]) != (unsigned char)word[i])
            return false;
    return true;
}

/* One Content-Length element: digits only, at most 18 (below 2^63), equal to any seen. */
static int length_element(http_resp_t *r, const char *e, size_t len)
{
    if (len > 18)
        return HTTP_E_LENGTH;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (e[i] < '0' || e[i] > '9')
            return HTTP_E_LENGTH;
        v = v * 10 + (e[i] - '0');
    }
    if (r->cl_seen && r->content_length != v)
        return HTTP_E_LENGTH;
    r->cl_seen = true;
    r->content_length = v;
    return 0;
}

/* One transfer coding: chunked must come last and only once. */
static int coding_element(http_resp_t *r, const char *e, size_t len)
{
    size_t name = 0;
    while (name < len && e[name] != ';' && !is_ws((unsigned char)e[name]))
        name++; /* a coding may carry parameters: "gzip;q=1" */
    bool chunked = token_is(e, name, "chunked");
    if (chunked && r->te_chunked_once)
        return HTTP_E_HEADER; /* chunked twice */
    r->te_chunked_once |= chunked;
    r->te_seen = true;
    r->te_chunked = chunked; /* what counts is whether the last coding is chunked */
    return 0;
}

static int connection_element(http_resp_t *r, const char *e, size_t len)
{
    if (token_is(e, len, "close"))
        r->conn_close = true;
    else if (token_is(e, len, "keep-alive"))
        r->conn_keep_alive = true;
    return 0;
}

/* The field just read is complete (the next line does not continue it). */
static int commit_field(http_resp_t *r)
{
    if (!r->have_field)
        return 0;
    r->have_field = false;
    size_t n = r->value_len;
    while (n > 0 && is_ws((unsigned char)r->value[n - 1]))
        n--;
    switch ((enum field)r->field) {
    case F_CONTENT_LENGTH:
        if (r->value_overflow || n == 0)
            return HTTP_E_LENGTH;
        return for_each_element(r, r->value, n, length_element);
    case F_TRANSFER_ENCODING:
        if (r->value_overflow)
            return HTTP_E_HEADER;
        return for_each_element(r, r->value, n, coding_element);
    case F_CONNECTION:
        /* An overlong Connection field is ignored: at worst a connection the server
         * meant to close is tried again, and that failure is recovered from. */
        return r->value_overflow ? 0 : for_each_element(r, r->value, n, connection_element);
    case F_LOCATION:
        while (r->location_len > 0 && is_ws((unsigned char)r->location[r->location_len - 1]))
            r->location_len--;
        r->location[r->location_len] = '\0';
        return 0;
    case F_OTHER:
        return 0;
    }
    return 0;
}

static enum field classify(const char *name, size_t len)
{
    if (len == 14 && memcmp(name, "content-length", 14) == 0)
        return F_CONTENT_LENGTH;
    if (len == 17 && memcmp(name, "transfer-encoding", 17) == 0)
        return F_TRANSFER_ENCODING;
    if (len == 10 && memcmp(name, "connection", 10) == 0)
        return F_CONNECTION;
    if (len == 8 && memcmp(name, "location", 8) == 0)
        return F_LOCATION;
    return F_OTHER;
}

/* Checks the first bytes of a status line: "HTTP/1.d ddd" then a space or its end. */
static int parse_status(http_resp_t *r, bool line_ended)
{
    const char *s = r->status_line;
    size_t n = r->status_len;
    if (n < 12 || memcmp(s, "HTTP/1.", 7) != 0 || s[7] < '0' || s[7] > '9' || s[8] != ' ' ||
        s[9] < '1' || s[9] > '9' || s[10] < '0' || s[10] > '9' || s[11] < '0' || s[11] > '9')
        return HTTP_E_STATUS;
    if (!line_ended && s[12] != ' ')
        return HTTP_E_STATUS;
    r->minor = s[7] - '0';
    r->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    return 0;
}

/* The empty line ending a head: returns HTTP_HEAD for a final response (framing decided),
 * HTTP_NEED_MORE after an interim 1xx one (the next head follows), or an error. */
static int end_of_head(http_resp_t *r)
{
    int rc = commit_field(r);
    if (rc < 0)
        return rc;
    if (r->status >= 100 && r->status < 200 && r->status != 101) {
        reset_fields(r);
        r->state = S_START;
        return HTTP_NEED_MORE;
    }
    r->keep_alive = r->minor >= 1 ? !r->conn_close : r->conn_keep_alive && !r->conn_close;
    if (r->head_request || r->status < 200 || r->status == 204 || r->status == 304) {
        r->body = HTTP_BODY_NONE;
        if (r->status == 101)
            r->keep_alive = false; /* the connection now speaks another protocol */
        r->state = S_DONE;
    } else if (r->te_seen) {
        if (r->minor == 0)
            return HTTP_E_HEADER; /* RFC 9112 6.1: HTTP/1.0 framing with TE is faulty */
        if (r->cl_seen)
            r->keep_alive = false; /* TE overrides CL, but the connection is suspect */
        r->body = r->te_chunked ? HTTP_BODY_CHUNKED : HTTP_BODY_EOF;
        if (!r->te_chunked)
            r->keep_alive = false;
        r->state = r->te_chunked ? S_CHUNK_SIZE0 : S_BODY_EOF;
    } else if (r->cl_seen) {
        r->body = HTTP_BODY_LENGTH;
        r->remaining = (uint64_t)r->content_length;
        r->state = r->remaining > 0 ? S_BODY_LEN : S_DONE;
    } else {
        r->body = HTTP_BODY_EOF;
        r->keep_alive = false;
        r->state = S_BODY_EOF;
    }
    r->head_done = true;
    return HTTP_HEAD;
}

static void keep_value_byte(http_resp_t *r, char c)
{
    if (r->field == F_LOCATION) {
        if (r->location_len < HTTP_LOCATION_MAX)
            r->location[r->location_len++] = c;
        else
            r->location_too_long = true;
    } else if (r->value_len < HTTP_VALUE_MAX) {
        r->value[r->value_len++] = c;
    } else {
        r->value_overflow = true;
    }
}

static bool in_head(const http_resp_t *r)
{
    return r->state <= S_HEAD_LF;
}

/* Parses head bytes from buf[*pos]: returns HTTP_HEAD when the final head ended,
 * HTTP_NEED_MORE when the buffer ran out, or an error. */
static int parse_head(http_resp_t *r, const char *buf, size_t len, size_t *pos)
{
    size_t i = *pos;
    int rc = HTTP_NEED_MORE;
    while (i < len && rc == HTTP_NEED_MORE) {
        unsigned char c = (unsigned char)buf[i];
        size_t step = 1;
        switch ((enum state)r->state) {
        case S_START:
            if (c != '\r' && c != '\n') {
                r->state = S_STATUS;
                step = 0;
            }
            break;
        case S_STATUS:
            if (c == '\r' || c == '\n') {
                rc = parse_status(r, true);
                r->state = c == '\r' ? S_STATUS_LF : S_LINE_START;
            } else {
                r->status_line[r->status_len++] = (char)c;
                if (r->status_len == 13) {
                    rc = parse_status(r, false);
                    r->state = S_REASON;
                }
            }
            if (rc == 0)
                rc = HTTP_NEED_MORE;
            break;
        case S_REASON:
        case S_VALUE:
            if (r->state == S_REASON || r->field == F_OTHER) {
                /* Nothing here is kept: jump to the end of the line. */
                const char *nl = memchr(buf + i, '\n', len - i);
                step = nl != NULL ? (size_t)(nl - (buf + i)) + 1 : len - i;
                if (nl != NULL)
                    r->state = S_LINE_START;
            } else if (c == '\r') {
                r->state = S_VALUE_LF;
            } else if (c == '\n') {
                r->state = S_LINE_START;
            } else if (c < ' ' && c != '\t') {
                rc = HTTP_E_HEADER;
            } else {
                keep_value_byte(r, (char)c);
            }
            break;
        case S_STATUS_LF:
        case S_VALUE_LF:
            if (c != '\n')
                rc = r->state == S_STATUS_LF ? HTTP_E_STATUS : HTTP_E_HEADER;
            r->state = S_LINE_START;
            break;
        case S_LINE_START:
            if (is_ws(c)) {
                if (!r->have_field) {
                    rc = HTTP_E_HEADER; /* whitespace before the first field */
                } else {
                    if (r->field != F_OTHER)
                        keep_value_byte(r, ' '); /* obs-fold: joined with a space */
                    r->state = S_VALUE_WS;
                }
                break;
            }
            rc = commit_field(r);
            if (rc < 0)
                break;
            rc = HTTP_NEED_MORE;
            if (c == '\r') {
                r->state = S_HEAD_LF;
            } else if (c == '\n') {
                r->head_bytes++;
                i++;
                rc = end_of_head(r);
                step = 0;
                if (rc == HTTP_HEAD || rc < 0)
                    continue;
            } else {
                r->name_len = 0;
                r->state = S_NAME;
                step = 0;
            }
            break;
        case S_NAME: {
            unsigned char t = token_lower(c);
            if (c == ':' && r->name_len > 0) {
                r->field = (uint8_t)(r->name_len <= sizeof r->name ? classify(r->name, r->name_len)
                                                                   : F_OTHER);
                r->value_len = 0;
                r->value_overflow = false;
                if (r->field == F_LOCATION) {
                    r->location_len = 0;
                    r->location_too_long = false;
                }
                r->have_field = true;
                r->state = S_VALUE_WS;
            } else if (t == 0) {
                rc = HTTP_E_HEADER;
            } else {
                if (r->name_len < sizeof r->name)
                    r->name[r->name_len] = (char)t;
                if (r->name_len <= sizeof r->name)
                    r->name_len++;
            }
            break;
        }
        case S_VALUE_WS:
            if (!is_ws(c)) {
                r->state = S_VALUE;
                step = 0;
            }
            break;
        case S_HEAD_LF:
            if (c != '\n') {
                rc = HTTP_E_HEADER;
                break;
            }
            r->head_bytes++;
            i++;
            rc = end_of_head(r);
            step = 0;
            if (rc == HTTP_HEAD || rc < 0)
                continue;
            break;
        default:
            return HTTP_E_HEADER; /* not reached: only head states come here */
        }
        if (rc < 0)
            break;
        r->head_bytes += (uint32_t)step;
        i += step;
        if (r->head_bytes > HTTP_MAX_HEAD)
            rc = HTTP_E_TOO_BIG;
    }
    *pos = i;
    return rc;
}

/* The size line of a chunk ended. */
static void chunk_line_end(http_resp_t *r)
{
    if (r->remaining == 0) {
        r->line_bytes = 0; /* from here: bytes of trailers */
        r->state = S_TRAILER_START;
    } else {
        r->state = S_CHUNK_DATA;
    }
}

/* Parses chunk framing from buf[*pos] up to the next data, the end, or an error. */
static int parse_chunked(http_resp_t *r, const char *buf, size_t len, size_t *pos)
{
    size_t i = *pos;
    int rc = HTTP_NEED_MORE;
    while (i < len && r->state != S_CHUNK_DATA && rc == HTTP_NEED_MORE) {
        unsigned char c = (unsigned char)buf[i];
        int h = hex_value(c);
        size_t step = 1;
        switch ((enum state)r->state) {
        case S_CHUNK_SIZE0:
            if (h < 0) {
                rc = HTTP_E_CHUNK;
                break;
            }
            r->remaining = (uint64_t)h;
            r->line_bytes = 1;
            r->state = S_CHUNK_SIZE;
            break;
        case S_CHUNK_SIZE:
            if (h >= 0) {
                if (r->remaining > (UINT64_C(0x7fffffffffffffff) >> 4)) {
                    rc = HTTP_E_CHUNK; /* a size past 2^63 */
                    break;
                }
                r->remaining = r->remaining * 16 + (uint64_t)h;
                break;
            }
            /* fall through - the size has ended */
        case S_CHUNK_WS:
            if (is_ws(c))
                r->state = S_CHUNK_WS;
            else if (c == ';')
                r->state = S_CHUNK_EXT;
            else if (c == '\r')
                r->state = S_CHUNK_LF;
            else if (c == '\n')
                chunk_line_end(r);
            else
                rc = HTTP_E_CHUNK;
            break;
        case S_CHUNK_EXT:
            if (c == '\r')
                r->state = S_CHUNK_LF;
            else if (c == '\n')
                chunk_line_end(r);
            else if (c == 0)
                rc = HTTP_E_CHUNK;
            break;
        case S_CHUNK_LF:
            if (c != '\n')
                rc = HTTP_E_CHUNK;
            else
                chunk_line_end(r);
            break;
        case S_CHUNK_DATA_CR:
            if (c == '\r')
                r->state = S_CHUNK_DATA_LF;
            else if (c == '\n')
                r->state = S_CHUNK_SIZE0;
            else
                rc = HTTP_E_CHUNK;
            break;
        case S_CHUNK_DATA_LF:
            if (c != '\n')
                rc = HTTP_E_CHUNK;
            r->state = S_CHUNK_SIZE0;
            break;
        case S_TRAILER_START:
            if (c == '\r') {
                r->state = S_TRAILER_LF;
            } else if (c == '\n') {
                r->state = S_DONE;
                rc = HTTP_DONE;
            } else {
                r->state = S_TRAILER_LINE;
                step = 0;
            }
            break;
        case S_TRAILER_LINE: {
            const char *nl = memchr(buf + i, '\n', len - i);
            step = nl != NULL ? (size_t)(nl - (buf + i)) + 1 : len - i;
            if (nl != NULL)
                r->state = S_TRAILER_START;
            break;
        }
        case S_TRAILER_LF:
            if (c != '\n') {
                rc = HTTP_E_CHUNK;
                break;
            }
            r->state = S_DONE;
            rc = HTTP_DONE;
            break;
        default:
            return HTTP_E_CHUNK; /* not reached */
        }
        if (rc < 0)
            break;
        i += step;
        r->line_bytes += (uint32_t)step;
        bool trailers = r->state >= S_TRAILER_START && r->state <= S_TRAILER_LF;
        if (rc == HTTP_NEED_MORE &&
            r->line_bytes > (trailers ? HTTP_MAX_TRAILERS : HTTP_MAX_CHUNK_LINE))
            rc = HTTP_E_TOO_BIG;
        if (r->state == S_CHUNK_SIZE0 || r->state == S_CHUNK_DATA)
            r->line_bytes = 0;
    }
    *pos = i;
    return rc;
}

/* Hands out body bytes at buf[*pos]: at most `remaining` when limit is set. */
static int body_span(http_resp_t *r, const char *buf, size_t len, size_t *pos, bool limit,
                     const char **body, size_t *body_len)
{
    size_t n = len - *pos;
    if (n == 0)
        return HTTP_NEED_MORE;
    if (limit && n > r->remaining)
        n = (size_t)r->remaining;
    *body = buf + *pos;
    *body_len = n;
    *pos += n;
    r->body_bytes += n;
    if (limit) {
        r->remaining -= n;
        if (r->remaining == 0)
            r->state = r->state == S_CHUNK_DATA ? S_CHUNK_DATA_CR : S_DONE;
    }
    return HTTP_BODY;
}

int http_resp_feed(http_resp_t *r, const char *buf, size_t len, size_t *used, const char **body,
                   size_t *body_len)
{
    size_t pos = 0;
    int rc;
    *body = NULL;
    *body_len = 0;
    if (buf == NULL)
        len = 0;
    if (in_head(r)) {
        rc = parse_head(r, buf, len, &pos);
    } else {
        switch ((enum state)r->state) {
        case S_BODY_LEN:
            rc = body_span(r, buf, len, &pos, true, body, body_len);
            break;
        case S_BODY_EOF:
            rc = body_span(r, buf, len, &pos, false, body, body_len);
            break;
        case S_CHUNK_DATA:
            rc = body_span(r, buf, len, &pos, true, body, body_len);
            break;
        case S_DONE:
            rc = HTTP_DONE;
            break;
        case S_ERROR:
            rc = r->error;
            break;
        default:
            rc = parse_chunked(r, buf, len, &pos);
            if (rc == HTTP_NEED_MORE && r->state == S_CHUNK_DATA)
                rc = body_span(r, buf, len, &pos, true, body, body_len);
            break;
        }
    }
    if (rc < 0 && r->state != S_ERROR)
        fail(r, rc);
    *used = pos;
    return rc;
}

int http_resp_eof(http_resp_t *r)
{
    switch ((enum state)r->state) {
    case S_BODY_EOF:
    case S_DONE:
        r->state = S_DONE;
        return HTTP_DONE;
    case S_ERROR:
        return r->error;
    default:
        return fail(r, HTTP_E_TRUNCATED);
    }
}

bool http_resp_started(const http_resp_t *r)
{
    return r->head_bytes > 0 || !in_head(r);
}

bool http_resp_head_done(const http_resp_t *r)
{
    return r->head_done;
}

const char *http_resp_strerror(int err)
{
    switch (err) {
    case HTTP_E_STATUS:
        return "bad status line";
    case HTTP_E_HEADER:
        return "bad header field";
    case HTTP_E_LENGTH:
        return "bad or conflicting Content-Length";
    case HTTP_E_CHUNK:
        return "bad chunked encoding";
    case HTTP_E_TOO_BIG:
        return "head, chunk line or trailers too long";
    case HTTP_E_TRUNCATED:
        return "response truncated";
    default:
        return "unknown parse error";
    }
}
