/* Fuzz target: libcorio-http's chunked decoder (engine/http/chunked.c). The first input
 * byte picks how the rest, a chunked body, is cut into pieces; the decoder must give the
 * same verdict and the same data however the bytes arrive (whole, in pieces, one at a
 * time), hand out data only as views inside the piece just given, and count it. */
#include "fuzz.h"

#include <corio/http.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

struct verdict {
    int result;
    size_t used; /* compared when the body ended well */
    uint64_t data_len;
    uint32_t data_hash;
};

static uint32_t hash_more(uint32_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 16777619u;
    return h;
}

/* Feeds buf in pieces of `step` bytes (0: all at once). */
static struct verdict run(const char *buf, size_t len, size_t step)
{
    corio_http_chunked_t d;
    corio_http_chunked_init(&d);
    struct verdict v = {.result = CORIO_HTTP_NEED_MORE, .data_hash = 2166136261u};
    size_t at = 0;
    while (at < len) {
        size_t piece = step == 0 || len - at < step ? len - at : step;
        const char *p = buf + at;
        size_t left = piece;
        int rc;
        for (;;) {
            size_t used = 0, data_len = 0;
            const char *data = NULL;
            rc = corio_http_chunked_decode(&d, p, left, &used, &data, &data_len);
            if (used > left)
                abort();
            if (rc == CORIO_HTTP_BODY) {
                if (data == NULL || data_len == 0 || data < p || data + data_len > p + used)
                    abort();
                v.data_len += data_len;
                v.data_hash = hash_more(v.data_hash, data, data_len);
                if (d.data_bytes != v.data_len)
                    abort();
            } else if (data != NULL || data_len != 0) {
                abort();
            }
            p += used;
            left -= used;
            v.used += used;
            if (rc != CORIO_HTTP_BODY)
                break;
        }
        if (rc == CORIO_HTTP_NEED_MORE && left != 0)
            abort();
        at += piece - left;
        v.result = rc;
        if (rc == CORIO_HTTP_DONE || rc < 0)
            break;
    }
    if (v.result < 0 && v.result != CORIO_HTTP_ECHUNK && v.result != CORIO_HTTP_EHEAD_TOO_BIG)
        abort();
    return v;
}

static bool same(const struct verdict *a, const struct verdict *b)
{
    return a->result == b->result && a->data_len == b->data_len &&
           a->data_hash == b->data_hash && (a->result < 0 || a->used == b->used);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t step = (size_t)data[0] + 1;
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;
    struct verdict whole = run(buf, len, 0);
    struct verdict pieces = run(buf, len, step);
    struct verdict bytes = run(buf, len, 1);
    if (!same(&whole, &pieces) || !same(&whole, &bytes))
        abort();
    return 0;
}
