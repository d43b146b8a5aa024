/* `migrate VM HOST[:PORT] [downtime=MS] [bandwidth=MBIT] [throttle=PCT] [timeout=S]
 * [dirty=wp|ad|pml] [storage=copy|shared] [compress=auto|lz4|off] [delta=on|off] [streams=N]`,
 * `migrate status`, `migrate cancel VM`,
 * `migrate set VM downtime=MS`, `migrate inject FAULT [SECONDS]`. */
#include <errno.h>
#include <string.h>

#include "hv/console/commands.h"
#include "hv/mgmt/mgmt.h"
#include "hv/mgmt/mgmt_mig.h"

static void line_out(void *ctx, const char *line)
{
    con_printf(ctx, "%s\n", line);
}

/* "key=value": key copied into key (empty if there is no '=' or it does not fit). */
static const char *split_opt(const char *word, char *key, size_t n)
{
    const char *eq = strchr(word, '=');
    size_t kl = eq ? (size_t)(eq - word) : 0;
    key[0] = 0;
    if (!eq || kl >= n)
        return NULL;
    memcpy(key, word, kl);
    key[kl] = 0;
    return eq + 1;
}

int cmd_migrate(struct con *c, int argc, char **argv)
{
    char err[MGMT_ERR_MAX], host[MGMT_MIGRATE_HOST_MAX], key[16];
    struct mgmt_migrate_args o;
    uint32_t addr;
    int rc;

    if (argc == 2 && !strcmp(argv[1], "status")) {
        mgmt_migrate_status(line_out, c);
        return 0;
    }
    if ((argc == 3 || argc == 4) && !strcmp(argv[1], "inject")) {
        bool outgoing;
        if (!mgmt_migrate_inject(argv[2], argc == 4 ? argv[3] : NULL, &outgoing)) {
            con_printf(c, "migrate: next %s migration: %s\n", outgoing ? "outgoing" : "incoming",
                       argv[2]);
            return 0;
        }
        con_printf(c, "error: faults: " MGMT_MIGRATE_FAULTS "\n");
        return -EINVAL;
    }
    if (argc == 3 && !strcmp(argv[1], "cancel")) {
        if ((rc = mgmt_migrate_cancel(argv[2], err, sizeof(err))))
            con_printf(c, "error: %s\n", err);
        return rc;
    }
    if (argc == 4 && !strcmp(argv[1], "set")) {
        if ((rc = mgmt_migrate_set_downtime(argv[2], argv[3], err, sizeof(err))))
            con_printf(c, "error: %s\n", err);
        else
            con_printf(c, "migrate: vm=%s %s\n", argv[2], argv[3]);
        return rc;
    }
    if (argc < 3) {
        con_usage(c, cmd_find("migrate"));
        return -EINVAL;
    }
    mgmt_migrate_defaults(&o);
    if ((rc = mgmt_vm_check(argv[1], true, err, sizeof(err))) ||
        (rc = mgmt_migrate_target(argv[2], host, &o.port, &addr, err, sizeof(err)))) {
        con_printf(c, "error: %s\n", err);
        return rc;
    }
    for (int i = 3; i < argc; i++) {
        const char *val = split_opt(argv[i], key, sizeof(key));
        if (!val || mgmt_migrate_set(&o, key, val)) {
            con_printf(c, "error: bad option '%s' (downtime=1-60000 ms, bandwidth=1-100000 "
                       "Mbit/s, throttle=0-99 %%, timeout=10-3600 s, dirty=wp|ad|pml, "
                       "storage=copy|shared, compress=auto|lz4|off, delta=on|off, "
                       "streams=1-8)\n", argv[i]);
            return -EINVAL;
        }
    }
    if ((rc = mgmt_migrate_start(argv[1], addr, &o, err, sizeof(err))))
        con_printf(c, "error: %s\n", err);
    else
        con_printf(c, "migrate: started vm=%s to %s:%u\n", argv[1], host, o.port);
    return rc;
}

/* `cluster key generate`: a line for ferry.cfg. The same key goes to every host that migrates
 * to the others. */
int cmd_cluster(struct con *c, int argc, char **argv)
{
    char key[65];
    bool weak;
    if (argc != 3 || strcmp(argv[1], "key") || strcmp(argv[2], "generate")) {
        con_usage(c, cmd_find("cluster"));
        return -EINVAL;
    }
    mgmt_cluster_key_generate(key, &weak);
    con_printf(c, "cluster_key=%s\n", key);
    if (weak)
        con_printf(c, "warning: this CPU has no RDRAND: the key comes from timer jitter; "
                   "prefer one made elsewhere (openssl rand -hex 32)\n");
    memset(key, 0, sizeof(key));
    return 0;
}
