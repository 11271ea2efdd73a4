/* SPDX-License-Identifier: BSD-2-Clause */
#include "devices/uart16550.h"

#include <string.h>

#include "snapshot/snapstate.h"

static const unsigned rx_trigger_levels[4] = {1, 4, 8, 14};

static unsigned rx_capacity(const struct uart16550 *u)
{
	return u->fifo_enabled ? UART_FIFO_SIZE : 1;
}

static void rx_reset(struct uart16550 *u)
{
	u->rx_head = 0;
	u->rx_count = 0;
	u->rx_timeout = false;
}

/* One character arrives at the receiver. Without FIFOs an unread RBR is overwritten; with
 * FIFOs the new character is lost. Both set the overrun error. */
static bool rx_store(struct uart16550 *u, uint8_t byte)
{
	if (u->rx_count < rx_capacity(u)) {
		u->rx[(u->rx_head + u->rx_count) % UART_FIFO_SIZE] = byte;
		u->rx_count++;
		return true;
	}
	u->lsr |= UART_LSR_OE;
	if (!u->fifo_enabled) {
		u->rx[u->rx_head] = byte;
		return true;
	}
	return false;
}

static uint8_t rx_pop(struct uart16550 *u)
{
	if (u->rx_count == 0)
		return 0;
	uint8_t byte = u->rx[u->rx_head];
	u->rx_head = (u->rx_head + 1) % UART_FIFO_SIZE;
	if (--u->rx_count == 0)
		u->rx_timeout = false;
	return byte;
}

/* The highest-priority pending interrupt, as IIR bits 0-3. */
static uint8_t intr_id(const struct uart16550 *u)
{
	if ((u->ier & UART_IER_ELSI) && (u->lsr & UART_LSR_OE))
		return UART_IIR_RLS;
	if (u->ier & UART_IER_ERBFI) {
		unsigned level = u->fifo_enabled ? u->trigger : 1;
		if (u->rx_count >= level)
			return UART_IIR_RDA;
		if (u->fifo_enabled && u->rx_count > 0 && u->rx_timeout)
			return UART_IIR_TIMEOUT;
	}
	if ((u->ier & UART_IER_ETBEI) && u->thre_pending)
		return UART_IIR_THRE;
	if ((u->ier & UART_IER_EDSSI) && (u->msr & 0x0F))
		return UART_IIR_MSR;
	return UART_IIR_NOPEND;
}

static void update_intr(struct uart16550 *u)
{
	bool level = intr_id(u) != UART_IIR_NOPEND;
	if (level == u->intr)
		return;
	u->intr = level;
	if (u->intr_changed)
		u->intr_changed(u->opaque, level);
}

/* Modem input lines: wired to MCR outputs in loopback, otherwise a peer that is always
 * ready (CTS, DSR and DCD asserted, no ring). */
static uint8_t modem_inputs(const struct uart16550 *u)
{
	if (!(u->mcr & UART_MCR_LOOP))
		return UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD;
	uint8_t v = 0;
	if (u->mcr & UART_MCR_RTS)
		v |= UART_MSR_CTS;
	if (u->mcr & UART_MCR_DTR)
		v |= UART_MSR_DSR;
	if (u->mcr & UART_MCR_OUT1)
		v |= UART_MSR_RI;
	if (u->mcr & UART_MCR_OUT2)
		v |= UART_MSR_DCD;
	return v;
}

static void update_modem_inputs(struct uart16550 *u)
{
	uint8_t old = u->msr & 0xF0, now = modem_inputs(u);
	uint8_t delta = 0;
	if ((old ^ now) & UART_MSR_CTS)
		delta |= UART_MSR_DCTS;
	if ((old ^ now) & UART_MSR_DSR)
		delta |= UART_MSR_DDSR;
	if ((old ^ now) & UART_MSR_DCD)
		delta |= UART_MSR_DDCD;
	if ((old & UART_MSR_RI) && !(now & UART_MSR_RI)) /* trailing edge only */
		delta |= UART_MSR_TERI;
	u->msr = now | (u->msr & 0x0F) | delta;
}

void uart_init(struct uart16550 *u, uart_tx_fn tx, uart_intr_fn intr_changed, void *opaque)
{
	memset(u, 0, sizeof(*u));
	u->lsr = UART_LSR_THRE | UART_LSR_TEMT;
	u->msr = modem_inputs(u);
	u->dll = 12; /* 9600 baud with the 1.8432 MHz clock */
	u->trigger = 1;
	u->tx = tx;
	u->intr_changed = intr_changed;
	u->opaque = opaque;
}

uint8_t uart_read(struct uart16550 *u, unsigned offset)
{
	bool dlab = u->lcr & UART_LCR_DLAB;
	uint8_t val;

	switch (offset) {
	case UART_RBR:
		val = dlab ? u->dll : rx_pop(u);
		break;
	case UART_IER:
		val = dlab ? u->dlm : u->ier;
		break;
	case UART_IIR: {
		uint8_t id = intr_id(u);
		if (id == UART_IIR_THRE) /* reading IIR acknowledges THR empty */
			u->thre_pending = false;
		val = id | (u->fifo_enabled ? UART_IIR_FIFO : 0);
		break;
	}
	case UART_LCR:
		val = u->lcr;
		break;
	case UART_MCR:
		val = u->mcr;
		break;
	case UART_LSR:
		val = u->lsr | (u->rx_count ? UART_LSR_DR : 0);
		u->lsr &= ~UART_LSR_OE;
		break;
	case UART_MSR:
		val = u->msr;
		u->msr &= 0xF0;
		break;
	case UART_SCR:
		val = u->scr;
		break;
	default:
		return 0xFF;
	}
	update_intr(u);
	return val;
}

static void write_fcr(struct uart16550 *u, uint8_t val)
{
	bool enable = val & UART_FCR_ENABLE;
	if (enable != u->fifo_enabled) {
		/* switching modes empties both FIFOs */
		u->fifo_enabled = enable;
		rx_reset(u);
	}
	if (!enable) /* the other bits are only programmed with bit 0 set */
		return;
	if (val & UART_FCR_CLEAR_RX)
		rx_reset(u);
	u->trigger = rx_trigger_levels[(val & UART_FCR_TRIGGER) >> 6];
}

void uart_write(struct uart16550 *u, unsigned offset, uint8_t val)
{
	bool dlab = u->lcr & UART_LCR_DLAB;

	switch (offset) {
	case UART_THR:
		if (dlab) {
			u->dll = val;
			return;
		}
		if (u->mcr & UART_MCR_LOOP) {
			rx_store(u, val);
			u->rx_timeout = true; /* nothing follows on the internal line */
		} else if (u->tx) {
			u->tx(u->opaque, val);
		}
		/* the byte left for the shift register at once: THR is empty again */
		u->thre_pending = true;
		break;
	case UART_IER:
		if (dlab) {
			u->dlm = val;
			return;
		}
		if ((val & UART_IER_ETBEI) && !(u->ier & UART_IER_ETBEI))
			u->thre_pending = true; /* enabling it with THR empty interrupts */
		u->ier = val & 0x0F;
		break;
	case UART_FCR:
		write_fcr(u, val);
		break;
	case UART_LCR:
		u->lcr = val;
		return;
	case UART_MCR:
		u->mcr = val & 0x1F;
		update_modem_inputs(u);
		break;
	case UART_SCR:
		u->scr = val;
		return;
	default: /* LSR and MSR are read-only here; out-of-range offsets are ignored */
		return;
	}
	update_intr(u);
}

unsigned uart_rx_room(const struct uart16550 *u)
{
	if (u->mcr & UART_MCR_LOOP)
		return 0;
	return rx_capacity(u) - u->rx_count;
}

size_t uart_rx_push(struct uart16550 *u, const uint8_t *buf, size_t len)
{
	if (u->mcr & UART_MCR_LOOP)
		return 0;
	size_t stored = 0;
	for (size_t i = 0; i < len; i++)
		if (rx_store(u, buf[i]))
			stored++;
	update_intr(u);
	return stored;
}

void uart_rx_idle(struct uart16550 *u)
{
	if (u->fifo_enabled && u->rx_count > 0) {
		u->rx_timeout = true;
		update_intr(u);
	}
}

bool uart_intr(const struct uart16550 *u)
{
	return u->intr;
}

static bool valid_trigger(unsigned trigger)
{
	for (size_t i = 0; i < sizeof(rx_trigger_levels) / sizeof(rx_trigger_levels[0]); i++)
		if (rx_trigger_levels[i] == trigger)
			return true;
	return false;
}

/* Section layout: u8 IER, LCR, MCR, LSR, MSR, SCR, DLL, DLM; bool FIFO enabled; u32 trigger;
 * bool THRE pending, RX timeout; u32 FIFO head, FIFO count; 16 bytes FIFO ring. */
void uart_snapshot(struct snap *s, struct uart16550 *u)
{
	/* a copy: a load that fails half-way leaves the model as it was */
	struct uart16550 v = *u;
	snap_u8(s, &v.ier);
	snap_u8(s, &v.lcr);
	snap_u8(s, &v.mcr);
	snap_u8(s, &v.lsr);
	snap_u8(s, &v.msr);
	snap_u8(s, &v.scr);
	snap_u8(s, &v.dll);
	snap_u8(s, &v.dlm);
	snap_bool(s, &v.fifo_enabled);
	snap_uint(s, &v.trigger);
	snap_bool(s, &v.thre_pending);
	snap_bool(s, &v.rx_timeout);
	snap_uint(s, &v.rx_head);
	snap_uint(s, &v.rx_count);
	snap_bytes(s, v.rx, sizeof(v.rx));
	if (!snap_loading(s) || snap_failed(s))
		return;
	snap_check(s, v.ier <= 0x0F, "IER");
	snap_check(s, v.mcr <= 0x1F, "MCR");
	snap_check(s, (v.lsr & ~UART_LSR_OE) == (UART_LSR_THRE | UART_LSR_TEMT), "LSR");
	snap_check(s, (v.msr & 0xF0) == modem_inputs(&v), "MSR");
	snap_check(s, valid_trigger(v.trigger), "FIFO trigger level");
	snap_check(s, v.rx_head < UART_FIFO_SIZE, "FIFO head");
	snap_check(s, v.rx_count <= rx_capacity(&v), "FIFO count");
	if (snap_failed(s))
		return;
	v.intr = intr_id(&v) != UART_IIR_NOPEND;
	*u = v;
}
