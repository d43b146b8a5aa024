/*
 * The rules for what a management request may ask: VM names, create options, migration
 * options and targets, dirty modes, addresses. Pure functions (host-tested in tests/unit/mgmt/)
 * shared by the console and, later, the network API.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv/base/cmdline.h"
#include "hv/mgmt/mgmt.h"
#include "hv/mgmt/mgmt_mig.h"
#include "hv/mgmt/mgmt_vm.h"
#include "hv/mig/mig_policy.h"
#include "lwip/ip4_addr.h"
#include "net/mig_transport.h"

int mgmt_ip4_parse(const char *s, uint32_t *addr_be)
{
    ip4_addr_t a;
    if (!ip4addr_aton(s, &a))
        return -EINVAL;
    *addr_be = ip4_addr_get_u32(&a);
    return 0;
}

void mgmt_vm_create_defaults(struct mgmt_vm_create_args *a)
{
    memset(a, 0, sizeof(*a));
    a->mem_mib = 64;
    a->cpus = 1;
    a->node = -1;
    strcpy(a->image, "memtest");
    strcpy(a->cpu, "host");
}

bool mgmt_vm_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= MGMT_VM_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_'))
            return false;
    return true;
}

/* A non-empty (unless empty_ok) string that fits dst with its NUL. */
static int set_str(char *dst, size_t size, const char *val, bool empty_ok)
{
    if ((!*val && !empty_ok) || strlen(val) >= size)
        return -EINVAL;
    strcpy(dst, val);
    return 0;
}

bool mgmt_switch_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= MGMT_SWITCH_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_'))
            return false;
    return true;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int mgmt_mac_parse(const char *s, uint8_t mac[6])
{
    uint8_t m[6], any = 0;
    if (strlen(s) != 17)
        return -EINVAL;
    for (unsigned i = 0; i < 6; i++) {
        int hi = hexval(s[3 * i]), lo = hexval(s[3 * i + 1]);
        if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
            return -EINVAL;
        m[i] = (uint8_t)(hi << 4 | lo);
        any |= m[i];
    }
    if ((m[0] & 1) || !any)
        return -EINVAL;                 /* multicast or all zeros: no NIC's own address */
    memcpy(mac, m, 6);
    return 0;
}

/* nic=SWITCH[,mac=xx:xx:xx:xx:xx:xx] */
static int nic_set(struct mgmt_vm_create_args *a, const char *val)
{
    char sw[MGMT_SWITCH_NAME_MAX];
    const char *comma = strchr(val, ',');
    size_t n = comma ? (size_t)(comma - val) : strlen(val);
    if (a->nnics >= MGMT_VM_NICS_MAX || n == 0 || n >= sizeof(sw))
        return -EINVAL;
    memcpy(sw, val, n);
    sw[n] = 0;
    if (!mgmt_switch_name_valid(sw))
        return -EINVAL;
    struct mgmt_nic_args *nic = &a->nics[a->nnics];
    memset(nic, 0, sizeof(*nic));
    if (comma) {
        if (strncmp(comma + 1, "mac=", 4) || mgmt_mac_parse(comma + 5, nic->mac))
            return -EINVAL;
        nic->mac_set = true;
    }
    strcpy(nic->sw, sw);
    a->nnics++;
    return 0;
}

int mgmt_vm_create_set(struct mgmt_vm_create_args *a, const char *key, const char *val,
                       unsigned nodes)
{
    uint64_t n;
    if (!strcmp(key, "mem")) {
        if (cmdline_u64(val, MGMT_VM_MEM_MIB_MIN, MGMT_VM_MEM_MIB_MAX, &n) || n % 2)
            return -EINVAL;
        a->mem_mib = n;
    } else if (!strcmp(key, "cpus")) {
        if (cmdline_u64(val, 1, MGMT_VM_MAX_VCPUS, &n))
            return -EINVAL;
        a->cpus = (unsigned)n;
    } else if (!strcmp(key, "node")) {
        if (!nodes || cmdline_u64(val, 0, nodes - 1, &n))
            return -EINVAL;
        a->node = (int)n;
    } else if (!strcmp(key, "image")) {
        if (a->kernel[0] || set_str(a->image, sizeof(a->image), val, false))
            return -EINVAL;
        a->image_set = true;
    } else if (!strcmp(key, "kernel")) {
        if (a->image_set)
            return -EINVAL;
        return set_str(a->kernel, sizeof(a->kernel), val, false);
    } else if (!strcmp(key, "initrd")) {
        return set_str(a->initrd, sizeof(a->initrd), val, false);
    } else if (!strcmp(key, "module")) {
        return set_str(a->modules, sizeof(a->modules), val, false);
    } else if (!strcmp(key, "args")) {
        return set_str(a->args, sizeof(a->args), val, true);
    } else if (!strcmp(key, "cpu")) {
        return set_str(a->cpu, sizeof(a->cpu), val, false);
    } else if (!strcmp(key, "nic")) {
        return nic_set(a, val);
    } else if (!strcmp(key, "disk")) {
        if (a->disk[0])
            return -EINVAL;             /* one disk a VM, for now */
        return set_str(a->disk, sizeof(a->disk), val, false);
    } else {
        return -EINVAL;
    }
    return 0;
}

static bool terminated(const char *s, size_t size)
{
    return memchr(s, 0, size) != NULL;
}

int mgmt_vm_create_check(const struct mgmt_vm_create_args *a, unsigned nodes, char *err,
                         size_t errlen)
{
    const char *why = NULL;
    if (!terminated(a->name, sizeof(a->name)) || !mgmt_vm_name_valid(a->name))
        why = "a VM name is 1-31 letters, digits, '-' or '_'";
    else if (a->mem_mib < MGMT_VM_MEM_MIB_MIN || a->mem_mib > MGMT_VM_MEM_MIB_MAX ||
             a->mem_mib % 2)
        why = "memory must be 2-1048576 MiB, even";
    else if (a->cpus < 1 || a->cpus > MGMT_VM_MAX_VCPUS)
        why = "a VM has 1-8 vCPUs";
    else if (a->node < -1 || (a->node >= 0 && (unsigned)a->node >= nodes))
        why = "no such NUMA node";
    else if (!terminated(a->image, sizeof(a->image)) || !a->image[0])
        why = "bad image name";
    else if (!terminated(a->kernel, sizeof(a->kernel)) ||
             !terminated(a->initrd, sizeof(a->initrd)) ||
             !terminated(a->modules, sizeof(a->modules)) ||
             !terminated(a->disk, sizeof(a->disk)))
        why = "bad kernel, initrd, module or disk name";
    else if (a->kernel[0] && a->image_set)
        why = "image= and kernel= exclude each other";
    else if (a->initrd[0] && !a->kernel[0])
        why = "initrd= goes with kernel=";
    else if (a->modules[0] && !a->kernel[0])
        why = "module= goes with kernel=";
    else if (!terminated(a->args, sizeof(a->args)))
        why = "guest arguments too long";
    else if (!terminated(a->cpu, sizeof(a->cpu)) || !a->cpu[0])
        why = "bad CPU baseline name";
    if (!why)
        return 0;
    snprintf(err, errlen, "%s", why);
    return -EINVAL;
}

int mgmt_dirty_mode_parse(const char *s, enum mgmt_dirty_mode *m)
{
    /* The names of hv/vm/dirty.c's dirty_mode_name(); mgmt_dirty.c asserts the values agree. */
    static const char *const names[] = {
        [MGMT_DIRTY_WP] = "wp", [MGMT_DIRTY_AD] = "ad", [MGMT_DIRTY_PML] = "pml",
    };
    for (unsigned i = MGMT_DIRTY_WP; i <= MGMT_DIRTY_PML; i++)
        if (!strcmp(s, names[i])) {
            *m = (enum mgmt_dirty_mode)i;
            return 0;
        }
    return -EINVAL;
}

void mgmt_migrate_defaults(struct mgmt_migrate_args *a)
{
    memset(a, 0, sizeof(*a));
    a->port = MIG_PORT;
    a->throttle_max = MIG_POLICY_THROTTLE_MAX;
    a->dirty = MGMT_DIRTY_AUTO;
}

int mgmt_migrate_set(struct mgmt_migrate_args *a, const char *key, const char *val)
{
    uint64_t v;
    if (!strcmp(key, "downtime") && !cmdline_u64(val, 1, 60000, &v))
        a->downtime_ms = (uint32_t)v;
    else if (!strcmp(key, "bandwidth") && !cmdline_u64(val, 1, 100000, &v))
        a->bandwidth_mbps = (uint32_t)v;
    else if (!strcmp(key, "throttle") && !cmdline_u64(val, 0, 99, &v))
        a->throttle_max = (uint32_t)v;
    else if (!strcmp(key, "timeout") && !cmdline_u64(val, 10, 3600, &v))
        a->timeout_s = (uint32_t)v;
    else if (!strcmp(key, "dirty"))
        return mgmt_dirty_mode_parse(val, &a->dirty);
    else if (!strcmp(key, "storage") && (!strcmp(val, "copy") || !strcmp(val, "shared")))
        a->storage_copy = !strcmp(val, "copy");
    else if (!strcmp(key, "compress") && !strcmp(val, "auto"))
        a->compress = 0;
    else if (!strcmp(key, "compress") && !strcmp(val, "lz4"))
        a->compress = 1;
    else if (!strcmp(key, "compress") && !strcmp(val, "off"))
        a->compress = 2;
    else if (!strcmp(key, "delta") && (!strcmp(val, "on") || !strcmp(val, "off")))
        a->no_delta = !strcmp(val, "off");
    else if (!strcmp(key, "streams") && !cmdline_u64(val, 1, MGMT_MIGRATE_STREAMS_MAX, &v))
        a->streams = (uint16_t)v;
    else
        return -EINVAL;
    return 0;
}

int mgmt_migrate_target(const char *s, char host[MGMT_MIGRATE_HOST_MAX], uint16_t *port,
                        uint32_t *addr_be, char *err, size_t errlen)
{
    const char *colon = strchr(s, ':');
    size_t hl = colon ? (size_t)(colon - s) : strlen(s);
    uint64_t v;
    if (hl >= MGMT_MIGRATE_HOST_MAX || (colon && cmdline_u64(colon + 1, 1, 65535, &v))) {
        snprintf(err, errlen, "bad target '%s' (ADDR or ADDR:PORT)", s);
        return -EINVAL;
    }
    memcpy(host, s, hl);
    host[hl] = 0;
    if (mgmt_ip4_parse(host, addr_be)) {
        snprintf(err, errlen, "'%s' is not an IPv4 address", host);
        return -EINVAL;
    }
    if (colon)
        *port = (uint16_t)v;
    return 0;
}
