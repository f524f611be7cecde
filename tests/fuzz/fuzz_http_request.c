/* Fuzz target: the HTTP request-head parser and path normaliser (examples/http_request.c).
 * Beyond "no crash", it checks what the parser promises: a head found complete in the
 * whole input is found complete, with the same length, in every longer prefix and never
 * refused in a shorter one; a normalised path never climbs above the root. */
#include "fuzz.h"
#include "http_request.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int parse(const char *buf, size_t len, struct http_request *req, struct http_header *headers,
                 size_t max_headers)
{
    memset(req, 0, sizeof *req);
    req->headers = headers;
    req->max_headers = max_headers;
    return http_parse_request(buf, len, 0, req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    struct http_header headers[HTTP_MAX_HEADERS];
    struct http_request req;
    int full = parse(buf, size, &req, headers, HTTP_MAX_HEADERS);
    if (full > 0) {
        if ((size_t)full > size)
            abort();
        /* The same head, cut just after it: the same answer. */
        struct http_request again;
        if (parse(buf, (size_t)full, &again, NULL, 0) != full)
            abort();
        /* Any shorter prefix: incomplete, never an error nor a different head. */
        size_t cut = size > 0 ? (size_t)data[0] % (size_t)full : 0;
        if (parse(buf, cut, &again, NULL, 0) != 0)
            abort();
        if (req.num_headers > HTTP_MAX_HEADERS)
            abort();
        char out[HTTP_MAX_HEAD + 1];
        int n = http_path_normalize(req.path, req.path_len, out, sizeof out);
        if (n >= 0) {
            if ((size_t)n >= sizeof out || out[n] != '\0' || out[0] == '/')
                abort();
            /* No ".." segment survives normalisation. */
            for (const char *p = out; (p = strstr(p, "..")) != NULL; p++)
                if ((p == out || p[-1] == '/') && (p[2] == '/' || p[2] == '\0'))
                    abort();
        }
    }
    (void)http_reason(full < 0 ? -full : 200);
    return 0;
}
