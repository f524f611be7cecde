/* The epoll backend, for machines where io_uring is blocked or absent (a seccomp profile,
 * kernel.io_uring_disabled, an old kernel). Every op corio has, with io_uring's results
 * and errors, from readiness plus non-blocking system calls:
 * - sockets, pipes, eventfds and the like: the call is tried at once (MSG_DONTWAIT,
 *   RWF_NOWAIT); on EAGAIN the request waits on its fd, which is in the epoll set
 *   (edge-triggered, in and out), and is retried when the fd's readiness changes;
 * - regular files, and fsync, openat and statx: a RWF_NOWAIT read or write first (served
 *   from the page cache), else the blocking call on an executor worker, as libuv does;
 * - timeouts: a heap of their own, bounding epoll_pwait2's timeout;
 * - cancel: a waiting request is withdrawn and completes with -ECANCELED at once; one on
 *   a worker runs to its end (its buffers are the worker's until then) and completes with
 *   its result, as io_uring does for work it cannot stop.
 * Completions are queued in order and delivered like io_uring's: never from inside the
 * call that queued the op. */
#include "backend.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_EVENTS 1024
/* epoll data of the eventfd that workers write when file ops finish. */
#define JOBS_EVENT UINT64_MAX
/* attempt()'s answer for ops that always go to a worker. */
#define NEEDS_WORKER INT32_MIN

enum { DIR_IN = 1, DIR_OUT = 2 };
enum req_where { AT_NONE, AT_FD, AT_TIMER, AT_WORKER };

/* A request the backend holds: the op's description, copied, and where it waits. */
struct req {
    uint64_t ud;
    struct req *next;             /* its fd's wait list, the free list, or the finished-jobs list */
    struct req *hnext;            /* its hash chain (by ud), while it can be cancelled */
    struct corio_heap_node tnode; /* a timeout's place in the heap */
    struct corio_epoll *ep;
    void *addr, *addr2;
    uint64_t off; /* the offset; a timeout's length in ns */
    uint32_t len, flags;
    int fd;
    int res;      /* a worker's result */
    int saved_fl; /* connect: the fd's file flags to put back, -1 if unchanged */
    uint8_t kind, where, dir;
    bool in_hash;
    bool cancelled;  /* a cancel came while a worker ran it */
    bool connecting; /* connect: EINPROGRESS seen, waiting for the outcome */
    bool blocking;   /* the fd has no RWF_NOWAIT: the plain call, once poll says ready */
    bool fifo;       /* ... and it is a fifo: writes go PIPE_BUF at a time (fifo_write) */
};

struct fd_entry {
    struct req *head, *tail; /* requests waiting on the fd, in arrival order */
};

struct corio_epoll {
    int epfd;
    int jobs_fd; /* eventfd the workers write when a job finishes */
    struct fd_entry *fds;
    unsigned nfds;
    struct req **buckets; /* hash of waiting requests by ud */
    unsigned nbuckets, nhashed;
    struct corio_heap timers;
    struct corio_cqe *cq; /* completions not yet delivered: a ring, cq_cap a power of 2 */
    unsigned cq_head, cq_len, cq_cap;
    struct req *free_reqs;
    unsigned workers_busy; /* requests on workers (loop thread's count) */
    pthread_mutex_t done_lock;
    struct req *done; /* finished on workers, not yet collected (guarded by done_lock) */
    uint64_t enters, submitted, completions;
};

/* ---- requests, the hash, the completion queue --------------------------------------- */

/* A request for the description d, from the free list (which corio_epoll_queue keeps
 * non-empty before it tries a call). */
static struct req *req_take(struct corio_epoll *ep, const struct req *d)
{
    struct req *r = ep->free_reqs;
    ep->free_reqs = r->next;
    *r = *d;
    return r;
}

static void req_free(struct corio_epoll *ep, struct req *r)
{
    r->next = ep->free_reqs;
    ep->free_reqs = r;
}

static unsigned bucket_of(const struct corio_epoll *ep, uint64_t ud)
{
    return (unsigned)((ud >> 3) * 0x9e3779b97f4a7c15ull >> 32) & (ep->nbuckets - 1);
}

/* Never fails: when a bigger table cannot be had, the chains just get longer. */
static void hash_add(struct corio_epoll *ep, struct req *r)
{
    if (ep->nhashed >= ep->nbuckets) {
        unsigned n = ep->nbuckets * 2;
        struct req **b = corio_calloc(n, sizeof *b);
        if (b != NULL) {
            struct req **old = ep->buckets;
            unsigned nold = ep->nbuckets;
            ep->buckets = b;
            ep->nbuckets = n;
            for (unsigned i = 0; i < nold; i++)
                for (struct req *q = old[i], *next; q != NULL; q = next) {
                    next = q->hnext;
                    unsigned k = bucket_of(ep, q->ud);
                    q->hnext = b[k];
                    b[k] = q;
                }
            free(old);
        }
    }
    unsigned k = bucket_of(ep, r->ud);
    r->hnext = ep->buckets[k];
    ep->buckets[k] = r;
    r->in_hash = true;
    ep->nhashed++;
}

static void hash_del(struct corio_epoll *ep, struct req *r)
{
    if (!r->in_hash)
        return;
    struct req **p = &ep->buckets[bucket_of(ep, r->ud)];
    while (*p != r)
        p = &(*p)->hnext;
    *p = r->hnext;
    r->in_hash = false;
    ep->nhashed--;
}

static struct req *hash_find(const struct corio_epoll *ep, uint64_t ud)
{
    struct req *r = ep->buckets[bucket_of(ep, ud)];
    while (r != NULL && r->ud != ud)
        r = r->hnext;
    return r;
}

/* Queues a completion. The only failure is memory for a bigger queue: the completion
 * must not be lost, so that aborts with a message (it is a few bytes per op in flight). */
static void post(struct corio_epoll *ep, uint64_t ud, int res, unsigned flags)
{
    if (ep->cq_len == ep->cq_cap) {
        unsigned cap = ep->cq_cap ? ep->cq_cap * 2 : 256;
        struct corio_cqe *q = malloc(cap * sizeof *q);
        if (q == NULL)
            corio_panic("corio: out of memory for the epoll backend's completion queue");
        for (unsigned i = 0; i < ep->cq_len; i++)
            q[i] = ep->cq[(ep->cq_head + i) & (ep->cq_cap - 1)];
        free(ep->cq);
        ep->cq = q;
        ep->cq_cap = cap;
        ep->cq_head = 0;
    }
    if (corio_ud_is_user_op(ud))
        (void)corio_fault_hit(CORIO_FAULT_CQE_RES, &res);
    ep->cq[(ep->cq_head + ep->cq_len++) & (ep->cq_cap - 1)] =
        (struct corio_cqe){.user_data = ud, .res = res, .flags = flags};
}

static void restore_flags(struct req *r)
{
    if (r->saved_fl >= 0) {
        (void)fcntl(r->fd, F_SETFL, r->saved_fl);
        r->saved_fl = -1;
    }
}

/* The request's last completion: posted, and the request released. */
static void finish(struct corio_epoll *ep, struct req *r, int res)
{
    restore_flags(r);
    hash_del(ep, r);
    post(ep, r->ud, res, 0);
    req_free(ep, r);
}

/* ---- the fd table --------------------------------------------------------------------- */

static struct fd_entry *fd_entry(struct corio_epoll *ep, int fd)
{
    if ((unsigned)fd >= ep->nfds) {
        unsigned n = ep->nfds ? ep->nfds : 64;
        while (n <= (unsigned)fd)
            n *= 2;
        struct fd_entry *t = corio_realloc(ep->fds, n * sizeof *t);
        if (t == NULL)
            return NULL;
        memset(t + ep->nfds, 0, (n - ep->nfds) * sizeof *t);
        ep->fds = t;
        ep->nfds = n;
    }
    return &ep->fds[fd];
}

static void unlink_waiter(struct fd_entry *e, struct req *r)
{
    struct req **p = &e->head, *prev = NULL;
    while (*p != r) {
        prev = *p;
        p = &(*p)->next;
    }
    *p = r->next;
    if (e->tail == r)
        e->tail = prev;
}

/* ---- the system calls ------------------------------------------------------------------ */

/* Most a fifo_write writes in one call, so that a reader draining the fifo as fast on
 * another thread cannot keep the loop here. */
#define FIFO_WRITE_MAX (256 * 1024)

/* A write to a fifo without RWF_NOWAIT. One plain write of more than the pipe has room
 * for would block the loop's thread until a reader made room: forever when the reader is
 * a task of this loop. POLLOUT means the pipe has a free slot, and a write of at most
 * PIPE_BUF bytes always fits in one (it fills or merges into a single page): so it writes
 * PIPE_BUF at a time while poll says there is room, and returns what it wrote (a short
 * write, as io_uring's is too), or -EAGAIN when nothing could be. */
static int fifo_write(struct req *r, const struct iovec *iov, int cnt)
{
    size_t done = 0, at = 0; /* at: bytes of iov[i] already written */
    int i = 0;
    while (done < FIFO_WRITE_MAX) {
        while (i < cnt && at == iov[i].iov_len) {
            i++;
            at = 0;
        }
        if (i == cnt)
            break;
        struct pollfd p = {.fd = r->fd, .events = POLLOUT};
        if (poll(&p, 1, 0) == 0)
            break;
        struct iovec chunk[8];
        int k = 0;
        size_t len = 0;
        for (int j = i; j < cnt && k < 8 && len < PIPE_BUF; j++) {
            size_t from = j == i ? at : 0;
            size_t n = iov[j].iov_len - from;
            if (n > PIPE_BUF - len)
                n = PIPE_BUF - len;
            if (n > 0) {
                chunk[k++] =
                    (struct iovec){.iov_base = (char *)iov[j].iov_base + from, .iov_len = n};
                len += n;
            }
        }
        ssize_t n = writev(r->fd, chunk, k);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (done > 0)
                break; /* the error comes again on the next call */
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        }
        done += (size_t)n;
        for (size_t adv = (size_t)n; adv > 0;) {
            size_t left = iov[i].iov_len - at;
            if (adv < left) {
                at += adv;
                adv = 0;
            } else {
                adv -= left;
                i++;
                at = 0;
            }
        }
        if ((size_t)n < len)
            break;
    }
    if (done > 0)
        return (int)done;
    while (i < cnt && iov[i].iov_len == 0)
        i++;
    return i == cnt ? 0 : -EAGAIN; /* nothing to write at all: 0, as write(2) gives */
}

/* Reads or writes without blocking (RWF_NOWAIT). An fd that has no RWF_NOWAIT (a named
 * fifo, a tty) is read or written plainly once poll says it is ready, now or after each
 * readiness change, since an edge seen while nobody waited comes only once (a fifo's
 * writes through fifo_write); a file of that kind goes to a worker. off -1 is the current
 * position, as for io_uring, and a stream (pipe, socket) ignores the offset as io_uring
 * does. */
static int rw(struct req *r, const struct iovec *iov, int cnt, bool write)
{
    off_t off = (off_t)r->off;
    for (;;) {
        if (r->blocking && write && r->fifo)
            return fifo_write(r, iov, cnt);
        if (r->blocking) {
            struct pollfd p = {.fd = r->fd, .events = write ? POLLOUT : POLLIN};
            if (poll(&p, 1, 0) == 0)
                return -EAGAIN;
        }
        int fl = r->blocking ? 0 : RWF_NOWAIT;
        ssize_t n = write ? pwritev2(r->fd, iov, cnt, off, fl) : preadv2(r->fd, iov, cnt, off, fl);
        if (n >= 0)
            return (int)n;
        if (errno == ESPIPE && off != -1) {
            off = -1;
        } else if (errno == EOPNOTSUPP && fl != 0) {
            struct stat st;
            bool known = fstat(r->fd, &st) == 0;
            if (known && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)))
                return NEEDS_WORKER;
            r->blocking = true;
            r->fifo = known && S_ISFIFO(st.st_mode);
        } else if (errno != EINTR) {
            return -errno;
        }
    }
}

static int set_nonblocking(struct req *r, bool restore_after)
{
    int fl = fcntl(r->fd, F_GETFL);
    if (fl < 0)
        return -errno;
    if (!(fl & O_NONBLOCK)) {
        if (fcntl(r->fd, F_SETFL, fl | O_NONBLOCK) < 0)
            return -errno;
        if (restore_after)
            r->saved_fl = fl;
    }
    return 0;
}

static int do_connect(struct req *r)
{
    if (r->connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            return -errno;
        if (err == 0) {
            /* SO_ERROR is 0 while the attempt is still going as well as once it has
             * succeeded: only a connected socket has a peer. */
            struct sockaddr_storage ss;
            socklen_t sl = sizeof ss;
            if (getpeername(r->fd, (struct sockaddr *)&ss, &sl) < 0)
                return errno == ENOTCONN ? -EAGAIN : -errno;
        }
        return -err;
    }
    int err = set_nonblocking(r, true);
    if (err < 0)
        return err;
    if (connect(r->fd, r->addr, r->len) == 0)
        return 0;
    if (errno == EINPROGRESS) {
        r->connecting = true;
        return -EAGAIN;
    }
    return -errno; /* EAGAIN (a Unix socket's full backlog) is retried like the rest */
}

static int do_poll(struct req *r)
{
    struct pollfd p = {.fd = r->fd, .events = (short)r->flags};
    int n = poll(&p, 1, 0);
    if (n < 0)
        return -errno;
    if (p.revents & POLLNVAL)
        return -EBADF;
    if (n == 0)
        return -EAGAIN;
    return p.revents & (short)(r->flags | POLLERR | POLLHUP);
}

static void fail_waiters(struct corio_epoll *ep, int fd, int res);
static int accept_all(struct corio_epoll *ep, struct req *r);

/* What corio_close does on io_uring (cancel the fd's ops, then close), plus forgetting
 * the fd. */
static int do_close(struct corio_epoll *ep, int fd)
{
    fail_waiters(ep, fd, -ECANCELED);
    (void)epoll_ctl(ep->epfd, EPOLL_CTL_DEL, fd, NULL);
    return close(fd) == 0 || errno == EINTR ? 0 : -errno;
}

/* One try of the op's system call: its result, -EAGAIN when it must wait for readiness
 * in r->dir, or NEEDS_WORKER. */
static int attempt(struct corio_epoll *ep, struct req *r)
{
    ssize_t n;
    switch ((enum corio_op_kind)r->kind) {
    case CORIO_OP_NOP:
        return 0;
    case CORIO_OP_READ:
    case CORIO_OP_WRITE: {
        struct iovec v = {.iov_base = r->addr, .iov_len = r->len};
        r->dir = r->kind == CORIO_OP_READ ? DIR_IN : DIR_OUT;
        return rw(r, &v, 1, r->kind == CORIO_OP_WRITE);
    }
    case CORIO_OP_READV:
    case CORIO_OP_WRITEV:
        r->dir = r->kind == CORIO_OP_READV ? DIR_IN : DIR_OUT;
        return rw(r, r->addr, (int)r->len, r->kind == CORIO_OP_WRITEV);
    case CORIO_OP_RECV:
        r->dir = DIR_IN;
        n = recv(r->fd, r->addr, r->len, (int)r->flags | MSG_DONTWAIT);
        break;
    case CORIO_OP_SEND:
        r->dir = DIR_OUT;
        n = send(r->fd, r->addr, r->len, (int)r->flags | MSG_DONTWAIT);
        break;
    case CORIO_OP_RECVMSG:
        r->dir = DIR_IN;
        n = recvmsg(r->fd, r->addr, (int)r->flags | MSG_DONTWAIT);
        break;
    case CORIO_OP_SENDMSG:
        r->dir = DIR_OUT;
        n = sendmsg(r->fd, r->addr, (int)r->flags | MSG_DONTWAIT);
        break;
    case CORIO_OP_ACCEPT: {
        r->dir = DIR_IN;
        int err = set_nonblocking(r, false);
        if (err < 0)
            return err;
        n = accept4(r->fd, r->addr, r->addr2, (int)r->flags);
        break;
    }
    case CORIO_OP_ACCEPT_MULTI: {
        r->dir = DIR_IN;
        int err = set_nonblocking(r, false);
        return err < 0 ? err : accept_all(ep, r);
    }
    case CORIO_OP_CONNECT:
        r->dir = DIR_OUT;
        return do_connect(r);
    case CORIO_OP_SOCKET: /* fd: the domain, off: the type, len: the protocol */
        n = socket(r->fd, (int)r->off, (int)r->len);
        break;
    case CORIO_OP_SHUTDOWN:
        n = shutdown(r->fd, (int)r->flags);
        break;
    case CORIO_OP_CLOSE:
        return do_close(ep, r->fd);
    case CORIO_OP_POLL:
        r->dir = 0;
        if (r->flags & (POLLIN | POLLPRI | POLLRDHUP | POLLRDNORM))
            r->dir |= DIR_IN;
        if (r->flags & (POLLOUT | POLLWRNORM))
            r->dir |= DIR_OUT;
        if (r->dir == 0)
            r->dir = DIR_IN | DIR_OUT; /* only errors or hang-ups asked for */
        return do_poll(r);
    case CORIO_OP_FSYNC:
    case CORIO_OP_OPENAT:
    case CORIO_OP_STATX:
        return NEEDS_WORKER;
    default:
        return -EOPNOTSUPP; /* buffer rings: never described on this backend */
    }
    if (n >= 0)
        return (int)n;
    return errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

/* ---- workers ---------------------------------------------------------------------------- */

/* The blocking form of an op, on a worker. */
static void *worker_run(void *arg)
{
    struct req *r = arg;
    int res;
    switch ((enum corio_op_kind)r->kind) {
    case CORIO_OP_FSYNC:
        res = (r->flags & 1u) ? fdatasync(r->fd) : fsync(r->fd);
        break;
    case CORIO_OP_OPENAT:
        res = openat(r->fd, r->addr, (int)r->flags, (mode_t)r->off);
        break;
    case CORIO_OP_STATX:
        res = statx(r->fd, r->addr, (int)r->flags, r->len, r->addr2);
        break;
    default: {
        bool write = r->kind == CORIO_OP_WRITE || r->kind == CORIO_OP_WRITEV;
        struct iovec one = {.iov_base = r->addr, .iov_len = r->len};
        const struct iovec *iov = &one;
        int cnt = 1;
        if (r->kind == CORIO_OP_READV || r->kind == CORIO_OP_WRITEV) {
            iov = r->addr;
            cnt = (int)r->len;
        }
        off_t off = (off_t)r->off;
        ssize_t n;
        do { /* the v2 calls: only they take -1 for the current position */
            n = write ? pwritev2(r->fd, iov, cnt, off, 0) : preadv2(r->fd, iov, cnt, off, 0);
            if (n < 0 && errno == ESPIPE && off != -1) {
                off = -1;
                errno = EINTR;
            }
        } while (n < 0 && errno == EINTR);
        res = n < 0 ? -1 : (int)n;
        break;
    }
    }
    r->res = res < 0 ? -errno : res;
    return NULL;
}

/* On the worker, after worker_run: hands the request back to the loop thread. */
static void worker_done(void *arg, void *unused)
{
    (void)unused;
    struct req *r = arg;
    struct corio_epoll *ep = r->ep;
    pthread_mutex_lock(&ep->done_lock);
    bool first = ep->done == NULL;
    r->next = ep->done;
    ep->done = r;
    pthread_mutex_unlock(&ep->done_lock);
    if (first) {
        uint64_t one = 1;
        ssize_t ignored = write(ep->jobs_fd, &one, sizeof one);
        (void)ignored; /* fails only when the counter is full: the loop is awake anyway */
    }
}

/* Makes a request that waits findable by a cancel. */
static void track(struct corio_epoll *ep, struct req *r)
{
    if (!r->in_hash)
        hash_add(ep, r);
}

static void to_worker(struct corio_epoll *ep, struct req *r)
{
    track(ep, r);
    r->where = AT_WORKER;
    int err = corio_executor_submit_detached(worker_run, r, worker_done);
    if (err < 0) {
        finish(ep, r, err);
        return;
    }
    ep->workers_busy++;
}

/* Completes what the workers finished, in the order they finished. */
static void collect_workers(struct corio_epoll *ep)
{
    uint64_t count;
    ssize_t ignored = read(ep->jobs_fd, &count, sizeof count);
    (void)ignored;
    pthread_mutex_lock(&ep->done_lock);
    struct req *list = ep->done;
    ep->done = NULL;
    pthread_mutex_unlock(&ep->done_lock);
    struct req *rev = NULL; /* pushed newest first: reverse */
    while (list != NULL) {
        struct req *next = list->next;
        list->next = rev;
        rev = list;
        list = next;
    }
    while (rev != NULL) {
        struct req *next = rev->next;
        ep->workers_busy--;
        finish(ep, rev, rev->res);
        rev = next;
    }
}

/* ---- waiting on fds ---------------------------------------------------------------------- */

/* Puts r on its fd's wait list (whose entry exists), the fd in the epoll set. Adding it on every
 * wait, not once, is what keeps this right when the program closes an fd with close(2) and the
 * number comes back for another file: the set forgets a closed file by itself, and an
 * add of one already there fails with EEXIST, which is fine. */
static void wait_on_fd(struct corio_epoll *ep, struct req *r)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                             .data.u64 = (uint64_t)r->fd};
    int rc = epoll_ctl(ep->epfd, EPOLL_CTL_ADD, r->fd, &ev);
    if (rc < 0 && errno != EEXIST) {
        if (errno == EPERM) { /* a regular file: it is never "not ready", just slow */
            to_worker(ep, r);
            return;
        }
        finish(ep, r, -errno);
        return;
    }
    /* Added anew although requests wait on the fd: the file they wait on was closed with
     * close(2) and the number now names another, whose readiness is not theirs. */
    if (rc == 0)
        fail_waiters(ep, r->fd, -EBADF);
    struct fd_entry *e = &ep->fds[r->fd]; /* made room for by corio_epoll_queue */
    track(ep, r);
    r->where = AT_FD;
    r->next = NULL;
    if (e->tail != NULL)
        e->tail->next = r;
    else
        e->head = r;
    e->tail = r;
}

/* Multishot accept: every connection waiting is accepted and posted (more to come).
 * Returns -EAGAIN once the queue is empty (it waits again), or the error that ends it. */
static int accept_all(struct corio_epoll *ep, struct req *r)
{
    for (;;) {
        int fd = accept4(r->fd, NULL, NULL, (int)r->flags);
        if (fd >= 0)
            post(ep, r->ud, fd, CORIO_CQE_F_MORE);
        else if (errno != EINTR && errno != ECONNABORTED)
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
}

/* Starts the op described by d (on the caller's stack): tried at once, and only if it
 * must wait, a request is taken and waits on its fd, on a worker or in the timer heap. */
static void start(struct corio_epoll *ep, struct req *d)
{
    if (d->kind == CORIO_OP_TIMEOUT) {
        struct req *r = req_take(ep, d);
        track(ep, r);
        r->where = AT_TIMER;
        uint64_t now = corio_clock_ns();
        corio_heap_insert(&ep->timers, &r->tnode,
                          r->off > UINT64_MAX - now ? UINT64_MAX : now + r->off);
        return;
    }
    int res = attempt(ep, d);
    if (res == NEEDS_WORKER) {
        to_worker(ep, req_take(ep, d));
    } else if (res == -EAGAIN) {
        wait_on_fd(ep, req_take(ep, d));
    } else {
        restore_flags(d);
        post(ep, d->ud, res, 0);
    }
}

/* The fd's readiness changed: retries its waiters that wait for it, in order. Once one
 * is told EAGAIN, the rest waiting the same way are not tried. */
static void fd_ready(struct corio_epoll *ep, int fd, uint32_t events)
{
    if ((unsigned)fd >= ep->nfds)
        return;
    struct fd_entry *e = &ep->fds[fd];
    unsigned ready = 0;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        ready |= DIR_IN;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        ready |= DIR_OUT;
    struct req *r = e->head;
    while (r != NULL && ready != 0) {
        struct req *next = r->next;
        if (r->dir & ready) {
            int res = attempt(ep, r);
            if (res == -EAGAIN) {
                ready &= ~(unsigned)r->dir;
            } else {
                unlink_waiter(e, r);
                if (res == NEEDS_WORKER)
                    to_worker(ep, r);
                else
                    finish(ep, r, res);
            }
        }
        r = next;
    }
}

static void fail_waiters(struct corio_epoll *ep, int fd, int res)
{
    if ((unsigned)fd >= ep->nfds)
        return;
    struct fd_entry *e = &ep->fds[fd];
    struct req *r = e->head;
    e->head = e->tail = NULL;
    while (r != NULL) {
        struct req *next = r->next;
        finish(ep, r, res);
        r = next;
    }
}

/* ---- the interface ---------------------------------------------------------------------- */

int corio_epoll_init(struct corio_epoll **out, const corio_loop_opts_t *opts)
{
    (void)opts; /* sizes are io_uring's; this backend grows as needed */
    struct corio_epoll *ep = corio_calloc(1, sizeof *ep);
    if (ep == NULL)
        return -ENOMEM;
    ep->jobs_fd = -1;
    ep->nbuckets = 64;
    ep->buckets = corio_calloc(ep->nbuckets, sizeof *ep->buckets);
    if (ep->buckets == NULL) {
        free(ep);
        return -ENOMEM;
    }
    ep->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (ep->epfd < 0)
        goto fail;
    ep->jobs_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ep->jobs_fd < 0)
        goto fail;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = JOBS_EVENT};
    if (epoll_ctl(ep->epfd, EPOLL_CTL_ADD, ep->jobs_fd, &ev) < 0)
        goto fail;
    pthread_mutex_init(&ep->done_lock, NULL);
    corio_heap_init(&ep->timers);
    *out = ep;
    return 0;
fail:;
    int err = -errno;
    if (ep->epfd >= 0)
        close(ep->epfd);
    if (ep->jobs_fd >= 0)
        close(ep->jobs_fd);
    free(ep->buckets);
    free(ep);
    return err;
}

void corio_epoll_exit(struct corio_epoll *ep)
{
    if (ep == NULL)
        return;
    /* The loop drained every user op; what is left is the loop's own (its eventfd read)
     * and, if a drain failed, work still on workers, which must not outlive ep. */
    while (ep->workers_busy > 0) {
        struct pollfd p = {.fd = ep->jobs_fd, .events = POLLIN};
        (void)poll(&p, 1, -1);
        collect_workers(ep);
    }
    for (unsigned i = 0; i < ep->nbuckets; i++)
        for (struct req *r = ep->buckets[i], *next; r != NULL; r = next) {
            next = r->hnext;
            free(r);
        }
    for (struct req *r = ep->free_reqs, *next; r != NULL; r = next) {
        next = r->next;
        free(r);
    }
    close(ep->epfd);
    close(ep->jobs_fd);
    pthread_mutex_destroy(&ep->done_lock);
    free(ep->buckets);
    free(ep->fds);
    free(ep->cq);
    free(ep);
}

/* Whether an op of this kind may wait for its fd's readiness. */
static bool waits_on_fd(uint8_t kind)
{
    switch ((enum corio_op_kind)kind) {
    case CORIO_OP_NOP:
    case CORIO_OP_SOCKET:
    case CORIO_OP_SHUTDOWN:
    case CORIO_OP_CLOSE:
    case CORIO_OP_TIMEOUT:
    case CORIO_OP_FSYNC:
    case CORIO_OP_OPENAT:
    case CORIO_OP_STATX:
        return false;
    default:
        return true;
    }
}

/* Starts the op described by d. What a wait needs is allocated first, so that once the
 * call is tried (it may have acted: an accept, a connect), the request can always wait. */
static int queue(struct corio_epoll *ep, struct req *d)
{
    ep->submitted++;
    if (ep->free_reqs == NULL) {
        struct req *r = corio_malloc(sizeof *r);
        if (r == NULL)
            return -ENOMEM;
        req_free(ep, r);
    }
    if (waits_on_fd(d->kind) && (unsigned)d->fd >= ep->nfds) {
        /* A number past the table's end may not be an fd at all: the table is not grown
         * for one (-EBADF, as io_uring says). */
        if (fcntl(d->fd, F_GETFD) < 0) {
            post(ep, d->ud, -errno, 0);
            return 0;
        }
        if (fd_entry(ep, d->fd) == NULL)
            return -ENOMEM;
    }
    start(ep, d);
    return 0;
}

/* The short-transfer fault point: a read, write, recv or send of the user's asks for
 * half. */
static void maybe_short(struct req *d)
{
    if (d->len > 1 &&
        (d->kind == CORIO_OP_READ || d->kind == CORIO_OP_WRITE || d->kind == CORIO_OP_RECV ||
         d->kind == CORIO_OP_SEND) &&
        corio_fault_hit(CORIO_FAULT_SHORT, NULL))
        d->len /= 2;
}

int corio_epoll_queue(struct corio_epoll *ep, const corio_op_t *op, uint64_t ud)
{
    struct req d = {.ud = ud,
                    .ep = ep,
                    .addr = op->priv_addr,
                    .addr2 = op->priv_addr2,
                    .off = op->priv_off,
                    .len = op->priv_len,
                    .flags = op->priv_op_flags,
                    .fd = op->priv_fd,
                    .saved_fl = -1,
                    .kind = op->priv_kind};
    if (d.kind == CORIO_OP_TIMEOUT)
        d.off = (uint64_t)op->priv_ts[0] * 1000000000u + (uint64_t)op->priv_ts[1];
    else if (!(op->priv_bits & CORIO_OPB_INTERNAL))
        maybe_short(&d);
    return queue(ep, &d);
}

int corio_epoll_queue_rw(struct corio_epoll *ep, enum corio_op_kind kind, int fd, void *buf,
                         unsigned len, uint64_t off, unsigned flags, uint64_t ud)
{
    struct req d = {.ud = ud,
                    .ep = ep,
                    .addr = buf,
                    .off = off,
                    .len = len,
                    .flags = flags,
                    .fd = fd,
                    .saved_fl = -1,
                    .kind = (uint8_t)kind};
    maybe_short(&d);
    return queue(ep, &d);
}

/* Withdraws a request from wherever it waits; one on a worker finishes there first. */
static void cancel(struct corio_epoll *ep, struct req *r)
{
    switch (r->where) {
    case AT_FD:
        unlink_waiter(&ep->fds[r->fd], r);
        finish(ep, r, -ECANCELED);
        break;
    case AT_TIMER:
        corio_heap_remove(&ep->timers, &r->tnode);
        finish(ep, r, -ECANCELED);
        break;
    case AT_WORKER:
        r->cancelled = true;
        break;
    default:
        break;
    }
}

int corio_epoll_queue_cancel(struct corio_epoll *ep, uint64_t ud)
{
    ep->submitted++;
    if (ud != 0) {
        struct req *r = hash_find(ep, ud);
        if (r != NULL)
            cancel(ep, r);
        return 0;
    }
    for (unsigned i = 0; i < ep->nbuckets; i++) {
        struct req *r = ep->buckets[i];
        while (r != NULL) {
            struct req *next = r->hnext; /* cancel() may take r out of this chain */
            if (!r->cancelled)
                cancel(ep, r);
            r = next;
        }
    }
    return 0;
}

static void fire_timeouts(struct corio_epoll *ep)
{
    uint64_t now = corio_clock_ns();
    struct corio_heap_node *n;
    while ((n = corio_heap_min(&ep->timers)) != NULL && n->when <= now) {
        corio_heap_remove(&ep->timers, n);
        finish(ep, corio_container_of(n, struct req, tnode), -ETIME);
    }
}

static int wait_events(struct corio_epoll *ep, struct epoll_event *evs, uint64_t timeout_ns)
{
    struct timespec ts = {.tv_sec = (time_t)(timeout_ns / 1000000000u),
                          .tv_nsec = (long)(timeout_ns % 1000000000u)};
    int n = epoll_pwait2(ep->epfd, evs, MAX_EVENTS, timeout_ns == UINT64_MAX ? NULL : &ts, NULL);
    if (n < 0 && errno == ENOSYS) { /* before 5.11: milliseconds, rounded up */
        int ms = timeout_ns == UINT64_MAX            ? -1
                 : timeout_ns > 1000000000ull * 3600 ? 3600 * 1000
                                                     : (int)((timeout_ns + 999999) / 1000000);
        n = epoll_wait(ep->epfd, evs, MAX_EVENTS, ms);
    }
    return n;
}

int corio_epoll_submit_wait(struct corio_epoll *ep, uint64_t timeout_ns)
{
    int rc = 0;
    if (corio_fault_hit(CORIO_FAULT_SUBMIT, &rc))
        return rc >= 0 || rc == -EINTR || rc == -EAGAIN || rc == -EBUSY ? 0 : rc;
    if (ep->cq_len > 0)
        timeout_ns = 0; /* completions are already waiting to be delivered */
    const struct corio_heap_node *t = corio_heap_min(&ep->timers);
    if (t != NULL && timeout_ns != 0) {
        uint64_t now = corio_clock_ns();
        uint64_t left = t->when > now ? t->when - now : 0;
        if (left < timeout_ns)
            timeout_ns = left;
    }
    struct epoll_event evs[MAX_EVENTS];
    int n = wait_events(ep, evs, timeout_ns);
    ep->enters++;
    if (n < 0 && errno != EINTR)
        return -errno;
    for (int i = 0; i < n; i++) {
        if (evs[i].data.u64 == JOBS_EVENT)
            collect_workers(ep);
        else
            fd_ready(ep, (int)evs[i].data.u64, evs[i].events);
    }
    if (corio_heap_min(&ep->timers) != NULL)
        fire_timeouts(ep);
    return 0;
}

unsigned corio_epoll_deliver(corio_loop_t *loop, struct corio_epoll *ep, unsigned max)
{
    struct corio_cqe batch[CORIO_REAP_BATCH];
    if (max > CORIO_REAP_BATCH)
        max = CORIO_REAP_BATCH;
    unsigned n = ep->cq_len < max ? ep->cq_len : max;
    for (unsigned i = 0; i < n; i++)
        batch[i] = ep->cq[(ep->cq_head + i) & (ep->cq_cap - 1)];
    ep->cq_head = (ep->cq_head + n) & (ep->cq_cap ? ep->cq_cap - 1 : 0);
    ep->cq_len -= n;
    ep->completions += n;
    corio_op_deliver(loop, batch, n);
    return n;
}

int corio_epoll_close_now(struct corio_epoll *ep, int fd)
{
    return do_close(ep, fd);
}

bool corio_epoll_has_completions(const struct corio_epoll *ep)
{
    return ep->cq_len > 0;
}

void corio_epoll_stats(const struct corio_epoll *ep, corio_loop_stats_t *stats)
{
    stats->enters = ep->enters;
    stats->submitted = ep->submitted;
    stats->completions = ep->completions;
    stats->sq_full = 0;
    stats->cq_overflow = 0;
    stats->setup_flags = 0;
    stats->features = 0;
}
