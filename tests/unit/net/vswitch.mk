UNIT_TESTS += vswitch
# net/vswitch.c over the real netdev glue and lwIP, with a fake NIC (vsw_fake_nic.c) as the
# uplink; the headers the pattern rule does not list are prerequisites too.
vswitch_SRCS := tests/unit/net/test_vswitch.c tests/unit/net/vsw_fake_nic.c net/vswitch.c \
	net/netdev.c drivers/nic_rxpool.c $(NET_SRCS) tests/unit/fakes/support.c \
	tests/unit/fakes/fake_env.c $(LWIP_SRCS)
vswitch_CFLAGS := $(LWIP_INCLUDES) -pthread
$(B)/unit/test_vswitch: net/vswitch.h net/netdev.h net/net.h drivers/nic.h
