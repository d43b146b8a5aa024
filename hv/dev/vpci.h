/*
 * The guest's PCI host bridge: configuration mechanism #1 (PCI Local Bus
 * spec 3.0, 3.2.2.3.2) on ports 0xCF8 (CONFIG_ADDRESS, dword accesses only)
 * and 0xCFC-0xCFF (CONFIG_DATA, 1/2/4 bytes within the dword), over bus 0.
 * Function 00:00.0 is the host bridge itself (an Intel 440FX's identity,
 * 8086:1237, class 06/00/00, as Linux and firmware expect to find one); devices
 * (virtio) attach functions (hv/dev/pcifn.h) at slots 1-31, function 0; every
 * other function reads as absent (all ones). The bridge decodes one 32-bit
 * memory window (the DSDT's _CRS says where): an access there goes to the BAR
 * that decodes it, or reads all ones (a master abort) if none does. With cfg->ecam the same space is also reachable
 * through ECAM (PCI Express enhanced configuration: bus/device/function/register
 * in the MMIO offset, the MCFG table says where), for buses 0..ecam_buses-1.
 * Record version 1: CONFIG_ADDRESS u32, then the bridge's 256-byte
 * configuration space; only its writable bytes may differ from power-on.
 */
#ifndef HV_DEV_VPCI_H
#define HV_DEV_VPCI_H

#include <stdint.h>

#include "hv/dev/device.h"

#define VPCI_PORT          0xcf8
#define VPCI_ADDR_ENABLE   0x80000000u
#define VPCI_ADDR_MASK     0x80fffffcu     /* enable, bus, device, function, dword register */
/* The PIIX reset control register (0xCF9, byte writes) and its bits: RST_CPU resets. */
#define VPCI_RESET_PORT    (VPCI_PORT + 1)
#define VPCI_RESET_SYS     0x02u
#define VPCI_RESET_CPU     0x04u

/* ECAM in the PC hole (above 3 GiB of low RAM, below the APICs): bus 0 only, 1 MiB. */
#define VPCI_ECAM_BASE     0xe0000000ull
#define VPCI_ECAM_BUSES    1

/* The memory window BARs are placed in: below ECAM, above any low RAM (which ends by 3 GiB). */
#define VPCI_MMIO32_BASE   0xc0000000ull
#define VPCI_MMIO32_SIZE   0x20000000ull
#define VPCI_SLOTS         32

struct vpci_cfg {
    uint16_t port;                          /* 0xCF8: eight ports from here */
    uint64_t ecam;                          /* MMIO configuration space, 0: none */
    unsigned ecam_buses;                    /* buses 0..ecam_buses-1, 1 MiB each */
    uint64_t mmio32_base, mmio32_size;      /* the BARs' window, size 0: none */
};

struct pcifn;

struct vpci {
    uint32_t addr;                          /* CONFIG_ADDRESS */
    uint8_t bridge[256];                    /* 00:00.0's configuration space */
    struct pcifn *fn[VPCI_SLOTS];           /* attached functions by slot (0: the bridge) */
    uint64_t window;                        /* the memory window's base */
};

extern const struct dev_type vpci_type;

/* Attaches f at the lowest free slot (f->slot set): 0, or -ENOSPC. The devices of a VM are
 * created in one order on every host, so a function keeps its slot across a migration. */
int vpci_attach(struct device *host, struct pcifn *f);
void vpci_detach(struct device *host, struct pcifn *f);
/* Drives INTx line gsi as the OR of every function wired to it. */
void vpci_intx_sync(struct device *host, unsigned gsi);

#endif
