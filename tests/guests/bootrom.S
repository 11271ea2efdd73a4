/* SPDX-License-Identifier: BSD-2-Clause */
/* A 64 KiB boot ROM for -l bootrom,bootrom.bin,VARS (VARS 64 KiB: at 0xFFFE0000). It starts at
 * the reset vector (CS base 0xFFFF0000), checks that a write to itself is ignored, then through
 * unreal mode programs byte 0x10 of VARS to 0x42 and erases VARS block 1 with CFI commands, reads
 * both back, and powers off through the firmware shutdown port 0xB004. The test checks the
 * console and the VARS file. */
#include "common.inc"
#define VARS 0xFFFE0000

/* rom_puts: the string at %cs:%si (this ROM: strings are not in RAM) */
rom_puts:
	mov %cs:(%si), %al
	inc %si
	test %al, %al
	jz 1f
	call putc
	jmp rom_puts
1:	ret

main:
	mov $(hello - _start), %si
	call rom_puts
	/* the ROM is read-only: the write exits to bhyve and is dropped */
	movb $0x55, %cs:(romdata - _start)
	mov %cs:(romdata - _start), %al
	call puthex8
	mov $(nl - _start), %si
	call rom_puts

	/* unreal mode: DS with a 4 GiB limit, to reach the flash below 1 MiB's reach */
	lgdtl %cs:(gdtr - _start)
	mov %cr0, %eax
	or $1, %al
	mov %eax, %cr0
	mov $8, %bx
	mov %bx, %ds
	and $0xfe, %al
	mov %eax, %cr0
	xor %bx, %bx
	mov %bx, %ds

	/* program: 0x10, data, back to read-array */
	mov $(VARS + 0x10), %esi
	movb $0x10, (%esi)
	movb $0x42, (%esi)
	movb $0xff, (%esi)
	/* erase block 1: 0x20, 0xD0, status must show ready, back to read-array */
	mov $(VARS + 0x1000), %edi
	movb $0x20, (%edi)
	movb $0xd0, (%edi)
	mov (%edi), %al
	call puthex8
	movb $0xff, (%edi)
	mov $(space - _start), %si /* rom_puts uses %si: the flash address is reloaded */
	call rom_puts
	mov $(VARS + 0x10), %ebx
	mov (%ebx), %al
	call puthex8
	mov $(space - _start), %si
	call rom_puts
	mov 0x123(%edi), %al
	call puthex8
	mov $(nl - _start), %si
	call rom_puts

	/* the firmware's own power-off: SLP_TYP 0 | SLP_EN at 0xB004 */
	mov $0xb004, %dx
	mov $0x2000, %ax
	out %ax, %dx
2:	hlt
	jmp 2b

hello:	.asciz "rom: started at the reset vector\nrom byte after write: "
nl:	.asciz "\n"
space:	.asciz " "
romdata: .byte 0xaa
	.p2align 3
gdt:	.quad 0
	.quad 0x00cf93000000ffff /* flat 4 GiB data, accessed: the CPU need not write the ROM */
gdtr:	.word 15
	.long 0xffff0000 + (gdt - _start)

	.org 0xfff0
reset_vector:
	jmp _start
	.org 0x10000
