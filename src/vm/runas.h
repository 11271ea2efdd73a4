/* SPDX-License-Identifier: BSD-2-Clause */
/* run_as="USER" (guest .conf, else system.conf): the user a guest's bhyve runs as. The
 * supervisor stays root: it creates the taps (owned by the user), makes the user the owner of
 * the disks and the UEFI variable store bhyve writes, binds the control socket itself and hands
 * it over, and gives bhyve a run folder of the user's own for its pty links and console sockets;
 * then the child drops to the user's uid, gid and groups before it runs bhyve. */
#ifndef VM_RUNAS_H
#define VM_RUNAS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "vm/vmconf.h"

struct runas {
	bool set;	/* run_as names a user other than root */
	uid_t uid;
	gid_t gid;
	bool groups;	/* the user has a passwd entry: its supplementary groups (initgroups) */
	char user[64];	/* the name for initgroups and messages (the number without an entry) */
};

/* Parse run_as: USER, UID, USER:GROUP or UID:GID (a number needs no passwd entry, but then a
 * GID). Unset, empty or root: r->set is false. 0, or -EINVAL with one line in err naming the key
 * and value. */
int runas_parse(const char *value, struct runas *r, char *err, size_t errlen);
/* The run_as value that applies: the guest conf's, else system.conf's; NULL when neither. */
const char *runas_value(const struct vmconf *guest, const struct vmconf *sys);
/* run_as of the guest's conf, else of system.conf. */
int runas_for_guest(const struct vmconf *guest, const struct vmconf *sys, struct runas *r,
		    char *err, size_t errlen);
/* The run folder of guest `name` run as a user: ${KBHYVE_RUNDIR:-/run/kbhyve}/run_as/NAME. 0 or
 * -ENAMETOOLONG. */
int runas_run_dir(const char *name, char *out, size_t outlen);
/* Make that folder (parents root's, 0755), the user's own with mode 0700, emptied of what an
 * earlier run left; a symlink or non-folder there is refused. 0 or -errno with one line. */
int runas_prepare_run_dir(const struct runas *r, const char *dir, char *err, size_t errlen);
/* Empty it (what bhyve made: pty links, console sockets) and remove it. */
void runas_remove_run_dir(const char *dir);
/* Make the user the owner of a disk image, block device or variable store bhyve writes. Root
 * changes the owner of whatever the path names, so it must be a path the user cannot have
 * pointed elsewhere: a regular file directly in the guest folder `guest_dir` (root's; the file
 * itself not a link), or a block device whose link, if any, sits in a folder only root writes
 * (/dev/vg0/lv). A file elsewhere is left as it is (refused unless already the user's). 0, or
 * -errno with one line. */
int runas_give(const struct runas *r, const char *path, const char *guest_dir, char *err,
	       size_t errlen);

/* Let the user's group pass through the guest folder (made 0700: a conf can hold a VNC password)
 * to the disks in it: group `gid` with search permission only, nothing more; still root's. 0 or
 * -errno with one line. */
int runas_open_folder(const struct runas *r, const char *dir, char *err, size_t errlen);

/* In a child about to exec: the user's groups, gid and uid, for good (the saved ids too). 0 or
 * -errno. */
int runas_become(const struct runas *r);

#endif
