/* Fault injection for the tests: in a build with CORIO_FAULT_INJECTION, chosen points of
 * the engine fail on demand, so the tests can prove each failure is retried, reported or
 * surfaced, never a crash, a hang or a lost completion. In every other build each check
 * below is a constant false and compiles to nothing. */
#ifndef CORIO_FAULT_H
#define CORIO_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

enum corio_fault {
    CORIO_FAULT_SQE_NULL,   /* io_uring_get_sqe finds the SQ full */
    CORIO_FAULT_SUBMIT,     /* a submit (io_uring_enter) fails with `value` before entering */
    CORIO_FAULT_CQE_RES,    /* an op's completion carries `value` instead of its result */
    CORIO_FAULT_SHORT,      /* a read/write/recv/send is asked for half its length */
    CORIO_FAULT_ALLOC,      /* the engine's malloc, calloc or realloc fails */
    CORIO_FAULT_MMAP,       /* a stack or buffer-ring mapping fails */
    CORIO_FAULT_RING_SETUP, /* io_uring set-up fails with `value` */
    CORIO_FAULT_THREAD,     /* starting an executor worker thread fails with `value` */
    CORIO_FAULT_COUNT
};

#ifdef CORIO_FAULT_INJECTION
/* Arms fault f: the next `skip` hits pass, the `count` after them fail (with `value`
 * where the point takes one). count 0 disarms. Loop thread (tests are single-threaded
 * where they arm faults). */
void corio_fault_arm(enum corio_fault f, unsigned skip, unsigned count, int value);
/* Disarms every fault and clears the counters. */
void corio_fault_reset(void);
/* How many times f has failed since it was armed. */
unsigned corio_fault_fired(enum corio_fault f);
/* The engine's check: true if this hit of f must fail; *value (if not NULL) gets the
 * armed value. */
bool corio_fault_hit(enum corio_fault f, int *value);
#else
static inline bool corio_fault_hit(enum corio_fault f, int *value)
{
    (void)f;
    (void)value;
    return false;
}
#endif

/* Allocation through the fault point. */
static inline void *corio_malloc(size_t n)
{
    return corio_fault_hit(CORIO_FAULT_ALLOC, NULL) ? NULL : malloc(n);
}
static inline void *corio_calloc(size_t n, size_t size)
{
    return corio_fault_hit(CORIO_FAULT_ALLOC, NULL) ? NULL : calloc(n, size);
}
static inline void *corio_realloc(void *p, size_t n)
{
    return corio_fault_hit(CORIO_FAULT_ALLOC, NULL) ? NULL : realloc(p, n);
}

#endif
