/* backend.h: how the tools (corio-echo, corio-httpd, corio-kv, corio-fetch) say which
 * kernel interface their loops run on, and why a loop could not be made. Header-only,
 * like serving.h.
 *
 * The backend line, on stderr:
 *
 *   TOOL: backend io_uring                              with --verbose
 *   TOOL: backend epoll (CORIO_BACKEND=epoll)           with --verbose: chosen on purpose
 *   TOOL: backend epoll (io_uring unavailable: HINT)    always: an automatic fallback
 *
 * HINT is corio_loop_setup_hint() of the error io_uring_setup gave (a seccomp profile
 * such as Docker's default, kernel.io_uring_disabled, a kernel without io_uring): a user
 * whose server is slower in a container learns why, and what would bring io_uring back.
 * The servers print it once (several loops run on one backend), before their listening
 * line. */
#ifndef CORIO_EXAMPLES_BACKEND_H
#define CORIO_EXAMPLES_BACKEND_H

#include <corio/corio.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* For the tools' --help. */
#define BACKEND_HELP                                                                               \
    "Backend: io_uring, or epoll where io_uring is blocked or absent (said on stderr, with\n"      \
    "the reason); CORIO_BACKEND=io_uring|epoll|auto in the environment chooses it\n"               \
    "(io_uring: fail to start rather than fall back).\n"

/* What a loop runs on: copied out of a live loop, so that another thread may report it
 * after the loop is gone (the name is a static string). */
struct backend_info {
    const char *name; /* "io_uring" or "epoll"; NULL: not known (no loop ran) */
    int fallback_err; /* corio_loop_fallback_error: why AUTO left io_uring; 0: it did not */
};

static inline struct backend_info backend_of(const corio_loop_t *loop)
{
    return (struct backend_info){corio_loop_backend(loop), corio_loop_fallback_error(loop)};
}

/* The backend line (see the top), if there is one to print: always after a fallback,
 * otherwise only when verbose. */
static inline void backend_say(const char *tool, struct backend_info b, bool verbose)
{
    const char *env = getenv("CORIO_BACKEND");
    if (b.name == NULL)
        return;
    if (b.fallback_err != 0)
        fprintf(stderr, "%s: backend %s (io_uring unavailable: %s)\n", tool, b.name,
                corio_loop_setup_hint(b.fallback_err));
    else if (verbose && env != NULL && *env != '\0')
        fprintf(stderr, "%s: backend %s (CORIO_BACKEND=%s)\n", tool, b.name, env);
    else if (verbose)
        fprintf(stderr, "%s: backend %s\n", tool, b.name);
}

/* CORIO_BACKEND when it is set to something corio_loop_new refuses; NULL otherwise. */
static inline const char *backend_env_invalid(void)
{
    const char *env = getenv("CORIO_BACKEND");
    if (env == NULL || *env == '\0' || strcmp(env, "io_uring") == 0 || strcmp(env, "epoll") == 0 ||
        strcmp(env, "auto") == 0)
        return NULL;
    return env;
}

/* Says on stderr why a loop could not be made (err from corio_loop_new or corio_run's
 * setup): a bad CORIO_BACKEND by name, io_uring demanded by CORIO_BACKEND=io_uring where
 * it cannot be set up, else corio_loop_setup_hint's cause and remedy. */
static inline void backend_say_loop_error(const char *tool, int err)
{
    const char *bad = backend_env_invalid();
    const char *env = getenv("CORIO_BACKEND");
    if (err == -EINVAL && bad != NULL)
        fprintf(stderr,
                "%s: CORIO_BACKEND=%s is not a backend: set it to io_uring, epoll or auto, "
                "or unset it\n",
                tool, bad);
    else if ((err == -EPERM || err == -EACCES || err == -ENOSYS) && env != NULL &&
             strcmp(env, "io_uring") == 0)
        fprintf(stderr, "%s: CORIO_BACKEND=io_uring, and io_uring cannot be set up: %s\n", tool,
                corio_loop_setup_hint(err));
    else
        fprintf(stderr, "%s: %s\n", tool, corio_loop_setup_hint(err));
}

#endif
