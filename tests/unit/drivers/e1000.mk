UNIT_TESTS += e1000
# test_e1000.c includes drivers/e1000.c (a fake device under the real driver) and runs lwIP
# on top through net/netdev.c, so the driver and its headers are prerequisites too.
e1000_SRCS := tests/unit/drivers/test_e1000.c drivers/nic_rxpool.c net/netdev.c $(NET_SRCS) \
	tests/unit/fakes/support.c tests/unit/fakes/fake_env.c $(LWIP_SRCS)
e1000_CFLAGS := $(LWIP_INCLUDES)
$(B)/unit/test_e1000: drivers/e1000.c drivers/nic.h drivers/pci.h drivers/pci_bar.h
