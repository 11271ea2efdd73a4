/* SPDX-License-Identifier: BSD-2-Clause */
/* PIIX4 power-management function (8086:7113) at 0:1.3, added whenever a boot ROM is used:
 * firmware finds the ACPI PM block through it (PMBA at 0x40, PMIOSE at 0x80 bit 0) and, on an
 * i440FX host bridge, takes its PM timer from PMBA + 8.
 *
 * kbhyve's PM block stays where the FADT puts it (ACPI_PM1A_EVT_PORT, 0x400): the ACPI tables are
 * built once, before the firmware runs. PMBA is preset there with PMIOSE on, so edk2's OVMF keeps
 * it. A firmware that programs its own base anyway (SeaBIOS writes 0x600 and then reads its timer
 * at 0x608) gets the block at that base too, as an alias, while the FADT's address keeps working
 * for the OS. */
#include <errno.h>
#include <stdlib.h>

#include "acpi/acpi.h"
#include "core/iobus.h"
#include "core/log.h"
#include "core/vm.h"
#include "pci/pci.h"

#define PIIX4_PMBA 0x40
#define PIIX4_PMREGMISC 0x80
#define PIIX4_PMBA_MASK 0xffc0u /* a 64-byte I/O block */
#define PM_ALIAS_LEN 16		/* PM1 event, PM1 control, timer, GPE0: what the block has */

struct piix4_pm {
	struct pci_dev *pd;
	uint16_t alias; /* base of the alias now decoded, or 0 */
	struct kb_ratelimit log;
};

/* The base the guest programmed, when it differs from the block's own address; else 0. */
static uint16_t programmed_base(const struct pci_dev *pd)
{
	if (!(pd->cfg[PIIX4_PMREGMISC] & 1))
		return 0;
	uint16_t base = (uint16_t)(pci_get_cfg(pd, PIIX4_PMBA, 2) & PIIX4_PMBA_MASK);
	return base == ACPI_PM1A_EVT_PORT ? 0 : base;
}

/* An access at the programmed base is the same access at the block's own address. */
static int pm_alias_io(void *opaque, uint64_t off, unsigned size, bool is_write, uint64_t *val)
{
	struct piix4_pm *s = opaque;
	if (iobus_dispatch(&s->pd->vm->bus, IOBUS_PIO, ACPI_PM1A_EVT_PORT + off, size, is_write,
			   val) < 0 &&
	    !is_write)
		*val = ~0ULL;
	return 0;
}

static void move_alias(struct piix4_pm *s)
{
	uint16_t base = programmed_base(s->pd);
	if (base == s->alias)
		return;
	struct iobus *bus = &s->pd->vm->bus;
	if (s->alias)
		iobus_unregister(bus, IOBUS_PIO, s->alias);
	s->alias = 0;
	if (!base)
		return;
	int rc = iobus_register(bus, IOBUS_PIO, base, PM_ALIAS_LEN, pm_alias_io, s, "piix4-pm");
	if (rc)
		kb_guest_log(&s->log,
			     "piix4-pm: the guest put the PM block at %#x, where another device "
			     "decodes; it stays at %#x only",
			     base, ACPI_PM1A_EVT_PORT);
	else
		s->alias = base;
}

static int piix4_pm_cfgwrite(struct pci_dev *pd, unsigned off, unsigned size, uint32_t val)
{
	unsigned end = off + size;
	if (!(off < PIIX4_PMBA + 4 && end > PIIX4_PMBA) &&
	    !(off <= PIIX4_PMREGMISC && end > PIIX4_PMREGMISC))
		return 0;
	for (unsigned o = off; o < end; o++) {
		uint8_t b = (uint8_t)(val >> (8 * (o - off)));
		if (o == PIIX4_PMBA)
			pd->cfg[o] = (b & (PIIX4_PMBA_MASK & 0xff)) | 1; /* bit 0: I/O space */
		else if (o == PIIX4_PMBA + 1)
			pd->cfg[o] = b;
		else if (o == PIIX4_PMREGMISC)
			pd->cfg[o] = b & 1; /* PMIOSE */
	}
	move_alias(pd->priv);
	return 1;
}

static void piix4_pm_free(void *opaque)
{
	free(opaque);
}

static int piix4_pm_init(struct vm *vm, struct pci_dev *pd, struct cfgnode *devnode)
{
	if (pd->bus != 0 || pd->slot != 1 || pd->func != 3) {
		kb_log("piix4-pm: the firmware looks for it at 0:1.3 only, not %d:%d.%d", pd->bus,
		       pd->slot, pd->func);
		return -EINVAL;
	}
	struct piix4_pm *s = calloc(1, sizeof(*s));
	if (!s || vm_at_destroy(vm, piix4_pm_free, s)) {
		free(s);
		return -ENOMEM;
	}
	s->pd = pd;
	pd->priv = s;
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
