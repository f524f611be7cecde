/* corio context switch for aarch64, AAPCS64, ELF, GNU as.
 *
 * A context is nothing but the stack pointer saved by corio_ctx_switch: everything
 * else the ABI makes callee-saved lives in a frame on that stack.
 *
 * Saved frame, at the saved stack pointer (byte offsets):
 *
 *   0x00  d8    0x08  d9    0x10  d10   0x18  d11
 *   0x20  d12   0x28  d13   0x30  d14   0x38  d15
 *   0x40  x19   0x48  x20   0x50  x21   0x58  x22
 *   0x60  x23   0x68  x24   0x70  x25   0x78  x26
 *   0x80  x27   0x88  x28
 *   0x90  x29 (frame pointer)
 *   0x98  x30 (link register: the resume address)
 *   0xa0  FPCR
 *   0xa8  unused (keeps sp 16-byte aligned)
 *
 * FPCR (rounding mode, flush-to-zero, ...) is kept per context. Writing FPCR can be
 * self-synchronising and slow on some cores, so it is written only when it differs.
 *
 * BTI landing pads and the GNU property note are emitted when the compiler enables BTI.
 */
#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define BTI_C hint 34
#else
#define BTI_C
#endif

#define FRAME_SIZE 0xb0

        .text

/* void *corio_ctx_switch(void **save_sp, void *to_sp, void *arg)
 * Saves the current context into *save_sp, resumes to_sp, and hands it arg: the resumed
 * side sees arg as the return value of its own corio_ctx_switch (or, on a fresh context,
 * as the argument of its entry function). */
        .globl  corio_ctx_switch
        .hidden corio_ctx_switch
        .type   corio_ctx_switch, %function
        .align  4
corio_ctx_switch:
        .cfi_startproc
        BTI_C
        sub     sp, sp, #FRAME_SIZE
        .cfi_def_cfa_offset FRAME_SIZE
        stp     d8,  d9,  [sp, #0x00]
        stp     d10, d11, [sp, #0x10]
        stp     d12, d13, [sp, #0x20]
        stp     d14, d15, [sp, #0x30]
        stp     x19, x20, [sp, #0x40]
        stp     x21, x22, [sp, #0x50]
        stp     x23, x24, [sp, #0x60]
        stp     x25, x26, [sp, #0x70]
        stp     x27, x28, [sp, #0x80]
        stp     x29, x30, [sp, #0x90]
        mrs     x9, fpcr
        str     x9, [sp, #0xa0]

        mov     x9, sp
        str     x9, [x0]
        mov     sp, x1                  /* from here on we are on the other stack */

        ldp     d8,  d9,  [sp, #0x00]
        ldp     d10, d11, [sp, #0x10]
        ldp     d12, d13, [sp, #0x20]
        ldp     d14, d15, [sp, #0x30]
        ldp     x19, x20, [sp, #0x40]
        ldp     x21, x22, [sp, #0x50]
        ldp     x23, x24, [sp, #0x60]
        ldp     x25, x26, [sp, #0x70]
        ldp     x27, x28, [sp, #0x80]
        ldp     x29, x30, [sp, #0x90]
        ldr     x10, [sp, #0xa0]
        mrs     x9, fpcr
        cmp     x9, x10
        b.eq    1f
        msr     fpcr, x10
1:      add     sp, sp, #FRAME_SIZE
        .cfi_def_cfa_offset 0
        mov     x0, x2                  /* arg: return value, or a fresh entry's argument */
        ret
        .cfi_endproc
        .size   corio_ctx_switch, .-corio_ctx_switch

/* void *corio_ctx_make(void *stack_top, void (*entry)(void *arg))
 * Lays a first frame below stack_top so that switching to the returned context runs
 * entry(arg) on that stack, with the caller's current FPCR.
 * entry must never return (the trampoline aborts if it does). */
        .globl  corio_ctx_make
        .hidden corio_ctx_make
        .type   corio_ctx_make, %function
        .align  4
corio_ctx_make:
        .cfi_startproc
        BTI_C
        and     x0, x0, #~0xf
        sub     x0, x0, #(FRAME_SIZE + 0x10)
        stp     xzr, xzr, [x0, #FRAME_SIZE]     /* terminal frame record: fp = lr = 0 */
        stp     x1,  xzr, [x0, #0x40]           /* x19 = entry */
        stp     xzr, xzr, [x0, #0x50]
        stp     xzr, xzr, [x0, #0x60]
        stp     xzr, xzr, [x0, #0x70]
        stp     xzr, xzr, [x0, #0x80]
        adr     x9, corio_ctx_trampoline
        stp     xzr, x9,  [x0, #0x90]           /* x29 = 0, x30 = trampoline */
        mrs     x9, fpcr
        str     x9, [x0, #0xa0]
        ret
        .cfi_endproc
        .size   corio_ctx_make, .-corio_ctx_make

/* First code a fresh context runs (reached by `ret`, which BTI does not check):
 * call entry(arg), which must never return. The link register is undefined here so
 * debuggers and unwinders stop at this frame. */
        .type   corio_ctx_trampoline, %function
        .align  4
corio_ctx_trampoline:
        .cfi_startproc
        .cfi_undefined x30
        blr     x19
        /* entry returned into nothing: there is no caller to go back to */
        bl      abort
        brk     #0
        .cfi_endproc
        .size   corio_ctx_trampoline, .-corio_ctx_trampoline

#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
/* GNU_PROPERTY_AARCH64_FEATURE_1_AND: this object is BTI-compatible. */
        .pushsection .note.gnu.property, "a"
        .balign 8
        .long   4
        .long   0x10
        .long   0x5                     /* NT_GNU_PROPERTY_TYPE_0 */
        .asciz  "GNU"
        .long   0xc0000000              /* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
        .long   4
        .long   1                       /* GNU_PROPERTY_AARCH64_FEATURE_1_BTI */
        .long   0
        .popsection
#endif

        .section .note.GNU-stack,"",%progbits
