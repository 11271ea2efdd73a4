/* SPDX-License-Identifier: BSD-2-Clause */
/* E820 map: the platform layouts for several RAM sizes, overlap resolution, totals, limits. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "boot/e820.h"
#include "core/guestmem.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static void expect_entries(const struct e820_map *m, const struct e820_entry *want, int n)
{
	assert_int_equal(m->n, n);
	for (int i = 0; i < n; i++) {
		assert_int_equal(m->e[i].addr, want[i].addr);
		assert_int_equal(m->e[i].size, want[i].size);
		assert_int_equal(m->e[i].type, want[i].type);
	}
}

static void build_for(struct e820_map *m, uint64_t ram)
{
	uint64_t lo, hi;
	guestmem_layout(ram, &lo, &hi);
	e820_build(m, lo, hi);
}

/* Fixed part of every layout: low RAM, the legacy area, the interrupt controller pages. */
#define LOW_RAM                                                                                    \
	{                                                                                          \
		0, 0x9FC00, E820_RAM                                                               \
	}
#define LEGACY                                                                                     \
	{                                                                                          \
		0x9FC00, 0x100000 - 0x9FC00, E820_RESERVED                                         \
	}
#define IOAPIC                                                                                     \
	{                                                                                          \
		0xFEC00000, 0x1000, E820_RESERVED                                                  \
	}
#define LAPIC                                                                                      \
	{                                                                                          \
		0xFEE00000, 0x1000, E820_RESERVED                                                  \
	}
#define LEGACY_HOLE (0x100000 - 0x9FC00)

static void test_layout_256m(void **state)
{
	struct e820_map m;
	build_for(&m, 256 * MiB);
	const struct e820_entry want[] = {
	    LOW_RAM, LEGACY, {0x100000, 255 * MiB, E820_RAM}, IOAPIC, LAPIC};
	expect_entries(&m, want, 5);
	assert_int_equal(e820_ram_total(&m), 256 * MiB - LEGACY_HOLE);
}

static void test_layout_3g(void **state)
{
	struct e820_map m;
	build_for(&m, 3 * GiB);
	const struct e820_entry want[] = {
	    LOW_RAM, LEGACY, {0x100000, 3 * GiB - MiB, E820_RAM}, IOAPIC, LAPIC};
	expect_entries(&m, want, 5);
	assert_int_equal(e820_ram_total(&m), 3 * GiB - LEGACY_HOLE);
}

static void test_layout_4g(void **state)
{
	struct e820_map m;
	build_for(&m, 4 * GiB);
	const struct e820_entry want[] = {LOW_RAM, LEGACY, {0x100000, 3 * GiB - MiB, E820_RAM},
					  IOAPIC,  LAPIC,  {4 * GiB, 1 * GiB, E820_RAM}};
	expect_entries(&m, want, 6);
	assert_int_equal(e820_ram_total(&m), 4 * GiB - LEGACY_HOLE);
}

static void test_layout_8g(void **state)
{
	struct e820_map m;
	build_for(&m, 8 * GiB);
	const struct e820_entry want[] = {LOW_RAM, LEGACY, {0x100000, 3 * GiB - MiB, E820_RAM},
					  IOAPIC,  LAPIC,  {4 * GiB, 5 * GiB, E820_RAM}};
	expect_entries(&m, want, 6);
	assert_int_equal(e820_ram_total(&m), 8 * GiB - LEGACY_HOLE);
}

/* Nothing in the map may overlap and it must be sorted. */
static void expect_sorted_disjoint(const struct e820_map *m)
{
	for (int i = 1; i < m->n; i++)
		assert_true(m->e[i - 1].addr + m->e[i - 1].size <= m->e[i].addr);
}

static void test_add_splits_entry(void **state)
{
	struct e820_map m;
	build_for(&m, 256 * MiB);
	assert_int_equal(e820_add(&m, 16 * MiB, 64 * 1024, E820_ACPI), 0);
	const struct e820_entry want[] = {LOW_RAM,
					  LEGACY,
					  {0x100000, 15 * MiB, E820_RAM},
					  {16 * MiB, 64 * 1024, E820_ACPI},
					  {16 * MiB + 64 * 1024, 240 * MiB - 64 * 1024, E820_RAM},
					  IOAPIC,
					  LAPIC};
	expect_entries(&m, want, 7);
	assert_int_equal(e820_ram_total(&m), 256 * MiB - LEGACY_HOLE - 64 * 1024);
}

static void test_add_covers_several(void **state)
{
	struct e820_map m;
	build_for(&m, 256 * MiB);
	/* Spans the end of low RAM, the legacy area and the start of RAM above 1 MiB; it merges
	 * with the reserved legacy entry it swallows. */
	assert_int_equal(e820_add(&m, 0x90000, 0x200000 - 0x90000, E820_RESERVED), 0);
	const struct e820_entry want[] = {{0, 0x90000, E820_RAM},
					  {0x90000, 0x200000 - 0x90000, E820_RESERVED},
					  {0x200000, 254 * MiB, E820_RAM},
					  IOAPIC,
					  LAPIC};
	expect_entries(&m, want, 5);
	expect_sorted_disjoint(&m);
}

static void test_add_later_type_wins(void **state)
{
	struct e820_map m;
	build_for(&m, 256 * MiB);
	/* RAM over the legacy hole joins the RAM on both sides. */
	assert_int_equal(e820_add(&m, 0x9FC00, LEGACY_HOLE, E820_RAM), 0);
	const struct e820_entry want[] = {{0, 256 * MiB, E820_RAM}, IOAPIC, LAPIC};
	expect_entries(&m, want, 3);
	assert_int_equal(e820_ram_total(&m), 256 * MiB);
	/* And the same range as reserved again splits it back. */
	assert_int_equal(e820_add(&m, 0x9FC00, LEGACY_HOLE, E820_RESERVED), 0);
	const struct e820_entry back[] = {
	    LOW_RAM, LEGACY, {0x100000, 255 * MiB, E820_RAM}, IOAPIC, LAPIC};
	expect_entries(&m, back, 5);
}

static void test_add_sorts(void **state)
{
	struct e820_map m = {0};
	assert_int_equal(e820_add(&m, 0x300000, 0x1000, E820_RAM), 0);
	assert_int_equal(e820_add(&m, 0x100000, 0x1000, E820_ACPI), 0);
	assert_int_equal(e820_add(&m, 0x200000, 0x1000, E820_RESERVED), 0);
	const struct e820_entry want[] = {{0x100000, 0x1000, E820_ACPI},
					  {0x200000, 0x1000, E820_RESERVED},
					  {0x300000, 0x1000, E820_RAM}};
	expect_entries(&m, want, 3);
	/* Overlapping the tail of one entry and the head of the next. */
	assert_int_equal(e820_add(&m, 0x200800, 0x100000, E820_RAM), 0);
	const struct e820_entry want2[] = {{0x100000, 0x1000, E820_ACPI},
					   {0x200000, 0x800, E820_RESERVED},
					   {0x200800, 0x100800, E820_RAM}};
	expect_entries(&m, want2, 3);
	assert_int_equal(e820_ram_total(&m), 0x100800);
}

static void test_add_invalid(void **state)
{
	struct e820_map m;
	build_for(&m, 256 * MiB);
	struct e820_map before = m;
	assert_int_equal(e820_add(&m, 0x1000, 0, E820_RAM), -EINVAL);
	assert_int_equal(e820_add(&m, UINT64_MAX - 10, 0x1000, E820_RAM), -EINVAL);
	assert_int_equal(e820_add(&m, 0x1000, 0x1000, 0), -EINVAL);
	assert_memory_equal(&m, &before, sizeof(m));
}

static void fill_full(struct e820_map *m)
{
	memset(m, 0, sizeof(*m));
	/* Alternating types, so nothing merges. */
	for (int i = 0; i < E820_MAX; i++)
		assert_int_equal(
		    e820_add(m, (uint64_t)i * 0x2000, 0x1000, i % 2 ? E820_RESERVED : E820_RAM), 0);
	assert_int_equal(m->n, E820_MAX);
}

static void test_add_enospc(void **state)
{
	struct e820_map m;
	fill_full(&m);
	struct e820_map before = m;
	/* A new disjoint entry and a split of an existing one both need a 33rd slot. */
	assert_int_equal(e820_add(&m, 0x100000, 0x1000, E820_RAM), -ENOSPC);
	assert_int_equal(e820_add(&m, 0x400, 0x100, E820_ACPI), -ENOSPC);
	assert_memory_equal(&m, &before, sizeof(m));
	/* Replacing an entry exactly needs no new slot. */
	assert_int_equal(e820_add(&m, 0x2000, 0x1000, E820_ACPI), 0);
	assert_int_equal(m.n, E820_MAX);
	assert_int_equal(m.e[1].type, E820_ACPI);
	/* Covering three entries with one frees slots. */
	assert_int_equal(e820_add(&m, 0x4000, 0x5000, E820_ACPI), 0);
	assert_int_equal(m.n, E820_MAX - 2);
	expect_sorted_disjoint(&m);
}

static void test_ram_total_counts_only_ram(void **state)
{
	struct e820_map m = {0};
	assert_int_equal(e820_ram_total(&m), 0);
	assert_int_equal(e820_add(&m, 0, 0x1000, E820_RAM), 0);
	assert_int_equal(e820_add(&m, 0x10000, 0x3000, E820_ACPI), 0);
	assert_int_equal(e820_add(&m, 0x100000, 0x5000, E820_RAM), 0);
	assert_int_equal(e820_add(&m, 0x200000, 0x7000, E820_RESERVED), 0);
	assert_int_equal(e820_ram_total(&m), 0x6000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_layout_256m),
	    cmocka_unit_test(test_layout_3g),
	    cmocka_unit_test(test_layout_4g),
	    cmocka_unit_test(test_layout_8g),
	    cmocka_unit_test(test_add_splits_entry),
	    cmocka_unit_test(test_add_covers_several),
	    cmocka_unit_test(test_add_later_type_wins),
	    cmocka_unit_test(test_add_sorts),
	    cmocka_unit_test(test_add_invalid),
	    cmocka_unit_test(test_add_enospc),
	    cmocka_unit_test(test_ram_total_counts_only_ram),
	};
	return cmocka_run_group_tests_name("e820", tests, NULL, NULL);
}
