/* SPDX-License-Identifier: BSD-2-Clause */
/* LVM thin pools as datastores (vm datastore add NAME lvm:VG/POOL), the Linux counterpart of
 * ZFS volumes. The guest folders of such a datastore live in $vm_dir/.lvm/NAME; each disk vm
 * makes there is a thin volume VG/vm+<12 hex>+<disk name>, reached through a symlink of the
 * disk's name in the guest folder (so bhyve, run_as and every command that follows a disk path
 * work unchanged). Snapshots and clones are thin snapshots. Only volumes named vm+... are ever
 * created or removed. Driven through lvm2's commands (lvs, lvcreate, lvremove). */
#ifndef VM_LVM_H
#define VM_LVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LVM_NAME_MAX 127
#define LVM_PREFIX "vm+"

/* A VG or LV name lvm takes: [A-Za-z0-9+_.-], 1..127, not starting with '-', not . or ..; and
 * for LVs none of the names lvm keeps for itself (_tdata, _tmeta, snapshot, pvmove ...). */
bool lvm_name_valid(const char *name);
/* "lvm:VG/POOL" into its parts: 0, or -EINVAL with err. */
int lvm_spec_parse(const char *spec, char vg[LVM_NAME_MAX + 1], char pool[LVM_NAME_MAX + 1], char *err,
		   size_t errlen);
/* VG/POOL exists and is a thin pool: 0, or -errno with err (lvm2 not installed, no such LV,
 * not a thin pool). */
int lvm_pool_check(const char *vg, const char *pool, char *err, size_t errlen);
/* A new thin volume of size bytes for disk `disk` (its file name): 0 with its /dev path in
 * path, or -errno with err. */
int lvm_volume_create(const char *vg, const char *pool, uint64_t size, const char *disk, char *path,
		      size_t pathlen, char *err, size_t errlen);
/* A thin snapshot of volume lv (an LV of ours), active or not: 0 with the new volume's /dev path. */
int lvm_volume_snapshot(const char *vg, const char *lv, bool activate, char *path, size_t pathlen,
			char *err, size_t errlen);
int lvm_volume_remove(const char *vg, const char *lv, char *err, size_t errlen);
/* Whether a symlink target is one of our volumes, /dev/VG/vm+...: its VG and LV. */
bool lvm_link_target(const char *target, char vg[LVM_NAME_MAX + 1], char lv[LVM_NAME_MAX + 1]);

#endif
