/* A latency histogram in the manner of HdrHistogram: log-linear buckets holding 3
 * significant digits over a fixed range, with no memory per value and a fixed cost per
 * record. Values are nanoseconds; the range is HIST_LOWEST_NS (1 µs) to HIST_HIGHEST_NS
 * (60 s), and a value outside it is recorded as the nearer bound and counted in `clamped`.
 *
 * Layout: below 2048 ns one bucket per nanosecond; above, each power of two [2^k, 2^(k+1))
 * is cut into 1024 equal buckets, so a bucket is at most 1/1024 of the values it holds
 * (2048 sub-buckets per power of two of HdrHistogram's counting, half of them shared with
 * the power below). A histogram is a plain struct (about 220 KB): zero it, or
 * hist_init, and it needs no freeing. */
#ifndef CORIO_FETCH_HIST_H
#define CORIO_FETCH_HIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HIST_LOWEST_NS  1000ull                 /* 1 µs */
#define HIST_HIGHEST_NS (60ull * 1000000000ull) /* 60 s */
#define HIST_SUB_BITS   11                      /* 2048: 3 significant digits */
/* Powers of two past the linear first 2048: 2^11 .. 2^35 (60 s < 2^36 ns). */
#define HIST_BUCKETS 25
#define HIST_LEN     ((HIST_BUCKETS + 2) << (HIST_SUB_BITS - 1))

struct hist {
    uint64_t count;    /* values recorded */
    uint64_t clamped;  /* of which outside [HIST_LOWEST_NS, HIST_HIGHEST_NS] */
    uint64_t min, max; /* exact, of the (clamped) values; min is UINT64_MAX when empty */
    uint64_t sum;      /* of the (clamped) values, for the mean */
    uint64_t counts[HIST_LEN];
};

/* Empties h. A zeroed struct hist is empty as well (its min then reads 0 until the first
 * record). */
void hist_init(struct hist *h);

/* Records one value of v nanoseconds (clamped into the range). */
void hist_record(struct hist *h, uint64_t v);

/* Adds every value of src to dst. */
void hist_merge(struct hist *dst, const struct hist *src);

/* The mean in nanoseconds; 0 when empty. */
double hist_mean(const struct hist *h);

/* The smallest recorded value, 0 when empty. */
uint64_t hist_min(const struct hist *h);

/* The value at percentile p (0..100): the nearest-rank value, the ceil(p/100 * count)-th
 * smallest, reported as the highest value its bucket holds (so never below the true one,
 * and above it by at most its bucket's width) and never above max nor below min. 0 when
 * empty; p outside 0..100 is taken as the nearer end. */
uint64_t hist_value_at(const struct hist *h, double p);

/* The bucket a value falls in, and the lowest and highest values that bucket holds
 * (values are clamped first). */
size_t hist_index(uint64_t v);
uint64_t hist_lowest_of(size_t idx);
uint64_t hist_highest_of(size_t idx);

/* The percentile spectrum, as HdrHistogram's percentile iterator walks it: levels 0, then
 * closer and closer to 100 (ticks levels per halving of the distance to 100), each with the
 * value reached there and the count of values at or below it, ending with 100 at max. */
struct hist_point {
    double percentile; /* 0..100 */
    uint64_t value;    /* ns: the highest value of the bucket reached, capped at max */
    uint64_t count;    /* values at or below that bucket */
};
struct hist_iter {
    const struct hist *h;
    size_t idx;     /* the bucket reached; HIST_LEN before the first */
    uint64_t cum;   /* values in buckets up to idx */
    double next;    /* the next level to report */
    unsigned ticks; /* levels per half distance to 100 */
    bool last_done; /* the closing 100 level was reported */
};

/* Starts a walk over h with ticks levels per half distance (HdrHistogram's
 * ticksPerHalfDistance; 5 when 0). h must stay unchanged during the walk. */
void hist_iter_init(struct hist_iter *it, const struct hist *h, unsigned ticks);

/* The next point into *out: true, or false when the walk is over (at once when empty). */
bool hist_iter_next(struct hist_iter *it, struct hist_point *out);

#endif
