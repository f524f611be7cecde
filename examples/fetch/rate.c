/* corio-fetch's open loop (--rate R): request i is due at the run's start + i/R, whichever
 * worker is free to make it, and its latency counts from that due time, so that requests
 * held up behind a stalled server (every connection busy) show their wait in the
 * percentiles instead of being issued late and timed as fast (wrk2's -R). */
#include "fetch.h"

#include <errno.h>

uint64_t rate_due(const struct fetch *f, uint64_t i)
{
    return f->t_start + (uint64_t)((double)i * f->rate_period_ns);
}

int rate_wait(struct fetch *f, uint64_t i, uint64_t *due)
{
    *due = rate_due(f, i);
    if (f->deadline != 0 && *due >= f->deadline)
        return 1;
    /* Behind the schedule (every connection was busy): go at once. corio_sleep_until would
     * yield once for a time already past, a round of the loop per queued request. */
    if (*due > now_ns()) {
        int rc = corio_sleep_until(*due);
        if (rc < 0)
            return rc;
    }
    if (i >= f->rate_slots)
        f->rate_slots = i + 1;
    return 0;
}

double rate_achieved(const struct fetch *f)
{
    /* The schedule's window ends where the first slot not made would have been due (the
     * deadline, near enough, with -d), or later when the last response came after it. */
    uint64_t end = rate_due(f, f->rate_slots);
    if (f->t_end > end)
        end = f->t_end;
    return end > f->t_start ? (double)f->st.done * 1e9 / (double)(end - f->t_start) : 0;
}
