/* SPDX-License-Identifier: BSD-2-Clause */
/* Host bridge at 0:0.0: bhyve's NetApp IDs by default, or AMD's with amd_hostbridge. With a boot
 * ROM (-l bootrom) both read as Intel's i440FX (8086:1237): edk2's OVMF recognises the platform by
 * this ID and finds its PM timer only on i440FX or Q35. pcireg.vendor/device still override. */
#include <errno.h>
#include <stdlib.h>

#include "core/log.h"
#include "core/vm.h"
#include "pci/pci.h"

#define I440FX_VENDOR 0x8086
#define I440FX_DEVICE 0x1237

/* Optional pcireg.vendor / pcireg.device overrides, as bhyve_config(5) documents for lpc. */
static int read_id(struct cfgnode *devnode, const char *key, uint16_t def, uint16_t *out)
{
	struct cfgnode *n = config_node(devnode, key);
	const char *v = n ? config_value(n) : NULL;
	if (!v) {
		*out = def;
		return 0;
	}
	char *end;
	unsigned long x = strtoul(v, &end, 0);
	if (*v == '\0' || *end != '\0' || x > 0xffff) {
		kb_log("hostbridge: %s: not a 16-bit number: '%s'", key, v);
		return -EINVAL;
	}
	*out = (uint16_t)x;
	return 0;
}

static int hostbridge_setup(struct pci_dev *pd, struct cfgnode *devnode, uint16_t vendor,
			    uint16_t device)
{
	uint16_t v, d;
	if (read_id(devnode, "pcireg.vendor", vendor, &v) || read_id(devnode, "pcireg.device", device, &d))
		return -EINVAL;
	pci_set_cfg16(pd, PCIR_VENDOR, v);
	pci_set_cfg16(pd, PCIR_DEVICE, d);
	pci_set_cfg8(pd, PCIR_CLASS, 0x06); /* bridge */
	pci_set_cfg8(pd, PCIR_SUBCLASS, 0x00); /* host */
	pci_set_cfg8(pd, PCIR_HDRTYPE, 0x00);
	return 0;
}

static int hostbridge_init(struct vm *vm, struct pci_dev *pd, struct cfgnode *devnode)
{
	if (vm->bootrom)
		return hostbridge_setup(pd, devnode, I440FX_VENDOR, I440FX_DEVICE);
	return hostbridge_setup(pd, devnode, 0x1275, 0x1275);
}

static int amd_hostbridge_init(struct vm *vm, struct pci_dev *pd, struct cfgnode *devnode)
{
	if (vm->bootrom)
		return hostbridge_setup(pd, devnode, I440FX_VENDOR, I440FX_DEVICE);
	return hostbridge_setup(pd, devnode, 0x1022, 0x7432);
}

static const struct pci_devemu hostbridge = {
	.name = "hostbridge",
	.init = hostbridge_init,
	.snapshot = &pci_no_state_snapshot,
};
PCI_EMUL(hostbridge);

static const struct pci_devemu amd_hostbridge = {
	.name = "amd_hostbridge",
	.init = amd_hostbridge_init,
	.snapshot = &pci_no_state_snapshot,
};
PCI_EMUL(amd_hostbridge);
