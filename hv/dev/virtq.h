/*
 * The device side of a virtio 1.x split virtqueue (virtio 1.2, 2.7): taking descriptor chains
 * the driver made available, copying to and from their buffers, returning them as used, and
 * deciding when the driver wants an interrupt (VIRTIO_F_RING_EVENT_IDX or the NO_INTERRUPT
 * flag). Everything in guest memory is hostile: each guest field is read exactly once into a
 * local before it is checked, every walk is bounded, and the first violation of the driver's
 * obligations marks the queue broken (the device model then reports it, e.g. by setting
 * DEVICE_NEEDS_RESET); a broken queue touches guest memory no more. struct virtq is plain data
 * with no host pointers, so a device can migrate it as it is; guest RAM is reached only through
 * struct virtq_mem, once per call. Not thread-safe: one caller per queue at a time.
 */
#ifndef HV_DEV_VIRTQ_H
#define HV_DEV_VIRTQ_H

#include <stdbool.h>
#include <stdint.h>

#define VIRTQ_MAX_SIZE   1024     /* largest queue size we offer */
#define VIRTQ_MAX_SEGS   260      /* most buffers one chain may have (direct + indirect) */

/* virtio 1.2, 2.7.5 and 2.7.6: descriptor flags, then the rings' flags. */
#define VIRTQ_DESC_F_NEXT          1
#define VIRTQ_DESC_F_WRITE         2
#define VIRTQ_DESC_F_INDIRECT      4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY     1

/* How the device reaches guest RAM: a host pointer to [gpa, gpa+len) when all of it is guest
 * RAM (contiguous in host memory), else NULL. write=true: the caller will write there (the
 * platform logs those pages dirty for migration). The pointer must be as aligned as gpa is
 * (modulo 16): the ring fields are accessed atomically. Never called with len 0 or with a
 * range that wraps past 2^64. */
struct virtq_mem {
    void *(*map)(void *ctx, uint64_t gpa, uint64_t len, bool write);
    void *ctx;
};

/* Why a queue broke (struct virtq.error), for the device's log. */
enum virtq_error {
    VIRTQ_ERR_NONE,
    VIRTQ_ERR_CONFIG,             /* size or ring alignment bad (virtq_check_config skipped) */
    VIRTQ_ERR_RING_MAP,           /* a ring area is not (or no longer) guest RAM */
    VIRTQ_ERR_AVAIL_IDX,          /* avail->idx moved more than size past last_avail */
    VIRTQ_ERR_HEAD,               /* a head or next index >= the table's size */
    VIRTQ_ERR_LOOP,               /* more descriptors than the table holds: a cycle */
    VIRTQ_ERR_TOO_LONG,           /* more than VIRTQ_MAX_SEGS buffers, or over 2^32 bytes */
    VIRTQ_ERR_ORDER,              /* a device-readable buffer after a device-writable one */
    VIRTQ_ERR_BUF_LEN,            /* a buffer of length 0, or addr + len past 2^64 */
    VIRTQ_ERR_BUF_MAP,            /* a buffer is not guest RAM */
    VIRTQ_ERR_INDIRECT,           /* not negotiated, nested, with NEXT, or a bad table length */
    VIRTQ_ERR_REQUEST,            /* the device's: a chain its request format cannot parse */
    VIRTQ_ERR_COUNT
};

struct virtq {                   /* what the driver configured + device progress; all plain data */
    uint16_t size;               /* power of two, 1..VIRTQ_MAX_SIZE */
    bool ready;
    bool event_idx;              /* VIRTIO_F_RING_EVENT_IDX negotiated */
    bool indirect;               /* VIRTIO_F_INDIRECT_DESC negotiated */
    uint64_t desc, avail, used;  /* guest-physical addresses of the three areas */
    uint16_t last_avail;         /* next avail ring entry the device takes */
    uint16_t used_idx;           /* the device's used->idx (next entry it writes) */
    uint16_t signalled_used;     /* used_idx when virtq_should_notify last decided */
    bool signalled_valid;        /* signalled_used means something (false after reset) */
    bool broken;                 /* a guest error was found: nothing more is done with this queue */
    uint8_t error;               /* enum virtq_error: why broken */
};

struct virtq_seg { uint64_t gpa; uint32_t len; bool write; };
/* One chain: its device-readable buffers (out), then its device-writable ones (in). */
struct virtq_chain {
    uint16_t head;
    unsigned nseg;
    uint64_t out_bytes, in_bytes;
    struct virtq_seg seg[VIRTQ_MAX_SEGS];
};

/* Validates a configuration the driver wrote (size a power of two within bounds; areas aligned
 * as the spec requires: desc 16, avail 2, used 4; and lying in guest RAM per mem->map) and the
 * device's progress (no more than size chains in flight: last_avail - used_idx <= size, which a
 * loaded record must also satisfy): 0 or -EINVAL. Reads and writes no guest memory. */
int virtq_check_config(const struct virtq *q, const struct virtq_mem *m);

/* Takes the next available chain: 1 (c filled, last_avail advanced), 0 (nothing available),
 * -EINVAL (the driver broke the ring: bad head, index out of range, loop, too long, a readable
 * buffer after a writable one, a length-0 or overflowing buffer or one outside guest RAM,
 * indirect when not negotiated, nested indirect, indirect with NEXT, indirect table length not
 * a multiple of 16 or 0, avail idx moved by more than size past last_avail, areas not
 * mappable) -> q->broken set. A broken or not-ready queue returns -EINVAL / 0 respectively
 * without reading memory. Reads avail->idx once, with acquire semantics. Bounded: never more
 * than size descriptors in a direct chain, never more than VIRTQ_MAX_SEGS buffers in total. */
int virtq_pop(struct virtq *q, const struct virtq_mem *m, struct virtq_chain *c);

/* Returns a chain as used with len bytes written: writes the used element then (release)
 * used->idx. 0, or -EINVAL: broken or unmappable (-> broken), or a device bug (not ready, head
 * >= size, nothing in flight; the queue is left as it was). */
int virtq_push(struct virtq *q, const struct virtq_mem *m, uint16_t head, uint32_t len);

/* After pushes: must the device interrupt the driver? False when nothing was pushed since the
 * last decision. Honours VIRTQ_AVAIL_F_NO_INTERRUPT without event_idx, and used_event
 * (avail->ring[size]) with event_idx, using the spec's vring_need_event arithmetic on
 * signalled_used..used_idx; updates signalled_used. If event_idx, also publishes avail_event
 * (used->ring[size]) = last_avail before deciding. False for a broken or not-ready queue. */
bool virtq_should_notify(struct virtq *q, const struct virtq_mem *m);

/* With event_idx: writes avail_event = last_avail (so the driver kicks again for new buffers),
 * then a full barrier: pop once more after it before waiting for a kick, or a chain made
 * available just before the write goes unnoticed. A no-op without event_idx. */
void virtq_set_avail_event(struct virtq *q, const struct virtq_mem *m);

/* Copies between a chain's buffers and host memory: read = driver-readable bytes starting at
 * byte offset off of the readable part; write = into the writable part at offset off. Return
 * bytes copied (short if the chain is shorter), or -EINVAL if the queue is broken or a segment
 * is not mappable (then q is marked broken). */
long virtq_read(struct virtq *q, const struct virtq_mem *m, const struct virtq_chain *c,
                uint64_t off, void *dst, uint64_t len);
long virtq_write(struct virtq *q, const struct virtq_mem *m, const struct virtq_chain *c,
                 uint64_t off, const void *src, uint64_t len);

/* A short phrase for enum virtq_error (any value). */
const char *virtq_strerror(unsigned error);

#endif
