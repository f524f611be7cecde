/* Test probes for x86-64: switch contexts with every callee-saved register holding a
 * known value, and read the stack pointer of a call site. */

/* void *corio_test_switch_regs(void **save, void *to, void *arg,
 *                              const uint64_t in[6], uint64_t out[6])
 * Loads rbx, rbp, r12-r15 from in[], calls corio_ctx_switch(save, to, arg) and, once
 * resumed, stores the same registers into out[]. A switch that loses any of them shows
 * as out[] != in[]. Returns what corio_ctx_switch returned. */
        .text
        .globl  corio_test_switch_regs
        .type   corio_test_switch_regs, @function
        .align  16
corio_test_switch_regs:
        pushq   %rbp
        pushq   %rbx
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        pushq   %r8                     /* out; also realigns %rsp to 16 for the call */
        movq    0x00(%rcx), %rbx
        movq    0x08(%rcx), %rbp
        movq    0x10(%rcx), %r12
        movq    0x18(%rcx), %r13
        movq    0x20(%rcx), %r14
        movq    0x28(%rcx), %r15
        call    corio_ctx_switch
        popq    %rcx
        movq    %rbx, 0x00(%rcx)
        movq    %rbp, 0x08(%rcx)
        movq    %r12, 0x10(%rcx)
        movq    %r13, 0x18(%rcx)
        movq    %r14, 0x20(%rcx)
        movq    %r15, 0x28(%rcx)
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %rbx
        popq    %rbp
        ret
        .size   corio_test_switch_regs, .-corio_test_switch_regs

/* uintptr_t corio_test_caller_sp(void): the caller's stack pointer at its call
 * instruction, which the ABI requires to be 16-byte aligned. */
        .globl  corio_test_caller_sp
        .type   corio_test_caller_sp, @function
        .align  16
corio_test_caller_sp:
        leaq    8(%rsp), %rax
        ret
        .size   corio_test_caller_sp, .-corio_test_caller_sp

        .section .note.GNU-stack,"",%progbits
