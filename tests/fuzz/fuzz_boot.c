/* SPDX-License-Identifier: BSD-2-Clause */
/* Direct Linux boot with an untrusted kernel file: the input is the whole kernel file (bzImage,
 * ELF vmlinux with a PVH note, or anything else), loaded by boot_linux() with a small initrd
 * and a command line into 32 MiB of guest RAM between guard pages.
 *
 * A rejected kernel must come with a message. An accepted one is checked against the file and
 * the boot protocols: the kernel bytes are where the entry state says, the initrd is intact,
 * page-aligned, inside RAM and clear of the kernel, the zero page / start_info point at the
 * right things, and the same file also boots without the initrd, at the same entry point. */
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "boot/boot.h"
#include "boot/e820.h"
#include "core/guestmem.h"
#include "fixture.h"

#define RAM_SIZE (32u << 20)
#define MiB (1ULL << 20)
#define PAGE 4096ULL
#define RSDP_ADDR 0xF2400

static const char cmdline[] = "console=ttyS0 root=/dev/vda1 rw";
static const uint8_t initrd[] = "kbfuzz initrd\n";

static struct fuzz_memfile kernel_file, initrd_file;
static struct guestmem gm;
static struct e820_map map;

static uint64_t le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static const uint8_t *ram(uint64_t gpa, uint64_t len)
{
	const uint8_t *p = gm_ptr(&gm, gpa, len);
	FUZZ_CHECK(p, "guest range %#llx+%#llx is not RAM", (unsigned long long)gpa,
		   (unsigned long long)len);
	return p;
}

/* The initrd at [addr, addr+len): intact, page-aligned, in RAM above 1 MiB. */
static void check_initrd(uint64_t addr, uint64_t len)
{
	FUZZ_CHECK(len == sizeof(initrd), "initrd size %llu, expected %zu", (unsigned long long)len,
		   sizeof(initrd));
	FUZZ_CHECK(addr % PAGE == 0 && addr >= MiB, "initrd at %#llx", (unsigned long long)addr);
	FUZZ_CHECK(memcmp(ram(addr, len), initrd, len) == 0, "initrd at %#llx is not intact",
		   (unsigned long long)addr);
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static void check_bzimage(const uint8_t *k, size_t ksize, const struct boot_cpu_state *st)
{
	const uint8_t *zp = ram(BOOT_ZERO_PAGE_ADDR, 4096);
	uint64_t load = le(zp + 0x214, 4);
	FUZZ_CHECK(
	    st->rip == load + 0x200 && st->rsi == BOOT_ZERO_PAGE_ADDR && st->cr3 == BOOT_PML4_ADDR,
	    "entry rip %#llx rsi %#llx cr3 %#llx, kernel at %#llx", (unsigned long long)st->rip,
	    (unsigned long long)st->rsi, (unsigned long long)st->cr3, (unsigned long long)load);
	uint64_t setup = ((uint64_t)(k[0x1f1] ? k[0x1f1] : 4) + 1) * 512;
	FUZZ_CHECK(setup < ksize, "accepted with setup %llu >= file %zu", (unsigned long long)setup,
		   ksize);
	uint64_t pm = ksize - setup, init_size = le(k + 0x260, 4);
	uint64_t need = pm > init_size ? pm : init_size;
	FUZZ_CHECK(load >= MiB && load + need <= gm.lowmem, "kernel at %#llx+%#llx",
		   (unsigned long long)load, (unsigned long long)need);
	uint64_t align = le(k + 0x230, 4);
	if (k[0x234]) /* relocatable: aligned as the header asks */
		FUZZ_CHECK(load % align == 0, "kernel at %#llx, alignment %#llx",
			   (unsigned long long)load, (unsigned long long)align);
	FUZZ_CHECK(memcmp(ram(load, pm), k + setup, pm) == 0, "kernel image not loaded intact");
	FUZZ_CHECK(le(zp + 0x228, 4) == BOOT_CMDLINE_ADDR, "cmd_line_ptr %#llx",
		   (unsigned long long)le(zp + 0x228, 4));
	FUZZ_CHECK(zp[0x1e8] == map.n, "%u E820 entries, the map has %d", zp[0x1e8], map.n);
	FUZZ_CHECK(le(zp + 0x250, 8) == 0, "setup_data passed on");
	uint64_t rd = le(zp + 0x218, 4) | le(zp + 0xc0, 4) << 32;
	uint64_t rdlen = le(zp + 0x21c, 4) | le(zp + 0xc4, 4) << 32;
	if (rdlen) {
		check_initrd(rd, rdlen);
		FUZZ_CHECK(!overlaps(rd, rdlen, load, need), "initrd at %#llx inside the kernel",
			   (unsigned long long)rd);
		if (!(le(k + 0x236, 2) & 2)) /* not XLF_CAN_BE_LOADED_ABOVE_4G */
			FUZZ_CHECK(rd + rdlen - 1 <= le(k + 0x22c, 4),
				   "initrd ends at %#llx above initrd_addr_max %#llx",
				   (unsigned long long)(rd + rdlen - 1),
				   (unsigned long long)le(k + 0x22c, 4));
	}
}

static void check_pvh(const uint8_t *k, size_t ksize, const struct boot_cpu_state *st)
{
	FUZZ_CHECK(st->rbx == BOOT_PVH_INFO_ADDR, "rbx %#llx", (unsigned long long)st->rbx);
	const uint8_t *si = ram(BOOT_PVH_INFO_ADDR, 0x38);
	FUZZ_CHECK(le(si, 4) == 0x336ec578 && le(si + 4, 4) == 1, "start_info magic/version");
	FUZZ_CHECK(le(si + 0x18, 8) == BOOT_CMDLINE_ADDR && le(si + 0x20, 8) == RSDP_ADDR,
		   "start_info command line / RSDP");
	FUZZ_CHECK(le(si + 0x30, 4) == (uint64_t)map.n, "start_info memmap entries");
	Elf64_Ehdr eh;
	memcpy(&eh, k, sizeof(eh));
	Elf64_Phdr ph[256];
	FUZZ_CHECK(eh.e_phnum <= 256 && eh.e_phoff + eh.e_phnum * sizeof(Elf64_Phdr) <= ksize,
		   "accepted a bad program header table");
	memcpy(ph, k + eh.e_phoff, eh.e_phnum * sizeof(Elf64_Phdr));
	uint64_t rd = 0, rdlen = 0;
	if (le(si + 0x0c, 4)) {
		FUZZ_CHECK(le(si + 0x0c, 4) == 1, "%llu modules",
			   (unsigned long long)le(si + 0x0c, 4));
		const uint8_t *mod = ram(le(si + 0x10, 8), 32);
		rd = le(mod, 8);
		rdlen = le(mod + 8, 8);
		check_initrd(rd, rdlen);
	}
	bool entry_loaded = false;
	for (int i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD || ph[i].p_memsz == 0)
			continue;
		FUZZ_CHECK(ph[i].p_paddr >= MiB && ph[i].p_paddr + ph[i].p_memsz <= gm.lowmem,
			   "segment %d at %#llx+%#llx", i, (unsigned long long)ph[i].p_paddr,
			   (unsigned long long)ph[i].p_memsz);
		FUZZ_CHECK(!rdlen || !overlaps(rd, rdlen, ph[i].p_paddr, ph[i].p_memsz),
			   "initrd at %#llx inside segment %d", (unsigned long long)rd, i);
		entry_loaded |=
		    st->rip >= ph[i].p_paddr && st->rip - ph[i].p_paddr < ph[i].p_filesz;
		bool alone = true;
		for (int j = 0; j < eh.e_phnum; j++)
			if (j != i && ph[j].p_type == PT_LOAD && ph[j].p_memsz &&
			    overlaps(ph[i].p_paddr, ph[i].p_memsz, ph[j].p_paddr, ph[j].p_memsz))
				alone = false;
		if (!alone)
			continue; /* later segments may overwrite earlier ones */
		const uint8_t *dst = ram(ph[i].p_paddr, ph[i].p_memsz);
		FUZZ_CHECK(memcmp(dst, k + ph[i].p_offset, ph[i].p_filesz) == 0,
			   "segment %d not loaded intact", i);
		for (uint64_t b = ph[i].p_filesz; b < ph[i].p_memsz; b++)
			FUZZ_CHECK(dst[b] == 0, "segment %d: byte %#llx past p_filesz not zeroed",
				   i, (unsigned long long)b);
	}
	FUZZ_CHECK(entry_loaded, "entry %#llx is not in a loaded segment",
		   (unsigned long long)st->rip);
}

static int boot(const char *initrd_path, struct boot_cpu_state *st)
{
	struct boot_params_in in = {
	    .kernel_path = kernel_file.path,
	    .initrd_path = initrd_path,
	    .cmdline = cmdline,
	    .rsdp_gpa = RSDP_ADDR,
	    .e820 = &map,
	};
	char err[512] = "";
	int rc = boot_linux(&gm, &in, st, err, sizeof(err));
	FUZZ_CHECK(rc <= 0 && (rc == 0 || err[0]), "boot_linux: %d without a message", rc);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!gm.host) {
		guestmem_init_from(&gm, fuzz_ram_alloc(RAM_SIZE), RAM_SIZE, 0);
		e820_build(&map, RAM_SIZE, 0);
		fuzz_memfile_open(&kernel_file, "kbfuzz-kernel");
		fuzz_memfile_open(&initrd_file, "kbfuzz-initrd");
		fuzz_memfile_set(&initrd_file, initrd, sizeof(initrd));
	}
	fuzz_memfile_set(&kernel_file, data, size);
	struct boot_cpu_state st;
	if (boot(initrd_file.path, &st) != 0)
		return 0;
	FUZZ_CHECK(st.gdt_base == BOOT_GDT_ADDR && st.gdt_limit == 31, "GDT %#llx/%u",
		   (unsigned long long)st.gdt_base, st.gdt_limit);
	FUZZ_CHECK(memcmp(ram(BOOT_CMDLINE_ADDR, sizeof(cmdline)), cmdline, sizeof(cmdline)) == 0,
		   "command line not in place");
	if (st.mode == BOOT_MODE_LONG64)
		check_bzimage(data, size, &st);
	else
		check_pvh(data, size, &st);

	struct boot_cpu_state without;
	int rc = boot(NULL, &without);
	FUZZ_CHECK(rc == 0, "boots with the initrd but not without it (%d)", rc);
	FUZZ_CHECK(without.rip == st.rip && without.mode == st.mode,
		   "entry %#llx without the initrd, %#llx with it", (unsigned long long)without.rip,
		   (unsigned long long)st.rip);
	return 0;
}
