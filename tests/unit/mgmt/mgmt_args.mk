UNIT_TESTS += mgmt_args
mgmt_args_SRCS := tests/unit/mgmt/test_mgmt_args.c hv/mgmt/mgmt_args.c hv/base/cmdline.c \
	$(LWIP_DIR)/src/core/ipv4/ip4_addr.c $(LWIP_DIR)/src/core/def.c tests/unit/fakes/support.c
mgmt_args_CFLAGS := $(LWIP_INCLUDES)
