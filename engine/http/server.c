/* server.c: the server core's life: the server object, serve calls accepting on a
 * listener (plain or TLS), one task per connection reading request heads, refusing what
 * the protocol or the limits refuse and handing the rest to the handler, and the stop
 * (drain, then cancel). */
#include "server_internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SEC_NS          (1000ull * 1000 * 1000)
#define ACCEPT_PAUSE_NS (500ull * 1000 * 1000) /* nginx's accept_mutex_delay */
#define LINGER_NS       SEC_NS                 /* reading what a refused client still sends */
#define LINGER_BYTES    (256 * 1024)

/* ---- the server object ------------------------------------------------------------------- */

int corio_http_server_new(corio_http_server_t **out, const corio_http_server_config_t *cfg)
{
    if (out == NULL || cfg == NULL || cfg->handler == NULL)
        return -EINVAL;
    const char *name = cfg->server_name != NULL ? cfg->server_name : "corio";
    if (strlen(name) > 100 || name[strcspn(name, "\r\n")] != '\0')
        return -EINVAL;
    corio_http_server_t *srv = calloc(1, sizeof *srv);
    if (srv == NULL)
        return -ENOMEM;
    srv->cfg = *cfg;
    if (srv->cfg.max_body == 0)
        srv->cfg.max_body = 1u << 20;
    if (srv->cfg.max_conns == 0)
        srv->cfg.max_conns = 10000;
    if (srv->cfg.idle_timeout_ns == 0)
        srv->cfg.idle_timeout_ns = 60 * SEC_NS;
    if (srv->cfg.header_timeout_ns == 0)
        srv->cfg.header_timeout_ns = 20 * SEC_NS;
    if (srv->cfg.grace_ns == 0)
        srv->cfg.grace_ns = 5 * SEC_NS;
    if (*name != '\0')
        srv->server_line_len =
            (size_t)snprintf(srv->server_line, sizeof srv->server_line, "Server: %s\r\n", name);
    pthread_mutex_init(&srv->mu, NULL);
    *out = srv;
    return 0;
}

void corio_http_server_free(corio_http_server_t *srv)
{
    if (srv == NULL)
        return;
    pthread_mutex_destroy(&srv->mu);
    free(srv);
}

void corio_http_server_stats(const corio_http_server_t *srv, corio_http_server_stats_t *out)
{
    if (srv == NULL || out == NULL)
        return;
    out->connections = atomic_load(&srv->connections);
    out->requests = atomic_load(&srv->requests);
    out->refused = atomic_load(&srv->refused);
    out->tls_failed = atomic_load(&srv->tls_failed);
    out->accept_paused = atomic_load(&srv->accept_paused);
}

static void srv_log(corio_http_server_t *srv, const char *line)
{
    if (srv->cfg.log != NULL)
        srv->cfg.log(srv->cfg.log_arg, line);
    else
        fprintf(stderr, "corio-http: %s\n", line);
}

/* ---- stopping ----------------------------------------------------------------------------- */

static void cancel_conns(struct srv_site *site, bool idle_only)
{
    for (struct srv_conn *c = site->conns; c != NULL; c = c->next)
        if (!idle_only || c->idle)
            corio_cancel(c->task);
}

/* On the site's loop: a stop was asked for. */
static void site_on_stop(void *arg)
{
    struct srv_site *site = arg;
    pthread_mutex_lock(&site->srv->mu);
    site->queued--;
    pthread_mutex_unlock(&site->srv->mu);
    corio_event_set(&site->stop);
    if (atomic_load(&site->srv->stop_level) < 2 || site->hard)
        return;
    site->hard = true;
    if (site->acceptor != NULL)
        corio_cancel(site->acceptor);
    cancel_conns(site, false);
}

void corio_http_server_stop(corio_http_server_t *srv, bool now)
{
    if (srv == NULL)
        return;
    int level = atomic_load(&srv->stop_level);
    atomic_store(&srv->stop_level, now || level > 0 ? 2 : 1);
    pthread_mutex_lock(&srv->mu);
    for (struct srv_site *site = srv->sites; site != NULL; site = site->next)
        if (corio_call_soon_threadsafe(site->loop, site_on_stop, site) == 0)
            site->queued++;
    pthread_mutex_unlock(&srv->mu);
}

/* ---- reading requests --------------------------------------------------------------------- */

/* Reads until a whole request head is buffered. Returns its length (the head is at the
 * start of the stream's buffer), a CORIO_HTTP_E* code for a refused head, or 0 when the
 * connection is over: end of stream, an error, a timeout, a cancel, or a drain. */
static int read_head(struct srv_conn *c, corio_http_request_head_t *head)
{
    const corio_http_server_config_t *cfg = &c->site->srv->cfg;
    uint64_t header_deadline = 0;
    for (;;) {
        size_t have = corio_stream_buffered(&c->s);
        const void *view;
        if (have > 0) {
            if (corio_stream_peek(&c->s, have, &view) < 0)
                return 0;
            int r = corio_http_parse_request(view, have, CORIO_HTTP_MAX_HEAD_DEFAULT, head);
            if (r != 0)
                return r;
        }
        uint64_t wait_ns;
        if (have == 0) {
            /* Between requests: the responses so far leave before we wait. While
             * draining, only a request whose bytes have arrived is still served. */
            char byte;
            if (srv_flush(c) < 0 ||
                (c->site->draining &&
                 (c->tls_on || recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) <= 0)))
                return 0;
            c->idle = true;
            wait_ns = cfg->idle_timeout_ns;
        } else {
            /* A head has begun: all of it must come within the header timeout, however
             * it trickles in. */
            uint64_t now = corio_loop_now(c->site->loop);
            if (header_deadline == 0)
                header_deadline = now + cfg->header_timeout_ns;
            if (now >= header_deadline)
                return 0;
            wait_ns = header_deadline - now;
        }
        corio_timeout_begin(wait_ns);
        ssize_t n = corio_stream_peek(&c->s, have + 1, NULL);
        corio_timeout_end();
        c->idle = false;
        if (n <= (ssize_t)have)
            return 0;
    }
}

/* Closes after our last response. When the client may still be sending (a refused head
 * or body, unread pipelined requests), half-close and read on for a moment first: closing
 * with unread data makes the kernel send a reset, which can destroy the response before
 * the client reads it. */
static void finish_conn(struct srv_conn *c, bool linger)
{
    if (srv_flush(c) < 0)
        return;
    if (c->tls_on) {
        corio_timeout_begin(LINGER_NS);
        (void)corio_tls_shutdown(&c->tls);
        corio_timeout_end();
    }
    if (!linger && corio_stream_buffered(&c->s) == 0)
        return;
    shutdown(c->fd, SHUT_WR);
    size_t total = 0;
    corio_timeout_begin(LINGER_NS);
    while (total < LINGER_BYTES) {
        size_t have = corio_stream_buffered(&c->s);
        if (have > 0) {
            corio_stream_consume(&c->s, have);
            total += have;
        }
        if (corio_stream_peek(&c->s, 1, NULL) <= 0)
            break;
    }
    corio_timeout_end();
}

/* Checks what the server refuses before the handler: returns 0, or the status to answer. */
static int precheck(struct srv_conn *c, struct corio_http_request *req)
{
    const corio_http_request_head_t *h = &req->head;
    if (h->method == CORIO_HTTP_METHOD_OTHER ||
        (h->chunked && h->transfer_coding != CORIO_HTTP_CODING_IDENTITY))
        return 501; /* a coding under chunked: its bytes would reach the handler coded */
    if (h->has_content_length && h->content_length > c->site->srv->cfg.max_body)
        return 413;
    if (h->path_len > 0 && h->path[0] == '/') {
        int n = corio_http_path_normalize(h->path, h->path_len, c->path, sizeof c->path);
        if (n < 0)
            return corio_http_error_status(n);
        req->path = c->path;
        req->path_len = (size_t)n;
    }
    return 0;
}

/* Serves one request whose head is head_len bytes at the front of the buffer. Returns 1
 * to go on with the connection, 0 to close it after the response, -1 to close it now. */
static int serve_request(struct srv_conn *c, struct corio_http_request *req, int head_len)
{
    corio_http_server_t *srv = c->site->srv;
    corio_http_request_head_t *h = &req->head;
    struct corio_http_response resp;
    bool has_body = h->chunked || (h->has_content_length && h->content_length > 0);
    int status = precheck(c, req);
    srv_response_init(&resp, c, req, !h->keep_alive || c->site->draining);
    if (status != 0) {
        corio_stream_consume(&c->s, (size_t)head_len);
        if (has_body)
            resp.close = true; /* its body is not read: its end cannot be found */
        if (corio_http_response_error(&resp, status) < 0)
            return -1;
        if (resp.close) {
            finish_conn(c, has_body);
            return 0;
        }
        return 1;
    }
    if (has_body) {
        /* Reading the body moves the buffer under the head's views: the head moves out
         * first, and is parsed again where it stays put. */
        if (c->head_copy == NULL && (c->head_copy = malloc(CORIO_HTTP_MAX_HEAD_DEFAULT)) == NULL)
            return -1;
        const void *view;
        if (corio_stream_peek(&c->s, (size_t)head_len, &view) < 0)
            return -1;
        memcpy(c->head_copy, view, (size_t)head_len);
        corio_stream_consume(&c->s, (size_t)head_len);
        if (corio_http_parse_request(c->head_copy, (size_t)head_len, CORIO_HTTP_MAX_HEAD_DEFAULT,
                                     h) != head_len)
            return -1;
        req->body = h->chunked ? BODY_CHUNKED : BODY_LENGTH;
        req->left = h->content_length;
        req->continue_due = h->expect_continue && h->version_minor == 1;
        corio_http_chunked_init(&req->chunked);
    }
    int r = srv->cfg.handler(req, &resp, srv->cfg.arg);
    int err = r < 0 ? r : srv_response_finish(&resp);
    if (err == CORIO_HTTP_ETRUNCATED) {
        finish_conn(c, false); /* the client sees the body cut short */
        return 0;
    }
    if (err < 0)
        return -1;
    if (!has_body)
        corio_stream_consume(&c->s, (size_t)head_len);
    else if (!resp.close && srv_request_drain(req) < 0)
        resp.close = true; /* the head said keep-alive, but the body's end is lost */
    if (resp.close) {
        finish_conn(c, has_body && !req->body_done);
        return 0;
    }
    return 1;
}

static void serve_conn_requests(struct srv_conn *c)
{
    corio_http_server_t *srv = c->site->srv;
    for (;;) {
        struct corio_http_request req;
        memset(&req, 0, sizeof req);
        req.c = c;
        req.head.headers = c->fields;
        req.head.max_headers = CORIO_HTTP_MAX_HEADERS;
        int r = read_head(c, &req.head);
        if (r == 0)
            return;
        atomic_fetch_add_explicit(&srv->requests, 1, memory_order_relaxed);
        if (r < 0) {
            struct corio_http_response resp;
            req.head.version_minor = 1;
            srv_response_init(&resp, c, &req, true);
            if (corio_http_response_error(&resp, corio_http_error_status(r)) == 0)
                finish_conn(c, true);
            return;
        }
        if (serve_request(c, &req, r) <= 0)
            return;
    }
}

static void *serve_conn(void *arg)
{
    struct srv_conn *c = arg;
    struct srv_site *site = c->site;
    c->task = corio_current();
    c->next = site->conns;
    if (site->conns != NULL)
        site->conns->prev = c;
    site->conns = c;
    bool ok = !site->hard;
    if (ok && site->tls != NULL) {
        c->idle = true; /* a drain closes a connection still in its handshake */
        corio_timeout_begin(site->srv->cfg.header_timeout_ns);
        int err = corio_tls_accept(&c->tls, site->tls, c->fd);
        corio_timeout_end();
        c->idle = false;
        c->tls_on = err == 0;
        ok = err == 0 &&
             corio_tls_stream_init(&c->s, &c->tls, c->rbuf, sizeof c->rbuf, NULL, 0) == 0;
        if (err < 0)
            atomic_fetch_add_explicit(&site->srv->tls_failed, 1, memory_order_relaxed);
    } else if (ok) {
        ok = corio_stream_init(&c->s, c->fd, c->rbuf, sizeof c->rbuf, NULL, 0) == 0;
    }
    if (ok)
        serve_conn_requests(c);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        site->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    corio_tls_free(&c->tls);
    close(c->fd); /* plain close: it must happen even when the task was cancelled */
    atomic_fetch_sub(&site->srv->live_conns, 1);
    corio_waitgroup_done(&site->conns_wg);
    free(c->head_copy);
    free(c);
    return NULL;
}

/* ---- accepting ---------------------------------------------------------------------------- */

/* Over max_conns on a plain listener: answer 503 without a task and close. The socket is
 * new, so its send buffer is empty and the non-blocking send takes the whole response. */
static void refuse(struct srv_site *site, int fd)
{
    atomic_fetch_add_explicit(&site->srv->refused, 1, memory_order_relaxed);
    if (site->tls == NULL) {
        static const char resp[] = "HTTP/1.1 503 Service Unavailable\r\n"
                                   "Content-Type: text/plain; charset=utf-8\r\n"
                                   "Content-Length: 24\r\n"
                                   "Retry-After: 1\r\n"
                                   "Connection: close\r\n"
                                   "\r\n"
                                   "503 Service Unavailable\n";
        (void)send(fd, resp, sizeof resp - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        shutdown(fd, SHUT_WR);
        char drain[4096]; /* what the client sent already: unread data would mean a reset */
        while (recv(fd, drain, sizeof drain, MSG_DONTWAIT) > 0)
            ;
    }
    close(fd);
}

/* Out of file descriptors or memory: say so at most once a second, all loops together. */
static void log_accept_failure(corio_http_server_t *srv, int err)
{
    atomic_fetch_add_explicit(&srv->accept_paused, 1, memory_order_relaxed);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * SEC_NS + (uint64_t)ts.tv_nsec + SEC_NS;
    uint64_t last = atomic_load(&srv->last_log_ns);
    if ((last != 0 && now - last < SEC_NS) ||
        !atomic_compare_exchange_strong(&srv->last_log_ns, &last, now))
        return;
    char line[256];
    snprintf(line, sizeof line,
             "accept: %s: not accepting new connections for 500 ms (open connections are "
             "served on; raise the open-file limit, ulimit -n, or lower max_conns)",
             corio_strerror(err));
    srv_log(srv, line);
}

static void *accept_conns(void *arg)
{
    struct srv_site *site = arg;
    corio_http_server_t *srv = site->srv;
    site->acceptor = corio_current();
    while (!site->draining) {
        int fd = corio_accept(site->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd == -ECANCELED)
            break;
        if (fd == -EMFILE || fd == -ENFILE || fd == -ENOMEM || fd == -ENOBUFS) {
            log_accept_failure(srv, fd);
            if (corio_sleep(ACCEPT_PAUSE_NS) == -ECANCELED)
                break;
            continue;
        }
        if (fd < 0)
            continue; /* a connection that died in the backlog */
        if (atomic_fetch_add(&srv->live_conns, 1) >= srv->cfg.max_conns) {
            atomic_fetch_sub(&srv->live_conns, 1);
            refuse(site, fd);
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct srv_conn *c = malloc(sizeof *c);
        if (c != NULL) {
            memset(c, 0, offsetof(struct srv_conn, rbuf));
            c->site = site;
            c->fd = fd;
            corio_waitgroup_add(&site->conns_wg, 1);
        }
        if (c == NULL || corio_spawn(NULL, serve_conn, c, NULL) < 0) {
            if (c != NULL)
                corio_waitgroup_done(&site->conns_wg);
            free(c);
            close(fd);
            atomic_fetch_sub(&srv->live_conns, 1);
            continue;
        }
        atomic_fetch_add_explicit(&srv->connections, 1, memory_order_relaxed);
    }
    site->acceptor = NULL;
    site->accepting = false;
    return NULL;
}

/* Waits for the connections to end: for up to grace_ns, then cancels them and waits for
 * them to unwind. The serve call's own task may be cancelled too: the connections live
 * on, so it waits all the same, yielding to them. */
static void drain(struct srv_site *site)
{
    corio_timeout_begin(site->srv->cfg.grace_ns);
    int err = corio_waitgroup_wait(&site->conns_wg);
    corio_timeout_end();
    if (err == 0)
        return;
    site->hard = true; /* connections not started yet end at once */
    cancel_conns(site, false);
    while (corio_waitgroup_count(&site->conns_wg) > 0)
        if (corio_waitgroup_wait(&site->conns_wg) == -ECANCELED)
            corio_yield();
}

int corio_http_server_serve(corio_http_server_t *srv, int listen_fd, corio_tls_ctx_t *tls)
{
    int bad = corio_current() == NULL ? -EPERM : 0;
    if (bad == 0 && (srv == NULL || listen_fd < 0))
        bad = -EINVAL;
    if (bad < 0) {
        if (listen_fd >= 0)
            close(listen_fd); /* the call takes the listener, on errors too */
        return bad;
    }
    struct srv_site site;
    memset(&site, 0, sizeof site);
    site.srv = srv;
    site.loop = corio_current_loop();
    site.tls = tls;
    site.listen_fd = listen_fd;
    corio_event_init(&site.stop);
    corio_waitgroup_init(&site.conns_wg);
    pthread_mutex_lock(&srv->mu);
    site.next = srv->sites;
    srv->sites = &site;
    pthread_mutex_unlock(&srv->mu);

    int err = 0;
    if (atomic_load(&srv->stop_level) == 0) {
        /* Detached: a task cancelled before it starts never runs, so the acceptor is
         * cancelled only once it runs, and says when it has ended. */
        site.accepting = true;
        err = corio_spawn(NULL, accept_conns, &site, NULL);
        if (err < 0)
            site.accepting = false;
        else if (atomic_load(&srv->stop_level) == 0 && corio_event_wait(&site.stop) == -ECANCELED)
            err = -ECANCELED; /* this call's own task: its connections are cancelled too */
    }
    site.draining = true;
    if (site.acceptor != NULL)
        corio_cancel(site.acceptor);
    close(listen_fd); /* new connections are refused from now on */
    cancel_conns(&site, true);
    if (atomic_load(&srv->stop_level) >= 2 || err == -ECANCELED) {
        site.hard = true;
        cancel_conns(&site, false);
    }
    drain(&site);
    while (site.accepting)
        corio_yield(); /* the acceptor unwinds, or starts and sees the drain (it holds &site) */

    /* No stop callback may run on a site that is gone: leave the list, then let those
     * already queued run. */
    pthread_mutex_lock(&srv->mu);
    for (struct srv_site **p = &srv->sites; *p != NULL; p = &(*p)->next)
        if (*p == &site) {
            *p = site.next;
            break;
        }
    unsigned queued = site.queued;
    pthread_mutex_unlock(&srv->mu);
    while (queued > 0) {
        corio_yield();
        pthread_mutex_lock(&srv->mu);
        queued = site.queued;
        pthread_mutex_unlock(&srv->mu);
    }
    return err;
}
