/* SPDX-License-Identifier: BSD-2-Clause */
/* ACPI tables for a direct-kernel-boot guest: RSDP, RSDT, XSDT, FADT, FACS, MADT and DSDT,
 * laid out in one buffer that the guest sees at a given physical address (ACPI 6.3). */
#include "acpi/acpi.h"
#include "core/byteorder.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "acpi/aml.h"

#define LAPIC_ADDR 0xFEE00000u

#define OEM_TABLE_ID "KBHYVE  "
#define OEM_REVISION 1
#define CREATOR_ID "KBHV"
#define CREATOR_REVISION 1

/* Standard description header (5.2.6) */
#define HDR_LEN 36
#define HDR_CHECKSUM 9

#define RSDP_LEN 36
#define RSDP_V1_LEN 20
#define FACS_LEN 64

/* Tables listed in the RSDT/XSDT: FADT and MADT. */
#define NUM_SDT 2

/* FADT (5.2.9), revision 6 (ACPI 6.x), byte offsets. */
enum {
	FADT_REVISION = 6,
	FADT_MINOR_REVISION = 3,
	FADT_LEN = 276,
	FADT_FIRMWARE_CTRL = 36,
	FADT_DSDT = 40,
	FADT_PM_PROFILE = 45,
	FADT_SCI_INT = 46,
	FADT_SMI_CMD = 48,
	FADT_PM1A_EVT_BLK = 56,
	FADT_PM1A_CNT_BLK = 64,
	FADT_PM_TMR_BLK = 76,
	FADT_GPE0_BLK = 80,
	FADT_PM1_EVT_LEN = 88,
	FADT_PM1_CNT_LEN = 89,
	FADT_PM_TMR_LEN = 91,
	FADT_GPE0_BLK_LEN = 92,
	FADT_P_LVL2_LAT = 96,
	FADT_P_LVL3_LAT = 98,
	FADT_CENTURY = 108,
	FADT_IAPC_BOOT_ARCH = 109,
	FADT_FLAGS = 112,
	FADT_RESET_REG = 116,
	FADT_RESET_VALUE = 128,
	FADT_MINOR_VERSION = 131,
	FADT_X_DSDT = 140,
	FADT_X_PM1A_EVT_BLK = 148,
	FADT_X_PM1A_CNT_BLK = 172,
	FADT_X_PM_TMR_BLK = 208,
	FADT_X_GPE0_BLK = 220,
};

/* FADT Flags */
#define FADT_F_WBINVD (1u << 0)
#define FADT_F_PROC_C1 (1u << 2)
#define FADT_F_PWR_BUTTON (1u << 4) /* set = control-method power button or none */
#define FADT_F_SLP_BUTTON (1u << 5) /* set = control-method sleep button or none */
#define FADT_F_FIX_RTC (1u << 6)    /* set = no RTC wake status in the PM1 registers */
#define FADT_F_RESET_REG_SUP (1u << 10)

/* IAPC_BOOT_ARCH */
#define BOOT_ARCH_LEGACY_DEVICES (1u << 0)
#define BOOT_ARCH_8042 (1u << 1)
#define BOOT_ARCH_VGA_NOT_PRESENT (1u << 2)

/* Register lengths of the PM blocks in acpi.h, in bytes. */
#define PM1_EVT_LEN 4
#define PM1_CNT_LEN 2
#define PM_TMR_LEN 4
#define GPE0_BLK_LEN 4

/* Generic Address Structure (5.2.3.2) */
enum {
	GAS_LEN = 12,
	GAS_SYSTEM_IO = 1,
	GAS_ACCESS_BYTE = 1,
	GAS_ACCESS_WORD = 2,
	GAS_ACCESS_DWORD = 3,
};

/* MADT (5.2.12), revision 5 (ACPI 6.3) */
enum {
	MADT_REVISION = 5,
	MADT_HDR_LEN = 44,
	MADT_PCAT_COMPAT = 1,
	MADT_LAPIC = 0,
	MADT_LAPIC_LEN = 8,
	MADT_IOAPIC = 1,
	MADT_IOAPIC_LEN = 12,
	MADT_ISO = 2,
	MADT_ISO_LEN = 10,
	MADT_LAPIC_NMI = 4,
	MADT_LAPIC_NMI_LEN = 6,
	MADT_X2APIC = 9,
	MADT_X2APIC_LEN = 16,
	MADT_X2APIC_NMI = 10,
	MADT_X2APIC_NMI_LEN = 12,
	MADT_LAPIC_ENABLED = 1,
};

/* MPS INTI flags: polarity in bits 1:0, trigger mode in bits 3:2. */
#define INTI_CONFORMS 0x0
#define INTI_ACTIVE_HIGH 0x1
#define INTI_EDGE (0x1 << 2)
#define INTI_LEVEL (0x3 << 2)

#define PCI_SLOTS 32
#define PCI_PINS 4

uint8_t acpi_checksum(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + p[i]);
	return (uint8_t)-sum;
}

/* Space-padded copy of a string into a fixed-width field. */
static void put_padded(uint8_t *dst, const char *s, size_t width)
{
	size_t n = strnlen(s, width);

	memcpy(dst, s, n);
	memset(dst + n, ' ', width - n);
}

/* Bump allocator over the output buffer; offsets are aligned by guest address. */
struct layout {
	uint8_t *buf;
	size_t len;
	size_t off;
	uint64_t gpa;
};

/* Reserve `n` zeroed bytes whose guest address is a multiple of `align` (a power of two).
 * Returns the offset, or -1 when the buffer is too small. */
static long take(struct layout *l, size_t n, uint64_t align)
{
	uint64_t pad = (align - ((l->gpa + l->off) & (align - 1))) & (align - 1);
	size_t at;

	if (pad > l->len - l->off || n > l->len - l->off - pad)
		return -1;
	at = l->off + (size_t)pad;
	memset(l->buf + l->off, 0, (size_t)pad + n);
	l->off = at + n;
	return (long)at;
}

static void put_header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev, const char *oem_id)
{
	memcpy(t, sig, 4);
	put_le32(t + 4, len);
	t[8] = rev;
	t[HDR_CHECKSUM] = 0;
	put_padded(t + 10, oem_id, 6);
	memcpy(t + 16, OEM_TABLE_ID, 8);
	put_le32(t + 24, OEM_REVISION);
	memcpy(t + 28, CREATOR_ID, 4);
	put_le32(t + 32, CREATOR_REVISION);
}

static void seal(uint8_t *t)
{
	uint32_t len =
	    (uint32_t)t[4] | (uint32_t)t[5] << 8 | (uint32_t)t[6] << 16 | (uint32_t)t[7] << 24;

	t[HDR_CHECKSUM] = 0;
	t[HDR_CHECKSUM] = acpi_checksum(t, len);
}

static void put_gas_io(uint8_t *g, unsigned bytes, uint8_t access, uint16_t port)
{
	g[0] = GAS_SYSTEM_IO;
	g[1] = (uint8_t)(bytes * 8); /* register bit width */
	g[2] = 0;		     /* bit offset */
	g[3] = access;
	put_le64(g + 4, port);
}

static void build_fadt(uint8_t *t, const char *oem_id, uint64_t facs, uint64_t dsdt)
{
	put_header(t, "FACP", FADT_LEN, FADT_REVISION, oem_id);
	put_le32(t + FADT_FIRMWARE_CTRL, (uint32_t)facs); /* below 4 GiB: X_FIRMWARE_CTRL stays 0 */
	put_le32(t + FADT_DSDT, (uint32_t)dsdt);
	t[FADT_PM_PROFILE] = 0; /* unspecified */
	put_le16(t + FADT_SCI_INT, ACPI_SCI_IRQ);
	/* SMI_CMD 0: no SMM, ACPI mode is always on (ACPI_ENABLE/ACPI_DISABLE stay 0). */
	put_le32(t + FADT_SMI_CMD, ACPI_SMI_CMD_PORT);
	put_le32(t + FADT_PM1A_EVT_BLK, ACPI_PM1A_EVT_PORT);
	put_le32(t + FADT_PM1A_CNT_BLK, ACPI_PM1A_CNT_PORT);
	put_le32(t + FADT_PM_TMR_BLK, ACPI_PM_TMR_PORT);
	put_le32(t + FADT_GPE0_BLK, ACPI_GPE0_PORT);
	t[FADT_PM1_EVT_LEN] = PM1_EVT_LEN;
	t[FADT_PM1_CNT_LEN] = PM1_CNT_LEN;
	t[FADT_PM_TMR_LEN] = PM_TMR_LEN;
	t[FADT_GPE0_BLK_LEN] = GPE0_BLK_LEN;
	/* Latencies above 100 / 1000 us mean C2 and C3 are not supported. */
	put_le16(t + FADT_P_LVL2_LAT, 101);
	put_le16(t + FADT_P_LVL3_LAT, 1001);
	t[FADT_CENTURY] = 0x32; /* MC146818 CMOS index of the century byte */
	/* ISA devices (COM ports, RTC) exist; no VGA. The 8042 flag stays clear: Linux then finds
	 * the controller through the PNP0303/PNP0F13 nodes the LPC bridge writes (i8042.c), and
	 * does not probe for one on a machine without the bridge (its reboot code writes port 0x64
	 * without asking ACPI). */
	put_le16(t + FADT_IAPC_BOOT_ARCH, BOOT_ARCH_LEGACY_DEVICES | BOOT_ARCH_VGA_NOT_PRESENT);
	/* PWR_BUTTON clear: the power button is the fixed-feature one (PM1 PWRBTN_STS/EN).
	 * No sleep button, no RTC wake in PM1, reset through RESET_REG. */
	put_le32(t + FADT_FLAGS, FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON | FADT_F_FIX_RTC |
				  FADT_F_RESET_REG_SUP);
	put_gas_io(t + FADT_RESET_REG, 1, GAS_ACCESS_BYTE, ACPI_RESET_PORT);
	t[FADT_RESET_VALUE] = ACPI_RESET_VALUE;
	t[FADT_MINOR_VERSION] = FADT_MINOR_REVISION;
	put_le64(t + FADT_X_DSDT, dsdt);
	/* PM1 status and enable are 16-bit halves of the event block. */
	put_gas_io(t + FADT_X_PM1A_EVT_BLK, PM1_EVT_LEN, GAS_ACCESS_WORD, ACPI_PM1A_EVT_PORT);
	put_gas_io(t + FADT_X_PM1A_CNT_BLK, PM1_CNT_LEN, GAS_ACCESS_WORD, ACPI_PM1A_CNT_PORT);
	put_gas_io(t + FADT_X_PM_TMR_BLK, PM_TMR_LEN, GAS_ACCESS_DWORD, ACPI_PM_TMR_PORT);
	/* GPE registers are accessed a byte at a time. */
	put_gas_io(t + FADT_X_GPE0_BLK, GPE0_BLK_LEN, GAS_ACCESS_BYTE, ACPI_GPE0_PORT);
	seal(t);
}

static void build_facs(uint8_t *t)
{
	memcpy(t, "FACS", 4);
	put_le32(t + 4, FACS_LEN);
	t[32] = 2; /* version; no waking vector, no global lock, no checksum */
}

/* Processors whose APIC ID or UID does not fit a byte need x2APIC entries. */
static bool needs_x2apic(uint32_t apic_id, int uid)
{
	return apic_id >= 0xFF || uid >= 0xFF;
}

static size_t madt_len(const struct acpi_platform *p)
{
	size_t len = MADT_HDR_LEN + MADT_IOAPIC_LEN + 2 * MADT_ISO_LEN + MADT_LAPIC_NMI_LEN;
	bool x2 = false;

	for (int i = 0; i < p->ncpus; i++) {
		if (needs_x2apic(p->apic_ids[i], i)) {
			len += MADT_X2APIC_LEN;
			x2 = true;
		} else {
			len += MADT_LAPIC_LEN;
		}
	}
	if (x2)
		len += MADT_X2APIC_NMI_LEN;
	return len;
}

static uint8_t *madt_iso(uint8_t *e, uint8_t irq, uint32_t gsi, uint16_t flags)
{
	e[0] = MADT_ISO;
	e[1] = MADT_ISO_LEN;
	e[2] = 0; /* bus: ISA */
	e[3] = irq;
	put_le32(e + 4, gsi);
	put_le16(e + 8, flags);
	return e + MADT_ISO_LEN;
}

static void build_madt(uint8_t *t, size_t len, const struct acpi_platform *p)
{
	uint8_t *e = t + MADT_HDR_LEN;
	bool x2 = false;

	put_header(t, "APIC", (uint32_t)len, MADT_REVISION, p->oem_id);
	put_le32(t + 36, LAPIC_ADDR);
	put_le32(t + 40, MADT_PCAT_COMPAT);

	/* One entry per vCPU; the ACPI processor UID is the vCPU index. */
	for (int i = 0; i < p->ncpus; i++) {
		if (needs_x2apic(p->apic_ids[i], i)) {
			e[0] = MADT_X2APIC;
			e[1] = MADT_X2APIC_LEN;
			put_le32(e + 4, p->apic_ids[i]);
			put_le32(e + 8, MADT_LAPIC_ENABLED);
			put_le32(e + 12, (uint32_t)i);
			e += MADT_X2APIC_LEN;
			x2 = true;
		} else {
			e[0] = MADT_LAPIC;
			e[1] = MADT_LAPIC_LEN;
			e[2] = (uint8_t)i;
			e[3] = (uint8_t)p->apic_ids[i];
			put_le32(e + 4, MADT_LAPIC_ENABLED);
			e += MADT_LAPIC_LEN;
		}
	}

	e[0] = MADT_IOAPIC;
	e[1] = MADT_IOAPIC_LEN;
	e[2] = p->ioapic_id;
	put_le32(e + 4, p->ioapic_addr);
	put_le32(e + 8, 0); /* GSI base */
	e += MADT_IOAPIC_LEN;

	/* The PIT's IRQ 0 is wired to IOAPIC input 2; the SCI is level, active high. */
	e = madt_iso(e, 0, 2, INTI_CONFORMS);
	e = madt_iso(e, ACPI_SCI_IRQ, ACPI_SCI_IRQ, INTI_ACTIVE_HIGH | INTI_LEVEL);

	/* NMI on LINT1 of every processor. */
	e[0] = MADT_LAPIC_NMI;
	e[1] = MADT_LAPIC_NMI_LEN;
	e[2] = 0xFF; /* all processors */
	put_le16(e + 3, INTI_ACTIVE_HIGH | INTI_EDGE);
	e[5] = 1; /* LINT1 */
	e += MADT_LAPIC_NMI_LEN;
	if (x2) {
		e[0] = MADT_X2APIC_NMI;
		e[1] = MADT_X2APIC_NMI_LEN;
		put_le16(e + 2, INTI_ACTIVE_HIGH | INTI_EDGE);
		put_le32(e + 4, 0xFFFFFFFF); /* all processors */
		e[8] = 1;		  /* LINT1 */
	}
	seal(t);
}

/* Root bridge resources: every bus, all I/O ports except the 0xCF8-0xCFF configuration
 * ports up to the end of the I/O window, and the memory windows. */
static void pci_crs(struct aml *a, const struct acpi_platform *p)
{
	size_t buf = aml_buffer_begin(a);
	uint32_t io_end = 0xFFFF;

	if (p->pci_io.size)
		io_end = (uint32_t)(p->pci_io.base + p->pci_io.size - 1);
	aml_rs_word_bus(a, 0, 255);
	aml_rs_word_io(a, 0x0000, 0x0CF7);
	if (io_end >= 0x0D00)
		aml_rs_word_io(a, 0x0D00, (uint16_t)io_end);
	if (p->pci_mem32.size)
		aml_rs_dword_memory(a, AML_MEM_NONCACHEABLE, (uint32_t)p->pci_mem32.base,
				    (uint32_t)(p->pci_mem32.base + p->pci_mem32.size - 1));
	if (p->pci_mem64.size)
		aml_rs_qword_memory(a, AML_MEM_NONCACHEABLE, p->pci_mem64.base,
				    p->pci_mem64.base + p->pci_mem64.size - 1);
	aml_rs_end_tag(a);
	aml_buffer_end(a, buf);
}

/* Static INTx routing: Package { Address (slot << 16 | 0xFFFF), Pin, Source 0, GSI }. */
static void pci_prt(struct aml *a, const struct acpi_platform *p)
{
	size_t prt = aml_package_begin(a, PCI_SLOTS * PCI_PINS);

	for (unsigned slot = 0; slot < PCI_SLOTS; slot++) {
		for (unsigned pin = 0; pin < PCI_PINS; pin++) {
			size_t e = aml_package_begin(a, 4);

			aml_integer(a, (uint64_t)slot << 16 | 0xFFFF);
			aml_integer(a, pin);
			aml_integer(a, 0);
			aml_integer(a, p->intx_gsi(slot, pin));
			aml_end(a, e);
		}
	}
	aml_end(a, prt);
}

static void dsdt_body(struct aml *a, const struct acpi_platform *p)
{
	size_t s5, sb, pci0;

	/* \_S5: SLP_TYPa, SLP_TYPb, reserved, reserved */
	aml_name(a, "_S5");
	s5 = aml_package_begin(a, 4);
	aml_integer(a, ACPI_S5_SLP_TYP);
	aml_integer(a, ACPI_S5_SLP_TYP);
	aml_integer(a, 0);
	aml_integer(a, 0);
	aml_end(a, s5);

	/* No _CID PNP0A08: configuration goes through 0xCF8/0xCFC only, there is no ECAM.
	 * No _ADR either: a device has a _HID or an _ADR, not both (ACPI 6.3, 6.1). */
	sb = aml_scope_begin(a, "\\_SB");
	pci0 = aml_device_begin(a, "PCI0");
	aml_name_eisaid(a, "_HID", "PNP0A03");
	aml_name_integer(a, "_UID", 0);
	aml_name_integer(a, "_BBN", 0);
	aml_name(a, "_CRS");
	pci_crs(a, p);
	aml_name(a, "_PRT");
	pci_prt(a, p);
	if (p->pci_dsdt)
		p->pci_dsdt(a, p->pci_dsdt_opaque);
	aml_end(a, pci0);
	if (p->fw_cfg) {
		/* Linux's qemu_fw_cfg driver (and /sys/firmware/qemu_fw_cfg) finds it here: the
		 * selector, data and DMA registers, 12 ports */
		size_t fw = aml_device_begin(a, "FWCF");
		aml_name(a, "_HID");
		aml_string(a, "QEMU0002");
		aml_name_integer(a, "_STA", 0x0B); /* present, enabled, not shown in the UI */
		aml_name(a, "_CRS");
		size_t crs = aml_buffer_begin(a);
		aml_rs_io(a, 0x510, 0x510, 1, 12);
		aml_rs_end_tag(a);
		aml_buffer_end(a, crs);
		aml_end(a, fw);
	}
	aml_end(a, sb);
}

/* Window [base, base + size) must not wrap and must end at or below `limit`. */
static bool window_ok(const struct acpi_pci_window *w, uint64_t limit)
{
	if (!w->size)
		return true;
	return w->base + w->size - 1 >= w->base && w->base + w->size - 1 <= limit;
}

static bool platform_ok(const struct acpi_platform *p)
{
	uint64_t io_end;

	if (!p || p->ncpus < 1 || !p->apic_ids || !p->intx_gsi || !p->oem_id)
		return false;
	if (!window_ok(&p->pci_io, 0xFFFF) || !window_ok(&p->pci_mem32, 0xFFFFFFFF) ||
	    !window_ok(&p->pci_mem64, UINT64_MAX))
		return false;
	/* The I/O window may not cover the configuration ports 0xCF8-0xCFF. */
	io_end = p->pci_io.base + p->pci_io.size - 1;
	if (p->pci_io.size && p->pci_io.base <= 0xCFF && io_end >= 0xCF8)
		return false;
	return true;
}

long acpi_build(const struct acpi_platform *p, uint8_t *buf, uint64_t gpa, size_t len,
		uint64_t *rsdp_gpa)
{
	struct layout l = {.buf = buf, .len = buf ? len : 0, .off = 0, .gpa = gpa};
	long rsdp, rsdt, xsdt, fadt, facs, madt, dsdt;
	size_t mlen, dlen;
	struct aml a;

	if (!platform_ok(p) || !rsdp_gpa)
		return -EINVAL;

	rsdp = take(&l, RSDP_LEN, 16); /* the legacy scan looks at 16-byte boundaries */
	rsdt = take(&l, HDR_LEN + 4 * NUM_SDT, 8);
	xsdt = take(&l, HDR_LEN + 8 * NUM_SDT, 8);
	fadt = take(&l, FADT_LEN, 8);
	facs = take(&l, FACS_LEN, 64);
	mlen = madt_len(p);
	madt = take(&l, mlen, 8);
	dsdt = take(&l, HDR_LEN, 8);
	if (rsdp < 0 || rsdt < 0 || xsdt < 0 || fadt < 0 || facs < 0 || madt < 0 || dsdt < 0)
		return -ENOSPC;

	/* The DSDT body is AML of data-dependent size: write it straight after its header. */
	aml_init(&a, buf + l.off, l.len - l.off);
	dsdt_body(&a, p);
	if (a.err)
		return a.err;
	l.off += a.len;
	dlen = HDR_LEN + a.len;
	if (dlen > UINT32_MAX)
		return -ENOSPC;
	/* RSDT, FADT and the legacy MP pointers hold 32-bit addresses. */
	if (gpa + l.off < gpa || gpa + l.off > 0x100000000ull)
		return -EINVAL;

	put_header(buf + dsdt, "DSDT", (uint32_t)dlen, 2, p->oem_id); /* rev 2: 64-bit integers */
	seal(buf + dsdt);

	build_madt(buf + madt, mlen, p);
	build_facs(buf + facs);
	build_fadt(buf + fadt, p->oem_id, gpa + facs, gpa + dsdt);

	put_header(buf + rsdt, "RSDT", HDR_LEN + 4 * NUM_SDT, 1, p->oem_id);
	put_le32(buf + rsdt + HDR_LEN, (uint32_t)(gpa + fadt));
	put_le32(buf + rsdt + HDR_LEN + 4, (uint32_t)(gpa + madt));
	seal(buf + rsdt);

	put_header(buf + xsdt, "XSDT", HDR_LEN + 8 * NUM_SDT, 1, p->oem_id);
	put_le64(buf + xsdt + HDR_LEN, gpa + fadt);
	put_le64(buf + xsdt + HDR_LEN + 8, gpa + madt);
	seal(buf + xsdt);

	/* RSDP (5.2.5.3): the v1 checksum covers the first 20 bytes, the extended one all 36. */
	memcpy(buf + rsdp, "RSD PTR ", 8);
	put_padded(buf + rsdp + 9, p->oem_id, 6);
	buf[rsdp + 15] = 2; /* revision: ACPI 2.0+ */
	put_le32(buf + rsdp + 16, (uint32_t)(gpa + rsdt));
	put_le32(buf + rsdp + 20, RSDP_LEN);
	put_le64(buf + rsdp + 24, gpa + xsdt);
	buf[rsdp + 8] = acpi_checksum(buf + rsdp, RSDP_V1_LEN);
	buf[rsdp + 32] = acpi_checksum(buf + rsdp, RSDP_LEN);

	*rsdp_gpa = gpa + (uint64_t)rsdp;
	return (long)l.off;
}
