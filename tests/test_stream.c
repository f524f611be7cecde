/* Tests of buffered streams (engine/stream.c): records and lines split over several
 * receives, limits (-EMSGSIZE) that leave the stream usable, a peer that closes early,
 * write_all over short writes, buffered writes and flush, files and pipes, deadlines,
 * cancellation and the poisoning of a side after a partial transfer, streams over a
 * transport (one-byte reads, short writes, its errors, a cancel or deadline reaching a wait
 * inside it), and argument and outside-a-task errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

#define MS  1000000ull
#define SEC (1000 * MS)

/* ---- shared helpers ---------------------------------------------------------------- */

static unsigned char pat(size_t i)
{
    return (unsigned char)((i * 7 + 3) & 0xff);
}

static void fill_pattern(unsigned char *buf, size_t len, size_t at)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = pat(at + i);
}

static void assert_pattern(const unsigned char *buf, size_t len, size_t at)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] != pat(at + i))
            fail_msg("byte at offset %zu is 0x%02x, expected 0x%02x", at + i, buf[i], pat(at + i));
}

/* A TCP pair whose writes reach the peer at once (no Nagle delay), and whose server side
 * bounds a blocking read of data that must be there instead of hanging. */
static void tcp_pair_nodelay(int *client, int *server)
{
    support_tcp_pair(client, server);
    int one = 1;
    assert_int_equal(setsockopt(*client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one), 0);
    struct timeval tv = {.tv_sec = 5};
    assert_int_equal(setsockopt(*server, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
}

static void unix_pair(int *a, int *b)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    *a = sv[0];
    *b = sv[1];
}

/* Blocking write of a whole string (outside the loop, before it runs). */
static void put(int fd, const char *s)
{
    size_t len = strlen(s);
    assert_int_equal(write(fd, s, len), (ssize_t)len);
}

static uint64_t submitted(void)
{
    corio_loop_stats_t st;
    corio_loop_stats(corio_current_loop(), &st);
    return st.submitted;
}

/* ---- records split over several receives ------------------------------------------- */

/* The peer sends one piece at a time, each only once the reader has received every byte
 * sent before it (what it consumed plus what its stream holds): so each piece arrives in a
 * receive of its own. The reader adds what each of its calls returned to `consumed`. */
struct splitter {
    corio_stream_t *s;
    int peer;
    const char *const *pieces;
    size_t npieces;
    size_t consumed;
};

/* Inside a task: lets the reader run until it has received `sent` bytes. No clock: the
 * bound only turns a bug into a failure instead of a hang. */
static void yield_until_received(const struct splitter *sp, size_t sent)
{
    for (long i = 0; sp->consumed + corio_stream_buffered(sp->s) != sent; i++) {
        if (i > 10000000)
            fail_msg("the reader never received %zu bytes", sent);
        corio_yield();
    }
}

static void *send_pieces(void *arg)
{
    struct splitter *sp = arg;
    size_t sent = 0;
    for (size_t i = 0; i < sp->npieces; i++) {
        yield_until_received(sp, sent);
        size_t len = strlen(sp->pieces[i]);
        assert_int_equal(corio_send(sp->peer, sp->pieces[i], len, 0), (ssize_t)len);
        sent += len;
    }
    return NULL;
}

struct until_case {
    int fd, peer;
    ssize_t res;
    char record[128];
    size_t left; /* bytes still buffered after the record */
};

static void *read_until_split_main(void *arg)
{
    struct until_case *c = arg;
    unsigned char rbuf[256];
    corio_stream_t s;
    assert_int_equal(corio_stream_init(&s, c->fd, rbuf, sizeof rbuf, NULL, 0), 0);
    /* The delimiter "\r\n\r\n" itself is cut over three sends. */
    static const char *const pieces[] = {"GET / HTTP/1.1\r\nHost: x\r", "\n", "\r", "\nBODY"};
    struct splitter sp = {&s, c->peer, pieces, 4, 0};
    corio_task_t *sender;
    assert_int_equal(corio_spawn(NULL, send_pieces, &sp, &sender), 0);
    const void *view = NULL;
    assert_int_equal(corio_timeout_begin(5 * SEC), 0); /* a missed delimiter fails, not hangs */
    c->res = corio_stream_read_until(&s, "\r\n\r\n", 4, &view);
    corio_timeout_end();
    if (c->res > 0)
        memcpy(c->record, view, (size_t)c->res);
    c->left = corio_stream_buffered(&s);
    assert_int_equal(corio_join(sender, NULL), 0);
    return NULL;
}

static void test_read_until_finds_a_delimiter_split_across_several_sends(void **state)
{
    (void)state;
    struct until_case c = {0};
    tcp_pair_nodelay(&c.peer, &c.fd);
    support_run(read_until_split_main, &c);
    const char *want = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(c.res, (ssize_t)strlen(want));
    assert_memory_equal(c.record, want, strlen(want));
    assert_int_equal(c.left, 4); /* "BODY" stays buffered for the next call */
    close(c.fd);
    close(c.peer);
}

struct lines_case {
    int fd, peer;
    ssize_t res[3];
    char line[3][32];
};

static void *readline_split_main(void *arg)
{
    struct lines_case *c = arg;
    unsigned char rbuf[64];
    corio_stream_t s;
    assert_int_equal(corio_stream_init(&s, c->fd, rbuf, sizeof rbuf, NULL, 0), 0);
    static const char *const pieces[] = {"hel", "lo\nwor", "ld\n"};
    struct splitter sp = {&s, c->peer, pieces, 3, 0};
    corio_task_t *sender;
    assert_int_equal(corio_spawn(NULL, send_pieces, &sp, &sender), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(corio_timeout_begin(5 * SEC), 0);
        c->res[i] = corio_stream_readline(&s, c->line[i], sizeof c->line[i]);
        corio_timeout_end();
        sp.consumed += c->res[i] > 0 ? (size_t)c->res[i] : 0;
    }
    assert_int_equal(corio_join(sender, NULL), 0);
    assert_int_equal(corio_shutdown(c->peer, SHUT_WR), 0);
    c->res[2] = corio_stream_readline(&s, c->line[2], sizeof c->line[2]);
    return NULL;
}

static void test_readline_assembles_lines_split_across_sends_then_returns_0_at_the_end(void **state)
{
    (void)state;
    struct lines_case c = {0};
    tcp_pair_nodelay(&c.peer, &c.fd);
    support_run(readline_split_main, &c);
    assert_int_equal(c.res[0], 6);
    assert_string_equal(c.line[0], "hello\n");
    assert_int_equal(c.res[1], 6);
    assert_string_equal(c.line[1], "world\n");
    assert_int_equal(c.res[2], 0);
    close(c.fd);
    close(c.peer);
}

/* ---- limits ------------------------------------------------------------------------ */

struct limit_case {
    int fd;
    ssize_t first, over, over_again, skipped, after, end;
    size_t buffered_after_over;
    char line[16];
    char after_line[16];
    ssize_t small_buf_line, small_buf_until;
};

static void *readline_limit_main(void *arg)
{
    struct limit_case *c = arg;
    unsigned char rbuf[128];
    corio_stream_t s;
    assert_int_equal(corio_stream_init(&s, c->fd, rbuf, sizeof rbuf, NULL, 0), 0);
    c->first = corio_stream_readline(&s, c->line, sizeof c->line);
    c->over = corio_stream_readline(&s, c->line, sizeof c->line);
    c->buffered_after_over = corio_stream_buffered(&s);
    c->over_again = corio_stream_readline(&s, c->line, sizeof c->line);
    c->skipped = corio_stream_skip_until(&s, "\n", 1);
    c->after = corio_stream_readline(&s, c->after_line, sizeof c->after_line);
    c->end = corio_stream_readline(&s, c->line, sizeof c->line);
    return NULL;
}

static void test_readline_over_the_limit_is_emsgsize_and_the_stream_stays_usable(void **state)
{
    (void)state;
    int fd, peer;
    unix_pair(&fd, &peer);
    char longline[64];
    memset(longline, 'x', 40);
    strcpy(longline + 40, "\n");
    put(peer, "short\n");
    put(peer, longline);
    put(peer, "after\n");
    shutdown(peer, SHUT_WR);
    struct limit_case c = {.fd = fd};
    support_run(readline_limit_main, &c);
    assert_int_equal(c.first, 6);
    assert_int_equal(c.over, -EMSGSIZE);
    assert_true(c.buffered_after_over >= 41); /* nothing consumed: the line is still there */
    assert_int_equal(c.over_again, -EMSGSIZE);
    assert_int_equal(c.skipped, 41);
    assert_int_equal(c.after, 6);
    assert_string_equal(c.after_line, "after\n");
    assert_int_equal(c.end, 0);
    close(fd);
    close(peer);
}

static void *record_longer_than_buffer_main(void *arg)
{
    struct limit_case *c = arg;
    unsigned char rbuf[16];
    corio_stream_t s;
    char line[64];
    assert_int_equal(corio_stream_init(&s, c->fd, rbuf, sizeof rbuf, NULL, 0), 0);
    c->small_buf_line = corio_stream_readline(&s, line, sizeof line);
    c->small_buf_until = corio_stream_read_until(&s, "\n", 1, NULL);
    c->skipped = corio_stream_skip_until(&s, "\n", 1);
    c->after = corio_stream_readline(&s, c->after_line, sizeof c->after_line);
    return NULL;
}

static void test_a_record_longer_than_the_read_buffer_is_emsgsize(void **state)
{
    (void)state;
    int fd, peer;
    unix_pair(&fd, &peer);
    put(peer, "0123456789abcdefghijklmnopqrstuvwxyz\nok\n");
    struct limit_case c = {.fd = fd};
    support_run(record_longer_than_buffer_main, &c);
    assert_int_equal(c.small_buf_line, -EMSGSIZE); /* fits `line`, not the 16-byte buffer */
    assert_int_equal(c.small_buf_until, -EMSGSIZE);
    assert_int_equal(c.skipped, 37);
    assert_int_equal(c.after, 3);
    assert_string_equal(c.after_line, "ok\n");
    close(fd);
    close(peer);
}

/* ---- a peer that closes early ------------------------------------------------------ */

struct early_case {
    int fd;
    ssize_t short_read, peeked, exact, end, big;
    size_t buffered;
    char peek[16], got[16];
};

static void *read_exactly_early_close_main(void *arg)
{
    struct early_case *c = arg;
    unsigned char rbuf[64];
    corio_stream_t s;
    assert_int_equal(corio_stream_init(&s, c->fd, rbuf, sizeof rbuf, NULL, 0), 0);
    c->short_read = corio_stream_read_exactly(&s, c->got, 16);
    c->buffered = corio_stream_buffered(&s);
    const void *view = NULL;
    c->peeked = corio_stream_peek(&s, 1, &view);
    if (c->peeked > 0)
        memcpy(c->peek, view, (size_t)c->peeked);
    c->exact = corio_stream_read_exactly(&s, c->got, 10);
    c->end = corio_stream_read_exactly(&s, c->got, 1);
    return NULL;
}

static void test_read_exactly_with_the_peer_closing_early_is_epipe_and_keeps_the_bytes(void **state)
{
    (void)state;
    int fd, peer;
    unix_pair(&fd, &peer);
    put(peer, "0123456789");
    close(peer);
    struct early_case c = {.fd = fd};
    support_run(read_exactly_early_close_main, &c);
    assert_int_equal(c.short_read, -EPIPE);
    assert_int_equal(c.buffered, 10);
    assert_int_equal(c.peeked, 10);
    assert_memory_equal(c.peek, "0123456789", 10);
    assert_int_equal(c.exact, 10);
    assert_memory_equal(c.got, "0123456789", 10);
    assert_int_equal(c.end, 0); /* a clean end: nothing was asked for part-way */
    close(fd);
}

static void *read_exactly_big_early_close_main(void *arg)
{
    struct early_case *c = arg;
    unsigned char rbuf[8];
    unsigned char big[1000];
    corio_stream_t s;
    assert_int_equal(corio_stream_init(&s, c->fd, rbuf, sizeof rbuf, NULL, 0), 0);
    c->big = corio_stream_read_exactly(&s, big, sizeof big);
    c->end = corio_stream_read_exactly(&s, big, sizeof big);
    return NULL;
}

static void test_read_exactly_beyond_the_buffer_with_the_peer_closing_early_is_epipe(void **state)
{
    (void)state;
    int fd, peer;
    unix_pair(&fd, &peer);
    unsigned char data[100];
    fill_pattern(data, sizeof data, 0);
    assert_int_equal(write(peer, data, sizeof data), (ssize_t)sizeof data);
    close(peer);
    struct early_case c = {.fd = fd};
    support_run(read_exactly_big_early_close_main, &c);
    assert_int_equal(c.big, -EPIPE);
    assert_int_equal(c.end, 0);
    close(fd);
}

/* ---- writing ----------------------------------------------------------------------- */

#define BIG (8u << 20)

/* The other side: a thread that reads in small blocking steps, far slower than the
 * kernel can take data, checking every byte. */
struct slow_reader {
    int fd;
    size_t total;
    bool intact;
};

static void *slow_reader_thread(void *arg)
{
    struct slow_reader *r = arg;
    unsigned char buf[1000];
    r->intact = true;
    for (;;) {
        ssize_t n = read(r->fd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != pat(r->total + (size_t)i))
                r->intact = false;
        r->total += (size_t)n;
    }
    return NULL;
}

struct write_all_case {
    int fd;
    unsigned char *data;
    ssize_t res;
    uint64_t sends;
};

static void *write_all_main(void *arg)
{
    struct write_all_case *c = arg;
    unsigned char wbuf[4096];
    corio_stream_t s;
    assert_int_equal(corio_stream_init(&s, c->fd, NULL, 0, wbuf, sizeof wbuf), 0);
    uint64_t before = submitted();
    c->res = corio_stream_write_all(&s, c->data, BIG);
    c->sends = submitted() - before;
    assert_int_equal(corio_shutdown(c->fd, SHUT_WR), 0);
    return NULL;
}

static void test_write_all_loops_over_short_writes_to_a_slow_reader(void **state)
{
    (void)state;
    int fd, peer;
    unix_pair(&fd, &peer);
    int small = 16384;
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    struct write_all_case c = {.fd = fd, .data = malloc(BIG)};
    assert_non_null(c.data);
    fill_pattern(c.data, BIG, 0);
    struct slow_reader r = {.fd = peer};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, slow_reader_thread, &r), 0);
    support_run(write_all_main, &c);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(c.res, (ssize_t)BIG);
    /* The loop ran only this task's sends: more than one means the kernel took the
     * 8 MiB in parts (short writes) and write_all went on. */
    assert_true(c.sends >= 2);
    assert_int_equal(r.total, BIG);
    assert_true(r.intact);
    free(c.data);
    close(fd);
    close(peer);
}

struct buffered_case {
    int fd, peer;
    uint64_t sends_for_small;
    size_t pending;
    bool peer_empty_before_flush;
    int flush;
    ssize_t big;
};

static void *buffered_write_main(void *arg)
{
    struct buffered_case *c = arg;
    unsigned char wbuf[64];
    corio_stream_t s;
    assert_int_equal(corio_stream_init(&s, c->fd, NULL, 0, wbuf, sizeof wbuf), 0);
    uint64_t before = submitted();
    assert_int_equal(corio_stream_write(&s, "abc", 3), 3);
    assert_int_equal(corio_stream_write(&s, "def", 3), 3);
    c->sends_for_small = submitted() - before;
    c->pending = corio_stream_pending(&s);
    char ch;
    c->peer_empty_before_flush = recv(c->peer, &ch, 1, MSG_DONTWAIT) == -1 && errno == EAGAIN;
    c->flush = corio_stream_flush(&s);
    /* Bigger than the buffer, with bytes already buffered: those go first. */
    unsigned char big[100];
    fill_pattern(big, sizeof big, 0);
    assert_int_equal(corio_stream_write(&s, "ghij", 4), 4);
    c->big = corio_stream_write(&s, big, sizeof big);
    return NULL;
}

static void test_buffered_writes_stay_in_the_buffer_until_flush(void **state)
{
    (void)state;
    struct buffered_case c = {0};
    tcp_pair_nodelay(&c.fd, &c.peer);
    support_run(buffered_write_main, &c);
    assert_int_equal(c.sends_for_small, 0);
    assert_int_equal(c.pending, 6);
    assert_true(c.peer_empty_before_flush);
    assert_int_equal(c.flush, 0);
    assert_int_equal(c.big, 100);
    unsigned char got[110];
    size_t have = 0;
    while (have < sizeof got) {
        ssize_t n = recv(c.peer, got + have, sizeof got - have, 0);
        assert_true(n > 0);
        have += (size_t)n;
    }
    assert_memory_equal(got, "abcdefghij", 10);
    assert_pattern(got + 10, 100, 0);
    close(c.fd);
    close(c.peer);
}

/* ---- files and pipes --------------------------------------------------------------- */

struct file_case {
    int wfd, rfd;
    int nlines;
    bool lines_ok;
    ssize_t end;
};

static void *file_lines_main(void *arg)
{
    struct file_case *c = arg;
    unsigned char wbuf[32], rbuf[64];
    corio_stream_t w, r;
    assert_int_equal(corio_stream_init(&w, c->wfd, NULL, 0, wbuf, sizeof wbuf), 0);
    assert_int_equal(corio_stream_init(&r, c->rfd, rbuf, sizeof rbuf, NULL, 0), 0);
    char line[32];
    for (int i = 0; i < 100; i++) {
        int n = snprintf(line, sizeof line, "line %d\n", i);
        assert_int_equal(corio_stream_write(&w, line, (size_t)n), n);
    }
    assert_int_equal(corio_stream_flush(&w), 0);
    c->lines_ok = true;
    for (;;) {
        ssize_t n = corio_stream_readline(&r, line, sizeof line);
        if (n <= 0) {
            c->end = n;
            break;
        }
        char want[32];
        snprintf(want, sizeof want, "line %d\n", c->nlines);
        if (strcmp(line, want) != 0)
            c->lines_ok = false;
        c->nlines++;
    }
    return NULL;
}

static void test_file_backed_streams_write_and_read_lines(void **state)
{
    (void)state;
    char path[] = "/tmp/corio-stream-XXXXXX";
    struct file_case c = {0};
    c.wfd = mkstemp(path);
    assert_true(c.wfd >= 0);
    c.rfd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(c.rfd >= 0);
    unlink(path);
    support_run(file_lines_main, &c);
    assert_int_equal(c.nlines, 100);
    assert_true(c.lines_ok);
    assert_int_equal(c.end, 0);
    close(c.wfd);
    close(c.rfd);
}

struct pattern_file_case {
    int fd;
    bool ok;
    ssize_t end;
};

static void *pattern_file_main(void *arg)
{
    struct pattern_file_case *c = arg;
    unsigned char rbuf[4096];
    static unsigned char got[10000];
    corio_stream_t s;
    assert_int_equal(corio_stream_init(&s, c->fd, rbuf, sizeof rbuf, NULL, 0), 0);
    /* Small, then beyond the buffer (partly buffered already), then small again. */
    assert_int_equal(corio_stream_read_exactly(&s, got, 100), 100);
    assert_pattern(got, 100, 0);
    assert_int_equal(corio_stream_read_exactly(&s, got, 10000), 10000);
    assert_pattern(got, 10000, 100);
    assert_int_equal(corio_stream_read_exactly(&s, got, 3000), 3000);
    assert_pattern(got, 3000, 10100);
    /* A plain read returns what is buffered first, then one read of the file at a time. */
    size_t buffered = corio_stream_buffered(&s);
    assert_true(buffered > 0);
    assert_int_equal(corio_stream_read(&s, got, sizeof got), (ssize_t)buffered);
    size_t total = buffered;
    ssize_t n;
    while ((n = corio_stream_read(&s, got + total, sizeof got - total)) > 0)
        total += (size_t)n;
    assert_int_equal(total, 6900);
    assert_pattern(got, 6900, 13100);
    c->end = n;
    c->ok = true;
    return NULL;
}

static void test_file_backed_stream_reads_exactly_across_its_buffer(void **state)
{
    (void)state;
    struct pattern_file_case c = {.fd = support_pattern_file(20000)};
    assert_int_equal(lseek(c.fd, 0, SEEK_SET), 0);
    support_run(pattern_file_main, &c);
    assert_true(c.ok);
    assert_int_equal(c.end, 0);
    close(c.fd);
}

#define PIPE_BYTES (300u * 1024)

struct pipe_case {
    int rfd, wfd;
    unsigned char *data;
    ssize_t wrote, got, end;
    bool intact;
};

static void *pipe_writer(void *arg)
{
    struct pipe_case *c = arg;
    corio_stream_t s;
    assert_int_equal(corio_stream_init(&s, c->wfd, NULL, 0, NULL, 0), 0);
    c->wrote = corio_stream_write_all(&s, c->data, PIPE_BYTES);
    close(c->wfd);
    return NULL;
}

static void *pipe_main(void *arg)
{
    struct pipe_case *c = arg;
    corio_task_t *w;
    assert_int_equal(corio_spawn(NULL, pipe_writer, c, &w), 0);
    unsigned char rbuf[512];
    corio_stream_t s;
    assert_int_equal(corio_stream_init(&s, c->rfd, rbuf, sizeof rbuf, NULL, 0), 0);
    unsigned char *got = malloc(PIPE_BYTES);
    assert_non_null(got);
    c->got = corio_stream_read_exactly(&s, got, PIPE_BYTES);
    c->end = corio_stream_read_exactly(&s, got, 1);
    c->intact = c->got == (ssize_t)PIPE_BYTES && memcmp(got, c->data, PIPE_BYTES) == 0;
    free(got);
    assert_int_equal(corio_join(w, NULL), 0);
    return NULL;
}

static void test_pipe_backed_streams_carry_more_than_the_pipe_holds(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    struct pipe_case c = {.rfd = p[0], .wfd = p[1], .data = malloc(PIPE_BYTES)};
    assert_non_null(c.data);
    fill_pattern(c.data, PIPE_BYTES, 0);
    support_run(pipe_main, &c);
    assert_int_equal(c.wrote, (ssize_t)PIPE_BYTES);
    assert_int_equal(c.got, (ssize_t)PIPE_BYTES);
    assert_true(c.intact);
    assert_int_equal(c.end, 0);
    free(c.data);
    close(p[0]);
}

/* ---- deadlines and cancellation ---------------------------------------------------- */

struct deadline_case {
    int fd, peer;
    ssize_t timed_out, after;
    uint64_t elapsed;
    size_t buffered;
    char record[16];
};

static void *read_until_deadline_main(void *arg)
{
    struct deadline_case *c = arg;
    unsigned char rbuf[64];
    corio_stream_t s;
    assert_int_equal(corio_stream_init(&s, c->fd, rbuf, sizeof rbuf, NULL, 0), 0);
    assert_int_equal(corio_send(c->peer, "abc", 3, 0), 3);
    assert_int_equal(corio_timeout_begin(50 * MS), 0);
    uint64_t t0 = support_now_ns();
    c->timed_out = corio_stream_read_until(&s, "\n", 1, NULL);
    c->elapsed = support_now_ns() - t0;
    corio_timeout_end();
    c->buffered = corio_stream_buffered(&s);
    assert_int_equal(corio_send(c->peer, "def\n", 4, 0), 4);
    const void *view = NULL;
    c->after = corio_stream_read_until(&s, "\n", 1, &view);
    if (c->after > 0)
        memcpy(c->record, view, (size_t)c->after);
    return NULL;
}

static void test_read_until_deadline_times_out_and_keeps_what_arrived(void **state)
{
    (void)state;
    struct deadline_case c = {0};
    tcp_pair_nodelay(&c.peer, &c.fd);
    support_run(read_until_deadline_main, &c);
    assert_int_equal(c.timed_out, -ETIMEDOUT);
    assert_true(c.elapsed >= 45 * MS);
    assert_true(c.elapsed < 5 * SEC);
    assert_int_equal(c.buffered, 3);
    assert_int_equal(c.after, 7);
    assert_memory_equal(c.record, "abcdef\n", 7);
    close(c.fd);
    close(c.peer);
}

struct cancel_case {
    int fd;
    bool waiting;
    ssize_t res;
};

static void *read_exactly_forever(void *arg)
{
    struct cancel_case *c = arg;
    unsigned char rbuf[64], buf[10];
    corio_stream_t s;
    assert_int_equal(corio_stream_init(&s, c->fd, rbuf, sizeof rbuf, NULL, 0), 0);
    c->waiting = true;
    c->res = corio_stream_read_exactly(&s, buf, sizeof buf);
    return NULL;
}

static void *cancel_reader_main(void *arg)
{
    struct cancel_case *c = arg;
    corio_task_t *t;
    assert_int_equal(corio_spawn(NULL, read_exactly_forever, c, &t), 0);
    corio_yield(); /* the reader runs until it parks in its receive */
    assert_true(c->waiting);
    assert_int_equal(corio_cancel(t), 0);
    assert_int_equal(corio_join(t, NULL), -ECANCELED);
    return NULL;
}

static void test_cancel_ends_a_read_waiting_for_data_with_ecanceled(void **state)
{
    (void)state;
    int fd, peer;
    unix_pair(&fd, &peer);
    struct cancel_case c = {.fd = fd};
    uint64_t t0 = support_now_ns();
    support_run(cancel_reader_main, &c);
    assert_int_equal(c.res, -ECANCELED);
    assert_true(support_now_ns() - t0 < 5 * SEC);
    close(fd);
    close(peer);
}

struct poison_case {
    int fd, peer;
    ssize_t clean_timeout, clean_after, partial_timeout, poisoned_read, poisoned_peek;
    ssize_t write_timeout, poisoned_write, poisoned_flush;
    unsigned char *big;
};

static void *read_poison_main(void *arg)
{
    struct poison_case *c = arg;
    unsigned char rbuf[8], buf[100];
    corio_stream_t s;
    assert_int_equal(corio_stream_init(&s, c->fd, rbuf, sizeof rbuf, NULL, 0), 0);
    /* Nothing arrives: the timeout consumes nothing, and the call can be made again. */
    assert_int_equal(corio_timeout_begin(20 * MS), 0);
    c->clean_timeout = corio_stream_read_exactly(&s, buf, sizeof buf);
    corio_timeout_end();
    unsigned char data[100];
    fill_pattern(data, sizeof data, 0);
    assert_int_equal(corio_send(c->peer, data, sizeof data, 0), (ssize_t)sizeof data);
    c->clean_after = corio_stream_read_exactly(&s, buf, sizeof buf);
    assert_pattern(buf, sizeof buf, 0);
    /* Part of the bytes went into buf before the deadline: the read side is poisoned. */
    assert_int_equal(corio_send(c->peer, data, 10, 0), 10);
    assert_int_equal(corio_timeout_begin(20 * MS), 0);
    c->partial_timeout = corio_stream_read_exactly(&s, buf, sizeof buf);
    corio_timeout_end();
    c->poisoned_read = corio_stream_read(&s, buf, 1);
    c->poisoned_peek = corio_stream_peek(&s, 1, NULL);
    return NULL;
}

static void test_a_read_beyond_the_buffer_that_fails_part_way_poisons_the_read_side(void **state)
{
    (void)state;
    struct poison_case c = {0};
    unix_pair(&c.fd, &c.peer);
    support_run(read_poison_main, &c);
    assert_int_equal(c.clean_timeout, -ETIMEDOUT);
    assert_int_equal(c.clean_after, 100);
    assert_int_equal(c.partial_timeout, -ETIMEDOUT);
    assert_int_equal(c.poisoned_read, -EBADFD);
    assert_int_equal(c.poisoned_peek, -EBADFD);
    close(c.fd);
    close(c.peer);
}

static void *write_poison_main(void *arg)
{
    struct poison_case *c = arg;
    unsigned char wbuf[16];
    corio_stream_t s;
    assert_int_equal(corio_stream_init(&s, c->fd, NULL, 0, wbuf, sizeof wbuf), 0);
    /* Nobody reads: the socket takes a part, then the next send waits past the deadline. */
    assert_int_equal(corio_timeout_begin(50 * MS), 0);
    c->write_timeout = corio_stream_write_all(&s, c->big, BIG);
    corio_timeout_end();
    c->poisoned_write = corio_stream_write(&s, "x", 1);
    c->poisoned_flush = corio_stream_flush(&s);
    return NULL;
}

static void test_a_write_all_that_fails_part_way_poisons_the_write_side(void **state)
{
    (void)state;
    struct poison_case c = {.big = calloc(1, BIG)};
    assert_non_null(c.big);
    unix_pair(&c.fd, &c.peer);
    support_run(write_poison_main, &c);
    assert_int_equal(c.write_timeout, -ETIMEDOUT);
    assert_int_equal(c.poisoned_write, -EBADFD);
    assert_int_equal(c.poisoned_flush, -EBADFD);
    free(c.big);
    close(c.fd);
    close(c.peer);
}

/* ---- streams over a transport ------------------------------------------------------ */

/* A transport over a script: reads hand out at most `rstep` bytes of `in` at a time (then
 * `rerr` once, if set, where the script ends; then end of stream), writes take at most
 * `wstep` bytes into `out`. Every call yields first, as a real transport parks. */
struct script {
    const char *in;
    size_t in_len, in_pos, rstep;
    int rerr;
    char out[4096];
    size_t out_len, wstep;
    unsigned reads, writes;
};

static ssize_t script_read(void *ctx, void *buf, size_t len)
{
    struct script *sc = ctx;
    assert_true(len > 0);
    sc->reads++;
    corio_yield();
    size_t left = sc->in_len - sc->in_pos;
    if (left == 0) {
        int err = sc->rerr;
        sc->rerr = 0;
        return err;
    }
    size_t n = left < sc->rstep ? left : sc->rstep;
    n = n < len ? n : len;
    memcpy(buf, sc->in + sc->in_pos, n);
    sc->in_pos += n;
    return (ssize_t)n;
}

static ssize_t script_write(void *ctx, const void *buf, size_t len)
{
    struct script *sc = ctx;
    assert_true(len > 0);
    sc->writes++;
    corio_yield();
    size_t n = len < sc->wstep ? len : sc->wstep;
    assert_true(sc->out_len + n <= sizeof sc->out);
    memcpy(sc->out + sc->out_len, buf, n);
    sc->out_len += n;
    return (ssize_t)n;
}

static const corio_stream_transport_t script_transport = {script_read, script_write};

struct transport_case {
    struct script sc;
    ssize_t line1, line2, exact, until, eof;
    char l1[32], l2[32], ex[8], un[16];
    ssize_t wrote, flushed, all;
    ssize_t err_until, err_buffered, err_again;
};

static void *transport_read_main(void *arg)
{
    struct transport_case *c = arg;
    unsigned char rbuf[32];
    corio_stream_t s;
    assert_int_equal(
        corio_stream_init_transport(&s, &script_transport, &c->sc, rbuf, sizeof rbuf, NULL, 0), 0);
    assert_int_equal(corio_stream_fd(&s), -EBADF);
    c->line1 = corio_stream_readline(&s, c->l1, sizeof c->l1);
    c->line2 = corio_stream_readline(&s, c->l2, sizeof c->l2);
    c->exact = corio_stream_read_exactly(&s, c->ex, 5);
    const void *view;
    c->until = corio_stream_read_until(&s, "\r\n\r\n", 4, &view);
    if (c->until > 0)
        memcpy(c->un, view, (size_t)c->until);
    c->eof = corio_stream_read(&s, c->ex, sizeof c->ex);
    return NULL;
}

static void test_a_stream_over_a_transport_assembles_records_from_one_byte_reads(void **state)
{
    (void)state;
    static const char in[] = "first line\nsecond\n12345head\r\n\r\n";
    struct transport_case c = {.sc = {.in = in, .in_len = sizeof in - 1, .rstep = 1}};
    support_run(transport_read_main, &c);
    assert_int_equal(c.line1, 11);
    assert_string_equal(c.l1, "first line\n");
    assert_int_equal(c.line2, 7);
    assert_string_equal(c.l2, "second\n");
    assert_int_equal(c.exact, 5);
    assert_memory_equal(c.ex, "12345", 5);
    assert_int_equal(c.until, 8);
    assert_memory_equal(c.un, "head\r\n\r\n", 8);
    assert_int_equal(c.eof, 0);
    assert_true(c.sc.reads >= sizeof in - 1); /* one byte a read, then the end */
}

static void *transport_write_main(void *arg)
{
    struct transport_case *c = arg;
    unsigned char wbuf[8];
    corio_stream_t s;
    assert_int_equal(
        corio_stream_init_transport(&s, &script_transport, &c->sc, NULL, 0, wbuf, sizeof wbuf), 0);
    c->wrote = corio_stream_write(&s, "abc", 3); /* buffered */
    assert_int_equal(c->sc.writes, 0);
    c->flushed = corio_stream_flush(&s);
    c->all = corio_stream_write_all(&s, "0123456789abcdefghij", 20); /* beyond the buffer */
    return NULL;
}

static void test_a_stream_over_a_transport_loops_over_its_short_writes(void **state)
{
    (void)state;
    struct transport_case c = {.sc = {.wstep = 3}};
    support_run(transport_write_main, &c);
    assert_int_equal(c.wrote, 3);
    assert_int_equal(c.flushed, 0);
    assert_int_equal(c.all, 20);
    assert_int_equal(c.sc.out_len, 23);
    assert_memory_equal(c.sc.out, "abc0123456789abcdefghij", 23);
    assert_int_equal(c.sc.writes, 1 + 7); /* 3 bytes, then 20 in pieces of 3 */
}

static void *transport_error_main(void *arg)
{
    struct transport_case *c = arg;
    unsigned char rbuf[32];
    corio_stream_t s;
    assert_int_equal(
        corio_stream_init_transport(&s, &script_transport, &c->sc, rbuf, sizeof rbuf, NULL, 0), 0);
    c->err_until = corio_stream_read_until(&s, "\n", 1, NULL);
    c->err_buffered = (ssize_t)corio_stream_buffered(&s);
    c->err_again = corio_stream_read_until(&s, "\n", 1, NULL); /* the script has ended */
    return NULL;
}

static void test_a_transport_error_comes_back_as_it_is_and_consumes_nothing(void **state)
{
    (void)state;
    struct transport_case c = {
        .sc = {.in = "partial", .in_len = 7, .rstep = 4, .rerr = -ECONNRESET}};
    support_run(transport_error_main, &c);
    assert_int_equal(c.err_until, -ECONNRESET);
    assert_int_equal(c.err_buffered, 7); /* what came before the error stays buffered */
    assert_int_equal(c.err_again, -EPIPE);
}

/* A transport over a socket with corio_recv/corio_send, as TLS's is: the task's cancel and
 * deadline reach a wait inside it. */
static ssize_t sock_read(void *ctx, void *buf, size_t len)
{
    return corio_recv(*(int *)ctx, buf, len, 0);
}

static ssize_t sock_write(void *ctx, const void *buf, size_t len)
{
    return corio_send(*(int *)ctx, buf, len, 0);
}

static const corio_stream_transport_t sock_transport = {sock_read, sock_write};

struct transport_wait_case {
    int fd;
    corio_event_t waiting; /* set when the reader starts its second wait */
    ssize_t timed_out, cancelled;
};

static void *transport_wait_reader(void *arg)
{
    struct transport_wait_case *c = arg;
    unsigned char rbuf[16];
    char line[16];
    corio_stream_t s;
    assert_int_equal(
        corio_stream_init_transport(&s, &sock_transport, &c->fd, rbuf, sizeof rbuf, NULL, 0), 0);
    assert_int_equal(corio_timeout_begin(20 * MS), 0);
    c->timed_out = corio_stream_readline(&s, line, sizeof line);
    corio_timeout_end();
    corio_event_set(&c->waiting);
    c->cancelled = corio_stream_readline(&s, line, sizeof line);
    return NULL;
}

static void *transport_wait_main(void *arg)
{
    struct transport_wait_case *c = arg;
    corio_task_t *t;
    assert_int_equal(corio_spawn(NULL, transport_wait_reader, c, &t), 0);
    assert_int_equal(corio_event_wait(&c->waiting), 0);
    corio_yield(); /* the reader parks in its receive */
    assert_int_equal(corio_cancel(t), 0);
    assert_int_equal(corio_join(t, NULL), -ECANCELED);
    return NULL;
}

static void test_deadlines_and_cancels_reach_a_wait_inside_the_transport(void **state)
{
    (void)state;
    int peer;
    struct transport_wait_case c = {0};
    corio_event_init(&c.waiting);
    unix_pair(&c.fd, &peer);
    support_run(transport_wait_main, &c);
    assert_int_equal(c.timed_out, -ETIMEDOUT);
    assert_int_equal(c.cancelled, -ECANCELED);
    close(c.fd);
    close(peer);
}

static void test_init_transport_checks_its_arguments(void **state)
{
    (void)state;
    corio_stream_t s;
    unsigned char buf[8];
    static const corio_stream_transport_t no_write = {script_read, NULL};
    assert_int_equal(corio_stream_init_transport(NULL, &script_transport, NULL, buf, 8, NULL, 0),
                     -EINVAL);
    assert_int_equal(corio_stream_init_transport(&s, NULL, NULL, buf, 8, NULL, 0), -EINVAL);
    assert_int_equal(corio_stream_init_transport(&s, &no_write, NULL, buf, 8, NULL, 0), -EINVAL);
    assert_int_equal(corio_stream_init_transport(&s, &script_transport, NULL, NULL, 8, NULL, 0),
                     -EFAULT);
    assert_int_equal(corio_stream_init_transport(&s, &script_transport, NULL, NULL, 0, NULL, 8),
                     -EFAULT);
}

/* ---- errors ------------------------------------------------------------------------ */

static void test_init_checks_its_arguments(void **state)
{
    (void)state;
    corio_stream_t s;
    unsigned char buf[8];
    int p[2];
    assert_int_equal(pipe(p), 0);
    close(p[0]);
    close(p[1]);
    assert_int_equal(corio_stream_init(NULL, 0, NULL, 0, NULL, 0), -EINVAL);
    assert_int_equal(corio_stream_init(&s, -1, buf, sizeof buf, NULL, 0), -EBADF);
    assert_int_equal(corio_stream_init(&s, p[1], buf, sizeof buf, NULL, 0), -EBADF); /* closed */
    assert_int_equal(corio_stream_init(&s, 0, NULL, 8, NULL, 0), -EFAULT);
    assert_int_equal(corio_stream_init(&s, 0, NULL, 0, NULL, 8), -EFAULT);
}

static void test_calls_outside_a_task_return_eperm_after_argument_errors(void **state)
{
    (void)state;
    int fd, peer;
    unix_pair(&fd, &peer);
    put(peer, "hello\n");
    unsigned char rbuf[64], wbuf[64];
    char line[16];
    corio_stream_t s;
    assert_int_equal(corio_stream_init(&s, fd, rbuf, sizeof rbuf, wbuf, sizeof wbuf), 0);
    assert_int_equal(corio_stream_fd(&s), fd);
    assert_int_equal(corio_stream_read(&s, line, sizeof line), -EPERM);
    assert_int_equal(corio_stream_read_exactly(&s, line, 3), -EPERM);
    assert_int_equal(corio_stream_peek(&s, 1, NULL), -EPERM);
    assert_int_equal(corio_stream_read_until(&s, "\n", 1, NULL), -EPERM);
    assert_int_equal(corio_stream_readline(&s, line, sizeof line), -EPERM);
    assert_int_equal(corio_stream_skip_until(&s, "\n", 1), -EPERM);
    assert_int_equal(corio_stream_write(&s, "x", 1), -EPERM); /* even though it would fit */
    assert_int_equal(corio_stream_flush(&s), -EPERM);
    assert_int_equal(corio_stream_write_all(&s, "x", 1), -EPERM);
    /* Argument errors come first. */
    assert_int_equal(corio_stream_read_until(&s, "\n", 0, NULL), -EINVAL);
    assert_int_equal(corio_stream_read_until(&s, NULL, 1, NULL), -EFAULT);
    assert_int_equal(corio_stream_readline(&s, line, 1), -EINVAL);
    assert_int_equal(corio_stream_readline(&s, NULL, 8), -EFAULT);
    assert_int_equal(corio_stream_peek(&s, 0, NULL), -EINVAL);
    assert_int_equal(corio_stream_peek(&s, sizeof rbuf + 1, NULL), -EMSGSIZE);
    assert_int_equal(corio_stream_read(&s, NULL, 1), -EFAULT);
    assert_int_equal(corio_stream_write(&s, NULL, 1), -EFAULT);
    assert_int_equal(corio_stream_skip_until(&s, "\n", sizeof rbuf + 1), -EINVAL);
    /* Bookkeeping needs no task. */
    assert_int_equal(corio_stream_buffered(&s), 0);
    assert_int_equal(corio_stream_pending(&s), 0);
    assert_int_equal(corio_stream_consume(&s, 1), -EINVAL);
    assert_int_equal(corio_stream_consume(&s, 0), 0);
    close(fd);
    close(peer);
}

int main(void)
{
    support_require_uring();
    support_watchdog(60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_until_finds_a_delimiter_split_across_several_sends),
        cmocka_unit_test(
            test_readline_assembles_lines_split_across_sends_then_returns_0_at_the_end),
        cmocka_unit_test(test_readline_over_the_limit_is_emsgsize_and_the_stream_stays_usable),
        cmocka_unit_test(test_a_record_longer_than_the_read_buffer_is_emsgsize),
        cmocka_unit_test(
            test_read_exactly_with_the_peer_closing_early_is_epipe_and_keeps_the_bytes),
        cmocka_unit_test(test_read_exactly_beyond_the_buffer_with_the_peer_closing_early_is_epipe),
        cmocka_unit_test(test_write_all_loops_over_short_writes_to_a_slow_reader),
        cmocka_unit_test(test_buffered_writes_stay_in_the_buffer_until_flush),
        cmocka_unit_test(test_file_backed_streams_write_and_read_lines),
        cmocka_unit_test(test_file_backed_stream_reads_exactly_across_its_buffer),
        cmocka_unit_test(test_pipe_backed_streams_carry_more_than_the_pipe_holds),
        cmocka_unit_test(test_read_until_deadline_times_out_and_keeps_what_arrived),
        cmocka_unit_test(test_cancel_ends_a_read_waiting_for_data_with_ecanceled),
        cmocka_unit_test(test_a_read_beyond_the_buffer_that_fails_part_way_poisons_the_read_side),
        cmocka_unit_test(test_a_write_all_that_fails_part_way_poisons_the_write_side),
        cmocka_unit_test(test_a_stream_over_a_transport_assembles_records_from_one_byte_reads),
        cmocka_unit_test(test_a_stream_over_a_transport_loops_over_its_short_writes),
        cmocka_unit_test(test_a_transport_error_comes_back_as_it_is_and_consumes_nothing),
        cmocka_unit_test(test_deadlines_and_cancels_reach_a_wait_inside_the_transport),
        cmocka_unit_test(test_init_transport_checks_its_arguments),
        cmocka_unit_test(test_init_checks_its_arguments),
        cmocka_unit_test(test_calls_outside_a_task_return_eperm_after_argument_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
