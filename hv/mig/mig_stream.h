/*
 * Migration stream codec (docs/migration-stream.md), independent of the
 * transport. Each direction of a migration connection is a byte stream: a
 * 16-byte stream header, then records {u16 type, u16 flags, u32 length,
 * payload[length], u32 crc32c over type..payload}, all little-endian.
 *
 * Encoder: writes whole records into a caller buffer (mig_rec_begin, the
 * mig_put_* primitives, mig_rec_end; helpers for each payload layout). Errors
 * inside a record latch and are returned by mig_rec_end, which then drops the
 * record, so callers may check only there.
 *
 * Decoder: fed the bytes of one direction in arbitrary chunks as they arrive;
 * reassembles records in its own buffer, checks the header, lengths, CRCs,
 * types and the conversation order, and calls back once per good record. The
 * order is one table over both directions (mig_stream.c, "Order"): the decoder
 * sees what the peer sends, and the engine reports what it sends itself with
 * mig_dec_sent(), so "RAM only after ACCEPT" holds on both hosts. Errors are
 * sticky: a decoder that returned one returns it forever.
 *
 * Payload parsers (mig_parse_*, mig_ram_parse) take a record the decoder
 * delivered and validate the layout fully before handing anything out.
 */
#ifndef HV_MIG_STREAM_H
#define HV_MIG_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/cpu/vcpu_state.h"

#define MIG_STREAM_MAGIC       "FERRYMIG"    /* 8 bytes, no NUL on the wire */
#define MIG_STREAM_VERSION     7   /* 2: device records versioned, XSAVE its own record;
                                       3: HELLO names each NIC's switch and MAC, and
                                          each shared disk's location;
                                       4: a local disk moves with the VM (DISK records);
                                       5: HELLO offers features, ACCEPT picks them (LZ4
                                          page data), COMMIT_ACK says how long the guest
                                          was stopped as the target saw it;
                                       6: DELTA runs (pages sent again, as changes);
                                       7: several streams (HELLO asks, ACCEPT grants
                                          with a join token, JOIN opens one, STREAM_END
                                          closes it), RAM records name their pass */
#define MIG_STREAM_HDR_SIZE    16            /* magic[8] version u16 flags u16 crc u32 */
#define MIG_REC_HDR_SIZE       8             /* type u16 flags u16 length u32 */
#define MIG_REC_OVERHEAD       12            /* header + crc32c */
#define MIG_PAGE_SIZE          4096u
#define MIG_RAM_MAX_PAGES      64            /* data pages one RAM record can carry */
/* 64 pages of data plus room for 256 run headers (or other records' payloads). */
#define MIG_REC_MAX_PAYLOAD    (MIG_RAM_MAX_PAGES * MIG_PAGE_SIZE + 4096u)
#define MIG_REC_MAX_SIZE       (MIG_REC_MAX_PAYLOAD + MIG_REC_OVERHEAD)

/* Record types; the values are the wire encoding. */
enum mig_rec_type {
    MIG_REC_AUTH_CHALLENGE = 0x01,   /* nonce[32] */
    MIG_REC_AUTH_RESPONSE  = 0x02,   /* hmac[32] */
    MIG_REC_JOIN           = 0x03,   /* token[32], stream u16, reserved u16, reserved u32 */
    MIG_REC_HELLO          = 0x10,   /* VM configuration (struct mig_hello) */
    MIG_REC_ACCEPT         = 0x11,   /* features u16 (of those HELLO offered), streams u16,
                                        join token[32] */
    MIG_REC_REFUSE         = 0x12,   /* code u32, reason text */
    MIG_REC_RAM            = 0x20,   /* pass u32, reserved u32, runs of pages (mig_ram_run_put
                                        / mig_ram_parse) */
    MIG_REC_ROUND_END      = 0x21,   /* round u32, reserved u32, pages u64 */
    MIG_REC_DISK           = 0x22,   /* instance u16, reserved u16, reserved u32, block runs */
    MIG_REC_STREAM_END     = 0x23,   /* pass u32, reserved u32, pages u64: a stream is done */
    MIG_REC_STOP           = 0x30,   /* empty: the source has paused the guest */
    MIG_REC_VCPU           = 0x31,   /* index u32, struct vcpu_state encoding */
    MIG_REC_DEVICE         = 0x32,   /* type u16, instance u16, version u16, reserved u16, record */
    MIG_REC_TSC            = 0x33,   /* guest TSC u64, TSC kHz u32, reserved u32 */
    MIG_REC_XSAVE          = 0x34,   /* vCPU index u32, its XSAVE area (standard form) */
    MIG_REC_COMMIT         = 0x40,   /* empty: everything was sent */
    MIG_REC_COMMIT_ACK     = 0x41,   /* stopped_us u32, reserved u32: the target owns the guest */
    MIG_REC_QUERY          = 0x50,   /* kind u32, reserved u32, argument (instead of HELLO) */
    MIG_REC_QUERY_REPLY    = 0x51,   /* kind u32, status u32, data */
    MIG_REC_ERROR          = 0x7f,   /* code u32, reason text */
};

/* The two ends of a migration. */
enum mig_role { MIG_ROLE_SRC = 1, MIG_ROLE_DST = 2 };

/* Where a conversation is; both hosts track the same phase. */
enum mig_phase {
    MIG_PH_AUTH_SRC_NONCE,  /* src sends AUTH_CHALLENGE */
    MIG_PH_AUTH_DST_NONCE,  /* dst sends AUTH_CHALLENGE */
    MIG_PH_AUTH_DST_MAC,    /* dst sends AUTH_RESPONSE */
    MIG_PH_AUTH_SRC_MAC,    /* src sends AUTH_RESPONSE */
    MIG_PH_HELLO,           /* src sends HELLO */
    MIG_PH_DECIDE,          /* dst sends ACCEPT or REFUSE */
    MIG_PH_PRECOPY,         /* src sends RAM, ROUND_END, then STOP */
    MIG_PH_STOPPED,         /* src sends RAM, ROUND_END, VCPU, XSAVE, DEVICE, TSC, COMMIT */
    MIG_PH_COMMITTED,       /* dst sends COMMIT_ACK (or ERROR) */
    MIG_PH_QUERIED,         /* dst sends QUERY_REPLY (or ERROR) */
    MIG_PH_JOINED,          /* another stream of a migration: src sends RAM, then STREAM_END */
    MIG_PH_END,             /* nothing more, either way */
    MIG_PH_COUNT
};

/* Stream header flags: none defined in version 1 (a receiver rejects any). */
/* Record flags: none defined in version 1 (a receiver rejects any). */

/* ---- encoder ---- */

struct mig_enc {
    uint8_t *buf;
    size_t cap;
    size_t len;        /* bytes of finished output in buf; the open record starts here */
    size_t pos;        /* write position inside the open record */
    uint16_t type;     /* of the open record */
    bool open;
    int err;           /* latched error of the open record */
};

void mig_enc_init(struct mig_enc *e, void *buf, size_t cap);
/* Forgets the finished output (after the caller sent it); no record may be open. */
void mig_enc_reset(struct mig_enc *e);
/* The 16-byte stream header; first thing on each direction. 0 or -ENOSPC. */
int mig_stream_header_put(struct mig_enc *e);
/* The same, announcing another version: only for the `migrate inject old-stream` test hook. */
int mig_stream_header_put_as(struct mig_enc *e, uint16_t version);

/* Opens a record: 0, -EINVAL if one is open, -ENOSPC if not even an empty one fits. */
int mig_rec_begin(struct mig_enc *e, uint16_t type);
/* Payload bytes the open record can still take (record limit and buffer space). */
size_t mig_rec_room(const struct mig_enc *e);
/*
 * Payload primitives: 0, or -E2BIG (past MIG_REC_MAX_PAYLOAD), -ENOSPC (buffer
 * full), -EINVAL (no record open); on error nothing is written and the error
 * latches for mig_rec_end.
 */
int mig_put_u8(struct mig_enc *e, uint8_t v);
int mig_put_u16(struct mig_enc *e, uint16_t v);
int mig_put_u32(struct mig_enc *e, uint32_t v);
int mig_put_u64(struct mig_enc *e, uint64_t v);
int mig_put_bytes(struct mig_enc *e, const void *p, size_t n);
/*
 * Closes the record: fills in the length and the CRC; the record joins the
 * finished output (e->len grows by its size on the wire). Returns 0, or the
 * latched error / -EMSGSIZE (payload length impossible for the type), and then
 * the record is dropped from the buffer.
 */
int mig_rec_end(struct mig_enc *e);

/* ---- decoder ---- */

struct mig_record {
    uint16_t type;
    uint16_t flags;
    uint32_t len;
    const uint8_t *payload;   /* valid during the callback only */
};

/*
 * Called once per good record, after the phase has advanced (so the callback
 * may send and call mig_dec_sent). Returns 0 to go on, a positive value to
 * make mig_dec_feed return after this record (back-pressure), or a negative
 * error that mig_dec_feed returns and latches.
 */
typedef int (*mig_record_fn)(const struct mig_record *r, void *ctx);

struct mig_decoder {
    uint8_t role;             /* enum mig_role: who we are; records come from the other */
    uint8_t phase;            /* enum mig_phase */
    bool have_header;         /* the peer's stream header was read and is good */
    uint16_t peer_version;    /* the version in the peer's stream header (0: none read yet) */
    int err;                  /* sticky error, 0 while healthy */
    uint16_t bad_type;        /* for logs: type of the record that caused err (0: none) */
    uint32_t fill;            /* bytes held in buf */
    uint64_t records;         /* good records delivered */
    uint64_t bytes;           /* bytes consumed */
    uint8_t buf[MIG_REC_MAX_SIZE];
};

/*
 * Errors of mig_dec_feed:
 *   -EINVAL           stream header magic is not "FERRYMIG"
 *   -EPROTONOSUPPORT  stream header version not MIG_STREAM_VERSION (peer_version says
 *                     which), or header/record flags set
 *   -EBADMSG          CRC mismatch (stream header or record)
 *   -E2BIG            record length above MIG_REC_MAX_PAYLOAD (seen in its header)
 *   -ENOMSG           unknown record type
 *   -EMSGSIZE         payload length impossible for the type
 *   -EPROTO           record out of order, from the wrong side, or bytes after the end
 *   anything negative the callback returned
 */
void mig_dec_init(struct mig_decoder *d, enum mig_role self);
/*
 * Bytes consumed: n (at most INT32_MAX per call) unless a callback asked to
 * pause; or a negative error.
 */
int mig_dec_feed(struct mig_decoder *d, const uint8_t *buf, size_t n, mig_record_fn cb,
                 void *ctx);
/* Records a record we sent in the conversation; -EPROTO if the order forbids it. */
int mig_dec_sent(struct mig_decoder *d, uint16_t type);
/* True at a record boundary (no partial header or record held): EOF here is clean. */
bool mig_dec_idle(const struct mig_decoder *d);
/* Bytes of a partial header or record held (0 when idle). */
size_t mig_dec_pending(const struct mig_decoder *d);
/* The conversation reached its end (COMMIT_ACK, REFUSE or ERROR). */
bool mig_dec_done(const struct mig_decoder *d);
enum mig_phase mig_dec_phase(const struct mig_decoder *d);

const char *mig_rec_type_name(uint16_t type);     /* "?" for unknown */
const char *mig_phase_name(enum mig_phase p);

/* ---- payload reader ---- */

/* Reads fixed-width little-endian fields; reading past the end sets bad and yields 0. */
struct mig_rd {
    const uint8_t *p;
    size_t len, off;
    bool bad;
};

void mig_rd_init(struct mig_rd *r, const void *p, size_t len);
uint8_t mig_get_u8(struct mig_rd *r);
uint16_t mig_get_u16(struct mig_rd *r);
uint32_t mig_get_u32(struct mig_rd *r);
uint64_t mig_get_u64(struct mig_rd *r);
const uint8_t *mig_get_bytes(struct mig_rd *r, size_t n);   /* NULL when short */
/* Everything read, nothing left over, no overrun. */
bool mig_rd_done(const struct mig_rd *r);

/* ---- typed payloads ---- */

#define MIG_AUTH_BYTES     32
#define MIG_NAME_MAX       32        /* VM name including its NUL (hv/vm/vm.h VM_NAME_MAX) */
#define MIG_MAX_VCPUS      256
#define MIG_MAX_DEVICES    256
#define MIG_HELLO_DEV_SIZE 8         /* type u16, instance u16, version u16, reserved u16 */
#define MIG_MAX_NICS       8
#define MIG_SWITCH_MAX     16        /* a switch name including its NUL (net/vswitch.h) */
#define MIG_HELLO_NIC_SIZE 24        /* switch name[16], MAC[6], reserved u16 */
#define MIG_MAX_DISKS      4
#define MIG_DISK_LOC_MAX   128       /* a disk's location including its NUL */
#define MIG_HELLO_DISK_SIZE (16 + MIG_DISK_LOC_MAX)  /* kind u8, reserved[7], sectors u64, location */
#define MIG_POLICY_MAX     (MIG_REC_MAX_PAYLOAD - MIG_HELLO_FIXED - \
                            MIG_HELLO_DEV_SIZE * MIG_MAX_DEVICES - 4 - \
                            MIG_HELLO_NIC_SIZE * MIG_MAX_NICS - 4 - \
                            MIG_HELLO_DISK_SIZE * MIG_MAX_DISKS)
#define MIG_DEV_RECORD_MAX 16384     /* a device's state record (hv/dev/device.h) */
#define MIG_DEV_HDR_SIZE   8         /* DEVICE payload before the record */
#define MIG_XSAVE_MIN      576       /* legacy area + XSAVE header */
#define MIG_XSAVE_MAX      16384
#define MIG_HELLO_FIXED    56
#define MIG_REASON_MAX     200       /* reason text bytes */
#define MIG_VCPU_STATE_FORMAT 1      /* version of the vcpu_state encoding */
#define MIG_VCPU_STATE_SIZE   483    /* bytes of that encoding */
#define MIG_GFN_LIMIT      (1ull << 40)   /* 52-bit guest-physical addresses */

/*
 * A device in HELLO and DEVICE records: its type's stable id (hv/dev/dev_ids.h; the
 * stream itself knows no device), its instance and the version of its record.
 */
struct mig_dev_id {
    uint16_t type;        /* non-zero */
    uint16_t instance;
    uint16_t version;     /* non-zero */
};

/* Features a source offers in HELLO (its flags field) and the target takes in ACCEPT. */
#define MIG_FEAT_LZ4   0x1u           /* RAM and DISK runs may carry LZ4 blocks (MIG_RAM_LZ4) */
#define MIG_FEAT_DELTA 0x2u           /* RAM runs may carry page deltas (MIG_RAM_DELTA) */
#define MIG_FEAT_ALL   (MIG_FEAT_LZ4 | MIG_FEAT_DELTA)

/*
 * Several streams (docs/migration-stream.md, "Streams"): HELLO asks for 1..MIG_STREAMS_MAX,
 * ACCEPT grants as many or fewer with a join token, and each stream past the first is its own
 * connection that opens with JOIN. Guest RAM is cut into chunks of MIG_STREAM_CHUNK pages,
 * and a page always travels on the stream that owns its chunk (mig_stream_owner), so the
 * copies of one page arrive in the order they were sent; on every stream the RAM records'
 * passes never go back.
 */
#define MIG_STREAMS_MAX   8
#define MIG_STREAM_CHUNK  512u        /* pages: 2 MiB */
#define MIG_JOIN_TOKEN    32

static inline unsigned mig_stream_owner(uint64_t gfn, unsigned streams)
{
    return streams > 1 ? (unsigned)(gfn / MIG_STREAM_CHUNK % streams) : 0;
}

struct mig_hello {
    uint16_t version;                 /* MIG_STREAM_VERSION */
    uint16_t features;                /* MIG_FEAT_*: what the source can send */
    uint16_t streams;                 /* connections the source would use, 1..MIG_STREAMS_MAX */
    uint32_t vcpus;                   /* 1..MIG_MAX_VCPUS */
    uint64_t mem_bytes;               /* guest RAM, a non-zero multiple of 4 KiB */
    char name[MIG_NAME_MAX];          /* 1..31 characters and a NUL */
    const uint8_t *policy;            /* CPU policy blob (parsed: points into the record) */
    uint32_t policy_len;
    uint16_t ndevices;
    struct mig_dev_id devices[MIG_MAX_DEVICES];
    /* The VM's NICs, by virtio-net instance: the switch each is on (the target must have one
     * of that name) and its MAC. */
    uint16_t nnics;
    struct mig_nic { char sw[MIG_SWITCH_MAX]; uint8_t mac[6]; } nics[MIG_MAX_NICS];
    /* Its disks, by virtio-blk instance: on shared storage, what the target must reach; a
     * local disk (storage=copy), the size of the disk the target makes for its blocks, which
     * DISK records bring. */
    uint16_t ndisks;
    struct mig_disk {
        uint8_t kind;                 /* MIG_DISK_NBD or MIG_DISK_LOCAL */
        uint64_t sectors;             /* 512-byte sectors, non-zero */
        char loc[MIG_DISK_LOC_MAX];   /* "nbd://a.b.c.d[:port]/export"; local: the image name */
    } disks[MIG_MAX_DISKS];
};
#define MIG_DISK_NBD   1
#define MIG_DISK_LOCAL 2
#define MIG_DISK_BLOCK 4096u          /* a DISK record's unit: 8 sectors */

/* Whole-record helpers: mig_rec_begin .. mig_rec_end; 0 or an error like mig_rec_end. */
int mig_rec_empty(struct mig_enc *e, uint16_t type);  /* STOP, COMMIT */
/* ACCEPT: the features the target takes (a subset of those HELLO offered; the source checks),
 * the streams it grants (1..MIG_STREAMS_MAX; at most HELLO's: the source checks) and the token
 * their JOIN records must carry (all zero with one stream). */
int mig_rec_accept(struct mig_enc *e, uint16_t features, uint16_t streams,
                   const uint8_t token[MIG_JOIN_TOKEN]);
int mig_parse_accept(const struct mig_record *r, uint16_t *features, uint16_t *streams,
                     uint8_t token[MIG_JOIN_TOKEN]);
/* JOIN: the first record of stream 1..MIG_STREAMS_MAX - 1, with ACCEPT's token. */
int mig_rec_join(struct mig_enc *e, const uint8_t token[MIG_JOIN_TOKEN], uint16_t stream);
int mig_parse_join(const struct mig_record *r, const uint8_t **token, uint16_t *stream);
/* STREAM_END: the last record of a joined stream: the pass it ended in, the pages it carried
 * (every page of every RAM run, zero or not). */
int mig_rec_stream_end(struct mig_enc *e, uint32_t pass, uint64_t pages);
int mig_parse_stream_end(const struct mig_record *r, uint32_t *pass, uint64_t *pages);
/* COMMIT_ACK: stopped_us, how long the guest was stopped as the target saw it (from STOP's
 * arrival to the guest's start here), saturated at UINT32_MAX. */
int mig_rec_commit_ack(struct mig_enc *e, uint32_t stopped_us);
int mig_parse_commit_ack(const struct mig_record *r, uint32_t *stopped_us);
int mig_rec_auth(struct mig_enc *e, uint16_t type, const uint8_t b[MIG_AUTH_BYTES]);
int mig_rec_hello(struct mig_enc *e, const struct mig_hello *h);
int mig_rec_reason(struct mig_enc *e, uint16_t type, uint32_t code, const char *reason);
int mig_rec_round_end(struct mig_enc *e, uint32_t round, uint64_t pages);

/* Queries: an authenticated source asks instead of migrating (docs/migration-stream.md). */
#define MIG_QUERY_ARG_MAX   64
#define MIG_QUERY_DATA_MAX  4096
enum mig_query_kind {
    MIG_QUERY_CPU = 1,          /* reply data: the host's CPU policy (cpu_policy_serialize) */
    MIG_QUERY_MIGRATION = 2,    /* arg: a migration's source nonce; status: enum below */
};
enum mig_query_status {
    MIG_QSTAT_OK = 0,
    MIG_QSTAT_UNKNOWN = 1,      /* no such migration here: it never committed */
    MIG_QSTAT_RUNNING = 2,      /* it committed: the VM runs here */
    MIG_QSTAT_BUSY = 3,         /* still being received: ask again */
    MIG_QSTAT_UNSUPPORTED = 4,
};
int mig_rec_query(struct mig_enc *e, uint32_t kind, const void *arg, size_t n);
int mig_rec_query_reply(struct mig_enc *e, uint32_t kind, uint32_t status, const void *data,
                        size_t n);
int mig_parse_query(const struct mig_record *r, uint32_t *kind, const uint8_t **arg, size_t *n);
int mig_parse_query_reply(const struct mig_record *r, uint32_t *kind, uint32_t *status,
                          const uint8_t **data, size_t *n);
int mig_rec_tsc(struct mig_enc *e, uint64_t tsc, uint32_t tsc_khz);
int mig_rec_vcpu(struct mig_enc *e, uint32_t index, const struct vcpu_state *s);
/* n: 1..MIG_DEV_RECORD_MAX bytes of record. */
int mig_rec_device(struct mig_enc *e, const struct mig_dev_id *id, const void *blob, size_t n);
/* n: MIG_XSAVE_MIN..MIG_XSAVE_MAX bytes of XSAVE area. */
int mig_rec_xsave(struct mig_enc *e, uint32_t vcpu, const void *area, size_t n);

/*
 * Parsers of delivered records: 0, or -EINVAL (wrong type, bad layout or
 * values out of range); outputs are untouched on error. Pointers point into
 * the record's payload.
 */
int mig_parse_auth(const struct mig_record *r, const uint8_t **b);
int mig_parse_hello(const struct mig_record *r, struct mig_hello *h);
/* REFUSE or ERROR: reason is not NUL-terminated; printable ASCII only. */
int mig_parse_reason(const struct mig_record *r, uint32_t *code, const char **reason,
                     size_t *len);
int mig_parse_round_end(const struct mig_record *r, uint32_t *round, uint64_t *pages);
int mig_parse_tsc(const struct mig_record *r, uint64_t *tsc, uint32_t *tsc_khz);
int mig_parse_vcpu(const struct mig_record *r, uint32_t *index, struct vcpu_state *s);
int mig_parse_device(const struct mig_record *r, struct mig_dev_id *id, const uint8_t **blob,
                     size_t *n);
int mig_parse_xsave(const struct mig_record *r, uint32_t *vcpu, const uint8_t **area,
                    size_t *n);

/*
 * struct vcpu_state, field by field (docs/migration-stream.md, "vCPU state"):
 * MIG_VCPU_STATE_SIZE bytes. The getter checks the format version and that
 * enumerations and attribute bits are in range (-EINVAL); architectural
 * consistency is the backend's job when it loads the state.
 */
int mig_put_vcpu_state(struct mig_enc *e, const struct vcpu_state *s);
int mig_get_vcpu_state(struct mig_rd *r, struct vcpu_state *s);

/* ---- RAM runs ---- */

#define MIG_RAM_RUN_SIZE  16          /* gfn u64, count u32, flags u32 */
#define MIG_RAM_ZERO      0x1u        /* run flag: the pages are all zero, no data follows */
#define MIG_RAM_LZ4       0x2u        /* run flag: clen u32, then an LZ4 block of clen bytes
                                         (1 <= clen < count * 4 KiB) expanding to the pages;
                                         a record's LZ4 runs hold MIG_RAM_MAX_PAGES at most */
#define MIG_RAM_DELTA     0x4u        /* run flag: per page, dlen u16 (< 4 KiB) and a delta of
                                         dlen bytes (hv/base/delta.h) against the page as the
                                         target held it before this record; a record's LZ4
                                         and DELTA runs hold MIG_RAM_MAX_PAGES at most */

/*
 * Appends a run to the open RAM record: count pages from gfn, their data
 * (count * 4 KiB from pages) unless zero. Unlike the primitives, a run that
 * does not fit writes nothing and latches nothing (-E2BIG or -ENOSPC): end the
 * record and put the run in the next. -EINVAL for a bad run (count 0, gfn
 * range past MIG_GFN_LIMIT) or when the open record is neither RAM nor DISK.
 */
int mig_ram_run_put(struct mig_enc *e, uint64_t gfn, uint32_t count, bool zero,
                    const void *pages);

/*
 * A local disk's blocks: DISK records carry runs in the RAM layout whose "gfn" is a block
 * number (MIG_DISK_BLOCK bytes from the disk's start). mig_rec_disk_begin opens one for disk
 * instance inst; mig_ram_run_put appends runs to it. mig_parse_disk checks the header and
 * hands out the runs for mig_ram_parse.
 */
int mig_rec_disk_begin(struct mig_enc *e, uint16_t inst);
/* A RAM record of pass `pass` (the round the source is in; passes never go back on a stream):
 * mig_ram_run_put and its kin append runs to it. mig_parse_ram hands out the pass and the runs
 * for mig_ram_parse*. */
int mig_rec_ram_begin(struct mig_enc *e, uint32_t pass);
int mig_parse_ram(const struct mig_record *r, uint32_t *pass, const uint8_t **runs,
                  size_t *len);
int mig_parse_disk(const struct mig_record *r, uint16_t *inst, const uint8_t **runs,
                   size_t *len);

/*
 * Appends a run whose count pages (at most MIG_RAM_MAX_PAGES) the caller compressed into an
 * LZ4 block of clen bytes (1 <= clen < count * 4 KiB; compress_block's output). Fits and
 * errors as mig_ram_run_put. Only on a stream whose ACCEPT took MIG_FEAT_LZ4.
 */
int mig_ram_run_put_lz4(struct mig_enc *e, uint64_t gfn, uint32_t count, const void *block,
                        uint32_t clen);

/*
 * Appends a run of count pages (at most MIG_RAM_MAX_PAGES) sent as deltas: body is body_len
 * bytes of count entries, each dlen u16 (little-endian, < 4 KiB) and dlen bytes of
 * delta_encode's output (the page's change since the copy the target holds). Fits and
 * errors as mig_ram_run_put; -EINVAL if body does not hold exactly count entries. Only on a
 * stream whose ACCEPT took MIG_FEAT_DELTA, in RAM records.
 */
int mig_ram_run_put_delta(struct mig_enc *e, uint64_t gfn, uint32_t count, const void *body,
                          uint32_t body_len);

/* data is NULL for zero runs; return non-zero to stop (mig_ram_parse returns it). */
typedef int (*mig_ram_run_fn)(uint64_t gfn, uint32_t count, bool zero, const uint8_t *data,
                              void *ctx);
/*
 * Validates every run of a RAM payload first (count >= 1, gfn + count <=
 * MIG_GFN_LIMIT, known flags, data length matching the counts exactly, zero
 * runs without data), then calls run_cb per run in order. -EINVAL if invalid
 * (no callback made). Returns 0 or the first non-zero callback result.
 */
int mig_ram_parse(const uint8_t *payload, size_t len, mig_ram_run_fn run_cb, void *ctx);
/*
 * The same on a stream that took MIG_FEAT_LZ4: LZ4 runs are valid too. The validation pass
 * expands each into scratch (MIG_RAM_MAX_PAGES * 4 KiB, the caller's), which must give
 * exactly the run's pages, and the callbacks get the expanded data. So the work a record can
 * cause stays bounded by MIG_RAM_MAX_PAGES pages of expansion, and nothing is applied from
 * a record that does not expand whole.
 */
int mig_ram_parse_lz4(const uint8_t *payload, size_t len, mig_ram_run_fn run_cb, void *ctx,
                      uint8_t *scratch);

/* The target's copy of page gfn (4 KiB), or NULL if it has no such page. */
typedef const uint8_t *(*mig_ram_page_fn)(uint64_t gfn, void *ctx);
/*
 * The same with the features a stream took: LZ4 runs if lz4, DELTA runs if page is given
 * (RAM records only). The validation pass rebuilds each DELTA page in scratch from page()'s
 * copy and the delta; a delta that is malformed or names a page the target does not have
 * fails the whole record before anything is applied, and the callbacks get the rebuilt
 * pages. A record's LZ4 and DELTA pages together stay within MIG_RAM_MAX_PAGES.
 */
int mig_ram_parse_ex(const uint8_t *payload, size_t len, mig_ram_run_fn run_cb, void *ctx,
                     uint8_t *scratch, bool lz4, mig_ram_page_fn page, void *page_ctx);

#endif
