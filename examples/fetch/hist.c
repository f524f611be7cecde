/* corio-fetch's latency histogram (hist.h): HdrHistogram's log-linear counting, 3
 * significant digits from 1 µs to 60 s, and its percentile queries and spectrum walk. */
#include "hist.h"

#include <math.h>
#include <string.h>

#define HALF (1u << (HIST_SUB_BITS - 1)) /* 1024 buckets per power of two past the first */

void hist_init(struct hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

static uint64_t clamp(uint64_t v)
{
    return v < HIST_LOWEST_NS ? HIST_LOWEST_NS : v > HIST_HIGHEST_NS ? HIST_HIGHEST_NS : v;
}

/* k, the power of two past the linear part (0 below 2048): v's bucket is v >> k within
 * block k. Block k >= 1 holds [2^(k+10), 2^(k+11)) in steps of 2^k, and its lower half of
 * indexes is the upper half of block k - 1's range, hence (k << 10) + (v >> k). */
static inline unsigned shift_of(uint64_t v)
{
    unsigned msb = 63u - (unsigned)__builtin_clzll(v | (2 * HALF - 1));
    return msb - (HIST_SUB_BITS - 1);
}

size_t hist_index(uint64_t v)
{
    v = clamp(v);
    unsigned k = shift_of(v);
    return ((size_t)k << (HIST_SUB_BITS - 1)) + (size_t)(v >> k);
}

uint64_t hist_lowest_of(size_t idx)
{
    unsigned k = idx < 2 * HALF ? 0 : (unsigned)(idx >> (HIST_SUB_BITS - 1)) - 1;
    return (uint64_t)(idx - ((size_t)k << (HIST_SUB_BITS - 1))) << k;
}

uint64_t hist_highest_of(size_t idx)
{
    unsigned k = idx < 2 * HALF ? 0 : (unsigned)(idx >> (HIST_SUB_BITS - 1)) - 1;
    return hist_lowest_of(idx) + (1ull << k) - 1;
}

void hist_record(struct hist *h, uint64_t v)
{
    uint64_t c = clamp(v);
    h->clamped += c != v;
    unsigned k = shift_of(c);
    h->counts[((size_t)k << (HIST_SUB_BITS - 1)) + (size_t)(c >> k)]++;
    h->count++;
    h->sum += c;
    if (c > h->max)
        h->max = c;
    if (c < h->min || h->count == 1) /* a zeroed struct starts with min 0 */
        h->min = c;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    if (src->count == 0)
        return;
    for (size_t i = 0; i < HIST_LEN; i++)
        dst->counts[i] += src->counts[i];
    if (dst->count == 0 || src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
    dst->count += src->count;
    dst->clamped += src->clamped;
    dst->sum += src->sum;
}

double hist_mean(const struct hist *h)
{
    return h->count ? (double)h->sum / (double)h->count : 0;
}

uint64_t hist_min(const struct hist *h)
{
    return h->count ? h->min : 0;
}

/* A bucket's reported value: its highest, within what was recorded. */
static uint64_t reported(const struct hist *h, size_t idx)
{
    uint64_t v = hist_highest_of(idx);
    return v > h->max ? h->max : v < h->min ? h->min : v;
}

uint64_t hist_value_at(const struct hist *h, double p)
{
    if (h->count == 0)
        return 0;
    if (!(p > 0)) /* also NaN */
        p = 0;
    if (p > 100)
        p = 100;
    /* ceil(p/100 * count), without letting a product such as 0.999 * 1000 =
     * 999.0000000000001 step to the next rank. */
    double x = p / 100 * (double)h->count;
    uint64_t rank = (uint64_t)x;
    if ((double)rank < x * (1 - 1e-12))
        rank++;
    if (rank < 1)
        rank = 1;
    if (rank > h->count)
        rank = h->count;
    uint64_t seen = 0;
    for (size_t i = 0; i < HIST_LEN; i++) {
        seen += h->counts[i];
        if (seen >= rank)
            return reported(h, i);
    }
    return h->max;
}

void hist_iter_init(struct hist_iter *it, const struct hist *h, unsigned ticks)
{
    *it = (struct hist_iter){.h = h, .idx = HIST_LEN, .ticks = ticks ? ticks : 5};
}

/* Moves to the next non-empty bucket; false past the last. */
static bool step(struct hist_iter *it)
{
    size_t i = it->idx == HIST_LEN ? 0 : it->idx + 1;
    while (i < HIST_LEN && it->h->counts[i] == 0)
        i++;
    if (i == HIST_LEN)
        return false;
    it->idx = i;
    it->cum += it->h->counts[i];
    return true;
}

bool hist_iter_next(struct hist_iter *it, struct hist_point *out)
{
    const struct hist *h = it->h;
    if (h->count == 0 || it->last_done)
        return false;
    if (it->idx != HIST_LEN && it->cum >= h->count) {
        /* Every value seen: the walk ends at 100 with max. */
        it->last_done = true;
        *out = (struct hist_point){100, h->max, it->cum};
        return true;
    }
    if (it->idx == HIST_LEN && !step(it))
        return false;
    for (;;) {
        if (it->next <= 100.0 * (double)it->cum / (double)h->count) {
            *out = (struct hist_point){it->next, reported(h, it->idx), it->cum};
            /* HdrHistogram's spacing: ticks levels per halving of the distance to 100. */
            double dist = 100 - it->next;
            double halvings = dist > 1e-12 ? floor(log2(100 / dist)) + 1 : 60;
            it->next += 100 / ((double)it->ticks * pow(2, halvings));
            return true;
        }
        if (!step(it)) { /* not reached: the last bucket holds the count */
            it->last_done = true;
            return false;
        }
    }
}
