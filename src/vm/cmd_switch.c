/* SPDX-License-Identifier: BSD-2-Clause */
/* `vm switch ...`: arguments and output; the work is done by vswitch.c. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/cmds.h"
#include "vm/netlink.h"
#include "vm/switchargs.h"
#include "vm/natsw.h"
#include "vm/vswitch.h"

#define ERRLEN 512
#define LIST_FMT "%-12s %-9s %-15s %-18s %-7s %-5s %-4s %s\n"

struct subcommand {
	const char *name;
	int (*fn)(struct vm_settings *s, int argc, char **argv);
	const char *usage; /* the arguments after "vm switch NAME" */
};

static int usage_error(const struct subcommand *c)
{
	fprintf(stderr, "usage: vm switch %s %s\n", c->name, c->usage);
	return 1;
}

/* Print err as the one-line failure of the command. */
static int failed(const char *err)
{
	fprintf(stderr, "vm: %s\n", err);
	return 1;
}

static const char *or_dash(const char *s)
{
	return s && *s ? s : "-";
}

/* ---- list and info ---- */

static int sw_list(struct vm_settings *s, int argc, char **argv)
{
	char err[ERRLEN];
	struct vnl *v;
	if (vnl_open(&v, err, sizeof(err)) < 0)
		return failed(err);
	int rc = 0;
	printf(LIST_FMT, "NAME", "TYPE", "IFACE", "ADDRESS", "PRIVATE", "MTU", "VLAN", "PORTS");
	const char *p = vswitch_list(s);
	char name[64];
	while (words_next(&p, name, sizeof(name))) {
		struct vswitch sw;
		if (vswitch_load(s, name, &sw, err, sizeof(err)) < 0) {
			/* still listed (a netgraph switch from a FreeBSD system.conf, a bad value): the
			 * user sees it exists, and why it does nothing, on one line */
			char key[96];
			snprintf(key, sizeof(key), "type_%s", name);
			fprintf(stderr, "vm: warning: %s\n", err);
			printf(LIST_FMT, name, vmconf_get_default(s->sys, key, "standard"), "-", "-", "-",
			       "-", "-", "-");
			continue;
		}
		char mtu[16] = "-", vlan[16] = "-";
		if (sw.mtu)
			snprintf(mtu, sizeof(mtu), "%u", sw.mtu);
		if (sw.vlan)
			snprintf(vlan, sizeof(vlan), "%d", sw.vlan);
		printf(LIST_FMT, sw.name, swarg_type_name(sw.type),
		       vnl_link_exists(v, sw.bridge) ? sw.bridge : "-", or_dash(sw.addr),
		       sw.isolated ? "yes" : "no", mtu, vlan, or_dash(sw.ports));
	}
	vnl_close(v);
	return rc;
}

static void print_bytes(const char *indent, const struct vnl_link *l)
{
	printf("%sbytes-in: %" PRIu64 "\n", indent, l->rx_bytes);
	printf("%sbytes-out: %" PRIu64 "\n", indent, l->tx_bytes);
}

static void print_ports(struct vnl *v, const struct vswitch *sw, int bridge_ifindex)
{
	struct vnl_link *ports;
	int n = vnl_bridge_ports(v, bridge_ifindex, &ports);
	if (n < 0)
		return;
	const size_t plen = strlen(VSWITCH_TAP_ALIAS_PREFIX);
	for (int i = 0; i < n; i++) {
		const struct vnl_link *l = &ports[i];
		if (strncmp(l->alias, VSWITCH_TAP_ALIAS_PREFIX, plen) != 0) {
			printf("\n  physical-port\n    device: %s\n    state: %s\n    mtu: %u\n",
			       l->name, l->up ? "up" : "down", l->mtu);
			if (!strcmp(l->kind, "vlan")) {
				char parent[16] = "?";
				vnl_link_name(v, l->parent, parent);
				printf("    vlan: %d on %s\n", l->vlan_id, parent);
			}
			print_bytes("    ", l);
			continue;
		}
		/* vmnet/<guest>/<nic>/<switch> */
		char guest[256] = "-", nic[16] = "-";
		const char *g = l->alias + plen, *slash = strchr(g, '/');
		if (slash) {
			snprintf(guest, sizeof(guest), "%.*s", (int)(slash - g), g);
			snprintf(nic, sizeof(nic), "%.*s", (int)strcspn(slash + 1, "/"), slash + 1);
		}
		int iso = vnl_port_isolated(v, l->name);
		printf("\n  virtual-port\n    device: %s\n    vm: %s\n    nic: %s\n    state: %s\n"
		       "    mtu: %u\n    isolated: %s\n",
		       l->name, guest, nic, l->up ? "up" : "down", l->mtu,
		       iso < 0 ? "-"
		       : iso   ? "yes"
			       : "no");
		print_bytes("    ", l);
	}
	free(ports);
}

static int info_one(struct vm_settings *s, struct vnl *v, const char *name)
{
	char err[ERRLEN];
	struct vswitch sw;
	if (vswitch_load(s, name, &sw, err, sizeof(err)) < 0)
		return failed(err);
	printf("------------------------\nVirtual Switch: %s\n------------------------\n", sw.name);
	printf("  type: %s\n  ident: %s\n", swarg_type_name(sw.type), sw.bridge);
	struct vnl_link b;
	bool present = vnl_link_get(v, sw.bridge, &b) == 0;
	printf("  state: %s\n", !present ? "missing (run vm init)" : b.up ? "up" : "down");
	char addrs[512] = "";
	if (present)
		vnl_addr4_list(v, sw.bridge, addrs, sizeof(addrs));
	printf("  address: %s\n", or_dash(present ? addrs : sw.addr));
	if (present)
		printf("  mtu: %u\n", b.mtu);
	else if (sw.mtu)
		printf("  mtu: %u\n", sw.mtu);
	else
		printf("  mtu: -\n");
	if (sw.vlan)
		printf("  vlan: %d\n", sw.vlan);
	else
		printf("  vlan: -\n");
	printf("  private: %s\n", sw.isolated ? "yes" : "no");
	if (sw.nat) {
		int pid = nat_dnsmasq_pid(sw.name);
		char table[64];
		nat_table_name(sw.name, table);
		printf("  nat: yes (nftables table ip %s%s; ", table, nat_table_loaded(sw.name) ? "" : ": not loaded");
		if (pid > 0)
			printf("dnsmasq pid %d)\n", pid);
		else
			printf("dnsmasq not running: vm init starts it)\n");
	} else {
		printf("  nat: no\n");
	}
	printf("  physical-ports: %s\n", or_dash(sw.ports));
	if (present) {
		print_bytes("  ", &b);
		print_ports(v, &sw, b.ifindex);
	}
	printf("\n");
	return 0;
}

static int sw_info(struct vm_settings *s, int argc, char **argv)
{
	char err[ERRLEN];
	struct vnl *v;
	int rc = 0;
	if (vnl_open(&v, err, sizeof(err)) < 0)
		return failed(err);
	if (argc > 1) {
		/* every name is checked before anything is printed, as vm info does */
		for (int i = 1; i < argc; i++) {
			struct vswitch sw;
			if (vswitch_load(s, argv[i], &sw, err, sizeof(err)) < 0) {
				vnl_close(v);
				return failed(err);
			}
		}
		for (int i = 1; i < argc; i++)
			rc |= info_one(s, v, argv[i]);
	} else {
		const char *p = vswitch_list(s);
		char name[64];
		while (words_next(&p, name, sizeof(name)))
			rc |= info_one(s, v, name);
	}
	vnl_close(v);
	return rc;
}

/* ---- changes ---- */

static const struct subcommand *find_sub(const char *name);

static int sw_create(struct vm_settings *s, int argc, char **argv)
{
	const struct subcommand *c = find_sub("create");
	char err[ERRLEN];
	struct vswitch sw = {.type = SWITCH_STANDARD};
	bool have_bridge = false, standard_opts = false;
	int opt;
	optind = 0; /* GNU getopt: start afresh */
	opterr = 0;
	bool force = false;
	while ((opt = getopt(argc, argv, "+:t:i:n:m:a:b:pf")) != -1) {
		switch (opt) {
		case 't':
			if (swarg_type(optarg, &sw.type, err, sizeof(err)) < 0)
				return failed(err);
			break;
		case 'i': {
			if (strlen(optarg) > 15 || !*optarg) {
				snprintf(err, sizeof(err), "invalid interface name '%s'", optarg);
				return failed(err);
			}
			char *ports = words_add(sw.ports, optarg);
			if (!ports || strlen(ports) >= sizeof(sw.ports)) {
				free(ports);
				return failed("too many interfaces");
			}
			snprintf(sw.ports, sizeof(sw.ports), "%s", ports);
			free(ports);
			standard_opts = true;
			break;
		}
		case 'n':
			if (swarg_vlan(optarg, &sw.vlan, err, sizeof(err)) < 0)
				return failed(err);
			standard_opts = true;
			break;
		case 'm':
			if (swarg_mtu(optarg, &sw.mtu, err, sizeof(err)) < 0)
				return failed(err);
			standard_opts = true;
			break;
		case 'a':
			if (swarg_ipv4_cidr(optarg, sw.addr, err, sizeof(err)) < 0)
				return failed(err);
			standard_opts = true;
			break;
		case 'b':
			if (strlen(optarg) > 15 || !*optarg) {
				snprintf(err, sizeof(err), "invalid bridge name '%s'", optarg);
				return failed(err);
			}
			snprintf(sw.bridge, sizeof(sw.bridge), "%s", optarg);
			have_bridge = true;
			break;
		case 'p':
			sw.isolated = true;
			break;
		case 'f':
			force = true; /* uplinks that carry IP addresses */
			break;
		case ':':
			fprintf(stderr,
				"vm: option -%c needs a value; usage: vm switch create %s\n",
				optopt, c->usage);
			return 1;
		default:
			fprintf(stderr, "vm: unknown option -%c; usage: vm switch create %s\n",
				optopt, c->usage);
			return 1;
		}
	}
	if (argc - optind != 1)
		return usage_error(c);
	const char *name = argv[optind];
	if (strlen(name) >= sizeof(sw.name)) {
		snprintf(err, sizeof(err), "invalid switch name '%.40s' (at most 12 characters)",
			 name);
		return failed(err);
	}
	snprintf(sw.name, sizeof(sw.name), "%s", name);
	if (sw.type == SWITCH_MANUAL && !have_bridge)
		return failed("a manual switch needs the bridge it uses: -b bridge");
	if (sw.type == SWITCH_MANUAL && standard_opts)
		return failed(
		    "-i, -n, -m and -a are for standard switches; a manual switch's bridge is "
		    "configured outside vm");
	if (sw.type == SWITCH_STANDARD && have_bridge)
		return failed("-b is for manual switches (-t manual)");
	if (vswitch_create(s, &sw, force, err, sizeof(err)) < 0)
		return failed(err);
	return 0;
}

static int sw_import(struct vm_settings *s, int argc, char **argv)
{
	char err[ERRLEN];
	if (argc != 3)
		return usage_error(find_sub("import"));
	return vswitch_import(s, argv[1], argv[2], err, sizeof(err)) < 0 ? failed(err) : 0;
}

static int sw_destroy(struct vm_settings *s, int argc, char **argv)
{
	char err[ERRLEN];
	if (argc != 2)
		return usage_error(find_sub("destroy"));
	return vswitch_destroy(s, argv[1], err, sizeof(err)) < 0 ? failed(err) : 0;
}

static int sw_add(struct vm_settings *s, int argc, char **argv)
{
	char err[ERRLEN];
	bool force = argc > 1 && !strcmp(argv[1], "-f"); /* an uplink that carries addresses */
	if (force) {
		argc--;
		argv++;
	}
	if (argc != 3)
		return usage_error(find_sub("add"));
	return vswitch_port_add(s, argv[1], argv[2], force, err, sizeof(err)) < 0 ? failed(err) : 0;
}

static int sw_remove(struct vm_settings *s, int argc, char **argv)
{
	char err[ERRLEN];
	if (argc != 3)
		return usage_error(find_sub("remove"));
	return vswitch_port_remove(s, argv[1], argv[2], err, sizeof(err)) < 0 ? failed(err) : 0;
}

static int sw_vlan(struct vm_settings *s, int argc, char **argv)
{
	char err[ERRLEN];
	int vlan;
	if (argc != 3)
		return usage_error(find_sub("vlan"));
	if (swarg_vlan(argv[2], &vlan, err, sizeof(err)) < 0)
		return failed(err);
	return vswitch_set_vlan(s, argv[1], vlan, err, sizeof(err)) < 0 ? failed(err) : 0;
}

static int sw_address(struct vm_settings *s, int argc, char **argv)
{
	char err[ERRLEN], cidr[19];
	if (argc != 3)
		return usage_error(find_sub("address"));
	bool none = !strcmp(argv[2], "none");
	if (!none && swarg_ipv4_cidr(argv[2], cidr, err, sizeof(err)) < 0)
		return failed(err);
	return vswitch_set_address(s, argv[1], none ? NULL : cidr, err, sizeof(err)) < 0
		   ? failed(err)
		   : 0;
}

static int sw_private(struct vm_settings *s, int argc, char **argv)
{
	char err[ERRLEN];
	bool on;
	if (argc != 3)
		return usage_error(find_sub("private"));
	if (swarg_onoff(argv[2], &on, err, sizeof(err)) < 0)
		return failed(err);
	return vswitch_set_private(s, argv[1], on, err, sizeof(err)) < 0 ? failed(err) : 0;
}

static int sw_nat(struct vm_settings *s, int argc, char **argv)
{
	char err[ERRLEN];
	bool on;
	if (argc != 3)
		return usage_error(find_sub("nat"));
	if (swarg_onoff(argv[2], &on, err, sizeof(err)) < 0)
		return failed(err);
	return vswitch_set_nat(s, argv[1], on, err, sizeof(err)) < 0 ? failed(err) : 0;
}

static const struct subcommand subcommands[] = {
    {"list", sw_list, ""},
    {"info", sw_info, "[name] [...]"},
    {"create", sw_create,
     "[-t standard|manual] [-i interface] [-n vlan-id] [-m mtu] [-a address/prefix-len] "
     "[-b bridge] [-p] [-f] <name>"},
    {"vlan", sw_vlan, "<switch> <vlan|0>"},
    {"nat", sw_nat, "<switch> <on|off>"},
    {"private", sw_private, "<switch> <on|off>"},
    {"add", sw_add, "[-f] <switch> <interface>"},
    {"remove", sw_remove, "<switch> <interface>"},
    {"address", sw_address, "<switch> <a.b.c.d/prefix-len|none>"},
    {"import", sw_import, "<switch> <bridge>"},
    {"destroy", sw_destroy, "<switch>"},
};
#define NSUB (sizeof(subcommands) / sizeof(subcommands[0]))

static const struct subcommand *find_sub(const char *name)
{
	for (size_t i = 0; i < NSUB; i++)
		if (!strcmp(subcommands[i].name, name))
			return &subcommands[i];
	return NULL;
}

/* The subcommand named by arg: exact, else the only one it is a prefix of (as vm-bhyve). */
static const struct subcommand *match_sub(const char *arg, int *nmatch)
{
	const struct subcommand *m = NULL;
	*nmatch = 0;
	for (size_t i = 0; i < NSUB; i++) {
		if (!strcmp(subcommands[i].name, arg)) {
			*nmatch = 1;
			return &subcommands[i];
		}
		if (*arg && !strncmp(subcommands[i].name, arg, strlen(arg))) {
			m = &subcommands[i];
			(*nmatch)++;
		}
	}
	return *nmatch == 1 ? m : NULL;
}

int cmd_switch(struct vm_settings *s, int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr,
			"usage: vm switch list|info|create|vlan|nat|private|add|remove|address|"
			"import|destroy ...\n");
		return 1;
	}
	int n;
	const struct subcommand *c = match_sub(argv[1], &n);
	if (!c) {
		fprintf(stderr, "vm: %s switch command '%s'\n", n ? "ambiguous" : "unknown",
			argv[1]);
		return 1;
	}
	if ((c->fn == sw_list && argc != 2))
		return usage_error(c);
	if (c->fn == sw_list || c->fn == sw_info)
		return c->fn(s, argc - 1, argv + 1);
	/* the others change system.conf: read again, checked and written under its lock, with the
	 * bridge work in between (two `switch create` at once must both be recorded) */
	char err[ERRLEN];
	int lk;
	if (settings_lock_system(s, &lk, err, sizeof(err)) < 0)
		return failed(err);
	int r = c->fn(s, argc - 1, argv + 1);
	settings_unlock_system(lk);
	return r;
}
