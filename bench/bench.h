/* Shared by the benchmark files: the shim, and the summary lines that put each result
 * next to its baseline from the same run. */
#ifndef CORIO_BENCH_H
#define CORIO_BENCH_H

#include "shim/bench_shim.h"

/* Prints "what: a_name X, b_name Y, ratio a/b R" (or says which one did not run). */
void bench_line(const char *what, const char *a_name, double a, const char *b_name, double b);

void bench_switch_register(void);
void bench_switch_summary(void);
void bench_loop_register(void);
void bench_loop_summary(void);
void bench_sync_register(void);
void bench_sync_summary(void);

#endif
