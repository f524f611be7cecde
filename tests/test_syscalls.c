/* Counts real io_uring_enter syscalls (epoll_pwait2 on the epoll backend) with ptrace, in
 * a child process, over a steady-state stretch of the loop and checks there is exactly one
 * per loop iteration, in callback mode and in coroutine mode. Markers: the workload calls getppid()
 * at the start and the end of the measured stretch, and the tracer counts io_uring_enter calls
 * between them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

#define WARMUP   100
#define MEASURED 1000

/* ---- the workloads (run in the traced child) -------------------------------------- */

struct stretch {
    corio_loop_t *loop;
    corio_op_t op;
    unsigned count;
    uint64_t iter_start, iter_end;
};

static uint64_t iterations(corio_loop_t *loop)
{
    corio_loop_stats_t s;
    corio_loop_stats(loop, &s);
    return s.iterations;
}

/* Marks the start and end of the measured stretch, between two iterations' work. */
static void mark(struct stretch *st)
{
    if (st->count == WARMUP) {
        st->iter_start = iterations(st->loop);
        syscall(SYS_getppid);
    } else if (st->count == WARMUP + MEASURED) {
        st->iter_end = iterations(st->loop);
        syscall(SYS_getppid);
    }
}

static void nop_chain(corio_op_t *op, int res)
{
    struct stretch *st = op->data;
    if (res != 0)
        abort();
    st->count++;
    mark(st);
    if (st->count < WARMUP + MEASURED + 10 && corio_nop_cb(st->loop, op, nop_chain) != 0)
        abort();
}

static void callback_workload(struct stretch *st)
{
    st->op.data = st;
    if (corio_nop_cb(st->loop, &st->op, nop_chain) != 0 || corio_loop_run(st->loop) != 0)
        abort();
}

static void *nop_task(void *arg)
{
    struct stretch *st = arg;
    while (st->count < WARMUP + MEASURED + 10) {
        if (corio_nop() != 0)
            abort();
        st->count++;
        mark(st);
    }
    return NULL;
}

static void coroutine_workload(struct stretch *st)
{
    if (corio_spawn(st->loop, nop_task, st, NULL) != 0 || corio_loop_run(st->loop) != 0)
        abort();
}

/* ---- the tracer ------------------------------------------------------------------- */

/* Runs workload in a traced child; returns the io_uring_enter count between the markers
 * and stores the child's loop-iteration count for the same stretch. */
static long count_enters(void (*workload)(struct stretch *), uint64_t *loop_iterations)
{
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pipefd[0]);
        struct stretch st = {.loop = support_loop(64)};
        if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0)
            _exit(3);
        raise(SIGSTOP);
        workload(&st);
        uint64_t n = st.iter_end - st.iter_start;
        if (write(pipefd[1], &n, sizeof n) != (ssize_t)sizeof n)
            _exit(4);
        corio_loop_free(st.loop);
        _exit(0);
    }
    close(pipefd[1]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSTOPPED(status));
    assert_int_equal(ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)PTRACE_O_TRACESYSGOOD), 0);

    long wait_nr = support_on_uring() ? SYS_io_uring_enter : SYS_epoll_pwait2;
    long enters = 0;
    int markers = 0;
    for (;;) {
        assert_int_equal(ptrace(PTRACE_SYSCALL, pid, NULL, NULL), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (WIFEXITED(status) || WIFSIGNALED(status))
            break;
        if (!(WIFSTOPPED(status) && WSTOPSIG(status) == (SIGTRAP | 0x80)))
            continue;
        struct __ptrace_syscall_info info;
        long got = ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof info, &info);
        assert_true(got > 0);
        if (info.op != PTRACE_SYSCALL_INFO_ENTRY)
            continue;
        if (info.entry.nr == SYS_getppid)
            markers++;
        else if ((long)info.entry.nr == wait_nr && markers == 1)
            enters++;
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(markers, 2);
    assert_int_equal(read(pipefd[0], loop_iterations, sizeof *loop_iterations),
                     (ssize_t)sizeof *loop_iterations);
    close(pipefd[0]);
    return enters;
}

static void test_one_enter_per_iteration_in_callback_mode(void **state)
{
    (void)state;
    uint64_t iters = 0;
    long enters = count_enters(callback_workload, &iters);
    /* Each nop completes in the iteration after it was queued. */
    assert_int_equal(iters, MEASURED);
    assert_int_equal(enters, (long)iters);
}

static void test_one_enter_per_iteration_in_coroutine_mode(void **state)
{
    (void)state;
    uint64_t iters = 0;
    long enters = count_enters(coroutine_workload, &iters);
    assert_int_equal(iters, MEASURED);
    assert_int_equal(enters, (long)iters);
}

int main(void)
{
    support_require_uring();
    support_watchdog(60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_enter_per_iteration_in_callback_mode),
        cmocka_unit_test(test_one_enter_per_iteration_in_coroutine_mode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
