/* The hand-over path: parking the current task and switching straight to the next task
 * of the batch. Shared by task.c and the await calls of op.c, which park inline: every
 * I/O call of every task takes this path. */
#ifndef CORIO_HANDOVER_H
#define CORIO_HANDOVER_H

#include "internal.h"

/* The ready-queue entry point of every task (task.c): switches into it. */
void corio_task_run(corio_loop_t *loop, struct corio_runnable *r);

/* Forced inline: a yield round trip is a few dozen instructions besides the two switches,
 * and calls show. */
#define HOT static inline __attribute__((always_inline))

HOT void enter_task(struct corio_task *t)
{
    t->state = CORIO_TASK_RUNNING;
    corio_this_stack_user = t; /* its stack's user area: see corio_this_task */
}

/* The task queued at r, or NULL if r is a callback. */
static inline struct corio_task *task_of_runnable(struct corio_runnable *r)
{
    if (r->run != corio_task_run)
        return NULL;
    return (struct corio_task *)((char *)r - offsetof(struct corio_task, run));
}

/* The task queued at r, if it may be handed over to directly: NULL when r is a callback,
 * or a task cancelled before it started (the loop finishes those). */
HOT struct corio_task *handover_candidate(struct corio_runnable *r)
{
    struct corio_task *next = task_of_runnable(r);
    if (next == NULL || (next->state == CORIO_TASK_NEW && next->cancelled))
        return NULL;
    return next;
}

/* One run of the current batch is used up. */
HOT void count_run(corio_loop_t *loop)
{
    loop->batch--;
    loop->runs_since_poll++;
}

/* The next task to hand over to directly, taken off the ready queue: the head, if it is
 * a candidate and belongs to the current batch (or the loop agrees to start the next
 * batch from here). NULL: go back to the loop. */
HOT struct corio_task *next_in_batch(corio_loop_t *loop)
{
    struct corio_runnable *r = loop->ready.head;
    if (r == NULL || (loop->batch == 0 && !corio_loop_next_batch(loop)))
        return NULL;
    struct corio_task *next = handover_candidate(r);
    if (next == NULL)
        return NULL;
    corio_runq_pop(&loop->ready);
    count_run(loop);
    return next;
}

/* The current task stops running (it is parked or queued already): hand over to the
 * next task of the batch directly (two switches instead of four through the loop's
 * context), or go back to the loop. */
HOT void task_leave(struct corio_task *t)
{
    struct corio_task *next = next_in_batch(t->loop);
    if (next == NULL) {
        corio_fiber_switch(&t->fiber, &t->loop->sched, t);
        return;
    }
    enter_task(next);
    if (next != t) /* a task that yields to itself just carries on */
        corio_fiber_switch(&t->fiber, &next->fiber, next);
}

/* Parks t until corio_task_wake and returns the wake result (corio_task_park without a
 * deadline). */
HOT int park(struct corio_task *t, void (*abort_wait)(struct corio_task *, int), void *wait_obj)
{
    t->abort_wait = abort_wait;
    t->wait_obj = wait_obj;
    t->state = CORIO_TASK_PARKED;
    task_leave(t);
    return t->wake_res;
}

#endif
