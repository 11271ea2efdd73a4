/* SPDX-License-Identifier: BSD-2-Clause */
/* Message-signalled interrupts (MSI and MSI-X) as a service of the PCI bus, for any device model.
 *
 * A model adds the capabilities at init; from then on the bus serves them: the capability
 * registers in configuration space (enable, function mask, multiple-message enable, MSI address,
 * data and per-vector mask bits), the MSI-X table and PBA inside one of the model's BARs (accesses
 * there never reach the model's barread/barwrite), and one irqfd bound to a KVM MSI route per
 * vector, created on first use. While MSI or MSI-X is enabled the function does not drive its
 * INTx line (PCI 3.0 6.8), whatever the model asserts.
 *
 * A model raises an interrupt with pci_msi_notify(pd, vector) when pci_msi_enabled(pd), else
 * with pci_intx_assert/deassert. A masked vector stays pending and is sent when unmasked.
 * Everything here is thread-safe (vCPU threads and the event loop). */
#ifndef KB_PCI_MSI_H
#define KB_PCI_MSI_H

#include <stdbool.h>
#include <stdint.h>

struct pci_dev;

/* Capability IDs */
#define PCI_CAP_MSI 0x05
#define PCI_CAP_MSIX 0x11

/* Append an MSI capability (64-bit address, per-vector masking) offering `nvec` vectors (a power
 * of two, 1..32). 0 or -errno (-EINVAL, -ENOSPC when config space is full, -EEXIST twice). */
int pci_msi_add(struct pci_dev *pd, unsigned nvec);

/* Append an MSI-X capability with `nvec` vectors (1..2048): the table at `table_off` and the PBA
 * at `pba_off` of BAR `bar`, which the model allocated before (memory BAR; both regions must fit
 * in it and not overlap). 0 or -errno. */
int pci_msix_add(struct pci_dev *pd, int bar, unsigned nvec, uint32_t table_off, uint32_t pba_off);

/* Append a vendor-neutral capability of `len` bytes (cap[0] is its ID; cap[1], the next pointer,
 * is filled in) to the function's capability list. Returns its config-space offset, or -ENOSPC. */
int pci_add_cap(struct pci_dev *pd, const uint8_t *cap, unsigned len);

/* Whether MSI or MSI-X is enabled now (then the model signals with pci_msi_notify). */
bool pci_msi_enabled(struct pci_dev *pd);
/* Vectors the model may use now: MSI-X table size, MSI's enabled count (1 << MME), 0 when
 * neither is enabled. */
unsigned pci_msi_nvectors(struct pci_dev *pd);
/* Send message `vector`. Masked (per vector, or MSI-X function mask): it becomes pending and
 * goes out when unmasked. Ignored when disabled or out of range. */
void pci_msi_notify(struct pci_dev *pd, unsigned vector);

/* ---- for the bus (pci.c) ---- */
/* A config write that touches an MSI/MSI-X capability: handled (1) or not (0). */
int pci_msi_cfgwrite(struct pci_dev *pd, unsigned off, unsigned size, uint32_t val);
/* A BAR access inside the MSI-X table or PBA: handled (1) or not (0). */
int pci_msix_bar_access(struct pci_dev *pd, int bar, uint64_t off, unsigned size, bool is_write,
			uint64_t *val);
struct snap;
/* Save or load the MSI-X table and pending bits (MSI lives in configuration space, which the bus
 * saves). Routes are made again on the next message after a load. */
void pci_msi_snapshot(struct snap *s, struct pci_dev *pd);
/* Remove every route and free the state (VM teardown). */
void pci_msi_free(struct pci_dev *pd);

#endif
