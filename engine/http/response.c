/* The HTTP/1.1 response parser (corio/http_parse.h section 5), a byte-driven state
 * machine. The head is walked byte by byte except where nothing needs reading (the reason
 * phrase, fields nobody asked about), which memchr skips; body bytes are never walked at
 * all: they are handed back as views, a chunked body through the chunked decoder
 * (chunked.c). Only the fields that decide framing, redirects and decoding have their
 * values kept, unless the caller gave a store for every field. */
#include <corio/http.h>

#include "http/syntax.h"

#include <string.h>

enum state {
    S_START,      /* before the status line: empty lines are skipped */
    S_STATUS,     /* the first 13 bytes of the status line, kept in priv_status_line */
    S_REASON,     /* the rest of the status line, skipped */
    S_STATUS_LF,  /* CR seen at the end of the status line */
    S_LINE_START, /* the start of a field line, or of the empty line ending the head */
    S_NAME,       /* a field name */
    S_VALUE_WS,   /* whitespace before a value (or an obs-fold continuation) */
    S_VALUE,      /* a value */
    S_VALUE_LF,   /* CR seen at the end of an interpreted value */
    S_HEAD_LF,    /* CR seen on the empty line */
    S_BODY_LEN,   /* remaining bytes of a Content-Length body */
    S_BODY_EOF,   /* a body until the connection ends */
    S_CHUNKED,    /* a chunked body, in priv_chunked */
    S_DONE,
    S_ERROR,
};

enum field {
    F_OTHER,
    F_CONTENT_LENGTH,
    F_TRANSFER_ENCODING,
    F_CONNECTION,
    F_LOCATION,
    F_CONTENT_ENCODING,
};

/* Each stored field: its name's and value's lengths, then the name, then the value. */
#define ENTRY_HEAD 8

static int fail(corio_http_resp_parser_t *r, int err)
{
    r->priv_state = S_ERROR;
    r->priv_error = err;
    return err;
}

/* An interim response, whose head is followed by another (RFC 9110 15.2). */
static bool interim(int status)
{
    return status >= 100 && status < 200 && status != 101;
}

static void reset_fields(corio_http_resp_parser_t *r)
{
    r->content_length = -1;
    r->content_encoding = CORIO_HTTP_CODING_IDENTITY;
    r->location_len = 0;
    r->location[0] = '\0';
    r->location_too_long = false;
    r->priv_have_field = false;
    r->priv_cl_seen = r->priv_te_seen = r->priv_te_chunked = r->priv_te_chunked_once = false;
    r->priv_conn_close = r->priv_conn_keep_alive = false;
    r->priv_codings = 0;
    r->priv_coding = CORIO_HTTP_CODING_IDENTITY;
    r->priv_status_len = 0;
    r->priv_store_len = 0;
}

void corio_http_resp_parser_init(corio_http_resp_parser_t *r, bool head_request)
{
    r->status = 0;
    r->minor = 0;
    r->framing = CORIO_HTTP_FRAMING_NONE;
    r->keep_alive = false;
    r->body_bytes = 0;
    r->priv_store = NULL;
    r->priv_store_cap = 0;
    r->priv_head_request = head_request;
    r->priv_state = S_START;
    r->priv_error = 0;
    r->priv_head_done = false;
    r->priv_head_bytes = 0;
    r->priv_remaining = 0;
    reset_fields(r);
}

void corio_http_resp_parser_set_store(corio_http_resp_parser_t *r, char *store, size_t cap)
{
    r->priv_store = cap > 0 ? store : NULL;
    r->priv_store_cap = store != NULL ? cap : 0;
    r->priv_store_len = 0;
}

/* ---- the field store ------------------------------------------------------------------- */

static void put_u32(char *at, uint32_t v)
{
    memcpy(at, &v, sizeof v);
}

static uint32_t get_u32(const char *at)
{
    uint32_t v;
    memcpy(&v, at, sizeof v);
    return v;
}

/* Appends n bytes to the field being stored. Returns 0 or CORIO_HTTP_EHEAD_TOO_BIG. */
static int store_put(corio_http_resp_parser_t *r, const char *p, size_t n)
{
    if (n > r->priv_store_cap - r->priv_store_len)
        return CORIO_HTTP_EHEAD_TOO_BIG;
    memcpy(r->priv_store + r->priv_store_len, p, n);
    r->priv_store_len += n;
    return 0;
}

/* Starts storing a field (its name comes next), if there is a store for this head. */
static int store_begin(corio_http_resp_parser_t *r)
{
    r->priv_storing = r->priv_store != NULL && !interim(r->status);
    if (!r->priv_storing)
        return 0;
    if (ENTRY_HEAD > r->priv_store_cap - r->priv_store_len)
        return CORIO_HTTP_EHEAD_TOO_BIG;
    r->priv_entry = r->priv_store_len;
    r->priv_store_len += ENTRY_HEAD;
    return 0;
}

/* Where the stored value of the current field starts. */
static size_t store_value_start(const corio_http_resp_parser_t *r)
{
    return r->priv_entry + ENTRY_HEAD + get_u32(r->priv_store + r->priv_entry);
}

/* A line of the stored value ended at an LF: its CR is no part of it. */
static void store_line_end(corio_http_resp_parser_t *r)
{
    if (r->priv_store_len > store_value_start(r) && r->priv_store[r->priv_store_len - 1] == '\r')
        r->priv_store_len--;
}

/* The stored field is complete: trims its value and records its length. Control
 * characters left in it (only fields that are not interpreted can have them) become
 * spaces, RFC 9110 5.5. */
static void store_end(corio_http_resp_parser_t *r)
{
    size_t start = store_value_start(r);
    char *v = r->priv_store + start;
    size_t n = r->priv_store_len - start;
    while (n > 0 && http_is_ows((unsigned char)v[n - 1]))
        n--;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
            v[i] = ' ';
    r->priv_store_len = start + n;
    put_u32(r->priv_store + r->priv_entry + 4, (uint32_t)n);
}

bool corio_http_resp_parser_next_field(const corio_http_resp_parser_t *r, size_t *pos,
                                       const char **name, size_t *name_len, const char **value,
                                       size_t *value_len)
{
    if (!r->priv_head_done || r->priv_store == NULL || *pos + ENTRY_HEAD > r->priv_store_len)
        return false;
    const char *e = r->priv_store + *pos;
    uint32_t nl = get_u32(e), vl = get_u32(e + 4);
    *name = e + ENTRY_HEAD;
    *name_len = nl;
    *value = e + ENTRY_HEAD + nl;
    *value_len = vl;
    *pos += ENTRY_HEAD + nl + vl;
    return true;
}

bool corio_http_resp_parser_field(const corio_http_resp_parser_t *r, const char *name, size_t *pos,
                                  const char **value, size_t *value_len)
{
    size_t want = strlen(name);
    const char *n;
    size_t nl;
    while (corio_http_resp_parser_next_field(r, pos, &n, &nl, value, value_len)) {
        if (nl != want)
            continue;
        size_t i = 0;
        while (i < nl && http_lower((unsigned char)n[i]) == http_lower((unsigned char)name[i]))
            i++;
        if (i == nl)
            return true;
    }
    return false;
}

/* ---- interpreted fields ---------------------------------------------------------------- */

/* Calls fn on each element of a comma-separated list in value (RFC 9110 5.6.1: empty
 * elements and whitespace around elements are ignored). Stops at the first non-zero
 * result and returns it. */
static int for_each_element(corio_http_resp_parser_t *r, const char *v, size_t n,
                            int (*fn)(corio_http_resp_parser_t *r, const char *e, size_t len))
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (http_is_ows((unsigned char)v[i]) || v[i] == ','))
            i++;
        size_t start = i;
        while (i < n && v[i] != ',')
            i++;
        size_t end = i;
        while (end > start && http_is_ows((unsigned char)v[end - 1]))
            end--;
        if (end > start) {
            int rc = fn(r, v + start, end - start);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

/* The length of a coding's name: a coding may carry parameters ("gzip;q=1"). */
static size_t coding_name(const char *e, size_t len)
{
    size_t name = 0;
    while (name < len && e[name] != ';' && !http_is_ows((unsigned char)e[name]))
        name++;
    return name;
}

/* One Content-Length element: digits only, at most 18 (below 2^63), equal to any seen. */
static int length_element(corio_http_resp_parser_t *r, const char *e, size_t len)
{
    if (len > 18)
        return CORIO_HTTP_ELENGTH;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (e[i] < '0' || e[i] > '9')
            return CORIO_HTTP_ELENGTH;
        v = v * 10 + (e[i] - '0');
    }
    if (r->priv_cl_seen && r->content_length != v)
        return CORIO_HTTP_ELENGTH;
    r->priv_cl_seen = true;
    r->content_length = v;
    return 0;
}

/* One transfer coding: chunked must come last and only once. */
static int transfer_element(corio_http_resp_parser_t *r, const char *e, size_t len)
{
    bool chunked = http_ieq(e, coding_name(e, len), "chunked");
    if (chunked && r->priv_te_chunked_once)
        return CORIO_HTTP_ELENGTH; /* chunked twice */
    r->priv_te_chunked_once |= chunked;
    r->priv_te_seen = true;
    r->priv_te_chunked = chunked; /* what counts is whether the last coding is chunked */
    return 0;
}

/* One content coding (RFC 9110 8.4); identity is none. */
static int content_element(corio_http_resp_parser_t *r, const char *e, size_t len)
{
    size_t n = coding_name(e, len);
    corio_http_coding_t c;
    if (http_ieq(e, n, "identity"))
        return 0;
    if (http_ieq(e, n, "gzip") || http_ieq(e, n, "x-gzip"))
        c = CORIO_HTTP_CODING_GZIP;
    else if (http_ieq(e, n, "deflate"))
        c = CORIO_HTTP_CODING_DEFLATE;
    else
        c = CORIO_HTTP_CODING_OTHER;
    r->priv_coding = (uint8_t)c;
    if (r->priv_codings < 2)
        r->priv_codings++;
    return 0;
}

static int connection_element(corio_http_resp_parser_t *r, const char *e, size_t len)
{
    if (http_ieq(e, len, "close"))
        r->priv_conn_close = true;
    else if (http_ieq(e, len, "keep-alive"))
        r->priv_conn_keep_alive = true;
    return 0;
}

/* The field just read is complete (the next line does not continue it). */
static int commit_field(corio_http_resp_parser_t *r)
{
    if (!r->priv_have_field)
        return 0;
    r->priv_have_field = false;
    if (r->priv_storing)
        store_end(r);
    size_t n = r->priv_value_len;
    while (n > 0 && http_is_ows((unsigned char)r->priv_value[n - 1]))
        n--;
    switch ((enum field)r->priv_field) {
    case F_CONTENT_LENGTH:
        if (r->priv_value_overflow || n == 0)
            return CORIO_HTTP_ELENGTH;
        return for_each_element(r, r->priv_value, n, length_element);
    case F_TRANSFER_ENCODING:
        if (r->priv_value_overflow)
            return CORIO_HTTP_EMALFORMED;
        return for_each_element(r, r->priv_value, n, transfer_element);
    case F_CONTENT_ENCODING:
        if (r->priv_value_overflow) { /* too many codings to be one we decode */
            r->priv_codings = 2;
            return 0;
        }
        return for_each_element(r, r->priv_value, n, content_element);
    case F_CONNECTION:
        /* An overlong Connection field is ignored: at worst a connection the server
         * meant to close is tried again, and that failure is recovered from. */
        return r->priv_value_overflow ? 0
                                      : for_each_element(r, r->priv_value, n, connection_element);
    case F_LOCATION:
        while (r->location_len > 0 && http_is_ows((unsigned char)r->location[r->location_len - 1]))
            r->location_len--;
        r->location[r->location_len] = '\0';
        return 0;
    case F_OTHER:
        return 0;
    }
    return 0;
}

/* The field a name (as it came, any case) is, told by its length first. */
static enum field classify(const char *name, size_t len)
{
    switch (len) {
    case 14:
        return http_ieq(name, len, "content-length") ? F_CONTENT_LENGTH : F_OTHER;
    case 17:
        return http_ieq(name, len, "transfer-encoding") ? F_TRANSFER_ENCODING : F_OTHER;
    case 10:
        return http_ieq(name, len, "connection") ? F_CONNECTION : F_OTHER;
    case 8:
        return http_ieq(name, len, "location") ? F_LOCATION : F_OTHER;
    case 16:
        return http_ieq(name, len, "content-encoding") ? F_CONTENT_ENCODING : F_OTHER;
    default:
        return F_OTHER;
    }
}

/* ---- the head --------------------------------------------------------------------------- */

/* Checks the first bytes of a status line: "HTTP/1.d ddd" then a space or its end. */
static int parse_status(corio_http_resp_parser_t *r, bool line_ended)
{
    const char *s = r->priv_status_line;
    size_t n = r->priv_status_len;
    if (n < 12 || memcmp(s, "HTTP/1.", 7) != 0 || s[7] < '0' || s[7] > '9' || s[8] != ' ' ||
        s[9] < '1' || s[9] > '9' || s[10] < '0' || s[10] > '9' || s[11] < '0' || s[11] > '9')
        return CORIO_HTTP_EMALFORMED;
    if (!line_ended && s[12] != ' ')
        return CORIO_HTTP_EMALFORMED;
    r->minor = s[7] - '0';
    r->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    return 0;
}

/* The empty line ending a head: returns CORIO_HTTP_HEAD for a final response (framing
 * decided), CORIO_HTTP_NEED_MORE after an interim 1xx one (the next head follows), or an
 * error. */
static int end_of_head(corio_http_resp_parser_t *r)
{
    int rc = commit_field(r);
    if (rc < 0)
        return rc;
    if (interim(r->status)) {
        reset_fields(r);
        r->priv_state = S_START;
        return CORIO_HTTP_NEED_MORE;
    }
    r->keep_alive =
        r->minor >= 1 ? !r->priv_conn_close : r->priv_conn_keep_alive && !r->priv_conn_close;
    r->content_encoding = r->priv_codings == 0   ? CORIO_HTTP_CODING_IDENTITY
                          : r->priv_codings == 1 ? (corio_http_coding_t)r->priv_coding
                                                 : CORIO_HTTP_CODING_OTHER;
    if (r->priv_head_request || r->status < 200 || r->status == 204 || r->status == 304) {
        r->framing = CORIO_HTTP_FRAMING_NONE;
        if (r->status == 101)
            r->keep_alive = false; /* the connection now speaks another protocol */
        r->priv_state = S_DONE;
    } else if (r->priv_te_seen) {
        if (r->minor == 0)
            return CORIO_HTTP_ELENGTH; /* RFC 9112 6.1: HTTP/1.0 framing with TE is faulty */
        if (r->priv_cl_seen)
            r->keep_alive = false; /* TE overrides CL, but the connection is suspect */
        r->framing = r->priv_te_chunked ? CORIO_HTTP_FRAMING_CHUNKED : CORIO_HTTP_FRAMING_EOF;
        if (r->priv_te_chunked) {
            corio_http_chunked_init(&r->priv_chunked);
            r->priv_state = S_CHUNKED;
        } else {
            r->keep_alive = false;
            r->priv_state = S_BODY_EOF;
        }
    } else if (r->priv_cl_seen) {
        r->framing = CORIO_HTTP_FRAMING_LENGTH;
        r->priv_remaining = (uint64_t)r->content_length;
        r->priv_state = r->priv_remaining > 0 ? S_BODY_LEN : S_DONE;
    } else {
        r->framing = CORIO_HTTP_FRAMING_EOF;
        r->keep_alive = false;
        r->priv_state = S_BODY_EOF;
    }
    r->priv_head_done = true;
    return CORIO_HTTP_HEAD;
}

/* A byte of an interpreted field's value (or the space joining an obs-fold). */
static int keep_value_byte(corio_http_resp_parser_t *r, char c)
{
    if (r->priv_field == F_LOCATION) {
        if (r->location_len < CORIO_HTTP_MAX_LOCATION)
            r->location[r->location_len++] = c;
        else
            r->location_too_long = true;
    } else if (r->priv_field != F_OTHER) {
        if (r->priv_value_len < CORIO_HTTP_MAX_FRAMING_VALUE)
            r->priv_value[r->priv_value_len++] = c;
        else
            r->priv_value_overflow = true;
    }
    return r->priv_storing ? store_put(r, &c, 1) : 0;
}

/* A run of n bytes of an interpreted field's value, as keep_value_byte would take them one
 * by one. Returns 0, or CORIO_HTTP_EHEAD_TOO_BIG when the store has room for fewer: then
 * *taken says how many were taken (those before the byte that did not fit). */
static int keep_value_run(corio_http_resp_parser_t *r, const char *p, size_t n, size_t *taken)
{
    int rc = 0;
    if (r->priv_storing && n > r->priv_store_cap - r->priv_store_len) {
        n = r->priv_store_cap - r->priv_store_len;
        rc = CORIO_HTTP_EHEAD_TOO_BIG;
    }
    if (r->priv_field == F_LOCATION) {
        size_t room = CORIO_HTTP_MAX_LOCATION - r->location_len, k = n < room ? n : room;
        memcpy(r->location + r->location_len, p, k);
        r->location_len += k;
        if (k < n)
            r->location_too_long = true;
    } else if (r->priv_field != F_OTHER) {
        size_t room = CORIO_HTTP_MAX_FRAMING_VALUE - r->priv_value_len, k = n < room ? n : room;
        memcpy(r->priv_value + r->priv_value_len, p, k);
        r->priv_value_len += (uint32_t)k;
        if (k < n)
            r->priv_value_overflow = true;
    }
    if (r->priv_storing)
        store_put(r, p, n);
    *taken = n;
    return rc;
}

static bool in_head(const corio_http_resp_parser_t *r)
{
    return r->priv_state <= S_HEAD_LF;
}

/* A field's name has ended at its ':'. */
static void name_end(corio_http_resp_parser_t *r)
{
    size_t n = r->priv_name_len;
    r->priv_field = (uint8_t)(n <= sizeof r->priv_name ? classify(r->priv_name, n) : F_OTHER);
    r->priv_value_len = 0;
    r->priv_value_overflow = false;
    if (r->priv_field == F_LOCATION) {
        r->location_len = 0;
        r->location_too_long = false;
    }
    if (r->priv_storing)
        put_u32(r->priv_store + r->priv_entry,
                (uint32_t)(r->priv_store_len - r->priv_entry - ENTRY_HEAD));
    r->priv_have_field = true;
    r->priv_state = S_VALUE_WS;
}

/* Skips (and stores) a value nothing interprets, up to its line end. Returns the bytes
 * taken, and 0 or an error in *rc. */
static size_t skip_value(corio_http_resp_parser_t *r, const char *p, size_t n, int *rc)
{
    const char *nl = memchr(p, '\n', n);
    size_t line = nl != NULL ? (size_t)(nl - p) : n;
    if (r->priv_state == S_VALUE && r->priv_storing) {
        *rc = store_put(r, p, line);
        if (*rc < 0)
            return 0;
        if (nl != NULL)
            store_line_end(r);
    }
    if (nl == NULL)
        return n;
    r->priv_state = S_LINE_START;
    return line + 1;
}

/* The bytes of a field name from buf[*i], in state S_NAME: the run of token bytes (kept as
 * they came, as far as priv_name holds them, and stored), and when its ':' follows, that and
 * the whitespace after it too, so that a whole name usually takes one step. No further
 * than the byte that makes the head too big. Returns CORIO_HTTP_NEED_MORE with *step the
 * bytes taken, or an error (*i and the head's count then past the bytes that were taken). */
static int name_step(corio_http_resp_parser_t *r, const char *buf, size_t len, size_t *i,
                     size_t *step)
{
    size_t at = *i, room = CORIO_HTTP_MAX_RESPONSE_HEAD + 1 - r->priv_head_bytes;
    size_t end = at, stop = len - at > room ? at + room : len;
    while (end < stop && corio_http_token_lower[(unsigned char)buf[end]] != 0)
        end++;
    size_t run = end - at, n = r->priv_name_len;
    if (run > 0) {
        if (n < sizeof r->priv_name)
            memcpy(r->priv_name + n, buf + at,
                   run < sizeof r->priv_name - n ? run : sizeof r->priv_name - n);
        n = n + run > sizeof r->priv_name ? sizeof r->priv_name + 1 : n + run;
        r->priv_name_len = (uint16_t)n;
        size_t fit = r->priv_store_cap - r->priv_store_len;
        if (r->priv_storing && run > fit) {
            /* As a byte at a time: stored up to the byte that does not fit. */
            store_put(r, buf + at, fit);
            r->priv_head_bytes += (uint32_t)fit;
            *i += fit;
            return CORIO_HTTP_EHEAD_TOO_BIG;
        }
        if (r->priv_storing)
            store_put(r, buf + at, run);
    }
    if (end == stop || buf[end] != ':')
        return run > 0 ? (*step = run, CORIO_HTTP_NEED_MORE) : CORIO_HTTP_EMALFORMED;
    if (n == 0)
        return CORIO_HTTP_EMALFORMED;
    name_end(r);
    end++;
    while (end < stop && http_is_ows((unsigned char)buf[end]))
        end++;
    if (end < stop)
        r->priv_state = S_VALUE;
    *step = end - at;
    return CORIO_HTTP_NEED_MORE;
}

/* Parses head bytes from buf[*pos]: returns CORIO_HTTP_HEAD when the final head ended,
 * CORIO_HTTP_NEED_MORE when the buffer ran out, or an error. */
static int parse_head(corio_http_resp_parser_t *r, const char *buf, size_t len, size_t *pos)
{
    size_t i = *pos;
    int rc = CORIO_HTTP_NEED_MORE;
    while (i < len && rc == CORIO_HTTP_NEED_MORE) {
        unsigned char c = (unsigned char)buf[i];
        size_t step = 1;
        switch ((enum state)r->priv_state) {
        case S_START:
            if (c != '\r' && c != '\n') {
                r->priv_state = S_STATUS;
                step = 0;
            }
            break;
        case S_STATUS:
            if (c == '\r' || c == '\n') {
                rc = parse_status(r, true);
                r->priv_state = c == '\r' ? S_STATUS_LF : S_LINE_START;
            } else if (r->priv_status_len < 12) {
                /* The bytes before the 13th of "HTTP/1.1 200 " in one run, up to a line end
                 * and no further than the byte that makes the head too big; the 13th, which
                 * completes what parse_status reads, comes on its own. */
                size_t room = CORIO_HTTP_MAX_RESPONSE_HEAD + 1 - r->priv_head_bytes;
                size_t most = 12u - r->priv_status_len;
                most = most < room ? most : room;
                size_t end = i + 1, stop = len - i > most ? i + most : len;
                while (end < stop && buf[end] != '\r' && buf[end] != '\n')
                    end++;
                step = end - i;
                memcpy(r->priv_status_line + r->priv_status_len, buf + i, step);
                r->priv_status_len += (uint8_t)step;
            } else {
                r->priv_status_line[r->priv_status_len++] = (char)c;
                if (r->priv_status_len == 13) {
                    rc = parse_status(r, false);
                    r->priv_state = S_REASON;
                }
            }
            if (rc == 0)
                rc = CORIO_HTTP_NEED_MORE;
            break;
        case S_REASON:
        case S_VALUE:
            if (r->priv_state == S_REASON || r->priv_field == F_OTHER) {
                /* Nothing here is interpreted: on to the end of the line. */
                rc = CORIO_HTTP_NEED_MORE;
                step = skip_value(r, buf + i, len - i, &rc);
                if (rc == 0)
                    rc = CORIO_HTTP_NEED_MORE;
            } else if (c == '\r') {
                r->priv_state = S_VALUE_LF;
            } else if (c == '\n') {
                r->priv_state = S_LINE_START;
            } else if (c < ' ' && c != '\t') {
                rc = CORIO_HTTP_EMALFORMED;
            } else {
                /* The run of value bytes up to the line's end or a control byte, and no
                 * further than the byte that makes the head too big. */
                size_t room = CORIO_HTTP_MAX_RESPONSE_HEAD + 1 - r->priv_head_bytes;
                size_t end = i + 1, stop = len - i > room ? i + room : len;
                while (end < stop && ((unsigned char)buf[end] >= ' ' || buf[end] == '\t'))
                    end++;
                rc = keep_value_run(r, buf + i, end - i, &step);
                if (rc < 0) { /* as a byte at a time: the bytes that fit are taken */
                    r->priv_head_bytes += (uint32_t)step;
                    i += step;
                } else {
                    rc = CORIO_HTTP_NEED_MORE;
                    /* The line's end, when it is here, in the same step. */
                    if (end + 1 < stop && buf[end] == '\r' && buf[end + 1] == '\n') {
                        step += 2;
                        r->priv_state = S_LINE_START;
                    }
                }
            }
            break;
        case S_STATUS_LF:
        case S_VALUE_LF:
            if (c != '\n')
                rc = CORIO_HTTP_EMALFORMED;
            r->priv_state = S_LINE_START;
            break;
        case S_LINE_START:
            if (http_is_ows(c)) {
                if (!r->priv_have_field) {
                    rc = CORIO_HTTP_EMALFORMED; /* whitespace before the first field */
                } else {
                    rc = keep_value_byte(r, ' '); /* obs-fold: joined with a space */
                    if (rc == 0)
                        rc = CORIO_HTTP_NEED_MORE;
                    r->priv_state = S_VALUE_WS;
                }
                break;
            }
            rc = commit_field(r);
            if (rc < 0)
                break;
            rc = CORIO_HTTP_NEED_MORE;
            if (c == '\r') {
                r->priv_state = S_HEAD_LF;
            } else if (c == '\n') {
                r->priv_head_bytes++;
                i++;
                rc = end_of_head(r);
                step = 0;
                if (rc == CORIO_HTTP_HEAD || rc < 0)
                    continue;
            } else {
                rc = store_begin(r);
                if (rc < 0)
                    break;
                r->priv_name_len = 0;
                r->priv_state = S_NAME;
                rc = name_step(r, buf, len, &i, &step);
            }
            break;
        case S_NAME:
            rc = name_step(r, buf, len, &i, &step);
            break;
        case S_VALUE_WS:
            if (!http_is_ows(c)) {
                r->priv_state = S_VALUE;
                step = 0;
            }
            break;
        case S_HEAD_LF:
            if (c != '\n') {
                rc = CORIO_HTTP_EMALFORMED;
                break;
            }
            r->priv_head_bytes++;
            i++;
            rc = end_of_head(r);
            step = 0;
            if (rc == CORIO_HTTP_HEAD || rc < 0)
                continue;
            break;
        default:
            return CORIO_HTTP_EMALFORMED; /* not reached: only head states come here */
        }
        if (rc < 0)
            break;
        r->priv_head_bytes += (uint32_t)step;
        i += step;
        if (r->priv_head_bytes > CORIO_HTTP_MAX_RESPONSE_HEAD)
            rc = CORIO_HTTP_EHEAD_TOO_BIG;
    }
    *pos = i;
    return rc;
}

/* ---- the body --------------------------------------------------------------------------- */

/* Hands out body bytes at buf[*pos]: at most priv_remaining when limit is set. */
static int body_span(corio_http_resp_parser_t *r, const char *buf, size_t len, size_t *pos,
                     bool limit, const char **body, size_t *body_len)
{
    size_t n = len - *pos;
    if (n == 0)
        return CORIO_HTTP_NEED_MORE;
    if (limit && n > r->priv_remaining)
        n = (size_t)r->priv_remaining;
    *body = buf + *pos;
    *body_len = n;
    *pos += n;
    r->body_bytes += n;
    if (limit) {
        r->priv_remaining -= n;
        if (r->priv_remaining == 0)
            r->priv_state = S_DONE;
    }
    return CORIO_HTTP_BODY;
}

int corio_http_resp_parser_feed(corio_http_resp_parser_t *r, const char *buf, size_t len,
                                size_t *used, const char **body, size_t *body_len)
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
        switch ((enum state)r->priv_state) {
        case S_BODY_LEN:
            rc = body_span(r, buf, len, &pos, true, body, body_len);
            break;
        case S_BODY_EOF:
            rc = body_span(r, buf, len, &pos, false, body, body_len);
            break;
        case S_CHUNKED:
            rc = corio_http_chunked_decode(&r->priv_chunked, buf, len, &pos, body, body_len);
            if (rc == CORIO_HTTP_BODY)
                r->body_bytes += *body_len;
            else if (rc == CORIO_HTTP_DONE)
                r->priv_state = S_DONE;
            break;
        case S_DONE:
            rc = CORIO_HTTP_DONE;
            break;
        case S_ERROR:
            rc = r->priv_error;
            break;
        default:
            rc = CORIO_HTTP_EMALFORMED; /* not reached */
            break;
        }
    }
    if (rc < 0 && r->priv_state != S_ERROR)
        fail(r, rc);
    *used = pos;
    return rc;
}

int corio_http_resp_parser_eof(corio_http_resp_parser_t *r)
{
    switch ((enum state)r->priv_state) {
    case S_BODY_EOF:
    case S_DONE:
        r->priv_state = S_DONE;
        return CORIO_HTTP_DONE;
    case S_ERROR:
        return r->priv_error;
    default:
        return fail(r, CORIO_HTTP_ETRUNCATED);
    }
}

bool corio_http_resp_parser_started(const corio_http_resp_parser_t *r)
{
    return r->priv_head_bytes > 0 || !in_head(r);
}

bool corio_http_resp_parser_head_done(const corio_http_resp_parser_t *r)
{
    return r->priv_head_done;
}
