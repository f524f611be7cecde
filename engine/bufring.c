/* Provided-buffer rings: a set of equal buffers lent to the kernel, which picks one when
 * a buffer-select recv has data. The descriptor ring itself is ring.c's (the io_uring
 * seam); this file owns the buffers and the public API. */
#include "internal.h"
#include "backend.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#define BUFRING_MAX_COUNT 32768u            /* the kernel's limit on ring entries */
#define BUFRING_MAX_SIZE  ((size_t)1 << 20) /* a recv is clamped far below 4 GiB anyway */

static void give(corio_bufring_t *br, unsigned bid)
{
    corio_ring_pbuf_give(br->descs, br->count, br->base + (size_t)bid * br->size,
                         (unsigned)br->size, (uint16_t)bid);
}

int corio_bufring_new(corio_loop_t *loop, unsigned count, size_t size, corio_bufring_t **out)
{
    if (loop == NULL || out == NULL || count == 0 || count > BUFRING_MAX_COUNT ||
        (count & (count - 1)) != 0 || size == 0 || size > BUFRING_MAX_SIZE)
        return -EINVAL;
    if (loop->ring == NULL)
        return -EOPNOTSUPP; /* the epoll backend has none: callers use their own buffers */
    corio_bufring_t *br = corio_calloc(1, sizeof *br);
    uint64_t *held = corio_calloc((count + 63) / 64, sizeof *held);
    struct corio_bufring_slot *slots = corio_calloc(count, sizeof *slots);
    if (br == NULL || held == NULL || slots == NULL) {
        free(br);
        free(held);
        free(slots);
        return -ENOMEM;
    }
    br->held = held;
    br->slots = slots;
    /* One mapping for every buffer: page-aligned, and untouched pages cost nothing. */
    void *base = corio_fault_hit(CORIO_FAULT_MMAP, NULL)
                     ? MAP_FAILED
                     : mmap(NULL, (size_t)count * size, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
        free(slots);
        free(held);
        free(br);
        return -ENOMEM;
    }
    /* Like the ring and the task stacks, left out of a forked child, which cannot use
     * them: copying would only make every touched buffer page copy-on-write here. */
    (void)madvise(base, (size_t)count * size, MADV_DONTFORK);
    int err = corio_ring_pbuf_register(loop->ring, count, &br->descs, &br->group);
    if (err < 0) {
        munmap(base, (size_t)count * size);
        free(slots);
        free(held);
        free(br);
        return err;
    }
    br->loop = loop;
    br->base = base;
    br->size = size;
    br->count = count;
    for (unsigned bid = 0; bid < count; bid++)
        give(br, bid);
    corio_link_add(&loop->bufrings, &br->link);
    *out = br;
    return 0;
}

static void bufring_destroy(corio_bufring_t *br)
{
    corio_loop_t *loop = br->loop;
    corio_link_del(&br->link);
    corio_ring_pbuf_unregister(loop->ring, br->descs, br->count, br->group);
    munmap(br->base, (size_t)br->count * br->size);
    free(br->held);
    free(br->slots);
    free(br);
}

int corio_bufring_free(corio_bufring_t *br)
{
    if (br == NULL)
        return 0;
    if (br->users > 0)
        return -EBUSY;
    bufring_destroy(br);
    return 0;
}

void corio_bufring_free_all(corio_loop_t *loop)
{
    while (loop->bufrings != NULL)
        bufring_destroy(corio_container_of(loop->bufrings, corio_bufring_t, link));
}

size_t corio_bufring_size(const corio_bufring_t *br)
{
    return br != NULL ? br->size : 0;
}

int corio_bufring_put(corio_bufring_t *br, void *buf)
{
    if (br == NULL || buf == NULL)
        return -EINVAL;
    size_t at = (size_t)((char *)buf - br->base);
    if ((char *)buf < br->base || at >= (size_t)br->count * br->size || at % br->size != 0)
        return -EINVAL;
    unsigned bid = (unsigned)(at / br->size);
    uint64_t bit = (uint64_t)1 << (bid % 64);
    if (!(br->held[bid / 64] & bit))
        return -EALREADY; /* already with the kernel: a second put would lend it twice */
    br->held[bid / 64] &= ~bit;
    give(br, bid);
    return 0;
}
