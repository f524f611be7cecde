/* A C API over Google Benchmark, so that benchmarks are written in C: register a
 * function, time a batch of iterations, add counters, read results back for ratios. */
#ifndef CORIO_BENCH_SHIM_H
#define CORIO_BENCH_SHIM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corio_bench_state corio_bench_state_t;

/* Counter flags (benchmark::Counter's). */
enum {
    CORIO_BENCH_PLAIN = 0,
    CORIO_BENCH_RATE = 1,     /* value / elapsed seconds */
    CORIO_BENCH_PER_ITER = 2, /* value x iterations (an "iteration invariant" value) */
    CORIO_BENCH_INVERT = 4,   /* 1 / value: turns a rate into a time */
};

/* Registers fn(st, arg) under name; fn must call corio_bench_start and corio_bench_stop
 * exactly once. name is copied. */
void corio_bench_register(const char *name, void (*fn)(corio_bench_state_t *, void *), void *arg);

/* As corio_bench_register, for benchmarks whose work runs on other threads too: timed by
 * the wall clock (the calling thread's CPU time would miss the others'). */
void corio_bench_register_real_time(const char *name, void (*fn)(corio_bench_state_t *, void *),
                                    void *arg);

/* Starts the timer and returns how many iterations to run; the C loop runs them without
 * calling back into C++ (a call per iteration would distort nanosecond measurements). */
uint64_t corio_bench_start(corio_bench_state_t *st);

/* Stops the timer after the iterations corio_bench_start asked for. */
void corio_bench_stop(corio_bench_state_t *st);

/* Adds a counter to the benchmark's output line. */
void corio_bench_counter(corio_bench_state_t *st, const char *name, double value, int flags);

/* Marks the benchmark as skipped, with the reason shown in the output. Call instead of
 * start/stop. */
void corio_bench_skip(corio_bench_state_t *st, const char *why);

/* Runs every registered benchmark (command-line flags as Google Benchmark's), printing
 * the usual console table. Returns 0, or 1 on bad flags. */
int corio_bench_main(int argc, char **argv);

/* After corio_bench_main: real time per iteration in ns of a benchmark by name (the mean
 * when repeated), or a negative value when it did not run or was skipped. */
double corio_bench_result_ns(const char *name);

#ifdef __cplusplus
}
#endif

#endif
