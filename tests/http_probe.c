/* http_probe: a tiny HTTP/1.1 test client for tests/test_httpd.sh (no curl needed). Sends
 * the bytes of stdin to 127.0.0.1:PORT as they are (so tests can craft any request, or
 * several pipelined), reads until the server closes, then prints each response's head
 * (CR stripped) followed by "[body N bytes]", and finally how the connection ended:
 * "[eof after S s]", "[reset after S s]" or "[timeout]". Bodies are appended to --body
 * FILE. Plain sockets and poll(2); no corio.
 *
 * Usage: http_probe PORT [--head] [--keep-open] [--trickle MS] [--timeout S] [--body FILE]
 *   --head        responses have no body (answers to HEAD)
 *   --keep-open   do not half-close after sending (the server must close by itself)
 *   --trickle MS  send one byte every MS milliseconds (a slow-loris client); stops
 *                 sending, without failing, when the server closes
 *   --timeout S   give up after S seconds (default 10) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct buf {
    char *p;
    size_t len, cap;
};

static void append(struct buf *b, const char *data, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 4096;
        b->p = realloc(b->p, b->cap);
        if (b->p == NULL) {
            perror("http_probe");
            exit(1);
        }
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

/* Prints the responses found in r; bodies go to body (may be NULL). */
static void print_responses(const struct buf *r, bool head, FILE *body)
{
    size_t off = 0;
    while (off < r->len) {
        const char *start = r->p + off;
        const char *end = memmem(start, r->len - off, "\r\n\r\n", 4);
        if (end == NULL) {
            printf("[partial head of %zu bytes]\n", r->len - off);
            return;
        }
        size_t hlen = (size_t)(end - start) + 4;
        long status = 0;
        long long clen = -1;
        for (const char *line = start; line < end;) {
            const char *eol = memmem(line, (size_t)(end - line) + 2, "\r\n", 2);
            printf("%.*s\n", (int)(eol - line), line);
            if (line == start && eol - line > 9)
                status = strtol(line + 9, NULL, 10);
            if (strncasecmp(line, "Content-Length:", 15) == 0)
                clen = strtoll(line + 15, NULL, 10);
            line = eol + 2;
        }
        off += hlen;
        size_t blen = 0;
        if (!head && status >= 200 && status != 204 && status != 304)
            blen = clen >= 0 ? (size_t)clen : r->len - off;
        if (blen > r->len - off) {
            printf("[body %zu of %zu bytes]\n", r->len - off, blen);
            blen = r->len - off;
        } else {
            printf("[body %zu bytes]\n", blen);
        }
        if (body != NULL)
            fwrite(r->p + off, 1, blen, body);
        off += blen;
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: http_probe PORT [--head] [--keep-open] [--trickle MS] "
                        "[--timeout S] [--body FILE]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    bool head = false, keep_open = false;
    long trickle_ms = 0;
    double timeout = 10;
    FILE *body = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--head") == 0)
            head = true;
        else if (strcmp(argv[i], "--keep-open") == 0)
            keep_open = true;
        else if (strcmp(argv[i], "--trickle") == 0 && i + 1 < argc)
            trickle_ms = atol(argv[++i]);
        else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
            timeout = atof(argv[++i]);
        else if (strcmp(argv[i], "--body") == 0 && i + 1 < argc) {
            if ((body = fopen(argv[++i], "wb")) == NULL) {
                perror(argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "http_probe: bad argument '%s'\n", argv[i]);
            return 2;
        }
    }

    struct buf req = {0}, resp = {0};
    char chunk[65536];
    ssize_t n;
    while ((n = read(0, chunk, sizeof chunk)) > 0)
        append(&req, chunk, (size_t)n);

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        perror("http_probe: connect");
        return 1;
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    double t0 = now_s(), next_send = t0;
    size_t sent = 0;
    bool sending = true, half_closed = false;
    const char *end = "[timeout]";
    for (;;) {
        double now = now_s();
        if (now - t0 > timeout)
            break;
        if (sending && sent == req.len) {
            sending = false;
            if (!keep_open && !half_closed) {
                shutdown(fd, SHUT_WR);
                half_closed = true;
            }
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        double wait = t0 + timeout - now;
        if (sending) {
            if (trickle_ms == 0)
                pfd.events |= POLLOUT;
            else if (next_send - now < wait)
                wait = next_send > now ? next_send - now : 0;
        }
        int pr = poll(&pfd, 1, (int)(wait * 1000) + 1);
        if (pr < 0 && errno != EINTR) {
            perror("http_probe: poll");
            return 1;
        }
        if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
            n = recv(fd, chunk, sizeof chunk, 0);
            if (n > 0) {
                append(&resp, chunk, (size_t)n);
                continue;
            }
            if (n == 0 || errno == ECONNRESET) {
                static char msg[64];
                snprintf(msg, sizeof msg, "[%s after %.3f s]", n == 0 ? "eof" : "reset",
                         now_s() - t0);
                end = msg;
                break;
            }
            if (errno != EAGAIN && errno != EINTR) {
                perror("http_probe: recv");
                return 1;
            }
        }
        if (sending && (trickle_ms == 0 || now_s() >= next_send)) {
            size_t len = trickle_ms > 0 ? 1 : req.len - sent;
            n = send(fd, req.p + sent, len, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) {
                sent += (size_t)n;
                next_send = now_s() + (double)trickle_ms / 1000;
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                sending = false; /* the server stopped listening: read what it said */
            }
        }
    }
    print_responses(&resp, head, body);
    printf("%s\n", end);
    if (body != NULL)
        fclose(body);
    close(fd);
    free(req.p);
    free(resp.p);
    return 0;
}
