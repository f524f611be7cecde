/* Operations, one small describe function each, shared by both modes: the _cb form
 * starts the described op with the caller's callback; the await form queues it with its
 * task as the completion's addressee and parks (nop, read, write, recv and send with no
 * op at all, their SQE written inline on io_uring). Also the delivery of the completions
 * the backend reaped, to ops' callbacks and parked tasks. The kernel side is the
 * backend's (backend.h). */
#include "backend.h"
#include "handover.h"
#include "internal.h"
#include "ring_sqe.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>

#ifdef CORIO_HAVE_VALGRIND
#include <valgrind/memcheck.h>
#endif

/* read(2)'s MAX_RW_COUNT: longer transfers are clamped, as the kernel would. */
#define MAX_RW 0x7ffff000u
/* The kernel's UIO_MAXIOV. */
#define MAX_IOV 1024

/* ---- start and complete ---------------------------------------------------------- */

int corio_op_start(corio_loop_t *loop, corio_op_t *op, corio_cb_t cb)
{
    if (loop->closing)
        return -ESHUTDOWN;
    op->priv_cb = cb;
    op->priv_loop = loop;
    op->flags = 0;
    int err = corio_backend_queue(loop, op, (uint64_t)(uintptr_t)op);
    if (err < 0)
        return err;
    loop->sq_dirty = true;
    op->priv_state = CORIO_OP_INFLIGHT;
    if (!(op->priv_bits & CORIO_OPB_INTERNAL))
        loop->inflight++;
    if (op->priv_bits & CORIO_OPB_BUFRING)
        ((struct corio_bufring *)op->priv_addr2)->users++;
    return 0;
}

#ifdef CORIO_HAVE_VALGRIND
static void mark_iov_defined(const struct iovec *iov, size_t iovcnt, size_t bytes)
{
    for (size_t i = 0; i < iovcnt && bytes > 0; i++) {
        size_t n = iov[i].iov_len < bytes ? iov[i].iov_len : bytes;
        VALGRIND_MAKE_MEM_DEFINED(iov[i].iov_base, n);
        bytes -= n;
    }
}

/* Whether this process runs under valgrind: asked once, as the client request is a
 * serial chain of rotates that every completion would otherwise pay for. Atomic because
 * loops on several threads may ask first at once (a relaxed load is a plain load). */
static _Atomic int under_valgrind = -1;

static bool running_on_valgrind(void)
{
    int known = atomic_load_explicit(&under_valgrind, memory_order_relaxed);
    if (known < 0) {
        known = RUNNING_ON_VALGRIND ? 1 : 0;
        atomic_store_explicit(&under_valgrind, known, memory_order_relaxed);
    }
    return known;
}

/* The kernel fills buffers through io_uring without a syscall memcheck could see, so
 * under valgrind a program would be told it reads uninitialised data: say what the
 * completion wrote. */
static __attribute__((noinline)) void mark_kernel_writes_slow(const corio_op_t *op, int res)
{
    if (res < 0 || !running_on_valgrind())
        return;
    switch ((enum corio_op_kind)op->priv_kind) {
    case CORIO_OP_READ:
    case CORIO_OP_RECV:
        VALGRIND_MAKE_MEM_DEFINED(op->priv_addr, (size_t)res);
        break;
    case CORIO_OP_RECV_BUF:
    case CORIO_OP_RECV_MULTI:
        if (corio_op_buffer(op) != NULL)
            VALGRIND_MAKE_MEM_DEFINED(corio_op_buffer(op), (size_t)res);
        break;
    case CORIO_OP_READV:
        mark_iov_defined(op->priv_addr, op->priv_len, (size_t)res);
        break;
    case CORIO_OP_RECVMSG: {
        const struct msghdr *m = op->priv_addr;
        mark_iov_defined(m->msg_iov, m->msg_iovlen, (size_t)res);
        if (m->msg_name != NULL)
            VALGRIND_MAKE_MEM_DEFINED(m->msg_name, m->msg_namelen);
        if (m->msg_control != NULL)
            VALGRIND_MAKE_MEM_DEFINED(m->msg_control, m->msg_controllen);
        break;
    }
    case CORIO_OP_STATX:
        VALGRIND_MAKE_MEM_DEFINED(op->priv_addr2, sizeof(struct statx));
        break;
    case CORIO_OP_ACCEPT:
        if (op->priv_addr2 != NULL) {
            VALGRIND_MAKE_MEM_DEFINED(op->priv_addr2, sizeof(socklen_t));
            VALGRIND_MAKE_MEM_DEFINED(op->priv_addr, *(socklen_t *)op->priv_addr2);
        }
        break;
    default:
        break;
    }
}
/* Outside valgrind, one load and a branch per completion. */
static inline void mark_kernel_writes(const corio_op_t *op, int res)
{
    if (__builtin_expect(atomic_load_explicit(&under_valgrind, memory_order_relaxed) != 0, 0))
        mark_kernel_writes_slow(op, res);
}

/* The same for a read or recv of res bytes into buf that had no op. */
static __attribute__((noinline)) void mark_buf_written_slow(const void *buf, int res)
{
    if (res > 0 && running_on_valgrind())
        VALGRIND_MAKE_MEM_DEFINED(buf, (size_t)res);
}
static inline void mark_buf_written(const void *buf, int res)
{
    if (__builtin_expect(atomic_load_explicit(&under_valgrind, memory_order_relaxed) != 0, 0))
        mark_buf_written_slow(buf, res);
}
#else
#define mark_kernel_writes(op, res) ((void)0)
#define mark_buf_written(buf, res)  ((void)0)
#endif

/* The less common parts of a completion: multishot and buffer-ring bookkeeping, and the
 * results that need translating. */
static int complete_slow(corio_loop_t *loop, corio_op_t *op, int res, unsigned flags)
{
    if (!(flags & CORIO_CQE_F_MORE)) {
        op->priv_state = CORIO_OP_IDLE;
        if (!(op->priv_bits & CORIO_OPB_INTERNAL))
            loop->inflight--;
        if (op->priv_bits & CORIO_OPB_BUFRING)
            ((struct corio_bufring *)op->priv_addr2)->users--;
    }
    if (flags & CORIO_CQE_F_BUFFER && op->priv_bits & CORIO_OPB_BUFRING)
        corio_bufring_mark_held(op->priv_addr2, flags >> CORIO_CQE_BUFFER_SHIFT);
    if (op->priv_kind == CORIO_OP_TIMEOUT && res == -ETIME)
        res = 0;
    return res;
}

/* One completion for its op; inlined into the batch loop below. */
static inline void op_complete(corio_loop_t *loop, corio_op_t *op, int res, unsigned flags)
{
    if (op->priv_state != CORIO_OP_INFLIGHT)
        corio_panic("completion for an op that is not in flight (op %p reused or freed "
                    "before its callback ran?)",
                    (void *)op);
    op->flags = flags;
    /* The common case, a plain one-shot op that succeeded, takes one test. */
    if (__builtin_expect(res >= 0 && (flags | op->priv_bits) == 0, 1)) {
        op->priv_state = CORIO_OP_IDLE;
        loop->inflight--;
    } else {
        res = complete_slow(loop, op, res, flags);
    }
    mark_kernel_writes(op, res);
    op->priv_cb(op, res);
}

/* Wakes the tasks of the run of await completions starting at cqes[i], up to an op's
 * completion or n, and returns where the run ends. */
static unsigned wake_tasks(corio_loop_t *loop, const struct corio_cqe *cqes, unsigned i, unsigned n)
{
    struct corio_runq ready = loop->ready;
    unsigned first = i;
    for (; i < n && (cqes[i].user_data & CORIO_UD_TASK); i++)
        corio_wake_task_into(&ready, cqes[i].user_data, cqes[i].res);
    loop->ready = ready;
    loop->inflight -= i - first;
    return i;
}

void corio_op_deliver(corio_loop_t *loop, const struct corio_cqe *cqes, unsigned n)
{
    unsigned i = 0;
    while (i < n) {
        uint64_t ud = cqes[i].user_data;
        if (ud & CORIO_UD_TASK) {
            i = wake_tasks(loop, cqes, i, n);
            continue;
        }
        if (ud >= CORIO_UD_MIN_OP) {
            if (__builtin_expect(ud & CORIO_UD_DOORBELL_SENT, 0))
                corio_loop_doorbell_failed(
                    (corio_loop_t *)(uintptr_t)(ud & ~CORIO_UD_DOORBELL_SENT));
            else
                op_complete(loop, (corio_op_t *)(uintptr_t)ud, cqes[i].res, cqes[i].flags);
        } else if (ud == CORIO_UD_DOORBELL) {
            corio_loop_take_posted(loop);
        }
        /* else a cancel request: nothing to deliver */
        i++;
    }
}

int corio_op_cancel(corio_loop_t *loop, corio_op_t *op)
{
    if (loop == NULL || op == NULL)
        return -EINVAL;
    if (op->priv_state != CORIO_OP_INFLIGHT)
        return -ENOENT;
    loop->sq_dirty = true;
    return corio_backend_queue_cancel(loop, (uint64_t)(uintptr_t)op);
}

/* ---- describing ------------------------------------------------------------------ */

static void describe(corio_op_t *op, enum corio_op_kind kind, int fd)
{
    op->priv_kind = (uint8_t)kind;
    op->priv_fd = fd;
    op->priv_addr = NULL;
    op->priv_addr2 = NULL;
    op->priv_off = 0;
    op->priv_len = 0;
    op->priv_op_flags = 0;
    op->priv_bits = 0;
}

static uint32_t clamp_len(size_t len)
{
    return len > MAX_RW ? MAX_RW : (uint32_t)len;
}

/* The argument check of every call that takes a buffer. */
static int check_buf(int fd, const void *buf, size_t len)
{
    if (fd < 0)
        return -EBADF;
    if (buf == NULL && len > 0)
        return -EFAULT;
    return 0;
}

static int describe_buf(corio_op_t *op, enum corio_op_kind kind, int fd, const void *buf,
                        size_t len, uint64_t off, unsigned flags)
{
    int err = check_buf(fd, buf, len);
    if (err < 0)
        return err;
    describe(op, kind, fd);
    op->priv_addr = (void *)buf;
    op->priv_len = clamp_len(len);
    op->priv_off = off;
    op->priv_op_flags = flags;
    return 0;
}

static int describe_iov(corio_op_t *op, enum corio_op_kind kind, int fd, const struct iovec *iov,
                        int iovcnt, int64_t off)
{
    if (fd < 0)
        return -EBADF;
    if (iovcnt < 0 || iovcnt > MAX_IOV)
        return -EINVAL;
    if (iov == NULL && iovcnt > 0)
        return -EFAULT;
    describe(op, kind, fd);
    op->priv_addr = (void *)iov;
    op->priv_len = (uint32_t)iovcnt;
    op->priv_off = (uint64_t)off;
    return 0;
}

static int describe_msg(corio_op_t *op, enum corio_op_kind kind, int fd, const struct msghdr *msg,
                        unsigned flags)
{
    if (fd < 0)
        return -EBADF;
    if (msg == NULL)
        return -EFAULT;
    describe(op, kind, fd);
    op->priv_addr = (void *)msg;
    op->priv_op_flags = flags;
    return 0;
}

static int describe_path(corio_op_t *op, enum corio_op_kind kind, int dirfd, const char *path)
{
    if (path == NULL)
        return -EFAULT;
    describe(op, kind, dirfd);
    op->priv_addr = (void *)path;
    return 0;
}

static int describe_fd(corio_op_t *op, enum corio_op_kind kind, int fd)
{
    if (fd < 0)
        return -EBADF;
    describe(op, kind, fd);
    return 0;
}

static int d_nop(corio_op_t *op)
{
    describe(op, CORIO_OP_NOP, -1);
    return 0;
}

static int d_read(corio_op_t *op, int fd, void *buf, size_t len, int64_t off)
{
    return describe_buf(op, CORIO_OP_READ, fd, buf, len, (uint64_t)off, 0);
}

static int d_write(corio_op_t *op, int fd, const void *buf, size_t len, int64_t off)
{
    return describe_buf(op, CORIO_OP_WRITE, fd, buf, len, (uint64_t)off, 0);
}

static int d_fsync(corio_op_t *op, int fd, bool datasync)
{
    int err = describe_fd(op, CORIO_OP_FSYNC, fd);
    op->priv_op_flags = datasync ? 1u /* IORING_FSYNC_DATASYNC */ : 0;
    return err;
}

static int d_openat(corio_op_t *op, int dirfd, const char *path, int flags, mode_t mode)
{
    int err = describe_path(op, CORIO_OP_OPENAT, dirfd, path);
    op->priv_op_flags = (unsigned)flags;
    op->priv_off = mode;
    return err;
}

static int d_statx(corio_op_t *op, int dirfd, const char *path, int flags, unsigned mask,
                   struct statx *out)
{
    if (out == NULL)
        return -EFAULT;
    int err = describe_path(op, CORIO_OP_STATX, dirfd, path);
    op->priv_op_flags = (unsigned)flags;
    op->priv_len = mask;
    op->priv_addr2 = out;
    return err;
}

static int d_socket(corio_op_t *op, int domain, int type, int protocol)
{
    if (domain < 0 || type < 0 || protocol < 0)
        return -EINVAL;
    describe(op, CORIO_OP_SOCKET, domain);
    op->priv_off = (uint64_t)type;
    op->priv_len = (uint32_t)protocol;
    return 0;
}

static int d_accept(corio_op_t *op, int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
    if ((addr == NULL) != (addrlen == NULL))
        return -EFAULT;
    /* Checked here, not left to the kernel, so that a bad flag is refused before anything
     * is queued on both backends and in every form. */
    if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
        return -EINVAL;
    int err = describe_fd(op, CORIO_OP_ACCEPT, fd);
    op->priv_addr = addr;
    op->priv_addr2 = addrlen;
    op->priv_op_flags = (unsigned)flags;
    return err;
}

static int d_connect(corio_op_t *op, int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    if (addr == NULL)
        return -EFAULT;
    int err = describe_fd(op, CORIO_OP_CONNECT, fd);
    op->priv_addr = (void *)addr;
    op->priv_len = addrlen;
    return err;
}

static int d_recv(corio_op_t *op, int fd, void *buf, size_t len, int flags)
{
    return describe_buf(op, CORIO_OP_RECV, fd, buf, len, 0, (unsigned)flags);
}

static int d_recv_bufring(corio_op_t *op, int fd, corio_bufring_t *br, int flags,
                          enum corio_op_kind kind)
{
    if (br == NULL)
        return -EINVAL;
    int err = describe_buf(op, kind, fd, NULL, 0, 0, (unsigned)flags);
    op->priv_addr2 = br;
    op->priv_len = kind == CORIO_OP_RECV_MULTI ? 0 : clamp_len(br->size);
    op->priv_bits |= CORIO_OPB_BUFRING;
    return err;
}

/* MSG_NOSIGNAL always: a peer that went away must be an -EPIPE, not a SIGPIPE that
 * kills a server. */
static int d_send(corio_op_t *op, int fd, const void *buf, size_t len, int flags)
{
    return describe_buf(op, CORIO_OP_SEND, fd, buf, len, 0, (unsigned)flags | MSG_NOSIGNAL);
}

static int d_shutdown(corio_op_t *op, int fd, int how)
{
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
        return -EINVAL;
    int err = describe_fd(op, CORIO_OP_SHUTDOWN, fd);
    op->priv_op_flags = (unsigned)how;
    return err;
}

static int d_poll(corio_op_t *op, int fd, unsigned events)
{
    int err = describe_fd(op, CORIO_OP_POLL, fd);
    op->priv_op_flags = events;
    return err;
}

/* ---- callback mode --------------------------------------------------------------- */

static int cb_check(corio_loop_t *loop, corio_op_t *op, corio_cb_t cb)
{
    if (loop == NULL || op == NULL || cb == NULL)
        return -EINVAL;
    if (op->priv_state == CORIO_OP_INFLIGHT)
        return -EBUSY;
    return 0;
}

/* Checks the common arguments, describes the op (an expression yielding 0 or -errno)
 * and starts it. */
#define START_CB(loop, op, cb, describe_expr)                                                      \
    do {                                                                                           \
        int err_ = cb_check(loop, op, cb);                                                         \
        if (err_ == 0)                                                                             \
            err_ = (describe_expr);                                                                \
        if (err_ == 0)                                                                             \
            err_ = corio_op_start(loop, op, cb);                                                   \
        return err_;                                                                               \
    } while (0)

int corio_nop_cb(corio_loop_t *loop, corio_op_t *op, corio_cb_t cb)
{
    START_CB(loop, op, cb, d_nop(op));
}

int corio_read_cb(corio_loop_t *loop, corio_op_t *op, int fd, void *buf, size_t len, int64_t off,
                  corio_cb_t cb)
{
    START_CB(loop, op, cb, d_read(op, fd, buf, len, off));
}

int corio_write_cb(corio_loop_t *loop, corio_op_t *op, int fd, const void *buf, size_t len,
                   int64_t off, corio_cb_t cb)
{
    START_CB(loop, op, cb, d_write(op, fd, buf, len, off));
}

int corio_readv_cb(corio_loop_t *loop, corio_op_t *op, int fd, const struct iovec *iov, int iovcnt,
                   int64_t off, corio_cb_t cb)
{
    START_CB(loop, op, cb, describe_iov(op, CORIO_OP_READV, fd, iov, iovcnt, off));
}

int corio_writev_cb(corio_loop_t *loop, corio_op_t *op, int fd, const struct iovec *iov, int iovcnt,
                    int64_t off, corio_cb_t cb)
{
    START_CB(loop, op, cb, describe_iov(op, CORIO_OP_WRITEV, fd, iov, iovcnt, off));
}

int corio_fsync_cb(corio_loop_t *loop, corio_op_t *op, int fd, corio_cb_t cb)
{
    START_CB(loop, op, cb, d_fsync(op, fd, false));
}

int corio_fdatasync_cb(corio_loop_t *loop, corio_op_t *op, int fd, corio_cb_t cb)
{
    START_CB(loop, op, cb, d_fsync(op, fd, true));
}

int corio_openat_cb(corio_loop_t *loop, corio_op_t *op, int dirfd, const char *path, int flags,
                    mode_t mode, corio_cb_t cb)
{
    START_CB(loop, op, cb, d_openat(op, dirfd, path, flags, mode));
}

int corio_close_cb(corio_loop_t *loop, corio_op_t *op, int fd, corio_cb_t cb)
{
    START_CB(loop, op, cb, describe_fd(op, CORIO_OP_CLOSE, fd));
}

int corio_statx_cb(corio_loop_t *loop, corio_op_t *op, int dirfd, const char *path, int flags,
                   unsigned mask, struct statx *out, corio_cb_t cb)
{
    START_CB(loop, op, cb, d_statx(op, dirfd, path, flags, mask, out));
}

int corio_socket_cb(corio_loop_t *loop, corio_op_t *op, int domain, int type, int protocol,
                    corio_cb_t cb)
{
    START_CB(loop, op, cb, d_socket(op, domain, type, protocol));
}

int corio_accept_cb(corio_loop_t *loop, corio_op_t *op, int fd, struct sockaddr *addr,
                    socklen_t *addrlen, int flags, corio_cb_t cb)
{
    START_CB(loop, op, cb, d_accept(op, fd, addr, addrlen, flags));
}

static int d_accept_multi(corio_loop_t *loop, corio_op_t *op, int fd, int flags)
{
    if (!corio_backend_has_multishot_accept(loop))
        return -EOPNOTSUPP;
    int err = d_accept(op, fd, NULL, NULL, flags);
    op->priv_kind = CORIO_OP_ACCEPT_MULTI;
    return err;
}

int corio_accept_multishot_cb(corio_loop_t *loop, corio_op_t *op, int fd, int flags, corio_cb_t cb)
{
    START_CB(loop, op, cb, d_accept_multi(loop, op, fd, flags));
}

int corio_connect_cb(corio_loop_t *loop, corio_op_t *op, int fd, const struct sockaddr *addr,
                     socklen_t addrlen, corio_cb_t cb)
{
    START_CB(loop, op, cb, d_connect(op, fd, addr, addrlen));
}

int corio_recv_cb(corio_loop_t *loop, corio_op_t *op, int fd, void *buf, size_t len, int flags,
                  corio_cb_t cb)
{
    START_CB(loop, op, cb, d_recv(op, fd, buf, len, flags));
}

int corio_recv_bufring_cb(corio_loop_t *loop, corio_op_t *op, int fd, corio_bufring_t *br,
                          int flags, corio_cb_t cb)
{
    START_CB(loop, op, cb, d_recv_bufring(op, fd, br, flags, CORIO_OP_RECV_BUF));
}

static int d_recv_multi(corio_loop_t *loop, corio_op_t *op, int fd, corio_bufring_t *br, int flags)
{
    if (!corio_backend_has_multishot_recv(loop))
        return -EOPNOTSUPP;
    return d_recv_bufring(op, fd, br, flags, CORIO_OP_RECV_MULTI);
}

int corio_recv_multishot_cb(corio_loop_t *loop, corio_op_t *op, int fd, corio_bufring_t *br,
                            int flags, corio_cb_t cb)
{
    START_CB(loop, op, cb, d_recv_multi(loop, op, fd, br, flags));
}

void *corio_op_buffer(const corio_op_t *op)
{
    if (op == NULL || !(op->priv_bits & CORIO_OPB_BUFRING) || !(op->flags & CORIO_CQE_F_BUFFER))
        return NULL;
    const struct corio_bufring *br = op->priv_addr2;
    unsigned bid = op->flags >> CORIO_CQE_BUFFER_SHIFT;
    return bid < br->count ? br->base + (size_t)bid * br->size : NULL;
}

int corio_send_cb(corio_loop_t *loop, corio_op_t *op, int fd, const void *buf, size_t len,
                  int flags, corio_cb_t cb)
{
    START_CB(loop, op, cb, d_send(op, fd, buf, len, flags));
}

int corio_recvmsg_cb(corio_loop_t *loop, corio_op_t *op, int fd, struct msghdr *msg, int flags,
                     corio_cb_t cb)
{
    START_CB(loop, op, cb, describe_msg(op, CORIO_OP_RECVMSG, fd, msg, (unsigned)flags));
}

int corio_sendmsg_cb(corio_loop_t *loop, corio_op_t *op, int fd, const struct msghdr *msg,
                     int flags, corio_cb_t cb)
{
    START_CB(loop, op, cb,
             describe_msg(op, CORIO_OP_SENDMSG, fd, msg, (unsigned)flags | MSG_NOSIGNAL));
}

int corio_shutdown_cb(corio_loop_t *loop, corio_op_t *op, int fd, int how, corio_cb_t cb)
{
    START_CB(loop, op, cb, d_shutdown(op, fd, how));
}

static int d_timeout(corio_op_t *op, uint64_t ns)
{
    describe(op, CORIO_OP_TIMEOUT, -1);
    op->priv_ts[0] = (int64_t)(ns / 1000000000u);
    op->priv_ts[1] = (int64_t)(ns % 1000000000u);
    return 0;
}

int corio_timeout_cb(corio_loop_t *loop, corio_op_t *op, uint64_t ns, corio_cb_t cb)
{
    START_CB(loop, op, cb, d_timeout(op, ns));
}

int corio_poll_cb(corio_loop_t *loop, corio_op_t *op, int fd, unsigned events, corio_cb_t cb)
{
    START_CB(loop, op, cb, d_poll(op, fd, events));
}

/* ---- await mode ------------------------------------------------------------------ */

_Static_assert(_Alignof(corio_op_t) > CORIO_UD_TASK, "an op's address could carry the task tag");
_Static_assert(_Alignof(corio_op_t) > CORIO_UD_DOORBELL_SENT,
               "an op's address could carry the doorbell tag");

/* An await call's op only describes the SQE: its completion goes straight to the task
 * (user_data is the task's address tagged CORIO_UD_TASK), which is parked on it and does
 * the rest when it resumes. The completion loop then touches nothing but the task's
 * first cache line: no op, no call through a pointer. A task waits on one op at a time,
 * so the tagged address names the op for a cancel too. */
static uint64_t task_user_data(const struct corio_task *t)
{
    return (uint64_t)(uintptr_t)t | CORIO_UD_TASK;
}

/* Cancelling a task parked on I/O: ask the kernel to cancel, then keep waiting for the
 * op's own completion, as the kernel may still write into the task's buffers. */
static void abort_task_op(struct corio_task *t, int res)
{
    (void)res;
    t->loop->sq_dirty = true;
    (void)corio_backend_queue_cancel(t->loop, task_user_data(t));
}

/* What an await call returns for its op's result res, once a cancel or its deadline
 * (0: none) may have cut it short. */
static int await_result(const struct corio_task *t, int res, uint64_t deadline)
{
    if (__builtin_expect(res >= 0, 1))
        return res;
    /* Cancelled because the task's deadline passed: say why. */
    if ((res == -ECANCELED || res == -EINTR) && deadline != 0 && corio_clock_ns() >= deadline)
        return -ETIMEDOUT;
    if (t->cancelled && res != -ETIMEDOUT)
        return -ECANCELED;
    return res;
}

/* Parks t on the SQE just queued for it (err: what queueing it returned) until its
 * completion, and returns the result. (No -ESHUTDOWN check as in corio_op_start: a loop
 * is only freed once every task has finished.) */
static inline __attribute__((always_inline)) int await_queued(struct corio_task *t, int err,
                                                              uint64_t deadline)
{
    if (err < 0)
        return err;
    t->loop->sq_dirty = true;
    t->loop->inflight++;
    /* A deadline is a timer in the loop's heap for as long as the task waits; if it fires,
     * abort_task_op cancels the op, whose -ECANCELED completion then reads -ETIMEDOUT.
     * (A linked timeout per op cost the kernel an hrtimer and a CQE on every call.) */
    int res = deadline == 0 ? park(t, abort_task_op, NULL)
                            : corio_task_park(t, abort_task_op, NULL, deadline);
    return await_result(t, res, deadline);
}

/* Starts a described op for the current task and parks until it completes. */
static int await_op(corio_op_t *op)
{
    int err;
    struct corio_task *t = corio_task_enter_await(&err);
    if (t == NULL)
        return err;
    uint64_t deadline = corio_task_deadline(t);
    err = corio_backend_queue(t->loop, op, task_user_data(t));
    int res = await_queued(t, err, deadline);
    mark_kernel_writes(op, res);
    return res;
}

/* The hot await calls (nop, read, write, recv and send) have no op: their SQE is written
 * inline from their arguments, and the hand-over is inline too. On the path that ~64
 * tasks take in turn, every call and cache line counts (see docs/DESIGN-NOTES.md).
 * Inlined into each public call, so that the op kind and a NOP's arguments are constants
 * (a NOP ~1 ns faster). */
HOT ssize_t await_rw(enum corio_op_kind kind, int fd, const void *buf, size_t len, uint64_t off,
                     unsigned flags)
{
    int err;
    struct corio_task *t = corio_task_enter_await(&err);
    if (t == NULL)
        return err;
    uint64_t deadline = corio_task_deadline(t);
    corio_loop_t *loop = t->loop;
    if (__builtin_expect(loop->ring != NULL, 1))
        err = corio_ring_queue_rw(loop->ring, kind, fd, (void *)buf, clamp_len(len), off, flags,
                                  task_user_data(t));
    else
        err = corio_epoll_queue_rw(loop->epoll, kind, fd, (void *)buf, clamp_len(len), off, flags,
                                   task_user_data(t));
    int res = await_queued(t, err, deadline);
    if (kind == CORIO_OP_READ || kind == CORIO_OP_RECV)
        mark_buf_written(buf, res);
    return res;
}

/* read, write, recv and send: the arguments checked as the _cb forms check them. */
HOT ssize_t await_transfer(enum corio_op_kind kind, int fd, const void *buf, size_t len,
                           uint64_t off, unsigned flags)
{
    int err = check_buf(fd, buf, len);
    return err < 0 ? err : await_rw(kind, fd, buf, len, off, flags);
}

/* A recv into a bufring goes through its op and a callback instead: the completion
 * carries a buffer id, and the bufring's count of users must drop at the completion. */
static void wake_task(corio_op_t *op, int res)
{
    corio_task_wake(op->data, res);
}

static void abort_op_wait(struct corio_task *t, int res)
{
    (void)res;
    t->loop->sq_dirty = true;
    (void)corio_backend_queue_cancel(t->loop, (uint64_t)(uintptr_t)t->wait_obj);
}

static int await_bufring_op(corio_op_t *op)
{
    int err;
    struct corio_task *t = corio_task_enter_await(&err);
    if (t == NULL)
        return err;
    uint64_t deadline = corio_task_deadline(t);
    op->priv_state = CORIO_OP_IDLE;
    op->data = t;
    err = corio_op_start(t->loop, op, wake_task);
    if (err < 0)
        return err;
    int res = corio_task_park(t, abort_op_wait, op, deadline);
    return await_result(t, res, deadline);
}

/* Describes into a stack op (an expression yielding 0 or -errno) and awaits it. */
#define AWAIT(describe_expr)                                                                       \
    do {                                                                                           \
        corio_op_t op_;                                                                            \
        corio_op_t *op = &op_;                                                                     \
        int err_ = (describe_expr);                                                                \
        return err_ < 0 ? err_ : await_op(op);                                                     \
    } while (0)

int corio_nop(void)
{
    return (int)await_rw(CORIO_OP_NOP, -1, NULL, 0, 0, 0);
}

ssize_t corio_read(int fd, void *buf, size_t len, int64_t off)
{
    return await_transfer(CORIO_OP_READ, fd, buf, len, (uint64_t)off, 0);
}

ssize_t corio_write(int fd, const void *buf, size_t len, int64_t off)
{
    return await_transfer(CORIO_OP_WRITE, fd, buf, len, (uint64_t)off, 0);
}

ssize_t corio_readv(int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
    AWAIT(describe_iov(op, CORIO_OP_READV, fd, iov, iovcnt, off));
}

ssize_t corio_writev(int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
    AWAIT(describe_iov(op, CORIO_OP_WRITEV, fd, iov, iovcnt, off));
}

int corio_fsync(int fd)
{
    AWAIT(d_fsync(op, fd, false));
}

int corio_fdatasync(int fd)
{
    AWAIT(d_fsync(op, fd, true));
}

int corio_openat(int dirfd, const char *path, int flags, mode_t mode)
{
    AWAIT(d_openat(op, dirfd, path, flags, mode));
}

int corio_close(int fd)
{
    if (fd < 0)
        return -EBADF;
    /* A cancelled task (or one past its deadline) still owns its fds, and a close that
     * did not happen would leak one: it closes at once instead of refusing. */
    int err;
    struct corio_task *t = corio_task_enter_await(&err);
    if (t == NULL)
        return err == -EPERM ? err : corio_backend_close_now(corio_this_task->loop, fd);
    /* Ops in flight on fd hold its file, so a bare close would neither wake the tasks
     * parked on it nor end its connection: they are cancelled first (-ECANCELED), in the
     * same submission, ahead of the close. epoll's close does the same. */
    if (t->loop->ring != NULL)
        (void)corio_ring_queue_cancel_fd(t->loop->ring, fd);
    AWAIT(describe_fd(op, CORIO_OP_CLOSE, fd));
}

int corio_statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *out)
{
    AWAIT(d_statx(op, dirfd, path, flags, mask, out));
}

int corio_socket(int domain, int type, int protocol)
{
    AWAIT(d_socket(op, domain, type, protocol));
}

int corio_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
    AWAIT(d_accept(op, fd, addr, addrlen, flags));
}

int corio_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    AWAIT(d_connect(op, fd, addr, addrlen));
}

ssize_t corio_recv(int fd, void *buf, size_t len, int flags)
{
    return await_transfer(CORIO_OP_RECV, fd, buf, len, 0, (unsigned)flags);
}

ssize_t corio_recv_bufring(int fd, corio_bufring_t *br, int flags, void **buf)
{
    if (buf == NULL)
        return -EINVAL;
    *buf = NULL;
    corio_op_t op = {0};
    int err = d_recv_bufring(&op, fd, br, flags, CORIO_OP_RECV_BUF);
    if (err < 0)
        return err;
    int res = await_bufring_op(&op);
    /* A buffer the kernel filled is handed out even if the task was cancelled meanwhile:
     * the caller owns it either way, and must put it back. */
    *buf = corio_op_buffer(&op);
    if (*buf != NULL && res <= 0) {
        corio_bufring_put(br, *buf);
        *buf = NULL;
    }
    return res;
}

ssize_t corio_send(int fd, const void *buf, size_t len, int flags)
{
    return await_transfer(CORIO_OP_SEND, fd, buf, len, 0, (unsigned)flags | MSG_NOSIGNAL);
}

ssize_t corio_recvmsg(int fd, struct msghdr *msg, int flags)
{
    AWAIT(describe_msg(op, CORIO_OP_RECVMSG, fd, msg, (unsigned)flags));
}

ssize_t corio_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    AWAIT(describe_msg(op, CORIO_OP_SENDMSG, fd, msg, (unsigned)flags | MSG_NOSIGNAL));
}

int corio_shutdown(int fd, int how)
{
    AWAIT(d_shutdown(op, fd, how));
}

int corio_poll(int fd, unsigned events)
{
    AWAIT(d_poll(op, fd, events));
}
