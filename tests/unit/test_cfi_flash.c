/* SPDX-License-Identifier: BSD-2-Clause */
/* CFI flash command set over a real file: OVMF's detection sequence, program, erase, status,
 * query, bad sequences, write-through (the file holds a write when the access returns), what
 * happens when the file cannot be written, and when reads may bypass the model (memslot). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/cfi_flash.h"

#define SIZE (4 * CFI_FLASH_BLOCK)

struct fixture {
	char path[64];
	int fd;
	uint8_t mem[SIZE];
	struct cfi_flash f;
};

static int setup(void **state)
{
	struct fixture *x = calloc(1, sizeof(*x));
	strcpy(x->path, "/tmp/kbhyve-cfi-XXXXXX");
	x->fd = mkstemp(x->path);
	assert_true(x->fd >= 0);
	for (unsigned i = 0; i < SIZE; i++)
		x->mem[i] = (uint8_t)(i * 7 + 3);
	x->mem[0x10] = 0x5a;
	assert_int_equal(pwrite(x->fd, x->mem, SIZE, 0), SIZE);
	cfi_flash_init(&x->f, x->mem, SIZE, x->fd, x->path);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *x = *state;
	cfi_flash_fini(&x->f);
	close(x->fd);
	unlink(x->path);
	free(x);
	return 0;
}

static uint64_t rd(struct fixture *x, uint64_t off, unsigned size)
{
	uint64_t v = 0xdeadbeef;
	assert_int_equal(cfi_flash_access(&x->f, off, size, false, &v), 0);
	return v;
}

static void wr(struct fixture *x, uint64_t off, unsigned size, uint64_t v)
{
	assert_int_equal(cfi_flash_access(&x->f, off, size, true, &v), 0);
}

/* What the file (not the model's memory) holds at off. */
static uint8_t file_byte(struct fixture *x, uint64_t off)
{
	int fd = open(x->path, O_RDONLY);
	assert_true(fd >= 0);
	uint8_t b;
	assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
	close(fd);
	return b;
}

/* QemuFlashDetected(): original byte, 0x50 -> original again, 0x70 -> status 0 = "flash". */
static void test_ovmf_detection(void **state)
{
	struct fixture *x = *state;
	assert_int_equal(rd(x, 0x10, 1), 0x5a);
	wr(x, 0x10, 1, 0x50);
	assert_int_equal(rd(x, 0x10, 1), 0x5a); /* not RAM: the command did not stick */
	wr(x, 0x10, 1, 0x70);
	assert_int_equal(rd(x, 0x10, 1), 0x00); /* cleared status: flash */
	wr(x, 0x10, 1, 0xff);
	assert_int_equal(rd(x, 0x10, 1), 0x5a);
}

static void test_program_writes_through(void **state)
{
	struct fixture *x = *state;
	wr(x, 100, 1, 0x10);
	assert_int_equal(rd(x, 100, 1), CFI_STATUS_READY); /* status while programming */
	wr(x, 100, 1, 0x42);
	assert_int_equal(file_byte(x, 100), 0x42); /* in the file before the guest reads on */
	assert_int_equal(rd(x, 100, 1), CFI_STATUS_READY);
	wr(x, 100, 1, 0xff);
	assert_int_equal(rd(x, 100, 1), 0x42);
	/* 0x40 is the same; a plain store (QEMU), also of 0 bits back to 1 */
	wr(x, 101, 1, 0x40);
	wr(x, 101, 1, 0xff);
	wr(x, 101, 1, 0xff);
	assert_int_equal(rd(x, 101, 1), 0xff);
	assert_int_equal(file_byte(x, 101), 0xff);
	/* a 4-byte program stores 4 bytes */
	wr(x, 0x200, 1, 0x10);
	wr(x, 0x200, 4, 0x11223344);
	wr(x, 0x200, 1, 0xff);
	assert_int_equal(rd(x, 0x200, 4), 0x11223344);
	assert_int_equal(file_byte(x, 0x203), 0x11);
}

static void test_erase_block(void **state)
{
	struct fixture *x = *state;
	uint8_t before0 = x->mem[CFI_FLASH_BLOCK - 1], before2 = x->mem[2 * CFI_FLASH_BLOCK];
	wr(x, CFI_FLASH_BLOCK + 123, 1, 0x20);
	wr(x, CFI_FLASH_BLOCK + 123, 1, 0xd0);
	assert_int_equal(rd(x, 0, 1) & CFI_STATUS_READY, CFI_STATUS_READY);
	wr(x, 0, 1, 0xff);
	for (unsigned i = CFI_FLASH_BLOCK; i < 2 * CFI_FLASH_BLOCK; i += 511) {
		assert_int_equal(rd(x, i, 1), 0xff);
		assert_int_equal(file_byte(x, i), 0xff);
	}
	assert_int_equal(rd(x, 2 * CFI_FLASH_BLOCK - 1, 1), 0xff);
	assert_int_equal(rd(x, CFI_FLASH_BLOCK - 1, 1), before0); /* neighbours untouched */
	assert_int_equal(rd(x, 2 * CFI_FLASH_BLOCK, 1), before2);
	assert_int_equal(file_byte(x, 2 * CFI_FLASH_BLOCK), before2);
}

static void test_erase_without_confirm(void **state)
{
	struct fixture *x = *state;
	uint8_t before = x->mem[50];
	wr(x, 50, 1, 0x20);
	wr(x, 50, 1, 0x00); /* not 0xD0: sequence error, nothing erased */
	assert_int_equal(rd(x, 50, 1),
			 CFI_STATUS_READY | CFI_STATUS_ERASE_ERR | CFI_STATUS_PROGRAM_ERR);
	wr(x, 50, 1, 0x50); /* clear status */
	assert_int_equal(rd(x, 50, 1), before);
	assert_int_equal(file_byte(x, 50), before);
}

static void test_unknown_command_reads_array(void **state)
{
	struct fixture *x = *state;
	wr(x, 0x10, 1, 0x70);
	wr(x, 0x10, 1, 0xe8); /* write-to-buffer: not implemented, back to read-array */
	assert_int_equal(rd(x, 0x10, 1), 0x5a);
	wr(x, 0x10, 1, 0x77); /* garbage */
	assert_int_equal(rd(x, 0x10, 1), 0x5a);
	assert_int_equal(file_byte(x, 0x10), 0x5a);
}

static void test_query_and_id(void **state)
{
	struct fixture *x = *state;
	wr(x, 0, 1, 0x98);
	assert_int_equal(rd(x, 0x10, 1), 'Q');
	assert_int_equal(rd(x, 0x11, 1), 'R');
	assert_int_equal(rd(x, 0x12, 1), 'Y');
	assert_int_equal(rd(x, 0x27, 1), 14); /* 16 KiB */
	assert_int_equal(rd(x, 0x2d, 1), 3);  /* 4 blocks - 1 */
	assert_int_equal(rd(x, 0x2f, 1) | rd(x, 0x30, 1) << 8, CFI_FLASH_BLOCK >> 8);
	wr(x, 0, 1, 0x90);
	assert_int_equal(rd(x, 0, 1), 0x89);
	wr(x, 0, 1, 0xff);
	assert_int_equal(rd(x, 0x10, 1), 0x5a);
}

static void test_lock_commands_accepted(void **state)
{
	struct fixture *x = *state;
	wr(x, 0, 1, 0x60);
	wr(x, 0, 1, 0xd0);
	assert_int_equal(rd(x, 0, 1), CFI_STATUS_READY);
	wr(x, 0, 1, 0xff);
	assert_int_equal(rd(x, 0x10, 1), 0x5a);
}

static void test_out_of_range(void **state)
{
	struct fixture *x = *state;
	assert_int_equal(rd(x, SIZE - 2, 4), 0xffff0000 | x->mem[SIZE - 1] << 8 | x->mem[SIZE - 2]);
	wr(x, SIZE - 2, 1, 0x10);
	wr(x, SIZE - 2, 4, 0); /* runs past the end: ignored */
	wr(x, SIZE - 2, 1, 0xff);
	assert_int_not_equal(rd(x, SIZE - 2, 1), 0);
	wr(x, SIZE + 5, 1, 0x20);
	wr(x, SIZE + 5, 1, 0xd0); /* beyond the device: nothing to erase */
	wr(x, 0, 1, 0xff);
	assert_int_equal(rd(x, SIZE - 1, 1), x->mem[SIZE - 1]);
	uint64_t v = 0;
	assert_int_equal(cfi_flash_access(&x->f, 0, 0, false, &v), 0); /* size 0: nothing */
}

/* The file cannot take the write: the guest sees a program error and reads back the old byte,
 * which is what the file still holds. */
static void test_write_failure_keeps_memory_equal_to_file(void **state)
{
	struct fixture *x = *state;
	int ro = open(x->path, O_RDONLY);
	assert_true(ro >= 0);
	x->f.fd = ro;
	uint8_t before = x->mem[300];
	wr(x, 300, 1, 0x10);
	wr(x, 300, 1, (uint8_t)~before);
	assert_int_equal(rd(x, 300, 1) & CFI_STATUS_PROGRAM_ERR, CFI_STATUS_PROGRAM_ERR);
	wr(x, 300, 1, 0xff);
	assert_int_equal(rd(x, 300, 1), before);
	assert_int_equal(file_byte(x, 300), before);
	x->f.fd = x->fd;
	close(ro);
}

/* The direct-read hook (read-only memslot in read-array mode): what it was asked, in order. */
struct direct_log {
	char calls[32]; /* '+' map, '-' unmap */
	unsigned n;
	int fail_map; /* return -1 when asked to map */
};

static int record_direct(void *ctx, bool direct)
{
	struct direct_log *l = ctx;
	if (l->n < sizeof(l->calls) - 1)
		l->calls[l->n++] = direct ? '+' : '-';
	return direct && l->fail_map ? -1 : 0;
}

/* Mapped on the first read in read-array mode; unmapped as soon as a command leaves that mode
 * (before the guest could read status through the mapping); not mapped again during a run of
 * programs, only by the next read of the array. */
static void test_direct_mapping_follows_read_array(void **state)
{
	struct fixture *x = *state;
	struct direct_log l = {0};
	cfi_flash_set_direct_hook(&x->f, record_direct, &l);
	wr(x, 0, 1, 0xff);
	assert_string_equal(l.calls, ""); /* a write alone does not map */
	assert_int_equal(rd(x, 0x10, 1), 0x5a);
	assert_string_equal(l.calls, "+");
	assert_true(x->f.direct);
	wr(x, 0x10, 1, 0xff); /* stays in read-array mode: mapping kept */
	assert_string_equal(l.calls, "+");
	for (unsigned i = 0; i < 3; i++) { /* OVMF's byte-program loop */
		wr(x, 0x20 + i, 1, 0x40);
		assert_false(x->f.direct);
		wr(x, 0x20 + i, 1, 0xa0 + i);
		assert_int_equal(rd(x, 0x20 + i, 1) & CFI_STATUS_READY, CFI_STATUS_READY);
		wr(x, 0x20 + i, 1, 0xff);
	}
	assert_string_equal(l.calls, "+-"); /* one unmap for the whole run */
	assert_int_equal(rd(x, 0x21, 1), 0xa1);
	assert_string_equal(l.calls, "+-+");
	wr(x, 0, 1, 0x70); /* status, id, query: each mode leaves the array */
	assert_string_equal(l.calls, "+-+-");
	assert_int_equal(rd(x, 0, 1), CFI_STATUS_READY);
	wr(x, 0, 1, 0x98);
	assert_int_equal(rd(x, 0x10, 1), 'Q');
	wr(x, 0, 1, 0x20); /* erase without confirm, then back to the array */
	wr(x, 0, 1, 0x00);
	wr(x, 0, 1, 0x50);
	assert_string_equal(l.calls, "+-+-");
	assert_false(x->f.direct);
	assert_int_equal(rd(x, 0x10, 1), 0x5a);
	assert_string_equal(l.calls, "+-+-+");
}

/* A mapping that cannot be made is not asked for again: every read keeps exiting. */
static void test_direct_mapping_failure_stays_on_exits(void **state)
{
	struct fixture *x = *state;
	struct direct_log l = {.fail_map = 1};
	cfi_flash_set_direct_hook(&x->f, record_direct, &l);
	assert_int_equal(rd(x, 0x10, 1), 0x5a);
	assert_false(x->f.direct);
	wr(x, 0, 1, 0x70);
	wr(x, 0, 1, 0xff);
	assert_int_equal(rd(x, 0x10, 1), 0x5a);
	assert_string_equal(l.calls, "+");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_ovmf_detection),
	    T(test_program_writes_through),
	    T(test_erase_block),
	    T(test_erase_without_confirm),
	    T(test_unknown_command_reads_array),
	    T(test_query_and_id),
	    T(test_lock_commands_accepted),
	    T(test_out_of_range),
	    T(test_write_failure_keeps_memory_equal_to_file),
	    T(test_direct_mapping_follows_read_array),
	    T(test_direct_mapping_failure_stays_on_exits),
	};
	return cmocka_run_group_tests_name("cfi_flash", tests, NULL, NULL);
}
