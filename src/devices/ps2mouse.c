/* SPDX-License-Identifier: BSD-2-Clause */
/* PS/2 mouse: commands, status, movement packets from the console pointer (see ps2mouse.h). */
#include "devices/ps2mouse.h"

#include <string.h>

#include "devices/ps2kbd.h" /* PS2_ACK, PS2_RESEND, PS2_BAT_OK */
#include "input/console_input.h"
#include "snapshot/snapstate.h"

/* Mouse commands */
#define M_CMD_SCALE11 0xE6
#define M_CMD_SCALE21 0xE7
#define M_CMD_RESOLUTION 0xE8
#define M_CMD_STATUS 0xE9
#define M_CMD_STREAM 0xEA
#define M_CMD_READ 0xEB
#define M_CMD_REMOTE 0xF0
#define M_CMD_IDENTIFY 0xF2
#define M_CMD_RATE 0xF3
#define M_CMD_ENABLE 0xF4
#define M_CMD_DISABLE 0xF5
#define M_CMD_DEFAULTS 0xF6
#define M_CMD_RESEND 0xFE
#define M_CMD_RESET 0xFF

#define M_ID 0x00
#define M_RATE_DEFAULT 100
#define M_RES_DEFAULT 2 /* 4 counts/mm */
#define M_DELTA_MAX 255
#define M_ACCUM_MAX 65535 /* movement kept between packets, per axis */

static void put(struct ps2mouse *m, uint8_t b)
{
	if (m->len < PS2MOUSE_FIFO_SIZE)
		m->fifo[(m->head + m->len++) % PS2MOUSE_FIFO_SIZE] = b;
}

static unsigned room(const struct ps2mouse *m)
{
	return PS2MOUSE_FIFO_SIZE - m->len;
}

bool ps2mouse_read(struct ps2mouse *m, uint8_t *byte)
{
	if (!m->len)
		return false;
	*byte = m->fifo[m->head];
	m->head = (m->head + 1) % PS2MOUSE_FIFO_SIZE;
	m->len--;
	m->last_sent = *byte;
	return true;
}

unsigned ps2mouse_pending(const struct ps2mouse *m)
{
	return m->len;
}

static void defaults(struct ps2mouse *m)
{
	m->enabled = false;
	m->remote = false;
	m->scale21 = false;
	m->rate = M_RATE_DEFAULT;
	m->resolution = M_RES_DEFAULT;
	m->dx = m->dy = 0;
}

void ps2mouse_reset(struct ps2mouse *m)
{
	memset(m, 0, sizeof(*m));
	defaults(m);
}

/* 2:1 scaling as the PS/2 mouse defines it: small moves stay fine, larger ones double. */
static int scale21(int d)
{
	static const int small[] = {0, 1, 1, 3, 6, 9};
	int a = d < 0 ? -d : d;
	int s = a < 6 ? small[a] : 2 * a;
	return d < 0 ? -s : s;
}

static int clamp(int v, int lim)
{
	return v > lim ? lim : v < -lim ? -lim : v;
}

/* acc + d, both axes kept within +-M_ACCUM_MAX */
static int accumulate(int acc, long d)
{
	long v = (long)acc + (d > M_ACCUM_MAX ? M_ACCUM_MAX : d < -M_ACCUM_MAX ? -M_ACCUM_MAX : d);
	return (int)(v > M_ACCUM_MAX ? M_ACCUM_MAX : v < -M_ACCUM_MAX ? -M_ACCUM_MAX : v);
}

/* Queue a packet with the movement so far and start counting again. */
static void packet(struct ps2mouse *m, bool scaled)
{
	int dx = m->dx, dy = m->dy;
	if (scaled) {
		dx = scale21(dx);
		dy = scale21(dy);
	}
	int cx = clamp(dx, M_DELTA_MAX), cy = clamp(dy, M_DELTA_MAX);
	uint8_t b0 = PS2M_ALWAYS1 | m->buttons;
	if (cx < 0)
		b0 |= PS2M_X_SIGN;
	if (cy < 0)
		b0 |= PS2M_Y_SIGN;
	if (cx != dx)
		b0 |= PS2M_X_OVERFLOW;
	if (cy != dy)
		b0 |= PS2M_Y_OVERFLOW;
	put(m, b0);
	put(m, (uint8_t)cx);
	put(m, (uint8_t)cy);
	m->dx = m->dy = 0;
	m->unsent = false;
}

void ps2mouse_write(struct ps2mouse *m, uint8_t byte)
{
	uint8_t cmd = m->param_for;
	if (cmd) {
		m->param_for = 0;
		if (cmd == M_CMD_RATE)
			m->rate = byte;
		else
			m->resolution = byte & 3;
		put(m, PS2_ACK);
		return;
	}
	if (byte != M_CMD_RESEND)
		m->head = m->len = 0; /* a command: packets not yet sent are dropped */
	switch (byte) {
	case M_CMD_RESET:
		defaults(m);
		put(m, PS2_ACK);
		put(m, PS2_BAT_OK);
		put(m, M_ID);
		break;
	case M_CMD_DEFAULTS:
		defaults(m);
		put(m, PS2_ACK);
		break;
	case M_CMD_DISABLE:
		m->enabled = false;
		m->dx = m->dy = 0;
		put(m, PS2_ACK);
		break;
	case M_CMD_ENABLE:
		m->enabled = true;
		m->dx = m->dy = 0;
		put(m, PS2_ACK);
		break;
	case M_CMD_RATE:
	case M_CMD_RESOLUTION:
		m->param_for = byte;
		put(m, PS2_ACK);
		break;
	case M_CMD_IDENTIFY:
		put(m, PS2_ACK);
		put(m, M_ID);
		break;
	case M_CMD_REMOTE:
		m->remote = true;
		m->dx = m->dy = 0;
		put(m, PS2_ACK);
		break;
	case M_CMD_STREAM:
		m->remote = false;
		m->dx = m->dy = 0;
		put(m, PS2_ACK);
		break;
	case M_CMD_READ:
		put(m, PS2_ACK);
		packet(m, false); /* scaling applies to stream mode only */
		break;
	case M_CMD_STATUS: {
		uint8_t s = 0;
		if (m->buttons & PS2M_LEFT)
			s |= PS2M_STS_LEFT;
		if (m->buttons & PS2M_MIDDLE)
			s |= PS2M_STS_MIDDLE;
		if (m->buttons & PS2M_RIGHT)
			s |= PS2M_STS_RIGHT;
		if (m->scale21)
			s |= PS2M_STS_SCALE21;
		if (m->enabled)
			s |= PS2M_STS_ENABLED;
		if (m->remote)
			s |= PS2M_STS_REMOTE;
		put(m, PS2_ACK);
		put(m, s);
		put(m, m->resolution);
		put(m, m->rate);
		break;
	}
	case M_CMD_SCALE11:
	case M_CMD_SCALE21:
		m->scale21 = byte == M_CMD_SCALE21;
		put(m, PS2_ACK);
		break;
	case M_CMD_RESEND:
		put(m, m->last_sent);
		break;
	default:
		put(m, PS2_RESEND);
		break;
	}
}

void ps2mouse_pointer(struct ps2mouse *m, uint8_t buttons, unsigned x, unsigned y)
{
	uint8_t b = 0;
	if (buttons & CONSOLE_BTN_LEFT)
		b |= PS2M_LEFT;
	if (buttons & CONSOLE_BTN_RIGHT)
		b |= PS2M_RIGHT;
	if (buttons & CONSOLE_BTN_MIDDLE)
		b |= PS2M_MIDDLE;
	if (m->have_pos && (m->enabled || m->remote)) {
		/* screen y grows downwards, PS/2 y upwards */
		m->dx = accumulate(m->dx, (long)x - (long)m->last_x);
		m->dy = accumulate(m->dy, (long)m->last_y - (long)y);
	}
	m->last_x = x;
	m->last_y = y;
	m->have_pos = true;
	if (b != m->buttons)
		m->unsent = true;
	m->buttons = b;
	if (!m->enabled || m->remote)
		return;
	if ((m->dx || m->dy || m->unsent) && room(m) >= 3)
		packet(m, m->scale21);
	/* no room: the movement and buttons wait for the next event */
}

/* ---- checkpoint/restore ---- */

void ps2mouse_snapshot(struct snap *s, struct ps2mouse *m)
{
	/* a load goes to a copy, kept only when all of it is good: a failed one changes nothing */
	struct ps2mouse v = *m;
	snap_bytes(s, v.fifo, sizeof(v.fifo));
	snap_uint(s, &v.head);
	snap_uint(s, &v.len);
	snap_check(s, v.head < PS2MOUSE_FIFO_SIZE, "mouse queue position");
	snap_check(s, v.len <= PS2MOUSE_FIFO_SIZE, "mouse queue length");
	snap_u8(s, &v.param_for);
	snap_check(s,
		   v.param_for == 0 || v.param_for == M_CMD_RATE || v.param_for == M_CMD_RESOLUTION,
		   "mouse command waiting for data");
	snap_u8(s, &v.last_sent);
	snap_bool(s, &v.enabled);
	snap_bool(s, &v.remote);
	snap_bool(s, &v.scale21);
	snap_u8(s, &v.rate);
	snap_u8(s, &v.resolution);
	snap_check(s, v.resolution <= 3, "mouse resolution");
	snap_u8(s, &v.buttons);
	snap_check(s, !(v.buttons & ~(PS2M_LEFT | PS2M_RIGHT | PS2M_MIDDLE)), "mouse buttons");
	/* within what accumulate() keeps, so that scaling and clamping it cannot overflow */
	snap_int(s, &v.dx);
	snap_int(s, &v.dy);
	snap_check(s, v.dx >= -M_ACCUM_MAX && v.dx <= M_ACCUM_MAX, "mouse x movement");
	snap_check(s, v.dy >= -M_ACCUM_MAX && v.dy <= M_ACCUM_MAX, "mouse y movement");
	snap_bool(s, &v.unsent);
	if (snap_loading(s) && !snap_failed(s))
		*m = v;
}
