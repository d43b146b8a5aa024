/*
 * The VMCB (APM vol. 2 app. B): one 4 KiB page per vCPU, a control area at
 * 0x000-0x3ff and the guest state-save area from 0x400. Fields are plain C
 * members at the manual's offsets (checked below with _Static_assert, as
 * absolute offsets from the start of the page). Also here: exit codes
 * (app. C), the IOIO and NPF EXITINFO1 bits, the event-injection format
 * (15.20) and the layout of the MSR and I/O permission maps (15.10, 15.11).
 */
#ifndef SVM_VMCB_H
#define SVM_VMCB_H

#include <stddef.h>
#include <stdint.h>

/* ---- control area (APM table B-1) ---------------------------------------- */

/* 0x00: CRn read intercepts in bits 15:0, CRn write intercepts in 31:16. */
#define VMCB_CR_READ(n)  (1u << (n))
#define VMCB_CR_WRITE(n) (1u << (16 + (n)))
/* 0x04: DRn read intercepts in bits 15:0, DRn write intercepts in 31:16. */
#define VMCB_DR_READ(n)  (1u << (n))
#define VMCB_DR_WRITE(n) (1u << (16 + (n)))
/* 0x08: one bit per exception vector. */
#define VMCB_EXC(v)      (1u << (v))

/* 0x0c: first miscellaneous intercept word. */
#define VMCB_I1_INTR          (1u << 0)
#define VMCB_I1_NMI           (1u << 1)
#define VMCB_I1_SMI           (1u << 2)
#define VMCB_I1_INIT          (1u << 3)
#define VMCB_I1_VINTR         (1u << 4)
#define VMCB_I1_CR0_SEL_WRITE (1u << 5)   /* CR0 writes other than CR0.TS / CR0.MP */
#define VMCB_I1_IDTR_READ     (1u << 6)
#define VMCB_I1_GDTR_READ     (1u << 7)
#define VMCB_I1_LDTR_READ     (1u << 8)
#define VMCB_I1_TR_READ       (1u << 9)
#define VMCB_I1_IDTR_WRITE    (1u << 10)
#define VMCB_I1_GDTR_WRITE    (1u << 11)
#define VMCB_I1_LDTR_WRITE    (1u << 12)
#define VMCB_I1_TR_WRITE      (1u << 13)
#define VMCB_I1_RDTSC         (1u << 14)
#define VMCB_I1_RDPMC         (1u << 15)
#define VMCB_I1_PUSHF         (1u << 16)
#define VMCB_I1_POPF          (1u << 17)
#define VMCB_I1_CPUID         (1u << 18)
#define VMCB_I1_RSM           (1u << 19)
#define VMCB_I1_IRET          (1u << 20)
#define VMCB_I1_INTN          (1u << 21)
#define VMCB_I1_INVD          (1u << 22)
#define VMCB_I1_PAUSE         (1u << 23)
#define VMCB_I1_HLT           (1u << 24)
#define VMCB_I1_INVLPG        (1u << 25)
#define VMCB_I1_INVLPGA       (1u << 26)
#define VMCB_I1_IOIO_PROT     (1u << 27)  /* consult the IOPM */
#define VMCB_I1_MSR_PROT      (1u << 28)  /* consult the MSRPM */
#define VMCB_I1_TASK_SWITCH   (1u << 29)
#define VMCB_I1_FERR_FREEZE   (1u << 30)
#define VMCB_I1_SHUTDOWN      (1u << 31)

/* 0x10: second miscellaneous intercept word. */
#define VMCB_I2_VMRUN         (1u << 0)   /* must be set or VMRUN fails (APM 15.5.1) */
#define VMCB_I2_VMMCALL       (1u << 1)
#define VMCB_I2_VMLOAD        (1u << 2)
#define VMCB_I2_VMSAVE        (1u << 3)
#define VMCB_I2_STGI          (1u << 4)
#define VMCB_I2_CLGI          (1u << 5)
#define VMCB_I2_SKINIT        (1u << 6)
#define VMCB_I2_RDTSCP        (1u << 7)
#define VMCB_I2_ICEBP         (1u << 8)
#define VMCB_I2_WBINVD        (1u << 9)   /* WBINVD and WBNOINVD */
#define VMCB_I2_MONITOR       (1u << 10)  /* MONITOR and MONITORX */
#define VMCB_I2_MWAIT         (1u << 11)  /* MWAIT/MWAITX, unconditionally */
#define VMCB_I2_MWAIT_COND    (1u << 12)  /* MWAIT/MWAITX if the monitor is armed */
#define VMCB_I2_XSETBV        (1u << 13)
#define VMCB_I2_RDPRU         (1u << 14)
#define VMCB_I2_EFER_WRITE_TRAP (1u << 15) /* after a guest EFER write completes */
#define VMCB_I2_CR_WRITE_TRAP(n) (1u << (16 + (n)))

/* 0x14: third intercept word. */
#define VMCB_I3_INVLPGB       (1u << 0)
#define VMCB_I3_INVLPGB_ILLEGAL (1u << 1)
#define VMCB_I3_INVPCID       (1u << 2)
#define VMCB_I3_MCOMMIT       (1u << 3)
#define VMCB_I3_TLBSYNC       (1u << 4)

/* 0x5c TLB_CONTROL (APM 15.16.1). 3 and 7 need CPUID 8000_000A EDX[6] FlushByAsid. */
#define TLB_CONTROL_NONE            0
#define TLB_CONTROL_FLUSH_ALL       1   /* every ASID, host included */
#define TLB_CONTROL_FLUSH_ASID      3
#define TLB_CONTROL_FLUSH_ASID_LOCAL 7  /* this ASID's non-global entries */

/* 0x60 virtual interrupt control (APM 15.21). */
#define VINTR_TPR_MASK        0xffull     /* V_TPR: the guest's CR8 in bits 3:0 */
#define VINTR_IRQ             (1ull << 8)
#define VINTR_GIF             (1ull << 9)
#define VINTR_NMI             (1ull << 11)
#define VINTR_NMI_MASK        (1ull << 12) /* NMI blocking, with VINTR_NMI_ENABLE */
#define VINTR_PRIO_SHIFT      16
#define VINTR_PRIO_MASK       (0xfull << 16)
#define VINTR_IGN_TPR         (1ull << 20)
#define VINTR_MASKING         (1ull << 24) /* guest IF/TPR are virtual; host IF gates INTR */
#define VINTR_GIF_ENABLE      (1ull << 25)
#define VINTR_NMI_ENABLE      (1ull << 26)
#define VINTR_X2AVIC_ENABLE   (1ull << 30)
#define VINTR_AVIC_ENABLE     (1ull << 31)
#define VINTR_VECTOR_SHIFT    32
#define VINTR_VECTOR_MASK     (0xffull << 32)

/* 0x68 guest interrupt state. */
#define INT_STATE_SHADOW      (1ull << 0)  /* STI or MOV SS shadow: no interrupt on this insn */
#define INT_STATE_GUEST_MASK  (1ull << 1)  /* the guest's RFLAGS.IF (with VINTR_MASKING) */

/* 0x90 nested paging and encryption controls. */
#define NP_ENABLE             (1ull << 0)
#define NP_SEV_ENABLE         (1ull << 1)
#define NP_SEV_ES_ENABLE      (1ull << 2)
#define NP_GMET               (1ull << 3)

/* 0xb8 virtualization extensions. */
#define VIRT_EXT_LBR          (1ull << 0)
#define VIRT_EXT_VMLOAD_VMSAVE (1ull << 1)

/* 0xc0 VMCB clean bits (APM 15.15.3): a set bit lets the CPU use its cached copy. */
#define VMCB_CLEAN_I          (1u << 0)   /* intercepts, TSC offset, pause filter */
#define VMCB_CLEAN_IOPM       (1u << 1)   /* IOPM and MSRPM base */
#define VMCB_CLEAN_ASID       (1u << 2)
#define VMCB_CLEAN_TPR        (1u << 3)   /* the 0x60 word */
#define VMCB_CLEAN_NP         (1u << 4)   /* NP enable, N_CR3, G_PAT */
#define VMCB_CLEAN_CRX        (1u << 5)   /* CR0, CR3, CR4, EFER */
#define VMCB_CLEAN_DRX        (1u << 6)   /* DR6, DR7 */
#define VMCB_CLEAN_DT         (1u << 7)   /* GDTR, IDTR */
#define VMCB_CLEAN_SEG        (1u << 8)   /* CS, DS, SS, ES, CPL */
#define VMCB_CLEAN_CR2        (1u << 9)
#define VMCB_CLEAN_LBR        (1u << 10)
#define VMCB_CLEAN_AVIC       (1u << 11)
#define VMCB_CLEAN_CET        (1u << 12)

struct vmcb_control {
    uint32_t intercept_cr;          /* 0x000 */
    uint32_t intercept_dr;          /* 0x004 */
    uint32_t intercept_exc;         /* 0x008 */
    uint32_t intercept1;            /* 0x00c VMCB_I1_* */
    uint32_t intercept2;            /* 0x010 VMCB_I2_* */
    uint32_t intercept3;            /* 0x014 VMCB_I3_* */
    uint8_t reserved_018[0x03c - 0x018];
    uint16_t pause_filter_thresh;   /* 0x03c */
    uint16_t pause_filter_count;    /* 0x03e */
    uint64_t iopm_base_pa;          /* 0x040 */
    uint64_t msrpm_base_pa;         /* 0x048 */
    uint64_t tsc_offset;            /* 0x050 */
    uint32_t guest_asid;            /* 0x058: never 0 (the host's) */
    uint8_t tlb_control;            /* 0x05c */
    uint8_t reserved_05d[3];
    uint64_t vintr;                 /* 0x060 VINTR_* */
    uint64_t int_state;             /* 0x068 INT_STATE_* */
    uint64_t exitcode;              /* 0x070 VMEXIT_* */
    uint64_t exitinfo1;             /* 0x078 */
    uint64_t exitinfo2;             /* 0x080 */
    uint64_t exitintinfo;           /* 0x088: EVENTINJ format */
    uint64_t np_control;            /* 0x090 NP_* */
    uint64_t avic_apic_bar;         /* 0x098 */
    uint64_t ghcb_pa;               /* 0x0a0 */
    uint64_t event_inj;             /* 0x0a8 EVTINJ_* */
    uint64_t n_cr3;                 /* 0x0b0: nested page table root */
    uint64_t virt_ext;              /* 0x0b8 VIRT_EXT_* */
    uint32_t clean;                 /* 0x0c0 VMCB_CLEAN_* */
    uint32_t reserved_0c4;
    uint64_t nrip;                  /* 0x0c8: next RIP (NRIPS) */
    uint8_t insn_len;               /* 0x0d0: bytes fetched (decode assists) */
    uint8_t insn_bytes[15];         /* 0x0d1 */
    uint64_t avic_backing_page;     /* 0x0e0 */
    uint64_t reserved_0e8;
    uint64_t avic_logical_table;    /* 0x0f0 */
    uint64_t avic_physical_table;   /* 0x0f8 */
    uint64_t reserved_100;
    uint64_t vmsa_pa;               /* 0x108 (SEV-ES) */
    uint8_t reserved_110[0x3e0 - 0x110];
    uint8_t host_use[0x400 - 0x3e0]; /* 0x3e0: reserved for the host, never touched by the CPU */
};

/* ---- state-save area (APM table B-2), at 0x400 ---------------------------- */

/* Segment attributes: the 12-bit layout of struct seg.attr (type 3:0, S 4, DPL 6:5, P 7,
 * AVL 8, L 9, D/B 10, G 11); the limit is the expanded byte limit. */
struct vmcb_seg {
    uint16_t sel;
    uint16_t attrib;
    uint32_t limit;
    uint64_t base;
};

struct vmcb_save {
    struct vmcb_seg es, cs, ss, ds, fs, gs; /* 0x400 .. 0x45f */
    struct vmcb_seg gdtr;           /* 0x460: base and limit only */
    struct vmcb_seg ldtr;           /* 0x470 */
    struct vmcb_seg idtr;           /* 0x480: base and limit only */
    struct vmcb_seg tr;             /* 0x490 */
    uint8_t reserved_4a0[0x4ca - 0x4a0];
    uint8_t vmpl;                   /* 0x4ca (SEV-SNP) */
    uint8_t cpl;                    /* 0x4cb */
    uint32_t reserved_4cc;
    uint64_t efer;                  /* 0x4d0 */
    uint8_t reserved_4d8[0x548 - 0x4d8];
    uint64_t cr4;                   /* 0x548 */
    uint64_t cr3;                   /* 0x550 */
    uint64_t cr0;                   /* 0x558 */
    uint64_t dr7;                   /* 0x560 */
    uint64_t dr6;                   /* 0x568 */
    uint64_t rflags;                /* 0x570 */
    uint64_t rip;                   /* 0x578 */
    uint8_t reserved_580[0x5d8 - 0x580];
    uint64_t rsp;                   /* 0x5d8 */
    uint64_t s_cet;                 /* 0x5e0 */
    uint64_t ssp;                   /* 0x5e8 */
    uint64_t isst_addr;             /* 0x5f0 */
    uint64_t rax;                   /* 0x5f8 */
    uint64_t star;                  /* 0x600 */
    uint64_t lstar;                 /* 0x608 */
    uint64_t cstar;                 /* 0x610 */
    uint64_t sfmask;                /* 0x618 */
    uint64_t kernel_gs_base;        /* 0x620 */
    uint64_t sysenter_cs;           /* 0x628 */
    uint64_t sysenter_esp;          /* 0x630 */
    uint64_t sysenter_eip;          /* 0x638 */
    uint64_t cr2;                   /* 0x640 */
    uint8_t reserved_648[0x668 - 0x648];
    uint64_t g_pat;                 /* 0x668: the guest's PAT, with nested paging */
    uint64_t dbgctl;                /* 0x670 */
    uint64_t br_from;               /* 0x678 */
    uint64_t br_to;                 /* 0x680 */
    uint64_t last_excp_from;        /* 0x688 */
    uint64_t last_excp_to;          /* 0x690 */
    uint8_t reserved_698[0x6e0 - 0x698];
    uint64_t spec_ctrl;             /* 0x6e0 */
    uint8_t reserved_6e8[0x1000 - 0x6e8];
};

struct vmcb {
    struct vmcb_control control;
    struct vmcb_save save;
};

#define VMCB_OFF(f, off) _Static_assert(offsetof(struct vmcb, f) == (off), "VMCB " #f)
VMCB_OFF(control.intercept_cr, 0x000);
VMCB_OFF(control.intercept_dr, 0x004);
VMCB_OFF(control.intercept_exc, 0x008);
VMCB_OFF(control.intercept1, 0x00c);
VMCB_OFF(control.intercept2, 0x010);
VMCB_OFF(control.intercept3, 0x014);
VMCB_OFF(control.pause_filter_thresh, 0x03c);
VMCB_OFF(control.pause_filter_count, 0x03e);
VMCB_OFF(control.iopm_base_pa, 0x040);
VMCB_OFF(control.msrpm_base_pa, 0x048);
VMCB_OFF(control.tsc_offset, 0x050);
VMCB_OFF(control.guest_asid, 0x058);
VMCB_OFF(control.tlb_control, 0x05c);
VMCB_OFF(control.vintr, 0x060);
VMCB_OFF(control.int_state, 0x068);
VMCB_OFF(control.exitcode, 0x070);
VMCB_OFF(control.exitinfo1, 0x078);
VMCB_OFF(control.exitinfo2, 0x080);
VMCB_OFF(control.exitintinfo, 0x088);
VMCB_OFF(control.np_control, 0x090);
VMCB_OFF(control.avic_apic_bar, 0x098);
VMCB_OFF(control.ghcb_pa, 0x0a0);
VMCB_OFF(control.event_inj, 0x0a8);
VMCB_OFF(control.n_cr3, 0x0b0);
VMCB_OFF(control.virt_ext, 0x0b8);
VMCB_OFF(control.clean, 0x0c0);
VMCB_OFF(control.nrip, 0x0c8);
VMCB_OFF(control.insn_len, 0x0d0);
VMCB_OFF(control.insn_bytes, 0x0d1);
VMCB_OFF(control.avic_backing_page, 0x0e0);
VMCB_OFF(control.avic_logical_table, 0x0f0);
VMCB_OFF(control.avic_physical_table, 0x0f8);
VMCB_OFF(control.vmsa_pa, 0x108);
VMCB_OFF(control.host_use, 0x3e0);
VMCB_OFF(save, 0x400);
VMCB_OFF(save.es, 0x400);
VMCB_OFF(save.cs, 0x410);
VMCB_OFF(save.cs.attrib, 0x412);
VMCB_OFF(save.cs.limit, 0x414);
VMCB_OFF(save.cs.base, 0x418);
VMCB_OFF(save.ss, 0x420);
VMCB_OFF(save.ds, 0x430);
VMCB_OFF(save.fs, 0x440);
VMCB_OFF(save.gs, 0x450);
VMCB_OFF(save.gdtr, 0x460);
VMCB_OFF(save.ldtr, 0x470);
VMCB_OFF(save.idtr, 0x480);
VMCB_OFF(save.tr, 0x490);
VMCB_OFF(save.vmpl, 0x4ca);
VMCB_OFF(save.cpl, 0x4cb);
VMCB_OFF(save.efer, 0x4d0);
VMCB_OFF(save.cr4, 0x548);
VMCB_OFF(save.cr3, 0x550);
VMCB_OFF(save.cr0, 0x558);
VMCB_OFF(save.dr7, 0x560);
VMCB_OFF(save.dr6, 0x568);
VMCB_OFF(save.rflags, 0x570);
VMCB_OFF(save.rip, 0x578);
VMCB_OFF(save.rsp, 0x5d8);
VMCB_OFF(save.s_cet, 0x5e0);
VMCB_OFF(save.ssp, 0x5e8);
VMCB_OFF(save.isst_addr, 0x5f0);
VMCB_OFF(save.rax, 0x5f8);
VMCB_OFF(save.star, 0x600);
VMCB_OFF(save.lstar, 0x608);
VMCB_OFF(save.cstar, 0x610);
VMCB_OFF(save.sfmask, 0x618);
VMCB_OFF(save.kernel_gs_base, 0x620);
VMCB_OFF(save.sysenter_cs, 0x628);
VMCB_OFF(save.sysenter_esp, 0x630);
VMCB_OFF(save.sysenter_eip, 0x638);
VMCB_OFF(save.cr2, 0x640);
VMCB_OFF(save.g_pat, 0x668);
VMCB_OFF(save.dbgctl, 0x670);
VMCB_OFF(save.br_from, 0x678);
VMCB_OFF(save.br_to, 0x680);
VMCB_OFF(save.last_excp_from, 0x688);
VMCB_OFF(save.last_excp_to, 0x690);
VMCB_OFF(save.spec_ctrl, 0x6e0);
_Static_assert(sizeof(struct vmcb_seg) == 16, "VMCB segment");
_Static_assert(sizeof(struct vmcb) == 4096, "VMCB is one page");
#undef VMCB_OFF

/* ---- exit codes (APM app. C), in control.exitcode ------------------------ */

#define VMEXIT_CR_READ(n)     (0x00 + (n))
#define VMEXIT_CR_WRITE(n)    (0x10 + (n))
#define VMEXIT_DR_READ(n)     (0x20 + (n))
#define VMEXIT_DR_WRITE(n)    (0x30 + (n))
#define VMEXIT_CR0_READ       0x00
#define VMEXIT_CR0_WRITE      0x10
#define VMEXIT_EXCP_BASE      0x40        /* + vector; EXITINFO1 = error code; CR2 in EXITINFO2 */
#define VMEXIT_EXCP(v)        (0x40 + (v))
#define VMEXIT_INTR           0x60
#define VMEXIT_NMI            0x61
#define VMEXIT_SMI            0x62
#define VMEXIT_INIT           0x63
#define VMEXIT_VINTR          0x64
#define VMEXIT_CR0_SEL_WRITE  0x65
#define VMEXIT_IDTR_READ      0x66
#define VMEXIT_GDTR_READ      0x67
#define VMEXIT_LDTR_READ      0x68
#define VMEXIT_TR_READ        0x69
#define VMEXIT_IDTR_WRITE     0x6a
#define VMEXIT_GDTR_WRITE     0x6b
#define VMEXIT_LDTR_WRITE     0x6c
#define VMEXIT_TR_WRITE       0x6d
#define VMEXIT_RDTSC          0x6e
#define VMEXIT_RDPMC          0x6f
#define VMEXIT_PUSHF          0x70
#define VMEXIT_POPF           0x71
#define VMEXIT_CPUID          0x72
#define VMEXIT_RSM            0x73
#define VMEXIT_IRET           0x74
#define VMEXIT_SWINT          0x75
#define VMEXIT_INVD           0x76
#define VMEXIT_PAUSE          0x77
#define VMEXIT_HLT            0x78
#define VMEXIT_INVLPG         0x79
#define VMEXIT_INVLPGA        0x7a
#define VMEXIT_IOIO           0x7b        /* EXITINFO1: IOIO_*, EXITINFO2: RIP of the next insn */
#define VMEXIT_MSR            0x7c        /* EXITINFO1: 0 RDMSR, 1 WRMSR; ECX = MSR */
#define VMEXIT_TASK_SWITCH    0x7d
#define VMEXIT_FERR_FREEZE    0x7e
#define VMEXIT_SHUTDOWN       0x7f        /* triple fault */
#define VMEXIT_VMRUN          0x80
#define VMEXIT_VMMCALL        0x81
#define VMEXIT_VMLOAD         0x82
#define VMEXIT_VMSAVE         0x83
#define VMEXIT_STGI           0x84
#define VMEXIT_CLGI           0x85
#define VMEXIT_SKINIT         0x86
#define VMEXIT_RDTSCP         0x87
#define VMEXIT_ICEBP          0x88
#define VMEXIT_WBINVD         0x89
#define VMEXIT_MONITOR        0x8a
#define VMEXIT_MWAIT          0x8b
#define VMEXIT_MWAIT_COND     0x8c
#define VMEXIT_XSETBV         0x8d
#define VMEXIT_RDPRU          0x8e
#define VMEXIT_EFER_WRITE_TRAP 0x8f
#define VMEXIT_CR_WRITE_TRAP(n) (0x90 + (n))
#define VMEXIT_INVLPGB        0xa0
#define VMEXIT_INVLPGB_ILLEGAL 0xa1
#define VMEXIT_INVPCID        0xa2
#define VMEXIT_MCOMMIT        0xa3
#define VMEXIT_TLBSYNC        0xa4
#define VMEXIT_NPF            0x400       /* EXITINFO1: NPF_*, EXITINFO2: guest-physical address */
#define VMEXIT_AVIC_INCOMPLETE_IPI 0x401
#define VMEXIT_AVIC_NOACCEL   0x402
#define VMEXIT_VMGEXIT        0x403
#define VMEXIT_INVALID        ((uint64_t)-1) /* VMRUN refused the guest state (APM 15.5.1) */
#define VMEXIT_BUSY           ((uint64_t)-2)

/* VMEXIT_IOIO EXITINFO1 (APM 15.10.2). */
#define IOIO_IN               (1ull << 0)
#define IOIO_STR              (1ull << 2)
#define IOIO_REP              (1ull << 3)
#define IOIO_SZ8              (1ull << 4)
#define IOIO_SZ16             (1ull << 5)
#define IOIO_SZ32             (1ull << 6)
#define IOIO_SZ_MASK          (7ull << 4)
#define IOIO_A16              (1ull << 7)
#define IOIO_A32              (1ull << 8)
#define IOIO_A64              (1ull << 9)
#define IOIO_SEG_SHIFT        10          /* effective segment, bits 12:10 (decode assists) */
#define IOIO_PORT_SHIFT       16

/* VMEXIT_NPF EXITINFO1: a #PF error code plus where the walk failed (APM 15.25.6). */
#define NPF_P                 (1ull << 0)
#define NPF_WRITE             (1ull << 1)
#define NPF_USER              (1ull << 2)
#define NPF_RSVD              (1ull << 3)
#define NPF_FETCH             (1ull << 4)
#define NPF_FINAL             (1ull << 32) /* translating the final guest-physical address */
#define NPF_TABLE             (1ull << 33) /* translating a guest page-table access */

/* EVENTINJ and EXITINTINFO (APM 15.20). */
#define EVTINJ_VECTOR_MASK    0xffull
#define EVTINJ_TYPE_SHIFT     8
#define EVTINJ_TYPE_MASK      (7ull << 8)
#define EVTINJ_TYPE_INTR      0
#define EVTINJ_TYPE_NMI       2
#define EVTINJ_TYPE_EXCEPTION 3
#define EVTINJ_TYPE_SOFT      4
#define EVTINJ_EV             (1ull << 11) /* error code valid */
#define EVTINJ_V              (1ull << 31)
#define EVTINJ_ERROR_SHIFT    32

/*
 * MSR permission map (APM 15.11): 8 KiB, 4 KiB-aligned, physically contiguous.
 * Two bits per MSR, read intercept at the even bit, write at the odd one;
 * bytes 0x000-0x7ff cover MSRs 0-0x1fff, 0x800-0xfff 0xc0000000-0xc0001fff,
 * 0x1000-0x17ff 0xc0010000-0xc0011fff; 0x1800-0x1fff are reserved. MSRs
 * outside these ranges always exit.
 */
#define MSRPM_SIZE 8192u

/* Bit index of msr's read-intercept bit (its write bit is the next one), or -1. */
static inline int svm_msrpm_bit(uint32_t msr)
{
    static const uint32_t base[3] = { 0x00000000u, 0xc0000000u, 0xc0010000u };
    for (unsigned i = 0; i < 3; i++)
        if (msr - base[i] < 0x2000u)
            return (int)(i * 0x800u * 8 + (msr - base[i]) * 2);
    return -1;
}

/*
 * I/O permission map (APM 15.10.1): 12 KiB, 4 KiB-aligned, physically
 * contiguous; bit n intercepts port n. An access of k bytes at port p checks
 * bits p..p+k-1, which is why the map runs past bit 0xffff.
 */
#define IOPM_SIZE 12288u

#endif
