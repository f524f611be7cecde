/* Tests of subprocesses (engine/process.c) and of fork() from a task (engine/stack.c's
 * fork handlers), with real processes: exit codes and signals, 64 MiB through a pipe
 * byte-exact (this binary re-executed as the writer), a round trip through cat, the
 * /dev/null, fd and 2>&1 modes, missing programs, cwd and environment, cancelled and
 * timed-out waits, the callback form, a thousand children leaving no zombie and no fd,
 * argument errors, and forked children that exec or build their own loop. SIGTERM is
 * blocked in main(): the children must not inherit that. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

#define MS        1000000ull
#define PATTERN_N ((size_t)64 << 20)

/* ---- shared helpers ---------------------------------------------------------------- */

/* Byte i of the pattern the --pattern writer sends (as support_pattern_file's). */
static unsigned char pattern_byte(size_t i)
{
    return (unsigned char)((i * 7 + 3) & 0xff);
}

/* `test_process --pattern N`: writes N bytes of the pattern to stdout and exits. */
static int pattern_writer(const char *count)
{
    size_t n = strtoull(count, NULL, 10);
    static unsigned char buf[1 << 16];
    for (size_t done = 0; done < n;) {
        size_t len = n - done < sizeof buf ? n - done : sizeof buf;
        for (size_t i = 0; i < len; i++)
            buf[i] = pattern_byte(done + i);
        for (size_t off = 0; off < len;) {
            ssize_t w = write(STDOUT_FILENO, buf + off, len - off);
            if (w <= 0)
                return 1;
            off += (size_t)w;
        }
        done += len;
    }
    return 0;
}

/* The process has no child at all, running or zombie. */
static void assert_no_children(void)
{
    siginfo_t info;
    errno = 0;
    assert_int_equal(waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT), -1);
    assert_int_equal(errno, ECHILD);
}

static corio_process_t *spawn_ok(const corio_process_opts_t *opts)
{
    corio_process_t *p = NULL;
    int err = corio_process_spawn(opts, &p);
    if (err != 0)
        fail_msg("corio_process_spawn(%s): %s", opts->argv[0], corio_strerror(err));
    return p;
}

/* Inside a task: reads fd to its end into buf (cap bytes); returns the count. */
static size_t read_all(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    for (;;) {
        ssize_t n = corio_read(fd, buf + len, cap - len, -1);
        assert_true(n >= 0);
        if (n == 0)
            return len;
        len += (size_t)n;
        assert_true(len < cap);
    }
}

/* Inside a task: runs argv with stdout on a pipe, returns what it printed (NUL-ended, in
 * out) and its exit code. */
static int capture(corio_process_opts_t *opts, char *out, size_t cap)
{
    opts->stdio[1].mode = CORIO_STDIO_PIPE;
    corio_process_t *p = spawn_ok(opts);
    size_t len = read_all(corio_process_fd(p, 1), out, cap);
    out[len] = '\0';
    corio_process_status_t st;
    assert_int_equal(corio_process_wait(p, &st), 0);
    assert_true(st.exited);
    assert_int_equal(corio_process_free(p), 0);
    return st.code;
}

/* Waits for a forked child in a task, through its pidfd, and returns its waitid info. */
static siginfo_t wait_forked(pid_t pid)
{
    int pidfd = pidfd_open(pid, 0);
    assert_true(pidfd >= 0);
    assert_true(corio_poll(pidfd, POLLIN) & POLLIN);
    siginfo_t info;
    memset(&info, 0, sizeof info);
    assert_int_equal(waitid(P_PIDFD, (id_t)pidfd, &info, WEXITED), 0);
    close(pidfd);
    return info;
}

/* ---- exit codes and signals -------------------------------------------------------- */

static void *exit_codes_task(void *arg)
{
    (void)arg;
    corio_process_opts_t opts = {.argv = (const char *const[]){"sh", "-c", "exit 7", NULL}};
    corio_process_t *p = spawn_ok(&opts);
    assert_true(corio_process_pid(p) > 0);
    assert_true(corio_process_pidfd(p) >= 0);
    corio_process_status_t st;
    assert_int_equal(corio_process_wait(p, &st), 0);
    assert_true(st.exited);
    assert_false(st.core_dumped);
    assert_int_equal(st.code, 7);
    assert_int_equal(st.signal, 0);
    /* Reaped: later waits give the same status at once, and there is no one to signal. */
    memset(&st, 0, sizeof st);
    assert_int_equal(corio_process_wait(p, &st), 0);
    assert_int_equal(st.code, 7);
    assert_int_equal(corio_process_try_wait(p, NULL), 0);
    assert_int_equal(corio_process_kill(p, SIGTERM), -ESRCH);
    assert_int_equal(corio_process_free(p), 0);

    opts.argv = (const char *const[]){"true", NULL};
    p = spawn_ok(&opts);
    assert_int_equal(corio_process_wait(p, &st), 0);
    assert_true(st.exited);
    assert_int_equal(st.code, 0);
    assert_int_equal(corio_process_free(p), 0);
    return NULL;
}

static void test_exit_codes_are_reported(void **state)
{
    (void)state;
    support_run(exit_codes_task, NULL);
    assert_no_children();
}

static void *kill_task(void *arg)
{
    (void)arg;
    /* cat with its stdin on a pipe we keep open runs until we act: no timing involved. */
    corio_process_opts_t opts = {.argv = (const char *const[]){"cat", NULL},
                                 .stdio = {{CORIO_STDIO_PIPE}}};
    corio_process_t *p = spawn_ok(&opts);
    assert_int_equal(corio_process_try_wait(p, NULL), -EAGAIN);
    assert_int_equal(corio_process_kill(p, 0), 0);
    /* SIGTERM is blocked in this process; the child starts with an empty mask. */
    assert_int_equal(corio_process_kill(p, SIGTERM), 0);
    corio_process_status_t st;
    assert_int_equal(corio_process_wait(p, &st), 0);
    assert_false(st.exited);
    assert_int_equal(st.code, -1);
    assert_int_equal(st.signal, SIGTERM);
    assert_int_equal(corio_process_kill(p, SIGKILL), -ESRCH);
    assert_int_equal(corio_process_free(p), 0);

    /* A bad signal number is the kernel's -EINVAL. */
    p = spawn_ok(&opts);
    assert_int_equal(corio_process_kill(p, 12345), -EINVAL);
    assert_int_equal(corio_process_free(p), 0); /* kills and reaps it */
    return NULL;
}

static void test_a_child_killed_by_a_signal_is_reported_with_it(void **state)
{
    (void)state;
    support_run(kill_task, NULL);
    assert_no_children();
}

/* ---- pipes ------------------------------------------------------------------------- */

static void *pattern_task(void *arg)
{
    (void)arg;
    char count[32];
    snprintf(count, sizeof count, "%zu", PATTERN_N);
    corio_process_opts_t opts = {
        .argv = (const char *const[]){"/proc/self/exe", "--pattern", count, NULL},
        .stdio = {[1] = {CORIO_STDIO_PIPE}}};
    corio_process_t *p = spawn_ok(&opts);
    assert_int_equal(corio_process_fd(p, 0), -ENOENT);
    assert_int_equal(corio_process_fd(p, 2), -ENOENT);
    int fd = corio_process_fd(p, 1);
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    static unsigned char buf[1 << 16];
    size_t total = 0;
    for (;;) {
        ssize_t n = corio_read(fd, buf, sizeof buf, -1);
        assert_true(n >= 0);
        if (n == 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != pattern_byte(total + (size_t)i))
                fail_msg("byte %zu: %u, expected %u", total + (size_t)i, buf[i],
                         pattern_byte(total + (size_t)i));
        total += (size_t)n;
    }
    assert_int_equal(total, PATTERN_N);
    corio_process_status_t st;
    assert_int_equal(corio_process_wait(p, &st), 0);
    assert_true(st.exited);
    assert_int_equal(st.code, 0);
    assert_int_equal(corio_process_free(p), 0);
    return NULL;
}

static void test_64_mib_from_a_child_arrive_byte_exact(void **state)
{
    (void)state;
    support_run(pattern_task, NULL);
    assert_no_children();
}

#define ROUND_TRIP_N ((size_t)1 << 20)

struct round_trip {
    corio_process_t *p;
    unsigned char *sent;
};

static void *feed_cat(void *arg)
{
    struct round_trip *rt = arg;
    char wbuf[4096];
    corio_stream_t s;
    assert_int_equal(corio_stream_init(&s, corio_process_fd(rt->p, 0), NULL, 0, wbuf, sizeof wbuf),
                     0);
    /* Odd-sized pieces through the stream's buffer. */
    for (size_t off = 0; off < ROUND_TRIP_N;) {
        size_t len = ROUND_TRIP_N - off < 1000 ? ROUND_TRIP_N - off : 1000;
        assert_int_equal(corio_stream_write(&s, rt->sent + off, len), (ssize_t)len);
        off += len;
    }
    assert_int_equal(corio_stream_flush(&s), 0);
    assert_int_equal(corio_process_close_fd(rt->p, 0), 0); /* cat sees end of input */
    assert_int_equal(corio_process_close_fd(rt->p, 0), -ENOENT);
    return NULL;
}

static void *round_trip_task(void *arg)
{
    (void)arg;
    struct round_trip rt;
    rt.sent = malloc(ROUND_TRIP_N);
    unsigned char *got = malloc(ROUND_TRIP_N);
    assert_non_null(rt.sent);
    assert_non_null(got);
    for (size_t i = 0; i < ROUND_TRIP_N; i++)
        rt.sent[i] = (unsigned char)(rand() & 0xff);
    corio_process_opts_t opts = {.argv = (const char *const[]){"cat", NULL},
                                 .stdio = {{CORIO_STDIO_PIPE}, {CORIO_STDIO_PIPE}}};
    rt.p = spawn_ok(&opts);
    corio_task_t *feeder;
    assert_int_equal(corio_spawn(NULL, feed_cat, &rt, &feeder), 0);
    char rbuf[8192];
    corio_stream_t s;
    assert_int_equal(corio_stream_init(&s, corio_process_fd(rt.p, 1), rbuf, sizeof rbuf, NULL, 0),
                     0);
    assert_int_equal(corio_stream_read_exactly(&s, got, ROUND_TRIP_N), (ssize_t)ROUND_TRIP_N);
    char extra;
    assert_int_equal(corio_stream_read(&s, &extra, 1), 0);
    assert_memory_equal(got, rt.sent, ROUND_TRIP_N);
    assert_int_equal(corio_join(feeder, NULL), 0);
    corio_process_status_t st;
    assert_int_equal(corio_process_wait(rt.p, &st), 0);
    assert_true(st.exited);
    assert_int_equal(st.code, 0);
    assert_int_equal(corio_process_free(rt.p), 0);
    free(got);
    free(rt.sent);
    return NULL;
}

static void test_stdin_and_stdout_pipes_round_trip_through_cat(void **state)
{
    (void)state;
    support_run(round_trip_task, NULL);
    assert_no_children();
}

static void *stdio_modes_task(void *arg)
{
    (void)arg;
    char out[256];
    /* /dev/null as stdin: cat ends at once, with nothing to print. */
    corio_process_opts_t opts = {.argv = (const char *const[]){"cat", NULL},
                                 .stdio = {{CORIO_STDIO_NULL}}};
    assert_int_equal(capture(&opts, out, sizeof out), 0);
    assert_string_equal(out, "");

    /* 2>&1: both lines in the one pipe; stderr to /dev/null: only stdout's. */
    const char *const both[] = {"sh", "-c", "echo out; echo err >&2", NULL};
    opts = (corio_process_opts_t){.argv = both, .stdio = {[2] = {CORIO_STDIO_STDOUT}}};
    assert_int_equal(capture(&opts, out, sizeof out), 0);
    assert_string_equal(out, "out\nerr\n");
    opts = (corio_process_opts_t){.argv = both, .stdio = {[2] = {CORIO_STDIO_NULL}}};
    assert_int_equal(capture(&opts, out, sizeof out), 0);
    assert_string_equal(out, "out\n");

    /* An fd of ours as stdout: a file, which we still own afterwards. */
    char path[] = "/tmp/corio-process-XXXXXX";
    int file = mkstemp(path);
    assert_true(file >= 0);
    unlink(path);
    opts = (corio_process_opts_t){.argv = (const char *const[]){"echo", "into the file", NULL},
                                  .stdio = {[1] = {CORIO_STDIO_FD, file}}};
    corio_process_t *p = spawn_ok(&opts);
    assert_int_equal(corio_process_fd(p, 1), -ENOENT);
    assert_int_equal(corio_process_wait(p, NULL), 0);
    assert_int_equal(corio_process_free(p), 0);
    assert_int_equal(pread(file, out, sizeof out, 0), 14);
    assert_memory_equal(out, "into the file\n", 14);
    close(file);

    /* Sources among fds 0-2 survive the dups into 0-2: our fd 0 becomes, for a moment,
     * a pipe's write end, passed as the child's stdout while its stdin is a new pipe
     * (whose end would take fd 0's place first in the child). */
    int saved0 = dup(0), ends[2];
    assert_true(saved0 >= 0);
    assert_int_equal(pipe2(ends, O_CLOEXEC), 0);
    assert_int_equal(dup2(ends[1], 0), 0);
    close(ends[1]);
    opts = (corio_process_opts_t){.argv = (const char *const[]){"cat", NULL},
                                  .stdio = {{CORIO_STDIO_PIPE}, {CORIO_STDIO_FD, 0}}};
    p = spawn_ok(&opts);
    assert_int_equal(dup2(saved0, 0), 0);
    close(saved0);
    assert_int_equal(corio_write(corio_process_fd(p, 0), "via fd 0\n", 9, -1), 9);
    assert_int_equal(corio_process_close_fd(p, 0), 0);
    assert_int_equal(read_all(ends[0], out, sizeof out), 9);
    assert_memory_equal(out, "via fd 0\n", 9);
    close(ends[0]);
    assert_int_equal(corio_process_wait(p, NULL), 0);
    assert_int_equal(corio_process_free(p), 0);
    return NULL;
}

static void test_null_fd_and_stdout_modes_put_the_child_fds_in_place(void **state)
{
    (void)state;
    support_run(stdio_modes_task, NULL);
    assert_no_children();
}

static void *fds_task(void *arg)
{
    (void)arg;
    char out[64];
    int leaked = open("/dev/null", O_RDONLY); /* not close-on-exec */
    assert_true(leaked >= 3);
    char script[64];
    snprintf(script, sizeof script, "test -e /proc/self/fd/%d && echo open || echo closed", leaked);
    corio_process_opts_t opts = {.argv = (const char *const[]){"sh", "-c", script, NULL}};
    assert_int_equal(capture(&opts, out, sizeof out), 0);
    assert_string_equal(out, "closed\n");
    opts = (corio_process_opts_t){.argv = (const char *const[]){"sh", "-c", script, NULL},
                                  .flags = CORIO_PROCESS_KEEP_FDS};
    assert_int_equal(capture(&opts, out, sizeof out), 0);
    assert_string_equal(out, "open\n");
    close(leaked);
    return NULL;
}

static void test_only_fds_0_to_2_reach_the_child_unless_kept(void **state)
{
    (void)state;
    support_run(fds_task, NULL);
}

/* ---- what the child is started with ------------------------------------------------- */

static void test_a_missing_program_is_enoent_and_leaves_nothing(void **state)
{
    (void)state;
    int fds = support_count_fds();
    corio_process_t *p = (corio_process_t *)&p;
    corio_process_opts_t opts = {
        .argv = (const char *const[]){"corio-no-such-program", NULL},
        .stdio = {{CORIO_STDIO_PIPE}, {CORIO_STDIO_PIPE}, {CORIO_STDIO_PIPE}}};
    assert_int_equal(corio_process_spawn(&opts, &p), -ENOENT);
    assert_ptr_equal(p, &p); /* untouched */
    opts.argv = (const char *const[]){"/nonexistent/program", NULL};
    assert_int_equal(corio_process_spawn(&opts, &p), -ENOENT);
    opts.argv = (const char *const[]){"/etc/passwd", NULL}; /* not executable */
    assert_int_equal(corio_process_spawn(&opts, &p), -EACCES);
    opts.argv = (const char *const[]){"true", NULL};
    opts.cwd = "/nonexistent/directory";
    assert_int_equal(corio_process_spawn(&opts, &p), -ENOENT);
    assert_int_equal(support_count_fds(), fds);
    assert_no_children();
}

static void *cwd_env_task(void *arg)
{
    (void)arg;
    char dir[] = "/tmp/corio-process-XXXXXX", real[PATH_MAX], out[PATH_MAX + 64];
    assert_non_null(mkdtemp(dir));
    assert_non_null(realpath(dir, real));
    const char *const script[] = {"sh", "-c", "pwd; echo \"[$CORIO_ONE][$CORIO_PARENT]\"", NULL};

    /* Our own environment, and the directory given. */
    corio_process_opts_t opts = {
        .argv = script,
        .envp = (const char *const[]){"CORIO_ONE=1", "PATH=/usr/bin:/bin", NULL},
        .cwd = dir};
    assert_int_equal(capture(&opts, out, sizeof out), 0);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "%s\n[1][]\n", real);
    assert_string_equal(out, want);

    /* NULL: the parent's environment and directory. */
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(setenv("CORIO_PARENT", "inherited", 1), 0);
    opts = (corio_process_opts_t){
        .argv = (const char *const[]){"sh", "-c", "pwd -P; echo \"$CORIO_PARENT\"", NULL}};
    assert_int_equal(capture(&opts, out, sizeof out), 0);
    assert_non_null(realpath(cwd, real));
    snprintf(want, sizeof want, "%s\ninherited\n", real);
    assert_string_equal(out, want);
    unsetenv("CORIO_PARENT");

    /* A relative program with a '/' is found from the child's directory. */
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/prog", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("#!/bin/sh\necho relative\n", f);
    fclose(f);
    assert_int_equal(chmod(path, 0755), 0);
    opts = (corio_process_opts_t){.argv = (const char *const[]){"./prog", NULL}, .cwd = dir};
    assert_int_equal(capture(&opts, out, sizeof out), 0);
    assert_string_equal(out, "relative\n");
    unlink(path);
    rmdir(dir);
    return NULL;
}

static void test_cwd_and_environment_are_honoured(void **state)
{
    (void)state;
    support_run(cwd_env_task, NULL);
    assert_no_children();
}

/* ---- waits that end early ------------------------------------------------------------ */

struct waiter {
    corio_process_t *p;
    bool parked;
    int res;
};

static void *wait_task(void *arg)
{
    struct waiter *w = arg;
    w->parked = true;
    w->res = corio_process_wait(w->p, NULL);
    w->parked = false;
    return NULL;
}

static void *cancel_task(void *arg)
{
    (void)arg;
    corio_process_opts_t opts = {.argv = (const char *const[]){"cat", NULL},
                                 .stdio = {{CORIO_STDIO_PIPE}}};
    struct waiter w = {.p = spawn_ok(&opts), .res = 1};
    pid_t pid = corio_process_pid(w.p);
    corio_task_t *t;
    assert_int_equal(corio_spawn(NULL, wait_task, &w, &t), 0);
    while (!w.parked)
        corio_yield();
    assert_int_equal(corio_nop(), 0); /* the waiter's poll is in the kernel now */
    assert_int_equal(corio_process_free(w.p), -EBUSY);
    assert_int_equal(corio_cancel(t), 0);
    assert_int_equal(corio_join(t, NULL), -ECANCELED);
    assert_int_equal(w.res, -ECANCELED);

    /* The child runs on, still p's. */
    assert_int_equal(corio_process_try_wait(w.p, NULL), -EAGAIN);
    assert_int_equal(kill(pid, 0), 0);
    assert_int_equal(corio_process_free(w.p), 0); /* kills and reaps it */
    errno = 0;
    assert_int_equal(kill(pid, 0), -1);
    assert_int_equal(errno, ESRCH);
    return NULL;
}

static void test_a_cancelled_wait_leaves_the_child_running_and_free_reaps_it(void **state)
{
    (void)state;
    support_run(cancel_task, NULL);
    assert_no_children();
}

static void *deadline_task(void *arg)
{
    (void)arg;
    corio_process_opts_t opts = {.argv = (const char *const[]){"cat", NULL},
                                 .stdio = {{CORIO_STDIO_PIPE}}};
    corio_process_t *p = spawn_ok(&opts);
    corio_process_status_t st;
    assert_int_equal(corio_timeout_begin(20 * MS), 0);
    assert_int_equal(corio_process_wait(p, &st), -ETIMEDOUT);
    corio_timeout_end();
    assert_int_equal(corio_process_try_wait(p, NULL), -EAGAIN);
    /* End its input: it exits by itself, and the next wait gets the status. */
    assert_int_equal(corio_process_close_fd(p, 0), 0);
    assert_int_equal(corio_process_wait(p, &st), 0);
    assert_true(st.exited);
    assert_int_equal(st.code, 0);
    assert_int_equal(corio_process_free(p), 0);
    return NULL;
}

static void test_a_deadline_ends_the_wait_and_a_later_wait_reaps(void **state)
{
    (void)state;
    support_run(deadline_task, NULL);
    assert_no_children();
}

/* Several tasks waiting on one process each get the status. */
static void *two_waiters_task(void *arg)
{
    (void)arg;
    corio_process_opts_t opts = {.argv = (const char *const[]){"sh", "-c", "read x; exit 4", NULL},
                                 .stdio = {{CORIO_STDIO_PIPE}}};
    corio_process_t *p = spawn_ok(&opts);
    struct waiter w[2] = {{.p = p, .res = 1}, {.p = p, .res = 1}};
    corio_task_t *t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(corio_spawn(NULL, wait_task, &w[i], &t[i]), 0);
    while (!w[0].parked || !w[1].parked)
        corio_yield();
    assert_int_equal(corio_write(corio_process_fd(p, 0), "\n", 1, -1), 1);
    assert_int_equal(corio_gather(t, 2, NULL), 0);
    assert_int_equal(w[0].res, 0);
    assert_int_equal(w[1].res, 0);
    corio_process_status_t st;
    assert_int_equal(corio_process_try_wait(p, &st), 0);
    assert_int_equal(st.code, 4);
    assert_int_equal(corio_process_free(p), 0);
    return NULL;
}

static void test_several_tasks_may_wait_on_one_child(void **state)
{
    (void)state;
    support_run(two_waiters_task, NULL);
    assert_no_children();
}

/* ---- the callback form --------------------------------------------------------------- */

struct cb_record {
    int calls;
    int res;
    corio_process_status_t st;
    corio_process_t *p;
};

static void on_waited(corio_process_t *p, int res, const corio_process_status_t *st, void *arg)
{
    struct cb_record *r = arg;
    r->calls++;
    r->res = res;
    r->p = p;
    if (res == 0) {
        assert_non_null(st);
        r->st = *st;
    } else {
        assert_null(st);
    }
}

static void test_the_callback_form_reports_once_and_can_be_cancelled(void **state)
{
    (void)state;
    corio_loop_t *loop = support_loop(0);
    corio_process_opts_t opts = {.argv = (const char *const[]){"sh", "-c", "exit 3", NULL}};
    corio_process_t *p = spawn_ok(&opts);
    struct cb_record r = {0};
    assert_int_equal(corio_process_wait_cb(loop, p, on_waited, &r), 0);
    assert_int_equal(corio_process_wait_cb(loop, p, on_waited, &r), -EBUSY);
    assert_int_equal(corio_process_free(p), -EBUSY);
    assert_int_equal(r.calls, 0); /* never from inside the call */
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.res, 0);
    assert_ptr_equal(r.p, p);
    assert_true(r.st.exited);
    assert_int_equal(r.st.code, 3);

    /* Reaped already: the status again, still from the loop. */
    r = (struct cb_record){0};
    assert_int_equal(corio_process_wait_cb(loop, p, on_waited, &r), 0);
    assert_int_equal(r.calls, 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.res, 0);
    assert_int_equal(r.st.code, 3);
    assert_int_equal(corio_process_wait_cancel(p), -ENOENT);
    assert_int_equal(corio_process_free(p), 0);

    /* Cancelled: -ECANCELED, the child untouched; then freed with the loop. */
    opts = (corio_process_opts_t){.argv = (const char *const[]){"cat", NULL},
                                  .stdio = {{CORIO_STDIO_PIPE}}};
    p = spawn_ok(&opts);
    r = (struct cb_record){0};
    assert_int_equal(corio_process_wait_cb(loop, p, on_waited, &r), 0);
    assert_int_equal(corio_process_wait_cancel(p), 0);
    assert_int_equal(corio_loop_run(loop), 0);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.res, -ECANCELED);
    assert_int_equal(corio_process_try_wait(p, NULL), -EAGAIN);

    /* corio_loop_free ends a pending wait with -ECANCELED too. */
    r = (struct cb_record){0};
    assert_int_equal(corio_process_wait_cb(loop, p, on_waited, &r), 0);
    corio_loop_free(loop);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.res, -ECANCELED);
    assert_int_equal(corio_process_free(p), 0);
    assert_no_children();
}

/* ---- many children ------------------------------------------------------------------- */

#define CHILDREN 1000
#define SPAWNERS 4

static void *spawner(void *arg)
{
    int id = (int)(intptr_t)arg;
    corio_process_opts_t opts = {.argv = (const char *const[]){"true", NULL},
                                 .stdio = {{CORIO_STDIO_NULL}, {CORIO_STDIO_PIPE}}};
    for (int i = id; i < CHILDREN; i += SPAWNERS) {
        corio_process_t *p = spawn_ok(&opts);
        if (i % 2 == 0) {
            corio_process_status_t st;
            assert_int_equal(corio_process_wait(p, &st), 0);
            assert_int_equal(st.code, 0);
        } /* else freed while it may still run: killed and reaped */
        assert_int_equal(corio_process_free(p), 0);
    }
    return NULL;
}

static void *many_task(void *arg)
{
    (void)arg;
    corio_task_t *t[SPAWNERS];
    for (int i = 0; i < SPAWNERS; i++)
        assert_int_equal(corio_spawn(NULL, spawner, (void *)(intptr_t)i, &t[i]), 0);
    assert_int_equal(corio_gather(t, SPAWNERS, NULL), 0);
    return NULL;
}

static void test_a_thousand_children_leave_no_zombie_and_no_fd(void **state)
{
    (void)state;
    int fds = support_count_fds();
    support_run(many_task, NULL);
    assert_int_equal(support_count_fds(), fds);
    assert_no_children();
}

/* ---- argument errors ----------------------------------------------------------------- */

static void test_bad_arguments_are_refused(void **state)
{
    (void)state;
    corio_process_t *p = NULL;
    const char *const argv[] = {"true", NULL};
    corio_process_opts_t opts = {.argv = argv};
    assert_int_equal(corio_process_spawn(NULL, &p), -EINVAL);
    assert_int_equal(corio_process_spawn(&opts, NULL), -EINVAL);
    opts.argv = NULL;
    assert_int_equal(corio_process_spawn(&opts, &p), -EINVAL);
    opts.argv = (const char *const[]){NULL};
    assert_int_equal(corio_process_spawn(&opts, &p), -EINVAL);
    opts.argv = argv;
    opts.flags = 1u << 7;
    assert_int_equal(corio_process_spawn(&opts, &p), -EINVAL);
    opts.flags = 0;
    opts.stdio[0].mode = (corio_stdio_mode_t)99;
    assert_int_equal(corio_process_spawn(&opts, &p), -EINVAL);
    opts.stdio[0].mode = CORIO_STDIO_STDOUT; /* fd 2 only */
    assert_int_equal(corio_process_spawn(&opts, &p), -EINVAL);
    opts.stdio[0].mode = CORIO_STDIO_INHERIT;
    opts.stdio[1] = (corio_stdio_t){CORIO_STDIO_STDOUT, 0};
    assert_int_equal(corio_process_spawn(&opts, &p), -EINVAL);
    opts.stdio[1] = (corio_stdio_t){CORIO_STDIO_FD, -1};
    assert_int_equal(corio_process_spawn(&opts, &p), -EBADF);
    int closed = dup(0);
    close(closed);
    opts.stdio[1] = (corio_stdio_t){CORIO_STDIO_FD, closed};
    assert_int_equal(corio_process_spawn(&opts, &p), -EBADF);
    assert_null(p);

    assert_int_equal(corio_process_pid(NULL), -EINVAL);
    assert_int_equal(corio_process_pidfd(NULL), -EINVAL);
    assert_int_equal(corio_process_fd(NULL, 0), -EINVAL);
    assert_int_equal(corio_process_close_fd(NULL, 0), -EINVAL);
    assert_int_equal(corio_process_take_fd(NULL, 0), -EINVAL);
    assert_int_equal(corio_process_wait(NULL, NULL), -EINVAL);
    assert_int_equal(corio_process_try_wait(NULL, NULL), -EINVAL);
    assert_int_equal(corio_process_wait_cancel(NULL), -EINVAL);
    assert_int_equal(corio_process_kill(NULL, SIGTERM), -EINVAL);
    assert_int_equal(corio_process_free(NULL), 0);

    /* A running child: waiting needs a task; fds by number; taking one makes it ours. */
    opts = (corio_process_opts_t){.argv = (const char *const[]){"cat", NULL},
                                  .stdio = {{CORIO_STDIO_PIPE}, {CORIO_STDIO_PIPE}}};
    p = spawn_ok(&opts);
    corio_loop_t *loop = support_loop(0);
    assert_int_equal(corio_process_wait_cb(NULL, p, on_waited, NULL), -EINVAL);
    assert_int_equal(corio_process_wait_cb(loop, NULL, on_waited, NULL), -EINVAL);
    assert_int_equal(corio_process_wait_cb(loop, p, NULL, NULL), -EINVAL);
    corio_loop_free(loop);
    assert_int_equal(corio_process_wait(p, NULL), -EPERM);
    assert_int_equal(corio_process_fd(p, -1), -EINVAL);
    assert_int_equal(corio_process_fd(p, 3), -EINVAL);
    assert_int_equal(corio_process_fd(p, 2), -ENOENT);
    int out = corio_process_take_fd(p, 1);
    assert_true(out >= 0);
    assert_int_equal(corio_process_fd(p, 1), -ENOENT);
    assert_int_equal(corio_process_take_fd(p, 1), -ENOENT);
    assert_int_equal(corio_process_free(p), 0);
    assert_true(fcntl(out, F_GETFD) >= 0); /* not closed by free: ours now */
    close(out);
    assert_no_children();
}

/* ---- fork() from a task -------------------------------------------------------------- */

/* The VmFlags of the mapping holding addr include flag ("dc": not copied on fork). */
static bool vma_has_flag(const void *addr, const char *flag)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    assert_non_null(f);
    char line[512];
    bool inside = false, found = false;
    uintptr_t a = (uintptr_t)addr;
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            inside = a >= lo && a < hi;
        } else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            char *tok = strtok(line + 8, " \n");
            for (; tok != NULL; tok = strtok(NULL, " \n"))
                found |= strcmp(tok, flag) == 0;
            break;
        }
    }
    fclose(f);
    return found;
}

/* In a child: the page holding addr is not mapped. */
static bool unmapped(const void *addr)
{
    long page = sysconf(_SC_PAGESIZE);
    unsigned char vec;
    void *at = (void *)((uintptr_t)addr & ~(uintptr_t)(page - 1));
    return mincore(at, (size_t)page, &vec) == -1 && errno == ENOMEM;
}

static void *other_frame;

static void *park_forever(void *arg)
{
    (void)arg;
    other_frame = __builtin_frame_address(0);
    corio_sleep(3600 * 1000 * MS); /* until cancelled */
    return NULL;
}

static void *fork_exec_task(void *arg)
{
    (void)arg;
    corio_task_t *other;
    assert_int_equal(corio_spawn(NULL, park_forever, NULL, &other), 0);
    corio_yield();
    assert_non_null(other_frame);
    /* A bufring buffer, through a recv of one byte. */
    corio_bufring_t *br;
    int err = corio_bufring_new(corio_current_loop(), 4, 4096, &br);
    void *buf = NULL;
    int sv[2];
    if (err == 0) {
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(write(sv[1], "x", 1), 1);
        assert_int_equal(corio_recv_bufring(sv[0], br, 0, &buf), 1);
        assert_non_null(buf);
    } else {
        assert_int_equal(err, -EOPNOTSUPP);
    }

    void *frame = __builtin_frame_address(0);
    assert_true(vma_has_flag(frame, "dc"));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* The child: on its copy of this stack, outside any loop. No cmocka here. */
        if (!unmapped(other_frame))
            _exit(10);
        if (buf != NULL && !unmapped(buf))
            _exit(11);
        execlp("true", "true", (char *)NULL);
        _exit(127);
    }
    assert_true(vma_has_flag(frame, "dc")); /* not copied again by a later fork */
    siginfo_t info = wait_forked(pid);
    assert_int_equal(info.si_code, CLD_EXITED);
    assert_int_equal(info.si_status, 0);

    /* The parent's loop and tasks carry on. */
    assert_int_equal(corio_nop(), 0);
    assert_int_equal(corio_cancel(other), 0);
    assert_int_equal(corio_join(other, NULL), -ECANCELED);
    if (buf != NULL) {
        assert_int_equal(corio_bufring_put(br, buf), 0);
        assert_int_equal(corio_bufring_free(br), 0);
        close(sv[0]);
        close(sv[1]);
    }
    return NULL;
}

static void test_fork_in_a_task_then_exec_works(void **state)
{
    (void)state;
    support_run(fork_exec_task, NULL);
    assert_no_children();
}

static void *child_inner(void *arg)
{
    (void)arg;
    return corio_nop() == 0 ? (void *)(intptr_t)5 : NULL;
}

/* The child's own loop: tasks, I/O, timers, and a fork of its own. */
static void *child_main(void *arg)
{
    (void)arg;
    corio_task_t *t;
    void *res = NULL;
    if (corio_spawn(NULL, child_inner, NULL, &t) != 0 || corio_sleep(1 * MS) != 0 ||
        corio_join(t, &res) != 0 || res != (void *)(intptr_t)5)
        return (void *)(intptr_t)20;
    pid_t pid = fork();
    if (pid < 0)
        return (void *)(intptr_t)21;
    if (pid == 0)
        _exit(corio_current() == NULL ? 6 : 22);
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 6)
        return (void *)(intptr_t)23;
    return (void *)(intptr_t)42;
}

static void *fork_loop_task(void *arg)
{
    (void)arg;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (corio_current() != NULL)
            _exit(30);
        if (corio_nop() != -EPERM) /* no task: await calls refuse */
            _exit(31);
        if (corio_current_loop() != NULL)
            _exit(32);
        void *res = NULL;
        if (corio_run(child_main, NULL, &res) != 0)
            _exit(33);
        _exit((int)(intptr_t)res);
    }
    siginfo_t info = wait_forked(pid);
    assert_int_equal(info.si_code, CLD_EXITED);
    assert_int_equal(info.si_status, 42);
    return NULL;
}

static void test_a_child_forked_in_a_task_can_run_its_own_loop(void **state)
{
    (void)state;
    support_run(fork_loop_task, NULL);
    assert_no_children();
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--pattern") == 0)
        return pattern_writer(argv[2]);
    support_require_uring();
    support_watchdog(120);
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    assert_int_equal(pthread_sigmask(SIG_BLOCK, &term, NULL), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_codes_are_reported),
        cmocka_unit_test(test_a_child_killed_by_a_signal_is_reported_with_it),
        cmocka_unit_test(test_64_mib_from_a_child_arrive_byte_exact),
        cmocka_unit_test(test_stdin_and_stdout_pipes_round_trip_through_cat),
        cmocka_unit_test(test_null_fd_and_stdout_modes_put_the_child_fds_in_place),
        cmocka_unit_test(test_only_fds_0_to_2_reach_the_child_unless_kept),
        cmocka_unit_test(test_a_missing_program_is_enoent_and_leaves_nothing),
        cmocka_unit_test(test_cwd_and_environment_are_honoured),
        cmocka_unit_test(test_a_cancelled_wait_leaves_the_child_running_and_free_reaps_it),
        cmocka_unit_test(test_a_deadline_ends_the_wait_and_a_later_wait_reaps),
        cmocka_unit_test(test_several_tasks_may_wait_on_one_child),
        cmocka_unit_test(test_the_callback_form_reports_once_and_can_be_cancelled),
        cmocka_unit_test(test_a_thousand_children_leave_no_zombie_and_no_fd),
        cmocka_unit_test(test_bad_arguments_are_refused),
        cmocka_unit_test(test_fork_in_a_task_then_exec_works),
        cmocka_unit_test(test_a_child_forked_in_a_task_can_run_its_own_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
