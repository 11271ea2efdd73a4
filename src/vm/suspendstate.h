/* SPDX-License-Identifier: BSD-2-Clause */
/* A guest's suspend state (vm suspend / vm resume): the snapshot bhyve saves with its control
 * socket's "suspend" request, kept in the guest folder as SUSPEND_STATE_FILE (RAM), .kern and
 * .meta. The next start of the guest restores it (bhyve -r) instead of booting, and removes it
 * once bhyve has taken it. */
#ifndef VM_SUSPENDSTATE_H
#define VM_SUSPENDSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define SUSPEND_STATE_FILE "suspend.mem"

/* <dir>/suspend.mem; 0 or -ENAMETOOLONG. */
int suspend_state_path(const char *dir, char *out, size_t outlen);
/* Whether the guest in dir has a complete suspend state (its .meta is written last). */
bool suspend_state_exists(const char *dir);
/* Remove the three files. */
void suspend_state_remove(const char *dir);

/* Ask guest `name`'s bhyve to save itself into dir's suspend state and stop (bhyve exits 5). The
 * files are written under .new names and renamed into place when bhyve says they are complete;
 * on failure nothing of an earlier state is touched. *pause_ms: how long the guest was paused.
 * 0, or -errno with one line in err. */
int suspend_state_save(const char *name, const char *dir, unsigned *pause_ms, char *err,
		       size_t errlen);

/* A bhyve started with -r: wait until it serves its control socket, which it does only once the
 * restore is complete, or until process `pid` has ended (the restore failed). 0, or -errno with
 * one line in err. */
int suspend_state_wait_restored(const char *name, pid_t pid, int timeout_ms, char *err,
				size_t errlen);

#endif
