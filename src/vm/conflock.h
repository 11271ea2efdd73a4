/* SPDX-License-Identifier: BSD-2-Clause */
/* The lock around every read-modify-write of a config file (a guest's conf, system.conf): an
 * exclusive flock on the folder that holds it. Not on the file itself: every save replaces the
 * file (vmconf_save renames a new one into place), and a lock on the old inode would protect
 * nothing. The folder keeps its inode across saves and across `vm rename`. */
#ifndef VM_CONFLOCK_H
#define VM_CONFLOCK_H

#include <stddef.h>

/* Wait for the lock on folder dir (never through a symlink): 0 with *fd, or -errno with a
 * message in err (-ENOENT: the folder is gone, or was renamed while we waited). */
int conflock_take(const char *dir, int *fd, char *err, size_t errlen);
/* Let go (fd < 0 is a no-op). */
void conflock_release(int fd);

#endif
