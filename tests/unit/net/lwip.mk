UNIT_TESTS += lwip
lwip_SRCS := tests/unit/net/test_lwip.c net/net.c net/sys_arch.c tests/unit/fakes/support.c tests/unit/fakes/fake_env.c $(LWIP_SRCS)
lwip_CFLAGS := $(LWIP_INCLUDES)
