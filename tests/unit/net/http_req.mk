UNIT_TESTS += http_req
# The management API's request reader (net/http_req.c) over Debian's http-parser.
http_req_SRCS := tests/unit/net/test_http_req.c $(HTTP_REQ_SRCS)
http_req_CFLAGS := $(HTTP_PARSER_CFLAGS)
$(B)/unit/test_http_req: net/http_req.h
