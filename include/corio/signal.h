/* corio/signal.h: waiting for POSIX signals, in a task or with a callback, through a
 * signalfd read on the loop's ring.
 *
 * Conventions
 * - Block the signals first, in every thread, before waiting for them: call
 *   pthread_sigmask(SIG_BLOCK, ...) early in main(), before any thread is created, so that
 *   threads inherit the mask. A signal that is not blocked somewhere is delivered the
 *   ordinary way (its handler, or its default action, which usually kills the process)
 *   and no wait ever sees it. corio does not block signals for you; a wait asking for a
 *   signal that is not blocked in the calling thread returns -EINVAL. SIGKILL and SIGSTOP
 *   cannot be blocked or waited for and are ignored in a set (as signalfd(2) does): a set
 *   made with sigfillset() is accepted once everything else is blocked.
 * - Delivery: each signal that arrives goes to exactly one waiter: the one of the loop
 *   that has waited longest (FIFO, tasks and callbacks in one queue) among those whose set
 *   contains it. A signal that arrives while nobody waits for it stays pending in the
 *   kernel and goes to the next waiter for it. Ordinary (non-real-time) signals do not
 *   queue: raised twice before anyone takes it, a signal is delivered once.
 *   Signals sent to the process (kill) and to the loop's thread (raise, pthread_kill)
 *   are both seen. Each loop has its own queue: when loops of several threads wait for
 *   the same signal sent to the process, which loop gets it is up to the kernel.
 * - Cost: while anything waits, a loop holds one signalfd and one read in flight on its
 *   ring, whatever the number of waiters, and they keep corio_loop_run going. Both are
 *   created by the first waiter and released when the last one leaves (and at
 *   corio_loop_free), so an idle loop holds nothing. Starting and ending a wait costs a
 *   few syscalls (the signal mask check, the signalfd mask update): signals are rare
 *   events, and no wait is on an I/O hot path.
 * - One loop, one thread: calls are made on the loop's thread.
 */
#ifndef CORIO_SIGNAL_H
#define CORIO_SIGNAL_H

#include <corio/corio.h>

#include <signal.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Inside a task: waits until one of the signals in set arrives and returns its number
 * (> 0). Returns at once if one is already pending. Errors:
 *   -EFAULT     set is NULL
 *   -EINVAL     set holds no signal that can be waited for, or a signal in it is not
 *               blocked in the calling thread (see the conventions above)
 *   -EPERM      outside a task
 *   -ECANCELED  the task was cancelled (before or while waiting); no signal is taken
 *   -ETIMEDOUT  the task's deadline (corio_timeout_begin) passed first; no signal is
 *               taken
 *   -EMFILE, -ENOMEM, ... creating the loop's signalfd failed.
 * A signal handed to the task is its own even if the task is cancelled before it runs
 * again: the wait then returns the signal, and the cancel shows at the next call. */
CORIO_API int corio_signal_wait(const sigset_t *set);

typedef struct corio_signal corio_signal_t;

/* Callback of corio_signal_wait_cb: res is the signal number (> 0), or -ECANCELED when
 * the loop is freed while the request waits, or another -errno if the loop's signalfd
 * failed. */
typedef void (*corio_signal_cb_t)(corio_signal_t *req, int res);

/* A callback-mode wait, owned by the caller. Zero it before its first use
 * (`corio_signal_t req = {0};`). Fill `data` as you like; leave the private fields alone.
 * It must stay valid from corio_signal_wait_cb until its callback has run or
 * corio_signal_cancel has returned 0. */
struct corio_signal {
    void *data; /* public: yours */

    /* private: */
    corio_signal_t *priv_next;
    corio_signal_cb_t priv_cb;
    void *priv_task;
    void *priv_hub;
    sigset_t priv_set;
    uint32_t priv_state;
};

/* Callback mode: waits on loop for one of the signals in set, then runs cb(req, signo)
 * once, on the loop thread, never from inside this call. The request is idle when cb
 * runs: cb may free it, or start it again to wait for the next signal. Returns 0 (cb will
 * run unless cancelled), or, with cb never run: -EINVAL for a NULL loop, req or cb, or a
 * set as for corio_signal_wait; -EFAULT for a NULL set; -EBUSY if req is already waiting;
 * -ESHUTDOWN while corio_loop_free is running; -EMFILE, -ENOMEM, ... from creating the
 * signalfd. A waiting request keeps corio_loop_run going, like an operation in flight;
 * corio_loop_free ends it with -ECANCELED. */
CORIO_API int corio_signal_wait_cb(corio_loop_t *loop, corio_signal_t *req, const sigset_t *set,
                                   corio_signal_cb_t cb);

/* Withdraws a waiting request: its callback will not run, and any signal it would have
 * taken stays pending for other waiters. Returns 0, -ENOENT if req is not waiting (its
 * callback has run already), -EINVAL for NULL. */
CORIO_API int corio_signal_cancel(corio_signal_t *req);

#ifdef __cplusplus
}
#endif

#endif
