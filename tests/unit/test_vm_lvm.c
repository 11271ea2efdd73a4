/* SPDX-License-Identifier: BSD-2-Clause */
/* lvm's pure parts: LVM names, lvm:VG/POOL, and which link targets are vm's own thin volumes
 * (only those are ever removed). The volumes themselves are made in the test bed's L1
 * (tests/testbed/in-l1-vm.sh), where device-mapper runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "vm/lvm.h"

static void test_names(void **state)
{
	assert_true(lvm_name_valid("kbvg"));
	assert_true(lvm_name_valid("vm+0123456789ab+disk0.img"));
	assert_true(lvm_name_valid("a_b.c-d+e"));
	assert_false(lvm_name_valid(""));
	assert_false(lvm_name_valid("-x"));
	assert_false(lvm_name_valid("."));
	assert_false(lvm_name_valid(".."));
	assert_false(lvm_name_valid("a/b"));
	assert_false(lvm_name_valid("a b"));
	assert_false(lvm_name_valid("pool_tmeta"));
	assert_false(lvm_name_valid("mysnapshot"));
	char l[200];
	memset(l, 'a', 128);
	l[128] = '\0';
	assert_false(lvm_name_valid(l));
	l[127] = '\0';
	assert_true(lvm_name_valid(l));
}

static void test_specs(void **state)
{
	char vg[LVM_NAME_MAX + 1], pool[LVM_NAME_MAX + 1], err[256];
	assert_int_equal(lvm_spec_parse("lvm:kbvg/pool", vg, pool, err, sizeof(err)), 0);
	assert_string_equal(vg, "kbvg");
	assert_string_equal(pool, "pool");
	static const char *const bad[] = { "kbvg/pool", "lvm:", "lvm:kbvg", "lvm:/pool", "lvm:kbvg/",
					   "lvm:kb vg/pool", "lvm:kbvg/po/ol", "zfs:tank/vm", "lvm:-vg/pool" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (lvm_spec_parse(bad[i], vg, pool, err, sizeof(err)) != -EINVAL)
			fail_msg("'%s' was taken", bad[i]);
		assert_true(err[0] != '\0');
	}
}

static void test_link_targets(void **state)
{
	char vg[LVM_NAME_MAX + 1], lv[LVM_NAME_MAX + 1];
	assert_true(lvm_link_target("/dev/kbvg/vm+0123456789ab+disk0.img", vg, lv));
	assert_string_equal(vg, "kbvg");
	assert_string_equal(lv, "vm+0123456789ab+disk0.img");
	/* not vm's: any other volume, device or path is never taken for one */
	assert_false(lvm_link_target("/dev/kbvg/root", vg, lv));
	assert_false(lvm_link_target("/dev/sda", vg, lv));
	assert_false(lvm_link_target("/dev/mapper/vm+x", vg, lv));
	assert_false(lvm_link_target("/dev/kbvg/sub/vm+x", vg, lv));
	assert_false(lvm_link_target("/srv/kbvg/vm+x", vg, lv));
	assert_false(lvm_link_target("dev/kbvg/vm+x", vg, lv));
	assert_false(lvm_link_target("/dev/kbvg/vm+a b", vg, lv));
	assert_false(lvm_link_target("/dev//vm+x", vg, lv));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_specs),
	    cmocka_unit_test(test_link_targets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
