/* SPDX-License-Identifier: BSD-2-Clause */
/* Where `vm` keeps things. /etc/kbhyve.conf (path overridable with $KBHYVE_CONF) plays the part of
 * FreeBSD's rc.conf: vm_dir, vm_list, vm_delay. $vm_dir in the environment overrides the file.
 * $vm_dir holds vm-bhyve's layout: .config/system.conf, .templates/, .iso/, .img/, <guest>/. */
#ifndef VM_SETTINGS_H
#define VM_SETTINGS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "vm/vmconf.h"

struct vm_settings {
	char rc_path[PATH_MAX];	     /* /etc/kbhyve.conf */
	char vm_dir[PATH_MAX];	     /* the default datastore */
	struct vmconf *rc;	     /* /etc/kbhyve.conf (empty when the file is missing) */
	struct vmconf *sys;	     /* $vm_dir/.config/system.conf (empty before `vm init`) */
	char sys_path[PATH_MAX];     /* $vm_dir/.config/system.conf */
	char bhyve[PATH_MAX];	     /* the bhyve binary: $KBHYVE_BHYVE, next to vm, or from PATH */
	char self[PATH_MAX];	     /* this vm binary (/proc/self/exe), for the supervisor */
	char share_dir[PATH_MAX];    /* sample templates: $KBHYVE_SHARE, <prefix>/share/kbhyve, or the source tree */
	char grubshim[PATH_MAX];     /* loader="grub"'s EFI shim: $KBHYVE_GRUBSHIM, <vm's folder>/efi
				      * (a build tree), <share_dir>/efi; "" when none is there */
};

/* Read /etc/kbhyve.conf and system.conf. Fails (-ENOENT, message in err) when vm_dir is unset. */
int settings_load(struct vm_settings *s, char *err, size_t errlen);
/* 0 when $vm_dir has been initialised (`vm init`), else -ENOENT with "run vm init" in err. */
/* Only the paths of this program, bhyve, the share folder and the EFI shim (settings_load does
 * this too): for commands that need no vm_dir. */
void settings_locate_programs(struct vm_settings *s);
int settings_require_init(const struct vm_settings *s, char *err, size_t errlen);
/* Take the system.conf lock (conflock on $vm_dir/.config) and read system.conf again under it:
 * every read-modify-write of system.conf runs between this and settings_unlock_system. 0 with
 * *fd, or -errno with a message ("run vm init" when $vm_dir/.config is missing). */
int settings_lock_system(struct vm_settings *s, int *fd, char *err, size_t errlen);
void settings_unlock_system(int fd);
int settings_save_system(struct vm_settings *s, char *err, size_t errlen);
void settings_free(struct vm_settings *s);

/* The folder of datastore `ds` ("default" is $vm_dir): 0, or -ENOENT with a message. */
int datastore_path(const struct vm_settings *s, const char *ds, char *out, size_t outlen, char *err,
		   size_t errlen);
/* Whether datastore ds is an LVM thin pool (path_<ds>="lvm:VG/POOL"; its guest folders are in
 * $vm_dir/.lvm/<ds>): 1 with vg and pool, 0 when it is a folder, -EINVAL for a bad spec. */
int datastore_lvm(const struct vm_settings *s, const char *ds, char vg[128], char pool[128]);
/* The datastores' names, "default" first (NULL-terminated, malloc'd; free with free_strv). */
char **datastore_names(const struct vm_settings *s);
void free_strv(char **v);
/* The space-separated words of s (NULL or "" give an empty vector); NULL-terminated, malloc'd;
 * NULL only when out of memory. */
char **strv_split(const char *s);
/* Position of word in v, or -1. */
int strv_index(char *const *v, const char *word);

#endif
