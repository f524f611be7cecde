/* Futures: a one-shot value that callback code resolves and tasks await, the bridge
 * between the two modes. Waiters form an intrusive list through their task structs. */
#include "internal.h"

#include <errno.h>

enum { FUTURE_PENDING = 0, FUTURE_RESOLVED, FUTURE_REJECTED };

int corio_future_init(corio_future_t *f)
{
    if (f == NULL)
        return -EINVAL;
    /* Never reads f: it may be fresh memory. Re-arming one in use is corio_future_reset. */
    *f = (corio_future_t){.priv_state = FUTURE_PENDING};
    return 0;
}

int corio_future_reset(corio_future_t *f)
{
    if (f == NULL)
        return -EINVAL;
    if (f->priv_waiters != NULL)
        return -EBUSY; /* clearing the list would leave its tasks parked for ever */
    *f = (corio_future_t){.priv_state = FUTURE_PENDING};
    return 0;
}

static int settle(corio_future_t *f, int state, void *value, int err)
{
    if (f->priv_state != FUTURE_PENDING)
        return -EALREADY;
    f->priv_state = state;
    f->priv_value = value;
    f->priv_err = err;
    struct corio_task *w = f->priv_waiters;
    f->priv_waiters = NULL;
    while (w != NULL) {
        struct corio_task *next = w->next_waiter;
        w->next_waiter = NULL;
        corio_task_wake(w, 0);
        w = next;
    }
    return 0;
}

int corio_future_resolve(corio_future_t *f, void *value)
{
    if (f == NULL)
        return -EINVAL;
    return settle(f, FUTURE_RESOLVED, value, 0);
}

int corio_future_reject(corio_future_t *f, int err)
{
    if (f == NULL || err >= 0)
        return -EINVAL;
    return settle(f, FUTURE_REJECTED, NULL, err);
}

bool corio_future_done(const corio_future_t *f)
{
    return f != NULL && f->priv_state != FUTURE_PENDING;
}

/* Cancelled or timed out while waiting: leave the waiter list. */
static void abort_future_wait(struct corio_task *t, int res)
{
    corio_future_t *f = t->wait_obj;
    struct corio_task **link = (struct corio_task **)&f->priv_waiters;
    while (*link != NULL && *link != t)
        link = &(*link)->next_waiter;
    if (*link == t)
        *link = t->next_waiter;
    t->next_waiter = NULL;
    corio_task_wake(t, res);
}

int corio_future_await(corio_future_t *f, void **value)
{
    if (f == NULL)
        return -EINVAL;
    /* Checked even when f is settled: a call that works only by luck outside a task, or
     * that ignores a cancel, would hide the bug until the timing changes. */
    int err;
    struct corio_task *t = corio_task_enter_await(&err);
    if (t == NULL)
        return err;
    if (f->priv_state == FUTURE_PENDING) {
        /* Waiters are woken in the order they came: append. */
        struct corio_task **link = (struct corio_task **)&f->priv_waiters;
        while (*link != NULL)
            link = &(*link)->next_waiter;
        t->next_waiter = NULL;
        *link = t;
        int res = corio_task_park(t, abort_future_wait, f, corio_task_deadline(t));
        if (res < 0)
            return res;
    }
    if (f->priv_state == FUTURE_REJECTED)
        return f->priv_err;
    if (value != NULL)
        *value = f->priv_value;
    return 0;
}
