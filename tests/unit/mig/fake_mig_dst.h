/*
 * What lies below the migration target (hv/mig/mig_dst.c) for its host tests and fuzz target:
 * VMs whose RAM is host memory (a skeleton's filled with 0xee: not known to be zero), an AVX-512
 * CPU's XSAVE layout, no devices, the switch "lan", and a connection that collects what the
 * target writes. Failures abort (the fuzzer has no cmocka).
 */
#ifndef FAKE_MIG_DST_H
#define FAKE_MIG_DST_H

#include <stdbool.h>
#include <stdint.h>

#include "hv/cpu/cpu_policy.h"
#include "hv/vm/vm.h"

struct mig_conn {
    uint32_t peer;
    bool closed;
    size_t received;            /* what the fake peer sent: mig_conn_received() */
    const char *name;           /* the host name it authenticated as over TLS (NULL: none) */
    uint8_t out[1 << 16];
    size_t out_len;
};

extern uint8_t *vm_ram[VM_MAX];         /* each VM's RAM */
extern struct cpu_policy host_policy;   /* what vm_host_policy answers */
extern uint64_t page_lookups;           /* vm_gpa_to_hva calls: the target's work on RAM */
extern int start_fails;                 /* vm_start fails */

#endif
