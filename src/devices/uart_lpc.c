/* SPDX-License-Identifier: BSD-2-Clause */
#include "devices/uart_lpc.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/tty.h"
#include "core/log.h"
#include "core/vm.h"
#include "devices/uart16550.h"
#include "snapshot/snapstate.h"

struct uart_lpc {
	pthread_mutex_t lock; /* the UART model; taken before the backend's lock */
	struct uart16550 uart;
	struct tty_backend *tty;
	struct vm *vm;
	char name[16];
	uint16_t port;
	unsigned irq;
	bool rx_paused;	  /* the FIFO was full: backend input waits for room */
	bool snap_paused; /* a checkpoint stopped backend input (snapshot pause) */
	bool irq_counted; /* this UART's share of irq_asserted[irq] (uarts_lock) */
	struct uart_lpc *next;
};

/* All UARTs, and the ISA IRQ lines they drive: com1/com3 and com2/com4 share lines, so a
 * line is high while any of its UARTs asserts INTR. */
static pthread_mutex_t uarts_lock = PTHREAD_MUTEX_INITIALIZER;
static struct uart_lpc *uarts;
static unsigned irq_asserted[16];

/* Count this UART's INTR `level` on its line; true when the line's level changes. Under
 * uarts_lock. */
static bool irq_count(struct uart_lpc *u, bool level)
{
	if (level == u->irq_counted)
		return false;
	u->irq_counted = level;
	if (level)
		return irq_asserted[u->irq]++ == 0;
	return irq_asserted[u->irq] > 0 && --irq_asserted[u->irq] == 0;
}

static void uart_intr_changed(void *opaque, bool level)
{
	struct uart_lpc *u = opaque;
	pthread_mutex_lock(&uarts_lock);
	if (irq_count(u, level)) {
		int rc = vm_irq_line(u->vm, u->irq, level);
		if (rc)
			kb_debug("%s: IRQ %u: %s", u->name, u->irq, strerror(-rc));
	}
	pthread_mutex_unlock(&uarts_lock);
}

static void uart_tx(void *opaque, uint8_t byte)
{
	struct uart_lpc *u = opaque;
	tty_write(u->tty, &byte, 1);
}

/* Backend input, on the event-loop thread. */
static size_t uart_rx(void *opaque, const uint8_t *buf, size_t len)
{
	struct uart_lpc *u = opaque;
	pthread_mutex_lock(&u->lock);
	if (u->snap_paused) { /* a checkpoint is under way: the bytes stay in the backend */
		tty_pause_input(u->tty);
		pthread_mutex_unlock(&u->lock);
		return 0;
	}
	size_t room = uart_rx_room(&u->uart);
	size_t n = len < room ? len : room;
	uart_rx_push(&u->uart, buf, n);
	if (n < len) {
		u->rx_paused = true;
		tty_pause_input(u->tty);
	} else {
		uart_rx_idle(&u->uart); /* everything the backend had: the line goes quiet */
	}
	pthread_mutex_unlock(&u->lock);
	return n;
}

static int uart_io(void *opaque, uint64_t offset, unsigned size, bool is_write, uint64_t *val)
{
	struct uart_lpc *u = opaque;
	uint64_t out = 0;
	pthread_mutex_lock(&u->lock);
	/* wider accesses touch consecutive registers, as byte accesses would */
	for (unsigned i = 0; i < size && i < 8; i++) {
		uint64_t reg = offset + i;
		if (is_write) {
			if (reg < UART_NPORTS)
				uart_write(&u->uart, (unsigned)reg, (uint8_t)(*val >> (8 * i)));
		} else {
			uint8_t b = reg < UART_NPORTS ? uart_read(&u->uart, (unsigned)reg) : 0xFF;
			out |= (uint64_t)b << (8 * i);
		}
	}
	if (u->rx_paused && !u->snap_paused && uart_rx_room(&u->uart) > 0) {
		u->rx_paused = false;
		tty_resume_input(u->tty);
	}
	pthread_mutex_unlock(&u->lock);
	if (!is_write)
		*val = out;
	return 0;
}

/* ---- checkpoint and restore: section "lpc.comN" (uart_snapshot's layout) ---- */

/* Stop reading the backend: its bytes wait in the host's buffers until resume. */
static void uart_lpc_pause(void *opaque)
{
	struct uart_lpc *u = opaque;
	pthread_mutex_lock(&u->lock);
	u->snap_paused = true;
	tty_pause_input(u->tty);
	pthread_mutex_unlock(&u->lock);
}

static void uart_lpc_visit(struct snap *s, void *opaque)
{
	struct uart_lpc *u = opaque;
	pthread_mutex_lock(&u->lock);
	uart_snapshot(s, &u->uart);
	pthread_mutex_unlock(&u->lock);
}

/* The loaded INTR level becomes this UART's share of its IRQ line. The line itself is not
 * driven: the interrupt controller's pin state is restored with the VM's. */
static int uart_lpc_restored(void *opaque, char *err, size_t errlen)
{
	struct uart_lpc *u = opaque;
	pthread_mutex_lock(&u->lock);
	pthread_mutex_lock(&uarts_lock);
	irq_count(u, uart_intr(&u->uart));
	pthread_mutex_unlock(&uarts_lock);
	pthread_mutex_unlock(&u->lock);
	return 0;
}

/* Read the backend again, as far as the FIFO has room (else at the guest's next access that
 * makes room, as for a full FIFO). */
static void uart_lpc_resume(void *opaque)
{
	struct uart_lpc *u = opaque;
	pthread_mutex_lock(&u->lock);
	u->snap_paused = false;
	if (uart_rx_room(&u->uart) > 0) {
		u->rx_paused = false;
		tty_resume_input(u->tty);
	} else {
		u->rx_paused = true;
		tty_pause_input(u->tty);
	}
	pthread_mutex_unlock(&u->lock);
}

static const struct snapshot_ops uart_lpc_snapshot_ops = {
    .pause = uart_lpc_pause,
    .visit = uart_lpc_visit,
    .restored = uart_lpc_restored,
    .resume = uart_lpc_resume,
};

static void uart_lpc_free(struct uart_lpc *u)
{
	tty_close(u->tty);
	pthread_mutex_lock(&uarts_lock);
	if (irq_count(u, false))
		vm_irq_line(u->vm, u->irq, false);
	pthread_mutex_unlock(&uarts_lock);
	pthread_mutex_destroy(&u->lock);
	free(u);
}

int uart_lpc_attach(struct vm *vm, const char *name, uint16_t port, unsigned irq,
		    const char *backend_spec)
{
	if (irq >= sizeof(irq_asserted) / sizeof(irq_asserted[0])) {
		kb_log("%s: IRQ %u is not an ISA IRQ", name, irq);
		return -EINVAL;
	}
	struct uart_lpc *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	pthread_mutex_init(&u->lock, NULL);
	snprintf(u->name, sizeof(u->name), "%s", name);
	u->vm = vm;
	u->port = port;
	u->irq = irq;
	uart_init(&u->uart, uart_tx, uart_intr_changed, u);

	char err[256];
	/* the backend may deliver input as soon as it is open: the UART is ready for it */
	int rc = tty_open(&u->tty, backend_spec, u->name, vm->ev, uart_rx, u, err, sizeof(err));
	if (rc) {
		kb_log("%s: %s", name, err);
		pthread_mutex_destroy(&u->lock);
		free(u);
		return rc;
	}
	rc = iobus_register(&vm->bus, IOBUS_PIO, port, UART_NPORTS, uart_io, u, u->name);
	if (rc) {
		kb_log("%s: I/O ports %#x-%#x: %s", name, port, port + UART_NPORTS - 1,
		       strerror(-rc));
		uart_lpc_free(u);
		return rc;
	}
	char section[SNAP_NAME_MAX + 1];
	snprintf(section, sizeof(section), "lpc.%s", u->name);
	rc = snapshot_register(vm, section, &uart_lpc_snapshot_ops, u);
	if (rc) {
		kb_log("%s: cannot register its saved state: %s", name, strerror(-rc));
		iobus_unregister(&vm->bus, IOBUS_PIO, port);
		uart_lpc_free(u);
		return rc;
	}
	pthread_mutex_lock(&uarts_lock);
	u->next = uarts;
	uarts = u;
	pthread_mutex_unlock(&uarts_lock);
	kb_debug("%s: 16550 at %#x, IRQ %u, %s", name, port, irq, tty_describe(u->tty));
	return 0;
}

void uart_lpc_detach_all(struct vm *vm)
{
	pthread_mutex_lock(&uarts_lock);
	struct uart_lpc **pp = &uarts, *mine = NULL;
	while (*pp) {
		struct uart_lpc *u = *pp;
		if (u->vm == vm) {
			*pp = u->next;
			u->next = mine;
			mine = u;
		} else {
			pp = &u->next;
		}
	}
	pthread_mutex_unlock(&uarts_lock);
	while (mine) {
		struct uart_lpc *u = mine;
		mine = u->next;
		iobus_unregister(&vm->bus, IOBUS_PIO, u->port);
		uart_lpc_free(u);
	}
}
