/*
 * The VT-x backend: VMXON on each host CPU, one VMCS per vCPU, EPT per VM.
 * Controls come from the (TRUE) capability MSRs; time slices from the VMX
 * preemption timer; every MSR access and port I/O exits (all-ones bitmaps)
 * and is decided in hv/.
 */
#include <errno.h>
#include <string.h>
#include <stdio.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/fpu.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/slpt.h"
#include "arch/x86_64/vmx/vmcs.h"
#include "arch/x86_64/vmx/vmx.h"
#include "arch/x86_64/vmx/vmx_caps.h"
#include "hv/vm/dirty.h"
#include "hv/vm/gpt.h"
#include "hv/base/log.h"
#include "hv/base/mem.h"
#include "hv/base/spinlock.h"
#include "hv/base/time.h"
#include "hv/vm/vcpu_ops.h"

#define CR4_VMXE (1ul << 13)
#define CR4_OSXSAVE (1ul << 18)

static uint64_t vmxon_pa[MAX_CPUS];
static uint64_t msr_bitmap_pa, io_bitmap_pa;
static uint16_t next_vpid = 1;
struct vmx_caps_cache vmx_caps;

uint64_t vmcs_read_raw(uint32_t enc)
{
    uint64_t v = 0;
    uint8_t fail;
    __asm__ volatile("vmread %2, %0; setbe %1" : "=rm"(v), "=qm"(fail) : "r"((uint64_t)enc) : "cc");
    if (fail)
        log_err("vmx", "vmread 0x%x failed", enc);
    return v;
}

void vmcs_write_raw(uint32_t enc, uint64_t v)
{
    uint8_t fail;
    __asm__ volatile("vmwrite %1, %2; setbe %0" : "=qm"(fail) : "rm"(v), "r"((uint64_t)enc) : "cc");
    if (fail)
        log_err("vmx", "vmwrite 0x%x <- 0x%llx failed (insn error %u)", enc,
                (unsigned long long)v, (unsigned)vmcs_read_raw(0x4400));
}

static int vmx_insn_pa(const char *insn, uint64_t pa)
{
    uint8_t fail;
    if (!strcmp(insn, "vmxon"))
        __asm__ volatile("vmxon %1; setbe %0" : "=qm"(fail) : "m"(pa) : "cc", "memory");
    else if (!strcmp(insn, "vmclear"))
        __asm__ volatile("vmclear %1; setbe %0" : "=qm"(fail) : "m"(pa) : "cc", "memory");
    else
        __asm__ volatile("vmptrld %1; setbe %0" : "=qm"(fail) : "m"(pa) : "cc", "memory");
    return fail ? -EIO : 0;
}

static uint64_t zeroed_page(void)
{
    return frame_alloc(this_cpu()->node, 1, 1, FRAME_ZERO);
}

static int bitmaps_init(void);

/* Work shared by all CPUs, done by the first to get here. */
static int vmx_global_init(void)
{
    static struct spinlock lock;
    spin_lock(&lock);
    int rc = vmx_controls_init();
    if (!rc)
        rc = bitmaps_init();
    spin_unlock(&lock);
    return rc;
}

static int vmx_cpu_init(void)
{
    struct cpu *c = this_cpu();
    if (vmxon_pa[c->index])
        return 0;
    int rc = vmx_global_init();
    if (rc)
        return rc;
    uint64_t fc = rdmsr(MSR_IA32_FEATURE_CONTROL);
    if (!(fc & 1))
        wrmsr(MSR_IA32_FEATURE_CONTROL, fc | 1 | 4);   /* lock, VMX outside SMX */
    else if (!(fc & 4))
        return -ENOTSUP;
    uint64_t cr4 = read_cr4() | CR4_VMXE;
    if (cpuid(1, 0).ecx & (1u << 26))
        cr4 |= CR4_OSXSAVE;           /* XSETBV emulation and vCPU FPU switching use XSAVE */
    write_cr4(vmx_fixed_cr(cr4, vmx_caps.cr4_fixed0, vmx_caps.cr4_fixed1));
    __asm__ volatile("mov %0, %%cr0" :: "r"(vmx_fixed_cr(read_cr0(), vmx_caps.cr0_fixed0,
                                                         vmx_caps.cr0_fixed1)));
    uint64_t pa = zeroed_page();
    if (!pa)
        return -ENOMEM;
    *(uint32_t *)phys_to_virt(pa) = vmx_caps.revision;
    if (vmx_insn_pa("vmxon", pa)) {
        frame_free(pa, 1);
        log_err("vmx", "VMXON failed on cpu %u", c->index);
        return -EIO;
    }
    vmxon_pa[c->index] = pa;
    fpu_cpu_init();
    log_info("vmx", "cpu %u in VMX root operation", c->index);
    return 0;
}

int vmx_controls_init(void)
{
    static int done;
    if (done)
        return done < 0 ? -ENOTSUP : 0;
    uint64_t basic = rdmsr(MSR_IA32_VMX_BASIC);
    bool t = basic & (1ull << 55);
    struct vmx_caps_cache *k = &vmx_caps;
    int rc = 0;
    k->revision = basic & 0x7fffffff;
    /* pin: external-interrupt exiting, NMI exiting, preemption timer; virtual NMIs where
     * offered (the guest's NMI blocking tracked, NMI-window exiting) */
    rc |= vmx_adjust_ctls(rdmsr(t ? MSR_IA32_VMX_TRUE_PINBASED_CTLS : MSR_IA32_VMX_PINBASED_CTLS),
                          (1u << 5), (1u << 0) | (1u << 3) | (1u << 6), &k->pin);
    k->vnmi = (k->pin & (1u << 5)) &&
              (rdmsr(t ? MSR_IA32_VMX_TRUE_PROCBASED_CTLS : MSR_IA32_VMX_PROCBASED_CTLS) >> 32 &
               (1u << 22));                       /* NMI-window exiting allowed too */
    if (!k->vnmi)
        k->pin &= ~(1u << 5);
    /* proc: HLT, TSC offsetting, unconditional I/O, MSR bitmaps, secondary controls, CR8 load
     * and store exiting (CR8 is the virtual APIC's TPR; without them, and without a TPR
     * shadow, a guest's MOV to CR8 would reach the host CPU's own TPR) */
    rc |= vmx_adjust_ctls(rdmsr(t ? MSR_IA32_VMX_TRUE_PROCBASED_CTLS : MSR_IA32_VMX_PROCBASED_CTLS),
                          (1u << 25), (1u << 3) | (1u << 7) | (1u << 19) | (1u << 20) |
                          (1u << 28) | (1u << 31), &k->proc);
    k->proc &= ~((1u << 15) | (1u << 16) | (1u << 24));   /* no CR3 exits (EPT); I/O via bitmaps */
    /* proc2: EPT (needed), VPID, unrestricted guest, RDTSCP, INVPCID, XSAVES */
    rc |= vmx_adjust_ctls(rdmsr(MSR_IA32_VMX_PROCBASED_CTLS2),
                          (1u << 5) | (1u << 7) | (1u << 3) | (1u << 12) | (1u << 20), (1u << 1),
                          &k->proc2);
    /* exit: save debug controls (an exit sets DR7 to 0x400: the guest's would be lost), 64-bit
     * host, save/load PAT and EFER, save preemption timer */
    rc |= vmx_adjust_ctls(rdmsr(t ? MSR_VMX_TRUE_EXIT : MSR_VMX_EXIT), 0,
                          (1u << 2) | (1u << 9) | (1u << 18) | (1u << 19) | (1u << 20) |
                          (1u << 21), &k->exit);
    /* entry: load debug controls (DR7, IA32_DEBUGCTL), PAT and EFER (IA-32e mode guest is set
     * per vCPU from EFER.LMA) */
    rc |= vmx_adjust_ctls(rdmsr(t ? MSR_VMX_TRUE_ENTRY : MSR_VMX_ENTRY), 0,
                          (1u << 2) | (1u << 14) | (1u << 15), &k->entry);
    k->entry &= ~(1u << 9);
    uint64_t ept = rdmsr(MSR_IA32_VMX_EPT_VPID_CAP);
    k->ug = k->proc2 & (1u << 7);
    k->vpid = k->proc2 & (1u << 5);
    k->ept_1g = ept & (1ull << 17);
    k->invept_single = ept & (1ull << 25);
    k->ad = ept & (1ull << 21);
    /* PML is switched on per vCPU only while logging, so not in k->proc2. */
    k->pml = (rdmsr(MSR_IA32_VMX_PROCBASED_CTLS2) >> 32) & VMX_PROC2_PML;
    k->preempt_shift = rdmsr(MSR_VMX_MISC) & 0x1f;
    k->inject_len0 = rdmsr(MSR_VMX_MISC) & (1ull << 30);
    k->hlt = rdmsr(MSR_VMX_MISC) & (1ull << 6);
    k->cet = (cpuid(7, 0).ecx & (1u << 7)) || (cpuid(7, 0).edx & (1u << 20));
    k->phys_bits = cpuid(0x80000008, 0).eax & 0xff;
    k->cr0_fixed0 = rdmsr(MSR_VMX_CR0_FIXED0);
    k->cr0_fixed1 = rdmsr(MSR_VMX_CR0_FIXED1);
    k->cr4_fixed0 = rdmsr(MSR_VMX_CR4_FIXED0);
    k->cr4_fixed1 = rdmsr(MSR_VMX_CR4_FIXED1);
    if (k->ug)
        k->cr0_fixed0 &= ~(1ull | (1ull << 31));  /* SDM 26.3.1.1: PE and PG are free with UG */
    if (rc) {
        log_err("vmx", "this CPU lacks a VMX control ferry needs (EPT, HLT/MSR exiting, "
                       "preemption timer, or EFER/PAT switching)");
        done = -1;
        return -ENOTSUP;
    }
    done = 1;
    return 0;
}

static void invept(uint64_t type, uint64_t eptp)
{
    struct { uint64_t eptp, zero; } d = { eptp, 0 };
    __asm__ volatile("invept %0, %1" :: "m"(d), "r"(type) : "cc", "memory");
}

/* SDM 31.3 INVVPID: single-context (type 1) when offered, else all contexts (type 2). */
static void invvpid(uint16_t vpid)
{
    struct { uint64_t vpid, addr; } d = { vpid, 0 };
    uint64_t type = rdmsr(MSR_IA32_VMX_EPT_VPID_CAP) & (1ull << 41) ? 1 : 2;
    __asm__ volatile("invvpid %0, %1" :: "m"(d), "r"(type) : "cc", "memory");
}

static struct vmx_vm vmx_vms[VM_MAX];
static struct vmx_vcpu vmx_vcpus[VM_MAX][VM_MAX_VCPUS];

static void vmx_vm_destroy(struct vm *vm);

static int vmx_vm_init(struct vm *vm)
{
    struct vmx_vm *x = &vmx_vms[vm - vms];
    struct slpt_chunk c[VM_MAX_CHUNKS];

    memset(x, 0, sizeof(*x));
    for (unsigned i = 0; i < vm->nchunks; i++)
        c[i] = (struct slpt_chunk){ vm->chunks[i].gpa, vm->chunks[i].hpa, vm->chunks[i].size };
    vm->arch = x;           /* so that vmx_vm_destroy frees a partial table */
    int n = ept_map_chunks(&x->ept_root, c, vm->nchunks, vmx_caps.ept_1g, slpt_frame_alloc,
                           slpt_frame_p2v, &vm->node);
    if (n < 0) {
        vmx_vm_destroy(vm);
        return n;
    }
    x->ept_pages = n;
    x->eptp = ept_pointer(x->ept_root, false);
    return 0;
}

static void vmx_vm_destroy(struct vm *vm)
{
    struct vmx_vm *x = vm->arch;
    if (!x)
        return;
    slpt_free_tables(&ept_fmt, x->ept_root, slpt_frame_free, slpt_frame_p2v, NULL);
    x->ept_root = 0;
    vm->arch = NULL;
}

static int bitmaps_init(void)
{
    if (msr_bitmap_pa)
        return 0;
    /* All ones: every RDMSR/WRMSR and every port exits; hv/ keeps the allow-lists. */
    uint64_t m = frame_alloc(0, 1, 1, 0), io = frame_alloc(0, 2, 1, 0);
    if (!m || !io)
        return -ENOMEM;
    memset(phys_to_virt(m), 0xff, PAGE_SIZE);
    memset(phys_to_virt(io), 0xff, 2 * PAGE_SIZE);
    msr_bitmap_pa = m;
    io_bitmap_pa = io;
    return 0;
}

static void write_host_state(void)
{
    struct cpu *c = this_cpu();
    struct { uint16_t limit; uint64_t base; } __attribute__((packed)) idtr;
    __asm__ volatile("sidt %0" : "=m"(idtr));

    vmcs_writenat(VMCS_HOST_CR0, read_cr0());
    vmcs_writenat(VMCS_HOST_CR3, read_cr3());
    vmcs_writenat(VMCS_HOST_CR4, read_cr4());
    vmcs_write16(VMCS_HOST_CS_SEL, GDT_CODE64);
    vmcs_write16(VMCS_HOST_SS_SEL, GDT_DATA);
    vmcs_write16(VMCS_HOST_DS_SEL, GDT_DATA);
    vmcs_write16(VMCS_HOST_ES_SEL, GDT_DATA);
    vmcs_write16(VMCS_HOST_FS_SEL, 0);
    vmcs_write16(VMCS_HOST_GS_SEL, 0);
    vmcs_write16(VMCS_HOST_TR_SEL, GDT_TSS);
    vmcs_writenat(VMCS_HOST_FS_BASE, 0);
    vmcs_writenat(VMCS_HOST_GS_BASE, (uint64_t)c);
    vmcs_writenat(VMCS_HOST_TR_BASE, (uint64_t)&c->tss);
    vmcs_writenat(VMCS_HOST_GDTR_BASE, (uint64_t)c->gdt);
    vmcs_writenat(VMCS_HOST_IDTR_BASE, idtr.base);
    vmcs_write32(VMCS_HOST_SYSENTER_CS, 0);
    vmcs_writenat(VMCS_HOST_SYSENTER_ESP, 0);
    vmcs_writenat(VMCS_HOST_SYSENTER_EIP, 0);
    vmcs_write64(VMCS_HOST_EFER, rdmsr(MSR_EFER));
    vmcs_write64(VMCS_HOST_PAT, rdmsr(MSR_IA32_PAT));
    vmcs_writenat(VMCS_HOST_RIP, (uint64_t)vmx_exit_point);
}

static void write_controls(struct vcpu *v, struct vmx_vcpu *x)
{
    struct vmx_vm *xv = v->vm->arch;
    vmcs_write32(VMCS_PIN_CTLS, vmx_caps.pin);
    vmcs_write32(VMCS_PROC_CTLS, vmx_caps.proc);
    vmcs_write32(VMCS_PROC_CTLS2, vmx_caps.proc2);
    vmcs_write32(VMCS_EXIT_CTLS, vmx_caps.exit);
    vmcs_write32(VMCS_ENTRY_CTLS, vmx_caps.entry);
    vmcs_write32(VMCS_EXCEPTION_BITMAP, 0);
    vmcs_write32(VMCS_PF_ERR_MASK, 0);
    vmcs_write32(VMCS_PF_ERR_MATCH, 0);
    vmcs_write32(VMCS_CR3_TARGET_COUNT, 0);
    vmcs_write32(VMCS_EXIT_MSR_STORE_CNT, 0);
    vmcs_write32(VMCS_EXIT_MSR_LOAD_CNT, 0);
    vmcs_write32(VMCS_ENTRY_MSR_LOAD_CNT, 0);
    vmcs_write32(VMCS_ENTRY_INTR_INFO, 0);
    vmcs_write64(VMCS_MSR_BITMAP, msr_bitmap_pa);
    vmcs_write64(VMCS_IO_BITMAP_A, io_bitmap_pa);
    vmcs_write64(VMCS_IO_BITMAP_B, io_bitmap_pa + PAGE_SIZE);
    vmcs_write64(VMCS_EPT_POINTER, xv->eptp);
    vmcs_write64(VMCS_LINK_POINTER, ~0ull);
    if (vmx_caps.vpid)
        vmcs_write16(VMCS_VPID, x->vpid);
    /* The guest owns CR0/CR4 except the bits VMX forces: those read from the shadow. */
    x->cr0_shadow_mask = vmx_caps.cr0_fixed0 | ~vmx_caps.cr0_fixed1;
    x->cr4_shadow_mask = vmx_caps.cr4_fixed0 | ~vmx_caps.cr4_fixed1;
    vmcs_writenat(VMCS_CR0_MASK, x->cr0_shadow_mask);
    vmcs_writenat(VMCS_CR4_MASK, x->cr4_shadow_mask);
}

static void vmx_set_state(struct vcpu *v, const struct vcpu_state *s);

static int vmx_vcpu_create(struct vcpu *v)
{
    struct vmx_vcpu *x;
    uint64_t pa = zeroed_page();
    if (!pa)
        return -ENOMEM;
    x = &vmx_vcpus[v->vm - vms][v->index];
    memset(x, 0, sizeof(*x));
    x->vmcs_pa = pa;
    x->vmcs = phys_to_virt(pa);
    *(uint32_t *)x->vmcs = vmx_caps.revision;
    /* VPID 0 is the host's; on wrap-around the destroyed vCPUs' VPIDs were invalidated. */
    do
        x->vpid = __atomic_fetch_add(&next_vpid, 1, __ATOMIC_RELAXED);
    while (x->vpid == 0);
    /* Allocated with the vCPU, not on the exit path when logging starts. */
    if (vmx_caps.pml && vmx_caps.ad && !(x->pml_pa = zeroed_page())) {
        frame_free(pa, 1);
        return -ENOMEM;
    }
    x->pml = x->pml_pa ? phys_to_virt(x->pml_pa) : NULL;
    if (vmx_insn_pa("vmclear", pa) || vmx_insn_pa("vmptrld", pa)) {
        frame_free(pa, 1);
        if (x->pml_pa)
            frame_free(x->pml_pa, 1);
        return -EIO;
    }
    v->arch = x;
    write_host_state();
    write_controls(v, x);
    vmx_set_state(v, &v->init);
    /* vcpu_load restores the lazy state from these: start them from the initial state. */
    const uint64_t init_msrs[VCPU_LAZY_MSRS] = { v->init.star, v->init.lstar, v->init.cstar,
                                                 v->init.sfmask, v->init.kernel_gs_base,
                                                 v->init.tsc_aux };
    memcpy(v->lazy_msr, init_msrs, sizeof(init_msrs));
    v->lazy_cr2 = v->init.cr2;
    return 0;
}

static void vmx_vcpu_destroy(struct vcpu *v)
{
    struct vmx_vcpu *x = v->arch;
    if (!x)
        return;
    vmx_insn_pa("vmclear", x->vmcs_pa);
    /* Cached translations of this VM must not outlive its tables, nor its VPID's reuse. */
    invept(vmx_caps.invept_single ? 1 : 2, ((struct vmx_vm *)v->vm->arch)->eptp);
    if (vmx_caps.vpid)
        invvpid(x->vpid);
    frame_free(x->vmcs_pa, 1);
    if (x->pml_pa)
        frame_free(x->pml_pa, 1);
    v->arch = NULL;
}

/*
 * State VT-x leaves in the CPU across exits because the host never uses it:
 * CR2, the SYSCALL/SWAPGS MSRs and TSC_AUX. It moves only when another vCPU
 * takes this CPU (and is read or written in place by get/set_state).
 */
static const uint32_t lazy_msrs[VCPU_LAZY_MSRS] = {
    MSR_STAR, MSR_LSTAR, MSR_CSTAR, MSR_SFMASK, MSR_KERNEL_GS_BASE, MSR_TSC_AUX,
};

static void vmx_vcpu_load(struct vcpu *v)
{
    struct vmx_vcpu *x = v->arch;
    vmx_insn_pa("vmptrld", x->vmcs_pa);
    /* The host GS base and TR are per CPU: a vCPU only ever runs on its own pCPU. */
    fpu_load(v->xsave, v->xcr0);
    for (unsigned i = 0; i < VCPU_LAZY_MSRS; i++)
        wrmsr(lazy_msrs[i], v->lazy_msr[i]);
    __asm__ volatile("mov %0, %%cr2" :: "r"(v->lazy_cr2));
}

static void vmx_vcpu_put(struct vcpu *v)
{
    fpu_put(v->xsave, &v->xcr0);
    for (unsigned i = 0; i < VCPU_LAZY_MSRS; i++)
        v->lazy_msr[i] = rdmsr(lazy_msrs[i]);
    v->lazy_cr2 = read_cr2();
}

static void vmx_vm_slpt(struct vm *vm, struct slpt *t)
{
    *t = (struct slpt){ ((struct vmx_vm *)vm->arch)->ept_root, ept_fmt.present, ept_fmt.dirty,
                        vm->node };
}

static void vmx_retire(struct vcpu *v)
{
    struct vmx_vcpu *x = v->arch;
    if (!v->exit.advance)
        return;
    vmcs_writenat(VMCS_GUEST_RIP, vmcs_readnat(VMCS_GUEST_RIP) + x->last_insn_len);
    /* The instruction retired: STI / MOV SS blocking ends with it. */
    vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY,
                 vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY) & ~(INTR_STI | INTR_MOVSS));
    v->exit.advance = false;
}

static int vmx_vcpu_run(struct vcpu *v, struct hv_exit *exit)
{
    struct vmx_vcpu *x = v->arch;

    vmx_retire(v);                        /* the last exit's result (exit is &v->exit) */
    /* Until the slice's end or the next device event (SDM 26.5.1: counts TSC >> shift). */
    int64_t left = (int64_t)(this_cpu()->deadline_tsc - rdtsc());
    uint64_t ticks = left > 0 ? (uint64_t)left >> vmx_caps.preempt_shift : 0;
    vmcs_write32(VMCS_PREEMPT_TIMER, ticks > 0xffffffffu ? 0xffffffffu : (uint32_t)ticks);
    /* The flush request first: it orders what the control plane changed before it. */
    bool flush = __atomic_exchange_n(&v->flush_req, 0, __ATOMIC_ACQ_REL);
    if (vmx_dirty_sync(v) || flush)
        invept(vmx_caps.invept_single ? 1 : 2, ((struct vmx_vm *)v->vm->arch)->eptp);
    uint64_t t0 = rdtsc();
    int rc = vmx_enter(v->gpr, x->launched);
    v->guest_tsc_ticks += rdtsc() - t0;
    v->entries++;
    memset(exit, 0, sizeof(*exit));
    if (rc) {
        exit->reason = EXIT_ENTRY_FAIL;
        exit->vendor_reason = rc == 2 ? vmcs_read32(VMCS_INSN_ERROR) : 0;
        log_err("vmx", "%s failed: %s (VM-instruction error %u)",
                x->launched ? "VMRESUME" : "VMLAUNCH",
                rc == 2 ? "VMfailValid" : "VMfailInvalid", exit->vendor_reason);
        return -EIO;
    }
    x->launched = true;
    if (x->pml_on)
        vmx_pml_drain_vcpu(v);
    /* An event whose delivery the exit interrupted is delivered again (SDM 28.2.4). */
    uint32_t idt = vmcs_read32(VMCS_IDT_VECTORING_INFO);
    if (idt & (1u << 31)) {
        vmcs_write32(VMCS_ENTRY_INTR_INFO, idt & ~0x7ffff000u);
        if (idt & (1u << 11))
            vmcs_write32(VMCS_ENTRY_EXC_ERROR, vmcs_read32(VMCS_IDT_VECTORING_ERR));
        vmcs_write32(VMCS_ENTRY_INSN_LEN, vmcs_read32(VMCS_EXIT_INSN_LEN));
    }
    vmx_decode_exit(v, exit);
    x->last_insn_len = exit->insn_len;
    /* A write to a write-protected RAM page while logging: logged, let through, retried. */
    if (exit->reason == EXIT_MMIO && exit->mmio.write && vm_dirty_fault(v->vm, exit->mmio.gpa)) {
        invept(vmx_caps.invept_single ? 1 : 2, ((struct vmx_vm *)v->vm->arch)->eptp);
        exit->reason = EXIT_DIRTY;
    }
    return 0;
}

/* get/set_state run on the vCPU's CPU while it is loaded: lazy state is in the CPU. */
static void vmx_get_state(struct vcpu *v, struct vcpu_state *s)
{
    vmx_read_guest_state(s);
    s->cr2 = read_cr2();
    s->star = rdmsr(MSR_STAR);
    s->lstar = rdmsr(MSR_LSTAR);
    s->cstar = rdmsr(MSR_CSTAR);
    s->sfmask = rdmsr(MSR_SFMASK);
    s->kernel_gs_base = rdmsr(MSR_KERNEL_GS_BASE);
    s->tsc_aux = rdmsr(MSR_TSC_AUX);
    s->xcr0 = v->xcr0;
    memcpy(s->gpr, v->gpr, sizeof(s->gpr));
    s->gpr[GPR_RSP] = vmcs_readnat(VMCS_GUEST_RSP);
    s->tsc = rdtsc() + vmcs_read64(VMCS_TSC_OFFSET);
}

/* A PAE-paging state's PDPTEs from the table at CR3 (bits 31:5; vmx_pae_paging): 0, or
 * -EFAULT if that is not the guest's RAM. */
static int read_pdptes(struct vm *vm, const struct vcpu_state *s, uint64_t pdpte[4])
{
    const void *t = vm_gpa_to_hva(vm, s->cr3 & 0xffffffe0ull, 32);
    if (!t)
        return -EFAULT;
    memcpy(pdpte, t, 32);
    return 0;
}

static int vmx_state_check(struct vm *vm, const struct vcpu_state *s, char *why, size_t n)
{
    uint64_t pdpte[4] = { 0 };
    if (vmx_pae_paging(s) && read_pdptes(vm, s, pdpte)) {
        snprintf(why, n, "PAE paging with its page-directory-pointer table (CR3 0x%llx) "
                 "outside the guest's RAM", (unsigned long long)s->cr3);
        return -EINVAL;
    }
    int rc = vmx_guest_state_check(s, pdpte, why, n);
    size_t l = strnlen(why, n);
    if (rc && vmx_pae_paging(s) && l < n)
        snprintf(why + l, n - l, " (CR3 0x%llx: 0x%llx 0x%llx 0x%llx 0x%llx)",
                 (unsigned long long)s->cr3, (unsigned long long)pdpte[0],
                 (unsigned long long)pdpte[1], (unsigned long long)pdpte[2],
                 (unsigned long long)pdpte[3]);
    return rc;
}

static void vmx_set_state(struct vcpu *v, const struct vcpu_state *s)
{
    /* Loading a state is the guest's MOV to CR3 (vmx_pae_paging): outside RAM (refused for a
     * migrated state, vmx_state_check), no PDPTE is present and the first access faults. */
    uint64_t pdpte[4] = { 0 };
    if (vmx_pae_paging(s))
        read_pdptes(v->vm, s, pdpte);
    vmx_write_guest_state(s, pdpte);
    __asm__ volatile("mov %0, %%cr2" :: "r"(s->cr2));
    wrmsr(MSR_STAR, s->star);
    wrmsr(MSR_LSTAR, s->lstar);
    wrmsr(MSR_CSTAR, s->cstar);
    wrmsr(MSR_SFMASK, s->sfmask);
    wrmsr(MSR_KERNEL_GS_BASE, s->kernel_gs_base);
    wrmsr(MSR_TSC_AUX, s->tsc_aux);
    memcpy(v->gpr, s->gpr, sizeof(v->gpr));
    vmcs_write64(VMCS_TSC_OFFSET, s->tsc - rdtsc());
}

static int vmx_inject(struct vcpu *v, const struct vcpu_event *e)
{
    (void)v;
    uint32_t info = vmx_event_info(e, vmcs_readnat(VMCS_GUEST_CR0));
    if (!info)
        return -EINVAL;
    if (info & (1u << 11))
        vmcs_write32(VMCS_ENTRY_EXC_ERROR, e->has_error ? e->error : 0);
    vmcs_write32(VMCS_ENTRY_INTR_INFO, info);
    return 0;
}

#define PROC_INTR_WINDOW (1u << 2)      /* SDM 25.6.2: exit when the guest can take one */
#define PROC_NMI_WINDOW  (1u << 22)     /* ... an NMI (with virtual NMIs) */
#define RFLAGS_IF (1ull << 9)

/* Interruptibility once the exiting instruction retires (it takes its STI / MOV SS shadow
 * along), and whether an event is already queued for the next entry. */
static uint32_t entry_blocking(struct vcpu *v, bool *queued)
{
    uint32_t intr = vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY);
    if (v->exit.advance)
        intr &= ~(INTR_STI | INTR_MOVSS);
    *queued = vmcs_read32(VMCS_ENTRY_INTR_INFO) & (1u << 31);
    return intr;
}

/* Turns a window-exiting control on or off (only when it changes: a VMWRITE less per entry). */
static void set_window(bool *on, bool want, uint32_t ctl)
{
    if (want == *on)
        return;
    uint32_t p = vmcs_read32(VMCS_PROC_CTLS);
    vmcs_write32(VMCS_PROC_CTLS, want ? p | ctl : p & ~ctl);
    *on = want;
}

static bool vmx_irq_ready(struct vcpu *v, bool pending)
{
    struct vmx_vcpu *x = v->arch;
    bool ready = false, queued;
    if (pending) {
        uint32_t intr = entry_blocking(v, &queued);
        ready = !queued && (vmcs_readnat(VMCS_GUEST_RFLAGS) & RFLAGS_IF) &&
                !(intr & (INTR_STI | INTR_MOVSS));
    }
    set_window(&x->intr_window, pending && !ready, PROC_INTR_WINDOW);
    return ready;
}

/* SDM 26.3.1.5: an NMI is injected only without MOV SS blocking and (virtual NMIs) without
 * NMI blocking; the guest's IRET ends the latter, and NMI-window exiting says when. */
static bool vmx_nmi_ready(struct vcpu *v, bool pending)
{
    struct vmx_vcpu *x = v->arch;
    bool ready = false, queued;
    if (pending) {
        uint32_t intr = entry_blocking(v, &queued);
        ready = !queued && !(intr & (INTR_MOVSS | INTR_STI | INTR_NMI));
    }
    set_window(&x->nmi_window, pending && !ready && vmx_caps.vnmi, PROC_NMI_WINDOW);
    return ready;
}

static int vmx_fetch(struct vcpu *v, uint8_t *buf, size_t n)
{
    struct vcpu_state s;
    vmx_read_guest_state(&s);
    return gpt_read(v->vm, &s, gpt_code_address(&s), buf, n);
}

static void vmx_dump(struct vcpu *v)
{
    struct vcpu_state s;
    struct vm *vm = v->vm;
    vmx_get_state(v, &s);
    log_err("vmx", "vm %s vcpu %u: exit reason %u qualification 0x%llx insn error %u", vm->name,
            v->index, vmcs_read32(VMCS_EXIT_REASON),
            (unsigned long long)vmcs_readnat(VMCS_EXIT_QUAL), vmcs_read32(VMCS_INSN_ERROR));
    log_err("vmx", "  pin 0x%x proc 0x%x proc2 0x%x exit 0x%x entry 0x%x eptp 0x%llx",
            vmcs_read32(VMCS_PIN_CTLS), vmcs_read32(VMCS_PROC_CTLS), vmcs_read32(VMCS_PROC_CTLS2),
            vmcs_read32(VMCS_EXIT_CTLS), vmcs_read32(VMCS_ENTRY_CTLS),
            (unsigned long long)vmcs_read64(VMCS_EPT_POINTER));
    log_err("vmx", "  idt-vectoring 0x%x exit-intr 0x%x interruptibility 0x%x activity %u",
            vmcs_read32(VMCS_IDT_VECTORING_INFO), vmcs_read32(VMCS_EXIT_INTR_INFO),
            vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY), vmcs_read32(VMCS_GUEST_ACTIVITY));
    vcpu_state_log(vm->name, v->index, &s);
}

const struct vcpu_ops vmx_ops = {
    .name = "vmx",
    .cpu_init = vmx_cpu_init,
    .vm_init = vmx_vm_init,
    .vm_destroy = vmx_vm_destroy,
    .vcpu_create = vmx_vcpu_create,
    .vcpu_destroy = vmx_vcpu_destroy,
    .vcpu_run = vmx_vcpu_run,
    .vcpu_get_state = vmx_get_state,
    .vcpu_retire = vmx_retire,
    .vcpu_set_state = vmx_set_state,
    .vcpu_state_check = vmx_state_check,
    .vcpu_inject = vmx_inject,
    .vcpu_irq_ready = vmx_irq_ready,
    .vcpu_nmi_ready = vmx_nmi_ready,
    .vcpu_fetch = vmx_fetch,
    .vcpu_dump = vmx_dump,
    .vcpu_put = vmx_vcpu_put,
    .vcpu_load = vmx_vcpu_load,
    .vm_slpt = vmx_vm_slpt,
    .dirty_modes = vmx_dirty_modes,
};
