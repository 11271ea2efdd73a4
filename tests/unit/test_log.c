/* SPDX-License-Identifier: BSD-2-Clause */
/* kb_guest_log: the token bucket that keeps a guest from flooding the host log. The lines are
 * captured from the real stderr (fd 2 pointed at a temporary file). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"

struct capture {
	FILE *tmp;
	int saved;
};

static void capture_start(struct capture *c)
{
	c->tmp = tmpfile();
	assert_non_null(c->tmp);
	fflush(stderr);
	c->saved = dup(2);
	assert_true(c->saved >= 0);
	assert_true(dup2(fileno(c->tmp), 2) >= 0);
}

/* Stop capturing; the captured text (malloc'd, NUL-terminated). */
static char *capture_end(struct capture *c)
{
	fflush(stderr);
	dup2(c->saved, 2);
	close(c->saved);
	long n = ftell(c->tmp);
	assert_true(n >= 0);
	char *text = calloc(1, (size_t)n + 1);
	rewind(c->tmp);
	assert_int_equal(fread(text, 1, (size_t)n, c->tmp), (size_t)n);
	fclose(c->tmp);
	return text;
}

static unsigned count_lines(const char *s)
{
	unsigned n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_burst_then_suppressed(void **state)
{
	struct kb_ratelimit rl = {0};
	struct capture c;
	capture_start(&c);
	for (int i = 0; i < 10000; i++)
		kb_guest_log(&rl, "device x: bad ring %d", i);
	char *out = capture_end(&c);
	assert_int_equal(count_lines(out), KB_GUEST_LOG_BURST);
	assert_non_null(strstr(out, "bad ring 0\n"));
	assert_non_null(strstr(out, "bad ring 4\n"));
	assert_null(strstr(out, "bad ring 5\n"));
	free(out);
}

/* After the period a line passes again and says how many were dropped meanwhile; buckets are
 * independent (per device and kind). */
static void test_refill_and_summary(void **state)
{
	struct kb_ratelimit rl = {.burst = 2, .period_ms = 100}, other = {.burst = 1};
	struct capture c;
	capture_start(&c);
	for (int i = 0; i < 50; i++)
		kb_guest_log(&rl, "storm %d", i);
	kb_guest_log(&other, "another kind");
	usleep(120 * 1000);
	kb_guest_log(&rl, "after the pause");
	kb_guest_log(&rl, "dropped again");
	char *out = capture_end(&c);
	assert_int_equal(count_lines(out), 4);
	assert_non_null(strstr(out, "storm 1\n"));
	assert_non_null(strstr(out, "another kind\n"));
	assert_non_null(strstr(out, "after the pause (48 similar lines suppressed)\n"));
	assert_null(strstr(out, "dropped again"));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_burst_then_suppressed),
	    cmocka_unit_test(test_refill_and_summary),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
