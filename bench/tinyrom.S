/* SPDX-License-Identifier: BSD-2-Clause */
/* A 64 KiB BIOS image for QEMU that runs one of kbhyve's tiny guests (tests/guests/*.S, flat
 * real-mode binaries linked at 0:0x8000), so both VMMs run the same guest code:
 * the reset vector jumps to a stub that copies the payload to 0:0x8000 and jumps there, which is
 * where kbhyve's boot.raw starts it. About ten instructions and one rep movsb more than kbhyve.
 *   gcc -c -DPAYLOAD='"build/guests/hello.bin"' tinyrom.S; ld -Ttext=0; objcopy -O binary
 * QEMU maps the image at 0xF0000 (and below 4 GiB); the CPU starts at F000:FFF0. */
	.code16
	.text
	.globl _start
_start:
	cli
	cld
	mov $0xf000, %ax
	mov %ax, %ds
	xor %ax, %ax
	mov %ax, %es
	mov $payload, %si
	mov $0x8000, %di
	mov $(payload_end - payload), %cx
	rep movsb
	ljmp $0, $0x8000
payload:
	.incbin PAYLOAD
payload_end:
	.org 0xfff0
reset_vector:
	ljmp $0xf000, $_start
	.org 0x10000
