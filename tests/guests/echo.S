/* SPDX-License-Identifier: BSD-2-Clause */
/* Console input: wait for a byte on COM1, answer "got X", power off. */
#include "common.inc"
main:
1:	mov $0x3fd, %dx
	in %dx, %al
	test $0x01, %al
	jz 1b
	mov $0x3f8, %dx
	in %dx, %al
	mov %al, %bl
	mov $msg, %si
	call puts
	mov %bl, %al
	call putc
	mov $'\n', %al
	call putc
	jmp poweroff
msg:	.asciz "got "
