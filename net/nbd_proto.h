/*
 * The NBD client protocol engine (doc/proto.md of github.com/NetworkBlockDevice/nbd): pure
 * state, no transport, no clock, no allocation, so the host tests and the fuzzer drive it as
 * net/nbd.c does. The caller feeds it what the server sent (nbd_proto_in), sends what it
 * hands out (nbd_proto_out, then nbd_proto_sent) and hears about the handshake's outcome and
 * each reply through callbacks.
 *
 * Handshake: fixed newstyle only (a server without NBD_FLAG_FIXED_NEWSTYLE is refused),
 * NBD_FLAG_C_NO_ZEROES when offered, then NBD_OPT_GO with the export name and an
 * NBD_INFO_BLOCK_SIZE request (the engine then honours the server's block sizes); a server
 * that answers NBD_REP_ERR_UNSUP gets NBD_OPT_EXPORT_NAME instead. Transmission: requests
 * with simple replies only (structured replies are never negotiated), up to
 * NBD_PROTO_INFLIGHT in flight with distinct handles; a read's data is handed over in pieces
 * as it arrives, never buffered whole. A write's payload is not copied into the engine:
 * nbd_proto_out names the request and the byte range to send and the caller sends it from its
 * own buffer.
 *
 * Anything the server sends that breaks the protocol (bad magic, a length past its bound, a
 * reply for an unknown handle, a reply type the option cannot have) makes nbd_proto_in
 * return -EPROTO with a reason in why: the connection is to be dropped, and every later call
 * returns the same error. Lengths from the server are bounded before use: an option reply
 * longer than NBD_OPT_REPLY_MAX is refused, and only its first NBD_OPT_KEEP bytes are kept.
 */
#ifndef NET_NBD_PROTO_H
#define NET_NBD_PROTO_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NBD_NAME_MAX        255         /* export name bytes (proto.md: SHOULD <= 256) */
#define NBD_PROTO_INFLIGHT  16          /* requests awaiting replies on one connection */
#define NBD_OPT_REPLY_MAX   65536u      /* longest option reply accepted */
#define NBD_OPT_KEEP        128u        /* option reply bytes kept (info, error text) */
#define NBD_PROTO_OUT_SIZE  640u        /* handshake messages and request headers */
#define NBD_WHY_MAX         160
#define NBD_MAX_PAYLOAD_DEFAULT (32u << 20) /* proto.md "Size constraints": 2^25 */
/* A reply's NBD_ESHUTDOWN: the server is going away, the request is not at fault (the core's
 * newlib has no ESHUTDOWN without its Linux extensions). */
#define NBD_STATUS_SHUTDOWN (-ECONNABORTED)

/* Request types (proto.md "Request types"). */
enum nbd_cmd {
    NBD_CMD_READ = 0,
    NBD_CMD_WRITE = 1,
    NBD_CMD_DISC = 2,
    NBD_CMD_FLUSH = 3,
    NBD_CMD_TRIM = 4,
};

/* Transmission flags (proto.md "Transmission flags"): what the export allows. */
#define NBD_FLAG_HAS_FLAGS   (1u << 0)
#define NBD_FLAG_READ_ONLY   (1u << 1)
#define NBD_FLAG_SEND_FLUSH  (1u << 2)
#define NBD_FLAG_SEND_FUA    (1u << 3)
#define NBD_FLAG_ROTATIONAL  (1u << 4)
#define NBD_FLAG_SEND_TRIM   (1u << 5)

/* What the handshake agreed on. Without NBD_INFO_BLOCK_SIZE from the server the sizes are
 * proto.md's interoperable defaults: 512-byte alignment, 4 KiB preferred, 32 MiB payloads. */
struct nbd_export {
    uint64_t size;                      /* bytes, a non-zero multiple of 512 */
    uint16_t flags;                     /* NBD_FLAG_* */
    uint32_t min_block, pref_block, max_payload;
};

/*
 * Events, called from inside nbd_proto_in. A callback may queue requests (nbd_proto_request)
 * and take output, but must not feed input. data: bytes [off, off+n) of read handle's data,
 * in order, in pieces of any size (none if the read failed). reply: handle is done: 0, or the
 * server's error as -errno (NBD_EIO -> -EIO, NBD_ENOSPC -> -ENOSPC, NBD_ESHUTDOWN ->
 * NBD_STATUS_SHUTDOWN, ... an unknown value -> -EINVAL as proto.md says); its handle is free
 * again.
 */
struct nbd_proto_ops {
    void (*ready)(void *ctx, const struct nbd_export *e);
    void (*data)(void *ctx, uint64_t handle, uint32_t off, const uint8_t *buf, size_t n);
    void (*reply)(void *ctx, uint64_t handle, int status);
};

/* What to send next: len bytes at buf, or, with payload set, bytes [off, off+len) of the
 * write payload of request handle, from the caller's buffer. */
struct nbd_out {
    const uint8_t *buf;
    size_t len;
    bool payload;
    uint64_t handle;
    uint32_t off;
};

/* The engine's state: plain data the caller allocates. Fields are private but for why. */
struct nbd_proto_req {
    uint64_t handle;
    uint64_t end;                       /* output position just past its header and payload */
    uint32_t len;
    uint8_t cmd;
    bool used;
};

struct nbd_proto_mark {                 /* a write payload to send at output position pos */
    uint64_t pos, handle;
    uint32_t len;
};

struct nbd_proto {
    const struct nbd_proto_ops *ops;
    void *ctx;
    char name[NBD_NAME_MAX + 1];
    uint32_t name_len;
    uint8_t phase;
    int err;
    char why[NBD_WHY_MAX];              /* the reason for err */
    bool no_zeroes, got_export, disc;
    struct nbd_export exp;
    /* receiving */
    uint8_t hb[20 + NBD_OPT_KEEP];      /* a header being gathered, then kept option data */
    uint32_t have, need;
    uint32_t opt, opt_type, opt_len, opt_got;   /* option sent; reply being read */
    int rd;                             /* table entry whose read data is arriving */
    uint32_t rd_off;
    /* in flight */
    struct nbd_proto_req req[NBD_PROTO_INFLIGHT];
    unsigned inflight;
    /* sending: out[out_start, out_end) are engine bytes; tx_pos counts everything sent,
     * tail_pos everything queued, payloads included */
    uint8_t out[NBD_PROTO_OUT_SIZE];
    size_t out_start, out_end;
    uint64_t tx_pos, tail_pos;
    struct nbd_proto_mark mark[NBD_PROTO_INFLIGHT];
    unsigned mark_head, nmarks;
};

/* Starts a connection's handshake (the server speaks first). 0, or -EINVAL if the name is
 * longer than NBD_NAME_MAX. ops may be NULL members. */
int nbd_proto_init(struct nbd_proto *p, const char *export_name, const struct nbd_proto_ops *ops,
                   void *ctx);

/* Bytes from the server: n (all are consumed) or a negative error, also in p->err with the
 * reason in p->why: -EPROTO (the server broke the protocol), -ENOENT (no such export),
 * -ECONNREFUSED (the server refused the export: policy, TLS required, shutting down...). */
long nbd_proto_in(struct nbd_proto *p, const uint8_t *buf, size_t n);

/* The server closed the connection: 0 if that was the answer to NBD_CMD_DISC with nothing in
 * flight, else the error (also in p->err/why): -ENOENT after NBD_OPT_EXPORT_NAME (that is how
 * a server refuses the name), -ECONNRESET otherwise. */
int nbd_proto_eof(struct nbd_proto *p);

/* What to send next; false when nothing is due (or after an error). */
bool nbd_proto_out(struct nbd_proto *p, struct nbd_out *o);
/* The caller sent the first n bytes of what nbd_proto_out gave. */
void nbd_proto_sent(struct nbd_proto *p, size_t n);

/*
 * Queues a request (transmission phase): 0; -ENOTCONN before the handshake is done or after
 * NBD_CMD_DISC; -EAGAIN with NBD_PROTO_INFLIGHT in flight or the output full; -EEXIST if
 * handle is in flight; -EINVAL if nbd_proto_check refuses it; p->err after an error.
 * NBD_CMD_DISC has no reply and ends the requests this connection takes.
 */
int nbd_proto_request(struct nbd_proto *p, enum nbd_cmd cmd, uint64_t handle, uint64_t off,
                      uint32_t len, bool fua);

/* Whether the export takes the request: -EINVAL for a zero length (READ, WRITE, TRIM), a
 * range past the export's end or off its minimum block, a payload over max_payload, a write
 * or trim on a read-only export, a command or FUA the export does not offer, a FLUSH or DISC
 * with an offset or length. */
int nbd_proto_check(const struct nbd_export *e, enum nbd_cmd cmd, uint64_t off, uint32_t len,
                    bool fua);

bool nbd_proto_ready(const struct nbd_proto *p);            /* in the transmission phase */
unsigned nbd_proto_inflight(const struct nbd_proto *p);
/* Part of handle's request (header or payload) is not yet handed to the transport. */
bool nbd_proto_unsent(const struct nbd_proto *p, uint64_t handle);

#endif
