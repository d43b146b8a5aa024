/*
 * VM entry and exit. int vmx_enter(uint64_t *gpr, int launched):
 * saves the host's callee-saved registers, records %rsp as HOST_RSP, loads
 * the guest GPRs (enum gpr order; RSP lives in the VMCS) and runs
 * VMLAUNCH/VMRESUME. A VM exit lands at vmx_exit_point (HOST_RIP), which
 * stores the guest GPRs and returns 0. A failed entry returns 1
 * (VMfailInvalid) or 2 (VMfailValid: see VM-instruction error).
 */
#define GPR(n) (8 * (n))
#define VMCS_HOST_RSP 0x6c14

    .text
    .globl vmx_enter, vmx_exit_point
vmx_enter:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    pushq %rdi                      /* the gpr array, found again after the exit */
    movl $VMCS_HOST_RSP, %eax
    vmwrite %rsp, %rax
    jbe 3f
    testl %esi, %esi
    movq GPR(0)(%rdi), %rax
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
    movq GPR(7)(%rdi), %rdi          /* last: it was the base (flags survive the movs) */
    jnz 1f
    vmlaunch
    jmp 2f
1:  vmresume
2:  /* entry failed: CF=1 VMfailInvalid, ZF=1 VMfailValid */
    movl $1, %eax
    jc 4f
    movl $2, %eax
    jmp 4f
3:  movl $1, %eax
4:  popq %rdi
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret

vmx_exit_point:
    pushq %rdi                      /* guest rdi; the gpr array is above it */
    movq 8(%rsp), %rdi
    movq %rax, GPR(0)(%rdi)
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
    popq %rax
    movq %rax, GPR(7)(%rdi)
    xorl %eax, %eax
    jmp 4b
