/*
 * Shared by the console fuzz target (tests/fuzz/fuzz_console.c: input, control loop, checks on
 * what is printed) and its fake management layer (tests/fuzz/fuzz_console_mgmt.c: VMs, host,
 * network, switches, migrations, each action checking what it was asked).
 */
#ifndef FUZZ_CONSOLE_H
#define FUZZ_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#define FCHECK(c) do { if (!(c)) { \
    fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); abort(); } } while (0)

/* Set by a fake action whose failure its command reports as a result line rather than
 * "error: ..." (ping without replies, bench failure, dirty pages missed). */
extern bool fcon_outcome_line;

/* One-shot lines the control loop printed between commands (a migration completed). */
extern unsigned fmgmt_messages;

/* Every input starts from the same VMs, switches, addresses and cluster baseline. */
void fmgmt_reset(void);
/* The VM lookup every fake operation does: 0, or -ENOENT / -EBUSY with the reason in err. */
int fmgmt_vm_lookup(const char *name, bool busy_ok, char *err, size_t errlen);

/* The machine resets: the input ends here (fuzz_console.c). */
void fcon_reboot(void) __attribute__((noreturn));

#endif
