/* `vm ...`: create, start, pause, resume, destroy, list, console, stats. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv/base/cmdline.h"
#include "hv/vm/dirty.h"
#include "hv/console/commands.h"
#include "hv/console/control.h"
#include "hv/base/mem.h"
#include "hv/base/time.h"
#include "hv/vm/vmctl.h"

static const char *const exit_names[EXIT_COUNT] = {
    [EXIT_NONE] = "none", [EXIT_CPUID] = "cpuid", [EXIT_IO] = "io", [EXIT_MMIO] = "mmio",
    [EXIT_MSR_READ] = "rdmsr", [EXIT_MSR_WRITE] = "wrmsr", [EXIT_HLT] = "hlt",
    [EXIT_XSETBV] = "xsetbv", [EXIT_CR] = "cr", [EXIT_EXTINT] = "extint",
    [EXIT_PREEMPT] = "timeslice", [EXIT_SHUTDOWN] = "shutdown", [EXIT_EXCEPTION] = "exception",
    [EXIT_ENTRY_FAIL] = "entry-fail", [EXIT_UNHANDLED] = "unhandled",
    [EXIT_INVALID_INSN] = "invalid-insn", [EXIT_NOP] = "nop", [EXIT_DIRTY] = "dirty",
};

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= VM_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_'))
            return false;
    return true;
}

static int parse_create(struct con *c, int argc, char **argv, struct vm_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->mem_mib = 64;
    cfg->cpus = 1;
    cfg->node = -1;
    strcpy(cfg->image, "memtest");
    strcpy(cfg->cpu, "host");
    if (argc < 3 || !valid_name(argv[2])) {
        con_puts(c, "error: a VM name is 1-31 letters, digits, '-' or '_'\n");
        return -EINVAL;
    }
    strcpy(cfg->name, argv[2]);
    for (int i = 3; i < argc; i++) {
        const char *v;
        uint64_t n;
        if ((v = cmdline_opt(argv[i], "mem")) && !cmdline_u64(v, 2, 4096, &n) && n % 2 == 0)
            cfg->mem_mib = n;
        else if ((v = cmdline_opt(argv[i], "cpus")) && !cmdline_u64(v, 1, VM_MAX_VCPUS, &n))
            cfg->cpus = n;
        else if ((v = cmdline_opt(argv[i], "node")) && !cmdline_u64(v, 0, frame_nodes() - 1, &n))
            cfg->node = (int)n;
        else if ((v = cmdline_opt(argv[i], "image")) && *v && strlen(v) < sizeof(cfg->image))
            strcpy(cfg->image, v);
        else if ((v = cmdline_opt(argv[i], "args")) && strlen(v) < sizeof(cfg->args))
            strcpy(cfg->args, v);
        else if ((v = cmdline_opt(argv[i], "cpu")) && *v && strlen(v) < sizeof(cfg->cpu))
            strcpy(cfg->cpu, v);
        else {
            con_printf(c, "error: bad option '%s' (mem=2-4096 even MiB, cpus=1-%d, node=0-%u, "
                       "image=NAME, args=\"...\", cpu=BASELINE)\n", argv[i], VM_MAX_VCPUS,
                       frame_nodes() - 1);
            return -EINVAL;
        }
    }
    return 0;
}

static void cmd_list(struct con *c)
{
    con_puts(c, "name state mem vcpus node cpus\n");
    for (unsigned i = 0; i < VM_MAX; i++) {
        struct vm *vm = &vms[i];
        if (vm->state == VM_EMPTY)
            continue;
        char nodes[32];
        vm_nodes(vm, nodes, sizeof(nodes));
        con_printf(c, "%s %s %llu %u %s ", vm->name, vm_state_name(vm->state),
                   (unsigned long long)(vm->mem_size >> 20), vm->nvcpus, nodes);
        for (unsigned j = 0; j < vm->nvcpus; j++)
            con_printf(c, j ? ",%u" : "%u", vm->vcpus[j].pcpu);
        con_puts(c, "\n");
    }
}

static void cmd_stats(struct con *c, struct vm *vm)
{
    uint64_t total[EXIT_COUNT] = { 0 }, ticks = 0, entries = 0;
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        for (unsigned r = 0; r < EXIT_COUNT; r++)
            total[r] += vm->vcpus[i].exits[r];
        ticks += vm->vcpus[i].guest_tsc_ticks;
        entries += vm->vcpus[i].entries;
    }
    con_printf(c, "vm %s: state %s entries %llu guest_ms %llu\n", vm->name,
               vm_state_name(vm->state), (unsigned long long)entries,
               (unsigned long long)(ticks / (time_tsc_khz() ? time_tsc_khz() : 1)));
    for (unsigned r = 1; r < EXIT_COUNT; r++)
        if (total[r])
            con_printf(c, "exits %s %llu\n", exit_names[r], (unsigned long long)total[r]);
    if (vm->dirty_mode != DIRTY_AUTO)
        con_printf(c, "dirty: mode=%s logging=%s\n", dirty_mode_name(vm->dirty_mode),
                   vm->dirty_on ? "on" : "off");
    if (vm->state == VM_STOPPED)
        con_printf(c, "stopped: %s\n", vm->stop_reason);
    /* What a migration must send at least: the pages that are not all zeros. */
    uint64_t pages = vm->mem_size / PAGE_SIZE, nonzero = 0;
    for (uint64_t p = 0; p < pages; p++)
        for (unsigned w = 0; w < PAGE_SIZE / 8; w++)
            if (((const uint64_t *)vm_page(vm, p))[w]) {
                nonzero++;
                break;
            }
    con_printf(c, "memory pages %llu nonzero %llu\n", (unsigned long long)pages,
               (unsigned long long)nonzero);
}

/*
 * `vm dirty NAME start [wp|ad|pml]|verify|stop`: dirty logging with a built-in oracle. start
 * snapshots guest RAM (the best mode unless one is named). verify does what a migration does
 * with the snapshot as its copy: a round while the guest runs (harvest, copy the reported
 * pages), then pause and a last round; then the copy must equal RAM. A page that differs was
 * written without being reported in time: missed (must be 0; extra dirty pages are allowed).
 */
static uint8_t *snapshots[VM_MAX];

static void snapshot_free(struct vm *vm)
{
    uint8_t **s = &snapshots[vm - vms];
    if (*s)
        frame_free(virt_to_phys(*s), vm->mem_size / PAGE_SIZE);
    *s = NULL;
}

/* Copies the pages set in bits from RAM into the snapshot; marks them in seen, and in diff
 * those whose copy was out of date. */
static void dirty_take(struct vm *vm, uint8_t *snap, const uint64_t *bits, uint64_t *seen,
                       uint64_t *diff)
{
    for (uint64_t w = 0; w < vm->mem_size / PAGE_SIZE / 64; w++) {
        seen[w] |= bits[w];
        for (uint64_t b = bits[w]; b; b &= b - 1) {
            uint64_t p = w * 64 + __builtin_ctzll(b), off = p * PAGE_SIZE;
            if (!memcmp(vm_page(vm, p), snap + off, PAGE_SIZE))
                continue;
            memcpy(snap + off, vm_page(vm, p), PAGE_SIZE);
            diff[w] |= 1ull << (p % 64);
        }
    }
}

static uint64_t popcount(const uint64_t *bits, uint64_t words)
{
    uint64_t n = 0;
    for (uint64_t w = 0; w < words; w++)
        n += __builtin_popcountll(bits[w]);
    return n;
}

static int dirty_verify(struct con *c, struct vm *vm, uint8_t *snap)
{
    char err[160];
    uint64_t pages = vm->mem_size / PAGE_SIZE, words = pages / 64, missed = 0;
    uint64_t frames = (3 * words * 8 + PAGE_SIZE - 1) / PAGE_SIZE;
    uint64_t pa = frame_alloc(vm->node, frames, 1, FRAME_ZERO);
    bool was_running = vm->state == VM_RUNNING;
    if (!pa) {
        con_puts(c, "error: no memory for the dirty check\n");
        return -ENOMEM;
    }
    uint64_t *bits = phys_to_virt(pa), *seen = bits + words, *diff = seen + words;
    if (was_running) {                  /* the guest writes on while its pages are copied */
        vm_dirty_harvest(vm, bits);
        dirty_take(vm, snap, bits, seen, diff);
        if (vm_pause(vm, err, sizeof(err))) {
            con_printf(c, "error: %s\n", err);
            frame_free(pa, frames);
            return -EIO;
        }
    }
    vm_dirty_harvest(vm, bits);
    dirty_take(vm, snap, bits, seen, diff);
    for (uint64_t p = 0; p < pages; p++) {
        if (!memcmp(vm_page(vm, p), snap + p * PAGE_SIZE, PAGE_SIZE))
            continue;
        missed++;
        diff[p / 64] |= 1ull << (p % 64);
        memcpy(snap + p * PAGE_SIZE, vm_page(vm, p), PAGE_SIZE);
    }
    con_printf(c, "dirty: vm=%s pages=%llu changed=%llu dirty=%llu missed=%llu\n", vm->name,
               (unsigned long long)pages, (unsigned long long)popcount(diff, words),
               (unsigned long long)popcount(seen, words), (unsigned long long)missed);
    if (was_running)
        vm_resume(vm, err, sizeof(err));
    frame_free(pa, frames);
    return missed ? -EIO : 0;
}

/* Starts logging in mode and snapshots RAM (the VM is paused). */
static int dirty_start(struct con *c, struct vm *vm, enum dirty_mode mode)
{
    uint64_t pa = frame_alloc(vm->node, vm->mem_size / PAGE_SIZE, 1, 0);
    int rc = pa ? vm_dirty_start(vm, mode) : -ENOMEM;
    if (rc) {
        if (pa)
            frame_free(pa, vm->mem_size / PAGE_SIZE);
        if (rc == -ENOTSUP) {
            unsigned m = vm_dirty_modes();
            con_printf(c, "error: dirty mode '%s' is not available on this CPU (offered:%s%s%s)\n",
                       dirty_mode_name(mode), m & DIRTY_MODE_BIT(DIRTY_WP) ? " wp" : "",
                       m & DIRTY_MODE_BIT(DIRTY_AD) ? " ad" : "",
                       m & DIRTY_MODE_BIT(DIRTY_PML) ? " pml" : "");
        } else {
            con_printf(c, "error: cannot start dirty logging (%d)\n", rc);
        }
        return rc;
    }
    snapshots[vm - vms] = phys_to_virt(pa);
    for (uint64_t p = 0; p < vm->mem_size / PAGE_SIZE; p++)
        memcpy(snapshots[vm - vms] + p * PAGE_SIZE, vm_page(vm, p), PAGE_SIZE);
    con_printf(c, "vm %s: ok mode=%s\n", vm->name, dirty_mode_name(vm->dirty_mode));
    return 0;
}

static int cmd_dirty(struct con *c, struct vm *vm, const char *op, const char *mode_arg)
{
    char err[160];
    uint8_t **snap = &snapshots[vm - vms];
    bool was_running = vm->state == VM_RUNNING;
    enum dirty_mode mode = DIRTY_AUTO;
    int rc = 0;
    if ((strcmp(op, "start") && strcmp(op, "verify") && strcmp(op, "stop")) ||
        (mode_arg && strcmp(op, "start"))) {
        con_usage(c, cmd_find("vm"));
        return -EINVAL;
    }
    if (mode_arg && (dirty_mode_parse(mode_arg, &mode) || mode == DIRTY_AUTO)) {
        con_printf(c, "error: bad dirty mode '%s' (wp, ad or pml)\n", mode_arg);
        return -EINVAL;
    }
    if (!strcmp(op, "stop")) {
        vm_dirty_stop(vm);
        snapshot_free(vm);
        con_printf(c, "vm %s: ok\n", vm->name);
        return 0;
    }
    if (!strcmp(op, "start") == !!vm->dirty_on || vm->state == VM_STOPPED) {
        con_printf(c, "error: dirty logging is %s for vm %s\n", vm->dirty_on ? "on" : "off",
                   vm->name);
        return -EINVAL;
    }
    if (!strcmp(op, "verify"))
        return dirty_verify(c, vm, *snap);
    if (was_running && vm_pause(vm, err, sizeof(err))) {
        con_printf(c, "error: %s\n", err);
        return -EIO;
    }
    rc = dirty_start(c, vm, mode);
    if (was_running)
        vm_resume(vm, err, sizeof(err));
    return rc;
}

int cmd_vm(struct con *c, int argc, char **argv)
{
    char err[160] = "";
    int rc;
    if (argc == 2 && !strcmp(argv[1], "list")) {
        cmd_list(c);
        return 0;
    }
    if (argc >= 3 && !strcmp(argv[1], "create")) {
        struct vm_config cfg;
        if ((rc = parse_create(c, argc, argv, &cfg)))
            return rc;
        rc = vm_create(&cfg, err, sizeof(err));
        goto out;
    }
    if ((argc == 4 || argc == 5) && !strcmp(argv[1], "dirty")) {
        struct vm *vm = vm_find(argv[2]);
        if (!vm) {
            con_printf(c, "error: no VM named '%s'\n", argv[2]);
            return -ENOENT;
        }
        if (vm->migration != VM_MIG_NONE) {
            con_printf(c, "error: vm %s is migrating; its dirty log belongs to the migration\n",
                       vm->name);
            return -EBUSY;
        }
        return cmd_dirty(c, vm, argv[3], argc == 5 ? argv[4] : NULL);
    }
    if (argc != 3) {
        con_usage(c, cmd_find("vm"));
        return -EINVAL;
    }
    struct vm *vm = vm_find(argv[2]);
    if (!vm) {
        con_printf(c, "error: no VM named '%s'\n", argv[2]);
        return -ENOENT;
    }
    if (vm->migration != VM_MIG_NONE && strcmp(argv[1], "stats") && strcmp(argv[1], "console")) {
        con_printf(c, "error: vm %s is migrating %s%s\n", vm->name,
                   vm->migration == VM_MIG_OUT ? "out (migrate cancel " : "in",
                   vm->migration == VM_MIG_OUT ? "it first)" : "");
        return -EBUSY;
    }
    if (!strcmp(argv[1], "start"))
        rc = vm_start(vm, err, sizeof(err));
    else if (!strcmp(argv[1], "pause"))
        rc = vm_pause(vm, err, sizeof(err));
    else if (!strcmp(argv[1], "resume"))
        rc = vm_resume(vm, err, sizeof(err));
    else if (!strcmp(argv[1], "destroy")) {
        snapshot_free(vm);
        rc = vm_destroy(vm, err, sizeof(err));
    }
    else if (!strcmp(argv[1], "stats")) {
        cmd_stats(c, vm);
        return 0;
    } else if (!strcmp(argv[1], "console")) {
        con_printf(c, "attached to %s; Ctrl-] detaches\n", vm->name);
        control_attach(vm);
        return 0;
    } else {
        con_usage(c, cmd_find("vm"));
        return -EINVAL;
    }
out:
    if (rc)
        con_printf(c, "error: %s\n", err);
    else
        con_printf(c, "vm %s: ok\n", argv[2]);
    return rc;
}
