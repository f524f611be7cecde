/* Coroutine stacks: carved from large mappings (slabs) with guard regions that do not
 * split them (MADV_GUARD_INSTALL, Linux 6.13+), or one mapping each with an mprotect'ed
 * guard page on older kernels; pooled per loop, registered with valgrind, left out of
 * forked children (but for the stack fork() is called on), and an optional SIGSEGV
 * reporter that names a stack overflow instead of dying with a bare segfault. */
#ifndef CORIO_STACK_H
#define CORIO_STACK_H

#include <stdbool.h>
#include <stddef.h>

#define CORIO_STACK_DEFAULT_SIZE      ((size_t)64 * 1024)
#define CORIO_STACK_ASAN_DEFAULT_SIZE ((size_t)256 * 1024)
#define CORIO_STACK_MIN_SIZE          ((size_t)16 * 1024)
#define CORIO_STACK_MAX_SIZE          ((size_t)1024 * 1024 * 1024)
/* Bytes kept beside the stack header for its owner (a task keeps its control block
 * there), outside the usable stack. */
#define CORIO_STACK_USER_BYTES 512

/* One stack, in a slot of slot_size bytes: guard page | usable stack | top page. The
 * struct lives in the top page, with the user area right above it and the stack's top
 * right below it, so a parked task with shallow frames touches that one page. Usable
 * stack: [lo, lo + size), where size is the pool's size plus the struct's offset into
 * the top page (its cache colour, see stack.c). */
struct corio_stack {
    void *lo;
    size_t size;
    size_t map_size;          /* the slot: guard + pool size + top page */
    struct corio_stack *next; /* free-list link while pooled */
    unsigned valgrind_id;
    bool own_mapping; /* a mapping of its own (mprotect guard), not a slab's slot */
};

/* The owner's CORIO_STACK_USER_BYTES, 64-byte aligned, zeroed when the stack is new. */
static inline void *corio_stack_user_area(struct corio_stack *s)
{
    return (char *)s + ((sizeof *s + 63) & ~(size_t)63);
}

/* What the last failed mapping ran into (corio_stack_limit_hint explains each). */
enum corio_stack_limit {
    CORIO_STACK_LIMIT_NONE,
    CORIO_STACK_LIMIT_MAP_COUNT, /* vm.max_map_count mappings */
    CORIO_STACK_LIMIT_ADDRESS,   /* RLIMIT_AS (ulimit -v) */
    CORIO_STACK_LIMIT_MEMORY,    /* the kernel refused memory: overcommit or cgroup */
};

struct slab_link;

/* A slab slot whose memory was given back, and the colour it keeps. */
struct corio_released_slot {
    char *slot;
    size_t colour;
};

struct corio_stack_pool {
    struct corio_stack *free; /* resident stacks for reuse, most recently used first */
    size_t nfree;
    size_t max_free;  /* resident stacks kept; beyond this, freed stacks' memory goes back */
    size_t size;      /* usable size of every stack from this pool (at least) */
    size_t slot_size; /* guard page + size + top page */
    bool slabs;       /* carve stacks from slabs (guard regions); else a mapping each */
    unsigned mapped;  /* slots made so far: picks each new one's cache colour */
    char *carve;      /* the newest slab's next unused slot */
    size_t carve_left;
    size_t slab_slots;                    /* slots in the next slab: doubles up to a bound */
    struct slab_link *slab_list;          /* every slab, for destroy (stack.c) */
    struct corio_released_slot *released; /* slots emptied with MADV_DONTNEED */
    size_t nreleased, released_cap;
    enum corio_stack_limit limit; /* why the last failed get failed */
};

/* Default usable stack size for this build: larger under ASan, whose frames are bigger. */
size_t corio_stack_default_size(void);

/* Sets up a pool of stacks of `size` usable bytes, rounded up to whole pages. Returns 0,
 * or -EINVAL when size is 0, below CORIO_STACK_MIN_SIZE or above CORIO_STACK_MAX_SIZE
 * (the loop's "0 means default" is applied before this). Allocates nothing. */
int corio_stack_pool_init(struct corio_stack_pool *pool, size_t size, size_t max_free);

/* Takes a stack from the pool (a resident one first, then one whose memory was given
 * back, then a new slot, then a new slab). Returns 0 and sets *out, or -ENOMEM when no
 * memory can be mapped: pool->limit then says which limit was hit (nothing is leaked). */
int corio_stack_get(struct corio_stack_pool *pool, struct corio_stack **out);

/* Returns a stack to the pool. Beyond max_free resident stacks, its memory goes back to
 * the kernel: a slab slot is emptied with MADV_DONTNEED and kept for reuse, a stack with a
 * mapping of its own is unmapped. The caller must not be running on it. */
void corio_stack_put(struct corio_stack_pool *pool, struct corio_stack *stack);

/* Unmaps every slab and pooled stack; stacks still in use must not be used again. */
void corio_stack_pool_destroy(struct corio_stack_pool *pool);

/* The user area of the stack this thread runs on now (NULL: the thread's own stack). It
 * is the one thread-local the switch path stores: the overflow reporter finds the stack
 * from it, and task.c reads it as the running task (whose control block is the user
 * area). initial-exec: the signal handler must reach it without the dynamic linker. */
extern __thread void *corio_this_stack_user __attribute__((tls_model("initial-exec")));

/* The stack whose user area is p. */
static inline struct corio_stack *corio_stack_of_user_area(void *p)
{
    return (struct corio_stack *)((char *)p - ((sizeof(struct corio_stack) + 63) & ~(size_t)63));
}

/* Tells the overflow reporter which stack this thread runs on now (NULL: its own). The
 * report names the stack's user area (a task's control block) as the task. */
static inline void corio_stack_set_current(struct corio_stack *stack)
{
    corio_this_stack_user = stack != NULL ? corio_stack_user_area(stack) : NULL;
}

/* Explains a limit in one sentence: what was hit and what to raise. Static string. */
const char *corio_stack_limit_hint(enum corio_stack_limit limit);

/* Installs, for the calling thread, a SIGSEGV/SIGBUS handler on an alternate signal stack
 * that reports "stack overflow in task ..." and aborts when a fault hits the guard page
 * of the current stack; other faults go to the handler that was installed before.
 * Idempotent per thread. Returns 0 or -errno. */
int corio_stack_overflow_report_install(void);

#endif
