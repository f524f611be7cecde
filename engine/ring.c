/* The io_uring backend (with ring_sqe.h, the only code that includes liburing.h): ring
 * set-up with flag-by-flag fallback, SQE preparation for each op kind, flush-and-retry
 * when the SQ is full, one-syscall submit-and-wait, and the one reader of the CQ: await
 * completions wake their tasks in place, the rest are copied out and delivered in
 * batches, surviving CQ overflow. */
#include "backend.h"

#include "internal.h"
#include "ring_sqe.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

_Static_assert(CORIO_CQE_F_MORE == IORING_CQE_F_MORE, "CQE flag mirror is wrong");
_Static_assert(CORIO_CQE_F_BUFFER == IORING_CQE_F_BUFFER, "CQE flag mirror is wrong");
_Static_assert(CORIO_CQE_BUFFER_SHIFT == IORING_CQE_BUFFER_SHIFT, "CQE flag mirror is wrong");

/* Richest set first. DEFER_TASKRUN needs SINGLE_ISSUER (6.1); SINGLE_ISSUER 6.0;
 * COOP_TASKRUN 5.19; SUBMIT_ALL 5.18. R_DISABLED lets the thread that runs the loop,
 * not the one that created it, become the single issuer. */
static const unsigned setup_tiers[] = {
    IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER |
        IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED,
    IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER |
        IORING_SETUP_R_DISABLED,
    IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN,
    IORING_SETUP_SUBMIT_ALL,
    0,
};

/* SQPOLL does its own task running; DEFER/COOP_TASKRUN do not apply. */
static const unsigned sqpoll_tiers[] = {
    IORING_SETUP_SQPOLL | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER |
        IORING_SETUP_R_DISABLED,
    IORING_SETUP_SQPOLL | IORING_SETUP_SUBMIT_ALL,
    IORING_SETUP_SQPOLL,
};

/* Multishot accept (5.19) and multishot recv (6.0) have no probe bits of their own:
 * IORING_OP_SOCKET and IORING_OP_SEND_ZC arrived in the same releases. */
static void probe_features(struct corio_ring *r)
{
    struct io_uring_probe *probe = io_uring_get_probe_ring(&r->uring);
    if (probe == NULL)
        return;
    r->multishot_accept = io_uring_opcode_supported(probe, IORING_OP_SOCKET);
    r->multishot_recv = io_uring_opcode_supported(probe, IORING_OP_SEND_ZC);
    r->msg_ring = io_uring_opcode_supported(probe, IORING_OP_MSG_RING) &&
                  (r->features & IORING_FEAT_CQE_SKIP);
    io_uring_free_probe(probe);
}

int corio_ring_init(struct corio_ring **out, const corio_loop_opts_t *opts)
{
    struct corio_ring *r = corio_calloc(1, sizeof *r);
    if (r == NULL)
        return -ENOMEM;
    bool sqpoll = opts->flags & CORIO_LOOP_SQPOLL;
    const unsigned *tiers = sqpoll ? sqpoll_tiers : setup_tiers;
    size_t ntiers = sqpoll ? sizeof sqpoll_tiers / sizeof *sqpoll_tiers
                           : sizeof setup_tiers / sizeof *setup_tiers;
    struct io_uring_params p;
    int rc = -EINVAL;
    for (size_t i = 0; i < ntiers; i++) {
        memset(&p, 0, sizeof p);
        p.flags = tiers[i] | IORING_SETUP_CQSIZE;
        p.cq_entries = opts->cq_entries;
        p.sq_thread_idle = opts->sqpoll_idle_ms;
        if (corio_fault_hit(CORIO_FAULT_RING_SETUP, &rc))
            break;
        rc = io_uring_queue_init_params(opts->entries, &r->uring, &p);
        if (rc != -EINVAL) /* anything but "unknown flag" is final */
            break;
    }
    if (rc < 0) {
        free(r);
        return rc;
    }
    r->setup_flags = p.flags;
    r->features = p.features;
    r->enabled = !(p.flags & IORING_SETUP_R_DISABLED);
    if (r->enabled) {
        (void)io_uring_register_ring_fd(&r->uring); /* an optimisation only */
        atomic_store_explicit(&r->accepts_doorbells, true, memory_order_release);
    }
    /* A forked child must build its own loop: keep the rings out of it. */
    (void)io_uring_ring_dontfork(&r->uring);
    probe_features(r);
    *out = r;
    return 0;
}

void corio_ring_exit(struct corio_ring *r)
{
    if (r == NULL)
        return;
    io_uring_queue_exit(&r->uring);
    free(r->backlog);
    free(r);
}

/* The first submission enables the ring from the thread that will own it (the single
 * issuer) and registers the ring fd there: registered fds are per thread. */
static int ensure_enabled(struct corio_ring *r)
{
    if (r->enabled)
        return 0;
    /* liburing 2.3 declares io_uring_enable_rings but does not export it. */
    int rc = io_uring_register(r->uring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
    if (rc < 0)
        return rc;
    r->enabled = true;
    atomic_store_explicit(&r->accepts_doorbells, true, memory_order_release);
    (void)io_uring_register_ring_fd(&r->uring);
    return 0;
}

/* Copies every CQE now in the ring into the backlog, so that the kernel can post more. */
static int drain_to_backlog(struct corio_ring *r)
{
    unsigned ready = io_uring_cq_ready(&r->uring);
    if (ready == 0)
        return 0;
    if (r->backlog_len + ready > r->backlog_cap) {
        unsigned cap = r->backlog_cap ? r->backlog_cap : 64;
        while (cap < r->backlog_len + ready)
            cap *= 2;
        struct corio_cqe *b = corio_realloc(r->backlog, cap * sizeof *b);
        if (b == NULL)
            return -ENOMEM;
        r->backlog = b;
        r->backlog_cap = cap;
    }
    unsigned head, n = 0;
    struct io_uring_cqe *cqe;
    io_uring_for_each_cqe(&r->uring, head, cqe)
    {
        r->backlog[r->backlog_len++] =
            (struct corio_cqe){.user_data = cqe->user_data, .res = cqe->res, .flags = cqe->flags};
        n++;
    }
    io_uring_cq_advance(&r->uring, n);
    return (int)n;
}

/* Pushes queued SQEs to the kernel without waiting. A busy CQ (-EBUSY/-EAGAIN) is made
 * room for by draining it into the backlog; interrupted calls are retried. */
static int flush(struct corio_ring *r)
{
    int rc = ensure_enabled(r);
    if (rc < 0)
        return rc;
    for (int tries = 0; tries < 64; tries++) {
        if (!corio_fault_hit(CORIO_FAULT_SUBMIT, &rc))
            rc = io_uring_submit(&r->uring);
        r->enters++;
        if (rc >= 0)
            return 0;
        if (rc == -EINTR)
            continue;
        if (rc != -EAGAIN && rc != -EBUSY)
            return rc;
        int drained = drain_to_backlog(r);
        if (drained < 0)
            return drained;
        if (drained == 0) {
            (void)io_uring_get_events(&r->uring); /* flush the kernel's overflow list */
            r->enters++;
            if ((drained = drain_to_backlog(r)) < 0)
                return drained;
        }
    }
    return rc;
}

/* corio_ring_get_sqe's slow path: flushes the SQ until a slot is free. */
struct io_uring_sqe *corio_ring_get_sqe_after_flush(struct corio_ring *r, bool full, int *err)
{
    while (full || io_uring_sq_space_left(&r->uring) == 0) {
        full = false;
        r->sq_full++;
        int rc = flush(r);
        if (rc < 0) {
            *err = rc;
            return NULL;
        }
        if (r->setup_flags & IORING_SETUP_SQPOLL)
            (void)io_uring_sqring_wait(&r->uring);
    }
    return io_uring_get_sqe(&r->uring);
}

static void prep(struct io_uring_sqe *sqe, const corio_op_t *op)
{
    int fd = op->priv_fd;
    void *addr = op->priv_addr;
    unsigned len = op->priv_len;
    uint64_t off = op->priv_off;
    switch ((enum corio_op_kind)op->priv_kind) {
    case CORIO_OP_NOP:
    case CORIO_OP_READ:
    case CORIO_OP_WRITE:
    case CORIO_OP_RECV:
    case CORIO_OP_SEND:
        corio_ring_prep_rw(sqe, op->priv_kind, fd, addr, len, off, op->priv_op_flags,
                           op->priv_bits & CORIO_OPB_INTERNAL);
        break;
    case CORIO_OP_READV:
        io_uring_prep_readv(sqe, fd, addr, len, off);
        break;
    case CORIO_OP_WRITEV:
        io_uring_prep_writev(sqe, fd, addr, len, off);
        break;
    case CORIO_OP_FSYNC:
        io_uring_prep_fsync(sqe, fd, op->priv_op_flags);
        break;
    case CORIO_OP_OPENAT:
        io_uring_prep_openat(sqe, fd, addr, (int)op->priv_op_flags, (mode_t)off);
        break;
    case CORIO_OP_CLOSE:
        io_uring_prep_close(sqe, fd);
        break;
    case CORIO_OP_STATX:
        io_uring_prep_statx(sqe, fd, addr, (int)op->priv_op_flags, len, op->priv_addr2);
        break;
    case CORIO_OP_SOCKET:
        io_uring_prep_socket(sqe, fd, (int)off, (int)len, 0);
        break;
    case CORIO_OP_ACCEPT:
        io_uring_prep_accept(sqe, fd, addr, op->priv_addr2, (int)op->priv_op_flags);
        break;
    case CORIO_OP_ACCEPT_MULTI:
        io_uring_prep_multishot_accept(sqe, fd, NULL, NULL, (int)op->priv_op_flags);
        break;
    case CORIO_OP_CONNECT:
        io_uring_prep_connect(sqe, fd, addr, len);
        break;
    case CORIO_OP_RECV_BUF:
        io_uring_prep_recv(sqe, fd, NULL, len, (int)op->priv_op_flags);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = ((const struct corio_bufring *)op->priv_addr2)->group;
        break;
    case CORIO_OP_RECV_MULTI:
        io_uring_prep_recv_multishot(sqe, fd, NULL, 0, (int)op->priv_op_flags);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = ((const struct corio_bufring *)op->priv_addr2)->group;
        break;
    case CORIO_OP_RECVMSG:
        io_uring_prep_recvmsg(sqe, fd, addr, op->priv_op_flags);
        break;
    case CORIO_OP_SENDMSG:
        io_uring_prep_sendmsg(sqe, fd, addr, op->priv_op_flags);
        break;
    case CORIO_OP_SHUTDOWN:
        io_uring_prep_shutdown(sqe, fd, (int)op->priv_op_flags);
        break;
    case CORIO_OP_TIMEOUT:
        io_uring_prep_timeout(sqe, (struct __kernel_timespec *)op->priv_ts, 0, 0);
        break;
    case CORIO_OP_POLL:
        io_uring_prep_poll_add(sqe, fd, op->priv_op_flags);
        break;
    case CORIO_OP_NONE:
    case CORIO_OP_KIND_COUNT:
        abort(); /* op.c describes every op before it reaches the ring */
    }
}

int corio_ring_queue(struct corio_ring *r, const corio_op_t *op, uint64_t user_data)
{
    int err = 0;
    struct io_uring_sqe *sqe = corio_ring_get_sqe(r, &err);
    if (sqe == NULL)
        return err;
    prep(sqe, op);
    io_uring_sqe_set_data64(sqe, user_data);
    r->submitted++;
    return 0;
}

int corio_ring_queue_doorbell(struct corio_ring *r, const struct corio_ring *target,
                              const corio_loop_t *target_loop)
{
    if (!r->msg_ring || !atomic_load_explicit(&target->accepts_doorbells, memory_order_acquire))
        return -EOPNOTSUPP;
    int err = 0;
    struct io_uring_sqe *sqe = corio_ring_get_sqe(r, &err);
    if (sqe == NULL)
        return err;
    /* The target's fd, not its registered index: registered ring fds are per thread. */
    io_uring_prep_msg_ring(sqe, target->uring.ring_fd, 0, CORIO_UD_DOORBELL, 0);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)target_loop | CORIO_UD_DOORBELL_SENT);
    r->submitted++;
    return 0;
}

int corio_ring_queue_cancel(struct corio_ring *r, uint64_t user_data)
{
    int err = 0;
    struct io_uring_sqe *sqe = corio_ring_get_sqe(r, &err);
    if (sqe == NULL)
        return err;
    if (user_data != 0)
        io_uring_prep_cancel64(sqe, user_data, 0);
    else
        io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
    io_uring_sqe_set_data64(sqe, CORIO_UD_IGNORE);
    r->submitted++;
    return 0;
}

int corio_ring_queue_cancel_fd(struct corio_ring *r, int fd)
{
    int err = 0;
    struct io_uring_sqe *sqe = corio_ring_get_sqe(r, &err);
    if (sqe == NULL)
        return err;
    io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(sqe, CORIO_UD_IGNORE);
    r->submitted++;
    return 0;
}

int corio_ring_submit_wait(struct corio_ring *r, uint64_t timeout_ns)
{
    int rc = ensure_enabled(r);
    if (rc < 0)
        return rc;
    if (r->backlog_head < r->backlog_len)
        timeout_ns = 0; /* completions are already waiting to be delivered */
    struct io_uring_cqe *cqe;
    if (corio_fault_hit(CORIO_FAULT_SUBMIT, &rc)) {
        /* as if the kernel refused: nothing submitted, nothing reaped */
    } else if (timeout_ns == 0) {
        rc = io_uring_submit_and_get_events(&r->uring);
    } else if (timeout_ns == UINT64_MAX) {
        rc = io_uring_submit_and_wait(&r->uring, 1);
    } else {
        struct __kernel_timespec ts = {.tv_sec = (long long)(timeout_ns / 1000000000u),
                                       .tv_nsec = (long long)(timeout_ns % 1000000000u)};
        rc = io_uring_submit_and_wait_timeout(&r->uring, &cqe, 1, &ts, NULL);
    }
    r->enters++;
    if (rc >= 0 || rc == -ETIME || rc == -EINTR || rc == -EAGAIN || rc == -EBUSY)
        return 0; /* the reap that follows makes room when the CQ was the reason */
    return rc;
}

/* How many completions are posted in the CQ; *head gets the position of the first. The
 * tail is read once per batch (liburing's io_uring_for_each_cqe reloads it, and checks for
 * 32-byte CQEs, on every entry). */
static inline unsigned cq_posted(const struct corio_ring *r, unsigned *head)
{
    *head = *r->uring.cq.khead;
    return io_uring_smp_load_acquire(r->uring.cq.ktail) - *head;
}

/* The posted completion at CQ position pos, read in place: valid until the CQ's head is
 * advanced past it. */
static inline const struct io_uring_cqe *cqe_at(const struct corio_ring *r, unsigned pos)
{
    unsigned shift = (r->uring.flags & IORING_SETUP_CQE32) ? 1 : 0;
    return &r->uring.cq.cqes[(pos & r->uring.cq.ring_mask) << shift];
}

/* Copies up to max completions into out and releases their ring slots (completions set
 * aside while the SQ was being flushed come first). Returns how many. */
static unsigned reap(struct corio_ring *r, struct corio_cqe *out, unsigned max)
{
    unsigned n = 0;
    while (n < max && r->backlog_head < r->backlog_len)
        out[n++] = r->backlog[r->backlog_head++];
    if (r->backlog_head == r->backlog_len)
        r->backlog_head = r->backlog_len = 0;

    unsigned head;
    unsigned posted = cq_posted(r, &head);
    if (posted > max - n)
        posted = max - n;
    for (unsigned i = 0; i < posted; i++) {
        const struct io_uring_cqe *cqe = cqe_at(r, head + i);
        /* Copy before advancing: the slot may be reused as soon as it is released. */
        out[n] =
            (struct corio_cqe){.user_data = cqe->user_data, .res = cqe->res, .flags = cqe->flags};
        if (corio_ud_is_user_op(cqe->user_data))
            (void)corio_fault_hit(CORIO_FAULT_CQE_RES, &out[n].res);
        n++;
    }
    io_uring_cq_advance(&r->uring, posted);
    r->completions += n;

    /* liburing 2.3's for_each never flushes the kernel's overflow list: ask for it once
     * the ring is empty, and the caller's next reap picks the entries up. */
    if (n < max && io_uring_cq_has_overflow(&r->uring)) {
        r->cq_overflow++;
        (void)io_uring_get_events(&r->uring);
        r->enters++;
    }
    return n;
}

/* Wakes the tasks of the await completions at the head of the CQ, reading them in place
 * (no copy), up to an op's completion or max; returns how many it took off the CQ. In
 * place is safe here because waking runs none of the user's code and queues no SQE; an
 * op's callback could, and flushing a full SQ drains the CQ into the backlog, so ops'
 * completions are copied out first (reap). Measured in DESIGN-NOTES. */
static unsigned wake_tasks_in_cq(corio_loop_t *loop, struct corio_ring *r, unsigned max)
{
    if (r->backlog_len > 0)
        return 0; /* completions set aside earlier go first */
    unsigned head;
    unsigned posted = cq_posted(r, &head);
    if (posted > max)
        posted = max;
    struct corio_runq ready = loop->ready;
    unsigned n = 0;
    for (; n < posted; n++) {
        const struct io_uring_cqe *cqe = cqe_at(r, head + n);
        if (!(cqe->user_data & CORIO_UD_TASK))
            break;
        int res = cqe->res;
        (void)corio_fault_hit(CORIO_FAULT_CQE_RES, &res);
        corio_wake_task_into(&ready, cqe->user_data, res);
    }
    loop->ready = ready;
    loop->inflight -= n;
    io_uring_cq_advance(&r->uring, n);
    r->completions += n;
    return n;
}

unsigned corio_ring_deliver(corio_loop_t *loop, struct corio_ring *r, unsigned max)
{
    unsigned n = wake_tasks_in_cq(loop, r, max);
    if (n == max)
        return n;
    struct corio_cqe batch[CORIO_REAP_BATCH];
    unsigned room = max - n < CORIO_REAP_BATCH ? max - n : CORIO_REAP_BATCH;
    unsigned copied = reap(r, batch, room);
    corio_op_deliver(loop, batch, copied);
    return n + copied;
}

bool corio_ring_has_completions(const struct corio_ring *r)
{
    return r->backlog_head < r->backlog_len || io_uring_cq_ready(&r->uring) > 0;
}

void corio_ring_stats(const struct corio_ring *r, corio_loop_stats_t *stats)
{
    stats->enters = r->enters;
    stats->submitted = r->submitted;
    stats->completions = r->completions;
    stats->sq_full = r->sq_full;
    stats->cq_overflow = r->cq_overflow;
    stats->setup_flags = r->setup_flags;
    stats->features = r->features;
}

bool corio_ring_has_multishot_accept(const struct corio_ring *r)
{
    return r->multishot_accept;
}

bool corio_ring_has_multishot_recv(const struct corio_ring *r)
{
    return r->multishot_recv;
}

/* ---- provided-buffer rings ------------------------------------------------------- */

static size_t pbuf_bytes(unsigned entries)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return (entries * sizeof(struct io_uring_buf) + page - 1) & ~(page - 1);
}

int corio_ring_pbuf_register(struct corio_ring *r, unsigned entries, void **mem, uint16_t *group)
{
    unsigned id = 0;
    while (id < 65536 && (r->pbuf_groups[id / 64] >> (id % 64) & 1))
        id++;
    if (id == 65536)
        return -ENOSPC;
    /* The kernel wants the descriptor ring page-aligned: mmap gives that. */
    void *m = corio_fault_hit(CORIO_FAULT_MMAP, NULL)
                  ? MAP_FAILED
                  : mmap(NULL, pbuf_bytes(entries), PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return -ENOMEM;
    (void)madvise(m, pbuf_bytes(entries), MADV_DONTFORK); /* a child builds its own loop */
    io_uring_buf_ring_init(m);
    struct io_uring_buf_reg reg = {
        .ring_addr = (uint64_t)(uintptr_t)m, .ring_entries = entries, .bgid = (uint16_t)id};
    int rc = io_uring_register_buf_ring(&r->uring, &reg, 0);
    if (rc < 0) {
        munmap(m, pbuf_bytes(entries));
        return rc == -EINVAL ? -EOPNOTSUPP : rc; /* before 5.19: unknown register opcode */
    }
    r->pbuf_groups[id / 64] |= (uint64_t)1 << (id % 64);
    *mem = m;
    *group = (uint16_t)id;
    return 0;
}

void corio_ring_pbuf_unregister(struct corio_ring *r, void *mem, unsigned entries, uint16_t group)
{
    (void)io_uring_unregister_buf_ring(&r->uring, group);
    r->pbuf_groups[group / 64] &= ~((uint64_t)1 << (group % 64));
    munmap(mem, pbuf_bytes(entries));
}

void corio_ring_pbuf_give(void *mem, unsigned entries, void *addr, unsigned len, uint16_t bid)
{
    struct io_uring_buf_ring *br = mem;
    io_uring_buf_ring_add(br, addr, len, bid, io_uring_buf_ring_mask(entries), 0);
    io_uring_buf_ring_advance(br, 1);
}
