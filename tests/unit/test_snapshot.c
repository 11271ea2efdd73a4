/* SPDX-License-Identifier: BSD-2-Clause */
/* The snapshot files and the section buffer: snapbuf (values round-trip, little-endian layout,
 * short and long sections, snap_check), FILE.kern (kern_append / kern_parse / kern_find, every
 * truncation and each malformed header refused), FILE.meta (meta_format / meta_parse round trip,
 * each refusal, SHA-256), FILE (mem_save / mem_load: sparse, exact size) and vq_snapshot (a ready
 * queue round-trips; a bad size or rings outside RAM fail the section, queue not ready). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/guestmem.h"
#include "snapshot/snapbuf.h"
#include "snapshot/snapfile.h"
#include "virtio/virtqueue.h"

#define ERRLEN 256

/* ---- snapbuf ---- */

/* A copy of what s saved (the caller frees it). */
static uint8_t *saved(struct snap *s, size_t *len)
{
	char err[ERRLEN];
	assert_int_equal(snap_finish(s, err, sizeof(err)), 0);
	const void *d = snap_data(s, len);
	uint8_t *copy = malloc(*len ? *len : 1);
	assert_non_null(copy);
	if (*len)
		memcpy(copy, d, *len);
	return copy;
}

static void test_snapbuf_roundtrip(void **state)
{
	(void)state;
	uint8_t u8 = 0xA5;
	uint16_t u16 = 0xBEEF;
	uint32_t u32 = 0xDEADBEEF;
	uint64_t u64 = 0x0123456789ABCDEFULL;
	int64_t i64 = -5;
	bool t = true, f = false;
	unsigned ui = 0xFFFFFFFFu;
	int in = -123456;
	char bytes[5] = "hello";

	struct snap *s = snap_new_save("dev.a");
	assert_non_null(s);
	assert_false(snap_loading(s));
	snap_u8(s, &u8);
	snap_u16(s, &u16);
	snap_u32(s, &u32);
	snap_u64(s, &u64);
	snap_i64(s, &i64);
	snap_bool(s, &t);
	snap_bool(s, &f);
	snap_uint(s, &ui);
	snap_int(s, &in);
	snap_bytes(s, bytes, sizeof(bytes));
	assert_false(snap_failed(s));
	size_t len;
	uint8_t *data = saved(s, &len);
	snap_free(s);
	assert_int_equal(len, 1 + 2 + 4 + 8 + 8 + 1 + 1 + 4 + 4 + 5);

	uint8_t l8 = 0;
	uint16_t l16 = 0;
	uint32_t l32 = 0;
	uint64_t l64 = 0;
	int64_t li64 = 0;
	bool lt = false, lf = true;
	unsigned lui = 0;
	int lin = 0;
	char lbytes[5] = {0};
	s = snap_new_load("dev.a", data, len);
	assert_non_null(s);
	assert_true(snap_loading(s));
	snap_u8(s, &l8);
	snap_u16(s, &l16);
	snap_u32(s, &l32);
	snap_u64(s, &l64);
	snap_i64(s, &li64);
	snap_bool(s, &lt);
	snap_bool(s, &lf);
	snap_uint(s, &lui);
	snap_int(s, &lin);
	snap_bytes(s, lbytes, sizeof(lbytes));
	char err[ERRLEN] = "";
	assert_int_equal(snap_finish(s, err, sizeof(err)), 0);
	snap_free(s);
	free(data);
	assert_int_equal(l8, u8);
	assert_int_equal(l16, u16);
	assert_int_equal(l32, u32);
	assert_true(l64 == u64);
	assert_true(li64 == i64);
	assert_true(lt);
	assert_false(lf);
	assert_int_equal(lui, ui);
	assert_int_equal(lin, in);
	assert_memory_equal(lbytes, bytes, sizeof(bytes));
}

static void test_snapbuf_little_endian(void **state)
{
	(void)state;
	uint32_t v32 = 0x11223344;
	uint16_t v16 = 0xA1B2;
	uint64_t v64 = 0x0102030405060708ULL;
	int i = -2;
	struct snap *s = snap_new_save("le");
	assert_non_null(s);
	snap_u32(s, &v32);
	snap_u16(s, &v16);
	snap_u64(s, &v64);
	snap_int(s, &i);
	size_t len;
	uint8_t *d = saved(s, &len);
	snap_free(s);
	/* u32, u16, u64, int -2: each little-endian */
	static const uint8_t want[] = "\x44\x33\x22\x11"
				      "\xB2\xA1"
				      "\x08\x07\x06\x05\x04\x03\x02\x01"
				      "\xFE\xFF\xFF\xFF";
	assert_int_equal(len, sizeof(want) - 1);
	assert_memory_equal(d, want, len);
	free(d);
}

static void test_snapbuf_past_end(void **state)
{
	(void)state;
	static const uint8_t three[3] = {1, 2, 3};
	struct snap *s = snap_new_load("lpc.com1", three, sizeof(three));
	assert_non_null(s);
	uint32_t v = 0xCAFE;
	snap_u32(s, &v);
	assert_true(snap_failed(s));
	assert_int_equal(v, 0xCAFE); /* left as it was */
	uint8_t b = 7;
	snap_u8(s, &b); /* nothing more is read once the section failed */
	assert_int_equal(b, 7);
	char err[ERRLEN] = "";
	assert_int_equal(snap_finish(s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "lpc.com1"));
	assert_non_null(strstr(err, "ends early"));
	snap_free(s);
}

static void test_snapbuf_leftover(void **state)
{
	(void)state;
	static const uint8_t five[5] = {1, 2, 3, 4, 5};
	struct snap *s = snap_new_load("rtc", five, sizeof(five));
	assert_non_null(s);
	uint32_t v = 0;
	snap_u32(s, &v);
	assert_int_equal(v, 0x04030201);
	assert_false(snap_failed(s));
	char err[ERRLEN] = "";
	assert_int_equal(snap_finish(s, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "rtc: 5 bytes of state, this device takes 4");
	snap_free(s);
}

static void test_snapbuf_check(void **state)
{
	(void)state;
	/* loading: false fails the section with the first problem */
	static const uint8_t one[1] = {9};
	struct snap *s = snap_new_load("virtio.3", one, sizeof(one));
	assert_non_null(s);
	uint8_t b = 0;
	snap_u8(s, &b);
	assert_true(snap_check(s, true, "fine"));
	assert_false(snap_failed(s));
	assert_false(snap_check(s, b < 4, "queue size"));
	assert_true(snap_failed(s));
	assert_false(snap_check(s, false, "another thing"));
	char err[ERRLEN] = "";
	assert_int_equal(snap_finish(s, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "virtio.3: queue size out of range");
	snap_free(s);

	/* saving: a no-op that says true */
	s = snap_new_save("virtio.3");
	assert_non_null(s);
	snap_u8(s, &b);
	assert_true(snap_check(s, false, "queue size"));
	assert_false(snap_failed(s));
	assert_int_equal(snap_finish(s, err, sizeof(err)), 0);
	snap_free(s);

	/* snap_fail: formatted, first one kept */
	s = snap_new_load("x", one, sizeof(one));
	assert_non_null(s);
	snap_u8(s, &b);
	snap_fail(s, "mode %d unknown", 42);
	snap_fail(s, "second");
	assert_int_equal(snap_finish(s, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "x: mode 42 unknown");
	snap_free(s);
}

static void test_snapbuf_bool_two(void **state)
{
	(void)state;
	static const uint8_t two[1] = {2};
	struct snap *s = snap_new_load("b", two, sizeof(two));
	assert_non_null(s);
	bool v = true;
	snap_bool(s, &v);
	assert_true(v); /* unchanged */
	char err[ERRLEN] = "";
	assert_int_equal(snap_finish(s, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "b: a boolean out of range");
	snap_free(s);
}

/* A field of no bytes (virtio-rnd's config space: size 0, pointer NULL) saves and loads. */
static void test_snapbuf_empty_field(void **state)
{
	(void)state;
	struct snap *s = snap_new_save("virtio.rnd");
	assert_non_null(s);
	snap_bytes(s, NULL, 0); /* the very first field: no buffer yet */
	uint8_t b = 3;
	snap_u8(s, &b);
	snap_bytes(s, NULL, 0);
	size_t len;
	uint8_t *d = saved(s, &len);
	snap_free(s);
	assert_int_equal(len, 1);

	s = snap_new_load("virtio.rnd", d, len);
	assert_non_null(s);
	snap_bytes(s, NULL, 0);
	snap_u8(s, &b);
	snap_bytes(s, NULL, 0);
	char err[ERRLEN] = "";
	assert_int_equal(snap_finish(s, err, sizeof(err)), 0);
	snap_free(s);
	free(d);

	/* an empty section (no data pointer) with nothing in it */
	s = snap_new_load("empty", NULL, 0);
	assert_non_null(s);
	snap_bytes(s, NULL, 0);
	assert_int_equal(snap_finish(s, err, sizeof(err)), 0);
	snap_free(s);
}

/* A saved section grows past its first allocation. */
static void test_snapbuf_large(void **state)
{
	(void)state;
	struct snap *s = snap_new_save("big");
	assert_non_null(s);
	for (uint32_t i = 0; i < 10000; i++)
		snap_u32(s, &i);
	size_t len;
	uint8_t *d = saved(s, &len);
	snap_free(s);
	assert_int_equal(len, 40000);
	s = snap_new_load("big", d, len);
	assert_non_null(s);
	for (uint32_t i = 0; i < 10000; i++) {
		uint32_t v = 0;
		snap_u32(s, &v);
		assert_int_equal(v, i);
	}
	char err[ERRLEN];
	assert_int_equal(snap_finish(s, err, sizeof(err)), 0);
	snap_free(s);
	free(d);
}

/* ---- FILE.kern ---- */

#define KHDR 16
#define SHDR 56

struct image {
	uint8_t *buf;
	size_t len, cap;
};

static const uint8_t sec_a[20] = "twenty bytes of cpu";
static const uint8_t sec_c[13] = "thirteen byte";

static void make_image(struct image *im)
{
	memset(im, 0, sizeof(*im));
	assert_int_equal(kern_append(&im->buf, &im->len, &im->cap, "cpu.0", sec_a, sizeof(sec_a)),
			 0);
	assert_int_equal(kern_append(&im->buf, &im->len, &im->cap, "empty", NULL, 0), 0);
	assert_int_equal(
	    kern_append(&im->buf, &im->len, &im->cap, "lpc.com1", sec_c, sizeof(sec_c)), 0);
}

/* kern_parse of exactly `len` bytes in their own allocation (so ASan sees any overread). */
static int parse_exact(const uint8_t *p, size_t len, struct kern_index *idx, char *err)
{
	uint8_t *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	if (len)
		memcpy(copy, p, len);
	err[0] = '\0';
	int rc = kern_parse(copy, len, idx, err, ERRLEN);
	if (rc == 0) {
		/* the index points into the buffer: check it before freeing */
		for (uint32_t i = 0; i < idx->count; i++) {
			assert_true(idx->sec[i].data == copy + idx->sec[i].offset);
			assert_true(idx->sec[i].offset + idx->sec[i].len <= len);
		}
	} else {
		assert_int_equal(idx->count, 0);
		assert_null(idx->sec);
		assert_true(err[0] != '\0');
	}
	free(copy);
	return rc;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void test_kern_roundtrip(void **state)
{
	(void)state;
	struct image im;
	make_image(&im);
	/* header, then 56 + 24 (20 padded), 56 + 0, 56 + 16 (13 padded) */
	assert_int_equal(im.len, KHDR + SHDR + 24 + SHDR + SHDR + 16);
	assert_memory_equal(im.buf, "KBHYVEK1\1\0\0\0\3\0\0\0", KHDR);

	struct kern_index idx;
	char err[ERRLEN] = "";
	assert_int_equal(kern_parse(im.buf, im.len, &idx, err, sizeof(err)), 0);
	assert_int_equal(idx.version, 1);
	assert_int_equal(idx.count, 3);
	assert_string_equal(idx.sec[0].name, "cpu.0");
	assert_string_equal(idx.sec[1].name, "empty");
	assert_string_equal(idx.sec[2].name, "lpc.com1");
	assert_int_equal(idx.sec[0].len, 20);
	assert_int_equal(idx.sec[1].len, 0);
	assert_int_equal(idx.sec[2].len, 13);
	assert_int_equal(idx.sec[0].offset, KHDR + SHDR);
	assert_int_equal(idx.sec[1].offset, KHDR + SHDR + 24 + SHDR);
	assert_int_equal(idx.sec[2].offset, KHDR + SHDR + 24 + SHDR + SHDR);
	for (int i = 0; i < 3; i++)
		assert_true(idx.sec[i].data == im.buf + idx.sec[i].offset);
	assert_memory_equal(idx.sec[0].data, sec_a, sizeof(sec_a));
	assert_memory_equal(idx.sec[2].data, sec_c, sizeof(sec_c));
	/* padding is zero */
	for (size_t k = 20; k < 24; k++)
		assert_int_equal(idx.sec[0].data[k], 0);
	for (size_t k = 13; k < 16; k++)
		assert_int_equal(idx.sec[2].data[k], 0);

	assert_ptr_equal(kern_find(&idx, "lpc.com1"), &idx.sec[2]);
	assert_ptr_equal(kern_find(&idx, "empty"), &idx.sec[1]);
	assert_ptr_equal(kern_find(&idx, "cpu.0"), &idx.sec[0]);
	assert_null(kern_find(&idx, "lpc.com"));
	assert_null(kern_find(&idx, "lpc.com12"));
	assert_null(kern_find(&idx, ""));
	kern_index_free(&idx);
	assert_int_equal(idx.count, 0);
	assert_null(idx.sec);
	free(im.buf);
}

static void test_kern_empty_and_names(void **state)
{
	(void)state;
	struct image im = {0};
	char name48[49];
	memset(name48, 'n', 48);
	name48[48] = '\0';
	char name49[50];
	memset(name49, 'n', 49);
	name49[49] = '\0';
	assert_int_equal(kern_append(&im.buf, &im.len, &im.cap, "", "x", 1), -EINVAL);
	assert_int_equal(kern_append(&im.buf, &im.len, &im.cap, name49, "x", 1), -EINVAL);
	assert_int_equal(im.len, 0);
	assert_int_equal(kern_append(&im.buf, &im.len, &im.cap, name48, "x", 1), 0);
	struct kern_index idx;
	char err[ERRLEN];
	assert_int_equal(kern_parse(im.buf, im.len, &idx, err, sizeof(err)), 0);
	assert_int_equal(idx.count, 1);
	assert_string_equal(idx.sec[0].name, name48);
	assert_non_null(kern_find(&idx, name48));
	kern_index_free(&idx);
	free(im.buf);

	/* a header with no sections is a valid (empty) image */
	static const uint8_t hdr[KHDR] = "KBHYVEK1\1\0\0\0\0\0\0\0";
	assert_int_equal(parse_exact(hdr, sizeof(hdr), &idx, err), 0);
	assert_int_equal(idx.count, 0);
	assert_null(kern_find(&idx, "rtc"));
	kern_index_free(&idx);
	/* and no bytes at all is not */
	assert_int_equal(kern_parse(NULL, 0, &idx, err, sizeof(err)), -EINVAL);
}

static void test_kern_truncations(void **state)
{
	(void)state;
	struct image im;
	make_image(&im);
	struct kern_index idx;
	char err[ERRLEN];
	for (size_t l = 0; l < im.len; l++)
		assert_int_equal(parse_exact(im.buf, l, &idx, err), -EINVAL);
	/* and with one more section claimed: a cut in the last padding must not make the parser
	 * look past the end for it */
	put32(im.buf + 12, 4);
	for (size_t l = KHDR; l < im.len; l++)
		assert_int_equal(parse_exact(im.buf, l, &idx, err), -EINVAL);
	put32(im.buf + 12, 3);
	assert_int_equal(parse_exact(im.buf, im.len, &idx, err), 0);
	kern_index_free(&idx);
	free(im.buf);
}

/* The image with one change; kern_parse must refuse it with a message containing `want`. */
static void refused(const uint8_t *p, size_t len, const char *want)
{
	struct kern_index idx;
	char err[ERRLEN];
	assert_int_equal(parse_exact(p, len, &idx, err), -EINVAL);
	if (!strstr(err, want))
		fail_msg("message \"%s\" lacks \"%s\"", err, want);
}

static void test_kern_malformed(void **state)
{
	(void)state;
	struct image im;
	make_image(&im);
	uint8_t *b = malloc(im.len + 64);
	assert_non_null(b);
	const size_t sec2 = KHDR + SHDR + 24 + SHDR; /* header of the third section */

	/* duplicated name: the third section renamed after the first */
	memcpy(b, im.buf, im.len);
	memset(b + sec2, 0, SNAPFILE_NAME_LEN);
	memcpy(b + sec2, "cpu.0", 5);
	refused(b, im.len, "cpu.0 twice");

	/* bad magic */
	memcpy(b, im.buf, im.len);
	b[7] = '2';
	refused(b, im.len, "KBHYVEK1");

	/* version 2 */
	memcpy(b, im.buf, im.len);
	put32(b + 8, 2);
	refused(b, im.len, "version 2");
	put32(b + 8, 0);
	refused(b, im.len, "version 0");

	/* garbage after the name's NUL */
	memcpy(b, im.buf, im.len);
	b[KHDR + 10] = 'x';
	refused(b, im.len, "section 1 has a malformed name");
	memcpy(b, im.buf, im.len);
	b[KHDR + SNAPFILE_NAME_LEN - 1] = 1;
	refused(b, im.len, "malformed name");
	/* an empty name, a space or a byte above 0x7e in it */
	memcpy(b, im.buf, im.len);
	memset(b + sec2, 0, SNAPFILE_NAME_LEN);
	refused(b, im.len, "section 3 has a malformed name");
	memcpy(b, im.buf, im.len);
	b[sec2 + 3] = ' ';
	refused(b, im.len, "malformed name");
	memcpy(b, im.buf, im.len);
	b[sec2 + 3] = 0x80;
	refused(b, im.len, "malformed name");

	/* huge section counts */
	memcpy(b, im.buf, im.len);
	put32(b + 12, 0xFFFFFFFF);
	refused(b, im.len, "claims 4294967295 sections");
	put32(b + 12, 4097);
	refused(b, im.len, "4097 sections");
	put32(b + 12, 4096); /* allowed, but the data is not there */
	refused(b, im.len, "truncated in section 4 of 4096");
	put32(b + 12, 4);
	refused(b, im.len, "truncated in section 4 of 4");
	/* fewer sections than the file holds: the rest are trailing bytes */
	put32(b + 12, 2);
	refused(b, im.len, "bytes after its last section");

	/* section lengths that do not fit, including ones that would wrap */
	memcpy(b, im.buf, im.len);
	put64(b + sec2 + SNAPFILE_NAME_LEN, 17);
	refused(b, im.len, "truncated in section lpc.com1");
	put64(b + sec2 + SNAPFILE_NAME_LEN, UINT64_MAX);
	refused(b, im.len, "truncated in section lpc.com1");
	put64(b + sec2 + SNAPFILE_NAME_LEN, UINT64_MAX - 2);
	refused(b, im.len, "truncated");
	/* its padding taken as data (14 + 2 padding, or 16): the image still adds up */
	put64(b + sec2 + SNAPFILE_NAME_LEN, 14);
	{
		struct kern_index idx;
		char err[ERRLEN];
		assert_int_equal(parse_exact(b, im.len, &idx, err), 0);
		kern_index_free(&idx);
	}
	put64(b + sec2 + SNAPFILE_NAME_LEN, 16);
	{
		struct kern_index idx;
		char err[ERRLEN];
		assert_int_equal(parse_exact(b, im.len, &idx, err), 0);
		kern_index_free(&idx);
	}
	memcpy(b, im.buf, im.len);
	put64(b + KHDR + SNAPFILE_NAME_LEN, 30); /* the first runs into the second's header */
	refused(b, im.len, "");

	/* trailing bytes */
	memcpy(b, im.buf, im.len);
	memset(b + im.len, 0, 8);
	refused(b, im.len + 8, "8 bytes after its last section");
	refused(b, im.len + 1, "1 bytes after its last section");

	free(b);
	free(im.buf);
}

/* ---- FILE.meta ---- */

#define SHA_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define SHA_B "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

static struct kern_section meta_secs[2] = {
    {.name = "cpu.0", .len = 3000, .offset = 72},
    {.name = "lpc.com1", .len = 39, .offset = 3128},
};
static const struct kern_index meta_idx = {.version = 1, .count = 2, .sec = meta_secs};

static void fill_meta(struct snap_meta *m)
{
	memset(m, 0, sizeof(*m));
	m->name = (char *)"guest \"one\"";
	m->memsize = 0x140000000ULL;
	m->lowmem = 0xC0000000ULL;
	m->highmem = 0x80000000ULL;
	m->ncpus = 4;
	m->config = (char *)"memory.size=5G\ncpus=4\nname=one\n";
	memcpy(m->cpuid, SHA_A, 65);
	m->tsc_khz = 2899999;
	memcpy(m->kern_sha256, SHA_B, 65);
	m->kern_size = 3200;
	m->created = 1767225600;
	m->sections = &meta_idx;
}

static char *valid_meta(void)
{
	struct snap_meta m;
	fill_meta(&m);
	char *text = meta_format(&m);
	assert_non_null(text);
	return text;
}

static void test_meta_roundtrip(void **state)
{
	(void)state;
	char *text = valid_meta();
	struct snap_meta want, got;
	fill_meta(&want);
	char err[ERRLEN] = "";
	assert_int_equal(meta_parse(text, strlen(text), &got, err, sizeof(err)), 0);
	assert_string_equal(got.name, want.name);
	assert_true(got.memsize == want.memsize);
	assert_true(got.lowmem == want.lowmem);
	assert_true(got.highmem == want.highmem);
	assert_int_equal(got.ncpus, want.ncpus);
	assert_string_equal(got.config, want.config);
	assert_string_equal(got.cpuid, want.cpuid);
	assert_int_equal(got.tsc_khz, want.tsc_khz);
	assert_string_equal(got.kern_sha256, want.kern_sha256);
	assert_true(got.kern_size == want.kern_size);
	assert_true(got.created == want.created);
	assert_null(got.sections);
	meta_free(&got);
	assert_null(got.name);
	assert_null(got.config);

	/* the section table is in the JSON */
	json_error_t je;
	json_t *o = json_loads(text, 0, &je);
	assert_non_null(o);
	json_t *secs = json_object_get(o, "sections");
	assert_true(json_is_array(secs));
	assert_int_equal(json_array_size(secs), 2);
	for (size_t i = 0; i < 2; i++) {
		json_t *e = json_array_get(secs, i);
		assert_string_equal(json_string_value(json_object_get(e, "name")),
				    meta_secs[i].name);
		assert_int_equal(json_integer_value(json_object_get(e, "offset")),
				 meta_secs[i].offset);
		assert_int_equal(json_integer_value(json_object_get(e, "size")), meta_secs[i].len);
	}
	assert_string_equal(json_string_value(json_object_get(o, "format")), "kbhyve-kvm-x86");
	assert_int_equal(json_integer_value(json_object_get(o, "version")), 1);
	json_decref(o);

	/* a length shorter than the text: only that much is read */
	assert_int_equal(meta_parse(text, strlen(text) - 1, &got, err, sizeof(err)), -EINVAL);
	free(text);
}

/* The valid text with the value at "key" or "obj.key" replaced (NULL: removed). */
static char *meta_with(const char *path, json_t *value)
{
	char *text = valid_meta();
	json_error_t je;
	json_t *o = json_loads(text, 0, &je);
	assert_non_null(o);
	free(text);
	json_t *parent = o;
	const char *dot = strchr(path, '.');
	char key[64];
	if (dot) {
		snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
		parent = json_object_get(o, key);
		assert_non_null(parent);
		path = dot + 1;
	}
	if (value)
		assert_int_equal(json_object_set_new(parent, path, value), 0);
	else
		assert_int_equal(json_object_del(parent, path), 0);
	text = json_dumps(o, JSON_PRESERVE_ORDER);
	assert_non_null(text);
	json_decref(o);
	return text;
}

static void meta_refused(const char *text, const char *want)
{
	struct snap_meta m;
	char err[ERRLEN] = "";
	assert_int_equal(meta_parse(text, strlen(text), &m, err, sizeof(err)), -EINVAL);
	assert_null(m.name);
	assert_null(m.config);
	if (!strstr(err, want))
		fail_msg("message \"%s\" lacks \"%s\" (for %s)", err, want, text);
}

static void refuse_with(const char *path, json_t *value, const char *want)
{
	char *text = meta_with(path, value);
	meta_refused(text, want);
	free(text);
}

static void test_meta_refused(void **state)
{
	(void)state;
	/* the helper itself: an unchanged value is accepted */
	char *ok = meta_with("vm.ncpus", json_integer(4));
	struct snap_meta m;
	char err[ERRLEN];
	assert_int_equal(meta_parse(ok, strlen(ok), &m, err, sizeof(err)), 0);
	meta_free(&m);
	free(ok);

	refuse_with("format", json_string("kbhyve-kvm-arm64"), "not a kbhyve snapshot");
	refuse_with("format", json_integer(1), "not a kbhyve snapshot");
	refuse_with("format", NULL, "not a kbhyve snapshot");
	refuse_with("version", json_integer(2), "format version 2");
	refuse_with("version", json_integer(0), "format version 0");
	refuse_with("version", json_string("1"), "not a kbhyve snapshot");
	refuse_with("version", NULL, "not a kbhyve snapshot");

	/* missing keys */
	refuse_with("vm.ncpus", NULL, "ncpus");
	refuse_with("host.cpuid_sha256", NULL, "cpuid_sha256");
	refuse_with("kern", NULL, "kern");
	refuse_with("created", NULL, "created");
	/* mistyped values */
	refuse_with("vm.memsize", json_string("5368709120"), "");
	refuse_with("vm.name", json_integer(1), "");
	refuse_with("vm.ncpus", json_real(4.0), "");
	refuse_with("kern.size", json_true(), "");
	refuse_with("host", json_array(), "");

	/* values out of range */
	refuse_with("vm.memsize", json_integer(0x140001000LL), "out of range");
	refuse_with("vm.memsize", json_integer(0), "out of range");
	refuse_with("vm.highmem", json_integer(-1), "out of range");
	refuse_with("vm.ncpus", json_integer(0), "out of range");
	refuse_with("vm.ncpus", json_integer(4097), "out of range");
	refuse_with("host.tsc_khz", json_integer(0x100000000LL), "out of range");
	refuse_with("host.tsc_khz", json_integer(-1), "out of range");
	refuse_with("kern.size", json_integer(-1), "out of range");
	refuse_with("kern.sha256", json_string(SHA_B "0"), "out of range");
	refuse_with("kern.sha256", json_string(SHA_B "x"), "out of range");
	refuse_with("host.cpuid_sha256", json_string(SHA_A " "), "out of range");
	char sha63[64];
	memcpy(sha63, SHA_B, 63);
	sha63[63] = '\0';
	refuse_with("kern.sha256", json_string(sha63), "out of range");
	refuse_with("host.cpuid_sha256", json_string(sha63), "out of range");
	refuse_with("host.cpuid_sha256",
		    json_string("0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"),
		    "out of range");
	refuse_with("kern.sha256",
		    json_string("g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
		    "out of range");

	/* lowmem + highmem beyond INT64_MAX: refused, without overflowing */
	char *t = meta_with("vm.lowmem", json_integer(INT64_MAX));
	json_error_t je;
	json_t *o = json_loads(t, 0, &je);
	assert_non_null(o);
	free(t);
	json_t *vm = json_object_get(o, "vm");
	json_object_set_new(vm, "highmem", json_integer(INT64_MAX));
	json_object_set_new(vm, "memsize", json_integer(0x7FFFFFFFFFFFFFFELL));
	t = json_dumps(o, 0);
	json_decref(o);
	meta_refused(t, "out of range");
	free(t);
	t = meta_with("vm.lowmem", json_integer(INT64_MAX));
	meta_refused(t, "out of range");
	free(t);

	/* not JSON, or not an object */
	meta_refused("{", "not JSON");
	meta_refused("", "not JSON");
	meta_refused("[1, 2]", "not a kbhyve snapshot");
	meta_refused("\"kbhyve-kvm-x86\"", "");
	meta_refused("{\"format\": \"kbhyve-kvm-x86\", \"version\": 1} trailing", "not JSON");

	/* duplicate keys, one inserted at the front of a valid text */
	char *text = valid_meta();
	assert_true(text[0] == '{');
	const char *dup = "{\"version\": 1,";
	char *d = malloc(strlen(text) + strlen(dup) + 1);
	assert_non_null(d);
	strcpy(d, dup);
	strcat(d, text + 1);
	meta_refused(d, "not JSON");
	free(d);
	/* and in a nested object */
	char *vmkey = strstr(text, "\"vm\": {");
	assert_non_null(vmkey);
	size_t at = (size_t)(vmkey - text) + strlen("\"vm\": {");
	const char *dup2 = "\"ncpus\": 4, ";
	d = malloc(strlen(text) + strlen(dup2) + 1);
	assert_non_null(d);
	memcpy(d, text, at);
	strcpy(d + at, dup2);
	strcat(d, text + at);
	meta_refused(d, "not JSON");
	free(d);

	/* every truncation of a valid text */
	size_t n = strlen(text);
	for (size_t l = 0; l + 1 < n; l++) {
		char *c = malloc(l ? l : 1);
		assert_non_null(c);
		memcpy(c, text, l);
		assert_int_equal(meta_parse(c, l, &m, err, sizeof(err)), -EINVAL);
		assert_null(m.name);
		free(c);
	}
	free(text);
}

static void test_meta_sha256(void **state)
{
	(void)state;
	char hex[65];
	snapfile_sha256("abc", 3, hex);
	assert_string_equal(hex,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	snapfile_sha256("", 0, hex);
	assert_string_equal(hex,
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	snapfile_sha256(two, strlen(two), hex);
	assert_string_equal(hex,
			    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

/* ---- FILE (guest RAM) ---- */

#define PG 4096u
#define RAM_LOW 0xC0000u  /* 768 KiB below 4 GiB */
#define RAM_HIGH 0x40000u /* 256 KiB above */
#define RAM (RAM_LOW + RAM_HIGH)

struct memfx {
	uint8_t *ram;
	struct guestmem gm;
	char path[256];
	int fd;
};

static void memfx_file(struct memfx *f)
{
	const char *dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	snprintf(f->path, sizeof(f->path), "%s/test_snapshot.XXXXXX", dir);
	f->fd = mkstemp(f->path);
	assert_true(f->fd >= 0);
	unlink(f->path);
}

static int memfx_setup(void **state)
{
	struct memfx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->ram = aligned_alloc(PG, RAM);
	assert_non_null(f->ram);
	memset(f->ram, 0, RAM);
	guestmem_init_from(&f->gm, f->ram, RAM_LOW, RAM_HIGH);
	memfx_file(f);
	*state = f;
	return 0;
}

static int memfx_teardown(void **state)
{
	struct memfx *f = *state;
	close(f->fd);
	free(f->ram);
	free(f);
	return 0;
}

/* Pages that are not zero: 0 (first byte), 5-6 (a run), 100 (last byte), 191 and 192 (the two
 * sides of the low/high boundary, a run), 255 (the last page). */
static const unsigned dirty[] = {0, 5, 6, 100, 191, 192, 255};

static void fill_dirty(uint8_t *ram)
{
	for (size_t i = 0; i < sizeof(dirty) / sizeof(dirty[0]); i++) {
		uint8_t *p = ram + (size_t)dirty[i] * PG;
		for (unsigned k = 0; k < PG; k += 97)
			p[k] = (uint8_t)(dirty[i] + k + 1) | 1;
	}
	ram[0] = 0x5A;
	ram[100 * PG + PG - 1] = 0xA5;
}

static bool is_dirty(unsigned page)
{
	for (size_t i = 0; i < sizeof(dirty) / sizeof(dirty[0]); i++)
		if (dirty[i] == page)
			return true;
	return false;
}

/* Whether the file system of fd reports holes (SEEK_DATA on a file that is one hole). */
static bool holes_supported(void)
{
	struct memfx probe;
	memfx_file(&probe);
	bool yes = ftruncate(probe.fd, 1 << 20) == 0 && lseek(probe.fd, 0, SEEK_DATA) < 0 &&
		   errno == ENXIO;
	close(probe.fd);
	return yes;
}

static void test_mem_save_load(void **state)
{
	struct memfx *f = *state;
	fill_dirty(f->ram);
	/* stale contents beyond and within the RAM's size must go */
	uint8_t ff[PG];
	memset(ff, 0xFF, sizeof(ff));
	for (off_t o = 0; o < 2 * RAM; o += PG)
		assert_int_equal(pwrite(f->fd, ff, PG, o), PG);

	uint64_t written = 0;
	char err[ERRLEN] = "";
	assert_int_equal(mem_save(&f->gm, f->fd, &written, err, sizeof(err)), 0);
	size_t ndirty = sizeof(dirty) / sizeof(dirty[0]);
	assert_int_equal(written, ndirty * PG);
	struct stat st;
	assert_int_equal(fstat(f->fd, &st), 0);
	assert_int_equal(st.st_size, RAM);

	/* the file's bytes are the RAM's */
	uint8_t *back = malloc(RAM);
	assert_non_null(back);
	assert_int_equal(pread(f->fd, back, RAM, 0), RAM);
	assert_memory_equal(back, f->ram, RAM);
	free(back);

	if (holes_supported()) {
		/* every zero page is a hole, every dirty page data */
		for (unsigned pg = 0; pg < RAM / PG; pg++) {
			off_t at = (off_t)pg * PG;
			off_t data = lseek(f->fd, at, SEEK_DATA);
			if (is_dirty(pg))
				assert_int_equal(data, at);
			else
				assert_true(data < 0 || data > at);
		}
		assert_true((uint64_t)st.st_blocks * 512 < RAM / 2);
	} else {
		print_message("# no SEEK_HOLE on this file system: holes not checked\n");
	}

	/* load into zeroed RAM */
	uint8_t *ram2 = aligned_alloc(PG, RAM);
	assert_non_null(ram2);
	memset(ram2, 0, RAM);
	struct guestmem gm2;
	guestmem_init_from(&gm2, ram2, RAM_LOW, RAM_HIGH);
	assert_int_equal(mem_load(&gm2, f->fd, err, sizeof(err)), 0);
	assert_memory_equal(ram2, f->ram, RAM);

	/* a file that is all data (not sparse) loads the same */
	struct memfx full;
	memfx_file(&full);
	assert_int_equal(pwrite(full.fd, f->ram, RAM, 0), RAM);
	memset(ram2, 0, RAM);
	assert_int_equal(mem_load(&gm2, full.fd, err, sizeof(err)), 0);
	assert_memory_equal(ram2, f->ram, RAM);
	close(full.fd);
	free(ram2);
}

static void test_mem_all_zero(void **state)
{
	struct memfx *f = *state;
	uint64_t written = 1;
	char err[ERRLEN];
	assert_int_equal(mem_save(&f->gm, f->fd, &written, err, sizeof(err)), 0);
	assert_int_equal(written, 0);
	struct stat st;
	assert_int_equal(fstat(f->fd, &st), 0);
	assert_int_equal(st.st_size, RAM);
	assert_int_equal(mem_load(&f->gm, f->fd, err, sizeof(err)), 0);
	for (size_t i = 0; i < RAM; i++)
		if (f->ram[i])
			fail_msg("byte %zu is %u", i, f->ram[i]);
}

static void test_mem_wrong_size(void **state)
{
	struct memfx *f = *state;
	fill_dirty(f->ram);
	uint64_t written;
	char err[ERRLEN] = "";
	assert_int_equal(mem_save(&f->gm, f->fd, &written, err, sizeof(err)), 0);
	uint8_t *before = malloc(RAM);
	assert_non_null(before);
	memcpy(before, f->ram, RAM);

	assert_int_equal(ftruncate(f->fd, RAM + PG), 0);
	assert_int_equal(mem_load(&f->gm, f->fd, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "has 1052672 bytes, the VM 1048576"));
	assert_int_equal(ftruncate(f->fd, RAM - PG), 0);
	err[0] = '\0';
	assert_int_equal(mem_load(&f->gm, f->fd, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "bytes"));
	assert_int_equal(ftruncate(f->fd, 0), 0);
	assert_int_equal(mem_load(&f->gm, f->fd, err, sizeof(err)), -EINVAL);
	assert_memory_equal(f->ram, before, RAM); /* nothing loaded */

	/* not a regular file */
	int p[2];
	assert_int_equal(pipe(p), 0);
	err[0] = '\0';
	assert_int_equal(mem_load(&f->gm, p[0], err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
	close(p[0]);
	close(p[1]);
	/* saving to a read-only descriptor fails with a message */
	int ro = open("/dev/null", O_RDONLY);
	assert_true(ro >= 0);
	err[0] = '\0';
	assert_true(mem_save(&f->gm, ro, &written, err, sizeof(err)) < 0);
	assert_true(err[0] != '\0');
	close(ro);
	free(before);
}

/* ---- vq_snapshot ---- */

#define VQ_LOW 0x10000ULL
#define VQ_HIGH 0x10000ULL
#define VQ_DESC 0x1000ULL
#define VQ_AVAIL 0x2000ULL
#define VQ_USED 0x3000ULL
/* Section layout: u16 size, u64 desc, avail, used; bool ready, event_idx, indirect, broken; u16
 * last_avail, used_idx, signalled_used; bool signalled_valid. */
#define VQS_SIZE 0
#define VQS_DESC 2
#define VQS_AVAIL 10
#define VQS_USED 18
#define VQS_READY 26
#define VQS_LEN 37

struct vqfx {
	uint8_t *mem;
	struct guestmem gm;
	struct virtqueue vq;
	uint8_t *state;
	size_t len;
};

static int vqfx_setup(void **state)
{
	struct vqfx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->mem = aligned_alloc(PG, VQ_LOW + VQ_HIGH);
	assert_non_null(f->mem);
	memset(f->mem, 0, VQ_LOW + VQ_HIGH);
	guestmem_init_from(&f->gm, f->mem, VQ_LOW, VQ_HIGH);
	struct virtqueue *vq = &f->vq;
	vq->size = 256;
	vq->desc_gpa = VQ_DESC;
	vq->avail_gpa = VQ_AVAIL;
	vq->used_gpa = GM_4G + VQ_USED; /* in high memory */
	vq->event_idx = true;
	vq->indirect = true;
	assert_int_equal(vq_enable(vq, &f->gm), 0);
	vq->last_avail = 0xFFF7;
	vq->used_idx = 0xFFF5;
	vq->signalled_used = 0xFFF3;
	vq->signalled_valid = true;

	struct snap *s = snap_new_save("virtio.4");
	assert_non_null(s);
	vq_snapshot(s, vq, &f->gm, VQ_MAX_SIZE);
	f->state = saved(s, &f->len);
	snap_free(s);
	*state = f;
	return 0;
}

static int vqfx_teardown(void **state)
{
	struct vqfx *f = *state;
	free(f->state);
	free(f->mem);
	free(f);
	return 0;
}

/* Load `data` into a fresh queue (max size `max`): snap_finish's result. */
static int vq_load(struct vqfx *f, const uint8_t *data, size_t len, uint16_t max,
		   struct virtqueue *vq, char *err)
{
	memset(vq, 0, sizeof(*vq));
	struct snap *s = snap_new_load("virtio.4", data, len);
	assert_non_null(s);
	vq_snapshot(s, vq, &f->gm, max);
	err[0] = '\0';
	int rc = snap_finish(s, err, ERRLEN);
	snap_free(s);
	return rc;
}

static void test_vq_roundtrip(void **state)
{
	struct vqfx *f = *state;
	assert_int_equal(f->len, VQS_LEN);
	assert_int_equal(f->state[VQS_SIZE], 0);
	assert_int_equal(f->state[VQS_SIZE + 1], 1);
	assert_int_equal(f->state[VQS_READY], 1);

	struct virtqueue vq;
	char err[ERRLEN];
	assert_int_equal(vq_load(f, f->state, f->len, VQ_MAX_SIZE, &vq, err), 0);
	assert_true(vq.ready);
	assert_int_equal(vq.size, 256);
	assert_true(vq.desc_gpa == VQ_DESC);
	assert_true(vq.avail_gpa == VQ_AVAIL);
	assert_true(vq.used_gpa == GM_4G + VQ_USED);
	assert_true(vq.event_idx);
	assert_true(vq.indirect);
	assert_false(vq.broken);
	assert_int_equal(vq.last_avail, 0xFFF7);
	assert_int_equal(vq.used_idx, 0xFFF5);
	assert_int_equal(vq.signalled_used, 0xFFF3);
	assert_true(vq.signalled_valid);
	assert_ptr_equal(vq.gm, &f->gm);
	assert_ptr_equal(vq.desc, f->vq.desc);
	assert_ptr_equal(vq.avail, f->vq.avail);
	assert_ptr_equal(vq.used, f->vq.used);

	/* saved again: the same bytes */
	struct snap *s = snap_new_save("virtio.4");
	assert_non_null(s);
	vq_snapshot(s, &vq, &f->gm, VQ_MAX_SIZE);
	size_t len;
	uint8_t *again = saved(s, &len);
	snap_free(s);
	assert_int_equal(len, f->len);
	assert_memory_equal(again, f->state, len);
	free(again);

	/* the loaded queue works: a chain the guest makes available is popped */
	uint8_t *desc = f->mem + VQ_DESC;
	uint64_t addr = 0x8000;
	uint32_t dlen = 64;
	memcpy(desc + 16 * 3, &addr, 8);
	memcpy(desc + 16 * 3 + 8, &dlen, 4);
	uint8_t *avail = f->mem + VQ_AVAIL;
	uint16_t head = 3, idx = 0xFFF8;
	memcpy(avail + 4 + 2 * (0xFFF7 % 256), &head, 2);
	memcpy(avail + 2, &idx, 2);
	struct vq_chain *c = malloc(sizeof(*c));
	assert_non_null(c);
	assert_int_equal(vq_pop(&vq, c, err, sizeof(err)), 1);
	assert_int_equal(c->head, 3);
	assert_int_equal(c->read_len, 64);
	vq_push(&vq, c->head, 0);
	assert_int_equal(vq.used_idx, 0xFFF6);
	free(c);
}

static void test_vq_not_ready(void **state)
{
	struct vqfx *f = *state;
	f->vq.ready = false;
	struct snap *s = snap_new_save("virtio.4");
	assert_non_null(s);
	vq_snapshot(s, &f->vq, &f->gm, VQ_MAX_SIZE);
	size_t len;
	uint8_t *d = saved(s, &len);
	snap_free(s);
	assert_int_equal(d[VQS_READY], 0);
	struct virtqueue vq;
	char err[ERRLEN];
	/* not ready: the rings are not checked (a queue set up half-way) */
	put64(d + VQS_DESC, 0xFFFFFFFFFFFFF000ULL);
	assert_int_equal(vq_load(f, d, len, VQ_MAX_SIZE, &vq, err), 0);
	assert_false(vq.ready);
	assert_int_equal(vq.last_avail, 0xFFF7);
	free(d);
}

/* The saved state with one change must fail with `want` and leave the queue not ready. */
static void vq_refused(struct vqfx *f, const uint8_t *d, size_t len, uint16_t max, const char *want)
{
	struct virtqueue vq;
	char err[ERRLEN];
	assert_int_equal(vq_load(f, d, len, max, &vq, err), -EINVAL);
	assert_false(vq.ready);
	if (!strstr(err, want))
		fail_msg("message \"%s\" lacks \"%s\"", err, want);
	assert_non_null(strstr(err, "virtio.4: "));
	/* a queue that is not ready takes nothing */
	struct vq_chain *c = malloc(sizeof(*c));
	assert_non_null(c);
	assert_int_equal(vq_pop(&vq, c, err, sizeof(err)), 0);
	free(c);
}

static void test_vq_bad_size(void **state)
{
	struct vqfx *f = *state;
	uint8_t d[VQS_LEN];
	static const uint16_t bad[] = {0, 3, 255, 257, 1023, 0x8000, 0xFFFF, 2048};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(d, f->state, VQS_LEN);
		d[VQS_SIZE] = (uint8_t)bad[i];
		d[VQS_SIZE + 1] = (uint8_t)(bad[i] >> 8);
		vq_refused(f, d, VQS_LEN, VQ_MAX_SIZE, "queue size out of range");
	}
	/* a power of two above the device's maximum */
	memcpy(d, f->state, VQS_LEN);
	vq_refused(f, d, VQS_LEN, 128, "queue size out of range");
	d[VQS_SIZE] = 0;
	d[VQS_SIZE + 1] = 8; /* 2048 */
	vq_refused(f, d, VQS_LEN, 0xFFFF, "");
	/* a smaller power of two is fine */
	memcpy(d, f->state, VQS_LEN);
	d[VQS_SIZE] = 16;
	d[VQS_SIZE + 1] = 0;
	struct virtqueue vq;
	char err[ERRLEN];
	assert_int_equal(vq_load(f, d, VQS_LEN, VQ_MAX_SIZE, &vq, err), 0);
	assert_true(vq.ready);
}

static void test_vq_bad_rings(void **state)
{
	struct vqfx *f = *state;
	uint8_t d[VQS_LEN];
	const char *outside = "queue rings outside guest RAM";
	static const struct {
		unsigned field;
		uint64_t gpa;
	} bad[] = {
	    {VQS_DESC, VQ_LOW},		       /* just past low memory */
	    {VQS_DESC, VQ_LOW - 0x800},	       /* runs past low memory */
	    {VQS_DESC, 0x80000000ULL},	       /* the hole */
	    {VQS_DESC, GM_4G + VQ_HIGH},       /* past high memory */
	    {VQS_DESC, 0xFFFFFFFFFFFFF000ULL}, /* wraps */
	    {VQS_DESC, 0x1008},		       /* misaligned */
	    {VQS_AVAIL, VQ_LOW - 0x100},       /* 6 + 2 * 256 bytes do not fit */
	    {VQS_AVAIL, 0x2001},	       /* misaligned */
	    {VQS_AVAIL, 0xFFFFFFFFFFFFFFFEULL},
	    {VQS_USED, GM_4G + VQ_HIGH - 0x800}, /* 6 + 8 * 256 bytes do not fit */
	    {VQS_USED, GM_4G - 0x10},		 /* the hole just below 4 GiB */
	    {VQS_USED, GM_4G + 2},		 /* misaligned */
	    {VQS_USED, UINT64_MAX - 3},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(d, f->state, VQS_LEN);
		put64(d + bad[i].field, bad[i].gpa);
		vq_refused(f, d, VQS_LEN, VQ_MAX_SIZE, outside);
	}
	/* a bad boolean, bytes left over, and every truncation */
	memcpy(d, f->state, VQS_LEN);
	d[VQS_READY] = 2;
	vq_refused(f, d, VQS_LEN, VQ_MAX_SIZE, "a boolean out of range");
	/* bytes left over are found after the visit (by snap_finish), so the restore fails but
	 * this queue was loaded */
	uint8_t longer[VQS_LEN + 1];
	memcpy(longer, f->state, VQS_LEN);
	longer[VQS_LEN] = 0;
	struct virtqueue vq;
	char err[ERRLEN];
	assert_int_equal(vq_load(f, longer, sizeof(longer), VQ_MAX_SIZE, &vq, err), -EINVAL);
	assert_string_equal(err, "virtio.4: 38 bytes of state, this device takes 37");
	for (size_t l = 0; l < VQS_LEN; l++)
		vq_refused(f, f->state, l, VQ_MAX_SIZE, "ends early");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_snapbuf_roundtrip),
	    cmocka_unit_test(test_snapbuf_little_endian),
	    cmocka_unit_test(test_snapbuf_past_end),
	    cmocka_unit_test(test_snapbuf_leftover),
	    cmocka_unit_test(test_snapbuf_check),
	    cmocka_unit_test(test_snapbuf_bool_two),
	    cmocka_unit_test(test_snapbuf_empty_field),
	    cmocka_unit_test(test_snapbuf_large),
	    cmocka_unit_test(test_kern_roundtrip),
	    cmocka_unit_test(test_kern_empty_and_names),
	    cmocka_unit_test(test_kern_truncations),
	    cmocka_unit_test(test_kern_malformed),
	    cmocka_unit_test(test_meta_roundtrip),
	    cmocka_unit_test(test_meta_refused),
	    cmocka_unit_test(test_meta_sha256),
	    cmocka_unit_test_setup_teardown(test_mem_save_load, memfx_setup, memfx_teardown),
	    cmocka_unit_test_setup_teardown(test_mem_all_zero, memfx_setup, memfx_teardown),
	    cmocka_unit_test_setup_teardown(test_mem_wrong_size, memfx_setup, memfx_teardown),
	    cmocka_unit_test_setup_teardown(test_vq_roundtrip, vqfx_setup, vqfx_teardown),
	    cmocka_unit_test_setup_teardown(test_vq_not_ready, vqfx_setup, vqfx_teardown),
	    cmocka_unit_test_setup_teardown(test_vq_bad_size, vqfx_setup, vqfx_teardown),
	    cmocka_unit_test_setup_teardown(test_vq_bad_rings, vqfx_setup, vqfx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
