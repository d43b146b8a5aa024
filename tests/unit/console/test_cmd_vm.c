/*
 * Host tests for hv/console/cmd_vm.c over a fake hv/mgmt/: the exact lines `vm ...` prints for
 * the data mgmt returns, and that argument errors come in the order they always did (a missing
 * VM before a bad operation, a bad option named with the host's node range).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv/base/cmdline.h"
#include "hv/console/commands.h"
#include "hv/console/control.h"
#include "hv/mgmt/mgmt.h"
#include "hv/mgmt/mgmt_host.h"
#include "hv/mgmt/mgmt_vm.h"
#include "support.h"

static char out[8192];
static size_t out_len;

static void sink(void *ctx, const char *s, size_t n)
{
    (void)ctx;
    assert_true(out_len + n < sizeof(out));
    memcpy(out + out_len, s, n);
    out_len += n;
    out[out_len] = 0;
}

static struct con con = { .write = sink };

static int run(const char *line)
{
    char buf[CON_LINE_MAX], *argv[CMDLINE_MAX_ARGS];
    out_len = 0;
    out[0] = 0;
    snprintf(buf, sizeof(buf), "%s", line);
    int argc = cmdline_split(buf, argv, CMDLINE_MAX_ARGS);
    assert_true(argc > 0);
    return cmd_vm(&con, argc, argv);
}

/* ---- fakes: the command table, the control loop, hv/mgmt/ (but for mgmt_args.c) ---- */

/* lwIP's ip4addr_aton (in mgmt_args.c) asserts through the port, not linked here. */
void net_assert_fail(const char *msg, const char *file, int line) __attribute__((noreturn));
void net_assert_fail(const char *msg, const char *file, int line)
{
    fail_msg("lwIP assertion %s at %s:%d", msg, file, line);
    abort();
}

static const struct con_cmd vm_cmd = { .name = "vm", .usage = "USAGE" };
const struct con_cmd *cmd_find(const char *name)
{
    assert_string_equal(name, "vm");
    return &vm_cmd;
}

static int attached = -1;
void control_attach(int h)
{
    attached = h;
}

static const struct mgmt_vm_info fake_vms[] = {
    { .name = "web", .state = "running", .mem_mib = 64, .nvcpus = 2, .nodes = "0",
      .pcpus = { 1, 2 } },
    { .name = "db", .state = "paused", .mem_mib = 128, .nvcpus = 1, .nodes = "1+0",
      .pcpus = { 3 } },
};
static const char *migrating;           /* a VM the fake says is migrating out */
static struct mgmt_vm_create_args created;
static int ops;                         /* state changes mgmt was asked for */

unsigned mgmt_mem_nodes(void)
{
    return 2;
}

static int lookup(const char *name, bool busy_ok, char *err, size_t errlen)
{
    for (unsigned i = 0; i < 2; i++)
        if (!strcmp(name, fake_vms[i].name)) {
            if (!busy_ok && migrating && !strcmp(name, migrating)) {
                snprintf(err, errlen, "vm %s is migrating out (migrate cancel it first)", name);
                return -EBUSY;
            }
            return (int)i;
        }
    snprintf(err, errlen, "no VM named '%s'", name);
    return -ENOENT;
}

unsigned mgmt_vm_list(struct mgmt_vm_info *o, unsigned max)
{
    assert_true(max >= 2);
    memcpy(o, fake_vms, sizeof(fake_vms));
    return 2;
}

int mgmt_vm_check(const char *name, bool busy_ok, char *err, size_t errlen)
{
    int rc = lookup(name, busy_ok, err, errlen);
    return rc < 0 ? rc : 0;
}

int mgmt_vm_create(const struct mgmt_vm_create_args *a, char *err, size_t errlen)
{
    created = *a;
    if (!strcmp(a->name, "web")) {
        snprintf(err, errlen, "a VM named '%s' exists", a->name);
        return -EEXIST;
    }
    return 0;
}

static int op(const char *name, char *err, size_t errlen)
{
    int rc = lookup(name, false, err, errlen);
    if (rc < 0)
        return rc;
    ops++;
    return 0;
}

int mgmt_vm_start(const char *name, char *err, size_t errlen) { return op(name, err, errlen); }
int mgmt_vm_pause(const char *name, char *err, size_t errlen) { return op(name, err, errlen); }
int mgmt_vm_resume(const char *name, char *err, size_t errlen) { return op(name, err, errlen); }
int mgmt_vm_destroy(const char *name, char *err, size_t errlen) { return op(name, err, errlen); }

int mgmt_vm_devices(const char *name, struct mgmt_dev_info *d, unsigned max, char *err,
                    size_t errlen)
{
    int rc = lookup(name, true, err, errlen);
    if (rc < 0)
        return rc;
    assert_true(max >= 2);
    strcpy(d[0].label, "uart16550#0");
    d[0].version = 1;
    strcpy(d[0].ranges, "io 0x3f8-0x3ff");
    strcpy(d[1].label, "testdev#1");
    d[1].version = 3;
    strcpy(d[1].ranges, "io 0x510-0x513, mmio 0xfed00000-0xfed0003f");
    return 2;
}

int mgmt_vm_stats(const char *name, struct mgmt_vm_stats *s, char *err, size_t errlen)
{
    int rc = lookup(name, true, err, errlen);
    if (rc < 0)
        return rc;
    memset(s, 0, sizeof(*s));
    strcpy(s->name, name);
    s->state = "stopped";
    s->entries = 1234;
    s->guest_ms = 56;
    s->nexits = 2;
    s->exits[0].reason = "io";
    s->exits[0].count = 1000;
    s->exits[1].reason = "hlt";
    s->exits[1].count = 7;
    s->dirty_used = true;
    s->dirty_mode = "ad";
    s->stopped = true;
    strcpy(s->stop_reason, "triple fault");
    s->pages = 16384;
    s->nonzero_pages = 321;
    return 0;
}

int mgmt_dirty_check(const char *name, char *err, size_t errlen)
{
    int rc = lookup(name, true, err, errlen);
    if (rc >= 0 && migrating && !strcmp(name, migrating)) {
        snprintf(err, errlen, "vm %s is migrating; its dirty log belongs to the migration", name);
        return -EBUSY;
    }
    return rc < 0 ? rc : 0;
}

int mgmt_dirty_start(const char *name, enum mgmt_dirty_mode mode, const char **used, char *err,
                     size_t errlen)
{
    (void)name;
    if (mode == MGMT_DIRTY_WP) {
        snprintf(err, errlen, "dirty mode 'wp' is not available on this CPU (offered: ad)");
        return -ENOTSUP;
    }
    *used = "pml";
    return 0;
}

int mgmt_dirty_stop(const char *name, char *err, size_t errlen)
{
    (void)name, (void)err, (void)errlen;
    return 0;
}

int mgmt_dirty_verify(const char *name, struct mgmt_dirty_report *r, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    *r = (struct mgmt_dirty_report){ .pages = 16384, .changed = 10, .dirty = 12,
                                     .missed = !strcmp(name, "db") };
    return 0;
}

int mgmt_console_open(const char *name, char *err, size_t errlen)
{
    return lookup(name, true, err, errlen);
}

/* ---- tests ---- */

static void test_list(void **state)
{
    (void)state;
    assert_int_equal(run("vm list"), 0);
    assert_string_equal(out, "name state mem vcpus node cpus\n"
                             "web running 64 2 0 1,2\n"
                             "db paused 128 1 1+0 3\n");
}

static void test_stats(void **state)
{
    (void)state;
    assert_int_equal(run("vm stats db"), 0);
    assert_string_equal(out, "vm db: state stopped entries 1234 guest_ms 56\n"
                             "exits io 1000\n"
                             "exits hlt 7\n"
                             "dirty: mode=ad logging=off\n"
                             "stopped: triple fault\n"
                             "memory pages 16384 nonzero 321\n");
    assert_int_equal(run("vm stats nope"), -ENOENT);
    assert_string_equal(out, "error: no VM named 'nope'\n");
}

static void test_devices(void **state)
{
    (void)state;
    assert_int_equal(run("vm devices db"), 0);
    assert_string_equal(out, "uart16550#0 v1 io 0x3f8-0x3ff\n"
                             "testdev#1 v3 io 0x510-0x513, mmio 0xfed00000-0xfed0003f\n");
    assert_int_equal(run("vm devices nope"), -ENOENT);
    assert_string_equal(out, "error: no VM named 'nope'\n");
}

static void test_create(void **state)
{
    (void)state;
    assert_int_equal(run("vm create new mem=128 cpus=2 node=1 image=x.elf args=\"a b\" cpu=v2"),
                     0);
    assert_string_equal(out, "vm new: ok\n");
    assert_string_equal(created.name, "new");
    assert_int_equal(created.mem_mib, 128);
    assert_int_equal(created.cpus, 2);
    assert_int_equal(created.node, 1);
    assert_string_equal(created.image, "x.elf");
    assert_string_equal(created.args, "a b");
    assert_string_equal(created.cpu, "v2");
    assert_int_equal(run("vm create web"), -EEXIST);
    assert_string_equal(out, "error: a VM named 'web' exists\n");
    assert_int_equal(run("vm create bad.name"), -EINVAL);
    assert_string_equal(out, "error: a VM name is 1-31 letters, digits, '-' or '_'\n");
    assert_int_equal(run("vm create ok node=2"), -EINVAL);
    assert_string_equal(out, "error: bad option 'node=2' (mem=2-1048576 even MiB, cpus=1-8, "
                             "node=0-1, image=NAME|kernel=FILE [initrd=FILE|module=A,B,...], args=\"...\", "
                             "cpu=BASELINE, disk=FILE, nic=SWITCH[,mac=MAC])\n");
    assert_int_equal(run("vm create ok cpus=2 memory=3"), -EINVAL);
    assert_string_equal(out, "error: bad option 'memory=3' (mem=2-1048576 even MiB, cpus=1-8, "
                             "node=0-1, image=NAME|kernel=FILE [initrd=FILE|module=A,B,...], args=\"...\", "
                             "cpu=BASELINE, disk=FILE, nic=SWITCH[,mac=MAC])\n");
}

static void test_state_changes_and_errors(void **state)
{
    (void)state;
    ops = 0;
    assert_int_equal(run("vm pause web"), 0);
    assert_string_equal(out, "vm web: ok\n");
    assert_int_equal(ops, 1);
    assert_int_equal(run("vm start nope"), -ENOENT);
    assert_string_equal(out, "error: no VM named 'nope'\n");
    /* an unknown operation: a missing VM is reported first, then the usage */
    assert_int_equal(run("vm frob nope"), -ENOENT);
    assert_string_equal(out, "error: no VM named 'nope'\n");
    assert_int_equal(run("vm frob web"), -EINVAL);
    assert_string_equal(out, "usage: vm USAGE\n");
    assert_int_equal(run("vm start"), -EINVAL);
    assert_string_equal(out, "usage: vm USAGE\n");
    migrating = "web";
    assert_int_equal(run("vm destroy web"), -EBUSY);
    assert_string_equal(out, "error: vm web is migrating out (migrate cancel it first)\n");
    assert_int_equal(run("vm frob web"), -EBUSY);
    assert_string_equal(out, "error: vm web is migrating out (migrate cancel it first)\n");
    assert_int_equal(run("vm stats web"), 0);               /* allowed while migrating */
    migrating = NULL;
    assert_int_equal(ops, 1);
}

static void test_dirty(void **state)
{
    (void)state;
    assert_int_equal(run("vm dirty web start"), 0);
    assert_string_equal(out, "vm web: ok mode=pml\n");
    assert_int_equal(run("vm dirty web start wp"), -ENOTSUP);
    assert_string_equal(out, "error: dirty mode 'wp' is not available on this CPU (offered: ad)\n");
    assert_int_equal(run("vm dirty web start xx"), -EINVAL);
    assert_string_equal(out, "error: bad dirty mode 'xx' (wp, ad or pml)\n");
    assert_int_equal(run("vm dirty web verify wp"), -EINVAL);
    assert_string_equal(out, "usage: vm USAGE\n");
    assert_int_equal(run("vm dirty nope frob"), -ENOENT);   /* the VM before the operation */
    assert_string_equal(out, "error: no VM named 'nope'\n");
    assert_int_equal(run("vm dirty web verify"), 0);
    assert_string_equal(out, "dirty: vm=web pages=16384 changed=10 dirty=12 missed=0\n");
    assert_int_equal(run("vm dirty db verify"), -EIO);      /* a miss fails, after the line */
    assert_string_equal(out, "dirty: vm=db pages=16384 changed=10 dirty=12 missed=1\n");
    assert_int_equal(run("vm dirty web stop"), 0);
    assert_string_equal(out, "vm web: ok\n");
    migrating = "web";
    assert_int_equal(run("vm dirty web stop"), -EBUSY);
    assert_string_equal(out, "error: vm web is migrating; its dirty log belongs to the "
                             "migration\n");
    migrating = NULL;
}

static void test_console_attach(void **state)
{
    (void)state;
    attached = -1;
    assert_int_equal(run("vm console db"), 0);
    assert_string_equal(out, "attached to db; Ctrl-] detaches\n");
    assert_int_equal(attached, 1);
    attached = -1;
    assert_int_equal(run("vm console nope"), -ENOENT);
    assert_string_equal(out, "error: no VM named 'nope'\n");
    assert_int_equal(attached, -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_devices),
        cmocka_unit_test(test_create),
        cmocka_unit_test(test_state_changes_and_errors),
        cmocka_unit_test(test_dirty),
        cmocka_unit_test(test_console_attach),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
