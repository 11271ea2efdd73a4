/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for showing conf values on a terminal (src/vm/termsafe.c, review finding 16). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vm/termsafe.h"

static const char *safe(const char *s)
{
	static char out[256];
	return term_safe(s, out, sizeof(out));
}

static void test_plain_and_utf8_kept(void **state)
{
	assert_string_equal(safe(""), "");
	assert_string_equal(safe("2G"), "2G");
	assert_string_equal(safe("a \\ b ~"), "a \\ b ~");
	assert_string_equal(safe("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xa7"),
			    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xa7");
	assert_string_equal(safe("\xc2\xa0nbsp"), "\xc2\xa0nbsp"); /* U+00A0 is printable */
}

static void test_controls_escaped(void **state)
{
	/* the review's value: a title change, a bell and a screen clear */
	assert_string_equal(safe("1\033]0;owned\007\033[2J"), "1\\033]0;owned\\007\\033[2J");
	assert_string_equal(safe("a\tb\nc\rd\x7f"), "a\\011b\\012c\\015d\\177");
	/* C1 controls as UTF-8 (U+009B is CSI on many terminals) */
	assert_string_equal(safe("\xc2\x9b"
				 "2J"),
			    "\\302\\2332J");
	assert_string_equal(safe("\xc2\x80"), "\\302\\200");
}

static void test_invalid_utf8_escaped(void **state)
{
	assert_string_equal(safe("\x9b"), "\\233"); /* 8-bit CSI */
	assert_string_equal(safe("\xff\xfe"), "\\377\\376");
	assert_string_equal(safe("\xc0\xaf"), "\\300\\257");		       /* overlong '/' */
	assert_string_equal(safe("\xed\xa0\x80"), "\\355\\240\\200");	       /* a surrogate */
	assert_string_equal(safe("\xf4\x90\x80\x80"), "\\364\\220\\200\\200"); /* > U+10FFFF */
	assert_string_equal(safe("x\xe2\x82"), "x\\342\\202"); /* cut short at the end */
}

static void test_truncation(void **state)
{
	char out[6];
	/* never half an escape or half a character */
	assert_string_equal(term_safe("ab\033c", out, sizeof(out)), "ab");
	assert_string_equal(term_safe("a\xc3\xa9\xc3\xa9\xc3\xa9", out, sizeof(out)),
			    "a\xc3\xa9\xc3\xa9");
	assert_string_equal(term_safe("abcdefgh", out, sizeof(out)), "abcde");
	char one[1] = {'x'};
	assert_string_equal(term_safe("abc", one, sizeof(one)), "");
}

static void test_fputs(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	term_safe_fputs("  cpu: 1\033[2J\n  memory: 2G\n", true, f);
	term_safe_fputs("x\ny", false, f);
	assert_int_equal(fclose(f), 0);
	assert_string_equal(text, "  cpu: 1\\033[2J\n  memory: 2G\nx\\012y");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain_and_utf8_kept),
	    cmocka_unit_test(test_controls_escaped),
	    cmocka_unit_test(test_invalid_utf8_escaped),
	    cmocka_unit_test(test_truncation),
	    cmocka_unit_test(test_fputs),
	};
	return cmocka_run_group_tests_name("termsafe", tests, NULL, NULL);
}
