/* corio: an io_uring-based async I/O engine for Linux.
 *
 * This header is the manual. Read it top to bottom:
 *   1. conventions (errors, ownership, threads)
 *   2. the loop, and what a fork()ed child may do
 *   3. callback mode: call_soon / call_later / call_soon_threadsafe, messages between
 *      loops (corio_loop_post) and operations on a caller-owned corio_op_t
 *   4. coroutine mode: tasks, joining, cancellation, deadlines, futures
 *   5. await-style I/O, the same operations as blocking-looking calls inside a task
 *
 * Conventions
 * - Every call that can fail returns a value >= 0 on success or a negative errno
 *   (-EBADF, -ECANCELED, -ETIMEDOUT, ...), the convention of the kernel and liburing.
 *   corio_strerror() names it. Bad arguments return an error; they never crash.
 * - Nothing here allocates on the hot path of an operation: an operation lives in the
 *   caller's corio_op_t (callback mode), or in the waiting task's stack and control block
 *   (await mode).
 * - A loop and everything attached to it belong to one thread, the one that runs the loop.
 *   The only calls other threads may make are corio_call_soon_threadsafe(),
 *   corio_loop_post() and corio_loop_stop().
 * - "Inside a task" means called from a function started by corio_spawn() or corio_run().
 *   Await-style calls made outside a task return -EPERM.
 */
#ifndef CORIO_CORIO_H
#define CORIO_CORIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(CORIO_BUILDING)
#define CORIO_API __attribute__((visibility("default")))
#else
#define CORIO_API
#endif

#define CORIO_VERSION_MAJOR 0
#define CORIO_VERSION_MINOR 1
#define CORIO_VERSION_PATCH 0

struct statx;

typedef struct corio_loop corio_loop_t;   /* opaque; one per thread */
typedef struct corio_task corio_task_t;   /* opaque; a coroutine with its own stack */
typedef struct corio_timer corio_timer_t; /* opaque; a pending corio_call_later */
typedef struct corio_op corio_op_t;       /* caller-owned storage for one operation */

/* Completion callback of an operation: res is the operation's result, >= 0 or -errno,
 * as the kernel gave it (see each operation for its meaning). */
typedef void (*corio_cb_t)(corio_op_t *op, int res);

/* ---- 1. errors -------------------------------------------------------------------- */

/* Names an error: err is a negative errno as returned by any corio call (a positive
 * value is accepted too), or one of corio's codes beyond the errno range (net.h's
 * CORIO_ENONAME and CORIO_ERESOLVE; libcorio-http's CORIO_HTTP_E*, corio/http.h).
 * Returns a static string; never NULL. */
CORIO_API const char *corio_strerror(int err);

/* ---- 2. the loop ------------------------------------------------------------------- */

enum {
    /* Use a kernel submission-polling thread (IORING_SETUP_SQPOLL): fewer syscalls under
     * constant load, one core spinning. Off by default. */
    CORIO_LOOP_SQPOLL = 1u << 0,
    /* Do not install the SIGSEGV handler that reports task stack overflows. */
    CORIO_LOOP_NO_OVERFLOW_REPORT = 1u << 1,
};

/* The kernel interface a loop runs on (corio_loop_opts_t.backend). The environment
 * variable CORIO_BACKEND (io_uring, epoll or auto), when set, overrides the option.
 *   AUTO      io_uring, or epoll when io_uring cannot be set up because it is blocked or
 *             absent (io_uring_setup fails with EPERM, EACCES or ENOSYS: a seccomp profile
 *             such as Docker's default, kernel.io_uring_disabled, an old kernel).
 *   IO_URING  io_uring or nothing: corio_loop_new fails when it cannot be set up.
 *   EPOLL     readiness (epoll) plus non-blocking system calls for sockets, pipes and the
 *             like; regular files and fsync, openat and statx on the executor's threads
 *             (executor.h), as libuv does. Every op has the same results and errors and
 *             the same cancellation guarantee, except: buffer rings and multishot recv
 *             are io_uring only (-EOPNOTSUPP); a listening socket an accept runs on is
 *             switched to O_NONBLOCK and left so (a connect's socket is switched for the
 *             connect and back); corio_close_cb of an fd completes the ops waiting on
 *             it with -ECANCELED (on io_uring they keep waiting on the file, as after
 *             close(2)), and the next wait on an fd number that close(2) closed while ops
 *             waited on it fails them with -EBADF (until then they wait: cancel them
 *             first). */
enum {
    CORIO_BACKEND_AUTO = 0,
    CORIO_BACKEND_IO_URING = 1,
    CORIO_BACKEND_EPOLL = 2,
};

/* Zero means "default" for every field; a NULL opts pointer means all defaults. */
typedef struct corio_loop_opts {
    unsigned entries;           /* submission queue size; default 256, at most 32768 */
    unsigned cq_entries;        /* completion queue size; default 4 x entries, at most
                                 * 65536. Size it to the ops in flight at once (e.g. one
                                 * per connection): a full CQ is survived, through the
                                 * kernel's overflow list, but costs time. */
    size_t stack_size;          /* task stack size; default 64 KiB (256 KiB under ASan) */
    unsigned flags;             /* CORIO_LOOP_* */
    unsigned sqpoll_idle_ms;    /* with CORIO_LOOP_SQPOLL: idle time before it sleeps */
    unsigned max_pooled_stacks; /* finished tasks' stacks kept resident for reuse; the
                                 * memory of stacks beyond it goes back to the kernel
                                 * (see corio_spawn); default 1024 */
    unsigned backend;           /* CORIO_BACKEND_*; default AUTO */
    unsigned busy_poll_us;      /* before it sleeps, the loop spins up to this long for
                                 * work from other threads (corio_loop_post,
                                 * call_soon_threadsafe) and completions; posters skip
                                 * the wake-up of a spinning loop. Costs up to that much
                                 * CPU each time the loop runs out of work. For loops
                                 * that trade messages (thread per core); default 0:
                                 * sleep at once; at most 1,000,000 (-EINVAL beyond) */
} corio_loop_opts_t;

/* Creates a loop on its backend (see CORIO_BACKEND_AUTO). Returns 0 and sets *loop, or:
 *   -EINVAL  bad option (entries > 32768, stack_size outside 16 KiB .. 1 GiB, an unknown
 *            backend or CORIO_BACKEND value)
 * and, when io_uring was asked for (CORIO_BACKEND_IO_URING) and cannot be set up:
 *   -ENOSYS  the kernel has no io_uring, or a seccomp filter hides it
 *   -EPERM   io_uring is disabled (sysctl kernel.io_uring_disabled) or blocked by a
 *            seccomp profile (the default Docker/containerd one blocks it)
 *   -ENOMEM  out of memory, or the locked-memory limit (ulimit -l) is too low on an old
 *            kernel (also with AUTO: only EPERM, EACCES and ENOSYS fall back to epoll)
 * corio_loop_setup_hint() turns any of these into a sentence with the cause and the
 * remedy. The calling thread's fd table gets the ring fd, or the epoll and eventfd fds
 * (close-on-exec). */
CORIO_API int corio_loop_new(corio_loop_t **loop, const corio_loop_opts_t *opts);

/* Explains an error returned by corio_loop_new: cause and remedy, one sentence. Static
 * string; never NULL. */
CORIO_API const char *corio_loop_setup_hint(int err);

/* Runs the loop until nothing is left to do (no live task, operation in flight, pending
 * timer or ready callback) or corio_loop_stop() is called. Each iteration runs the ready
 * callbacks and tasks, submits and waits in one io_uring_enter (one epoll_pwait2 on
 * epoll), dispatches completions,
 * then fires expired timers. While callbacks or tasks are ready and nothing is queued
 * for the kernel, iterations skip the kernel, but completions are still collected at
 * least every 64 iterations. May be called again after it returns. Returns 0, -EBUSY if
 * the loop is already running, -EEXIST if called from another thread than the one that
 * first ran the loop, or a negative errno from the backend. */
CORIO_API int corio_loop_run(corio_loop_t *loop);

/* Makes corio_loop_run() return after the current iteration. Safe from any thread and
 * from signal handlers' corio_call_soon_threadsafe callbacks. */
CORIO_API void corio_loop_stop(corio_loop_t *loop);

/* Frees the loop. Operations still in flight are cancelled first and their callbacks
 * run (with -ECANCELED or their real result) before this returns, so their memory may be
 * released afterwards. Asserts (aborts with a message) if tasks are still alive: cancel
 * them and run the loop until they have finished. NULL is ignored. */
CORIO_API void corio_loop_free(corio_loop_t *loop);

/* asyncio.run(): creates a loop with default options, runs main(arg) as its first task
 * and the loop until everything has finished, then frees it. *result (if not NULL) gets
 * main's return value. Returns 0; -ECANCELED if main was cancelled before it finished
 * (corio_loop_stop() or corio_cancel() while it waited; *result still gets what main
 * returned); -EINVAL if main is NULL; or an error from corio_loop_new.
 * After corio_loop_stop() it cancels every task and runs the loop while they unwind;
 * corio_spawn then returns -ESHUTDOWN (a task spawned by one unwinding would not be
 * cancelled, and could wait forever). Callback-mode ops are the caller's: a stop leaves
 * them running, and corio_run returns once they have completed, so the code that started
 * them cancels them when the stop comes (its task sees -ECANCELED: corio-echo's callback
 * mode does that). */
CORIO_API int corio_run(void *(*main)(void *), void *arg, void **result);

/* fork(2). To start a program, corio_process_spawn (corio/process.h) is cheaper and
 * needs none of this. fork() may be called anywhere, also inside a task. The child of a
 * fork made in a task runs on a copy of that task's stack (and of nothing else corio made: the
 * ring, the other tasks' stacks and the bufrings' buffers are left out of children), outside any
 * loop: corio_current() and corio_current_loop() are NULL there and await-style calls
 * return -EPERM. The child may run ordinary code on that stack (its frames and locals
 * are intact), exec, _exit, and create and run loops of its own (corio_loop_new,
 * corio_run; their tasks may fork in turn). It must not touch the parent's loops, tasks,
 * ops, futures or bufrings (nor, on the epoll backend, its epoll fd, shared with the
 * parent), nor other tasks' stacks (absent in the child), and it must
 * never return from the task function or switch back into the parent's loop in any
 * other way: it ends with _exit (or exec). A fork made outside a task is the same, on
 * the thread's own stack. */

/* Which kernel interface the loop runs on: "io_uring" or "epoll" (static string). */
CORIO_API const char *corio_loop_backend(const corio_loop_t *loop);

/* When the loop runs on epoll because CORIO_BACKEND_AUTO could not set up io_uring: the
 * error io_uring gave (-EPERM, -EACCES or -ENOSYS), which corio_loop_setup_hint()
 * explains. 0 otherwise (io_uring in use, or epoll chosen on purpose). */
CORIO_API int corio_loop_fallback_error(const corio_loop_t *loop);

typedef struct corio_loop_stats {
    uint64_t iterations;  /* corio_loop_run iterations */
    uint64_t enters;      /* io_uring_enter calls (epoll: epoll_pwait2 calls) */
    uint64_t submitted;   /* operations submitted (cancel requests included) */
    uint64_t completions; /* completions reaped */
    uint64_t sq_full;     /* times the SQ was full and had to be flushed early (io_uring) */
    uint64_t cq_overflow; /* times the kernel reported CQ overflow (io_uring) */
    unsigned setup_flags; /* IORING_SETUP_* flags the kernel accepted (io_uring; else 0) */
    unsigned features;    /* IORING_FEAT_* flags the kernel reported (io_uring; else 0) */
} corio_loop_stats_t;

/* Copies the loop's counters into *stats. Returns 0, -EINVAL for a NULL loop or stats. */
CORIO_API int corio_loop_stats(const corio_loop_t *loop, corio_loop_stats_t *stats);

/* The loop's clock: CLOCK_MONOTONIC in nanoseconds (timers and deadlines use it). */
CORIO_API uint64_t corio_loop_now(const corio_loop_t *loop);

/* The loop of the current task or callback (the loop this thread is running), or NULL
 * outside one. */
CORIO_API corio_loop_t *corio_current_loop(void);

/* ---- 3. callback mode -------------------------------------------------------------- */

/* Loop thread only, here and below: once a loop has run, the calls marked so return
 * -EPERM when made from another thread (use corio_call_soon_threadsafe from there). Before
 * its first run a loop belongs to no thread yet, and the thread setting it up may call
 * them. */

/* Schedules fn(arg) to run on the loop's next iteration, after the callbacks already
 * scheduled (FIFO). Loop thread only. Returns 0, -EINVAL (NULL loop or fn), -EPERM (another
 * thread), -ENOMEM. */
CORIO_API int corio_call_soon(corio_loop_t *loop, void (*fn)(void *), void *arg);

/* Schedules fn(arg) to run once delay_ns have passed. Timers fire in deadline order; equal
 * deadlines fire in the order they were set. Loop thread only. Returns 0, -EINVAL (NULL
 * loop or fn), -EPERM (another thread), -ENOMEM.
 * out NULL: the timer cannot be cancelled, and its memory goes when fn starts.
 * out not NULL: *out is a handle that is yours until you give it back with
 * corio_timer_cancel, exactly once, whether or not the timer has fired (a cancel that comes
 * too late says so with -ENOENT, never touches freed memory). A handle never given back is
 * freed with the loop: ask for one only for a timer you may cancel. */
CORIO_API int corio_call_later(corio_loop_t *loop, uint64_t delay_ns, void (*fn)(void *), void *arg,
                               corio_timer_t **out);

/* Cancels a corio_call_later timer and gives its handle back (the handle is invalid
 * afterwards). Returns 0 if the timer was pending (fn will not run), -ENOENT if fn has
 * already been called (also from inside fn itself), -EINVAL for NULL, -EPERM from another
 * thread (nothing changes). Loop thread only. */
CORIO_API int corio_timer_cancel(corio_timer_t *timer);

/* Schedules fn(arg) on the loop from any thread and wakes the loop if it sleeps. Calls
 * from one thread run in the order made (also when mixed with corio_loop_post). It
 * allocates a node per call; corio_loop_post does not. Returns 0, -EINVAL for a NULL loop
 * or fn, or -ENOMEM. The rules of corio_loop_post on a stopped or freed loop apply. */
CORIO_API int corio_call_soon_threadsafe(corio_loop_t *loop, void (*fn)(void *), void *arg);

/* A message to another loop, owned by the caller: embed it in your own struct and find
 * the struct again in the handler (container_of), or use `data`. Zero it before its first
 * use (`corio_msg_t msg = {0};`) and leave the private fields alone. */
typedef struct corio_msg corio_msg_t;
struct corio_msg {
    void *data; /* public: yours */

    /* private: */
    void *priv_link[2]; /* the target loop's queue link while posted */
    void (*priv_fn)(corio_msg_t *msg);
};

/* Posts msg to the loop `target`: fn(msg) runs on target's thread at one of its next
 * iterations, exactly once, like a call_soon callback. Allocates nothing and takes no
 * lock: the message joins a lock-free queue of the target's, and the first message after
 * the target has emptied that queue wakes it. From a thread that is running an io_uring
 * loop (inside its callbacks and tasks) to an io_uring target, the wake-up is an
 * IORING_OP_MSG_RING request queued on the sender's own ring, submitted with the
 * sender's next entry into the kernel (no system call of its own); from any other thread,
 * or on the epoll backend, it is a write to the target's eventfd.
 *
 * Which thread: any, including target's own and threads that run no loop.
 * Order: messages and corio_call_soon_threadsafe calls from one thread to one target run
 *   in the order they were made. Messages from different threads interleave.
 * Ownership: msg belongs to the target from this call until fn starts; fn may free it,
 *   reuse it or post it again (to any loop). It must not be posted again before then.
 * Returns 0, -EINVAL for a NULL target, msg or fn, or -EBUSY when msg is already posted
 *   and has not started running yet.
 * Liveness: a posted message keeps target's corio_loop_run going until it has run, also
 *   when nothing else is left. Posting to a loop that is not running (not started yet, or
 *   stopped) is allowed: the message runs when the loop is run again.
 * Teardown: target must exist for the whole call; corio_loop_free(target) may start only
 *   once no thread posts to it any more and every loop that posted to it has returned
 *   from corio_loop_run (their wake-ups are sent by then). Messages still pending at
 *   corio_loop_free are dropped without running: their memory stays the caller's, and
 *   whatever they carry (an fd, a buffer) is not released by corio.
 *
 * Handing a connection to another loop (a thread-per-core server accepting on one loop
 * and serving on others): the fd is process-wide, so put it in the message.
 *
 *     struct handoff { corio_msg_t msg; int fd; };
 *     static void adopt(corio_msg_t *m)            // runs on the target loop's thread
 *     {
 *         struct handoff *h = (struct handoff *)m;
 *         corio_spawn(corio_current_loop(), serve, (void *)(intptr_t)h->fd, NULL);
 *         free(h);
 *     }
 *     ...
 *     struct handoff *h = calloc(1, sizeof *h);    // or a slot of a per-worker pool
 *     h->fd = accepted_fd;
 *     corio_loop_post(workers[next++ % nworkers], &h->msg, adopt);
 *
 * The fd stays open in the sender's loop too: it must not use or close it after the
 * post. */
CORIO_API int corio_loop_post(corio_loop_t *target, corio_msg_t *msg, void (*fn)(corio_msg_t *msg));

/* Storage for one operation, owned by the caller. Zero it before its first use
 * (`corio_op_t op = {0};`): an op's state lives in it, and garbage may read as "in
 * flight" (-EBUSY). Fill `data` as you like; leave the private fields alone. The op must stay valid
 * (and not be reused) from the start call until its callback has run for the last time. Starting an
 * op that is still in flight returns -EBUSY.
 *
 * The callback contract: if a start call returns an error the callback never runs;
 * otherwise it runs exactly once (a multishot op: once per result, the last one with
 * corio_op_more() false), also after corio_op_cancel, then with -ECANCELED unless the
 * operation completed first. Callbacks run on the loop thread, never from inside the
 * start call. */
struct corio_op {
    void *data;     /* public: yours */
    unsigned flags; /* read-only: the completion's IORING_CQE_F_* flags */

    /* private: */
    corio_cb_t priv_cb;
    corio_loop_t *priv_loop;
    void *priv_addr;  /* buffer, path, iovec, msghdr or sockaddr */
    void *priv_addr2; /* socklen_t * or struct statx * */
    uint64_t priv_off;
    int64_t priv_ts[2]; /* struct __kernel_timespec for timeouts */
    uint32_t priv_len;
    uint32_t priv_op_flags;
    int priv_fd;
    uint8_t priv_kind;
    uint8_t priv_state;
    uint16_t priv_bits;
};

/* True when the callback being delivered is not the last one of a multishot op. */
static inline bool corio_op_more(const corio_op_t *op)
{
    return (op->flags & (1u << 1)) != 0; /* IORING_CQE_F_MORE */
}

/* Every start call below returns 0 (the callback will run), or before anything is
 * queued: -EINVAL for a NULL loop, op or cb, -EBUSY if op is in flight, -ESHUTDOWN while
 * corio_loop_free is cancelling, -EBADF for a negative fd (a dirfd may be AT_FDCWD),
 * -EFAULT for a NULL buffer with a non-zero length, -EINVAL for another bad argument. Errors the
 * kernel reports
 * (-EBADF for a closed fd, -ECONNRESET, ...) arrive as the callback's res.
 * Lengths above 0x7ffff000 are clamped (a short transfer, as read(2) does). */

/* res: 0. */
CORIO_API int corio_nop_cb(corio_loop_t *loop, corio_op_t *op, corio_cb_t cb);
/* res: bytes read (0 at end of file). off -1: the fd's current position. */
CORIO_API int corio_read_cb(corio_loop_t *loop, corio_op_t *op, int fd, void *buf, size_t len,
                            int64_t off, corio_cb_t cb);
/* res: bytes written (may be short). off -1: the fd's current position. */
CORIO_API int corio_write_cb(corio_loop_t *loop, corio_op_t *op, int fd, const void *buf,
                             size_t len, int64_t off, corio_cb_t cb);
/* res: bytes read. iov (and the buffers) must stay valid until the callback. */
CORIO_API int corio_readv_cb(corio_loop_t *loop, corio_op_t *op, int fd, const struct iovec *iov,
                             int iovcnt, int64_t off, corio_cb_t cb);
/* res: bytes written. */
CORIO_API int corio_writev_cb(corio_loop_t *loop, corio_op_t *op, int fd, const struct iovec *iov,
                              int iovcnt, int64_t off, corio_cb_t cb);
/* res: 0. fsync(2), and fdatasync(2) (the data and only the metadata needed to read it). */
CORIO_API int corio_fsync_cb(corio_loop_t *loop, corio_op_t *op, int fd, corio_cb_t cb);
CORIO_API int corio_fdatasync_cb(corio_loop_t *loop, corio_op_t *op, int fd, corio_cb_t cb);
/* res: the new fd. path must stay valid until the callback. */
CORIO_API int corio_openat_cb(corio_loop_t *loop, corio_op_t *op, int dirfd, const char *path,
                              int flags, mode_t mode, corio_cb_t cb);
/* res: 0. */
CORIO_API int corio_close_cb(corio_loop_t *loop, corio_op_t *op, int fd, corio_cb_t cb);
/* res: 0; *out filled. path and out must stay valid until the callback. */
CORIO_API int corio_statx_cb(corio_loop_t *loop, corio_op_t *op, int dirfd, const char *path,
                             int flags, unsigned mask, struct statx *out, corio_cb_t cb);
/* res: the new socket fd. */
CORIO_API int corio_socket_cb(corio_loop_t *loop, corio_op_t *op, int domain, int type,
                              int protocol, corio_cb_t cb);
/* res: the accepted fd. addr/addrlen may be NULL (both or neither: -EFAULT); otherwise
 * they stay valid until the callback. flags: 0 or SOCK_NONBLOCK and/or SOCK_CLOEXEC, as
 * for accept4(2); any other bit is -EINVAL. Without SOCK_CLOEXEC the fd is inherited
 * across exec: pass it unless you mean to hand the connection to a program you run. */
CORIO_API int corio_accept_cb(corio_loop_t *loop, corio_op_t *op, int fd, struct sockaddr *addr,
                              socklen_t *addrlen, int flags, corio_cb_t cb);
/* Multishot accept: the callback runs once per accepted fd while corio_op_more(op); it
 * ends with an error, or -ECANCELED after corio_op_cancel. res: an accepted fd. flags as
 * for corio_accept_cb.
 * Returns -EOPNOTSUPP (nothing queued) on kernels without it (before 5.19): use
 * corio_accept_cb there. */
CORIO_API int corio_accept_multishot_cb(corio_loop_t *loop, corio_op_t *op, int fd, int flags,
                                        corio_cb_t cb);
/* res: 0. addr must stay valid until the callback. */
CORIO_API int corio_connect_cb(corio_loop_t *loop, corio_op_t *op, int fd,
                               const struct sockaddr *addr, socklen_t addrlen, corio_cb_t cb);
/* res: bytes received (0: the peer closed). */
CORIO_API int corio_recv_cb(corio_loop_t *loop, corio_op_t *op, int fd, void *buf, size_t len,
                            int flags, corio_cb_t cb);
/* res: bytes sent (may be short). MSG_NOSIGNAL is always added: a closed peer gives
 * -EPIPE, never SIGPIPE. */
CORIO_API int corio_send_cb(corio_loop_t *loop, corio_op_t *op, int fd, const void *buf, size_t len,
                            int flags, corio_cb_t cb);
/* res: bytes received. msg and everything it points to stay valid until the callback. */
CORIO_API int corio_recvmsg_cb(corio_loop_t *loop, corio_op_t *op, int fd, struct msghdr *msg,
                               int flags, corio_cb_t cb);
/* res: bytes sent. MSG_NOSIGNAL is always added. */
CORIO_API int corio_sendmsg_cb(corio_loop_t *loop, corio_op_t *op, int fd, const struct msghdr *msg,
                               int flags, corio_cb_t cb);
/* res: 0. how: SHUT_RD, SHUT_WR or SHUT_RDWR. */
CORIO_API int corio_shutdown_cb(corio_loop_t *loop, corio_op_t *op, int fd, int how, corio_cb_t cb);
/* A kernel timer: res 0 once ns have passed, -ECANCELED if cancelled first. */
CORIO_API int corio_timeout_cb(corio_loop_t *loop, corio_op_t *op, uint64_t ns, corio_cb_t cb);
/* Waits for poll(2) events on fd: res is the events that are ready (POLLIN, ...). */
CORIO_API int corio_poll_cb(corio_loop_t *loop, corio_op_t *op, int fd, unsigned events,
                            corio_cb_t cb);

/* Asks the kernel to cancel op. The op's callback still runs (with -ECANCELED, or with
 * its real result if it completed first); keep op and its buffers until then. Returns 0,
 * -ENOENT if op is not in flight, -EINVAL for NULL. */
CORIO_API int corio_op_cancel(corio_loop_t *loop, corio_op_t *op);

/* ---- 3b. provided buffers ------------------------------------------------------------
 * A bufring lends the kernel a set of equal buffers; a buffer-select recv takes one only
 * when data arrives, so ten thousand idle connections hold no buffer memory. A buffer the
 * kernel filled is yours until you give it back with corio_bufring_put. Needs Linux 5.19
 * (multishot recv: 6.0); elsewhere the calls return -EOPNOTSUPP and plain recv works. */

typedef struct corio_bufring corio_bufring_t; /* opaque */

/* Creates `count` buffers (a power of two, at most 32768) of `size` bytes each (at most
 * 1 MiB) for loop, all lent to the kernel. Returns 0 and *out, -EINVAL for a bad count or
 * size, -EOPNOTSUPP if the kernel lacks provided-buffer rings, -ENOMEM. Loop thread only.
 * The kernel takes buffers in the order they were given back, so each is used again only
 * after all the others: a count far above the buffers in use at once costs cache misses
 * (corio-echo measured 1024 x 16 KiB ~10% faster than 4096 at 512 connections). */
CORIO_API int corio_bufring_new(corio_loop_t *loop, unsigned count, size_t size,
                                corio_bufring_t **out);

/* Frees br. Returns 0, or -EBUSY (nothing freed) while an op using br is in flight:
 * cancel it and let its callback run first. corio_loop_free frees the bufrings left. */
CORIO_API int corio_bufring_free(corio_bufring_t *br);

/* The size of each buffer of br. */
CORIO_API size_t corio_bufring_size(const corio_bufring_t *br);

/* Gives a buffer obtained from corio_op_buffer or corio_recv_bufring back to the kernel.
 * Returns 0, -EINVAL if buf is not one of br's buffers, -EALREADY if it was already put
 * back (a double put is refused, never lends a buffer twice). */
CORIO_API int corio_bufring_put(corio_bufring_t *br, void *buf);

/* In the callback of a bufring recv: the buffer holding the res bytes received, or NULL
 * if this completion carries none (an error, or end of stream). Every non-NULL buffer
 * must be given back with corio_bufring_put, whatever res is. */
CORIO_API void *corio_op_buffer(const corio_op_t *op);

/* One recv into a buffer of br. res: bytes received (0: the peer closed), -ENOBUFS if br
 * had no buffer free. */
CORIO_API int corio_recv_bufring_cb(corio_loop_t *loop, corio_op_t *op, int fd, corio_bufring_t *br,
                                    int flags, corio_cb_t cb);

/* Multishot recv: the callback runs once per arrival, each with its own buffer, while
 * corio_op_more(op). It ends with 0 (the peer closed), an error, -ENOBUFS when br ran
 * dry (give buffers back and start it again), or -ECANCELED after corio_op_cancel.
 * Returns -EOPNOTSUPP before Linux 6.0. */
CORIO_API int corio_recv_multishot_cb(corio_loop_t *loop, corio_op_t *op, int fd,
                                      corio_bufring_t *br, int flags, corio_cb_t cb);

/* ---- 4. coroutine mode ------------------------------------------------------------- */

/* Starts fn(arg) as a new task on loop (NULL: the current task's loop); it first runs on
 * a later iteration, after the callbacks already scheduled. If out is NULL the task is
 * detached: its memory is released when fn returns. Otherwise *out is a handle that
 * must be passed to corio_join (or corio_gather) exactly once, which releases it. Loop
 * thread only. Returns 0, -EINVAL (NULL fn, or no loop outside a task), -EPERM (another
 * thread), -ESHUTDOWN (the loop is being freed, or corio_run is cancelling its tasks after
 * a stop), or -ENOMEM: no stack could be mapped, and
 * corio_spawn_hint() names the limit that was hit (vm.max_map_count, RLIMIT_AS, or memory itself)
 * and what to raise.
 *
 * Stacks and memory: each task has a stack of corio_loop_opts_t.stack_size bytes plus two
 * pages (a guard page and the top page, which holds the task's control block). Stack
 * memory is committed only where it is touched: a parked task with shallow frames uses one
 * page. On Linux 6.13+ stacks are carved from large mappings whose guard pages do not split
 * them (MADV_GUARD_INSTALL), so a million tasks take about a thousand memory mappings;
 * before 6.13 each stack is a mapping of its own plus a guard, and vm.max_map_count
 * (65,530 by default) stops a process at about 32,000 tasks. A finished task's stack goes
 * back to the loop's pool: up to max_pooled_stacks stay resident for the next spawns; the
 * memory of any beyond that is returned to the kernel at once (MADV_DONTNEED) and the
 * address space kept for reuse. */
CORIO_API int corio_spawn(corio_loop_t *loop, void *(*fn)(void *), void *arg, corio_task_t **out);

/* Explains an error returned by corio_spawn on loop (NULL: the current loop), in one
 * sentence: for -ENOMEM, which limit the loop's last failed stack mapping ran into and what
 * to raise. Static string; never NULL. */
CORIO_API const char *corio_spawn_hint(const corio_loop_t *loop, int err);

/* The running task, or NULL outside a task. */
CORIO_API corio_task_t *corio_current(void);

/* Inside a task: waits for `task` to finish and releases it. *result (if not NULL) gets
 * fn's return value (NULL if the task was cancelled before it started). Returns 0,
 * -ECANCELED if `task` was cancelled (result still set) or the caller was cancelled while
 * waiting, -ETIMEDOUT if the caller's deadline expired (the handle stays valid: join
 * again later), -EDEADLK for the current task, -EINVAL for NULL, a detached task, a task
 * already joined or another joiner already waiting, -EPERM outside a task. */
CORIO_API int corio_join(corio_task_t *task, void **result);

/* Cancels a task: if it is waiting (on I/O, a sleep, a join, a future) the wait ends with
 * -ECANCELED (for I/O, once the kernel has given the operation back: a result that
 * arrived anyway is returned as is, so no data or fd is lost); from then on every
 * awaiting call in it returns -ECANCELED at once, so it unwinds by ordinary returns. A
 * task that has not started yet never runs. Returns 0; cancelling a finished or
 * already-cancelled task is harmless. -EINVAL for NULL. Loop thread only. */
CORIO_API int corio_cancel(corio_task_t *task);

/* Inside a task: joins each of tasks[0..n) in order. results (if not NULL) gets each
 * task's return value. Returns 0, or the first error corio_join gave (all tasks are
 * joined regardless, except after -ETIMEDOUT/-ECANCELED of the caller, when the rest
 * stay joinable). */
CORIO_API int corio_gather(corio_task_t **tasks, size_t n, void **results);

/* Inside a task: lets every other ready task and callback run, then continues. Outside a
 * task: does nothing. */
CORIO_API void corio_yield(void);

/* Inside a task: sleeps ns nanoseconds. Returns 0, -ECANCELED, -ETIMEDOUT if the task's
 * deadline comes first, -EPERM outside a task. Ten thousand sleeping tasks cost one
 * timer-heap entry each and one wait for the loop. */
CORIO_API int corio_sleep(uint64_t ns);

/* Inside a task: sleeps until the loop's clock (corio_loop_now) reaches `when`, in
 * absolute nanoseconds; a `when` already past yields once. Returns as corio_sleep does.
 * Use it for periodic work and for deadlines shared by many tasks, which corio_sleep
 * would shift by the time between reading the clock and sleeping. */
CORIO_API int corio_sleep_until(uint64_t when);

/* Inside a task: puts a deadline ns from now on every awaiting call until the matching
 * corio_timeout_end (like asyncio.timeout). Deadlines nest; the earliest wins. A call
 * whose deadline passes returns -ETIMEDOUT: the deadline is a timer in the loop's heap
 * while the call waits, and at expiry the call's I/O is cancelled (and its completion
 * still awaited). No SQE or kernel timer per call. Returns 0, -EPERM outside a task,
 * -E2BIG past 16 nested deadlines (no deadline is added). Every call made in a task, the
 * refused ones too, is ended by one corio_timeout_end, so begin/end pairs always balance:
 * the end of a refused begin removes nothing. */
CORIO_API int corio_timeout_begin(uint64_t ns);

/* Ends the innermost corio_timeout_begin of the current task (outside a task: nothing). */
CORIO_API void corio_timeout_end(void);

/* A one-shot result that bridges the modes: callback code (on the loop thread) resolves
 * it, tasks await it. Caller-owned; initialise with corio_future_init. It must outlive
 * every task awaiting it. */
typedef struct corio_future {
    /* private: */
    void *priv_value;
    void *priv_waiters;
    int priv_err;
    int priv_state;
} corio_future_t;

/* Initialises f as unresolved with no waiters, without reading what f held: for memory not
 * yet in use as a future. Returns 0, -EINVAL for NULL. To re-arm a future that may be in
 * use, call corio_future_reset. */
CORIO_API int corio_future_init(corio_future_t *f);

/* Makes an initialised future unresolved again (to use it for another round). Returns 0,
 * -EBUSY while tasks wait on it (nothing changes: resolve or reject it first, or they would
 * wait for ever), -EINVAL for NULL. */
CORIO_API int corio_future_reset(corio_future_t *f);

/* Resolves f with value and wakes every waiter. Returns 0, or -EALREADY if f was
 * already resolved or rejected. */
CORIO_API int corio_future_resolve(corio_future_t *f, void *value);

/* Rejects f with err (a negative errno) and wakes every waiter. Returns 0, -EINVAL if err
 * is not negative, -EALREADY if f was already resolved or rejected. */
CORIO_API int corio_future_reject(corio_future_t *f, int err);

/* True once f is resolved or rejected. */
CORIO_API bool corio_future_done(const corio_future_t *f);

/* Inside a task: waits until f is resolved or rejected. Returns 0 and sets *value (if
 * not NULL), the rejection error, -ECANCELED, -ETIMEDOUT, or -EPERM outside a task. */
CORIO_API int corio_future_await(corio_future_t *f, void **value);

/* ---- 5. await-style I/O --------------------------------------------------------------
 * Only inside a task: each call submits the same operation as its _cb form, parks the
 * calling task (other tasks keep running) and returns the result: >= 0 as documented for
 * the _cb form, or -errno. Also -EPERM outside a task (argument errors, which need no
 * task to find, are reported first), -ECANCELED once the task is cancelled, -ETIMEDOUT
 * when its deadline has passed. Buffers only need to live for the
 * duration of the call.
 *
 * What still acts in a cancelled task (or one past its deadline): corio_close (it closes
 * the fd at once), corio_multishot_stop (it waits for the op's end, which the kernel may
 * still write into), corio_timeout_end, and the calls that never wait: the sync.h
 * unlocks, releases, sets and try forms (corio_chan_try_send, corio_mutex_trylock, ...),
 * corio_spawn, corio_cancel, corio_call_soon.
 * Every other await call returns -ECANCELED (-ETIMEDOUT) without acting; flush or talk to
 * a peer before the cancel reaches the task, or close and let the peer see the end. */

CORIO_API int corio_nop(void);
CORIO_API ssize_t corio_read(int fd, void *buf, size_t len, int64_t off);
CORIO_API ssize_t corio_write(int fd, const void *buf, size_t len, int64_t off);
CORIO_API ssize_t corio_readv(int fd, const struct iovec *iov, int iovcnt, int64_t off);
CORIO_API ssize_t corio_writev(int fd, const struct iovec *iov, int iovcnt, int64_t off);
CORIO_API int corio_fsync(int fd);
CORIO_API int corio_fdatasync(int fd);
CORIO_API int corio_openat(int dirfd, const char *path, int flags, mode_t mode);
/* corio_close first cancels the ops in flight on fd (the tasks parked on it return
 * -ECANCELED; Linux 5.19+ on io_uring), then closes it, so its connection really ends:
 * after a plain close(2) those ops keep the file open and wait on. And it always closes:
 * in a task that was cancelled or whose deadline has passed (where every other call here
 * returns -ECANCELED / -ETIMEDOUT without acting) it closes at once, synchronously, and
 * returns 0 or close's -errno, so cleanup after a cancel leaks no fd. */
CORIO_API int corio_close(int fd);
CORIO_API int corio_statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *out);
CORIO_API int corio_socket(int domain, int type, int protocol);
/* flags as for corio_accept_cb (SOCK_CLOEXEC, SOCK_NONBLOCK; else -EINVAL). */
CORIO_API int corio_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags);
CORIO_API int corio_connect(int fd, const struct sockaddr *addr, socklen_t addrlen);
CORIO_API ssize_t corio_recv(int fd, void *buf, size_t len, int flags);
/* Receives into a buffer of br: returns the bytes received and sets *buf to the buffer
 * (give it back with corio_bufring_put), or returns 0 / -errno with *buf NULL. */
CORIO_API ssize_t corio_recv_bufring(int fd, corio_bufring_t *br, int flags, void **buf);
CORIO_API ssize_t corio_send(int fd, const void *buf, size_t len, int flags);
CORIO_API ssize_t corio_recvmsg(int fd, struct msghdr *msg, int flags);
CORIO_API ssize_t corio_sendmsg(int fd, const struct msghdr *msg, int flags);
CORIO_API int corio_shutdown(int fd, int how);
/* Returns the ready events. */
CORIO_API int corio_poll(int fd, unsigned events);

/* ---- 6. multishot ops in coroutine mode ----------------------------------------------
 * A multishot recv or accept started from a task keeps running in the kernel; each result
 * waits in the corio_multishot_t until a task takes it with corio_multishot_next, in the
 * order they arrived. One submission serves a whole connection (or listener), where a
 * loop of corio_recv calls submits one per message.
 *
 * The struct is caller-owned (a task's local variable is fine); zero it before its first
 * start (corio_multishot_t m = {0};). Once started it must be stopped with
 * corio_multishot_stop, even after it ended by itself (stop frees the queue and gives
 * back what was not taken), and before its memory goes away: a task that returns with a
 * multishot it started and did not stop is reported and the process aborts, as the
 * kernel could otherwise write into its freed stack. */

struct corio_multishot_result; /* private */

typedef struct corio_multishot {
    /* private: */
    corio_op_t priv_op;
    struct corio_multishot_result *priv_queue; /* accept: results not yet taken */
    unsigned priv_head, priv_len, priv_cap;    /* recv: head is a buffer id, cap unused */
    unsigned priv_tail;                        /* recv: the newest result's buffer id */
    int priv_end;      /* the result that ended it, once priv_running is false */
    bool priv_running; /* the op is in the kernel (its last completion has not come) */
    bool priv_started; /* started at least once: priv_end and the queue are meaningful */
    void *priv_waiter; /* the task parked in next or stop */
    void *priv_owner;  /* the task that started it */
} corio_multishot_t;

/* Inside a task: starts a multishot recv on fd into buffers of br. Results are bytes
 * received, each with its own buffer. Returns 0; -EINVAL (NULL m or br), -EBADF, -EBUSY
 * (m still running), -ENOMEM, -EOPNOTSUPP before Linux 6.0 (use corio_recv_bufring
 * there), -EPERM outside a task, -ECANCELED, -ESHUTDOWN. After any error but -EBUSY, m is
 * stopped: nothing to take, nothing to stop. A stopped or ended m may be started again
 * (e.g. after -ENOBUFS): results not taken yet are dropped first, as by
 * corio_multishot_stop. */
CORIO_API int corio_recv_multishot(corio_multishot_t *m, int fd, corio_bufring_t *br, int flags);

/* Inside a task: starts a multishot accept on listening fd; results are accepted fds
 * (flags as for corio_accept_cb: SOCK_NONBLOCK, SOCK_CLOEXEC, else -EINVAL). Returns as
 * corio_recv_multishot (-EOPNOTSUPP before Linux 5.19: use corio_accept there). */
CORIO_API int corio_accept_multishot(corio_multishot_t *m, int fd, int flags);

/* Inside a task: the next result, waiting for one if none has arrived.
 *   recv:   bytes received (> 0), with *buf set to the buffer holding them; it is yours
 *           until you give it back with corio_bufring_put.
 *   accept: an accepted fd (buf may be NULL); yours to close.
 * For a recv, buf must not be NULL (-EINVAL): a result is never dropped for want of it.
 * Once every result is taken, the result that ended the op, again on every call: 0 (recv:
 * the peer closed), -ENOBUFS (br ran dry: put buffers back and start again), -EAGAIN (the
 * kernel stopped it early: start again), -ECANCELED (stopped), or the error. *buf is NULL
 * whenever the return is not a byte count. Also -EINVAL (m NULL, never started or stopped),
 * -EBUSY (another task is waiting on m), -EPERM outside a task, -ECANCELED once the
 * caller is cancelled and -ETIMEDOUT at its deadline; in these cases the op keeps
 * running and no result is lost. */
CORIO_API ssize_t corio_multishot_next(corio_multishot_t *m, void **buf);

/* How many results are queued in m, not yet taken (0 for NULL). A task that cannot keep
 * up (say, its peer does not read what it sends) can pause with corio_multishot_cancel
 * when this grows, and start again once it has taken them. */
CORIO_API unsigned corio_multishot_pending(const corio_multishot_t *m);

/* Asks the kernel to end m without waiting and without dropping anything: the results
 * already received stay queued for corio_multishot_next, which then returns -ECANCELED
 * (or the error or end of stream that came first). Returns 0 (also when m is not
 * running), -EINVAL for NULL. From a task or a callback on the loop's thread. */
CORIO_API int corio_multishot_cancel(corio_multishot_t *m);

/* Stops m: cancels the op, waits for its last completion, and drops the results not
 * taken (recv: buffers go back to br; accept: fds are closed). It waits even if the
 * calling task is cancelled, as the kernel may write into m until then. Returns 0
 * (also for an m already stopped or ended), -EINVAL for NULL, -EPERM outside a task when
 * it would have to wait, -EBUSY while another task waits on m in corio_multishot_next. */
CORIO_API int corio_multishot_stop(corio_multishot_t *m);

#ifdef __cplusplus
}
#endif

#include <corio/sync.h> /* channel, event, semaphore, mutex, wait group */
/* a thread pool for blocking work; listen, dial, name resolution, socket options */
#include <corio/executor.h>
#include <corio/net.h>
#include <corio/process.h> /* subprocesses: spawn, pipes, wait */
#include <corio/signal.h>  /* waiting for POSIX signals */
#include <corio/stream.h>  /* buffered reader and writer over an fd */

#endif
