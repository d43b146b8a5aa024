UNIT_TESTS += nbd_interop
# The NBD engine against Debian's nbd-server (tools/deps.sh installs it): each test starts
# `nbd-server -C CONF -d` on a free 127.0.0.1 port with a temporary file as the export, and
# the server dies with the test (PR_SET_PDEATHSIG). Fails, never skips, without nbd-server.
nbd_interop_SRCS := tests/unit/net/test_nbd_interop.c net/nbd_proto.c
$(B)/unit/test_nbd_interop: net/nbd_proto.h
