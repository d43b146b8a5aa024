/* Test-and-test-and-set spinlocks; interrupts are the caller's business. */
#ifndef HV_SPINLOCK_H
#define HV_SPINLOCK_H

#include <stdbool.h>

struct spinlock { volatile int locked; };

/* A spin-wait loop's pause: kinder to the sibling hyperthread and to the memory bus. */
static inline void spin_relax(void)
{
    __builtin_ia32_pause();
}

static inline bool spin_trylock(struct spinlock *l)
{
    return !__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE);
}

static inline void spin_lock(struct spinlock *l)
{
    while (!spin_trylock(l))
        while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED))
            spin_relax();
}

static inline void spin_unlock(struct spinlock *l)
{
    __atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

#endif
