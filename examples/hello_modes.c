/* hello_modes: one small job -- read a file, wait 100 ms, print what was read -- written
 * in corio's three modes, one after another:
 *   1. callbacks:  each step starts the next from its completion callback (libuv style)
 *   2. coroutines: a task whose calls read like blocking code (one task per job)
 *   3. await:      start work as tasks or callback-driven futures, then await results
 * Usage: hello_modes [FILE]   (default /etc/os-release) */
#include <corio/corio.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define WAIT_NS (100 * 1000 * 1000ull)

static const char *path = "/etc/os-release";

static void print_first_line(const char *mode, const char *buf, ssize_t n)
{
    if (n < 0) {
        fprintf(stderr, "%s: %s: %s\n", mode, path, corio_strerror((int)n));
        return;
    }
    int len = 0;
    while (len < n && buf[len] != '\n')
        len++;
    printf("%-10s read %zd bytes, first line: %.*s\n", mode, n, len, buf);
}

/* ---- 1. callbacks: the state lives in a struct; each completion starts the next step */

struct cb_job {
    corio_loop_t *loop;
    corio_op_t op; /* one op, reused step by step: each step starts after the last ended */
    int fd;
    ssize_t n;
    char buf[256];
};

static void cb_closed(corio_op_t *op, int res)
{
    (void)op;
    (void)res;
}

static void cb_waited(void *arg)
{
    struct cb_job *job = arg;
    print_first_line("callbacks", job->buf, job->n);
}

static void cb_read(corio_op_t *op, int res)
{
    struct cb_job *job = op->data;
    job->n = res;
    corio_close_cb(job->loop, &job->op, job->fd, cb_closed);
    corio_call_later(job->loop, WAIT_NS, cb_waited, job, NULL);
}

static void cb_opened(corio_op_t *op, int res)
{
    struct cb_job *job = op->data;
    if (res < 0) {
        print_first_line("callbacks", NULL, res);
        return;
    }
    job->fd = res;
    corio_read_cb(job->loop, &job->op, job->fd, job->buf, sizeof job->buf, 0, cb_read);
}

static int run_callbacks(void)
{
    corio_loop_t *loop;
    int err = corio_loop_new(&loop, NULL);
    if (err < 0)
        return err;
    struct cb_job job = {.loop = loop, .op = {.data = &job}};
    err = corio_openat_cb(loop, &job.op, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0, cb_opened);
    if (err == 0)
        err = corio_loop_run(loop);
    corio_loop_free(loop);
    return err;
}

/* ---- 2. coroutines: the same steps as straight-line code in a task ----------------- */

static void *coroutine_job(void *arg)
{
    const char *mode = arg;
    char buf[256];
    int fd = corio_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        print_first_line(mode, NULL, fd);
        return NULL;
    }
    ssize_t n = corio_read(fd, buf, sizeof buf, 0);
    corio_close(fd);
    corio_sleep(WAIT_NS);
    print_first_line(mode, buf, n);
    return NULL;
}

/* ---- 3. await: start several things, then await their results ------------------------ */

struct read_request {
    corio_op_t op;
    corio_future_t done; /* resolved by the callback, awaited by the task */
    int fd;
    char buf[256];
};

static void resolve_on_completion(corio_op_t *op, int res)
{
    struct read_request *req = op->data;
    if (res < 0)
        corio_future_reject(&req->done, res);
    else
        corio_future_resolve(&req->done, (void *)(intptr_t)res);
}

static void *sleep_task(void *ns)
{
    corio_sleep((uint64_t)(uintptr_t)ns);
    return NULL;
}

static void *await_job(void *arg)
{
    (void)arg;
    /* A timer task runs while we read: asyncio's create_task(sleep(...)). */
    corio_task_t *timer;
    if (corio_spawn(NULL, sleep_task, (void *)(uintptr_t)WAIT_NS, &timer) < 0)
        return NULL;

    struct read_request req = {.op = {.data = &req}};
    corio_future_init(&req.done);
    req.fd = corio_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
    void *n = NULL;
    int err = req.fd;
    if (req.fd >= 0) {
        /* A callback-mode read that resolves a future: the bridge between the modes. */
        err = corio_read_cb(corio_current_loop(), &req.op, req.fd, req.buf, sizeof req.buf, 0,
                            resolve_on_completion);
        if (err == 0)
            err = corio_future_await(&req.done, &n);
        corio_close(req.fd);
    }
    corio_join(timer, NULL); /* await the 100 ms that ran alongside */
    print_first_line("await", req.buf, err < 0 ? err : (ssize_t)(intptr_t)n);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        path = argv[1];
    int err = run_callbacks();
    if (err == 0)
        err = corio_run(coroutine_job, "coroutine", NULL);
    if (err == 0)
        err = corio_run(await_job, NULL, NULL);
    if (err < 0) {
        fprintf(stderr, "hello_modes: %s\n", corio_loop_setup_hint(err));
        return 1;
    }
    return 0;
}
