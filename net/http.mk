# The management API's HTTP/1.1 request parser: nodejs http-parser 2.9.4 from Debian's
# http-parser source package with Debian's patches (its security fixes), unpacked by
# tools/deps.sh; built freestanding behind net/http_req.h. The upstream project is archived
# (its successor llhttp is generated from TypeScript and is not in Debian 12); Debian keeps
# 2.9.4 patched, and that is what is built. Headers are capped at HTTP_HEAD_MAX by the parser.
HTTP_PARSER_DIR ?= build/third_party/http-parser
HTTP_PARSER_SRCS := $(HTTP_PARSER_DIR)/http_parser.c
HTTP_PARSER_CFLAGS := -I$(HTTP_PARSER_DIR) -DHTTP_PARSER_STRICT=1 -DHTTP_MAX_HEADER_SIZE=8192 \
	-DNDEBUG
# What a host-built test or fuzzer links to read requests.
HTTP_REQ_SRCS := net/http_req.c $(HTTP_PARSER_SRCS)
