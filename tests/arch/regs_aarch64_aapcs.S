/* Test probes for aarch64: switch contexts with every callee-saved register holding a
 * known value, and read the stack pointer of a call site. */

/* void *corio_test_switch_regs(void **save, void *to, void *arg,
 *                              const uint64_t in[19], uint64_t out[19])
 * Loads x19-x29 (in[0..10]) and d8-d15 (in[11..18]), calls corio_ctx_switch(save, to,
 * arg) and, once resumed, stores the same registers into out[]. A switch that loses any
 * of them shows as out[] != in[]. Returns what corio_ctx_switch returned. */
        .text
        .globl  corio_test_switch_regs
        .type   corio_test_switch_regs, %function
        .align  4
corio_test_switch_regs:
        sub     sp, sp, #0xb0
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
        str     x4, [sp, #0xa0]         /* out */
        ldp     x19, x20, [x3, #0x00]
        ldp     x21, x22, [x3, #0x10]
        ldp     x23, x24, [x3, #0x20]
        ldp     x25, x26, [x3, #0x30]
        ldp     x27, x28, [x3, #0x40]
        ldr     x29, [x3, #0x50]
        ldp     d8,  d9,  [x3, #0x58]
        ldp     d10, d11, [x3, #0x68]
        ldp     d12, d13, [x3, #0x78]
        ldp     d14, d15, [x3, #0x88]
        bl      corio_ctx_switch
        ldr     x4, [sp, #0xa0]
        stp     x19, x20, [x4, #0x00]
        stp     x21, x22, [x4, #0x10]
        stp     x23, x24, [x4, #0x20]
        stp     x25, x26, [x4, #0x30]
        stp     x27, x28, [x4, #0x40]
        str     x29, [x4, #0x50]
        stp     d8,  d9,  [x4, #0x58]
        stp     d10, d11, [x4, #0x68]
        stp     d12, d13, [x4, #0x78]
        stp     d14, d15, [x4, #0x88]
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
        add     sp, sp, #0xb0
        ret
        .size   corio_test_switch_regs, .-corio_test_switch_regs

/* uintptr_t corio_test_caller_sp(void): the caller's stack pointer at its call. */
        .globl  corio_test_caller_sp
        .type   corio_test_caller_sp, %function
        .align  4
corio_test_caller_sp:
        mov     x0, sp
        ret
        .size   corio_test_caller_sp, .-corio_test_caller_sp

        .section .note.GNU-stack,"",%progbits
