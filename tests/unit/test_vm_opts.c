/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for the subcommand option parser (src/vm/opts.c): getopts(1) semantics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vm/opts.h"

static int parse(const char *spec, const char *vals[128], char **argv)
{
	int argc = 0;
	while (argv[argc])
		argc++;
	return vm_opts_parse("t", argc, argv, spec, "usage: t", vals);
}

static void test_forms(void **state)
{
	const char *v[128];
	char *a[] = {"create", "-ab", "-dX", "-d", "Y", "-s", "8G", "name", "-c", NULL};
	assert_int_equal(parse("abd:s:c:", v, a), 7);
	assert_string_equal(v['a'], "");
	assert_string_equal(v['b'], "");
	assert_string_equal(v['d'], "Y"); /* the last one wins */
	assert_string_equal(v['s'], "8G");
	assert_null(v['c']); /* after the first operand: not an option */
}

static void test_double_dash_and_lone_dash(void **state)
{
	const char *v[128];
	char *a[] = {"x", "-f", "--", "-g", NULL};
	assert_int_equal(parse("fg", v, a), 3);
	assert_null(v['g']);
	char *b[] = {"x", "-", NULL};
	assert_int_equal(parse("f", v, b), 1);
}

static void test_errors(void **state)
{
	const char *v[128];
	char *unknown[] = {"x", "-z", "n", NULL};
	assert_int_equal(parse("f", v, unknown), -1);
	char *missing[] = {"x", "-d", NULL};
	assert_int_equal(parse("d:", v, missing), -1);
	char *colon[] = {"x", "-:", NULL};
	assert_int_equal(parse("d:", v, colon), -1);
	/* a second parse in the same process starts afresh */
	char *ok[] = {"x", "-f", "n", NULL};
	assert_int_equal(parse("f", v, ok), 2);
	assert_non_null(v['f']);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_forms),
	    cmocka_unit_test(test_double_dash_and_lone_dash),
	    cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
