/* corio/stream.h: a buffered reader and writer over one fd (socket, pipe or file) or over
 * a transport (TLS, or any other layer that reads and writes bytes), for tasks.
 *
 *   1. conventions
 *   2. setting up: over an fd, over a transport
 *   3. reading: read, read_exactly, peek/consume, read_until, readline, skip_until
 *   4. writing: write (buffered), flush, write_all
 *
 * Conventions
 * - No allocation, ever: the caller provides the read and write buffers at
 *   corio_stream_init and owns them, the fd and the corio_stream_t. There is nothing to
 *   free; flush before dropping a stream that has buffered writes. The stream never
 *   closes the fd.
 * - Sockets are read and written with recv/send (a send never raises SIGPIPE: a closed
 *   peer is -EPIPE); anything else (pipes, FIFOs, terminals, regular files) with
 *   read/write at the fd's current position (offset -1). Writing to a pipe whose reader
 *   has gone raises SIGPIPE, as write(2) does, unless the signal is ignored. A stream over
 *   a transport reads and writes through the transport's two functions instead, and every
 *   promise below holds for it unchanged (corio/tls.h's corio_tls_transport is one).
 * - Every call that may wait works only inside a task and returns, like the await-style
 *   calls of corio.h: -EINVAL/-EFAULT for bad arguments first, then -EPERM outside a
 *   task, -ECANCELED once the task is cancelled, -ETIMEDOUT when its deadline
 *   (corio_timeout_begin) passes. The task checks are made even when the buffer alone
 *   could answer, so a missing task or an ignored cancel shows at once. Errors of the
 *   underlying recv/read/send/write (-ECONNRESET, -EPIPE, -EBADF, ...) are returned as
 *   they come.
 * - What a failed call leaves behind is stated per call. As a rule a reading call that
 *   fails consumes nothing: the bytes received so far stay buffered, so the call can be
 *   repeated (after a timeout, say) and nothing is lost. The exceptions are transfers
 *   larger than the buffer, which go straight between the fd and the caller's memory: if
 *   one fails part-way, the bytes already moved cannot be given back, and that side of
 *   the stream is poisoned: every later call on it returns -EBADFD.
 * - One stream, one task at a time: two tasks must not read (or write) the same stream
 *   concurrently. A reading task and a writing task may share a socket stream.
 * - Regular files: reads go ahead of what was consumed (up to the buffer size), so the
 *   fd's position is not the logical read position; use separate fds for reading and
 *   writing one file.
 */
#ifndef CORIO_STREAM_H
#define CORIO_STREAM_H

#include <corio/corio.h>

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- 2. setting up ------------------------------------------------------------------ */

/* Caller-owned stream state; set up with corio_stream_init. All fields are private. */
typedef struct corio_stream {
    /* private: */
    unsigned char *priv_rbuf;
    size_t priv_rcap;
    size_t priv_rpos; /* first unread byte */
    size_t priv_rlen; /* unread bytes, at priv_rbuf + priv_rpos */
    unsigned char *priv_wbuf;
    size_t priv_wcap;
    size_t priv_wlen; /* bytes waiting to be written, at priv_wbuf */
    const struct corio_stream_transport *priv_transport; /* NULL: the fd */
    void *priv_ctx;                                      /* the transport's */
    int priv_fd;                                         /* -1 over a transport */
    int priv_rerr; /* 0, or -EBADFD once the read side is poisoned */
    int priv_werr; /* the same for the write side */
    bool priv_socket;
} corio_stream_t;

/* Sets up s over fd with a read buffer rbuf of rcap bytes and a write buffer wbuf of wcap
 * bytes, both owned by the caller and untouched by anyone else while s is in use. Either
 * buffer may be NULL with a capacity of 0: without a read buffer only corio_stream_read
 * and corio_stream_read_exactly work (everything goes straight to the caller; peek,
 * read_until and readline return -EMSGSIZE), without a write buffer every write goes
 * straight out. The read buffer bounds what read_until, readline and peek can see at
 * once: a record (line, header block) must fit in it. Makes one fstat(2) to tell a
 * socket from the rest; may be called outside a task. Returns 0, or -EINVAL for a NULL
 * s, -EFAULT for a NULL buffer with a non-zero capacity, -EBADF if fd is negative or not
 * open. */
CORIO_API int corio_stream_init(corio_stream_t *s, int fd, void *rbuf, size_t rcap, void *wbuf,
                                size_t wcap);

/* How a stream moves bytes when it is not over an fd. Both functions are called inside a
 * task, with ctx as given to corio_stream_init_transport and len > 0, and may wait (park
 * the task) like any await-style call; a cancel or deadline of the task must end a wait
 * with -ECANCELED or -ETIMEDOUT, as corio's own calls do (a transport built on them gets
 * that for free).
 *   read:  reads up to len bytes into buf; returns the count (> 0), 0 at end of stream, or
 *          -errno.
 *   write: writes up to len bytes of buf; returns the count taken (> 0; may be short), or
 *          -errno. Returning 0 is taken as -EIO.
 * The struct is the caller's (usually a static const) and must outlive every stream set
 * up with it. */
typedef struct corio_stream_transport {
    ssize_t (*read)(void *ctx, void *buf, size_t len);
    ssize_t (*write)(void *ctx, const void *buf, size_t len);
} corio_stream_transport_t;

/* Sets up s over a transport instead of an fd: every read and write of the stream goes
 * through t->read and t->write with ctx. Buffers as for corio_stream_init. No fstat, no
 * fd: corio_stream_fd returns -EBADF. Returns 0, or -EINVAL for a NULL s or t, or a t
 * without both functions, -EFAULT for a NULL buffer with a non-zero capacity. */
CORIO_API int corio_stream_init_transport(corio_stream_t *s, const corio_stream_transport_t *t,
                                          void *ctx, void *rbuf, size_t rcap, void *wbuf,
                                          size_t wcap);

/* The fd the stream was set up with (-EINVAL for NULL, -EBADF for a stream over a
 * transport). */
CORIO_API int corio_stream_fd(const corio_stream_t *s);

/* Bytes received and not yet consumed (in the read buffer). Never waits. */
CORIO_API size_t corio_stream_buffered(const corio_stream_t *s);

/* Bytes written to the stream and not yet handed to the kernel. Never waits. */
CORIO_API size_t corio_stream_pending(const corio_stream_t *s);

/* ---- 3. reading ---------------------------------------------------------------------
 * End of stream (the peer shut down or closed its side; end of file) is a return of 0
 * when nothing is buffered. A stream that ends in the middle of something asked for
 * (a record, a fixed-size read) gives -EPIPE. Reaching the end is not sticky: a later
 * call asks the fd again (a file may have grown). */

/* Inside a task: reads up to len bytes into buf: what is buffered if anything is,
 * otherwise the result of one read of the fd (made straight into buf when len is at
 * least the buffer's capacity). Returns the count (> 0), 0 at end of stream (or for len
 * 0), or -errno; a failed call consumes nothing. */
CORIO_API ssize_t corio_stream_read(corio_stream_t *s, void *buf, size_t len);

/* Inside a task: reads exactly n bytes into buf, reading as often as needed. Returns n;
 * 0 if the stream ended before its first byte (or for n 0); -EPIPE if it ended after
 * some but not all of them; or -errno.
 * - n up to the read buffer's capacity: all or nothing. On any failure nothing is
 *   consumed: the bytes received so far stay buffered (corio_stream_peek shows them
 *   after an -EPIPE) and the call can be repeated after -ETIMEDOUT.
 * - n larger than the capacity: what is buffered is copied first, the rest is read
 *   straight into buf. A failure before any byte was read from the fd into buf consumes
 *   nothing, as above. A failure after that returns the error and poisons the read side
 *   (-EBADFD from then on), except -EPIPE: the stream has ended, and the bytes already
 *   moved end with it. */
CORIO_API ssize_t corio_stream_read_exactly(corio_stream_t *s, void *buf, size_t n);

/* Inside a task: waits until at least n bytes are buffered (1 <= n <= the read buffer's
 * capacity) and points *view at the buffered bytes, without consuming them. Returns how
 * many are buffered (>= n; possibly more), fewer than n (0 when none) if the stream
 * ended first, or -errno: -EINVAL for n 0, -EMSGSIZE for n above the capacity. *view
 * (may be NULL: not wanted) stays valid until the next call on s other than
 * corio_stream_consume/buffered/pending. */
CORIO_API ssize_t corio_stream_peek(corio_stream_t *s, size_t n, const void **view);

/* Drops the first n buffered bytes (after a peek). Never waits; may be called outside a
 * task. Returns 0, or -EINVAL if fewer than n bytes are buffered. */
CORIO_API int corio_stream_consume(corio_stream_t *s, size_t n);

/* Inside a task: reads until the dlen-byte sequence delim has been received and consumes
 * everything through it. Returns the record's length including the delimiter and points
 * *view (may be NULL: not wanted) at it, inside the read buffer, valid until the next call
 * on s. A delimiter split over several receives is found. Errors consume nothing:
 *   0          the stream ended with nothing buffered
 *   -EPIPE     the stream ended in the middle of a record (the partial record stays
 *              buffered)
 *   -EMSGSIZE  the read buffer is full and holds no delimiter: the record is longer than
 *              the buffer. The stream stays usable: skip the record with
 *              corio_stream_skip_until, or consume what is buffered.
 *   -EINVAL for dlen 0, -EFAULT for a NULL delim, or another -errno. */
CORIO_API ssize_t corio_stream_read_until(corio_stream_t *s, const void *delim, size_t dlen,
                                          const void **view);

/* Inside a task: reads one line through '\n' and copies it, with the '\n' and a
 * terminating NUL, into line (max bytes of storage). Returns the line's length including
 * the '\n' and excluding the NUL. At end of stream, a last line without '\n' is returned
 * as it is (as fgets does), then 0 with line empty. Errors consume nothing:
 *   -EMSGSIZE  the line (with its '\n' and the NUL) does not fit in max bytes, or is
 *              longer than the read buffer. The stream stays usable: skip the line with
 *              corio_stream_skip_until(s, "\n", 1) and read the next one.
 *   -EINVAL for max below 2, -EFAULT for a NULL line, or another -errno. */
CORIO_API ssize_t corio_stream_readline(corio_stream_t *s, char *line, size_t max);

/* Inside a task: discards everything up to and including the next delim, however long
 * (the way past an over-long record). Returns the number of bytes discarded, 0 if the
 * stream ended with nothing buffered, -EPIPE if it ended before a delimiter (everything
 * buffered is discarded), -EINVAL for dlen 0 or dlen above the read buffer's capacity,
 * -EFAULT for a NULL delim, or another -errno (bytes discarded so far stay
 * discarded). */
CORIO_API ssize_t corio_stream_skip_until(corio_stream_t *s, const void *delim, size_t dlen);

/* ---- 4. writing --------------------------------------------------------------------- */

/* Inside a task: buffered write. Copies buf into the write buffer if it fits; otherwise
 * flushes the buffer first, then buffers buf if it is smaller than the buffer or writes
 * it straight out (as corio_stream_write_all). Returns len, or -errno. An error while
 * flushing the old contents takes nothing from buf (retry, or flush). An error while
 * writing buf straight out poisons the write side (-EBADFD from then on) if part of it
 * had been written. Data is only handed to the kernel by a flush, a write that does not
 * fit, or corio_stream_write_all. */
CORIO_API ssize_t corio_stream_write(corio_stream_t *s, const void *buf, size_t len);

/* Inside a task: hands every buffered byte to the kernel, looping over short writes.
 * Returns 0, or -errno; on an error the bytes not written stay buffered, in order, for
 * the next flush. */
CORIO_API int corio_stream_flush(corio_stream_t *s);

/* Inside a task: flushes the buffer, then writes all len bytes of buf straight to the fd,
 * looping over short writes (a send on a socket whose peer reads slowly takes part of
 * the data at a time). Returns len once every byte was handed to the kernel, or -errno.
 * A failure of the flush takes nothing from buf; a failure after part of buf was written
 * poisons the write side (-EBADFD from then on): the peer has seen a prefix of buf and the
 * stream cannot tell which. A write that reports 0 bytes gives -EIO. */
CORIO_API ssize_t corio_stream_write_all(corio_stream_t *s, const void *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
