# mbedTLS (Debian's mbedtls source package, unpacked by tools/deps.sh like lwIP): only the
# SHA-256 module and the zeroize helper it calls, configured by hv/base/mbedtls_config.h. Built
# into the core with the core's flags; hv/mig/mig_auth.c builds HMAC-SHA256 on top.
MBEDTLS_DIR ?= build/third_party/mbedtls

MBEDTLS_SRCS := $(addprefix $(MBEDTLS_DIR)/library/, sha256.c platform_util.c)

MBEDTLS_CFLAGS := -I$(MBEDTLS_DIR)/include -DMBEDTLS_CONFIG_FILE='"hv/base/mbedtls_config.h"'
