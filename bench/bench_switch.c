/* Context-switch benchmarks: a ping-pong between the main context and one coroutine
 * through corio's switch, ucontext's swapcontext and boost.context's jump_fcontext, in
 * one run. One iteration is a round trip: two switches. */
#include "bench.h"

#include "fiber.h"
#include "stack.h"

#include <stdlib.h>
#include <ucontext.h>

#define STACK_SIZE (64 * 1024)

/* ---- corio ------------------------------------------------------------------------ */

static struct corio_fiber main_fiber, co_fiber;

static void corio_partner(void *arg)
{
    (void)arg;
    corio_fiber_started(&main_fiber);
    for (;;)
        corio_fiber_switch(&co_fiber, &main_fiber, NULL);
}

static void bench_corio(corio_bench_state_t *st, void *arg)
{
    (void)arg;
    struct corio_stack_pool pool;
    struct corio_stack *stack;
    if (corio_stack_pool_init(&pool, STACK_SIZE, 1) != 0 || corio_stack_get(&pool, &stack) != 0) {
        corio_bench_skip(st, "cannot map a stack");
        return;
    }
    corio_fiber_init(&co_fiber, stack->lo, stack->size, corio_partner);
    for (uint64_t n = corio_bench_start(st); n > 0; n--)
        corio_fiber_switch(&main_fiber, &co_fiber, NULL);
    corio_bench_stop(st);
    corio_bench_counter(st, "per_switch", 2,
                        CORIO_BENCH_PER_ITER | CORIO_BENCH_RATE | CORIO_BENCH_INVERT);
    /* The partner stays parked in its switch; nothing runs on its stack any more. */
    corio_stack_put(&pool, stack);
    corio_stack_pool_destroy(&pool);
}

/* ---- swapcontext ------------------------------------------------------------------ */

static ucontext_t uc_main, uc_co;

static void uc_partner(void)
{
    for (;;)
        swapcontext(&uc_co, &uc_main);
}

static void bench_swapcontext(corio_bench_state_t *st, void *arg)
{
    (void)arg;
    void *stack = malloc(STACK_SIZE);
    getcontext(&uc_co);
    uc_co.uc_stack.ss_sp = stack;
    uc_co.uc_stack.ss_size = STACK_SIZE;
    uc_co.uc_link = NULL;
    makecontext(&uc_co, uc_partner, 0);
    for (uint64_t n = corio_bench_start(st); n > 0; n--)
        swapcontext(&uc_main, &uc_co);
    corio_bench_stop(st);
    corio_bench_counter(st, "per_switch", 2,
                        CORIO_BENCH_PER_ITER | CORIO_BENCH_RATE | CORIO_BENCH_INVERT);
    free(stack);
}

/* ---- boost.context ---------------------------------------------------------------- */

#ifdef CORIO_HAVE_BOOST_CONTEXT
/* extern "C" in libboost_context; the declarations are C++-only, so restated here. */
typedef void *fcontext_t;
typedef struct {
    fcontext_t fctx;
    void *data;
} transfer_t;
transfer_t jump_fcontext(fcontext_t const to, void *vp);
fcontext_t make_fcontext(void *sp, size_t size, void (*fn)(transfer_t));

static void boost_partner(transfer_t t)
{
    for (;;)
        t = jump_fcontext(t.fctx, NULL);
}
#endif

static void bench_boost(corio_bench_state_t *st, void *arg)
{
    (void)arg;
#ifdef CORIO_HAVE_BOOST_CONTEXT
    char *stack = malloc(STACK_SIZE);
    fcontext_t co = make_fcontext(stack + STACK_SIZE, STACK_SIZE, boost_partner);
    for (uint64_t n = corio_bench_start(st); n > 0; n--)
        co = jump_fcontext(co, NULL).fctx;
    corio_bench_stop(st);
    corio_bench_counter(st, "per_switch", 2,
                        CORIO_BENCH_PER_ITER | CORIO_BENCH_RATE | CORIO_BENCH_INVERT);
    free(stack);
#else
    corio_bench_skip(st, "boost.context not installed (apt-get install libboost-context-dev)");
#endif
}

void bench_switch_register(void)
{
    corio_bench_register("switch/corio", bench_corio, NULL);
    corio_bench_register("switch/boost_context", bench_boost, NULL);
    corio_bench_register("switch/swapcontext", bench_swapcontext, NULL);
}

void bench_switch_summary(void)
{
    double corio = corio_bench_result_ns("switch/corio") / 2;
    double boost = corio_bench_result_ns("switch/boost_context") / 2;
    double uc = corio_bench_result_ns("switch/swapcontext") / 2;
    bench_line("context switch, ns per switch", "corio", corio, "boost.context", boost);
    bench_line("context switch, ns per switch", "corio", corio, "swapcontext", uc);
}
