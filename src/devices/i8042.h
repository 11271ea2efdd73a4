/* SPDX-License-Identifier: BSD-2-Clause */
/* The i8042 keyboard controller (atkbdc) at ports 0x60 (data) and 0x64 (status/command), with a
 * PS/2 keyboard on its first port (IRQ 1) and a PS/2 mouse on its AUX port (IRQ 12).
 *
 * One output buffer byte is shared by the controller's own replies, the keyboard and the mouse
 * (status OBF, plus AUXOBF for a mouse byte). When it is empty, the next byte comes from the
 * controller's reply queue, else the keyboard (unless its interface is disabled), else the mouse
 * (likewise); the byte's IRQ is pulsed as it enters if the command byte enables that IRQ, and
 * again when a command-byte write enables the IRQ of the byte already waiting. Command byte bit
 * 6 translates the keyboard's set-2 codes to set 1 on the way (F0 becomes the 0x80 bit of the
 * next code), which OVMF and Linux's default setup rely on.
 *
 * The model (struct i8042) is pure; the registered platform device ("i8042") wires it to the
 * ports, vm_irq_pulse, the reset line (0xFE pulse, output-port bit 0 → reboot), the console
 * input service and the LPC bridge's DSDT (PNP0303 / PNP0F13 nodes).
 *
 * Checkpoint/restore: the device saves section "i8042" (i8042_snapshot). While a checkpoint is
 * taken, console input is held back and handed to the model at resume, so that no byte (and no
 * IRQ 1/12 edge) enters between the interrupt controller's saved state and the model's; after a
 * restore it is held back likewise until the restored VM runs. */
#ifndef KB_I8042_H
#define KB_I8042_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/ps2kbd.h"
#include "devices/ps2mouse.h"

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64
#define I8042_KBD_IRQ 1
#define I8042_AUX_IRQ 12

/* Status register */
#define I8042_STS_OBF 0x01	/* output buffer full */
#define I8042_STS_IBF 0x02	/* input buffer full: never (writes complete at once) */
#define I8042_STS_SYS 0x04	/* system flag: self-test passed */
#define I8042_STS_CMD 0x08	/* the last write went to the command port */
#define I8042_STS_UNLOCKED 0x10 /* keyboard not inhibited by the key lock */
#define I8042_STS_AUXOBF 0x20	/* the byte waiting is from the mouse */

/* Command byte (controller RAM byte 0) */
#define I8042_CTR_KBDINT 0x01
#define I8042_CTR_AUXINT 0x02
#define I8042_CTR_SYS 0x04
#define I8042_CTR_KBDDIS 0x10
#define I8042_CTR_AUXDIS 0x20
#define I8042_CTR_XLATE 0x40

#define I8042_RAM_SIZE 32
#define I8042_CTLQ_SIZE 8

/* An IRQ pulse (1 or 12); the reset line went low (`why` for the debug log). */
typedef void (*i8042_irq_fn)(void *opaque, unsigned irq);
typedef void (*i8042_reset_fn)(void *opaque, const char *why);

struct i8042 {
	uint8_t ram[I8042_RAM_SIZE]; /* ram[0] is the command byte */
	uint8_t outport;	     /* output port: reset line, A20 */
	uint8_t pending;	     /* controller command waiting for its data byte, or 0 */
	bool last_cmd;		     /* status CMD */
	/* the output buffer */
	bool obf, ob_aux;
	uint8_t ob;
	/* controller replies (and D2/D3 bytes) waiting for the output buffer */
	struct {
		uint8_t byte;
		bool aux;
	} ctlq[I8042_CTLQ_SIZE];
	unsigned ctlq_head, ctlq_len;
	bool xlat_break; /* translation: an F0 was taken, the next code is a break */
	struct ps2kbd kbd;
	struct ps2mouse mouse;
	i8042_irq_fn irq;
	i8042_reset_fn reset;
	void *opaque;
};

/* Power-on state (command byte 0x45: keyboard IRQ, system flag, translation), devices reset.
 * `layout` (may be NULL) stays in use by the keyboard. */
void i8042_model_init(struct i8042 *c, const struct kbd_layout *layout, i8042_irq_fn irq,
		      i8042_reset_fn reset, void *opaque);
uint8_t i8042_read_data(struct i8042 *c);
uint8_t i8042_read_status(const struct i8042 *c);
void i8042_write_data(struct i8042 *c, uint8_t val);
void i8042_write_command(struct i8042 *c, uint8_t cmd);
/* Console input for the keyboard and the mouse. */
void i8042_key_event(struct i8042 *c, bool down, uint32_t keysym, uint32_t code);
void i8042_ptr_event(struct i8042 *c, uint8_t buttons, unsigned x, unsigned y);

/* The controller's set 2 → set 1 translation of one byte (without the F0 handling). */
uint8_t i8042_set2_to_set1(uint8_t code);

/* Save or load the whole model (snapshot/snapstate.h), the contents of section "i8042": a
 * version byte (1), the controller (RAM, output port, command waiting for its data byte, status
 * CMD, output buffer, reply queue with its position, translation's pending break), then
 * ps2kbd_snapshot, then ps2mouse_snapshot. Not the callbacks nor the keyboard's layout. A load
 * pulses no IRQ: the interrupt controller's state is restored on its own. Every loaded value
 * that indexes something or selects a command is checked, and a load that fails (a bad value,
 * the state ending early) changes nothing; bytes left over are found by snap_finish. */
void i8042_snapshot(struct snap *s, struct i8042 *c);

#endif
