/* Tests of engine/sync.c: channels (ordering, back-pressure, hand-off, close), events,
 * semaphores, mutexes, wait groups, condition variables and read-write locks; the report
 * of a task that ends holding a mutex; cancellation and deadlines on every blocking call,
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
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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
static corio_cond_t b_cond;
static corio_mutex_t b_cmutex;
static corio_rwlock_t b_rw;

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
}
static void mutex_no_waiters(void)
{
    assert_int_equal(corio_mutex_lock(&b_mutex), 0);
    assert_int_equal(corio_mutex_unlock(&b_mutex), 0);
    assert_false(corio_mutex_locked(&b_mutex)); /* nobody queued to hand it to */
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

/* condition variable: the waiter locks, waits, and owns the mutex on every return */
static void cond_setup(void)
{
    assert_int_equal(corio_cond_init(&b_cond), 0);
    assert_int_equal(corio_mutex_init(&b_cmutex), 0);
}
static int cond_call(uint64_t *got)
{
    (void)got;
    int err = corio_mutex_lock(&b_cmutex);
    if (err < 0)
        return err;
    err = corio_cond_wait(&b_cond, &b_cmutex);
    assert_ptr_equal(b_cmutex.priv_owner, corio_current()); /* held, whatever the result */
    if (err < 0)
        assert_int_equal(corio_mutex_unlock(&b_cmutex), 0);
    return err;
}
static void cond_provide(void)
{
    assert_int_equal(corio_cond_signal(&b_cond), 1);
    assert_true(corio_mutex_locked(&b_cmutex)); /* the free mutex went with the signal */
    assert_int_equal(corio_mutex_trylock(&b_cmutex), -EAGAIN);
}
static void cond_after(uint64_t got)
{
    (void)got;
    assert_int_equal(corio_mutex_unlock(&b_cmutex), 0);
}
static void cond_returned(void)
{
    assert_false(corio_mutex_locked(&b_cmutex));
}
static void cond_no_waiters(void)
{
    assert_int_equal(corio_cond_signal(&b_cond), 0); /* lost: nobody waits */
    assert_int_equal(corio_cond_broadcast(&b_cond), 0);
    assert_false(corio_mutex_locked(&b_cmutex));
}

/* read lock, behind the main task's write lock */
static void rd_setup(void)
{
    assert_int_equal(corio_rwlock_init(&b_rw), 0);
    assert_int_equal(corio_rwlock_wrlock(&b_rw), 0);
}
static int rd_call(uint64_t *got)
{
    (void)got;
    return corio_rwlock_rdlock(&b_rw);
}
static void rd_provide(void)
{
    assert_int_equal(corio_rwlock_unlock(&b_rw), 0);
    assert_int_equal(corio_rwlock_readers(&b_rw), 1); /* handed over, not released */
    assert_false(corio_rwlock_write_locked(&b_rw));
}
static void rw_after(uint64_t got)
{
    (void)got;
    assert_int_equal(corio_rwlock_unlock(&b_rw), 0);
}
static void rw_returned(void)
{
    assert_int_equal(corio_rwlock_readers(&b_rw), 0);
    assert_false(corio_rwlock_write_locked(&b_rw));
}
static void rd_no_waiters(void)
{
    assert_int_equal(corio_rwlock_wrlock(&b_rw), 0);
    assert_int_equal(corio_rwlock_unlock(&b_rw), 0);
    rw_returned(); /* nobody queued to hand it to */
}

/* write lock, behind the main task's read lock */
static void wr_setup(void)
{
    assert_int_equal(corio_rwlock_init(&b_rw), 0);
    assert_int_equal(corio_rwlock_rdlock(&b_rw), 0);
}
static int wr_call(uint64_t *got)
{
    (void)got;
    return corio_rwlock_wrlock(&b_rw);
}
static void wr_provide(void)
{
    assert_int_equal(corio_rwlock_unlock(&b_rw), 0);
    assert_true(corio_rwlock_write_locked(&b_rw));
    assert_int_equal(corio_rwlock_unlock(&b_rw), -EPERM); /* the waiter's now */
}
static void wr_no_waiters(void)
{
    assert_int_equal(corio_rwlock_rdlock(&b_rw), 0);
    assert_int_equal(corio_rwlock_unlock(&b_rw), 0);
    rw_returned();
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
    {"cond_wait", cond_setup, cond_call, cond_provide, cond_after, cond_returned, cond_no_waiters},
    {"rwlock_rdlock", rd_setup, rd_call, rd_provide, rw_after, rw_returned, rd_no_waiters},
    {"rwlock_wrlock", wr_setup, wr_call, wr_provide, rw_after, rw_returned, wr_no_waiters},
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
    corio_rwlock_t rw = {0};
    assert_int_equal(corio_rwlock_rdlock(&rw), -ETIMEDOUT);
    assert_int_equal(corio_rwlock_wrlock(&rw), -ETIMEDOUT);
    corio_cond_t cond = {0};
    assert_int_equal(corio_mutex_trylock(&m), 0);
    assert_int_equal(corio_cond_wait(&cond, &m), -ETIMEDOUT);
    assert_int_equal(corio_mutex_unlock(&m), 0); /* still held, as the call found it */
    corio_timeout_end();

    corio_cancel(corio_current());
    assert_int_equal(corio_chan_recv(&ch, &v), -ECANCELED);
    assert_int_equal(corio_chan_send(&ch, &v), -ECANCELED);
    assert_int_equal(corio_event_wait(&ev), -ECANCELED);
    assert_int_equal(corio_sem_acquire(&sem), -ECANCELED);
    assert_int_equal(corio_mutex_lock(&m), -ECANCELED);
    assert_int_equal(corio_waitgroup_wait(&wg), -ECANCELED);
    assert_int_equal(corio_rwlock_rdlock(&rw), -ECANCELED);
    assert_int_equal(corio_rwlock_wrlock(&rw), -ECANCELED);
    assert_int_equal(corio_mutex_trylock(&m), 0);
    assert_int_equal(corio_cond_wait(&cond, &m), -ECANCELED);
    assert_int_equal(corio_mutex_unlock(&m), 0);
    assert_int_equal(corio_rwlock_readers(&rw), 0);
    assert_false(corio_rwlock_write_locked(&rw));

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

    /* Callback code may trylock (as "the callbacks"), but never wait. */
    corio_cond_t c;
    assert_int_equal(corio_cond_init(&c), 0);
    assert_int_equal(corio_mutex_trylock(&m), 0);
    assert_int_equal(corio_cond_wait(&c, &m), -EPERM);
    assert_true(corio_mutex_locked(&m));
    assert_int_equal(corio_mutex_unlock(&m), 0);
    assert_int_equal(corio_cond_signal(&c), 0);

    corio_rwlock_t rw;
    assert_int_equal(corio_rwlock_init(&rw), 0);
    assert_int_equal(corio_rwlock_rdlock(&rw), -EPERM);
    assert_int_equal(corio_rwlock_wrlock(&rw), -EPERM);
    assert_int_equal(corio_rwlock_tryrdlock(&rw), 0);
    assert_int_equal(corio_rwlock_trywrlock(&rw), -EAGAIN);
    assert_int_equal(corio_rwlock_unlock(&rw), 0);
    assert_int_equal(corio_rwlock_trywrlock(&rw), 0);
    assert_int_equal(corio_rwlock_trywrlock(&rw), -EDEADLK);
    assert_int_equal(corio_rwlock_tryrdlock(&rw), -EDEADLK);
    assert_int_equal(corio_rwlock_unlock(&rw), 0);
    assert_int_equal(corio_rwlock_unlock(&rw), -EPERM);
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

/* ---- condition variable ------------------------------------------------------------ */

struct cv {
    corio_cond_t c;
    corio_mutex_t m;
    bool ready;       /* the predicate, guarded by m */
    int order[8];     /* who returned from its wait, in that order */
    int n;            /* entries in order */
    int res[8];       /* each waiter's wait result */
    bool owned_all;   /* every waiter owned m whenever its wait returned */
    uint64_t timeout; /* cv_waiter with a deadline (corio_cond_timedwait) */
};

struct cv_arg {
    struct cv *cv;
    int id;
};

static void *cv_waiter(void *arg)
{
    struct cv_arg *a = arg;
    struct cv *cv = a->cv;
    assert_int_equal(corio_mutex_lock(&cv->m), 0);
    int err = 0;
    while (!cv->ready && err == 0)
        err = cv->timeout != 0 ? corio_cond_timedwait(&cv->c, &cv->m, cv->timeout)
                               : corio_cond_wait(&cv->c, &cv->m);
    if (cv->m.priv_owner != corio_current())
        cv->owned_all = false;
    cv->res[a->id] = err;
    cv->order[cv->n++] = a->id;
    assert_int_equal(corio_mutex_unlock(&cv->m), 0);
    return NULL;
}

static void cv_spawn(struct cv *cv, struct cv_arg *args, corio_task_t **t, int n)
{
    for (int i = 0; i < n; i++) {
        args[i] = (struct cv_arg){cv, i};
        assert_int_equal(corio_spawn(NULL, cv_waiter, &args[i], &t[i]), 0);
    }
    settle();
    for (int i = 0; i < n; i++)
        assert_true(is_parked(t[i]));
    assert_false(corio_mutex_locked(&cv->m)); /* every waiter let go of it */
}

static void *cond_broadcast_main(void *arg)
{
    (void)arg;
    struct cv cv = {.owned_all = true};
    assert_int_equal(corio_cond_init(&cv.c), 0);
    assert_int_equal(corio_mutex_init(&cv.m), 0);
    struct cv_arg args[5];
    corio_task_t *t[5];
    cv_spawn(&cv, args, t, 5);

    /* Broadcast while holding the mutex: all five are woken, but none runs before the
     * mutex is free, and then they take it one at a time in arrival order. */
    assert_int_equal(corio_mutex_lock(&cv.m), 0);
    cv.ready = true;
    assert_int_equal(corio_cond_broadcast(&cv.c), 5);
    settle();
    assert_int_equal(cv.n, 0);
    assert_int_equal(corio_mutex_unlock(&cv.m), 0);
    assert_true(corio_mutex_locked(&cv.m)); /* handed to the first of them */
    assert_int_equal(corio_gather(t, 5, NULL), 0);
    assert_int_equal(cv.n, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(cv.order[i], i);
        assert_int_equal(cv.res[i], 0);
    }
    assert_true(cv.owned_all);
    assert_false(corio_mutex_locked(&cv.m));
    assert_int_equal(corio_cond_broadcast(&cv.c), 0);
    return NULL;
}

static void test_cond_broadcast_wakes_every_waiter_in_fifo_order_each_owning_the_mutex(void **state)
{
    (void)state;
    support_run(cond_broadcast_main, NULL);
}

/* signal from a callback: callback code may signal too. */
static void cb_signal(void *arg)
{
    assert_int_equal(corio_cond_signal(arg), 1);
}

static void *cond_signal_main(void *arg)
{
    (void)arg;
    struct cv cv = {.owned_all = true, .ready = true};
    assert_int_equal(corio_cond_init(&cv.c), 0);
    assert_int_equal(corio_mutex_init(&cv.m), 0);
    /* A signal nobody waits for is lost: it does not let a later wait through. */
    assert_int_equal(corio_cond_signal(&cv.c), 0);
    assert_int_equal(corio_mutex_lock(&cv.m), 0);
    assert_int_equal(corio_cond_signal(&cv.c), 0);
    corio_task_t *late;
    struct cv_arg la = {&cv, 0};
    assert_int_equal(corio_spawn(NULL, cv_waiter, &la, &late), 0);
    settle();
    assert_true(is_parked(late)); /* waiting for the mutex, not past a wait */
    corio_task_t *lt = corio_current();
    (void)lt;
    cv.ready = false;
    assert_int_equal(corio_mutex_unlock(&cv.m), 0);
    settle();
    assert_true(is_parked(late)); /* now in the wait: the early signals were lost */
    assert_int_equal(cv.n, 0);

    struct cv_arg args[3];
    corio_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        args[i] = (struct cv_arg){&cv, i + 1};
        assert_int_equal(corio_spawn(NULL, cv_waiter, &args[i], &t[i]), 0);
    }
    settle();
    /* Each signal wakes exactly one waiter, the longest-waiting. */
    cv.ready = true;
    assert_int_equal(corio_cond_signal(&cv.c), 1);
    assert_int_equal(corio_join(late, NULL), 0);
    settle();
    assert_int_equal(cv.n, 1);
    assert_int_equal(cv.order[0], 0);
    for (int i = 0; i < 3; i++)
        assert_true(is_parked(t[i]));
    assert_int_equal(corio_call_soon(corio_current_loop(), cb_signal, &cv.c), 0);
    assert_int_equal(corio_join(t[0], NULL), 0);
    settle();
    assert_int_equal(cv.n, 2);
    assert_int_equal(cv.order[1], 1);
    assert_true(is_parked(t[1]) && is_parked(t[2]));
    assert_int_equal(corio_cond_broadcast(&cv.c), 2);
    assert_int_equal(corio_gather(&t[1], 2, NULL), 0);
    assert_int_equal(cv.n, 4);
    assert_int_equal(cv.order[2], 2);
    assert_int_equal(cv.order[3], 3);
    assert_true(cv.owned_all);
    return NULL;
}

static void test_cond_signal_wakes_exactly_one_and_a_signal_with_no_waiter_is_lost(void **state)
{
    (void)state;
    support_run(cond_signal_main, NULL);
}

/* Polls (by sleeping a tick at a time, at most ~5 s) until the mutex has a waiter: a
 * cond waiter that was cancelled or timed out while the mutex was held moves there. */
static void wait_for_mutex_waiter(corio_mutex_t *m)
{
    for (int i = 0; i < 5000 && m->priv_waiters.priv_head == NULL; i++)
        assert_int_equal(corio_sleep(MS), 0);
    assert_non_null(m->priv_waiters.priv_head);
}

static void *cond_cancel_main(void *arg)
{
    (void)arg;
    struct cv cv = {.owned_all = true};
    assert_int_equal(corio_cond_init(&cv.c), 0);
    assert_int_equal(corio_mutex_init(&cv.m), 0);

    /* Cancelled with the mutex free: returns -ECANCELED at once, owning the mutex. */
    struct cv_arg a0;
    corio_task_t *t0;
    cv_spawn(&cv, &a0, &t0, 1);
    assert_int_equal(corio_cancel(t0), 0);
    assert_int_equal(corio_join(t0, NULL), -ECANCELED);
    assert_int_equal(cv.res[0], -ECANCELED);
    assert_true(cv.owned_all);

    /* Cancelled while another task holds the mutex: the wait for the signal ends, the wait
     * for the mutex does not; a signal now finds nobody. */
    struct cv_arg a1;
    corio_task_t *t1;
    cv.n = 0;
    cv_spawn(&cv, &a1, &t1, 1);
    assert_int_equal(corio_mutex_lock(&cv.m), 0);
    assert_int_equal(corio_cancel(t1), 0);
    settle();
    assert_true(is_parked(t1));
    assert_int_equal(cv.n, 0);
    assert_int_equal(corio_cond_signal(&cv.c), 0); /* it left the condition's queue */
    assert_int_equal(corio_cancel(t1), 0);         /* a second cancel changes nothing */
    assert_int_equal(corio_mutex_unlock(&cv.m), 0);
    assert_int_equal(corio_join(t1, NULL), -ECANCELED);
    assert_int_equal(cv.res[0], -ECANCELED);
    assert_true(cv.owned_all);

    /* Signalled, then cancelled before it ran: the signal won, the wait returns 0. */
    struct cv_arg a2;
    corio_task_t *t2;
    cv.n = 0;
    cv_spawn(&cv, &a2, &t2, 1);
    cv.ready = true;
    assert_int_equal(corio_mutex_lock(&cv.m), 0);
    assert_int_equal(corio_cond_signal(&cv.c), 1);
    assert_int_equal(corio_cancel(t2), 0);
    assert_int_equal(corio_mutex_unlock(&cv.m), 0);
    assert_int_equal(corio_join(t2, NULL), -ECANCELED); /* the task was cancelled ... */
    assert_int_equal(cv.res[0], 0);                     /* ... after its wait succeeded */
    assert_false(corio_mutex_locked(&cv.m));
    assert_null(((struct corio_task *)corio_current())->held_mutexes);
    return NULL;
}

static void test_cond_wait_cancelled_returns_ecanceled_owning_the_mutex_again(void **state)
{
    (void)state;
    support_run(cond_cancel_main, NULL);
}

static void *cond_deadline_main(void *arg)
{
    (void)arg;
    struct cv cv = {.owned_all = true, .timeout = 5 * MS};
    assert_int_equal(corio_cond_init(&cv.c), 0);
    assert_int_equal(corio_mutex_init(&cv.m), 0);

    /* Nobody signals: -ETIMEDOUT after the deadline, owning the mutex. */
    struct cv_arg a0;
    corio_task_t *t0;
    uint64_t t_start = support_now_ns();
    cv_spawn(&cv, &a0, &t0, 1);
    assert_int_equal(corio_join(t0, NULL), 0);
    assert_int_equal(cv.res[0], -ETIMEDOUT);
    assert_true(support_now_ns() - t_start >= 5 * MS);
    assert_true(cv.owned_all);

    /* The deadline passes while the main task holds the mutex: the waiter leaves the
     * condition for the mutex's queue and returns only once it owns the mutex. */
    struct cv_arg a1;
    corio_task_t *t1;
    cv.n = 0;
    cv_spawn(&cv, &a1, &t1, 1);
    assert_int_equal(corio_mutex_lock(&cv.m), 0);
    wait_for_mutex_waiter(&cv.m);
    assert_true(is_parked(t1));
    assert_int_equal(corio_cond_signal(&cv.c), 0);
    assert_int_equal(corio_mutex_unlock(&cv.m), 0);
    assert_int_equal(corio_join(t1, NULL), 0);
    assert_int_equal(cv.res[0], -ETIMEDOUT);
    assert_true(cv.owned_all);

    /* The task's own deadline applies to corio_cond_wait; the earlier one wins. */
    cv.timeout = 0;
    assert_int_equal(corio_mutex_lock(&cv.m), 0);
    assert_int_equal(corio_timeout_begin(2 * MS), 0);
    assert_int_equal(corio_cond_wait(&cv.c, &cv.m), -ETIMEDOUT);
    assert_ptr_equal(cv.m.priv_owner, corio_current());
    assert_int_equal(corio_cond_timedwait(&cv.c, &cv.m, 60000 * MS), -ETIMEDOUT);
    corio_timeout_end();
    assert_ptr_equal(cv.m.priv_owner, corio_current());
    assert_int_equal(corio_mutex_unlock(&cv.m), 0);
    return NULL;
}

static void test_cond_wait_past_its_deadline_returns_etimedout_owning_the_mutex_again(void **state)
{
    (void)state;
    support_run(cond_deadline_main, NULL);
}

static void *cond_misuse_other(void *arg)
{
    struct cv *cv = arg;
    corio_mutex_t other = {0};
    assert_int_equal(corio_mutex_lock(&other), 0);
    /* Tasks already wait on c with cv->m: another mutex is refused, and kept. */
    assert_int_equal(corio_cond_wait(&cv->c, &other), -EINVAL);
    assert_true(corio_mutex_locked(&other));
    assert_int_equal(corio_mutex_unlock(&other), 0);
    /* cv->m is free: waiting without owning it is refused. */
    assert_int_equal(corio_cond_wait(&cv->c, &cv->m), -EPERM);
    return NULL;
}

static void *cond_misuse_main(void *arg)
{
    (void)arg;
    struct cv cv = {.owned_all = true};
    assert_int_equal(corio_cond_init(&cv.c), 0);
    assert_int_equal(corio_mutex_init(&cv.m), 0);
    assert_int_equal(corio_cond_wait(&cv.c, &cv.m), -EPERM); /* not locked */
    struct cv_arg a;
    corio_task_t *w, *o;
    cv_spawn(&cv, &a, &w, 1);
    assert_int_equal(corio_spawn(NULL, cond_misuse_other, &cv, &o), 0);
    assert_int_equal(corio_join(o, NULL), 0);
    assert_true(is_parked(w));
    cv.ready = true;
    assert_int_equal(corio_cond_signal(&cv.c), 1);
    assert_int_equal(corio_join(w, NULL), 0);
    assert_int_equal(cv.res[0], 0);
    assert_int_equal(corio_cond_wait(NULL, &cv.m), -EINVAL);
    assert_int_equal(corio_cond_wait(&cv.c, NULL), -EINVAL);
    assert_int_equal(corio_cond_timedwait(NULL, &cv.m, MS), -EINVAL);
    return NULL;
}

static void test_cond_misuse_without_the_mutex_another_mutex_and_null(void **state)
{
    (void)state;
    support_run(cond_misuse_main, NULL);
    assert_int_equal(corio_cond_init(NULL), -EINVAL);
    assert_int_equal(corio_cond_signal(NULL), -EINVAL);
    assert_int_equal(corio_cond_broadcast(NULL), -EINVAL);
}

/* ---- read-write lock --------------------------------------------------------------- */

struct rwt {
    corio_rwlock_t rw;
    corio_event_t release; /* holders keep the lock until it is set */
    char log[32];          /* who got the lock, in order: 'r' readers, 'W' writers */
    int nlog;
    unsigned max_readers;
    int res[8];
};

struct rw_arg {
    struct rwt *r;
    int id;
    bool write;
    uint64_t timeout;
};

static void *rw_holder(void *arg)
{
    struct rw_arg *a = arg;
    struct rwt *r = a->r;
    if (a->timeout != 0)
        assert_int_equal(corio_timeout_begin(a->timeout), 0);
    int err = a->write ? corio_rwlock_wrlock(&r->rw) : corio_rwlock_rdlock(&r->rw);
    if (a->timeout != 0)
        corio_timeout_end();
    r->res[a->id] = err;
    if (err < 0)
        return NULL;
    r->log[r->nlog++] = a->write ? 'W' : 'r';
    if (corio_rwlock_readers(&r->rw) > r->max_readers)
        r->max_readers = corio_rwlock_readers(&r->rw);
    assert_true(a->write == corio_rwlock_write_locked(&r->rw));
    assert_int_equal(corio_event_wait(&r->release), 0);
    assert_int_equal(corio_rwlock_unlock(&r->rw), 0);
    return NULL;
}

static void *rwlock_order_main(void *arg)
{
    (void)arg;
    struct rwt r = {0};
    assert_int_equal(corio_rwlock_init(&r.rw), 0);
    struct rw_arg a[6] = {
        {&r, 0, false, 0}, {&r, 1, false, 0}, {&r, 2, false, 0}, /* hold together */
        {&r, 3, true, 0},                                        /* waits for them */
        {&r, 4, false, 0}, {&r, 5, false, 0},                    /* arrive after the writer: wait */
    };
    corio_task_t *t[6];
    for (int i = 0; i < 3; i++)
        assert_int_equal(corio_spawn(NULL, rw_holder, &a[i], &t[i]), 0);
    settle();
    assert_int_equal(corio_rwlock_readers(&r.rw), 3);
    assert_int_equal(r.nlog, 3);
    for (int i = 3; i < 6; i++)
        assert_int_equal(corio_spawn(NULL, rw_holder, &a[i], &t[i]), 0);
    settle();
    for (int i = 3; i < 6; i++)
        assert_true(is_parked(t[i]));
    assert_int_equal(r.nlog, 3); /* readers 4 and 5 did not pass the waiting writer */
    assert_int_equal(corio_rwlock_tryrdlock(&r.rw), -EAGAIN);
    assert_int_equal(corio_rwlock_trywrlock(&r.rw), -EAGAIN);

    /* The readers let go: the writer gets the lock; readers 4 and 5 still wait. */
    assert_int_equal(corio_event_set(&r.release), 0);
    assert_int_equal(corio_event_clear(&r.release), 0);
    assert_int_equal(corio_gather(t, 3, NULL), 0);
    settle();
    assert_true(corio_rwlock_write_locked(&r.rw));
    assert_int_equal(r.nlog, 4);
    assert_true(is_parked(t[4]) && is_parked(t[5]));

    /* The writer lets go: both readers get it together. */
    assert_int_equal(corio_event_set(&r.release), 0);
    assert_int_equal(corio_event_clear(&r.release), 0);
    assert_int_equal(corio_join(t[3], NULL), 0);
    settle();
    assert_int_equal(corio_rwlock_readers(&r.rw), 2);
    assert_int_equal(corio_event_set(&r.release), 0);
    assert_int_equal(corio_gather(&t[4], 2, NULL), 0);
    r.log[r.nlog] = '\0';
    assert_string_equal(r.log, "rrrWrr");
    assert_int_equal(r.max_readers, 3);
    assert_int_equal(corio_rwlock_readers(&r.rw), 0);
    assert_false(corio_rwlock_write_locked(&r.rw));
    return NULL;
}

static void test_rwlock_readers_share_a_writer_waits_and_later_readers_queue_behind_it(void **state)
{
    (void)state;
    support_run(rwlock_order_main, NULL);
}

/* Four readers take turns so that the lock is never free of readers; a writer that
 * arrives meanwhile must still get it, after the readers holding it then. */
#define STREAM_ROUNDS 200

static struct {
    corio_rwlock_t rw;
    unsigned reads;            /* read sections completed */
    unsigned reads_at_arrival; /* ... when the writer asked for the lock */
    unsigned reads_at_wr;      /* ... when the writer got it */
    bool writer_done;
} st;

static void *stream_reader(void *arg)
{
    (void)arg;
    for (int i = 0; i < STREAM_ROUNDS; i++) {
        assert_int_equal(corio_rwlock_rdlock(&st.rw), 0);
        corio_yield();
        st.reads++;
        assert_int_equal(corio_rwlock_unlock(&st.rw), 0);
    }
    return NULL;
}

static void *stream_writer(void *arg)
{
    (void)arg;
    st.reads_at_arrival = st.reads;
    assert_true(corio_rwlock_readers(&st.rw) > 0); /* it has to wait */
    assert_int_equal(corio_rwlock_wrlock(&st.rw), 0);
    st.reads_at_wr = st.reads;
    assert_int_equal(corio_rwlock_readers(&st.rw), 0);
    st.writer_done = true;
    assert_int_equal(corio_rwlock_unlock(&st.rw), 0);
    return NULL;
}

static void *rwlock_stream_main(void *arg)
{
    (void)arg;
    memset(&st, 0, sizeof st);
    corio_task_t *t[5];
    for (int i = 0; i < 4; i++)
        assert_int_equal(corio_spawn(NULL, stream_reader, NULL, &t[i]), 0);
    for (int i = 0; i < 10; i++)
        corio_yield();
    assert_true(st.reads > 0);
    assert_true(corio_rwlock_readers(&st.rw) > 0);
    assert_int_equal(corio_spawn(NULL, stream_writer, NULL, &t[4]), 0);
    assert_int_equal(corio_join(t[4], NULL), 0);
    assert_true(st.writer_done);
    /* Only the (at most four) read sections under way when it arrived came before it. */
    assert_true(st.reads_at_wr - st.reads_at_arrival <= 4);
    assert_true(st.reads_at_wr < 4 * STREAM_ROUNDS);
    assert_int_equal(corio_gather(t, 4, NULL), 0);
    assert_int_equal(st.reads, 4 * STREAM_ROUNDS);
    return NULL;
}

static void test_rwlock_a_stream_of_readers_does_not_starve_a_writer(void **state)
{
    (void)state;
    support_run(rwlock_stream_main, NULL);
}

/* A writer that gives up (cancelled, or at its deadline) while readers hold the lock: the
 * readers it held back join them at once, and the lock's state stays exact. */
static void *rwlock_abort_main(void *arg)
{
    bool by_deadline = arg != NULL;
    struct rwt r = {0};
    assert_int_equal(corio_rwlock_init(&r.rw), 0);
    struct rw_arg a[4] = {
        {&r, 0, false, 0},
        {&r, 1, true, by_deadline ? 5 * MS : 0},
        {&r, 2, false, 0},
        {&r, 3, true, 0},
    };
    corio_task_t *t[4];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(corio_spawn(NULL, rw_holder, &a[i], &t[i]), 0);
        settle();
    }
    assert_int_equal(corio_rwlock_readers(&r.rw), 1);
    assert_true(is_parked(t[1]) && is_parked(t[2]) && is_parked(t[3]));
    if (!by_deadline)
        assert_int_equal(corio_cancel(t[1]), 0);
    assert_int_equal(corio_join(t[1], NULL), by_deadline ? 0 : -ECANCELED);
    assert_int_equal(r.res[1], by_deadline ? -ETIMEDOUT : -ECANCELED);
    settle();
    assert_int_equal(corio_rwlock_readers(&r.rw), 2); /* reader 2 moved up */
    assert_true(is_parked(t[3]));                     /* the other writer still waits */
    assert_false(corio_rwlock_write_locked(&r.rw));

    assert_int_equal(corio_event_set(&r.release), 0);
    assert_int_equal(corio_join(t[0], NULL), 0);
    assert_int_equal(corio_join(t[2], NULL), 0);
    assert_int_equal(corio_join(t[3], NULL), 0);
    r.log[r.nlog] = '\0';
    assert_string_equal(r.log, "rrW");
    assert_int_equal(corio_rwlock_readers(&r.rw), 0);
    assert_false(corio_rwlock_write_locked(&r.rw));
    assert_null(r.rw.priv_waiters.priv_head);
    return NULL;
}

static void test_rwlock_a_writer_giving_up_lets_the_readers_behind_it_in(void **state)
{
    (void)state;
    print_message("  cancelled\n");
    support_run(rwlock_abort_main, NULL);
    print_message("  deadline\n");
    support_run(rwlock_abort_main, (void *)1);
}

static void *rw_other_unlock(void *arg)
{
    assert_int_equal(corio_rwlock_unlock(arg), -EPERM); /* another task's write lock */
    assert_int_equal(corio_rwlock_tryrdlock(arg), -EAGAIN);
    return NULL;
}

static void *rwlock_misuse_main(void *arg)
{
    (void)arg;
    corio_rwlock_t rw = {0}; /* zero-initialised: unlocked */
    assert_int_equal(corio_rwlock_unlock(&rw), -EPERM);
    assert_int_equal(corio_rwlock_wrlock(&rw), 0);
    assert_int_equal(corio_rwlock_wrlock(&rw), -EDEADLK);
    assert_int_equal(corio_rwlock_rdlock(&rw), -EDEADLK);
    assert_int_equal(corio_rwlock_trywrlock(&rw), -EDEADLK);
    corio_task_t *t;
    assert_int_equal(corio_spawn(NULL, rw_other_unlock, &rw, &t), 0);
    assert_int_equal(corio_join(t, NULL), 0);
    assert_true(corio_rwlock_write_locked(&rw));
    assert_int_equal(corio_rwlock_unlock(&rw), 0);
    assert_int_equal(corio_rwlock_rdlock(&rw), 0);
    assert_int_equal(corio_rwlock_rdlock(&rw), 0); /* no writer waits: readers stack */
    assert_int_equal(corio_rwlock_tryrdlock(&rw), 0);
    assert_int_equal(corio_rwlock_readers(&rw), 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(corio_rwlock_unlock(&rw), 0);
    assert_int_equal(corio_rwlock_unlock(&rw), -EPERM);
    return NULL;
}

static void test_rwlock_misuse_unlock_unlocked_or_foreign_relock_and_null(void **state)
{
    (void)state;
    support_run(rwlock_misuse_main, NULL);
    assert_int_equal(corio_rwlock_init(NULL), -EINVAL);
    assert_int_equal(corio_rwlock_rdlock(NULL), -EINVAL);
    assert_int_equal(corio_rwlock_wrlock(NULL), -EINVAL);
    assert_int_equal(corio_rwlock_tryrdlock(NULL), -EINVAL);
    assert_int_equal(corio_rwlock_trywrlock(NULL), -EINVAL);
    assert_int_equal(corio_rwlock_unlock(NULL), -EINVAL);
    assert_int_equal(corio_rwlock_readers(NULL), 0);
    assert_false(corio_rwlock_write_locked(NULL));
}

/* ---- a task that ends holding a mutex ---------------------------------------------- */

static corio_mutex_t exit_mx, exit_mx2;

static void *returns_holding(void *arg)
{
    (void)arg;
    assert_int_equal(corio_mutex_lock(&exit_mx2), 0);
    assert_int_equal(corio_mutex_lock(&exit_mx), 0);
    assert_int_equal(corio_mutex_unlock(&exit_mx2), 0); /* out of order: still tracked */
    return NULL;
}

static void *sleeps_holding(void *arg)
{
    (void)arg;
    assert_int_equal(corio_mutex_lock(&exit_mx), 0);
    assert_int_equal(corio_sleep(60000 * MS), -ECANCELED);
    return NULL; /* unwinds after the cancel without unlocking */
}

static void *cancels_the_sleeper(void *arg)
{
    (void)arg;
    corio_task_t *t;
    assert_int_equal(corio_spawn(NULL, sleeps_holding, NULL, &t), 0);
    settle();
    assert_int_equal(corio_cancel(t), 0);
    (void)corio_join(t, NULL);
    return NULL;
}

/* Handed the mutex by an unlock while it waited, and returns with it. */
static void *handed_and_returns(void *arg)
{
    (void)arg;
    assert_int_equal(corio_mutex_lock(&exit_mx), 0);
    return NULL;
}

static void *hands_it_over(void *arg)
{
    (void)arg;
    assert_int_equal(corio_mutex_lock(&exit_mx), 0);
    corio_task_t *t;
    assert_int_equal(corio_spawn(NULL, handed_and_returns, NULL, &t), 0);
    settle();
    assert_int_equal(corio_mutex_unlock(&exit_mx), 0);
    (void)corio_join(t, NULL);
    return NULL;
}

/* Runs main in a child; expects it to abort naming exit_mx. */
static void expect_reported(void *(*main_fn)(void *))
{
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(20);
        dup2(pipefd[1], STDERR_FILENO);
        corio_mutex_init(&exit_mx);
        corio_mutex_init(&exit_mx2);
        (void)corio_run(main_fn, NULL, NULL);
        _exit(0); /* not reported: the parent fails the test */
    }
    close(pipefd[1]);
    char out[1024] = {0};
    size_t got = 0;
    ssize_t n;
    while (got < sizeof out - 1 && (n = read(pipefd[0], out + got, sizeof out - 1 - got)) > 0)
        got += (size_t)n;
    close(pipefd[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    print_message("  child said: %s", out);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    char name[64];
    snprintf(name, sizeof name, "holding corio_mutex_t %p", (void *)&exit_mx);
    assert_non_null(strstr(out, name));
    assert_non_null(strstr(out, "corio_mutex_unlock"));
    assert_null(strstr(out, "and others"));
}

static void test_a_task_that_returns_holding_a_mutex_is_reported_naming_it(void **state)
{
    (void)state;
    print_message("  returns holding it\n");
    expect_reported(returns_holding);
    print_message("  unwinds after a cancel holding it\n");
    expect_reported(cancels_the_sleeper);
    print_message("  was handed it by an unlock and returns\n");
    expect_reported(hands_it_over);
}

/* Whatever way a task got and gave back its mutexes (hand-over, trylock, a condition
 * wait), it ends with none held and is not reported. */
static void *balanced_task(void *arg)
{
    struct cv *cv = arg;
    assert_int_equal(corio_mutex_trylock(&cv->m), 0);
    assert_int_equal(corio_mutex_unlock(&cv->m), 0);
    assert_int_equal(corio_mutex_lock(&cv->m), 0);
    int err = corio_cond_wait(&cv->c, &cv->m);
    assert_int_equal(err, 0);
    assert_int_equal(corio_mutex_unlock(&cv->m), 0);
    assert_null(((struct corio_task *)corio_current())->held_mutexes);
    return NULL;
}

static void *balanced_main(void *arg)
{
    (void)arg;
    struct cv cv = {0};
    corio_task_t *t[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(corio_spawn(NULL, balanced_task, &cv, &t[i]), 0);
    settle();
    assert_int_equal(corio_mutex_lock(&cv.m), 0);
    assert_int_equal(corio_cond_broadcast(&cv.c), 3);
    assert_int_equal(corio_mutex_unlock(&cv.m), 0);
    assert_int_equal(corio_gather(t, 3, NULL), 0);
    return NULL;
}

static void test_a_task_that_gives_back_every_mutex_is_not_reported(void **state)
{
    (void)state;
    support_run(balanced_main, NULL);
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
        cmocka_unit_test(
            test_cond_broadcast_wakes_every_waiter_in_fifo_order_each_owning_the_mutex),
        cmocka_unit_test(test_cond_signal_wakes_exactly_one_and_a_signal_with_no_waiter_is_lost),
        cmocka_unit_test(test_cond_wait_cancelled_returns_ecanceled_owning_the_mutex_again),
        cmocka_unit_test(test_cond_wait_past_its_deadline_returns_etimedout_owning_the_mutex_again),
        cmocka_unit_test(test_cond_misuse_without_the_mutex_another_mutex_and_null),
        cmocka_unit_test(
            test_rwlock_readers_share_a_writer_waits_and_later_readers_queue_behind_it),
        cmocka_unit_test(test_rwlock_a_stream_of_readers_does_not_starve_a_writer),
        cmocka_unit_test(test_rwlock_a_writer_giving_up_lets_the_readers_behind_it_in),
        cmocka_unit_test(test_rwlock_misuse_unlock_unlocked_or_foreign_relock_and_null),
        cmocka_unit_test(test_a_task_that_returns_holding_a_mutex_is_reported_naming_it),
        cmocka_unit_test(test_a_task_that_gives_back_every_mutex_is_not_reported),
        cmocka_unit_test(test_waitgroup_wakes_every_waiter_at_zero_and_refuses_below_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
