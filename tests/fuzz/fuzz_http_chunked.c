/* Fuzz target: the chunked decoder of examples/http_response.c. The input is the body of
 * a response whose head says "Transfer-Encoding: chunked"; the checks are those of
 * fuzz_http_response.c (the same verdict and decoded body however the bytes arrive). */
#define FUZZ_PREFIX "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
#include "fuzz_http_response.c"
