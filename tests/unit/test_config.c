/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for the configuration tree (src/config/config.c). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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

#include "config/config.h"

/* ---- helpers ---- */

static char *dump_string(struct cfgnode *root)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	config_dump(root, f);
	fclose(f);
	return buf;
}

static void assert_dump(struct cfgnode *root, const char *expected)
{
	char *s = dump_string(root);
	assert_string_equal(s, expected);
	free(s);
}

/* Writes `content` (len bytes) to a fresh temporary file; the caller unlinks it. */
static char *temp_file(const char *content, size_t len)
{
	char *path = strdup("/tmp/kbhyve-test-config-XXXXXX");
	assert_non_null(path);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	close(fd);
	return path;
}

/* Capture what the library writes to stderr (kb_log) while running a lookup. */
struct capture {
	int saved;
	FILE *f;
};

static void capture_begin(struct capture *c)
{
	fflush(stderr);
	c->f = tmpfile();
	assert_non_null(c->f);
	c->saved = dup(2);
	assert_true(c->saved >= 0);
	assert_true(dup2(fileno(c->f), 2) >= 0);
}

static char *capture_end(struct capture *c)
{
	fflush(stderr);
	assert_true(dup2(c->saved, 2) >= 0);
	close(c->saved);
	long n = ftell(c->f);
	assert_true(n >= 0);
	char *s = calloc(1, (size_t)n + 1);
	assert_non_null(s);
	rewind(c->f);
	assert_int_equal(fread(s, 1, (size_t)n, c->f), (size_t)n);
	fclose(c->f);
	return s;
}

/* config_get that must fail, returning the logged message (caller frees). */
static char *get_failing(struct cfgnode *root, const char *path)
{
	struct capture c;
	capture_begin(&c);
	const char *v = config_get(root, path);
	char *msg = capture_end(&c);
	assert_null(v);
	return msg;
}

static int setup(void **state)
{
	*state = config_new();
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	config_free(*state);
	return 0;
}

/* ---- set / get ---- */

static void test_set_get(void **state)
{
	struct cfgnode *r = *state;
	assert_int_equal(config_set(r, "name", "vm0"), 0);
	assert_int_equal(config_set(r, "pci.0.3.0.device", "virtio-blk"), 0);
	assert_string_equal(config_get(r, "name"), "vm0");
	assert_string_equal(config_get(r, "pci.0.3.0.device"), "virtio-blk");
	assert_string_equal(config_get_raw(r, "pci.0.3.0.device"), "virtio-blk");
	/* nodes have no value, absent paths are NULL */
	assert_null(config_get(r, "pci.0.3"));
	assert_null(config_get_raw(r, "pci"));
	assert_null(config_get(r, "pci.0.4.0.device"));
	assert_null(config_get(r, "nope"));
	/* a path through a leaf is absent, not an error */
	assert_null(config_get(r, "name.sub"));
	/* empty values are values */
	assert_int_equal(config_set(r, "empty", ""), 0);
	assert_string_equal(config_get(r, "empty"), "");
}

static void test_overwrite_keeps_position(void **state)
{
	struct cfgnode *r = *state;
	assert_int_equal(config_set(r, "a", "1"), 0);
	assert_int_equal(config_set(r, "b", "2"), 0);
	assert_int_equal(config_set(r, "a", "3"), 0);
	assert_string_equal(config_get(r, "a"), "3");
	assert_dump(r, "a=3\nb=2\n");
}

static void test_set_default(void **state)
{
	struct cfgnode *r = *state;
	assert_int_equal(config_set_default(r, "memory.size", "256M"), 0);
	assert_string_equal(config_get(r, "memory.size"), "256M");
	assert_int_equal(config_set(r, "memory.size", "1G"), 0);
	assert_int_equal(config_set_default(r, "memory.size", "256M"), 0);
	assert_string_equal(config_get(r, "memory.size"), "1G");
	/* same errors as config_set */
	assert_int_equal(config_set_default(r, "memory", "x"), -EEXIST);
	assert_int_equal(config_set_default(r, "memory.size.x", "x"), -EEXIST);
	assert_int_equal(config_set_default(r, "a..b", "x"), -EINVAL);
}

static void test_conflicts(void **state)
{
	struct cfgnode *r = *state;
	assert_int_equal(config_set(r, "a.b", "1"), 0);
	/* node where a leaf is wanted */
	assert_int_equal(config_set(r, "a", "x"), -EEXIST);
	/* leaf where a node is wanted, deeper too: nothing may be created */
	assert_int_equal(config_set(r, "a.b.c", "x"), -EEXIST);
	assert_int_equal(config_set(r, "a.b.c.d.e", "x"), -EEXIST);
	assert_int_equal(config_set_assignment(r, "a=1"), -EEXIST);
	assert_null(config_node_create(r, "a.b"));
	assert_null(config_node_create(r, "a.b.c"));
	assert_string_equal(config_get(r, "a.b"), "1");
	assert_dump(r, "a.b=1\n");
	assert_non_null(config_node(r, "a"));
	assert_null(config_first_child(config_node(r, "a.b")));
}

static void test_malformed_paths(void **state)
{
	struct cfgnode *r = *state;
	static const char *const bad[] = {"",	".",   "a.",  ".a",    "a..b",	"a b",
					  " a", "a\t", "a=b", "a.\nb", "x.y..z"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(config_set(r, bad[i], "v"), -EINVAL);
		assert_int_equal(config_set_default(r, bad[i], "v"), -EINVAL);
		assert_null(config_get(r, bad[i]));
		assert_null(config_node(r, bad[i]));
		assert_null(config_node_create(r, bad[i]));
		assert_int_equal(config_unset(r, bad[i]), -EINVAL);
	}
	assert_int_equal(config_set(r, NULL, "v"), -EINVAL);
	assert_int_equal(config_set(r, "a", NULL), -EINVAL);
	assert_null(config_first_child(r));
	/* unusual but valid characters */
	assert_int_equal(config_set(r, "lpc.pc-testdev", "true"), 0);
	assert_int_equal(config_set(r, "a_b.c-d.0x1f", "v"), 0);
}

static void test_assignment(void **state)
{
	struct cfgnode *r = *state;
	assert_int_equal(config_set_assignment(r, "pci.0.4.0.path=/a=b"), 0);
	assert_string_equal(config_get(r, "pci.0.4.0.path"), "/a=b");
	assert_int_equal(config_set_assignment(r, "k="), 0);
	assert_string_equal(config_get(r, "k"), "");
	assert_int_equal(config_set_assignment(r, "noequals"), -EINVAL);
	assert_int_equal(config_set_assignment(r, "=value"), -EINVAL);
	assert_int_equal(config_set_assignment(r, "a..b=1"), -EINVAL);
	assert_int_equal(config_set_assignment(r, NULL), -EINVAL);
}

static void test_unset(void **state)
{
	struct cfgnode *r = *state;
	assert_int_equal(config_set(r, "a", "1"), 0);
	assert_int_equal(config_set(r, "n.x", "2"), 0);
	assert_int_equal(config_set(r, "n.y.z", "3"), 0);
	assert_int_equal(config_set(r, "b", "4"), 0);
	assert_int_equal(config_unset(r, "a"), 0);
	assert_null(config_get(r, "a"));
	assert_int_equal(config_unset(r, "a"), -ENOENT);
	assert_int_equal(config_unset(r, "n.q"), -ENOENT);
	assert_int_equal(config_unset(r, "n"), 0); /* a whole subtree */
	assert_null(config_get(r, "n.y.z"));
	assert_null(config_node(r, "n"));
	/* re-adding appends at the end */
	assert_int_equal(config_set(r, "a", "5"), 0);
	assert_dump(r, "b=4\na=5\n");
	/* unsetting the last child keeps the list consistent */
	assert_int_equal(config_unset(r, "a"), 0);
	assert_int_equal(config_set(r, "c", "6"), 0);
	assert_dump(r, "b=4\nc=6\n");
}

/* ---- expansion ---- */

static void test_expand_basic(void **state)
{
	struct cfgnode *r = *state;
	assert_int_equal(config_set(r, "name", "vm1"), 0);
	assert_int_equal(config_set(r, "disk", "/dev/zvol/bhyve/%(name)/disk0"), 0);
	assert_string_equal(config_get(r, "disk"), "/dev/zvol/bhyve/vm1/disk0");
	assert_string_equal(config_get_raw(r, "disk"), "/dev/zvol/bhyve/%(name)/disk0");

	assert_int_equal(config_set(r, "pct", "100%% of %(name)%%"), 0);
	assert_string_equal(config_get(r, "pct"), "100% of vm1%");
	assert_int_equal(config_set(r, "esc", "%%(name)"), 0);
	assert_string_equal(config_get(r, "esc"), "%(name)");
	assert_int_equal(config_set(r, "lone", "50% a%b %"), 0); /* a lone % is literal */
	assert_string_equal(config_get(r, "lone"), "50% a%b %");
	assert_int_equal(config_set(r, "twice", "%(name)-%(name)"), 0);
	assert_string_equal(config_get(r, "twice"), "vm1-vm1");
	assert_int_equal(config_set(r, "emptyref", "[%(empty)]"), 0);
	assert_int_equal(config_set(r, "empty", ""), 0);
	assert_string_equal(config_get(r, "emptyref"), "[]");

	/* nested references and dotted top-level paths */
	assert_int_equal(config_set(r, "pool", "/pool/%(name)"), 0);
	assert_int_equal(config_set(r, "pci.0.4.0.path", "%(pool)/disk.img"), 0);
	assert_int_equal(config_set(r, "copy", "%(pci.0.4.0.path)"), 0);
	assert_string_equal(config_get(r, "copy"), "/pool/vm1/disk.img");
}

static void test_expand_cache_and_stability(void **state)
{
	struct cfgnode *r = *state;
	assert_int_equal(config_set(r, "name", "a"), 0);
	assert_int_equal(config_set(r, "p", "<%(name)>"), 0);
	const char *v1 = config_get(r, "p");
	const char *v2 = config_get(r, "p");
	assert_string_equal(v1, "<a>");
	assert_ptr_equal(v1, v2); /* valid until the tree changes */
	assert_int_equal(config_set(r, "other", "%(name)"), 0);
	assert_string_equal(config_get(r, "other"), "a");
	/* modifying a referenced value is seen */
	assert_int_equal(config_set(r, "name", "b"), 0);
	assert_string_equal(config_get(r, "p"), "<b>");
	assert_int_equal(config_unset(r, "name"), 0);
	char *msg = get_failing(r, "p");
	assert_non_null(strstr(msg, "undefined variable '%(name)'"));
	free(msg);
	assert_int_equal(config_set(r, "name", "c"), 0);
	assert_string_equal(config_get(r, "p"), "<c>");
}

static void test_expand_errors(void **state)
{
	struct cfgnode *r = *state;
	char *msg;

	assert_int_equal(config_set(r, "u", "x%(nope)y"), 0);
	msg = get_failing(r, "u");
	assert_non_null(strstr(msg, "u: undefined variable '%(nope)'"));
	free(msg);
	/* the raw value stays readable */
	assert_string_equal(config_get_raw(r, "u"), "x%(nope)y");

	assert_int_equal(config_set(r, "grp.leaf", "1"), 0);
	assert_int_equal(config_set(r, "tonode", "%(grp)"), 0);
	msg = get_failing(r, "tonode");
	assert_non_null(strstr(msg, "undefined variable '%(grp)'"));
	free(msg);

	assert_int_equal(config_set(r, "bad.syntax", "%()"), 0);
	msg = get_failing(r, "bad.syntax");
	assert_non_null(strstr(msg, "bad.syntax: undefined variable '%()'"));
	free(msg);

	assert_int_equal(config_set(r, "unterminated", "a%(name"), 0);
	msg = get_failing(r, "unterminated");
	assert_non_null(strstr(msg, "unterminated '%('"));
	free(msg);

	/* self and mutual recursion are bounded and reported */
	assert_int_equal(config_set(r, "self", "%(self)"), 0);
	msg = get_failing(r, "self");
	assert_non_null(strstr(msg, "circular reference"));
	free(msg);
	assert_int_equal(config_set(r, "ping", "x%(pong)"), 0);
	assert_int_equal(config_set(r, "pong", "y%(ping)"), 0);
	msg = get_failing(r, "ping");
	assert_non_null(strstr(msg, "circular reference"));
	free(msg);

	/* a failure is reported once, not on every lookup */
	struct capture c;
	capture_begin(&c);
	assert_null(config_get(r, "ping"));
	msg = capture_end(&c);
	assert_string_equal(msg, "");
	free(msg);

	/* a failing leaf reads as malformed for the typed getters */
	bool b;
	long long n;
	capture_begin(&c);
	assert_int_equal(config_set(r, "flag", "%(nope)"), 0);
	assert_int_equal(config_get_bool(r, "flag", true, &b), -EINVAL);
	assert_true(b);
	assert_int_equal(config_get_int(r, "flag", 7, &n), -EINVAL);
	assert_int_equal(n, 7);
	free(capture_end(&c));
}

static void test_expand_blowup_bounded(void **state)
{
	struct cfgnode *r = *state;
	char *msg;
	/* 64 references per level, 4 levels of empty values: 16M substitutions if unbounded */
	char val[64 * 6 + 1];
	assert_int_equal(config_set(r, "x0", ""), 0);
	for (int lvl = 1; lvl <= 4; lvl++) {
		val[0] = '\0';
		for (int i = 0; i < 64; i++) {
			char ref[16];
			snprintf(ref, sizeof(ref), "%%(x%d)", lvl - 1);
			strcat(val, ref);
		}
		char key[16];
		snprintf(key, sizeof(key), "x%d", lvl);
		assert_int_equal(config_set(r, key, val), 0);
	}
	assert_string_equal(config_get(r, "x1"), "");
	msg = get_failing(r, "x4");
	assert_non_null(strstr(msg, "substitutions"));
	free(msg);

	/* a result that grows past the size limit */
	char big[4097];
	memset(big, 'A', 4096);
	big[4096] = '\0';
	assert_int_equal(config_set(r, "big", big), 0);
	char refs[32 * 6 + 1] = "";
	for (int i = 0; i < 32; i++)
		strcat(refs, "%(big)");
	assert_int_equal(config_set(r, "huge", refs), 0);
	msg = get_failing(r, "huge");
	assert_non_null(strstr(msg, "longer than"));
	free(msg);
	/* just under the limit works */
	assert_int_equal(config_set(r, "ok", "%(big)%(big)%(big)"), 0);
	assert_int_equal(strlen(config_get(r, "ok")), 3 * 4096);
}

/* Lookups from several threads on a frozen tree all see the same cached expansion. */
static void *reader_thread(void *arg)
{
	struct cfgnode *r = arg;
	for (int i = 0; i < 2000; i++) {
		char key[16];
		snprintf(key, sizeof(key), "k%d", i % 8);
		const char *v = config_get(r, key);
		if (!v || strncmp(v, "/pool/vm/", 9) != 0)
			return (void *)1;
	}
	return NULL;
}

static void test_expand_concurrent_readers(void **state)
{
	struct cfgnode *r = *state;
	assert_int_equal(config_set(r, "name", "vm"), 0);
	assert_int_equal(config_set(r, "pool", "/pool/%(name)"), 0);
	for (int i = 0; i < 8; i++) {
		char key[16], val[32];
		snprintf(key, sizeof(key), "k%d", i);
		snprintf(val, sizeof(val), "%%(pool)/disk%d", i);
		assert_int_equal(config_set(r, key, val), 0);
	}
	pthread_t t[8];
	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&t[i], NULL, reader_thread, r), 0);
	for (int i = 0; i < 8; i++) {
		void *ret;
		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_null(ret);
	}
	assert_string_equal(config_get(r, "k7"), "/pool/vm/disk7");
}

/* ---- typed reads ---- */

static void test_parse_bool(void **state)
{
	(void)state;
	static const char *const yes[] = {"true", "on", "yes", "1", "TRUE", "On", "YeS"};
	static const char *const no[] = {"false", "off", "no", "0", "FALSE", "Off", "NO"};
	static const char *const bad[] = {"", "2", "tru", "yes ", " no", "enable", "01", "y"};
	bool b;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		b = false;
		assert_int_equal(config_parse_bool(yes[i], &b), 0);
		assert_true(b);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		b = true;
		assert_int_equal(config_parse_bool(no[i], &b), 0);
		assert_false(b);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(config_parse_bool(bad[i], &b), -EINVAL);
	assert_int_equal(config_parse_bool(NULL, &b), -EINVAL);
}

static void test_get_bool(void **state)
{
	struct cfgnode *r = *state;
	bool b;
	assert_int_equal(config_get_bool(r, "absent", true, &b), 0);
	assert_true(b);
	assert_int_equal(config_get_bool(r, "absent", false, &b), 0);
	assert_false(b);
	assert_int_equal(config_set(r, "x86.x2apic", "on"), 0);
	assert_int_equal(config_get_bool(r, "x86.x2apic", false, &b), 0);
	assert_true(b);
	assert_int_equal(config_set(r, "v", "maybe"), 0);
	assert_int_equal(config_get_bool(r, "v", true, &b), -EINVAL);
	assert_true(b);							 /* left at the default */
	assert_int_equal(config_get_bool(r, "x86", false, &b), -EINVAL); /* a node */
	assert_false(b);
	/* expansion applies */
	assert_int_equal(config_set(r, "sw", "no"), 0);
	assert_int_equal(config_set(r, "ref", "%(sw)"), 0);
	assert_int_equal(config_get_bool(r, "ref", true, &b), 0);
	assert_false(b);
}

static void test_get_int(void **state)
{
	struct cfgnode *r = *state;
	long long n;
	static const struct {
		const char *s;
		long long v;
	} good[] = {{"42", 42}, {"-7", -7}, {"0x10", 16},
		    {"010", 8}, {"0", 0},   {"9223372036854775807", 9223372036854775807LL}};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(config_set(r, "n", good[i].s), 0);
		assert_int_equal(config_get_int(r, "n", -1, &n), 0);
		assert_int_equal(n, good[i].v);
	}
	static const char *const bad[] = {
	    "", "abc", "12abc", " 1", "1 ", "0x", "99999999999999999999", "1.5"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(config_set(r, "n", bad[i]), 0);
		n = 0;
		assert_int_equal(config_get_int(r, "n", 5, &n), -EINVAL);
		assert_int_equal(n, 5);
	}
	assert_int_equal(config_get_int(r, "absent", 99, &n), 0);
	assert_int_equal(n, 99);
	assert_int_equal(config_set(r, "g.x", "1"), 0);
	assert_int_equal(config_get_int(r, "g", 3, &n), -EINVAL);
	assert_int_equal(n, 3);
}

/* ---- nodes ---- */

static void test_nodes_iteration(void **state)
{
	struct cfgnode *r = *state;
	assert_int_equal(config_set(r, "pci.0.0.0.device", "hostbridge"), 0);
	assert_int_equal(config_set(r, "pci.0.31.0.device", "lpc"), 0);
	assert_int_equal(config_set(r, "pci.0.3.0.device", "virtio-blk"), 0);
	assert_int_equal(config_set(r, "pci.0.3.0.path", "/img"), 0);

	struct cfgnode *bus = config_node(r, "pci.0");
	assert_non_null(bus);
	assert_false(config_is_leaf(bus));
	assert_string_equal(config_name(bus), "0");
	assert_null(config_value(bus));
	const char *expect[] = {"0", "31", "3"};
	int i = 0;
	for (struct cfgnode *s = config_first_child(bus); s; s = config_next_sibling(s))
		assert_string_equal(config_name(s), expect[i++]);
	assert_int_equal(i, 3);

	struct cfgnode *dev = config_node(r, "pci.0.3.0");
	struct cfgnode *c = config_first_child(dev);
	assert_true(config_is_leaf(c));
	assert_string_equal(config_name(c), "device");
	assert_string_equal(config_value(c), "virtio-blk");
	c = config_next_sibling(c);
	assert_string_equal(config_name(c), "path");
	assert_null(config_next_sibling(c));
	assert_null(config_first_child(c));

	/* config_node finds leaves too */
	struct cfgnode *leaf = config_node(r, "pci.0.3.0.path");
	assert_non_null(leaf);
	assert_true(config_is_leaf(leaf));
	assert_string_equal(config_value(leaf), "/img");

	/* node_create: existing node returned, new nodes created, leaves refused */
	assert_ptr_equal(config_node_create(r, "pci.0.3.0"), dev);
	struct cfgnode *n = config_node_create(r, "x.y.z");
	assert_non_null(n);
	assert_false(config_is_leaf(n));
	assert_ptr_equal(config_node(r, "x.y.z"), n);
	assert_null(config_node_create(r, "pci.0.3.0.path"));
	assert_int_equal(config_set(r, "x.y.z", "v"), -EEXIST);

	assert_string_equal(config_name(r), "");
	assert_false(config_is_leaf(r));
	assert_null(config_value(r));
	assert_false(config_is_leaf(NULL));
	assert_null(config_first_child(NULL));
}

static void test_relative_set_expands_from_root(void **state)
{
	struct cfgnode *r = *state;
	assert_int_equal(config_set(r, "name", "guest"), 0);
	struct cfgnode *dev = config_node_create(r, "pci.0.4.0");
	assert_non_null(dev);
	assert_int_equal(config_set(dev, "path", "/vm/%(name).img"), 0);
	assert_int_equal(config_set(dev, "port.1.path", "/s.sock"), 0);
	assert_string_equal(config_get(r, "pci.0.4.0.path"), "/vm/guest.img");
	assert_string_equal(config_get(dev, "path"), "/vm/guest.img");
	assert_string_equal(config_get(r, "pci.0.4.0.port.1.path"), "/s.sock");
	/* %(var) names are top-level even when read relative to a node */
	assert_int_equal(config_set(dev, "name", "devname"), 0);
	assert_string_equal(config_get(dev, "path"), "/vm/guest.img");
}

/* ---- dump ---- */

static void test_dump_format_order(void **state)
{
	struct cfgnode *r = *state;
	assert_int_equal(config_set(r, "name", "vm"), 0);
	assert_int_equal(config_set(r, "memory.size", "1G"), 0);
	assert_int_equal(config_set(r, "pci.0.0.0.device", "hostbridge"), 0);
	assert_int_equal(config_set(r, "cpus", "2"), 0);
	assert_int_equal(config_set(r, "pci.0.3.0.device", "virtio-blk"), 0);
	assert_int_equal(config_set(r, "pci.0.3.0.path", "/z/%(name)"), 0);
	assert_int_equal(config_set(r, "memory.wired", "true"), 0);
	assert_int_equal(config_set(r, "memory.size", "2G"), 0);
	assert_non_null(config_node_create(r, "empty.node"));
	assert_int_equal(config_set(r, "z", "last"), 0);
	assert_dump(r, "name=vm\n"
		       "memory.size=2G\n"
		       "memory.wired=true\n"
		       "pci.0.0.0.device=hostbridge\n"
		       "pci.0.3.0.device=virtio-blk\n"
		       "pci.0.3.0.path=/z/%(name)\n" /* raw, so that it reloads the same */
		       "cpus=2\n"
		       "z=last\n");
	/* dumping a subtree prints paths relative to it */
	assert_dump(config_node(r, "pci.0"), "0.0.device=hostbridge\n3.0.device=virtio-blk\n"
					     "3.0.path=/z/%(name)\n");
}

static void test_dump_empty(void **state)
{
	struct cfgnode *r = *state;
	assert_dump(r, "");
	assert_non_null(config_node_create(r, "a.b"));
	assert_dump(r, "");
}

static void test_dump_reload_roundtrip(void **state)
{
	struct cfgnode *r = *state;
	assert_int_equal(config_set(r, "name", "vm"), 0);
	assert_int_equal(config_set(r, "lpc.com1.path", "tcp=127.0.0.1:4444"), 0);
	assert_int_equal(config_set(r, "pci.0.3.0.path", "/a=b#c %(name) %%"), 0);
	assert_int_equal(config_set(r, "x", " leading and trailing "), 0);
	char *d = dump_string(r);
	char *path = temp_file(d, strlen(d));
	struct cfgnode *r2 = config_new();
	char err[256];
	assert_int_equal(config_load_file(r2, path, err, sizeof(err)), 0);
	char *d2 = dump_string(r2);
	assert_string_equal(d, d2);
	assert_string_equal(config_get(r2, "pci.0.3.0.path"), "/a=b#c vm %");
	free(d);
	free(d2);
	config_free(r2);
	unlink(path);
	free(path);
}

static void test_deep_paths(void **state)
{
	struct cfgnode *r = *state;
	/* 50000 components: set, look up, dump and free must not recurse per level */
	size_t n = 50000;
	char *p = malloc(2 * n);
	assert_non_null(p);
	for (size_t i = 0; i < n; i++) {
		p[2 * i] = 'a';
		p[2 * i + 1] = i + 1 < n ? '.' : '\0';
	}
	assert_int_equal(config_set(r, p, "deep"), 0);
	assert_string_equal(config_get(r, p), "deep");
	char *d = dump_string(r);
	assert_int_equal(strlen(d), 2 * n - 1 + strlen("=deep\n"));
	free(d);
	free(p);
}

/* ---- -k files ---- */

static int load_text(struct cfgnode *r, const char *text, char *err, size_t errlen)
{
	char *path = temp_file(text, strlen(text));
	int ret = config_load_file(r, path, err, errlen);
	/* messages name the file: make them predictable for the tests */
	char *at = strstr(err, path);
	if (at) {
		size_t pl = strlen(path);
		memmove(at + 1, at + pl, strlen(at + pl) + 1);
		at[0] = 'F';
	}
	unlink(path);
	free(path);
	return ret;
}

static void test_load_file_ok(void **state)
{
	struct cfgnode *r = *state;
	char err[256] = "";
	const char *text = "# a comment\n"
			   "\n"
			   "   \n"
			   "name=vm\n"
			   "  # indented comment\n"
			   "memory.size=1G\r\n"
			   "pci.0.3.0.path=/img#not-a-comment\n"
			   "  cpus=2\n"
			   "opts=a=b\n"
			   "empty=\n"
			   "memory.size=2G\n"
			   "noeol=yes";
	assert_int_equal(load_text(r, text, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_dump(r, "name=vm\n"
		       "memory.size=2G\n"
		       "pci.0.3.0.path=/img#not-a-comment\n"
		       "cpus=2\n"
		       "opts=a=b\n"
		       "empty=\n"
		       "noeol=yes\n");
	assert_int_equal(load_text(r, "", err, sizeof(err)), 0);
}

static void test_load_file_errors(void **state)
{
	struct cfgnode *r = *state;
	char err[256];

	assert_int_equal(load_text(r, "a=1\n# c\nnoequals\nb=2\n", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "F:3: missing '=' in 'noequals'"));
	assert_null(config_get(r, "b")); /* loading stops at the error */

	assert_int_equal(load_text(r, "\n=value\n", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "F:2: empty key"));

	assert_int_equal(load_text(r, "x.y=1\nx.z=2\n\nx=3\n", err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "F:4: key 'x' conflicts with an existing setting"));
	assert_int_equal(load_text(r, "x.y.q=1\n", err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "F:1: key 'x.y.q' conflicts"));

	assert_int_equal(load_text(r, "ok=1\na..b=1\n", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "F:2: malformed key 'a..b'"));
	assert_int_equal(load_text(r, "a b=1\n", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "F:1: malformed key 'a b'"));
	assert_int_equal(load_text(r, "a.=1\n", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "F:1: malformed key 'a.'"));

	/* NUL byte inside a line */
	char *path = temp_file("a=1\nb=x\0y\n", 10);
	assert_int_equal(config_load_file(r, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":2: NUL byte in line"));
	unlink(path);
	free(path);

	assert_int_equal(config_load_file(r, "/nonexistent/kbhyve.conf", err, sizeof(err)),
			 -ENOENT);
	assert_string_equal(err,
			    "/nonexistent/kbhyve.conf: cannot open: No such file or directory");

	assert_int_equal(config_load_file(r, "/", err, sizeof(err)), -EISDIR);
	assert_non_null(strstr(err, "/: read error: Is a directory"));
}

static void test_free_null(void **state)
{
	(void)state;
	config_free(NULL);
	struct cfgnode *r = config_new();
	assert_int_equal(config_set(r, "a.b.c", "1"), 0);
	/* freeing a subtree detaches it from its parent */
	config_free(config_node(r, "a.b"));
	assert_null(config_node(r, "a.b"));
	assert_non_null(config_node(r, "a"));
	assert_int_equal(config_set(r, "a.b", "2"), 0);
	assert_dump(r, "a.b=2\n");
	config_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_set_get, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_overwrite_keeps_position, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_set_default, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_conflicts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_paths, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_assignment, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expand_basic, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expand_cache_and_stability, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expand_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expand_blowup_bounded, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expand_concurrent_readers, setup, teardown),
	    cmocka_unit_test(test_parse_bool),
	    cmocka_unit_test_setup_teardown(test_get_bool, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_get_int, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nodes_iteration, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_relative_set_expands_from_root, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dump_format_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dump_empty, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dump_reload_roundtrip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deep_paths, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_load_file_ok, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_load_file_errors, setup, teardown),
	    cmocka_unit_test(test_free_null),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
