/* Content-Encoding for the HTTP client: gzip and deflate bodies inflated with zlib as
 * they arrive, a piece at a time, into a fixed output buffer; anything else passed
 * through. */
#include "client_internal.h"

#include <errno.h>
#include <string.h>

/* zlib's window bits: 15 with 16 added for gzip only, or 32 added for zlib or gzip,
 * chosen by the header; negative for a raw deflate stream. */
#define WBITS_GZIP         (15 + 16)
#define WBITS_ZLIB_OR_GZIP (15 + 32)
#define WBITS_RAW          (-15)

static int inflate_setup(struct hc_decoder *d, int wbits)
{
    memset(&d->z, 0, sizeof d->z);
    if (inflateInit2(&d->z, wbits) != Z_OK)
        return -ENOMEM;
    d->active = true;
    return 0;
}

int hc_decoder_start(struct hc_decoder *d, corio_http_coding_t coding, unsigned char *out,
                     size_t out_cap)
{
    hc_decoder_end(d);
    *d = (struct hc_decoder){.coding = coding, .out = out, .out_cap = out_cap};
    if (coding == CORIO_HTTP_CODING_GZIP)
        return inflate_setup(d, WBITS_GZIP);
    /* "deflate" is set up once its first two bytes tell zlib's format from raw deflate
     * (hc_decoder_feed). */
    return 0;
}

/* "deflate" means the zlib format (RFC 9110 section 8.4.1.2), but some servers send raw
 * deflate. A zlib stream starts with a two-byte header: method 8 in the low nibble of the
 * first byte, and the pair a multiple of 31 (RFC 1950 section 2.2). */
static int deflate_choose(struct hc_decoder *d, const unsigned char **in, size_t *len)
{
    while (d->hdr_len < 2 && *len > 0) {
        d->hdr[d->hdr_len++] = **in;
        (*in)++;
        (*len)--;
    }
    if (d->hdr_len < 2)
        return 0;
    bool zlib = (d->hdr[0] & 0x0f) == 8 && ((d->hdr[0] << 8) | d->hdr[1]) % 31 == 0;
    return inflate_setup(d, zlib ? WBITS_ZLIB_OR_GZIP : WBITS_RAW);
}

static int inflate_some(struct hc_decoder *d, const unsigned char *in, size_t len,
                        int (*emit)(void *arg, const void *data, size_t len), void *arg, char *why,
                        size_t why_len);

static const char *coding_name(const struct hc_decoder *d)
{
    return d->coding == CORIO_HTTP_CODING_GZIP ? "gzip" : "deflate";
}

int hc_decoder_feed(struct hc_decoder *d, const void *data, size_t len,
                    int (*emit)(void *arg, const void *data, size_t len), void *arg, char *why,
                    size_t why_len)
{
    const unsigned char *in = data;
    if (len > 0)
        d->fed = true;
    if (d->coding == CORIO_HTTP_CODING_DEFLATE && !d->active) {
        bool had_header = d->hdr_len == 2;
        if (!had_header) {
            int rc = deflate_choose(d, &in, &len);
            if (rc < 0 || !d->active)
                return rc;
            rc = inflate_some(d, d->hdr, 2, emit, arg, why, why_len);
            if (rc < 0)
                return rc;
        }
    }
    if (!d->active)
        return len > 0 ? emit(arg, in, len) : 0;
    return inflate_some(d, in, len, emit, arg, why, why_len);
}

static int inflate_some(struct hc_decoder *d, const unsigned char *in, size_t len,
                        int (*emit)(void *arg, const void *data, size_t len), void *arg, char *why,
                        size_t why_len)
{
    while (len > 0) {
        if (d->done) {
            hc_say(why, why_len, "bytes after the end of the %s stream", coding_name(d));
            return CORIO_HTTP_EDECODE;
        }
        uInt chunk = len > 1u << 30 ? 1u << 30 : (uInt)len;
        d->z.next_in = (Bytef *)in;
        d->z.avail_in = chunk;
        do {
            d->z.next_out = d->out;
            d->z.avail_out = (uInt)d->out_cap;
            int zr = inflate(&d->z, Z_NO_FLUSH);
            size_t produced = d->out_cap - d->z.avail_out;
            if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
                hc_say(why, why_len, "the %s body cannot be decoded: %s", coding_name(d),
                       d->z.msg != NULL ? d->z.msg : "corrupt data");
                return CORIO_HTTP_EDECODE;
            }
            if (produced > 0) {
                int rc = emit(arg, d->out, produced);
                if (rc < 0)
                    return rc;
            }
            if (zr == Z_STREAM_END) {
                d->done = true;
                break;
            }
            if (zr == Z_BUF_ERROR && produced == 0)
                break; /* needs more input */
        } while (d->z.avail_in > 0 || d->z.avail_out == 0);
        size_t used = chunk - d->z.avail_in;
        in += used;
        len -= used;
        if (d->done && len > 0) {
            hc_say(why, why_len, "bytes after the end of the %s stream", coding_name(d));
            return CORIO_HTTP_EDECODE;
        }
        if (used == 0 && !d->done)
            break; /* cannot happen with input left, but never spin */
    }
    return 0;
}

int hc_decoder_finish(struct hc_decoder *d, char *why, size_t why_len)
{
    bool coded = d->coding == CORIO_HTTP_CODING_GZIP || d->coding == CORIO_HTTP_CODING_DEFLATE;
    if (coded && !d->done && d->fed) { /* an empty body is no stream at all */
        hc_say(why, why_len, "the %s body ended before its stream did", coding_name(d));
        return CORIO_HTTP_EDECODE;
    }
    return 0;
}

void hc_decoder_end(struct hc_decoder *d)
{
    if (d->active)
        inflateEnd(&d->z);
    d->active = false;
}
