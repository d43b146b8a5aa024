/* Migration operations over hv/mig/mig.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv/base/cmdline.h"
#include "hv/mgmt/mgmt_internal.h"
#include "hv/mgmt/mgmt_mig.h"
#include "hv/mgmt/mgmt_nic.h"
#include "hv/mig/mig.h"
#include "hv/mig/mig_stream.h"

_Static_assert(MGMT_MIGRATE_MESSAGE_MAX == MIG_MESSAGE_MAX, "migration message sizes differ");
_Static_assert(MIG_COMPRESS_AUTO == 0 && MIG_COMPRESS_ON == 1 && MIG_COMPRESS_OFF == 2,
               "mgmt_migrate_args.compress holds enum mig_compress");
_Static_assert(MGMT_MIGRATE_STREAMS_MAX == MIG_STREAMS_MAX, "stream limits differ");

int mgmt_migrate_start(const char *name, uint32_t addr_be, const struct mgmt_migrate_args *a,
                       char *err, size_t errlen)
{
    struct mig_opts o = {
        .downtime_ms = a->downtime_ms, .bandwidth_mbps = a->bandwidth_mbps,
        .throttle_max = a->throttle_max, .timeout_s = a->timeout_s, .port = a->port,
        .dirty_mode = (enum dirty_mode)a->dirty,
        .storage_copy = a->storage_copy, .compress = (enum mig_compress)a->compress,
        .no_delta = a->no_delta, .streams = a->streams,
    };
    int rc;
    /* mig_start refuses a VM that is migrating already, with its own reason. */
    struct vm *vm = mgmt_vm_get(name, true, &rc, err, errlen);
    return vm ? mig_start(vm, addr_be, &o, err, errlen) : rc;
}

void mgmt_cluster_key_generate(char out[65], bool *weak)
{
    mig_key_generate(out, weak);
}

int mgmt_migrate_cancel(const char *name, char *err, size_t errlen)
{
    struct vm *vm = vm_find(name);
    int rc = vm ? mig_cancel(vm) : -ENOENT;
    if (rc)
        snprintf(err, errlen, "no migration of '%s' %s", name,
                 rc == -EBUSY ? "that can still be cancelled" : "under way");
    return rc;
}

int mgmt_migrate_set_downtime(const char *name, const char *val, char *err, size_t errlen)
{
    uint64_t ms;
    if (strncmp(val, "downtime=", 9) || cmdline_u64(val + 9, 1, 60000, &ms)) {
        snprintf(err, errlen, "bad setting '%s' (downtime=1-60000 ms)", val);
        return -EINVAL;
    }
    struct vm *vm = vm_find(name);
    int rc = vm ? mig_set_downtime(vm, (uint32_t)ms) : -ENOENT;
    if (rc)
        snprintf(err, errlen, "no outgoing migration of '%s' under way", name);
    return rc;
}

int mgmt_migrate_inject(const char *fault, const char *secs, bool *outgoing)
{
    static const char *const names[] = {
        [MIGRATE_FAULT_NONE] = "none", [MIGRATE_FAULT_LOSE_ACK] = "lose-ack",
        [MIGRATE_FAULT_LOSE_COMMIT] = "lose-commit", [MIGRATE_FAULT_OLD_STREAM] = "old-stream",
        [MIGRATE_FAULT_HOLD_FINAL] = "hold-final", [MIGRATE_FAULT_HOLD_COMMIT] = "hold-commit",
        [MIGRATE_FAULT_HOLD_ACCEPT] = "hold-accept",
    };
    for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(fault, names[i]))
            continue;
        bool hold = i == MIGRATE_FAULT_HOLD_FINAL || i == MIGRATE_FAULT_HOLD_COMMIT ||
                    i == MIGRATE_FAULT_HOLD_ACCEPT;
        uint64_t s = 10;
        if (secs && (!hold || cmdline_u64(secs, 1, MIG_HOLD_MAX_S, &s)))
            return -EINVAL;
        mig_inject((enum mig_fault)i, (unsigned)s);
        *outgoing = i == MIGRATE_FAULT_OLD_STREAM || i == MIGRATE_FAULT_HOLD_FINAL;
        return 0;
    }
    return -EINVAL;
}

void mgmt_migrate_status(void (*out)(void *ctx, const char *line), void *ctx)
{
    mig_status(out, ctx);
}

void mgmt_migrate_poll(void)
{
    mig_poll();
    mgmt_nic_poll();                    /* moved NICs re-announce themselves */
}

bool mgmt_migrate_message(char *buf, size_t n)
{
    return mig_message(buf, n);
}

void mgmt_migrate_progress(char *buf, size_t n)
{
    mig_progress(buf, n);
}
