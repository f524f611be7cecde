/* The chunked transfer coding (RFC 9112 section 7.1; corio/http_parse.h section 4): an
 * incremental decoder, a byte-driven state machine over the framing that hands the chunk
 * data back as views and never walks it, and the encoder's size line. */
#include <corio/http.h>

#include "http/syntax.h"

enum state {
    C_SIZE0,        /* the first hex digit of a chunk size */
    C_SIZE,         /* more hex digits */
    C_SIZE_WS,      /* whitespace after the size, before ';' */
    C_EXT,          /* chunk extensions, skipped */
    C_SIZE_LF,      /* CR seen at the end of the size line */
    C_DATA,         /* remaining bytes of a chunk */
    C_DATA_CR,      /* the CRLF after chunk data */
    C_DATA_LF,      /* CR seen after chunk data */
    C_TRAILER,      /* the start of a trailer line or of the final empty line */
    C_TRAILER_LINE, /* a trailer field, skipped */
    C_TRAILER_LF,   /* CR seen on the final empty line */
    C_DONE,
    C_ERROR,
};

void corio_http_chunked_init(corio_http_chunked_t *d)
{
    *d = (corio_http_chunked_t){.priv_state = C_SIZE0};
}

/* The size line ended: the chunk's data follows, or, after the last chunk, the trailers. */
static void size_line_end(corio_http_chunked_t *d)
{
    d->priv_state = d->priv_remaining == 0 ? C_TRAILER : C_DATA;
}

/* Walks the framing from buf[*pos] up to chunk data, the end of the body or of buf, or an
 * error. Returns CORIO_HTTP_NEED_MORE (at data or out of bytes), CORIO_HTTP_DONE or an
 * error. */
static int framing(corio_http_chunked_t *d, const char *buf, size_t len, size_t *pos)
{
    size_t i = *pos;
    int rc = CORIO_HTTP_NEED_MORE;
    while (i < len && d->priv_state != C_DATA && rc == CORIO_HTTP_NEED_MORE) {
        unsigned char c = (unsigned char)buf[i];
        int h = http_hex_value(c);
        size_t step = 1;
        enum state before = (enum state)d->priv_state;
        switch (before) {
        case C_SIZE0:
            if (h < 0) {
                rc = CORIO_HTTP_ECHUNK;
                break;
            }
            d->priv_remaining = (uint64_t)h;
            d->priv_state = C_SIZE;
            break;
        case C_SIZE:
            if (h >= 0) {
                if (d->priv_remaining > (UINT64_C(0x7fffffffffffffff) >> 4)) {
                    rc = CORIO_HTTP_ECHUNK; /* a size past 2^63 */
                    break;
                }
                d->priv_remaining = d->priv_remaining * 16 + (uint64_t)h;
                break;
            }
            /* fall through - the size has ended */
        case C_SIZE_WS:
            if (http_is_ows(c))
                d->priv_state = C_SIZE_WS;
            else if (c == ';')
                d->priv_state = C_EXT;
            else if (c == '\r')
                d->priv_state = C_SIZE_LF;
            else if (c == '\n')
                size_line_end(d);
            else
                rc = CORIO_HTTP_ECHUNK;
            break;
        case C_EXT:
            if (c == '\r')
                d->priv_state = C_SIZE_LF;
            else if (c == '\n')
                size_line_end(d);
            else if (c == 0)
                rc = CORIO_HTTP_ECHUNK;
            break;
        case C_SIZE_LF:
            if (c != '\n')
                rc = CORIO_HTTP_ECHUNK;
            else
                size_line_end(d);
            break;
        case C_DATA_CR:
            if (c == '\r')
                d->priv_state = C_DATA_LF;
            else if (c == '\n')
                d->priv_state = C_SIZE0;
            else
                rc = CORIO_HTTP_ECHUNK;
            break;
        case C_DATA_LF:
            if (c != '\n')
                rc = CORIO_HTTP_ECHUNK;
            d->priv_state = C_SIZE0;
            break;
        case C_TRAILER:
            if (c == '\r') {
                d->priv_state = C_TRAILER_LF;
            } else if (c == '\n') {
                d->priv_state = C_DONE;
                rc = CORIO_HTTP_DONE;
            } else {
                d->priv_state = C_TRAILER_LINE;
                step = 0;
            }
            break;
        case C_TRAILER_LINE: {
            const char *nl = memchr(buf + i, '\n', len - i);
            step = nl != NULL ? (size_t)(nl - (buf + i)) + 1 : len - i;
            if (nl != NULL)
                d->priv_state = C_TRAILER;
            break;
        }
        case C_TRAILER_LF:
            if (c != '\n') {
                rc = CORIO_HTTP_ECHUNK;
                break;
            }
            d->priv_state = C_DONE;
            rc = CORIO_HTTP_DONE;
            break;
        default:
            return CORIO_HTTP_ECHUNK; /* not reached: C_DATA ends the loop */
        }
        if (rc < 0)
            break;
        i += step;
        /* The bytes of each size line, its line end included, and of the whole trailer
         * section, however the pieces fall. */
        if (before <= C_SIZE_LF) {
            if (++d->priv_line_bytes > CORIO_HTTP_MAX_CHUNK_LINE)
                rc = CORIO_HTTP_ECHUNK;
            if (d->priv_state > C_SIZE_LF)
                d->priv_line_bytes = 0; /* the line has ended */
        } else if (before >= C_TRAILER && before <= C_TRAILER_LF) {
            uint64_t total = (uint64_t)d->priv_line_bytes + step; /* a skip may be long */
            d->priv_line_bytes = total > UINT32_MAX ? UINT32_MAX : (uint32_t)total;
            if (d->priv_line_bytes > CORIO_HTTP_MAX_TRAILERS)
                rc = CORIO_HTTP_EHEAD_TOO_BIG;
        }
    }
    *pos = i;
    return rc;
}

int corio_http_chunked_decode(corio_http_chunked_t *d, const char *buf, size_t len, size_t *used,
                              const char **data, size_t *data_len)
{
    *used = 0;
    *data = NULL;
    *data_len = 0;
    if (d->priv_state == C_DONE)
        return CORIO_HTTP_DONE;
    if (d->priv_state == C_ERROR)
        return d->priv_error;
    if (buf == NULL)
        len = 0;
    size_t pos = 0;
    int rc = framing(d, buf, len, &pos);
    if (rc == CORIO_HTTP_NEED_MORE && d->priv_state == C_DATA && pos < len) {
        size_t n = len - pos;
        if (n > d->priv_remaining)
            n = (size_t)d->priv_remaining;
        *data = buf + pos;
        *data_len = n;
        pos += n;
        d->priv_remaining -= n;
        d->data_bytes += n;
        if (d->priv_remaining == 0)
            d->priv_state = C_DATA_CR;
        rc = CORIO_HTTP_BODY;
    }
    if (rc < 0) {
        d->priv_state = C_ERROR;
        d->priv_error = rc;
    }
    *used = pos;
    return rc;
}

size_t corio_http_chunk_size_line(uint64_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    if (n == 0) {
        out[0] = '\0';
        return 0;
    }
    char digits[16];
    size_t k = 0;
    for (; n != 0; n >>= 4)
        digits[k++] = hex[n & 15];
    size_t len = 0;
    while (k > 0)
        out[len++] = digits[--k];
    out[len++] = '\r';
    out[len++] = '\n';
    out[len] = '\0';
    return len;
}
