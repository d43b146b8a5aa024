UNIT_TESTS += virtio_net
# test_virtio_net.c includes drivers/virtio_net.c (its NIC table is reset per test), so that
# file and the driver headers are prerequisites the pattern rule does not list.
virtio_net_SRCS := tests/unit/drivers/test_virtio_net.c drivers/virtio_pci.c drivers/nic_rxpool.c \
	tests/unit/fakes/support.c tests/unit/fakes/fake_env.c
$(B)/unit/test_virtio_net: drivers/virtio_net.c drivers/virtio_pci.h drivers/nic.h drivers/pci.h
