/* SPDX-License-Identifier: BSD-2-Clause */
/* An exception with an empty interrupt table escalates to a triple fault: bhyve exits 3. */
#include "common.inc"
main:
	mov $msg, %si
	call puts
	lidt empty_idt
	int $3
1:	hlt
	jmp 1b
empty_idt:
	.word 0
	.long 0
msg:	.asciz "triple faulting\n"
