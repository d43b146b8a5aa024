/*
 * Guest NICs on virtual switches: the hooks hv/vm calls (struct vm_net_hooks) over
 * net/vswitch.h, and the announcement a NIC makes after its VM moved here: a RARP from its
 * MAC, broadcast on its switch (and so out of the uplink), five times 50, 150, 250 and 350 ms
 * apart as QEMU's announce does by default, so that the physical switches and the source
 * host's virtual switch learn where the MAC is now even if a frame is lost.
 */
#include <stdio.h>
#include <string.h>

#include "hv/base/time.h"
#include "hv/mgmt/mgmt_internal.h"
#include "hv/mgmt/mgmt_nic.h"
#include "net/vswitch.h"

#define ANNOUNCE_ROUNDS     5
#define ANNOUNCE_FIRST_NS   50000000ull
#define ANNOUNCE_STEP_NS    100000000ull
#define ANNOUNCE_SLOTS      (VM_MAX * VM_NICS_MAX)

/* Pending re-announcements, by NIC (cleared when the NIC leaves its switch). */
static struct {
    struct vm_nic *nic;
    unsigned left;
    uint64_t next_ns, gap_ns;
} pending[ANNOUNCE_SLOTS];

static void deliver(void *ctx, const void *frame, size_t len)
{
    (void)vm_nic_rx(ctx, frame, len);   /* a guest that is not running drops it, as a NIC */
}

static int attach(struct vm_nic *n, char *err, size_t errlen)
{
    char label[32];
    struct vsw_port *p;
    snprintf(label, sizeof(label), "%s.%u", n->vm->name, n->index);
    int rc = vsw_port_add(n->sw, label, deliver, n, &p, err, errlen);
    if (!rc)
        n->port = p;
    return rc;
}

static void detach(struct vm_nic *n)
{
    for (unsigned i = 0; i < ANNOUNCE_SLOTS; i++)
        if (pending[i].nic == n)
            pending[i].nic = NULL;
    vsw_port_remove(n->port);
}

static int send(struct vm_nic *n, const void *frame, size_t len)
{
    return vsw_port_send(n->port, frame, len);
}

/* RFC 903 reverse ARP "request reverse" from mac, for mac, as QEMU announces a moved NIC:
 * broadcast, ethertype 0x8035, Ethernet/IPv4, every address field but the MACs zero. */
void mgmt_nic_rarp(const uint8_t mac[6], uint8_t frame[MGMT_RARP_LEN])
{
    memset(frame, 0, MGMT_RARP_LEN);
    memset(frame, 0xff, 6);
    memcpy(frame + 6, mac, 6);
    frame[12] = 0x80, frame[13] = 0x35;
    frame[14] = 0x00, frame[15] = 0x01;         /* hardware: Ethernet */
    frame[16] = 0x08, frame[17] = 0x00;         /* protocol: IPv4 */
    frame[18] = 6, frame[19] = 4;
    frame[20] = 0x00, frame[21] = 0x03;         /* request reverse */
    memcpy(frame + 22, mac, 6);                 /* sender hardware address */
    memcpy(frame + 32, mac, 6);                 /* target hardware address */
}

static void rarp(struct vm_nic *n)
{
    uint8_t f[MGMT_RARP_LEN];
    mgmt_nic_rarp(n->mac, f);
    (void)vsw_port_send(n->port, f, sizeof(f));
}

static void announce(struct vm_nic *n)
{
    rarp(n);
    for (unsigned i = 0; i < ANNOUNCE_SLOTS; i++)
        if (!pending[i].nic || pending[i].nic == n) {
            pending[i].nic = n;
            pending[i].left = ANNOUNCE_ROUNDS - 1;
            pending[i].gap_ns = ANNOUNCE_FIRST_NS;
            pending[i].next_ns = time_ns() + ANNOUNCE_FIRST_NS;
            return;
        }
}

void mgmt_nic_poll(void)
{
    uint64_t now = time_ns();
    for (unsigned i = 0; i < ANNOUNCE_SLOTS; i++) {
        if (!pending[i].nic || now < pending[i].next_ns)
            continue;
        rarp(pending[i].nic);
        if (--pending[i].left == 0) {
            pending[i].nic = NULL;
            continue;
        }
        pending[i].gap_ns += ANNOUNCE_STEP_NS;
        pending[i].next_ns = now + pending[i].gap_ns;
    }
}

const struct vm_net_hooks mgmt_nic_hooks = {
    .attach = attach,
    .detach = detach,
    .send = send,
    .announce = announce,
};
