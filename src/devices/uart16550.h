/* SPDX-License-Identifier: BSD-2-Clause */
/* A 16550A UART register model: registers at offsets 0-7 from the base port.
 *
 * Pure state machine: no I/O, no threads, no locking. The owner serialises every call with its
 * own mutex and provides two callbacks: one that takes transmitted bytes, one that follows the
 * INTR output (called only when the level changes).
 *
 * Model choices:
 * - Transmission is instantaneous: THR and the TX FIFO are always empty (LSR THRE and TEMT set).
 * - The RX FIFO holds UART_FIFO_SIZE (16) bytes with FIFOs enabled, 1 byte (the RBR) without.
 * - The character timeout (IIR 0x0C: data below the trigger level and the line idle for four
 *   character times) is signalled by the owner with uart_rx_idle() when its input source has no
 *   more bytes; it stays pending until the FIFO is drained.
 * - INTR is not gated by MCR OUT2 (like bhyve and QEMU), so polled-then-interrupt drivers work
 *   whether or not they set OUT2.
 * - Only overrun errors occur (no parity, framing or break conditions on a virtual line).
 */
#ifndef KB_UART16550_H
#define KB_UART16550_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct snap;

#define UART_NPORTS 8
#define UART_FIFO_SIZE 16

/* Register offsets. */
#define UART_RBR 0 /* read, DLAB=0 */
#define UART_THR 0 /* write, DLAB=0 */
#define UART_DLL 0 /* DLAB=1 */
#define UART_IER 1 /* DLAB=0 */
#define UART_DLM 1 /* DLAB=1 */
#define UART_IIR 2 /* read */
#define UART_FCR 2 /* write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define UART_IER_ERBFI 0x01 /* received data available (and timeout) */
#define UART_IER_ETBEI 0x02 /* THR empty */
#define UART_IER_ELSI 0x04  /* receiver line status */
#define UART_IER_EDSSI 0x08 /* modem status */

#define UART_IIR_NOPEND 0x01
#define UART_IIR_MSR 0x00
#define UART_IIR_THRE 0x02
#define UART_IIR_RDA 0x04
#define UART_IIR_RLS 0x06
#define UART_IIR_TIMEOUT 0x0C
#define UART_IIR_FIFO 0xC0

#define UART_FCR_ENABLE 0x01
#define UART_FCR_CLEAR_RX 0x02
#define UART_FCR_CLEAR_TX 0x04
#define UART_FCR_TRIGGER 0xC0

#define UART_LCR_DLAB 0x80

#define UART_MCR_DTR 0x01
#define UART_MCR_RTS 0x02
#define UART_MCR_OUT1 0x04
#define UART_MCR_OUT2 0x08
#define UART_MCR_LOOP 0x10

#define UART_LSR_DR 0x01
#define UART_LSR_OE 0x02
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40

#define UART_MSR_DCTS 0x01
#define UART_MSR_DDSR 0x02
#define UART_MSR_TERI 0x04
#define UART_MSR_DDCD 0x08
#define UART_MSR_CTS 0x10
#define UART_MSR_DSR 0x20
#define UART_MSR_RI 0x40
#define UART_MSR_DCD 0x80

typedef void (*uart_tx_fn)(void *opaque, uint8_t byte);
typedef void (*uart_intr_fn)(void *opaque, bool level);

struct uart16550 {
	uint8_t ier, lcr, mcr, lsr, msr, scr, dll, dlm;
	bool fifo_enabled;
	unsigned trigger;  /* RX trigger level in bytes: 1, 4, 8 or 14 */
	bool thre_pending; /* THR-empty interrupt latched until IIR read or THR write */
	bool rx_timeout;   /* character timeout expired with data in the FIFO */
	uint8_t rx[UART_FIFO_SIZE];
	unsigned rx_head, rx_count;
	bool intr; /* current INTR output level */
	uart_tx_fn tx;
	uart_intr_fn intr_changed;
	void *opaque;
};

/* Power-on state; callbacks may be NULL. */
void uart_init(struct uart16550 *u, uart_tx_fn tx, uart_intr_fn intr_changed, void *opaque);

/* Guest register access; `offset` is 0-7 (other values read 0xFF and ignore writes). */
uint8_t uart_read(struct uart16550 *u, unsigned offset);
void uart_write(struct uart16550 *u, unsigned offset, uint8_t val);

/* Bytes the receiver accepts now without overrun; 0 in loopback mode (the serial input is
 * disconnected from the receiver then). */
unsigned uart_rx_room(const struct uart16550 *u);
/* Deliver bytes from the line. Bytes beyond the room are lost and set LSR OE (as on a real
 * overrun); in loopback mode the line is disconnected and everything is discarded.
 * Returns the number of bytes stored. */
size_t uart_rx_push(struct uart16550 *u, const uint8_t *buf, size_t len);
/* The line went idle: with FIFOs enabled and data below the trigger level, the character
 * timeout interrupt becomes pending. */
void uart_rx_idle(struct uart16550 *u);

/* Current INTR output level. */
bool uart_intr(const struct uart16550 *u);

/* Save or load the guest-visible state (snapshot/snapstate.h): IER, LCR, MCR, LSR, MSR, SCR,
 * DLL, DLM, the FIFO mode and trigger, the pending THR-empty and timeout conditions and the
 * receive FIFO. A load is checked as a whole and changes nothing when a value is out of range
 * or the section ends early (bytes left over are found by snap_finish later); INTR is
 * recomputed from the loaded registers without calling intr_changed (the owner makes its
 * interrupt line match). The callbacks and their opaque are kept. */
void uart_snapshot(struct snap *s, struct uart16550 *u);

#endif
