/* SPDX-License-Identifier: BSD-2-Clause */
/* KVM GSI routing and the kernel-side fast paths: MSI routes with irqfds (interrupts injected
 * without a VM exit or a vCPU thread) and ioeventfds (guest doorbell writes completed in the
 * kernel and signalled on an eventfd). */
#ifndef KB_IRQROUTE_H
#define KB_IRQROUTE_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

/* Install the base table: ISA IRQs on the PIC and IOAPIC with IRQ0 on IOAPIC pin 2 (the MADT's
 * interrupt source override), IOAPIC pins 16-23 for PCI INTx. 0 or -errno. */
int irqroute_init(struct vm *vm);
void irqroute_fini(struct vm *vm);

/* An MSI route: allocate a GSI (>= 24), point it at an MSI address/data, connect an eventfd to
 * it. Writing 1 to the eventfd interrupts the guest. Returns the GSI or -errno. */
int irqroute_msi_add(struct vm *vm, uint64_t addr, uint32_t data, int efd);
/* Re-point an MSI route (the guest reprogrammed the vector). 0 or -errno. */
int irqroute_msi_update(struct vm *vm, int gsi, uint64_t addr, uint32_t data);
void irqroute_msi_remove(struct vm *vm, int gsi, int efd);

/* Connect `efd` to guest writes of `len` bytes (0: any length) at `addr` (MMIO or port I/O). */
int vm_ioeventfd(struct vm *vm, uint64_t addr, unsigned len, bool pio, int efd, bool assign);

#endif
