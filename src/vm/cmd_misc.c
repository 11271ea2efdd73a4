/* PLACEHOLDER: replaced by the real implementation (owner writes this file). */
#include <errno.h>
#include <stdio.h>
#include "vm/cmds.h"
int cmd_init(struct vm_settings *s, int argc, char **argv) { fprintf(stderr, "vm: not built yet\n"); return 1; }
int cmd_get(struct vm_settings *s, int argc, char **argv) { fprintf(stderr, "vm: not built yet\n"); return 1; }
int cmd_set(struct vm_settings *s, int argc, char **argv) { fprintf(stderr, "vm: not built yet\n"); return 1; }
