/* SPDX-License-Identifier: BSD-2-Clause */
/* loader="grub": <guest>/grub.cfg written and built into <guest>/grub.efi, a standalone GRUB for
 * EFI (Debian's grub-efi-amd64-bin, through grub-mkstandalone) with that grub.cfg as its own. */
#ifndef VM_GRUBIMG_H
#define VM_GRUBIMG_H

#include <stddef.h>

#include "vm/guest.h"

/* The tool: $KBHYVE_GRUB_MKSTANDALONE, else grub-mkstandalone from PATH. */
#define GRUBIMG_TOOL_DEFAULT "grub-mkstandalone"

/* 0, or -errno with one line in err (the tool missing or failing: its last line of output). */
int grubimg_build(const struct guest *g, const char *cfg, char *err, size_t errlen);

#endif
