// net/nbd_proto.c against the real nbd-server (Debian's package, installed by tools/deps.sh):
// each test starts `nbd-server -C CONF -d` (one session, in the foreground, killed with this
// process: PR_SET_PDEATHSIG) on a free localhost port with an export backed by a temporary
// file, drives the engine over a POSIX socket, and checks the file itself. A missing
// nbd-server is a failure, not a skip.
#define _GNU_SOURCE                 // fallocate
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "net/nbd_proto.h"

#define DISK    (4u << 20)
#define MAXH    64
#define WAIT_MS 10000

static struct {
    char dir[64], img[96], conf[96], log[96];
    pid_t pid;
    uint16_t port;
    bool punches;                   // the temporary directory's file system punches holes
} srv;

static uint8_t *model;              // what the export should hold

// ---- the server's life ----------------------------------------------------------------------

static void srv_kill(void)
{
    if (srv.pid <= 0)
        return;
    kill(srv.pid, SIGTERM);
    for (int i = 0; i < 200 && waitpid(srv.pid, NULL, WNOHANG) == 0; i++)
        usleep(10000);
    if (waitpid(srv.pid, NULL, WNOHANG) == 0) {
        kill(srv.pid, SIGKILL);
        waitpid(srv.pid, NULL, 0);
    }
    srv.pid = 0;
}

static void show_log(void)
{
    char buf[2048] = "";
    FILE *f = fopen(srv.log, "r");
    if (f) {
        buf[fread(buf, 1, sizeof(buf) - 1, f)] = 0;
        fclose(f);
    }
    print_message("nbd-server log:\n%s\n", buf);
}

static uint16_t free_port(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t n = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &n), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void srv_start(void)
{
    pid_t parent = getpid();
    FILE *f;
    srv_kill();                                 // one left by a failed test
    srv.port = free_port();
    f = fopen(srv.conf, "w");
    assert_non_null(f);
    fprintf(f, "[generic]\n\tport = %u\n\tlistenaddr = 127.0.0.1\n[disk]\n\texportname = %s\n"
            "\tflush = true\n\tfua = true\n\ttrim = true\n", srv.port, srv.img);
    fclose(f);
    srv.pid = fork();
    assert_true(srv.pid >= 0);
    if (srv.pid == 0) {
        int fd = open(srv.log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        prctl(PR_SET_PDEATHSIG, SIGKILL);       // gone with the test, however it ends
        if (getppid() != parent)
            _exit(127);
        dup2(fd, 1);
        dup2(fd, 2);
        execlp("nbd-server", "nbd-server", "-C", srv.conf, "-d", (char *)NULL);
        fprintf(stderr, "cannot run nbd-server: %s (tools/deps.sh installs it)\n",
                strerror(errno));
        _exit(127);
    }
}

// Connects to a server just started: it listens once it is up, and -d serves one session, so
// the first connection that succeeds is the session (no probing). Retried on another port if
// the server could not start (the port was taken meanwhile).
static int srv_connect(void)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        srv_start();
        for (int i = 0; i < 500; i++) {
            struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(srv.port),
                                     .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
            int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
            if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                fcntl(fd, F_SETFL, O_NONBLOCK);
                return fd;
            }
            close(fd);
            if (waitpid(srv.pid, NULL, WNOHANG) == srv.pid) {   // it exited: port or setup
                srv.pid = 0;
                break;
            }
            usleep(10000);
        }
        show_log();
        srv_kill();
    }
    fail_msg("nbd-server did not start (see its log above)");
    return -1;
}

// ---- the client side ------------------------------------------------------------------------

struct conn {
    int fd;
    struct nbd_proto p;
    bool ready, eof;
    const uint8_t *wsrc[MAXH];
    uint8_t *rdst[MAXH];
    uint32_t rlen[MAXH];
    int status[MAXH];
    unsigned done;
};

static void on_ready(void *ctx, const struct nbd_export *e)
{
    (void)e;
    ((struct conn *)ctx)->ready = true;
}

static void on_data(void *ctx, uint64_t h, uint32_t off, const uint8_t *buf, size_t n)
{
    struct conn *x = ctx;
    assert_true(h < MAXH && off + n <= x->rlen[h]);
    memcpy(x->rdst[h] + off, buf, n);
}

static void on_reply(void *ctx, uint64_t h, int status)
{
    struct conn *x = ctx;
    assert_true(h < MAXH);
    x->status[h] = status;
    x->done++;
}

static const struct nbd_proto_ops ops = { .ready = on_ready, .data = on_data, .reply = on_reply };

// Sends and receives until cond holds: 0, the engine's error, -ECONNRESET at EOF (x->eof), or
// -ETIMEDOUT after WAIT_MS without progress.
static int pump(struct conn *x, bool (*cond)(struct conn *, unsigned), unsigned arg)
{
    static uint8_t in[65536];
    while (!cond(x, arg)) {
        struct nbd_out o;
        bool out = nbd_proto_out(&x->p, &o);
        struct pollfd pf = { .fd = x->fd, .events = POLLIN | (out ? POLLOUT : 0) };
        if (poll(&pf, 1, WAIT_MS) <= 0)
            return -ETIMEDOUT;
        if (pf.revents & POLLOUT) {
            const uint8_t *src = o.payload ? x->wsrc[o.handle] + o.off : o.buf;
            ssize_t n = send(x->fd, src, o.len, MSG_NOSIGNAL);
            if (n > 0)
                nbd_proto_sent(&x->p, (size_t)n);
        }
        if (pf.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = recv(x->fd, in, sizeof(in), 0);
            if (n == 0 || (n < 0 && errno != EAGAIN)) {
                x->eof = true;
                return -ECONNRESET;
            }
            long r = n > 0 ? nbd_proto_in(&x->p, in, (size_t)n) : 0;
            if (r < 0)
                return (int)r;
        }
    }
    return 0;
}

static bool is_ready(struct conn *x, unsigned n) { (void)n; return x->ready; }
static bool all_done(struct conn *x, unsigned n) { return x->done >= n; }
static bool never(struct conn *x, unsigned n) { (void)x, (void)n; return false; }

static void conn_open(struct conn *x, const char *name)
{
    memset(x, 0, sizeof(*x));
    assert_int_equal(nbd_proto_init(&x->p, name, &ops, x), 0);
    x->fd = srv_connect();
}

static void conn_close(struct conn *x)
{
    close(x->fd);
    srv_kill();
}

static void req(struct conn *x, enum nbd_cmd cmd, uint64_t h, uint64_t off, uint32_t len,
                bool fua, void *buf)
{
    if (cmd == NBD_CMD_WRITE) {
        x->wsrc[h] = buf;
        memcpy(model + off, buf, len);
    }
    x->rdst[h] = buf;
    x->rlen[h] = len;
    x->status[h] = 1;
    assert_int_equal(nbd_proto_request(&x->p, cmd, h, off, len, fua), 0);
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(i * 31 + seed + (i >> 9));
}

static void file_matches_model(void)
{
    uint8_t *f = malloc(DISK);
    int fd = open(srv.img, O_RDONLY);
    assert_int_equal(pread(fd, f, DISK, 0), DISK);
    close(fd);
    for (size_t i = 0; i < DISK; i++)
        if (f[i] != model[i])
            fail_msg("file byte %zu is 0x%02x, expected 0x%02x", i, f[i], model[i]);
    free(f);
}

// ---- tests ----------------------------------------------------------------------------------

static void test_write_flush_read_trim(void **state)
{
    (void)state;
    struct conn *x = calloc(1, sizeof(*x));
    uint8_t *a = malloc(65536), *b = malloc(4096), *r = malloc(4096), *big = malloc(1 << 20);
    conn_open(x, "disk");
    assert_int_equal(pump(x, is_ready, 0), 0);
    const struct nbd_export *e = &x->p.exp;
    print_message("export: %llu bytes, flags 0x%04x, blocks %u/%u/%u\n",
                  (unsigned long long)e->size, e->flags, e->min_block, e->pref_block,
                  e->max_payload);
    assert_int_equal(e->size, DISK);
    uint16_t want = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
                    NBD_FLAG_SEND_TRIM;                 // what the configuration asks for
    assert_int_equal(e->flags & want, want);
    assert_false(e->flags & NBD_FLAG_READ_ONLY);

    // Three in flight: a write, a write with FUA, a read of untouched data.
    fill(a, 65536, 1);
    fill(b, 4096, 2);
    req(x, NBD_CMD_WRITE, 1, 1 << 20, 65536, false, a);
    req(x, NBD_CMD_WRITE, 2, 8192, 4096, true, b);
    req(x, NBD_CMD_READ, 3, 3 << 20, 4096, false, r);
    assert_int_equal(pump(x, all_done, 3), 0);
    for (int h = 1; h <= 3; h++)
        assert_int_equal(x->status[h], 0);
    assert_memory_equal(r, model + (3 << 20), 4096);
    req(x, NBD_CMD_FLUSH, 4, 0, 0, false, NULL);
    assert_int_equal(pump(x, all_done, 4), 0);
    assert_int_equal(x->status[4], 0);
    file_matches_model();

    // Sixteen reads of 64 KiB in flight, over written and untouched data.
    for (unsigned i = 0; i < NBD_PROTO_INFLIGHT; i++)
        req(x, NBD_CMD_READ, 10 + i, (512u << 10) + i * 65536, 65536, false, big + i * 65536);
    assert_int_equal(nbd_proto_request(&x->p, NBD_CMD_READ, 40, 0, 512, false), -EAGAIN);
    assert_int_equal(pump(x, all_done, 4 + NBD_PROTO_INFLIGHT), 0);
    assert_memory_equal(big, model + (512u << 10), 1 << 20);

    // Trim: nbd-server punches a hole in the file where the file system can, so the range
    // reads as zeroes and nothing around it changed. (At 256 KiB: nbd-server 3.24 computes a
    // zero-length hole for a trim at or past the middle of a one-file export.)
    req(x, NBD_CMD_TRIM, 30, 256u << 10, 65536, false, NULL);
    req(x, NBD_CMD_FLUSH, 31, 0, 0, false, NULL);
    assert_int_equal(pump(x, all_done, 6 + NBD_PROTO_INFLIGHT), 0);
    assert_int_equal(x->status[30], 0);
    req(x, NBD_CMD_READ, 32, 256u << 10, 65536, false, big);
    assert_int_equal(pump(x, all_done, 7 + NBD_PROTO_INFLIGHT), 0);
    bool zeroed = true;
    for (unsigned i = 0; i < 65536; i++)
        zeroed &= !big[i];
    print_message("trim: %s\n", zeroed ? "the range reads as zeroes" : "nothing discarded");
    if (srv.punches)
        assert_true(zeroed);
    else if (!zeroed)                           // "MAY discard": then nothing changed
        assert_memory_equal(big, model + (256u << 10), 65536);
    if (zeroed)
        memset(model + (256u << 10), 0, 65536);
    file_matches_model();

    // Refused before the wire; then a soft disconnect, which the server answers by closing.
    assert_int_equal(nbd_proto_request(&x->p, NBD_CMD_READ, 50, DISK - 512, 1024, false),
                     -EINVAL);
    assert_int_equal(nbd_proto_request(&x->p, NBD_CMD_DISC, 0, 0, 0, false), 0);
    assert_int_equal(pump(x, never, 0), -ECONNRESET);
    assert_true(x->eof);
    assert_int_equal(nbd_proto_eof(&x->p), 0);
    conn_close(x);
    free(a), free(b), free(r), free(big), free(x);
}

static void test_unknown_export(void **state)
{
    (void)state;
    struct conn *x = calloc(1, sizeof(*x));
    conn_open(x, "no-such-disk");
    assert_int_equal(pump(x, is_ready, 0), -ENOENT);
    print_message("%s\n", x->p.why);
    assert_non_null(strstr(x->p.why, "no such export \"no-such-disk\""));
    conn_close(x);
    free(x);
}

static int group_setup(void **state)
{
    char ver[256] = "";
    FILE *f = popen("nbd-server -V 2>&1", "r");
    (void)state;
    if (f) {
        ver[fread(ver, 1, sizeof(ver) - 1, f)] = 0;
        pclose(f);
    }
    if (!strstr(ver, "version")) {
        fprintf(stderr, "nbd-server is missing (tools/deps.sh installs Debian's nbd-server)\n");
        return -1;
    }
    ver[strcspn(ver, "\n")] = 0;
    print_message("%s\n", ver);
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(srv.dir, sizeof(srv.dir), "%.40s/ferry-nbd-XXXXXX", tmp);
    if (!mkdtemp(srv.dir))
        return -1;
    snprintf(srv.img, sizeof(srv.img), "%s/disk.img", srv.dir);
    snprintf(srv.conf, sizeof(srv.conf), "%s/nbd.conf", srv.dir);
    snprintf(srv.log, sizeof(srv.log), "%s/nbd.log", srv.dir);
    model = malloc(DISK);
    fill(model, DISK, 7);
    f = fopen(srv.img, "w");
    if (!f || fwrite(model, 1, DISK, f) != DISK)
        return -1;
    fclose(f);
    int fd = open(srv.img, O_RDWR);             // a scratch hole, rewritten just after
    srv.punches = fd >= 0 && !fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096);
    if (fd < 0 || pwrite(fd, model, 4096, 0) != 4096)
        return -1;
    close(fd);
    atexit(srv_kill);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    srv_kill();
    unlink(srv.img);
    unlink(srv.conf);
    unlink(srv.log);
    rmdir(srv.dir);
    free(model);
    return 0;
}

static int test_teardown(void **state)         // also after a failed assertion
{
    (void)state;
    srv_kill();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_write_flush_read_trim, test_teardown),
        cmocka_unit_test_teardown(test_unknown_export, test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
