/*
 * Multiboot v1 kernel images for the loader's tests and fuzzer, laid out as the specification
 * and the ELF format say: a 32-bit x86 ELF executable with one PT_LOAD segment at 1 MiB whose
 * first bytes are the Multiboot header (flags 0x3), or a flat "a.out kludge" image whose header
 * (flags 0x10003) carries the load addresses.
 */
#ifndef TESTS_MB_IMAGE_H
#define TESTS_MB_IMAGE_H

#include <stdint.h>
#include <string.h>

#define MBI_LOAD   0x100000u
#define MBI_CODE   0x1000u                 /* the segment's file offset */
#define MBI_FILESZ 0x2000u
#define MBI_MEMSZ  0x5000u                 /* with 12 KiB of bss */
#define MBI_ENTRY  (MBI_LOAD + 0x40)
#define MBI_ELF_SIZE (MBI_CODE + MBI_FILESZ)

static inline void mbi_put(uint8_t *p, unsigned width, uint32_t v)
{
    for (unsigned i = 0; i < width; i++)
        p[i] = (uint8_t)(v >> 8 * i);
}

static inline void mbi_header(uint8_t *h, uint32_t flags)
{
    mbi_put(h, 4, 0x1badb002u);
    mbi_put(h + 4, 4, flags);
    mbi_put(h + 8, 4, (uint32_t)-(0x1badb002u + flags));
}

/* A 32-bit ELF: header, one program header, the segment at file offset MBI_CODE. */
static inline void mbi_elf(uint8_t *img)
{
    memset(img, 0, MBI_ELF_SIZE);
    memcpy(img, "\177ELF", 4);
    img[4] = 1, img[5] = 1, img[6] = 1;
    mbi_put(img + 0x10, 2, 2);                  /* ET_EXEC */
    mbi_put(img + 0x12, 2, 3);                  /* EM_386 */
    mbi_put(img + 0x14, 4, 1);
    mbi_put(img + 0x18, 4, MBI_ENTRY);
    mbi_put(img + 0x1c, 4, 52);                 /* e_phoff */
    mbi_put(img + 0x28, 2, 52);
    mbi_put(img + 0x2a, 2, 32);
    mbi_put(img + 0x2c, 2, 1);
    uint8_t *ph = img + 52;
    mbi_put(ph, 4, 1);                          /* PT_LOAD */
    mbi_put(ph + 4, 4, MBI_CODE);
    mbi_put(ph + 8, 4, MBI_LOAD);
    mbi_put(ph + 12, 4, MBI_LOAD);
    mbi_put(ph + 16, 4, MBI_FILESZ);
    mbi_put(ph + 20, 4, MBI_MEMSZ);
    mbi_put(ph + 24, 4, 7);
    mbi_put(ph + 28, 4, 0x1000);
    mbi_header(img + MBI_CODE, 0x3);
    for (unsigned i = 12; i < MBI_FILESZ; i++)
        img[MBI_CODE + i] = (uint8_t)(i * 7 + 1);
}

/* A flat image loaded at 1 MiB: the header at offset 0x200 with its address fields. */
#define MBI_AOUT_SIZE 0x3000u
static inline void mbi_aout(uint8_t *img)
{
    memset(img, 0, MBI_AOUT_SIZE);
    for (unsigned i = 0; i < MBI_AOUT_SIZE; i++)
        img[i] = (uint8_t)(i * 13 + 5);
    uint8_t *h = img + 0x200;
    mbi_header(h, 0x10003);
    mbi_put(h + 12, 4, MBI_LOAD + 0x200);       /* header_addr */
    mbi_put(h + 16, 4, MBI_LOAD);               /* load_addr */
    mbi_put(h + 20, 4, MBI_LOAD + 0x2800);      /* load_end_addr: the last 2 KiB stay out */
    mbi_put(h + 24, 4, MBI_LOAD + 0x6000);      /* bss_end_addr */
    mbi_put(h + 28, 4, MBI_LOAD + 0x400);       /* entry_addr */
}

#endif
