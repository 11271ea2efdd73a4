/* SPDX-License-Identifier: BSD-2-Clause */
/* LVM thin volumes for vm's disks (see lvm.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "vm/lvm.h"
#include "vm/runprog.h"

bool lvm_name_valid(const char *n)
{
	size_t l = strlen(n);
	if (l == 0 || l > LVM_NAME_MAX || n[0] == '-' || !strcmp(n, ".") || !strcmp(n, ".."))
		return false;
	if (strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+_.-") != l)
		return false;
	static const char *const reserved[] = { "_cdata", "_cmeta", "_corig", "_mimage", "_mlog",
						"_pmspare", "_rimage", "_rmeta", "_tdata", "_tmeta",
						"_vorigin", "_vdata", "snapshot", "pvmove", NULL };
	for (int i = 0; reserved[i]; i++)
		if (strstr(n, reserved[i]))
			return false;
	return true;
}

int lvm_spec_parse(const char *spec, char vg[LVM_NAME_MAX + 1], char pool[LVM_NAME_MAX + 1], char *err,
		   size_t errlen)
{
	const char *p = !strncmp(spec, "lvm:", 4) ? spec + 4 : NULL;
	const char *slash = p ? strchr(p, '/') : NULL;
	if (!slash || (size_t)(slash - p) > LVM_NAME_MAX || strlen(slash + 1) > LVM_NAME_MAX) {
		snprintf(err, errlen, "'%s' is not lvm:VG/POOL", spec);
		return -EINVAL;
	}
	snprintf(vg, LVM_NAME_MAX + 1, "%.*s", (int)(slash - p), p);
	snprintf(pool, LVM_NAME_MAX + 1, "%s", slash + 1);
	if (!lvm_name_valid(vg) || !lvm_name_valid(pool)) {
		snprintf(err, errlen, "'%s': not LVM names (letters, digits, '+', '_', '.', '-')", spec);
		return -EINVAL;
	}
	return 0;
}

/* Run an lvm2 command quietly: its status, the first line it wrote on stderr in why. */
static int lvm_run(char *const argv[], int out_fd, char *why, size_t whylen)
{
	/* lvm warns about every inherited descriptor on stderr, whose first line is our message:
	 * vm's own are close-on-exec, and a caller's (a shell's) are not lvm's business */
	setenv("LVM_SUPPRESS_FD_WARNINGS", "1", 1);
	int st = runprog(argv, NULL, out_fd, why, whylen);
	if (st == 127)
		snprintf(why, whylen, "lvm2 is not installed (%s)", argv[0]);
	return st;
}

int lvm_pool_check(const char *vg, const char *pool, char *err, size_t errlen)
{
	char lv[2 * LVM_NAME_MAX + 2], why[512], attr[64] = "";
	snprintf(lv, sizeof(lv), "%s/%s", vg, pool);
	int fd = memfd_create("lvs", MFD_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "memfd_create: %s", strerror(e));
		return -e;
	}
	char *argv[] = { "lvs", "--noheadings", "-o", "lv_attr", lv, NULL };
	int st = lvm_run(argv, fd, why, sizeof(why));
	ssize_t n = pread(fd, attr, sizeof(attr) - 1, 0);
	attr[n > 0 ? n : 0] = '\0';
	close(fd);
	if (st != 0) {
		snprintf(err, errlen, "%s: %s", lv, why[0] ? why : "lvs failed");
		return st == 127 ? -ENOENT : -ENODEV;
	}
	const char *a = attr + strspn(attr, " \t");
	if (a[0] != 't') {
		snprintf(err, errlen, "%s is not a thin pool (lvcreate -T -L SIZE %s makes one)", lv, lv);
		return -EINVAL;
	}
	return 0;
}

static void dev_path(const char *vg, const char *lv, char *path, size_t len)
{
	snprintf(path, len, "/dev/%s/%s", vg, lv);
}

/* A new volume name: vm+<12 hex>+<disk> (the disk's name, cut to fit). */
static int new_name(const char *disk, char out[LVM_NAME_MAX + 1])
{
	unsigned char r[6];
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -EIO;
	snprintf(out, LVM_NAME_MAX + 1, LVM_PREFIX "%02x%02x%02x%02x%02x%02x+%.100s", r[0], r[1], r[2], r[3],
		 r[4], r[5], disk);
	return lvm_name_valid(out) ? 0 : -EINVAL;
}

int lvm_volume_create(const char *vg, const char *pool, uint64_t size, const char *disk, char *path,
		      size_t pathlen, char *err, size_t errlen)
{
	char lv[LVM_NAME_MAX + 1], why[512], vsize[32], vgpool[2 * LVM_NAME_MAX + 2];
	if (new_name(disk, lv) < 0) {
		snprintf(err, errlen, "disk name '%s' cannot be part of an LVM volume name", disk);
		return -EINVAL;
	}
	snprintf(vsize, sizeof(vsize), "%" PRIu64 "b", size);
	snprintf(vgpool, sizeof(vgpool), "%s/%s", vg, pool);
	char *argv[] = { "lvcreate", "-q", "-y", "-V", vsize, "-T", vgpool, "-n", lv, NULL };
	if (lvm_run(argv, RUNPROG_STDOUT_NULL, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "cannot create a thin volume in %s: %s", vgpool, why[0] ? why : "lvcreate failed");
		return -EIO;
	}
	dev_path(vg, lv, path, pathlen);
	return 0;
}

int lvm_volume_snapshot(const char *vg, const char *lv, bool activate, char *path, size_t pathlen,
			char *err, size_t errlen)
{
	char nlv[LVM_NAME_MAX + 1], src[2 * LVM_NAME_MAX + 2], why[512];
	/* the disk part of the name stays: vm+<new hex>+<disk> */
	const char *disk = strchr(lv + strlen(LVM_PREFIX), '+');
	if (new_name(disk ? disk + 1 : "disk", nlv) < 0) {
		snprintf(err, errlen, "cannot name a snapshot of %s", lv);
		return -EINVAL;
	}
	snprintf(src, sizeof(src), "%s/%s", vg, lv);
	/* a snapshot kept as a snapshot stays inactive (lvm's default for thin snapshots); one a
	 * guest will use is activated */
	char *argv[] = { "lvcreate", "-q", "-y", "-s", activate ? "-kn" : "-ky", "-n", nlv, src, NULL };
	if (lvm_run(argv, RUNPROG_STDOUT_NULL, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "cannot snapshot %s: %s", src, why[0] ? why : "lvcreate failed");
		return -EIO;
	}
	dev_path(vg, nlv, path, pathlen);
	return 0;
}

int lvm_volume_remove(const char *vg, const char *lv, char *err, size_t errlen)
{
	char full[2 * LVM_NAME_MAX + 2], why[512];
	snprintf(full, sizeof(full), "%s/%s", vg, lv);
	char *argv[] = { "lvremove", "-q", "-f", full, NULL };
	if (lvm_run(argv, RUNPROG_STDOUT_NULL, why, sizeof(why)) != 0) {
		/* gone already is what we wanted */
		char *chk[] = { "lvs", full, NULL };
		char w2[256];
		if (lvm_run(chk, RUNPROG_STDOUT_NULL, w2, sizeof(w2)) != 0 && !strstr(w2, "not installed"))
			return 0;
		snprintf(err, errlen, "cannot remove %s: %s", full, why[0] ? why : "lvremove failed");
		return -EIO;
	}
	return 0;
}

bool lvm_link_target(const char *target, char vg[LVM_NAME_MAX + 1], char lv[LVM_NAME_MAX + 1])
{
	if (strncmp(target, "/dev/", 5))
		return false;
	const char *v = target + 5, *slash = strchr(v, '/');
	if (!slash || (size_t)(slash - v) > LVM_NAME_MAX || strchr(slash + 1, '/'))
		return false;
	snprintf(vg, LVM_NAME_MAX + 1, "%.*s", (int)(slash - v), v);
	snprintf(lv, LVM_NAME_MAX + 1, "%.127s", slash + 1);
	return !strncmp(lv, LVM_PREFIX, strlen(LVM_PREFIX)) && lvm_name_valid(vg) && lvm_name_valid(lv) &&
	       strcmp(vg, "mapper") != 0;
}
