/* corio-fetch's proxies: --proxy and --proxy-file URLs checked as they are read (errors
 * name the option or the file's line, never a password), the client's proxy options from
 * them or from the environment as curl reads it, and each proxy's counters kept at the
 * end of the run for the summary and the JSON. The proxying itself is the library's. */
#include "fetch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add(struct options *o, const char *url)
{
    const char **p = realloc(o->proxies, (o->nproxies + 1) * sizeof *p);
    if (p == NULL) {
        fprintf(stderr, "corio-fetch: out of memory\n");
        return -1;
    }
    o->proxies = p;
    o->proxies[o->nproxies++] = url;
    return 0;
}

int fetch_add_proxy(struct options *o, const char *url)
{
    o->proxy_set = true;
    if (*url == '\0')
        return 0; /* --proxy "": no proxy, not even from the environment */
    char why[300];
    if (corio_http_proxy_check(url, why, sizeof why) < 0) {
        fprintf(stderr, "corio-fetch: --proxy: %s\n", why);
        return -1;
    }
    return add(o, url);
}

int fetch_read_proxy_file(struct options *o, const char *path)
{
    FILE *in = fopen(path, "r");
    if (in == NULL) {
        fprintf(stderr, "corio-fetch: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    o->proxy_set = true;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    unsigned lineno = 0, found = 0;
    while (rc == 0 && (len = getline(&line, &cap, in)) >= 0) {
        lineno++;
        char *s = line, *e = line + len;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (s == e || *s == '#')
            continue;
        char *url = strndup(s, (size_t)(e - s));
        char why[300];
        if (url == NULL) {
            fprintf(stderr, "corio-fetch: out of memory reading %s\n", path);
            rc = -1;
        } else if (corio_http_proxy_check(url, why, sizeof why) < 0) {
            fprintf(stderr, "corio-fetch: %s:%u: %s\n", path, lineno, why);
            free(url);
            rc = -1;
        } else if ((rc = add(o, url)) < 0) {
            free(url);
        } else {
            found++;
        }
    }
    free(line);
    bool bad = ferror(in);
    fclose(in);
    if (rc == 0 && bad) {
        fprintf(stderr, "corio-fetch: cannot read %s\n", path);
        rc = -1;
    }
    if (rc == 0 && found == 0) {
        fprintf(stderr, "corio-fetch: %s holds no proxy URL (one a line; # comments)\n", path);
        rc = -1;
    }
    return rc;
}

/* A proxy taken from the environment, checked so that a bad one is named. */
static int env_proxy(const char *value, const char *which)
{
    char why[300];
    if (value != NULL && corio_http_proxy_check(value, why, sizeof why) < 0) {
        fprintf(stderr, "corio-fetch: the proxy in the environment for %s URLs: %s\n", which, why);
        return -1;
    }
    return 0;
}

int fetch_proxy_opts(const struct options *o, corio_http_client_opts_t *co)
{
    if (o->proxy_set) {
        co->proxies = o->proxies;
        co->nproxies = o->nproxies;
    } else {
        corio_http_client_proxy_env(co);
        if (env_proxy(co->http_proxy, "http") < 0 || env_proxy(co->https_proxy, "https") < 0)
            return -1;
    }
    if (o->noproxy_set)
        co->no_proxy = o->noproxy;
    co->proxy_max_failures = o->proxy_failures;
    co->proxy_backoff_ns = o->proxy_backoff_ns;
    return 0;
}

void fetch_save_proxy_stats(struct fetch *f)
{
    corio_http_proxy_stats_t st;
    size_t n = 0;
    while (corio_http_client_proxy_stats(f->client, n, &st) == 0)
        n++;
    if (n == 0 || (f->proxies = calloc(n, sizeof *f->proxies)) == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        corio_http_client_proxy_stats(f->client, i, &f->proxies[i]);
        /* The client's string goes with it: a copy (without credentials, as given). */
        f->proxies[i].url = strdup(f->proxies[i].url);
        if (f->proxies[i].url == NULL)
            f->proxies[i].url = "?";
    }
    f->nproxies = n;
}

void fetch_print_proxies(const struct fetch *f)
{
    for (size_t i = 0; i < f->nproxies; i++) {
        const corio_http_proxy_stats_t *st = &f->proxies[i];
        printf("  proxy %s%s: %llu requests, %llu errors (%llu failed connections)\n", st->url,
               st->http && st->https ? ""
               : st->http            ? " (http)"
                                     : " (https)",
               (unsigned long long)st->requests, (unsigned long long)st->errors,
               (unsigned long long)st->conn_failures);
        if (st->backoffs > 0)
            printf("  proxy %s was taken out %llu time%s (%u consecutive connection failures), "
                   "%.3g s each\n",
                   st->url, (unsigned long long)st->backoffs, st->backoffs == 1 ? "" : "s",
                   f->o.proxy_failures != 0 ? f->o.proxy_failures : 3,
                   (double)(f->o.proxy_backoff_ns != 0 ? f->o.proxy_backoff_ns : 30 * SEC) / 1e9);
    }
}

void fetch_print_proxies_json(const struct fetch *f)
{
    printf("\"proxies\":[");
    for (size_t i = 0; i < f->nproxies; i++) {
        const corio_http_proxy_stats_t *st = &f->proxies[i];
        /* The URL is "http://host:port" with host a name or an address: nothing to escape. */
        printf("%s{\"url\":\"%s\",\"requests\":%llu,\"errors\":%llu,\"conn_failures\":%llu,"
               "\"backoffs\":%llu}",
               i ? "," : "", st->url, (unsigned long long)st->requests,
               (unsigned long long)st->errors, (unsigned long long)st->conn_failures,
               (unsigned long long)st->backoffs);
    }
    printf("]");
}

size_t fetch_proxy_spread(const struct options *o)
{
    /* From the environment, a URL's scheme has one proxy at most. */
    return o->proxy_set && o->nproxies > 0 ? o->nproxies : 1;
}
