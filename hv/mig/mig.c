/* Migration front end: listening, starting, polling, and the console's status lines. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hv/base/config.h"
#include "hv/vm/dirty.h"
#include "hv/base/log.h"
#include "hv/mig/mig_auth.h"
#include "hv/mig/mig_int.h"
#include "hv/mig/mig_stream.h"
#include "arch/x86_64/cpu.h"
#include "net/mig_tls.h"
#include "net/netdev.h"
#include "net/port.h"
#include "mbedtls/sha256.h"

static char messages[4][MIG_MESSAGE_MAX];
static unsigned msg_head, msg_count;

void mig_say(const char *fmt, ...)
{
    va_list ap;
    char *m = messages[(msg_head + msg_count) % 4];
    va_start(ap, fmt);
    vsnprintf(m, sizeof(messages[0]), fmt, ap);
    va_end(ap);
    if (msg_count < 4)
        msg_count++;
    else
        msg_head = (msg_head + 1) % 4;
    log_info("migrate", "%s", m);
}

bool mig_message(char *buf, size_t n)
{
    if (!msg_count)
        return false;
    snprintf(buf, n, "%s", messages[msg_head]);
    msg_head = (msg_head + 1) % 4;
    msg_count--;
    return true;
}

void mig_inject(enum mig_fault f, unsigned hold_s)
{
    if (f == MIGRATE_FAULT_OLD_STREAM)
        mig_src_inject_old_stream();
    else if (f == MIGRATE_FAULT_HOLD_FINAL)
        mig_src_inject_hold(hold_s);
    else
        mig_dst_inject(f, hold_s);
}

int mig_init(void)
{
    if (strlen(hv_config.cluster_key) < MIG_AUTH_KEY_MIN) {
        log_info("migrate", "no cluster_key in ferry.cfg: not listening for migrations");
        return -EACCES;
    }
    int rc = mig_listen(MIG_PORT, mig_dst_accept);
    if (rc)
        log_warn("migrate", "cannot listen on TCP %d (%d)", MIG_PORT, rc);
    else if (hv_config.migrate_tls)
        log_info("migrate", "listening for migrations on TCP %d (TLS, as %s)", MIG_PORT,
                 hv_config.hostname);
    else
        log_warn("migrate", "listening for migrations on TCP %d in clear (migrate_tls=off): "
                 "only on a network nobody else reaches", MIG_PORT);
    return rc;
}

int mig_start(struct vm *vm, uint32_t addr_be, const struct mig_opts *o, char *err,
                  size_t errlen)
{
    if (strlen(hv_config.cluster_key) < MIG_AUTH_KEY_MIN) {
        snprintf(err, errlen, "no cluster_key (at least %d characters) in ferry.cfg",
                 MIG_AUTH_KEY_MIN);
        return -EACCES;
    }
    /* A local disk's blocks move only when asked (storage=copy: they cross the link, which
     * may take long); a disk on shared storage (NBD) needs nothing but its device state. */
    if (vm->disk_pages && !o->storage_copy) {
        snprintf(err, errlen, "reason=disk local=%s: the VM's disk is on this host; "
                 "storage=copy moves it with the VM", vm->disk);
        return -EOPNOTSUPP;
    }
    return mig_src_start(vm, addr_be, o, err, errlen);
}

int mig_cancel(struct vm *vm)
{
    return vm->migration == VM_MIG_IN ? mig_dst_cancel(vm) : mig_src_cancel(vm);
}

int mig_set_downtime(struct vm *vm, uint32_t downtime_ms)
{
    return vm->migration == VM_MIG_OUT ? mig_src_set_downtime(vm, downtime_ms) : -ENOENT;
}

_Static_assert(MIG_CONNS_MAX >= MIGRATE_SLOTS * (MIG_STREAMS_MAX + 1) + MIG_DST_CONNS,
               "the transport cannot hold every migration's connections");

void mig_poll(void)
{
    mig_src_poll();
    mig_dst_poll();
}

void mig_status(void (*out)(void *ctx, const char *line), void *ctx)
{
    char line[320];             /* the longest status line, a 31-character name and 20-digit counts */
    unsigned n = 0;
    for (unsigned i = 0; i < MIGRATE_SLOTS; i++) {
        struct mig_src_info o;
        if (mig_src_info(i, &o))
            continue;
        snprintf(line, sizeof(line), "migrate: outgoing vm=%s state=%s round=%u percent=%u "
                 "pages=%llu bytes=%llu mibps=%llu dirty_mibps=%llu expect_downtime_ms=%llu "
                 "elapsed_ms=%llu throttle=%u dirty=%s streams=%u", o.vm, o.state, o.round,
                 o.percent,
                 (unsigned long long)o.pages, (unsigned long long)o.bytes,
                 (unsigned long long)(o.bw >> 20), (unsigned long long)(o.dirty_rate >> 20),
                 (unsigned long long)o.expect_ms, (unsigned long long)o.elapsed_ms, o.throttle,
                 o.dirty, o.streams);
        out(ctx, line);
        n++;
    }
    for (unsigned i = 0; i < MIG_DST_CONNS; i++) {
        struct mig_dst_info in;
        if (mig_dst_info(i, &in))
            continue;
        snprintf(line, sizeof(line), "migrate: incoming vm=%s state=%s round=%u pages=%llu "
                 "bytes=%llu", in.vm, in.state, in.round, (unsigned long long)in.pages,
                 (unsigned long long)in.bytes);
        out(ctx, line);
        n++;
    }
    if (!n) {
        snprintf(line, sizeof(line), "migrate: none under way (limits: outgoing %u, incoming "
                 "%u%s)", hv_config.migrate_outgoing_max, hv_config.migrate_incoming_max,
                 strlen(hv_config.cluster_key) < MIG_AUTH_KEY_MIN ? ", not listening: no "
                 "cluster_key" : "");
        out(ctx, line);
    }
}

void mig_progress(char *buf, size_t n)
{
    unsigned count = 0;
    buf[0] = 0;
    for (unsigned i = 0; i < MIGRATE_SLOTS; i++) {
        struct mig_src_info o;
        if (mig_src_info(i, &o))
            continue;
        if (!count++)
            mig_src_bar(&o, buf, n);
    }
    if (count > 1) {
        size_t l = strlen(buf);
        snprintf(buf + l, n - l, " +%u more", count - 1);
    }
}

/*
 * A fresh cluster key: 64 hex digits (256 bits), SHA-256 over 32 bytes of the TLS random
 * generator (net/mig_tls.h), 64 RDRAND words (when the CPU has RDRAND), the TSC's jitter
 * across them and this host's MACs. Without RDRAND the bits come from timing alone: *weak
 * says so.
 */
void mig_key_generate(char out[65], bool *weak)
{
    static const char hex[] = "0123456789abcdef";
    mbedtls_sha256_context c;
    uint8_t digest[32];
    mbedtls_sha256_init(&c);
    (void)mbedtls_sha256_starts_ret(&c, 0);
    *weak = !((cpuid(1, 0).ecx >> 30) & 1);
    if (!mig_tls_random(digest, sizeof(digest)))
        (void)mbedtls_sha256_update_ret(&c, digest, sizeof(digest));
    for (unsigned i = 0; i < 64; i++) {
        uint64_t t0 = rdtsc();
        uint32_t r = net_rand();
        uint64_t sample[2] = { r, rdtsc() - t0 + t0 * 0x9e3779b97f4a7c15ull };
        (void)mbedtls_sha256_update_ret(&c, (const uint8_t *)sample, sizeof(sample));
    }
    for (unsigned i = 0; netdev_get(i); i++)
        (void)mbedtls_sha256_update_ret(&c, netdev_get(i)->mac, 6);
    (void)mbedtls_sha256_finish_ret(&c, digest);
    mbedtls_sha256_free(&c);
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    out[64] = 0;
    memset(digest, 0, sizeof(digest));
}

/*
 * A handshake nonce, from the TLS random generator (seeded with RDRAND, TSC jitter and the
 * MACs). Should it fail to start: RDRAND alone is not enough in emulators (two identically
 * configured Bochs machines produce the same RDRAND sequence, and equal nonces fail the
 * reflection check), so the TSC and this host's first MAC address make two hosts' differ.
 */
void mig_new_nonce(uint8_t out[MIG_AUTH_NONCE_SIZE])
{
    if (!mig_tls_random(out, MIG_AUTH_NONCE_SIZE))
        return;
    for (unsigned i = 0; i < MIG_AUTH_NONCE_SIZE; i += 8) {
        uint64_t z = ((uint64_t)net_rand() << 32 | net_rand()) ^ (rdtsc() * 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 31)) * 0xbf58476d1ce4e5b9ull;
        memcpy(out + i, &z, 8);
    }
    struct net_if *nif = netdev_get(0);
    for (unsigned i = 0; nif && i < 6; i++)
        out[i] ^= nif->mac[i];
}
