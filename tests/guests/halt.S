/* SPDX-License-Identifier: BSD-2-Clause */
/* HLT with interrupts disabled on every vCPU: bhyve's halt, exit 2. */
#include "common.inc"
main:
	mov $msg, %si
	call puts
	cli
1:	hlt
	jmp 1b
msg:	.asciz "halting\n"
