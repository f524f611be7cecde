/* http_request.h: an HTTP/1.1 request-head parser and a request-path normaliser for
 * corio-httpd. Pure functions over a byte buffer: no I/O, no allocation, no global state,
 * so they can be unit-tested and fuzzed on their own (tests/test_http_request.c).
 *
 * What is accepted (RFC 9112), and what is refused with which status:
 * - Request line `METHOD SP TARGET SP HTTP/x.y`, exactly one space between the parts.
 *   Empty lines before it are skipped. A method is any token (case-sensitive: "get" is an
 *   unknown method, not GET); the caller answers 405 or 501. A target is visible ASCII
 *   (0x21-0x7e) without '#': origin-form ("/path?query"), absolute-form
 *   ("http://host/path", its scheme and authority dropped from `path`), "*" for OPTIONS
 *   only, and anything non-empty for CONNECT. Anything else: 400.
 * - Versions: HTTP/1.0 and HTTP/1.1; HTTP/1.2-1.9 are read as 1.1 (RFC 9110 2.5); any
 *   other well-formed HTTP/d.d is 505; a malformed version is 400.
 * - Line ends: CRLF, or a bare LF (RFC 9112 2.2 lets a recipient accept it, as nginx
 *   does). A CR not followed by LF is 400.
 * - Header fields `name: value`: name a token, no whitespace before the colon (400);
 *   optional whitespace around the value is trimmed; control characters in a value and
 *   obsolete line folding are 400; names compare case-insensitively.
 * - Limits: a head (request line, fields and the empty line) longer than max_head bytes is
 *   431, or 414 when the request line alone does not fit. More than HTTP_MAX_HEADERS
 *   fields (or more than the caller's array holds) is 431.
 * - Framing (RFC 9112 6): Content-Length must be 1*DIGIT; a second Content-Length field or
 *   a list ("5, 5") is 400, a value beyond 2^64-1 saturates (the caller answers 413).
 *   Transfer-Encoding whose last coding is not "chunked", "chunked" twice,
 *   Transfer-Encoding together with Content-Length, or Transfer-Encoding in an HTTP/1.0
 *   request are 400.
 * - HTTP/1.1 requires exactly one Host field (400 otherwise); HTTP/1.0 needs none.
 */
#ifndef CORIO_EXAMPLES_HTTP_REQUEST_H
#define CORIO_EXAMPLES_HTTP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_HEAD    8192 /* default limit of a request head, in bytes */
#define HTTP_MAX_HEADERS 100  /* header fields per request */

enum http_method {
    HTTP_METHOD_OTHER = 0, /* a well-formed method this parser does not know */
    HTTP_METHOD_GET,
    HTTP_METHOD_HEAD,
    HTTP_METHOD_POST,
    HTTP_METHOD_PUT,
    HTTP_METHOD_DELETE,
    HTTP_METHOD_CONNECT,
    HTTP_METHOD_OPTIONS,
    HTTP_METHOD_TRACE,
    HTTP_METHOD_PATCH,
};

/* One header field; both strings point into the parsed buffer and are not NUL-terminated. */
struct http_header {
    const char *name;
    size_t name_len;
    const char *value; /* surrounding whitespace trimmed */
    size_t value_len;
};

/* A parsed request head. Every pointer points into the caller's buffer (nothing is
 * copied), so it is valid only while that buffer holds the head unchanged. */
struct http_request {
    /* in: where to store the fields (may be NULL with max_headers 0: fields are checked,
     * counted and interpreted, but not stored) */
    struct http_header *headers;
    size_t max_headers;

    /* out */
    enum http_method method;
    const char *method_name;
    size_t method_len;
    const char *target; /* the request-target as sent */
    size_t target_len;
    const char *path; /* the target's path, still percent-encoded ("/" for an absolute-form
                         target without one, "*" for OPTIONS *, empty for CONNECT) */
    size_t path_len;
    const char *query; /* after '?', or NULL when the target has no '?' */
    size_t query_len;
    int version_minor;  /* 0 or 1: HTTP/1.0 or HTTP/1.1 (1.2-1.9 read as 1.1) */
    size_t num_headers; /* fields seen (stored when headers is not NULL) */
    const char *host;   /* the Host value, or NULL (HTTP/1.0 without one) */
    size_t host_len;
    uint64_t content_length; /* valid when has_content_length; saturates at UINT64_MAX */
    bool has_content_length;
    bool chunked;         /* Transfer-Encoding ends in chunked (the only one accepted) */
    bool keep_alive;      /* after this exchange: 1.1 unless "close", 1.0 only with "keep-alive" */
    bool expect_continue; /* "Expect: 100-continue" */
};

/* Parses the request head at the start of buf[0, len). max_head bounds the head's size (0:
 * HTTP_MAX_HEAD). Fills *req (its headers/max_headers inputs aside) and returns:
 *   > 0  the head is complete: its length, through the empty line; a body, and any
 *        pipelined request, follow it in buf
 *   0    incomplete: no error so far, more bytes are needed (never when len >= max_head)
 *   < 0  the request is refused: minus the HTTP status to answer (-400, -414, -431, -505)
 * Errors are found as early as the bytes allow: a bad request line is refused before its
 * headers arrive. Bytes beyond the head are never looked at. */
int http_parse_request(const char *buf, size_t len, size_t max_head, struct http_request *req);

/* Percent-decodes a request path (the `path` of a parsed request, starting with '/') and
 * resolves its dot segments, writing the result relative to the document root, with no
 * leading '/', into out[0, cap): "/a/./b//c.txt" gives "a/b/c.txt", "/" gives "", "/d/"
 * gives "d/" (a trailing '/' is kept). Decoding comes first, so "%2e%2e" and "%2F" are
 * seen as ".." and '/'. out is NUL-terminated. Returns the length, or:
 *   -400  a '%' not followed by two hex digits, an encoded NUL ("%00"), or a path not
 *         starting with '/'
 *   -403  a ".." segment that would climb above the root ("/../x", "/a/../../x")
 *   -414  the result, or the path decoded up to a ".." that shortens it, does not fit
 *         in cap bytes (with its NUL)
 * A ".." that stays inside the root ("/a/../b" -> "b") is resolved, not refused. */
int http_path_normalize(const char *path, size_t len, char *out, size_t cap);

/* The reason phrase of a status code ("Not Found"), or "Unknown". */
const char *http_reason(int status);

#endif
