/* Unit tests for vm-bhyve's config file format (src/vm/vmconf.c): quoting, comments, spacing
 * errors with line numbers, duplicates, rewriting in place, atomic save; and sizes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "vm/vmconf.h"

static struct vmconf *parse_ok(const char *text)
{
	struct vmconf *c = NULL;
	char err[256] = "";
	int r = vmconf_parse(&c, text, "t.conf", err, sizeof(err));
	if (r != 0)
		fail_msg("parse failed: %s", err);
	return c;
}

static void parse_err(const char *text, const char *want)
{
	struct vmconf *c = (struct vmconf *)1;
	char err[256] = "";
	assert_int_equal(vmconf_parse(&c, text, "t.conf", err, sizeof(err)), -EINVAL);
	assert_null(c);
	assert_null(strchr(err, '\n')); /* one line */
	if (!strstr(err, want))
		fail_msg("error '%s' does not contain '%s'", err, want);
}

static void test_quoting(void **state)
{
	struct vmconf *c = parse_ok("# a comment\n"
				    "\n"
				    "loader=\"kernel\"\n"
				    "cpu=2\n"
				    "memory='1G'\n"
				    "cmdline=\"console=ttyS0 root=/dev/vda1 #x\"  # trailing\n"
				    "mixed=a\"b c\"'d e'\n"
				    "hash=a#b\n"
				    "esc=\"q\\\"uote \\\\ \\$x\"\n"
				    "empty=\n"
				    "empty2=\"\"   \n"
				    "  indented=yes\n"
				    "crlf=\"v\"\r\n"
				    "last=noeol");
	assert_string_equal(vmconf_get(c, "loader"), "kernel");
	assert_string_equal(vmconf_get(c, "cpu"), "2");
	assert_string_equal(vmconf_get(c, "memory"), "1G");
	assert_string_equal(vmconf_get(c, "cmdline"), "console=ttyS0 root=/dev/vda1 #x");
	assert_string_equal(vmconf_get(c, "mixed"), "ab cd e");
	assert_string_equal(vmconf_get(c, "hash"), "a#b");
	assert_string_equal(vmconf_get(c, "esc"), "q\"uote \\ $x");
	assert_string_equal(vmconf_get(c, "empty"), "");
	assert_string_equal(vmconf_get(c, "empty2"), "");
	assert_string_equal(vmconf_get(c, "indented"), "yes");
	assert_string_equal(vmconf_get(c, "crlf"), "v");
	assert_string_equal(vmconf_get(c, "last"), "noeol");
	assert_null(vmconf_get(c, "missing"));
	assert_string_equal(vmconf_get_default(c, "missing", "dflt"), "dflt");
	assert_int_equal(vmconf_count(c), 12);
	assert_string_equal(vmconf_key_at(c, 0), "loader");
	assert_string_equal(vmconf_value_at(c, 11), "noeol");
	assert_null(vmconf_key_at(c, 12));
	vmconf_free(c);
}

static void test_errors_name_the_line(void **state)
{
	parse_err("a=1\nb = 2\n", "t.conf line 2: space before '='");
	parse_err("a=1\n\nb= 2\n", "t.conf line 3: space after '='");
	parse_err("a=\"open\n", "t.conf line 1: unterminated \"");
	parse_err("x=1\na='open\n", "t.conf line 2: unterminated '");
	parse_err("a=two words\n", "line 1: unexpected 'words'");
	parse_err("just text\n", "line 1: expected key=\"value\"");
	parse_err("=value\n", "line 1: expected key=\"value\"");
	parse_err("1abc=x\n", "line 1: key '1abc' starts with a digit");
	parse_err("a-b=x\n", "line 1: expected key=\"value\"");
	parse_err("a=x;reboot\n", "line 1: ';' in the unquoted value");
	parse_err("a=x\\\n", "line 1: line continuation");
}

static void test_duplicates_last_wins_and_set(void **state)
{
	struct vmconf *c = parse_ok("# head\ncpu=1\nmemory=1G # mem\ncpu=2\nother=x\ncpu=3\n");
	assert_string_equal(vmconf_get(c, "cpu"), "3");
	/* set: first occurrence replaced in place, later ones dropped, other lines untouched */
	assert_int_equal(vmconf_set(c, "cpu", "4"), 0);
	char *t = vmconf_format(c);
	assert_string_equal(t, "# head\ncpu=\"4\"\nmemory=1G # mem\nother=x\n");
	free(t);
	assert_int_equal(vmconf_set(c, "cmd", "a \"b\" $c `d` \\e"), 0);
	assert_string_equal(vmconf_get(c, "cmd"), "a \"b\" $c `d` \\e");
	t = vmconf_format(c);
	/* the written text parses back to the same value */
	struct vmconf *c2 = parse_ok(t);
	assert_string_equal(vmconf_get(c2, "cmd"), "a \"b\" $c `d` \\e");
	vmconf_free(c2);
	free(t);
	assert_int_equal(vmconf_set(c, "bad-key", "x"), -EINVAL);
	assert_int_equal(vmconf_set(c, "9", "x"), -EINVAL);
	assert_int_equal(vmconf_set(c, "k", "a\nb"), -EINVAL);
	assert_int_equal(vmconf_unset(c, "other"), 1);
	assert_int_equal(vmconf_unset(c, "other"), 0);
	t = vmconf_format(c);
	assert_string_equal(t, "# head\ncpu=\"4\"\nmemory=1G # mem\ncmd=\"a \\\"b\\\" \\$c \\`d\\` \\\\e\"\n");
	free(t);
	vmconf_free(c);
}

static void test_save_and_load(void **state)
{
	char dir[] = "/tmp/test_vm_confXXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256], err[512];
	snprintf(path, sizeof(path), "%s/g.conf", dir);
	struct vmconf *c;
	assert_int_equal(vmconf_load(&c, path, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));

	FILE *f = fopen(path, "w");
	fputs("# keep me\nloader=\"kernel\"\n\ncpu=1\n", f);
	fclose(f);
	chmod(path, 0640);
	assert_int_equal(vmconf_load(&c, path, err, sizeof(err)), 0);
	assert_int_equal(vmconf_set(c, "cpu", "8"), 0);
	assert_int_equal(vmconf_set(c, "uuid", "u"), 0);
	assert_int_equal(vmconf_save(c, path, err, sizeof(err)), 0);
	vmconf_free(c);
	f = fopen(path, "r");
	char buf[256] = "";
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	assert_string_equal(buf, "# keep me\nloader=\"kernel\"\n\ncpu=\"8\"\nuuid=\"u\"\n");
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);

	/* a broken file: error names file and line */
	f = fopen(path, "w");
	fputs("a=1\nb =2\n", f);
	fclose(f);
	assert_int_equal(vmconf_load(&c, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "line 2"));
	assert_non_null(strstr(err, "g.conf"));

	/* save into a folder that does not exist: error, nothing written */
	c = vmconf_new();
	char bad[300];
	snprintf(bad, sizeof(bad), "%s/nope/x.conf", dir);
	assert_true(vmconf_save(c, bad, err, sizeof(err)) < 0);
	vmconf_free(c);
	unlink(path);
	/* no temporary file is left behind */
	assert_int_equal(rmdir(dir), 0);
}

static void test_truthy(void **state)
{
	assert_true(vmconf_truthy("yes"));
	assert_true(vmconf_truthy("YES"));
	assert_true(vmconf_truthy("On"));
	assert_true(vmconf_truthy("true"));
	assert_true(vmconf_truthy("1"));
	assert_false(vmconf_truthy("no"));
	assert_false(vmconf_truthy(""));
	assert_false(vmconf_truthy(NULL));
	assert_false(vmconf_truthy("2"));
}

static void test_sizes(void **state)
{
	uint64_t b;
	assert_int_equal(vmconf_parse_size("20G", &b), 0);
	assert_int_equal(b, 20ull << 30);
	assert_int_equal(vmconf_parse_size("512m", &b), 0);
	assert_int_equal(b, 512ull << 20);
	assert_int_equal(vmconf_parse_size("1T", &b), 0);
	assert_int_equal(b, 1ull << 40);
	assert_int_equal(vmconf_parse_size("4k", &b), 0);
	assert_int_equal(b, 4096);
	assert_int_equal(vmconf_parse_size("1000", &b), 0);
	assert_int_equal(b, 1000);
	assert_int_equal(vmconf_parse_size("", &b), -EINVAL);
	assert_int_equal(vmconf_parse_size("0", &b), -EINVAL);
	assert_int_equal(vmconf_parse_size("0G", &b), -EINVAL);
	assert_int_equal(vmconf_parse_size("G", &b), -EINVAL);
	assert_int_equal(vmconf_parse_size("10GB", &b), -EINVAL);
	assert_int_equal(vmconf_parse_size("10X", &b), -EINVAL);
	assert_int_equal(vmconf_parse_size("-1G", &b), -EINVAL);
	assert_int_equal(vmconf_parse_size("1.5G", &b), -EINVAL);
	assert_int_equal(vmconf_parse_size(" 1G", &b), -EINVAL);
	assert_int_equal(vmconf_parse_size("99999999999T", &b), -ERANGE);
	assert_int_equal(vmconf_parse_size("99999999999999999999999", &b), -ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_quoting),
	    cmocka_unit_test(test_errors_name_the_line),
	    cmocka_unit_test(test_duplicates_last_wins_and_set),
	    cmocka_unit_test(test_save_and_load),
	    cmocka_unit_test(test_truthy),
	    cmocka_unit_test(test_sizes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
