/*
 * Guest memory preparation and image loading for the long-mode entry
 * contract in hv/vm/guest_boot.h (docs/guest-boot.md). Freestanding: no
 * allocation, no stdio; error reasons are assembled by a tiny formatter.
 * Images come from the boot volume and are untrusted input: every offset
 * and size is checked against the image length and guest RAM with
 * overflow-safe arithmetic before a byte of guest RAM is written.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hv/vm/guest_boot.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define PAGE_2M (2ull << 20)

/* Page-table entry bits (SDM 4.5) */
#define PTE_P  0x1ull
#define PTE_RW 0x2ull
#define PTE_PS 0x80ull

/* ---- error messages ------------------------------------------------------ */

struct msg { char *buf; size_t cap, len; };

static void msg_str(struct msg *m, const char *s)
{
    for (; *s; s++) {
        if (m->len + 1 < m->cap)
            m->buf[m->len++] = *s;
    }
    if (m->cap)
        m->buf[m->len < m->cap ? m->len : m->cap - 1] = 0;
}

static void msg_num(struct msg *m, uint64_t v, unsigned base)
{
    char tmp[24];
    unsigned i = sizeof(tmp) - 1;

    tmp[i] = 0;
    do {
        tmp[--i] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    if (base == 16)
        msg_str(m, "0x");
    msg_str(m, tmp + i);
}

/* "64 MiB" when whole mebibytes, else "<n> bytes". */
static void msg_size(struct msg *m, uint64_t bytes)
{
    if (bytes && bytes % MiB == 0) {
        msg_num(m, bytes / MiB, 10);
        msg_str(m, " MiB");
    } else {
        msg_num(m, bytes, 10);
        msg_str(m, " bytes");
    }
}

static int fail(struct msg *m, int rc, const char *s)
{
    msg_str(m, s);
    return rc;
}

/* ---- ELF64 (System V gABI; only what a static executable needs) ---------- */

#define EI_CLASS      4
#define EI_DATA       5
#define ELFCLASS64    2
#define ELFDATA2LSB   1
#define ET_EXEC       2
#define ET_DYN        3
#define EM_X86_64     62
#define PT_LOAD       1
#define PT_INTERP     3
#define EHDR_SIZE     64
#define PHDR_SIZE     56

struct phdr { uint32_t type; uint64_t offset, vaddr, paddr, filesz, memsz; };

static uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static void read_phdr(const uint8_t *p, struct phdr *ph)
{
    ph->type = rd32(p);
    ph->offset = rd64(p + 8);
    ph->vaddr = rd64(p + 16);
    ph->paddr = rd64(p + 24);
    ph->filesz = rd64(p + 32);
    ph->memsz = rd64(p + 40);
}

static int elf_check_header(const uint8_t *img, size_t len, struct msg *m)
{
    if (len < EHDR_SIZE)
        return fail(m, -ENOEXEC, "truncated ELF header");
    if (img[EI_CLASS] != ELFCLASS64 || img[EI_DATA] != ELFDATA2LSB ||
        rd16(img + 18) != EM_X86_64)
        return fail(m, -ENOEXEC, "not an x86-64 ELF executable");
    if (rd16(img + 16) == ET_DYN)
        return fail(m, -ENOEXEC, "position-independent ELF (ET_DYN) refused: "
                    "link it as ET_EXEC at a fixed address");
    if (rd16(img + 16) != ET_EXEC)
        return fail(m, -ENOEXEC, "not an x86-64 ELF executable (e_type is not ET_EXEC)");

    uint64_t phoff = rd64(img + 32);
    uint64_t phentsize = rd16(img + 54), phnum = rd16(img + 56);

    if (phnum == 0 || phnum == 0xffff)   /* 0xffff = PN_XNUM, extended numbering */
        return fail(m, -ENOEXEC, "ELF has no usable program header table");
    if (phentsize < PHDR_SIZE)
        return fail(m, -ENOEXEC, "ELF program header entries are too small");
    /* phnum * phentsize < 2^32: no overflow in 64 bits; phoff is checked first. */
    if (phoff > len || phnum * phentsize > len - phoff)
        return fail(m, -ENOEXEC, "ELF program header table lies outside the file");
    return 0;
}

static int seg_fail(struct msg *m, int rc, unsigned i, const struct phdr *ph, const char *why)
{
    msg_str(m, "ELF segment ");
    msg_num(m, i, 10);
    msg_str(m, " at ");
    msg_num(m, ph->paddr, 16);
    msg_str(m, why);
    return rc;
}

static int elf_check_segment(const struct phdr *ph, unsigned i, size_t len, uint64_t ram_size,
                             struct msg *m)
{
    if (ph->type == PT_INTERP)
        return fail(m, -ENOEXEC, "ELF needs a dynamic loader (PT_INTERP): link it statically");
    if (ph->type != PT_LOAD || ph->memsz == 0)
        return 0;
    if (ph->filesz > ph->memsz)
        return seg_fail(m, -ENOEXEC, i, ph, " has p_filesz larger than p_memsz");
    if (ph->offset > len || ph->filesz > len - ph->offset)
        return seg_fail(m, -ENOEXEC, i, ph, " has file contents past the end of the image");
    if (ph->paddr < GUEST_IMAGE_MIN_GPA)
        return seg_fail(m, -EINVAL, i, ph, " overlaps ferry's boot structures (below 0x40000)");
    if (ph->memsz > ram_size || ph->paddr > ram_size - ph->memsz) {
        seg_fail(m, -E2BIG, i, ph, " does not fit in ");
        msg_size(m, ram_size);
        return fail(m, -E2BIG, " of guest RAM");
    }
    return 0;
}

/* Validates everything, finds the entry's GPA; copies only if `ram` is set. */
static int elf_walk(const uint8_t *img, size_t len, uint8_t *ram, uint64_t ram_size,
                    uint64_t *entry, struct msg *m)
{
    uint64_t phoff = rd64(img + 32), e_entry = rd64(img + 24);
    unsigned phentsize = rd16(img + 54), phnum = rd16(img + 56);
    bool found = false, loads = false;

    for (unsigned i = 0; i < phnum; i++) {
        struct phdr ph;
        int rc;

        read_phdr(img + phoff + (uint64_t)i * phentsize, &ph);
        rc = elf_check_segment(&ph, i, len, ram_size, m);
        if (rc)
            return rc;
        if (ph.type != PT_LOAD || ph.memsz == 0)
            continue;
        loads = true;
        if (!found && e_entry >= ph.vaddr && e_entry - ph.vaddr < ph.memsz) {
            *entry = ph.paddr + (e_entry - ph.vaddr);
            found = true;
        }
        if (ram) {
            memcpy(ram + ph.paddr, img + ph.offset, ph.filesz);
            memset(ram + ph.paddr + ph.filesz, 0, ph.memsz - ph.filesz);
        }
    }
    if (!loads)
        return fail(m, -ENOEXEC, "ELF has no loadable segment");
    if (!found) {
        msg_str(m, "ELF entry point ");
        msg_num(m, e_entry, 16);
        return fail(m, -ENOEXEC, " is outside every loadable segment");
    }
    return 0;
}

static int flat_load(const uint8_t *img, size_t len, uint8_t *ram, uint64_t ram_size,
                     uint64_t *entry, struct msg *m)
{
    if (ram_size < GUEST_FLAT_LOAD_GPA || len > ram_size - GUEST_FLAT_LOAD_GPA) {
        msg_str(m, "flat image of ");
        msg_num(m, len, 10);
        msg_str(m, " bytes does not fit at 1 MiB in ");
        msg_size(m, ram_size);
        return fail(m, -E2BIG, " of guest RAM");
    }
    memcpy(ram + GUEST_FLAT_LOAD_GPA, img, len);
    *entry = GUEST_FLAT_LOAD_GPA;
    return 0;
}

int guest_image_load(const void *img, size_t len, uint8_t *ram, uint64_t ram_size,
                     uint64_t *entry, char *err, size_t errlen)
{
    struct msg m = { err, errlen, 0 };
    const uint8_t *p = img;
    uint64_t e = 0;
    int rc;

    msg_str(&m, "");
    if (!img || len == 0)
        return fail(&m, -EINVAL, "empty image");
    if (len < 4 || memcmp(p, "\x7f" "ELF", 4) != 0)
        return flat_load(p, len, ram, ram_size, entry, &m);
    rc = elf_check_header(p, len, &m);
    if (rc)
        return rc;
    rc = elf_walk(p, len, NULL, ram_size, &e, &m);       /* validate only */
    if (rc)
        return rc;
    elf_walk(p, len, ram, ram_size, &e, &m);             /* cannot fail now */
    *entry = e;
    return 0;
}

/* ---- boot structures ----------------------------------------------------- */

static void put64(uint8_t *ram, uint64_t gpa, uint64_t v) { memcpy(ram + gpa, &v, 8); }

/* SDM 3.4.5: a code/data descriptor with base 0, limit 0xfffff (G=1 -> 4 GiB). */
static uint64_t gdt_flat(uint32_t attr12)
{
    uint64_t access = attr12 & 0xff, flags = (attr12 >> 8) & 0xf;

    return 0xffffull | (0xfull << 48) | (access << 40) | (flags << 52);
}

/* SDM 7.2.3: the 16-byte TSS descriptor in IA-32e mode. */
static void gdt_tss(uint8_t *ram, uint64_t gpa, uint64_t base, uint32_t limit, uint32_t attr12)
{
    uint64_t lo = (limit & 0xffffull) | ((base & 0xffffffull) << 16) |
                  ((uint64_t)(attr12 & 0xff) << 40) | ((uint64_t)(limit >> 16 & 0xf) << 48) |
                  ((uint64_t)(attr12 >> 8 & 0xf) << 52) | ((base >> 24 & 0xff) << 56);

    put64(ram, gpa, lo);
    put64(ram, gpa + 8, base >> 32);
}

/* The TSS descriptor is marked busy, as after LTR: the state loads TR directly. */
void guest_boot_write_gdt(uint8_t *ram, unsigned code, unsigned data, unsigned tss)
{
    memset(ram + GUEST_GDT_GPA, 0, GUEST_TSS_GPA + GUEST_TSS_LIMIT + 1 - GUEST_GDT_GPA);
    put64(ram, GUEST_GDT_GPA + code, gdt_flat(GUEST_ATTR_CODE));
    put64(ram, GUEST_GDT_GPA + data, gdt_flat(GUEST_ATTR_DATA));
    gdt_tss(ram, GUEST_GDT_GPA + tss, GUEST_TSS_GPA, GUEST_TSS_LIMIT, GUEST_ATTR_TSS);
}

static void write_gdt(uint8_t *ram)
{
    guest_boot_write_gdt(ram, GUEST_SEL_CODE, GUEST_SEL_DATA, GUEST_SEL_TSS);
}

/* Identity map [0, ram_size) with 2 MiB pages; nothing beyond is present. */
void guest_boot_identity_map(uint8_t *ram, uint64_t ram_size)
{
    /* The four PDs map 4 GiB: a larger guest (a kernel= one: RAM past the PC hole) has what
     * its loader placed below 4 GiB mapped, and builds its own page tables for the rest. */
    uint64_t pages = (ram_size < 4 * GiB ? ram_size : 4 * GiB) / PAGE_2M;

    put64(ram, GUEST_PML4_GPA, GUEST_PDPT_GPA | PTE_P | PTE_RW);
    for (uint64_t pd = 0; pd < 4 && pd * GiB < ram_size; pd++)
        put64(ram, GUEST_PDPT_GPA + pd * 8, (GUEST_PD_GPA + pd * 0x1000) | PTE_P | PTE_RW);
    /* The four PDs are contiguous, so entry n of the 2048 maps n * 2 MiB. */
    for (uint64_t n = 0; n < pages; n++)
        put64(ram, GUEST_PD_GPA + n * 8, n * PAGE_2M | PTE_P | PTE_RW | PTE_PS);
}

static void write_boot_info(uint8_t *ram, uint64_t ram_size, unsigned vcpu, unsigned nvcpus,
                            const char *cmdline, size_t cmdlen)
{
    struct guest_boot_info bi;

    memset(&bi, 0, sizeof(bi));
    memcpy(bi.magic, "FERRYGST", 8);
    bi.version = GUEST_BOOT_INFO_VERSION;
    bi.size = sizeof(bi);
    bi.mem_size = ram_size;
    bi.vcpu_index = vcpu;
    bi.vcpu_count = nvcpus;
    bi.uart_port = GUEST_UART_PORT;
    memcpy(bi.cmdline, cmdline, cmdlen);
    memcpy(ram + guest_boot_info_gpa(vcpu), &bi, sizeof(bi));
}

int guest_boot_setup(uint8_t *ram, uint64_t ram_size, unsigned nvcpus, const char *cmdline)
{
    size_t cmdlen;

    if (ram_size < GUEST_RAM_MIN || ram_size > GUEST_RAM_MAX || ram_size % GUEST_RAM_ALIGN)
        return -EINVAL;
    if (nvcpus == 0 || nvcpus > GUEST_MAX_VCPUS)
        return -EINVAL;
    if (!cmdline)
        cmdline = "";
    for (cmdlen = 0; cmdlen < GUEST_CMDLINE_MAX && cmdline[cmdlen]; cmdlen++)
        ;
    if (cmdlen >= GUEST_CMDLINE_MAX)
        return -E2BIG;

    memset(ram, 0, GUEST_IMAGE_MIN_GPA);   /* also zeroes the TSS and unused PDs */
    write_gdt(ram);
    guest_boot_identity_map(ram, ram_size);
    for (unsigned i = 0; i < nvcpus; i++)
        write_boot_info(ram, ram_size, i, nvcpus, cmdline, cmdlen);
    return 0;
}

static void set_seg(struct seg *s, uint16_t sel, uint32_t attr, uint32_t limit, uint64_t base)
{
    s->sel = sel;
    s->attr = attr;
    s->limit = limit;
    s->base = base;
}

void guest_boot_init_state(struct vcpu_state *s)
{
    memset(s, 0, sizeof(*s));
    s->version = VCPU_STATE_VERSION;
    s->activity = ACT_WAIT_SIPI;
    s->rip = 0xfff0;
    s->rflags = 2;
    s->cr0 = 0x60000010;                 /* CD, NW, ET */
    s->pat = 0x0007040600070406ull;
    s->xcr0 = 1;
    s->dr7 = 0x400;
    set_seg(&s->cs, 0xf000, 0x9b, 0xffff, 0xffff0000);
    set_seg(&s->ds, 0, 0x93, 0xffff, 0);
    s->es = s->ss = s->fs = s->gs = s->ds;
    set_seg(&s->ldtr, 0, 0x82, 0xffff, 0);
    set_seg(&s->tr, 0, 0x8b, 0xffff, 0);
    s->gdtr.limit = 0xffff;
    s->idtr.limit = 0xffff;
    s->pending.type = EVENT_NONE;
}

void guest_boot_sipi_state(struct vcpu_state *s, uint8_t vector)
{
    s->activity = ACT_RUNNING;
    s->cs.sel = (uint16_t)(vector << 8);
    s->cs.base = (uint64_t)vector << 12;
    s->rip = 0;
}

void guest_boot_state(struct vcpu_state *s, uint64_t entry, unsigned vcpu)
{
    memset(s, 0, sizeof(*s));
    s->version = VCPU_STATE_VERSION;
    s->activity = ACT_RUNNING;
    s->rip = entry;
    s->rflags = GUEST_RFLAGS;
    s->gpr[GPR_RSP] = guest_stack_top(vcpu);
    s->gpr[GPR_RDI] = guest_boot_info_gpa(vcpu);
    s->cr0 = GUEST_CR0;
    s->cr3 = GUEST_PML4_GPA;
    s->cr4 = GUEST_CR4;
    s->efer = GUEST_EFER;
    s->pat = GUEST_PAT;
    s->xcr0 = GUEST_XCR0;
    s->dr7 = GUEST_DR7;
    /* G=1 segments carry the expanded limit, as VMX requires (SDM 26.3.1.2). */
    set_seg(&s->cs, GUEST_SEL_CODE, GUEST_ATTR_CODE, 0xffffffff, 0);
    set_seg(&s->ds, GUEST_SEL_DATA, GUEST_ATTR_DATA, 0xffffffff, 0);
    s->es = s->ss = s->fs = s->gs = s->ds;
    set_seg(&s->tr, GUEST_SEL_TSS, GUEST_ATTR_TSS, GUEST_TSS_LIMIT, GUEST_TSS_GPA);
    set_seg(&s->ldtr, 0, SEG_UNUSABLE, 0, 0);
    s->gdtr.base = GUEST_GDT_GPA;
    s->gdtr.limit = GUEST_GDT_LIMIT;
    /* No IDT: base 0, limit 0, so any exception or interrupt shuts the guest down. */
    s->idtr.base = 0;
    s->idtr.limit = 0;
    s->pending.type = EVENT_NONE;
}
