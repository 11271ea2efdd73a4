/* SPDX-License-Identifier: BSD-2-Clause */
/* The bhyve(8) command line: argv to the configuration tree, plus the option-value parsers
 * (memory size, CPU topology, PCI slot, generic device conf) that other parts reuse. */
#ifndef KB_OPTIONS_H
#define KB_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config/config.h"

struct cpu_topology;

/* bhyve -m / memory.size: decimal number with an optional single K, M, G or T suffix (either
 * case). A bare number below 1 MiB is MiB, a larger bare number is bytes (bhyve's rule).
 * 0 and -EINVAL (syntax, zero) or -ERANGE (overflow). */
int parse_memsize(const char *s, uint64_t *bytes);

/* bhyve -c [[cpus=]n][,sockets=n][,cores=n][,threads=n]: validates (1..65535 each, no unknown or
 * repeated keys) and then sets the given keys in cfg. "" means one vCPU, as bhyve. */
int parse_topology(const char *s, struct cfgnode *cfg, char *err, size_t errlen);

/* Read cpus/sockets/cores/threads from cfg. cores and threads default to 1; sockets defaults to
 * cpus when cpus is set, else 1; without cpus, cpus = sockets*cores*threads; with it, it must
 * equal that product. At most VM_MAX_VCPUS. */
int topology_from_config(struct cfgnode *cfg, struct cpu_topology *t, char *err, size_t errlen);

/* "S", "S:F" or "B:S:F" in decimal; S 0-31, F 0-7, B 0-255. -EINVAL (syntax) or -ERANGE. */
int pci_parse_slot(const char *s, int *bus, int *slot, int *func);

/* The generic -s conf parser: comma-separated "key=value" (sets key) or bare "key" (key=true),
 * keys relative to devnode (dots make sub-nodes). opts may be NULL or "" (nothing to set).
 * -EINVAL for an empty or malformed key, -EEXIST for a key that conflicts with another. */
int pci_parse_legacy_config(struct cfgnode *devnode, const char *opts);

/* The usage text, modelled on bhyve(8)'s synopsis. */
void bhyve_usage(FILE *out, const char *prog);

/*
 * Parse bhyve's command line into cfg (defaults first, then options left to right, last wins).
 * 0: run the VM. 1: exit now with *exit_status (help was printed to out).
 * < 0: error, a one-line message in err, or err empty when a device's option parser has
 * logged that line itself; *exit_status is set to 4 (BHYVE_EXIT_ERROR).
 * Reentrant: keeps no global getopt state.
 */
int bhyve_options_parse(int argc, char **argv, struct cfgnode *cfg, FILE *out, int *exit_status,
			char *err, size_t errlen);

#endif
