/* worker_pool: a producer hands jobs to a pool of worker tasks through a bounded channel,
 * the workers send results back through a second one, and the main task collects them.
 * Each job here is "wait a little, then sum 1..n"; put real I/O there (corio_read,
 * corio_recv, ...): it parks a worker the same way while the others keep going.
 * Usage: worker_pool [JOBS [WORKERS]]   (default 20 jobs, 4 workers) */
#include <corio/corio.h> /* includes corio/sync.h: channels, wait groups, ... */

#include <stdio.h>
#include <stdlib.h>

#define MAX_WORKERS 64

struct job {
    int id;
    unsigned n;
};

struct result {
    int id, worker;
    unsigned long sum;
};

/* What the tasks share. It lives in the main task's frame, the channels' buffers too: a
 * channel never allocates. */
struct pool {
    int njobs, nworkers;
    corio_chan_t jobs, results;
    struct job job_slots[4]; /* at most 4 jobs queued: the producer waits beyond that */
    struct result result_slots[4];
    corio_waitgroup_t running; /* workers still running; the last one closes `results` */
};

struct worker {
    struct pool *pool;
    int id;
};

static void *producer(void *arg)
{
    struct pool *p = arg;
    for (int i = 0; i < p->njobs; i++) {
        struct job j = {.id = i, .n = 1000u * (unsigned)(i + 1)};
        if (corio_chan_send(&p->jobs, &j) < 0) /* waits while the queue is full */
            break;
    }
    corio_chan_close(&p->jobs); /* workers finish what is queued, then get -EPIPE */
    return NULL;
}

static void *worker(void *arg)
{
    struct worker *w = arg;
    struct pool *p = w->pool;
    struct job j;
    while (corio_chan_recv(&p->jobs, &j) == 0) {            /* -EPIPE: closed and drained */
        corio_sleep(1000000ull * (unsigned)(j.id % 3 + 1)); /* 1-3 ms of "I/O" */
        struct result r = {.id = j.id, .worker = w->id};
        for (unsigned k = 1; k <= j.n; k++)
            r.sum += k;
        if (corio_chan_send(&p->results, &r) < 0)
            break;
    }
    corio_waitgroup_done(&p->running);
    if (corio_waitgroup_count(&p->running) == 0)
        corio_chan_close(&p->results); /* the last worker out ends main's loop */
    return NULL;
}

static void *pool_main(void *arg)
{
    struct pool *p = arg;
    struct worker workers[MAX_WORKERS];
    corio_chan_init(&p->jobs, sizeof(struct job), 4, p->job_slots);
    corio_chan_init(&p->results, sizeof(struct result), 4, p->result_slots);
    corio_waitgroup_init(&p->running);
    corio_waitgroup_add(&p->running, (unsigned)p->nworkers);

    /* Detached tasks (no handle): the channels and the wait group say when they are done.
     * They first run when this task waits in corio_chan_recv below. */
    corio_spawn(NULL, producer, p, NULL);
    for (int i = 0; i < p->nworkers; i++) {
        workers[i] = (struct worker){.pool = p, .id = i};
        corio_spawn(NULL, worker, &workers[i], NULL);
    }

    struct result r;
    int got = 0;
    while (corio_chan_recv(&p->results, &r) == 0) { /* results arrive as jobs finish */
        printf("job %2d on worker %d: sum = %lu\n", r.id, r.worker, r.sum);
        got++;
    }
    printf("%d of %d jobs done by %d workers\n", got, p->njobs, p->nworkers);
    return got == p->njobs ? NULL : (void *)1;
}

int main(int argc, char **argv)
{
    struct pool p = {
        .njobs = argc > 1 ? atoi(argv[1]) : 20,
        .nworkers = argc > 2 ? atoi(argv[2]) : 4,
    };
    if (p.njobs < 0 || p.nworkers < 1 || p.nworkers > MAX_WORKERS) {
        fprintf(stderr, "usage: worker_pool [JOBS [WORKERS (1-%d)]]\n", MAX_WORKERS);
        return 2;
    }
    void *failed = NULL;
    int err = corio_run(pool_main, &p, &failed);
    if (err < 0) {
        fprintf(stderr, "worker_pool: %s\n", corio_strerror(err));
        return 1;
    }
    return failed != NULL;
}
