/* SPDX-License-Identifier: BSD-2-Clause */
/* The PCI-ISA bridge: bus 0 only, one instance; it owns the COM ports given with -l comN,... */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acpi/aml.h"
#include "core/log.h"
#include "core/vm.h"
#include "devices/uart_lpc.h"
#include "pci/lpc.h"
#include "pci/pci.h"

DEVSET_DECLARE(lpc_dsdt);

static const struct {
	const char *name;
	uint16_t port;
	unsigned irq;
} com_ports[] = {
	{"com1", 0x3F8, 4},
	{"com2", 0x2F8, 3},
	{"com3", 0x3E8, 4},
	{"com4", 0x2E8, 3},
};

static int pcireg(struct cfgnode *cfg, const char *key, unsigned long def, unsigned long max,
		  unsigned long *out)
{
	const char *v = config_get(cfg, key);
	if (!v) {
		*out = def;
		return 0;
	}
	char *end;
	unsigned long x = strtoul(v, &end, 0);
	if (*v == '\0' || *end != '\0' || x > max) {
		kb_log("%s: invalid value '%s'", key, v);
		return -EINVAL;
	}
	*out = x;
	return 0;
}

static void lpc_teardown(void *opaque)
{
	uart_lpc_detach_all(opaque);
}

static int lpc_init(struct vm *vm, struct pci_dev *pd, struct cfgnode *devnode)
{
	if (pd->bus != 0) {
		kb_log("lpc: the LPC bridge must be on bus 0");
		return -EINVAL;
	}
	for (int s = 0; s < PCI_MAX_SLOT; s++)
		for (int f = 0; f < PCI_MAX_FUNC; f++) {
			struct pci_dev *other = pci_find_dev(vm, 0, s, f);
			if (other && other != pd && other->emu == pd->emu) {
				kb_log("lpc: only one LPC bridge is supported (another is at 0:%d:%d)", s, f);
				return -EINVAL;
			}
		}
	unsigned long vendor, device, revid, subvendor, subdevice;
	if (pcireg(vm->cfg, "lpc.pcireg.vendor", 0x8086, 0xffff, &vendor) ||
	    pcireg(vm->cfg, "lpc.pcireg.device", 0x7000, 0xffff, &device) ||
	    pcireg(vm->cfg, "lpc.pcireg.revid", 0, 0xff, &revid) ||
	    pcireg(vm->cfg, "lpc.pcireg.subvendor", 0, 0xffff, &subvendor) ||
	    pcireg(vm->cfg, "lpc.pcireg.subdevice", 0, 0xffff, &subdevice))
		return -EINVAL;
	pci_set_cfg16(pd, PCIR_VENDOR, (uint16_t)vendor);
	pci_set_cfg16(pd, PCIR_DEVICE, (uint16_t)device);
	pci_set_cfg8(pd, PCIR_REVID, (uint8_t)revid);
	pci_set_cfg16(pd, PCIR_SUBVEND, (uint16_t)subvendor);
	pci_set_cfg16(pd, PCIR_SUBDEV, (uint16_t)subdevice);
	pci_set_cfg8(pd, PCIR_CLASS, 0x06);    /* bridge */
	pci_set_cfg8(pd, PCIR_SUBCLASS, 0x01); /* ISA */

	static const char *const unsupported[][2] = {
		{"lpc.pc-testdev", "pc-testdev (-l pc-testdev)"},
		{"tpm.type", "TPM (-l tpm)"},
	};
	for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
		if (config_get(vm->cfg, unsupported[i][0])) {
			kb_log("lpc: %s is not supported by kbhyve yet", unsupported[i][1]);
			return -ENOTSUP;
		}
	}
	int rc = vm_at_destroy(vm, lpc_teardown, vm);
	if (rc)
		return rc;
	for (size_t i = 0; i < sizeof(com_ports) / sizeof(com_ports[0]); i++) {
		char key[32];
		snprintf(key, sizeof(key), "lpc.%s.path", com_ports[i].name);
		const char *path = config_get(vm->cfg, key);
		if (!path)
			continue;
		rc = uart_lpc_attach(vm, com_ports[i].name, com_ports[i].port, com_ports[i].irq,
					 path);
		if (rc)
			return rc;
	}
	return 0;
}

static int cmp_dsdt_name(const void *a, const void *b)
{
	return strcmp((*(const struct lpc_dsdt *const *)a)->name,
		      (*(const struct lpc_dsdt *const *)b)->name);
}

/* Device (ISA) at the bridge's address, with a PNP0501 node per COM port in use (its ports
 * and IRQ), as bhyve describes them: Windows finds COM ports only there; Linux's 8250_pnp
 * binds them. Then the nodes of the other ISA devices (LPC_DSDT entries: the i8042's keyboard
 * and mouse), in name order so that the table does not depend on link order. */
static void lpc_write_dsdt(struct pci_dev *pd, struct aml *a)
{
	size_t isa = aml_device_begin(a, "ISA");
	aml_name_integer(a, "_ADR", (uint64_t)pd->slot << 16 | pd->func);
	for (size_t i = 0; i < sizeof(com_ports) / sizeof(com_ports[0]); i++) {
		char key[32], node[8];
		snprintf(key, sizeof(key), "lpc.%s.path", com_ports[i].name);
		if (!config_get(pd->vm->cfg, key))
			continue;
		snprintf(node, sizeof(node), "COM%zu", i + 1);
		size_t com = aml_device_begin(a, node);
		aml_name_eisaid(a, "_HID", "PNP0501");
		aml_name_integer(a, "_UID", i + 1);
		aml_name(a, "_CRS");
		size_t crs = aml_buffer_begin(a);
		aml_rs_io(a, com_ports[i].port, com_ports[i].port, 1, 8);
		aml_rs_irq_noflags(a, (uint16_t)(1u << com_ports[i].irq));
		aml_rs_end_tag(a);
		aml_buffer_end(a, crs);
		aml_end(a, com);
	}
	const struct lpc_dsdt *d, *list[32];
	size_t n = 0;
	DEVSET_FOREACH(lpc_dsdt, const struct lpc_dsdt *, d)
	if (n < sizeof(list) / sizeof(list[0]))
		list[n++] = d;
	qsort(list, n, sizeof(list[0]), cmp_dsdt_name);
	for (size_t i = 0; i < n; i++)
		list[i]->write(pd->vm, a);
	aml_end(a, isa);
}

static const struct pci_devemu lpc = {
	.name = "lpc",
	.init = lpc_init,
	.write_dsdt = lpc_write_dsdt,
	.snapshot = &pci_no_state_snapshot, /* the ISA devices behind it save their own */
};
PCI_EMUL(lpc);
