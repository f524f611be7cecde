/* fetch_run.c: a run of corio-fetch (see fetch.c for the whole picture): the worker tasks
 * that take requests off the shared counter and record their outcomes, and the tasks beside
 * them: the progress line's ticker, the -d deadline, and SIGINT/SIGTERM. */
#include "fetch.h"

#include <signal.h>
#include <stdio.h>

/* ---- statistics ---------------------------------------------------------------------- */

static unsigned hist_index(uint64_t v)
{
    int msb = 63 - __builtin_clzll(v | 1);
    if (msb < SUB_BITS)
        return (unsigned)v;
    int shift = msb - SUB_BITS + 1;
    return ((unsigned)shift << (SUB_BITS - 1)) + (unsigned)(v >> shift);
}

static void clear_progress(struct fetch *f)
{
    if (f->progress)
        fputs("\r\033[K", stderr);
}

static void record(struct fetch *f, const struct target *t, const struct result *r, uint64_t ns)
{
    struct stats *st = &f->st;
    st->done++;
    st->retries += r->retries;
    st->redirects += r->redirects;
    st->body_bytes += r->body_bytes;
    bool report = f->list_mode || f->o.verbose;
    if (r->kind >= 0) {
        st->errors++;
        st->kind[r->kind]++;
        if (report) {
            clear_progress(f);
            fprintf(stderr, "corio-fetch: %s: %s: %s\n", t->text, fetch_kind_names[r->kind],
                    r->detail);
        }
        return;
    }
    st->status[r->status]++;
    if (r->status < 400)
        st->ok++;
    else
        st->http_errors++;
    st->hist[hist_index(ns)]++;
    if (ns > st->max_ns)
        st->max_ns = ns;
    if (report && (r->status >= 400 || f->o.verbose)) {
        clear_progress(f);
        fprintf(stderr, "corio-fetch: %s: HTTP %d, %llu bytes, %.2f ms%s\n", t->text, r->status,
                (unsigned long long)r->body_bytes, (double)ns / 1e6,
                r->retries ? " (after retries)" : "");
    }
}

/* ---- tasks ------------------------------------------------------------------------------ */

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct fetch *f = w->f;
    w->loop = corio_current_loop();
    w->send_op.data = w->recv_op.data = w;
    uint64_t t0 = now_ns();
    while (!f->stop && (f->total == 0 || f->next < f->total)) {
        if (f->deadline != 0 && t0 >= f->deadline)
            break;
        struct target *t = &f->targets[f->next++ % f->ntargets];
        struct result r;
        fetch_request(w, t, &r);
        if (r.cancelled)
            break;              /* stopped in the middle: neither a success nor a failure */
        uint64_t t1 = now_ns(); /* the end of this request, the start of the next */
        record(f, t, &r, t1 - t0);
        t0 = t1;
    }
    w->running = false;
    return NULL;
}

/* Ends the run early: no new requests, and the ones in flight are cancelled. */
static void stop_all(struct fetch *f)
{
    f->stop = true;
    for (unsigned i = 0; i < f->nworkers; i++)
        if (f->workers[i].running)
            corio_cancel(f->workers[i].task);
}

static void *stopper_main(void *arg)
{
    struct fetch *f = arg;
    if (corio_sleep_until(f->deadline) == 0)
        stop_all(f);
    return NULL;
}

static void *signal_main(void *arg)
{
    struct fetch *f = arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (corio_signal_wait(&set) > 0) {
        f->interrupted = true;
        stop_all(f);
    }
    return NULL;
}

static void *progress_main(void *arg)
{
    struct fetch *f = arg;
    for (uint64_t next = f->t_start + PROGRESS_NS; corio_sleep_until(next) == 0;
         next += PROGRESS_NS)
        fetch_draw_progress(f, now_ns());
    return NULL;
}

static void join_quietly(corio_task_t *t)
{
    if (t != NULL) {
        corio_cancel(t);
        corio_join(t, NULL);
    }
}

void *fetch_main_task(void *arg)
{
    struct fetch *f = arg;
    f->t_start = now_ns();
    if (f->o.duration_ns != 0)
        f->deadline = f->t_start + f->o.duration_ns;
    for (unsigned i = 0; i < f->nworkers; i++) {
        struct worker *w = &f->workers[i];
        w->running = corio_spawn(NULL, worker_main, w, &w->task) == 0;
        if (!w->running)
            fprintf(stderr, "corio-fetch: cannot start worker %u: out of memory\n", i);
    }
    corio_task_t *progress = NULL, *stopper = NULL, *sig = NULL;
    if (f->progress && corio_spawn(NULL, progress_main, f, &progress) < 0)
        progress = NULL;
    if (f->deadline != 0 && corio_spawn(NULL, stopper_main, f, &stopper) < 0)
        stopper = NULL;
    if (corio_spawn(NULL, signal_main, f, &sig) < 0)
        sig = NULL;
    for (unsigned i = 0; i < f->nworkers; i++)
        if (f->workers[i].task != NULL)
            corio_join(f->workers[i].task, NULL);
    f->t_end = now_ns();
    join_quietly(progress);
    join_quietly(stopper);
    join_quietly(sig);
    if (f->progress) {
        fetch_draw_progress(f, f->t_end);
        fputc('\n', stderr);
    }
    fetch_close_idle(f);
    return NULL;
}
