/* corio-bench: every benchmark with its baseline, then a summary of the ratios. With
 * CORIO_BENCH_MD=FILE the summary is also written as a Markdown table, and with
 * CORIO_BENCH_DAT=FILE as tab-separated data for bench/run.sh's chart. */
#include "bench.h"

#include <corio/corio.h>
#include <stdio.h>
#include <stdlib.h>

static FILE *md, *dat;

void bench_in_task(corio_bench_state_t *st, void *main)
{
    if (corio_run((void *(*)(void *))main, st, NULL) != 0)
        corio_bench_skip(st, "io_uring unavailable");
}

void bench_line(const char *what, const char *a_name, double a, const char *b_name, double b)
{
    if (a <= 0 || b <= 0) {
        printf("%-40s %s or %s did not run\n", what, a_name, b_name);
        if (md != NULL)
            fprintf(md, "| %s | %s | - | %s | - | did not run |\n", what, a_name, b_name);
        return;
    }
    printf("%-40s %-16s %9.2f  %-16s %9.2f  ratio %.2fx\n", what, a_name, a, b_name, b, a / b);
    if (md != NULL)
        fprintf(md, "| %s | %s | %.2f | %s | %.2f | %.2fx |\n", what, a_name, a, b_name, b, a / b);
    if (dat != NULL)
        fprintf(dat, "%s: %s vs %s\t%.4f\n", what, a_name, b_name, a / b);
}

static FILE *open_env(const char *var)
{
    const char *path = getenv(var);
    FILE *f = path != NULL && *path != '\0' ? fopen(path, "w") : NULL;
    if (path != NULL && *path != '\0' && f == NULL)
        perror(path);
    return f;
}

int main(int argc, char **argv)
{
    bench_switch_register();
    bench_loop_register();
    bench_sync_register();
    bench_xloop_register();
    if (corio_bench_main(argc, argv) != 0)
        return 1;
    printf("\nSummary (same run; a ratio below 1 means corio is faster or cheaper):\n");
    md = open_env("CORIO_BENCH_MD");
    dat = open_env("CORIO_BENCH_DAT");
    if (md != NULL)
        fprintf(md, "| measure | corio | value | baseline | value | ratio |\n"
                    "|---|---|---:|---|---:|---:|\n");
    bench_switch_summary();
    bench_loop_summary();
    bench_sync_summary();
    bench_xloop_summary();
    if (md != NULL)
        fclose(md);
    if (dat != NULL)
        fclose(dat);
    return 0;
}
