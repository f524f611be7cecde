/* uring_echo: the raw liburing baseline, the best a hand-written io_uring echo server does.
 *
 *   uring_echo [--host ADDR] [--port P]
 *
 * A single-threaded TCP echo server written directly against liburing (2.3 or later), the way
 * a careful C programmer would write it without an engine: one ring (single issuer, deferred
 * task work, the ring fd registered), a multishot accept, one multishot recv per connection
 * into a ring of provided buffers, and each received buffer echoed with a send straight from
 * that buffer, which goes back to the buffer ring when the send completes. Short sends resend
 * the rest. A connection has at most one send in flight; buffers that arrive meanwhile wait in
 * its FIFO (linked through the buffer ids, so it never allocates), which keeps the echo in
 * order. Back-pressure: when a connection holds BUF_HIGH buffers its recv is cancelled, and it
 * is re-armed once the FIFO drains to BUF_LOW. A recv that finds the buffer ring empty
 * (-ENOBUFS) is re-armed once buffers come back. A connection is closed on EOF or an error
 * once its queued echo has been sent and no request refers to it any more.
 *
 * The first line on stdout is "listening on ADDR:PORT" (flushed), so scripts and tests can
 * use --port 0.
 * SIGINT/SIGTERM (read from a signalfd through the ring) stop it cleanly (exit 0); bad flags
 * exit 2, a bind or listen failure or an unusable io_uring exits 1.
 * Standalone: no corio dependency, C11 + GNU extensions, Linux 6.0 or later, links liburing.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "echo_baseline.h"

#define SQ_ENTRIES 4096
#define CQ_ENTRIES (2 * SQ_ENTRIES)
#define BUF_COUNT  4096 /* provided buffers, a power of two: 16 MiB in all */
#define BUF_SIZE   4096
#define BUF_GROUP  0
#define BUF_HIGH   32 /* buffers queued on one connection before its recv is paused */
#define BUF_LOW    8  /* ... and re-armed at or below this many */

/* user_data: a struct conn pointer (or NULL) with the request type in the low bits. */
enum { OP_ACCEPT = 1, OP_LISTEN_POLL, OP_SIGNAL, OP_RECV, OP_SEND, OP_CANCEL, OP_MASK = 7 };

struct conn {
    struct conn *prev, *next; /* every open connection, to free them at exit */
    struct conn *starved_next;
    int fd;
    bool recv_armed;      /* a multishot recv is outstanding */
    bool send_inflight;   /* a send of the FIFO's head is outstanding */
    bool cancel_inflight; /* a cancel of the recv is outstanding */
    bool starved;         /* on the starved list: recv got -ENOBUFS */
    bool closing;         /* EOF or error: send what is queued, then close */
    int head, tail;       /* FIFO of buffer ids to echo, -1 when empty */
    uint32_t head_off;    /* bytes of the head buffer already sent */
    uint32_t queued;      /* buffers in the FIFO */
};

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static unsigned char *bufs;
static uint16_t buf_next[BUF_COUNT];        /* FIFO links */
static uint32_t buf_len[BUF_COUNT];         /* bytes received into each queued buffer */
static unsigned buf_adds;                   /* buffers given back since the last publish */
static unsigned buf_held;                   /* buffers out of the ring, in FIFOs */
static struct conn *starved, *starved_tail; /* FIFO of connections whose recv got -ENOBUFS */
static int lfd = -1, sfd = -1;
static int idle_fd = -1; /* spare descriptor for shedding connections at EMFILE */
static bool stop_requested;
static unsigned long long served;
static struct conn *conns;
static struct signalfd_siginfo sig_info;

static uint64_t tag(struct conn *c, int op)
{
    return (uint64_t)(uintptr_t)c | (uint64_t)op;
}

/* A free SQE; when the SQ is full, submits what is queued and tries again. */
static struct io_uring_sqe *get_sqe(void)
{
    for (;;) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
        if (sqe)
            return sqe;
        io_uring_submit(&ring);
    }
}

static void buf_give_back(unsigned bid)
{
    io_uring_buf_ring_add(br, bufs + (size_t)bid * BUF_SIZE, BUF_SIZE, (unsigned short)bid,
                          io_uring_buf_ring_mask(BUF_COUNT), (int)buf_adds++);
    buf_held--;
}

static void buf_publish(void)
{
    if (buf_adds) {
        io_uring_buf_ring_advance(br, (int)buf_adds);
        buf_adds = 0;
    }
}

static void arm_accept(void)
{
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, tag(NULL, OP_ACCEPT));
}

/* Waits for a pending connection before accepting again: an accept fails with EMFILE before it
 * even looks for one, so re-arming it straight away would spin while descriptors are short. */
static void arm_listen_poll(void)
{
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_poll_add(sqe, lfd, POLLIN);
    io_uring_sqe_set_data64(sqe, tag(NULL, OP_LISTEN_POLL));
}

static void arm_signal(void)
{
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_read(sqe, sfd, &sig_info, sizeof sig_info, 0);
    io_uring_sqe_set_data64(sqe, tag(NULL, OP_SIGNAL));
}

static void arm_recv(struct conn *c)
{
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BUF_GROUP;
    io_uring_sqe_set_data64(sqe, tag(c, OP_RECV));
    c->recv_armed = true;
}

/* Re-arms the recv unless it is running, being cancelled, waiting for buffers, closed or
 * paused by a full FIFO. */
static void maybe_arm_recv(struct conn *c)
{
    if (!c->closing && !c->recv_armed && !c->cancel_inflight && !c->starved && c->queued <= BUF_LOW)
        arm_recv(c);
}

static void cancel_recv(struct conn *c)
{
    if (!c->recv_armed || c->cancel_inflight)
        return;
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_cancel64(sqe, tag(c, OP_RECV), 0);
    io_uring_sqe_set_data64(sqe, tag(c, OP_CANCEL));
    c->cancel_inflight = true;
}

static void start_send(struct conn *c)
{
    if (c->send_inflight || c->head < 0)
        return;
    unsigned bid = (unsigned)c->head;
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_send(sqe, c->fd, bufs + (size_t)bid * BUF_SIZE + c->head_off,
                       buf_len[bid] - c->head_off, MSG_NOSIGNAL | MSG_WAITALL);
    io_uring_sqe_set_data64(sqe, tag(c, OP_SEND));
    c->send_inflight = true;
}

static void fifo_pop(struct conn *c)
{
    unsigned bid = (unsigned)c->head;
    c->head = c->head == c->tail ? -1 : buf_next[bid];
    if (c->head < 0)
        c->tail = -1;
    c->head_off = 0;
    c->queued--;
    buf_give_back(bid);
}

static void conn_free(struct conn *c)
{
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
}

/* Frees a closing connection once nothing queued remains and no request refers to it. */
static void maybe_free(struct conn *c)
{
    if (c->closing && !c->recv_armed && !c->send_inflight && !c->cancel_inflight && !c->starved &&
        c->head < 0)
        conn_free(c);
}

static void on_accept(int res, unsigned flags)
{
    if (res == -EMFILE || res == -ENFILE) {
        /* Out of descriptors: accept and drop one so the client is not left hanging, keep the
         * spare for next time, and accept again once another connection is pending. */
        if (idle_fd >= 0) {
            close(idle_fd);
            int fd = accept(lfd, NULL, NULL);
            if (fd >= 0) {
                close(fd);
                fprintf(stderr, "uring_echo: out of file descriptors, dropped a connection\n");
            }
            idle_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        }
        if (!(flags & IORING_CQE_F_MORE))
            arm_listen_poll();
        return;
    }
    if (!(flags & IORING_CQE_F_MORE))
        arm_accept();
    if (res < 0) {
        if (res == -EINVAL || res == -EBADF || res == -ENOTSOCK || res == -EOPNOTSUPP) {
            fprintf(stderr, "uring_echo: multishot accept: %s\n", strerror(-res));
            exit(1); /* would fail again on every re-arm */
        }
        if (res != -ECONNABORTED && res != -EINTR && res != -EAGAIN)
            fprintf(stderr, "uring_echo: accept: %s\n", strerror(-res));
        return;
    }
    int one = 1;
    setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(res);
        return;
    }
    c->fd = res;
    c->head = c->tail = -1;
    c->next = conns;
    if (conns)
        conns->prev = c;
    conns = c;
    arm_recv(c);
    served++;
}

static void on_recv(struct conn *c, int res, unsigned flags)
{
    if (!(flags & IORING_CQE_F_MORE))
        c->recv_armed = false;
    if (res > 0 && (flags & IORING_CQE_F_BUFFER)) {
        unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
        buf_held++;
        if (c->closing) { /* a send failed: nothing more is echoed */
            buf_give_back(bid);
        } else {
            buf_len[bid] = (uint32_t)res;
            if (c->tail >= 0)
                buf_next[c->tail] = (uint16_t)bid;
            else
                c->head = (int)bid;
            c->tail = (int)bid;
            c->queued++;
            start_send(c);
            if (c->queued >= BUF_HIGH)
                cancel_recv(c); /* back-pressure until the FIFO drains */
        }
        if (!c->recv_armed)
            maybe_arm_recv(c);
    } else if (res == -ENOBUFS) {
        if (!c->closing && !c->starved) {
            c->starved = true;
            c->starved_next = NULL;
            if (starved_tail)
                starved_tail->starved_next = c;
            else
                starved = c;
            starved_tail = c;
        }
    } else if (res == -ECANCELED) { /* our back-pressure cancel */
        maybe_arm_recv(c);
    } else if (res <= 0) { /* EOF or error: echo what is queued, then close */
        c->closing = true;
        cancel_recv(c); /* only if a CQE with F_MORE still left it armed */
    }
    maybe_free(c);
}

static void on_send(struct conn *c, int res)
{
    c->send_inflight = false;
    if (res <= 0) { /* this connection only: drop its queue and stop receiving */
        c->closing = true;
        while (c->head >= 0)
            fifo_pop(c);
        cancel_recv(c);
    } else {
        c->head_off += (uint32_t)res;
        if (c->head_off >= buf_len[c->head])
            fifo_pop(c);
        start_send(c); /* the next buffer, or the rest of a short send */
        maybe_arm_recv(c);
    }
    maybe_free(c);
}

static void on_cancel(struct conn *c)
{
    c->cancel_inflight = false;
    maybe_arm_recv(c);
    maybe_free(c);
}

/* Re-arms the recvs that found the buffer ring empty, oldest first, one per buffer that is back
 * (re-arming them all at once would mostly collect -ENOBUFS again). */
static void rearm_starved(void)
{
    for (unsigned avail = BUF_COUNT - buf_held; starved && avail; avail--) {
        struct conn *c = starved;
        starved = c->starved_next;
        if (!starved)
            starved_tail = NULL;
        c->starved = false;
        maybe_arm_recv(c);
        maybe_free(c);
    }
}

static void handle(const struct io_uring_cqe *cqe)
{
    struct conn *c = (struct conn *)(uintptr_t)(cqe->user_data & ~(uint64_t)OP_MASK);
    switch ((int)(cqe->user_data & OP_MASK)) {
    case OP_ACCEPT:
        on_accept(cqe->res, cqe->flags);
        break;
    case OP_LISTEN_POLL:
        arm_accept();
        break;
    case OP_SIGNAL:
        stop_requested = true;
        break;
    case OP_RECV:
        on_recv(c, cqe->res, cqe->flags);
        break;
    case OP_SEND:
        on_send(c, cqe->res);
        break;
    case OP_CANCEL:
        on_cancel(c);
        break;
    }
}

static int setup_ring(void)
{
    static const unsigned flag_sets[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN |
            IORING_SETUP_SUBMIT_ALL,
        IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
        0,
    };
    int rc = -EINVAL;
    for (size_t i = 0; i < sizeof flag_sets / sizeof flag_sets[0] && rc == -EINVAL; i++) {
        struct io_uring_params p = {.flags = flag_sets[i] | IORING_SETUP_CQSIZE,
                                    .cq_entries = CQ_ENTRIES};
        rc = io_uring_queue_init_params(SQ_ENTRIES, &ring, &p);
    }
    if (rc < 0) {
        fprintf(stderr, "uring_echo: io_uring_queue_init: %s\n", strerror(-rc));
        return -1;
    }
    io_uring_register_ring_fd(&ring); /* an optimisation only */

    /* The kernel wants the buffer ring page-aligned: mmap gives that. */
    size_t ring_bytes = BUF_COUNT * sizeof(struct io_uring_buf);
    br = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    bufs = mmap(NULL, (size_t)BUF_COUNT * BUF_SIZE, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (br == MAP_FAILED || bufs == MAP_FAILED) {
        fprintf(stderr, "uring_echo: mmap: %s\n", strerror(errno));
        return -1;
    }
    io_uring_buf_ring_init(br);
    struct io_uring_buf_reg reg = {
        .ring_addr = (uint64_t)(uintptr_t)br, .ring_entries = BUF_COUNT, .bgid = BUF_GROUP};
    rc = io_uring_register_buf_ring(&ring, &reg, 0);
    if (rc < 0) {
        fprintf(stderr, "uring_echo: io_uring_register_buf_ring: %s\n", strerror(-rc));
        return -1;
    }
    buf_held = BUF_COUNT;
    for (unsigned bid = 0; bid < BUF_COUNT; bid++)
        buf_give_back(bid);
    buf_publish();
    return 0;
}

int main(int argc, char **argv)
{
    const char *host, *port;
    int status = echo_parse_args("uring_echo", argc, argv, &host, &port);
    if (status >= 0)
        return status;

    /* SIGINT/SIGTERM are blocked and read from a signalfd through the ring, so a stop request
     * is just another completion and can never slip in between a check and the wait. */
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, NULL);
    signal(SIGPIPE, SIG_IGN);
    sfd = signalfd(-1, &block, SFD_CLOEXEC);
    if (sfd < 0) {
        fprintf(stderr, "uring_echo: signalfd: %s\n", strerror(errno));
        return 1;
    }

    lfd = echo_listen("uring_echo", host, port);
    if (lfd < 0)
        return 1;
    if (setup_ring() < 0)
        return 1;
    idle_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    arm_signal();
    arm_accept();
    echo_print_listening(lfd);

    while (!stop_requested) {
        int rc = io_uring_submit_and_wait(&ring, 1);
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
            fprintf(stderr, "uring_echo: io_uring_submit_and_wait: %s\n", strerror(-rc));
            return 1;
        }
        unsigned head, seen = 0;
        struct io_uring_cqe *cqe;
        io_uring_for_each_cqe(&ring, head, cqe)
        {
            handle(cqe);
            seen++;
        }
        io_uring_cq_advance(&ring, seen);
        buf_publish();
        rearm_starved();
    }
    io_uring_queue_exit(&ring); /* cancels what is in flight; no request refers to a conn now */
    while (conns)
        conn_free(conns);
    munmap(bufs, (size_t)BUF_COUNT * BUF_SIZE);
    munmap(br, BUF_COUNT * sizeof(struct io_uring_buf));
    close(lfd);
    close(sfd);
    fprintf(stderr, "uring_echo: stopped after %llu connections\n", served);
    return 0;
}
