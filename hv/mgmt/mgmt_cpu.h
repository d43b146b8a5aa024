/*
 * CPU features: this host's policy and the baselines it can run, a VM's policy, the baselines,
 * and the stored cluster baseline (set by hand, or computed by asking other ferry hosts).
 */
#ifndef HV_MGMT_CPU_H
#define HV_MGMT_CPU_H

#include <stddef.h>
#include <stdint.h>

#define MGMT_CPU_FEATURES_MAX 2048
#define MGMT_CPU_MISSING_MAX 512
#define MGMT_CPU_FEATSET_WORDS 4

struct mgmt_cpu_info {
    char baseline[16];              /* the VM's policy name ("" for the host) */
    char vendor[13];
    unsigned family, model, stepping;
    uint64_t xcr0, arch_caps;       /* arch_caps 0: none */
    char features[MGMT_CPU_FEATURES_MAX];   /* "fpu sse2 ..." */
};

/* This host's policy; -errno and err ("this host's CPUID does not fit ...") if it has none. */
int mgmt_cpu_host(struct mgmt_cpu_info *out, char *err, size_t errlen);
/* Whether this host runs baseline i: 0, -ENODATA (not set) or another -errno with the missing
 * features in missing. *name is the baseline's. */
int mgmt_cpu_host_fit(unsigned i, const char **name, char *missing, size_t n);
int mgmt_cpu_vm(const char *vm, struct mgmt_cpu_info *out, char *err, size_t errlen);

struct mgmt_cpu_baseline {
    const char *name, *desc;
    unsigned nfeatures;
    char features[MGMT_CPU_FEATURES_MAX];
};
unsigned mgmt_cpu_baseline_count(void);
/* 0, or -ENODATA for a baseline not set (name and desc are filled either way). */
int mgmt_cpu_baseline(unsigned i, struct mgmt_cpu_baseline *out);

/* Stores the union of the comma lists as the cluster baseline: its feature count, or -errno
 * and err naming the bad feature. */
int mgmt_cpu_cluster_set(char *const *lists, unsigned n, char *err, size_t errlen);

/* Computing the cluster baseline: begin with this host's features, add each peer (asked on
 * the migration port), commit only when every peer answered. */
struct mgmt_cpu_cluster { uint64_t w[MGMT_CPU_FEATSET_WORDS]; };
/* *nfeatures: this host's. */
int mgmt_cpu_cluster_begin(struct mgmt_cpu_cluster *c, unsigned *nfeatures, char *err,
                           size_t errlen);
/* host: an IPv4 address; vendor and *nfeatures: the peer's. */
int mgmt_cpu_cluster_add(struct mgmt_cpu_cluster *c, const char *host, char vendor[13],
                         unsigned *nfeatures, char *err, size_t errlen);
unsigned mgmt_cpu_cluster_commit(const struct mgmt_cpu_cluster *c);   /* features stored */

#endif
