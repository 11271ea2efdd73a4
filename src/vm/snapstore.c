/* SPDX-License-Identifier: BSD-2-Clause */
/* Guest snapshots as btrfs subvolume snapshots or folders of reflink copies (see snapstore.h).
 * Everything is done with the kernel's own calls (btrfs ioctls, FICLONE, renameat2): no tools. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/btrfs.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "vm/lvm.h"
#include "vm/snapstore.h"

#define BTRFS_SUPER_MAGIC_ 0x9123683eL
#define BTRFS_SUBVOL_ROOT_INO 256 /* every btrfs subvolume's top folder has this inode */

bool snap_name_valid(const char *name)
{
	size_t l = strlen(name);
	return l > 0 && l <= SNAP_NAME_MAX && name[0] != '.' && name[0] != '-' &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-") == l;
}

bool snap_entry_parse(const char *entry, uint64_t *ns, char *name, size_t namelen)
{
	size_t digits = strspn(entry, "0123456789");
	if (digits == 0 || digits > 20 || entry[digits] != '-' || !snap_name_valid(entry + digits + 1))
		return false;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(entry, &end, 10);
	if (errno || end != entry + digits)
		return false;
	if (strlen(entry + digits + 1) >= namelen)
		return false;
	*ns = v;
	snprintf(name, namelen, "%s", entry + digits + 1);
	return true;
}

static const char *fs_name(long magic)
{
	switch ((unsigned long)magic) {
	case 0xEF53: return "ext2/3/4";
	case 0x01021994: return "tmpfs";
	case 0x58465342: return "XFS";
	case 0x794c7630: return "overlayfs";
	case 0x6969: return "NFS";
	case 0x2fc12fc1: return "ZFS";
	case 0xF2F52010: return "F2FS";
	case 0x9123683eUL: return "btrfs";
	default: return "a file system";
	}
}

static bool is_subvolume(int fd)
{
	struct statfs sf;
	struct stat st;
	return fstatfs(fd, &sf) == 0 && (long)sf.f_type == BTRFS_SUPER_MAGIC_ && fstat(fd, &st) == 0 &&
	       st.st_ino == BTRFS_SUBVOL_ROOT_INO;
}

/* Whether files clone in folder fd: two unnamed files (O_TMPFILE), one byte, FICLONE. */
static bool clones_files(int dirfd)
{
	int a = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (a < 0)
		return false;
	int b = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	bool ok = b >= 0 && write(a, "k", 1) == 1 && ioctl(b, FICLONE, a) == 0;
	close(a);
	if (b >= 0)
		close(b);
	return ok;
}

/* Whether folder fd holds a link to one of our LVM thin volumes (an LVM datastore's guest). */
static bool has_volume_links(int fd)
{
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* its own offset, unlike dup */
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return false;
	}
	bool found = false;
	struct dirent *e;
	while (!found && (e = readdir(d))) {
		char t[PATH_MAX], vg[LVM_NAME_MAX + 1], lv[LVM_NAME_MAX + 1];
		ssize_t l = readlinkat(fd, e->d_name, t, sizeof(t) - 1);
		if (l > 0) {
			t[l] = '\0';
			found = lvm_link_target(t, vg, lv);
		}
	}
	closedir(d);
	return found;
}

enum snap_kind snap_kind_of(const char *dir, char *why, size_t whylen)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, whylen, "%s: %s", dir, strerror(errno));
		return SNAP_NONE;
	}
	enum snap_kind k = SNAP_NONE;
	struct statfs sf;
	if (has_volume_links(fd))
		k = SNAP_LVM;
	else if (is_subvolume(fd))
		k = SNAP_BTRFS;
	else if (clones_files(fd))
		k = SNAP_REFLINK;
	else
		snprintf(why, whylen,
			 "%s is on %s, which cannot clone files: snapshots and clones need btrfs or XFS "
			 "with reflink",
			 dir, fstatfs(fd, &sf) == 0 ? fs_name((long)sf.f_type) : "a file system");
	close(fd);
	return k;
}

const char *snap_kind_name(enum snap_kind k)
{
	return k == SNAP_BTRFS ? "btrfs subvolume" : k == SNAP_REFLINK ? "reflink copies"
	     : k == SNAP_LVM   ? "lvm thin snapshots"
			       : "none";
}

/* ---- listing ---- */

static int cmp_snap(const void *a, const void *b)
{
	const struct snap *x = a, *y = b;
	return x->created_ns < y->created_ns ? -1 : x->created_ns > y->created_ns ? 1 : strcmp(x->name, y->name);
}

int snap_list(const char *dspath, const char *guest, struct snap **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	char dir[PATH_MAX];
	if (snprintf(dir, sizeof(dir), "%s/" SNAPSTORE_DIR "/%s", dspath, guest) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	struct snap *v = NULL;
	size_t cnt = 0, cap = 0;
	struct dirent *e;
	int r = 0;
	while ((e = readdir(d))) {
		struct snap s;
		memset(&s, 0, sizeof(s));
		if (!snap_entry_parse(e->d_name, &s.created_ns, s.name, sizeof(s.name)))
			continue;
		if (snprintf(s.path, sizeof(s.path), "%s/%s", dir, e->d_name) >= (int)sizeof(s.path))
			continue;
		int fd = open(s.path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		s.subvolume = is_subvolume(fd);
		close(fd);
		if (cnt == cap) {
			cap = cap ? cap * 2 : 8;
			struct snap *nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				r = -ENOMEM;
				break;
			}
			v = nv;
		}
		v[cnt++] = s;
	}
	closedir(d);
	if (r < 0) {
		free(v);
		return r;
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_snap);
	*out = v;
	*n = cnt;
	return 0;
}

int snap_find(const char *dspath, const char *guest, const char *name, struct snap *out)
{
	struct snap *v;
	size_t n;
	int r = snap_list(dspath, guest, &v, &n);
	if (r < 0)
		return r;
	r = -ENOENT;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(v[i].name, name)) {
			*out = v[i];
			r = 0;
		}
	}
	free(v);
	return r;
}

/* ---- removing ---- */

static int remove_at(int parent, const char *name, bool volumes);

/* Empty folder fd (not closed here) of everything, subvolumes included (and the thin volumes
 * its links name, with volumes). */
static int empty_dir(int fd, bool volumes)
{
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* its own offset, unlike dup */
	if (dfd < 0)
		return -errno;
	DIR *d = fdopendir(dfd);
	if (!d) {
		int e = errno;
		close(dfd);
		return -e;
	}
	int r = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		int rr = remove_at(fd, e->d_name, volumes);
		if (rr < 0 && r == 0)
			r = rr;
	}
	closedir(d);
	return r;
}

/* Remove parent/name, whatever it is, never following a symlink; a link to one of vm's thin
 * volumes takes the volume along when volumes. */
static int remove_at(int parent, const char *name, bool volumes)
{
	struct stat st;
	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISLNK(st.st_mode) && volumes) {
		/* a link to one of our thin volumes: the volume goes first, then the link */
		char t[PATH_MAX], vg[LVM_NAME_MAX + 1], lv[LVM_NAME_MAX + 1], err[512];
		ssize_t l = readlinkat(parent, name, t, sizeof(t) - 1);
		if (l > 0) {
			t[l] = '\0';
			if (lvm_link_target(t, vg, lv) && lvm_volume_remove(vg, lv, err, sizeof(err)) < 0)
				return -EBUSY;
		}
	}
	if (!S_ISDIR(st.st_mode))
		return unlinkat(parent, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (is_subvolume(fd)) {
		/* a subvolume goes at once, read-only snapshots included (root may) */
		close(fd);
		struct btrfs_ioctl_vol_args a;
		memset(&a, 0, sizeof(a));
		snprintf(a.name, sizeof(a.name), "%s", name);
		if (ioctl(parent, BTRFS_IOC_SNAP_DESTROY, &a) == 0)
			return 0;
		int e = errno;
		/* one that holds another subvolume: empty it first, then again */
		fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || e != ENOTEMPTY)
			return fd >= 0 ? (close(fd), -e) : -e;
		int r = empty_dir(fd, volumes);
		close(fd);
		if (r < 0)
			return r;
		return ioctl(parent, BTRFS_IOC_SNAP_DESTROY, &a) < 0 ? -errno : 0;
	}
	int r = empty_dir(fd, volumes);
	close(fd);
	if (r < 0)
		return r;
	return unlinkat(parent, name, AT_REMOVEDIR) < 0 ? -errno : 0;
}

/* The parent folder of path opened, and path's last component. */
static int open_parent(const char *path, char *leaf, size_t leaflen)
{
	char p[PATH_MAX];
	if (snprintf(p, sizeof(p), "%s", path) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	size_t l = strlen(p);
	while (l > 1 && p[l - 1] == '/')
		p[--l] = '\0';
	char *slash = strrchr(p, '/');
	if (!slash || !slash[1] || strlen(slash + 1) >= leaflen)
		return -EINVAL;
	snprintf(leaf, leaflen, "%s", slash + 1);
	if (slash == p)
		slash[1] = '\0';
	else
		*slash = '\0';
	int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int remove_path(const char *path, bool volumes)
{
	char leaf[NAME_MAX + 1];
	int parent = open_parent(path, leaf, sizeof(leaf));
	if (parent < 0)
		return parent == -ENOENT ? 0 : parent; /* nothing there, nothing to remove */
	int r = remove_at(parent, leaf, volumes);
	close(parent);
	return r;
}

int snap_remove_tree(const char *path)
{
	return remove_path(path, true);
}

int snap_remove_foreign_tree(const char *path)
{
	return remove_path(path, false);
}

int snap_destroy(const struct snap *sn, char *err, size_t errlen)
{
	int r = snap_remove_tree(sn->path);
	if (r < 0)
		snprintf(err, errlen, "cannot remove snapshot %s (%s): %s", sn->name, sn->path, strerror(-r));
	return r;
}

int snap_destroy_all(const char *dspath, const char *guest, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	if (snprintf(dir, sizeof(dir), "%s/" SNAPSTORE_DIR "/%s", dspath, guest) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	int r = snap_remove_tree(dir);
	if (r < 0)
		snprintf(err, errlen, "cannot remove the snapshots in %s: %s", dir, strerror(-r));
	return r;
}

int snap_rename_guest(const char *dspath, const char *oldname, const char *newname, char *err,
		      size_t errlen)
{
	char a[PATH_MAX], b[PATH_MAX];
	if (snprintf(a, sizeof(a), "%s/" SNAPSTORE_DIR "/%s", dspath, oldname) >= (int)sizeof(a) ||
	    snprintf(b, sizeof(b), "%s/" SNAPSTORE_DIR "/%s", dspath, newname) >= (int)sizeof(b))
		return -ENAMETOOLONG;
	if (renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_NOREPLACE) == 0 || errno == ENOENT)
		return 0;
	int e = errno;
	snprintf(err, errlen, "cannot move the snapshots %s to %s: %s", a, b, strerror(e));
	return -e;
}

/* ---- copying ---- */

/* The files of a guest folder that belong to a run of it, not to the guest: the supervisor's
 * lock and console file, its restart flag, bhyve's console sockets. */
static bool runtime_file(const char *name, const struct stat *st)
{
	return S_ISSOCK(st->st_mode) || S_ISFIFO(st->st_mode) || !strcmp(name, "run.lock") ||
	       !strcmp(name, "console") || !strcmp(name, "restart");
}

static void keep_attrs(int fd, const struct stat *st)
{
	/* the owner first: chown clears set-id bits that fchmod then puts back */
	if (fchown(fd, st->st_uid, st->st_gid) < 0) {
		/* not root: the copy stays ours */
	}
	if (fchmod(fd, st->st_mode & 07777) < 0) {
		/* cannot happen on our own new file */
	}
	struct timespec t[2] = { st->st_atim, st->st_mtim };
	futimens(fd, t);
}

/* How a folder is copied: LVM guests' links to thin volumes become links to thin snapshots
 * (active unless the copy is a kept snapshot), and their files, which may sit on a file system
 * that cannot clone, are copied byte for byte (they are small: conf, logs, variables). */
struct copyctx {
	bool readonly; /* a snapshot to keep, not a folder a guest will use */
	bool lvm;
	char *err;
	size_t errlen;
};

static int copy_tree(int src, int dst, bool top, struct copyctx *cx);

/* in's bytes into out, holes kept where the kernel reports them */
static int copy_bytes(int in, int out, off_t size)
{
	off_t off = 0;
	while (off < size) {
		ssize_t n = copy_file_range(in, &off, out, &(off_t){ off }, (size_t)(size - off), 0);
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
	}
	return 0;
}

static int copy_entry(int src, int dst, const char *name, bool top, struct copyctx *cx)
{
	char *err = cx->err;
	size_t errlen = cx->errlen;
	struct stat st;
	if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (top && runtime_file(name, &st))
		return 0;
	if (S_ISREG(st.st_mode)) {
		int in = openat(src, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (in < 0)
			return -errno;
		int out = openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (out < 0) {
			int e = errno;
			close(in);
			return -e;
		}
		int r = 0;
		if (ioctl(out, FICLONE, in) < 0) {
			r = -errno;
			bool cannot = r == -EOPNOTSUPP || r == -EINVAL || r == -ENOTTY || r == -EXDEV;
			if (cannot && cx->lvm)
				r = copy_bytes(in, out, st.st_size);
			if (r < 0)
				snprintf(err, errlen, "cannot %s %s: %s", cx->lvm ? "copy" : "clone", name,
					 cannot && !cx->lvm ? "its file system cannot clone files (btrfs or XFS with reflink can)"
							    : strerror(-r));
		}
		if (r == 0)
			keep_attrs(out, &st);
		close(in);
		close(out);
		return r;
	}
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t l = readlinkat(src, name, target, sizeof(target) - 1);
		if (l < 0)
			return -errno;
		target[l] = '\0';
		char vg[LVM_NAME_MAX + 1], lv[LVM_NAME_MAX + 1], snap[PATH_MAX];
		if (cx->lvm && lvm_link_target(target, vg, lv)) {
			/* the volume's thin snapshot, and the link names it */
			int r = lvm_volume_snapshot(vg, lv, !cx->readonly, snap, sizeof(snap), err, errlen);
			if (r < 0)
				return r;
			if (symlinkat(snap, dst, name) < 0) {
				r = -errno;
				char e2[256], nvg[LVM_NAME_MAX + 1], nlv[LVM_NAME_MAX + 1];
				if (lvm_link_target(snap, nvg, nlv))
					lvm_volume_remove(nvg, nlv, e2, sizeof(e2));
				return r;
			}
		} else if (symlinkat(target, dst, name) < 0) {
			return -errno;
		}
		if (fchownat(dst, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0) {
			/* not root: ours */
		}
		return 0;
	}
	if (S_ISDIR(st.st_mode)) {
		if (mkdirat(dst, name, 0700) < 0)
			return -errno;
		int s = openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int d = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int r = s < 0 || d < 0 ? -errno : copy_tree(s, d, false, cx);
		if (r == 0)
			keep_attrs(d, &st);
		if (s >= 0)
			close(s);
		if (d >= 0)
			close(d);
		return r;
	}
	return 0; /* devices and the like: not a guest's files */
}

static int copy_tree(int src, int dst, bool top, struct copyctx *cx)
{
	char *err = cx->err;
	size_t errlen = cx->errlen;
	int sfd = openat(src, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* its own offset, unlike dup */
	if (sfd < 0)
		return -errno;
	DIR *d = fdopendir(sfd);
	if (!d) {
		int e = errno;
		close(sfd);
		return -e;
	}
	int r = 0;
	struct dirent *e;
	while (r == 0 && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		r = copy_entry(src, dst, e->d_name, top, cx);
		if (r < 0 && !*err)
			snprintf(err, errlen, "cannot copy %s: %s", e->d_name, strerror(-r));
	}
	closedir(d);
	return r;
}

/* A btrfs snapshot of subvolume src at dst (read-only or not). */
static int btrfs_snapshot(int srcfd, const char *dst, bool readonly)
{
	char leaf[NAME_MAX + 1];
	int parent = open_parent(dst, leaf, sizeof(leaf));
	if (parent < 0)
		return parent;
	struct btrfs_ioctl_vol_args_v2 a;
	memset(&a, 0, sizeof(a));
	a.fd = srcfd;
	a.flags = readonly ? BTRFS_SUBVOL_RDONLY : 0;
	snprintf(a.name, sizeof(a.name), "%s", leaf);
	int r = ioctl(parent, BTRFS_IOC_SNAP_CREATE_V2, &a) < 0 ? -errno : 0;
	close(parent);
	return r;
}

/* Remove the run-time files a btrfs snapshot took along from folder dst. */
static void drop_runtime_files(const char *dst)
{
	int fd = open(dst, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* its own offset, unlike dup */
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		struct stat st;
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode) &&
		    runtime_file(e->d_name, &st))
			unlinkat(fd, e->d_name, 0);
	}
	if (d)
		closedir(d);
	else if (dfd >= 0)
		close(dfd);
	close(fd);
}

/* dst as a copy of src: a btrfs snapshot (read-only or not) when src is a subvolume, else a
 * folder of reflink copies with src's owner and mode. */
static int copy_folder(const char *src, const char *dst, bool readonly, char *err, size_t errlen)
{
	*err = '\0';
	int s = open(src, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", src, strerror(e));
		return -e;
	}
	struct copyctx cx = { .readonly = readonly, .lvm = has_volume_links(s), .err = err, .errlen = errlen };
	if (!cx.lvm && is_subvolume(s)) {
		int r = btrfs_snapshot(s, dst, readonly);
		close(s);
		if (r < 0)
			snprintf(err, errlen, "cannot snapshot %s as %s: %s", src, dst, strerror(-r));
		else if (!readonly)
			drop_runtime_files(dst);
		return r;
	}
	struct stat st;
	if (fstat(s, &st) < 0 || mkdir(dst, 0700) < 0) {
		int e = errno;
		close(s);
		snprintf(err, errlen, "cannot create %s: %s", dst, strerror(e));
		return -e;
	}
	int d = open(dst, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int r = d < 0 ? -errno : copy_tree(s, d, true, &cx);
	if (r == 0)
		keep_attrs(d, &st);
	if (d >= 0)
		close(d);
	close(s);
	if (r < 0) {
		if (!*err)
			snprintf(err, errlen, "cannot copy %s to %s: %s", src, dst, strerror(-r));
		snap_remove_tree(dst);
	}
	return r;
}

int snap_materialize(const char *src, const char *dst, char *err, size_t errlen)
{
	return copy_folder(src, dst, false, err, errlen);
}

/* Clear what an interrupted snap_create left in the guest's snapshot folder (the caller holds
 * the guest's config lock, so no other create runs). */
static void clear_staging(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (!strncmp(e->d_name, ".making-", 8)) {
			char p[PATH_MAX + 300];
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			snap_remove_tree(p);
		}
	}
	if (d)
		closedir(d);
}

int snap_create(const char *dspath, const char *guest, const char *guest_dir, const char *name,
		char *err, size_t errlen)
{
	if (!snap_name_valid(name)) {
		snprintf(err, errlen, "'%s' is not a valid snapshot name (letters, digits, '_', '.', ':', '-')",
			 name);
		return -EINVAL;
	}
	struct snap old;
	int r = snap_find(dspath, guest, name, &old);
	if (r == 0) {
		snprintf(err, errlen, "%s@%s already exists", guest, name);
		return -EEXIST;
	}
	char why[512];
	if (snap_kind_of(guest_dir, why, sizeof(why)) == SNAP_NONE) {
		snprintf(err, errlen, "%s", why);
		return -EOPNOTSUPP;
	}
	char top[PATH_MAX], dir[PATH_MAX], stage[PATH_MAX + 64], final[PATH_MAX + 64];
	if (snprintf(top, sizeof(top), "%s/" SNAPSTORE_DIR, dspath) >= (int)sizeof(top) ||
	    snprintf(dir, sizeof(dir), "%s/%s", top, guest) >= (int)sizeof(dir)) {
		snprintf(err, errlen, "%s: path too long", dspath);
		return -ENAMETOOLONG;
	}
	if ((mkdir(top, 0700) < 0 && errno != EEXIST) || (mkdir(dir, 0700) < 0 && errno != EEXIST)) {
		int e = errno;
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(e));
		return -e;
	}
	clear_staging(dir);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	snprintf(stage, sizeof(stage), "%s/.making-%" PRIu64 "-%s", dir, ns, name);
	snprintf(final, sizeof(final), "%s/%" PRIu64 "-%s", dir, ns, name);
	r = copy_folder(guest_dir, stage, true, err, errlen);
	if (r < 0)
		return r;
	if (renameat2(AT_FDCWD, stage, AT_FDCWD, final, RENAME_NOREPLACE) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot rename %s to %s: %s", stage, final, strerror(-r));
		snap_remove_tree(stage);
		return r;
	}
	return 0;
}

int snap_make_guest_dir(const char *path, unsigned mode)
{
	char leaf[NAME_MAX + 1];
	int parent = open_parent(path, leaf, sizeof(leaf));
	if (parent < 0)
		return parent;
	struct statfs sf;
	int r;
	if (fstatfs(parent, &sf) == 0 && (long)sf.f_type == BTRFS_SUPER_MAGIC_) {
		struct btrfs_ioctl_vol_args a;
		memset(&a, 0, sizeof(a));
		snprintf(a.name, sizeof(a.name), "%s", leaf);
		r = ioctl(parent, BTRFS_IOC_SUBVOL_CREATE, &a) < 0 ? -errno : 0;
		if (r == 0 && fchmodat(parent, leaf, mode, 0) < 0)
			r = -errno;
		if (r == -ENOTTY || r == -EPERM || r == -EOPNOTSUPP) /* not allowed here: a folder */
			r = mkdirat(parent, leaf, mode) < 0 ? -errno : 0;
	} else {
		r = mkdirat(parent, leaf, mode) < 0 ? -errno : 0;
	}
	close(parent);
	return r;
}
