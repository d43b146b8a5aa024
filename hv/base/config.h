/*
 * ferry.cfg: `key=value` lines, `#` comments, blank lines. Unknown keys and
 * bad values are reported (log_warn, with the line number) and ignored; the
 * defaults stand. The table in config.c is the list of keys.
 */
#ifndef HV_CONFIG_H
#define HV_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/base/log.h"

#define CONFIG_SWITCH_MAX  8     /* = VSW_MAX (net/vswitch.h checks) */
#define CONFIG_SWITCH_NAME 16    /* = VSW_NAME_MAX, with the NUL */

/* switch=NAME:IF: a virtual switch to create at boot, IF its uplink or "none" (internal). */
struct config_switch {
    char name[CONFIG_SWITCH_NAME];
    char uplink[8];             /* an interface name such as eth0, or "none" */
};

#define CONFIG_HOSTNAME_MAX 31

struct hv_config {
    char hostname[CONFIG_HOSTNAME_MAX + 1];
    enum log_level log_level;
    uint32_t serial_baud;
    char ip[32];                /* first interface: "dhcp", "a.b.c.d/prefix" or "" (none) */
    char gateway[16];
    char cluster_key[128];      /* shared by the hosts that migrate to each other */
    uint32_t migrate_incoming_max;  /* concurrent incoming migrations, 0 (none) - 4 */
    uint32_t migrate_outgoing_max;  /* concurrent outgoing migrations, 1 - 4 */
    bool numa_spanning;             /* a VM may take memory from several NUMA nodes */
    bool migrate_tls;               /* migrations over TLS (net/mig_tls.h); on by default */
    struct config_switch switches[CONFIG_SWITCH_MAX];
    uint32_t nswitches;             /* in the order ferry.cfg declares them */
};

#define CONFIG_MIGRATE_MAX 4    /* = MIGRATE_SLOTS */

void config_defaults(struct hv_config *cfg);
/* A host name as hostname= takes it: 1-31 letters, digits and '-', not first (also what the
 * migration port accepts as a TLS PSK identity). */
bool config_hostname_ok(const char *s, size_t n);
/* Returns the number of problems reported (0 = clean). */
int config_parse(const char *text, size_t len, struct hv_config *cfg);

/* A cluster key good enough to share (hv/base/config.c: length, printable, hard to guess):
 * 0, or a negative errno and the reason in why. */
#define CONFIG_KEY_MIN_LEN  16
#define CONFIG_KEY_MAX_LEN  127
#define CONFIG_KEY_MIN_BITS 96
int config_key_quality(const char *key, char *why, size_t n);

extern struct hv_config hv_config;

#endif
