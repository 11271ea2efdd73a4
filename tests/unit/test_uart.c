/* SPDX-License-Identifier: BSD-2-Clause */
/* 16550 register model: LSR/IIR/FIFO/divisor latch semantics and the INTR output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/vm.h"
#include "devices/uart16550.h"
#include "devices/uart_lpc.h"
#include "snapshot/snapbuf.h"
#include "snapshot/snapreg.h"

struct harness {
	struct uart16550 u;
	uint8_t tx[64];
	size_t ntx;
	bool levels[64]; /* every INTR change, in order */
	size_t nlevels;
	bool initial; /* the level before the first change (a restored model may start high) */
};

static void on_tx(void *opaque, uint8_t byte)
{
	struct harness *h = opaque;
	assert_true(h->ntx < sizeof(h->tx));
	h->tx[h->ntx++] = byte;
}

static void on_intr(void *opaque, bool level)
{
	struct harness *h = opaque;
	assert_true(h->nlevels < sizeof(h->levels));
	/* called only on changes: the new level differs from the last reported one */
	bool prev = h->nlevels ? h->levels[h->nlevels - 1] : h->initial;
	assert_int_not_equal(prev, level);
	h->levels[h->nlevels++] = level;
}

static int setup(void **state)
{
	struct harness *h = calloc(1, sizeof(*h));
	uart_init(&h->u, on_tx, on_intr, h);
	*state = h;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

static void push(struct harness *h, const char *s)
{
	uart_rx_push(&h->u, (const uint8_t *)s, strlen(s));
}

static void test_reset_state(void **state)
{
	struct harness *h = *state;
	assert_int_equal(uart_read(&h->u, UART_LSR), UART_LSR_THRE | UART_LSR_TEMT);
	assert_int_equal(uart_read(&h->u, UART_IIR), UART_IIR_NOPEND);
	assert_int_equal(uart_read(&h->u, UART_MSR), UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD);
	assert_int_equal(uart_read(&h->u, UART_IER), 0);
	assert_int_equal(uart_read(&h->u, UART_LCR), 0);
	assert_int_equal(uart_read(&h->u, UART_MCR), 0);
	assert_false(uart_intr(&h->u));
	assert_int_equal(h->nlevels, 0);
	assert_int_equal(uart_rx_room(&h->u), 1);
	/* outside the 8 registers */
	assert_int_equal(uart_read(&h->u, 8), 0xFF);
	uart_write(&h->u, 8, 0x12);
	assert_int_equal(h->ntx, 0);
}

static void test_dlab_divisor(void **state)
{
	struct harness *h = *state;
	uart_write(&h->u, UART_IER, UART_IER_ERBFI);
	uart_write(&h->u, UART_LCR, UART_LCR_DLAB | 0x03);
	uart_write(&h->u, UART_DLL, 0x01); /* 115200 baud */
	uart_write(&h->u, UART_DLM, 0x02);
	assert_int_equal(h->ntx, 0); /* DLL writes are not transmitted */
	assert_int_equal(uart_read(&h->u, UART_DLL), 0x01);
	assert_int_equal(uart_read(&h->u, UART_DLM), 0x02);
	assert_int_equal(uart_read(&h->u, UART_LCR), UART_LCR_DLAB | 0x03);

	/* back to the data registers: IER kept its value, THR transmits */
	uart_write(&h->u, UART_LCR, 0x03);
	assert_int_equal(uart_read(&h->u, UART_IER), UART_IER_ERBFI);
	uart_write(&h->u, UART_THR, 'A');
	assert_int_equal(h->ntx, 1);
	assert_int_equal(h->tx[0], 'A');

	/* received data is not visible through DLL while DLAB is set */
	push(h, "z");
	uart_write(&h->u, UART_LCR, UART_LCR_DLAB | 0x03);
	assert_int_equal(uart_read(&h->u, UART_RBR), 0x01);
	assert_true(uart_read(&h->u, UART_LSR) & UART_LSR_DR);
	uart_write(&h->u, UART_LCR, 0x03);
	assert_int_equal(uart_read(&h->u, UART_RBR), 'z');
	assert_false(uart_read(&h->u, UART_LSR) & UART_LSR_DR);
	/* divisor kept */
	uart_write(&h->u, UART_LCR, UART_LCR_DLAB);
	assert_int_equal(uart_read(&h->u, UART_DLL) | uart_read(&h->u, UART_DLM) << 8, 0x0201);
}

static void test_thre_interrupt(void **state)
{
	struct harness *h = *state;
	/* enabling ETBEI with THR empty interrupts at once */
	uart_write(&h->u, UART_IER, UART_IER_ETBEI);
	assert_true(uart_intr(&h->u));
	assert_int_equal(h->nlevels, 1);
	/* reading IIR while THRE is the reason acknowledges it */
	assert_int_equal(uart_read(&h->u, UART_IIR), UART_IIR_THRE);
	assert_false(uart_intr(&h->u));
	assert_int_equal(uart_read(&h->u, UART_IIR), UART_IIR_NOPEND);
	/* a byte written leaves THR empty again: interrupt again */
	uart_write(&h->u, UART_THR, 'x');
	assert_true(uart_intr(&h->u));
	assert_int_equal(h->tx[0], 'x');
	assert_int_equal(uart_read(&h->u, UART_LSR), UART_LSR_THRE | UART_LSR_TEMT);
	/* disabling ETBEI drops INTR; enabling it again (THR still empty) raises it */
	uart_write(&h->u, UART_IER, 0);
	assert_false(uart_intr(&h->u));
	uart_write(&h->u, UART_IER, UART_IER_ETBEI);
	assert_true(uart_intr(&h->u));
	/* rewriting IER with ETBEI already set does not re-arm after an acknowledge */
	assert_int_equal(uart_read(&h->u, UART_IIR), UART_IIR_THRE);
	uart_write(&h->u, UART_IER, UART_IER_ETBEI);
	assert_false(uart_intr(&h->u));
	bool expect[] = {true, false, true, false, true, false};
	assert_int_equal(h->nlevels, 6);
	assert_memory_equal(h->levels, expect, sizeof(expect));
}

static void test_rx_without_fifo(void **state)
{
	struct harness *h = *state;
	push(h, "a");
	assert_int_equal(uart_rx_room(&h->u), 0);
	assert_int_equal(uart_read(&h->u, UART_LSR) & UART_LSR_DR, UART_LSR_DR);
	assert_false(uart_intr(&h->u)); /* ERBFI off */
	uart_write(&h->u, UART_IER, UART_IER_ERBFI);
	assert_true(uart_intr(&h->u));
	assert_int_equal(uart_read(&h->u, UART_IIR), UART_IIR_RDA); /* no FIFO bits */
	assert_true(uart_intr(&h->u)); /* IIR read does not clear RDA */
	assert_int_equal(uart_read(&h->u, UART_RBR), 'a');
	assert_false(uart_intr(&h->u));
	assert_int_equal(uart_read(&h->u, UART_IIR), UART_IIR_NOPEND);
	assert_int_equal(uart_rx_room(&h->u), 1);
}

static void test_overrun_without_fifo(void **state)
{
	struct harness *h = *state;
	uart_write(&h->u, UART_IER, UART_IER_ERBFI | UART_IER_ELSI);
	push(h, "ab"); /* b overruns the unread a and replaces it */
	assert_int_equal(uart_read(&h->u, UART_IIR), UART_IIR_RLS);
	uint8_t lsr = uart_read(&h->u, UART_LSR);
	assert_int_equal(lsr & (UART_LSR_OE | UART_LSR_DR), UART_LSR_OE | UART_LSR_DR);
	/* reading LSR cleared OE: the line status interrupt gives way to data available */
	assert_int_equal(uart_read(&h->u, UART_LSR) & UART_LSR_OE, 0);
	assert_int_equal(uart_read(&h->u, UART_IIR), UART_IIR_RDA);
	assert_int_equal(uart_read(&h->u, UART_RBR), 'b');
	assert_false(uart_intr(&h->u));
}

static void test_fifo_trigger_levels(void **state)
{
	struct harness *h = *state;
	static const struct {
		uint8_t fcr;
		unsigned level;
	} cases[] = {{0x01, 1}, {0x41, 4}, {0x81, 8}, {0xC1, 14}};
	uart_write(&h->u, UART_IER, UART_IER_ERBFI);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uart_write(&h->u, UART_FCR, cases[i].fcr | UART_FCR_CLEAR_RX);
		assert_int_equal(uart_rx_room(&h->u), UART_FIFO_SIZE);
		for (unsigned n = 0; n + 1 < cases[i].level; n++)
			push(h, "x");
		assert_false(uart_intr(&h->u));
		assert_int_equal(uart_read(&h->u, UART_IIR), UART_IIR_FIFO | UART_IIR_NOPEND);
		push(h, "y");
		assert_true(uart_intr(&h->u));
		assert_int_equal(uart_read(&h->u, UART_IIR), UART_IIR_FIFO | UART_IIR_RDA);
		assert_int_equal(uart_rx_room(&h->u), UART_FIFO_SIZE - cases[i].level);
	}
	/* clearing the RX FIFO drops the interrupt */
	uart_write(&h->u, UART_FCR, 0xC1 | UART_FCR_CLEAR_RX);
	assert_false(uart_intr(&h->u));
	assert_false(uart_read(&h->u, UART_LSR) & UART_LSR_DR);
}

static void test_fifo_timeout(void **state)
{
	struct harness *h = *state;
	uart_write(&h->u, UART_FCR, 0x81); /* trigger 8 */
	uart_write(&h->u, UART_IER, UART_IER_ERBFI);
	push(h, "abc");
	assert_false(uart_intr(&h->u));
	uart_rx_idle(&h->u);
	assert_true(uart_intr(&h->u));
	assert_int_equal(uart_read(&h->u, UART_IIR), UART_IIR_FIFO | UART_IIR_TIMEOUT);
	/* the timeout stays while data is left, and clears when the FIFO drains */
	assert_int_equal(uart_read(&h->u, UART_RBR), 'a');
	assert_int_equal(uart_read(&h->u, UART_IIR), UART_IIR_FIFO | UART_IIR_TIMEOUT);
	assert_int_equal(uart_read(&h->u, UART_RBR), 'b');
	assert_int_equal(uart_read(&h->u, UART_RBR), 'c');
	assert_false(uart_intr(&h->u));
	assert_int_equal(uart_read(&h->u, UART_IIR), UART_IIR_FIFO | UART_IIR_NOPEND);
	/* idle with an empty FIFO: nothing */
	uart_rx_idle(&h->u);
	assert_false(uart_intr(&h->u));
	/* new data does not inherit the old timeout */
	push(h, "d");
	assert_false(uart_intr(&h->u));
}

static void test_fifo_overflow_and_order(void **state)
{
	struct harness *h = *state;
	uart_write(&h->u, UART_FCR, UART_FCR_ENABLE);
	uint8_t buf[UART_FIFO_SIZE + 4];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)i;
	assert_int_equal(uart_rx_push(&h->u, buf, sizeof(buf)), UART_FIFO_SIZE);
	assert_int_equal(uart_rx_room(&h->u), 0);
	uint8_t lsr = uart_read(&h->u, UART_LSR);
	assert_true(lsr & UART_LSR_OE);
	assert_false(uart_read(&h->u, UART_LSR) & UART_LSR_OE);
	for (unsigned i = 0; i < UART_FIFO_SIZE; i++)
		assert_int_equal(uart_read(&h->u, UART_RBR), i); /* the FIFO kept the first 16 */
	assert_false(uart_read(&h->u, UART_LSR) & UART_LSR_DR);
	assert_int_equal(uart_rx_room(&h->u), UART_FIFO_SIZE);

	/* wrap around the ring */
	push(h, "0123456789");
	for (int i = 0; i < 5; i++)
		uart_read(&h->u, UART_RBR);
	push(h, "abcdefghij");
	assert_int_equal(uart_rx_room(&h->u), 1);
	const char *expect = "56789abcdefghij";
	for (size_t i = 0; i < strlen(expect); i++)
		assert_int_equal(uart_read(&h->u, UART_RBR), expect[i]);

	/* leaving FIFO mode empties the FIFO and restores the 1-byte holding register */
	push(h, "xy");
	uart_write(&h->u, UART_FCR, 0);
	assert_false(uart_read(&h->u, UART_LSR) & UART_LSR_DR);
	assert_int_equal(uart_rx_room(&h->u), 1);
	assert_int_equal(uart_read(&h->u, UART_IIR), UART_IIR_NOPEND);
}

static void test_priorities(void **state)
{
	struct harness *h = *state;
	uart_write(&h->u, UART_FCR, UART_FCR_ENABLE);
	/* modem status change: loopback with all outputs low drops CTS/DSR/DCD */
	uart_write(&h->u, UART_MCR, UART_MCR_LOOP);
	uart_write(&h->u, UART_MCR, 0);
	uint8_t data[UART_FIFO_SIZE + 1] = {0};
	uart_rx_push(&h->u, data, sizeof(data)); /* FIFO full plus an overrun */
	uart_write(&h->u, UART_IER, 0x0F);	 /* THRE becomes pending too */

	assert_int_equal(uart_read(&h->u, UART_IIR), UART_IIR_FIFO | UART_IIR_RLS);
	uart_read(&h->u, UART_LSR);
	assert_int_equal(uart_read(&h->u, UART_IIR), UART_IIR_FIFO | UART_IIR_RDA);
	for (int i = 0; i < UART_FIFO_SIZE; i++)
		uart_read(&h->u, UART_RBR);
	assert_int_equal(uart_read(&h->u, UART_IIR), UART_IIR_FIFO | UART_IIR_THRE);
	/* that read acknowledged THRE */
	uint8_t msr_iir = uart_read(&h->u, UART_IIR);
	assert_int_equal(msr_iir, UART_IIR_FIFO | UART_IIR_MSR);
	uint8_t msr = uart_read(&h->u, UART_MSR);
	assert_int_equal(msr, UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD | UART_MSR_DCTS |
				  UART_MSR_DDSR | UART_MSR_DDCD);
	assert_int_equal(uart_read(&h->u, UART_MSR), UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD);
	assert_int_equal(uart_read(&h->u, UART_IIR), UART_IIR_FIFO | UART_IIR_NOPEND);
	assert_false(uart_intr(&h->u));
}

static void test_loopback(void **state)
{
	struct harness *h = *state;
	uart_write(&h->u, UART_MCR,
		   UART_MCR_LOOP | UART_MCR_DTR | UART_MCR_RTS | UART_MCR_OUT1 | UART_MCR_OUT2);
	uint8_t msr = uart_read(&h->u, UART_MSR);
	assert_int_equal(msr & 0xF0, UART_MSR_CTS | UART_MSR_DSR | UART_MSR_RI | UART_MSR_DCD);
	assert_int_equal(msr & 0x0F, 0); /* CTS/DSR/DCD were already up; RI rose: no TERI */

	/* the serial input is disconnected in loopback */
	assert_int_equal(uart_rx_room(&h->u), 0);
	assert_int_equal(uart_rx_push(&h->u, (const uint8_t *)"q", 1), 0);

	uart_write(&h->u, UART_THR, 'L');
	assert_int_equal(h->ntx, 0); /* nothing left the chip */
	assert_true(uart_read(&h->u, UART_LSR) & UART_LSR_DR);
	assert_int_equal(uart_read(&h->u, UART_RBR), 'L');

	/* RI falling edge sets TERI; RTS dropping sets DCTS */
	uart_write(&h->u, UART_MCR, UART_MCR_LOOP | UART_MCR_DTR | UART_MCR_OUT2);
	msr = uart_read(&h->u, UART_MSR);
	assert_int_equal(msr, UART_MSR_DSR | UART_MSR_DCD | UART_MSR_TERI | UART_MSR_DCTS);
	assert_int_equal(uart_read(&h->u, UART_MSR), UART_MSR_DSR | UART_MSR_DCD);

	/* modem status interrupt when enabled */
	uart_write(&h->u, UART_IER, UART_IER_EDSSI);
	assert_false(uart_intr(&h->u));
	uart_write(&h->u, UART_MCR, UART_MCR_LOOP | UART_MCR_DTR);
	assert_true(uart_intr(&h->u));
	assert_int_equal(uart_read(&h->u, UART_IIR), UART_IIR_MSR);
	assert_int_equal(uart_read(&h->u, UART_MSR), UART_MSR_DSR | UART_MSR_DDCD);
	assert_false(uart_intr(&h->u));

	/* leaving loopback: lines back up, input connected again */
	uart_write(&h->u, UART_IER, 0);
	uart_write(&h->u, UART_MCR, 0);
	assert_int_equal(uart_read(&h->u, UART_MSR), UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD |
							 UART_MSR_DCTS | UART_MSR_DDCD);
	assert_int_equal(uart_rx_room(&h->u), 1);
	uart_write(&h->u, UART_THR, 'T');
	assert_int_equal(h->ntx, 1);
	assert_int_equal(h->tx[0], 'T');
}

static void test_ier_masking(void **state)
{
	struct harness *h = *state;
	push(h, "k");
	uart_write(&h->u, UART_IER, UART_IER_ETBEI | UART_IER_ELSI | UART_IER_EDSSI);
	/* THRE is the only enabled reason: data waiting does not interrupt */
	assert_true(uart_intr(&h->u));
	assert_int_equal(uart_read(&h->u, UART_IIR), UART_IIR_THRE);
	assert_false(uart_intr(&h->u));
	uart_write(&h->u, UART_IER, UART_IER_ERBFI);
	assert_true(uart_intr(&h->u));
	uart_write(&h->u, UART_IER, 0);
	assert_false(uart_intr(&h->u));
	assert_int_equal(uart_read(&h->u, UART_IIR), UART_IIR_NOPEND);
	/* IER keeps only its 4 defined bits; LCR and SCR read back */
	uart_write(&h->u, UART_IER, 0xF0);
	assert_int_equal(uart_read(&h->u, UART_IER), 0);
	uart_write(&h->u, UART_LCR, 0x1B);
	assert_int_equal(uart_read(&h->u, UART_LCR), 0x1B);
	uart_write(&h->u, UART_SCR, 0xA5);
	assert_int_equal(uart_read(&h->u, UART_SCR), 0xA5);
	bool expect[] = {true, false, true, false};
	assert_int_equal(h->nlevels, 4);
	assert_memory_equal(h->levels, expect, sizeof(expect));
}

/* ---- saved state (uart_snapshot) ---- */

/* uart_snapshot's section: 8 registers, FIFO enable, trigger, THRE, timeout, head, count, ring. */
#define SNAP_LEN 39
#define SNAP_TRIGGER 9
#define SNAP_HEAD 15
#define SNAP_COUNT 19

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The model's state as a section; the caller frees it. */
static uint8_t *save(struct uart16550 *u, size_t *len)
{
	struct snap *s = snap_new_save("lpc.com1");
	assert_non_null(s);
	uart_snapshot(s, u);
	char err[160];
	assert_int_equal(snap_finish(s, err, sizeof(err)), 0);
	const void *data = snap_data(s, len);
	uint8_t *copy = malloc(*len);
	assert_non_null(copy);
	memcpy(copy, data, *len);
	snap_free(s);
	return copy;
}

/* Load `len` bytes into u: snap_finish's result, with its message in err. */
static int load(struct uart16550 *u, const uint8_t *data, size_t len, char *err, size_t errlen)
{
	struct snap *s = snap_new_load("lpc.com1", data, len);
	assert_non_null(s);
	uart_snapshot(s, u);
	int rc = snap_finish(s, err, errlen);
	snap_free(s);
	return rc;
}

/* A non-trivial state: divisor, line settings, FIFOs at trigger 4 with a wrapped ring, an
 * overrun, modem-status deltas, THRE acknowledged, and INTR up. */
static void drive(struct harness *h)
{
	uart_write(&h->u, UART_LCR, UART_LCR_DLAB | 0x1B);
	uart_write(&h->u, UART_DLL, 0x03);
	uart_write(&h->u, UART_DLM, 0x01);
	uart_write(&h->u, UART_LCR, 0x1B);
	uart_write(&h->u, UART_SCR, 0xA5);
	uart_write(&h->u, UART_FCR, UART_FCR_ENABLE | UART_FCR_CLEAR_RX | 0x40); /* trigger 4 */
	uart_write(&h->u, UART_IER, UART_IER_ERBFI | UART_IER_ETBEI | UART_IER_ELSI);
	assert_int_equal(uart_read(&h->u, UART_IIR), UART_IIR_FIFO | UART_IIR_THRE);
	push(h, "0123456789");
	for (int i = 0; i < 8; i++)
		assert_int_equal(uart_read(&h->u, UART_RBR), '0' + i);
	push(h, "abcdefghijklmnopq"); /* 2 + 17 bytes: 16 kept from head 8 (wrapped), 3 lost */
	uart_write(&h->u, UART_MCR, UART_MCR_LOOP | UART_MCR_DTR | UART_MCR_OUT2);
	uart_write(&h->u, UART_MCR, UART_MCR_DTR | UART_MCR_RTS); /* MSR deltas pending */
	assert_true(uart_intr(&h->u));
}

/* Reading both models through the register interface gives the same values, leaving both in
 * the same state; they end with an empty FIFO. */
static void assert_same_behaviour(struct harness *a, struct harness *b)
{
	assert_int_equal(uart_intr(&a->u), uart_intr(&b->u));
	assert_int_equal(uart_rx_room(&a->u), uart_rx_room(&b->u));
	static const unsigned regs[] = {UART_LCR, UART_MCR, UART_SCR, UART_IER, UART_IIR,
					UART_LSR, UART_IIR, UART_MSR, UART_MSR, UART_IIR};
	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
		uint8_t va = uart_read(&a->u, regs[i]), vb = uart_read(&b->u, regs[i]);
		assert_int_equal(va, vb);
		assert_int_equal(uart_intr(&a->u), uart_intr(&b->u));
	}
	for (int i = 0; i < 20; i++) {
		uint8_t la = uart_read(&a->u, UART_LSR), lb = uart_read(&b->u, UART_LSR);
		assert_int_equal(la, lb);
		if (!(la & UART_LSR_DR))
			break;
		assert_int_equal(uart_read(&a->u, UART_RBR), uart_read(&b->u, UART_RBR));
		assert_int_equal(uart_read(&a->u, UART_IIR), uart_read(&b->u, UART_IIR));
		assert_int_equal(uart_intr(&a->u), uart_intr(&b->u));
	}
	assert_false(uart_read(&b->u, UART_LSR) & UART_LSR_DR);
	uart_write(&a->u, UART_LCR, UART_LCR_DLAB);
	uart_write(&b->u, UART_LCR, UART_LCR_DLAB);
	assert_int_equal(uart_read(&a->u, UART_DLL), uart_read(&b->u, UART_DLL));
	assert_int_equal(uart_read(&a->u, UART_DLM), uart_read(&b->u, UART_DLM));
}

static void test_snapshot_round_trip(void **state)
{
	struct harness *h = *state;
	drive(h);
	size_t len;
	uint8_t *data = save(&h->u, &len);
	assert_int_equal(len, SNAP_LEN);

	struct harness *r = calloc(1, sizeof(*r));
	uart_init(&r->u, on_tx, on_intr, r);
	char err[160];
	assert_int_equal(load(&r->u, data, len, err, sizeof(err)), 0);
	/* INTR is up as in the saved model, without a change reported at the load */
	assert_true(uart_intr(&r->u));
	assert_int_equal(r->nlevels, 0);
	r->initial = true;
	/* saving the restored model gives the same bytes */
	size_t len2;
	uint8_t *again = save(&r->u, &len2);
	assert_int_equal(len2, len);
	assert_memory_equal(again, data, len);
	free(again);
	/* the callbacks stayed the restored model's own */
	uart_write(&r->u, UART_LCR, 0x03);
	uart_write(&h->u, UART_LCR, 0x03);
	uart_write(&r->u, UART_THR, 'T');
	assert_int_equal(r->ntx, 1);
	assert_int_equal(r->tx[0], 'T');
	uart_write(&h->u, UART_THR, 'T');
	/* the same reads, data, interrupt identifications and INTR levels */
	assert_same_behaviour(h, r);
	free(data);
	free(r);
}

/* Loopback without FIFOs: one byte in the RBR, the modem lines from MCR. */
static void test_snapshot_round_trip_no_fifo(void **state)
{
	struct harness *h = *state;
	uart_write(&h->u, UART_MCR, UART_MCR_LOOP | UART_MCR_RTS | UART_MCR_OUT1);
	uart_write(&h->u, UART_IER, UART_IER_ERBFI | UART_IER_EDSSI);
	uart_write(&h->u, UART_THR, 'x');
	uart_write(&h->u, UART_THR, 'y'); /* overruns the RBR */
	size_t len;
	uint8_t *data = save(&h->u, &len);
	struct harness *r = calloc(1, sizeof(*r));
	uart_init(&r->u, on_tx, on_intr, r);
	char err[160];
	assert_int_equal(load(&r->u, data, len, err, sizeof(err)), 0);
	assert_int_equal(r->nlevels, 0);
	/* the RBR holds a byte with ERBFI set */
	r->initial = uart_intr(&r->u);
	assert_true(r->initial);
	assert_int_equal(uart_rx_room(&r->u), 0); /* loopback: the line is disconnected */
	assert_same_behaviour(h, r);
	free(data);
	free(r);
}

/* A hostile or mismatched section fails. A value out of range or a short section leaves the
 * model as it was (`unchanged`); bytes left over are found by snap_finish after a visit that
 * took a valid state. Either way the model stays within its FIFO (ASan watches). */
static void expect_rejected(struct harness *h, const uint8_t *data, size_t len, const char *why,
			    bool unchanged)
{
	size_t before_len;
	uint8_t *before = save(&h->u, &before_len);
	char err[160] = "";
	assert_int_equal(load(&h->u, data, len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "lpc.com1: "));
	assert_non_null(strstr(err, why));
	if (unchanged) {
		size_t after_len;
		uint8_t *after = save(&h->u, &after_len);
		assert_int_equal(after_len, before_len);
		assert_memory_equal(after, before, before_len);
		free(after);
	}
	free(before);
	h->initial = uart_intr(&h->u);
	h->nlevels = 0;
	/* the model still works within its FIFO */
	push(h, "0123456789abcdefXYZ");
	for (int i = 0; i < 20; i++)
		uart_read(&h->u, UART_RBR);
	uart_rx_idle(&h->u);
	assert_int_equal(uart_read(&h->u, UART_LSR) & UART_LSR_DR, 0);
}

static void test_snapshot_bad_states(void **state)
{
	struct harness *h = *state;
	drive(h);
	size_t len;
	uint8_t *good = save(&h->u, &len);
	assert_int_equal(len, SNAP_LEN);
	uint8_t bad[SNAP_LEN + 1];

	struct harness *r = calloc(1, sizeof(*r));
	uart_init(&r->u, on_tx, on_intr, r);
	/* truncated anywhere */
	for (size_t n = 0; n < len; n++)
		expect_rejected(r, good, n, "ends early", true);
	/* one byte too many */
	memcpy(bad, good, len);
	bad[len] = 0;
	expect_rejected(r, bad, len + 1, "bytes of state", false);
	/* FIFO count beyond the FIFO, and beyond the RBR without FIFOs */
	memcpy(bad, good, len);
	put32(bad + SNAP_COUNT, UART_FIFO_SIZE + 1);
	expect_rejected(r, bad, len, "FIFO count", true);
	put32(bad + SNAP_COUNT, 0xFFFFFFFFu);
	expect_rejected(r, bad, len, "FIFO count", true);
	memcpy(bad, good, len);
	bad[8] = 0; /* FIFOs off with 16 bytes in them */
	put32(bad + SNAP_COUNT, 2);
	expect_rejected(r, bad, len, "FIFO count", true);
	/* FIFO head outside the ring */
	memcpy(bad, good, len);
	put32(bad + SNAP_HEAD, UART_FIFO_SIZE);
	expect_rejected(r, bad, len, "FIFO head", true);
	put32(bad + SNAP_HEAD, 0x80000000u);
	expect_rejected(r, bad, len, "FIFO head", true);
	/* a trigger level the FCR cannot select */
	memcpy(bad, good, len);
	put32(bad + SNAP_TRIGGER, 0);
	expect_rejected(r, bad, len, "trigger", true);
	put32(bad + SNAP_TRIGGER, 16);
	expect_rejected(r, bad, len, "trigger", true);
	/* a boolean that is neither 0 nor 1 */
	memcpy(bad, good, len);
	bad[8] = 2;
	expect_rejected(r, bad, len, "boolean", true);
	/* registers the model cannot hold */
	memcpy(bad, good, len);
	bad[0] = 0x10; /* IER */
	expect_rejected(r, bad, len, "IER", true);
	memcpy(bad, good, len);
	bad[3] = UART_LSR_DR | UART_LSR_THRE | UART_LSR_TEMT;
	expect_rejected(r, bad, len, "LSR", true);
	/* the untouched model still loads the good state */
	char err[160];
	assert_int_equal(load(&r->u, good, len, err, sizeof(err)), 0);
	free(good);
	free(r);
}

/* ---- the LPC glue: a real pty backend, the I/O bus and the event loop ---- */

static void *loop_thread(void *arg)
{
	evloop_run(arg);
	return NULL;
}

static uint8_t pio_read(struct vm *vm, uint16_t port)
{
	uint64_t v = 0;
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_PIO, port, 1, false, &v), 0);
	return (uint8_t)v;
}

static void pio_write(struct vm *vm, uint16_t port, uint8_t val)
{
	uint64_t v = val;
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_PIO, port, 1, true, &v), 0);
}

static void test_lpc_glue(void **state)
{
	struct vm vm = {.vm_fd = -1}; /* no KVM: the IRQ ioctl fails and is only logged */
	iobus_init(&vm.bus);
	vm.ev = evloop_new();
	pthread_t loop;
	assert_int_equal(pthread_create(&loop, NULL, loop_thread, vm.ev), 0);
	char dir[] = "/tmp/kbuart.XXXXXX", link[64], spec[80];
	assert_non_null(mkdtemp(dir));
	snprintf(link, sizeof(link), "%s/com1", dir);
	snprintf(spec, sizeof(spec), "pty:%s", link);
	const uint16_t base = 0x3F8;

	assert_int_equal(uart_lpc_attach(&vm, "com1", base, 4, spec), 0);
	/* a second device on the same ports, a bad backend, a bad IRQ: refused, nothing left */
	assert_int_equal(uart_lpc_attach(&vm, "com3", base + 4, 4, "pty"), -EEXIST);
	assert_int_equal(uart_lpc_attach(&vm, "com2", 0x2F8, 3, "nonsense"), -EINVAL);
	assert_int_equal(uart_lpc_attach(&vm, "com2", 0x2F8, 99, "pty"), -EINVAL);
	uint64_t v;
	assert_int_equal(iobus_dispatch(&vm.bus, IOBUS_PIO, 0x2F8, 1, false, &v), -ENOENT);

	int s = open(link, O_RDWR | O_NOCTTY);
	assert_true(s >= 0);

	/* transmit */
	pio_write(&vm, base + UART_LCR, 0x03);
	pio_write(&vm, base + UART_THR, 'H');
	pio_write(&vm, base + UART_THR, 'i');
	char buf[64];
	/* the two bytes may arrive in one read or in two (each THR write reaches the pty alone) */
	size_t n = 0;
	while (n < 2) {
		struct pollfd p = {.fd = s, .events = POLLIN};
		assert_int_equal(poll(&p, 1, 5000), 1);
		ssize_t r = read(s, buf + n, 2 - n);
		assert_true(r > 0);
		n += (size_t)r;
	}
	assert_memory_equal(buf, "Hi", 2);

	/* receive more than the FIFO holds: flow control loses nothing */
	pio_write(&vm, base + UART_FCR, UART_FCR_ENABLE | UART_FCR_CLEAR_RX);
	char msg[60];
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (char)('A' + i % 26);
	assert_int_equal(write(s, msg, sizeof(msg)), sizeof(msg));
	size_t got = 0;
	for (int spins = 0; got < sizeof(msg) && spins < 5000; spins++) {
		uint8_t lsr = pio_read(&vm, base + UART_LSR);
		assert_false(lsr & UART_LSR_OE);
		if (lsr & UART_LSR_DR)
			buf[got++] = (char)pio_read(&vm, base + UART_RBR);
		else
			usleep(1000);
	}
	assert_int_equal(got, sizeof(msg));
	assert_memory_equal(buf, msg, sizeof(msg));

	/* a 2-byte access covers two registers */
	pio_write(&vm, base + UART_SCR, 0x5A);
	v = 0;
	assert_int_equal(iobus_dispatch(&vm.bus, IOBUS_PIO, base + UART_MSR, 2, false, &v), 0);
	assert_int_equal(v >> 8, 0x5A);

	close(s);
	evloop_stop(vm.ev, 0);
	pthread_join(loop, NULL);
	uart_lpc_detach_all(&vm);
	assert_int_equal(iobus_dispatch(&vm.bus, IOBUS_PIO, base, 1, false, &v), -ENOENT);
	struct stat st;
	assert_int_equal(lstat(link, &st), -1); /* the backend closed */
	rmdir(dir);
	vm_run_destroy_hooks(&vm);
	evloop_free(vm.ev);
	iobus_fini(&vm.bus);
}

static const struct snapshot_entry *find_section(struct vm *vm, const char *name)
{
	for (const struct snapshot_entry *e = vm->snapshots; e; e = e->next)
		if (strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

/* Wait up to `ms` for the UART at base to have received data. */
static bool wait_dr(struct vm *vm, uint16_t base, int ms)
{
	for (int i = 0; i < ms; i++) {
		if (pio_read(vm, base + UART_LSR) & UART_LSR_DR)
			return true;
		usleep(1000);
	}
	return false;
}

/* The registered section "lpc.com2": pause keeps backend input out of the UART until resume,
 * and the state saved through the ops loads back through them. */
static void test_lpc_snapshot(void **state)
{
	struct vm vm = {.vm_fd = -1};
	iobus_init(&vm.bus);
	vm.ev = evloop_new();
	pthread_t loop;
	assert_int_equal(pthread_create(&loop, NULL, loop_thread, vm.ev), 0);
	char dir[] = "/tmp/kbuart.XXXXXX", link[64], spec[80];
	assert_non_null(mkdtemp(dir));
	snprintf(link, sizeof(link), "%s/com2", dir);
	snprintf(spec, sizeof(spec), "pty:%s", link);
	const uint16_t base = 0x2F8;
	assert_int_equal(uart_lpc_attach(&vm, "com2", base, 3, spec), 0);
	const struct snapshot_entry *e = find_section(&vm, "lpc.com2");
	assert_non_null(e);
	assert_null(find_section(&vm, "lpc.com1"));
	const struct snapshot_ops *ops = e->ops;
	assert_non_null(ops);
	assert_non_null(ops->visit);
	int s = open(link, O_RDWR | O_NOCTTY);
	assert_true(s >= 0);

	pio_write(&vm, base + UART_FCR, UART_FCR_ENABLE);
	pio_write(&vm, base + UART_IER, UART_IER_ERBFI);
	pio_write(&vm, base + UART_SCR, 0x77);
	/* paused: the byte stays in the host's buffer */
	ops->pause(e->opaque);
	assert_int_equal(write(s, "p", 1), 1);
	assert_false(wait_dr(&vm, base, 200));
	/* a checkpoint now: the state saved through the ops */
	struct snap *sn = snap_new_save(e->name);
	ops->visit(sn, e->opaque);
	char err[160];
	assert_int_equal(snap_finish(sn, err, sizeof(err)), 0);
	size_t len;
	const void *d = snap_data(sn, &len);
	uint8_t saved[SNAP_LEN];
	assert_int_equal(len, SNAP_LEN);
	memcpy(saved, d, len);
	snap_free(sn);
	/* resumed: the byte arrives */
	ops->resume(e->opaque);
	assert_true(wait_dr(&vm, base, 5000));
	assert_int_equal(pio_read(&vm, base + UART_RBR), 'p');
	pio_write(&vm, base + UART_SCR, 0x11);

	/* load the checkpoint back (as a restore would, with input paused) */
	ops->pause(e->opaque);
	sn = snap_new_load(e->name, saved, sizeof(saved));
	ops->visit(sn, e->opaque);
	assert_int_equal(snap_finish(sn, err, sizeof(err)), 0);
	snap_free(sn);
	assert_int_equal(ops->restored(e->opaque, err, sizeof(err)), 0);
	ops->resume(e->opaque);
	assert_int_equal(pio_read(&vm, base + UART_SCR), 0x77);
	assert_int_equal(pio_read(&vm, base + UART_IER), UART_IER_ERBFI);
	assert_int_equal(pio_read(&vm, base + UART_IIR), UART_IIR_FIFO | UART_IIR_NOPEND);
	/* input flows after the restore */
	assert_int_equal(write(s, "q", 1), 1);
	assert_true(wait_dr(&vm, base, 5000));
	assert_int_equal(pio_read(&vm, base + UART_RBR), 'q');

	close(s);
	evloop_stop(vm.ev, 0);
	pthread_join(loop, NULL);
	uart_lpc_detach_all(&vm);
	rmdir(dir);
	vm_run_destroy_hooks(&vm);
	evloop_free(vm.ev);
	iobus_fini(&vm.bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_reset_state, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dlab_divisor, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_thre_interrupt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_without_fifo, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_overrun_without_fifo, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fifo_trigger_levels, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fifo_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fifo_overflow_and_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_priorities, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_loopback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ier_masking, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_round_trip_no_fifo, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_bad_states, setup, teardown),
	    cmocka_unit_test(test_lpc_glue),
	    cmocka_unit_test(test_lpc_snapshot),
	};
	return cmocka_run_group_tests_name("uart16550", tests, NULL, NULL);
}
