/* SPDX-License-Identifier: BSD-2-Clause */
/* fw_cfg (ports 0x510/0x511 and DMA at 0x514) against any guest: port accesses of every size and
 * DMA descriptors with any control word, length and address, in a small guest RAM.
 * Invariants:
 *   - a DMA request writes guest RAM only in its descriptor's control word and, for a read, in
 *     [address, address + length); the control word afterwards is 0 or the error bit;
 *   - selecting the signature and reading 4 bytes through the data port gives "QEMU";
 *   - the file directory stays well-formed: its count matches its length.
 *
 * Input: operations, op byte low 3 bits:
 *   0 selector write (u16)   1 data read (size from bits 3-4)   2 data write (u8)
 *   3 DMA: descriptor at u16 offset with control u32 (bits 16-31 any key), length u16, address u32,
 *     started by the high/low halves    4 DMA started by one 8-byte write
 *   5 DMA register read (size from bits 3-4, offset bits 5-7)   6 add a file (name byte, length u8)
 *   7 signature check */
#include <string.h>

#include "core/iobus.h"
#include "devices/fw_cfg.h"
#include "fixture.h"

#define RAM 0x10000

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static void check_directory(struct fw_cfg *fc)
{
	const struct fw_cfg_item *d = &fc->items[FW_CFG_FILE_DIR];
	FUZZ_CHECK(d->len >= 4 && d->len == 4 + 64 * be32(d->data), "directory length %u", d->len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t ram[RAM], before[RAM];
	static struct fw_cfg fc;
	struct fuzz_input in = {data, size};
	struct guestmem gm;
	memset(ram, 0x5a, RAM);
	guestmem_init_from(&gm, ram, RAM, 0);
	FUZZ_CHECK(fw_cfg_init(&fc, &gm) == 0, "fw_cfg_init failed");
	fw_cfg_add_file(&fc, "etc/e820", "0123456789abcdefghij", 20);
	unsigned ops = 0, files = 0;
	while (in.left && ops++ < 2048) {
		uint8_t op = in_u8(&in);
		unsigned sz = 1u << ((op >> 3) & 3);
		uint64_t v;
		switch (op & 7) {
		case 0:
			v = in_u16(&in);
			fw_cfg_io(&fc, 0, 2, true, &v);
			break;
		case 1:
			fw_cfg_io(&fc, 1, sz, false, &v);
			break;
		case 2:
			v = in_u8(&in);
			fw_cfg_io(&fc, 1, 1, true, &v);
			break;
		case 3:
		case 4: {
			uint32_t desc = in_u16(&in) % RAM, control = in_u32(&in), len = in_u16(&in);
			uint32_t addr = in_u32(&in) % (RAM + 0x100);
			bool in_ram = desc + 16 <= RAM;
			if (in_ram) {
				put_be32(ram + desc, control);
				put_be32(ram + desc + 4, len);
				put_be32(ram + desc + 8, 0);
				put_be32(ram + desc + 12, addr);
			}
			memcpy(before, ram, RAM);
			if ((op & 7) == 3) {
				uint64_t hi = 0, lo = __builtin_bswap32(desc);
				fw_cfg_dma_io(&fc, 0, 4, true, &hi);
				fw_cfg_dma_io(&fc, 4, 4, true, &lo);
			} else {
				uint64_t a = __builtin_bswap64(desc);
				fw_cfg_dma_io(&fc, 0, 8, true, &a);
			}
			bool reads = (control & FW_CFG_DMA_READ) && !(control & FW_CFG_DMA_WRITE);
			for (uint32_t i = 0; i < RAM; i++) {
				if (ram[i] == before[i])
					continue;
				bool ctl = in_ram && i >= desc && i < desc + 4;
				bool buf = reads && i >= addr && i < (uint64_t)addr + len;
				FUZZ_CHECK(ctl || buf,
					   "DMA wrote guest RAM at %#x (desc %#x addr %#x len %u)",
					   i, desc, addr, len);
			}
			if (in_ram) {
				uint32_t after = be32(ram + desc);
				FUZZ_CHECK(after == 0 || after == FW_CFG_DMA_ERROR,
					   "control %#x after DMA", after);
			}
			break;
		}
		case 5:
			fw_cfg_dma_io(&fc, (op >> 5) & 7, sz, false, &v);
			break;
		case 6: {
			char name[8] = "opt/x";
			name[4] = (char)(in_u8(&in) | 1);
			uint8_t len = in_u8(&in);
			if (files++ < 300)
				fw_cfg_add_file(&fc, name, ram, len);
			check_directory(&fc);
			break;
		}
		default: {
			v = FW_CFG_SIGNATURE;
			fw_cfg_io(&fc, 0, 2, true, &v);
			char sig[4];
			for (int i = 0; i < 4; i++) {
				fw_cfg_io(&fc, 1, 1, false, &v);
				sig[i] = (char)v;
			}
			FUZZ_CHECK(memcmp(sig, "QEMU", 4) == 0, "signature lost");
			break;
		}
		}
	}
	check_directory(&fc);
	fw_cfg_fini(&fc);
	return 0;
}
