/*
 * `cpu ...`: the host's CPU features and which baselines it can run, a VM's
 * CPU policy, the baselines, and the stored cluster baseline. Stable lines:
 *   cpu: vendor V family 0xF model 0xM stepping 0xS xcr0 0xX [arch_caps 0xA]
 *   features: NAME NAME ...
 *   baseline NAME: ok | missing=A,B | not set
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv/console/commands.h"
#include "hv/cpu/cpu_baseline.h"
#include "hv/cpu/cpu_policy_codec.h"
#include "hv/mig/mig_query.h"
#include "hv/mig/mig_stream.h"
#include "hv/vm/vmctl.h"
#include "lwip/ip4_addr.h"
#include "net/mig_transport.h"

static struct cpu_policy host_policy;
static char list[2048];

static void print_policy(struct con *c, const char *prefix, const struct cpu_policy *p)
{
    struct cpu_policy_fms f = cpu_policy_fms(p);
    struct cpu_featset s;

    con_printf(c, "%s vendor %s family 0x%x model 0x%x stepping 0x%x xcr0 0x%llx", prefix,
               p->vendor, f.family, f.model, f.stepping, (unsigned long long)p->xcr0_mask);
    if (p->arch_caps)
        con_printf(c, " arch_caps 0x%llx", (unsigned long long)p->arch_caps);
    con_puts(c, "\n");
    cpu_policy_features(p, &s);
    cpu_featset_format(&s, ' ', list, sizeof(list));
    con_puts(c, "features: ");
    con_puts(c, list);
    con_puts(c, "\n");
}

static int show_host(struct con *c)
{
    char missing[512];
    int rc;

    if ((rc = vm_host_policy(&host_policy))) {
        con_printf(c, "error: this host's CPUID does not fit a CPU policy (%d)\n", rc);
        return rc;
    }
    print_policy(c, "cpu:", &host_policy);
    for (unsigned i = 0; i < cpu_baseline_count(); i++) {
        const char *name = cpu_baseline_name(i);

        rc = cpu_baseline_check(&host_policy, name, missing, sizeof(missing));
        con_printf(c, "baseline %s: %s%s\n", name,
                   rc == -ENODATA ? "not set" : rc ? "missing=" : "ok", rc ? missing : "");
    }
    return 0;
}

static int show_vm(struct con *c, const char *name)
{
    struct vm *vm = vm_find(name);
    char prefix[64];

    if (!vm) {
        con_printf(c, "error: no VM named '%s'\n", name);
        return -ENOENT;
    }
    snprintf(prefix, sizeof(prefix), "vm %s: baseline %s", vm->name, vm->policy.name);
    print_policy(c, prefix, &vm->policy);
    return 0;
}

static void show_baselines(struct con *c)
{
    struct cpu_featset s;

    for (unsigned i = 0; i < cpu_baseline_count(); i++) {
        const char *name = cpu_baseline_name(i);
        int rc = cpu_baseline_features(name, &s);

        con_printf(c, "%s: %s", name, cpu_baseline_desc(i));
        if (rc == -ENODATA)
            con_puts(c, "; not set");
        con_puts(c, "\n");
        if (rc)
            continue;
        cpu_featset_format(&s, ' ', list, sizeof(list));
        con_printf(c, "  %u features: ", cpu_featset_count(&s));
        con_puts(c, list);
        con_puts(c, "\n");
    }
}

/* `cpu baseline set cluster F[,F...] [F...]`: a stored set until network discovery fills it. */
static int set_cluster(struct con *c, int argc, char **argv)
{
    struct cpu_featset all = { { 0 } }, one;
    char bad[32];

    for (int i = 4; i < argc; i++) {
        int rc = cpu_featset_parse(argv[i], &one, bad, sizeof(bad));

        if (rc) {
            con_printf(c, "error: %s feature '%s' (names as in cpu show)\n",
                       rc == -EINVAL ? "not a settable" : "unknown", bad);
            return rc;
        }
        for (unsigned w = 0; w < CPU_FEATSET_WORDS; w++)
            all.w[w] |= one.w[w];
    }
    cpu_baseline_set_cluster(&all);
    cpu_baseline_features(CPU_BASELINE_CLUSTER, &all);
    con_printf(c, "baseline cluster: %u features\n", cpu_featset_count(&all));
    return 0;
}

/*
 * `cpu baseline compute HOST...`: asks each ferry host (authenticated, on the migration port)
 * for its CPU policy and stores the features all of them and this host share as `cluster`.
 * Nothing is stored unless every host answered.
 */
static int compute_cluster(struct con *c, int argc, char **argv)
{
    static uint8_t blob[CPU_POLICY_BLOB_MAX];
    static struct cpu_policy peer;
    struct cpu_featset all, one;
    char err[160];

    if (vm_host_policy(&host_policy)) {
        con_puts(c, "error: this host's CPUID does not fit a CPU policy\n");
        return -EIO;
    }
    cpu_policy_features(&host_policy, &all);
    con_printf(c, "cpu: this host: %u features\n", cpu_featset_count(&all));
    for (int i = 3; i < argc; i++) {
        ip4_addr_t a;
        uint32_t status;
        size_t n;
        if (!ip4addr_aton(argv[i], &a)) {
            con_printf(c, "error: '%s' is not an IPv4 address; nothing stored\n", argv[i]);
            return -EINVAL;
        }
        int rc = mig_query(ip4_addr_get_u32(&a), MIG_PORT, MIG_QUERY_CPU, NULL, 0, &status,
                           blob, sizeof(blob), &n, 10000, err, sizeof(err));
        if (!rc && (status != MIG_QSTAT_OK || cpu_policy_deserialize(&peer, blob, n))) {
            snprintf(err, sizeof(err), "it sent no usable CPU policy (status %u)", status);
            rc = -EPROTO;
        }
        if (rc) {
            con_printf(c, "error: %s: %s; nothing stored\n", argv[i], err);
            return rc;
        }
        cpu_policy_features(&peer, &one);
        con_printf(c, "cpu: %s: %s, %u features\n", argv[i], peer.vendor,
                   cpu_featset_count(&one));
        cpu_featset_and(&all, &all, &one);
    }
    cpu_baseline_set_cluster(&all);
    cpu_baseline_features(CPU_BASELINE_CLUSTER, &all);
    con_printf(c, "baseline cluster: %u features from %d hosts\n", cpu_featset_count(&all),
               argc - 3);
    return 0;
}

int cmd_cpu(struct con *c, int argc, char **argv)
{
    if (argc >= 4 && !strcmp(argv[1], "baseline") && !strcmp(argv[2], "compute"))
        return compute_cluster(c, argc, argv);
    if (argc == 2 && !strcmp(argv[1], "show"))
        return show_host(c);
    if (argc == 3 && !strcmp(argv[1], "show"))
        return show_vm(c, argv[2]);
    if (argc == 2 && !strcmp(argv[1], "baselines")) {
        show_baselines(c);
        return 0;
    }
    if (argc >= 5 && !strcmp(argv[1], "baseline") && !strcmp(argv[2], "set") &&
        !strcmp(argv[3], CPU_BASELINE_CLUSTER))
        return set_cluster(c, argc, argv);
    con_usage(c, cmd_find("cpu"));
    return -EINVAL;
}
