/* CPU policy and baseline operations over hv/cpu/ (and hv/mig/'s query for the cluster). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv/cpu/cpu_baseline.h"
#include "hv/cpu/cpu_policy_codec.h"
#include "hv/mgmt/mgmt_cpu.h"
#include "hv/mgmt/mgmt_internal.h"
#include "hv/mgmt/mgmt.h"
#include "hv/mig/mig_query.h"
#include "hv/mig/mig_stream.h"
#include "hv/vm/vmctl.h"
#include "net/mig_transport.h"

_Static_assert(sizeof(struct cpu_featset) == sizeof(struct mgmt_cpu_cluster),
               "mgmt_cpu_cluster holds a cpu_featset");
_Static_assert(sizeof(((struct cpu_policy *)0)->name) <=
               sizeof(((struct mgmt_cpu_info *)0)->baseline), "baseline name too long");

static struct cpu_policy host_policy;

static void info(const struct cpu_policy *p, struct mgmt_cpu_info *out)
{
    struct cpu_policy_fms f = cpu_policy_fms(p);
    struct cpu_featset s;

    memset(out, 0, sizeof(*out));
    snprintf(out->vendor, sizeof(out->vendor), "%s", p->vendor);
    out->family = f.family;
    out->model = f.model;
    out->stepping = f.stepping;
    out->xcr0 = p->xcr0_mask;
    out->arch_caps = p->arch_caps;
    cpu_policy_features(p, &s);
    cpu_featset_format(&s, ' ', out->features, sizeof(out->features));
}

int mgmt_cpu_host(struct mgmt_cpu_info *out, char *err, size_t errlen)
{
    int rc = vm_host_policy(&host_policy);
    if (rc) {
        snprintf(err, errlen, "this host's CPUID does not fit a CPU policy (%d)", rc);
        return rc;
    }
    info(&host_policy, out);
    return 0;
}

int mgmt_cpu_host_fit(unsigned i, const char **name, char *missing, size_t n)
{
    int rc = vm_host_policy(&host_policy);
    *name = cpu_baseline_name(i);
    missing[0] = 0;
    return rc ? rc : cpu_baseline_check(&host_policy, *name, missing, n);
}

int mgmt_cpu_vm(const char *name, struct mgmt_cpu_info *out, char *err, size_t errlen)
{
    int rc;
    struct vm *vm = mgmt_vm_get(name, true, &rc, err, errlen);
    if (!vm)
        return rc;
    info(&vm->policy, out);
    snprintf(out->baseline, sizeof(out->baseline), "%s", vm->policy.name);
    return 0;
}

unsigned mgmt_cpu_baseline_count(void)
{
    return cpu_baseline_count();
}

int mgmt_cpu_baseline(unsigned i, struct mgmt_cpu_baseline *out)
{
    struct cpu_featset s;

    memset(out, 0, sizeof(*out));
    out->name = cpu_baseline_name(i);
    out->desc = cpu_baseline_desc(i);
    int rc = cpu_baseline_features(out->name, &s);
    if (rc)
        return rc;
    out->nfeatures = cpu_featset_count(&s);
    cpu_featset_format(&s, ' ', out->features, sizeof(out->features));
    return 0;
}

static unsigned store_cluster(const struct cpu_featset *s)
{
    struct cpu_featset stored;
    cpu_baseline_set_cluster(s);
    cpu_baseline_features(CPU_BASELINE_CLUSTER, &stored);
    return cpu_featset_count(&stored);
}

int mgmt_cpu_cluster_set(char *const *lists, unsigned n, char *err, size_t errlen)
{
    struct cpu_featset all = { { 0 } }, one;
    char bad[32];

    for (unsigned i = 0; i < n; i++) {
        int rc = cpu_featset_parse(lists[i], &one, bad, sizeof(bad));

        if (rc) {
            snprintf(err, errlen, "%s feature '%s' (names as in cpu show)",
                     rc == -EINVAL ? "not a settable" : "unknown", bad);
            return rc;
        }
        for (unsigned w = 0; w < CPU_FEATSET_WORDS; w++)
            all.w[w] |= one.w[w];
    }
    return (int)store_cluster(&all);
}

int mgmt_cpu_cluster_begin(struct mgmt_cpu_cluster *c, unsigned *nfeatures, char *err,
                           size_t errlen)
{
    struct cpu_featset all;
    if (vm_host_policy(&host_policy)) {
        snprintf(err, errlen, "this host's CPUID does not fit a CPU policy");
        return -EIO;
    }
    cpu_policy_features(&host_policy, &all);
    memcpy(c->w, all.w, sizeof(c->w));
    *nfeatures = cpu_featset_count(&all);
    return 0;
}

/* Asks host (authenticated, on the migration port) for its CPU policy; 10 s at most. */
int mgmt_cpu_cluster_add(struct mgmt_cpu_cluster *c, const char *host, char vendor[13],
                         unsigned *nfeatures, char *err, size_t errlen)
{
    static uint8_t blob[CPU_POLICY_BLOB_MAX];
    static struct cpu_policy peer;
    struct cpu_featset all, one;
    char why[MGMT_ERR_MAX];
    uint32_t addr, status;
    size_t n;

    if (mgmt_ip4_parse(host, &addr)) {
        snprintf(err, errlen, "'%s' is not an IPv4 address; nothing stored", host);
        return -EINVAL;
    }
    int rc = mig_query(addr, MIG_PORT, MIG_QUERY_CPU, NULL, 0, &status, blob, sizeof(blob), &n,
                       10000, why, sizeof(why));
    if (!rc && (status != MIG_QSTAT_OK || cpu_policy_deserialize(&peer, blob, n))) {
        snprintf(why, sizeof(why), "it sent no usable CPU policy (status %u)", status);
        rc = -EPROTO;
    }
    if (rc) {
        snprintf(err, errlen, "%s: %s; nothing stored", host, why);
        return rc;
    }
    cpu_policy_features(&peer, &one);
    snprintf(vendor, 13, "%s", peer.vendor);
    *nfeatures = cpu_featset_count(&one);
    memcpy(all.w, c->w, sizeof(all.w));
    cpu_featset_and(&all, &all, &one);
    memcpy(c->w, all.w, sizeof(c->w));
    return 0;
}

unsigned mgmt_cpu_cluster_commit(const struct mgmt_cpu_cluster *c)
{
    struct cpu_featset all;
    memcpy(all.w, c->w, sizeof(all.w));
    return store_cluster(&all);
}
