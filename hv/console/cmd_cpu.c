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
#include "hv/mgmt/mgmt.h"
#include "hv/mgmt/mgmt_cpu.h"

static struct mgmt_cpu_info info;

static void print_policy(struct con *c, const char *prefix, const struct mgmt_cpu_info *p)
{
    con_printf(c, "%s vendor %s family 0x%x model 0x%x stepping 0x%x xcr0 0x%llx", prefix,
               p->vendor, p->family, p->model, p->stepping, (unsigned long long)p->xcr0);
    if (p->arch_caps)
        con_printf(c, " arch_caps 0x%llx", (unsigned long long)p->arch_caps);
    con_puts(c, "\n");
    con_puts(c, "features: ");
    con_puts(c, p->features);
    con_puts(c, "\n");
}

static int show_host(struct con *c)
{
    char missing[MGMT_CPU_MISSING_MAX], err[MGMT_ERR_MAX];
    int rc;

    if ((rc = mgmt_cpu_host(&info, err, sizeof(err)))) {
        con_printf(c, "error: %s\n", err);
        return rc;
    }
    print_policy(c, "cpu:", &info);
    for (unsigned i = 0; i < mgmt_cpu_baseline_count(); i++) {
        const char *name;

        rc = mgmt_cpu_host_fit(i, &name, missing, sizeof(missing));
        con_printf(c, "baseline %s: %s%s\n", name,
                   rc == -ENODATA ? "not set" : rc ? "missing=" : "ok", rc ? missing : "");
    }
    return 0;
}

static int show_vm(struct con *c, const char *name)
{
    char prefix[64], err[MGMT_ERR_MAX];
    int rc = mgmt_cpu_vm(name, &info, err, sizeof(err));

    if (rc) {
        con_printf(c, "error: %s\n", err);
        return rc;
    }
    snprintf(prefix, sizeof(prefix), "vm %s: baseline %s", name, info.baseline);
    print_policy(c, prefix, &info);
    return 0;
}

static void show_baselines(struct con *c)
{
    static struct mgmt_cpu_baseline b;

    for (unsigned i = 0; i < mgmt_cpu_baseline_count(); i++) {
        int rc = mgmt_cpu_baseline(i, &b);

        con_printf(c, "%s: %s", b.name, b.desc);
        if (rc == -ENODATA)
            con_puts(c, "; not set");
        con_puts(c, "\n");
        if (rc)
            continue;
        con_printf(c, "  %u features: ", b.nfeatures);
        con_puts(c, b.features);
        con_puts(c, "\n");
    }
}

/* `cpu baseline set cluster F[,F...] [F...]`: a stored set until network discovery fills it. */
static int set_cluster(struct con *c, int argc, char **argv)
{
    char err[MGMT_ERR_MAX];
    int n = mgmt_cpu_cluster_set(argv + 4, (unsigned)(argc - 4), err, sizeof(err));

    if (n < 0) {
        con_printf(c, "error: %s\n", err);
        return n;
    }
    con_printf(c, "baseline cluster: %u features\n", (unsigned)n);
    return 0;
}

/*
 * `cpu baseline compute HOST...`: asks each ferry host (authenticated, on the migration port)
 * for its CPU policy and stores the features all of them and this host share as `cluster`.
 * Nothing is stored unless every host answered.
 */
static int compute_cluster(struct con *c, int argc, char **argv)
{
    struct mgmt_cpu_cluster cl;
    char err[MGMT_ERR_MAX], vendor[13];
    unsigned n;
    int rc;

    if ((rc = mgmt_cpu_cluster_begin(&cl, &n, err, sizeof(err)))) {
        con_printf(c, "error: %s\n", err);
        return rc;
    }
    con_printf(c, "cpu: this host: %u features\n", n);
    for (int i = 3; i < argc; i++) {
        if ((rc = mgmt_cpu_cluster_add(&cl, argv[i], vendor, &n, err, sizeof(err)))) {
            con_printf(c, "error: %s\n", err);
            return rc;
        }
        con_printf(c, "cpu: %s: %s, %u features\n", argv[i], vendor, n);
    }
    n = mgmt_cpu_cluster_commit(&cl);
    con_printf(c, "baseline cluster: %u features from %d hosts\n", n, argc - 3);
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
        !strcmp(argv[3], "cluster"))
        return set_cluster(c, argc, argv);
    con_usage(c, cmd_find("cpu"));
    return -EINVAL;
}
