/* See fake_mig_src.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_mig_src.h"
#include "hv/mig/mig_devices.h"
#include "hv/mig/mig_int.h"
#include "hv/vm/dirty.h"
#include "hv/vm/vmctl.h"
#include "net/netdev.h"

static void __attribute__((noreturn)) fake_fail(const char *what)
{
    fprintf(stderr, "fake_mig_src: %s\n", what);
    abort();
}

#define FAKE_CHECK(c, what) do { if (!(c)) fake_fail(what); } while (0)

/* ---- transport ---- */

struct mig_conn *fake_conns[FAKE_CONNS_MAX];
unsigned fake_nconns;
bool fake_connect_fails;
size_t fake_window = 1 << 20;

struct mig_conn *mig_conn_connect(uint32_t addr_be, uint16_t port, const struct mig_conn_ops *ops,
                                  void *ctx)
{
    if (fake_connect_fails)
        return NULL;
    FAKE_CHECK(fake_nconns < FAKE_CONNS_MAX, "more connections than any run needs");
    struct mig_conn *c = calloc(1, sizeof(*c));
    FAKE_CHECK(c, "out of host memory");
    c->ops = ops;
    c->ctx = ctx;
    c->addr = addr_be;
    c->port = port;
    c->id = fake_nconns;
    c->window = fake_window;
    fake_conns[fake_nconns++] = c;
    return c;
}

/* The engine may hand NULL (the transport answers 0), never a connection that is gone. */
static void live(const struct mig_conn *c)
{
    FAKE_CHECK(!c->dead, "the engine used a connection that was closed");
}

size_t mig_conn_write(struct mig_conn *c, const void *data, size_t n)
{
    if (!c)
        return 0;
    live(c);
    if (!c->up || c->unacked >= c->window)
        return 0;
    if (n > c->window - c->unacked)
        n = c->window - c->unacked;
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + n)
            cap *= 2;
        c->out = realloc(c->out, cap);
        FAKE_CHECK(c->out, "out of host memory");
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, data, n);
    c->out_len += n;
    c->unacked += n;
    c->written += n;
    return n;
}

void mig_conn_close(struct mig_conn *c)
{
    if (!c)
        return;
    live(c);
    c->dead = true;
}

size_t mig_conn_unacked(const struct mig_conn *c)
{
    if (!c)
        return 0;
    live(c);
    return c->unacked;
}

const char *mig_conn_strerror(int err)
{
    switch (err) {
    case -EACCES: return "TLS refused: the cluster keys differ";
    case -EPROTO: return "TLS failed: not a ferry host";
    case -ECONNRESET: return "connection reset";
    default: return "connection lost";
    }
}

void fake_conn_connected(struct mig_conn *c)
{
    FAKE_CHECK(!c->dead && !c->up, "connected twice");
    c->up = true;
    if (c->ops->connected)
        c->ops->connected(c->ctx);
}

void fake_conn_recv(struct mig_conn *c, const void *p, size_t n)
{
    FAKE_CHECK(!c->dead && c->up, "bytes on a connection that is not open");
    if (n)
        c->ops->recv(c->ctx, p, n);
}

void fake_conn_drop(struct mig_conn *c, int err)
{
    FAKE_CHECK(!c->dead, "a connection closed twice");
    c->dead = true;
    if (c->ops->closed)
        c->ops->closed(c->ctx, err);
}

void fake_conn_ack(struct mig_conn *c, size_t n)
{
    n = n < c->unacked ? n : c->unacked;
    c->unacked -= n;
    c->acked += n;
}

size_t mig_conn_acked(const struct mig_conn *c)
{
    if (!c)
        return 0;
    live(c);
    return c->acked;
}

void fake_conn_consume(struct mig_conn *c, size_t n)
{
    FAKE_CHECK(n <= c->out_len, "consumed more than was written");
    memmove(c->out, c->out + n, c->out_len - n);
    c->out_len -= n;
}

bool fake_conns_reset(void)
{
    bool ok = true;
    for (unsigned i = 0; i < fake_nconns; i++) {
        ok = ok && fake_conns[i]->dead;
        free(fake_conns[i]->out);
        free(fake_conns[i]);
        fake_conns[i] = NULL;
    }
    fake_nconns = 0;
    return ok;
}

/* ---- what hv/mig/mig.c reaches besides the source: no target, no network ---- */

int mig_listen(uint16_t port, mig_accept_fn accept)
{
    (void)port, (void)accept;
    return -ENOSYS;
}
void *mig_dst_accept(struct mig_conn *c, const struct mig_conn_ops **ops)
{
    (void)c, (void)ops;
    return NULL;
}
void mig_dst_poll(void) {}
int mig_dst_cancel(struct vm *vm)
{
    (void)vm;
    return -ENOENT;
}
int mig_dst_info(unsigned i, struct mig_dst_info *info)
{
    (void)i, (void)info;
    return -ENOENT;
}
void mig_dst_inject(enum mig_fault f, unsigned hold_s) { (void)f, (void)hold_s; }
struct net_if *netdev_get(unsigned i) { (void)i; return NULL; }

/* net/mig_tls.c's generator: a counter, so that every nonce differs. */
int mig_tls_random(void *out, size_t n)
{
    static uint64_t next = 0x6a09e667f3bcc908ull;
    for (uint8_t *p = out; n--; p++)
        *p = (uint8_t)((next += 0x9e3779b97f4a7c15ull) >> 56);
    return 0;
}

void (*fake_net_service)(void);

void net_service(void)
{
    if (fake_net_service)
        fake_net_service();
}

/* ---- the VM ---- */

struct vm fake_vm;
uint8_t *fake_ram;
uint64_t *fake_dirty;
uint64_t *fake_disk_log;
unsigned fake_pauses, fake_resumes, fake_destroys;
bool fake_pause_fails, fake_save_fails, fake_dirty_fails, fake_disk_log_fails, fake_dev_busy;
struct device fake_device;

static void vm_ok(const struct vm *vm)
{
    FAKE_CHECK(vm == &fake_vm, "not the VM under test");
    FAKE_CHECK(vm->state != VM_EMPTY, "the VM was used after it was destroyed");
}

const char *vm_state_name(enum vm_state s)
{
    static const char *const n[] = { "empty", "created", "running", "paused", "stopped" };
    return (unsigned)s < sizeof(n) / sizeof(n[0]) ? n[s] : "?";
}

int vm_pause(struct vm *vm, char *err, size_t errlen)
{
    vm_ok(vm);
    FAKE_CHECK(vm->state == VM_RUNNING, "pause of a VM that is not running");
    if (fake_pause_fails) {
        snprintf(err, errlen, "vm %s: a vcpu did not stop within 2 s", vm->name);
        return -ETIMEDOUT;
    }
    vm->state = VM_PAUSED;
    fake_pauses++;
    return 0;
}

int vm_resume(struct vm *vm, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    vm_ok(vm);
    FAKE_CHECK(vm->state == VM_PAUSED, "resume of a VM that is not paused");
    vm->state = VM_RUNNING;
    fake_resumes++;
    return 0;
}

int vm_destroy(struct vm *vm, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    vm_ok(vm);
    FAKE_CHECK(!vm->dirty_on && !fake_disk_log, "destroyed with dirty or disk logging on");
    FAKE_CHECK(vm->migration == VM_MIG_NONE, "destroyed while still migrating");
    vm->state = VM_EMPTY;
    fake_destroys++;
    return 0;
}

int vm_save_vcpus(struct vm *vm)
{
    vm_ok(vm);
    FAKE_CHECK(vm->state != VM_RUNNING, "vCPU state read while the guest runs");
    return fake_save_fails ? -ETIMEDOUT : 0;
}

void vm_saved_tsc_align(struct vm *vm) { vm_ok(vm); }

int vm_disk_log(struct vm *vm, uint64_t *log)
{
    vm_ok(vm);
    if (!vm->disk_pages)
        return -ENODEV;
    if (log && fake_disk_log_fails)
        return -EIO;
    fake_disk_log = log;
    return 0;
}

void *vm_gpa_to_hva(struct vm *vm, uint64_t gpa, uint64_t len)
{
    vm_ok(vm);
    uint64_t end = vm->gfn_end << 12;
    if (gpa < vm->low_end && len <= vm->low_end - gpa)
        return fake_ram + gpa;
    if (gpa >= VM_HIGH_RAM && gpa < end && len <= end - gpa)
        return fake_ram + vm->low_end + (gpa - VM_HIGH_RAM);
    fake_fail("guest RAM read outside RAM");
}

unsigned vm_dirty_modes(void) { return DIRTY_MODE_BIT(DIRTY_WP) | DIRTY_MODE_BIT(DIRTY_AD); }

const char *dirty_mode_name(enum dirty_mode m)
{
    static const char *const n[] = { "auto", "wp", "ad", "pml" };
    return (unsigned)m < DIRTY_MODE_COUNT ? n[m] : "?";
}

int vm_dirty_start(struct vm *vm, enum dirty_mode mode)
{
    vm_ok(vm);
    FAKE_CHECK(!vm->dirty_on, "dirty logging started twice");
    if (mode == DIRTY_AUTO)
        mode = DIRTY_AD;
    if (!(vm_dirty_modes() & DIRTY_MODE_BIT(mode)))
        return -ENOTSUP;
    if (fake_dirty_fails)
        return -ENOMEM;
    memset(fake_dirty, 0, (vm->gfn_end + 63) / 64 * 8);
    vm->dirty_mode = mode;
    vm->dirty_on = true;
    return 0;
}

uint64_t vm_dirty_harvest(struct vm *vm, uint64_t *out)
{
    uint64_t n = 0;
    vm_ok(vm);
    FAKE_CHECK(vm->dirty_on, "harvest without dirty logging");
    for (uint64_t w = 0; w < (vm->gfn_end + 63) / 64; w++) {
        out[w] = fake_dirty[w];
        fake_dirty[w] = 0;
        n += __builtin_popcountll(out[w]);
    }
    return n;
}

void vm_dirty_stop(struct vm *vm)
{
    vm_ok(vm);
    vm->dirty_on = false;
}

bool dev_set_busy(struct dev_set *s)
{
    (void)s;
    return fake_dev_busy;
}

/* ---- devices: fake_device, when the VM has it, with a 16-byte record ---- */

static const struct mig_dev_id fake_dev_id = { .type = 0x7f01, .instance = 0, .version = 1 };

int mig_devices_hello(const struct dev_set *s, struct mig_hello *h)
{
    h->ndevices = (uint16_t)s->ndevs;
    for (unsigned i = 0; i < s->ndevs; i++)
        h->devices[i] = fake_dev_id;
    return 0;
}

void mig_devices_poll(struct dev_set *s) { (void)s; }

int mig_devices_put(struct mig_enc *e, const struct device *d, uint8_t *scratch)
{
    FAKE_CHECK(d == &fake_device, "not the VM's device");
    memset(scratch, 0x5a, 16);
    return mig_rec_device(e, &fake_dev_id, scratch, 16);
}

/* ---- the host CPU: an AVX-512 XSAVE layout (as fake_mig_dst.c's), a TSC of 2 GHz ---- */

static const size_t comp_end[10] = { [2] = 832, [5] = 1152, [6] = 1664, [7] = 2688, [9] = 2696 };

uint64_t fpu_xcr0_supported(void) { return 0x2e7; }

size_t fpu_area_size_for(uint64_t xcr0)
{
    size_t end = 576;
    xcr0 &= fpu_xcr0_supported();
    for (unsigned i = 2; i < 10; i++)
        if (xcr0 >> i & 1 && comp_end[i] > end)
            end = comp_end[i];
    return (end + 63) & ~(size_t)63;
}

uint64_t time_tsc_khz(void) { return 2000000; }
