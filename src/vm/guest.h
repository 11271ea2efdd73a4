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
	char ds[64];		     /* datastore name */
	char dir[PATH_MAX];	     /* <ds path>/<name> */
	char conf_path[PATH_MAX];    /* <dir>/<name>.conf */
	struct vmconf *conf;
};

/* Find guest `name` in every datastore and load its config. 0, or -ENOENT ("NAME: no such guest")
 * / -EINVAL (bad name, or a config that does not parse) with a message in err. */
int guest_open(const struct vm_settings *s, const char *name, struct guest *g, char *err,
	       size_t errlen);
void guest_close(struct guest *g);
/* Take g's config lock (conflock on its folder) and read its conf again under it: every
 * read-modify-write of a guest conf runs between this and guest_unlock. 0 with *fd, -ENOENT
 * ("NAME: no such guest": renamed or destroyed meanwhile) or -errno, message in err. With
 * reload false the conf is not read (a conf that does not parse can still be locked). */
int guest_lock(struct guest *g, bool reload, int *fd, char *err, size_t errlen);
void guest_unlock(int fd);

/* All guests in every datastore, sorted by name (malloc'd array; free with guest_list_free). */
int guest_list_all(const struct vm_settings *s, struct guest **out, size_t *n);
void guest_list_free(struct guest *v, size_t n);

/* Append a line "<date> <message>" to <dir>/vm-bhyve.log (rotated to .0 at 1 MiB). */
void guest_log(const struct guest *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
