/* SPDX-License-Identifier: BSD-2-Clause */
/* Subcommand options, read as getopts(1) reads them in vm-bhyve: -x, -xVALUE, -x VALUE, -ab;
 * parsing stops at the first operand or "--". */
#ifndef VM_OPTS_H
#define VM_OPTS_H

/* spec: option letters, a ':' after those that take a value. vals[c] is the value of -c, "" for a
 * flag, NULL when absent (the last one wins). Returns the index of the first operand, or -1 after
 * printing "vm CMD: unknown option -c" or "vm CMD: option -c needs a value", followed by
 * " (USAGE)" when usage is not NULL. argv[0] is the subcommand. */
int vm_opts_parse(const char *cmd, int argc, char **argv, const char *spec, const char *usage,
		  const char *vals[128]);

#endif
