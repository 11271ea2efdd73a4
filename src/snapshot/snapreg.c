/* SPDX-License-Identifier: BSD-2-Clause */
/* The VM's list of saved state (snapshot_register) and of parts that cannot be saved. */
#include "snapshot/snapreg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/vm.h"

static void free_entries(void *opaque)
{
	struct vm *vm = opaque;
	while (vm->snapshots) {
		struct snapshot_entry *e = vm->snapshots;
		vm->snapshots = e->next;
		free(e->why);
		free(e);
	}
}

static int add_entry(struct vm *vm, const char *name, const struct snapshot_ops *ops,
		     void *opaque, const char *why)
{
	size_t n = strlen(name);
	if (n == 0 || n > SNAP_NAME_MAX ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-") != n)
		return -EINVAL;
	struct snapshot_entry **tail = &vm->snapshots;
	for (; *tail; tail = &(*tail)->next)
		if (strcmp((*tail)->name, name) == 0)
			return -EEXIST;
	struct snapshot_entry *e = calloc(1, sizeof(*e));
	if (!e || (why && !(e->why = strdup(why)))) {
		free(e);
		return -ENOMEM;
	}
	if (!vm->snapshots && vm_at_destroy(vm, free_entries, vm) < 0) {
		free(e->why);
		free(e);
		return -ENOMEM;
	}
	memcpy(e->name, name, n + 1);
	e->ops = ops;
	e->opaque = opaque;
	*tail = e; /* visited in registration order */
	return 0;
}

int snapshot_register(struct vm *vm, const char *name, const struct snapshot_ops *ops,
		      void *opaque)
{
	if (!ops || !ops->visit)
		return -EINVAL;
	return add_entry(vm, name, ops, opaque, NULL);
}

int snapshot_unsupported(struct vm *vm, const char *name, const char *why)
{
	return add_entry(vm, name, NULL, NULL, why ? why : "cannot be saved");
}
