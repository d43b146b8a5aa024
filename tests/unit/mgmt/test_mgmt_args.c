/*
 * Host tests for hv/mgmt/mgmt_args.c: the rules every management interface applies to what it
 * is asked (VM names and create options, migration options and targets, dirty modes,
 * addresses), and the reason strings the console prints after "error: ".
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hv/mgmt/mgmt.h"
#include "hv/mgmt/mgmt_mig.h"
#include "hv/mgmt/mgmt_vm.h"
#include "support.h"

/* lwIP's ip4addr_aton asserts through the port (net/sys_arch.c, not linked here). */
void net_assert_fail(const char *msg, const char *file, int line) __attribute__((noreturn));
void net_assert_fail(const char *msg, const char *file, int line)
{
    fail_msg("lwIP assertion %s at %s:%d", msg, file, line);
    abort();
}

static void test_names(void **state)
{
    (void)state;
    assert_true(mgmt_vm_name_valid("a"));
    assert_true(mgmt_vm_name_valid("Web-01_x"));
    assert_true(mgmt_vm_name_valid("abcdefghijklmnopqrstuvwxyz01234"));     /* 31 */
    assert_false(mgmt_vm_name_valid("abcdefghijklmnopqrstuvwxyz012345"));   /* 32 */
    assert_false(mgmt_vm_name_valid(""));
    assert_false(mgmt_vm_name_valid("a b"));
    assert_false(mgmt_vm_name_valid("a.b"));
    assert_false(mgmt_vm_name_valid("a/b"));
}

static void test_create_defaults_and_options(void **state)
{
    struct mgmt_vm_create_args a;
    char err[MGMT_ERR_MAX];
    (void)state;

    mgmt_vm_create_defaults(&a);
    assert_int_equal(a.mem_mib, 64);
    assert_int_equal(a.cpus, 1);
    assert_int_equal(a.node, -1);
    assert_string_equal(a.image, "memtest");
    assert_string_equal(a.cpu, "host");
    assert_string_equal(a.args, "");
    strcpy(a.name, "vm1");
    assert_int_equal(mgmt_vm_create_check(&a, 1, err, sizeof(err)), 0);

    assert_int_equal(mgmt_vm_create_set(&a, "mem", "128", 2), 0);
    assert_int_equal(a.mem_mib, 128);
    assert_int_equal(mgmt_vm_create_set(&a, "mem", "0x100", 2), 0);
    assert_int_equal(a.mem_mib, 256);
    assert_int_equal(mgmt_vm_create_set(&a, "cpus", "8", 2), 0);
    assert_int_equal(a.cpus, 8);
    assert_int_equal(mgmt_vm_create_set(&a, "node", "1", 2), 0);
    assert_int_equal(a.node, 1);
    assert_int_equal(mgmt_vm_create_set(&a, "image", "linux.elf", 2), 0);
    assert_string_equal(a.image, "linux.elf");
    assert_int_equal(mgmt_vm_create_set(&a, "args", "", 2), 0);       /* empty is allowed */
    assert_int_equal(mgmt_vm_create_set(&a, "args", "console=ttyS0 quiet", 2), 0);
    assert_string_equal(a.args, "console=ttyS0 quiet");
    assert_int_equal(mgmt_vm_create_set(&a, "cpu", "x86-64-v2", 2), 0);
    assert_string_equal(a.cpu, "x86-64-v2");
    assert_int_equal(mgmt_vm_create_check(&a, 2, err, sizeof(err)), 0);
}

static void test_create_bad_options_leave_args(void **state)
{
    struct mgmt_vm_create_args a, before;
    char long_image[64];
    (void)state;

    mgmt_vm_create_defaults(&a);
    before = a;
    assert_int_equal(mgmt_vm_create_set(&a, "mem", "3", 1), -EINVAL);        /* odd */
    assert_int_equal(mgmt_vm_create_set(&a, "mem", "0", 1), -EINVAL);
    assert_int_equal(mgmt_vm_create_set(&a, "mem", "1048578", 1), -EINVAL); /* past 1 TiB */
    assert_int_equal(mgmt_vm_create_set(&a, "mem", "", 1), -EINVAL);
    assert_int_equal(mgmt_vm_create_set(&a, "mem", "64k", 1), -EINVAL);
    assert_int_equal(mgmt_vm_create_set(&a, "cpus", "0", 1), -EINVAL);
    assert_int_equal(mgmt_vm_create_set(&a, "cpus", "9", 1), -EINVAL);
    assert_int_equal(mgmt_vm_create_set(&a, "node", "1", 1), -EINVAL);      /* one node: 0 */
    assert_int_equal(mgmt_vm_create_set(&a, "node", "0", 0), -EINVAL);      /* no nodes */
    assert_int_equal(mgmt_vm_create_set(&a, "image", "", 1), -EINVAL);
    memset(long_image, 'x', 48);
    long_image[48] = 0;
    assert_int_equal(mgmt_vm_create_set(&a, "image", long_image, 1), -EINVAL);
    long_image[47] = 0;
    assert_int_equal(mgmt_vm_create_set(&a, "cpu", "", 1), -EINVAL);
    assert_int_equal(mgmt_vm_create_set(&a, "cpu", "0123456789abcdef", 1), -EINVAL);
    assert_int_equal(mgmt_vm_create_set(&a, "cpus ", "1", 1), -EINVAL);
    assert_int_equal(mgmt_vm_create_set(&a, "memory", "64", 1), -EINVAL);
    assert_int_equal(mgmt_vm_create_set(&a, "module", "", 1), -EINVAL);
    char long_mods[200];
    memset(long_mods, 'm', sizeof(long_mods) - 1);
    long_mods[sizeof(long_mods) - 1] = 0;
    assert_int_equal(mgmt_vm_create_set(&a, "module", long_mods, 1), -EINVAL);
    assert_memory_equal(&a, &before, sizeof(a));
    assert_int_equal(mgmt_vm_create_set(&a, "image", long_image, 1), 0);    /* 47 fits */
    assert_int_equal(mgmt_vm_create_set(&a, "mem", "5120", 1), 0);          /* above 4 GiB */
    assert_int_equal(a.mem_mib, 5120);
    assert_int_equal(mgmt_vm_create_set(&a, "module", "a.txt,b.bin", 1), 0);
    assert_string_equal(a.modules, "a.txt,b.bin");
}

/* nic=SWITCH[,mac=MAC] (up to four, in order) and disk=FILE (one); bad ones change nothing. */
static void test_nic_and_disk_options(void **state)
{
    struct mgmt_vm_create_args a, before;
    static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };
    (void)state;

    mgmt_vm_create_defaults(&a);
    before = a;
    static const char *const bad[] = {
        "", ",mac=52:54:00:ab:cd:ef", "lan,", "lan,mac=", "lan,mac=52:54:00:ab:cd",
        "lan,mac=52:54:00:ab:cd:ef:", "lan,mac=52-54-00-ab-cd-ef", "lan,mac=01:00:5e:00:00:01",
        "lan,mac=00:00:00:00:00:00", "lan,mac=52:54:00:ab:cd:eg", "lan,ip=1.2.3.4", "l an",
        "lan.1", "0123456789abcdef",
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(mgmt_vm_create_set(&a, "nic", bad[i], 1), -EINVAL);
    assert_int_equal(mgmt_vm_create_set(&a, "disk", "", 1), -EINVAL);
    assert_memory_equal(&a, &before, sizeof(a));

    assert_int_equal(mgmt_vm_create_set(&a, "nic", "lan", 1), 0);
    assert_int_equal(mgmt_vm_create_set(&a, "nic", "0123456789abcde,mac=52:54:00:AB:cd:EF", 1), 0);
    assert_int_equal(a.nnics, 2);
    assert_string_equal(a.nics[0].sw, "lan");
    assert_false(a.nics[0].mac_set);
    assert_string_equal(a.nics[1].sw, "0123456789abcde");
    assert_true(a.nics[1].mac_set);
    assert_memory_equal(a.nics[1].mac, mac, 6);
    assert_int_equal(mgmt_vm_create_set(&a, "nic", "c", 1), 0);
    assert_int_equal(mgmt_vm_create_set(&a, "nic", "d", 1), 0);
    assert_int_equal(mgmt_vm_create_set(&a, "nic", "e", 1), -EINVAL);   /* a fifth */
    assert_int_equal(a.nnics, 4);
    assert_int_equal(mgmt_vm_create_set(&a, "disk", "disk.img", 1), 0);
    assert_string_equal(a.disk, "disk.img");
    assert_int_equal(mgmt_vm_create_set(&a, "disk", "other.img", 1), -EINVAL);  /* one disk */
    assert_string_equal(a.disk, "disk.img");
}

static void test_create_check_reasons(void **state)
{
    struct mgmt_vm_create_args a;
    char err[MGMT_ERR_MAX];
    (void)state;

    mgmt_vm_create_defaults(&a);
    assert_int_equal(mgmt_vm_create_check(&a, 1, err, sizeof(err)), -EINVAL);   /* no name */
    assert_string_equal(err, "a VM name is 1-31 letters, digits, '-' or '_'");
    memset(a.name, 'a', sizeof(a.name));                                    /* unterminated */
    assert_int_equal(mgmt_vm_create_check(&a, 1, err, sizeof(err)), -EINVAL);
    strcpy(a.name, "ok");
    a.mem_mib = 5;
    assert_int_equal(mgmt_vm_create_check(&a, 1, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "memory must be 2-1048576 MiB, even");
    a.mem_mib = 64;
    a.cpus = 0;
    assert_int_equal(mgmt_vm_create_check(&a, 1, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "a VM has 1-8 vCPUs");
    a.cpus = 2;
    a.node = 1;
    assert_int_equal(mgmt_vm_create_check(&a, 1, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "no such NUMA node");
    a.node = -2;
    assert_int_equal(mgmt_vm_create_check(&a, 1, err, sizeof(err)), -EINVAL);
    a.node = 0;
    a.image[0] = 0;
    assert_int_equal(mgmt_vm_create_check(&a, 1, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "bad image name");
    strcpy(a.image, "memtest");
    memset(a.args, 'x', sizeof(a.args));
    assert_int_equal(mgmt_vm_create_check(&a, 1, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "guest arguments too long");
    a.args[0] = 0;
    a.cpu[0] = 0;
    assert_int_equal(mgmt_vm_create_check(&a, 1, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "bad CPU baseline name");
    strcpy(a.cpu, "host");
    assert_int_equal(mgmt_vm_create_check(&a, 1, err, sizeof(err)), 0);
}

static void test_dirty_modes(void **state)
{
    enum mgmt_dirty_mode m = MGMT_DIRTY_AUTO;
    (void)state;
    assert_int_equal(mgmt_dirty_mode_parse("wp", &m), 0);
    assert_int_equal(m, MGMT_DIRTY_WP);
    assert_int_equal(mgmt_dirty_mode_parse("ad", &m), 0);
    assert_int_equal(m, MGMT_DIRTY_AD);
    assert_int_equal(mgmt_dirty_mode_parse("pml", &m), 0);
    assert_int_equal(m, MGMT_DIRTY_PML);
    assert_int_equal(mgmt_dirty_mode_parse("auto", &m), -EINVAL);          /* not by name */
    assert_int_equal(mgmt_dirty_mode_parse("PML", &m), -EINVAL);
    assert_int_equal(mgmt_dirty_mode_parse("", &m), -EINVAL);
    assert_int_equal(m, MGMT_DIRTY_PML);
}

static void test_migrate_options(void **state)
{
    struct mgmt_migrate_args a, before;
    (void)state;

    mgmt_migrate_defaults(&a);
    assert_int_equal(a.port, 7700);
    assert_int_equal(a.throttle_max, 99);           /* up to a near-stop */
    assert_int_equal(a.downtime_ms, 0);
    assert_int_equal(a.timeout_s, 0);
    assert_int_equal(a.bandwidth_mbps, 0);
    assert_int_equal(a.dirty, MGMT_DIRTY_AUTO);
    assert_int_equal(mgmt_migrate_set(&a, "downtime", "60000"), 0);
    assert_int_equal(mgmt_migrate_set(&a, "bandwidth", "1"), 0);
    assert_int_equal(mgmt_migrate_set(&a, "throttle", "0"), 0);
    assert_int_equal(mgmt_migrate_set(&a, "dirty", "ad"), 0);
    assert_int_equal(mgmt_migrate_set(&a, "timeout", "10"), 0);
    assert_int_equal(a.timeout_s, 10);
    assert_int_equal(mgmt_migrate_set(&a, "timeout", "3600"), 0);
    assert_int_equal(a.timeout_s, 3600);
    assert_int_equal(a.downtime_ms, 60000);
    assert_int_equal(a.bandwidth_mbps, 1);
    assert_int_equal(a.throttle_max, 0);
    assert_int_equal(a.dirty, MGMT_DIRTY_AD);
    before = a;
    assert_int_equal(mgmt_migrate_set(&a, "downtime", "0"), -EINVAL);
    assert_int_equal(mgmt_migrate_set(&a, "downtime", "60001"), -EINVAL);
    assert_int_equal(mgmt_migrate_set(&a, "bandwidth", "100001"), -EINVAL);
    assert_int_equal(mgmt_migrate_set(&a, "throttle", "100"), -EINVAL);
    assert_int_equal(mgmt_migrate_set(&a, "dirty", "auto"), -EINVAL);
    assert_int_equal(mgmt_migrate_set(&a, "timeout", "9"), -EINVAL);
    assert_int_equal(mgmt_migrate_set(&a, "timeout", "3601"), -EINVAL);
    assert_int_equal(mgmt_migrate_set(&a, "port", "1"), -EINVAL);
    assert_memory_equal(&a, &before, sizeof(a));
}

static void test_migrate_target(void **state)
{
    char host[MGMT_MIGRATE_HOST_MAX], err[MGMT_ERR_MAX];
    uint16_t port = 7700;
    uint32_t addr = 0;
    (void)state;

    assert_int_equal(mgmt_migrate_target("10.0.0.2", host, &port, &addr, err, sizeof(err)), 0);
    assert_string_equal(host, "10.0.0.2");
    assert_int_equal(port, 7700);
    assert_memory_equal(&addr, "\x0a\x00\x00\x02", 4);                     /* network order */
    assert_int_equal(mgmt_migrate_target("10.0.0.3:9000", host, &port, &addr, err, sizeof(err)),
                     0);
    assert_string_equal(host, "10.0.0.3");
    assert_int_equal(port, 9000);
    port = 7700;
    assert_int_equal(mgmt_migrate_target("10.0.0.3:0", host, &port, &addr, err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "bad target '10.0.0.3:0' (ADDR or ADDR:PORT)");
    assert_int_equal(mgmt_migrate_target("10.0.0.3:65536", host, &port, &addr, err,
                                         sizeof(err)), -EINVAL);
    assert_int_equal(mgmt_migrate_target("10.0.0.3:", host, &port, &addr, err, sizeof(err)),
                     -EINVAL);
    assert_int_equal(mgmt_migrate_target("host.example:80", host, &port, &addr, err,
                                         sizeof(err)), -EINVAL);
    assert_string_equal(err, "'host.example' is not an IPv4 address");
    assert_int_equal(mgmt_migrate_target("0123456789012345678901234567890123", host, &port,
                                         &addr, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "bad target '0123456789012345678901234567890123' "
                             "(ADDR or ADDR:PORT)");
    assert_int_equal(port, 7700);
}

static void test_ip4_parse(void **state)
{
    uint32_t a = 0;
    (void)state;
    assert_int_equal(mgmt_ip4_parse("192.168.1.20", &a), 0);
    assert_memory_equal(&a, "\xc0\xa8\x01\x14", 4);
    assert_int_equal(mgmt_ip4_parse("not-an-address", &a), -EINVAL);
    assert_int_equal(mgmt_ip4_parse("1.2.3.256", &a), -EINVAL);
    assert_int_equal(mgmt_ip4_parse("", &a), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_create_defaults_and_options),
        cmocka_unit_test(test_create_bad_options_leave_args),
        cmocka_unit_test(test_create_check_reasons),
        cmocka_unit_test(test_nic_and_disk_options),
        cmocka_unit_test(test_dirty_modes),
        cmocka_unit_test(test_migrate_options),
        cmocka_unit_test(test_migrate_target),
        cmocka_unit_test(test_ip4_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
