/* Buffered streams: a reader and a writer over one fd or a transport, for tasks, on buffers
 * the caller provides. Every wait on an fd is one of op.c's await calls
 * (corio_recv/read/send/write), so cancellation and deadlines come with them, and a
 * transport promises the same of its own waits; this file only keeps the buffers and the
 * promises of corio/stream.h about what a failed call leaves behind. */
#include "corio/stream.h"
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

int corio_stream_init(corio_stream_t *s, int fd, void *rbuf, size_t rcap, void *wbuf, size_t wcap)
{
    if (s == NULL)
        return -EINVAL;
    if ((rbuf == NULL && rcap > 0) || (wbuf == NULL && wcap > 0))
        return -EFAULT;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return -EBADF;
    *s = (corio_stream_t){
        .priv_rbuf = rbuf,
        .priv_rcap = rcap,
        .priv_wbuf = wbuf,
        .priv_wcap = wcap,
        .priv_fd = fd,
        .priv_socket = S_ISSOCK(st.st_mode),
    };
    return 0;
}

int corio_stream_init_transport(corio_stream_t *s, const corio_stream_transport_t *t, void *ctx,
                                void *rbuf, size_t rcap, void *wbuf, size_t wcap)
{
    if (s == NULL || t == NULL || t->read == NULL || t->write == NULL)
        return -EINVAL;
    if ((rbuf == NULL && rcap > 0) || (wbuf == NULL && wcap > 0))
        return -EFAULT;
    *s = (corio_stream_t){
        .priv_rbuf = rbuf,
        .priv_rcap = rcap,
        .priv_wbuf = wbuf,
        .priv_wcap = wcap,
        .priv_transport = t,
        .priv_ctx = ctx,
        .priv_fd = -1,
    };
    return 0;
}

int corio_stream_fd(const corio_stream_t *s)
{
    if (s == NULL)
        return -EINVAL;
    return s->priv_transport == NULL ? s->priv_fd : -EBADF;
}

size_t corio_stream_buffered(const corio_stream_t *s)
{
    return s != NULL ? s->priv_rlen : 0;
}

size_t corio_stream_pending(const corio_stream_t *s)
{
    return s != NULL ? s->priv_wlen : 0;
}

/* The checks every waiting call makes after its argument checks: a task that may wait,
 * then the side's poison. Returns 0 or -errno. */
static int enter(int poison)
{
    int err;
    if (corio_task_enter_await(&err) == NULL)
        return err;
    return poison;
}

/* ---- the fd or the transport ------------------------------------------------------ */

static ssize_t raw_read(corio_stream_t *s, void *buf, size_t len)
{
    if (s->priv_transport != NULL)
        return s->priv_transport->read(s->priv_ctx, buf, len);
    return s->priv_socket ? corio_recv(s->priv_fd, buf, len, 0)
                          : corio_read(s->priv_fd, buf, len, -1);
}

static ssize_t raw_write(corio_stream_t *s, const void *buf, size_t len)
{
    if (s->priv_transport != NULL)
        return s->priv_transport->write(s->priv_ctx, buf, len);
    return s->priv_socket ? corio_send(s->priv_fd, buf, len, 0)
                          : corio_write(s->priv_fd, buf, len, -1);
}

/* ---- the read buffer --------------------------------------------------------------
 * Unread bytes are rbuf[rpos, rpos + rlen). Consuming advances rpos and leaves the bytes
 * where they are, which is what keeps a read_until view valid until the next call; only
 * a fill moves them (to the front, to make room). */

static const unsigned char *rbase(const corio_stream_t *s)
{
    return s->priv_rbuf + s->priv_rpos;
}

static void consume(corio_stream_t *s, size_t n)
{
    s->priv_rpos += n;
    s->priv_rlen -= n;
    if (s->priv_rlen == 0)
        s->priv_rpos = 0;
}

/* One read of the fd into the free space of the buffer (which must have some). Returns
 * the bytes added, 0 at end of stream, or -errno; the buffered bytes are kept either way
 * (moved to the front). */
static ssize_t fill(corio_stream_t *s)
{
    if (s->priv_rpos > 0) {
        memmove(s->priv_rbuf, rbase(s), s->priv_rlen);
        s->priv_rpos = 0;
    }
    ssize_t n = raw_read(s, s->priv_rbuf + s->priv_rlen, s->priv_rcap - s->priv_rlen);
    if (n > 0)
        s->priv_rlen += (size_t)n;
    return n;
}

/* Fills until at least n (<= rcap) bytes are buffered or the stream ends. Returns the
 * bytes buffered (fewer than n only at end of stream) or -errno. */
static ssize_t want(corio_stream_t *s, size_t n)
{
    while (s->priv_rlen < n) {
        ssize_t r = fill(s);
        if (r < 0)
            return r;
        if (r == 0)
            break;
    }
    return (ssize_t)s->priv_rlen;
}

/* ---- reading --------------------------------------------------------------------- */

ssize_t corio_stream_read(corio_stream_t *s, void *buf, size_t len)
{
    if (s == NULL)
        return -EINVAL;
    if (buf == NULL && len > 0)
        return -EFAULT;
    int err = enter(s->priv_rerr);
    if (err < 0 || len == 0)
        return err;
    if (s->priv_rlen == 0) {
        if (len >= s->priv_rcap)
            return raw_read(s, buf, len); /* nothing to gain from the buffer */
        ssize_t r = fill(s);
        if (r <= 0)
            return r;
    }
    size_t n = len < s->priv_rlen ? len : s->priv_rlen;
    memcpy(buf, rbase(s), n);
    consume(s, n);
    return (ssize_t)n;
}

/* read_exactly beyond the buffer's capacity: the buffered bytes are copied but only
 * consumed once the first byte has been read from the fd into buf, so that a failure
 * before that leaves the stream as it was. */
static ssize_t read_exactly_direct(corio_stream_t *s, unsigned char *buf, size_t n)
{
    size_t have = s->priv_rlen;
    if (have > 0)
        memcpy(buf, rbase(s), have);
    size_t done = have;
    while (done < n) {
        ssize_t r = raw_read(s, buf + done, n - done);
        if (r > 0) {
            done += (size_t)r;
            continue;
        }
        if (done == have) /* nothing came from the fd: nothing consumed */
            return r == 0 ? (have == 0 ? 0 : -EPIPE) : r;
        consume(s, have);
        if (r == 0)
            return -EPIPE;
        s->priv_rerr = -EBADFD; /* part of the bytes are in buf, and the caller cannot
                                   know how many */
        return r;
    }
    consume(s, have);
    return (ssize_t)n;
}

ssize_t corio_stream_read_exactly(corio_stream_t *s, void *buf, size_t n)
{
    if (s == NULL || n > SSIZE_MAX)
        return -EINVAL;
    if (buf == NULL && n > 0)
        return -EFAULT;
    int err = enter(s->priv_rerr);
    if (err < 0 || n == 0)
        return err;
    if (n > s->priv_rcap)
        return read_exactly_direct(s, buf, n);
    ssize_t r = want(s, n);
    if (r < 0 || r == 0)
        return r;
    if ((size_t)r < n)
        return -EPIPE; /* ended part-way: the bytes stay buffered */
    memcpy(buf, rbase(s), n);
    consume(s, n);
    return (ssize_t)n;
}

ssize_t corio_stream_peek(corio_stream_t *s, size_t n, const void **view)
{
    if (s == NULL || n == 0)
        return -EINVAL;
    if (n > s->priv_rcap)
        return -EMSGSIZE;
    int err = enter(s->priv_rerr);
    if (err < 0)
        return err;
    ssize_t r = want(s, n);
    if (r >= 0 && view != NULL)
        *view = rbase(s);
    return r;
}

int corio_stream_consume(corio_stream_t *s, size_t n)
{
    if (s == NULL || n > s->priv_rlen)
        return -EINVAL;
    consume(s, n);
    return 0;
}

ssize_t corio_stream_read_until(corio_stream_t *s, const void *delim, size_t dlen,
                                const void **view)
{
    if (s == NULL || dlen == 0)
        return -EINVAL;
    if (delim == NULL)
        return -EFAULT;
    int err = enter(s->priv_rerr);
    if (err < 0)
        return err;
    /* Bytes before `from` (relative to the unread data) were searched already: a
     * delimiter can only start there if it was incomplete, so each byte is searched about
     * once however the record arrives. */
    size_t from = 0;
    for (;;) {
        const unsigned char *base = rbase(s);
        const unsigned char *hit =
            s->priv_rlen > from ? memmem(base + from, s->priv_rlen - from, delim, dlen) : NULL;
        if (hit != NULL) {
            size_t len = (size_t)(hit - base) + dlen;
            if (view != NULL)
                *view = base;
            consume(s, len);
            return (ssize_t)len;
        }
        if (s->priv_rlen == s->priv_rcap)
            return -EMSGSIZE;
        from = s->priv_rlen >= dlen ? s->priv_rlen - dlen + 1 : 0;
        ssize_t r = fill(s);
        if (r < 0)
            return r;
        if (r == 0)
            return s->priv_rlen == 0 ? 0 : -EPIPE;
    }
}

ssize_t corio_stream_readline(corio_stream_t *s, char *line, size_t max)
{
    if (s == NULL || max < 2)
        return -EINVAL;
    if (line == NULL)
        return -EFAULT;
    int err = enter(s->priv_rerr);
    if (err < 0)
        return err;
    size_t limit = max - 1 < s->priv_rcap ? max - 1 : s->priv_rcap; /* room for the NUL */
    size_t from = 0;
    for (;;) {
        const unsigned char *base = rbase(s);
        size_t span = s->priv_rlen < limit ? s->priv_rlen : limit;
        const unsigned char *nl = span > from ? memchr(base + from, '\n', span - from) : NULL;
        size_t len;
        if (nl != NULL) {
            len = (size_t)(nl - base) + 1;
        } else {
            if (s->priv_rlen >= limit)
                return -EMSGSIZE;
            from = s->priv_rlen;
            ssize_t r = fill(s);
            if (r < 0)
                return r;
            if (r > 0)
                continue;
            len = s->priv_rlen; /* the last line, without '\n' (0: nothing left) */
        }
        memcpy(line, rbase(s), len);
        line[len] = '\0';
        consume(s, len);
        return (ssize_t)len;
    }
}

ssize_t corio_stream_skip_until(corio_stream_t *s, const void *delim, size_t dlen)
{
    if (s == NULL || dlen == 0 || dlen > s->priv_rcap)
        return -EINVAL;
    if (delim == NULL)
        return -EFAULT;
    int err = enter(s->priv_rerr);
    if (err < 0)
        return err;
    size_t skipped = 0;
    for (;;) {
        const unsigned char *base = rbase(s);
        const unsigned char *hit = memmem(base, s->priv_rlen, delim, dlen);
        if (hit != NULL) {
            size_t n = (size_t)(hit - base) + dlen;
            consume(s, n);
            return (ssize_t)(skipped + n);
        }
        /* Keep the last dlen - 1 bytes: a delimiter may begin there. */
        size_t keep = s->priv_rlen < dlen - 1 ? s->priv_rlen : dlen - 1;
        skipped += s->priv_rlen - keep;
        consume(s, s->priv_rlen - keep);
        ssize_t r = fill(s);
        if (r < 0)
            return r;
        if (r == 0) {
            if (skipped == 0 && s->priv_rlen == 0)
                return 0;
            consume(s, s->priv_rlen);
            return -EPIPE;
        }
    }
}

/* ---- writing --------------------------------------------------------------------- */

/* Writes the whole write buffer. On an error the bytes not written are moved to the front
 * and stay buffered. */
static int flush_buffer(corio_stream_t *s)
{
    size_t off = 0;
    while (off < s->priv_wlen) {
        ssize_t r = raw_write(s, s->priv_wbuf + off, s->priv_wlen - off);
        if (r <= 0) {
            s->priv_wlen -= off;
            memmove(s->priv_wbuf, s->priv_wbuf + off, s->priv_wlen);
            return r == 0 ? -EIO : (int)r;
        }
        off += (size_t)r;
    }
    s->priv_wlen = 0;
    return 0;
}

/* Writes buf straight to the fd, looping over short writes; poisons the write side if it
 * fails after a prefix went out. */
static ssize_t write_direct(corio_stream_t *s, const unsigned char *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t r = raw_write(s, buf + done, len - done);
        if (r <= 0) {
            if (done > 0)
                s->priv_werr = -EBADFD;
            return r == 0 ? -EIO : r;
        }
        done += (size_t)r;
    }
    return (ssize_t)len;
}

/* Argument and state checks shared by write and write_all. */
static int write_check(corio_stream_t *s, const void *buf, size_t len)
{
    if (s == NULL || len > SSIZE_MAX)
        return -EINVAL;
    if (buf == NULL && len > 0)
        return -EFAULT;
    return enter(s->priv_werr);
}

ssize_t corio_stream_write(corio_stream_t *s, const void *buf, size_t len)
{
    int err = write_check(s, buf, len);
    if (err < 0 || len == 0)
        return err;
    if (len > s->priv_wcap - s->priv_wlen) {
        if (s->priv_wlen > 0 && (err = flush_buffer(s)) < 0)
            return err;
        if (len >= s->priv_wcap)
            return write_direct(s, buf, len);
    }
    memcpy(s->priv_wbuf + s->priv_wlen, buf, len);
    s->priv_wlen += len;
    return (ssize_t)len;
}

int corio_stream_flush(corio_stream_t *s)
{
    if (s == NULL)
        return -EINVAL;
    int err = enter(s->priv_werr);
    if (err < 0)
        return err;
    return flush_buffer(s);
}

ssize_t corio_stream_write_all(corio_stream_t *s, const void *buf, size_t len)
{
    int err = write_check(s, buf, len);
    if (err < 0)
        return err;
    if (s->priv_wlen > 0 && (err = flush_buffer(s)) < 0)
        return err;
    return write_direct(s, buf, len);
}
