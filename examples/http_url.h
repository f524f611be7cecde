/* http_url.h: http:// URLs for corio-fetch: parsing, resolving a redirect's Location against
 * the URL it came from, and a file name derived safely from a URL.
 *
 * Pure functions over strings, no allocation: the caller provides every output buffer.
 * Only the http scheme is accepted; anything a request line cannot carry as it is (spaces,
 * control characters) is refused rather than rewritten. */
#ifndef CORIO_EXAMPLES_HTTP_URL_H
#define CORIO_EXAMPLES_HTTP_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_URL_HOST_MAX 255  /* a DNS name's limit; an IPv6 literal fits too */
#define HTTP_URL_MAX      8192 /* the longest URL accepted */
#define HTTP_NAME_MAX     200  /* the longest file name http_url_filename makes */

/* Errors of http_url_parse, negative. */
enum {
    HTTP_URL_E_SCHEME = -1, /* not an http:// URL */
    HTTP_URL_E_HTTPS = -2,  /* https:// (not supported) */
    HTTP_URL_E_HOST = -3,   /* empty or malformed host */
    HTTP_URL_E_PORT = -4,   /* port not in 1..65535 */
    HTTP_URL_E_USER = -5,   /* user:password@ (not supported) */
    HTTP_URL_E_CHARS = -6,  /* a space or control character */
    HTTP_URL_E_LONG = -7,   /* longer than HTTP_URL_MAX */
    HTTP_URL_E_PATH = -8,   /* "http://host?query": a query needs a path */
};

typedef struct http_url {
    char host[HTTP_URL_HOST_MAX + 1]; /* NUL-terminated; an IPv6 literal without brackets */
    bool ipv6;                        /* host is an IPv6 literal */
    uint16_t port;                    /* 80 unless given */
    const char *target; /* the request target: path and query, into the parsed string */
    size_t target_len;  /* > 0; "/" when the URL has no path; the fragment is left out */
} http_url_t;

/* Parses an absolute http:// URL (scheme and host case-insensitive). u->target points into
 * s, which must outlive u. Returns 0 or an HTTP_URL_E_* error. */
int http_url_parse(const char *s, http_url_t *u);

/* A short English description of an HTTP_URL_E_* error. */
const char *http_url_strerror(int err);

/* Writes the authority for a Host field into out: host, [brackets] for IPv6, ":port"
 * unless 80. Returns its length, or -1 if out (outsz bytes) is too small. */
int http_url_authority(const http_url_t *u, char *out, size_t outsz);

/* Resolves a Location value against base (RFC 3986 5.2: absolute, scheme-relative
 * "//host/p", absolute-path "/p", query "?q" and relative "p" references, dot segments
 * removed) into out as an absolute URL, fragment dropped. Returns its length, or -1 if it
 * does not fit in outsz bytes or loc is empty. The result still has to be parsed (it may
 * name another scheme). */
int http_url_resolve(const http_url_t *base, const char *loc, char *out, size_t outsz);

/* Writes a file name for u into out (outsz >= HTTP_NAME_MAX + 1): host, port unless 80,
 * and the target, with every byte outside [A-Za-z0-9._-] (so every '/' and '%') turned
 * into '_', a leading dot and any dot after a dot turned into '_' (no ".", "..", hidden
 * files or ".." anywhere), "index" appended to a name ending in '_', and names longer than
 * HTTP_NAME_MAX cut and ended with a hash of the whole. Never empty, never a path. Returns
 * its length. */
size_t http_url_filename(const http_url_t *u, char *out, size_t outsz);

#endif
