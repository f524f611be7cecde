/* corio/http.h: libcorio-http, corio's HTTP/1.1 library. Include this header; it brings
 * in every part of the library.
 *
 *   1. conventions
 *   2. limits
 *   3. errors: one range of codes, and the status a server answers for each
 *   4. the parts: <corio/http_parse.h> (URLs, requests, responses, chunked coding),
 *      <corio/http_client.h> (an HTTP client with keep-alive pools, redirects, retries,
 *      HTTPS through <corio/tls.h>) and <corio/http_server.h> (the server core)
 *
 * Conventions
 * - libcorio-http is its own library (link -lcorio-http, or corio::http in CMake), built
 *   on libcorio: pkg-config corio-http and corio::http bring both.
 * - Every function that can fail returns a value >= 0 or a negative code. The codes are
 *   those of section 3, plus, where a function does I/O, the negative errnos of corio.h.
 *   corio_strerror() (corio.h) names all of them.
 * - Nothing in the parsers allocates: the caller provides every buffer and owns it, and a
 *   result that points into a buffer ("a view") is valid while that buffer is unchanged.
 */
#ifndef CORIO_HTTP_H
#define CORIO_HTTP_H

#include <corio/corio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the functions libcorio-http exports (libcorio's own functions carry its own
 * export macro: the two libraries are checked apart, tests/package/check_exports.cmake). */
#if defined(CORIO_HTTP_BUILDING)
#define CORIO_HTTP_API __attribute__((visibility("default")))
#else
#define CORIO_HTTP_API
#endif

/* ---- 2. limits ----------------------------------------------------------------------
 * Each bounds what a peer can make the library read, keep or walk through without
 * progress. Defined here once; the parsers refuse what exceeds them with the code given. */

/* A request head (request line, fields, the empty line), when the caller gives no other
 * limit: CORIO_HTTP_EHEAD_TOO_BIG past it, CORIO_HTTP_EURI_TOO_LONG when the request
 * line alone does not fit. */
#define CORIO_HTTP_MAX_HEAD_DEFAULT 8192
/* A response head, interim 1xx heads included: CORIO_HTTP_EHEAD_TOO_BIG. */
#define CORIO_HTTP_MAX_RESPONSE_HEAD (64 * 1024)
/* Header fields in one request: CORIO_HTTP_EHEAD_TOO_BIG. */
#define CORIO_HTTP_MAX_HEADERS 100
/* One chunk-size line with its extensions: CORIO_HTTP_ECHUNK. */
#define CORIO_HTTP_MAX_CHUNK_LINE 4096
/* The trailer section after the last chunk: CORIO_HTTP_EHEAD_TOO_BIG. */
#define CORIO_HTTP_MAX_TRAILERS (64 * 1024)
/* A URL, in bytes, without its NUL: CORIO_HTTP_EURL. */
#define CORIO_HTTP_MAX_URL 8192
/* A host name (a DNS name's limit; an IPv6 literal fits too): CORIO_HTTP_EURL, or
 * CORIO_HTTP_EHOST in a Host field. */
#define CORIO_HTTP_MAX_HOST 255
/* An authority as corio_http_url_authority writes it, "[" host "]:" port, with its NUL:
 * a buffer this size always suffices. */
#define CORIO_HTTP_MAX_AUTHORITY (CORIO_HTTP_MAX_HOST + 10)
/* A response's Location value kept without a field store (longer: flagged, not kept). */
#define CORIO_HTTP_MAX_LOCATION 2048
/* A response's Content-Length, Transfer-Encoding, Connection or Content-Encoding value,
 * kept to be interpreted. Longer: CORIO_HTTP_ELENGTH for Content-Length,
 * CORIO_HTTP_EMALFORMED for Transfer-Encoding, "other" for Content-Encoding, ignored for
 * Connection. */
#define CORIO_HTTP_MAX_FRAMING_VALUE 256
/* A file name made by corio_http_url_filename, without its NUL. */
#define CORIO_HTTP_MAX_FILENAME 200
/* A chunk-size line as corio_http_chunk_size_line writes it (16 hex digits, CRLF), with
 * its NUL. */
#define CORIO_HTTP_CHUNK_SIZE_LINE_MAX 19

/* ---- 3. errors ----------------------------------------------------------------------
 * One range for all of libcorio-http: -4200 to -4299, beyond the errnos (which end at
 * -4095) and the other ranges of corio (-4097 and -4098 in net.h, -4110 to -4119 for
 * TLS), so a result is never ambiguous. For a request error, the status in brackets is
 * what a server answers (corio_http_error_status). */

/* A malformed message: a request line or field that breaks RFC 9112 [400]; a response
 * that is not HTTP/1.x, or has a malformed status line or field; a '%' not followed by
 * two hex digits, or an encoded NUL, in a path [400]. */
#define CORIO_HTTP_EMALFORMED (-4200)
/* Bad or conflicting framing: a Content-Length that is not 1*DIGIT, two of them (in a
 * request), or several that disagree (in a response); Transfer-Encoding whose last
 * coding is not chunked (request), chunked listed twice, Transfer-Encoding with
 * Content-Length (request) or in an HTTP/1.0 message [400]. */
#define CORIO_HTTP_ELENGTH (-4201)
/* Bad chunked framing: a chunk size that is not hex or is past 2^63, a chunk not
 * followed by its CRLF, a malformed line end, a chunk-size line over
 * CORIO_HTTP_MAX_CHUNK_LINE [400]. */
#define CORIO_HTTP_ECHUNK (-4202)
/* The request line does not fit in the head limit; or a normalised path does not fit
 * in the caller's buffer [414]. */
#define CORIO_HTTP_EURI_TOO_LONG (-4203)
/* A head over its limit, more than CORIO_HTTP_MAX_HEADERS fields (or more than the
 * caller's array holds), trailers over CORIO_HTTP_MAX_TRAILERS, or fields that do not
 * fit in a response's field store [431]. */
#define CORIO_HTTP_EHEAD_TOO_BIG (-4204)
/* A well-formed HTTP version other than 1.x [505]. */
#define CORIO_HTTP_EVERSION (-4205)
/* A transfer coding this library does not decode (RFC 9112 section 6.1: "SHOULD respond
 * with 501") [501]. */
#define CORIO_HTTP_ENOTIMPL (-4206)
/* An HTTP/1.1 request without a Host field, with two, or with a value that is not
 * uri-host [":" port] (RFC 9112 section 3.2, RFC 3986 section 3.2.2) [400]. */
#define CORIO_HTTP_EHOST (-4207)
/* The stream ended before the message did. */
#define CORIO_HTTP_ETRUNCATED (-4208)
/* A body over a limit the caller set [413]. */
#define CORIO_HTTP_EBODY_TOO_BIG (-4209)
/* A path whose ".." segments climb above the root [403]. */
#define CORIO_HTTP_EFORBIDDEN (-4210)
/* A malformed URL: its host, port, userinfo or characters, no room for it (longer than
 * CORIO_HTTP_MAX_URL, or than the buffer given), or a relative reference that cannot be
 * resolved. */
#define CORIO_HTTP_EURL (-4211)
/* A URL whose scheme is not http or https. */
#define CORIO_HTTP_EURL_SCHEME (-4212)
/* More redirects than the caller allows (for an HTTP client). */
#define CORIO_HTTP_EREDIRECTS (-4213)
/* A Content-Encoding that cannot be decoded (for an HTTP client). */
#define CORIO_HTTP_EDECODE (-4214)
/* An HTTP proxy would not open a tunnel: it answered CONNECT with a status other than
 * 2xx, or with something that was not an HTTP response (for an HTTP client). */
#define CORIO_HTTP_EPROXY (-4215)
/* An HTTP proxy asked for credentials or refused the ones given: 407 Proxy
 * Authentication Required, or 401 to CONNECT (for an HTTP client). */
#define CORIO_HTTP_EPROXY_AUTH (-4216)

/* The status a server answers for err, a request error (400, 403, 413, 414, 431, 501 or
 * 505, as marked above); 0 for anything else (another code, an errno, 0). */
CORIO_HTTP_API int corio_http_error_status(int err);

/* The reason phrase of a status code ("Not Found"), or "Unknown". A static string. */
CORIO_HTTP_API const char *corio_http_reason(int status);

#ifdef __cplusplus
}
#endif

/* ---- 4. the parts ------------------------------------------------------------------- */
#include <corio/http_parse.h>
#include <corio/http_client.h>
#include <corio/http_server.h>

#endif
