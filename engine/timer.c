/* Timer heap: intrusive binary min-heap ordered by (when, seq), after libuv's
 * heap-inl.h. Nodes are found by walking the bits of their 1-based index, so the heap
 * needs no array and never allocates. */
#include "timer.h"

static int node_less(const struct corio_heap_node *a, const struct corio_heap_node *b)
{
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

/* Swaps a node with its direct child, relinking neighbours; keys stay with their nodes. */
static void swap_with_child(struct corio_heap *h, struct corio_heap_node *parent,
                            struct corio_heap_node *child)
{
    struct corio_heap_node *pl = parent->left, *pr = parent->right, *pp = parent->parent;
    struct corio_heap_node *cl = child->left, *cr = child->right;

    parent->left = cl;
    parent->right = cr;
    parent->parent = child;
    if (cl != NULL)
        cl->parent = parent;
    if (cr != NULL)
        cr->parent = parent;

    if (pl == child) {
        child->left = parent;
        child->right = pr;
        if (pr != NULL)
            pr->parent = child;
    } else {
        child->right = parent;
        child->left = pl;
        if (pl != NULL)
            pl->parent = child;
    }
    child->parent = pp;
    if (pp == NULL)
        h->min = child;
    else if (pp->left == parent)
        pp->left = child;
    else
        pp->right = child;
}

/* The link slot of the node at 1-based index `index`, and its parent. */
static struct corio_heap_node **slot_of(struct corio_heap *h, size_t index,
                                        struct corio_heap_node **parent)
{
    size_t path = 0;
    unsigned depth = 0;
    for (; index >= 2; depth++, index /= 2)
        path = (path << 1) | (index & 1);
    struct corio_heap_node **slot = &h->min;
    *parent = NULL;
    while (depth-- > 0) {
        *parent = *slot;
        slot = (path & 1) ? &(*slot)->right : &(*slot)->left;
        path >>= 1;
    }
    return slot;
}

void corio_heap_init(struct corio_heap *h)
{
    h->min = NULL;
    h->n = 0;
    h->next_seq = 0;
}

void corio_heap_insert(struct corio_heap *h, struct corio_heap_node *node, uint64_t when)
{
    struct corio_heap_node *parent;
    node->left = node->right = NULL;
    node->when = when;
    node->seq = h->next_seq++;
    struct corio_heap_node **slot = slot_of(h, h->n + 1, &parent);
    node->parent = parent;
    *slot = node;
    h->n++;
    while (node->parent != NULL && node_less(node, node->parent))
        swap_with_child(h, node->parent, node);
}

void corio_heap_remove(struct corio_heap *h, struct corio_heap_node *node)
{
    struct corio_heap_node *parent;
    struct corio_heap_node **last_slot = slot_of(h, h->n, &parent);
    struct corio_heap_node *last = *last_slot;
    *last_slot = NULL;
    h->n--;
    if (last == node)
        return;

    /* Put the last node where `node` was, then restore the order around it. */
    last->left = node->left;
    last->right = node->right;
    last->parent = node->parent;
    if (last->left != NULL)
        last->left->parent = last;
    if (last->right != NULL)
        last->right->parent = last;
    if (node->parent == NULL)
        h->min = last;
    else if (node->parent->left == node)
        node->parent->left = last;
    else
        node->parent->right = last;

    for (;;) {
        struct corio_heap_node *smallest = last;
        if (last->left != NULL && node_less(last->left, smallest))
            smallest = last->left;
        if (last->right != NULL && node_less(last->right, smallest))
            smallest = last->right;
        if (smallest == last)
            break;
        swap_with_child(h, last, smallest);
    }
    while (last->parent != NULL && node_less(last, last->parent))
        swap_with_child(h, last->parent, last);
}
