/* The console's command handlers (hv/console/cmd_*.c) and their table (hv/console/commands.c). */
#ifndef HV_COMMANDS_H
#define HV_COMMANDS_H

#include "hv/console/console.h"

const struct con_cmd *cmd_find(const char *name);

int cmd_help(struct con *c, int argc, char **argv);
int cmd_version(struct con *c, int argc, char **argv);
int cmd_host(struct con *c, int argc, char **argv);
int cmd_mem(struct con *c, int argc, char **argv);
int cmd_log(struct con *c, int argc, char **argv);
int cmd_reboot(struct con *c, int argc, char **argv);
int cmd_vm(struct con *c, int argc, char **argv);
int cmd_cpu(struct con *c, int argc, char **argv);
int cmd_pci(struct con *c, int argc, char **argv);
int cmd_net(struct con *c, int argc, char **argv);
int cmd_ping(struct con *c, int argc, char **argv);
int cmd_migrate(struct con *c, int argc, char **argv);
int cmd_cluster(struct con *c, int argc, char **argv);

#endif
