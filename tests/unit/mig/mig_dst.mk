UNIT_TESTS += mig_dst
mig_dst_SRCS := tests/unit/mig/test_mig_dst.c hv/mig/mig_dst.c hv/mig/mig_stream.c $(COMPRESS_SRCS) \
	hv/mig/mig_auth.c hv/base/crc32c.c hv/base/config.c hv/base/cmdline.c hv/vm/msr.c \
	arch/x86_64/fpu_check.c hv/cpu/cpu_policy_codec.c hv/cpu/cpu_baseline.c \
	tests/unit/mig/fake_mig_dst.c \
	$(CPU_POLICY_SRCS) tests/unit/fakes/fake_env.c $(MBEDTLS_SRCS)
mig_dst_CFLAGS := $(MBEDTLS_CFLAGS) -Itests/unit/fakes
