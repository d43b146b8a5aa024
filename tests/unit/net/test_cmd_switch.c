/*
 * Host tests for the `switch` console command end to end: hv/console/cmd_net.c's parsing and
 * the exact lines it prints, over the real hv/mgmt/mgmt_net.c and net/vswitch.c, with a fake
 * NIC (vsw_fake_nic.c, named eth0) under the real netdev glue and lwIP. Guest ports are added
 * straight through net/vswitch.h, as hv/mgmt/mgmt_nic.c does for a VM's NIC.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv/base/cmdline.h"
#include "hv/console/commands.h"
#include "hv/mgmt/mgmt.h"
#include "hv/mgmt/mgmt_host.h"
#include "net/netdev.h"
#include "net/vswitch.h"
#include "fake_env.h"
#include "support.h"
#include "vsw_fake_nic.h"

int cmd_switch(struct con *c, int argc, char **argv);

static const uint8_t host_mac[6] = { 0x52, 0x54, 0x00, 0x00, 0x00, 0x01 };

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
    return !strcmp(argv[0], "net") ? cmd_net(&con, argc, argv) : cmd_switch(&con, argc, argv);
}

static void run_ok(const char *line, const char *want)
{
    int rc = run(line);
    if (rc)
        fail_msg("'%s' failed (%d): %s", line, rc, out);
    assert_string_equal(out, want);
}

static void run_err(const char *line, int rc, const char *want)
{
    assert_int_equal(run(line), rc);
    assert_string_equal(out, want);
}

/* ---- what cmd_net.c reaches besides mgmt_net.c ---------------------------------------- */
static const struct con_cmd cmds[] = {
    { .name = "switch", .usage = "create NAME [uplink=IF|none] | list [NAME] | destroy NAME" },
    { .name = "net", .usage = "NET-USAGE" },
};

const struct con_cmd *cmd_find(const char *name)
{
    for (unsigned i = 0; i < 2; i++)
        if (!strcmp(cmds[i].name, name))
            return &cmds[i];
    fail_msg("cmd_find(%s)", name);
    return NULL;
}

unsigned mgmt_pci_count(void) { return 0; }
const char *mgmt_pci_method(void) { return "none"; }
void mgmt_pci_get(unsigned i, struct mgmt_pci_fn *o) { (void)i, (void)o; }
int mgmt_ip4_parse(const char *s, uint32_t *addr_be) { (void)s, (void)addr_be; return -EINVAL; }

/* ---- guest ports ---------------------------------------------------------------------- */
static unsigned delivered;
static void count(void *ctx, const void *frame, size_t len)
{
    (void)ctx, (void)frame, (void)len;
    delivered++;
}

static struct vsw_port *guest(const char *sw, const char *label)
{
    struct vsw_port *p;
    char err[96];
    assert_int_equal(vsw_port_add(sw, label, count, NULL, &p, err, sizeof(err)), 0);
    return p;
}

/* ---- fixtures ------------------------------------------------------------------------- */
static int group_setup(void **state)
{
    (void)state;
    fnic_init(host_mac);
    net_init();
    netdev_attach_all();
    assert_int_equal(netdev_configure(netdev_get(0), "10.0.0.1/24", NULL), 0);
    net_service();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    struct vsw_info o;
    char err[96];
    for (unsigned i = 0; i < VSW_MAX; i++)
        if (vsw_info_get(i, &o))
            assert_int_equal(vsw_destroy(o.name, err, sizeof(err)), 0);
    return 0;
}

/* ---- tests ------------------------------------------------------------------------------ */
static void test_create_list_destroy(void **state)
{
    (void)state;
    run_ok("switch list", "no switches\n");
    run_ok("switch create lan uplink=eth0", "switch lan: ok\n");
    run_ok("switch create dmz", "switch dmz: ok\n");
    run_ok("switch create lab uplink=none", "switch lab: ok\n");
    run_ok("switch list",
           "lan: uplink eth0 ports 2 macs 1 queued 0/256 flooded 0 filtered 0 moves 0 "
           "evicted 0 aged 0 stale 0\n"
           "  port eth0 kind uplink macs 0 rx 0 frames 0 bytes tx 0 frames 0 bytes drops 0\n"
           "  port host kind host macs 1 rx 0 frames 0 bytes tx 0 frames 0 bytes drops 0\n"
           "  mac 52:54:00:00:00:01 port host fixed\n"
           "dmz: uplink none ports 0 macs 0 queued 0/256 flooded 0 filtered 0 moves 0 "
           "evicted 0 aged 0 stale 0\n"
           "lab: uplink none ports 0 macs 0 queued 0/256 flooded 0 filtered 0 moves 0 "
           "evicted 0 aged 0 stale 0\n");
    run_ok("switch list dmz",
           "dmz: uplink none ports 0 macs 0 queued 0/256 flooded 0 filtered 0 moves 0 "
           "evicted 0 aged 0 stale 0\n");
    run_ok("switch destroy dmz", "switch dmz: ok\n");
    run_ok("switch destroy lab", "switch lab: ok\n");
    run_ok("switch destroy lan", "switch lan: ok\n");
    run_ok("switch list", "no switches\n");
}

/* Counters and the MAC table after a guest's broadcast went to the wire and the host. */
static void test_list_with_traffic(void **state)
{
    (void)state;
    uint8_t f[60] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x07, 0x88, 0xb5 };
    run_ok("switch create lan uplink=eth0", "switch lan: ok\n");
    struct vsw_port *p = guest("lan", "web.0");
    assert_int_equal(vsw_port_send(p, f, sizeof(f)), 0);
    run_ok("switch list lan",
           "lan: uplink eth0 ports 3 macs 1 queued 1/256 flooded 0 filtered 0 moves 0 "
           "evicted 0 aged 0 stale 0\n"
           "  port eth0 kind uplink macs 0 rx 0 frames 0 bytes tx 0 frames 0 bytes drops 0\n"
           "  port host kind host macs 1 rx 0 frames 0 bytes tx 0 frames 0 bytes drops 0\n"
           "  port web.0 kind guest macs 0 rx 1 frames 60 bytes tx 0 frames 0 bytes drops 0\n"
           "  mac 52:54:00:00:00:01 port host fixed\n");
    fnic.ntx = 0;
    net_service();
    assert_int_equal(fnic.ntx, 1);
    fake_now_ns += 5 * 1000000000ull;
    run_ok("switch list lan",
           "lan: uplink eth0 ports 3 macs 2 queued 0/256 flooded 1 filtered 0 moves 0 "
           "evicted 0 aged 0 stale 0\n"
           "  port eth0 kind uplink macs 0 rx 0 frames 0 bytes tx 1 frames 60 bytes drops 0\n"
           "  port host kind host macs 1 rx 0 frames 0 bytes tx 1 frames 60 bytes drops 0\n"
           "  port web.0 kind guest macs 1 rx 1 frames 60 bytes tx 0 frames 0 bytes drops 0\n"
           "  mac 52:54:00:00:00:01 port host fixed\n"
           "  mac 02:00:00:00:00:07 port web.0 idle 5s\n");
    /* `net` says which switch holds the interface. */
    assert_int_equal(run("net"), 0);
    assert_non_null(strstr(out, "\n  uplink of switch lan (promiscuous)\n"));
    run_err("switch destroy lan", -EBUSY,
            "error: switch lan has 1 guest port attached (web.0)\n");
    vsw_port_remove(p);
    run_ok("switch destroy lan", "switch lan: ok\n");
    assert_int_equal(run("net"), 0);
    assert_null(strstr(out, "uplink of switch"));
}

static void test_errors(void **state)
{
    (void)state;
    char line[64];
    run_ok("switch create lan uplink=eth0", "switch lan: ok\n");
    run_err("switch create lan", -EEXIST, "error: a switch named lan exists\n");
    run_err("switch create 0123456789abcdef", -EINVAL,
            "error: bad switch name '0123456789abcdef' (1-15 letters, digits, '-' or '_')\n");
    run_err("switch create a.b", -EINVAL,
            "error: bad switch name 'a.b' (1-15 letters, digits, '-' or '_')\n");
    run_err("switch create wan uplink=eth7", -ENODEV,
            "error: no network interface 'eth7' (see net)\n");
    run_err("switch create wan uplink=eth0", -EBUSY,
            "error: eth0 is already the uplink of switch lan\n");
    run_err("switch create wan mtu=9000", -EINVAL,
            "error: bad option 'mtu=9000' (uplink=IF or uplink=none)\n");
    run_err("switch create wan uplink=", -EINVAL,
            "error: uplink= needs an interface (see net), or none\n");
    for (unsigned i = 1; i < VSW_MAX; i++) {
        snprintf(line, sizeof(line), "switch create s%u", i);
        assert_int_equal(run(line), 0);
    }
    run_err("switch create s9", -ENOSPC, "error: there are 8 switches already (the most)\n");
    run_err("switch destroy nope", -ENOENT, "error: no switch named 'nope'\n");
    run_err("switch list nope", -ENOENT, "error: no switch named 'nope'\n");
    static const char usage[] =
        "usage: switch create NAME [uplink=IF|none] | list [NAME] | destroy NAME\n";
    run_err("switch", -EINVAL, usage);
    run_err("switch frob", -EINVAL, usage);
    run_err("switch create", -EINVAL, usage);
    run_err("switch destroy", -EINVAL, usage);
    run_err("switch list a b", -EINVAL, usage);
    run_err("switch create a uplink=eth0 extra", -EINVAL, usage);
}

#define T(f) cmocka_unit_test_teardown(f, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_create_list_destroy),
        T(test_list_with_traffic),
        T(test_errors),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
