/*
 * The arch-neutral vCPU state record: what `hv/` sees of a vCPU and what
 * migration sends. Both backends convert to and from it (VMCS / VMCB), so a
 * guest saved on a VT-x host loads on an SVM host. Segment attributes use
 * the AMD 12-bit layout (type 0-3, S 4, DPL 5-6, P 7, AVL 8, L 9, D/B 10,
 * G 11) plus SEG_UNUSABLE; VMX access rights are that with bits 8-11
 * shifted to 12-15. All fields are little-endian fixed-width.
 */
#ifndef HV_VCPU_STATE_H
#define HV_VCPU_STATE_H

#include <stdbool.h>
#include <stdint.h>

#define VCPU_STATE_VERSION 1

enum gpr {
    GPR_RAX, GPR_RCX, GPR_RDX, GPR_RBX, GPR_RSP, GPR_RBP, GPR_RSI, GPR_RDI,
    GPR_R8, GPR_R9, GPR_R10, GPR_R11, GPR_R12, GPR_R13, GPR_R14, GPR_R15,
    GPR_COUNT
};

#define SEG_UNUSABLE 0x10000u
#define SEG_ATTR_L   (1u << 9)      /* 64-bit code segment */
#define SEG_ATTR_DB  (1u << 10)     /* 32-bit code / stack segment */

struct seg {
    uint16_t sel;
    uint16_t reserved;
    uint32_t attr;
    uint32_t limit;
    uint32_t reserved2;
    uint64_t base;
};

struct dtable {
    uint64_t base;
    uint32_t limit;
    uint32_t reserved;
};

enum vcpu_event_type {
    EVENT_NONE = 0,
    EVENT_EXTINT,        /* external interrupt */
    EVENT_NMI,
    EVENT_EXCEPTION,     /* hardware exception (#GP, #UD, ...) */
    EVENT_SOFTINT,
};

struct vcpu_event {
    uint8_t type;        /* enum vcpu_event_type */
    uint8_t vector;
    uint8_t has_error;
    uint8_t reserved;
    uint32_t error;
};

/* ACT_WAIT_SIPI: an AP after INIT (SDM 10.4.2), held by ferry until a SIPI; a backend never
 * enters a vCPU in it (hv/vm/intr.c). */
enum vcpu_activity { ACT_RUNNING = 0, ACT_HALTED = 1, ACT_WAIT_SIPI = 2 };

/* Interruptibility: blocking by STI / MOV SS, NMI blocking. */
#define INTR_STI   0x1
#define INTR_MOVSS 0x2
#define INTR_NMI   0x8

struct vcpu_state {
    uint32_t version;
    uint32_t activity;
    uint64_t gpr[GPR_COUNT];
    uint64_t rip, rflags;
    uint64_t cr0, cr2, cr3, cr4, cr8;
    uint64_t dr7;
    uint64_t efer, pat;
    uint64_t xcr0;
    struct seg es, cs, ss, ds, fs, gs, ldtr, tr;
    struct dtable gdtr, idtr;
    uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
    uint64_t star, lstar, cstar, sfmask, kernel_gs_base;
    uint64_t tsc;                  /* the guest's TSC value at the time of the snapshot */
    uint64_t tsc_aux;
    uint32_t interruptibility;
    uint32_t reserved;
    struct vcpu_event pending;     /* event to deliver on the next entry */
};

/* Logs a state record as errors (for dumps of a stopped vCPU). */
void vcpu_state_log(const char *vm_name, unsigned index, const struct vcpu_state *s);

#endif
