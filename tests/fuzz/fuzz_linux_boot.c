// libFuzzer over the Linux boot-protocol loader (hv/vm/linux_boot.c). Random bytes rarely make a
// setup header, so the input is laid over a valid one (Debian 12's field values): its first 127
// bytes are XORed onto the header (0x1f1..0x270), the next 64 become the initrd, the rest the
// kernel. The loader must refuse (saying why) or load without reading past the image or writing
// past the 72 MiB guest (ASan), with the entry and the initrd inside guest RAM.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hv/vm/linux_boot.h"

#define RAM (72ull << 20)
#define HDR 0x1f1
#define HDR_LEN (0x270 - HDR)

static uint8_t img[0x280 + 5 * 512 + 65536];

static void put(size_t off, unsigned width, uint64_t v)
{
    for (unsigned i = 0; i < width; i++)
        img[off + i] = (uint8_t)(v >> 8 * i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *ram;
    struct linux_boot lb;
    char err[200] = "";
    if (!ram && !(ram = calloc(1, RAM)))
        abort();
    size_t hdr = size < HDR_LEN ? size : HDR_LEN, rest = size - hdr;
    size_t rd = rest < 64 ? rest : 64, kern = rest - rd;
    if (kern > sizeof(img) - 5 * 512)
        kern = sizeof(img) - 5 * 512;
    memset(img, 0, sizeof(img));
    img[0x1f1] = 4;
    put(0x1f4, 4, (kern + 15) / 16);
    put(0x1fe, 2, 0xaa55);
    img[0x201] = 0x6a;
    memcpy(img + 0x202, "HdrS", 4);
    put(0x206, 2, 0x020f);
    img[0x211] = 1;
    put(0x22c, 4, 0x7fffffff);
    put(0x230, 4, 0x200000);
    img[0x234] = 1;
    put(0x236, 2, 0x7f);
    put(0x238, 4, 0x7ff);
    put(0x258, 8, 0x1000000);
    put(0x260, 4, 0x1000000);
    for (size_t i = 0; i < hdr; i++)
        img[HDR + i] ^= data[i];
    memcpy(img + 5 * 512, data + hdr + rd, kern);
    size_t len = 5 * 512 + kern + (data[0] & 15);         // sometimes a few bytes beyond
    if (linux_load(img, len, data + hdr, rd, "console=ttyS0", ram, RAM, RAM, &lb, err,
                   sizeof(err)) == 0) {
        if (lb.entry >= RAM || lb.load_gpa < (1 << 20) || (rd && lb.initrd_gpa + rd > RAM))
            abort();
    } else if (!err[0]) {
        abort();
    }
    return 0;
}
