/* SPDX-License-Identifier: BSD-2-Clause */
/* vm snapshot, vm rollback, vm clone and vm destroy NAME@SNAP, with vm-bhyve's commands and
 * rules (lib/vm-zfs): a snapshot of a running guest only with -f; rollback of a stopped guest to
 * its latest snapshot, or with -r to an older one, whose later snapshots go; a clone gets a new
 * uuid and new MACs. The storage side is snapstore.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vm/bhyvecmd.h"
#include "vm/cmds.h"
#include "vm/guest.h"
#include "vm/names.h"
#include "vm/opts.h"
#include "vm/runlock.h"
#include "vm/snapstore.h"

#define MAX_DEVS 64

/* "name@snap" split; false (one line on stderr) when either part is not valid. snap may be
 * absent when snap_optional. */
static bool split_arg(const char *cmd, const char *arg, char *name, size_t nlen, char *snap,
		      size_t slen, bool snap_optional)
{
	const char *at = strchr(arg, '@');
	size_t l = at ? (size_t)(at - arg) : strlen(arg);
	if (l >= nlen) {
		fprintf(stderr, "vm %s: '%s': guest name too long\n", cmd, arg);
		return false;
	}
	memcpy(name, arg, l);
	name[l] = '\0';
	snap[0] = '\0';
	if (!at) {
		if (snap_optional)
			return true;
		fprintf(stderr, "vm %s: '%s': give the snapshot as <name>@<snapshot>\n", cmd, arg);
		return false;
	}
	if (!snap_name_valid(at + 1) || strlen(at + 1) >= slen) {
		fprintf(stderr, "vm %s: '%s' is not a valid snapshot name (letters, digits, '_', '.', ':', '-'; at most %d)\n",
			cmd, at + 1, SNAP_NAME_MAX);
		return false;
	}
	snprintf(snap, slen, "%s", at + 1);
	return true;
}

static int open_with_ds(const char *cmd, struct vm_settings *s, const char *name, struct guest *g,
			char *dspath, size_t dlen)
{
	char err[1024];
	if (guest_open(s, name, g, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm %s: %s\n", cmd, err);
		return -1;
	}
	if (datastore_path(s, g->ds, dspath, dlen, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm %s: %s\n", cmd, err);
		guest_close(g);
		return -1;
	}
	return 0;
}

/* ---- snapshot ---- */

int cmd_snapshot(struct vm_settings *s, int argc, char **argv)
{
	const char *usage = "usage: vm snapshot [-f] <name>[@<snapshot>]";
	const char *o[128];
	int i = vm_opts_parse("snapshot", argc, argv, "f", usage, o);
	if (i < 0)
		return 1;
	if (argc - i != 1) {
		fprintf(stderr, "vm snapshot: %s (%s)\n", argc - i ? "one guest, please" : "no guest name", usage);
		return 1;
	}
	char name[256], snap[SNAP_NAME_MAX + 1], dspath[PATH_MAX], err[1024];
	if (!split_arg("snapshot", argv[i], name, sizeof(name), snap, sizeof(snap), true))
		return 1;
	if (!*snap) {
		time_t now = time(NULL);
		struct tm tm;
		localtime_r(&now, &tm);
		strftime(snap, sizeof(snap), "%Y-%m-%d-%H:%M:%S", &tm);
	}
	struct guest g;
	if (open_with_ds("snapshot", s, name, &g, dspath, sizeof(dspath)) < 0)
		return 1;
	/* stopped: held so for the whole snapshot; running: only with -f, under its config lock */
	int runfd = -1, conffd = -1;
	enum run_state st = runlock_probe(g.dir, NULL, NULL, 0);
	if (st == RUN_RUNNING && !o['f']) {
		fprintf(stderr, "vm snapshot: %s must be powered off first (use -f to override: the snapshot then holds its disks as a power cut would leave them)\n",
			g.name);
		guest_close(&g);
		return 1;
	}
	if (st == RUN_RUNNING) {
		if (guest_lock(&g, false, &conffd, err, sizeof(err)) < 0) {
			fprintf(stderr, "vm snapshot: %s\n", err);
			guest_close(&g);
			return 1;
		}
	} else if (lock_for(&g, "snapshot", &runfd, &conffd) < 0) {
		guest_close(&g);
		return 1;
	}
	int r = snap_create(dspath, g.name, g.dir, snap, err, sizeof(err));
	if (runfd >= 0)
		runlock_release(g.dir, runfd);
	guest_unlock(conffd);
	if (r < 0)
		fprintf(stderr, "vm snapshot: %s\n", err);
	else
		guest_log(&g, "snapshot %s taken%s", snap, st == RUN_RUNNING ? " while running" : "");
	guest_close(&g);
	return r < 0;
}

/* ---- destroy NAME@SNAP ---- */

int snapshot_destroy(struct vm_settings *s, const char *arg)
{
	char name[256], snap[SNAP_NAME_MAX + 1], dspath[PATH_MAX], err[1024];
	if (!split_arg("destroy", arg, name, sizeof(name), snap, sizeof(snap), false))
		return 1;
	struct guest g;
	if (open_with_ds("destroy", s, name, &g, dspath, sizeof(dspath)) < 0)
		return 1;
	int conffd;
	if (guest_lock(&g, false, &conffd, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm destroy: %s\n", err);
		guest_close(&g);
		return 1;
	}
	struct snap sn;
	int r = snap_find(dspath, g.name, snap, &sn);
	if (r < 0)
		fprintf(stderr, "vm destroy: %s@%s: %s\n", g.name, snap,
			r == -ENOENT ? "no such snapshot" : strerror(-r));
	else if ((r = snap_destroy(&sn, err, sizeof(err))) < 0)
		fprintf(stderr, "vm destroy: %s\n", err);
	else
		guest_log(&g, "snapshot %s destroyed", snap);
	guest_unlock(conffd);
	guest_close(&g);
	return r < 0;
}

/* ---- rollback ---- */

int cmd_rollback(struct vm_settings *s, int argc, char **argv)
{
	const char *usage = "usage: vm rollback [-r] <name>@<snapshot>";
	const char *o[128];
	int i = vm_opts_parse("rollback", argc, argv, "r", usage, o);
	if (i < 0)
		return 1;
	if (argc - i != 1) {
		fprintf(stderr, "vm rollback: %s (%s)\n", argc - i ? "one snapshot, please" : "no snapshot", usage);
		return 1;
	}
	char name[256], snap[SNAP_NAME_MAX + 1], dspath[PATH_MAX], err[1024];
	if (!split_arg("rollback", argv[i], name, sizeof(name), snap, sizeof(snap), false))
		return 1;
	struct guest g;
	if (open_with_ds("rollback", s, name, &g, dspath, sizeof(dspath)) < 0)
		return 1;
	int runfd, conffd;
	if (lock_for(&g, "rollback", &runfd, &conffd) < 0) {
		guest_close(&g);
		return 1;
	}
	struct snap *v = NULL;
	size_t n = 0, at = 0;
	int rc = 1;
	int r = snap_list(dspath, g.name, &v, &n);
	while (r == 0 && at < n && strcmp(v[at].name, snap))
		at++;
	if (r < 0) {
		fprintf(stderr, "vm rollback: %s: cannot list its snapshots: %s\n", g.name, strerror(-r));
		goto out;
	}
	if (at == n) {
		fprintf(stderr, "vm rollback: %s@%s: no such snapshot\n", g.name, snap);
		goto out;
	}
	if (at + 1 < n && !o['r']) {
		fprintf(stderr, "vm rollback: %s@%s is not the latest snapshot (%zu later, the last %s): use -r to roll back and destroy them\n",
			g.name, snap, n - at - 1, v[n - 1].name);
		goto out;
	}
	/* the snapshot's copy beside the guest, then the two swapped in one step: the guest folder
	 * is the old one or the rolled-back one, never a mix */
	char stage[PATH_MAX + 300];
	snprintf(stage, sizeof(stage), "%s/.%s.rollback", dspath, g.name);
	snap_remove_tree(stage); /* an interrupted rollback's (we hold the guest's locks) */
	if (snap_materialize(v[at].path, stage, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm rollback: %s\n", err);
		goto out;
	}
	/* never swap in a folder that is not this guest (a damaged snapshot) */
	char sconf[PATH_MAX + 600];
	struct stat sst;
	snprintf(sconf, sizeof(sconf), "%s/%s.conf", stage, g.name);
	if (lstat(sconf, &sst) < 0 || !S_ISREG(sst.st_mode)) {
		fprintf(stderr, "vm rollback: snapshot %s@%s holds no %s.conf: not rolled back\n", g.name, snap, g.name);
		snap_remove_tree(stage);
		goto out;
	}
	if (renameat2(AT_FDCWD, stage, AT_FDCWD, g.dir, RENAME_EXCHANGE) < 0) {
		fprintf(stderr, "vm rollback: cannot put %s in place of %s: %s\n", stage, g.dir, strerror(errno));
		snap_remove_tree(stage);
		goto out;
	}
	/* our run lock now lies in the swapped-out folder, which goes */
	runlock_release(stage, runfd);
	runfd = -1;
	if ((r = snap_remove_tree(stage)) < 0)
		fprintf(stderr, "vm rollback: warning: the folder before the rollback is left at %s: %s\n",
			stage, strerror(-r));
	rc = 0;
	for (size_t k = at + 1; k < n; k++) {
		if (snap_destroy(&v[k], err, sizeof(err)) < 0) {
			fprintf(stderr, "vm rollback: %s\n", err);
			rc = 1;
		}
	}
	guest_log(&g, "rolled back to snapshot %s", snap);
out:
	free(v);
	if (runfd >= 0)
		runlock_release(g.dir, runfd);
	guest_unlock(conffd);
	guest_close(&g);
	return rc;
}

/* ---- clone ---- */

/* The copy at dir becomes guest `newname`: its conf renamed, a new uuid and new MACs (vm-bhyve's
 * vm::generalise), no log; the UEFI variables go unless keep_vars. 0 or -1 after one line. */
int guest_generalise(const char *cmd, const char *oldname, const char *dir, const char *newname,
		     bool keep_vars)
{
	char from[2 * PATH_MAX], to[2 * PATH_MAX], err[1024];
	snprintf(from, sizeof(from), "%s/%s.conf", dir, oldname);
	snprintf(to, sizeof(to), "%s/%s.conf", dir, newname);
	if (strcmp(from, to) && renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) < 0) {
		fprintf(stderr, "vm %s: cannot rename %s to %s: %s\n", cmd, from, to, strerror(errno));
		return -1;
	}
	static const char *const drop[] = { GUEST_LOG_FILE, GUEST_LOG_FILE ".0", "bhyve.log", "device.map",
					    "grub.cfg" };
	for (size_t k = 0; k < sizeof(drop) / sizeof(drop[0]); k++) {
		snprintf(from, sizeof(from), "%s/%s", dir, drop[k]);
		unlink(from);
	}
	if (!keep_vars) {
		snprintf(from, sizeof(from), "%s/" BHYVECMD_UEFI_VARS_FILE, dir);
		unlink(from);
	}
	struct vmconf *c;
	if (vmconf_load(&c, to, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm %s: %s\n", cmd, err);
		return -1;
	}
	char uuid[37];
	int r = uuid_generate(uuid) < 0 ? -1 : vmconf_set(c, "uuid", uuid);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t seed = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	for (int n = 0; r == 0 && n < MAX_DEVS && vmconf_getn(c, "network", n, "_type"); n++) {
		char key[32], mac[18];
		snprintf(key, sizeof(key), "network%d_mac", n);
		mac_generate(newname, n, seed, mac);
		r = vmconf_set(c, key, mac);
	}
	if (r < 0) {
		fprintf(stderr, "vm %s: cannot give %s a new uuid and MACs\n", cmd, newname);
		vmconf_free(c);
		return -1;
	}
	/* disks the two guests would share: say so, as the user may not expect it */
	for (int n = 0; n < MAX_DEVS && vmconf_getn(c, "disk", n, "_type"); n++) {
		const char *dn = vmconf_getn(c, "disk", n, "_name");
		if (dn && dn[0] == '/')
			fprintf(stderr, "vm %s: note: disk%d (%s) is outside the guest folder: %s and %s share it\n",
				cmd, n, dn, oldname, newname);
	}
	r = vmconf_save(c, to, err, sizeof(err));
	vmconf_free(c);
	if (r < 0) {
		fprintf(stderr, "vm %s: %s\n", cmd, err);
		return -1;
	}
	return 0;
}

/* What killed clones to newname left: .NEW.cloning.PID of a process that is gone. */
static void clear_dead_clones(const char *dspath, const char *newname)
{
	char prefix[300];
	snprintf(prefix, sizeof(prefix), ".%s.cloning.", newname);
	size_t pl = strlen(prefix);
	DIR *d = opendir(dspath);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (strncmp(e->d_name, prefix, pl) != 0)
			continue;
		char *end;
		long pid = strtol(e->d_name + pl, &end, 10);
		if (*end || pid <= 0 || (kill((pid_t)pid, 0) == 0 || errno == EPERM))
			continue;
		char p[PATH_MAX + 300];
		snprintf(p, sizeof(p), "%s/%s", dspath, e->d_name);
		snap_remove_tree(p);
	}
	if (d)
		closedir(d);
}

int cmd_clone(struct vm_settings *s, int argc, char **argv)
{
	const char *usage = "usage: vm clone [-u] <name>[@<snapshot>] <new-name>";
	const char *o[128];
	int i = vm_opts_parse("clone", argc, argv, "u", usage, o);
	if (i < 0)
		return 1;
	if (argc - i != 2) {
		fprintf(stderr, "vm clone: a guest and a new name, please (%s)\n", usage);
		return 1;
	}
	const char *newname = argv[i + 1];
	char name[256], snap[SNAP_NAME_MAX + 1], dspath[PATH_MAX], err[1024];
	if (!split_arg("clone", argv[i], name, sizeof(name), snap, sizeof(snap), true) ||
	    !new_guest_name_ok(s, "clone", newname))
		return 1;
	struct guest g;
	if (open_with_ds("clone", s, name, &g, dspath, sizeof(dspath)) < 0)
		return 1;
	/* from a snapshot: the guest may run; from the guest itself: stopped throughout */
	int runfd = -1, conffd = -1, rc = 1;
	struct snap sn;
	const char *src = g.dir;
	if (*snap) {
		if (guest_lock(&g, false, &conffd, err, sizeof(err)) < 0) {
			fprintf(stderr, "vm clone: %s\n", err);
			guest_close(&g);
			return 1;
		}
		int r = snap_find(dspath, g.name, snap, &sn);
		if (r < 0) {
			fprintf(stderr, "vm clone: %s@%s: %s\n", g.name, snap,
				r == -ENOENT ? "no such snapshot" : strerror(-r));
			goto out;
		}
		src = sn.path;
	} else {
		if (lock_for(&g, "clone", &runfd, &conffd) < 0) {
			guest_close(&g);
			return 1;
		}
		char why[512];
		if (snap_kind_of(g.dir, why, sizeof(why)) == SNAP_NONE) {
			fprintf(stderr, "vm clone: %s\n", why);
			goto out;
		}
	}
	clear_dead_clones(dspath, newname);
	/* built under a hidden name of this process, renamed into place whole at the end */
	char stage[PATH_MAX + 300], final[PATH_MAX + 300];
	snprintf(stage, sizeof(stage), "%s/.%s.cloning.%d", dspath, newname, (int)getpid());
	snprintf(final, sizeof(final), "%s/%s", dspath, newname);
	if (snap_materialize(src, stage, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm clone: %s\n", err);
		goto out;
	}
	if (guest_generalise("clone", g.name, stage, newname, o['u'] != NULL) < 0) {
		snap_remove_tree(stage);
		goto out;
	}
	if (renameat2(AT_FDCWD, stage, AT_FDCWD, final, RENAME_NOREPLACE) < 0) {
		int e = errno;
		fprintf(stderr, "vm clone: %s: %s\n", final,
			e == EEXIST || e == ENOTEMPTY ? "already exists" : strerror(e));
		snap_remove_tree(stage);
		goto out;
	}
	rc = 0;
	struct guest ng;
	memset(&ng, 0, sizeof(ng));
	snprintf(ng.name, sizeof(ng.name), "%s", newname);
	snprintf(ng.dir, sizeof(ng.dir), "%.*s", (int)sizeof(ng.dir) - 1, final);
	guest_log(&ng, "cloned from %s%s%s", g.name, *snap ? "@" : "", snap);
out:
	if (runfd >= 0)
		runlock_release(g.dir, runfd);
	guest_unlock(conffd);
	guest_close(&g);
	return rc;
}
