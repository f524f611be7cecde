/* The executor: one process-wide pool of worker threads for blocking work, and the two
 * ways a loop hands work to it (a task parks in corio_run_blocking, or a callback runs
 * when the job is done). Results travel back through corio_call_soon_threadsafe.
 *
 * Ownership of a job record (struct corio_job), the part that must never be wrong:
 * - Submitted: on the pool's queue and on its loop's job list; loop->jobs counts it.
 * - fn returned, loop still attached: the worker posts job_done to the loop (`posted`).
 *   From then on only the loop thread touches the record: job_done (or
 *   corio_executor_detach_loop, when the loop is freed first and the posted wake-up is
 *   dropped) hands the result out and frees the record; in the await form the woken task
 *   frees it after reading the result.
 * - Detached before fn returned (its task gave up, or its loop was freed): `loop` is
 *   NULL, the record is on no list, and the worker disposes of the result and frees it.
 * Both transitions happen under the pool lock, so a worker never posts to a loop that has
 * detached it, and corio_loop_free never returns while a worker is inside a post. */
#include "corio/executor.h"
#include "internal.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#define MIN_STACK_SIZE (64u * 1024u)

struct corio_job {
    struct corio_job *qnext; /* the pool's FIFO queue */
    struct corio_link link;  /* on its loop's job_list */
    void *(*fn)(void *);
    void *arg;
    void *result;
    corio_job_cb_t cb;       /* callback form: runs on the loop thread with the result */
    corio_job_cb_t dispose;  /* for a result nobody receives */
    corio_loop_t *loop;      /* NULL once detached: nobody will receive the result */
    struct corio_task *task; /* await form: the parked task; NULL once it gave up */
    bool posted;             /* fn returned and job_done was posted to loop */
};

/* The pool. Everything here is guarded by `lock`. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t work; /* signalled when a job is queued */
    struct corio_job *head, *tail;
    size_t queued;
    unsigned threads; /* the most workers to start */
    size_t stack_size;
    unsigned started; /* workers started (they never exit) */
    unsigned idle;    /* workers waiting in pthread_cond_wait */
    unsigned busy;    /* workers inside fn */
    uint64_t done;
    bool atfork_set;
} pool = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .work = PTHREAD_COND_INITIALIZER,
    .threads = CORIO_EXECUTOR_DEFAULT_THREADS,
};

/* ---- configuration and fork ------------------------------------------------------ */

int corio_executor_configure(const corio_executor_opts_t *opts)
{
    corio_executor_opts_t o = opts != NULL ? *opts : (corio_executor_opts_t){0};
    if (o.threads > CORIO_EXECUTOR_MAX_THREADS ||
        (o.stack_size != 0 && o.stack_size < MIN_STACK_SIZE))
        return -EINVAL;
    pthread_mutex_lock(&pool.lock);
    int err = 0;
    if (pool.started > 0) {
        err = -EBUSY;
    } else {
        pool.threads = o.threads != 0 ? o.threads : CORIO_EXECUTOR_DEFAULT_THREADS;
        pool.stack_size = o.stack_size;
    }
    pthread_mutex_unlock(&pool.lock);
    return err;
}

int corio_executor_stats(corio_executor_stats_t *stats)
{
    if (stats == NULL)
        return -EINVAL;
    pthread_mutex_lock(&pool.lock);
    stats->threads = pool.threads;
    stats->started = pool.started;
    stats->busy = pool.busy;
    stats->queued = pool.queued;
    stats->done = pool.done;
    pthread_mutex_unlock(&pool.lock);
    return 0;
}

/* fork() copies only the forking thread: hold the lock across it so the child's copy of
 * the pool is consistent, then give the child an empty pool. The parent's queued jobs
 * are not the child's to run (their loops are the parent's), so they are forgotten. */
static void atfork_prepare(void)
{
    pthread_mutex_lock(&pool.lock);
}

static void atfork_parent(void)
{
    pthread_mutex_unlock(&pool.lock);
}

static void atfork_child(void)
{
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.work, NULL);
    pool.head = pool.tail = NULL;
    pool.queued = 0;
    pool.started = pool.idle = pool.busy = 0;
}

/* ---- workers --------------------------------------------------------------------- */

static void job_done(void *arg);

/* fn has returned: hand the result to the loop, or, detached, dispose of it. Called and
 * returns with the lock held. */
static void finish_locked(struct corio_job *j)
{
    while (j->loop != NULL) {
        /* Posting under the lock is what makes detaching safe (see the top of the file).
         * The only failure is -ENOMEM for the wake-up node: wait for memory and retry,
         * since the result must not be lost. */
        if (corio_call_soon_threadsafe(j->loop, job_done, j) == 0) {
            j->posted = true;
            return;
        }
        pthread_mutex_unlock(&pool.lock);
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
        pthread_mutex_lock(&pool.lock);
    }
    pthread_mutex_unlock(&pool.lock);
    if (j->dispose != NULL)
        j->dispose(j->arg, j->result);
    free(j);
    pthread_mutex_lock(&pool.lock);
}

static void *worker_main(void *unused)
{
    (void)unused;
    pthread_setname_np(pthread_self(), "corio-worker");
    pthread_mutex_lock(&pool.lock);
    for (;;) {
        while (pool.head == NULL) {
            pool.idle++;
            pthread_cond_wait(&pool.work, &pool.lock);
            pool.idle--;
        }
        struct corio_job *j = pool.head;
        pool.head = j->qnext;
        if (pool.head == NULL)
            pool.tail = NULL;
        pool.queued--;
        pool.busy++;
        pthread_mutex_unlock(&pool.lock);

        void *result = j->fn(j->arg);

        pthread_mutex_lock(&pool.lock);
        pool.busy--;
        pool.done++;
        j->result = result;
        finish_locked(j);
    }
    return NULL;
}

/* Starts one detached worker with every signal blocked (it inherits the mask). */
static int start_worker_locked(void)
{
    if (!pool.atfork_set) {
        int err = pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
        if (err != 0)
            return -err;
        pool.atfork_set = true;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pool.stack_size != 0)
        pthread_attr_setstacksize(&attr, pool.stack_size);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t tid;
    int err = 0;
    if (corio_fault_hit(CORIO_FAULT_THREAD, &err))
        err = -err; /* armed with a negative errno, as pthread_create gives a positive one */
    else
        err = pthread_create(&tid, &attr, worker_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (err != 0)
        return -err;
    pool.started++;
    return 0;
}

/* ---- the loop side --------------------------------------------------------------- */

static struct corio_job *job_new(corio_loop_t *loop, void *(*fn)(void *), void *arg,
                                 corio_job_cb_t cb, corio_job_cb_t dispose)
{
    struct corio_job *j = calloc(1, sizeof *j);
    if (j != NULL) {
        j->fn = fn;
        j->arg = arg;
        j->cb = cb;
        j->dispose = dispose;
        j->loop = loop;
    }
    return j;
}

/* Queues j (loop thread; loop NULL for a detached job). A worker is started when more
 * jobs wait than workers are idle, up to the limit; if none can be started and none
 * exists, the job is refused. */
static int submit(corio_loop_t *loop, struct corio_job *j)
{
    pthread_mutex_lock(&pool.lock);
    if (pool.queued + 1 > pool.idle && pool.started < pool.threads) {
        int err = start_worker_locked();
        if (err < 0 && pool.started == 0) {
            pthread_mutex_unlock(&pool.lock);
            return err;
        }
    }
    j->qnext = NULL;
    if (pool.tail != NULL)
        pool.tail->qnext = j;
    else
        pool.head = j;
    pool.tail = j;
    pool.queued++;
    if (loop != NULL)
        corio_link_add(&loop->job_list, &j->link);
    pthread_cond_signal(&pool.work);
    pthread_mutex_unlock(&pool.lock);
    if (loop != NULL)
        loop->jobs++;
    return 0;
}

int corio_executor_submit_detached(void *(*fn)(void *), void *arg, corio_job_cb_t done)
{
    struct corio_job *j = job_new(NULL, fn, arg, NULL, done);
    if (j == NULL)
        return -ENOMEM;
    int err = submit(NULL, j);
    if (err < 0)
        free(j);
    return err;
}

/* Hands a finished job's result to whoever still wants it and frees the record, except
 * in the await form, where the woken task reads the result and frees it. */
static void deliver(struct corio_job *j)
{
    if (j->task != NULL) {
        corio_task_wake(j->task, 0);
        return;
    }
    corio_job_cb_t f = j->cb != NULL ? j->cb : j->dispose;
    void *arg = j->arg, *result = j->result;
    free(j);
    if (f != NULL)
        f(arg, result);
}

/* Posted by the worker; runs on the loop thread. */
static void job_done(void *arg)
{
    struct corio_job *j = arg;
    corio_loop_t *loop = j->loop;
    pthread_mutex_lock(&pool.lock);
    corio_link_del(&j->link);
    pthread_mutex_unlock(&pool.lock);
    loop->jobs--;
    deliver(j);
}

void corio_executor_detach_loop(corio_loop_t *loop)
{
    struct corio_job *dropped = NULL;
    pthread_mutex_lock(&pool.lock);
    while (loop->job_list != NULL) {
        struct corio_job *j = corio_container_of(loop->job_list, struct corio_job, link);
        corio_link_del(&j->link);
        if (j->posted) {
            /* Its job_done is in the loop's queues, which are dropped unrun. */
            j->qnext = dropped;
            dropped = j;
        } else {
            j->loop = NULL; /* the worker disposes of it */
        }
    }
    pthread_mutex_unlock(&pool.lock);
    loop->jobs = 0;
    while (dropped != NULL) {
        struct corio_job *j = dropped;
        dropped = j->qnext;
        j->task = NULL; /* no task is alive when a loop is freed */
        j->cb = NULL;
        deliver(j);
    }
}

/* ---- await form ------------------------------------------------------------------ */

/* The task gave up (cancel or deadline): the job runs on, its result goes to dispose. */
static void abort_job_wait(struct corio_task *t, int res)
{
    struct corio_job *j = t->wait_obj;
    corio_loop_t *loop = t->loop;
    pthread_mutex_lock(&pool.lock);
    if (j->posted) {
        j->task = NULL; /* job_done is on its way: it disposes */
    } else {
        corio_link_del(&j->link);
        j->loop = NULL; /* the worker disposes */
        loop->jobs--;
    }
    pthread_mutex_unlock(&pool.lock);
    corio_task_wake(t, res);
}

int corio_run_blocking_ex(void *(*fn)(void *), void *arg, corio_job_cb_t dispose, void **result)
{
    int err = -EINVAL;
    struct corio_task *t = fn != NULL ? corio_task_enter_await(&err) : NULL;
    struct corio_job *j = NULL;
    if (t != NULL) {
        j = job_new(t->loop, fn, arg, NULL, dispose);
        if (j != NULL)
            j->task = t; /* job_done cannot run before this task parks: same thread */
        err = j != NULL ? submit(t->loop, j) : -ENOMEM;
    }
    if (err < 0) {
        /* Not queued: arg goes to dispose now, as the contract says for every error. */
        free(j);
        if (dispose != NULL)
            dispose(arg, NULL);
        return err;
    }
    int res = corio_task_park(t, abort_job_wait, j, corio_task_deadline(t));
    if (res < 0)
        return res; /* j is no longer ours: the worker or job_done disposes */
    if (result != NULL)
        *result = j->result;
    free(j);
    return 0;
}

int corio_run_blocking(void *(*fn)(void *), void *arg, void **result)
{
    return corio_run_blocking_ex(fn, arg, NULL, result);
}

/* ---- callback form --------------------------------------------------------------- */

int corio_run_blocking_cb(corio_loop_t *loop, void *(*fn)(void *), void *arg, corio_job_cb_t cb,
                          corio_job_cb_t dispose)
{
    if (loop == NULL)
        loop = corio_current_loop();
    if (loop == NULL || fn == NULL)
        return -EINVAL;
    if (loop->closing)
        return -ESHUTDOWN;
    struct corio_job *j = job_new(loop, fn, arg, cb, dispose);
    if (j == NULL)
        return -ENOMEM;
    int err = submit(loop, j);
    if (err < 0)
        free(j);
    return err;
}
