/* Tests of TLS for tasks (engine/tls.c) between a client and a server task of one loop,
 * with the throw-away certificates of tests/make_certs.sh (the directory in
 * CORIO_TEST_CERTS): a verified handshake and data both ways, names and addresses checked
 * against the certificate, the messages for a wrong name, an expired certificate, an
 * untrusted CA and a self-signed certificate, the system store not trusting the test CA,
 * the explicit insecure opt-out, ALPN, session resumption, a plain-HTTP peer, garbage
 * records, a reset in the middle of the handshake, a close without close_notify,
 * deadlines and cancels inside handshakes and reads, streams over TLS, and argument and
 * configuration errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <corio/tls.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support.h"

#define MS 1000000ull

static const char *certs; /* the directory of make_certs.sh's files */

static const char *cert_path(const char *name)
{
    static char paths[8][512];
    static unsigned next;
    char *p = paths[next++ % 8];
    snprintf(p, sizeof paths[0], "%s/%s", certs, name);
    return p;
}

/* A server context presenting NAME.pem with NAME.key. */
static corio_tls_ctx_t *server_ctx(const char *name, const char *alpn)
{
    char cert[64], key[64], why[256] = "";
    snprintf(cert, sizeof cert, "%s.pem", name);
    snprintf(key, sizeof key, "%s.key", name);
    corio_tls_config_t cfg = {.role = CORIO_TLS_SERVER, .alpn = alpn};
    cfg.cert_file = cert_path(cert);
    cfg.key_file = cert_path(key);
    corio_tls_ctx_t *ctx;
    int rc = corio_tls_ctx_new(&ctx, &cfg, why, sizeof why);
    if (rc < 0)
        fail_msg("server context %s: %s (%s)", name, corio_strerror(rc), why);
    return ctx;
}

/* A client context trusting the test CA (ca NULL: the system store). */
static corio_tls_ctx_t *client_ctx(const char *ca, unsigned flags, const char *alpn)
{
    char why[256] = "";
    corio_tls_config_t cfg = {.flags = flags, .alpn = alpn};
    if (ca != NULL)
        cfg.ca_file = cert_path(ca);
    corio_tls_ctx_t *ctx;
    int rc = corio_tls_ctx_new(&ctx, &cfg, why, sizeof why);
    if (rc < 0)
        fail_msg("client context: %s (%s)", corio_strerror(rc), why);
    return ctx;
}

/* ---- a client and a server task ----------------------------------------------------- */

/* One exchange: the main task listens, a server task accepts one connection (TLS unless
 * raw_server) and runs `server`, the client task dials and runs `client`. */
struct pair {
    corio_tls_ctx_t *sctx, *cctx;
    const char *host; /* for corio_tls_connect; "localhost" when NULL */
    bool raw_client;  /* the client does not speak TLS: `client` gets the bare fd */
    bool raw_server;  /* the server accepts but does not speak TLS */
    void (*server)(struct pair *p, corio_tls_t *t, int fd);
    void (*client)(struct pair *p, corio_tls_t *t, int fd);
    uint16_t port;
    int lfd;
    int accept_rc, connect_rc; /* the handshakes' results */
    char accept_why[256], connect_why[256];
    corio_task_t *client_task;
    void *user;
};

static void *server_main(void *arg)
{
    struct pair *p = arg;
    int fd = corio_accept(p->lfd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(fd >= 0);
    corio_tls_t t;
    if (!p->raw_server) {
        p->accept_rc = corio_tls_accept(&t, p->sctx, fd);
        snprintf(p->accept_why, sizeof p->accept_why, "%s", corio_tls_error(&t));
    } else {
        memset(&t, 0, sizeof t);
    }
    if (p->server != NULL)
        p->server(p, &t, fd);
    corio_tls_free(&t);
    close(fd);
    return NULL;
}

static void *client_main(void *arg)
{
    struct pair *p = arg;
    int fd = corio_dial("127.0.0.1", p->port);
    assert_true(fd >= 0);
    corio_tls_t t;
    if (!p->raw_client) {
        p->connect_rc = corio_tls_connect(&t, p->cctx, fd, p->host ? p->host : "localhost");
        snprintf(p->connect_why, sizeof p->connect_why, "%s", corio_tls_error(&t));
    } else {
        memset(&t, 0, sizeof t);
    }
    if (p->client != NULL)
        p->client(p, &t, fd);
    corio_tls_free(&t);
    close(fd);
    return NULL;
}

static void *pair_main(void *arg)
{
    struct pair *p = arg;
    p->lfd = corio_listen(NULL, 0, 16);
    assert_true(p->lfd >= 0);
    p->port = (uint16_t)corio_sock_port(p->lfd);
    corio_task_t *server;
    assert_int_equal(corio_spawn(NULL, server_main, p, &server), 0);
    assert_int_equal(corio_spawn(NULL, client_main, p, &p->client_task), 0);
    assert_int_equal(corio_join(p->client_task, NULL), 0);
    assert_int_equal(corio_join(server, NULL), 0);
    close(p->lfd);
    return NULL;
}

static void run_pair(struct pair *p)
{
    support_run(pair_main, p);
}

static void free_pair(struct pair *p)
{
    corio_tls_ctx_free(p->sctx);
    corio_tls_ctx_free(p->cctx);
}

/* Reads exactly n bytes into buf through t. */
static void read_all(corio_tls_t *t, char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = corio_tls_read(t, buf + got, n - got);
        if (r <= 0)
            fail_msg("read %zd (%s) after %zu of %zu bytes", r, corio_tls_error(t), got, n);
        got += (size_t)r;
    }
}

/* ---- a verified exchange ------------------------------------------------------------ */

struct exchange {
    char got_ping[5], got_pong[5];
    ssize_t eof;
    char sversion[16], cversion[16], salpn[16], calpn[16];
};

static void ping_server(struct pair *p, corio_tls_t *t, int fd)
{
    (void)fd;
    struct exchange *x = p->user;
    if (p->accept_rc < 0)
        return;
    snprintf(x->sversion, sizeof x->sversion, "%s", corio_tls_version(t));
    snprintf(x->salpn, sizeof x->salpn, "%s", corio_tls_alpn(t));
    read_all(t, x->got_ping, 4);
    assert_int_equal(corio_tls_write(t, "pong", 4), 4);
    x->eof = corio_tls_read(t, x->got_ping + 4, 1); /* the client's close_notify */
}

static void ping_client(struct pair *p, corio_tls_t *t, int fd)
{
    (void)fd;
    struct exchange *x = p->user;
    if (p->connect_rc < 0)
        return;
    snprintf(x->cversion, sizeof x->cversion, "%s", corio_tls_version(t));
    snprintf(x->calpn, sizeof x->calpn, "%s", corio_tls_alpn(t));
    assert_int_equal(corio_tls_write(t, "ping", 4), 4);
    read_all(t, x->got_pong, 4);
    assert_int_equal(corio_tls_shutdown(t), 0);
    assert_int_equal(corio_tls_write(t, "x", 1), -EPIPE); /* nothing after a close_notify */
}

static void
test_a_verified_handshake_carries_data_both_ways_and_ends_with_close_notify(void **state)
{
    (void)state;
    struct exchange x = {0};
    struct pair p = {.sctx = server_ctx("server", NULL),
                     .cctx = client_ctx("ca.pem", 0, NULL),
                     .server = ping_server,
                     .client = ping_client,
                     .user = &x};
    run_pair(&p);
    assert_int_equal(p.accept_rc, 0);
    assert_int_equal(p.connect_rc, 0);
    assert_string_equal(p.connect_why, "");
    assert_memory_equal(x.got_ping, "ping", 4);
    assert_memory_equal(x.got_pong, "pong", 4);
    assert_int_equal(x.eof, 0);
    assert_string_equal(x.cversion, "TLSv1.3");
    assert_string_equal(x.sversion, "TLSv1.3");
    assert_string_equal(x.calpn, "http/1.1"); /* offered and accepted by default */
    assert_string_equal(x.salpn, "http/1.1");
    free_pair(&p);
}

static void test_a_numeric_host_is_checked_against_the_certificates_addresses(void **state)
{
    (void)state;
    struct exchange x = {0};
    struct pair p = {.sctx = server_ctx("server", NULL),
                     .cctx = client_ctx("ca.pem", 0, NULL),
                     .host = "127.0.0.1",
                     .server = ping_server,
                     .client = ping_client,
                     .user = &x};
    run_pair(&p);
    assert_int_equal(p.connect_rc, 0);
    assert_memory_equal(x.got_pong, "pong", 4);
    p.host = "10.1.2.3"; /* the certificate names 127.0.0.1 and ::1 only */
    run_pair(&p);
    assert_int_equal(p.connect_rc, CORIO_ETLS_VERIFY);
    assert_string_equal(p.connect_why,
                        "certificate verify failed: IP address mismatch for host 10.1.2.3");
    free_pair(&p);
}

/* ---- refused certificates ------------------------------------------------------------ */

/* Connects to a server presenting `name` with a client trusting `ca`; returns the
 * client's result, with its sentence in why. The server's side must fail too. */
static int refused(const char *name, const char *ca, const char *host, char *why, size_t len)
{
    struct pair p = {.sctx = server_ctx(name, NULL), .cctx = client_ctx(ca, 0, NULL), .host = host};
    run_pair(&p);
    snprintf(why, len, "%s", p.connect_why);
    assert_true(p.accept_rc < 0); /* the client's alert, or its close */
    free_pair(&p);
    return p.connect_rc;
}

static void test_refused_certificates_say_why_and_for_which_host(void **state)
{
    (void)state;
    char why[256];
    assert_int_equal(refused("server", "ca.pem", "wrong.example", why, sizeof why),
                     CORIO_ETLS_VERIFY);
    assert_string_equal(why, "certificate verify failed: hostname mismatch for host wrong.example");
    assert_int_equal(refused("expired", "ca.pem", "localhost", why, sizeof why), CORIO_ETLS_VERIFY);
    assert_string_equal(why,
                        "certificate verify failed: certificate has expired for host localhost");
    assert_int_equal(refused("untrusted", "ca.pem", "localhost", why, sizeof why),
                     CORIO_ETLS_VERIFY);
    assert_string_equal(
        why, "certificate verify failed: self-signed certificate in certificate chain for host "
             "localhost");
    assert_int_equal(refused("self", "ca.pem", "localhost", why, sizeof why), CORIO_ETLS_VERIFY);
    assert_string_equal(why,
                        "certificate verify failed: self-signed certificate for host localhost");
    /* By default the system store is the trust: it does not know the test CA. */
    assert_int_equal(refused("server", NULL, "localhost", why, sizeof why), CORIO_ETLS_VERIFY);
    assert_string_equal(
        why, "certificate verify failed: self-signed certificate in certificate chain for host "
             "localhost");
    assert_string_equal(corio_strerror(CORIO_ETLS_VERIFY), "TLS certificate verify failed");
}

static void test_the_insecure_flag_connects_to_an_untrusted_server(void **state)
{
    (void)state;
    struct exchange x = {0};
    struct pair p = {.sctx = server_ctx("self", NULL),
                     .cctx = client_ctx(NULL, CORIO_TLS_INSECURE, NULL),
                     .host = "anything.example",
                     .server = ping_server,
                     .client = ping_client,
                     .user = &x};
    run_pair(&p);
    assert_int_equal(p.connect_rc, 0);
    assert_memory_equal(x.got_pong, "pong", 4);
    free_pair(&p);
}

static void test_alpn_without_a_protocol_in_common_goes_on_without_one(void **state)
{
    (void)state;
    struct exchange x = {0};
    struct pair p = {.sctx = server_ctx("server", "http/1.1"),
                     .cctx = client_ctx("ca.pem", 0, "h2,spdy/3"),
                     .server = ping_server,
                     .client = ping_client,
                     .user = &x};
    run_pair(&p);
    assert_int_equal(p.connect_rc, 0);
    assert_string_equal(x.calpn, "");
    assert_string_equal(x.salpn, "");
    free_pair(&p);
    struct pair q = {.sctx = server_ctx("server", "h2,http/1.1"),
                     .cctx = client_ctx("ca.pem", 0, "spdy/3,h2"),
                     .server = ping_server,
                     .client = ping_client,
                     .user = &x};
    run_pair(&q);
    assert_string_equal(x.calpn, "h2"); /* the server's first choice the client offers */
    free_pair(&q);
}

/* ---- session resumption ------------------------------------------------------------- */

struct resume_loop {
    corio_tls_ctx_t *sctx, *cctx;
    int lfd;
    uint16_t port;
    bool resumed[3];
};

static void *resume_server(void *arg)
{
    struct resume_loop *r = arg;
    for (int i = 0; i < 3; i++) {
        int fd = corio_accept(r->lfd, NULL, NULL, SOCK_CLOEXEC);
        assert_true(fd >= 0);
        corio_tls_t t;
        assert_int_equal(corio_tls_accept(&t, r->sctx, fd), 0);
        assert_int_equal(corio_tls_write(&t, "hi", 2), 2);
        corio_tls_free(&t);
        close(fd);
    }
    return NULL;
}

static void *resume_main(void *arg)
{
    struct resume_loop *r = arg;
    r->lfd = corio_listen(NULL, 0, 16);
    assert_true(r->lfd >= 0);
    r->port = (uint16_t)corio_sock_port(r->lfd);
    corio_task_t *server;
    assert_int_equal(corio_spawn(NULL, resume_server, r, &server), 0);
    for (int i = 0; i < 3; i++) {
        int fd = corio_dial("127.0.0.1", r->port);
        assert_true(fd >= 0);
        corio_tls_t t;
        assert_int_equal(corio_tls_connect(&t, r->cctx, fd, "localhost"), 0);
        char buf[2];
        read_all(&t, buf, 2);
        r->resumed[i] = corio_tls_resumed(&t);
        corio_tls_free(&t);
        close(fd);
    }
    assert_int_equal(corio_join(server, NULL), 0);
    close(r->lfd);
    return NULL;
}

static void test_a_client_resumes_sessions_with_a_host_and_port_it_met(void **state)
{
    (void)state;
    struct resume_loop r = {.sctx = server_ctx("server", NULL),
                            .cctx = client_ctx("ca.pem", 0, NULL)};
    support_run(resume_main, &r);
    assert_false(r.resumed[0]);
    assert_true(r.resumed[1]);
    assert_true(r.resumed[2]); /* each connection brings a new ticket */
    corio_tls_ctx_free(r.cctx);
    r.cctx = client_ctx("ca.pem", CORIO_TLS_NO_RESUME, NULL);
    support_run(resume_main, &r);
    assert_false(r.resumed[1]);
    assert_false(r.resumed[2]);
    corio_tls_ctx_free(r.cctx);
    corio_tls_ctx_free(r.sctx);
}

/* ---- hostile peers ------------------------------------------------------------------ */

static void plain_http_client(struct pair *p, corio_tls_t *t, int fd)
{
    (void)p, (void)t;
    static const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    assert_int_equal(corio_send(fd, req, sizeof req - 1, 0), (ssize_t)(sizeof req - 1));
    char buf[64];
    (void)corio_recv(fd, buf, sizeof buf, 0); /* the server's alert, or its close */
}

static void test_a_plain_http_peer_gets_a_clean_error_and_the_next_client_is_served(void **state)
{
    (void)state;
    struct exchange x = {0};
    struct pair p = {.sctx = server_ctx("server", NULL),
                     .cctx = client_ctx("ca.pem", 0, NULL),
                     .raw_client = true,
                     .client = plain_http_client,
                     .user = &x};
    run_pair(&p);
    assert_int_equal(p.accept_rc, CORIO_ETLS);
    assert_string_equal(p.accept_why, "TLS handshake failed: http request");
    p.raw_client = false;
    p.server = ping_server;
    p.client = ping_client;
    run_pair(&p);
    assert_int_equal(p.accept_rc, 0);
    assert_memory_equal(x.got_ping, "ping", 4);
    free_pair(&p);
}

struct garbage {
    ssize_t first, again;
    char why[256];
};

static void garbage_server(struct pair *p, corio_tls_t *t, int fd)
{
    (void)fd;
    struct garbage *g = p->user;
    assert_int_equal(p->accept_rc, 0);
    char buf[16];
    g->first = corio_tls_read(t, buf, sizeof buf);
    snprintf(g->why, sizeof g->why, "%s", corio_tls_error(t));
    g->again = corio_tls_read(t, buf, sizeof buf);
}

/* After the handshake, bytes that are not a TLS record, written past TLS onto the fd. */
static void garbage_client(struct pair *p, corio_tls_t *t, int fd)
{
    (void)t;
    assert_int_equal(p->connect_rc, 0);
    static const char junk[] = "\x17\x03\x03\x00\x10 sixteen bytes!!";
    assert_int_equal(corio_send(fd, junk, sizeof junk - 1, 0), (ssize_t)(sizeof junk - 1));
    char buf[256];
    while (corio_recv(fd, buf, sizeof buf, 0) > 0) /* until the server has closed: closing */
        ;                                          /* first could reset what it reads */
}

static void test_a_garbage_record_ends_the_connection_with_etls_every_time(void **state)
{
    (void)state;
    struct garbage g = {0};
    struct pair p = {.sctx = server_ctx("server", NULL),
                     .cctx = client_ctx("ca.pem", 0, NULL),
                     .server = garbage_server,
                     .client = garbage_client,
                     .user = &g};
    run_pair(&p);
    assert_int_equal(g.first, CORIO_ETLS);
    assert_string_equal(g.why, "TLS read failed: decryption failed or bad record mac");
    assert_int_equal(g.again, CORIO_ETLS);
    free_pair(&p);
}

/* The start of a ClientHello, then a reset. */
static void resetting_client(struct pair *p, corio_tls_t *t, int fd)
{
    (void)p, (void)t;
    static const char hello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
    assert_int_equal(corio_send(fd, hello, sizeof hello - 1, 0), (ssize_t)(sizeof hello - 1));
    support_close_with_reset(dup(fd));
    shutdown(fd, SHUT_RDWR);
}

static void test_a_reset_in_the_middle_of_the_handshake_is_a_clean_error(void **state)
{
    (void)state;
    struct pair p = {.sctx = server_ctx("server", NULL),
                     .cctx = client_ctx("ca.pem", 0, NULL),
                     .raw_client = true,
                     .client = resetting_client};
    run_pair(&p);
    assert_true(p.accept_rc == -ECONNRESET || p.accept_rc == -EPIPE);
    assert_true(strstr(p.accept_why, "handshake") != NULL);
    free_pair(&p);
}

static void closing_server(struct pair *p, corio_tls_t *t, int fd)
{
    (void)p, (void)t;
    assert_int_equal(p->accept_rc, 0);
    assert_int_equal(corio_tls_write(t, "bye", 3), 3);
    shutdown(fd, SHUT_RDWR); /* no close_notify */
}

struct truncated {
    ssize_t rc;
    char why[256];
};

static void truncated_client(struct pair *p, corio_tls_t *t, int fd)
{
    (void)fd;
    struct truncated *r = p->user;
    char buf[3];
    read_all(t, buf, 3);
    r->rc = corio_tls_read(t, buf, sizeof buf);
    snprintf(r->why, sizeof r->why, "%s", corio_tls_error(t));
}

static void test_a_close_without_close_notify_is_epipe_not_the_end_of_data(void **state)
{
    (void)state;
    struct truncated r = {0};
    struct pair p = {.sctx = server_ctx("server", NULL),
                     .cctx = client_ctx("ca.pem", 0, NULL),
                     .server = closing_server,
                     .client = truncated_client,
                     .user = &r};
    run_pair(&p);
    assert_int_equal(r.rc, -EPIPE);
    assert_string_equal(r.why, "the peer closed the connection without a TLS close_notify");
    free_pair(&p);
}

/* ---- deadlines and cancels ------------------------------------------------------------ */

static void silent_server(struct pair *p, corio_tls_t *t, int fd)
{
    (void)t;
    char buf[512];
    (void)p;
    while (corio_recv(fd, buf, sizeof buf, 0) > 0) /* until the client gives up */
        ;
}

static void *deadline_connect(void *arg)
{
    struct pair *p = arg;
    int fd = corio_dial("127.0.0.1", p->port);
    assert_true(fd >= 0);
    corio_tls_t t;
    assert_int_equal(corio_timeout_begin(30 * MS), 0);
    p->connect_rc = corio_tls_connect(&t, p->cctx, fd, "localhost");
    corio_timeout_end();
    snprintf(p->connect_why, sizeof p->connect_why, "%s", corio_tls_error(&t));
    corio_tls_free(&t);
    close(fd);
    return NULL;
}

static void *deadline_main(void *arg)
{
    struct pair *p = arg;
    p->lfd = corio_listen(NULL, 0, 16);
    p->port = (uint16_t)corio_sock_port(p->lfd);
    corio_task_t *server, *client;
    assert_int_equal(corio_spawn(NULL, server_main, p, &server), 0);
    assert_int_equal(corio_spawn(NULL, deadline_connect, p, &client), 0);
    assert_int_equal(corio_join(client, NULL), 0);
    assert_int_equal(corio_join(server, NULL), 0);
    close(p->lfd);
    return NULL;
}

static void test_a_handshake_with_a_silent_server_ends_at_the_deadline(void **state)
{
    (void)state;
    struct pair p = {
        .cctx = client_ctx("ca.pem", 0, NULL), .raw_server = true, .server = silent_server};
    support_run(deadline_main, &p);
    assert_int_equal(p.connect_rc, -ETIMEDOUT);
    assert_string_equal(p.connect_why, "TLS handshake: Connection timed out");
    free_pair(&p);
}

struct late {
    corio_event_t timed_out; /* set by the client after its first read */
    ssize_t first, second;
    char got[4];
};

static void late_server(struct pair *p, corio_tls_t *t, int fd)
{
    (void)fd;
    struct late *l = p->user;
    assert_int_equal(corio_event_wait(&l->timed_out), 0);
    assert_int_equal(corio_tls_write(t, "late", 4), 4);
}

static void late_client(struct pair *p, corio_tls_t *t, int fd)
{
    (void)fd;
    struct late *l = p->user;
    assert_int_equal(corio_timeout_begin(30 * MS), 0);
    l->first = corio_tls_read(t, l->got, sizeof l->got);
    corio_timeout_end();
    corio_event_set(&l->timed_out);
    l->second = corio_tls_read(t, l->got, sizeof l->got);
}

static void test_a_read_that_times_out_can_be_made_again(void **state)
{
    (void)state;
    struct late l = {0};
    corio_event_init(&l.timed_out);
    struct pair p = {.sctx = server_ctx("server", NULL),
                     .cctx = client_ctx("ca.pem", 0, NULL),
                     .server = late_server,
                     .client = late_client,
                     .user = &l};
    run_pair(&p);
    assert_int_equal(l.first, -ETIMEDOUT);
    assert_int_equal(l.second, 4);
    assert_memory_equal(l.got, "late", 4);
    free_pair(&p);
}

struct cancelled {
    corio_event_t reading;
    ssize_t rc;
};

static void *blocked_reader(void *arg)
{
    void **a = arg;
    corio_tls_t *t = a[0];
    struct cancelled *c = a[1];
    char buf[4];
    corio_event_set(&c->reading);
    c->rc = corio_tls_read(t, buf, sizeof buf);
    return NULL;
}

/* Reads in a task of its own, which the client cancels while it waits. */
static void cancel_client(struct pair *p, corio_tls_t *t, int fd)
{
    (void)fd;
    struct cancelled *c = p->user;
    assert_int_equal(p->connect_rc, 0);
    void *args[2] = {t, c};
    corio_task_t *reader;
    assert_int_equal(corio_spawn(NULL, blocked_reader, args, &reader), 0);
    assert_int_equal(corio_event_wait(&c->reading), 0);
    corio_yield(); /* the reader parks in its receive, inside OpenSSL */
    assert_int_equal(corio_cancel(reader), 0);
    assert_int_equal(corio_join(reader, NULL), -ECANCELED);
}

static void test_a_cancel_ends_a_tls_read_with_ecanceled(void **state)
{
    (void)state;
    struct cancelled c = {0};
    corio_event_init(&c.reading);
    struct pair p = {.sctx = server_ctx("server", NULL),
                     .cctx = client_ctx("ca.pem", 0, NULL),
                     .client = cancel_client,
                     .user = &c};
    run_pair(&p);
    assert_int_equal(c.rc, -ECANCELED);
    free_pair(&p);
}

/* ---- streams over TLS ----------------------------------------------------------------- */

#define BIG (1024 * 1024 + 13)

static unsigned char pat(size_t i)
{
    return (unsigned char)((i * 131 + 7) & 0xff);
}

struct streamed {
    unsigned char *big, *got; /* what the server sends, what the client receives */
    char line[32];
    ssize_t line_len, big_len, eof;
};

static void stream_server(struct pair *p, corio_tls_t *t, int fd)
{
    (void)fd;
    struct streamed *st = p->user;
    unsigned char wbuf[4096];
    corio_stream_t s;
    assert_int_equal(corio_tls_stream_init(&s, t, NULL, 0, wbuf, sizeof wbuf), 0);
    assert_int_equal(corio_stream_write(&s, "hello over tls\n", 15), 15);
    for (size_t i = 0; i < BIG; i++)
        st->big[i] = pat(i);
    assert_int_equal(corio_stream_write_all(&s, st->big, BIG), BIG);
    assert_int_equal(corio_stream_flush(&s), 0);
    assert_int_equal(corio_tls_shutdown(t), 0);
}

static void stream_client(struct pair *p, corio_tls_t *t, int fd)
{
    (void)fd;
    struct streamed *st = p->user;
    unsigned char rbuf[4096];
    corio_stream_t s;
    assert_int_equal(corio_tls_stream_init(&s, t, rbuf, sizeof rbuf, NULL, 0), 0);
    st->line_len = corio_stream_readline(&s, st->line, sizeof st->line);
    st->big_len = corio_stream_read_exactly(&s, st->got, BIG);
    st->eof = corio_stream_read(&s, st->line, 1);
}

static void test_a_stream_over_tls_carries_a_line_and_a_megabyte_byte_exact(void **state)
{
    (void)state;
    struct streamed st = {.big = malloc(BIG), .got = calloc(1, BIG)};
    assert_non_null(st.big);
    assert_non_null(st.got);
    struct pair p = {.sctx = server_ctx("server", NULL),
                     .cctx = client_ctx("ca.pem", 0, NULL),
                     .server = stream_server,
                     .client = stream_client,
                     .user = &st};
    run_pair(&p);
    assert_int_equal(st.line_len, 15);
    assert_string_equal(st.line, "hello over tls\n");
    assert_int_equal(st.big_len, BIG);
    for (size_t i = 0; i < BIG; i++)
        if (st.got[i] != pat(i))
            fail_msg("byte %zu is 0x%02x, expected 0x%02x", i, st.got[i], pat(i));
    assert_int_equal(st.eof, 0); /* the server's close_notify */
    free(st.big);
    free(st.got);
    free_pair(&p);
}

/* ---- errors ----------------------------------------------------------------------------- */

static void *outside_checks(void *arg)
{
    corio_tls_ctx_t **ctx = arg; /* [0] client, [1] server */
    corio_tls_t t;
    assert_int_equal(corio_tls_connect(&t, ctx[1], 0, "localhost"), -EINVAL);
    assert_string_equal(corio_tls_error(&t), "corio_tls_connect needs a client's context");
    assert_int_equal(corio_tls_connect(&t, ctx[0], 0, ""), -EINVAL);
    assert_int_equal(corio_tls_connect(&t, ctx[0], 0, NULL), -EINVAL);
    assert_int_equal(corio_tls_accept(&t, ctx[0], 0), -EINVAL);
    assert_int_equal(corio_tls_connect(NULL, ctx[0], 0, "localhost"), -EINVAL);
    memset(&t, 0, sizeof t);
    char buf[1];
    assert_int_equal(corio_tls_read(&t, buf, 1), -EINVAL); /* never connected */
    assert_int_equal(corio_tls_write(&t, buf, 1), -EINVAL);
    assert_int_equal(corio_tls_shutdown(&t), -EINVAL);
    assert_int_equal(corio_tls_read(NULL, buf, 1), -EINVAL);
    corio_tls_free(&t);
    corio_tls_free(NULL);
    return NULL;
}

static void test_calls_check_their_arguments_and_need_a_task(void **state)
{
    (void)state;
    corio_tls_ctx_t *ctx[2] = {client_ctx("ca.pem", 0, NULL), server_ctx("server", NULL)};
    corio_tls_t t;
    assert_int_equal(corio_tls_connect(&t, ctx[0], 0, "localhost"), -EPERM);
    assert_string_equal(corio_tls_error(&t), "corio_tls_connect works only inside a task");
    corio_tls_free(&t);
    assert_int_equal(corio_tls_accept(&t, ctx[1], 0), -EPERM);
    corio_tls_free(&t);
    support_run(outside_checks, ctx);
    assert_string_equal(corio_tls_version(&t), "");
    assert_string_equal(corio_tls_alpn(NULL), "");
    assert_false(corio_tls_resumed(&t));
    corio_tls_ctx_free(ctx[0]);
    corio_tls_ctx_free(ctx[1]);
}

/* corio_tls_ctx_new's result for cfg, with its sentence in why. */
static int ctx_error(const corio_tls_config_t *cfg, char *why, size_t len)
{
    corio_tls_ctx_t *ctx = (corio_tls_ctx_t *)1;
    why[0] = '\0';
    int rc = corio_tls_ctx_new(&ctx, cfg, why, len);
    if (rc == 0)
        corio_tls_ctx_free(ctx);
    else
        assert_null(ctx);
    return rc;
}

static void test_context_errors_name_the_file_and_the_problem(void **state)
{
    (void)state;
    char why[512], expect[512];
    corio_tls_config_t cfg = {.role = CORIO_TLS_SERVER, .cert_file = "/nonexistent/cert.pem"};
    assert_int_equal(ctx_error(&cfg, why, sizeof why), -ENOENT);
    assert_string_equal(why, "certificate file /nonexistent/cert.pem: No such file or directory");
    cfg.cert_file = cert_path("server.pem");
    cfg.key_file = cert_path("expired.key");
    assert_int_equal(ctx_error(&cfg, why, sizeof why), CORIO_ETLS);
    snprintf(expect, sizeof expect, "key file %s does not match the certificate in %s",
             cert_path("expired.key"), cert_path("server.pem"));
    assert_string_equal(why, expect);
    cfg.cert_file = cert_path("ext.cnf"); /* a readable file that is not PEM */
    cfg.key_file = cert_path("server.key");
    assert_int_equal(ctx_error(&cfg, why, sizeof why), CORIO_ETLS);
    assert_true(strstr(why, "ext.cnf: ") != NULL);
    cfg = (corio_tls_config_t){.role = CORIO_TLS_SERVER};
    assert_int_equal(ctx_error(&cfg, why, sizeof why), -EINVAL);
    assert_string_equal(why, "a server needs a certificate file");
    cfg = (corio_tls_config_t){.ca_file = "/nonexistent/ca.pem"};
    assert_int_equal(ctx_error(&cfg, why, sizeof why), -ENOENT);
    assert_string_equal(why, "CA file /nonexistent/ca.pem: No such file or directory");
    cfg = (corio_tls_config_t){.alpn = "http/1.1,,h2"};
    assert_int_equal(ctx_error(&cfg, why, sizeof why), -EINVAL);
    cfg = (corio_tls_config_t){.min_version = 0x0302};
    assert_int_equal(ctx_error(&cfg, why, sizeof why), -EINVAL);
    assert_string_equal(why, "min_version 0x302: TLS 1.2 (0x0303) is the lowest allowed");
    cfg = (corio_tls_config_t){.flags = 1u << 7};
    assert_int_equal(ctx_error(&cfg, why, sizeof why), -EINVAL);
    cfg = (corio_tls_config_t){.role = 7};
    assert_int_equal(ctx_error(&cfg, why, sizeof why), -EINVAL);
    assert_int_equal(corio_tls_ctx_new(NULL, NULL, NULL, 0), -EINVAL);
    cfg = (corio_tls_config_t){0}; /* a client with the system store */
    assert_int_equal(ctx_error(&cfg, why, sizeof why), 0);
    corio_tls_ctx_free(NULL);
}

static void test_the_kernel_tls_probe_says_why_when_it_is_missing(void **state)
{
    (void)state;
    char why[256] = "";
    int rc = corio_tls_ktls_available(why, sizeof why);
    assert_true(rc == 0 || rc == 1);
    if (rc == 0)
        assert_true(strlen(why) > 20);
    print_message("kernel TLS: %s%s\n", rc ? "available" : "unavailable: ", why);
}

int main(void)
{
    certs = getenv("CORIO_TEST_CERTS");
    if (certs == NULL || access(certs, R_OK) != 0) {
        fprintf(stderr, "test_tls: set CORIO_TEST_CERTS to a directory of make_certs.sh\n");
        return 1;
    }
    support_require_uring();
    support_watchdog(120);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_a_verified_handshake_carries_data_both_ways_and_ends_with_close_notify),
        cmocka_unit_test(test_a_numeric_host_is_checked_against_the_certificates_addresses),
        cmocka_unit_test(test_refused_certificates_say_why_and_for_which_host),
        cmocka_unit_test(test_the_insecure_flag_connects_to_an_untrusted_server),
        cmocka_unit_test(test_alpn_without_a_protocol_in_common_goes_on_without_one),
        cmocka_unit_test(test_a_client_resumes_sessions_with_a_host_and_port_it_met),
        cmocka_unit_test(test_a_plain_http_peer_gets_a_clean_error_and_the_next_client_is_served),
        cmocka_unit_test(test_a_garbage_record_ends_the_connection_with_etls_every_time),
        cmocka_unit_test(test_a_reset_in_the_middle_of_the_handshake_is_a_clean_error),
        cmocka_unit_test(test_a_close_without_close_notify_is_epipe_not_the_end_of_data),
        cmocka_unit_test(test_a_handshake_with_a_silent_server_ends_at_the_deadline),
        cmocka_unit_test(test_a_read_that_times_out_can_be_made_again),
        cmocka_unit_test(test_a_cancel_ends_a_tls_read_with_ecanceled),
        cmocka_unit_test(test_a_stream_over_tls_carries_a_line_and_a_megabyte_byte_exact),
        cmocka_unit_test(test_calls_check_their_arguments_and_need_a_task),
        cmocka_unit_test(test_context_errors_name_the_file_and_the_problem),
        cmocka_unit_test(test_the_kernel_tls_probe_says_why_when_it_is_missing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
