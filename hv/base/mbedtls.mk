# mbedTLS (Debian's mbedtls source package, unpacked by tools/deps.sh like lwIP), configured by
# hv/base/mbedtls_config.h and built into the core with the core's flags: the SHA-256 module
# (hv/mig/mig_auth.c builds HMAC-SHA256 on it; host tests link only these) and what TLS 1.2
# with ECDHE-PSK and ChaCha20-Poly1305 needs (net/mig_tls.c).
MBEDTLS_DIR ?= build/third_party/mbedtls

MBEDTLS_SRCS := $(addprefix $(MBEDTLS_DIR)/library/, sha256.c platform_util.c)
# TLS for the migration port (net/mig_tls.c), in the core only.
MBEDTLS_TLS_SRCS := $(addprefix $(MBEDTLS_DIR)/library/, platform.c memory_buffer_alloc.c md.c \
	hkdf.c hmac_drbg.c cipher.c cipher_wrap.c chacha20.c poly1305.c chachapoly.c bignum.c \
	ecp.c ecp_curves.c ecdh.c constant_time.c ssl_tls.c ssl_msg.c ssl_cli.c ssl_srv.c \
	ssl_ciphersuites.c)

MBEDTLS_CFLAGS := -I$(MBEDTLS_DIR)/include -DMBEDTLS_CONFIG_FILE='"hv/base/mbedtls_config.h"'
