UNIT_TESTS += mig_auth
mig_auth_SRCS := tests/unit/mig/test_mig_auth.c hv/mig/mig_auth.c hv/mig/mig_stream.c $(COMPRESS_SRCS) hv/base/crc32c.c \
	$(MBEDTLS_SRCS)
mig_auth_CFLAGS := $(MBEDTLS_CFLAGS)
