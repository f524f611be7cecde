/* Tests of corio-fetch's latency histogram (examples/fetch/hist.c): 3 significant digits at
 * every magnitude from 1 µs to 60 s, buckets that tile the range without gaps, values
 * outside it clamped and counted, percentiles against a sorted copy of random data, merge
 * equal to recording everything in one, the empty histogram, and the percentile spectrum
 * (HdrHistogram's levels, consistent with the percentile query). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"

/* xorshift64*: the same data on every run. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1du;
}

/* Log-uniform from 1 µs to 60 s, so that every magnitude gets values. */
static uint64_t random_latency(void)
{
    double u = (double)(rng() >> 11) / 9007199254740992.0;
    return (uint64_t)exp(log(1e3) + u * (log(60e9) - log(1e3)));
}

static struct hist *new_hist(void)
{
    struct hist *h = malloc(sizeof *h);
    assert_non_null(h);
    hist_init(h);
    return h;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_precision(void **state)
{
    (void)state;
    /* Every bucket from 1 µs up: contiguous with the next, and no wider than a thousandth of
     * the values it holds (3 significant digits). */
    size_t first = hist_index(HIST_LOWEST_NS), last = hist_index(HIST_HIGHEST_NS);
    assert_true(last < HIST_LEN);
    for (size_t i = first; i <= last; i++) {
        uint64_t lo = hist_lowest_of(i), hi = hist_highest_of(i);
        if (i > first && lo != hist_highest_of(i - 1) + 1)
            fail_msg("gap before bucket %zu: %llu after %llu", i, (unsigned long long)lo,
                     (unsigned long long)hist_highest_of(i - 1));
        assert_int_equal(hist_index(lo), i);
        assert_int_equal(hist_index(hi), i);
        if ((hi - lo + 1) * 1000 > lo)
            fail_msg("bucket %zu [%llu, %llu] wider than a thousandth", i, (unsigned long long)lo,
                     (unsigned long long)hi);
    }
    /* Values 0.2% apart at each magnitude fall in different buckets; a value alone reads
     * back within a thousandth. */
    struct hist *h = new_hist();
    for (double v = 1000; v < 59e9; v *= 1.0137) {
        uint64_t a = (uint64_t)v, b = a + a / 500;
        if (hist_index(a) == hist_index(b))
            fail_msg("%llu and %llu share a bucket", (unsigned long long)a, (unsigned long long)b);
        hist_init(h);
        hist_record(h, a);
        hist_record(h, b);
        uint64_t p50 = hist_value_at(h, 50);
        if (p50 < a || p50 > a + a / 1000)
            fail_msg("p50 of {%llu, %llu} read %llu", (unsigned long long)a, (unsigned long long)b,
                     (unsigned long long)p50);
        assert_int_equal(hist_value_at(h, 100), b);
        assert_int_equal(hist_min(h), a);
        assert_int_equal(h->clamped, 0);
    }
    /* Just around the exact linear part's end and the first powers of two. */
    for (uint64_t v = 2040; v < 8200; v++) {
        size_t i = hist_index(v);
        assert_true(hist_lowest_of(i) <= v && v <= hist_highest_of(i));
    }
    free(h);
}

static void test_clamping(void **state)
{
    (void)state;
    struct hist *h = new_hist();
    hist_record(h, 0);
    hist_record(h, 1);
    hist_record(h, HIST_LOWEST_NS - 1);
    hist_record(h, HIST_LOWEST_NS);
    assert_int_equal(h->count, 4);
    assert_int_equal(h->clamped, 3);
    assert_int_equal(hist_min(h), HIST_LOWEST_NS);
    assert_int_equal(hist_value_at(h, 100), HIST_LOWEST_NS);
    hist_record(h, HIST_HIGHEST_NS);
    hist_record(h, HIST_HIGHEST_NS + 1);
    hist_record(h, UINT64_MAX);
    assert_int_equal(h->count, 7);
    assert_int_equal(h->clamped, 5);
    assert_int_equal(h->max, HIST_HIGHEST_NS);
    assert_int_equal(hist_value_at(h, 100), HIST_HIGHEST_NS);
    assert_int_equal(hist_value_at(h, 99), HIST_HIGHEST_NS);
    /* the sum counts the clamped values, so the mean stays within the range */
    assert_true(hist_mean(h) <= (double)HIST_HIGHEST_NS);
    free(h);
}

/* The nearest-rank reference for p in millionths of 100% (990000 = 99%). */
static uint64_t reference(const uint64_t *sorted, size_t n, uint64_t p_millionths)
{
    uint64_t rank = ((uint64_t)n * p_millionths + 999999) / 1000000;
    if (rank < 1)
        rank = 1;
    return sorted[rank - 1];
}

static void check_percentiles(const uint64_t *vals, size_t n)
{
    struct hist *h = new_hist();
    uint64_t *sorted = malloc(n * sizeof *sorted);
    assert_non_null(sorted);
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        hist_record(h, vals[i]);
        sorted[i] = vals[i];
        sum += (double)vals[i];
    }
    qsort(sorted, n, sizeof *sorted, cmp_u64);
    static const uint64_t ps[] = {0,      1000,   10000,  100000, 250000, 500000, 750000,
                                  900000, 990000, 999000, 999900, 999990, 1000000};
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
        uint64_t want = reference(sorted, n, ps[k]);
        uint64_t got = hist_value_at(h, (double)ps[k] / 10000);
        if (got < want || got > want + want / 1000)
            fail_msg("n %zu, p%g: %llu, the sorted data's %llu", n, (double)ps[k] / 10000,
                     (unsigned long long)got, (unsigned long long)want);
    }
    assert_int_equal(h->count, n);
    assert_int_equal(hist_min(h), sorted[0]);
    assert_int_equal(h->max, sorted[n - 1]);
    assert_true(fabs(hist_mean(h) - sum / (double)n) <= 1e-9 * sum / (double)n);
    free(sorted);
    free(h);
}

static void test_percentiles_random(void **state)
{
    (void)state;
    enum { N = 200000 };
    uint64_t *vals = malloc(N * sizeof *vals);
    assert_non_null(vals);
    for (size_t i = 0; i < N; i++)
        vals[i] = random_latency();
    check_percentiles(vals, N);
    check_percentiles(vals, 1);
    check_percentiles(vals, 7);
    check_percentiles(vals, 1000);
    /* A stalling server's shape: mostly ~200 µs, a few near 500 ms. */
    for (size_t i = 0; i < N; i++)
        vals[i] = rng() % 100 == 0 ? 450000000 + rng() % 50000000 : 150000 + rng() % 100000;
    check_percentiles(vals, N);
    /* Many equal values. */
    for (size_t i = 0; i < N; i++)
        vals[i] = 1000000 + (rng() % 3) * 7;
    check_percentiles(vals, N);
    free(vals);
}

static void test_merge(void **state)
{
    (void)state;
    struct hist *all = new_hist(), *a = new_hist(), *b = new_hist(), *m = new_hist();
    for (int i = 0; i < 50000; i++) {
        uint64_t v = i % 97 == 0 ? rng() : random_latency(); /* some clamped */
        hist_record(all, v);
        hist_record(i % 3 ? a : b, v);
    }
    hist_merge(m, a);
    hist_merge(m, b);
    assert_memory_equal(m, all, sizeof *m);
    /* an empty source changes nothing; a zeroed (not hist_init) destination works too */
    struct hist *empty = new_hist();
    hist_merge(m, empty);
    assert_memory_equal(m, all, sizeof *m);
    memset(m, 0, sizeof *m);
    hist_merge(m, b);
    assert_int_equal(hist_min(m), hist_min(b));
    assert_int_equal(m->max, b->max);
    assert_int_equal(m->count, b->count);
    assert_int_equal(hist_value_at(m, 50), hist_value_at(b, 50));
    free(all), free(a), free(b), free(m), free(empty);
}

static void test_empty(void **state)
{
    (void)state;
    struct hist *h = new_hist();
    assert_int_equal(h->count, 0);
    assert_int_equal(hist_min(h), 0);
    assert_int_equal(h->max, 0);
    assert_true(hist_mean(h) == 0);
    assert_int_equal(hist_value_at(h, 0), 0);
    assert_int_equal(hist_value_at(h, 50), 0);
    assert_int_equal(hist_value_at(h, 100), 0);
    struct hist_iter it;
    struct hist_point pt;
    hist_iter_init(&it, h, 5);
    assert_false(hist_iter_next(&it, &pt));
    /* a zeroed struct is empty as well, and its first value is its min */
    memset(h, 0, sizeof *h);
    assert_int_equal(hist_min(h), 0);
    hist_record(h, 5000);
    assert_int_equal(hist_min(h), 5000);
    assert_int_equal(hist_value_at(h, 0), 5000);
    free(h);
}

static void test_spectrum(void **state)
{
    (void)state;
    struct hist *h = new_hist();
    enum { N = 100000 };
    for (int i = 0; i < N; i++)
        hist_record(h, random_latency());
    struct hist_iter it;
    struct hist_point pt, prev = {-1, 0, 0};
    hist_iter_init(&it, h, 5);
    /* HdrHistogram's levels with 5 ticks per half distance */
    static const double first[] = {0,  10, 20,   30, 40,   50, 55,   60,   65,
                                   70, 75, 77.5, 80, 82.5, 85, 87.5, 88.75};
    size_t n = 0;
    while (hist_iter_next(&it, &pt)) {
        if (n < sizeof first / sizeof first[0] && fabs(pt.percentile - first[n]) > 1e-9)
            fail_msg("level %zu is %g, not %g", n, pt.percentile, first[n]);
        assert_true(pt.percentile > prev.percentile || (pt.percentile == 100 && n > 0));
        assert_true(pt.value >= prev.value && pt.count >= prev.count);
        assert_true(pt.count <= N);
        assert_true((double)pt.count >= pt.percentile / 100 * N - 1e-6);
        if (pt.percentile < 100)
            assert_int_equal(pt.value, hist_value_at(h, pt.percentile));
        prev = pt;
        n++;
        assert_true(n < 10000);
    }
    assert_true(n > 50); /* levels up to 1 - 1/N: about 5 per halving, 17 halvings */
    assert_true(prev.percentile == 100);
    assert_int_equal(prev.count, N);
    assert_int_equal(prev.value, h->max);
    assert_false(hist_iter_next(&it, &pt)); /* and stays over */

    /* One value: level 0 at it, then 100 at it. */
    hist_init(h);
    hist_record(h, 123456);
    hist_iter_init(&it, h, 0);
    assert_true(hist_iter_next(&it, &pt));
    assert_true(pt.percentile == 0);
    assert_int_equal(pt.value, 123456);
    assert_int_equal(pt.count, 1);
    assert_true(hist_iter_next(&it, &pt));
    assert_true(pt.percentile == 100);
    assert_int_equal(pt.value, 123456);
    assert_false(hist_iter_next(&it, &pt));
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precision),
        cmocka_unit_test(test_clamping),
        cmocka_unit_test(test_percentiles_random),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_spectrum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
