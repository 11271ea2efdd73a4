/* SPDX-License-Identifier: BSD-2-Clause */
/* The bhyve command line for a guest (see bhyvecmd.h). Devices are numbered as vm-bhyve's vm-run
 * does: disks are functions 0-7 of consecutive slots from start_slot, NICs functions of the next
 * slot(s), then virtio-rnd and virtio-console one slot each. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vm/bhyvecmd.h"
#include "vm/grubcfg.h"
#include "vm/names.h"
#include "vm/settings.h"

#define MAX_DEVS 64  /* diskN / networkN indices looked at */
#define MAX_VTCON 16 /* virt_console0..15 */
#define MAX_SLOT 31  /* slot 31 is the LPC bridge */

/* A growing NULL-terminated string vector. */
struct strvec {
	char **v;
	int n, cap;
	bool oom;
};

static void sv_push(struct strvec *s, char *str)
{
	if (!str) {
		s->oom = true;
		return;
	}
	if (s->n + 2 > s->cap) {
		int cap = s->cap ? s->cap * 2 : 16;
		char **v = realloc(s->v, (size_t)cap * sizeof(*v));
		if (!v) {
			free(str);
			s->oom = true;
			return;
		}
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = str;
	s->v[s->n] = NULL;
}

static void sv_add(struct strvec *s, const char *str)
{
	sv_push(s, strdup(str));
}

static void sv_addf(struct strvec *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sv_addf(struct strvec *s, const char *fmt, ...)
{
	char *str = NULL;
	va_list ap;
	va_start(ap, fmt);
	int r = vasprintf(&str, fmt, ap);
	va_end(ap);
	sv_push(s, r < 0 ? NULL : str);
}

static void sv_free(struct strvec *s)
{
	for (int i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

struct build {
	const struct bhyvecmd_input *in;
	bool uefi;   /* boot through the firmware (loader="uefi" or "grub") rather than a kernel */
	bool grub;   /* loader="grub": the firmware starts kbhyve's GRUB */
	bool custom; /* loader="uefi-custom": the image in $vm_dir/.config, no variable store */
	bool csm;    /* loader="uefi-csm": SeaBIOS, no variable store */
	char *uefi_vars;
	char *grub_cfg;
	struct strvec args, warn, cons, rw, disks;
	struct bhyvecmd_nic *nics;
	int nnics;
	char *err;
	size_t errlen;
};

static int fail(struct build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct build *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b->err, b->errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static const char *get(const struct build *b, const char *key)
{
	return vmconf_get(b->in->conf, key);
}

static const char *getn(const struct build *b, const char *prefix, int n, const char *suffix)
{
	return vmconf_getn(b->in->conf, prefix, n, suffix);
}

/* "no", "off", "false", "0" or empty: a key set to one of these asks for nothing. */
static bool falsy(const char *v)
{
	return vmconf_falsy(v);
}

/* The explicit yes words, for keys whose other values mean something else (hostbridge=amd,
 * virt_console0="agent"). */
static bool yes_word(const char *v)
{
	return v && (!strcasecmp(v, "yes") || !strcasecmp(v, "on") || !strcasecmp(v, "true") ||
		     !strcmp(v, "1"));
}

/* A decimal in [lo, hi], nothing else. */
static bool parse_uint(const char *s, long lo, long hi, long *out)
{
	if (!s || !isdigit((unsigned char)*s))
		return false;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

/* path as given when absolute, else <dir>/path. */
static char *resolve(const struct build *b, const char *path)
{
	char *s = NULL;
	if (path[0] == '/')
		return strdup(path);
	if (asprintf(&s, "%s/%s", b->in->dir, path) < 0)
		return NULL;
	return s;
}

/* bhyve splits device options on commas: a path holding one cannot be passed. */
static int check_path(struct build *b, const char *key, const char *path)
{
	if (strchr(path, ','))
		return fail(
		    b, "%s=\"%s\": the path contains a comma, which bhyve's -s syntax cannot carry",
		    key, path);
	return 0;
}

/* Where bhyve makes the pty links and console sockets: the guest folder, or the run folder of
 * a guest run as another user (who cannot write the guest folder). */
static const char *console_dir(const struct build *b)
{
	return b->in->console_dir ? b->in->console_dir : b->in->dir;
}

/* `word` is one of the comma-separated options in opts. */
static bool has_opt(const char *opts, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = opts; p && *p;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == n && !strncmp(p, word, n))
			return true;
		p = e ? e + 1 : NULL;
	}
	return false;
}

/* Keys vm-bhyve knows that mean nothing on Linux/KVM, matched as prefixes. */
static const struct {
	const char *prefix;
	const char *why;
} ignored_keys[] = {
    {"sound", "no HD audio in kbhyve"},
    {"passthru", "no PCI passthrough in kbhyve"},
    {"zfs_", "no ZFS datastores in kbhyve"},
    {"nulliso_fix", "OVMF needs no null ISO"},
    {"bhyveload_", "no bhyveload on Linux"},
};

/* Keys kbhyve honours (here or in the supervisor). N stands for a device number. */
static const char *const known_keys[] = {
    "loader",
    "uefi",
    "uefi_vars",
    "kernel",
    "initrd",
    "cmdline",
    "cpu",
    "cpu_sockets",
    "cpu_cores",
    "cpu_threads",
    "memory",
    "wired_memory",
    "hostbridge",
    "comports",
    "utctime",
    "debug",
    "uuid",
    "ignore_bad_msr",
    "ignore_msr",
    "bhyve_options",
    "start_slot",
    "install_slot",
    "ahci_device_limit",
    "virt_random",
    "prestart",
    "priority",
    "run_as",
    "limit_pcpu",
    "limit_rbps",
    "limit_wbps",
    "limit_riops",
    "limit_wiops",
    "on_restart",
    "on_fault",
    "diskN_type",
    "diskN_dev",
    "diskN_name",
    "diskN_opts",
    "diskN_size",
    "networkN_type",
    "networkN_switch",
    "networkN_device",
    "networkN_name",
    "networkN_mac",
    "networkN_span",
    "virt_consoleN",
    "grub_runN",
    "grub_installN",
    "grub_run_partition",
    "grub_run_dir",
    "grub_run_file",
    "loader_timeout",
    "graphics",
    "graphics_port",
    "graphics_listen",
    "graphics_res",
    "graphics_wait",
    "graphics_vga",
    "graphics_password",
    "vnc_password",
    "xhci_mouse",
};

/* k matches pattern, where an N in the pattern stands for one or more digits. */
static bool key_matches(const char *k, const char *pattern)
{
	for (; *pattern; pattern++) {
		if (*pattern == 'N') {
			if (!isdigit((unsigned char)*k))
				return false;
			while (isdigit((unsigned char)*k))
				k++;
		} else if (*k++ != *pattern) {
			return false;
		}
	}
	return !*k;
}

static bool key_known(const char *k)
{
	for (size_t i = 0; i < sizeof(known_keys) / sizeof(known_keys[0]); i++)
		if (key_matches(k, known_keys[i]))
			return true;
	return false;
}

/* One warning per key that kbhyve ignores: vm-bhyve keys with no Linux meaning (unless set to
 * "no") and keys nobody knows (typos). */
static void warn_ignored_keys(struct build *b)
{
	const struct vmconf *c = b->in->conf;
	for (size_t i = 0; i < vmconf_count(c); i++) {
		const char *k = vmconf_key_at(c, i), *v = vmconf_value_at(c, i);
		if (vmconf_get(c, k) != v)
			continue; /* a duplicate: only the first assignment counts */
		size_t j;
		for (j = 0; j < sizeof(ignored_keys) / sizeof(ignored_keys[0]); j++) {
			if (strncmp(k, ignored_keys[j].prefix, strlen(ignored_keys[j].prefix)) != 0)
				continue;
			if (!falsy(v))
				sv_addf(&b->warn, "%s=\"%s\": %s, ignored", k, v,
					ignored_keys[j].why);
			break;
		}
		if (j == sizeof(ignored_keys) / sizeof(ignored_keys[0]) && !key_known(k))
			sv_addf(&b->warn, "%s=\"%s\": unknown key, ignored", k, v);
	}
}

static int check_loader(struct build *b)
{
	const char *l = get(b, "loader");
	const char *uefi = get(b, "uefi");
	/* older vm-bhyve confs ask for the firmware with uefi="yes" (or "csm") and no loader */
	if ((!l || !*l) && !falsy(uefi)) {
		b->uefi = true;
		b->csm = !strcasecmp(uefi, "csm");
		return 0;
	}
	if (!l || !*l)
		return fail(b, "loader is not set (e.g. loader=\"uefi\", \"uefi-csm\", \"grub\" or "
			       "\"kernel\")");
	if (!strcmp(l, "kernel"))
		return 0;
	if (!strcmp(l, "grub")) {
		b->uefi = b->grub = true;
		return 0;
	}
	if (!strcmp(l, "uefi")) {
		b->uefi = true;
		return 0;
	}
	if (!strcmp(l, "uefi-csm")) {
		b->uefi = b->csm = true;
		return 0;
	}
	if (!strcmp(l, "uefi-custom")) {
		b->uefi = b->custom = true;
		return 0;
	}
	if (!strcmp(l, "bhyveload")) {
		/* FreeBSD's userboot does not exist on Linux: the disk's own EFI loader (FreeBSD's
		 * loader.efi on an installed system) does the same job under the firmware */
		sv_add(&b->warn, "loader=\"bhyveload\": there is no bhyveload on Linux; the "
				 "firmware (OVMF) boots the disk's own EFI loader instead");
		b->uefi = true;
		return 0;
	}
	return fail(b,
		    "loader=\"%s\": unknown loader (kbhyve supports loader=\"uefi\", "
		    "\"uefi-csm\", \"uefi-custom\", \"grub\", \"bhyveload\" and \"kernel\")",
		    l);
}

static int add_cpu_mem(struct build *b)
{
	const char *cpu = get(b, "cpu"), *mem = get(b, "memory");
	long ncpu;
	if (!cpu || !*cpu)
		return fail(b, "cpu is not set (e.g. cpu=\"2\")");
	if (!parse_uint(cpu, 1, 65535, &ncpu))
		return fail(b, "cpu=\"%s\": not a number of vCPUs", cpu);
	char topo[96] = "";
	static const char *const keys[] = {"sockets", "cores", "threads"};
	for (int i = 0; i < 3; i++) {
		char key[32];
		snprintf(key, sizeof(key), "cpu_%s", keys[i]);
		const char *v = get(b, key);
		long n;
		if (!v || !*v)
			continue;
		if (!parse_uint(v, 1, 65535, &n))
			return fail(b, "%s=\"%s\": not a positive number", key, v);
		size_t l = strlen(topo);
		snprintf(topo + l, sizeof(topo) - l, ",%s=%ld", keys[i], n);
	}
	sv_add(&b->args, "-c");
	sv_addf(&b->args, "%ld%s", ncpu, topo);

	if (!mem || !*mem)
		return fail(b, "memory is not set (e.g. memory=\"1G\")");
	/* vm-bhyve passes memory to bhyve's -m, which also takes "512MB"/"2GiB": bhyve here gets
	 * the short form ("512M"); a bare number passes through (bhyve reads it as MiB or bytes) */
	uint64_t bytes;
	size_t digits = strspn(mem, "0123456789");
	if (vmconf_parse_size(mem, &bytes) < 0 || (mem[digits] && !strchr("kKmMgGtT", mem[digits])))
		return fail(b, "memory=\"%s\": expected a size such as 512M or 2G", mem);
	sv_add(&b->args, "-m");
	sv_addf(&b->args, "%.*s", (int)digits + (mem[digits] != '\0'), mem);
	return 0;
}

/* One PCI function for a disk; the next slot once a slot's eight functions are used. */
static int next_function(struct build *b, int *slot, int *func, int n)
{
	if (*func == 8) {
		(*slot)++;
		*func = 0;
	}
	if (*slot >= MAX_SLOT)
		return fail(b, "too many devices: no PCI slot left for disk%d", n);
	return 0;
}

/* An `ahci` controller being filled with ports (ahci_device_limit > 1), as vm-bhyve packs
 * its AHCI disks: "ahci,hd:PATH[,opts],cd:PATH[,opts]..." on one function. */
struct ahci_ctl {
	char *ports; /* ",hd:..." per port; NULL when empty */
	int nports;
};

static int ahci_flush(struct build *b, struct ahci_ctl *a, int *slot, int *func, int n)
{
	if (!a->ports)
		return 0;
	int r = next_function(b, slot, func, n);
	if (r == 0) {
		sv_add(&b->args, "-s");
		sv_addf(&b->args, "%d:%d,ahci%s", *slot, *func, a->ports);
		(*func)++;
	}
	free(a->ports);
	a->ports = NULL;
	a->nports = 0;
	return r;
}

static int add_disks(struct build *b, int *slot)
{
	int func = 0, n;
	long limit = 1;
	const char *lim = get(b, "ahci_device_limit");
	if (lim && *lim && !parse_uint(lim, 1, 32, &limit))
		return fail(b, "ahci_device_limit=\"%s\": expected a number of ports from 1 to 32",
			    lim);
	struct ahci_ctl ahci = {0};
	for (n = 0; n < MAX_DEVS; n++) {
		const char *type = getn(b, "disk", n, "_type");
		if (!type)
			break;
		const char *dev = getn(b, "disk", n, "_dev");
		const char *name = getn(b, "disk", n, "_name");
		const char *opts = getn(b, "disk", n, "_opts");
		bool is_ahci = !strcmp(type, "ahci-hd") || !strcmp(type, "ahci-cd");
		if (!is_ahci && strcmp(type, "virtio-blk") != 0 && strcmp(type, "nvme") != 0) {
			free(ahci.ports);
			return fail(b,
				    "disk%d_type=\"%s\": not supported (virtio-blk, ahci-hd, ahci-cd, "
				    "nvme)",
				    n, type);
		}
		if (!name) {
			free(ahci.ports);
			return fail(b, "disk%d_name is not set", n);
		}
		/* vm-bhyve stops at a disk whose name is set empty (disk1_name="" is how users
		 * write an empty CD drive there): so do we */
		if (!*name) {
			if (getn(b, "disk", n + 1, "_type"))
				sv_addf(&b->warn, "disk%d_name is empty: disk%d and the disks after it are left out, as vm-bhyve does",
					n, n);
			break;
		}
		char *path;
		/* vm-bhyve's ZFS volumes are, without ZFS, files of that name in the guest folder
		 * (vm create and vm add make them so) */
		bool zvol = dev && (!strcmp(dev, "zvol") || !strcmp(dev, "sparse-zvol"));
		if (!dev || !*dev || !strcmp(dev, "file") || zvol) {
			/* vm-bhyve puts every file disk in the guest folder; another path,
			 * absolute included, is a custom disk and has to say so */
			if (name[0] == '/' || !strcmp(name, "..") || !strncmp(name, "../", 3) ||
			    strstr(name, "/../")) {
				free(ahci.ports);
				return fail(
				    b,
				    "disk%d_name=\"%s\": a file disk must live in the guest folder "
				    "(use disk%d_dev=\"custom\" for other paths)",
				    n, name, n);
			}
			path = resolve(b, name);
		} else if (!strcmp(dev, "custom")) {
			path = resolve(b, name);
		} else {
			free(ahci.ports);
			if (!strcmp(dev, "iscsi"))
				return fail(b,
					    "disk%d_dev=\"iscsi\": no iscsictl on Linux (use "
					    "disk%d_dev=\"custom\" with the block device)",
					    n, n);
			return fail(b, "disk%d_dev=\"%s\": unknown (file, zvol, sparse-zvol, custom)", n, dev);
		}
		if (!path) {
			free(ahci.ports);
			return -ENOMEM;
		}
		char key[32];
		snprintf(key, sizeof(key), "disk%d_name", n);
		if (check_path(b, key, path) < 0) {
			free(path);
			free(ahci.ports);
			return -EINVAL;
		}
		const char *sep = opts && *opts ? "," : "", *o = opts && *opts ? opts : "";
		sv_add(&b->disks, path);
		if (strcmp(type, "ahci-cd") != 0 && !has_opt(o, "ro"))
			sv_add(&b->rw, path);
		int r = 0;
		if (is_ahci && limit > 1) {
			/* a port of the controller being filled; a full one goes out first */
			if (ahci.nports == limit)
				r = ahci_flush(b, &ahci, slot, &func, n);
			char *more = NULL;
			if (r == 0 && asprintf(&more, "%s,%s:%s%s%s", ahci.ports ? ahci.ports : "",
					       type + 5, path, sep, o) < 0)
				r = -ENOMEM;
			if (r == 0) {
				free(ahci.ports);
				ahci.ports = more;
				ahci.nports++;
			}
		} else if ((r = next_function(b, slot, &func, n)) == 0) {
			sv_add(&b->args, "-s");
			sv_addf(&b->args, "%d:%d,%s,%s%s%s", *slot, func, type, path, sep, o);
			func++;
		}
		free(path);
		if (r < 0) {
			free(ahci.ports);
			return r;
		}
	}
	if (n == MAX_DEVS && getn(b, "disk", n, "_type")) {
		free(ahci.ports);
		return fail(b, "too many disks (at most %d)", MAX_DEVS);
	}
	int r = ahci_flush(b, &ahci, slot, &func, n);
	if (r < 0)
		return r;
	if (func)
		(*slot)++;
	return 0;
}

static int add_nics(struct build *b, int *slot)
{
	int func = 0, n;
	for (n = 0; n < MAX_DEVS; n++) {
		const char *type = getn(b, "network", n, "_type");
		if (!type)
			break;
		if (strcmp(type, "virtio-net") != 0 && strcmp(type, "e1000") != 0)
			return fail(b, "network%d_type=\"%s\": not supported (virtio-net, e1000)", n,
				    type);
		struct bhyvecmd_nic nic = {.index = n};
		const char *device = getn(b, "network", n, "_device");
		const char *tapname = getn(b, "network", n, "_name");
		const char *sw = getn(b, "network", n, "_switch");
		const char *mac = getn(b, "network", n, "_mac");
		const char *span = getn(b, "network", n, "_span");
		if (device && *device) {
			if (!ifname_valid(device))
				return fail(b,
					    "network%d_device=\"%s\": not a valid interface name",
					    n, device);
			snprintf(nic.tap, sizeof(nic.tap), "%s", device);
			nic.existing = true;
		} else if (tapname && *tapname) {
			if (!ifname_valid(tapname))
				return fail(b,
					    "network%d_name=\"%s\": not a valid interface name "
					    "(1-15 characters, no '/', ':' or spaces)",
					    n, tapname);
			snprintf(nic.tap, sizeof(nic.tap), "%s", tapname);
		} else {
			tap_name(b->in->name, n, nic.tap);
		}
		for (int i = 0; i < b->nnics; i++)
			if (!strcmp(b->nics[i].tap, nic.tap))
				return fail(b, "network%d and network%d both use interface %s",
					    b->nics[i].index, n, nic.tap);
		if (sw && *sw) {
			if (!switch_name_valid(sw))
				return fail(b, "network%d_switch=\"%s\": not a valid switch name",
					    n, sw);
			snprintf(nic.sw, sizeof(nic.sw), "%s", sw);
		}
		if (mac && *mac) {
			if (!mac_valid(mac))
				return fail(b,
					    "network%d_mac=\"%s\": not a unicast MAC address "
					    "(aa:bb:cc:dd:ee:ff)",
					    n, mac);
			snprintf(nic.mac, sizeof(nic.mac), "%s", mac);
		}
		if (!falsy(span))
			sv_addf(&b->warn,
				"network%d_span=\"%s\": Linux bridges have no span ports, added as "
				"a normal port",
				n, span);
		if (func == 8) {
			(*slot)++;
			func = 0;
		}
		if (*slot >= MAX_SLOT)
			return fail(b, "too many devices: no PCI slot left for network%d", n);
		sv_add(&b->args, "-s");
		if (nic.mac[0])
			sv_addf(&b->args, "%d:%d,%s,%s,mac=%s", *slot, func, type, nic.tap, nic.mac);
		else
			sv_addf(&b->args, "%d:%d,%s,%s", *slot, func, type, nic.tap);
		struct bhyvecmd_nic *v = realloc(b->nics, (size_t)(b->nnics + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		b->nics = v;
		b->nics[b->nnics++] = nic;
		func++;
	}
	if (n == MAX_DEVS && getn(b, "network", n, "_type"))
		return fail(b, "too many NICs (at most %d)", MAX_DEVS);
	if (func)
		(*slot)++;
	return 0;
}

/* virt_consoleN: yes/on/1/true → port named "N", any other non-false value is the port name. */
static int add_vtcon(struct build *b, int *slot)
{
	char *arg = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&arg, &len);
	if (!f)
		return -ENOMEM;
	int ports = 0;
	for (int n = 0; n < MAX_VTCON; n++) {
		const char *v = getn(b, "virt_console", n, "");
		if (falsy(v))
			continue;
		char pname[64];
		if (yes_word(v))
			snprintf(pname, sizeof(pname), "%d", n);
		else if (strlen(v) < sizeof(pname) &&
			 strspn(
			     v,
			     "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
			     strlen(v))
			snprintf(pname, sizeof(pname), "%s", v);
		else {
			fclose(f);
			free(arg);
			return fail(b,
				    "virt_console%d=\"%s\": a port name is letters, digits, '.', "
				    "'_' or '-' (at most 63)",
				    n, v);
		}
		fprintf(f, "%s%s=%s/vtcon.%s", ports ? "," : "", pname, console_dir(b), pname);
		ports++;
	}
	fclose(f);
	if (!ports) {
		free(arg);
		return 0;
	}
	if (strchr(console_dir(b), ',')) {
		free(arg);
		return fail(b, "folder %s contains a comma, which bhyve's -s syntax cannot carry",
			    console_dir(b));
	}
	if (*slot >= MAX_SLOT) {
		free(arg);
		return fail(b, "too many devices: no PCI slot left for virtio-console");
	}
	sv_add(&b->args, "-s");
	sv_addf(&b->args, "%d,virtio-console,%s", (*slot)++, arg);
	free(arg);
	return 0;
}

static int add_comports(struct build *b)
{
	const char *v = get(b, "comports");
	char **ports = strv_split(v && *v ? v : "com1");
	if (!ports)
		return -ENOMEM;
	int r = 0;
	for (int i = 0; ports[i]; i++) {
		const char *p = ports[i];
		if (strcmp(p, "com1") != 0 && strcmp(p, "com2") != 0) {
			r = fail(b, "comports=\"%s\": '%s' is not com1 or com2", v, p);
			break;
		}
		if (strv_index(ports, p) != i)
			continue;
		sv_add(&b->args, "-l");
		if (b->in->com_stdio && !strcmp(p, "com1")) {
			sv_add(&b->args, "com1,stdio");
			sv_add(&b->cons, "com1=stdio");
		} else {
			sv_addf(&b->args, "%s,pty:%s/%s", p, console_dir(b), p);
			sv_addf(&b->cons, "%s=%s/%s", p, console_dir(b), p);
		}
	}
	free_strv(ports);
	return r;
}

/* -l bootrom,IMAGE,fwcfg=qemu: a whole firmware image with no variable file */
static int add_rom_only(struct build *b, const char *code)
{
	if (strchr(code, ','))
		return fail(b, "the firmware path %s holds a comma, which bhyve's -l cannot take",
			    code);
	sv_add(&b->args, "-l");
	sv_addf(&b->args, "bootrom,%s,fwcfg=qemu", code);
	return 0;
}

/* graphics="yes": bhyve's framebuffer with its VNC server, as vm-bhyve's vm-run builds it
 * (listen 0.0.0.0 and the first free port from 5900 unless set; graphics_wait="auto" waits for a
 * viewer only while installing), then xhci_mouse's tablet. */
static int add_graphics(struct build *b, int *slot)
{
	if (!vmconf_truthy(get(b, "graphics")))
		return 0;
	if (*slot >= MAX_SLOT)
		return fail(b, "too many devices: no PCI slot left for the framebuffer");
	const char *listen = get(b, "graphics_listen");
	if (!listen || !*listen)
		listen = "0.0.0.0";
	if (strpbrk(listen, ",[] "))
		return fail(b, "graphics_listen=\"%s\": expected an IPv4 or IPv6 address", listen);
	long port = b->in->vnc_port ? (long)b->in->vnc_port : 5900;
	const char *v = get(b, "graphics_port");
	if (v && *v && !parse_uint(v, 1, 65535, &port))
		return fail(b, "graphics_port=\"%s\": expected a TCP port from 1 to 65535", v);
	bool v6 = strchr(listen, ':') != NULL;
	char conf[256];
	int n = snprintf(conf, sizeof(conf), "tcp=%s%s%s:%ld", v6 ? "[" : "", listen, v6 ? "]" : "",
			 port);
	const char *res = get(b, "graphics_res");
	if (res && *res) {
		long w, h;
		char ws[16] = "", hs[16] = "";
		const char *x = strchr(res, 'x');
		if (!x || (size_t)(x - res) >= sizeof(ws) || strlen(x + 1) >= sizeof(hs))
			return fail(b, "graphics_res=\"%s\": expected WIDTHxHEIGHT, e.g. 1024x768", res);
		memcpy(ws, res, (size_t)(x - res));
		snprintf(hs, sizeof(hs), "%s", x + 1);
		if (!parse_uint(ws, 640, 3840, &w) || !parse_uint(hs, 480, 2160, &h))
			return fail(b, "graphics_res=\"%s\": from 640x480 to 3840x2160", res);
		n += snprintf(conf + n, sizeof(conf) - (size_t)n, ",w=%ld,h=%ld", w, h);
	}
	const char *vga = get(b, "graphics_vga");
	if (vga && *vga) {
		if (strcmp(vga, "io") && strcmp(vga, "on") && strcmp(vga, "off"))
			return fail(b, "graphics_vga=\"%s\": expected io, on or off", vga);
		n += snprintf(conf + n, sizeof(conf) - (size_t)n, ",vga=%s", vga);
	}
	const char *wait = get(b, "graphics_wait");
	if (!wait || !*wait || !strcmp(wait, "auto")) {
		if (b->in->iso)
			n += snprintf(conf + n, sizeof(conf) - (size_t)n, ",wait");
	} else if (yes_word(wait)) {
		n += snprintf(conf + n, sizeof(conf) - (size_t)n, ",wait");
	} else if (!falsy(wait)) {
		return fail(b, "graphics_wait=\"%s\": expected yes, no or auto", wait);
	}
	/* vm-bhyve reads vnc_password; graphics_password is the name next to the others */
	const char *pw = get(b, "graphics_password");
	if (!pw || !*pw)
		pw = get(b, "vnc_password");
	if (pw && *pw) {
		if (strchr(pw, ','))
			return fail(b, "the VNC password contains a comma, which bhyve's -s syntax "
				       "cannot carry");
		if (strlen(pw) > 8)
			sv_add(&b->warn, "the VNC password is longer than 8 characters: VNC "
					 "authentication uses the first 8");
		n += snprintf(conf + n, sizeof(conf) - (size_t)n, ",password=%s", pw);
	}
	if ((size_t)n >= sizeof(conf))
		return fail(b, "graphics: the framebuffer options are too long");
	sv_add(&b->args, "-s");
	sv_addf(&b->args, "%d,fbuf,%s", (*slot)++, conf);
	sv_addf(&b->cons, "vnc=%s%s%s:%ld", v6 ? "[" : "", listen, v6 ? "]" : "", port);
	if (vmconf_truthy(get(b, "xhci_mouse"))) {
		if (*slot >= MAX_SLOT)
			return fail(b, "too many devices: no PCI slot left for the xHCI tablet");
		sv_add(&b->args, "-s");
		sv_addf(&b->args, "%d,xhci,tablet", (*slot)++);
	}
	return 0;
}

/* a kernel= key, which a firmware loader does not use: one warning */
static void warn_kernel_ignored(struct build *b, const char *loader, const char *finder)
{
	const char *k = get(b, "kernel");
	if (k && *k)
		sv_addf(&b->warn, "kernel=\"%s\": loader=\"%s\" boots what the %s finds, ignored",
			k, loader, finder);
}

/* loader="uefi": Debian's OVMF (or system.conf's uefi_code) through -l bootrom, with the
 * guest's own variable store and QEMU's fw_cfg, which that firmware reads. */
static int add_firmware(struct build *b)
{
	const char *code =
	    b->in->uefi_code && *b->in->uefi_code ? b->in->uefi_code : BHYVECMD_UEFI_CODE_DEFAULT;
	if (b->csm) {
		/* a legacy BIOS: bhyve's CSM firmware does not exist for Linux, SeaBIOS does its
		 * job (QEMU's fw_cfg gives it the machine; no variable store) */
		code = b->in->bios_code && *b->in->bios_code ? b->in->bios_code
							     : BHYVECMD_BIOS_CODE_DEFAULT;
		if (code[0] != '/')
			return fail(b, "bios_code=\"%s\" in system.conf: not an absolute path",
				    code);
		int r = add_rom_only(b, code);
		if (r == 0)
			warn_kernel_ignored(b, "uefi-csm", "BIOS");
		return r;
	}
	if (b->custom) {
		code = b->in->uefi_custom;
		if (!code || code[0] != '/')
			return fail(b, "loader=\"uefi-custom\": no $vm_dir/.config/BHYVE_UEFI.fd "
				       "(vm_dir is not set)");
		/* the whole image, variables included, as vm-bhyve passes it */
		return add_rom_only(b, code);
	}
	if (code[0] != '/')
		return fail(b, "uefi_code=\"%s\" in system.conf: not an absolute path", code);
	if (strchr(code, ',') || strchr(b->in->dir, ','))
		return fail(b,
			    "the firmware path %s or the guest folder %s holds a comma, which "
			    "bhyve's -l cannot take",
			    code, b->in->dir);
	if (asprintf(&b->uefi_vars, "%s/" BHYVECMD_UEFI_VARS_FILE, b->in->dir) < 0) {
		b->uefi_vars = NULL;
		return -ENOMEM;
	}
	warn_kernel_ignored(b, b->grub ? "grub" : "uefi", b->grub ? "GRUB" : "firmware");
	sv_add(&b->args, "-l");
	sv_addf(&b->args, "bootrom,%s,%s,fwcfg=qemu", code, b->uefi_vars);
	if (b->grub) {
		/* GRUB, built by the supervisor with this grub.cfg inside, goes to the firmware as
		 * QEMU's -kernel/-initrd do: OVMF starts the shim before its own boot options (and
		 * before it connects the disks, which the shim does before it starts GRUB) */
		const char *shim = b->in->grub_shim;
		if (!shim || !*shim)
			return fail(b, "loader=\"grub\" needs kbhyve's EFI shim grubshim.efi (make "
				       "builds it next to vm; make install puts it in "
				       "<share>/efi)");
		int r = grubcfg_build(b->in->conf, b->in->name, b->in->iso != NULL, &b->grub_cfg,
				      b->err, b->errlen);
		if (r < 0)
			return r;
		sv_add(&b->args, "-o");
		sv_addf(&b->args, "boot.kernel=%s", shim);
		sv_add(&b->args, "-o");
		sv_addf(&b->args, "boot.initrd=%s/" BHYVECMD_GRUB_IMAGE, b->in->dir);
	}
	return 0;
}

static int add_kernel(struct build *b)
{
	const char *kernel = get(b, "kernel"), *initrd = get(b, "initrd"),
		   *cmdline = get(b, "cmdline");
	if (!kernel || !*kernel)
		return fail(b, "loader=\"kernel\" needs kernel=\"<path to the kernel image>\"");
	char *p = resolve(b, kernel);
	if (!p)
		return -ENOMEM;
	sv_add(&b->args, "-o");
	sv_addf(&b->args, "boot.kernel=%s", p);
	free(p);
	if (initrd && *initrd) {
		if (!(p = resolve(b, initrd)))
			return -ENOMEM;
		sv_add(&b->args, "-o");
		sv_addf(&b->args, "boot.initrd=%s", p);
		free(p);
	}
	if (cmdline && *cmdline) {
		sv_add(&b->args, "-o");
		sv_addf(&b->args, "boot.cmdline=%s", cmdline);
	}
	return 0;
}

static int build(struct build *b)
{
	const struct bhyvecmd_input *in = b->in;
	int r;
	if (!guest_name_valid(in->name))
		return fail(b, "'%s' is not a valid guest name", in->name);
	if ((r = check_loader(b)) < 0)
		return r;
	warn_ignored_keys(b);
	sv_add(&b->args, in->bhyve);
	if ((r = add_cpu_mem(b)) < 0)
		return r;
	sv_add(&b->args, "-A");
	sv_add(&b->args, "-H");
	sv_add(&b->args, "-P");
	sv_add(&b->args, "-w");
	const char *utc = get(b, "utctime");
	if (!utc || vmconf_truthy(utc))
		sv_add(&b->args, "-u");
	else if (!falsy(utc))
		return fail(b, "utctime=\"%s\": expected yes or no", utc);
	if (vmconf_truthy(get(b, "wired_memory")))
		sv_add(&b->args, "-S");
	const char *uuid = get(b, "uuid");
	if (uuid && *uuid) {
		if (!uuid_valid(uuid))
			return fail(b, "uuid=\"%s\": not a UUID", uuid);
		sv_add(&b->args, "-U");
		sv_add(&b->args, uuid);
	}

	const char *hb = get(b, "hostbridge");
	if (!hb || !*hb || !strcmp(hb, "standard") || yes_word(hb)) {
		sv_add(&b->args, "-s");
		sv_add(&b->args, "0,hostbridge");
	} else if (!strcmp(hb, "amd")) {
		sv_add(&b->args, "-s");
		sv_add(&b->args, "0,amd_hostbridge");
	} else if (strcmp(hb, "none") != 0 && !falsy(hb)) {
		return fail(b, "hostbridge=\"%s\": expected standard, amd or none", hb);
	}
	sv_add(&b->args, "-s");
	sv_add(&b->args, "31,lpc");

	long start = 4, install = 3;
	const char *v = get(b, "start_slot");
	if (v && *v && !parse_uint(v, 1, 30, &start))
		return fail(b, "start_slot=\"%s\": expected a slot number from 1 to 30", v);
	v = get(b, "install_slot");
	if (v && *v && !parse_uint(v, 1, 30, &install))
		return fail(b, "install_slot=\"%s\": expected a slot number from 1 to 30", v);
	if (in->iso) {
		if ((r = check_path(b, "iso", in->iso)) < 0)
			return r;
		if (install >= start)
			return fail(b, "install_slot=%ld must be below start_slot=%ld", install,
				    start);
		/* vm-bhyve: an .iso is a CD, any other image a read-only SATA disk */
		size_t len = strlen(in->iso);
		bool cd = len >= 4 && !strcasecmp(in->iso + len - 4, ".iso");
		sv_add(&b->args, "-s");
		sv_addf(&b->args, "%ld:0,%s,%s%s", install, cd ? "ahci-cd" : "ahci-hd", in->iso,
			cd ? "" : ",ro");
		sv_add(&b->disks, in->iso);
	}
	int slot = (int)start;
	if ((r = add_disks(b, &slot)) < 0 || (r = add_nics(b, &slot)) < 0)
		return r;
	if (vmconf_truthy(get(b, "virt_random"))) {
		if (slot >= MAX_SLOT)
			return fail(b, "too many devices: no PCI slot left for virtio-rnd");
		sv_add(&b->args, "-s");
		sv_addf(&b->args, "%d,virtio-rnd", slot++);
	}
	if ((r = add_vtcon(b, &slot)) < 0 || (r = add_graphics(b, &slot)) < 0 ||
	    (r = add_comports(b)) < 0 ||
	    (r = b->uefi ? add_firmware(b) : add_kernel(b)) < 0)
		return r;

	char **extra = strv_split(get(b, "bhyve_options"));
	if (!extra)
		return -ENOMEM;
	for (int i = 0; extra[i]; i++)
		sv_add(&b->args, extra[i]);
	free_strv(extra);
	if (in->restore) {
		sv_add(&b->args, "-r");
		sv_add(&b->args, in->restore);
	}
	if (in->migrate_listen) {
		sv_add(&b->args, "-R");
		sv_add(&b->args, in->migrate_listen);
	}
	sv_add(&b->args, in->name);
	return 0;
}

int bhyvecmd_build(const struct bhyvecmd_input *in, struct bhyvecmd *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	struct build b = {.in = in, .err = err, .errlen = errlen};
	int r = build(&b);
	if (r == 0 && (b.args.oom || b.warn.oom || b.cons.oom || b.rw.oom || b.disks.oom))
		r = -ENOMEM;
	/* empty vectors are still NULL-terminated arrays for the caller */
	if (r == 0 && !b.warn.v && !(b.warn.v = calloc(1, sizeof(char *))))
		r = -ENOMEM;
	if (r == 0 && !b.cons.v && !(b.cons.v = calloc(1, sizeof(char *))))
		r = -ENOMEM;
	if (r == 0 && !b.rw.v && !(b.rw.v = calloc(1, sizeof(char *))))
		r = -ENOMEM;
	if (r == 0 && !b.disks.v && !(b.disks.v = calloc(1, sizeof(char *))))
		r = -ENOMEM;
	if (r < 0) {
		if (r == -ENOMEM)
			snprintf(err, errlen, "out of memory");
		sv_free(&b.args);
		sv_free(&b.warn);
		sv_free(&b.cons);
		sv_free(&b.rw);
		sv_free(&b.disks);
		free(b.nics);
		free(b.uefi_vars);
		free(b.grub_cfg);
		return r;
	}
	out->argv = b.args.v;
	out->argc = b.args.n;
	out->nics = b.nics;
	out->nnics = b.nnics;
	out->warnings = b.warn.v;
	out->nwarnings = b.warn.n;
	out->consoles = b.cons.v;
	out->nconsoles = b.cons.n;
	out->disks_rw = b.rw.v;
	out->ndisks_rw = b.rw.n;
	out->disks = b.disks.v;
	out->ndisks = b.disks.n;
	out->uefi_vars = b.uefi_vars;
	out->grub_cfg = b.grub_cfg;
	out->uefi_vars_keep = b.uefi_vars && vmconf_truthy(vmconf_get(in->conf, "uefi_vars"));
	return 0;
}

void bhyvecmd_free(struct bhyvecmd *c)
{
	struct strvec s = {.v = c->argv, .n = c->argc};
	sv_free(&s);
	s = (struct strvec){.v = c->warnings, .n = c->nwarnings};
	sv_free(&s);
	s = (struct strvec){.v = c->consoles, .n = c->nconsoles};
	sv_free(&s);
	s = (struct strvec){.v = c->disks_rw, .n = c->ndisks_rw};
	sv_free(&s);
	s = (struct strvec){.v = c->disks, .n = c->ndisks};
	sv_free(&s);
	free(c->nics);
	free(c->uefi_vars);
	free(c->grub_cfg);
	memset(c, 0, sizeof(*c));
}
