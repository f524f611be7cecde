/* The io_uring backend's state and its inline SQE path, for ring.c and op.c (the hot
 * await calls write their SQE inline when the loop runs on io_uring: on the path that ~64
 * tasks take in turn, a call into ring.c and its argument shuffling showed in the time of
 * a 64-byte read, DESIGN-NOTES). With ring.c, the only code that includes liburing.h. */
#ifndef CORIO_RING_SQE_H
#define CORIO_RING_SQE_H

#include "backend.h"
#include "internal.h"

#include <liburing.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct corio_ring {
    struct io_uring uring;
    unsigned setup_flags;
    unsigned features;
    bool enabled; /* created disabled (R_DISABLED): enabled by the first submit */
    bool multishot_accept;
    bool multishot_recv;
    bool msg_ring; /* MSG_RING (5.18) and IOSQE_CQE_SKIP_SUCCESS: doorbells can be sent */
    /* Enabled (set once, by the owner): other threads' doorbells are accepted from then
     * on; a disabled ring fails them with EBADFD. */
    atomic_bool accepts_doorbells;
    uint64_t pbuf_groups[1024]; /* buffer-group ids in use, one bit each (65536 ids) */
    /* Completions drained out of the CQ while the SQ was being flushed: they are
     * delivered by the next reap, never from inside an op's start call. */
    struct corio_cqe *backlog;
    unsigned backlog_head, backlog_len, backlog_cap;
    uint64_t enters, submitted, completions, sq_full, cq_overflow;
};

/* corio_ring_get_sqe's slow path (ring.c): flushes the SQ until a slot is free. */
__attribute__((noinline)) struct io_uring_sqe *corio_ring_get_sqe_after_flush(struct corio_ring *r,
                                                                              bool full, int *err);

/* A free SQE, flushing a full SQ to the kernel first; NULL with *err set if the kernel
 * refused while flushing. */
static inline struct io_uring_sqe *corio_ring_get_sqe(struct corio_ring *r, int *err)
{
    bool full = corio_fault_hit(CORIO_FAULT_SQE_NULL, NULL);
    if (!full) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&r->uring);
        if (sqe != NULL)
            return sqe;
    }
    return corio_ring_get_sqe_after_flush(r, full, err);
}

/* Prepares an SQE of the read/write shape (liburing's io_uring_prep_rw): a NOP (fd -1,
 * the rest 0) or one of the four plain transfers (kind CORIO_OP_READ, _WRITE, _RECV or
 * _SEND; flags: the recv or send flags, 0 for read and write). internal: the loop's own
 * op, which the short-transfer fault point leaves alone. */
static inline void corio_ring_prep_rw(struct io_uring_sqe *sqe, enum corio_op_kind kind, int fd,
                                      void *buf, unsigned len, uint64_t off, unsigned flags,
                                      bool internal)
{
    static const uint8_t opcodes[CORIO_OP_KIND_COUNT] = {
        [CORIO_OP_NOP] = IORING_OP_NOP,     [CORIO_OP_READ] = IORING_OP_READ,
        [CORIO_OP_WRITE] = IORING_OP_WRITE, [CORIO_OP_RECV] = IORING_OP_RECV,
        [CORIO_OP_SEND] = IORING_OP_SEND,
    };
    if (len > 1 && !internal && corio_fault_hit(CORIO_FAULT_SHORT, NULL))
        len /= 2; /* a genuinely short transfer: the kernel is asked for less */
    io_uring_prep_rw(opcodes[kind], sqe, fd, buf, len, off);
    sqe->rw_flags = (int)flags; /* msg_flags for recv and send: the same field */
}

/* Queues an SQE of the read/write shape from its arguments (as corio_ring_prep_rw),
 * with user_data as its completion's: what corio_ring_queue does for an op so described.
 * Returns 0 or the -errno the kernel gave while flushing a full SQ. */
static inline int corio_ring_queue_rw(struct corio_ring *r, enum corio_op_kind kind, int fd,
                                      void *buf, unsigned len, uint64_t off, unsigned flags,
                                      uint64_t user_data)
{
    int err = 0;
    struct io_uring_sqe *sqe = corio_ring_get_sqe(r, &err);
    if (sqe == NULL)
        return err;
    corio_ring_prep_rw(sqe, kind, fd, buf, len, off, flags, false);
    io_uring_sqe_set_data64(sqe, user_data);
    r->submitted++;
    return 0;
}

#endif
