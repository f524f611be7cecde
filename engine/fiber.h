/* Fibers: the assembly context switch (engine/arch/) plus the stack bounds that
 * AddressSanitizer must be told about on every switch. Everything above this file
 * (tasks, tests, benchmarks) switches through corio_fiber_switch and never calls the
 * assembly directly, so the sanitizer annotations cannot be forgotten. */
#ifndef CORIO_FIBER_H
#define CORIO_FIBER_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define CORIO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORIO_ASAN 1
#endif
#endif

#ifdef CORIO_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

/* From engine/arch/switch_<arch>_<abi>.S; see the frame drawn there. */
void *corio_ctx_switch(void **save_sp, void *to_sp, void *arg);
void *corio_ctx_make(void *stack_top, void (*entry)(void *arg));

/* One side of a switch. A thread's own stack is a fiber too: zero-initialise it and it
 * is filled in by its first switch. */
struct corio_fiber {
    void *sp;             /* saved stack pointer while switched out */
    const void *stack_lo; /* lowest usable stack address (for ASan) */
    size_t stack_size;
#ifdef CORIO_ASAN
    void *fake_stack; /* ASan's fake frames of this fiber while it is switched out */
#endif
};

/* Prepares f to run entry(arg) on [stack_lo, stack_lo + size) at its first switch-in;
 * arg is the value passed to that first corio_fiber_switch. entry must never return: it
 * ends by corio_fiber_exit. */
static inline void corio_fiber_init(struct corio_fiber *f, void *stack_lo, size_t size,
                                    void (*entry)(void *arg))
{
    f->stack_lo = stack_lo;
    f->stack_size = size;
    f->sp = corio_ctx_make((char *)stack_lo + size, entry);
#ifdef CORIO_ASAN
    f->fake_stack = NULL;
#endif
}

#if defined(__x86_64__)
#if defined(__CET__) && (__CET__ & 1)
#define CORIO_RESUME_PAD "endbr64\n\t"
#else
#define CORIO_RESUME_PAD ""
#endif
/* corio_ctx_switch entered without `call`. The switch resumes the other side with an
 * indirect jump, not `ret`; entering it by `call` would leave an entry on the CPU's
 * return-stack buffer that no `ret` takes off, and every return the resumed code makes
 * afterwards would be predicted one frame off. Pushing the return address and jumping
 * keeps the buffer in step, and the indirect jump back is predicted from history.
 * To the compiler this is a call: every caller-saved register is clobbered. The red zone
 * below %rsp may hold the caller's data, so the pushed frame goes beneath it.
 * The optimiser does not know that other tasks run inside this asm statement. Within
 * one file that is safe: "memory" makes it reload anything that can be reached from
 * outside. It is not safe under link-time optimisation, where GCC proved that a
 * file-static variable of the *caller's* program could not change across the statement
 * and kept it in a register across switches; so the engine is never compiled for LTO
 * (-fno-lto in CMakeLists.txt), and the asm is only ever inlined into engine code. */
static inline __attribute__((always_inline)) void *corio_ctx_switch_jmp(void **save_sp, void *to_sp,
                                                                        void *arg)
{
    register void **rdi __asm__("rdi") = save_sp;
    register void *rsi __asm__("rsi") = to_sp;
    register void *rdx __asm__("rdx") = arg;
    register void *rax __asm__("rax");
    __asm__ volatile("leaq -128(%%rsp), %%rsp\n\t"
                     "leaq 1f(%%rip), %%rax\n\t"
                     "pushq %%rax\n\t"
                     "jmp corio_ctx_switch\n"
                     "1:\n\t" CORIO_RESUME_PAD "leaq 128(%%rsp), %%rsp"
                     : "=a"(rax), "+D"(rdi), "+S"(rsi), "+d"(rdx)
                     :
                     : "rcx", "r8", "r9", "r10", "r11", "memory", "cc", "xmm0", "xmm1", "xmm2",
                       "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
                       "xmm12", "xmm13", "xmm14", "xmm15"
#ifdef __AVX512F__
                       ,
                       "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23",
                       "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31", "k1",
                       "k2", "k3", "k4", "k5", "k6", "k7"
#endif
    );
    return rax;
}
#else
#define corio_ctx_switch_jmp corio_ctx_switch
#endif

/* Suspends `from` and resumes `to`; returns the arg given by whoever resumes `from`. */
static inline void *corio_fiber_switch(struct corio_fiber *from, struct corio_fiber *to, void *arg)
{
#ifdef CORIO_ASAN
    __sanitizer_start_switch_fiber(&from->fake_stack, to->stack_lo, to->stack_size);
    arg = corio_ctx_switch_jmp(&from->sp, to->sp, arg);
    __sanitizer_finish_switch_fiber(from->fake_stack, NULL, NULL);
    return arg;
#else
    return corio_ctx_switch_jmp(&from->sp, to->sp, arg);
#endif
}

/* Leaves `from` for good (its stack may be reused once `to` runs) and resumes `to`. */
__attribute__((noreturn)) static inline void corio_fiber_exit(struct corio_fiber *from,
                                                              struct corio_fiber *to, void *arg)
{
#ifdef CORIO_ASAN
    /* NULL fake-stack slot: ASan frees this fiber's fake frames now. */
    __sanitizer_start_switch_fiber(NULL, to->stack_lo, to->stack_size);
#endif
    corio_ctx_switch(&from->sp, to->sp, arg);
    __builtin_unreachable();
}

/* First call in a fiber's entry function: completes the switch that started it and
 * records the bounds of the fiber it came from (a thread stack has none until now). */
static inline void corio_fiber_started(struct corio_fiber *came_from)
{
#ifdef CORIO_ASAN
    const void *lo;
    size_t size;
    __sanitizer_finish_switch_fiber(NULL, &lo, &size);
    if (came_from->stack_lo == NULL) {
        came_from->stack_lo = lo;
        came_from->stack_size = size;
    }
#else
    (void)came_from;
#endif
}

#endif
