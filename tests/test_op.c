/* Tests of the operations (engine/op.c, engine/ring.c) in both modes: every op's happy
 * path and errors, once through its _cb form on a caller-owned op and once through its
 * await form inside a task (the same test body runs in each mode); argument checks before
 * anything is queued; then callback-mode matters: multishot accept, poll, kernel
 * timeouts, corio_op_cancel and -EBUSY, a completion racing its cancel, a full SQ, CQ
 * overflow, corio_loop_free with ops in flight, and await calls outside a task. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

#define MS  1000000ull
#define SEC (1000 * MS)

/* ---- shared helpers ---------------------------------------------------------------- */

/* Byte i of a support_pattern_file. */
static unsigned char pat(size_t i)
{
    return (unsigned char)((i * 7 + 3) & 0xff);
}

/* buf holds the pattern file's bytes [at, at + len). */
static void assert_pattern(const unsigned char *buf, size_t len, size_t at)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] != pat(at + i))
            fail_msg("byte at file offset %zu is 0x%02x, expected 0x%02x", at + i, buf[i],
                     pat(at + i));
}

/* An fd number that is not open: a pipe's write end, closed (with its read end, which
 * has the lower number and so is the one the next open takes). */
static int closed_fd(void)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    close(p[0]);
    close(p[1]);
    return p[1];
}

/* A path in /tmp that does not exist yet. */
static void temp_path(char *path, size_t size)
{
    snprintf(path, size, "/tmp/corio-op-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(unlink(path), 0);
}

/* Each write reaches the peer at once (no Nagle delay); a blocking read of data that must
 * be there is bounded rather than hanging. */
static void tcp_pair_nodelay(int *client, int *server)
{
    support_tcp_pair(client, server);
    int one = 1;
    assert_int_equal(setsockopt(*client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one), 0);
    struct timeval tv = {.tv_sec = 5};
    assert_int_equal(setsockopt(*server, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
}

/* Nothing (more) is waiting to be read on fd. */
static void assert_nothing_to_read(int fd)
{
    char c;
    assert_int_equal(recv(fd, &c, 1, MSG_DONTWAIT), -1);
    assert_int_equal(errno, EAGAIN);
}

/* A callback-mode op that records what it was given. */
struct rec {
    corio_op_t op; /* first: the callback gets &rec.op */
    int calls;
    int res;
    bool more; /* corio_op_more() at the last call */
};

static void rec_done(corio_op_t *op, int res)
{
    struct rec *r = (struct rec *)op;
    r->calls++;
    r->res = res;
    r->more = corio_op_more(op);
}

static int forbidden_calls;

/* The callback of a start call that must be refused: counts if it ever runs. */
static void must_not_run(corio_op_t *op, int res)
{
    (void)op;
    (void)res;
    forbidden_calls++;
}

static void stop_loop(corio_op_t *op, int res)
{
    (void)res;
    corio_loop_stop(op->data);
}

/* ---- one body, two modes -------------------------------------------------------------
 * The x_* calls below run one operation to its result. In callback mode (test_*_cb) they
 * start the _cb form on a caller-owned op and run the loop until its callback has run
 * (checking it did not run inside the start call, and never runs when the start call
 * failed); in await mode (test_*_await) the body runs inside a task and they call the
 * await form. After each call `queued` says how many SQEs it submitted: 0 means the
 * arguments were refused before anything reached the kernel. */

enum mode { MODE_CB, MODE_AWAIT };

static enum mode mode;
static corio_loop_t *cb_loop;
static uint64_t queued;

struct sync_op {
    corio_op_t op;
    int calls;
    int res;
};

static void sync_done(corio_op_t *op, int res)
{
    struct sync_op *s = (struct sync_op *)op;
    s->calls++;
    s->res = res;
}

static uint64_t submitted_so_far(void)
{
    corio_loop_stats_t st;
    corio_loop_stats(mode == MODE_CB ? cb_loop : corio_current_loop(), &st);
    return st.submitted;
}

/* Callback mode: err is what the start call returned. */
static int cb_finish(struct sync_op *s, int err)
{
    assert_int_equal(s->calls, 0); /* never from inside the start call */
    assert_int_equal(corio_loop_run(cb_loop), 0);
    if (err < 0) {
        assert_int_equal(s->calls, 0); /* a refused start: the callback never runs */
        return err;
    }
    assert_int_equal(s->calls, 1);
    return s->res;
}

#define SYNC_OP(await_call, cb_start)                                                              \
    do {                                                                                           \
        uint64_t before_ = submitted_so_far();                                                     \
        ssize_t res_;                                                                              \
        if (mode == MODE_AWAIT) {                                                                  \
            res_ = (await_call);                                                                   \
        } else {                                                                                   \
            struct sync_op s_ = {0};                                                               \
            corio_op_t *op = &s_.op;                                                               \
            res_ = cb_finish(&s_, (cb_start));                                                     \
        }                                                                                          \
        queued = submitted_so_far() - before_;                                                     \
        return res_;                                                                               \
    } while (0)

static int x_nop(void)
{
    SYNC_OP(corio_nop(), corio_nop_cb(cb_loop, op, sync_done));
}

static ssize_t x_read(int fd, void *buf, size_t len, int64_t off)
{
    SYNC_OP(corio_read(fd, buf, len, off),
            corio_read_cb(cb_loop, op, fd, buf, len, off, sync_done));
}

static ssize_t x_write(int fd, const void *buf, size_t len, int64_t off)
{
    SYNC_OP(corio_write(fd, buf, len, off),
            corio_write_cb(cb_loop, op, fd, buf, len, off, sync_done));
}

static ssize_t x_readv(int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
    SYNC_OP(corio_readv(fd, iov, iovcnt, off),
            corio_readv_cb(cb_loop, op, fd, iov, iovcnt, off, sync_done));
}

static ssize_t x_writev(int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
    SYNC_OP(corio_writev(fd, iov, iovcnt, off),
            corio_writev_cb(cb_loop, op, fd, iov, iovcnt, off, sync_done));
}

static int x_fsync(int fd, bool datasync)
{
    SYNC_OP(datasync ? corio_fdatasync(fd) : corio_fsync(fd),
            datasync ? corio_fdatasync_cb(cb_loop, op, fd, sync_done)
                     : corio_fsync_cb(cb_loop, op, fd, sync_done));
}

static int x_openat(int dirfd, const char *path, int flags, mode_t mode_bits)
{
    SYNC_OP(corio_openat(dirfd, path, flags, mode_bits),
            corio_openat_cb(cb_loop, op, dirfd, path, flags, mode_bits, sync_done));
}

static int x_close(int fd)
{
    SYNC_OP(corio_close(fd), corio_close_cb(cb_loop, op, fd, sync_done));
}

static int x_statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *out)
{
    SYNC_OP(corio_statx(dirfd, path, flags, mask, out),
            corio_statx_cb(cb_loop, op, dirfd, path, flags, mask, out, sync_done));
}

static int x_socket(int domain, int type, int protocol)
{
    SYNC_OP(corio_socket(domain, type, protocol),
            corio_socket_cb(cb_loop, op, domain, type, protocol, sync_done));
}

static int x_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
    SYNC_OP(corio_accept(fd, addr, addrlen, flags),
            corio_accept_cb(cb_loop, op, fd, addr, addrlen, flags, sync_done));
}

static int x_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    SYNC_OP(corio_connect(fd, addr, addrlen),
            corio_connect_cb(cb_loop, op, fd, addr, addrlen, sync_done));
}

static ssize_t x_recv(int fd, void *buf, size_t len, int flags)
{
    SYNC_OP(corio_recv(fd, buf, len, flags),
            corio_recv_cb(cb_loop, op, fd, buf, len, flags, sync_done));
}

static ssize_t x_send(int fd, const void *buf, size_t len, int flags)
{
    SYNC_OP(corio_send(fd, buf, len, flags),
            corio_send_cb(cb_loop, op, fd, buf, len, flags, sync_done));
}

static ssize_t x_recvmsg(int fd, struct msghdr *msg, int flags)
{
    SYNC_OP(corio_recvmsg(fd, msg, flags),
            corio_recvmsg_cb(cb_loop, op, fd, msg, flags, sync_done));
}

static ssize_t x_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    SYNC_OP(corio_sendmsg(fd, msg, flags),
            corio_sendmsg_cb(cb_loop, op, fd, msg, flags, sync_done));
}

static int x_shutdown(int fd, int how)
{
    SYNC_OP(corio_shutdown(fd, how), corio_shutdown_cb(cb_loop, op, fd, how, sync_done));
}

static int x_poll(int fd, unsigned events)
{
    SYNC_OP(corio_poll(fd, events), corio_poll_cb(cb_loop, op, fd, events, sync_done));
}

struct body {
    void (*fn)(void);
};

static void *await_body(void *arg)
{
    assert_non_null(corio_current());
    ((struct body *)arg)->fn();
    return NULL;
}

static void run_in_mode(enum mode m, void (*fn)(void))
{
    mode = m;
    if (m == MODE_CB) {
        cb_loop = support_loop(0);
        fn();
        corio_loop_free(cb_loop);
        cb_loop = NULL;
    } else {
        struct body b = {fn};
        support_run(await_body, &b);
    }
}

/* Defines test_NAME_cb and test_NAME_await, both running the body NAME(). */
#define BOTH_MODES(name)                                                                           \
    static void test_##name##_cb(void **state)                                                     \
    {                                                                                              \
        (void)state;                                                                               \
        run_in_mode(MODE_CB, name);                                                                \
    }                                                                                              \
    static void test_##name##_await(void **state)                                                  \
    {                                                                                              \
        (void)state;                                                                               \
        run_in_mode(MODE_AWAIT, name);                                                             \
    }

#define BOTH_MODES_TESTS(name)                                                                     \
    cmocka_unit_test(test_##name##_cb), cmocka_unit_test(test_##name##_await)

/* ---- nop ------------------------------------------------------------------------------ */

static void nop_completes_with_zero(void)
{
    for (int i = 0; i < 3; i++) {
        assert_int_equal(x_nop(), 0);
        assert_int_equal(queued, 1);
    }
}
BOTH_MODES(nop_completes_with_zero)

/* ---- read, write, readv, writev ------------------------------------------------------- */

#define FILE_LEN 10000

static off_t position(int fd)
{
    return lseek(fd, 0, SEEK_CUR);
}

static void read_at_offsets_and_at_the_file_position(void)
{
    int fd = support_pattern_file(FILE_LEN);
    unsigned char buf[600];

    /* At an offset: exactly those bytes, and the file position does not move. */
    memset(buf, 0, sizeof buf);
    assert_int_equal(x_read(fd, buf, 500, 1000), 500);
    assert_pattern(buf, 500, 1000);
    assert_int_equal(position(fd), FILE_LEN);

    /* off -1: from the position (the end of the file, where the pattern was written). */
    assert_int_equal(x_read(fd, buf, sizeof buf, -1), 0);
    assert_int_equal(lseek(fd, 3000, SEEK_SET), 3000);
    memset(buf, 0, sizeof buf);
    assert_int_equal(x_read(fd, buf, 100, -1), 100);
    assert_pattern(buf, 100, 3000);
    assert_int_equal(position(fd), 3100);
    memset(buf, 0, sizeof buf);
    assert_int_equal(x_read(fd, buf, 100, -1), 100);
    assert_pattern(buf, 100, 3100);
    assert_int_equal(position(fd), 3200);

    /* Across the end of the file: short; at or past it: 0. */
    memset(buf, 0, sizeof buf);
    assert_int_equal(x_read(fd, buf, sizeof buf, FILE_LEN - 10), 10);
    assert_pattern(buf, 10, FILE_LEN - 10);
    assert_int_equal(x_read(fd, buf, sizeof buf, FILE_LEN), 0);
    assert_int_equal(x_read(fd, buf, sizeof buf, FILE_LEN + 4096), 0);

    /* A NULL buffer with length 0 is allowed and reaches the kernel. */
    assert_int_equal(x_read(fd, NULL, 0, 0), 0);
    assert_int_equal(queued, 1);
    close(fd);
}
BOTH_MODES(read_at_offsets_and_at_the_file_position)

static void read_of_more_than_2_gib_is_clamped_not_truncated(void)
{
    int fd = support_pattern_file(FILE_LEN);
    static unsigned char buf[FILE_LEN];
    /* 4 GiB would truncate to 0 bytes in a 32-bit length, 4 GiB + 16 to 16: clamped to
     * 0x7ffff000 instead, the read stops at the end of the file. */
    memset(buf, 0, sizeof buf);
    assert_int_equal(x_read(fd, buf, (size_t)1 << 32, 0), FILE_LEN);
    assert_pattern(buf, FILE_LEN, 0);
    memset(buf, 0, sizeof buf);
    assert_int_equal(x_read(fd, buf, ((size_t)1 << 32) + 16, 0), FILE_LEN);
    assert_pattern(buf, FILE_LEN, 0);
    close(fd);
}
BOTH_MODES(read_of_more_than_2_gib_is_clamped_not_truncated)

static unsigned char mark_byte(size_t i)
{
    return (unsigned char)(i * 13 + 101);
}

/* The whole file: the pattern, except [from, from + len) which holds mark bytes
 * mark_byte(0 .. len). */
static void assert_file_with_mark(int fd, size_t file_len, size_t from, size_t len)
{
    static unsigned char got[2 * FILE_LEN];
    assert_true(file_len <= sizeof got);
    assert_int_equal(pread(fd, got, sizeof got, 0), (ssize_t)file_len);
    for (size_t i = 0; i < file_len; i++) {
        unsigned char want = i >= from && i < from + len ? mark_byte(i - from) : pat(i);
        if (got[i] != want)
            fail_msg("file byte %zu is 0x%02x, expected 0x%02x", i, got[i], want);
    }
}

static void write_at_offsets_and_at_the_file_position(void)
{
    unsigned char msg[300];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = mark_byte(i);

    /* At an offset: exactly there, and the file position does not move. */
    int fd = support_pattern_file(FILE_LEN);
    assert_int_equal(x_write(fd, msg, 300, 2000), 300);
    assert_int_equal(position(fd), FILE_LEN);
    assert_file_with_mark(fd, FILE_LEN, 2000, 300);
    close(fd);

    /* off -1: at the position, which advances. */
    fd = support_pattern_file(FILE_LEN);
    assert_int_equal(lseek(fd, 5000, SEEK_SET), 5000);
    assert_int_equal(x_write(fd, msg, 100, -1), 100);
    assert_int_equal(position(fd), 5100);
    assert_int_equal(x_write(fd, msg + 100, 200, -1), 200);
    assert_int_equal(position(fd), 5300);
    assert_file_with_mark(fd, FILE_LEN, 5000, 300);
    close(fd);

    /* Past the end: the file grows. */
    fd = support_pattern_file(FILE_LEN);
    assert_int_equal(x_write(fd, msg, 50, FILE_LEN - 25), 50);
    assert_file_with_mark(fd, FILE_LEN + 25, FILE_LEN - 25, 50);
    close(fd);
}
BOTH_MODES(write_at_offsets_and_at_the_file_position)

static void readv_scatters_at_offsets_and_at_the_file_position(void)
{
    int fd = support_pattern_file(FILE_LEN);
    unsigned char a[7], c[250], d[33];
    struct iovec iov[4] = {{a, sizeof a}, {NULL, 0}, {c, sizeof c}, {d, sizeof d}};
    const size_t total = sizeof a + sizeof c + sizeof d;

    memset(a, 0, sizeof a);
    memset(c, 0, sizeof c);
    memset(d, 0, sizeof d);
    assert_int_equal(x_readv(fd, iov, 4, 4000), (ssize_t)total);
    assert_pattern(a, sizeof a, 4000);
    assert_pattern(c, sizeof c, 4000 + sizeof a);
    assert_pattern(d, sizeof d, 4000 + sizeof a + sizeof c);
    assert_int_equal(position(fd), FILE_LEN);

    assert_int_equal(lseek(fd, 100, SEEK_SET), 100);
    memset(a, 0, sizeof a);
    memset(c, 0, sizeof c);
    memset(d, 0, sizeof d);
    assert_int_equal(x_readv(fd, iov, 4, -1), (ssize_t)total);
    assert_pattern(a, sizeof a, 100);
    assert_pattern(c, sizeof c, 100 + sizeof a);
    assert_pattern(d, sizeof d, 100 + sizeof a + sizeof c);
    assert_int_equal(position(fd), 100 + (off_t)total);

    /* Across the end: the first buffers fill, in order. */
    memset(c, 0, sizeof c);
    assert_int_equal(x_readv(fd, iov, 4, FILE_LEN - 20), 20);
    assert_pattern(a, sizeof a, FILE_LEN - 20);
    assert_pattern(c, 13, FILE_LEN - 13);
    assert_int_equal(c[13], 0);
    assert_int_equal(x_readv(fd, iov, 4, FILE_LEN), 0);
    close(fd);
}
BOTH_MODES(readv_scatters_at_offsets_and_at_the_file_position)

static void writev_gathers_at_offsets_and_at_the_file_position(void)
{
    unsigned char msg[300];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = mark_byte(i);
    struct iovec iov[3] = {{msg, 1}, {msg + 1, 199}, {msg + 200, 100}};

    int fd = support_pattern_file(FILE_LEN);
    assert_int_equal(x_writev(fd, iov, 3, 7000), 300);
    assert_int_equal(position(fd), FILE_LEN);
    assert_file_with_mark(fd, FILE_LEN, 7000, 300);
    close(fd);

    fd = support_pattern_file(FILE_LEN);
    assert_int_equal(lseek(fd, 123, SEEK_SET), 123);
    assert_int_equal(x_writev(fd, iov, 3, -1), 300);
    assert_int_equal(position(fd), 423);
    assert_file_with_mark(fd, FILE_LEN, 123, 300);
    close(fd);
}
BOTH_MODES(writev_gathers_at_offsets_and_at_the_file_position)

/* ---- openat, statx, fsync, close ------------------------------------------------------ */

static void file_lifecycle_openat_write_fsync_statx_close(void)
{
    char path[64];
    temp_path(path, sizeof path);
    int fd = x_openat(AT_FDCWD, path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(x_openat(AT_FDCWD, path, O_RDWR | O_CREAT | O_EXCL, 0600), -EEXIST);

    static unsigned char data[1234];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = pat(i);
    assert_int_equal(x_write(fd, data, sizeof data, 0), (ssize_t)sizeof data);
    assert_int_equal(x_fsync(fd, false), 0);
    assert_int_equal(x_fsync(fd, true), 0);

    struct statx stx;
    memset(&stx, 0xff, sizeof stx);
    assert_int_equal(x_statx(AT_FDCWD, path, 0, STATX_SIZE | STATX_MODE | STATX_TYPE, &stx), 0);
    assert_true((stx.stx_mask & STATX_SIZE) != 0);
    assert_int_equal(stx.stx_size, sizeof data);
    assert_true(S_ISREG(stx.stx_mode));
    assert_int_equal(stx.stx_mode & 0777, 0600);
    /* The same through the fd. */
    memset(&stx, 0xff, sizeof stx);
    assert_int_equal(x_statx(fd, "", AT_EMPTY_PATH, STATX_SIZE, &stx), 0);
    assert_int_equal(stx.stx_size, sizeof data);

    /* openat relative to a directory fd reads back what was written. */
    int dir = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(dir >= 0);
    int fd2 = x_openat(dir, path + strlen("/tmp/"), O_RDONLY | O_CLOEXEC, 0);
    assert_true(fd2 >= 0);
    static unsigned char back[2000];
    assert_int_equal(x_read(fd2, back, sizeof back, 0), (ssize_t)sizeof data);
    assert_pattern(back, sizeof data, 0);
    assert_int_equal(x_close(fd2), 0);
    close(dir);

    /* close: the fd is gone, and ops on it fail with -EBADF from the kernel. */
    assert_int_equal(x_close(fd), 0);
    assert_int_equal(fcntl(fd, F_GETFD), -1);
    assert_int_equal(x_read(fd, back, 1, 0), -EBADF);
    assert_int_equal(queued, 1);
    assert_int_equal(x_close(fd), -EBADF);

    /* What is not there. */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(x_openat(AT_FDCWD, path, O_RDONLY, 0), -ENOENT);
    assert_int_equal(queued, 1);
    assert_int_equal(x_statx(AT_FDCWD, path, 0, STATX_SIZE, &stx), -ENOENT);
}
BOTH_MODES(file_lifecycle_openat_write_fsync_statx_close)

/* ---- sockets -------------------------------------------------------------------------- */

static void send_all(int fd, const unsigned char *buf, size_t len)
{
    for (size_t done = 0; done < len;) {
        ssize_t n = x_send(fd, buf + done, len - done, 0);
        assert_true(n > 0);
        done += (size_t)n;
    }
}

static void recv_all(int fd, unsigned char *buf, size_t len)
{
    for (size_t done = 0; done < len;) {
        ssize_t n = x_recv(fd, buf + done, len - done, 0);
        assert_true(n > 0);
        done += (size_t)n;
    }
}

static void tcp_socket_connect_accept_send_recv_msg_shutdown(void)
{
    uint16_t port;
    int lfd = support_listener(&port);

    /* socket */
    int c = x_socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(c >= 0);
    int type = 0;
    socklen_t tlen = sizeof type;
    assert_int_equal(getsockopt(c, SOL_SOCKET, SO_TYPE, &type, &tlen), 0);
    assert_int_equal(type, SOCK_STREAM);
    assert_true(fcntl(c, F_GETFD) & FD_CLOEXEC);

    /* connect, and accept with the peer's address */
    struct sockaddr_in to = support_loopback(port);
    assert_int_equal(x_connect(c, (struct sockaddr *)&to, sizeof to), 0);
    struct sockaddr_in from;
    memset(&from, 0, sizeof from);
    socklen_t fromlen = sizeof from;
    int s = x_accept(lfd, (struct sockaddr *)&from, &fromlen, 0);
    assert_true(s >= 0);
    assert_int_equal(fromlen, sizeof from);
    assert_int_equal(from.sin_family, AF_INET);
    assert_int_equal(ntohl(from.sin_addr.s_addr), INADDR_LOOPBACK);
    assert_int_equal(ntohs(from.sin_port), support_local_port(c));
    assert_int_equal(support_peer_port(s), support_local_port(c));

    /* accept without an address */
    int c2 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(c2, (struct sockaddr *)&to, sizeof to), 0);
    int s2 = x_accept(lfd, NULL, NULL, 0);
    assert_true(s2 >= 0);
    assert_int_equal(support_peer_port(s2), support_local_port(c2));

    /* send / recv, both ways */
    char buf[64] = {0};
    assert_int_equal(x_send(c, "hello", 5, 0), 5);
    assert_int_equal(x_recv(s, buf, 5, MSG_WAITALL), 5);
    assert_memory_equal(buf, "hello", 5);
    static unsigned char big[32768], got[32768];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = pat(i);
    send_all(s, big, sizeof big);
    memset(got, 0, sizeof got);
    recv_all(c, got, sizeof got);
    assert_pattern(got, sizeof got, 0);

    /* sendmsg / recvmsg: gathered from two buffers, scattered into two others */
    char part1[] = "scatter", part2[] = "-gather";
    struct iovec out[2] = {{part1, 7}, {part2, 7}};
    struct msghdr mout = {.msg_iov = out, .msg_iovlen = 2};
    assert_int_equal(x_sendmsg(c, &mout, 0), 14);
    char r1[4] = {0}, r2[10] = {0};
    struct iovec in[2] = {{r1, sizeof r1}, {r2, sizeof r2}};
    struct msghdr min = {.msg_iov = in, .msg_iovlen = 2};
    assert_int_equal(x_recvmsg(s, &min, MSG_WAITALL), 14);
    assert_memory_equal(r1, "scat", 4);
    assert_memory_equal(r2, "ter-gather", 10);

    /* shutdown(SHUT_WR): the peer reads the end of the stream; the other way still works */
    assert_int_equal(x_shutdown(c, SHUT_WR), 0);
    assert_int_equal(x_recv(s, buf, sizeof buf, 0), 0);
    assert_int_equal(x_send(s, "back", 4, 0), 4);
    assert_int_equal(x_recv(c, buf, 4, MSG_WAITALL), 4);
    assert_memory_equal(buf, "back", 4);

    close(c);
    close(s);
    close(c2);
    close(s2);
    close(lfd);
}
BOTH_MODES(tcp_socket_connect_accept_send_recv_msg_shutdown)

static void connect_to_a_refused_port_gives_econnrefused(void)
{
    int c = x_socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(c >= 0);
    struct sockaddr_in to = support_loopback(support_refused_port());
    assert_int_equal(x_connect(c, (struct sockaddr *)&to, sizeof to), -ECONNREFUSED);
    close(c);
}
BOTH_MODES(connect_to_a_refused_port_gives_econnrefused)

static void recv_after_the_peer_resets_gives_econnreset(void)
{
    int c, s;
    support_tcp_pair(&c, &s);
    support_close_with_reset(c);
    char buf[16];
    assert_int_equal(x_recv(s, buf, sizeof buf, 0), -ECONNRESET);
    close(s);
}
BOTH_MODES(recv_after_the_peer_resets_gives_econnreset)

static void recv_after_the_peer_shuts_down_writing_gives_zero(void)
{
    int c, s;
    support_tcp_pair(&c, &s);
    assert_int_equal(write(c, "tail", 4), 4);
    assert_int_equal(shutdown(c, SHUT_WR), 0);
    char buf[16] = {0};
    assert_int_equal(x_recv(s, buf, 4, MSG_WAITALL), 4); /* what came before the end */
    assert_memory_equal(buf, "tail", 4);
    assert_int_equal(x_recv(s, buf, sizeof buf, 0), 0);
    assert_int_equal(x_recv(s, buf, sizeof buf, 0), 0); /* and stays at the end */
    close(c);
    close(s);
}
BOTH_MODES(recv_after_the_peer_shuts_down_writing_gives_zero)

static void send_to_a_closed_peer_gives_epipe_and_no_sigpipe(void)
{
    int c, s;
    support_tcp_pair(&c, &s);
    close(c);
    char buf[4];
    assert_int_equal(x_recv(s, buf, sizeof buf, 0), 0); /* the FIN is in */

    /* A SIGPIPE would kill the process; block it to catch one instead. (Recent kernels add
     * MSG_NOSIGNAL to io_uring sends themselves; the engine must not rely on that.) */
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    assert_int_equal(pthread_sigmask(SIG_BLOCK, &pipe_set, &old), 0);

    /* The first send still goes out, and the closed peer answers with a reset. */
    assert_int_equal(x_send(s, "x", 1, 0), 1);
    struct pollfd pfd = {.fd = s, .events = 0}; /* only POLLERR / POLLHUP */
    assert_int_equal(poll(&pfd, 1, 5000), 1);
    assert_int_equal(x_send(s, "y", 1, 0), -EPIPE);
    char part[] = "z";
    struct iovec iov = {part, 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    assert_int_equal(x_sendmsg(s, &msg, 0), -EPIPE);

    sigemptyset(&pending);
    assert_int_equal(sigpending(&pending), 0);
    bool raised = sigismember(&pending, SIGPIPE);
    if (raised) {
        struct timespec zero = {0};
        sigtimedwait(&pipe_set, NULL, &zero);
    }
    assert_int_equal(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
    assert_false(raised);
    close(s);
}
BOTH_MODES(send_to_a_closed_peer_gives_epipe_and_no_sigpipe)

static void accept_on_a_socket_that_does_not_listen_gives_einval(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(x_accept(fd, NULL, NULL, 0), -EINVAL);
    assert_int_equal(queued, 1);
    close(fd);
}
BOTH_MODES(accept_on_a_socket_that_does_not_listen_gives_einval)

/* ---- argument checks ------------------------------------------------------------------ */

/* The call fails with err and nothing was queued (in callback mode, x_* has also checked
 * that the callback never runs). */
#define REFUSED(call, err)                                                                         \
    do {                                                                                           \
        assert_int_equal((call), (err));                                                           \
        assert_int_equal(queued, 0);                                                               \
    } while (0)

/* A NULL pointer the call cannot do without: refused before queuing, with -EFAULT (a
 * NULL buffer) or -EINVAL (another bad argument): the header allows either reading. */
#define REFUSED_NULL(call)                                                                         \
    do {                                                                                           \
        ssize_t r_ = (call);                                                                       \
        if (r_ != -EFAULT && r_ != -EINVAL)                                                        \
            fail_msg("%s gave %zd, expected -EFAULT or -EINVAL", #call, r_);                       \
        assert_int_equal(queued, 0);                                                               \
    } while (0)

static void bad_arguments_are_refused_before_anything_is_queued(void)
{
    unsigned char buf[8];
    struct iovec iov = {buf, sizeof buf};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    struct sockaddr_in a = support_loopback(1);
    struct sockaddr *sa = (struct sockaddr *)&a;
    struct statx stx;

    /* A negative fd: -EBADF. */
    REFUSED(x_read(-1, buf, sizeof buf, 0), -EBADF);
    REFUSED(x_write(-1, buf, sizeof buf, 0), -EBADF);
    REFUSED(x_readv(-1, &iov, 1, 0), -EBADF);
    REFUSED(x_writev(-1, &iov, 1, -1), -EBADF);
    REFUSED(x_fsync(-1, false), -EBADF);
    REFUSED(x_fsync(-7, true), -EBADF);
    REFUSED(x_close(-1), -EBADF);
    REFUSED(x_accept(-1, NULL, NULL, 0), -EBADF);
    REFUSED(x_connect(-1, sa, sizeof a), -EBADF);
    REFUSED(x_recv(-1, buf, sizeof buf, 0), -EBADF);
    REFUSED(x_send(-1, buf, sizeof buf, 0), -EBADF);
    REFUSED(x_recvmsg(-1, &msg, 0), -EBADF);
    REFUSED(x_sendmsg(-1, &msg, 0), -EBADF);
    REFUSED(x_shutdown(-1, SHUT_RDWR), -EBADF);
    REFUSED(x_poll(-1, POLLIN), -EBADF);

    /* A NULL buffer with a non-zero length: -EFAULT. */
    int fd = support_pattern_file(64);
    int c, s;
    support_tcp_pair(&c, &s);
    REFUSED(x_read(fd, NULL, 1, 0), -EFAULT);
    REFUSED(x_write(fd, NULL, 8, -1), -EFAULT);
    REFUSED(x_readv(fd, NULL, 1, 0), -EFAULT);
    REFUSED(x_writev(fd, NULL, 2, 0), -EFAULT);
    REFUSED(x_recv(s, NULL, 16, 0), -EFAULT);
    REFUSED(x_send(c, NULL, 16, 0), -EFAULT);

    /* Other NULL pointers that are needed. */
    REFUSED_NULL(x_recvmsg(s, NULL, 0));
    REFUSED_NULL(x_sendmsg(c, NULL, 0));
    REFUSED_NULL(x_connect(c, NULL, sizeof a));
    REFUSED_NULL(x_openat(AT_FDCWD, NULL, O_RDONLY, 0));
    REFUSED_NULL(x_statx(AT_FDCWD, NULL, 0, STATX_SIZE, &stx));
    REFUSED_NULL(x_statx(AT_FDCWD, "/tmp", 0, STATX_SIZE, NULL));
    REFUSED_NULL(x_accept(s, sa, NULL, 0));

    /* Other bad arguments: -EINVAL. */
    REFUSED(x_readv(fd, &iov, -1, 0), -EINVAL);
    REFUSED(x_writev(fd, &iov, -1, 0), -EINVAL);
    REFUSED(x_shutdown(c, 42), -EINVAL);
    REFUSED(x_socket(-1, SOCK_STREAM, 0), -EINVAL);

    /* None of it touched the streams: they still work. */
    assert_int_equal(x_send(c, "ok", 2, 0), 2);
    assert_int_equal(x_recv(s, buf, 2, MSG_WAITALL), 2);
    assert_memory_equal(buf, "ok", 2);
    close(fd);
    close(c);
    close(s);
}
BOTH_MODES(bad_arguments_are_refused_before_anything_is_queued)

/* The call reached the kernel, which gave -EBADF. */
#define KERNEL_EBADF(call)                                                                         \
    do {                                                                                           \
        assert_int_equal((call), -EBADF);                                                          \
        assert_int_equal(queued, 1);                                                               \
    } while (0)

static void closed_fds_give_ebadf_as_the_result(void)
{
    unsigned char buf[8];
    struct iovec iov = {buf, sizeof buf};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    struct sockaddr_in a = support_loopback(support_refused_port());
    struct statx stx;
    socklen_t alen = sizeof a;
    int bad = closed_fd();

    KERNEL_EBADF(x_read(bad, buf, sizeof buf, 0));
    KERNEL_EBADF(x_read(bad, buf, sizeof buf, -1));
    KERNEL_EBADF(x_write(bad, buf, sizeof buf, 0));
    KERNEL_EBADF(x_readv(bad, &iov, 1, 0));
    KERNEL_EBADF(x_writev(bad, &iov, 1, -1));
    KERNEL_EBADF(x_fsync(bad, false));
    KERNEL_EBADF(x_fsync(bad, true));
    assert_int_equal(x_close(bad), -EBADF);
    /* on io_uring the await close cancels the fd's ops first: a cancel, then the close */
    assert_int_equal(queued, mode == MODE_AWAIT && support_on_uring() ? 2 : 1);
    KERNEL_EBADF(x_openat(bad, "relative", O_RDONLY, 0));
    KERNEL_EBADF(x_statx(bad, "relative", 0, STATX_SIZE, &stx));
    KERNEL_EBADF(x_accept(bad, (struct sockaddr *)&a, &alen, 0));
    KERNEL_EBADF(x_connect(bad, (struct sockaddr *)&a, sizeof a));
    KERNEL_EBADF(x_recv(bad, buf, sizeof buf, 0));
    KERNEL_EBADF(x_send(bad, buf, sizeof buf, 0));
    KERNEL_EBADF(x_recvmsg(bad, &msg, 0));
    KERNEL_EBADF(x_sendmsg(bad, &msg, 0));
    KERNEL_EBADF(x_shutdown(bad, SHUT_RDWR));
    KERNEL_EBADF(x_poll(bad, POLLIN));
    assert_int_equal(fcntl(bad, F_GETFD), -1); /* still nothing opened under that number */
}
BOTH_MODES(closed_fds_give_ebadf_as_the_result)

/* ---- poll ----------------------------------------------------------------------------- */

struct poll_case {
    struct rec poll;
    corio_op_t nop;
    int client;
    int poll_calls_before_write;
};

/* Runs once the poll is in the kernel: it has not fired; now the peer writes. */
static void poll_case_write(corio_op_t *op, int res)
{
    (void)res;
    struct poll_case *pc = op->data;
    pc->poll_calls_before_write = pc->poll.calls;
    assert_int_equal(write(pc->client, "p", 1), 1);
}

static void test_poll_cb_reports_pollin_once_the_peer_writes(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    int c, s;
    support_tcp_pair(&c, &s);
    struct poll_case pc = {.client = c, .poll_calls_before_write = -1};
    pc.nop.data = &pc;
    assert_int_equal(corio_poll_cb(loop, &pc.poll.op, s, POLLIN, rec_done), 0);
    assert_int_equal(corio_nop_cb(loop, &pc.nop, poll_case_write), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(pc.poll_calls_before_write, 0);
    assert_int_equal(pc.poll.calls, 1);
    assert_true(pc.poll.res > 0);
    assert_true(pc.poll.res & POLLIN);
    char b;
    assert_int_equal(read(s, &b, 1), 1); /* poll consumed nothing */

    /* Ready already: a connected socket is writable at once. */
    struct rec out = {0};
    assert_int_equal(corio_poll_cb(loop, &out.op, c, POLLOUT, rec_done), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(out.calls, 1);
    assert_true(out.res & POLLOUT);
    assert_false(out.res & POLLIN);
    corio_loop_free(loop);
    close(c);
    close(s);
}

struct poller {
    int fd;
    int res;
    bool done;
};

static void *poll_task(void *arg)
{
    struct poller *p = arg;
    p->res = corio_poll(p->fd, POLLIN);
    p->done = true;
    return NULL;
}

static void *poll_await_main(void *arg)
{
    int *fds = arg; /* client, server */
    struct poller p = {.fd = fds[1]};
    corio_task_t *t;
    assert_int_equal(corio_spawn(NULL, poll_task, &p, &t), 0);
    corio_yield();                    /* the poller parks */
    assert_int_equal(corio_nop(), 0); /* and its poll is in the kernel */
    assert_false(p.done);
    assert_int_equal(write(fds[0], "p", 1), 1);
    assert_int_equal(corio_join(t, NULL), 0);
    assert_true(p.done);
    assert_true(p.res & POLLIN);
    int out = corio_poll(fds[0], POLLOUT);
    assert_true(out & POLLOUT);
    assert_false(out & POLLIN);
    return NULL;
}

static void test_poll_await_reports_pollin_once_the_peer_writes(void **state)
{
    (void)state;
    int fds[2];
    support_tcp_pair(&fds[0], &fds[1]);
    support_run(poll_await_main, fds);
    close(fds[0]);
    close(fds[1]);
}

/* accept4(2)'s flags reach the accepted fd; others are refused before anything is queued,
 * also by the multishot form. */
static void accept_flags_reach_the_fd_and_bad_flags_are_einval(void)
{
    uint16_t port;
    int lfd = support_listener(&port);
    int c1 = support_connect(port), c2 = support_connect(port);
    int plain = x_accept(lfd, NULL, NULL, 0);
    assert_true(plain >= 0);
    assert_int_equal(fcntl(plain, F_GETFD) & FD_CLOEXEC, 0);
    int ce = x_accept(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    assert_true(ce >= 0);
    assert_true(fcntl(ce, F_GETFD) & FD_CLOEXEC);
    assert_true(fcntl(ce, F_GETFL) & O_NONBLOCK);
    REFUSED(x_accept(lfd, NULL, NULL, 0x1), -EINVAL);
    REFUSED(x_accept(lfd, NULL, NULL, SOCK_CLOEXEC | MSG_PEEK), -EINVAL);
    uint64_t before = submitted_so_far();
    corio_op_t op = {0};
    corio_loop_t *loop = mode == MODE_CB ? cb_loop : corio_current_loop();
    assert_int_equal(corio_accept_multishot_cb(loop, &op, lfd, -1, sync_done), -EINVAL);
    corio_multishot_t m = {0};
    if (mode == MODE_AWAIT)
        assert_int_equal(corio_accept_multishot(&m, lfd, 0x4), -EINVAL);
    assert_int_equal(submitted_so_far(), before);
    close(plain);
    close(ce);
    close(c1);
    close(c2);
    close(lfd);
}
BOTH_MODES(accept_flags_reach_the_fd_and_bad_flags_are_einval)

/* ---- multishot accept ------------------------------------------------------------------ */

#define CLIENTS 8

struct multi {
    struct rec r;
    corio_loop_t *loop;
    uint16_t port;
    int clients[CLIENTS];
    int nclients;
    int accepted[CLIENTS];
    int naccepted;
    int errors_with_more; /* results < 0 that said more would come */
    int extra;            /* fds beyond CLIENTS, or calls after the last one */
    int final_calls, final_res;
    int busy_res, cancel_res;
};

static void connect_clients(struct multi *m, int n)
{
    struct sockaddr_in to = support_loopback(m->port);
    for (int i = 0; i < n; i++) {
        int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(c >= 0);
        assert_int_equal(connect(c, (struct sockaddr *)&to, sizeof to), 0);
        m->clients[m->nclients++] = c;
    }
}

static void on_multi_accept(corio_op_t *op, int res)
{
    struct multi *m = (struct multi *)op;
    if (m->final_calls > 0) {
        m->extra++;
        return;
    }
    if (!corio_op_more(op)) {
        m->final_calls++;
        m->final_res = res;
        return;
    }
    if (res < 0) {
        m->errors_with_more++;
        return;
    }
    if (m->naccepted == CLIENTS) {
        m->extra++;
        close(res);
        return;
    }
    m->accepted[m->naccepted++] = res;
    if (m->naccepted == 1) /* still in flight between results */
        m->busy_res = corio_nop_cb(m->loop, op, must_not_run);
    if (m->naccepted == CLIENTS / 2) /* the rest arrive while the accept stays armed */
        connect_clients(m, CLIENTS - CLIENTS / 2);
    if (m->naccepted == CLIENTS)
        m->cancel_res = corio_op_cancel(m->loop, op);
}

static void test_multishot_accept_once_per_client_then_cancel_ends_it(void **state)
{
    (void)state;
    struct multi m = {.loop = support_loop(0), .busy_res = 1, .cancel_res = 1};
    int lfd = support_listener(&m.port);
    forbidden_calls = 0;
    connect_clients(&m, CLIENTS / 2);
    int err = corio_accept_multishot_cb(m.loop, &m.r.op, lfd, SOCK_CLOEXEC, on_multi_accept);
    if (err == -EOPNOTSUPP) {
        corio_loop_free(m.loop);
        skip();
    }
    assert_int_equal(err, 0);
    assert_int_equal(corio_loop_run(m.loop), 0);

    assert_int_equal(m.naccepted, CLIENTS);
    assert_int_equal(m.errors_with_more, 0);
    assert_int_equal(m.busy_res, -EBUSY);
    assert_int_equal(m.cancel_res, 0);
    assert_int_equal(m.final_calls, 1);
    assert_int_equal(m.final_res, -ECANCELED);
    assert_false(corio_op_more(&m.r.op));
    assert_int_equal(m.extra, 0);
    assert_int_equal(forbidden_calls, 0);
    assert_int_equal(corio_op_cancel(m.loop, &m.r.op), -ENOENT);

    /* Every fd is a distinct live socket connected to one of the clients. */
    bool matched[CLIENTS] = {false};
    for (int i = 0; i < CLIENTS; i++) {
        int fd = m.accepted[i];
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        uint16_t port = support_peer_port(fd);
        int k = 0;
        while (k < CLIENTS && support_local_port(m.clients[k]) != port)
            k++;
        assert_true(k < CLIENTS);
        assert_false(matched[k]);
        matched[k] = true;
        assert_int_equal(write(m.clients[k], "m", 1), 1);
        char b = 0;
        assert_int_equal(read(fd, &b, 1), 1);
        assert_int_equal(b, 'm');
    }
    for (int i = 0; i < CLIENTS; i++) {
        close(m.accepted[i]);
        close(m.clients[i]);
    }
    close(lfd);
    corio_loop_free(m.loop);
}

static void test_multishot_accept_that_fails_ends_with_one_last_callback(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); /* not listening */
    assert_true(fd >= 0);
    struct rec r = {0};
    int err = corio_accept_multishot_cb(loop, &r.op, fd, 0, rec_done);
    if (err == -EOPNOTSUPP) {
        corio_loop_free(loop);
        close(fd);
        skip();
    }
    assert_int_equal(err, 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.res, -EINVAL);
    assert_false(r.more);
    assert_int_equal(corio_accept_multishot_cb(loop, &r.op, -1, 0, rec_done), -EBADF);
    corio_loop_free(loop);
    close(fd);
}

/* ---- timeouts ------------------------------------------------------------------------- */

static void test_timeout_cb_fires_with_zero_after_its_duration(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    struct rec t = {0}, zero = {0};
    uint64_t t0 = support_now_ns();
    assert_int_equal(corio_timeout_cb(loop, &t.op, 5 * MS, rec_done), 0);
    assert_int_equal(corio_timeout_cb(loop, &zero.op, 0, rec_done), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    uint64_t took = support_now_ns() - t0;
    assert_int_equal(t.calls, 1);
    assert_int_equal(t.res, 0);
    assert_int_equal(zero.calls, 1);
    assert_int_equal(zero.res, 0);
    assert_true(took >= 5 * MS);
    assert_true(took < 5 * SEC);
    corio_loop_free(loop);
}

struct canceller {
    corio_loop_t *loop;
    corio_op_t *target;
    int res;
};

static void cancel_target(corio_op_t *op, int res)
{
    (void)res;
    struct canceller *c = op->data;
    c->res = corio_op_cancel(c->loop, c->target);
}

static void test_timeout_cancelled_gives_ecanceled_exactly_once(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    struct rec early = {0}, armed = {0};
    uint64_t t0 = support_now_ns();
    /* Cancelled before it reached the kernel: both go in the same submission. */
    assert_int_equal(corio_timeout_cb(loop, &early.op, 10 * SEC, rec_done), 0);
    assert_int_equal(corio_op_cancel(loop, &early.op), 0);
    assert_int_equal(corio_op_cancel(loop, &early.op), 0); /* asking twice is no different */
    /* Cancelled once the kernel has armed it: from a later callback. */
    assert_int_equal(corio_timeout_cb(loop, &armed.op, 10 * SEC, rec_done), 0);
    struct canceller c = {loop, &armed.op, 1};
    corio_op_t nop = {.data = &c};
    assert_int_equal(corio_nop_cb(loop, &nop, cancel_target), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_true(support_now_ns() - t0 < 5 * SEC);
    assert_int_equal(c.res, 0);
    assert_int_equal(early.calls, 1);
    assert_int_equal(early.res, -ECANCELED);
    assert_int_equal(armed.calls, 1);
    assert_int_equal(armed.res, -ECANCELED);
    /* Over: a second cancel finds nothing, and nothing more is delivered. */
    assert_int_equal(corio_op_cancel(loop, &early.op), -ENOENT);
    assert_int_equal(corio_op_cancel(loop, &armed.op), -ENOENT);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(early.calls, 1);
    assert_int_equal(armed.calls, 1);
    corio_loop_free(loop);
}

/* ---- corio_op_cancel and -EBUSY ------------------------------------------------------- */

static void test_cancel_of_an_op_not_in_flight_gives_enoent(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    struct rec never = {0}, refused = {0}, done = {0};
    assert_int_equal(corio_op_cancel(loop, &never.op), -ENOENT);
    assert_int_equal(corio_read_cb(loop, &refused.op, -1, NULL, 0, 0, rec_done), -EBADF);
    assert_int_equal(corio_op_cancel(loop, &refused.op), -ENOENT);
    assert_int_equal(corio_nop_cb(loop, &done.op, rec_done), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(done.calls, 1);
    assert_int_equal(corio_op_cancel(loop, &done.op), -ENOENT);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(never.calls, 0);
    assert_int_equal(refused.calls, 0);
    assert_int_equal(done.calls, 1);
    corio_loop_free(loop);
}

static void test_starting_an_op_in_flight_gives_ebusy(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    int fd = support_pattern_file(64);
    unsigned char buf[8];
    forbidden_calls = 0;
    struct rec t = {0};
    assert_int_equal(corio_timeout_cb(loop, &t.op, 10 * SEC, rec_done), 0);
    /* Queued, not yet submitted. */
    assert_int_equal(corio_nop_cb(loop, &t.op, must_not_run), -EBUSY);
    assert_int_equal(corio_read_cb(loop, &t.op, fd, buf, sizeof buf, 0, must_not_run), -EBUSY);
    /* In the kernel. */
    corio_op_t stopper = {.data = loop};
    assert_int_equal(corio_nop_cb(loop, &stopper, stop_loop), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(t.calls, 0);
    assert_int_equal(corio_timeout_cb(loop, &t.op, 0, must_not_run), -EBUSY);
    assert_int_equal(corio_recv_cb(loop, &t.op, fd, buf, sizeof buf, 0, must_not_run), -EBUSY);
    /* The refused starts changed nothing: the op is still the 10 s timeout with its own
     * callback, and cancelling it ends it. */
    assert_int_equal(corio_op_cancel(loop, &t.op), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(t.calls, 1);
    assert_int_equal(t.res, -ECANCELED);
    assert_int_equal(forbidden_calls, 0);
    /* Once its callback has run, the op may be started again. */
    assert_int_equal(corio_read_cb(loop, &t.op, fd, buf, sizeof buf, 8, rec_done), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(t.calls, 2);
    assert_int_equal(t.res, (int)sizeof buf);
    assert_pattern(buf, sizeof buf, 8);
    corio_loop_free(loop);
    close(fd);
}

struct chain {
    corio_op_t op;
    corio_loop_t *loop;
    int calls;
    int restart_errors;
};

static void chain_again(corio_op_t *op, int res)
{
    struct chain *c = (struct chain *)op;
    c->calls++;
    if (res != 0)
        c->restart_errors++;
    if (c->calls < 3 && corio_nop_cb(c->loop, op, chain_again) != 0)
        c->restart_errors++;
}

static void test_an_op_may_be_restarted_from_its_own_callback(void **state)
{
    (void)state;
    struct chain c = {.loop = support_loop(0)};
    assert_int_equal(corio_nop_cb(c.loop, &c.op, chain_again), 0);
    assert_int_equal(corio_loop_run(c.loop), 0);
    assert_int_equal(c.calls, 3);
    assert_int_equal(c.restart_errors, 0);
    corio_loop_free(c.loop);
}

static void test_callback_mode_refuses_a_null_loop_op_or_callback(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    struct rec r = {0};
    assert_int_equal(corio_nop_cb(NULL, &r.op, rec_done), -EINVAL);
    assert_int_equal(corio_nop_cb(loop, NULL, rec_done), -EINVAL);
    assert_int_equal(corio_nop_cb(loop, &r.op, NULL), -EINVAL);
    assert_int_equal(corio_timeout_cb(loop, &r.op, MS, NULL), -EINVAL);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(r.calls, 0);
    corio_loop_free(loop);
}

/* ---- a completion racing its cancel --------------------------------------------------- */

#define RACE_ROUNDS 300

struct race {
    struct rec recv;
    corio_op_t nop;
    corio_loop_t *loop;
    int client, server;
    int variant;
    char msg[9];
    char buf[8];
    int cancel_res;
};

static void race_step(corio_op_t *op, int res)
{
    (void)res;
    struct race *r = op->data;
    if (r->variant == 1) { /* data first, then the cancel */
        assert_int_equal(write(r->client, r->msg, 8), 8);
        r->cancel_res = corio_op_cancel(r->loop, &r->recv.op);
    } else { /* the cancel first, then data */
        r->cancel_res = corio_op_cancel(r->loop, &r->recv.op);
        assert_int_equal(write(r->client, r->msg, 8), 8);
    }
}

static void test_recv_racing_its_cancel_is_delivered_once_and_loses_no_data(void **state)
{
    (void)state;
    static struct race r;
    memset(&r, 0, sizeof r);
    r.loop = support_loop(0);
    tcp_pair_nodelay(&r.client, &r.server);
    int got_data = 0, got_cancel = 0;
    for (int round = 0; round < RACE_ROUNDS; round++) {
        memset(&r.recv, 0, sizeof r.recv);
        memset(r.buf, 0, sizeof r.buf);
        r.variant = round % 3;
        r.cancel_res = 1;
        snprintf(r.msg, sizeof r.msg, "r%07d", round);
        if (r.variant == 0) {
            /* The data is there already; recv and cancel go in the same submission. */
            assert_int_equal(write(r.client, r.msg, 8), 8);
            assert_int_equal(corio_recv_cb(r.loop, &r.recv.op, r.server, r.buf, 8, 0, rec_done), 0);
            r.cancel_res = corio_op_cancel(r.loop, &r.recv.op);
        } else {
            /* The recv waits in the kernel; a nop's callback sends and cancels. */
            assert_int_equal(corio_recv_cb(r.loop, &r.recv.op, r.server, r.buf, 8, 0, rec_done), 0);
            r.nop.data = &r;
            assert_int_equal(corio_nop_cb(r.loop, &r.nop, race_step), 0);
        }
        assert_int_equal(corio_loop_run(r.loop), 0);
        assert_int_equal(r.cancel_res, 0);
        assert_int_equal(r.recv.calls, 1);
        if (r.recv.res == 8) {
            assert_memory_equal(r.buf, r.msg, 8);
            got_data++;
        } else {
            assert_int_equal(r.recv.res, -ECANCELED);
            char left[8];
            assert_int_equal(recv(r.server, left, 8, MSG_WAITALL), 8);
            assert_memory_equal(left, r.msg, 8);
            got_cancel++;
        }
        assert_nothing_to_read(r.server);
        assert_int_equal(corio_loop_run(r.loop), 0);
        assert_int_equal(r.recv.calls, 1); /* exactly once */
    }
    assert_int_equal(got_data + got_cancel, RACE_ROUNDS);
    print_message("recv/cancel race: %d data, %d cancelled\n", got_data, got_cancel);
    corio_loop_free(r.loop);
    close(r.client);
    close(r.server);
}

/* ---- bursts: a full SQ, CQ overflow --------------------------------------------------- */

#define BURST_MAX 4096
#define SLICE     16

enum burst_kind { B_NOP, B_TIMEOUT0, B_READ, B_POLL, B_KINDS };

struct burst_op {
    corio_op_t op;
    int calls;
    int res;
    unsigned char buf[SLICE];
};

struct burst {
    corio_loop_t *loop;
    int n;
    int nkinds; /* op i is of kind i % nkinds */
    int file, pipe_w;
    int start_errors;
    int delivered;
    int delivered_during_starts;
    struct burst_op ops[BURST_MAX];
};

static void burst_done(corio_op_t *op, int res)
{
    struct burst_op *b = (struct burst_op *)op;
    struct burst *st = op->data;
    b->calls++;
    b->res = res;
    st->delivered++;
}

/* One callback starts them all, without the loop reaping in between. */
static void burst_start(void *arg)
{
    struct burst *st = arg;
    for (int i = 0; i < st->n; i++) {
        struct burst_op *b = &st->ops[i];
        b->op.data = st;
        int err;
        switch ((enum burst_kind)(i % st->nkinds)) {
        case B_NOP:
            err = corio_nop_cb(st->loop, &b->op, burst_done);
            break;
        case B_TIMEOUT0:
            err = corio_timeout_cb(st->loop, &b->op, 0, burst_done);
            break;
        case B_READ:
            err = corio_read_cb(st->loop, &b->op, st->file, b->buf, SLICE, (int64_t)i * SLICE,
                                burst_done);
            break;
        default:
            err = corio_poll_cb(st->loop, &b->op, st->pipe_w, POLLOUT, burst_done);
            break;
        }
        if (err != 0)
            st->start_errors++;
    }
    st->delivered_during_starts = st->delivered;
}

static struct burst burst;

/* Runs n ops of the first nkinds kinds on a loop with the given ring sizes and checks
 * that each was delivered exactly once with its result. */
static void run_burst(unsigned entries, unsigned cq_entries, int n, int nkinds,
                      corio_loop_stats_t *stats)
{
    memset(&burst, 0, sizeof burst);
    corio_loop_opts_t opts = {.entries = entries, .cq_entries = cq_entries};
    assert_int_equal(corio_loop_new(&burst.loop, &opts), 0);
    burst.n = n;
    burst.nkinds = nkinds;
    burst.file = support_pattern_file((size_t)n * SLICE);
    int p[2];
    assert_int_equal(pipe(p), 0);
    burst.pipe_w = p[1];
    assert_int_equal(corio_call_soon(burst.loop, burst_start, &burst), 0);
    assert_int_equal(corio_loop_run(burst.loop), 0);

    assert_int_equal(burst.start_errors, 0);
    assert_int_equal(burst.delivered_during_starts, 0);
    assert_int_equal(burst.delivered, n);
    for (int i = 0; i < n; i++) {
        struct burst_op *b = &burst.ops[i];
        if (b->calls != 1)
            fail_msg("op %d was delivered %d times", i, b->calls);
        switch ((enum burst_kind)(i % nkinds)) {
        case B_NOP:
        case B_TIMEOUT0:
            assert_int_equal(b->res, 0);
            break;
        case B_READ:
            assert_int_equal(b->res, SLICE);
            assert_pattern(b->buf, SLICE, (size_t)i * SLICE);
            break;
        default:
            assert_true(b->res & POLLOUT);
            break;
        }
    }
    corio_loop_stats(burst.loop, stats);
    corio_loop_free(burst.loop);
    close(burst.file);
    close(p[0]);
    close(p[1]);
}

static void test_1000_ops_started_at_once_on_an_8_entry_sq_all_complete(void **state)
{
    (void)state;
    corio_loop_stats_t st;
    run_burst(8, 0, 1000, B_KINDS, &st);
    if (support_on_uring())
        assert_true(st.sq_full > 0); /* the flush-when-full path really ran */
    assert_true(st.submitted >= 1000);
}

static void test_4096_completions_unreaped_on_a_16_entry_cq_are_each_delivered_once(void **state)
{
    (void)state;
    corio_loop_stats_t st;
    run_burst(8, 16, 4096, 2 /* nops and zero timeouts */, &st);
    if (support_on_uring()) {
        assert_true(st.sq_full > 0);
        assert_true(st.cq_overflow > 0); /* the kernel really ran out of CQ space */
    }
    assert_true(st.completions >= 4096);
    print_message("4096 completions on a 16-entry CQ: cq_overflow %llu, enters %llu\n",
                  (unsigned long long)st.cq_overflow, (unsigned long long)st.enters);
}

/* ---- corio_loop_free with ops in flight ------------------------------------------------ */

enum { F_RECV, F_TIMEOUT, F_POLL, F_ACCEPT, F_MULTI, F_PIPE_READ, F_OPS };

static void test_loop_free_delivers_ecanceled_to_ops_in_flight_before_returning(void **state)
{
    (void)state;
    /* Round 0: the ops were only queued (the loop never ran); round 1: they are in the
     * kernel (the loop ran one iteration and stopped). */
    for (int round = 0; round < 2; round++) {
        corio_loop_t *loop = support_loop(0);
        int c, s;
        support_tcp_pair(&c, &s);
        uint16_t port;
        int lfd = support_listener(&port);
        int p[2];
        assert_int_equal(pipe(p), 0);
        struct rec ops[F_OPS];
        memset(ops, 0, sizeof ops);
        char rbuf[8], pbuf[8];
        assert_int_equal(corio_recv_cb(loop, &ops[F_RECV].op, s, rbuf, sizeof rbuf, 0, rec_done),
                         0);
        assert_int_equal(corio_timeout_cb(loop, &ops[F_TIMEOUT].op, 60 * SEC, rec_done), 0);
        assert_int_equal(corio_poll_cb(loop, &ops[F_POLL].op, s, POLLIN, rec_done), 0);
        assert_int_equal(corio_accept_cb(loop, &ops[F_ACCEPT].op, lfd, NULL, NULL, 0, rec_done), 0);
        int multi = corio_accept_multishot_cb(loop, &ops[F_MULTI].op, lfd, 0, rec_done);
        assert_true(multi == 0 || multi == -EOPNOTSUPP);
        assert_int_equal(
            corio_read_cb(loop, &ops[F_PIPE_READ].op, p[0], pbuf, sizeof pbuf, -1, rec_done), 0);
        if (round == 1) {
            corio_op_t stopper = {.data = loop};
            assert_int_equal(corio_nop_cb(loop, &stopper, stop_loop), 0);
            assert_int_equal(corio_loop_run(loop), 0);
        }
        for (int i = 0; i < F_OPS; i++)
            assert_int_equal(ops[i].calls, 0);

        uint64_t t0 = support_now_ns();
        corio_loop_free(loop);
        assert_true(support_now_ns() - t0 < 5 * SEC);
        for (int i = 0; i < F_OPS; i++) {
            if (i == F_MULTI && multi != 0)
                continue;
            if (ops[i].calls != 1 || ops[i].res != -ECANCELED || ops[i].more)
                fail_msg("round %d, op %d: %d calls, res %d, more %d", round, i, ops[i].calls,
                         ops[i].res, ops[i].more);
        }
        close(c);
        close(s);
        close(lfd);
        close(p[0]);
        close(p[1]);
    }
}

/* ---- await calls outside a task -------------------------------------------------------- */

struct outside {
    int file, client, server, listener, unconnected;
    uint16_t port;
    char path[64];
    bool ran;
};

/* Every await-style call, with valid arguments, outside a task: -EPERM and no effect. */
static void check_eperm_everywhere(struct outside *o)
{
    unsigned char buf[16];
    memset(buf, 0xee, sizeof buf);
    struct iovec iov = {buf, sizeof buf};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    struct sockaddr_in to = support_loopback(o->port);
    struct statx stx;

    assert_int_equal(corio_nop(), -EPERM);
    assert_int_equal(corio_read(o->file, buf, sizeof buf, 0), -EPERM);
    assert_int_equal(corio_readv(o->file, &iov, 1, 0), -EPERM);
    for (size_t i = 0; i < sizeof buf; i++)
        assert_int_equal(buf[i], 0xee); /* nothing was read into the buffer */
    assert_int_equal(corio_write(o->file, buf, sizeof buf, 0), -EPERM);
    assert_int_equal(corio_writev(o->file, &iov, 1, 0), -EPERM);
    unsigned char head[sizeof buf];
    assert_int_equal(pread(o->file, head, sizeof head, 0), (ssize_t)sizeof head);
    assert_pattern(head, sizeof head, 0); /* nothing was written */
    assert_int_equal(corio_fsync(o->file), -EPERM);
    assert_int_equal(corio_fdatasync(o->file), -EPERM);
    assert_int_equal(corio_openat(AT_FDCWD, o->path, O_RDWR | O_CREAT, 0600), -EPERM);
    assert_int_equal(access(o->path, F_OK), -1); /* not created */
    assert_int_equal(corio_statx(AT_FDCWD, "/tmp", 0, STATX_SIZE, &stx), -EPERM);
    assert_int_equal(corio_close(o->file), -EPERM);
    assert_true(fcntl(o->file, F_GETFD) >= 0); /* still open */
    assert_int_equal(corio_socket(AF_INET, SOCK_STREAM, 0), -EPERM);
    assert_int_equal(corio_connect(o->unconnected, (struct sockaddr *)&to, sizeof to), -EPERM);
    assert_int_equal(corio_accept(o->listener, NULL, NULL, SOCK_CLOEXEC), -EPERM);
    assert_int_equal(corio_send(o->client, "x", 1, 0), -EPERM);
    assert_int_equal(corio_sendmsg(o->client, &msg, 0), -EPERM);
    assert_int_equal(corio_recv(o->server, buf, sizeof buf, 0), -EPERM);
    assert_int_equal(corio_recvmsg(o->server, &msg, 0), -EPERM);
    assert_int_equal(corio_shutdown(o->client, SHUT_WR), -EPERM);
    assert_int_equal(corio_poll(o->client, POLLOUT), -EPERM);
    assert_nothing_to_read(o->server); /* nothing sent, no end of stream */
}

static void eperm_from_a_callback(void *arg)
{
    struct outside *o = arg;
    corio_loop_t *loop = corio_current_loop();
    assert_non_null(loop); /* on the loop thread, but not in a task */
    corio_loop_stats_t before, after;
    corio_loop_stats(loop, &before);
    check_eperm_everywhere(o);
    corio_loop_stats(loop, &after);
    assert_int_equal(after.submitted, before.submitted);
    o->ran = true;
}

static void test_await_calls_outside_a_task_return_eperm(void **state)
{
    (void)state;
    struct outside o = {0};
    o.file = support_pattern_file(64);
    support_tcp_pair(&o.client, &o.server);
    o.listener = support_listener(&o.port);
    o.unconnected = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(o.unconnected >= 0);
    int pending = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in to = support_loopback(o.port);
    assert_int_equal(connect(pending, (struct sockaddr *)&to, sizeof to), 0);
    temp_path(o.path, sizeof o.path);

    check_eperm_everywhere(&o); /* no loop at all */
    corio_loop_t *loop = support_loop(0);
    assert_int_equal(corio_call_soon(loop, eperm_from_a_callback, &o), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_true(o.ran);
    corio_loop_free(loop);

    /* The refused connect and accept did nothing either. */
    struct sockaddr_in peer;
    socklen_t len = sizeof peer;
    assert_int_equal(getpeername(o.unconnected, (struct sockaddr *)&peer, &len), -1);
    assert_int_equal(errno, ENOTCONN);
    int accepted = accept4(o.listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    assert_true(accepted >= 0);
    assert_int_equal(support_peer_port(accepted), support_local_port(pending));
    close(accepted);
    close(pending);
    close(o.unconnected);
    close(o.listener);
    close(o.client);
    close(o.server);
    close(o.file);
}

int main(void)
{
    support_require_uring();
    support_watchdog(60);
    const struct CMUnitTest tests[] = {
        /* both modes */
        BOTH_MODES_TESTS(nop_completes_with_zero),
        BOTH_MODES_TESTS(read_at_offsets_and_at_the_file_position),
        BOTH_MODES_TESTS(read_of_more_than_2_gib_is_clamped_not_truncated),
        BOTH_MODES_TESTS(write_at_offsets_and_at_the_file_position),
        BOTH_MODES_TESTS(readv_scatters_at_offsets_and_at_the_file_position),
        BOTH_MODES_TESTS(writev_gathers_at_offsets_and_at_the_file_position),
        BOTH_MODES_TESTS(file_lifecycle_openat_write_fsync_statx_close),
        BOTH_MODES_TESTS(tcp_socket_connect_accept_send_recv_msg_shutdown),
        BOTH_MODES_TESTS(connect_to_a_refused_port_gives_econnrefused),
        BOTH_MODES_TESTS(recv_after_the_peer_resets_gives_econnreset),
        BOTH_MODES_TESTS(recv_after_the_peer_shuts_down_writing_gives_zero),
        BOTH_MODES_TESTS(send_to_a_closed_peer_gives_epipe_and_no_sigpipe),
        BOTH_MODES_TESTS(accept_on_a_socket_that_does_not_listen_gives_einval),
        BOTH_MODES_TESTS(accept_flags_reach_the_fd_and_bad_flags_are_einval),
        BOTH_MODES_TESTS(bad_arguments_are_refused_before_anything_is_queued),
        BOTH_MODES_TESTS(closed_fds_give_ebadf_as_the_result),
        /* poll */
        cmocka_unit_test(test_poll_cb_reports_pollin_once_the_peer_writes),
        cmocka_unit_test(test_poll_await_reports_pollin_once_the_peer_writes),
        /* callback mode */
        cmocka_unit_test(test_multishot_accept_once_per_client_then_cancel_ends_it),
        cmocka_unit_test(test_multishot_accept_that_fails_ends_with_one_last_callback),
        cmocka_unit_test(test_timeout_cb_fires_with_zero_after_its_duration),
        cmocka_unit_test(test_timeout_cancelled_gives_ecanceled_exactly_once),
        cmocka_unit_test(test_cancel_of_an_op_not_in_flight_gives_enoent),
        cmocka_unit_test(test_starting_an_op_in_flight_gives_ebusy),
        cmocka_unit_test(test_an_op_may_be_restarted_from_its_own_callback),
        cmocka_unit_test(test_callback_mode_refuses_a_null_loop_op_or_callback),
        cmocka_unit_test(test_recv_racing_its_cancel_is_delivered_once_and_loses_no_data),
        cmocka_unit_test(test_1000_ops_started_at_once_on_an_8_entry_sq_all_complete),
        cmocka_unit_test(test_4096_completions_unreaped_on_a_16_entry_cq_are_each_delivered_once),
        cmocka_unit_test(test_loop_free_delivers_ecanceled_to_ops_in_flight_before_returning),
        /* await mode */
        cmocka_unit_test(test_await_calls_outside_a_task_return_eperm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
