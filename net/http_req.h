/*
 * One HTTP/1.1 request read from a byte stream (the management API's), bounded: the request
 * line and headers at most HTTP_HEAD_MAX bytes, the target at most HTTP_URL_MAX, the body at
 * most the buffer the caller gives. Bytes go in as they arrive, in any pieces; the request is
 * whole (done) or refused (status, with a reason for the 4xx/5xx answer). What follows a whole
 * request in the same bytes is the next one's (pipelining): feed returns how much it took.
 * The parsing is nodejs http-parser's (net/http.mk says which and why).
 */
#ifndef NET_HTTP_REQ_H
#define NET_HTTP_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http_parser.h"

#define HTTP_HEAD_MAX  8192     /* must match HTTP_MAX_HEADER_SIZE in net/http.mk */
#define HTTP_URL_MAX   512
#define HTTP_AUTH_MAX  256      /* Authorization's value */
#define HTTP_CTYPE_MAX 64       /* Content-Type's value */

enum http_verb { HTTP_VERB_GET, HTTP_VERB_POST, HTTP_VERB_PUT, HTTP_VERB_DELETE,
                 HTTP_VERB_OTHER };

struct http_req {
    /* the request, once done */
    enum http_verb verb;
    char url[HTTP_URL_MAX + 1];
    char auth[HTTP_AUTH_MAX + 1];           /* "" if none; a chunked body's trailers never
                                             * count (nor Content-Type there) */
    char ctype[HTTP_CTYPE_MAX + 1];
    uint8_t *body;                          /* the caller's buffer */
    size_t body_len, body_cap;
    bool keep_alive;                        /* the connection may carry another request */
    bool done;
    /* refused: the status to answer (400, 413, 414, 431, 501, 505) and why */
    int status;
    const char *why;
    /* the reader's own */
    http_parser p;
    size_t url_len, auth_len, ctype_len;
    int field;                              /* which kept header the value pieces go to */
    char name[16];                          /* a header name, lower case, as it arrives */
    size_t name_len;
    bool name_long, in_value, head_done, auth_seen, ctype_seen;
};

/* Ready for a new connection's first request, its body going to body[0..cap). */
void http_req_init(struct http_req *r, uint8_t *body, size_t cap);
/* Ready for the next request on the same connection (after one was done). */
void http_req_next(struct http_req *r);
/* Takes bytes of the request; returns how many (less than n once done or refused). */
size_t http_req_feed(struct http_req *r, const uint8_t *data, size_t n);
/* The peer closed its side: a request cut short is refused (400); none begun, nothing. */
void http_req_eof(struct http_req *r);

#endif
