/* corio-fetch -i FILE in list mode (each URL once, no -n or -d): the URLs are streamed, read
 * in bounded chunks with corio_read by the worker tasks themselves, so a file of any length
 * costs one buffer, and a slow pipe on stdin parks only the workers waiting for it while the
 * requests already taken go on. With -n or -d the URLs are cycled through and main.c loads
 * them whole instead (read_urls).
 *
 * Lines are trimmed, blank lines and # comments skipped. A line longer than
 * CORIO_HTTP_MAX_URL is not truncated into a different URL: it is dropped up to its end and
 * handed out as an error naming FILE:LINE. Depends on the loop's await calls and
 * corio_mutex_t (corio/sync.h). */
#include "fetch.h"

#include <corio/sync.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A chunk holds several lines; a line must fit in it (MAX_URL plus room for blanks) to be
 * judged whole, so a longer one is too long whatever its trimmed length. */
#define INPUT_CHUNK (64 * 1024)
_Static_assert(INPUT_CHUNK > 2 * CORIO_HTTP_MAX_URL, "a URL's line must fit in a chunk");

struct input {
    const char *path; /* as given, for messages */
    int fd;
    char *buf; /* INPUT_CHUNK bytes: [start, end) not yet handed out */
    size_t start, end;
    uint64_t line;      /* the number of the last line taken */
    bool eof, skipping; /* skipping: inside a too-long line, dropped up to its newline */
    int err;            /* a read error (negative errno): no more URLs */
    corio_mutex_t lock; /* held across a refill, which parks its task: the buffer is moved */
};

int input_open(struct input **out, const char *path)
{
    struct input *in = calloc(1, sizeof *in);
    char *buf = malloc(INPUT_CHUNK);
    if (in == NULL || buf == NULL) {
        free(in);
        free(buf);
        fprintf(stderr, "corio-fetch: out of memory\n");
        return -1;
    }
    in->path = strcmp(path, "-") == 0 ? "stdin" : path;
    in->buf = buf;
    corio_mutex_init(&in->lock);
    in->fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    int err = in->fd < 0               ? errno
              : fstat(in->fd, &sb) < 0 ? errno
              : S_ISDIR(sb.st_mode)    ? EISDIR
                                       : 0;
    if (err != 0) {
        fprintf(stderr, "corio-fetch: cannot read %s: %s\n", in->path, strerror(err));
        input_close(in);
        return -1;
    }
    *out = in;
    return 0;
}

void input_close(struct input *in)
{
    if (in == NULL)
        return;
    if (in->fd > STDIN_FILENO)
        close(in->fd);
    free(in->buf);
    free(in);
}

bool input_failed(const struct input *in)
{
    if (in == NULL || in->err == 0)
        return false;
    fprintf(stderr, "corio-fetch: reading %s: %s\n", in->path, strerror(-in->err));
    return true;
}

/* Makes w's URL buffer hold n bytes: it grows to the longest line seen, then stays. */
static int url_room(struct worker *w, size_t n)
{
    if (n <= w->url_cap)
        return 0;
    size_t cap = w->url_cap ? w->url_cap : 256;
    while (cap < n)
        cap *= 2;
    char *p = realloc(w->url, cap);
    if (p == NULL)
        return -ENOMEM;
    w->url = p;
    w->url_cap = cap;
    return 0;
}

/* Reads the next chunk after the bytes kept. Returns 0, or -1 at the end of the input or
 * after an error (in->err set). Parks the task. */
static int refill(struct input *in)
{
    if (in->eof || in->err != 0)
        return -1;
    memmove(in->buf, in->buf + in->start, in->end - in->start);
    in->end -= in->start;
    in->start = 0;
    ssize_t n = corio_read(in->fd, in->buf + in->end, INPUT_CHUNK - in->end, -1);
    if (n == -ECANCELED)
        return -1; /* the run is stopping; not the file's fault */
    if (n < 0) {
        in->err = (int)n; /* main.c reports it after the run */
        return -1;
    }
    if (n == 0)
        in->eof = true;
    in->end += (size_t)n;
    return 0;
}

/* Takes the next line's bytes into [*s, *e) (without its newline). Returns 1, 0 at the end,
 * or 2 for a line longer than the chunk (dropped). */
static int take_line(struct input *in, const char **s, const char **e)
{
    for (;;) {
        char *p = in->buf + in->start;
        char *nl = memchr(p, '\n', in->end - in->start);
        if (nl != NULL || (in->eof && in->end > in->start)) {
            char *end = nl != NULL ? nl : in->buf + in->end;
            in->start = (size_t)(end - in->buf) + (nl != NULL);
            if (in->skipping) {
                in->skipping = false;
                continue; /* the too-long line's tail: already reported */
            }
            in->line++;
            *s = p;
            *e = end;
            return 1;
        }
        if (in->end - in->start == INPUT_CHUNK) { /* no newline in a whole chunk */
            in->start = in->end;
            if (!in->skipping) {
                in->skipping = true;
                in->line++;
                return 2;
            }
        }
        if (refill(in) < 0)
            return 0;
    }
}

int input_next(struct input *in, struct worker *w, char *why, size_t why_len)
{
    if (corio_mutex_lock(&in->lock) < 0)
        return 0;
    int rc;
    const char *s = NULL, *e = NULL;
    for (;;) {
        rc = take_line(in, &s, &e);
        if (rc != 1)
            break;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (s == e || *s == '#')
            continue;
        if ((size_t)(e - s) > CORIO_HTTP_MAX_URL)
            rc = 2;
        break;
    }
    size_t n = (size_t)(e - s);
    if (rc == 1 && url_room(w, n + 1) == 0) {
        memcpy(w->url, s, n);
        w->url[n] = '\0';
    } else if (rc != 0) {
        if (rc == 1)
            snprintf(why, why_len, "out of memory for the URL");
        else
            snprintf(why, why_len, "the line is longer than %u bytes, the longest URL allowed",
                     (unsigned)CORIO_HTTP_MAX_URL);
        rc = 2;
        if (url_room(w, strlen(in->path) + 24) == 0)
            snprintf(w->url, w->url_cap, "%s:%llu", in->path, (unsigned long long)in->line);
        else
            rc = 0; /* not even the line's name fits in memory: stop */
    }
    corio_mutex_unlock(&in->lock);
    w->target.text = w->url;
    w->target.saves = 0; /* a name taken by an earlier copy of it: save.c tries the next */
    return rc;
}
