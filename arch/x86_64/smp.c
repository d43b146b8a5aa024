/*
 * AP bring-up: INIT-SIPI-SIPI (SDM vol. 3 sec. 9.4.4) one CPU at a time
 * through a trampoline below 1 MiB. Each AP loads its own GDT/TSS, enables
 * its local APIC, reports in and parks in "sti; hlt" until the BSP hands it
 * work and sends VEC_WAKEUP.
 */
#include <errno.h>
#include <string.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/lapic.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/smp.h"
#include "arch/x86_64/trap.h"
#include "hv/base/log.h"
#include "hv/base/mem.h"
#include "hv/base/time.h"

extern const uint8_t trampoline_start[], trampoline_end[], trampoline_params[];
extern const uint8_t trampoline_long[];

struct tramp_params {
    uint64_t gdt[3];
    uint16_t gdtr_limit;
    uint32_t gdtr_base;
    uint16_t pad0;
    uint32_t far_off;
    uint16_t far_sel;
    uint16_t pad1;
    uint32_t cr3_low;
    uint32_t pad2;
    uint64_t cr3, stack, cpu, entry;
} __attribute__((packed));

_Static_assert(sizeof(struct tramp_params) == 80, "trampoline.S parameter block");

#define TRAMP_PAGES 4   /* code+params, PML4, PDPT, PD */

static volatile unsigned online = 1;

static void wakeup_handler(struct trap_frame *tf) { (void)tf; }

static void __attribute__((noreturn)) ap_entry(struct cpu *c, uint64_t cr3)
{
    write_cr3(cr3);
    write_cr4(read_cr4() | CR4_PGE);
    cpu_setup(c);
    lapic_init();
    __atomic_store_n(&c->online, 1, __ATOMIC_RELEASE);
    __atomic_fetch_add(&online, 1, __ATOMIC_SEQ_CST);
    for (;;) {
        void (*fn)(void *) = c->work_fn;
        if (fn) {
            void *arg = c->work_arg;
            c->work_fn = NULL;
            fn(arg);
            continue;
        }
        cpu_sti_hlt();
    }
}

static uint64_t find_low_pages(const struct boot_info *bi)
{
    for (uint32_t i = 0; i < bi->nregions; i++) {
        const struct boot_mem_region *r = &bi->regions[i];
        uint64_t base = r->base < 0x1000 ? 0x1000 : r->base;
        uint64_t end = r->base + r->pages * PAGE_SIZE;
        if (end > 0x9f000)
            end = 0x9f000;
        if (r->type == BOOT_MEM_USABLE && base + TRAMP_PAGES * PAGE_SIZE <= end)
            return base;
    }
    return 0;
}

static uint64_t tramp_install(const struct boot_info *bi, uint64_t cr3)
{
    uint64_t t = find_low_pages(bi);
    if (!t)
        return 0;
    uint8_t *p = phys_to_virt(t);
    memset(p, 0, TRAMP_PAGES * PAGE_SIZE);
    memcpy(p, trampoline_start, trampoline_end - trampoline_start);

    uint64_t *pml4 = phys_to_virt(t + 0x1000), *pdpt = phys_to_virt(t + 0x2000);
    uint64_t *pd = phys_to_virt(t + 0x3000);
    const uint64_t *core = phys_to_virt(cr3);
    pml4[0] = (t + 0x2000) | 3;
    pdpt[0] = (t + 0x3000) | 3;
    pd[0] = 0x83;                                  /* 2 MiB identity, present+RW+PS */
    for (int i = 256; i < 512; i++)
        pml4[i] = core[i];

    struct tramp_params *tp = (void *)(p + (trampoline_params - trampoline_start));
    tp->gdtr_base = t + (trampoline_params - trampoline_start);
    tp->far_off = t + (trampoline_long - trampoline_start);
    tp->cr3_low = t + 0x1000;
    tp->cr3 = cr3;
    tp->entry = (uint64_t)ap_entry;
    return t;
}

static int boot_one(uint64_t t, struct cpu *c)
{
    struct tramp_params *tp =
        (void *)((uint8_t *)phys_to_virt(t) + (trampoline_params - trampoline_start));
    uint64_t stack = frame_alloc(c->node, CPU_STACK_SIZE / PAGE_SIZE, 1, 0);
    if (!stack)
        return -ENOMEM;
    c->stack_top = (uint8_t *)phys_to_virt(stack) + CPU_STACK_SIZE;
    tp->stack = (uint64_t)c->stack_top;
    tp->cpu = (uint64_t)c;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);

    lapic_send_ipi(c->apic_id, ICR_INIT | ICR_ASSERT | ICR_LEVEL);
    time_delay_us(10000);
    for (int sipi = 0; sipi < 2 && !c->online; sipi++) {
        lapic_send_ipi(c->apic_id, ICR_STARTUP | (uint32_t)(t >> 12));
        for (int i = 0; i < 1000 && !__atomic_load_n(&c->online, __ATOMIC_ACQUIRE); i++)
            time_delay_us(sipi ? 1000 : 200);
    }
    return c->online ? 0 : -ETIMEDOUT;
}

unsigned smp_boot_aps(const struct boot_info *bi, uint64_t cr3)
{
    trap_set_handler(VEC_WAKEUP, wakeup_handler);
    if (cpu_count < 2)
        return 1;
    uint64_t t = tramp_install(bi, cr3);
    if (!t) {
        log_err("smp", "no free memory below 1 MiB for the AP trampoline; running on the BSP only");
        return 1;
    }
    for (unsigned i = 1; i < cpu_count; i++) {
        int rc = boot_one(t, &cpus[i]);
        if (rc)
            log_err("smp", "cpu %u (apic %u) did not start (%d)", i, cpus[i].apic_id, rc);
    }
    return online;
}

unsigned smp_online(void) { return online; }

int smp_run_on(unsigned cpu, void (*fn)(void *), void *arg)
{
    struct cpu *c = &cpus[cpu];
    if (cpu == 0 || cpu >= cpu_count || !c->online)
        return -EINVAL;
    if (c->work_fn)
        return -EBUSY;
    c->work_arg = arg;
    __atomic_store_n(&c->work_fn, fn, __ATOMIC_RELEASE);
    lapic_send_ipi(c->apic_id, VEC_WAKEUP | ICR_ASSERT);
    return 0;
}
