/* SPDX-License-Identifier: BSD-2-Clause */
/* A PS/2 keyboard behind the i8042: scan code set 2 (E0 prefix, F0 before a release), the
 * keyboard commands that firmware and drivers send (reset, enable/disable, defaults, LEDs,
 * typematic rate, scan code set, identify, echo), and keys from the console.
 *
 * The model is pure: the owner (i8042.c) serialises every call and pulls bytes with
 * ps2kbd_read(). Command replies go ahead of scan codes that wait, as a keyboard answers a
 * command before it goes on sending; both queues are bounded and drop what does not fit (a
 * key's whole sequence, never part of it).
 *
 * Keys: a console event carries a Linux evdev key code (the physical key) and/or an X11 keysym.
 * The code is preferred (a fixed table, layout independent); without it the keysym goes through
 * the -K layout's entries, then a built-in US layout. A printable keysym that needs Shift on a US
 * keyboard ('A', '!', ...) gets a Shift press and release around it when the viewer holds no
 * Shift key, so that viewers that send shifted keysyms without Shift (paste, on-screen
 * keyboards) still type the right character; layout entries carry no such information and are
 * sent as they are. */
#ifndef KB_PS2KBD_H
#define KB_PS2KBD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct snap;

#define PS2KBD_FIFO_SIZE 32 /* scan code bytes waiting for the controller */
#define PS2KBD_REPLY_SIZE 8 /* command reply bytes waiting */
#define PS2KBD_SEQ_MAX 8    /* longest sequence one key event sends (Pause: 8) */

/* Replies */
#define PS2_ACK 0xFA
#define PS2_RESEND 0xFE
#define PS2_BAT_OK 0xAA

/* ---- -K keyboard layouts ----
 * bhyve's format: one entry per line, anything after the ';' ignored, '#' starts a comment line:
 *     'c',SCANCODE;              a printable ASCII character
 *     KEYSYM,SCANCODE[,PREFIX];  an X11 keysym; PREFIX 0xe0 for an extended key (0: none)
 * Numbers are hexadecimal, with or without 0x; SCANCODE is the set-2 make code. */
#define KBD_LAYOUT_MAX 512

struct kbd_layout_entry {
	uint32_t keysym;
	uint8_t scancode;
	bool e0;
};

struct kbd_layout {
	unsigned n;
	struct kbd_layout_entry e[KBD_LAYOUT_MAX];
};

/* Parse `text` (len bytes) into l, which it first empties; a later entry for a keysym replaces an
 * earlier one. 0, or -EINVAL with "ORIGIN:LINE: what is wrong" in err. */
int kbd_layout_parse(struct kbd_layout *l, const char *text, size_t len, const char *origin,
		     char *err, size_t errlen);
/* Load a layout by name: a value with a '/' is a path; a bare name is looked up in each of the
 * NULL-terminated `dirs` in turn. 0, or -errno with one line in err. */
int kbd_layout_load_from(struct kbd_layout *l, const char *name, const char *const *dirs, char *err,
			 size_t errlen);
/* The same in /usr/share/kbhyve/kbdlayout, then /usr/share/bhyve/kbdlayout (bhyve's files). */
int kbd_layout_load(struct kbd_layout *l, const char *name, char *err, size_t errlen);
/* The directories kbd_layout_load searches, NULL-terminated. */
extern const char *const kbd_layout_dirs[];

/* ---- the keyboard ---- */

struct ps2kbd {
	uint8_t fifo[PS2KBD_FIFO_SIZE]; /* scan codes */
	unsigned head, len;
	uint8_t reply[PS2KBD_REPLY_SIZE]; /* command replies, sent first */
	unsigned rhead, rlen;
	uint8_t param_for; /* the command waiting for its data byte, or 0 */
	uint8_t last_sent; /* for the host's Resend command */
	bool scanning;	   /* keys are reported (F4 / F5) */
	uint8_t leds, typematic;
	uint8_t shift_held; /* bit 0 left, bit 1 right Shift, as the console reported them */
	const struct kbd_layout *layout; /* -K entries, or NULL */
};

/* Power-on state: scanning, queues empty, default typematic rate, LEDs off. Keeps the layout. */
void ps2kbd_reset(struct ps2kbd *kb, const struct kbd_layout *layout);
/* A byte from the host (a command or a command's data byte). */
void ps2kbd_write(struct ps2kbd *kb, uint8_t byte);
/* The next byte for the controller: a reply, else a scan code. false when none waits. */
bool ps2kbd_read(struct ps2kbd *kb, uint8_t *byte);
/* Bytes waiting (replies and scan codes). */
unsigned ps2kbd_pending(const struct ps2kbd *kb);
/* A key went down or up (console_key_fn's arguments). Ignored while scanning is off. */
void ps2kbd_key(struct ps2kbd *kb, bool down, uint32_t keysym, uint32_t code);

/* The set-2 bytes for a key event, as ps2kbd_key would queue them (the Shift state only
 * matters for keysyms): their count (0: an unknown key, or a release that sends nothing). */
unsigned ps2kbd_key_bytes(const struct ps2kbd *kb, bool down, uint32_t keysym, uint32_t code,
			  uint8_t out[PS2KBD_SEQ_MAX]);

/* Save or load the keyboard's state (snapshot/snapstate.h), part of the i8042's section: both
 * queues with their positions, the command waiting for its data byte, the last byte sent,
 * scanning, LEDs and typematic rate. Not the layout (configuration) nor shift_held, which is
 * the viewer's Shift state, not the guest's: a restored VM keeps what its own console reported.
 * A load checks every position, length and command value, and changes nothing unless all of
 * them are good (the layout, shift_held and anything not in the state are kept). */
void ps2kbd_snapshot(struct snap *s, struct ps2kbd *kb);

#endif
