/*
 * Stable migration type ids of guest devices: they travel in HELLO and DEVICE
 * records, so an id is never reused or renumbered (retire it instead).
 * 0x7f00-0x7fff are for unit tests and never appear in a machine.
 */
#ifndef HV_DEV_DEV_IDS_H
#define HV_DEV_DEV_IDS_H

enum dev_id {
    DEV_ID_UART16550 = 1,
    DEV_ID_DEBUG_EXIT = 2,
    DEV_ID_PCI_HOST = 3,
    DEV_ID_PIT = 4,
    DEV_ID_PIC = 5,
    DEV_ID_RTC = 6,
    DEV_ID_KVMCLOCK = 7,
    DEV_ID_LAPIC = 8,
    DEV_ID_I8042 = 9,                   /* 8 is the local APIC's */
    DEV_ID_IOAPIC = 10,
    DEV_ID_ACPI_PM = 11,
    DEV_ID_VIRTIO_BLK = 12,
    DEV_ID_VIRTIO_NET = 13,
    DEV_ID_TEST_FIRST = 0x7f00,
};

#endif
