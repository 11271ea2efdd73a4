/* SPDX-License-Identifier: BSD-2-Clause */
/* ACPI tables and MP table: structure, pointers, checksums and contents, decoded here with
 * offsets taken from the ACPI 6.3 and MP 1.4 specifications; iasl cross-checks the lot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "acpi/acpi.h"
#include "config/config.h"
#include "core/vm.h"
#include "pci/pci.h"

#define GPA ACPI_TABLES_ADDR
#define HDR 36

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

/* bhyve-style swizzle onto IOAPIC inputs 16-23. */
static unsigned swizzle_gsi(unsigned slot, unsigned pin)
{
	return 16 + ((slot + pin) & 7);
}

/* A different routing, to tell entries apart. */
static unsigned unique_gsi(unsigned slot, unsigned pin)
{
	return (slot * 4 + pin) % 200 + 20;
}

static const uint32_t ids1[] = {0};
static const uint32_t ids2[] = {0, 1};
static const uint32_t ids8[] = {0, 2, 4, 6, 9, 17, 32, 254};

static struct acpi_platform platform(int ncpus, const uint32_t *ids)
{
	struct acpi_platform p = {
	    .ncpus = ncpus,
	    .apic_ids = ids,
	    .ioapic_addr = 0xFEC00000,
	    .ioapic_id = 0,
	    .pci_io = {0x2000, 0xE000},
	    .pci_mem32 = {0xC0000000, 0x20000000},
	    .pci_mem64 = {0x4000000000ull, 0x1000000000ull},
	    .intx_gsi = swizzle_gsi,
	    .oem_id = "BHYVE ",
	};
	return p;
}

/* Built tables plus the guest view of them. */
struct tables {
	uint8_t buf[ACPI_TABLES_MAX];
	uint64_t gpa;
	long used;
	uint64_t rsdp;
};

static struct tables tb;

static void build(const struct acpi_platform *p, uint64_t gpa)
{
	memset(tb.buf, 0xA5, sizeof(tb.buf));
	tb.gpa = gpa;
	tb.rsdp = 0;
	tb.used = acpi_build(p, tb.buf, gpa, sizeof(tb.buf), &tb.rsdp);
	assert_true(tb.used > 0);
	assert_true((size_t)tb.used <= sizeof(tb.buf));
}

/* Host pointer to `n` bytes at guest address `addr`, which must lie in the used area. */
static uint8_t *at(uint64_t addr, size_t n)
{
	assert_true(addr >= tb.gpa);
	assert_true(addr - tb.gpa + n <= (uint64_t)tb.used);
	return tb.buf + (addr - tb.gpa);
}

/* A checked table: in bounds, signature, checksum, standard OEM fields. */
static uint8_t *table(uint64_t addr, const char *sig)
{
	uint8_t *t = at(addr, HDR);
	uint32_t len = rd32(t + 4);

	assert_memory_equal(t, sig, 4);
	assert_true(len >= HDR);
	t = at(addr, len);
	assert_int_equal(sum(t, len), 0);
	assert_memory_equal(t + 10, "BHYVE ", 6);
	assert_memory_equal(t + 16, "KBHYVE  ", 8);
	return t;
}

static uint8_t *rsdp(void)
{
	return at(tb.rsdp, 36);
}

static uint8_t *xsdt(void)
{
	return table(rd64(rsdp() + 24), "XSDT");
}

/* The XSDT entry with signature `sig`, checked. */
static uint8_t *find_table(const char *sig)
{
	uint8_t *x = xsdt();
	uint32_t n = (rd32(x + 4) - HDR) / 8;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t addr = rd64(x + HDR + 8 * i);

		if (!memcmp(at(addr, 4), sig, 4))
			return table(addr, sig);
	}
	fail_msg("table %s not in the XSDT", sig);
	return NULL;
}

static uint8_t *fadt(void)
{
	return find_table("FACP");
}

static uint8_t *dsdt(void)
{
	return table(rd64(fadt() + 140), "DSDT");
}

static void test_rsdp(void **state)
{
	struct acpi_platform p = platform(1, ids1);
	uint8_t *r;

	(void)state;
	build(&p, GPA);
	assert_int_equal(tb.rsdp % 16, 0);
	r = rsdp();
	assert_memory_equal(r, "RSD PTR ", 8);
	assert_int_equal(sum(r, 20), 0); /* ACPI 1.0 checksum */
	assert_int_equal(sum(r, 36), 0); /* extended checksum */
	assert_memory_equal(r + 9, "BHYVE ", 6);
	assert_int_equal(r[15], 2);
	assert_int_equal(rd32(r + 20), 36);
	assert_memory_equal(r + 33, ((const uint8_t[]){0, 0, 0}), 3); /* reserved */
	table(rd32(r + 16), "RSDT");
	table(rd64(r + 24), "XSDT");
	/* The checksummed bytes are really the table: flipping one breaks it. */
	r[17] ^= 1;
	assert_int_not_equal(sum(r, 20), 0);
}

/* The XSDT lists exactly the FADT and the MADT; the RSDT lists the same tables. */
static void test_xsdt_and_rsdt_entries(void **state)
{
	struct acpi_platform p = platform(2, ids2);
	uint8_t *x, *r;

	(void)state;
	build(&p, GPA);
	x = xsdt();
	r = table(rd32(rsdp() + 16), "RSDT");
	assert_int_equal(rd32(x + 4), HDR + 2 * 8);
	assert_int_equal(rd32(r + 4), HDR + 2 * 4);
	assert_memory_equal(at(rd64(x + HDR), 4), "FACP", 4);
	assert_memory_equal(at(rd64(x + HDR + 8), 4), "APIC", 4);
	assert_int_equal(rd32(r + HDR), rd64(x + HDR));
	assert_int_equal(rd32(r + HDR + 4), rd64(x + HDR + 8));
}

static void check_all_checksums(int ncpus, const uint32_t *ids)
{
	struct acpi_platform p = platform(ncpus, ids);
	uint8_t *f, *facs;

	build(&p, GPA);
	assert_int_equal(sum(rsdp(), 20), 0);
	assert_int_equal(sum(rsdp(), 36), 0);
	table(rd32(rsdp() + 16), "RSDT");
	xsdt();
	f = fadt();
	find_table("APIC");
	dsdt();
	/* The FACS has no checksum; it must be 64-byte aligned. */
	assert_int_equal(rd32(f + 36) % 64, 0);
	facs = at(rd32(f + 36), 64);
	assert_memory_equal(facs, "FACS", 4);
	assert_int_equal(rd32(facs + 4), 64);
}

static void test_checksums_1_2_8_cpus(void **state)
{
	(void)state;
	check_all_checksums(1, ids1);
	check_all_checksums(2, ids2);
	check_all_checksums(8, ids8);
}

static void check_gas_io(const uint8_t *g, unsigned bits, uint64_t port)
{
	assert_int_equal(g[0], 1); /* SystemIO */
	assert_int_equal(g[1], bits);
	assert_int_equal(g[2], 0);
	assert_true(g[3] <= 4);
	assert_int_equal(rd64(g + 4), port);
}

static void test_fadt_fields(void **state)
{
	struct acpi_platform p = platform(2, ids2);
	uint8_t *f;
	uint32_t flags;
	uint16_t boot;

	(void)state;
	build(&p, GPA);
	f = fadt();
	assert_int_equal(rd32(f + 4), 276);
	assert_true(f[8] == 5 || f[8] == 6);
	/* DSDT and X_DSDT agree and point at the DSDT. */
	assert_int_equal(rd32(f + 40), rd64(f + 140));
	dsdt();
	assert_int_equal(rd16(f + 46), ACPI_SCI_IRQ);
	assert_int_equal(rd32(f + 48), ACPI_SMI_CMD_PORT);
	assert_int_equal(rd32(f + 56), ACPI_PM1A_EVT_PORT);
	assert_int_equal(rd32(f + 60), 0); /* no PM1b */
	assert_int_equal(rd32(f + 64), ACPI_PM1A_CNT_PORT);
	assert_int_equal(rd32(f + 76), ACPI_PM_TMR_PORT);
	assert_int_equal(rd32(f + 80), ACPI_GPE0_PORT);
	assert_int_equal(f[88], 4); /* PM1_EVT_LEN */
	assert_int_equal(f[89], 2); /* PM1_CNT_LEN */
	assert_int_equal(f[91], 4); /* PM_TMR_LEN */
	assert_int_equal(f[92], 4); /* GPE0_BLK_LEN */
	check_gas_io(f + 148, 32, ACPI_PM1A_EVT_PORT);
	check_gas_io(f + 172, 16, ACPI_PM1A_CNT_PORT);
	check_gas_io(f + 208, 32, ACPI_PM_TMR_PORT);
	check_gas_io(f + 220, 32, ACPI_GPE0_PORT);
	check_gas_io(f + 116, 8, ACPI_RESET_PORT);
	assert_int_equal(f[128], ACPI_RESET_VALUE);

	flags = rd32(f + 112);
	assert_true(flags & (1u << 0));	  /* WBINVD */
	assert_true(flags & (1u << 2));	  /* PROC_C1 */
	assert_false(flags & (1u << 4));  /* PWR_BUTTON clear: fixed-feature power button */
	assert_true(flags & (1u << 5));	  /* SLP_BUTTON: none */
	assert_false(flags & (1u << 8));  /* TMR_VAL_EXT clear: 24-bit PM timer */
	assert_true(flags & (1u << 10));  /* RESET_REG_SUP */
	assert_false(flags & (1u << 20)); /* not HW_REDUCED_ACPI */
	boot = rd16(f + 109);
	assert_false(boot & (1u << 1));	/* the 8042 is found through its DSDT nodes */
	assert_true(boot & (1u << 2));	/* VGA not present */
	assert_false(boot & (1u << 5)); /* CMOS RTC present */
}

/* Walks the MADT: one enabled local APIC entry per vCPU in order, the IOAPIC, the two
 * overrides and the LINT1 NMI; entry lengths add up to the table length. */
static void check_madt(int ncpus, const uint32_t *ids)
{
	struct acpi_platform p = platform(ncpus, ids);
	uint8_t *m, *e, *end;
	int cpus = 0, ioapics = 0, nmis = 0, irq0 = 0, sci = 0;

	p.ioapic_id = 3;
	p.ioapic_addr = 0xFEC01000;
	build(&p, GPA);
	m = find_table("APIC");
	assert_int_equal(rd32(m + 36), 0xFEE00000);
	assert_int_equal(rd32(m + 40) & 1, 1); /* PCAT_COMPAT */
	end = m + rd32(m + 4);
	for (e = m + 44; e < end; e += e[1]) {
		assert_true(e[1] >= 2 && e + e[1] <= end);
		switch (e[0]) {
		case 0: /* Processor Local APIC */
			assert_int_equal(e[1], 8);
			assert_true(cpus < ncpus);
			assert_int_equal(e[3], ids[cpus]);
			assert_int_equal(rd32(e + 4) & 1, 1);
			cpus++;
			break;
		case 9: /* Processor Local x2APIC */
			assert_int_equal(e[1], 16);
			assert_true(cpus < ncpus);
			assert_int_equal(rd32(e + 4), ids[cpus]);
			assert_int_equal(rd32(e + 8) & 1, 1);
			cpus++;
			break;
		case 1:
			assert_int_equal(e[1], 12);
			assert_int_equal(e[2], 3);
			assert_int_equal(rd32(e + 4), 0xFEC01000);
			assert_int_equal(rd32(e + 8), 0);
			ioapics++;
			break;
		case 2:
			assert_int_equal(e[1], 10);
			assert_int_equal(e[2], 0); /* ISA */
			if (e[3] == 0) {
				assert_int_equal(rd32(e + 4), 2);
				irq0++;
			} else {
				assert_int_equal(e[3], ACPI_SCI_IRQ);
				assert_int_equal(rd32(e + 4), ACPI_SCI_IRQ);
				/* active high (01), level (11) */
				assert_int_equal(rd16(e + 8), 0x000D);
				sci++;
			}
			break;
		case 4:
			assert_int_equal(e[1], 6);
			assert_int_equal(e[2], 0xFF);
			assert_int_equal(e[5], 1); /* LINT1 */
			nmis++;
			break;
		case 10:
			assert_int_equal(e[1], 12);
			assert_int_equal(e[8], 1);
			break;
		default:
			fail_msg("unexpected MADT entry type %u", e[0]);
		}
	}
	assert_true(e == end);
	assert_int_equal(cpus, ncpus);
	assert_int_equal(ioapics, 1);
	assert_int_equal(irq0, 1);
	assert_int_equal(sci, 1);
	assert_int_equal(nmis, 1);
}

static void test_madt_one_cpu(void **state)
{
	(void)state;
	check_madt(1, ids1);
}

static void test_madt_two_cpus(void **state)
{
	(void)state;
	check_madt(2, ids2);
}

static void test_madt_eight_sparse_apic_ids(void **state)
{
	(void)state;
	check_madt(8, ids8);
}

/* APIC IDs of 255 and above can only be described by x2APIC entries. */
static void test_madt_x2apic_ids(void **state)
{
	static const uint32_t ids[] = {0, 1, 300};
	struct acpi_platform p = platform(3, ids);
	uint8_t *m, *e, *end;
	int x2 = 0, x2nmi = 0;

	(void)state;
	check_madt(3, ids);
	build(&p, GPA);
	m = find_table("APIC");
	end = m + rd32(m + 4);
	for (e = m + 44; e < end; e += e[1]) {
		x2 += e[0] == 9;
		x2nmi += e[0] == 10;
	}
	assert_int_equal(x2, 1);
	assert_int_equal(x2nmi, 1);
}

/* Too small a buffer: -ENOSPC and nothing written past its end. */
static void test_enospc(void **state)
{
	static const size_t lens[] = {0, 1, 35, 36, 100, 300, 600, 1000};
	struct acpi_platform p = platform(8, ids8);
	static uint8_t small[ACPI_TABLES_MAX + 64];
	uint64_t r = 0x1234;
	long full;

	(void)state;
	full = acpi_build(&p, small, GPA, ACPI_TABLES_MAX, &r);
	assert_true(full > 1000);
	for (size_t i = 0; i <= sizeof(lens) / sizeof(lens[0]); i++) {
		size_t len = i < sizeof(lens) / sizeof(lens[0]) ? lens[i] : (size_t)full - 1;

		memset(small, 0x5A, sizeof(small));
		r = 0x1234;
		assert_int_equal(acpi_build(&p, small, GPA, len, &r), -ENOSPC);
		assert_int_equal(r, 0x1234);
		for (size_t j = len; j < sizeof(small); j++)
			assert_int_equal(small[j], 0x5A);
	}
	assert_int_equal(acpi_build(&p, small, GPA, (size_t)full, &r), full);
	assert_int_equal(acpi_build(&p, NULL, GPA, 0, &r), -ENOSPC);
}

static void test_einval(void **state)
{
	struct acpi_platform p;
	uint64_t r;

	(void)state;
	p = platform(0, ids1);
	assert_int_equal(acpi_build(&p, tb.buf, GPA, sizeof(tb.buf), &r), -EINVAL);
	p = platform(1, NULL);
	assert_int_equal(acpi_build(&p, tb.buf, GPA, sizeof(tb.buf), &r), -EINVAL);
	p = platform(1, ids1);
	p.intx_gsi = NULL;
	assert_int_equal(acpi_build(&p, tb.buf, GPA, sizeof(tb.buf), &r), -EINVAL);
	p = platform(1, ids1);
	p.oem_id = NULL;
	assert_int_equal(acpi_build(&p, tb.buf, GPA, sizeof(tb.buf), &r), -EINVAL);
	p = platform(1, ids1);
	assert_int_equal(acpi_build(&p, tb.buf, GPA, sizeof(tb.buf), NULL), -EINVAL);
	assert_int_equal(acpi_build(NULL, tb.buf, GPA, sizeof(tb.buf), &r), -EINVAL);
	/* I/O window over the configuration ports, or past 64 KiB */
	p.pci_io = (struct acpi_pci_window){0xC00, 0x400};
	assert_int_equal(acpi_build(&p, tb.buf, GPA, sizeof(tb.buf), &r), -EINVAL);
	p.pci_io = (struct acpi_pci_window){0x8000, 0x10000};
	assert_int_equal(acpi_build(&p, tb.buf, GPA, sizeof(tb.buf), &r), -EINVAL);
	/* 32-bit window crossing 4 GiB */
	p = platform(1, ids1);
	p.pci_mem32 = (struct acpi_pci_window){0xF0000000, 0x20000000};
	assert_int_equal(acpi_build(&p, tb.buf, GPA, sizeof(tb.buf), &r), -EINVAL);
	/* Tables that would end above 4 GiB cannot be reached by 32-bit pointers. */
	p = platform(1, ids1);
	assert_int_equal(acpi_build(&p, tb.buf, 0xFFFFFF00, sizeof(tb.buf), &r), -EINVAL);
}

/* An unaligned base still yields a 16-byte aligned RSDP, a 64-byte aligned FACS and
 * pointers that resolve inside the buffer. */
static void test_unaligned_gpa(void **state)
{
	struct acpi_platform p = platform(8, ids8);

	(void)state;
	build(&p, GPA + 4);
	assert_int_equal(tb.rsdp % 16, 0);
	assert_int_equal(rd32(fadt() + 36) % 64, 0);
	dsdt();
	find_table("APIC");
	table(rd32(rsdp() + 16), "RSDT");
}

/* ---- DSDT decoding: just enough AML to read names, packages and buffers ---- */

static size_t dec_pkglen(const uint8_t *p, uint32_t *v)
{
	size_t follow = p[0] >> 6;

	*v = follow ? (uint32_t)(p[0] & 0x0F) : (uint32_t)(p[0] & 0x3F);
	for (size_t i = 1; i <= follow; i++)
		*v |= (uint32_t)p[i] << (4 + 8 * (i - 1));
	return follow + 1;
}

static size_t dec_int(const uint8_t *p, uint64_t *v)
{
	static const size_t width[] = {[0x0A] = 1, [0x0B] = 2, [0x0C] = 4, [0x0E] = 8};

	if (p[0] == 0x00 || p[0] == 0x01) {
		*v = p[0];
		return 1;
	}
	assert_true(p[0] == 0x0A || p[0] == 0x0B || p[0] == 0x0C || p[0] == 0x0E);
	*v = 0;
	for (size_t i = 0; i < width[p[0]]; i++)
		*v |= (uint64_t)p[1 + i] << (8 * i);
	return 1 + width[p[0]];
}

/* The object that follows Name (<seg>, ...) in the DSDT. */
static const uint8_t *named_object(const uint8_t *d, const char *seg)
{
	uint32_t len = rd32(d + 4);

	for (uint32_t i = HDR; i + 5 < len; i++)
		if (d[i] == 0x08 && !memcmp(d + i + 1, seg, 4))
			return d + i + 5;
	fail_msg("Name (%s) not found", seg);
	return NULL;
}

static void test_dsdt_s5_and_pci0(void **state)
{
	struct acpi_platform p = platform(1, ids1);
	const uint8_t *d, *o, *end;
	uint32_t len;
	uint64_t v;

	(void)state;
	build(&p, GPA);
	d = dsdt();
	assert_true(d[8] >= 2); /* 64-bit integers */
	end = d + rd32(d + 4);

	/* Name (_S5_, Package (4) { SLP_TYP, SLP_TYP, 0, 0 }) */
	o = named_object(d, "_S5_");
	assert_int_equal(o[0], 0x12);
	o += dec_pkglen(o + 1, &len) + 1;
	assert_int_equal(o[0], 4);
	dec_int(o + 1, &v);
	assert_int_equal(v, ACPI_S5_SLP_TYP);

	/* Scope (\_SB) { Device (PCI0) { ... } } runs to the end of the table. */
	for (o = d + HDR; o + 8 < end; o++)
		if (o[0] == 0x10 && !memcmp(o + 1 + dec_pkglen(o + 1, &len), "\\_SB_", 5))
			break;
	assert_true(o + 8 < end);
	assert_true(o + 1 + (dec_pkglen(o + 1, &len), len) == end);
	o += 1 + dec_pkglen(o + 1, &len) + 5;
	assert_int_equal(o[0], 0x5B);
	assert_int_equal(o[1], 0x82);
	assert_true(o + 2 + (dec_pkglen(o + 2, &len), len) == end);
	o += 2 + dec_pkglen(o + 2, &len);
	assert_memory_equal(o, "PCI0", 4);

	o = named_object(d, "_HID");
	assert_memory_equal(o, ((const uint8_t[]){0x0C, 0x41, 0xD0, 0x0A, 0x03}), 5);
	dec_int(named_object(d, "_UID"), &v);
	assert_int_equal(v, 0);
	dec_int(named_object(d, "_BBN"), &v);
	assert_int_equal(v, 0);
}

/* QEMU's fw_cfg (a firmware boot with fwcfg=qemu): Device (FWCF) with _HID "QEMU0002" and
 * its 12 ports from 0x510; absent otherwise */
static void test_dsdt_fw_cfg(void **state)
{
	static const uint8_t io[] = {0x47, 0x01, 0x10, 0x05, 0x10, 0x05, 0x01, 0x0C};
	struct acpi_platform p = platform(1, ids1);
	const uint8_t *d;

	(void)state;
	build(&p, GPA);
	d = dsdt();
	assert_null(memmem(d, rd32(d + 4), "QEMU0002", 8));
	p.fw_cfg = true;
	build(&p, GPA);
	d = dsdt();
	assert_non_null(memmem(d, rd32(d + 4), "FWCF", 4));
	assert_non_null(memmem(d, rd32(d + 4), "\x0DQEMU0002", 10)); /* a string */
	assert_non_null(memmem(d, rd32(d + 4), io, sizeof(io)));
}

/* The LPC bridge at 0:31.0 with COM1 (and COM2 when asked) in use, as the DSDT callback sees
 * it: the real emulation's write_dsdt on a function that was never initialised. */
static struct vm lpc_vm;
static struct pci_dev lpc_fn = {.vm = &lpc_vm, .slot = 31};

static void lpc_nodes(struct aml *a, void *opaque)
{
	struct pci_dev *pd = opaque;
	pd->emu->write_dsdt(pd, a);
}

static void with_lpc(struct acpi_platform *p, bool com2)
{
	if (lpc_vm.cfg)
		config_free(lpc_vm.cfg);
	lpc_vm.cfg = config_new();
	config_set_assignment(lpc_vm.cfg, "lpc.com1.path=stdio");
	if (com2)
		config_set_assignment(lpc_vm.cfg, "lpc.com2.path=/dev/pts/9");
	lpc_fn.emu = pci_emul_find("lpc");
	assert_non_null(lpc_fn.emu);
	assert_non_null(lpc_fn.emu->write_dsdt);
	p->pci_dsdt = lpc_nodes;
	p->pci_dsdt_opaque = &lpc_fn;
}

/* The end of the Device () package whose NameString starts at `name`. */
static const uint8_t *device_end(const uint8_t *d, const uint8_t *name)
{
	uint32_t len;

	for (const uint8_t *o = name - 2; o > d + HDR; o--)
		if (o[-1] == 0x5B && o[0] == 0x82 && o + 1 + dec_pkglen(o + 1, &len) == name)
			return o + 1 + len;
	fail_msg("no Device () opens at offset %td", name - d);
	return NULL;
}

/* A PCI function's own nodes (acpi_platform.pci_dsdt) land inside Device (PCI0): the LPC
 * bridge's Device (ISA) with _ADR 0x1F0000 and a PNP0501 node per COM port in use, with its
 * I/O ports and IRQ; the i8042's keyboard (PNP0303: ports 0x60 and 0x64, IRQ 1) and mouse
 * (PNP0F13: IRQ 12) nodes, registered through LPC_DSDT, inside Device (ISA). */
static void test_dsdt_pci_function_nodes(void **state)
{
	static const uint8_t com1_io[] = {0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x01, 0x08};
	static const uint8_t com1_irq[] = {0x22, 0x10, 0x00};
	static const uint8_t com2_io[] = {0x47, 0x01, 0xF8, 0x02, 0xF8, 0x02, 0x01, 0x08};
	static const uint8_t pnp0501[] = {0x0C, 0x41, 0xD0, 0x05, 0x01};
	static const uint8_t pnp0303[] = {0x08, '_', 'H', 'I', 'D', 0x0C, 0x41, 0xD0, 0x03, 0x03};
	static const uint8_t pnp0f13[] = {0x08, '_', 'H', 'I', 'D', 0x0C, 0x41, 0xD0, 0x0F, 0x13};
	static const uint8_t kbd_crs[] = {0x47, 0x01, 0x60, 0x00, 0x60, 0x00, 0x01, 0x01, /* IO */
					  0x47, 0x01, 0x64, 0x00, 0x64, 0x00, 0x01, 0x01, /* IO */
					  0x22, 0x02, 0x00,				  /* IRQ 1 */
					  0x79, 0x00};
	static const uint8_t mou_crs[] = {0x22, 0x00, 0x10, 0x79, 0x00}; /* IRQ 12, end tag */
	struct acpi_platform p = platform(1, ids1);
	const uint8_t *d, *pci0, *isa, *kbd, *mou, *isa_end, *kbd_end, *mou_end;
	uint32_t len, n;
	uint64_t v;

	(void)state;
	with_lpc(&p, false);
	build(&p, GPA);
	d = dsdt();
	n = rd32(d + 4);
	pci0 = memmem(d, n, "PCI0", 4);
	isa = memmem(d, n, "ISA_", 4);
	assert_non_null(pci0);
	assert_non_null(isa);
	/* Device (ISA) is a child of PCI0: after PCI0's name, before the end of its package */
	const uint8_t *end = NULL;
	for (const uint8_t *o = pci0 - 2; o > d + HDR && !end; o--)
		if (o[-1] == 0x5B && o[0] == 0x82 && o + 1 + dec_pkglen(o + 1, &len) == pci0)
			end = o + 1 + len;
	assert_non_null(end);
	assert_true(isa > pci0 && isa < end);
	const uint8_t *adr = memmem(isa, (size_t)(end - isa), "\x08_ADR", 5);
	assert_non_null(adr);
	dec_int(adr + 5, &v);
	assert_int_equal(v, 31u << 16);
	assert_non_null(memmem(d, n, "COM1", 4));
	assert_non_null(memmem(d, n, pnp0501, sizeof(pnp0501)));
	assert_non_null(memmem(d, n, com1_io, sizeof(com1_io)));
	assert_non_null(memmem(d, n, com1_irq, sizeof(com1_irq)));
	assert_null(memmem(d, n, "COM2", 4)); /* not in use */
	isa_end = device_end(d, isa);
	assert_true(isa_end <= end);
	kbd = memmem(isa, (size_t)(isa_end - isa), "KBD_", 4);
	mou = memmem(isa, (size_t)(isa_end - isa), "MOU_", 4);
	assert_non_null(kbd);
	assert_non_null(mou);
	kbd_end = device_end(d, kbd);
	mou_end = device_end(d, mou);
	assert_true(kbd_end <= isa_end && mou_end <= isa_end);
	assert_non_null(memmem(kbd, (size_t)(kbd_end - kbd), pnp0303, sizeof(pnp0303)));
	assert_non_null(memmem(kbd, (size_t)(kbd_end - kbd), kbd_crs, sizeof(kbd_crs)));
	assert_non_null(memmem(mou, (size_t)(mou_end - mou), pnp0f13, sizeof(pnp0f13)));
	assert_non_null(memmem(mou, (size_t)(mou_end - mou), mou_crs, sizeof(mou_crs)));
	with_lpc(&p, true);
	build(&p, GPA);
	d = dsdt();
	assert_non_null(memmem(d, rd32(d + 4), "COM2", 4));
	assert_non_null(memmem(d, rd32(d + 4), com2_io, sizeof(com2_io)));
	config_free(lpc_vm.cfg);
	lpc_vm.cfg = NULL;
}

static void check_prt(unsigned (*gsi)(unsigned, unsigned))
{
	struct acpi_platform p = platform(2, ids2);
	const uint8_t *o, *end;
	uint32_t len;
	uint64_t v;

	p.intx_gsi = gsi;
	build(&p, GPA);
	o = named_object(dsdt(), "_PRT");
	assert_int_equal(o[0], 0x12);
	o++;
	end = o + (dec_pkglen(o, &len), len);
	o += dec_pkglen(o, &len);
	assert_int_equal(*o++, 128);
	for (unsigned slot = 0; slot < 32; slot++) {
		for (unsigned pin = 0; pin < 4; pin++) {
			const uint8_t *next;

			assert_int_equal(*o++, 0x12);
			next = o + (dec_pkglen(o, &len), len);
			o += dec_pkglen(o, &len);
			assert_int_equal(*o++, 4);
			o += dec_int(o, &v);
			assert_int_equal(v, (uint64_t)slot << 16 | 0xFFFF);
			o += dec_int(o, &v);
			assert_int_equal(v, pin);
			o += dec_int(o, &v);
			assert_int_equal(v, 0); /* no link device: a GSI */
			o += dec_int(o, &v);
			assert_int_equal(v, gsi(slot, pin));
			assert_true(o == next);
		}
	}
	assert_true(o == end);
}

static void test_dsdt_prt(void **state)
{
	(void)state;
	check_prt(swizzle_gsi);
	check_prt(unique_gsi);
}

/* Reads the _CRS ResourceTemplate into (type, min, max) triples of address descriptors. */
struct range {
	uint8_t tag, type;
	uint64_t min, max, len;
};

static int read_crs(struct range *r, int max)
{
	const uint8_t *o = named_object(dsdt(), "_CRS");
	const uint8_t *end;
	uint32_t len;
	uint64_t size;
	int n = 0;

	assert_int_equal(o[0], 0x11);
	o++;
	end = o + (dec_pkglen(o, &len), len);
	o += dec_pkglen(o, &len);
	o += dec_int(o, &size);
	assert_true(o + size == end);
	while (o < end) {
		size_t w;

		if (o[0] == 0x79) { /* end tag */
			assert_true(o + 2 == end);
			return n;
		}
		assert_true(n < max);
		w = o[0] == 0x88 ? 2 : o[0] == 0x87 ? 4 : o[0] == 0x8A ? 8 : 0;
		assert_int_not_equal(w, 0);
		assert_int_equal(rd16(o + 1), 3 + 5 * w);
		assert_int_equal(o[4], 0x0C); /* producer, MinFixed, MaxFixed, PosDecode */
		r[n].tag = o[0];
		r[n].type = o[3];
		r[n].min = r[n].max = r[n].len = 0;
		for (size_t i = 0; i < w; i++) {
			r[n].min |= (uint64_t)o[6 + w + i] << (8 * i);
			r[n].max |= (uint64_t)o[6 + 2 * w + i] << (8 * i);
			r[n].len |= (uint64_t)o[6 + 4 * w + i] << (8 * i);
		}
		assert_int_equal(r[n].len, r[n].max - r[n].min + 1);
		o += 3 + 3 + 5 * w;
		n++;
	}
	fail_msg("no end tag");
	return -1;
}

static void test_dsdt_crs(void **state)
{
	struct acpi_platform p = platform(1, ids1);
	struct range r[8];
	int n;

	(void)state;
	build(&p, GPA);
	n = read_crs(r, 8);
	assert_int_equal(n, 5);
	assert_int_equal(r[0].type, 2); /* bus */
	assert_int_equal(r[0].min, 0);
	assert_int_equal(r[0].max, 255);
	assert_int_equal(r[1].type, 1); /* I/O below the config ports */
	assert_int_equal(r[1].min, 0);
	assert_int_equal(r[1].max, 0xCF7);
	assert_int_equal(r[2].type, 1); /* I/O above them, to the end of the window */
	assert_int_equal(r[2].min, 0xD00);
	assert_int_equal(r[2].max, 0xFFFF);
	assert_int_equal(r[3].tag, 0x87);
	assert_int_equal(r[3].type, 0);
	assert_int_equal(r[3].min, 0xC0000000);
	assert_int_equal(r[3].max, 0xDFFFFFFF);
	assert_int_equal(r[4].tag, 0x8A);
	assert_int_equal(r[4].type, 0);
	assert_int_equal(r[4].min, 0x4000000000ull);
	assert_int_equal(r[4].max, 0x4FFFFFFFFFull);

	/* Smaller I/O window, no 64-bit window. */
	p.pci_io = (struct acpi_pci_window){0x2000, 0x1000};
	p.pci_mem64 = (struct acpi_pci_window){0, 0};
	build(&p, GPA);
	n = read_crs(r, 8);
	assert_int_equal(n, 4);
	assert_int_equal(r[2].max, 0x2FFF);
	assert_int_equal(r[3].tag, 0x87);
}

/* ---- MP table ---- */

static void check_mptable(int ncpus, const uint32_t *ids)
{
	static uint8_t mp[MPTABLE_MAX];
	struct acpi_platform p = platform(ncpus, ids);
	const uint8_t *c, *e, *end;
	int count[5] = {0};
	bool isa_seen[16] = {false};
	int pci_bus = -1, isa_bus = -1, last_type = 0, pci_ints = 0;
	long used;

	p.ioapic_id = 8;
	p.intx_gsi = unique_gsi;
	memset(mp, 0xA5, sizeof(mp));
	used = mptable_build(&p, mp, MPTABLE_ADDR, sizeof(mp));
	assert_true(used > 16 + 44);

	/* Floating pointer */
	assert_memory_equal(mp, "_MP_", 4);
	assert_int_equal(rd32(mp + 4), MPTABLE_ADDR + 16);
	assert_int_equal(mp[8], 1);
	assert_int_equal(mp[9], 4);
	assert_int_equal(sum(mp, 16), 0);
	assert_int_equal(mp[11], 0); /* configuration table present */

	/* Configuration table, right after it */
	c = mp + 16;
	assert_memory_equal(c, "PCMP", 4);
	assert_int_equal(rd16(c + 4), used - 16);
	assert_int_equal(c[6], 4);
	assert_int_equal(sum(c, rd16(c + 4)), 0);
	assert_memory_equal(c + 8, "BHYVE   ", 8);
	assert_int_equal(rd32(c + 36), 0xFEE00000);
	assert_int_equal(rd16(c + 40), 0); /* no extended entries */
	assert_int_equal(rd16(c + 34), ncpus + 2 + 1 + 15 + 128 + 2);

	end = c + rd16(c + 4);
	e = c + 44;
	for (int i = 0; i < rd16(c + 34); i++) {
		assert_true(e < end);
		assert_true(e[0] <= 4);
		assert_true(e[0] >= last_type); /* entries sorted by type */
		last_type = e[0];
		count[e[0]]++;
		switch (e[0]) {
		case 0:
			assert_int_equal(e[1], ids[count[0] - 1]);
			assert_int_equal(e[3],
					 count[0] == 1 ? 0x03 : 0x01); /* EN, BP on the first */
			e += 20;
			continue;
		case 1:
			if (!memcmp(e + 2, "PCI   ", 6))
				pci_bus = e[1];
			else if (!memcmp(e + 2, "ISA   ", 6))
				isa_bus = e[1];
			else
				fail_msg("unknown bus");
			break;
		case 2:
			assert_int_equal(e[1], 8);
			assert_int_equal(e[3] & 1, 1);
			assert_int_equal(rd32(e + 4), 0xFEC00000);
			break;
		case 3:
			assert_int_equal(e[1], 0); /* INT */
			assert_int_equal(e[6], 8);
			if (e[4] == isa_bus) {
				assert_true(e[5] < 16 && e[5] != 2 && !isa_seen[e[5]]);
				isa_seen[e[5]] = true;
				assert_int_equal(e[7], e[5] == 0 ? 2 : e[5]);
				if (e[5] == ACPI_SCI_IRQ)
					assert_int_equal(rd16(e + 2), 0x000D);
			} else {
				assert_int_equal(e[4], pci_bus);
				assert_int_equal(e[7], unique_gsi(e[5] >> 2, e[5] & 3));
				assert_int_equal(e[5], pci_ints); /* slot-major order */
				pci_ints++;
			}
			break;
		case 4:
			assert_int_equal(e[6], 0xFF);
			if (e[1] == 3)
				assert_int_equal(e[7], 0); /* ExtINT on LINT0 */
			else if (e[1] == 1)
				assert_int_equal(e[7], 1); /* NMI on LINT1 */
			else
				fail_msg("unexpected local interrupt type %u", e[1]);
			break;
		}
		e += 8;
	}
	assert_true(e == end);
	assert_int_equal(count[0], ncpus);
	assert_int_equal(count[1], 2);
	assert_int_equal(count[2], 1);
	assert_int_equal(count[3], 15 + 128);
	assert_int_equal(count[4], 2);
	assert_int_equal(pci_ints, 128);
	assert_true(pci_bus >= 0 && isa_bus >= 0 && pci_bus != isa_bus);
	assert_int_equal(mp[used], 0xA5); /* nothing written past the end */
}

static void test_mptable_1_2_8_cpus(void **state)
{
	(void)state;
	check_mptable(1, ids1);
	check_mptable(2, ids2);
	check_mptable(8, ids8);
}

static void test_mptable_errors(void **state)
{
	static const uint32_t big[] = {0, 255};
	static uint8_t mp[MPTABLE_MAX + 16];
	struct acpi_platform p = platform(8, ids8);
	long full = mptable_build(&p, mp, MPTABLE_ADDR, MPTABLE_MAX);

	(void)state;
	assert_true(full > 0);
	memset(mp, 0x5A, sizeof(mp));
	assert_int_equal(mptable_build(&p, mp, MPTABLE_ADDR, (size_t)full - 1), -ENOSPC);
	for (size_t j = 0; j < sizeof(mp); j++)
		assert_int_equal(mp[j], 0x5A);
	assert_int_equal(mptable_build(&p, mp, MPTABLE_ADDR, 8), -ENOSPC);
	assert_int_equal(mptable_build(&p, mp, MPTABLE_ADDR + 4, MPTABLE_MAX), -EINVAL);
	assert_int_equal(mptable_build(&p, mp, MPTABLE_ADDR, (size_t)full), full);
	p = platform(2, big); /* 255 is not a valid xAPIC ID */
	assert_int_equal(mptable_build(&p, mp, MPTABLE_ADDR, MPTABLE_MAX), -EINVAL);
	p = platform(0, ids1);
	assert_int_equal(mptable_build(&p, mp, MPTABLE_ADDR, MPTABLE_MAX), -EINVAL);
}

/* ---- iasl ---- */

static bool in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char dir[4096];

	while (path && *path) {
		size_t n = strcspn(path, ":");

		if (n && n < sizeof(dir) - strlen(prog) - 2) {
			snprintf(dir, sizeof(dir), "%.*s/%s", (int)n, path, prog);
			if (access(dir, X_OK) == 0)
				return true;
		}
		path += n + (path[n] == ':');
	}
	return false;
}

static void write_file(const char *dir, const char *name, const uint8_t *p, size_t n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* Whole file as a NUL-terminated string (caller frees). */
static char *read_text(const char *dir, const char *name)
{
	char path[512];
	FILE *f;
	char *s;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	s = malloc((size_t)n + 1);
	assert_non_null(s);
	assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
	s[n] = 0;
	fclose(f);
	return s;
}

static int count_of(const char *s, const char *needle)
{
	int n = 0;

	for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

static int run_in(const char *dir, const char *cmd)
{
	char line[1024];
	int st;

	snprintf(line, sizeof(line), "cd '%s' && %s", dir, cmd);
	st = system(line);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[512];

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/* iasl disassembles every table, and the disassembly compiles back without errors or
 * warnings. */
static char tool_dir[] = "/tmp/kbhyve-acpi-XXXXXX";

/* Removes the scratch directory even when an assertion ended the test early. */
static int tool_teardown(void **state)
{
	(void)state;
	if (strcmp(tool_dir + strlen(tool_dir) - 6, "XXXXXX"))
		remove_dir(tool_dir);
	memcpy(tool_dir + strlen(tool_dir) - 6, "XXXXXX", 6);
	return 0;
}

/* Builds 8-vCPU tables and writes each to <sig>.dat in a fresh scratch directory. */
static const char *write_tables(void)
{
	static const char *const names[] = {"dsdt", "facp", "apic", "xsdt", "rsdt", "facs"};
	struct acpi_platform p = platform(8, ids8);
	const uint8_t *t[6];

	p.fw_cfg = true;
	with_lpc(&p, true);
	build(&p, GPA);
	t[0] = dsdt();
	t[1] = fadt();
	t[2] = find_table("APIC");
	t[3] = xsdt();
	t[4] = table(rd32(rsdp() + 16), "RSDT");
	t[5] = at(rd32(t[1] + 36), 64);
	assert_non_null(mkdtemp(tool_dir));
	for (int i = 0; i < 6; i++) {
		char name[16];

		snprintf(name, sizeof(name), "%s.dat", names[i]);
		write_file(tool_dir, name, t[i], rd32(t[i] + 4));
	}
	return tool_dir;
}

/* iasl disassembles every table, and the disassembly compiles back without errors or
 * warnings. */
static void test_iasl_disassembly(void **state)
{
	const char *dir;
	char *s;
	int rc;

	(void)state;
	if (!in_path("iasl")) {
		print_message("iasl not found (Debian package acpica-tools): skipping\n");
		skip();
	}
	dir = write_tables();

	rc = run_in(dir, "iasl -d dsdt.dat facp.dat apic.dat xsdt.dat rsdt.dat facs.dat "
			 ">disasm.log 2>&1");
	if (rc != 0) {
		s = read_text(dir, "disasm.log");
		print_error("%s", s);
		free(s);
	}
	assert_int_equal(rc, 0);

	s = read_text(dir, "dsdt.dsl");
	assert_non_null(strstr(s, "_S5_"));
	assert_non_null(strstr(s, "PCI0"));
	assert_non_null(strstr(s, "_PRT"));
	assert_non_null(strstr(s, "_CRS"));
	assert_non_null(strstr(s, "EisaId (\"PNP0A03\")"));
	assert_non_null(strstr(s, "WordBusNumber"));
	assert_non_null(strstr(s, "QWordMemory"));
	assert_non_null(strstr(s, "Device (FWCF)"));
	assert_non_null(strstr(s, "Device (ISA)"));
	assert_non_null(strstr(s, "Device (COM2)"));
	assert_non_null(strstr(s, "Device (KBD)"));
	assert_non_null(strstr(s, "EisaId (\"PNP0303\")"));
	assert_non_null(strstr(s, "{1}")); /* IRQ 1 (COM ports: {4}, {3}) */
	assert_non_null(strstr(s, "Device (MOU)"));
	assert_non_null(strstr(s, "EisaId (\"PNP0F13\")"));
	assert_non_null(strstr(s, "{12}"));
	assert_non_null(strstr(s, "EisaId (\"PNP0501\")"));
	assert_non_null(strstr(s, "IRQNoFlags ()"));
	assert_non_null(strstr(s, "\"QEMU0002\""));
	assert_int_equal(count_of(s, "Package (0x04)"), 1 + 128);
	free(s);
	s = read_text(dir, "apic.dsl");
	assert_int_equal(count_of(s, "[Processor Local APIC]"), 8);
	assert_int_equal(count_of(s, "[I/O APIC]"), 1);
	assert_int_equal(count_of(s, "[Interrupt Source Override]"), 2);
	assert_int_equal(count_of(s, "[Local APIC NMI]"), 1);
	free(s);
	s = read_text(dir, "facp.dsl");
	assert_non_null(strstr(s, "0000000000000CF9"));
	free(s);

	rc = run_in(dir, "for f in dsdt facp apic xsdt rsdt facs; do iasl $f.dsl || exit 1; done "
			 ">compile.log 2>&1");
	s = read_text(dir, "compile.log");
	if (rc != 0 || count_of(s, " 0 Errors, 0 Warnings") != 6)
		print_error("%s", s);
	assert_int_equal(rc, 0);
	assert_int_equal(count_of(s, " 0 Errors, 0 Warnings"), 6);
	free(s);
}

/* acpiexec loads the tables with ACPICA, the code Linux runs: FADT conversion and checks,
 * namespace load, GPE block setup, then evaluates _PRT. No firmware warnings allowed. */
static void test_acpiexec_loads_tables(void **state)
{
	const char *dir;
	char *s;
	int rc;

	(void)state;
	if (!in_path("acpiexec")) {
		print_message("acpiexec not found (Debian package acpica-tools): skipping\n");
		skip();
	}
	dir = write_tables();
	rc = run_in(dir, "acpiexec -b 'evaluate \\_SB.PCI0._PRT' facp.dat apic.dat dsdt.dat "
			 "facs.dat >exec.log 2>&1");
	s = read_text(dir, "exec.log");
	if (rc != 0 || strstr(s, "Firmware") || strstr(s, "ACPI Error") ||
	    strstr(s, "ACPI Warning") || !strstr(s, "[Package] Contains 128 Elements"))
		print_error("%s", s);
	assert_int_equal(rc, 0);
	assert_null(strstr(s, "Firmware Warning"));
	assert_null(strstr(s, "Firmware Error"));
	assert_null(strstr(s, "ACPI Error"));
	assert_null(strstr(s, "ACPI Warning"));
	assert_non_null(strstr(s, "Initialized GPE 00 to 0F"));
	assert_non_null(strstr(s, "[Package] Contains 128 Elements"));
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rsdp),
	    cmocka_unit_test(test_xsdt_and_rsdt_entries),
	    cmocka_unit_test(test_checksums_1_2_8_cpus),
	    cmocka_unit_test(test_fadt_fields),
	    cmocka_unit_test(test_madt_one_cpu),
	    cmocka_unit_test(test_madt_two_cpus),
	    cmocka_unit_test(test_madt_eight_sparse_apic_ids),
	    cmocka_unit_test(test_madt_x2apic_ids),
	    cmocka_unit_test(test_enospc),
	    cmocka_unit_test(test_einval),
	    cmocka_unit_test(test_unaligned_gpa),
	    cmocka_unit_test(test_dsdt_s5_and_pci0),
	    cmocka_unit_test(test_dsdt_prt),
	    cmocka_unit_test(test_dsdt_crs),
	    cmocka_unit_test(test_mptable_1_2_8_cpus),
	    cmocka_unit_test(test_mptable_errors),
	    cmocka_unit_test(test_dsdt_fw_cfg),
	    cmocka_unit_test(test_dsdt_pci_function_nodes),
	    cmocka_unit_test_teardown(test_iasl_disassembly, tool_teardown),
	    cmocka_unit_test_teardown(test_acpiexec_loads_tables, tool_teardown),
	};

	return cmocka_run_group_tests_name("acpi", tests, NULL, NULL);
}
