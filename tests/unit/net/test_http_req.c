/*
 * net/http_req.c: requests as curl and scripts send them are read whole, in any pieces (every
 * split point, byte by byte) with the same result; pipelined requests one after another; and
 * each kind of bad request is refused with its status and a reason, having taken no more than
 * its bounds allow.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "net/http_req.h"

static uint8_t body[1024];
static struct http_req r;

/* Feeds s in pieces of `piece` bytes (0: all at once); returns the bytes taken. */
static size_t feed(const char *s, size_t n, size_t piece)
{
    size_t took = 0;
    while (took < n && !r.done && !r.status) {
        size_t k = piece && piece < n - took ? piece : n - took;
        size_t t = http_req_feed(&r, (const uint8_t *)s + took, k);
        took += t;
        if (t < k)
            break;
    }
    return took;
}

static void read_all_ways(const char *s, void (*check)(size_t took, size_t n))
{
    size_t n = strlen(s);
    for (size_t piece = 0; piece <= n; piece++) {
        http_req_init(&r, body, sizeof(body));
        check(feed(s, n, piece), n);
    }
}

static void check_get(size_t took, size_t n)
{
    assert_true(r.done);
    assert_int_equal(r.status, 0);
    assert_int_equal(took, n);
    assert_int_equal(r.verb, HTTP_VERB_GET);
    assert_string_equal(r.url, "/v1/vms?node=0");
    assert_string_equal(r.auth, "Bearer 0123456789abcdef");
    assert_int_equal(r.body_len, 0);
    assert_true(r.keep_alive);
}

static void test_curl_get(void **state)
{
    (void)state;
    read_all_ways("GET /v1/vms?node=0 HTTP/1.1\r\nHost: 10.0.0.1:8443\r\n"
                  "User-Agent: curl/7.88.1\r\nAccept: */*\r\n"
                  "authorization: Bearer 0123456789abcdef\r\n\r\n", check_get);
}

static void check_post(size_t took, size_t n)
{
    assert_true(r.done);
    assert_int_equal(took, n);
    assert_int_equal(r.verb, HTTP_VERB_POST);
    assert_string_equal(r.ctype, "application/json");
    assert_int_equal(r.body_len, 28);
    assert_memory_equal(r.body, "{\"vm\":\"web\",\"to\":\"10.0.0.2\"}", 28);
    assert_false(r.keep_alive);                 /* Connection: close */
}

static void test_post_with_length_and_chunked(void **state)
{
    (void)state;
    read_all_ways("POST /v1/migrations HTTP/1.1\r\nContent-Type: application/json\r\n"
                  "Content-Length: 28\r\nConnection: close\r\n\r\n"
                  "{\"vm\":\"web\",\"to\":\"10.0.0.2\"}", check_post);
    read_all_ways("POST /v1/migrations HTTP/1.1\r\nContent-Type: application/json\r\n"
                  "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                  "a\r\n{\"vm\":\"web\r\n12\r\n\",\"to\":\"10.0.0.2\"}\r\n0\r\n\r\n", check_post);
}

/* Two requests in one read: the first is done, the second's bytes are not taken; then the
 * second is read from where the first stopped. */
static void test_pipelined(void **state)
{
    static const char two[] = "DELETE /v1/vms/a HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
                              "PUT /v1/vms/b HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi";
    (void)state;
    http_req_init(&r, body, sizeof(body));
    size_t took = feed(two, sizeof(two) - 1, 0);
    assert_true(r.done);
    assert_int_equal(r.verb, HTTP_VERB_DELETE);
    assert_string_equal(r.url, "/v1/vms/a");
    assert_int_equal(took, strstr(two, "PUT") - two);
    http_req_next(&r);
    assert_int_equal(feed(two + took, sizeof(two) - 1 - took, 0), sizeof(two) - 1 - took);
    assert_true(r.done);
    assert_int_equal(r.verb, HTTP_VERB_PUT);
    assert_string_equal(r.url, "/v1/vms/b");
    assert_int_equal(r.body_len, 2);
    assert_false(r.keep_alive);                 /* HTTP/1.0 without keep-alive */
}

/* A chunked body's trailers carry no authority; kept values lose their trailing blanks. */
static void test_trailers_and_blanks(void **state)
{
    static const char t[] = "POST /v1/x HTTP/1.1\r\nAuthorization: Bearer good \t\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n"
                            "Authorization: Bearer evil\r\nContent-Type: text/x\r\n\r\n";
    (void)state;
    http_req_init(&r, body, sizeof(body));
    assert_int_equal(feed(t, sizeof(t) - 1, 0), sizeof(t) - 1);
    assert_true(r.done);
    assert_string_equal(r.auth, "Bearer good");
    assert_string_equal(r.ctype, "");
    assert_int_equal(r.body_len, 2);
}

struct bad { const char *req; int status; const char *why; };

static void test_refused(void **state)
{
    static char huge_url[700], huge_head[9000], huge_auth[400];
    (void)state;
    snprintf(huge_url, sizeof(huge_url), "GET /%0600d HTTP/1.1\r\n\r\n", 0);
    memset(huge_head, 'a', sizeof(huge_head));
    memcpy(huge_head, "GET / HTTP/1.1\r\nX-Pad: ", 23);
    huge_head[sizeof(huge_head) - 1] = 0;
    snprintf(huge_auth, sizeof(huge_auth), "GET / HTTP/1.1\r\nAuthorization: Bearer %0300d\r\n"
             "\r\n", 0);
    const struct bad bad[] = {
        { "GET / HTTP/2.0\r\n\r\n", 505, "HTTP/1.0 and HTTP/1.1" },
        { "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 501,
          "upgrades" },
        { "BREW /pot HTTP/1.1\r\n\r\n", 501, "unknown method" },
        { "POST / HTTP/1.1\r\nContent-Length: 2000\r\n\r\n", 413, "larger" },
        { "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n", 0, NULL },
        { "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400,
          "Content-Length" },
        { "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "Content-Length" },
        { "GET / HTTP/1.1\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n", 400, "twice" },
        { "GET / HTTP/1.1\r\nAuthorization:\r\nAuthorization: b\r\n\r\n", 400, "twice" },
        { "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", 400, "" },
        { "GET /\x01 HTTP/1.1\r\n\r\n", 400, "" },
        { huge_url, 414, "512 bytes" },
        { huge_head, 431, "8192 bytes" },
        { huge_auth, 431, "Authorization" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t n = strlen(bad[i].req);
        for (size_t piece = 0; piece <= 3; piece++) {
            http_req_init(&r, body, sizeof(body));
            size_t took = feed(bad[i].req, n, piece);
            if (!bad[i].status) {               /* a chunked body that outgrows the buffer */
                static char more[2048 + 8];
                memset(more, 'x', 2048);
                memcpy(more + 2048, "\r\n0\r\n\r\n", 8);
                feed(more, sizeof(more) - 1, piece);
                if (r.status != 413)
                    fail_msg("chunked, piece %zu: %d '%s' after %zu", piece, r.status,
                             r.why ? r.why : "", took);
                assert_true(r.body_len <= sizeof(body));
                continue;
            }
            if (r.status != bad[i].status || !strstr(r.why, bad[i].why))
                fail_msg("request %zu piece %zu: %d '%s'", i, piece, r.status,
                         r.why ? r.why : "");
            assert_false(r.done);
            assert_true(took <= n);
            assert_int_equal(http_req_feed(&r, (const uint8_t *)"x", 1), 0);   /* stays */
        }
    }
}

static void test_eof(void **state)
{
    (void)state;
    http_req_init(&r, body, sizeof(body));
    http_req_eof(&r);                           /* nothing begun: no answer owed */
    assert_int_equal(r.status, 0);
    assert_false(r.done);
    http_req_init(&r, body, sizeof(body));
    feed("GET /v1/ho", 10, 0);
    http_req_eof(&r);
    assert_int_equal(r.status, 400);
    http_req_init(&r, body, sizeof(body));
    feed("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab", 41, 0);
    http_req_eof(&r);
    assert_int_equal(r.status, 400);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_curl_get),
        cmocka_unit_test(test_post_with_length_and_chunked),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_trailers_and_blanks),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_eof),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
