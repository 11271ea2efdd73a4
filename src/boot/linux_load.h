/* SPDX-License-Identifier: BSD-2-Clause */
/* Internal to src/boot: what boot_linux() hands the two Linux loaders (bzImage, PVH) and the
 * helpers they share for the GDT, the command line and the initrd. */
#ifndef KB_BOOT_LINUX_LOAD_H
#define KB_BOOT_LINUX_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot/boot.h"

/* Initial stack pointer: 0x8000-0x8FFF lies unused between the zero page and the page tables. */
#define BOOT_STACK_TOP 0x8FF0
/* Kernel and initrd go at or above 1 MiB; the boot data above lives below it. */
#define BOOT_HIGH_START 0x100000ULL
#define BOOT_PAGE_SIZE 0x1000ULL

/* Flat 4 GiB descriptors: G=1, P=1, DPL 0; code is execute/read, data read/write (accessed). */
#define BOOT_GDT_CODE64 0x00AF9B000000FFFFULL /* L=1, D=0 */
#define BOOT_GDT_CODE32 0x00CF9B000000FFFFULL /* D=1 */
#define BOOT_GDT_DATA 0x00CF93000000FFFFULL
#define BOOT_GDT_ENTRIES 4

struct linux_load {
	struct guestmem *gm;
	const struct e820_map *e820;
	const char *kernel_path;
	const uint8_t *kernel; /* the whole kernel file, untrusted */
	size_t kernel_size;
	const char *initrd_path; /* NULL: no initrd */
	int initrd_fd;		 /* -1: no initrd */
	uint64_t initrd_size;
	const char *cmdline; /* never NULL */
	size_t cmdline_len;
	uint64_t rsdp_gpa;
	char *err;
	size_t errlen;
};

int linux_load_bzimage(struct linux_load *ld, struct boot_cpu_state *out);
int linux_load_pvh(struct linux_load *ld, struct boot_cpu_state *out);

/* Format the error message into ld->err and return rc. */
int boot_fail(struct linux_load *ld, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* True when [addr, addr+size) is E820 RAM throughout and backed by guest memory. */
bool boot_range_is_ram(const struct linux_load *ld, uint64_t addr, uint64_t size);
/* Write the command line (NUL-terminated) at BOOT_CMDLINE_ADDR; max_len excludes the NUL. */
int boot_write_cmdline(struct linux_load *ld, uint64_t max_len);
/* Read the initrd into the highest page-aligned E820 RAM range inside [floor, limit).
 * *addr = 0 when there is no initrd. */
int boot_load_initrd(struct linux_load *ld, uint64_t floor, uint64_t limit, uint64_t *addr);
/* GDT at BOOT_GDT_ADDR: null, null, code (selector 0x10), data (0x18). */
int boot_write_gdt(struct linux_load *ld, uint64_t code_desc, struct boot_cpu_state *out);

#endif
