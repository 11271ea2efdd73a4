/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for run_as (src/vm/runas.c): the accepted forms and the refused ones, the run folder
 * (owner, modes, leftovers, a link in its place), handing over disks, and dropping to the user
 * in a forked child for good. The last three need root and say so when skipped. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "vm/runas.h"

static char E[512];

static void expect_bad(const char *value, const char *needle)
{
	struct runas r;
	E[0] = '\0';
	assert_int_equal(runas_parse(value, &r, E, sizeof(E)), -EINVAL);
	if (!strstr(E, needle) || !strstr(E, "run_as="))
		fail_msg("'%s': error '%s' does not name the key and '%s'", value, E, needle);
	assert_false(r.set);
}

static void test_parse(void **state)
{
	struct runas r;
	assert_int_equal(runas_parse(NULL, &r, E, sizeof(E)), 0);
	assert_false(r.set);
	assert_int_equal(runas_parse("", &r, E, sizeof(E)), 0);
	assert_false(r.set);
	/* root is who runs bhyve anyway */
	assert_int_equal(runas_parse("root", &r, E, sizeof(E)), 0);
	assert_false(r.set);
	assert_int_equal(runas_parse("0", &r, E, sizeof(E)), 0);
	assert_false(r.set);
	/* a name with a passwd entry: its uid, primary group and supplementary groups */
	assert_int_equal(runas_parse("nobody", &r, E, sizeof(E)), 0);
	assert_true(r.set);
	assert_int_equal(r.uid, 65534);
	assert_true(r.groups);
	assert_string_equal(r.user, "nobody");
	/* the same user by number */
	assert_int_equal(runas_parse("65534", &r, E, sizeof(E)), 0);
	assert_true(r.set);
	assert_string_equal(r.user, "nobody");
	/* another group, by name and by number */
	assert_int_equal(runas_parse("nobody:root", &r, E, sizeof(E)), 0);
	assert_int_equal(r.gid, 0);
	assert_int_equal(runas_parse("nobody:4243", &r, E, sizeof(E)), 0);
	assert_int_equal(r.gid, 4243);
	/* a bare uid with no entry, given its group */
	assert_int_equal(runas_parse("4242:4243", &r, E, sizeof(E)), 0);
	assert_true(r.set);
	assert_int_equal(r.uid, 4242);
	assert_int_equal(r.gid, 4243);
	assert_false(r.groups);
	assert_string_equal(r.user, "4242");

	expect_bad("4242", "UID:GID");
	expect_bad("no-such-user-here", "no such user");
	expect_bad("nobody:no-such-group-here", "no such group");
	expect_bad("nobody:", "empty");
	expect_bad(":4242", "USER");
	expect_bad("-1:0", "no such user");
	expect_bad("4294967295:0", "no such user");
	char longname[200];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	expect_bad(longname, "USER");
}

static void test_guest_over_system(void **state)
{
	struct vmconf *g, *sys, *none;
	char perr[128];
	assert_int_equal(vmconf_parse(&g, "run_as=\"nobody\"\n", "g.conf", perr, sizeof(perr)), 0);
	assert_int_equal(vmconf_parse(&sys, "run_as=\"4242:4242\"\n", "system.conf", perr,
				      sizeof(perr)),
			 0);
	assert_int_equal(vmconf_parse(&none, "cpu=1\n", "h.conf", perr, sizeof(perr)), 0);
	struct runas r;
	assert_int_equal(runas_for_guest(g, sys, &r, E, sizeof(E)), 0);
	assert_int_equal(r.uid, 65534);
	assert_int_equal(runas_for_guest(none, sys, &r, E, sizeof(E)), 0);
	assert_int_equal(r.uid, 4242);
	assert_int_equal(runas_for_guest(none, none, &r, E, sizeof(E)), 0);
	assert_false(r.set);
	vmconf_free(g);
	vmconf_free(sys);
	vmconf_free(none);
}

static bool need_root(void)
{
	if (geteuid() == 0)
		return true;
	print_message("skipped: needs root\n");
	return false;
}

static const struct runas USER = {.set = true, .uid = 4242, .gid = 4243, .user = "4242"};

static void test_run_dir(void **state)
{
	if (!need_root())
		return;
	char tmp[] = "/tmp/runas.XXXXXX", rundir[PATH_MAX], dir[PATH_MAX], p[PATH_MAX + 16];
	assert_non_null(mkdtemp(tmp));
	snprintf(rundir, sizeof(rundir), "%s/run", tmp);
	assert_int_equal(mkdir(rundir, 0700), 0); /* as bhyve makes it */
	setenv("KBHYVE_RUNDIR", rundir, 1);
	assert_int_equal(runas_run_dir("g1", dir, sizeof(dir)), 0);
	snprintf(p, sizeof(p), "%s/run_as/g1", rundir);
	assert_string_equal(dir, p);

	assert_int_equal(runas_prepare_run_dir(&USER, dir, E, sizeof(E)), 0);
	struct stat st;
	assert_int_equal(lstat(dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_uid, 4242);
	assert_int_equal(st.st_gid, 4243);
	assert_int_equal(st.st_mode & 07777, 0700);
	snprintf(p, sizeof(p), "%s/run_as", rundir);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(stat(rundir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0711); /* passable, still not listable */

	/* what a run left is gone at the next */
	snprintf(p, sizeof(p), "%s/com1", dir);
	assert_int_equal(symlink("/dev/pts/0", p), 0);
	assert_int_equal(runas_prepare_run_dir(&USER, dir, E, sizeof(E)), 0);
	assert_int_equal(lstat(p, &st), -1);

	/* the user put a link in the folder's place: refused, the target untouched */
	runas_remove_run_dir(dir);
	assert_int_equal(lstat(dir, &st), -1);
	assert_int_equal(symlink(tmp, dir), 0);
	assert_true(runas_prepare_run_dir(&USER, dir, E, sizeof(E)) < 0);
	assert_non_null(strstr(E, "not a folder"));
	assert_int_equal(stat(tmp, &st), 0);
	assert_int_equal(st.st_uid, 0);
	unlink(dir);
	unsetenv("KBHYVE_RUNDIR");
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	assert_int_equal(system(cmd), 0);
}

static void test_give(void **state)
{
	if (!need_root())
		return;
	char tmp[] = "/tmp/runas.XXXXXX", f[PATH_MAX], l[PATH_MAX + 32], u[256], x[PATH_MAX];
	assert_non_null(mkdtemp(tmp));
	snprintf(f, sizeof(f), "%s/disk0.img", tmp);
	int fd = open(f, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(runas_give(&USER, f, tmp, E, sizeof(E)), 0);
	struct stat st;
	assert_int_equal(stat(f, &st), 0);
	assert_int_equal(st.st_uid, 4242);
	assert_int_equal(st.st_gid, 4243);
	/* the guest folder (0700): the user's group may pass, not list or write; still root's */
	assert_int_equal(chmod(tmp, 0700), 0);
	assert_int_equal(runas_open_folder(&USER, tmp, E, sizeof(E)), 0);
	assert_int_equal(stat(tmp, &st), 0);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_gid, 4243);
	assert_int_equal(st.st_mode & 07777, 0710);
	/* a folder, a character device, a missing file: refused, unchanged */
	assert_int_equal(runas_give(&USER, tmp, tmp, E, sizeof(E)), -EINVAL);
	assert_int_equal(runas_give(&USER, "/dev/null", tmp, E, sizeof(E)), -EINVAL);
	assert_int_equal(stat("/dev/null", &st), 0);
	assert_int_equal(st.st_uid, 0);
	snprintf(x, sizeof(x), "%s/none.img", tmp);
	assert_int_equal(runas_give(&USER, x, tmp, E, sizeof(E)), -ENOENT);
	assert_non_null(strstr(E, "none.img"));

	/* root's file outside the guest folder, named directly or through a link: not given */
	snprintf(x, sizeof(x), "%s/outside.img", tmp);
	fd = open(x, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	char g[256];
	snprintf(g, sizeof(g), "%s/g1", tmp);
	assert_int_equal(mkdir(g, 0700), 0);
	assert_int_equal(runas_give(&USER, x, g, E, sizeof(E)), -EPERM);
	assert_non_null(strstr(E, "outside the guest folder"));
	snprintf(l, sizeof(l), "%s/disk1.img", g);
	assert_int_equal(symlink(x, l), 0);
	assert_int_equal(runas_give(&USER, l, g, E, sizeof(E)), -EPERM);
	assert_int_equal(stat(x, &st), 0);
	assert_int_equal(st.st_uid, 0);
	/* a link in a folder the user writes, to a block device: refused (it could name any) */
	snprintf(u, sizeof(u), "%s/userdir", tmp);
	assert_int_equal(mkdir(u, 0755), 0);
	assert_int_equal(chown(u, 4242, 4243), 0);
	snprintf(l, sizeof(l), "%s/dev", u);
	assert_int_equal(symlink("/dev/loop-control", l), 0);
	assert_int_equal(runas_give(&USER, l, g, E, sizeof(E)), -EPERM);
	assert_non_null(strstr(E, "link in a folder"));
	/* nor through a root-folder link that passes through the user's folder */
	char l2[PATH_MAX + 32];
	snprintf(l2, sizeof(l2), "%s/disk2.img", g);
	assert_int_equal(symlink(l, l2), 0);
	assert_int_equal(runas_give(&USER, l2, g, E, sizeof(E)), -EPERM);
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	assert_int_equal(system(cmd), 0);
}

/* the child is the user for good: ids, no supplementary groups, no way back to root */
static void test_become(void **state)
{
	if (!need_root())
		return;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		gid_t g[4];
		if (runas_become(&USER) < 0)
			_exit(10);
		if (getuid() != 4242 || geteuid() != 4242 || getgid() != 4243 || getegid() != 4243)
			_exit(11);
		if (getgroups(4, g) != 0)
			_exit(12);
		if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0)
			_exit(13);
		_exit(0);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	/* not set: nothing changes */
	struct runas none = {0};
	assert_int_equal(runas_become(&none), 0);
	assert_int_equal(getuid(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),   cmocka_unit_test(test_guest_over_system),
	    cmocka_unit_test(test_run_dir), cmocka_unit_test(test_give),
	    cmocka_unit_test(test_become),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
