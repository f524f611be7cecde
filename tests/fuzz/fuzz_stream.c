/* Fuzz target: the buffered stream reader (engine/stream.c) over a pipe, in a task. The
 * first input byte picks the read buffer's size and whether lines (readline, with
 * skip_until past over-long ones) or records (read_until "\r\n\r\n") are read; the rest
 * is the stream. Whatever the bytes, every one of them must come out exactly once and in
 * order: the lines, records and skipped spans put back together equal the input. */
#include "fuzz.h"
#include <corio/corio.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_INPUT 60000 /* below a pipe's 64 KiB: the whole input fits before reading */

struct job {
    int fd;
    size_t cap;
    bool records;
    const uint8_t *want;
    size_t want_len;
};

static void *read_all(void *arg)
{
    struct job *j = arg;
    char rbuf[512], line[512];
    corio_stream_t s;
    if (corio_stream_init(&s, j->fd, rbuf, j->cap, NULL, 0) != 0)
        abort();
    size_t at = 0; /* bytes of the input accounted for */
    for (;;) {
        ssize_t n;
        const void *view = NULL;
        if (j->records) {
            n = corio_stream_read_until(&s, "\r\n\r\n", 4, &view);
        } else {
            n = corio_stream_readline(&s, line, j->cap / 2 + 2);
            view = line;
        }
        if (n > 0) {
            if (at + (size_t)n > j->want_len || memcmp(view, j->want + at, (size_t)n) != 0)
                abort(); /* a byte out of place, twice, or invented */
            at += (size_t)n;
            continue;
        }
        if (n == -EMSGSIZE) { /* too long for the buffer: skip it, counting what went */
            ssize_t skipped = j->records ? corio_stream_skip_until(&s, "\r\n\r\n", 4)
                                         : corio_stream_skip_until(&s, "\n", 1);
            if (skipped == -EPIPE) { /* the rest had no delimiter: all of it was skipped */
                at = j->want_len;
                break;
            }
            if (skipped <= 0)
                abort();
            at += (size_t)skipped;
            continue;
        }
        if (n == -EPIPE) { /* a last record without delimiter: it stays buffered */
            at += corio_stream_buffered(&s);
            break;
        }
        if (n != 0)
            abort(); /* no other error is possible on a pipe */
        break;
    }
    if (at != j->want_len)
        abort(); /* bytes lost */
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size - 1 > MAX_INPUT)
        return 0;
    static corio_loop_t *loop; /* one loop for every input: set-up is the slow part */
    if (loop == NULL && corio_loop_new(&loop, NULL) != 0)
        abort();
    int p[2];
    if (pipe(p) != 0)
        abort();
    struct job j = {.fd = p[0],
                    .cap = 16 + (size_t)(data[0] & 0x7f) * 3, /* 16 .. 397 bytes */
                    .records = data[0] & 0x80,
                    .want = data + 1,
                    .want_len = size - 1};
    if (write(p[1], data + 1, size - 1) != (ssize_t)(size - 1))
        abort();
    close(p[1]);
    if (corio_spawn(loop, read_all, &j, NULL) != 0 || corio_loop_run(loop) != 0)
        abort();
    close(p[0]);
    return 0;
}
