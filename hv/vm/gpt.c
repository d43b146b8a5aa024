#include <errno.h>
#include <string.h>

#include "hv/vm/gpt.h"
#include "hv/vm/vm.h"

#define CR0_PG (1ull << 31)
#define CR4_PSE (1ull << 4)
#define CR4_PAE (1ull << 5)
#define CR4_LA57 (1ull << 12)
#define EFER_LMA (1ull << 10)
#define PTE_P 1ull
#define PTE_PS 0x80ull
#define ADDR_MASK 0x000ffffffffff000ull

static int read_pte(struct vm *vm, uint64_t gpa, unsigned size, uint64_t *pte)
{
    void *p = vm_gpa_to_hva(vm, gpa, size);
    if (!p)
        return -EFAULT;
    *pte = 0;
    memcpy(pte, p, size);
    return (*pte & PTE_P) ? 0 : -EFAULT;
}

static int walk64(struct vm *vm, uint64_t table, uint64_t gva, int levels, uint64_t *gpa)
{
    for (int l = levels; l >= 1; l--) {
        unsigned shift = 12 + 9 * (l - 1);
        uint64_t pte;
        if (read_pte(vm, (table & ADDR_MASK) + ((gva >> shift) & 511) * 8, 8, &pte))
            return -EFAULT;
        if (l == 1 || (l <= 3 && (pte & PTE_PS))) {
            uint64_t sz = 1ull << shift;
            *gpa = (pte & ADDR_MASK & ~(sz - 1)) | (gva & (sz - 1));
            return 0;
        }
        table = pte;
    }
    return -EFAULT;
}

int gpt_translate(struct vm *vm, const struct vcpu_state *s, uint64_t gva, uint64_t *gpa)
{
    if (!(s->cr0 & CR0_PG)) {
        *gpa = gva;
        return 0;
    }
    if (s->efer & EFER_LMA)     /* 5-level paging with CR4.LA57 (SDM 4.5): Linux turns it on */
        return walk64(vm, s->cr3, gva, (s->cr4 & CR4_LA57) ? 5 : 4, gpa);
    if (s->cr4 & CR4_PAE) {
        uint64_t pdpte;
        gva &= 0xffffffffull;
        if (read_pte(vm, (s->cr3 & 0xffffffe0ull) + (gva >> 30) * 8, 8, &pdpte))
            return -EFAULT;
        return walk64(vm, pdpte, gva, 2, gpa);
    }
    /* 32-bit paging: 4-byte entries, 4 MiB pages with CR4.PSE */
    uint64_t pde, pte;
    gva &= 0xffffffffull;
    if (read_pte(vm, (s->cr3 & 0xfffff000ull) + (gva >> 22) * 4, 4, &pde))
        return -EFAULT;
    if ((s->cr4 & CR4_PSE) && (pde & PTE_PS)) {
        *gpa = (pde & 0xffc00000ull) | (gva & 0x3fffff);
        return 0;
    }
    if (read_pte(vm, (pde & 0xfffff000ull) + ((gva >> 12) & 1023) * 4, 4, &pte))
        return -EFAULT;
    *gpa = (pte & 0xfffff000ull) | (gva & 0xfff);
    return 0;
}

static int copy(struct vm *vm, const struct vcpu_state *s, uint64_t gva, void *buf, size_t n,
                bool write)
{
    uint8_t *b = buf;
    while (n) {
        uint64_t gpa;
        size_t chunk = 4096 - (gva & 4095);
        if (chunk > n)
            chunk = n;
        if (gpt_translate(vm, s, gva, &gpa))
            return -EFAULT;
        void *h = vm_gpa_to_hva(vm, gpa, chunk);
        if (!h)
            return -EFAULT;
        if (write) {
            memcpy(h, b, chunk);
            vm_dirty_log(vm, gpa);      /* through the direct map: EPT/NPT never saw it */
        } else
            memcpy(b, h, chunk);
        b += chunk;
        gva += chunk;
        n -= chunk;
    }
    return 0;
}

uint64_t gpt_code_address(const struct vcpu_state *s)
{
    if ((s->efer & EFER_LMA) && (s->cs.attr & SEG_ATTR_L))
        return s->rip;                  /* 64-bit code: CS's base counts as 0 */
    return (s->cs.base + s->rip) & 0xffffffffull;
}

int gpt_read(struct vm *vm, const struct vcpu_state *s, uint64_t gva, void *buf, size_t n)
{
    return copy(vm, s, gva, buf, n, false);
}

int gpt_write(struct vm *vm, const struct vcpu_state *s, uint64_t gva, const void *buf, size_t n)
{
    return copy(vm, s, gva, (void *)buf, n, true);
}
