/*
 * The e1000's set_promisc, which a switch's uplink uses (drivers/e1000.c under a fake
 * 82540EM whose registers live in host memory): RCTL's UPE and MPE go on and off, and
 * nothing else in RCTL moves.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/e1000.c"
#include "fake_env.h"
#include "support.h"

static uint8_t *regs;

static uint32_t *reg(unsigned r) { return (uint32_t *)(regs + r); }

/* The reset completes by the time the driver reads the clock. */
uint64_t time_ns(void)
{
    *reg(REG_CTRL) &= ~CTRL_RST;
    return fake_now_ns += 1000;
}

void time_delay_us(uint64_t us) { fake_now_ns += us * 1000; }

static uint16_t pci_cmd;
uint16_t pci_read16(const struct pci_dev *d, unsigned off) { (void)d, (void)off; return pci_cmd; }
void pci_write16(const struct pci_dev *d, unsigned off, uint16_t v)
{
    (void)d, (void)off;
    pci_cmd = v;
}
void pci_enable(const struct pci_dev *d, bool mem, bool io, bool master)
{
    (void)d, (void)mem, (void)io, (void)master;
}
bool pci_bar_mapped(const struct pci_bar *b) { return b->base != 0; }

static void test_set_promisc(void **state)
{
    (void)state;
    static struct pci_dev pdev;
    regs = aligned_alloc(PAGE_SIZE, MMIO_SIZE);
    assert_non_null(regs);
    memset(regs, 0, MMIO_SIZE);
    *reg(REG_RAL(0)) = 0x00545202;
    *reg(REG_RAH(0)) = 0x0100 | RAH_AV;
    pdev.vendor = 0x8086;
    pdev.device = 0x100e;
    pdev.bar[0] = (struct pci_bar){ .base = virt_to_phys(regs), .size = MMIO_SIZE };
    assert_int_equal(e1000_probe(&pdev), 0);
    struct nic *n = fake_nic;
    const uint32_t base = RCTL_EN | RCTL_BAM | RCTL_SECRC;
    assert_int_equal(*reg(REG_RCTL), base);
    assert_non_null(n->ops->set_promisc);
    assert_int_equal(n->ops->set_promisc(n, true), 0);
    assert_int_equal(*reg(REG_RCTL), base | RCTL_UPE | RCTL_MPE);
    assert_int_equal(n->ops->set_promisc(n, true), 0);
    assert_int_equal(*reg(REG_RCTL), base | RCTL_UPE | RCTL_MPE);
    assert_int_equal(n->ops->set_promisc(n, false), 0);
    assert_int_equal(*reg(REG_RCTL), base);
    /* SDM 13.4.22: UPE is bit 3, MPE bit 4. */
    assert_int_equal(RCTL_UPE | RCTL_MPE, 0x18);
}

int main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_set_promisc) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
