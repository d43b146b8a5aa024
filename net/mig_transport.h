/*
 * The migration transport: lwIP raw TCP connections, encrypted and authenticated with TLS
 * (net/mig_tls.h) unless migrate_tls=off, that hand received bytes to the migration engine
 * (hv/mig/mig.c) and take its output as the send window allows. No threads: everything runs
 * in the control loop. A client hears `connected` once the TLS handshake is done; a failed
 * handshake is logged with the peer and ends in closed(ctx, -EACCES) (refused: the keys
 * differ) or closed(ctx, -EPROTO) (not ferry's TLS).
 */
#ifndef NET_MIG_TRANSPORT_H
#define NET_MIG_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIG_PORT 7700

struct mig_conn;

/* Connections at once, both ways: outgoing, the migration engine's MIGRATE_SLOTS migrations
 * of up to MIG_STREAMS_MAX streams and a QUERY each; incoming, its MIG_DST_CONNS (the engine
 * checks that they fit). */
#define MIG_CONNS_MAX 68

struct mig_conn_ops {
    void (*recv)(void *ctx, const uint8_t *data, size_t n);
    void (*closed)(void *ctx, int err);          /* peer closed (0) or connection lost (<0) */
    void (*connected)(void *ctx);
    /* Optional: the peer acknowledged data, so mig_conn_write() may take more now. Called
     * from lwIP's receive path: it may write and close, but must not wait or tear down what
     * the network layer is using (switches, NICs). */
    void (*writable)(void *ctx);
};

/* Outgoing connection; NULL if out of pcbs. ops are called with ctx. */
struct mig_conn *mig_conn_connect(uint32_t addr_be, uint16_t port, const struct mig_conn_ops *ops,
                                  void *ctx);
/* Incoming: accept(lctx) returns the ctx (and ops) for a new connection, or NULL to refuse. */
typedef void *(*mig_accept_fn)(struct mig_conn *c, const struct mig_conn_ops **ops);
int mig_listen(uint16_t port, mig_accept_fn accept);
/* Queues up to n bytes (copied); returns how many were taken. */
size_t mig_conn_write(struct mig_conn *c, const void *data, size_t n);
/* The peer's IPv4 address (network order; 0 once the connection is gone). */
uint32_t mig_conn_peer(const struct mig_conn *c);
/* The host name the peer authenticated as over TLS (incoming connections; NULL otherwise). */
const char *mig_conn_peer_name(const struct mig_conn *c);
/* Whether the connection runs over TLS (net/mig_tls.h) and its handshake is done. */
bool mig_conn_encrypted(const struct mig_conn *c);
/* What a closed(ctx, err) err means, for the operator. */
const char *mig_conn_strerror(int err);
/* Bytes received from the peer so far (on the wire, TLS records included). */
size_t mig_conn_received(const struct mig_conn *c);
/* Bytes queued but not yet acknowledged by the peer. */
size_t mig_conn_unacked(const struct mig_conn *c);
/* Bytes the peer acknowledged so far (on the wire, TLS records included). */
size_t mig_conn_acked(const struct mig_conn *c);
void mig_conn_close(struct mig_conn *c);

#endif
