/* SPDX-License-Identifier: BSD-2-Clause */
/* The whole VM's state as checkpoints and migrations take and give it: the registered sections
 * (snapstate.h) paused, drained, saved into a .kern image and loaded from one, and the
 * description (.meta) that says which VM, configuration and host CPU they belong to. Event-loop
 * thread, except where said. */
#ifndef KB_VMSTATE_H
#define KB_VMSTATE_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot/snapfile.h"

struct vm;
struct snapshot_entry;

/* The configuration as compared between snapshot and VM: sorted "key=value" lines without the
 * keys of host resources (restore.*, migrate.*, *.backend, *.path: a tap, a disk image's or
 * console's path may differ between suspend and resume, or between hosts). malloc'd, NULL
 * without memory. */
char *vmstate_config_text(struct vm *vm);
/* SHA-256 of the CPUID table KVM offers on this host. */
void vmstate_cpuid_digest(struct vm *vm, char hex[65]);
/* The first part of the VM that cannot be saved, or NULL. */
const struct snapshot_entry *vmstate_unsupported(struct vm *vm);

/* Every section's pause / resume hook; the first section with work in flight, or NULL. */
void vmstate_pause(struct vm *vm);
void vmstate_resume(struct vm *vm);
const struct snapshot_entry *vmstate_busy(struct vm *vm);

/* Every section saved into a new .kern image (*kern malloc'd). 0 or -errno with one line. */
int vmstate_save_kern(struct vm *vm, uint8_t **kern, size_t *klen, char *err, size_t errlen);
/* The description of this VM with the given .kern image (NULL: none, e.g. a migration's first
 * message): malloc'd JSON, NULL without memory. */
char *vmstate_meta_text(struct vm *vm, const uint8_t *kern, size_t klen);

/* Whether a description fits this VM: its name, memory, vCPUs, configuration and host CPU; a TSC
 * frequency more than 250 ppm off is scaled where KVM can. 0 or -errno with one line. */
int vmstate_check_meta(struct vm *vm, const struct snap_meta *m, char *err, size_t errlen);
/* Load a .kern image's sections into the VM (all of them, and no others), then let each make
 * its host side match (restored hooks). 0 or -errno with one line. */
int vmstate_load_kern(struct vm *vm, const uint8_t *kern, size_t klen, char *err, size_t errlen);

#endif
