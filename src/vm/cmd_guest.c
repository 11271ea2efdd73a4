/* SPDX-License-Identifier: BSD-2-Clause */
/* Guests on disk: vm create, list, info, destroy, rename, configure, add. Every command checks all
 * of its input before it touches anything, and a command that fails part way removes what it
 * made. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctlproto.h"
#include "vm/bhyvecmd.h"
#include "vm/cgroup.h"
#include "vm/cmds.h"
#include "vm/runas.h"
#include "vm/conflock.h"
#include "vm/provision.h"
#include "vm/guest.h"
#include "vm/lvm.h"
#include "vm/names.h"
#include "vm/opts.h"
#include "vm/runlock.h"
#include "vm/runstate.h"
#include "vm/snapstore.h"
#include "vm/supervisor.h"
#include "vm/termsafe.h"

#define DEFAULT_DISK_SIZE "20G"
#define MAX_DEVS 64

/* ---- small helpers ---- */

/* Copy with truncation (paths here are checked against PATH_MAX before they get this far). */
static void copy_str(char *dst, size_t n, const char *src)
{
	size_t l = strnlen(src, n - 1);
	memcpy(dst, src, l);
	dst[l] = '\0';
}

static int setn(struct vmconf *c, const char *prefix, int n, const char *suffix, const char *v)
{
	char key[96];
	snprintf(key, sizeof(key), "%s%d%s", prefix, n, suffix);
	return vmconf_set(c, key, v);
}

static bool is_zvol_dev(const char *dev)
{
	return dev && (!strcmp(dev, "zvol") || !strcmp(dev, "sparse-zvol"));
}

/* Disks that are files in the guest folder: "file", and vm-bhyve's ZFS volumes, which on a
 * folder datastore (no ZFS on this host) become files of the same name. */
static bool is_file_dev(const char *dev)
{
	return !dev || !*dev || !strcmp(dev, "file") || is_zvol_dev(dev);
}

/* The one line that says a ZFS volume became a file (vm create, vm add). */
static void zvol_note(const char *cmd, int n, const char *dev, const char *ds, const char *path)
{
	fprintf(stderr, "vm %s: note: disk%d_dev=\"%s\": datastore '%s' is a folder, not ZFS: disk%d is the %sfile %s\n",
		cmd, n, dev, ds, n, strcmp(dev, "zvol") ? "sparse " : "", path);
}

/* A disk file name `vm` creates: a plain name in the guest folder. */
static bool disk_file_name_ok(const char *n)
{
	return n && *n && !strchr(n, '/') && strcmp(n, ".") && strcmp(n, "..") && !strchr(n, ',') &&
	       strlen(n) < 200;
}

/* cpu: 1..65535; memory: digits with an optional K/M/G/T suffix, as bhyve -m takes it. */
static bool cpu_ok(const char *v)
{
	char *end;
	if (!v || !isdigit((unsigned char)*v))
		return false;
	long n = strtol(v, &end, 10);
	return !*end && n >= 1 && n <= 65535;
}

static bool memory_ok(const char *v)
{
	/* as bhyvecmd takes memory=: 512M, 2G, 512MB, 2GiB, or a bare number */
	uint64_t bytes;
	size_t d = strspn(v, "0123456789");
	return vmconf_parse_size(v, &bytes) == 0 && (!v[d] || strchr("kKmMgGtT", v[d]));
}

/* Where guest `name` would live in each datastore: set *where when something is already there. */
bool guest_exists_anywhere(const struct vm_settings *s, const char *name, char *where, size_t wlen)
{
	char **ds = datastore_names(s);
	bool found = false;
	for (size_t i = 0; ds && ds[i] && !found; i++) {
		char path[PATH_MAX], e[256], p[PATH_MAX + 256];
		struct stat st;
		if (datastore_path(s, ds[i], path, sizeof(path), e, sizeof(e)) < 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, name);
		if (lstat(p, &st) == 0) {
			copy_str(where, wlen, p);
			found = true;
		}
	}
	free_strv(ds);
	/* Win10 and win10 would make `vm info win10` ambiguous */
	if (!found && guest_casefold_matches(s, name, where, wlen) > 0)
		found = true;
	return found;
}

/* The tap a NIC uses, as bhyvecmd_build names it. */
static void nic_tap(const struct vmconf *c, const char *guest, int n, char out[16])
{
	const char *dev = vmconf_getn(c, "network", n, "_device"), *nm = vmconf_getn(c, "network", n, "_name");
	if (dev && *dev)
		snprintf(out, 16, "%s", dev);
	else if (nm && *nm)
		snprintf(out, 16, "%s", nm);
	else
		tap_name(guest, n, out);
}

/* Path of diskN: file disks in the guest folder, custom ones as written. NULL when unset. */
static char *disk_path(const struct guest *g, int n)
{
	const char *name = vmconf_getn(g->conf, "disk", n, "_name");
	char *p = NULL;
	if (!name || !*name)
		return NULL;
	if (name[0] == '/')
		return strdup(name);
	if (asprintf(&p, "%s/%s", g->dir, name) < 0)
		return NULL;
	return p;
}

/* Create a sparse file of size bytes; never replaces an existing file. */
static int make_sparse(const char *path, uint64_t size, bool reserve, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, e == EEXIST ? "already exists (not overwritten)" : strerror(e));
		return -e;
	}
	if (ftruncate(fd, (off_t)size) < 0) {
		int e = errno;
		close(fd);
		unlink(path);
		snprintf(err, errlen, "%s: cannot make it %llu bytes: %s", path, (unsigned long long)size,
			 strerror(e));
		return -e;
	}
	/* a (non-sparse) zvol has its space set aside: the file's blocks, allocated now */
	int e = reserve && size ? posix_fallocate(fd, 0, (off_t)size) : 0;
	if (e) {
		close(fd);
		unlink(path);
		snprintf(err, errlen, "%s: cannot set aside %llu bytes: %s", path, (unsigned long long)size,
			 strerror(e));
		return -e;
	}
	close(fd);
	return 0;
}

/* A thin volume of size bytes in VG/POOL for disk `disk`, and the link to it at path. */
static int make_volume(const char *vg, const char *pool, const char *path, uint64_t size, const char *disk,
		       char *err, size_t errlen)
{
	char dev[PATH_MAX];
	int r = lvm_volume_create(vg, pool, size, disk, dev, sizeof(dev), err, errlen);
	if (r < 0)
		return r;
	if (symlink(dev, path) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
		char e2[256], lvg[LVM_NAME_MAX + 1], lv[LVM_NAME_MAX + 1];
		if (lvm_link_target(dev, lvg, lv))
			lvm_volume_remove(lvg, lv, e2, sizeof(e2));
	}
	return r;
}

/* STATE as vm-bhyve shows it: "Running (<bhyve's pid>)" (a bhyve whose supervisor has gone, too;
 * no pid while a supervisor is between two runs), "Locked (<host>)" or "Stopped". */
static const char *state_text(const struct guest_state *st, char *buf, size_t len)
{
	switch (st->run) {
	case GUEST_RUNNING:
	case GUEST_ORPHAN:
		if (st->bhyve > 0)
			snprintf(buf, len, "Running (%d)", (int)st->bhyve);
		else
			snprintf(buf, len, "Running");
		break;
	case GUEST_OTHER_HOST:
		snprintf(buf, len, "Locked (%s)", st->host);
		break;
	case GUEST_BUSY: /* a destroy or rename at work (host says which), or a foreign holder */
		snprintf(buf, len, "Busy (%s)", st->host);
		break;
	default:
		snprintf(buf, len, "Stopped");
	}
	return buf;
}

/* The control socket $KBHYVE_RUNDIR/vmm/NAME must fit in sun_path, or bhyve cannot run it. */
bool socket_path_fits(const char *cmd, const char *name)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)], err[512];
	if (ctl_socket_path(name, path, sizeof(path), err, sizeof(err)) < 0) {
		fprintf(stderr, "vm %s: '%s' cannot be a guest name here: %s\n", cmd, name, err);
		return false;
	}
	return true;
}

bool new_guest_name_ok(const struct vm_settings *s, const char *cmd, const char *name)
{
	char where[PATH_MAX];
	if (!guest_name_valid(name)) {
		fprintf(stderr, "vm %s: '%s' is not a valid guest name\n", cmd, name);
		return false;
	}
	if (!socket_path_fits(cmd, name))
		return false;
	if (guest_exists_anywhere(s, name, where, sizeof(where))) {
		fprintf(stderr, "vm %s: %s already exists (%s)\n", cmd, name, where);
		return false;
	}
	return true;
}

/* A folder <ds>/<name> without <name>.conf: its path in out. */
bool confless_folder(const struct vm_settings *s, const char *name, char *out, size_t outlen)
{
	char **ds = datastore_names(s);
	bool found = false;
	for (size_t i = 0; ds && ds[i] && !found; i++) {
		char path[PATH_MAX], e[256], d[PATH_MAX + 256], c[PATH_MAX + 512];
		struct stat st;
		if (datastore_path(s, ds[i], path, sizeof(path), e, sizeof(e)) < 0)
			continue;
		snprintf(d, sizeof(d), "%s/%s", path, name);
		snprintf(c, sizeof(c), "%s/%s.conf", d, name);
		if (lstat(d, &st) == 0 && S_ISDIR(st.st_mode) && lstat(c, &st) < 0) {
			copy_str(out, outlen, d);
			found = true;
		}
	}
	free_strv(ds);
	return found;
}

/* ---- create ---- */

struct made {
	char *paths[MAX_DEVS + 2];
	int n;
};

static void undo(struct made *m, const char *dir)
{
	while (m->n > 0) {
		m->n--;
		snap_remove_tree(m->paths[m->n]); /* a link to a thin volume takes the volume along */
		free(m->paths[m->n]);
	}
	if (dir)
		rmdir(dir);
}

static void made_free(struct made *m)
{
	for (int i = 0; i < m->n; i++)
		free(m->paths[i]);
	m->n = 0;
}

static bool template_name_ok(const char *t)
{
	return *t && *t != '.' && strlen(t) < 100 &&
	       strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == strlen(t);
}

/* Make create's staging folder (0700: confs can hold passwords) and hold its flock: 0 or an fd,
 * -errno with a message. One left by a killed create (nobody holds it) is cleared first. */
static int staging_make(const char *dir, const char *name, char *err, size_t errlen)
{
	for (int tries = 0; tries < 3; tries++) {
		/* a btrfs subvolume on btrfs: its snapshots are then atomic */
		int made = snap_make_guest_dir(dir, 0700);
		if (made < 0 && made != -EEXIST) {
			int e = -made;
			snprintf(err, errlen, "cannot create %.900s: %s", dir, strerror(e));
			return -e;
		}
		int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			close(fd);
			snprintf(err, errlen, "another vm create %s is in progress", name);
			return -EBUSY;
		}
		struct stat a, b;
		if (fstat(fd, &a) < 0 || lstat(dir, &b) < 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
			close(fd);
			continue;
		}
		DIR *d = opendir(dir);
		struct dirent *e;
		bool empty = true;
		while (d && (e = readdir(d))) {
			char p[2 * PATH_MAX];
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			empty = false;
			unlink(p); /* a killed create's disks and conf */
		}
		if (d)
			closedir(d);
		if (empty)
			return fd;
		/* cleared: start again from a fresh folder */
		rmdir(dir);
		close(fd);
	}
	snprintf(err, errlen, "%.900s keeps changing, giving up", dir);
	return -EAGAIN;
}

int cmd_create(struct vm_settings *s, int argc, char **argv)
{
	const char *usage = "usage: vm create [-d datastore] [-t template] [-s size] [-c vcpus] [-m memory] [-i image] [-C [-k keyfile] [-n netconfig] [-u user]] <name>";
	const char *o[128];
	int i = vm_opts_parse("create", argc, argv, "d:t:s:c:m:i:Ck:n:u:", usage, o);
	if (i < 0)
		return 1;
	if (argc - i != 1) {
		fprintf(stderr, "vm create: %s (%s)\n", argc - i ? "one guest name, please" : "no guest name",
			usage);
		return 1;
	}
	const char *name = argv[i], *ds = o['d'] ? o['d'] : "default", *tmpl = o['t'] ? o['t'] : "default";
	char err[1024], dspath[PATH_MAX], where[PATH_MAX];
	if (!guest_name_valid(name)) {
		fprintf(stderr, "vm create: '%s' is not a valid guest name (letters, digits, '.', '_', '-'; 2 to 231 characters, starting and ending with a letter or digit)\n",
			name);
		return 1;
	}
	uint64_t size0 = 0;
	if (o['s'] && vmconf_parse_size(o['s'], &size0) < 0) {
		fprintf(stderr, "vm create: -s %s: not a size (e.g. 20G, 512M)\n", o['s']);
		return 1;
	}
	if (o['c'] && !cpu_ok(o['c'])) {
		fprintf(stderr, "vm create: -c %s: not a number of vCPUs (1-65535)\n", o['c']);
		return 1;
	}
	if (o['m'] && !memory_ok(o['m'])) {
		fprintf(stderr, "vm create: -m %s: not a memory size (e.g. 512M, 2G)\n", o['m']);
		return 1;
	}
	if (!template_name_ok(tmpl)) {
		fprintf(stderr, "vm create: '%s' is not a valid template name\n", tmpl);
		return 1;
	}
	if (datastore_path(s, ds, dspath, sizeof(dspath), err, sizeof(err)) < 0) {
		fprintf(stderr, "vm create: %s\n", err);
		return 1;
	}
	struct stat st;
	if (stat(dspath, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "vm create: datastore '%s' (%s) is not a directory\n", ds, dspath);
		return 1;
	}
	/* an LVM thin pool: the disks are thin volumes, linked from the guest folder */
	char vg[LVM_NAME_MAX + 1], pool[LVM_NAME_MAX + 1];
	int lvm = datastore_lvm(s, ds, vg, pool);
	if (lvm < 0) {
		fprintf(stderr, "vm create: datastore '%s': its lvm:VG/POOL is not valid\n", ds);
		return 1;
	}
	if (!socket_path_fits("create", name))
		return 1;
	if (confless_folder(s, name, where, sizeof(where))) {
		fprintf(stderr, "vm create: %s exists without %s.conf (an interrupted create?): vm destroy %s removes it\n",
			where, name, name);
		return 1;
	}
	if (guest_exists_anywhere(s, name, where, sizeof(where))) {
		fprintf(stderr, "vm create: %s already exists (%s)\n", name, where);
		return 1;
	}
	char tpath[PATH_MAX + 256];
	snprintf(tpath, sizeof(tpath), "%s/.templates/%s.conf", s->vm_dir, tmpl);
	struct vmconf *c;
	int r = vmconf_load(&c, tpath, err, sizeof(err));
	if (r == -ENOENT) {
		fprintf(stderr, "vm create: no template '%s' (%s)\n", tmpl, tpath);
		return 1;
	}
	if (r < 0) {
		fprintf(stderr, "vm create: template %s\n", err);
		return 1;
	}
	vmconf_report(c, "vm create");

	/* Settle the config and the disk list before creating anything. */
	struct {
		int n;
		uint64_t size;
	} disks[MAX_DEVS];
	int ndisks = 0;
	r = 0;
	for (int n = 0; n < MAX_DEVS && vmconf_getn(c, "disk", n, "_type"); n++) {
		const char *dev = vmconf_getn(c, "disk", n, "_dev"), *dn = vmconf_getn(c, "disk", n, "_name");
		const char *sz = vmconf_getn(c, "disk", n, "_size");
		if (!is_file_dev(dev)) {
			if (strcmp(dev, "custom") != 0) {
				fprintf(stderr, "vm create: template %s: disk%d_dev=\"%s\" is not supported (file, zvol, sparse-zvol or custom)\n",
					tmpl, n, dev);
				r = -1;
				break;
			}
			continue; /* a path of the user's: never created */
		}
		if (!disk_file_name_ok(dn)) {
			fprintf(stderr, "vm create: template %s: disk%d_name=\"%s\" must be a file name in the guest folder\n",
				tmpl, n, dn ? dn : "");
			r = -1;
			break;
		}
		if (lvm && !lvm_name_valid(dn)) {
			fprintf(stderr, "vm create: template %s: disk%d_name=\"%s\" cannot name a thin volume (letters, digits, '+', '_', '.', '-')\n",
				tmpl, n, dn);
			r = -1;
			break;
		}
		uint64_t size;
		const char *use = n == 0 && o['s'] ? o['s'] : sz && *sz ? sz : DEFAULT_DISK_SIZE;
		if (vmconf_parse_size(use, &size) < 0) {
			fprintf(stderr, "vm create: template %s: disk%d_size=\"%s\" is not a size\n", tmpl, n, use);
			r = -1;
			break;
		}
		for (int k = 0; k < ndisks; k++) {
			if (!strcmp(vmconf_getn(c, "disk", disks[k].n, "_name"), dn)) {
				fprintf(stderr, "vm create: template %s: disk%d and disk%d are both %s\n", tmpl,
					disks[k].n, n, dn);
				r = -1;
			}
		}
		if (r < 0)
			break;
		disks[ndisks].n = n;
		disks[ndisks++].size = size;
	}
	if (r == 0 && o['s'] && (!ndisks || disks[0].n != 0)) {
		fprintf(stderr, "vm create: -s: template %s has no disk0 file to size\n", tmpl);
		r = -1;
	}
	char uuid[37];
	if (r == 0 && uuid_generate(uuid) < 0) {
		fprintf(stderr, "vm create: cannot generate a UUID\n");
		r = -1;
	}
	/* -i and -C: everything they need checked now, before anything is made */
	struct provision pv;
	if (r == 0 && provision_check(s, o, c, name, ndisks ? disks[0].n : -1, &pv) < 0)
		r = -1;
	if (r < 0) {
		vmconf_free(c);
		return 1;
	}
	for (int n = 0; n < MAX_DEVS; n++) {
		char key[32];
		snprintf(key, sizeof(key), "disk%d_size", n);
		vmconf_unset(c, key);
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t seed = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	r = 0;
	if (o['c'])
		r |= vmconf_set(c, "cpu", o['c']);
	if (o['m'])
		r |= vmconf_set(c, "memory", o['m']);
	r |= vmconf_set(c, "uuid", uuid);
	for (int n = 0; n < MAX_DEVS && vmconf_getn(c, "network", n, "_type"); n++) {
		const char *mac = vmconf_getn(c, "network", n, "_mac");
		if (mac && *mac)
			continue;
		char m[18];
		mac_generate(name, n, seed, m);
		r |= setn(c, "network", n, "_mac", m);
	}
	if (r) {
		fprintf(stderr, "vm create: cannot fill in the configuration\n");
		vmconf_free(c);
		return 1;
	}

	/* Now make the folder, the disks and the conf, in a staging folder that is renamed into
	 * place at the end: the guest appears whole or not at all. Undo everything on failure. */
	char dir[PATH_MAX + 256], conf[PATH_MAX + 512], final[PATH_MAX + 256];
	snprintf(final, sizeof(final), "%s/%s", dspath, name);
	snprintf(dir, sizeof(dir), "%s/.%s.creating", dspath, name);
	snprintf(conf, sizeof(conf), "%s/%s.conf", dir, name);
	int stagefd = staging_make(dir, name, err, sizeof(err));
	if (stagefd < 0) {
		fprintf(stderr, "vm create: %s\n", err);
		vmconf_free(c);
		return 1;
	}
	struct made m = { .n = 0 };
	for (int k = 0; k < ndisks && r == 0; k++) {
		char *p = NULL;
		if (asprintf(&p, "%s/%s", dir, vmconf_getn(c, "disk", disks[k].n, "_name")) < 0) {
			r = -ENOMEM;
			snprintf(err, sizeof(err), "out of memory");
			break;
		}
		const char *dev = vmconf_getn(c, "disk", disks[k].n, "_dev");
		if (lvm) {
			r = make_volume(vg, pool, p, disks[k].size, vmconf_getn(c, "disk", disks[k].n, "_name"), err,
					sizeof(err));
			if (r == 0)
				m.paths[m.n++] = p;
			else
				free(p);
			continue;
		}
		r = make_sparse(p, disks[k].size, dev && !strcmp(dev, "zvol"), err, sizeof(err));
		if (r == 0 && is_zvol_dev(dev)) {
			/* named where it will be once the staging folder is renamed */
			char shown[2 * PATH_MAX];
			snprintf(shown, sizeof(shown), "%s/%s", final, vmconf_getn(c, "disk", disks[k].n, "_name"));
			zvol_note("create", disks[k].n, dev, ds, shown);
		}
		if (r == 0)
			m.paths[m.n++] = p;
		else
			free(p);
	}
	if (r == 0 && pv.image[0]) {
		char *p0 = NULL;
		if (asprintf(&p0, "%s/%s", dir, vmconf_getn(c, "disk", 0, "_name")) < 0)
			p0 = NULL;
		r = p0 ? provision_image(&pv, p0, disks[0].size, err, sizeof(err)) : -ENOMEM;
		free(p0);
	}
	if (r == 0 && pv.cloud_init) {
		char *seedp = NULL;
		if (asprintf(&seedp, "%s/seed.iso", dir) < 0)
			seedp = NULL;
		r = seedp ? provision_seed(&pv, c, name, uuid, seedp, err, sizeof(err)) : -ENOMEM;
		if (r == 0)
			m.paths[m.n++] = seedp;
		else
			free(seedp);
	}
	provision_free(&pv);
	if (r == 0) {
		r = vmconf_save(c, conf, err, sizeof(err));
		if (r == 0)
			m.paths[m.n++] = strdup(conf);
	}
	vmconf_free(c);
	if (r == 0 && renameat2(AT_FDCWD, dir, AT_FDCWD, final, RENAME_NOREPLACE) < 0) {
		r = -errno;
		snprintf(err, sizeof(err), "%.900s: %s", final,
			 r == -EEXIST || r == -ENOTEMPTY ? "already exists" : strerror(-r));
	}
	if (r < 0) {
		fprintf(stderr, "vm create: %s\n", err);
		undo(&m, dir);
		close(stagefd);
		return 1;
	}
	close(stagefd);
	made_free(&m);
	struct guest g;
	memset(&g, 0, sizeof(g));
	copy_str(g.name, sizeof(g.name), name);
	copy_str(g.dir, sizeof(g.dir), final);
	guest_log(&g, "created from template %s", tmpl);
	return 0;
}

/* ---- list ---- */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p == '\t')
			fputs("\\t", f);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void human(uint64_t b, char *out, size_t len);

/* vm list -v: %CPU (CPU time over lifetime, as ps shows it), RSZ and UPTIME of process pid, from
 * /proc; "-" each when it cannot be read. */
static void process_columns(pid_t pid, char *pcpu, char *rsz, char *up, size_t len)
{
	snprintf(pcpu, len, "-");
	snprintf(rsz, len, "-");
	snprintf(up, len, "-");
	char p[64], buf[1024];
	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	FILE *f = pid > 0 ? fopen(p, "re") : NULL;
	if (!f)
		return;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *q = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
	unsigned long long utime, stime, start;
	long rss;
	if (!q || sscanf(q + 2,
			 "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d "
			 "%*d %llu %*u %ld",
			 &utime, &stime, &start, &rss) != 4)
		return;
	double hz = (double)sysconf(_SC_CLK_TCK), uptime = 0;
	f = fopen("/proc/uptime", "re");
	if (!f || fscanf(f, "%lf", &uptime) != 1)
		uptime = 0;
	if (f)
		fclose(f);
	double secs = uptime - (double)start / hz;
	if (secs < 0)
		secs = 0;
	snprintf(pcpu, len, "%.1f", secs > 0 ? 100.0 * (double)(utime + stime) / hz / secs : 0.0);
	human((uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE), rsz, len);
	unsigned long t = (unsigned long)secs;
	if (t >= 86400)
		snprintf(up, len, "%lud %02lu:%02lu:%02lu", t / 86400, t / 3600 % 24, t / 60 % 60, t % 60);
	else if (t >= 3600)
		snprintf(up, len, "%02lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(up, len, "%02lu:%02lu", t / 60, t % 60);
}

#define NCOLS 11 /* the last three only with -v */

/* list [-j] [-r] [-v]: -r running guests only (and those locked by another host, as vm-bhyve
 * shows them), -v with bhyve's %CPU, RSZ and UPTIME. */
int cmd_list(struct vm_settings *s, int argc, char **argv)
{
	const char *usage = "usage: vm list [-jrv]";
	const char *o[128];
	int i = vm_opts_parse("list", argc, argv, "jrv", usage, o);
	if (i < 0)
		return 1;
	if (i < argc) {
		fprintf(stderr, "vm list: unexpected argument '%s' (%s)\n", argv[i], usage);
		return 1;
	}
	struct guest *v;
	size_t n;
	if (guest_list_all(s, &v, &n) < 0) {
		fprintf(stderr, "vm list: out of memory\n");
		return 1;
	}
	char **autolist = strv_split(vmconf_get(s->rc, "vm_list"));
	static const char *const head[NCOLS] = { "NAME", "DATASTORE", "LOADER", "CPU",
						 "MEMORY", "VNC", "AUTO", "%CPU",
						 "RSZ", "UPTIME", "STATE" };
	static const char *const jkeys[NCOLS] = { "name", "datastore", "loader", "cpu",
						  "memory", "vnc", "auto", "pcpu",
						  "rsz", "uptime", "state" };
	/* the columns shown, in order */
	int cols[NCOLS], ncols = 0;
	for (int c = 0; c < NCOLS; c++)
		if (o['v'] || (c < 7 || c == NCOLS - 1))
			cols[ncols++] = c;
	char (*cells)[NCOLS][300] = calloc(n ? n : 1, sizeof(*cells));
	if (!cells || !autolist) {
		fprintf(stderr, "vm list: out of memory\n");
		free(cells);
		free_strv(autolist);
		guest_list_free(v, n);
		return 1;
	}
	size_t w[NCOLS];
	for (int c = 0; c < NCOLS; c++)
		w[c] = strlen(head[c]);
	size_t shown = 0;
	for (size_t k0 = 0; k0 < n; k0++) {
		struct guest_state st;
		guest_state_get(&v[k0], &st);
		if (o['r'] && st.run == GUEST_STOPPED)
			continue;
		size_t k = shown++;
		int pos = strv_index(autolist, v[k0].name);
		snprintf(cells[k][0], 300, "%s", v[k0].name);
		snprintf(cells[k][1], 300, "%s", v[k0].ds);
		snprintf(cells[k][2], 300, "%s", vmconf_get_default(v[k0].conf, "loader", "-"));
		snprintf(cells[k][3], 300, "%s", vmconf_get_default(v[k0].conf, "cpu", "-"));
		snprintf(cells[k][4], 300, "%s", vmconf_get_default(v[k0].conf, "memory", "-"));
		/* VNC: where the running guest's framebuffer listens (its console file) */
		char vnc[128];
		if ((st.run == GUEST_RUNNING || st.run == GUEST_ORPHAN) &&
		    guest_console_entry(&v[k0], "vnc", vnc, sizeof(vnc)) == 0)
			snprintf(cells[k][5], 300, "%s", vnc);
		else
			snprintf(cells[k][5], 300, "-");
		if (pos >= 0)
			snprintf(cells[k][6], 300, "Yes [%d]", pos + 1);
		else
			snprintf(cells[k][6], 300, "No");
		process_columns(st.bhyve, cells[k][7], cells[k][8], cells[k][9], 300);
		state_text(&st, cells[k][NCOLS - 1], 300);
		for (int c = 0; c < NCOLS && !o['j']; c++) { /* JSON escapes on its own */
			char raw[300];
			snprintf(raw, sizeof(raw), "%s", cells[k][c]);
			term_safe(raw, cells[k][c], 300);
		}
		for (int c = 0; c < NCOLS; c++)
			if (strlen(cells[k][c]) > w[c])
				w[c] = strlen(cells[k][c]);
	}
	if (o['j']) {
		fputc('[', stdout);
		for (size_t k = 0; k < shown; k++) {
			fputs(k ? ",\n {" : "\n {", stdout);
			for (int c = 0; c < ncols; c++) {
				printf("%s\"%s\": ", c ? ", " : "", jkeys[cols[c]]);
				json_str(stdout, cells[k][cols[c]]);
			}
			fputc('}', stdout);
		}
		fputs(shown ? "\n]\n" : "]\n", stdout);
	} else {
		for (int c = 0; c < ncols - 1; c++)
			printf("%-*s ", (int)w[cols[c]], head[cols[c]]);
		printf("%s\n", head[NCOLS - 1]);
		for (size_t k = 0; k < shown; k++) {
			for (int c = 0; c < ncols - 1; c++)
				printf("%-*s ", (int)w[cols[c]], cells[k][cols[c]]);
			printf("%s\n", cells[k][NCOLS - 1]);
		}
	}
	free(cells);
	free_strv(autolist);
	guest_list_free(v, n);
	return 0;
}

/* ---- info ---- */

static void human(uint64_t b, char *out, size_t len)
{
	/* (also vm list -v's RSZ) */
	static const char units[] = "BKMGT";
	int u = 0;
	double v = (double)b;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, len, "%lluB", (unsigned long long)b);
	else
		snprintf(out, len, "%.1f%c", v, units[u]);
}

/* The firmware files a start would give bhyve (from the same command line the supervisor
 * builds): the boot ROM, the variable store, and for loader="grub" the GRUB image; or why the
 * guest cannot start. */
static void info_firmware(const struct vm_settings *s, const struct guest *g)
{
	char custom[PATH_MAX + 32], err[512];
	snprintf(custom, sizeof(custom), "%s/.config/BHYVE_UEFI.fd", s->vm_dir);
	struct bhyvecmd_input in = {
	    .name = g->name,
	    .dir = g->dir,
	    .conf = g->conf,
	    .bhyve = s->bhyve,
	    .uefi_code = vmconf_get(s->sys, "uefi_code"),
	    .bios_code = vmconf_get(s->sys, "bios_code"),
	    .uefi_custom = custom,
	    .grub_shim = s->grubshim,
	};
	struct bhyvecmd cmd;
	if (bhyvecmd_build(&in, &cmd, err, sizeof(err)) < 0) {
		printf("  cannot start: %s\n", err);
		return;
	}
	for (int i = 0; i + 1 < cmd.argc; i++) {
		if (strcmp(cmd.argv[i], "-l") || strncmp(cmd.argv[i + 1], "bootrom,", 8))
			continue;
		const char *code = cmd.argv[i + 1] + 8;
		printf("  firmware: %.*s\n", (int)strcspn(code, ","), code);
	}
	if (cmd.uefi_vars)
		printf("  firmware-vars: %s (%s)\n", cmd.uefi_vars,
		       cmd.uefi_vars_keep ? "kept across starts" : "made afresh at each start");
	if (cmd.grub_cfg)
		printf("  grub: %s/" BHYVECMD_GRUB_IMAGE " (built at each start from %s/"
		       BHYVECMD_GRUB_CFG ")\n",
		       g->dir, g->dir);
	bhyvecmd_free(&cmd);
}

/* The limit_* keys and run_as, and while the guest runs what its cgroup (kbhyve.slice/NAME) has used. */
static void info_limits(const struct vm_settings *s, const struct guest *g, bool running)
{
	static const char *const keys[] = {"limit_pcpu", "limit_rbps", "limit_wbps",
					   "limit_riops", "limit_wiops"};
	char lim[256] = "";
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		const char *v = vmconf_get(g->conf, keys[k]);
		size_t l = strlen(lim);
		if (v && *v)
			snprintf(lim + l, sizeof(lim) - l, "%s%s=%s", l ? " " : "", keys[k] + 6, v);
	}
	printf("  limits: %s\n", lim[0] ? lim : "-");
	const char *as = runas_value(g->conf, s->sys);
	printf("  run-as: %s\n", as ? as : "root");
	char root[PATH_MAX], path[PATH_MAX];
	struct cg_usage u;
	if (!running || cg_root(root, sizeof(root)) < 0 ||
	    cg_guest_path(root, g->name, path, sizeof(path)) < 0 || cg_usage_read(path, &u) < 0)
		return;
	printf("  cgroup: %s\n", path);
	if (u.has_cpu)
		printf("  cpu-usage: %.2f s (throttled %.2f s, %llu times)\n", u.cpu_usec / 1e6,
		       u.throttled_usec / 1e6, (unsigned long long)u.nr_throttled);
	char h1[32], h2[32];
	if (u.has_memory) {
		human(u.memory_current, h1, sizeof(h1));
		if (u.memory_max)
			human(u.memory_max, h2, sizeof(h2));
		printf("  memory-usage: %s (max %s)\n", h1, u.memory_max ? h2 : "none");
	}
	if (u.has_io) {
		human(u.rbytes, h1, sizeof(h1));
		human(u.wbytes, h2, sizeof(h2));
		printf("  io-usage: read %s in %llu operations, written %s in %llu\n", h1,
		       (unsigned long long)u.rios, h2, (unsigned long long)u.wios);
	}
}

/* What snapshots of the guest's folder are, and the ones it has, oldest first (zfs list -t
 * snapshot in vm-bhyve). */
static void info_snapshots(const struct vm_settings *s, const struct guest *g)
{
	char why[512], dspath[PATH_MAX], err[256];
	enum snap_kind k = snap_kind_of(g->dir, why, sizeof(why));
	printf("\n  snapshots: %s\n", snap_kind_name(k));
	struct snap *v = NULL;
	size_t n = 0;
	if (datastore_path(s, g->ds, dspath, sizeof(dspath), err, sizeof(err)) < 0 ||
	    snap_list(dspath, g->name, &v, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		time_t t = (time_t)(v[i].created_ns / 1000000000ull);
		struct tm tm;
		char when[64];
		localtime_r(&t, &tm);
		strftime(when, sizeof(when), "%a %b %e %H:%M %Y", &tm);
		printf("    %s@%s  %s\n", g->name, v[i].name, when);
	}
	free(v);
}

static void info_one(const struct vm_settings *s, const struct guest *g)
{
	const struct vmconf *c = g->conf;
	struct guest_state gs;
	guest_state_get(g, &gs);
	bool running = gs.run == GUEST_RUNNING || gs.run == GUEST_ORPHAN;
	printf("------------------------\nVirtual Machine: %s\n------------------------\n", g->name);
	printf("  state: %s\n", gs.run == GUEST_RUNNING	   ? "running"
			       : gs.run == GUEST_ORPHAN	   ? "running (no supervisor)"
			       : gs.run == GUEST_OTHER_HOST ? "locked"
			       : gs.run == GUEST_BUSY	   ? "busy"
							    : "stopped");
	if (gs.run == GUEST_RUNNING)
		printf("  pid: %d\n", (int)gs.supervisor);
	if (running && gs.bhyve > 0)
		printf("  bhyve pid: %d\n", (int)gs.bhyve);
	if (gs.run == GUEST_OTHER_HOST)
		printf("  host: %s\n", gs.host);
	if (gs.run == GUEST_BUSY)
		printf("  busy: %s\n", gs.host);
	printf("  datastore: %s\n  path: %s\n", g->ds, g->dir);
	printf("  loader: %s\n", vmconf_get_default(c, "loader", "-"));
	static const char *const keys[] = { "kernel", "initrd", "cmdline" };
	for (size_t k = 0; k < 3; k++)
		if (vmconf_get(c, keys[k]))
			printf("  %s: %s\n", keys[k], vmconf_get(c, keys[k]));
	info_firmware(s, g);
	printf("  uuid: %s\n", vmconf_get_default(c, "uuid", "-"));
	printf("  cpu: %s\n", vmconf_get_default(c, "cpu", "-"));
	printf("  memory: %s\n", vmconf_get_default(c, "memory", "-"));
	char **autolist = strv_split(vmconf_get(s->rc, "vm_list"));
	int pos = strv_index(autolist, g->name);
	free_strv(autolist);
	if (pos >= 0)
		printf("  autostart: Yes [%d]\n", pos + 1);
	else
		printf("  autostart: No\n");
	info_limits(s, g, running);
	if (gs.run == GUEST_RUNNING) {
		char p[PATH_MAX + 32], line[512];
		snprintf(p, sizeof(p), "%s/%s", g->dir, SUPERVISOR_CONSOLE_FILE);
		FILE *f = fopen(p, "re");
		while (f && fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\n")] = '\0';
			if (*line)
				printf("  console: %s\n", line);
		}
		if (f)
			fclose(f);
	}
	for (int n = 0; n < MAX_DEVS && vmconf_getn(c, "network", n, "_type"); n++) {
		char tap[16];
		nic_tap(c, g->name, n, tap);
		const char *dev = vmconf_getn(c, "network", n, "_device");
		printf("\n  network-interface\n    number: %d\n    emulation: %s\n", n,
		       vmconf_getn(c, "network", n, "_type"));
		printf("    virtual-switch: %s\n", vmconf_getn(c, "network", n, "_switch") ? vmconf_getn(c, "network", n, "_switch") : "-");
		printf("    fixed-mac-address: %s\n", vmconf_getn(c, "network", n, "_mac") ? vmconf_getn(c, "network", n, "_mac") : "-");
		printf("    fixed-device: %s\n", dev && *dev ? dev : "-");
		printf("    %s: %s\n", running ? "active-device" : "device", tap);
	}
	for (int n = 0; n < MAX_DEVS && vmconf_getn(c, "disk", n, "_type"); n++) {
		const char *dev = vmconf_getn(c, "disk", n, "_dev"), *opts = vmconf_getn(c, "disk", n, "_opts");
		char *p = disk_path(g, n);
		printf("\n  virtual-disk\n    number: %d\n    device-type: %s\n    emulation: %s\n", n,
		       is_file_dev(dev) ? "file" : dev, vmconf_getn(c, "disk", n, "_type"));
		printf("    options: %s\n    system-path: %s\n", opts && *opts ? opts : "-", p ? p : "-");
		struct stat st;
		if (p && stat(p, &st) == 0) {
			char h1[32], h2[32];
			uint64_t size = (uint64_t)st.st_size, used = (uint64_t)st.st_blocks * 512;
			if (S_ISBLK(st.st_mode)) {
				int fd = open(p, O_RDONLY | O_CLOEXEC);
				off_t end = fd >= 0 ? lseek(fd, 0, SEEK_END) : -1;
				if (fd >= 0)
					close(fd);
				size = end > 0 ? (uint64_t)end : 0;
				used = size;
			}
			human(size, h1, sizeof(h1));
			human(used, h2, sizeof(h2));
			printf("    bytes-size: %llu (%s)\n    bytes-used: %llu (%s)\n",
			       (unsigned long long)size, h1, (unsigned long long)used, h2);
		} else if (p) {
			printf("    bytes-size: missing (%s)\n", strerror(errno));
		}
		free(p);
	}
	/* virtio-console sockets: in the user's run folder with run_as (bhyvecmd.h console_dir) */
	struct runas ra;
	char err[256], vtcon_dir[PATH_MAX];
	snprintf(vtcon_dir, sizeof(vtcon_dir), "%s", g->dir);
	if (runas_for_guest(c, s->sys, &ra, err, sizeof(err)) == 0 && ra.set)
		runas_run_dir(g->name, vtcon_dir, sizeof(vtcon_dir));
	for (int n = 0; n < 16; n++) {
		const char *v = vmconf_getn(c, "virt_console", n, "");
		if (!v || !*v || !strcasecmp(v, "no") || !strcasecmp(v, "off") || !strcmp(v, "0"))
			continue;
		char pname[64];
		snprintf(pname, sizeof(pname), "%s", vmconf_truthy(v) ? "" : v);
		if (!*pname)
			snprintf(pname, sizeof(pname), "%d", n);
		printf("\n  virtual-console\n    number: %d\n    name: %s\n    socket: %s/vtcon.%s\n", n,
		       pname, vtcon_dir, pname);
	}
	info_snapshots(s, g);
	printf("\n");
}

/* info_one with conf values made safe for the terminal (termsafe.h). */
static void info_shown(const struct vm_settings *s, const struct guest *g)
{
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	if (!m) {
		fprintf(stderr, "vm info: out of memory\n");
		return;
	}
	FILE *out = stdout;
	fflush(out);
	stdout = m; /* glibc: stdout is an ordinary variable; info_one prints to it */
	info_one(s, g);
	stdout = out;
	if (fclose(m) == 0)
		term_safe_fputs(text, true, stdout);
	free(text);
}

int cmd_info(struct vm_settings *s, int argc, char **argv)
{
	const char *usage = "usage: vm info [name ...]";
	const char *o[128];
	int i = vm_opts_parse("info", argc, argv, "", usage, o);
	if (i < 0)
		return 1;
	char err[1024];
	if (i == argc) {
		struct guest *v;
		size_t n;
		if (guest_list_all(s, &v, &n) < 0) {
			fprintf(stderr, "vm info: out of memory\n");
			return 1;
		}
		for (size_t k = 0; k < n; k++)
			info_shown(s, &v[k]);
		guest_list_free(v, n);
		return 0;
	}
	/* every name must be a guest before anything is shown */
	for (int k = i; k < argc; k++) {
		struct guest g;
		if (guest_open(s, argv[k], &g, err, sizeof(err)) < 0) {
			fprintf(stderr, "vm info: %s\n", err);
			return 1;
		}
		guest_close(&g);
	}
	for (int k = i; k < argc; k++) {
		struct guest g;
		if (guest_open(s, argv[k], &g, err, sizeof(err)) < 0) {
			fprintf(stderr, "vm info: %s\n", err);
			return 1;
		}
		info_shown(s, &g);
		guest_close(&g);
	}
	return 0;
}

/* ---- destroy ---- */

/* The guest's run lock for vm command `cmd` (destroy, rename), held for the whole of its work: a
 * start meanwhile fails. Then its config lock, and its conf read again. 0, or a one-line reason
 * on stderr. */
int lock_for(struct guest *g, const char *cmd, int *runfd, int *conffd)
{
	char err[1024];
	int r = runlock_acquire_op(g->dir, cmd, runfd, err, sizeof(err));
	if (r == -EBUSY && strstr(err, "already running")) {
		fprintf(stderr, "vm %s: %s is %s: stop it first\n", cmd, g->name, err);
		return -1;
	}
	if (r < 0) {
		fprintf(stderr, "vm %s: %s: %s\n", cmd, g->name, err);
		return -1;
	}
	/* no supervisor now, but a bhyve whose supervisor was killed may still run the guest */
	pid_t orphan = guest_ctl_pid(g->name);
	if (orphan > 0) {
		fprintf(stderr,
			"vm %s: %s: bhyve (pid %d) is still running without a supervisor: stop it "
			"first (vm stop or vm poweroff)\n",
			cmd, g->name, (int)orphan);
		runlock_release(g->dir, *runfd);
		return -1;
	}
	if (r < 0) {
		fprintf(stderr, "vm %s: %s: %s\n", cmd, g->name, err);
		return -1;
	}
	if (guest_lock(g, true, conffd, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm %s: %s\n", cmd, err);
		runlock_release(g->dir, *runfd);
		return -1;
	}
	return 0;
}

/* p resolved lies directly or deeper inside dir (both resolved). */
static bool inside(const char *dirreal, const char *p)
{
	char real[PATH_MAX];
	if (!realpath(p, real))
		return false;
	size_t l = strlen(dirreal);
	return !strncmp(real, dirreal, l) && real[l] == '/';
}

static void remove_owned(const char *dirreal, const char *p, int *failed)
{
	struct stat st;
	if (lstat(p, &st) < 0)
		return;
	if (!inside(dirreal, p) && !S_ISLNK(st.st_mode))
		return;
	if (S_ISDIR(st.st_mode))
		return;
	if (unlink(p) < 0) {
		fprintf(stderr, "vm destroy: cannot remove %s: %s\n", p, strerror(errno));
		(*failed)++;
	}
}

static int destroy_confless(const char *name, const char *dir, bool force);
static int destroy_locked(const struct vm_settings *s, struct guest *gp, bool force);

int cmd_destroy(struct vm_settings *s, int argc, char **argv)
{
	const char *usage = "usage: vm destroy [-f] <name> | vm destroy <name>@<snapshot>";
	const char *o[128];
	int i = vm_opts_parse("destroy", argc, argv, "f", usage, o);
	if (i < 0)
		return 1;
	if (argc - i != 1) {
		fprintf(stderr, "vm destroy: %s (%s)\n", argc - i ? "one guest name, please" : "no guest name",
			usage);
		return 1;
	}
	if (strchr(argv[i], '@'))
		return snapshot_destroy(s, argv[i]);
	struct guest g;
	char err[1024], confless[PATH_MAX];
	int r = guest_open(s, argv[i], &g, err, sizeof(err));
	if (r == -ENOENT && confless_folder(s, argv[i], confless, sizeof(confless)))
		return destroy_confless(argv[i], confless, o['f'] != NULL);
	if (r < 0) {
		fprintf(stderr, "vm destroy: %s\n", err);
		return 1;
	}
	/* the run lock from the question to the end: a start meanwhile fails ("vm destroy in
	 * progress"), and the config lock: an add meanwhile waits, then finds no guest */
	int runfd, conffd;
	if (lock_for(&g, "destroy", &runfd, &conffd) < 0) {
		guest_close(&g);
		return 1;
	}
	int rc = destroy_locked(s, &g, o['f'] != NULL);
	runlock_release(g.dir, runfd);
	if (rc == 0 && rmdir(g.dir) < 0) {
		if (errno == ENOTEMPTY || errno == EEXIST)
			fprintf(stderr, "vm destroy: %s removed; %s is left in place: it holds files that are not the guest's\n",
				g.name, g.dir);
		else
			fprintf(stderr, "vm destroy: %s removed; cannot remove %s: %s\n", g.name, g.dir,
				strerror(errno));
	}
	guest_unlock(conffd);
	guest_close(&g);
	return rc;
}

static bool confirmed(void)
{
	printf("Are you sure you want to completely remove this virtual machine (y/n)? ");
	fflush(stdout);
	char line[64] = "";
	if (fgets(line, sizeof(line), stdin) && (!strcasecmp(line, "y\n") || !strcasecmp(line, "yes\n") ||
						 !strcasecmp(line, "y") || !strcasecmp(line, "yes")))
		return true;
	printf("\n");
	return false;
}

/* A guest folder without its conf: what an interrupted create of an older vm leaves. Removed when
 * it holds only what vm makes there (disk images, a conf being written, logs, a stale run.lock);
 * anything else is the user's, and the folder is left alone. */
static int destroy_confless(const char *name, const char *dir, bool force)
{
	char err[1024], conftmp[300];
	int runfd, conffd;
	snprintf(conftmp, sizeof(conftmp), "%s.conf.tmp", name);
	if (conflock_take(dir, &conffd, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm destroy: %s\n", err);
		return 1;
	}
	if (runlock_acquire_op(dir, "destroy", &runfd, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm destroy: %s: %s\n", name, err);
		conflock_release(conffd);
		return 1;
	}
	int rc = 0;
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && rc == 0 && (e = readdir(d))) {
		const char *n = e->d_name;
		size_t l = strlen(n);
		struct stat st;
		char p[PATH_MAX + 300];
		snprintf(p, sizeof(p), "%s/%s", dir, n);
		if (!strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, "run.lock"))
			continue;
		bool ours = (l > 4 && !strcmp(n + l - 4, ".img")) || !strncmp(n, conftmp, strlen(conftmp)) ||
			    !strcmp(n, "vm-bhyve.log") || !strcmp(n, "vm-bhyve.log.0");
		if (!ours || lstat(p, &st) < 0 || !S_ISREG(st.st_mode)) {
			fprintf(stderr, "vm destroy: %s has no %s.conf and holds %s, which vm did not make: not removed\n",
				dir, name, n);
			rc = 1;
		}
	}
	if (!d) {
		fprintf(stderr, "vm destroy: %s: %s\n", dir, strerror(errno));
		rc = 1;
	}
	if (rc == 0 && !force && !confirmed()) {
		fprintf(stderr, "vm destroy: %s not removed\n", name);
		rc = 1;
	}
	if (rc == 0) {
		rewinddir(d);
		while ((e = readdir(d))) {
			char p[PATH_MAX + 300];
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "run.lock"))
				unlink(p);
		}
	}
	if (d)
		closedir(d);
	runlock_release(dir, runfd);
	if (rc == 0 && rmdir(dir) < 0) {
		fprintf(stderr, "vm destroy: cannot remove %s: %s\n", dir, strerror(errno));
		rc = 1;
	}
	conflock_release(conffd);
	return rc;
}

/* Everything of g's but its folder (and run.lock, which the caller holds). */
static int destroy_locked(const struct vm_settings *s, struct guest *gp, bool force)
{
	struct guest g = *gp;
	if (!force && !confirmed()) {
		fprintf(stderr, "vm destroy: %s not removed\n", g.name);
		return 1;
	}
	char dirreal[PATH_MAX];
	if (!realpath(g.dir, dirreal)) {
		fprintf(stderr, "vm destroy: %s: %s\n", g.dir, strerror(errno));
		return 1;
	}
	int failed = 0;
	/* disks the guest owns: file disks inside its folder (custom paths are the user's) */
	for (int n = 0; n < MAX_DEVS && vmconf_getn(g.conf, "disk", n, "_type"); n++) {
		if (!is_file_dev(vmconf_getn(g.conf, "disk", n, "_dev")))
			continue;
		char *p = disk_path(&g, n);
		struct stat st;
		char t[PATH_MAX], vg[LVM_NAME_MAX + 1], lv[LVM_NAME_MAX + 1];
		ssize_t tl;
		if (p && lstat(p, &st) == 0 && S_ISREG(st.st_mode)) {
			remove_owned(dirreal, p, &failed);
		} else if (p && lstat(p, &st) == 0 && S_ISLNK(st.st_mode) && strchr(vmconf_getn(g.conf, "disk", n, "_name"), '/') == NULL &&
			   (tl = readlink(p, t, sizeof(t) - 1)) > 0 && (t[tl] = '\0', lvm_link_target(t, vg, lv))) {
			/* an LVM datastore's disk: the thin volume, then its link */
			if (snap_remove_tree(p) < 0) {
				fprintf(stderr, "vm destroy: cannot remove %s's thin volume %s/%s\n", g.name, vg, lv);
				failed++;
			}
		}
		free(p);
	}
	/* kernel and initrd the guest keeps in its folder */
	static const char *const boot[] = { "kernel", "initrd" };
	for (size_t k = 0; k < 2; k++) {
		const char *b = vmconf_get(g.conf, boot[k]);
		char p[PATH_MAX + 256];
		struct stat st;
		if (!b || !*b || b[0] == '/')
			continue;
		snprintf(p, sizeof(p), "%s/%s", g.dir, b);
		if (lstat(p, &st) == 0 && S_ISREG(st.st_mode))
			remove_owned(dirreal, p, &failed);
	}
	/* files vm and bhyve write there */
	static const char *const own[] = { "vm-bhyve.log", "vm-bhyve.log.0", "bhyve.log",
					   SUPERVISOR_CONSOLE_FILE, SUPERVISOR_RESTART_FLAG,
					   "com1", "com2", "seed.iso", "uefi-vars.fd", "device.map",
					   "grub.cfg" };
	for (size_t k = 0; k < sizeof(own) / sizeof(own[0]); k++) {
		char p[PATH_MAX + 64];
		snprintf(p, sizeof(p), "%s/%s", g.dir, own[k]);
		remove_owned(dirreal, p, &failed);
	}
	DIR *d = opendir(g.dir);
	struct dirent *e;
	struct stat cst;
	bool have_conf = lstat(g.conf_path, &cst) == 0;
	while (d && (e = readdir(d))) {
		char p[PATH_MAX + 300];
		struct stat st;
		snprintf(p, sizeof(p), "%s/%s", g.dir, e->d_name);
		if (lstat(p, &st) < 0)
			continue;
		size_t l = strlen(e->d_name);
		/* another name of the conf: left by a rename that was interrupted */
		bool conf_link = have_conf && l > 5 && !strcmp(e->d_name + l - 5, ".conf") &&
				 strcmp(p, g.conf_path) && st.st_dev == cst.st_dev && st.st_ino == cst.st_ino;
		if ((!strncmp(e->d_name, "vtcon.", 6) && S_ISSOCK(st.st_mode)) || conf_link)
			remove_owned(dirreal, p, &failed);
	}
	if (d)
		closedir(d);
	/* its snapshots (zfs destroy -r takes them too) */
	char dspath[PATH_MAX], err[1024];
	if (!failed && datastore_path(s, g.ds, dspath, sizeof(dspath), err, sizeof(err)) == 0 &&
	    snap_destroy_all(dspath, g.name, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm destroy: %s\n", err);
		failed++;
	}
	/* the conf last: while anything failed, the guest stays visible */
	if (!failed)
		remove_owned(dirreal, g.conf_path, &failed);
	if (failed) {
		fprintf(stderr, "vm destroy: %s was not completely removed\n", g.name);
		return 1;
	}
	return 0;
}

/* ---- rename ---- */

static int rename_locked(struct guest *g, const char *newname, const char *newdir);

int cmd_rename(struct vm_settings *s, int argc, char **argv)
{
	const char *usage = "usage: vm rename <name> <new-name>";
	const char *o[128];
	int i = vm_opts_parse("rename", argc, argv, "", usage, o);
	if (i < 0)
		return 1;
	if (argc - i != 2) {
		fprintf(stderr, "vm rename: two names, please (%s)\n", usage);
		return 1;
	}
	const char *newname = argv[i + 1];
	char err[1024], where[PATH_MAX];
	if (!guest_name_valid(newname)) {
		fprintf(stderr, "vm rename: '%s' is not a valid guest name\n", newname);
		return 1;
	}
	if (!socket_path_fits("rename", newname))
		return 1;
	struct guest g;
	if (guest_open(s, argv[i], &g, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm rename: %s\n", err);
		return 1;
	}
	if (guest_exists_anywhere(s, newname, where, sizeof(where))) {
		fprintf(stderr, "vm rename: %s already exists (%s)\n", newname, where);
		guest_close(&g);
		return 1;
	}
	char dspath[PATH_MAX];
	if (datastore_path(s, g.ds, dspath, sizeof(dspath), err, sizeof(err)) < 0) {
		fprintf(stderr, "vm rename: %s\n", err);
		guest_close(&g);
		return 1;
	}
	int runfd, conffd;
	if (lock_for(&g, "rename", &runfd, &conffd) < 0) {
		guest_close(&g);
		return 1;
	}
	char newdir[PATH_MAX + 256];
	snprintf(newdir, sizeof(newdir), "%s/%s", dspath, newname);
	/* the snapshots first, moved back if the guest cannot follow */
	int rc = snap_rename_guest(dspath, g.name, newname, err, sizeof(err)) < 0 ? 1 : 0;
	if (rc)
		fprintf(stderr, "vm rename: %s\n", err);
	else if ((rc = rename_locked(&g, newname, newdir)) != 0)
		snap_rename_guest(dspath, newname, g.name, err, sizeof(err));
	runlock_release(rc == 0 ? newdir : g.dir, runfd);
	guest_unlock(conffd);
	if (rc == 0) {
		copy_str(g.dir, sizeof(g.dir), newdir);
		guest_log(&g, "renamed from %s to %s", g.name, newname);
	}
	guest_close(&g);
	return rc;
}

/* Rename in steps that each leave a guest vm can open: link old.conf to new.conf (the folder is
 * still the old guest), rename the folder (now the new guest, with a second name for its conf),
 * unlink old.conf. Interrupted, `vm rename` again, or `vm destroy`, finishes the job. */
static int rename_locked(struct guest *g, const char *newname, const char *newdir)
{
	char newconf[PATH_MAX + 256], oldconf_moved[PATH_MAX + 512];
	snprintf(newconf, sizeof(newconf), "%s/%s.conf", g->dir, newname);
	snprintf(oldconf_moved, sizeof(oldconf_moved), "%s/%s.conf", newdir, g->name);
	struct stat a, b;
	if (lstat(newconf, &b) == 0) {
		if (lstat(g->conf_path, &a) < 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
			fprintf(stderr, "vm rename: %s already exists\n", newconf);
			return 1;
		}
		unlink(newconf); /* the link of an interrupted rename: made again below */
	}
	if (link(g->conf_path, newconf) < 0) {
		fprintf(stderr, "vm rename: cannot link %s to %s: %s\n", g->conf_path, newconf,
			strerror(errno));
		return 1;
	}
	/* RENAME_NOREPLACE: never move onto something that appeared meanwhile */
	if (renameat2(AT_FDCWD, g->dir, AT_FDCWD, newdir, RENAME_NOREPLACE) < 0) {
		int e = errno;
		unlink(newconf);
		fprintf(stderr, "vm rename: cannot rename %s to %s: %s\n", g->dir, newdir, strerror(e));
		return 1;
	}
	if (unlink(oldconf_moved) < 0)
		fprintf(stderr, "vm rename: warning: cannot remove %s: %s\n", oldconf_moved,
			strerror(errno));
	return 0;
}

/* ---- configure ---- */

/* The bytes of file path (malloc'd, NUL-terminated). 0 or -errno. */
static int read_whole(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "re");
	FILE *mem = open_memstream(out, len);
	if (!f || !mem) {
		int e = errno;
		if (f)
			fclose(f);
		if (mem)
			fclose(mem);
		return -e;
	}
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, mem);
	int bad = ferror(f);
	fclose(f);
	fclose(mem);
	return bad ? -EIO : 0;
}

int cmd_configure(struct vm_settings *s, int argc, char **argv)
{
	const char *usage = "usage: vm configure <name>";
	const char *o[128];
	int i = vm_opts_parse("configure", argc, argv, "", usage, o);
	if (i < 0)
		return 1;
	if (argc - i != 1) {
		fprintf(stderr, "vm configure: %s (%s)\n", argc - i ? "one guest name, please" : "no guest name",
			usage);
		return 1;
	}
	struct guest g;
	char err[1024];
	/* a conf that does not parse can still be edited: that is how it gets fixed */
	int r = guest_open(s, argv[i], &g, err, sizeof(err));
	if (r < 0 && (r != -EINVAL || !g.conf_path[0] || access(g.conf_path, F_OK) < 0)) {
		fprintf(stderr, "vm configure: %s\n", err);
		return 1;
	}
	if (r < 0)
		fprintf(stderr, "vm configure: %s\n", err);
	size_t old_warnings = vmconf_warning_count(g.conf);
	guest_close(&g);
	/* Edit a copy outside vm_dir; the conf is rewritten (atomically) only from a copy that parses,
	 * and not at all when nothing changed. */
	const char *tdir = getenv("TMPDIR");
	char tmp[PATH_MAX + 300];
	snprintf(tmp, sizeof(tmp), "%s/vm-configure.%s.XXXXXX.conf", tdir && *tdir ? tdir : "/tmp", g.name);
	int fd = mkostemps(tmp, 5, O_CLOEXEC);
	char *orig = NULL;
	size_t olen = 0;
	FILE *src = fopen(g.conf_path, "re");
	FILE *mem = open_memstream(&orig, &olen);
	if (fd < 0 || !src || !mem) {
		fprintf(stderr, "vm configure: %s: %s\n", fd < 0 ? tmp : g.conf_path, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		if (src)
			fclose(src);
		if (mem)
			fclose(mem);
		free(orig);
		return 1;
	}
	char buf[65536];
	size_t n;
	bool ok = true;
	while ((n = fread(buf, 1, sizeof(buf), src)) > 0) {
		ok &= write(fd, buf, n) == (ssize_t)n;
		ok &= fwrite(buf, 1, n, mem) == n;
	}
	ok &= !ferror(src);
	fclose(src);
	fclose(mem);
	close(fd);
	if (!ok) {
		fprintf(stderr, "vm configure: cannot copy %s to %s\n", g.conf_path, tmp);
		unlink(tmp);
		free(orig);
		return 1;
	}
	pid_t pid = fork();
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", "exec ${EDITOR:-vi} \"$1\"", "sh", tmp, (char *)NULL);
		_exit(127);
	}
	int status = 0;
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "vm configure: the editor failed; %s is unchanged\n", g.conf_path);
		unlink(tmp);
		free(orig);
		return 1;
	}
	struct vmconf *c;
	if (vmconf_load(&c, tmp, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm configure: %s; %s is unchanged (your edit is kept in %s)\n", err,
			g.conf_path, tmp);
		free(orig);
		return 1;
	}
	/* other commands skip a line that does not parse; here the user is typing, so a new one
	 * is refused (lines that were already there do not block the edit) */
	if (vmconf_warning_count(c) > old_warnings) {
		fprintf(stderr, "vm configure: %s; %s is unchanged (your edit is kept in %s)\n",
			vmconf_warning_at(c, vmconf_warning_count(c) - 1), g.conf_path, tmp);
		vmconf_free(c);
		free(orig);
		return 1;
	}
	char *text = vmconf_format(c);
	bool same = text && strlen(text) == olen && !memcmp(text, orig, olen);
	free(text);
	/* Saved under the guest's config lock, and only over the conf the editor started from: a
	 * `vm add` (or another configure) that wrote it meanwhile is not undone. */
	int lk, r2 = same ? 0 : guest_lock(&g, false, &lk, err, sizeof(err));
	if (r2 == 0 && !same) {
		char *now = NULL;
		size_t nlen = 0;
		if (read_whole(g.conf_path, &now, &nlen) < 0 || nlen != olen || memcmp(now, orig, olen)) {
			snprintf(err, sizeof(err), "%.900s changed while you were editing it: not saved",
				 g.conf_path);
			r2 = -EAGAIN;
		} else {
			r2 = vmconf_save(c, g.conf_path, err, sizeof(err));
		}
		free(now);
		guest_unlock(lk);
	}
	free(orig);
	vmconf_free(c);
	if (r2 < 0) {
		fprintf(stderr, "vm configure: %s (your edit is kept in %s)\n", err, tmp);
		return 1;
	}
	unlink(tmp);
	return 0;
}

/* ---- add ---- */

static int add_locked(struct vm_settings *s, struct guest *gp, const char **o, bool disk,
		      uint64_t size);

int cmd_add(struct vm_settings *s, int argc, char **argv)
{
	const char *usage = "usage: vm add [-d disk|network] [-t type] [-s size|switch] <name>";
	const char *o[128];
	int i = vm_opts_parse("add", argc, argv, "d:t:s:", usage, o);
	if (i < 0)
		return 1;
	if (argc - i != 1) {
		fprintf(stderr, "vm add: %s (%s)\n", argc - i ? "one guest name, please" : "no guest name", usage);
		return 1;
	}
	const char *what = o['d'] ? o['d'] : "disk";
	if (strcmp(what, "disk") != 0 && strcmp(what, "network") != 0) {
		fprintf(stderr, "vm add: -d %s: add a disk or a network\n", what);
		return 1;
	}
	bool disk = !strcmp(what, "disk");
	uint64_t size = 0;
	if (disk) {
		if (!o['s']) {
			fprintf(stderr, "vm add: a disk needs its size (-s 10G)\n");
			return 1;
		}
		if (vmconf_parse_size(o['s'], &size) < 0) {
			fprintf(stderr, "vm add: -s %s: not a size (e.g. 20G, 512M)\n", o['s']);
			return 1;
		}
		if (o['t'] && strcmp(o['t'], "file") != 0 && !is_zvol_dev(o['t'])) {
			fprintf(stderr, "vm add: -t %s: a disk is a file, zvol or sparse-zvol\n", o['t']);
			return 1;
		}
	} else {
		if (!o['s']) {
			fprintf(stderr, "vm add: a network interface needs its switch (-s switch)\n");
			return 1;
		}
		if (!switch_name_valid(o['s'])) {
			fprintf(stderr, "vm add: -s %s: not a valid switch name\n", o['s']);
			return 1;
		}
		if (o['t'] && strcmp(o['t'], "virtio-net") != 0 && strcmp(o['t'], "e1000") != 0) {
			fprintf(stderr, "vm add: -t %s: a network interface is virtio-net (or e1000)\n", o['t']);
			return 1;
		}
	}
	struct guest g;
	char err[1024];
	int lk = -1;
	/* the conf is read again, changed and written under its lock (concurrent adds, configure) */
	if (guest_open(s, argv[i], &g, err, sizeof(err)) < 0 ||
	    guest_lock(&g, true, &lk, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm add: %s\n", err);
		guest_close(&g);
		return 1;
	}
	int rc = add_locked(s, &g, o, disk, size);
	guest_unlock(lk);
	guest_close(&g);
	return rc;
}

static int add_locked(struct vm_settings *s, struct guest *gp, const char **o, bool disk,
		      uint64_t size)
{
	struct guest g = *gp;
	char err[1024];
	const char *prefix = disk ? "disk" : "network";
	int n = 0;
	while (n < MAX_DEVS && vmconf_getn(g.conf, prefix, n, "_type"))
		n++;
	if (n == MAX_DEVS) {
		fprintf(stderr, "vm add: %s has %d %ss already\n", g.name, MAX_DEVS, prefix);
		return 1;
	}
	/* emulation: as the guest's existing devices */
	const char *emu = o['t'] && !disk ? o['t'] : n ? vmconf_getn(g.conf, prefix, n - 1, "_type") : NULL;
	if (!emu)
		emu = disk ? "virtio-blk" : "virtio-net";
	char *emu_copy = strdup(emu);
	int r = emu_copy ? setn(g.conf, prefix, n, "_type", emu_copy) : -ENOMEM;
	free(emu_copy);
	char path[PATH_MAX + 64] = "";
	if (disk) {
		/* vm-bhyve's names: diskN.img for files, diskN for volumes */
		char fname[32];
		bool zvol = o['t'] && is_zvol_dev(o['t']);
		snprintf(fname, sizeof(fname), zvol ? "disk%d" : "disk%d.img", n);
		snprintf(path, sizeof(path), "%s/%s", g.dir, fname);
		struct stat st;
		if (lstat(path, &st) == 0) {
			fprintf(stderr, "vm add: %s already exists (not overwritten)\n", path);
			return 1;
		}
		r |= setn(g.conf, prefix, n, "_dev", zvol ? o['t'] : "file");
		r |= setn(g.conf, prefix, n, "_name", fname);
	} else {
		char mac[18];
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		mac_generate(g.name, n, (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec, mac);
		r |= setn(g.conf, prefix, n, "_switch", o['s']);
		r |= setn(g.conf, prefix, n, "_mac", mac);
		char **sw = strv_split(vmconf_get(s->sys, "switch_list"));
		if (sw && strv_index(sw, o['s']) < 0)
			fprintf(stderr, "vm add: warning: there is no switch '%s' yet (vm switch create %s)\n",
				o['s'], o['s']);
		free_strv(sw);
	}
	if (r) {
		fprintf(stderr, "vm add: cannot update the configuration\n");
		return 1;
	}
	if (disk && make_sparse(path, size, o['t'] && !strcmp(o['t'], "zvol"), err, sizeof(err)) < 0) {
		fprintf(stderr, "vm add: %s\n", err);
		return 1;
	}
	if (disk && o['t'] && is_zvol_dev(o['t']))
		zvol_note("add", n, o['t'], g.ds, path);
	if (vmconf_save(g.conf, g.conf_path, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm add: %s\n", err);
		if (disk)
			unlink(path);
		return 1;
	}
	guest_log(&g, "added %s%d", prefix, n);
	gp->conf = g.conf;
	return 0;
}
