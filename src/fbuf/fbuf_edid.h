/* SPDX-License-Identifier: BSD-2-Clause */
/* An EDID 1.4 base block for a virtual monitor whose preferred mode is the fbuf's w x h. */
#ifndef KB_FBUF_EDID_H
#define KB_FBUF_EDID_H

#include <stdint.h>

#define FBUF_EDID_SIZE 128

/* Fill `out` with a valid block (header, checksum) whose first detailed timing is width x height
 * at 60 Hz (width and height within fbuf's limits). */
void fbuf_edid_build(uint8_t out[FBUF_EDID_SIZE], unsigned width, unsigned height);

#endif
