/* no_uring: runs a program where io_uring is blocked the way Docker's default seccomp
 * profile blocks it, so that tests can check how the tools fail to start there.
 *
 *   no_uring [--enosys] PROGRAM [ARGS...]
 *
 * Installs a seccomp filter (after PR_SET_NO_NEW_PRIVS, so no privilege is needed) that
 * makes io_uring_setup, io_uring_enter and io_uring_register fail with EPERM (ENOSYS
 * with --enosys: a filter that hides the calls instead), checks that io_uring_setup now
 * fails that way, then execs PROGRAM. The filter is inherited by PROGRAM, its threads
 * and its children. Every other system call is allowed.
 *
 * Exit status: PROGRAM's; 77 (ctest: skipped) when this kernel or a sandbox around the
 * test refuses the filter; 2 for a bad command line; 3 if io_uring_setup still does not
 * fail as asked (a broken filter: never 1, which tests expect from the program); 127
 * when PROGRAM cannot be run. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/io_uring.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define AUDIT_ARCH_NATIVE AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define AUDIT_ARCH_NATIVE AUDIT_ARCH_AARCH64
#else
#error "no_uring: unknown architecture (x86_64 and aarch64 are supported)"
#endif

/* A syscall of this ABI whose number is nr fails with the errno in the return action. */
#define FAIL_SYSCALL(nr)                                                                           \
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, fail_action)

static int block_io_uring(int err)
{
    const __u32 fail_action = SECCOMP_RET_ERRNO | ((__u32)err & SECCOMP_RET_DATA);
    struct sock_filter insns[] = {
        /* Another ABI's numbers mean other calls (i386 on x86-64): let them through. */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_NATIVE, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        FAIL_SYSCALL(__NR_io_uring_setup),
        FAIL_SYSCALL(__NR_io_uring_enter),
        FAIL_SYSCALL(__NR_io_uring_register),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof insns / sizeof insns[0], .filter = insns};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        fprintf(stderr, "no_uring: PR_SET_NO_NEW_PRIVS: %s\n", strerror(errno));
        return -1;
    }
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
        fprintf(stderr, "no_uring: PR_SET_SECCOMP: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

/* True if io_uring_setup now fails with err, as the filter promises. */
static int setup_fails_with(int err)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    long fd = syscall(__NR_io_uring_setup, 4, &p);
    if (fd >= 0) {
        close((int)fd);
        return 0;
    }
    return errno == err;
}

int main(int argc, char **argv)
{
    int err = EPERM, first = 1;
    if (argc > 1 && strcmp(argv[1], "--enosys") == 0) {
        err = ENOSYS;
        first = 2;
    }
    if (first >= argc || argv[first][0] == '-') {
        fprintf(stderr, "usage: no_uring [--enosys] PROGRAM [ARGS...]\n");
        return 2;
    }
    if (block_io_uring(err) < 0)
        return 77;
    if (!setup_fails_with(err)) {
        fprintf(stderr,
                "no_uring: the filter is in place but io_uring_setup did not fail with %s\n",
                strerror(err));
        return 3;
    }
    execvp(argv[first], argv + first);
    fprintf(stderr, "no_uring: cannot run %s: %s\n", argv[first], strerror(errno));
    return 127;
}
