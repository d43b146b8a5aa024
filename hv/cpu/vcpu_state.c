#include "hv/base/log.h"
#include "hv/cpu/vcpu_state.h"

static void log_seg(const char *name, const struct seg *g)
{
    log_err("vcpu", "  %-4s sel %04x attr %05x limit %08x base %016llx", name, g->sel, g->attr,
            g->limit, (unsigned long long)g->base);
}

void vcpu_state_log(const char *vm_name, unsigned index, const struct vcpu_state *s)
{
    static const char *const n[GPR_COUNT] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi",
        "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15" };
    log_err("vcpu", "vm %s vcpu %u: rip %016llx rflags %016llx activity %u", vm_name, index,
            (unsigned long long)s->rip, (unsigned long long)s->rflags, s->activity);
    for (unsigned i = 0; i < GPR_COUNT; i += 4)
        log_err("vcpu", "  %-3s %016llx %-3s %016llx %-3s %016llx %-3s %016llx", n[i],
                (unsigned long long)s->gpr[i], n[i + 1], (unsigned long long)s->gpr[i + 1],
                n[i + 2], (unsigned long long)s->gpr[i + 2], n[i + 3],
                (unsigned long long)s->gpr[i + 3]);
    log_err("vcpu", "  cr0 %016llx cr2 %016llx cr3 %016llx cr4 %016llx efer %llx",
            (unsigned long long)s->cr0, (unsigned long long)s->cr2, (unsigned long long)s->cr3,
            (unsigned long long)s->cr4, (unsigned long long)s->efer);
    log_seg("cs", &s->cs);
    log_seg("ss", &s->ss);
    log_seg("ds", &s->ds);
    log_seg("tr", &s->tr);
    log_err("vcpu", "  gdtr %016llx/%x idtr %016llx/%x", (unsigned long long)s->gdtr.base,
            s->gdtr.limit, (unsigned long long)s->idtr.base, s->idtr.limit);
}
