/* SPDX-License-Identifier: BSD-2-Clause */
/* AML byte-code writer (ACPI 6.3 chapter 20 encodings, chapter 6.4 resource descriptors). */
#include "acpi/aml.h"

#include <errno.h>
#include <string.h>

enum {
	AML_ZERO_OP = 0x00,
	AML_ONE_OP = 0x01,
	AML_NAME_OP = 0x08,
	AML_BYTE_PREFIX = 0x0A,
	AML_WORD_PREFIX = 0x0B,
	AML_DWORD_PREFIX = 0x0C,
	AML_STRING_PREFIX = 0x0D,
	AML_QWORD_PREFIX = 0x0E,
	AML_SCOPE_OP = 0x10,
	AML_BUFFER_OP = 0x11,
	AML_PACKAGE_OP = 0x12,
	AML_METHOD_OP = 0x14,
	AML_DUAL_NAME_PREFIX = 0x2E,
	AML_MULTI_NAME_PREFIX = 0x2F,
	AML_EXT_OP_PREFIX = 0x5B,
	AML_EXT_DEVICE_OP = 0x82,
	AML_ROOT_CHAR = '\\',
	AML_PARENT_PREFIX = '^',
	AML_RETURN_OP = 0xA4,
	AML_NULL_NAME = 0x00,
};

/* Resource descriptor tags and address-space descriptor fields. */
enum {
	RS_IRQ_NOFLAGS = 0x22, /* small, type 4, length 2 */
	RS_IO = 0x47,	       /* small, type 8, length 7 */
	RS_END_TAG = 0x79,     /* small, type 15, length 1 */
	RS_DWORD_ADDR = 0x87,
	RS_WORD_ADDR = 0x88,
	RS_QWORD_ADDR = 0x8A,

	RS_TYPE_MEMORY = 0,
	RS_TYPE_IO = 1,
	RS_TYPE_BUS = 2,
	/* General flags: bit 3 _MAF, bit 2 _MIF, bit 1 _DEC (0 = positive), bit 0 = 0: producer. */
	RS_GEN_PRODUCER_FIXED = 0x0C,
	RS_MEM_READWRITE = 0x01, /* _RW; _MEM is in bits 2:1 */
	RS_IO_ENTIRE_RANGE = 0x03,
	RS_IO_DECODE16 = 0x01,
};

/* Largest PkgLength value for an encoding of 1, 2, 3 and 4 bytes. */
static const uint32_t pkglen_limit[4] = {0x3F, 0xFFF, 0xFFFFF, AML_PKGLEN_MAX};

static void fail(struct aml *a, int err)
{
	if (!a->err)
		a->err = err;
}

/* True when n more bytes fit; otherwise records -ENOSPC. */
static bool room(struct aml *a, size_t n)
{
	if (a->err)
		return false;
	if (n > a->cap - a->len) {
		fail(a, -ENOSPC);
		return false;
	}
	return true;
}

static void put_le(uint8_t *dst, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = (uint8_t)(v >> (8 * i));
}

void aml_init(struct aml *a, uint8_t *buf, size_t cap)
{
	a->buf = buf;
	a->cap = buf ? cap : 0;
	a->len = 0;
	a->err = 0;
}

size_t aml_pkglen_encode(uint32_t value, uint8_t out[4])
{
	size_t follow;

	if (value <= pkglen_limit[0]) {
		out[0] = (uint8_t)value;
		return 1;
	}
	if (value > AML_PKGLEN_MAX)
		return 0;
	follow = value <= pkglen_limit[1] ? 1 : value <= pkglen_limit[2] ? 2 : 3;
	/* Lead byte: bits 7:6 = number of following bytes, bits 3:0 = low nibble. */
	out[0] = (uint8_t)((follow << 6) | (value & 0x0F));
	for (size_t i = 1; i <= follow; i++)
		out[i] = (uint8_t)(value >> (4 + 8 * (i - 1)));
	return follow + 1;
}

void aml_bytes(struct aml *a, const void *p, size_t n)
{
	if (!room(a, n))
		return;
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

static void aml_byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

static bool seg_char_ok(char c, bool lead)
{
	if ((c >= 'A' && c <= 'Z') || c == '_')
		return true;
	return !lead && c >= '0' && c <= '9';
}

void aml_namestring(struct aml *a, const char *path)
{
	const char *p, *s;
	size_t nprefix = 0, nseg = 0, total;

	if (a->err)
		return;
	if (!path) {
		fail(a, -EINVAL);
		return;
	}
	p = path;
	if (*p == AML_ROOT_CHAR) {
		p++;
		nprefix = 1;
	} else {
		while (*p == AML_PARENT_PREFIX) {
			p++;
			nprefix++;
		}
	}
	/* Validate: 1-4 character segments separated by dots. */
	for (s = p; *s;) {
		size_t n = 0;

		while (s[n] && s[n] != '.') {
			if (n >= 4 || !seg_char_ok(s[n], n == 0)) {
				fail(a, -EINVAL);
				return;
			}
			n++;
		}
		if (n == 0 || (s[n] == '.' && !s[n + 1])) {
			fail(a, -EINVAL);
			return;
		}
		nseg++;
		s += n + (s[n] == '.');
	}
	if (nseg > 255) {
		fail(a, -EINVAL);
		return;
	}

	if (nseg == 0)
		total = 1;
	else if (nseg == 1)
		total = 4;
	else if (nseg == 2)
		total = 1 + 8;
	else
		total = 2 + 4 * nseg;
	if (!room(a, nprefix + total))
		return;

	aml_bytes(a, path, nprefix); /* '\' or the '^' run, as written */
	if (nseg == 0) {
		aml_byte(a, AML_NULL_NAME);
		return;
	}
	if (nseg == 2) {
		aml_byte(a, AML_DUAL_NAME_PREFIX);
	} else if (nseg > 2) {
		aml_byte(a, AML_MULTI_NAME_PREFIX);
		aml_byte(a, (uint8_t)nseg);
	}
	for (s = p; *s;) {
		uint8_t seg[4] = {'_', '_', '_', '_'};
		size_t n = 0;

		while (s[n] && s[n] != '.') {
			seg[n] = (uint8_t)s[n];
			n++;
		}
		aml_bytes(a, seg, 4);
		s += n + (s[n] == '.');
	}
}

/* Integer constant encoding, smallest form; returns its size (1-9). */
static size_t integer_encode(uint64_t v, uint8_t out[9])
{
	if (v == 0) {
		out[0] = AML_ZERO_OP;
		return 1;
	}
	if (v == 1) {
		out[0] = AML_ONE_OP;
		return 1;
	}
	if (v <= 0xFF) {
		out[0] = AML_BYTE_PREFIX;
		out[1] = (uint8_t)v;
		return 2;
	}
	if (v <= 0xFFFF) {
		out[0] = AML_WORD_PREFIX;
		put_le(out + 1, v, 2);
		return 3;
	}
	if (v <= 0xFFFFFFFF) {
		out[0] = AML_DWORD_PREFIX;
		put_le(out + 1, v, 4);
		return 5;
	}
	out[0] = AML_QWORD_PREFIX;
	put_le(out + 1, v, 8);
	return 9;
}

void aml_integer(struct aml *a, uint64_t v)
{
	uint8_t enc[9];

	aml_bytes(a, enc, integer_encode(v, enc));
}

void aml_string(struct aml *a, const char *s)
{
	size_t n;

	if (a->err)
		return;
	if (!s) {
		fail(a, -EINVAL);
		return;
	}
	n = strlen(s);
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)s[i] > 0x7F) {
			fail(a, -EINVAL);
			return;
		}
	}
	if (!room(a, n + 2))
		return;
	aml_byte(a, AML_STRING_PREFIX);
	aml_bytes(a, s, n + 1); /* with the NUL terminator */
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void aml_eisaid(struct aml *a, const char *id)
{
	uint32_t v = 0;
	uint8_t enc[5];

	if (a->err)
		return;
	if (!id || strlen(id) != 7) {
		fail(a, -EINVAL);
		return;
	}
	/* Three letters of 5 bits each ('A' = 1), then four hex digits; stored big-endian. */
	for (int i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z') {
			fail(a, -EINVAL);
			return;
		}
		v |= (uint32_t)(id[i] - 0x40) << (26 - 5 * i);
	}
	for (int i = 3; i < 7; i++) {
		int d = hex_digit(id[i]);

		if (d < 0) {
			fail(a, -EINVAL);
			return;
		}
		v |= (uint32_t)d << (4 * (6 - i));
	}
	enc[0] = AML_DWORD_PREFIX;
	enc[1] = (uint8_t)(v >> 24);
	enc[2] = (uint8_t)(v >> 16);
	enc[3] = (uint8_t)(v >> 8);
	enc[4] = (uint8_t)v;
	aml_bytes(a, enc, sizeof(enc));
}

void aml_name(struct aml *a, const char *path)
{
	aml_byte(a, AML_NAME_OP);
	aml_namestring(a, path);
}

void aml_name_integer(struct aml *a, const char *path, uint64_t v)
{
	aml_name(a, path);
	aml_integer(a, v);
}

void aml_name_eisaid(struct aml *a, const char *path, const char *id)
{
	aml_name(a, path);
	aml_eisaid(a, id);
}

void aml_return(struct aml *a)
{
	aml_byte(a, AML_RETURN_OP);
}

size_t aml_scope_begin(struct aml *a, const char *path)
{
	size_t mark;

	aml_byte(a, AML_SCOPE_OP);
	mark = a->len;
	aml_namestring(a, path);
	return mark;
}

size_t aml_device_begin(struct aml *a, const char *path)
{
	static const uint8_t op[2] = {AML_EXT_OP_PREFIX, AML_EXT_DEVICE_OP};
	size_t mark;

	aml_bytes(a, op, sizeof(op));
	mark = a->len;
	aml_namestring(a, path);
	return mark;
}

size_t aml_method_begin(struct aml *a, const char *path, unsigned nargs, bool serialized)
{
	size_t mark;

	if (nargs > 7)
		fail(a, -EINVAL);
	aml_byte(a, AML_METHOD_OP);
	mark = a->len;
	aml_namestring(a, path);
	/* MethodFlags: bits 2:0 ArgCount, bit 3 SerializeFlag, bits 7:4 SyncLevel. */
	aml_byte(a, (uint8_t)((nargs & 7) | (serialized ? 0x08 : 0)));
	return mark;
}

size_t aml_package_begin(struct aml *a, unsigned nelems)
{
	size_t mark;

	if (nelems > 255)
		fail(a, -EINVAL);
	aml_byte(a, AML_PACKAGE_OP);
	mark = a->len;
	aml_byte(a, (uint8_t)nelems);
	return mark;
}

/* Insert a PkgLength, followed by `extra` bytes, in front of the body that starts at mark. */
static void close_pkg(struct aml *a, size_t mark, const uint8_t *extra, size_t nextra)
{
	uint8_t hdr[4 + 9];
	size_t inner, k;

	if (a->err)
		return;
	if (mark > a->len || nextra > 9) {
		fail(a, -EINVAL);
		return;
	}
	/* The PkgLength counts itself: take the smallest encoding the total fits in. */
	inner = a->len - mark + nextra;
	for (k = 1; k <= 4; k++)
		if (inner + k <= pkglen_limit[k - 1])
			break;
	if (k > 4) {
		fail(a, -EINVAL);
		return;
	}
	if (aml_pkglen_encode((uint32_t)(inner + k), hdr) != k) {
		fail(a, -EINVAL);
		return;
	}
	if (nextra)
		memcpy(hdr + k, extra, nextra);
	if (!room(a, k + nextra))
		return;
	memmove(a->buf + mark + k + nextra, a->buf + mark, a->len - mark);
	memcpy(a->buf + mark, hdr, k + nextra);
	a->len += k + nextra;
}

void aml_end(struct aml *a, size_t mark)
{
	close_pkg(a, mark, NULL, 0);
}

size_t aml_buffer_begin(struct aml *a)
{
	aml_byte(a, AML_BUFFER_OP);
	return a->len;
}

void aml_buffer_end(struct aml *a, size_t mark)
{
	uint8_t size[9];

	if (a->err)
		return;
	if (mark > a->len) {
		fail(a, -EINVAL);
		return;
	}
	/* DefBuffer := BufferOp PkgLength BufferSize ByteList */
	close_pkg(a, mark, size, integer_encode(a->len - mark, size));
}

/* Word/DWord/QWord address-space descriptor of `width` bytes per field. */
static void rs_address(struct aml *a, uint8_t tag, size_t width, uint8_t type, uint8_t type_flags,
		       uint64_t min, uint64_t max)
{
	uint8_t d[6 + 5 * 8];
	size_t body = 3 + 5 * width; /* bytes after the 3-byte tag + length header */
	uint8_t *f = d + 6;

	if (a->err)
		return;
	if (max < min) {
		fail(a, -EINVAL);
		return;
	}
	d[0] = tag;
	put_le(d + 1, body, 2);
	d[3] = type;
	d[4] = RS_GEN_PRODUCER_FIXED;
	d[5] = type_flags;
	put_le(f, 0, width);		   /* _GRA: 0 for a fixed-size, fixed-location range */
	put_le(f + width, min, width);	   /* _MIN */
	put_le(f + 2 * width, max, width); /* _MAX */
	put_le(f + 3 * width, 0, width);   /* _TRA */
	put_le(f + 4 * width, max - min + 1, width); /* _LEN */
	aml_bytes(a, d, 3 + body);
}

void aml_rs_word_bus(struct aml *a, uint16_t min, uint16_t max)
{
	rs_address(a, RS_WORD_ADDR, 2, RS_TYPE_BUS, 0, min, max);
}

void aml_rs_word_io(struct aml *a, uint16_t min, uint16_t max)
{
	rs_address(a, RS_WORD_ADDR, 2, RS_TYPE_IO, RS_IO_ENTIRE_RANGE, min, max);
}

void aml_rs_dword_io(struct aml *a, uint32_t min, uint32_t max)
{
	rs_address(a, RS_DWORD_ADDR, 4, RS_TYPE_IO, RS_IO_ENTIRE_RANGE, min, max);
}

static uint8_t mem_flags(struct aml *a, enum aml_mem_attr attr)
{
	if ((unsigned)attr > AML_MEM_PREFETCHABLE)
		fail(a, -EINVAL);
	return (uint8_t)(RS_MEM_READWRITE | ((unsigned)attr & 3) << 1);
}

void aml_rs_dword_memory(struct aml *a, enum aml_mem_attr attr, uint32_t min, uint32_t max)
{
	rs_address(a, RS_DWORD_ADDR, 4, RS_TYPE_MEMORY, mem_flags(a, attr), min, max);
}

void aml_rs_qword_memory(struct aml *a, enum aml_mem_attr attr, uint64_t min, uint64_t max)
{
	/* The length of the full 64-bit space does not fit the _LEN field. */
	if (min == 0 && max == UINT64_MAX)
		fail(a, -EINVAL);
	rs_address(a, RS_QWORD_ADDR, 8, RS_TYPE_MEMORY, mem_flags(a, attr), min, max);
}

void aml_rs_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align, uint8_t length)
{
	uint8_t d[8];

	if (max < min) {
		fail(a, -EINVAL);
		return;
	}
	d[0] = RS_IO;
	d[1] = RS_IO_DECODE16;
	put_le(d + 2, min, 2);
	put_le(d + 4, max, 2);
	d[6] = align;
	d[7] = length;
	aml_bytes(a, d, sizeof(d));
}

void aml_rs_irq_noflags(struct aml *a, uint16_t mask)
{
	uint8_t d[3] = {RS_IRQ_NOFLAGS, (uint8_t)mask, (uint8_t)(mask >> 8)};

	aml_bytes(a, d, sizeof(d));
}

void aml_rs_end_tag(struct aml *a)
{
	uint8_t d[2] = {RS_END_TAG, 0};

	aml_bytes(a, d, sizeof(d));
}
