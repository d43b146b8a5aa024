UNIT_TESTS += cmd_switch
# `switch` from the console down: cmd_net.c, mgmt_net.c (with the ping and bench it also
# offers), net/vswitch.c and the netdev glue over a fake NIC and lwIP.
cmd_switch_SRCS := tests/unit/net/test_cmd_switch.c tests/unit/net/vsw_fake_nic.c \
	hv/console/cmd_net.c hv/console/console.c hv/base/cmdline.c hv/mgmt/mgmt_net.c \
	net/vswitch.c net/netdev.c net/ping.c net/bench.c net/nbd.c net/nbd_proto.c drivers/nic_rxpool.c $(NET_SRCS) \
	tests/unit/fakes/support.c tests/unit/fakes/fake_env.c $(LWIP_SRCS)
cmd_switch_CFLAGS := $(LWIP_INCLUDES)
$(B)/unit/test_cmd_switch: net/vswitch.h net/netdev.h net/net.h drivers/nic.h
