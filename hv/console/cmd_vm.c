/* `vm ...`: create, start, pause, resume, destroy, list, console, stats, dirty. */
#include <errno.h>
#include <string.h>

#include "hv/base/cmdline.h"
#include "hv/console/commands.h"
#include "hv/console/control.h"
#include "hv/mgmt/mgmt.h"
#include "hv/mgmt/mgmt_host.h"
#include "hv/mgmt/mgmt_vm.h"

static int parse_create(struct con *c, int argc, char **argv, struct mgmt_vm_create_args *a)
{
    static const char *const keys[] = { "mem", "cpus", "node", "image", "kernel", "initrd", "module",
                                        "args", "cpu", "disk", "nic" };
    unsigned nodes = mgmt_mem_nodes();

    mgmt_vm_create_defaults(a);
    if (argc < 3 || !mgmt_vm_name_valid(argv[2])) {
        con_puts(c, "error: a VM name is 1-31 letters, digits, '-' or '_'\n");
        return -EINVAL;
    }
    strcpy(a->name, argv[2]);
    for (int i = 3; i < argc; i++) {
        const char *v = NULL;
        unsigned k;
        for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
            if ((v = cmdline_opt(argv[i], keys[k])))
                break;
        if (!v || mgmt_vm_create_set(a, keys[k], v, nodes)) {
            con_printf(c, "error: bad option '%s' (mem=2-1048576 even MiB, cpus=1-%d, node=0-%u, "
                       "image=NAME|kernel=FILE [initrd=FILE|module=A,B,...], args=\"...\", cpu=BASELINE, disk=FILE, nic=SWITCH[,mac=MAC])\n",
                       argv[i], MGMT_VM_MAX_VCPUS,
                       nodes - 1);
            return -EINVAL;
        }
    }
    return 0;
}

static void cmd_list(struct con *c)
{
    static struct mgmt_vm_info vms[32];
    unsigned n = mgmt_vm_list(vms, sizeof(vms) / sizeof(vms[0]));

    con_puts(c, "name state mem vcpus node cpus\n");
    for (unsigned i = 0; i < n; i++) {
        const struct mgmt_vm_info *vm = &vms[i];
        con_printf(c, "%s %s %llu %u %s ", vm->name, vm->state, (unsigned long long)vm->mem_mib,
                   vm->nvcpus, vm->nodes);
        for (unsigned j = 0; j < vm->nvcpus; j++)
            con_printf(c, j ? ",%u" : "%u", vm->pcpus[j]);
        con_puts(c, "\n");
    }
}

static int cmd_stats(struct con *c, const char *name)
{
    static struct mgmt_vm_stats s;
    char err[MGMT_ERR_MAX];
    int rc = mgmt_vm_stats(name, &s, err, sizeof(err));

    if (rc) {
        con_printf(c, "error: %s\n", err);
        return rc;
    }
    con_printf(c, "vm %s: state %s entries %llu guest_ms %llu\n", s.name, s.state,
               (unsigned long long)s.entries, (unsigned long long)s.guest_ms);
    for (unsigned i = 0; i < s.nexits; i++)
        con_printf(c, "exits %s %llu\n", s.exits[i].reason, (unsigned long long)s.exits[i].count);
    if (s.dirty_used)
        con_printf(c, "dirty: mode=%s logging=%s\n", s.dirty_mode, s.dirty_on ? "on" : "off");
    if (s.stopped)
        con_printf(c, "stopped: %s\n", s.stop_reason);
    con_printf(c, "memory pages %llu nonzero %llu\n", (unsigned long long)s.pages,
               (unsigned long long)s.nonzero_pages);
    return 0;
}

/* `vm devices NAME`: one line per device, in the machine's order. */
static int cmd_devices(struct con *c, const char *name)
{
    static struct mgmt_dev_info d[MGMT_DEV_MAX];
    char err[MGMT_ERR_MAX];
    int n = mgmt_vm_devices(name, d, MGMT_DEV_MAX, err, sizeof(err));
    if (n < 0) {
        con_printf(c, "error: %s\n", err);
        return n;
    }
    for (int i = 0; i < n; i++) {
        con_printf(c, "%s v%u %s\n", d[i].label, d[i].version,
                   d[i].ranges[0] ? d[i].ranges : "(no ports or memory)");
        if (d[i].state[0])
            con_printf(c, "  %s\n", d[i].state);
    }
    return 0;
}

/* `vm dirty NAME start [wp|ad|pml]|verify|stop` (the oracle is hv/mgmt/mgmt_dirty.c's). */
static int cmd_dirty(struct con *c, const char *name, const char *op, const char *mode_arg)
{
    char err[MGMT_ERR_MAX];
    enum mgmt_dirty_mode mode = MGMT_DIRTY_AUTO;
    int rc = mgmt_dirty_check(name, err, sizeof(err));

    if (rc) {
        con_printf(c, "error: %s\n", err);
        return rc;
    }
    if ((strcmp(op, "start") && strcmp(op, "verify") && strcmp(op, "stop")) ||
        (mode_arg && strcmp(op, "start"))) {
        con_usage(c, cmd_find("vm"));
        return -EINVAL;
    }
    if (mode_arg && mgmt_dirty_mode_parse(mode_arg, &mode)) {
        con_printf(c, "error: bad dirty mode '%s' (wp, ad or pml)\n", mode_arg);
        return -EINVAL;
    }
    if (!strcmp(op, "stop")) {
        if (!(rc = mgmt_dirty_stop(name, err, sizeof(err))))
            con_printf(c, "vm %s: ok\n", name);
    } else if (!strcmp(op, "verify")) {
        struct mgmt_dirty_report r;
        if (!(rc = mgmt_dirty_verify(name, &r, err, sizeof(err)))) {
            con_printf(c, "dirty: vm=%s pages=%llu changed=%llu dirty=%llu missed=%llu\n", name,
                       (unsigned long long)r.pages, (unsigned long long)r.changed,
                       (unsigned long long)r.dirty, (unsigned long long)r.missed);
            return r.missed ? -EIO : 0;
        }
    } else {
        const char *used;
        if (!(rc = mgmt_dirty_start(name, mode, &used, err, sizeof(err))))
            con_printf(c, "vm %s: ok mode=%s\n", name, used);
    }
    if (rc)
        con_printf(c, "error: %s\n", err);
    return rc;
}

int cmd_vm(struct con *c, int argc, char **argv)
{
    char err[MGMT_ERR_MAX] = "";
    int rc;
    if (argc == 2 && !strcmp(argv[1], "list")) {
        cmd_list(c);
        return 0;
    }
    if (argc >= 3 && !strcmp(argv[1], "create")) {
        struct mgmt_vm_create_args a;
        if ((rc = parse_create(c, argc, argv, &a)))
            return rc;
        rc = mgmt_vm_create(&a, err, sizeof(err));
        goto out;
    }
    if ((argc == 4 || argc == 5) && !strcmp(argv[1], "dirty"))
        return cmd_dirty(c, argv[2], argv[3], argc == 5 ? argv[4] : NULL);
    if (argc != 3) {
        con_usage(c, cmd_find("vm"));
        return -EINVAL;
    }
    const char *op = argv[1], *name = argv[2];
    if (!strcmp(op, "stats"))
        return cmd_stats(c, name);
    if (!strcmp(op, "devices"))
        return cmd_devices(c, name);
    if (!strcmp(op, "console")) {
        int h = mgmt_console_open(name, err, sizeof(err));
        if (h < 0) {
            con_printf(c, "error: %s\n", err);
            return h;
        }
        con_printf(c, "attached to %s; Ctrl-] detaches\n", name);
        control_attach(h);
        return 0;
    }
    if (!strcmp(op, "start"))
        rc = mgmt_vm_start(name, err, sizeof(err));
    else if (!strcmp(op, "pause"))
        rc = mgmt_vm_pause(name, err, sizeof(err));
    else if (!strcmp(op, "resume"))
        rc = mgmt_vm_resume(name, err, sizeof(err));
    else if (!strcmp(op, "destroy"))
        rc = mgmt_vm_destroy(name, err, sizeof(err));
    else if ((rc = mgmt_vm_check(name, false, err, sizeof(err))) == 0) {
        con_usage(c, cmd_find("vm"));      /* an unknown operation on a VM that exists */
        return -EINVAL;
    }
out:
    if (rc)
        con_printf(c, "error: %s\n", err);
    else
        con_printf(c, "vm %s: ok\n", argv[2]);
    return rc;
}
