/*
 * lwIP configuration for ferry: raw API only (NO_SYS, polled from the core's main loop, no
 * threads, no locking), IPv4 with ARP/ICMP/UDP/TCP/DHCP over Ethernet. Sized for a server
 * that streams guest memory over TCP during live migration: a static 4 MiB heap, a few
 * hundred pool pbufs and window scaling so the receive window can grow to 1 MiB.
 * Checksums are generated and checked in software; NICs get no offload requests.
 * The same file builds the core and the host unit tests.
 *
 * Debugging: build with -DLWIP_DEBUG -DETHARP_DEBUG=LWIP_DBG_ON (or any other *_DEBUG);
 * output goes to the hv log through net_diag().
 */
#ifndef NET_LWIPOPTS_H
#define NET_LWIPOPTS_H

#include "port.h"

// ---- System ---------------------------------------------------------------------------------
#define NO_SYS                          1
#define SYS_LIGHTWEIGHT_PROT            0   // single-threaded, never called from interrupts
#define LWIP_SOCKET                     0
#define LWIP_NETCONN                    0
#define LWIP_RAND()                     ((u32_t)net_rand())
// lwIP's default ISN is a counter; a predictable ISN lets an off-path host inject into
// the migration stream (RFC 6528).
#define LWIP_HOOK_TCP_ISN(lip, lport, rip, rport) ((u32_t)net_rand())

// ---- Memory ---------------------------------------------------------------------------------
#define MEM_ALIGNMENT                   8
#define MEM_LIBC_MALLOC                 0
#define MEMP_MEM_MALLOC                 0
#define MEM_SIZE                        (8 * 1024 * 1024)   // room for 256 KiB windows
#define MEMP_NUM_PBUF                   128     // PBUF_REF/ROM headers
#define MEMP_NUM_RAW_PCB                4
#define MEMP_NUM_UDP_PCB                8
#define MEMP_NUM_TCP_PCB                80   /* 68 migration connections (MIG_CONNS_MAX), NBD, spare */
#define MEMP_NUM_TCP_PCB_LISTEN         8
#define MEMP_NUM_TCP_SEG                2048    // >= TCP_SND_QUEUELEN, several streams
#define MEMP_NUM_SYS_TIMEOUT            (LWIP_NUM_SYS_TIMEOUT_INTERNAL + 8)
#define PBUF_POOL_SIZE                  512
#define PBUF_POOL_BUFSIZE               1536    // any frame, VLAN tag included, fits one pbuf
// Received frames stay in the NIC's DMA buffer as a PBUF_REF custom pbuf (net_if_input_lent).
#define LWIP_SUPPORT_CUSTOM_PBUF        1

// ---- Protocols ------------------------------------------------------------------------------
#define LWIP_IPV4                       1
#define LWIP_IPV6                       0
#define LWIP_ETHERNET                   1
#define LWIP_ARP                        1
#define ARP_TABLE_SIZE                  32
#define LWIP_ICMP                       1
#define LWIP_RAW                        1
#define LWIP_UDP                        1
#define LWIP_DHCP                       1
#define LWIP_AUTOIP                     0
#define LWIP_IGMP                       0
#define LWIP_DNS                        0

// ---- TCP ------------------------------------------------------------------------------------
#define LWIP_TCP                        1
#define TCP_MSS                         1460
#define TCP_WND                         (256 * 1024)
#define TCP_SND_BUF                     (256 * 1024)
#define TCP_SNDLOWAT                    (32 * 1024)
#define LWIP_WND_SCALE                  1
#define TCP_RCV_SCALE                   4       // windows up to 0xffff << 4, about 1 MiB

// ---- Netif ----------------------------------------------------------------------------------
#define LWIP_NETIF_STATUS_CALLBACK      1
#define LWIP_NETIF_LINK_CALLBACK        1

// ---- Checksums: all in software -------------------------------------------------------------
#define CHECKSUM_GEN_IP                 1
#define CHECKSUM_GEN_UDP                1
#define CHECKSUM_GEN_TCP                1
#define CHECKSUM_GEN_ICMP               1
#define CHECKSUM_CHECK_IP               1
#define CHECKSUM_CHECK_UDP              1
#define CHECKSUM_CHECK_TCP              1
#define CHECKSUM_CHECK_ICMP             1

// ---- Statistics: counters only, no lwIP printing --------------------------------------------
#define LWIP_STATS                      1
#define LWIP_STATS_DISPLAY              0
#define SYS_STATS                       0

#endif
