/* Error names and explanations: corio_strerror for any result, corio_loop_setup_hint
 * for why io_uring could not be set up and what to do, corio_spawn_hint for the limit a
 * failed spawn ran into, and corio_panic for misuse that
 * cannot be reported as an error. */
#include "internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The codes of libcorio-http (corio/http.h: CORIO_HTTP_EMALFORMED is -4200, and on in
 * the order below), named here so that corio_strerror names every corio result while the
 * core stays free of the HTTP library. tests/test_http_errors.c checks each name against
 * its macro. */
#define HTTP_ERRORS_FIRST 4200
static const char *const http_errors[] = {
    "Malformed HTTP message",
    "Bad or conflicting HTTP message framing (Content-Length, Transfer-Encoding)",
    "Bad HTTP chunked coding",
    "HTTP request line too long",
    "HTTP header section too large",
    "HTTP version not supported",
    "HTTP transfer coding not implemented",
    "Missing, duplicated or invalid HTTP Host",
    "HTTP message truncated (the stream ended first)",
    "HTTP body too large",
    "HTTP path climbs above the root",
    "Malformed URL",
    "URL scheme is not http or https",
    "Too many HTTP redirects",
    "HTTP content encoding cannot be decoded",
    "HTTP proxy refused the tunnel (CONNECT)",
    "HTTP proxy authentication failed (407)",
};

/* The codes of corio/tls.h (CORIO_ETLS is -4110, CORIO_ETLS_VERIFY -4111), likewise;
 * tests/test_tls.c checks them. */
#define TLS_ERRORS_FIRST 4110
static const char *const tls_errors[] = {
    "TLS protocol error",
    "TLS certificate verify failed",
};

const char *corio_strerror(int err)
{
    if (err == 0)
        return "Success";
    if (err < 0)
        err = -err;
    if (err == -CORIO_ENONAME) /* corio/net.h: codes beyond the errno range */
        return "Name does not resolve (no such host)";
    if (err == -CORIO_ERESOLVE)
        return "Name resolution failed (the resolver did not answer)";
    if (err >= HTTP_ERRORS_FIRST &&
        err - HTTP_ERRORS_FIRST < (int)(sizeof http_errors / sizeof http_errors[0]))
        return http_errors[err - HTTP_ERRORS_FIRST];
    if (err >= TLS_ERRORS_FIRST &&
        err - TLS_ERRORS_FIRST < (int)(sizeof tls_errors / sizeof tls_errors[0]))
        return tls_errors[err - TLS_ERRORS_FIRST];
    const char *s = strerrordesc_np(err);
    return s != NULL ? s : "Unknown error";
}

/* 0, 1 or 2 from /proc/sys/kernel/io_uring_disabled; -1 when the kernel has no such
 * sysctl (before 6.6). */
static int io_uring_disabled_sysctl(void)
{
    FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r");
    if (f == NULL)
        return -1;
    int v = -1;
    if (fscanf(f, "%d", &v) != 1)
        v = -1;
    fclose(f);
    return v;
}

const char *corio_loop_setup_hint(int err)
{
    switch (err) {
    case 0:
        return "Success";
    case -EPERM:
        switch (io_uring_disabled_sysctl()) {
        case 2:
            return "io_uring is disabled on this machine (sysctl kernel.io_uring_disabled=2): "
                   "run 'sysctl -w kernel.io_uring_disabled=0' as root";
        case 1:
            return "io_uring is limited to one group (sysctl kernel.io_uring_disabled=1): "
                   "add this user to the group in kernel.io_uring_group, or set "
                   "kernel.io_uring_disabled=0";
        default:
            return "io_uring_setup was refused, most likely by a seccomp profile (Docker's and "
                   "containerd's default profiles block io_uring): run with a profile that "
                   "allows io_uring_setup, io_uring_enter and io_uring_register";
        }
    case -ENOSYS:
        return "this kernel has no io_uring, or a seccomp filter hides it: corio needs "
               "Linux 5.19 or later (6.1+ recommended) and a profile that allows io_uring";
    case -ENOMEM:
        return "not enough memory for the rings: on kernels before 5.12 they count against "
               "the locked-memory limit, so raise 'ulimit -l' (LimitMEMLOCK= under systemd) "
               "or lower corio_loop_opts_t.entries";
    case -EMFILE:
    case -ENFILE:
        return "out of file descriptors: raise 'ulimit -n'";
    case -EINVAL:
        return "an option is out of range: entries at most 32768, cq_entries between entries "
               "and 65536, stack_size from 16 KiB to 1 GiB, backend a CORIO_BACKEND_* value; or "
               "the environment variable CORIO_BACKEND is set to something other than "
               "'io_uring', 'epoll' or 'auto'";
    default:
        return corio_strerror(err);
    }
}

const char *corio_spawn_hint(const corio_loop_t *loop, int err)
{
    if (loop == NULL)
        loop = corio_current_loop();
    switch (err) {
    case 0:
        return "Success";
    case -ENOMEM:
        return corio_stack_limit_hint(loop != NULL && loop->stacks.limit != CORIO_STACK_LIMIT_NONE
                                          ? loop->stacks.limit
                                          : CORIO_STACK_LIMIT_MEMORY);
    case -EINVAL:
        return "corio_spawn needs a function, and a loop when called outside a task";
    case -ESHUTDOWN:
        return "the loop is being freed: it takes no new tasks";
    default:
        return corio_strerror(err);
    }
}

void corio_panic(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}
