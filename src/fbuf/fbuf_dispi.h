/* SPDX-License-Identifier: BSD-2-Clause */
/* The Bochs VBE "DISPI" registers of the Bochs/QEMU standard display, as Debian's OVMF
 * (QemuVideoDxe) and Linux's bochs DRM driver program them, and the scan-out they describe.
 * Pure register semantics: no I/O, no locking (the caller holds the device lock). */
#ifndef KB_FBUF_DISPI_H
#define KB_FBUF_DISPI_H

#include <stdbool.h>
#include <stdint.h>

#include "vnc/display.h"

#define DISPI_INDEX_ID 0x0
#define DISPI_INDEX_XRES 0x1
#define DISPI_INDEX_YRES 0x2
#define DISPI_INDEX_BPP 0x3
#define DISPI_INDEX_ENABLE 0x4
#define DISPI_INDEX_BANK 0x5
#define DISPI_INDEX_VIRT_WIDTH 0x6
#define DISPI_INDEX_VIRT_HEIGHT 0x7
#define DISPI_INDEX_X_OFFSET 0x8
#define DISPI_INDEX_Y_OFFSET 0x9
#define DISPI_INDEX_VIDEO_MEMORY_64K 0xa
#define DISPI_NREGS 0xb

#define DISPI_ID0 0xb0c0
#define DISPI_ID5 0xb0c5 /* what kbhyve reports, as QEMU's bochs-display */

#define DISPI_ENABLED 0x01
#define DISPI_GETCAPS 0x02
#define DISPI_8BIT_DAC 0x20
#define DISPI_LFB_ENABLED 0x40
#define DISPI_NOCLEARMEM 0x80

/* Mode limits: fbuf's own (640x480 to 3840x2160 at boot) widened to what drivers may set later */
#define DISPI_MIN_RES 64
#define DISPI_MAX_XRES 3840
#define DISPI_MAX_YRES 2160

struct dispi {
	uint16_t regs[DISPI_NREGS];
	uint64_t vram_size;
};

void dispi_reset(struct dispi *d, uint64_t vram_size);
uint16_t dispi_read(const struct dispi *d, unsigned index);
void dispi_write(struct dispi *d, unsigned index, uint16_t val);
/* The scan-out the registers describe: true and `m` filled when the guest enabled a mode that
 * fits in VRAM; false otherwise (disabled, or a mode that is impossible: wrong depth, too small or
 * large, or past the end of VRAM), with a reason in *why when it is not merely disabled. */
bool dispi_mode(const struct dispi *d, struct display_mode *m, const char **why);

#endif
