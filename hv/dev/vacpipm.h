/*
 * The ACPI power-management block a PC's chipset has (ACPI 6.5, 4.8 "ACPI Hardware Model",
 * fixed hardware; the FADT written by hv/dev/acpi_tables.c points at it), at ports base..+11:
 *   +0  PM1_STS  (16 bits): TMR_STS (bit 0), GBL_STS (5), PWRBTN_STS (8), RTC_STS (10, never
 *       set: the RTC's alarm interrupts on IRQ 8), WAK_STS (15); writing 1 clears;
 *   +2  PM1_EN   (16 bits): TMR_EN (0), GBL_EN (5), PWRBTN_EN (8), RTC_EN (10);
 *   +4  PM1_CNT  (16 bits): SCI_EN (0, reads 1: there is no SMI_CMD, the machine is always in
 *       ACPI mode), BM_RLD (1), GBL_RLS (2, write-only), SLP_TYP (12:10), SLP_EN (13,
 *       write-only): SLP_EN with SLP_TYP = VACPIPM_S5 (the DSDT's \_S5) powers the VM off;
 *       another type is a sleep state this machine does not offer and is ignored;
 *   +8  PM_TMR   (32 bits, read-only): the power-management timer at 3.579545 MHz, all 32
 *       bits counting (the FADT's TMR_VAL_EXT); TMR_STS sets whenever its bit 31 changes.
 * Any access of 1, 2 or 4 bytes within the block works byte by byte (others: -EINVAL).
 * The SCI (an interrupt line, level, IRQ 9 on a PC) is up while a status bit and its enable
 * are both set.
 *
 * Record version 1: PM1_STS/EN/CNT, the timer's count when saved (it resumes from there on
 * the target, so it never goes back), and the count at which TMR_STS sets next.
 */
#ifndef HV_DEV_VACPIPM_H
#define HV_DEV_VACPIPM_H

#include <stdint.h>

#include "hv/dev/device.h"

#define VACPIPM_PORT     0x600
#define VACPIPM_LEN      12
#define VACPIPM_SCI      9
#define VACPIPM_TMR_HZ   3579545u
#define VACPIPM_S5       5          /* SLP_TYP of \_S5 (soft off) in ferry's DSDT */
/* Offsets in the block (the FADT's PM1a_EVT_BLK, PM1a_CNT_BLK and PM_TMR_BLK). */
#define VACPIPM_EVT      0
#define VACPIPM_CNT      4
#define VACPIPM_TMR      8

struct vacpipm_cfg {
    uint16_t port;                  /* 0: VACPIPM_PORT */
    uint8_t sci;                    /* the SCI's line (0 means line 0: give it) */
};

struct vacpipm {
    uint16_t port;
    uint8_t sci;
    uint16_t sts, en, cnt;
    uint64_t base_ns, base_ticks;   /* the timer: base_ticks at device time base_ns */
    uint64_t next_flip;             /* the 64-bit count at which bit 31 next changes */
};

extern const struct dev_type vacpipm_type;

#endif
