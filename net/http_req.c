/* One bounded HTTP/1.1 request from a byte stream (net/http_req.h), over http-parser. */
#include <string.h>

#include "net/http_req.h"

_Static_assert(HTTP_MAX_HEADER_SIZE == HTTP_HEAD_MAX, "net/http.mk and http_req.h disagree");

enum { F_NONE, F_AUTH, F_CTYPE };

static struct http_req *req(http_parser *p) { return p->data; }

/* Refused: the parser stops at the callback that returns this. */
static int refuse(struct http_req *r, int status, const char *why)
{
    if (!r->status) {
        r->status = status;
        r->why = why;
    }
    return -1;
}

/* Appends a piece to a kept string of at most cap bytes; false if it would not fit. */
static bool append(char *dst, size_t *len, size_t cap, const char *s, size_t n)
{
    if (n > cap - *len)
        return false;
    memcpy(dst + *len, s, n);
    *len += n;
    dst[*len] = 0;
    return true;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    struct http_req *r = req(p);
    if (!append(r->url, &r->url_len, HTTP_URL_MAX, at, n))
        return refuse(r, 414, "the request target is longer than 512 bytes");
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    struct http_req *r = req(p);
    if (r->head_done)                   /* a chunked body's trailer: never authority */
        return 0;
    if (r->in_value) {                  /* a new header begins */
        r->in_value = false;
        r->name_len = 0;
        r->name_long = false;
    }
    for (size_t i = 0; i < n; i++) {
        if (r->name_len == sizeof(r->name) - 1) {
            r->name_long = true;        /* none of the kept ones: ignored */
            break;
        }
        char c = at[i];
        r->name[r->name_len++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    r->name[r->name_len] = 0;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    struct http_req *r = req(p);
    if (r->head_done)
        return 0;
    if (!r->in_value) {
        r->in_value = true;
        r->field = r->name_long ? F_NONE : !strcmp(r->name, "authorization") ? F_AUTH :
                   !strcmp(r->name, "content-type") ? F_CTYPE : F_NONE;
        /* A kept header given twice (even empty once): which counts would be a guess. */
        bool *seen = r->field == F_AUTH ? &r->auth_seen : r->field == F_CTYPE ? &r->ctype_seen :
                     NULL;
        if (seen && *seen)
            return refuse(r, 400, "a header given twice (Authorization or Content-Type)");
        if (seen)
            *seen = true;
    }
    if (r->field == F_AUTH && !append(r->auth, &r->auth_len, HTTP_AUTH_MAX, at, n))
        return refuse(r, 431, "the Authorization header is longer than 256 bytes");
    if (r->field == F_CTYPE && !append(r->ctype, &r->ctype_len, HTTP_CTYPE_MAX, at, n))
        return refuse(r, 431, "the Content-Type header is longer than 64 bytes");
    return 0;
}

/* Drops the blanks that end a kept value (HTTP's optional whitespace). */
static void trim(char *v, size_t *len)
{
    while (*len && (v[*len - 1] == ' ' || v[*len - 1] == '\t'))
        v[--*len] = 0;
}

static int on_headers_complete(http_parser *p)
{
    struct http_req *r = req(p);
    r->head_done = true;
    trim(r->auth, &r->auth_len);
    trim(r->ctype, &r->ctype_len);
    if (p->http_major != 1 || p->http_minor > 1)
        return refuse(r, 505, "only HTTP/1.0 and HTTP/1.1 are spoken here");
    if (p->upgrade)
        return refuse(r, 501, "protocol upgrades (WebSocket, h2c, CONNECT) are not supported");
    switch (p->method) {
    case HTTP_GET: r->verb = HTTP_VERB_GET; break;
    case HTTP_POST: r->verb = HTTP_VERB_POST; break;
    case HTTP_PUT: r->verb = HTTP_VERB_PUT; break;
    case HTTP_DELETE: r->verb = HTTP_VERB_DELETE; break;
    default: r->verb = HTTP_VERB_OTHER; break;
    }
    /* A declared body larger than the buffer is refused before any of it is read. */
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > r->body_cap)
        return refuse(r, 413, "the body is larger than this API takes");
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    struct http_req *r = req(p);
    if (n > r->body_cap - r->body_len)          /* a chunked body that grows too large */
        return refuse(r, 413, "the body is larger than this API takes");
    memcpy(r->body + r->body_len, at, n);
    r->body_len += n;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct http_req *r = req(p);
    r->done = true;
    r->keep_alive = http_should_keep_alive(p);
    http_parser_pause(p, 1);                    /* the next request's bytes wait */
    return 0;
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void http_req_init(struct http_req *r, uint8_t *body, size_t cap)
{
    memset(r, 0, sizeof(*r));
    r->body = body;
    r->body_cap = cap;
    http_parser_init(&r->p, HTTP_REQUEST);
    r->p.data = r;
}

void http_req_next(struct http_req *r)
{
    http_req_init(r, r->body, r->body_cap);
}

/* The parser's own refusals, as answers. */
static void parser_refused(struct http_req *r, enum http_errno e)
{
    switch (e) {
    case HPE_HEADER_OVERFLOW:
        refuse(r, 431, "the request line and headers are longer than 8192 bytes");
        break;
    case HPE_INVALID_METHOD:
        refuse(r, 501, "an unknown method");
        break;
    case HPE_INVALID_VERSION:
        refuse(r, 505, "not an HTTP/1.x request");
        break;
    case HPE_INVALID_CONTENT_LENGTH:
    case HPE_UNEXPECTED_CONTENT_LENGTH:
        refuse(r, 400, "a bad or doubled Content-Length");
        break;
    case HPE_INVALID_EOF_STATE:
        refuse(r, 400, "the connection ended in the middle of a request");
        break;
    case HPE_INVALID_TRANSFER_ENCODING:
        refuse(r, 400, "a Transfer-Encoding other than chunked");
        break;
    default:
        refuse(r, 400, http_errno_description(e));
        break;
    }
}

size_t http_req_feed(struct http_req *r, const uint8_t *data, size_t n)
{
    if (r->done || r->status || !n)
        return 0;
    size_t took = http_parser_execute(&r->p, &settings, (const char *)data, n);
    enum http_errno e = HTTP_PARSER_ERRNO(&r->p);
    if (r->status || r->done)
        return took;
    if (e != HPE_OK) {
        parser_refused(r, e);
        return took;
    }
    return n;
}

void http_req_eof(struct http_req *r)
{
    if (r->done || r->status)
        return;
    http_parser_execute(&r->p, &settings, NULL, 0);
    if (r->done || r->status)
        return;
    if (HTTP_PARSER_ERRNO(&r->p) != HPE_OK)
        parser_refused(r, HTTP_PARSER_ERRNO(&r->p));
}
