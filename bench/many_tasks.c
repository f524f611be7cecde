/* many_tasks: spawns N sleeping tasks (default 1,000,000) on one loop and reports the
 * spawn rate, resident memory and memory mappings per task, then the rate of cancelling
 * and joining them all. The baseline, in the same run, is the stack layout corio uses
 * before Linux 6.13 (a mapping and an mprotect'ed guard page per stack), which
 * vm.max_map_count stops early: its row says where. Skips, saying why, when
 * MemAvailable cannot hold the run.
 *   many_tasks [N]                prints a table and one machine-readable line per row */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HOUR_NS (3600ull * 1000000000ull)

struct run {
    const char *name;
    bool slabs; /* false: the pre-6.13 layout, a mapping each */
    unsigned long want, spawned;
    int err; /* why spawning stopped early (0: it did not) */
    const char *hint;
    double spawn_s, teardown_s;
    double rss_per_task, maps_per_task;
    corio_task_t **tasks;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long meminfo_kb(const char *key)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[128];
    long v = -1;
    size_t len = strlen(key);
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, key, len) == 0 && line[len] == ':')
            v = strtol(line + len + 1, NULL, 10);
    if (f != NULL)
        fclose(f);
    return v;
}

static size_t resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, rss = 0;
    if (f == NULL || fscanf(f, "%lu %lu", &size, &rss) != 2)
        rss = 0;
    if (f != NULL)
        fclose(f);
    return rss * (size_t)sysconf(_SC_PAGESIZE);
}

static size_t mappings(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    size_t n = 0;
    int c;
    while (f != NULL && (c = getc_unlocked(f)) != EOF)
        n += c == '\n';
    if (f != NULL)
        fclose(f);
    return n;
}

static void *sleeper(void *arg)
{
    (void)arg;
    corio_sleep(HOUR_NS);
    return NULL;
}

static void *spawn_all(void *arg)
{
    struct run *r = arg;
    corio_loop_t *loop = corio_current_loop();
    loop->stacks.slabs = loop->stacks.slabs && r->slabs;
    size_t rss = resident_bytes(), maps = mappings();
    double t0 = now_s();
    for (r->spawned = 0; r->spawned < r->want; r->spawned++) {
        r->err = corio_spawn(loop, sleeper, NULL, &r->tasks[r->spawned]);
        if (r->err < 0) {
            r->hint = corio_spawn_hint(loop, r->err);
            break;
        }
    }
    corio_yield(); /* each runs once and parks */
    double t1 = now_s();
    unsigned long n = r->spawned > 0 ? r->spawned : 1;
    r->spawn_s = t1 - t0;
    r->rss_per_task = (double)(resident_bytes() - rss) / (double)n;
    r->maps_per_task = (double)(mappings() - maps) / (double)n;
    for (unsigned long i = 0; i < r->spawned; i++)
        (void)corio_cancel(r->tasks[i]);
    for (unsigned long i = 0; i < r->spawned; i++)
        (void)corio_join(r->tasks[i], NULL);
    r->teardown_s = now_s() - t1;
    return NULL;
}

static int measure(struct run *r)
{
    r->tasks = calloc(r->want, sizeof *r->tasks);
    if (r->tasks == NULL) {
        fprintf(stderr, "many_tasks: no memory for %lu handles\n", r->want);
        return -1;
    }
    corio_loop_t *loop;
    /* a pool of one: teardown is cancel, join and each stack's memory given back; each
     * row has a loop of its own */
    int err = corio_loop_new(&loop, &(corio_loop_opts_t){.max_pooled_stacks = 1});
    if (err < 0) {
        fprintf(stderr, "many_tasks: corio_loop_new: %s\n", corio_loop_setup_hint(err));
        free(r->tasks);
        return -1;
    }
    err = corio_spawn(loop, spawn_all, r, NULL);
    if (err == 0)
        err = corio_loop_run(loop);
    corio_loop_free(loop);
    free(r->tasks);
    if (err < 0) {
        fprintf(stderr, "many_tasks: %s\n", corio_strerror(err));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
    if (n == 0) {
        fprintf(stderr, "usage: many_tasks [N]   (N > 0 tasks, default 1000000)\n");
        return 2;
    }
    /* a page a task, the handle, and room to spare */
    long need_kb = (long)(n * 3 * (unsigned long)sysconf(_SC_PAGESIZE) / 1024);
    long avail_kb = meminfo_kb("MemAvailable");
    if (avail_kb >= 0 && avail_kb < need_kb) {
        printf("many_tasks: skipped: %lu tasks need about %ld MiB, MemAvailable is %ld MiB\n", n,
               need_kb / 1024, avail_kb / 1024);
        return 0;
    }
    struct run runs[] = {
        {.name = "corio (slabs, guard regions)", .slabs = true, .want = n},
        {.name = "baseline: a mapping + mprotect guard each (pre-6.13)", .slabs = false, .want = n},
    };
    printf("| stacks | tasks | spawn + first run, ns/task | tasks/s | RSS B/task | mappings/task "
           "| cancel + join, ns/task | stopped by |\n|---|---:|---:|---:|---:|---:|---:|---|\n");
    int status = 0;
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        struct run *r = &runs[i];
        if (measure(r) < 0) {
            status = 1;
            continue;
        }
        unsigned long done = r->spawned > 0 ? r->spawned : 1;
        printf("| %s | %lu | %.0f | %.0f | %.0f | %.4f | %.0f | %s |\n", r->name, r->spawned,
               r->spawn_s / (double)done * 1e9, (double)r->spawned / r->spawn_s, r->rss_per_task,
               r->maps_per_task, r->teardown_s / (double)done * 1e9, r->err < 0 ? r->hint : "-");
        fprintf(stderr,
                "many_tasks stacks=%s tasks=%lu spawn_ns=%.0f rss_bytes=%.0f maps=%.4f "
                "teardown_ns=%.0f err=%d\n",
                r->slabs ? "slabs" : "mapping-each", r->spawned, r->spawn_s / (double)done * 1e9,
                r->rss_per_task, r->maps_per_task, r->teardown_s / (double)done * 1e9, r->err);
    }
    return status;
}
