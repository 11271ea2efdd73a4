/* SPDX-License-Identifier: BSD-2-Clause */
/* The AHCI controller's configuration: bhyve's -s strings turned into the config tree, and the
 * tree read back and checked when the device is created.
 *
 *   -s S,ahci,hd:PATH[,opts],cd:PATH[,opts],...   one port per "hd:" / "cd:" item, from port 0
 *   -s S,ahci,PATH[,opts]                         legacy: port 0 is a disk
 *   -s S,ahci-hd,PATH[,opts] / ahci-cd,PATH[,opts] port 0 of that type
 *
 * The string is split before each ",hd:" and ",cd:" (as bhyve does, so a path may hold commas
 * elsewhere); each item's first field is the path (or key=value), the rest are options, stored
 * as pci.B.S.F.port.N.{type,path,OPTION}. Per-port options: nmrr, ser (<= 20 characters), rev
 * (<= 8), model (<= 40), bootindex, and blockif's ro, nocache, direct, sync, sectorsize,
 * nodelete. A cd item with an empty path is an empty drive. Every error is one kb_log line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ahci/ahci.h"
#include "config/config.h"
#include "config/options.h"
#include "core/log.h"

static const char *const port_keys[] = {
    "type",	  "path", "ro",	 "nocache", "direct", "sync",	   "nodelete",
    "sectorsize", "nmrr", "ser", "rev",	    "model",  "bootindex",
};
#define NKEYS (sizeof(port_keys) / sizeof(port_keys[0]))

/* One item "PATH[,opts]" (type prefix already removed) into port node N. */
static int config_port(struct cfgnode *devnode, int n, const char *type, const char *item)
{
	char name[32];
	snprintf(name, sizeof(name), "port.%d", n);
	struct cfgnode *pn = config_node_create(devnode, name);
	if (!pn) {
		kb_log("ahci: cannot create the configuration of port %d", n);
		return -EINVAL;
	}
	int r = config_set(pn, "type", type);
	size_t len = strcspn(item, ",");
	if (r == 0 && len > 0 && memchr(item, '=', len)) {
		r = pci_parse_legacy_config(pn, item); /* path=... spelled out */
	} else if (r == 0) {
		if (len > 0) {
			char *path = strndup(item, len);
			if (!path)
				return -ENOMEM;
			r = config_set(pn, "path", path);
			free(path);
		}
		if (r == 0 && item[len] == ',')
			r = pci_parse_legacy_config(pn, item + len + 1);
	}
	if (r < 0)
		kb_log("ahci: port %d: malformed options '%s'", n, item);
	return r < 0 ? -EINVAL : 0;
}

/* Whether s starts with a type prefix "xx:"; *type gets "hd"/"cd" or NULL for another word. */
static size_t type_prefix(const char *s, const char **type)
{
	*type = NULL;
	if (strncmp(s, "hd:", 3) == 0)
		*type = "hd";
	else if (strncmp(s, "cd:", 3) == 0)
		*type = "cd";
	if (*type)
		return 3;
	size_t n = 0;
	while (s[n] >= 'a' && s[n] <= 'z')
		n++;
	return n > 0 && n <= 4 && s[n] == ':' ? n + 1 : 0;
}

int ahci_legacy_config(struct cfgnode *devnode, const char *opts)
{
	if (!opts || !*opts)
		return 0; /* a controller without ports */
	char *copy = strdup(opts);
	if (!copy)
		return -ENOMEM;
	int r = 0, port = 0;
	char *item = copy;
	while (item) {
		/* the next item starts at the first ",hd:" or ",cd:" */
		char *a = strstr(item, ",hd:"), *b = strstr(item, ",cd:");
		char *next = a && (!b || a < b) ? a : b;
		if (next)
			*next++ = '\0';
		const char *type;
		size_t skip = type_prefix(item, &type);
		if (skip && !type) {
			kb_log("ahci: unknown port type '%.*s' in '%s' (expected hd: or cd:)",
			       (int)skip - 1, item, item);
			r = -EINVAL;
			break;
		}
		if (!type && port > 0) { /* cannot happen: items after the first have a prefix */
			r = -EINVAL;
			break;
		}
		if (port >= AHCI_MAX_PORTS) {
			kb_log("ahci: more than %d ports", AHCI_MAX_PORTS);
			r = -EINVAL;
			break;
		}
		if (!type && !*item) {
			kb_log("ahci: empty port configuration in '%s'", opts);
			r = -EINVAL;
			break;
		}
		r = config_port(devnode, port, type ? type : "hd", item + skip);
		if (r < 0)
			break;
		port++;
		item = next;
	}
	free(copy);
	return r;
}

static int single_port(struct cfgnode *devnode, const char *opts, const char *type)
{
	const char *t;
	const char *item = opts ? opts : "";
	size_t skip = type_prefix(item, &t);
	if (skip && t && strcmp(t, type) == 0)
		item += skip; /* "ahci-hd,hd:PATH" */
	else if (skip) {
		kb_log("ahci-%s: unexpected port type prefix in '%s'", type, item);
		return -EINVAL;
	}
	if (strstr(item, ",hd:") || strstr(item, ",cd:")) {
		kb_log("ahci-%s: one port only (use -s S,ahci,hd:...,cd:... for more)", type);
		return -EINVAL;
	}
	return config_port(devnode, 0, type, item);
}

int ahci_hd_legacy_config(struct cfgnode *devnode, const char *opts)
{
	return single_port(devnode, opts, "hd");
}

int ahci_cd_legacy_config(struct cfgnode *devnode, const char *opts)
{
	return single_port(devnode, opts, "cd");
}

/* ---- reading the tree ---- */

static int check_string(int n, const char *key, const char *v, size_t max, char *dst)
{
	if (strlen(v) > max) {
		kb_log("ahci: port %d: %s=%s: at most %zu characters", n, key, v, max);
		return -EINVAL;
	}
	for (const char *c = v; *c; c++)
		if (*c < 0x20 || *c > 0x7e) {
			kb_log("ahci: port %d: %s=%s: printable ASCII only", n, key, v);
			return -EINVAL;
		}
	strcpy(dst, v);
	return 0;
}

static int read_port(struct cfgnode *pn, int n, const char *deftype, struct ahci_port_cfg *c)
{
	for (struct cfgnode *k = config_first_child(pn); k; k = config_next_sibling(k)) {
		bool known = false;
		for (size_t i = 0; i < NKEYS; i++)
			known |= strcmp(config_name(k), port_keys[i]) == 0;
		if (!known || !config_is_leaf(k)) {
			kb_log("ahci: port %d: unknown option '%s' (known: path, ro, nocache, "
			       "direct, sync, nodelete, sectorsize, nmrr, ser, rev, model, "
			       "bootindex)",
			       n, config_name(k));
			return -EINVAL;
		}
	}
	const char *type = config_get(pn, "type");
	if (!type)
		type = deftype;
	if (!type) {
		kb_log("ahci: port %d: no type (hd or cd)", n);
		return -EINVAL;
	}
	if (strcmp(type, "hd") == 0)
		c->type = AHCI_PORT_HD;
	else if (strcmp(type, "cd") == 0)
		c->type = AHCI_PORT_CD;
	else {
		kb_log("ahci: port %d: unknown type '%s' (hd or cd)", n, type);
		return -EINVAL;
	}
	c->node = pn;
	const char *path = config_get(pn, "path");
	c->has_path = path && *path;
	if (!c->has_path && c->type == AHCI_PORT_HD) {
		kb_log("ahci: port %d: a disk needs a path", n);
		return -EINVAL;
	}
	const char *v = config_get(pn, "nmrr");
	if (v) {
		char *end;
		errno = 0;
		unsigned long x = strtoul(v, &end, 0);
		if (!*v || *v == '-' || *end || errno || x > 0xffff) {
			kb_log("ahci: port %d: nmrr=%s: expected a number from 0 to 65535", n, v);
			return -EINVAL;
		}
		c->nmrr = (unsigned)x;
	}
	strcpy(c->rev, "001");
	strcpy(c->model, c->type == AHCI_PORT_HD ? "BHYVE SATA DISK" : "BHYVE SATA DVD ROM");
	if ((v = config_get(pn, "ser"))) {
		if (check_string(n, "ser", v, 20, c->serial) < 0)
			return -EINVAL;
		c->serial_set = true;
	}
	if ((v = config_get(pn, "rev")) && check_string(n, "rev", v, 8, c->rev) < 0)
		return -EINVAL;
	if ((v = config_get(pn, "model")) && check_string(n, "model", v, 40, c->model) < 0)
		return -EINVAL;
	return 0;
}

static int parse_port_number(const char *s)
{
	char *end;
	if (*s < '0' || *s > '9' || (s[0] == '0' && s[1]))
		return -1;
	long v = strtol(s, &end, 10);
	return *end || v >= AHCI_MAX_PORTS ? -1 : (int)v;
}

int ahci_read_config(struct cfgnode *devnode, const char *emu, struct ahci_port_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg) * AHCI_MAX_PORTS);
	const char *deftype = strcmp(emu, "ahci-cd") == 0 ? "cd" : "hd";
	struct cfgnode *ports = config_node(devnode, "port");
	bool direct = false; /* options on the device node itself: port 0 (-o style) */
	for (struct cfgnode *k = config_first_child(devnode); k; k = config_next_sibling(k)) {
		const char *name = config_name(k);
		if (strcmp(name, "device") == 0 || (strcmp(name, "port") == 0 && k == ports))
			continue;
		bool known = false;
		for (size_t i = 0; i < NKEYS; i++)
			known |= strcmp(name, port_keys[i]) == 0;
		if (!known || !config_is_leaf(k)) {
			kb_log("%s: unknown option '%s'", emu, name);
			return -EINVAL;
		}
		direct = true;
	}
	if (direct && ports && config_first_child(ports)) {
		kb_log("%s: port options both on the device and under port.N", emu);
		return -EINVAL;
	}
	if (direct)
		return read_port(devnode, 0, deftype, &cfg[0]);
	if (!ports)
		return 0;
	if (config_is_leaf(ports)) {
		kb_log("%s: port must be a node (port.N.path=...)", emu);
		return -EINVAL;
	}
	for (struct cfgnode *pn = config_first_child(ports); pn; pn = config_next_sibling(pn)) {
		int n = parse_port_number(config_name(pn));
		if (n < 0 || config_is_leaf(pn)) {
			kb_log("%s: port.%s: expected a port number from 0 to %d", emu,
			       config_name(pn), AHCI_MAX_PORTS - 1);
			return -EINVAL;
		}
		if (read_port(pn, n, NULL, &cfg[n]) < 0)
			return -EINVAL;
	}
	return 0;
}
