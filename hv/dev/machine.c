/* Machine descriptions and the known device types; see hv/dev/machine.h. */
#include <stddef.h>

#include "hv/dev/machine.h"
#include "hv/dev/vacpipm.h"
#include "hv/dev/vdebugexit.h"
#include "hv/dev/vi8042.h"
#include "hv/dev/vioapic.h"
#include "hv/dev/vkvmclock.h"
#include "hv/dev/vlapic.h"
#include "hv/dev/vpci.h"
#include "hv/dev/vpic.h"
#include "hv/dev/vpit.h"
#include "hv/dev/vrtc.h"
#include "hv/dev/vuart.h"
#include "hv/dev/vvirtio_blk.h"
#include "hv/dev/vvirtio_net.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ISA interrupt lines: PIT 0, COM1 4, SCI 9, RTC 8; the 8259 pair and the I/O APIC both
 * listen to them all (the I/O APIC has the PIT on pin 2, as the MADT says). */
static const struct vpic_cfg pic = { .master = VPIC_MASTER, .slave = VPIC_SLAVE,
                                     .elcr = VPIC_ELCR };
static const struct vuart_cfg com1 = { .port = UART_DEV_COM1_BASE, .irq = 4 };
static const struct vdebugexit_cfg debug_exit = { .port = VDEBUGEXIT_PORT };
static const struct vpci_cfg pci = { .port = VPCI_PORT, .ecam = VPCI_ECAM_BASE,
                                     .ecam_buses = VPCI_ECAM_BUSES,
                                     .mmio32_base = VPCI_MMIO32_BASE,
                                     .mmio32_size = VPCI_MMIO32_SIZE };
static const struct vpit_cfg pit = { .port = VPIT_PORT, .port61 = VPIT_PORT61, .irq = 0 };
static const struct vrtc_cfg rtc = { .port = VRTC_PORT, .irq = 8 };
static const struct vi8042_cfg kbc = { .data = VI8042_DATA, .cmd = VI8042_CMD };
/* One local APIC per vCPU, vCPU 0's left in virtual wire mode as firmware leaves it (the
 * 8259's INTR through its LINT0): guests boot without firmware. */
static const struct vlapic_cfg lapic = { .base = VLAPIC_BASE, .nvcpus = 0,
                                         .eoi_level = vioapic_lapic_eoi,
                                         .bios_virtual_wire = true };
static const struct vioapic_cfg ioapic = { .base = VIOAPIC_BASE, .id = 0 };
static const struct vacpipm_cfg acpi_pm = { .port = VACPIPM_PORT, .sci = VACPIPM_SCI };

static const struct dev_machine_entry ferry_min[] = {
    { &vpic_type, 0, &pic },
    { &vlapic_type, 0, &lapic },
    { &vuart_type, 0, &com1 },
    { &vdebugexit_type, 0, &debug_exit },
    { &vpci_type, 0, &pci },
    { &vpit_type, 0, &pit },
    { &vrtc_type, 0, &rtc },
    { &vkvmclock_type, 0, NULL },
    { &vi8042_type, 0, &kbc },
    { &vioapic_type, 0, &ioapic },
    { &vacpipm_type, 0, &acpi_pm },
};

const struct dev_machine machine_ferry_min = { "ferry-min", ferry_min, ARRAY_LEN(ferry_min) };

void machine_ferry_min_acpi(unsigned nvcpus, struct acpi_machine *out)
{
    *out = (struct acpi_machine){
        .nvcpus = nvcpus,
        .lapic_base = lapic.base,
        .ioapic_base = ioapic.base,
        .ioapic_id = ioapic.id,
        .pm_port = acpi_pm.port,
        .sci = acpi_pm.sci,
        .reset_port = VPCI_RESET_PORT,
        .reset_value = VPCI_RESET_CPU | VPCI_RESET_SYS,
        .rtc_century = VRTC_CENTURY,
        .ecam_base = pci.ecam,
        .ecam_bus_end = (uint8_t)(pci.ecam_buses - 1),
        /* PCI0's window is the pci-host's; none above 4 GiB. */
        .pci_mmio32_base = pci.mmio32_base,
        .pci_mmio32_size = pci.mmio32_size,
    };
}

const struct dev_type *const dev_known_types[] = {
    &vuart_type,
    &vdebugexit_type,
    &vpci_type,
    &vpit_type,
    &vpic_type,
    &vrtc_type,
    &vkvmclock_type,
    &vi8042_type,
    &vlapic_type,
    &vioapic_type,
    &vacpipm_type,
    &vvirtio_blk_type,
    &vvirtio_net_type,
};
const unsigned dev_known_count = ARRAY_LEN(dev_known_types);
