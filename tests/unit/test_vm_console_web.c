/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for vm console --web's reading of a VNC address (src/vm/cmd_console_web.c): the
 * console file's vnc= entry or the user's HOST:PORT, IPv4 and bracketed IPv6, wildcards turned
 * into the loopback, and everything else refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "vm/cmds.h"

static void good(const char *entry, const char *host, int port)
{
	char h[64];
	int p = 0;
	assert_int_equal(console_web_parse_vnc(entry, h, sizeof(h), &p), 0);
	assert_string_equal(h, host);
	assert_int_equal(p, port);
}

static void test_good(void **state)
{
	(void)state;
	good("127.0.0.1:5900", "127.0.0.1", 5900);
	good("192.168.1.20:5901", "192.168.1.20", 5901);
	good("0.0.0.0:5902", "127.0.0.1", 5902);
	good("[::1]:5903", "::1", 5903);
	good("[::]:5904", "::1", 5904);
	good("[fe80::1]:1", "fe80::1", 1);
	good("10.0.0.1:65535", "10.0.0.1", 65535);
}

static void test_bad(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", ":", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
		"127.0.0.1:59x", "127.0.0.1:-1", "localhost:5900", "::1:5900", "[::1]5900",
		"[::1:5900", "[]:5900", "[127.0.0.1]:5900x", "1.2.3:5900", "300.0.0.1:5900",
		"[0123456789abcdef0123456789abcdef0123456789abcdef0123456789]:1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char h[64];
		int p = 0;
		if (console_web_parse_vnc(bad[i], h, sizeof(h), &p) != -1)
			fail_msg("'%s' was accepted", bad[i]);
	}
	/* a host buffer too small for the address */
	char tiny[4];
	int p;
	assert_int_equal(console_web_parse_vnc("127.0.0.1:5900", tiny, sizeof(tiny), &p), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
