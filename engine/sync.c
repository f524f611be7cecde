/* Coroutine-aware synchronisation: channel, event, semaphore, mutex, wait group,
 * condition variable, read-write lock.
 * Built on the task parking of task.c (corio_task_park / corio_task_wake, abort_wait for
 * cancellation and deadlines). A waiting task is queued through a node on its own stack,
 * so nothing here allocates.
 *
 * The rule that keeps every primitive free of lost wake-ups: whatever a waiter waits for
 * (an item, a free slot, a permit, the lock) is transferred to it by the code that wakes
 * it, before it runs again. A woken task never re-checks or competes, and a waiter that
 * is cancelled or times out is unlinked by abort_waiter while still parked, so the
 * waking side can never pick a task that is no longer waiting. */
#include "corio/sync.h"
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

/* ---- wait queues ------------------------------------------------------------------- */

/* One parked task in one wait queue; lives in the waiting call's frame. */
struct corio_sync_waiter {
    struct corio_sync_waiter *prev, *next;
    struct corio_task *task;
    struct corio_sync_waitq *q; /* the queue it is on, for abort_waiter */
    void *item; /* channel: the sender's item or the receiver's destination; cond: the mutex */
    int res;    /* cond: the abort result kept while the mutex is waited for again */
    bool write; /* rwlock: waits for the write lock */
};

static void waitq_push(struct corio_sync_waitq *q, struct corio_sync_waiter *w)
{
    w->next = NULL;
    w->prev = q->priv_tail;
    if (q->priv_tail != NULL)
        q->priv_tail->next = w;
    else
        q->priv_head = w;
    q->priv_tail = w;
}

static void waitq_remove(struct corio_sync_waitq *q, struct corio_sync_waiter *w)
{
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        q->priv_head = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    else
        q->priv_tail = w->prev;
}

/* Unlinks and returns the longest-waiting node, or NULL. */
static struct corio_sync_waiter *waitq_pop(struct corio_sync_waitq *q)
{
    struct corio_sync_waiter *w = q->priv_head;
    if (w != NULL)
        waitq_remove(q, w);
    return w;
}

/* Wakes every waiter with res (close, event set, wait group at zero). */
static void waitq_wake_all(struct corio_sync_waitq *q, int res)
{
    struct corio_sync_waiter *w;
    while ((w = waitq_pop(q)) != NULL)
        corio_task_wake(w->task, res);
}

/* The task was cancelled or its deadline passed while parked here: leave the queue. It
 * holds nothing yet (a transfer always dequeues first), so nothing is lost. */
static void abort_waiter(struct corio_task *t, int res)
{
    struct corio_sync_waiter *w = t->wait_obj;
    waitq_remove(w->q, w);
    corio_task_wake(t, res);
}

/* Parks t at the tail of q until a waker transfers what it waits for (returns the wake
 * result, 0 or -EPIPE) or the wait is aborted (-ECANCELED, -ETIMEDOUT). */
static int wait_in(struct corio_task *t, struct corio_sync_waitq *q, void *item)
{
    struct corio_sync_waiter w = {.task = t, .q = q, .item = item};
    waitq_push(q, &w);
    return corio_task_park(t, abort_waiter, &w, corio_task_deadline(t));
}

/* ---- channel ----------------------------------------------------------------------- */

/* Copies one item. Pointer-sized items are the common case; a constant size lets the
 * compiler turn the copy into one move instead of a call to memcpy. */
static inline void copy_item(void *dst, const void *src, size_t size)
{
    if (size == sizeof(void *))
        memcpy(dst, src, sizeof(void *));
    else
        memcpy(dst, src, size);
}

static inline unsigned char *slot(const corio_chan_t *ch, size_t i)
{
    return ch->priv_buf + i * ch->priv_item_size;
}

static inline size_t ring_next(const corio_chan_t *ch, size_t i)
{
    return i + 1 == ch->priv_cap ? 0 : i + 1; /* no division on the hot path */
}

int corio_chan_init(corio_chan_t *ch, size_t item_size, size_t capacity, void *storage)
{
    if (ch == NULL || item_size == 0 || capacity == 0)
        return -EINVAL;
    if (storage == NULL)
        return -EFAULT;
    if (capacity > SIZE_MAX / item_size)
        return -EOVERFLOW;
    *ch = (corio_chan_t){.priv_buf = storage, .priv_item_size = item_size, .priv_cap = capacity};
    return 0;
}

static int chan_check(const corio_chan_t *ch, const void *item)
{
    if (ch == NULL || ch->priv_cap == 0)
        return -EINVAL;
    return item == NULL ? -EFAULT : 0;
}

/* Puts an item in without waiting: 0, -EAGAIN (full), -EPIPE (closed). */
static int chan_put(corio_chan_t *ch, const void *item)
{
    if (ch->priv_closed)
        return -EPIPE;
    /* Receivers wait only while the buffer is empty: hand over directly. */
    struct corio_sync_waiter *r = waitq_pop(&ch->priv_receivers);
    if (r != NULL) {
        copy_item(r->item, item, ch->priv_item_size);
        corio_task_wake(r->task, 0);
        return 0;
    }
    if (ch->priv_len == ch->priv_cap)
        return -EAGAIN;
    size_t tail = ch->priv_head + ch->priv_len;
    if (tail >= ch->priv_cap)
        tail -= ch->priv_cap;
    copy_item(slot(ch, tail), item, ch->priv_item_size);
    ch->priv_len++;
    return 0;
}

/* Takes the oldest item without waiting: 0, -EAGAIN (empty), -EPIPE (empty and closed). */
static int chan_take(corio_chan_t *ch, void *out)
{
    if (ch->priv_len == 0)
        return ch->priv_closed ? -EPIPE : -EAGAIN;
    unsigned char *head = slot(ch, ch->priv_head);
    copy_item(out, head, ch->priv_item_size);
    ch->priv_head = ring_next(ch, ch->priv_head);
    /* Senders wait only while the buffer is full. The slot just freed is the new tail:
     * the oldest waiting sender's item goes there, behind everything buffered. */
    struct corio_sync_waiter *s = waitq_pop(&ch->priv_senders);
    if (s != NULL) {
        copy_item(head, s->item, ch->priv_item_size);
        corio_task_wake(s->task, 0);
    } else {
        ch->priv_len--;
    }
    return 0;
}

int corio_chan_send(corio_chan_t *ch, const void *item)
{
    int err = chan_check(ch, item);
    if (err < 0)
        return err;
    struct corio_task *t = corio_task_enter_await(&err);
    if (t == NULL)
        return err;
    err = chan_put(ch, item);
    if (err != -EAGAIN)
        return err;
    return wait_in(t, &ch->priv_senders, (void *)item);
}

int corio_chan_recv(corio_chan_t *ch, void *out)
{
    int err = chan_check(ch, out);
    if (err < 0)
        return err;
    struct corio_task *t = corio_task_enter_await(&err);
    if (t == NULL)
        return err;
    err = chan_take(ch, out);
    if (err != -EAGAIN)
        return err;
    return wait_in(t, &ch->priv_receivers, out);
}

int corio_chan_try_send(corio_chan_t *ch, const void *item)
{
    int err = chan_check(ch, item);
    return err < 0 ? err : chan_put(ch, item);
}

int corio_chan_try_recv(corio_chan_t *ch, void *out)
{
    int err = chan_check(ch, out);
    return err < 0 ? err : chan_take(ch, out);
}

int corio_chan_close(corio_chan_t *ch)
{
    if (ch == NULL || ch->priv_cap == 0)
        return -EINVAL;
    if (ch->priv_closed)
        return -EALREADY;
    ch->priv_closed = true;
    /* At most one of the two queues is non-empty; parked receivers mean an empty buffer,
     * so they have nothing left to drain. */
    waitq_wake_all(&ch->priv_senders, -EPIPE);
    waitq_wake_all(&ch->priv_receivers, -EPIPE);
    return 0;
}

size_t corio_chan_len(const corio_chan_t *ch)
{
    return ch != NULL ? ch->priv_len : 0;
}

size_t corio_chan_cap(const corio_chan_t *ch)
{
    return ch != NULL ? ch->priv_cap : 0;
}

bool corio_chan_closed(const corio_chan_t *ch)
{
    return ch != NULL && ch->priv_closed;
}

/* ---- event ------------------------------------------------------------------------- */

int corio_event_init(corio_event_t *ev)
{
    if (ev == NULL)
        return -EINVAL;
    *ev = (corio_event_t){0};
    return 0;
}

int corio_event_set(corio_event_t *ev)
{
    if (ev == NULL)
        return -EINVAL;
    ev->priv_set = true;
    waitq_wake_all(&ev->priv_waiters, 0);
    return 0;
}

int corio_event_clear(corio_event_t *ev)
{
    if (ev == NULL)
        return -EINVAL;
    ev->priv_set = false;
    return 0;
}

bool corio_event_is_set(const corio_event_t *ev)
{
    return ev != NULL && ev->priv_set;
}

int corio_event_wait(corio_event_t *ev)
{
    if (ev == NULL)
        return -EINVAL;
    int err;
    struct corio_task *t = corio_task_enter_await(&err);
    if (t == NULL)
        return err;
    if (ev->priv_set)
        return 0;
    return wait_in(t, &ev->priv_waiters, NULL);
}

/* ---- semaphore --------------------------------------------------------------------- */

int corio_sem_init(corio_sem_t *sem, unsigned permits)
{
    if (sem == NULL)
        return -EINVAL;
    *sem = (corio_sem_t){.priv_count = permits};
    return 0;
}

int corio_sem_acquire(corio_sem_t *sem)
{
    if (sem == NULL)
        return -EINVAL;
    int err;
    struct corio_task *t = corio_task_enter_await(&err);
    if (t == NULL)
        return err;
    if (sem->priv_count > 0) { /* free permits imply no waiters: nobody is overtaken */
        sem->priv_count--;
        return 0;
    }
    return wait_in(t, &sem->priv_waiters, NULL);
}

int corio_sem_try_acquire(corio_sem_t *sem)
{
    if (sem == NULL)
        return -EINVAL;
    if (sem->priv_count == 0)
        return -EAGAIN;
    sem->priv_count--;
    return 0;
}

int corio_sem_release(corio_sem_t *sem)
{
    if (sem == NULL)
        return -EINVAL;
    struct corio_sync_waiter *w = waitq_pop(&sem->priv_waiters);
    if (w != NULL) {
        corio_task_wake(w->task, 0); /* the permit goes with the wake-up */
        return 0;
    }
    if (sem->priv_count == UINT_MAX)
        return -EOVERFLOW;
    sem->priv_count++;
    return 0;
}

unsigned corio_sem_value(const corio_sem_t *sem)
{
    return sem != NULL ? sem->priv_count : 0;
}

/* ---- mutex ------------------------------------------------------------------------- */

/* The owner recorded when callback code (no current task) locks: one for all callbacks. */
static const char callback_owner;

/* Who is calling: the current task, or callback code on the loop thread. */
static const void *caller_identity(void)
{
    struct corio_task *t = corio_this_task;
    return t != NULL ? (const void *)t : &callback_owner;
}

int corio_mutex_init(corio_mutex_t *m)
{
    if (m == NULL)
        return -EINVAL;
    *m = (corio_mutex_t){0};
    return 0;
}

/* Makes t the owner of m, on t's list of held mutexes: a task that returns with a mutex on
 * it is reported (corio_sync_check_task_exit). A list rather than a count so that the
 * report can name the mutex; adding and removing are O(1). */
static void mutex_give(corio_mutex_t *m, struct corio_task *t)
{
    m->priv_owner = t;
    m->priv_next_held = t->held_mutexes;
    if (m->priv_next_held != NULL)
        m->priv_next_held->priv_pprev_held = &m->priv_next_held;
    m->priv_pprev_held = &t->held_mutexes;
    t->held_mutexes = m;
}

/* Unlocks m for its owner (a task or callback code) and hands it to the longest-waiting
 * task, if any. */
static void mutex_release(corio_mutex_t *m)
{
    if (m->priv_owner != &callback_owner) {
        *m->priv_pprev_held = m->priv_next_held;
        if (m->priv_next_held != NULL)
            m->priv_next_held->priv_pprev_held = m->priv_pprev_held;
    }
    struct corio_sync_waiter *w = waitq_pop(&m->priv_waiters);
    if (w == NULL) {
        m->priv_owner = NULL;
        return;
    }
    mutex_give(m, w->task);
    corio_task_wake(w->task, 0);
}

int corio_mutex_lock(corio_mutex_t *m)
{
    if (m == NULL)
        return -EINVAL;
    int err;
    struct corio_task *t = corio_task_enter_await(&err);
    if (t == NULL)
        return err;
    if (m->priv_owner == t)
        return -EDEADLK;
    if (m->priv_owner == NULL) { /* unlocked implies no waiters: nobody is overtaken */
        mutex_give(m, t);
        return 0;
    }
    return wait_in(t, &m->priv_waiters, NULL); /* unlock makes us the owner */
}

int corio_mutex_trylock(corio_mutex_t *m)
{
    if (m == NULL)
        return -EINVAL;
    const void *self = caller_identity();
    if (m->priv_owner == self)
        return -EDEADLK;
    if (m->priv_owner != NULL)
        return -EAGAIN;
    if (self == &callback_owner)
        m->priv_owner = self;
    else
        mutex_give(m, corio_this_task);
    return 0;
}

int corio_mutex_unlock(corio_mutex_t *m)
{
    if (m == NULL)
        return -EINVAL;
    if (m->priv_owner == NULL || m->priv_owner != caller_identity())
        return -EPERM;
    mutex_release(m);
    return 0;
}

bool corio_mutex_locked(const corio_mutex_t *m)
{
    return m != NULL && m->priv_owner != NULL;
}

void corio_sync_task_exit_holding(const struct corio_task *t)
{
    const corio_mutex_t *m = t->held_mutexes;
    unsigned n = 0;
    for (const corio_mutex_t *i = m; i != NULL; i = i->priv_next_held)
        n++;
    corio_panic("corio: task %p (fn %p) finished holding corio_mutex_t %p%s: a task must "
                "corio_mutex_unlock every mutex it locked before it returns, also when it "
                "was cancelled, or the mutex stays locked forever",
                (const void *)t, (void *)(uintptr_t)t->fn, (const void *)m,
                n > 1 ? " (and others)" : "");
}

/* ---- wait group -------------------------------------------------------------------- */

int corio_waitgroup_init(corio_waitgroup_t *wg)
{
    if (wg == NULL)
        return -EINVAL;
    *wg = (corio_waitgroup_t){0};
    return 0;
}

int corio_waitgroup_add(corio_waitgroup_t *wg, unsigned n)
{
    if (wg == NULL)
        return -EINVAL;
    if (n > UINT_MAX - wg->priv_count)
        return -EOVERFLOW;
    wg->priv_count += n;
    return 0;
}

int corio_waitgroup_done(corio_waitgroup_t *wg)
{
    if (wg == NULL)
        return -EINVAL;
    if (wg->priv_count == 0)
        return -ERANGE;
    if (--wg->priv_count == 0)
        waitq_wake_all(&wg->priv_waiters, 0);
    return 0;
}

int corio_waitgroup_wait(corio_waitgroup_t *wg)
{
    if (wg == NULL)
        return -EINVAL;
    int err;
    struct corio_task *t = corio_task_enter_await(&err);
    if (t == NULL)
        return err;
    if (wg->priv_count == 0)
        return 0;
    return wait_in(t, &wg->priv_waiters, NULL);
}

unsigned corio_waitgroup_count(const corio_waitgroup_t *wg)
{
    return wg != NULL ? wg->priv_count : 0;
}

/* ---- condition variable ------------------------------------------------------------ */

int corio_cond_init(corio_cond_t *c)
{
    if (c == NULL)
        return -EINVAL;
    *c = (corio_cond_t){0};
    return 0;
}

/* Moves a signalled (or aborted) cond waiter to the mutex it waits with: it owns the mutex
 * and wakes at once if the mutex is free, else it stays parked in the mutex's queue, where
 * nothing may abort it again: the wait returns only with the mutex held. */
static void cond_requeue(struct corio_sync_waiter *w, int res)
{
    corio_mutex_t *m = w->item;
    w->res = res;
    if (m->priv_owner == NULL) {
        mutex_give(m, w->task);
        corio_task_wake(w->task, 0);
        return;
    }
    w->task->abort_wait = NULL;
    w->q = &m->priv_waiters;
    waitq_push(&m->priv_waiters, w);
}

/* Cancelled or timed out while waiting for the signal: wait for the mutex instead. */
static void abort_cond_wait(struct corio_task *t, int res)
{
    struct corio_sync_waiter *w = t->wait_obj;
    waitq_remove(w->q, w);
    cond_requeue(w, res);
}

int corio_cond_wait(corio_cond_t *c, corio_mutex_t *m)
{
    if (c == NULL || m == NULL)
        return -EINVAL;
    struct corio_sync_waiter *head = c->priv_waiters.priv_head;
    if (head != NULL && head->item != m)
        return -EINVAL; /* every waiter of a condition waits with the same mutex */
    int err;
    struct corio_task *t = corio_task_enter_await(&err);
    if (t == NULL)
        return err;
    if (m->priv_owner != t)
        return -EPERM;
    struct corio_sync_waiter w = {.task = t, .q = &c->priv_waiters, .item = m};
    waitq_push(&c->priv_waiters, &w);
    mutex_release(m);
    int res = corio_task_park(t, abort_cond_wait, &w, corio_task_deadline(t));
    return w.res != 0 ? w.res : res;
}

int corio_cond_timedwait(corio_cond_t *c, corio_mutex_t *m, uint64_t ns)
{
    if (c == NULL || m == NULL)
        return -EINVAL;
    int err = corio_timeout_begin(ns);
    if (err < 0)
        return err;
    err = corio_cond_wait(c, m);
    corio_timeout_end();
    return err;
}

int corio_cond_signal(corio_cond_t *c)
{
    if (c == NULL)
        return -EINVAL;
    struct corio_sync_waiter *w = waitq_pop(&c->priv_waiters);
    if (w == NULL)
        return 0;
    cond_requeue(w, 0);
    return 1;
}

int corio_cond_broadcast(corio_cond_t *c)
{
    if (c == NULL)
        return -EINVAL;
    int n = 0;
    struct corio_sync_waiter *w;
    while ((w = waitq_pop(&c->priv_waiters)) != NULL) {
        cond_requeue(w, 0);
        if (n < INT_MAX)
            n++;
    }
    return n;
}

/* ---- read-write lock --------------------------------------------------------------- */

int corio_rwlock_init(corio_rwlock_t *rw)
{
    if (rw == NULL)
        return -EINVAL;
    *rw = (corio_rwlock_t){0};
    return 0;
}

/* Hands the lock to the head of the queue while it can be granted: one writer once the
 * lock is free, or every reader up to the next writer while no writer holds it. */
static void rwlock_grant(corio_rwlock_t *rw)
{
    struct corio_sync_waiter *w;
    while ((w = rw->priv_waiters.priv_head) != NULL && rw->priv_writer == NULL) {
        if (w->write) {
            if (rw->priv_readers > 0)
                return;
            rw->priv_writer = w->task;
        } else {
            if (rw->priv_readers == UINT_MAX)
                return;
            rw->priv_readers++;
        }
        waitq_remove(&rw->priv_waiters, w);
        corio_task_wake(w->task, 0);
    }
}

/* A waiter gave up: the ones it held back may now be served (a writer that leaves lets
 * the readers behind it join the readers holding the lock). */
static void abort_rwlock_wait(struct corio_task *t, int res)
{
    struct corio_sync_waiter *w = t->wait_obj;
    corio_rwlock_t *rw = corio_container_of(w->q, corio_rwlock_t, priv_waiters);
    waitq_remove(w->q, w);
    corio_task_wake(t, res);
    rwlock_grant(rw);
}

/* Takes the lock at once if that overtakes nobody: 0, -EAGAIN, -EDEADLK. */
static int rwlock_try(corio_rwlock_t *rw, bool write, const void *self)
{
    if (rw->priv_writer == self)
        return -EDEADLK;
    if (rw->priv_writer != NULL || rw->priv_waiters.priv_head != NULL)
        return -EAGAIN;
    if (write) {
        if (rw->priv_readers > 0)
            return -EAGAIN;
        rw->priv_writer = self;
    } else {
        if (rw->priv_readers == UINT_MAX)
            return -EAGAIN;
        rw->priv_readers++;
    }
    return 0;
}

static int rwlock_lock(corio_rwlock_t *rw, bool write)
{
    if (rw == NULL)
        return -EINVAL;
    int err;
    struct corio_task *t = corio_task_enter_await(&err);
    if (t == NULL)
        return err;
    err = rwlock_try(rw, write, t);
    if (err != -EAGAIN || (!write && rw->priv_readers == UINT_MAX))
        return err;
    struct corio_sync_waiter w = {.task = t, .q = &rw->priv_waiters, .write = write};
    waitq_push(&rw->priv_waiters, &w);
    return corio_task_park(t, abort_rwlock_wait, &w, corio_task_deadline(t));
}

int corio_rwlock_rdlock(corio_rwlock_t *rw)
{
    return rwlock_lock(rw, false);
}

int corio_rwlock_wrlock(corio_rwlock_t *rw)
{
    return rwlock_lock(rw, true);
}

int corio_rwlock_tryrdlock(corio_rwlock_t *rw)
{
    return rw != NULL ? rwlock_try(rw, false, caller_identity()) : -EINVAL;
}

int corio_rwlock_trywrlock(corio_rwlock_t *rw)
{
    return rw != NULL ? rwlock_try(rw, true, caller_identity()) : -EINVAL;
}

int corio_rwlock_unlock(corio_rwlock_t *rw)
{
    if (rw == NULL)
        return -EINVAL;
    if (rw->priv_writer != NULL) {
        if (rw->priv_writer != caller_identity())
            return -EPERM;
        rw->priv_writer = NULL;
    } else if (rw->priv_readers > 0) {
        rw->priv_readers--;
    } else {
        return -EPERM;
    }
    rwlock_grant(rw);
    return 0;
}

unsigned corio_rwlock_readers(const corio_rwlock_t *rw)
{
    return rw != NULL ? rw->priv_readers : 0;
}

bool corio_rwlock_write_locked(const corio_rwlock_t *rw)
{
    return rw != NULL && rw->priv_writer != NULL;
}
