/* SPDX-License-Identifier: BSD-2-Clause */
/* PS/2 keyboard: scan code set 2, keyboard commands, console keys, -K layouts (see ps2kbd.h). */
#include "devices/ps2kbd.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/input-event-codes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "snapshot/snapstate.h"

/* Keyboard commands */
#define KBD_CMD_SET_LEDS 0xED
#define KBD_CMD_ECHO 0xEE
#define KBD_CMD_SCANSET 0xF0
#define KBD_CMD_IDENTIFY 0xF2
#define KBD_CMD_TYPEMATIC 0xF3
#define KBD_CMD_ENABLE 0xF4
#define KBD_CMD_DISABLE 0xF5
#define KBD_CMD_DEFAULTS 0xF6
#define KBD_CMD_RESEND 0xFE
#define KBD_CMD_RESET 0xFF

#define KBD_ID_1 0xAB /* MF2 keyboard */
#define KBD_ID_2 0x83
#define KBD_TYPEMATIC_DEFAULT 0x2B /* 10.9 characters/s after 500 ms */

#define SET2_EXTENDED 0xE0
#define SET2_BREAK 0xF0
#define SET2_LSHIFT 0x12

/* ---- queues ---- */

static void fifo_clear(struct ps2kbd *kb)
{
	kb->head = kb->len = 0;
}

/* The whole sequence or nothing. */
static void fifo_put_seq(struct ps2kbd *kb, const uint8_t *b, unsigned n)
{
	if (n > PS2KBD_FIFO_SIZE - kb->len)
		return;
	for (unsigned i = 0; i < n; i++)
		kb->fifo[(kb->head + kb->len++) % PS2KBD_FIFO_SIZE] = b[i];
}

static void reply(struct ps2kbd *kb, uint8_t b)
{
	if (kb->rlen < PS2KBD_REPLY_SIZE)
		kb->reply[(kb->rhead + kb->rlen++) % PS2KBD_REPLY_SIZE] = b;
}

bool ps2kbd_read(struct ps2kbd *kb, uint8_t *byte)
{
	if (kb->rlen) {
		*byte = kb->reply[kb->rhead];
		kb->rhead = (kb->rhead + 1) % PS2KBD_REPLY_SIZE;
		kb->rlen--;
	} else if (kb->len) {
		*byte = kb->fifo[kb->head];
		kb->head = (kb->head + 1) % PS2KBD_FIFO_SIZE;
		kb->len--;
	} else {
		return false;
	}
	kb->last_sent = *byte;
	return true;
}

unsigned ps2kbd_pending(const struct ps2kbd *kb)
{
	return kb->rlen + kb->len;
}

/* ---- commands ---- */

static void defaults(struct ps2kbd *kb)
{
	kb->typematic = KBD_TYPEMATIC_DEFAULT;
	kb->param_for = 0;
}

void ps2kbd_reset(struct ps2kbd *kb, const struct kbd_layout *layout)
{
	memset(kb, 0, sizeof(*kb));
	defaults(kb);
	kb->scanning = true;
	kb->layout = layout;
}

void ps2kbd_write(struct ps2kbd *kb, uint8_t byte)
{
	uint8_t cmd = kb->param_for;
	if (cmd) {
		/* the data byte of an earlier command */
		kb->param_for = 0;
		reply(kb, PS2_ACK);
		switch (cmd) {
		case KBD_CMD_SET_LEDS:
			kb->leds = byte & 0x07;
			break;
		case KBD_CMD_TYPEMATIC:
			kb->typematic = byte & 0x7F;
			break;
		case KBD_CMD_SCANSET:
			/* only set 2 exists here: a query (0) reports it, a change is acknowledged
			 * and ignored */
			if (byte == 0)
				reply(kb, 0x02);
			break;
		}
		return;
	}
	switch (byte) {
	case KBD_CMD_RESET:
		fifo_clear(kb);
		kb->rlen = 0;
		defaults(kb);
		kb->leds = 0;
		kb->scanning = true;
		reply(kb, PS2_ACK);
		reply(kb, PS2_BAT_OK);
		break;
	case KBD_CMD_DEFAULTS:
		fifo_clear(kb);
		defaults(kb);
		reply(kb, PS2_ACK);
		break;
	case KBD_CMD_DISABLE:
		fifo_clear(kb);
		defaults(kb);
		kb->scanning = false;
		reply(kb, PS2_ACK);
		break;
	case KBD_CMD_ENABLE:
		fifo_clear(kb);
		kb->scanning = true;
		reply(kb, PS2_ACK);
		break;
	case KBD_CMD_SET_LEDS:
	case KBD_CMD_TYPEMATIC:
	case KBD_CMD_SCANSET:
		kb->param_for = byte;
		reply(kb, PS2_ACK);
		break;
	case KBD_CMD_IDENTIFY:
		reply(kb, PS2_ACK);
		reply(kb, KBD_ID_1);
		reply(kb, KBD_ID_2);
		break;
	case KBD_CMD_ECHO:
		reply(kb, KBD_CMD_ECHO);
		break;
	case KBD_CMD_RESEND:
		reply(kb, kb->last_sent);
		break;
	default:
		reply(kb, PS2_RESEND);
		break;
	}
}

/* ---- keys ---- */

#define K_E0 0x01    /* extended: E0 before the code */
#define K_PAUSE 0x02 /* Pause: its own make sequence, no break */
#define K_PRTSC 0x04 /* Print Screen: two codes */

struct set2_key {
	uint8_t code;
	uint8_t flags;
};

/* Linux evdev key codes to set 2 (a 104/105-key PC keyboard, the Japanese keys and the common
 * multimedia keys). */
static const struct set2_key evdev_set2[256] = {
    [KEY_ESC] = {0x76, 0},
    [KEY_1] = {0x16, 0},
    [KEY_2] = {0x1E, 0},
    [KEY_3] = {0x26, 0},
    [KEY_4] = {0x25, 0},
    [KEY_5] = {0x2E, 0},
    [KEY_6] = {0x36, 0},
    [KEY_7] = {0x3D, 0},
    [KEY_8] = {0x3E, 0},
    [KEY_9] = {0x46, 0},
    [KEY_0] = {0x45, 0},
    [KEY_MINUS] = {0x4E, 0},
    [KEY_EQUAL] = {0x55, 0},
    [KEY_BACKSPACE] = {0x66, 0},
    [KEY_TAB] = {0x0D, 0},
    [KEY_Q] = {0x15, 0},
    [KEY_W] = {0x1D, 0},
    [KEY_E] = {0x24, 0},
    [KEY_R] = {0x2D, 0},
    [KEY_T] = {0x2C, 0},
    [KEY_Y] = {0x35, 0},
    [KEY_U] = {0x3C, 0},
    [KEY_I] = {0x43, 0},
    [KEY_O] = {0x44, 0},
    [KEY_P] = {0x4D, 0},
    [KEY_LEFTBRACE] = {0x54, 0},
    [KEY_RIGHTBRACE] = {0x5B, 0},
    [KEY_ENTER] = {0x5A, 0},
    [KEY_LEFTCTRL] = {0x14, 0},
    [KEY_A] = {0x1C, 0},
    [KEY_S] = {0x1B, 0},
    [KEY_D] = {0x23, 0},
    [KEY_F] = {0x2B, 0},
    [KEY_G] = {0x34, 0},
    [KEY_H] = {0x33, 0},
    [KEY_J] = {0x3B, 0},
    [KEY_K] = {0x42, 0},
    [KEY_L] = {0x4B, 0},
    [KEY_SEMICOLON] = {0x4C, 0},
    [KEY_APOSTROPHE] = {0x52, 0},
    [KEY_GRAVE] = {0x0E, 0},
    [KEY_LEFTSHIFT] = {0x12, 0},
    [KEY_BACKSLASH] = {0x5D, 0},
    [KEY_Z] = {0x1A, 0},
    [KEY_X] = {0x22, 0},
    [KEY_C] = {0x21, 0},
    [KEY_V] = {0x2A, 0},
    [KEY_B] = {0x32, 0},
    [KEY_N] = {0x31, 0},
    [KEY_M] = {0x3A, 0},
    [KEY_COMMA] = {0x41, 0},
    [KEY_DOT] = {0x49, 0},
    [KEY_SLASH] = {0x4A, 0},
    [KEY_RIGHTSHIFT] = {0x59, 0},
    [KEY_KPASTERISK] = {0x7C, 0},
    [KEY_LEFTALT] = {0x11, 0},
    [KEY_SPACE] = {0x29, 0},
    [KEY_CAPSLOCK] = {0x58, 0},
    [KEY_F1] = {0x05, 0},
    [KEY_F2] = {0x06, 0},
    [KEY_F3] = {0x04, 0},
    [KEY_F4] = {0x0C, 0},
    [KEY_F5] = {0x03, 0},
    [KEY_F6] = {0x0B, 0},
    [KEY_F7] = {0x83, 0},
    [KEY_F8] = {0x0A, 0},
    [KEY_F9] = {0x01, 0},
    [KEY_F10] = {0x09, 0},
    [KEY_NUMLOCK] = {0x77, 0},
    [KEY_SCROLLLOCK] = {0x7E, 0},
    [KEY_KP7] = {0x6C, 0},
    [KEY_KP8] = {0x75, 0},
    [KEY_KP9] = {0x7D, 0},
    [KEY_KPMINUS] = {0x7B, 0},
    [KEY_KP4] = {0x6B, 0},
    [KEY_KP5] = {0x73, 0},
    [KEY_KP6] = {0x74, 0},
    [KEY_KPPLUS] = {0x79, 0},
    [KEY_KP1] = {0x69, 0},
    [KEY_KP2] = {0x72, 0},
    [KEY_KP3] = {0x7A, 0},
    [KEY_KP0] = {0x70, 0},
    [KEY_KPDOT] = {0x71, 0},
    [KEY_ZENKAKUHANKAKU] = {0x0E, 0}, /* where the grave key is on a JIS keyboard */
    [KEY_102ND] = {0x61, 0},
    [KEY_F11] = {0x78, 0},
    [KEY_F12] = {0x07, 0},
    [KEY_RO] = {0x51, 0},
    [KEY_KATAKANAHIRAGANA] = {0x13, 0},
    [KEY_HENKAN] = {0x64, 0},
    [KEY_MUHENKAN] = {0x67, 0},
    [KEY_YEN] = {0x6A, 0},
    [KEY_KPENTER] = {0x5A, K_E0},
    [KEY_RIGHTCTRL] = {0x14, K_E0},
    [KEY_KPSLASH] = {0x4A, K_E0},
    [KEY_SYSRQ] = {0x7C, K_PRTSC},
    [KEY_RIGHTALT] = {0x11, K_E0},
    [KEY_HOME] = {0x6C, K_E0},
    [KEY_UP] = {0x75, K_E0},
    [KEY_PAGEUP] = {0x7D, K_E0},
    [KEY_LEFT] = {0x6B, K_E0},
    [KEY_RIGHT] = {0x74, K_E0},
    [KEY_END] = {0x69, K_E0},
    [KEY_DOWN] = {0x72, K_E0},
    [KEY_PAGEDOWN] = {0x7A, K_E0},
    [KEY_INSERT] = {0x70, K_E0},
    [KEY_DELETE] = {0x71, K_E0},
    [KEY_MUTE] = {0x23, K_E0},
    [KEY_VOLUMEDOWN] = {0x21, K_E0},
    [KEY_VOLUMEUP] = {0x32, K_E0},
    [KEY_POWER] = {0x37, K_E0},
    [KEY_PAUSE] = {0x77, K_PAUSE},
    [KEY_LEFTMETA] = {0x1F, K_E0},
    [KEY_RIGHTMETA] = {0x27, K_E0},
    [KEY_COMPOSE] = {0x2F, K_E0}, /* the Menu key */
    [KEY_STOP] = {0x28, K_E0},
    [KEY_CALC] = {0x2B, K_E0},
    [KEY_SLEEP] = {0x3F, K_E0},
    [KEY_WAKEUP] = {0x5E, K_E0},
    [KEY_MAIL] = {0x48, K_E0},
    [KEY_BOOKMARKS] = {0x18, K_E0},
    [KEY_COMPUTER] = {0x40, K_E0},
    [KEY_BACK] = {0x38, K_E0},
    [KEY_FORWARD] = {0x30, K_E0},
    [KEY_NEXTSONG] = {0x4D, K_E0},
    [KEY_PLAYPAUSE] = {0x34, K_E0},
    [KEY_PREVIOUSSONG] = {0x15, K_E0},
    [KEY_STOPCD] = {0x3B, K_E0},
    [KEY_HOMEPAGE] = {0x3A, K_E0},
    [KEY_REFRESH] = {0x20, K_E0},
    [KEY_SEARCH] = {0x10, K_E0},
    [KEY_MEDIA] = {0x50, K_E0},
};

/* Printable ASCII (0x20-0x7E) on a US keyboard: the evdev key, with SHIFTED when the character
 * is that key with Shift. */
#define SHIFTED 0x80
static const uint8_t ascii_keys[0x7F - 0x20] = {
    [' ' - 0x20] = KEY_SPACE,
    ['!' - 0x20] = KEY_1 | SHIFTED,
    ['"' - 0x20] = KEY_APOSTROPHE | SHIFTED,
    ['#' - 0x20] = KEY_3 | SHIFTED,
    ['$' - 0x20] = KEY_4 | SHIFTED,
    ['%' - 0x20] = KEY_5 | SHIFTED,
    ['&' - 0x20] = KEY_7 | SHIFTED,
    ['\'' - 0x20] = KEY_APOSTROPHE,
    ['(' - 0x20] = KEY_9 | SHIFTED,
    [')' - 0x20] = KEY_0 | SHIFTED,
    ['*' - 0x20] = KEY_8 | SHIFTED,
    ['+' - 0x20] = KEY_EQUAL | SHIFTED,
    [',' - 0x20] = KEY_COMMA,
    ['-' - 0x20] = KEY_MINUS,
    ['.' - 0x20] = KEY_DOT,
    ['/' - 0x20] = KEY_SLASH,
    ['0' - 0x20] = KEY_0,
    ['1' - 0x20] = KEY_1,
    ['2' - 0x20] = KEY_2,
    ['3' - 0x20] = KEY_3,
    ['4' - 0x20] = KEY_4,
    ['5' - 0x20] = KEY_5,
    ['6' - 0x20] = KEY_6,
    ['7' - 0x20] = KEY_7,
    ['8' - 0x20] = KEY_8,
    ['9' - 0x20] = KEY_9,
    [':' - 0x20] = KEY_SEMICOLON | SHIFTED,
    [';' - 0x20] = KEY_SEMICOLON,
    ['<' - 0x20] = KEY_COMMA | SHIFTED,
    ['=' - 0x20] = KEY_EQUAL,
    ['>' - 0x20] = KEY_DOT | SHIFTED,
    ['?' - 0x20] = KEY_SLASH | SHIFTED,
    ['@' - 0x20] = KEY_2 | SHIFTED,
    ['[' - 0x20] = KEY_LEFTBRACE,
    ['\\' - 0x20] = KEY_BACKSLASH,
    [']' - 0x20] = KEY_RIGHTBRACE,
    ['^' - 0x20] = KEY_6 | SHIFTED,
    ['_' - 0x20] = KEY_MINUS | SHIFTED,
    ['`' - 0x20] = KEY_GRAVE,
    ['{' - 0x20] = KEY_LEFTBRACE | SHIFTED,
    ['|' - 0x20] = KEY_BACKSLASH | SHIFTED,
    ['}' - 0x20] = KEY_RIGHTBRACE | SHIFTED,
    ['~' - 0x20] = KEY_GRAVE | SHIFTED,
};

/* The letters in alphabetical order (their evdev codes follow the QWERTY rows). */
static const uint8_t letter_keys[26] = {
    KEY_A, KEY_B, KEY_C, KEY_D, KEY_E, KEY_F, KEY_G, KEY_H, KEY_I, KEY_J, KEY_K, KEY_L, KEY_M,
    KEY_N, KEY_O, KEY_P, KEY_Q, KEY_R, KEY_S, KEY_T, KEY_U, KEY_V, KEY_W, KEY_X, KEY_Y, KEY_Z,
};

/* X11 keysyms of the keys that type no character (X11/keysymdef.h values). */
static const struct {
	uint16_t keysym;
	uint8_t key;
} function_keysyms[] = {
    {0xFF08, KEY_BACKSPACE},  /* BackSpace */
    {0xFF09, KEY_TAB},	      /* Tab */
    {0xFF0D, KEY_ENTER},      /* Return */
    {0xFF13, KEY_PAUSE},      /* Pause */
    {0xFF14, KEY_SCROLLLOCK}, /* Scroll_Lock */
    {0xFF15, KEY_SYSRQ},      /* Sys_Req */
    {0xFF1B, KEY_ESC},	      /* Escape */
    {0xFF50, KEY_HOME},	      /* Home */
    {0xFF51, KEY_LEFT},	      /* Left */
    {0xFF52, KEY_UP},	      /* Up */
    {0xFF53, KEY_RIGHT},      /* Right */
    {0xFF54, KEY_DOWN},	      /* Down */
    {0xFF55, KEY_PAGEUP},     /* Prior */
    {0xFF56, KEY_PAGEDOWN},   /* Next */
    {0xFF57, KEY_END},	      /* End */
    {0xFF61, KEY_SYSRQ},      /* Print */
    {0xFF63, KEY_INSERT},     /* Insert */
    {0xFF67, KEY_COMPOSE},    /* Menu */
    {0xFF6B, KEY_PAUSE},      /* Break */
    {0xFF7F, KEY_NUMLOCK},    /* Num_Lock */
    {0xFF8D, KEY_KPENTER},    /* KP_Enter */
    {0xFF95, KEY_KP7},	      /* KP_Home */
    {0xFF96, KEY_KP4},	      /* KP_Left */
    {0xFF97, KEY_KP8},	      /* KP_Up */
    {0xFF98, KEY_KP6},	      /* KP_Right */
    {0xFF99, KEY_KP2},	      /* KP_Down */
    {0xFF9A, KEY_KP9},	      /* KP_Prior */
    {0xFF9B, KEY_KP3},	      /* KP_Next */
    {0xFF9C, KEY_KP1},	      /* KP_End */
    {0xFF9D, KEY_KP5},	      /* KP_Begin */
    {0xFF9E, KEY_KP0},	      /* KP_Insert */
    {0xFF9F, KEY_KPDOT},      /* KP_Delete */
    {0xFFAA, KEY_KPASTERISK}, /* KP_Multiply */
    {0xFFAB, KEY_KPPLUS},     /* KP_Add */
    {0xFFAC, KEY_KPDOT},      /* KP_Separator */
    {0xFFAD, KEY_KPMINUS},    /* KP_Subtract */
    {0xFFAE, KEY_KPDOT},      /* KP_Decimal */
    {0xFFAF, KEY_KPSLASH},    /* KP_Divide */
    {0xFFB0, KEY_KP0},	      /* KP_0 */
    {0xFFB1, KEY_KP1},	      /* KP_1 */
    {0xFFB2, KEY_KP2},	      /* KP_2 */
    {0xFFB3, KEY_KP3},	      /* KP_3 */
    {0xFFB4, KEY_KP4},	      /* KP_4 */
    {0xFFB5, KEY_KP5},	      /* KP_5 */
    {0xFFB6, KEY_KP6},	      /* KP_6 */
    {0xFFB7, KEY_KP7},	      /* KP_7 */
    {0xFFB8, KEY_KP8},	      /* KP_8 */
    {0xFFB9, KEY_KP9},	      /* KP_9 */
    {0xFFBE, KEY_F1},	      /* F1 */
    {0xFFBF, KEY_F2},	      /* F2 */
    {0xFFC0, KEY_F3},	      /* F3 */
    {0xFFC1, KEY_F4},	      /* F4 */
    {0xFFC2, KEY_F5},	      /* F5 */
    {0xFFC3, KEY_F6},	      /* F6 */
    {0xFFC4, KEY_F7},	      /* F7 */
    {0xFFC5, KEY_F8},	      /* F8 */
    {0xFFC6, KEY_F9},	      /* F9 */
    {0xFFC7, KEY_F10},	      /* F10 */
    {0xFFC8, KEY_F11},	      /* F11 */
    {0xFFC9, KEY_F12},	      /* F12 */
    {0xFFE1, KEY_LEFTSHIFT},  /* Shift_L */
    {0xFFE2, KEY_RIGHTSHIFT}, /* Shift_R */
    {0xFFE3, KEY_LEFTCTRL},   /* Control_L */
    {0xFFE4, KEY_RIGHTCTRL},  /* Control_R */
    {0xFFE5, KEY_CAPSLOCK},   /* Caps_Lock */
    {0xFFE7, KEY_LEFTMETA},   /* Meta_L */
    {0xFFE8, KEY_RIGHTMETA},  /* Meta_R */
    {0xFFE9, KEY_LEFTALT},    /* Alt_L */
    {0xFFEA, KEY_RIGHTALT},   /* Alt_R */
    {0xFFEB, KEY_LEFTMETA},   /* Super_L */
    {0xFFEC, KEY_RIGHTMETA},  /* Super_R */
    {0xFFFF, KEY_DELETE},     /* Delete */
    {0xFE03, KEY_RIGHTALT},   /* ISO_Level3_Shift (AltGr) */
    {0xFE20, KEY_TAB},	      /* ISO_Left_Tab (Shift+Tab) */
};

/* The evdev key a keysym stands for on a US keyboard (0: none); *shift: it needs Shift. */
static unsigned keysym_key(uint32_t keysym, bool *shift)
{
	*shift = false;
	if (keysym >= 'a' && keysym <= 'z')
		return letter_keys[keysym - 'a'];
	if (keysym >= 'A' && keysym <= 'Z') {
		*shift = true;
		return letter_keys[keysym - 'A'];
	}
	if (keysym >= 0x20 && keysym < 0x7F) {
		uint8_t k = ascii_keys[keysym - 0x20];
		*shift = k & SHIFTED;
		return k & ~SHIFTED;
	}
	for (size_t i = 0; i < sizeof(function_keysyms) / sizeof(function_keysyms[0]); i++)
		if (function_keysyms[i].keysym == keysym)
			return function_keysyms[i].key;
	return 0;
}

static const struct kbd_layout_entry *layout_find(const struct kbd_layout *l, uint32_t keysym)
{
	if (!l || !keysym)
		return NULL;
	for (unsigned i = 0; i < l->n && i < KBD_LAYOUT_MAX; i++)
		if (l->e[i].keysym == keysym)
			return &l->e[i];
	return NULL;
}

/* Make or break of one set-2 key. */
static unsigned key_seq(struct set2_key k, bool down, uint8_t *out)
{
	unsigned n = 0;
	if (k.flags & K_PAUSE) {
		/* Pause sends a make of Ctrl+NumLock behind E1, then its break, and nothing on
		 * release */
		static const uint8_t pause[] = {0xE1, 0x14, 0x77, 0xE1, 0xF0, 0x14, 0xF0, 0x77};
		if (!down)
			return 0;
		memcpy(out, pause, sizeof(pause));
		return sizeof(pause);
	}
	if (k.flags & K_PRTSC) {
		/* Print Screen: a fake left Shift (E0 12) and E0 7C; released in reverse order */
		const uint8_t a = 0x12, b = 0x7C;
		if (down) {
			out[n++] = SET2_EXTENDED;
			out[n++] = a;
			out[n++] = SET2_EXTENDED;
			out[n++] = b;
		} else {
			out[n++] = SET2_EXTENDED;
			out[n++] = SET2_BREAK;
			out[n++] = b;
			out[n++] = SET2_EXTENDED;
			out[n++] = SET2_BREAK;
			out[n++] = a;
		}
		return n;
	}
	if (k.flags & K_E0)
		out[n++] = SET2_EXTENDED;
	if (!down)
		out[n++] = SET2_BREAK;
	out[n++] = k.code;
	return n;
}

unsigned ps2kbd_key_bytes(const struct ps2kbd *kb, bool down, uint32_t keysym, uint32_t code,
			  uint8_t out[PS2KBD_SEQ_MAX])
{
	if (code && code < 256 && evdev_set2[code].code)
		return key_seq(evdev_set2[code], down, out);
	const struct kbd_layout_entry *le = layout_find(kb->layout, keysym);
	if (le)
		return key_seq((struct set2_key){le->scancode, le->e0 ? K_E0 : 0}, down, out);
	bool shift;
	unsigned key = keysym_key(keysym, &shift);
	if (!key || !evdev_set2[key].code)
		return 0;
	if (!shift || kb->shift_held || !down)
		return key_seq(evdev_set2[key], down, out);
	/* a shifted character typed without Shift: press and release Shift around its make */
	uint8_t k[PS2KBD_SEQ_MAX];
	unsigned m = key_seq(evdev_set2[key], true, k);
	if (m > PS2KBD_SEQ_MAX - 3)
		return 0; /* no key that needs Shift is that long (1 or 2 bytes) */
	out[0] = SET2_LSHIFT;
	memcpy(out + 1, k, m);
	out[m + 1] = SET2_BREAK;
	out[m + 2] = SET2_LSHIFT;
	return m + 3;
}

/* The Shift bit a key event stands for (0: not a Shift key). */
static uint8_t shift_bit(uint32_t keysym, uint32_t code)
{
	if (code && code < 256 && evdev_set2[code].code)
		return code == KEY_LEFTSHIFT ? 1 : code == KEY_RIGHTSHIFT ? 2 : 0;
	return keysym == 0xFFE1 ? 1 : keysym == 0xFFE2 ? 2 : 0;
}

void ps2kbd_key(struct ps2kbd *kb, bool down, uint32_t keysym, uint32_t code)
{
	uint8_t sb = shift_bit(keysym, code);
	if (sb)
		kb->shift_held = (uint8_t)(down ? kb->shift_held | sb : kb->shift_held & ~sb);
	if (!kb->scanning)
		return;
	uint8_t seq[PS2KBD_SEQ_MAX];
	unsigned n = ps2kbd_key_bytes(kb, down, keysym, code, seq);
	if (n == 0)
		kb_debug("ps2kbd: no scan code for keysym %#x, key code %u", keysym, code);
	fifo_put_seq(kb, seq, n);
}

/* ---- checkpoint/restore ---- */

void ps2kbd_snapshot(struct snap *s, struct ps2kbd *kb)
{
	/* a load goes to a copy, kept only when all of it is good: a failed one changes nothing */
	struct ps2kbd v = *kb;
	snap_bytes(s, v.fifo, sizeof(v.fifo));
	snap_uint(s, &v.head);
	snap_uint(s, &v.len);
	snap_check(s, v.head < PS2KBD_FIFO_SIZE, "keyboard queue position");
	snap_check(s, v.len <= PS2KBD_FIFO_SIZE, "keyboard queue length");
	snap_bytes(s, v.reply, sizeof(v.reply));
	snap_uint(s, &v.rhead);
	snap_uint(s, &v.rlen);
	snap_check(s, v.rhead < PS2KBD_REPLY_SIZE, "keyboard reply position");
	snap_check(s, v.rlen <= PS2KBD_REPLY_SIZE, "keyboard reply length");
	snap_u8(s, &v.param_for);
	snap_check(s,
		   v.param_for == 0 || v.param_for == KBD_CMD_SET_LEDS ||
		       v.param_for == KBD_CMD_TYPEMATIC || v.param_for == KBD_CMD_SCANSET,
		   "keyboard command waiting for data");
	snap_u8(s, &v.last_sent);
	snap_bool(s, &v.scanning);
	snap_u8(s, &v.leds);
	snap_check(s, v.leds <= 0x07, "keyboard LEDs");
	snap_u8(s, &v.typematic);
	snap_check(s, v.typematic <= 0x7F, "keyboard typematic rate");
	if (snap_loading(s) && !snap_failed(s))
		*kb = v;
}

/* ---- -K layouts ---- */

const char *const kbd_layout_dirs[] = {"/usr/share/kbhyve/kbdlayout", "/usr/share/bhyve/kbdlayout",
				       NULL};

#define LAYOUT_FILE_MAX (1u << 20)

static const char *skip_blanks(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
		p++;
	return p;
}

/* A hexadecimal number, 0x optional, at most 8 digits. */
static bool parse_hex(const char **pp, const char *end, uint32_t *out)
{
	const char *p = skip_blanks(*pp, end);
	if (end - p > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X') &&
	    isxdigit((unsigned char)p[2]))
		p += 2;
	uint32_t v = 0;
	unsigned digits = 0;
	while (p < end && isxdigit((unsigned char)*p)) {
		if (++digits > 8)
			return false;
		unsigned d = isdigit((unsigned char)*p)
				 ? (unsigned)(*p - '0')
				 : (unsigned)(tolower((unsigned char)*p) - 'a' + 10);
		v = v << 4 | d;
		p++;
	}
	if (!digits)
		return false;
	*out = v;
	*pp = skip_blanks(p, end);
	return true;
}

static bool expect(const char **pp, const char *end, char c)
{
	const char *p = skip_blanks(*pp, end);
	if (p >= end || *p != c)
		return false;
	*pp = p + 1;
	return true;
}

static int layout_add(struct kbd_layout *l, uint32_t keysym, uint32_t sc, bool e0, char *why,
		      size_t whylen)
{
	if (keysym == 0) {
		snprintf(why, whylen, "keysym 0 is not a key");
		return -EINVAL;
	}
	if (sc == 0 || sc > 0xFF || sc == SET2_EXTENDED || sc == SET2_BREAK || sc == 0xE1) {
		snprintf(why, whylen, "scan code %#x is not a set-2 make code", sc);
		return -EINVAL;
	}
	for (unsigned i = 0; i < l->n; i++)
		if (l->e[i].keysym == keysym) {
			l->e[i] = (struct kbd_layout_entry){keysym, (uint8_t)sc, e0};
			return 0;
		}
	if (l->n >= KBD_LAYOUT_MAX) {
		snprintf(why, whylen, "more than %d entries", KBD_LAYOUT_MAX);
		return -EINVAL;
	}
	l->e[l->n++] = (struct kbd_layout_entry){keysym, (uint8_t)sc, e0};
	return 0;
}

/* One line (without its newline): 0, or -EINVAL with the reason in why. */
static int layout_line(struct kbd_layout *l, const char *p, const char *end, char *why,
		       size_t whylen)
{
	p = skip_blanks(p, end);
	if (p == end || *p == '#')
		return 0;
	uint32_t keysym, sc, prefix = 0;
	if (*p == '\'') {
		/* 'c': exactly one printable ASCII character between the quotes (a quote too) */
		if (end - p < 3 || p[2] != '\'') {
			snprintf(why, whylen, "expected 'c' with one character between the quotes");
			return -EINVAL;
		}
		if ((unsigned char)p[1] < 0x20 || (unsigned char)p[1] > 0x7E) {
			snprintf(why, whylen,
				 "'c' must be printable ASCII (use the KEYSYM form for others)");
			return -EINVAL;
		}
		keysym = (unsigned char)p[1];
		p += 3;
	} else if (!parse_hex(&p, end, &keysym)) {
		snprintf(why, whylen,
			 "expected 'c',SCANCODE; or KEYSYM,SCANCODE[,PREFIX]; (hexadecimal)");
		return -EINVAL;
	}
	if (!expect(&p, end, ',') || !parse_hex(&p, end, &sc)) {
		snprintf(why, whylen, "expected ,SCANCODE (hexadecimal) after the key");
		return -EINVAL;
	}
	if (expect(&p, end, ',') && !parse_hex(&p, end, &prefix)) {
		snprintf(why, whylen, "expected PREFIX (hexadecimal) after the second ','");
		return -EINVAL;
	}
	if (!expect(&p, end, ';')) {
		snprintf(why, whylen, "expected ';' at the end of the entry");
		return -EINVAL;
	}
	/* the rest of the line is a comment */
	if (prefix != 0 && prefix != SET2_EXTENDED) {
		snprintf(why, whylen, "prefix %#x: only 0 or 0xe0", prefix);
		return -EINVAL;
	}
	return layout_add(l, keysym, sc, prefix == SET2_EXTENDED, why, whylen);
}

int kbd_layout_parse(struct kbd_layout *l, const char *text, size_t len, const char *origin,
		     char *err, size_t errlen)
{
	l->n = 0;
	const char *p = text, *end = text + len;
	for (unsigned line = 1; p < end; line++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		char why[96];
		if (memchr(p, '\0', (size_t)(eol - p))) {
			snprintf(err, errlen, "%s:%u: a NUL byte (not a text file)", origin, line);
			return -EINVAL;
		}
		if (layout_line(l, p, eol, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "%s:%u: %s", origin, line, why);
			return -EINVAL;
		}
		p = nl ? nl + 1 : end;
	}
	return 0;
}

/* Read a regular file of at most LAYOUT_FILE_MAX bytes. */
static int read_file(const char *path, char **text, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	int rc = 0;
	char *buf = NULL;
	size_t n = 0;
	if (fstat(fd, &st) < 0)
		rc = -errno;
	else if (!S_ISREG(st.st_mode))
		rc = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	else if (st.st_size > LAYOUT_FILE_MAX)
		rc = -EFBIG;
	else if (!(buf = malloc((size_t)st.st_size + 1)))
		rc = -ENOMEM;
	while (rc == 0) {
		ssize_t r = read(fd, buf + n, (size_t)st.st_size + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			rc = -errno;
		else if (r == 0)
			break;
		else if ((n += (size_t)r) > (size_t)st.st_size)
			rc = -EFBIG; /* it grew while we read it */
	}
	close(fd);
	if (rc) {
		free(buf);
		return rc;
	}
	*text = buf;
	*len = n;
	return 0;
}

static int load_path(struct kbd_layout *l, const char *path, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	int rc = read_file(path, &text, &len);
	if (rc) {
		snprintf(err, errlen, "keyboard layout %s: %s", path,
			 rc == -EFBIG ? "larger than 1 MiB" : strerror(-rc));
		return rc;
	}
	char origin[300];
	snprintf(origin, sizeof(origin), "keyboard layout %s", path);
	rc = kbd_layout_parse(l, text, len, origin, err, errlen);
	free(text);
	return rc;
}

int kbd_layout_load_from(struct kbd_layout *l, const char *name, const char *const *dirs, char *err,
			 size_t errlen)
{
	l->n = 0;
	if (!name || !*name) {
		snprintf(err, errlen, "keyboard layout: empty name");
		return -EINVAL;
	}
	if (strchr(name, '/'))
		return load_path(l, name, err, errlen);
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		snprintf(err, errlen, "keyboard layout '%s': not a layout name", name);
		return -EINVAL;
	}
	char tried[512] = "";
	size_t used = 0;
	for (unsigned i = 0; dirs[i]; i++) {
		char path[4096];
		int w = snprintf(path, sizeof(path), "%s/%s", dirs[i], name);
		if (w < 0 || (size_t)w >= sizeof(path)) {
			snprintf(err, errlen, "keyboard layout '%.64s...': name too long", name);
			return -ENAMETOOLONG;
		}
		if (access(path, F_OK) == 0)
			return load_path(l, path, err, errlen);
		if (used < sizeof(tried)) {
			int t = snprintf(tried + used, sizeof(tried) - used, "%s%s",
					 i ? (dirs[i + 1] ? ", " : " or ") : "", dirs[i]);
			used += t > 0 ? (size_t)t : 0;
		}
	}
	snprintf(err, errlen, "keyboard layout '%s': not found in %s", name,
		 tried[0] ? tried : "(no directories)");
	return -ENOENT;
}

int kbd_layout_load(struct kbd_layout *l, const char *name, char *err, size_t errlen)
{
	return kbd_layout_load_from(l, name, kbd_layout_dirs, err, errlen);
}
