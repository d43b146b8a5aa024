// libFuzzer over every device of today's machine (hv/dev/machine.c), as a guest and as a
// migration peer would drive them. The input is a list of operations: port reads and writes of
// any size at the machine's ports (and a few beside them), local APIC register accesses by
// either vCPU, x2APIC MSRs and IA32_APIC_BASE mode switches and TSC deadlines, I/O APIC window
// accesses (IOREGSEL, IOWIN, EOI and the rest), clock steps with polls (timers fire, lines move), the CPU's acknowledges and
// EOIs, migrations to a second VM, and hostile records. Invariants: nothing crashes or reads out of bounds (ASan/UBSan); a
// record a device saved always passes its own type's check and loads (a migration between two
// hosts of this build never fails); a record a peer invents is refused or loads, never half.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_vm.h"
#include "hv/dev/dev_ids.h"
#include "hv/dev/machine.h"
#include "hv/dev/vioapic.h"
#include "hv/dev/vlapic.h"
#include "hv/dev/vpic.h"

static const uint16_t ports[] = {
    0x3f8, 0x3f9, 0x3fa, 0x3fb, 0x3fc, 0x3fd, 0x3fe, 0x3ff, 0xf4, 0xf5, 0xcf8, 0xcf9, 0xcfa,
    0xcfb, 0xcfc, 0xcfd, 0xcfe, 0xcff, 0x40, 0x41, 0x42, 0x43, 0x61, 0x60, 0x64, 0x20, 0x21,
    0xa0, 0xa1, 0x4d0, 0x4d1, 0x70, 0x71, 0x600, 0x601, 0x602, 0x603, 0x604, 0x605, 0x606,
    0x607, 0x608, 0x609, 0x60a, 0x60b, 0x60c,
};

/* What a vCPU does to take an interrupt: the APIC's or the PIC's, then perhaps an EOI. */
static void take_interrupt(struct fake_vm *fv, unsigned vcpu, uint8_t how)
{
    struct device *lapic = dev_find(&fv->devs, DEV_ID_LAPIC, 0);
    struct device *pic = dev_find(&fv->devs, DEV_ID_PIC, 0);
    bool level;
    if (lapic && vlapic_pending(lapic, vcpu) >= 0)
        (void)vlapic_ack(lapic, vcpu);
    else if (pic && (!lapic || vlapic_extint_enabled(lapic, vcpu)) && vpic_intr(pic))
        (void)vpic_ack(pic);
    if (lapic && (how & 1))
        (void)vlapic_eoi(lapic, vcpu, &level);
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "fuzz_devices: %s: %s\n", what, why);
    abort();
}

/* Every device's saved record must pass its own check on the other VM, and load. */
static void migrate(struct fake_vm *a, struct fake_vm *b)
{
    char why[200];
    if (fake_vm_migrate(a, b, why, sizeof(why)))
        die("a saved record was refused", why);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t rec[DEV_RECORD_MAX];
    struct fake_vm a, b;
    char why[200];
    fake_vm_build(&a, &machine_ferry_min);
    fake_vm_build(&b, &machine_ferry_min);
    b.now_ns = 5000000000000ull;
    struct fake_vm *cur = &a, *other = &b;
    for (size_t i = 0; i + 4 <= size; i += 4) {
        uint8_t op = data[i] & 15, p = data[i + 1], v = data[i + 2], w = data[i + 3];
        uint16_t port = ports[p % (sizeof(ports) / sizeof(ports[0]))];
        unsigned sz = 1u << (w & 3);                     /* 1, 2, 4, 8: 8 must be refused */
        switch (op) {
        case 0: case 1:
            (void)fake_vm_in(cur, port, sz > 4 ? 4 : sz);
            break;
        case 2: case 3:
            fake_vm_out(cur, port, sz > 4 ? 4 : sz, (uint32_t)v * 0x01010101u ^ w);
            break;
        case 4:
            fake_vm_advance(cur, (uint64_t)v << (w & 31));
            (void)fake_vm_poll(cur);
            break;
        case 6: case 7: {                                /* the local APIC page, either vCPU */
            uint64_t val = (uint64_t)v * 0x01010101u ^ (uint64_t)p << 8;
            fake_vm_set_vcpu(cur, data[i] >> 7);
            uint64_t gpa = VLAPIC_BASE + (((uint64_t)p << 4) | (w & 0xf));
            if (op == 6)
                (void)fake_vm_mmio_read(cur, gpa, sz, &val);
            else
                (void)fake_vm_mmio_write(cur, gpa, sz, val);
            break;
        }
        case 8:
            take_interrupt(cur, (data[i] >> 7) & 1, w);
            break;
        case 9: {                                        /* the I/O APIC's window */
            uint64_t val = (uint64_t)v * 0x01010101u ^ (uint64_t)w << 24;
            uint64_t gpa = VIOAPIC_BASE + (p & 0xfc);
            if (w & 4)
                (void)fake_vm_mmio_read(cur, gpa, sz, &val);
            else
                (void)fake_vm_mmio_write(cur, gpa, sz, val);
            break;
        }
        case 10: {                                       /* x2APIC MSRs, modes, TSC deadline */
            unsigned vcpu = data[i] >> 7;
            struct device *lapic = dev_find(&cur->devs, DEV_ID_LAPIC, 0);
            uint64_t val = (uint64_t)v * 0x01010101u ^ (uint64_t)(w & 0x30) << 28;
            fake_vm_set_vcpu(cur, vcpu);
            if ((w & 0xc0) == 0xc0)
                (void)vlapic_set_mode(lapic, vcpu, (enum vlapic_mode)(p % 4));
            else if ((w & 0xc0) == 0x80)
                (void)vlapic_tsc_deadline_write(lapic, vcpu, val << (p & 15), val, 1 + p * 1000u);
            else if (w & 0x40)
                (void)fake_vm_wrmsr(cur, VLAPIC_MSR_BASE + p, val);
            else
                (void)fake_vm_rdmsr(cur, VLAPIC_MSR_BASE + p, &val);
            break;
        }
        case 5:
            migrate(cur, other);
            cur = cur == &a ? &b : &a;
            other = cur == &a ? &b : &a;
            break;
        default: {                                       /* a peer's invented record */
            struct device *d = other->devs.devs[p % other->devs.ndevs];
            int n = dev_save(d, rec, sizeof(rec));
            if (n <= 0)
                die("save", "no record");
            rec[(size_t)v * 7 % (size_t)n] ^= (uint8_t)(w | 1);
            if (dev_stage(d, d->type->version, rec, (size_t)n, why, sizeof(why)) == 0)
                dev_set_load_staged(&other->devs);
            else
                dev_set_drop_staged(&other->devs);
            break;
        }
        }
    }
    migrate(cur, other);
    fake_vm_destroy(&a);
    fake_vm_destroy(&b);
    return 0;
}
