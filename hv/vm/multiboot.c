/* Multiboot v1 kernels; see hv/vm/multiboot.h (offsets are the specification's, 3.1 and 3.3). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv/dev/vpci.h"
#include "hv/vm/layout.h"
#include "hv/vm/multiboot.h"

#define FLAG_ALIGN       (1u << 0)
#define FLAG_MEMINFO     (1u << 1)
#define FLAG_VIDEO       (1u << 2)
#define FLAG_AOUT        (1u << 16)
#define LOW_RAM_END      0x9f000ull     /* then the legacy hole up to 1 MiB */
#define ONE_MIB          0x100000ull
#define FOUR_GIB         0x100000000ull
#define MMAP_GPA         (MB_INFO_GPA + 0x100)
#define LOADER_GPA       (MB_INFO_GPA + 0x200)
#define PT_LOAD          1
#define MAX_PHDRS        64

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static void wr32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> 8 * i); }
static void wr64(uint8_t *p, uint64_t v) { wr32(p, (uint32_t)v); wr32(p + 4, (uint32_t)(v >> 32)); }

static int refuse(char *err, size_t errlen, int rc, const char *why)
{
    snprintf(err, errlen, "kernel: %s", why);
    return rc;
}

int mb_parse(const uint8_t *k, size_t len, struct mb_header *h, char *err, size_t errlen)
{
    memset(h, 0, sizeof(*h));
    size_t end = len < MB_SEARCH ? len : MB_SEARCH;
    for (size_t off = 0; off + 12 <= end; off += 4) {
        if (rd32(k + off) != MB_HEADER_MAGIC)
            continue;
        uint32_t flags = rd32(k + off + 4);
        if ((uint32_t)(MB_HEADER_MAGIC + flags + rd32(k + off + 8)))
            return refuse(err, errlen, -EINVAL, "Multiboot header checksum is wrong");
        if (flags & FLAG_VIDEO)
            return refuse(err, errlen, -ENOEXEC, "Multiboot kernel asks for a video mode "
                          "(flags bit 2): ferry's VMs have no display");
        if (flags & 0xfff8u) {
            char why[96];
            snprintf(why, sizeof(why), "Multiboot kernel requires features ferry does not "
                     "know (flags 0x%x)", flags & 0xffffu);
            return refuse(err, errlen, -ENOEXEC, why);
        }
        h->offset = (uint32_t)off;
        h->flags = flags;
        if (flags & FLAG_AOUT) {
            if (off + 32 > end)                 /* the whole header in the first 8 KiB */
                return refuse(err, errlen, -EINVAL, "Multiboot header's address fields are "
                              "past the end of the file or its first 8 KiB");
            h->header_addr = rd32(k + off + 12);
            h->load_addr = rd32(k + off + 16);
            h->load_end_addr = rd32(k + off + 20);
            h->bss_end_addr = rd32(k + off + 24);
            h->entry_addr = rd32(k + off + 28);
        }
        return 0;
    }
    return -ENOENT;
}

/* What goes where: [from file bytes] and zeroes up to memsz, for each piece of the image. */
struct piece { uint64_t gpa, filesz, memsz; size_t offset; };

/* The image's pieces and its entry from the a.out kludge fields. */
static int layout_aout(const struct mb_header *h, size_t len, struct piece *p, uint64_t *entry,
                       char *err, size_t errlen)
{
    if (h->header_addr < h->load_addr || h->header_addr - h->load_addr > h->offset)
        return refuse(err, errlen, -EINVAL, "Multiboot header_addr/load_addr do not match "
                      "where the header is in the file");
    size_t file_off = h->offset - (h->header_addr - h->load_addr);
    uint64_t load_end = h->load_end_addr ? h->load_end_addr : h->load_addr + (len - file_off);
    uint64_t bss_end = h->bss_end_addr ? h->bss_end_addr : load_end;
    if (load_end < h->load_addr || load_end - h->load_addr > len - file_off)
        return refuse(err, errlen, -EINVAL, "truncated: Multiboot load_end_addr is past the "
                      "end of the file");
    if (bss_end < load_end)
        return refuse(err, errlen, -EINVAL, "Multiboot bss_end_addr is below load_end_addr");
    *p = (struct piece){ h->load_addr, load_end - h->load_addr, bss_end - h->load_addr, file_off };
    *entry = h->entry_addr;
    return 1;
}

/* The image's PT_LOAD segments (at their physical addresses) and its entry, from the ELF. */
static int layout_elf(const uint8_t *k, size_t len, struct piece *p, unsigned max, uint64_t *entry,
                      char *err, size_t errlen)
{
    if (len < 52 || memcmp(k, "\177ELF", 4))
        return refuse(err, errlen, -ENOEXEC, "Multiboot kernel is not ELF and its header has "
                      "no addresses (flags bit 16)");
    if (k[4] != 1 || k[5] != 1 || rd16(k + 0x10) != 2 || rd16(k + 0x12) != 3)
        return refuse(err, errlen, -ENOEXEC, "Multiboot kernel is not a 32-bit little-endian "
                      "x86 ELF executable");
    uint32_t phoff = rd32(k + 0x1c), vent = rd32(k + 0x18);
    unsigned phentsize = rd16(k + 0x2a), phnum = rd16(k + 0x2c), n = 0;
    if (phentsize != 32 || !phnum || phnum > MAX_PHDRS || phoff > len ||
        (size_t)phnum * 32 > len - phoff)
        return refuse(err, errlen, -EINVAL, "truncated or impossible ELF program headers");
    bool entry_found = false;
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *ph = k + phoff + 32 * i;
        if (rd32(ph) != PT_LOAD || !rd32(ph + 20))
            continue;
        uint32_t off = rd32(ph + 4), vaddr = rd32(ph + 8), paddr = rd32(ph + 12);
        uint32_t filesz = rd32(ph + 16), memsz = rd32(ph + 20);
        if (filesz > memsz || off > len || filesz > len - off)
            return refuse(err, errlen, -EINVAL, "truncated: an ELF segment is past the end of "
                          "the file");
        if (n == max)
            return refuse(err, errlen, -EINVAL, "too many ELF segments");
        p[n++] = (struct piece){ paddr, filesz, memsz, off };
        if (!entry_found && vent >= vaddr && vent - vaddr < memsz) {
            *entry = (uint64_t)paddr + (vent - vaddr);    /* virtual entry -> physical */
            entry_found = true;
        }
    }
    if (!n)
        return refuse(err, errlen, -ENOEXEC, "the ELF has nothing to load");
    if (!entry_found)
        *entry = vent;
    return (int)n;
}

int mb_load(const uint8_t *k, size_t klen, const char *kname, const struct mb_module *mods,
            unsigned nmods, const char *args, uint8_t *ram, uint64_t chunk, uint64_t ram_size,
            struct mb_boot *out, char *err, size_t errlen)
{
    struct mb_header h;
    struct piece p[MAX_PHDRS];
    uint64_t entry = 0;
    char why[160];
    int rc = mb_parse(k, klen, &h, err, errlen);
    if (rc == -ENOENT)
        return refuse(err, errlen, -ENOEXEC, "no Multiboot header in the first 8 KiB");
    if (rc)
        return rc;
    int n = (h.flags & FLAG_AOUT) ? layout_aout(&h, klen, p, &entry, err, errlen)
                                  : layout_elf(k, klen, p, MAX_PHDRS, &entry, err, errlen);
    if (n < 0)
        return n;
    if (chunk > ram_size || chunk > FOUR_GIB)
        chunk = ram_size < FOUR_GIB ? ram_size : FOUR_GIB;
    uint64_t lo = UINT64_MAX, hi = 0;
    bool entry_in = false;
    for (int i = 0; i < n; i++) {
        if (p[i].gpa < ONE_MIB || p[i].gpa + p[i].memsz > chunk) {
            snprintf(why, sizeof(why), "Multiboot kernel wants 0x%llx-0x%llx: not within the "
                     "VM's RAM from 1 MiB to %llu MiB", (unsigned long long)p[i].gpa,
                     (unsigned long long)(p[i].gpa + p[i].memsz), (unsigned long long)(chunk >> 20));
            return refuse(err, errlen, -ENOMEM, why);
        }
        lo = p[i].gpa < lo ? p[i].gpa : lo;
        hi = p[i].gpa + p[i].memsz > hi ? p[i].gpa + p[i].memsz : hi;
        entry_in |= entry >= p[i].gpa && entry < p[i].gpa + p[i].memsz;
    }
    if (!entry_in)
        return refuse(err, errlen, -EINVAL, "Multiboot entry point is outside the loaded image");
    /* Modules: page-aligned after the kernel; names into the string area. */
    if (nmods > MB_MAX_MODULES) {
        snprintf(err, errlen, "module=: %u modules, at most %d", nmods, MB_MAX_MODULES);
        return -E2BIG;
    }
    uint64_t at = (hi + 0xfff) & ~0xfffull, mod_at[MB_MAX_MODULES];
    size_t strs = 0;
    for (unsigned i = 0; i < nmods; i++) {
        mod_at[i] = at;
        strs += strlen(mods[i].name) + 1;
        if (mods[i].len > chunk || at > chunk - mods[i].len) {
            snprintf(err, errlen, "module=: %s does not fit in the VM's RAM after the kernel",
                     mods[i].name);
            return -ENOMEM;
        }
        at = (at + mods[i].len + 0xfff) & ~0xfffull;
    }
    if (strs > MB_MODSTR_MAX) {
        snprintf(err, errlen, "module=: the module names take %lu bytes, at most %u",
                 (unsigned long)strs, MB_MODSTR_MAX);
        return -E2BIG;
    }
    size_t cmdlen = strlen(kname) + 1 + (args ? strlen(args) : 0);
    if (cmdlen >= MB_CMDLINE_MAX) {
        snprintf(err, errlen, "kernel: command line of %lu bytes, at most %u",
                 (unsigned long)cmdlen, MB_CMDLINE_MAX - 1);
        return -E2BIG;
    }
    /* Every check passed: now guest RAM. */
    memset(ram, 0, 0x10000);
    for (int i = 0; i < n; i++) {
        memcpy(ram + p[i].gpa, k + p[i].offset, p[i].filesz);
        memset(ram + p[i].gpa + p[i].filesz, 0, p[i].memsz - p[i].filesz);
    }
    uint8_t *gdt = ram + MB_GDT_GPA;
    wr64(gdt + MB_CODE_SEL, 0x00cf9a000000ffffull);      /* 32-bit code, base 0, 4 GiB */
    wr64(gdt + MB_DATA_SEL, 0x00cf92000000ffffull);      /* data, base 0, 4 GiB */
    snprintf((char *)ram + MB_CMDLINE_GPA, MB_CMDLINE_MAX, "%s%s%s", kname, args && *args ? " " : "",
             args ? args : "");
    char *str = (char *)ram + MB_MODSTR_GPA;
    for (unsigned i = 0; i < nmods; i++) {
        memcpy(ram + mod_at[i], mods[i].data, mods[i].len);
        uint8_t *m = ram + MB_MODS_GPA + 16 * i;
        wr32(m, (uint32_t)mod_at[i]);
        wr32(m + 4, (uint32_t)(mod_at[i] + mods[i].len));
        wr32(m + 8, (uint32_t)(str - (char *)ram));     /* the string's guest address */
        size_t l = strlen(mods[i].name) + 1;
        memcpy(str, mods[i].name, l);
        str += l;
    }
    /* The memory map: low RAM, the legacy hole, RAM from 1 MiB to the PC hole, ECAM (reserved),
     * RAM from 4 GiB (entries of 24 bytes: size 20, base, length, type). */
    uint64_t low_end, gfn_end;
    vm_layout(ram_size, &low_end, &gfn_end);
    const struct { uint64_t start, end; uint32_t type; } map[] = {
        { 0, LOW_RAM_END, 1 }, { LOW_RAM_END, ONE_MIB, 2 }, { ONE_MIB, low_end, 1 },
        { VPCI_ECAM_BASE, VPCI_ECAM_BASE + ((uint64_t)VPCI_ECAM_BUSES << 20), 2 },
        { FOUR_GIB, gfn_end << 12, 1 },
    };
    uint8_t *mm = ram + MMAP_GPA;
    uint32_t nmap = 0;
    for (unsigned i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (map[i].end <= map[i].start)
            continue;
        wr32(mm, 20);
        wr64(mm + 4, map[i].start);
        wr64(mm + 12, map[i].end - map[i].start);
        wr32(mm + 20, map[i].type);
        mm += 24;
        nmap++;
    }
    memcpy(ram + LOADER_GPA, "ferry", 6);
    uint8_t *info = ram + MB_INFO_GPA;
    wr32(info, MB_INFO_MEMORY | MB_INFO_CMDLINE | MB_INFO_MODS | MB_INFO_MEM_MAP | MB_INFO_LOADER);
    wr32(info + 4, (uint32_t)(LOW_RAM_END >> 10));
    uint64_t upper = (low_end - ONE_MIB) >> 10;         /* up to the first hole (3.3) */
    wr32(info + 8, upper > 0xffffffffu ? 0xffffffffu : (uint32_t)upper);
    wr32(info + 16, (uint32_t)MB_CMDLINE_GPA);
    wr32(info + 20, nmods);
    wr32(info + 24, (uint32_t)MB_MODS_GPA);
    wr32(info + 44, nmap * 24);
    wr32(info + 48, (uint32_t)MMAP_GPA);
    wr32(info + 64, (uint32_t)LOADER_GPA);
    *out = (struct mb_boot){ .entry = entry, .kernel_start = lo, .kernel_end = hi,
                             .mods_end = nmods ? at : hi };
    return 0;
}

static void flat(struct seg *s, uint16_t sel, uint32_t attr)
{
    s->sel = sel;
    s->attr = attr;
    s->limit = 0xffffffff;
    s->base = 0;
}

void mb_boot_state(const struct mb_boot *b, struct vcpu_state *s)
{
    memset(s, 0, sizeof(*s));
    s->version = VCPU_STATE_VERSION;
    s->activity = ACT_RUNNING;
    s->rip = b->entry;
    s->rflags = 2;                                   /* IF and VM clear */
    s->gpr[GPR_RAX] = MB_BOOT_MAGIC;
    s->gpr[GPR_RBX] = MB_INFO_GPA;
    s->cr0 = 0x11;                                   /* PE, ET: paging off */
    s->pat = 0x0007040600070406ull;
    s->xcr0 = 1;
    s->dr7 = 0x400;
    flat(&s->cs, MB_CODE_SEL, 0xc9b);                /* 32-bit code: G, D, P, S, type 11 */
    flat(&s->ds, MB_DATA_SEL, 0xc93);
    s->es = s->ss = s->fs = s->gs = s->ds;
    s->ldtr = (struct seg){ .attr = SEG_UNUSABLE };
    s->tr = (struct seg){ .limit = 0xffff, .attr = 0x8b };
    s->gdtr.base = MB_GDT_GPA;
    s->gdtr.limit = 0x17;
    s->idtr.limit = 0xffff;
    s->pending.type = EVENT_NONE;
}
