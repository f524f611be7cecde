/* corio-fetch's reports: the progress line on stderr, the summary on stdout or one JSON
 * object, with the latency figures of hist.c's histograms. */
#include "fetch.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

void fetch_clear_progress(const struct fetch *f)
{
    if (f->progress)
        fputs("\r\033[K", stderr);
}

static double pct_ms(const struct hist *h, double p)
{
    return (double)hist_value_at(h, p) / 1e6;
}

/* One latency histogram as a JSON object of milliseconds. */
static void print_latency_json(const char *key, const struct hist *h)
{
    printf("\"%s\":{\"min\":%.3f,\"mean\":%.3f,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,"
           "\"p999\":%.3f,\"max\":%.3f},",
           key, (double)hist_min(h) / 1e6, hist_mean(h) / 1e6, pct_ms(h, 50), pct_ms(h, 90),
           pct_ms(h, 99), pct_ms(h, 99.9), (double)h->max / 1e6);
}

static void print_latency_line(const char *label, const struct hist *h)
{
    printf("  %-11sp50 %.3f ms, p90 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms "
           "(mean %.3f ms)\n",
           label, pct_ms(h, 50), pct_ms(h, 90), pct_ms(h, 99), pct_ms(h, 99.9),
           (double)h->max / 1e6, hist_mean(h) / 1e6);
    if (h->clamped != 0)
        printf("  %-11s(%llu of them outside 1 µs .. 60 s, counted at the nearer end)\n", "",
               (unsigned long long)h->clamped);
}

static void human_count(char *out, size_t n, double v, const char *unit)
{
    if (v >= 1e9)
        snprintf(out, n, "%.2f G%s", v / 1e9, unit);
    else if (v >= 1e6)
        snprintf(out, n, "%.2f M%s", v / 1e6, unit);
    else if (v >= 1e4)
        snprintf(out, n, "%.1f k%s", v / 1e3, unit);
    else
        snprintf(out, n, "%.0f %s", v, unit);
}

void fetch_draw_progress(struct fetch *f, uint64_t now)
{
    uint64_t done = f->st.done, errors = f->st.errors + f->st.http_errors;
    double elapsed = (double)(now - f->t_start) / 1e9;
    /* The rate over the last second: ten samples of (time, done), the oldest replaced. */
    unsigned slot = f->prog_n % 10;
    uint64_t t_then = f->prog_n >= 10 ? f->prog_t[slot] : f->t_start;
    uint64_t base = f->prog_n >= 10 ? f->prog_done[slot] : 0;
    f->prog_t[slot] = now;
    f->prog_done[slot] = done;
    f->prog_n++;
    double span = (double)(now - t_then);
    double rate = span > 0 ? (double)(done - base) * 1e9 / span : 0;
    double frac;
    char count[64];
    if (f->total != 0) {
        frac = (double)done / (double)f->total;
        snprintf(count, sizeof count, "%llu/%llu", (unsigned long long)done,
                 (unsigned long long)f->total);
    } else {
        /* -i streamed: how far is not known ahead, so the bar stays empty */
        frac = f->o.duration_ns != 0 ? elapsed / ((double)f->o.duration_ns / 1e9) : 0;
        snprintf(count, sizeof count, "%llu done", (unsigned long long)done);
    }
    if (frac > 1)
        frac = 1;
    char bar[31];
    int fill = (int)(frac * 30);
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    char rs[32];
    human_count(rs, sizeof rs, rate, "req/s");
    fprintf(stderr, "\r[%s] %s  %s  %llu errors  %.1f s\033[K", bar, count, rs,
            (unsigned long long)errors, elapsed);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* The fewest and most requests one worker made: a starved connection shows as a low min. */
static void worker_spread(const struct fetch *f, uint64_t *min, uint64_t *max)
{
    *min = f->nworkers > 0 ? UINT64_MAX : 0;
    *max = 0;
    for (unsigned i = 0; i < f->nworkers; i++) {
        uint64_t n = f->workers[i].requests;
        *min = n < *min ? n : *min;
        *max = n > *max ? n : *max;
    }
}

/* s as a JSON string, quotes included. */
static void print_json_string(const char *s)
{
    putchar('"');
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

void fetch_print_json(const struct fetch *f, double secs)
{
    const struct stats *st = &f->st;
    printf("{\"requests\":%llu,\"ok\":%llu,\"http_errors\":%llu,\"errors\":%llu,",
           (unsigned long long)st->done, (unsigned long long)st->ok,
           (unsigned long long)st->http_errors, (unsigned long long)st->errors);
    printf("\"seconds\":%.3f,\"rps\":%.1f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
           "\"max_ms\":%.3f,",
           secs, secs > 0 ? (double)st->done / secs : 0, pct_ms(&st->lat, 50), pct_ms(&st->lat, 90),
           pct_ms(&st->lat, 99), (double)st->lat.max / 1e6);
    print_latency_json("latency_ms", &st->lat);
    print_latency_json("latency_excl_connect_ms", &st->lat_excl);
    if (f->o.rate > 0)
        printf("\"rate\":{\"requested\":%.3f,\"achieved\":%.3f},", f->o.rate, rate_achieved(f));
    uint64_t wmin, wmax;
    worker_spread(f, &wmin, &wmax);
    printf("\"worker_requests\":{\"min\":%llu,\"max\":%llu},", (unsigned long long)wmin,
           (unsigned long long)wmax);
    printf("\"bytes\":%llu,\"wire_bytes\":%llu,\"connections\":%llu,\"reused\":%llu,"
           "\"tls_handshakes\":%llu,\"tls_resumed\":%llu,\"retries\":%llu,"
           "\"redirects\":%llu,\"dns_lookups\":%llu,\"host_waits\":%llu,"
           "\"retry_after\":%llu,\"client_cpu_sec\":%.3f,\"interrupted\":%s,",
           (unsigned long long)st->body_bytes, (unsigned long long)f->cst.bytes_in,
           (unsigned long long)f->cst.conns_opened, (unsigned long long)f->cst.conns_reused,
           (unsigned long long)f->cst.tls_handshakes, (unsigned long long)f->cst.tls_resumed,
           (unsigned long long)st->retries, (unsigned long long)st->redirects,
           (unsigned long long)f->cst.dns_lookups, (unsigned long long)f->cst.rate_waits,
           (unsigned long long)f->cst.retry_after, cpu_seconds(),
           f->interrupted ? "true" : "false");
    struct rusage ru; /* the peak: what -i's streaming keeps flat, whatever the input */
    printf("\"max_rss_kb\":%ld,", getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0L);
    printf("\"status\":{");
    const char *sep = "";
    for (int s = 0; s < 1000; s++)
        if (st->status[s] != 0) {
            printf("%s\"%d\":%llu", sep, s, (unsigned long long)st->status[s]);
            sep = ",";
        }
    printf("},\"error_kinds\":{");
    for (int k = 0; k < K_COUNT; k++)
        printf("%s\"%s\":%llu", k ? "," : "", fetch_kind_names[k], (unsigned long long)st->kind[k]);
    printf("},");
    fetch_print_proxies_json(f);
    printf(",\"backend\":");
    print_json_string(f->backend.name != NULL ? f->backend.name : "");
    if (f->backend.fallback_err != 0) {
        printf(",\"backend_fallback\":");
        print_json_string(corio_loop_setup_hint(f->backend.fallback_err));
    }
    printf("}\n");
}

void fetch_print_summary(const struct fetch *f, double secs)
{
    const struct stats *st = &f->st;
    char bytes[32], rate[32];
    human_count(bytes, sizeof bytes, (double)st->body_bytes, "B");
    human_count(rate, sizeof rate, secs > 0 ? (double)st->done / secs : 0, "req/s");
    printf("%llu requests in %.2f s, %s, %s of bodies%s\n", (unsigned long long)st->done, secs,
           rate, bytes, f->interrupted ? " (interrupted)" : "");
    printf("  responses: %llu", (unsigned long long)(st->ok + st->http_errors));
    const char *sep = " (";
    for (int s = 0; s < 1000; s++)
        if (st->status[s] != 0) {
            printf("%s%d: %llu", sep, s, (unsigned long long)st->status[s]);
            sep = ", ";
        }
    printf("%s\n", *sep == ',' ? ")" : "");
    printf("  errors:    %llu", (unsigned long long)st->errors);
    sep = " (";
    for (int k = 0; k < K_COUNT; k++)
        if (st->kind[k] != 0) {
            printf("%s%s: %llu", sep, fetch_kind_names[k], (unsigned long long)st->kind[k]);
            sep = ", ";
        }
    printf("%s\n", *sep == ',' ? ")" : "");
    if (st->lat.count > 0) {
        print_latency_line("latency:", &st->lat);
        print_latency_line("excl conn:", &st->lat_excl);
    }
    if (f->o.rate > 0)
        printf("  rate:      %.1f req/s requested, %.1f achieved; latency counted from each "
               "request's due time\n",
               f->o.rate, rate_achieved(f));
    printf("  connections opened: %llu (TLS: %llu full handshakes, %llu resumed), retries: %llu, "
           "redirects followed: %llu\n",
           (unsigned long long)f->cst.conns_opened, (unsigned long long)f->cst.tls_handshakes,
           (unsigned long long)f->cst.tls_resumed, (unsigned long long)st->retries,
           (unsigned long long)st->redirects);
    printf("  names looked up: %llu", (unsigned long long)f->cst.dns_lookups);
    if (f->o.host_rate > 0 || f->cst.rate_waits != 0)
        printf(", requests that waited for their host (--host-rate, Retry-After): %llu",
               (unsigned long long)f->cst.rate_waits);
    if (f->cst.retry_after != 0)
        printf(", Retry-After honoured: %llu", (unsigned long long)f->cst.retry_after);
    printf("\n");
    uint64_t wmin, wmax;
    worker_spread(f, &wmin, &wmax);
    if (f->nworkers > 1)
        printf("  requests per worker (each one request at a time): min %llu, max %llu\n",
               (unsigned long long)wmin, (unsigned long long)wmax);
    if (f->conn_cap < f->nworkers)
        printf("  connections were capped at %u by the open-file limit (-c %u)\n", f->conn_cap,
               f->nworkers);
    fetch_print_proxies(f);
}
