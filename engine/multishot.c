/* Multishot recv and accept for tasks: the op runs in callback mode underneath, and each
 * completion is queued in the caller's corio_multishot_t until a task takes it with
 * corio_multishot_next. A recv result is its buffer, so a recv queue is linked through the
 * bufring's per-buffer slots and allocates nothing (an idle connection holds no queue); an
 * accept queue is an array that grows when the task falls behind. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

struct corio_multishot_result {
    int res;
    void *buf;
};

#define ACCEPT_QUEUE_START 16u

static corio_multishot_t *of_op(corio_op_t *op)
{
    return corio_container_of(op, corio_multishot_t, priv_op);
}

static bool is_recv(const corio_multishot_t *m)
{
    return m->priv_op.priv_kind == CORIO_OP_RECV_MULTI;
}

/* Appends a result; false when an accept queue cannot grow (a recv queue always can). */
static bool push(corio_multishot_t *m, int res, void *buf)
{
    if (is_recv(m)) {
        corio_bufring_t *br = m->priv_op.priv_addr2;
        unsigned bid = (unsigned)((size_t)((char *)buf - br->base) / br->size);
        br->slots[bid].res = res;
        if (m->priv_len == 0)
            m->priv_head = bid;
        else
            br->slots[m->priv_tail].next = bid;
        m->priv_tail = bid;
        m->priv_len++;
        return true;
    }
    if (m->priv_len == m->priv_cap) {
        unsigned cap = m->priv_cap * 2;
        struct corio_multishot_result *q = corio_malloc(cap * sizeof *q);
        if (q == NULL)
            return false;
        for (unsigned i = 0; i < m->priv_len; i++)
            q[i] = m->priv_queue[(m->priv_head + i) % m->priv_cap];
        free(m->priv_queue);
        m->priv_queue = q;
        m->priv_head = 0;
        m->priv_cap = cap;
    }
    m->priv_queue[(m->priv_head + m->priv_len) % m->priv_cap] =
        (struct corio_multishot_result){.res = res, .buf = buf};
    m->priv_len++;
    return true;
}

/* Takes the oldest result of a non-empty queue. */
static struct corio_multishot_result pop(corio_multishot_t *m)
{
    struct corio_multishot_result r;
    if (is_recv(m)) {
        corio_bufring_t *br = m->priv_op.priv_addr2;
        r.res = br->slots[m->priv_head].res;
        r.buf = br->base + (size_t)m->priv_head * br->size;
        m->priv_head = br->slots[m->priv_head].next;
    } else {
        r = m->priv_queue[m->priv_head];
        m->priv_head = (m->priv_head + 1) % m->priv_cap;
    }
    m->priv_len--;
    return r;
}

static void wake_waiter(corio_multishot_t *m)
{
    struct corio_task *t = m->priv_waiter;
    if (t != NULL) {
        m->priv_waiter = NULL;
        corio_task_wake(t, 0);
    }
}

static void on_completion(corio_op_t *op, int res)
{
    corio_multishot_t *m = of_op(op);
    bool data = is_recv(m) ? res > 0 : res >= 0;
    if (data && !push(m, res, corio_op_buffer(op))) {
        /* Only an accept queue can fail to grow, so this is an accepted fd and no memory
         * for it: the connection is closed (its peer sees a reset) rather than leaked. */
        close(res);
    }
    if (!corio_op_more(op)) {
        m->priv_running = false;
        /* A last completion that still carries a result: the kernel ended the op early
         * (e.g. its CQ overflowed); nothing is wrong with the socket. */
        m->priv_end = data ? -EAGAIN : res;
    }
    wake_waiter(m);
}

/* Gives back what was never taken and frees the queue. */
static void drop_results(corio_multishot_t *m)
{
    while (m->priv_len > 0) {
        struct corio_multishot_result r = pop(m);
        if (is_recv(m))
            (void)corio_bufring_put(m->priv_op.priv_addr2, r.buf);
        else
            close(r.res);
    }
    free(m->priv_queue);
    m->priv_queue = NULL;
    m->priv_head = m->priv_cap = 0;
}

/* An m whose op has ended becomes stopped: what was not taken is dropped. */
static void stop_ended(corio_multishot_t *m)
{
    drop_results(m);
    m->priv_started = false;
    ((struct corio_task *)m->priv_owner)->multishots--;
}

/* A refused start leaves m stopped, as a failed one does (unless it is still running). */
static int refuse(corio_multishot_t *m, int err)
{
    if (m != NULL && m->priv_started && !m->priv_running)
        stop_ended(m);
    return err;
}

/* Common start: checks, queue (an array of cap results; none for 0), and the op itself
 * (start_op). */
static int start(corio_multishot_t *m, unsigned cap,
                 int (*start_op)(corio_loop_t *, corio_multishot_t *, const void *),
                 const void *arg)
{
    if (m == NULL)
        return -EINVAL;
    if (m->priv_started && m->priv_running)
        return -EBUSY;
    int err;
    struct corio_task *t = corio_task_enter_await(&err);
    if (t == NULL)
        return refuse(m, err);
    /* A restart (after -ENOBUFS, say) keeps its owner: the one that has to stop it. */
    struct corio_task *owner = t;
    if (m->priv_started) {
        owner = m->priv_owner;
        drop_results(m);
    } else {
        t->multishots++;
    }
    *m = (corio_multishot_t){.priv_owner = owner};
    m->priv_queue = cap > 0 ? corio_malloc(cap * sizeof *m->priv_queue) : NULL;
    err = cap > 0 && m->priv_queue == NULL ? -ENOMEM : start_op(t->loop, m, arg);
    if (err < 0) {
        /* Left stopped: nothing to take, nothing to stop. */
        free(m->priv_queue);
        m->priv_queue = NULL;
        owner->multishots--;
        return err;
    }
    m->priv_cap = cap;
    m->priv_started = true;
    m->priv_running = true;
    return 0;
}

struct recv_args {
    int fd, flags;
    corio_bufring_t *br;
};

static int start_recv(corio_loop_t *loop, corio_multishot_t *m, const void *arg)
{
    const struct recv_args *a = arg;
    return corio_recv_multishot_cb(loop, &m->priv_op, a->fd, a->br, a->flags, on_completion);
}

int corio_recv_multishot(corio_multishot_t *m, int fd, corio_bufring_t *br, int flags)
{
    if (br == NULL)
        return refuse(m, -EINVAL);
    if (fd < 0)
        return refuse(m, -EBADF);
    struct recv_args a = {.fd = fd, .flags = flags, .br = br};
    return start(m, 0, start_recv, &a); /* its queue is linked through br's slots */
}

static int start_accept(corio_loop_t *loop, corio_multishot_t *m, const void *arg)
{
    const int *a = arg;
    return corio_accept_multishot_cb(loop, &m->priv_op, a[0], a[1], on_completion);
}

int corio_accept_multishot(corio_multishot_t *m, int fd, int flags)
{
    if (fd < 0)
        return refuse(m, -EBADF);
    int a[2] = {fd, flags};
    return start(m, ACCEPT_QUEUE_START, start_accept, a);
}

/* Cancelled or timed out while waiting in next: the op keeps running. */
static void abort_next(struct corio_task *t, int res)
{
    corio_multishot_t *m = t->wait_obj;
    m->priv_waiter = NULL;
    corio_task_wake(t, res);
}

ssize_t corio_multishot_next(corio_multishot_t *m, void **buf)
{
    if (buf != NULL)
        *buf = NULL;
    if (m == NULL || !m->priv_started || (buf == NULL && is_recv(m)))
        return -EINVAL; /* a recv result's buffer must go somewhere */
    int err;
    struct corio_task *t = corio_task_enter_await(&err);
    if (t == NULL)
        return err;
    if (m->priv_waiter != NULL)
        return -EBUSY;
    while (m->priv_len == 0 && m->priv_running) {
        m->priv_waiter = t;
        int res = corio_task_park(t, abort_next, m, corio_task_deadline(t));
        if (res < 0)
            return res;
    }
    if (m->priv_len == 0)
        return m->priv_end;
    struct corio_multishot_result r = pop(m);
    if (buf != NULL)
        *buf = r.buf;
    return r.res;
}

unsigned corio_multishot_pending(const corio_multishot_t *m)
{
    return m != NULL && m->priv_started ? m->priv_len : 0;
}

int corio_multishot_cancel(corio_multishot_t *m)
{
    if (m == NULL)
        return -EINVAL;
    if (m->priv_started && m->priv_running)
        (void)corio_op_cancel(m->priv_op.priv_loop, &m->priv_op);
    return 0;
}

int corio_multishot_stop(corio_multishot_t *m)
{
    if (m == NULL)
        return -EINVAL;
    if (!m->priv_started)
        return 0;
    if (m->priv_waiter != NULL)
        return -EBUSY;
    if (m->priv_running) {
        struct corio_task *t = corio_this_task;
        if (t == NULL)
            return -EPERM;
        (void)corio_multishot_cancel(m);
        /* Not abortable, and no deadline: the kernel may write into m until the op's last
         * completion. */
        while (m->priv_running) {
            m->priv_waiter = t;
            (void)corio_task_park(t, NULL, m, 0);
        }
    }
    stop_ended(m);
    return 0;
}
