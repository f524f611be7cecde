/* The HTTP client's politeness to hosts: a request rate per host name (host_rate) and the
 * pauses servers ask for with Retry-After (RFC 9110 section 10.2.3), both kept in one
 * table of hosts per client and waited for by the requesting task before each attempt.
 * client.c calls in; the table is its own, freed with the client. */
#include "client_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "syntax.h"

#define SEC           1000000000ull
#define HOSTS_BUCKETS 64 /* at first; doubled as hosts are added */

/* One host name's schedule. An entry whose times are all past and that nobody waits on is
 * the same as no entry: those are dropped as the table is walked. */
struct hc_host {
    struct hc_host *next;
    uint64_t next_slot;     /* the earliest time not yet reserved (host_rate) */
    uint64_t used;          /* the latest slot a task went ahead at */
    uint64_t blocked_until; /* Retry-After: no attempt before this */
    unsigned waiting;       /* tasks asleep until a slot of theirs */
    uint32_t hash;
    size_t len;
    char name[]; /* lower case */
};

struct hc_hosts {
    struct hc_host **b;
    size_t nbuckets; /* a power of two */
    size_t n;
};

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t loop_now(void)
{
    return corio_loop_now(corio_current_loop());
}

static uint32_t host_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ http_lower((unsigned char)s[i])) * 16777619u;
    return h;
}

static bool host_stale(const struct hc_host *h, uint64_t now)
{
    return h->waiting == 0 && h->next_slot <= now && h->blocked_until <= now;
}

/* Drops the stale entries of one chain. */
static void prune(struct hc_hosts *t, struct hc_host **at, uint64_t now)
{
    while (*at != NULL) {
        struct hc_host *h = *at;
        if (host_stale(h, now)) {
            *at = h->next;
            free(h);
            t->n--;
        } else {
            at = &h->next;
        }
    }
}

static void grow(struct hc_hosts *t)
{
    size_t nb = t->nbuckets * 2;
    struct hc_host **b = calloc(nb, sizeof *b);
    if (b == NULL)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < t->nbuckets; i++)
        while (t->b[i] != NULL) {
            struct hc_host *h = t->b[i];
            t->b[i] = h->next;
            h->next = b[h->hash & (nb - 1)];
            b[h->hash & (nb - 1)] = h;
        }
    free(t->b);
    t->b = b;
    t->nbuckets = nb;
}

/* The entry of host, made when create (NULL when absent and not create, or out of
 * memory). */
static struct hc_host *host_get(corio_http_client_t *c, const char *host, bool create)
{
    struct hc_hosts *t = c->hosts;
    if (t == NULL) {
        if (!create)
            return NULL;
        if ((t = calloc(1, sizeof *t)) == NULL)
            return NULL;
        if ((t->b = calloc(HOSTS_BUCKETS, sizeof *t->b)) == NULL) {
            free(t);
            return NULL;
        }
        t->nbuckets = HOSTS_BUCKETS;
        c->hosts = t;
    }
    size_t len = strlen(host);
    uint32_t hash = host_hash(host, len);
    struct hc_host **chain = &t->b[hash & (t->nbuckets - 1)];
    for (struct hc_host *h = *chain; h != NULL; h = h->next)
        if (h->hash == hash && h->len == len && strncasecmp(h->name, host, len) == 0)
            return h;
    if (!create)
        return NULL;
    uint64_t now = loop_now();
    prune(t, chain, now);
    if (t->n >= 2 * t->nbuckets) {
        /* A crawler meets many hosts once each: sweep those before growing. */
        for (size_t i = 0; i < t->nbuckets; i++)
            prune(t, &t->b[i], now);
        if (t->n >= t->nbuckets)
            grow(t);
        chain = &t->b[hash & (t->nbuckets - 1)];
    }
    struct hc_host *h = calloc(1, sizeof *h + len + 1);
    if (h == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++)
        h->name[i] = (char)http_lower((unsigned char)host[i]);
    h->len = len;
    h->hash = hash;
    h->next = *chain;
    *chain = h;
    t->n++;
    return h;
}

void hc_hosts_free(corio_http_client_t *c)
{
    struct hc_hosts *t = c->hosts;
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->nbuckets; i++)
        while (t->b[i] != NULL) {
            struct hc_host *h = t->b[i];
            t->b[i] = h->next;
            free(h);
        }
    free(t->b);
    free(t);
    c->hosts = NULL;
}

static uint64_t rate_interval(const corio_http_client_t *c)
{
    if (c->o.host_rate <= 0)
        return 0;
    double iv = 1e9 / c->o.host_rate;
    return iv >= 0x1p63 ? UINT64_MAX / 2 : (uint64_t)iv;
}

/* A slot reserved but not used: given back when it is the last one reserved, so a task
 * cancelled at the end of the queue leaves no hole; when nobody else waits, every slot
 * after the last one used is free again. A hole between two waiters stays: they keep the
 * times they were promised, and the hole is one interval at most. */
static void give_back(struct hc_host *h, uint64_t slot, uint64_t iv)
{
    if (iv == 0)
        return;
    if (h->waiting == 0)
        h->next_slot = sat_add(h->used, iv);
    else if (h->next_slot == sat_add(slot, iv))
        h->next_slot = slot;
}

int hc_polite_wait(corio_http_client_t *c, const char *host, char *why, size_t why_len)
{
    uint64_t iv = rate_interval(c);
    if (iv == 0 && c->hosts == NULL)
        return 0;
    struct hc_host *h = host_get(c, host, iv != 0);
    if (h == NULL) {
        if (iv == 0)
            return 0; /* no rate, and the host was never blocked */
        hc_say(why, why_len, "out of memory for the host table");
        return -ENOMEM;
    }
    bool waited = false;
    for (;;) {
        uint64_t now = loop_now();
        uint64_t slot = h->blocked_until > now ? h->blocked_until : now;
        if (iv != 0 && h->next_slot > slot)
            slot = h->next_slot;
        if (iv != 0)
            h->next_slot = sat_add(slot, iv);
        if (slot <= now) {
            h->used = now;
            break;
        }
        waited = true;
        h->waiting++;
        int rc = corio_sleep_until(slot);
        h->waiting--;
        if (rc < 0) {
            give_back(h, slot, iv);
            hc_say(why, why_len,
                   "%s while waiting for its turn at host %s (host_rate or Retry-After)",
                   corio_strerror(rc), host);
            return rc;
        }
        if (h->blocked_until <= loop_now()) {
            if (slot > h->used)
                h->used = slot;
            break;
        }
        /* A Retry-After came while this task slept: queue again behind it. */
        give_back(h, slot, iv);
    }
    if (waited)
        c->st.rate_waits++;
    return 0;
}

void hc_polite_block(corio_http_client_t *c, const char *host, uint64_t delay_ns)
{
    if (delay_ns == 0)
        return;
    struct hc_host *h = host_get(c, host, true);
    if (h == NULL)
        return; /* out of memory: the host goes unblocked, as without Retry-After */
    uint64_t until = sat_add(loop_now(), delay_ns);
    if (until > h->blocked_until)
        h->blocked_until = until;
}

/* ---- Retry-After ------------------------------------------------------------------------ */

static const char *const months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const days[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *const long_days[7] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                         "Friday", "Saturday", "Sunday"};

/* A cursor over the value; every reader fails on anything but what it expects. */
struct cur {
    const char *s;
    size_t len, at;
};

static bool lit(struct cur *p, const char *l)
{
    size_t n = strlen(l);
    if (p->len - p->at < n || memcmp(p->s + p->at, l, n) != 0)
        return false;
    p->at += n;
    return true;
}

static bool digits(struct cur *p, unsigned n, int *out)
{
    int v = 0;
    for (unsigned i = 0; i < n; i++) {
        if (p->at >= p->len || p->s[p->at] < '0' || p->s[p->at] > '9')
            return false;
        v = v * 10 + (p->s[p->at++] - '0');
    }
    *out = v;
    return true;
}

static bool one_of(struct cur *p, const char *const *names, int n, int *out)
{
    for (int i = 0; i < n; i++)
        if (lit(p, names[i])) {
            *out = i;
            return true;
        }
    return false;
}

/* "HH:MM:SS" */
static bool clock_time(struct cur *p, struct tm *tm)
{
    return digits(p, 2, &tm->tm_hour) && lit(p, ":") && digits(p, 2, &tm->tm_min) && lit(p, ":") &&
           digits(p, 2, &tm->tm_sec);
}

/* RFC 9110 section 5.6.7's three forms. The day name is checked for form, not against the
 * date: a recipient is to be lenient there. */
static bool http_date(struct cur *p, time_t now, struct tm *tm)
{
    int wd, mon, year;
    size_t start = p->at;
    /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
    if (one_of(p, days, 7, &wd) && lit(p, ", ") && digits(p, 2, &tm->tm_mday) && lit(p, " ") &&
        one_of(p, months, 12, &mon) && lit(p, " ") && digits(p, 4, &year) && lit(p, " ") &&
        clock_time(p, tm) && lit(p, " GMT")) {
        tm->tm_mon = mon;
        tm->tm_year = year - 1900;
        return true;
    }
    /* obsolete RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
    p->at = start;
    if (one_of(p, long_days, 7, &wd) && lit(p, ", ") && digits(p, 2, &tm->tm_mday) && lit(p, "-") &&
        one_of(p, months, 12, &mon) && lit(p, "-") && digits(p, 2, &year) && lit(p, " ") &&
        clock_time(p, tm) && lit(p, " GMT")) {
        /* A two-digit year more than 50 years ahead is the latest past one with those
         * digits. */
        struct tm today;
        gmtime_r(&now, &today);
        int cur = today.tm_year + 1900, full = cur / 100 * 100 + year;
        if (full > cur + 50)
            full -= 100;
        tm->tm_mon = mon;
        tm->tm_year = full - 1900;
        return true;
    }
    /* obsolete asctime: "Sun Nov  6 08:49:37 1994" (the day space-padded) */
    p->at = start;
    if (one_of(p, days, 7, &wd) && lit(p, " ") && one_of(p, months, 12, &mon) && lit(p, " ")) {
        if (p->at < p->len && p->s[p->at] == ' ') {
            p->at++;
            if (!digits(p, 1, &tm->tm_mday))
                return false;
        } else if (!digits(p, 2, &tm->tm_mday)) {
            return false;
        }
        if (lit(p, " ") && clock_time(p, tm) && lit(p, " ") && digits(p, 4, &year)) {
            tm->tm_mon = mon;
            tm->tm_year = year - 1900;
            return true;
        }
    }
    return false;
}

static bool tm_valid(const struct tm *tm)
{
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return tm->tm_mday >= 1 && tm->tm_mday <= mdays[tm->tm_mon] && tm->tm_hour <= 23 &&
           tm->tm_min <= 59 && tm->tm_sec <= 60; /* 60: a leap second */
}

int hc_retry_after_parse(const char *v, size_t len, time_t now, uint64_t *delay_ns)
{
    while (len > 0 && http_is_ows((unsigned char)*v)) {
        v++;
        len--;
    }
    while (len > 0 && http_is_ows((unsigned char)v[len - 1]))
        len--;
    if (len == 0)
        return -EINVAL;
    if (v[0] >= '0' && v[0] <= '9') {
        /* delta-seconds. Past what can be counted, "a very long time" (as RFC 9111
         * section 1.2.2 has a cache take it): beyond any cap, not garbage. */
        uint64_t s = 0;
        for (size_t i = 0; i < len; i++) {
            if (v[i] < '0' || v[i] > '9')
                return -EINVAL;
            unsigned d = (unsigned)(v[i] - '0');
            s = s > (UINT64_MAX - d) / 10 ? UINT64_MAX : s * 10 + d;
        }
        *delay_ns = s > UINT64_MAX / SEC ? UINT64_MAX : s * SEC;
        return 0;
    }
    struct cur p = {v, len, 0};
    struct tm tm = {0};
    if (!http_date(&p, now, &tm) || p.at != len || !tm_valid(&tm))
        return -EINVAL;
    time_t when = timegm(&tm);
    if (when == (time_t)-1)
        return -EINVAL;
    if (when <= now) {
        *delay_ns = 0;
        return 0;
    }
    uint64_t s = (uint64_t)(when - now);
    *delay_ns = s > UINT64_MAX / SEC ? UINT64_MAX : s * SEC;
    return 0;
}
