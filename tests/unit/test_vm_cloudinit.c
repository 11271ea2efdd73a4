/* SPDX-License-Identifier: BSD-2-Clause */
/* cloudinit's pure parts: vm-bhyve's -n syntax, public keys (and what is not one), user names,
 * and the seed's texts. The ISO itself is built and read back in tests/vm/provision.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vm/cloudinit.h"

#define KEY "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC192BBho9oe9U/q3Uga+ErOO/nCUfemMVzQTwUfx72P"

static void test_net(void **state)
{
	struct ci_net n;
	char err[256];
	assert_int_equal(ci_parse_net("ip=10.0.0.2/24;gateway=10.0.0.1;nameservers=1.1.1.1,8.8.8.8", &n, err, sizeof(err)), 0);
	assert_string_equal(n.ip, "10.0.0.2/24");
	assert_string_equal(n.gateway, "10.0.0.1");
	assert_int_equal(n.nns, 2);
	assert_string_equal(n.ns[1], "8.8.8.8");
	assert_string_equal(n.hostname, "");
	assert_int_equal(ci_parse_net("hostname=web-1;", &n, err, sizeof(err)), 0);
	assert_string_equal(n.hostname, "web-1");
	static const char *const bad[] = { "", ";", "ip=10.0.0.2", "ip=10.0.0.2/33", "ip=10.0.0/24", "ip=10.0.0.2/24x",
					   "gateway=10.0.0.1", "ip=10.0.0.2/24;gateway=x", "nameservers=1.1.1.1,,2.2.2.2",
					   "nameservers=1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,5.5.5.5", "hostname=-a",
					   "hostname=a.b", "dns=1.1.1.1", "ip", "ip=10.0.0.2/24\nx=1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (ci_parse_net(bad[i], &n, err, sizeof(err)) != -EINVAL)
			fail_msg("'%s' was taken", bad[i]);
		assert_true(err[0] != '\0');
	}
}

static void test_keys(void **state)
{
	char **k;
	int n;
	char err[256];
	assert_int_equal(ci_parse_keys("# mine\n\n" KEY " me@host\r\n" KEY "\n", &k, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_string_equal(k[0], KEY " me@host");
	assert_string_equal(k[1], KEY);
	ci_free_keys(k, n);
	static const struct {
		const char *text, *why;
	} bad[] = {
		{ "", "no SSH public key" },
		{ "# only a comment\n", "no SSH public key" },
		{ "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n", "private key" },
		{ "ssh-rsa " "AAAAC3NzaC1lZDI1NTE5AAAAIC192BBho9oe9U/q3Uga+ErOO/nCUfemMVzQTwUfx72P\n", "line 1 is not" },
		{ KEY "\nssh-ed25519 notbase64!!!!!!!!!!!!!!\n", "line 2 is not" },
		{ "ssh-foo AAAAC3NzaC1lZDI1NTE5AAAAIC192BBho9oe9U/q3Uga+ErOO/nCUfemMVzQTwUfx72P\n", "line 1 is not" },
		{ "from=\"10.0.0.1\" " KEY "\n", "line 1 is not" },
		{ KEY " a\x01" "b\n", "line 1 is not" },
		{ "ssh-ed25519\n", "line 1 is not" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(ci_parse_keys(bad[i].text, &k, &n, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].why))
			fail_msg("case %zu: '%s' does not say '%s'", i, err, bad[i].why);
		assert_null(k);
	}
}

static void test_users(void **state)
{
	assert_true(ci_user_valid("admin"));
	assert_true(ci_user_valid("_svc-1"));
	assert_false(ci_user_valid("root"));
	assert_false(ci_user_valid(""));
	assert_false(ci_user_valid("Admin"));
	assert_false(ci_user_valid("1user"));
	assert_false(ci_user_valid("a b"));
	assert_false(ci_user_valid("abcdefghijklmnopqrstuvwxyz0123456789"));
}

static void test_texts(void **state)
{
	char *m = ci_meta_data("d4b05bbd-c4eb-492d-97ba-fb643e2c9672", "web1");
	assert_string_equal(m, "instance-id: d4b05bbd-c4eb-492d-97ba-fb643e2c9672\nlocal-hostname: web1\n");
	free(m);
	char *keys[] = { KEY " a \"b\" \\c" };
	char *u = ci_user_data(keys, 1, NULL);
	assert_string_equal(u, "#cloud-config\nresize_rootfs: True\nmanage_etc_hosts: localhost\n"
			       "ssh_authorized_keys:\n  - \"" KEY " a \\\"b\\\" \\\\c\"\n");
	free(u);
	u = ci_user_data(NULL, 0, NULL);
	assert_string_equal(u, "#cloud-config\nresize_rootfs: True\nmanage_etc_hosts: localhost\n");
	free(u);
	u = ci_user_data(keys, 1, "admin");
	assert_non_null(strstr(u, "users:\n  - default\n  - name: admin\n"));
	assert_non_null(strstr(u, "    ssh_authorized_keys:\n      - \"" KEY));
	free(u);
	struct ci_net n;
	char err[256];
	assert_int_equal(ci_parse_net("ip=10.0.0.5/24;gateway=10.0.0.1;nameservers=1.1.1.1", &n, err, sizeof(err)), 0);
	char *c = ci_network_config("58:9c:fc:00:00:01", &n);
	assert_string_equal(c, "version: 2\nethernets:\n  id0:\n    set-name: eth0\n    match:\n"
			       "      macaddress: \"58:9c:fc:00:00:01\"\n    addresses:\n      - 10.0.0.5/24\n"
			       "    routes:\n      - to: 0.0.0.0/0\n        via: 10.0.0.1\n"
			       "    nameservers:\n      search: []\n      addresses: [1.1.1.1]\n");
	free(c);
	assert_int_equal(ci_parse_net("hostname=x", &n, err, sizeof(err)), 0);
	c = ci_network_config("58:9c:fc:00:00:01", &n);
	assert_non_null(strstr(c, "    dhcp4: true\n"));
	assert_null(strstr(c, "addresses"));
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_net),
	    cmocka_unit_test(test_keys),
	    cmocka_unit_test(test_users),
	    cmocka_unit_test(test_texts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
