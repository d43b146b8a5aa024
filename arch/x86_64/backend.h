#ifndef ARCH_BACKEND_H
#define ARCH_BACKEND_H

#include "arch/x86_64/virt_caps.h"
#include "hv/vm/vcpu_ops.h"

const struct vcpu_ops *arch_select_backend(const struct virt_caps *vc);

#endif
