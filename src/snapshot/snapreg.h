/* SPDX-License-Identifier: BSD-2-Clause */
/* The registered state of a VM, as the checkpoint and restore code walks it. */
#ifndef KB_SNAPREG_H
#define KB_SNAPREG_H

#include "snapshot/snapstate.h"

struct snapshot_entry {
	char name[SNAP_NAME_MAX + 1];
	const struct snapshot_ops *ops; /* NULL: cannot be saved, see why */
	void *opaque;
	char *why;
	struct snapshot_entry *next;
};

#endif
