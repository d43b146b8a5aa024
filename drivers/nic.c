/* The NIC list and the probe table. */
#include <errno.h>
#include <stdio.h>

#include "drivers/nic.h"
#include "hv/base/log.h"

static struct nic *nics[NIC_MAX];
static unsigned nnics;

static int (*const probes[])(struct pci_dev *d) = { e1000_probe, virtio_net_probe };

int nic_register(struct nic *n)
{
    if (nnics == NIC_MAX)
        return -ENOSPC;
    snprintf(n->name, sizeof(n->name), "eth%u", nnics);
    nics[nnics++] = n;
    log_info("nic", "%s: %s %02x:%02x:%02x:%02x:%02x:%02x at %02x:%02x.%u", n->name, n->driver,
             n->mac[0], n->mac[1], n->mac[2], n->mac[3], n->mac[4], n->mac[5],
             n->pci ? n->pci->bus : 0, n->pci ? n->pci->dev : 0, n->pci ? n->pci->fn : 0);
    return 0;
}

unsigned nic_count(void) { return nnics; }
struct nic *nic_get(unsigned i) { return i < nnics ? nics[i] : NULL; }

void nic_probe_all(void)
{
    for (unsigned i = 0; i < pci_count(); i++) {
        struct pci_dev *d = pci_get(i);
        for (unsigned p = 0; p < sizeof(probes) / sizeof(probes[0]) && !d->driver; p++) {
            int rc = probes[p](d);
            if (rc && rc != -ENODEV)
                log_err("nic", "%02x:%02x.%u %04x:%04x: driver failed (%d)", d->bus, d->dev, d->fn,
                        d->vendor, d->device, rc);
        }
    }
}
