/* http_response.h: an incremental HTTP/1.1 response parser with a chunked-body decoder.
 *
 * Pure functions over byte buffers: no I/O, no allocation, no global state, so the parser
 * can be fed by any transport and by a fuzzer alike. The caller hands it whatever bytes
 * arrived, in pieces of any size (one byte at a time works); the parser keeps what it must
 * remember in the http_resp_t and never holds on to the caller's buffer. Body bytes are
 * reported as views into the buffer just given, so a body is never copied.
 *
 *   http_resp_t r;
 *   http_resp_init(&r, is_head_request);
 *   for each buffer received (buf, len):
 *       while (len > 0 || more events may come) {
 *           size_t used; const char *body; size_t blen;
 *           int ev = http_resp_feed(&r, buf, len, &used, &body, &blen);
 *           buf += used, len -= used;
 *           HTTP_NEED_MORE: receive more; HTTP_HEAD: r.status etc. are set;
 *           HTTP_BODY: blen bytes at body; HTTP_DONE: finished; < 0: an error
 *       }
 *   when the peer closes: http_resp_eof(&r) says whether that ended the response.
 *
 * What it accepts (RFC 9112): an HTTP/1.x status line, header fields (obs-fold joined with
 * a space, bare LF line ends tolerated, empty lines before the status line skipped);
 * interim 1xx responses (except 101) skipped; no body for HEAD, 1xx, 204 and 304; a body
 * framed by Transfer-Encoding (chunked last), else Content-Length (duplicates must agree),
 * else by the end of the connection. Chunk extensions and trailer fields are skipped.
 * Limits below bound the memory a hostile server can make it walk through without
 * progress. */
#ifndef CORIO_EXAMPLES_HTTP_RESPONSE_H
#define CORIO_EXAMPLES_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_HEAD       (64 * 1024) /* status lines and fields, 1xx heads included */
#define HTTP_MAX_CHUNK_LINE 4096        /* one chunk-size line with its extensions */
#define HTTP_MAX_TRAILERS   (64 * 1024) /* the trailer section */
#define HTTP_LOCATION_MAX   2048        /* a Location value kept for redirects */
#define HTTP_VALUE_MAX      256         /* a Content-Length, Transfer-Encoding, Connection value */

/* What http_resp_feed found. */
enum {
    HTTP_NEED_MORE = 0, /* every byte given was used: feed more (or call http_resp_eof) */
    HTTP_HEAD = 1,      /* the head of the final response is complete: the fields are set */
    HTTP_BODY = 2,      /* body bytes: a view into the buffer just given */
    HTTP_DONE = 3,      /* the response is complete; bytes after it were not used */
};

/* Errors, negative. After one, every call returns it again. */
enum {
    HTTP_E_STATUS = -1,    /* not an HTTP/1.x status line */
    HTTP_E_HEADER = -2,    /* a malformed header field */
    HTTP_E_LENGTH = -3,    /* a bad Content-Length, or several that disagree */
    HTTP_E_CHUNK = -4,     /* bad chunked framing */
    HTTP_E_TOO_BIG = -5,   /* past one of the limits above */
    HTTP_E_TRUNCATED = -6, /* the stream ended before the response did */
};

/* How the body of the final response is delimited. */
enum http_body {
    HTTP_BODY_NONE,    /* no body: HEAD, 1xx, 204, 304 */
    HTTP_BODY_LENGTH,  /* Content-Length bytes */
    HTTP_BODY_CHUNKED, /* chunked transfer coding */
    HTTP_BODY_EOF,     /* everything until the server closes */
};

typedef struct http_resp {
    /* Results: valid once HTTP_HEAD was returned. */
    int status;             /* 100..999 */
    int minor;              /* HTTP/1.minor */
    int64_t content_length; /* -1: none given */
    enum http_body body;
    bool keep_alive;                      /* the connection may carry another request afterwards */
    bool location_too_long;               /* Location was longer than HTTP_LOCATION_MAX: not kept */
    size_t location_len;                  /* 0: no Location field */
    char location[HTTP_LOCATION_MAX + 1]; /* NUL-terminated */
    uint64_t body_bytes;                  /* body bytes reported so far (decoded) */

    /* private: */
    bool head_request;
    uint8_t state;
    uint8_t field;      /* the field whose value is being read */
    uint8_t status_len; /* bytes of status line kept in status_line */
    bool have_field;    /* a field is pending (an obs-fold may still extend it) */
    bool head_done;
    bool cl_seen, te_seen, te_chunked, te_chunked_once, conn_close, conn_keep_alive;
    uint16_t name_len;   /* of the field name being read, capped */
    uint16_t value_len;  /* of value, capped at HTTP_VALUE_MAX */
    bool value_overflow; /* value was longer than HTTP_VALUE_MAX */
    int error;           /* the sticky error, once state is the error state */
    uint32_t head_bytes; /* bytes of head so far */
    uint32_t line_bytes; /* bytes of the current chunk-size line, or of trailers */
    uint64_t remaining;  /* body bytes left (length), or of the current chunk */
    char status_line[16];
    char name[24];
    char value[HTTP_VALUE_MAX];
} http_resp_t;

/* Prepares r for one response. head_request: the request was HEAD (no body follows,
 * whatever the fields say). */
void http_resp_init(http_resp_t *r, bool head_request);

/* Parses up to len bytes of buf (len may be 0). Sets *used to the bytes it consumed and
 * returns what it found: HTTP_NEED_MORE (all len bytes used), HTTP_HEAD, HTTP_BODY (*body
 * and *body_len: a view into buf, *body_len > 0), HTTP_DONE (any bytes after the response
 * are left unused), or a negative HTTP_E_* error. Call again with the rest of the buffer
 * until it returns HTTP_NEED_MORE. After HTTP_DONE it returns HTTP_DONE with *used 0. */
int http_resp_feed(http_resp_t *r, const char *buf, size_t len, size_t *used, const char **body,
                   size_t *body_len);

/* The peer closed the connection: returns HTTP_DONE if that completes the response (a body
 * delimited by the end of the connection, or a response already done), else
 * HTTP_E_TRUNCATED (or the sticky error). */
int http_resp_eof(http_resp_t *r);

/* True once any byte of the response has been consumed (a closed keep-alive connection
 * that never answered is not the same failure as one that stopped halfway). */
bool http_resp_started(const http_resp_t *r);

/* True once the head of the final response was complete. */
bool http_resp_head_done(const http_resp_t *r);

/* A short English name for an HTTP_E_* error. */
const char *http_resp_strerror(int err);

#endif
