/* SPDX-License-Identifier: BSD-2-Clause */
/* Reset through the reset control register 0xCF9: bhyve exits 0 (reboot). */
#include "common.inc"
main:
	mov $msg, %si
	call puts
	mov $0xcf9, %dx
	mov $0x06, %al
	out %al, %dx
1:	hlt
	jmp 1b
msg:	.asciz "resetting via 0xcf9\n"
