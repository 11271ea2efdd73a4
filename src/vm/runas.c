/* SPDX-License-Identifier: BSD-2-Clause */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl/ctlproto.h"
#include "vm/runas.h"

/* A decimal id below 2^31 - 1 (the kernel's -1 is "no change"), or -1. */
static long parse_id(const char *s)
{
	if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 10)
		return -1;
	long v = strtol(s, NULL, 10);
	return v >= 0 && v < 0x7fffffffL ? v : -1;
}

static int bad(char *err, size_t errlen, const char *value, const char *why)
{
	snprintf(err, errlen, "run_as=\"%s\": %s", value, why);
	return -EINVAL;
}

int runas_parse(const char *value, struct runas *r, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	if (!value || !*value)
		return 0;
	char user[64], group[64] = "";
	const char *colon = strchr(value, ':');
	size_t ulen = colon ? (size_t)(colon - value) : strlen(value);
	if (ulen == 0 || ulen >= sizeof(user) || (colon && strlen(colon + 1) >= sizeof(group)))
		return bad(err, errlen, value, "expected USER, UID, USER:GROUP or UID:GID");
	memcpy(user, value, ulen);
	user[ulen] = '\0';
	if (colon) {
		snprintf(group, sizeof(group), "%s", colon + 1);
		if (!group[0])
			return bad(err, errlen, value, "the group after ':' is empty");
	}
	struct passwd *pw = getpwnam(user);
	long id = parse_id(user);
	if (!pw && id >= 0)
		pw = getpwuid((uid_t)id);
	if (pw) {
		r->uid = pw->pw_uid;
		r->gid = pw->pw_gid;
		r->groups = true;
		snprintf(r->user, sizeof(r->user), "%s", pw->pw_name);
	} else if (id >= 0) {
		r->uid = (uid_t)id;
		snprintf(r->user, sizeof(r->user), "%ld", id);
		if (!colon)
			return bad(err, errlen, value,
				   "uid without a passwd entry: give its group too (UID:GID)");
	} else {
		return bad(err, errlen, value, "no such user");
	}
	if (colon) {
		struct group *gr = getgrnam(group);
		long gid = parse_id(group);
		if (gr)
			r->gid = gr->gr_gid;
		else if (gid >= 0)
			r->gid = (gid_t)gid;
		else
			return bad(err, errlen, value, "no such group");
	}
	/* root is what runs bhyve anyway: nothing to drop */
	r->set = r->uid != 0;
	return 0;
}

const char *runas_value(const struct vmconf *guest, const struct vmconf *sys)
{
	const char *v = guest ? vmconf_get(guest, "run_as") : NULL;
	if ((!v || !*v) && sys)
		v = vmconf_get(sys, "run_as");
	return v && *v ? v : NULL;
}

int runas_for_guest(const struct vmconf *guest, const struct vmconf *sys, struct runas *r,
		    char *err, size_t errlen)
{
	return runas_parse(runas_value(guest, sys), r, err, errlen);
}

int runas_run_dir(const char *name, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s/run_as/%s", ctl_run_dir(), name);
	return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

/* Remove what is directly in dir (not following links; subfolders stay). */
static void empty_dir(int dfd)
{
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
}

int runas_prepare_run_dir(const struct runas *r, const char *dir, char *err, size_t errlen)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s", dir);
	char *leaf = strrchr(p, '/');
	if (!leaf || leaf == p) {
		snprintf(err, errlen, "run_as: bad run folder %s", dir);
		return -EINVAL;
	}
	/* the parents: root's, and the user must pass through the two of kbhyve's own
	 * (KBHYVE_RUNDIR, which bhyve makes 0700, and run_as) */
	*leaf = '\0';
	char *rundir_end = strrchr(p, '/');
	*leaf = '/';
	for (char *s = p + 1; s <= leaf; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		struct stat st;
		if (mkdir(p, 0755) < 0 && errno != EEXIST) {
			int e = errno;
			snprintf(err, errlen, "run_as: cannot create %s: %s", p, strerror(e));
			return -e;
		}
		if (s >= rundir_end && stat(p, &st) == 0 && (st.st_mode & 0111) != 0111 &&
		    chmod(p, (st.st_mode & 07777) | 0111) < 0) {
			int e = errno;
			snprintf(err, errlen, "run_as: %s: %s", p, strerror(e));
			return -e;
		}
		*s = '/';
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		int e = errno;
		snprintf(err, errlen, "run_as: cannot create %s: %s", dir, strerror(e));
		return -e;
	}
	/* opened without following a link the user may have put in its place, then handed over */
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		int e = errno;
		snprintf(err, errlen, "run_as: %s: %s", dir,
			 e == ELOOP || e == ENOTDIR ? "not a folder" : strerror(e));
		return -e;
	}
	if (fchown(dfd, r->uid, r->gid) < 0 || fchmod(dfd, 0700) < 0) {
		int e = errno;
		snprintf(err, errlen, "run_as: %s: %s", dir, strerror(e));
		close(dfd);
		return -e;
	}
	empty_dir(dfd);
	return 0;
}

void runas_remove_run_dir(const char *dir)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return;
	empty_dir(dfd);
	rmdir(dir);
}

/* The folder holding path's last component is root's and nobody else may change its entries. */
static bool folder_is_roots(const char *path)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		return false;
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	struct stat st;
	return lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == 0 &&
	       !(st.st_mode & 0022);
}

/* Each symbolic link on the way from path to what it names sits in a folder of root's only. */
static bool links_in_roots_folders(const char *path)
{
	char cur[PATH_MAX], target[PATH_MAX];
	snprintf(cur, sizeof(cur), "%s", path);
	for (int hops = 0; hops < 16; hops++) {
		struct stat st;
		if (lstat(cur, &st) < 0)
			return false;
		if (!S_ISLNK(st.st_mode))
			return true;
		if (!folder_is_roots(cur))
			return false;
		ssize_t n = readlink(cur, target, sizeof(target) - 1);
		if (n <= 0)
			return false;
		target[n] = '\0';
		if (target[0] == '/') {
			snprintf(cur, sizeof(cur), "%s", target);
		} else {
			char *slash = strrchr(cur, '/');
			size_t keep = slash ? (size_t)(slash - cur) + 1 : 0;
			if (keep + (size_t)n >= sizeof(cur))
				return false;
			memcpy(cur + keep, target, (size_t)n + 1);
		}
	}
	return false;
}

int runas_give(const struct runas *r, const char *path, const char *guest_dir, char *err,
	       size_t errlen)
{
	size_t dl = strlen(guest_dir);
	bool in_folder = !strncmp(path, guest_dir, dl) && path[dl] == '/' &&
			 !strchr(path + dl + 1, '/');
	struct stat st;
	if (lstat(path, &st) < 0) {
		int e = errno;
		snprintf(err, errlen, "run_as: %s: %s", path, strerror(e));
		return -e;
	}
	/* a link (/dev/vg0/lv): every hop from a folder the user cannot write */
	bool link = S_ISLNK(st.st_mode);
	if (link && !links_in_roots_folders(path)) {
		snprintf(err, errlen,
			 "run_as: %s is a link in a folder others than root can write: not handing "
			 "what it names to %s",
			 path, r->user);
		return -EPERM;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;
		snprintf(err, errlen, "run_as: %s: %s", path, strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	int rc = 0;
	bool mine = st.st_uid == r->uid && st.st_gid == r->gid;
	if (S_ISBLK(st.st_mode)) {
		/* a device node: the admin named it (the folder check above covers its link) */
	} else if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "run_as: %s is not a file or block device", path);
		rc = -EINVAL;
	} else if ((!in_folder || link) && !mine) {
		snprintf(err, errlen,
			 "run_as: %s is outside the guest folder: give it to %s yourself "
			 "(chown %u:%u)",
			 path, r->user, (unsigned)r->uid, (unsigned)r->gid);
		rc = -EPERM;
	}
	if (rc == 0 && !mine && fchown(fd, r->uid, r->gid) < 0) {
		rc = -errno;
		snprintf(err, errlen, "run_as: cannot give %s to %s: %s", path, r->user,
			 strerror(errno));
	}
	close(fd);
	return rc;
}

int runas_open_folder(const struct runas *r, const char *dir, char *err, size_t errlen)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;
		snprintf(err, errlen, "run_as: %s: %s", dir, strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	int rc = 0;
	mode_t mode = (st.st_mode & 07707) | 0010;
	if ((st.st_gid != r->gid && fchown(fd, (uid_t)-1, r->gid) < 0) ||
	    ((st.st_mode & 07777) != mode && fchmod(fd, mode) < 0)) {
		rc = -errno;
		snprintf(err, errlen, "run_as: cannot open %s to group %u: %s", dir,
			 (unsigned)r->gid, strerror(errno));
	}
	close(fd);
	return rc;
}

int runas_become(const struct runas *r)
{
	if (!r->set)
		return 0;
	if (r->groups ? initgroups(r->user, r->gid) < 0 : setgroups(0, NULL) < 0)
		return -errno;
	if (setresgid(r->gid, r->gid, r->gid) < 0 || setresuid(r->uid, r->uid, r->uid) < 0)
		return -errno;
	/* no way back: a failed drop must not go on as root */
	if (setuid(0) == 0 || getuid() != r->uid || geteuid() != r->uid)
		return -EPERM;
	return 0;
}
