/* SPDX-License-Identifier: BSD-2-Clause */
/* PCI bus 0..255 with configuration mechanism #1 (0xCF8/0xCFC) and the emulation registry. */
#ifndef KB_PCI_H
#define KB_PCI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config/config.h"
#include "core/devset.h"

struct vm;
struct pci_dev;
struct aml;
struct snapshot_ops;

#define PCI_MAX_BUS 256
#define PCI_MAX_SLOT 32
#define PCI_MAX_FUNC 8
#define PCI_CFG_SIZE 256
#define PCI_BARS 6

/* Standard config-space offsets */
#define PCIR_VENDOR 0x00
#define PCIR_DEVICE 0x02
#define PCIR_COMMAND 0x04
#define PCIR_STATUS 0x06
#define PCIR_REVID 0x08
#define PCIR_PROGIF 0x09
#define PCIR_SUBCLASS 0x0a
#define PCIR_CLASS 0x0b
#define PCIR_HDRTYPE 0x0e
#define PCIR_BAR0 0x10
#define PCIR_SUBVEND 0x2c
#define PCIR_SUBDEV 0x2e
#define PCIR_CAP_PTR 0x34
#define PCIR_INTLINE 0x3c
#define PCIR_INTPIN 0x3d

enum pci_bar_type { PCI_BAR_NONE = 0, PCI_BAR_IO, PCI_BAR_MEM32, PCI_BAR_MEM64 };

/* A device emulation, selected by name with -s slot,NAME[,conf]. */
struct pci_devemu {
	const char *name;
	/* Turn the -s "conf" string into keys under the device node (pci.B.S.F.*).
	 * NULL: the generic parser (comma list of key=value, bare key means key=true). */
	int (*legacy_config)(struct cfgnode *devnode, const char *opts);
	/* Create the device: fill config space, allocate BARs, open backends. 0 or -errno. */
	int (*init)(struct vm *vm, struct pci_dev *pd, struct cfgnode *devnode);
	/* Optional config-space hooks; return 1 when handled, 0 to use the default. */
	int (*cfgwrite)(struct pci_dev *pd, unsigned off, unsigned size, uint32_t val);
	int (*cfgread)(struct pci_dev *pd, unsigned off, unsigned size, uint32_t *val);
	/* BAR access (offset inside the BAR). */
	int (*barread)(struct pci_dev *pd, int bar, uint64_t off, unsigned size, uint64_t *val);
	int (*barwrite)(struct pci_dev *pd, int bar, uint64_t off, unsigned size, uint64_t val);
	/* Optional: BAR `bar` started (mapped) or stopped decoding at pd->bar[bar].addr, so the
	 * device can move kernel-side handlers (ioeventfds) with it. */
	void (*bar_mapped)(struct pci_dev *pd, int bar, bool mapped);
	/* Optional: the function's own ACPI description, written inside Device (\_SB.PCI0) of
	 * the DSDT (e.g. a Device with its _ADR and child nodes). */
	void (*write_dsdt)(struct pci_dev *pd, struct aml *a);
	/* A chipset function the firmware reaches at a fixed address (piix4-pm at 0:1.3): it may
	 * sit in a slot that has no function 0. */
	bool chipset_function;
	/* Checkpoint and restore of the model's own state (snapshot/snapstate.h; opaque is the
	 * struct pci_dev). The bus saves configuration space, BARs, INTx and MSI/MSI-X itself and
	 * calls these after; NULL: the emulation cannot be saved and a checkpoint is refused. */
	const struct snapshot_ops *snapshot;
};
#define PCI_EMUL(sym) DEVSET_ENTRY(pci_devemus, sym)

struct pci_bar {
	enum pci_bar_type type;
	uint64_t addr, size;
	bool registered; /* currently decoded on the I/O bus */
	bool prefetchable; /* memory without read side effects (type bit 3) */
	struct pci_dev *pd;
	int idx;
};

struct pci_dev {
	const struct pci_devemu *emu;
	struct vm *vm;
	uint8_t bus, slot, func;
	uint8_t cfg[PCI_CFG_SIZE];
	struct pci_bar bar[PCI_BARS];
	uint8_t intpin; /* 1..4 (INTA..INTD) or 0 */
	unsigned gsi;   /* IOAPIC input for INTx */
	/* INTx state, under the bus's INTx lock: the function asserts INTx (status bit 3), the
	 * driver disabled INTx (command bit 10), and whether this function counts on the line */
	bool intx_pending, intx_disabled, intx_driving;
	/* MSI or MSI-X is enabled: the function does not drive INTx (under the INTx lock) */
	bool msi_active;
	struct pci_msi_state *msi; /* the bus's MSI/MSI-X service (pci_msi.c), or NULL */
	unsigned cap_end;          /* first free config offset after the capabilities (0: none) */
	void *priv;     /* the device model's state */
};

const struct pci_devemu *pci_emul_find(const char *name);
/* Print the names of all emulations (for -s help). */
void pci_emul_print_all(FILE *out);

/* Config-space accessors for device models */
static inline void pci_set_cfg8(struct pci_dev *pd, unsigned off, uint8_t v) { pd->cfg[off] = v; }
static inline void pci_set_cfg16(struct pci_dev *pd, unsigned off, uint16_t v)
{
	pd->cfg[off] = v & 0xff;
	pd->cfg[off + 1] = v >> 8;
}
static inline void pci_set_cfg32(struct pci_dev *pd, unsigned off, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		pd->cfg[off + i] = (v >> (8 * i)) & 0xff;
}
static inline uint32_t pci_get_cfg(const struct pci_dev *pd, unsigned off, unsigned size)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < size; i++)
		v |= (uint32_t)pd->cfg[off + i] << (8 * i);
	return v;
}

/* Reserve a BAR of `size` bytes (power of two) in the right window. 0 or -errno. */
int pci_alloc_bar(struct pci_dev *pd, int idx, enum pci_bar_type type, uint64_t size);
/* The same with flags: PCI_BAR_PREFETCHABLE marks a memory BAR prefetchable (a framebuffer). */
#define PCI_BAR_PREFETCHABLE 1u
int pci_alloc_bar_flags(struct pci_dev *pd, int idx, enum pci_bar_type type, uint64_t size,
			unsigned flags);
/* Request an INTx pin (1 = INTA); the bus assigns a GSI and fills INTLINE/INTPIN. */
int pci_alloc_intx(struct pci_dev *pd, int pin);
/* The function's INTx request on or off (idempotent). The line follows unless the driver set
 * INTx Disable in the command register; the request shows in status bit 3 either way. */
void pci_intx_assert(struct pci_dev *pd);
void pci_intx_deassert(struct pci_dev *pd);
/* MSI or MSI-X was enabled or disabled (pci_msi.c): INTx is masked while either is on. */
void pci_intx_msi_active(struct pci_dev *pd, bool on);
/* Bus Master Enable: a device may read or write guest memory on its own only while it is set. */
bool pci_bus_master(const struct pci_dev *pd);
/* Whether some function drives the INTx line of `gsi` now (tests and diagnostics). */
bool pci_intx_level(struct vm *vm, unsigned gsi);

/* Static INTx routing shared with the ACPI _PRT and MP table: slot, pin (0 = INTA) -> GSI 16..23. */
unsigned pci_intx_gsi(unsigned slot, unsigned pin);

/* BAR windows: I/O ports, 32-bit MMIO below the IOAPIC, 64-bit MMIO above RAM. */
#define PCI_IO_BASE 0x2000
#define PCI_IO_LIMIT 0x10000
#define PCI_MEM32_BASE 0xC0000000ULL
#define PCI_MEM32_LIMIT 0xE0000000ULL
#define PCI_MEM64_SIZE (32ULL << 30)
uint64_t pci_mem64_base(const struct vm *vm);

/* The DSDT nodes of every function that has write_dsdt, in bus/slot/function order
 * (acpi_platform's pci_dsdt callback; opaque is the struct vm). */
void pci_write_dsdt(struct aml *a, void *vm);

/* For an emulation whose whole state is its configuration space (host bridge, LPC bridge):
 * a snapshot hook with nothing of its own to save. */
extern const struct snapshot_ops pci_no_state_snapshot;

/* Whole-bus lifecycle, called by the VM: create every pci.B.S.F node's device. */
int pci_init_all(struct vm *vm);
void pci_fini_all(struct vm *vm);
/* The device at B:S:F or NULL (tests, bhyvectl). */
struct pci_dev *pci_find_dev(struct vm *vm, int bus, int slot, int func);

#endif
