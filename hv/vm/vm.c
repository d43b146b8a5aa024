/*
 * VM lifecycle for the control plane: create (memory on one node, image,
 * boot structures, devices, second-level tables, vCPUs placed on APs),
 * start, pause, resume, destroy. Nothing is half-created: any failure
 * undoes what was done and says why.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/fpu.h"
#include "hv/base/config.h"
#include "hv/cpu/cpu_baseline.h"
#include "hv/dev/machine.h"
#include "hv/dev/dev_ids.h"
#include "hv/dev/vvirtio_blk.h"
#include "hv/dev/vvirtio_net.h"
#include "hv/vm/guest_boot.h"
#include "hv/vm/intr.h"
#include "hv/host.h"
#include "hv/base/log.h"
#include "hv/base/mem.h"
#include "hv/vm/numa.h"
#include "hv/vm/sched.h"
#include "hv/base/time.h"
#include "hv/vm/vcpu_ops.h"
#include "hv/vm/vmctl.h"

extern const uint8_t builtin_memtest_start[], builtin_memtest_end[];

/* QEMU's TCG says so at 0x40000000 ("TCGTCGTCGTCG"). */
static bool host_is_qemu_tcg(void)
{
    if (!(cpuid(1, 0).ecx & (1u << 31)))
        return false;
    struct cpuid_regs r = cpuid(0x40000000, 0);
    return r.ebx == 0x54474354 && r.ecx == 0x43544743 && r.edx == 0x47435447;
}

static struct cpuid_out host_cpuid(uint32_t leaf, uint32_t sub, void *ctx)
{
    (void)ctx;
    struct cpuid_regs r = cpuid(leaf, sub);
    /* QEMU 7.2's TCG walks a 5-level guest's page tables wrong under nested paging (Debian's
     * kernel triple-faults as it moves to its per-CPU areas; with no5lvl it boots): guests of
     * an emulated host get 4-level paging. */
    if (leaf == 7 && sub == 0 && host_is_qemu_tcg())
        r.ecx &= ~(1u << 16);
    /* A state component the CPU lists in XCR0's mask but does not describe (sub-leaf size 0:
     * Bochs 2.7 lists PKRU so) is not offered: Linux would find its XSAVE layout broken. */
    if (leaf == 0xd && sub == 0)
        for (unsigned i = 2; i < 32; i++)
            if ((r.eax >> i & 1) && !cpuid(0xd, i).eax)
                r.eax &= ~(1u << i);
    if (leaf == 7 && sub == 0 && (cpuid(0xd, 0).eax & (1u << 9)) && !cpuid(0xd, 9).eax)
        r.ecx &= ~(3u << 3);            /* PKU and OSPKE go with their state (PKRU) */
    return (struct cpuid_out){ r.eax, r.ebx, r.ecx, r.edx };
}

int vm_host_policy(struct cpu_policy *p)
{
    int rc = cpu_policy_from_host(p, host_cpuid, NULL);

    /* The CPUID bit says the MSR exists (SDM Vol. 4 2.1). */
    if (!rc && cpu_policy_has(p, CPU_FEAT_ARCH_CAPABILITIES))
        cpu_policy_set_arch_caps(p, rdmsr(MSR_IA32_ARCH_CAPABILITIES));
    return rc;
}

static int find_image(const char *name, const void **img, size_t *len)
{
    if (!strcmp(name, "memtest")) {
        *img = builtin_memtest_start;
        *len = builtin_memtest_end - builtin_memtest_start;
        return 0;
    }
    for (uint32_t i = 0; i < host.bi->nmodules; i++)
        if (!strcmp(host.bi->modules[i].name, name)) {
            *img = phys_to_virt(host.bi->modules[i].phys);
            *len = host.bi->modules[i].size;
            return 0;
        }
    return -ENOENT;
}

static const struct vm_net_hooks *net_hooks;     /* vm_set_net_hooks */
static const struct vm_disk_hooks *disk_hooks;   /* vm_set_disk_hooks */

void vm_set_disk_hooks(const struct vm_disk_hooks *h) { disk_hooks = h; }
const struct vm_disk_hooks *vm_disk_hooks(void) { return disk_hooks; }

static void free_vm(struct vm *vm)
{
    if (vm->dirty_bitmap) {
        frame_free(virt_to_phys(vm->dirty_bitmap), vm->dirty_bitmap_pages);
        vm->dirty_bitmap = NULL;
    }
    if (vm->arch)
        hv_ops->vm_destroy(vm);
    /* Off the switches first: no frame reaches a device about to go. */
    for (unsigned i = 0; i < vm->nnics; i++)
        if (vm->nics[i].port && net_hooks) {
            net_hooks->detach(&vm->nics[i]);
            vm->nics[i].port = NULL;
        }
    /* A network disk's connection goes before its device: no completion reaches it after. */
    if (vm->disk_net && disk_hooks) {
        disk_hooks->close(vm->disk_net);
        vm->disk_net = NULL;
    }
    dev_set_destroy(&vm->devs);
    if (vm->disk_pages)
        frame_free(vm->disk_hpa, vm->disk_pages);
    for (unsigned i = 0; i < vm->nvcpus; i++)
        if (vm->vcpus[i].xsave)
            frame_free(virt_to_phys(vm->vcpus[i].xsave),
                       (fpu_area_size() + PAGE_SIZE - 1) / PAGE_SIZE);
    for (unsigned i = 0; i < vm->nchunks; i++)
        frame_free(vm->chunks[i].hpa, vm->chunks[i].size / PAGE_SIZE);
    memset(vm, 0, sizeof(*vm));
}

/*
 * disk=: a virtio-blk on a private copy of an image from the boot volume, held in host memory
 * on the VM's node (the file itself stays as it was: writes live as long as the VM, through
 * guest reboots, and go with it).
 */
/* disk=nbd://...: a virtio-blk whose requests go to network storage (vm_disk_hooks); the
 * connection is open already (cfg->disk_net) or opened here. */
static int add_net_disk(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen)
{
    static struct vvirtio_blk_cfg c;    /* copied by the device (the backend too) */
    struct vblk_backend be;
    uint64_t sectors = cfg->disk_sectors;
    int rc;
    if (!disk_hooks) {
        snprintf(err, errlen, "this build has no network disks");
        return -ENODEV;
    }
    /* vm->disk_net: the migration's open handle (vm_create took it), else opened here;
     * free_vm closes it either way. */
    if (!vm->disk_net && (rc = disk_hooks->open(cfg->disk, &vm->disk_net, &sectors, err,
                                                errlen)))
        return rc;
    strncpy(vm->disk, cfg->disk, sizeof(vm->disk) - 1);
    vm->disk_sectors = sectors;
    memset(&c, 0, sizeof(c));
    memset(&be, 0, sizeof(be));
    disk_hooks->bind(vm->disk_net, vm, NULL, &be);     /* the backend; the device comes next */
    c.backend = &be;
    c.sectors = sectors;
    snprintf(c.id, sizeof(c.id), "ferry-nbd");
    snprintf(c.where, sizeof(c.where), "%s", cfg->disk);
    if ((rc = dev_add(&vm->devs, &vvirtio_blk_type, 0, &c, err, errlen)))
        return rc;
    disk_hooks->bind(vm->disk_net, vm, dev_find(&vm->devs, DEV_ID_VIRTIO_BLK, 0), &be);
    return 0;
}

static int add_disk(struct vm *vm, const char *name, uint64_t blank_sectors, char *err,
                    size_t errlen)
{
    const void *img = NULL;
    size_t len = blank_sectors * VBLK_SECTOR;
    if (blank_sectors && blank_sectors > (1ull << 40) / VBLK_SECTOR) {
        snprintf(err, errlen, "disk '%s' of %llu sectors: larger than 1 TiB", name,
                 (unsigned long long)blank_sectors);
        return -E2BIG;
    }
    if (!blank_sectors && (find_image(name, &img, &len) || !strcmp(name, "memtest"))) {
        snprintf(err, errlen, "no disk image '%s' in \\images\\ on the boot volume", name);
        return -ENOENT;
    }
    if (!len || len % VBLK_SECTOR) {
        snprintf(err, errlen, "disk image '%s' is %llu bytes: not a whole number of %u-byte "
                 "sectors", name, (unsigned long long)len, VBLK_SECTOR);
        return -EINVAL;
    }
    uint64_t pages = (len + PAGE_SIZE - 1) / PAGE_SIZE;
    uint64_t pa = frame_alloc(vm->node, pages, 1, FRAME_ZERO);
    if (!pa) {
        snprintf(err, errlen, "no %llu KiB of host memory for disk '%s'",
                 (unsigned long long)(pages * 4), name);
        return -ENOMEM;
    }
    vm->disk_hpa = pa;
    vm->disk_pages = pages;
    vm->disk_sectors = len / VBLK_SECTOR;
    strncpy(vm->disk, name, sizeof(vm->disk) - 1);
    if (img)
        memcpy(phys_to_virt(pa), img, len);
    struct vvirtio_blk_cfg c = { .data = phys_to_virt(pa), .sectors = len / VBLK_SECTOR };
    snprintf(c.id, sizeof(c.id), "ferry-%s", name);
    snprintf(c.where, sizeof(c.where), "%s", name);
    return dev_add(&vm->devs, &vvirtio_blk_type, 0, &c, err, errlen);
}

/* A vCPU's power-on state: a kernel='s BSP at its entry and its APs waiting for a SIPI (the
 * kernel starts them), or every vCPU of an image= guest at its entry. */
static void boot_state(struct vm *vm, struct vcpu *v, uint64_t entry)
{
    if ((vm->linux_guest || vm->mb_guest) && v->index)
        guest_boot_init_state(&v->init);
    else if (vm->linux_guest)
        linux_boot_state(&vm->linux_boot, &v->init);
    else if (vm->mb_guest)
        mb_boot_state(&vm->mb_boot, &v->init);
    else
        guest_boot_state(&v->init, entry, v->index);
    vcpu_init_loaded(v);
}

static int setup_vcpus(struct vm *vm, uint64_t entry, char *err, size_t errlen)
{
    size_t xpages = (fpu_area_size() + PAGE_SIZE - 1) / PAGE_SIZE;
    unsigned taken[VM_MAX_VCPUS];
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        struct vcpu *v = &vm->vcpus[i];
        v->vm = vm;
        v->index = i;
        v->pcpu = taken[i] = sched_pick_cpu(vm->node, taken, i);
        if (!v->pcpu) {
            snprintf(err, errlen, "no CPU can run guests (need an AP with %s)",
                     hv_ops ? hv_ops->name : "VT-x or AMD-V");
            return -ENODEV;
        }
        boot_state(vm, v, entry);
        v->xcr0 = v->init.xcr0;
        if (xpages) {
            uint64_t pa = frame_alloc(vm->node, xpages, 1, 0);
            if (!pa) {
                snprintf(err, errlen, "out of memory for vcpu state");
                return -ENOMEM;
            }
            v->xsave = phys_to_virt(pa);
            fpu_area_init(v->xsave);
        }
        v->request = VCPU_REQ_PAUSE;        /* created paused: `vm start` releases it */
    }
    return 0;
}

/* The VM's CPU policy: the given one, or the host's cut down to the baseline in cfg->cpu. */
static int setup_policy(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen)
{
    const char *name = cfg->cpu[0] ? cfg->cpu : CPU_BASELINE_HOST;
    char missing[96];                   /* err is 160: room for the words around it */
    int rc;

    if (cfg->policy) {
        vm->policy = *cfg->policy;
        return 0;
    }
    if ((rc = vm_host_policy(&vm->policy))) {
        snprintf(err, errlen, "this host's CPUID does not fit a CPU policy (%d)", rc);
        return rc;
    }
    rc = cpu_policy_apply_baseline(&vm->policy, name, missing, sizeof(missing));
    if (rc == -ENOENT)
        snprintf(err, errlen, "no CPU baseline '%s' (see cpu baselines)", name);
    else if (rc == -ENODATA)
        snprintf(err, errlen, "the cluster CPU baseline is not set (cpu baseline set cluster)");
    else if (rc == -ENOTSUP)
        snprintf(err, errlen, "this host cannot run CPU baseline %s: missing=%s", name, missing);
    else if (rc)
        snprintf(err, errlen, "cannot apply CPU baseline %s (%d)", name, rc);
    return rc;
}

static int load_guest(struct vm *vm, const char *image, char *err, size_t errlen, uint64_t *entry)
{
    const void *img;
    size_t len;
    if (find_image(image, &img, &len)) {
        snprintf(err, errlen, "no image '%s' (built in: memtest; files in \\images\\ on the "
                 "boot volume)", image);
        return -ENOENT;
    }
    /* The image and the boot structures go to the first chunk (its node holds the vCPUs). */
    uint8_t *ram = phys_to_virt(vm->chunks[0].hpa);
    int rc = guest_image_load(img, len, ram, vm->chunks[0].size, entry, err, errlen);
    if (rc)
        return rc;
    rc = guest_boot_setup(ram, vm->mem_size, vm->nvcpus, vm->cmdline);
    if (rc)
        snprintf(err, errlen, "cannot set up the guest's boot structures (%d)", rc);
    return rc;
}

/* module=A,B,...: the Multiboot modules, each found on the boot volume. */
static int find_modules(const char *list, struct mb_module *m, char names[][48], unsigned *n,
                        char *err, size_t errlen)
{
    *n = 0;
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (*n == MB_MAX_MODULES) {
            snprintf(err, errlen, "module=: at most %d modules", MB_MAX_MODULES);
            return -E2BIG;
        }
        if (!l || l >= 48) {
            snprintf(err, errlen, "module=: an empty or too long name in '%s'", list);
            return -EINVAL;
        }
        memcpy(names[*n], p, l);
        names[*n][l] = 0;
        const void *data;
        if (find_image(names[*n], &data, &m[*n].len)) {
            snprintf(err, errlen, "no module '%s' in \\images\\ on the boot volume", names[*n]);
            return -ENOENT;
        }
        m[*n].data = data;
        m[*n].name = names[*n];
        (*n)++;
        p += l + (e ? 1 : 0);
    }
    return 0;
}

/* Is k a bzImage (the setup header's "HdrS")? Else it may be a Multiboot kernel. */
static bool is_bzimage(const uint8_t *k, size_t len)
{
    return len >= 0x206 && !memcmp(k + 0x202, "HdrS", 4);
}

/*
 * kernel=: a Linux bzImage through the 64-bit boot protocol with initrd= (linux_boot.h), or a
 * Multiboot kernel with module= (multiboot.h). vCPU 0 enters the kernel, the others wait for
 * the kernel's INIT/SIPI; both find the machine's ACPI tables in the BIOS area.
 */
static int load_kernel(struct vm *vm, const char *kernel, const char *initrd, const char *modules,
                       char *err, size_t errlen)
{
    const void *k, *rd = NULL;
    size_t klen, rdlen = 0;
    uint8_t *ram = phys_to_virt(vm->chunks[0].hpa);
    int rc;
    if (find_image(kernel, &k, &klen)) {
        snprintf(err, errlen, "no kernel '%s' in \\images\\ on the boot volume", kernel);
        return -ENOENT;
    }
    struct mb_header mbh;
    char ignored[8];
    if (!is_bzimage(k, klen) && mb_parse(k, klen, &mbh, ignored, sizeof(ignored)) != -ENOENT) {
        if (initrd[0]) {
            snprintf(err, errlen, "initrd= is for Linux: a Multiboot kernel takes module=");
            return -EINVAL;
        }
        struct mb_module mods[MB_MAX_MODULES];
        char names[MB_MAX_MODULES][48];
        unsigned nmods;
        if ((rc = find_modules(modules, mods, names, &nmods, err, errlen)))
            return rc;
        rc = mb_load(k, klen, kernel, mods, nmods, vm->cmdline, ram, vm->chunks[0].size,
                     vm->mem_size, &vm->mb_boot, err, errlen);
        if (rc)
            return rc;
        vm->mb_guest = true;
    } else {
        if (modules[0]) {
            snprintf(err, errlen, "module= is for Multiboot kernels: Linux takes initrd=");
            return -EINVAL;
        }
        if (initrd[0] && find_image(initrd, &rd, &rdlen)) {
            snprintf(err, errlen, "no initrd '%s' in \\images\\ on the boot volume", initrd);
            return -ENOENT;
        }
        rc = linux_load(k, klen, rd, rdlen, vm->cmdline, ram, vm->chunks[0].size, vm->mem_size,
                        &vm->linux_boot, err, errlen);
        if (rc == -ENOEXEC && !is_bzimage(k, klen))
            snprintf(err, errlen, "kernel: not a bzImage (no HdrS setup header) and not a "
                     "Multiboot kernel (no header in its first 8 KiB)");
        if (rc)
            return rc;
        vm->linux_guest = true;
    }
    /* The machine's ACPI tables in the BIOS area (reserved in the e820 map). */
    struct acpi_machine am;
    machine_ferry_min_acpi(vm->nvcpus, &am);
    long n = acpi_tables_build(&am, ram + ACPI_TABLES_GPA, ACPI_TABLES_GPA, ACPI_TABLES_MAX);
    if (n < 0) {
        snprintf(err, errlen, "ACPI tables for %u vCPUs do not fit in %u bytes", vm->nvcpus,
                 ACPI_TABLES_MAX);
        return (int)n;
    }
    if (vm->linux_guest)
        linux_set_acpi_rsdp(ram, ACPI_TABLES_GPA);
    return 0;
}

/* debug-exit, ACPI S5: runs on the vCPU's CPU; the control plane reports it (vm_exit_event). */
static bool guest_ended(struct vm *vm, uint32_t code, bool power_off)
{
    spin_lock(&vm->lock);
    bool first = !vm->exited && vm->state != VM_STOPPED;
    if (first) {
        vm->exit_code = code;
        vm->powered_off = power_off;
        __atomic_store_n(&vm->exited, true, __ATOMIC_RELEASE);
    }
    spin_unlock(&vm->lock);
    return first;
}

static void vm_guest_exit(void *ctx, uint32_t code)
{
    struct vm *vm = ctx;
    if (guest_ended(vm, code, false))
        vm_stop(vm, "guest exited code=%u", code);
}

static void vm_guest_power_off(void *ctx)
{
    struct vm *vm = ctx;
    if (guest_ended(vm, 0, true))
        vm_stop(vm, "guest powered off (ACPI S5)");
}

static void request_all(struct vm *vm, uint32_t set, uint32_t clear);

/* The reset line (8042, 0xCF9): on a vCPU's CPU. Every vCPU stops at its next exit (a PC's
 * CPUs stop at once); the control plane does the rest (vm_reset_event). */
static void vm_guest_reset(void *ctx)
{
    struct vm *vm = ctx;
    __atomic_store_n(&vm->reset_pending, true, __ATOMIC_RELEASE);
    request_all(vm, VCPU_REQ_PAUSE, 0);
}

static uint64_t vm_wall_ns(void *ctx)
{
    (void)ctx;
    return time_wall_ns();
}

/* A device's DMA into guest RAM: a write is logged dirty page by page, as a guest store would
 * be by the hardware, so a migration under way sends those pages again. */
static void *vm_guest_map(void *ctx, uint64_t gpa, uint64_t len, bool write)
{
    struct vm *vm = ctx;
    void *p = vm_gpa_to_hva(vm, gpa, len);
    if (p && write)
        for (uint64_t a = gpa & ~0xfffull; a < gpa + len; a += 4096)
            vm_dirty_log(vm, a);
    return p;
}

void vm_set_net_hooks(const struct vm_net_hooks *h) { net_hooks = h; }

static int vm_net_tx(void *ctx, unsigned nic, const void *frame, size_t len)
{
    struct vm *vm = ctx;
    if (nic >= vm->nnics || !vm->nics[nic].port || !net_hooks)
        return -ENODEV;
    return net_hooks->send(&vm->nics[nic], frame, len);
}

int vm_nic_rx(struct vm_nic *n, const void *frame, size_t len)
{
    struct vm *vm = n->vm;
    if (vm->state != VM_RUNNING || !n->dev)
        return -EAGAIN;
    spin_lock(&vm->devs.lock);
    int rc = vvirtio_net_rx(n->dev, frame, len);
    spin_unlock(&vm->devs.lock);
    return rc;
}

void vm_nics_announce(struct vm *vm)
{
    for (unsigned i = 0; i < vm->nnics; i++) {
        struct device *d = vm->nics[i].dev;
        if (net_hooks && net_hooks->announce && vm->nics[i].port)
            net_hooks->announce(&vm->nics[i]);
        if (d) {
            spin_lock(&vm->devs.lock);
            vvirtio_net_announce(d);
            spin_unlock(&vm->devs.lock);
        }
    }
}

/* nic=: a virtio-net per NIC (instance i), each joined to its switch. */
static int add_nics(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen)
{
    for (unsigned i = 0; i < cfg->nnics && i < VM_NICS_MAX; i++) {
        struct vm_nic *n = &vm->nics[i];
        struct vvirtio_net_cfg c;
        memcpy(c.mac, cfg->nics[i].mac, 6);
        int rc = dev_add(&vm->devs, &vvirtio_net_type, (uint16_t)i, &c, err, errlen);
        if (rc)
            return rc;
        *n = (struct vm_nic){ .vm = vm, .index = i,
                              .dev = dev_find(&vm->devs, DEV_ID_VIRTIO_NET, (uint16_t)i) };
        memcpy(n->sw, cfg->nics[i].sw, sizeof(n->sw));
        n->sw[sizeof(n->sw) - 1] = 0;
        memcpy(n->mac, c.mac, 6);
        vm->nnics = i + 1;
        if (!net_hooks) {
            snprintf(err, errlen, "this build has no virtual switches");
            return -ENODEV;
        }
        if ((rc = net_hooks->attach(n, err, errlen)))
            return rc;
    }
    return 0;
}

static const struct dev_platform vm_platform = {
    .guest_exit = vm_guest_exit,
    .intr_changed = vm_intr_changed,
    .wall_ns = vm_wall_ns,
    .reset = vm_guest_reset,
    .vcpu_kick = vm_vcpu_kick,
    .power_off = vm_guest_power_off,
    .guest_map = vm_guest_map,
    .net_tx = vm_net_tx,
};

/* The clock devices count in (timers): host time; records keep times relative to it. */
static uint64_t vm_clock_ns(void *ctx)
{
    (void)ctx;
    return time_ns();
}

/* vm_create's refusals before it owns anything: a network disk opened for it is closed. */
static int drop_disk(const struct vm_config *cfg, int rc)
{
    if (cfg->disk_net && disk_hooks)
        disk_hooks->close(cfg->disk_net);
    return rc;
}

int vm_create(const struct vm_config *cfg, char *err, size_t errlen)
{
    struct vm *vm = NULL;
    uint64_t entry;
    int rc;

    if (!hv_ops) {
        snprintf(err, errlen, "this CPU offers no usable VT-x or AMD-V");
        return drop_disk(cfg, -ENODEV);
    }
    if (vm_find(cfg->name)) {
        snprintf(err, errlen, "a VM named '%s' exists", cfg->name);
        return drop_disk(cfg, -EEXIST);
    }
    for (unsigned i = 0; i < VM_MAX && !vm; i++)
        if (vms[i].state == VM_EMPTY)
            vm = &vms[i];
    if (!vm) {
        snprintf(err, errlen, "at most %d VMs", VM_MAX);
        return drop_disk(cfg, -ENOSPC);
    }
    memset(vm, 0, sizeof(*vm));
    strncpy(vm->name, cfg->name, sizeof(vm->name) - 1);
    strncpy(vm->image, cfg->kernel[0] ? cfg->kernel : cfg->image, sizeof(vm->image) - 1);
    strncpy(vm->initrd, cfg->initrd, sizeof(vm->initrd) - 1);
    strncpy(vm->modules, cfg->modules, sizeof(vm->modules) - 1);
    strncpy(vm->cmdline, cfg->args, sizeof(vm->cmdline) - 1);
    vm->mem_size = cfg->mem_mib << 20;
    vm->nvcpus = cfg->cpus;
    if (!cfg->kernel[0] && cfg->image[0] && vm->mem_size > VM_LOW_RAM_END) {
        snprintf(err, errlen, "image= guests take at most %llu MiB (their boot contract has "
                 "RAM from 0 without a hole); kernel= guests may have more",
                 (unsigned long long)(VM_LOW_RAM_END >> 20));
        memset(vm, 0, sizeof(*vm));
        return drop_disk(cfg, -EINVAL);
    }
    vm->state = VM_CREATED;           /* claims the slot; undone by free_vm */
    vm->disk_net = cfg->disk_net;     /* a network disk opened for us: ours to close now */
    if ((rc = setup_policy(vm, cfg, err, errlen)))
        goto fail;
    vm_layout(vm->mem_size, &vm->low_end, &vm->gfn_end);
    /* The guest's RAM lies below the MAXPHYADDR its CPU policy tells it of (32 to 52 bits). */
    unsigned phys = cpu_policy_phys_bits(&vm->policy);
    if (phys < 32 || phys > 52 || vm->gfn_end > 1ull << (phys - 12)) {
        snprintf(err, errlen, "mem=%llu MiB does not fit the %u physical address bits of CPU "
                 "policy %s", (unsigned long long)cfg->mem_mib, phys, vm->policy.name);
        rc = -EINVAL;
        goto fail;
    }

    /* NUMA placement (hv/vm/numa.h): one node if it fits, else spanning if allowed. */
    struct numa_host nh;
    struct numa_placement pl;
    struct numa_request req = { .mem_bytes = vm->mem_size, .vcpus = vm->nvcpus,
                                .node = cfg->node, .spanning = hv_config.numa_spanning };
    numa_snapshot(&nh);
    if ((rc = numa_place(&nh, &req, &pl, err, errlen)))
        goto fail;
    vm->node = pl.cpu_node;
    uint64_t gpa = 0;
    for (unsigned i = 0; i < pl.nparts; i++) {
        /* A node's free memory may be in several runs: the longest first, up to the chunks;
         * a run never spans the hole below 4 GiB (the RAM past it starts at 4 GiB). */
        for (uint64_t left = pl.part[i].bytes / PAGE_SIZE; left;) {
            uint64_t run, pa = 0;
            if (gpa == vm->low_end && gpa < VM_HIGH_RAM)
                gpa = VM_HIGH_RAM;
            frame_node_blocks(pl.part[i].node, 512, &run);
            run = run < left ? run : left;
            if (gpa < vm->low_end && run > (vm->low_end - gpa) / PAGE_SIZE)
                run = (vm->low_end - gpa) / PAGE_SIZE;
            if (run && vm->nchunks < VM_MAX_CHUNKS)
                pa = frame_alloc(pl.part[i].node, run, 512, FRAME_STRICT | FRAME_ZERO);
            if (!pa) {
                snprintf(err, errlen, "node %u: no %llu MiB in at most %u runs of free memory",
                         pl.part[i].node, (unsigned long long)(pl.part[i].bytes >> 20),
                         VM_MAX_CHUNKS);
                rc = -ENOMEM;
                goto fail;
            }
            vm->chunks[vm->nchunks++] = (struct vm_mem_chunk){ gpa, pa, run * PAGE_SIZE,
                                                               pl.part[i].node };
            gpa += run * PAGE_SIZE;
            left -= run;
        }
    }
    /* An empty image makes a skeleton for an incoming migration: RAM and state arrive. */
    entry = 0;
    rc = 0;
    if (cfg->kernel[0])
        rc = load_kernel(vm, cfg->kernel, cfg->initrd, cfg->modules, err, errlen);
    else if (cfg->image[0])
        rc = load_guest(vm, cfg->image, err, errlen, &entry);
    if (rc)
        goto fail;
    /* The machine's devices (hv/dev/machine.c); MMIO claims may not cover guest RAM. */
    dev_set_init(&vm->devs, vm->node, vm_ram_overlaps, vm);
    vm->devs.nvcpus = vm->nvcpus;
    vm->devs.platform = &vm_platform;
    vm->devs.platform_ctx = vm;
    vm->devs.clock_ns = vm_clock_ns;
    vm->devs.clock_ctx = vm;
    if ((rc = dev_set_build(&vm->devs, &machine_ferry_min, err, errlen)))
        goto fail;
    if (cfg->disk[0] && (rc = !strncmp(cfg->disk, "nbd://", 6)
                                  ? add_net_disk(vm, cfg, err, errlen)
                                  : add_disk(vm, cfg->disk, cfg->disk_blank ? cfg->disk_sectors
                                                                            : 0, err, errlen)))
        goto fail;

    if (cfg->nnics > VM_NICS_MAX) {
        snprintf(err, errlen, "a VM has at most %d NICs", VM_NICS_MAX);
        rc = -EINVAL;
        goto fail;
    }
    if ((rc = add_nics(vm, cfg, err, errlen)))
        goto fail;
    vm_intr_init(vm);
    if ((rc = hv_ops->vm_init(vm))) {
        snprintf(err, errlen, "cannot build second-level page tables (%d)", rc);
        goto fail;
    }
    if ((rc = setup_vcpus(vm, entry, err, errlen)))
        goto fail;
    for (unsigned i = 0; i < vm->nvcpus; i++)
        if ((rc = sched_add(&vm->vcpus[i]))) {
            /* Those already queued must leave their run queues before the memory goes. */
            snprintf(err, errlen, "CPU %u runs too many vCPUs", vm->vcpus[i].pcpu);
            vm_stop(vm, "creation failed");
            for (unsigned j = 0; j < i; j++)
                while (!vm->vcpus[j].dead)
                    cpu_relax();
            goto fail;
        }
    char nodes[32];
    vm_nodes(vm, nodes, sizeof(nodes));
    log_info("vm", "created %s: %llu MiB on node %s, %u vcpus, image %s, cpu %s", vm->name,
             (unsigned long long)cfg->mem_mib, nodes, vm->nvcpus, vm->image, vm->policy.name);
    return 0;
fail:
    free_vm(vm);
    return rc;
}


_Static_assert(VBLK_LOG_BLOCK == PAGE_SIZE, "the disk's write log counts its pages");

int vm_disk_log(struct vm *vm, uint64_t *log)
{
    struct device *d = vm->disk_pages ? dev_find(&vm->devs, DEV_ID_VIRTIO_BLK, 0) : NULL;
    if (!d)
        return -ENODEV;
    spin_lock(&vm->devs.lock);
    int rc = vvirtio_blk_log(d, log);
    spin_unlock(&vm->devs.lock);
    return rc;
}

void vm_saved_tsc_align(struct vm *vm)
{
    uint64_t ref = vm->vcpus[0].saved_host_tsc;
    for (unsigned i = 1; i < vm->nvcpus && ref; i++) {
        struct vcpu *v = &vm->vcpus[i];
        if (v->saved_host_tsc) {
            v->saved.tsc += ref - v->saved_host_tsc;    /* modulo 2^64: either sign */
            v->saved_host_tsc = ref;
        }
    }
}

bool vm_exit_event(char *name, size_t n, uint32_t *code, bool *power_off)
{
    for (unsigned i = 0; i < VM_MAX; i++) {
        struct vm *vm = &vms[i];
        /* Reported once the vCPU that ended it has also marked the VM stopped (guest_ended,
         * then vm_stop, on its CPU): who reads the message and then lists the VM sees it
         * stopped, not still running (seen under QEMU TCG, where that CPU can lag). */
        if (__atomic_load_n(&vm->state, __ATOMIC_ACQUIRE) == VM_STOPPED &&
            __atomic_load_n(&vm->exited, __ATOMIC_ACQUIRE) && !vm->exit_reported) {
            vm->exit_reported = true;
            snprintf(name, n, "%s", vm->name);
            *code = vm->exit_code;
            *power_off = vm->powered_off;
            return true;
        }
    }
    return false;
}

struct uart_dev *vm_console_uart(struct vm *vm)
{
    struct device *d = dev_find(&vm->devs, vuart_type.id, 0);
    return d ? vuart_of(d) : NULL;
}

void vm_nodes(const struct vm *vm, char *buf, size_t n)
{
    size_t l = 0;
    buf[0] = 0;
    for (unsigned i = 0; i < vm->nchunks && l < n; i++) {
        bool seen = false;
        for (unsigned j = 0; j < i; j++)
            seen |= vm->chunks[j].node == vm->chunks[i].node;
        if (!seen)
            l += (size_t)snprintf(buf + l, n - l, l ? "+%u" : "%u", vm->chunks[i].node);
    }
}

struct vm *vm_find(const char *name)
{
    for (unsigned i = 0; i < VM_MAX; i++)
        if (vms[i].state != VM_EMPTY && !strcmp(vms[i].name, name))
            return &vms[i];
    return NULL;
}

const char *vm_state_name(enum vm_state s)
{
    static const char *const n[] = { "empty", "created", "running", "paused", "stopped" };
    return s <= VM_STOPPED ? n[s] : "?";
}

static void request_all(struct vm *vm, uint32_t set, uint32_t clear)
{
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        struct vcpu *v = &vm->vcpus[i];
        __atomic_and_fetch(&v->request, ~clear, __ATOMIC_SEQ_CST);
        __atomic_or_fetch(&v->request, set, __ATOMIC_SEQ_CST);
        sched_kick(v->pcpu);
    }
}

/* Waits up to 2 s (host time) for every vCPU to satisfy done(). */
static bool wait_all(struct vm *vm, bool (*done)(const struct vcpu *))
{
    uint64_t end = time_ns() + 2000000000ull;
    for (unsigned i = 0; i < vm->nvcpus; i++)
        while (!done(&vm->vcpus[i]))
            if (time_ns() > end)
                return false;
    return true;
}

static bool is_paused(const struct vcpu *v) { return v->paused || v->dead; }
static bool is_running(const struct vcpu *v) { return !v->paused; }
static bool is_dead(const struct vcpu *v) { return v->dead; }

int vm_start(struct vm *vm, char *err, size_t errlen)
{
    if (vm->state != VM_CREATED) {
        snprintf(err, errlen, "vm %s is %s; only a created VM can be started", vm->name,
                 vm_state_name(vm->state));
        return -EINVAL;
    }
    vm->state = VM_RUNNING;
    request_all(vm, 0, VCPU_REQ_PAUSE);
    log_info("vm", "started %s", vm->name);
    return 0;
}

int vm_pause(struct vm *vm, char *err, size_t errlen)
{
    if (vm->state != VM_RUNNING) {
        snprintf(err, errlen, "vm %s is %s, not running", vm->name, vm_state_name(vm->state));
        return -EINVAL;
    }
    request_all(vm, VCPU_REQ_PAUSE, 0);
    if (!wait_all(vm, is_paused)) {
        snprintf(err, errlen, "vm %s: a vcpu did not stop within 2 s", vm->name);
        return -ETIMEDOUT;
    }
    if (vm->state == VM_RUNNING)
        vm->state = VM_PAUSED;
    return 0;
}

int vm_resume(struct vm *vm, char *err, size_t errlen)
{
    if (vm->state != VM_PAUSED) {
        snprintf(err, errlen, "vm %s is %s, not paused", vm->name, vm_state_name(vm->state));
        return -EINVAL;
    }
    vm->state = VM_RUNNING;
    request_all(vm, 0, VCPU_REQ_PAUSE);
    wait_all(vm, is_running);
    return 0;
}

static bool reset_done(const struct vcpu *v) { return !(v->request & VCPU_REQ_RESET); }

#define RESET_STORM_MAX 10                      /* resets within... */
#define RESET_STORM_NS  (10 * 1000000000ull)    /* ...this long stop the VM */

/* The guest's reset, on the control plane; the vCPUs were asked to pause by vm_guest_reset. */
static int guest_reset(struct vm *vm, char *err, size_t errlen)
{
    uint64_t now = time_ns(), entry = 0;
    int rc;
    if (!wait_all(vm, is_paused)) {
        snprintf(err, errlen, "a vcpu did not stop within 2 s");
        return -ETIMEDOUT;
    }
    if (now - vm->reset_window_ns > RESET_STORM_NS) {
        vm->reset_window_ns = now;
        vm->resets = 0;
    }
    if (++vm->resets > RESET_STORM_MAX) {
        snprintf(err, errlen, "reset storm: %u resets within %llu s", vm->resets,
                 (unsigned long long)(RESET_STORM_NS / 1000000000ull));
        return -ELOOP;
    }
    if (!vm->image[0]) {
        snprintf(err, errlen, "reset: the VM came by migration and this host has no image "
                 "to boot it from");
        return -ENOENT;
    }
    /* Power-on again: the image and its boot structures reloaded (RAM otherwise kept, as a
     * PC's), the devices reset, every vCPU at its initial state on its own CPU. */
    if (vm->linux_guest || vm->mb_guest) {
        vm->linux_guest = vm->mb_guest = false;
        rc = load_kernel(vm, vm->image, vm->initrd, vm->modules, err, errlen);
    } else {
        rc = load_guest(vm, vm->image, err, errlen, &entry);
    }
    if (rc)
        return rc;
    spin_lock(&vm->devs.lock);
    dev_set_reset(&vm->devs);
    spin_unlock(&vm->devs.lock);
    vm->tsc_origin = 0;                 /* the TSC starts again from 0, as after power-on */
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        struct vcpu *v = &vm->vcpus[i];
        boot_state(vm, v, entry);
    }
    request_all(vm, VCPU_REQ_RESET, 0);
    if (!wait_all(vm, reset_done)) {
        snprintf(err, errlen, "a vcpu did not reset within 2 s");
        return -ETIMEDOUT;
    }
    request_all(vm, 0, VCPU_REQ_PAUSE);
    return 0;
}

bool vm_reset_event(char *msg, size_t n)
{
    for (unsigned i = 0; i < VM_MAX; i++) {
        struct vm *vm = &vms[i];
        char err[120];
        if (vm->state != VM_RUNNING || vm->migration != VM_MIG_NONE ||
            !__atomic_exchange_n(&vm->reset_pending, false, __ATOMIC_ACQ_REL))
            continue;
        if (guest_reset(vm, err, sizeof(err))) {
            vm_stop(vm, "%s", err);
            snprintf(msg, n, "vm: %s stopped: %s", vm->name, err);
        } else {
            log_info("vm", "%s reset by the guest", vm->name);
            snprintf(msg, n, "vm: %s reset by the guest", vm->name);
        }
        return true;
    }
    return false;
}

int vm_destroy(struct vm *vm, char *err, size_t errlen)
{
    request_all(vm, VCPU_REQ_STOP, 0);
    if (!wait_all(vm, is_dead)) {
        snprintf(err, errlen, "vm %s: a vcpu did not stop within 2 s; not freed", vm->name);
        return -ETIMEDOUT;
    }
    log_info("vm", "destroyed %s", vm->name);
    free_vm(vm);
    return 0;
}

/* Reads every vCPU's state into vcpu->saved (the VM must be paused); 0 or -ETIMEDOUT. */
int vm_save_vcpus(struct vm *vm)
{
    request_all(vm, VCPU_REQ_SAVE, 0);
    uint64_t end = time_ns() + 2000000000ull;
    for (unsigned i = 0; i < vm->nvcpus; i++)
        while (__atomic_load_n(&vm->vcpus[i].request, __ATOMIC_ACQUIRE) & VCPU_REQ_SAVE)
            if (time_ns() > end)
                return -ETIMEDOUT;
    return 0;
}
