/* Status codes: the status a server answers for each request error of <corio/http.h>,
 * and the reason phrases of the statuses. */
#include <corio/http.h>

int corio_http_error_status(int err)
{
    switch (err) {
    case CORIO_HTTP_EMALFORMED:
    case CORIO_HTTP_ELENGTH:
    case CORIO_HTTP_ECHUNK:
    case CORIO_HTTP_EHOST:
        return 400;
    case CORIO_HTTP_EFORBIDDEN:
        return 403;
    case CORIO_HTTP_EBODY_TOO_BIG:
        return 413;
    case CORIO_HTTP_EURI_TOO_LONG:
        return 414;
    case CORIO_HTTP_EHEAD_TOO_BIG:
        return 431;
    case CORIO_HTTP_ENOTIMPL:
        return 501;
    case CORIO_HTTP_EVERSION:
        return 505;
    default:
        return 0;
    }
}

const char *corio_http_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}
