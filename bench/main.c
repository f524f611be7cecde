/* corio-bench: every benchmark with its baseline, then a summary of the ratios. */
#include "bench.h"

#include <stdio.h>

void bench_line(const char *what, const char *a_name, double a, const char *b_name, double b)
{
    if (a <= 0 || b <= 0) {
        printf("%-40s %s or %s did not run\n", what, a_name, b_name);
        return;
    }
    printf("%-40s %-16s %9.2f  %-16s %9.2f  ratio %.2fx\n", what, a_name, a, b_name, b, a / b);
}

int main(int argc, char **argv)
{
    bench_switch_register();
    bench_loop_register();
    bench_sync_register();
    if (corio_bench_main(argc, argv) != 0)
        return 1;
    printf("\nSummary (same run; a ratio below 1 means corio is faster or cheaper):\n");
    bench_switch_summary();
    bench_loop_summary();
    bench_sync_summary();
    return 0;
}
