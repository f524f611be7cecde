/* Signals: tasks and callbacks wait for POSIX signals through one signalfd per loop,
 * polled on the loop's ring. The waiters queue FIFO in a hub that the first waiter
 * creates and the last one ends; the signalfd's mask is kept equal to the union of the
 * waiters' sets, so a signal is taken from the kernel only when someone waits for it.
 *
 * Why poll + read(2) rather than a read on the ring: signalfd reads the signals of the
 * thread that reads it. Before Linux 6.9 a signalfd had no FMODE_NOWAIT, so io_uring
 * handed a read of it to an io-wq worker thread, which sees signals sent to the process
 * but not those sent to the loop's thread (raise, pthread_kill), and would wait forever
 * for them. A poll is evaluated in the submitting thread on every kernel, and the
 * non-blocking read(2) that follows runs on the loop thread: one extra syscall per
 * signal, and signals are rare. */
#include "corio/signal.h"
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

enum { REQ_IDLE = 0, REQ_WAITING = 0x5a /* distinct: catches requests never zeroed */ };

/* The signal waiting of one loop. Exists while anything waits (plus, after the last
 * waiter left, until its poll's cancelled completion has arrived). */
struct sig_hub {
    struct sig_hub *next; /* the registry's list */
    corio_loop_t *loop;
    int fd;                      /* signalfd, non-blocking */
    sigset_t mask;               /* fd's mask: the union of the waiters' sets */
    corio_op_t poll;             /* POLLIN on fd, in flight while `polling` */
    corio_signal_t *head, *tail; /* waiters, oldest first */
    bool polling;
    bool in_completion; /* poll_done is running: it decides the hub's fate at its end */
};

/* The hubs, one per loop with waiters. The loop has no slot for its hub (struct
 * corio_loop belongs to loop.c), so they are found here by loop. A process-wide list under
 * a lock, not a thread-local one, because a callback-mode wait may be started on the
 * thread that made the loop and end on the one that runs it. Touched only when a wait
 * starts or a hub comes and goes: never on an I/O path. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sig_hub *registry;

static struct sig_hub *registry_find(const corio_loop_t *loop)
{
    pthread_mutex_lock(&registry_lock);
    struct sig_hub *h = registry;
    while (h != NULL && h->loop != loop)
        h = h->next;
    pthread_mutex_unlock(&registry_lock);
    return h;
}

static void registry_add(struct sig_hub *h)
{
    pthread_mutex_lock(&registry_lock);
    h->next = registry;
    registry = h;
    pthread_mutex_unlock(&registry_lock);
}

static void registry_remove(struct sig_hub *h)
{
    pthread_mutex_lock(&registry_lock);
    struct sig_hub **link = &registry;
    while (*link != NULL && *link != h)
        link = &(*link)->next;
    if (*link == h)
        *link = h->next;
    pthread_mutex_unlock(&registry_lock);
}

/* ---- sets -------------------------------------------------------------------------- */

/* Copies set into *out in canonical form (only real signals, so that two sets with the
 * same signals compare equal with memcmp), leaving out SIGKILL and SIGSTOP. Returns 0,
 * -EFAULT for NULL, -EINVAL if nothing is left or a signal is not blocked in this thread
 * (it would be delivered, not queued for the signalfd). */
static int canonical_set(const sigset_t *set, sigset_t *out)
{
    if (set == NULL)
        return -EFAULT;
    sigset_t blocked;
    pthread_sigmask(SIG_BLOCK, NULL, &blocked);
    sigemptyset(out);
    bool any = false;
    for (int sig = 1; sig < _NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP || sigismember(set, sig) != 1)
            continue;
        if (sigismember(&blocked, sig) != 1)
            return -EINVAL;
        sigaddset(out, sig);
        any = true;
    }
    return any ? 0 : -EINVAL;
}

/* ---- the hub ----------------------------------------------------------------------- */

static void poll_done(corio_op_t *op, int res);

static int hub_open(corio_loop_t *loop, struct sig_hub **out)
{
    struct sig_hub *h = calloc(1, sizeof *h);
    if (h == NULL)
        return -ENOMEM;
    sigemptyset(&h->mask);
    h->fd = signalfd(-1, &h->mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (h->fd < 0) {
        int err = -errno;
        free(h);
        return err;
    }
    h->loop = loop;
    h->poll.data = h;
    registry_add(h);
    *out = h;
    return 0;
}

static void hub_close(struct sig_hub *h)
{
    registry_remove(h);
    close(h->fd);
    free(h);
}

/* Sets the signalfd's mask to the union of the waiters' sets. */
static void hub_update_mask(struct sig_hub *h)
{
    sigset_t m;
    sigemptyset(&m);
    for (corio_signal_t *r = h->head; r != NULL; r = r->priv_next)
        sigorset(&m, &m, &r->priv_set);
    /* Cannot fail for a signalfd we own; if it did, the old mask stays and a signal
     * nobody wants is put back by dispatch. */
    if (memcmp(&m, &h->mask, sizeof m) != 0 && signalfd(h->fd, &m, 0) >= 0)
        h->mask = m;
}

static void hub_unlink(struct sig_hub *h, corio_signal_t *req)
{
    corio_signal_t **link = &h->head, *prev = NULL;
    while (*link != NULL && *link != req) {
        prev = *link;
        link = &(*link)->priv_next;
    }
    if (*link == req) {
        *link = req->priv_next;
        if (h->tail == req)
            h->tail = prev;
    }
    req->priv_next = NULL;
    req->priv_hub = NULL;
    req->priv_state = REQ_IDLE;
}

/* Keeps a poll in flight while anyone waits. Returns 0 or the error of starting it. */
static int hub_arm(struct sig_hub *h)
{
    if (h->polling || h->head == NULL)
        return 0;
    int err = corio_poll_cb(h->loop, &h->poll, h->fd, POLLIN, poll_done);
    if (err == 0)
        h->polling = true;
    return err;
}

/* After a waiter left: with nobody left, end the poll (its completion closes the hub) or
 * close the hub now. */
static void hub_settle(struct sig_hub *h)
{
    if (h->head != NULL || h->in_completion)
        return;
    if (h->polling)
        (void)corio_op_cancel(h->loop, &h->poll);
    else
        hub_close(h);
}

/* Hands res (a signal number or -errno) to a waiter that has left the queue. */
static void deliver(corio_signal_t *req, int res)
{
    if (req->priv_task != NULL) {
        corio_task_wake(req->priv_task, res);
        return;
    }
    req->priv_cb(req, res); /* last touch: the callback may free or restart req */
}

/* Gives signo to the oldest waiter whose set holds it. */
static void dispatch(struct sig_hub *h, int signo)
{
    corio_signal_t *r = h->head;
    while (r != NULL && sigismember(&r->priv_set, signo) != 1)
        r = r->priv_next;
    if (r == NULL) {
        /* Only if the mask could not be narrowed: put the signal back, pending, for the
         * next waiter rather than losing it. */
        raise(signo);
        return;
    }
    hub_unlink(h, r);
    hub_update_mask(h);
    deliver(r, signo);
}

/* Ends every wait with err. The queue is detached first: a callback that starts its
 * request again joins a fresh queue instead of being failed again in this loop. */
static void fail_all(struct sig_hub *h, int err)
{
    corio_signal_t *r = h->head;
    h->head = h->tail = NULL;
    hub_update_mask(h);
    while (r != NULL) {
        corio_signal_t *next = r->priv_next;
        r->priv_next = NULL;
        r->priv_hub = NULL;
        r->priv_state = REQ_IDLE;
        deliver(r, err);
        r = next;
    }
}

/* The signalfd is readable (or the poll was cancelled: then the reads find nothing).
 * Takes signals one at a time while someone waits, so that each read happens with the
 * mask of the waiters still queued. */
static void poll_done(corio_op_t *op, int res)
{
    struct sig_hub *h = op->data;
    h->polling = false;
    h->in_completion = true;
    int err = 0;
    if (h->loop->closing)
        err = -ECANCELED; /* corio_loop_free: no new poll can start */
    else if (res < 0 && res != -ECANCELED)
        err = res;
    while (err == 0 && h->head != NULL) {
        struct signalfd_siginfo si;
        ssize_t n = read(h->fd, &si, sizeof si);
        if (n != (ssize_t)sizeof si) {
            if (n < 0 && errno != EAGAIN && errno != EINTR)
                err = -errno;
            break;
        }
        dispatch(h, (int)si.ssi_signo);
    }
    if (err == 0)
        err = hub_arm(h);
    if (err < 0)
        fail_all(h, err);
    h->in_completion = false;
    if (h->head == NULL && !h->polling)
        hub_close(h);
}

/* Queues req (set, cb/task filled in) on loop's hub, creating the hub if needed, and
 * makes sure a poll is in flight. Returns 0 or -errno (req not queued). */
static int hub_add(corio_loop_t *loop, corio_signal_t *req)
{
    struct sig_hub *h = registry_find(loop);
    if (h == NULL) {
        int err = hub_open(loop, &h);
        if (err < 0)
            return err;
    }
    req->priv_hub = h;
    req->priv_state = REQ_WAITING;
    req->priv_next = NULL;
    if (h->tail != NULL)
        h->tail->priv_next = req;
    else
        h->head = req;
    h->tail = req;
    hub_update_mask(h);
    int err = hub_arm(h);
    if (err < 0) {
        hub_unlink(h, req);
        hub_update_mask(h);
        hub_settle(h);
    }
    return err;
}

static void hub_remove(corio_signal_t *req)
{
    struct sig_hub *h = req->priv_hub;
    hub_unlink(h, req);
    hub_update_mask(h);
    hub_settle(h);
}

/* ---- the calls --------------------------------------------------------------------- */

/* A waiting task was cancelled or its deadline passed: leave the queue. */
static void abort_wait(struct corio_task *t, int res)
{
    hub_remove(t->wait_obj);
    corio_task_wake(t, res);
}

int corio_signal_wait(const sigset_t *set)
{
    corio_signal_t req = {0};
    int err = canonical_set(set, &req.priv_set);
    if (err < 0)
        return err;
    struct corio_task *t = corio_task_enter_await(&err);
    if (t == NULL)
        return err;
    req.priv_task = t;
    err = hub_add(t->loop, &req);
    if (err < 0)
        return err;
    return corio_task_park(t, abort_wait, &req, corio_task_deadline(t));
}

int corio_signal_wait_cb(corio_loop_t *loop, corio_signal_t *req, const sigset_t *set,
                         corio_signal_cb_t cb)
{
    if (loop == NULL || req == NULL || cb == NULL)
        return -EINVAL;
    if (req->priv_state == REQ_WAITING)
        return -EBUSY;
    sigset_t canon;
    int err = canonical_set(set, &canon);
    if (err < 0)
        return err;
    if (loop->closing)
        return -ESHUTDOWN;
    req->priv_set = canon;
    req->priv_cb = cb;
    req->priv_task = NULL;
    return hub_add(loop, req);
}

int corio_signal_cancel(corio_signal_t *req)
{
    if (req == NULL)
        return -EINVAL;
    if (req->priv_state != REQ_WAITING || req->priv_task != NULL)
        return -ENOENT;
    hub_remove(req);
    return 0;
}
