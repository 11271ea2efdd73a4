/* SPDX-License-Identifier: BSD-2-Clause */
/* The EDID a Bochs-display driver reads (OVMF's QemuVideoDxe, Linux's bochs): it takes the
 * first detailed timing descriptor as the preferred mode, so that descriptor is fbuf's w x h. */
#include "fbuf/fbuf_edid.h"

#include <string.h>

/* Blanking for the detailed timing: close to CVT reduced blanking, which keeps 3840x2160 at 60 Hz
 * under the descriptor's 655.35 MHz pixel-clock limit. */
#define H_FRONT 48
#define H_SYNC 32
#define H_BLANK 160
#define V_FRONT 3
#define V_SYNC 5
#define V_BLANK_MIN 23

static void detailed_timing(uint8_t *d, unsigned w, unsigned h)
{
	unsigned vblank = h / 40 + 8; /* about 460 us of blanking at 60 Hz */
	if (vblank < V_BLANK_MIN)
		vblank = V_BLANK_MIN;
	unsigned long clock = (unsigned long)(w + H_BLANK) * (h + vblank) * 60; /* Hz */
	unsigned clk10k = (unsigned)((clock + 5000) / 10000);
	d[0] = clk10k & 0xff;
	d[1] = clk10k >> 8;
	d[2] = w & 0xff;
	d[3] = H_BLANK & 0xff;
	d[4] = (uint8_t)(((w >> 8) & 0xf) << 4 | ((H_BLANK >> 8) & 0xf));
	d[5] = h & 0xff;
	d[6] = vblank & 0xff;
	d[7] = (uint8_t)(((h >> 8) & 0xf) << 4 | ((vblank >> 8) & 0xf));
	d[8] = H_FRONT;
	d[9] = H_SYNC;
	d[10] = (uint8_t)((V_FRONT & 0xf) << 4 | (V_SYNC & 0xf));
	d[11] = 0;
	/* image size in mm: about 96 dpi */
	unsigned wmm = w * 254 / 960, hmm = h * 254 / 960;
	d[12] = wmm & 0xff;
	d[13] = hmm & 0xff;
	d[14] = (uint8_t)(((wmm >> 8) & 0xf) << 4 | ((hmm >> 8) & 0xf));
	d[17] = 0x1e; /* digital separate sync, +hsync +vsync */
}

static void text_descriptor(uint8_t *d, uint8_t tag, const char *text)
{
	memset(d, 0, 18);
	d[3] = tag;
	size_t n = strlen(text);
	if (n > 13)
		n = 13;
	memcpy(d + 5, text, n);
	if (n < 13) {
		d[5 + n] = '\n';
		memset(d + 6 + n, ' ', 13 - n - 1);
	}
}

void fbuf_edid_build(uint8_t out[FBUF_EDID_SIZE], unsigned width, unsigned height)
{
	static const uint8_t header[8] = {0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00};
	memset(out, 0, FBUF_EDID_SIZE);
	memcpy(out, header, sizeof(header));
	/* manufacturer "KBH": three 5-bit letters, big endian */
	uint16_t mfg = (uint16_t)(('K' - '@') << 10 | ('B' - '@') << 5 | ('H' - '@'));
	out[8] = mfg >> 8;
	out[9] = mfg & 0xff;
	out[10] = 0x01; /* product code */
	out[16] = 1;	/* week */
	out[17] = 2026 - 1990;
	out[18] = 1; /* EDID 1.4 */
	out[19] = 4;
	out[20] = 0xa5; /* digital, 8 bits per colour, DisplayPort */
	out[21] = (uint8_t)((width * 254 / 960 + 5) / 10); /* cm */
	out[22] = (uint8_t)((height * 254 / 960 + 5) / 10);
	out[23] = 120;	/* gamma 2.2 */
	out[24] = 0x06; /* RGB 4:4:4, sRGB default colour space... */
	out[24] |= 0x02; /* ...and the first detailed timing is the preferred mode */
	/* sRGB chromaticity */
	static const uint8_t chroma[10] = {0xee, 0x91, 0xa3, 0x54, 0x4c, 0x99, 0x26, 0x0f, 0x50, 0x54};
	memcpy(out + 25, chroma, sizeof(chroma));
	out[35] = 0x21; /* established timings: 640x480@60, 800x600@60 */
	out[36] = 0x08; /* 1024x768@60 */
	for (int i = 38; i < 54; i += 2) { /* no standard timings */
		out[i] = 0x01;
		out[i + 1] = 0x01;
	}
	detailed_timing(out + 54, width, height);
	/* range limits: 50-70 Hz vertical, 30-160 kHz horizontal, 660 MHz */
	uint8_t *r = out + 72;
	r[3] = 0xfd;
	r[5] = 50;
	r[6] = 70;
	r[7] = 30;
	r[8] = 160;
	r[9] = 66;
	r[10] = 0x01;
	r[11] = '\n';
	memset(r + 12, ' ', 6);
	text_descriptor(out + 90, 0xfc, "kbhyve fbuf");
	text_descriptor(out + 108, 0xff, "0");
	uint8_t sum = 0;
	for (int i = 0; i < FBUF_EDID_SIZE - 1; i++)
		sum += out[i];
	out[FBUF_EDID_SIZE - 1] = (uint8_t)(0x100 - sum);
}
