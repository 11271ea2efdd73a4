/* SPDX-License-Identifier: BSD-2-Clause */
/* -l bootrom,CODE[,VARS]: firmware at the top of the 32-bit address space. CODE ends at 4 GiB in
 * a read-only KVM memslot (guest writes exit and are ignored; the file is never written); VARS
 * sits directly below it as CFI flash written through to its file, read through a read-only
 * memslot of its own while the flash is in read-array mode. The boot vCPU starts at the
 * reset vector in KVM's reset state. */
#ifndef KB_BOOTROM_H
#define KB_BOOTROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "devices/cfi_flash.h"

/* The flash window [4 GiB - 16 MiB, 4 GiB); KVM's TSS and identity map sit just below it. */
#define BOOTROM_WINDOW_BASE 0xFF000000ULL
#define BOOTROM_WINDOW_SIZE (16ULL << 20)

struct vm;
struct guestmem;

struct bootrom {
	const char *code_path, *vars_path; /* strings of the config tree */
	uint8_t *code;			   /* private copy of the CODE file */
	uint64_t code_size, code_base;
	uint8_t *vars; /* copy of the VARS file, kept equal to it */
	uint64_t vars_size, vars_base;
	int vars_fd;
	int vm_fd;	     /* for the VARS memslot of read-array mode */
	unsigned vars_slot;
	struct cfi_flash flash;
	bool flash_ready;
};

/* Read and check lpc.bootrom / lpc.bootvars before anything else is set up. 0 with *out = NULL
 * when no boot ROM is configured; 0 with *out set; or -errno with one line naming the file and
 * the problem in err. Nothing is written to either file. */
int bootrom_open(struct cfgnode *cfg, struct bootrom **out, char *err, size_t errlen);
/* Map CODE read-only (KVM memslot `slot`) and register the flash and ROM write traps; VARS
 * uses memslot `slot` + 1 while the flash is in read-array mode. */
int bootrom_map(struct vm *vm, struct bootrom *br, unsigned slot, char *err, size_t errlen);
/* The legacy BIOS segments: as on QEMU, the last 128 KiB of CODE (or all of a smaller image)
 * start out at 0xE0000-0xFFFFF (in `gm`'s RAM), below 1 MiB, where a PC's BIOS also answers. */
void bootrom_fill_isa_bios(struct guestmem *gm, const struct bootrom *br);
void bootrom_free(struct bootrom *br);

#endif
