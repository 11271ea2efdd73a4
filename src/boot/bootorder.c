/* fw_cfg "bootorder" (see bootorder.h). A device at bus 0, slot S, function F is
 * "/pci@i0cf8/pci@S" or "/pci@i0cf8/pci@S,F" (hex; the function only when not 0, as in
 * OpenFirmware unit addresses): OVMF reads any such node as PciRoot(0)/Pci(S,F) and puts the boot
 * options below it first; SeaBIOS matches a pattern of its own (any node name, then "@S[,F]")
 * against it, which needs the path to end (or go on with '/') right after the unit address. */
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
};

static int by_index(const void *a, const void *b)
{
	const struct boot_dev *x = a, *y = b;
	return (x->index > y->index) - (x->index < y->index);
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
				const char *v = config_get(f, "bootindex");
				if (!v)
					continue;
				unsigned long idx, bus, slot, func;
				if (!parse_uint(config_name(b), 255, &bus) ||
				    !parse_uint(config_name(s), 31, &slot) ||
				    !parse_uint(config_name(f), 7, &func))
					continue; /* not a device address: the PCI layer refuses it
						   */
				if (!parse_uint(v, BOOTINDEX_MAX, &idx)) {
					snprintf(
					    err, errlen,
					    "pci.%s.%s.%s.bootindex=%s: expected a number from 0 "
					    "to %d",
					    config_name(b), config_name(s), config_name(f), v,
					    BOOTINDEX_MAX);
					free(devs);
					return -EINVAL;
				}
				if (n == cap) {
					cap = cap ? 2 * cap : 8;
					struct boot_dev *d = realloc(devs, cap * sizeof(*d));
					if (!d) {
						free(devs);
						return -ENOMEM;
					}
					devs = d;
				}
				devs[n++] = (struct boot_dev){(long)idx, (unsigned)bus,
							      (unsigned)slot, (unsigned)func};
			}
	if (n == 0)
		return 0;
	qsort(devs, n, sizeof(*devs), by_index);
	for (size_t i = 1; i < n; i++)
		if (devs[i].index == devs[i - 1].index) {
			snprintf(err, errlen,
				 "bootindex=%ld is given to two devices (%u:%u:%u and %u:%u:%u)",
				 devs[i].index, devs[i - 1].bus, devs[i - 1].slot, devs[i - 1].func,
				 devs[i].bus, devs[i].slot, devs[i].func);
			free(devs);
			return -EINVAL;
		}
	/* "/pci@i0cf8,ff/pci@1f,7\n" at most */
	char *buf = malloc(n * 32);
	if (!buf) {
		free(devs);
		return -ENOMEM;
	}
	size_t used = 0;
	for (size_t i = 0; i < n; i++) {
		char bus[16] = "", fn[16] = "";
		if (devs[i].bus)
			snprintf(bus, sizeof(bus), ",%x", devs[i].bus);
		if (devs[i].func)
			snprintf(fn, sizeof(fn), ",%x", devs[i].func);
		used += (size_t)snprintf(buf + used, n * 32 - used, "%s/pci@i0cf8%s/pci@%x%s",
					 i ? "\n" : "", bus, devs[i].slot, fn);
	}
	free(devs);
	*out = buf;
	*len = used + 1; /* the NUL ends the file, as QEMU's does (OVMF checks it) */
	return 0;
}
