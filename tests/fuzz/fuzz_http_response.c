/* Fuzz target: the HTTP response parser and chunked decoder (engine/http/response.c).
 * The first input byte picks how the rest is cut into pieces (and whether the response
 * answers a HEAD); the parser must give the same verdict, status and decoded body however
 * the bytes arrive, byte by byte or all at once. */
#include "fuzz.h"
#include <corio/http.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct verdict {
    int result, status;
    uint64_t body_len;
    uint32_t body_hash;
};

static uint32_t hash_more(uint32_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 16777619u;
    return h;
}

/* Feeds buf in pieces of `step` bytes (0: all at once) and ends with EOF if needed. */
static struct verdict run(const char *buf, size_t len, size_t step, bool head)
{
    static corio_http_resp_parser_t r; /* large: not on the stack */
    corio_http_resp_parser_init(&r, head);
    struct verdict v = {.body_hash = 2166136261u};
    size_t at = 0;
    int rc = CORIO_HTTP_NEED_MORE;
    while (at < len) {
        size_t piece = step == 0 || len - at < step ? len - at : step;
        const char *p = buf + at;
        size_t left = piece;
        for (;;) {
            size_t used = 0, body_len = 0;
            const char *body = NULL;
            rc = corio_http_resp_parser_feed(&r, p, left, &used, &body, &body_len);
            if (used > left)
                abort();
            if (rc == CORIO_HTTP_BODY) {
                if (body == NULL || body_len == 0)
                    abort();
                v.body_len += body_len;
                v.body_hash = hash_more(v.body_hash, body, body_len);
            }
            p += used;
            left -= used;
            if (rc == CORIO_HTTP_NEED_MORE || rc == CORIO_HTTP_DONE || rc < 0)
                break;
        }
        at += piece - left;
        if (rc == CORIO_HTTP_DONE || rc < 0)
            break;
    }
    if (rc != CORIO_HTTP_DONE && rc >= 0)
        rc = corio_http_resp_parser_eof(&r);
    v.result = rc;
    v.status = corio_http_resp_parser_head_done(&r) ? r.status : 0;
    return v;
}

static bool same(const struct verdict *a, const struct verdict *b)
{
    return a->result == b->result && a->status == b->status && a->body_len == b->body_len &&
           a->body_hash == b->body_hash;
}

#ifndef FUZZ_PREFIX
#define FUZZ_PREFIX "" /* fuzz_http_chunked.c puts a chunked head here */
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    bool head = data[0] & 0x80;
    size_t step = (size_t)(data[0] & 0x7f) + 1;
    static char buf[1 << 20];
    size_t prefix = sizeof FUZZ_PREFIX - 1;
    size_t len = size - 1;
    if (prefix + len > sizeof buf)
        return 0;
    memcpy(buf, FUZZ_PREFIX, prefix);
    memcpy(buf + prefix, data + 1, len);
    len += prefix;
    struct verdict whole = run(buf, len, 0, head);
    struct verdict pieces = run(buf, len, step, head);
    struct verdict bytes = run(buf, len, 1, head);
    if (!same(&whole, &pieces) || !same(&whole, &bytes))
        abort();
    return 0;
}
