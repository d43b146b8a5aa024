/*
 * Files from the boot volume: ferry.cfg at the root and guest images in
 * \images\. Each is copied into loader pages the core keeps. Booted over
 * PXE there is no file system: they come from the TFTP server (efi_pxe.c).
 */
#include <efi.h>
#include <efilib.h>

#include "boot/loader.h"


static int read_file(EFI_FILE_HANDLE f, uint64_t max, uint64_t *phys, uint64_t *size)
{
    EFI_FILE_INFO *info = LibFileInfo(f);
    EFI_PHYSICAL_ADDRESS a = 0;
    UINTN n;

    if (!info)
        return -1;
    n = info->FileSize;
    FreePool(info);
    if (n > max)
        return -2;
    if (EFI_ERROR(BS->AllocatePages(AllocateAnyPages, EfiLoaderData,
                                    EFI_SIZE_TO_PAGES(n + 1), &a)))
        return -3;
    if (EFI_ERROR(f->Read(f, &n, (void *)a))) {
        BS->FreePages(a, EFI_SIZE_TO_PAGES(n + 1));
        return -4;
    }
    ((char *)a)[n] = 0;
    *phys = a;
    *size = n;
    return 0;
}

static void load_config(EFI_FILE_HANDLE root, struct boot_info *bi)
{
    EFI_FILE_HANDLE f;
    if (EFI_ERROR(root->Open(root, &f, L"\\ferry.cfg", EFI_FILE_MODE_READ, 0))) {
        loader_log("loader: no ferry.cfg on the boot volume, using defaults");
        return;
    }
    if (read_file(f, CONFIG_MAX, &bi->config_phys, &bi->config_size))
        loader_log("loader: ferry.cfg unreadable or larger than 64 KiB, ignored");
    f->Close(f);
}

static void load_module(EFI_FILE_HANDLE dir, EFI_FILE_INFO *ent, struct boot_info *bi)
{
    EFI_FILE_HANDLE f;
    struct boot_module *m = &bi->modules[bi->nmodules];
    UINTN i;

    for (i = 0; ent->FileName[i] && i < sizeof(m->name) - 1; i++)
        m->name[i] = ent->FileName[i] < 128 ? (char)ent->FileName[i] : '?';
    m->name[i] = 0;
    if (EFI_ERROR(dir->Open(dir, &f, ent->FileName, EFI_FILE_MODE_READ, 0)))
        return;
    if (read_file(f, MODULE_MAX, &m->phys, &m->size) == 0)
        bi->nmodules++;
    else
        loader_log("loader: an image in \\images could not be read, skipped");
    f->Close(f);
}

static void load_modules(EFI_FILE_HANDLE root, struct boot_info *bi)
{
    EFI_FILE_HANDLE dir;
    UINT8 buf[sizeof(EFI_FILE_INFO) + 512] __attribute__((aligned(8)));

    if (EFI_ERROR(root->Open(root, &dir, L"\\images", EFI_FILE_MODE_READ, 0)))
        return;
    for (;;) {
        UINTN n = sizeof(buf);
        EFI_FILE_INFO *ent = (EFI_FILE_INFO *)buf;
        if (EFI_ERROR(dir->Read(dir, &n, buf)) || n == 0)
            break;
        if (ent->Attribute & EFI_FILE_DIRECTORY)
            continue;
        if (bi->nmodules == BOOT_MAX_MODULES) {
            loader_log("loader: too many files in \\images, the rest skipped");
            break;
        }
        load_module(dir, ent, bi);
    }
    dir->Close(dir);
}

void loader_files(EFI_HANDLE image, struct boot_info *bi)
{
    EFI_LOADED_IMAGE *li = NULL;
    EFI_GUID lip = LOADED_IMAGE_PROTOCOL;
    EFI_FILE_HANDLE root;

    if (EFI_ERROR(BS->HandleProtocol(image, &lip, (void **)&li)) || !li)
        return;
    /* Booted over the network: from the TFTP server (a network boot program such as iPXE
     * may also show its downloads as a file system: those are not ferry's files). */
    if (loader_files_pxe(li->DeviceHandle, bi) == 0)
        return;
    root = LibOpenRoot(li->DeviceHandle);
    if (!root) {
        loader_log("loader: boot device has no file system and was not booted over PXE: "
                   "defaults");
        return;
    }
    load_config(root, bi);
    load_modules(root, bi);
    root->Close(root);
}
