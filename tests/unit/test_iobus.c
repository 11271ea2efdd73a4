/* SPDX-License-Identifier: BSD-2-Clause */
/* The I/O bus and guest-memory bounds checks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "core/guestmem.h"
#include "core/iobus.h"

struct rec {
	uint64_t off;
	unsigned size;
	bool write;
	uint64_t val;
	int calls;
};

static int record(void *opaque, uint64_t off, unsigned size, bool is_write, uint64_t *val)
{
	struct rec *r = opaque;
	r->off = off;
	r->size = size;
	r->write = is_write;
	r->calls++;
	if (is_write)
		r->val = *val;
	else
		*val = 0x1234 + off;
	return 0;
}

static void test_dispatch_offsets(void **state)
{
	struct iobus bus;
	struct rec a = {0}, b = {0};
	iobus_init(&bus);
	assert_int_equal(iobus_register(&bus, IOBUS_PIO, 0x3f8, 8, record, &a, "a"), 0);
	assert_int_equal(iobus_register(&bus, IOBUS_PIO, 0x2f8, 8, record, &b, "b"), 0);
	uint64_t v = 0x55;
	assert_int_equal(iobus_dispatch(&bus, IOBUS_PIO, 0x3fd, 1, true, &v), 0);
	assert_int_equal(a.off, 5);
	assert_true(a.write);
	assert_int_equal(a.val, 0x55);
	assert_int_equal(iobus_dispatch(&bus, IOBUS_PIO, 0x2f8, 2, false, &v), 0);
	assert_int_equal(v, 0x1234);
	assert_int_equal(b.size, 2);
	/* edges: last port of a range, first port past it, below the first range */
	assert_int_equal(iobus_dispatch(&bus, IOBUS_PIO, 0x3ff, 1, false, &v), 0);
	assert_int_equal(iobus_dispatch(&bus, IOBUS_PIO, 0x400, 1, false, &v), -ENOENT);
	assert_int_equal(iobus_dispatch(&bus, IOBUS_PIO, 0x2f7, 1, false, &v), -ENOENT);
	assert_int_equal(iobus_dispatch(&bus, IOBUS_PIO, 0, 1, false, &v), -ENOENT);
	/* spaces are separate */
	assert_int_equal(iobus_dispatch(&bus, IOBUS_MMIO, 0x3f8, 1, false, &v), -ENOENT);
	iobus_fini(&bus);
}

static void test_overlap_rejected(void **state)
{
	struct iobus bus;
	struct rec a = {0};
	iobus_init(&bus);
	assert_int_equal(iobus_register(&bus, IOBUS_MMIO, 0x1000, 0x100, record, &a, "a"), 0);
	assert_int_equal(iobus_register(&bus, IOBUS_MMIO, 0x10ff, 1, record, &a, "x"), -EEXIST);
	assert_int_equal(iobus_register(&bus, IOBUS_MMIO, 0xf00, 0x101, record, &a, "x"), -EEXIST);
	assert_int_equal(iobus_register(&bus, IOBUS_MMIO, 0x1080, 0x10, record, &a, "x"), -EEXIST);
	assert_int_equal(iobus_register(&bus, IOBUS_MMIO, 0xf00, 0x100, record, &a, "ok"), 0);
	assert_int_equal(iobus_register(&bus, IOBUS_MMIO, 0x1100, 0x100, record, &a, "ok"), 0);
	/* empty and wrapping ranges */
	assert_int_equal(iobus_register(&bus, IOBUS_MMIO, 0x5000, 0, record, &a, "x"), -EINVAL);
	assert_int_equal(iobus_register(&bus, IOBUS_MMIO, UINT64_MAX - 4, 16, record, &a, "x"),
			 -EINVAL);
	/* a range ending exactly at the top of the address space is fine */
	assert_int_equal(iobus_register(&bus, IOBUS_MMIO, UINT64_MAX - 15, 16, record, &a, "top"), 0);
	uint64_t v;
	assert_int_equal(iobus_dispatch(&bus, IOBUS_MMIO, UINT64_MAX, 1, false, &v), 0);
	iobus_fini(&bus);
}

static void test_unregister_and_many(void **state)
{
	struct iobus bus;
	struct rec r = {0};
	iobus_init(&bus);
	/* more ranges than the initial capacity, registered out of order */
	for (int i = 99; i >= 0; i--)
		assert_int_equal(iobus_register(&bus, IOBUS_PIO, (uint64_t)i * 16, 8, record, &r, "r"), 0);
	uint64_t v;
	for (int i = 0; i < 100; i++) {
		assert_int_equal(iobus_dispatch(&bus, IOBUS_PIO, (uint64_t)i * 16 + 7, 1, false, &v), 0);
		assert_int_equal(iobus_dispatch(&bus, IOBUS_PIO, (uint64_t)i * 16 + 8, 1, false, &v), -ENOENT);
	}
	assert_int_equal(iobus_unregister(&bus, IOBUS_PIO, 0x30), 0);
	assert_int_equal(iobus_dispatch(&bus, IOBUS_PIO, 0x30, 1, false, &v), -ENOENT);
	assert_int_equal(iobus_unregister(&bus, IOBUS_PIO, 0x30), -ENOENT);
	assert_int_equal(iobus_unregister(&bus, IOBUS_PIO, 0x41), -ENOENT); /* not a base */
	assert_int_equal(iobus_register(&bus, IOBUS_PIO, 0x30, 8, record, &r, "again"), 0);
	iobus_fini(&bus);
}

static void test_gm_ptr_bounds(void **state)
{
	struct guestmem gm;
	uint8_t *host = calloc(1, 3 * 4096);
	/* 2 pages low, 1 page high */
	guestmem_init_from(&gm, host, 8192, 4096);
	assert_ptr_equal(gm_ptr(&gm, 0, 8192), host);
	assert_ptr_equal(gm_ptr(&gm, 8191, 1), host + 8191);
	assert_null(gm_ptr(&gm, 8191, 2));            /* crosses the end of low memory */
	assert_null(gm_ptr(&gm, 8192, 1));            /* the hole */
	assert_ptr_equal(gm_ptr(&gm, GM_4G, 4096), host + 8192);
	assert_null(gm_ptr(&gm, GM_4G + 1, 4096));    /* runs past high memory */
	assert_null(gm_ptr(&gm, GM_4G - 1, 2));       /* straddles the hole into high memory */
	assert_null(gm_ptr(&gm, UINT64_MAX, 2));      /* wraps */
	assert_null(gm_ptr(&gm, 4096, UINT64_MAX));   /* huge length */
	uint32_t v = 0xdeadbeef, w = 0;
	assert_int_equal(gm_write(&gm, GM_4G + 4092, &v, 4), 0);
	assert_int_equal(gm_read(&gm, GM_4G + 4092, &w, 4), 0);
	assert_int_equal(w, 0xdeadbeef);
	assert_int_equal(gm_write(&gm, GM_4G + 4093, &v, 4), -EFAULT);
	assert_int_equal(gm_read(&gm, 8190, &w, 4), -EFAULT);
	free(host);
}

static void test_layout(void **state)
{
	uint64_t lo, hi;
	guestmem_layout(256ULL << 20, &lo, &hi);
	assert_int_equal(lo, 256ULL << 20);
	assert_int_equal(hi, 0);
	guestmem_layout(3ULL << 30, &lo, &hi);
	assert_int_equal(lo, 3ULL << 30);
	assert_int_equal(hi, 0);
	guestmem_layout(8ULL << 30, &lo, &hi);
	assert_int_equal(lo, GM_LOWMEM_LIMIT);
	assert_int_equal(hi, (8ULL << 30) - GM_LOWMEM_LIMIT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dispatch_offsets),
		cmocka_unit_test(test_overlap_rejected),
		cmocka_unit_test(test_unregister_and_many),
		cmocka_unit_test(test_gm_ptr_bounds),
		cmocka_unit_test(test_layout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
