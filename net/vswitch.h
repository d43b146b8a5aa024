/*
 * Named virtual switches (net/vswitch.c): learning Ethernet switches whose ports are guest
 * NICs, and, on a switch with an uplink, the physical NIC (promiscuous) and the host's own
 * lwIP interface on it (the "host port": the host keeps its address on that interface and
 * reaches the wire and the switch's guests alike). A switch without an uplink is internal:
 * guests only, no host port. Frames never cross from one switch to another.
 *
 * Forwarding: a frame's source MAC (unicast, not zero) is learned on the port that sent it,
 * and moves at once when it shows up on another port (a migrated guest's RARP re-points the
 * old host's switch). Broadcast, multicast and unknown unicast flood to every port but the
 * source; a frame to a MAC learned on its own source port is dropped (counted as filtered).
 * The host port's MAC is a fixed entry (never ages or moves), so unknown unicast is not
 * flooded to the host. Entries age out after VSW_AGE_S without traffic from them; a full
 * table evicts its oldest entry (counted).
 *
 * Threads: guests' frames may come from any CPU (vsw_port_send, which copies them into the
 * switch's bounded queue under a leaf spinlock); everything else runs on the control CPU,
 * and vsw_poll (called from net_service) forwards the queue, reads the uplink's receive ring
 * and calls every deliver fn. Queued frames name their port by index and generation, so a
 * port removed with frames still queued is never dereferenced: they are dropped (stale).
 */
#ifndef NET_VSWITCH_H
#define NET_VSWITCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VSW_NAME_MAX   16          /* with the NUL */
#define VSW_MAX        8
#define VSW_FRAME_MAX  1522        /* 1518 plus an 802.1Q tag, no FCS; the least is 14 */
#define VSW_PORTS_MAX  16          /* per switch: guest ports, plus the uplink and host port */
#define VSW_MACS_MAX   256         /* learned MACs per switch */
#define VSW_QUEUE_LEN  256         /* frames waiting for vsw_poll, per switch */
#define VSW_AGE_S      300         /* a MAC not heard from for this long is forgotten */

struct vsw_port;

/* Delivery to a guest port: called on the control CPU from vsw_poll; the frame is valid only
 * during the call. */
typedef void (*vsw_deliver_fn)(void *ctx, const void *frame, size_t len);

bool vsw_exists(const char *name);
/*
 * Creates switch name (1-15 letters, digits, '-', '_'). uplink: NULL, "" or "none" for an
 * internal switch, else an interface name (eth0): its NIC goes promiscuous and its lwIP
 * interface becomes the host port. 0, or -EINVAL (bad name), -EEXIST, -ENOSPC (VSW_MAX
 * switches), -ENODEV (no such interface), -EBUSY (another switch's uplink), -ENOTSUP / -EIO
 * (the NIC cannot go promiscuous), -ENOMEM, with a reason in err.
 */
int vsw_create(const char *name, const char *uplink, char *err, size_t errlen);
/* 0, -ENOENT, or -EBUSY while guest ports are attached (err names them). Gives the uplink
 * back: the NIC leaves promiscuous mode and its frames go straight to lwIP again. */
int vsw_destroy(const char *name, char *err, size_t errlen);

/* A guest NIC's port on switch sw: 0 and *out, or -ENOENT (no such switch) / -ENOSPC, with a
 * reason. label: for `switch list` (e.g. "vmname.0"), cut to 31 characters. */
int vsw_port_add(const char *sw, const char *label, vsw_deliver_fn fn, void *ctx,
                 struct vsw_port **out, char *err, size_t errlen);
/* Removes the port; the switch forgets every MAC learned on it and drops its queued frames.
 * Control CPU only; p must not be used (by any CPU) once this returns. */
void vsw_port_remove(struct vsw_port *p);
/*
 * A frame a guest sent, from ANY CPU (a vCPU's exit, holding that VM's device lock): copied
 * into the switch's bounded queue, forwarded by vsw_poll. 0, or -ENOSPC when the queue is full
 * (dropped, counted), -EINVAL for a runt/oversized frame (under 14 or over VSW_FRAME_MAX
 * bytes; counted too). Never calls a deliver fn; takes only the switch's queue lock.
 */
int vsw_port_send(struct vsw_port *p, const void *frame, size_t len);
/* The control loop's step: forwards queued frames (bounded per call), reads each uplink's
 * receive ring, ages the MAC tables. Called from net_service(). */
void vsw_poll(void);

/*
 * For `switch list` and tests. Port counters are the switch's view: rx = frames the port
 * sent into the switch, tx = frames the switch handed to the port, drops = frames from the
 * port it refused (queue full, bad length) plus frames the port could not take (the uplink
 * NIC's ring full).
 */
struct vsw_port_info {
    char label[32];                /* guest label; "host"; or the uplink's interface name */
    char kind[8];                  /* "guest", "host", "uplink" */
    uint64_t rx_frames, rx_bytes, tx_frames, tx_bytes, drops;
    unsigned macs;                 /* MACs learned on the port now */
};
struct vsw_info {
    char name[VSW_NAME_MAX];
    char uplink[8];                /* "" for an internal switch */
    unsigned nports;
    unsigned nmacs;
    struct vsw_port_info port[VSW_PORTS_MAX];   /* uplink first, then host, then guests */
    unsigned queued;               /* frames waiting now, of VSW_QUEUE_LEN */
    uint64_t flooded;              /* frames sent to every port but the source */
    uint64_t filtered;             /* frames to a MAC on their own source port: dropped */
    uint64_t moves;                /* MACs that moved to another port */
    uint64_t evicted;              /* MACs forgotten to make room (table full) */
    uint64_t aged;                 /* MACs forgotten after VSW_AGE_S of silence */
    uint64_t stale;                /* queued frames of a port removed before they went */
};
/* Switch in slot i (< VSW_MAX): true and *out, or false for an empty slot. */
bool vsw_info_get(unsigned i, struct vsw_info *out);
int vsw_info_find(const char *name, struct vsw_info *out);     /* 0 or -ENOENT */

struct vsw_mac_info {
    uint8_t mac[6];
    bool fixed;                    /* the host port's own MAC */
    char port[32];                 /* the port's label */
    uint64_t idle_ms;              /* since a frame last came from it */
};
/* The i-th entry of switch sw's MAC table: 0, -ENOENT (no switch) or -ERANGE (past the end). */
int vsw_mac_get(const char *sw, unsigned i, struct vsw_mac_info *out);
/* The switch whose uplink interface ifname is: true and its name, or false. */
bool vsw_uplink_of(const char *ifname, char name[VSW_NAME_MAX]);

#endif
