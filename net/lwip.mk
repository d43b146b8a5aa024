# lwIP (third-party, unpacked by tools/deps.sh) and ferry's port of it. Core and IPv4 files
# follow lwIP's src/Filelists.mk (COREFILES, CORE4FILES) plus the Ethernet layer; files for
# options that lwipopts.h turns off (DNS, ALTCP, AUTOIP, IGMP) compile to nothing.
LWIP_DIR ?= build/third_party/lwip

LWIP_SRCS := $(addprefix $(LWIP_DIR)/src/core/, \
	init.c def.c dns.c inet_chksum.c ip.c mem.c memp.c netif.c pbuf.c raw.c stats.c sys.c \
	altcp.c altcp_alloc.c altcp_tcp.c tcp.c tcp_in.c tcp_out.c timeouts.c udp.c) \
	$(addprefix $(LWIP_DIR)/src/core/ipv4/, \
	autoip.c dhcp.c etharp.c icmp.c igmp.c ip4_frag.c ip4.c ip4_addr.c) \
	$(LWIP_DIR)/src/netif/ethernet.c

LWIP_INCLUDES := -I$(LWIP_DIR)/src/include -Inet

NET_SRCS := net/net.c net/sys_arch.c
