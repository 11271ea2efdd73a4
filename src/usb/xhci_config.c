/* SPDX-License-Identifier: BSD-2-Clause */
/* The xHCI controller's configuration: bhyve's -s string turned into the config tree, and the
 * tree read back and checked.
 *
 *   -s S,xhci[,DEV[,DEV...]]     DEV: NAME or NAME=KEY=VALUE (one option, as bhyve)
 *
 * Each DEV becomes pci.B.S.F.slot.N.device=NAME (N = 1, 2, ... in order; bhyve_config(5)); the
 * option after NAME= goes under the same node. Devices take root hub ports in slot order: USB 2
 * devices (the tablet) ports 5-8, USB 3 devices ports 1-4, four of each kind at most. The tree is
 * checked while the option is parsed and again when the controller is created (it may come from
 * -k or -o). Every error is one kb_log line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/options.h"
#include "core/log.h"
#include "usb/xhci.h"

int xhci_legacy_config(struct cfgnode *devnode, const char *opts)
{
	if (!opts || !*opts)
		return 0; /* a controller without devices */
	char *copy = strdup(opts);
	if (!copy)
		return -ENOMEM;
	int r = 0, n = 1;
	char *rest = copy, *tok;
	while ((tok = strsep(&rest, ",")) != NULL) {
		char *eq = strchr(tok, '=');
		if (eq)
			*eq++ = '\0';
		if (!*tok) {
			kb_log("xhci: empty USB device name in '%s'", opts);
			r = -EINVAL;
			break;
		}
		if (n > XHCI_MAX_SLOTS) {
			kb_log("xhci: more than %d USB devices", XHCI_MAX_SLOTS);
			r = -EINVAL;
			break;
		}
		char path[32];
		snprintf(path, sizeof(path), "slot.%d", n++);
		struct cfgnode *node = config_node_create(devnode, path);
		r = node ? config_set(node, "device", tok) : -EEXIST;
		if (r == 0 && eq && *eq)
			r = pci_parse_legacy_config(node, eq);
		if (r < 0) {
			kb_log("xhci: malformed options for USB device '%s' in '%s'", tok, opts);
			r = -EINVAL;
			break;
		}
	}
	free(copy);
	if (r == 0) {
		struct xhci_devcfg devs[XHCI_MAX_DEVS];
		r = xhci_read_config(devnode, devs) < 0 ? -EINVAL : 0;
	}
	return r;
}

static int parse_slot(const char *s)
{
	char *end;
	if (*s < '1' || *s > '9')
		return -1;
	long v = strtol(s, &end, 10);
	return *end || v > XHCI_MAX_SLOTS ? -1 : (int)v;
}

int xhci_read_config(struct cfgnode *devnode, struct xhci_devcfg *devs)
{
	struct cfgnode *byslot[XHCI_MAX_SLOTS + 1] = {0};
	struct cfgnode *slots = NULL;
	for (struct cfgnode *k = config_first_child(devnode); k; k = config_next_sibling(k)) {
		const char *name = config_name(k);
		if (strcmp(name, "device") == 0)
			continue;
		if (strcmp(name, "slot") == 0 && !config_is_leaf(k)) {
			slots = k;
			continue;
		}
		kb_log("xhci: unknown option '%s' (USB devices: -s S,xhci,tablet or "
		       "pci.B.S.F.slot.N.device=tablet)",
		       name);
		return -EINVAL;
	}
	if (!slots)
		return 0;
	for (struct cfgnode *sn = config_first_child(slots); sn; sn = config_next_sibling(sn)) {
		int n = parse_slot(config_name(sn));
		if (n < 0 || config_is_leaf(sn)) {
			kb_log("xhci: slot.%s: expected a device slot number from 1 to %d",
			       config_name(sn), XHCI_MAX_SLOTS);
			return -EINVAL;
		}
		byslot[n] = sn;
	}
	unsigned nusb2 = 0, nusb3 = 0, ndev = 0;
	for (int n = 1; n <= XHCI_MAX_SLOTS; n++) {
		struct cfgnode *sn = byslot[n];
		if (!sn)
			continue;
		const char *name = config_get(sn, "device");
		if (!name || !*name) {
			kb_log("xhci: slot.%d: no device= given", n);
			return -EINVAL;
		}
		const struct usb_devemu *ue = usb_emul_find(name);
		if (!ue) {
			kb_log("xhci: unknown USB device '%s' (known: %s)", name, usb_emul_names());
			return -EINVAL;
		}
		if (usb_emul_check(ue, sn) < 0)
			return -EINVAL;
		unsigned *count = ue->usbver >= 3 ? &nusb3 : &nusb2;
		if (*count == XHCI_PORTS_PER_PROTO) {
			kb_log(
			    "xhci: more than %d USB %u devices ('%s' in slot %d): the controller "
			    "has %d USB %u ports",
			    XHCI_PORTS_PER_PROTO, ue->usbver >= 3 ? 3 : 2, name, n,
			    XHCI_PORTS_PER_PROTO, ue->usbver >= 3 ? 3 : 2);
			return -EINVAL;
		}
		unsigned first = ue->usbver >= 3 ? XHCI_USB3_PORT1 : XHCI_USB2_PORT1;
		devs[ndev++] = (struct xhci_devcfg){.emu = ue, .node = sn, .port = first + *count};
		(*count)++;
	}
	return (int)ndev;
}
