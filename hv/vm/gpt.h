/*
 * Guest page tables: translate a guest linear address the way the guest's
 * MMU would (paging off, 32-bit, PAE or 4-level long mode), and read guest
 * memory through that translation. Used to fetch instructions for MMIO
 * decoding and for string I/O.
 */
#ifndef HV_GPT_H
#define HV_GPT_H

#include <stddef.h>
#include <stdint.h>

#include "hv/cpu/vcpu_state.h"

struct vm;

/* 0 and *gpa, or -EFAULT (not present / outside guest RAM). */
int gpt_translate(struct vm *vm, const struct vcpu_state *s, uint64_t gva, uint64_t *gpa);
/* Copies n bytes at gva (may cross pages); 0 or -EFAULT. */
/* The linear address of the instruction at RIP: CS's base plus RIP outside 64-bit code (real
 * mode, an AP's trampoline), RIP itself in 64-bit code. */
uint64_t gpt_code_address(const struct vcpu_state *s);
int gpt_read(struct vm *vm, const struct vcpu_state *s, uint64_t gva, void *buf, size_t n);
int gpt_write(struct vm *vm, const struct vcpu_state *s, uint64_t gva, const void *buf, size_t n);

#endif
