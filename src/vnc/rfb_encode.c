/* SPDX-License-Identifier: BSD-2-Clause */
/* RFB rectangle encoders (see rfb_encode.h). */
#include "vnc/rfb_encode.h"

#include <stdlib.h>
#include <string.h>

#define ZRLE_TILE 64

void rfb_pixfmt_default(struct rfb_pixfmt *pf)
{
	*pf = (struct rfb_pixfmt){32, 24, false, true, 255, 255, 255, 16, 8, 0};
}

void rfb_pixfmt_to_wire(const struct rfb_pixfmt *pf, uint8_t o[16])
{
	memset(o, 0, 16);
	o[0] = pf->bpp;
	o[1] = pf->depth;
	o[2] = pf->big_endian;
	o[3] = pf->true_colour;
	o[4] = (uint8_t)(pf->rmax >> 8);
	o[5] = (uint8_t)pf->rmax;
	o[6] = (uint8_t)(pf->gmax >> 8);
	o[7] = (uint8_t)pf->gmax;
	o[8] = (uint8_t)(pf->bmax >> 8);
	o[9] = (uint8_t)pf->bmax;
	o[10] = pf->rshift;
	o[11] = pf->gshift;
	o[12] = pf->bshift;
}

void rfb_pixfmt_from_wire(struct rfb_pixfmt *pf, const uint8_t in[16])
{
	pf->bpp = in[0];
	pf->depth = in[1];
	pf->big_endian = in[2] != 0;
	pf->true_colour = in[3] != 0;
	pf->rmax = (uint16_t)(in[4] << 8 | in[5]);
	pf->gmax = (uint16_t)(in[6] << 8 | in[7]);
	pf->bmax = (uint16_t)(in[8] << 8 | in[9]);
	pf->rshift = in[10];
	pf->gshift = in[11];
	pf->bshift = in[12];
}

bool rfb_buf_reserve(struct rfb_buf *b, size_t n)
{
	if (b->len + n <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 65536;
	while (cap < b->len + n)
		cap *= 2;
	uint8_t *p = realloc(b->p, cap);
	if (!p)
		return false;
	b->p = p;
	b->cap = cap;
	return true;
}

bool rfb_buf_put(struct rfb_buf *b, const void *p, size_t n)
{
	if (!rfb_buf_reserve(b, n))
		return false;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return true;
}

void rfb_buf_free(struct rfb_buf *b)
{
	free(b->p);
	*b = (struct rfb_buf){0};
}

/* The source pixel at (x, y) as 8-bit r, g, b. */
static inline void src_rgb(const struct rfb_source *s, unsigned x, unsigned y, unsigned *r,
			   unsigned *g, unsigned *b)
{
	const uint8_t *p = s->base + (size_t)y * s->stride;
	if (s->bpp == 16) {
		unsigned v = p[2 * x] | p[2 * x + 1] << 8;
		*r = ((v >> 11) & 31) * 255 / 31;
		*g = ((v >> 5) & 63) * 255 / 63;
		*b = (v & 31) * 255 / 31;
	} else {
		*b = p[4 * x];
		*g = p[4 * x + 1];
		*r = p[4 * x + 2];
	}
}

/* The pixel in the viewer's format, as a number. */
static inline uint32_t to_pixel(const struct rfb_pixfmt *pf, unsigned r, unsigned g, unsigned b)
{
	return (uint32_t)((r * pf->rmax + 127) / 255) << pf->rshift |
	       (uint32_t)((g * pf->gmax + 127) / 255) << pf->gshift |
	       (uint32_t)((b * pf->bmax + 127) / 255) << pf->bshift;
}

static inline void put_pixel(uint8_t *o, const struct rfb_pixfmt *pf, unsigned nbytes, uint32_t v,
			     bool big_endian)
{
	for (unsigned i = 0; i < nbytes; i++)
		o[i] = (uint8_t)(v >> (8 * (big_endian ? nbytes - 1 - i : i)));
}

static bool is_native(const struct rfb_pixfmt *pf, const struct rfb_source *s)
{
	return s->bpp == 32 && pf->bpp == 32 && !pf->big_endian && pf->rmax == 255 &&
	       pf->gmax == 255 && pf->bmax == 255 && pf->rshift == 16 && pf->gshift == 8 &&
	       pf->bshift == 0;
}

bool rfb_encode_raw(struct rfb_buf *out, const struct rfb_source *src,
		    const struct rfb_pixfmt *pf, unsigned x, unsigned y, unsigned w, unsigned h)
{
	unsigned nb = pf->bpp / 8;
	if (!rfb_buf_reserve(out, (size_t)w * h * nb))
		return false;
	uint8_t *o = out->p + out->len;
	if (is_native(pf, src)) {
		for (unsigned j = 0; j < h; j++)
			memcpy(o + (size_t)j * w * 4, src->base + (size_t)(y + j) * src->stride + 4 * x,
			       (size_t)w * 4);
	} else {
		for (unsigned j = 0; j < h; j++)
			for (unsigned i = 0; i < w; i++) {
				unsigned r, g, b;
				src_rgb(src, x + i, y + j, &r, &g, &b);
				put_pixel(o + ((size_t)j * w + i) * nb, pf, nb, to_pixel(pf, r, g, b),
					  pf->big_endian);
			}
	}
	out->len += (size_t)w * h * nb;
	return true;
}

/* ZRLE's CPIXEL: 3 bytes when a 32-bit pixel's colour fits in its low or high three bytes. */
static unsigned cpixel_bytes(const struct rfb_pixfmt *pf, bool *high)
{
	*high = false;
	if (pf->bpp != 32 || pf->depth > 24)
		return pf->bpp / 8;
	uint32_t mask = (uint32_t)pf->rmax << pf->rshift | (uint32_t)pf->gmax << pf->gshift |
			(uint32_t)pf->bmax << pf->bshift;
	if (!(mask & 0xff000000u))
		return 3;
	if (!(mask & 0x000000ffu)) {
		*high = true;
		return 3;
	}
	return 4;
}

static void put_cpixel(uint8_t *o, const struct rfb_pixfmt *pf, unsigned cb, bool high, uint32_t v)
{
	if (cb == 3) {
		/* the three significant bytes, in the viewer's byte order */
		uint32_t w = high ? v >> 8 : v;
		put_pixel(o, pf, 3, w, pf->big_endian);
	} else {
		put_pixel(o, pf, cb, v, pf->big_endian);
	}
}

bool rfb_encode_zrle(struct rfb_buf *out, z_stream *zs, const struct rfb_source *src,
		     const struct rfb_pixfmt *pf, unsigned x, unsigned y, unsigned w, unsigned h)
{
	bool high;
	unsigned cb = cpixel_bytes(pf, &high);
	/* the uncompressed tiles: one subencoding byte each, plus the pixels */
	size_t tiles = (size_t)((w + ZRLE_TILE - 1) / ZRLE_TILE) * ((h + ZRLE_TILE - 1) / ZRLE_TILE);
	size_t raw_max = tiles + (size_t)w * h * cb;
	uint8_t *raw = malloc(raw_max);
	if (!raw)
		return false;
	size_t n = 0;
	uint32_t px[ZRLE_TILE * ZRLE_TILE];
	for (unsigned ty = 0; ty < h; ty += ZRLE_TILE)
		for (unsigned tx = 0; tx < w; tx += ZRLE_TILE) {
			unsigned tw = w - tx < ZRLE_TILE ? w - tx : ZRLE_TILE;
			unsigned th = h - ty < ZRLE_TILE ? h - ty : ZRLE_TILE;
			bool solid = true;
			for (unsigned j = 0; j < th; j++)
				for (unsigned i = 0; i < tw; i++) {
					unsigned r, g, b;
					src_rgb(src, x + tx + i, y + ty + j, &r, &g, &b);
					px[j * tw + i] = to_pixel(pf, r, g, b);
					solid = solid && px[j * tw + i] == px[0];
				}
			if (solid) {
				raw[n++] = 1; /* solid tile: one CPIXEL */
				put_cpixel(raw + n, pf, cb, high, px[0]);
				n += cb;
			} else {
				raw[n++] = 0; /* raw tile */
				for (unsigned k = 0; k < tw * th; k++, n += cb)
					put_cpixel(raw + n, pf, cb, high, px[k]);
			}
		}
	/* u32 length, then the zlib data, flushed so the viewer can decode this rectangle now */
	size_t bound = deflateBound(zs, n) + 64;
	if (!rfb_buf_reserve(out, 4 + bound)) {
		free(raw);
		return false;
	}
	size_t lenpos = out->len;
	out->len += 4;
	zs->next_in = raw;
	zs->avail_in = (uInt)n;
	bool ok = true;
	do {
		if (!rfb_buf_reserve(out, 65536)) {
			ok = false;
			break;
		}
		zs->next_out = out->p + out->len;
		zs->avail_out = (uInt)(out->cap - out->len);
		int rc = deflate(zs, Z_SYNC_FLUSH);
		out->len = out->cap - zs->avail_out;
		if (rc != Z_OK && rc != Z_BUF_ERROR) {
			ok = false;
			break;
		}
	} while (zs->avail_in || zs->avail_out == 0);
	free(raw);
	if (!ok)
		return false;
	uint32_t clen = (uint32_t)(out->len - lenpos - 4);
	out->p[lenpos] = (uint8_t)(clen >> 24);
	out->p[lenpos + 1] = (uint8_t)(clen >> 16);
	out->p[lenpos + 2] = (uint8_t)(clen >> 8);
	out->p[lenpos + 3] = (uint8_t)clen;
	return true;
}
