/* corio/process.h: subprocesses. Start a program with its stdin, stdout and stderr
 * inherited, sent to /dev/null, taken from an fd of yours or connected to a pipe; wait
 * for it in a task or with a callback; signal it; free it, which never leaves a zombie.
 *
 * Contents
 *   1. options: argv, environment, directory, the three standard fds
 *   2. spawning, and the pipes' parent ends
 *   3. waiting (task, callback, non-blocking), signalling, freeing
 *
 * Conventions
 * - A child is started with posix_spawnp(3) (glibc's runs it with CLONE_VFORK: no page
 *   tables are copied, and a failed exec is the spawn call's own error) and watched
 *   through a pidfd: a wait is a poll on the pidfd, so it parks a task like any
 *   await-style call, and cancels and deadlines apply to it. Needs Linux 5.4.
 * - A corio_process_t owns its child until it has been reaped (by a wait that returned
 *   its status) and always owns the pidfd and the pipes' parent ends, which
 *   corio_process_free closes. Calls on one process are made from one thread at a time.
 * - The child starts with an empty signal mask and SIGPIPE and SIGXFSZ at their default
 *   action, whatever the parent blocks or ignores (a program expects them so; corio's
 *   signal waits ask the parent to block signals, which a child would otherwise inherit),
 *   and, unless CORIO_PROCESS_KEEP_FDS, with no fd open but 0, 1 and 2.
 * - Do not reap children behind corio's back: a waitpid(-1, ...), or SIGCHLD set to
 *   SIG_IGN (or SA_NOCLDWAIT), takes the child's status, and its waits then return
 *   -ECHILD.
 * - Returns are as everywhere in corio: >= 0 on success or a negative errno; bad
 *   arguments return -EINVAL (or -EBADF for a bad fd) and never crash.
 */
#ifndef CORIO_PROCESS_H
#define CORIO_PROCESS_H

#include <corio/corio.h>

#include <stdbool.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- 1. options ------------------------------------------------------------------- */

/* What one of the child's fds 0, 1 and 2 is. */
typedef enum corio_stdio_mode {
    CORIO_STDIO_INHERIT = 0, /* the parent's fd of the same number, as it is */
    CORIO_STDIO_NULL,        /* /dev/null (read-only as fd 0, write-only as 1 and 2) */
    CORIO_STDIO_FD,          /* a dup of .fd, an fd of yours (you keep it, and close it) */
    CORIO_STDIO_PIPE,        /* a pipe to the parent: see corio_process_fd */
    CORIO_STDIO_STDOUT,      /* fd 2 only: the same file as the child's fd 1 (2>&1) */
} corio_stdio_mode_t;

typedef struct corio_stdio {
    corio_stdio_mode_t mode;
    int fd; /* CORIO_STDIO_FD: the fd to dup into place; otherwise unused */
} corio_stdio_t;

enum {
    /* Let the child inherit every fd of the parent that is not close-on-exec; by default
     * it gets fds 0, 1 and 2 alone. (corio's own fds are all close-on-exec.) */
    CORIO_PROCESS_KEEP_FDS = 1u << 0,
};

/* Zero means "default" for every field but argv. Only read during corio_process_spawn. */
typedef struct corio_process_opts {
    /* The program and its arguments, NULL-terminated; argv[0] is the program, looked up
     * in the parent's PATH as execvp(3) does when it holds no '/'. Required. */
    const char *const *argv;
    /* The child's environment, "NAME=value" strings, NULL-terminated. NULL: the parent's
     * (environ, as it is at the call). */
    const char *const *envp;
    /* The directory the child starts in. NULL: the parent's. A relative argv[0] with a
     * '/' is taken relative to it. */
    const char *cwd;
    /* The child's fds 0 (stdin), 1 (stdout) and 2 (stderr), in that order. */
    corio_stdio_t stdio[3];
    unsigned flags; /* CORIO_PROCESS_* */
} corio_process_opts_t;

/* ---- 2. spawning ------------------------------------------------------------------ */

typedef struct corio_process corio_process_t; /* opaque; one child */

/* Starts a child as opts describe and sets *out to a new process object, which the
 * caller owns and frees with corio_process_free. Does not wait (posix_spawnp returns
 * once the child has exec'ed) and may be called inside or outside a task. Returns 0, or,
 * with nothing started and nothing left open:
 *   -EINVAL   NULL opts or out, no argv or argv[0], a bad mode, CORIO_STDIO_STDOUT for
 *             fd 0 or 1, an unknown flag
 *   -EBADF    CORIO_STDIO_FD with a negative fd (one that is not open: -EBADF too)
 *   -ENOENT   the program (or cwd) does not exist, or is not in PATH
 *   -EACCES, -ENOEXEC, -ENOTDIR, ...  exec(2) or chdir(2) refused it
 *   -EMFILE, -ENFILE, -ENOMEM, -EAGAIN  out of fds, memory or processes
 *   -ENOSYS   the kernel has no pidfd_open (before Linux 5.3) */
CORIO_API int corio_process_spawn(const corio_process_opts_t *opts, corio_process_t **out);

/* The child's process id, for logs and for calls that want one; it stays valid (not
 * reused) until the child has been reaped. -EINVAL for NULL. */
CORIO_API pid_t corio_process_pid(const corio_process_t *p);

/* The pidfd of the child (close-on-exec), owned by p: poll it for POLLIN (the child has
 * exited) if you wait some other way. -EINVAL for NULL. */
CORIO_API int corio_process_pidfd(const corio_process_t *p);

/* The parent's end of the pipe to the child's fd `which` (0, 1 or 2) when that was
 * CORIO_STDIO_PIPE: write end for 0, read end for 1 and 2. It is close-on-exec and
 * blocking, works with corio_read/corio_write and their _cb forms and with
 * corio_stream_init, and stays p's: corio_process_free closes it. Writing to fd 0's pipe
 * after the child closed its end raises SIGPIPE, as write(2) does, unless the signal is
 * ignored. Returns the fd, -ENOENT if `which` has no pipe (or it was closed or taken),
 * -EINVAL for NULL p or another `which`. */
CORIO_API int corio_process_fd(const corio_process_t *p, int which);

/* Closes the parent's end of pipe `which` now, as close(2) does: closing fd 0's write end
 * is how the child sees end of input. Do not close it while an operation on it is in
 * flight (close does not cancel it). Returns 0, or as corio_process_fd. */
CORIO_API int corio_process_close_fd(corio_process_t *p, int which);

/* Hands the parent's end of pipe `which` to the caller, who closes it; p forgets it.
 * Returns the fd, or as corio_process_fd. */
CORIO_API int corio_process_take_fd(corio_process_t *p, int which);

/* ---- 3. waiting, signalling, freeing ---------------------------------------------- */

/* How a child ended. */
typedef struct corio_process_status {
    bool exited;      /* true: it called exit (code is set); false: a signal ended it */
    bool core_dumped; /* the signal dumped core */
    int code;         /* exit status 0..255 when exited, else -1 */
    int signal;       /* the signal that ended it when !exited, else 0 */
} corio_process_status_t;

/* Inside a task: waits until the child has exited, reaps it and fills *status (if not
 * NULL). Once the child is reaped, every later wait returns the same status at once.
 * Several tasks may wait on one process; each gets the status. Returns 0, or:
 *   -ECANCELED  the task was cancelled (before or while waiting)
 *   -ETIMEDOUT  the task's deadline (corio_timeout_begin) passed first
 *   In both cases the child is not touched: it runs on, p still owns it, and a later
 *   wait (or corio_process_free, which kills it) reaps it. A child that has exited
 *   already is reaped and its status returned even so.
 *   -EPERM      outside a task (when the child has not been reaped yet)
 *   -ECHILD     someone else reaped the child (see the conventions)
 *   -EINVAL     NULL p */
CORIO_API int corio_process_wait(corio_process_t *p, corio_process_status_t *status);

/* Callback of corio_process_wait_cb: res 0 and the status (valid during the call), or a
 * negative errno and status NULL: -ECANCELED after corio_process_wait_cancel or when the
 * loop is freed, -ECHILD as for corio_process_wait. p is idle when cb runs: cb may free
 * it or wait again. */
typedef void (*corio_process_cb_t)(corio_process_t *p, int res,
                                   const corio_process_status_t *status, void *arg);

/* Callback mode: waits on loop until the child has exited, reaps it, then runs
 * cb(p, 0, status, arg) on the loop thread, never from inside this call (also when the
 * child was reaped already). Returns 0 (cb will run exactly once), or, with cb never run:
 * -EINVAL for a NULL loop, p or cb, -EBUSY if a callback wait on p is already pending,
 * or an error of corio_poll_cb. A pending wait keeps corio_loop_run going, like an
 * operation in flight. */
CORIO_API int corio_process_wait_cb(corio_loop_t *loop, corio_process_t *p, corio_process_cb_t cb,
                                    void *arg);

/* Ends a pending corio_process_wait_cb: its callback still runs, with -ECANCELED (or
 * with the status, if the child exited first). The child is not touched. Returns 0,
 * -ENOENT if no callback wait is pending, -EINVAL for NULL. */
CORIO_API int corio_process_wait_cancel(corio_process_t *p);

/* Does not wait: reaps the child if it has exited and fills *status (if not NULL).
 * Returns 0 (exited, now or before), -EAGAIN while it runs, -ECHILD as for
 * corio_process_wait, -EINVAL for NULL p. Inside or outside a task. */
CORIO_API int corio_process_try_wait(corio_process_t *p, corio_process_status_t *status);

/* Sends sig to the child (pidfd_send_signal(2): never to another process that took its
 * pid). sig 0 only checks that it can be signalled. Returns 0 (also for a child that has
 * exited and is not reaped yet: the signal is lost), -ESRCH once the child has been
 * reaped, -EINVAL for NULL p or a bad sig, -EPERM. */
CORIO_API int corio_process_kill(corio_process_t *p, int sig);

/* Frees p: if the child has not been reaped, kills it with SIGKILL and reaps it (waiting,
 * blocking the thread, until it is gone: normally at once), then closes the pidfd and
 * every pipe end p still holds. No zombie is left. Returns 0 (NULL is ignored), or
 * -EBUSY, with nothing freed, while a task is parked in corio_process_wait on p or a
 * callback wait is pending: cancel it and let it return first. Inside or outside a
 * task. */
CORIO_API int corio_process_free(corio_process_t *p);

#ifdef __cplusplus
}
#endif

#endif
