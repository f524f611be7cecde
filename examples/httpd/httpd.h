/* httpd.h: what corio-httpd's parts share: the site a handler serves (main.c sets it up,
 * routes.c answers requests from it). */
#ifndef CORIO_HTTPD_H
#define CORIO_HTTPD_H

#include <corio/http.h>

#include "files.h"

struct site {
    struct docroot root; /* root.fd is -1 without --root */
    uint64_t max_body;   /* the server's limit, which POST /echo buffers up to */
};

/* The server's handler (corio_http_handler_fn), arg a struct site. */
int httpd_handle(corio_http_request_t *req, corio_http_response_t *resp, void *arg);

#endif
