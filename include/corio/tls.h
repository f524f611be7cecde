/* corio/tls.h: TLS for tasks, on OpenSSL 3. Part of libcorio-http (pkg-config corio-http,
 * CMake corio::http), not of libcorio: the core depends on liburing alone.
 *
 *   1. conventions and errors
 *   2. contexts: what a client trusts, what a server presents
 *   3. connections: connect, accept, read, write, shutdown, free
 *   4. streams over TLS
 *   5. kernel TLS
 *
 * Conventions
 * - Secure by default. A client verifies the server's certificate chain against the system
 *   trust store (or the CA file it is given) and the certificate's name against the host it
 *   asked for; the only way around it is the explicit CORIO_TLS_INSECURE flag. SNI is sent
 *   for names (not for IP addresses, RFC 6066), ALPN offers "http/1.1", TLS 1.2 is the
 *   minimum, and a client resumes sessions (tickets are kept per host and port in its
 *   context).
 * - Every byte goes through corio's own corio_recv and corio_send on the connection's fd:
 *   a handshake, a read or a write parks the task like any await-style call, the loop never
 *   blocks, and the task's cancel (-ECANCELED) and deadline (corio_timeout_begin:
 *   -ETIMEDOUT) end them as they end plain calls. The fd must be a connected stream socket
 *   in blocking mode (corio_dial and corio_accept give such fds); it stays the caller's: TLS
 *   never closes it.
 * - Calls that move bytes work only inside a task (-EPERM outside). Results are >= 0 or a
 *   negative code: an errno of the socket (-ECONNRESET, -EPIPE, ...), -ECANCELED,
 *   -ETIMEDOUT, or one of the two TLS codes below; corio_strerror() names every one, and
 *   corio_tls_error() says in a sentence what failed on a connection.
 * - A context may be shared by any number of connections and threads. A connection
 *   (corio_tls_t) belongs to one task at a time: unlike a plain socket's stream, one task
 *   must not read while another writes, since a read may have to write (a TLS 1.3 key
 *   update) and both share OpenSSL's state.
 */
#ifndef CORIO_TLS_H
#define CORIO_TLS_H

#include <corio/corio.h>

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef CORIO_HTTP_API
#if defined(CORIO_HTTP_BUILDING)
#define CORIO_HTTP_API __attribute__((visibility("default")))
#else
#define CORIO_HTTP_API
#endif
#endif

/* ---- 1. errors ----------------------------------------------------------------------
 * Beyond the errno range, like corio/net.h's resolution codes. */

/* The TLS protocol failed: no protocol version or cipher in common, an alert from the
 * peer, a record that is not TLS (a plain-HTTP peer, garbage), a bad key or certificate
 * of our own. corio_tls_error() has OpenSSL's reason. */
#define CORIO_ETLS (-4110)
/* The peer's certificate could not be verified: an untrusted or self-signed chain, an
 * expired certificate, a name that does not match the host asked for. corio_tls_error()
 * says which and for which host. */
#define CORIO_ETLS_VERIFY (-4111)

/* ---- 2. contexts ------------------------------------------------------------------- */

typedef struct corio_tls_ctx corio_tls_ctx_t; /* opaque */

enum {
    CORIO_TLS_CLIENT = 0,
    CORIO_TLS_SERVER = 1,
};

enum {
    /* Client: do not verify the server's certificate or name. Anyone on the path can then
     * read and change the traffic; for tests and for hosts you reach no other way. Say so
     * to your user when you set it (corio-fetch -k prints a warning). */
    CORIO_TLS_INSECURE = 1u << 0,
    /* Client: no session resumption (every connection makes a full handshake). */
    CORIO_TLS_NO_RESUME = 1u << 1,
};

/* TLS protocol versions for corio_tls_config_t.min_version. */
#define CORIO_TLS_1_2 0x0303
#define CORIO_TLS_1_3 0x0304

/* Zero means "default" for every field. Strings are copied or read by corio_tls_ctx_new:
 * they need only live for the call. */
typedef struct corio_tls_config {
    int role;              /* CORIO_TLS_CLIENT (default) or CORIO_TLS_SERVER */
    unsigned flags;        /* CORIO_TLS_* */
    const char *ca_file;   /* client: a PEM file of CA certificates to trust instead of the
                            * system store */
    const char *ca_path;   /* client: a directory of hashed CA certificates (c_rehash) to
                            * trust instead of the system store */
    const char *cert_file; /* server: its certificate chain, PEM, leaf first (required) */
    const char *key_file;  /* server: the private key of cert_file, PEM (default cert_file) */
    const char *alpn;      /* protocols offered (client) or accepted (server), comma-separated;
                            * NULL: "http/1.1"; "": no ALPN */
    int min_version;       /* CORIO_TLS_1_2 (default) or CORIO_TLS_1_3 */
    unsigned session_cache_size; /* client: hosts whose session is kept (default 1024) */
} corio_tls_config_t;

/* Makes a context from cfg (NULL: a client with every default). A client loads the system
 * trust store here (or ca_file/ca_path), a server its certificate and key, so that
 * connections cost no file access. Needs no task. Returns 0 and sets *out, or:
 *   -EINVAL     a bad field (unknown role or flag, min_version below TLS 1.2, a server
 *               without cert_file, an ALPN list that is empty or has a protocol longer
 *               than 255 bytes)
 *   -ENOENT     a file or directory named in cfg does not exist (-EACCES: not readable)
 *   CORIO_ETLS  a file that is not what it should be (not PEM, a key that does not match
 *               the certificate), or an empty or unreadable system trust store
 *   -ENOMEM
 * On failure, why (why_len bytes, may be NULL) gets a sentence naming the file and the
 * problem. */
CORIO_HTTP_API int corio_tls_ctx_new(corio_tls_ctx_t **out, const corio_tls_config_t *cfg,
                                     char *why, size_t why_len);

/* Frees ctx and the sessions it keeps. Connections made with it must be freed first.
 * NULL is ignored. */
CORIO_HTTP_API void corio_tls_ctx_free(corio_tls_ctx_t *ctx);

/* ---- 3. connections ---------------------------------------------------------------- */

struct corio_tls_conn; /* private */

/* One TLS connection: caller-owned (a task's local variable is fine) and movable; all
 * fields are private. Set up by corio_tls_connect or corio_tls_accept; after either,
 * successful or not, release it with corio_tls_free. */
typedef struct corio_tls {
    /* private: */
    struct corio_tls_conn *priv_conn; /* the OpenSSL state, while the connection is open */
    int priv_err;                     /* 0, or the error that ended the connection */
    int priv_werr;                    /* 0, or why the write side is unusable */
    char priv_why[256];               /* corio_tls_error's sentence */
} corio_tls_t;

/* Inside a task: the client side of a handshake over fd, for host: the name (or numeric
 * address) the server's certificate must carry, sent as SNI when it is a name. The
 * context must be a client's; the session kept for host and the fd's peer port is offered
 * for resumption. Returns 0 (the connection is ready), or:
 *   -EINVAL            NULL t or ctx, a server's context, a NULL or empty host (a host is
 *                      needed even with CORIO_TLS_INSECURE: it is the session's key), or
 *                      a host longer than 255 bytes
 *   -EPERM             outside a task
 *   CORIO_ETLS_VERIFY  the certificate was refused (corio_tls_error: "certificate verify
 *                      failed: certificate has expired for host example.com")
 *   CORIO_ETLS         the handshake failed (no version in common, an alert, not TLS)
 *   -ECONNRESET, -EPIPE (the peer closed during the handshake), another socket errno,
 *   -ECANCELED, -ETIMEDOUT, -ENOMEM
 * On failure t holds only the error: the connection cannot be used, and corio_tls_free
 * has nothing left to free but must still be called, as after success. */
CORIO_HTTP_API int corio_tls_connect(corio_tls_t *t, corio_tls_ctx_t *ctx, int fd,
                                     const char *host);

/* Inside a task: the server side of a handshake over fd (an accepted socket). Returns as
 * corio_tls_connect (CORIO_ETLS also for a client that speaks plain HTTP or garbage;
 * -EINVAL for a client's context). */
CORIO_HTTP_API int corio_tls_accept(corio_tls_t *t, corio_tls_ctx_t *ctx, int fd);

/* Inside a task: reads up to len bytes of application data into buf. Returns the count
 * (> 0), 0 once the peer has closed its side with a TLS close_notify (again on every later
 * call), or:
 *   -EPIPE        the peer closed the connection without a close_notify: the data may
 *                 have been cut short by someone on the path (a message framed by its own
 *                 length that arrived whole is not affected)
 *   -ETIMEDOUT, -ECANCELED: nothing is lost; the read can be made again
 *   CORIO_ETLS, a socket errno: the connection is over (the same error on every later
 *   call)
 *   -EINVAL (NULL t, or t not connected), -EFAULT (NULL buf with len > 0), -EPERM */
CORIO_HTTP_API ssize_t corio_tls_read(corio_tls_t *t, void *buf, size_t len);

/* Inside a task: writes all len bytes of buf as application data (records of up to 16 KiB
 * each, every one handed to corio_send). Returns len, or an error; after an error the
 * write side is unusable (a record may have gone out in part): corio_tls_write and
 * corio_tls_shutdown return it again, while reads go on. -EINVAL, -EFAULT, -EPERM as for
 * corio_tls_read. */
CORIO_HTTP_API ssize_t corio_tls_write(corio_tls_t *t, const void *buf, size_t len);

/* Inside a task: sends a close_notify (the peer's read then returns 0). Does not wait for
 * the peer's own close_notify; no data may be written afterwards (reads may go on).
 * Returns 0, or an error as corio_tls_write. */
CORIO_HTTP_API int corio_tls_shutdown(corio_tls_t *t);

/* Releases what t holds; the fd is left open. Harmless on a connection that failed or was
 * already freed, and on a zeroed corio_tls_t. No task needed. */
CORIO_HTTP_API void corio_tls_free(corio_tls_t *t);

/* Why the last failed call on t failed, in a sentence ("certificate verify failed:
 * hostname mismatch for host localhost"), or "" when nothing failed. Valid until the next
 * call on t. */
CORIO_HTTP_API const char *corio_tls_error(const corio_tls_t *t);

/* About a connected t (NULL or "" / false when not connected): the protocol version
 * ("TLSv1.3"), the cipher suite, the protocol ALPN selected ("" when none), and whether
 * the session was resumed (an abbreviated handshake). */
CORIO_HTTP_API const char *corio_tls_version(const corio_tls_t *t);
CORIO_HTTP_API const char *corio_tls_cipher(const corio_tls_t *t);
CORIO_HTTP_API const char *corio_tls_alpn(const corio_tls_t *t);
CORIO_HTTP_API bool corio_tls_resumed(const corio_tls_t *t);

/* ---- 4. streams over TLS ------------------------------------------------------------ */

/* Sets up s (corio/stream.h) to read and write through t: readline, read_exactly,
 * write_all and the rest work over TLS unchanged, with the promises stream.h makes. t
 * must stay where it is and connected while s is used. Returns as
 * corio_stream_init_transport (-EINVAL also for a NULL t). */
CORIO_HTTP_API int corio_tls_stream_init(corio_stream_t *s, corio_tls_t *t, void *rbuf, size_t rcap,
                                         void *wbuf, size_t wcap);

/* ---- 5. kernel TLS ------------------------------------------------------------------
 * With kernel TLS the kernel encrypts records itself, so sendfile and splice could carry
 * TLS. corio does not use it yet; this says whether the machine could. */

/* Probes whether this OpenSSL build and this kernel both support kernel TLS. Returns 1,
 * or 0 with why (why_len bytes) naming what is missing ("the kernel has no TLS upper
 * layer protocol (CONFIG_TLS): setsockopt(TCP_ULP, "tls") failed: No such file or
 * directory"). Needs no task. */
CORIO_HTTP_API int corio_tls_ktls_available(char *why, size_t why_len);

#ifdef __cplusplus
}
#endif

#endif
