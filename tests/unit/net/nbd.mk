UNIT_TESTS += nbd
# net/nbd.c over the real lwIP with a scripted NBD server in the same stack, on lwIP's loopback
# interface (which lwipopts.h leaves off: defined here for this test's build only).
nbd_SRCS := tests/unit/net/test_nbd.c net/nbd.c net/nbd_proto.c net/sys_arch.c \
	tests/unit/fakes/support.c tests/unit/fakes/fake_env.c $(LWIP_SRCS)
nbd_CFLAGS := $(LWIP_INCLUDES) -DLWIP_NETIF_LOOPBACK=1 -DLWIP_HAVE_LOOPIF=1 -pthread
$(B)/unit/test_nbd: net/nbd.h net/nbd_proto.h
