UNIT_TESTS += mmio
mmio_SRCS := tests/unit/emul/test_mmio.c hv/emul/mmio.c hv/emul/decode.c hv/dev/device.c \
	hv/dev/bus.c tests/unit/fakes/fake_dev.c tests/unit/fakes/fake_vm.c \
	tests/unit/fakes/fake_env.c tests/unit/fakes/support.c
