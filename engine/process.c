/* Subprocesses: posix_spawnp with the child's fds 0-2 set up as asked (pipes, /dev/null,
 * a caller's fd), a pidfd per child, and waiting for it as a poll on the pidfd (a task's
 * corio_poll, or corio_poll_cb) followed by waitid(P_PIDFD). On corio's public API and
 * libc alone. */
#include <corio/process.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* One child. Invariants: pidfd is open for the object's life; fds[i] >= 0 only for a
 * pipe end p still owns; once reaped, status is final and the child is gone. */
struct corio_process {
    pid_t pid;
    int pidfd;
    int fds[3];
    bool reaped;
    corio_process_status_t status;
    unsigned waiting; /* tasks parked in corio_process_wait */
    /* The callback wait, at most one at a time. */
    bool cb_pending;
    corio_op_t op;
    corio_loop_t *cb_loop;
    corio_process_cb_t cb;
    void *cb_arg;
};

static void close_quietly(int fd)
{
    if (fd >= 0)
        (void)close(fd);
}

/* ---- spawning ---------------------------------------------------------------------- */

static int check_opts(const corio_process_opts_t *opts)
{
    if (opts->argv == NULL || opts->argv[0] == NULL || (opts->flags & ~CORIO_PROCESS_KEEP_FDS))
        return -EINVAL;
    for (int i = 0; i < 3; i++) {
        const corio_stdio_t *s = &opts->stdio[i];
        switch (s->mode) {
        case CORIO_STDIO_INHERIT:
        case CORIO_STDIO_NULL:
        case CORIO_STDIO_PIPE:
            break;
        case CORIO_STDIO_FD:
            if (s->fd < 0)
                return -EBADF;
            break;
        case CORIO_STDIO_STDOUT:
            if (i != 2)
                return -EINVAL;
            break;
        default:
            return -EINVAL;
        }
    }
    return 0;
}

/* What the spawn needs beside the options: the fds to dup into 0-2 in the child (-1:
 * none) and the fds of ours to close once it has started. */
struct spawn_fds {
    int src[3];
    int temp[6]; /* pipes' child ends and copies made below; closed after the spawn */
    int ntemp;
};

/* An fd that is at least 3, so that no dup2 into 0-2 of an earlier child fd can
 * overwrite it: fd itself, or a close-on-exec copy of it. */
static int above_stdio(struct spawn_fds *sf, int fd)
{
    if (fd >= 3)
        return fd;
    int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (copy < 0)
        return -errno;
    sf->temp[sf->ntemp++] = copy;
    return copy;
}

/* Makes the pipes and sets every src. On failure the caller closes p->fds and sf->temp. */
static int prepare_fds(struct corio_process *p, const corio_process_opts_t *opts,
                       struct spawn_fds *sf)
{
    for (int i = 0; i < 3; i++) {
        const corio_stdio_t *s = &opts->stdio[i];
        sf->src[i] = -1;
        if (s->mode == CORIO_STDIO_FD) {
            if (fcntl(s->fd, F_GETFD) < 0)
                return -EBADF;
            int fd = above_stdio(sf, s->fd);
            if (fd < 0)
                return fd;
            sf->src[i] = fd;
        } else if (s->mode == CORIO_STDIO_PIPE) {
            int ends[2];
            if (pipe2(ends, O_CLOEXEC) != 0)
                return -errno;
            int child = i == 0 ? ends[0] : ends[1];
            p->fds[i] = i == 0 ? ends[1] : ends[0];
            sf->temp[sf->ntemp++] = child;
            int fd = above_stdio(sf, child);
            if (fd < 0)
                return fd;
            sf->src[i] = fd;
        }
    }
    return 0;
}

/* The child's side, as file actions run in order after the fork: fds 0, 1, 2, then the
 * directory, then every other fd closed. */
static int add_actions(posix_spawn_file_actions_t *fa, const corio_process_opts_t *opts,
                       const struct spawn_fds *sf)
{
    int err = 0;
    for (int i = 0; i < 3 && err == 0; i++) {
        switch (opts->stdio[i].mode) {
        case CORIO_STDIO_NULL:
            err = posix_spawn_file_actions_addopen(fa, i, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY,
                                                   0);
            break;
        case CORIO_STDIO_FD:
        case CORIO_STDIO_PIPE:
            err = posix_spawn_file_actions_adddup2(fa, sf->src[i], i);
            break;
        case CORIO_STDIO_STDOUT:
            err = posix_spawn_file_actions_adddup2(fa, 1, 2);
            break;
        default:
            break;
        }
    }
    if (err == 0 && opts->cwd != NULL)
        err = posix_spawn_file_actions_addchdir_np(fa, opts->cwd);
    if (err == 0 && !(opts->flags & CORIO_PROCESS_KEEP_FDS))
        err = posix_spawn_file_actions_addclosefrom_np(fa, 3);
    return -err;
}

/* The signal state a program expects to start with: nothing blocked, SIGPIPE and SIGXFSZ
 * at their default action (glibc resets caught signals by itself). */
static int add_signal_attrs(posix_spawnattr_t *attr)
{
    sigset_t none, dfl;
    sigemptyset(&none);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGPIPE);
    sigaddset(&dfl, SIGXFSZ);
    int err = posix_spawnattr_setsigmask(attr, &none);
    if (err == 0)
        err = posix_spawnattr_setsigdefault(attr, &dfl);
    if (err == 0)
        err = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    return -err;
}

static int spawn(struct corio_process *p, const corio_process_opts_t *opts, struct spawn_fds *sf)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int err = -posix_spawn_file_actions_init(&fa);
    if (err < 0)
        return err;
    err = -posix_spawnattr_init(&attr);
    if (err < 0) {
        posix_spawn_file_actions_destroy(&fa);
        return err;
    }
    err = add_actions(&fa, opts, sf);
    if (err == 0)
        err = add_signal_attrs(&attr);
    if (err == 0) {
        char *const *envp = opts->envp != NULL ? (char *const *)opts->envp : environ;
        err = -posix_spawnp(&p->pid, opts->argv[0], &fa, &attr, (char *const *)opts->argv, envp);
    }
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    return err;
}

int corio_process_spawn(const corio_process_opts_t *opts, corio_process_t **out)
{
    if (opts == NULL || out == NULL)
        return -EINVAL;
    int err = check_opts(opts);
    if (err < 0)
        return err;
    struct corio_process *p = calloc(1, sizeof *p);
    if (p == NULL)
        return -ENOMEM;
    p->pidfd = -1;
    p->fds[0] = p->fds[1] = p->fds[2] = -1;
    struct spawn_fds sf = {.ntemp = 0};
    err = prepare_fds(p, opts, &sf);
    if (err == 0)
        err = spawn(p, opts, &sf);
    for (int i = 0; i < sf.ntemp; i++)
        close_quietly(sf.temp[i]);
    if (err == 0) {
        /* The child is ours and unreaped (glibc reaps it itself when the exec fails), so
         * its pid cannot have been reused yet. */
        p->pidfd = pidfd_open(p->pid, 0);
        if (p->pidfd < 0) {
            err = -errno;
            (void)kill(p->pid, SIGKILL);
            while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
                ;
        }
    }
    if (err < 0) {
        for (int i = 0; i < 3; i++)
            close_quietly(p->fds[i]);
        free(p);
        return err;
    }
    *out = p;
    return 0;
}

pid_t corio_process_pid(const corio_process_t *p)
{
    return p != NULL ? p->pid : -EINVAL;
}

int corio_process_pidfd(const corio_process_t *p)
{
    return p != NULL ? p->pidfd : -EINVAL;
}

int corio_process_fd(const corio_process_t *p, int which)
{
    if (p == NULL || which < 0 || which > 2)
        return -EINVAL;
    return p->fds[which] >= 0 ? p->fds[which] : -ENOENT;
}

int corio_process_take_fd(corio_process_t *p, int which)
{
    int fd = corio_process_fd(p, which);
    if (fd >= 0)
        p->fds[which] = -1;
    return fd;
}

int corio_process_close_fd(corio_process_t *p, int which)
{
    int fd = corio_process_take_fd(p, which);
    if (fd < 0)
        return fd;
    (void)close(fd); /* a pipe's close cannot fail in a way that leaves it open */
    return 0;
}

/* ---- waiting ----------------------------------------------------------------------- */

/* Reaps the child if it has exited (flags WNOHANG) or once it has (flags 0). Returns 0
 * (p->status is set), -EAGAIN while it runs (WNOHANG), or -errno (-ECHILD). */
static int reap(struct corio_process *p, int flags)
{
    if (p->reaped)
        return 0;
    siginfo_t info;
    memset(&info, 0, sizeof info);
    while (waitid(P_PIDFD, (id_t)p->pidfd, &info, WEXITED | flags) != 0)
        if (errno != EINTR)
            return -errno;
    if (info.si_pid == 0)
        return -EAGAIN;
    corio_process_status_t *st = &p->status;
    st->exited = info.si_code == CLD_EXITED;
    st->core_dumped = info.si_code == CLD_DUMPED;
    st->code = st->exited ? info.si_status : -1;
    st->signal = st->exited ? 0 : info.si_status;
    p->reaped = true;
    return 0;
}

static int reaped_status(const struct corio_process *p, corio_process_status_t *status)
{
    if (status != NULL)
        *status = p->status;
    return 0;
}

int corio_process_try_wait(corio_process_t *p, corio_process_status_t *status)
{
    if (p == NULL)
        return -EINVAL;
    int err = reap(p, WNOHANG);
    return err < 0 ? err : reaped_status(p, status);
}

int corio_process_wait(corio_process_t *p, corio_process_status_t *status)
{
    if (p == NULL)
        return -EINVAL;
    for (;;) {
        int err = reap(p, WNOHANG);
        if (err == 0)
            return reaped_status(p, status);
        if (err != -EAGAIN)
            return err;
        /* The pidfd polls readable once the child has exited. */
        p->waiting++;
        int ev = corio_poll(p->pidfd, POLLIN);
        p->waiting--;
        if (ev < 0)
            return ev;
    }
}

static void on_pidfd_ready(corio_op_t *op, int res)
{
    struct corio_process *p = op->data;
    if (res >= 0) {
        res = reap(p, WNOHANG);
        if (res == -EAGAIN) {
            /* Not exited after all: wait on. */
            res = corio_poll_cb(p->cb_loop, &p->op, p->pidfd, POLLIN, on_pidfd_ready);
            if (res == 0)
                return;
        }
    }
    p->cb_pending = false;
    p->cb(p, res, res == 0 ? &p->status : NULL, p->cb_arg);
}

int corio_process_wait_cb(corio_loop_t *loop, corio_process_t *p, corio_process_cb_t cb, void *arg)
{
    if (loop == NULL || p == NULL || cb == NULL)
        return -EINVAL;
    if (p->cb_pending)
        return -EBUSY;
    /* Even for a child reaped already: the pidfd of a reaped child polls readable too, and
     * the callback must not run inside this call. */
    memset(&p->op, 0, sizeof p->op);
    p->op.data = p;
    int err = corio_poll_cb(loop, &p->op, p->pidfd, POLLIN, on_pidfd_ready);
    if (err < 0)
        return err;
    p->cb_pending = true;
    p->cb_loop = loop;
    p->cb = cb;
    p->cb_arg = arg;
    return 0;
}

int corio_process_wait_cancel(corio_process_t *p)
{
    if (p == NULL)
        return -EINVAL;
    if (!p->cb_pending)
        return -ENOENT;
    return corio_op_cancel(p->cb_loop, &p->op);
}

/* ---- signalling, freeing ------------------------------------------------------------ */

int corio_process_kill(corio_process_t *p, int sig)
{
    if (p == NULL)
        return -EINVAL;
    if (p->reaped)
        return -ESRCH;
    return pidfd_send_signal(p->pidfd, sig, NULL, 0) == 0 ? 0 : -errno;
}

int corio_process_free(corio_process_t *p)
{
    if (p == NULL)
        return 0;
    if (p->waiting > 0 || p->cb_pending)
        return -EBUSY;
    if (reap(p, WNOHANG) == -EAGAIN) {
        (void)pidfd_send_signal(p->pidfd, SIGKILL, NULL, 0);
        (void)reap(p, 0);
    }
    close_quietly(p->pidfd);
    for (int i = 0; i < 3; i++)
        close_quietly(p->fds[i]);
    free(p);
    return 0;
}
