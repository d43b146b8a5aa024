// libFuzzer target: the management API's request reader (net/http_req.c over http-parser) fed
// what a hostile client sends. Byte 0 sets the piece size the bytes arrive in (0: all at once);
// the rest is the stream, read as requests one after another (pipelining) until one is
// refused or the bytes run out, then the peer closes.
//
// Checks, beyond the sanitizers (the body buffer is malloc'd to its size):
//  - the pieces do not matter: every request is read the same (done or refused; method,
//    target, Authorization, Content-Type, body, keep-alive, bytes taken) as when the whole
//    stream arrives at once. (Which refusal a request that breaks two rules gets may depend on
//    the pieces: http-parser hands over data at a piece's end, so a size rule checked in a
//    callback and a syntax rule checked by the parser can meet it in either order.);
//  - a request takes no byte of the next one; a done request's kept strings are within their
//    bounds and NUL-terminated; its body is within the buffer;
//  - a refusal is one of the statuses the API answers (400, 413, 414, 431, 501, 505) with a
//    reason, and the reader takes nothing more after it.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/http_req.h"

#define BODY_CAP 512
#define MAX_REQS 64

#define CHECK(c)                                                                            \
    do {                                                                                    \
        if (!(c)) {                                                                         \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);         \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

struct seen {
    bool done;
    int status;
    const char *why;
    enum http_verb verb;
    char url[HTTP_URL_MAX + 1], auth[HTTP_AUTH_MAX + 1], ctype[HTTP_CTYPE_MAX + 1];
    uint8_t body[BODY_CAP];
    size_t body_len, took;
    bool keep_alive;
};

static struct seen runs[2][MAX_REQS];

/* Reads the stream in pieces of `piece` (0: whole); returns how many requests it saw. */
static unsigned read_stream(const uint8_t *s, size_t n, size_t piece, struct seen *out)
{
    uint8_t *body = malloc(BODY_CAP);
    struct http_req *r = malloc(sizeof(*r));
    unsigned k = 0;
    size_t at = 0;
    http_req_init(r, body, BODY_CAP);
    while (k < MAX_REQS) {
        size_t start = at;
        while (at < n && !r->done && !r->status) {
            size_t len = piece && piece < n - at ? piece : n - at;
            size_t t = http_req_feed(r, s + at, len);
            CHECK(t <= len);
            at += t;
            if (t < len)
                break;
        }
        if (!r->done && !r->status)
            http_req_eof(r);
        if (!r->done && !r->status)
            break;                              /* nothing begun: a clean end */
        struct seen *v = &out[k++];
        v->done = r->done;
        v->status = r->status;
        v->why = r->why;
        v->took = at - start;
        if (r->status) {
            CHECK(!r->done && r->why && *r->why);
            CHECK(r->status == 400 || r->status == 413 || r->status == 414 ||
                  r->status == 431 || r->status == 501 || r->status == 505);
            CHECK(http_req_feed(r, (const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18) == 0);
            break;
        }
        CHECK(strlen(r->url) <= HTTP_URL_MAX && strlen(r->auth) <= HTTP_AUTH_MAX);
        CHECK(strlen(r->ctype) <= HTTP_CTYPE_MAX && r->body_len <= BODY_CAP);
        v->verb = r->verb;
        memcpy(v->url, r->url, sizeof(v->url));
        memcpy(v->auth, r->auth, sizeof(v->auth));
        memcpy(v->ctype, r->ctype, sizeof(v->ctype));
        memcpy(v->body, r->body, r->body_len);
        v->body_len = r->body_len;
        v->keep_alive = r->keep_alive;
        if (at >= n)
            break;
        http_req_next(r);
    }
    free(r);
    free(body);
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t piece = data[0] % 17;
    memset(runs, 0, sizeof(runs));
    unsigned a = read_stream(data + 1, size - 1, 0, runs[0]);
    unsigned b = read_stream(data + 1, size - 1, piece, runs[1]);
    CHECK(a == b);
    for (unsigned i = 0; i < a; i++) {
        struct seen *x = &runs[0][i], *y = &runs[1][i];
        CHECK(x->done == y->done && !x->status == !y->status);
        if (x->status)
            continue;
        CHECK(x->took == y->took && x->verb == y->verb && x->keep_alive == y->keep_alive);
        CHECK(!strcmp(x->url, y->url) && !strcmp(x->auth, y->auth) && !strcmp(x->ctype, y->ctype));
        CHECK(x->body_len == y->body_len && !memcmp(x->body, y->body, x->body_len));
    }
    return 0;
}
