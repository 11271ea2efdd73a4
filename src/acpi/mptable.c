/* SPDX-License-Identifier: BSD-2-Clause */
/* Intel MultiProcessor Specification 1.4 table: the floating pointer structure followed by
 * the base configuration table, for guests booted without ACPI (acpi=off, old kernels). */
#include "acpi/acpi.h"
#include "core/byteorder.h"

#include <errno.h>
#include <string.h>

#define LAPIC_ADDR 0xFEE00000u
#define LAPIC_VERSION 0x14  /* integrated local APIC */
#define IOAPIC_VERSION 0x11 /* 82093AA-compatible */

#define MP_SPEC_REV 4 /* 1.4 */
#define MPFP_LEN 16
#define MPC_HDR_LEN 44

/* Entry types and sizes (MP spec table 4-3) */
enum {
	MPE_PROCESSOR = 0,
	MPE_PROCESSOR_LEN = 20,
	MPE_BUS = 1,
	MPE_IOAPIC = 2,
	MPE_IOINT = 3,
	MPE_LOCALINT = 4,
	MPE_SHORT_LEN = 8, /* every type but the processor */
};

/* Interrupt types */
enum { MP_INT = 0, MP_NMI = 1, MP_EXTINT = 3 };

/* Interrupt flags: polarity in bits 1:0, trigger mode in bits 3:2 */
#define MP_CONFORMS 0x0
#define MP_ACTIVE_HIGH 0x1
#define MP_ACTIVE_LOW 0x3
#define MP_EDGE (0x1 << 2)
#define MP_LEVEL (0x3 << 2)

#define MP_CPU_ENABLED 0x01
#define MP_CPU_BSP 0x02
/* CPUID signature and feature flags for the processor entries: family 6, FPU and APIC. */
#define MP_CPU_SIGNATURE 0x00000600u
#define MP_CPU_FEATURES ((1u << 0) | (1u << 9))

#define BUS_PCI 0
#define BUS_ISA 1

#define ISA_IRQS 16
#define PCI_SLOTS 32
#define PCI_PINS 4

static void put_padded(uint8_t *dst, const char *s, size_t width)
{
	size_t n = strnlen(s, width);

	memcpy(dst, s, n);
	memset(dst + n, ' ', width - n);
}

static uint8_t *ioint(uint8_t *e, uint16_t flags, uint8_t bus, uint8_t bus_irq, uint8_t apic_id,
		      uint8_t pin)
{
	e[0] = MPE_IOINT;
	e[1] = MP_INT;
	put_le16(e + 2, flags);
	e[4] = bus;
	e[5] = bus_irq;
	e[6] = apic_id;
	e[7] = pin;
	return e + MPE_SHORT_LEN;
}

static uint8_t *localint(uint8_t *e, uint8_t type, uint16_t flags, uint8_t lint)
{
	e[0] = MPE_LOCALINT;
	e[1] = type;
	put_le16(e + 2, flags);
	e[4] = BUS_ISA;
	e[5] = 0;
	e[6] = 0xFF; /* every local APIC */
	e[7] = lint;
	return e + MPE_SHORT_LEN;
}

long mptable_build(const struct acpi_platform *p, uint8_t *buf, uint64_t gpa, size_t len)
{
	/* ISA IRQ 2 is the cascade: its IOAPIC input carries IRQ 0 instead. */
	const unsigned nisa = ISA_IRQS - 1;
	const unsigned npci = PCI_SLOTS * PCI_PINS;
	unsigned nentries;
	size_t base_len;
	uint8_t *mpc, *e;

	if (!p || p->ncpus < 1 || !p->apic_ids || !p->intx_gsi || !p->oem_id)
		return -EINVAL;
	/* The floating pointer sits on a 16-byte boundary; the table address is 32-bit. */
	if ((gpa & 15) || gpa + MPFP_LEN + MPC_HDR_LEN > 0x100000000ull)
		return -EINVAL;
	/* APIC IDs are one byte here (0xFF means "all"). */
	if (p->ncpus > 255 || p->ioapic_id == 0xFF)
		return -EINVAL;
	for (int i = 0; i < p->ncpus; i++)
		if (p->apic_ids[i] >= 0xFF)
			return -EINVAL;
	for (unsigned slot = 0; slot < PCI_SLOTS; slot++)
		for (unsigned pin = 0; pin < PCI_PINS; pin++)
			if (p->intx_gsi(slot, pin) > 0xFF)
				return -EINVAL;

	nentries = (unsigned)p->ncpus + 2 /* buses */ + 1 /* IOAPIC */ + nisa + npci + 2;
	base_len = MPC_HDR_LEN + MPE_PROCESSOR_LEN * (size_t)p->ncpus +
		   MPE_SHORT_LEN * (nentries - (unsigned)p->ncpus);
	if (!buf || len < MPFP_LEN || base_len > len - MPFP_LEN)
		return -ENOSPC;
	if (gpa + MPFP_LEN + base_len > 0x100000000ull)
		return -EINVAL;
	memset(buf, 0, MPFP_LEN + base_len);

	/* Floating pointer structure (4.1): one 16-byte paragraph, default config 0 (use the
	 * table), IMCRP clear (virtual wire mode, no IMCR). */
	memcpy(buf, "_MP_", 4);
	put_le32(buf + 4, (uint32_t)(gpa + MPFP_LEN));
	buf[8] = 1;
	buf[9] = MP_SPEC_REV;
	buf[10] = acpi_checksum(buf, MPFP_LEN);

	mpc = buf + MPFP_LEN;
	e = mpc + MPC_HDR_LEN;

	for (int i = 0; i < p->ncpus; i++) {
		e[0] = MPE_PROCESSOR;
		e[1] = (uint8_t)p->apic_ids[i];
		e[2] = LAPIC_VERSION;
		e[3] = MP_CPU_ENABLED | (i == 0 ? MP_CPU_BSP : 0);
		put_le32(e + 4, MP_CPU_SIGNATURE);
		put_le32(e + 8, MP_CPU_FEATURES);
		e += MPE_PROCESSOR_LEN;
	}

	e[0] = MPE_BUS;
	e[1] = BUS_PCI;
	memcpy(e + 2, "PCI   ", 6);
	e += MPE_SHORT_LEN;
	e[0] = MPE_BUS;
	e[1] = BUS_ISA;
	memcpy(e + 2, "ISA   ", 6);
	e += MPE_SHORT_LEN;

	e[0] = MPE_IOAPIC;
	e[1] = p->ioapic_id;
	e[2] = IOAPIC_VERSION;
	e[3] = 0x01; /* enabled */
	put_le32(e + 4, p->ioapic_addr);
	e += MPE_SHORT_LEN;

	/* ISA IRQs go to the IOAPIC input of the same number, except IRQ 0 (PIT) to input 2.
	 * The ACPI SCI is level-triggered, active high, as the MADT says. */
	for (unsigned irq = 0; irq < ISA_IRQS; irq++) {
		uint16_t flags = irq == ACPI_SCI_IRQ ? MP_ACTIVE_HIGH | MP_LEVEL : MP_CONFORMS;

		if (irq == 2)
			continue;
		e = ioint(e, flags, BUS_ISA, (uint8_t)irq, p->ioapic_id, (uint8_t)(irq ? irq : 2));
	}
	/* PCI: source IRQ is (device << 2) | pin, INTx# is level-triggered and active low. */
	for (unsigned slot = 0; slot < PCI_SLOTS; slot++)
		for (unsigned pin = 0; pin < PCI_PINS; pin++)
			e = ioint(e, MP_ACTIVE_LOW | MP_LEVEL, BUS_PCI, (uint8_t)(slot << 2 | pin),
				  p->ioapic_id, (uint8_t)p->intx_gsi(slot, pin));

	e = localint(e, MP_EXTINT, MP_CONFORMS, 0);
	localint(e, MP_NMI, MP_ACTIVE_HIGH | MP_EDGE, 1);

	/* Configuration table header (4.2) */
	memcpy(mpc, "PCMP", 4);
	put_le16(mpc + 4, (uint16_t)base_len);
	mpc[6] = MP_SPEC_REV;
	put_padded(mpc + 8, p->oem_id, 8);
	put_padded(mpc + 16, "KBHYVE", 12);
	put_le16(mpc + 34, (uint16_t)nentries);
	put_le32(mpc + 36, LAPIC_ADDR);
	mpc[7] = acpi_checksum(mpc, base_len);

	return (long)(MPFP_LEN + base_len);
}
