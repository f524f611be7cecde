/* Tests of engine/sync.c: channels (ordering, back-pressure, hand-off, close), events,
 * semaphores, mutexes and wait groups; cancellation and deadlines on every blocking call,
 * including a wake-up and a cancel that meet; try-variants, misuse and calls outside a
 * task. No test sleeps to synchronise: tasks are ordered by yields, joins and the
 * primitives themselves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <corio/sync.h>

#include "internal.h"
#include "support.h"

#define MS 1000000ull

static bool is_parked(corio_task_t *t)
{
    return ((struct corio_task *)t)->state == CORIO_TASK_PARKED;
}

/* Inside a task: lets every ready task run until it parks or finishes. Spawned tasks and
 * tasks woken by the caller are all queued ahead of the caller, so one yield is enough;
 * the second covers tasks those woke in turn. */
static void settle(void)
{
    corio_yield();
    corio_yield();
}

/* ---- channel: arguments and the non-blocking forms --------------------------------- */

static void test_chan_init_and_calls_reject_bad_arguments(void **state)
{
    (void)state;
    corio_chan_t ch;
    int slots[4], v = 1;
    assert_int_equal(corio_chan_init(NULL, sizeof(int), 4, slots), -EINVAL);
    assert_int_equal(corio_chan_init(&ch, 0, 4, slots), -EINVAL);
    assert_int_equal(corio_chan_init(&ch, sizeof(int), 0, slots), -EINVAL);
    assert_int_equal(corio_chan_init(&ch, sizeof(int), 4, NULL), -EFAULT);
    assert_int_equal(corio_chan_init(&ch, SIZE_MAX / 2, 3, slots), -EOVERFLOW);

    /* A zeroed channel was never initialised: every call refuses it. */
    corio_chan_t zero = {0};
    assert_int_equal(corio_chan_try_send(&zero, &v), -EINVAL);
    assert_int_equal(corio_chan_try_recv(&zero, &v), -EINVAL);
    assert_int_equal(corio_chan_send(&zero, &v), -EINVAL);
    assert_int_equal(corio_chan_recv(&zero, &v), -EINVAL);
    assert_int_equal(corio_chan_close(&zero), -EINVAL);
    assert_int_equal(corio_chan_try_send(NULL, &v), -EINVAL);
    assert_int_equal(corio_chan_close(NULL), -EINVAL);
    assert_int_equal(corio_chan_len(NULL), 0);
    assert_int_equal(corio_chan_cap(NULL), 0);
    assert_false(corio_chan_closed(NULL));

    assert_int_equal(corio_chan_init(&ch, sizeof(int), 4, slots), 0);
    assert_int_equal(corio_chan_try_send(&ch, NULL), -EFAULT);
    assert_int_equal(corio_chan_try_recv(&ch, NULL), -EFAULT);
    assert_int_equal(corio_chan_send(&ch, NULL), -EFAULT); /* argument errors come first */
    assert_int_equal(corio_chan_recv(&ch, NULL), -EFAULT);
    assert_int_equal(corio_chan_len(&ch), 0);
    assert_int_equal(corio_chan_cap(&ch), 4);
}

/* A 12-byte item: not pointer-sized, so the general copy path runs. */
struct triple {
    uint32_t a, b, c;
};

static void test_chan_try_variants_keep_fifo_order_across_the_ring_wrap(void **state)
{
    (void)state;
    struct triple slots[3], t;
    corio_chan_t ch;
    assert_int_equal(corio_chan_init(&ch, sizeof t, 3, slots), 0);
    assert_int_equal(corio_chan_try_recv(&ch, &t), -EAGAIN);
    uint32_t next_in = 0, next_out = 0;
    /* Fill, then alternate: head and tail wrap around the 3 slots many times. */
    for (int round = 0; round < 10; round++) {
        while (corio_chan_len(&ch) < 3) {
            t = (struct triple){next_in, ~next_in, next_in * 3};
            assert_int_equal(corio_chan_try_send(&ch, &t), 0);
            next_in++;
        }
        assert_int_equal(corio_chan_try_send(&ch, &t), -EAGAIN); /* full */
        for (int k = 0; k <= round % 3; k++) {
            assert_int_equal(corio_chan_try_recv(&ch, &t), 0);
            assert_int_equal(t.a, next_out);
            assert_int_equal(t.b, ~next_out);
            assert_int_equal(t.c, next_out * 3);
            next_out++;
        }
    }
    /* Close: sends fail, what is buffered still drains, then -EPIPE. */
    size_t left = corio_chan_len(&ch);
    assert_true(left > 0);
    assert_int_equal(corio_chan_close(&ch), 0);
    assert_true(corio_chan_closed(&ch));
    assert_int_equal(corio_chan_close(&ch), -EALREADY);
    assert_int_equal(corio_chan_try_send(&ch, &t), -EPIPE);
    for (size_t i = 0; i < left; i++) {
        assert_int_equal(corio_chan_try_recv(&ch, &t), 0);
        assert_int_equal(t.a, next_out++);
    }
    assert_int_equal(next_out, next_in);
    assert_int_equal(corio_chan_try_recv(&ch, &t), -EPIPE);
}

/* ---- channel: many producers and consumers ----------------------------------------- */

#define NPROD    8
#define NCONS    8
#define PER_PROD 12500 /* 100,000 items in all */
#define MPMC_CAP 16

static struct mpmc {
    corio_chan_t ch;
    uint64_t slots[MPMC_CAP];
    corio_waitgroup_t producers;
    unsigned char seen[NPROD][PER_PROD];
    unsigned long received;
    unsigned long turns;        /* bumped by every task at every step */
    unsigned long sends_waited; /* sends during which other tasks ran: they parked */
    unsigned long recvs_waited;
    size_t max_len;
    bool order_ok, range_ok;
} mp;

static void *producer(void *arg)
{
    uint64_t p = (uintptr_t)arg;
    for (uint64_t seq = 0; seq < PER_PROD; seq++) {
        uint64_t item = p << 32 | seq;
        unsigned long before = ++mp.turns;
        assert_int_equal(corio_chan_send(&mp.ch, &item), 0);
        mp.sends_waited += mp.turns != before;
        if (corio_chan_len(&mp.ch) > mp.max_len)
            mp.max_len = corio_chan_len(&mp.ch);
    }
    assert_int_equal(corio_waitgroup_done(&mp.producers), 0);
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    int64_t last[NPROD];
    for (int p = 0; p < NPROD; p++)
        last[p] = -1;
    for (;;) {
        uint64_t item;
        unsigned long before = ++mp.turns;
        int res = corio_chan_recv(&mp.ch, &item);
        mp.recvs_waited += mp.turns != before;
        if (res == -EPIPE)
            break;
        assert_int_equal(res, 0);
        uint64_t p = item >> 32, seq = item & 0xffffffffu;
        if (p >= NPROD || seq >= PER_PROD) {
            mp.range_ok = false;
            continue;
        }
        /* One FIFO channel: each consumer sees a producer's items in the order sent. */
        if ((int64_t)seq <= last[p])
            mp.order_ok = false;
        last[p] = (int64_t)seq;
        mp.seen[p][seq]++;
        mp.received++;
        if (mp.received % 7 == 0)
            corio_yield(); /* consumers fall behind now and then: producers must wait */
    }
    return NULL;
}

static void *mpmc_main(void *arg)
{
    (void)arg;
    corio_task_t *cons[NCONS];
    assert_int_equal(corio_chan_init(&mp.ch, sizeof(uint64_t), MPMC_CAP, mp.slots), 0);
    assert_int_equal(corio_waitgroup_init(&mp.producers), 0);
    assert_int_equal(corio_waitgroup_add(&mp.producers, NPROD), 0);
    /* Interleave the spawns so that both sides start with waiters on the other. */
    for (int i = 0; i < NCONS; i++) {
        assert_int_equal(corio_spawn(NULL, consumer, NULL, &cons[i]), 0);
        assert_int_equal(corio_spawn(NULL, producer, (void *)(uintptr_t)i, NULL), 0);
    }
    assert_int_equal(corio_waitgroup_wait(&mp.producers), 0);
    assert_int_equal(corio_chan_close(&mp.ch), 0); /* consumers drain, then see -EPIPE */
    assert_int_equal(corio_gather(cons, NCONS, NULL), 0);
    return NULL;
}

static void test_chan_8x8_tasks_100k_items_each_received_once_in_producer_order(void **state)
{
    (void)state;
    memset(&mp, 0, sizeof mp);
    mp.order_ok = mp.range_ok = true;
    support_run(mpmc_main, NULL);
    assert_true(mp.range_ok);
    assert_true(mp.order_ok);
    assert_int_equal(mp.received, NPROD * PER_PROD);
    for (int p = 0; p < NPROD; p++)
        for (int s = 0; s < PER_PROD; s++)
            if (mp.seen[p][s] != 1)
                fail_msg("item %d/%d received %d times", p, s, mp.seen[p][s]);
    /* Back-pressure: the buffer filled up and never overflowed, producers had to wait,
     * and so did consumers. */
    assert_int_equal(mp.max_len, MPMC_CAP);
    assert_true(mp.sends_waited > 0);
    assert_true(mp.recvs_waited > 0);
    assert_int_equal(corio_chan_len(&mp.ch), 0);
}

/* ---- channel: hand-off, FIFO among waiters, close ---------------------------------- */

struct chan_waiter {
    corio_chan_t *ch;
    uint64_t item; /* sent, or received */
    int res;
    bool done;
};

static void *chan_receiver(void *arg)
{
    struct chan_waiter *w = arg;
    w->res = corio_chan_recv(w->ch, &w->item);
    w->done = true;
    return NULL;
}

static void *chan_sender(void *arg)
{
    struct chan_waiter *w = arg;
    w->res = corio_chan_send(w->ch, &w->item);
    w->done = true;
    return NULL;
}

static void *handoff_main(void *arg)
{
    (void)arg;
    corio_chan_t ch;
    uint64_t slots[2], v;
    assert_int_equal(corio_chan_init(&ch, sizeof v, 2, slots), 0);
    struct chan_waiter r[3];
    corio_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        r[i] = (struct chan_waiter){.ch = &ch};
        assert_int_equal(corio_spawn(NULL, chan_receiver, &r[i], &t[i]), 0);
    }
    settle();
    for (int i = 0; i < 3; i++)
        assert_true(is_parked(t[i]));
    /* Each send goes straight to the longest-waiting receiver, not into the buffer. */
    for (uint64_t i = 0; i < 3; i++) {
        v = 100 + i;
        assert_int_equal(corio_chan_send(&ch, &v), 0);
        assert_int_equal(corio_chan_len(&ch), 0);
    }
    assert_int_equal(corio_gather(t, 3, NULL), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i].res, 0);
        assert_int_equal(r[i].item, 100 + i);
    }
    return NULL;
}

static void test_chan_send_hands_items_to_waiting_receivers_in_arrival_order(void **state)
{
    (void)state;
    support_run(handoff_main, NULL);
}

static void *senders_fifo_main(void *arg)
{
    (void)arg;
    corio_chan_t ch;
    uint64_t slots[2], v;
    assert_int_equal(corio_chan_init(&ch, sizeof v, 2, slots), 0);
    for (v = 1; v <= 2; v++)
        assert_int_equal(corio_chan_send(&ch, &v), 0); /* room: no wait */
    struct chan_waiter s[3];
    corio_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        s[i] = (struct chan_waiter){.ch = &ch, .item = 10 + (uint64_t)i};
        assert_int_equal(corio_spawn(NULL, chan_sender, &s[i], &t[i]), 0);
    }
    settle();
    for (int i = 0; i < 3; i++)
        assert_false(s[i].done); /* full: all three wait */
    assert_int_equal(corio_chan_try_send(&ch, &v), -EAGAIN);
    /* Each receive frees a slot that the longest-waiting sender fills, behind what was
     * buffered: the order is the order of the sends. */
    static const uint64_t want[] = {1, 2, 10, 11, 12};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(corio_chan_recv(&ch, &v), 0);
        assert_int_equal(v, want[i]);
        if (i < 3) /* the sender whose item moved in is done, the others still wait */
            assert_int_equal(corio_chan_len(&ch), 2);
    }
    assert_int_equal(corio_gather(t, 3, NULL), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(s[i].res, 0);
    return NULL;
}

static void test_chan_waiting_senders_are_served_in_arrival_order(void **state)
{
    (void)state;
    support_run(senders_fifo_main, NULL);
}

static void *close_receivers_main(void *arg)
{
    (void)arg;
    corio_chan_t ch;
    uint64_t slots[4];
    assert_int_equal(corio_chan_init(&ch, sizeof(uint64_t), 4, slots), 0);
    struct chan_waiter r[5];
    corio_task_t *t[5];
    for (int i = 0; i < 5; i++) {
        r[i] = (struct chan_waiter){.ch = &ch, .item = 0xabc};
        assert_int_equal(corio_spawn(NULL, chan_receiver, &r[i], &t[i]), 0);
    }
    settle();
    assert_int_equal(corio_chan_close(&ch), 0);
    assert_int_equal(corio_gather(t, 5, NULL), 0);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(r[i].res, -EPIPE);
        assert_int_equal(r[i].item, 0xabc); /* nothing written to the destination */
    }
    uint64_t v;
    assert_int_equal(corio_chan_recv(&ch, &v), -EPIPE); /* and later receives too */
    return NULL;
}

static void test_chan_close_wakes_every_waiting_receiver_with_epipe(void **state)
{
    (void)state;
    support_run(close_receivers_main, NULL);
}

static void *close_senders_main(void *arg)
{
    (void)arg;
    corio_chan_t ch;
    uint64_t slots[2], v;
    assert_int_equal(corio_chan_init(&ch, sizeof v, 2, slots), 0);
    for (v = 1; v <= 2; v++)
        assert_int_equal(corio_chan_send(&ch, &v), 0);
    struct chan_waiter s[4];
    corio_task_t *t[4];
    for (int i = 0; i < 4; i++) {
        s[i] = (struct chan_waiter){.ch = &ch, .item = 50 + (uint64_t)i};
        assert_int_equal(corio_spawn(NULL, chan_sender, &s[i], &t[i]), 0);
    }
    settle();
    assert_int_equal(corio_chan_close(&ch), 0);
    assert_int_equal(corio_gather(t, 4, NULL), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(s[i].res, -EPIPE); /* not sent */
    /* Receivers drain exactly what was buffered before the close, then see -EPIPE. */
    assert_int_equal(corio_chan_recv(&ch, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(corio_chan_recv(&ch, &v), 0);
    assert_int_equal(v, 2);
    assert_int_equal(corio_chan_recv(&ch, &v), -EPIPE);
    assert_int_equal(corio_chan_send(&ch, &v), -EPIPE);
    return NULL;
}

static void test_chan_close_wakes_every_waiting_sender_and_receivers_drain_then_epipe(void **state)
{
    (void)state;
    support_run(close_senders_main, NULL);
}

/* Callback-mode code feeds and closes a channel that a task reads. */
static corio_chan_t cb_chan;
static uint64_t cb_slots[1];
static uint64_t cb_next;

static void feed_cb(void *arg)
{
    corio_loop_t *loop = arg;
    if (cb_next == 5) {
        assert_int_equal(corio_chan_close(&cb_chan), 0);
        return;
    }
    int res = corio_chan_try_send(&cb_chan, &cb_next);
    if (res == 0)
        cb_next++;
    else
        assert_int_equal(res, -EAGAIN);
    assert_int_equal(corio_call_soon(loop, feed_cb, loop), 0);
}

static void *cb_reader(void *arg)
{
    uint64_t *sum = arg, v;
    int res;
    while ((res = corio_chan_recv(&cb_chan, &v)) == 0)
        *sum = *sum * 10 + v;
    assert_int_equal(res, -EPIPE);
    return NULL;
}

static void test_chan_callback_code_can_try_send_and_close_for_a_waiting_task(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    assert_int_equal(corio_chan_init(&cb_chan, sizeof(uint64_t), 1, cb_slots), 0);
    cb_next = 0;
    uint64_t digits = 0;
    assert_int_equal(corio_spawn(loop, cb_reader, &digits, NULL), 0);
    assert_int_equal(corio_call_soon(loop, feed_cb, loop), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(digits, 1234); /* 0, 1, 2, 3, 4 in order */
    corio_loop_free(loop);
}

/* ---- every blocking call: cancellation, deadlines, and hand-offs that meet them ----
 * Each case describes one blocking call: how to make it block, the call, how to
 * complete exactly one waiter, and how to check the unit it got (an item, a permit, the
 * lock) is neither lost nor duplicated. */

struct blocker {
    const char *name;
    void (*setup)(void);             /* in the main task: make the call block */
    int (*call)(uint64_t *got);      /* in a waiter */
    void (*provide)(void);           /* in the main task: complete the oldest waiter */
    void (*after_success)(uint64_t); /* in a waiter that succeeded: e.g. give it back */
    void (*check_returned)(void);    /* in main, once after_success ran: unit is back */
    void (*check_no_waiters)(void);  /* in main: nobody is left in the queue */
};

static corio_chan_t b_chan;
static uint64_t b_slots[1];
static corio_event_t b_event;
static corio_sem_t b_sem;
static corio_mutex_t b_mutex;
static corio_waitgroup_t b_wg;

#define PROVIDED 0x5eedull
#define FILLER   0xf111ull
#define SENT     0x5e4dull

/* recv */
static void recv_setup(void)
{
    assert_int_equal(corio_chan_init(&b_chan, sizeof(uint64_t), 1, b_slots), 0);
}
static int recv_call(uint64_t *got)
{
    return corio_chan_recv(&b_chan, got);
}
static void recv_provide(void)
{
    uint64_t v = PROVIDED;
    assert_int_equal(corio_chan_try_send(&b_chan, &v), 0);
}
static void recv_after(uint64_t got)
{
    assert_int_equal(got, PROVIDED); /* the item went to this waiter */
}
static void recv_returned(void)
{
    assert_int_equal(corio_chan_len(&b_chan), 0); /* ... and only to it */
}
static void recv_no_waiters(void)
{
    /* With no receiver queued, an item stays in the buffer. */
    uint64_t v = PROVIDED;
    assert_int_equal(corio_chan_try_send(&b_chan, &v), 0);
    assert_int_equal(corio_chan_len(&b_chan), 1);
    assert_int_equal(corio_chan_try_recv(&b_chan, &v), 0);
}

/* send */
static void send_setup(void)
{
    uint64_t v = FILLER;
    assert_int_equal(corio_chan_init(&b_chan, sizeof(uint64_t), 1, b_slots), 0);
    assert_int_equal(corio_chan_try_send(&b_chan, &v), 0);
}
static int send_call(uint64_t *got)
{
    *got = SENT;
    return corio_chan_send(&b_chan, got);
}
static void send_provide(void)
{
    uint64_t v;
    assert_int_equal(corio_chan_try_recv(&b_chan, &v), 0);
    assert_int_equal(v, FILLER);
}
static void send_after(uint64_t got)
{
    (void)got;
}
static void send_returned(void)
{
    uint64_t v;
    assert_int_equal(corio_chan_try_recv(&b_chan, &v), 0); /* the sent item is in ... */
    assert_int_equal(v, SENT);
    assert_int_equal(corio_chan_try_recv(&b_chan, &v), -EAGAIN); /* ... once */
    v = FILLER;
    assert_int_equal(corio_chan_try_send(&b_chan, &v), 0); /* full again, as set up */
}
static void send_no_waiters(void)
{
    uint64_t v;
    assert_int_equal(corio_chan_try_recv(&b_chan, &v), 0);
    assert_int_equal(v, FILLER);                                 /* only the filler: */
    assert_int_equal(corio_chan_try_recv(&b_chan, &v), -EAGAIN); /* no waiter moved in */
    v = FILLER;
    assert_int_equal(corio_chan_try_send(&b_chan, &v), 0);
}

/* event */
static void event_setup(void)
{
    assert_int_equal(corio_event_init(&b_event), 0);
}
static int event_call(uint64_t *got)
{
    (void)got;
    return corio_event_wait(&b_event);
}
static void event_provide(void)
{
    assert_int_equal(corio_event_set(&b_event), 0);
    assert_int_equal(corio_event_clear(&b_event), 0); /* the waiter was woken anyway */
}
static void event_after(uint64_t got)
{
    (void)got;
}
static void event_returned(void)
{
    assert_false(corio_event_is_set(&b_event));
}
static void event_no_waiters(void)
{
    assert_false(corio_event_is_set(&b_event));
}

/* semaphore */
static void sem_setup(void)
{
    assert_int_equal(corio_sem_init(&b_sem, 0), 0);
}
static int sem_call(uint64_t *got)
{
    (void)got;
    return corio_sem_acquire(&b_sem);
}
static void sem_provide(void)
{
    assert_int_equal(corio_sem_release(&b_sem), 0);
    assert_int_equal(corio_sem_value(&b_sem), 0); /* the permit went to the waiter */
}
static void sem_after(uint64_t got)
{
    (void)got;
    assert_int_equal(corio_sem_release(&b_sem), 0);
}
static void sem_returned(void)
{
    assert_int_equal(corio_sem_value(&b_sem), 1); /* exactly the one permit, back */
    assert_int_equal(corio_sem_try_acquire(&b_sem), 0);
}
static void sem_no_waiters(void)
{
    /* With no waiter queued, a release is a free permit. */
    assert_int_equal(corio_sem_release(&b_sem), 0);
    assert_int_equal(corio_sem_value(&b_sem), 1);
    assert_int_equal(corio_sem_try_acquire(&b_sem), 0);
}

/* mutex */
static void mutex_setup(void)
{
    assert_int_equal(corio_mutex_init(&b_mutex), 0);
    assert_int_equal(corio_mutex_lock(&b_mutex), 0);
}
static int mutex_call(uint64_t *got)
{
    (void)got;
    return corio_mutex_lock(&b_mutex);
}
static void mutex_provide(void)
{
    assert_int_equal(corio_mutex_unlock(&b_mutex), 0);
    assert_true(corio_mutex_locked(&b_mutex)); /* handed over, not released */
    assert_int_equal(corio_mutex_unlock(&b_mutex), -EPERM);
}
static void mutex_after(uint64_t got)
{
    (void)got;
    assert_int_equal(corio_mutex_unlock(&b_mutex), 0); /* the waiter owned it */
}
static void mutex_returned(void)
{
    assert_false(corio_mutex_locked(&b_mutex));
    assert_int_equal(corio_mutex_lock(&b_mutex), 0);
}
static void mutex_no_waiters(void)
{
    assert_int_equal(corio_mutex_unlock(&b_mutex), 0);
    assert_false(corio_mutex_locked(&b_mutex)); /* nobody queued to hand it to */
    assert_int_equal(corio_mutex_lock(&b_mutex), 0);
}

/* wait group */
static void wg_setup(void)
{
    assert_int_equal(corio_waitgroup_init(&b_wg), 0);
    assert_int_equal(corio_waitgroup_add(&b_wg, 1), 0);
}
static int wg_call(uint64_t *got)
{
    (void)got;
    return corio_waitgroup_wait(&b_wg);
}
static void wg_provide(void)
{
    assert_int_equal(corio_waitgroup_done(&b_wg), 0);
    assert_int_equal(corio_waitgroup_add(&b_wg, 1), 0); /* the waiter was woken anyway */
}
static void wg_after(uint64_t got)
{
    (void)got;
}
static void wg_returned(void)
{
    assert_int_equal(corio_waitgroup_count(&b_wg), 1);
}
static void wg_no_waiters(void)
{
    assert_int_equal(corio_waitgroup_count(&b_wg), 1);
}

static const struct blocker blockers[] = {
    {"chan_recv", recv_setup, recv_call, recv_provide, recv_after, recv_returned, recv_no_waiters},
    {"chan_send", send_setup, send_call, send_provide, send_after, send_returned, send_no_waiters},
    {"event_wait", event_setup, event_call, event_provide, event_after, event_returned,
     event_no_waiters},
    {"sem_acquire", sem_setup, sem_call, sem_provide, sem_after, sem_returned, sem_no_waiters},
    {"mutex_lock", mutex_setup, mutex_call, mutex_provide, mutex_after, mutex_returned,
     mutex_no_waiters},
    {"waitgroup_wait", wg_setup, wg_call, wg_provide, wg_after, wg_returned, wg_no_waiters},
};
#define NBLOCKERS (sizeof blockers / sizeof blockers[0])

struct bwaiter {
    const struct blocker *b;
    uint64_t timeout_ns; /* 0: no deadline */
    bool probe_next;     /* after a success, make the same call again into next_res */
    int res;
    int next_res;
    bool done;
};

static void *blocked_task(void *arg)
{
    struct bwaiter *w = arg;
    uint64_t got = 0;
    if (w->timeout_ns != 0)
        assert_int_equal(corio_timeout_begin(w->timeout_ns), 0);
    w->res = w->b->call(&got);
    if (w->res == 0) {
        w->b->after_success(got);
        if (w->probe_next)
            w->next_res = w->b->call(&got);
    }
    if (w->timeout_ns != 0)
        corio_timeout_end();
    w->done = true;
    return NULL;
}

/* Waiters A (cancelled), B (times out) and C queue up in that order; once A and B have
 * given up, completing one waiter must reach C: A and B left the queue (had they not,
 * waking one of them again would abort the test with "not waiting"). B's 200 ms leaves
 * room for a slow start (valgrind, a loaded machine) before all three are checked parked;
 * 20 ms once failed that check under memcheck in a parallel ctest run. */
static void *abort_main(void *arg)
{
    const struct blocker *b = arg;
    b->setup();
    struct bwaiter a = {.b = b}, bw = {.b = b, .timeout_ns = 200 * MS}, c = {.b = b};
    corio_task_t *ta, *tb, *tc;
    assert_int_equal(corio_spawn(NULL, blocked_task, &a, &ta), 0);
    assert_int_equal(corio_spawn(NULL, blocked_task, &bw, &tb), 0);
    assert_int_equal(corio_spawn(NULL, blocked_task, &c, &tc), 0);
    settle();
    assert_true(is_parked(ta) && is_parked(tb) && is_parked(tc));

    assert_int_equal(corio_cancel(ta), 0);
    assert_int_equal(corio_join(ta, NULL), -ECANCELED);
    assert_int_equal(a.res, -ECANCELED);
    uint64_t t0 = support_now_ns();
    assert_int_equal(corio_join(tb, NULL), 0);
    assert_int_equal(bw.res, -ETIMEDOUT);
    assert_true(support_now_ns() - t0 < 5000 * MS); /* a generous bound: it did time out */
    assert_false(c.done);

    b->provide();
    assert_int_equal(corio_join(tc, NULL), 0);
    assert_int_equal(c.res, 0); /* C got the unit (after_success checked it) */
    b->check_returned();
    b->check_no_waiters();
    return NULL;
}

static void test_every_blocking_call_leaves_the_queue_when_cancelled_or_timed_out(void **state)
{
    (void)state;
    for (size_t i = 0; i < NBLOCKERS; i++) {
        print_message("  %s\n", blockers[i].name);
        support_run(abort_main, (void *)&blockers[i]);
    }
}

/* The unit is handed to W, and W is cancelled before it runs again: W still gets it (the
 * wake-up won), returns success, and its next blocking call sees the cancel. */
static void *handoff_then_cancel_main(void *arg)
{
    const struct blocker *b = arg;
    b->setup();
    struct bwaiter w = {.b = b, .probe_next = true};
    corio_task_t *tw;
    assert_int_equal(corio_spawn(NULL, blocked_task, &w, &tw), 0);
    settle();
    assert_true(is_parked(tw));
    b->provide();
    assert_int_equal(corio_cancel(tw), 0);
    assert_int_equal(corio_join(tw, NULL), -ECANCELED);
    assert_int_equal(w.res, 0);
    assert_int_equal(w.next_res, -ECANCELED);
    b->check_returned(); /* after_success gave the unit back: it was not lost */
    return NULL;
}

static void test_every_blocking_call_keeps_a_unit_handed_over_just_before_a_cancel(void **state)
{
    (void)state;
    for (size_t i = 0; i < NBLOCKERS; i++) {
        print_message("  %s\n", blockers[i].name);
        support_run(handoff_then_cancel_main, (void *)&blockers[i]);
    }
}

/* The same race with a deadline: W's deadline passes while the main task runs without
 * yielding, and the unit is handed over before the loop gets to fire W's timer. */
static void *handoff_then_deadline_main(void *arg)
{
    const struct blocker *b = arg;
    b->setup();
    struct bwaiter w = {.b = b, .timeout_ns = 2 * MS, .probe_next = true};
    corio_task_t *tw;
    assert_int_equal(corio_spawn(NULL, blocked_task, &w, &tw), 0);
    settle();
    assert_true(is_parked(tw));
    uint64_t deadline = corio_task_deadline((struct corio_task *)tw);
    assert_true(deadline != 0);
    while (support_now_ns() <= deadline) /* past W's deadline; the loop has not fired its timer */
        ;
    assert_true(is_parked(tw));
    b->provide();
    assert_int_equal(corio_join(tw, NULL), 0);
    assert_int_equal(w.res, 0);
    assert_int_equal(w.next_res, -ETIMEDOUT); /* the deadline counts from the next call */
    b->check_returned();
    return NULL;
}

static void test_every_blocking_call_keeps_a_unit_handed_over_after_its_deadline(void **state)
{
    (void)state;
    for (size_t i = 0; i < NBLOCKERS; i++) {
        print_message("  %s\n", blockers[i].name);
        support_run(handoff_then_deadline_main, (void *)&blockers[i]);
    }
}

/* A task already cancelled, or past its deadline, is refused at once, even when the
 * call could complete without waiting: the unit stays where it was. */
static void *refused_main(void *arg)
{
    (void)arg;
    corio_chan_t ch;
    uint64_t slots[2], v = 7;
    assert_int_equal(corio_chan_init(&ch, sizeof v, 2, slots), 0);
    assert_int_equal(corio_chan_try_send(&ch, &v), 0);
    corio_event_t ev = {0};
    corio_event_set(&ev);
    corio_sem_t sem = {0};
    corio_sem_release(&sem);
    corio_mutex_t m = {0};
    corio_waitgroup_t wg = {0};

    assert_int_equal(corio_timeout_begin(1), 0);
    uint64_t until = support_now_ns() + MS;
    while (support_now_ns() < until)
        ;
    assert_int_equal(corio_chan_recv(&ch, &v), -ETIMEDOUT);
    assert_int_equal(corio_chan_send(&ch, &v), -ETIMEDOUT);
    assert_int_equal(corio_event_wait(&ev), -ETIMEDOUT);
    assert_int_equal(corio_sem_acquire(&sem), -ETIMEDOUT);
    assert_int_equal(corio_mutex_lock(&m), -ETIMEDOUT);
    assert_int_equal(corio_waitgroup_wait(&wg), -ETIMEDOUT);
    corio_timeout_end();

    corio_cancel(corio_current());
    assert_int_equal(corio_chan_recv(&ch, &v), -ECANCELED);
    assert_int_equal(corio_chan_send(&ch, &v), -ECANCELED);
    assert_int_equal(corio_event_wait(&ev), -ECANCELED);
    assert_int_equal(corio_sem_acquire(&sem), -ECANCELED);
    assert_int_equal(corio_mutex_lock(&m), -ECANCELED);
    assert_int_equal(corio_waitgroup_wait(&wg), -ECANCELED);

    assert_int_equal(corio_chan_len(&ch), 1);
    assert_int_equal(corio_sem_value(&sem), 1);
    assert_false(corio_mutex_locked(&m));
    /* The non-blocking forms still work in a cancelled task: cleanup can use them. */
    assert_int_equal(corio_chan_try_recv(&ch, &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(corio_sem_try_acquire(&sem), 0);
    assert_int_equal(corio_mutex_trylock(&m), 0);
    assert_int_equal(corio_mutex_unlock(&m), 0);
    return NULL;
}

static void test_blocking_calls_refuse_a_cancelled_or_expired_task_even_when_ready(void **state)
{
    (void)state;
    void *r;
    assert_int_equal(corio_run(refused_main, NULL, &r), -ECANCELED);
}

/* ---- outside a task ----------------------------------------------------------------- */

static void test_blocking_calls_outside_a_task_return_eperm_try_forms_work(void **state)
{
    (void)state;
    corio_chan_t ch;
    uint64_t slots[2], v = 3;
    assert_int_equal(corio_chan_init(&ch, sizeof v, 2, slots), 0);
    assert_int_equal(corio_chan_send(&ch, &v), -EPERM); /* room, but no task */
    assert_int_equal(corio_chan_try_send(&ch, &v), 0);
    assert_int_equal(corio_chan_recv(&ch, &v), -EPERM); /* an item, but no task */
    assert_int_equal(corio_chan_len(&ch), 1);
    assert_int_equal(corio_chan_try_recv(&ch, &v), 0);
    assert_int_equal(v, 3);

    corio_event_t ev;
    assert_int_equal(corio_event_init(&ev), 0);
    assert_int_equal(corio_event_set(&ev), 0);
    assert_int_equal(corio_event_wait(&ev), -EPERM);

    corio_sem_t sem;
    assert_int_equal(corio_sem_init(&sem, 1), 0);
    assert_int_equal(corio_sem_acquire(&sem), -EPERM);
    assert_int_equal(corio_sem_value(&sem), 1);
    assert_int_equal(corio_sem_try_acquire(&sem), 0);
    assert_int_equal(corio_sem_release(&sem), 0);

    corio_mutex_t m;
    assert_int_equal(corio_mutex_init(&m), 0);
    assert_int_equal(corio_mutex_lock(&m), -EPERM);
    assert_false(corio_mutex_locked(&m));

    corio_waitgroup_t wg;
    assert_int_equal(corio_waitgroup_init(&wg), 0);
    assert_int_equal(corio_waitgroup_wait(&wg), -EPERM); /* count zero, but no task */
    assert_int_equal(corio_waitgroup_add(&wg, 1), 0);
    assert_int_equal(corio_waitgroup_done(&wg), 0);
}

/* ---- event --------------------------------------------------------------------------- */

struct ev_waiter {
    corio_event_t *ev;
    int res;
    int order;
};

static int ev_woken;

static void *ev_waiter_task(void *arg)
{
    struct ev_waiter *w = arg;
    w->res = corio_event_wait(w->ev);
    w->order = ev_woken++;
    return NULL;
}

static void *event_main(void *arg)
{
    (void)arg;
    corio_event_t ev;
    assert_int_equal(corio_event_init(&ev), 0);
    assert_false(corio_event_is_set(&ev));
    struct ev_waiter w[6];
    corio_task_t *t[6];
    ev_woken = 0;
    for (int i = 0; i < 6; i++) {
        w[i] = (struct ev_waiter){.ev = &ev, .res = 1, .order = -1};
        assert_int_equal(corio_spawn(NULL, ev_waiter_task, &w[i], &t[i]), 0);
    }
    settle();
    assert_int_equal(ev_woken, 0);
    assert_int_equal(corio_event_set(&ev), 0);
    assert_true(corio_event_is_set(&ev));
    assert_int_equal(corio_gather(t, 6, NULL), 0);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(w[i].res, 0);
        assert_int_equal(w[i].order, i); /* all of them, in the order they came */
    }
    /* Set: a wait returns at once (without letting other tasks run). */
    assert_int_equal(corio_event_set(&ev), 0); /* setting twice is harmless */
    assert_int_equal(corio_event_wait(&ev), 0);
    /* Cleared: waits wait again. */
    assert_int_equal(corio_event_clear(&ev), 0);
    assert_false(corio_event_is_set(&ev));
    struct ev_waiter late = {.ev = &ev, .res = 1};
    corio_task_t *tl;
    assert_int_equal(corio_spawn(NULL, ev_waiter_task, &late, &tl), 0);
    settle();
    assert_true(is_parked(tl));
    assert_int_equal(corio_event_set(&ev), 0);
    assert_int_equal(corio_join(tl, NULL), 0);
    assert_int_equal(late.res, 0);
    return NULL;
}

static void test_event_set_wakes_every_waiter_and_clear_makes_waits_wait(void **state)
{
    (void)state;
    support_run(event_main, NULL);
    assert_int_equal(corio_event_init(NULL), -EINVAL);
    assert_int_equal(corio_event_set(NULL), -EINVAL);
    assert_int_equal(corio_event_clear(NULL), -EINVAL);
    assert_int_equal(corio_event_wait(NULL), -EINVAL);
    assert_false(corio_event_is_set(NULL));
}

/* ---- semaphore ----------------------------------------------------------------------- */

static int sem_order[8], sem_norder;

static void *sem_waiter_task(void *arg)
{
    corio_sem_t *sem = arg;
    assert_int_equal(corio_sem_acquire(sem), 0);
    return NULL;
}

struct sem_ctx {
    corio_sem_t *sem;
    int id;
};

static void *sem_ordered_task(void *arg)
{
    struct sem_ctx *c = arg;
    assert_int_equal(corio_sem_acquire(c->sem), 0);
    sem_order[sem_norder++] = c->id;
    return NULL;
}

static void *sem_main(void *arg)
{
    (void)arg;
    corio_sem_t sem;
    assert_int_equal(corio_sem_init(&sem, 2), 0);
    assert_int_equal(corio_sem_acquire(&sem), 0); /* free permits: no wait */
    assert_int_equal(corio_sem_acquire(&sem), 0);
    assert_int_equal(corio_sem_value(&sem), 0);
    assert_int_equal(corio_sem_try_acquire(&sem), -EAGAIN);

    struct sem_ctx c[4];
    corio_task_t *t[4];
    sem_norder = 0;
    for (int i = 0; i < 4; i++) {
        c[i] = (struct sem_ctx){.sem = &sem, .id = i};
        assert_int_equal(corio_spawn(NULL, sem_ordered_task, &c[i], &t[i]), 0);
    }
    settle();
    assert_int_equal(sem_norder, 0);
    /* Each release lets exactly one waiter through, oldest first. */
    for (int i = 0; i < 4; i++) {
        assert_int_equal(corio_sem_release(&sem), 0);
        settle();
        assert_int_equal(sem_norder, i + 1);
        assert_int_equal(sem_order[i], i);
        assert_int_equal(corio_sem_value(&sem), 0);
    }
    assert_int_equal(corio_gather(t, 4, NULL), 0);
    /* With no waiters, releases add free permits. */
    assert_int_equal(corio_sem_release(&sem), 0);
    assert_int_equal(corio_sem_release(&sem), 0);
    assert_int_equal(corio_sem_value(&sem), 2);
    corio_task_t *tw;
    assert_int_equal(corio_spawn(NULL, sem_waiter_task, &sem, &tw), 0);
    assert_int_equal(corio_join(tw, NULL), 0);
    assert_int_equal(corio_sem_value(&sem), 1);
    return NULL;
}

static void test_sem_counts_permits_and_serves_waiters_in_order(void **state)
{
    (void)state;
    support_run(sem_main, NULL);
    corio_sem_t sem;
    assert_int_equal(corio_sem_init(&sem, UINT_MAX), 0);
    assert_int_equal(corio_sem_release(&sem), -EOVERFLOW);
    assert_int_equal(corio_sem_value(&sem), UINT_MAX);
    assert_int_equal(corio_sem_init(NULL, 1), -EINVAL);
    assert_int_equal(corio_sem_acquire(NULL), -EINVAL);
    assert_int_equal(corio_sem_try_acquire(NULL), -EINVAL);
    assert_int_equal(corio_sem_release(NULL), -EINVAL);
    assert_int_equal(corio_sem_value(NULL), 0);
    corio_sem_t zero = {0}; /* zero-initialised: no permits */
    assert_int_equal(corio_sem_try_acquire(&zero), -EAGAIN);
}

/* ---- mutex --------------------------------------------------------------------------- */

static corio_mutex_t mx;
static int mx_inside, mx_max_inside;
static int mx_order[64], mx_norder;

static void *mx_worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int round = 0; round < 4; round++) {
        assert_int_equal(corio_mutex_lock(&mx), 0);
        if (++mx_inside > mx_max_inside)
            mx_max_inside = mx_inside;
        if (mx_norder < 64)
            mx_order[mx_norder++] = id;
        corio_yield(); /* the others run (and queue) while we hold it */
        corio_yield();
        mx_inside--;
        assert_int_equal(corio_mutex_unlock(&mx), 0);
    }
    return NULL;
}

static void *mutex_main(void *arg)
{
    (void)arg;
    assert_int_equal(corio_mutex_init(&mx), 0);
    mx_inside = mx_max_inside = mx_norder = 0;
    corio_task_t *t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(corio_spawn(NULL, mx_worker, (void *)(intptr_t)i, &t[i]), 0);
    assert_int_equal(corio_gather(t, 4, NULL), 0);
    assert_int_equal(mx_max_inside, 1);
    assert_int_equal(mx_norder, 16);
    /* FIFO hand-off: a task that unlocks and locks again queues behind the others. */
    for (int i = 0; i < 16; i++)
        assert_int_equal(mx_order[i], i % 4);
    assert_false(corio_mutex_locked(&mx));
    return NULL;
}

static void test_mutex_excludes_and_hands_over_in_fifo_order(void **state)
{
    (void)state;
    support_run(mutex_main, NULL);
}

static void *mx_try_other(void *arg)
{
    corio_mutex_t *m = arg;
    assert_int_equal(corio_mutex_unlock(m), -EPERM); /* not the owner */
    assert_int_equal(corio_mutex_trylock(m), -EAGAIN);
    return NULL;
}

static void *mutex_misuse_main(void *arg)
{
    (void)arg;
    corio_mutex_t m = {0};                            /* zero-initialised: unlocked */
    assert_int_equal(corio_mutex_unlock(&m), -EPERM); /* not locked */
    assert_int_equal(corio_mutex_lock(&m), 0);
    assert_int_equal(corio_mutex_lock(&m), -EDEADLK);
    assert_int_equal(corio_mutex_trylock(&m), -EDEADLK);
    corio_task_t *t;
    assert_int_equal(corio_spawn(NULL, mx_try_other, &m, &t), 0);
    assert_int_equal(corio_join(t, NULL), 0);
    assert_true(corio_mutex_locked(&m)); /* the failed unlock changed nothing */
    assert_int_equal(corio_mutex_unlock(&m), 0);
    assert_int_equal(corio_mutex_unlock(&m), -EPERM);
    assert_int_equal(corio_mutex_trylock(&m), 0);
    assert_int_equal(corio_mutex_unlock(&m), 0);
    return NULL;
}

static void test_mutex_misuse_unlock_by_non_owner_relock_and_null(void **state)
{
    (void)state;
    support_run(mutex_misuse_main, NULL);
    assert_int_equal(corio_mutex_init(NULL), -EINVAL);
    assert_int_equal(corio_mutex_lock(NULL), -EINVAL);
    assert_int_equal(corio_mutex_trylock(NULL), -EINVAL);
    assert_int_equal(corio_mutex_unlock(NULL), -EINVAL);
    assert_false(corio_mutex_locked(NULL));
}

/* Callback code may own the mutex; a task waits for it and only callback code may
 * unlock it. */
static corio_mutex_t cb_mx;
static int cb_mx_lock_res = 1;

static void cb_lock(void *arg)
{
    (void)arg;
    assert_int_equal(corio_mutex_trylock(&cb_mx), 0);
    assert_int_equal(corio_mutex_trylock(&cb_mx), -EDEADLK);
}

static void cb_unlock(void *arg)
{
    (void)arg;
    assert_int_equal(corio_mutex_unlock(&cb_mx), 0);
}

static void *cb_mx_task(void *arg)
{
    corio_loop_t *loop = arg;
    assert_true(corio_mutex_locked(&cb_mx)); /* cb_lock ran first */
    assert_int_equal(corio_mutex_unlock(&cb_mx), -EPERM);
    assert_int_equal(corio_call_soon(loop, cb_unlock, NULL), 0);
    cb_mx_lock_res = corio_mutex_lock(&cb_mx); /* waits for the callback's unlock */
    assert_int_equal(corio_mutex_unlock(&cb_mx), 0);
    return NULL;
}

static void test_mutex_callback_code_can_trylock_and_unlock(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    assert_int_equal(corio_mutex_init(&cb_mx), 0);
    assert_int_equal(corio_call_soon(loop, cb_lock, NULL), 0);
    assert_int_equal(corio_spawn(loop, cb_mx_task, loop, NULL), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(cb_mx_lock_res, 0);
    assert_false(corio_mutex_locked(&cb_mx));
    corio_loop_free(loop);
}

/* ---- wait group ---------------------------------------------------------------------- */

static int wg_finished;

static void *wg_job(void *arg)
{
    corio_waitgroup_t *wg = arg;
    for (int i = 0; i < wg_finished % 3 + 1; i++)
        corio_yield();
    wg_finished++;
    assert_int_equal(corio_waitgroup_done(wg), 0);
    return NULL;
}

static void *wg_waiter_task(void *arg)
{
    corio_waitgroup_t *wg = arg;
    assert_int_equal(corio_waitgroup_wait(wg), 0);
    assert_int_equal(wg_finished, 10); /* woken only at zero */
    return NULL;
}

static void *wg_main(void *arg)
{
    (void)arg;
    corio_waitgroup_t wg;
    assert_int_equal(corio_waitgroup_init(&wg), 0);
    assert_int_equal(corio_waitgroup_wait(&wg), 0); /* zero: at once */
    wg_finished = 0;
    assert_int_equal(corio_waitgroup_add(&wg, 10), 0);
    corio_task_t *w[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(corio_spawn(NULL, wg_waiter_task, &wg, &w[i]), 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(corio_spawn(NULL, wg_job, &wg, NULL), 0);
    assert_int_equal(corio_waitgroup_wait(&wg), 0);
    assert_int_equal(wg_finished, 10);
    assert_int_equal(corio_waitgroup_count(&wg), 0);
    assert_int_equal(corio_gather(w, 3, NULL), 0); /* every waiter woke */
    /* Below zero is refused and changes nothing. */
    assert_int_equal(corio_waitgroup_done(&wg), -ERANGE);
    assert_int_equal(corio_waitgroup_count(&wg), 0);
    assert_int_equal(corio_waitgroup_add(&wg, UINT_MAX), 0);
    assert_int_equal(corio_waitgroup_add(&wg, 1), -EOVERFLOW);
    assert_int_equal(corio_waitgroup_count(&wg), UINT_MAX);
    return NULL;
}

static void test_waitgroup_wakes_every_waiter_at_zero_and_refuses_below_zero(void **state)
{
    (void)state;
    support_run(wg_main, NULL);
    assert_int_equal(corio_waitgroup_init(NULL), -EINVAL);
    assert_int_equal(corio_waitgroup_add(NULL, 1), -EINVAL);
    assert_int_equal(corio_waitgroup_done(NULL), -EINVAL);
    assert_int_equal(corio_waitgroup_wait(NULL), -EINVAL);
    assert_int_equal(corio_waitgroup_count(NULL), 0);
    corio_waitgroup_t zero = {0};
    assert_int_equal(corio_waitgroup_done(&zero), -ERANGE);
}

int main(void)
{
    support_require_uring();
    support_watchdog(60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chan_init_and_calls_reject_bad_arguments),
        cmocka_unit_test(test_chan_try_variants_keep_fifo_order_across_the_ring_wrap),
        cmocka_unit_test(test_chan_8x8_tasks_100k_items_each_received_once_in_producer_order),
        cmocka_unit_test(test_chan_send_hands_items_to_waiting_receivers_in_arrival_order),
        cmocka_unit_test(test_chan_waiting_senders_are_served_in_arrival_order),
        cmocka_unit_test(test_chan_close_wakes_every_waiting_receiver_with_epipe),
        cmocka_unit_test(test_chan_close_wakes_every_waiting_sender_and_receivers_drain_then_epipe),
        cmocka_unit_test(test_chan_callback_code_can_try_send_and_close_for_a_waiting_task),
        cmocka_unit_test(test_every_blocking_call_leaves_the_queue_when_cancelled_or_timed_out),
        cmocka_unit_test(test_every_blocking_call_keeps_a_unit_handed_over_just_before_a_cancel),
        cmocka_unit_test(test_every_blocking_call_keeps_a_unit_handed_over_after_its_deadline),
        cmocka_unit_test(test_blocking_calls_refuse_a_cancelled_or_expired_task_even_when_ready),
        cmocka_unit_test(test_blocking_calls_outside_a_task_return_eperm_try_forms_work),
        cmocka_unit_test(test_event_set_wakes_every_waiter_and_clear_makes_waits_wait),
        cmocka_unit_test(test_sem_counts_permits_and_serves_waiters_in_order),
        cmocka_unit_test(test_mutex_excludes_and_hands_over_in_fifo_order),
        cmocka_unit_test(test_mutex_misuse_unlock_by_non_owner_relock_and_null),
        cmocka_unit_test(test_mutex_callback_code_can_trylock_and_unlock),
        cmocka_unit_test(test_waitgroup_wakes_every_waiter_at_zero_and_refuses_below_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
