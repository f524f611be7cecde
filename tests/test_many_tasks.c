/* Tests of many tasks at once (engine/stack.c through corio_spawn): 200,000 sleeping
 * tasks in a handful of memory mappings and about a page each, a spawn past a real limit
 * that names it, and the memory of finished tasks' stacks going back beyond the pool's
 * bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "support.h"

#define SEC 1000000000ull

static size_t count_mappings(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    size_t lines = 0;
    int c;
    while ((c = fgetc(f)) != EOF)
        lines += c == '\n';
    fclose(f);
    return lines;
}

/* Field 1 (size) or 2 (resident) of /proc/self/statm, in bytes. */
static size_t statm_bytes(int field)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long v[2] = {0, 0};
    if (fscanf(f, "%lu %lu", &v[0], &v[1]) != 2)
        v[0] = v[1] = 0;
    fclose(f);
    return v[field - 1] * (size_t)sysconf(_SC_PAGESIZE);
}

/* ---- 200,000 sleeping tasks --------------------------------------------------------- */

/* ASan's frames are larger and its shadow adds memory per stack: fewer there. */
#ifdef CORIO_ASAN
#define SLEEPERS 50000
#else
#define SLEEPERS 200000
#endif

static unsigned long asleep, woken;

static void *sleeper(void *arg)
{
    (void)arg;
    asleep++;
    if (corio_sleep(3600 * SEC) == -ECANCELED)
        woken++;
    return NULL;
}

static void *spawn_sleepers(void *arg)
{
    corio_loop_t *loop = corio_current_loop();
    corio_task_t **tasks = arg;
    size_t maps = count_mappings(), rss = statm_bytes(2);
    uint64_t t0 = support_now_ns();
    for (int i = 0; i < SLEEPERS; i++)
        assert_int_equal(corio_spawn(loop, sleeper, NULL, &tasks[i]), 0);
    corio_yield(); /* every sleeper runs once, in spawn order, and parks */
    uint64_t t1 = support_now_ns();
    assert_int_equal(asleep, SLEEPERS);
    assert_int_equal(loop->ntasks, SLEEPERS + 1);
    size_t new_maps = count_mappings() - maps;
    double per_task = (double)(statm_bytes(2) - rss) / SLEEPERS;
    print_message("%d sleeping tasks: %.0f bytes resident each, %zu new mappings, %.0f ns "
                  "per spawn and first run\n",
                  SLEEPERS, per_task, new_maps, (double)(t1 - t0) / SLEEPERS);
    if (loop->stacks.slabs) {
        /* a few hundred slabs, where a mapping and a guard each would be 400,000 */
        assert_true(new_maps < SLEEPERS / 100);
#ifndef CORIO_ASAN
        /* a parked task's top page, its handle and a share of the slab links */
        assert_true(per_task < 1.5 * (double)sysconf(_SC_PAGESIZE));
#endif
    }
    for (int i = 0; i < SLEEPERS; i++)
        assert_int_equal(corio_cancel(tasks[i]), 0);
    for (int i = 0; i < SLEEPERS; i++)
        assert_int_equal(corio_join(tasks[i], NULL), -ECANCELED);
    assert_int_equal(woken, SLEEPERS);
    return NULL;
}

static void test_200k_sleeping_tasks(void **state)
{
    (void)state;
    support_watchdog(120);
    corio_task_t **tasks = calloc(SLEEPERS, sizeof *tasks);
    assert_non_null(tasks);
    asleep = woken = 0;
    support_run(spawn_sleepers, tasks);
    free(tasks);
    alarm(0);
}

/* ---- a spawn past a real limit ------------------------------------------------------ */

static void *sleep_long(void *arg)
{
    (void)arg;
    corio_sleep(3600 * SEC);
    return NULL;
}

/* In a child: 1 MiB stacks under an address-space cap 64 MiB above what is in use. */
static void spawn_until_the_address_limit(void)
{
    corio_loop_t *loop;
    if (corio_loop_new(&loop, &(corio_loop_opts_t){.stack_size = 1u << 20}) != 0)
        _exit(10);
    struct rlimit lim = {.rlim_cur = statm_bytes(1) + (64u << 20), .rlim_max = RLIM_INFINITY};
    if (setrlimit(RLIMIT_AS, &lim) != 0)
        _exit(11);
    int err = 0, spawned = 0;
    while (err == 0 && spawned < 1000)
        if ((err = corio_spawn(loop, sleep_long, NULL, NULL)) == 0)
            spawned++;
    if (err != -ENOMEM || spawned == 0)
        _exit(12);
    const char *hint = corio_spawn_hint(loop, err);
    if (strstr(hint, "RLIMIT_AS") == NULL || strstr(hint, "stack_size") == NULL)
        _exit(13);
    _exit(0); /* the sleepers never ran: nothing to cancel */
}

static void test_spawn_past_the_address_limit_names_it(void **state)
{
    (void)state;
#ifdef CORIO_ASAN
    skip(); /* ASan reserves terabytes of shadow memory; RLIMIT_AS cannot be applied. */
#endif
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        spawn_until_the_address_limit();
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_spawn_hint_explains_every_result(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    assert_string_equal(corio_spawn_hint(loop, 0), "Success");
    assert_non_null(strstr(corio_spawn_hint(loop, -EINVAL), "function"));
    assert_non_null(strstr(corio_spawn_hint(loop, -ESHUTDOWN), "freed"));
    /* no limit hit yet: -ENOMEM is memory itself */
    assert_non_null(strstr(corio_spawn_hint(loop, -ENOMEM), "refused memory"));
    assert_non_null(strstr(corio_spawn_hint(NULL, -ENOMEM), "refused memory"));
    assert_non_null(corio_spawn_hint(loop, -EIO));
    corio_loop_free(loop);
}

/* ---- memory back beyond the pool's bound -------------------------------------------- */

#define DEEP_TASKS 2048
#define POOLED     16
#define DEEP_BYTES (32 * 1024)

static corio_event_t go;

static void *use_deep_stack(void *arg)
{
    (void)arg;
    volatile char deep[DEEP_BYTES];
    memset((char *)deep, 1, sizeof deep);
    corio_event_wait(&go);
    return (void *)(uintptr_t)deep[0];
}

static void *spawn_deep(void *arg)
{
    corio_loop_t *loop = corio_current_loop();
    static corio_task_t *tasks[DEEP_TASKS];
    for (int i = 0; i < DEEP_TASKS; i++)
        assert_int_equal(corio_spawn(loop, use_deep_stack, NULL, &tasks[i]), 0);
    corio_yield();
    size_t rss = statm_bytes(2);
    corio_event_set(&go);
    for (int i = 0; i < DEEP_TASKS; i++)
        assert_int_equal(corio_join(tasks[i], NULL), 0);
    /* POOLED stacks stay resident; the others' memory went back */
    assert_int_equal(loop->stacks.nfree, POOLED);
    if (loop->stacks.slabs)
        assert_int_equal(loop->stacks.nreleased, DEEP_TASKS - POOLED);
    size_t dropped = rss - statm_bytes(2);
    assert_true(dropped >= (size_t)(DEEP_TASKS - POOLED) * DEEP_BYTES / 2);
    /* and they are used again, zeroed, before any new slot is made */
    unsigned made = loop->stacks.mapped;
    for (int i = 0; i < DEEP_TASKS; i++)
        assert_int_equal(corio_spawn(loop, use_deep_stack, NULL, &tasks[i]), 0);
    for (int i = 0; i < DEEP_TASKS; i++)
        assert_int_equal(corio_join(tasks[i], NULL), 0);
    assert_int_equal(loop->stacks.mapped, made);
    *(bool *)arg = true;
    return NULL;
}

static void test_finished_stacks_beyond_the_pool_give_memory_back(void **state)
{
    (void)state;
    corio_event_init(&go);
    corio_loop_t *loop = support_loop_opts(&(corio_loop_opts_t){.max_pooled_stacks = POOLED});
    bool done = false;
    assert_int_equal(corio_spawn(loop, spawn_deep, &done, NULL), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_true(done);
    corio_loop_free(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_200k_sleeping_tasks),
        cmocka_unit_test(test_spawn_past_the_address_limit_names_it),
        cmocka_unit_test(test_spawn_hint_explains_every_result),
        cmocka_unit_test(test_finished_stacks_beyond_the_pool_give_memory_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
