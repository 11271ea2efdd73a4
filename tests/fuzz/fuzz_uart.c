/* SPDX-License-Identifier: BSD-2-Clause */
/* The 16550 register model on its own: guest register reads and writes mixed with bytes
 * arriving from the line and idle-line notifications, checked against a shadow of what
 * uart16550.h promises (FIFO order and capacity, overrun, divisor latch, scratch register,
 * LSR/IIR/MSR encodings) and against its own INTR bookkeeping after every operation.
 *
 * Input: op byte, low 2 bits select:
 *   0 write   register = bits 2-4 (bit 7 set: the next byte, any offset), then the value
 *   1 read    register as for writes
 *   2 rx      (bits 2-6) bytes from the input arrive on the line
 *   3 idle    the line goes idle (uart_rx_idle) */
#include <string.h>

#include "devices/uart16550.h"
#include "fixture.h"

struct harness {
	struct uart16550 u;
	bool level;	  /* INTR as last reported by the callback */
	unsigned changes; /* callback invocations */
	unsigned tx;	  /* bytes handed to the transmit callback */
	/* the shadow */
	bool fifo, oe;
	uint8_t q[UART_FIFO_SIZE];
	unsigned qn;
	uint8_t lcr, mcr, ier, scr, dll, dlm;
};

static void on_tx(void *opaque, uint8_t byte)
{
	struct harness *h = opaque;
	h->tx++;
}

static void on_intr(void *opaque, bool level)
{
	struct harness *h = opaque;
	FUZZ_CHECK(level != h->level, "INTR callback without a change (level %d)", level);
	h->level = level;
	h->changes++;
}

/* ---- the shadow receiver ---- */

static unsigned shadow_capacity(const struct harness *h)
{
	return h->fifo ? UART_FIFO_SIZE : 1;
}

/* One character reaches the receiver: it waits in the FIFO, or is lost (FIFO full) or
 * overwrites the unread RBR (no FIFO); both of the latter are overruns. */
static unsigned shadow_store(struct harness *h, uint8_t byte)
{
	if (h->qn < shadow_capacity(h)) {
		h->q[h->qn++] = byte;
		return 1;
	}
	h->oe = true;
	if (!h->fifo) {
		h->q[0] = byte;
		return 1;
	}
	return 0;
}

static bool loopback(const struct harness *h)
{
	return h->mcr & UART_MCR_LOOP;
}

/* ---- operations ---- */

static void do_write(struct harness *h, unsigned off, uint8_t val)
{
	bool dlab = h->lcr & UART_LCR_DLAB;
	unsigned tx_before = h->tx;
	uart_write(&h->u, off, val);
	switch (off) {
	case UART_THR:
		if (dlab) {
			h->dll = val;
		} else if (loopback(h)) {
			shadow_store(h, val);
		} else {
			FUZZ_CHECK(h->tx == tx_before + 1, "THR write did not transmit");
			return;
		}
		break;
	case UART_IER:
		if (dlab)
			h->dlm = val;
		else
			h->ier = val & 0x0F;
		break;
	case UART_FCR: {
		bool enable = val & UART_FCR_ENABLE;
		if (enable != h->fifo) {
			h->fifo = enable;
			h->qn = 0;
		}
		if (enable && (val & UART_FCR_CLEAR_RX))
			h->qn = 0;
		break;
	}
	case UART_LCR:
		h->lcr = val;
		break;
	case UART_MCR:
		h->mcr = val & 0x1F;
		break;
	case UART_SCR:
		h->scr = val;
		break;
	}
	FUZZ_CHECK(h->tx == tx_before, "write of %#x to register %u transmitted", val, off);
}

static bool legal_iir(uint8_t iir, bool fifo)
{
	switch (iir & 0x0F) {
	case UART_IIR_NOPEND:
	case UART_IIR_MSR:
	case UART_IIR_THRE:
	case UART_IIR_RDA:
	case UART_IIR_RLS:
		break;
	case UART_IIR_TIMEOUT:
		if (!fifo)
			return false; /* the character timeout exists only with FIFOs */
		break;
	default:
		return false;
	}
	return (iir & 0x30) == 0 && (iir & UART_IIR_FIFO) == (fifo ? UART_IIR_FIFO : 0);
}

static void do_read(struct harness *h, unsigned off)
{
	bool dlab = h->lcr & UART_LCR_DLAB;
	unsigned qn = h->qn;
	uint8_t v = uart_read(&h->u, off);
	switch (off) {
	case UART_RBR:
		if (dlab) {
			FUZZ_CHECK(v == h->dll, "DLL reads %#x, written %#x", v, h->dll);
		} else if (qn > 0) {
			FUZZ_CHECK(v == h->q[0], "RBR reads %#x, the oldest byte is %#x", v,
				   h->q[0]);
			memmove(h->q, h->q + 1, --h->qn);
		}
		break;
	case UART_IER:
		FUZZ_CHECK(v == (dlab ? h->dlm : h->ier), "IER/DLM reads %#x (DLAB %d)", v, dlab);
		break;
	case UART_IIR:
		FUZZ_CHECK(legal_iir(v, h->fifo), "IIR reads %#x (FIFO %d)", v, h->fifo);
		break;
	case UART_LCR:
		FUZZ_CHECK(v == h->lcr, "LCR reads %#x, written %#x", v, h->lcr);
		break;
	case UART_MCR:
		FUZZ_CHECK(v == h->mcr, "MCR reads %#x, written %#x", v, h->mcr);
		break;
	case UART_LSR: {
		uint8_t want = UART_LSR_THRE | UART_LSR_TEMT | (qn ? UART_LSR_DR : 0) |
			       (h->oe ? UART_LSR_OE : 0);
		FUZZ_CHECK(v == want, "LSR reads %#x, expected %#x", v, want);
		h->oe = false;
		break;
	}
	case UART_MSR: {
		uint8_t lines = UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD;
		if (loopback(h))
			lines = (h->mcr & UART_MCR_RTS ? UART_MSR_CTS : 0) |
				(h->mcr & UART_MCR_DTR ? UART_MSR_DSR : 0) |
				(h->mcr & UART_MCR_OUT1 ? UART_MSR_RI : 0) |
				(h->mcr & UART_MCR_OUT2 ? UART_MSR_DCD : 0);
		FUZZ_CHECK((v & 0xF0) == lines, "MSR reads %#x, lines should be %#x", v, lines);
		break;
	}
	case UART_SCR:
		FUZZ_CHECK(v == h->scr, "SCR reads %#x, written %#x", v, h->scr);
		break;
	default:
		FUZZ_CHECK(v == 0xFF, "offset %u reads %#x", off, v);
	}
}

static void do_rx(struct harness *h, unsigned n, struct fuzz_input *in)
{
	uint8_t buf[32];
	unsigned want = 0;
	for (unsigned i = 0; i < n; i++) {
		buf[i] = in_u8(in);
		if (!loopback(h))
			want += shadow_store(h, buf[i]);
	}
	size_t got = uart_rx_push(&h->u, buf, n);
	FUZZ_CHECK(got == want, "rx_push of %u bytes stored %zu, expected %u", n, got, want);
}

/* After every operation: the shadow agrees, and INTR matches both the callback and IIR. */
static void check(struct harness *h)
{
	unsigned room = uart_rx_room(&h->u);
	unsigned want = loopback(h) ? 0 : shadow_capacity(h) - h->qn;
	FUZZ_CHECK(room == want, "rx room %u, expected %u (%u queued, FIFO %d, loop %d)", room,
		   want, h->qn, h->fifo, loopback(h));
	FUZZ_CHECK(room <= UART_FIFO_SIZE && h->u.rx_count <= UART_FIFO_SIZE &&
		       h->u.rx_head < UART_FIFO_SIZE,
		   "receiver state out of bounds: room %u count %u head %u", room, h->u.rx_count,
		   h->u.rx_head);
	FUZZ_CHECK(uart_intr(&h->u) == h->level, "INTR %d but the callback last reported %d",
		   uart_intr(&h->u), h->level);
	/* IIR on a copy, which has the read's side effects instead of the original */
	struct uart16550 copy = h->u;
	copy.intr_changed = NULL;
	copy.tx = NULL;
	uint8_t iir = uart_read(&copy, UART_IIR);
	FUZZ_CHECK(((iir & UART_IIR_NOPEND) == 0) == uart_intr(&h->u),
		   "IIR %#x disagrees with INTR %d", iir, uart_intr(&h->u));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct harness h;
	memset(&h, 0, sizeof(h));
	h.dll = 12; /* 9600 baud at power-on */
	uart_init(&h.u, on_tx, on_intr, &h);
	check(&h);
	struct fuzz_input in = {data, size};
	while (in.left) {
		uint8_t op = in_u8(&in);
		unsigned off = (op >> 2) & 7;
		switch (op & 3) {
		case 0:
			if (op & 0x80)
				off = in_u8(&in);
			do_write(&h, off, in_u8(&in));
			break;
		case 1:
			if (op & 0x80)
				off = in_u8(&in);
			do_read(&h, off);
			break;
		case 2:
			do_rx(&h, (op >> 2) & 0x1F, &in);
			break;
		case 3:
			uart_rx_idle(&h.u);
			break;
		}
		check(&h);
	}
	return 0;
}
