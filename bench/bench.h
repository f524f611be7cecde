/* Shared by the benchmark files: the shim, and the summary lines that put each result
 * next to its baseline from the same run. */
#ifndef CORIO_BENCH_H
#define CORIO_BENCH_H

#include "shim/bench_shim.h"

/* Prints "what: a_name X, b_name Y, ratio a/b R" (or says which one did not run). */
void bench_line(const char *what, const char *a_name, double a, const char *b_name, double b);

/* A benchmark body that runs as a task: `main` (a void *(*)(void *) given st) is run under
 * corio_run; skipped when io_uring is unavailable. */
void bench_in_task(corio_bench_state_t *st, void *main);

/* Sets up a raw liburing baseline's ring of `entries` with the flags corio asks for
 * (falling back to none on older kernels). Returns 0 or -errno (raw_ring.c). */
struct io_uring;
int bench_raw_ring(struct io_uring *ring, unsigned entries);

void bench_switch_register(void);
void bench_switch_summary(void);
void bench_loop_register(void);
void bench_loop_summary(void);
void bench_sync_register(void);
void bench_sync_summary(void);
void bench_xloop_register(void);
void bench_xloop_summary(void);

#endif
