/* SPDX-License-Identifier: BSD-2-Clause */
/* Guest RAM (src/core/guestmem.c): placed at a 2 MiB-aligned host address, so that KVM can map it
 * with huge pages, with nothing of the alignment slack left mapped; the low/high split and the
 * bounds of gm_ptr. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/guestmem.h"

#define MiB (1ULL << 20)

/* The mapping of /proc/self/maps that holds addr: its start and end, or 0 when none. */
static int mapping_of(uintptr_t addr, uintptr_t *start, uintptr_t *end)
{
	FILE *f = fopen("/proc/self/maps", "r");
	assert_non_null(f);
	char line[512];
	int found = 0;
	while (!found && fgets(line, sizeof(line), f)) {
		uintptr_t s, e;
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &s, &e) == 2 && s <= addr && addr < e) {
			*start = s;
			*end = e;
			found = 1;
		}
	}
	fclose(f);
	return found;
}

static void test_aligned_and_trimmed(void **state)
{
	/* a few sizes, odd ones too: each at a 2 MiB boundary, mapped exactly */
	const uint64_t sizes[] = {256 * MiB, 3 * MiB, 130 * MiB + 4096, 4096};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct guestmem gm;
		assert_int_equal(guestmem_init(&gm, sizes[i], false), 0);
		uintptr_t h = (uintptr_t)gm.host;
		assert_int_equal(h % GM_HUGE_ALIGN, 0);
		uintptr_t s, e;
		assert_true(mapping_of(h, &s, &e));
		/* its own mapping; below it at most the alignment's slack, reserved */
		assert_int_equal(s, h);
		assert_true(gm.guard < GM_HUGE_ALIGN);
		if (gm.guard) {
			assert_true(mapping_of(h - 1, &s, &e));
			assert_int_equal(e, h);
			assert_true(s <= h - gm.guard);
		}
		assert_true(mapping_of(h + sizes[i] - 1, &s, &e));
		assert_int_equal(e, h + sizes[i]);
		/* and the whole of it usable */
		memset(gm.host, 0xa5, 4096);
		memset(gm.host + sizes[i] - 4096, 0x5a, 4096);
		guestmem_fini(&gm);
	}
	struct guestmem gm;
	assert_int_equal(guestmem_init(&gm, 0, false), -EINVAL);
}

static void test_split_and_bounds(void **state)
{
	struct guestmem gm;
	assert_int_equal(guestmem_init(&gm, GM_LOWMEM_LIMIT + 8 * MiB, false), 0);
	assert_int_equal(gm.lowmem, GM_LOWMEM_LIMIT);
	assert_int_equal(gm.highmem, 8 * MiB);
	assert_ptr_equal(gm_ptr(&gm, 0, 16), gm.host);
	assert_ptr_equal(gm_ptr(&gm, GM_4G, 16), gm.host + GM_LOWMEM_LIMIT);
	assert_null(gm_ptr(&gm, GM_LOWMEM_LIMIT, 1));	       /* the hole below 4 GiB */
	assert_null(gm_ptr(&gm, GM_4G + 8 * MiB - 8, 16));    /* across the end */
	assert_null(gm_ptr(&gm, UINT64_MAX - 4, 16));
	assert_int_equal(gm_write(&gm, GM_4G + 100, "abc", 3), 0);
	char buf[3];
	assert_int_equal(gm_read(&gm, GM_4G + 100, buf, 3), 0);
	assert_memory_equal(buf, "abc", 3);
	guestmem_fini(&gm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_aligned_and_trimmed),
	    cmocka_unit_test(test_split_and_bounds),
	};
	return cmocka_run_group_tests_name("guestmem", tests, NULL, NULL);
}
