/*
 * The x86 64-bit boot protocol; see hv/vm/linux_boot.h. Offsets are the
 * kernel's (Documentation/arch/x86/boot.rst, "The Real-Mode Kernel Header",
 * and arch/x86/include/uapi/asm/bootparam.h for struct boot_params).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv/dev/vpci.h"
#include "hv/vm/guest_boot.h"
#include "hv/vm/layout.h"
#include "hv/vm/linux_boot.h"

/* Setup header fields, as offsets into the image and into the zero page alike. */
#define HDR_SETUP_SECTS     0x1f1
#define HDR_SYSSIZE         0x1f4
#define HDR_BOOT_FLAG       0x1fe
#define HDR_JUMP            0x200
#define HDR_MAGIC           0x202
#define HDR_VERSION         0x206
#define HDR_TYPE_OF_LOADER  0x210
#define HDR_LOADFLAGS       0x211
#define HDR_RAMDISK_IMAGE   0x218
#define HDR_RAMDISK_SIZE    0x21c
#define HDR_CMD_LINE_PTR    0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_KERNEL_ALIGN    0x230
#define HDR_RELOCATABLE     0x234
#define HDR_XLOADFLAGS      0x236
#define HDR_CMDLINE_SIZE    0x238
#define HDR_PREF_ADDRESS    0x258
#define HDR_INIT_SIZE       0x260
#define HDR_END_MAX         0x280          /* past every field of protocol 2.15 */
/* struct boot_params */
#define BP_ACPI_RSDP_ADDR   0x070
#define BP_E820_ENTRIES     0x1e8
#define BP_E820_TABLE       0x2d0
#define E820_ENTRY_SIZE     20
#define E820_RAM            1
#define E820_RESERVED       2

#define LOADED_HIGH         0x01
#define XLF_KERNEL_64       0x0001
#define LOW_RAM_END         0x9f000ull     /* then the legacy hole up to 1 MiB */
#define ONE_MIB             0x100000ull
#define MIB(x)              ((unsigned long long)(x) >> 20)

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static void wr8(uint8_t *p, uint8_t v) { p[0] = v; }
static void wr32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> 8 * i); }
static void wr64(uint8_t *p, uint64_t v) { wr32(p, (uint32_t)v); wr32(p + 4, (uint32_t)(v >> 32)); }

static int refuse(char *err, size_t errlen, int rc, const char *why)
{
    snprintf(err, errlen, "kernel: %s", why);
    return rc;
}

int linux_parse(const uint8_t *k, size_t len, struct linux_header *h, char *err, size_t errlen)
{
    char why[120];
    memset(h, 0, sizeof(*h));
    if (len < HDR_END_MAX)
        return refuse(err, errlen, -ENOEXEC, "not a bzImage (too short for a setup header)");
    if (rd16(k + HDR_BOOT_FLAG) != 0xaa55 || memcmp(k + HDR_MAGIC, "HdrS", 4))
        return refuse(err, errlen, -ENOEXEC, "not a bzImage (no 0xAA55 boot flag and HdrS)");
    h->version = rd16(k + HDR_VERSION);
    if (h->version < LINUX_MIN_VERSION) {
        snprintf(why, sizeof(why), "boot protocol %u.%02u is too old (ferry needs 2.12)",
                 h->version >> 8, h->version & 0xff);
        return refuse(err, errlen, -ENOEXEC, why);
    }
    h->setup_sects = k[HDR_SETUP_SECTS] ? k[HDR_SETUP_SECTS] : 4;
    h->setup_size = ((size_t)h->setup_sects + 1) * 512;
    h->header_end = HDR_MAGIC + k[HDR_JUMP + 1];
    h->loadflags = k[HDR_LOADFLAGS];
    h->syssize = rd32(k + HDR_SYSSIZE);
    h->initrd_addr_max = rd32(k + HDR_INITRD_ADDR_MAX);
    h->kernel_alignment = rd32(k + HDR_KERNEL_ALIGN);
    h->relocatable = k[HDR_RELOCATABLE];
    h->xloadflags = rd16(k + HDR_XLOADFLAGS);
    h->cmdline_size = rd32(k + HDR_CMDLINE_SIZE);
    h->pref_address = rd64(k + HDR_PREF_ADDRESS);
    h->init_size = rd32(k + HDR_INIT_SIZE);
    if (h->header_end > HDR_END_MAX || h->header_end < HDR_INIT_SIZE + 4)
        return refuse(err, errlen, -EINVAL, "the setup header's length is impossible");
    if (h->setup_size >= len) {
        snprintf(why, sizeof(why), "truncated: %u setup sectors but %lu bytes in all",
                 h->setup_sects, (unsigned long)len);
        return refuse(err, errlen, -EINVAL, why);
    }
    if (!h->syssize || (uint64_t)h->syssize * 16 > len - h->setup_size) {
        snprintf(why, sizeof(why), "truncated: the header says %llu bytes of kernel, the file "
                 "holds %lu", (unsigned long long)h->syssize * 16,
                 (unsigned long)(len - h->setup_size));
        return refuse(err, errlen, -EINVAL, why);
    }
    if (!(h->xloadflags & XLF_KERNEL_64))
        return refuse(err, errlen, -ENOEXEC, "no 64-bit entry point (xloadflags bit 0)");
    if (!(h->loadflags & LOADED_HIGH))
        return refuse(err, errlen, -ENOEXEC, "not loadable at 1 MiB (loadflags LOADED_HIGH)");
    if (h->init_size < (uint64_t)h->syssize * 16)
        return refuse(err, errlen, -EINVAL, "init_size is smaller than the kernel itself");
    if (h->kernel_alignment < 4096 || (h->kernel_alignment & (h->kernel_alignment - 1)))
        return refuse(err, errlen, -EINVAL, "kernel_alignment is not a power of two >= 4 KiB");
    if (h->pref_address < ONE_MIB || h->pref_address % 4096 || h->pref_address >> 40)
        return refuse(err, errlen, -EINVAL, "pref_address is not a page at or above 1 MiB");
    if (!h->cmdline_size)
        return refuse(err, errlen, -EINVAL, "cmdline_size is 0");
    return 0;
}

/* The e820 map: low RAM, the legacy hole, RAM from 1 MiB to the PC hole, ECAM (reserved, as
 * Linux wants MCFG's area to be before it uses it), RAM from 4 GiB. */
static unsigned write_e820(uint8_t *zp, uint64_t ram_size)
{
    uint64_t low_end, gfn_end;
    vm_layout(ram_size, &low_end, &gfn_end);
    const struct { uint64_t start, end; uint32_t type; } map[] = {
        { 0, LOW_RAM_END, E820_RAM },
        { LOW_RAM_END, ONE_MIB, E820_RESERVED },
        { ONE_MIB, low_end, E820_RAM },
        { VPCI_ECAM_BASE, VPCI_ECAM_BASE + ((uint64_t)VPCI_ECAM_BUSES << 20), E820_RESERVED },
        { VM_HIGH_RAM, gfn_end << 12, E820_RAM },
    };
    unsigned n = 0;
    for (unsigned i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (map[i].end <= map[i].start)
            continue;                       /* no RAM above 4 GiB */
        uint8_t *e = zp + BP_E820_TABLE + n * E820_ENTRY_SIZE;
        wr64(e, map[i].start);
        wr64(e + 8, map[i].end - map[i].start);
        wr32(e + 16, map[i].type);
        n++;
    }
    wr8(zp + BP_E820_ENTRIES, (uint8_t)n);
    return n;
}

int linux_load(const uint8_t *k, size_t klen, const uint8_t *initrd, size_t ilen,
               const char *cmdline, uint8_t *ram, uint64_t chunk, uint64_t ram_size,
               struct linux_boot *out, char *err, size_t errlen)
{
    struct linux_header h;
    char why[160];
    int rc = linux_parse(k, klen, &h, err, errlen);
    if (rc)
        return rc;
    size_t cmdlen = cmdline ? strlen(cmdline) : 0;
    if (cmdlen >= LINUX_CMDLINE_MAX || cmdlen > h.cmdline_size) {
        snprintf(err, errlen, "kernel: command line of %lu bytes, the kernel takes %u",
                 (unsigned long)cmdlen, h.cmdline_size);
        return -E2BIG;
    }
    /* Its preferred address (what a non-relocatable kernel needs), aligned as it asks. */
    uint64_t align = h.relocatable ? h.kernel_alignment : 4096;
    uint64_t load = (h.pref_address + align - 1) & ~(align - 1);
    uint64_t load_end = load + h.init_size;
    if (chunk > ram_size || ram_size < 2 * ONE_MIB || load_end > chunk) {
        snprintf(why, sizeof(why), "needs %llu MiB of guest RAM (%llu MiB at 0x%llx to run "
                 "in), the VM has %llu", MIB(load_end + ONE_MIB - 1), MIB(h.init_size + ONE_MIB - 1),
                 (unsigned long long)load, MIB(chunk));
        return refuse(err, errlen, -ENOMEM, why);
    }
    uint64_t rd_gpa = 0;
    if (ilen) {
        uint64_t top = chunk < (uint64_t)h.initrd_addr_max + 1 ? chunk
                                                              : (uint64_t)h.initrd_addr_max + 1;
        rd_gpa = top >= ilen ? (top - ilen) & ~0xfffull : 0;
        if (top < ilen || rd_gpa < load_end || ilen > 0xffffffffu) {
            snprintf(err, errlen, "initrd: %llu MiB do not fit between the kernel (up to %llu "
                     "MiB) and %llu MiB", MIB(ilen + ONE_MIB - 1), MIB(load_end), MIB(top));
            return -ENOMEM;
        }
    }
    /* Every check passed: now guest RAM. */
    memset(ram, 0, 0x10000);
    guest_boot_write_gdt(ram, LINUX_BOOT_CS, LINUX_BOOT_DS, LINUX_BOOT_TR);
    guest_boot_identity_map(ram, ram_size);
    memcpy(ram + load, k + h.setup_size, (size_t)h.syssize * 16);   /* <= init_size, checked */
    if (ilen)
        memcpy(ram + rd_gpa, initrd, ilen);
    memcpy(ram + LINUX_CMDLINE_GPA, cmdline ? cmdline : "", cmdlen + 1);
    uint8_t *zp = ram + LINUX_ZERO_PAGE_GPA;
    memcpy(zp + HDR_SETUP_SECTS, k + HDR_SETUP_SECTS, h.header_end - HDR_SETUP_SECTS);
    wr8(zp + HDR_TYPE_OF_LOADER, 0xff);                 /* "undefined": no assigned id */
    wr32(zp + HDR_CMD_LINE_PTR, (uint32_t)LINUX_CMDLINE_GPA);
    wr32(zp + HDR_RAMDISK_IMAGE, (uint32_t)rd_gpa);
    wr32(zp + HDR_RAMDISK_SIZE, (uint32_t)ilen);
    write_e820(zp, ram_size);
    *out = (struct linux_boot){ .load_gpa = load, .entry = load + 0x200, .initrd_gpa = rd_gpa,
                                .initrd_size = ilen, .version = h.version };
    return 0;
}

void linux_set_acpi_rsdp(uint8_t *ram, uint64_t gpa)
{
    wr64(ram + LINUX_ZERO_PAGE_GPA + BP_ACPI_RSDP_ADDR, gpa);
}

void linux_boot_state(const struct linux_boot *lb, struct vcpu_state *s)
{
    guest_boot_state(s, lb->entry, 0);
    s->gpr[GPR_RSP] = LINUX_STACK_TOP;
    s->gpr[GPR_RDI] = 0;
    s->gpr[GPR_RSI] = LINUX_ZERO_PAGE_GPA;
    s->cs.sel = LINUX_BOOT_CS;
    s->ds.sel = s->es.sel = s->ss.sel = s->fs.sel = s->gs.sel = LINUX_BOOT_DS;
    s->tr.sel = LINUX_BOOT_TR;
    s->gdtr.limit = LINUX_BOOT_TR + 16 - 1;
}
