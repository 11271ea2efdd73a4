/* SPDX-License-Identifier: BSD-2-Clause */
/* A guest on disk: <datastore>/<name>/<name>.conf and its run state. */
#ifndef VM_GUEST_H
#define VM_GUEST_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "vm/settings.h"
#include "vm/vmconf.h"

struct guest {
	char name[232];
	char ds[64];		  /* datastore name */
	char dir[PATH_MAX];	  /* <ds path>/<name> */
	char conf_path[PATH_MAX]; /* <dir>/<name>.conf */
	struct vmconf *conf;
};

/* Find guest `name` in every datastore and load its config. Names are looked up as vm-bhyve users
 * type them: the exact folder name first, else the one guest whose name matches without regard to
 * case (win10 finds Win10). Lines of the config that do not parse are reported on stderr (once,
 * here) and skipped. 0, or -ENOENT ("NAME: no such guest") / -EINVAL (bad name, a name that
 * matches several guests, or an unreadable config) with a message in err. */
int guest_open(const struct vm_settings *s, const char *name, struct guest *g, char *err,
	       size_t errlen);
void guest_close(struct guest *g);
/* Take g's config lock (conflock on its folder) and read its conf again under it: every
 * read-modify-write of a guest conf runs between this and guest_unlock. 0 with *fd, -ENOENT
 * ("NAME: no such guest": renamed or destroyed meanwhile) or -errno, message in err. With
 * reload false the conf is not read (a conf that does not parse can still be locked). */
int guest_lock(struct guest *g, bool reload, int *fd, char *err, size_t errlen);
void guest_unlock(int fd);

/* The guest folders whose name equals `name` without regard to case, in every datastore: how
 * many there are; the first one's path goes to where (for "already exists" messages). */
int guest_casefold_matches(const struct vm_settings *s, const char *name, char *where, size_t wlen);

/* vm-bhyve's vm-run: a NIC (networkN_type set) without networkN_mac gets a generated MAC, written
 * into the conf (g->conf and the file) at its first start, so that it keeps its MAC when the guest
 * is renamed or a slot shifts. The number of MACs written, or -errno with a message in err. */
int guest_fill_macs(struct guest *g, char *err, size_t errlen);

/* All guests in every datastore, sorted by name (malloc'd array; free with guest_list_free). */
int guest_list_all(const struct vm_settings *s, struct guest **out, size_t *n);
void guest_list_free(struct guest *v, size_t n);

#define GUEST_LOG_FILE "vm-bhyve.log"

/* Append a line "<date> <message>" to <dir>/vm-bhyve.log (rotated to .0 at 1 MiB). Nothing is
 * written when the log is a symlink or not a regular file. */
void guest_log(const struct guest *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Files that vm and the supervisor write in a guest folder, which whoever can write the folder
 * controls: never followed when they are symlinks (review finding 3). */

/* 0 when <dir>/<leaf> is a regular file or absent; -ELOOP (a symlink) or -EINVAL (not a regular
 * file) with the one-line reason in err. */
int guest_file_check(const struct guest *g, const char *leaf, char *err, size_t errlen);
/* open(<dir>/<leaf>, flags, mode) without following a symlink (-ELOOP) and only onto a regular
 * file (-EINVAL otherwise, a FIFO included): fd (close-on-exec) or -errno. */
int guest_file_open(const struct guest *g, const char *leaf, int flags, mode_t mode);
/* Replace <dir>/<leaf> with text (0644): written to a new mkstemp file in the folder, renamed
 * over the name. 0 or -errno. */
int guest_file_replace(const struct guest *g, const char *leaf, const char *text);
/* The value of "<port>=..." (com1, com2, vnc) in the running guest's console file, which the
 * supervisor writes at each start; -ENOENT when there is none. */
int guest_console_entry(const struct guest *g, const char *port, char *out, size_t outlen);
/* The same with len bytes of data and the given mode, synced before the rename. */
int guest_file_replace_bytes(const struct guest *g, const char *leaf, const void *data, size_t len,
			     mode_t mode);

#endif
