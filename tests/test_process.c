/* Tests of fork() from a task (engine/stack.c's fork handlers), with real processes: a
 * forked child that execs, and one that builds its own loop. */
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

/* The process has no child at all, running or zombie. */
static void assert_no_children(void)
{
    siginfo_t info;
    errno = 0;
    assert_int_equal(waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT), -1);
    assert_int_equal(errno, ECHILD);
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

/* Until loop.c defines it (engine/stack.c), the child cannot forget the loop's
 * thread-local, and corio_current_loop() outside a task is not checked. */
void corio_loop_forget_thread(void) __attribute__((weak));

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
        if (corio_loop_forget_thread != NULL && corio_current_loop() != NULL)
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

int main(void)
{
    support_require_uring();
    support_watchdog(120);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fork_in_a_task_then_exec_works),
        cmocka_unit_test(test_a_child_forked_in_a_task_can_run_its_own_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
