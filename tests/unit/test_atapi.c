/* SPDX-License-Identifier: BSD-2-Clause */
/* ATAPI packet commands of the read-only CD/DVD drive: the reply layout of every command, the
 * allocation length cut, an empty drive, read range checks (wrap-around included), sense data
 * through REQUEST SENSE, the ATA error register, the one-time media event, and random packets
 * that must never write past the reply buffer nor ask for a read outside the medium. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ahci/atapi.h"

#define GUARD 4096
#define FILL 0xa5
#define MIB (1024ull * 1024)
#define DVD_SIZE (1024 * MIB + 1000) /* 524288 blocks and a partial tail */
#define DVD_BLOCKS (DVD_SIZE / ATAPI_BLOCK)
#define CD_SIZE (600 * MIB) /* 307200 blocks */

struct fixture {
	struct atapi_drive d;
	struct atapi_result r;
	uint8_t buf[ATAPI_REPLY_MAX + GUARD];
};

static int setup(void **state)
{
	struct fixture *x = calloc(1, sizeof(*x));
	atapi_init(&x->d, DVD_SIZE, true, "Virtual DVD Drive Model", "1.23", "SN-0042");
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

static uint32_t be16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p)
{
	return be16(p) << 16 | be16(p + 2);
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* Nothing past the reply's length (and so nothing in the guard region) was written. */
static void check_untouched(struct fixture *x)
{
	uint32_t used = x->r.action == ATAPI_DATA ? x->r.len : 0;
	assert_true(used <= ATAPI_REPLY_MAX);
	size_t i = used;
	while (i < sizeof(x->buf) && x->buf[i] == FILL)
		i++;
	if (i < sizeof(x->buf))
		fail_msg("byte %zu written (reply length %u)", i, used);
}

/* Run a packet of len bytes; nothing past the reply's length may have been written. */
static void exec_len(struct fixture *x, const uint8_t *cdb, unsigned len)
{
	memset(x->buf, FILL, sizeof(x->buf));
	memset(&x->r, 0x5a, sizeof(x->r));
	atapi_command_len(&x->d, cdb, len, x->buf, &x->r);
	check_untouched(x);
}

static void exec(struct fixture *x, const uint8_t cdb[12])
{
	/* Through the 12-byte entry point; same checks. */
	memset(x->buf, FILL, sizeof(x->buf));
	memset(&x->r, 0x5a, sizeof(x->r));
	atapi_command(&x->d, cdb, x->buf, &x->r);
	check_untouched(x);
}

#define CDB(...) ((const uint8_t[16]){__VA_ARGS__})

static void expect_data(struct fixture *x, uint32_t len)
{
	assert_int_equal(x->r.action, ATAPI_DATA);
	assert_int_equal(x->r.len, len);
	assert_int_equal(x->d.sense_key, SENSE_NONE);
	assert_int_equal(x->d.asc, 0);
}

static void expect_error(struct fixture *x, uint8_t key, uint8_t asc, uint8_t ascq)
{
	assert_int_equal(x->r.action, ATAPI_ERROR);
	assert_int_equal(x->d.sense_key, key);
	assert_int_equal(x->d.asc, asc);
	assert_int_equal(x->d.ascq, ascq);
}

static void expect_read(struct fixture *x, uint64_t lba, uint32_t n)
{
	assert_int_equal(x->r.action, ATAPI_READ);
	assert_int_equal(x->r.lba, lba);
	assert_int_equal(x->r.nblocks, n);
	assert_int_equal(x->d.sense_key, SENSE_NONE);
}

static void expect_invalid_field(struct fixture *x)
{
	expect_error(x, SENSE_ILLEGAL_REQUEST, 0x24, 0);
}

static void expect_out_of_range(struct fixture *x)
{
	expect_error(x, SENSE_ILLEGAL_REQUEST, 0x21, 0);
}

static void test_init_defaults(void **state)
{
	struct atapi_drive d;
	memset(&d, 0xff, sizeof(d));
	atapi_init(&d, 4096, true, NULL, NULL, NULL);
	assert_string_equal(d.model, "BHYVE DVD-ROM");
	assert_string_equal(d.rev, "001");
	assert_string_equal(d.serial, "");
	assert_int_equal(d.size, 4096);
	assert_true(d.has_medium);
	assert_true(d.media_event);
	assert_false(d.prevent_removal);
	assert_int_equal(d.sense_key, 0);
	assert_int_equal(d.asc, 0);
	assert_int_equal(d.ascq, 0);

	atapi_init(&d, 0, false, "a model name far longer than the forty-one byte field it goes in",
		   "revision-too-long", "a serial number too long for twenty");
	assert_false(d.has_medium);
	assert_false(d.media_event); /* nothing to announce */
	assert_int_equal(strlen(d.model), 40);
	assert_int_equal(strlen(d.rev), 8);
	assert_int_equal(strlen(d.serial), 20);
	(void)state;
}

static void test_unknown_opcode_and_request_sense(void **state)
{
	struct fixture *x = *state;
	exec(x, CDB(0x00));
	expect_data(x, 0);

	exec(x, CDB(0xff));
	expect_error(x, SENSE_ILLEGAL_REQUEST, 0x20, 0x00);
	assert_int_equal(atapi_error_reg(&x->d), 0x54);

	exec(x, CDB(0x03, 0, 0, 0, 18));
	expect_data(x, 18);
	assert_int_equal(x->buf[0], 0x70);
	assert_int_equal(x->buf[2], SENSE_ILLEGAL_REQUEST);
	assert_int_equal(x->buf[7], 10);
	assert_int_equal(x->buf[12], 0x20);
	assert_int_equal(x->buf[13], 0x00);

	/* Reported, then cleared. */
	exec(x, CDB(0x03, 0, 0, 0, 252));
	expect_data(x, 18);
	assert_int_equal(x->buf[0], 0x70);
	assert_int_equal(x->buf[2], 0);
	assert_int_equal(x->buf[12], 0);
	assert_int_equal(x->buf[13], 0);

	/* Cut to the allocation length; still cleared. */
	exec(x, CDB(0x2f, 0, 0xff, 0xff, 0xff, 0xff)); /* VERIFY past the end */
	expect_out_of_range(x);
	exec(x, CDB(0x03, 0, 0, 0, 8));
	expect_data(x, 8);
	assert_int_equal(x->buf[2], SENSE_ILLEGAL_REQUEST);
	assert_int_equal(x->d.sense_key, 0);
	exec(x, CDB(0x03, 0, 0, 0, 18));
	assert_int_equal(x->buf[12], 0);
}

static void test_success_clears_sense(void **state)
{
	struct fixture *x = *state;
	exec(x, CDB(0x43, 0, 0x07)); /* READ TOC format 7 */
	expect_invalid_field(x);
	assert_int_equal(atapi_error_reg(&x->d), 0x54);
	exec(x, CDB(0x00));
	expect_data(x, 0);
	assert_int_equal(atapi_error_reg(&x->d), 0);
	exec(x, CDB(0x03, 0, 0, 0, 18));
	assert_int_equal(x->buf[2], 0);
}

static void test_error_register_and_read_error(void **state)
{
	struct fixture *x = *state;
	atapi_set_read_error(&x->d);
	assert_int_equal(atapi_error_reg(&x->d), 0x30);
	exec(x, CDB(0x03, 0, 0, 0, 18));
	expect_data(x, 18);
	assert_int_equal(x->buf[2], SENSE_MEDIUM_ERROR);
	assert_int_equal(x->buf[12], 0x11);
	assert_int_equal(x->buf[13], 0x00);

	x->d.has_medium = false;
	exec(x, CDB(0x00));
	expect_error(x, SENSE_NOT_READY, 0x3a, 0);
	assert_int_equal(atapi_error_reg(&x->d), 0x20);

	x->d.sense_key = SENSE_UNIT_ATTENTION;
	assert_int_equal(atapi_error_reg(&x->d), 0x60);
}

static void test_inquiry_standard(void **state)
{
	struct fixture *x = *state;
	exec(x, CDB(0x12, 0, 0, 0, 96));
	expect_data(x, 36);
	assert_int_equal(x->buf[0], 0x05); /* CD/DVD */
	assert_int_equal(x->buf[1], 0x80); /* removable */
	assert_int_equal(x->buf[3] & 0x0f, 2);
	assert_int_equal(x->buf[4], 31);
	assert_memory_equal(&x->buf[8], "BHYVE   ", 8);
	assert_memory_equal(&x->buf[16], "Virtual DVD Driv", 16);
	assert_memory_equal(&x->buf[32], "1.23", 4);

	/* Short model and revision are space-padded. */
	atapi_init(&x->d, DVD_SIZE, true, NULL, "7", NULL);
	exec(x, CDB(0x12, 0, 0, 0, 36));
	expect_data(x, 36);
	assert_memory_equal(&x->buf[16], "BHYVE DVD-ROM   ", 16);
	assert_memory_equal(&x->buf[32], "7   ", 4);

	/* Allocation length (16 bits: bytes 3-4) cuts the reply. */
	exec(x, CDB(0x12, 0, 0, 0, 5));
	expect_data(x, 5);
	assert_int_equal(x->buf[4], 31);
	exec(x, CDB(0x12, 0, 0, 0x01, 0x00));
	expect_data(x, 36);
	exec(x, CDB(0x12, 0, 0, 0, 0));
	expect_data(x, 0);

	/* A page code without EVPD is an invalid field. */
	exec(x, CDB(0x12, 0, 0x80, 0, 36));
	expect_invalid_field(x);
}

static void test_inquiry_vpd(void **state)
{
	struct fixture *x = *state;
	exec(x, CDB(0x12, 1, 0x00, 0, 255));
	expect_data(x, 7);
	assert_int_equal(x->buf[0], 0x05);
	assert_int_equal(x->buf[1], 0x00);
	assert_int_equal(be16(&x->buf[2]), 3);
	assert_int_equal(x->buf[4], 0x00);
	assert_int_equal(x->buf[5], 0x80);
	assert_int_equal(x->buf[6], 0x83);

	exec(x, CDB(0x12, 1, 0x80, 0, 255));
	expect_data(x, 4 + 7);
	assert_int_equal(x->buf[1], 0x80);
	assert_int_equal(be16(&x->buf[2]), 7);
	assert_memory_equal(&x->buf[4], "SN-0042", 7);

	exec(x, CDB(0x12, 1, 0x83, 0, 255));
	expect_data(x, 8 + 24 + 7);
	assert_int_equal(x->buf[1], 0x83);
	assert_int_equal(be16(&x->buf[2]), 4 + 24 + 7);
	assert_int_equal(x->buf[4] & 0x0f, 2);	  /* ASCII */
	assert_int_equal(x->buf[5] & 0x3f, 0x01); /* LU, T10 vendor ID */
	assert_int_equal(x->buf[7], 24 + 7);
	assert_memory_equal(&x->buf[8], "BHYVE   Virtual DVD DrivSN-0042", 31);

	exec(x, CDB(0x12, 1, 0x83, 0, 6));
	expect_data(x, 6);

	exec(x, CDB(0x12, 1, 0xb0, 0, 255));
	expect_invalid_field(x);
}

static void test_read_capacity(void **state)
{
	struct fixture *x = *state;
	exec(x, CDB(0x25));
	expect_data(x, 8);
	assert_int_equal(be32(&x->buf[0]), DVD_BLOCKS - 1);
	assert_int_equal(be32(&x->buf[4]), 2048);

	/* READ CAPACITY(16) in a 16-byte packet honours the allocation length. */
	exec_len(x, CDB(0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32), 16);
	expect_data(x, 32);
	assert_int_equal(be64(&x->buf[0]), DVD_BLOCKS - 1);
	assert_int_equal(be32(&x->buf[8]), 2048);
	for (int i = 12; i < 32; i++)
		assert_int_equal(x->buf[i], 0);
	exec_len(x, CDB(0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12), 16);
	expect_data(x, 12);
	/* In a 12-byte packet the whole 32 bytes go. */
	exec(x, CDB(0x9e, 0x10));
	expect_data(x, 32);
	assert_int_equal(be64(&x->buf[0]), DVD_BLOCKS - 1);
	exec(x, CDB(0x9e, 0x11));
	expect_invalid_field(x);

	/* More blocks than 32 bits: (10) saturates, (16) tells. */
	atapi_init(&x->d, (1ull << 32) * 2048 + 4096, true, NULL, NULL, NULL);
	exec(x, CDB(0x25));
	assert_int_equal(be32(&x->buf[0]), 0xffffffffu);
	exec(x, CDB(0x9e, 0x10));
	assert_int_equal(be64(&x->buf[0]), (1ull << 32) + 1);

	/* A medium smaller than a block. */
	atapi_init(&x->d, 100, true, NULL, NULL, NULL);
	exec(x, CDB(0x25));
	expect_data(x, 8);
	assert_int_equal(be32(&x->buf[0]), 0);
	exec(x, CDB(0x28, 0, 0, 0, 0, 0, 0, 0, 1));
	expect_out_of_range(x);
}

static void test_reads(void **state)
{
	struct fixture *x = *state;
	exec(x, CDB(0x28, 0, 0x00, 0x01, 0x02, 0x03, 0, 0x01, 0x10));
	expect_read(x, 0x010203, 0x110);
	exec(x, CDB(0xa8, 0, 0x00, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00, 0x00));
	expect_read(x, 0x10, 0x10000);
	exec_len(x, CDB(0x88, 0, 0, 0, 0, 0, 0, 0x07, 0, 0, 0, 0, 0, 0x20), 16);
	expect_read(x, 0x70000, 0x20);
	exec(x, CDB(0xbe, 0, 0, 0, 0, 0x05, 0, 0, 3, 0x10));
	expect_read(x, 5, 3);
	exec(x, CDB(0xbe, 2 << 2, 0, 0, 0, 0x05, 0, 0, 3, 0x10)); /* mode 1 sectors */
	expect_read(x, 5, 3);

	/* Zero blocks: a read of nothing. */
	exec(x, CDB(0x28, 0, 0, 0, 0, 9, 0, 0, 0));
	expect_read(x, 9, 0);

	/* Up to the last block. */
	uint32_t last = (uint32_t)(DVD_BLOCKS - 1);
	exec(x, CDB(0x28, 0, last >> 24, last >> 16, last >> 8, last, 0, 0, 1));
	expect_read(x, last, 1);
	exec(x, CDB(0x28, 0, last >> 24, last >> 16, last >> 8, (last - 1) & 0xff, 0, 0, 2));
	expect_read(x, last - 1, 2);
}

static void test_read_range_errors(void **state)
{
	struct fixture *x = *state;
	uint32_t last = (uint32_t)(DVD_BLOCKS - 1), end = (uint32_t)DVD_BLOCKS;
	/* Ends past the last block. */
	exec(x, CDB(0x28, 0, last >> 24, last >> 16, last >> 8, last, 0, 0, 2));
	expect_out_of_range(x);
	assert_int_equal(atapi_error_reg(&x->d), 0x54);
	/* Starts past it, even with nothing to read. */
	exec(x, CDB(0x28, 0, end >> 24, end >> 16, end >> 8, end, 0, 0, 1));
	expect_out_of_range(x);
	exec(x, CDB(0x28, 0, end >> 24, end >> 16, end >> 8, end, 0, 0, 0));
	expect_out_of_range(x);
	/* Wrap-around: lba + count overflows 32 and 64 bits. */
	exec(x, CDB(0xa8, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2));
	expect_out_of_range(x);
	exec(x, CDB(0xa8, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff));
	expect_out_of_range(x);
	exec_len(x, CDB(0x88, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2), 16);
	expect_out_of_range(x);
	exec_len(
	    x, CDB(0x88, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf0, 0xff, 0xff, 0xff, 0xff),
	    16);
	expect_out_of_range(x);
	exec(x, CDB(0xbe, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x10));
	expect_out_of_range(x);
	/* READ(16) needs the whole 16-byte packet. */
	exec(x, CDB(0x88, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0));
	expect_invalid_field(x);
}

static void test_read_cd_fields(void **state)
{
	struct fixture *x = *state;
	exec(x, CDB(0xbe, 1 << 2, 0, 0, 0, 0, 0, 0, 1, 0x10)); /* CD-DA */
	expect_invalid_field(x);
	exec(x, CDB(0xbe, 4 << 2, 0, 0, 0, 0, 0, 0, 1, 0x10)); /* mode 2 form 1 */
	expect_invalid_field(x);
	exec(x, CDB(0xbe, 0, 0, 0, 0, 0, 0, 0, 1, 0xf8)); /* raw sectors */
	expect_invalid_field(x);
	exec(x, CDB(0xbe, 0, 0, 0, 0, 0, 0, 0, 1, 0x12)); /* with C2 errors */
	expect_invalid_field(x);
	exec(x, CDB(0xbe, 0, 0, 0, 0, 0, 0, 0, 1, 0x10, 0x01)); /* with subchannel */
	expect_invalid_field(x);
	exec(x, CDB(0xbe, 0, 0, 0, 0, 0, 0, 0, 1, 0x00)); /* no fields: no data */
	expect_data(x, 0);
	exec(x, CDB(0xbe, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 0x10)); /* 24-bit length */
	expect_read(x, 0, 0x100);
}

static void test_mode_sense_capabilities(void **state)
{
	struct fixture *x = *state;
	exec(x, CDB(0x5a, 0, 0x2a, 0, 0, 0, 0, 0, 128));
	expect_data(x, 8 + 32);
	assert_int_equal(be16(&x->buf[0]), 8 + 32 - 2);
	assert_int_equal(be16(&x->buf[6]), 0); /* no block descriptors */
	uint8_t *p = &x->buf[8];
	assert_int_equal(p[0], 0x2a);
	assert_int_equal(p[1], 0x1e);
	assert_true(p[2] & 0x08);	     /* reads DVD-ROM */
	assert_int_equal(p[3], 0);	     /* writes nothing */
	assert_int_equal(p[6] & 0xe0, 0x20); /* tray */
	assert_true(p[6] & 0x08);	     /* eject */
	assert_true(p[6] & 0x01);	     /* lock */
	assert_false(p[6] & 0x02);	     /* not locked */
	assert_int_equal(be16(&p[8]), 7056);

	/* Lock state follows PREVENT ALLOW MEDIUM REMOVAL. */
	exec(x, CDB(0x1e, 0, 0, 0, 1));
	expect_data(x, 0);
	exec(x, CDB(0x5a, 0, 0x2a, 0, 0, 0, 0, 0, 128));
	assert_true(x->buf[8 + 6] & 0x02);

	/* Changeable values: nothing. */
	exec(x, CDB(0x5a, 0, 0x40 | 0x2a, 0, 0, 0, 0, 0, 128));
	expect_data(x, 40);
	assert_int_equal(x->buf[8], 0x2a);
	for (int i = 10; i < 40; i++)
		assert_int_equal(x->buf[i], 0);

	/* Cut to the allocation length, the header still telling the whole length. */
	exec(x, CDB(0x5a, 0, 0x2a, 0, 0, 0, 0, 0, 12));
	expect_data(x, 12);
	assert_int_equal(be16(&x->buf[0]), 38);
}

static void test_mode_sense_pages(void **state)
{
	struct fixture *x = *state;
	/* MODE SENSE(6), page 1. */
	exec(x, CDB(0x1a, 0, 0x01, 0, 255));
	expect_data(x, 4 + 12);
	assert_int_equal(x->buf[0], 4 + 12 - 1);
	assert_int_equal(x->buf[3], 0); /* block descriptor length */
	assert_int_equal(x->buf[4], 0x01);
	assert_int_equal(x->buf[5], 0x0a);

	exec(x, CDB(0x5a, 0, 0x0e, 0, 0, 0, 0, 0, 255));
	expect_data(x, 8 + 16);
	assert_int_equal(x->buf[8], 0x0e);
	assert_int_equal(x->buf[9], 0x0e);

	exec(x, CDB(0x5a, 0, 0x1a, 0, 0, 0, 0, 0, 255));
	expect_data(x, 8 + 12);
	assert_int_equal(x->buf[8], 0x1a);
	assert_int_equal(x->buf[9], 0x0a);

	/* All pages, in order; each page's length byte leads to the next. */
	exec(x, CDB(0x5a, 0, 0x3f, 0, 0, 0, 0, 0, 255));
	expect_data(x, 8 + 12 + 16 + 12 + 32);
	assert_int_equal(be16(&x->buf[0]), 8 + 12 + 16 + 12 + 32 - 2);
	static const uint8_t order[] = {0x01, 0x0e, 0x1a, 0x2a};
	uint32_t off = 8;
	for (size_t i = 0; i < sizeof(order); i++) {
		assert_int_equal(x->buf[off], order[i]);
		off += 2u + x->buf[off + 1];
	}
	assert_int_equal(off, x->r.len);
	exec(x, CDB(0x5a, 0, 0x3f, 0xff, 0, 0, 0, 0, 255)); /* all subpages */
	expect_data(x, 80);
	exec(x, CDB(0x1a, 0, 0x3f, 0, 255));
	expect_data(x, 4 + 72);
	assert_int_equal(x->buf[0], 4 + 72 - 1);
	exec(x, CDB(0x5a, 0, 0x3f, 0, 0, 0, 0, 0, 0)); /* allocation length 0 */
	expect_data(x, 0);

	/* Default values work; saved values do not; unknown pages and subpages are invalid. */
	exec(x, CDB(0x5a, 0, 0x80 | 0x2a, 0, 0, 0, 0, 0, 255));
	expect_data(x, 40);
	exec(x, CDB(0x5a, 0, 0xc0 | 0x2a, 0, 0, 0, 0, 0, 255));
	expect_error(x, SENSE_ILLEGAL_REQUEST, 0x39, 0);
	exec(x, CDB(0x5a, 0, 0x08, 0, 0, 0, 0, 0, 255));
	expect_invalid_field(x);
	exec(x, CDB(0x5a, 0, 0x2a, 0x01, 0, 0, 0, 0, 255));
	expect_invalid_field(x);
}

static void test_read_toc_format0(void **state)
{
	struct fixture *x = *state;
	exec(x, CDB(0x43, 0, 0, 0, 0, 0, 0, 0, 0xff));
	expect_data(x, 20);
	assert_int_equal(be16(&x->buf[0]), 18);
	assert_int_equal(x->buf[2], 1);
	assert_int_equal(x->buf[3], 1);
	assert_int_equal(x->buf[5], 0x14);
	assert_int_equal(x->buf[6], 1);
	assert_int_equal(be32(&x->buf[8]), 0);
	assert_int_equal(x->buf[13], 0x14);
	assert_int_equal(x->buf[14], 0xaa);
	assert_int_equal(be32(&x->buf[16]), DVD_BLOCKS);

	/* MSF: track 1 at 00:02:00; the lead-out at blocks + 150 frames. */
	atapi_init(&x->d, CD_SIZE, true, NULL, NULL, NULL);
	exec(x, CDB(0x43, 0x02, 0, 0, 0, 0, 0, 0, 0xff));
	expect_data(x, 20);
	assert_memory_equal(&x->buf[8], ((uint8_t[]){0, 0, 2, 0}), 4);
	uint32_t f = 307200 + 150;
	assert_int_equal(x->buf[16], 0);
	assert_int_equal(x->buf[17], f / 4500);
	assert_int_equal(x->buf[18], f / 75 % 60);
	assert_int_equal(x->buf[19], f % 75);

	/* Starting at the lead-out: only it. */
	exec(x, CDB(0x43, 0, 0, 0, 0, 0, 0xaa, 0, 0xff));
	expect_data(x, 12);
	assert_int_equal(be16(&x->buf[0]), 10);
	assert_int_equal(x->buf[6], 0xaa);
	assert_int_equal(be32(&x->buf[8]), 307200);
	exec(x, CDB(0x43, 0, 0, 0, 0, 0, 1, 0, 0xff));
	expect_data(x, 20);
	exec(x, CDB(0x43, 0, 0, 0, 0, 0, 2, 0, 0xff));
	expect_invalid_field(x);

	/* Linux reads the header first: 4 bytes. */
	exec(x, CDB(0x43, 0, 0, 0, 0, 0, 0, 0, 4));
	expect_data(x, 4);
	assert_int_equal(be16(&x->buf[0]), 18);

	/* A medium too large for MSF saturates at 255:59:74. */
	atapi_init(&x->d, 8ull << 30, true, NULL, NULL, NULL);
	exec(x, CDB(0x43, 0x02, 0, 0, 0, 0, 0xaa, 0, 0xff));
	assert_memory_equal(&x->buf[8], ((uint8_t[]){0, 255, 59, 74}), 4);
}

static void test_read_toc_formats_1_2(void **state)
{
	struct fixture *x = *state;
	exec(x, CDB(0x43, 0, 1, 0, 0, 0, 0, 0, 0xff));
	expect_data(x, 12);
	assert_int_equal(be16(&x->buf[0]), 10);
	assert_int_equal(x->buf[2], 1);
	assert_int_equal(x->buf[3], 1);
	assert_int_equal(x->buf[5], 0x14);
	assert_int_equal(x->buf[6], 1);
	assert_int_equal(be32(&x->buf[8]), 0);
	exec(x, CDB(0x43, 0x02, 1, 0, 0, 0, 0, 0, 0xff));
	assert_memory_equal(&x->buf[8], ((uint8_t[]){0, 0, 2, 0}), 4);

	/* Format 1 in the old place: the control byte's top bits. */
	exec(x, CDB(0x43, 0, 0, 0, 0, 0, 0, 0, 0xff, 0x40));
	expect_data(x, 12);

	atapi_init(&x->d, CD_SIZE, true, NULL, NULL, NULL);
	exec(x, CDB(0x43, 0x02, 2, 0, 0, 0, 1, 0, 0xff));
	expect_data(x, 4 + 4 * 11);
	assert_int_equal(be16(&x->buf[0]), 46);
	assert_int_equal(x->buf[2], 1);
	assert_int_equal(x->buf[3], 1);
	static const uint8_t points[] = {0xa0, 0xa1, 0xa2, 0x01};
	uint32_t f = 307200 + 150;
	for (int i = 0; i < 4; i++) {
		const uint8_t *q = &x->buf[4 + 11 * i];
		assert_int_equal(q[0], 1);
		assert_int_equal(q[1], 0x14);
		assert_int_equal(q[3], points[i]);
		if (i < 2) {
			assert_int_equal(q[8], 1);
		} else if (i == 2) {
			assert_int_equal(q[8], f / 4500);
			assert_int_equal(q[9], f / 75 % 60);
			assert_int_equal(q[10], f % 75);
		} else {
			assert_memory_equal(&q[8], ((uint8_t[]){0, 2, 0}), 3);
		}
	}
	exec(x, CDB(0x43, 0, 2, 0, 0, 0, 2, 0, 0xff)); /* session 2 */
	expect_invalid_field(x);
	exec(x, CDB(0x43, 0, 3, 0, 0, 0, 0, 0, 0xff)); /* PMA */
	expect_invalid_field(x);
	exec(x, CDB(0x43, 0, 4, 0, 0, 0, 0, 0, 0xff)); /* ATIP */
	expect_invalid_field(x);
}

/* Walk the feature descriptors of a GET CONFIGURATION reply; returns how many, codes in codes. */
static int features(struct fixture *x, uint16_t *codes, int max)
{
	uint32_t end = 4 + be32(&x->buf[0]), off = 8;
	int n = 0;
	assert_int_equal(end, x->r.len);
	while (off < end) {
		assert_true(n < max);
		codes[n++] = (uint16_t)be16(&x->buf[off]);
		off += 4u + x->buf[off + 3];
	}
	assert_int_equal(off, end);
	return n;
}

/* The feature descriptor with this code in the reply (NULL when absent). */
static const uint8_t *find_feature(struct fixture *x, uint16_t code)
{
	uint32_t end = x->r.len, off = 8;
	while (off + 4 <= end) {
		if (be16(&x->buf[off]) == code)
			return &x->buf[off];
		off += 4u + x->buf[off + 3];
	}
	return NULL;
}

static void test_get_configuration(void **state)
{
	struct fixture *x = *state;
	uint16_t codes[16];
	exec(x, CDB(0x46, 0, 0, 0, 0, 0, 0, 0x10, 0x00));
	assert_int_equal(x->r.action, ATAPI_DATA);
	assert_int_equal(be16(&x->buf[6]), 0x0010); /* DVD-ROM */
	int n = features(x, codes, 16);
	static const uint16_t want[] = {0x0000, 0x0001, 0x0002, 0x0003, 0x0010, 0x001e, 0x001f};
	assert_int_equal(n, 7);
	for (int i = 0; i < n; i++)
		assert_int_equal(codes[i], want[i]);

	const uint8_t *p = find_feature(x, 0x0000);
	assert_int_equal(p[2] & 0x03, 0x03);
	assert_int_equal(p[3], 8);
	assert_int_equal(be16(&p[4]), 0x0010);
	assert_int_equal(p[6] & 1, 1);
	assert_int_equal(be16(&p[8]), 0x0008);
	assert_int_equal(p[10] & 1, 0);
	p = find_feature(x, 0x0001);
	assert_int_equal(be32(&p[4]), 2); /* ATAPI */
	p = find_feature(x, 0x0003);
	assert_int_equal(p[4] & 0xe0, 0x20);
	p = find_feature(x, 0x0010);
	assert_int_equal(p[2] & 1, 1);
	assert_int_equal(be32(&p[4]), 2048);
	assert_int_equal(be16(&p[8]), 16);
	assert_int_equal(find_feature(x, 0x001f)[2] & 1, 1);
	assert_int_equal(find_feature(x, 0x001e)[2] & 1, 0);

	/* Starting feature number with RT 0: from 0x0003 on. */
	exec(x, CDB(0x46, 0, 0x00, 0x03, 0, 0, 0, 0x10, 0x00));
	n = features(x, codes, 16);
	assert_int_equal(n, 4);
	assert_int_equal(codes[0], 0x0003);
	/* RT 2: that one feature only, or none. */
	exec(x, CDB(0x46, 2, 0x00, 0x10, 0, 0, 0, 0x10, 0x00));
	n = features(x, codes, 16);
	assert_int_equal(n, 1);
	assert_int_equal(codes[0], 0x0010);
	exec(x, CDB(0x46, 2, 0x00, 0x04, 0, 0, 0, 0x10, 0x00));
	expect_data(x, 8);
	assert_int_equal(be32(&x->buf[0]), 4);
	/* RT 1: current features only (no CD Read on a DVD). */
	exec(x, CDB(0x46, 1, 0, 0, 0, 0, 0, 0x10, 0x00));
	n = features(x, codes, 16);
	assert_int_equal(n, 6);
	assert_null(find_feature(x, 0x001e));
	/* RT 3 is reserved. */
	exec(x, CDB(0x46, 3, 0, 0, 0, 0, 0, 0x10, 0x00));
	expect_invalid_field(x);

	/* The header only (Linux asks for 8 bytes first). */
	exec(x, CDB(0x46, 0, 0, 0, 0, 0, 0, 0, 8));
	expect_data(x, 8);
	assert_int_equal(be32(&x->buf[0]), 4 + 12 + 12 + 8 + 8 + 12 + 8 + 4);
	assert_int_equal(be16(&x->buf[6]), 0x0010);

	/* A CD-sized medium is a CD-ROM. */
	atapi_init(&x->d, CD_SIZE, true, NULL, NULL, NULL);
	exec(x, CDB(0x46, 0, 0, 0, 0, 0, 0, 0x10, 0x00));
	assert_int_equal(be16(&x->buf[6]), 0x0008);
	p = find_feature(x, 0x0000);
	assert_int_equal(p[6] & 1, 0);
	assert_int_equal(p[10] & 1, 1);
	assert_int_equal(be16(&find_feature(x, 0x0010)[8]), 1);
	assert_int_equal(find_feature(x, 0x001e)[2] & 1, 1);
	assert_int_equal(find_feature(x, 0x001f)[2] & 1, 0);

	/* No medium: current profile 0, nothing medium-related current. */
	atapi_init(&x->d, 0, false, NULL, NULL, NULL);
	exec(x, CDB(0x46, 0, 0, 0, 0, 0, 0, 0x10, 0x00));
	assert_int_equal(x->r.action, ATAPI_DATA);
	assert_int_equal(be16(&x->buf[6]), 0);
	p = find_feature(x, 0x0000);
	assert_int_equal(p[6] & 1, 0);
	assert_int_equal(p[10] & 1, 0);
	assert_int_equal(find_feature(x, 0x0010)[2] & 1, 0);
	exec(x, CDB(0x46, 1, 0, 0, 0, 0, 0, 0x10, 0x00));
	n = features(x, codes, 16);
	assert_int_equal(n, 4); /* profile list, core, morphing, removable medium */
}

static void test_event_status(void **state)
{
	struct fixture *x = *state;
	/* Asynchronous notification is not supported. */
	exec(x, CDB(0x4a, 0, 0, 0, 0x10, 0, 0, 0, 8));
	expect_invalid_field(x);

	/* A header-only look does not consume the event. */
	exec(x, CDB(0x4a, 1, 0, 0, 0x10, 0, 0, 0, 4));
	expect_data(x, 4);
	assert_int_equal(be16(&x->buf[0]), 6);
	assert_true(x->d.media_event);

	exec(x, CDB(0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8));
	expect_data(x, 8);
	assert_int_equal(be16(&x->buf[0]), 6);
	assert_int_equal(x->buf[2], 0x04); /* media class, event available */
	assert_int_equal(x->buf[3], 0x10); /* supported: media */
	assert_int_equal(x->buf[4], 0x02); /* new media */
	assert_int_equal(x->buf[5], 0x02); /* present, tray closed */
	assert_false(x->d.media_event);

	/* Once only. */
	exec(x, CDB(0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8));
	expect_data(x, 8);
	assert_int_equal(x->buf[4], 0x00);
	assert_int_equal(x->buf[5], 0x02);

	/* Classes other than media: no event available. */
	exec(x, CDB(0x4a, 1, 0, 0, 0x02, 0, 0, 0, 8));
	expect_data(x, 4);
	assert_int_equal(be16(&x->buf[0]), 2);
	assert_int_equal(x->buf[2], 0x80);
	assert_int_equal(x->buf[3], 0x10);

	/* No medium. */
	atapi_init(&x->d, 0, false, NULL, NULL, NULL);
	exec(x, CDB(0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8));
	expect_data(x, 8);
	assert_int_equal(x->buf[4], 0x00);
	assert_int_equal(x->buf[5], 0x00);
}

static void test_disc_and_track_information(void **state)
{
	struct fixture *x = *state;
	exec(x, CDB(0x51, 0, 0, 0, 0, 0, 0, 0, 34));
	expect_data(x, 34);
	assert_int_equal(be16(&x->buf[0]), 32);
	assert_int_equal(x->buf[2] & 0x03, 2);	      /* complete */
	assert_int_equal((x->buf[2] >> 2) & 0x03, 3); /* last session complete */
	assert_int_equal(x->buf[3], 1);
	assert_int_equal(x->buf[4], 1);
	assert_int_equal(x->buf[5], 1);
	assert_int_equal(x->buf[6], 1);
	assert_int_equal(be32(&x->buf[16]), 0xffffffffu);
	exec(x, CDB(0x51, 0, 0, 0, 0, 0, 0, 0, 2));
	expect_data(x, 2);
	exec(x, CDB(0x51, 1, 0, 0, 0, 0, 0, 0, 34));
	expect_invalid_field(x);

	exec(x, CDB(0x52, 1, 0, 0, 0, 1, 0, 0, 48));
	expect_data(x, 48);
	assert_int_equal(be16(&x->buf[0]), 46);
	assert_int_equal(x->buf[2], 1);
	assert_int_equal(x->buf[3], 1);
	assert_int_equal(x->buf[5] & 0x0f, 4);
	assert_int_equal(x->buf[6] & 0x0f, 1);
	assert_int_equal(be32(&x->buf[8]), 0);
	assert_int_equal(be32(&x->buf[24]), DVD_BLOCKS);
	assert_int_equal(be32(&x->buf[28]), DVD_BLOCKS - 1);
	exec(x, CDB(0x52, 1, 0, 0, 0, 1, 0, 0, 36));
	expect_data(x, 36);
	exec(x, CDB(0x52, 0, 0, 0, 0x10, 0, 0, 0, 48)); /* by LBA */
	expect_data(x, 48);
	exec(x, CDB(0x52, 2, 0, 0, 0, 1, 0, 0, 48)); /* session 1 */
	expect_data(x, 48);
	exec(x, CDB(0x52, 1, 0, 0, 0, 2, 0, 0, 48));
	expect_invalid_field(x);
	exec(x, CDB(0x52, 1, 0, 0, 0, 0xff, 0, 0, 48));
	expect_invalid_field(x);
	exec(x, CDB(0x52, 3, 0, 0, 0, 1, 0, 0, 48));
	expect_invalid_field(x);
	exec(x, CDB(0x52, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 48));
	expect_out_of_range(x);
}

static void test_prevent_and_eject(void **state)
{
	struct fixture *x = *state;
	exec(x, CDB(0x1e, 0, 0, 0, 1));
	expect_data(x, 0);
	assert_true(x->d.prevent_removal);
	exec(x, CDB(0x1b, 0, 0, 0, 0x02)); /* eject */
	expect_error(x, SENSE_ILLEGAL_REQUEST, 0x53, 0x02);
	exec(x, CDB(0x1b, 0, 0, 0, 0x01)); /* start */
	expect_data(x, 0);
	exec(x, CDB(0x1e, 0, 0, 0, 0));
	assert_false(x->d.prevent_removal);
	exec(x, CDB(0x1b, 0, 0, 0, 0x02));
	expect_data(x, 0);
	assert_true(x->d.has_medium); /* the owner decides about the medium */
}

static void test_misc_commands(void **state)
{
	struct fixture *x = *state;
	exec(x, CDB(0xbd, 0, 0, 0, 0, 0, 0, 0, 0, 8));
	expect_data(x, 8);
	for (int i = 0; i < 8; i++)
		assert_int_equal(x->buf[i], 0);
	exec(x, CDB(0xbd, 0, 0, 0, 0, 0, 0, 0, 0, 4));
	expect_data(x, 4);

	exec(x, CDB(0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0));
	expect_data(x, 16);
	assert_int_equal(be32(&x->buf[0]), 8);
	for (int i = 4; i < 16; i++)
		assert_int_equal(x->buf[i], 0);
	exec(x, CDB(0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 15));
	expect_invalid_field(x);
	exec(x, CDB(0xa0, 0, 1, 0, 0, 0, 0, 0, 0, 16)); /* well-known LUNs: none */
	expect_data(x, 8);
	assert_int_equal(be32(&x->buf[0]), 0);

	exec(x, CDB(0xbb, 0, 0xff, 0xff, 0xff, 0xff));
	expect_data(x, 0);

	uint32_t last = (uint32_t)(DVD_BLOCKS - 1), end = (uint32_t)DVD_BLOCKS;
	exec(x, CDB(0x2b, 0, last >> 24, last >> 16, last >> 8, last));
	expect_data(x, 0);
	exec(x, CDB(0x2b, 0, end >> 24, end >> 16, end >> 8, end));
	expect_out_of_range(x);

	exec(x, CDB(0x2f, 0, 0, 0, 0, 0, 0, 0x01, 0x00));
	expect_data(x, 0);
	exec(x, CDB(0x2f, 0, last >> 24, last >> 16, last >> 8, last, 0, 0, 2));
	expect_out_of_range(x);
	exec(x, CDB(0x2f, 0x02, 0, 0, 0, 0, 0, 0, 1)); /* BYTCHK */
	expect_invalid_field(x);

	/* Some commands a read-only drive does not take. */
	static const uint8_t unsupported[] = {0x0a, 0x2a, 0x15, 0x55, 0xa1, 0x35, 0x04, 0xad};
	for (size_t i = 0; i < sizeof(unsupported); i++) {
		exec(x, CDB(unsupported[i]));
		expect_error(x, SENSE_ILLEGAL_REQUEST, 0x20, 0);
	}
}

static void test_empty_drive(void **state)
{
	struct fixture *x = *state;
	atapi_init(&x->d, DVD_SIZE, false, NULL, NULL, NULL);

	static const uint8_t media[][12] = {
	    {0x00},
	    {0x25},
	    {0x28, 0, 0, 0, 0, 0, 0, 0, 1},
	    {0xa8, 0, 0, 0, 0, 0, 0, 0, 0, 1},
	    {0x88, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	    {0xbe, 0, 0, 0, 0, 0, 0, 0, 1, 0x10},
	    {0x9e, 0x10},
	    {0x43, 0, 0, 0, 0, 0, 0, 0, 0xff},
	    {0x51, 0, 0, 0, 0, 0, 0, 0, 34},
	    {0x52, 1, 0, 0, 0, 1, 0, 0, 48},
	    {0x2b},
	    {0x2f},
	};
	for (size_t i = 0; i < sizeof(media) / sizeof(media[0]); i++) {
		exec(x, media[i]);
		expect_error(x, SENSE_NOT_READY, 0x3a, 0);
		assert_int_equal(atapi_error_reg(&x->d), 0x20);
	}

	/* REQUEST SENSE reports it, and with nothing pending still the current condition. */
	exec(x, CDB(0x03, 0, 0, 0, 18));
	expect_data(x, 18);
	assert_int_equal(x->buf[2], SENSE_NOT_READY);
	assert_int_equal(x->buf[12], 0x3a);
	exec(x, CDB(0x03, 0, 0, 0, 18));
	expect_data(x, 18);
	assert_int_equal(x->buf[2], SENSE_NOT_READY);

	static const uint8_t fine[][12] = {
	    {0x12, 0, 0, 0, 36},
	    {0x12, 1, 0x80, 0, 36},
	    {0x5a, 0, 0x3f, 0, 0, 0, 0, 0, 255},
	    {0x1a, 0, 0x2a, 0, 255},
	    {0x46, 0, 0, 0, 0, 0, 0, 0, 255},
	    {0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8},
	    {0x1e, 0, 0, 0, 1},
	    {0x1b, 0, 0, 0, 1},
	    {0xbd, 0, 0, 0, 0, 0, 0, 0, 0, 8},
	    {0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 16},
	    {0xbb},
	};
	for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
		exec(x, fine[i]);
		assert_int_equal(x->r.action, ATAPI_DATA);
	}

	/* The medium arrives (the owner sets it up again). */
	atapi_init(&x->d, DVD_SIZE, true, NULL, NULL, NULL);
	exec(x, CDB(0x00));
	expect_data(x, 0);
}

/* xorshift64*: deterministic pseudo-random numbers for the fuzz loop. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static void test_random_packets(void **state)
{
	struct fixture *x = *state;
	static const uint8_t ops[] = {0x00, 0x03, 0x12, 0x1a, 0x1b, 0x1e, 0x25, 0x28,
				      0x2b, 0x2f, 0x43, 0x46, 0x4a, 0x51, 0x52, 0x5a,
				      0x88, 0x9e, 0xa0, 0xa8, 0xbb, 0xbd, 0xbe};
	static const uint64_t sizes[] = {0,	  100,	    2048,	2049,
					 CD_SIZE, DVD_SIZE, 1ull << 44, UINT64_MAX};
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	uint8_t cdb[16];
	unsigned seen[3] = {0};

	for (int i = 0; i < 200000; i++) {
		if (i % 1000 == 0)
			atapi_init(&x->d, sizes[rnd(&seed) % 8], rnd(&seed) % 4 != 0, NULL, NULL,
				   "SERIAL-NUMBER-012345");
		uint64_t v = rnd(&seed);
		for (int j = 0; j < 16; j++) {
			if (j % 8 == 0)
				v = rnd(&seed);
			cdb[j] = (uint8_t)(v >> (8 * (j % 8)));
			/* Small and boundary values are more interesting than uniform bytes. */
			if ((v >> (j + 40)) % 3 == 0)
				cdb[j] = (uint8_t)((v >> 56) % 3 ? 0 : 0xff);
		}
		if (rnd(&seed) % 8 != 0)
			cdb[0] = ops[rnd(&seed) % sizeof(ops)];
		/* Sparse packets: mostly-zero LBAs and lengths land inside the medium. */
		if (rnd(&seed) % 2 == 0) {
			v = rnd(&seed);
			for (int j = 2; j < 14; j++)
				if ((v >> (2 * j)) % 4 != 0)
					cdb[j] = 0;
		}
		unsigned len = rnd(&seed) % 2 ? 12 : 16;

		exec_len(x, cdb, len);
		uint64_t blocks = x->d.size / ATAPI_BLOCK;
		switch (x->r.action) {
		case ATAPI_DATA:
			assert_true(x->r.len <= ATAPI_REPLY_MAX);
			assert_int_equal(x->d.sense_key, SENSE_NONE);
			break;
		case ATAPI_READ:
			assert_true(x->d.has_medium);
			assert_true(x->r.lba < blocks);
			assert_true(x->r.nblocks <= blocks - x->r.lba);
			break;
		case ATAPI_ERROR:
			assert_true(x->d.sense_key == SENSE_ILLEGAL_REQUEST ||
				    x->d.sense_key == SENSE_NOT_READY);
			assert_true(atapi_error_reg(&x->d) != 0);
			break;
		default:
			fail_msg("bad action %d", (int)x->r.action);
		}
		seen[x->r.action]++;
	}
	/* The mix exercised every outcome. */
	assert_true(seen[ATAPI_DATA] > 20000);
	assert_true(seen[ATAPI_READ] > 2000);
	assert_true(seen[ATAPI_ERROR] > 20000);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_init_defaults),
	    T(test_unknown_opcode_and_request_sense),
	    T(test_success_clears_sense),
	    T(test_error_register_and_read_error),
	    T(test_inquiry_standard),
	    T(test_inquiry_vpd),
	    T(test_read_capacity),
	    T(test_reads),
	    T(test_read_range_errors),
	    T(test_read_cd_fields),
	    T(test_mode_sense_capabilities),
	    T(test_mode_sense_pages),
	    T(test_read_toc_format0),
	    T(test_read_toc_formats_1_2),
	    T(test_get_configuration),
	    T(test_event_status),
	    T(test_disc_and_track_information),
	    T(test_prevent_and_eject),
	    T(test_misc_commands),
	    T(test_empty_drive),
	    T(test_random_packets),
	};
	return cmocka_run_group_tests_name("atapi", tests, NULL, NULL);
}
