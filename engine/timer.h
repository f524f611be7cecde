/* Timer heap: an intrusive binary min-heap keyed by (deadline, sequence), so ties fire
 * in the order they were set. Nodes live inside their owners (a sleeping task's stack, a
 * corio_timer); inserting and removing allocate nothing and cost O(log n). */
#ifndef CORIO_TIMER_H
#define CORIO_TIMER_H

#include <stddef.h>
#include <stdint.h>

struct corio_heap_node {
    struct corio_heap_node *left, *right, *parent;
    uint64_t when; /* absolute CLOCK_MONOTONIC ns */
    uint64_t seq;  /* insertion order, breaks ties */
};

struct corio_heap {
    struct corio_heap_node *min;
    size_t n;
    uint64_t next_seq;
};

void corio_heap_init(struct corio_heap *h);
void corio_heap_insert(struct corio_heap *h, struct corio_heap_node *node, uint64_t when);
void corio_heap_remove(struct corio_heap *h, struct corio_heap_node *node);

static inline struct corio_heap_node *corio_heap_min(const struct corio_heap *h)
{
    return h->min;
}

#endif
