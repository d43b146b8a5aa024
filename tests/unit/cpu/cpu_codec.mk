UNIT_TESTS += cpu_codec
cpu_codec_SRCS = tests/unit/cpu/test_cpu_codec.c hv/cpu/cpu_policy_codec.c hv/cpu/cpu_baseline.c hv/base/crc32c.c \
	$(CPU_POLICY_SRCS)
