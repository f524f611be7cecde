/* cat: concatenates files to standard output with await-style file I/O -- one task
 * reads the files in order and writes each chunk out in full (a write may be short).
 * Usage: cat FILE...   ("-" or no argument: standard input) */
#include <corio/corio.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct cat_args {
    int argc;
    char **argv;
};

/* Writes all of buf, continuing after short writes. Returns 0 or -errno. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = corio_write(fd, buf, len, -1);
        if (n < 0)
            return (int)n;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Copies fd to standard output. Returns 0 or -errno. */
static int copy_out(int fd)
{
    static char buf[64 * 1024];
    for (;;) {
        ssize_t n = corio_read(fd, buf, sizeof buf, -1);
        if (n <= 0)
            return (int)n;
        int err = write_all(STDOUT_FILENO, buf, (size_t)n);
        if (err < 0)
            return err;
    }
}

static void *cat_main(void *arg)
{
    struct cat_args *a = arg;
    intptr_t failed = 0;
    for (int i = 1; i < a->argc || (a->argc == 1 && i == 1); i++) {
        const char *name = a->argc == 1 ? "-" : a->argv[i];
        int fd = strcmp(name, "-") == 0 ? STDIN_FILENO
                                        : corio_openat(AT_FDCWD, name, O_RDONLY | O_CLOEXEC, 0);
        int err = fd < 0 ? fd : copy_out(fd);
        if (fd > STDIN_FILENO)
            corio_close(fd);
        if (err < 0) {
            fprintf(stderr, "cat: %s: %s\n", name, corio_strerror(err));
            failed = 1;
        }
    }
    return (void *)failed;
}

int main(int argc, char **argv)
{
    struct cat_args a = {argc, argv};
    void *failed = NULL;
    int err = corio_run(cat_main, &a, &failed);
    if (err < 0) {
        fprintf(stderr, "cat: %s\n", corio_loop_setup_hint(err));
        return 1;
    }
    return failed != NULL ? 1 : 0;
}
