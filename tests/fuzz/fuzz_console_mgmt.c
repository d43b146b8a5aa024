/*
 * The management actions below the console's handlers, faked for tests/fuzz/fuzz_console.c:
 * hv/mgmt/mgmt_vm.c, mgmt_dirty.c, mgmt_host.c and mgmt_net.c, and what the real mgmt_mig.c
 * and mgmt_cpu.c call in hv/vm/ and hv/mig/. Each keeps enough state for a sequence of commands
 * to mean something (a VM created can be started, migrated, destroyed; a switch created can be
 * listed) and checks its arguments against the rules the mgmt headers document: what the
 * console hands down must already be within them.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "fake_cpuid.h"
#include "hv/base/cmdline.h"
#include "hv/cpu/cpu_baseline.h"
#include "hv/cpu/cpu_policy_codec.h"
#include "hv/mgmt/mgmt.h"
#include "hv/mgmt/mgmt_host.h"
#include "hv/mgmt/mgmt_internal.h"
#include "hv/mgmt/mgmt_mig.h"
#include "hv/mgmt/mgmt_net.h"
#include "hv/mgmt/mgmt_nic.h"
#include "hv/mgmt/mgmt_vm.h"
#include "hv/mig/mig.h"
#include "hv/mig/mig_query.h"
#include "hv/mig/mig_stream.h"
#include "hv/vm/vmctl.h"
#include "net/mig_transport.h"
#include "tests/fuzz/fuzz_console.h"

#define FVM_MAX 4                       /* few, so that "no free slot" is reachable */
#define NODES 2
#define NIFS 2
#define LAST_OCTET(be) ((be) >> 24)     /* network order on a little-endian host */
#define OCTET_REFUSED 99                /* a peer that refuses (a ping gets no replies) */
#define OCTET_GARBLED 98                /* a peer that answers a CPU query with junk */

#define MIG_PASSES 3                    /* a migration completes this many loop passes after */

bool fcon_outcome_line;
unsigned fmgmt_messages;

static struct vm fvm[FVM_MAX];
static bool dirty_on[FVM_MAX];
static unsigned mig_left[FVM_MAX];      /* passes until an outgoing migration completes */
static struct cpu_policy host_cpu, peer_cpu;
static unsigned keys_made;
static bool numa_spanning;

struct fswitch { bool used; char name[MGMT_SWITCH_NAME_MAX]; char uplink[8]; };
static struct fswitch sws[MGMT_SWITCH_SLOTS];
static const char *const if_names[NIFS] = { "eth0", "eth1" };
static char if_ip[NIFS][16];

/* ---- VMs (hv/mgmt/mgmt_vm.c, mgmt_dirty.c) ---- */

static struct vm *vm_add(const char *name, enum vm_state st, const char *disk, unsigned cpus,
                         uint64_t mib)
{
    for (unsigned i = 0; i < FVM_MAX; i++) {
        struct vm *vm = &fvm[i];
        if (vm->state != VM_EMPTY)
            continue;
        memset(vm, 0, sizeof(*vm));
        vm->state = st;
        snprintf(vm->name, sizeof(vm->name), "%s", name);
        snprintf(vm->disk, sizeof(vm->disk), "%s", disk);
        vm->policy = host_cpu;
        vm->nvcpus = cpus;
        vm->mem_size = mib << 20;
        dirty_on[i] = false;
        return vm;
    }
    return NULL;
}

int vm_host_policy(struct cpu_policy *p)
{
    struct fake_host h = FAKE_HOST(intel_host);
    return cpu_policy_from_host(p, fake_cpuid, &h);
}

void fmgmt_reset(void)
{
    static bool made;
    if (!made) {
        struct fake_host amd = FAKE_HOST(amd_host);
        FCHECK(vm_host_policy(&host_cpu) == 0);
        FCHECK(cpu_policy_from_host(&peer_cpu, fake_cpuid, &amd) == 0);
        made = true;
    }
    for (unsigned i = 0; i < FVM_MAX; i++)
        fvm[i].state = VM_EMPTY;
    vm_add("web", VM_RUNNING, "", 2, 64);
    vm_add("db", VM_PAUSED, "db.img", 1, 128);
    memset(sws, 0, sizeof(sws));
    sws[0] = (struct fswitch){ .used = true, .name = "sw0", .uplink = "eth0" };
    strcpy(if_ip[0], "10.0.0.1");
    strcpy(if_ip[1], "0.0.0.0");
    numa_spanning = false;
    keys_made = 0;
    fmgmt_messages = 0;
    cpu_baseline_clear_cluster();
    fcon_outcome_line = false;
}

struct vm *vm_find(const char *name)
{
    for (unsigned i = 0; i < FVM_MAX; i++)
        if (fvm[i].state != VM_EMPTY && !strcmp(fvm[i].name, name))
            return &fvm[i];
    return NULL;
}

/* As hv/mgmt/mgmt_vm.c's. */
struct vm *mgmt_vm_get(const char *name, bool busy_ok, int *rc, char *err, size_t errlen)
{
    struct vm *vm = vm_find(name);
    *rc = 0;
    if (!vm) {
        snprintf(err, errlen, "no VM named '%s'", name);
        *rc = -ENOENT;
    } else if (vm->migration != VM_MIG_NONE && !busy_ok) {
        snprintf(err, errlen, "vm %s is migrating out (migrate cancel it first)", vm->name);
        *rc = -EBUSY;
    }
    return *rc ? NULL : vm;
}

int fmgmt_vm_lookup(const char *name, bool busy_ok, char *err, size_t errlen)
{
    int rc;
    mgmt_vm_get(name, busy_ok, &rc, err, errlen);
    return rc;
}

int mgmt_vm_check(const char *name, bool busy_ok, char *err, size_t errlen)
{
    return fmgmt_vm_lookup(name, busy_ok, err, errlen);
}

static const char *state_name(enum vm_state s)
{
    return s == VM_CREATED ? "created" : s == VM_RUNNING ? "running"
         : s == VM_PAUSED ? "paused" : "stopped";
}

unsigned mgmt_vm_list(struct mgmt_vm_info *out, unsigned max)
{
    unsigned n = 0;
    for (unsigned i = 0; i < FVM_MAX && n < max; i++) {
        const struct vm *vm = &fvm[i];
        if (vm->state == VM_EMPTY)
            continue;
        struct mgmt_vm_info *o = &out[n++];
        memset(o, 0, sizeof(*o));
        strcpy(o->name, vm->name);
        o->state = state_name(vm->state);
        o->mem_mib = vm->mem_size >> 20;
        o->nvcpus = vm->nvcpus;
        strcpy(o->nodes, i % 2 ? "1+0" : "0");
        for (unsigned j = 0; j < vm->nvcpus; j++)
            o->pcpus[j] = i + j;
    }
    return n;
}

static bool terminated(const char *s, size_t size)
{
    return memchr(s, 0, size) != NULL;
}

/* What parse_create (hv/console/cmd_vm.c) and mgmt_vm_create_set (mgmt_args.c) enforce. */
static void check_create(const struct mgmt_vm_create_args *a)
{
    FCHECK(terminated(a->name, sizeof(a->name)) && mgmt_vm_name_valid(a->name));
    FCHECK(a->mem_mib >= MGMT_VM_MEM_MIB_MIN && a->mem_mib <= MGMT_VM_MEM_MIB_MAX &&
           a->mem_mib % 2 == 0);
    FCHECK(a->cpus >= 1 && a->cpus <= MGMT_VM_MAX_VCPUS);
    FCHECK(a->node >= -1 && a->node < NODES);
    FCHECK(terminated(a->image, sizeof(a->image)) && a->image[0]);
    FCHECK(terminated(a->kernel, sizeof(a->kernel)) && terminated(a->initrd, sizeof(a->initrd)));
    FCHECK(terminated(a->modules, sizeof(a->modules)) && terminated(a->args, sizeof(a->args)));
    FCHECK(terminated(a->cpu, sizeof(a->cpu)) && a->cpu[0]);
    FCHECK(terminated(a->disk, sizeof(a->disk)));
    FCHECK(!(a->kernel[0] && a->image_set));
    FCHECK(a->nnics <= MGMT_VM_NICS_MAX);
    for (unsigned i = 0; i < a->nnics; i++) {
        const struct mgmt_nic_args *nic = &a->nics[i];
        FCHECK(terminated(nic->sw, sizeof(nic->sw)) && mgmt_switch_name_valid(nic->sw));
        if (nic->mac_set)
            FCHECK(!(nic->mac[0] & 1) && (nic->mac[0] | nic->mac[1] | nic->mac[2] |
                                          nic->mac[3] | nic->mac[4] | nic->mac[5]));
    }
}

int mgmt_vm_create(const struct mgmt_vm_create_args *a, char *err, size_t errlen)
{
    check_create(a);
    int rc = mgmt_vm_create_check(a, NODES, err, errlen);    /* what mgmt_vm.c does first */
    if (rc)
        return rc;
    if (vm_find(a->name)) {
        snprintf(err, errlen, "a VM named '%s' exists", a->name);
        return -EEXIST;
    }
    if (!vm_add(a->name, VM_CREATED, a->disk, a->cpus, a->mem_mib)) {
        snprintf(err, errlen, "no free VM slot (at most %d)", FVM_MAX);
        return -ENOSPC;
    }
    return 0;
}

/* from VM_EMPTY: any state. */
static int vm_op(const char *name, enum vm_state from, enum vm_state to, char *err,
                 size_t errlen)
{
    int rc;
    struct vm *vm = mgmt_vm_get(name, false, &rc, err, errlen);
    if (!vm)
        return rc;
    if (from != VM_EMPTY && vm->state != from) {
        snprintf(err, errlen, "vm %s is %s", name, state_name(vm->state));
        return -EINVAL;
    }
    vm->state = to;
    if (to == VM_EMPTY)
        dirty_on[vm - fvm] = false;
    return 0;
}

int mgmt_vm_start(const char *name, char *err, size_t errlen)
{
    return vm_op(name, VM_CREATED, VM_RUNNING, err, errlen);
}

int mgmt_vm_pause(const char *name, char *err, size_t errlen)
{
    return vm_op(name, VM_RUNNING, VM_PAUSED, err, errlen);
}

int mgmt_vm_resume(const char *name, char *err, size_t errlen)
{
    return vm_op(name, VM_PAUSED, VM_RUNNING, err, errlen);
}

int mgmt_vm_destroy(const char *name, char *err, size_t errlen)
{
    return vm_op(name, VM_EMPTY, VM_EMPTY, err, errlen);
}

int mgmt_vm_stats(const char *name, struct mgmt_vm_stats *s, char *err, size_t errlen)
{
    int rc;
    struct vm *vm = mgmt_vm_get(name, true, &rc, err, errlen);
    if (!vm)
        return rc;
    memset(s, 0, sizeof(*s));
    strcpy(s->name, vm->name);
    s->state = state_name(vm->state);
    s->entries = 1234;
    s->guest_ms = 56;
    s->nexits = 2;
    s->exits[0].reason = "io";
    s->exits[0].count = 1000;
    s->exits[1].reason = "hlt";
    s->exits[1].count = 7;
    s->dirty_used = dirty_on[vm - fvm];
    s->dirty_mode = "pml";
    s->dirty_on = dirty_on[vm - fvm];
    s->stopped = vm->state == VM_PAUSED;
    strcpy(s->stop_reason, "triple fault");
    s->pages = vm->mem_size >> 12;
    s->nonzero_pages = 321;
    return 0;
}

int mgmt_vm_devices(const char *name, struct mgmt_dev_info *d, unsigned max, char *err,
                    size_t errlen)
{
    int rc = fmgmt_vm_lookup(name, true, err, errlen);
    if (rc)
        return rc;
    FCHECK(max >= 2);
    memset(d, 0, 2 * sizeof(*d));
    strcpy(d[0].label, "uart16550#0");
    d[0].version = 1;
    strcpy(d[0].ranges, "io 0x3f8-0x3ff");
    strcpy(d[0].state, "ier 0x01 lcr 0x03");
    strcpy(d[1].label, "testdev#1");
    d[1].version = 3;
    return 2;
}

bool mgmt_vm_event(char *buf, size_t n)
{
    (void)buf, (void)n;
    return false;
}

int mgmt_dirty_check(const char *name, char *err, size_t errlen)
{
    int rc;
    struct vm *vm = mgmt_vm_get(name, true, &rc, err, errlen);
    if (vm && vm->migration != VM_MIG_NONE) {
        snprintf(err, errlen, "vm %s is migrating; its dirty log belongs to the migration", name);
        return -EBUSY;
    }
    return rc;
}

/* cmd_dirty asks mgmt_dirty_check first: the operations only see a VM it accepted. */
static unsigned dirty_vm(const char *name)
{
    char err[MGMT_ERR_MAX];
    FCHECK(mgmt_dirty_check(name, err, sizeof(err)) == 0);
    return (unsigned)(vm_find(name) - fvm);
}

int mgmt_dirty_start(const char *name, enum mgmt_dirty_mode mode, const char **used, char *err,
                     size_t errlen)
{
    unsigned i = dirty_vm(name);
    FCHECK(mode >= MGMT_DIRTY_AUTO && mode <= MGMT_DIRTY_PML);
    if (dirty_on[i]) {
        snprintf(err, errlen, "dirty logging of %s is on already", name);
        return -EBUSY;
    }
    if (mode == MGMT_DIRTY_WP) {
        snprintf(err, errlen, "dirty mode 'wp' is not available on this CPU (offered: ad, pml)");
        return -ENOTSUP;
    }
    *used = mode == MGMT_DIRTY_AD ? "ad" : "pml";
    dirty_on[i] = true;
    return 0;
}

int mgmt_dirty_stop(const char *name, char *err, size_t errlen)
{
    unsigned i = dirty_vm(name);
    if (!dirty_on[i]) {
        snprintf(err, errlen, "dirty logging of %s is off", name);
        return -EINVAL;
    }
    dirty_on[i] = false;
    return 0;
}

int mgmt_dirty_verify(const char *name, struct mgmt_dirty_report *r, char *err, size_t errlen)
{
    unsigned i = dirty_vm(name);
    if (!dirty_on[i]) {
        snprintf(err, errlen, "dirty logging of %s is off", name);
        return -EINVAL;
    }
    *r = (struct mgmt_dirty_report){ .pages = 16384, .changed = 10, .dirty = 12,
                                     .missed = !strcmp(name, "db") };
    fcon_outcome_line |= r->missed != 0;
    return 0;
}

/* ---- the host (hv/mgmt/mgmt_host.c) ---- */

void mgmt_host_info(struct mgmt_host_info *o)
{
    memset(o, 0, sizeof(*o));
    strcpy(o->vendor, "GenuineIntel");
    strcpy(o->brand, "Fake(R) CPU @ 3.00GHz");
    o->cpus_online = o->cpus_listed = o->cpus_started = 4;
    for (unsigned i = 0; i < 4; i++)
        o->apic_ids[i] = 2 * i;
    o->cpu_source = "acpi madt";
    o->nodes = NODES;
    o->numa_spanning = numa_spanning;
    strcpy(o->virt, "vmx ept vpid unrestricted");
    strcpy(o->hostname, "fuzz");
    o->tsc_khz = 3000000;
    o->tsc_source = "cpuid";
    o->uptime_ns = 12345678901ull;
    o->wall_ns = 1700000000ull * 1000000000ull;
    o->have_acpi = true;
    o->rsdp = 0xf0000;
    o->acpi_revision = 2;
    o->ntables = 3;
    strcpy(o->tables[0], "APIC");
    strcpy(o->tables[1], "SRAT");
    strcpy(o->tables[2], "SLIT");
    o->table_bad_mask = 4;
    o->tables_bad = 1;
    o->slit_nodes = NODES;
    o->slit[0][0] = o->slit[1][1] = 10;
    o->slit[0][1] = o->slit[1][0] = 21;
    o->necam = 1;
    o->ecam[0].bus_end = 255;
    o->ecam[0].base = 0xe0000000;
}

void mgmt_host_set_numa_spanning(bool on)
{
    numa_spanning = on;
}

void mgmt_host_reboot(void)
{
    fcon_reboot();
}

unsigned mgmt_mem_nodes(void)
{
    return NODES;
}

void mgmt_mem_node(unsigned node, struct mgmt_mem_node *out)
{
    FCHECK(node < NODES);
    memset(out, 0, sizeof(*out));
    out->ram_pages = 1u << 20;
    out->managed_pages = (1u << 20) - 4096;
    out->free_pages = 1u << 19;
    out->zones = 1 + node;
    strcpy(out->cpus, node ? "2-3" : "0-1");
}

unsigned mgmt_mem_zone_count(void)
{
    return 3;
}

void mgmt_mem_zone(unsigned i, struct mgmt_mem_zone *out)
{
    FCHECK(i < 3);
    *out = (struct mgmt_mem_zone){ .node = i ? 1 : 0, .base = (uint64_t)i << 32,
                                   .pages = 1 << 18, .free = 1 << 17 };
}

unsigned mgmt_mem_region_count(void)
{
    return 3;
}

void mgmt_mem_region(unsigned i, struct mgmt_mem_region *out)
{
    static const char *const types[] = { "usable", "reserved", "acpi" };
    FCHECK(i < 3);
    *out = (struct mgmt_mem_region){ .base = (uint64_t)i << 30, .pages = 256, .type = types[i] };
}

unsigned mgmt_pci_count(void)
{
    return 2;
}

const char *mgmt_pci_method(void)
{
    return "ecam";
}

void mgmt_pci_get(unsigned i, struct mgmt_pci_fn *out)
{
    FCHECK(i < 2);
    *out = (struct mgmt_pci_fn){ .dev = 2 + i, .vendor = 0x8086, .device = 0x10d3 + i,
                                 .class_code = 2, .driver = i ? NULL : "e1000e" };
}

/* ---- the network (hv/mgmt/mgmt_net.c) ---- */

unsigned mgmt_net_if_count(void)
{
    return NIFS;
}

static const struct fswitch *switch_named(const char *name)
{
    for (unsigned i = 0; i < MGMT_SWITCH_SLOTS; i++)
        if (sws[i].used && !strcmp(sws[i].name, name))
            return &sws[i];
    return NULL;
}

void mgmt_net_if_get(unsigned i, struct mgmt_net_if *o)
{
    FCHECK(i < NIFS);
    memset(o, 0, sizeof(*o));
    strcpy(o->name, if_names[i]);
    o->driver = i ? "virtio-net" : "e1000e";
    memcpy(o->mac, (uint8_t[6]){ 0x52, 0x54, 0, 0x12, 0x34, (uint8_t)(0x56 + i) }, 6);
    o->link_up = i == 0;
    strcpy(o->ip, if_ip[i]);
    strcpy(o->mask, "255.255.255.0");
    strcpy(o->gw, "0.0.0.0");
    o->rx_packets = 10;
    o->rx_bufs = 256;
    o->rx_ring = 250;
    o->rx_spare = 6;
    for (unsigned s = 0; s < MGMT_SWITCH_SLOTS; s++)
        if (sws[s].used && !strcmp(sws[s].uplink, if_names[i]))
            strcpy(o->vswitch, sws[s].name);
}

int mgmt_net_if_find(const char *name)
{
    for (unsigned i = 0; i < NIFS; i++)
        if (!strcmp(name, if_names[i]))
            return (int)i;
    return -ENOENT;
}

/* The rule of net/netdev.c's netdev_configure, which the fake does not link (it sits on
 * lwIP's netif): "dhcp", or ADDR[/PREFIX 1-32]; a gateway, if given, an address. */
int mgmt_net_if_configure(unsigned i, const char *addr, const char *gw)
{
    char ip[32];
    uint32_t a;
    uint64_t prefix;
    FCHECK(i < NIFS && addr);
    if (!strcmp(addr, "dhcp")) {
        strcpy(if_ip[i], "0.0.0.0");
        return 0;
    }
    const char *slash = strchr(addr, '/');
    size_t n = slash ? (size_t)(slash - addr) : strlen(addr);
    if (n >= sizeof(ip) || (slash && cmdline_u64(slash + 1, 1, 32, &prefix)))
        return -EINVAL;
    memcpy(ip, addr, n);
    ip[n] = 0;
    if (mgmt_ip4_parse(ip, &a) || (gw && *gw && mgmt_ip4_parse(gw, &a)))
        return -EINVAL;
    snprintf(if_ip[i], sizeof(if_ip[i]), "%s", ip);
    return 0;
}

int mgmt_net_ping(uint32_t addr_be, unsigned count, unsigned timeout_ms, mgmt_ping_reply_fn reply,
                  mgmt_ping_lost_fn lost, void *ctx, struct mgmt_ping_result *r)
{
    FCHECK(count >= 1 && count <= 1000 && timeout_ms == 1000 && reply && lost && r);
    if (!addr_be)
        return -ENOMEM;                 /* the fake's way to reach the handler's -ENOMEM */
    *r = (struct mgmt_ping_result){ 0 };
    for (unsigned seq = 0; seq < count; seq++, r->sent++) {
        if (LAST_OCTET(addr_be) == OCTET_REFUSED || seq % 4 == 3) {
            lost(ctx, seq);
            continue;
        }
        uint64_t rtt = 250 + 37 * seq;
        reply(ctx, seq, 64, rtt, 64);
        r->received++;
        r->sum_us += rtt;
        r->min_us = r->received == 1 || rtt < r->min_us ? rtt : r->min_us;  /* as net/ping.c */
        r->max_us = rtt > r->max_us ? rtt : r->max_us;
    }
    fcon_outcome_line |= r->received == 0;
    return 0;
}

int mgmt_net_bench(uint32_t addr_be, unsigned seconds, unsigned streams,
                   struct mgmt_bench_result *r, const char **reason)
{
    FCHECK(seconds >= 1 && seconds <= 600 && streams >= 1 && streams <= MGMT_BENCH_STREAMS_MAX &&
           r && reason);
    if (LAST_OCTET(addr_be) == OCTET_REFUSED) {
        *reason = "connection refused";
        fcon_outcome_line = true;
        return -ECONNREFUSED;
    }
    r->bytes = seconds * 117000000ull;
    r->elapsed_us = seconds * 1000000ull + 1234;
    return 0;
}

/* ---- virtual switches (mgmt_net.c over net/vswitch.c) ---- */

/* net/vswitch.c's vsw_create: name, then no twin, then a slot, then the uplink. */
int mgmt_switch_create(const char *name, const char *uplink, char *err, size_t errlen)
{
    struct fswitch *free_sw = NULL;
    FCHECK(name && (!uplink || *uplink));      /* cmd_net.c: "uplink= needs an interface" */
    if (!mgmt_switch_name_valid(name)) {
        snprintf(err, errlen, "bad switch name '%s' (1-15 letters, digits, '-' or '_')", name);
        return -EINVAL;
    }
    if (switch_named(name)) {
        snprintf(err, errlen, "a switch named %s exists", name);
        return -EEXIST;
    }
    for (unsigned i = 0; i < MGMT_SWITCH_SLOTS && !free_sw; i++)
        if (!sws[i].used)
            free_sw = &sws[i];
    if (!free_sw) {
        snprintf(err, errlen, "there are %d switches already (the most)", MGMT_SWITCH_SLOTS);
        return -ENOSPC;
    }
    if (uplink && strcmp(uplink, "none")) {
        if (mgmt_net_if_find(uplink) < 0) {
            snprintf(err, errlen, "no interface '%s' (see net)", uplink);
            return -ENODEV;
        }
        for (unsigned i = 0; i < MGMT_SWITCH_SLOTS; i++)
            if (sws[i].used && !strcmp(sws[i].uplink, uplink)) {
                snprintf(err, errlen, "%s is the uplink of %s", uplink, sws[i].name);
                return -EBUSY;
            }
    }
    *free_sw = (struct fswitch){ .used = true };
    strcpy(free_sw->name, name);
    if (uplink && strcmp(uplink, "none"))
        strcpy(free_sw->uplink, uplink);
    return 0;
}

int mgmt_switch_destroy(const char *name, char *err, size_t errlen)
{
    struct fswitch *s = (struct fswitch *)switch_named(name);
    if (!s) {
        snprintf(err, errlen, "no switch named '%s'", name);
        return -ENOENT;
    }
    s->used = false;
    return 0;
}

static void switch_fill(const struct fswitch *s, struct mgmt_switch *o)
{
    memset(o, 0, sizeof(*o));
    strcpy(o->name, s->name);
    strcpy(o->uplink, s->uplink);
    o->nports = s->uplink[0] ? 2 : 1;
    o->nmacs = 2;
    o->queue_len = 64;
    o->flooded = 3;
    strcpy(o->port[0].label, "host");
    strcpy(o->port[0].kind, "host");
    strcpy(o->port[1].label, s->uplink);
    strcpy(o->port[1].kind, "uplink");
}

bool mgmt_switch_get(unsigned slot, struct mgmt_switch *out)
{
    FCHECK(slot < MGMT_SWITCH_SLOTS);
    if (!sws[slot].used)
        return false;
    switch_fill(&sws[slot], out);
    return true;
}

int mgmt_switch_find(const char *name, struct mgmt_switch *out, char *err, size_t errlen)
{
    const struct fswitch *s = switch_named(name);
    if (!s) {
        snprintf(err, errlen, "no switch named '%s'", name);
        return -ENOENT;
    }
    switch_fill(s, out);
    return 0;
}

/* Two MACs a switch, then -ERANGE: a caller that walks the table stops there. */
int mgmt_switch_mac(const char *name, unsigned i, struct mgmt_switch_mac *out)
{
    FCHECK(switch_named(name) && i <= 2);
    if (i == 2)
        return -ERANGE;
    *out = (struct mgmt_switch_mac){ .mac = { 2, 0, 0, 0, 0, (uint8_t)(1 + i) }, .fixed = i == 0,
                                     .port = "host", .idle_ms = 4200 };
    return 0;
}

/* ---- below hv/mgmt/mgmt_cpu.c: a peer's answer on the migration port ---- */

int mig_query(uint32_t addr_be, uint16_t port, uint32_t kind, const void *arg, size_t argn,
              uint32_t *status, uint8_t *data, size_t cap, size_t *n, uint32_t timeout_ms,
              char *err, size_t errlen)
{
    (void)arg;
    FCHECK(port == MIG_PORT && kind == MIG_QUERY_CPU && argn == 0 && timeout_ms == 10000);
    if (LAST_OCTET(addr_be) == OCTET_REFUSED) {
        snprintf(err, errlen, "connection refused");
        return -ECONNREFUSED;
    }
    *status = MIG_QSTAT_OK;
    if (LAST_OCTET(addr_be) == OCTET_GARBLED) {
        FCHECK(cap >= 3);
        memcpy(data, "\1\2\3", 3);
        *n = 3;
        return 0;
    }
    int size = cpu_policy_serialize(&peer_cpu, data, cap);
    FCHECK(size > 0);
    *n = (size_t)size;
    return 0;
}

/* ---- below hv/mgmt/mgmt_mig.c: hv/mig/mig.h ---- */

static bool listed(const struct vm *vm)
{
    return vm >= fvm && vm < fvm + FVM_MAX && vm->state != VM_EMPTY;
}

/* The options as mgmt_migrate_set documents them (0: the engine's default). */
int mig_start(struct vm *vm, uint32_t addr_be, const struct mig_opts *o, char *err,
              size_t errlen)
{
    (void)addr_be;
    FCHECK(listed(vm));
    FCHECK(o->downtime_ms <= 60000);
    FCHECK(o->bandwidth_mbps <= 100000);
    FCHECK(o->throttle_max <= 99);
    FCHECK(o->timeout_s == 0 || (o->timeout_s >= 10 && o->timeout_s <= 3600));
    FCHECK(o->port >= 1);
    FCHECK(o->dirty_mode >= DIRTY_AUTO && o->dirty_mode <= DIRTY_PML);
    if (vm->migration != VM_MIG_NONE) {
        snprintf(err, errlen, "vm %s is migrating already", vm->name);
        return -EBUSY;
    }
    if (vm->disk[0] && !o->storage_copy) {
        snprintf(err, errlen, "vm %s has a local disk (storage=copy moves it)", vm->name);
        return -EINVAL;
    }
    vm->migration = VM_MIG_OUT;
    mig_left[vm - fvm] = MIG_PASSES;
    return 0;
}

int mig_cancel(struct vm *vm)
{
    FCHECK(listed(vm));
    if (vm->migration != VM_MIG_OUT)
        return -ENOENT;
    vm->migration = VM_MIG_NONE;
    return 0;
}

int mig_set_downtime(struct vm *vm, uint32_t downtime_ms)
{
    FCHECK(listed(vm));
    FCHECK(downtime_ms >= 1 && downtime_ms <= 60000);
    return vm->migration == VM_MIG_OUT ? 0 : -ENOENT;
}

void mig_inject(enum mig_fault f, unsigned hold_s)
{
    FCHECK(f >= MIGRATE_FAULT_NONE && f <= MIGRATE_FAULT_HOLD_ACCEPT);
    FCHECK(hold_s >= 1 && hold_s <= MIG_HOLD_MAX_S);
}

void mig_key_generate(char out[65], bool *weak)
{
    for (unsigned i = 0; i < 64; i++)
        out[i] = "0123456789abcdef"[(i * 7 + keys_made) & 15];
    out[64] = 0;
    *weak = keys_made++ & 1;
}

void mig_status(void (*out)(void *ctx, const char *line), void *ctx)
{
    char line[96];
    unsigned n = 0;
    for (unsigned i = 0; i < FVM_MAX; i++)
        if (fvm[i].state != VM_EMPTY && fvm[i].migration == VM_MIG_OUT) {
            snprintf(line, sizeof(line), "migrate: vm=%s state=precopy round=%u", fvm[i].name,
                     ++n);
            out(ctx, line);
        }
    if (!n)
        out(ctx, "migrate: none under way");
}

void mig_poll(void)
{
    for (unsigned i = 0; i < FVM_MAX; i++)
        if (fvm[i].state != VM_EMPTY && fvm[i].migration == VM_MIG_OUT && mig_left[i])
            mig_left[i]--;
}

/* A migration that completed: the VM now runs at the target and leaves this host. */
bool mig_message(char *buf, size_t n)
{
    for (unsigned i = 0; i < FVM_MAX; i++)
        if (fvm[i].state != VM_EMPTY && fvm[i].migration == VM_MIG_OUT && !mig_left[i]) {
            snprintf(buf, n, "migrate: vm=%s done, it runs at the target", fvm[i].name);
            fvm[i].state = VM_EMPTY;
            fmgmt_messages++;
            return true;
        }
    return false;
}

void mig_progress(char *buf, size_t n)
{
    if (n)
        buf[0] = 0;
}

void mgmt_nic_poll(void)
{
}
