UNIT_TESTS += cmd_vm
cmd_vm_SRCS := tests/unit/console/test_cmd_vm.c hv/console/cmd_vm.c hv/console/console.c \
	hv/mgmt/mgmt_args.c hv/base/cmdline.c $(LWIP_DIR)/src/core/ipv4/ip4_addr.c \
	$(LWIP_DIR)/src/core/def.c tests/unit/fakes/support.c
cmd_vm_CFLAGS := $(LWIP_INCLUDES)
