/* Behaviour that must be the same on both backends (engine/ring.c, io_uring, and
 * engine/backend_epoll.c, epoll plus non-blocking calls): this file runs under whichever
 * one the default loop picks, and `make test` runs it a second time with
 * CORIO_BACKEND=epoll. It targets what readiness-based backends get wrong: an fd number
 * closed with close(2) and reused for another socket; readiness (data, EOF) that arrived
 * while nothing waited, on sockets, pipes and a named FIFO (no RWF_NOWAIT); a recv and a
 * send parked on one socket at once; cancellation and deadlines of parked requests
 * (-ECANCELED / -ETIMEDOUT, the buffer untouched, no data lost); connect's results and
 * the socket's file flags; -EBADF for bad and closed fds; poll on a pipe; regular files at
 * offsets and at the file position, cached or not; and 1,000 parked tasks woken in
 * reverse order. (Multishot accept is test_op's, which runs on both too.) Waits that must
 * end are bounded by deadlines, so a lost wake-up fails as -ETIMEDOUT instead of
 * hanging. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "support.h"

#define MS  1000000ull
#define SEC (1000 * MS)

/* How long a wait that must end may take before the test calls it lost. */
#define BOUND (10 * SEC)

/* ---- helpers ------------------------------------------------------------------------- */

/* Byte i of a stream or of a support_pattern_file. */
static unsigned char pat(size_t i)
{
    return (unsigned char)((i * 7 + 3) & 0xff);
}

static void assert_pattern(const unsigned char *buf, size_t len, size_t at)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] != pat(at + i))
            fail_msg("byte at offset %zu is 0x%02x, expected 0x%02x", at + i, buf[i], pat(at + i));
}

static void assert_all(const unsigned char *buf, size_t len, unsigned char c)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] != c)
            fail_msg("byte %zu is 0x%02x, expected the sentinel 0x%02x", i, buf[i], c);
}

static void unix_pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

/* An fd number that is not open: a pipe's write end, closed with its read end. */
static int closed_fd(void)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    close(p[0]);
    close(p[1]);
    return p[1];
}

/* In a task: lets the tasks just spawned run up to their first wait, and makes sure what
 * they queued has reached the kernel (a nop queued after it has completed). */
static void settle(void)
{
    corio_yield();
    assert_int_equal(corio_nop(), 0);
}

/* In a task: lets the loop wait in the kernel for a while, so that readiness which
 * arrives now is seen (and, on epoll, its edge consumed) while nothing waits. */
static void let_the_loop_see_it(void)
{
    assert_int_equal(corio_sleep(30 * MS), 0);
}

static ssize_t recv_within(int fd, void *buf, size_t len)
{
    assert_int_equal(corio_timeout_begin(BOUND), 0);
    ssize_t n = corio_recv(fd, buf, len, 0);
    corio_timeout_end();
    return n;
}

static ssize_t read_within(int fd, void *buf, size_t len)
{
    assert_int_equal(corio_timeout_begin(BOUND), 0);
    ssize_t n = corio_read(fd, buf, len, -1);
    corio_timeout_end();
    return n;
}

/* A task parked on one call, bounded by BOUND, recording its result. */
enum call { CALL_RECV, CALL_READ, CALL_POLL };

struct parked {
    enum call call;
    int fd;
    unsigned char *buf;
    size_t len;
    unsigned events;
    ssize_t res;
    bool done;
    corio_task_t *task;
};

static void *parked_main(void *arg)
{
    struct parked *p = arg;
    assert_int_equal(corio_timeout_begin(BOUND), 0);
    switch (p->call) {
    case CALL_RECV:
        p->res = corio_recv(p->fd, p->buf, p->len, 0);
        break;
    case CALL_READ:
        p->res = corio_read(p->fd, p->buf, p->len, -1);
        break;
    case CALL_POLL:
        p->res = corio_poll(p->fd, p->events);
        break;
    }
    corio_timeout_end();
    p->done = true;
    return NULL;
}

/* Starts p's call in a task of its own and checks that it waits. */
static void park(struct parked *p)
{
    p->done = false;
    p->res = 1234567;
    assert_int_equal(corio_spawn(NULL, parked_main, p, &p->task), 0);
    settle();
    assert_false(p->done);
}

/* Waits for p's task to finish; returns its call's result. */
static ssize_t finish(struct parked *p)
{
    assert_int_equal(corio_join(p->task, NULL), 0);
    assert_true(p->done);
    return p->res;
}

/* A callback-mode op that records what it was given. */
struct rec {
    corio_op_t op; /* first: the callback gets &rec.op */
    int calls;
    int res;
    bool more;
};

static void rec_done(corio_op_t *op, int res)
{
    struct rec *r = (struct rec *)op;
    r->calls++;
    r->res = res;
    r->more = corio_op_more(op);
}

/* ---- one body, two modes: the x_* calls run one op to its result, through its _cb form
 * on a loop of the test's (running it until the callback has run) or through its await
 * form inside a task. */

static bool cb_mode;
static corio_loop_t *cb_loop;

static int cb_result(struct rec *r, int start_err)
{
    assert_int_equal(r->calls, 0); /* never from inside the start call */
    assert_int_equal(corio_loop_run(cb_loop), 0);
    if (start_err < 0) {
        assert_int_equal(r->calls, 0);
        return start_err;
    }
    assert_int_equal(r->calls, 1);
    return r->res;
}

#define X_OP(await_call, cb_start)                                                                 \
    do {                                                                                           \
        if (!cb_mode)                                                                              \
            return (await_call);                                                                   \
        struct rec r_ = {0};                                                                       \
        corio_op_t *op = &r_.op;                                                                   \
        return cb_result(&r_, (cb_start));                                                         \
    } while (0)

static ssize_t x_read(int fd, void *buf, size_t len, int64_t off)
{
    X_OP(corio_read(fd, buf, len, off), corio_read_cb(cb_loop, op, fd, buf, len, off, rec_done));
}

static ssize_t x_write(int fd, const void *buf, size_t len, int64_t off)
{
    X_OP(corio_write(fd, buf, len, off), corio_write_cb(cb_loop, op, fd, buf, len, off, rec_done));
}

static ssize_t x_recv(int fd, void *buf, size_t len)
{
    X_OP(corio_recv(fd, buf, len, 0), corio_recv_cb(cb_loop, op, fd, buf, len, 0, rec_done));
}

static ssize_t x_send(int fd, const void *buf, size_t len)
{
    X_OP(corio_send(fd, buf, len, 0), corio_send_cb(cb_loop, op, fd, buf, len, 0, rec_done));
}

static int x_poll(int fd, unsigned events)
{
    X_OP(corio_poll(fd, events), corio_poll_cb(cb_loop, op, fd, events, rec_done));
}

static int x_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    X_OP(corio_connect(fd, addr, len), corio_connect_cb(cb_loop, op, fd, addr, len, rec_done));
}

static int x_accept(int fd)
{
    X_OP(corio_accept(fd, NULL, NULL, 0),
         corio_accept_cb(cb_loop, op, fd, NULL, NULL, 0, rec_done));
}

static void *await_body(void *arg)
{
    ((void (*)(void))arg)();
    return NULL;
}

static void run_in_mode(bool cb, void (*fn)(void))
{
    cb_mode = cb;
    if (cb) {
        cb_loop = support_loop(0);
        fn();
        corio_loop_free(cb_loop);
        cb_loop = NULL;
    } else {
        support_run(await_body, (void *)fn);
    }
}

#define BOTH_MODES(name)                                                                           \
    static void test_##name##_cb(void **state)                                                     \
    {                                                                                              \
        (void)state;                                                                               \
        run_in_mode(true, name);                                                                   \
    }                                                                                              \
    static void test_##name##_await(void **state)                                                  \
    {                                                                                              \
        (void)state;                                                                               \
        run_in_mode(false, name);                                                                  \
    }

#define BOTH_MODES_TESTS(name)                                                                     \
    cmocka_unit_test(test_##name##_cb), cmocka_unit_test(test_##name##_await)

/* Runs fn as the only task of a fresh loop. */
static void in_task(void (*fn)(void))
{
    run_in_mode(false, fn);
}

/* ---- 1. an fd number closed with close(2) and reused --------------------------------- */

/* A recv on a[0] that waits, then completes when a[1] writes: a[0] has been waited on. */
static void recv_that_waits(int a[2], const char *msg)
{
    unsigned char buf[32];
    struct parked p = {.call = CALL_RECV, .fd = a[0], .buf = buf, .len = sizeof buf};
    park(&p);
    size_t n = strlen(msg);
    assert_int_equal(write(a[1], msg, n), (ssize_t)n);
    assert_int_equal(finish(&p), (ssize_t)n);
    assert_memory_equal(buf, msg, n);
}

static void reused_fd_number(void)
{
    int a[2], b[2];
    unix_pair(a);
    recv_that_waits(a, "old");
    unix_pair(b);
    int num = a[0];
    close(a[0]); /* behind corio's back */
    close(a[1]);
    assert_int_equal(dup2(b[0], num), num); /* the number now names another socket */
    close(b[0]);

    recv_that_waits((int[]){num, b[1]}, "new socket");
    recv_that_waits((int[]){num, b[1]}, "and again");
    close(num);
    close(b[1]);
}

static void
test_recv_on_an_fd_number_reused_after_close_parks_and_completes_when_the_new_peer_writes(
    void **state)
{
    (void)state;
    in_task(reused_fd_number);
}

/* The old socket stays open under another number (so its registration, on epoll, is still
 * in the set under the old number): the new socket's recv still waits, is not completed
 * by the old socket's data, and gets the new socket's bytes. */
static void reused_fd_number_old_alive(void)
{
    int a[2], b[2];
    unix_pair(a);
    recv_that_waits(a, "old");
    int num = a[0];
    int old = dup(a[0]);
    assert_true(old >= 0);
    unix_pair(b);
    close(a[0]);
    assert_int_equal(dup2(b[0], num), num);
    close(b[0]);

    unsigned char buf[32];
    struct parked p = {.call = CALL_RECV, .fd = num, .buf = buf, .len = sizeof buf};
    park(&p);
    assert_int_equal(write(a[1], "stale", 5), 5); /* readiness of the old socket */
    let_the_loop_see_it();
    assert_false(p.done);
    assert_int_equal(write(b[1], "fresh", 5), 5);
    assert_int_equal(finish(&p), 5);
    assert_memory_equal(buf, "fresh", 5);

    /* The old socket's bytes are still there for it. */
    assert_int_equal(recv_within(old, buf, sizeof buf), 5);
    assert_memory_equal(buf, "stale", 5);
    close(old);
    close(a[1]);
    close(num);
    close(b[1]);
}

static void
test_recv_on_a_reused_fd_number_ignores_the_old_socket_still_open_elsewhere(void **state)
{
    (void)state;
    in_task(reused_fd_number_old_alive);
}

/* A recv waits on a socket that close(2) closes under it (its peer stays open), and the
 * number is taken by another socket with a recv of its own. Whatever the backend does with
 * the orphan (epoll fails it with -EBADF when the number is waited on again; io_uring
 * keeps it waiting on the old file until cancelled), it never gets the new socket's
 * bytes, which go, all of them, to the new recv. */
static void orphan_never_reads_the_new_socket(void)
{
    int a[2], b[2];
    unix_pair(a);
    unsigned char old_buf[32], buf[32];
    memset(old_buf, 0xee, sizeof old_buf);
    struct parked orphan = {.call = CALL_RECV, .fd = a[0], .buf = old_buf, .len = sizeof old_buf};
    park(&orphan);
    int num = a[0];
    close(a[0]);
    unix_pair(b); /* b[0] is most likely num itself, the lowest free number */
    if (b[0] != num) {
        assert_int_equal(dup2(b[0], num), num);
        close(b[0]);
    }

    struct parked p = {.call = CALL_RECV, .fd = num, .buf = buf, .len = sizeof buf};
    park(&p);
    assert_int_equal(write(b[1], "fresh", 5), 5);
    assert_int_equal(finish(&p), 5);
    assert_memory_equal(buf, "fresh", 5);
    ssize_t res;
    if (orphan.done) {
        res = finish(&orphan);
    } else {
        assert_int_equal(corio_cancel(orphan.task), 0);
        int joined = corio_join(orphan.task, NULL);
        assert_true(joined == 0 || joined == -ECANCELED);
        res = orphan.res;
    }
    if (res != -EBADF && res != -ECANCELED)
        fail_msg("the orphaned recv gave %zd", res);
    assert_all(old_buf, sizeof old_buf, 0xee);
    close(a[1]);
    close(num);
    close(b[1]);
}

static void test_a_recv_orphaned_by_close_never_reads_the_socket_that_takes_its_number(void **state)
{
    (void)state;
    in_task(orphan_never_reads_the_new_socket);
}

/* ---- 2. readiness that came while nothing waited -------------------------------------- */

static void socket_data_while_nothing_waited(void)
{
    int a[2];
    unix_pair(a);
    recv_that_waits(a, "first"); /* a[0] has been waited on */
    assert_int_equal(write(a[1], "late", 4), 4);
    let_the_loop_see_it();
    unsigned char buf[16];
    uint64_t t0 = support_now_ns();
    assert_int_equal(recv_within(a[0], buf, sizeof buf), 4);
    assert_true(support_now_ns() - t0 < 2 * SEC);
    assert_memory_equal(buf, "late", 4);

    /* The peer closes while nothing waits: the next recv gives 0. */
    close(a[1]);
    let_the_loop_see_it();
    assert_int_equal(recv_within(a[0], buf, sizeof buf), 0);
    close(a[0]);
}

static void test_data_and_eof_that_arrived_while_no_recv_waited_are_received_at_once(void **state)
{
    (void)state;
    in_task(socket_data_while_nothing_waited);
}

/* A read end r (blocking, as pipes and FIFOs come) whose writer is w. */
static void reader_sees_what_came_while_nothing_waited(int r, int w)
{
    unsigned char buf[16];
    struct parked p = {.call = CALL_READ, .fd = r, .buf = buf, .len = sizeof buf};
    park(&p); /* r has been waited on */
    assert_int_equal(write(w, "one", 3), 3);
    assert_int_equal(finish(&p), 3);
    assert_memory_equal(buf, "one", 3);

    assert_int_equal(write(w, "two", 3), 3);
    let_the_loop_see_it();
    assert_int_equal(read_within(r, buf, sizeof buf), 3);
    assert_memory_equal(buf, "two", 3);

    close(w);
    let_the_loop_see_it();
    assert_int_equal(read_within(r, buf, sizeof buf), 0);
    assert_int_equal(read_within(r, buf, sizeof buf), 0); /* and stays at EOF */
    close(r);
}

static void pipe_eof_while_nothing_waited(void)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    reader_sees_what_came_while_nothing_waited(p[0], p[1]);
}

static void test_pipe_data_and_writer_close_while_no_read_waited_are_read_at_once(void **state)
{
    (void)state;
    in_task(pipe_eof_while_nothing_waited);
}

/* A named FIFO in /tmp (unlinked at once), both ends blocking: *r to read, *w to write. */
static void open_fifo(int *r, int *w)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/corio-backend-fifo-%d", (int)getpid());
    (void)unlink(path);
    assert_int_equal(mkfifo(path, 0600), 0);
    *r = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* no writer yet: do not block */
    assert_true(*r >= 0);
    *w = open(path, O_WRONLY | O_CLOEXEC);
    assert_true(*w >= 0);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(fcntl(*r, F_SETFL, fcntl(*r, F_GETFL) & ~O_NONBLOCK), 0);
}

static void fifo_eof_while_nothing_waited(void)
{
    int r, w;
    open_fifo(&r, &w);
    reader_sees_what_came_while_nothing_waited(r, w);
}

static void test_fifo_data_and_writer_close_while_no_read_waited_are_read_at_once(void **state)
{
    (void)state;
    in_task(fifo_eof_while_nothing_waited);
}

/* More than a FIFO holds, written (write and writev) by a task while another task of the
 * same loop reads it: the write may be short, but must not block the loop's thread (the reader
 * could then never run); writer and reader finish with every byte in order. */
#define FIFO_LEN (1024 * 1024)

struct fifo_reader {
    int fd;
    size_t got;
    ssize_t err;
};

static void *fifo_reader_main(void *arg)
{
    struct fifo_reader *f = arg;
    static unsigned char buf[65536];
    while (f->got < FIFO_LEN) {
        ssize_t n = read_within(f->fd, buf, sizeof buf);
        if (n <= 0) {
            f->err = n;
            break;
        }
        assert_pattern(buf, (size_t)n, f->got);
        f->got += (size_t)n;
    }
    return NULL;
}

static void fifo_write_bigger_than_the_pipe(void)
{
    int r, w;
    open_fifo(&r, &w);
    static unsigned char data[FIFO_LEN];
    for (size_t i = 0; i < FIFO_LEN; i++)
        data[i] = pat(i);
    struct fifo_reader f = {.fd = r};
    corio_task_t *t;
    assert_int_equal(corio_spawn(NULL, fifo_reader_main, &f, &t), 0);
    size_t sent = 0;
    int calls = 0;
    assert_int_equal(corio_timeout_begin(BOUND), 0);
    while (sent < FIFO_LEN) {
        size_t left = FIFO_LEN - sent, first = left < 5000 ? left : 5000;
        /* Every other call a writev of uneven pieces, one of them empty. */
        struct iovec iov[3] = {
            {data + sent, first}, {data + sent + first, 0}, {data + sent + first, left - first}};
        ssize_t n = calls % 2 ? corio_writev(w, iov, 3, -1) : corio_write(w, data + sent, left, -1);
        assert_true(n > 0);
        sent += (size_t)n;
        calls++;
    }
    corio_timeout_end();
    assert_true(calls > 1); /* 1 MiB never fits a pipe at once */
    assert_int_equal(corio_join(t, NULL), 0);
    assert_int_equal(f.err, 0);
    assert_int_equal(f.got, FIFO_LEN);
    close(w);
    unsigned char c;
    assert_int_equal(read_within(r, &c, 1), 0);
    close(r);
}

static void
test_a_fifo_write_bigger_than_the_pipe_does_not_block_a_reader_on_the_same_loop(void **state)
{
    (void)state;
    in_task(fifo_write_bigger_than_the_pipe);
}

/* ---- 3. a recv and a send parked on one socket ---------------------------------------- */

#define SEND_LEN (256 * 1024)

struct sender {
    int fd;
    size_t from; /* stream position of its first byte */
    size_t sent;
    int calls;
    ssize_t err;
    bool done;
};

static void *sender_main(void *arg)
{
    struct sender *s = arg;
    static unsigned char data[SEND_LEN];
    for (size_t i = 0; i < SEND_LEN; i++)
        data[i] = pat(s->from + i);
    assert_int_equal(corio_timeout_begin(BOUND), 0);
    while (s->sent < SEND_LEN) {
        ssize_t n = corio_send(s->fd, data + s->sent, SEND_LEN - s->sent, 0);
        s->calls++;
        if (n <= 0) {
            s->err = n;
            break;
        }
        s->sent += (size_t)n;
    }
    corio_timeout_end();
    s->done = true;
    return NULL;
}

/* Sends from position *pos until the send buffer is full, and stays full after the loop
 * has had time to move what was in flight (TCP's ACKs free room late). */
static void fill_send_buffer(int fd, size_t *pos)
{
    unsigned char chunk[4096];
    for (int quiet = 0; quiet < 2;) {
        size_t before = *pos;
        for (;;) {
            for (size_t i = 0; i < sizeof chunk; i++)
                chunk[i] = pat(*pos + i);
            ssize_t n = send(fd, chunk, sizeof chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n < 0) {
                assert_int_equal(errno, EAGAIN);
                break;
            }
            *pos += (size_t)n;
        }
        let_the_loop_see_it();
        quiet = *pos == before ? quiet + 1 : 0;
    }
}

static void recv_and_send_parked_on_one_socket(int ours, int peer)
{
    /* A small send buffer fills fast. (A small SO_RCVBUF at a TCP peer would leave its
     * window below the MSS: the sender then waits on the persist timer, for seconds.) */
    int small = 4096;
    assert_int_equal(setsockopt(ours, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    size_t filled = 0;
    fill_send_buffer(ours, &filled);
    assert_true(filled > 0);

    unsigned char rbuf[64];
    memset(rbuf, 0xA5, sizeof rbuf);
    struct parked r = {.call = CALL_RECV, .fd = ours, .buf = rbuf, .len = sizeof rbuf};
    struct sender s = {.fd = ours, .from = filled};
    corio_task_t *st;
    assert_int_equal(corio_spawn(NULL, sender_main, &s, &st), 0);
    park(&r);
    assert_false(s.done);
    assert_int_equal(s.sent, 0); /* the send really waits */

    /* The peer writes: the recv completes, the send still waits. */
    assert_int_equal(write(peer, "ping", 4), 4);
    assert_int_equal(finish(&r), 4);
    assert_memory_equal(rbuf, "ping", 4);
    assert_all(rbuf + 4, sizeof rbuf - 4, 0xA5);
    let_the_loop_see_it();
    assert_false(s.done);

    /* The peer reads everything: the send completes, every byte in order. */
    static unsigned char in[65536];
    size_t got = 0, total = filled + SEND_LEN;
    while (got < total) {
        ssize_t n = recv_within(peer, in, sizeof in);
        assert_true(n > 0);
        assert_pattern(in, (size_t)n, got);
        got += (size_t)n;
    }
    assert_int_equal(corio_join(st, NULL), 0);
    assert_true(s.done);
    assert_int_equal(s.err, 0);
    assert_int_equal(s.sent, SEND_LEN);
    assert_int_equal(got, total);

    /* Both directions still work. */
    assert_int_equal(write(peer, "pong", 4), 4);
    assert_int_equal(recv_within(ours, rbuf, sizeof rbuf), 4);
    assert_memory_equal(rbuf, "pong", 4);
    close(ours);
    close(peer);
}

static void recv_and_send_parked_unix(void)
{
    int a[2];
    unix_pair(a);
    recv_and_send_parked_on_one_socket(a[0], a[1]);
}

static void recv_and_send_parked_tcp(void)
{
    int c, s;
    support_tcp_pair(&c, &s);
    recv_and_send_parked_on_one_socket(c, s);
}

static void
test_recv_and_send_parked_on_one_unix_socket_both_complete_when_the_peer_acts(void **state)
{
    (void)state;
    in_task(recv_and_send_parked_unix);
}

static void
test_recv_and_send_parked_on_one_tcp_socket_both_complete_when_the_peer_acts(void **state)
{
    (void)state;
    in_task(recv_and_send_parked_tcp);
}

/* ---- 4. cancel of a parked recv -------------------------------------------------------- */

struct cancel_case {
    struct rec recv;
    corio_op_t nop;
    corio_loop_t *loop;
    int cancel_res;
};

/* Runs once the recv has reached the kernel and waits: cancels it. */
static void cancel_the_recv(corio_op_t *op, int res)
{
    (void)res;
    struct cancel_case *c = op->data;
    assert_int_equal(c->recv.calls, 0);
    c->cancel_res = corio_op_cancel(c->loop, &c->recv.op);
}

static void
test_op_cancel_of_a_parked_recv_gives_ecanceled_leaves_the_buffer_and_loses_no_data(void **state)
{
    (void)state;
    int a[2];
    unix_pair(a);
    struct cancel_case c = {.loop = support_loop(0), .cancel_res = 1};
    unsigned char buf[64];
    memset(buf, 0xA5, sizeof buf);
    assert_int_equal(corio_recv_cb(c.loop, &c.recv.op, a[0], buf, sizeof buf, 0, rec_done), 0);
    c.nop.data = &c;
    assert_int_equal(corio_nop_cb(c.loop, &c.nop, cancel_the_recv), 0);
    assert_int_equal(corio_loop_run(c.loop), 0);
    assert_int_equal(c.cancel_res, 0);
    assert_int_equal(c.recv.calls, 1);
    assert_int_equal(c.recv.res, -ECANCELED);
    assert_all(buf, sizeof buf, 0xA5);
    assert_int_equal(corio_op_cancel(c.loop, &c.recv.op), -ENOENT);

    /* What the peer sends afterwards is read in full by the next recv. */
    const char msg[] = "sent after the cancel";
    assert_int_equal(write(a[1], msg, sizeof msg), (ssize_t)sizeof msg);
    struct rec next = {0};
    assert_int_equal(corio_recv_cb(c.loop, &next.op, a[0], buf, sizeof buf, 0, rec_done), 0);
    assert_int_equal(corio_loop_run(c.loop), 0);
    assert_int_equal(next.calls, 1);
    assert_int_equal(next.res, (int)sizeof msg);
    assert_memory_equal(buf, msg, sizeof msg);
    assert_all(buf + sizeof msg, sizeof buf - sizeof msg, 0xA5);

    /* Cancelled before the loop ever ran (not yet in the kernel): the same. */
    memset(buf, 0xA5, sizeof buf);
    struct rec early = {0};
    assert_int_equal(corio_recv_cb(c.loop, &early.op, a[0], buf, sizeof buf, 0, rec_done), 0);
    assert_int_equal(corio_op_cancel(c.loop, &early.op), 0);
    assert_int_equal(corio_loop_run(c.loop), 0);
    assert_int_equal(early.calls, 1);
    assert_int_equal(early.res, -ECANCELED);
    assert_all(buf, sizeof buf, 0xA5);
    assert_int_equal(write(a[1], "x", 1), 1);
    struct rec last = {0};
    assert_int_equal(corio_recv_cb(c.loop, &last.op, a[0], buf, sizeof buf, 0, rec_done), 0);
    assert_int_equal(corio_loop_run(c.loop), 0);
    assert_int_equal(last.res, 1);
    assert_int_equal(buf[0], 'x');

    corio_loop_free(c.loop);
    close(a[0]);
    close(a[1]);
}

static void task_cancel_of_a_parked_recv(void)
{
    int a[2];
    unix_pair(a);
    unsigned char buf[64];
    memset(buf, 0xA5, sizeof buf);
    struct parked p = {.call = CALL_RECV, .fd = a[0], .buf = buf, .len = sizeof buf};
    park(&p);
    assert_int_equal(corio_cancel(p.task), 0);
    assert_int_equal(corio_join(p.task, NULL), -ECANCELED);
    assert_true(p.done);
    assert_int_equal(p.res, -ECANCELED);
    assert_all(buf, sizeof buf, 0xA5);

    const char msg[] = "sent after the cancel";
    assert_int_equal(write(a[1], msg, sizeof msg), (ssize_t)sizeof msg);
    assert_int_equal(recv_within(a[0], buf, sizeof buf), (ssize_t)sizeof msg);
    assert_memory_equal(buf, msg, sizeof msg);
    assert_all(buf + sizeof msg, sizeof buf - sizeof msg, 0xA5);
    close(a[0]);
    close(a[1]);
}

static void
test_task_cancel_of_a_parked_recv_gives_ecanceled_leaves_the_buffer_and_loses_no_data(void **state)
{
    (void)state;
    in_task(task_cancel_of_a_parked_recv);
}

/* ---- 5. a deadline on a parked recv ---------------------------------------------------- */

static void deadline_on_a_parked_recv(void)
{
    int a[2];
    unix_pair(a);
    unsigned char buf[32];
    memset(buf, 0xA5, sizeof buf);
    const uint64_t limit = 150 * MS;
    uint64_t t0 = support_now_ns();
    assert_int_equal(corio_timeout_begin(limit), 0);
    ssize_t n = corio_recv(a[0], buf, sizeof buf, 0);
    corio_timeout_end();
    uint64_t took = support_now_ns() - t0;
    assert_int_equal(n, -ETIMEDOUT);
    if (took < limit)
        fail_msg("the deadline of %llu ms fired after %.3f ms", (unsigned long long)(limit / MS),
                 (double)took / MS);
    assert_true(took < 5 * SEC);
    assert_all(buf, sizeof buf, 0xA5);

    /* The socket works both ways afterwards, and no byte went to the timed-out recv. */
    assert_int_equal(write(a[1], "still here", 10), 10);
    assert_int_equal(recv_within(a[0], buf, sizeof buf), 10);
    assert_memory_equal(buf, "still here", 10);
    assert_int_equal(corio_send(a[0], "back", 4, 0), 4);
    assert_int_equal(recv_within(a[1], buf, sizeof buf), 4);
    assert_memory_equal(buf, "back", 4);
    /* And a later recv with a deadline that does not expire gets its data. */
    unsigned char b2[8];
    struct parked p = {.call = CALL_RECV, .fd = a[0], .buf = b2, .len = sizeof b2};
    park(&p);
    assert_int_equal(write(a[1], "late", 4), 4);
    assert_int_equal(finish(&p), 4);
    assert_memory_equal(b2, "late", 4);
    close(a[0]);
    close(a[1]);
}

static void
test_deadline_on_a_parked_recv_gives_etimedout_not_early_and_the_socket_still_works(void **state)
{
    (void)state;
    in_task(deadline_on_a_parked_recv);
}

/* ---- 7. connect, and bad fds ----------------------------------------------------------- */

static void connect_to_a_listener_gives_zero_and_keeps_the_file_flags(void)
{
    uint16_t port;
    int lfd = support_listener(&port);
    struct sockaddr_in to = support_loopback(port);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    int before = fcntl(fd, F_GETFL);
    assert_false(before & O_NONBLOCK);
    assert_int_equal(x_connect(fd, (struct sockaddr *)&to, sizeof to), 0);
    assert_int_equal(fcntl(fd, F_GETFL), before);
    int s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(s >= 0);
    assert_int_equal(support_peer_port(s), support_local_port(fd));
    /* Connected, and still blocking as it was. */
    assert_int_equal(x_send(fd, "hi", 2), 2);
    char buf[4];
    assert_int_equal(read(s, buf, sizeof buf), 2);
    assert_memory_equal(buf, "hi", 2);
    close(s);
    close(fd);
    close(lfd);
}
BOTH_MODES(connect_to_a_listener_gives_zero_and_keeps_the_file_flags)

static void connect_to_a_refusing_port_gives_econnrefused_and_keeps_the_file_flags(void)
{
    struct sockaddr_in to = support_loopback(support_refused_port());
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    int before = fcntl(fd, F_GETFL);
    assert_int_equal(x_connect(fd, (struct sockaddr *)&to, sizeof to), -ECONNREFUSED);
    assert_int_equal(fcntl(fd, F_GETFL), before);
    close(fd);
}
BOTH_MODES(connect_to_a_refusing_port_gives_econnrefused_and_keeps_the_file_flags)

static void ebadf_for_every_call_on(int fd)
{
    unsigned char buf[8] = {0};
    struct sockaddr_in to = support_loopback(support_refused_port());
    assert_int_equal(x_recv(fd, buf, sizeof buf), -EBADF);
    assert_int_equal(x_send(fd, buf, sizeof buf), -EBADF);
    assert_int_equal(x_read(fd, buf, sizeof buf, 0), -EBADF);
    assert_int_equal(x_read(fd, buf, sizeof buf, -1), -EBADF);
    assert_int_equal(x_write(fd, buf, sizeof buf, 0), -EBADF);
    assert_int_equal(x_write(fd, buf, sizeof buf, -1), -EBADF);
    assert_int_equal(x_poll(fd, POLLIN), -EBADF);
    assert_int_equal(x_poll(fd, POLLOUT), -EBADF);
    assert_int_equal(x_connect(fd, (struct sockaddr *)&to, sizeof to), -EBADF);
    assert_int_equal(x_accept(fd), -EBADF);
}

static void bad_and_closed_fds_give_ebadf_for_every_call(void)
{
    ebadf_for_every_call_on(-1);
    int closed = closed_fd();
    ebadf_for_every_call_on(closed);
    assert_int_equal(fcntl(closed, F_GETFD), -1); /* nothing opened under that number */
    ebadf_for_every_call_on(closed + 5000);       /* never opened, above any table so far */
    ebadf_for_every_call_on(1 << 30);             /* above any fd limit */
}
BOTH_MODES(bad_and_closed_fds_give_ebadf_for_every_call)

/* ---- 8. poll on a pipe ----------------------------------------------------------------- */

static void poll_on_a_pipe_reports_pollin_after_a_write_and_pollhup_after_the_writer_closes(void)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    int ev = x_poll(p[0], POLLIN);
    assert_true(ev & POLLIN);
    assert_false(ev & POLLHUP);
    ev = x_poll(p[1], POLLOUT);
    assert_true(ev & POLLOUT);
    char c;
    assert_int_equal(read(p[0], &c, 1), 1);

    close(p[1]);
    ev = x_poll(p[0], POLLIN);
    assert_true(ev & POLLHUP);
    assert_false(ev & POLLIN); /* nothing left to read */
    close(p[0]);
}
BOTH_MODES(poll_on_a_pipe_reports_pollin_after_a_write_and_pollhup_after_the_writer_closes)

/* A parked poll, woken by a write, then by the writer closing. */
static void parked_poll_on_a_pipe(void)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    struct parked w = {.call = CALL_POLL, .fd = p[0], .events = POLLIN};
    park(&w);
    assert_int_equal(write(p[1], "x", 1), 1);
    ssize_t ev = finish(&w);
    assert_true(ev & POLLIN);
    assert_false(ev & POLLHUP);
    char c;
    assert_int_equal(read(p[0], &c, 1), 1);

    park(&w);
    close(p[1]);
    ev = finish(&w);
    assert_true(ev & POLLHUP);
    assert_false(ev & POLLIN);
    close(p[0]);
}

static void
test_parked_poll_on_a_pipe_gets_pollin_after_a_write_and_pollhup_after_the_writer_closes(
    void **state)
{
    (void)state;
    in_task(parked_poll_on_a_pipe);
}

/* ---- 9. regular files ------------------------------------------------------------------ */

#define FILE_LEN 65536

static off_t position(int fd)
{
    return lseek(fd, 0, SEEK_CUR);
}

static void file_reads_and_writes_at_offsets_and_at_the_position_are_byte_exact(void)
{
    int fd = support_pattern_file(FILE_LEN);
    unsigned char buf[4096];

    /* Reads at offsets leave the position alone. */
    assert_int_equal(lseek(fd, 300, SEEK_SET), 300);
    assert_int_equal(x_read(fd, buf, 1000, 1000), 1000);
    assert_pattern(buf, 1000, 1000);
    assert_int_equal(x_read(fd, buf, 4096, 0), 4096);
    assert_pattern(buf, 4096, 0);
    assert_int_equal(x_read(fd, buf, 4096, FILE_LEN - 100), 100); /* short at the end */
    assert_pattern(buf, 100, FILE_LEN - 100);
    assert_int_equal(x_read(fd, buf, 10, FILE_LEN), 0);
    assert_int_equal(position(fd), 300);

    /* Reads at -1 start at the position and move it. */
    assert_int_equal(x_read(fd, buf, 100, -1), 100);
    assert_pattern(buf, 100, 300);
    assert_int_equal(position(fd), 400);
    assert_int_equal(x_read(fd, buf, 4096, -1), 4096);
    assert_pattern(buf, 4096, 400);
    assert_int_equal(position(fd), 4496);

    /* Writes at an offset leave the position alone. */
    unsigned char data[1500];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(0xF0 ^ i);
    assert_int_equal(x_write(fd, data, sizeof data, 10000), (ssize_t)sizeof data);
    assert_int_equal(position(fd), 4496);
    assert_int_equal(pread(fd, buf, sizeof data + 2, 9999), (ssize_t)sizeof data + 2);
    assert_int_equal(buf[0], pat(9999));
    assert_memory_equal(buf + 1, data, sizeof data);
    assert_int_equal(buf[sizeof data + 1], pat(10000 + sizeof data));

    /* Writes at -1 go to the position and move it. */
    assert_int_equal(x_write(fd, data, 500, -1), 500);
    assert_int_equal(position(fd), 4996);
    assert_int_equal(pread(fd, buf, 502, 4495), 502);
    assert_int_equal(buf[0], pat(4495));
    assert_memory_equal(buf + 1, data, 500);
    assert_int_equal(buf[501], pat(4996));

    /* Past the end: the file grows; a read there at -1 returns what was written. */
    assert_int_equal(lseek(fd, 0, SEEK_END), FILE_LEN);
    assert_int_equal(x_write(fd, data, sizeof data, -1), (ssize_t)sizeof data);
    assert_int_equal(position(fd), FILE_LEN + (off_t)sizeof data);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_size, FILE_LEN + (off_t)sizeof data);
    assert_int_equal(lseek(fd, FILE_LEN, SEEK_SET), FILE_LEN);
    memset(buf, 0, sizeof buf);
    assert_int_equal(x_read(fd, buf, sizeof buf, -1), (ssize_t)sizeof data);
    assert_memory_equal(buf, data, sizeof data);
    assert_int_equal(x_read(fd, buf, sizeof buf, -1), 0);
    close(fd);
}
BOTH_MODES(file_reads_and_writes_at_offsets_and_at_the_position_are_byte_exact)

#define COLD_LEN (2 * 1024 * 1024)

/* Pages of fd's first len bytes that are in the page cache. */
static size_t cached_pages(int fd, size_t len)
{
    void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    assert_true(map != MAP_FAILED);
    size_t page = (size_t)sysconf(_SC_PAGESIZE), n = (len + page - 1) / page, in = 0;
    unsigned char *vec = malloc(n);
    assert_non_null(vec);
    assert_int_equal(mincore(map, len, vec), 0);
    for (size_t i = 0; i < n; i++)
        in += vec[i] & 1;
    free(vec);
    munmap(map, len);
    return in;
}

static void drop_from_cache(int fd)
{
    assert_int_equal(fdatasync(fd), 0);
    assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    size_t in = cached_pages(fd, COLD_LEN);
    if (in != 0)
        print_message("note: %zu pages still cached after POSIX_FADV_DONTNEED\n", in);
}

static void file_not_in_the_page_cache_reads_and_writes_byte_exact(void)
{
    int fd = support_pattern_file(COLD_LEN);
    static unsigned char buf[COLD_LEN];

    drop_from_cache(fd);
    assert_int_equal(x_read(fd, buf, 300000, 123457), 300000);
    assert_pattern(buf, 300000, 123457);

    drop_from_cache(fd);
    assert_int_equal(lseek(fd, 1000001, SEEK_SET), 1000001);
    assert_int_equal(x_read(fd, buf, 500000, -1), 500000);
    assert_pattern(buf, 500000, 1000001);
    assert_int_equal(position(fd), 1500001);

    /* The whole file, then a write into a dropped range, read back. */
    drop_from_cache(fd);
    memset(buf, 0, sizeof buf);
    assert_int_equal(x_read(fd, buf, COLD_LEN, 0), COLD_LEN);
    assert_pattern(buf, COLD_LEN, 0);
    unsigned char data[9000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 13 + 1);
    drop_from_cache(fd);
    assert_int_equal(x_write(fd, data, sizeof data, 777777), (ssize_t)sizeof data);
    drop_from_cache(fd);
    assert_int_equal(x_read(fd, buf, sizeof data + 2, 777776), (ssize_t)sizeof data + 2);
    assert_int_equal(buf[0], pat(777776));
    assert_memory_equal(buf + 1, data, sizeof data);
    assert_int_equal(buf[sizeof data + 1], pat(777777 + sizeof data));
    close(fd);
}
BOTH_MODES(file_not_in_the_page_cache_reads_and_writes_byte_exact)

/* ---- 10. 1,000 parked tasks fed in reverse ---------------------------------------------- */

#define NTASKS 1000

struct pair_task {
    int fd[2];
    unsigned char buf[32];
    ssize_t res;
    bool done;
};

static void *pair_task_main(void *arg)
{
    struct pair_task *t = arg;
    t->res = recv_within(t->fd[0], t->buf, sizeof t->buf);
    t->done = true;
    return NULL;
}

static int message(char *out, size_t size, int i)
{
    return snprintf(out, size, "task %d of %d", i, NTASKS);
}

static void thousand_tasks(void)
{
    struct pair_task *pt = calloc(NTASKS, sizeof *pt);
    corio_task_t **tasks = calloc(NTASKS, sizeof *tasks);
    assert_non_null(pt);
    assert_non_null(tasks);
    for (int i = 0; i < NTASKS; i++) {
        unix_pair(pt[i].fd);
        memset(pt[i].buf, 0xA5, sizeof pt[i].buf);
        assert_int_equal(corio_spawn(NULL, pair_task_main, &pt[i], &tasks[i]), 0);
    }
    settle();
    for (int i = 0; i < NTASKS; i++)
        assert_false(pt[i].done);

    char msg[32];
    for (int i = NTASKS - 1; i >= 0; i--) {
        int n = message(msg, sizeof msg, i);
        assert_int_equal(write(pt[i].fd[1], msg, (size_t)n), n);
        if (i % 64 == 0)
            corio_yield(); /* some complete while the rest are still waiting */
    }
    assert_int_equal(corio_gather(tasks, NTASKS, NULL), 0);
    for (int i = 0; i < NTASKS; i++) {
        int n = message(msg, sizeof msg, i);
        assert_true(pt[i].done);
        if (pt[i].res != n)
            fail_msg("task %d: recv gave %zd, expected %d", i, pt[i].res, n);
        assert_memory_equal(pt[i].buf, msg, (size_t)n);
        assert_all(pt[i].buf + n, sizeof pt[i].buf - (size_t)n, 0xA5);
        close(pt[i].fd[0]);
        close(pt[i].fd[1]);
    }
    free(tasks);
    free(pt);
}

static void
test_1000_tasks_parked_on_their_own_socketpairs_fed_in_reverse_all_get_their_bytes(void **state)
{
    (void)state;
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < 2 * NTASKS + 100) {
        if (rl.rlim_max < 2 * NTASKS + 100) {
            print_message("skipped: RLIMIT_NOFILE %llu is too low\n",
                          (unsigned long long)rl.rlim_max);
            skip();
        }
        rl.rlim_cur = rl.rlim_max;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    in_task(thousand_tasks);
}

int main(void)
{
    support_require_uring();
    support_watchdog(60);
    print_message("backend: %s\n", support_backend());
    const struct CMUnitTest tests[] = {
        /* 1 */
        cmocka_unit_test(
            test_recv_on_an_fd_number_reused_after_close_parks_and_completes_when_the_new_peer_writes),
        cmocka_unit_test(
            test_recv_on_a_reused_fd_number_ignores_the_old_socket_still_open_elsewhere),
        cmocka_unit_test(
            test_a_recv_orphaned_by_close_never_reads_the_socket_that_takes_its_number),
        /* 2 */
        cmocka_unit_test(test_data_and_eof_that_arrived_while_no_recv_waited_are_received_at_once),
        cmocka_unit_test(test_pipe_data_and_writer_close_while_no_read_waited_are_read_at_once),
        cmocka_unit_test(test_fifo_data_and_writer_close_while_no_read_waited_are_read_at_once),
        cmocka_unit_test(
            test_a_fifo_write_bigger_than_the_pipe_does_not_block_a_reader_on_the_same_loop),
        /* 3 */
        cmocka_unit_test(
            test_recv_and_send_parked_on_one_unix_socket_both_complete_when_the_peer_acts),
        cmocka_unit_test(
            test_recv_and_send_parked_on_one_tcp_socket_both_complete_when_the_peer_acts),
        /* 4 */
        cmocka_unit_test(
            test_op_cancel_of_a_parked_recv_gives_ecanceled_leaves_the_buffer_and_loses_no_data),
        cmocka_unit_test(
            test_task_cancel_of_a_parked_recv_gives_ecanceled_leaves_the_buffer_and_loses_no_data),
        /* 5 */
        cmocka_unit_test(
            test_deadline_on_a_parked_recv_gives_etimedout_not_early_and_the_socket_still_works),
        /* 7 */
        BOTH_MODES_TESTS(connect_to_a_listener_gives_zero_and_keeps_the_file_flags),
        BOTH_MODES_TESTS(connect_to_a_refusing_port_gives_econnrefused_and_keeps_the_file_flags),
        BOTH_MODES_TESTS(bad_and_closed_fds_give_ebadf_for_every_call),
        /* 8 */
        BOTH_MODES_TESTS(
            poll_on_a_pipe_reports_pollin_after_a_write_and_pollhup_after_the_writer_closes),
        cmocka_unit_test(
            test_parked_poll_on_a_pipe_gets_pollin_after_a_write_and_pollhup_after_the_writer_closes),
        /* 9 */
        BOTH_MODES_TESTS(file_reads_and_writes_at_offsets_and_at_the_position_are_byte_exact),
        BOTH_MODES_TESTS(file_not_in_the_page_cache_reads_and_writes_byte_exact),
        /* 10 */
        cmocka_unit_test(
            test_1000_tasks_parked_on_their_own_socketpairs_fed_in_reverse_all_get_their_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
