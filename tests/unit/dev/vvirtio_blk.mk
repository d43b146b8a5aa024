UNIT_TESTS += vvirtio_blk
# virtio-blk over the virtio PCI transport on ferry-min, driven as Linux's drivers drive it.
vvirtio_blk_SRCS := tests/unit/dev/test_vvirtio_blk.c $(DEV_MACHINE_SRCS) \
	tests/unit/fakes/fake_vm.c tests/unit/fakes/fake_env.c tests/unit/fakes/support.c
