/* NICs attached to lwIP, and their IPv4 configuration (net/netdev.c). */
#ifndef NET_NETDEV_H
#define NET_NETDEV_H

#include <stdint.h>

#include "net/net.h"

void netdev_attach_all(void);          /* one net_if per registered NIC */
void netdev_poll(void);                /* receive and link state */
void net_service(void);                /* netdev_poll + lwIP timers: the control loop's net step */
unsigned netdev_count(void);
struct net_if *netdev_get(unsigned i);
struct net_if *netdev_find(const char *name);
/* "a.b.c.d/prefix" (prefix defaults to 24) to network-order address and mask. */
int netdev_parse_cidr(const char *s, uint32_t *addr_be, uint32_t *mask_be);
/* ip: "dhcp" or "a.b.c.d/prefix"; gw may be NULL. */
int netdev_configure(struct net_if *nif, const char *ip, const char *gw);

#endif
