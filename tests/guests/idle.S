/* SPDX-License-Identifier: BSD-2-Clause */
/* A guest that stays up: prints "idle", then sleeps in `sti; hlt`, woken 100 times a second by
 * the PIT. Each time it checks the ACPI power button (PM1 status bit 8, PWRBTN_STS): when
 * pressed (SIGTERM to bhyve, bhyvectl --poweroff) it prints "power button", clears the bit and
 * goes on idling. Only bhyvectl or a signal ends it. */
#include "common.inc"
main:
	call ivt_quiet
	movw $timer_isr, 8 * 4 /* IRQ 0 at vector 8, as a PC BIOS sets it up */

	/* master PIC: vectors 8-15, only IRQ 0 unmasked; slave PIC: vectors 0x70-0x77, masked */
	mov $0x11, %al
	out %al, $0x20
	out %al, $0xa0
	mov $0x08, %al
	out %al, $0x21
	mov $0x70, %al
	out %al, $0xa1
	mov $0x04, %al
	out %al, $0x21
	mov $0x02, %al
	out %al, $0xa1
	mov $0x01, %al
	out %al, $0x21
	out %al, $0xa1
	mov $0xfe, %al
	out %al, $0x21
	mov $0xff, %al
	out %al, $0xa1

	/* PIT channel 0, rate generator, 1193182 Hz / 11932 = 100 Hz */
	mov $0x34, %al
	out %al, $0x43
	mov $(11932 & 0xff), %al
	out %al, $0x40
	mov $(11932 >> 8), %al
	out %al, $0x40

	mov $msg, %si
	call puts
idle:
	sti
	hlt
	cli
	mov $0x400, %dx		/* PM1a status */
	in %dx, %ax
	test $0x100, %ax
	jz idle
	mov $0x100, %ax		/* write 1 to clear PWRBTN_STS */
	out %ax, %dx
	mov $button, %si
	call puts
	jmp idle

timer_isr:
	push %ax
	mov $0x20, %al		/* EOI */
	out %al, $0x20
	pop %ax
	iret

msg:	.asciz "idle\n"
button:	.asciz "power button\n"
