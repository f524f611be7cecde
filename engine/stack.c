/* Coroutine stacks: slabs of guarded slots (or one guarded mapping each on kernels
 * without MADV_GUARD_INSTALL), a per-loop pool that gives memory back beyond a bound, the
 * diagnosis of a failed mapping, valgrind registration, the fork handlers that let a
 * task's own stack into a forked child, and the stack-overflow reporter (a SIGSEGV
 * handler on an alternate signal stack). */
#include "stack.h"

#include "fault.h"
#include "fiber.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#ifdef CORIO_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102 /* Linux 6.13 */
#endif

static size_t page_size(void)
{
    static size_t cached;
    if (cached == 0)
        cached = (size_t)sysconf(_SC_PAGESIZE);
    return cached;
}

static size_t round_up(size_t n, size_t to)
{
    return (n + to - 1) / to * to;
}

size_t corio_stack_default_size(void)
{
#ifdef CORIO_ASAN
    return CORIO_STACK_ASAN_DEFAULT_SIZE;
#else
    return CORIO_STACK_DEFAULT_SIZE;
#endif
}

/* ---- guard regions ------------------------------------------------------------------ *
 * An mprotect'ed guard page splits its mapping: two VMAs a stack, and vm.max_map_count
 * (65,530 by default) stopped a process at ~32k tasks. A guard region installed with
 * MADV_GUARD_INSTALL is a page-table marker instead, so a slab of many stacks stays one
 * VMA. Whether it works is probed once by its effect, not by madvise's return: qemu-user
 * accepts advice it does not know and does nothing. The kernel reading from a real guard
 * region fails with EFAULT (a pipe write from it), where a plain page reads as zeroes. */

static bool guards_work;
static pthread_once_t guards_once = PTHREAD_ONCE_INIT;

static void guards_probe(void)
{
    size_t page = page_size();
    char *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return;
    int fds[2];
    if (madvise(p, page, MADV_GUARD_INSTALL) == 0 && pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0) {
        guards_work = write(fds[1], p, 1) < 0 && errno == EFAULT;
        close(fds[0]);
        close(fds[1]);
    }
    munmap(p, page);
}

static bool guard_regions_work(void)
{
    (void)pthread_once(&guards_once, guards_probe);
    return guards_work;
}

/* Slabs start small (a program with a few tasks maps little) and double up to
 * SLAB_MAX_SLOTS or SLAB_MAX_BYTES: a million 64 KiB stacks are about a thousand VMAs. */
#define SLAB_FIRST_SLOTS 8u
#define SLAB_MAX_SLOTS   1024u
#define SLAB_MAX_BYTES   ((size_t)1 << 30)

/* The first page of every slab: its link into pool->slab_list. */
struct slab_link {
    struct slab_link *next;
    size_t bytes;
};

int corio_stack_pool_init(struct corio_stack_pool *pool, size_t size, size_t max_free)
{
    if (size < CORIO_STACK_MIN_SIZE || size > CORIO_STACK_MAX_SIZE)
        return -EINVAL;
    memset(pool, 0, sizeof *pool);
    pool->max_free = max_free;
    pool->size = round_up(size, page_size());
    pool->slot_size = pool->size + 2 * page_size();
    pool->slabs = guard_regions_work();
    pool->slab_slots = SLAB_FIRST_SLOTS;
    return 0;
}

/* ---- colour ------------------------------------------------------------------------- *
 * Stacks are page-aligned, so without colouring every task's control block and the top of
 * every stack would share the same few L1 cache sets (the set index is the address within
 * a page): 64 tasks taking turns evicted each other on every switch. So the header (and
 * the stack's top right below it) sits at one of the cache-line offsets in the top page
 * from COLOUR_FLOOR up to where the header still fits (40 with 4 KiB pages): the floor leaves a
 * parked task's shallow frames room in the same page, which is what keeps an idle task at
 * one page. Slots next to each other (tasks spawned together usually run one after the
 * other) are COLOUR_STEP lines apart: a parked task's hot lines span ~11 lines, and
 * neighbours one line apart overlapped, which cost 20% on a 64-task yield round robin
 * (docs/DESIGN-NOTES.md). A slot whose memory was given back keeps its colour in the list
 * of such slots. */
#define COLOUR_FLOOR ((size_t)1024)
#define COLOUR_STEP  17u
#define HEADER_BYTES (((sizeof(struct corio_stack) + 63) & ~(size_t)63) + CORIO_STACK_USER_BYTES)

/* The offset into the top page of the n-th slot made. */
static size_t colour_of(unsigned n)
{
    size_t colours = (page_size() - HEADER_BYTES - COLOUR_FLOOR) / 64 + 1;
    return COLOUR_FLOOR + n * COLOUR_STEP % colours * 64;
}

#ifdef CORIO_ASAN
/* ASan keeps the shadow of memory that was unmapped, and of frames a finished task never
 * returned from: in a new mapping at the same address, or a slot used again, they still
 * read as poisoned, and an instrumented function only poisons its redzones as it enters,
 * it does not clear its variables'. So the shadow is cleared: a new slab's (or stack
 * mapping's) at once, a slot given back and used again before its reuse. The shadow's
 * whole pages are given back (they read as zeroes: unpoisoned) and the edges unpoisoned:
 * writing the shadow instead would commit an eighth of every stack. */
static void asan_clear(char *p, size_t n)
{
    size_t scale, offset, page = page_size();
    __asan_get_shadow_mapping(&scale, &offset);
    uintptr_t beg = ((uintptr_t)p >> scale) + offset, end = (((uintptr_t)p + n) >> scale) + offset;
    uintptr_t whole_beg = round_up(beg, page), whole_end = end / page * page;
    if (whole_end <= whole_beg) {
        ASAN_UNPOISON_MEMORY_REGION(p, n);
        return;
    }
    char *mid_beg = (char *)((whole_beg - offset) << scale);
    char *mid_end = (char *)((whole_end - offset) << scale);
    ASAN_UNPOISON_MEMORY_REGION(p, (size_t)(mid_beg - p));
    ASAN_UNPOISON_MEMORY_REGION(mid_end, (size_t)(p + n - mid_end));
    (void)madvise((void *)whole_beg, whole_end - whole_beg, MADV_DONTNEED);
}
#endif

/* Writes the header of the stack in slot (guard page at slot), `colour` bytes into its top
 * page, and registers it. */
static struct corio_stack *slot_stack(struct corio_stack_pool *pool, char *slot, size_t colour,
                                      bool own)
{
    size_t page = page_size();
    struct corio_stack *s = (struct corio_stack *)(slot + page + pool->size + colour);
    _Static_assert(sizeof(struct corio_stack) <= 64, "stack header grew");
    s->lo = slot + page;
    s->size = (size_t)((char *)s - (char *)s->lo);
    s->map_size = pool->slot_size;
    s->next = NULL;
    s->own_mapping = own;
#ifdef CORIO_HAVE_VALGRIND
    s->valgrind_id = VALGRIND_STACK_REGISTER(s->lo, (char *)s->lo + s->size);
#else
    s->valgrind_id = 0;
#endif
    return s;
}

static char *slot_of(const struct corio_stack *s)
{
    return (char *)s->lo - page_size();
}

/* ---- mapping ------------------------------------------------------------------------ */

static void fork_handlers_install(void);

static size_t file_number(const char *path)
{
    FILE *f = fopen(path, "re");
    unsigned long long v = 0;
    if (f != NULL) {
        if (fscanf(f, "%llu", &v) != 1)
            v = 0;
        fclose(f);
    }
    return (size_t)v;
}

static size_t mappings_in_use(void)
{
    FILE *f = fopen("/proc/self/maps", "re");
    size_t lines = 0;
    if (f != NULL) {
        int c;
        while ((c = getc_unlocked(f)) != EOF)
            lines += c == '\n';
        fclose(f);
    }
    return lines;
}

/* Which limit refused a mapping of `bytes` (ENOMEM from mmap, mprotect or madvise). */
static enum corio_stack_limit diagnose(size_t bytes)
{
    size_t max_maps = file_number("/proc/sys/vm/max_map_count");
    if (max_maps != 0 && mappings_in_use() + 2 >= max_maps)
        return CORIO_STACK_LIMIT_MAP_COUNT;
    struct rlimit as;
    if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY &&
        file_number("/proc/self/statm") * page_size() + bytes > as.rlim_cur)
        return CORIO_STACK_LIMIT_ADDRESS;
    return CORIO_STACK_LIMIT_MEMORY;
}

static void *map_anonymous(struct corio_stack_pool *pool, size_t bytes)
{
    void *map = corio_fault_hit(CORIO_FAULT_MMAP, NULL)
                    ? MAP_FAILED
                    : mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (map == MAP_FAILED) {
        pool->limit = diagnose(bytes);
        return NULL;
    }
    /* A forked child must build its own loop; it should not inherit our stacks (but for
     * the one it forks on: see the fork handlers below). Transparent huge pages would turn
     * a task's one touched page into 2 MiB. */
    (void)madvise(map, bytes, MADV_DONTFORK);
    (void)madvise(map, bytes, MADV_NOHUGEPAGE);
    return map;
}

/* A stack with a mapping of its own and an mprotect'ed guard page. */
static int own_map(struct corio_stack_pool *pool, struct corio_stack **out)
{
    char *slot = map_anonymous(pool, pool->slot_size);
    if (slot == NULL)
        return -ENOMEM;
    if (mprotect(slot, page_size(), PROT_NONE) != 0) {
        munmap(slot, pool->slot_size);
        pool->limit = diagnose(0);
        return -ENOMEM;
    }
#ifdef CORIO_ASAN
    asan_clear(slot, pool->slot_size);
#endif
    *out = slot_stack(pool, slot, colour_of(pool->mapped++), true);
    return 0;
}

/* A new slab: one page for its link into pool->slab_list, then the slots. When a slab
 * of the planned size cannot be mapped (RLIMIT_AS, say), one of a single slot may be. */
static int slab_map(struct corio_stack_pool *pool)
{
    size_t page = page_size();
    size_t slots = pool->slab_slots;
    if (slots > SLAB_MAX_BYTES / pool->slot_size)
        slots = SLAB_MAX_BYTES / pool->slot_size > 0 ? SLAB_MAX_BYTES / pool->slot_size : 1;
    char *slab = map_anonymous(pool, page + slots * pool->slot_size);
    if (slab == NULL && slots > 1) {
        slots = 1;
        slab = map_anonymous(pool, page + pool->slot_size);
    }
    if (slab == NULL)
        return -ENOMEM;
#ifdef CORIO_ASAN
    asan_clear(slab, page + slots * pool->slot_size); /* once for all its slots */
#endif
    struct slab_link *link = (struct slab_link *)slab;
    link->next = pool->slab_list;
    link->bytes = page + slots * pool->slot_size;
    pool->slab_list = link;
    pool->carve = slab + page;
    pool->carve_left = slots;
    if (pool->slab_slots < SLAB_MAX_SLOTS)
        pool->slab_slots *= 2;
    return 0;
}

static int slot_new(struct corio_stack_pool *pool, struct corio_stack **out)
{
    fork_handlers_install(); /* before any task can run on a stack, so before any fork */
    if (!pool->slabs)
        return own_map(pool, out);
    if (pool->carve_left == 0) {
        int err = slab_map(pool);
        if (err < 0)
            return err;
    }
    if (madvise(pool->carve, page_size(), MADV_GUARD_INSTALL) != 0) {
        pool->limit = diagnose(0); /* the guard's page table */
        return -ENOMEM;
    }
    *out = slot_stack(pool, pool->carve, colour_of(pool->mapped++), false);
    pool->carve += pool->slot_size;
    pool->carve_left--;
    return 0;
}

static void stack_forget(struct corio_stack *s)
{
#ifdef CORIO_HAVE_VALGRIND
    VALGRIND_STACK_DEREGISTER(s->valgrind_id);
#else
    (void)s;
#endif
}

/* Gives a stack's memory back: its own mapping goes; a slab slot is emptied (the guard
 * page is left alone) and listed for reuse. Returns false, having done nothing, when the
 * list cannot grow: the caller keeps the stack resident rather than lose the slot. */
static bool stack_release(struct corio_stack_pool *pool, struct corio_stack *s)
{
    char *slot = slot_of(s);
    if (!s->own_mapping && pool->nreleased == pool->released_cap) {
        size_t cap = pool->released_cap != 0 ? pool->released_cap * 2 : 64;
        struct corio_released_slot *grown = corio_realloc(pool->released, cap * sizeof *grown);
        if (grown == NULL)
            return false;
        pool->released = grown;
        pool->released_cap = cap;
    }
    stack_forget(s);
    if (s->own_mapping) {
        munmap(slot, pool->slot_size);
        return true;
    }
    size_t colour = (size_t)((char *)s - (slot + page_size() + pool->size));
    (void)madvise(slot + page_size(), pool->slot_size - page_size(), MADV_DONTNEED);
    pool->released[pool->nreleased++] = (struct corio_released_slot){slot, colour};
    return true;
}

int corio_stack_get(struct corio_stack_pool *pool, struct corio_stack **out)
{
    struct corio_stack *s = pool->free;
    if (s != NULL) {
        pool->free = s->next;
        pool->nfree--;
        s->next = NULL;
        *out = s;
        return 0;
    }
    if (pool->nreleased > 0) {
        struct corio_released_slot r = pool->released[--pool->nreleased];
#ifdef CORIO_ASAN
        asan_clear(r.slot, pool->slot_size); /* its last task's frames */
#endif
        *out = slot_stack(pool, r.slot, r.colour, false);
        return 0;
    }
    return slot_new(pool, out);
}

static void pool_push(struct corio_stack_pool *pool, struct corio_stack *s)
{
    s->next = pool->free;
    pool->free = s;
    pool->nfree++;
}

/* Out of line, so that the common put saves no registers. */
__attribute__((noinline)) static void put_beyond_bound(struct corio_stack_pool *pool,
                                                       struct corio_stack *s)
{
    if (!stack_release(pool, s))
        pool_push(pool, s);
}

void corio_stack_put(struct corio_stack_pool *pool, struct corio_stack *s)
{
    if (pool->nfree >= pool->max_free) {
        put_beyond_bound(pool, s);
        return;
    }
    pool_push(pool, s);
}

void corio_stack_pool_destroy(struct corio_stack_pool *pool)
{
    while (pool->free != NULL) {
        struct corio_stack *s = pool->free;
        pool->free = s->next;
        stack_forget(s);
        if (s->own_mapping)
            munmap(slot_of(s), pool->slot_size);
    }
    pool->nfree = 0;
    while (pool->slab_list != NULL) {
        struct slab_link *link = pool->slab_list;
        pool->slab_list = link->next;
        munmap(link, link->bytes);
    }
    free(pool->released);
    pool->released = NULL;
    pool->nreleased = pool->released_cap = 0;
    pool->carve = NULL;
    pool->carve_left = 0;
}

const char *corio_stack_limit_hint(enum corio_stack_limit limit)
{
    switch (limit) {
    case CORIO_STACK_LIMIT_MAP_COUNT:
        return "no stack for the task: the process has as many memory mappings as "
               "vm.max_map_count allows (each task stack takes two on kernels before 6.13): "
               "raise it (sysctl -w vm.max_map_count=1048576) or run fewer tasks at once";
    case CORIO_STACK_LIMIT_ADDRESS:
        return "no stack for the task: the address-space limit (ulimit -v, RLIMIT_AS) is "
               "reached, and each task reserves its stack_size plus two pages: raise the "
               "limit or lower corio_loop_opts_t.stack_size";
    case CORIO_STACK_LIMIT_MEMORY:
        return "no stack for the task: the kernel refused memory (memory or a cgroup's "
               "memory.max is exhausted, or vm.overcommit_memory=2 caps commitments): free "
               "memory, raise the limit, or lower corio_loop_opts_t.stack_size";
    case CORIO_STACK_LIMIT_NONE:
    default:
        return "no stack limit was hit";
    }
}

/* ---- fork ------------------------------------------------------------------------- *
 * Every stack is MADV_DONTFORK: a child has no use for the parent's tasks, and copying
 * their page tables (and making every stack page copy-on-write in the parent) would make
 * fork cost grow with the number of tasks. A task that calls fork() runs on one of them,
 * though, and fork() returns into the child on that stack. So for the duration of a fork
 * the calling task's stack is MADV_DOFORK: the child gets a copy of it (and of it alone),
 * and the parent puts MADV_DONTFORK back. The child then runs outside any loop: it
 * forgets the current task and loop, and may build a loop of its own (corio.h, "fork"). */

/* loop.c's: forgets the loop this thread is running (its thread-local), in a forked
 * child. Weak: the core-only build has no loop.c. Without it, a child's
 * corio_current_loop() outside a task would still name the parent's loop. */
void corio_loop_forget_thread(void) __attribute__((weak, visibility("hidden")));

static __thread struct corio_stack *forking __attribute__((tls_model("initial-exec")));

static void stack_madvise(struct corio_stack *s, int advice)
{
    (void)madvise((char *)s->lo - page_size(), s->map_size, advice);
}

static void fork_prepare(void)
{
    void *user = corio_this_stack_user;
    forking = user != NULL ? corio_stack_of_user_area(user) : NULL;
    if (forking != NULL)
        stack_madvise(forking, MADV_DOFORK);
}

static void fork_parent(void)
{
    if (forking != NULL)
        stack_madvise(forking, MADV_DONTFORK);
    forking = NULL;
}

/* The child keeps its copy of the stack DOFORK: it runs on it, and may fork again. */
static void fork_child(void)
{
    forking = NULL;
    corio_stack_set_current(NULL);
    if (corio_loop_forget_thread != NULL)
        corio_loop_forget_thread();
}

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void fork_register(void)
{
    /* Fails only for lack of memory; fork() from a task then kills the child, as it did
     * before these handlers existed, and nothing else changes. */
    (void)pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static void fork_handlers_install(void)
{
    (void)pthread_once(&fork_once, fork_register);
}

/* ---- overflow reporter ------------------------------------------------------------ */

/* initial-exec: the signal handler must reach these without calling into the dynamic
 * linker, which is not async-signal-safe. */
__thread void *corio_this_stack_user __attribute__((tls_model("initial-exec")));
static __thread void *altstack __attribute__((tls_model("initial-exec")));

static struct sigaction previous_segv, previous_bus;

/* Async-signal-safe formatting: the handler may use write(2) only. */
static size_t put_str(char *buf, size_t at, size_t cap, const char *s)
{
    while (*s != '\0' && at < cap)
        buf[at++] = *s++;
    return at;
}

static size_t put_num(char *buf, size_t at, size_t cap, uintmax_t n, unsigned base)
{
    char digits[32];
    size_t len = 0;
    do {
        digits[len++] = "0123456789abcdef"[n % base];
        n /= base;
    } while (n != 0);
    if (base == 16)
        at = put_str(buf, at, cap, "0x");
    while (len > 0 && at < cap)
        buf[at++] = digits[--len];
    return at;
}

static void report_overflow(const struct corio_stack *s, const void *owner)
{
    char msg[256];
    size_t cap = sizeof msg, n = 0;
    n = put_str(msg, n, cap, "corio: stack overflow in task ");
    n = put_num(msg, n, cap, (uintptr_t)owner, 16);
    n = put_str(msg, n, cap, ": its ");
    n = put_num(msg, n, cap, s->size, 10);
    n = put_str(msg, n, cap, "-byte stack is exhausted; raise corio_loop_opts_t.stack_size\n");
    ssize_t ignored = write(STDERR_FILENO, msg, n);
    (void)ignored;
}

static void on_fault(int sig, siginfo_t *info, void *uctx)
{
    void *user = corio_this_stack_user;
    struct corio_stack *s = user != NULL ? corio_stack_of_user_area(user) : NULL;
    uintptr_t addr = (uintptr_t)info->si_addr;
    if (s != NULL) {
        uintptr_t guard_hi = (uintptr_t)s->lo;
        uintptr_t guard_lo = guard_hi - page_size();
        if (addr >= guard_lo && addr < guard_hi) {
            report_overflow(s, corio_stack_user_area(s));
            signal(SIGABRT, SIG_DFL);
            abort();
        }
    }
    /* Not ours: hand the fault to whoever handled it before, or die as usual. */
    const struct sigaction *prev = sig == SIGSEGV ? &previous_segv : &previous_bus;
    if (prev->sa_flags & SA_SIGINFO) {
        prev->sa_sigaction(sig, info, uctx);
    } else if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN) {
        prev->sa_handler(sig);
    } else {
        /* Return with the default action restored: the faulting instruction runs again
         * and the signal now kills the process with its usual status. */
        signal(sig, SIG_DFL);
    }
}

int corio_stack_overflow_report_install(void)
{
    static int installed; /* process-wide handler, installed once */
    if (altstack == NULL) {
        size_t size = round_up(SIGSTKSZ > 65536 ? SIGSTKSZ : 65536, page_size());
        void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED)
            return -ENOMEM;
#ifdef CORIO_ASAN
        asan_clear(mem, size); /* it may be where an unmapped stack was */
#endif
        stack_t ss = {.ss_sp = mem, .ss_size = size, .ss_flags = 0};
        if (sigaltstack(&ss, NULL) != 0) {
            int err = -errno;
            munmap(mem, size);
            return err;
        }
        altstack = mem;
    }
    if (!__atomic_exchange_n(&installed, 1, __ATOMIC_ACQ_REL)) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_fault;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGSEGV, &sa, &previous_segv) != 0 ||
            sigaction(SIGBUS, &sa, &previous_bus) != 0)
            return -errno;
    }
    return 0;
}
