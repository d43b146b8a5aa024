/*
 * Reset in order of preference: the FADT RESET_REG (ACPI 6.4 sec. 4.8.3.6,
 * system I/O or memory space), the PCI reset control register at 0xCF9
 * (write 0x02 then 0x06: hard reset), the 8042 keyboard controller's pulse
 * of the reset line (0xFE to port 0x64), and last a triple fault.
 */
#include "arch/x86_64/cpu.h"
#include "drivers/reset.h"
#include "hv/base/mem.h"
#include "hv/base/time.h"

#define GAS_SYSTEM_MEMORY 0
#define GAS_SYSTEM_IO     1

static void try_fadt(const struct acpi_info *ai)
{
    if (!ai || !ai->reset_supported)
        return;
    const struct acpi_gas *g = &ai->reset_reg;
    if (g->space_id == GAS_SYSTEM_IO && g->address <= 0xffff)
        outb((uint16_t)g->address, ai->reset_value);
    else if (g->space_id == GAS_SYSTEM_MEMORY && g->address)
        *(volatile uint8_t *)phys_to_virt(g->address) = ai->reset_value;
    time_delay_us(50000);
}

void reset_system(const struct acpi_info *ai)
{
    cpu_cli();
    try_fadt(ai);
    outb(0xcf9, 0x02);
    time_delay_us(1000);
    outb(0xcf9, 0x06);
    time_delay_us(50000);
    for (int i = 0; i < 1000 && (inb(0x64) & 0x02); i++)
        time_delay_us(10);
    outb(0x64, 0xfe);
    time_delay_us(50000);
    /* An empty IDT turns the next exception into a triple fault. */
    struct { uint16_t limit; uint64_t base; } __attribute__((packed)) null_idt = { 0, 0 };
    __asm__ volatile("lidt %0; int3" :: "m"(null_idt));
    cpu_halt_forever();
}
