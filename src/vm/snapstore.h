/* SPDX-License-Identifier: BSD-2-Clause */
/* Guest snapshots on Linux file systems, the counterpart of vm-bhyve's ZFS snapshots.
 *
 * A guest folder that is a btrfs subvolume is snapshotted as a whole (a read-only subvolume,
 * atomic); any other folder on a file system that clones files (btrfs, XFS with reflink) is
 * snapshotted as a folder of reflink copies; a guest of an LVM datastore, whose disks are links
 * to thin volumes, as a copy of its folder with links to thin snapshots of them. Snapshots live beside the guests, in
 * <datastore>/.vm-snapshots/<guest>/<created-ns>-<snap> (the prefix keeps creation order; guest
 * names never start with '.', so the folder is never taken for a guest). Every operation is built
 * in a hidden staging name and renamed into place at the end: interrupted or failed, it leaves
 * the guest and its snapshots as they were (and at most a staging name that the next run of the
 * same operation clears). */
#ifndef VM_SNAPSTORE_H
#define VM_SNAPSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAPSTORE_DIR ".vm-snapshots"
#define SNAP_NAME_MAX 128

enum snap_kind {
	SNAP_NONE,    /* cannot: the reason says why */
	SNAP_BTRFS,   /* the folder is a btrfs subvolume */
	SNAP_REFLINK, /* files clone (FICLONE) on its file system */
	SNAP_LVM,     /* its disks are LVM thin volumes (lvm.h): thin snapshots, the rest copied */
};

/* Snapshot names as zfs takes them: 1..SNAP_NAME_MAX of [A-Za-z0-9_.:-], not starting with
 * '.' or '-'. */
bool snap_name_valid(const char *name);
/* "<ns>-<name>" (the on-disk entry) into its parts; false when it is not one. */
bool snap_entry_parse(const char *entry, uint64_t *ns, char *name, size_t namelen);

/* What folder dir can do; when SNAP_NONE, why (one line, naming the file system). */
enum snap_kind snap_kind_of(const char *dir, char *why, size_t whylen);
const char *snap_kind_name(enum snap_kind k);

struct snap {
	char name[SNAP_NAME_MAX + 1];
	char path[4096]; /* the snapshot's folder */
	uint64_t created_ns;
	bool subvolume;
};

/* The snapshots of guest in datastore folder dspath, oldest first (malloc'd; *n may be 0). 0 or
 * -errno. */
int snap_list(const char *dspath, const char *guest, struct snap **out, size_t *n);
/* The one named name: 0, -ENOENT, or -errno. */
int snap_find(const char *dspath, const char *guest, const char *name, struct snap *out);

/* Snapshot guest_dir as name. The files that only mean something while the guest runs (its run
 * lock, console file, sockets) are left out. 0, or -errno with one line in err (-EEXIST: a
 * snapshot of that name exists). */
int snap_create(const char *dspath, const char *guest, const char *guest_dir, const char *name,
		char *err, size_t errlen);
/* Remove one snapshot (0 or -errno with err). */
int snap_destroy(const struct snap *sn, char *err, size_t errlen);
/* Remove all of a guest's snapshots (vm destroy): 0 or -errno with err. */
int snap_destroy_all(const char *dspath, const char *guest, char *err, size_t errlen);
/* vm rename: the snapshots follow the guest. 0 (also when there are none) or -errno. */
int snap_rename_guest(const char *dspath, const char *oldname, const char *newname, char *err,
		      size_t errlen);

/* A writable copy of folder src (a guest folder or a snapshot) at dst, which must not exist: a
 * writable btrfs snapshot when src is a subvolume, else a folder of reflink copies. The run-time
 * files are left out. On failure nothing is left at dst. 0 or -errno with err. */
int snap_materialize(const char *src, const char *dst, char *err, size_t errlen);
/* Remove a folder that snap_materialize made, or a guest folder swapped out by a rollback
 * (subvolume or not), the thin volumes its links name included; or one file or link. 0 or
 * -errno. */
int snap_remove_tree(const char *path);
/* The same for a folder that came from outside (an image being unpacked): its links are only
 * links, whatever they name. */
int snap_remove_foreign_tree(const char *path);

/* A new guest folder in a datastore: a btrfs subvolume when the datastore is on btrfs (so that
 * its snapshots are atomic), else a plain folder. 0 or -errno. */
int snap_make_guest_dir(const char *path, unsigned mode);

#endif
