/* SPDX-License-Identifier: BSD-2-Clause */
/* The i8042 keyboard controller with a PS/2 keyboard and mouse (see i8042.h).
 *
 * Besides the devices it implements the reset line, which Linux pulses to reboot (command 0xFE,
 * or writing the output port with bit 0 clear). Everything a guest can make it queue is
 * bounded: the controller's reply queue, the keyboard's and the mouse's FIFOs; what does not fit
 * is dropped, as a real controller's single output byte would lose it. */
#include "devices/i8042.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "acpi/aml.h"
#include "core/exitcode.h"
#include "core/iobus.h"
#include "core/log.h"
#include "core/vm.h"
#include "input/console_input.h"
#include "pci/lpc.h"
#include "snapshot/snapstate.h"

#define OUTPORT_RESET 0x01 /* 0 holds the CPU in reset */
#define OUTPORT_A20 0x02
#define OUTPORT_KBD_OBF 0x10 /* the IRQ 1 and IRQ 12 outputs, as the output port shows them */
#define OUTPORT_AUX_OBF 0x20
#define INPORT_VALUE 0x80 /* input port: keyboard not inhibited */

#define CTR_POWER_ON (I8042_CTR_KBDINT | I8042_CTR_SYS | I8042_CTR_XLATE)

/* Controller commands */
#define CMD_READ_RAM 0x20  /* 0x20-0x3F: read RAM byte (0: the command byte) */
#define CMD_WRITE_RAM 0x60 /* 0x60-0x7F: write RAM byte */
#define CMD_AUX_DISABLE 0xA7
#define CMD_AUX_ENABLE 0xA8
#define CMD_AUX_TEST 0xA9
#define CMD_SELF_TEST 0xAA
#define CMD_KBD_TEST 0xAB
#define CMD_KBD_DISABLE 0xAD
#define CMD_KBD_ENABLE 0xAE
#define CMD_READ_INPORT 0xC0
#define CMD_READ_OUTPORT 0xD0
#define CMD_WRITE_OUTPORT 0xD1
#define CMD_WRITE_KBD_OB 0xD2
#define CMD_WRITE_AUX_OB 0xD3
#define CMD_WRITE_AUX 0xD4
#define CMD_READ_TEST_INPUTS 0xE0
#define CMD_PULSE_FIRST 0xF0 /* 0xF0-0xFF pulse output-port bits 0-3 that are 0 in the command */

#define SELF_TEST_OK 0x55
#define INTERFACE_OK 0x00

#define CTR(c) ((c)->ram[0])

/* ---- set 2 → set 1, the controller's translation ----
 * Built from the two scan code sets' definitions: for every key, its set-2 make code (or the
 * byte after E0/E1) maps to its set-1 make code. Set 1's codes 0x01-0x58 are also Linux's evdev
 * key numbers, which test_i8042 uses to check the table. Bytes that are no key's code (0xAA
 * self-test passed, 0xFA ACK, 0xFE resend, 0xE0/0xE1 prefixes...) pass unchanged; 0x00
 * (overrun) becomes set 1's 0xFF. */
static const uint8_t set2_to_set1[256] = {
    [0x00] = 0xFF, /* overrun */
    [0x76] = 0x01, /* Esc */
    [0x16] = 0x02, /* 1 */
    [0x1E] = 0x03,
    [0x26] = 0x04,
    [0x25] = 0x05,
    [0x2E] = 0x06,
    [0x36] = 0x07,
    [0x3D] = 0x08,
    [0x3E] = 0x09,
    [0x46] = 0x0A,
    [0x45] = 0x0B, /* 0 */
    [0x4E] = 0x0C, /* - */
    [0x55] = 0x0D, /* = */
    [0x66] = 0x0E, /* Backspace */
    [0x0D] = 0x0F, /* Tab */
    [0x15] = 0x10, /* Q (E0: previous track) */
    [0x1D] = 0x11,
    [0x24] = 0x12,
    [0x2D] = 0x13,
    [0x2C] = 0x14,
    [0x35] = 0x15,
    [0x3C] = 0x16,
    [0x43] = 0x17,
    [0x44] = 0x18,
    [0x4D] = 0x19, /* P (E0: next track) */
    [0x54] = 0x1A, /* [ */
    [0x5B] = 0x1B, /* ] */
    [0x5A] = 0x1C, /* Enter (E0: keypad Enter) */
    [0x14] = 0x1D, /* left Ctrl (E0: right Ctrl; E1 14: Pause) */
    [0x1C] = 0x1E, /* A */
    [0x1B] = 0x1F,
    [0x23] = 0x20, /* D (E0: mute) */
    [0x2B] = 0x21, /* F (E0: calculator) */
    [0x34] = 0x22, /* G (E0: play/pause) */
    [0x33] = 0x23,
    [0x3B] = 0x24, /* J (E0: stop) */
    [0x42] = 0x25,
    [0x4B] = 0x26, /* L */
    [0x4C] = 0x27, /* ; */
    [0x52] = 0x28, /* ' */
    [0x0E] = 0x29, /* ` */
    [0x12] = 0x2A, /* left Shift (E0: Print Screen's first half) */
    [0x5D] = 0x2B, /* \ */
    [0x1A] = 0x2C, /* Z */
    [0x22] = 0x2D,
    [0x21] = 0x2E, /* C (E0: volume down) */
    [0x2A] = 0x2F,
    [0x32] = 0x30, /* B (E0: volume up) */
    [0x31] = 0x31,
    [0x3A] = 0x32, /* M (E0: WWW home) */
    [0x41] = 0x33, /* , */
    [0x49] = 0x34, /* . */
    [0x4A] = 0x35, /* / (E0: keypad /) */
    [0x59] = 0x36, /* right Shift */
    [0x7C] = 0x37, /* keypad * (E0: Print Screen) */
    [0x11] = 0x38, /* left Alt (E0: right Alt) */
    [0x29] = 0x39, /* Space */
    [0x58] = 0x3A, /* Caps Lock */
    [0x05] = 0x3B, /* F1 */
    [0x06] = 0x3C,
    [0x04] = 0x3D,
    [0x0C] = 0x3E,
    [0x03] = 0x3F,
    [0x0B] = 0x40,
    [0x83] = 0x41, /* F7, the one set-2 make code above 0x7F */
    [0x02] = 0x41, /* F7's 7-bit alias (the reply to "which scan code set": 2) */
    [0x0A] = 0x42,
    [0x01] = 0x43,
    [0x09] = 0x44, /* F10 */
    [0x77] = 0x45, /* Num Lock (E1 ... 77: Pause) */
    [0x7E] = 0x46, /* Scroll Lock */
    [0x6C] = 0x47, /* keypad 7 (E0: Home) */
    [0x75] = 0x48, /* keypad 8 (E0: Up) */
    [0x7D] = 0x49, /* keypad 9 (E0: Page Up) */
    [0x7B] = 0x4A, /* keypad - */
    [0x6B] = 0x4B, /* keypad 4 (E0: Left) */
    [0x73] = 0x4C, /* keypad 5 */
    [0x74] = 0x4D, /* keypad 6 (E0: Right) */
    [0x79] = 0x4E, /* keypad + */
    [0x69] = 0x4F, /* keypad 1 (E0: End) */
    [0x72] = 0x50, /* keypad 2 (E0: Down) */
    [0x7A] = 0x51, /* keypad 3 (E0: Page Down) */
    [0x70] = 0x52, /* keypad 0 (E0: Insert) */
    [0x71] = 0x53, /* keypad . (E0: Delete) */
    [0x84] = 0x54, /* Alt+Print Screen (SysRq) */
    [0x61] = 0x56, /* the ISO key left of Z */
    [0x78] = 0x57, /* F11 */
    [0x07] = 0x58, /* F12 */
    [0x13] = 0x70, /* Katakana/Hiragana */
    [0x51] = 0x73, /* Ro */
    [0x64] = 0x79, /* Henkan */
    [0x67] = 0x7B, /* Muhenkan */
    [0x6A] = 0x7D, /* Yen */
    /* codes that follow E0 only */
    [0x1F] = 0x5B, /* left Windows */
    [0x27] = 0x5C, /* right Windows */
    [0x2F] = 0x5D, /* Menu */
    [0x37] = 0x5E, /* Power */
    [0x3F] = 0x5F, /* Sleep */
    [0x5E] = 0x63, /* Wake */
    [0x10] = 0x65, /* WWW search */
    [0x18] = 0x66, /* WWW favourites */
    [0x20] = 0x67, /* WWW refresh */
    [0x28] = 0x68, /* WWW stop */
    [0x30] = 0x69, /* WWW forward */
    [0x38] = 0x6A, /* WWW back */
    [0x40] = 0x6B, /* My Computer */
    [0x48] = 0x6C, /* Mail */
    [0x50] = 0x6D, /* Media select */
};

uint8_t i8042_set2_to_set1(uint8_t code)
{
	uint8_t t = set2_to_set1[code];
	return t ? t : code;
}

/* ---- the model ---- */

static void raise_irq(struct i8042 *c, bool aux)
{
	if (CTR(c) & (aux ? I8042_CTR_AUXINT : I8042_CTR_KBDINT))
		c->irq(c->opaque, aux ? I8042_AUX_IRQ : I8042_KBD_IRQ);
}

/* The keyboard's next byte as the guest sees it (translated when the command byte says so).
 * Each pass takes a byte from the keyboard's bounded queues, so the loop ends. */
static bool kbd_next(struct i8042 *c, uint8_t *out)
{
	uint8_t b;
	while (ps2kbd_read(&c->kbd, &b)) {
		if (!(CTR(c) & I8042_CTR_XLATE)) {
			*out = b;
			return true;
		}
		if (b == 0xF0) {
			c->xlat_break = true;
			continue;
		}
		*out = (uint8_t)(i8042_set2_to_set1(b) | (c->xlat_break ? 0x80 : 0));
		c->xlat_break = false;
		return true;
	}
	return false;
}

/* Fill an empty output buffer: controller replies first, then the keyboard, then the mouse. */
static void fill_output(struct i8042 *c)
{
	if (c->obf)
		return;
	uint8_t b;
	bool aux;
	if (c->ctlq_len) {
		b = c->ctlq[c->ctlq_head].byte;
		aux = c->ctlq[c->ctlq_head].aux;
		c->ctlq_head = (c->ctlq_head + 1) % I8042_CTLQ_SIZE;
		c->ctlq_len--;
	} else if (!(CTR(c) & I8042_CTR_KBDDIS) && kbd_next(c, &b)) {
		aux = false;
	} else if (!(CTR(c) & I8042_CTR_AUXDIS) && ps2mouse_read(&c->mouse, &b)) {
		aux = true;
	} else {
		return;
	}
	c->ob = b;
	c->ob_aux = aux;
	c->obf = true;
	raise_irq(c, aux);
}

static void ctl_reply(struct i8042 *c, uint8_t b, bool aux)
{
	if (c->ctlq_len < I8042_CTLQ_SIZE) {
		unsigned i = (c->ctlq_head + c->ctlq_len++) % I8042_CTLQ_SIZE;
		c->ctlq[i].byte = b;
		c->ctlq[i].aux = aux;
	}
	fill_output(c);
}

static void set_ctr(struct i8042 *c, uint8_t v)
{
	uint8_t old = CTR(c);
	CTR(c) = v;
	if (!(v & I8042_CTR_XLATE))
		c->xlat_break = false;
	/* the IRQ output of the waiting byte rises when its enable bit does */
	uint8_t en = c->ob_aux ? I8042_CTR_AUXINT : I8042_CTR_KBDINT;
	if (c->obf && (v & en) && !(old & en))
		raise_irq(c, c->ob_aux);
	fill_output(c); /* an interface may have been enabled */
}

void i8042_model_init(struct i8042 *c, const struct kbd_layout *layout, i8042_irq_fn irq,
		      i8042_reset_fn reset, void *opaque)
{
	memset(c, 0, sizeof(*c));
	CTR(c) = CTR_POWER_ON;
	c->outport = OUTPORT_RESET | OUTPORT_A20;
	ps2kbd_reset(&c->kbd, layout);
	ps2mouse_reset(&c->mouse);
	c->irq = irq;
	c->reset = reset;
	c->opaque = opaque;
}

uint8_t i8042_read_status(const struct i8042 *c)
{
	uint8_t s = I8042_STS_SYS | I8042_STS_UNLOCKED;
	if (c->obf)
		s |= I8042_STS_OBF | (c->ob_aux ? I8042_STS_AUXOBF : 0);
	if (c->last_cmd)
		s |= I8042_STS_CMD;
	return s;
}

uint8_t i8042_read_data(struct i8042 *c)
{
	/* an empty buffer reads the previous byte again */
	uint8_t b = c->ob;
	if (c->obf) {
		c->obf = false;
		fill_output(c);
	}
	return b;
}

void i8042_write_command(struct i8042 *c, uint8_t cmd)
{
	c->last_cmd = true;
	c->pending = 0; /* a command abandons one that waited for its data byte */
	if (cmd >= CMD_READ_RAM && cmd < CMD_READ_RAM + I8042_RAM_SIZE) {
		ctl_reply(c, c->ram[cmd - CMD_READ_RAM], false);
		return;
	}
	if (cmd >= CMD_WRITE_RAM && cmd < CMD_WRITE_RAM + I8042_RAM_SIZE) {
		c->pending = cmd;
		return;
	}
	switch (cmd) {
	case CMD_WRITE_OUTPORT:
	case CMD_WRITE_KBD_OB:
	case CMD_WRITE_AUX_OB:
	case CMD_WRITE_AUX:
		c->pending = cmd;
		break;
	case CMD_AUX_DISABLE:
		set_ctr(c, CTR(c) | I8042_CTR_AUXDIS);
		break;
	case CMD_AUX_ENABLE:
		set_ctr(c, CTR(c) & ~I8042_CTR_AUXDIS);
		break;
	case CMD_AUX_TEST:
	case CMD_KBD_TEST:
		ctl_reply(c, INTERFACE_OK, false);
		break;
	case CMD_SELF_TEST:
		ctl_reply(c, SELF_TEST_OK, false);
		break;
	case CMD_KBD_DISABLE:
		set_ctr(c, CTR(c) | I8042_CTR_KBDDIS);
		break;
	case CMD_KBD_ENABLE:
		set_ctr(c, CTR(c) & ~I8042_CTR_KBDDIS);
		break;
	case CMD_READ_INPORT:
		ctl_reply(c, INPORT_VALUE, false);
		break;
	case CMD_READ_OUTPORT: {
		uint8_t v = c->outport & ~(OUTPORT_KBD_OBF | OUTPORT_AUX_OBF);
		if (c->obf)
			v |= c->ob_aux ? OUTPORT_AUX_OBF : OUTPORT_KBD_OBF;
		ctl_reply(c, v, false);
		break;
	}
	case CMD_READ_TEST_INPUTS:
		ctl_reply(c, 0x00, false);
		break;
	default:
		if (cmd >= CMD_PULSE_FIRST && !(cmd & OUTPORT_RESET))
			c->reset(c->opaque, "reset line pulsed");
		/* anything else is ignored */
		break;
	}
}

void i8042_write_data(struct i8042 *c, uint8_t val)
{
	uint8_t cmd = c->pending;
	c->pending = 0;
	c->last_cmd = false;
	if (cmd >= CMD_WRITE_RAM && cmd < CMD_WRITE_RAM + I8042_RAM_SIZE) {
		if (cmd == CMD_WRITE_RAM)
			set_ctr(c, val);
		else
			c->ram[cmd - CMD_WRITE_RAM] = val;
		return;
	}
	switch (cmd) {
	case CMD_WRITE_OUTPORT:
		c->outport = val;
		if (!(val & OUTPORT_RESET))
			c->reset(c->opaque, "output port reset bit cleared");
		break;
	case CMD_WRITE_KBD_OB:
		ctl_reply(c, val, false);
		break;
	case CMD_WRITE_AUX_OB:
		ctl_reply(c, val, true);
		break;
	case CMD_WRITE_AUX:
		/* a byte for the mouse; sending one enables its interface again */
		ps2mouse_write(&c->mouse, val);
		set_ctr(c, CTR(c) & ~I8042_CTR_AUXDIS);
		break;
	default:
		/* a byte for the keyboard, which likewise enables its interface */
		ps2kbd_write(&c->kbd, val);
		set_ctr(c, CTR(c) & ~I8042_CTR_KBDDIS);
		break;
	}
}

void i8042_key_event(struct i8042 *c, bool down, uint32_t keysym, uint32_t code)
{
	ps2kbd_key(&c->kbd, down, keysym, code);
	fill_output(c);
}

void i8042_ptr_event(struct i8042 *c, uint8_t buttons, unsigned x, unsigned y)
{
	ps2mouse_pointer(&c->mouse, buttons, x, y);
	fill_output(c);
}

/* ---- checkpoint/restore ---- */

#define SNAP_VERSION 1

/* A command byte the controller can be waiting on for its data byte (i8042_write_data). */
static bool pending_ok(uint8_t cmd)
{
	return cmd == 0 || (cmd >= CMD_WRITE_RAM && cmd < CMD_WRITE_RAM + I8042_RAM_SIZE) ||
	       cmd == CMD_WRITE_OUTPORT || cmd == CMD_WRITE_KBD_OB || cmd == CMD_WRITE_AUX_OB ||
	       cmd == CMD_WRITE_AUX;
}

void i8042_snapshot(struct snap *s, struct i8042 *c)
{
	/* a load goes to a copy, kept only when all of it is good: a failed one changes nothing */
	struct i8042 v = *c;
	uint8_t version = SNAP_VERSION;
	snap_u8(s, &version);
	if (!snap_check(s, version == SNAP_VERSION, "i8042 state version"))
		return; /* another layout: nothing after it means what this code reads */
	snap_bytes(s, v.ram, sizeof(v.ram));
	snap_u8(s, &v.outport);
	snap_u8(s, &v.pending);
	snap_check(s, pending_ok(v.pending), "controller command waiting for data");
	snap_bool(s, &v.last_cmd);
	snap_bool(s, &v.obf);
	snap_bool(s, &v.ob_aux);
	snap_u8(s, &v.ob);
	for (unsigned i = 0; i < I8042_CTLQ_SIZE; i++) {
		snap_u8(s, &v.ctlq[i].byte);
		snap_bool(s, &v.ctlq[i].aux);
	}
	snap_uint(s, &v.ctlq_head);
	snap_uint(s, &v.ctlq_len);
	snap_check(s, v.ctlq_head < I8042_CTLQ_SIZE, "controller queue position");
	snap_check(s, v.ctlq_len <= I8042_CTLQ_SIZE, "controller queue length");
	snap_bool(s, &v.xlat_break);
	/* set_ctr drops a pending break with translation */
	snap_check(s, !v.xlat_break || (CTR(&v) & I8042_CTR_XLATE),
		   "translation break without translation");
	ps2kbd_snapshot(s, &v.kbd);
	ps2mouse_snapshot(s, &v.mouse);
	if (snap_loading(s) && !snap_failed(s))
		*c = v;
}

/* ---- the platform device ---- */

/* Console input that came while held back (a checkpoint, or a restored VM not yet running). */
#define HELD_MAX 128
struct held_event {
	bool is_key;
	bool down;	 /* key */
	uint8_t buttons; /* pointer */
	uint32_t keysym, code;
	unsigned x, y;
};

static struct kbc {
	pthread_mutex_t lock; /* vCPU threads (ports) against the console's thread (input) */
	struct vm *vm;
	struct i8042 c;
	struct kbd_layout layout;
	/* input held back: between pause (or a load) and resume, the model takes no console
	 * input, so it changes only through the ports, which the parked vCPUs do not use */
	bool hold;
	unsigned nheld;
	struct held_event held[HELD_MAX];
} kbc = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void pulse_irq(void *opaque, unsigned irq)
{
	/* without KVM (tests) the pulse fails; an edge lost here is not worth a log line */
	vm_irq_pulse(kbc.vm, irq);
}

static void reset_system(void *opaque, const char *why)
{
	kb_debug("i8042: %s: reset", why);
	vm_request_exit(kbc.vm, BHYVE_EXIT_REBOOT);
}

static int i8042_io(bool cmd_port, unsigned size, bool is_write, uint64_t *val)
{
	pthread_mutex_lock(&kbc.lock);
	if (is_write) {
		uint8_t b = (uint8_t)*val;
		if (cmd_port)
			i8042_write_command(&kbc.c, b);
		else
			i8042_write_data(&kbc.c, b);
	} else {
		uint8_t b = cmd_port ? i8042_read_status(&kbc.c) : i8042_read_data(&kbc.c);
		/* bytes beyond the 1-byte port float high */
		uint64_t v = ~0xFFull | b;
		if (size < 8)
			v &= (1ull << (8 * size)) - 1;
		*val = v;
	}
	pthread_mutex_unlock(&kbc.lock);
	return 0;
}

static int i8042_data_io(void *opaque, uint64_t offset, unsigned size, bool is_write, uint64_t *val)
{
	return i8042_io(false, size, is_write, val);
}

static int i8042_cmd_io(void *opaque, uint64_t offset, unsigned size, bool is_write, uint64_t *val)
{
	return i8042_io(true, size, is_write, val);
}

/* Keep an event for resume (with kbc.lock). A pointer move with the same buttons as the event
 * kept last replaces it (the mouse reports the difference, which that does not change); what
 * does not fit is dropped. */
static void hold_event(const struct held_event *e)
{
	if (!e->is_key && kbc.nheld) {
		struct held_event *last = &kbc.held[kbc.nheld - 1];
		if (!last->is_key && last->buttons == e->buttons) {
			*last = *e;
			return;
		}
	}
	if (kbc.nheld < HELD_MAX)
		kbc.held[kbc.nheld++] = *e;
	else
		kb_debug("i8042: console input held back during a checkpoint: one event dropped");
}

/* Console sinks: called on the viewer's thread with the console's lock held. */
static void on_key(void *opaque, bool down, uint32_t keysym, uint32_t code)
{
	pthread_mutex_lock(&kbc.lock);
	if (kbc.hold)
		hold_event(&(struct held_event){
		    .is_key = true, .down = down, .keysym = keysym, .code = code});
	else
		i8042_key_event(&kbc.c, down, keysym, code);
	pthread_mutex_unlock(&kbc.lock);
}

static void on_pointer(void *opaque, uint8_t buttons, unsigned x, unsigned y, unsigned width,
		       unsigned height)
{
	pthread_mutex_lock(&kbc.lock);
	if (kbc.hold)
		hold_event(&(struct held_event){.buttons = buttons, .x = x, .y = y});
	else
		i8042_ptr_event(&kbc.c, buttons, x, y);
	pthread_mutex_unlock(&kbc.lock);
}

/* Snapshot callbacks (on the event loop, every vCPU parked). Console input reaches the model on
 * the viewer's thread and pulses IRQ 1/12 as it fills the output buffer: an edge the interrupt
 * controller's saved state might not hold while the saved model shows the byte waiting, and
 * the restored guest would wait for it for ever. So input is held back from pause to resume. */
static void snap_pause(void *opaque)
{
	struct kbc *k = opaque;
	pthread_mutex_lock(&k->lock);
	k->hold = true;
	pthread_mutex_unlock(&k->lock);
}

static void snap_visit(struct snap *s, void *opaque)
{
	struct kbc *k = opaque;
	pthread_mutex_lock(&k->lock);
	/* after a load the model waits for the restored VM to run (resume) before taking input,
	 * so that no IRQ is pulsed before the interrupt controller's state is put back */
	if (snap_loading(s))
		k->hold = true;
	i8042_snapshot(s, &k->c);
	pthread_mutex_unlock(&k->lock);
}

/* Hand the held input to the model, in order; its IRQs are pulsed now that the VM runs. */
static void snap_resume(void *opaque)
{
	struct kbc *k = opaque;
	pthread_mutex_lock(&k->lock);
	k->hold = false;
	for (unsigned i = 0; i < k->nheld; i++) {
		const struct held_event *e = &k->held[i];
		if (e->is_key)
			i8042_key_event(&k->c, e->down, e->keysym, e->code);
		else
			i8042_ptr_event(&k->c, e->buttons, e->x, e->y);
	}
	k->nheld = 0;
	pthread_mutex_unlock(&k->lock);
}

/* No restored callback: besides the model the device keeps no timer and no interrupt state (its
 * IRQs are edges, pulsed only as a byte enters the output buffer), and the layout comes from
 * the configuration at init. */
static const struct snapshot_ops i8042_snapshot_ops = {
    .pause = snap_pause,
    .visit = snap_visit,
    .resume = snap_resume,
};

/* At VM teardown: no more console input reaches this VM's controller. */
static void i8042_teardown(void *opaque)
{
	console_input_unregister(&kbc);
}

static int i8042_init(struct vm *vm)
{
	/* a fresh controller: nothing queued or pending from an earlier VM in this process */
	console_input_unregister(&kbc);
	pthread_mutex_lock(&kbc.lock);
	kbc.vm = vm;
	kbc.hold = false;
	kbc.nheld = 0;
	kbc.layout.n = 0;
	const char *layout = config_get(vm->cfg, "keyboard.layout");
	int rc = 0;
	if (layout) {
		char err[512];
		rc = kbd_layout_load(&kbc.layout, layout, err, sizeof(err));
		if (rc)
			kb_log("%s", err);
	}
	i8042_model_init(&kbc.c, layout ? &kbc.layout : NULL, pulse_irq, reset_system, &kbc);
	pthread_mutex_unlock(&kbc.lock);
	if (rc)
		return rc;

	rc = iobus_register(&vm->bus, IOBUS_PIO, I8042_DATA_PORT, 1, i8042_data_io, NULL, "i8042");
	if (rc == 0) {
		rc = iobus_register(&vm->bus, IOBUS_PIO, I8042_CMD_PORT, 1, i8042_cmd_io, NULL,
				    "i8042");
		if (rc)
			iobus_unregister(&vm->bus, IOBUS_PIO, I8042_DATA_PORT);
	}
	if (rc) {
		kb_log("i8042: I/O ports %#x/%#x: %s", I8042_DATA_PORT, I8042_CMD_PORT,
		       strerror(-rc));
		return rc;
	}
	rc = vm_at_destroy(vm, i8042_teardown, NULL);
	if (rc == 0)
		rc = console_kbd_register(on_key, &kbc, CONSOLE_PRIO_PS2);
	if (rc == 0)
		rc = console_ptr_register(on_pointer, &kbc, CONSOLE_PRIO_PS2);
	if (rc) {
		console_input_unregister(&kbc);
		kb_log("i8042: cannot take console input: %s", strerror(-rc));
		return rc;
	}
	rc = snapshot_register(vm, "i8042", &i8042_snapshot_ops, &kbc);
	if (rc)
		kb_log("i8042: cannot register its saved state: %s", strerror(-rc));
	return rc;
}

static const struct platform_device i8042_device = {
    .name = "i8042",
    .order = 30,
    .init = i8042_init,
};
PLATFORM_DEVICE(i8042_device);

/* ---- DSDT: the keyboard and mouse under the LPC bridge ----
 * Without the FADT's 8042 flag, Linux finds the controller only through these PNP nodes. */

static void i8042_write_dsdt(struct vm *vm, struct aml *a)
{
	size_t dev = aml_device_begin(a, "KBD");
	aml_name_eisaid(a, "_HID", "PNP0303"); /* IBM Enhanced (101/102-key) keyboard */
	aml_name(a, "_CRS");
	size_t crs = aml_buffer_begin(a);
	aml_rs_io(a, I8042_DATA_PORT, I8042_DATA_PORT, 1, 1);
	aml_rs_io(a, I8042_CMD_PORT, I8042_CMD_PORT, 1, 1);
	aml_rs_irq_noflags(a, 1u << I8042_KBD_IRQ);
	aml_rs_end_tag(a);
	aml_buffer_end(a, crs);
	aml_end(a, dev);

	dev = aml_device_begin(a, "MOU");
	aml_name_eisaid(a, "_HID", "PNP0F13"); /* PS/2 mouse */
	aml_name(a, "_CRS");
	crs = aml_buffer_begin(a);
	aml_rs_irq_noflags(a, 1u << I8042_AUX_IRQ);
	aml_rs_end_tag(a);
	aml_buffer_end(a, crs);
	aml_end(a, dev);
}

static const struct lpc_dsdt i8042_dsdt = {
    .name = "i8042",
    .write = i8042_write_dsdt,
};
LPC_DSDT(i8042_dsdt);
