/* SPDX-License-Identifier: BSD-2-Clause */
/* The UART's THR-empty interrupt reaches the guest through the in-kernel PIC (IRQ 4). */
#include "common.inc"
main:
	/* IVT entry for vector 0x24 (IRQ 4 after remapping the master PIC to 0x20) */
	movw $isr, 0x24 * 4
	movw $0, 0x24 * 4 + 2
	/* ICW1-ICW4: edge, cascade, vector base 0x20, 8086 mode */
	mov $0x11, %al
	out %al, $0x20
	mov $0x20, %al
	out %al, $0x21
	mov $0x04, %al
	out %al, $0x21
	mov $0x01, %al
	out %al, $0x21
	/* mask everything but IRQ 4 */
	mov $0xef, %al
	out %al, $0x21
	/* UART: OUT2 gates the interrupt line on a PC; enable the THR-empty interrupt */
	mov $0x3fc, %dx
	mov $0x08, %al
	out %al, %dx
	mov $0x3f9, %dx
	mov $0x02, %al
	out %al, %dx
	sti
1:	hlt
	cmpb $0, got_irq
	je 1b
	cli
	mov $msg, %si
	call puts
	jmp poweroff

isr:
	push %ax
	push %dx
	/* reading IIR acknowledges the THRE interrupt; then disable it */
	mov $0x3fa, %dx
	in %dx, %al
	mov %al, iir
	mov $0x3f9, %dx
	xor %al, %al
	out %al, %dx
	movb $1, got_irq
	mov $0x20, %al
	out %al, $0x20
	pop %dx
	pop %ax
	iret

got_irq: .byte 0
iir:	.byte 0
msg:	.asciz "irq4 received\n"
