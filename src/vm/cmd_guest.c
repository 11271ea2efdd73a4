/* PLACEHOLDER: replaced by the real implementation (owner writes this file). */
#include <errno.h>
#include <stdio.h>
#include "vm/cmds.h"
int cmd_create(struct vm_settings *s, int argc, char **argv) { fprintf(stderr, "vm: not built yet\n"); return 1; }
int cmd_list(struct vm_settings *s, int argc, char **argv) { fprintf(stderr, "vm: not built yet\n"); return 1; }
int cmd_info(struct vm_settings *s, int argc, char **argv) { fprintf(stderr, "vm: not built yet\n"); return 1; }
int cmd_destroy(struct vm_settings *s, int argc, char **argv) { fprintf(stderr, "vm: not built yet\n"); return 1; }
int cmd_rename(struct vm_settings *s, int argc, char **argv) { fprintf(stderr, "vm: not built yet\n"); return 1; }
int cmd_configure(struct vm_settings *s, int argc, char **argv) { fprintf(stderr, "vm: not built yet\n"); return 1; }
int cmd_add(struct vm_settings *s, int argc, char **argv) { fprintf(stderr, "vm: not built yet\n"); return 1; }
