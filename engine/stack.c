/* Coroutine stacks: guarded mmap regions, a per-loop pool, valgrind registration, the
 * fork handlers that let a task's own stack into a forked child, and the stack-overflow
 * reporter (a SIGSEGV handler on an alternate signal stack). */
#include "stack.h"

#include "fault.h"
#include "fiber.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef CORIO_HAVE_VALGRIND
#include <valgrind/valgrind.h>
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

int corio_stack_pool_init(struct corio_stack_pool *pool, size_t size, size_t max_free)
{
    if (size < CORIO_STACK_MIN_SIZE || size > CORIO_STACK_MAX_SIZE)
        return -EINVAL;
    pool->free = NULL;
    pool->nfree = 0;
    pool->max_free = max_free;
    pool->mapped = 0;
    pool->size = round_up(size, page_size());
    return 0;
}

/* Stacks are page-aligned, so without colouring every task's control block and the top
 * of every stack would share the same few L1 cache sets (the set index is the address
 * within a page): 64 tasks taking turns evicted each other on every switch. Each new
 * stack therefore starts up to 63 cache lines lower within its page. Consecutive stacks
 * (tasks spawned together usually run one after the other) sit half a page apart
 * (COLOUR_STEP lines, odd so that every colour is used): a parked task's hot lines span
 * ~11 lines, and neighbours one line apart overlapped within the page, which cost 20%
 * on a 64-task yield round robin (docs/DESIGN-NOTES.md). */
#define STACK_COLOURS 64u
#define COLOUR_STEP   33u

static void fork_handlers_install(void);

static int stack_map(struct corio_stack_pool *pool, struct corio_stack **out)
{
    fork_handlers_install(); /* before any task can run on a stack, so before any fork */
    size_t page = page_size(), size = pool->size;
    size_t colour = (pool->mapped++ * COLOUR_STEP % STACK_COLOURS) * 64;
    /* guard page | usable stack | colour | struct corio_stack + user area, page-rounded */
    size_t header =
        round_up(STACK_COLOURS * 64 + sizeof(struct corio_stack) + CORIO_STACK_USER_BYTES, page);
    size_t map_size = page + size + header;
    char *map = corio_fault_hit(CORIO_FAULT_MMAP, NULL)
                    ? MAP_FAILED
                    : mmap(NULL, map_size, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (map == MAP_FAILED)
        return -ENOMEM;
#ifdef CORIO_ASAN
    /* ASan keeps the shadow of memory that was unmapped: a task's frames on a stack that
     * has since been unmapped would still read as poisoned in a new mapping at the same
     * address, and with colouring the new header may sit where the old stack was. */
    ASAN_UNPOISON_MEMORY_REGION(map, map_size);
#endif
    if (mprotect(map, page, PROT_NONE) != 0) {
        munmap(map, map_size);
        return -ENOMEM;
    }
    /* A forked child must build its own loop; it should not inherit our stacks (but for
     * the one it forks on: see the fork handlers below). */
    (void)madvise(map, map_size, MADV_DONTFORK);

    /* The header starts 64-byte aligned right above the usable stack, which takes in the
     * colour's bytes. */
    struct corio_stack *s = (struct corio_stack *)(map + page + size + colour);
    _Static_assert(sizeof(struct corio_stack) <= 64, "stack header grew");
    s->lo = map + page;
    s->size = size + colour;
    s->map_size = map_size;
    s->next = NULL;
#ifdef CORIO_HAVE_VALGRIND
    s->valgrind_id = VALGRIND_STACK_REGISTER(s->lo, (char *)s->lo + s->size);
#else
    s->valgrind_id = 0;
#endif
    *out = s;
    return 0;
}

static void stack_unmap(struct corio_stack *s)
{
#ifdef CORIO_HAVE_VALGRIND
    VALGRIND_STACK_DEREGISTER(s->valgrind_id);
#endif
    munmap((char *)s->lo - page_size(), s->map_size);
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
    return stack_map(pool, out);
}

void corio_stack_put(struct corio_stack_pool *pool, struct corio_stack *s)
{
    if (pool->nfree >= pool->max_free) {
        stack_unmap(s);
        return;
    }
    s->next = pool->free;
    pool->free = s;
    pool->nfree++;
}

void corio_stack_pool_destroy(struct corio_stack_pool *pool)
{
    while (pool->free != NULL) {
        struct corio_stack *s = pool->free;
        pool->free = s->next;
        stack_unmap(s);
    }
    pool->nfree = 0;
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
