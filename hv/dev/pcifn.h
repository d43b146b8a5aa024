/*
 * A PCI function on the guest's bus 0 (PCI Local Bus spec 3.0, 6.1-6.8): its 256-byte type 0
 * configuration space with per-bit write masks, memory BARs the guest sizes and places, a
 * capability list, MSI-X (6.8.2) with its table and pending bits, and INTx on one of the
 * I/O APIC's PCI pins. A device type embeds one, fills the identity and BARs, adds its
 * capabilities, and registers it with the pci-host (vpci_attach, hv/dev/vpci.h); the host
 * routes configuration cycles here and memory cycles in its window to whichever BAR decodes
 * them, with the device set's lock held.
 *
 * Only memory BARs (32- or 64-bit), no I/O BARs, no expansion ROM, no bridges. MSI-X's table
 * lives in one of the function's BARs; the device forwards accesses there to
 * pcifn_msix_access. A message is delivered as the local APICs take it: address 0xFEExxxxx
 * (destination in bits 19:12, logical in bit 2), data (vector 7:0, delivery mode 10:8).
 */
#ifndef HV_DEV_PCIFN_H
#define HV_DEV_PCIFN_H

#include <stdbool.h>
#include <stdint.h>

#include "hv/dev/device.h"

#define PCIFN_BARS          6
#define PCIFN_MSIX_MAX      64          /* table entries a function may have */
#define PCIFN_CFG_SIZE      256

/* Configuration registers (type 0 header) and bits the host and devices use. */
#define PCI_VENDOR_ID       0x00
#define PCI_COMMAND         0x04
#define PCI_CMD_MEM         0x0002u
#define PCI_CMD_MASTER      0x0004u
#define PCI_CMD_INTX_OFF    0x0400u
#define PCI_STATUS          0x06
#define PCI_STATUS_INTX     0x0008u
#define PCI_STATUS_CAPS     0x0010u
#define PCI_BAR0            0x10
#define PCI_CAP_PTR         0x34
#define PCI_INT_LINE        0x3c
#define PCI_INT_PIN         0x3d
#define PCI_CAP_MSIX        0x11
#define PCI_CAP_VENDOR      0x09

/* The I/O APIC pins PCI INTx goes to: 16-23, slot + pin (INTA=0) mod 8 (the DSDT's _PRT). */
#define PCIFN_INTX_GSI(slot, pin)  (16u + (((slot) + (pin)) & 7u))

struct pcifn;

struct pcifn_ops {
    /* A memory access at off within BAR bar (off + size within its size; 1, 2, 4 or 8 bytes).
     * Reads store *val. 0 or an error (the guest takes #GP). */
    int (*bar_access)(struct pcifn *f, unsigned bar, uint64_t off, bool write, unsigned size,
                      uint64_t *val);
    /* Optional: the guest wrote configuration bytes [reg, reg+size) (after the masks). */
    void (*cfg_written)(struct pcifn *f, unsigned reg, unsigned size);
    /* Optional: a configuration read of [reg, reg+size) is about to be answered (a device
     * that computes a register on demand refreshes cfg[] here). */
    void (*cfg_reading)(struct pcifn *f, unsigned reg, unsigned size);
};

struct pcifn {
    uint8_t cfg[PCIFN_CFG_SIZE];
    uint8_t wmask[PCIFN_CFG_SIZE];      /* bits the guest may write */
    uint64_t bar_size[PCIFN_BARS];      /* 0: none (or the upper half of a 64-bit BAR) */
    bool bar64[PCIFN_BARS];
    uint8_t cap_end;                    /* where the next capability goes */
    uint8_t slot;                       /* device number on bus 0, 1-31 */
    bool intx_level;                    /* INTx asserted (before the command's disable bit) */
    /* MSI-X: table entries (addr lo, addr hi, data, control) and pending bits. */
    uint16_t msix_n;                    /* 0: no MSI-X */
    uint8_t msix_cap;                   /* its capability's offset */
    uint8_t msix_bar;
    uint32_t msix_table_off, msix_pba_off;
    uint32_t msix[PCIFN_MSIX_MAX][4];
    uint64_t msix_pending;
    struct device *dev;                 /* the device that owns it */
    const struct pcifn_ops *ops;
};

/* Sets up an empty function: identity, class (base << 16 | sub << 8 | prog-if), revision,
 * subsystem, INTA as its pin. */
void pcifn_init(struct pcifn *f, struct device *dev, const struct pcifn_ops *ops,
                uint16_t vendor, uint16_t device, uint32_t class_code, uint8_t revision,
                uint16_t subsys_vendor, uint16_t subsys);
/* A memory BAR of size bytes (a power of two >= 16); 64-bit takes bar and bar + 1. */
void pcifn_bar(struct pcifn *f, unsigned bar, uint64_t size, bool bit64);
/* Appends a capability of len bytes (id, next and the rest zero, all read-only): its offset,
 * 0 if it does not fit. */
uint8_t pcifn_add_cap(struct pcifn *f, uint8_t id, uint8_t len);
/* MSI-X with n entries, its table and pending bits at those offsets of BAR bar. */
void pcifn_add_msix(struct pcifn *f, uint16_t n, unsigned bar, uint32_t table_off,
                    uint32_t pba_off);

/* Configuration cycles from the host (reg + size within 256, naturally aligned). */
void pcifn_cfg_read(struct pcifn *f, unsigned reg, unsigned size, uint64_t *val);
void pcifn_cfg_write(struct pcifn *f, unsigned reg, unsigned size, uint64_t val);
/* The guest-physical base BAR bar decodes now, or ~0 when it does not (memory decoding off,
 * no such BAR, or not placed). */
uint64_t pcifn_bar_base(const struct pcifn *f, unsigned bar);

/* An access to the MSI-X table or pending bits (off within the BAR): true if it was one. */
bool pcifn_msix_access(struct pcifn *f, uint64_t off, bool write, unsigned size, uint64_t *val,
                       int *rc);
bool pcifn_msix_enabled(const struct pcifn *f);
/* Signals entry vec: delivered now, or pending while masked; a vector past the table (the
 * driver's "no vector") is dropped. */
void pcifn_msix_notify(struct pcifn *f, unsigned vec);
/* Drives INTx (level); masked by the command register's disable bit and while MSI-X is on. */
void pcifn_intx(struct pcifn *f, bool level);
/* Is the function driving its INTx wire now (its status register's interrupt bit, unless the
 * command register disables INTx)? */
bool pcifn_intx_asserted(const struct pcifn *f);

/* Power-on state: command, BAR bases, interrupt line, MSI-X state cleared; identity kept. */
void pcifn_reset(struct pcifn *f);

/* The function's part of a device record: config space, MSI-X table and pending bits. */
#define PCIFN_REC_SIZE (PCIFN_CFG_SIZE + PCIFN_MSIX_MAX * 16 + 8)
void pcifn_save(const struct pcifn *f, uint8_t **rec);
/* Would rec (a saved function of the same device type) load? Read-only bits must match. */
int pcifn_check(const struct pcifn *f, const uint8_t *rec, char *why, size_t n);
void pcifn_load(struct pcifn *f, const uint8_t **rec);

#endif
