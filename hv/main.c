/*
 * Boot of the core, in dependency order: serial first (so everything after
 * can report), descriptor tables, ACPI (needed to know NUMA nodes before
 * the allocator), frames, own page tables, config, clock, CPUs, network
 * stack; then the BSP becomes the control plane.
 */
#include <string.h>

#include "arch/x86_64/backend.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/lapic.h"
#include "arch/x86_64/mmu.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/smp.h"
#include "arch/x86_64/tsc.h"
#include "drivers/uart.h"
#include "hv/base/config.h"
#include "hv/console/control.h"
#include "hv/host.h"
#include "hv/base/civil.h"
#include "hv/base/log.h"
#include "hv/base/mem.h"
#include "hv/mgmt/mgmt_disk.h"
#include "hv/mgmt/mgmt_nic.h"
#include "hv/mig/mig.h"
#include "hv/vm/sched.h"
#include "hv/base/time.h"
#include "hv/base/version.h"
#include "drivers/nic.h"
#include "drivers/pci.h"
#include "net/bench.h"
#include "net/net.h"
#include "net/netdev.h"
#include "net/vswitch.h"

struct host host;
const struct vcpu_ops *hv_ops;

static void serial_out(const char *s, size_t n) { uart_write(s, n); }

/* Only the control plane writes log lines to the console, and only between commands. */
static bool serial_out_now(void)
{
    return rdmsr(MSR_GS_BASE) == (uint64_t)&cpus[0] && control_console_idle();
}

static const void *acpi_map(uint64_t phys, size_t len, void *ctx)
{
    const struct boot_info *bi = ctx;
    /* Only what the firmware map calls memory (any type) or below 4 GiB is in the direct map. */
    (void)bi;
    if (phys + len < phys || phys + len > (1ull << 46))
        return NULL;
    return phys_to_virt(phys);
}

static void print_loader_log(const struct boot_info *bi)
{
    const char *s = bi->loader_log;
    while (*s) {
        const char *e = strchr(s, '\n');
        if (!e)
            e = s + strlen(s);
        log_info("boot", "%.*s", (int)(e - s), s);
        s = *e ? e + 1 : e;
    }
}

static void setup_cpus(const struct boot_info *bi)
{
    uint32_t bsp = lapic_id();
    cpus[0].apic_id = bsp;
    cpu_count = 1;
    host.cpu_source = "bsp only";
    if (host.have_acpi && host.acpi.have_madt && host.acpi.ncpus) {
        host.cpu_source = "acpi madt";
        for (unsigned i = 0; i < host.acpi.ncpus && cpu_count < MAX_CPUS; i++)
            if (host.acpi.cpus[i].apic_id != bsp)
                cpus[cpu_count++].apic_id = host.acpi.cpus[i].apic_id;
    } else if (bi->cpu_source == BOOT_CPUS_EFI_MP && bi->ncpus) {
        host.cpu_source = "efi mp services";
        for (unsigned i = 0; i < bi->ncpus && cpu_count < MAX_CPUS; i++)
            if (bi->cpu_apic_ids[i] != bsp)
                cpus[cpu_count++].apic_id = bi->cpu_apic_ids[i];
    }
    for (unsigned i = 0; i < cpu_count; i++) {
        cpus[i].index = i;
        cpus[i].node = host.have_acpi ? acpi_node_of_apic(&host.acpi, cpus[i].apic_id) : 0;
    }
}

static void setup_memory(const struct boot_info *bi)
{
    static struct frame_node_range ranges[ACPI_MAX_MEM];
    unsigned nr = 0, nnodes = 1;

    if (host.have_acpi && host.acpi.have_srat) {
        for (unsigned i = 0; i < host.acpi.nmem; i++)
            ranges[nr++] = (struct frame_node_range){ host.acpi.mem[i].base,
                host.acpi.mem[i].base + host.acpi.mem[i].length, host.acpi.mem[i].node };
        nnodes = host.acpi.nnodes;
    }
    if (nnodes > FRAME_MAX_NODES)
        nnodes = FRAME_MAX_NODES;
    if (frame_init(bi->regions, bi->nregions, ranges, nr, nnodes, phys_to_virt))
        panic("no usable memory in the firmware memory map");
    host.cr3 = mmu_init(bi);
    if (!host.cr3)
        panic("out of memory building the core page tables");
}

static void load_config(const struct boot_info *bi)
{
    config_defaults(&hv_config);
    if (bi->config_phys) {
        int problems = config_parse(phys_to_virt(bi->config_phys), bi->config_size, &hv_config);
        log_info("config", "ferry.cfg read (%llu bytes, %d problem%s)",
                 (unsigned long long)bi->config_size, problems, problems == 1 ? "" : "s");
    }
    log_set_level(hv_config.log_level);
    if (hv_config.serial_baud != 115200)
        uart_init(UART_COM1, hv_config.serial_baud);
}

static void setup_network(void)
{
    pci_init(host.have_acpi ? &host.acpi : NULL);
    nic_probe_all();
    net_init();
    netdev_attach_all();
    vm_set_net_hooks(&mgmt_nic_hooks);  /* guest NICs join virtual switches (net/vswitch.h) */
    vm_set_disk_hooks(&mgmt_disk_hooks);    /* disk=nbd://... (net/nbd.h) */
    if (net_bench_listen())
        log_warn("net", "cannot listen on TCP %d for net bench", NET_BENCH_PORT);
    if (hv_config.ip[0] && netdev_count() &&
        netdev_configure(netdev_get(0), hv_config.ip, hv_config.gateway[0] ? hv_config.gateway : NULL))
        log_warn("net", "%s: cannot apply ip=%s", netdev_get(0)->name, hv_config.ip);
    else if (hv_config.ip[0] && !netdev_count())
        log_warn("net", "ip=%s in ferry.cfg, but there is no network interface", hv_config.ip);
    for (unsigned i = 0; i < hv_config.nswitches; i++) {   /* switch=NAME:IF, after ip= */
        char err[96];
        const struct config_switch *cs = &hv_config.switches[i];
        if (vsw_create(cs->name, cs->uplink, err, sizeof(err)))
            log_warn("vsw", "ferry.cfg switch=%s:%s: %s", cs->name, cs->uplink, err);
    }
    mig_init();
}

/* The firmware's time of day (for the guests' RTCs), in UTC: local = UTC - zone (UEFI). */
static void setup_wall_clock(const struct boot_info *bi)
{
    if (!bi->time_year) {
        log_warn("time", "the firmware has no clock: guests' RTCs start at 1970");
        return;
    }
    struct civil_time t = { bi->time_year, bi->time_month, bi->time_day, bi->time_hour,
                            bi->time_minute, bi->time_second, 0 };
    int64_t s = civil_to_unix(&t) + (bi->time_zone != 2047 ? bi->time_zone * 60 : 0);
    time_set_wall(s, bi->time_tsc);
    log_info("time", "firmware clock %04u-%02u-%02u %02u:%02u:%02u (zone %d)", bi->time_year,
             bi->time_month, bi->time_day, bi->time_hour, bi->time_minute, bi->time_second,
             bi->time_zone);
}

void hv_main(const struct boot_info *bi)
{
    uart_init(UART_COM1, 115200);
    log_set_output(serial_out, serial_out_now);
    log_set_halt(cpu_halt_forever);
    cpus[0].index = 0;
    cpus[0].online = 1;
    cpu_setup(&cpus[0]);
    log_emergency("\nferry %s starting\n", FERRY_VERSION);
    if (bi->magic != BOOT_INFO_MAGIC || bi->version != BOOT_INFO_VERSION ||
        bi->size != sizeof(*bi))
        panic("boot info mismatch (loader and core from different builds?)");
    host.bi = bi;
    print_loader_log(bi);
    if (bi->regions_dropped)
        log_warn("boot", "%u memory map entries did not fit and are unused", bi->regions_dropped);

    host.have_acpi = bi->rsdp_phys &&
                     acpi_parse(bi->rsdp_phys, acpi_map, (void *)bi, &host.acpi) == 0;
    if (!host.have_acpi)
        log_info("acpi", "no ACPI tables: CPUs from EFI MP services, one NUMA node");
    host.tsc_source = tsc_calibrate(host.have_acpi ? host.acpi.pm_tmr_port : 0,
                                    host.have_acpi && host.acpi.pm_tmr_32bit);
    log_info("time", "tsc %llu kHz (calibrated against %s)",
             (unsigned long long)time_tsc_khz(), host.tsc_source);
    setup_wall_clock(bi);
    setup_memory(bi);
    load_config(bi);
    lapic_init();
    setup_cpus(bi);
    virt_caps_probe(&host.virt);
    unsigned up = smp_boot_aps(bi, host.cr3);
    log_info("smp", "%u of %u cpus online (%s)", up, cpu_count, host.cpu_source);
    hv_ops = arch_select_backend(&host.virt);
    lapic_timer_calibrate();
    if (hv_ops) {
        sched_start();
        log_info("virt", "%s backend, guests run on cpus 1-%u", hv_ops->name, cpu_count - 1);
    }
    setup_network();
    hv_control_loop();
}
