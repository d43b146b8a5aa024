/*
 * What lies below the migration source (hv/mig/mig_src.c), the front end (hv/mig/mig.c) and the
 * query client (hv/mig/mig_query.c) for tests/fuzz/fuzz_mig_src.c: one VM whose RAM and disk
 * are host memory, dirty logging and a disk write log the test fills itself, at most one
 * device, and a transport whose connections the test plays the other end of: it decides when
 * a connection comes up, what arrives, what is acknowledged and when it closes. The engine's
 * misuse of what it was given (a connection it closed or that closed, a VM it destroyed, a
 * pause or resume of a VM not in the state for it, dirty logging left on at destroy) aborts.
 */
#ifndef FAKE_MIG_SRC_H
#define FAKE_MIG_SRC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/vm/vm.h"
#include "net/mig_transport.h"

/* One connection: the engine's end. The test plays the peer through the calls below. */
struct mig_conn {
    const struct mig_conn_ops *ops;
    void *ctx;
    uint32_t addr;
    uint16_t port;
    unsigned id;                /* creation order in this run, from 0 */
    bool up;                    /* connected() was delivered: writes are taken */
    bool dead;                  /* closed by the engine or the peer: the engine may not use it */
    size_t unacked, window;     /* written and not yet acknowledged; the most there may be */
    size_t acked;               /* acknowledged so far */
    uint8_t *out;               /* what the engine wrote that the test has not consumed yet */
    size_t out_len, out_cap;
    size_t written;             /* everything the engine wrote */
};

#define FAKE_CONNS_MAX 64
extern struct mig_conn *fake_conns[FAKE_CONNS_MAX];    /* this run's, in creation order */
extern unsigned fake_nconns;
extern bool fake_connect_fails;         /* mig_conn_connect returns NULL */
extern size_t fake_window;              /* window of the connections made from now on */

void fake_conn_connected(struct mig_conn *c);
void fake_conn_recv(struct mig_conn *c, const void *p, size_t n);
void fake_conn_drop(struct mig_conn *c, int err);      /* the peer closes (err 0) or it broke */
void fake_conn_ack(struct mig_conn *c, size_t n);      /* the peer acknowledged n bytes */
void fake_conn_consume(struct mig_conn *c, size_t n);  /* the test read n bytes of out */
/* Ends the run's connections: false if the engine left one open (it is closed then). */
bool fake_conns_reset(void);

/* The VM (set up by the test) and what was done to it. */
extern struct vm fake_vm;
extern uint8_t *fake_ram;               /* [0, low_end), then [4 GiB, gfn_end << 12) */
extern uint64_t *fake_dirty;            /* pages written while logging, gfn_end bits */
extern uint64_t *fake_disk_log;         /* what vm_disk_log gave (NULL: not logging) */
extern unsigned fake_pauses, fake_resumes, fake_destroys;
extern bool fake_pause_fails, fake_save_fails, fake_dirty_fails, fake_disk_log_fails;
extern bool fake_dev_busy;              /* dev_set_busy: requests still out */
extern struct device fake_device;       /* the device a VM may have */

/* What net_service() does (mig_query waits in it); NULL: nothing. */
extern void (*fake_net_service)(void);

#endif
