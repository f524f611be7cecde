/* corio/http_server.h: the HTTP/1.1 server core of libcorio-http. Included by
 * <corio/http.h>; include that.
 *
 *   1. the server: configure, serve listeners, stop, statistics
 *   2. requests: the head, the path, fields, the body
 *   3. responses: whole, or streamed with a length, chunked or close-delimited
 *
 * What the server does by itself
 * - One task per connection, on the loop of the corio_http_server_serve call that
 *   accepted it. Keep-alive (HTTP/1.1 by default, HTTP/1.0 with "Connection:
 *   keep-alive") and pipelining: requests read together are answered in order, and their
 *   responses leave together while they fit an 8 KiB buffer.
 * - Refusals, answered without calling the handler, each with a short text body: a
 *   malformed head 400 (a Host field that RFC 9112 section 3.2 refuses, "Host: a b" among
 *   them, is 400 too); a request line over 8 KiB 414; a head over 8 KiB or with more than
 *   CORIO_HTTP_MAX_HEADERS fields 431; HTTP/2 and later 505; a method this library does
 *   not know 501; a transfer coding it cannot decode 501; a Content-Length over max_body
 *   413; a path that climbs above the root ("/../x") 403, one that cannot be decoded 400.
 *   After 400, 413, 414, 431, 501 and 505 the connection is closed (the request's end
 *   cannot be trusted, or its body will not be read).
 * - More connections than max_conns at once (all loops together): the next one is
 *   answered 503 with Retry-After and closed, on plain listeners; on TLS listeners it is
 *   closed at once (a TLS answer would cost a handshake).
 * - Out of file descriptors (accept failing with EMFILE or ENFILE, or ENOMEM): accepting
 *   pauses for 500 ms, as nginx's accept_mutex_delay does, while the connections already
 *   open are served on; the condition is logged at most once a second.
 * - Timeouts: idle_timeout_ns bounds the wait for a request, a body read, and a send the
 *   peer does not take; header_timeout_ns bounds a request head once its first byte came,
 *   and a TLS handshake (the slow-loris defence).
 * - TLS on a listener given a corio_tls_ctx_t (a server context, corio/tls.h): a peer
 *   that fails the handshake, resets it or sends garbage records is closed (and counted
 *   in the statistics) without disturbing any other connection.
 * - Stopping: corio_http_server_stop drains (stops accepting, closes idle connections,
 *   lets requests in flight finish with "Connection: close" for up to grace_ns, then
 *   cancels what is left); a second stop, or one with `now`, cancels everything at once.
 *
 * Ownership: the server object belongs to the caller, who frees it once every
 * corio_http_server_serve call on it has returned. Requests and responses belong to the
 * server: the handler gets them for the length of its call and must not keep them. */
#ifndef CORIO_HTTP_SERVER_H
#define CORIO_HTTP_SERVER_H

#include <corio/http.h>
#include <corio/tls.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- 1. the server ------------------------------------------------------------------ */

typedef struct corio_http_server corio_http_server_t;     /* opaque */
typedef struct corio_http_request corio_http_request_t;   /* opaque: see section 2 */
typedef struct corio_http_response corio_http_response_t; /* opaque: see section 3 */

/* Answers one request, inside the connection's task. It reads the body if it wants it
 * (section 2) and answers through resp (section 3). Returns 0, or a negative value to
 * close the connection at once (a response in progress is cut). A handler that returns 0
 * without answering gets a 500 sent for it; one that began a response without ending it
 * gets it ended. A body the handler left unread is read and dropped by the server before
 * the next request (within idle_timeout_ns). */
typedef int (*corio_http_handler_fn)(corio_http_request_t *req, corio_http_response_t *resp,
                                     void *arg);

/* Writes one log line (no trailing newline) somewhere; NULL in the config: stderr, as
 * "corio-http: LINE". Called on a loop thread; several loops may call it at once. */
typedef void (*corio_http_log_fn)(void *arg, const char *line);

typedef struct corio_http_server_config {
    corio_http_handler_fn handler; /* required */
    void *arg;                     /* handed to handler */
    uint64_t max_body;             /* the largest request body, in bytes (0: 1 MiB); a larger
                                      Content-Length is 413, a larger chunked body makes
                                      corio_http_request_read fail with
                                      CORIO_HTTP_EBODY_TOO_BIG */
    unsigned max_conns;            /* connections at once, all loops (0: 10000) */
    uint64_t idle_timeout_ns;      /* 0: 60 s */
    uint64_t header_timeout_ns;    /* 0: 20 s */
    uint64_t grace_ns;             /* at a stop, for requests in flight (0: 5 s) */
    const char *server_name;       /* the Server field's value (NULL: "corio"; "": none) */
    corio_http_log_fn log;         /* NULL: stderr */
    void *log_arg;
} corio_http_server_config_t;

/* Makes a server from cfg (copied; server_name must outlive the server). Needs no loop.
 * Returns 0 and sets *out, -EINVAL for a NULL out or cfg, no handler, or a server_name
 * with CR or LF or longer than 100 bytes, -ENOMEM. */
CORIO_HTTP_API int corio_http_server_new(corio_http_server_t **out,
                                         const corio_http_server_config_t *cfg);

/* Inside a task: serves the connections accepted on listen_fd (a listening socket, e.g.
 * from corio_listen), with TLS when tls is a server context (NULL: plain HTTP), until the
 * server is stopped. The server takes listen_fd: it closes it when the stop begins, so
 * that new connections are refused while the ones open drain, or before returning an
 * error. Several calls may serve one server at once, on one loop (an HTTP and an HTTPS
 * listener) or on several loops (one listener per thread, with SO_REUSEPORT). Returns 0
 * after a stop, once this call's connections have all ended; -ECANCELED when the task
 * calling it was cancelled, which cancels this call's connections (their corio calls
 * return -ECANCELED) and returns once they have all ended; -EPERM outside a task;
 * -EINVAL for a NULL srv or a negative listen_fd; -ENOMEM. */
CORIO_HTTP_API int corio_http_server_serve(corio_http_server_t *srv, int listen_fd,
                                           corio_tls_ctx_t *tls);

/* From any thread (a signal-handling thread, a task), needs no task: stops the server.
 * The first call drains, as described at the top; a later call, or now = true, cancels
 * every connection at once. A serve call made after a stop returns 0 at once. */
CORIO_HTTP_API void corio_http_server_stop(corio_http_server_t *srv, bool now);

/* Frees srv: every corio_http_server_serve call on it must have returned. NULL is
 * ignored. */
CORIO_HTTP_API void corio_http_server_free(corio_http_server_t *srv);

/* Counters since the server was made, all loops together; any thread may read them. */
typedef struct corio_http_server_stats {
    uint64_t connections;   /* accepted and served (refused ones not counted) */
    uint64_t requests;      /* request heads read, refused ones included */
    uint64_t refused;       /* connections over max_conns */
    uint64_t tls_failed;    /* TLS handshakes that failed (resets and garbage included) */
    uint64_t accept_paused; /* pauses for lack of file descriptors */
} corio_http_server_stats_t;

CORIO_HTTP_API void corio_http_server_stats(const corio_http_server_t *srv,
                                            corio_http_server_stats_t *out);

/* ---- 2. requests -------------------------------------------------------------------- */

/* The parsed head (corio/http_parse.h): method, target, path and query as sent, version,
 * the fields (head->headers[0, head->num_headers)), Host and framing. */
CORIO_HTTP_API const corio_http_request_head_t *
corio_http_request_head(const corio_http_request_t *req);

/* The request's path percent-decoded and with its dot segments resolved, relative to the
 * root and NUL-terminated, as corio_http_path_normalize makes it ("/a/./b" gives "a/b",
 * "/" gives ""); *len (may be NULL) gets its length. NULL for a target that is not a path
 * ("*", or a CONNECT's authority). A path that cannot be normalised was refused before the
 * handler (400, 403 or 414). */
CORIO_HTTP_API const char *corio_http_request_path(const corio_http_request_t *req, size_t *len);

/* The value of the first field named name (case-insensitive), not NUL-terminated, with
 * *len (must not be NULL) its length; NULL when there is none. */
CORIO_HTTP_API const char *corio_http_request_header(const corio_http_request_t *req,
                                                     const char *name, size_t *len);

/* True when the request came over TLS. */
CORIO_HTTP_API bool corio_http_request_tls(const corio_http_request_t *req);

/* Reads up to len bytes of the request body (the chunked coding removed) into buf,
 * within idle_timeout_ns. The first read of a request that asked for "Expect:
 * 100-continue" sends the 100 Continue first. Returns the count (> 0), 0 at the end of
 * the body (at once for a request without one), or:
 *   CORIO_HTTP_EBODY_TOO_BIG  a chunked body longer than max_body
 *   CORIO_HTTP_ECHUNK, CORIO_HTTP_EHEAD_TOO_BIG (trailers)  bad chunked framing
 *   CORIO_HTTP_ETRUNCATED     the peer closed before the body's end
 *   -ETIMEDOUT, -ECANCELED, a socket errno or a TLS error
 * After an error the connection is closed once the handler returns (the handler may
 * still answer: corio_http_response_error(resp, corio_http_error_status(err)) fits the
 * first three). -EINVAL for a NULL req, or a NULL buf with len > 0. */
CORIO_HTTP_API ssize_t corio_http_request_read(corio_http_request_t *req, void *buf, size_t len);

/* ---- 3. responses ------------------------------------------------------------------- *
 * A response is either sent whole (corio_http_response_send, _error) or begun, written
 * and ended. Every head carries Date and Server (unless server_name is ""), and
 * "Connection: close" when the connection ends after it (or "Connection: keep-alive" for
 * an HTTP/1.0 client that asked for it). For HEAD requests the body is not sent (writes
 * are counted but dropped) and the head is the one GET would get, but that a response of
 * unknown length says neither Content-Length nor Transfer-Encoding. Functions return 0 (or the
 * count) or a negative errno; after a send error the connection is over (every later
 * call returns the same error, and the handler should return). */

/* Adds a field to the next head. name and value must be field tokens and field text (no
 * CR, LF or NUL; name not empty, no ':' or space): -EINVAL otherwise. Content-Length,
 * Transfer-Encoding, Connection, Date and Server are the server's: -EINVAL for them
 * too. -ENOSPC when the fields added pass 4 KiB together; -EALREADY once the head has
 * gone. */
CORIO_HTTP_API int corio_http_response_header(corio_http_response_t *resp, const char *name,
                                              const char *value);

/* Asks that the connection be closed after this response (the head says so). */
CORIO_HTTP_API void corio_http_response_close(corio_http_response_t *resp);

/* Begins a response: status (100-599 but 1xx, and 204/304 allowed with length 0 or -1:
 * they have no body), content_type (NULL: no Content-Type), length the body's size, or -1
 * when unknown: chunked for HTTP/1.1 clients, ended by closing the connection for HTTP/1.0
 * ones. Returns 0, -EINVAL for a bad status, -EALREADY when a response was begun. */
CORIO_HTTP_API int corio_http_response_begin(corio_http_response_t *resp, int status,
                                             const char *content_type, int64_t length);

/* Writes body bytes of a begun response. Returns len, or: -EINVAL when no response was
 * begun, or past the length given (nothing is written; the connection will close),
 * -EALREADY after the end, or a send error. */
CORIO_HTTP_API ssize_t corio_http_response_write(corio_http_response_t *resp, const void *buf,
                                                 size_t len);

/* Ends a begun response (the last chunk, for chunked ones). Returns 0, -EINVAL when none
 * was begun, CORIO_HTTP_ETRUNCATED when fewer bytes than the length given were written
 * (the connection is closed: the client sees a cut body), -EALREADY when ended already,
 * or a send error. */
CORIO_HTTP_API int corio_http_response_end(corio_http_response_t *resp);

/* A whole response: begin with len, write body, end. */
CORIO_HTTP_API int corio_http_response_send(corio_http_response_t *resp, int status,
                                            const char *content_type, const void *body, size_t len);

/* A whole error response with a text body ("404 Not Found\n"), text/plain; a status that
 * corio_http_error_status can give (400, 413, 414, 431, 501, 505) also closes the
 * connection. Returns as corio_http_response_send. */
CORIO_HTTP_API int corio_http_response_error(corio_http_response_t *resp, int status);

#ifdef __cplusplus
}
#endif

#endif
