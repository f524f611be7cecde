/* server_internal.h: what the server core's two files share: the server, a serve call's
 * state on one loop (a site), a connection, and the request and response objects handed
 * to handlers. server.c accepts and runs connections; server_io.c reads bodies and writes
 * responses. */
#ifndef CORIO_HTTP_SERVER_INTERNAL_H
#define CORIO_HTTP_SERVER_INTERNAL_H

#include <corio/http.h>
#include <corio/stream.h>
#include <corio/sync.h>

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define SRV_READ_BUF   (16 * 1024) /* per connection: a whole head (8 KiB) and more */
#define SRV_WRITE_BUF  (8 * 1024)  /* per connection: pipelined responses batch here */
#define SRV_MAX_PATH   4096        /* a normalised path, NUL included */
#define SRV_MAX_EXTRA  4096        /* fields a handler adds to one head */
#define SRV_MAX_SERVER 128         /* the Server field's line */

struct corio_http_server {
    corio_http_server_config_t cfg;
    char server_line[SRV_MAX_SERVER]; /* "Server: NAME\r\n", or "" */
    size_t server_line_len;
    pthread_mutex_t mu;               /* guards sites and their queued counts */
    struct srv_site *sites;           /* the serve calls running */
    atomic_int stop_level;            /* 0 serving, 1 draining, 2 cancelling everything */
    atomic_uint live_conns;           /* open connections, all loops */
    atomic_uint_fast64_t last_log_ns; /* the last accept-failure line (monotonic, +1 s) */
    atomic_uint_fast64_t connections, requests, refused, tls_failed, accept_paused;
};

/* One corio_http_server_serve call: lives on its task's stack, touched only on its loop,
 * except next and queued (under srv->mu). */
struct srv_site {
    corio_http_server_t *srv;
    corio_loop_t *loop;
    corio_tls_ctx_t *tls;
    int listen_fd;
    struct srv_site *next;
    unsigned queued; /* stop callbacks queued for this site and not yet run */
    corio_event_t stop;
    bool draining, hard;
    corio_task_t *acceptor; /* the accepting task, while it runs */
    bool accepting;         /* the accepting task has not ended (it may not have started) */
    struct srv_conn *conns; /* live connections */
    corio_waitgroup_t conns_wg;
    time_t date_sec; /* the cached Date line, rebuilt once a second */
    char date[48];
    size_t date_len;
};

/* A connection, allocated with its buffers when accepted; owned by its task. */
struct srv_conn {
    struct srv_site *site;
    int fd;
    corio_task_t *task;
    struct srv_conn *prev, *next;
    bool idle; /* waiting for a request, none of it received: cancelled at a drain */
    bool tls_on;
    int werr; /* the first send error: the connection is over */
    corio_tls_t tls;
    corio_stream_t s;
    size_t wlen;     /* response bytes waiting in wbuf */
    char *head_copy; /* a head moved out of rbuf while its body is read (allocated once) */
    unsigned char rbuf[SRV_READ_BUF];
    unsigned char wbuf[SRV_WRITE_BUF];
    corio_http_header_t fields[CORIO_HTTP_MAX_HEADERS];
    char path[SRV_MAX_PATH];
};

enum srv_body { BODY_NONE, BODY_LENGTH, BODY_CHUNKED };

struct corio_http_request {
    struct srv_conn *c;
    corio_http_request_head_t head;
    const char *path; /* into c->path, or NULL */
    size_t path_len;
    enum srv_body body;
    bool body_done;
    bool continue_due; /* Expect: 100-continue, not yet answered */
    int body_err;      /* the error that ended the body, sticky */
    uint64_t left;     /* BODY_LENGTH: bytes still to come */
    uint64_t total;    /* BODY_CHUNKED: decoded bytes so far */
    uint64_t pending;  /* BODY_CHUNKED: decoded data bytes at the front of the buffer */
    corio_http_chunked_t chunked;
};

enum srv_resp_state { RESP_NONE, RESP_BEGUN, RESP_ENDED };

struct corio_http_response {
    struct srv_conn *c;
    struct corio_http_request *req;
    enum srv_resp_state state;
    bool close;     /* the connection ends after this response */
    bool head_only; /* HEAD: no body bytes go out */
    bool chunked;
    bool no_body; /* 204, 304 */
    int64_t left; /* bytes still promised by Content-Length, or -1 */
    size_t extra_len;
    char extra[SRV_MAX_EXTRA];
};

/* server_io.c */
int srv_flush(struct srv_conn *c);
int srv_out(struct srv_conn *c, const void *buf, size_t len);
void srv_response_init(struct corio_http_response *resp, struct srv_conn *c,
                       struct corio_http_request *req, bool close);
/* After the handler: ends what it left open. Returns 0, CORIO_HTTP_ETRUNCATED when the
 * body fell short of its length (flush, then close), or another error (close now). */
int srv_response_finish(struct corio_http_response *resp);
/* Reads and drops what the handler left of the body. Returns 0, or < 0 to close. */
int srv_request_drain(struct corio_http_request *req);

#endif
