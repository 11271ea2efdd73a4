/* SPDX-License-Identifier: BSD-2-Clause */
/* UART output reaches the backend, then ACPI poweroff: bhyve exits 1. */
#include "common.inc"
main:
	mov $msg, %si
	call puts
	jmp poweroff
msg:	.asciz "hello from a tiny guest\n"
