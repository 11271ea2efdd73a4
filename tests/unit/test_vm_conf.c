/* SPDX-License-Identifier: BSD-2-Clause */
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

#include "vm/guest.h"
#include "vm/settings.h"
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

/* A line that does not parse: the file still loads, the line is skipped (not an assignment,
 * kept verbatim for rewrites) and reported once, as one line naming file and line. */
static void parse_skips(const char *text, const char *want)
{
	struct vmconf *c = parse_ok(text);
	assert_int_equal(vmconf_warning_count(c), 1);
	const char *w = vmconf_warning_at(c, 0);
	assert_null(strchr(w, '\n')); /* one line */
	if (!strstr(w, want))
		fail_msg("warning '%s' does not contain '%s'", w, want);
	assert_non_null(strstr(w, "line skipped"));
	assert_null(vmconf_warning_at(c, 1));
	/* the good lines around it still count */
	assert_string_equal(vmconf_get(c, "ok"), "1");
	char *t = vmconf_format(c);
	assert_string_equal(t, text);
	free(t);
	vmconf_free(c);
}

static void test_quoting(void **state)
{
	struct vmconf *c = parse_ok("# a comment\n"
				    "\n"
				    "loader=\"kernel\"\n"
				    "cpu=2\n"
				    "memory='1G'\n"
				    "cmdline=\"console=ttyS0 root=/dev/vda1\"  # trailing\n"
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
	assert_string_equal(vmconf_get(c, "cmdline"), "console=ttyS0 root=/dev/vda1");
	assert_string_equal(vmconf_get(c, "mixed"), "ab cd e");
	assert_string_equal(vmconf_get(c, "hash"), "a"); /* vm-bhyve: '#' always starts a comment */
	assert_string_equal(vmconf_get(c, "esc"), "q\"uote \\ $x");
	assert_string_equal(vmconf_get(c, "empty"), "");
	assert_string_equal(vmconf_get(c, "empty2"), "");
	assert_string_equal(vmconf_get(c, "indented"), "yes");
	assert_string_equal(vmconf_get(c, "crlf"), "v");
	assert_string_equal(vmconf_get(c, "last"), "noeol");
	assert_null(vmconf_get(c, "missing"));
	assert_string_equal(vmconf_get_default(c, "missing", "dflt"), "dflt");
	assert_int_equal(vmconf_count(c), 12);
	assert_int_equal(vmconf_warning_count(c), 0);
	assert_string_equal(vmconf_key_at(c, 0), "loader");
	assert_string_equal(vmconf_value_at(c, 11), "noeol");
	assert_null(vmconf_key_at(c, 12));
	vmconf_free(c);
}

static void test_bad_lines_are_skipped_and_named(void **state)
{
	parse_skips("ok=1\nb = 2\n", "t.conf line 2: space before '='");
	parse_skips("ok=1\na=1\n\nb= 2\n", "t.conf line 4: space after '='");
	parse_skips("ok=1\na=\"open\n", "t.conf line 2: unterminated \"");
	parse_skips("ok=1\nx=1\na='open\n", "t.conf line 3: unterminated '");
	parse_skips("ok=1\na=two words\n", "line 2: unexpected 'words'");
	parse_skips("ok=1\njust text\n", "line 2: expected key=\"value\"");
	parse_skips("ok=1\n=value\n", "line 2: expected key=\"value\"");
	parse_skips("ok=1\n1abc=x\n", "line 2: key '1abc' does not start with a letter");
	parse_skips("ok=1\n-ab=x\n", "line 2: key '-ab' does not start with a letter");
	parse_skips("ok=1\na=x;reboot\n", "line 2: ';' in the unquoted value");
	parse_skips("ok=1\na=x\\\n", "line 2: line continuation");
	/* review finding 15: the stray quote of a wild grub_run1 line */
	parse_skips("ok=1\ngrub_run1=\"linux /vmlinuz ro $vt_handoff\"\"\n", "line 2: unterminated \"");
	/* '#' inside quotes is a comment too (vm-bhyve), which leaves this quote open */
	parse_skips("ok=1\ncmdline=\"a # b\"\n", "line 2: unterminated \"");
}

/* vm-bhyve's config::get: the first assignment wins; later ones are ignored. */
static void test_first_assignment_wins(void **state)
{
	struct vmconf *c = parse_ok("cpu=1\nmemory=512M\ncpu=2\nmemory=2G\n");
	assert_string_equal(vmconf_get(c, "cpu"), "1");
	assert_string_equal(vmconf_get(c, "memory"), "512M");
	vmconf_free(c);
	/* keys with '-' and '.', as system.conf writes for switch public-10 or datastore my.ds */
	c = parse_ok("switch_list=\"public public-10\"\nports_public-10=\"em0\"\npath_my.ds=\"/x\"\n");
	assert_string_equal(vmconf_get(c, "ports_public-10"), "em0");
	assert_string_equal(vmconf_get(c, "path_my.ds"), "/x");
	assert_int_equal(vmconf_set(c, "type_public-10", "standard"), 0);
	vmconf_free(c);
	/* a value with '#' cannot be written: it would read back cut short */
	c = vmconf_new();
	assert_int_equal(vmconf_set(c, "cmdline", "a#b"), -EINVAL);
	vmconf_free(c);
}

static void test_duplicates_and_set(void **state)
{
	struct vmconf *c = parse_ok("# head\ncpu=1\nmemory=1G # mem\ncpu=2\nother=x\ncpu=3\n");
	assert_string_equal(vmconf_get(c, "cpu"), "1");
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
	assert_int_equal(vmconf_set(c, "-bad", "x"), -EINVAL);
	assert_int_equal(vmconf_set(c, "bad key", "x"), -EINVAL);
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

	/* a line that does not parse: loaded, the warning names file and line */
	f = fopen(path, "w");
	fputs("a=1\nb =2\n", f);
	fclose(f);
	assert_int_equal(vmconf_load(&c, path, err, sizeof(err)), 0);
	assert_int_equal(vmconf_warning_count(c), 1);
	assert_non_null(strstr(vmconf_warning_at(c, 0), "line 2"));
	assert_non_null(strstr(vmconf_warning_at(c, 0), "g.conf"));
	assert_string_equal(vmconf_get(c, "a"), "1");
	vmconf_free(c);

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
	/* vm-bhyve's util::checkyesno: anything but no/off/false/0/empty is yes */
	assert_true(vmconf_truthy("2"));
	assert_true(vmconf_truthy("y"));
	assert_true(vmconf_truthy("enable"));
	assert_false(vmconf_truthy("NO"));
	assert_false(vmconf_truthy("Off"));
	assert_false(vmconf_truthy("FALSE"));
	assert_false(vmconf_truthy("0"));
	assert_true(vmconf_falsy("no"));
	assert_false(vmconf_falsy("y"));
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
	/* units spelt out, as people write them and bhyve's -m takes them */
	assert_int_equal(vmconf_parse_size("512MB", &b), 0);
	assert_int_equal(b, 512ull << 20);
	assert_int_equal(vmconf_parse_size("2GiB", &b), 0);
	assert_int_equal(b, 2ull << 30);
	assert_int_equal(vmconf_parse_size("1gb", &b), 0);
	assert_int_equal(b, 1ull << 30);
	assert_int_equal(vmconf_parse_size("100B", &b), 0);
	assert_int_equal(b, 100);
	assert_int_equal(vmconf_parse_size("10GBB", &b), -EINVAL);
	assert_int_equal(vmconf_parse_size("10iB", &b), -EINVAL);
	assert_int_equal(vmconf_parse_size("10Gi", &b), -EINVAL);
	assert_int_equal(vmconf_parse_size("10X", &b), -EINVAL);
	assert_int_equal(vmconf_parse_size("-1G", &b), -EINVAL);
	assert_int_equal(vmconf_parse_size("1.5G", &b), -EINVAL);
	assert_int_equal(vmconf_parse_size(" 1G", &b), -EINVAL);
	assert_int_equal(vmconf_parse_size("99999999999T", &b), -ERANGE);
	assert_int_equal(vmconf_parse_size("99999999999999999999999", &b), -ERANGE);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* settings_load: $KBHYVE_CONF, vm_dir from the file or the environment, system.conf, datastores,
 * and guests found across datastores. */
static void test_settings_and_datastores(void **state)
{
	char dir[] = "/tmp/test_vm_setXXXXXX", p[512], err[512];
	assert_non_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/kbhyve.conf", dir);
	setenv("KBHYVE_CONF", p, 1);
	unsetenv("vm_dir");
	struct vm_settings s;

	/* no file, no env: vm_dir unset */
	assert_int_equal(settings_load(&s, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "vm_dir is not set"));

	char text[600];
	snprintf(text, sizeof(text), "vm_dir=\"%s/vms/\"\nvm_list=\"a b\"\n", dir);
	write_file(p, text);
	assert_int_equal(settings_load(&s, err, sizeof(err)), 0);
	snprintf(p, sizeof(p), "%s/vms", dir);
	assert_string_equal(s.vm_dir, p); /* trailing slash dropped */
	assert_int_equal(settings_require_init(&s, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "does not exist"));
	mkdir(p, 0755);
	assert_int_equal(settings_require_init(&s, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "run vm init"));
	snprintf(p, sizeof(p), "%s/vms/.config", dir);
	mkdir(p, 0755);
	assert_int_equal(settings_require_init(&s, err, sizeof(err)), 0);
	assert_int_equal(vmconf_count(s.sys), 0);
	settings_free(&s);

	/* the environment wins over the file; relative and zfs: paths are refused */
	setenv("vm_dir", "relative/dir", 1);
	assert_int_equal(settings_load(&s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "absolute"));
	setenv("vm_dir", "zfs:pool/vm", 1);
	assert_int_equal(settings_load(&s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "ZFS"));
	snprintf(p, sizeof(p), "%s/vms", dir);
	setenv("vm_dir", p, 1);

	/* datastores from system.conf; "default" first and only once */
	snprintf(p, sizeof(p), "%s/vms/.config/system.conf", dir);
	snprintf(text, sizeof(text),
		 "datastore_list=\"fast default fast rel\"\npath_fast=\"%s/fast\"\npath_rel=\"x/y\"\n", dir);
	write_file(p, text);
	assert_int_equal(settings_load(&s, err, sizeof(err)), 0);
	char **names = datastore_names(&s);
	assert_non_null(names);
	assert_string_equal(names[0], "default");
	assert_string_equal(names[1], "fast");
	assert_string_equal(names[2], "rel");
	assert_null(names[3]);
	free_strv(names);
	char out[PATH_MAX];
	assert_int_equal(datastore_path(&s, "default", out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, s.vm_dir);
	assert_int_equal(datastore_path(&s, "fast", out, sizeof(out), err, sizeof(err)), 0);
	snprintf(p, sizeof(p), "%s/fast", dir);
	assert_string_equal(out, p);
	assert_int_equal(datastore_path(&s, "rel", out, sizeof(out), err, sizeof(err)), -EINVAL);
	assert_int_equal(datastore_path(&s, "nosuch", out, sizeof(out), err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "nosuch"));

	/* guests in two datastores, sorted; a bad name is refused before any lookup */
	mkdir(p, 0755);
	char gdir[600], conf[700];
	static const char *const where[][2] = {
	    {"vms", "zz"}, {"fast", "aa"}, {"vms", "mm"}, {"vms", "Win10"}, {"vms", "Dup"}, {"fast", "dup"}};
	for (int i = 0; i < 6; i++) {
		snprintf(gdir, sizeof(gdir), "%s/%s/%s", dir, where[i][0], where[i][1]);
		mkdir(gdir, 0755);
		snprintf(conf, sizeof(conf), "%s/%s.conf", gdir, where[i][1]);
		write_file(conf, "loader=\"kernel\"\n");
	}
	snprintf(gdir, sizeof(gdir), "%s/vms/noconf", dir); /* a folder without a conf is no guest */
	mkdir(gdir, 0755);
	struct guest *v;
	size_t n;
	assert_int_equal(guest_list_all(&s, &v, &n), 0);
	/* upper-case names are guests too (vm-bhyve), sorted without regard to case */
	assert_int_equal(n, 6);
	assert_string_equal(v[0].name, "aa");
	assert_string_equal(v[0].ds, "fast");
	assert_string_equal(v[1].name, "Dup");
	assert_string_equal(v[2].name, "dup");
	assert_string_equal(v[3].name, "mm");
	assert_string_equal(v[4].name, "Win10");
	assert_string_equal(v[5].name, "zz");
	assert_string_equal(vmconf_get(v[5].conf, "loader"), "kernel");
	guest_list_free(v, n);
	struct guest g;
	/* lookup: the exact name first, else the one guest whose name matches without case */
	assert_int_equal(guest_open(&s, "Win10", &g, err, sizeof(err)), 0);
	assert_string_equal(g.name, "Win10");
	guest_close(&g);
	assert_int_equal(guest_open(&s, "win10", &g, err, sizeof(err)), 0);
	assert_string_equal(g.name, "Win10");
	snprintf(conf, sizeof(conf), "%s/vms/Win10/Win10.conf", dir);
	assert_string_equal(g.conf_path, conf);
	guest_close(&g);
	assert_int_equal(guest_open(&s, "dup", &g, err, sizeof(err)), 0);
	assert_string_equal(g.ds, "fast");
	guest_close(&g);
	assert_int_equal(guest_open(&s, "DUP", &g, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "ambiguous"));
	assert_int_equal(guest_open(&s, "MM", &g, err, sizeof(err)), 0);
	assert_string_equal(g.name, "mm");
	guest_close(&g);
	assert_int_equal(guest_open(&s, "aa", &g, err, sizeof(err)), 0);
	assert_string_equal(g.ds, "fast");
	snprintf(conf, sizeof(conf), "%s/fast/aa/aa.conf", dir);
	assert_string_equal(g.conf_path, conf);
	guest_log(&g, "hello %d", 42);
	guest_close(&g);
	assert_int_equal(guest_open(&s, "noconf", &g, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "noconf: no such guest");
	assert_int_equal(guest_open(&s, "Bad/Name", &g, err, sizeof(err)), -EINVAL);
	snprintf(conf, sizeof(conf), "%s/vms/mm/mm.conf", dir);
	/* a line that does not parse leaves the guest usable (review finding 15) */
	write_file(conf, "a = b\ncpu=2\n");
	assert_int_equal(guest_open(&s, "mm", &g, err, sizeof(err)), 0);
	assert_string_equal(vmconf_get(g.conf, "cpu"), "2");
	assert_int_equal(vmconf_warning_count(g.conf), 1);
	assert_non_null(strstr(vmconf_warning_at(g.conf, 0), "mm.conf line 1"));
	guest_close(&g);
	settings_free(&s);

	snprintf(conf, sizeof(conf), "%s/fast/aa/vm-bhyve.log", dir);
	FILE *f = fopen(conf, "r");
	assert_non_null(f);
	char line[256] = "";
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	assert_non_null(strstr(line, ": hello 42\n"));

	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	unsetenv("vm_dir");
	unsetenv("KBHYVE_CONF");
}

static void test_strv(void **state)
{
	char **v = strv_split("  a bb\tccc \n");
	assert_string_equal(v[0], "a");
	assert_string_equal(v[1], "bb");
	assert_string_equal(v[2], "ccc");
	assert_null(v[3]);
	assert_int_equal(strv_index(v, "bb"), 1);
	assert_int_equal(strv_index(v, "b"), -1);
	free_strv(v);
	v = strv_split(NULL);
	assert_null(v[0]);
	free_strv(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_quoting),
	    cmocka_unit_test(test_bad_lines_are_skipped_and_named),
	    cmocka_unit_test(test_first_assignment_wins),
	    cmocka_unit_test(test_duplicates_and_set),
	    cmocka_unit_test(test_save_and_load),
	    cmocka_unit_test(test_truthy),
	    cmocka_unit_test(test_sizes),
	    cmocka_unit_test(test_settings_and_datastores),
	    cmocka_unit_test(test_strv),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
