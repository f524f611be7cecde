/* corio/http_parse.h: HTTP/1.1 message syntax for libcorio-http, as pure functions over
 * byte buffers (included by <corio/http.h>, where the limits and error codes are).
 *
 *   1. conventions
 *   2. URLs: http and https URLs, Host authorities, same origin, redirects, file names
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

#ifdef __cplusplus
}
#endif

#endif
