/* corio/sync.h: coroutine-aware synchronisation between the tasks of one loop.
 *
 *   1. conventions shared by every primitive here
 *   2. channel: a bounded FIFO queue of fixed-size items in storage the caller provides
 *   3. event: a flag tasks wait for (set wakes every waiter)
 *   4. semaphore: counted permits
 *   5. mutex: one owner at a time, FIFO hand-off
 *   6. wait group: wait until a counter of outstanding jobs drops to zero
 *   7. condition variable: wait for a predicate guarded by a mutex
 *   8. read-write lock: many readers or one writer, FIFO so writers are not starved
 *
 * Conventions
 * - Every object is caller-owned and allocation-free: a waiting task is queued through a
 *   node on its own stack, so no call here allocates, ever. The object must outlive every
 *   task waiting on it.
 * - One loop, one thread: an object is used by the tasks and callbacks of a single loop,
 *   on the loop's thread. To reach a task from another thread, go through
 *   corio_call_soon_threadsafe() and call the non-blocking forms from that callback.
 * - Blocking calls (send, recv, wait, acquire, lock) work only inside a task. They return
 *   -EINVAL/-EFAULT for bad arguments first, then, like every await-style call in corio.h:
 *   -EPERM outside a task, -ECANCELED once the task is cancelled, -ETIMEDOUT when its
 *   deadline (corio_timeout_begin) has passed. These three are checked even when the call
 *   could complete at once, so a missing task or an ignored cancel shows up immediately.
 *   A task that is cancelled or times out while waiting leaves the wait queue at once.
 * - Waiters are served strictly in arrival order (FIFO), and what they wait for is handed
 *   to them when they are woken: the item, permit or lock is theirs before they run again,
 *   so a later caller cannot take it first. Consequently a wait that was completed and then
 *   cancelled (or timed out) before the task ran again still returns success: nothing
 *   handed over is ever lost. The cancel takes effect at the task's next blocking call.
 * - Non-blocking calls (try_*, set, clear, release, unlock, close, add, done, signal,
 *   broadcast) may also be made from callback-mode code on the loop thread; they never
 *   park and never allocate.
 *   A try_* call that would have to wait returns -EAGAIN.
 */
#ifndef CORIO_SYNC_H
#define CORIO_SYNC_H

#include <corio/corio.h>

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* private: a FIFO of tasks waiting on one object. The nodes live on the waiting tasks'
 * stacks; the type is defined in engine/sync.c. */
struct corio_sync_waiter;
struct corio_sync_waitq {
    struct corio_sync_waiter *priv_head, *priv_tail;
};

/* ---- 2. channel ---------------------------------------------------------------------
 * A bounded FIFO queue between tasks. Items are fixed-size slots copied by value, in a
 * ring buffer of capacity x item_size bytes that the caller provides: small values (an
 * fd, a job struct) travel without a heap allocation per item, and a channel of pointers
 * is just item_size = sizeof(void *). A send to a waiting receiver copies the item
 * straight into the receiver's destination, skipping the buffer.
 *
 * Close: senders see -EPIPE (an item not sent stays the caller's); receivers first drain
 * what is buffered, then see -EPIPE. Every task parked in send or recv wakes at the
 * close with -EPIPE. */
typedef struct corio_chan {
    /* private: */
    unsigned char *priv_buf;
    size_t priv_item_size;
    size_t priv_cap; /* 0: not initialised */
    size_t priv_head;
    size_t priv_len;
    struct corio_sync_waitq priv_senders;   /* non-empty only while the buffer is full */
    struct corio_sync_waitq priv_receivers; /* non-empty only while the buffer is empty */
    bool priv_closed;
} corio_chan_t;

/* Initialises an open, empty channel of `capacity` items of `item_size` bytes each, kept in
 * `storage` (capacity x item_size bytes, any alignment), which must stay valid and untouched
 * until the channel is no longer used. Returns 0, -EINVAL for a NULL ch or a zero
 * item_size or capacity, -EFAULT for NULL storage, -EOVERFLOW if capacity x item_size
 * overflows. Do not re-initialise a channel tasks are waiting on. */
CORIO_API int corio_chan_init(corio_chan_t *ch, size_t item_size, size_t capacity, void *storage);

/* Inside a task: sends the item_size bytes at `item`, waiting while the channel is full.
 * Returns 0 once the item is in the channel (or with a receiver), -EPIPE if the channel
 * is or gets closed before that (the item was not sent), -EINVAL (NULL or uninitialised
 * ch), -EFAULT (NULL item), -EPERM, -ECANCELED, -ETIMEDOUT. */
CORIO_API int corio_chan_send(corio_chan_t *ch, const void *item);

/* Inside a task: receives the oldest item into `out` (item_size bytes), waiting while the
 * channel is empty. Returns 0, -EPIPE once the channel is closed and drained, or the
 * errors of corio_chan_send. */
CORIO_API int corio_chan_recv(corio_chan_t *ch, void *out);

/* Sends without waiting: 0, -EAGAIN if the channel is full, -EPIPE if it is closed,
 * -EINVAL, -EFAULT. Tasks and callbacks. */
CORIO_API int corio_chan_try_send(corio_chan_t *ch, const void *item);

/* Receives without waiting: 0, -EAGAIN if the channel is empty and open, -EPIPE if it is
 * empty and closed, -EINVAL, -EFAULT. Tasks and callbacks. */
CORIO_API int corio_chan_try_recv(corio_chan_t *ch, void *out);

/* Closes the channel and wakes every waiting sender and receiver with -EPIPE. Buffered
 * items stay receivable. Returns 0, -EALREADY if already closed, -EINVAL. Tasks and
 * callbacks. */
CORIO_API int corio_chan_close(corio_chan_t *ch);

/* Items buffered now (0 for NULL). */
CORIO_API size_t corio_chan_len(const corio_chan_t *ch);
/* The capacity given to corio_chan_init (0 for NULL or uninitialised). */
CORIO_API size_t corio_chan_cap(const corio_chan_t *ch);
/* True once corio_chan_close has been called (false for NULL). */
CORIO_API bool corio_chan_closed(const corio_chan_t *ch);

/* ---- 3. event -----------------------------------------------------------------------
 * A flag: corio_event_wait returns at once while it is set and waits while it is clear.
 * Zero-initialised (`corio_event_t ev = {0};`) is the same as corio_event_init: clear. */
typedef struct corio_event {
    /* private: */
    struct corio_sync_waitq priv_waiters;
    bool priv_set;
} corio_event_t;

/* Initialises a clear event with no waiters. Returns 0 or -EINVAL for NULL. */
CORIO_API int corio_event_init(corio_event_t *ev);

/* Sets the event and wakes every waiter (each returns 0, even if the event is cleared
 * again before it runs). Returns 0 or -EINVAL. Tasks and callbacks. */
CORIO_API int corio_event_set(corio_event_t *ev);

/* Clears the event; later waits wait. Returns 0 or -EINVAL. Tasks and callbacks. */
CORIO_API int corio_event_clear(corio_event_t *ev);

/* True while the event is set (false for NULL). */
CORIO_API bool corio_event_is_set(const corio_event_t *ev);

/* Inside a task: returns 0 once the event is set, -EINVAL, -EPERM, -ECANCELED,
 * -ETIMEDOUT. */
CORIO_API int corio_event_wait(corio_event_t *ev);

/* ---- 4. semaphore -------------------------------------------------------------------
 * A count of permits. Zero-initialised is a semaphore with no permits. */
typedef struct corio_sem {
    /* private: */
    struct corio_sync_waitq priv_waiters; /* non-empty only while no permit is free */
    unsigned priv_count;
} corio_sem_t;

/* Initialises a semaphore with `permits` free permits. Returns 0 or -EINVAL for NULL. */
CORIO_API int corio_sem_init(corio_sem_t *sem, unsigned permits);

/* Inside a task: takes a permit, waiting while none is free. Returns 0 (the caller holds
 * a permit), -EINVAL, -EPERM, -ECANCELED, -ETIMEDOUT. */
CORIO_API int corio_sem_acquire(corio_sem_t *sem);

/* Takes a permit without waiting: 0, -EAGAIN if none is free, -EINVAL. Tasks and
 * callbacks. */
CORIO_API int corio_sem_try_acquire(corio_sem_t *sem);

/* Returns a permit: the longest-waiting task gets it, or it becomes free. Any code on the
 * loop thread may release, whether or not it acquired. Returns 0, -EOVERFLOW if UINT_MAX
 * permits are already free, -EINVAL. */
CORIO_API int corio_sem_release(corio_sem_t *sem);

/* Free permits now (0 for NULL). */
CORIO_API unsigned corio_sem_value(const corio_sem_t *sem);

/* ---- 5. mutex -----------------------------------------------------------------------
 * Mutual exclusion between tasks, owned by the task that locked it. Unlock hands the
 * mutex straight to the longest-waiting task (FIFO: no waiter is overtaken, at the price
 * of a switch per contended hand-over). Callback code on the loop thread may trylock and
 * unlock too; it then owns the mutex collectively ("the loop's callbacks"), and only
 * callback code may unlock it.
 *
 * A task must unlock every mutex it holds before its function returns, also on the way
 * out after a cancel: cancelling or finishing a task does not unlock its mutexes, and a
 * task that returns holding one is a bug nobody could recover from (the mutex would stay
 * locked by a task that no longer exists), so corio reports it and aborts the process
 * with a message naming the task and the mutex. Zero-initialised is an unlocked mutex. */
typedef struct corio_mutex {
    /* private: */
    struct corio_sync_waitq priv_waiters;
    const void *priv_owner; /* the owning task, a marker for callback code, or NULL */
    /* While a task owns it: its link in that task's list of held mutexes. */
    struct corio_mutex *priv_next_held, **priv_pprev_held;
} corio_mutex_t;

/* Initialises an unlocked mutex. Returns 0 or -EINVAL for NULL. */
CORIO_API int corio_mutex_init(corio_mutex_t *m);

/* Inside a task: locks m, waiting while another task holds it. Returns 0 (the caller owns
 * m), -EDEADLK if the caller already owns it, -EINVAL, -EPERM (outside a task),
 * -ECANCELED, -ETIMEDOUT. */
CORIO_API int corio_mutex_lock(corio_mutex_t *m);

/* Locks without waiting: 0, -EAGAIN if m is held by someone else, -EDEADLK if held by
 * the caller, -EINVAL. Tasks and callbacks. */
CORIO_API int corio_mutex_trylock(corio_mutex_t *m);

/* Unlocks m, handing it to the longest-waiting task if any. Returns 0, -EPERM if the
 * caller does not own m (another task, callback code for a task's lock, or m is
 * unlocked), -EINVAL. */
CORIO_API int corio_mutex_unlock(corio_mutex_t *m);

/* True while m is locked (false for NULL). */
CORIO_API bool corio_mutex_locked(const corio_mutex_t *m);

/* ---- 6. wait group ------------------------------------------------------------------
 * A counter of outstanding jobs: add before starting them, done as each finishes, wait
 * for zero (Go's sync.WaitGroup). Zero-initialised is a group with a count of zero. */
typedef struct corio_waitgroup {
    /* private: */
    struct corio_sync_waitq priv_waiters; /* non-empty only while the count is above zero */
    unsigned priv_count;
} corio_waitgroup_t;

/* Initialises a group with a count of zero. Returns 0 or -EINVAL for NULL. */
CORIO_API int corio_waitgroup_init(corio_waitgroup_t *wg);

/* Adds n to the count. Returns 0, -EOVERFLOW if the count would pass UINT_MAX (nothing
 * is added), -EINVAL. Tasks and callbacks. */
CORIO_API int corio_waitgroup_add(corio_waitgroup_t *wg, unsigned n);

/* Subtracts one; reaching zero wakes every waiter (each returns 0, even if the count
 * rises again before it runs). Returns 0, -ERANGE if the count is already zero (nothing
 * changes: a done without its add is a bug), -EINVAL. Tasks and callbacks. */
CORIO_API int corio_waitgroup_done(corio_waitgroup_t *wg);

/* Inside a task: returns 0 once the count is zero (at once if it is), -EINVAL, -EPERM,
 * -ECANCELED, -ETIMEDOUT. */
CORIO_API int corio_waitgroup_wait(corio_waitgroup_t *wg);

/* The count now (0 for NULL). */
CORIO_API unsigned corio_waitgroup_count(const corio_waitgroup_t *wg);

/* ---- 7. condition variable ----------------------------------------------------------
 * Tasks wait on a condition until another task or a callback signals it, with a mutex
 * guarding the predicate, as with pthread_cond_t: lock, test the predicate, wait while it
 * is false, unlock. Waiters are woken in arrival order, and a woken waiter is handed the
 * mutex like any locker: it is queued behind the tasks already waiting for the mutex and
 * runs only once it owns it, so it never runs without the mutex and never competes for
 * it. A signal or broadcast with no task waiting is lost: it is not remembered for a later
 * wait (test the predicate under the mutex, as always). Zero-initialised is a condition
 * with no waiters. */
typedef struct corio_cond {
    /* private: */
    struct corio_sync_waitq priv_waiters;
} corio_cond_t;

/* Initialises a condition with no waiters. Returns 0 or -EINVAL for NULL. Do not
 * re-initialise one tasks are waiting on. */
CORIO_API int corio_cond_init(corio_cond_t *c);

/* Inside a task that owns m: unlocks m (handing it to its next waiter), waits until c is
 * signalled, then waits for m again, and returns owning m. Returns 0 once signalled;
 * -ECANCELED if the task is cancelled while waiting and -ETIMEDOUT at its deadline
 * (corio_timeout_begin): like pthread_cond_wait, these also return only once the task
 * owns m again, so code after the call always holds the mutex (a cancel or deadline
 * ends the wait for the signal, never the wait for the mutex, which lasts until the
 * mutex's current holders let go). A signal that arrives before a cancel wins: the wait
 * returns 0 and the cancel takes effect at the next blocking call. Errors returned at
 * once, with m still held and untouched: -EINVAL (NULL c or m, or tasks already waiting
 * on c with another mutex), -EPERM (outside a task, or the caller does not own m),
 * -ECANCELED, -ETIMEDOUT (already cancelled or past the deadline). */
CORIO_API int corio_cond_wait(corio_cond_t *c, corio_mutex_t *m);

/* corio_cond_wait with a deadline ns from now for this wait alone, as if it were inside
 * corio_timeout_begin(ns) / corio_timeout_end(): the earlier of it and the task's own
 * deadline applies. Returns as corio_cond_wait, also -E2BIG past 16 nested deadlines. */
CORIO_API int corio_cond_timedwait(corio_cond_t *c, corio_mutex_t *m, uint64_t ns);

/* Wakes the longest-waiting task, if any: it is queued for the mutex it waits with (and
 * gets it at once if the mutex is free). The caller need not hold the mutex. Returns the
 * number of tasks woken (0 or 1: 0 means the signal was lost), -EINVAL for NULL. Tasks and
 * callbacks. */
CORIO_API int corio_cond_signal(corio_cond_t *c);

/* Wakes every waiting task, in arrival order, each queued for the mutex in that order.
 * Returns the number woken (0: lost, nobody waited; INT_MAX if more), -EINVAL for NULL.
 * Tasks and callbacks. */
CORIO_API int corio_cond_broadcast(corio_cond_t *c);

/* ---- 8. read-write lock ------------------------------------------------------------
 * Any number of readers, or one writer. Requests are served strictly in arrival order:
 * a reader that arrives while a writer waits queues behind it, so a stream of readers
 * cannot starve a writer; when a writer unlocks, the readers queued before the next
 * writer all get the lock together. Like the mutex, the lock is handed to waiters before
 * they run. Readers are counted, not identified: a task holding a read lock that asks for
 * it again while a writer waits, or asks for the write lock, waits forever. Callback
 * code may use the try forms and unlock. Unlike the mutex, a task that returns holding a
 * read-write lock is not reported. Zero-initialised is an unlocked lock. */
typedef struct corio_rwlock {
    /* private: */
    struct corio_sync_waitq priv_waiters; /* readers and writers, in arrival order */
    const void *priv_writer;              /* the writing task, a callback marker, or NULL */
    unsigned priv_readers;                /* read locks held */
} corio_rwlock_t;

/* Initialises an unlocked lock. Returns 0 or -EINVAL for NULL. */
CORIO_API int corio_rwlock_init(corio_rwlock_t *rw);

/* Inside a task: takes a read lock, waiting while a writer holds the lock or any task is
 * queued. Returns 0, -EDEADLK if the caller holds the write lock, -EAGAIN if UINT_MAX read
 * locks are held, -EINVAL, -EPERM, -ECANCELED, -ETIMEDOUT. A reader that gives up leaves
 * the queue, and the tasks behind it are served as if it had never come. */
CORIO_API int corio_rwlock_rdlock(corio_rwlock_t *rw);

/* Inside a task: takes the write lock, waiting while anyone holds the lock or any task is
 * queued. Returns 0, -EDEADLK if the caller already holds the write lock, -EINVAL,
 * -EPERM, -ECANCELED, -ETIMEDOUT. A writer that gives up leaves the queue, and the
 * readers it held back get the lock if nothing else stands in their way. */
CORIO_API int corio_rwlock_wrlock(corio_rwlock_t *rw);

/* Take a read or the write lock without waiting: 0, -EAGAIN if the call would wait,
 * -EDEADLK if the caller holds the write lock, -EINVAL. Tasks and callbacks. */
CORIO_API int corio_rwlock_tryrdlock(corio_rwlock_t *rw);
CORIO_API int corio_rwlock_trywrlock(corio_rwlock_t *rw);

/* Releases the write lock if the caller holds it, else one read lock, then hands the lock
 * to the waiters at the head of the queue. Returns 0, -EPERM if the lock is not held or
 * the write lock is held by someone else, -EINVAL. A read unlock is not checked against
 * the caller: release only read locks you took. */
CORIO_API int corio_rwlock_unlock(corio_rwlock_t *rw);

/* Read locks held now (0 for NULL), and whether the write lock is held (false for NULL). */
CORIO_API unsigned corio_rwlock_readers(const corio_rwlock_t *rw);
CORIO_API bool corio_rwlock_write_locked(const corio_rwlock_t *rw);

#ifdef __cplusplus
}
#endif

#endif
