/* `migrate VM HOST[:PORT] [downtime=MS] [bandwidth=MBIT] [throttle=PCT] [dirty=wp|ad|pml]`,
 * `migrate status`, `migrate cancel VM`, `migrate inject FAULT`. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hv/base/cmdline.h"
#include "hv/console/commands.h"
#include "hv/vm/dirty.h"
#include "hv/mig/mig_policy.h"
#include "hv/mig/mig.h"
#include "lwip/ip4_addr.h"
#include "net/mig_transport.h"

static void line_out(void *ctx, const char *line)
{
    con_printf(ctx, "%s\n", line);
}

int cmd_migrate(struct con *c, int argc, char **argv)
{
    char err[160], host[32];
    struct mig_opts o = { .port = MIG_PORT, .throttle_max = MIG_POLICY_THROTTLE_MAX };
    uint64_t v;
    ip4_addr_t a;

    if (argc == 2 && !strcmp(argv[1], "status")) {
        mig_status(line_out, c);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "inject")) {
        static const char *const names[] = { "none", "lose-ack", "lose-commit", "old-stream" };
        for (unsigned i = 0; i < 4; i++)
            if (!strcmp(argv[2], names[i])) {
                mig_dst_inject((enum mig_fault)i);
                con_printf(c, "migrate: next %s migration: %s\n",
                           i == MIGRATE_FAULT_OLD_STREAM ? "outgoing" : "incoming", names[i]);
                return 0;
            }
        con_printf(c, "error: faults: none, lose-ack, lose-commit, old-stream\n");
        return -EINVAL;
    }
    if (argc == 3 && !strcmp(argv[1], "cancel")) {
        struct vm *vm = vm_find(argv[2]);
        int rc = vm ? mig_cancel(vm) : -ENOENT;
        if (rc)
            con_printf(c, "error: no migration of '%s' %s\n", argv[2],
                       rc == -EBUSY ? "that can still be cancelled" : "under way");
        return rc;
    }
    if (argc < 3) {
        con_usage(c, cmd_find("migrate"));
        return -EINVAL;
    }
    struct vm *vm = vm_find(argv[1]);
    if (!vm) {
        con_printf(c, "error: no VM named '%s'\n", argv[1]);
        return -ENOENT;
    }
    const char *colon = strchr(argv[2], ':');
    size_t hl = colon ? (size_t)(colon - argv[2]) : strlen(argv[2]);
    if (hl >= sizeof(host) || (colon && cmdline_u64(colon + 1, 1, 65535, &v))) {
        con_printf(c, "error: bad target '%s' (ADDR or ADDR:PORT)\n", argv[2]);
        return -EINVAL;
    }
    if (colon)
        o.port = (uint16_t)v;
    memcpy(host, argv[2], hl);
    host[hl] = 0;
    if (!ip4addr_aton(host, &a)) {
        con_printf(c, "error: '%s' is not an IPv4 address\n", host);
        return -EINVAL;
    }
    for (int i = 3; i < argc; i++) {
        const char *val;
        if ((val = cmdline_opt(argv[i], "downtime")) && !cmdline_u64(val, 1, 60000, &v)) {
            o.downtime_ms = (uint32_t)v;
        } else if ((val = cmdline_opt(argv[i], "bandwidth")) &&
                   !cmdline_u64(val, 1, 100000, &v)) {
            o.bandwidth_mbps = (uint32_t)v;
        } else if ((val = cmdline_opt(argv[i], "throttle")) && !cmdline_u64(val, 0, 99, &v)) {
            o.throttle_max = (uint32_t)v;
        } else if ((val = cmdline_opt(argv[i], "dirty")) &&
                   !dirty_mode_parse(val, &o.dirty_mode) && o.dirty_mode != DIRTY_AUTO) {
            continue;
        } else {
            con_printf(c, "error: bad option '%s' (downtime=1-60000 ms, bandwidth=1-100000 "
                       "Mbit/s, throttle=0-99 %%, dirty=wp|ad|pml)\n", argv[i]);
            return -EINVAL;
        }
    }
    int rc = mig_start(vm, ip4_addr_get_u32(&a), &o, err, sizeof(err));
    if (rc)
        con_printf(c, "error: %s\n", err);
    else
        con_printf(c, "migrate: started vm=%s to %s:%u\n", vm->name, host, o.port);
    return rc;
}
