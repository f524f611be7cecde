/* Sync benchmarks, each beside its baseline in the same run:
 *   chan/pingpong_corio: two tasks, ping and pong, bounce an 8-byte item through two
 *     corio channels (one iteration = A->B->A: two sends, two receives, two switches);
 *   chan/pingpong_liburing_pipe: the same round trip through two pipes with raw liburing
 *     on one ring (A writes pipe 1, B's pending read completes, B writes pipe 2, A's
 *     pending read completes): what passing a message costs without a user-space channel;
 *   chan/relay_corio: the round trip again, but both tasks run the same function (recv,
 *     then send). Set beside task/yield_round_trip (bench_loop.c, also one function on
 *     both sides), it isolates what the channel adds to two bare hand-overs. Two different
 *     functions, as in the ping-pong, also pay for return mispredictions after each switch:
 *     the CPU's return-stack buffer holds the other task's call chain. */
#include "bench.h"

#include <corio/corio.h>
#include <errno.h>
#include <liburing.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

/* ---- corio channels ------------------------------------------------------------------ */

struct pingpong {
    corio_chan_t ab, ba;
    uint64_t ab_slot[1], ba_slot[1];
    uint64_t n;
};

static void *ping(void *arg)
{
    struct pingpong *pp = arg;
    for (uint64_t i = 0; i < pp->n; i++) {
        uint64_t back;
        if (corio_chan_send(&pp->ab, &i) != 0 || corio_chan_recv(&pp->ba, &back) != 0)
            break;
    }
    corio_chan_close(&pp->ab);
    return NULL;
}

static void *pong(void *arg)
{
    struct pingpong *pp = arg;
    uint64_t v;
    while (corio_chan_recv(&pp->ab, &v) == 0)
        if (corio_chan_send(&pp->ba, &v) != 0)
            break;
    return NULL;
}

/* Both sides of chan/relay_corio: n times, receive on `in` and pass it on to `out`. */
struct relay {
    corio_chan_t *in, *out;
    uint64_t n;
};

static void *relay(void *arg)
{
    struct relay *r = arg;
    uint64_t v;
    for (uint64_t i = 0; i < r->n; i++)
        if (corio_chan_recv(r->in, &v) != 0 || corio_chan_send(r->out, &v) != 0)
            break;
    return NULL;
}

static void *relay_main(void *arg)
{
    corio_bench_state_t *st = arg;
    struct pingpong pp;
    corio_chan_init(&pp.ab, sizeof(uint64_t), 1, pp.ab_slot);
    corio_chan_init(&pp.ba, sizeof(uint64_t), 1, pp.ba_slot);
    uint64_t n = corio_bench_start(st), first = 0;
    struct relay a = {&pp.ba, &pp.ab, n}, b = {&pp.ab, &pp.ba, n};
    corio_task_t *ta, *tb;
    corio_spawn(NULL, relay, &a, &ta);
    corio_spawn(NULL, relay, &b, &tb);
    corio_chan_try_send(&pp.ba, &first); /* A starts the first round trip */
    corio_join(ta, NULL);
    corio_join(tb, NULL);
    corio_bench_stop(st);
    return NULL;
}

static void *chan_main(void *arg)
{
    corio_bench_state_t *st = arg;
    struct pingpong pp;
    corio_chan_init(&pp.ab, sizeof(uint64_t), 1, pp.ab_slot);
    corio_chan_init(&pp.ba, sizeof(uint64_t), 1, pp.ba_slot);
    corio_task_t *a, *b;
    pp.n = corio_bench_start(st);
    corio_spawn(NULL, pong, &pp, &b);
    corio_spawn(NULL, ping, &pp, &a);
    corio_join(a, NULL);
    corio_join(b, NULL);
    corio_bench_stop(st);
    return NULL;
}

/* ---- raw liburing, two pipes --------------------------------------------------------- */

enum { A_WRITE = 1, A_READ, B_WRITE, B_READ };

struct pipes {
    int ab[2], ba[2];            /* [0] read end, [1] write end */
    uint64_t a_out, a_in, b_buf; /* B reads into b_buf and writes it back from there */
};

static void prep(struct io_uring *ring, int op, int fd, uint64_t *buf, uint64_t tag)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    if (op == 'w')
        io_uring_prep_write(sqe, fd, buf, sizeof *buf, 0);
    else
        io_uring_prep_read(sqe, fd, buf, sizeof *buf, 0);
    io_uring_sqe_set_data64(sqe, tag);
}

static void bench_pipe(corio_bench_state_t *st, void *arg)
{
    (void)arg;
    struct io_uring ring;
    struct pipes p = {0};
    if (pipe(p.ab) != 0 || pipe(p.ba) != 0 || bench_raw_ring(&ring, 64) < 0) {
        corio_bench_skip(st, "pipes or io_uring unavailable");
        return;
    }
    prep(&ring, 'r', p.ab[0], &p.b_buf, B_READ); /* B waits for A's first message */
    for (uint64_t n = corio_bench_start(st), i = 0; i < n; i++) {
        p.a_out = i;
        prep(&ring, 'w', p.ab[1], &p.a_out, A_WRITE);
        prep(&ring, 'r', p.ba[0], &p.a_in, A_READ);
        for (bool back = false; !back;) {
            io_uring_submit_and_wait(&ring, 1);
            unsigned head, seen = 0;
            struct io_uring_cqe *cqe;
            io_uring_for_each_cqe(&ring, head, cqe)
            {
                seen++;
                uint64_t tag = io_uring_cqe_get_data64(cqe);
                if (tag == B_READ) { /* B answers, then waits for the next message */
                    prep(&ring, 'w', p.ba[1], &p.b_buf, B_WRITE);
                    prep(&ring, 'r', p.ab[0], &p.b_buf, B_READ);
                } else if (tag == A_READ) {
                    back = true;
                }
            }
            io_uring_cq_advance(&ring, seen);
        }
    }
    corio_bench_stop(st);
    io_uring_queue_exit(&ring); /* also ends B's last pending read */
    close(p.ab[0]);
    close(p.ab[1]);
    close(p.ba[0]);
    close(p.ba[1]);
}

void bench_sync_register(void)
{
    corio_bench_register("chan/pingpong_corio", bench_in_task, (void *)chan_main);
    corio_bench_register("chan/pingpong_liburing_pipe", bench_pipe, NULL);
    corio_bench_register("chan/relay_corio", bench_in_task, (void *)relay_main);
}

void bench_sync_summary(void)
{
    bench_line("chan ping-pong round trip, ns", "corio chan",
               corio_bench_result_ns("chan/pingpong_corio"), "liburing pipes",
               corio_bench_result_ns("chan/pingpong_liburing_pipe"));
    /* The yield benchmark lives in bench_loop.c: filtered out, it is left out here. */
    double yield = corio_bench_result_ns("task/yield_round_trip");
    if (yield > 0)
        bench_line("chan relay vs yield round trip, ns", "corio chan",
                   corio_bench_result_ns("chan/relay_corio"), "corio yield", yield);
}
