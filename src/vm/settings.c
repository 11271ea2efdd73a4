/* SPDX-License-Identifier: BSD-2-Clause */
/* Where `vm` keeps things: /etc/kbhyve.conf, $vm_dir and its system.conf, the bhyve binary, the
 * sample templates, the datastores. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vm/conflock.h"
#include "vm/lvm.h"
#include "vm/settings.h"

#define DEFAULT_RC_PATH "/etc/kbhyve.conf"

static bool is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_exec_file(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

/* Load path into *c; a missing file gives an empty config. */
static int load_or_empty(struct vmconf **c, const char *path, char *err, size_t errlen)
{
	int r = vmconf_load(c, path, err, errlen);
	if (r == 0)
		vmconf_report(*c, "vm");
	if (r == -ENOENT) {
		*c = vmconf_new();
		return *c ? 0 : -ENOMEM;
	}
	return r;
}

/* bhyve: $KBHYVE_BHYVE, else next to this binary, else the first in $PATH, else plain "bhyve". */
static void find_bhyve(struct vm_settings *s, const char *exe_dir)
{
	const char *env = getenv("KBHYVE_BHYVE");
	if (env && *env) {
		snprintf(s->bhyve, sizeof(s->bhyve), "%s", env);
		return;
	}
	char p[PATH_MAX + 16];
	if (*exe_dir) {
		snprintf(p, sizeof(p), "%s/bhyve", exe_dir);
		if (is_exec_file(p) && strlen(p) < sizeof(s->bhyve)) {
			memcpy(s->bhyve, p, strlen(p) + 1);
			return;
		}
	}
	const char *path = getenv("PATH");
	if (path) {
		char *copy = strdup(path), *save = NULL;
		for (char *d = copy ? strtok_r(copy, ":", &save) : NULL; d; d = strtok_r(NULL, ":", &save)) {
			snprintf(p, sizeof(p), "%s/bhyve", d);
			if (is_exec_file(p) && strlen(p) < sizeof(s->bhyve)) {
				memcpy(s->bhyve, p, strlen(p) + 1);
				free(copy);
				return;
			}
		}
		free(copy);
	}
	snprintf(s->bhyve, sizeof(s->bhyve), "bhyve");
}

/* Sample templates: $KBHYVE_SHARE, else <prefix>/share/kbhyve for an installed <prefix>/bin/vm,
 * else the source tree's share/ for a vm built in <repo>/build*. Empty when none is found. */
static void find_share(struct vm_settings *s, const char *exe_dir)
{
	const char *env = getenv("KBHYVE_SHARE");
	if (env && *env) {
		snprintf(s->share_dir, sizeof(s->share_dir), "%s", env);
		return;
	}
	const char *cands[] = { "/../share/kbhyve", "/../share", "/../../share" };
	char p[PATH_MAX + 32], t[PATH_MAX + 48];
	for (size_t i = 0; *exe_dir && i < sizeof(cands) / sizeof(cands[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", exe_dir, cands[i]);
		snprintf(t, sizeof(t), "%s/templates", p);
		char real[PATH_MAX];
		if (is_dir(t) && realpath(p, real)) {
			snprintf(s->share_dir, sizeof(s->share_dir), "%s", real);
			return;
		}
	}
	s->share_dir[0] = '\0';
}

/* loader="grub"'s EFI shim (src/efi/grubshim.c): built next to vm, installed under share. */
static void find_grubshim(struct vm_settings *s, const char *exe_dir)
{
	const char *env = getenv("KBHYVE_GRUBSHIM");
	if (env && *env) {
		snprintf(s->grubshim, sizeof(s->grubshim), "%s", env);
		return;
	}
	char p[PATH_MAX + 32];
	const char *dirs[] = {exe_dir, s->share_dir};
	for (size_t i = 0; i < 2; i++) {
		if (!*dirs[i])
			continue;
		snprintf(p, sizeof(p), "%s/efi/grubshim.efi", dirs[i]);
		struct stat st;
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && strlen(p) < sizeof(s->grubshim)) {
			memcpy(s->grubshim, p, strlen(p) + 1);
			return;
		}
	}
	s->grubshim[0] = '\0';
}

void settings_locate_programs(struct vm_settings *s)
{
	char exe_dir[PATH_MAX] = "";
	ssize_t n = readlink("/proc/self/exe", s->self, sizeof(s->self) - 1);
	if (n > 0) {
		s->self[n] = '\0';
		char copy[PATH_MAX];
		snprintf(copy, sizeof(copy), "%s", s->self);
		snprintf(exe_dir, sizeof(exe_dir), "%s", dirname(copy));
	} else {
		snprintf(s->self, sizeof(s->self), "vm");
	}
	find_bhyve(s, exe_dir);
	find_share(s, exe_dir);
	find_grubshim(s, exe_dir);
}

int settings_load(struct vm_settings *s, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	const char *rc = getenv("KBHYVE_CONF");
	snprintf(s->rc_path, sizeof(s->rc_path), "%s", rc && *rc ? rc : DEFAULT_RC_PATH);
	int r = load_or_empty(&s->rc, s->rc_path, err, errlen);
	if (r < 0)
		return r;

	const char *dir = getenv("vm_dir");
	if (!dir || !*dir)
		dir = vmconf_get(s->rc, "vm_dir");
	if (!dir || !*dir) {
		snprintf(err, errlen,
			 "vm_dir is not set: put vm_dir=\"/path/to/guests\" in %s (or set $vm_dir)",
			 s->rc_path);
		settings_free(s);
		return -ENOENT;
	}
	if (!strncmp(dir, "zfs:", 4)) {
		snprintf(err, errlen, "vm_dir=\"%s\": kbhyve keeps vm_dir in a directory, not a ZFS dataset; use a directory (btrfs, XFS or any other file system)",
			 dir);
		settings_free(s);
		return -EINVAL;
	}
	if (dir[0] != '/' || strlen(dir) >= sizeof(s->vm_dir) - 64) {
		snprintf(err, errlen, "vm_dir=\"%s\": must be an absolute path", dir);
		settings_free(s);
		return -EINVAL;
	}
	snprintf(s->vm_dir, sizeof(s->vm_dir), "%s", dir);
	size_t l = strlen(s->vm_dir);
	while (l > 1 && s->vm_dir[l - 1] == '/')
		s->vm_dir[--l] = '\0';
	if (snprintf(s->sys_path, sizeof(s->sys_path), "%s/.config/system.conf", s->vm_dir) >=
	    (int)sizeof(s->sys_path)) {
		snprintf(err, errlen, "vm_dir=\"%s\": path too long", s->vm_dir);
		settings_free(s);
		return -ENAMETOOLONG;
	}
	if ((r = load_or_empty(&s->sys, s->sys_path, err, errlen)) < 0) {
		settings_free(s);
		return r;
	}

	settings_locate_programs(s);
	return 0;
}

int settings_require_init(const struct vm_settings *s, char *err, size_t errlen)
{
	char p[PATH_MAX + 16];
	if (!is_dir(s->vm_dir)) {
		snprintf(err, errlen, "vm_dir %s does not exist: create it and run vm init", s->vm_dir);
		return -ENOENT;
	}
	snprintf(p, sizeof(p), "%s/.config", s->vm_dir);
	if (!is_dir(p)) {
		snprintf(err, errlen, "%s is not initialised: run vm init", s->vm_dir);
		return -ENOENT;
	}
	return 0;
}

int settings_lock_system(struct vm_settings *s, int *fd, char *err, size_t errlen)
{
	char dir[PATH_MAX + 16];
	snprintf(dir, sizeof(dir), "%s/.config", s->vm_dir);
	int r = conflock_take(dir, fd, err, errlen);
	if (r == -ENOENT) {
		snprintf(err, errlen, "%s is not initialised: run vm init", s->vm_dir);
		return r;
	}
	if (r < 0)
		return r;
	struct vmconf *now;
	if ((r = load_or_empty(&now, s->sys_path, err, errlen)) < 0) {
		conflock_release(*fd);
		*fd = -1;
		return r;
	}
	vmconf_free(s->sys);
	s->sys = now;
	return 0;
}

void settings_unlock_system(int fd)
{
	conflock_release(fd);
}

int settings_save_system(struct vm_settings *s, char *err, size_t errlen)
{
	return vmconf_save(s->sys, s->sys_path, err, errlen);
}

void settings_free(struct vm_settings *s)
{
	vmconf_free(s->rc);
	vmconf_free(s->sys);
	s->rc = s->sys = NULL;
}

char **strv_split(const char *s)
{
	size_t n = 0, cap = 4;
	char **v = calloc(cap, sizeof(*v));
	if (!v)
		return NULL;
	while (s && *s) {
		s += strspn(s, " \t\n");
		size_t len = strcspn(s, " \t\n");
		if (!len)
			break;
		if (n + 2 > cap) {
			cap *= 2;
			char **nv = realloc(v, cap * sizeof(*v));
			if (!nv)
				goto fail;
			v = nv;
		}
		if (!(v[n] = strndup(s, len)))
			goto fail;
		v[++n] = NULL;
		s += len;
	}
	return v;
fail:
	free_strv(v);
	return NULL;
}

int strv_index(char *const *v, const char *word)
{
	for (int i = 0; v && v[i]; i++)
		if (!strcmp(v[i], word))
			return i;
	return -1;
}

static bool datastore_listed(const struct vm_settings *s, const char *ds)
{
	char **v = strv_split(vmconf_get(s->sys, "datastore_list"));
	bool found = strv_index(v, ds) >= 0;
	free_strv(v);
	return found;
}

int datastore_path(const struct vm_settings *s, const char *ds, char *out, size_t outlen, char *err,
		   size_t errlen)
{
	if (!strcmp(ds, "default")) {
		snprintf(out, outlen, "%s", s->vm_dir);
		return 0;
	}
	char key[128];
	snprintf(key, sizeof(key), "path_%s", ds);
	const char *p = datastore_listed(s, ds) ? vmconf_get(s->sys, key) : NULL;
	if (!p || !*p) {
		snprintf(err, errlen, "no datastore named '%s' (see vm datastore list)", ds);
		return -ENOENT;
	}
	if (!strncmp(p, "lvm:", 4)) {
		/* an LVM thin pool's guest folders: in $vm_dir, its volumes in the pool (lvm.h) */
		if ((size_t)snprintf(out, outlen, "%s/.lvm/%s", s->vm_dir, ds) >= outlen) {
			snprintf(err, errlen, "datastore '%s': path too long", ds);
			return -ENAMETOOLONG;
		}
		return 0;
	}
	if (p[0] != '/') {
		snprintf(err, errlen, "datastore '%s': path \"%s\" is not a directory path (folders and lvm:VG/POOL are supported)",
			 ds, p);
		return -EINVAL;
	}
	if (strlen(p) >= outlen) {
		snprintf(err, errlen, "datastore '%s': path too long", ds);
		return -ENAMETOOLONG;
	}
	snprintf(out, outlen, "%s", p);
	return 0;
}

int datastore_lvm(const struct vm_settings *s, const char *ds, char vg[LVM_NAME_MAX + 1],
		  char pool[LVM_NAME_MAX + 1])
{
	char key[128], err[256];
	snprintf(key, sizeof(key), "path_%s", ds);
	const char *p = strcmp(ds, "default") && datastore_listed(s, ds) ? vmconf_get(s->sys, key) : NULL;
	if (!p || strncmp(p, "lvm:", 4))
		return 0;
	return lvm_spec_parse(p, vg, pool, err, sizeof(err)) < 0 ? -EINVAL : 1;
}

char **datastore_names(const struct vm_settings *s)
{
	char **listed = strv_split(vmconf_get(s->sys, "datastore_list"));
	if (!listed)
		return NULL;
	size_t n = 0;
	while (listed[n])
		n++;
	char **v = calloc(n + 2, sizeof(*v));
	if (!v || !(v[0] = strdup("default"))) {
		free(v);
		free_strv(listed);
		return NULL;
	}
	size_t o = 1;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(listed[i], "default") || strv_index(v, listed[i]) >= 0)
			free(listed[i]); /* "default" is always $vm_dir; duplicates count once */
		else
			v[o++] = listed[i];
	}
	free(listed);
	return v;
}

void free_strv(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}
