/* SPDX-License-Identifier: BSD-2-Clause */
/* loader="grub": the grub.cfg that kbhyve's GRUB (Debian's GRUB for EFI, started by the firmware)
 * runs, made from vm-bhyve's grub keys as grub-bhyve would read them:
 *   grub_run0..N / grub_install0..N   commands, run from a one-entry menu named
 *                                     "<guest> (bhyve run|install)" after loader_timeout (3 s);
 *                                     a linux line without console= gets console=ttyS0, as
 *                                     grub-bhyve adds it;
 *   none of them                      the guest disk's own grub_run_dir/grub_run_file
 *                                     (/boot/grub/grub.cfg), or the grub> prompt without it;
 *   grub_run_partition                the root partition on the first disk (1: hd0,1).
 * On `vm install` the root is the install image, which the firmware finds first. Pure logic. */
#ifndef VM_GRUBCFG_H
#define VM_GRUBCFG_H

#include <stdbool.h>
#include <stddef.h>

#include "vm/vmconf.h"

/* The file's text (malloc'd) in *out; 0, -EINVAL with one line naming the key, or -ENOMEM. */
int grubcfg_build(const struct vmconf *conf, const char *name, bool install, char **out, char *err,
		  size_t errlen);

#endif
