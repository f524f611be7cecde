/* corio-fetch --latency-csv FILE: the latency histogram's percentile spectrum as CSV, the
 * levels HdrHistogram (and wrk2 --latency) print, for plotting latency against
 * 1/(1-percentile) on a log axis (bench/latency_chart.sh). */
#include "fetch.h"

#include <errno.h>
#include <string.h>

int fetch_write_latency_csv(struct fetch *f)
{
    FILE *out = f->latency_csv;
    f->latency_csv = NULL;
    fputs("value_ms,percentile,count,1/(1-percentile)\n", out);
    struct hist_iter it;
    struct hist_point pt;
    hist_iter_init(&it, &f->st.lat, 5);
    while (hist_iter_next(&it, &pt)) {
        double q = pt.percentile / 100;
        if (q < 1)
            fprintf(out, "%.6f,%.12f,%llu,%.2f\n", (double)pt.value / 1e6, q,
                    (unsigned long long)pt.count, 1 / (1 - q));
        else
            fprintf(out, "%.6f,%.12f,%llu,inf\n", (double)pt.value / 1e6, q,
                    (unsigned long long)pt.count);
    }
    bool bad = ferror(out) != 0;
    if (fclose(out) != 0 || bad) {
        fprintf(stderr, "corio-fetch: writing %s failed: %s\n", f->o.latency_csv,
                strerror(errno ? errno : EIO));
        return -1;
    }
    return 0;
}
