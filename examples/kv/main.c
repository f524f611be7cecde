/* corio-kv: a line-based key-value server, one task per connection, showing corio's
 * coordination pieces working together:
 *
 *   corio_listen (net.h)         the listening socket; loopback unless --host says otherwise
 *   corio_stream_readline        one command per line, at most MAX_LINE bytes; an over-long
 *     (stream.h)                 line gets an error reply and is skipped with
 *                                corio_stream_skip_until, and the connection goes on
 *   corio_run_blocking_cb        SAVE writes and fsyncs the snapshot on a worker thread,
 *     (executor.h)               so the loop keeps serving meanwhile; the SAVE's task
 *                                awaits a corio_future the job's callback resolves
 *   corio_sem (sync.h)           one snapshot write at a time: the turn is taken by a SAVE
 *                                and given back by the job's callback, once the file is
 *                                written, even if the task stopped waiting for it
 *   corio_waitgroup (sync.h)     shutdown waits for the connections to finish
 *   corio_signal_wait            SIGINT/SIGTERM: stop accepting, answer every command that
 *     (signal.h)                 had arrived, close each connection cleanly, write a final
 *                                snapshot, exit 0 (see shut_down)
 *
 * The table is a plain hash table with chaining. It needs no lock: one loop, one thread,
 * and a task is only ever switched out inside a corio call, never halfway through an update.
 *
 * Protocol: one command per line ('\n', or "\r\n"), one reply line per command.
 *   SET key value   -> OK              (value: the rest of the line, spaces included)
 *   GET key         -> VALUE value | NOT_FOUND
 *   DEL key         -> DELETED | NOT_FOUND
 *   KEYS            -> KEYS n key1 key2 ...   (sorted)
 *   SAVE            -> SAVED n | ERR ...      (needs --snapshot)
 *   QUIT            -> BYE, then the server closes the connection
 *   anything else   -> ERR ...
 * The snapshot holds one "key value" line per key, sorted; it is read back at start-up,
 * and written at every SAVE and at shutdown, so no acknowledged write is lost by a
 * SIGINT or SIGTERM.
 *
 * Usage: corio-kv [--host ADDR] [--port P] [--snapshot FILE] [-v|--verbose]
 * Once it accepts, stdout gets one line, "listening on ADDR:PORT" ("[ADDR]:PORT" for
 * IPv6; serving.h has the format; --port 0 picks a free port). A server that cannot start
 * (the port in use, CORIO_BACKEND=io_uring where io_uring is blocked, a bad CORIO_BACKEND,
 * a malformed snapshot, ...) prints no such line, says why on stderr and exits 1.
 * Where io_uring is blocked (a seccomp profile such as Docker's, kernel.io_uring_disabled)
 * the loop runs on epoll, and stderr says so and why before the listening line
 * (backend.h); -v names the backend in any case. */
#define _GNU_SOURCE      /* accept4 */
#include <corio/corio.h> /* includes net.h, stream.h, sync.h, executor.h, signal.h */

#include "backend.h"
#include "serving.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_LINE          1024                        /* a command, its '\n' included */
#define STREAM_BUF        4096                        /* each connection's read and write buffers */
#define GRACE_NS          (5ull * 1000 * 1000 * 1000) /* shutdown: connections get 5 s to finish */
#define ACCEPT_BACKOFF_NS (10 * 1000 * 1000)          /* out of fds: retry accepting after 10 ms */

/* ---- the table ----------------------------------------------------------------------- */

struct entry {
    struct entry *next; /* the bucket's chain */
    uint32_t hash;
    uint32_t klen, vlen;
    char kv[]; /* the key, then the value; not NUL-terminated */
};

struct table {
    struct entry **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
};

static uint32_t hash_key(const char *key, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)key[i]) * 16777619u;
    return h;
}

static struct entry **table_slot(struct table *t, const char *key, size_t klen, uint32_t hash)
{
    struct entry **p = &t->buckets[hash & (t->nbuckets - 1)];
    while (*p != NULL &&
           !((*p)->hash == hash && (*p)->klen == klen && memcmp((*p)->kv, key, klen) == 0))
        p = &(*p)->next;
    return p; /* the entry's link, or the chain's terminating NULL */
}

static struct entry *table_get(struct table *t, const char *key, size_t klen)
{
    return *table_slot(t, key, klen, hash_key(key, klen));
}

/* Doubles the buckets once the chains average more than one entry. A failed allocation
 * only leaves the chains longer. */
static void table_grow(struct table *t)
{
    size_t n = t->nbuckets * 2;
    struct entry **b = calloc(n, sizeof *b);
    if (b == NULL)
        return;
    for (size_t i = 0; i < t->nbuckets; i++)
        for (struct entry *e = t->buckets[i], *next; e != NULL; e = next) {
            next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
}

/* Sets key to value, replacing an older value. Returns 0 or -ENOMEM (nothing changed). */
static int table_set(struct table *t, const char *key, size_t klen, const char *val, size_t vlen)
{
    uint32_t hash = hash_key(key, klen);
    struct entry **slot = table_slot(t, key, klen, hash);
    struct entry *e = malloc(sizeof *e + klen + vlen);
    if (e == NULL)
        return -ENOMEM;
    *e = (struct entry){.hash = hash, .klen = (uint32_t)klen, .vlen = (uint32_t)vlen};
    memcpy(e->kv, key, klen);
    memcpy(e->kv + klen, val, vlen);
    if (*slot != NULL) { /* replace in place */
        e->next = (*slot)->next;
        free(*slot);
        *slot = e;
        return 0;
    }
    *slot = e;
    if (++t->count > t->nbuckets)
        table_grow(t);
    return 0;
}

static bool table_del(struct table *t, const char *key, size_t klen)
{
    struct entry **slot = table_slot(t, key, klen, hash_key(key, klen));
    struct entry *e = *slot;
    if (e == NULL)
        return false;
    *slot = e->next;
    free(e);
    t->count--;
    return true;
}

static int table_init(struct table *t)
{
    *t = (struct table){.nbuckets = 64};
    t->buckets = calloc(t->nbuckets, sizeof *t->buckets);
    return t->buckets != NULL ? 0 : -ENOMEM;
}

static void table_free(struct table *t)
{
    for (size_t i = 0; i < t->nbuckets; i++)
        for (struct entry *e = t->buckets[i], *next; e != NULL; e = next) {
            next = e->next;
            free(e);
        }
    free(t->buckets);
}

static int cmp_entries(const void *a, const void *b)
{
    const struct entry *x = *(struct entry *const *)a, *y = *(struct entry *const *)b;
    int c = memcmp(x->kv, y->kv, x->klen < y->klen ? x->klen : y->klen);
    return c != 0 ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

/* Every entry, sorted by key, in an array the caller frees (NULL: out of memory, or an
 * empty table with *n 0). Valid until the table next changes. */
static struct entry **table_sorted(struct table *t, size_t *n)
{
    *n = t->count;
    struct entry **all = t->count ? malloc(t->count * sizeof *all) : NULL;
    if (all == NULL)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < t->nbuckets; i++)
        for (struct entry *e = t->buckets[i]; e != NULL; e = e->next)
            all[k++] = e;
    qsort(all, k, sizeof *all, cmp_entries);
    return all;
}

/* ---- the server ---------------------------------------------------------------------- */

struct conn;

struct server {
    const char *host; /* NULL: loopback */
    unsigned port;
    const char *snapshot; /* NULL: SAVE is refused */
    bool verbose;         /* the backend on stderr */
    int listen_fd;
    struct table table;
    corio_sem_t save_turn;     /* one permit: taken by a snapshot write until it is done */
    corio_waitgroup_t running; /* connection tasks spawned and not yet finished */
    struct conn *conns;        /* the connections being served */
    bool stopping;             /* a stop signal came: the read sides are being shut down */
};

/* One connection: allocated by the accept loop, owned (and freed) by its task. */
struct conn {
    struct server *srv;
    int fd;
    corio_task_t *task;
    struct conn *prev, *next; /* srv->conns */
    corio_stream_t s;
};

/* True if [arg, arg + len) is one word: a key. */
static bool one_word(const char *arg, size_t len)
{
    return len > 0 && memchr(arg, ' ', len) == NULL;
}

static void reply(struct conn *c, const char *text)
{
    (void)corio_stream_write(&c->s, text, strlen(text));
}

static void reply_keys(struct conn *c)
{
    size_t n;
    struct entry **all = table_sorted(&c->srv->table, &n);
    if (all == NULL && n > 0) {
        reply(c, "ERR out of memory\n");
        return;
    }
    char head[32];
    snprintf(head, sizeof head, "KEYS %zu", n);
    reply(c, head);
    for (size_t i = 0; i < n; i++) { /* the write buffer takes it piece by piece */
        (void)corio_stream_write(&c->s, " ", 1);
        (void)corio_stream_write(&c->s, all[i]->kv, all[i]->klen);
    }
    reply(c, "\n");
    free(all);
}

/* A snapshot on its way to disk. It is heap memory, not the task's frame: the job runs to
 * its end even if the SAVE's task is cancelled meanwhile, and its callback still finds it. */
struct save_job {
    struct server *srv;
    char *data;
    size_t len;
    int result;          /* write_snapshot's, once save_done has run */
    bool abandoned;      /* the task stopped waiting: save_done frees the job */
    corio_future_t done; /* resolved by save_done */
};

static void free_save_job(void *arg, void *result)
{
    (void)result;
    struct save_job *job = arg;
    free(job->data);
    free(job);
}

static int write_all_fd(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno != EINTR)
            return -errno;
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        }
    }
    return 0;
}

/* fsync(2) of the directory holding path: makes a rename into it durable. */
static int sync_dir_of(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t len = slash == NULL ? 0 : slash == path ? 1 : (size_t)(slash - path);
    if (len >= sizeof dir)
        return -ENAMETOOLONG;
    memcpy(dir, len ? path : ".", len ? len : 1);
    dir[len ? len : 1] = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int err = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return err;
}

/* Runs on an executor worker: ordinary blocking calls are fine here. Writes path.tmp,
 * fsyncs it and renames it over path, so a crash leaves the old snapshot or the new one,
 * never half of one. Returns 0 or -errno, cast to a pointer. */
static void *write_snapshot(void *arg)
{
    struct save_job *job = arg;
    const char *path = job->srv->snapshot;
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return (void *)(intptr_t)-ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return (void *)(intptr_t)-errno;
    int err = write_all_fd(fd, job->data, job->len);
    if (err == 0 && fsync(fd) < 0)
        err = -errno;
    if (close(fd) < 0 && err == 0)
        err = -errno;
    if (err == 0 && rename(tmp, path) < 0)
        err = -errno;
    if (err == 0)
        err = sync_dir_of(path);
    if (err < 0)
        unlink(tmp);
    return (void *)(intptr_t)err;
}

/* On the loop thread once write_snapshot has returned: gives the turn to the next writer
 * (only now: until then path.tmp is this job's) and hands the result to the SAVE. */
static void save_done(void *arg, void *result)
{
    struct save_job *job = arg;
    job->result = (int)(intptr_t)result;
    (void)corio_sem_release(&job->srv->save_turn);
    if (job->abandoned)
        free_save_job(job, NULL);
    else
        (void)corio_future_resolve(&job->done, NULL);
}

/* Copies the table into a job (on the loop thread: a consistent snapshot, taken without
 * waiting) and has a worker write it, one job at a time in the order of the calls.
 * Returns the number of keys saved, or -errno. On -ECANCELED or -ETIMEDOUT while the job
 * runs, the job still finishes, and the next writer waits for it. */
static long save(struct server *srv)
{
    size_t n;
    struct entry **all = table_sorted(&srv->table, &n);
    struct save_job *job = malloc(sizeof *job);
    size_t len = 0;
    for (size_t i = 0; i < n && all != NULL; i++)
        len += all[i]->klen + 1 + all[i]->vlen + 1;
    char *data = malloc(len + 1);
    if ((all == NULL && n > 0) || job == NULL || data == NULL) {
        free(all);
        free(job);
        free(data);
        return -ENOMEM;
    }
    *job = (struct save_job){.srv = srv, .data = data, .len = len};
    corio_future_init(&job->done);
    for (size_t i = 0; i < n; i++) {
        struct entry *e = all[i];
        memcpy(data, e->kv, e->klen);
        data[e->klen] = ' ';
        memcpy(data + e->klen + 1, e->kv + e->klen, e->vlen);
        data[e->klen + 1 + e->vlen] = '\n';
        data += e->klen + e->vlen + 2;
    }
    free(all);

    /* Two jobs at once would each truncate the other's path.tmp. The turn is given back
     * by save_done, not here: a task cancelled while its job runs must not let the next
     * writer in before the job is done. */
    int err = corio_sem_acquire(&srv->save_turn);
    if (err == 0) {
        /* If the loop were freed first, free_save_job would release the job instead. */
        err = corio_run_blocking_cb(NULL, write_snapshot, job, save_done, free_save_job);
        if (err < 0)
            (void)corio_sem_release(&srv->save_turn);
    }
    if (err < 0) {
        free_save_job(job, NULL);
        return err;
    }
    err = corio_future_await(&job->done, NULL);
    if (err < 0 && !corio_future_done(&job->done)) {
        job->abandoned = true; /* cancelled, or timed out: the job finishes alone */
        return err;
    }
    err = job->result;
    free_save_job(job, NULL);
    return err < 0 ? err : (long)n;
}

/* Runs one command line (without its '\n') and writes the reply. Returns false for QUIT. */
static bool run_command(struct conn *c, char *line, size_t len)
{
    struct table *t = &c->srv->table;
    char *sp = memchr(line, ' ', len);
    size_t cmdlen = sp != NULL ? (size_t)(sp - line) : len;
    char *arg = sp != NULL ? sp + 1 : line + len;
    size_t alen = (size_t)(line + len - arg);
#define IS(name) (cmdlen == sizeof name - 1 && strncasecmp(line, name, cmdlen) == 0)

    if (IS("GET") && one_word(arg, alen)) {
        struct entry *e = table_get(t, arg, alen);
        if (e == NULL) {
            reply(c, "NOT_FOUND\n");
        } else {
            reply(c, "VALUE ");
            (void)corio_stream_write(&c->s, e->kv + e->klen, e->vlen);
            reply(c, "\n");
        }
    } else if (IS("SET") && alen > 0) {
        char *vsp = memchr(arg, ' ', alen);
        size_t klen = vsp != NULL ? (size_t)(vsp - arg) : 0;
        if (klen == 0)
            reply(c, "ERR usage: SET key value\n");
        else if (table_set(t, arg, klen, vsp + 1, alen - klen - 1) < 0)
            reply(c, "ERR out of memory\n");
        else
            reply(c, "OK\n");
    } else if (IS("DEL") && one_word(arg, alen)) {
        reply(c, table_del(t, arg, alen) ? "DELETED\n" : "NOT_FOUND\n");
    } else if (IS("KEYS") && alen == 0) {
        reply_keys(c);
    } else if (IS("SAVE") && alen == 0) {
        char msg[128];
        long n = c->srv->snapshot == NULL ? -ENOTSUP : save(c->srv);
        if (n == -ENOTSUP)
            snprintf(msg, sizeof msg, "ERR no snapshot file (start with --snapshot FILE)\n");
        else if (n < 0)
            snprintf(msg, sizeof msg, "ERR save failed: %s\n", corio_strerror((int)n));
        else
            snprintf(msg, sizeof msg, "SAVED %ld\n", n);
        reply(c, msg);
    } else if (IS("QUIT") && alen == 0) {
        reply(c, "BYE\n");
        return false;
    } else if (IS("GET") || IS("DEL")) {
        reply(c, IS("GET") ? "ERR usage: GET key\n" : "ERR usage: DEL key\n");
    } else if (IS("SET") || IS("KEYS") || IS("SAVE") || IS("QUIT")) {
        reply(c, "ERR usage: SET key value | KEYS | SAVE | QUIT\n");
    } else {
        reply(c, "ERR unknown command (GET, SET, DEL, KEYS, SAVE, QUIT)\n");
    }
    return true;
#undef IS
}

static void *serve_connection(void *arg)
{
    struct conn *c = arg;
    struct server *srv = c->srv;
    /* Buffers in the task's frame: a stream never allocates. */
    unsigned char rbuf[STREAM_BUF], wbuf[STREAM_BUF];
    char line[MAX_LINE + 1]; /* + the NUL readline adds */

    c->task = corio_current();
    c->next = srv->conns;
    if (c->next != NULL)
        c->next->prev = c;
    srv->conns = c;
    if (srv->stopping) /* taken from the backlog at shutdown: it drains like the others */
        (void)shutdown(c->fd, SHUT_RD);

    bool open = corio_stream_init(&c->s, c->fd, rbuf, sizeof rbuf, wbuf, sizeof wbuf) == 0;
    while (open) {
        ssize_t n = corio_stream_readline(&c->s, line, sizeof line);
        if (n == -EMSGSIZE) {
            /* Nothing was consumed: drop the line through its '\n', however long, and
             * carry on with the next one. */
            if (corio_stream_skip_until(&c->s, "\n", 1) <= 0)
                break;
            char msg[64];
            snprintf(msg, sizeof msg, "ERR line too long (limit %d bytes)\n", MAX_LINE);
            reply(c, msg);
        } else if (n <= 0) {
            break; /* 0: the client closed, or shut_down; -ECONNRESET; -ECANCELED */
        } else if (line[n - 1] != '\n' && srv->stopping) {
            break; /* cut short by shut_down: the rest of it never came, so it is not run */
        } else {
            size_t len = (size_t)n;
            if (line[len - 1] == '\n')
                len--;
            if (len > 0 && line[len - 1] == '\r')
                len--;
            open = run_command(c, line, len);
        }
        if (corio_stream_flush(&c->s) < 0)
            break;
    }

    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    close(c->fd); /* plain close(2): it must happen even in a cancelled task */
    corio_waitgroup_done(&srv->running);
    free(c);
    return NULL;
}

/* Gives the accepted connection fd a task of its own (detached); closes it if it cannot. */
static void start_conn(struct server *srv, int fd)
{
    struct conn *c = malloc(sizeof *c);
    if (c == NULL) {
        close(fd);
        return;
    }
    *c = (struct conn){.srv = srv, .fd = fd};
    corio_waitgroup_add(&srv->running, 1);
    if (corio_spawn(NULL, serve_connection, c, NULL) < 0) {
        corio_waitgroup_done(&srv->running);
        close(fd);
        free(c);
    }
}

static void *accept_loop(void *arg)
{
    struct server *srv = arg;
    for (;;) {
        int fd = corio_accept(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd == -ECANCELED)
            return NULL; /* shutdown */
        if (fd == -ECONNABORTED || fd == -EPROTO || fd == -EPERM)
            continue; /* that connection died in the backlog */
        if (fd < 0) {
            /* Out of fds or memory: give connections time to close instead of spinning. */
            if (corio_sleep(ACCEPT_BACKOFF_NS) == -ECANCELED)
                return NULL;
            continue;
        }
        start_conn(srv, fd);
    }
}

/* Reads the snapshot into the table; a missing file is an empty table. Returns 0, or
 * -errno after saying what is wrong. */
static int load_snapshot(struct server *srv)
{
    int fd = corio_openat(AT_FDCWD, srv->snapshot, O_RDONLY | O_CLOEXEC, 0);
    if (fd == -ENOENT)
        return 0;
    if (fd < 0) {
        fprintf(stderr, "corio-kv: %s: %s\n", srv->snapshot, corio_strerror(fd));
        return fd;
    }
    unsigned char buf[STREAM_BUF];
    char line[MAX_LINE + 1];
    corio_stream_t s;
    int err = corio_stream_init(&s, fd, buf, sizeof buf, NULL, 0);
    unsigned lineno = 0;
    while (err == 0) {
        ssize_t n = corio_stream_readline(&s, line, sizeof line);
        if (n <= 0) {
            err = (int)n;
            break;
        }
        lineno++;
        size_t len = (size_t)n - (line[n - 1] == '\n');
        char *sp = memchr(line, ' ', len);
        if (sp == NULL || sp == line)
            err = -EINVAL;
        else
            err = table_set(&srv->table, line, (size_t)(sp - line), sp + 1,
                            len - (size_t)(sp - line) - 1);
    }
    corio_close(fd);
    if (err < 0)
        fprintf(stderr, "corio-kv: %s line %u: %s\n", srv->snapshot, lineno + (err == -EMSGSIZE),
                err == -EINVAL ? "not a \"key value\" line" : corio_strerror(err));
    return err;
}

static void stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
}

/* Shuts the server down at SIGINT or SIGTERM without losing anything it acknowledged:
 * 1. Stops accepting. Connections already in the listen backlog may have sent commands
 *    too: they are taken, then the listener is closed and later ones are refused.
 * 2. Shuts down the read side of every connection (shutdown(2) SHUT_RD). Its task reads
 *    on: first what the client had sent (whatever is in the socket or its buffer), then
 *    the end of the stream. So every whole command that had arrived is answered, a SAVE
 *    under way included, and the connection is closed having read everything, which
 *    makes the close a FIN and not a reset. A last line cut short is not run.
 * 3. Connections still open after GRACE_NS (a client that does not read its replies) are
 *    cancelled.
 * 4. With --snapshot, writes the final snapshot, after any SAVE still being written.
 * Returns 0, or the final snapshot's error (said on stderr). */
static int shut_down(struct server *srv, corio_task_t *acceptor)
{
    srv->stopping = true;
    corio_cancel(acceptor);
    corio_join(acceptor, NULL); /* -ECANCELED: it was */
    int flags = fcntl(srv->listen_fd, F_GETFL);
    if (flags >= 0 && fcntl(srv->listen_fd, F_SETFL, flags | O_NONBLOCK) == 0)
        for (;;) {
            int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC); /* a blocking fd */
            if (fd >= 0)
                start_conn(srv, fd); /* its task shuts its read side down when it starts */
            else if (errno != ECONNABORTED && errno != EINTR)
                break; /* EAGAIN: the backlog is empty */
        }
    close(srv->listen_fd);

    for (struct conn *c = srv->conns; c != NULL; c = c->next)
        (void)shutdown(c->fd, SHUT_RD); /* wakes a read waiting for the next command too */
    int err = corio_timeout_begin(GRACE_NS);
    if (err == 0) {
        err = corio_waitgroup_wait(&srv->running);
        corio_timeout_end();
    }
    if (err < 0) {
        for (struct conn *c = srv->conns; c != NULL; c = c->next)
            corio_cancel(c->task);
        corio_waitgroup_wait(&srv->running);
    }

    if (srv->snapshot == NULL)
        return 0;
    long n = save(srv);
    if (n < 0)
        fprintf(stderr, "corio-kv: the final snapshot to %s failed: %s\n", srv->snapshot,
                corio_strerror((int)n));
    return n < 0 ? (int)n : 0;
}

static void *server_main(void *arg)
{
    struct server *srv = arg;
    if (srv->snapshot != NULL && load_snapshot(srv) < 0)
        return (void *)1;
    /* A name (--host localhost) is resolved on the executor; that needs a task, which is
     * why this happens here and not in main(). */
    srv->listen_fd = corio_listen(srv->host, (uint16_t)srv->port, -1);
    if (srv->listen_fd < 0) {
        fprintf(stderr, "corio-kv: cannot listen on %s:%u: %s\n",
                srv->host != NULL ? srv->host : "127.0.0.1", srv->port,
                corio_strerror(srv->listen_fd));
        return (void *)1;
    }

    /* One round trip through the ring (a NOP) first: the loop really runs. */
    corio_task_t *acceptor;
    int err = corio_nop();
    if (err == 0)
        err = corio_spawn(NULL, accept_loop, srv, &acceptor);
    if (err < 0) {
        fprintf(stderr, "corio-kv: cannot start accepting: %s\n", corio_strerror(err));
        close(srv->listen_fd);
        return (void *)1;
    }
    sigset_t stop;
    stop_signals(&stop);
    backend_say("corio-kv", backend_of(corio_current_loop()), srv->verbose);
    if ((err = print_listening(NULL, srv->listen_fd)) < 0)
        fprintf(stderr, "corio-kv: cannot print the listening line: %s\n", corio_strerror(err));
    else if ((err = corio_signal_wait(&stop)) < 0) /* the loop serves meanwhile */
        fprintf(stderr, "corio-kv: cannot wait for signals: %s\n", corio_strerror(err));
    if (shut_down(srv, acceptor) < 0)
        err = -1;
    return err < 0 ? (void *)1 : NULL;
}

static int usage(const char *why)
{
    if (why != NULL)
        fprintf(stderr, "corio-kv: %s\n", why);
    fprintf(why != NULL ? stderr : stdout,
            "usage: corio-kv [--host ADDR] [--port P] [--snapshot FILE] [-v|--verbose]\n"
            "  --host ADDR      address or name to listen on (default 127.0.0.1)\n"
            "  --port P         port (0, the default, picks a free one)\n"
            "  --snapshot FILE  load FILE at start, write it at SAVE and at shutdown\n"
            "  -v, --verbose    the backend in use, on stderr\n"
            "  -h, --help       this help\n" BACKEND_HELP);
    return why != NULL ? 2 : 0;
}

int main(int argc, char **argv)
{
    struct server srv = {.listen_fd = -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            srv.verbose = true;
            continue;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            return usage(NULL);
        } else if (strcmp(a, "--port") == 0) {
            char *end;
            errno = 0;
            unsigned long p = v != NULL ? strtoul(v, &end, 10) : 0;
            if (v == NULL || *v == '\0' || *end != '\0' || errno != 0 || p > 65535)
                return usage("--port needs a number from 0 to 65535");
            srv.port = (unsigned)p;
        } else if (strcmp(a, "--host") == 0 && v != NULL && *v != '\0') {
            srv.host = v;
        } else if (strcmp(a, "--snapshot") == 0 && v != NULL && *v != '\0') {
            srv.snapshot = v;
        } else if (strcmp(a, "--host") == 0 || strcmp(a, "--snapshot") == 0) {
            char why[64];
            snprintf(why, sizeof why, "%s needs a value", a);
            return usage(why);
        } else {
            char why[128];
            snprintf(why, sizeof why, "unknown argument '%s'", a);
            return usage(why);
        }
        i++;
    }

    /* corio_signal_wait takes only blocked signals: block them before any thread starts
     * (executor workers block every signal themselves). */
    sigset_t stop;
    stop_signals(&stop);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    if (table_init(&srv.table) < 0) {
        fprintf(stderr, "corio-kv: out of memory\n");
        return 1;
    }
    corio_sem_init(&srv.save_turn, 1);
    corio_waitgroup_init(&srv.running);
    void *failed = NULL;
    int err = corio_run(server_main, &srv, &failed);
    table_free(&srv.table);
    if (err < 0) {
        backend_say_loop_error("corio-kv", err);
        return 1;
    }
    return failed != NULL ? 1 : 0;
}
