/* files.c: corio-httpd's document root (see files.h for the policy): opening
 * it, resolving paths under it with openat2(RESOLVE_BENEATH) or openat plus a check, and
 * the Content-Type and Location of what it serves. Depends on corio only for the
 * fallback's corio_openat. */
#define _GNU_SOURCE
#include "files.h"

#include <corio/corio.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int docroot_open(struct docroot *r, const char *dir, bool allow_openat2, char *why, size_t cap)
{
    *r = (struct docroot){.fd = -1};
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        snprintf(why, cap, "%s", err == ENOTDIR ? "not a directory" : strerror(err));
        return -err;
    }
    if (faccessat(fd, ".", R_OK | X_OK, AT_EACCESS) < 0) {
        int err = errno;
        snprintf(why, cap, "not readable: %s", strerror(err));
        close(fd);
        return -err;
    }
    if (realpath(dir, r->real) == NULL) {
        int err = errno;
        snprintf(why, cap, "%s", strerror(err));
        close(fd);
        return -err;
    }
    r->real_len = strlen(r->real);
    r->fd = fd;
    if (allow_openat2) {
        struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_DIRECTORY,
                               .resolve = RESOLVE_BENEATH};
        int probe = (int)syscall(SYS_openat2, fd, ".", &how, sizeof how);
        if (probe >= 0) {
            close(probe);
            r->use_openat2 = true;
        }
    }
    return 0;
}

void docroot_close(struct docroot *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
}

/* The fallback's check: does the opened fd's real path lie under the root? */
static bool inside_root(const struct docroot *r, int fd)
{
    char link[64], real[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, real, sizeof real);
    if (n <= 0 || (size_t)n >= sizeof real)
        return false; /* no /proc: refuse rather than guess */
    size_t len = r->real_len;
    if ((size_t)n < len || memcmp(real, r->real, len) != 0)
        return false;
    return (size_t)n == len || real[len] == '/' || (len == 1 && real[0] == '/');
}

/* Opens rel ("" for the root itself) under the root, O_NONBLOCK so that a FIFO does not
 * wait for a writer. Returns an fd or -errno; -EXDEV for a path leading out of the root. */
static int open_beneath(const struct docroot *r, const char *rel)
{
    const char *p = rel[0] != '\0' ? rel : ".";
    int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    if (r->use_openat2) {
        /* corio has no openat2 operation yet, so this one call is made on the loop
         * thread: a walk of the dentry cache, as nginx does its opens. */
        struct open_how how = {.flags = (uint64_t)flags,
                               .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
        int fd = (int)syscall(SYS_openat2, r->fd, p, &how, sizeof how);
        return fd >= 0 ? fd : -errno;
    }
    int fd = corio_openat(r->fd, p, flags, 0);
    if (fd >= 0 && !inside_root(r, fd)) {
        close(fd);
        return -EXDEV;
    }
    return fd;
}

static int status_of(int err)
{
    switch (err) {
    case -ENOENT:
    case -ENOTDIR:
        return 404;
    case -EXDEV: /* out of the root */
    case -ELOOP:
    case -EACCES:
    case -EPERM:
        return 403;
    case -ENAMETOOLONG:
        return 414;
    case -EMFILE:
    case -ENFILE:
    case -ENOMEM:
        return 503;
    default:
        return 500;
    }
}

int docroot_resolve(const struct docroot *r, char *path, size_t *plen, struct docfile *f)
{
    struct stat st;
    int fd = open_beneath(r, path);
    if (fd >= 0 && fstat(fd, &st) < 0) {
        close(fd);
        fd = -EIO;
    }
    if (fd >= 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        if (*plen > 0 && path[*plen - 1] != '/')
            return -301;
        memcpy(path + *plen, "index.html", sizeof "index.html");
        *plen += sizeof "index.html" - 1;
        fd = open_beneath(r, path);
        if (fd >= 0 && (fstat(fd, &st) < 0 || S_ISDIR(st.st_mode))) {
            close(fd);
            fd = -ENOENT; /* no index (or one that is a directory): no listing either */
        }
    }
    if (fd < 0)
        return -status_of(fd);
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return -403;
    }
    (void)fcntl(fd, F_SETFL, 0); /* io_uring would honour O_NONBLOCK on reads: -EAGAIN */
    f->size = (uint64_t)st.st_size;
    f->mtime = (int64_t)st.st_mtime;
    return fd;
}

const char *docroot_content_type(const char *path, size_t len)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {"html", "text/html; charset=utf-8"},
        {"htm", "text/html; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"},
        {"mjs", "text/javascript; charset=utf-8"},
        {"json", "application/json"},
        {"txt", "text/plain; charset=utf-8"},
        {"xml", "application/xml"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"svg", "image/svg+xml"},
        {"ico", "image/x-icon"},
        {"webp", "image/webp"},
        {"wasm", "application/wasm"},
        {"pdf", "application/pdf"},
        {"woff2", "font/woff2"},
    };
    size_t dot = len;
    while (dot > 0 && path[dot - 1] != '.' && path[dot - 1] != '/')
        dot--;
    if (dot > 0 && path[dot - 1] == '.') {
        size_t elen = len - dot;
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strlen(types[i].ext) == elen && strncasecmp(types[i].ext, path + dot, elen) == 0)
                return types[i].type;
    }
    return "application/octet-stream";
}

int docroot_location(const char *path, char *buf, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    static const char prefix[] = "/";
    if (cap < sizeof prefix + 3)
        return -1;
    memcpy(buf, prefix, sizeof prefix - 1);
    size_t n = sizeof prefix - 1;
    for (const unsigned char *p = (const unsigned char *)path; *p != '\0'; p++) {
        if (n + 3 + 2 > cap) /* room for this byte encoded, and "/" + NUL */
            return -1;
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || strchr("-._~/!$&'()*+,;=:@", *p) != NULL;
        if (plain) {
            buf[n++] = (char)*p;
        } else {
            buf[n++] = '%';
            buf[n++] = hex[*p >> 4];
            buf[n++] = hex[*p & 15];
        }
    }
    memcpy(buf + n, "/", 2);
    return 0;
}
