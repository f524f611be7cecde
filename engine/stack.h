/* Coroutine stacks: mmap'ed regions with a PROT_NONE guard page below them, pooled per
 * loop, registered with valgrind, left out of forked children (but for the stack fork()
 * is called on), and an optional SIGSEGV reporter that names a stack overflow instead of
 * dying with a bare segfault. */
#ifndef CORIO_STACK_H
#define CORIO_STACK_H

#include <stddef.h>

#define CORIO_STACK_DEFAULT_SIZE      ((size_t)64 * 1024)
#define CORIO_STACK_ASAN_DEFAULT_SIZE ((size_t)256 * 1024)
#define CORIO_STACK_MIN_SIZE          ((size_t)16 * 1024)
#define CORIO_STACK_MAX_SIZE          ((size_t)1024 * 1024 * 1024)
/* Bytes kept beside the stack header for its owner (a task keeps its control block
 * there), outside the usable stack. */
#define CORIO_STACK_USER_BYTES 1024

/* One stack. The struct itself lives at the very top of its own mapping, so a stack
 * costs no allocation besides the mapping. Usable stack: [lo, lo + size), where size is
 * the pool's size plus up to 63 cache lines of colouring (see stack.c). */
struct corio_stack {
    void *lo;
    size_t size;
    size_t map_size;          /* guard + size + this header, page-rounded */
    struct corio_stack *next; /* free-list link while pooled */
    unsigned valgrind_id;
};

/* The owner's CORIO_STACK_USER_BYTES, 64-byte aligned, zeroed when the stack is new. */
static inline void *corio_stack_user_area(struct corio_stack *s)
{
    return (char *)s + ((sizeof *s + 63) & ~(size_t)63);
}

struct corio_stack_pool {
    struct corio_stack *free;
    size_t nfree;
    size_t max_free; /* stacks kept for reuse; beyond this, freed stacks are unmapped */
    size_t size;     /* usable size of every stack from this pool (at least) */
    unsigned mapped; /* stacks mapped so far: picks each new stack's cache colour */
};

/* Default usable stack size for this build: larger under ASan, whose frames are bigger. */
size_t corio_stack_default_size(void);

/* Sets up a pool of stacks of `size` usable bytes, rounded up to whole pages. Returns 0,
 * or -EINVAL when size is 0, below CORIO_STACK_MIN_SIZE or above CORIO_STACK_MAX_SIZE
 * (the loop's "0 means default" is applied before this). Allocates nothing. */
int corio_stack_pool_init(struct corio_stack_pool *pool, size_t size, size_t max_free);

/* Takes a stack from the pool, or maps a new one. Returns 0 and sets *out, or -ENOMEM
 * when mapping fails (nothing is leaked). */
int corio_stack_get(struct corio_stack_pool *pool, struct corio_stack **out);

/* Returns a stack to the pool (or unmaps it when the pool is full). The caller must not
 * be running on it. */
void corio_stack_put(struct corio_stack_pool *pool, struct corio_stack *stack);

/* Unmaps every pooled stack. */
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

/* Installs, for the calling thread, a SIGSEGV/SIGBUS handler on an alternate signal stack
 * that reports "stack overflow in task ..." and aborts when a fault hits the guard page
 * of the current stack; other faults go to the handler that was installed before.
 * Idempotent per thread. Returns 0 or -errno. */
int corio_stack_overflow_report_install(void);

#endif
