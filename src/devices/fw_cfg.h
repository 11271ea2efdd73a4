/* SPDX-License-Identifier: BSD-2-Clause */
/* QEMU's firmware configuration device (fw_cfg), as edk2's OVMF and SeaBIOS read it: selector at
 * I/O port 0x510 (16-bit), data at 0x511 (8-bit), DMA address at 0x514 (big-endian 64-bit; the
 * write of its low half at 0x518 starts the transfer). Items are read-only. */
#ifndef KB_FW_CFG_H
#define KB_FW_CFG_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/guestmem.h"

#define FW_CFG_PORT_SEL 0x510
#define FW_CFG_PORT_DMA 0x514

#define FW_CFG_SIGNATURE 0x00
#define FW_CFG_ID 0x01
#define FW_CFG_NOGRAPHIC 0x04 /* u16: 1 = no display (SeaBIOS then draws its screen on COM1) */
#define FW_CFG_NB_CPUS 0x05
#define FW_CFG_KERNEL_SIZE 0x08
#define FW_CFG_INITRD_SIZE 0x0b
#define FW_CFG_MAX_CPUS 0x0f
#define FW_CFG_KERNEL_DATA 0x11
#define FW_CFG_INITRD_DATA 0x12
#define FW_CFG_CMDLINE_SIZE 0x14
#define FW_CFG_CMDLINE_DATA 0x15
#define FW_CFG_SETUP_SIZE 0x17
#define FW_CFG_SETUP_DATA 0x18
#define FW_CFG_FILE_DIR 0x19
#define FW_CFG_FILE_FIRST 0x20
#define FW_CFG_MAX_ITEMS 0x100 /* keys 0 .. 0xff */
#define FW_CFG_NAME_MAX 56     /* file names, NUL included */

/* DMA control bits (big-endian in guest memory). */
#define FW_CFG_DMA_ERROR 0x01
#define FW_CFG_DMA_READ 0x02
#define FW_CFG_DMA_SKIP 0x04
#define FW_CFG_DMA_SELECT 0x08
#define FW_CFG_DMA_WRITE 0x10

struct fw_cfg_item {
	uint8_t *data;
	uint32_t len;
	char name[FW_CFG_NAME_MAX]; /* files only */
};

struct fw_cfg {
	pthread_mutex_t lock;
	const struct guestmem *mem; /* DMA target */
	struct fw_cfg_item items[FW_CFG_MAX_ITEMS];
	uint16_t next_file;
	uint16_t selector;
	uint32_t offset;
	uint64_t dma_addr;
};

/* Signature, ID (with DMA) and an empty file directory. */
int fw_cfg_init(struct fw_cfg *fc, const struct guestmem *mem);
void fw_cfg_fini(struct fw_cfg *fc);
/* A copy of data under a fixed key (< FW_CFG_FILE_FIRST). 0 or -EINVAL/-ENOMEM. */
int fw_cfg_add_item(struct fw_cfg *fc, uint16_t key, const void *data, uint32_t len);
/* A copy of data as a named file (next free key, listed in the directory). -EEXIST for a name
 * already there, -ENAMETOOLONG, -ENOSPC when all keys are taken. */
int fw_cfg_add_file(struct fw_cfg *fc, const char *name, const void *data, uint32_t len);
/* iobus handlers: the selector/data pair (2 ports at FW_CFG_PORT_SEL) and the DMA register
 * (8 ports at FW_CFG_PORT_DMA). */
int fw_cfg_io(void *opaque, uint64_t off, unsigned size, bool is_write, uint64_t *val);
int fw_cfg_dma_io(void *opaque, uint64_t off, unsigned size, bool is_write, uint64_t *val);

#endif
