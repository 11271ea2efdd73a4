/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for the guest cgroups (src/vm/cgroup.c): vm-bhyve's limit_* keys and their refusals,
 * memory.max's margin, the disk under a path, and what cg_setup says on a hierarchy without
 * controllers (a plain folder standing in for it). The kernel's own cgroups are tested in the
 * test bed (tests/testbed/in-l1-cgroup.sh). */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "vm/cgroup.h"

static char E[512];

static int parse(const char *text, struct cg_limits *l)
{
	struct vmconf *c;
	char perr[128];
	assert_int_equal(vmconf_parse(&c, text, "g.conf", perr, sizeof(perr)), 0);
	E[0] = '\0';
	int r = cg_limits_parse(c, l, E, sizeof(E));
	vmconf_free(c);
	return r;
}

static void expect_bad(const char *text, const char *needle)
{
	struct cg_limits l;
	assert_int_equal(parse(text, &l), -EINVAL);
	if (!strstr(E, needle))
		fail_msg("'%s': error '%s' does not name '%s'", text, E, needle);
	assert_null(strchr(E, '\n'));
}

static void test_limits(void **state)
{
	struct cg_limits l;
	/* vm-bhyve's sample config: every key empty, nothing limited */
	assert_int_equal(parse("limit_pcpu=\"\"\nlimit_rbps=\"\"\nlimit_wbps=\"\"\nlimit_riops=\"\"\n"
			       "limit_wiops=\"\"\n",
			       &l),
			 0);
	assert_int_equal(l.pcpu, 0);
	assert_true(l.rbps == 0 && l.wbps == 0 && l.riops == 0 && l.wiops == 0);
	assert_int_equal(l.memory_max, 0);
	assert_int_equal(parse("limit_pcpu=\"50\"\nlimit_wbps=\"2M\"\nlimit_rbps=\"100k\"\n"
			       "limit_riops=\"500\"\nlimit_wiops=\"250\"\nmemory=\"1G\"\n",
			       &l),
			 0);
	assert_int_equal(l.pcpu, 50);
	assert_int_equal(l.wbps, 2 * 1024 * 1024);
	assert_int_equal(l.rbps, 100 * 1024);
	assert_int_equal(l.riops, 500);
	assert_int_equal(l.wiops, 250);
	assert_int_equal(l.memory_max, cg_memory_max(1ULL << 30));
	/* two CPUs' worth */
	assert_int_equal(parse("limit_pcpu=\"200\"\n", &l), 0);
	assert_int_equal(l.pcpu, 200);
	/* memory as bhyve's -m reads a bare number: MiB */
	assert_int_equal(parse("memory=\"512\"\n", &l), 0);
	assert_int_equal(l.memory_max, cg_memory_max(512ULL << 20));

	expect_bad("limit_pcpu=\"fifty\"\n", "limit_pcpu=\"fifty\"");
	expect_bad("limit_pcpu=\"0\"\n", "percentage");
	expect_bad("limit_pcpu=\"-5\"\n", "percentage");
	expect_bad("limit_pcpu=\"50%\"\n", "percentage");
	expect_bad("limit_pcpu=\"100001\"\n", "percentage");
	expect_bad("limit_wbps=\"lots\"\n", "limit_wbps=\"lots\"");
	expect_bad("limit_riops=\"-1\"\n", "limit_riops");
	expect_bad("limit_rbps=\"0\"\n", "limit_rbps");
}

static void test_memory_margin(void **state)
{
	/* RAM + 256 MiB + RAM/8 */
	assert_int_equal(cg_memory_max(0), 256ULL << 20);
	assert_int_equal(cg_memory_max(1ULL << 30), (1ULL << 30) + (256ULL << 20) + (128ULL << 20));
	assert_true(cg_memory_max(64ULL << 30) > (64ULL << 30) + (8ULL << 30));
}

static void test_paths_and_disks(void **state)
{
	char p[PATH_MAX], dev[32];
	assert_int_equal(cg_guest_path("/sys/fs/cgroup", "g1", p, sizeof(p)), 0);
	assert_string_equal(p, "/sys/fs/cgroup/kbhyve.slice/g1");
	char longname[PATH_MAX];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(cg_guest_path("/sys/fs/cgroup", longname, p, sizeof(p)), -ENAMETOOLONG);
	/* a file on a file system without a disk of its own (procfs), a missing file */
	assert_int_equal(cg_disk_of("/proc/self/status", dev), -ENODEV);
	assert_int_equal(cg_disk_of("/nonexistent/disk.img", dev), -ENOENT);
	/* a file on a disk's file system: that disk (or, for a partition, its whole disk) */
	struct stat st;
	assert_int_equal(stat("/usr/bin", &st), 0);
	char sys[64];
	snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u", major(st.st_dev), minor(st.st_dev));
	if (major(st.st_dev) == 0 || access(sys, F_OK) < 0) {
		print_message("/usr is on no disk here (%u:%u): the disk case is not checked\n",
			      major(st.st_dev), minor(st.st_dev));
		return;
	}
	assert_int_equal(cg_disk_of("/usr/bin", dev), 0);
	char part[80];
	snprintf(part, sizeof(part), "%s/partition", sys);
	if (access(part, F_OK) < 0) {
		snprintf(p, sizeof(p), "%u:%u", major(st.st_dev), minor(st.st_dev));
		assert_string_equal(dev, p);
	} else {
		snprintf(p, sizeof(p), "%u:%u", major(st.st_dev), minor(st.st_dev));
		assert_string_not_equal(dev, p);
	}
}

static char notes[2048];
static void note(void *ctx, const char *line)
{
	size_t l = strlen(notes);
	snprintf(notes + l, sizeof(notes) - l, "%s\n", line);
}

/* a folder with no controllers: the cgroup folders are made, each limit asked for is named as not
 * applied, memory.max (not asked for) silently left */
static void test_setup_without_controllers(void **state)
{
	char root[] = "/tmp/cgroot.XXXXXX", path[PATH_MAX];
	assert_non_null(mkdtemp(root));
	struct cg_limits l = {.pcpu = 50, .wbps = 1 << 20, .memory_max = 1 << 30};
	char *disks[] = {"/proc/self/status", NULL};
	notes[0] = '\0';
	assert_int_equal(cg_setup(root, "g1", &l, disks, note, NULL, path, sizeof(path), E,
				  sizeof(E)),
			 0);
	char want[PATH_MAX];
	snprintf(want, sizeof(want), "%s/kbhyve.slice/g1", root);
	assert_string_equal(path, want);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_non_null(strstr(notes, "limit_pcpu=50: no cpu controller"));
	assert_non_null(strstr(notes, "no io controller"));
	assert_null(strstr(notes, "memory"));
	/* a later run starts afresh; a cgroup that cannot be emptied is an error */
	notes[0] = '\0';
	struct cg_limits none = {0};
	assert_int_equal(cg_setup(root, "g1", &none, NULL, note, NULL, path, sizeof(path), E,
				  sizeof(E)),
			 0);
	assert_string_equal(notes, "");
	char f[PATH_MAX + 16];
	snprintf(f, sizeof(f), "%s/leftover", path);
	FILE *fp = fopen(f, "w");
	assert_non_null(fp);
	fclose(fp);
	assert_true(cg_setup(root, "g1", &none, NULL, note, NULL, path, sizeof(path), E,
			     sizeof(E)) < 0);
	assert_non_null(strstr(E, "g1"));
	unlink(f);
	cg_remove(path);
	assert_int_equal(stat(path, &st), -1);
	snprintf(f, sizeof(f), "%s/kbhyve.slice", root);
	rmdir(f);
	rmdir(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_memory_margin),
	    cmocka_unit_test(test_paths_and_disks),
	    cmocka_unit_test(test_setup_without_controllers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
