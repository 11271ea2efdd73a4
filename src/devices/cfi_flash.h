/* SPDX-License-Identifier: BSD-2-Clause */
/* CFI flash (Intel/Sharp command set, as QEMU's pflash_cfi01 and the edk2 QemuFlash driver use it)
 * over a byte array that mirrors a file: every program and erase is written to the file before
 * the access returns. Used for the UEFI variable store of -l bootrom,CODE,VARS. */
#ifndef KB_CFI_FLASH_H
#define KB_CFI_FLASH_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define CFI_FLASH_BLOCK 4096u /* erase block, as QEMU's pc flash and OVMF's BLOCK_SIZE */

/* Status register bits. */
#define CFI_STATUS_READY 0x80
#define CFI_STATUS_ERASE_ERR 0x20
#define CFI_STATUS_PROGRAM_ERR 0x10

enum cfi_mode {
	CFI_READ_ARRAY,	 /* reads return the array */
	CFI_READ_STATUS, /* reads return the status register */
	CFI_READ_ID,	 /* 0x90: manufacturer/device id */
	CFI_READ_QUERY,	 /* 0x98: the CFI query table */
};

/* Reads in read-array mode need no model: the owner can map `data` read-only into the guest so
 * that they do not exit (QEMU's "romd" mode). The flash asks for that mapping (direct = true) on
 * the first read-array access after a command sequence and drops it (false) before any access
 * that leaves read-array mode returns; a mapping that cannot be dropped is reported as < 0. Runs
 * with the flash's lock held. */
typedef int (*cfi_direct_fn)(void *ctx, bool direct);

struct cfi_flash {
	pthread_mutex_t lock;
	uint8_t *data; /* size bytes, the file's contents */
	uint64_t size;
	int fd;		  /* the backing file (read-write), or -1: changes stay in memory */
	const char *path; /* for messages */
	enum cfi_mode mode;
	uint8_t pending; /* first cycle of a two-cycle command (0x10/0x40, 0x20, 0x60), or 0 */
	uint8_t status;
	bool write_failed_logged;
	cfi_direct_fn set_direct; /* or NULL: every read exits */
	void *direct_ctx;
	bool direct;	    /* reads currently bypass the model */
	bool direct_failed; /* the mapping could not be made: stay on exits */
};

/* `data` (size bytes, a multiple of CFI_FLASH_BLOCK) stays owned by the caller. */
void cfi_flash_init(struct cfi_flash *f, uint8_t *data, uint64_t size, int fd, const char *path);
void cfi_flash_fini(struct cfi_flash *f);
/* Let reads in read-array mode go around the model (see cfi_direct_fn); before the first access. */
void cfi_flash_set_direct_hook(struct cfi_flash *f, cfi_direct_fn fn, void *ctx);
/* One guest access of 1, 2, 4 or 8 bytes at `off` (little-endian); accesses that run past the end
 * read as 0xff and are otherwise ignored. Matches iobus_handler_fn. */
int cfi_flash_access(void *opaque, uint64_t off, unsigned size, bool is_write, uint64_t *val);

#endif
