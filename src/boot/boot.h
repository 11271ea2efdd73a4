/* SPDX-License-Identifier: BSD-2-Clause */
/* Direct Linux boot: bzImage (64-bit boot protocol) and ELF vmlinux (PVH entry), detected from the file. */
#ifndef KB_BOOT_H
#define KB_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "boot/e820.h"
#include "core/guestmem.h"

enum boot_cpu_mode {
	BOOT_MODE_PROT32_FLAT, /* PVH: 32-bit protected mode, flat segments, paging off, ebx = start_info */
	BOOT_MODE_LONG64,      /* bzImage: long mode, identity-mapped page tables, rsi = boot_params */
};

/* The bootstrap vCPU's initial state, applied by the vCPU code (KVM_SET_SREGS/REGS). */
struct boot_cpu_state {
	enum boot_cpu_mode mode;
	uint64_t rip, rsp, rsi, rbx;
	uint64_t cr3;       /* LONG64: page-table root (identity map of the first 4 GiB) */
	uint64_t gdt_base;  /* GDT in guest memory: null, (unused), code 0x10, data 0x18 */
	uint16_t gdt_limit;
};

/* Where the boot code puts things in guest memory (below 1 MiB, in low RAM: Linux copies boot_params,
 * the command line and start_info early and keeps the first 64 KiB reserved itself). */
#define BOOT_GDT_ADDR 0x500
#define BOOT_PVH_INFO_ADDR 0x6000   /* hvm_start_info + module list + memmap */
#define BOOT_ZERO_PAGE_ADDR 0x7000  /* bzImage boot_params */
#define BOOT_PML4_ADDR 0x9000       /* page tables: PML4, PDPT, 4 PDs, 0x9000-0xEFFF */
#define BOOT_CMDLINE_ADDR 0x20000
#define BOOT_CMDLINE_MAX 0x10000

struct boot_params_in {
	const char *kernel_path;
	const char *initrd_path; /* NULL: none */
	const char *cmdline;     /* NULL: empty */
	uint64_t rsdp_gpa;       /* ACPI RSDP address to hand over (PVH), 0 if none */
	const struct e820_map *e820;
};

/* Load kernel (+ initrd, cmdline) into guest memory and describe the entry state.
 * On failure returns -errno or -EINVAL and writes a message naming the problem into err. */
int boot_linux(struct guestmem *gm, const struct boot_params_in *in, struct boot_cpu_state *out,
	       char *err, size_t errlen);

#endif
