/* The raw liburing baselines' ring: set up with the flags corio asks for, so the baseline
 * runs the same kernel path as the engine it is compared with. */
#include "bench.h"

#include <errno.h>
#include <liburing.h>

int bench_raw_ring(struct io_uring *ring, unsigned entries)
{
    struct io_uring_params p = {.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
                                         IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN};
    int rc = io_uring_queue_init_params(entries, ring, &p);
    if (rc == -EINVAL) {
        struct io_uring_params plain = {0};
        rc = io_uring_queue_init_params(entries, ring, &plain);
    }
    return rc;
}
