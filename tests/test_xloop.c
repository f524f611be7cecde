/* Tests of messages between loops (corio_loop_post, engine/loop.c, and the MSG_RING
 * doorbell of engine/ring.c): bad arguments, a ping-pong between two loops on two threads,
 * per-sender order across every path a sender can take, handing a connection's fd to
 * another loop, and the contract on loops that are not running or are freed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <linux/io_uring.h>
#include <unistd.h>

#include "internal.h"
#include "support.h"

/* A task that keeps its loop alive (parked, so the loop sleeps in the kernel) until the
 * future is resolved. */
static void *await_future(void *arg)
{
    return (void *)(intptr_t)corio_future_await(arg, NULL);
}

/* Runs a loop on its own thread. */
static void *run_loop_thread(void *arg)
{
    return (void *)(intptr_t)corio_loop_run(arg);
}

static void never(corio_msg_t *msg)
{
    (void)msg;
    fail_msg("a dropped message ran");
}

static void never_call(void *arg)
{
    (void)arg;
    fail_msg("a dropped call ran");
}

/* ---- arguments ------------------------------------------------------------------- */

static int ran;

static void count_run(corio_msg_t *msg)
{
    (void)msg;
    ran++;
}

static void test_post_rejects_bad_arguments_and_a_message_already_posted(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    corio_msg_t msg = {0};
    assert_int_equal(corio_loop_post(NULL, &msg, count_run), -EINVAL);
    assert_int_equal(corio_loop_post(loop, NULL, count_run), -EINVAL);
    assert_int_equal(corio_loop_post(loop, &msg, NULL), -EINVAL);
    ran = 0;
    assert_int_equal(corio_loop_post(loop, &msg, count_run), 0);
    assert_int_equal(corio_loop_post(loop, &msg, count_run), -EBUSY);
    assert_int_equal(corio_loop_run(loop), 0); /* the message alone keeps it running */
    assert_int_equal(ran, 1);
    assert_int_equal(corio_loop_post(loop, &msg, count_run), 0); /* after fn: free again */
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(ran, 2);
    assert_int_equal(corio_call_soon_threadsafe(NULL, free, NULL), -EINVAL);
    assert_int_equal(corio_call_soon_threadsafe(loop, NULL, NULL), -EINVAL);
    corio_loop_free(loop);
}

/* ---- ping-pong between two loops -------------------------------------------------- */

#define PINGPONG 20000

struct side {
    corio_loop_t *loop;
    struct side *peer;
    corio_future_t done;
    uint64_t expect; /* the next sequence number this side should receive */
    uint64_t received, out_of_order;
};

struct ball {
    corio_msg_t msg;
    struct side *to;
    uint64_t seq;
};

static void on_ball(corio_msg_t *msg)
{
    struct ball *b = (struct ball *)msg;
    struct side *s = b->to;
    if (corio_current_loop() != s->loop || b->seq != s->expect)
        s->out_of_order++;
    s->expect = b->seq + 2;
    s->received++;
    if (b->seq + 1 < PINGPONG) {
        b->seq++;
        b->to = s->peer;
        if (corio_loop_post(s->peer->loop, &b->msg, on_ball) != 0)
            s->out_of_order++; /* counted, not asserted: this is not the test's thread */
    }
    if (s->received == PINGPONG / 2)
        corio_future_resolve(&s->done, NULL);
}

static void *serve_first(void *arg)
{
    struct ball *b = arg;
    assert_int_equal(corio_loop_post(b->to->loop, &b->msg, on_ball), 0);
    return (void *)(intptr_t)corio_future_await(&b->to->peer->done, NULL);
}

/* Two loops on two threads pass one message back and forth PINGPONG times; returns the
 * MSG_RING doorbells they sent. */
static uint64_t play_ping_pong(unsigned busy_poll_us)
{
    corio_loop_opts_t opts = {.busy_poll_us = busy_poll_us};
    struct side a = {.loop = support_loop_opts(&opts), .expect = 1};
    struct side b = {.loop = support_loop_opts(&opts), .expect = 0};
    a.peer = &b;
    b.peer = &a;
    corio_future_init(&a.done);
    corio_future_init(&b.done);
    struct ball ball = {.to = &b, .seq = 0};
    assert_int_equal(corio_spawn(a.loop, serve_first, &ball, NULL), 0);
    assert_int_equal(corio_spawn(b.loop, await_future, &b.done, NULL), 0);
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&tb, NULL, run_loop_thread, b.loop), 0);
    assert_int_equal(pthread_create(&ta, NULL, run_loop_thread, a.loop), 0);
    void *ra, *rb;
    pthread_join(ta, &ra);
    pthread_join(tb, &rb);
    assert_null(ra);
    assert_null(rb);
    assert_int_equal(a.received + b.received, PINGPONG);
    assert_int_equal(a.out_of_order + b.out_of_order, 0);
    uint64_t doorbells = a.loop->doorbells_sent + b.loop->doorbells_sent;
    corio_loop_free(a.loop);
    corio_loop_free(b.loop);
    return doorbells;
}

static void test_two_loops_on_two_threads_play_ping_pong_in_order(void **state)
{
    (void)state;
    uint64_t doorbells = play_ping_pong(0);
    /* Between two io_uring loops the wake-ups are MSG_RING doorbells (the first post may
     * find its target not yet enabled and take the eventfd); on epoll never. */
    if (support_on_uring())
        assert_true(doorbells > PINGPONG / 2);
    else
        assert_int_equal(doorbells, 0);
}

/* Busy polling: a loop spinning before its sleep takes the message without being woken.
 * With a 1 us spin the spin ends around nearly every post, racing it: a lost wake-up would
 * hang the game (the watchdog fails it). With 200 us the peer's reply, microseconds away,
 * finds the loop still spinning: most posts send no doorbell. */
static void test_busy_polling_loops_play_ping_pong_without_lost_wake_ups(void **state)
{
    (void)state;
    support_watchdog(60);
    (void)play_ping_pong(1);
    uint64_t doorbells = play_ping_pong(200);
    if (support_on_uring())
        assert_true(doorbells < PINGPONG / 4);
    alarm(0);
}

static void test_busy_poll_beyond_a_second_is_einval(void **state)
{
    (void)state;
    corio_loop_t *loop = NULL;
    assert_int_equal(corio_loop_new(&loop, &(corio_loop_opts_t){.busy_poll_us = 1000001}), -EINVAL);
    assert_null(loop);
    assert_int_equal(corio_loop_new(&loop, &(corio_loop_opts_t){.busy_poll_us = 1000000}), 0);
    corio_loop_free(loop);
}

/* ---- order ------------------------------------------------------------------------ */

#define SENDERS    4 /* threads 0..2 run no loop; thread 3 runs one */
#define PER_SENDER 3000

struct order {
    corio_loop_t *target;
    corio_future_t all_in;
    uint64_t next[SENDERS];
    uint64_t total, out_of_order;
};

struct note {
    corio_msg_t msg;
    struct order *o;
    int sender;
    uint64_t seq;
};

static struct note notes[SENDERS][PER_SENDER];

static void note_arrived(struct note *n)
{
    struct order *o = n->o;
    if (o->next[n->sender] != n->seq || corio_current_loop() != o->target)
        o->out_of_order++;
    o->next[n->sender] = n->seq + 1;
    if (++o->total == SENDERS * PER_SENDER)
        corio_future_resolve(&o->all_in, NULL);
}

static void on_note(corio_msg_t *msg)
{
    note_arrived((struct note *)msg);
}

static void on_note_call(void *arg)
{
    note_arrived(arg);
}

/* Posts notes [from, to) of one sender, every third through call_soon_threadsafe: both
 * calls share one order. */
static void post_notes(struct note *ns, int from, int to)
{
    for (int i = from; i < to; i++) {
        int err = i % 3 == 2 ? corio_call_soon_threadsafe(ns[i].o->target, on_note_call, &ns[i])
                             : corio_loop_post(ns[i].o->target, &ns[i].msg, on_note);
        assert_int_equal(err, 0);
    }
}

static void *plain_sender(void *arg)
{
    post_notes(arg, 0, PER_SENDER);
    return NULL;
}

/* The sender with a loop posts the first half from a task (doorbells on io_uring), and
 * the second half after its loop has returned, from the bare thread (the eventfd). */
static void *loop_sender_task(void *arg)
{
    post_notes(arg, 0, PER_SENDER / 2);
    return NULL;
}

static void *loop_sender(void *arg)
{
    struct note *ns = arg;
    corio_loop_t *loop;
    assert_int_equal(corio_loop_new(&loop, NULL), 0);
    assert_int_equal(corio_spawn(loop, loop_sender_task, ns, NULL), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    post_notes(ns, PER_SENDER / 2, PER_SENDER);
    corio_loop_free(loop);
    return NULL;
}

static void test_messages_from_one_thread_arrive_in_order_whichever_path_they_take(void **state)
{
    (void)state;
    struct order o = {.target = support_loop(0)};
    corio_future_init(&o.all_in);
    assert_int_equal(corio_spawn(o.target, await_future, &o.all_in, NULL), 0);
    pthread_t th[SENDERS];
    for (int s = 0; s < SENDERS; s++) {
        for (int i = 0; i < PER_SENDER; i++)
            notes[s][i] = (struct note){.o = &o, .sender = s, .seq = (uint64_t)i};
        assert_int_equal(
            pthread_create(&th[s], NULL, s == SENDERS - 1 ? loop_sender : plain_sender, notes[s]),
            0);
    }
    assert_int_equal(corio_loop_run(o.target), 0);
    for (int s = 0; s < SENDERS; s++) {
        pthread_join(th[s], NULL);
        assert_int_equal(o.next[s], PER_SENDER);
    }
    assert_int_equal(o.total, SENDERS * PER_SENDER);
    assert_int_equal(o.out_of_order, 0);
    corio_loop_free(o.target);
}

/* A loop posting to itself: the message runs later, from the ready queue, after what was
 * already scheduled. */
static int self_seen[3], self_n;

static void self_second(corio_msg_t *msg)
{
    (void)msg;
    self_seen[self_n++] = 2;
}

static void self_first(void *arg)
{
    (void)arg;
    self_seen[self_n++] = 1;
}

static void *self_poster(void *arg)
{
    corio_msg_t *msg = arg;
    assert_int_equal(corio_call_soon(corio_current_loop(), self_first, NULL), 0);
    assert_int_equal(corio_loop_post(corio_current_loop(), msg, self_second), 0);
    assert_int_equal(self_n, 0); /* not run inside the post */
    corio_yield();
    corio_yield();
    return NULL;
}

static void test_a_loop_posting_to_itself_runs_the_message_later_in_order(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    corio_msg_t msg = {0};
    self_n = 0;
    assert_int_equal(corio_spawn(loop, self_poster, &msg, NULL), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(self_n, 2);
    assert_int_equal(self_seen[0], 1);
    assert_int_equal(self_seen[1], 2);
    corio_loop_free(loop);
}

/* ---- fd hand-off ------------------------------------------------------------------ */

struct handoff {
    corio_msg_t msg;
    int fd;
    corio_loop_t *served_on;
};

struct worker {
    corio_loop_t *loop;
    corio_future_t done;
};

static struct worker worker;

/* On the worker loop: echo one message on the handed-over connection, then close it. */
static void *serve_conn(void *arg)
{
    struct handoff *h = arg;
    h->served_on = corio_current_loop();
    char buf[64];
    ssize_t n = corio_recv(h->fd, buf, sizeof buf, 0);
    if (n > 0)
        (void)corio_send(h->fd, buf, (size_t)n, 0);
    corio_close(h->fd);
    corio_future_resolve(&worker.done, NULL);
    return NULL;
}

static void adopt(corio_msg_t *msg)
{
    struct handoff *h = (struct handoff *)msg;
    assert_int_equal(corio_spawn(corio_current_loop(), serve_conn, h, NULL), 0);
}

/* On the acceptor loop: accept one connection and hand it to the worker. */
static void *acceptor(void *arg)
{
    int lfd = *(int *)arg;
    static struct handoff h;
    h = (struct handoff){.fd = corio_accept(lfd, NULL, NULL, SOCK_CLOEXEC)};
    assert_true(h.fd >= 0);
    assert_int_equal(corio_loop_post(worker.loop, &h.msg, adopt), 0);
    return NULL;
}

static void *client(void *arg)
{
    uint16_t port = *(uint16_t *)arg;
    int fd = support_connect(port);
    char buf[16] = {0};
    ssize_t n = write(fd, "handed", 6) == 6 ? read(fd, buf, sizeof buf) : -1;
    close(fd);
    return (void *)(intptr_t)(n == 6 && memcmp(buf, "handed", 6) == 0);
}

static void test_a_connection_accepted_on_one_loop_is_served_on_another(void **state)
{
    (void)state;
    uint16_t port;
    int lfd = support_listener(&port);
    corio_loop_t *acc = support_loop(0);
    worker.loop = support_loop(0);
    corio_future_init(&worker.done);
    assert_int_equal(corio_spawn(worker.loop, await_future, &worker.done, NULL), 0);
    assert_int_equal(corio_spawn(acc, acceptor, &lfd, NULL), 0);
    pthread_t tw, tc;
    assert_int_equal(pthread_create(&tw, NULL, run_loop_thread, worker.loop), 0);
    assert_int_equal(pthread_create(&tc, NULL, client, &port), 0);
    assert_int_equal(corio_loop_run(acc), 0);
    void *echoed, *werr;
    pthread_join(tc, &echoed);
    pthread_join(tw, &werr);
    assert_true((intptr_t)echoed);
    assert_null(werr);
    corio_loop_free(acc);
    corio_loop_free(worker.loop);
    close(lfd);
}

/* ---- loops that are not running, and teardown ------------------------------------- */

static void *post_from_task(void *arg)
{
    corio_msg_t *msg = arg;
    corio_loop_t *target = msg->data;
    assert_int_equal(corio_loop_post(target, msg, count_run), 0);
    return NULL;
}

/* The target has never run (its ring is not enabled yet, so a doorbell cannot reach it):
 * the sender's loop falls back to the eventfd, and the message runs at the first run. */
static void test_a_message_to_a_loop_not_yet_run_runs_when_it_runs(void **state)
{
    (void)state;
    corio_loop_t *sender = support_loop(0), *target = support_loop(0);
    corio_msg_t msg = {.data = target};
    ran = 0;
    assert_int_equal(corio_spawn(sender, post_from_task, &msg, NULL), 0);
    assert_int_equal(corio_loop_run(sender), 0);
    corio_loop_stats_t st;
    corio_loop_stats(target, &st);
    if (st.setup_flags & IORING_SETUP_R_DISABLED)
        assert_int_equal(sender->doorbells_sent, 0);
    assert_int_equal(ran, 0);
    assert_int_equal(corio_loop_run(target), 0);
    assert_int_equal(ran, 1);
    corio_loop_free(sender);
    corio_loop_free(target);
}

static void stop_loop(void *arg)
{
    corio_loop_stop(arg);
}

static void resolve_future(corio_msg_t *msg)
{
    ran++;
    corio_future_resolve(msg->data, NULL);
}

/* A stopped loop keeps what is posted to it until it runs again. */
static void test_a_message_to_a_stopped_loop_runs_when_it_runs_again(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    corio_future_t released;
    corio_future_init(&released);
    corio_task_t *t;
    assert_int_equal(corio_spawn(loop, await_future, &released, &t), 0);
    assert_int_equal(corio_call_soon(loop, stop_loop, loop), 0);
    assert_int_equal(corio_loop_run(loop), 0); /* stopped, the task still waiting */
    corio_msg_t msg = {.data = &released};
    ran = 0;
    assert_int_equal(corio_loop_post(loop, &msg, resolve_future), 0);
    assert_int_equal(ran, 0);
    assert_int_equal(corio_loop_run(loop), 0); /* until the message has let the task end */
    assert_int_equal(ran, 1);
    corio_loop_free(loop);
}

/* corio_loop_free drops pending messages without running them or touching their memory
 * after it returns (a heap message freed by the caller afterwards: ASan would see a
 * double free or a use after free), and frees pending call_soon_threadsafe nodes
 * (LeakSanitizer would see a leak). */
static void test_free_drops_pending_messages_and_frees_pending_calls(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    corio_msg_t *msg = calloc(1, sizeof *msg);
    corio_msg_t taken = {0};
    assert_non_null(msg);
    assert_int_equal(corio_loop_post(loop, msg, never), 0);
    assert_int_equal(corio_call_soon_threadsafe(loop, never_call, NULL), 0);
    corio_loop_take_posted(loop);                              /* one in the ready queue ... */
    assert_int_equal(corio_loop_post(loop, &taken, never), 0); /* ... one still posted */
    corio_loop_free(loop);
    free(msg);
}

int main(void)
{
    support_watchdog(60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_post_rejects_bad_arguments_and_a_message_already_posted),
        cmocka_unit_test(test_two_loops_on_two_threads_play_ping_pong_in_order),
        cmocka_unit_test(test_busy_polling_loops_play_ping_pong_without_lost_wake_ups),
        cmocka_unit_test(test_busy_poll_beyond_a_second_is_einval),
        cmocka_unit_test(test_messages_from_one_thread_arrive_in_order_whichever_path_they_take),
        cmocka_unit_test(test_a_loop_posting_to_itself_runs_the_message_later_in_order),
        cmocka_unit_test(test_a_connection_accepted_on_one_loop_is_served_on_another),
        cmocka_unit_test(test_a_message_to_a_loop_not_yet_run_runs_when_it_runs),
        cmocka_unit_test(test_a_message_to_a_stopped_loop_runs_when_it_runs_again),
        cmocka_unit_test(test_free_drops_pending_messages_and_frees_pending_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
