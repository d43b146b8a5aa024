UNIT_TESTS += vvirtio_blk_backend
# virtio-blk on a backend the test plays (requests out, data in pieces, late completions), driven
# as Linux drives it through vblk_driver.h.
vvirtio_blk_backend_SRCS := tests/unit/dev/test_vvirtio_blk_backend.c $(DEV_MACHINE_SRCS) \
	tests/unit/fakes/fake_vm.c tests/unit/fakes/fake_env.c tests/unit/fakes/support.c
