/* SPDX-License-Identifier: BSD-2-Clause */
/* ACPI tables (RSDP, XSDT, FADT, MADT, DSDT) and the MP table, built into guest memory. */
#ifndef KB_ACPI_H
#define KB_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Fixed platform resources the tables describe (the PM device and PCI bus use the same values). */
#define ACPI_PM1A_EVT_PORT 0x400 /* PM1a status/enable, 4 bytes */
#define ACPI_PM1A_CNT_PORT 0x404 /* PM1a control, 2 bytes */
#define ACPI_PM_TMR_PORT 0x408   /* 24-bit PM timer, 4 bytes */
#define ACPI_GPE0_PORT 0x40C     /* GPE0 status (2 bytes) + enable (2 bytes) */
#define ACPI_SMI_CMD_PORT 0      /* no SMM: ACPI is always enabled */
#define ACPI_SCI_IRQ 9
#define ACPI_RESET_PORT 0xCF9
#define ACPI_RESET_VALUE 0x06
#define ACPI_S5_SLP_TYP 5 /* SLP_TYP written with SLP_EN for S5 (soft off) */

/* Where the tables live: the BIOS area, reserved in the E820 map. */
#define ACPI_TABLES_ADDR 0xF2400
#define ACPI_TABLES_MAX 0xB000
#define MPTABLE_ADDR 0xF0000
#define MPTABLE_MAX 0x2000

struct aml;

struct acpi_pci_window {
	uint64_t base, size;
};

struct acpi_platform {
	int ncpus;
	const uint32_t *apic_ids; /* ncpus entries */
	uint32_t ioapic_addr;
	uint8_t ioapic_id;
	/* PCI root bus 0 resources for _CRS */
	struct acpi_pci_window pci_io;    /* I/O port window */
	struct acpi_pci_window pci_mem32; /* below 4 GiB */
	struct acpi_pci_window pci_mem64; /* above RAM, may be size 0 */
	/* INTx routing for _PRT / MP table: slot s pin p (0=INTA) -> GSI */
	unsigned (*intx_gsi)(unsigned slot, unsigned pin);
	const char *oem_id; /* 6 chars max, e.g. "BHYVE " */
	bool fw_cfg;	    /* QEMU's fw_cfg at 0x510-0x51B: a QEMU0002 device in the DSDT */
	/* Optional: writes the PCI functions' own nodes inside Device (\_SB.PCI0) (the LPC
	 * bridge's ISA devices, ...), called with pci_dsdt_opaque */
	void (*pci_dsdt)(struct aml *a, void *opaque);
	void *pci_dsdt_opaque;
};

/* Build the ACPI tables into `buf`, which the guest sees at `gpa`. Returns the number of
 * bytes used (> 0) and stores the RSDP address, or -ENOSPC when `len` is too small. */
long acpi_build(const struct acpi_platform *p, uint8_t *buf, uint64_t gpa, size_t len,
		uint64_t *rsdp_gpa);

/* Build an Intel MP table (floating pointer + config table) at `gpa`. Bytes used or -ENOSPC. */
long mptable_build(const struct acpi_platform *p, uint8_t *buf, uint64_t gpa, size_t len);

/* ACPI byte checksum: the value that makes the bytes sum to zero. */
uint8_t acpi_checksum(const void *buf, size_t len);

#endif
