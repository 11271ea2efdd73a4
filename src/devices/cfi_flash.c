/* SPDX-License-Identifier: BSD-2-Clause */
/* CFI flash command set (see cfi_flash.h). Commands are byte-wide (the x8 device OVMF expects):
 * 0xFF/0x00 read array, 0x10/0x40 program, 0x20+0xD0 block erase, 0x50 clear status, 0x70 read
 * status, 0x90 read id, 0x98 query, 0x60+0x01/0xD0/0x2F block (un)lock, accepted and not kept.
 * An unknown command returns to read-array mode, as QEMU's pflash_cfi01 does. */
#include "devices/cfi_flash.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

#define CFI_MANUFACTURER 0x89 /* Intel */
#define CFI_DEVICE 0x18

static bool write_through(struct cfi_flash *f, uint64_t off, uint64_t len)
{
	if (f->fd < 0)
		return true;
	uint64_t done = 0;
	while (done < len) {
		ssize_t w = pwrite(f->fd, f->data + off + done, len - done, (off_t)(off + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (!f->write_failed_logged)
				kb_log("%s: cannot write the firmware variable store: %s", f->path,
				       w < 0 ? strerror(errno) : "short write");
			f->write_failed_logged = true;
			return false;
		}
		done += (uint64_t)w;
	}
	return true;
}

/* Store `len` bytes at `off`, memory and file together; on a file error memory is left as it
 * was so that what the guest reads back is what the file holds. */
static void update(struct cfi_flash *f, uint64_t off, const uint8_t *src, uint64_t len,
		   uint8_t err_bit)
{
	uint8_t old[CFI_FLASH_BLOCK];
	memcpy(old, f->data + off, len);
	memcpy(f->data + off, src, len);
	if (!write_through(f, off, len)) {
		memcpy(f->data + off, old, len);
		f->status |= err_bit;
	}
	f->status |= CFI_STATUS_READY;
}

static uint8_t query_byte(const struct cfi_flash *f, uint64_t idx)
{
	uint64_t blocks = f->size / CFI_FLASH_BLOCK;
	unsigned log2size = 0;
	while ((1ull << log2size) < f->size)
		log2size++;
	switch (idx) {
	case 0x10:
		return 'Q';
	case 0x11:
		return 'R';
	case 0x12:
		return 'Y';
	case 0x13:
		return 0x01; /* Intel/Sharp extended command set */
	case 0x27:
		return (uint8_t)log2size;
	case 0x2c:
		return 1; /* one erase block region */
	case 0x2d:
		return (uint8_t)(blocks - 1);
	case 0x2e:
		return (uint8_t)((blocks - 1) >> 8);
	case 0x2f:
		return (uint8_t)(CFI_FLASH_BLOCK >> 8);
	case 0x30:
		return (uint8_t)(CFI_FLASH_BLOCK >> 16);
	default:
		return 0;
	}
}

static uint64_t read_locked(struct cfi_flash *f, uint64_t off, unsigned size)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < size; i++) {
		uint64_t a = off + i;
		uint8_t b;
		switch (f->mode) {
		case CFI_READ_STATUS:
			b = f->status;
			break;
		case CFI_READ_ID:
			b = (a & 0xff) == 0 ? CFI_MANUFACTURER : (a & 0xff) == 1 ? CFI_DEVICE : 0;
			break;
		case CFI_READ_QUERY:
			b = query_byte(f, a & 0xff);
			break;
		default:
			b = a < f->size ? f->data[a] : 0xff;
			break;
		}
		v |= (uint64_t)b << (8 * i);
	}
	return v;
}

static void command(struct cfi_flash *f, uint8_t cmd)
{
	switch (cmd) {
	case 0x00:
	case 0xff:
		f->mode = CFI_READ_ARRAY;
		break;
	case 0x10:
	case 0x40:
	case 0x20:
	case 0x60:
		f->pending = cmd;
		f->mode = CFI_READ_STATUS;
		break;
	case 0x50:
		f->status = 0;
		f->mode = CFI_READ_ARRAY;
		break;
	case 0x70:
		f->mode = CFI_READ_STATUS;
		break;
	case 0x90:
		f->mode = CFI_READ_ID;
		break;
	case 0x98:
		f->mode = CFI_READ_QUERY;
		break;
	default:
		kb_debug("%s: unknown flash command %#x, back to read-array", f->path, cmd);
		f->mode = CFI_READ_ARRAY;
		break;
	}
}

static void second_cycle(struct cfi_flash *f, uint64_t off, unsigned size, uint64_t val)
{
	uint8_t first = f->pending, cmd = (uint8_t)val;
	f->pending = 0;
	f->mode = CFI_READ_STATUS;
	switch (first) {
	case 0x10:
	case 0x40: {
		if (off >= f->size || size > f->size - off)
			return;
		uint8_t bytes[8];
		for (unsigned i = 0; i < size; i++)
			bytes[i] = (uint8_t)(val >> (8 * i));
		update(f, off, bytes, size, CFI_STATUS_PROGRAM_ERR);
		return;
	}
	case 0x20:
		if (cmd != 0xd0) {
			f->status |=
			    CFI_STATUS_ERASE_ERR | CFI_STATUS_PROGRAM_ERR; /* bad sequence */
			return;
		}
		if (off < f->size) {
			static const uint8_t erased[CFI_FLASH_BLOCK] = {
			    [0 ... CFI_FLASH_BLOCK - 1] = 0xff};
			update(f, off & ~(uint64_t)(CFI_FLASH_BLOCK - 1), erased, CFI_FLASH_BLOCK,
			       CFI_STATUS_ERASE_ERR);
		}
		return;
	default: /* 0x60: lock bits are not kept */
		if (cmd == 0x01 || cmd == 0xd0 || cmd == 0x2f)
			f->status |= CFI_STATUS_READY;
		else
			f->status |= CFI_STATUS_ERASE_ERR | CFI_STATUS_PROGRAM_ERR;
		return;
	}
}

/* Keep the direct mapping only while reads return the array. It is dropped at once when a command
 * leaves read-array mode (a read that bypassed the model would return data, not status), but made
 * again only by the next read in read-array mode: a run of byte programs (0x40, data, status,
 * 0xFF, 0x40, ...) then costs no mapping changes, only the exits it has anyway. */
static void update_direct(struct cfi_flash *f, bool was_read)
{
	if (!f->set_direct)
		return;
	bool array = f->mode == CFI_READ_ARRAY && !f->pending;
	if (f->direct && !array) {
		if (f->set_direct(f->direct_ctx, false) < 0)
			kb_log("%s: cannot unmap the variable store for a flash command", f->path);
		f->direct = false;
	} else if (!f->direct && array && was_read && !f->direct_failed) {
		if (f->set_direct(f->direct_ctx, true) < 0)
			f->direct_failed = true; /* correct without it, only slower */
		else
			f->direct = true;
	}
}

int cfi_flash_access(void *opaque, uint64_t off, unsigned size, bool is_write, uint64_t *val)
{
	struct cfi_flash *f = opaque;
	if (size == 0 || size > 8)
		return 0;
	pthread_mutex_lock(&f->lock);
	if (!is_write)
		*val = read_locked(f, off, size);
	else if (f->pending)
		second_cycle(f, off, size, *val);
	else
		command(f, (uint8_t)*val);
	update_direct(f, !is_write);
	pthread_mutex_unlock(&f->lock);
	return 0;
}

void cfi_flash_set_direct_hook(struct cfi_flash *f, cfi_direct_fn fn, void *ctx)
{
	f->set_direct = fn;
	f->direct_ctx = ctx;
}

void cfi_flash_init(struct cfi_flash *f, uint8_t *data, uint64_t size, int fd, const char *path)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	f->data = data;
	f->size = size;
	f->fd = fd;
	f->path = path;
	f->mode = CFI_READ_ARRAY;
	f->status = CFI_STATUS_READY;
}

void cfi_flash_fini(struct cfi_flash *f)
{
	pthread_mutex_destroy(&f->lock);
}
