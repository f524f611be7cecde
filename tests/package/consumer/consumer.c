/* consumer: a program that knows corio only as an installed package -- the public headers
 * and libcorio -- built by tests/package/test_install.sh through pkg-config and through
 * find_package(corio). It runs a little of each mode and prints one line:
 *   corio X.Y.Z: callback nop 0, task nop 0, slept 0, channel 42
 * Exits 0, 1 on a failure, 77 when io_uring is unavailable here (ctest: skipped). */
#include <corio/corio.h>

#include <errno.h>
#include <stdio.h>

static int cb_res = -1;

static void on_nop(corio_op_t *op, int res)
{
    (void)op;
    cb_res = res;
}

static void *producer(void *arg)
{
    int item = 42;
    return (void *)(intptr_t)corio_chan_send(arg, &item);
}

static void *main_task(void *arg)
{
    int *out = arg; /* task nop, sleep, channel item */
    corio_chan_t ch;
    int storage[1], item = -1;
    corio_task_t *child;

    out[0] = corio_nop();
    out[1] = corio_sleep(1000 * 1000); /* 1 ms */
    if (corio_chan_init(&ch, sizeof item, 1, storage) < 0 ||
        corio_spawn(NULL, producer, &ch, &child) < 0)
        return (void *)-1;
    int rc = corio_chan_recv(&ch, &item);
    void *sent = NULL;
    corio_join(child, &sent);
    out[2] = rc < 0 ? rc : (sent != NULL ? (int)(intptr_t)sent : item);
    return NULL;
}

int main(void)
{
    corio_loop_t *loop;
    int rc = corio_loop_new(&loop, NULL);
    if (rc < 0) {
        printf("consumer: io_uring unavailable: %s (%s)\n", corio_strerror(rc),
               corio_loop_setup_hint(rc));
        return 77;
    }
    corio_op_t op = {0};
    rc = corio_nop_cb(loop, &op, on_nop);
    if (rc == 0)
        rc = corio_loop_run(loop);
    corio_loop_free(loop);
    if (rc < 0) {
        fprintf(stderr, "consumer: callback mode: %s\n", corio_strerror(rc));
        return 1;
    }

    int out[3] = {-1, -1, -1};
    void *result = (void *)-1;
    rc = corio_run(main_task, out, &result);
    if (rc < 0 || result != NULL) {
        fprintf(stderr, "consumer: corio_run: %s\n", rc < 0 ? corio_strerror(rc) : "task failed");
        return 1;
    }
    printf("corio %d.%d.%d: callback nop %d, task nop %d, slept %d, channel %d\n",
           CORIO_VERSION_MAJOR, CORIO_VERSION_MINOR, CORIO_VERSION_PATCH, cb_res, out[0], out[1],
           out[2]);
    return 0;
}
