/* SPDX-License-Identifier: BSD-2-Clause */
/* Bochs VBE DISPI register semantics (see fbuf_dispi.h). */
#include "fbuf/fbuf_dispi.h"

#include <string.h>

void dispi_reset(struct dispi *d, uint64_t vram_size)
{
	memset(d, 0, sizeof(*d));
	d->vram_size = vram_size;
	d->regs[DISPI_INDEX_ID] = DISPI_ID5;
	d->regs[DISPI_INDEX_BPP] = 32;
}

uint16_t dispi_read(const struct dispi *d, unsigned index)
{
	if (index >= DISPI_NREGS)
		return 0;
	if (index == DISPI_INDEX_VIDEO_MEMORY_64K) {
		uint64_t n = d->vram_size >> 16;
		return n > 0xffff ? 0xffff : (uint16_t)n;
	}
	/* With GETCAPS set, XRES/YRES/BPP read as the largest values the display takes. */
	if (d->regs[DISPI_INDEX_ENABLE] & DISPI_GETCAPS) {
		switch (index) {
		case DISPI_INDEX_XRES:
			return DISPI_MAX_XRES;
		case DISPI_INDEX_YRES:
			return DISPI_MAX_YRES;
		case DISPI_INDEX_BPP:
			return 32;
		}
	}
	return d->regs[index];
}

void dispi_write(struct dispi *d, unsigned index, uint16_t val)
{
	switch (index) {
	case DISPI_INDEX_ID:
		/* a driver writes the interface version it speaks; keep one we know */
		if (val >= DISPI_ID0 && val <= DISPI_ID5)
			d->regs[index] = val;
		break;
	case DISPI_INDEX_VIDEO_MEMORY_64K:
		break; /* read-only */
	case DISPI_INDEX_ENABLE:
		/* Enabling with no virtual size set uses the visible one, as Bochs does. */
		if ((val & DISPI_ENABLED) && !(d->regs[index] & DISPI_ENABLED)) {
			if (d->regs[DISPI_INDEX_VIRT_WIDTH] < d->regs[DISPI_INDEX_XRES])
				d->regs[DISPI_INDEX_VIRT_WIDTH] = d->regs[DISPI_INDEX_XRES];
			if (d->regs[DISPI_INDEX_VIRT_HEIGHT] < d->regs[DISPI_INDEX_YRES])
				d->regs[DISPI_INDEX_VIRT_HEIGHT] = d->regs[DISPI_INDEX_YRES];
		}
		d->regs[index] = val;
		break;
	default:
		if (index < DISPI_NREGS)
			d->regs[index] = val;
		break;
	}
}

bool dispi_mode(const struct dispi *d, struct display_mode *m, const char **why)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	*why = NULL;
	const uint16_t *r = d->regs;
	if (!(r[DISPI_INDEX_ENABLE] & DISPI_ENABLED))
		return false;
	unsigned bpp = r[DISPI_INDEX_BPP];
	unsigned w = r[DISPI_INDEX_XRES], h = r[DISPI_INDEX_YRES];
	if (bpp != 16 && bpp != 32) {
		*why = "depth is neither 16 nor 32 bits";
		return false;
	}
	if (w < DISPI_MIN_RES || h < DISPI_MIN_RES || w > DISPI_MAX_XRES || h > DISPI_MAX_YRES) {
		*why = "resolution out of range";
		return false;
	}
	unsigned vw = r[DISPI_INDEX_VIRT_WIDTH] > w ? r[DISPI_INDEX_VIRT_WIDTH] : w;
	uint64_t stride = (uint64_t)vw * (bpp / 8);
	uint64_t offset = (uint64_t)r[DISPI_INDEX_Y_OFFSET] * stride +
			  (uint64_t)r[DISPI_INDEX_X_OFFSET] * (bpp / 8);
	uint64_t end = offset + (uint64_t)(h - 1) * stride + (uint64_t)w * (bpp / 8);
	if (end > d->vram_size) {
		*why = "scan-out runs past the end of VRAM";
		return false;
	}
	*m = (struct display_mode){w, h, bpp, (unsigned)stride, offset};
	return true;
}
