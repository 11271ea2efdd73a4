/* SPDX-License-Identifier: BSD-2-Clause */
/* The CFI flash command set (UEFI variable store of -l bootrom) against any sequence of guest
 * accesses, backed by a real file (memfd). Invariants after every access:
 *   - the model's memory equals the file (write-through, also after a failed write);
 *   - data changes only on the data cycle of a program (0x10/0x40), and only the bytes written,
 *     which then hold the written value; or on an erase confirm (0x20, 0xD0), and only the
 *     4 KiB block addressed, which is then all 0xFF;
 *   - in read-array mode a read returns the stored bytes (0xFF past the end);
 *   - the direct mapping (read-only memslot) is on only in read-array mode with no command
 *     pending, where a read that bypasses the model gets what the model would return.
 *
 * Input: operations of 4+ bytes: op (bits 0-1 size 1/2/4/8, bit 2 write, bit 3 take the value
 * from the command table, bits 4-7 command index), u16 offset (wraps a little past the end),
 * then the value (size bytes) unless bit 3 is set. */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "devices/cfi_flash.h"
#include "fixture.h"

#define SIZE (4 * CFI_FLASH_BLOCK)

static const uint8_t commands[16] = {0xff, 0x00, 0x10, 0x40, 0x20, 0xd0, 0x50, 0x70,
				     0x90, 0x98, 0x60, 0x01, 0x2f, 0xe8, 0xb0, 0x77};

static void check_file(const struct cfi_flash *f, int fd)
{
	static uint8_t file[SIZE];
	FUZZ_CHECK(pread(fd, file, SIZE, 0) == SIZE, "cannot read the backing file back");
	FUZZ_CHECK(memcmp(file, f->data, SIZE) == 0, "memory and file differ");
}

/* Stands for the read-only memslot: reads may bypass the model only while it is mapped. */
static int direct_hook(void *ctx, bool direct)
{
	*(bool *)ctx = direct;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t mem[SIZE], before[SIZE];
	struct fuzz_input in = {data, size};
	int fd = memfd_create("fuzz-cfi", 0);
	FUZZ_CHECK(fd >= 0, "memfd_create failed");
	for (unsigned i = 0; i < SIZE; i++)
		mem[i] = (uint8_t)(i * 31 + 7);
	FUZZ_CHECK(pwrite(fd, mem, SIZE, 0) == SIZE, "cannot fill the backing file");
	struct cfi_flash f;
	cfi_flash_init(&f, mem, SIZE, fd, "fuzz-vars");
	bool mapped = false;
	cfi_flash_set_direct_hook(&f, direct_hook, &mapped);
	unsigned ops = 0;
	while (in.left >= 3 && ops++ < 4096) {
		uint8_t op = in_u8(&in);
		unsigned sz = 1u << (op & 3);
		bool is_write = op & 4;
		uint64_t off = in_u16(&in) % (SIZE + 64);
		uint64_t val = (op & 8) ? commands[op >> 4] : in_le(&in, sz);
		uint8_t pending = f.pending;
		enum cfi_mode mode = f.mode;
		memcpy(before, mem, SIZE);
		uint64_t got = val;
		cfi_flash_access(&f, off, sz, is_write, &got);
		FUZZ_CHECK(mapped == f.direct, "the mapping and the model disagree");
		FUZZ_CHECK(!mapped || (f.mode == CFI_READ_ARRAY && !f.pending),
			   "mapped while reads must return status, id or query (mode %d)", f.mode);
		if (!is_write) {
			FUZZ_CHECK(memcmp(before, mem, SIZE) == 0, "a read changed the data");
			if (mode == CFI_READ_ARRAY)
				for (unsigned i = 0; i < sz; i++) {
					uint8_t want = off + i < SIZE ? mem[off + i] : 0xff;
					FUZZ_CHECK((uint8_t)(got >> (8 * i)) == want,
						   "read-array at %#llx gave %#llx",
						   (unsigned long long)off,
						   (unsigned long long)got);
				}
			continue;
		}
		bool program = pending == 0x10 || pending == 0x40;
		bool erase = pending == 0x20 && (uint8_t)val == 0xd0;
		uint64_t block = off & ~(uint64_t)(CFI_FLASH_BLOCK - 1);
		for (uint64_t a = 0; a < SIZE; a++) {
			if (mem[a] == before[a])
				continue;
			bool in_program = program && a >= off && a < off + sz;
			bool in_erase = erase && a >= block && a < block + CFI_FLASH_BLOCK;
			FUZZ_CHECK(in_program || in_erase,
				   "byte %#llx changed by op %#x (pending %#x)",
				   (unsigned long long)a, op, pending);
		}
		if (program && off + sz <= SIZE)
			for (unsigned i = 0; i < sz; i++)
				FUZZ_CHECK(mem[off + i] == (uint8_t)(val >> (8 * i)),
					   "programmed byte does not hold its value");
		if (erase && off < SIZE)
			for (unsigned i = 0; i < CFI_FLASH_BLOCK; i++)
				FUZZ_CHECK(mem[block + i] == 0xff, "erased block not blank");
		if (program || erase || (ops & 63) == 0)
			check_file(&f, fd);
	}
	check_file(&f, fd);
	cfi_flash_fini(&f);
	close(fd);
	return 0;
}
