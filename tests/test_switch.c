/* Tests of the context switch (engine/arch/ through engine/fiber.h): callee-saved
 * registers and floating-point control survive, new contexts start aligned, and many
 * live contexts switch correctly. Runs natively and under qemu-aarch64. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fenv.h>
#include <stdlib.h>
#include <string.h>

#include "fiber.h"
#include "stack.h"

#if defined(__x86_64__)
#define NREGS 6 /* rbx rbp r12-r15 */
#include <xmmintrin.h>
#elif defined(__aarch64__)
#define NREGS 19 /* x19-x29, d8-d15 */
#endif

void *corio_test_switch_regs(void **save, void *to, void *arg, const uint64_t *in, uint64_t *out);
uintptr_t corio_test_caller_sp(void);

static struct corio_stack_pool pool;

static int setup(void **state)
{
    (void)state;
    return corio_stack_pool_init(&pool, corio_stack_default_size(), 4096);
}

static int teardown(void **state)
{
    (void)state;
    corio_stack_pool_destroy(&pool);
    return 0;
}

/* A fiber on a pooled stack. */
struct test_fiber {
    struct corio_fiber f;
    struct corio_stack *stack;
};

static void fiber_start(struct test_fiber *t, void (*entry)(void *))
{
    assert_int_equal(corio_stack_get(&pool, &t->stack), 0);
    corio_fiber_init(&t->f, t->stack->lo, t->stack->size, entry);
}

/* ---- callee-saved registers ------------------------------------------------------- */

static struct corio_fiber main_fiber;
static struct test_fiber regs_fiber;
static uint64_t fiber_in[NREGS], fiber_out[NREGS];

/* The probe switches in assembly; tell ASan about it as corio_fiber_switch would. */
static void *switch_regs(struct corio_fiber *from, struct corio_fiber *to, void *arg,
                         const uint64_t *in, uint64_t *out)
{
#ifdef CORIO_ASAN
    __sanitizer_start_switch_fiber(&from->fake_stack, to->stack_lo, to->stack_size);
#endif
    arg = corio_test_switch_regs(&from->sp, to->sp, arg, in, out);
#ifdef CORIO_ASAN
    __sanitizer_finish_switch_fiber(from->fake_stack, NULL, NULL);
#endif
    return arg;
}

static void fill(uint64_t *regs, uint64_t seed)
{
    for (int i = 0; i < NREGS; i++)
        regs[i] = seed * 0x9e3779b97f4a7c15ull + (uint64_t)i * 0x0101010101010101ull;
}

/* The other side: loads its own pattern into every callee-saved register, switches
 * back to main, and checks its pattern when main comes back. Three rounds. */
static void regs_entry(void *arg)
{
    corio_fiber_started(&main_fiber);
    assert_ptr_equal(arg, &regs_fiber);
    for (int round = 0; round < 3; round++) {
        fill(fiber_in, 1000 + (uint64_t)round);
        memset(fiber_out, 0, sizeof fiber_out);
        switch_regs(&regs_fiber.f, &main_fiber, (void *)(uintptr_t)round, fiber_in, fiber_out);
        assert_memory_equal(fiber_in, fiber_out, sizeof fiber_in);
    }
    corio_fiber_exit(&regs_fiber.f, &main_fiber, NULL);
}

static void test_callee_saved_registers_survive(void **state)
{
    (void)state;
    uint64_t in[NREGS], out[NREGS];
    fiber_start(&regs_fiber, regs_entry);
    void *arg = &regs_fiber;
    for (int round = 0; round < 4; round++) {
        fill(in, 7 + (uint64_t)round);
        memset(out, 0, sizeof out);
        void *got = switch_regs(&main_fiber, &regs_fiber.f, arg, in, out);
        /* The fiber clobbered every register with its own pattern in between. */
        assert_memory_equal(in, out, sizeof in);
        if (round < 3)
            assert_int_equal((uintptr_t)got, round); /* the value handed across */
        arg = NULL;
    }
    corio_stack_put(&pool, regs_fiber.stack);
}

/* ---- floating-point control --------------------------------------------------------- */

static struct test_fiber fp_fiber;
static volatile int fp_seen[3];

static void fp_entry(void *arg)
{
    (void)arg;
    corio_fiber_started(&main_fiber);
    fp_seen[0] = fegetround(); /* inherited from the creator at corio_ctx_make time */
    fesetround(FE_TOWARDZERO);
    corio_fiber_switch(&fp_fiber.f, &main_fiber, NULL);
    fp_seen[1] = fegetround(); /* main switched in FE_UPWARD: must not leak here */
#if defined(__x86_64__)
    fp_seen[2] = (int)(_mm_getcsr() & 0x6000); /* MXCSR rounding bits */
#endif
    corio_fiber_exit(&fp_fiber.f, &main_fiber, NULL);
}

static void test_fp_control_is_per_context(void **state)
{
    (void)state;
    fesetround(FE_TONEAREST);
    fiber_start(&fp_fiber, fp_entry);
    fesetround(FE_UPWARD);
    corio_fiber_switch(&main_fiber, &fp_fiber.f, NULL);
    assert_int_equal(fp_seen[0], FE_TONEAREST);
    assert_int_equal(fegetround(), FE_UPWARD); /* the fiber's FE_TOWARDZERO stayed there */
#if defined(__x86_64__)
    assert_int_equal(_mm_getcsr() & 0x6000, 0x4000); /* MXCSR round-up */
#endif
    corio_fiber_switch(&main_fiber, &fp_fiber.f, NULL);
    assert_int_equal(fp_seen[1], FE_TOWARDZERO);
#if defined(__x86_64__)
    assert_int_equal(fp_seen[2], 0x6000); /* MXCSR round-toward-zero */
#endif
    assert_int_equal(fegetround(), FE_UPWARD);
    fesetround(FE_TONEAREST);
    corio_stack_put(&pool, fp_fiber.stack);
}

#if defined(__x86_64__)
/* The switch loads MXCSR and the x87 control word only when they differ from the side it
 * leaves: each must still be restored when it alone differs. */
static struct test_fiber fp1_fiber;
static volatile unsigned fp1_seen_mxcsr;
static volatile unsigned short fp1_seen_cw;

static unsigned short x87_cw(void)
{
    unsigned short cw;
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    return cw;
}

static void set_x87_cw(unsigned short cw)
{
    __asm__ volatile("fldcw %0" : : "m"(cw));
}

/* MXCSR rounding control (not FTZ/DAZ, which valgrind does not model): toward zero. */
#define MXCSR_RC_MASK 0x6000u
#define MXCSR_RC_ZERO 0x6000u
#define X87_RC_MASK   0x0c00u /* x87 rounding control (valgrind ignores precision control) */
#define X87_RC_ZERO   0x0c00u

static void fp1_entry(void *arg)
{
    (void)arg;
    corio_fiber_started(&main_fiber);
    _mm_setcsr((_mm_getcsr() & ~MXCSR_RC_MASK) | MXCSR_RC_ZERO); /* MXCSR only */
    corio_fiber_switch(&fp1_fiber.f, &main_fiber, NULL);
    fp1_seen_mxcsr = _mm_getcsr();
    _mm_setcsr(_mm_getcsr() & ~MXCSR_RC_MASK); /* back to round-to-nearest */
    set_x87_cw((unsigned short)((x87_cw() & ~X87_RC_MASK) | X87_RC_ZERO)); /* x87 only */
    corio_fiber_switch(&fp1_fiber.f, &main_fiber, NULL);
    fp1_seen_cw = x87_cw();
    corio_fiber_exit(&fp1_fiber.f, &main_fiber, NULL);
}

static void test_fp_control_restored_when_only_one_differs(void **state)
{
    (void)state;
    fesetround(FE_TONEAREST); /* a known start, whatever an earlier test left */
    unsigned mxcsr = _mm_getcsr();
    unsigned short cw = x87_cw();
    fiber_start(&fp1_fiber, fp1_entry);
    corio_fiber_switch(&main_fiber, &fp1_fiber.f, NULL);
    assert_int_equal(_mm_getcsr(), mxcsr); /* the fiber's rounding stayed with it */
    assert_int_equal(x87_cw(), cw);
    corio_fiber_switch(&main_fiber, &fp1_fiber.f, NULL);
    assert_int_equal(fp1_seen_mxcsr & MXCSR_RC_MASK, MXCSR_RC_ZERO);
    assert_int_equal(x87_cw(), cw); /* the fiber's x87 rounding stayed with it */
    assert_int_equal(_mm_getcsr(), mxcsr);
    corio_fiber_switch(&main_fiber, &fp1_fiber.f, NULL);
    assert_int_equal(fp1_seen_cw & X87_RC_MASK, X87_RC_ZERO);
    assert_int_equal(x87_cw(), cw);
    corio_stack_put(&pool, fp1_fiber.stack);
}
#endif

/* ---- alignment ------------------------------------------------------------------------ */

static struct test_fiber align_fiber;
static uintptr_t entry_sp;
static double aligned_sum;

/* With optimisation the compiler uses aligned vector loads and stores for this array
 * (movaps / q-register pairs): run on a misaligned stack it would fault. */
__attribute__((noinline)) static double use_aligned_locals(double seed)
{
    _Alignas(16) volatile double v[8];
    for (int i = 0; i < 8; i++)
        v[i] = seed * i;
    double s = 0;
    for (int i = 0; i < 8; i++)
        s += v[i];
    return s;
}

static void align_entry(void *arg)
{
    (void)arg;
    corio_fiber_started(&main_fiber);
    entry_sp = corio_test_caller_sp();
    aligned_sum = use_aligned_locals(1.5);
    corio_fiber_exit(&align_fiber.f, &main_fiber, NULL);
}

static void test_new_context_stack_is_aligned(void **state)
{
    (void)state;
    fiber_start(&align_fiber, align_entry);
    corio_fiber_switch(&main_fiber, &align_fiber.f, NULL);
    assert_int_equal(entry_sp % 16, 0);
    assert_true(entry_sp > (uintptr_t)align_fiber.stack->lo);
    assert_true(entry_sp < (uintptr_t)align_fiber.stack->lo + align_fiber.stack->size);
    assert_true(aligned_sum == 1.5 * 28);
    corio_stack_put(&pool, align_fiber.stack);
}

/* ---- many contexts in a ring ---------------------------------------------------------- */

#define RING 2000
#define LAPS 20

static struct test_fiber ring[RING];
static unsigned ring_visits[RING];
static unsigned long ring_step;
static int ring_order_ok = 1;

static void ring_entry(void *arg)
{
    size_t me = (size_t)(uintptr_t)arg;
    corio_fiber_started(&main_fiber);
    for (int lap = 0; lap < LAPS; lap++) {
        /* Each fiber runs exactly when the global step says it is its turn. */
        if (ring_step % RING != me)
            ring_order_ok = 0;
        ring_visits[me]++;
        ring_step++;
        size_t next = (me + 1) % RING;
        if (next == 0) /* end of a lap: back to main, which restarts the ring */
            corio_fiber_switch(&ring[me].f, &main_fiber, NULL);
        else
            corio_fiber_switch(&ring[me].f, &ring[next].f, (void *)(uintptr_t)next);
    }
    corio_fiber_exit(&ring[me].f, &main_fiber, NULL);
}

static void test_thousands_of_contexts_in_a_ring(void **state)
{
    (void)state;
    for (size_t i = 0; i < RING; i++)
        fiber_start(&ring[i], ring_entry);
    for (int lap = 0; lap < LAPS; lap++)
        corio_fiber_switch(&main_fiber, &ring[0].f, (void *)(uintptr_t)0);
    /* Every fiber is now parked in its last switch; none runs on its stack any more. */
    for (size_t i = 0; i < RING; i++)
        assert_int_equal(ring_visits[i], LAPS);
    assert_true(ring_order_ok);
    assert_int_equal(ring_step, (unsigned long)RING * LAPS);
    for (size_t i = 0; i < RING; i++)
        corio_stack_put(&pool, ring[i].stack);
}

/* ---- deep recursion --------------------------------------------------------------------- */

static struct test_fiber deep_fiber;
static unsigned long deep_result;

__attribute__((noinline)) static unsigned long recurse(unsigned depth)
{
    volatile unsigned char frame[256];
    for (size_t i = 0; i < sizeof frame; i++)
        frame[i] = (unsigned char)(depth + i);
    if (depth == 0)
        return frame[7];
    return recurse(depth - 1) + frame[depth % sizeof frame];
}

static void deep_entry(void *arg)
{
    unsigned depth = (unsigned)(uintptr_t)arg;
    corio_fiber_started(&main_fiber);
    deep_result = recurse(depth);
    corio_fiber_exit(&deep_fiber.f, &main_fiber, NULL);
}

static void test_deep_recursion_on_a_task_stack(void **state)
{
    (void)state;
    /* ~300 bytes a frame: 150 levels use ~45 KiB of the 64 KiB default (more under ASan,
     * whose default stack is larger). */
    const unsigned depth = 150;
    unsigned long expect = 0;
    for (unsigned d = depth; d > 0; d--)
        expect += (unsigned char)(d + d % 256);
    expect += 7;
    fiber_start(&deep_fiber, deep_entry);
    corio_fiber_switch(&main_fiber, &deep_fiber.f, (void *)(uintptr_t)depth);
    assert_int_equal(deep_result, expect);
    corio_stack_put(&pool, deep_fiber.stack);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_callee_saved_registers_survive),
        cmocka_unit_test(test_fp_control_is_per_context),
#if defined(__x86_64__)
        cmocka_unit_test(test_fp_control_restored_when_only_one_differs),
#endif
        cmocka_unit_test(test_new_context_stack_is_aligned),
        cmocka_unit_test(test_thousands_of_contexts_in_a_ring),
        cmocka_unit_test(test_deep_recursion_on_a_task_stack),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
