/* SPDX-License-Identifier: BSD-2-Clause */
/* vm image list | create [-d DESC] [-u] NAME | provision [-d DS] UUID NEW | destroy UUID: vm-bhyve's
 * guest images. vm-bhyve sends a ZFS dataset; here an image is a tar archive (sparse files kept
 * sparse) of the guest folder, xz-compressed unless -u, in $vm_dir/.images/UUID.tar[.xz], with
 * vm-bhyve's manifest beside it (UUID.manifest: description, created, name, filename,
 * decompress). A guest whose folder snapshots (btrfs, XFS) is archived from a snapshot and may
 * run; another must be stopped. Provisioning unpacks into a hidden folder and renames it into
 * place, with a new uuid and MACs, as vm clone does. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vm/cmds.h"
#include "vm/guest.h"
#include "vm/names.h"
#include "vm/opts.h"
#include "vm/runlock.h"
#include "vm/runprog.h"
#include "vm/snapstore.h"

#define IMAGES ".images"

static void images_dir(const struct vm_settings *s, char *out, size_t len)
{
	snprintf(out, len, "%.3000s/" IMAGES, s->vm_dir);
}

/* The manifest of image uuid (NULL with a line on stderr when there is none). */
static struct vmconf *manifest_load(const struct vm_settings *s, const char *cmd, const char *uuid)
{
	char dir[PATH_MAX], path[PATH_MAX + 64], err[512];
	if (!uuid_valid(uuid)) {
		fprintf(stderr, "vm image %s: '%s' is not an image UUID (vm image list shows them)\n", cmd, uuid);
		return NULL;
	}
	images_dir(s, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/%s.manifest", dir, uuid);
	struct vmconf *m;
	int r = vmconf_load(&m, path, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "vm image %s: %s\n", cmd, r == -ENOENT ? "no image with that UUID" : err);
		return NULL;
	}
	/* the data file: UUID.tar or UUID.tar.xz, never a path elsewhere */
	const char *f = vmconf_get(m, "filename");
	size_t ul = strlen(uuid);
	if (!f || strncmp(f, uuid, ul) || (strcmp(f + ul, ".tar") && strcmp(f + ul, ".tar.xz"))) {
		fprintf(stderr, "vm image %s: %s: filename=\"%s\" is not this image's archive\n", cmd, path,
			f ? f : "");
		vmconf_free(m);
		return NULL;
	}
	return m;
}

static int image_list(const struct vm_settings *s)
{
	char dir[PATH_MAX];
	images_dir(s, dir, sizeof(dir));
	printf("%-37s %-20s %-30s %s\n", "UUID", "NAME", "CREATED", "DESCRIPTION");
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l != 36 + 9 || strcmp(e->d_name + 36, ".manifest"))
			continue;
		char uuid[37], path[PATH_MAX + 300], err[256];
		snprintf(uuid, sizeof(uuid), "%.36s", e->d_name);
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		struct vmconf *m;
		if (!uuid_valid(uuid) || vmconf_load(&m, path, err, sizeof(err)) < 0)
			continue;
		printf("%-37s %-20s %-30s %s\n", uuid, vmconf_get_default(m, "name", "-"),
		       vmconf_get_default(m, "created", "-"), vmconf_get_default(m, "description", "-"));
		vmconf_free(m);
	}
	if (d)
		closedir(d);
	return 0;
}

/* tar's arguments for the guest folder src into archive, xz-compressed unless plain. */
static int archive(const char *src, const char *archive_path, bool plain, char *why, size_t whylen)
{
	char *argv[] = { "tar", "-C", (char *)src, "--sparse", "--numeric-owner", "--exclude=./run.lock",
			 "--exclude=./console", "--exclude=./restart", "--exclude=./vtcon.*",
			 plain ? "--no-auto-compress" : "--use-compress-program=xz -T0", "-c", "-f",
			 (char *)archive_path, ".", NULL };
	return runprog(argv, NULL, RUNPROG_STDOUT_NULL, why, whylen);
}

static int image_create(struct vm_settings *s, int argc, char **argv)
{
	const char *usage = "usage: vm image create [-d description] [-u] <name>";
	const char *o[128];
	int i = vm_opts_parse("image create", argc, argv, "d:u", usage, o);
	if (i < 0)
		return 1;
	if (argc - i != 1) {
		fprintf(stderr, "vm image create: one guest, please (%s)\n", usage);
		return 1;
	}
	if (o['d'] && strpbrk(o['d'], "\n\"\\")) {
		fprintf(stderr, "vm image create: -d: a description on one line, without '\"' or '\\'\n");
		return 1;
	}
	struct guest g;
	char err[1024], dspath[PATH_MAX], uuid[37], why[512];
	if (guest_open(s, argv[i], &g, err, sizeof(err)) < 0 ||
	    datastore_path(s, g.ds, dspath, sizeof(dspath), err, sizeof(err)) < 0) {
		fprintf(stderr, "vm image create: %s\n", err);
		return 1;
	}
	if (uuid_generate(uuid) < 0) {
		fprintf(stderr, "vm image create: cannot generate a UUID\n");
		guest_close(&g);
		return 1;
	}
	/* from a snapshot where the folder has them (the guest may run), else the stopped guest */
	int runfd = -1, conffd = -1, rc = 1;
	char snapname[32] = "", src[PATH_MAX];
	snprintf(src, sizeof(src), "%s", g.dir);
	enum snap_kind kind = snap_kind_of(g.dir, why, sizeof(why));
	if (kind == SNAP_LVM) {
		/* its folder holds links to thin volumes, not the disks' bytes */
		fprintf(stderr, "vm image create: %s is on an LVM datastore: images of thin volumes are not supported yet\n",
			g.name);
		guest_close(&g);
		return 1;
	}
	if (kind != SNAP_NONE) {
		snprintf(snapname, sizeof(snapname), "image-%.8s", uuid);
		struct snap sn;
		if (guest_lock(&g, false, &conffd, err, sizeof(err)) < 0 ||
		    snap_create(dspath, g.name, g.dir, snapname, err, sizeof(err)) < 0 ||
		    snap_find(dspath, g.name, snapname, &sn) < 0) {
			fprintf(stderr, "vm image create: %s\n", err);
			snapname[0] = '\0';
			goto out;
		}
		snprintf(src, sizeof(src), "%s", sn.path);
	} else if (lock_for(&g, "image create", &runfd, &conffd) < 0) {
		guest_close(&g);
		return 1;
	}
	char dir[PATH_MAX], part[PATH_MAX + 128], final[PATH_MAX + 128], mpath[PATH_MAX + 64], fname[64];
	images_dir(s, dir, sizeof(dir));
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "vm image create: cannot create %s: %s\n", dir, strerror(errno));
		goto out;
	}
	snprintf(fname, sizeof(fname), "%s%s", uuid, o['u'] ? ".tar" : ".tar.xz");
	snprintf(part, sizeof(part), "%s/.%s.part", dir, fname);
	snprintf(final, sizeof(final), "%s/%s", dir, fname);
	snprintf(mpath, sizeof(mpath), "%s/%s.manifest", dir, uuid);
	if (!o['u']) {
		printf("Creating a compressed image, this may take some time...\n");
		fflush(stdout);
	}
	if (archive(src, part, o['u'] != NULL, why, sizeof(why)) != 0) {
		fprintf(stderr, "vm image create: cannot archive %s: %s\n", g.name, why[0] ? why : "tar failed");
		unlink(part);
		goto out;
	}
	time_t now = time(NULL);
	char created[64];
	strftime(created, sizeof(created), "%a %b %e %H:%M:%S %Z %Y", localtime(&now));
	struct vmconf *m = vmconf_new();
	int r = m ? 0 : -ENOMEM;
	if (r == 0)
		r = vmconf_set(m, "description", o['d'] ? o['d'] : "No description provided");
	if (r == 0)
		r = vmconf_set(m, "created", created);
	if (r == 0)
		r = vmconf_set(m, "name", g.name);
	if (r == 0)
		r = vmconf_set(m, "filename", fname);
	if (r == 0)
		r = vmconf_set(m, "decompress", o['u'] ? "" : "xz -d");
	if (r == 0 && rename(part, final) < 0)
		r = -errno;
	if (r == 0)
		r = vmconf_save(m, mpath, err, sizeof(err));
	else
		snprintf(err, sizeof(err), "%s", strerror(-r));
	vmconf_free(m);
	if (r < 0) {
		fprintf(stderr, "vm image create: %s\n", err);
		unlink(part);
		unlink(final);
		goto out;
	}
	printf("Image of %s created with UUID %s\n", g.name, uuid);
	rc = 0;
out:
	if (snapname[0]) {
		struct snap sn;
		if (snap_find(dspath, g.name, snapname, &sn) == 0)
			snap_destroy(&sn, err, sizeof(err));
	}
	if (runfd >= 0)
		runlock_release(g.dir, runfd);
	guest_unlock(conffd);
	guest_close(&g);
	return rc;
}

static int image_provision(struct vm_settings *s, int argc, char **argv)
{
	const char *usage = "usage: vm image provision [-d datastore] <uuid> <new-name>";
	const char *o[128];
	int i = vm_opts_parse("image provision", argc, argv, "d:", usage, o);
	if (i < 0)
		return 1;
	if (argc - i != 2) {
		fprintf(stderr, "vm image provision: an image UUID and a new name, please (%s)\n", usage);
		return 1;
	}
	const char *uuid = argv[i], *newname = argv[i + 1];
	char err[1024], dspath[PATH_MAX], dir[PATH_MAX], data[PATH_MAX + 128], why[512];
	if (!new_guest_name_ok(s, "image provision", newname))
		return 1;
	if (datastore_path(s, o['d'] ? o['d'] : "default", dspath, sizeof(dspath), err, sizeof(err)) < 0) {
		fprintf(stderr, "vm image provision: %s\n", err);
		return 1;
	}
	struct vmconf *m = manifest_load(s, "provision", uuid);
	if (!m)
		return 1;
	const char *oldname = vmconf_get(m, "name");
	images_dir(s, dir, sizeof(dir));
	snprintf(data, sizeof(data), "%s/%s", dir, vmconf_get(m, "filename"));
	struct stat st;
	if (!oldname || !guest_name_valid(oldname) || stat(data, &st) < 0) {
		fprintf(stderr, "vm image provision: image %s: %s\n", uuid,
			!oldname || !guest_name_valid(oldname) ? "its manifest names no guest" : "its archive is missing");
		vmconf_free(m);
		return 1;
	}
	char stage[PATH_MAX + 300], final[PATH_MAX + 300], conf[PATH_MAX + 600];
	snprintf(stage, sizeof(stage), "%s/.%s.provisioning.%d", dspath, newname, (int)getpid());
	snprintf(final, sizeof(final), "%s/%s", dspath, newname);
	snprintf(conf, sizeof(conf), "%s/%s.conf", stage, oldname);
	int rc = 1;
	int r = snap_make_guest_dir(stage, 0700);
	if (r < 0) {
		fprintf(stderr, "vm image provision: cannot create %s: %s\n", stage, strerror(-r));
		vmconf_free(m);
		return 1;
	}
	printf("Unpacking guest image, this may take some time...\n");
	fflush(stdout);
	char *x[] = { "tar", "-C", stage, "--sparse", "--numeric-owner", "--no-overwrite-dir", "-x", "-f", data, NULL };
	if (runprog(x, NULL, RUNPROG_STDOUT_NULL, why, sizeof(why)) != 0) {
		fprintf(stderr, "vm image provision: image %s does not unpack: %s\n", uuid, why[0] ? why : "tar failed");
		goto out;
	}
	if (lstat(conf, &st) < 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "vm image provision: image %s holds no %s.conf\n", uuid, oldname);
		goto out;
	}
	/* links to vm's thin volumes are some other guest's disks: never taken over from an image
	 * (removing this guest would remove them) */
	if (snap_kind_of(stage, why, sizeof(why)) == SNAP_LVM) {
		fprintf(stderr, "vm image provision: image %s holds links to LVM thin volumes, not disks\n", uuid);
		goto out;
	}
	if (guest_generalise("image provision", oldname, stage, newname, false) < 0)
		goto out;
	if (renameat2(AT_FDCWD, stage, AT_FDCWD, final, RENAME_NOREPLACE) < 0) {
		fprintf(stderr, "vm image provision: %s: %s\n", final, errno == EEXIST || errno == ENOTEMPTY ? "already exists" : strerror(errno));
		goto out;
	}
	rc = 0;
	struct guest ng;
	memset(&ng, 0, sizeof(ng));
	snprintf(ng.name, sizeof(ng.name), "%s", newname);
	snprintf(ng.dir, sizeof(ng.dir), "%.*s", (int)sizeof(ng.dir) - 1, final);
	guest_log(&ng, "provisioned from image %s (guest %s)", uuid, oldname);
out:
	if (rc)
		snap_remove_foreign_tree(stage);
	vmconf_free(m);
	return rc;
}

static int image_destroy(struct vm_settings *s, int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "vm image destroy: one image UUID, please (usage: vm image destroy <uuid>)\n");
		return 1;
	}
	struct vmconf *m = manifest_load(s, "destroy", argv[1]);
	if (!m)
		return 1;
	char dir[PATH_MAX], p[PATH_MAX + 128];
	images_dir(s, dir, sizeof(dir));
	snprintf(p, sizeof(p), "%s/%s", dir, vmconf_get(m, "filename"));
	int rc = 0;
	if (unlink(p) < 0 && errno != ENOENT) {
		fprintf(stderr, "vm image destroy: cannot remove %s: %s\n", p, strerror(errno));
		rc = 1;
	}
	snprintf(p, sizeof(p), "%s/%s.manifest", dir, argv[1]);
	if (rc == 0 && unlink(p) < 0) {
		fprintf(stderr, "vm image destroy: cannot remove %s: %s\n", p, strerror(errno));
		rc = 1;
	}
	vmconf_free(m);
	return rc;
}

int cmd_image(struct vm_settings *s, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";
	if (!strcmp(sub, "list") && argc == 2)
		return image_list(s);
	if (!strcmp(sub, "create"))
		return image_create(s, argc - 1, argv + 1);
	if (!strcmp(sub, "provision"))
		return image_provision(s, argc - 1, argv + 1);
	if (!strcmp(sub, "destroy"))
		return image_destroy(s, argc - 1, argv + 1);
	fprintf(stderr, "vm image: %s (usage: vm image list|create|provision|destroy ...)\n",
		*sub ? "unknown action or extra arguments" : "no action");
	return 1;
}
