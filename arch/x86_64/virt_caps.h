/* What hardware virtualization the CPU offers (the `virt:` line of `host`). */
#ifndef ARCH_VIRT_CAPS_H
#define ARCH_VIRT_CAPS_H

#include <stdbool.h>
#include <stddef.h>

enum virt_kind { VIRT_NONE, VIRT_VMX, VIRT_SVM };

struct virt_caps {
    enum virt_kind kind;
    bool disabled_by_firmware;
    /* VT-x */
    bool ept, vpid, ug, pml, ad, preempt;
    /* AMD-V */
    bool npt, nrips, decode;
    unsigned asids;
};

void virt_caps_probe(struct virt_caps *vc);
/* "vmx ept vpid ..." / "svm npt ..." / "none" */
void virt_caps_format(const struct virt_caps *vc, char *buf, size_t n);

void cpu_vendor(char out[13]);
void cpu_brand(char out[49]);

#endif
