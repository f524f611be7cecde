/* Fuzz target: libcorio-http's request-head parser and path normaliser
 * (engine/http/request.c). Beyond "no crash", it checks what the parser promises: a head
 * found complete in the whole input is found complete, with the same length, in every
 * longer prefix and never refused in a shorter one; every refusal is a request error with
 * a status to answer; a normalised path never climbs above the root. */
#include "fuzz.h"

#include <corio/http.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int parse(const char *buf, size_t len, corio_http_request_head_t *req,
                 corio_http_header_t *headers, size_t max_headers)
{
    memset(req, 0, sizeof *req);
    req->headers = headers;
    req->max_headers = max_headers;
    return corio_http_parse_request(buf, len, 0, req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    corio_http_header_t headers[CORIO_HTTP_MAX_HEADERS];
    corio_http_request_head_t req;
    int full = parse(buf, size, &req, headers, CORIO_HTTP_MAX_HEADERS);
    if (full > 0) {
        if ((size_t)full > size)
            abort();
        /* The same head, cut just after it: the same answer. */
        corio_http_request_head_t again;
        if (parse(buf, (size_t)full, &again, NULL, 0) != full)
            abort();
        /* Any shorter prefix: incomplete, never an error nor a different head. */
        size_t cut = size > 0 ? (size_t)data[0] % (size_t)full : 0;
        if (parse(buf, cut, &again, NULL, 0) != 0)
            abort();
        if (req.num_headers > CORIO_HTTP_MAX_HEADERS)
            abort();
        char out[CORIO_HTTP_MAX_HEAD_DEFAULT + 1];
        int n = corio_http_path_normalize(req.path, req.path_len, out, sizeof out);
        if (n < 0 && corio_http_error_status(n) == 0)
            abort();
        if (n >= 0) {
            if ((size_t)n >= sizeof out || out[n] != '\0' || out[0] == '/')
                abort();
            /* No ".." segment survives normalisation. */
            for (const char *p = out; (p = strstr(p, "..")) != NULL; p++)
                if ((p == out || p[-1] == '/') && (p[2] == '/' || p[2] == '\0'))
                    abort();
        }
    }
    if (full < 0 && corio_http_error_status(full) == 0)
        abort(); /* a refusal the server could not answer */
    (void)corio_http_reason(full < 0 ? corio_http_error_status(full) : 200);
    return 0;
}
