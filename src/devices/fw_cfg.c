/* SPDX-License-Identifier: BSD-2-Clause */
/* fw_cfg (see fw_cfg.h). Reads past the end of an item return 0, a selector without an item
 * reads as empty, writes through the data port are ignored and DMA writes fail with the error
 * bit, as in QEMU. A DMA descriptor or buffer outside guest RAM ends the transfer with the error
 * bit (when the descriptor itself is unreachable nothing can be reported: it is dropped). */
#include "devices/fw_cfg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define FW_CFG_ID_TRADITIONAL 0x01
#define FW_CFG_ID_DMA 0x02
#define FW_CFG_DMA_SIGNATURE 0x51454d5520434647ULL /* "QEMU CFG" */
#define DIR_ENTRY 64

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static uint64_t bswap_n(uint64_t v, unsigned n)
{
	uint64_t r = 0;
	for (unsigned i = 0; i < n; i++)
		r |= ((v >> (8 * i)) & 0xff) << (8 * (n - 1 - i));
	return r;
}

static int set_item(struct fw_cfg *fc, uint16_t key, const void *data, uint32_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		return -ENOMEM;
	if (len)
		memcpy(copy, data, len);
	free(fc->items[key].data);
	fc->items[key].data = copy;
	fc->items[key].len = len;
	return 0;
}

/* Key 0x19: BE u32 count, then {BE u32 size, BE u16 select, u16 reserved, char name[56]}. */
static int rebuild_directory(struct fw_cfg *fc)
{
	uint32_t n = fc->next_file - FW_CFG_FILE_FIRST;
	uint32_t len = 4 + n * DIR_ENTRY;
	uint8_t *dir = calloc(1, len);
	if (!dir)
		return -ENOMEM;
	put_be32(dir, n);
	for (uint32_t i = 0; i < n; i++) {
		uint16_t key = (uint16_t)(FW_CFG_FILE_FIRST + i);
		uint8_t *e = dir + 4 + i * DIR_ENTRY;
		put_be32(e, fc->items[key].len);
		e[4] = (uint8_t)(key >> 8);
		e[5] = (uint8_t)key;
		memcpy(e + 8, fc->items[key].name, FW_CFG_NAME_MAX);
	}
	int rc = set_item(fc, FW_CFG_FILE_DIR, dir, len);
	free(dir);
	return rc;
}

int fw_cfg_init(struct fw_cfg *fc, const struct guestmem *mem)
{
	memset(fc, 0, sizeof(*fc));
	pthread_mutex_init(&fc->lock, NULL);
	fc->mem = mem;
	fc->next_file = FW_CFG_FILE_FIRST;
	const uint8_t id[4] = {FW_CFG_ID_TRADITIONAL | FW_CFG_ID_DMA, 0, 0, 0};
	int rc = set_item(fc, FW_CFG_SIGNATURE, "QEMU", 4);
	if (rc == 0)
		rc = set_item(fc, FW_CFG_ID, id, sizeof(id));
	if (rc == 0)
		rc = rebuild_directory(fc);
	return rc;
}

void fw_cfg_fini(struct fw_cfg *fc)
{
	for (int i = 0; i < FW_CFG_MAX_ITEMS; i++)
		free(fc->items[i].data);
	pthread_mutex_destroy(&fc->lock);
}

int fw_cfg_add_item(struct fw_cfg *fc, uint16_t key, const void *data, uint32_t len)
{
	if (key >= FW_CFG_FILE_FIRST || key == FW_CFG_FILE_DIR)
		return -EINVAL;
	return set_item(fc, key, data, len);
}

int fw_cfg_add_file(struct fw_cfg *fc, const char *name, const void *data, uint32_t len)
{
	size_t nl = strlen(name);
	if (nl == 0 || nl >= FW_CFG_NAME_MAX)
		return -ENAMETOOLONG;
	for (uint16_t k = FW_CFG_FILE_FIRST; k < fc->next_file; k++)
		if (strcmp(fc->items[k].name, name) == 0)
			return -EEXIST;
	if (fc->next_file >= FW_CFG_MAX_ITEMS)
		return -ENOSPC;
	uint16_t key = fc->next_file;
	int rc = set_item(fc, key, data, len);
	if (rc)
		return rc;
	memset(fc->items[key].name, 0, FW_CFG_NAME_MAX);
	memcpy(fc->items[key].name, name, nl);
	fc->next_file++;
	return rebuild_directory(fc);
}

static const struct fw_cfg_item *current(const struct fw_cfg *fc)
{
	return fc->selector < FW_CFG_MAX_ITEMS ? &fc->items[fc->selector] : NULL;
}

static void select_key(struct fw_cfg *fc, uint16_t key)
{
	fc->selector = key;
	fc->offset = 0;
}

static uint8_t next_byte(struct fw_cfg *fc)
{
	const struct fw_cfg_item *it = current(fc);
	if (!it || fc->offset >= it->len)
		return 0;
	return it->data[fc->offset++];
}

int fw_cfg_io(void *opaque, uint64_t off, unsigned size, bool is_write, uint64_t *val)
{
	struct fw_cfg *fc = opaque;
	pthread_mutex_lock(&fc->lock);
	if (off == 0 && is_write) {
		select_key(fc, (uint16_t)*val);
	} else if (off == 0) {
		*val = 0; /* the selector is write-only */
	} else if (!is_write) {
		uint64_t v = 0;
		for (unsigned i = 0; i < size; i++)
			v |= (uint64_t)next_byte(fc) << (8 * i);
		*val = v;
	} /* data port writes: ignored, as QEMU since 2.4 */
	pthread_mutex_unlock(&fc->lock);
	return 0;
}

/* One DMA request at fc->dma_addr. */
static void dma_transfer(struct fw_cfg *fc)
{
	uint8_t *desc = fc->mem ? gm_ptr(fc->mem, fc->dma_addr, 16) : NULL;
	if (!desc) {
		kb_debug("fw_cfg: DMA descriptor at %#llx is not in RAM",
			 (unsigned long long)fc->dma_addr);
		return;
	}
	uint32_t control = be32(desc), len = be32(desc + 4);
	uint64_t addr = (uint64_t)be32(desc + 8) << 32 | be32(desc + 12);
	if (control & FW_CFG_DMA_SELECT)
		select_key(fc, (uint16_t)(control >> 16));
	uint32_t result = 0;
	if (control & FW_CFG_DMA_WRITE) {
		result = FW_CFG_DMA_ERROR; /* no item is writable */
	} else if (control & (FW_CFG_DMA_READ | FW_CFG_DMA_SKIP)) {
		const struct fw_cfg_item *it = current(fc);
		uint32_t avail = it && fc->offset < it->len ? it->len - fc->offset : 0;
		uint32_t n = len < avail ? len : avail;
		if (control & FW_CFG_DMA_READ) {
			uint8_t *dst = len ? gm_ptr(fc->mem, addr, len) : NULL;
			if (len && !dst) {
				result = FW_CFG_DMA_ERROR;
				n = 0;
			} else if (len) {
				if (n)
					memcpy(dst, it->data + fc->offset, n);
				memset(dst + n, 0, len - n); /* past the end: zeros */
			}
		}
		fc->offset += n;
	}
	put_be32(desc, result);
}

int fw_cfg_dma_io(void *opaque, uint64_t off, unsigned size, bool is_write, uint64_t *val)
{
	struct fw_cfg *fc = opaque;
	pthread_mutex_lock(&fc->lock);
	if (!is_write) {
		/* reads give the "QEMU CFG" signature, big-endian */
		uint64_t v = 0;
		for (unsigned i = 0; i < size; i++) {
			unsigned b = (unsigned)off + i;
			v |= (b < 8 ? (FW_CFG_DMA_SIGNATURE >> (8 * (7 - b))) & 0xff : 0)
			     << (8 * i);
		}
		*val = v;
	} else if (off == 0 && size == 8) {
		fc->dma_addr = bswap_n(*val, 8);
		dma_transfer(fc);
	} else if (off == 0 && size == 4) {
		fc->dma_addr = bswap_n(*val, 4) << 32;
	} else if (off == 4 && size == 4) {
		fc->dma_addr = (fc->dma_addr & 0xffffffff00000000ULL) | bswap_n(*val, 4);
		dma_transfer(fc);
		fc->dma_addr = 0;
	}
	pthread_mutex_unlock(&fc->lock);
	return 0;
}
