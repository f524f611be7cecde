/* A run of corio-fetch: the worker tasks that take requests off the shared counter, make
 * each through the library's client and record its outcome, and the tasks beside them:
 * the progress line's ticker, the -d deadline, and SIGINT/SIGTERM. */
#include "fetch.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *const fetch_kind_names[K_COUNT] = {
    [K_REFUSED] = "refused",
    [K_RESET] = "reset",
    [K_TIMEOUT] = "timeout",
    [K_PARSE] = "parse",
    [K_DNS] = "dns",
    [K_CLOSED] = "closed",
    [K_UNREACHABLE] = "unreachable",
    [K_URL] = "url",
    [K_REDIRECTS] = "too_many_redirects",
    [K_SAVE] = "save",
    [K_TLS] = "tls",
    [K_FDS] = "out_of_fds",
    [K_PROXY] = "proxy",
    [K_OTHER] = "other",
};

static int kind_of(int err)
{
    switch (err) {
    case -ECONNREFUSED:
        return K_REFUSED;
    case -ECONNRESET:
    case -EPIPE:
    case -ECONNABORTED:
        return K_RESET;
    case -ETIMEDOUT:
        return K_TIMEOUT;
    case CORIO_ENONAME:
    case CORIO_ERESOLVE:
        return K_DNS;
    case -ENETUNREACH:
    case -EHOSTUNREACH:
    case -ENETDOWN:
    case -EHOSTDOWN:
    case -EADDRNOTAVAIL:
        return K_UNREACHABLE;
    case CORIO_HTTP_EMALFORMED:
    case CORIO_HTTP_ELENGTH:
    case CORIO_HTTP_ECHUNK:
    case CORIO_HTTP_EHEAD_TOO_BIG:
    case CORIO_HTTP_EDECODE:
    case CORIO_HTTP_EBODY_TOO_BIG:
        return K_PARSE;
    case CORIO_HTTP_ETRUNCATED:
        return K_CLOSED;
    case CORIO_HTTP_EURL:
    case CORIO_HTTP_EURL_SCHEME:
        return K_URL;
    case CORIO_HTTP_EREDIRECTS:
        return K_REDIRECTS;
    case CORIO_ETLS:
    case CORIO_ETLS_VERIFY:
        return K_TLS;
    case -EMFILE:
    case -ENFILE:
        return K_FDS;
    case CORIO_HTTP_EPROXY:
    case CORIO_HTTP_EPROXY_AUTH:
        return K_PROXY;
    default:
        return K_OTHER;
    }
}

/* ---- one request ------------------------------------------------------------------------ */

static int discard(void *arg, const void *data, size_t len)
{
    (void)arg, (void)data, (void)len;
    return 0;
}

static void fetch_one(struct worker *w, struct target *t, struct result *r)
{
    struct fetch *f = w->f;
    const struct options *o = &f->o;
    corio_http_client_req_t req = {
        .url = t->text,
        .method = o->method,
        .headers = o->headers,
        .nheaders = o->nheaders,
        .body = o->data,
        .body_len = o->data_len,
    };
    /* Bodies are saved with -o, and otherwise only counted (resp.body_bytes): the sink
     * keeps nothing. */
    w->save_target = t;
    w->save_err = 0;
    req.sink = f->dirfd >= 0 ? save_sink : discard;
    req.sink_arg = w;
    int rc = corio_http_client_do(f->client, &req, &w->resp);
    corio_http_client_resp_t *resp = &w->resp;
    r->status = 0; /* not a memset: detail is large and written only on a failure */
    r->kind = -1;
    r->cancelled = false;
    r->body_bytes = 0;
    r->connect_ns = resp->connect_ns;
    r->detail[0] = '\0';
    r->retries = resp->retries;
    r->redirects = resp->redirects;
    if (rc == -ECANCELED) {
        save_end(w, false);
        r->cancelled = true;
        return;
    }
    if (f->dirfd >= 0 && save_end(w, rc == 0) < 0 && rc == 0)
        rc = w->save_err;
    if (rc < 0) {
        r->kind = w->save_err != 0 ? K_SAVE : kind_of(rc);
        if (w->save_err != 0)
            snprintf(r->detail, sizeof r->detail, "writing a file in %s: %s", o->outdir,
                     corio_strerror(w->save_err));
        else
            snprintf(r->detail, sizeof r->detail, "%s", corio_http_client_resp_error(resp));
        return;
    }
    r->status = resp->status;
    r->body_bytes = resp->body_bytes;
}

/* ---- statistics ---------------------------------------------------------------------- */

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
            fetch_clear_progress(f);
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
    hist_record(&st->lat, ns);
    hist_record(&st->lat_excl, ns > r->connect_ns ? ns - r->connect_ns : 0);
    if (report && (r->status >= 400 || f->o.verbose)) {
        fetch_clear_progress(f);
        fprintf(stderr, "corio-fetch: %s: HTTP %d, %llu bytes, %.2f ms%s\n", t->text, r->status,
                (unsigned long long)r->body_bytes, (double)ns / 1e6,
                r->retries ? " (after retries)" : "");
    }
}

/* ---- tasks ------------------------------------------------------------------------------ */

/* The next request's target: the command line's (cycled through), then -i's when it is
 * streamed. Returns 1, 2 for an input line that is no URL (*r filled), or 0: none left. */
static int next_target(struct worker *w, struct target **t, struct result *r)
{
    struct fetch *f = w->f;
    if (f->input == NULL || f->next < f->ntargets) {
        *t = &f->targets[f->next % f->ntargets];
        return 1;
    }
    int rc = input_next(f->input, w, r->detail, sizeof r->detail);
    *t = &w->target;
    if (rc == 2) { /* fields one by one: detail holds the reason */
        r->status = 0;
        r->kind = K_URL;
        r->cancelled = false;
        r->retries = r->redirects = 0;
        r->body_bytes = r->connect_ns = 0;
    }
    return rc;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct fetch *f = w->f;
    uint64_t t0 = now_ns();
    while (!f->stop && (f->total == 0 || f->next < f->total)) {
        if (f->deadline != 0 && t0 >= f->deadline)
            break;
        struct target *t;
        struct result r;
        int got = next_target(w, &t, &r);
        if (got == 0 || f->stop)
            break;
        if (got == 2) {
            record(f, t, &r, 0);
            continue;
        }
        if (f->input != NULL)
            t0 = now_ns(); /* a wait for the input is not the request's */
        uint64_t i = f->next++;
        if (f->o.rate > 0 && rate_wait(f, i, &t0) != 0)
            break; /* latency counts from the due time t0 */
        fetch_one(w, t, &r);
        if (r.cancelled)
            break;              /* stopped in the middle: neither a success nor a failure */
        uint64_t t1 = now_ns(); /* the end of this request, the start of the next */
        record(f, t, &r, t1 - t0);
        w->requests++;
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
    corio_http_client_stats(f->client, &f->cst);
    fetch_save_proxy_stats(f);
    return NULL;
}
