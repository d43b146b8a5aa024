/*
 * CPU list from the EFI MP services protocol (PI spec vol. 2, 13.4). Under
 * Bochs + OVMF there are no ACPI tables, so this is the only place the
 * loader can learn the APIC IDs; the core prefers the MADT when present.
 */
#include <efi.h>
#include <efilib.h>

#include "boot/loader.h"

#define MP_SERVICES_GUID \
    { 0x3fdda605, 0xa76e, 0x4f46, { 0xad, 0x29, 0x12, 0xf4, 0x53, 0x1b, 0x3d, 0x08 } }

#define MP_STATUS_BSP     0x1
#define MP_STATUS_ENABLED 0x2

struct mp_cpu_location { UINT32 package, core, thread; };

struct mp_processor_info {
    UINT64 processor_id;   /* the APIC ID */
    UINT32 status_flag;
    struct mp_cpu_location location;
};

struct mp_services {
    EFI_STATUS (EFIAPI *get_number_of_processors)(struct mp_services *self, UINTN *total,
                                                 UINTN *enabled);
    EFI_STATUS (EFIAPI *get_processor_info)(struct mp_services *self, UINTN n,
                                           struct mp_processor_info *info);
    /* StartupAllAPs, StartupThisAP, SwitchBSP, EnableDisableAP, WhoAmI follow. */
};

void loader_cpus(struct boot_info *bi)
{
    EFI_GUID guid = MP_SERVICES_GUID;
    struct mp_services *mp = NULL;
    UINTN total = 0, enabled = 0;

    if (EFI_ERROR(BS->LocateProtocol(&guid, NULL, (void **)&mp)) || !mp) {
        loader_log("loader: no EFI MP services protocol");
        return;
    }
    if (EFI_ERROR(mp->get_number_of_processors(mp, &total, &enabled))) {
        loader_log("loader: MP services: GetNumberOfProcessors failed");
        return;
    }
    for (UINTN i = 0; i < total && bi->ncpus < BOOT_MAX_CPUS; i++) {
        struct mp_processor_info info;
        if (EFI_ERROR(mp->get_processor_info(mp, i, &info)))
            continue;
        if (!(info.status_flag & MP_STATUS_ENABLED))
            continue;
        if (info.status_flag & MP_STATUS_BSP)
            bi->bsp_apic_id = (uint32_t)info.processor_id;
        bi->cpu_apic_ids[bi->ncpus++] = (uint32_t)info.processor_id;
    }
    bi->cpu_source = BOOT_CPUS_EFI_MP;
}
