/*
 * NICs attached to lwIP, and their IPv4 configuration (net/netdev.c). A virtual switch
 * (net/vswitch.c) may claim an interface's NIC as its uplink: netdev_poll then only follows
 * the link, the switch polls the NIC's receive ring, and what lwIP transmits on the interface
 * goes to the switch (its host port) instead of the NIC.
 */
#ifndef NET_NETDEV_H
#define NET_NETDEV_H

#include <stdbool.h>
#include <stdint.h>

#include "net/net.h"

struct nic;
struct nic_rxbuf;

void netdev_attach_all(void);          /* one net_if per registered NIC */
void netdev_poll(void);                /* receive and link state */
/* netdev_poll, the switches (vsw_poll) and lwIP's timers: the control loop's net step.
 * Defined in net/vswitch.c, the top of net/, so that netdev.c links without the switch. */
void net_service(void);
/* Rings the doorbells of NICs that batch them (nic_ops.flush): frames queued since go out.
 * net_service ends with it; whoever transmits outside it (between two passes) calls it. */
void netdev_flush(void);
unsigned netdev_count(void);
struct net_if *netdev_get(unsigned i);
struct net_if *netdev_find(const char *name);
struct nic *netdev_nic(const struct net_if *nif);      /* the NIC under an interface */
/* "a.b.c.d/prefix" (prefix defaults to 24) to network-order address and mask. */
int netdev_parse_cidr(const char *s, uint32_t *addr_be, uint32_t *mask_be);
/* ip: "dhcp" or "a.b.c.d/prefix"; gw may be NULL. */
int netdev_configure(struct net_if *nif, const char *ip, const char *gw);

/*
 * A switch takes nif's NIC as its uplink: from now on lwIP's transmits on nif go to
 * host_tx(ctx, ...) (its return value is the transmit's), and netdev_poll leaves the NIC's
 * receive ring alone. 0, -EINVAL (no host_tx) or -EBUSY (already claimed).
 */
int netdev_claim(struct net_if *nif, net_tx_fn host_tx, void *ctx);
void netdev_unclaim(struct net_if *nif);
bool netdev_claimed(const struct net_if *nif);
/* Hands a frame the NIC received to lwIP on nif, by the nic_rx_fn rule (drivers/nic.h): lent
 * without a copy when lend is set (true: lwIP kept b), else copied (false). */
bool netdev_input(struct net_if *nif, struct nic_rxbuf *b, bool lend);

#endif
