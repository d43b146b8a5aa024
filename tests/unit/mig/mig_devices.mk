UNIT_TESTS += mig_devices
mig_devices_SRCS := tests/unit/mig/test_mig_devices.c hv/mig/mig_devices.c hv/mig/mig_stream.c $(COMPRESS_SRCS) \
	hv/base/crc32c.c hv/dev/device.c hv/dev/bus.c hv/dev/vuart.c tests/unit/fakes/fake_dev.c \
	tests/unit/fakes/fake_vm.c tests/unit/fakes/fake_env.c tests/unit/fakes/support.c
