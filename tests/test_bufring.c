/* Tests of provided buffers (engine/bufring.c): argument checks, a buffer-select recv in
 * both modes, -ENOBUFS when the ring runs dry and recovery after buffers come back,
 * multishot recv one buffer per arrival until the peer closes, cancel and -EBUSY on
 * free, and put refusing foreign or already returned buffers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support.h"

/* Skips (ctest: passed, with a note) where the kernel has no provided-buffer rings. */
static corio_bufring_t *bufring_or_skip(corio_loop_t *loop, unsigned count, size_t size)
{
    corio_bufring_t *br = NULL;
    int err = corio_bufring_new(loop, count, size, &br);
    if (err == -EOPNOTSUPP) {
        print_message("provided-buffer rings need Linux 5.19: skipped\n");
        return NULL;
    }
    assert_int_equal(err, 0);
    return br;
}

static void send_all(int fd, const char *s)
{
    assert_int_equal(send(fd, s, strlen(s), 0), (ssize_t)strlen(s));
}

/* ---- arguments ---------------------------------------------------------------------- */

static void test_bufring_new_rejects_bad_counts_and_sizes(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    corio_bufring_t *br = NULL;
    assert_int_equal(corio_bufring_new(NULL, 8, 64, &br), -EINVAL);
    assert_int_equal(corio_bufring_new(loop, 8, 64, NULL), -EINVAL);
    assert_int_equal(corio_bufring_new(loop, 0, 64, &br), -EINVAL);
    assert_int_equal(corio_bufring_new(loop, 3, 64, &br), -EINVAL);     /* not a power of 2 */
    assert_int_equal(corio_bufring_new(loop, 65536, 64, &br), -EINVAL); /* over 32768 */
    assert_int_equal(corio_bufring_new(loop, 8, 0, &br), -EINVAL);
    assert_int_equal(corio_bufring_new(loop, 8, (2u << 20), &br), -EINVAL);
    assert_null(br);
    corio_op_t op = {0};
    assert_int_equal(corio_recv_bufring_cb(loop, &op, 0, NULL, 0, NULL), -EINVAL);
    assert_null(corio_op_buffer(&op));
    corio_loop_free(loop);
}

/* ---- callback mode ------------------------------------------------------------------ */

struct got {
    int calls, res, last_more;
    char data[64];
    void *buf;
};

static void note_recv(corio_op_t *op, int res)
{
    struct got *g = op->data;
    g->calls++;
    g->res = res;
    g->last_more = corio_op_more(op);
    g->buf = corio_op_buffer(op);
    if (g->buf != NULL && res > 0)
        memcpy(g->data, g->buf, (size_t)res < sizeof g->data ? (size_t)res : sizeof g->data);
}

static void test_recv_bufring_cb_fills_a_ring_buffer_the_caller_puts_back(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    corio_bufring_t *br = bufring_or_skip(loop, 4, 256);
    if (br == NULL) {
        corio_loop_free(loop);
        return;
    }
    assert_int_equal(corio_bufring_size(br), 256);
    int client, server;
    support_tcp_pair(&client, &server);
    send_all(client, "hello");
    struct got g = {0};
    corio_op_t op = {.data = &g};
    assert_int_equal(corio_recv_bufring_cb(loop, &op, server, br, 0, note_recv), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.res, 5);
    assert_non_null(g.buf);
    assert_memory_equal(g.data, "hello", 5);
    /* Put back once; a second put, a foreign pointer and an inner pointer are refused. */
    char foreign[16];
    assert_int_equal(corio_bufring_put(br, foreign), -EINVAL);
    assert_int_equal(corio_bufring_put(br, (char *)g.buf + 1), -EINVAL);
    assert_int_equal(corio_bufring_put(br, g.buf), 0);
    assert_int_equal(corio_bufring_put(br, g.buf), -EALREADY);
    assert_int_equal(corio_bufring_free(br), 0);
    close(client);
    close(server);
    corio_loop_free(loop);
}

static void test_a_dry_ring_gives_enobufs_and_recovers_once_a_buffer_is_back(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    corio_bufring_t *br = bufring_or_skip(loop, 1, 64);
    if (br == NULL) {
        corio_loop_free(loop);
        return;
    }
    int client, server;
    support_tcp_pair(&client, &server);
    struct got g = {0};
    corio_op_t op = {.data = &g};

    send_all(client, "one");
    assert_int_equal(corio_recv_bufring_cb(loop, &op, server, br, 0, note_recv), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(g.res, 3);
    void *held = g.buf; /* the only buffer, kept */

    send_all(client, "two");
    assert_int_equal(corio_recv_bufring_cb(loop, &op, server, br, 0, note_recv), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(g.res, -ENOBUFS);
    assert_null(g.buf);

    assert_int_equal(corio_bufring_put(br, held), 0);
    assert_int_equal(corio_recv_bufring_cb(loop, &op, server, br, 0, note_recv), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(g.res, 3); /* the data waited in the socket: nothing lost */
    assert_memory_equal(g.data, "two", 3);
    assert_int_equal(corio_bufring_put(br, g.buf), 0);
    close(client);
    close(server);
    corio_loop_free(loop); /* frees br too */
}

/* ---- multishot ---------------------------------------------------------------------- */

#define ARRIVALS 20

struct multi {
    corio_bufring_t *br;
    int client;
    int arrivals, finals, final_res;
    bool hold; /* keep the buffers instead of putting them back */
    void *held[ARRIVALS];
    bool bad_data;
};

/* Each arrival: check it, put its buffer back, and make the peer send the next message,
 * so that no two messages can share one recv. */
static void on_arrival(corio_op_t *op, int res)
{
    struct multi *m = op->data;
    void *buf = corio_op_buffer(op);
    if (!corio_op_more(op)) {
        m->finals++;
        m->final_res = res;
        if (buf != NULL)
            corio_bufring_put(m->br, buf);
        return;
    }
    char want[16];
    int n = snprintf(want, sizeof want, "msg%d", m->arrivals);
    if (res != n || buf == NULL || memcmp(buf, want, (size_t)n) != 0)
        m->bad_data = true;
    if (m->hold)
        m->held[m->arrivals] = buf;
    else
        corio_bufring_put(m->br, buf);
    m->arrivals++;
    if (m->arrivals < ARRIVALS) {
        n = snprintf(want, sizeof want, "msg%d", m->arrivals);
        send_all(m->client, want);
    } else if (!m->hold) {
        shutdown(m->client, SHUT_WR); /* the peer closes: the multishot ends with 0 */
    }
}

static void test_multishot_recv_takes_one_buffer_per_arrival_until_the_peer_closes(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    corio_bufring_t *br = bufring_or_skip(loop, 4, 64);
    if (br == NULL) {
        corio_loop_free(loop);
        return;
    }
    int server;
    struct multi m = {.br = br};
    support_tcp_pair(&m.client, &server);
    corio_op_t op = {.data = &m};
    int err = corio_recv_multishot_cb(loop, &op, server, br, 0, on_arrival);
    if (err == -EOPNOTSUPP) {
        print_message("multishot recv needs Linux 6.0: skipped\n");
    } else {
        assert_int_equal(err, 0);
        send_all(m.client, "msg0");
        assert_int_equal(corio_loop_run(loop), 0);
        assert_false(m.bad_data);
        assert_int_equal(m.arrivals, ARRIVALS); /* 20 arrivals through 4 buffers */
        assert_int_equal(m.finals, 1);
        assert_int_equal(m.final_res, 0);
    }
    close(m.client);
    close(server);
    corio_loop_free(loop);
}

static void test_multishot_recv_ends_with_enobufs_when_buffers_are_kept(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    corio_bufring_t *br = bufring_or_skip(loop, 2, 64);
    if (br == NULL) {
        corio_loop_free(loop);
        return;
    }
    int server;
    struct multi m = {.br = br, .hold = true};
    support_tcp_pair(&m.client, &server);
    corio_op_t op = {.data = &m};
    int err = corio_recv_multishot_cb(loop, &op, server, br, 0, on_arrival);
    if (err == -EOPNOTSUPP) {
        close(m.client);
        close(server);
        corio_loop_free(loop);
        return;
    }
    assert_int_equal(err, 0);
    send_all(m.client, "msg0");
    assert_int_equal(corio_loop_run(loop), 0);
    /* Two arrivals filled both buffers; the third found none and ended the multishot. */
    assert_int_equal(m.arrivals, 2);
    assert_int_equal(m.finals, 1);
    assert_int_equal(m.final_res, -ENOBUFS);
    assert_false(m.bad_data);
    /* Buffers back, started again: the message that found no buffer is still there. */
    m.hold = false;
    corio_bufring_put(br, m.held[0]);
    corio_bufring_put(br, m.held[1]);
    assert_int_equal(corio_recv_multishot_cb(loop, &op, server, br, 0, on_arrival), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_false(m.bad_data);
    assert_int_equal(m.arrivals, ARRIVALS);
    assert_int_equal(m.finals, 2);
    assert_int_equal(m.final_res, 0);
    close(m.client);
    close(server);
    corio_loop_free(loop);
}

struct cancel_case {
    corio_loop_t *loop;
    corio_bufring_t *br;
    corio_op_t op;
    int calls, res, more_at_end, free_while_busy;
};

static void cancelled_cb(corio_op_t *op, int res)
{
    struct cancel_case *c = op->data;
    c->calls++;
    c->res = res;
    c->more_at_end = corio_op_more(op);
}

static void cancel_and_try_free(void *arg)
{
    struct cancel_case *c = arg;
    c->free_while_busy = corio_bufring_free(c->br);
    assert_int_equal(corio_op_cancel(c->loop, &c->op), 0);
}

static void test_cancelled_multishot_ends_with_ecanceled_and_free_waits_for_it(void **state)
{
    (void)state;
    struct cancel_case c = {.loop = support_loop(0)};
    c.br = bufring_or_skip(c.loop, 4, 64);
    if (c.br == NULL) {
        corio_loop_free(c.loop);
        return;
    }
    int client, server;
    support_tcp_pair(&client, &server);
    c.op.data = &c;
    int err = corio_recv_multishot_cb(c.loop, &c.op, server, c.br, 0, cancelled_cb);
    if (err == -EOPNOTSUPP) /* the single-shot form is cancelled the same way */
        err = corio_recv_bufring_cb(c.loop, &c.op, server, c.br, 0, cancelled_cb);
    assert_int_equal(err, 0);
    assert_int_equal(corio_call_later(c.loop, 1000000, cancel_and_try_free, &c, NULL), 0);
    assert_int_equal(corio_loop_run(c.loop), 0);
    assert_int_equal(c.free_while_busy, -EBUSY);
    assert_int_equal(c.calls, 1); /* nothing arrived: the only callback is the last */
    assert_int_equal(c.res, -ECANCELED);
    assert_false(c.more_at_end);
    assert_int_equal(corio_bufring_free(c.br), 0);
    close(client);
    close(server);
    corio_loop_free(c.loop);
}

/* ---- await mode --------------------------------------------------------------------- */

struct await_case {
    corio_bufring_t *br;
    int fd, client;
};

static void *recv_in_task(void *arg)
{
    struct await_case *a = arg;
    void *buf = (void *)1;
    assert_int_equal(corio_recv_bufring(a->fd, a->br, 0, NULL), -EINVAL);
    assert_int_equal(corio_recv_bufring(-1, a->br, 0, &buf), -EBADF);
    assert_null(buf);
    for (int i = 0; i < 10; i++) { /* more rounds than buffers: each is put back */
        char want[16];
        int n = snprintf(want, sizeof want, "round%d", i);
        send_all(a->client, want);
        ssize_t got = corio_recv_bufring(a->fd, a->br, 0, &buf);
        assert_int_equal(got, n);
        assert_non_null(buf);
        assert_memory_equal(buf, want, (size_t)n);
        assert_int_equal(corio_bufring_put(a->br, buf), 0);
    }
    shutdown(a->client, SHUT_WR);
    assert_int_equal(corio_recv_bufring(a->fd, a->br, 0, &buf), 0);
    assert_null(buf); /* end of stream: no buffer to give back */
    return NULL;
}

static void test_recv_bufring_in_a_task_returns_data_and_end_of_stream(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    struct await_case a = {.br = bufring_or_skip(loop, 2, 64)};
    if (a.br == NULL) {
        corio_loop_free(loop);
        return;
    }
    support_tcp_pair(&a.client, &a.fd);
    assert_int_equal(corio_spawn(loop, recv_in_task, &a, NULL), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    void *buf = (void *)1;
    assert_int_equal(corio_recv_bufring(a.fd, a.br, 0, &buf), -EPERM); /* outside a task */
    close(a.client);
    close(a.fd);
    corio_loop_free(loop);
}

int main(void)
{
    support_require_uring();
    support_watchdog(60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bufring_new_rejects_bad_counts_and_sizes),
        cmocka_unit_test(test_recv_bufring_cb_fills_a_ring_buffer_the_caller_puts_back),
        cmocka_unit_test(test_a_dry_ring_gives_enobufs_and_recovers_once_a_buffer_is_back),
        cmocka_unit_test(test_multishot_recv_takes_one_buffer_per_arrival_until_the_peer_closes),
        cmocka_unit_test(test_multishot_recv_ends_with_enobufs_when_buffers_are_kept),
        cmocka_unit_test(test_cancelled_multishot_ends_with_ecanceled_and_free_waits_for_it),
        cmocka_unit_test(test_recv_bufring_in_a_task_returns_data_and_end_of_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
