/*
 * VMCS field encodings (SDM vol. 3 app. B) as width-typed constants: each
 * width is its own struct type, so vmcs_read32(VMCS_GUEST_RIP) does not
 * compile. The encoding's bits 14:13 give the width (0: 16-bit, 1: 64-bit,
 * 2: 32-bit, 3: natural); vmcs.c checks that at start-up.
 */
#ifndef VMX_VMCS_H
#define VMX_VMCS_H

#include <stdint.h>

typedef struct { uint32_t enc; } vmcs16_t;
typedef struct { uint32_t enc; } vmcs32_t;
typedef struct { uint32_t enc; } vmcs64_t;
typedef struct { uint32_t enc; } vmcsnat_t;

#define F16(e) ((vmcs16_t){ e })
#define F32(e) ((vmcs32_t){ e })
#define F64(e) ((vmcs64_t){ e })
#define FNAT(e) ((vmcsnat_t){ e })

/* 16-bit */
#define VMCS_VPID               F16(0x0000)
#define VMCS_GUEST_ES_SEL       F16(0x0800)
#define VMCS_GUEST_CS_SEL       F16(0x0802)
#define VMCS_GUEST_SS_SEL       F16(0x0804)
#define VMCS_GUEST_DS_SEL       F16(0x0806)
#define VMCS_GUEST_FS_SEL       F16(0x0808)
#define VMCS_GUEST_GS_SEL       F16(0x080a)
#define VMCS_GUEST_LDTR_SEL     F16(0x080c)
#define VMCS_GUEST_TR_SEL       F16(0x080e)
#define VMCS_GUEST_PML_INDEX    F16(0x0812)
#define VMCS_HOST_ES_SEL        F16(0x0c00)
#define VMCS_HOST_CS_SEL        F16(0x0c02)
#define VMCS_HOST_SS_SEL        F16(0x0c04)
#define VMCS_HOST_DS_SEL        F16(0x0c06)
#define VMCS_HOST_FS_SEL        F16(0x0c08)
#define VMCS_HOST_GS_SEL        F16(0x0c0a)
#define VMCS_HOST_TR_SEL        F16(0x0c0c)
/* 64-bit */
#define VMCS_IO_BITMAP_A        F64(0x2000)
#define VMCS_IO_BITMAP_B        F64(0x2002)
#define VMCS_MSR_BITMAP         F64(0x2004)
#define VMCS_PML_ADDRESS        F64(0x200e)
#define VMCS_TSC_OFFSET         F64(0x2010)
#define VMCS_EPT_POINTER        F64(0x201a)
#define VMCS_GUEST_PHYS_ADDR    F64(0x2400)
#define VMCS_LINK_POINTER       F64(0x2800)
#define VMCS_GUEST_DEBUGCTL     F64(0x2802)
#define VMCS_GUEST_PAT          F64(0x2804)
#define VMCS_GUEST_EFER         F64(0x2806)
#define VMCS_GUEST_PDPTE0       F64(0x280a)     /* PDPTE1-3 follow, 2 apart */
#define VMCS_HOST_PAT           F64(0x2c00)
#define VMCS_HOST_EFER          F64(0x2c02)
/* 32-bit */
#define VMCS_PIN_CTLS           F32(0x4000)
#define VMCS_PROC_CTLS          F32(0x4002)
#define VMCS_EXCEPTION_BITMAP   F32(0x4004)
#define VMCS_PF_ERR_MASK        F32(0x4006)
#define VMCS_PF_ERR_MATCH       F32(0x4008)
#define VMCS_CR3_TARGET_COUNT   F32(0x400a)
#define VMCS_EXIT_CTLS          F32(0x400c)
#define VMCS_EXIT_MSR_STORE_CNT F32(0x400e)
#define VMCS_EXIT_MSR_LOAD_CNT  F32(0x4010)
#define VMCS_ENTRY_CTLS         F32(0x4012)
#define VMCS_ENTRY_MSR_LOAD_CNT F32(0x4014)
#define VMCS_ENTRY_INTR_INFO    F32(0x4016)
#define VMCS_ENTRY_EXC_ERROR    F32(0x4018)
#define VMCS_ENTRY_INSN_LEN     F32(0x401a)
#define VMCS_PROC_CTLS2         F32(0x401e)
#define VMCS_INSN_ERROR         F32(0x4400)
#define VMCS_EXIT_REASON        F32(0x4402)
#define VMCS_EXIT_INTR_INFO     F32(0x4404)
#define VMCS_EXIT_INTR_ERROR    F32(0x4406)
#define VMCS_IDT_VECTORING_INFO F32(0x4408)
#define VMCS_IDT_VECTORING_ERR  F32(0x440a)
#define VMCS_EXIT_INSN_LEN      F32(0x440c)
#define VMCS_EXIT_INSN_INFO     F32(0x440e)
#define VMCS_GUEST_ES_LIMIT     F32(0x4800)
#define VMCS_GUEST_CS_LIMIT     F32(0x4802)
#define VMCS_GUEST_SS_LIMIT     F32(0x4804)
#define VMCS_GUEST_DS_LIMIT     F32(0x4806)
#define VMCS_GUEST_FS_LIMIT     F32(0x4808)
#define VMCS_GUEST_GS_LIMIT     F32(0x480a)
#define VMCS_GUEST_LDTR_LIMIT   F32(0x480c)
#define VMCS_GUEST_TR_LIMIT     F32(0x480e)
#define VMCS_GUEST_GDTR_LIMIT   F32(0x4810)
#define VMCS_GUEST_IDTR_LIMIT   F32(0x4812)
#define VMCS_GUEST_ES_AR        F32(0x4814)
#define VMCS_GUEST_CS_AR        F32(0x4816)
#define VMCS_GUEST_SS_AR        F32(0x4818)
#define VMCS_GUEST_DS_AR        F32(0x481a)
#define VMCS_GUEST_FS_AR        F32(0x481c)
#define VMCS_GUEST_GS_AR        F32(0x481e)
#define VMCS_GUEST_LDTR_AR      F32(0x4820)
#define VMCS_GUEST_TR_AR        F32(0x4822)
#define VMCS_GUEST_INTERRUPTIBILITY F32(0x4824)
#define VMCS_GUEST_ACTIVITY     F32(0x4826)
#define VMCS_GUEST_SYSENTER_CS  F32(0x482a)
#define VMCS_PREEMPT_TIMER      F32(0x482e)
#define VMCS_HOST_SYSENTER_CS   F32(0x4c00)
/* natural width */
#define VMCS_CR0_MASK           FNAT(0x6000)
#define VMCS_CR4_MASK           FNAT(0x6002)
#define VMCS_CR0_SHADOW         FNAT(0x6004)
#define VMCS_CR4_SHADOW         FNAT(0x6006)
#define VMCS_EXIT_QUAL          FNAT(0x6400)
#define VMCS_GUEST_LINEAR_ADDR  FNAT(0x640a)
#define VMCS_GUEST_CR0          FNAT(0x6800)
#define VMCS_GUEST_CR3          FNAT(0x6802)
#define VMCS_GUEST_CR4          FNAT(0x6804)
#define VMCS_GUEST_ES_BASE      FNAT(0x6806)
#define VMCS_GUEST_CS_BASE      FNAT(0x6808)
#define VMCS_GUEST_SS_BASE      FNAT(0x680a)
#define VMCS_GUEST_DS_BASE      FNAT(0x680c)
#define VMCS_GUEST_FS_BASE      FNAT(0x680e)
#define VMCS_GUEST_GS_BASE      FNAT(0x6810)
#define VMCS_GUEST_LDTR_BASE    FNAT(0x6812)
#define VMCS_GUEST_TR_BASE      FNAT(0x6814)
#define VMCS_GUEST_GDTR_BASE    FNAT(0x6816)
#define VMCS_GUEST_IDTR_BASE    FNAT(0x6818)
#define VMCS_GUEST_DR7          FNAT(0x681a)
#define VMCS_GUEST_RSP          FNAT(0x681c)
#define VMCS_GUEST_RIP          FNAT(0x681e)
#define VMCS_GUEST_RFLAGS       FNAT(0x6820)
#define VMCS_GUEST_PENDING_DBG  FNAT(0x6822)
#define VMCS_GUEST_SYSENTER_ESP FNAT(0x6824)
#define VMCS_GUEST_SYSENTER_EIP FNAT(0x6826)
#define VMCS_HOST_CR0           FNAT(0x6c00)
#define VMCS_HOST_CR3           FNAT(0x6c02)
#define VMCS_HOST_CR4           FNAT(0x6c04)
#define VMCS_HOST_FS_BASE       FNAT(0x6c06)
#define VMCS_HOST_GS_BASE       FNAT(0x6c08)
#define VMCS_HOST_TR_BASE       FNAT(0x6c0a)
#define VMCS_HOST_GDTR_BASE     FNAT(0x6c0c)
#define VMCS_HOST_IDTR_BASE     FNAT(0x6c0e)
#define VMCS_HOST_SYSENTER_ESP  FNAT(0x6c10)
#define VMCS_HOST_SYSENTER_EIP  FNAT(0x6c12)
#define VMCS_HOST_RSP           FNAT(0x6c14)
#define VMCS_HOST_RIP           FNAT(0x6c16)

/* Failing VMREAD/VMWRITE is a host bug (wrong field or no current VMCS): it is logged. */
uint64_t vmcs_read_raw(uint32_t enc);
void vmcs_write_raw(uint32_t enc, uint64_t v);

static inline uint16_t vmcs_read16(vmcs16_t f) { return (uint16_t)vmcs_read_raw(f.enc); }
static inline uint32_t vmcs_read32(vmcs32_t f) { return (uint32_t)vmcs_read_raw(f.enc); }
static inline uint64_t vmcs_read64(vmcs64_t f) { return vmcs_read_raw(f.enc); }
static inline uint64_t vmcs_readnat(vmcsnat_t f) { return vmcs_read_raw(f.enc); }
static inline void vmcs_write16(vmcs16_t f, uint16_t v) { vmcs_write_raw(f.enc, v); }
static inline void vmcs_write32(vmcs32_t f, uint32_t v) { vmcs_write_raw(f.enc, v); }
static inline void vmcs_write64(vmcs64_t f, uint64_t v) { vmcs_write_raw(f.enc, v); }
static inline void vmcs_writenat(vmcsnat_t f, uint64_t v) { vmcs_write_raw(f.enc, v); }

/* Exit reasons (SDM vol. 3 app. C) */
#define VMX_EXIT_EXCEPTION   0
#define VMX_EXIT_EXTINT      1
#define VMX_EXIT_TRIPLE      2
#define VMX_EXIT_INIT        3
#define VMX_EXIT_SIPI        4
#define VMX_EXIT_INTR_WINDOW 7
#define VMX_EXIT_NMI_WINDOW  8
#define VMX_EXIT_CPUID       10
#define VMX_EXIT_VMCALL      18
#define VMX_EXIT_HLT         12
#define VMX_EXIT_INVLPG      14
#define VMX_EXIT_RDTSC       16
#define VMX_EXIT_VMCALL      18
#define VMX_EXIT_CR          28
#define VMX_EXIT_IO          30
#define VMX_EXIT_RDMSR       31
#define VMX_EXIT_WRMSR       32
#define VMX_EXIT_BAD_GUEST   33
#define VMX_EXIT_BAD_MSR_LOAD 34
#define VMX_EXIT_EPT_VIOLATION 48
#define VMX_EXIT_EPT_MISCONFIG 49
#define VMX_EXIT_PREEMPT     52
#define VMX_EXIT_XSETBV      55
#define VMX_EXIT_PML_FULL    62
#define VMX_EXIT_REASONS     70

#endif
