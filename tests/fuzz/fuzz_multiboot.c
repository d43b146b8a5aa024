// libFuzzer over the Multiboot v1 loader (hv/vm/multiboot.c). Random bytes rarely make a
// Multiboot kernel, so the input is laid over a valid one (tests/unit/vm/mb_image.h): its first
// byte picks the ELF or the a.out-kludge image, the next 96 are XORed onto the ELF header and
// program header (or onto the Multiboot header's address fields), the rest onto the image body.
// The loader must refuse (saying why) or load without reading past the image or writing past
// the 16 MiB guest (ASan), with the entry inside what it loaded and the modules inside RAM.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hv/vm/multiboot.h"
#include "tests/unit/vm/mb_image.h"

#define RAM (16ull << 20)

static uint8_t img[0x4000];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *ram;
    struct mb_boot b;
    char err[200] = "";
    static const uint8_t mod[] = "module m\n";
    const struct mb_module mods[2] = { { mod, sizeof(mod) - 1, "m" }, { mod, 3, "second" } };
    if (!ram && !(ram = calloc(1, RAM)))
        abort();
    if (!size)
        return 0;
    bool aout = data[0] & 1;
    size_t len = aout ? MBI_AOUT_SIZE : MBI_ELF_SIZE;
    if (aout)
        mbi_aout(img);
    else
        mbi_elf(img);
    size_t hdr = size - 1 < 96 ? size - 1 : 96, base = aout ? 0x200 : 0;
    for (size_t i = 0; i < hdr; i++)
        img[base + i] ^= data[1 + i];
    for (size_t i = 1 + hdr; i < size && i - 1 - hdr + 0x400 < len; i++)
        img[0x400 + (i - 1 - hdr)] ^= data[i];
    if (data[0] & 2)
        len -= data[0] >> 2;                       /* truncated files too */
    int rc = mb_load(img, len, "k", mods, data[0] & 4 ? 2 : 0, "x=1", ram, RAM, RAM, &b, err,
                     sizeof(err));
    if (rc) {
        if (!err[0])
            abort();                               /* a refusal always says why */
        return 0;
    }
    if (b.entry < b.kernel_start || b.entry >= b.kernel_end || b.kernel_start < 0x100000 ||
        b.kernel_end > RAM || b.mods_end > RAM)
        abort();
    return 0;
}
