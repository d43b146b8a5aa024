/*
 * Between the two halves of the migration source's fuzz target: tests/fuzz/fuzz_mig_src.c (the
 * input's operations, the VM, the checks at the end) and tests/fuzz/fuzz_mig_peer.c (the other
 * end of each connection: the target, or the host mig_query asks). What the peer learns on the
 * way (what it told the source, what the source sent) is kept in `run` and `qs` for the checks.
 */
#ifndef FUZZ_MIG_SRC_H
#define FUZZ_MIG_SRC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "hv/mig/mig_auth.h"
#include "hv/mig/mig_stream.h"
#include "tests/unit/mig/fake_mig_src.h"

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "CHECK failed line %d: %s\n", __LINE__, #c); \
                                   abort(); } } while (0)
#define KEY "ferry-fuzz-cluster-key-0001"
#define LOW_PAGES 512                   /* 2 MiB below the hole */
#define HIGH_PAGES 256                  /* with a hole: 1 MiB from 4 GiB */
#define DISK_BLOCKS 512                 /* 2 MiB: more than a disk round converges on */
#define SEC 1000000000ull
#define MS 1000000ull

/* The input, read front to back; zeros once it is used up. */
extern const uint8_t *in;
extern size_t in_len, in_off;
static inline bool more(void) { return in_off < in_len; }
static inline uint8_t u8(void) { return more() ? in[in_off++] : 0; }

/* How the peer answers a connection's handshake. */
enum hs_mode { HS_OK, HS_BYTES, HS_BAD_MAC, HS_VERSION, HS_MAGIC, HS_REFLECT, HS_ERROR,
               HS_SILENT, HS_COUNT };

struct peer {
    uint8_t mode;               /* enum hs_mode: HS_OK and HS_BYTES (a byte per recv) are right */
    bool header;                /* the engine's stream header was read */
    bool answered, greeted;     /* the peer answered its challenge, sent its stream header */
    bool authed;                /* the source's (or querier's) answer passed our check */
    bool hello, query;          /* it sent HELLO, QUERY here */
    bool ordered;               /* the peer sent nothing out of order: what it gets must decode */
    bool lz4;                   /* the source took an ACCEPT that took LZ4 from it */
    bool delta;                 /* ... that took page deltas */
    uint32_t pass;              /* the last RAM record's pass: they never go back */
    uint16_t lane;              /* a further stream (streams=): its index, from its JOIN */
    bool ended;                 /* ... its STREAM_END came */
    uint64_t pages;             /* pages its RAM runs carried */
    struct mig_auth auth;
};
extern struct peer peers[FAKE_CONNS_MAX];      /* by connection id */

/* What happened in this run, as the peer saw it. */
struct fuzz_run {
    bool query_mode, old_stream, disk_copy;
    enum vm_state initial;                  /* the VM's before the migration */
    uint8_t nonce[MIG_AUTH_NONCE_SIZE];     /* the source's first: the migration's identity */
    bool have_nonce;
    bool allowed;       /* the source took a COMMIT_ACK or a RUNNING: it may destroy the VM */
    bool gave_back;     /* the target said it holds no VM (REFUSE, ERROR, QUERY_REPLY UNKNOWN) */
    bool commit_sent;   /* a whole COMMIT went to the transport */
    unsigned vcpus_sent, xsaves_sent, devices_sent;     /* state records before it */
    bool tsc_sent;
    unsigned resumes;
    uint64_t ram_bytes, disk_bytes;
    uint8_t *t_ram, *t_disk;                /* the target's copy of RAM (low, then high) and disk */
    /* streams=: asked for in HELLO, granted in the ACCEPT the source took, with this token;
     * the further streams that ended; COMMIT came (RAM is compared once every stream ended) */
    uint16_t streams_asked, streams;
    uint8_t token[MIG_JOIN_TOKEN];
    unsigned lanes_ended;
    bool commit_seen;
    uint8_t *disk;                          /* the VM's disk */
};
extern struct fuzz_run run;

/* Query mode: what was asked, and the first QUERY_REPLY of the host's last move. */
struct fuzz_query {
    uint32_t kind;
    uint8_t arg[MIG_QUERY_ARG_MAX];
    size_t argn;
    bool last_reply;                        /* the last move sent a whole QUERY_REPLY... */
    uint32_t kind_got, status;              /* ...saying this */
    size_t n;
    uint8_t data[MIG_QUERY_DATA_MAX];
};
extern struct fuzz_query qs;

extern unsigned deliveries;                 /* times the peer sent the engine something */

/* A new run: every connection's peer as new, with the handshake right. */
void peer_reset(void);
/* The newest connection still open, or NULL. */
struct mig_conn *newest_live(void);
/* The newest live connection that is not a further stream of a migration (streams=). */
struct mig_conn *newest_main(void);
/* Reads the whole records the engine wrote on every connection (and answers handshakes). */
void peer_read_all(void);
/* Sends the engine, on c (up), a record the input makes... */
void peer_record(struct mig_conn *c);
/* ...the first bytes of a QUERY_REPLY... */
void peer_reply_cut(struct mig_conn *c);
/* ...or raw bytes. */
void peer_raw(struct mig_conn *c, const uint8_t *p, size_t n);

#endif
