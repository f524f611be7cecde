/* files.h: corio-httpd's document root: opening it, resolving request paths to
 * files under it without letting them escape (see the policy below), and what the
 * responses need to know about a file (its Content-Type, a redirect's Location).
 *
 * Policy
 * - Paths arrive decoded and with their dot segments resolved (corio_http_path_normalize), so
 *   ".." can no longer climb out; what is left to guard against is symbolic links.
 * - Symlinks are followed only while they stay under the root. With openat2(2) (Linux
 *   5.6) the kernel enforces it during the walk: RESOLVE_BENEATH refuses ".." above the
 *   root and absolute symlinks, RESOLVE_NO_MAGICLINKS the /proc links. Without openat2,
 *   the file is opened with openat and its /proc/self/fd link is compared with the
 *   root's real path; no /proc means every file is refused.
 * - Only regular files are served: a FIFO, socket or device is 403 (and opening one
 *   never blocks: O_NONBLOCK until it is known to be a regular file).
 * - A directory is served by its index.html; without one it is 404 (no listings). */
#ifndef CORIO_HTTPD_FILES_H
#define CORIO_HTTPD_FILES_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a path buffer given to docroot_resolve needs beyond the path: "index.html". */
#define DOCROOT_INDEX_EXTRA 11

struct docroot {
    int fd;              /* the root directory; -1 when there is none */
    bool use_openat2;    /* else openat + the /proc/self/fd check */
    char real[PATH_MAX]; /* the root's real path, for that check */
    size_t real_len;
};

/* Opens dir as the root; allow_openat2 false forces the fallback (for tests). Returns 0,
 * or -errno with a sentence in why (not a directory, not readable, ...). */
int docroot_open(struct docroot *r, const char *dir, bool allow_openat2, char *why, size_t cap);

/* Closes the root's fd. */
void docroot_close(struct docroot *r);

/* What a response needs to know of a file. */
struct docfile {
    uint64_t size;
    int64_t mtime; /* seconds since the epoch */
};

/* Inside a task: resolves path (decoded and relative, NUL-terminated, "" for the root
 * itself, in a buffer with DOCROOT_INDEX_EXTRA bytes to spare) to an open regular file:
 * returns its fd (close-on-exec, blocking) and fills *f; for a directory named with its
 * trailing '/', path and *plen are extended with "index.html" first. Or returns minus the
 * status to answer: -301 (a directory named without its '/': redirect to path + "/"),
 * -403 (outside the root, not a regular file, no permission), -404, -414, -503 (out of
 * file descriptors: the client may retry), -500. */
int docroot_resolve(const struct docroot *r, char *path, size_t *plen, struct docfile *f);

/* The Content-Type for path, by its extension (case-insensitive); application/octet-stream
 * for the rest. */
const char *docroot_content_type(const char *path, size_t len);

/* Writes "/PATH/" (path percent-encoded where needed), a redirect's Location, into buf.
 * Returns 0, or -1 when it does not fit in cap bytes. */
int docroot_location(const char *path, char *buf, size_t cap);

#endif
