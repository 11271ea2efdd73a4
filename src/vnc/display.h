/* SPDX-License-Identifier: BSD-2-Clause */
/* What a display device (fbuf) offers a viewer backend (the VNC server): its VRAM, the mode the
 * guest scans out of it, and which pages the guest wrote. */
#ifndef KB_DISPLAY_H
#define KB_DISPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DISPLAY_PAGE_SHIFT 12

struct display_mode {
	unsigned width, height;
	unsigned bpp;	 /* 16 (RGB565) or 32 (XRGB8888), little endian */
	unsigned stride; /* bytes per line */
	uint64_t offset; /* byte offset of the top-left pixel in VRAM */
};

struct display_ops {
	/* The current scan-out; false when the guest shows nothing (no mode, or an impossible
	 * one): the viewer sees a blank screen. Any thread. */
	bool (*mode)(void *opaque, struct display_mode *m);
	/* OR into `bitmap` one bit per page of VRAM the guest wrote since the last call, and
	 * forget them. Called from the viewer's thread only. */
	void (*dirty)(void *opaque, unsigned long *bitmap);
};

struct display {
	const struct display_ops *ops;
	void *opaque;
	const uint8_t *vram;
	size_t vram_size; /* a multiple of the page size */
	unsigned blank_width, blank_height; /* the screen's size while no mode is set */
};

#endif
