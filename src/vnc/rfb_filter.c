/* SPDX-License-Identifier: BSD-2-Clause */
/* RFB client message filter (see rfb_filter.h). */
#include "vnc/rfb_filter.h"

#include <errno.h>
#include <string.h>

enum {
	MSG_SET_PIXEL_FORMAT = 0,
	MSG_SET_ENCODINGS = 2,
	MSG_UPDATE_REQUEST = 3,
	MSG_KEY = 4,
	MSG_POINTER = 5,
	MSG_CUT_TEXT = 6,
	MSG_QEMU = 255,
};

static void emit(struct rfb_out *out, const uint8_t *p, size_t n)
{
	if (out->len + n <= out->cap) {
		memcpy(out->buf + out->len, p, n);
		out->len += n;
	}
}

/* The length of the message that starts msg[0] once `have` bytes are known, or 0 when more
 * header bytes are needed first; -1 for a type that is not accepted. */
static long msg_length(const uint8_t *m, size_t have)
{
	switch (m[0]) {
	case MSG_SET_PIXEL_FORMAT:
		return 20;
	case MSG_SET_ENCODINGS:
		return have < 4 ? 0 : 4; /* the entries are streamed after the header */
	case MSG_UPDATE_REQUEST:
		return 10;
	case MSG_KEY:
		return 8;
	case MSG_POINTER:
		return 6;
	case MSG_CUT_TEXT:
		return 8; /* the text itself is skipped */
	case MSG_QEMU:
		if (have < 2)
			return 0;
		return m[1] == 0 ? 12 : -1;
	default:
		return -1;
	}
}

static int check_pixel_format(const uint8_t *m, const char **why)
{
	/* m[4..19]: bpp, depth, big-endian, true-colour, maxima and shifts */
	uint8_t bpp = m[4], depth = m[5], true_colour = m[7];
	if (!true_colour) {
		*why = "colour-map pixel formats are not supported";
		return -EPROTO;
	}
	if ((bpp != 8 && bpp != 16 && bpp != 32) || depth == 0 || depth > bpp) {
		*why = "bad pixel format";
		return -EPROTO;
	}
	for (int i = 0; i < 3; i++)
		if (m[14 + i] >= bpp) {
			*why = "bad pixel format (colour shift)";
			return -EPROTO;
		}
	return 0;
}

int rfb_filter_feed(struct rfb_filter *f, const uint8_t *in, size_t n, struct rfb_out *out,
		    const char **why)
{
	size_t i = 0;
	*why = NULL;
	while (i < n) {
		if (f->pass) {
			size_t k = n - i < f->pass ? n - i : f->pass;
			emit(out, in + i, k);
			f->pass -= (uint32_t)k;
			i += k;
			continue;
		}
		if (f->skip) {
			size_t k = n - i < f->skip ? n - i : (size_t)f->skip;
			f->skip -= k;
			f->bytes_dropped += k;
			i += k;
			continue;
		}
		f->msg[f->have++] = in[i++];
		long len = msg_length(f->msg, f->have);
		if (len < 0) {
			*why = "unknown or unsupported message type";
			return -EPROTO;
		}
		if (len == 0 || f->have < (size_t)len)
			continue;
		/* a whole fixed-size message, or the header of a variable one */
		f->messages++;
		f->have = 0;
		switch (f->msg[0]) {
		case MSG_SET_PIXEL_FORMAT:
			if (check_pixel_format(f->msg, why) < 0)
				return -EPROTO;
			emit(out, f->msg, 20);
			break;
		case MSG_CUT_TEXT:
			f->skip = (uint64_t)f->msg[4] << 24 | (uint64_t)f->msg[5] << 16 |
				  (uint64_t)f->msg[6] << 8 | f->msg[7];
			break;
		case MSG_SET_ENCODINGS: {
			uint32_t count = (uint32_t)f->msg[2] << 8 | f->msg[3];
			uint32_t keep = count < RFB_FILTER_MAX_ENCODINGS ? count : RFB_FILTER_MAX_ENCODINGS;
			uint8_t hdr[4] = {MSG_SET_ENCODINGS, 0, (uint8_t)(keep >> 8), (uint8_t)keep};
			emit(out, hdr, 4);
			f->pass = 4 * keep;		   /* the kept entries, as they arrive */
			f->skip = 4 * (uint64_t)(count - keep); /* then the rest, dropped */
			break;
		}
		default:
			emit(out, f->msg, (size_t)len);
			break;
		}
	}
	return 0;
}
