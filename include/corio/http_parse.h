/* corio/http_parse.h: HTTP/1.1 message syntax for libcorio-http, as pure functions over
 * byte buffers (included by <corio/http.h>, where the limits and error codes are).
 *
 *   1. conventions
 *   2. URLs: http and https URLs, Host authorities, same origin, redirects, file names
 *   3. requests: the request-head parser and the request-path normaliser
 *   4. chunked coding: an incremental decoder, and the encoder's framing
 *   5. responses: an incremental response parser, with an optional field store
 *
 * Conventions
 * - No I/O, no allocation, no global state: the functions can be fed by any transport and
 *   by a fuzzer alike. The caller provides every buffer and owns it.
 * - A result that points into a buffer the caller gave (a view) is not NUL-terminated
 *   unless said so, and is valid only while that buffer holds the same bytes.
 * - Results are >= 0 or a negative CORIO_HTTP_E* code of <corio/http.h>; the incremental
 *   parsers (sections 4 and 5) return an event, CORIO_HTTP_NEED_MORE and the like, or a
 *   code. Where a parser refuses a request, corio_http_error_status(code) is the status to
 *   answer.
 * - What is accepted follows RFC 9110 (semantics), RFC 9112 (HTTP/1.1) and RFC 3986
 *   (URIs), strictly where a lax reading lets one message be framed two ways (request
 *   smuggling), leniently where RFC 9112 lets a recipient be (a bare LF as a line end).
 */
#ifndef CORIO_HTTP_PARSE_H
#define CORIO_HTTP_PARSE_H

#include <corio/http.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Content and transfer codings the library can name (the names are compared
 * case-insensitively). */
typedef enum corio_http_coding {
    CORIO_HTTP_CODING_IDENTITY = 0, /* none, or "identity" */
    CORIO_HTTP_CODING_GZIP,         /* "gzip" or "x-gzip" (RFC 9110 section 8.4.1.3) */
    CORIO_HTTP_CODING_DEFLATE,      /* "deflate": zlib format (RFC 9110 section 8.4.1.2) */
    CORIO_HTTP_CODING_OTHER,        /* anything else, or more than one coding */
} corio_http_coding_t;

/* ---- 2. URLs ------------------------------------------------------------------------
 * Absolute http:// and https:// URLs: scheme and host case-insensitive, an IPv6 literal
 * in brackets, a port in 1..65535 (default 80 and 443), userinfo kept apart, the fragment
 * dropped. A URL must not contain a space or a control character: what a request line
 * cannot carry as it is is refused rather than rewritten.
 * Host names are letters, digits and "-._~" (what a DNS name holds), at most
 * CORIO_HTTP_MAX_HOST bytes. */

typedef enum corio_http_scheme {
    CORIO_HTTP_SCHEME_HTTP = 0,
    CORIO_HTTP_SCHEME_HTTPS,
} corio_http_scheme_t;

/* A parsed URL. The views point into the string given to corio_http_url_parse. */
typedef struct corio_http_url {
    corio_http_scheme_t scheme;
    char host[CORIO_HTTP_MAX_HOST + 1]; /* NUL-terminated, as written (case kept); an IPv6
                                           literal without its brackets */
    bool ipv6;                          /* host is an IPv6 literal */
    uint16_t port;                      /* as given, else the scheme's default */
    /* The userinfo ("user:password@"), still percent-encoded, for a client to turn into
     * credentials (Basic auth, a proxy's). No function of this library puts it back into
     * an authority, a request or a file name. user is NULL when there is no userinfo;
     * password is NULL when the userinfo has no ':'. */
    const char *user;
    size_t user_len;
    const char *password;
    size_t password_len;
    const char *target; /* the request target: path and query; "/" when the URL has no
                           path; never the fragment */
    size_t target_len;  /* > 0 */
} corio_http_url_t;

/* Parses the NUL-terminated absolute URL s into *u; s must outlive u's views. Returns 0,
 * CORIO_HTTP_EURL_SCHEME (no scheme, or one other than http and https), or
 * CORIO_HTTP_EURL: longer than CORIO_HTTP_MAX_URL, a space or control character, no "//"
 * after the scheme, an empty, overlong or malformed host (an IPv6 literal is checked
 * with inet_pton), a port that is empty or outside 1..65535, userinfo with a character
 * RFC 3986 does not allow there or a bad percent-encoding, or a query without a path
 * ("http://h?q": write "http://h/?q"). *u is undefined after an error. */
CORIO_HTTP_API int corio_http_url_parse(const char *s, corio_http_url_t *u);

/* Writes u's authority for a Host field into out, NUL-terminated: the host, in brackets
 * if IPv6, and ":port" unless it is the scheme's default; never the userinfo. Returns its
 * length, or CORIO_HTTP_EURL when it does not fit in outsz bytes
 * (CORIO_HTTP_MAX_AUTHORITY always does). */
CORIO_HTTP_API int corio_http_url_authority(const corio_http_url_t *u, char *out, size_t outsz);

/* Whether a and b have the same origin (RFC 6454): scheme, host (ASCII
 * case-insensitively) and port. A client keeps credentials and pooled connections within
 * one origin. */
CORIO_HTTP_API bool corio_http_url_same_origin(const corio_http_url_t *a,
                                               const corio_http_url_t *b);

/* Resolves a redirect's Location value loc (NUL-terminated) against base, RFC 3986
 * section 5.2: absolute ("https://h/p", any scheme, copied as it is), scheme-relative
 * ("//h/p", given base's scheme), absolute-path ("/p"), query ("?q") and relative ("p",
 * "../p") references, dot segments removed; the fragment dropped. The base's userinfo is
 * never carried over. Writes the absolute URL into out, NUL-terminated, and returns its
 * length, or CORIO_HTTP_EURL when loc is empty (or only a fragment) or the result does
 * not fit in outsz bytes. The result still has to be parsed: it may name another scheme
 * or be malformed. */
CORIO_HTTP_API int corio_http_url_resolve(const corio_http_url_t *base, const char *loc, char *out,
                                          size_t outsz);

/* Writes a file name for u into out, NUL-terminated (outsz >= 1; with outsz below
 * CORIO_HTTP_MAX_FILENAME + 1 the name is bounded by outsz - 1): host, "_port" unless it
 * is the scheme's default, and the target, with every byte outside [A-Za-z0-9._-] (so
 * every '/' and '%') turned into '_', a leading dot and any dot after a dot turned into
 * '_' (no ".", "..", hidden files or ".." anywhere), "index" appended to a name ending in
 * '_', and a name too long cut and ended with a hash of the whole (names that share a
 * prefix stay distinct). Never empty, never a path; no userinfo. Returns its length. */
CORIO_HTTP_API size_t corio_http_url_filename(const corio_http_url_t *u, char *out, size_t outsz);

/* ---- 3. requests --------------------------------------------------------------------
 * What corio_http_parse_request accepts, and what it refuses with which code (RFC 9112):
 * - Request line `METHOD SP TARGET SP HTTP/x.y`, exactly one space between the parts;
 *   empty lines before it are skipped. A method is any token (case-sensitive: "get" is
 *   an unknown method, not GET); the caller answers 405 or 501. A target is visible
 *   ASCII (0x21-0x7e) without '#': origin-form ("/path?query"), absolute-form
 *   ("http://host/path": its scheme and authority are dropped from `path`, the
 *   authority is checked as uri-host [":" port] without userinfo), "*" for OPTIONS
 *   only, and for CONNECT the authority-form uri-host ":" port. Anything else:
 *   CORIO_HTTP_EMALFORMED.
 * - Versions: HTTP/1.0 and HTTP/1.1; HTTP/1.2-1.9 are read as 1.1 (RFC 9110 section
 *   2.5); any other well-formed HTTP/d.d is CORIO_HTTP_EVERSION; a malformed version is
 *   CORIO_HTTP_EMALFORMED.
 * - Line ends: CRLF, or a bare LF (RFC 9112 section 2.2 lets a recipient accept it, as
 *   nginx does). A CR not followed by LF is CORIO_HTTP_EMALFORMED.
 * - Header fields `name: value`: the name a token, no whitespace before the colon;
 *   optional whitespace around the value is trimmed; control characters in a value and
 *   obsolete line folding are refused (CORIO_HTTP_EMALFORMED); names compare
 *   case-insensitively.
 * - Limits: a head longer than max_head bytes is CORIO_HTTP_EHEAD_TOO_BIG, or
 *   CORIO_HTTP_EURI_TOO_LONG when the request line alone does not fit. More than
 *   CORIO_HTTP_MAX_HEADERS fields (or more than the caller's array holds) is
 *   CORIO_HTTP_EHEAD_TOO_BIG.
 * - Framing (RFC 9112 section 6), CORIO_HTTP_ELENGTH unless said otherwise:
 *   Content-Length must be 1*DIGIT; a second Content-Length field or a list ("5, 5") is
 *   refused; a value beyond 2^64-1 saturates (the caller answers 413). A
 *   Transfer-Encoding whose last coding is not "chunked", "chunked" listed twice,
 *   Transfer-Encoding with Content-Length, or Transfer-Encoding in an HTTP/1.0 request
 *   are refused; so far RFC 9112 section 6.3 says 400. A coding before chunked other than
 *   one gzip or deflate is CORIO_HTTP_ENOTIMPL: RFC 9112 section 6.1 says a server
 *   SHOULD answer 501 to a transfer coding it does not understand.
 * - Host (RFC 9112 section 3.2): an HTTP/1.1 request has exactly one Host field, an
 *   HTTP/1.0 request at most one, and its value is uri-host [":" port] as RFC 3986
 *   section 3.2.2 writes it (an IP-literal in brackets, checked with inet_pton for IPv6;
 *   an IPv4 address or reg-name of unreserved, sub-delims and percent-encoded bytes, at
 *   most CORIO_HTTP_MAX_HOST long; a port of at most 5 digits up to 65535, or empty),
 *   possibly empty: anything else is CORIO_HTTP_EHOST ("Host: a b" among them). */

typedef enum corio_http_method {
    CORIO_HTTP_METHOD_OTHER = 0, /* a well-formed method this parser does not know */
    CORIO_HTTP_METHOD_GET,
    CORIO_HTTP_METHOD_HEAD,
    CORIO_HTTP_METHOD_POST,
    CORIO_HTTP_METHOD_PUT,
    CORIO_HTTP_METHOD_DELETE,
    CORIO_HTTP_METHOD_CONNECT,
    CORIO_HTTP_METHOD_OPTIONS,
    CORIO_HTTP_METHOD_TRACE,
    CORIO_HTTP_METHOD_PATCH,
} corio_http_method_t;

/* One header field: views into the parsed buffer. */
typedef struct corio_http_header {
    const char *name;
    size_t name_len;
    const char *value; /* surrounding whitespace trimmed */
    size_t value_len;
} corio_http_header_t;

/* A parsed request head. Every view points into the caller's buffer (nothing is copied),
 * so it is valid only while that buffer holds the head unchanged. */
typedef struct corio_http_request_head {
    /* in: where to store the fields (may be NULL with max_headers 0: fields are checked,
     * counted and interpreted, but not stored) */
    corio_http_header_t *headers;
    size_t max_headers;

    /* out */
    corio_http_method_t method;
    const char *method_name;
    size_t method_len;
    const char *target; /* the request-target as sent */
    size_t target_len;
    const char *authority; /* the authority of an absolute-form or authority-form
                              (CONNECT) target; NULL for the other forms */
    size_t authority_len;
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
    bool chunked; /* Transfer-Encoding ends in chunked: the body is chunked-coded */
    /* With chunked: the coding applied before chunked (CORIO_HTTP_CODING_GZIP or
     * _DEFLATE), which the decoded chunk data still carries; else _IDENTITY. */
    corio_http_coding_t transfer_coding;
    bool keep_alive;      /* after this exchange: 1.1 unless "close", 1.0 only with "keep-alive" */
    bool expect_continue; /* "Expect: 100-continue" */
} corio_http_request_head_t;

/* Parses the request head at the start of buf[0, len). max_head bounds the head's size
 * (0: CORIO_HTTP_MAX_HEAD_DEFAULT). A pure function: an incomplete head is parsed again
 * from its start when more bytes have come. Fills *req (its headers/max_headers inputs
 * aside) and returns:
 *   > 0  the head is complete: its length, through the empty line; a body, and any
 *        pipelined request, follow it in buf
 *   0    incomplete: no error so far, more bytes are needed (never when len >= max_head)
 *   < 0  the request is refused: a CORIO_HTTP_E* code as listed above (EMALFORMED,
 *        ELENGTH, EURI_TOO_LONG, EHEAD_TOO_BIG, EVERSION, ENOTIMPL, EHOST);
 *        corio_http_error_status() gives the status to answer
 * Errors are found as early as the bytes allow: a bad request line is refused before its
 * fields arrive. Bytes beyond the head are never looked at. */
CORIO_HTTP_API int corio_http_parse_request(const char *buf, size_t len, size_t max_head,
                                            corio_http_request_head_t *req);

/* Percent-decodes a request path (the `path` of a parsed request, starting with '/') and
 * resolves its dot segments, writing the result relative to the document root, with no
 * leading '/', into out[0, cap): "/a/./b//c.txt" gives "a/b/c.txt", "/" gives "", "/d/"
 * gives "d/" (a trailing '/' is kept). Decoding comes first, so "%2e%2e" and "%2F" are
 * seen as ".." and '/'. out is NUL-terminated. Returns the length, or:
 *   CORIO_HTTP_EMALFORMED     a '%' not followed by two hex digits, an encoded NUL
 *                             ("%00"), or a path not starting with '/'
 *   CORIO_HTTP_EFORBIDDEN     a ".." segment that would climb above the root ("/../x",
 *                             "/a/../../x")
 *   CORIO_HTTP_EURI_TOO_LONG  the result, or the path decoded up to a ".." that shortens
 *                             it, does not fit in cap bytes (with its NUL)
 * A ".." that stays inside the root ("/a/../b" -> "b") is resolved, not refused. */
CORIO_HTTP_API int corio_http_path_normalize(const char *path, size_t len, char *out, size_t cap);

/* ---- 4. chunked coding --------------------------------------------------------------
 * The events of the incremental parsers, here and in section 5: */
enum {
    CORIO_HTTP_NEED_MORE = 0, /* every byte given was used: feed more */
    CORIO_HTTP_HEAD = 1,      /* responses: the head of the final response is complete */
    CORIO_HTTP_BODY = 2,      /* body bytes: a view into the buffer just given */
    CORIO_HTTP_DONE = 3,      /* the message (or body) is complete; bytes after it unused */
};

/* The decoder (RFC 9112 section 7.1) takes a chunked body in pieces of any size (one
 * byte at a time works) and hands back the chunk data as views into the pieces, so data
 * is never copied. It accepts chunk extensions and trailer fields and skips both; a
 * bare LF as a line end; hex sizes up to 2^63 - 1. Limits: a chunk-size line, its line
 * end included, of at most CORIO_HTTP_MAX_CHUNK_LINE bytes (CORIO_HTTP_ECHUNK past it),
 * and a trailer section, its final empty line included, of at most
 * CORIO_HTTP_MAX_TRAILERS (CORIO_HTTP_EHEAD_TOO_BIG). A server reading a chunked
 * request body and the response parser below use the same decoder. */
typedef struct corio_http_chunked {
    uint64_t data_bytes; /* read-only: chunk data bytes reported so far */

    /* private: */
    uint64_t priv_remaining; /* data bytes left in the current chunk */
    uint32_t priv_line_bytes;
    int priv_error;
    uint8_t priv_state;
} corio_http_chunked_t;

/* Prepares d for one chunked body. */
CORIO_HTTP_API void corio_http_chunked_init(corio_http_chunked_t *d);

/* Decodes up to len bytes of buf (len may be 0). Sets *used to the bytes it consumed and
 * returns CORIO_HTTP_NEED_MORE (all len bytes used), CORIO_HTTP_BODY (*data and
 * *data_len: a view into buf, *data_len > 0; call again with the rest), CORIO_HTTP_DONE
 * (the last chunk and the trailer section are complete; the bytes after them are left
 * unused, and later calls return CORIO_HTTP_DONE with *used 0), or an error:
 * CORIO_HTTP_ECHUNK or CORIO_HTTP_EHEAD_TOO_BIG (*used: the bytes taken before the error
 * showed). An error sticks: every later call returns it, with *used 0. If the stream ends
 * before CORIO_HTTP_DONE, the body is truncated. */
CORIO_HTTP_API int corio_http_chunked_decode(corio_http_chunked_t *d, const char *buf, size_t len,
                                             size_t *used, const char **data, size_t *data_len);

/* The encoder: a chunk of n > 0 bytes is its size line, the n bytes, and
 * CORIO_HTTP_CHUNK_END; the body ends with CORIO_HTTP_LAST_CHUNK. */
#define CORIO_HTTP_CHUNK_END  "\r\n"
#define CORIO_HTTP_LAST_CHUNK "0\r\n\r\n" /* the last chunk and an empty trailer section */

/* Writes the chunk-size line for a chunk of n bytes (lowercase hex, CRLF) into out,
 * which holds CORIO_HTTP_CHUNK_SIZE_LINE_MAX bytes, NUL-terminated; returns its length.
 * For n == 0 it writes nothing and returns 0: an empty chunk would end the body (send
 * CORIO_HTTP_LAST_CHUNK for that). */
CORIO_HTTP_API size_t corio_http_chunk_size_line(uint64_t n, char *out);

/* ---- 5. responses -------------------------------------------------------------------
 * An incremental HTTP/1.1 response parser. The caller hands it whatever bytes arrived,
 * in pieces of any size; the parser keeps what it must remember in the
 * corio_http_resp_parser_t and never holds on to the caller's buffer. Body bytes are
 * reported as views into the buffer just given.
 *
 *   corio_http_resp_parser_t r;
 *   corio_http_resp_parser_init(&r, is_head_request);
 *   corio_http_resp_parser_set_store(&r, store, sizeof store);      optional
 *   for each buffer received (buf, len):
 *       loop: ev = corio_http_resp_parser_feed(&r, buf, len, &used, &body, &blen);
 *             buf += used, len -= used;
 *             CORIO_HTTP_NEED_MORE: receive more; CORIO_HTTP_HEAD: r.status etc. are set
 *             (and the store holds the fields); CORIO_HTTP_BODY: blen bytes at body;
 *             CORIO_HTTP_DONE: finished; < 0: an error
 *   when the peer closes: corio_http_resp_parser_eof(&r) says whether that ended it.
 *
 * What it accepts (RFC 9112): an HTTP/1.x status line, header fields (obs-fold joined
 * with a space, bare LF line ends tolerated, empty lines before the status line skipped);
 * interim 1xx responses (except 101) skipped; no body for HEAD, 1xx, 204 and 304; a body
 * framed by Transfer-Encoding (chunked last: the decoder of section 4; not chunked: until
 * the connection ends), else Content-Length (duplicates must agree), else by the end of
 * the connection. Errors: CORIO_HTTP_EMALFORMED (not HTTP/1.x, a malformed status line or
 * field, a control character in an interpreted field), CORIO_HTTP_ELENGTH (a bad
 * Content-Length, several that disagree, chunked listed twice, Transfer-Encoding in an
 * HTTP/1.0 response), CORIO_HTTP_ECHUNK and CORIO_HTTP_EHEAD_TOO_BIG (the head over
 * CORIO_HTTP_MAX_RESPONSE_HEAD, trailers, the store), CORIO_HTTP_ETRUNCATED (from
 * corio_http_resp_parser_eof). After an error every call returns it again.
 *
 * Without a store the parser interprets, and keeps, only what a client needs: status,
 * framing, Content-Length, keep-alive, Location and Content-Encoding; other fields are
 * skipped unread. With a store (a byte buffer the caller owns), it also keeps each field
 * of the final response there, name and value, for corio_http_resp_parser_field() and
 * corio_http_resp_parser_next_field(). Stored values are trimmed of surrounding whitespace,
 * obs-fold continuations are joined with one space, and any control character left in a
 * value of a field that is not interpreted (which the parser would skip without a store)
 * is stored as a space (RFC 9110 section 5.5), so a store changes no verdict but one:
 * fields that do not fit are CORIO_HTTP_EHEAD_TOO_BIG. Each field takes 8 bytes of the
 * store besides its name and value. Interim responses' fields and trailers are not
 * stored. */

/* How the body of the final response is delimited. */
typedef enum corio_http_framing {
    CORIO_HTTP_FRAMING_NONE = 0, /* no body: HEAD, 1xx, 204, 304 */
    CORIO_HTTP_FRAMING_LENGTH,   /* Content-Length bytes */
    CORIO_HTTP_FRAMING_CHUNKED,  /* chunked transfer coding */
    CORIO_HTTP_FRAMING_EOF,      /* everything until the server closes */
} corio_http_framing_t;

typedef struct corio_http_resp_parser {
    /* read-only; valid once CORIO_HTTP_HEAD was returned */
    int status;             /* 100..999 */
    int minor;              /* HTTP/1.minor */
    int64_t content_length; /* -1: none given */
    corio_http_framing_t framing;
    corio_http_coding_t content_encoding; /* what the body is encoded with (Content-Encoding) */
    bool keep_alive;                      /* the connection may carry another request afterwards */
    bool location_too_long; /* Location was longer than CORIO_HTTP_MAX_LOCATION: not kept */
    size_t location_len;    /* 0: no Location field */
    char location[CORIO_HTTP_MAX_LOCATION + 1]; /* NUL-terminated */
    uint64_t body_bytes;                        /* body bytes reported so far (decoded) */

    /* private: */
    corio_http_chunked_t priv_chunked;
    char *priv_store;
    size_t priv_store_cap, priv_store_len;
    size_t priv_entry; /* where the field being stored starts in priv_store */
    uint64_t priv_remaining;
    uint32_t priv_head_bytes;
    uint32_t priv_value_len;
    uint16_t priv_name_len;
    int priv_error;
    uint8_t priv_state;
    uint8_t priv_field; /* the interpreted field whose value is being read */
    uint8_t priv_status_len;
    bool priv_head_request, priv_head_done, priv_have_field, priv_storing, priv_value_overflow;
    bool priv_cl_seen, priv_te_seen, priv_te_chunked, priv_te_chunked_once;
    bool priv_conn_close, priv_conn_keep_alive;
    uint8_t priv_codings; /* Content-Encoding codings other than identity, capped */
    uint8_t priv_coding;  /* the last of them */
    char priv_status_line[16];
    char priv_name[24];
    char priv_value[CORIO_HTTP_MAX_FRAMING_VALUE];
} corio_http_resp_parser_t;

/* Prepares r for one response, with no store. head_request: the request was HEAD (no
 * body follows, whatever the fields say). */
CORIO_HTTP_API void corio_http_resp_parser_init(corio_http_resp_parser_t *r, bool head_request);

/* Gives r a field store: store[0, cap), owned by the caller, which must stay valid while
 * r is used and the fields are read. Call it between corio_http_resp_parser_init and the
 * first feed; a NULL store (or cap 0) means none. */
CORIO_HTTP_API void corio_http_resp_parser_set_store(corio_http_resp_parser_t *r, char *store,
                                                     size_t cap);

/* Parses up to len bytes of buf (len may be 0). Sets *used to the bytes it consumed and
 * returns what it found: CORIO_HTTP_NEED_MORE (all len bytes used), CORIO_HTTP_HEAD,
 * CORIO_HTTP_BODY (*body and *body_len: a view into buf, *body_len > 0),
 * CORIO_HTTP_DONE (any bytes after the response are left unused), or a negative code
 * (listed above). Call again with the rest of the buffer until it returns
 * CORIO_HTTP_NEED_MORE. After CORIO_HTTP_DONE it returns CORIO_HTTP_DONE with *used 0. */
CORIO_HTTP_API int corio_http_resp_parser_feed(corio_http_resp_parser_t *r, const char *buf,
                                               size_t len, size_t *used, const char **body,
                                               size_t *body_len);

/* The peer closed the connection: returns CORIO_HTTP_DONE if that completes the response
 * (a body delimited by the end of the connection, or a response already done), else
 * CORIO_HTTP_ETRUNCATED (or the sticky error). */
CORIO_HTTP_API int corio_http_resp_parser_eof(corio_http_resp_parser_t *r);

/* True once any byte of the response has been consumed (a closed keep-alive connection
 * that never answered is not the same failure as one that stopped halfway). */
CORIO_HTTP_API bool corio_http_resp_parser_started(const corio_http_resp_parser_t *r);

/* True once the head of the final response was complete. */
CORIO_HTTP_API bool corio_http_resp_parser_head_done(const corio_http_resp_parser_t *r);

/* Iterates over the stored fields of the final response, in the order received. Start
 * with *pos = 0; each call that returns true sets the views (into the store: the name as
 * sent, the value as described above) and advances *pos. Returns false when there are no
 * more, or no store, or the head is not complete. */
CORIO_HTTP_API bool corio_http_resp_parser_next_field(const corio_http_resp_parser_t *r,
                                                      size_t *pos, const char **name,
                                                      size_t *name_len, const char **value,
                                                      size_t *value_len);

/* Finds the next stored field named name (NUL-terminated, compared case-insensitively)
 * from *pos on (start with 0): returns true and sets *value, *value_len and *pos (call
 * again for the next field of that name, e.g. each Set-Cookie), or false when there is
 * none (more). */
CORIO_HTTP_API bool corio_http_resp_parser_field(const corio_http_resp_parser_t *r,
                                                 const char *name, size_t *pos, const char **value,
                                                 size_t *value_len);

#ifdef __cplusplus
}
#endif

#endif
