/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for names and identifiers (src/vm/names.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "vm/names.h"

static void test_guest_names(void **state)
{
	assert_true(guest_name_valid("ab"));
	assert_true(guest_name_valid("debian-12.vm_1"));
	assert_true(guest_name_valid("0x"));
	assert_false(guest_name_valid(""));
	assert_false(guest_name_valid("a"));
	/* vm-bhyve checks with egrep -i: upper case is a valid guest name */
	assert_true(guest_name_valid("Abc"));
	assert_true(guest_name_valid("Win10"));
	assert_false(guest_name_valid("Win10-"));
	assert_false(guest_name_valid("-ab"));
	assert_false(guest_name_valid("ab-"));
	assert_false(guest_name_valid("ab."));
	assert_false(guest_name_valid(".ab"));
	assert_false(guest_name_valid("a b"));
	assert_false(guest_name_valid("a/b"));
	assert_false(guest_name_valid(".."));
	char n[240];
	memset(n, 'a', 231);
	n[231] = '\0';
	assert_true(guest_name_valid(n));
	n[231] = 'a';
	n[232] = '\0';
	assert_false(guest_name_valid(n));
}

static void test_switch_and_if_names(void **state)
{
	assert_true(switch_name_valid("public"));
	assert_true(switch_name_valid("Lan_2x"));
	/* vm-bhyve takes '-', '.' and names longer than 12 (wild system.conf: public-10) */
	assert_true(switch_name_valid("public-10"));
	assert_true(switch_name_valid("lan.5"));
	assert_true(switch_name_valid("abcdefghijkl"));
	assert_true(switch_name_valid("abcdefghijklm"));
	assert_true(switch_name_valid("abcdefghijklmnopqrstuvwxyz01234")); /* 31 */
	assert_false(switch_name_valid("abcdefghijklmnopqrstuvwxyz012345"));
	assert_false(switch_name_valid(""));
	assert_false(switch_name_valid("-a"));
	assert_false(switch_name_valid(".a"));
	assert_false(switch_name_valid(".."));
	assert_false(switch_name_valid("a b"));
	assert_false(switch_name_valid("a/b"));
	assert_false(switch_name_valid("a~b"));
	assert_false(switch_name_valid("a#b"));
	assert_true(datastore_name_valid("my-ds.2"));
	assert_false(datastore_name_valid("my ds"));
	assert_true(ifname_valid("eth0"));
	assert_true(ifname_valid("vmt-g1-0"));
	assert_true(ifname_valid("abcdefghijklmno"));
	assert_false(ifname_valid("abcdefghijklmnop"));
	assert_false(ifname_valid(""));
	assert_false(ifname_valid("."));
	assert_false(ifname_valid(".."));
	assert_false(ifname_valid("a/b"));
	assert_false(ifname_valid("a:b"));
	assert_false(ifname_valid("a b"));
	/* review 16: the kernel turns "vm%d" into vm0, vm1, ... */
	assert_false(ifname_valid("vm%d"));
	assert_false(ifname_valid("%"));
}

static void test_mac(void **state)
{
	char a[18], b[18], c[18], d[18];
	mac_generate("g1", 0, 1234, a);
	mac_generate("g1", 0, 1234, b);
	mac_generate("g1", 1, 1234, c);
	mac_generate("g2", 0, 1234, d);
	assert_string_equal(a, b); /* a function of its inputs */
	assert_string_not_equal(a, c);
	assert_string_not_equal(a, d);
	assert_int_equal(strncmp(a, "58:9c:fc:0", 10), 0);
	assert_true(mac_valid(a));
	assert_true(mac_valid(c));
	assert_true(mac_valid("AA:bb:cc:dd:ee:ff"));
	assert_false(mac_valid("01:00:5e:00:00:01")); /* multicast */
	assert_false(mac_valid("58:9c:fc:00:00"));
	assert_false(mac_valid("58-9c-fc-00-00-00"));
	assert_false(mac_valid("58:9c:fc:00:00:0g"));
	assert_false(mac_valid("58:9c:fc:00:00:000"));
}

static void test_uuid(void **state)
{
	char a[37], b[37];
	assert_int_equal(uuid_generate(a), 0);
	assert_int_equal(uuid_generate(b), 0);
	assert_string_not_equal(a, b);
	assert_true(uuid_valid(a));
	assert_int_equal(a[14], '4');
	assert_non_null(strchr("89ab", a[19]));
	assert_true(uuid_valid("5A1F0E2C-3B4D-4E6F-8A9B-0C1D2E3F4A5B"));
	assert_false(uuid_valid("5a1f0e2c-3b4d-4e6f-8a9b-0c1d2e3f4a5"));
	assert_false(uuid_valid("5a1f0e2c33b4d-4e6f-8a9b-0c1d2e3f4a5b"));
	assert_false(uuid_valid("za1f0e2c-3b4d-4e6f-8a9b-0c1d2e3f4a5b"));
}

static void test_tap_and_bridge(void **state)
{
	char t[16], u[16];
	tap_name("g1", 0, t);
	assert_string_equal(t, "vmt-g1-0");
	tap_name("abcdefgh", 12, t); /* "vmt-abcdefgh-12" is exactly 15 */
	assert_string_equal(t, "vmt-abcdefgh-12");
	tap_name("abcdefghi", 12, t);
	assert_int_equal(strlen(t), 15);
	assert_int_equal(strncmp(t, "vmt-", 4), 0);
	tap_name("abcdefghi", 12, u);
	assert_string_equal(t, u); /* the same every start */
	tap_name("abcdefghj", 12, u);
	assert_string_not_equal(t, u);
	assert_true(ifname_valid(t));
	bridge_name("public", t);
	assert_string_equal(t, "vm-public");
	bridge_name("abcdefghijkl", t);
	assert_string_equal(t, "vm-abcdefghijkl");
	bridge_name("public-10", t);
	assert_string_equal(t, "vm-public-10");
	/* longer names: a hashed name that fits, is stable, differs per name, and contains '~',
	 * which no switch name does, so it can never be another switch's plain vm-<name> */
	bridge_name("abcdefghijklm", t);
	assert_true(ifname_valid(t));
	assert_int_equal(strlen(t), 15);
	assert_int_equal(strncmp(t, "vm-abcd~", 8), 0);
	bridge_name("abcdefghijklm", u);
	assert_string_equal(t, u);
	bridge_name("abcdefghijkln", u);
	assert_string_not_equal(t, u);
	bridge_name("abcdefghijklmnopqrstuvwxyz01234", u);
	assert_true(ifname_valid(u));
	assert_string_not_equal(t, u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_guest_names),
	    cmocka_unit_test(test_switch_and_if_names),
	    cmocka_unit_test(test_mac),
	    cmocka_unit_test(test_uuid),
	    cmocka_unit_test(test_tap_and_bridge),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
