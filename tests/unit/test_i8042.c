/* SPDX-License-Identifier: BSD-2-Clause */
/* The i8042 with its PS/2 keyboard and mouse: controller commands, the sequences OVMF's
 * Ps2KeyboardDxe and Linux's i8042/atkbd/psmouse drivers send, keys in scan code set 2 and
 * translated to set 1, the mouse's packets, IRQ 1/12 pulses, -K layout files, the registered
 * platform device behind ports 0x60/0x64 fed by the console input service, and the saved state
 * (checkpoint/restore): a round trip, truncated, overlong and out-of-range states. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/input-event-codes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/exitcode.h"
#include "core/log.h"
#include "core/vm.h"
#include "devices/i8042.h"
#include "input/console_input.h"
#include "snapshot/snapbuf.h"
#include "snapshot/snapreg.h"
#include "vm_harness.h"

DEVSET_DECLARE(platform_devices);

/* X11 keysyms used here */
#define XK_Right 0xFF53
#define XK_Home 0xFF50
#define XK_Shift_L 0xFFE1

struct h {
	struct i8042 c;
	unsigned irq1, irq12, other_irqs; /* pulses since the last take_irqs() */
	unsigned resets;
	const char *why;
};

static void on_irq(void *opaque, unsigned irq)
{
	struct h *h = opaque;
	if (irq == 1)
		h->irq1++;
	else if (irq == 12)
		h->irq12++;
	else
		h->other_irqs++;
}

static void on_reset(void *opaque, const char *why)
{
	struct h *h = opaque;
	h->resets++;
	h->why = why;
}

static int setup(void **state)
{
	struct h *h = calloc(1, sizeof(*h));
	assert_non_null(h);
	i8042_model_init(&h->c, NULL, on_irq, on_reset, h);
	*state = h;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

static uint8_t st(struct h *h)
{
	return i8042_read_status(&h->c);
}

static void cmd(struct h *h, uint8_t b)
{
	i8042_write_command(&h->c, b);
}

static void dat(struct h *h, uint8_t b)
{
	i8042_write_data(&h->c, b);
}

/* Pulses since the last call: asserts the counts and resets them. */
static void irqs(struct h *h, unsigned irq1, unsigned irq12)
{
	assert_int_equal(h->other_irqs, 0);
	if (h->irq1 != irq1 || h->irq12 != irq12)
		fail_msg("IRQ 1 pulsed %u times (want %u), IRQ 12 %u times (want %u)", h->irq1,
			 irq1, h->irq12, irq12);
	h->irq1 = h->irq12 = 0;
}

/* Read the output buffer until it is empty: exactly the bytes given, each from the keyboard
 * side (aux false) or the mouse (aux true). */
static void expect_bytes(struct h *h, bool aux, const uint8_t *want, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t s = st(h);
		if (!(s & I8042_STS_OBF))
			fail_msg("byte %zu of %zu (%#04x): output buffer empty", i, n, want[i]);
		if (!!(s & I8042_STS_AUXOBF) != aux)
			fail_msg("byte %zu (%#04x): AUXOBF %d, want %d", i, want[i],
				 !!(s & I8042_STS_AUXOBF), aux);
		uint8_t b = i8042_read_data(&h->c);
		if (b != want[i])
			fail_msg("byte %zu: %#04x, want %#04x", i, b, want[i]);
	}
	if (st(h) & I8042_STS_OBF)
		fail_msg("more output after %zu bytes: %#04x", n, h->c.ob);
}
#define KBD(h, ...)                                                                                \
	expect_bytes(h, false, (const uint8_t[]){__VA_ARGS__},                                     \
		     sizeof((const uint8_t[]){__VA_ARGS__}))
#define AUX(h, ...)                                                                                \
	expect_bytes(h, true, (const uint8_t[]){__VA_ARGS__},                                      \
		     sizeof((const uint8_t[]){__VA_ARGS__}))
#define NOTHING(h) assert_int_equal(st(h) & I8042_STS_OBF, 0)

/* One byte, with more to follow or not. */
static void one(struct h *h, bool aux, uint8_t want)
{
	uint8_t s = st(h);
	assert_true(s & I8042_STS_OBF);
	assert_int_equal(!!(s & I8042_STS_AUXOBF), aux);
	assert_int_equal(i8042_read_data(&h->c), want);
}

static uint8_t read_ctr(struct h *h)
{
	cmd(h, 0x20);
	assert_true(st(h) & I8042_STS_OBF);
	return i8042_read_data(&h->c);
}

static void write_ctr(struct h *h, uint8_t v)
{
	cmd(h, 0x60);
	dat(h, v);
}

static void key(struct h *h, bool down, uint32_t keysym, uint32_t code)
{
	i8042_key_event(&h->c, down, keysym, code);
}

/* ---- the controller ---- */

static void test_power_on_and_ram(void **state)
{
	struct h *h = *state;
	/* system flag, keyboard not locked, nothing waiting */
	assert_int_equal(st(h), I8042_STS_SYS | I8042_STS_UNLOCKED);
	cmd(h, 0x20);
	assert_int_equal(st(h), I8042_STS_SYS | I8042_STS_UNLOCKED | I8042_STS_CMD | I8042_STS_OBF);
	irqs(h, 1, 0); /* a reply is a keyboard-side byte: IRQ 1 is enabled at power-on */
	KBD(h, 0x45);  /* keyboard IRQ, system flag, translation */
	/* an empty buffer reads the last byte again */
	assert_int_equal(i8042_read_data(&h->c), 0x45);

	/* RAM bytes 1-31 through 0x61-0x7F / 0x21-0x3F */
	cmd(h, 0x61);
	dat(h, 0x5A);
	assert_false(st(h) & I8042_STS_CMD); /* the last write went to the data port */
	cmd(h, 0x7F);
	dat(h, 0xA5);
	cmd(h, 0x21);
	KBD(h, 0x5A);
	cmd(h, 0x3F);
	KBD(h, 0xA5);
	assert_int_equal(read_ctr(h), 0x45); /* byte 0 untouched */
	irqs(h, 3, 0);

	/* a command abandons one that waited for its data byte: 0x00 goes to the keyboard */
	cmd(h, 0x60);
	cmd(h, 0xAA);
	KBD(h, 0x55);
	dat(h, 0x00);
	KBD(h, 0xFE); /* the keyboard's resend: not a command (translation leaves 0xFE) */
	assert_int_equal(read_ctr(h), 0x45);
	irqs(h, 3, 0);
}

static void test_controller_commands(void **state)
{
	struct h *h = *state;
	cmd(h, 0xAA);
	KBD(h, 0x55);
	cmd(h, 0xAB);
	KBD(h, 0x00);
	cmd(h, 0xA9);
	KBD(h, 0x00);
	cmd(h, 0xAD);
	assert_int_equal(read_ctr(h), 0x45 | I8042_CTR_KBDDIS);
	cmd(h, 0xA7);
	assert_int_equal(read_ctr(h), 0x45 | I8042_CTR_KBDDIS | I8042_CTR_AUXDIS);
	cmd(h, 0xAE);
	cmd(h, 0xA8);
	assert_int_equal(read_ctr(h), 0x45);
	cmd(h, 0xC0);
	KBD(h, 0x80);
	cmd(h, 0xE0);
	KBD(h, 0x00);
	cmd(h, 0xD0);
	KBD(h, 0x03); /* reset line high, A20 on */
	cmd(h, 0x05); /* unknown: ignored */
	NOTHING(h);
	irqs(h, 9, 0);

	/* D2/D3 put a byte in the output buffer as if the keyboard / mouse sent it; untranslated */
	cmd(h, 0xD2);
	dat(h, 0xF0);
	irqs(h, 1, 0);
	KBD(h, 0xF0);
	cmd(h, 0xD3);
	dat(h, 0x5A);
	irqs(h, 0, 0); /* AUX IRQ disabled in the command byte */
	AUX(h, 0x5A);
	write_ctr(h, 0x47);
	cmd(h, 0xD3);
	dat(h, 0xA5);
	irqs(h, 0, 1);
	AUX(h, 0xA5);

	/* the controller's queue is bounded: 20 self-tests leave the buffer and 8 queued */
	for (int i = 0; i < 20; i++)
		cmd(h, 0xAA);
	KBD(h, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55);
	irqs(h, 9, 0);

	/* the reset line: output port bit 0, pulse commands with bit 0 clear */
	assert_int_equal(h->resets, 0);
	cmd(h, 0xD1);
	dat(h, 0x03);
	cmd(h, 0xFF); /* pulses nothing */
	cmd(h, 0xF1);
	assert_int_equal(h->resets, 0);
	cmd(h, 0xD1);
	dat(h, 0x02);
	assert_int_equal(h->resets, 1);
	assert_string_equal(h->why, "output port reset bit cleared");
	cmd(h, 0xFE);
	assert_int_equal(h->resets, 2);
	assert_string_equal(h->why, "reset line pulsed");
	cmd(h, 0xF0);
	assert_int_equal(h->resets, 3);
	NOTHING(h);
	irqs(h, 0, 0);
}

/* OVMF's Ps2KeyboardDxe InitKeyboard, with the disable/self-test steps it takes on a first
 * initialisation, and the extended verification (keyboard reset, set 2, enable, LEDs). */
static void test_ovmf_init_sequence(void **state)
{
	struct h *h = *state;
	assert_true(st(h) & I8042_STS_SYS);
	uint8_t ctr = read_ctr(h);
	assert_false(ctr & I8042_CTR_AUXDIS); /* OVMF enables the mouse interface at the end */
	cmd(h, 0xAD);
	cmd(h, 0xA7);
	cmd(h, 0xAA);
	KBD(h, 0x55);
	write_ctr(h, 0x67);
	assert_int_equal(read_ctr(h), 0x67);
	dat(h, 0xF4); /* CheckKeyboardConnect */
	KBD(h, 0xFA);
	cmd(h, 0xAB);
	KBD(h, 0x00);
	dat(h, 0xFF);
	KBD(h, 0xFA, 0xAA);
	dat(h, 0xF0);
	KBD(h, 0xFA);
	dat(h, 0x02);
	KBD(h, 0xFA);
	dat(h, 0xF4);
	KBD(h, 0xFA);
	dat(h, 0xED);
	KBD(h, 0xFA);
	dat(h, 0x02); /* Num Lock */
	KBD(h, 0xFA);
	cmd(h, 0xA8);
	assert_int_equal(read_ctr(h), 0x47);
	/* keys arrive in set 1, as Ps2KeyboardDxe decodes them */
	key(h, true, 0, KEY_ENTER);
	key(h, false, 0, KEY_ENTER);
	KBD(h, 0x1C, 0x9C);
	key(h, true, 0, KEY_DOWN);
	key(h, false, 0, KEY_DOWN);
	KBD(h, 0xE0, 0x50, 0xE0, 0xD0);
}

/* Linux: i8042's AUX probes (loopback, MUX detection, AUX IRQ test) and atkbd's probe. */
static void test_linux_probe_sequences(void **state)
{
	struct h *h = *state;
	/* i8042_check_aux: D3 loopback comes back as mouse data */
	cmd(h, 0xD3);
	dat(h, 0x5A);
	AUX(h, 0x5A);
	/* i8042_set_mux_mode: F0 56 A4 come back unchanged: no active multiplexer */
	static const uint8_t mux[] = {0xF0, 0x56, 0xA4};
	for (int i = 0; i < 3; i++) {
		cmd(h, 0xD3);
		dat(h, mux[i]);
		AUX(h, mux[i]);
	}
	cmd(h, 0xA7);
	assert_true(read_ctr(h) & I8042_CTR_AUXDIS);
	cmd(h, 0xA8);
	assert_false(read_ctr(h) & I8042_CTR_AUXDIS);
	irqs(h, 2, 0);
	/* the AUX IRQ test: enable AUXINT, loop a byte, expect IRQ 12 */
	write_ctr(h, 0x47);
	cmd(h, 0xD3);
	dat(h, 0xA5);
	irqs(h, 0, 1);
	AUX(h, 0xA5);

	/* atkbd_probe: GETID under translation reads AB 41 (83 translated); Linux accepts 0xAB as
	 * a keyboard ID and the translated second byte */
	dat(h, 0xF2);
	KBD(h, 0xFA, 0xAB, 0x41);
	irqs(h, 3, 0);
	dat(h, 0xF5); /* deactivate */
	KBD(h, 0xFA);
	dat(h, 0xF0); /* which set? answered 2, which translation shows as 0x41 */
	dat(h, 0x00);
	KBD(h, 0xFA, 0xFA, 0x41);
	dat(h, 0xF3); /* typematic */
	dat(h, 0x00);
	KBD(h, 0xFA, 0xFA);
	dat(h, 0xF4); /* activate */
	KBD(h, 0xFA);
	dat(h, 0xED);
	dat(h, 0x00);
	KBD(h, 0xFA, 0xFA);
	dat(h, 0xEE);
	KBD(h, 0xEE);
	dat(h, 0x01); /* unknown: resend */
	KBD(h, 0xFE);
	dat(h, 0xFE); /* the host asks for the last byte again */
	KBD(h, 0xFE);
	dat(h, 0xF6);
	KBD(h, 0xFA);

	/* without translation the keyboard's own bytes */
	write_ctr(h, 0x07);
	dat(h, 0xF2);
	KBD(h, 0xFA, 0xAB, 0x83);
	dat(h, 0xF0);
	dat(h, 0x00);
	KBD(h, 0xFA, 0xFA, 0x02);
	dat(h, 0xF0); /* other sets: acknowledged, still set 2 */
	dat(h, 0x03);
	KBD(h, 0xFA, 0xFA);
	key(h, true, 'a', 0);
	KBD(h, 0x1C);
}

/* ---- keys ---- */

static void test_key_translated_and_not(void **state)
{
	struct h *h = *state;
	/* the power-on command byte translates: 'a' is set-1 1E, released 9E */
	key(h, true, 'a', 0);
	irqs(h, 1, 0);
	key(h, false, 'a', 0);
	irqs(h, 0, 0); /* the buffer is full: the next byte enters when the guest reads */
	KBD(h, 0x1E, 0x9E);
	irqs(h, 1, 0);
	/* the physical key code gives the same */
	key(h, true, 0, KEY_A);
	key(h, false, 0, KEY_A);
	KBD(h, 0x1E, 0x9E);
	irqs(h, 2, 0);
	/* the code wins over the keysym */
	key(h, true, 'q', KEY_A);
	KBD(h, 0x1E);
	irqs(h, 1, 0);
	/* an unknown code falls back on the keysym; an unknown keysym sends nothing */
	key(h, true, 'b', 0x2FF);
	KBD(h, 0x30);
	key(h, true, 0x12345, 0);
	NOTHING(h);
	irqs(h, 1, 0);

	/* set 2 as the keyboard sends it */
	write_ctr(h, 0x05);
	key(h, true, 'a', 0);
	key(h, false, 'a', 0);
	KBD(h, 0x1C, 0xF0, 0x1C);
	irqs(h, 3, 0);
	/* no keyboard IRQ in the command byte: no pulse, the byte still waits */
	write_ctr(h, 0x04);
	key(h, true, 'a', 0);
	irqs(h, 0, 0);
	assert_true(st(h) & I8042_STS_OBF);
	write_ctr(h, 0x05); /* enabling the IRQ with a byte waiting raises it */
	irqs(h, 1, 0);
	write_ctr(h, 0x05); /* already enabled: no new edge */
	irqs(h, 0, 0);
	KBD(h, 0x1C);
}

static void test_extended_keys(void **state)
{
	struct h *h = *state;
	key(h, true, 0, KEY_RIGHT);
	key(h, false, 0, KEY_RIGHT);
	KBD(h, 0xE0, 0x4D, 0xE0, 0xCD);
	key(h, true, XK_Right, 0);
	key(h, false, XK_Right, 0);
	KBD(h, 0xE0, 0x4D, 0xE0, 0xCD);
	key(h, true, 0, KEY_PAUSE);
	key(h, false, 0, KEY_PAUSE); /* nothing on release */
	KBD(h, 0xE1, 0x1D, 0x45, 0xE1, 0x9D, 0xC5);
	key(h, true, 0, KEY_SYSRQ);
	key(h, false, 0, KEY_SYSRQ);
	KBD(h, 0xE0, 0x2A, 0xE0, 0x37, 0xE0, 0xB7, 0xE0, 0xAA);

	write_ctr(h, 0x05);
	key(h, true, 0, KEY_RIGHT);
	key(h, false, 0, KEY_RIGHT);
	KBD(h, 0xE0, 0x74, 0xE0, 0xF0, 0x74);
	key(h, true, 0, KEY_PAUSE);
	KBD(h, 0xE1, 0x14, 0x77, 0xE1, 0xF0, 0x14, 0xF0, 0x77);
	key(h, true, XK_Home, 0);
	KBD(h, 0xE0, 0x6C);
}

/* The translation table against the definition of set 1: for the keys without a prefix, set
 * 1's make code is Linux's evdev key number (1-88); the extended keys' codes are listed. */
static void test_translation_table(void **state)
{
	struct h *h = *state;
	unsigned checked = 0;
	for (unsigned k = 1; k <= KEY_F12; k++) {
		uint8_t seq[PS2KBD_SEQ_MAX];
		unsigned n = ps2kbd_key_bytes(&h->c.kbd, true, 0, k, seq);
		if (n == 0 || k == KEY_SYSRQ)
			continue;
		assert_int_equal(n, 1);
		unsigned want = k == KEY_ZENKAKUHANKAKU ? KEY_GRAVE : k; /* the same key */
		if (i8042_set2_to_set1(seq[0]) != want)
			fail_msg("key %u: set 2 %#04x translates to %#04x", k, seq[0],
				 i8042_set2_to_set1(seq[0]));
		checked++;
	}
	assert_true(checked >= 84);
	static const struct {
		unsigned key;
		uint8_t set1;
	} ext[] = {
	    {KEY_KPENTER, 0x1C},   {KEY_RIGHTCTRL, 0x1D},  {KEY_KPSLASH, 0x35},
	    {KEY_RIGHTALT, 0x38},  {KEY_HOME, 0x47},	   {KEY_UP, 0x48},
	    {KEY_PAGEUP, 0x49},	   {KEY_LEFT, 0x4B},	   {KEY_RIGHT, 0x4D},
	    {KEY_END, 0x4F},	   {KEY_DOWN, 0x50},	   {KEY_PAGEDOWN, 0x51},
	    {KEY_INSERT, 0x52},	   {KEY_DELETE, 0x53},	   {KEY_LEFTMETA, 0x5B},
	    {KEY_RIGHTMETA, 0x5C}, {KEY_COMPOSE, 0x5D},	   {KEY_MUTE, 0x20},
	    {KEY_VOLUMEUP, 0x30},  {KEY_VOLUMEDOWN, 0x2E},
	};
	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		uint8_t seq[PS2KBD_SEQ_MAX];
		assert_int_equal(ps2kbd_key_bytes(&h->c.kbd, true, 0, ext[i].key, seq), 2);
		assert_int_equal(seq[0], 0xE0);
		if (i8042_set2_to_set1(seq[1]) != ext[i].set1)
			fail_msg("key %u: E0 %#04x translates to %#04x, want %#04x", ext[i].key,
				 seq[1], i8042_set2_to_set1(seq[1]), ext[i].set1);
	}
	/* bytes that are not key codes pass */
	static const uint8_t same[] = {0xAA, 0xEE, 0xFA, 0xFC, 0xFD, 0xFE, 0xFF, 0xE0, 0xE1, 0xAB};
	for (size_t i = 0; i < sizeof(same); i++)
		assert_int_equal(i8042_set2_to_set1(same[i]), same[i]);
	assert_int_equal(i8042_set2_to_set1(0x00), 0xFF);
	/* every printable ASCII keysym types something */
	for (uint32_t c = 0x20; c < 0x7F; c++) {
		uint8_t seq[PS2KBD_SEQ_MAX];
		if (ps2kbd_key_bytes(&h->c.kbd, true, c, 0, seq) == 0)
			fail_msg("keysym %#x ('%c') has no scan code", c, (char)c);
	}
}

/* A keysym that needs Shift on a US keyboard gets a Shift press and release around its make
 * when the viewer holds no Shift; otherwise keys pass as they are. */
static void test_shift_for_keysyms(void **state)
{
	struct h *h = *state;
	write_ctr(h, 0x05); /* set 2 */
	key(h, true, 'A', 0);
	key(h, false, 'A', 0);
	KBD(h, 0x12, 0x1C, 0xF0, 0x12, 0xF0, 0x1C);
	key(h, true, '!', 0);
	KBD(h, 0x12, 0x16, 0xF0, 0x12);
	/* the viewer holds Shift: nothing added */
	key(h, true, XK_Shift_L, 0);
	key(h, true, 'A', 0);
	key(h, false, 'A', 0);
	key(h, false, XK_Shift_L, 0);
	KBD(h, 0x12, 0x1C, 0xF0, 0x1C, 0xF0, 0x12);
	/* Shift from the key code counts too (right Shift) */
	key(h, true, 0, KEY_RIGHTSHIFT);
	key(h, true, '@', 0);
	key(h, false, 0, KEY_RIGHTSHIFT);
	KBD(h, 0x59, 0x1E, 0xF0, 0x59);
	/* after the release Shift is added again */
	key(h, true, '@', 0);
	KBD(h, 0x12, 0x1E, 0xF0, 0x12);
	/* the code path never adds Shift */
	key(h, true, 'A', KEY_A);
	KBD(h, 0x1C);
}

static void test_keyboard_queue(void **state)
{
	struct h *h = *state;
	/* disabled scanning drops keys; enabling clears what waited */
	dat(h, 0xF5);
	KBD(h, 0xFA);
	key(h, true, 'a', 0);
	NOTHING(h);
	dat(h, 0xF4);
	KBD(h, 0xFA);
	key(h, true, 'a', 0);
	KBD(h, 0x1E);

	/* the keyboard interface disabled in the command byte holds the keyboard's bytes */
	cmd(h, 0xAD);
	key(h, true, 'a', 0);
	NOTHING(h);
	h->irq1 = 0;
	cmd(h, 0xAE);
	irqs(h, 1, 0);
	KBD(h, 0x1E);

	/* replies go ahead of waiting scan codes; a byte for the keyboard enables its interface */
	cmd(h, 0xAD);
	key(h, true, 'a', 0);
	key(h, false, 'a', 0);
	dat(h, 0xEE);
	KBD(h, 0xEE, 0x1E, 0x9E);
	assert_false(read_ctr(h) & I8042_CTR_KBDDIS);

	/* enable clears the FIFO: typed keys waiting behind a disabled interface are dropped */
	cmd(h, 0xAD);
	key(h, true, 'a', 0);
	dat(h, 0xF4);
	KBD(h, 0xFA);

	/* the FIFO is bounded and takes whole sequences only: 16 two-byte keys of 40 */
	cmd(h, 0xAD);
	for (int i = 0; i < 40; i++)
		key(h, true, 0, KEY_RIGHT);
	assert_int_equal(ps2kbd_pending(&h->c.kbd), PS2KBD_FIFO_SIZE);
	key(h, true, 'a', 0); /* one byte would fit nowhere either */
	cmd(h, 0xAE);
	for (int i = 0; i < PS2KBD_FIFO_SIZE / 2; i++) {
		one(h, false, 0xE0);
		one(h, false, 0x4D);
	}
	NOTHING(h);

	/* reset: FA AA, scanning again, LEDs off */
	dat(h, 0xF5);
	KBD(h, 0xFA);
	dat(h, 0xFF);
	KBD(h, 0xFA, 0xAA);
	key(h, true, 'a', 0);
	KBD(h, 0x1E);
}

/* ---- the mouse ---- */

static void aux_cmd(struct h *h, uint8_t b)
{
	cmd(h, 0xD4);
	dat(h, b);
}

static void ptr(struct h *h, uint8_t buttons, unsigned x, unsigned y)
{
	i8042_ptr_event(&h->c, buttons, x, y);
}

static void test_mouse_stream(void **state)
{
	struct h *h = *state;
	write_ctr(h, 0x47); /* both IRQs, translation */
	aux_cmd(h, 0xF4);
	irqs(h, 0, 1);
	AUX(h, 0xFA);
	ptr(h, 0, 100, 100); /* the first position is only a reference */
	NOTHING(h);
	ptr(h, 0, 110, 95); /* right 10, up 5 (screen y grows down) */
	irqs(h, 0, 1);
	AUX(h, 0x08, 0x0A, 0x05);
	irqs(h, 0, 2);
	ptr(h, 0, 100, 105); /* left 10, down 10 */
	AUX(h, 0x08 | PS2M_X_SIGN | PS2M_Y_SIGN, 0xF6, 0xF6);
	/* buttons alone make a packet */
	ptr(h, CONSOLE_BTN_LEFT, 100, 105);
	AUX(h, 0x09, 0x00, 0x00);
	ptr(h, CONSOLE_BTN_RIGHT | CONSOLE_BTN_MIDDLE | CONSOLE_BTN_WHEEL_UP, 100, 105);
	AUX(h, 0x0E, 0x00, 0x00);
	ptr(h, 0, 100, 105);
	AUX(h, 0x08, 0x00, 0x00);
	ptr(h, 0, 100, 105); /* no change: nothing */
	NOTHING(h);
	/* more than 255 counts: clamped, with the overflow bits */
	ptr(h, 0, 1100, 105);
	AUX(h, 0x08 | PS2M_X_OVERFLOW, 0xFF, 0x00);
	ptr(h, 0, 100, 1105);
	AUX(h, 0x08 | PS2M_X_SIGN | PS2M_X_OVERFLOW | PS2M_Y_SIGN | PS2M_Y_OVERFLOW, 0x01, 0x01);
	ptr(h, 0, 100, 850); /* up 255 exactly: no overflow */
	AUX(h, 0x08, 0x00, 0xFF);
	ptr(h, 0, 356, 850); /* right 256: the one count beyond the range is an overflow */
	AUX(h, 0x08 | PS2M_X_OVERFLOW, 0xFF, 0x00);
	h->irq1 = h->irq12 = 0;

	/* keyboard and mouse bytes interleave; AUXOBF tells them apart, each with its IRQ */
	ptr(h, 0, 357, 850);
	key(h, true, 'a', 0);
	one(h, true, 0x08);
	one(h, false, 0x1E); /* the keyboard goes first once the buffer is free */
	AUX(h, 0x01, 0x00);
	irqs(h, 1, 3);

	/* the AUX interface disabled holds the mouse's bytes */
	cmd(h, 0xA7);
	ptr(h, 0, 358, 850);
	NOTHING(h);
	cmd(h, 0xA8);
	AUX(h, 0x08, 0x01, 0x00);
	/* without AUXINT no IRQ 12 */
	write_ctr(h, 0x45);
	h->irq12 = 0;
	ptr(h, 0, 359, 850);
	irqs(h, 0, 0);
	AUX(h, 0x08, 0x01, 0x00);
	/* disabled reporting: no packets, and the movement meanwhile is not sent later */
	aux_cmd(h, 0xF5);
	AUX(h, 0xFA);
	ptr(h, 0, 500, 500);
	NOTHING(h);
	aux_cmd(h, 0xF4);
	AUX(h, 0xFA);
	ptr(h, 0, 501, 500);
	AUX(h, 0x08, 0x01, 0x00);
}

static void test_mouse_commands(void **state)
{
	struct h *h = *state;
	aux_cmd(h, 0xFF);
	AUX(h, 0xFA, 0xAA, 0x00);
	aux_cmd(h, 0xF2);
	AUX(h, 0xFA, 0x00);
	aux_cmd(h, 0xE9); /* stream, disabled, 1:1, 4 counts/mm, 100/s */
	AUX(h, 0xFA, 0x00, 0x02, 100);
	aux_cmd(h, 0xE8);
	aux_cmd(h, 0x03);
	AUX(h, 0xFA, 0xFA);
	aux_cmd(h, 0xF3);
	aux_cmd(h, 200);
	AUX(h, 0xFA, 0xFA);
	aux_cmd(h, 0xE7);
	AUX(h, 0xFA);
	aux_cmd(h, 0xF4);
	AUX(h, 0xFA);
	ptr(h, CONSOLE_BTN_LEFT, 10, 10);
	AUX(h, 0x09, 0x00, 0x00);
	aux_cmd(h, 0xE9);
	AUX(h, 0xFA, PS2M_STS_ENABLED | PS2M_STS_SCALE21 | PS2M_STS_LEFT, 0x03, 200);
	/* 2:1 scaling in stream mode: 1→1, 2→1, 3→3, 4→6, 5→9, 6 and up doubled */
	ptr(h, CONSOLE_BTN_LEFT, 14, 8);
	AUX(h, 0x09, 0x06, 0x01);
	ptr(h, CONSOLE_BTN_LEFT, 24, 8);
	AUX(h, 0x09, 20, 0x00);
	aux_cmd(h, 0xE6);
	AUX(h, 0xFA);
	ptr(h, 0, 30, 8);
	AUX(h, 0x08, 0x06, 0x00);

	/* remote mode: movement adds up until read (EB), unscaled */
	aux_cmd(h, 0xF0);
	AUX(h, 0xFA);
	ptr(h, 0, 33, 8);
	ptr(h, 0, 35, 4);
	NOTHING(h);
	aux_cmd(h, 0xEB);
	AUX(h, 0xFA, 0x08, 0x05, 0x04);
	aux_cmd(h, 0xEB);
	AUX(h, 0xFA, 0x08, 0x00, 0x00);
	aux_cmd(h, 0xE9);
	AUX(h, 0xFA, PS2M_STS_ENABLED | PS2M_STS_REMOTE, 0x03, 200);
	aux_cmd(h, 0xEA); /* stream again */
	AUX(h, 0xFA);
	ptr(h, 0, 36, 4);
	AUX(h, 0x08, 0x01, 0x00);

	/* a command drops packets not yet read, so that its reply comes next */
	ptr(h, 0, 40, 4);
	ptr(h, 0, 44, 4);
	one(h, true, 0x08);
	aux_cmd(h, 0xF2);
	one(h, true, 0x04); /* already in the controller's buffer: the guest still gets it */
	AUX(h, 0xFA, 0x00);
	aux_cmd(h, 0x01); /* unknown */
	AUX(h, 0xFE);
	aux_cmd(h, 0xF6); /* defaults: reporting off */
	AUX(h, 0xFA);
	aux_cmd(h, 0xE9);
	AUX(h, 0xFA, 0x00, 0x02, 100);
	ptr(h, 0, 50, 50);
	NOTHING(h);
	/* a byte for the mouse enables the AUX interface */
	cmd(h, 0xA7);
	aux_cmd(h, 0xF2);
	AUX(h, 0xFA, 0x00);
	assert_false(read_ctr(h) & I8042_CTR_AUXDIS);
}

/* ---- -K layouts ---- */

static void test_layout_parse(void **state)
{
	(void)state;
	struct kbd_layout *l = calloc(1, sizeof(*l));
	char err[256];
	static const char good[] = "# a layout file\n"
				   "\n"
				   "'\"',0x1e;\t\"  (0x22)\n"
				   "''',0x5d;\t' the quote itself\n"
				   "'#',0x5d; # is a character here\n"
				   "  0xa7 , 0x26 ;\tsection sign\n"
				   "ff50,6c,e0;\tHome, hex without 0x\n"
				   "0xff22,0x67,0x0;\n"
				   "'\"',0x1f;\tlater wins\r\n"
				   "'z',0x35;";
	assert_int_equal(kbd_layout_parse(l, good, strlen(good), "t", err, sizeof(err)), 0);
	assert_int_equal(l->n, 7);
	assert_int_equal(l->e[0].keysym, '"');
	assert_int_equal(l->e[0].scancode, 0x1F);
	assert_int_equal(l->e[1].keysym, '\'');
	assert_int_equal(l->e[2].keysym, '#');
	assert_int_equal(l->e[3].keysym, 0xA7);
	assert_int_equal(l->e[3].scancode, 0x26);
	assert_false(l->e[3].e0);
	assert_int_equal(l->e[4].keysym, 0xFF50);
	assert_true(l->e[4].e0);
	assert_int_equal(l->e[5].keysym, 0xFF22);
	assert_false(l->e[5].e0);
	assert_int_equal(l->e[6].keysym, 'z');

	static const struct {
		const char *text, *msg;
	} bad[] = {
	    {"'a',0x1c", "t:1: expected ';' at the end of the entry"},
	    {"\n\n'ab',0x1c;", "t:3: expected 'c' with one character"},
	    {"'a'0x1c;", "t:1: expected ,SCANCODE"},
	    {"'a',;", "t:1: expected ,SCANCODE"},
	    {"a,0x1c,;", "t:1: expected PREFIX"},
	    {"0xff50,0x6c,0xe1;", "t:1: prefix 0xe1: only 0 or 0xe0"},
	    {"'a',0x100;", "t:1: scan code 0x100 is not a set-2 make code"},
	    {"'a',0xf0;", "t:1: scan code 0xf0 is not a set-2 make code"},
	    {"'a',0;", "t:1: scan code 0 is not a set-2 make code"},
	    {"0,0x1c;", "t:1: keysym 0 is not a key"},
	    {"123456789,0x1c;", "t:1: expected 'c',SCANCODE; or KEYSYM"},
	    {"'\xc3\xa4',0x52;", "t:1: expected 'c' with one character"},
	    {"'\x7f',0x52;", "t:1: 'c' must be printable ASCII"},
	    {"layout de", "t:1: expected 'c',SCANCODE; or KEYSYM"},
	    {"'a',0x1c;\n'b' 0x32;", "t:2: expected ,SCANCODE"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (kbd_layout_parse(l, bad[i].text, strlen(bad[i].text), "t", err, sizeof(err)) !=
		    -EINVAL)
			fail_msg("'%s' was accepted", bad[i].text);
		if (!strstr(err, bad[i].msg))
			fail_msg("'%s': error '%s' lacks '%s'", bad[i].text, err, bad[i].msg);
	}
	/* a NUL byte */
	assert_int_equal(kbd_layout_parse(l, "'a',1c;\0", 8, "t", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "NUL"));
	/* too many entries */
	size_t cap = (KBD_LAYOUT_MAX + 1) * 16;
	char *big = malloc(cap);
	size_t len = 0;
	for (unsigned i = 1; i <= KBD_LAYOUT_MAX + 1; i++)
		len += (size_t)snprintf(big + len, cap - len, "%x,1c;\n", 0x1000 + i);
	assert_int_equal(kbd_layout_parse(l, big, len, "t", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "t:513: more than 512 entries"));
	free(big);
	free(l);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_layout_load(void **state)
{
	(void)state;
	char dir[] = "/tmp/kbhyve-kbd-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char d1[64], d2[64], path[128], err[512];
	snprintf(d1, sizeof(d1), "%s/a", dir);
	snprintf(d2, sizeof(d2), "%s/b", dir);
	assert_int_equal(mkdir(d1, 0755), 0);
	assert_int_equal(mkdir(d2, 0755), 0);
	const char *const dirs[] = {d1, d2, NULL};
	struct kbd_layout *l = calloc(1, sizeof(*l));

	/* a bare name: the first directory that has it */
	snprintf(path, sizeof(path), "%s/xx", d2);
	write_text(path, "'y',0x1a;\n");
	assert_int_equal(kbd_layout_load_from(l, "xx", dirs, err, sizeof(err)), 0);
	assert_int_equal(l->n, 1);
	snprintf(path, sizeof(path), "%s/xx", d1);
	write_text(path, "'y',0x1a;\n'z',0x35;\n");
	assert_int_equal(kbd_layout_load_from(l, "xx", dirs, err, sizeof(err)), 0);
	assert_int_equal(l->n, 2);
	/* a path */
	assert_int_equal(kbd_layout_load_from(l, path, dirs, err, sizeof(err)), 0);
	assert_int_equal(l->n, 2);

	/* errors: one line naming the file */
	assert_int_equal(kbd_layout_load_from(l, "nope", dirs, err, sizeof(err)), -ENOENT);
	char want[256];
	snprintf(want, sizeof(want), "keyboard layout 'nope': not found in %s or %s", d1, d2);
	assert_string_equal(err, want);
	assert_int_equal(l->n, 0);
	snprintf(path, sizeof(path), "%s/missing", dir);
	assert_int_equal(kbd_layout_load_from(l, path, dirs, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "No such file"));
	assert_int_equal(kbd_layout_load_from(l, d1, dirs, err, sizeof(err)), -EISDIR);
	assert_int_equal(kbd_layout_load_from(l, "..", dirs, err, sizeof(err)), -EINVAL);
	assert_int_equal(kbd_layout_load_from(l, "", dirs, err, sizeof(err)), -EINVAL);
	snprintf(path, sizeof(path), "%s/bad", d1);
	write_text(path, "# fine\n'y',0x1a;\nrubbish\n");
	assert_int_equal(kbd_layout_load_from(l, "bad", dirs, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "keyboard layout %s:3: expected", path);
	assert_non_null(strstr(err, want));
	assert_null(strchr(err, '\n'));
	/* the default directories are kbhyve's, then bhyve's */
	assert_string_equal(kbd_layout_dirs[0], "/usr/share/kbhyve/kbdlayout");
	assert_string_equal(kbd_layout_dirs[1], "/usr/share/bhyve/kbdlayout");
	assert_null(kbd_layout_dirs[2]);

	unlink(path);
	snprintf(path, sizeof(path), "%s/xx", d1);
	unlink(path);
	snprintf(path, sizeof(path), "%s/xx", d2);
	unlink(path);
	rmdir(d1);
	rmdir(d2);
	rmdir(dir);
	free(l);
}

/* A layout's entries replace the built-in keysyms and add others; no Shift is added for them;
 * key codes do not use the layout. */
static void test_layout_keys(void **state)
{
	struct h *h = *state;
	struct kbd_layout *l = calloc(1, sizeof(*l));
	char err[256];
	static const char text[] = "'\"',0x1e;\n0xa7,0x26;\n'z',0x35;\n0xff50,0x6c,0xe0;\n";
	assert_int_equal(kbd_layout_parse(l, text, strlen(text), "t", err, sizeof(err)), 0);
	i8042_model_init(&h->c, l, on_irq, on_reset, h);
	write_ctr(h, 0x05);
	key(h, true, '"', 0); /* Shift+2 on a German keyboard: the viewer holds Shift */
	KBD(h, 0x1E);
	key(h, true, 0xA7, 0);
	key(h, false, 0xA7, 0);
	KBD(h, 0x26, 0xF0, 0x26);
	key(h, true, 'z', 0);
	KBD(h, 0x35);
	key(h, true, 'Z', 0); /* not in the layout: the US table, with Shift */
	KBD(h, 0x12, 0x1A, 0xF0, 0x12);
	key(h, false, XK_Home, 0);
	KBD(h, 0xE0, 0xF0, 0x6C);
	key(h, true, 0, KEY_Z);
	KBD(h, 0x1A);
	free(l);
}

/* ---- checkpoint/restore ---- */

/* The model's saved state (malloc'd), asserting the save worked. */
static uint8_t *save_model(struct i8042 *c, size_t *len)
{
	struct snap *s = snap_new_save("i8042");
	assert_non_null(s);
	i8042_snapshot(s, c);
	char err[256] = "";
	if (snap_finish(s, err, sizeof(err)))
		fail_msg("save: %s", err);
	const void *data = snap_data(s, len);
	assert_true(*len > 0);
	uint8_t *copy = malloc(*len);
	assert_non_null(copy);
	memcpy(copy, data, *len);
	snap_free(s);
	return copy;
}

/* Load `len` bytes into c: snap_finish's result, its line in err. The bytes are copied into a
 * buffer of exactly that size, so that ASan sees any read past them. */
static int load_model(struct i8042 *c, const uint8_t *data, size_t len, char *err, size_t errlen)
{
	uint8_t *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	if (len)
		memcpy(copy, data, len);
	struct snap *s = snap_new_load("i8042", copy, len);
	assert_non_null(s);
	i8042_snapshot(s, c);
	err[0] = '\0';
	int rc = snap_finish(s, err, errlen);
	snap_free(s);
	free(copy);
	return rc;
}

static struct h *fresh(void)
{
	void *p = NULL;
	setup(&p);
	return p;
}

/* A load into c that must fail with -EINVAL and leave c exactly as it was. */
static void load_fails(struct i8042 *c, const uint8_t *data, size_t len, char *err, size_t errlen)
{
	struct i8042 *before = malloc(sizeof(*before));
	assert_non_null(before);
	memcpy(before, c, sizeof(*c));
	assert_int_equal(load_model(c, data, len, err, errlen), -EINVAL);
	if (memcmp(before, c, sizeof(*c)) != 0)
		fail_msg("a failed load (\"%s\") changed the model", err);
	free(before);
}

/* Drive the controller, keyboard and mouse through the ports and the console into a state with
 * something in every part: see after_restore for what comes out of it. */
static void busy_state(struct h *h)
{
	write_ctr(h, 0x47); /* both IRQs, system flag, translation */
	cmd(h, 0x65);
	dat(h, 0x5A); /* RAM byte 5 */
	/* the keyboard: scan code set 3 asked for (acknowledged; only set 2 exists), a rate */
	dat(h, 0xF0);
	dat(h, 0x03);
	KBD(h, 0xFA, 0xFA);
	dat(h, 0xF3);
	dat(h, 0x20);
	KBD(h, 0xFA, 0xFA);
	/* the mouse: 200 samples/s, resolution 3, 2:1 scaling, reporting on in stream mode */
	aux_cmd(h, 0xF3);
	aux_cmd(h, 200);
	AUX(h, 0xFA, 0xFA);
	aux_cmd(h, 0xE8);
	aux_cmd(h, 0x03);
	AUX(h, 0xFA, 0xFA);
	aux_cmd(h, 0xE7);
	AUX(h, 0xFA);
	aux_cmd(h, 0xF4);
	AUX(h, 0xFA);
	ptr(h, 0, 100, 100);
	NOTHING(h);
	/* the queues' positions off 0 */
	for (int i = 0; i < 5; i++) {
		cmd(h, 0xAA);
		KBD(h, 0x55);
	}
	for (int i = 0; i < 3; i++) {
		key(h, true, 0, KEY_A);
		KBD(h, 0x1E);
	}
	/* now bytes everywhere: B's make in the output buffer, its break and Up's make behind it,
	 * a mouse packet (right 4 → 6 scaled, up 2 → 1, left button), two controller replies */
	key(h, true, 0, KEY_B);
	key(h, false, 0, KEY_B);
	key(h, true, 0, KEY_UP);
	ptr(h, CONSOLE_BTN_LEFT, 104, 98);
	cmd(h, 0x20);
	cmd(h, 0xD3);
	dat(h, 0x77);
	/* the keyboard waits for the LEDs command's data byte (its ACK waits too), the controller
	 * for a new command byte */
	dat(h, 0xED);
	cmd(h, 0x60);
}

/* What a model in busy_state does next, through the ports and the console. */
static void after_restore(struct h *h)
{
	assert_int_equal(st(h), I8042_STS_SYS | I8042_STS_UNLOCKED | I8042_STS_OBF | I8042_STS_CMD);
	one(h, false, 0x30); /* B */
	one(h, false, 0x47); /* the command byte (0x20) */
	one(h, true, 0x77);  /* D3's byte */
	one(h, false, 0xFA); /* the LEDs command's ACK */
	one(h, false, 0xB0); /* B's break, translated */
	one(h, false, 0xE0); /* Up */
	one(h, false, 0x48);
	one(h, true, 0x09); /* the packet */
	one(h, true, 0x06);
	one(h, true, 0x01);
	NOTHING(h);
	assert_true(st(h) & I8042_STS_CMD); /* the last write was the command 0x60 */
	/* the controller took this as the command byte, the keyboard this as its LEDs */
	dat(h, 0x45);
	assert_int_equal(read_ctr(h), 0x45);
	dat(h, 0x02);
	KBD(h, 0xFA);
	/* the mouse's last byte again, its mode, buttons, resolution and rate */
	aux_cmd(h, 0xFE);
	AUX(h, 0x01);
	aux_cmd(h, 0xE9);
	AUX(h, 0xFA, PS2M_STS_ENABLED | PS2M_STS_SCALE21 | PS2M_STS_LEFT, 0x03, 200);
	cmd(h, 0x25);
	KBD(h, 0x5A);
	cmd(h, 0xD0);
	KBD(h, 0x03);
	dat(h, 0xF0);
	dat(h, 0x00);
	KBD(h, 0xFA, 0xFA, 0x41); /* set 2, translated */
	/* the console's previous position is not saved: the same place is a reference for a
	 * restored model and no move for the original, then both move alike (2:1 scaled) */
	ptr(h, CONSOLE_BTN_LEFT, 104, 98);
	NOTHING(h);
	ptr(h, CONSOLE_BTN_LEFT, 114, 98);
	AUX(h, 0x09, 20, 0x00);
	key(h, true, 0, KEY_A);
	KBD(h, 0x1E);
}

static void test_snapshot_round_trip(void **state)
{
	struct h *a = *state;
	busy_state(a);
	size_t len;
	uint8_t *saved = save_model(&a->c, &len);

	struct h *b = fresh();
	char err[256];
	if (load_model(&b->c, saved, len, err, sizeof(err)))
		fail_msg("load: %s", err);
	irqs(b, 0, 0); /* a load pulses nothing */
	/* everything saved came back: saving the restored model gives the same bytes */
	size_t len2;
	uint8_t *again = save_model(&b->c, &len2);
	assert_int_equal(len2, len);
	assert_memory_equal(again, saved, len);
	free(again);

	a->irq1 = a->irq12 = 0;
	after_restore(a);
	after_restore(b);
	assert_int_equal(b->irq1, a->irq1);
	assert_int_equal(b->irq12, a->irq12);
	assert_true(a->irq1 > 0 && a->irq12 > 0); /* both enabled (0x47) for the first bytes */
	free(saved);
	free(b);
}

/* Read both until empty: the same status before each byte, the same bytes. Their count. */
static unsigned drain_same(struct h *a, struct h *b)
{
	for (unsigned n = 0; n < 1000; n++) {
		uint8_t sa = st(a), sb = st(b);
		if (sa != sb)
			fail_msg("before byte %u: status %#04x, restored %#04x", n, sa, sb);
		if (!(sa & I8042_STS_OBF))
			return n;
		uint8_t ba = i8042_read_data(&a->c), bb = i8042_read_data(&b->c);
		if (ba != bb)
			fail_msg("byte %u: %#04x, restored %#04x", n, ba, bb);
	}
	fail_msg("the output never ends");
	return 0;
}

static void test_snapshot_full_queues(void **state)
{
	struct h *a = *state;
	aux_cmd(a, 0xF4);
	AUX(a, 0xFA);
	ptr(a, 0, 0, 0);
	/* move every queue's position, then fill each to the brim, wrapping round */
	for (int i = 0; i < 3; i++) {
		cmd(a, 0xAA);
		KBD(a, 0x55);
		dat(a, 0xEE);
		KBD(a, 0xEE);
		key(a, true, 0, KEY_A);
		KBD(a, 0x1E);
	}
	ptr(a, 0, 1, 0);
	AUX(a, 0x08, 0x01, 0x00);
	cmd(a, 0xAA); /* in the output buffer */
	for (int i = 0; i < 12; i++)
		cmd(a, 0xAB); /* 8 queued, the rest dropped */
	for (int i = 0; i < 20; i++)
		key(a, true, 0, KEY_RIGHT); /* 16 fit */
	for (int i = 0; i < 10; i++)
		dat(a, 0xEE); /* 8 fit */
	for (unsigned i = 2; i < 20; i++)
		ptr(a, 0, i, 0); /* 10 packets fit */
	assert_int_equal(a->c.ctlq_len, I8042_CTLQ_SIZE);
	assert_int_equal(a->c.kbd.len, PS2KBD_FIFO_SIZE);
	assert_int_equal(a->c.kbd.rlen, PS2KBD_REPLY_SIZE);
	assert_int_equal(a->c.mouse.len, PS2MOUSE_FIFO_SIZE - PS2MOUSE_FIFO_SIZE % 3);
	assert_int_not_equal(a->c.ctlq_head, 0);
	assert_int_not_equal(a->c.kbd.head, 0);
	assert_int_not_equal(a->c.kbd.rhead, 0);
	assert_int_not_equal(a->c.mouse.head, 0);

	size_t len;
	uint8_t *saved = save_model(&a->c, &len);
	struct h *b = fresh();
	char err[256];
	if (load_model(&b->c, saved, len, err, sizeof(err)))
		fail_msg("load: %s", err);
	assert_int_equal(drain_same(a, b), 1 + I8042_CTLQ_SIZE + PS2KBD_REPLY_SIZE +
					       PS2KBD_FIFO_SIZE + PS2MOUSE_FIFO_SIZE - 2);
	free(saved);
	free(b);
}

/* Every position and length in range, the movement within what the mouse keeps. */
static void assert_model_in_range(const struct i8042 *c)
{
	assert_true(c->ctlq_head < I8042_CTLQ_SIZE && c->ctlq_len <= I8042_CTLQ_SIZE);
	assert_true(c->kbd.head < PS2KBD_FIFO_SIZE && c->kbd.len <= PS2KBD_FIFO_SIZE);
	assert_true(c->kbd.rhead < PS2KBD_REPLY_SIZE && c->kbd.rlen <= PS2KBD_REPLY_SIZE);
	assert_true(c->mouse.head < PS2MOUSE_FIFO_SIZE && c->mouse.len <= PS2MOUSE_FIFO_SIZE);
	assert_true(c->mouse.dx >= -65535 && c->mouse.dx <= 65535);
	assert_true(c->mouse.dy >= -65535 && c->mouse.dy <= 65535);
}

/* Run a loaded model through what reads its queues and values, under ASan/UBSan's eyes. */
static void exercise(struct h *h)
{
	assert_model_in_range(&h->c);
	ptr(h, CONSOLE_BTN_LEFT, 10, 10); /* a packet of the loaded movement, maybe scaled */
	ptr(h, 0, 300, 700);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 200 && (st(h) & I8042_STS_OBF); i++)
			(void)i8042_read_data(&h->c);
		dat(h, 0x01); /* whatever the controller or the keyboard waits for */
		aux_cmd(h, 0x01);
		aux_cmd(h, 0xFE);
		aux_cmd(h, 0xEB);
		dat(h, 0xFE);
		cmd(h, 0x20);
		cmd(h, 0xD0);
		key(h, true, 0, KEY_PAUSE);
		key(h, true, 'A', 0);
		ptr(h, 0, 5, 5);
		write_ctr(h, round ? 0x47 : 0x07);
	}
	for (int i = 0; i < 200 && (st(h) & I8042_STS_OBF); i++)
		(void)i8042_read_data(&h->c);
	assert_model_in_range(&h->c);
}

static void test_snapshot_bad_length(void **state)
{
	struct h *a = *state;
	busy_state(a);
	size_t len;
	uint8_t *saved = save_model(&a->c, &len);
	char err[256];
	/* every truncation fails, and leaves a model that runs */
	for (size_t n = 0; n < len; n++) {
		struct h *b = fresh();
		load_fails(&b->c, saved, n, err, sizeof(err));
		if (!strstr(err, "i8042: ") || !strstr(err, "ends early"))
			fail_msg("%zu of %zu bytes: \"%s\"", n, len, err);
		exercise(b);
		free(b);
	}
	/* a byte too many */
	uint8_t *longer = calloc(1, len + 1);
	assert_non_null(longer);
	memcpy(longer, saved, len);
	struct h *b = fresh();
	assert_int_equal(load_model(&b->c, longer, len + 1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "bytes of state"));
	exercise(b);
	free(b);
	/* another version of the layout */
	longer[0] = 2;
	b = fresh();
	load_fails(&b->c, longer, len, err, sizeof(err));
	assert_non_null(strstr(err, "version out of range"));
	exercise(b);
	free(b);
	free(longer);
	free(saved);
}

/* Where a field of c lies in its saved state: the first byte that changes with the field's
 * lowest bit (values are little-endian, like the host). */
static size_t state_offset(struct i8042 *c, size_t field)
{
	size_t n0, n1;
	uint8_t *s0 = save_model(c, &n0);
	((uint8_t *)c)[field] ^= 1;
	uint8_t *s1 = save_model(c, &n1);
	((uint8_t *)c)[field] ^= 1;
	assert_int_equal(n0, n1);
	size_t i = 0;
	while (i < n0 && s0[i] == s1[i])
		i++;
	assert_true(i < n0);
	free(s0);
	free(s1);
	return i;
}

static void test_snapshot_bad_values(void **state)
{
	static const struct {
		size_t field;
		unsigned width;
		uint32_t value;
		const char *why;
	} bad[] = {
	    {offsetof(struct i8042, ctlq_head), 4, I8042_CTLQ_SIZE, "controller queue position"},
	    {offsetof(struct i8042, ctlq_head), 4, 0xFFFFFFFF, "controller queue position"},
	    {offsetof(struct i8042, ctlq_len), 4, I8042_CTLQ_SIZE + 1, "controller queue length"},
	    {offsetof(struct i8042, ctlq_len), 4, 0x80000000, "controller queue length"},
	    {offsetof(struct i8042, kbd.head), 4, PS2KBD_FIFO_SIZE, "keyboard queue position"},
	    {offsetof(struct i8042, kbd.len), 4, PS2KBD_FIFO_SIZE + 1, "keyboard queue length"},
	    {offsetof(struct i8042, kbd.rhead), 4, PS2KBD_REPLY_SIZE, "keyboard reply position"},
	    {offsetof(struct i8042, kbd.rlen), 4, 0xFFFFFFFF, "keyboard reply length"},
	    {offsetof(struct i8042, mouse.head), 4, PS2MOUSE_FIFO_SIZE, "mouse queue position"},
	    {offsetof(struct i8042, mouse.len), 4, PS2MOUSE_FIFO_SIZE + 1, "mouse queue length"},
	    {offsetof(struct i8042, mouse.dx), 4, 0x80000000, "mouse x movement"},
	    {offsetof(struct i8042, mouse.dy), 4, (uint32_t)-65536, "mouse y movement"},
	    {offsetof(struct i8042, pending), 1, 0x20, "controller command waiting for data"},
	    {offsetof(struct i8042, pending), 1, 0xFF, "controller command waiting for data"},
	    {offsetof(struct i8042, kbd.param_for), 1, 0xF4, "keyboard command waiting for data"},
	    {offsetof(struct i8042, kbd.leds), 1, 0x08, "keyboard LEDs"},
	    {offsetof(struct i8042, kbd.typematic), 1, 0x80, "keyboard typematic rate"},
	    {offsetof(struct i8042, mouse.param_for), 1, 0xE9, "mouse command waiting for data"},
	    {offsetof(struct i8042, mouse.resolution), 1, 4, "mouse resolution"},
	    {offsetof(struct i8042, mouse.buttons), 1, 0x08, "mouse buttons"},
	    {offsetof(struct i8042, obf), 1, 2, "a boolean"},
	    {offsetof(struct i8042, mouse.enabled), 1, 0xFF, "a boolean"},
	};
	struct h *a = *state;
	busy_state(a);
	size_t len;
	uint8_t *saved = save_model(&a->c, &len);
	uint8_t *bytes = malloc(len);
	assert_non_null(bytes);
	char err[256];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t off = state_offset(&a->c, bad[i].field);
		assert_true(off + bad[i].width <= len);
		memcpy(bytes, saved, len);
		for (unsigned k = 0; k < bad[i].width; k++)
			bytes[off + k] = (uint8_t)(bad[i].value >> (8 * k));
		struct h *b = fresh();
		load_fails(&b->c, bytes, len, err, sizeof(err));
		if (!strstr(err, bad[i].why) || !strstr(err, "out of range"))
			fail_msg("%s = %#x: \"%s\"", bad[i].why, bad[i].value, err);
		exercise(b);
		free(b);
	}
	/* a break pending in translation, with translation off */
	struct h *c = fresh();
	c->c.ram[0] = I8042_CTR_KBDINT | I8042_CTR_SYS;
	c->c.xlat_break = true;
	free(saved);
	saved = save_model(&c->c, &len);
	free(c);
	struct h *b = fresh();
	load_fails(&b->c, saved, len, err, sizeof(err));
	assert_non_null(strstr(err, "translation break without translation"));
	assert_false(b->c.xlat_break);
	free(b);
	free(bytes);
	free(saved);
}

/* Any byte of a saved state changed: the load takes it, or fails and changes nothing; either
 * way the model runs safely. */
static void test_snapshot_every_byte(void **state)
{
	static const uint8_t values[] = {0x00, 0x01, 0x21, 0x7F, 0x80, 0xFF};
	struct h *a = *state;
	busy_state(a);
	size_t len;
	uint8_t *saved = save_model(&a->c, &len);
	uint8_t *bytes = malloc(len);
	assert_non_null(bytes);
	char err[256];
	unsigned taken = 0, refused = 0;
	for (size_t i = 0; i < len; i++)
		for (size_t v = 0; v < sizeof(values); v++) {
			memcpy(bytes, saved, len);
			bytes[i] = values[v];
			struct h *b = fresh();
			struct h before;
			memcpy(&before, b, sizeof(before));
			int rc = load_model(&b->c, bytes, len, err, sizeof(err));
			assert_true(rc == 0 || rc == -EINVAL);
			if (rc) {
				refused++;
				assert_memory_equal(&before.c, &b->c, sizeof(b->c));
			} else {
				taken++;
			}
			exercise(b);
			free(b);
		}
	assert_true(taken > 0 && refused > 0);
	free(bytes);
	free(saved);
}

/* ---- the platform device ---- */

static const struct platform_device *find_i8042(void)
{
	const struct platform_device *d, *found = NULL;
	DEVSET_FOREACH(platform_devices, const struct platform_device *, d)
	if (strcmp(d->name, "i8042") == 0)
		found = d;
	assert_non_null(found);
	return found;
}

static uint64_t pio(struct vm *vm, uint16_t port, unsigned size, bool wr, uint64_t v)
{
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_PIO, port, size, wr, &v), 0);
	return wr ? 0 : v;
}

static void test_platform_device(void **state)
{
	(void)state;
	const struct platform_device *d = find_i8042();
	struct vm *vm = harness_vm_new(); /* no KVM: the IRQ pulses fail quietly */
	assert_int_equal(d->init(vm), 0);
	assert_int_equal(pio(vm, 0x64, 1, false, 0), 0x14);
	pio(vm, 0x64, 1, true, 0xAA);
	assert_int_equal(pio(vm, 0x64, 2, false, 0), 0xFF1D); /* the byte above floats high */
	assert_int_equal(pio(vm, 0x60, 1, false, 0), 0x55);

	/* keys and the pointer from the console service */
	console_key_event(true, 'a', 0);
	console_key_event(false, 'a', 0);
	assert_int_equal(pio(vm, 0x64, 1, false, 0), 0x1D); /* OBF; the last write was a command */
	assert_int_equal(pio(vm, 0x60, 1, false, 0), 0x1E);
	assert_int_equal(pio(vm, 0x60, 1, false, 0), 0x9E);
	pio(vm, 0x64, 1, true, 0xD4);
	pio(vm, 0x60, 1, true, 0xF4);
	assert_int_equal(pio(vm, 0x64, 1, false, 0), 0x35);
	assert_int_equal(pio(vm, 0x60, 1, false, 0), 0xFA);
	console_ptr_event(0, 10, 10);
	console_ptr_event(CONSOLE_BTN_LEFT, 13, 10);
	uint8_t pkt[3];
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pio(vm, 0x64, 1, false, 0), 0x35);
		pkt[i] = (uint8_t)pio(vm, 0x60, 1, false, 0);
	}
	assert_memory_equal(pkt, ((const uint8_t[]){0x09, 0x03, 0x00}), 3);

	/* the reset line */
	assert_int_equal(atomic_load(&vm->exit_code), -1);
	pio(vm, 0x64, 1, true, 0xFE);
	assert_int_equal(atomic_load(&vm->exit_code), BHYVE_EXIT_REBOOT);
	harness_vm_free(vm);
	/* the sinks went with the VM */
	console_key_event(true, 'a', 0);
	console_ptr_event(0, 1, 1);

	/* a second VM starts from power-on state, with a layout */
	char path[] = "/tmp/kbhyve-kbd-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "'a',0x15;\n", 10), 10);
	close(fd);
	vm = harness_vm_new();
	assert_int_equal(config_set(vm->cfg, "keyboard.layout", path), 0);
	assert_int_equal(d->init(vm), 0);
	assert_int_equal(pio(vm, 0x64, 1, false, 0), 0x14);
	console_key_event(true, 'a', 0);
	assert_int_equal(pio(vm, 0x60, 1, false, 0), 0x10); /* set 2 0x15 is Q */
	harness_vm_free(vm);

	/* a bad layout: init fails with one log line */
	assert_int_equal(truncate(path, 0), 0);
	fd = open(path, O_WRONLY);
	assert_int_equal(write(fd, "'a',0x15\n", 9), 9);
	close(fd);
	vm = harness_vm_new();
	assert_int_equal(config_set(vm->cfg, "keyboard.layout", path), 0);
	unsigned long lines = kb_log_lines();
	assert_int_equal(d->init(vm), -EINVAL);
	assert_int_equal(kb_log_lines(), lines + 1);
	harness_vm_free(vm);
	unlink(path);
	vm = harness_vm_new();
	assert_int_equal(config_set(vm->cfg, "keyboard.layout", "no-such-layout-kbhyve"), 0);
	lines = kb_log_lines();
	assert_int_equal(d->init(vm), -ENOENT);
	assert_int_equal(kb_log_lines(), lines + 1);
	harness_vm_free(vm);
}

static const struct snapshot_entry *find_section(struct vm *vm, const char *name)
{
	const struct snapshot_entry *found = NULL;
	unsigned n = 0;
	for (const struct snapshot_entry *e = vm->snapshots; e; e = e->next)
		if (strcmp(e->name, name) == 0) {
			found = e;
			n++;
		}
	assert_int_equal(n, 1);
	assert_non_null(found->ops);
	return found;
}

static void test_platform_snapshot(void **state)
{
	(void)state;
	const struct platform_device *d = find_i8042();
	struct vm *vm = harness_vm_new();
	assert_int_equal(d->init(vm), 0);
	const struct snapshot_entry *e = find_section(vm, "i8042");
	assert_non_null(e->ops->pause);
	assert_non_null(e->ops->visit);
	assert_non_null(e->ops->resume);
	/* the mouse on, a key waiting in the output buffer */
	pio(vm, 0x64, 1, true, 0xD4);
	pio(vm, 0x60, 1, true, 0xF4);
	assert_int_equal(pio(vm, 0x60, 1, false, 0), 0xFA);
	console_ptr_event(0, 10, 10);
	console_key_event(true, 'a', 0);

	/* a checkpoint: console input is held back from pause to resume, out of the saved state */
	e->ops->pause(e->opaque);
	console_key_event(false, 'a', 0);
	for (unsigned x = 11; x <= 30; x++)
		console_ptr_event(0, x, 10); /* one move at resume */
	struct snap *s = snap_new_save("i8042");
	assert_non_null(s);
	e->ops->visit(s, e->opaque);
	char err[256];
	assert_int_equal(snap_finish(s, err, sizeof(err)), 0);
	size_t len;
	const void *data = snap_data(s, &len);
	uint8_t *saved = malloc(len);
	assert_non_null(saved);
	memcpy(saved, data, len);
	snap_free(s);
	assert_int_equal(pio(vm, 0x60, 1, false, 0), 0x1E);
	assert_int_equal(pio(vm, 0x64, 1, false, 0) & I8042_STS_OBF, 0);
	e->ops->resume(e->opaque);
	assert_int_equal(pio(vm, 0x60, 1, false, 0), 0x9E);
	uint8_t pkt[3];
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pio(vm, 0x64, 1, false, 0) & 0x21, 0x21);
		pkt[i] = (uint8_t)pio(vm, 0x60, 1, false, 0);
	}
	assert_memory_equal(pkt, ((const uint8_t[]){0x08, 20, 0x00}), 3);
	assert_int_equal(pio(vm, 0x64, 1, false, 0) & I8042_STS_OBF, 0);
	harness_vm_free(vm);

	/* a restore into a new VM: the saved byte is there, console input waits until the VM runs
	 */
	vm = harness_vm_new();
	assert_int_equal(d->init(vm), 0);
	e = find_section(vm, "i8042");
	s = snap_new_load("i8042", saved, len);
	assert_non_null(s);
	e->ops->visit(s, e->opaque);
	if (snap_finish(s, err, sizeof(err)))
		fail_msg("load: %s", err);
	snap_free(s);
	if (e->ops->restored)
		assert_int_equal(e->ops->restored(e->opaque, err, sizeof(err)), 0);
	console_key_event(true, 'b', 0);
	assert_int_equal(pio(vm, 0x60, 1, false, 0), 0x1E);
	assert_int_equal(pio(vm, 0x64, 1, false, 0) & I8042_STS_OBF, 0);
	e->ops->resume(e->opaque);
	assert_int_equal(pio(vm, 0x60, 1, false, 0), 0x30);
	/* the mouse is still on: a reference, then a move */
	console_ptr_event(0, 50, 50);
	console_ptr_event(0, 55, 50);
	for (int i = 0; i < 3; i++)
		pkt[i] = (uint8_t)pio(vm, 0x60, 1, false, 0);
	assert_memory_equal(pkt, ((const uint8_t[]){0x08, 0x05, 0x00}), 3);
	harness_vm_free(vm);
	free(saved);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_power_on_and_ram, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_controller_commands, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ovmf_init_sequence, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_linux_probe_sequences, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_key_translated_and_not, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_extended_keys, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_translation_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_shift_for_keysyms, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keyboard_queue, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mouse_stream, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mouse_commands, setup, teardown),
	    cmocka_unit_test(test_layout_parse),
	    cmocka_unit_test(test_layout_load),
	    cmocka_unit_test_setup_teardown(test_layout_keys, setup, teardown),
	    cmocka_unit_test(test_platform_device),
	    cmocka_unit_test_setup_teardown(test_snapshot_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_full_queues, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_bad_length, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_bad_values, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_every_byte, setup, teardown),
	    cmocka_unit_test(test_platform_snapshot),
	};
	return cmocka_run_group_tests_name("i8042", tests, NULL, NULL);
}
