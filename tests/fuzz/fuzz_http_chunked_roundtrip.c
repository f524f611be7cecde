/* Fuzz target: libcorio-http's chunked encoder and decoder together. The input's first
 * eight bytes seed the choices, the rest is the data: it is encoded in chunks of random
 * sizes (corio_http_chunk_size_line, CORIO_HTTP_CHUNK_END, then CORIO_HTTP_LAST_CHUNK or a
 * last chunk with a trailer, sometimes with chunk extensions), and the encoding is fed to
 * the decoder in random pieces: exactly the data must come out, and the body must end
 * exactly where the encoding does. */
#include "fuzz.h"

#include <corio/http.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DATA (64 * 1024)

static uint64_t next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void put(char *wire, size_t *w, const char *s, size_t n)
{
    memcpy(wire + *w, s, n);
    *w += n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8 || size - 8 > MAX_DATA)
        return 0;
    uint64_t seed = 0;
    memcpy(&seed, data, 8);
    seed |= 1; /* xorshift never leaves 0 */
    const char *payload = (const char *)data + 8;
    size_t n = size - 8;
    unsigned max_chunk = 1 + (unsigned)(next(&seed) % 3000);
    unsigned max_piece = 1 + (unsigned)(next(&seed) % 600);
    int extensions = next(&seed) % 4 == 0;

    /* At most one chunk per data byte, each with a size line, an extension and its CRLF. */
    static char wire[MAX_DATA * 32 + 64];
    size_t w = 0;
    for (size_t at = 0; at < n;) {
        size_t chunk = 1 + (size_t)(next(&seed) % max_chunk);
        if (chunk > n - at)
            chunk = n - at;
        char line[CORIO_HTTP_CHUNK_SIZE_LINE_MAX];
        size_t ll = corio_http_chunk_size_line(chunk, line);
        if (ll < 3 || line[ll - 2] != '\r' || line[ll - 1] != '\n' || line[ll] != '\0')
            abort();
        if (extensions) {
            put(wire, &w, line, ll - 2);
            put(wire, &w, ";x=\"y\"\r\n", 8);
        } else {
            put(wire, &w, line, ll);
        }
        put(wire, &w, payload + at, chunk);
        put(wire, &w, CORIO_HTTP_CHUNK_END, sizeof CORIO_HTTP_CHUNK_END - 1);
        at += chunk;
    }
    if (next(&seed) % 2)
        put(wire, &w, CORIO_HTTP_LAST_CHUNK, sizeof CORIO_HTTP_LAST_CHUNK - 1);
    else
        put(wire, &w, "0\r\nX-Trailer: t\r\n\r\n", 19);
    put(wire, &w, "NEXT", 4); /* what follows the body is not the body's */
    size_t body_end = w - 4;

    static char out[MAX_DATA];
    size_t got = 0, fed = 0;
    corio_http_chunked_t d;
    corio_http_chunked_init(&d);
    int rc = CORIO_HTTP_NEED_MORE;
    while (fed < w && rc != CORIO_HTTP_DONE) {
        size_t piece = 1 + (size_t)(next(&seed) % max_piece);
        if (piece > w - fed)
            piece = w - fed;
        const char *p = wire + fed;
        size_t left = piece;
        for (;;) {
            size_t used, dl;
            const char *view;
            rc = corio_http_chunked_decode(&d, p, left, &used, &view, &dl);
            if (rc < 0 || used > left)
                abort();
            if (rc == CORIO_HTTP_BODY) {
                if (got + dl > n || view < p || view + dl > p + used)
                    abort();
                memcpy(out + got, view, dl);
                got += dl;
            }
            p += used;
            left -= used;
            fed += used;
            if (rc != CORIO_HTTP_BODY)
                break;
        }
        if (rc == CORIO_HTTP_NEED_MORE && left != 0)
            abort();
    }
    if (rc != CORIO_HTTP_DONE || fed != body_end || got != n || memcmp(out, payload, n) != 0 ||
        d.data_bytes != n)
        abort();
    return 0;
}
