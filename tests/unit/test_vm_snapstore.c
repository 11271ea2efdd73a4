/* SPDX-License-Identifier: BSD-2-Clause */
/* snapstore's pure parts (snapshot names, on-disk entry names) and its refusals on a file system
 * that cannot clone files (the test's temporary folder on tmpfs under /dev/shm); the btrfs and
 * XFS paths run on real loop devices in tests/vm/storage.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "vm/snapstore.h"

static void test_snapshot_names(void **state)
{
	assert_true(snap_name_valid("first"));
	assert_true(snap_name_valid("2026-12-07-13:05:12"));
	assert_true(snap_name_valid("a.b_c-d"));
	assert_false(snap_name_valid(""));
	assert_false(snap_name_valid(".hidden"));
	assert_false(snap_name_valid("-r"));
	assert_false(snap_name_valid("a/b"));
	assert_false(snap_name_valid("a b"));
	assert_false(snap_name_valid("a@b"));
	assert_false(snap_name_valid("..")); /* starts with '.' */
	char longname[SNAP_NAME_MAX + 2];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[SNAP_NAME_MAX + 1] = '\0';
	assert_false(snap_name_valid(longname));
	longname[SNAP_NAME_MAX] = '\0';
	assert_true(snap_name_valid(longname));
}

static void test_entry_names(void **state)
{
	uint64_t ns = 0;
	char name[SNAP_NAME_MAX + 1];
	assert_true(snap_entry_parse("1796648843501059900-s1", &ns, name, sizeof(name)));
	assert_true(ns == 1796648843501059900ull);
	assert_string_equal(name, "s1");
	/* the name may hold '-' and ':' itself */
	assert_true(snap_entry_parse("5-2026-12-07-13:05:12", &ns, name, sizeof(name)));
	assert_true(ns == 5);
	assert_string_equal(name, "2026-12-07-13:05:12");
	/* not entries: staging names, no prefix, no name, a bad name, an overflowing number */
	assert_false(snap_entry_parse(".making-5-s1", &ns, name, sizeof(name)));
	assert_false(snap_entry_parse("s1", &ns, name, sizeof(name)));
	assert_false(snap_entry_parse("5-", &ns, name, sizeof(name)));
	assert_false(snap_entry_parse("5-.x", &ns, name, sizeof(name)));
	assert_false(snap_entry_parse("99999999999999999999999-x", &ns, name, sizeof(name)));
	assert_false(snap_entry_parse("5x-s1", &ns, name, sizeof(name)));
	/* a name longer than the caller's buffer is refused, not cut */
	char small[3];
	assert_false(snap_entry_parse("5-abc", &ns, small, sizeof(small)));
}

/* On tmpfs: snap_kind_of says why not, snap_create refuses and leaves nothing. */
static void test_refused_where_files_do_not_clone(void **state)
{
	struct statfs sf;
	if (statfs("/dev/shm", &sf) < 0 || sf.f_type != 0x01021994) {
		skip();
		return;
	}
	char ds[] = "/dev/shm/snapstore-test.XXXXXX";
	assert_non_null(mkdtemp(ds));
	char g[PATH_MAX], why[512], err[512], top[PATH_MAX];
	snprintf(g, sizeof(g), "%s/g1", ds);
	assert_int_equal(mkdir(g, 0700), 0);
	assert_int_equal(snap_kind_of(g, why, sizeof(why)), SNAP_NONE);
	assert_non_null(strstr(why, "tmpfs, which cannot clone files"));
	assert_int_equal(snap_create(ds, "g1", g, "s1", err, sizeof(err)), -EOPNOTSUPP);
	snprintf(top, sizeof(top), "%s/" SNAPSTORE_DIR, ds);
	struct stat st;
	assert_int_equal(stat(top, &st), -1); /* nothing made */
	assert_int_equal(snap_create(ds, "g1", g, "bad/name", err, sizeof(err)), -EINVAL);
	/* listing a guest with no snapshots: none, no error */
	struct snap *v = (struct snap *)1;
	size_t n = 7;
	assert_int_equal(snap_list(ds, "g1", &v, &n), 0);
	assert_int_equal(n, 0);
	assert_null(v);
	/* removing what is not there is not an error (vm destroy of a guest never snapshotted) */
	assert_int_equal(snap_destroy_all(ds, "g1", err, sizeof(err)), 0);
	assert_int_equal(snap_rename_guest(ds, "g1", "g2", err, sizeof(err)), 0);
	/* snap_remove_tree takes a whole folder with what is in it */
	char f[PATH_MAX + 16];
	snprintf(f, sizeof(f), "%s/sub", g);
	assert_int_equal(mkdir(f, 0700), 0);
	snprintf(f, sizeof(f), "%s/sub/x", g);
	FILE *fp = fopen(f, "w");
	assert_non_null(fp);
	fclose(fp);
	snprintf(f, sizeof(f), "%s/link", g);
	assert_int_equal(symlink("/etc/passwd", f), 0);
	assert_int_equal(snap_remove_tree(g), 0);
	assert_int_equal(stat(g, &st), -1);
	assert_int_equal(stat("/etc/passwd", &st), 0); /* a link is removed, never followed */
	assert_int_equal(rmdir(ds), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_snapshot_names),
	    cmocka_unit_test(test_entry_names),
	    cmocka_unit_test(test_refused_where_files_do_not_clone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
