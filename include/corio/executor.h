/* corio/executor.h: a thread pool for blocking work (a library without an async API, a
 * CPU-heavy computation, getaddrinfo), so that it never stalls a loop.
 *
 *   1. the pool: lazily started, process-wide, configurable before first use
 *   2. await form: corio_run_blocking parks the calling task until a worker has run fn
 *   3. callback form: corio_run_blocking_cb runs fn on a worker and cb on the loop thread
 *
 * Conventions
 * - A job is fn(arg) run once on a worker thread. fn always runs, exactly once, once the
 *   submitting call has returned 0 (or, in the await form, has parked): neither a cancel,
 *   a deadline nor corio_loop_free stops a job that is queued or running. So arg must
 *   stay valid until fn has returned, which may be after the awaiting call gave up: do
 *   not point arg into a task's stack unless the task cannot be cancelled or time out
 *   while it waits; pass heap memory and release it in `dispose` instead.
 * - fn runs on a worker thread: it must not call anything of corio.h but
 *   corio_call_soon_threadsafe() and corio_loop_stop(). Workers block every signal, so
 *   signals are delivered to the application's own threads.
 * - fn's result is delivered exactly once: to the waiting task, to cb, or, when nobody
 *   can receive it any more (the task was cancelled or timed out, or the loop was freed
 *   first), to `dispose(arg, result)`. dispose may run on a worker thread or on the loop
 *   thread (inside corio_loop_free too): it must only release memory and resources, and
 *   must not touch the loop. A NULL dispose means the result needs no releasing.
 * - Jobs start in the order they were submitted (one FIFO queue for the process); with
 *   more jobs than workers the rest wait in the queue. Jobs on different workers run in
 *   parallel and may finish in any order. Each job costs two small allocations (its record
 *   and the thread-safe wake-up) and one lock round trip on each side: it is meant for
 *   work that takes microseconds at least, not for the hot path.
 * - A loop is never kept waiting by a job it no longer wants: corio_loop_free detaches
 *   the loop's outstanding jobs (they finish on their workers and are disposed) and
 *   returns at once; no worker touches a loop after it has been freed.
 */
#ifndef CORIO_EXECUTOR_H
#define CORIO_EXECUTOR_H

#include <corio/corio.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- 1. the pool --------------------------------------------------------------------
 * One pool per process, shared by every loop. Workers are started on demand, one at a
 * time while jobs are queued and no worker is free, up to `threads`; they then stay
 * (idle workers sleep on a condition variable and cost nothing but their stacks).
 *
 * At process exit the workers are simply abandoned (they are detached threads): exit()
 * does not wait for them, so a job blocked forever cannot hang the exit, and nothing is
 * freed underneath a worker that is still running. A job still running at exit is cut
 * short with the process, like any thread. After fork() the child starts with an empty
 * pool (the parent's workers and queued jobs are not in the child; a child must build its
 * own loops anyway). */

#define CORIO_EXECUTOR_DEFAULT_THREADS 4u
#define CORIO_EXECUTOR_MAX_THREADS     1024u

/* Zero means "default" for every field; a NULL pointer means all defaults. */
typedef struct corio_executor_opts {
    unsigned threads;  /* most workers; default 4, at most CORIO_EXECUTOR_MAX_THREADS */
    size_t stack_size; /* worker stack size; default: the pthread default (ulimit -s,
                        * usually 8 MiB: getaddrinfo and many libraries need deep stacks);
                        * at least 64 KiB */
} corio_executor_opts_t;

/* Configures the pool. Only before the first job has started it: returns 0, -EBUSY once
 * the pool is running (its settings stay), -EINVAL for threads above the maximum or a
 * stack_size below 64 KiB. Thread-safe. */
CORIO_API int corio_executor_configure(const corio_executor_opts_t *opts);

typedef struct corio_executor_stats {
    unsigned threads; /* the most workers the pool will start */
    unsigned started; /* workers started so far */
    unsigned busy;    /* workers running a job right now */
    size_t queued;    /* jobs waiting for a worker */
    uint64_t done;    /* jobs whose fn has returned, since the process started */
} corio_executor_stats_t;

/* Copies a consistent snapshot of the pool's counters into *stats. Thread-safe. Returns 0,
 * -EINVAL for NULL. */
CORIO_API int corio_executor_stats(corio_executor_stats_t *stats);

/* What to do with a result that nobody receives (see the conventions above), or, in the
 * callback form, the callback itself. arg is the job's arg. */
typedef void (*corio_job_cb_t)(void *arg, void *result);

/* ---- 2. await form ------------------------------------------------------------------ */

/* Inside a task: runs fn(arg) on a worker thread and parks the task until it has
 * returned; other tasks of the loop keep running meanwhile. *result (if not NULL) gets
 * fn's return value. Returns 0; -EINVAL for a NULL fn; -EPERM outside a task;
 * -ECANCELED if the task is (or gets) cancelled, -ETIMEDOUT if its deadline
 * (corio_timeout_begin) passes first: the call returns at once, while the job still runs
 * to its end on its worker and its result is discarded (corio_run_blocking_ex can
 * release it);
 * -EAGAIN or -ENOMEM if no worker could be started or the job not be recorded (fn does
 * not run then). */
CORIO_API int corio_run_blocking(void *(*fn)(void *), void *arg, void **result);

/* corio_run_blocking that takes arg over when it fails: whenever it returns an error,
 * dispose(arg, result) runs exactly once (if dispose is not NULL). After -ECANCELED or
 * -ETIMEDOUT while the job was queued or running, that is once fn has returned, with
 * fn's result, on whichever thread finishes (so a result that owns memory, or arg itself
 * allocated for the job, is released instead of leaked); after an error that came before
 * the job was queued, it is right away, inside this call, with result NULL and fn never
 * run. On success (0) dispose does not run and arg is the caller's again. */
CORIO_API int corio_run_blocking_ex(void *(*fn)(void *), void *arg, corio_job_cb_t dispose,
                                    void **result);

/* ---- 3. callback form --------------------------------------------------------------- */

/* Runs fn(arg) on a worker thread, then cb(arg, result) on the loop's thread, from the
 * loop's ready queue (never inside this call). loop NULL: the loop running on this
 * thread. A submitted job keeps the loop running (corio_loop_run does not return for lack
 * of work) until cb has run. cb may be NULL: the result then goes to dispose. If the loop
 * is freed before cb could run, cb never runs and the result goes to dispose instead
 * (which may be NULL). Loop thread only. Returns 0 (cb or dispose will run exactly once),
 * -EINVAL for a NULL fn or no loop, -ESHUTDOWN while corio_loop_free runs, -EAGAIN or
 * -ENOMEM (fn does not run then). */
CORIO_API int corio_run_blocking_cb(corio_loop_t *loop, void *(*fn)(void *), void *arg,
                                    corio_job_cb_t cb, corio_job_cb_t dispose);

#ifdef __cplusplus
}
#endif

#endif
