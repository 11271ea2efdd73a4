/* SPDX-License-Identifier: BSD-2-Clause */
/* Reset through the i8042 keyboard controller (command 0xFE): bhyve exits 0. */
#include "common.inc"
main:
	mov $msg, %si
	call puts
	/* wait for the input buffer to be empty, as Linux does */
1:	in $0x64, %al
	test $0x02, %al
	jnz 1b
	mov $0xfe, %al
	out %al, $0x64
2:	hlt
	jmp 2b
msg:	.asciz "resetting via the keyboard controller\n"
