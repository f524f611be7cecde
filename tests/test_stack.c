/* Tests of coroutine stacks (engine/stack.c): sizes, pooling, the guard page and its
 * overflow report, and failure without leaks. Runs natively and under qemu-aarch64. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fiber.h"
#include "stack.h"

static void test_bad_sizes_are_rejected(void **state)
{
    (void)state;
    struct corio_stack_pool pool;
    assert_int_equal(corio_stack_pool_init(&pool, 1, 8), -EINVAL);
    assert_int_equal(corio_stack_pool_init(&pool, CORIO_STACK_MIN_SIZE - 1, 8), -EINVAL);
    assert_int_equal(corio_stack_pool_init(&pool, SIZE_MAX, 8), -EINVAL);
    assert_int_equal(corio_stack_pool_init(&pool, CORIO_STACK_MAX_SIZE + 1, 8), -EINVAL);
    assert_int_equal(corio_stack_pool_init(&pool, 0, 8), -EINVAL);
    assert_int_equal(corio_stack_pool_init(&pool, corio_stack_default_size(), 8), 0);
    assert_int_equal(pool.size, corio_stack_default_size());
    assert_int_equal(corio_stack_pool_init(&pool, 20000, 8), 0);
    assert_true(pool.size >= 20000 && pool.size % (size_t)sysconf(_SC_PAGESIZE) == 0);
}

static void test_stack_is_usable_and_pooled(void **state)
{
    (void)state;
    struct corio_stack_pool pool;
    struct corio_stack *a, *b, *c;
    assert_int_equal(corio_stack_pool_init(&pool, corio_stack_default_size(), 1), 0);
    assert_int_equal(corio_stack_get(&pool, &a), 0);
    assert_true(a->size >= pool.size); /* plus the header's offset into the top page */
    /* The whole usable range is writable, top to bottom. */
    memset(a->lo, 0xab, a->size);
    assert_int_equal(((unsigned char *)a->lo)[0], 0xab);
    assert_int_equal(corio_stack_get(&pool, &b), 0);
    assert_ptr_not_equal(a, b);
    corio_stack_put(&pool, a);
    assert_int_equal(pool.nfree, 1);
    corio_stack_put(&pool, b); /* pool holds one: b is unmapped */
    assert_int_equal(pool.nfree, 1);
    assert_int_equal(corio_stack_get(&pool, &c), 0);
    assert_ptr_equal(c, a); /* reused, not mapped again */
    assert_int_equal(pool.nfree, 0);
    corio_stack_put(&pool, c);
    corio_stack_pool_destroy(&pool);
    assert_int_equal(pool.nfree, 0);
    assert_null(pool.free);
}

/* New stacks: their tops (where the hot frames and the control block are) take every
 * cache-line offset the top page offers, at least a kilobyte up from its start (room
 * for a parked task's frames in the same page) and with the header still inside it; and
 * each sits at least 11 lines (a parked task's hot lines) from the one mapped before
 * it, so tasks running one after the other do not overlap. */
#define COLOURED 128
static void test_consecutive_stacks_are_coloured_apart(void **state)
{
    (void)state;
    struct corio_stack_pool pool;
    struct corio_stack *s[COLOURED];
    bool seen[64] = {false};
    size_t page = (size_t)sysconf(_SC_PAGESIZE), colours = 0;
    assert_int_equal(corio_stack_pool_init(&pool, CORIO_STACK_MIN_SIZE, COLOURED), 0);
    for (int i = 0; i < COLOURED; i++) {
        assert_int_equal(corio_stack_get(&pool, &s[i]), 0);
        size_t top = ((uintptr_t)s[i]->lo + s[i]->size) % page;
        assert_int_equal(top % 64, 0);
        assert_true(top >= 1024);
        assert_true(top + 64 + CORIO_STACK_USER_BYTES <= page);
        /* the top page is the slot's last: the header is at the stack's top */
        assert_ptr_equal((char *)s[i]->lo + s[i]->size, (char *)s[i]);
        if (page == 4096 && !seen[top / 64]) {
            seen[top / 64] = true;
            colours++;
        }
        if (i > 0) {
            size_t prev = ((uintptr_t)s[i - 1]->lo + s[i - 1]->size) % page;
            size_t apart = top > prev ? top - prev : prev - top;
            assert_true(apart >= 11 * 64);
        }
    }
    if (page == 4096)
        assert_int_equal(colours, (4096 - 1024 - 64 - CORIO_STACK_USER_BYTES) / 64 + 1);
    for (int i = 0; i < COLOURED; i++)
        corio_stack_put(&pool, s[i]);
    corio_stack_pool_destroy(&pool);
}

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

/* Pages of [p, p + len) resident now. */
static size_t resident_pages(void *p, size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), n = 0;
    unsigned char vec[1024];
    assert_true(len / page <= sizeof vec);
    assert_int_equal(mincore(p, len, vec), 0);
    for (size_t i = 0; i < len / page; i++)
        n += vec[i] & 1;
    return n;
}

/* With guard regions (Linux 6.13+), 512 stacks are a handful of mappings, not 1,024. */
static void test_stacks_share_mappings(void **state)
{
    (void)state;
    struct corio_stack_pool pool;
    static struct corio_stack *s[512];
    assert_int_equal(corio_stack_pool_init(&pool, CORIO_STACK_MIN_SIZE, 512), 0);
    if (!pool.slabs)
        skip(); /* the kernel (or qemu-user) has no MADV_GUARD_INSTALL: a mapping each */
    size_t before = count_mappings();
    for (int i = 0; i < 512; i++)
        assert_int_equal(corio_stack_get(&pool, &s[i]), 0);
    assert_true(count_mappings() - before <= 8);
    for (int i = 0; i < 512; i++)
        corio_stack_put(&pool, s[i]);
    corio_stack_pool_destroy(&pool);
    assert_true(count_mappings() <= before);
}

/* A new stack touches one page (its top page, where the header is); a stack given back
 * beyond max_free keeps none, and comes back zeroed and whole. */
static void test_memory_beyond_the_pool_bound_goes_back(void **state)
{
    (void)state;
    struct corio_stack_pool pool;
    struct corio_stack *a, *b;
    assert_int_equal(corio_stack_pool_init(&pool, CORIO_STACK_MIN_SIZE, 0), 0);
    assert_int_equal(corio_stack_get(&pool, &a), 0);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *slot = (char *)a->lo - page;
    size_t slot_size = a->map_size;
    if (getenv("CORIO_UNDER_QEMU") == NULL) /* qemu-user's mincore says every page is in */
        assert_int_equal(resident_pages(slot, slot_size), 1);
    memset(a->lo, 0x77, a->size);
    corio_stack_put(&pool, a); /* max_free 0: its memory goes */
    if (pool.slabs) {
        if (getenv("CORIO_UNDER_QEMU") == NULL)
            assert_int_equal(resident_pages(slot, slot_size), 0);
        assert_int_equal(corio_stack_get(&pool, &b), 0);
        assert_ptr_equal((char *)b->lo - page, slot); /* the slot is reused */
        assert_int_equal(((unsigned char *)b->lo)[0], 0);
        assert_int_equal(((unsigned char *)b->lo)[b->size - 1], 0);
        memset(b->lo, 0x11, b->size);
        corio_stack_put(&pool, b);
    }
    corio_stack_pool_destroy(&pool);
}

/* Stacks unmapped while their fibers were suspended mid-function (frames with ASan
 * redzones still poisoned), then new stacks mapped at the same addresses with other
 * colours, so that some new headers sit where old frames were: the new headers and user
 * areas, the stack in their page, and a deep frame of a new fiber must all be usable.
 * Under ASan this fails if a fresh mapping inherits the old shadow. */
#define DIRTY_STACKS 8
static struct corio_fiber dirty_main, dirty_fibers[DIRTY_STACKS];

__attribute__((noinline)) static void suspend_with_a_frame(struct corio_fiber *self)
{
    /* sixteen arrays whose addresses escape: ASan puts redzones between them, spread over
     * two kilobytes below the stack's top */
    volatile char a[16][96];
    volatile char *escape[16];
    for (int i = 0; i < 16; i++)
        escape[i] = a[i];
    corio_fiber_switch(self, &dirty_main, (void *)escape);
}

static void dirty_entry(void *arg)
{
    corio_fiber_started(&dirty_main);
    suspend_with_a_frame(arg);
    corio_fiber_exit(arg, &dirty_main, NULL); /* never resumed */
}

__attribute__((noinline)) static void deep_frame(void)
{
    volatile char big[8192];
    memset((char *)big, 0x5a, sizeof big);
    corio_fiber_switch(&dirty_fibers[0], &dirty_main, (void *)big);
}

static void deep_entry(void *arg)
{
    (void)arg;
    corio_fiber_started(&dirty_main);
    deep_frame();
    corio_fiber_exit(&dirty_fibers[0], &dirty_main, NULL); /* never resumed */
}

static void test_stacks_mapped_again_are_clean(void **state)
{
    (void)state;
    struct corio_stack_pool pool;
    struct corio_stack *s[DIRTY_STACKS];
    void *where[DIRTY_STACKS];
    assert_int_equal(corio_stack_pool_init(&pool, CORIO_STACK_MIN_SIZE, 0), 0);
    for (int i = 0; i < DIRTY_STACKS; i++) {
        assert_int_equal(corio_stack_get(&pool, &s[i]), 0);
        where[i] = s[i]->lo;
        corio_fiber_init(&dirty_fibers[i], s[i]->lo, s[i]->size, dirty_entry);
        assert_non_null(corio_fiber_switch(&dirty_main, &dirty_fibers[i], &dirty_fibers[i]));
    }
    for (int i = 0; i < DIRTY_STACKS; i++)
        corio_stack_put(&pool, s[i]); /* fibers abandoned */
    corio_stack_pool_destroy(&pool);  /* unmapped */
    assert_int_equal(corio_stack_pool_init(&pool, CORIO_STACK_MIN_SIZE, 0), 0);
    pool.mapped = 20; /* half the colours on: half the headers move down into old frames */
    size_t page = (size_t)sysconf(_SC_PAGESIZE), reused = 0;
    for (int i = 0; i < DIRTY_STACKS; i++) {
        assert_int_equal(corio_stack_get(&pool, &s[i]), 0);
        reused += s[i]->lo == where[i];
        char *top_page = (char *)s[i] - (uintptr_t)s[i] % page;
        memset(top_page, 0x5a, (size_t)((char *)s[i] - top_page));
        memset(corio_stack_user_area(s[i]), 0, CORIO_STACK_USER_BYTES);
        corio_fiber_init(&dirty_fibers[0], s[i]->lo, s[i]->size, deep_entry);
        assert_non_null(corio_fiber_switch(&dirty_main, &dirty_fibers[0], NULL));
    }
    if (getenv("CORIO_UNDER_QEMU") == NULL)
        assert_true(reused > 0); /* the premise: the same addresses again */
    for (int i = 0; i < DIRTY_STACKS; i++)
        corio_stack_put(&pool, s[i]);
    corio_stack_pool_destroy(&pool);
}

/* Runs fn in a child process; returns its wait status and what it wrote to stderr.
 * qemu-user hangs in the child of a dynamically linked fork, so under qemu these
 * scenarios run as their own ctest entries instead (`test_stack --child NAME`, see
 * tests/CMakeLists.txt). */
static int run_child(void (*fn)(void), char *err, size_t errlen)
{
    /* Under valgrind the child's deliberate faults are reported as errors, and its
     * address-space cap does not apply. */
    if (getenv("CORIO_UNDER_QEMU") != NULL || getenv("CORIO_UNDER_VALGRIND") != NULL)
        skip();
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pipefd[1], STDERR_FILENO);
        close(pipefd[0]);
        fn();
        _exit(0);
    }
    close(pipefd[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < errlen && (r = read(pipefd[0], err + n, errlen - 1 - n)) > 0)
        n += (size_t)r;
    err[n] = '\0';
    close(pipefd[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static size_t address_space_in_use(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (fscanf(f, "%lu", &pages) != 1)
        pages = 0;
    fclose(f);
    return pages * (size_t)sysconf(_SC_PAGESIZE);
}

/* In the child: cap the address space so a 512 MiB stack cannot be mapped. */
static void map_with_address_space_cap(void)
{
    struct corio_stack_pool pool;
    struct corio_stack *s = NULL;
    if (corio_stack_pool_init(&pool, 512u << 20, 4) != 0)
        _exit(10);
    struct rlimit lim = {.rlim_cur = address_space_in_use() + (64u << 20),
                         .rlim_max = RLIM_INFINITY};
    if (setrlimit(RLIMIT_AS, &lim) != 0)
        _exit(11);
    size_t before = count_mappings();
    int rc = corio_stack_get(&pool, &s);
    if (rc != -ENOMEM)
        _exit(12);
    if (s != NULL)
        _exit(13);
    if (count_mappings() != before) /* nothing half-made was left behind */
        _exit(14);
    if (pool.limit != CORIO_STACK_LIMIT_ADDRESS ||
        strstr(corio_stack_limit_hint(pool.limit), "RLIMIT_AS") == NULL)
        _exit(15);
    _exit(0);
}

/* In the child: stacks with a mapping each (the fallback before Linux 6.13) until
 * vm.max_map_count stops them; the failure names that limit. */
static void map_until_the_map_count_limit(void)
{
    struct corio_stack_pool pool;
    struct corio_stack *s = NULL;
    if (corio_stack_pool_init(&pool, CORIO_STACK_MIN_SIZE, 0) != 0)
        _exit(40);
    pool.slabs = false;
    int rc = 0;
    for (int i = 0; i < 1000000 && rc == 0; i++)
        rc = corio_stack_get(&pool, &s);
    if (rc != -ENOMEM)
        _exit(41);
    if (pool.limit != CORIO_STACK_LIMIT_MAP_COUNT ||
        strstr(corio_stack_limit_hint(pool.limit), "vm.max_map_count") == NULL)
        _exit(42);
    _exit(0);
}

static void test_map_count_limit_is_named(void **state)
{
    (void)state;
    char err[512];
    int status = run_child(map_until_the_map_count_limit, err, sizeof err);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_mmap_failure_returns_enomem_and_leaks_nothing(void **state)
{
    (void)state;
#ifdef CORIO_ASAN
    skip(); /* ASan reserves terabytes of shadow memory; RLIMIT_AS cannot be applied. */
#endif
    char err[512];
    int status = run_child(map_with_address_space_cap, err, sizeof err);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* In the child: overflow a task stack with unbounded recursion. */
static struct corio_fiber overflow_main, overflow_fiber;

#pragma GCC diagnostic ignored "-Winfinite-recursion"
__attribute__((noinline)) static int runaway(int n)
{
    volatile char pad[512];
    pad[0] = (char)n;
    return runaway(n + 1) + pad[0];
}

static void overflow_entry(void *arg)
{
    corio_fiber_started(&overflow_main);
    runaway((int)(uintptr_t)arg);
    corio_fiber_exit(&overflow_fiber, &overflow_main, NULL);
}

static void overflow_with(bool slabs)
{
    struct corio_stack_pool pool;
    struct corio_stack *s;
    if (corio_stack_pool_init(&pool, CORIO_STACK_MIN_SIZE, 1) != 0)
        _exit(20);
    pool.slabs = pool.slabs && slabs;
    if (corio_stack_get(&pool, &s) != 0 || corio_stack_overflow_report_install() != 0)
        _exit(20);
    corio_fiber_init(&overflow_fiber, s->lo, s->size, overflow_entry);
    corio_stack_set_current(s);
    /* The report names the stack's owner area (a task's control block): tell the parent
     * which address to expect. */
    fprintf(stderr, "owner=%p size=%zu\n", corio_stack_user_area(s), s->size);
    fflush(stderr);
    corio_fiber_switch(&overflow_main, &overflow_fiber, NULL);
    _exit(21); /* unreachable: the recursion never returns */
}

/* A slab's guard region where the kernel has them, else the mprotect'ed guard page. */
static void overflow_a_stack(void)
{
    overflow_with(true);
}

static void overflow_a_stack_of_its_own(void)
{
    overflow_with(false);
}

static void expect_overflow_report(void (*scenario)(void))
{
    char err[2048];
    int status = run_child(scenario, err, sizeof err);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
        print_message("the child said:\n%s\n", err);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    void *owner = NULL;
    size_t size = 0;
    assert_int_equal(sscanf(err, "owner=%p size=%zu", &owner, &size), 2);
    assert_true(size >= CORIO_STACK_MIN_SIZE);
    char expect[96];
    snprintf(expect, sizeof expect, "corio: stack overflow in task %p: its %zu-byte stack", owner,
             size);
    assert_non_null(strstr(err, expect));
    assert_non_null(strstr(err, "raise corio_loop_opts_t.stack_size"));
}

static void test_overflow_hits_guard_and_is_reported(void **state)
{
    (void)state;
    expect_overflow_report(overflow_a_stack);
}

static void test_overflow_of_a_stack_of_its_own_is_reported(void **state)
{
    (void)state;
    expect_overflow_report(overflow_a_stack_of_its_own);
}

/* In the child: a plain NULL dereference must still be a plain SIGSEGV. */
static void fault_elsewhere(void)
{
    /* cmocka catches SIGSEGV itself; start from the default so the chain ends there. */
    signal(SIGSEGV, SIG_DFL);
    if (corio_stack_overflow_report_install() != 0)
        _exit(30);
    volatile int *volatile p = NULL;
    *p = 1;
    _exit(31);
}

static void test_other_faults_are_not_reported_as_overflow(void **state)
{
    (void)state;
#ifdef CORIO_ASAN
    skip(); /* ASan turns the fault into its own report and exit code. */
#endif
    char err[2048];
    int status = run_child(fault_elsewhere, err, sizeof err);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGSEGV);
    assert_null(strstr(err, "stack overflow"));
}

static const struct {
    const char *name;
    void (*fn)(void);
} child_scenarios[] = {
    {"overflow", overflow_a_stack},
    {"overflow-own-mapping", overflow_a_stack_of_its_own},
    {"fault-elsewhere", fault_elsewhere},
};

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--child") == 0) {
        for (size_t i = 0; i < sizeof child_scenarios / sizeof child_scenarios[0]; i++)
            if (strcmp(argv[2], child_scenarios[i].name) == 0)
                child_scenarios[i].fn();
        return 2;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_sizes_are_rejected),
        cmocka_unit_test(test_stack_is_usable_and_pooled),
        cmocka_unit_test(test_consecutive_stacks_are_coloured_apart),
        cmocka_unit_test(test_stacks_share_mappings),
        cmocka_unit_test(test_memory_beyond_the_pool_bound_goes_back),
        cmocka_unit_test(test_stacks_mapped_again_are_clean),
        cmocka_unit_test(test_mmap_failure_returns_enomem_and_leaks_nothing),
        cmocka_unit_test(test_map_count_limit_is_named),
        cmocka_unit_test(test_overflow_hits_guard_and_is_reported),
        cmocka_unit_test(test_overflow_of_a_stack_of_its_own_is_reported),
        cmocka_unit_test(test_other_faults_are_not_reported_as_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
