/* Connecting to one of a host's addresses, Happy Eyeballs style (RFC 8305): the addresses
 * with their families interleaved, one attempt started every HC_ATTEMPT_DELAY_NS or as soon
 * as the one before it failed, the first to connect wins and the others are cancelled and
 * closed. So a host whose first address drops SYNs, or whose IPv6 is broken, costs a
 * quarter second rather than the whole connect timeout.
 *
 * The attempts are callback-mode ops on a heap block that the last of the task and the
 * callbacks frees: a task whose deadline passes or that is cancelled returns at once, and
 * a connect that completes after that closes its own socket. */
#include "client_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct race;

struct attempt {
    corio_op_t op;
    struct race *r;
    int fd;    /* -1 once closed or handed to the winner */
    bool live; /* the connect is in flight */
};

struct race {
    corio_loop_t *loop;
    unsigned n, next, live;    /* addresses, the next to try, attempts in flight */
    bool timer_live, orphaned; /* orphaned: the task has returned */
    uint64_t last_start;       /* CLOCK_MONOTONIC of the latest attempt's start */
    int fd, first_err;         /* the winner's socket; the first failure */
    corio_event_t done;        /* set on a winner, or when every attempt failed */
    corio_op_t timer;          /* the attempt delay */
    struct attempt a[HC_MAX_ADDRS];
    struct sockaddr_storage addr[HC_MAX_ADDRS];
    socklen_t len[HC_MAX_ADDRS];
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void note_err(struct race *r, int err)
{
    if (r->first_err == 0 && err != -ECANCELED)
        r->first_err = err;
}

static void race_maybe_free(struct race *r)
{
    if (r->orphaned && r->live == 0 && !r->timer_live)
        free(r);
}

static void attempt_done(corio_op_t *op, int res);
static void timer_done(corio_op_t *op, int res);

/* Starts the next address's attempt (skipping ones whose socket cannot even be made).
 * Returns whether one started. */
static bool start_next(struct race *r)
{
    while (r->next < r->n) {
        unsigned i = r->next++;
        struct attempt *a = &r->a[i];
        a->r = r;
        a->op = (corio_op_t){.data = a};
        a->fd = socket(r->addr[i].ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (a->fd < 0) {
            note_err(r, -errno);
            continue;
        }
        int rc = corio_connect_cb(r->loop, &a->op, a->fd, (struct sockaddr *)&r->addr[i], r->len[i],
                                  attempt_done);
        if (rc < 0) {
            close(a->fd);
            a->fd = -1;
            note_err(r, rc);
            continue;
        }
        a->live = true;
        r->live++;
        r->last_start = mono_ns();
        return true;
    }
    return false;
}

static void arm_timer(struct race *r, uint64_t ns)
{
    if (r->timer_live || r->next >= r->n)
        return;
    r->timer = (corio_op_t){.data = r};
    r->timer_live = corio_timeout_cb(r->loop, &r->timer, ns, timer_done) == 0;
}

/* Every attempt has failed and none is left to start: the task learns it. */
static void check_exhausted(struct race *r)
{
    if (r->fd < 0 && r->live == 0 && r->next >= r->n) {
        if (r->timer_live)
            corio_op_cancel(r->loop, &r->timer);
        corio_event_set(&r->done);
    }
}

static void cancel_all(struct race *r)
{
    for (unsigned i = 0; i < r->n; i++)
        if (r->a[i].live)
            corio_op_cancel(r->loop, &r->a[i].op);
    if (r->timer_live)
        corio_op_cancel(r->loop, &r->timer);
}

static void attempt_done(corio_op_t *op, int res)
{
    struct attempt *a = op->data;
    struct race *r = a->r;
    a->live = false;
    r->live--;
    if (res == 0 && r->fd < 0 && !r->orphaned) {
        r->fd = a->fd; /* the winner */
        a->fd = -1;
        cancel_all(r);
        corio_event_set(&r->done);
    } else {
        close(a->fd);
        a->fd = -1;
        note_err(r, res < 0 ? res : -ECONNABORTED);
        if (r->fd < 0 && !r->orphaned) {
            /* A failure starts the next attempt at once, and the delay runs from it
             * (a live timer is cancelled, and timer_done arms it again). */
            if (start_next(r)) {
                if (r->timer_live)
                    corio_op_cancel(r->loop, &r->timer);
                else
                    arm_timer(r, HC_ATTEMPT_DELAY_NS);
            }
            check_exhausted(r);
        }
    }
    race_maybe_free(r);
}

static void timer_done(corio_op_t *op, int res)
{
    struct race *r = op->data;
    r->timer_live = false;
    if (r->fd < 0 && !r->orphaned) {
        uint64_t since = mono_ns() - r->last_start;
        if (res == 0 && since + 1000000 >= HC_ATTEMPT_DELAY_NS) {
            start_next(r);
            arm_timer(r, HC_ATTEMPT_DELAY_NS);
        } else {
            /* Cancelled because a failure started an attempt early: time the delay from
             * that attempt. */
            arm_timer(r, since < HC_ATTEMPT_DELAY_NS ? HC_ATTEMPT_DELAY_NS - since : 1);
        }
        check_exhausted(r);
    }
    race_maybe_free(r);
}

/* RFC 8305 section 4: the families interleaved, starting with the resolver's first. */
static void interleave(struct race *r, const struct sockaddr_storage *addr, const socklen_t *len,
                       unsigned n)
{
    bool used[HC_MAX_ADDRS] = {false};
    sa_family_t want = addr[0].ss_family;
    for (unsigned k = 0; k < n; k++) {
        unsigned pick = n;
        for (unsigned i = 0; i < n && pick == n; i++)
            if (!used[i] && addr[i].ss_family == want)
                pick = i;
        for (unsigned i = 0; i < n && pick == n; i++)
            if (!used[i])
                pick = i; /* no address of that family left: any */
        used[pick] = true;
        r->addr[k] = addr[pick];
        r->len[k] = len[pick];
        want = addr[pick].ss_family == AF_INET6 ? AF_INET : AF_INET6;
    }
    r->n = n;
}

int hc_connect(const struct sockaddr_storage *addr, const socklen_t *len, unsigned n)
{
    if (n == 0)
        return -EHOSTUNREACH;
    if (n == 1) { /* nothing to race: no timer, no heap block */
        int fd = corio_socket(addr[0].ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return fd;
        int rc = corio_connect(fd, (const struct sockaddr *)&addr[0], len[0]);
        if (rc < 0) {
            close(fd); /* plain close: it must work in a cancelled task too */
            return rc;
        }
        return fd;
    }
    struct race *r = calloc(1, sizeof *r);
    if (r == NULL)
        return -ENOMEM;
    r->loop = corio_current_loop();
    r->fd = -1;
    corio_event_init(&r->done);
    interleave(r, addr, len, n > HC_MAX_ADDRS ? HC_MAX_ADDRS : n);
    if (start_next(r))
        arm_timer(r, HC_ATTEMPT_DELAY_NS);
    check_exhausted(r);
    int rc = corio_event_wait(&r->done);
    int fd = r->fd;
    r->fd = -1;
    if (fd < 0)
        fd = rc < 0 ? rc : (r->first_err != 0 ? r->first_err : -EHOSTUNREACH);
    else if (rc < 0) { /* connected, but the task's deadline or cancel came first */
        close(fd);
        fd = rc;
    }
    r->orphaned = true;
    cancel_all(r);
    race_maybe_free(r);
    return fd;
}
