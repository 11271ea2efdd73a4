/* SPDX-License-Identifier: BSD-2-Clause */
/* Port-I/O round trips: UART scratch register, PCI config mechanism #1, RTC register D,
 * an unassigned port (all ones, or an error exit under -e). */
#include "common.inc"
main:
	/* UART scratch register keeps what was written */
	mov $0x3ff, %dx
	mov $0xa5, %al
	out %al, %dx
	in %dx, %al
	mov %al, %bl
	mov $0x5a, %al
	out %al, %dx
	in %dx, %al
	mov $s_scr, %si
	call puts
	mov %bl, %al
	call puthex8
	mov $' ', %al
	call putc
	mov $0x3ff, %dx
	in %dx, %al
	call puthex8

	/* vendor/device of 0:0.0 (hostbridge), 0:31.0 (lpc), 0:5.0 (empty) */
	mov $s_pci0, %si
	call puts
	mov $0x80000000, %eax
	call cfgread
	call puthex32
	mov $s_pci31, %si
	call puts
	mov $0x8000f800, %eax
	call cfgread
	call puthex32
	mov $s_pci5, %si
	call puts
	mov $0x80002800, %eax
	call cfgread
	call puthex32
	/* class code of the LPC bridge (dword at 0x08) */
	mov $s_class, %si
	call puts
	mov $0x8000f808, %eax
	call cfgread
	call puthex32

	/* RTC register D reads VRT (0x80) */
	mov $s_rtc, %si
	call puts
	mov $0x0d, %al
	out %al, $0x70
	in $0x71, %al
	call puthex8

	/* an unassigned port */
	mov $s_unassigned, %si
	call puts
	mov $0x2a0, %dx
	in %dx, %al
	call puthex8
	mov $'\n', %al
	call putc
	jmp poweroff


s_scr:		.asciz "scr "
s_pci0:		.asciz "\npci 0:0.0 "
s_pci31:	.asciz "\npci 0:31.0 "
s_pci5:		.asciz "\npci 0:5.0 "
s_class:	.asciz "\nlpc class "
s_rtc:		.asciz "\nrtc D "
s_unassigned:	.asciz "\nport 0x2a0 "
