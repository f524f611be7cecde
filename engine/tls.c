/* TLS for tasks (corio/tls.h) on OpenSSL 3: contexts with their trust store, certificate
 * and session cache; handshakes, records and shutdown; and the BIO that makes it work in a
 * task: its reads and writes are corio_recv and corio_send, so OpenSSL's blocking-style
 * calls park the task (cancels and deadlines included) instead of blocking the loop. Part
 * of libcorio-http; uses only the public API of libcorio. */
#include "corio/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define HOST_MAX      255
#define KEY_MAX       (HOST_MAX + 8) /* "host:port" */
#define DEFAULT_ALPN  "http/1.1"
#define DEFAULT_CACHE 1024

/* A client's sessions for one host and port, newest last. Several: connections opened at
 * once each take one (a TLS 1.3 ticket is used once), and each brings new ones back. */
#define SLOT_SESSIONS 8
struct session_slot {
    char key[KEY_MAX];
    unsigned n;
    SSL_SESSION *sess[SLOT_SESSIONS];
};

struct corio_tls_ctx {
    SSL_CTX *ssl;
    int role;
    unsigned flags;
    unsigned char alpn[256]; /* the ALPN list in wire format: length-prefixed names */
    unsigned alpn_len;
    pthread_mutex_t mu; /* the session cache: a context may serve several threads */
    unsigned nslots;    /* 0: no resumption */
    struct session_slot *slots;
};

/* What OpenSSL and the BIO share for one connection; on the heap so that the caller's
 * corio_tls_t can move. */
struct corio_tls_conn {
    SSL *ssl;
    corio_tls_ctx_t *ctx;
    int fd;
    int io_err;       /* the error of the last corio_recv/corio_send, inside an SSL call */
    bool eof;         /* the last receive saw the end of the stream */
    bool peer_closed; /* a close_notify came: reads return 0 */
    char host[HOST_MAX + 1];
    char alpn[256];    /* the protocol ALPN selected, NUL-terminated ("" for none) */
    char key[KEY_MAX]; /* client: host:port, the session cache's key */
};

/* ---- errors ------------------------------------------------------------------------- */

static void say(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t len, const char *fmt, ...)
{
    if (why == NULL || len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
}

/* OpenSSL's reason for the oldest error in this thread's queue, or a fallback. */
static const char *ssl_reason(unsigned long err)
{
    const char *r = err != 0 ? ERR_reason_error_string(err) : NULL;
    return r != NULL ? r : "unknown error";
}

/* Records err as the end of t's connection, with its sentence. Returns err. */
static int fail(corio_tls_t *t, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(corio_tls_t *t, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->priv_why, sizeof t->priv_why, fmt, ap);
    va_end(ap);
    return err;
}

/* Errors of corio_recv/corio_send after which OpenSSL's state is kept for another try:
 * the socket is fine, the task only stopped waiting. */
static bool resumable(int err)
{
    return err == -ETIMEDOUT || err == -ECANCELED || err == -EINTR || err == -EAGAIN;
}

/* Empties this thread's error queue before an SSL call, as SSL_get_error needs; looking
 * first is much cheaper than ERR_clear_error's walk of every slot, and the queue is almost
 * always empty (every failure here clears it). */
static inline void err_reset(void)
{
    if (ERR_peek_error() != 0)
        ERR_clear_error();
}

/* The result of a failed SSL call (ret) during `what` ("handshake", "read", "write",
 * "shutdown"), with corio_tls_error's sentence. A resumable socket error leaves the
 * connection usable; anything else ends it (priv_err). Clears the thread's error queue,
 * which every task of this thread shares. */
static int ssl_failure(corio_tls_t *t, int ret, const char *what)
{
    struct corio_tls_conn *c = t->priv_conn;
    int kind = SSL_get_error(c->ssl, ret);
    unsigned long err = ERR_peek_error();
    int io = c->io_err;
    int res;
    bool handshake = strcmp(what, "handshake") == 0;
    if ((kind == SSL_ERROR_WANT_READ || kind == SSL_ERROR_WANT_WRITE) && io < 0) {
        ERR_clear_error();
        fail(t, io, "TLS %s: %s", what, corio_strerror(io));
        return io; /* resumable: priv_err stays 0 */
    }
    if (kind == SSL_ERROR_ZERO_RETURN) {
        res = handshake
                  ? fail(t, CORIO_ETLS, "the peer closed the TLS session during the handshake")
                  : fail(t, -EPIPE, "the peer has closed the TLS session");
    } else if (kind == SSL_ERROR_SSL && ERR_GET_REASON(err) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        long v = SSL_get_verify_result(c->ssl);
        res = fail(t, CORIO_ETLS_VERIFY, "certificate verify failed: %s for host %s",
                   X509_verify_cert_error_string(v), c->host);
    } else if (io < 0) {
        res = fail(t, io, "TLS %s: %s", what, corio_strerror(io));
    } else if (c->eof || (kind == SSL_ERROR_SSL &&
                          ERR_GET_REASON(err) == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
        res = fail(t, -EPIPE,
                   handshake ? "the peer closed the connection during the TLS handshake"
                             : "the peer closed the connection without a TLS close_notify");
    } else if (kind == SSL_ERROR_SSL) {
        res = fail(t, CORIO_ETLS, "TLS %s failed: %s", what, ssl_reason(err));
    } else {
        res = fail(t, CORIO_ETLS, "TLS %s failed (OpenSSL error kind %d)", what, kind);
    }
    ERR_clear_error();
    t->priv_err = res;
    if (t->priv_werr == 0)
        t->priv_werr = res;
    return res;
}

/* ---- the BIO: OpenSSL's I/O as corio's await calls ------------------------------------ */

static int bio_write(BIO *b, const char *data, size_t len, size_t *written)
{
    struct corio_tls_conn *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    size_t done = 0;
    /* A plain send(2) first, as the plain HTTP path does: a record that fits the socket's
     * buffer (the usual case) leaves at once, with no trip through the ring and no park;
     * what does not fit goes through corio_send, under the task's deadline. */
    int err = 0;
    ssize_t first = send(c->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (first > 0)
        done = (size_t)first;
    else if (first < 0 && errno != EAGAIN && errno != EINTR)
        err = -errno;
    while (err == 0 && done < len) {
        ssize_t n = corio_send(c->fd, data + done, len - done, 0);
        if (n <= 0)
            err = n < 0 ? (int)n : -EIO;
        else
            done += (size_t)n;
    }
    if (err != 0)
        c->io_err = err;
    if (done > 0) { /* OpenSSL asks again for the rest, and then hears the error */
        *written = done;
        return 1;
    }
    if (resumable(c->io_err))
        BIO_set_retry_write(b);
    return 0;
}

static int bio_read(BIO *b, char *data, size_t len, size_t *readbytes)
{
    struct corio_tls_conn *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t n = corio_recv(c->fd, data, len, 0);
    if (n > 0) {
        *readbytes = (size_t)n;
        return 1;
    }
    if (n == 0) {
        c->eof = true;
        return 0;
    }
    c->io_err = (int)n;
    if (resumable(c->io_err))
        BIO_set_retry_read(b);
    return 0;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num, (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH: /* every write went out already */
        return 1;
    case BIO_CTRL_EOF: {
        struct corio_tls_conn *c = BIO_get_data(b);
        return c != NULL && c->eof;
    }
    default: /* kernel TLS (asked several times a record) and the rest: not supported */
        return 0;
    }
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static void bio_method_init(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "corio");
    if (m == NULL)
        return;
    if (!BIO_meth_set_write_ex(m, bio_write) || !BIO_meth_set_read_ex(m, bio_read) ||
        !BIO_meth_set_ctrl(m, bio_ctrl) || !BIO_meth_set_create(m, bio_create)) {
        BIO_meth_free(m);
        return;
    }
    bio_method = m;
}

/* ---- the session cache (clients) ------------------------------------------------------
 * One slot per host:port, found by hash; a collision replaces the other key's sessions.
 * Bounded by construction, O(1), and a lost session costs one full handshake. */

static uint64_t key_hash(const char *key)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3u;
    return h;
}

/* A session for key, or NULL: the newest. A TLS 1.3 ticket leaves the cache when taken
 * while another one is there (RFC 8446 appendix C.4: a client should use a ticket once,
 * and each connection usually brings new ones); the last one is kept and used again, as a
 * TLS 1.2 session is, for servers that send no new ticket on a resumed connection. */
static SSL_SESSION *cache_take(corio_tls_ctx_t *ctx, const char *key)
{
    if (ctx->nslots == 0)
        return NULL;
    struct session_slot *s = &ctx->slots[key_hash(key) % ctx->nslots];
    SSL_SESSION *sess = NULL;
    pthread_mutex_lock(&ctx->mu);
    if (s->n > 0 && strcmp(s->key, key) == 0) {
        SSL_SESSION *last = s->sess[s->n - 1];
        if (SSL_SESSION_get_protocol_version(last) >= TLS1_3_VERSION && s->n > 1) {
            sess = last; /* the slot's reference becomes ours */
            s->sess[--s->n] = NULL;
        } else {
            /* A copy: OpenSSL marks the session a connection used unresumable when the
             * connection is freed without a close_notify, which must not spoil ours. */
            sess = SSL_SESSION_dup(last);
        }
    }
    pthread_mutex_unlock(&ctx->mu);
    return sess;
}

/* Keeps sess (our reference) for key; a full slot drops its oldest, a slot of another key
 * (a hash collision) is emptied first. */
static void cache_put(corio_tls_ctx_t *ctx, const char *key, SSL_SESSION *sess)
{
    struct session_slot *s = &ctx->slots[key_hash(key) % ctx->nslots];
    SSL_SESSION *drop[SLOT_SESSIONS];
    unsigned ndrop = 0;
    pthread_mutex_lock(&ctx->mu);
    if (s->n > 0 && strcmp(s->key, key) != 0)
        while (s->n > 0)
            drop[ndrop++] = s->sess[--s->n];
    if (s->n == SLOT_SESSIONS) {
        drop[ndrop++] = s->sess[0];
        memmove(s->sess, s->sess + 1, (SLOT_SESSIONS - 1) * sizeof s->sess[0]);
        s->n--;
    }
    s->sess[s->n++] = sess;
    snprintf(s->key, sizeof s->key, "%s", key);
    pthread_mutex_unlock(&ctx->mu);
    for (unsigned i = 0; i < ndrop; i++)
        SSL_SESSION_free(drop[i]);
}

/* OpenSSL's hook for a session the server gave (a TLS 1.3 ticket arrives after the
 * handshake, during a read). The cache keeps a copy: sess is also the connection's own
 * session, which OpenSSL marks unresumable when the connection is freed without a
 * close_notify, as HTTP connections often are (since TLS 1.1 that must not stop
 * resumption: RFC 4346 section 7.2.1). Returns 0: OpenSSL keeps its reference. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    struct corio_tls_conn *c = SSL_get_app_data(ssl);
    if (c == NULL || c->ctx->nslots == 0 || !SSL_SESSION_is_resumable(sess))
        return 0;
    SSL_SESSION *copy = SSL_SESSION_dup(sess);
    if (copy != NULL)
        cache_put(c->ctx, c->key, copy);
    return 0;
}

/* ---- contexts ----------------------------------------------------------------------- */

/* "a,b" into ALPN's wire format. Returns 0, or -EINVAL for an empty name or list or one
 * that does not fit. */
static int alpn_encode(const char *list, unsigned char *out, unsigned cap, unsigned *len)
{
    unsigned n = 0;
    for (const char *p = list;;) {
        const char *end = strchr(p, ',');
        size_t l = end != NULL ? (size_t)(end - p) : strlen(p);
        if (l == 0 || l > 255 || n + 1 + l > cap)
            return -EINVAL;
        out[n++] = (unsigned char)l;
        memcpy(out + n, p, l);
        n += (unsigned)l;
        if (end == NULL)
            break;
        p = end + 1;
    }
    *len = n;
    return 0;
}

/* Server: the first of our protocols that the client offers; no ALPN if none is. */
static int on_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                          const unsigned char *in, unsigned inlen, void *arg)
{
    (void)ssl;
    corio_tls_ctx_t *ctx = arg;
    unsigned char *sel;
    if (SSL_select_next_proto(&sel, outlen, ctx->alpn, ctx->alpn_len, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* -ENOENT or -EACCES (with why) if path cannot be read, else 0. */
static int check_readable(const char *what, const char *path, char *why, size_t why_len)
{
    if (access(path, R_OK) == 0)
        return 0;
    int err = -errno;
    say(why, why_len, "%s %s: %s", what, path, corio_strerror(err));
    return err;
}

/* Loads what trust and identity cfg names into ctx. Returns 0 or an error, with why. */
static int ctx_load(corio_tls_ctx_t *ctx, const corio_tls_config_t *cfg, char *why, size_t why_len)
{
    SSL_CTX *s = ctx->ssl;
    int err;
    if (ctx->role == CORIO_TLS_SERVER) {
        const char *key = cfg->key_file != NULL ? cfg->key_file : cfg->cert_file;
        if ((err = check_readable("certificate file", cfg->cert_file, why, why_len)) < 0 ||
            (err = check_readable("key file", key, why, why_len)) < 0)
            return err;
        if (SSL_CTX_use_certificate_chain_file(s, cfg->cert_file) != 1) {
            say(why, why_len, "certificate file %s: %s", cfg->cert_file,
                ssl_reason(ERR_peek_error()));
            return CORIO_ETLS;
        }
        if (SSL_CTX_use_PrivateKey_file(s, key, SSL_FILETYPE_PEM) != 1) {
            unsigned long e = ERR_peek_error();
            if (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
                say(why, why_len, "key file %s does not match the certificate in %s", key,
                    cfg->cert_file);
            else
                say(why, why_len, "key file %s: %s", key, ssl_reason(e));
            return CORIO_ETLS;
        }
        if (SSL_CTX_check_private_key(s) != 1) {
            say(why, why_len, "key file %s does not match the certificate in %s", key,
                cfg->cert_file);
            return CORIO_ETLS;
        }
        return 0;
    }
    if (cfg->ca_file != NULL || cfg->ca_path != NULL) {
        if ((cfg->ca_file != NULL &&
             (err = check_readable("CA file", cfg->ca_file, why, why_len)) < 0) ||
            (cfg->ca_path != NULL &&
             (err = check_readable("CA directory", cfg->ca_path, why, why_len)) < 0))
            return err;
        if (SSL_CTX_load_verify_locations(s, cfg->ca_file, cfg->ca_path) != 1) {
            say(why, why_len, "CA %s %s: %s", cfg->ca_file != NULL ? "file" : "directory",
                cfg->ca_file != NULL ? cfg->ca_file : cfg->ca_path, ssl_reason(ERR_peek_error()));
            return CORIO_ETLS;
        }
    } else if ((ctx->flags & CORIO_TLS_INSECURE) == 0) {
        const char *file = getenv(X509_get_default_cert_file_env());
        const char *dir = getenv(X509_get_default_cert_dir_env());
        file = file != NULL ? file : X509_get_default_cert_file();
        dir = dir != NULL ? dir : X509_get_default_cert_dir();
        if (access(file, R_OK) != 0 && access(dir, R_OK | X_OK) != 0) {
            say(why, why_len,
                "no system trust store (neither %s nor %s is readable): install the "
                "ca-certificates package, or give a CA file",
                file, dir);
            return CORIO_ETLS;
        }
        if (SSL_CTX_set_default_verify_paths(s) != 1) {
            say(why, why_len, "the system trust store: %s", ssl_reason(ERR_peek_error()));
            return CORIO_ETLS;
        }
    }
    if (cfg->cert_file != NULL) { /* a client certificate */
        const char *key = cfg->key_file != NULL ? cfg->key_file : cfg->cert_file;
        if ((err = check_readable("certificate file", cfg->cert_file, why, why_len)) < 0 ||
            (err = check_readable("key file", key, why, why_len)) < 0)
            return err;
        if (SSL_CTX_use_certificate_chain_file(s, cfg->cert_file) != 1 ||
            SSL_CTX_use_PrivateKey_file(s, key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(s) != 1) {
            say(why, why_len, "client certificate %s / key %s: %s", cfg->cert_file, key,
                ssl_reason(ERR_peek_error()));
            return CORIO_ETLS;
        }
    }
    return 0;
}

/* Checks cfg's fields. Returns 0 or -EINVAL, with why. */
static int config_check(const corio_tls_config_t *cfg, char *why, size_t why_len)
{
    if (cfg->role != CORIO_TLS_CLIENT && cfg->role != CORIO_TLS_SERVER) {
        say(why, why_len, "unknown role %d", cfg->role);
        return -EINVAL;
    }
    if ((cfg->flags & ~(unsigned)(CORIO_TLS_INSECURE | CORIO_TLS_NO_RESUME)) != 0) {
        say(why, why_len, "unknown flags 0x%x", cfg->flags);
        return -EINVAL;
    }
    if (cfg->min_version != 0 && cfg->min_version != CORIO_TLS_1_2 &&
        cfg->min_version != CORIO_TLS_1_3) {
        say(why, why_len, "min_version 0x%x: TLS 1.2 (0x0303) is the lowest allowed",
            (unsigned)cfg->min_version);
        return -EINVAL;
    }
    if (cfg->role == CORIO_TLS_SERVER && cfg->cert_file == NULL) {
        say(why, why_len, "a server needs a certificate file");
        return -EINVAL;
    }
    return 0;
}

int corio_tls_ctx_new(corio_tls_ctx_t **out, const corio_tls_config_t *cfg, char *why,
                      size_t why_len)
{
    static const corio_tls_config_t defaults = {0};
    if (out == NULL) {
        say(why, why_len, "no place for the context");
        return -EINVAL;
    }
    *out = NULL;
    if (cfg == NULL)
        cfg = &defaults;
    int err = config_check(cfg, why, why_len);
    if (err < 0)
        return err;
    corio_tls_ctx_t *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL) {
        say(why, why_len, "out of memory");
        return -ENOMEM;
    }
    ctx->role = cfg->role;
    ctx->flags = cfg->flags;
    pthread_mutex_init(&ctx->mu, NULL);
    const char *alpn = cfg->alpn != NULL ? cfg->alpn : DEFAULT_ALPN;
    if (*alpn != '\0' && alpn_encode(alpn, ctx->alpn, sizeof ctx->alpn, &ctx->alpn_len) < 0) {
        say(why, why_len, "bad ALPN list '%s': names of 1 to 255 bytes, comma-separated", alpn);
        err = -EINVAL;
        goto out;
    }
    ERR_clear_error();
    ctx->ssl =
        SSL_CTX_new(ctx->role == CORIO_TLS_SERVER ? TLS_server_method() : TLS_client_method());
    if (ctx->ssl == NULL) {
        say(why, why_len, "cannot make an OpenSSL context: %s", ssl_reason(ERR_peek_error()));
        err = -ENOMEM;
        goto out;
    }
    SSL_CTX *s = ctx->ssl;
    SSL_CTX_set_min_proto_version(s, cfg->min_version != 0 ? cfg->min_version : TLS1_2_VERSION);
    SSL_CTX_set_options(s, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    /* Read-ahead: one receive fills OpenSSL's buffer with as many records as came, instead
     * of one receive for a record's header and another for its body. */
    SSL_CTX_set_read_ahead(s, 1);
    if ((err = ctx_load(ctx, cfg, why, why_len)) < 0)
        goto out;
    if (ctx->role == CORIO_TLS_CLIENT) {
        SSL_CTX_set_verify(s, (ctx->flags & CORIO_TLS_INSECURE) ? SSL_VERIFY_NONE : SSL_VERIFY_PEER,
                           NULL);
        if (ctx->alpn_len > 0 && SSL_CTX_set_alpn_protos(s, ctx->alpn, ctx->alpn_len) != 0) {
            say(why, why_len, "cannot set ALPN: %s", ssl_reason(ERR_peek_error()));
            err = -ENOMEM;
            goto out;
        }
        if ((ctx->flags & CORIO_TLS_NO_RESUME) == 0) {
            ctx->nslots = cfg->session_cache_size != 0 ? cfg->session_cache_size : DEFAULT_CACHE;
            ctx->slots = calloc(ctx->nslots, sizeof *ctx->slots);
            if (ctx->slots == NULL) {
                say(why, why_len, "out of memory for %u cached sessions", ctx->nslots);
                err = -ENOMEM;
                goto out;
            }
            SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_CLIENT |
                                                  SSL_SESS_CACHE_NO_INTERNAL_STORE);
            SSL_CTX_sess_set_new_cb(s, on_new_session);
        } else {
            SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
        }
    } else if (ctx->alpn_len > 0) {
        SSL_CTX_set_alpn_select_cb(s, on_alpn_select, ctx);
    }
    ERR_clear_error();
    *out = ctx;
    return 0;
out:
    ERR_clear_error();
    corio_tls_ctx_free(ctx);
    return err;
}

void corio_tls_ctx_free(corio_tls_ctx_t *ctx)
{
    if (ctx == NULL)
        return;
    for (unsigned i = 0; i < ctx->nslots; i++)
        for (unsigned j = 0; j < ctx->slots[i].n; j++)
            SSL_SESSION_free(ctx->slots[i].sess[j]);
    free(ctx->slots);
    SSL_CTX_free(ctx->ssl);
    pthread_mutex_destroy(&ctx->mu);
    free(ctx);
}

/* ---- connections -------------------------------------------------------------------- */

static void conn_free(struct corio_tls_conn *c)
{
    if (c == NULL)
        return;
    SSL_free(c->ssl); /* and its BIO */
    free(c);
}

/* A connection over fd in t (zeroed first). Returns 0 or an error, with t's sentence. */
static int conn_new(corio_tls_t *t, corio_tls_ctx_t *ctx, int fd)
{
    pthread_once(&bio_once, bio_method_init);
    struct corio_tls_conn *c = calloc(1, sizeof *c);
    if (c == NULL || bio_method == NULL) {
        free(c);
        return fail(t, -ENOMEM, "out of memory for a TLS connection");
    }
    c->ctx = ctx;
    c->fd = fd;
    ERR_clear_error();
    BIO *b = BIO_new(bio_method);
    c->ssl = b != NULL ? SSL_new(ctx->ssl) : NULL;
    if (c->ssl == NULL) {
        BIO_free(b);
        free(c);
        ERR_clear_error();
        return fail(t, -ENOMEM, "out of memory for a TLS connection");
    }
    BIO_set_data(b, c);
    SSL_set_bio(c->ssl, b, b);
    SSL_set_app_data(c->ssl, c);
    t->priv_conn = c;
    return 0;
}

/* Runs the handshake of t's connection. Returns 0 or an error; on failure the connection
 * is freed (t keeps the error). */
static int handshake(corio_tls_t *t)
{
    struct corio_tls_conn *c = t->priv_conn;
    c->io_err = 0;
    err_reset();
    int ret = SSL_do_handshake(c->ssl);
    if (ret == 1) {
        const unsigned char *p;
        unsigned len;
        SSL_get0_alpn_selected(c->ssl, &p, &len);
        if (len > 0) /* len < 256: ALPN names have a one-byte length */
            memcpy(c->alpn, p, len);
        c->alpn[len] = '\0';
        return 0;
    }
    int err = ssl_failure(t, ret, "handshake");
    t->priv_err = t->priv_werr = err;
    conn_free(c);
    t->priv_conn = NULL;
    return err;
}

static bool is_ip_literal(const char *host)
{
    unsigned char addr[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

/* The checks every I/O call makes: a connected t, a task. Returns 0 or an error. */
static int io_enter(corio_tls_t *t)
{
    if (t == NULL || (t->priv_conn == NULL && t->priv_err == 0))
        return -EINVAL;
    if (corio_current() == NULL)
        return -EPERM;
    return t->priv_err;
}

int corio_tls_connect(corio_tls_t *t, corio_tls_ctx_t *ctx, int fd, const char *host)
{
    if (t == NULL)
        return -EINVAL;
    memset(t, 0, sizeof *t);
    if (ctx == NULL || ctx->role != CORIO_TLS_CLIENT)
        return fail(t, -EINVAL, "corio_tls_connect needs a client's context");
    if (host == NULL || *host == '\0' || strlen(host) > HOST_MAX)
        return fail(t, -EINVAL, "corio_tls_connect needs a host name of 1 to 255 bytes");
    if (corio_current() == NULL)
        return fail(t, -EPERM, "corio_tls_connect works only inside a task");
    int err = conn_new(t, ctx, fd);
    if (err < 0)
        return err;
    struct corio_tls_conn *c = t->priv_conn;
    snprintf(c->host, sizeof c->host, "%s", host);
    struct sockaddr_storage peer;
    socklen_t plen = sizeof peer;
    unsigned port = 0;
    if (getpeername(fd, (struct sockaddr *)&peer, &plen) == 0)
        port = ntohs(peer.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&peer)->sin6_port
                                                : ((struct sockaddr_in *)&peer)->sin_port);
    snprintf(c->key, sizeof c->key, "%s:%u", host, port);
    SSL *ssl = c->ssl;
    SSL_set_connect_state(ssl);
    bool ip = is_ip_literal(host);
    int ok = 1;
    if (!ip)
        ok = SSL_set_tlsext_host_name(ssl, host);
    if (ok && (ctx->flags & CORIO_TLS_INSECURE) == 0) {
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host)
                : SSL_set1_host(ssl, host);
    }
    if (!ok) {
        ERR_clear_error();
        conn_free(c);
        t->priv_conn = NULL;
        return fail(t, -EINVAL, "host %s cannot be checked against a certificate", host);
    }
    SSL_SESSION *sess = cache_take(ctx, c->key);
    if (sess != NULL) {
        SSL_set_session(ssl, sess); /* takes a reference of its own */
        SSL_SESSION_free(sess);
    }
    return handshake(t);
}

int corio_tls_accept(corio_tls_t *t, corio_tls_ctx_t *ctx, int fd)
{
    if (t == NULL)
        return -EINVAL;
    memset(t, 0, sizeof *t);
    if (ctx == NULL || ctx->role != CORIO_TLS_SERVER)
        return fail(t, -EINVAL, "corio_tls_accept needs a server's context");
    if (corio_current() == NULL)
        return fail(t, -EPERM, "corio_tls_accept works only inside a task");
    int err = conn_new(t, ctx, fd);
    if (err < 0)
        return err;
    snprintf(t->priv_conn->host, sizeof t->priv_conn->host, "(client)");
    SSL_set_accept_state(t->priv_conn->ssl);
    return handshake(t);
}

ssize_t corio_tls_read(corio_tls_t *t, void *buf, size_t len)
{
    int err = io_enter(t);
    if (err < 0)
        return err;
    if (buf == NULL && len > 0)
        return -EFAULT;
    struct corio_tls_conn *c = t->priv_conn;
    if (c->peer_closed || len == 0)
        return 0;
    c->io_err = 0;
    err_reset();
    size_t n;
    int ret = SSL_read_ex(c->ssl, buf, len, &n);
    if (ret == 1)
        return (ssize_t)n;
    if (SSL_get_error(c->ssl, ret) == SSL_ERROR_ZERO_RETURN) {
        ERR_clear_error();
        c->peer_closed = true;
        return 0;
    }
    return ssl_failure(t, ret, "read");
}

ssize_t corio_tls_write(corio_tls_t *t, const void *buf, size_t len)
{
    int err = io_enter(t);
    if (err == 0)
        err = t->priv_werr;
    if (err < 0)
        return err;
    if (buf == NULL && len > 0)
        return -EFAULT;
    if (len == 0)
        return 0;
    struct corio_tls_conn *c = t->priv_conn;
    c->io_err = 0;
    err_reset();
    size_t n;
    int ret = SSL_write_ex(c->ssl, buf, len, &n);
    if (ret == 1)
        return (ssize_t)n; /* partial writes are off: all of it */
    err = ssl_failure(t, ret, "write");
    t->priv_werr = err; /* a record may have gone out in part */
    return err;
}

int corio_tls_shutdown(corio_tls_t *t)
{
    int err = io_enter(t);
    if (err == 0)
        err = t->priv_werr;
    if (err < 0)
        return err;
    struct corio_tls_conn *c = t->priv_conn;
    c->io_err = 0;
    err_reset();
    int ret = SSL_shutdown(c->ssl);
    if (ret >= 0) {
        t->priv_werr = -EPIPE; /* no data after a close_notify */
        return 0;
    }
    err = ssl_failure(t, ret, "shutdown");
    t->priv_werr = err;
    return err;
}

void corio_tls_free(corio_tls_t *t)
{
    if (t == NULL)
        return;
    conn_free(t->priv_conn);
    t->priv_conn = NULL;
}

const char *corio_tls_error(const corio_tls_t *t)
{
    return t != NULL ? t->priv_why : "";
}

const char *corio_tls_version(const corio_tls_t *t)
{
    return t != NULL && t->priv_conn != NULL ? SSL_get_version(t->priv_conn->ssl) : "";
}

const char *corio_tls_cipher(const corio_tls_t *t)
{
    const char *name =
        t != NULL && t->priv_conn != NULL ? SSL_get_cipher_name(t->priv_conn->ssl) : NULL;
    return name != NULL ? name : "";
}

const char *corio_tls_alpn(const corio_tls_t *t)
{
    return t != NULL && t->priv_conn != NULL ? t->priv_conn->alpn : "";
}

bool corio_tls_resumed(const corio_tls_t *t)
{
    return t != NULL && t->priv_conn != NULL && SSL_session_reused(t->priv_conn->ssl);
}

/* ---- streams ------------------------------------------------------------------------ */

static ssize_t transport_read(void *ctx, void *buf, size_t len)
{
    return corio_tls_read(ctx, buf, len);
}

static ssize_t transport_write(void *ctx, const void *buf, size_t len)
{
    return corio_tls_write(ctx, buf, len);
}

static const corio_stream_transport_t tls_transport = {transport_read, transport_write};

int corio_tls_stream_init(corio_stream_t *s, corio_tls_t *t, void *rbuf, size_t rcap, void *wbuf,
                          size_t wcap)
{
    if (t == NULL)
        return -EINVAL;
    return corio_stream_init_transport(s, &tls_transport, t, rbuf, rcap, wbuf, wcap);
}

/* ---- kernel TLS ---------------------------------------------------------------------- */

#ifndef TCP_ULP
#define TCP_ULP 31
#endif

/* A connected TCP socket over loopback (TCP_ULP needs an established connection), made
 * with plain blocking calls. Returns the client's fd (and *server, *listener) or -errno. */
static int loopback_pair(int *listener, int *server)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int c = l >= 0 ? socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0) : -1;
    int s = -1;
    if (c >= 0 && bind(l, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(l, 1) == 0 &&
        getsockname(l, (struct sockaddr *)&sa, &len) == 0 &&
        connect(c, (struct sockaddr *)&sa, sizeof sa) == 0)
        s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    int err = -errno;
    if (s < 0) {
        if (c >= 0)
            close(c);
        if (l >= 0)
            close(l);
        return err != 0 ? err : -EIO;
    }
    *listener = l;
    *server = s;
    return c;
}

int corio_tls_ktls_available(char *why, size_t why_len)
{
#ifdef OPENSSL_NO_KTLS
    say(why, why_len, "this OpenSSL was built without kernel TLS (OPENSSL_NO_KTLS)");
    return 0;
#else
    int l = -1, s = -1;
    int c = loopback_pair(&l, &s);
    if (c < 0) {
        say(why, why_len, "cannot make a loopback connection to probe with: %s", corio_strerror(c));
        return 0;
    }
    int ok = setsockopt(c, IPPROTO_TCP, TCP_ULP, "tls", sizeof "tls");
    int err = -errno;
    close(c);
    close(s);
    close(l);
    if (ok == 0)
        return 1;
    say(why, why_len,
        "the kernel has no TLS upper layer protocol (CONFIG_TLS; try 'modprobe tls'): "
        "setsockopt(TCP_ULP, \"tls\") failed: %s",
        corio_strerror(err));
    return 0;
#endif
}
