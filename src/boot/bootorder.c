/* SPDX-License-Identifier: BSD-2-Clause */
/* fw_cfg "bootorder" (see bootorder.h). A device at bus 0, slot S, function F is
 * "/pci@i0cf8/pci@S" or "/pci@i0cf8/pci@S,F" (hex; the function only when not 0, as in
 * OpenFirmware unit addresses): OVMF reads any such node as PciRoot(0)/Pci(S,F) and puts the boot
 * options below it first; SeaBIOS matches a pattern of its own (any node name, then "@S[,F]")
 * against it, which needs the path to end (or go on with '/') right after the unit address.
 * A port N of an AHCI controller (pci.B.S.F.port.N.bootindex) is
 * "/pci@i0cf8/pci8086,2922@S[,F]/drive@N/disk@0": OVMF turns exactly that node name (QEMU's ICH9
 * AHCI) with drive@N into Sata(N,0xFFFF,0) below the controller and ignores the port otherwise;
 * SeaBIOS's AHCI pattern takes any node name. */
#include "boot/bootorder.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

#define BOOTINDEX_MAX 65535

struct boot_dev {
	long index;
	unsigned bus, slot, func;
	long port; /* -1: the function itself */
};

static int by_index(const void *a, const void *b)
{
	const struct boot_dev *x = a, *y = b;
	/* ties (an error reported below) in address order, so the message is the same every time */
	long kx[] = {x->index, x->bus, x->slot, x->func, x->port};
	long ky[] = {y->index, y->bus, y->slot, y->func, y->port};
	for (int i = 0; i < 5; i++)
		if (kx[i] != ky[i])
			return (kx[i] > ky[i]) - (kx[i] < ky[i]);
	return 0;
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

/* One bootindex (the function's or a port's): checked, then appended to *devs. */
static int add_dev(struct boot_dev **devs, size_t *n, size_t *cap, const char *v, const char *where,
		   struct boot_dev d, char *err, size_t errlen)
{
	unsigned long idx;
	if (!parse_uint(v, BOOTINDEX_MAX, &idx)) {
		snprintf(err, errlen, "%s.bootindex=%s: expected a number from 0 to %d", where, v,
			 BOOTINDEX_MAX);
		return -EINVAL;
	}
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 8;
		struct boot_dev *grown = realloc(*devs, *cap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		*devs = grown;
	}
	d.index = (long)idx;
	(*devs)[(*n)++] = d;
	return 0;
}

static void dev_name(const struct boot_dev *d, char *buf, size_t len)
{
	if (d->port < 0)
		snprintf(buf, len, "%u:%u:%u", d->bus, d->slot, d->func);
	else
		snprintf(buf, len, "%u:%u:%u port %ld", d->bus, d->slot, d->func, d->port);
}

int bootorder_build(struct cfgnode *cfg, char **out, size_t *len, char *err, size_t errlen)
{
	*out = NULL;
	*len = 0;
	struct boot_dev *devs = NULL;
	size_t n = 0, cap = 0;
	struct cfgnode *pci = config_node(cfg, "pci");
	for (struct cfgnode *b = pci ? config_first_child(pci) : NULL; b;
	     b = config_next_sibling(b))
		for (struct cfgnode *s = config_first_child(b); s; s = config_next_sibling(s))
			for (struct cfgnode *f = config_first_child(s); f;
			     f = config_next_sibling(f)) {
				unsigned long bus, slot, func;
				if (!parse_uint(config_name(b), 255, &bus) ||
				    !parse_uint(config_name(s), 31, &slot) ||
				    !parse_uint(config_name(f), 7, &func))
					continue; /* not a device address: the PCI layer refuses it
						   */
				struct boot_dev d = {0, (unsigned)bus, (unsigned)slot,
						     (unsigned)func, -1};
				char where[64];
				snprintf(where, sizeof(where), "pci.%s.%s.%s", config_name(b),
					 config_name(s), config_name(f));
				const char *v = config_get(f, "bootindex");
				int rc = v ? add_dev(&devs, &n, &cap, v, where, d, err, errlen) : 0;
				struct cfgnode *ports = config_node(f, "port");
				for (struct cfgnode *p = ports ? config_first_child(ports) : NULL;
				     p && !rc; p = config_next_sibling(p)) {
					unsigned long port;
					v = config_get(p, "bootindex");
					if (!v || !parse_uint(config_name(p), 31, &port))
						continue; /* a bad port number: the device refuses it */
					d.port = (long)port;
					snprintf(where, sizeof(where), "pci.%s.%s.%s.port.%s",
						 config_name(b), config_name(s), config_name(f),
						 config_name(p));
					rc = add_dev(&devs, &n, &cap, v, where, d, err, errlen);
				}
				if (rc) {
					free(devs);
					return rc;
				}
			}
	if (n == 0)
		return 0;
	qsort(devs, n, sizeof(*devs), by_index);
	for (size_t i = 1; i < n; i++)
		if (devs[i].index == devs[i - 1].index) {
			char a[48], b[48];
			dev_name(&devs[i - 1], a, sizeof(a));
			dev_name(&devs[i], b, sizeof(b));
			snprintf(err, errlen, "bootindex=%ld is given to two devices (%s and %s)",
				 devs[i].index, a, b);
			free(devs);
			return -EINVAL;
		}
	/* "/pci@i0cf8,ff/pci8086,2922@1f,7/drive@1f/disk@0\n" at most */
	char *buf = malloc(n * 56);
	if (!buf) {
		free(devs);
		return -ENOMEM;
	}
	size_t used = 0;
	for (size_t i = 0; i < n; i++) {
		char bus[16] = "", fn[16] = "", port[32] = "";
		const char *node = devs[i].port >= 0 ? "pci8086,2922" : "pci";
		if (devs[i].bus)
			snprintf(bus, sizeof(bus), ",%x", devs[i].bus);
		if (devs[i].func)
			snprintf(fn, sizeof(fn), ",%x", devs[i].func);
		if (devs[i].port >= 0)
			snprintf(port, sizeof(port), "/drive@%lx/disk@0", devs[i].port);
		used += (size_t)snprintf(buf + used, n * 56 - used, "%s/pci@i0cf8%s/%s@%x%s%s",
					 i ? "\n" : "", bus, node, devs[i].slot, fn, port);
	}
	free(devs);
	*out = buf;
	*len = used + 1; /* the NUL ends the file, as QEMU's does (OVMF checks it) */
	return 0;
}
