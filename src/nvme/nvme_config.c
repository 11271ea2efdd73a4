/* SPDX-License-Identifier: BSD-2-Clause */
/* NVMe configuration: bhyve's -s string turned into the config tree, and the tree read back and
 * checked when the controller is created.
 *
 *   -s S,nvme,PATH|ram=MiB[,maxq=N][,qsz=N][,ioslots=N][,sectsz=512|4096|8192][,ser=S]
 *        [,eui64=N][,dsm=auto|enable|disable][,ro][,nocache][,direct][,sync][,nodelete]
 *        [,bootindex=N]
 *
 * The first field is the path unless it holds '=' (ram=64, path=...); the rest are key=value
 * (a bare key means true), stored as pci.B.S.F.KEY. Values: maxq >= 1 (clamped to 16),
 * qsz 2..65536 (larger clamped), ioslots >= 1 (clamped to blockif's queue depth), ram 1 MiB to
 * 1 TiB. Every error is one kb_log line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/blockif.h"
#include "config/config.h"
#include "config/options.h"
#include "core/log.h"
#include "nvme/nvme.h"

static const char *const known_keys[] = {
    "device", "path", "ram",	 "maxq",   "qsz",  "ioslots",  "sectsz",     "ser",	  "eui64",
    "dsm",    "ro",   "nocache", "direct", "sync", "nodelete", "sectorsize", "bootindex",
};

int nvme_legacy_config(struct cfgnode *devnode, const char *opts)
{
	if (!opts || !*opts)
		return 0; /* init reports the missing path */
	size_t n = strcspn(opts, ",");
	int r;
	if (n == 0) {
		kb_log("nvme: empty path in '%s'", opts);
		return -EINVAL;
	}
	if (memchr(opts, '=', n)) {
		r = pci_parse_legacy_config(devnode, opts);
	} else {
		char *path = strndup(opts, n);
		if (!path)
			return -ENOMEM;
		r = config_set(devnode, "path", path);
		free(path);
		if (r == 0 && opts[n] == ',')
			r = pci_parse_legacy_config(devnode, opts + n + 1);
	}
	if (r < 0) {
		kb_log("nvme: malformed options '%s'", opts);
		return -EINVAL;
	}
	return 0;
}

/* An unsigned number (decimal, 0x hex) from min to max; above max clamps when `clamp`. */
static int get_num(struct cfgnode *devnode, const char *key, uint64_t min, uint64_t max, bool clamp,
		   uint64_t *out)
{
	const char *v = config_get(devnode, key);
	if (!v)
		return 0;
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 0);
	if (!*v || *v == '-' || *end || errno || x < min || (!clamp && x > max)) {
		kb_log("nvme: %s=%s: expected a number from %llu to %llu", key, v,
		       (unsigned long long)min, (unsigned long long)max);
		return -EINVAL;
	}
	*out = x > max ? max : x;
	return 0;
}

int nvme_read_config(struct cfgnode *devnode, struct nvme_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->maxq = NVME_MAX_QUEUES;
	c->qsz = NVME_DEF_QSZ;
	c->ioslots = NVME_DEF_IOSLOTS;
	c->dsm = NVME_DSM_AUTO;
	for (struct cfgnode *k = config_first_child(devnode); k; k = config_next_sibling(k)) {
		bool known = false;
		for (size_t i = 0; i < sizeof(known_keys) / sizeof(known_keys[0]); i++)
			known |= strcmp(config_name(k), known_keys[i]) == 0;
		if (!known || !config_is_leaf(k)) {
			kb_log(
			    "nvme: unknown option '%s' (known: PATH or ram=, maxq, qsz, ioslots, "
			    "sectsz, ser, eui64, dsm, ro, nocache, direct, sync, nodelete, "
			    "bootindex)",
			    config_name(k));
			return -EINVAL;
		}
	}
	const char *path = config_get(devnode, "path");
	bool has_path = path && *path, has_ram = config_get(devnode, "ram") != NULL;
	if (has_path && has_ram) {
		kb_log("nvme: both a path and ram= given");
		return -EINVAL;
	}
	if (!has_path && !has_ram) {
		kb_log("nvme: no backing file or device (PATH or ram=MiB)");
		return -EINVAL;
	}
	uint64_t v = 0;
	if (has_ram) {
		if (get_num(devnode, "ram", 1, 1u << 20, false, &v) < 0)
			return -EINVAL;
		c->ram_mib = v;
	}
	v = c->maxq;
	if (get_num(devnode, "maxq", 1, NVME_MAX_QUEUES, true, &v) < 0)
		return -EINVAL;
	c->maxq = (unsigned)v;
	v = c->qsz;
	if (get_num(devnode, "qsz", 2, NVME_MAX_QSZ, true, &v) < 0)
		return -EINVAL;
	c->qsz = (unsigned)v;
	v = c->ioslots;
	if (get_num(devnode, "ioslots", 1, BLOCKIF_MAX_INFLIGHT, true, &v) < 0)
		return -EINVAL;
	c->ioslots = (unsigned)v;
	const char *s = config_get(devnode, "sectsz");
	if (s) {
		if (strcmp(s, "512") && strcmp(s, "4096") && strcmp(s, "8192")) {
			kb_log("nvme: sectsz=%s: expected 512, 4096 or 8192", s);
			return -EINVAL;
		}
		c->sectsz = (unsigned)atoi(s);
	}
	if ((s = config_get(devnode, "ser"))) {
		if (strlen(s) > 20) {
			kb_log("nvme: ser=%s: at most 20 characters", s);
			return -EINVAL;
		}
		for (const char *p = s; *p; p++)
			if (*p < 0x20 || *p > 0x7e) {
				kb_log("nvme: ser=%s: printable ASCII only", s);
				return -EINVAL;
			}
		strcpy(c->serial, s);
	}
	if (config_get(devnode, "eui64")) {
		if (get_num(devnode, "eui64", 0, UINT64_MAX, false, &c->eui64) < 0)
			return -EINVAL;
		c->eui64_set = true;
	}
	if ((s = config_get(devnode, "dsm"))) {
		if (strcmp(s, "auto") == 0)
			c->dsm = NVME_DSM_AUTO;
		else if (strcmp(s, "enable") == 0)
			c->dsm = NVME_DSM_ENABLE;
		else if (strcmp(s, "disable") == 0)
			c->dsm = NVME_DSM_DISABLE;
		else {
			kb_log("nvme: dsm=%s: expected auto, enable or disable", s);
			return -EINVAL;
		}
	}
	return 0;
}
