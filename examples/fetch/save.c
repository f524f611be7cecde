/* corio-fetch -o DIR: each response body goes to a file in DIR named after its URL
 * (corio_http_url_filename: never a path, never hidden, bounded), with ".1", ".2", ...
 * for names already taken. O_EXCL|O_NOFOLLOW and openat on DIR's fd: an existing file or
 * symlink is never written through, and nothing lands outside DIR. */
#include "fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

/* Creates the file for w's target. Returns 0 or -errno. */
static int save_open(struct worker *w)
{
    struct target *t = w->save_target;
    corio_http_url_t u;
    char base[CORIO_HTTP_MAX_FILENAME + 1];
    if (corio_http_url_parse(t->text, &u) < 0)
        return -EINVAL;
    corio_http_url_filename(&u, base, sizeof base);
    for (int tries = 0; tries < 100000; tries++) {
        unsigned k = t->saves++;
        if (k == 0)
            snprintf(w->save_name, sizeof w->save_name, "%s", base);
        else
            snprintf(w->save_name, sizeof w->save_name, "%s.%u", base, k);
        int fd = corio_openat(w->f->dirfd, w->save_name,
                              O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd >= 0) {
            w->save_fd = fd;
            return 0;
        }
        if (fd != -EEXIST)
            return fd;
    }
    return -EEXIST;
}

int save_sink(void *arg, const void *data, size_t len)
{
    struct worker *w = arg;
    if (w->save_fd < 0) {
        int rc = save_open(w);
        if (rc < 0)
            return w->save_err = rc;
    }
    int rc = corio_http_sink_fd(&w->save_fd, data, len);
    if (rc < 0)
        w->save_err = rc;
    return rc;
}

int save_end(struct worker *w, bool keep)
{
    int rc = 0;
    if (keep && w->save_fd < 0 && (rc = save_open(w)) < 0) /* an empty body: an empty file */
        return w->save_err = rc;
    if (w->save_fd < 0)
        return 0;
    close(w->save_fd);
    w->save_fd = -1;
    if (!keep)
        unlinkat(w->f->dirfd, w->save_name, 0);
    return 0;
}
