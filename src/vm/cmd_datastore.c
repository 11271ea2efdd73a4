/* SPDX-License-Identifier: BSD-2-Clause */
/* vm datastore list|add|remove: extra folders for guests, recorded in system.conf as vm-bhyve
 * does (datastore_list="a b", path_<name>="/path"). "default" is $vm_dir and always exists. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "vm/cmds.h"
#include "vm/lvm.h"
#include "vm/names.h"
#include "vm/runlock.h"
#include "vm/runprog.h"

#define BTRFS_MAGIC 0x9123683eL

static const char *fs_type(const char *path)
{
	struct statfs sf;
	if (statfs(path, &sf) < 0)
		return "missing";
	return (long)sf.f_type == BTRFS_MAGIC ? "btrfs" : "directory";
}


static int ds_list(struct vm_settings *s)
{
	char **names = datastore_names(s);
	if (!names) {
		fprintf(stderr, "vm datastore: out of memory\n");
		return 1;
	}
	printf("%-15s %-11s %s\n", "NAME", "TYPE", "PATH");
	for (size_t i = 0; names[i]; i++) {
		char path[PATH_MAX], err[256];
		if (datastore_path(s, names[i], path, sizeof(path), err, sizeof(err)) < 0) {
			char key[64];
			snprintf(key, sizeof(key), "path_%s", names[i]);
			printf("%-15s %-11s %s\n", names[i], "invalid", vmconf_get_default(s->sys, key, "-"));
			continue;
		}
		char vg[128], pool[128], key[64];
		snprintf(key, sizeof(key), "path_%s", names[i]);
		if (datastore_lvm(s, names[i], vg, pool) == 1)
			printf("%-15s %-11s %s\n", names[i], "lvm", vmconf_get(s->sys, key));
		else
			printf("%-15s %-11s %s\n", names[i], fs_type(path), path);
	}
	free_strv(names);
	return 0;
}

/* The same directory, whatever the spelling. */
static bool same_dir(const char *a, const char *b)
{
	struct stat x, y;
	return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

/* Record name -> spec in system.conf (datastore_list, path_<name>). */
static int ds_record(struct vm_settings *s, const char *name, const char *spec)
{
	const char *list = vmconf_get(s->sys, "datastore_list");
	char *nlist = NULL, key[64], err[512];
	if (asprintf(&nlist, "%s%s%s", list && *list ? list : "", list && *list ? " " : "", name) < 0) {
		fprintf(stderr, "vm datastore add: out of memory\n");
		return 1;
	}
	snprintf(key, sizeof(key), "path_%s", name);
	int r = vmconf_set(s->sys, "datastore_list", nlist);
	if (r == 0)
		r = vmconf_set(s->sys, key, spec);
	free(nlist);
	if (r < 0 || settings_save_system(s, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm datastore add: %s\n", r < 0 ? "cannot record the datastore" : err);
		return 1;
	}
	return 0;
}

/* lvm:VG/POOL: a thin pool that exists; its guest folders in $vm_dir/.lvm/<name>. */
static int ds_add_lvm(struct vm_settings *s, const char *name, const char *spec)
{
	char vg[LVM_NAME_MAX + 1], pool[LVM_NAME_MAX + 1], err[512];
	if (lvm_spec_parse(spec, vg, pool, err, sizeof(err)) < 0 || lvm_pool_check(vg, pool, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm datastore add: %s\n", err);
		return 1;
	}
	char **names = datastore_names(s);
	for (size_t i = 0; names && names[i]; i++) {
		char key[64], ovg[128], opool[128];
		snprintf(key, sizeof(key), "path_%s", names[i]);
		if (!strcmp(names[i], name) ||
		    (datastore_lvm(s, names[i], ovg, opool) == 1 && !strcmp(ovg, vg) && !strcmp(opool, pool))) {
			fprintf(stderr, "vm datastore add: %s\n", !strcmp(names[i], name) ? "a datastore of that name already exists"
											 : "that thin pool is a datastore already");
			free_strv(names);
			return 1;
		}
	}
	free_strv(names);
	char dir[PATH_MAX + 64];
	snprintf(dir, sizeof(dir), "%s/.lvm", s->vm_dir);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "vm datastore add: cannot create %s: %s\n", dir, strerror(errno));
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s/.lvm/%s", s->vm_dir, name);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "vm datastore add: cannot create %s: %s\n", dir, strerror(errno));
		return 1;
	}
	return ds_record(s, name, spec);
}

static int ds_add(struct vm_settings *s, const char *name, const char *path)
{
	if (!datastore_name_valid(name)) {
		fprintf(stderr, "vm datastore add: '%s' is not a valid datastore name (letters, digits, '_', '.', '-'; at most %d, not starting with '.' or '-')\n",
			name, SWITCH_NAME_MAX);
		return 1;
	}
	if (!strcmp(name, "default")) {
		fprintf(stderr, "vm datastore add: 'default' is $vm_dir and cannot be added\n");
		return 1;
	}
	if (!strncmp(path, "zfs:", 4)) {
		if (runprog_installed("zfs"))
			fprintf(stderr, "vm datastore add: '%s': ZFS datastores are not built into kbhyve yet, though zfs is installed (an LVM thin pool, lvm:VG/POOL, gives volumes and snapshots)\n",
				path);
		else
			fprintf(stderr, "vm datastore add: '%s': no ZFS on this host (no zfs command; an LVM thin pool, lvm:VG/POOL, gives volumes and snapshots)\n",
				path);
		return 1;
	}
	if (!strncmp(path, "iso:", 4) || !strncmp(path, "img:", 4)) {
		fprintf(stderr, "vm datastore add: '%s': media datastores are not supported (folders and lvm:VG/POOL are)\n", path);
		return 1;
	}
	if (!strncmp(path, "lvm:", 4))
		return ds_add_lvm(s, name, path);
	if (path[0] != '/') {
		fprintf(stderr, "vm datastore add: '%s' is not an absolute path\n", path);
		return 1;
	}
	if (strpbrk(path, "\n,") || strlen(path) >= PATH_MAX - 300) {
		fprintf(stderr, "vm datastore add: '%s': unusable path (newline, comma or too long)\n", path);
		return 1;
	}
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "vm datastore add: %s is not an existing directory\n", path);
		return 1;
	}
	char **names = datastore_names(s);
	if (!names) {
		fprintf(stderr, "vm datastore add: out of memory\n");
		return 1;
	}
	for (size_t i = 0; names[i]; i++) {
		char other[PATH_MAX], err[256];
		if (!strcmp(names[i], name)) {
			fprintf(stderr, "vm datastore add: a datastore named '%s' already exists\n", name);
			free_strv(names);
			return 1;
		}
		if (datastore_path(s, names[i], other, sizeof(other), err, sizeof(err)) == 0 &&
		    same_dir(other, path)) {
			fprintf(stderr, "vm datastore add: %s is already datastore '%s'\n", path, names[i]);
			free_strv(names);
			return 1;
		}
	}
	free_strv(names);

	char clean[PATH_MAX];
	snprintf(clean, sizeof(clean), "%s", path);
	size_t l = strlen(clean);
	while (l > 1 && clean[l - 1] == '/')
		clean[--l] = '\0';
	return ds_record(s, name, clean);
}

/* A guest of the datastore at path that runs (or is locked by another host): its name in out. */
static bool ds_guest_running(const char *path, char *out, size_t outlen)
{
	DIR *d = opendir(path);
	if (!d)
		return false;
	struct dirent *e;
	bool found = false;
	while (!found && (e = readdir(d))) {
		char dir[PATH_MAX], conf[PATH_MAX * 2];
		struct stat st;
		if (!guest_name_valid(e->d_name) ||
		    snprintf(dir, sizeof(dir), "%s/%s", path, e->d_name) >= (int)sizeof(dir))
			continue;
		snprintf(conf, sizeof(conf), "%s/%s.conf", dir, e->d_name);
		if (stat(conf, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (runlock_probe(dir, NULL, NULL, 0) != RUN_STOPPED) {
			snprintf(out, outlen, "%s", e->d_name);
			found = true;
		}
	}
	closedir(d);
	return found;
}

static int ds_remove(struct vm_settings *s, const char *name)
{
	if (!strcmp(name, "default")) {
		fprintf(stderr, "vm datastore remove: the default datastore ($vm_dir) cannot be removed\n");
		return 1;
	}
	char **listed = strv_split(vmconf_get(s->sys, "datastore_list"));
	if (!listed) {
		fprintf(stderr, "vm datastore remove: out of memory\n");
		return 1;
	}
	if (strv_index(listed, name) < 0) {
		fprintf(stderr, "vm datastore remove: no datastore named '%s'\n", name);
		free_strv(listed);
		return 1;
	}
	/* its running guests would become unmanageable: vm stop could no longer find them, and
	 * their supervisors could not open them again at the next reboot */
	char path[PATH_MAX], perr[256], running[256];
	if (datastore_path(s, name, path, sizeof(path), perr, sizeof(perr)) == 0 &&
	    ds_guest_running(path, running, sizeof(running))) {
		fprintf(stderr, "vm datastore remove: guest '%s' of datastore '%s' is running (stop it first)\n",
			running, name);
		free_strv(listed);
		return 1;
	}
	size_t len = 1;
	for (size_t i = 0; listed[i]; i++)
		len += strlen(listed[i]) + 1;
	char *nlist = calloc(1, len);
	if (!nlist) {
		free_strv(listed);
		fprintf(stderr, "vm datastore remove: out of memory\n");
		return 1;
	}
	for (size_t i = 0; listed[i]; i++) {
		if (!strcmp(listed[i], name))
			continue;
		if (*nlist)
			strcat(nlist, " ");
		strcat(nlist, listed[i]);
	}
	free_strv(listed);
	char key[64], err[512];
	snprintf(key, sizeof(key), "path_%s", name);
	int r = *nlist ? vmconf_set(s->sys, "datastore_list", nlist) : 0;
	if (!*nlist)
		vmconf_unset(s->sys, "datastore_list");
	vmconf_unset(s->sys, key);
	free(nlist);
	if (r < 0 || settings_save_system(s, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm datastore remove: %s\n", r < 0 ? "cannot update system.conf" : err);
		return 1;
	}
	/* the folder and any guests in it are left alone; they are just no longer managed */
	return 0;
}

int cmd_datastore(struct vm_settings *s, int argc, char **argv)
{
	const char *usage = "usage: vm datastore list | add <name> <path>|lvm:<vg>/<pool> | remove <name>";
	if (argc < 2) {
		fprintf(stderr, "vm datastore: which action? (%s)\n", usage);
		return 1;
	}
	const char *a = argv[1];
	if (!strcmp(a, "list") && argc == 2)
		return ds_list(s);
	if ((!strcmp(a, "add") && argc == 4) || (!strcmp(a, "remove") && argc == 3)) {
		/* system.conf is read again, checked and written under its lock */
		char err[512];
		int lk;
		if (settings_lock_system(s, &lk, err, sizeof(err)) < 0) {
			fprintf(stderr, "vm datastore %s: %s\n", a, err);
			return 1;
		}
		int r = !strcmp(a, "add") ? ds_add(s, argv[2], argv[3]) : ds_remove(s, argv[2]);
		settings_unlock_system(lk);
		return r;
	}
	if (!strcmp(a, "list") || !strcmp(a, "add") || !strcmp(a, "remove"))
		fprintf(stderr, "vm datastore %s: wrong number of arguments (%s)\n", a, usage);
	else if (!strcmp(a, "iso") || !strcmp(a, "img"))
		fprintf(stderr, "vm datastore %s: media datastores are not supported by kbhyve (%s)\n", a, usage);
	else
		fprintf(stderr, "vm datastore: unknown action '%s' (%s)\n", a, usage);
	return 1;
}
