UNIT_TESTS += e1000_promisc
# Includes drivers/e1000.c (a fake register block under the real driver).
e1000_promisc_SRCS := tests/unit/net/test_e1000_promisc.c drivers/nic_rxpool.c \
	tests/unit/fakes/support.c tests/unit/fakes/fake_env.c
$(B)/unit/test_e1000_promisc: drivers/e1000.c drivers/nic.h drivers/pci.h drivers/pci_bar.h
