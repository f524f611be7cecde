/* consumer_http: a program that knows libcorio-http only as an installed package, built by
 * tests/package/test_install.sh through pkg-config corio-http and find_package(corio)
 * (corio::http). A server (corio/http_server.h) on a free 127.0.0.1 port echoes request
 * bodies; a client (corio/http_client.h) posts to it; a TLS context is refused a missing
 * certificate with its reason. Prints one line:
 *   corio-http: 200 pong:ping, tls refuses a missing file
 * Exits 0, 1 on a failure, 77 when io_uring is unavailable here (ctest: skipped). */
#include <corio/corio.h>
#include <corio/http.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct run {
    corio_http_server_t *srv;
    int listen_fd, port, status;
    char body[64];
};

static int handle(corio_http_request_t *req, corio_http_response_t *resp, void *arg)
{
    (void)arg;
    char buf[64] = "pong:";
    ssize_t n = corio_http_request_read(req, buf + 5, sizeof buf - 6);
    if (n < 0)
        return (int)n;
    return corio_http_response_send(resp, 200, "text/plain", buf, 5 + (size_t)n);
}

static void *serve(void *arg)
{
    struct run *r = arg;
    return (void *)(intptr_t)corio_http_server_serve(r->srv, r->listen_fd, NULL);
}

static void *client(void *arg)
{
    struct run *r = arg;
    corio_http_client_t *c;
    if (corio_http_client_new(&c, NULL) == 0) {
        char url[64];
        snprintf(url, sizeof url, "http://127.0.0.1:%d/", r->port);
        corio_http_client_resp_t resp;
        corio_http_client_resp_init(&resp);
        corio_http_client_req_t req = {.url = url, .body = "ping", .body_len = 4};
        if (corio_http_client_do(c, &req, &resp) == 0) {
            r->status = resp.status;
            snprintf(r->body, sizeof r->body, "%.*s", (int)resp.body_len, (const char *)resp.body);
        } else {
            fprintf(stderr, "%s\n", corio_http_client_resp_error(&resp));
        }
        corio_http_client_resp_free(&resp);
        corio_http_client_free(c);
    }
    corio_http_server_stop(r->srv, false);
    return NULL;
}

int main(void)
{
    corio_loop_t *loop;
    int err = corio_loop_new(&loop, NULL);
    if (err < 0) {
        printf("%s\n", corio_loop_setup_hint(err));
        return err == -ENOSYS || err == -EPERM ? 77 : 1;
    }
    struct run r = {.listen_fd = corio_listen("127.0.0.1", 0, -1)};
    corio_http_server_config_t cfg = {.handler = handle};
    if (r.listen_fd < 0 || corio_http_server_new(&r.srv, &cfg) < 0)
        return 1;
    r.port = corio_sock_port(r.listen_fd);
    if (corio_spawn(loop, serve, &r, NULL) < 0 || corio_spawn(loop, client, &r, NULL) < 0 ||
        corio_loop_run(loop) < 0)
        return 1;
    corio_http_server_free(r.srv);
    corio_loop_free(loop);

    corio_tls_ctx_t *ctx;
    char why[256];
    corio_tls_config_t tc = {.role = CORIO_TLS_SERVER, .cert_file = "/nonexistent/cert.pem"};
    bool refused = corio_tls_ctx_new(&ctx, &tc, why, sizeof why) == -ENOENT &&
                   strstr(why, "/nonexistent/cert.pem") != NULL;
    printf("corio-http: %d %s, tls %s\n", r.status, r.body,
           refused ? "refuses a missing file" : why);
    return r.status == 200 && strcmp(r.body, "pong:ping") == 0 && refused ? 0 : 1;
}
