/* SPDX-License-Identifier: BSD-2-Clause */
/* Turning a rectangle of the guest's frame buffer into RFB rectangle payloads: the viewer's pixel
 * format (any true-colour format of 8, 16 or 32 bits), Raw, and ZRLE (RFB 7.7.6: 64x64 tiles,
 * solid tiles as one pixel, others raw, all through one zlib stream per viewer). Pure code. */
#ifndef KB_RFB_ENCODE_H
#define KB_RFB_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

/* RFB PIXEL_FORMAT (the 16 bytes of ServerInit and SetPixelFormat) */
struct rfb_pixfmt {
	uint8_t bpp, depth;
	bool big_endian, true_colour;
	uint16_t rmax, gmax, bmax;
	uint8_t rshift, gshift, bshift;
};

/* What kbhyve serves unless told otherwise: 32 bpp, depth 24, little endian, R at 16. */
void rfb_pixfmt_default(struct rfb_pixfmt *pf);
void rfb_pixfmt_to_wire(const struct rfb_pixfmt *pf, uint8_t out[16]);
void rfb_pixfmt_from_wire(struct rfb_pixfmt *pf, const uint8_t in[16]);

/* The source: 32-bit XRGB8888 or 16-bit RGB565 little endian, `stride` bytes a line. */
struct rfb_source {
	const uint8_t *base;
	unsigned width, height, bpp, stride;
};

/* A growable output buffer. */
struct rfb_buf {
	uint8_t *p;
	size_t len, cap;
};
bool rfb_buf_reserve(struct rfb_buf *b, size_t n);
bool rfb_buf_put(struct rfb_buf *b, const void *p, size_t n);
void rfb_buf_free(struct rfb_buf *b);

/* Append the Raw payload of (x, y, w, h), which must lie inside the source. */
bool rfb_encode_raw(struct rfb_buf *out, const struct rfb_source *src,
		    const struct rfb_pixfmt *pf, unsigned x, unsigned y, unsigned w, unsigned h);

/* Append the ZRLE payload (u32 length + zlib data) of (x, y, w, h), continuing the viewer's zlib
 * stream `zs` (deflateInit'd by the caller, one per viewer for the whole connection). */
bool rfb_encode_zrle(struct rfb_buf *out, z_stream *zs, const struct rfb_source *src,
		     const struct rfb_pixfmt *pf, unsigned x, unsigned y, unsigned w, unsigned h);

#endif
