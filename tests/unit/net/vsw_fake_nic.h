/*
 * A NIC for the switch tests (tests/unit/net/): its receive path goes through the real
 * receive pool (drivers/nic_rxpool.c) with a small "ring", as a driver's does, so frames reach
 * lwIP lent or copied by the same rule; transmitted frames are kept for the test to read.
 * fnic_init registers it (fake_env.c names it eth0).
 */
#ifndef VSW_FAKE_NIC_H
#define VSW_FAKE_NIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drivers/nic.h"

#define FNIC_FRAMES 64

struct fnic_frame {
    size_t len;
    uint8_t b[1536];
};

struct fnic {
    struct nic nic;
    struct nic_rxbuf *slot[8];              /* the "ring" */
    unsigned next_slot;
    struct fnic_frame wire[FNIC_FRAMES];    /* arrived, not yet polled */
    unsigned wire_head, wire_tail;
    struct fnic_frame tx[FNIC_FRAMES];      /* sent */
    unsigned ntx;
    bool tx_full;                           /* tx answers -EAGAIN */
    bool promisc;
    unsigned promisc_calls;
};

extern struct fnic fnic;

void fnic_init(const uint8_t mac[6]);
/* A frame arrives from the wire (the next rx_poll hands it up). */
void fnic_wire(const void *frame, size_t len);

#endif
