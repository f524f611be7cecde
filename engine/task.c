/* Tasks: spawn on a pooled stack, run from the ready queue, park and wake, join, cancel,
 * yield, sleep and deadlines. A task's control block lives in its stack mapping's header,
 * so spawning allocates nothing but (rarely) a new stack. */
#include "internal.h"
#include "handover.h"

#include <errno.h>
#include <string.h>

_Static_assert(sizeof(struct corio_task) <= CORIO_STACK_USER_BYTES,
               "task control block must fit beside its stack header");
_Static_assert(offsetof(struct corio_task, fiber) + sizeof(void *) <= 64,
               "the fields a hand-over touches must stay in the first cache line");

static struct corio_task *task_of(corio_task_t *handle)
{
    struct corio_task *t = (struct corio_task *)handle;
    return t != NULL && t->magic == CORIO_TASK_MAGIC ? t : NULL;
}

/* Gives the stack (and the control block on it) back to the pool. */
static void task_release(struct corio_task *t)
{
    corio_loop_t *loop = t->loop;
    corio_link_del(&t->link);
    t->magic = 0; /* a stale handle is caught until the stack is reused */
    corio_stack_put(&loop->stacks, t->stack);
}

static void deadline_fired(void *arg);

/* ---- running --------------------------------------------------------------------- */

/* Bookkeeping once fn has returned (or the task was cancelled before it started). */
static void task_finished(corio_loop_t *loop, struct corio_task *t)
{
    corio_timer_stop(loop, &t->deadline_timer);
    t->state = CORIO_TASK_DONE;
    loop->ntasks--;
    if (t->joiner != NULL) {
        struct corio_task *j = t->joiner;
        t->joiner = NULL;
        corio_task_wake(j, 0);
    }
}

static void task_entry(void *arg)
{
    struct corio_task *t = arg;
    corio_fiber_started(&t->loop->sched);
    t->result = t->fn(t->arg);
    if (t->multishots > 0)
        corio_panic("corio: task %p returned with %u multishot op(s) it started and did "
                    "not stop: stop each with corio_multishot_stop before its "
                    "corio_multishot_t goes away",
                    (void *)t, t->multishots);
    if (__builtin_expect(t->held_mutexes != NULL, 0))
        corio_sync_task_exit_holding(t);
    corio_loop_t *loop = t->loop;
    task_finished(loop, t);
    /* A detached task's stack is released by the loop, which must not run on it; a
     * joinable one's by its joiner, from the joiner's stack: it may hand over directly. */
    struct corio_task *next = t->detached ? NULL : next_in_batch(loop);
    if (next != NULL) {
        enter_task(next);
        corio_fiber_exit(&t->fiber, &next->fiber, next);
    }
    corio_fiber_exit(&t->fiber, &loop->sched, t);
}

/* Ready-queue entry point: switch into the task. Control comes back when a task (this
 * one, or another it handed over to) parks, yields or finishes; that task is the value
 * the switch returns. */
void corio_task_run(corio_loop_t *loop, struct corio_runnable *r)
{
    struct corio_task *t = task_of_runnable(r);
    if (t->state == CORIO_TASK_NEW && t->cancelled) {
        task_finished(loop, t); /* cancelled before it started: fn never runs */
        if (t->detached)
            task_release(t);
        return;
    }
    enter_task(t);
    struct corio_task *back = corio_fiber_switch(&loop->sched, &t->fiber, t);
    corio_stack_set_current(NULL);
    if (back->state == CORIO_TASK_DONE && back->detached)
        task_release(back);
}

int corio_spawn(corio_loop_t *loop, void *(*fn)(void *), void *arg, corio_task_t **out)
{
    if (loop == NULL)
        loop = corio_current_loop(); /* this thread's: never a foreign one */
    else if (corio_loop_foreign_thread(loop))
        return -EPERM;
    if (loop == NULL || fn == NULL)
        return -EINVAL;
    if (loop->closing || loop->stopping)
        return -ESHUTDOWN;
    struct corio_stack *s;
    int err = corio_stack_get(&loop->stacks, &s);
    if (err < 0)
        return err;
    /* Field by field rather than memset: the deadline array needs no clearing. */
    struct corio_task *t = corio_stack_user_area(s);
    t->run.run = corio_task_run;
    t->stack = s;
    t->loop = loop;
    t->fn = fn;
    t->arg = arg;
    t->result = NULL;
    t->magic = CORIO_TASK_MAGIC;
    t->state = CORIO_TASK_NEW;
    t->detached = out == NULL;
    t->cancelled = false;
    t->joined = false;
    t->wake_res = 0;
    t->abort_wait = NULL;
    t->wait_obj = NULL;
    t->joiner = NULL;
    t->next_waiter = NULL;
    t->ndeadlines = 0;
    t->refused_deadlines = 0;
    t->multishots = 0;
    t->held_mutexes = NULL;
    t->park_deadline = 0;
    t->deadline_timer = (struct corio_timer){.fn = deadline_fired, .arg = t};
    corio_fiber_init(&t->fiber, s->lo, s->size, task_entry);
    corio_link_add(&loop->tasks, &t->link);
    loop->ntasks++;
    corio_runq_push(&loop->ready, &t->run);
    if (out != NULL)
        *out = (corio_task_t *)t;
    return 0;
}

corio_task_t *corio_current(void)
{
    return (corio_task_t *)corio_this_task;
}

/* ---- parking --------------------------------------------------------------------- */

/* A task's deadline timer. Usually the wait it was armed for is over and the task waits
 * with a later deadline, or not at all: then it re-arms at that deadline, or stays idle
 * until a wait needs it. */
static void deadline_fired(void *arg)
{
    struct corio_task *t = arg;
    void (*abort_wait)(struct corio_task *, int) = t->abort_wait;
    if (t->state != CORIO_TASK_PARKED || t->park_deadline == 0 || abort_wait == NULL)
        return;
    if (t->park_deadline > t->loop->now) {
        corio_timer_start(t->loop, &t->deadline_timer, t->park_deadline);
        return;
    }
    t->abort_wait = NULL;
    abort_wait(t, -ETIMEDOUT);
}

/* A wait with a deadline costs no timer operation when the task's timer is already armed
 * at or before it: a task that sets the same timeout on request after request (a client
 * with a 30 s deadline per attempt) touches the timer heap once per timeout period, not
 * twice per wait. */
static int park_until(struct corio_task *t, void (*abort_wait)(struct corio_task *, int),
                      void *wait_obj, uint64_t deadline)
{
    struct corio_timer *tm = &t->deadline_timer;
    if (!tm->pending || tm->node.when > deadline) {
        corio_timer_stop(t->loop, tm);
        corio_timer_start(t->loop, tm, deadline);
    }
    t->park_deadline = deadline;
    int res = park(t, abort_wait, wait_obj);
    t->park_deadline = 0;
    return res;
}

int corio_task_park(struct corio_task *t, void (*abort_wait)(struct corio_task *, int),
                    void *wait_obj, uint64_t deadline)
{
    if (deadline != 0)
        return park_until(t, abort_wait, wait_obj, deadline);
    return park(t, abort_wait, wait_obj);
}

struct corio_task *corio_task_enter_await_slow(int *err)
{
    struct corio_task *t = corio_this_task;
    if (t == NULL) {
        *err = -EPERM;
        return NULL;
    }
    if (t->cancelled) {
        *err = -ECANCELED;
        return NULL;
    }
    uint64_t deadline = corio_task_deadline(t);
    if (deadline != 0 && corio_clock_ns() >= deadline) {
        *err = -ETIMEDOUT;
        return NULL;
    }
    return t;
}

/* ---- join / gather / cancel ------------------------------------------------------ */

static void abort_join(struct corio_task *self, int res)
{
    struct corio_task *target = self->wait_obj;
    target->joiner = NULL;
    corio_task_wake(self, res);
}

int corio_join(corio_task_t *handle, void **result)
{
    struct corio_task *self = corio_this_task;
    if (self == NULL)
        return -EPERM;
    struct corio_task *t = task_of(handle);
    if (t == self)
        return -EDEADLK;
    if (t == NULL || t->detached || t->joined || (t->joiner != NULL && t->joiner != self))
        return -EINVAL;
    if (t->state != CORIO_TASK_DONE) {
        int err;
        if (corio_task_enter_await(&err) == NULL)
            return err;
        t->joiner = self;
        int res = corio_task_park(self, abort_join, t, corio_task_deadline(self));
        if (res < 0)
            return res; /* the caller was cancelled or timed out: t stays joinable */
    }
    if (result != NULL)
        *result = t->result;
    int ret = t->cancelled ? -ECANCELED : 0;
    t->joined = true;
    task_release(t);
    return ret;
}

int corio_gather(corio_task_t **tasks, size_t n, void **results)
{
    if (tasks == NULL && n > 0)
        return -EINVAL;
    int first = 0;
    for (size_t i = 0; i < n; i++) {
        void *r = NULL;
        int err = corio_join(tasks[i], &r);
        if (results != NULL)
            results[i] = r;
        if (err < 0 && first == 0)
            first = err;
        /* The caller itself was cancelled or ran out of time: leave the rest joinable. */
        if (err == -ETIMEDOUT || (err == -ECANCELED && corio_this_task->cancelled) || err == -EPERM)
            break;
    }
    return first;
}

int corio_cancel(corio_task_t *handle)
{
    struct corio_task *t = task_of(handle);
    if (t == NULL)
        return -EINVAL;
    if (t->state == CORIO_TASK_DONE || t->cancelled)
        return 0;
    t->cancelled = true;
    void (*abort_wait)(struct corio_task *, int) = t->abort_wait;
    if (t->state == CORIO_TASK_PARKED && abort_wait != NULL) {
        t->abort_wait = NULL; /* abort once: a second cancel finds nothing to do */
        abort_wait(t, -ECANCELED);
    }
    return 0;
}

void corio_task_cancel_all(corio_loop_t *loop)
{
    for (struct corio_link *l = loop->tasks; l != NULL; l = l->next)
        (void)corio_cancel((corio_task_t *)corio_container_of(l, struct corio_task, link));
}

void corio_task_release_all(corio_loop_t *loop)
{
    /* Only finished, unjoined tasks remain here. */
    while (loop->tasks != NULL)
        task_release(corio_container_of(loop->tasks, struct corio_task, link));
}

int corio_task_take_result(corio_task_t *handle, void **result, int err)
{
    struct corio_task *t = task_of(handle);
    if (t == NULL || t->state != CORIO_TASK_DONE)
        return err < 0 ? err : -EINVAL;
    if (result != NULL)
        *result = t->result;
    if (err == 0 && t->cancelled)
        err = -ECANCELED;
    task_release(t);
    return err;
}

/* ---- yield, sleep, deadlines ----------------------------------------------------- */

void corio_yield(void)
{
    struct corio_task *t = corio_this_task;
    if (t == NULL)
        return;
    corio_loop_t *loop = t->loop;
    t->state = CORIO_TASK_READY;
    struct corio_runnable *r = loop->ready.head;
    struct corio_task *next = r != NULL && loop->batch > 0 ? handover_candidate(r) : NULL;
    if (next == NULL) {
        corio_runq_push(&loop->ready, &t->run);
        task_leave(t);
        return;
    }
    /* The common case: t takes next's place in the queue in one step (push and pop
     * separately measured 7% slower on a yield round trip). */
    corio_runq_rotate(&loop->ready, &t->run);
    count_run(loop);
    enter_task(next);
    corio_fiber_switch(&t->fiber, &next->fiber, next);
}

static void sleep_done(void *arg)
{
    corio_task_wake(arg, 0);
}

static void abort_sleep(struct corio_task *t, int res)
{
    corio_timer_stop(t->loop, t->wait_obj);
    corio_task_wake(t, res);
}

/* Parks t until `when` (absolute), or its deadline if that comes first. */
static int sleep_until(struct corio_task *t, uint64_t when)
{
    uint64_t deadline = corio_task_deadline(t);
    bool cut_short = deadline != 0 && deadline < when;
    struct corio_timer timer = {.fn = sleep_done, .arg = t, .owned = false};
    corio_timer_start(t->loop, &timer, cut_short ? deadline : when);
    int res = corio_task_park(t, abort_sleep, &timer, 0);
    return res == 0 && cut_short ? -ETIMEDOUT : res;
}

static int yield_once(struct corio_task *t)
{
    corio_yield();
    return t->cancelled ? -ECANCELED : 0;
}

int corio_sleep(uint64_t ns)
{
    int err;
    struct corio_task *t = corio_task_enter_await(&err);
    if (t == NULL)
        return err;
    if (ns == 0)
        return yield_once(t);
    uint64_t now = corio_clock_ns();
    return sleep_until(t, ns > UINT64_MAX - now ? UINT64_MAX : now + ns);
}

int corio_sleep_until(uint64_t when)
{
    int err;
    struct corio_task *t = corio_task_enter_await(&err);
    if (t == NULL)
        return err;
    if (when <= corio_clock_ns())
        return yield_once(t);
    return sleep_until(t, when);
}

int corio_timeout_begin(uint64_t ns)
{
    struct corio_task *t = corio_this_task;
    if (t == NULL)
        return -EPERM;
    if (t->ndeadlines == CORIO_MAX_DEADLINES) {
        t->refused_deadlines++; /* its corio_timeout_end must not end an outer one */
        return -E2BIG;
    }
    uint64_t now = corio_clock_ns();
    uint64_t deadline = ns > UINT64_MAX - now ? UINT64_MAX : now + ns;
    uint64_t outer = corio_task_deadline(t);
    if (outer != 0 && outer < deadline)
        deadline = outer;
    t->deadlines[t->ndeadlines++] = deadline;
    return 0;
}

void corio_timeout_end(void)
{
    struct corio_task *t = corio_this_task;
    if (t == NULL)
        return;
    if (t->refused_deadlines > 0)
        t->refused_deadlines--;
    else if (t->ndeadlines > 0)
        t->ndeadlines--;
}
