#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "hv/base/cmdline.h"
#include "hv/base/config.h"

struct hv_config hv_config;

typedef int (*config_set_fn)(struct hv_config *cfg, const char *value);

bool config_hostname_ok(const char *s, size_t n)
{
    if (n == 0 || n > CONFIG_HOSTNAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              (c == '-' && i > 0)))
            return false;
    }
    return true;
}

static int set_hostname(struct hv_config *cfg, const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n >= sizeof(cfg->hostname))
        return -ERANGE;
    if (!config_hostname_ok(v, n))
        return -EINVAL;
    memcpy(cfg->hostname, v, n + 1);
    return 0;
}

static int set_log_level(struct hv_config *cfg, const char *v)
{
    static const char *const names[] = { "error", "warning", "info", "debug" };
    for (unsigned i = 0; i < 4; i++)
        if (strcmp(v, names[i]) == 0) {
            cfg->log_level = (enum log_level)i;
            return 0;
        }
    return -EINVAL;
}

static int set_serial_baud(struct hv_config *cfg, const char *v)
{
    uint64_t b;
    int rc = cmdline_u64(v, 300, 115200, &b);
    if (rc)
        return rc;
    if (115200 % b)
        return -EINVAL;         /* must be an exact divisor of the 16550's clock */
    cfg->serial_baud = (uint32_t)b;
    return 0;
}

/* Syntax only here: the network layer applies them (and reports what it cannot). */
static bool dotted_quad(const char *v, size_t *len)
{
    unsigned parts = 0, digits = 0, val = 0;
    size_t i = 0;
    for (; v[i] && v[i] != '/'; i++) {
        if (v[i] == '.') {
            if (!digits || ++parts > 3)
                return false;
            digits = val = 0;
        } else if (v[i] >= '0' && v[i] <= '9' && digits < 3) {
            val = val * 10 + (v[i] - '0');
            digits++;
            if (val > 255)
                return false;
        } else {
            return false;
        }
    }
    *len = i;
    return parts == 3 && digits;
}

static int set_ip(struct hv_config *cfg, const char *v)
{
    size_t n;
    uint64_t prefix;
    if (!strcmp(v, "dhcp")) {
        strcpy(cfg->ip, v);
        return 0;
    }
    if (!dotted_quad(v, &n) || (v[n] && (v[n] != '/' || cmdline_u64(v + n + 1, 1, 32, &prefix))) ||
        strlen(v) >= sizeof(cfg->ip))
        return -EINVAL;
    strcpy(cfg->ip, v);
    return 0;
}

static int set_gateway(struct hv_config *cfg, const char *v)
{
    size_t n;
    if (!dotted_quad(v, &n) || v[n])
        return -EINVAL;
    strcpy(cfg->gateway, v);
    return 0;
}

/*
 * Guessing a key must cost at least 2^CONFIG_KEY_MIN_BITS tries: its length times log2 of the
 * alphabet its character classes span (digits 10, lower 26, upper 26, other printable 33),
 * with at least 8 distinct characters (no "aaaa..."). `cluster key generate` gives 64 hex
 * digits: 256 bits.
 */
int config_key_quality(const char *key, char *why, size_t n)
{
    size_t len = strlen(key);
    unsigned alphabet = 0, distinct = 0;
    bool digit = false, lower = false, upper = false, other = false, seen[128] = { false };
    if (len < CONFIG_KEY_MIN_LEN || len > CONFIG_KEY_MAX_LEN) {
        snprintf(why, n, "%zu characters: a cluster key has %d-%d", len, CONFIG_KEY_MIN_LEN,
                 CONFIG_KEY_MAX_LEN);
        return -ERANGE;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c <= ' ' || c > '~') {
            snprintf(why, n, "character %zu is not printable ASCII (or is a space)", i + 1);
            return -EINVAL;
        }
        digit |= c >= '0' && c <= '9';
        lower |= c >= 'a' && c <= 'z';
        upper |= c >= 'A' && c <= 'Z';
        other |= !(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z');
        distinct += !seen[c];
        seen[c] = true;
    }
    alphabet = (digit ? 10 : 0) + (lower ? 26 : 0) + (upper ? 26 : 0) + (other ? 33 : 0);
    /* bits = len * log2(alphabet): a mantissa in [2^32, 2^33) and an exponent, per character */
    uint64_t m = 1ull << 32;
    unsigned bits = 0;
    for (size_t i = 0; i < len; i++) {
        m *= alphabet;
        while (m >= 1ull << 33) {
            m >>= 1;
            bits++;
        }
    }
    if (distinct < 8 || bits < CONFIG_KEY_MIN_BITS) {
        snprintf(why, n, "too easy to guess (%u distinct characters, about %u bits; at least 8 "
                 "and %d): use `cluster key generate`", distinct, bits, CONFIG_KEY_MIN_BITS);
        return -EINVAL;
    }
    return 0;
}

static int set_cluster_key(struct hv_config *cfg, const char *v)
{
    char why[120];
    int rc = config_key_quality(v, why, sizeof(why));
    if (rc)
        return rc;
    memcpy(cfg->cluster_key, v, strlen(v) + 1);
    return 0;
}

static int set_count(uint32_t *out, const char *v, uint32_t lo, uint32_t hi)
{
    uint32_t n = 0;
    if (!*v || strlen(v) > 2)
        return -EINVAL;
    for (; *v; v++) {
        if (*v < '0' || *v > '9')
            return -EINVAL;
        n = n * 10 + (uint32_t)(*v - '0');
    }
    if (n < lo || n > hi)
        return -ERANGE;
    *out = n;
    return 0;
}

static int set_incoming_max(struct hv_config *cfg, const char *v)
{
    return set_count(&cfg->migrate_incoming_max, v, 0, CONFIG_MIGRATE_MAX);
}

static int set_outgoing_max(struct hv_config *cfg, const char *v)
{
    return set_count(&cfg->migrate_outgoing_max, v, 1, CONFIG_MIGRATE_MAX);
}

static int set_on_off(bool *out, const char *v)
{
    if (strcmp(v, "on") && strcmp(v, "off"))
        return -EINVAL;
    *out = !strcmp(v, "on");
    return 0;
}

static int set_numa_spanning(struct hv_config *cfg, const char *v)
{
    return set_on_off(&cfg->numa_spanning, v);
}

static int set_migrate_tls(struct hv_config *cfg, const char *v)
{
    return set_on_off(&cfg->migrate_tls, v);
}

/* NAME (1-15 letters, digits, '-', '_') ':' IF (an interface name or "none"); the switch code
 * checks the interface exists when it creates the switch. Names and uplinks are unique. */
static int set_switch(struct hv_config *cfg, const char *v)
{
    const char *colon = strchr(v, ':');
    size_t n = colon ? (size_t)(colon - v) : 0, m = colon ? strlen(colon + 1) : 0;
    struct config_switch sw = { 0 };
    if (!n || n >= sizeof(sw.name) || !m || m >= sizeof(sw.uplink))
        return -EINVAL;
    for (size_t i = 0; i < n + 1 + m; i++) {
        char c = v[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (i != n && !alnum && (i > n || (c != '-' && c != '_')))
            return -EINVAL;
    }
    memcpy(sw.name, v, n);
    memcpy(sw.uplink, colon + 1, m);
    for (uint32_t i = 0; i < cfg->nswitches; i++)
        if (!strcmp(cfg->switches[i].name, sw.name) ||
            (strcmp(sw.uplink, "none") && !strcmp(cfg->switches[i].uplink, sw.uplink)))
            return -EEXIST;
    if (cfg->nswitches == CONFIG_SWITCH_MAX)
        return -ENOSPC;
    cfg->switches[cfg->nswitches++] = sw;
    return 0;
}

static const struct {
    const char *key;
    config_set_fn set;
    const char *expect;
} keys[] = {
    { "hostname", set_hostname, "1-31 letters, digits and '-'" },
    { "log_level", set_log_level, "error, warning, info or debug" },
    { "serial_baud", set_serial_baud, "a divisor of 115200, e.g. 115200, 57600, 9600" },
    { "ip", set_ip, "dhcp or a.b.c.d/prefix, for the first network interface" },
    { "gateway", set_gateway, "a.b.c.d" },
    { "cluster_key", set_cluster_key, "a secret shared by the cluster's hosts, hard to guess" },
    { "migrate_incoming_max", set_incoming_max, "0-4 concurrent incoming migrations" },
    { "migrate_outgoing_max", set_outgoing_max, "1-4 concurrent outgoing migrations" },
    { "numa_spanning", set_numa_spanning, "on or off (a VM's memory may span NUMA nodes)" },
    { "migrate_tls", set_migrate_tls, "on or off (off: migrations travel in clear, for a "
      "dedicated migration network only)" },
    { "switch", set_switch, "NAME:IF, NAME 1-15 letters, digits, '-' or '_', IF an interface "
      "(eth0) or none; up to 8, each name and interface once" },
};

void config_defaults(struct hv_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    strcpy(cfg->hostname, "ferry");
    cfg->log_level = LOG_INFO;
    cfg->serial_baud = 115200;
    cfg->migrate_tls = true;
    cfg->migrate_incoming_max = 2;      /* Hyper-V's default of simultaneous migrations */
    cfg->migrate_outgoing_max = 2;
}

static void trim(char **s, char **e)
{
    while (*s < *e && (**s == ' ' || **s == '\t'))
        (*s)++;
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t' || (*e)[-1] == '\r'))
        (*e)--;
}

static int parse_line(struct hv_config *cfg, char *s, char *e, unsigned lineno)
{
    trim(&s, &e);
    if (s == e || *s == '#')
        return 0;
    *e = 0;
    char *eq = strchr(s, '=');
    if (!eq) {
        log_warn("config", "ferry.cfg line %u: expected key=value, ignored", lineno);
        return 1;
    }
    char *ke = eq, *v = eq + 1;
    trim(&s, &ke);
    *ke = 0;
    trim(&v, &e);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (strcmp(s, keys[i].key))
            continue;
        if (keys[i].set(cfg, v) == 0)
            return 0;
        if (keys[i].set == set_cluster_key) {   /* a secret: the reason, never the key */
            char why[120];
            config_key_quality(v, why, sizeof(why));
            log_warn("config", "ferry.cfg line %u: cluster_key refused: %s, ignored", lineno,
                     why);
        } else
            log_warn("config", "ferry.cfg line %u: bad value '%s' for %s (expected %s), "
                     "ignored", lineno, v, s, keys[i].expect);
        return 1;
    }
    log_warn("config", "ferry.cfg line %u: unknown key '%s', ignored", lineno, s);
    return 1;
}

int config_parse(const char *text, size_t len, struct hv_config *cfg)
{
    char line[256];
    unsigned lineno = 0;
    int problems = 0;
    size_t i = 0;

    while (i < len) {
        size_t n = 0;
        lineno++;
        while (i < len && text[i] != '\n') {
            if (n < sizeof(line) - 1)
                line[n] = text[i];
            n++;
            i++;
        }
        if (n > 0 && text[i - 1] == '\r')
            n--;                            /* CRLF: the CR is not content */
        i++;
        if (n >= sizeof(line)) {
            log_warn("config", "ferry.cfg line %u: longer than %lu characters, ignored", lineno,
                     (unsigned long)(sizeof(line) - 1));
            problems++;
            continue;
        }
        if (memchr(line, 0, n)) {
            log_warn("config", "ferry.cfg line %u: contains a NUL byte, ignored", lineno);
            problems++;
            continue;
        }
        problems += parse_line(cfg, line, line + n, lineno);
    }
    return problems;
}
