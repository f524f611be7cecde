/* fetch_badserver: an HTTP/1.1 server that misbehaves on request, for corio-fetch's tests.
 * Plain C, blocking sockets, one thread per connection; no corio.
 *
 *   fetch_badserver [--port P]     serve on 127.0.0.1 (port 0: any free port)
 *   fetch_badserver --pattern N    print the N-byte body /length/N and /chunked/N send
 *
 * Prints "listening on http://127.0.0.1:P" (corio-httpd's listening line: see
 * examples/serving.h) then "refused_port R" on stdout: R is a socket bound but not
 * listening, held for the server's life, so connecting to it is always refused. Runs until
 * killed.
 * The behaviour is chosen by the request path; everything is keep-alive unless said:
 *   /hello             200 "hello\n"
 *   /length/N          200, Content-Length N, the pattern body
 *   /chunked/N         200, chunked, the pattern body in chunks of varying size (1, 2, 3, ...,
 *                      with extensions, size lines split across writes) and two trailers
 *   /eof/N             200, no length, N pattern bytes, then close
 *   /close             200 "bye\n" with Connection: close, then close
 *   /silent-close      200 "bye\n" as if keep-alive, then close (a reused connection fails)
 *   /status/N          status N, body "status N\n"
 *   /flaky/ID/K        503 the first K times /flaky/ID/... is asked, then 200 "recovered\n"
 *   /redirect/K        K > 0: 302 to /redirect/K-1; K = 0: 200 "redirected\n"
 *   /redirect-abs      301 to http://127.0.0.1:PORT/hello
 *   /redirect-rel/a/b  302 to ../../hello (relative)
 *   /redirect-loop     302 to itself
 *   /redirect-https    302 to https://127.0.0.1/
 *   /reset             reads the request, then resets the connection (RST)
 *   /stall             reads the request, then never answers (until the client leaves)
 *   /close-mid-body    Content-Length 1000, 100 bytes, then close
 *   /garbage           a line that is not HTTP, then close
 *   /lie-long          Content-Length 100, 10 bytes, then silence (the connection stays)
 *   /lie-short         Content-Length 3, then 10 bytes
 *   /bad-chunk         chunked, with a chunk size that is not hex
 *   /echo              200, the request head as the body
 *   /stats             200 "connections C requests R\n" (counted since start)
 *   anything else      200, the path and "\n"
 * HEAD gets every head without its body. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static atomic_ulong connections, requests;
static unsigned port;

static pthread_mutex_t flaky_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char id[32];
    unsigned count;
} flaky[64];

static unsigned char pattern_byte(size_t i)
{
    return (unsigned char)((i * 7 + i / 251) & 0xff);
}

static bool send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static bool send_str(int fd, const char *s)
{
    return send_all(fd, s, strlen(s));
}

static bool send_pattern(int fd, size_t from, size_t n)
{
    unsigned char buf[8192];
    while (n > 0) {
        size_t k = n < sizeof buf ? n : sizeof buf;
        for (size_t i = 0; i < k; i++)
            buf[i] = pattern_byte(from + i);
        if (!send_all(fd, buf, k))
            return false;
        from += k;
        n -= k;
    }
    return true;
}

/* Sends a head with a Content-Length and (unless HEAD) the body. */
static bool reply(int fd, bool head, int status, const char *extra, const char *body)
{
    char h[512];
    snprintf(h, sizeof h, "HTTP/1.1 %d X\r\nServer: badserver\r\nContent-Length: %zu\r\n%s\r\n",
             status, strlen(body), extra);
    return send_str(fd, h) && (head || send_str(fd, body));
}

/* Waits until the client closes (or resets); used by the modes that go silent. */
static void wait_for_close(int fd)
{
    char buf[4096];
    while (recv(fd, buf, sizeof buf, 0) > 0) {
    }
}

static bool chunked(int fd, bool head, size_t n)
{
    if (!send_str(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                      "Trailer: X-One\r\n\r\n"))
        return false;
    if (head)
        return true;
    size_t off = 0, size = 1;
    for (unsigned k = 0; off < n; k++) {
        size_t c = n - off < size ? n - off : size;
        char line[64];
        snprintf(line, sizeof line, k % 3 == 0 ? "%zx;k=%u;q=\"a;b\"\r\n" : "%zX\r\n", c, k);
        if (k % 4 == 1) {
            /* The size line in two writes, so it may arrive in two pieces. */
            size_t half = strlen(line) / 2;
            if (!send_all(fd, line, half))
                return false;
            usleep(200);
            if (!send_str(fd, line + half))
                return false;
        } else if (!send_str(fd, line)) {
            return false;
        }
        if (!send_pattern(fd, off, c) || !send_str(fd, "\r\n"))
            return false;
        off += c;
        size = size < 4096 ? size * 2 + 1 : 1;
    }
    return send_str(fd, "0;end\r\nX-One: 1\r\nX-Two: 2\r\n\r\n");
}

/* Serves one request; returns false when the connection is to be closed. */
static bool serve(int fd, const char *req, size_t req_len)
{
    char method[16], path[4096];
    if (sscanf(req, "%15s %4095s", method, path) != 2)
        return false;
    atomic_fetch_add(&requests, 1);
    bool head = strcmp(method, "HEAD") == 0;
    unsigned long n;
    unsigned k;
    char id[32], extra[256], body[512];
    if (strcmp(path, "/hello") == 0)
        return reply(fd, head, 200, "", "hello\n");
    if (sscanf(path, "/length/%lu", &n) == 1) {
        char h[128];
        snprintf(h, sizeof h, "HTTP/1.1 200 OK\r\nContent-Length: %lu\r\n\r\n", n);
        return send_str(fd, h) && (head || send_pattern(fd, 0, n));
    }
    if (sscanf(path, "/chunked/%lu", &n) == 1)
        return chunked(fd, head, n);
    if (sscanf(path, "/eof/%lu", &n) == 1) {
        if (send_str(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n") && !head)
            send_pattern(fd, 0, n);
        return false;
    }
    if (strcmp(path, "/silent-close") == 0) {
        reply(fd, head, 200, "", "bye\n");
        return false;
    }
    if (strcmp(path, "/close") == 0) {
        reply(fd, head, 200, "Connection: close\r\n", "bye\n");
        return false;
    }
    if (sscanf(path, "/status/%u", &k) == 1) {
        snprintf(body, sizeof body, "status %u\n", k);
        return reply(fd, head, (int)k, "", body);
    }
    if (sscanf(path, "/flaky/%31[^/]/%u", id, &k) == 2) {
        pthread_mutex_lock(&flaky_lock);
        unsigned seen = 0;
        for (size_t i = 0; i < sizeof flaky / sizeof flaky[0]; i++)
            if (flaky[i].id[0] == '\0' || strcmp(flaky[i].id, id) == 0) {
                snprintf(flaky[i].id, sizeof flaky[i].id, "%s", id);
                seen = flaky[i].count++;
                break;
            }
        pthread_mutex_unlock(&flaky_lock);
        return seen < k ? reply(fd, head, 503, "", "try again\n")
                        : reply(fd, head, 200, "", "recovered\n");
    }
    if (sscanf(path, "/redirect/%u", &k) == 1) {
        if (k == 0)
            return reply(fd, head, 200, "", "redirected\n");
        snprintf(extra, sizeof extra, "Location: /redirect/%u\r\n", k - 1);
        return reply(fd, head, 302, extra, "moved\n");
    }
    if (strcmp(path, "/redirect-abs") == 0) {
        snprintf(extra, sizeof extra, "Location: http://127.0.0.1:%u/hello\r\n", port);
        return reply(fd, head, 301, extra, "moved\n");
    }
    if (strncmp(path, "/redirect-rel/", 14) == 0)
        return reply(fd, head, 302, "Location: ../../hello\r\n", "moved\n");
    if (strcmp(path, "/redirect-loop") == 0)
        return reply(fd, head, 302, "Location: /redirect-loop\r\n", "again\n");
    if (strcmp(path, "/redirect-https") == 0)
        return reply(fd, head, 302, "Location: https://127.0.0.1/\r\n", "moved\n");
    if (strcmp(path, "/reset") == 0) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        return false; /* the close sends RST */
    }
    if (strcmp(path, "/stall") == 0) {
        wait_for_close(fd);
        return false;
    }
    if (strcmp(path, "/close-mid-body") == 0) {
        if (send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"))
            send_pattern(fd, 0, 100);
        return false;
    }
    if (strcmp(path, "/garbage") == 0) {
        send_str(fd, "this is not HTTP at all\r\nreally not\r\n\r\n");
        return false;
    }
    if (strcmp(path, "/lie-long") == 0) {
        if (send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"))
            wait_for_close(fd);
        return false;
    }
    if (strcmp(path, "/lie-short") == 0)
        return send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n0123456789");
    if (strcmp(path, "/bad-chunk") == 0) {
        send_str(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
                     "zz\r\nxx\r\n0\r\n\r\n");
        return false;
    }
    if (strcmp(path, "/echo") == 0) {
        char h[128];
        snprintf(h, sizeof h, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", req_len);
        return send_str(fd, h) && (head || send_all(fd, req, req_len));
    }
    if (strcmp(path, "/stats") == 0) {
        snprintf(body, sizeof body, "connections %lu requests %lu\n", atomic_load(&connections),
                 atomic_load(&requests));
        return reply(fd, head, 200, "", body);
    }
    snprintf(body, sizeof body, "%.500s\n", path);
    return reply(fd, head, 200, "", body);
}

static void *connection(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[16384];
    size_t len = 0;
    for (;;) {
        char *end = len > 0 ? memmem(buf, len, "\r\n\r\n", 4) : NULL;
        if (end == NULL) {
            if (len == sizeof buf)
                break;
            ssize_t n = recv(fd, buf + len, sizeof buf - len, 0);
            if (n <= 0)
                break;
            len += (size_t)n;
            continue;
        }
        size_t req_len = (size_t)(end + 4 - buf);
        char req[sizeof buf + 1];
        memcpy(req, buf, req_len);
        req[req_len] = '\0';
        memmove(buf, buf + req_len, len - req_len); /* requests carry no body here */
        len -= req_len;
        if (!serve(fd, req, req_len))
            break;
    }
    close(fd);
    return NULL;
}

static int bind_loopback(unsigned want, bool do_listen, unsigned *bound)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)want)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || (do_listen && listen(fd, 1024) < 0)) {
        perror("fetch_badserver: bind");
        exit(1);
    }
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    *bound = ntohs(sa.sin_port);
    return fd;
}

int main(int argc, char **argv)
{
    unsigned want = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            want = (unsigned)atoi(argv[++i]);
        } else if (strcmp(argv[i], "--pattern") == 0 && i + 1 < argc) {
            size_t n = strtoul(argv[++i], NULL, 10);
            for (size_t k = 0; k < n; k++)
                putchar(pattern_byte(k));
            return 0;
        } else {
            fprintf(stderr, "usage: fetch_badserver [--port P] | --pattern N\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    unsigned refused;
    int lfd = bind_loopback(want, true, &port);
    int rfd = bind_loopback(0, false, &refused); /* bound, never listening: refuses */
    printf("listening on http://127.0.0.1:%u\nrefused_port %u\n", port, refused);
    fflush(stdout);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE)
                usleep(10000);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        atomic_fetch_add(&connections, 1);
        pthread_t t;
        if (pthread_create(&t, &attr, connection, (void *)(intptr_t)fd) != 0)
            close(fd);
    }
    (void)rfd;
}
