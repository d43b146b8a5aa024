UNIT_TESTS += cpu_codec
cpu_codec_SRCS = tests/unit/test_cpu_codec.c hv/cpu_policy_codec.c hv/cpu_baseline.c hv/crc32c.c \
	$(CPU_POLICY_SRCS)
