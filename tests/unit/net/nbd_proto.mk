UNIT_TESTS += nbd_proto
# The NBD client's protocol engine against a scripted server (no transport, no lwIP).
nbd_proto_SRCS := tests/unit/net/test_nbd_proto.c net/nbd_proto.c
$(B)/unit/test_nbd_proto: net/nbd_proto.h
