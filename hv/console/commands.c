/* The command table and the small system commands. */
#include <string.h>

#include "hv/base/log.h"
#include "hv/base/version.h"
#include "hv/console/commands.h"
#include "hv/mgmt/mgmt_host.h"

int cmd_switch(struct con *c, int argc, char **argv);     /* cmd_net.c (not in commands.h) */

const struct con_cmd con_commands[] = {
    { .name = "help", .usage = "[COMMAND]", .help = "list commands, or explain one",
      .examples = "help\n"
                  "help migrate",
      .run = cmd_help },
    { .name = "version", .usage = "", .help = "ferry version and build", .examples = "version",
      .run = cmd_version },
    { .name = "host", .usage = "[numa-spanning on|off]",
      .help = "CPUs, NUMA nodes, memory, virtualization support",
      .examples = "host\n"
                  "host numa-spanning off",
      .run = cmd_host },
    { .name = "mem", .usage = "[map]", .help = "frame allocator per node and zone; map: firmware memory map",
      .examples = "mem\n"
                  "mem map",
      .run = cmd_mem },
    { .name = "log", .usage = "", .help = "show the log ring buffer", .examples = "log",
      .run = cmd_log },
    { .name = "vm",
      .usage = "create NAME [mem=MiB] [cpus=N] [node=N] [image=memtest|FILE | kernel=FILE [initrd=FILE|module=A,B,...]] "
               "[args=\"...\"] "
               "[cpu=BASELINE] [disk=FILE] [nic=SWITCH[,mac=MAC]]... | start|pause|resume|destroy|console|stats|devices NAME | list | "
               "dirty NAME start [wp|ad|pml]|verify|stop",
      .help = "virtual machines (vm console: Ctrl-] detaches)",
      .examples = "vm create m1 mem=64 cpus=2 image=memtest\n"
                  "vm create lin mem=128 cpus=2 kernel=vmlinuz initrd=initrd.img args=\"console=ttyS0\" nic=lan\n"
                  "vm start lin\n"
                  "vm console lin\n"
                  "vm stats lin\n"
                  "vm list\n"
                  "vm destroy m1",
      .run = cmd_vm },
    { .name = "cpu",
      .usage = "show [VM] | baselines | baseline set cluster FEATURE[,...] | "
               "baseline compute HOST...",
      .help = "CPU features: the host's and the baselines it can run, a VM's policy",
      .examples = "cpu show\n"
                  "cpu show lin\n"
                  "cpu baselines\n"
                  "cpu baseline compute 10.0.0.2 10.0.0.3",
      .run = cmd_cpu },
    { .name = "pci", .usage = "", .help = "PCI functions and their drivers", .examples = "pci",
      .run = cmd_pci },
    { .name = "net", .usage = "| ip IF ADDR/PREFIX|dhcp [gw ADDR] | bench ADDR [SECONDS] [streams=N]",
      .help = "network interfaces; set an address; TCP throughput to another ferry host",
      .examples = "net\n"
                  "net ip eth0 10.0.0.1/24 gw 10.0.0.254\n"
                  "net ip eth0 dhcp\n"
                  "net bench 10.0.0.2 10 streams=4",
      .run = cmd_net },
    { .name = "ping", .usage = "ADDR [COUNT]", .help = "ICMP echo",
      .examples = "ping 10.0.0.2\n"
                  "ping 10.0.0.2 10",
      .run = cmd_ping },
    { .name = "switch", .usage = "create NAME [uplink=IF|none] | list [NAME] | destroy NAME",
      .help = "virtual switches: guest NICs, and the host and wire through an uplink NIC",
      .examples = "switch create lan uplink=eth0\n"
                  "switch create internal uplink=none\n"
                  "switch list\n"
                  "switch destroy internal",
      .run = cmd_switch },
    { .name = "migrate",
      .usage = "VM ADDR[:PORT] [downtime=MS] [bandwidth=MBIT] [throttle=PCT] [timeout=S] "
               "[dirty=wp|ad|pml] [storage=copy|shared] [compress=auto|lz4|off] [delta=on|off] "
               "[streams=N] | status | cancel VM | set VM downtime=MS | "
               "inject none|lose-ack|lose-commit|old-stream|hold-final|hold-commit|hold-accept "
               "[SECONDS]",
      .help = "live-migrate a VM to another ferry host (runs in the background)",
      .examples = "migrate lin 10.0.0.2\n"
                  "migrate db 10.0.0.2 downtime=500 streams=2 timeout=600\n"
                  "migrate lin 10.0.0.2 storage=copy\n"
                  "migrate status\n"
                  "migrate set db downtime=1000\n"
                  "migrate cancel db",
      .run = cmd_migrate },
    { .name = "cluster", .usage = "key generate",
      .help = "print a fresh cluster_key= line for ferry.cfg (the same on every host)",
      .examples = "cluster key generate",
      .run = cmd_cluster },
    { .name = "reboot", .usage = "", .help = "reset the machine", .examples = "reboot",
      .run = cmd_reboot },
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
        if (cmd->examples) {
            con_puts(c, "examples:\n");
            for (const char *s = cmd->examples; *s;) {
                size_t n = strcspn(s, "\n");
                con_printf(c, "  %.*s\n", (int)n, s);
                s += n + (s[n] == '\n');
            }
        }
        return 0;
    }
    for (size_t i = 0; i < con_ncommands; i++)
        con_printf(c, "  %-8s %s\n", con_commands[i].name, con_commands[i].help);
    con_puts(c, "help COMMAND: its arguments and examples. Up/Down recall earlier lines.\n");
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
