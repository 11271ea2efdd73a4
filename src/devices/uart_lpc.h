/* SPDX-License-Identifier: BSD-2-Clause */
/* COM ports on the LPC bridge: a 16550 at an I/O port base, an ISA IRQ and a tty backend. */
#ifndef KB_UART_LPC_H
#define KB_UART_LPC_H

#include <stdint.h>

struct vm;

/* Create the UART `name` ("com1") at `port` (8 ports) raising ISA `irq`, connected to the
 * backend `backend_spec` (see backends/tty.h), with its saved state registered as the section
 * "lpc.NAME" (snapshot/snapstate.h). 0 or -errno after logging the problem. */
int uart_lpc_attach(struct vm *vm, const char *name, uint16_t port, unsigned irq,
		    const char *backend_spec);

/* Remove every UART of `vm` from its I/O bus and close the backends (socket files, pty links,
 * the stdio terminal mode). Call after the vCPUs and the event loop have stopped. */
void uart_lpc_detach_all(struct vm *vm);

#endif
