/* SPDX-License-Identifier: BSD-2-Clause */
/* bhyve(8)'s command line into the configuration tree (amd64 option set, bhyverun_machdep.c
 * semantics): defaults, then options left to right with the last one winning. */
#include "core/log.h"
#include "config/options.h"

#include <ctype.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/exitcode.h"
#include "core/vm.h"
#include "pci/pci.h"

#define TOPO_MAX 65535 /* bhyve passes sockets/cores/threads as 16-bit values */

/* Decimal digits only (no sign, space or base prefix), at most max. -EINVAL or -ERANGE. */
static int parse_decimal_n(const char *s, size_t len, unsigned long long max,
			   unsigned long long *out)
{
	if (!s || len == 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if (!isdigit((unsigned char)s[i]))
			return -EINVAL;
	unsigned long long v = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (max - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static int parse_decimal(const char *s, unsigned long long max, unsigned long long *out)
{
	return s ? parse_decimal_n(s, strlen(s), max, out) : -EINVAL;
}

int parse_memsize(const char *s, uint64_t *bytes)
{
	if (!s)
		return -EINVAL;
	const char *end = s;
	while (isdigit((unsigned char)*end))
		end++;
	unsigned long long v;
	int r = parse_decimal_n(s, (size_t)(end - s), UINT64_MAX, &v);
	if (r < 0)
		return r;

	unsigned shift;
	switch (*end) {
	case '\0':
		/* bhyve: a bare number below one MiB counts in MiB, anything larger in bytes */
		if (v == 0)
			return -ERANGE;
		*bytes = v < (1ull << 20) ? v << 20 : v;
		return 0;
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	case 't':
	case 'T':
		shift = 40;
		break;
	default:
		return -EINVAL;
	}
	if (end[1] != '\0')
		return -EINVAL;
	if (v == 0 || v > (UINT64_MAX >> shift))
		return -ERANGE;
	*bytes = v << shift;
	return 0;
}

/* ---- -c ---- */

static const char *const topo_keys[] = {"cpus", "sockets", "cores", "threads"};
#define TOPO_NKEYS 4

/* Validate one -c element ("n" or "key=n") into val/given. */
static int topology_element(char *tok, const char *whole, unsigned long long *val, bool *given,
			    char *err, size_t errlen)
{
	if (!*tok) {
		snprintf(err, errlen, "empty element in -c '%s'", whole);
		return -EINVAL;
	}
	int k = 0; /* a bare number is the CPU count */
	const char *v = tok;
	char *eq = strchr(tok, '=');
	if (eq) {
		*eq = '\0';
		v = eq + 1;
		for (k = 0; k < TOPO_NKEYS; k++)
			if (strcmp(tok, topo_keys[k]) == 0)
				break;
		if (k == TOPO_NKEYS) {
			snprintf(err, errlen,
				 "unknown key '%s' in -c '%s' (expected cpus, sockets, cores or "
				 "threads)",
				 tok, whole);
			return -EINVAL;
		}
	}
	if (given[k]) {
		snprintf(err, errlen, "%s given more than once in -c '%s'", topo_keys[k], whole);
		return -EINVAL;
	}
	unsigned long long n;
	if (parse_decimal(v, TOPO_MAX, &n) < 0 || n == 0) {
		snprintf(err, errlen, "invalid %s value '%s' in -c '%s' (expected 1-%d)",
			 topo_keys[k], v, whole, TOPO_MAX);
		return -EINVAL;
	}
	given[k] = true;
	val[k] = n;
	return 0;
}

int parse_topology(const char *s, struct cfgnode *cfg, char *err, size_t errlen)
{
	unsigned long long val[TOPO_NKEYS] = {0};
	bool given[TOPO_NKEYS] = {false};
	int r = 0;

	if (!s) {
		snprintf(err, errlen, "-c needs a CPU count or topology");
		return -EINVAL;
	}
	if (*s == '\0') {
		/* bhyve accepts an empty -c as one vCPU */
		for (int k = 0; k < TOPO_NKEYS; k++) {
			given[k] = true;
			val[k] = 1;
		}
	} else {
		char *copy = strdup(s);
		if (!copy) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		char *rest = copy, *tok;
		while (r == 0 && (tok = strsep(&rest, ",")) != NULL)
			r = topology_element(tok, s, val, given, err, errlen);
		free(copy);
		if (r < 0)
			return r;
	}

	/* everything validated: now record it */
	for (int k = 0; k < TOPO_NKEYS; k++) {
		if (!given[k])
			continue;
		char buf[24];
		snprintf(buf, sizeof(buf), "%llu", val[k]);
		r = config_set(cfg, topo_keys[k], buf);
		if (r < 0) {
			snprintf(err, errlen,
				 "cannot set %s: it conflicts with an existing setting",
				 topo_keys[k]);
			return r;
		}
	}
	return 0;
}

/* One topology value from the tree: 0 absent, 1 present (in *out), or -EINVAL with a message. */
static int topo_read(struct cfgnode *cfg, const char *key, unsigned long long *out, char *err,
		     size_t errlen)
{
	struct cfgnode *n = config_node(cfg, key);
	if (!n)
		return 0;
	if (!config_is_leaf(n)) {
		snprintf(err, errlen, "'%s' must be a number, not a group of settings", key);
		return -EINVAL;
	}
	const char *v = config_value(n);
	if (!v) {
		snprintf(err, errlen, "cannot expand the value of %s", key);
		return -EINVAL;
	}
	if (parse_decimal(v, TOPO_MAX, out) < 0 || *out == 0) {
		snprintf(err, errlen, "invalid value for %s: '%s' (expected 1-%d)", key, v,
			 TOPO_MAX);
		return -EINVAL;
	}
	return 1;
}

int topology_from_config(struct cfgnode *cfg, struct cpu_topology *t, char *err, size_t errlen)
{
	unsigned long long cpus = 0, sockets = 0, cores = 1, threads = 1;
	int has_cpus, r;

	if ((has_cpus = topo_read(cfg, "cpus", &cpus, err, errlen)) < 0)
		return has_cpus;
	if ((r = topo_read(cfg, "cores", &cores, err, errlen)) < 0)
		return r;
	if ((r = topo_read(cfg, "threads", &threads, err, errlen)) < 0)
		return r;
	if ((r = topo_read(cfg, "sockets", &sockets, err, errlen)) < 0)
		return r;
	/* bhyve: without an explicit socket count every vCPU is its own socket */
	if (r == 0)
		sockets = has_cpus ? cpus : 1;

	unsigned long long product = sockets * cores * threads; /* each <= 65535: no overflow */
	if (has_cpus && cpus != product) {
		snprintf(err, errlen,
			 "topology (%llu sockets, %llu cores, %llu threads) does not match %llu "
			 "vCPUs",
			 sockets, cores, threads, cpus);
		return -EINVAL;
	}
	if (product > VM_MAX_VCPUS) {
		snprintf(err, errlen,
			 "%llu vCPUs (%llu sockets x %llu cores x %llu threads) exceed the maximum "
			 "of %d",
			 product, sockets, cores, threads, VM_MAX_VCPUS);
		return -EINVAL;
	}
	t->cpus = (int)product;
	t->sockets = (int)sockets;
	t->cores = (int)cores;
	t->threads = (int)threads;
	return 0;
}

/* ---- -s ---- */

int pci_parse_slot(const char *s, int *bus, int *slot, int *func)
{
	unsigned long long f[3];
	int n = 0;
	if (!s)
		return -EINVAL;
	const char *p = s;
	for (;;) {
		if (n == 3)
			return -EINVAL;
		const char *colon = strchr(p, ':');
		size_t len = colon ? (size_t)(colon - p) : strlen(p);
		int r = parse_decimal_n(p, len, 999999, &f[n]);
		if (r < 0)
			return r;
		n++;
		if (!colon)
			break;
		p = colon + 1;
	}
	unsigned long long b = 0, sl, fn = 0;
	if (n == 1) {
		sl = f[0];
	} else if (n == 2) {
		sl = f[0];
		fn = f[1];
	} else {
		b = f[0];
		sl = f[1];
		fn = f[2];
	}
	if (b >= PCI_MAX_BUS || sl >= PCI_MAX_SLOT || fn >= PCI_MAX_FUNC)
		return -ERANGE;
	*bus = (int)b;
	*slot = (int)sl;
	*func = (int)fn;
	return 0;
}

int pci_parse_legacy_config(struct cfgnode *devnode, const char *opts)
{
	if (!opts || !*opts)
		return 0;
	char *copy = strdup(opts);
	if (!copy)
		return -ENOMEM;
	int r = 0;
	char *rest = copy, *tok;
	while ((tok = strsep(&rest, ",")) != NULL) {
		char *eq = strchr(tok, '=');
		if (eq) {
			*eq = '\0';
			r = config_set(devnode, tok, eq + 1); /* an empty key is -EINVAL there */
		} else {
			r = config_set(devnode, tok, "true");
		}
		if (r < 0)
			break;
	}
	free(copy);
	return r;
}

static const char *conf_error(int r)
{
	switch (r) {
	case -EINVAL:
		return "empty or malformed key";
	case -EEXIST:
		return "a key conflicts with another one";
	default:
		return strerror(-r);
	}
}

static int opt_pci(struct cfgnode *cfg, const char *arg, FILE *out, char *err, size_t errlen)
{
	if (strcmp(arg, "help") == 0) {
		pci_emul_print_all(out);
		return 1;
	}
	char *copy = strdup(arg);
	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	char *rest = copy;
	char *slotstr = strsep(&rest, ",");
	char *name = strsep(&rest, ",");
	char *conf = rest && *rest ? rest : NULL;
	int bus, slot, func, r;

	if (!name || !*name) {
		snprintf(err, errlen, "-s %s: missing emulation (expected slot,emulation[,conf])",
			 arg);
		r = -EINVAL;
		goto out;
	}
	r = pci_parse_slot(slotstr, &bus, &slot, &func);
	if (r == -ERANGE) {
		snprintf(err, errlen,
			 "PCI slot '%s' out of range (bus 0-255, slot 0-31, function 0-7)",
			 slotstr);
		goto out;
	} else if (r < 0) {
		snprintf(
		    err, errlen,
		    "invalid PCI slot '%s' (expected slot, slot:function or bus:slot:function)",
		    slotstr);
		goto out;
	}
	const struct pci_devemu *emu = pci_emul_find(name);
	if (!emu) {
		snprintf(err, errlen, "unknown PCI emulation '%s' (see bhyve -s help)", name);
		r = -ENOENT;
		goto out;
	}
	char path[32];
	snprintf(path, sizeof(path), "pci.%d.%d.%d", bus, slot, func);
	if (config_node(cfg, path)) {
		snprintf(err, errlen, "PCI slot %d:%d:%d is already occupied", bus, slot, func);
		r = -EEXIST;
		goto out;
	}
	struct cfgnode *dev = config_node_create(cfg, path);
	if (!dev) {
		snprintf(err, errlen, "cannot create %s: it conflicts with an existing setting",
			 path);
		r = -EEXIST;
		goto out;
	}
	r = config_set(dev, "device", emu->name);
	unsigned long logged = kb_log_lines();
	if (r == 0)
		r = emu->legacy_config ? emu->legacy_config(dev, conf)
				       : pci_parse_legacy_config(dev, conf);
	/* an emulation's own parser may have logged the details (then that line is the error;
	 * err stays empty); the generic one has not */
	if (r < 0 && kb_log_lines() != logged)
		err[0] = '\0';
	else if (r < 0)
		snprintf(err, errlen, "invalid options '%s' for %s in PCI slot %d:%d:%d: %s",
			 conf ? conf : "", emu->name, bus, slot, func,
			 emu->legacy_config ? strerror(-r) : conf_error(r));
out:
	free(copy);
	return r < 0 ? r : 0;
}

/* ---- -l ---- */

static const char *const lpc_devices[] = {"bootrom", "com1", "com2",	  "com3",
					  "com4",    "tpm",  "pc-testdev"};

static int lpc_bootrom(struct cfgnode *cfg, char *rest, const char *arg, char *err, size_t errlen)
{
	char *rom = strsep(&rest, ",");
	if (!rom || !*rom) {
		snprintf(err, errlen, "-l %s: missing boot ROM file (bootrom,romfile[,varfile])",
			 arg);
		return -EINVAL;
	}
	const char *vars = NULL, *fwcfg = NULL;
	bool first = true;
	char *tok;
	while ((tok = strsep(&rest, ",")) != NULL) {
		char *eq = strchr(tok, '=');
		if (first && !eq && *tok) {
			vars = tok; /* the optional second field is the variable store */
		} else if (eq && eq - tok == 5 && strncmp(tok, "fwcfg", 5) == 0) {
			fwcfg = eq + 1;
			if (strcmp(fwcfg, "bhyve") != 0 && strcmp(fwcfg, "qemu") != 0) {
				snprintf(err, errlen,
					 "-l %s: invalid fwcfg '%s' (expected bhyve or qemu)", arg,
					 fwcfg);
				return -EINVAL;
			}
		} else {
			snprintf(
			    err, errlen,
			    "-l %s: unexpected '%s' (bootrom,romfile[,varfile][,fwcfg=bhyve|qemu])",
			    arg, tok);
			return -EINVAL;
		}
		first = false;
	}
	int r = config_set(cfg, "lpc.bootrom", rom);
	if (r == 0 && vars)
		r = config_set(cfg, "lpc.bootvars", vars);
	if (r == 0 && fwcfg)
		r = config_set(cfg, "lpc.fwcfg", fwcfg);
	return r;
}

static int lpc_tpm(struct cfgnode *cfg, char *rest, const char *arg, char *err, size_t errlen)
{
	char *type = strsep(&rest, ",");
	char *path = strsep(&rest, ",");
	if (!type || !*type || !path || !*path) {
		snprintf(err, errlen, "-l %s: expected tpm,type,path[,version=2.0]", arg);
		return -EINVAL;
	}
	if (strcmp(type, "passthru") != 0 && strcmp(type, "swtpm") != 0) {
		snprintf(err, errlen, "-l %s: unknown TPM type '%s' (expected passthru or swtpm)",
			 arg, type);
		return -EINVAL;
	}
	const char *version = "2.0";
	char *tok;
	while ((tok = strsep(&rest, ",")) != NULL) {
		if (strncmp(tok, "version=", 8) != 0) {
			snprintf(err, errlen, "-l %s: unexpected TPM option '%s'", arg, tok);
			return -EINVAL;
		}
		version = tok + 8;
		if (strcmp(version, "2.0") != 0) {
			snprintf(err, errlen, "-l %s: unsupported TPM version '%s' (only 2.0)", arg,
				 version);
			return -EINVAL;
		}
	}
	int r = config_set(cfg, "tpm.type", type);
	if (r == 0)
		r = config_set(cfg, "tpm.path", path);
	if (r == 0)
		r = config_set(cfg, "tpm.version", version);
	return r;
}

static int opt_lpc(struct cfgnode *cfg, const char *arg, FILE *out, char *err, size_t errlen)
{
	if (strcmp(arg, "help") == 0) {
		for (size_t i = 0; i < sizeof(lpc_devices) / sizeof(lpc_devices[0]); i++)
			fprintf(out, "%s\n", lpc_devices[i]);
		return 1;
	}
	char *copy = strdup(arg);
	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	char *rest = copy;
	char *dev = strsep(&rest, ",");
	int r;
	if (errlen)
		err[0] = '\0';

	if (strcasecmp(dev, "bootrom") == 0) {
		r = lpc_bootrom(cfg, rest, arg, err, errlen);
	} else if (strcasecmp(dev, "tpm") == 0) {
		r = lpc_tpm(cfg, rest, arg, err, errlen);
	} else if (strcasecmp(dev, "pc-testdev") == 0) {
		if (rest) {
			snprintf(err, errlen, "-l %s: pc-testdev takes no options", arg);
			r = -EINVAL;
		} else {
			r = config_set(cfg, "lpc.pc-testdev", "true");
		}
	} else if (strlen(dev) == 4 && strncasecmp(dev, "com", 3) == 0 && dev[3] >= '1' &&
		   dev[3] <= '4') {
		char key[16];
		snprintf(key, sizeof(key), "lpc.com%c.path", dev[3]);
		if (!rest || !*rest) {
			snprintf(err, errlen,
				 "-l %s: missing backend for com%c (e.g. -l com%c,stdio)", arg,
				 dev[3], dev[3]);
			r = -EINVAL;
		} else {
			r = config_set(cfg, key, rest); /* the rest, commas included, is the path */
		}
	} else {
		snprintf(err, errlen, "unknown LPC device '%s' (see bhyve -l help)", dev);
		r = -ENOENT;
	}
	if (r < 0 && errlen && !err[0])
		snprintf(err, errlen, "-l %s: %s", arg,
			 r == -EEXIST ? "conflicts with an existing setting" : strerror(-r));
	free(copy);
	return r;
}

/* ---- the other options ---- */

static bool uuid_valid(const char *s)
{
	static const int dash[] = {8, 13, 18, 23};
	if (strlen(s) != 36)
		return false;
	for (int i = 0, d = 0; i < 36; i++) {
		if (d < 4 && i == dash[d]) {
			if (s[i] != '-')
				return false;
			d++;
		} else if (!isxdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

static int opt_pin(struct cfgnode *cfg, const char *arg, char *err, size_t errlen)
{
	const char *colon = strchr(arg, ':');
	unsigned long long vcpu, pcpu;
	if (!colon) {
		snprintf(err, errlen, "invalid -p '%s' (expected vcpu:hostcpu)", arg);
		return -EINVAL;
	}
	if (parse_decimal_n(arg, (size_t)(colon - arg), VM_MAX_VCPUS - 1, &vcpu) < 0) {
		snprintf(err, errlen, "invalid vCPU in -p '%s' (expected 0-%d)", arg,
			 VM_MAX_VCPUS - 1);
		return -EINVAL;
	}
	if (parse_decimal(colon + 1, CPU_SETSIZE - 1, &pcpu) < 0) {
		snprintf(err, errlen, "invalid host CPU in -p '%s' (expected 0-%d)", arg,
			 CPU_SETSIZE - 1);
		return -EINVAL;
	}
	char key[32], val[4096];
	snprintf(key, sizeof(key), "vcpu.%llu.cpuset", vcpu);
	const char *old = config_get_raw(cfg, key);
	int n = snprintf(val, sizeof(val), "%s%s%llu", old ? old : "", old ? "," : "", pcpu);
	if (n < 0 || (size_t)n >= sizeof(val)) {
		snprintf(err, errlen, "too many -p pins for vCPU %llu", vcpu);
		return -E2BIG;
	}
	int r = config_set(cfg, key, val);
	if (r < 0)
		snprintf(err, errlen, "-p %s: %s conflicts with an existing setting", arg, key);
	return r;
}

/* -f name,string=data | name,file=path: a user fw_cfg file (bhyve(8)), kept in order as
 * fwcfg.user.N.name and .string or .file; the firmware setup checks the name against its own
 * items and reads the file. fw_cfg names are at most 55 bytes. */
static int opt_fwcfg_user(struct cfgnode *cfg, const char *arg, char *err, size_t errlen)
{
	const char *comma = strchr(arg, ',');
	size_t namelen = comma ? (size_t)(comma - arg) : strlen(arg);
	if (!comma || namelen == 0) {
		snprintf(err, errlen,
			 "invalid -f '%s' (expected name,string=data or name,file=path)", arg);
		return -EINVAL;
	}
	if (namelen > 55) {
		snprintf(err, errlen, "-f '%.*s': fw_cfg file name longer than 55 bytes",
			 (int)namelen, arg);
		return -ENAMETOOLONG;
	}
	const char *kind, *data = comma + 1;
	if (strncmp(data, "string=", 7) == 0) {
		kind = "string";
		data += 7;
	} else if (strncmp(data, "file=", 5) == 0) {
		kind = "file";
		data += 5;
		if (!*data) {
			snprintf(err, errlen, "-f %.*s: empty file name", (int)namelen, arg);
			return -EINVAL;
		}
	} else {
		snprintf(err, errlen,
			 "invalid -f '%s' (expected name,string=data or name,file=path)", arg);
		return -EINVAL;
	}
	unsigned n = 0;
	struct cfgnode *list = config_node(cfg, "fwcfg.user");
	for (struct cfgnode *c = list ? config_first_child(list) : NULL; c;
	     c = config_next_sibling(c))
		n++;
	char key[64], name[64];
	snprintf(name, sizeof(name), "%.*s", (int)namelen, arg);
	snprintf(key, sizeof(key), "fwcfg.user.%u.name", n);
	int r = config_set(cfg, key, name);
	if (r == 0) {
		snprintf(key, sizeof(key), "fwcfg.user.%u.%s", n, kind);
		r = config_set(cfg, key, data);
	}
	if (r < 0)
		snprintf(err, errlen, "-f %s: cannot store it: %s", arg, strerror(-r));
	return r;
}

static int opt_assignment(struct cfgnode *cfg, const char *arg, char *err, size_t errlen)
{
	if (!strchr(arg, '=')) {
		snprintf(err, errlen, "invalid -o '%s' (expected var=value)", arg);
		return -EINVAL;
	}
	int r = config_set_assignment(cfg, arg);
	if (r == -EINVAL)
		snprintf(err, errlen,
			 "invalid variable name in -o '%s' (empty component, stray dot, space or "
			 "control character)",
			 arg);
	else if (r == -EEXIST)
		snprintf(err, errlen,
			 "-o '%s' conflicts with an existing setting (a value where a group is "
			 "needed, or the reverse)",
			 arg);
	else if (r < 0)
		snprintf(err, errlen, "-o '%s': %s", arg, strerror(-r));
	return r;
}

static int opt_memsize(struct cfgnode *cfg, const char *arg, char *err, size_t errlen)
{
	uint64_t bytes;
	int r = parse_memsize(arg, &bytes);
	if (r == -ERANGE) {
		snprintf(err, errlen,
			 "memory size '%s' out of range (must be above 0 and fit 64 bits)", arg);
		return r;
	}
	if (r < 0) {
		snprintf(err, errlen,
			 "invalid memory size '%s' (expected a number with an optional K, M, G or "
			 "T suffix)",
			 arg);
		return r;
	}
	r = config_set(cfg, "memory.size", arg); /* stored as given, as bhyve */
	if (r < 0)
		snprintf(err, errlen,
			 "cannot set memory.size: it conflicts with an existing setting");
	return r;
}

/* Options without an argument and the variable each sets (NULL: accepted, does nothing). */
static const struct {
	char opt;
	const char *var, *value;
} flag_options[] = {
    {'a', "x86.x2apic", "false"},
    {'A', "acpi_tables", "true"}, /* ACPI tables are always built; kept for compatibility */
    {'C', "memory.guest_in_core", "true"},
    {'D', "destroy_on_poweroff", "true"},
    {'e', "x86.strictio", "true"},
    {'H', "x86.vmexit_on_hlt", "true"},
    {'I', NULL, NULL}, /* deprecated: the I/O APIC is always present */
    {'P', "x86.vmexit_on_pause", "true"},
    {'S', "memory.wired", "true"},
    {'u', "rtc.use_localtime", "false"},
    {'W', "virtio_msix", "false"},
    {'w', "x86.strictmsr", "false"},
    {'x', "x86.x2apic", "true"},
    {'Y', "x86.mptable", "false"},
};

/* Options with an argument that kbhyve recognises but does not implement yet. */
static const struct {
	char opt;
	const char *what;
} unsupported_options[] = {
    {'G', "GDB stub"},
};

static const char arg_options[] = "kfopGcsmlKUrR";

/* x86.x2apic: bhyve's default is xAPIC; on KVM kbhyve shows x2APIC, as QEMU and Firecracker do:
 * a guest then drives its local APIC through MSRs, which KVM handles more cheaply than MMIO
 * that it must decode per access (on AMD without AVIC both still exit, once per access).
 * -a gives bhyve's xAPIC. */
static const struct {
	const char *var, *value;
} default_settings[] = {
    {"memory.size", "256M"},	   {"acpi_tables", "true"}, {"x86.mptable", "true"},
    {"x86.strictmsr", "true"},	   {"x86.x2apic", "true"},  {"x86.strictio", "false"},
    {"rtc.use_localtime", "true"}, {"virtio_msix", "true"},
    {"sandbox", "true"},
};

void bhyve_usage(FILE *out, const char *prog)
{
	int w = (int)strlen(prog);
	fprintf(out,
		"Usage: %s [-aCDeHhPSuWwxY]\n"
		"       %*s [-c [[cpus=]numcpus][,sockets=n][,cores=n][,threads=n]]\n"
		"       %*s [-f name,[string|file]=data] [-K layout] [-k config_file]\n"
		"       %*s [-l lpcdev[,conf]]\n"
		"       %*s [-m memsize[K|M|G|T]]\n"
		"       %*s [-o var=value] [-p vcpu:hostcpu] [-r file | -R [addr:]port]\n"
		"       %*s [-s slot,emulation[,conf]]\n"
		"       %*s [-U uuid] vmname\n"
		"       %s -l help\n"
		"       %s -s help\n"
		"  -A: create ACPI tables (always done; accepted for compatibility)\n"
		"  -a: local APIC in xAPIC mode (bhyve's default; kbhyve's is x2APIC)\n"
		"  -C: include guest memory in core dumps\n"
		"  -c: number of vCPUs and/or topology\n"
		"  -D: destroy the VM on guest poweroff\n"
		"  -e: exit on an access to an unemulated I/O port\n"
		"  -H: accepted (KVM already yields the CPU on guest HLT)\n"
		"  -f: fw_cfg file 'name' holding the string or the file's contents (needs\n"
		"      -l bootrom,...,fwcfg=qemu)\n"
		"  -h: this help\n"
		"  -K: PS/2 keyboard layout for keysym input (a name in\n"
		"      /usr/share/kbhyve/kbdlayout or /usr/share/bhyve/kbdlayout, or a path)\n"
		"  -k: load key=value configuration file\n"
		"  -l: LPC device: com1..com4,backend | bootrom,rom[,vars][,fwcfg=bhyve|qemu] |\n"
		"      tpm,type,path[,version=2.0] | pc-testdev\n"
		"  -m: guest memory size (bare number: MiB; default 256M)\n"
		"  -o: set configuration variable 'var' to 'value'\n"
		"  -P: accepted (KVM already uses pause-loop exiting)\n"
		"  -p: pin vCPU 'vcpu' to host CPU 'hostcpu' (repeatable)\n"
		"  -r: restore the guest from a snapshot (file, file.kern, file.meta) taken by\n"
		"      bhyvectl --checkpoint or --suspend, with the same options\n"
		"  -R: receive the guest from a live migration (bhyvectl --migrate) on this TCP\n"
		"      address, with the same options\n"
		"  -S: wire guest memory\n"
		"  -s: PCI device: slot (S, S:F or B:S:F), emulation, its options\n"
		"  -U: SMBIOS system UUID\n"
		"  -u: RTC keeps UTC time\n"
		"  -W: virtio uses MSI instead of MSI-X\n"
		"  -w: ignore unimplemented MSRs\n"
		"  -x: local APIC in x2APIC mode (the default on KVM)\n"
		"  -Y: do not generate an MP table\n",
		prog, w, "", w, "", w, "", w, "", w, "", w, "", w, "", prog, prog);
}

static int apply_defaults(struct cfgnode *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(default_settings) / sizeof(default_settings[0]); i++) {
		int r = config_set_default(cfg, default_settings[i].var, default_settings[i].value);
		if (r < 0) {
			snprintf(err, errlen, "cannot set default %s: %s", default_settings[i].var,
				 r == -EEXIST ? "conflicts with an existing setting"
					      : strerror(-r));
			return r;
		}
	}
	return 0;
}

static int apply_flag(struct cfgnode *cfg, char opt, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(flag_options) / sizeof(flag_options[0]); i++) {
		if (flag_options[i].opt != opt)
			continue;
		if (!flag_options[i].var)
			return 0;
		int r = config_set(cfg, flag_options[i].var, flag_options[i].value);
		if (r < 0)
			snprintf(err, errlen, "option -%c: %s conflicts with an existing setting",
				 opt, flag_options[i].var);
		return r;
	}
	return -ENOENT;
}

static const char *unsupported_option(char opt)
{
	for (size_t i = 0; i < sizeof(unsupported_options) / sizeof(unsupported_options[0]); i++)
		if (unsupported_options[i].opt == opt)
			return unsupported_options[i].what;
	return NULL;
}

/* One option with its argument: 0 go on, 1 exit now with status 0, < 0 error. */
static int apply_arg_option(struct cfgnode *cfg, char opt, const char *arg, FILE *out, char *err,
			    size_t errlen)
{
	int r;
	switch (opt) {
	case 'c':
		return parse_topology(arg, cfg, err, errlen);
	case 'k':
		return config_load_file(cfg, arg, err, errlen);
	case 'f':
		return opt_fwcfg_user(cfg, arg, err, errlen);
	case 'l':
		return opt_lpc(cfg, arg, out, err, errlen);
	case 'm':
		return opt_memsize(cfg, arg, err, errlen);
	case 'o':
		return opt_assignment(cfg, arg, err, errlen);
	case 'p':
		return opt_pin(cfg, arg, err, errlen);
	case 's':
		return opt_pci(cfg, arg, out, err, errlen);
	case 'r':
		if (!*arg) {
			snprintf(err, errlen, "-r: empty snapshot file name");
			return -EINVAL;
		}
		r = config_set(cfg, "restore.file", arg);
		if (r < 0)
			snprintf(err, errlen, "-r: %s", strerror(-r));
		return r;
	case 'R':
		if (!*arg) {
			snprintf(err, errlen, "-R: give [ADDRESS:]PORT to receive the migration on");
			return -EINVAL;
		}
		r = config_set(cfg, "migrate.listen", arg);
		if (r < 0)
			snprintf(err, errlen, "-R: %s", strerror(-r));
		return r;
	case 'K':
		if (!*arg) {
			snprintf(err, errlen, "-K: empty keyboard layout name");
			return -EINVAL;
		}
		r = config_set(cfg, "keyboard.layout", arg);
		if (r < 0)
			snprintf(err, errlen,
				 "cannot set keyboard.layout: it conflicts with an existing setting");
		return r;
	case 'U':
		if (!uuid_valid(arg)) {
			snprintf(
			    err, errlen,
			    "invalid UUID '%s' (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, "
			    "hexadecimal)",
			    arg);
			return -EINVAL;
		}
		r = config_set(cfg, "uuid", arg);
		if (r < 0)
			snprintf(err, errlen,
				 "cannot set uuid: it conflicts with an existing setting");
		return r;
	}
	snprintf(err, errlen, "internal error: option -%c has no handler", opt);
	return -EINVAL;
}

/* Records the computed topology so that config.dump shows it and later readers agree. */
static int settle_topology(struct cfgnode *cfg, char *err, size_t errlen)
{
	struct cpu_topology t;
	int r = topology_from_config(cfg, &t, err, errlen);
	if (r < 0)
		return r;
	const int vals[TOPO_NKEYS] = {t.cpus, t.sockets, t.cores, t.threads};
	for (int k = 0; k < TOPO_NKEYS; k++) {
		char buf[16];
		snprintf(buf, sizeof(buf), "%d", vals[k]);
		if ((r = config_set(cfg, topo_keys[k], buf)) < 0) {
			snprintf(err, errlen, "cannot set %s: %s", topo_keys[k], strerror(-r));
			return r;
		}
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct cfgnode *cfg, FILE *out, char *err,
		      size_t errlen)
{
	int i, r;
	const char *prog = argc > 0 && argv[0] && *argv[0] ? argv[0] : "bhyve";
	if (strrchr(prog, '/') && strrchr(prog, '/')[1])
		prog = strrchr(prog, '/') + 1;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		/* POSIX: options end at the first operand ("-" alone is an operand) */
		if (a[0] != '-' || a[1] == '\0')
			break;
		for (const char *c = a + 1; *c; c++) {
			char opt = *c;
			if (opt == 'h') {
				bhyve_usage(out, prog);
				return 1;
			}
			r = apply_flag(cfg, opt, err, errlen);
			if (r == 0)
				continue;
			if (r != -ENOENT)
				return r;
			const char *what = unsupported_option(opt);
			if (what) {
				snprintf(err, errlen,
					 "option -%c (%s) is not supported by kbhyve yet", opt,
					 what);
				return -ENOTSUP;
			}
			if (opt == ':' || !strchr(arg_options, opt)) {
				if (isprint((unsigned char)opt))
					snprintf(err, errlen, "unknown option -%c (see %s -h)", opt,
						 prog);
				else
					snprintf(err, errlen, "unknown option byte 0x%02x",
						 (unsigned char)opt);
				return -EINVAL;
			}
			const char *arg;
			if (c[1])
				arg = c + 1;
			else if (i + 1 < argc)
				arg = argv[++i];
			else {
				snprintf(err, errlen, "option -%c requires an argument", opt);
				return -EINVAL;
			}
			r = apply_arg_option(cfg, opt, arg, out, err, errlen);
			if (r != 0)
				return r;
			break; /* the rest of this word was the argument */
		}
	}

	if (argc - i > 1) {
		snprintf(err, errlen,
			 "more than one VM name given ('%s', '%s'); options go before the VM name",
			 argv[i], argv[i + 1]);
		return -EINVAL;
	}
	if (argc - i == 1) {
		r = config_set(cfg, "name", argv[i]);
		if (r < 0) {
			snprintf(err, errlen,
				 "cannot set name: it conflicts with an existing setting");
			return r;
		}
	}
	struct cfgnode *name = config_node(cfg, "name");
	if (!name) {
		snprintf(err, errlen, "no VM name given");
		return -EINVAL;
	}
	const char *v = config_value(name);
	if (!config_is_leaf(name) || !v || !*v) {
		snprintf(err, errlen, "the VM name must be a non-empty string");
		return -EINVAL;
	}
	return settle_topology(cfg, err, errlen);
}

int bhyve_options_parse(int argc, char **argv, struct cfgnode *cfg, FILE *out, int *exit_status,
			char *err, size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	if (!out)
		out = stdout;
	unsigned long logged = kb_log_lines();
	int r = apply_defaults(cfg, err, errlen);
	if (r == 0)
		r = parse_args(argc, argv, cfg, out, err, errlen);
	if (r < 0) {
		/* no message and nothing logged (a device's option parser logs its own line) */
		if (errlen && !err[0] && kb_log_lines() == logged)
			snprintf(err, errlen, "%s", strerror(-r));
		*exit_status = BHYVE_EXIT_ERROR;
	} else {
		*exit_status = 0;
	}
	return r;
}
