/* SPDX-License-Identifier: BSD-2-Clause */
/* The client-to-server half of RFB after the handshake, checked message by message before the
 * server acts on it: only whole, well-formed messages of the types the server handles pass;
 * anything else ends the viewer, cleanly. A viewer's stream is hostile input.
 *
 *   0 SetPixelFormat      20 bytes; true colour, 8/16/32 bits per pixel, depth <= bpp
 *   2 SetEncodings        4 + 4n bytes; passed on with the first 32 encodings
 *   3 FramebufferUpdateRequest 10 bytes
 *   4 KeyEvent            8 bytes
 *   5 PointerEvent        6 bytes
 *   6 ClientCutText       8 + n bytes: consumed here (the guest has no clipboard), any n
 *   255 QEMU              subtype 0 (extended key event, 12 bytes) only
 * Pure code: no I/O. */
#ifndef KB_RFB_FILTER_H
#define KB_RFB_FILTER_H

#include <stddef.h>
#include <stdint.h>

#define RFB_FILTER_MAX_ENCODINGS 32
#define RFB_FILTER_SLACK 20

struct rfb_filter {
	uint8_t msg[20];  /* the longest fixed-size message (SetPixelFormat) */
	size_t have;	  /* bytes of the current message held in msg */
	uint32_t pass;	  /* SetEncodings entry bytes to pass on as they come */
	uint64_t skip;	  /* bytes to consume without passing on (cut text, extra encodings) */
	unsigned long messages, bytes_dropped;
};

/* What the filter passes on: appended to a caller's buffer. */
struct rfb_out {
	uint8_t *buf;
	size_t len, cap;
};

/* Feed `n` client bytes. What passes is appended to `out`, which must have room for
 * n + RFB_FILTER_SLACK more bytes (a message completed by this call's bytes is passed whole). Returns 0, or -EPROTO with *why naming the problem (the
 * viewer must be dropped). */
int rfb_filter_feed(struct rfb_filter *f, const uint8_t *in, size_t n, struct rfb_out *out,
		    const char **why);

#endif
