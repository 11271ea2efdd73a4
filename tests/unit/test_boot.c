/* SPDX-License-Identifier: BSD-2-Clause */
/* Direct Linux boot: synthetic bzImage and ELF/PVH kernels written to temp files and loaded into
 * a calloc'd guest memory; checks where everything lands, the zero page and hvm_start_info by
 * their spec offsets, the page tables, the GDT, the vCPU state, and the error paths.
 * With KBHYVE_CACHE (or /var/cache/kbhyve) holding vmlinuz and vmlinux, also loads those. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "boot/boot.h"
#include "boot/e820.h"
#include "core/guestmem.h"

#define MiB (1ULL << 20)
#define GUEST_RAM (64 * MiB)
#define RSDP 0xF0000ULL

static char tmpdir[64];

struct fx {
	uint8_t *mem;
	uint64_t memsize;
	struct guestmem gm;
	struct e820_map map;
	struct boot_cpu_state cpu;
	char err[512];
};

static struct fx *fx_new(uint64_t ram)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->mem = calloc(1, ram);
	assert_non_null(f->mem);
	f->memsize = ram;
	guestmem_init_from(&f->gm, f->mem, ram, 0);
	e820_build(&f->map, ram, 0);
	return f;
}

static void fx_free(struct fx *f)
{
	free(f->mem);
	free(f);
}

static int setup(void **state)
{
	*state = fx_new(GUEST_RAM);
	return 0;
}

static int teardown(void **state)
{
	fx_free(*state);
	return 0;
}

static int group_setup(void **state)
{
	strcpy(tmpdir, "/tmp/kbhyve-test-boot-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- helpers ---- */

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}
static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}
static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}
static uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}
static uint64_t get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static const char *write_file(const char *name, const void *data, size_t len)
{
	static char paths[8][128];
	static int next;
	char *p = paths[next++ % 8];
	snprintf(p, 128, "%s/%s", tmpdir, name);
	FILE *fp = fopen(p, "wb");
	assert_non_null(fp);
	if (len)
		assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	return p;
}

/* A file of `len` bytes: byte i = (i * 13 + seed) & 0xff. */
static uint8_t *pattern(size_t len, unsigned seed)
{
	uint8_t *b = malloc(len ? len : 1);
	assert_non_null(b);
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(i * 13 + seed);
	return b;
}

static const char *write_pattern_file(const char *name, size_t len, unsigned seed)
{
	uint8_t *b = pattern(len, seed);
	const char *p = write_file(name, b, len);
	free(b);
	return p;
}

static int boot(struct fx *f, const char *kernel, const char *initrd, const char *cmdline)
{
	struct boot_params_in in = {
	    .kernel_path = kernel,
	    .initrd_path = initrd,
	    .cmdline = cmdline,
	    .rsdp_gpa = RSDP,
	    .e820 = &f->map,
	};
	memset(&f->cpu, 0xEE, sizeof(f->cpu));
	f->err[0] = '\0';
	return boot_linux(&f->gm, &in, &f->cpu, f->err, sizeof(f->err));
}

static void expect_err(struct fx *f, int rc, int want_rc, const char *needle)
{
	if (rc != want_rc || !strstr(f->err, needle))
		fail_msg("rc %d (want %d), message \"%s\" (want \"%s\" in it)", rc, want_rc, f->err,
			 needle);
}

static void expect_gdt(struct fx *f, uint64_t code)
{
	assert_int_equal(f->cpu.gdt_base, BOOT_GDT_ADDR);
	assert_int_equal(f->cpu.gdt_limit, 4 * 8 - 1);
	const uint8_t *g = f->mem + BOOT_GDT_ADDR;
	assert_int_equal(get64(g), 0);
	assert_int_equal(get64(g + 8), 0);
	assert_int_equal(get64(g + 0x10), code);
	assert_int_equal(get64(g + 0x18), 0x00CF93000000FFFFULL);
	/* Decode the code descriptor: present, DPL 0, code segment, flat 4 GiB. */
	uint64_t c = get64(g + 0x10);
	assert_true(c & (1ULL << 47));		   /* P */
	assert_int_equal((c >> 45) & 3, 0);	   /* DPL */
	assert_true(c & (1ULL << 44));		   /* S: code/data */
	assert_true(c & (1ULL << 43));		   /* executable */
	assert_true(c & (1ULL << 55));		   /* 4 KiB granularity */
	assert_int_equal(c & 0xFFFF, 0xFFFF);	   /* limit 15:0 */
	assert_int_equal((c >> 48) & 0xF, 0xF);	   /* limit 19:16 */
	assert_int_equal((c >> 16) & 0xFFFFFF, 0); /* base 23:0 */
	assert_int_equal(c >> 56, 0);		   /* base 31:24 */
}

/* The E820 table as the kernel sees it: `n` packed 20-byte entries at `p`. */
static void expect_e820_table(struct fx *f, const uint8_t *p, size_t stride)
{
	for (int i = 0; i < f->map.n; i++) {
		const uint8_t *e = p + (size_t)i * stride;
		assert_int_equal(get64(e), f->map.e[i].addr);
		assert_int_equal(get64(e + 8), f->map.e[i].size);
		assert_int_equal(get32(e + 16), f->map.e[i].type);
	}
}

static const char *sparse_file(const char *name, uint64_t size)
{
	static char path[128];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
	return path;
}

/* ---- synthetic bzImage ---- */

#define BZ_SETUP_SECTS 4
#define BZ_SETUP_SIZE ((BZ_SETUP_SECTS + 1) * 512)
#define BZ_PAYLOAD 8192
#define BZ_SIZE (BZ_SETUP_SIZE + BZ_PAYLOAD)
#define BZ_PREF 0x1000000ULL
#define BZ_INIT_SIZE 0x400000u

/* Setup header offsets in the file and in the zero page (Documentation/arch/x86/boot.rst). */
enum {
	H_SETUP_SECTS = 0x1f1,
	H_VID_MODE = 0x1fa,
	H_BOOT_FLAG = 0x1fe,
	H_JUMP = 0x200,
	H_HEADER = 0x202,
	H_VERSION = 0x206,
	H_TYPE_OF_LOADER = 0x210,
	H_LOADFLAGS = 0x211,
	H_CODE32_START = 0x214,
	H_RAMDISK_IMAGE = 0x218,
	H_RAMDISK_SIZE = 0x21c,
	H_CMD_LINE_PTR = 0x228,
	H_INITRD_ADDR_MAX = 0x22c,
	H_KERNEL_ALIGNMENT = 0x230,
	H_RELOCATABLE = 0x234,
	H_XLOADFLAGS = 0x236,
	H_CMDLINE_SIZE = 0x238,
	H_SETUP_DATA = 0x250,
	H_PREF_ADDRESS = 0x258,
	H_INIT_SIZE = 0x260,
	ZP_ACPI_RSDP = 0x070,
	ZP_EXT_RAMDISK_IMAGE = 0x0c0,
	ZP_EXT_RAMDISK_SIZE = 0x0c4,
	ZP_E820_ENTRIES = 0x1e8,
	ZP_SENTINEL = 0x1ef,
	ZP_E820_TABLE = 0x2d0,
};

static uint8_t *make_bzimage(void)
{
	uint8_t *k = calloc(1, BZ_SIZE);
	assert_non_null(k);
	k[H_SETUP_SECTS] = BZ_SETUP_SECTS;
	put16(k + H_BOOT_FLAG, 0xAA55);
	k[H_JUMP] = 0xEB;
	k[H_JUMP + 1] = 0x6A; /* header ends at 0x26c */
	memcpy(k + H_HEADER, "HdrS", 4);
	put16(k + H_VERSION, 0x020f);
	put16(k + H_VID_MODE, 0x0003);
	k[H_LOADFLAGS] = 0x01;
	put32(k + H_INITRD_ADDR_MAX, 0x7fffffff);
	put32(k + H_KERNEL_ALIGNMENT, 0x200000);
	k[H_RELOCATABLE] = 1;
	put16(k + H_XLOADFLAGS, 0x0003);
	put32(k + H_CMDLINE_SIZE, 255);
	put64(k + H_SETUP_DATA, 0xdeadbeef); /* must not reach the kernel */
	put64(k + H_PREF_ADDRESS, BZ_PREF);
	put32(k + H_INIT_SIZE, BZ_INIT_SIZE);
	for (size_t i = 0; i < BZ_PAYLOAD; i++)
		k[BZ_SETUP_SIZE + i] = (uint8_t)(i * 7 + 3);
	return k;
}

static const char *write_bz(uint8_t *k, size_t len)
{
	const char *p = write_file("bzImage", k, len);
	free(k);
	return p;
}

static void expect_page_tables(struct fx *f)
{
	assert_int_equal(f->cpu.cr3, BOOT_PML4_ADDR);
	const uint8_t *pml4 = f->mem + BOOT_PML4_ADDR;
	uint64_t pdpt_addr = get64(pml4) & ~0xFFFULL;
	assert_int_equal(get64(pml4) & 0x3, 0x3);
	for (int i = 1; i < 512; i++)
		assert_int_equal(get64(pml4 + i * 8), 0);
	const uint8_t *pdpt = f->mem + pdpt_addr;
	for (int i = 0; i < 4; i++) {
		uint64_t e = get64(pdpt + i * 8);
		assert_int_equal(e & 0x83, 0x3); /* present, writable, not a 1 GiB page */
		uint64_t pd_addr = e & ~0xFFFULL;
		/* Inside the page-table area and not on top of the PML4/PDPT. */
		assert_true(pd_addr >= BOOT_PML4_ADDR + 0x2000 && pd_addr <= 0xE000);
		const uint8_t *pd = f->mem + pd_addr;
		for (uint64_t j = 0; j < 512; j++)
			assert_int_equal(get64(pd + j * 8), (((uint64_t)i * 512 + j) << 21) | 0x83);
	}
	for (int i = 4; i < 512; i++)
		assert_int_equal(get64(pdpt + i * 8), 0);
}

static void test_bz_basic(void **state)
{
	struct fx *f = *state;
	const char *kernel = write_bz(make_bzimage(), BZ_SIZE);
	const size_t initrd_len = 100000;
	const char *initrd = write_pattern_file("initrd", initrd_len, 5);
	const char *cmdline = "console=ttyS0 root=/dev/vda";
	assert_int_equal(boot(f, kernel, initrd, cmdline), 0);

	/* Protected-mode kernel at its preferred address. */
	for (size_t i = 0; i < BZ_PAYLOAD; i++)
		assert_int_equal(f->mem[BZ_PREF + i], (uint8_t)(i * 7 + 3));

	/* Zero page. */
	const uint8_t *zp = f->mem + BOOT_ZERO_PAGE_ADDR;
	assert_memory_equal(zp + H_HEADER, "HdrS", 4);
	assert_int_equal(get16(zp + H_VERSION), 0x020f);
	assert_int_equal(zp[H_TYPE_OF_LOADER], 0xFF);
	assert_true(zp[H_LOADFLAGS] & 0x01);
	assert_int_equal(get16(zp + H_VID_MODE), 0xFFFF);
	assert_int_equal(get32(zp + H_CODE32_START), BZ_PREF);
	assert_int_equal(get32(zp + H_INIT_SIZE), BZ_INIT_SIZE);
	assert_int_equal(get64(zp + H_SETUP_DATA), 0);
	assert_int_equal(zp[ZP_SENTINEL], 0);
	assert_int_equal(get64(zp + ZP_ACPI_RSDP), RSDP);
	assert_int_equal(get32(zp + H_CMD_LINE_PTR), BOOT_CMDLINE_ADDR);
	assert_string_equal((const char *)f->mem + BOOT_CMDLINE_ADDR, cmdline);
	assert_int_equal(zp[ZP_E820_ENTRIES], f->map.n);
	expect_e820_table(f, zp + ZP_E820_TABLE, 20);

	/* Initrd: top of low RAM, page aligned, above the kernel's init_size. */
	uint64_t rd = get32(zp + H_RAMDISK_IMAGE);
	assert_int_equal(get32(zp + H_RAMDISK_SIZE), initrd_len);
	assert_int_equal(get32(zp + ZP_EXT_RAMDISK_IMAGE), 0);
	assert_int_equal(get32(zp + ZP_EXT_RAMDISK_SIZE), 0);
	assert_int_equal(rd, (GUEST_RAM - initrd_len) & ~0xFFFULL);
	assert_true(rd >= BZ_PREF + BZ_INIT_SIZE);
	uint8_t *want = pattern(initrd_len, 5);
	assert_memory_equal(f->mem + rd, want, initrd_len);
	free(want);

	expect_page_tables(f);
	expect_gdt(f, 0x00AF9B000000FFFFULL);
	uint64_t code = get64(f->mem + BOOT_GDT_ADDR + 0x10);
	assert_true(code & (1ULL << 53));  /* L: 64-bit code */
	assert_false(code & (1ULL << 54)); /* D must be clear with L */

	assert_int_equal(f->cpu.mode, BOOT_MODE_LONG64);
	assert_int_equal(f->cpu.rip, BZ_PREF + 0x200);
	assert_int_equal(f->cpu.rsi, BOOT_ZERO_PAGE_ADDR);
	assert_int_equal(f->cpu.rbx, 0);
	assert_true(f->cpu.rsp > BOOT_ZERO_PAGE_ADDR + 0x1000 && f->cpu.rsp <= BOOT_PML4_ADDR);
}

static void test_bz_no_initrd_no_cmdline(void **state)
{
	struct fx *f = *state;
	const char *kernel = write_bz(make_bzimage(), BZ_SIZE);
	memset(f->mem + BOOT_CMDLINE_ADDR, 'x', 16);
	assert_int_equal(boot(f, kernel, NULL, NULL), 0);
	const uint8_t *zp = f->mem + BOOT_ZERO_PAGE_ADDR;
	assert_int_equal(get32(zp + H_RAMDISK_IMAGE), 0);
	assert_int_equal(get32(zp + H_RAMDISK_SIZE), 0);
	assert_int_equal(get32(zp + H_CMD_LINE_PTR), BOOT_CMDLINE_ADDR);
	assert_int_equal(f->mem[BOOT_CMDLINE_ADDR], 0);
}

static void test_bz_setup_sects_zero_means_4(void **state)
{
	struct fx *f = *state;
	uint8_t *k = make_bzimage();
	k[H_SETUP_SECTS] = 0;
	const char *kernel = write_bz(k, BZ_SIZE);
	assert_int_equal(boot(f, kernel, NULL, "x"), 0);
	assert_int_equal(f->mem[BZ_PREF], 3);
	assert_int_equal(f->mem[BZ_PREF + 1], 10);
}

static void test_bz_initrd_addr_max(void **state)
{
	struct fx *f = *state;
	uint8_t *k = make_bzimage();
	put16(k + H_XLOADFLAGS, 0x0001); /* initrd must stay below initrd_addr_max */
	put32(k + H_INITRD_ADDR_MAX, 0x2FFFFFF);
	const char *kernel = write_bz(k, BZ_SIZE);
	const char *initrd = write_pattern_file("initrd", 5000, 1);
	assert_int_equal(boot(f, kernel, initrd, NULL), 0);
	uint64_t rd = get32(f->mem + BOOT_ZERO_PAGE_ADDR + H_RAMDISK_IMAGE);
	assert_int_equal(rd, (0x3000000 - 5000) & ~0xFFFULL);
	assert_true(rd + 5000 - 1 <= 0x2FFFFFF);
}

static void test_bz_initrd_above_addr_max_with_xlf(void **state)
{
	struct fx *f = *state;
	uint8_t *k = make_bzimage();
	put32(k + H_INITRD_ADDR_MAX, 0x2FFFFFF); /* XLF_CAN_BE_LOADED_ABOVE_4G lifts the limit */
	const char *kernel = write_bz(k, BZ_SIZE);
	const char *initrd = write_pattern_file("initrd", 5000, 1);
	assert_int_equal(boot(f, kernel, initrd, NULL), 0);
	assert_int_equal(get32(f->mem + BOOT_ZERO_PAGE_ADDR + H_RAMDISK_IMAGE),
			 (GUEST_RAM - 5000) & ~0xFFFULL);
}

static void test_bz_relocates_when_pref_does_not_fit(void **state)
{
	struct fx *f = fx_new(16 * MiB);
	const char *kernel = write_bz(make_bzimage(), BZ_SIZE);
	assert_int_equal(boot(f, kernel, NULL, NULL), 0);
	assert_int_equal(f->cpu.rip, 0x200000 + 0x200);
	assert_int_equal(f->mem[0x200000], 3);
	assert_int_equal(get32(f->mem + BOOT_ZERO_PAGE_ADDR + H_CODE32_START), 0x200000);
	fx_free(f);
}

static void test_bz_not_relocatable_does_not_fit(void **state)
{
	struct fx *f = fx_new(16 * MiB);
	uint8_t *k = make_bzimage();
	k[H_RELOCATABLE] = 0;
	const char *kernel = write_bz(k, BZ_SIZE);
	expect_err(f, boot(f, kernel, NULL, NULL), -ENOMEM, "guest low memory");
	fx_free(f);
}

static void test_bz_init_size_too_big(void **state)
{
	struct fx *f = *state;
	uint8_t *k = make_bzimage();
	put32(k + H_INIT_SIZE, 0x4000000); /* 64 MiB from 16 MiB: past the end of RAM */
	const char *kernel = write_bz(k, BZ_SIZE);
	expect_err(f, boot(f, kernel, NULL, NULL), -ENOMEM, "kernel needs");
}

static void test_bz_bad_alignment(void **state)
{
	struct fx *f = *state;
	uint8_t *k = make_bzimage();
	put32(k + H_KERNEL_ALIGNMENT, 0x300000);
	const char *kernel = write_bz(k, BZ_SIZE);
	expect_err(f, boot(f, kernel, NULL, NULL), -EINVAL, "kernel_alignment");
}

static void test_bz_old_protocol(void **state)
{
	struct fx *f = *state;
	uint8_t *k = make_bzimage();
	put16(k + H_VERSION, 0x020b);
	const char *kernel = write_bz(k, BZ_SIZE);
	expect_err(f, boot(f, kernel, NULL, NULL), -EINVAL, "2.11 is too old");
}

static void test_bz_no_64bit_entry(void **state)
{
	struct fx *f = *state;
	uint8_t *k = make_bzimage();
	put16(k + H_XLOADFLAGS, 0);
	const char *kernel = write_bz(k, BZ_SIZE);
	expect_err(f, boot(f, kernel, NULL, NULL), -EINVAL, "XLF_KERNEL_64");
}

static void test_bz_not_loaded_high(void **state)
{
	struct fx *f = *state;
	uint8_t *k = make_bzimage();
	k[H_LOADFLAGS] = 0;
	const char *kernel = write_bz(k, BZ_SIZE);
	expect_err(f, boot(f, kernel, NULL, NULL), -EINVAL, "LOADED_HIGH");
}

static void test_bz_truncated_header(void **state)
{
	struct fx *f = *state;
	const char *kernel = write_bz(make_bzimage(), 0x230);
	expect_err(f, boot(f, kernel, NULL, NULL), -EINVAL, "truncated bzImage setup header");
}

static void test_bz_short_header_jump(void **state)
{
	struct fx *f = *state;
	uint8_t *k = make_bzimage();
	k[H_JUMP + 1] = 0x20; /* header would end at 0x222: too short for protocol 2.12 */
	const char *kernel = write_bz(k, BZ_SIZE);
	expect_err(f, boot(f, kernel, NULL, NULL), -EINVAL, "truncated bzImage setup header");
}

static void test_bz_no_protected_mode_kernel(void **state)
{
	struct fx *f = *state;
	const char *kernel = write_bz(make_bzimage(), BZ_SETUP_SIZE);
	expect_err(f, boot(f, kernel, NULL, NULL), -EINVAL, "no protected-mode kernel");
}

static void test_bz_cmdline_size(void **state)
{
	struct fx *f = *state;
	const char *kernel = write_bz(make_bzimage(), BZ_SIZE);
	char line[300];
	memset(line, 'a', sizeof(line));
	line[255] = '\0'; /* exactly cmdline_size */
	assert_int_equal(boot(f, kernel, NULL, line), 0);
	assert_int_equal(strlen((const char *)f->mem + BOOT_CMDLINE_ADDR), 255);
	line[255] = 'a';
	line[256] = '\0';
	expect_err(f, boot(f, kernel, NULL, line), -EINVAL, "command line too long (256 bytes");
}

static void test_bz_initrd_too_large(void **state)
{
	struct fx *f = *state;
	const char *kernel = write_bz(make_bzimage(), BZ_SIZE);
	/* 60 MiB cannot sit above the kernel's 16 MiB + 4 MiB in a 64 MiB guest. */
	const char *path = sparse_file("big-initrd", 60 * MiB);
	expect_err(f, boot(f, kernel, path, NULL), -ENOMEM, "does not fit");
	assert_non_null(strstr(f->err, path));
}

static void test_bz_initrd_rounding_respects_init_size(void **state)
{
	struct fx *f = *state;
	uint8_t *k = make_bzimage();
	put32(k + H_INIT_SIZE, 0x400800); /* kernel area ends off a page boundary */
	const char *kernel = write_bz(k, BZ_SIZE);
	const uint64_t kend = BZ_PREF + 0x400800;
	/* Fits between kend and the top, but rounding its start down to a page would overlap. */
	const char *rd = sparse_file("tight-initrd", GUEST_RAM - kend - 0x400);
	expect_err(f, boot(f, kernel, rd, NULL), -ENOMEM, "does not fit");
	rd = sparse_file("tight-initrd", GUEST_RAM - (kend + 0x800));
	assert_int_equal(boot(f, kernel, rd, NULL), 0);
	assert_int_equal(get32(f->mem + BOOT_ZERO_PAGE_ADDR + H_RAMDISK_IMAGE), kend + 0x800);
}

/* ---- synthetic ELF vmlinux with a PVH note ---- */

#define PVH_TEXT_PADDR 0x1000000ULL
#define PVH_TEXT_OFF 0x1000
#define PVH_TEXT_SIZE 0x2000
#define PVH_DATA_PADDR 0x1100000ULL
#define PVH_DATA_OFF 0x3000
#define PVH_DATA_FILESZ 0x800
#define PVH_DATA_MEMSZ 0x4000
#define PVH_NOTE_OFF 0x200
#define PVH_ENTRY (PVH_TEXT_PADDR + 0x100)
#define PVH_FILE_SIZE 0x3800
#define PVH_NPHDR 3

struct elf_opts {
	bool no_entry_note;
	int entry_desc_size; /* 8 (Linux) or 4 */
	uint64_t entry;
};

static size_t add_note(uint8_t *p, const char *name, uint32_t type, const void *desc,
		       uint32_t descsz)
{
	uint32_t namesz = (uint32_t)strlen(name) + 1;
	put32(p, namesz);
	put32(p + 4, descsz);
	put32(p + 8, type);
	memcpy(p + 12, name, namesz);
	size_t off = 12 + ((namesz + 3) & ~3u);
	memcpy(p + off, desc, descsz);
	return off + ((descsz + 3) & ~3u);
}

static Elf64_Phdr *phdr(uint8_t *elf, int i)
{
	return (Elf64_Phdr *)(elf + sizeof(Elf64_Ehdr) + (size_t)i * sizeof(Elf64_Phdr));
}

static uint8_t *make_elf(const struct elf_opts *o)
{
	uint8_t *e = calloc(1, PVH_FILE_SIZE);
	assert_non_null(e);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)e;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = 0x1000000;
	eh->e_phoff = sizeof(Elf64_Ehdr);
	eh->e_ehsize = sizeof(Elf64_Ehdr);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = PVH_NPHDR;

	/* Notes: a GNU build id, an unrelated Xen note, then (maybe) the PVH entry. */
	uint8_t *n = e + PVH_NOTE_OFF;
	size_t len = 0;
	uint8_t id[20];
	memset(id, 0x42, sizeof(id));
	len += add_note(n + len, "GNU", NT_GNU_BUILD_ID, id, sizeof(id));
	len += add_note(n + len, "Xen", 6, "linux", 6);
	/* A note with the entry's type but another owner must be ignored. */
	uint64_t bogus = 0x1234;
	len += add_note(n + len, "Linux", 18, &bogus, 8);
	len += add_note(n + len, "Lin", 18, &bogus, 8);
	if (!o->no_entry_note) {
		uint64_t entry = o->entry ? o->entry : PVH_ENTRY;
		len += add_note(n + len, "Xen", 18, &entry,
				o->entry_desc_size ? (uint32_t)o->entry_desc_size : 8);
	}

	*phdr(e, 0) = (Elf64_Phdr){.p_type = PT_LOAD,
				   .p_flags = PF_R | PF_X,
				   .p_offset = PVH_TEXT_OFF,
				   .p_vaddr = 0xffffffff81000000ULL,
				   .p_paddr = PVH_TEXT_PADDR,
				   .p_filesz = PVH_TEXT_SIZE,
				   .p_memsz = PVH_TEXT_SIZE,
				   .p_align = 0x1000};
	*phdr(e, 1) = (Elf64_Phdr){.p_type = PT_NOTE,
				   .p_flags = PF_R,
				   .p_offset = PVH_NOTE_OFF,
				   .p_paddr = 0x1000200,
				   .p_filesz = len,
				   .p_memsz = len,
				   .p_align = 4};
	*phdr(e, 2) = (Elf64_Phdr){.p_type = PT_LOAD,
				   .p_flags = PF_R | PF_W,
				   .p_offset = PVH_DATA_OFF,
				   .p_vaddr = 0, /* like .data..percpu */
				   .p_paddr = PVH_DATA_PADDR,
				   .p_filesz = PVH_DATA_FILESZ,
				   .p_memsz = PVH_DATA_MEMSZ,
				   .p_align = 0x1000};
	for (size_t i = 0; i < PVH_TEXT_SIZE; i++)
		e[PVH_TEXT_OFF + i] = (uint8_t)(i * 5 + 1);
	for (size_t i = 0; i < PVH_DATA_FILESZ; i++)
		e[PVH_DATA_OFF + i] = (uint8_t)(i * 3 + 2);
	return e;
}

static const char *write_elf(uint8_t *e, size_t len)
{
	const char *p = write_file("vmlinux", e, len);
	free(e);
	return p;
}

static const char *default_elf(void)
{
	struct elf_opts o = {0};
	return write_elf(make_elf(&o), PVH_FILE_SIZE);
}

/* hvm_start_info offsets (xen/include/public/arch-x86/hvm/start_info.h). */
enum {
	SI_MAGIC = 0x00,
	SI_VERSION = 0x04,
	SI_FLAGS = 0x08,
	SI_NR_MODULES = 0x0c,
	SI_MODLIST = 0x10,
	SI_CMDLINE = 0x18,
	SI_RSDP = 0x20,
	SI_MEMMAP = 0x28,
	SI_MEMMAP_ENTRIES = 0x30,
	SI_RESERVED = 0x34,
};

static void test_pvh_basic(void **state)
{
	struct fx *f = *state;
	const char *kernel = default_elf();
	const size_t initrd_len = 123456;
	const char *initrd = write_pattern_file("initrd", initrd_len, 9);
	const char *cmdline = "console=hvc0 quiet";
	/* Dirty the bss range to see it zeroed. */
	memset(f->mem + PVH_DATA_PADDR, 0xAA, PVH_DATA_MEMSZ + 0x100);
	assert_int_equal(boot(f, kernel, initrd, cmdline), 0);

	for (size_t i = 0; i < PVH_TEXT_SIZE; i++)
		assert_int_equal(f->mem[PVH_TEXT_PADDR + i], (uint8_t)(i * 5 + 1));
	for (size_t i = 0; i < PVH_DATA_FILESZ; i++)
		assert_int_equal(f->mem[PVH_DATA_PADDR + i], (uint8_t)(i * 3 + 2));
	for (size_t i = PVH_DATA_FILESZ; i < PVH_DATA_MEMSZ; i++)
		assert_int_equal(f->mem[PVH_DATA_PADDR + i], 0);
	assert_int_equal(f->mem[PVH_DATA_PADDR + PVH_DATA_MEMSZ], 0xAA); /* not past memsz */

	const uint8_t *si = f->mem + BOOT_PVH_INFO_ADDR;
	assert_int_equal(get32(si + SI_MAGIC), 0x336ec578);
	assert_int_equal(get32(si + SI_VERSION), 1);
	assert_int_equal(get32(si + SI_FLAGS), 0);
	assert_int_equal(get32(si + SI_NR_MODULES), 1);
	assert_int_equal(get64(si + SI_RSDP), RSDP);
	assert_int_equal(get32(si + SI_RESERVED), 0);
	uint64_t cl = get64(si + SI_CMDLINE);
	assert_int_equal(cl, BOOT_CMDLINE_ADDR);
	assert_string_equal((const char *)f->mem + cl, cmdline);

	uint64_t ml = get64(si + SI_MODLIST);
	assert_true(ml > BOOT_PVH_INFO_ADDR && ml + 32 <= BOOT_PVH_INFO_ADDR + 0x1000);
	uint64_t rd = get64(f->mem + ml);
	assert_int_equal(get64(f->mem + ml + 8), initrd_len);
	assert_int_equal(get64(f->mem + ml + 16), 0);
	assert_int_equal(rd, (GUEST_RAM - initrd_len) & ~0xFFFULL);
	assert_true(rd >= PVH_DATA_PADDR + PVH_DATA_MEMSZ);
	uint8_t *want = pattern(initrd_len, 9);
	assert_memory_equal(f->mem + rd, want, initrd_len);
	free(want);

	uint64_t mm = get64(si + SI_MEMMAP);
	assert_int_equal(get32(si + SI_MEMMAP_ENTRIES), f->map.n);
	assert_true(mm > BOOT_PVH_INFO_ADDR &&
		    mm + 24 * (uint64_t)f->map.n <= BOOT_PVH_INFO_ADDR + 0x1000);
	assert_true(mm >= ml + 32); /* no overlap with the module list */
	expect_e820_table(f, f->mem + mm, 24);
	for (int i = 0; i < f->map.n; i++)
		assert_int_equal(get32(f->mem + mm + 24 * i + 20), 0);

	expect_gdt(f, 0x00CF9B000000FFFFULL);
	uint64_t code = get64(f->mem + BOOT_GDT_ADDR + 0x10);
	assert_false(code & (1ULL << 53)); /* not 64-bit */
	assert_true(code & (1ULL << 54));  /* D: 32-bit */

	assert_int_equal(f->cpu.mode, BOOT_MODE_PROT32_FLAT);
	assert_int_equal(f->cpu.rip, PVH_ENTRY);
	assert_int_equal(f->cpu.rbx, BOOT_PVH_INFO_ADDR);
	assert_int_equal(f->cpu.cr3, 0);
}

static void test_pvh_no_initrd(void **state)
{
	struct fx *f = *state;
	assert_int_equal(boot(f, default_elf(), NULL, NULL), 0);
	const uint8_t *si = f->mem + BOOT_PVH_INFO_ADDR;
	assert_int_equal(get32(si + SI_NR_MODULES), 0);
	assert_int_equal(get64(si + SI_MODLIST), 0);
	assert_int_equal(f->mem[get64(si + SI_CMDLINE)], 0);
}

static void test_pvh_entry_note_4_bytes(void **state)
{
	struct fx *f = *state;
	struct elf_opts o = {.entry_desc_size = 4, .entry = PVH_TEXT_PADDR + 0x40};
	assert_int_equal(boot(f, write_elf(make_elf(&o), PVH_FILE_SIZE), NULL, NULL), 0);
	assert_int_equal(f->cpu.rip, PVH_TEXT_PADDR + 0x40);
}

static void test_pvh_no_note(void **state)
{
	struct fx *f = *state;
	struct elf_opts o = {.no_entry_note = true};
	const char *kernel = write_elf(make_elf(&o), PVH_FILE_SIZE);
	expect_err(f, boot(f, kernel, NULL, NULL), -EINVAL, "no PVH entry note");
	assert_non_null(strstr(f->err, kernel));
}

static void test_pvh_bad_note_size(void **state)
{
	struct fx *f = *state;
	struct elf_opts o = {.entry_desc_size = 2};
	const char *kernel = write_elf(make_elf(&o), PVH_FILE_SIZE);
	expect_err(f, boot(f, kernel, NULL, NULL), -EINVAL, "malformed PVH entry note");
}

static void test_pvh_note_overruns_segment(void **state)
{
	struct fx *f = *state;
	struct elf_opts o = {0};
	uint8_t *e = make_elf(&o);
	put32(e + PVH_NOTE_OFF, 0xFFFFFFF0); /* namesz of the first note */
	expect_err(f, boot(f, write_elf(e, PVH_FILE_SIZE), NULL, NULL), -EINVAL,
		   "malformed ELF note");
}

static void test_pvh_nameless_note_at_file_end(void **state)
{
	struct fx *f = *state;
	struct elf_opts o = {.no_entry_note = true};
	uint8_t *e = make_elf(&o);
	/* Last 12 bytes of the file: a note header with type 18 and no name or descriptor. The
	 * loader must not look for "Xen" past it (ASan would see the read). */
	uint8_t *last = e + PVH_FILE_SIZE - 12;
	put32(last, 0);
	put32(last + 4, 0);
	put32(last + 8, 18);
	phdr(e, 1)->p_offset = PVH_FILE_SIZE - 12;
	phdr(e, 1)->p_filesz = 12;
	expect_err(f, boot(f, write_elf(e, PVH_FILE_SIZE), NULL, NULL), -EINVAL,
		   "no PVH entry note");
}

static void test_pvh_note_segment_outside_file(void **state)
{
	struct fx *f = *state;
	struct elf_opts o = {0};
	uint8_t *e = make_elf(&o);
	phdr(e, 1)->p_offset = UINT64_MAX - 8;
	expect_err(f, boot(f, write_elf(e, PVH_FILE_SIZE), NULL, NULL), -EINVAL,
		   "note segment 1 lies outside the file");
}

static void test_pvh_segment_outside_file(void **state)
{
	struct fx *f = *state;
	struct elf_opts o = {0};
	uint8_t *e = make_elf(&o);
	phdr(e, 2)->p_filesz = PVH_FILE_SIZE; /* offset 0x3000 + 0x3800 > file */
	phdr(e, 2)->p_memsz = PVH_FILE_SIZE;
	expect_err(f, boot(f, write_elf(e, PVH_FILE_SIZE), NULL, NULL), -EINVAL,
		   "segment 2 lies outside the file");

	e = make_elf(&o);
	phdr(e, 0)->p_offset = UINT64_MAX - 0x100; /* offset + size wraps */
	expect_err(f, boot(f, write_elf(e, PVH_FILE_SIZE), NULL, NULL), -EINVAL,
		   "segment 0 lies outside the file");

	e = make_elf(&o);
	phdr(e, 0)->p_memsz = PVH_TEXT_SIZE / 2; /* file bytes would spill past the segment */
	expect_err(f, boot(f, write_elf(e, PVH_FILE_SIZE), NULL, NULL), -EINVAL,
		   "segment 0 has p_filesz > p_memsz");
}

static void test_pvh_paddr_outside_ram(void **state)
{
	struct fx *f = *state;
	struct elf_opts o = {0};
	const uint64_t bad[] = {
	    GUEST_RAM - 0x1000, /* runs past the end of RAM */
	    0x8000000,		/* beyond RAM */
	    0xFEC00000,		/* the IOAPIC page */
	    UINT64_MAX - 0x100, /* paddr + memsz wraps */
	    0x8000,		/* below 1 MiB, over the boot data */
	    0xA0000,		/* legacy hole (E820 reserved) */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t *e = make_elf(&o);
		phdr(e, 2)->p_paddr = bad[i];
		expect_err(f, boot(f, write_elf(e, PVH_FILE_SIZE), NULL, NULL), -ENOMEM,
			   "is not in guest low RAM");
	}
}

static void test_pvh_paddr_in_reserved_e820(void **state)
{
	struct fx *f = *state;
	/* RAM in guest memory but reserved in the map (e.g. ACPI tables): not for the kernel. */
	assert_int_equal(e820_add(&f->map, PVH_DATA_PADDR + 0x1000, 0x1000, E820_ACPI), 0);
	expect_err(f, boot(f, default_elf(), NULL, NULL), -ENOMEM, "segment 2");
}

static void test_pvh_entry_outside_segments(void **state)
{
	struct fx *f = *state;
	struct elf_opts o = {.entry = 0x2000000};
	expect_err(f, boot(f, write_elf(make_elf(&o), PVH_FILE_SIZE), NULL, NULL), -EINVAL,
		   "outside the loaded segments");
	/* In the bss part of a segment: not code the loader puts there. */
	o.entry = PVH_DATA_PADDR + PVH_DATA_FILESZ + 0x10;
	expect_err(f, boot(f, write_elf(make_elf(&o), PVH_FILE_SIZE), NULL, NULL), -EINVAL,
		   "outside the loaded segments");
}

static void test_pvh_bad_headers(void **state)
{
	struct fx *f = *state;
	struct elf_opts o = {0};
	uint8_t *e = make_elf(&o);
	((Elf64_Ehdr *)e)->e_machine = EM_386;
	expect_err(f, boot(f, write_elf(e, PVH_FILE_SIZE), NULL, NULL), -EINVAL, "not an x86-64");

	e = make_elf(&o);
	e[EI_CLASS] = ELFCLASS32;
	expect_err(f, boot(f, write_elf(e, PVH_FILE_SIZE), NULL, NULL), -EINVAL, "not an x86-64");

	e = make_elf(&o);
	((Elf64_Ehdr *)e)->e_type = ET_REL;
	expect_err(f, boot(f, write_elf(e, PVH_FILE_SIZE), NULL, NULL), -EINVAL,
		   "not an executable");

	e = make_elf(&o);
	((Elf64_Ehdr *)e)->e_phoff = PVH_FILE_SIZE - 100; /* table runs off the end */
	expect_err(f, boot(f, write_elf(e, PVH_FILE_SIZE), NULL, NULL), -EINVAL,
		   "bad ELF program header table");

	e = make_elf(&o);
	((Elf64_Ehdr *)e)->e_phoff = UINT64_MAX - 10;
	expect_err(f, boot(f, write_elf(e, PVH_FILE_SIZE), NULL, NULL), -EINVAL,
		   "bad ELF program header table");

	e = make_elf(&o);
	((Elf64_Ehdr *)e)->e_phentsize = 32;
	expect_err(f, boot(f, write_elf(e, PVH_FILE_SIZE), NULL, NULL), -EINVAL,
		   "bad ELF program header table");

	e = make_elf(&o);
	((Elf64_Ehdr *)e)->e_phnum = 0;
	expect_err(f, boot(f, write_elf(e, PVH_FILE_SIZE), NULL, NULL), -EINVAL,
		   "bad ELF program header table");

	/* Only the ELF identification survives. */
	expect_err(f, boot(f, write_elf(make_elf(&o), 20), NULL, NULL), -EINVAL,
		   "truncated ELF header");
}

static void test_pvh_initrd_must_be_above_kernel(void **state)
{
	struct fx *f = *state;
	struct elf_opts o = {0};
	uint8_t *e = make_elf(&o);
	/* The data segment ends 1 MiB below the top of RAM. */
	phdr(e, 2)->p_paddr = GUEST_RAM - 2 * MiB;
	phdr(e, 2)->p_memsz = MiB;
	const char *kernel = write_elf(e, PVH_FILE_SIZE);
	const char *small = write_pattern_file("small-initrd", 0x80000, 3);
	assert_int_equal(boot(f, kernel, small, NULL), 0);
	const uint8_t *si = f->mem + BOOT_PVH_INFO_ADDR;
	assert_int_equal(get64(f->mem + get64(si + SI_MODLIST)), GUEST_RAM - 0x80000);

	const char *big = write_pattern_file("big-initrd", MiB + 1, 3);
	expect_err(f, boot(f, kernel, big, NULL), -ENOMEM, "does not fit");
}

static void test_pvh_cmdline_too_long(void **state)
{
	struct fx *f = *state;
	const char *kernel = default_elf();
	char *line = malloc(BOOT_CMDLINE_MAX + 1);
	assert_non_null(line);
	memset(line, 'c', BOOT_CMDLINE_MAX);
	line[BOOT_CMDLINE_MAX] = '\0';
	expect_err(f, boot(f, kernel, NULL, line), -EINVAL, "command line too long");
	line[BOOT_CMDLINE_MAX - 1] = '\0'; /* the longest that fits with its NUL */
	assert_int_equal(boot(f, kernel, NULL, line), 0);
	assert_int_equal(strlen((const char *)f->mem + BOOT_CMDLINE_ADDR), BOOT_CMDLINE_MAX - 1);
	free(line);
}

/* ---- input files and format detection ---- */

static void test_missing_kernel(void **state)
{
	struct fx *f = *state;
	char path[128];
	snprintf(path, sizeof(path), "%s/no-such-kernel", tmpdir);
	expect_err(f, boot(f, path, NULL, NULL), -ENOENT, "No such file or directory");
	assert_non_null(strstr(f->err, path));
}

static void test_missing_initrd(void **state)
{
	struct fx *f = *state;
	char path[128];
	snprintf(path, sizeof(path), "%s/no-such-initrd", tmpdir);
	expect_err(f, boot(f, default_elf(), path, NULL), -ENOENT, "No such file or directory");
	assert_non_null(strstr(f->err, path));
	assert_non_null(strstr(f->err, "initrd"));
}

static void test_empty_initrd(void **state)
{
	struct fx *f = *state;
	const char *initrd = write_file("empty-initrd", "", 0);
	expect_err(f, boot(f, default_elf(), initrd, NULL), -EINVAL, "empty");
}

static void test_kernel_is_directory(void **state)
{
	struct fx *f = *state;
	expect_err(f, boot(f, tmpdir, NULL, NULL), -EINVAL, "not a regular file");
}

static void test_garbage_kernel(void **state)
{
	struct fx *f = *state;
	const char *k = write_pattern_file("garbage", 4096, 77);
	expect_err(f, boot(f, k, NULL, NULL), -EINVAL,
		   "not a Linux kernel (neither bzImage nor ELF vmlinux)");
	assert_non_null(strstr(f->err, k));
	const char *empty = write_file("empty", "", 0);
	expect_err(f, boot(f, empty, NULL, NULL), -EINVAL, "not a Linux kernel");
	const char *tiny = write_file("tiny",
				      "\x7f"
				      "EL",
				      3);
	expect_err(f, boot(f, tiny, NULL, NULL), -EINVAL, "not a Linux kernel");
}

static void test_guest_memory_too_small(void **state)
{
	/* 8 KiB of RAM: neither kernel fits; both must fail cleanly. */
	struct fx *f = fx_new(0x2000);
	expect_err(f, boot(f, default_elf(), NULL, NULL), -ENOMEM, "not in guest low RAM");
	const char *kernel = write_bz(make_bzimage(), BZ_SIZE);
	expect_err(f, boot(f, kernel, NULL, NULL), -ENOMEM, "kernel needs");
	fx_free(f);
}

/* ---- the real Debian kernel, when another step has put it in the cache ---- */

static const char *cache_file(const char *name, char *buf, size_t len)
{
	const char *dir = getenv("KBHYVE_CACHE");
	if (!dir || !*dir)
		dir = "/var/cache/kbhyve";
	snprintf(buf, len, "%s/%s", dir, name);
	return access(buf, R_OK) == 0 ? buf : NULL;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	long n = ftell(fp);
	assert_true(n > 0);
	rewind(fp);
	uint8_t *b = malloc((size_t)n);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	*len = (size_t)n;
	return b;
}

static void test_real_bzimage(void **state)
{
	char buf[512];
	const char *path = cache_file("vmlinuz", buf, sizeof(buf));
	if (!path) {
		print_message("SKIP: no vmlinuz in $KBHYVE_CACHE or /var/cache/kbhyve\n");
		skip();
	}
	size_t len;
	uint8_t *k = slurp(path, &len);
	struct fx *f = fx_new(512 * MiB);
	const char *initrd = write_pattern_file("initrd", 4096, 1);
	assert_int_equal(boot(f, path, initrd, "console=ttyS0"), 0);
	uint64_t load = f->cpu.rip - 0x200;
	uint32_t align = get32(k + H_KERNEL_ALIGNMENT);
	assert_int_equal(load, get64(k + H_PREF_ADDRESS));
	assert_int_equal(load % (16 * MiB), 0);
	assert_int_equal(load % align, 0);
	size_t setup = ((size_t)(k[H_SETUP_SECTS] ? k[H_SETUP_SECTS] : 4) + 1) * 512;
	assert_memory_equal(f->mem + load, k + setup, len - setup);
	const uint8_t *zp = f->mem + BOOT_ZERO_PAGE_ADDR;
	assert_memory_equal(zp + H_HEADER, "HdrS", 4);
	assert_true(get32(zp + H_RAMDISK_IMAGE) >= load + get32(k + H_INIT_SIZE));
	assert_int_equal(f->cpu.mode, BOOT_MODE_LONG64);
	print_message("vmlinuz: protocol %x, loaded at 0x%llx, init_size 0x%x, initrd at 0x%x\n",
		      get16(k + H_VERSION), (unsigned long long)load, get32(k + H_INIT_SIZE),
		      get32(zp + H_RAMDISK_IMAGE));
	free(k);
	fx_free(f);
}

static void test_real_vmlinux(void **state)
{
	char buf[512];
	const char *path = cache_file("vmlinux", buf, sizeof(buf));
	if (!path) {
		print_message("SKIP: no vmlinux in $KBHYVE_CACHE or /var/cache/kbhyve\n");
		skip();
	}
	size_t len;
	uint8_t *k = slurp(path, &len);
	struct fx *f = fx_new(512 * MiB);
	const char *initrd = write_pattern_file("initrd", 4096, 1);
	assert_int_equal(boot(f, path, initrd, "console=ttyS0"), 0);
	assert_int_equal(f->cpu.mode, BOOT_MODE_PROT32_FLAT);
	/* The entry lies in a loaded segment and guest memory there holds the file's bytes. */
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)k;
	bool inside = false;
	uint64_t end = 0;
	for (int i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, k + eh->e_phoff + (size_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD)
			continue;
		assert_memory_equal(f->mem + ph.p_paddr, k + ph.p_offset, ph.p_filesz);
		if (ph.p_paddr + ph.p_memsz > end)
			end = ph.p_paddr + ph.p_memsz;
		if (f->cpu.rip >= ph.p_paddr && f->cpu.rip < ph.p_paddr + ph.p_filesz)
			inside = true;
	}
	assert_true(inside);
	const uint8_t *si = f->mem + BOOT_PVH_INFO_ADDR;
	assert_true(get64(f->mem + get64(si + SI_MODLIST)) >= end);
	print_message("vmlinux: PVH entry 0x%llx, image ends 0x%llx\n",
		      (unsigned long long)f->cpu.rip, (unsigned long long)end);
	free(k);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_bz_basic, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bz_no_initrd_no_cmdline, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bz_setup_sects_zero_means_4, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bz_initrd_addr_max, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bz_initrd_above_addr_max_with_xlf, setup,
					    teardown),
	    cmocka_unit_test(test_bz_relocates_when_pref_does_not_fit),
	    cmocka_unit_test(test_bz_not_relocatable_does_not_fit),
	    cmocka_unit_test_setup_teardown(test_bz_init_size_too_big, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bz_bad_alignment, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bz_old_protocol, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bz_no_64bit_entry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bz_not_loaded_high, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bz_truncated_header, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bz_short_header_jump, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bz_no_protected_mode_kernel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bz_cmdline_size, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bz_initrd_too_large, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bz_initrd_rounding_respects_init_size, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_pvh_basic, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pvh_no_initrd, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pvh_entry_note_4_bytes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pvh_no_note, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pvh_bad_note_size, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pvh_note_overruns_segment, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pvh_note_segment_outside_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pvh_nameless_note_at_file_end, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pvh_segment_outside_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pvh_paddr_outside_ram, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pvh_paddr_in_reserved_e820, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pvh_entry_outside_segments, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pvh_bad_headers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pvh_initrd_must_be_above_kernel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pvh_cmdline_too_long, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_kernel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_initrd, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_empty_initrd, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kernel_is_directory, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_garbage_kernel, setup, teardown),
	    cmocka_unit_test(test_guest_memory_too_small),
	    cmocka_unit_test(test_real_bzimage),
	    cmocka_unit_test(test_real_vmlinux),
	};
	return cmocka_run_group_tests_name("boot", tests, group_setup, group_teardown);
}
