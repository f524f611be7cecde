/* corio context switch for x86-64, System V ABI, ELF, GNU as.
 *
 * A context is nothing but the stack pointer saved by corio_ctx_switch: everything
 * else the ABI makes callee-saved lives in a frame on that stack.
 *
 * Saved frame, at the saved stack pointer (byte offsets):
 *
 *   0x00  MXCSR (4 bytes), x87 control word (2 bytes), 2 bytes unused
 *   0x08  r12
 *   0x10  r13
 *   0x18  r14
 *   0x20  r15
 *   0x28  rbx
 *   0x30  rbp
 *   0x38  resume address (the return address of the call that saved the frame)
 *
 * The switch resumes with an indirect jump rather than `ret` (as boost.context does):
 * the return we would take is not the one the CPU's return-stack buffer predicted. For
 * the buffer to stay in step, the engine enters this function without `call` too: it
 * pushes its resume address and jumps (corio_ctx_switch_jmp in engine/fiber.h), so no
 * buffer entry is left behind. Entered with `call`, the switch still works; only the
 * resumed side's returns are then predicted one frame off. The resume address is loaded
 * first thing after the stack swap so the jump target is known early.
 *
 * MXCSR and the x87 control word are always saved, but loaded only when the incoming
 * frame's values differ from those just saved: the loads are microcoded, and without them
 * a switch costs well under two thirds as much (docs/DESIGN-NOTES.md).
 *
 * This file is not shadow-stack (CET SHSTK) aware, so it deliberately emits no
 * .note.gnu.property: the linker then leaves SHSTK unmarked for any program that links it.
 * endbr64 landing pads are emitted when the compiler enables IBT.
 */
#if defined(__CET__) && (__CET__ & 1)
#define LANDING_PAD endbr64
#else
#define LANDING_PAD
#endif

#define FRAME_SIZE 0x38

        .text

/* void *corio_ctx_switch(void **save_sp, void *to_sp, void *arg)
 * Saves the current context into *save_sp, resumes to_sp, and hands it arg: the resumed
 * side sees arg as the return value of its own corio_ctx_switch (or, on a fresh context,
 * as the argument of its entry function). */
        .globl  corio_ctx_switch
        .hidden corio_ctx_switch
        .type   corio_ctx_switch, @function
        .align  16
corio_ctx_switch:
        .cfi_startproc
        LANDING_PAD
        leaq    -FRAME_SIZE(%rsp), %rsp
        .cfi_adjust_cfa_offset FRAME_SIZE
        stmxcsr (%rsp)
        fnstcw  0x04(%rsp)
        movq    %r12, 0x08(%rsp)
        movq    %r13, 0x10(%rsp)
        movq    %r14, 0x18(%rsp)
        movq    %r15, 0x20(%rsp)
        movq    %rbx, 0x28(%rsp)
        movq    %rbp, 0x30(%rsp)

        movq    %rsp, (%rdi)
        movq    %rsp, %r9               /* the frame just saved */
        movq    %rsi, %rsp              /* from here on we are on the other stack */
        movq    0x38(%rsp), %r8         /* resume address */

        /* Load MXCSR and the x87 control word only when they differ from the values just
         * saved (they almost never do): both loads are microcoded and cost more than the
         * rest of the switch. Each compare reads back exactly one earlier store, of the
         * same size, so it is store-forwarded. */
        movl    (%rsp), %r10d
        cmpl    (%r9), %r10d
        jne     .Lload_mxcsr
.Lmxcsr_done:
        movzwl  0x04(%rsp), %r10d
        cmpw    0x04(%r9), %r10w
        jne     .Lload_fpucw
.Lfpucw_done:
        movq    0x08(%rsp), %r12
        movq    0x10(%rsp), %r13
        movq    0x18(%rsp), %r14
        movq    0x20(%rsp), %r15
        movq    0x28(%rsp), %rbx
        movq    0x30(%rsp), %rbp
        leaq    (FRAME_SIZE + 8)(%rsp), %rsp /* frame and resume address */
        .cfi_adjust_cfa_offset -(FRAME_SIZE + 8)
        .cfi_register rip, r8
        movq    %rdx, %rax              /* arg: return value of the resumed switch ... */
        movq    %rdx, %rdi              /* ... and first argument of a fresh entry */
        jmp     *%r8
.Lload_mxcsr:
        ldmxcsr (%rsp)
        jmp     .Lmxcsr_done
.Lload_fpucw:
        fldcw   0x04(%rsp)
        jmp     .Lfpucw_done
        .cfi_endproc
        .size   corio_ctx_switch, .-corio_ctx_switch

/* void *corio_ctx_make(void *stack_top, void (*entry)(void *arg))
 * Lays a first frame below stack_top so that switching to the returned context runs
 * entry(arg) on that stack, with the caller's current MXCSR and x87 control word.
 * entry must never return (the trampoline aborts if it does). */
        .globl  corio_ctx_make
        .hidden corio_ctx_make
        .type   corio_ctx_make, @function
        .align  16
corio_ctx_make:
        .cfi_startproc
        LANDING_PAD
        movq    %rdi, %rax
        andq    $-16, %rax
        /* frame + resume address + a zero "return address" slot for the trampoline, so
         * the trampoline runs with %rsp 16-byte aligned before its call */
        leaq    -(FRAME_SIZE + 0x18)(%rax), %rax
        stmxcsr (%rax)
        fnstcw  0x04(%rax)
        movq    %rsi, 0x08(%rax)        /* r12 = entry */
        xorl    %ecx, %ecx
        movq    %rcx, 0x10(%rax)
        movq    %rcx, 0x18(%rax)
        movq    %rcx, 0x20(%rax)
        movq    %rcx, 0x28(%rax)
        movq    %rcx, 0x30(%rax)        /* rbp = 0 ends the frame-pointer chain */
        leaq    corio_ctx_trampoline(%rip), %rcx
        movq    %rcx, 0x38(%rax)
        movq    $0, 0x40(%rax)
        movq    $0, 0x48(%rax)
        ret
        .cfi_endproc
        .size   corio_ctx_make, .-corio_ctx_make

/* First code a fresh context runs: call entry(arg), which must never return.
 * rip is undefined here so debuggers and unwinders stop at this frame. */
        .type   corio_ctx_trampoline, @function
        .align  16
corio_ctx_trampoline:
        .cfi_startproc
        .cfi_undefined rip
        LANDING_PAD
        callq   *%r12
        /* entry returned into nothing: there is no caller to go back to */
        callq   abort@PLT
        hlt
        .cfi_endproc
        .size   corio_ctx_trampoline, .-corio_ctx_trampoline

        .section .note.GNU-stack,"",%progbits
