/* SPDX-License-Identifier: BSD-2-Clause */
/* A PS/2 mouse (standard 3-byte protocol, ID 0) behind the i8042's AUX port, moved by the
 * console's absolute pointer: each event's difference from the previous position becomes a
 * relative packet.
 *
 * Pure model like ps2kbd: the owner serialises the calls and pulls bytes with ps2mouse_read().
 * Packets are sent only in stream mode with data reporting enabled (F4); in remote mode the
 * movement adds up until the host asks for it (EB). A packet carries at most +-255 counts per
 * axis: a larger difference is clamped, with the axis's overflow bit set, and the rest is
 * dropped (the guest's pointer lags; an absolute device, the USB tablet, does not). A command
 * from the host discards packets not yet sent, so that its reply comes next. Wheel buttons are
 * ignored (no IntelliMouse extension). */
#ifndef KB_PS2MOUSE_H
#define KB_PS2MOUSE_H

#include <stdbool.h>
#include <stdint.h>

struct snap;

#define PS2MOUSE_FIFO_SIZE 32

/* First byte of a movement packet */
#define PS2M_LEFT 0x01
#define PS2M_RIGHT 0x02
#define PS2M_MIDDLE 0x04
#define PS2M_ALWAYS1 0x08
#define PS2M_X_SIGN 0x10
#define PS2M_Y_SIGN 0x20
#define PS2M_X_OVERFLOW 0x40
#define PS2M_Y_OVERFLOW 0x80

/* First byte of the status report (E9) */
#define PS2M_STS_RIGHT 0x01
#define PS2M_STS_MIDDLE 0x02
#define PS2M_STS_LEFT 0x04
#define PS2M_STS_SCALE21 0x10
#define PS2M_STS_ENABLED 0x20
#define PS2M_STS_REMOTE 0x40

struct ps2mouse {
	uint8_t fifo[PS2MOUSE_FIFO_SIZE];
	unsigned head, len;
	uint8_t param_for; /* the command waiting for its data byte, or 0 */
	uint8_t last_sent;
	bool enabled; /* data reporting */
	bool remote;  /* remote mode (else stream) */
	bool scale21; /* 2:1 scaling */
	uint8_t rate, resolution;
	uint8_t buttons; /* PS2M_LEFT/RIGHT/MIDDLE held */
	int dx, dy;	 /* movement not yet reported (PS/2 directions: y up) */
	bool unsent;	 /* a button change not yet reported */
	bool have_pos;	 /* last_x/last_y hold the console's previous position */
	unsigned last_x, last_y;
};

/* Power-on state: stream mode, reporting disabled, 100 samples/s, 4 counts/mm, 1:1. */
void ps2mouse_reset(struct ps2mouse *m);
/* A byte from the host (through the controller's D4 command). */
void ps2mouse_write(struct ps2mouse *m, uint8_t byte);
bool ps2mouse_read(struct ps2mouse *m, uint8_t *byte);
unsigned ps2mouse_pending(const struct ps2mouse *m);
/* The console pointer (console_ptr_fn's arguments; CONSOLE_BTN_* buttons). */
void ps2mouse_pointer(struct ps2mouse *m, uint8_t buttons, unsigned x, unsigned y);

/* Save or load the mouse's state (snapshot/snapstate.h), part of the i8042's section: the queue
 * with its position, the command waiting for its data byte, the last byte sent, mode, rate,
 * resolution, scaling, buttons and the movement not yet reported. Not have_pos/last_x/last_y,
 * the console pointer's previous position: a restored VM's first pointer event is only a
 * reference again, as after power-on. A load checks every position, length, command value and
 * the movement's range, and changes nothing unless all of them are good. */
void ps2mouse_snapshot(struct snap *s, struct ps2mouse *m);

#endif
