UNIT_TESTS += mig_auth
mig_auth_SRCS := tests/unit/test_mig_auth.c hv/mig_auth.c hv/mig_stream.c hv/crc32c.c \
	$(MBEDTLS_SRCS)
mig_auth_CFLAGS := $(MBEDTLS_CFLAGS)
