/* The command table and the small system commands. */
#include <string.h>

#include "hv/base/log.h"
#include "hv/base/version.h"
#include "hv/console/commands.h"
#include "hv/mgmt/mgmt_host.h"

int cmd_switch(struct con *c, int argc, char **argv);     /* cmd_net.c (not in commands.h) */

const struct con_cmd con_commands[] = {
    { .name = "help", .usage = "[COMMAND]", .help = "list commands, or explain one", .run = cmd_help },
    { .name = "version", .usage = "", .help = "ferry version and build", .run = cmd_version },
    { .name = "host", .usage = "[numa-spanning on|off]",
      .help = "CPUs, NUMA nodes, memory, virtualization support",
      .run = cmd_host },
    { .name = "mem", .usage = "[map]", .help = "frame allocator per node and zone; map: firmware memory map", .run = cmd_mem },
    { .name = "log", .usage = "", .help = "show the log ring buffer", .run = cmd_log },
    { .name = "vm",
      .usage = "create NAME [mem=MiB] [cpus=N] [node=N] [image=memtest|FILE | kernel=FILE [initrd=FILE|module=A,B,...]] "
               "[args=\"...\"] "
               "[cpu=BASELINE] [disk=FILE] [nic=SWITCH[,mac=MAC]]... | start|pause|resume|destroy|console|stats|devices NAME | list | "
               "dirty NAME start [wp|ad|pml]|verify|stop",
      .help = "virtual machines", .run = cmd_vm },
    { .name = "cpu",
      .usage = "show [VM] | baselines | baseline set cluster FEATURE[,...] | "
               "baseline compute HOST...",
      .help = "CPU features: the host's and the baselines it can run, a VM's policy",
      .run = cmd_cpu },
    { .name = "pci", .usage = "", .help = "PCI functions and their drivers", .run = cmd_pci },
    { .name = "net", .usage = "| ip IF ADDR/PREFIX|dhcp [gw ADDR] | bench ADDR [SECONDS] [streams=N]",
      .help = "network interfaces; set an address; TCP throughput to another ferry host",
      .run = cmd_net },
    { .name = "ping", .usage = "ADDR [COUNT]", .help = "ICMP echo", .run = cmd_ping },
    { .name = "switch", .usage = "create NAME [uplink=IF|none] | list [NAME] | destroy NAME",
      .help = "virtual switches: guest NICs, and the host and wire through an uplink NIC",
      .run = cmd_switch },
    { .name = "migrate",
      .usage = "VM ADDR[:PORT] [downtime=MS] [bandwidth=MBIT] [throttle=PCT] [timeout=S] "
               "[dirty=wp|ad|pml] [storage=copy] [compress=auto|lz4|off] [delta=on|off] [streams=N] | "
               "status | cancel VM | set VM downtime=MS | "
               "inject none|lose-ack|lose-commit|old-stream",
      .help = "live-migrate a VM to another ferry host (runs in the background)",
      .run = cmd_migrate },
    { .name = "cluster", .usage = "key generate",
      .help = "print a fresh cluster_key= line for ferry.cfg (the same on every host)",
      .run = cmd_cluster },
    { .name = "reboot", .usage = "", .help = "reset the machine", .run = cmd_reboot },
};
const size_t con_ncommands = sizeof(con_commands) / sizeof(con_commands[0]);

const struct con_cmd *cmd_find(const char *name)
{
    for (size_t i = 0; i < con_ncommands; i++)
        if (strcmp(con_commands[i].name, name) == 0)
            return &con_commands[i];
    return NULL;
}

int cmd_help(struct con *c, int argc, char **argv)
{
    if (argc > 2) {
        con_usage(c, cmd_find("help"));
        return -1;
    }
    if (argc == 2) {
        const struct con_cmd *cmd = cmd_find(argv[1]);
        if (!cmd) {
            con_printf(c, "error: unknown command '%s'\n", argv[1]);
            return -1;
        }
        con_usage(c, cmd);
        con_printf(c, "  %s\n", cmd->help);
        return 0;
    }
    for (size_t i = 0; i < con_ncommands; i++)
        con_printf(c, "  %-8s %-12s %s\n", con_commands[i].name, con_commands[i].usage,
                   con_commands[i].help);
    return 0;
}

int cmd_version(struct con *c, int argc, char **argv)
{
    (void)argv;
    if (argc != 1) {
        con_usage(c, cmd_find("version"));
        return -1;
    }
    con_printf(c, "ferry %s (git %s)\n", FERRY_VERSION, FERRY_GIT);
    return 0;
}

static void log_sink(void *ctx, const char *s, size_t n)
{
    con_write(ctx, s, n);
}

int cmd_log(struct con *c, int argc, char **argv)
{
    (void)argv;
    if (argc != 1) {
        con_usage(c, cmd_find("log"));
        return -1;
    }
    log_dump(log_sink, c);
    return 0;
}

int cmd_reboot(struct con *c, int argc, char **argv)
{
    (void)argv;
    if (argc != 1) {
        con_usage(c, cmd_find("reboot"));
        return -1;
    }
    con_puts(c, "rebooting\n");
    mgmt_host_reboot();
}
