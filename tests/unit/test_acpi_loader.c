/* SPDX-License-Identifier: BSD-2-Clause */
/* etc/table-loader: the script is run here the way edk2's OVMF runs it (QemuFwCfgAcpi.c, read
 * for behaviour): each ALLOCATE places a copy of its file at a made-up guest address, ADD_POINTER
 * adds the pointee's address to a value that must lie inside the pointee, ADD_CHECKSUM stores
 * the byte that makes the range sum to zero. The result must be a valid table tree from the
 * RSDP down, with every table's checksum right and no pointer patched twice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "acpi/acpi_loader.h"
#include "core/byteorder.h"

#define RSDP_GPA 0xF0000ull
#define TABLES_GPA 0x7FE00000ull

static unsigned gsi(unsigned slot, unsigned pin)
{
	return 16 + ((slot + pin) & 7);
}

static const uint32_t ids[] = {0, 1, 2};

static struct acpi_platform platform(void)
{
	return (struct acpi_platform){
	    .ncpus = 3,
	    .apic_ids = ids,
	    .ioapic_addr = 0xFEC00000,
	    .ioapic_id = 3,
	    .pci_io = {0x2000, 0xE000},
	    .pci_mem32 = {0x80000000, 0x7C000000},
	    .pci_mem64 = {0x800000000ull, 0xF800000000ull},
	    .intx_gsi = gsi,
	    .oem_id = "BHYVE ",
	};
}

/* The firmware's view: the files as allocated, at their guest addresses. */
struct fw {
	uint8_t *rsdp, *tables;
	size_t tables_len;
	bool rsdp_alloc, tables_alloc;
	int pointers, checksums;
	uint32_t patched[64]; /* tables-file offsets patched, to catch a double patch */
	int npatched;
};

static uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

static bool file_is(const uint8_t *name, const char *want)
{
	return strncmp((const char *)name, want, ACPI_LOADER_NAME) == 0;
}

/* The file a name refers to: its bytes, size and guest address. */
static uint8_t *file(struct fw *f, const struct acpi_loader_blobs *b, const uint8_t *name,
		     size_t *len, uint64_t *gpa)
{
	if (file_is(name, ACPI_LOADER_RSDP_FILE) && f->rsdp_alloc) {
		*len = sizeof(b->rsdp);
		*gpa = RSDP_GPA;
		return f->rsdp;
	}
	if (file_is(name, ACPI_LOADER_TABLES_FILE) && f->tables_alloc) {
		*len = f->tables_len;
		*gpa = TABLES_GPA;
		return f->tables;
	}
	fail_msg("command names a file that is not allocated yet: %.56s", (const char *)name);
	return NULL;
}

static void run_script(struct fw *f, const struct acpi_loader_blobs *b)
{
	assert_int_equal(b->script_len % ACPI_LOADER_ENTRY, 0);
	for (size_t i = 0; i < b->script_len; i += ACPI_LOADER_ENTRY) {
		const uint8_t *e = b->script + i, *a = e + 4;
		size_t len, len2;
		uint64_t gpa, gpa2;
		switch (le32_at(e)) {
		case ACPI_LOADER_ALLOCATE:
			assert_true(le32_at(a + ACPI_LOADER_NAME) <=
				    4096); /* OVMF's alignment limit */
			if (file_is(a, ACPI_LOADER_RSDP_FILE)) {
				assert_false(f->rsdp_alloc);
				f->rsdp = malloc(sizeof(b->rsdp));
				memcpy(f->rsdp, b->rsdp, sizeof(b->rsdp));
				f->rsdp_alloc = true;
				assert_int_equal(RSDP_GPA % le32_at(a + ACPI_LOADER_NAME), 0);
			} else {
				assert_true(file_is(a, ACPI_LOADER_TABLES_FILE));
				assert_false(f->tables_alloc);
				f->tables = malloc(b->tables_len);
				memcpy(f->tables, b->tables, b->tables_len);
				f->tables_len = b->tables_len;
				f->tables_alloc = true;
			}
			break;
		case ACPI_LOADER_ADD_POINTER: {
			uint8_t *ptr = file(f, b, a, &len, &gpa);
			(void)file(f, b, a + ACPI_LOADER_NAME, &len2, &gpa2);
			uint32_t off = le32_at(a + 2 * ACPI_LOADER_NAME);
			uint8_t size = a[2 * ACPI_LOADER_NAME + 4];
			assert_true(size == 4 || size == 8);
			assert_true(off + size <= len);
			uint64_t v = size == 8 ? le64_at(ptr + off) : le32_at(ptr + off);
			assert_true(v < len2); /* OVMF refuses a value outside the pointee */
			if (ptr == f->tables) {
				for (int k = 0; k < f->npatched; k++)
					assert_int_not_equal(f->patched[k], off);
				f->patched[f->npatched++] = off;
			}
			if (size == 8)
				put_le64(ptr + off, v + gpa2);
			else
				put_le32(ptr + off, (uint32_t)(v + gpa2));
			f->pointers++;
			break;
		}
		case ACPI_LOADER_ADD_CHECKSUM: {
			uint8_t *p = file(f, b, a, &len, &gpa);
			uint32_t res = le32_at(a + ACPI_LOADER_NAME);
			uint32_t start = le32_at(a + ACPI_LOADER_NAME + 4);
			uint32_t n = le32_at(a + ACPI_LOADER_NAME + 8);
			assert_true(res < len && start <= len && n <= len - start);
			/* OVMF stores the checksum of the range as it is, the result byte included
			 */
			p[res] = (uint8_t)(0 - sum8(p + start, n));
			f->checksums++;
			break;
		}
		default:
			fail_msg("unknown loader command %u", le32_at(e));
		}
	}
}

/* A table at guest address gpa inside the allocated tables blob, its checksum right. */
static const uint8_t *table(const struct fw *f, uint64_t gpa, const char *sig)
{
	assert_true(gpa >= TABLES_GPA && gpa + 36 <= TABLES_GPA + f->tables_len);
	const uint8_t *t = f->tables + (gpa - TABLES_GPA);
	assert_memory_equal(t, sig, 4);
	uint32_t len = le32_at(t + 4);
	assert_true(gpa + len <= TABLES_GPA + f->tables_len);
	if (strcmp(sig, "FACS") != 0)
		assert_int_equal(sum8(t, len), 0);
	return t;
}

static void test_script_builds_a_valid_tree(void **state)
{
	(void)state;
	struct acpi_platform p = platform();
	struct acpi_loader_blobs b;
	assert_int_equal(acpi_loader_build(&p, &b), 0);
	/* checksum fields are zero in the files: the firmware's sum includes them */
	assert_int_equal(b.rsdp[8], 0);
	assert_int_equal(b.rsdp[32], 0);
	struct fw f = {0};
	run_script(&f, &b);
	assert_true(f.rsdp_alloc && f.tables_alloc);
	/* RSDP -> RSDT, XSDT (2 entries each) -> FADT -> FACS, DSDT (+X_DSDT) and MADT */
	assert_int_equal(f.pointers, 2 + 2 + 2 + 3);
	assert_int_equal(f.checksums, 5 + 2);
	assert_memory_equal(f.rsdp, "RSD PTR ", 8);
	assert_int_equal(sum8(f.rsdp, 20), 0);
	assert_int_equal(sum8(f.rsdp, 36), 0);
	const uint8_t *rsdt = table(&f, le32_at(f.rsdp + 16), "RSDT");
	const uint8_t *xsdt = table(&f, le64_at(f.rsdp + 24), "XSDT");
	for (int i = 0; i < 2; i++)
		assert_int_equal(le32_at(rsdt + 36 + 4 * i), le64_at(xsdt + 36 + 8 * i));
	const uint8_t *fadt = table(&f, le64_at(xsdt + 36), "FACP");
	const uint8_t *madt = table(&f, le64_at(xsdt + 44), "APIC");
	table(&f, le32_at(fadt + 36), "FACS");
	table(&f, le32_at(fadt + 40), "DSDT");
	assert_int_equal(le64_at(fadt + 140), le32_at(fadt + 40));
	assert_int_equal(le64_at(fadt + 132), 0); /* X_FIRMWARE_CTRL unset stays unset */
	/* the MADT lists the three CPUs */
	int cpus = 0;
	for (uint32_t o = 44; o + 2 <= le32_at(madt + 4); o += madt[o + 1]) {
		assert_true(madt[o + 1] >= 2);
		if (madt[o] == 0)
			cpus++;
	}
	assert_int_equal(cpus, 3);
	/* no RSDP left in the tables blob for a memory scan to find */
	assert_null(memmem(b.tables, b.tables_len, "RSD PTR ", 8));
	free(f.rsdp);
	free(f.tables);
	acpi_loader_free(&b);
}

/* The DSDT's root bridge resources come from the platform: the firmware's 32-bit window must be
 * the one in _CRS (its bytes appear in the DSDT as a DWord memory descriptor's min and max). */
static void test_crs_carries_the_platform_windows(void **state)
{
	(void)state;
	struct acpi_platform p = platform();
	struct acpi_loader_blobs b;
	assert_int_equal(acpi_loader_build(&p, &b), 0);
	uint8_t want[8];
	put_le32(want, 0x80000000);
	put_le32(want + 4, 0xFBFFFFFF);
	assert_non_null(memmem(b.tables, b.tables_len, want, sizeof(want)));
	acpi_loader_free(&b);
}

static void test_bad_platform_refused(void **state)
{
	(void)state;
	struct acpi_platform p = platform();
	p.pci_mem32 = (struct acpi_pci_window){0xF0000000, 0x20000000}; /* crosses 4 GiB */
	struct acpi_loader_blobs b;
	assert_int_equal(acpi_loader_build(&p, &b), -EINVAL);
	assert_null(b.tables);
	assert_null(b.script);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_script_builds_a_valid_tree),
	    cmocka_unit_test(test_crs_carries_the_platform_windows),
	    cmocka_unit_test(test_bad_platform_refused),
	};
	return cmocka_run_group_tests_name("acpi_loader", tests, NULL, NULL);
}
