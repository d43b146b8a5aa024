/*
 * NBD client: a guest disk on network storage (disk=nbd://ADDR[:PORT]/EXPORT). One client per
 * disk, one lwIP raw TCP connection each, running the protocol engine of net/nbd_proto.h on
 * the control CPU. nbd_submit may be called on any CPU: it only queues the request under the
 * client's spinlock. nbd_poll, from the control loop, does everything else: it connects,
 * handshakes, sends queued requests (up to NBD_PROTO_INFLIGHT in flight), hands read data and
 * completions to the caller's callbacks, and keeps time.
 *
 * Failures: a request without a reply for NBD_REQ_TIMEOUT_MS, a broken protocol, a reset or a
 * server that shuts down (NBD_ESHUTDOWN: the client disconnects softly) drop the connection;
 * the client reconnects with a growing backoff (NBD_BACKOFF_MIN_MS .. NBD_BACKOFF_MAX_MS) and
 * sends every request not yet answered again, in submission order. So a request is answered
 * exactly once: done() runs once per submit. A request not answered within NBD_DEADLINE_MS of
 * its submission fails with -EIO and is not sent again (a server that answers it later is
 * ignored). A server's own error for a request (NBD_EIO, NBD_ENOSPC...) is final and reported
 * as is. A reconnection must find the same export: same size, not newly read-only, the same
 * commands and no stricter block sizes, or it counts as a failed attempt.
 *
 * Caveat of the protocol: a request lost with its connection may still be carried out by
 * the server after the client sent it again on a new connection (and after later writes to
 * the same blocks). NBD gives the client no way to fence the old connection.
 */
#ifndef NET_NBD_H
#define NET_NBD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/nbd_proto.h"

#define NBD_PORT               10809    /* IANA */
#define NBD_CLIENTS            8
#define NBD_SLOTS              32       /* requests a client holds: queued, in flight, resent */
#define NBD_CONNECT_TIMEOUT_MS 5000     /* per connection attempt */
#define NBD_HANDSHAKE_TIMEOUT_MS 5000
#define NBD_REQ_TIMEOUT_MS     10000    /* a reply is this late: the connection is dead */
#define NBD_DEADLINE_MS        30000    /* a request is this old: it fails with -EIO */
#define NBD_BACKOFF_MIN_MS     100
#define NBD_BACKOFF_MAX_MS     3200
#define NBD_URI_MAX            (6 + 21 + 1 + NBD_NAME_MAX + 1)

struct nbd_uri {
    uint32_t addr_be;                   /* network byte order */
    uint16_t port;
    char export_name[NBD_NAME_MAX + 1];
};

/* nbd://A.B.C.D[:PORT]/EXPORT: an IPv4 dotted quad, a port 1-65535 (default NBD_PORT), an
 * export name of 1 to NBD_NAME_MAX printable ASCII characters (no space). 0 or -EINVAL with
 * the reason in why. */
int nbd_parse_uri(const char *uri, struct nbd_uri *out, char *why, size_t whylen);

/*
 * The data path, called on the control CPU from nbd_poll, with no nbd lock held. None may
 * call nbd_close. tx_data: copy bytes [off, off+n) of write cookie's data into dst: 0, or an
 * error (the request fails with it; the connection, mid-request, is dropped and the others
 * are sent again). rx_data: bytes [off, off+n) of read cookie's data, in order; after a
 * reconnection the same bytes may come again from offset 0. An error fails the request.
 * done: cookie is finished, exactly once: 0 or a negative error; its buffers are the
 * caller's again.
 */
struct nbd_client_ops {
    int (*tx_data)(void *ctx, uint64_t cookie, uint32_t off, void *dst, uint32_t n);
    int (*rx_data)(void *ctx, uint64_t cookie, uint32_t off, const void *src, uint32_t n);
    void (*done)(void *ctx, uint64_t cookie, int status);
};

struct nbd_client;

/*
 * Connects and handshakes, waiting (net_service and nbd_poll meanwhile) up to the connect and
 * handshake timeouts; control CPU only. 0 with *out a ready client, or an error with the
 * reason in why: -EINVAL (URI, or an export whose minimum block is above 512 bytes: ferry's
 * disks have 512-byte sectors), -ENOSPC (NBD_CLIENTS in use), -ECONNREFUSED, -ETIMEDOUT,
 * -ENOENT (no such export), -EPROTO.
 */
int nbd_open(const char *uri, const struct nbd_client_ops *ops, void *ctx,
             struct nbd_client **out, char *why, size_t whylen);

/* What the first handshake agreed on (fixed for the client's life). */
const struct nbd_export *nbd_export_of(const struct nbd_client *c);

/*
 * Queues a request; any CPU. 0 (done() will follow), -EINVAL (nbd_proto_check refuses it
 * against the export), -EAGAIN (NBD_SLOTS requests held), -ENODEV (closing).
 */
int nbd_submit(struct nbd_client *c, enum nbd_cmd cmd, uint64_t off, uint32_t len, bool fua,
               uint64_t cookie);

/* Drives every client; the control loop calls it on every pass. */
void nbd_poll(void);

/* Disconnects (softly when it can) and frees the client; control CPU. The caller has no
 * request outstanding: any left is dropped without a done(). */
void nbd_close(struct nbd_client *c);

struct nbd_stats {
    uint64_t reads, writes, flushes, trims;     /* requests done, by type */
    uint64_t bytes_read, bytes_written;
    uint64_t errors;                            /* requests done with an error */
    uint64_t timeouts;                          /* connections dropped for a late reply */
    uint64_t disconnects;                       /* connections lost after the handshake */
    uint64_t reconnects;                        /* handshakes after the first */
    uint64_t resent;                            /* requests sent again */
    unsigned held;                              /* requests queued or in flight now */
};
void nbd_get_stats(const struct nbd_client *c, struct nbd_stats *out);
const char *nbd_state(const struct nbd_client *c);   /* "ready", "reconnecting", ... */
/* One line for `vm devices`: URI, state, size, flags, counters, the last error. */
int nbd_describe(const struct nbd_client *c, char *buf, size_t n);

#endif
