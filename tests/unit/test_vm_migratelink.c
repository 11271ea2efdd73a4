/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for vm migrate's line to the other host (src/vm/migratelink.c), with a pipe pair in
 * place of ssh, and for the host:port split the migration connection uses (src/ctl/migconnect.c).
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ctl/migconnect.h"
#include "vm/migratelink.h"

static void test_words(void **state)
{
	assert_true(migratelink_word_ok("alpha"));
	assert_true(migratelink_word_ok("root@host-2.example.org"));
	assert_true(migratelink_word_ok("fe80::1"));
	assert_true(migratelink_word_ok("debian-12.vm_1"));
	assert_false(migratelink_word_ok(""));
	assert_false(migratelink_word_ok("-oProxyCommand=x")); /* an ssh option, not a host */
	assert_false(migratelink_word_ok("a;b"));	       /* the remote shell's */
	assert_false(migratelink_word_ok("a b"));
	assert_false(migratelink_word_ok("$(id)"));
	assert_false(migratelink_word_ok("a/b"));
	char long_word[300];
	memset(long_word, 'a', sizeof(long_word) - 1);
	long_word[sizeof(long_word) - 1] = '\0';
	assert_false(migratelink_word_ok(long_word));
}

static void test_hostport(void **state)
{
	char host[64];
	const char *port;
	assert_int_equal(migrate_hostport("host:7400", host, sizeof(host), &port), 0);
	assert_string_equal(host, "host");
	assert_string_equal(port, "7400");
	assert_int_equal(migrate_hostport("7400", host, sizeof(host), &port), 0);
	assert_string_equal(host, "");
	assert_string_equal(port, "7400");
	assert_int_equal(migrate_hostport("[fe80::1]:22", host, sizeof(host), &port), 0);
	assert_string_equal(host, "fe80::1");
	assert_string_equal(port, "22");
	assert_int_equal(migrate_hostport("10.0.0.1:", host, sizeof(host), &port), 0);
	assert_string_equal(port, "");
	char small[4];
	assert_int_equal(migrate_hostport("longhost:1", small, sizeof(small), &port), -EINVAL);
	char err[256];
	assert_int_equal(migrate_connect("7400", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "<host>:<port>"));
	assert_int_equal(migrate_connect("host:", err, sizeof(err)), -EINVAL);
}

/* A link whose "ssh" is a pipe we write the other side's output into. */
static void link_on_pipe(struct migratelink *l, int *other)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	memset(l, 0, sizeof(*l));
	l->ssh = -1;
	l->to = -1;
	l->from = p[0];
	*other = p[1];
}

static void test_expect_lines(void **state)
{
	struct migratelink l;
	int w;
	link_on_pipe(&l, &w);
	/* the other side's own lines are passed on; a tag line for another word is skipped */
	const char *out = "Starting mu\n" MIGRATELINK_TAG " copied\n" MIGRATELINK_TAG
			  " listen 7401\n" MIGRATELINK_TAG " running\n";
	assert_int_equal(write(w, out, strlen(out)), (ssize_t)strlen(out));
	char rest[64];
	assert_int_equal(migratelink_expect(&l, "listen", rest, sizeof(rest), 1000), 0);
	assert_string_equal(rest, "7401");
	assert_int_equal(migratelink_expect(&l, "running", rest, sizeof(rest), 1000), 0);
	assert_string_equal(rest, "");
	/* a word that only starts the same is not it */
	const char *more = MIGRATELINK_TAG " listening 1\n";
	assert_int_equal(write(w, more, strlen(more)), (ssize_t)strlen(more));
	assert_int_equal(migratelink_expect(&l, "listen", rest, sizeof(rest), 200), -1);
	assert_non_null(strstr(l.why, "no answer"));
	/* the other side goes: the link says so */
	close(w);
	assert_int_equal(migratelink_expect(&l, "running", rest, sizeof(rest), 1000), -1);
	assert_non_null(strstr(l.why, "closed"));
	migratelink_close(&l);
}

static void test_expect_long_line(void **state)
{
	struct migratelink l;
	int w;
	link_on_pipe(&l, &w);
	/* a line longer than the buffer is dropped, not taken for a tag line */
	char junk[3000];
	memset(junk, 'x', sizeof(junk));
	assert_int_equal(write(w, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	const char *tail = "\n" MIGRATELINK_TAG " listen 7402\n";
	assert_int_equal(write(w, tail, strlen(tail)), (ssize_t)strlen(tail));
	close(w);
	char rest[64];
	FILE *saved = stdout;
	stdout = fopen("/dev/null", "w"); /* the junk goes to our output as the other side's */
	int r = migratelink_expect(&l, "listen", rest, sizeof(rest), 1000);
	fclose(stdout);
	stdout = saved;
	assert_int_equal(r, 0);
	assert_string_equal(rest, "7402");
	migratelink_close(&l);
}

static void test_send_closed(void **state)
{
	struct migratelink l;
	int p[2];
	assert_int_equal(pipe(p), 0);
	memset(&l, 0, sizeof(l));
	l.ssh = -1;
	l.from = -1;
	l.to = p[1];
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(migratelink_send_conf(&l, "cpu=1\n", 6), -1);
	assert_non_null(strstr(l.why, "closed"));
	migratelink_close(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_words),	 cmocka_unit_test(test_hostport),
	    cmocka_unit_test(test_expect_lines), cmocka_unit_test(test_expect_long_line),
	    cmocka_unit_test(test_send_closed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
