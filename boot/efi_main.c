/*
 * ferry's UEFI loader: gathers what only firmware knows (memory map, ACPI
 * RSDP, the CPU list from MP services, ferry.cfg and guest images from the
 * boot volume), loads the embedded core ELF, builds the hand-off page tables,
 * exits boot services and jumps to the core. The only file that sees UEFI.
 */
#include <efi.h>
#include <efilib.h>
#include <stdint.h>

#include "boot/boot_info.h"
#include "boot/loader.h"

extern const uint8_t core_blob_start[], core_blob_end[];

static struct boot_info *bi;

void loader_log(const char *msg)
{
    UINTN n = 0;
    while (n < BOOT_LOG_SIZE - 1 && bi->loader_log[n])
        n++;
    while (*msg && n < BOOT_LOG_SIZE - 2)
        bi->loader_log[n++] = *msg++;
    bi->loader_log[n++] = '\n';
    bi->loader_log[n] = 0;
}

static void *alloc_pages(UINTN pages, EFI_PHYSICAL_ADDRESS *phys)
{
    EFI_PHYSICAL_ADDRESS a = 0;
    if (EFI_ERROR(BS->AllocatePages(AllocateAnyPages, EfiLoaderData, pages, &a)))
        return NULL;
    if (phys)
        *phys = a;
    ZeroMem((void *)a, pages * EFI_PAGE_SIZE);
    return (void *)a;
}

static void find_rsdp(void)
{
    EFI_GUID acpi20 = ACPI_20_TABLE_GUID, acpi10 = ACPI_TABLE_GUID;
    for (UINTN i = 0; i < ST->NumberOfTableEntries; i++) {
        EFI_CONFIGURATION_TABLE *t = &ST->ConfigurationTable[i];
        if (!CompareGuid(&t->VendorGuid, &acpi20)) {
            bi->rsdp_phys = (uint64_t)t->VendorTable;
            return;
        }
        if (!CompareGuid(&t->VendorGuid, &acpi10))
            bi->rsdp_phys = (uint64_t)t->VendorTable;
    }
    if (!bi->rsdp_phys)
        loader_log("loader: firmware offers no ACPI RSDP");
}

/* The firmware's clock for the guests' RTCs, with the TSC to advance it by. */
static void loader_time(void)
{
    EFI_TIME t;
    uint32_t lo, hi;
    if (RT->GetTime(&t, NULL) == EFI_SUCCESS && t.Year >= 1970 && t.Month >= 1 &&
        t.Month <= 12 && t.Day >= 1 && t.Day <= 31 && t.Hour < 24 && t.Minute < 60 &&
        t.Second < 60) {
        bi->time_year = t.Year;
        bi->time_month = t.Month;
        bi->time_day = t.Day;
        bi->time_hour = t.Hour;
        bi->time_minute = t.Minute;
        bi->time_second = t.Second;
        bi->time_zone = t.TimeZone;
    }
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    bi->time_tsc = (uint64_t)hi << 32 | lo;
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab)
{
    EFI_PHYSICAL_ADDRESS bi_phys;

    InitializeLib(image, systab);
    BS->SetWatchdogTimer(0, 0, 0, NULL);
    Print(L"ferry loader\r\n");

    bi = alloc_pages(EFI_SIZE_TO_PAGES(sizeof(*bi)), &bi_phys);
    if (!bi) {
        Print(L"ferry: out of memory\r\n");
        return EFI_OUT_OF_RESOURCES;
    }
    bi->magic = BOOT_INFO_MAGIC;
    bi->version = BOOT_INFO_VERSION;
    bi->size = sizeof(*bi);

    find_rsdp();
    loader_cpus(bi);
    loader_files(image, bi);

    struct loader_core core;
    if (loader_core_prepare(core_blob_start, core_blob_end - core_blob_start, bi, &core)) {
        Print(L"ferry: cannot load the core image\r\n");
        return EFI_LOAD_ERROR;
    }
    Print(L"ferry: starting core\r\n");
    loader_time();
    loader_exit_and_jump(image, bi, bi_phys, &core);
}
