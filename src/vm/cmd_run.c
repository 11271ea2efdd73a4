/* PLACEHOLDER: replaced by the real implementation (owner writes this file). */
#include <errno.h>
#include <stdio.h>
#include "vm/cmds.h"
int cmd_start(struct vm_settings *s, int argc, char **argv) { fprintf(stderr, "vm: not built yet\n"); return 1; }
int cmd_install(struct vm_settings *s, int argc, char **argv) { fprintf(stderr, "vm: not built yet\n"); return 1; }
int cmd_stop(struct vm_settings *s, int argc, char **argv) { fprintf(stderr, "vm: not built yet\n"); return 1; }
int cmd_restart(struct vm_settings *s, int argc, char **argv) { fprintf(stderr, "vm: not built yet\n"); return 1; }
int cmd_poweroff(struct vm_settings *s, int argc, char **argv) { fprintf(stderr, "vm: not built yet\n"); return 1; }
int cmd_reset(struct vm_settings *s, int argc, char **argv) { fprintf(stderr, "vm: not built yet\n"); return 1; }
int cmd_startall(struct vm_settings *s, int argc, char **argv) { fprintf(stderr, "vm: not built yet\n"); return 1; }
int cmd_stopall(struct vm_settings *s, int argc, char **argv) { fprintf(stderr, "vm: not built yet\n"); return 1; }
int cmd_run_supervisor(struct vm_settings *s, int argc, char **argv) { fprintf(stderr, "vm: not built yet\n"); return 1; }
