/* SPDX-License-Identifier: BSD-2-Clause */
/* AML writer: PkgLength, NameString, integer and resource encodings, checked against
 * byte sequences worked out by hand from the ACPI 6.3 grammar (chapter 20) and the
 * resource descriptor formats (6.4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>

#include "acpi/aml.h"

#define BYTES(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

static uint8_t out[256];

static void start(struct aml *a)
{
	memset(out, 0xEE, sizeof(out));
	aml_init(a, out, sizeof(out));
}

static void expect(const struct aml *a, const uint8_t *want, size_t n)
{
	assert_int_equal(a->err, 0);
	assert_int_equal(a->len, n);
	assert_memory_equal(a->buf, want, n);
}

/* Decode a PkgLength the way an AML interpreter does; returns its byte count. */
static size_t pkglen_decode(const uint8_t *p, uint32_t *value)
{
	size_t follow = p[0] >> 6;

	if (!follow) {
		*value = p[0] & 0x3F;
		return 1;
	}
	*value = p[0] & 0x0F;
	for (size_t i = 1; i <= follow; i++)
		*value |= (uint32_t)p[i] << (4 + 8 * (i - 1));
	return follow + 1;
}

static void check_pkglen(uint32_t value, const uint8_t *want, size_t n)
{
	uint8_t enc[4];
	uint32_t back;

	assert_int_equal(aml_pkglen_encode(value, enc), n);
	assert_memory_equal(enc, want, n);
	assert_int_equal(pkglen_decode(enc, &back), n);
	assert_int_equal(back, value);
}

static void test_pkglen_encoding_boundaries(void **state)
{
	uint8_t enc[4];

	(void)state;
	check_pkglen(0, BYTES(0x00));
	check_pkglen(0x3F, BYTES(0x3F));		       /* largest 1-byte */
	check_pkglen(0x40, BYTES(0x40, 0x04));		       /* smallest 2-byte */
	check_pkglen(0xFFF, BYTES(0x4F, 0xFF));		       /* largest 2-byte */
	check_pkglen(0x1000, BYTES(0x80, 0x00, 0x01));	       /* smallest 3-byte */
	check_pkglen(0x12345, BYTES(0x85, 0x34, 0x12));	       /* nibble + two bytes */
	check_pkglen(0xFFFFF, BYTES(0x8F, 0xFF, 0xFF));	       /* largest 3-byte */
	check_pkglen(0x100000, BYTES(0xC0, 0x00, 0x00, 0x01)); /* smallest 4-byte */
	check_pkglen(0xFFFFFFF, BYTES(0xCF, 0xFF, 0xFF, 0xFF));
	assert_int_equal(aml_pkglen_encode(0x10000000, enc), 0);
}

/* A package whose body (everything after the PkgLength) is `body` bytes: the PkgLength
 * counts itself, so the encoding grows one byte earlier than the body alone suggests. */
static void check_body(size_t body, size_t want_k)
{
	size_t cap = body + 16;
	uint8_t *buf = malloc(cap);
	struct aml a;
	uint32_t value;
	size_t mark, k;

	assert_non_null(buf);
	aml_init(&a, buf, cap);
	mark = aml_scope_begin(&a, "\\"); /* ScopeOp, then RootChar NullName: 2 body bytes */
	for (size_t i = 2; i < body; i++) {
		uint8_t b = (uint8_t)(i * 7);
		aml_bytes(&a, &b, 1);
	}
	aml_end(&a, mark);
	assert_int_equal(a.err, 0);
	assert_int_equal(mark, 1);
	k = pkglen_decode(buf + 1, &value);
	assert_int_equal(k, want_k);
	assert_int_equal(value, body + k);
	assert_int_equal(a.len, 1 + k + body);
	/* The body moved intact behind the PkgLength. */
	assert_int_equal(buf[0], 0x10);
	assert_int_equal(buf[1 + k], 0x5C);
	assert_int_equal(buf[2 + k], 0x00);
	for (size_t i = 2; i < body; i++)
		assert_int_equal(buf[1 + k + i], (uint8_t)(i * 7));
	free(buf);
}

static void test_pkglen_of_package_bodies(void **state)
{
	(void)state;
	check_body(2, 1);
	check_body(62, 1);	/* 62 + 1 = 63 */
	check_body(63, 2);	/* 63 + 1 = 64 does not fit one byte */
	check_body(4093, 2);	/* 4093 + 2 = 0xFFF */
	check_body(4094, 3);	/* 4094 + 2 = 0x1000 */
	check_body(1048572, 3); /* 1048572 + 3 = 0xFFFFF */
	check_body(1048573, 4);
}

static void check_name(const char *path, const uint8_t *want, size_t n)
{
	struct aml a;

	start(&a);
	aml_namestring(&a, path);
	expect(&a, want, n);
}

static void test_namestring_forms(void **state)
{
	(void)state;
	check_name("_HID", BYTES('_', 'H', 'I', 'D'));
	check_name("PCI", BYTES('P', 'C', 'I', '_')); /* padded */
	check_name("A", BYTES('A', '_', '_', '_'));
	check_name("\\_SB", BYTES('\\', '_', 'S', 'B', '_'));
	check_name("\\", BYTES('\\', 0x00)); /* root: RootChar NullName */
	check_name("", BYTES(0x00));
	check_name("\\_SB.PCI0", BYTES('\\', 0x2E, '_', 'S', 'B', '_', 'P', 'C', 'I', '0'));
	check_name("_SB.PCI0.ISA",
		   BYTES(0x2F, 3, '_', 'S', 'B', '_', 'P', 'C', 'I', '0', 'I', 'S', 'A', '_'));
	check_name("^^FOO", BYTES('^', '^', 'F', 'O', 'O', '_'));
	check_name("^S1.C2", BYTES('^', 0x2E, 'S', '1', '_', '_', 'C', '2', '_', '_'));
}

static void test_namestring_rejects_bad_names(void **state)
{
	static const char *const bad[] = {"abc", "HELLO", "1ABC", "A..B",      "A.",
					  ".A",	 "A-B",	  "\\^A", "_SB.PCI0.", NULL};
	struct aml a;

	(void)state;
	for (int i = 0; i < (int)(sizeof(bad) / sizeof(bad[0])); i++) {
		start(&a);
		aml_namestring(&a, bad[i]);
		assert_int_equal(a.err, -EINVAL);
		assert_int_equal(a.len, 0);
	}
}

static void check_int(uint64_t v, const uint8_t *want, size_t n)
{
	struct aml a;

	start(&a);
	aml_integer(&a, v);
	expect(&a, want, n);
}

static void test_integer_smallest_prefix(void **state)
{
	(void)state;
	check_int(0, BYTES(0x00)); /* ZeroOp */
	check_int(1, BYTES(0x01)); /* OneOp */
	check_int(2, BYTES(0x0A, 0x02));
	check_int(0xFF, BYTES(0x0A, 0xFF));
	check_int(0x100, BYTES(0x0B, 0x00, 0x01));
	check_int(0xFFFF, BYTES(0x0B, 0xFF, 0xFF));
	check_int(0x10000, BYTES(0x0C, 0x00, 0x00, 0x01, 0x00));
	check_int(0xFFFFFFFF, BYTES(0x0C, 0xFF, 0xFF, 0xFF, 0xFF));
	check_int(0x100000000ull, BYTES(0x0E, 0, 0, 0, 0, 1, 0, 0, 0));
	check_int(0x0123456789ABCDEFull,
		  BYTES(0x0E, 0xEF, 0xCD, 0xAB, 0x89, 0x67, 0x45, 0x23, 0x01));
	check_int(UINT64_MAX, BYTES(0x0E, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF));
}

static void test_string_and_eisaid(void **state)
{
	struct aml a;

	(void)state;
	start(&a);
	aml_string(&a, "PCI");
	expect(&a, BYTES(0x0D, 'P', 'C', 'I', 0x00));

	/* EISA ID: 'P'-0x40 = 0x10, 'N' = 0x0E, 'P' = 0x10 -> 0100 0001 1101 0000 = 41 D0,
	 * then the product 0A03, stored most significant byte first. */
	start(&a);
	aml_eisaid(&a, "PNP0A03");
	expect(&a, BYTES(0x0C, 0x41, 0xD0, 0x0A, 0x03));
	start(&a);
	aml_eisaid(&a, "PNP0C0C");
	expect(&a, BYTES(0x0C, 0x41, 0xD0, 0x0C, 0x0C));

	start(&a);
	aml_eisaid(&a, "pnp0a03");
	assert_int_equal(a.err, -EINVAL);
	start(&a);
	aml_eisaid(&a, "PNP0A0");
	assert_int_equal(a.err, -EINVAL);
	start(&a);
	aml_eisaid(&a, "PNP0A0G");
	assert_int_equal(a.err, -EINVAL);
	start(&a);
	aml_string(&a, "\xC3\xA9");
	assert_int_equal(a.err, -EINVAL);
}

/*
 * Scope (\_SB) {
 *     Device (PCI0) {
 *         Name (_HID, EisaId ("PNP0A03"))
 *         Name (_UID, Zero)
 *         Method (_STA, 0, NotSerialized) { Return (0x0F) }
 *     }
 * }
 * Method: 14 PkgLength(9) "_STA" flags 00, A4 0A 0F.
 * Device body = "PCI0" (4) + Name _HID (10) + Name _UID (6) + Method (10) = 30 -> PkgLength 31.
 * Scope body = "\_SB_" (5) + Device (2 + 1 + 30) = 38 -> PkgLength 39.
 */
static void test_known_sequence(void **state)
{
	struct aml a;
	size_t sb, dev, m;

	(void)state;
	start(&a);
	sb = aml_scope_begin(&a, "\\_SB");
	dev = aml_device_begin(&a, "PCI0");
	aml_name_eisaid(&a, "_HID", "PNP0A03");
	aml_name_integer(&a, "_UID", 0);
	m = aml_method_begin(&a, "_STA", 0, false);
	aml_return(&a);
	aml_integer(&a, 0x0F);
	aml_end(&a, m);
	aml_end(&a, dev);
	aml_end(&a, sb);
	expect(&a, BYTES(0x10, 0x27, '\\', '_', 'S', 'B', '_',			 /* Scope */
			 0x5B, 0x82, 0x1F, 'P', 'C', 'I', '0',			 /* Device */
			 0x08, '_', 'H', 'I', 'D', 0x0C, 0x41, 0xD0, 0x0A, 0x03, /* _HID */
			 0x08, '_', 'U', 'I', 'D', 0x00,			 /* _UID */
			 0x14, 0x09, '_', 'S', 'T', 'A', 0x00, 0xA4, 0x0A, 0x0F));
}

/* Name (_S5, Package (0x04) { 5, 5, Zero, Zero }) and a serialized 2-argument method. */
static void test_package_and_method_flags(void **state)
{
	struct aml a;
	size_t pkg, m;

	(void)state;
	start(&a);
	aml_name(&a, "_S5");
	pkg = aml_package_begin(&a, 4);
	aml_integer(&a, 5);
	aml_integer(&a, 5);
	aml_integer(&a, 0);
	aml_integer(&a, 0);
	aml_end(&a, pkg);
	m = aml_method_begin(&a, "FOO", 2, true);
	aml_return(&a);
	aml_integer(&a, 1);
	aml_end(&a, m);
	expect(&a, BYTES(0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0A, 0x05, 0x0A, 0x05, 0x00,
			 0x00, 0x14, 0x08, 'F', 'O', 'O', '_', 0x0A, 0xA4, 0x01));
}

/*
 * Name (_CRS, ResourceTemplate () {
 *     WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, 0, 0xFF, 0, 0x100)
 *     IO (Decode16, 0x3F8, 0x3F8, 0x01, 0x08)
 *     IRQNoFlags () {4}
 * })
 * Descriptors 16 + 8 + 3 + end tag 2 = 29 bytes: BufferSize 0A 1D, PkgLength 1 + 2 + 29 = 32.
 */
static void test_resource_template(void **state)
{
	struct aml a;
	size_t buf;

	(void)state;
	start(&a);
	aml_name(&a, "_CRS");
	buf = aml_buffer_begin(&a);
	aml_rs_word_bus(&a, 0, 0xFF);
	aml_rs_io(&a, 0x3F8, 0x3F8, 1, 8);
	aml_rs_irq_noflags(&a, 1u << 4);
	aml_rs_end_tag(&a);
	aml_buffer_end(&a, buf);
	expect(&a, BYTES(0x08, '_', 'C', 'R', 'S', 0x11, 0x20, 0x0A, 0x1D,
			 /* Word address space: tag, length 13, type 2 (bus), flags 0x0C
			  * (MaxFixed, MinFixed, PosDecode, producer), type flags 0,
			  * _GRA, _MIN, _MAX, _TRA, _LEN */
			 0x88, 0x0D, 0x00, 0x02, 0x0C, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0x00,
			 0x00, 0x00, 0x00, 0x01,
			 /* IO: tag 0x47, Decode16, min, max, align, length */
			 0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x01, 0x08,
			 /* IRQNoFlags: tag 0x22, mask */
			 0x22, 0x10, 0x00,
			 /* End tag */
			 0x79, 0x00));
}

static void test_address_descriptors(void **state)
{
	struct aml a;

	(void)state;
	/* WordIO EntireRange (type flags 3), resource type 1 */
	start(&a);
	aml_rs_word_io(&a, 0x0D00, 0xFFFF);
	expect(&a, BYTES(0x88, 0x0D, 0x00, 0x01, 0x0C, 0x03, 0x00, 0x00, 0x00, 0x0D, 0xFF, 0xFF,
			 0x00, 0x00, 0x00, 0xF3));
	/* DWordIO: tag 0x87, length 23 */
	start(&a);
	aml_rs_dword_io(&a, 0x1000, 0x1FFF);
	expect(&a, BYTES(0x87, 0x17, 0x00, 0x01, 0x0C, 0x03, 0, 0, 0, 0, 0x00, 0x10, 0, 0, 0xFF,
			 0x1F, 0, 0, 0, 0, 0, 0, 0x00, 0x10, 0, 0));
	/* DWordMemory NonCacheable ReadWrite: type flags 0x01 */
	start(&a);
	aml_rs_dword_memory(&a, AML_MEM_NONCACHEABLE, 0xC0000000, 0xFEBFFFFF);
	expect(&a, BYTES(0x87, 0x17, 0x00, 0x00, 0x0C, 0x01, 0, 0, 0, 0, 0x00, 0x00, 0x00, 0xC0,
			 0xFF, 0xFF, 0xBF, 0xFE, 0, 0, 0, 0, 0x00, 0x00, 0xC0, 0x3E));
	/* QWordMemory Prefetchable ReadWrite: type flags 0x07, tag 0x8A, length 43 */
	start(&a);
	aml_rs_qword_memory(&a, AML_MEM_PREFETCHABLE, 0x4000000000ull, 0x4FFFFFFFFFull);
	expect(&a, BYTES(0x8A, 0x2B, 0x00, 0x00, 0x0C, 0x07, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
			 0x40, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x4F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
			 0, 0, 0, 0, 0, 0x10, 0, 0, 0));
}

/* A 70-byte buffer needs a 2-byte PkgLength: 2 + BufferSize (0A 46) + 70 = 74 = 0x4A. */
static void test_buffer_two_byte_pkglen(void **state)
{
	uint8_t data[70];
	struct aml a;
	size_t buf;

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;
	start(&a);
	buf = aml_buffer_begin(&a);
	aml_bytes(&a, data, sizeof(data));
	aml_buffer_end(&a, buf);
	assert_int_equal(a.err, 0);
	assert_int_equal(a.len, 1 + 2 + 2 + 70);
	assert_memory_equal(out, ((const uint8_t[]){0x11, 0x4A, 0x04, 0x0A, 0x46}), 5);
	assert_memory_equal(out + 5, data, sizeof(data));
}

static void test_errors_are_sticky(void **state)
{
	uint8_t small[8];
	struct aml a;
	size_t m;

	(void)state;
	memset(small, 0xEE, sizeof(small));
	aml_init(&a, small, 6);
	aml_name_integer(&a, "_UID", 0); /* 6 bytes: fits exactly */
	assert_int_equal(a.err, 0);
	assert_int_equal(a.len, 6);
	aml_integer(&a, 0); /* one byte too many */
	assert_int_equal(a.err, -ENOSPC);
	aml_integer(&a, 0);
	assert_int_equal(a.len, 6);
	assert_int_equal(small[6], 0xEE);

	/* end needs room for the PkgLength it inserts */
	memset(small, 0xEE, sizeof(small));
	aml_init(&a, small, 5);
	m = aml_scope_begin(&a, "_SB");
	assert_int_equal(a.len, 5);
	aml_end(&a, m);
	assert_int_equal(a.err, -ENOSPC);
	assert_int_equal(small[5], 0xEE);

	aml_init(&a, NULL, 100);
	aml_integer(&a, 0);
	assert_int_equal(a.err, -ENOSPC);

	start(&a);
	aml_package_begin(&a, 256);
	assert_int_equal(a.err, -EINVAL);
	start(&a);
	aml_method_begin(&a, "_STA", 8, false);
	assert_int_equal(a.err, -EINVAL);
	start(&a);
	aml_rs_word_io(&a, 0x200, 0x100);
	assert_int_equal(a.err, -EINVAL);
	start(&a);
	aml_rs_qword_memory(&a, AML_MEM_CACHEABLE, 0, UINT64_MAX);
	assert_int_equal(a.err, -EINVAL);
	start(&a);
	aml_end(&a, 10); /* mark past the end */
	assert_int_equal(a.err, -EINVAL);
	/* After an error nothing more is written. */
	aml_integer(&a, 0x1234);
	assert_int_equal(a.len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pkglen_encoding_boundaries),
	    cmocka_unit_test(test_pkglen_of_package_bodies),
	    cmocka_unit_test(test_namestring_forms),
	    cmocka_unit_test(test_namestring_rejects_bad_names),
	    cmocka_unit_test(test_integer_smallest_prefix),
	    cmocka_unit_test(test_string_and_eisaid),
	    cmocka_unit_test(test_known_sequence),
	    cmocka_unit_test(test_package_and_method_flags),
	    cmocka_unit_test(test_resource_template),
	    cmocka_unit_test(test_address_descriptors),
	    cmocka_unit_test(test_buffer_two_byte_pkglen),
	    cmocka_unit_test(test_errors_are_sticky),
	};

	return cmocka_run_group_tests_name("aml", tests, NULL, NULL);
}
