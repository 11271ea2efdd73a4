/* PIIX4 power-management function (8086:7113) at 0:1.3, added whenever a boot ROM is used:
 * edk2's OVMF finds the ACPI PM block through it (PMBA at 0x40, PMIOSE at 0x80 bit 0) and, on an
 * i440FX host bridge, takes its PM timer from PMBA + 8. Both registers are preset and fixed, so
 * the firmware keeps kbhyve's PM block at ACPI_PM1A_EVT_PORT (0x400) where the FADT puts it. */
#include <errno.h>

#include "acpi/acpi.h"
#include "core/log.h"
#include "pci/pci.h"

#define PIIX4_PMBA 0x40
#define PIIX4_PMREGMISC 0x80

/* PMBA and PMREGMISC are hard-wired: a guest that tried to move the block would otherwise read
 * back a base where nothing decodes. */
static int piix4_pm_cfgwrite(struct pci_dev *pd, unsigned off, unsigned size, uint32_t val)
{
	unsigned end = off + size;
	if ((off < PIIX4_PMBA + 4 && end > PIIX4_PMBA) ||
	    (off <= PIIX4_PMREGMISC && end > PIIX4_PMREGMISC)) {
		kb_debug("piix4-pm: write of %#x to fixed register %#x ignored", val, off);
		return 1;
	}
	return 0;
}

static int piix4_pm_init(struct vm *vm, struct pci_dev *pd, struct cfgnode *devnode)
{
	if (pd->bus != 0 || pd->slot != 1 || pd->func != 3) {
		kb_log("piix4-pm: the firmware looks for it at 0:1.3 only, not %d:%d.%d", pd->bus,
		       pd->slot, pd->func);
		return -EINVAL;
	}
	pci_set_cfg16(pd, PCIR_VENDOR, 0x8086);
	pci_set_cfg16(pd, PCIR_DEVICE, 0x7113);
	pci_set_cfg8(pd, PCIR_REVID, 0x03);
	pci_set_cfg8(pd, PCIR_CLASS, 0x06);		       /* bridge */
	pci_set_cfg8(pd, PCIR_SUBCLASS, 0x80);		       /* other */
	pci_set_cfg32(pd, PIIX4_PMBA, ACPI_PM1A_EVT_PORT | 1); /* bit 0: I/O space indicator */
	pci_set_cfg8(pd, PIIX4_PMREGMISC, 1);		       /* PMIOSE: the block decodes */
	return 0;
}

static const struct pci_devemu piix4_pm = {
    .name = "piix4-pm",
    .init = piix4_pm_init,
    .cfgwrite = piix4_pm_cfgwrite,
    .chipset_function = true,
};
PCI_EMUL(piix4_pm);
