/*
 * VMRUN. int svm_enter(uint64_t *gpr, uint64_t vmcb_pa, uint64_t host_area_pa):
 * with GIF clear, VMSAVE the host's FS/GS/TR/LDTR/SYSCALL state (our per-CPU
 * %gs base among it), VMLOAD the guest's, load the guest GPRs that VMRUN does
 * not (all but RAX and RSP, which live in the VMCB), VMRUN; after #VMEXIT
 * store them, VMSAVE the guest, VMLOAD the host, set GIF. APM vol. 2 15.5.
 */
#define GPR(n) (8 * (n))

    .text
    .globl svm_enter
svm_enter:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    pushq %rdi                      /* gpr array */
    pushq %rdx                      /* host save area */
    clgi
    /* With V_INTR_MASKING the host's IF at VMRUN decides whether physical interrupts
     * exit the guest (APM 15.21.1): set it; GIF=0 holds them off until VMRUN. */
    sti
    movq %rdx, %rax
    vmsave %rax
    movq %rsi, %rax
    vmload %rax
    movq GPR(1)(%rdi), %rcx
    movq GPR(2)(%rdi), %rdx
    movq GPR(3)(%rdi), %rbx
    movq GPR(5)(%rdi), %rbp
    movq GPR(6)(%rdi), %rsi
    movq GPR(8)(%rdi), %r8
    movq GPR(9)(%rdi), %r9
    movq GPR(10)(%rdi), %r10
    movq GPR(11)(%rdi), %r11
    movq GPR(12)(%rdi), %r12
    movq GPR(13)(%rdi), %r13
    movq GPR(14)(%rdi), %r14
    movq GPR(15)(%rdi), %r15
    movq GPR(7)(%rdi), %rdi
    vmrun %rax
    /* #VMEXIT: %rax is the VMCB again, %rsp as before VMRUN */
    pushq %rdi
    movq 16(%rsp), %rdi
    movq %rcx, GPR(1)(%rdi)
    movq %rdx, GPR(2)(%rdi)
    movq %rbx, GPR(3)(%rdi)
    movq %rbp, GPR(5)(%rdi)
    movq %rsi, GPR(6)(%rdi)
    movq %r8, GPR(8)(%rdi)
    movq %r9, GPR(9)(%rdi)
    movq %r10, GPR(10)(%rdi)
    movq %r11, GPR(11)(%rdi)
    movq %r12, GPR(12)(%rdi)
    movq %r13, GPR(13)(%rdi)
    movq %r14, GPR(14)(%rdi)
    movq %r15, GPR(15)(%rdi)
    popq %rcx
    movq %rcx, GPR(7)(%rdi)
    vmsave %rax
    popq %rax
    vmload %rax
    cli
    stgi
    popq %rdi
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    xorl %eax, %eax
    ret
