/* Tests of the timer heap (engine/timer.c) and of the timers the loop fires from it
 * (corio_call_later, corio_timer_cancel, engine/loop.c). They hold that the heap gives
 * nodes back in (deadline, insertion) order through 10,000 random inserts, removals from
 * the head, the tail and the middle, and re-inserts, keeping a well-formed tree; that
 * call_later timers fire in deadline order, each exactly once and never early, and never
 * after a cancel (also one made by a timer due at the same instant); that a zero-delay
 * timer set by a callback waits for a later iteration; and that a loop with only timers
 * sleeps in the kernel until the earliest and returns once none remain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "support.h"

#define MS 1000000ull

/* splitmix64 with a fixed seed per test: every run sees the same numbers. */
static uint64_t rng_state;

static void rng_seed(uint64_t seed)
{
    rng_state = seed;
}

static uint64_t rng(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---- the heap --------------------------------------------------------------------- */

#define N 10000

struct item {
    struct corio_heap_node node;
    uint64_t order; /* when it was last inserted: the tie-break the heap must honour */
    bool in;        /* in the heap now */
};

static struct item items[2 * N];
static uint64_t inserts;

static struct item *item_of(const struct corio_heap_node *n)
{
    return (struct item *)((char *)n - offsetof(struct item, node));
}

/* The order the header promises: by deadline, equal deadlines in the order set. */
static bool item_before(const struct item *a, const struct item *b)
{
    return a->node.when < b->node.when || (a->node.when == b->node.when && a->order < b->order);
}

static void put(struct corio_heap *h, struct item *it, uint64_t when)
{
    assert_false(it->in); /* a node in the heap must not be inserted again */
    corio_heap_insert(h, &it->node, when);
    assert_int_equal(it->node.when, when);
    it->order = inserts++;
    it->in = true;
}

static void take(struct corio_heap *h, struct item *it)
{
    assert_true(it->in);
    corio_heap_remove(h, &it->node);
    it->in = false;
}

/* Removes and returns the minimum; a node given back twice, or never put in, fails. */
static struct item *pop(struct corio_heap *h)
{
    struct corio_heap_node *n = corio_heap_min(h);
    if (n == NULL)
        return NULL;
    struct item *it = item_of(n);
    take(h, it);
    return it;
}

/* Checks the subtree at n, the node at 1-based position pos: parent links, no child
 * before its parent, no position past h->n. Returns its node count. */
static size_t check_subtree(const struct corio_heap *h, const struct corio_heap_node *n, size_t pos)
{
    assert_true(pos <= h->n);
    assert_true(item_of(n)->in);
    size_t count = 1;
    const struct corio_heap_node *kids[2] = {n->left, n->right};
    for (size_t k = 0; k < 2; k++) {
        if (kids[k] == NULL)
            continue;
        assert_ptr_equal(kids[k]->parent, n);
        assert_false(item_before(item_of(kids[k]), item_of(n)));
        count += check_subtree(h, kids[k], 2 * pos + k);
    }
    return count;
}

/* Every node is at a distinct position <= n and there are n of them: the tree is
 * complete, ordered and linked both ways. */
static void check_heap(const struct corio_heap *h)
{
    if (h->min == NULL) {
        assert_int_equal(h->n, 0);
        return;
    }
    assert_null(h->min->parent);
    assert_int_equal(check_subtree(h, h->min, 1), h->n);
}

static const struct item *sort_base;

static int cmp_index(const void *a, const void *b)
{
    const struct item *x = &sort_base[*(const int *)a], *y = &sort_base[*(const int *)b];
    return item_before(x, y) ? -1 : item_before(y, x) ? 1 : 0;
}

/* Indices of the items in the heap, in the order they must come out. */
static int expected_order(int *out, int count)
{
    int m = 0;
    for (int i = 0; i < count; i++)
        if (items[i].in)
            out[m++] = i;
    sort_base = items;
    qsort(out, (size_t)m, sizeof *out, cmp_index);
    return m;
}

/* Pops everything and checks it comes out exactly in `expect` order. */
static void drain_in_order(struct corio_heap *h, const int *expect, int m)
{
    assert_int_equal(h->n, (size_t)m);
    for (int k = 0; k < m; k++) {
        struct item *it = pop(h);
        assert_non_null(it);
        assert_int_equal(it - items, expect[k]);
        if (k % 997 == 0)
            check_heap(h);
    }
    assert_null(pop(h));
    assert_int_equal(h->n, 0);
    assert_null(corio_heap_min(h));
}

static void heap_setup(struct corio_heap *h, uint64_t seed)
{
    memset(items, 0, sizeof items);
    inserts = 0;
    rng_seed(seed);
    corio_heap_init(h);
    assert_null(corio_heap_min(h));
    assert_int_equal(h->n, 0);
}

static int expect[2 * N];

static void test_heap_pops_10000_random_deadlines_by_deadline_then_insertion(void **state)
{
    (void)state;
    struct corio_heap h;
    heap_setup(&h, 1);
    for (int i = 0; i < N; i++) {
        /* Half from a narrow range (about ten ties per deadline), half from the whole
         * 64-bit range (a comparison that truncated the key would misorder them). */
        uint64_t when = (i % 2) ? rng() % 1000 : rng();
        if (i == 17)
            when = UINT64_MAX;
        if (i == 18 || i == N - 1)
            when = 0; /* the last one set ties with an early one: it must come after */
        put(&h, &items[i], when);
        if (i % 1000 == 999)
            check_heap(&h);
    }
    assert_int_equal(h.n, N);
    check_heap(&h);
    int m = expected_order(expect, N);
    assert_int_equal(m, N);
    assert_int_equal(expect[N - 1], 17);
    drain_in_order(&h, expect, m);
}

/* The node at the last position of the complete tree (the one a removal moves). */
static struct item *last_position(struct corio_heap *h)
{
    size_t pos = h->n;
    unsigned depth = 0;
    while ((pos >> depth) > 1)
        depth++;
    struct corio_heap_node *n = h->min;
    while (depth-- > 0)
        n = ((pos >> depth) & 1) ? n->right : n->left;
    return item_of(n);
}

static struct item *latest(int count)
{
    struct item *max = NULL;
    for (int i = 0; i < count; i++)
        if (items[i].in && (max == NULL || item_before(max, &items[i])))
            max = &items[i];
    return max;
}

static void test_heap_removals_at_head_tail_and_middle_leave_the_rest_in_order(void **state)
{
    (void)state;
    struct corio_heap h;
    heap_setup(&h, 2);
    for (int i = 0; i < N; i++)
        put(&h, &items[i], rng() % 5000);
    size_t left = N;

    /* The head: the next one due. */
    for (int k = 0; k < 50; k++) {
        struct item *head = item_of(corio_heap_min(&h));
        take(&h, head);
        assert_int_equal(h.n, --left);
        check_heap(&h);
    }
    /* The tail of the tree: the node at the last position. */
    for (int k = 0; k < 50; k++) {
        take(&h, last_position(&h));
        assert_int_equal(h.n, --left);
        check_heap(&h);
    }
    /* The tail of the order: the last one due. */
    for (int k = 0; k < 50; k++) {
        take(&h, latest(N));
        assert_int_equal(h.n, --left);
        check_heap(&h);
    }
    /* The middle: every third one still in, wherever it sits. */
    for (int i = 0, k = 0; i < N; i += 3) {
        if (!items[i].in)
            continue;
        take(&h, &items[i]);
        assert_int_equal(h.n, --left);
        if (++k % 100 == 0)
            check_heap(&h);
    }
    check_heap(&h);

    /* What is left comes out in order; nothing removed comes out (pop checks `in`). */
    int m = expected_order(expect, N);
    assert_int_equal((size_t)m, left);
    assert_true(m > N / 2);
    drain_in_order(&h, expect, m);
}

static void test_heap_reinserted_nodes_order_by_new_deadline_after_equal_ones(void **state)
{
    (void)state;
    struct corio_heap h;
    heap_setup(&h, 3);
    for (int i = 0; i < N; i++)
        put(&h, &items[i], rng() % 1000);

    /* The head re-set at its own deadline goes behind the others due then. */
    struct item *head = item_of(corio_heap_min(&h));
    uint64_t when = head->node.when;
    int ties = 0;
    for (int i = 0; i < N; i++)
        ties += items[i].node.when == when;
    assert_true(ties > 1);
    take(&h, head);
    put(&h, head, when);
    assert_ptr_not_equal(item_of(corio_heap_min(&h)), head);
    assert_int_equal(item_of(corio_heap_min(&h))->node.when, when);

    /* Many removed and re-set at new deadlines, some of them twice. */
    for (int k = 0; k < 3000; k++) {
        struct item *it = &items[rng() % N];
        take(&h, it);
        put(&h, it, rng() % 1000);
        if (k % 300 == 0)
            check_heap(&h);
    }
    /* Stopped ones re-started later, after other inserts. */
    for (int i = 0; i < N; i += 7)
        take(&h, &items[i]);
    for (int i = (N - 1) / 7 * 7; i >= 0; i -= 7)
        put(&h, &items[i], rng() % 1000);
    assert_int_equal(h.n, N);
    check_heap(&h);

    int m = expected_order(expect, N);
    assert_int_equal(m, N);
    drain_in_order(&h, expect, m);
}

static void test_heap_grows_to_20000_with_interleaved_pops_and_loses_nothing(void **state)
{
    (void)state;
    struct corio_heap h;
    heap_setup(&h, 4);
    /* Like a timer queue: deadlines are never before the last one fired, so what comes
     * out must be non-decreasing in (deadline, order) overall. */
    const struct item *last = NULL;
    uint64_t now = 0;
    int added = 0, popped = 0;
    size_t peak = 0;
    while (popped < 2 * N) {
        if (added < 2 * N) {
            for (int k = 0; k < 3 && added < 2 * N; k++, added++)
                put(&h, &items[added], now + rng() % 100);
        }
        if (h.n > peak)
            peak = h.n;
        struct item *it = pop(&h);
        assert_non_null(it);
        if (last != NULL)
            assert_false(item_before(it, last));
        last = it;
        now = it->node.when;
        popped++;
        assert_int_equal(h.n, (size_t)(added - popped));
        if (popped % 1000 == 0)
            check_heap(&h);
    }
    assert_true(peak > N); /* it really grew past 10,000 */
    assert_null(corio_heap_min(&h));
    for (int i = 0; i < 2 * N; i++)
        assert_false(items[i].in);
}

/* ---- loop timers through the internal API ------------------------------------------- */

struct fires {
    int n;
    uint64_t at;
};

static void count_fire(void *arg)
{
    struct fires *f = arg;
    f->n++;
    f->at = corio_clock_ns();
}

static void test_stopped_loop_timer_never_fires_and_restarting_it_fires_it_once(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    struct fires f = {0};
    struct corio_timer t = {.fn = count_fire, .arg = &f};

    corio_timer_start(loop, &t, corio_clock_ns() + 1 * MS);
    assert_true(t.pending);
    assert_int_equal(loop->ntimers, 1);
    corio_timer_stop(loop, &t);
    assert_false(t.pending);
    assert_int_equal(loop->ntimers, 0);
    corio_timer_stop(loop, &t); /* stopping a stopped timer changes nothing */
    assert_int_equal(loop->ntimers, 0);
    assert_int_equal(loop->timers.n, 0);
    assert_int_equal(corio_loop_run(loop), 0); /* nothing pending: returns at once */
    assert_int_equal(f.n, 0);

    uint64_t when = corio_clock_ns() + 2 * MS;
    corio_timer_start(loop, &t, when);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(f.n, 1);
    assert_true(f.at >= when);
    assert_false(t.pending);
    assert_int_equal(loop->ntimers, 0);

    /* Once more, with a deadline already past. */
    corio_timer_start(loop, &t, 1);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(f.n, 2);
    assert_int_equal(loop->timers.n, 0);
    corio_loop_free(loop);
}

#define TIES 1000

static struct {
    struct corio_timer t[TIES];
    int order[TIES];
    int fired[TIES];
    int n;
} tie;

static void tie_fire(void *arg)
{
    int i = (int)(uintptr_t)arg;
    tie.fired[i]++;
    if (tie.n < TIES)
        tie.order[tie.n++] = i;
}

static void test_equal_deadlines_on_the_loop_fire_in_the_order_they_were_set(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    memset(&tie, 0, sizeof tie);
    memset(items, 0, sizeof items);
    rng_seed(5);
    /* Ten distinct deadlines, each shared by ~100 timers set in random deadline order. */
    uint64_t base = corio_clock_ns() + 1 * MS;
    for (int i = 0; i < TIES; i++) {
        tie.t[i] = (struct corio_timer){.fn = tie_fire, .arg = (void *)(uintptr_t)i};
        corio_timer_start(loop, &tie.t[i], base + (rng() % 10) * MS);
        items[i].node.when = tie.t[i].node.when; /* mirror for expected_order */
        items[i].order = (uint64_t)i;
        items[i].in = true;
    }
    for (int i = 0; i < TIES; i += 10) {
        corio_timer_stop(loop, &tie.t[i]);
        items[i].in = false;
    }
    int m = expected_order(expect, TIES);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(tie.n, m);
    assert_memory_equal(tie.order, expect, (size_t)m * sizeof *expect);
    for (int i = 0; i < TIES; i++)
        assert_int_equal(tie.fired[i], i % 10 ? 1 : 0);
    corio_loop_free(loop);
}

/* ---- call_later ------------------------------------------------------------------- */

static struct {
    corio_loop_t *loop;
    corio_timer_t *h[N];
    uint64_t delay[N], when[N];
    int fired[N];
    int order[N];
    int n;
    int early;   /* fired before its deadline */
    int bad_set; /* deadline outside [clock before + delay, clock after + delay] */
    int set_err;
    /* cancelled by the first timer to fire */
    int cancel_from_cb[100];
    int ncancel_from_cb;
    int cancel_err;
} cl;

static void cl_fire(void *arg)
{
    int i = (int)(uintptr_t)arg;
    if (corio_clock_ns() < cl.when[i])
        cl.early++;
    cl.fired[i]++;
    if (cl.n < N)
        cl.order[cl.n++] = i;
    cl.h[i] = NULL; /* the handle is invalid once fn has started */
    if (cl.n == 1) {
        for (int k = 0; k < cl.ncancel_from_cb; k++) {
            int j = cl.cancel_from_cb[k];
            if (cl.h[j] == NULL || corio_timer_cancel(cl.h[j]) != 0)
                cl.cancel_err++;
            cl.h[j] = NULL;
        }
    }
}

/* Sets N timers with random delays within 30 ms (quantised to 10 us, so many delays are
 * equal), recording each deadline the loop gave it. */
static void cl_set_all(void *arg)
{
    (void)arg;
    for (int i = 0; i < N; i++) {
        uint64_t before = corio_clock_ns();
        if (corio_call_later(cl.loop, cl.delay[i], cl_fire, (void *)(uintptr_t)i, &cl.h[i]) != 0) {
            cl.set_err++;
            continue;
        }
        uint64_t after = corio_clock_ns();
        cl.when[i] = cl.h[i]->node.when;
        if (cl.when[i] < before + cl.delay[i] || cl.when[i] > after + cl.delay[i])
            cl.bad_set++;
    }
}

static void cl_setup(uint64_t seed)
{
    memset(&cl, 0, sizeof cl);
    memset(items, 0, sizeof items);
    rng_seed(seed);
    cl.loop = support_loop(0);
    for (int i = 0; i < N; i++)
        cl.delay[i] = (rng() % 3000) * 10000;
}

/* The fire order the deadlines determine: by deadline, ties in the order set. */
static int cl_expected(void)
{
    for (int i = 0; i < N; i++) {
        items[i].node.when = cl.when[i];
        items[i].order = (uint64_t)i;
        items[i].in = cl.h[i] != NULL;
    }
    return expected_order(expect, N);
}

static void test_10000_call_later_timers_fire_in_deadline_order_once_never_early(void **state)
{
    (void)state;
    cl_setup(6);
    uint64_t start = corio_clock_ns();
    assert_int_equal(corio_call_soon(cl.loop, cl_set_all, NULL), 0);
    assert_int_equal(corio_loop_run(cl.loop), 0);
    uint64_t elapsed = corio_clock_ns() - start;
    assert_int_equal(cl.set_err, 0);
    assert_int_equal(cl.bad_set, 0);
    assert_int_equal(cl.early, 0);
    assert_int_equal(cl.n, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(cl.fired[i], 1);
        items[i] = (struct item){.node.when = cl.when[i], .order = (uint64_t)i, .in = true};
    }
    int m = expected_order(expect, N);
    assert_int_equal(m, N);
    assert_memory_equal(cl.order, expect, sizeof(int) * N);
    assert_true(elapsed >= 29 * MS); /* the latest delay is within 10 us of 30 ms */
    assert_true(elapsed < 5000 * MS);
    assert_int_equal(cl.loop->ntimers, 0);
    corio_loop_free(cl.loop);
}

static void test_cancelled_timers_never_fire_and_all_the_others_fire_once(void **state)
{
    (void)state;
    cl_setup(7);
    cl_set_all(NULL);
    assert_int_equal(cl.set_err, 0);
    assert_int_equal(cl.bad_set, 0);
    bool cancelled[N] = {0};

    /* Every other one. */
    for (int i = 1; i < N; i += 2) {
        assert_int_equal(corio_timer_cancel(cl.h[i]), 0);
        cl.h[i] = NULL;
        cancelled[i] = true;
    }
    /* The one due first of those left: the heap's head. */
    int m = cl_expected();
    int first = expect[0];
    assert_ptr_equal(corio_heap_min(&cl.loop->timers), &cl.h[first]->node);
    assert_int_equal(corio_timer_cancel(cl.h[first]), 0);
    cl.h[first] = NULL;
    cancelled[first] = true;
    assert_int_equal(cl.loop->ntimers, (size_t)(m - 1));

    /* And the 100 due last, cancelled by the first timer to fire. */
    m = cl_expected();
    for (int k = 0; k < 100; k++) {
        cl.cancel_from_cb[k] = expect[m - 1 - k];
        cancelled[expect[m - 1 - k]] = true;
        items[expect[m - 1 - k]].in = false;
    }
    cl.ncancel_from_cb = 100;
    m = expected_order(expect, N);

    assert_int_equal(corio_loop_run(cl.loop), 0);
    assert_int_equal(cl.cancel_err, 0);
    assert_int_equal(cl.early, 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(cl.fired[i], cancelled[i] ? 0 : 1);
    assert_int_equal(cl.n, m);
    assert_memory_equal(cl.order, expect, (size_t)m * sizeof *expect);
    assert_int_equal(cl.loop->ntimers, 0);
    corio_loop_free(cl.loop);
}

struct same {
    corio_timer_t *victim;
    int cancel_rc;
    int order[3];
    int n;
};

static void same_first(void *arg)
{
    struct same *s = arg;
    s->order[s->n++] = 1;
    s->cancel_rc = corio_timer_cancel(s->victim);
}

static void same_victim(void *arg)
{
    struct same *s = arg;
    if (s->n < 3)
        s->order[s->n++] = 2;
}

static void same_after(void *arg)
{
    struct same *s = arg;
    if (s->n < 3)
        s->order[s->n++] = 3;
}

static void test_timer_cancelled_by_a_timer_due_at_the_same_instant_never_fires(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    struct same s = {.cancel_rc = 1};
    corio_timer_t *first, *after;
    assert_int_equal(corio_call_later(loop, 5 * MS, same_first, &s, &first), 0);
    assert_int_equal(corio_call_later(loop, 5 * MS, same_victim, &s, &s.victim), 0);
    assert_int_equal(corio_call_later(loop, 5 * MS, same_after, &s, &after), 0);
    /* Give all three exactly the first one's deadline (re-set in the same order), so
     * one pass of the loop finds all of them due. */
    uint64_t when = first->node.when;
    corio_timer_stop(loop, s.victim);
    corio_timer_start(loop, s.victim, when);
    corio_timer_stop(loop, after);
    corio_timer_start(loop, after, when);
    assert_int_equal(loop->ntimers, 3);

    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(s.cancel_rc, 0);
    int expect_order[] = {1, 3};
    assert_int_equal(s.n, 2);
    assert_memory_equal(s.order, expect_order, sizeof expect_order);
    assert_int_equal(loop->ntimers, 0);
    corio_loop_free(loop);
}

#define REARMS 100

struct rearm {
    corio_loop_t *loop;
    int depth;
    int nested;
    int n;
    int err;
    uint64_t iteration[REARMS];
    int soon_seen[REARMS];
    int soon;
    struct corio_timer own; /* re-armed through the internal API when own.fn is set */
};

static void rearm_fire(void *arg)
{
    struct rearm *r = arg;
    if (r->depth > 0)
        r->nested++;
    r->depth++;
    corio_loop_stats_t st;
    corio_loop_stats(r->loop, &st);
    r->iteration[r->n] = st.iterations;
    r->soon_seen[r->n] = r->soon;
    r->n++;
    if (r->n < REARMS) {
        if (r->own.fn != NULL)
            corio_timer_start(r->loop, &r->own, 1); /* due already, like a past deadline */
        else if (corio_call_later(r->loop, 0, rearm_fire, r, NULL) != 0)
            r->err++;
    }
    r->depth--;
}

/* Runs once per iteration while the timer keeps re-arming. */
static void rearm_soon(void *arg)
{
    struct rearm *r = arg;
    r->soon++;
    if (r->n < REARMS && corio_call_soon(r->loop, rearm_soon, r) != 0)
        r->err++;
}

static void check_rearm(struct rearm *r)
{
    assert_int_equal(corio_call_soon(r->loop, rearm_soon, r), 0);
    assert_int_equal(corio_loop_run(r->loop), 0);
    assert_int_equal(r->err, 0);
    assert_int_equal(r->n, REARMS);
    assert_int_equal(r->nested, 0);
    for (int k = 1; k < REARMS; k++) {
        /* Each on a later iteration than the one that set it, and the call_soon chain
         * got to run in between: the re-arming timer does not hold the loop. */
        assert_true(r->iteration[k] > r->iteration[k - 1]);
        assert_true(r->soon_seen[k] > r->soon_seen[k - 1]);
    }
    assert_int_equal(r->loop->ntimers, 0);
    corio_loop_free(r->loop);
}

static void test_zero_delay_timer_set_by_a_callback_runs_on_a_later_iteration(void **state)
{
    (void)state;
    static struct rearm r;
    r = (struct rearm){.loop = support_loop(0)};
    assert_int_equal(corio_call_later(r.loop, 0, rearm_fire, &r, NULL), 0);
    check_rearm(&r);
}

/* The same with a deadline already past when set, so that the clock cannot be what
 * holds the new timer back: only "set while firing" can. */
static void test_past_deadline_timer_set_by_its_callback_waits_for_the_next_iteration(void **state)
{
    (void)state;
    static struct rearm r;
    r = (struct rearm){.loop = support_loop(0)};
    r.own = (struct corio_timer){.fn = rearm_fire, .arg = &r};
    corio_timer_start(r.loop, &r.own, 1);
    check_rearm(&r);
}

static void test_bad_arguments_are_einval(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    struct fires f = {0};
    corio_timer_t *h = NULL;
    assert_int_equal(corio_timer_cancel(NULL), -EINVAL);
    assert_int_equal(corio_call_later(NULL, 0, count_fire, &f, &h), -EINVAL);
    assert_int_equal(corio_call_later(loop, 0, NULL, &f, &h), -EINVAL);
    /* A rejected call leaves nothing pending. */
    assert_int_equal(loop->ntimers, 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(f.n, 0);
    corio_loop_free(loop);
}

static void test_loop_with_only_timers_sleeps_until_the_earliest_then_returns(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    struct fires a = {0}, b = {0};
    corio_loop_stats_t before, after;
    corio_loop_stats(loop, &before);
    uint64_t start = corio_clock_ns();
    assert_int_equal(corio_call_later(loop, 20 * MS, count_fire, &a, NULL), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    uint64_t end = corio_clock_ns();
    corio_loop_stats(loop, &after);
    assert_int_equal(a.n, 1);
    assert_true(a.at >= start + 20 * MS);
    assert_true(end - start < 2000 * MS);
    /* Slept in the kernel: a busy loop would take thousands of enters in 20 ms. */
    assert_true(after.enters - before.enters <= 5);
    assert_true(after.iterations - before.iterations <= 5);
    assert_int_equal(loop->ntimers, 0);

    /* Two timers: a sleep until each. */
    before = after;
    start = corio_clock_ns();
    assert_int_equal(corio_call_later(loop, 20 * MS, count_fire, &b, NULL), 0);
    assert_int_equal(corio_call_later(loop, 10 * MS, count_fire, &a, NULL), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    corio_loop_stats(loop, &after);
    assert_int_equal(a.n, 2);
    assert_int_equal(b.n, 1);
    assert_true(a.at >= start + 10 * MS);
    assert_true(b.at >= start + 20 * MS);
    assert_true(a.at < b.at);
    assert_true(after.enters - before.enters <= 8);
    assert_true(after.iterations - before.iterations <= 8);

    /* Every timer cancelled: nothing remains, so the loop does not wait for an hour. */
    before = after;
    corio_timer_t *h;
    assert_int_equal(corio_call_later(loop, 3600000 * MS, count_fire, &b, &h), 0);
    assert_int_equal(corio_timer_cancel(h), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    corio_loop_stats(loop, &after);
    assert_int_equal(b.n, 1);
    assert_true(after.iterations - before.iterations <= 1);
    corio_loop_free(loop);
}

struct huge {
    corio_timer_t *h[2];
    int fired;
    int cancel_err;
};

static void huge_fire(void *arg)
{
    struct huge *s = arg;
    s->fired++;
}

static void huge_cancel(void *arg)
{
    struct huge *s = arg;
    for (int k = 0; k < 2; k++)
        if (s->fired > 0 || corio_timer_cancel(s->h[k]) != 0)
            s->cancel_err++;
}

static void test_call_later_with_a_huge_delay_saturates_instead_of_wrapping(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    struct huge s = {0};
    assert_int_equal(corio_call_later(loop, UINT64_MAX, huge_fire, &s, &s.h[0]), 0);
    assert_int_equal(corio_call_later(loop, UINT64_MAX - 1000, huge_fire, &s, &s.h[1]), 0);
    assert_int_equal(s.h[0]->node.when, UINT64_MAX);
    assert_int_equal(s.h[1]->node.when, UINT64_MAX);
    assert_int_equal(corio_call_later(loop, 1 * MS, huge_cancel, &s, NULL), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(s.fired, 0);
    assert_int_equal(s.cancel_err, 0);
    corio_loop_free(loop);
}

static void test_pending_timers_are_dropped_unrun_when_the_loop_is_freed(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    struct fires f = {0};
    assert_int_equal(corio_call_later(loop, 0, count_fire, &f, NULL), 0);
    assert_int_equal(corio_call_later(loop, 3600000 * MS, count_fire, &f, NULL), 0);
    corio_loop_free(loop); /* under ASan, a timer not freed here is reported as a leak */
    assert_int_equal(f.n, 0);
}

/* A handle outlives its timer's firing: cancelling it then is refused with -ENOENT (and
 * gives the handle back), also from inside the timer's own function. Under ASan this
 * was a use after free: the timer was freed before its function ran. */
struct fired_cancel {
    corio_timer_t *self;
    int inside_rc;
    int n;
};

static void cancel_self(void *arg)
{
    struct fired_cancel *c = arg;
    c->n++;
    c->inside_rc = corio_timer_cancel(c->self);
}

static void test_cancel_after_the_timer_fired_is_enoent_not_a_use_after_free(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    struct fires f = {0};
    corio_timer_t *h = NULL;
    assert_int_equal(corio_call_later(loop, 0, count_fire, &f, &h), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(f.n, 1);
    assert_int_equal(corio_timer_cancel(h), -ENOENT);

    struct fired_cancel c = {0};
    assert_int_equal(corio_call_later(loop, 0, cancel_self, &c, &c.self), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.inside_rc, -ENOENT);

    /* Handles never given back are freed with the loop (ASan's leak check sees it). */
    assert_int_equal(corio_call_later(loop, 0, count_fire, &f, &h), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(f.n, 2);
    corio_loop_free(loop);
}

int main(void)
{
    support_require_uring();
    support_watchdog(60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cancel_after_the_timer_fired_is_enoent_not_a_use_after_free),
        cmocka_unit_test(test_heap_pops_10000_random_deadlines_by_deadline_then_insertion),
        cmocka_unit_test(test_heap_removals_at_head_tail_and_middle_leave_the_rest_in_order),
        cmocka_unit_test(test_heap_reinserted_nodes_order_by_new_deadline_after_equal_ones),
        cmocka_unit_test(test_heap_grows_to_20000_with_interleaved_pops_and_loses_nothing),
        cmocka_unit_test(test_stopped_loop_timer_never_fires_and_restarting_it_fires_it_once),
        cmocka_unit_test(test_equal_deadlines_on_the_loop_fire_in_the_order_they_were_set),
        cmocka_unit_test(test_10000_call_later_timers_fire_in_deadline_order_once_never_early),
        cmocka_unit_test(test_cancelled_timers_never_fire_and_all_the_others_fire_once),
        cmocka_unit_test(test_timer_cancelled_by_a_timer_due_at_the_same_instant_never_fires),
        cmocka_unit_test(test_zero_delay_timer_set_by_a_callback_runs_on_a_later_iteration),
        cmocka_unit_test(test_past_deadline_timer_set_by_its_callback_waits_for_the_next_iteration),
        cmocka_unit_test(test_bad_arguments_are_einval),
        cmocka_unit_test(test_loop_with_only_timers_sleeps_until_the_earliest_then_returns),
        cmocka_unit_test(test_call_later_with_a_huge_delay_saturates_instead_of_wrapping),
        cmocka_unit_test(test_pending_timers_are_dropped_unrun_when_the_loop_is_freed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
