/* corio/sync.h: coroutine-aware synchronisation between the tasks of one loop.
 *
 *   1. conventions shared by every primitive here
 *   2. channel: a bounded FIFO queue of fixed-size items in storage the caller provides
 *   3. event: a flag tasks wait for (set wakes every waiter)
 *   4. semaphore: counted permits
 *   5. mutex: one owner at a time, FIFO hand-off
 *   6. wait group: wait until a counter of outstanding jobs drops to zero
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
 * - Non-blocking calls (try_*, set, clear, release, unlock, close, add, done) may also be
 *   made from callback-mode code on the loop thread; they never park and never allocate.
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
 * callback code may unlock it. Cancelling or finishing a task does not unlock its mutexes.
 * Zero-initialised is an unlocked mutex. */
typedef struct corio_mutex {
    /* private: */
    struct corio_sync_waitq priv_waiters;
    const void *priv_owner; /* the owning task, a marker for callback code, or NULL */
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

#ifdef __cplusplus
}
#endif

#endif
