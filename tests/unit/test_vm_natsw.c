/* SPDX-License-Identifier: BSD-2-Clause */
/* natsw's pure parts: the DHCP range of a switch address, the nftables table name and ruleset.
 * nft and dnsmasq themselves run in tests/vm/switch-nat.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vm/natsw.h"

static void expect_range(const char *cidr, const char *first, const char *last)
{
	struct nat_plan p;
	char err[256], a[16], b[16];
	assert_int_equal(nat_plan(cidr, &p, err, sizeof(err)), 0);
	nat_ip_text(p.first, a);
	nat_ip_text(p.last, b);
	assert_string_equal(a, first);
	assert_string_equal(b, last);
	/* never the switch's own address, never outside the subnet */
	assert_false(p.addr >= p.first && p.addr <= p.last);
	assert_int_equal(p.first & p.mask, p.net);
	assert_int_equal(p.last & p.mask, p.net);
}

static void test_dhcp_ranges(void **state)
{
	expect_range("10.0.0.1/24", "10.0.0.10", "10.0.0.254");
	expect_range("192.168.8.1/16", "192.168.8.2", "192.168.255.254");
	expect_range("172.16.0.1/16", "172.16.0.10", "172.16.255.254");
	/* the switch address inside the range: the larger side is kept */
	expect_range("10.0.0.100/24", "10.0.0.101", "10.0.0.254");
	expect_range("10.0.0.200/24", "10.0.0.10", "10.0.0.199");
	expect_range("10.0.0.254/24", "10.0.0.10", "10.0.0.253");
	/* small subnets start at the first host */
	expect_range("10.0.0.1/28", "10.0.0.2", "10.0.0.14");
	expect_range("10.0.0.1/30", "10.0.0.2", "10.0.0.2");
	struct nat_plan p;
	char err[256];
	assert_int_equal(nat_plan("10.0.0.1/24", &p, err, sizeof(err)), 0);
	assert_int_equal(p.prefix, 24);
	assert_true(p.net == 0x0a000000u);
	assert_true(p.mask == 0xffffff00u);
}

static void test_bad_addresses(void **state)
{
	struct nat_plan p;
	char err[256];
	static const char *const bad[] = { "10.0.0.1/31", "10.0.0.1/32", "10.0.0.1", "10.0.0.1/",
					   "10.0.0.1/x", "10.0.0.1/33", "10.0.0/24", "fe80::1/64",
					   "10.0.0.1/4", "" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(nat_plan(bad[i], &p, err, sizeof(err)), -EINVAL);
		assert_true(err[0] != '\0');
		assert_null(strchr(err, '\n'));
	}
}

static void test_table_names(void **state)
{
	char a[64], b[64], c[64];
	nat_table_name("public", a);
	assert_int_equal(strncmp(a, "kbhyve_nat_public_", 18), 0);
	assert_int_equal(strlen(a), 18 + 8);
	/* names nft would not take are cleaned, and the hash keeps them apart */
	nat_table_name("a.b", b);
	nat_table_name("a_b", c);
	assert_int_equal(strncmp(b, "kbhyve_nat_a_b_", 15), 0);
	assert_string_not_equal(b, c);
	for (const char *q = b; *q; q++)
		assert_non_null(strchr("abcdefghijklmnopqrstuvwxyz0123456789_", *q));
	/* the longest switch name fits */
	nat_table_name("abcdefghijklmnopqrstuvwxyz01234", a);
	assert_true(strlen(a) < 64);
}

static void test_ruleset(void **state)
{
	struct nat_plan p;
	char err[256];
	assert_int_equal(nat_plan("10.66.0.1/24", &p, err, sizeof(err)), 0);
	char *r = nat_ruleset("kbhyve_nat_lan_12345678", "vm-lan", &p);
	assert_non_null(r);
	/* replaces a table of the same name in one transaction, touches no other */
	assert_non_null(strstr(r, "table ip kbhyve_nat_lan_12345678\ndelete table ip kbhyve_nat_lan_12345678\n"));
	assert_non_null(strstr(r, "type nat hook postrouting priority srcnat; policy accept;"));
	assert_non_null(strstr(r, "ip saddr 10.66.0.0/24 ip daddr != 10.66.0.0/24 oifname != \"vm-lan\" masquerade"));
	assert_null(strstr(r, "flush ruleset"));
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dhcp_ranges),
	    cmocka_unit_test(test_bad_addresses),
	    cmocka_unit_test(test_table_names),
	    cmocka_unit_test(test_ruleset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
