/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for bhyve(8) command-line parsing (src/config/options.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "config/options.h"
#include "core/vm.h"
#include "pci/pci.h"

/*
 * A test emulation registered through the real PCI_EMUL linker set, with its own legacy_config:
 * first field is the path (like virtio-blk), the rest goes to the generic parser.
 */
static int kbtest_legacy_config(struct cfgnode *dev, const char *opts)
{
	if (!opts)
		return config_set(dev, "path", "(no conf)");
	if (strcmp(opts, "fail") == 0)
		return -EINVAL;
	const char *comma = strchr(opts, ',');
	char path[256];
	size_t len = comma ? (size_t)(comma - opts) : strlen(opts);
	if (len >= sizeof(path))
		return -EINVAL;
	memcpy(path, opts, len);
	path[len] = '\0';
	int r = config_set(dev, "path", path);
	if (r == 0 && comma)
		r = pci_parse_legacy_config(dev, comma + 1);
	return r;
}

static const struct pci_devemu kbtest_emu = {
    .name = "kbtest-blk",
    .legacy_config = kbtest_legacy_config,
};
PCI_EMUL(kbtest_emu);

/* ---- harness ---- */

struct result {
	struct cfgnode *cfg;
	int ret, status;
	char err[512];
	char *out;
};

static struct result R;

static int parse_argv(char **argv)
{
	int argc = 0;
	while (argv[argc])
		argc++;
	config_free(R.cfg);
	free(R.out);
	R.cfg = config_new();
	assert_non_null(R.cfg);
	R.out = NULL;
	size_t outlen = 0;
	FILE *out = open_memstream(&R.out, &outlen);
	assert_non_null(out);
	memset(R.err, 'X', sizeof(R.err) - 1); /* stale text must not survive */
	R.err[sizeof(R.err) - 1] = '\0';
	R.status = -1;
	R.ret = bhyve_options_parse(argc, argv, R.cfg, out, &R.status, R.err, sizeof(R.err));
	fclose(out);
	return R.ret;
}

#define PARSE(...) parse_argv((char *[]){"bhyve", __VA_ARGS__, NULL})

static const char *get(const char *path)
{
	return config_get(R.cfg, path);
}

/* Expect success and one variable. */
#define assert_var(path, val)                                                                      \
	do {                                                                                       \
		const char *v_ = get(path);                                                        \
		if (!v_)                                                                           \
			fail_msg("%s is not set", path);                                           \
		assert_string_equal(v_, val);                                                      \
	} while (0)

static void assert_ok(void)
{
	if (R.ret != 0)
		fail_msg("parse failed (%d): %s", R.ret, R.err);
	assert_int_equal(R.status, 0);
}

/* Expect an error whose message contains `needle`. */
static void assert_error(const char *needle)
{
	if (R.ret >= 0)
		fail_msg("expected an error containing \"%s\", got %d", needle, R.ret);
	assert_int_equal(R.status, 4);
	if (!strstr(R.err, needle))
		fail_msg("error \"%s\" lacks \"%s\"", R.err, needle);
	assert_null(strchr(R.err, '\n')); /* one line */
	assert_string_equal(R.out, "");	  /* nothing printed */
}

static int teardown(void **state)
{
	(void)state;
	config_free(R.cfg);
	free(R.out);
	memset(&R, 0, sizeof(R));
	return 0;
}

static char *write_temp(const char *text)
{
	char *path = strdup("/tmp/kbhyve-test-options-XXXXXX");
	assert_non_null(path);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static char *dump(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	config_dump(R.cfg, f);
	fclose(f);
	return buf;
}

/* ---- defaults, flags ---- */

static void test_defaults(void **state)
{
	(void)state;
	PARSE("vm0");
	assert_ok();
	assert_var("name", "vm0");
	assert_var("memory.size", "256M");
	assert_var("acpi_tables", "true");
	assert_var("x86.mptable", "true");
	assert_var("x86.strictmsr", "true");
	assert_var("x86.x2apic", "true"); /* bhyve: false; on KVM x2APIC, as QEMU */
	assert_var("x86.strictio", "false");
	assert_var("rtc.use_localtime", "true");
	assert_var("virtio_msix", "true");
	assert_var("sandbox", "true");
	/* the computed topology is recorded */
	assert_var("cpus", "1");
	assert_var("sockets", "1");
	assert_var("cores", "1");
	assert_var("threads", "1");
	assert_null(get("memory.wired"));
	assert_null(get("uuid"));
	assert_string_equal(R.out, "");
}

static void test_flags(void **state)
{
	(void)state;
	static const struct {
		const char *opt, *var, *val;
	} t[] = {
	    {"-a", "x86.x2apic", "false"},	    {"-A", "acpi_tables", "true"},
	    {"-C", "memory.guest_in_core", "true"}, {"-D", "destroy_on_poweroff", "true"},
	    {"-e", "x86.strictio", "true"},	    {"-H", "x86.vmexit_on_hlt", "true"},
	    {"-P", "x86.vmexit_on_pause", "true"},  {"-S", "memory.wired", "true"},
	    {"-u", "rtc.use_localtime", "false"},   {"-W", "virtio_msix", "false"},
	    {"-w", "x86.strictmsr", "false"},	    {"-x", "x86.x2apic", "true"},
	    {"-Y", "x86.mptable", "false"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		PARSE((char *)t[i].opt, "vm");
		assert_ok();
		assert_var(t[i].var, t[i].val);
	}
}

static void test_flag_noops_and_order(void **state)
{
	(void)state;
	PARSE("vm");
	char *base = dump();
	PARSE("-I", "-A", "vm");
	assert_ok();
	char *with = dump();
	assert_string_equal(base, with); /* -I and -A change nothing */
	free(base);
	free(with);

	PARSE("-x", "-a", "vm"); /* last wins */
	assert_ok();
	assert_var("x86.x2apic", "false");
	PARSE("-a", "-x", "vm");
	assert_var("x86.x2apic", "true");

	PARSE("-HwuS", "vm"); /* clustered flags */
	assert_ok();
	assert_var("x86.vmexit_on_hlt", "true");
	assert_var("x86.strictmsr", "false");
	assert_var("rtc.use_localtime", "false");
	assert_var("memory.wired", "true");

	PARSE("-Hc", "2", "-m2G", "vm"); /* flag + option in one word, attached argument */
	assert_ok();
	assert_var("x86.vmexit_on_hlt", "true");
	assert_var("cpus", "2");
	assert_var("memory.size", "2G");
}

/* ---- -c ---- */

static void test_cpus_good(void **state)
{
	(void)state;
	static const struct {
		const char *arg;
		const char *cpus, *sockets, *cores, *threads;
	} t[] = {
	    {"4", "4", "4", "1", "1"},
	    {"cpus=4", "4", "4", "1", "1"},
	    {"sockets=2,cores=2", "4", "2", "2", "1"},
	    {"4,sockets=2,cores=2", "4", "2", "2", "1"},
	    {"cores=2,threads=2,sockets=2,cpus=8", "8", "2", "2", "2"},
	    {"threads=2", "2", "1", "1", "2"},
	    {"", "1", "1", "1", "1"}, /* bhyve: an empty -c is one vCPU */
	    {"256", "256", "256", "1", "1"},
	    {"016", "16", "16", "1", "1"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		PARSE("-c", (char *)t[i].arg, "vm");
		assert_ok();
		assert_var("cpus", t[i].cpus);
		assert_var("sockets", t[i].sockets);
		assert_var("cores", t[i].cores);
		assert_var("threads", t[i].threads);
	}
	/* a later -c overrides keys it names, keeps the others (bhyve) */
	PARSE("-c", "sockets=2,cores=2", "-c", "cores=4", "vm");
	assert_ok();
	assert_var("cpus", "8");
}

static void test_cpus_bad(void **state)
{
	(void)state;
	static const struct {
		const char *arg, *msg;
	} t[] = {
	    {"0", "invalid cpus value '0' in -c '0' (expected 1-65535)"},
	    {"65536", "invalid cpus value '65536'"},
	    {"abc", "invalid cpus value 'abc'"},
	    {"4x", "invalid cpus value '4x'"},
	    {"-1", "invalid cpus value '-1'"},
	    {"+4", "invalid cpus value '+4'"},
	    {" 4", "invalid cpus value ' 4'"},
	    {"cores=", "invalid cores value ''"},
	    {"sockets=0", "invalid sockets value '0'"},
	    {"threads=x", "invalid threads value 'x'"},
	    {"4,,cores=2", "empty element in -c '4,,cores=2'"},
	    {"4,", "empty element in -c '4,'"},
	    {",4", "empty element in -c ',4'"},
	    {"maxcpus=4", "unknown key 'maxcpus' in -c 'maxcpus=4'"},
	    {"4,cpus=4", "cpus given more than once"},
	    {"sockets=2,sockets=2", "sockets given more than once"},
	    {"4,sockets=2", "topology (2 sockets, 1 cores, 1 threads) does not match 4 vCPUs"},
	    {"4,cores=2", "topology (4 sockets, 2 cores, 1 threads) does not match 4 vCPUs"},
	    {"6,sockets=1,cores=2,threads=2",
	     "topology (1 sockets, 2 cores, 2 threads) does not match 6 vCPUs"},
	    {"257", "257 vCPUs (257 sockets x 1 cores x 1 threads) exceed the maximum of 256"},
	    {"sockets=16,cores=16,threads=2", "512 vCPUs (16 sockets x 16 cores x 2 threads)"},
	    {"sockets=65535,cores=65535,threads=65535", "exceed the maximum of 256"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		PARSE("-c", (char *)t[i].arg, "vm");
		assert_error(t[i].msg);
	}
	/* -c is validated when seen: an error before -h wins */
	PARSE("-c", "0", "-h");
	assert_error("invalid cpus value '0'");
	PARSE("-c");
	assert_error("option -c requires an argument");
}

static void test_parse_topology_atomic(void **state)
{
	(void)state;
	struct cfgnode *cfg = config_new();
	char err[256];
	assert_int_equal(parse_topology("4,cores=2,bogus=1", cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unknown key 'bogus'"));
	assert_null(config_get(cfg, "cpus")); /* nothing half-applied */
	assert_null(config_get(cfg, "cores"));
	assert_int_equal(parse_topology(NULL, cfg, err, sizeof(err)), -EINVAL);
	/* a conflicting tree is reported */
	assert_int_equal(config_set(cfg, "cpus.x", "1"), 0);
	assert_int_equal(parse_topology("2", cfg, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "cannot set cpus"));
	config_free(cfg);
}

static void test_topology_from_config(void **state)
{
	(void)state;
	struct cfgnode *cfg = config_new();
	struct cpu_topology t;
	char err[256];
	assert_int_equal(topology_from_config(cfg, &t, err, sizeof(err)), 0);
	assert_int_equal(t.cpus, 1);
	assert_int_equal(t.sockets, 1);
	assert_int_equal(t.cores, 1);
	assert_int_equal(t.threads, 1);

	assert_int_equal(config_set(cfg, "sockets", "2"), 0);
	assert_int_equal(config_set(cfg, "cores", "4"), 0);
	assert_int_equal(config_set(cfg, "threads", "2"), 0);
	assert_int_equal(topology_from_config(cfg, &t, err, sizeof(err)), 0);
	assert_int_equal(t.cpus, 16);
	assert_int_equal(t.sockets, 2);
	assert_int_equal(t.cores, 4);
	assert_int_equal(t.threads, 2);

	assert_int_equal(config_set(cfg, "cpus", "16"), 0);
	assert_int_equal(topology_from_config(cfg, &t, err, sizeof(err)), 0);
	assert_int_equal(config_set(cfg, "cpus", "8"), 0);
	assert_int_equal(topology_from_config(cfg, &t, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "topology (2 sockets, 4 cores, 2 threads) does not match 8 vCPUs");
	config_free(cfg);
}

static void test_cpus_via_o(void **state)
{
	(void)state;
	PARSE("-o", "cpus=2", "vm");
	assert_ok();
	assert_var("sockets", "2");
	PARSE("-o", "cpus=abc", "vm");
	assert_error("invalid value for cpus: 'abc' (expected 1-65535)");
	PARSE("-o", "cpus=0x4", "vm");
	assert_error("invalid value for cpus: '0x4'");
	PARSE("-o", "cores.x=1", "vm");
	assert_error("'cores' must be a number, not a group of settings");
	PARSE("-o", "threads=%(nope)", "vm");
	assert_error("cannot expand the value of threads");
	PARSE("-o", "n=4", "-o", "cpus=%(n)", "vm"); /* expansion applies */
	assert_ok();
	assert_var("cpus", "4");
	PARSE("-c", "4", "-o", "sockets=2", "vm");
	assert_error("topology (2 sockets, 1 cores, 1 threads) does not match 4 vCPUs");
}

/* ---- -m ---- */

static void test_memsize_parse(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		uint64_t bytes;
	} good[] = {
	    {"1024K", 1024ull << 10},
	    {"1024k", 1024ull << 10},
	    {"512M", 512ull << 20},
	    {"512m", 512ull << 20},
	    {"2G", 2ull << 30},
	    {"2g", 2ull << 30},
	    {"1T", 1ull << 40},
	    {"1t", 1ull << 40},
	    {"256", 256ull << 20},
	    {"1", 1ull << 20},
	    {"1048575", 1048575ull << 20},
	    {"1048576", 1048576}, /* bhyve: a bare number of 1 MiB and above is bytes */
	    {"4294967296", 4294967296ull},
	    {"16777215T", 16777215ull << 40},
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint64_t b = 0;
		assert_int_equal(parse_memsize(good[i].s, &b), 0);
		assert_int_equal(b, good[i].bytes);
	}
	static const struct {
		const char *s;
		int err;
	} bad[] = {
	    {"0", -ERANGE},	    {"0G", -ERANGE},
	    {"-1", -EINVAL},	    {"12Q", -EINVAL},
	    {"", -EINVAL},	    {"99999999999999T", -ERANGE},
	    {"16777216T", -ERANGE}, {"99999999999999999999", -ERANGE},
	    {"1.5G", -EINVAL},	    {"1GB", -EINVAL},
	    {"1 G", -EINVAL},	    {" 1G", -EINVAL},
	    {"+1G", -EINVAL},	    {"G", -EINVAL},
	    {"0x10", -EINVAL},	    {"1P", -EINVAL},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t b = 77;
		if (parse_memsize(bad[i].s, &b) != bad[i].err)
			fail_msg("parse_memsize(\"%s\") != %d", bad[i].s, bad[i].err);
		assert_int_equal(b, 77);
	}
	uint64_t b;
	assert_int_equal(parse_memsize(NULL, &b), -EINVAL);
}

static void test_memsize_option(void **state)
{
	(void)state;
	static const char *const good[] = {"1024K", "512M", "2G", "1T", "256", "4g"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		PARSE("-m", (char *)good[i], "vm");
		assert_ok();
		assert_var("memory.size", good[i]); /* stored as given */
	}
	PARSE("-m", "0", "vm");
	assert_error("memory size '0' out of range");
	PARSE("-m", "99999999999999T", "vm");
	assert_error("memory size '99999999999999T' out of range");
	PARSE("-m", "-1", "vm");
	assert_error("invalid memory size '-1' (expected a number with an optional K, M, G or T");
	PARSE("-m", "12Q", "vm");
	assert_error("invalid memory size '12Q'");
	PARSE("-m", "", "vm");
	assert_error("invalid memory size ''");
}

/* ---- -s ---- */

static void test_pci_slot_parse(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		int b, sl, f;
	} good[] = {
	    {"0", 0, 0, 0},	{"31", 0, 31, 0},	  {"3:7", 0, 3, 7},
	    {"1:2:3", 1, 2, 3}, {"255:31:7", 255, 31, 7}, {"03:01", 0, 3, 1},
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int b = -1, s = -1, f = -1;
		assert_int_equal(pci_parse_slot(good[i].s, &b, &s, &f), 0);
		assert_int_equal(b, good[i].b);
		assert_int_equal(s, good[i].sl);
		assert_int_equal(f, good[i].f);
	}
	static const struct {
		const char *s;
		int err;
	} bad[] = {
	    {"32", -ERANGE},	  {"0:8", -ERANGE}, {"256:0:0", -ERANGE}, {"1000000", -ERANGE},
	    {"", -EINVAL},	  {":", -EINVAL},   {"1:", -EINVAL},	  {":1", -EINVAL},
	    {"1:2:3:4", -EINVAL}, {"x", -EINVAL},   {"-1", -EINVAL},	  {"+1", -EINVAL},
	    {"1 ", -EINVAL},	  {"0x1", -EINVAL}, {"1::2", -EINVAL},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int b = -1, s = -1, f = -1;
		if (pci_parse_slot(bad[i].s, &b, &s, &f) != bad[i].err)
			fail_msg("pci_parse_slot(\"%s\") != %d", bad[i].s, bad[i].err);
		assert_int_equal(b, -1);
	}
	int b, s, f;
	assert_int_equal(pci_parse_slot(NULL, &b, &s, &f), -EINVAL);
}

static void test_legacy_config(void **state)
{
	(void)state;
	struct cfgnode *cfg = config_new();
	struct cfgnode *dev = config_node_create(cfg, "pci.0.5.0");
	assert_int_equal(pci_parse_legacy_config(dev, NULL), 0);
	assert_int_equal(pci_parse_legacy_config(dev, ""), 0);
	assert_null(config_first_child(dev));
	assert_int_equal(pci_parse_legacy_config(dev, "ro,sectorsize=512/4096,x=,a=b=c,x=2"), 0);
	assert_string_equal(config_get(cfg, "pci.0.5.0.ro"), "true");
	assert_string_equal(config_get(cfg, "pci.0.5.0.sectorsize"), "512/4096");
	assert_string_equal(config_get(cfg, "pci.0.5.0.x"), "2"); /* last wins */
	assert_string_equal(config_get(cfg, "pci.0.5.0.a"), "b=c");
	assert_int_equal(pci_parse_legacy_config(dev, "port.1.path=/s"), 0);
	assert_string_equal(config_get(cfg, "pci.0.5.0.port.1.path"), "/s");
	assert_int_equal(pci_parse_legacy_config(dev, "a,,b"), -EINVAL);
	assert_int_equal(pci_parse_legacy_config(dev, ","), -EINVAL);
	assert_int_equal(pci_parse_legacy_config(dev, "=v"), -EINVAL);
	assert_int_equal(pci_parse_legacy_config(dev, "a b=1"), -EINVAL);
	assert_int_equal(pci_parse_legacy_config(dev, "ro.x=1"), -EEXIST);
	config_free(cfg);
}

static void test_pci_option(void **state)
{
	(void)state;
	PARSE("-s", "0,hostbridge", "-s", "31:0,lpc", "-s", "1:2:3,amd_hostbridge", "vm");
	assert_ok();
	assert_var("pci.0.0.0.device", "hostbridge");
	assert_var("pci.0.31.0.device", "lpc");
	assert_var("pci.1.2.3.device", "amd_hostbridge");

	/* generic conf parser */
	PARSE("-s", "5:1,hostbridge,pcireg.vendor=0x1234,ro", "vm");
	assert_ok();
	assert_var("pci.0.5.1.device", "hostbridge");
	assert_var("pci.0.5.1.pcireg.vendor", "0x1234");
	assert_var("pci.0.5.1.ro", "true");

	/* the emulation's own legacy_config */
	PARSE("-s", "4,kbtest-blk,/img,nocache,sectorsize=4096", "vm");
	assert_ok();
	assert_var("pci.0.4.0.device", "kbtest-blk");
	assert_var("pci.0.4.0.path", "/img");
	assert_var("pci.0.4.0.nocache", "true");
	assert_var("pci.0.4.0.sectorsize", "4096");
	PARSE("-s", "4,kbtest-blk", "vm"); /* no conf: legacy_config gets NULL */
	assert_ok();
	assert_var("pci.0.4.0.path", "(no conf)");
	PARSE("-s", "4,kbtest-blk,", "vm"); /* empty conf is no conf */
	assert_ok();
	assert_var("pci.0.4.0.path", "(no conf)");

	/* -o and -s describe the same thing */
	PARSE("-o", "pci.0.4.0.device=kbtest-blk", "-o", "pci.0.4.0.path=/img", "vm");
	assert_ok();
	char *a = dump();
	PARSE("-s", "4,kbtest-blk,/img", "vm");
	char *b = dump();
	assert_string_equal(a, b);
	free(a);
	free(b);
}

static void test_pci_option_errors(void **state)
{
	(void)state;
	static const struct {
		const char *arg, *msg;
	} t[] = {
	    {"32,hostbridge", "PCI slot '32' out of range (bus 0-255, slot 0-31, function 0-7)"},
	    {"0:8,hostbridge", "PCI slot '0:8' out of range"},
	    {"256:0:0,hostbridge", "PCI slot '256:0:0' out of range"},
	    {"1:2:3:4,hostbridge", "invalid PCI slot '1:2:3:4' (expected slot, slot:function or "
				   "bus:slot:function)"},
	    {"x,hostbridge", "invalid PCI slot 'x'"},
	    {",hostbridge", "invalid PCI slot ''"},
	    {"3", "-s 3: missing emulation (expected slot,emulation[,conf])"},
	    {"3,", "-s 3,: missing emulation"},
	    {"3,foo", "unknown PCI emulation 'foo' (see bhyve -s help)"},
	    {"3,HOSTBRIDGE", "unknown PCI emulation 'HOSTBRIDGE'"},
	    {"4,kbtest-blk,fail",
	     "invalid options 'fail' for kbtest-blk in PCI slot 0:4:0: Invalid argument"},
	    {"5,hostbridge,=x", "invalid options '=x' for hostbridge in PCI slot 0:5:0: empty or "
				"malformed key"},
	    {"5,hostbridge,a,,b", "empty or malformed key"},
	    {"5,hostbridge,a=1,a.b=2", "a key conflicts with another one"},
	    {"5,hostbridge,device.x=1", "a key conflicts with another one"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		PARSE("-s", (char *)t[i].arg, "vm");
		assert_error(t[i].msg);
	}
	PARSE("-s", "3,hostbridge", "-s", "0:3:0,lpc", "vm");
	assert_error("PCI slot 0:3:0 is already occupied");
	PARSE("-s", "1:3:1,hostbridge", "-s", "1:3:1,hostbridge", "vm");
	assert_error("PCI slot 1:3:1 is already occupied");
	PARSE("-o", "pci.0.3.0.device=hostbridge", "-s", "3,lpc", "vm");
	assert_error("PCI slot 0:3:0 is already occupied");
	PARSE("-o", "pci=1", "-s", "3,lpc", "vm");
	assert_error("cannot create pci.0.3.0: it conflicts with an existing setting");
	/* different functions of one slot are distinct */
	PARSE("-s", "3:0,hostbridge", "-s", "3:1,lpc", "vm");
	assert_ok();
}

/* ---- -l ---- */

static void test_lpc_option(void **state)
{
	(void)state;
	PARSE("-l", "com1,stdio", "-l", "com2,/dev/nmdm0A", "-l", "com3,tcp=127.0.0.1:4444", "-l",
	      "COM4,/dev/ttyS1,odd,but,kept", "vm");
	assert_ok();
	assert_var("lpc.com1.path", "stdio");
	assert_var("lpc.com2.path", "/dev/nmdm0A");
	assert_var("lpc.com3.path", "tcp=127.0.0.1:4444");
	assert_var("lpc.com4.path", "/dev/ttyS1,odd,but,kept");

	PARSE("-l", "bootrom,/usr/share/ovmf/CODE.fd", "vm");
	assert_ok();
	assert_var("lpc.bootrom", "/usr/share/ovmf/CODE.fd");
	assert_null(get("lpc.bootvars"));
	assert_null(get("lpc.fwcfg"));
	PARSE("-l", "bootrom,/c.fd,/v.fd", "vm");
	assert_ok();
	assert_var("lpc.bootrom", "/c.fd");
	assert_var("lpc.bootvars", "/v.fd");
	PARSE("-l", "bootrom,/c.fd,/v.fd,fwcfg=qemu", "vm");
	assert_ok();
	assert_var("lpc.bootvars", "/v.fd");
	assert_var("lpc.fwcfg", "qemu");
	PARSE("-l", "BootROM,/c.fd,fwcfg=bhyve", "vm");
	assert_ok();
	assert_null(get("lpc.bootvars"));
	assert_var("lpc.fwcfg", "bhyve");

	PARSE("-l", "tpm,swtpm,/run/swtpm.sock", "vm");
	assert_ok();
	assert_var("tpm.type", "swtpm");
	assert_var("tpm.path", "/run/swtpm.sock");
	assert_var("tpm.version", "2.0");
	PARSE("-l", "tpm,passthru,/dev/tpm0,version=2.0", "vm");
	assert_ok();
	assert_var("tpm.type", "passthru");
	assert_var("tpm.path", "/dev/tpm0");

	PARSE("-l", "pc-testdev", "vm");
	assert_ok();
	assert_var("lpc.pc-testdev", "true");

	PARSE("-l", "com1,stdio", "-l", "com1,/dev/null", "vm"); /* last wins */
	assert_var("lpc.com1.path", "/dev/null");
}

static void test_lpc_option_errors(void **state)
{
	(void)state;
	static const struct {
		const char *arg, *msg;
	} t[] = {
	    {"com1", "-l com1: missing backend for com1 (e.g. -l com1,stdio)"},
	    {"com3,", "missing backend for com3"},
	    {"com5,stdio", "unknown LPC device 'com5' (see bhyve -l help)"},
	    {"com,stdio", "unknown LPC device 'com'"},
	    {"floppy", "unknown LPC device 'floppy'"},
	    {"", "unknown LPC device ''"},
	    {"bootrom", "-l bootrom: missing boot ROM file"},
	    {"bootrom,", "missing boot ROM file"},
	    {"bootrom,/c,/v,/x", "-l bootrom,/c,/v,/x: unexpected '/x'"},
	    {"bootrom,/c,", "unexpected ''"},
	    {"bootrom,/c,fwcfg=uefi", "invalid fwcfg 'uefi' (expected bhyve or qemu)"},
	    {"bootrom,/c,/v,foo=1", "unexpected 'foo=1'"},
	    {"tpm", "expected tpm,type,path[,version=2.0]"},
	    {"tpm,swtpm", "expected tpm,type,path"},
	    {"tpm,swtpm,", "expected tpm,type,path"},
	    {"tpm,emulator,/x", "unknown TPM type 'emulator' (expected passthru or swtpm)"},
	    {"tpm,swtpm,/s,version=1.2", "unsupported TPM version '1.2' (only 2.0)"},
	    {"tpm,swtpm,/s,bar", "unexpected TPM option 'bar'"},
	    {"pc-testdev,x", "pc-testdev takes no options"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		PARSE("-l", (char *)t[i].arg, "vm");
		assert_error(t[i].msg);
	}
	PARSE("-o", "lpc=x", "-l", "com1,stdio", "vm");
	assert_error("-l com1,stdio: conflicts with an existing setting");
}

/* ---- -o, -k and precedence ---- */

static void test_o_option(void **state)
{
	(void)state;
	PARSE("-o", "pci.0.4.0.device=virtio-blk", "-o", "bios.vendor=ACME Inc", "-o", "e=", "vm");
	assert_ok();
	assert_var("pci.0.4.0.device", "virtio-blk");
	assert_var("bios.vendor", "ACME Inc");
	assert_var("e", "");

	PARSE("-o", "novalue", "vm");
	assert_error("invalid -o 'novalue' (expected var=value)");
	PARSE("-o", "a..b=1", "vm");
	assert_error("invalid variable name in -o 'a..b=1'");
	PARSE("-o", "=1", "vm");
	assert_error("invalid variable name in -o '=1'");
	PARSE("-o", "x86=1", "vm"); /* x86 is a group (defaults) */
	assert_error("-o 'x86=1' conflicts with an existing setting");
	PARSE("-o", "memory.size.x=1", "vm");
	assert_error("-o 'memory.size.x=1' conflicts");

	/* config.dump is only a variable: the caller acts on it */
	PARSE("-o", "config.dump=1", "vm");
	assert_ok();
	assert_var("config.dump", "1");
	assert_string_equal(R.out, "");
}

static void test_precedence(void **state)
{
	(void)state;
	PARSE("-m", "1G", "-o", "memory.size=2G", "vm");
	assert_ok();
	assert_var("memory.size", "2G");
	PARSE("-o", "memory.size=2G", "-m", "1G", "vm");
	assert_var("memory.size", "1G");
	PARSE("-o", "x86.x2apic=true", "-a", "vm");
	assert_var("x86.x2apic", "false");
	PARSE("-x", "-o", "x86.x2apic=no", "vm");
	assert_var("x86.x2apic", "no");

	char *f = write_temp("# kbhyve\nname=fromfile\nmemory.size=4G\nx86.x2apic=true\n"
			     "pci.0.4.0.device=kbtest-blk\n");
	PARSE("-k", f);
	assert_ok();
	assert_var("name", "fromfile");
	assert_var("memory.size", "4G");
	assert_var("x86.x2apic", "true");
	assert_var("x86.mptable", "true"); /* defaults not named in the file stay */
	PARSE("-m", "1G", "-k", f, "vm");
	assert_ok();
	assert_var("memory.size", "4G");
	assert_var("name", "vm"); /* the positional name comes last */
	PARSE("-k", f, "-m", "1G", "-o", "name=other");
	assert_var("memory.size", "1G");
	assert_var("name", "other");
	PARSE("-k", f, "-o", "memory.size=8G", "-k", f, "-x");
	assert_var("memory.size", "4G");
	/* -s after -k sees the file's slot */
	PARSE("-k", f, "-s", "4,hostbridge");
	assert_error("PCI slot 0:4:0 is already occupied");
	unlink(f);
	free(f);

	PARSE("-k", "/nonexistent/kb.conf", "vm");
	assert_error("/nonexistent/kb.conf: cannot open: No such file or directory");
	f = write_temp("name=x\nbroken line\n");
	PARSE("-k", f, "vm");
	assert_error(":2: missing '=' in 'broken line'");
	unlink(f);
	free(f);
}

/* ---- -p, -U ---- */

static void test_pin_option(void **state)
{
	(void)state;
	PARSE("-c", "2", "-p", "0:1", "-p", "1:2", "-p", "0:3", "vm");
	assert_ok();
	assert_var("vcpu.0.cpuset", "1,3");
	assert_var("vcpu.1.cpuset", "2");
	PARSE("-p", "255:1023", "vm");
	assert_ok();
	assert_var("vcpu.255.cpuset", "1023");

	static const struct {
		const char *arg, *msg;
	} t[] = {
	    {"x", "invalid -p 'x' (expected vcpu:hostcpu)"},
	    {"1", "invalid -p '1' (expected vcpu:hostcpu)"},
	    {"a:1", "invalid vCPU in -p 'a:1' (expected 0-255)"},
	    {":1", "invalid vCPU in -p ':1'"},
	    {"256:1", "invalid vCPU in -p '256:1'"},
	    {"-1:1", "invalid vCPU in -p '-1:1'"},
	    {"0:", "invalid host CPU in -p '0:' (expected 0-1023)"},
	    {"0:-1", "invalid host CPU in -p '0:-1'"},
	    {"0:1024", "invalid host CPU in -p '0:1024'"},
	    {"0:1:2", "invalid host CPU in -p '0:1:2'"},
	    {"99999999999999999999:1", "invalid vCPU in -p '99999999999999999999:1'"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		PARSE("-p", (char *)t[i].arg, "vm");
		assert_error(t[i].msg);
	}
}

/* -K stores the layout name as bhyve does; the i8042 loads (and checks) the file when the VM
 * starts. */
static void test_keyboard_layout_option(void **state)
{
	(void)state;
	PARSE("vm");
	assert_ok();
	assert_null(get("keyboard.layout"));
	PARSE("-K", "de_noacc", "vm");
	assert_ok();
	assert_var("keyboard.layout", "de_noacc");
	PARSE("-Kfr", "-K", "/etc/kbd/custom", "vm"); /* the last one wins */
	assert_ok();
	assert_var("keyboard.layout", "/etc/kbd/custom");
	PARSE("-K", "", "vm");
	assert_error("-K: empty keyboard layout name");
	PARSE("-K");
	assert_error("option -K requires an argument");
}

static void test_uuid_option(void **state)
{
	(void)state;
	PARSE("-U", "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "vm");
	assert_ok();
	assert_var("uuid", "6ba7b810-9dad-11d1-80b4-00c04fd430c8");
	PARSE("-U", "6BA7B810-9DAD-11D1-80B4-00C04FD430C8", "vm");
	assert_ok();
	static const char *const bad[] = {
	    "",
	    "6ba7b810-9dad-11d1-80b4-00c04fd430c",   /* short */
	    "6ba7b810-9dad-11d1-80b4-00c04fd430c8a", /* long */
	    "6ba7b8109dad11d180b400c04fd430c8",	     /* no dashes */
	    "6ba7b810-9dad-11d1-80b4-00c04fd430cg",  /* not hex */
	    "6ba7b8109-dad-11d1-80b4-00c04fd430c8",  /* dash misplaced */
	    "{6ba7b810-9dad-11d1-80b4-00c04fd430c}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		PARSE("-U", (char *)bad[i], "vm");
		assert_error("invalid UUID");
		assert_non_null(strstr(R.err, bad[i]));
	}
}

/* ---- help, names, unsupported and unknown options ---- */

static void test_help(void **state)
{
	(void)state;
	assert_int_equal(PARSE("-h"), 1);
	assert_int_equal(R.status, 0);
	assert_non_null(strstr(R.out, "Usage: bhyve [-aCDeHhPSuWwxY]"));
	assert_non_null(strstr(R.out, "[-s slot,emulation[,conf]]"));
	assert_non_null(strstr(R.out, "vmname"));
	/* the program name is argv[0]'s last component */
	assert_int_equal(parse_argv((char *[]){"/usr/sbin/bhyve", "-Hh", "ignored", NULL}), 1);
	assert_non_null(strstr(R.out, "Usage: bhyve [-aCDeHhPSuWwxY]\n             [-c"));

	assert_int_equal(PARSE("-s", "help"), 1);
	assert_int_equal(R.status, 0);
	assert_non_null(strstr(R.out, "hostbridge\n"));
	assert_non_null(strstr(R.out, "amd_hostbridge\n"));
	assert_non_null(strstr(R.out, "lpc\n"));
	assert_non_null(strstr(R.out, "kbtest-blk\n"));

	assert_int_equal(PARSE("-c", "2", "-l", "help", "vm"), 1);
	assert_int_equal(R.status, 0);
	assert_string_equal(R.out, "bootrom\ncom1\ncom2\ncom3\ncom4\ntpm\npc-testdev\n");
}

static void test_names(void **state)
{
	(void)state;
	PARSE("-c", "2");
	assert_error("no VM name given");
	parse_argv((char *[]){"bhyve", NULL});
	assert_error("no VM name given");
	PARSE("-o", "name=", "-c", "1");
	assert_error("the VM name must be a non-empty string");
	PARSE("-o", "name.x=1");
	assert_error("the VM name must be a non-empty string");
	PARSE("vm1", "vm2");
	assert_error("more than one VM name given ('vm1', 'vm2')");
	PARSE("vm1", "-c", "2"); /* options stop at the name */
	assert_error("more than one VM name given ('vm1', '-c'); options go before the VM name");
	PARSE("-o", "name=fromo");
	assert_ok();
	assert_var("name", "fromo");
	PARSE("-o", "name=fromo", "positional");
	assert_var("name", "positional");
	PARSE("--", "-dashname");
	assert_ok();
	assert_var("name", "-dashname");
	PARSE("-");
	assert_ok();
	assert_var("name", "-");
	PARSE("-o", "name=x", "-o", "name.y=1");
	assert_error("-o 'name.y=1' conflicts");
}

/* -f name,string=... | name,file=...: kept in order under fwcfg.user.N */
static void test_fwcfg_user_items(void **state)
{
	(void)state;
	assert_int_equal(PARSE("-f", "opt/org.example/a,string=hello, world", "-f",
			       "opt/b,file=/tmp/x.bin", "vm"),
			 0);
	assert_string_equal(config_get_raw(R.cfg, "fwcfg.user.0.name"), "opt/org.example/a");
	assert_string_equal(config_get_raw(R.cfg, "fwcfg.user.0.string"), "hello, world");
	assert_string_equal(config_get_raw(R.cfg, "fwcfg.user.1.name"), "opt/b");
	assert_string_equal(config_get_raw(R.cfg, "fwcfg.user.1.file"), "/tmp/x.bin");
	assert_null(config_get_raw(R.cfg, "fwcfg.user.1.string"));
	assert_int_equal(PARSE("-f", "opt/e,string=", "vm"), 0);
	assert_string_equal(config_get_raw(R.cfg, "fwcfg.user.0.string"), "");

	assert_int_equal(PARSE("-f", "opt/a", "vm"), -EINVAL);
	assert_error("invalid -f 'opt/a' (expected name,string=data or name,file=path)");
	assert_int_equal(PARSE("-f", ",string=x", "vm"), -EINVAL);
	assert_error("invalid -f ',string=x'");
	assert_int_equal(PARSE("-f", "opt/a,data=x", "vm"), -EINVAL);
	assert_error("invalid -f 'opt/a,data=x'");
	assert_int_equal(PARSE("-f", "opt/a,file=", "vm"), -EINVAL);
	assert_error("-f opt/a: empty file name");
	assert_int_equal(PARSE("-f", "opt/0123456789012345678901234567890123456789012345678901,"
				     "string=x",
			       "vm"),
			 -ENAMETOOLONG);
	assert_error("fw_cfg file name longer than 55 bytes");
}

static void test_unsupported_and_unknown(void **state)
{
	(void)state;
	static const struct {
		const char *opt, *msg;
	} t[] = {
	    {"-G", "option -G (GDB stub) is not supported by kbhyve yet"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(PARSE((char *)t[i].opt, "x", "vm"), -ENOTSUP);
		assert_error(t[i].msg);
		PARSE((char *)t[i].opt); /* even without its argument */
		assert_error(t[i].msg);
	}
	PARSE("-G1234", "vm");
	assert_error("option -G (GDB stub)");
	/* -r: the snapshot to restore, checked when the VM exists */
	assert_int_equal(PARSE("-r", "/var/snap/one", "vm"), 0);
	assert_var("restore.file", "/var/snap/one");
	assert_int_equal(PARSE("-r", "", "vm"), -EINVAL);
	assert_error("-r: empty snapshot file name");
	/* -R: where to receive a live migration, checked when the VM exists */
	assert_int_equal(PARSE("-R", "10.0.0.2:7411", "vm"), 0);
	assert_var("migrate.listen", "10.0.0.2:7411");
	assert_int_equal(PARSE("-R", "", "vm"), -EINVAL);
	assert_error("-R: give [ADDRESS:]PORT to receive the migration on");

	PARSE("-q", "vm");
	assert_error("unknown option -q (see bhyve -h)");
	PARSE("-Hz", "vm");
	assert_error("unknown option -z");
	PARSE("-:", "vm");
	assert_error("unknown option -:");
	PARSE("-n", "0,1G,1", "vm"); /* NUMA domains: not in bhyve's getopt either */
	assert_error("unknown option -n");
	PARSE("-\x01", "vm");
	assert_error("unknown option byte 0x01");
	PARSE("--long", "vm");
	assert_error("unknown option --");

	static const char *const need_arg[] = {"-k", "-o", "-p", "-s", "-m", "-l", "-U", "-c"};
	for (size_t i = 0; i < sizeof(need_arg) / sizeof(need_arg[0]); i++) {
		PARSE((char *)need_arg[i]);
		char msg[64];
		snprintf(msg, sizeof(msg), "option %s requires an argument", need_arg[i]);
		assert_error(msg);
	}
}

static void test_reentrant(void **state)
{
	(void)state;
	/* repeated calls start from scratch (no hidden getopt state) */
	for (int i = 0; i < 3; i++) {
		PARSE("-c", "2", "-m", "1G", "-s", "0,hostbridge", "vm");
		assert_ok();
		assert_var("cpus", "2");
		assert_var("pci.0.0.0.device", "hostbridge");
	}
	PARSE("-q");
	assert_error("unknown option -q");
	PARSE("vm");
	assert_ok();
}

static void test_full_vm_bhyve_command_line(void **state)
{
	(void)state;
	/* the shape of command line vm-bhyve builds */
	PARSE("-c", "2", "-m", "1G", "-AHPw", "-U", "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "-u",
	      "-l", "bootrom,/usr/local/share/uefi-firmware/BHYVE_UEFI.fd", "-s", "0,hostbridge",
	      "-s", "31,lpc", "-s", "4:0,kbtest-blk,/vm/guest/disk0.img", "-l",
	      "com1,/dev/nmdm-guest.1A", "guest");
	assert_ok();
	char *d = dump();
	assert_string_equal(d, "memory.size=1G\n"
			       "acpi_tables=true\n"
			       "x86.mptable=true\n"
			       "x86.strictmsr=false\n"
			       "x86.x2apic=true\n"
			       "x86.strictio=false\n"
			       "x86.vmexit_on_hlt=true\n"
			       "x86.vmexit_on_pause=true\n"
			       "rtc.use_localtime=false\n"
			       "virtio_msix=true\n"
			       "sandbox=true\n"
			       "cpus=2\n"
			       "uuid=6ba7b810-9dad-11d1-80b4-00c04fd430c8\n"
			       "lpc.bootrom=/usr/local/share/uefi-firmware/BHYVE_UEFI.fd\n"
			       "lpc.com1.path=/dev/nmdm-guest.1A\n"
			       "pci.0.0.0.device=hostbridge\n"
			       "pci.0.31.0.device=lpc\n"
			       "pci.0.4.0.device=kbtest-blk\n"
			       "pci.0.4.0.path=/vm/guest/disk0.img\n"
			       "name=guest\n"
			       "sockets=2\n"
			       "cores=1\n"
			       "threads=1\n");
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_defaults, teardown),
	    cmocka_unit_test_teardown(test_flags, teardown),
	    cmocka_unit_test_teardown(test_flag_noops_and_order, teardown),
	    cmocka_unit_test_teardown(test_cpus_good, teardown),
	    cmocka_unit_test_teardown(test_cpus_bad, teardown),
	    cmocka_unit_test(test_parse_topology_atomic),
	    cmocka_unit_test(test_topology_from_config),
	    cmocka_unit_test_teardown(test_cpus_via_o, teardown),
	    cmocka_unit_test(test_memsize_parse),
	    cmocka_unit_test_teardown(test_memsize_option, teardown),
	    cmocka_unit_test(test_pci_slot_parse),
	    cmocka_unit_test(test_legacy_config),
	    cmocka_unit_test_teardown(test_pci_option, teardown),
	    cmocka_unit_test_teardown(test_pci_option_errors, teardown),
	    cmocka_unit_test_teardown(test_lpc_option, teardown),
	    cmocka_unit_test_teardown(test_lpc_option_errors, teardown),
	    cmocka_unit_test_teardown(test_o_option, teardown),
	    cmocka_unit_test_teardown(test_precedence, teardown),
	    cmocka_unit_test_teardown(test_pin_option, teardown),
	    cmocka_unit_test_teardown(test_keyboard_layout_option, teardown),
	    cmocka_unit_test_teardown(test_uuid_option, teardown),
	    cmocka_unit_test_teardown(test_help, teardown),
	    cmocka_unit_test_teardown(test_names, teardown),
	    cmocka_unit_test_teardown(test_unsupported_and_unknown, teardown),
	    cmocka_unit_test_teardown(test_fwcfg_user_items, teardown),
	    cmocka_unit_test_teardown(test_reentrant, teardown),
	    cmocka_unit_test_teardown(test_full_vm_bhyve_command_line, teardown),
	};
	return cmocka_run_group_tests_name("options", tests, NULL, NULL);
}
