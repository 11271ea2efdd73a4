/* SPDX-License-Identifier: BSD-2-Clause */
/* Draws the test pattern 'bands' (tests/vnc/vncclient.py pattern_pixel) on fbuf's Bochs display
 * at 1024x768x32, prints "pattern drawn" and sleeps (sti; hlt) with the picture on screen.
 * Finds fbuf at PCI 0:29.0 (config mechanism #1): BAR0 is VRAM, BAR2 the register window with
 * the DISPI registers at 0x500 + index * 2. Both lie above 1 MiB, so it runs in unreal mode:
 * a moment in protected mode loads DS/ES with a flat 4 GiB data segment, and back in real mode
 * they keep that limit, so 32-bit addresses (%ebx, %edi) reach the whole address space. */
#include "common.inc"

#define FBUF_CFG (0x80000000 | (29 << 11))	/* bus 0, device 29, function 0 */
#define W 1024
#define H 768
#define DISPI(i) (0x500 + 2 * (i))

main:
	mov $(FBUF_CFG | 0x00), %eax		/* vendor/device: Bochs display 1234:1111 */
	call cfgread
	cmp $0x11111234, %eax
	jne nodev
	mov $(FBUF_CFG | 0x10), %eax		/* BAR0: VRAM */
	call cfgread
	and $0xfffffff0, %eax
	mov %eax, vram
	mov $(FBUF_CFG | 0x18), %eax		/* BAR2: registers */
	call cfgread
	and $0xfffffff0, %eax
	mov %eax, mmio
	mov $(FBUF_CFG | 0x04), %eax		/* command: memory space enable */
	mov $0xcf8, %dx
	out %eax, %dx
	mov $0xcfc, %dx
	in %dx, %ax
	or $0x0002, %ax
	out %ax, %dx

	/* unreal mode (interrupts are off since _start) */
	lgdt gdtr
	mov %cr0, %eax
	or $1, %al
	mov %eax, %cr0
	jmp 1f					/* flush the prefetch queue, as the 386 wanted */
1:	mov $0x08, %bx
	mov %bx, %ds
	mov %bx, %es
	and $0xfe, %al
	mov %eax, %cr0
	jmp 2f
2:	xor %bx, %bx				/* base 0 again; the 4 GiB limit stays */
	mov %bx, %ds
	mov %bx, %es

	/* mode: disable, 1024x768x32, virtual size the same, enable with the linear framebuffer */
	mov mmio, %ebx
	movw $0, DISPI(4)(%ebx)
	movw $W, DISPI(1)(%ebx)
	movw $H, DISPI(2)(%ebx)
	movw $32, DISPI(3)(%ebx)
	movw $W, DISPI(6)(%ebx)
	movw $H, DISPI(7)(%ebx)
	movw $0x41, DISPI(4)(%ebx)

	/* the pattern, row by row; rows are contiguous (stride W * 4) */
	mov vram, %edi
	xor %ebp, %ebp				/* y */
row:
	/* k = 255 - y * 255 / 2160 */
	mov %ebp, %eax
	imul $255, %eax, %eax
	xor %edx, %edx
	mov $2160, %ecx
	div %ecx
	mov $255, %ecx
	sub %eax, %ecx
	/* the 8 band colours of this row: each channel c becomes c * k / 255 */
	xor %si, %si
3:	mov colours(%si), %ebx
	xor %eax, %eax				/* the scaled colour, built blue to red... */
	push %si
	mov $3, %si
4:	ror $8, %eax				/* ...rotated into place once per channel */
	push %eax
	movzbl %bl, %eax
	imul %ecx, %eax
	xor %edx, %edx
	push %ecx
	mov $255, %ecx
	div %ecx
	pop %ecx
	mov %eax, %edx
	pop %eax
	or %edx, %eax
	shr $8, %ebx
	dec %si
	jnz 4b
	ror $16, %eax				/* blue was or-ed first: rotate B,G,R into 0x00RRGGBB */
	pop %si
	mov %eax, rowcol(%si)
	add $4, %si
	cmp $32, %si
	jb 3b
	/* 8 bands of W / 8 pixels each */
	mov %edi, %edx				/* start of the row, for the checker */
	xor %si, %si
5:	mov rowcol(%si), %eax
	mov $(W / 8), %ecx
	addr32 rep stosl
	add $4, %si
	cmp $32, %si
	jb 5b
	/* the one-pixel checker in the top-left 16x16: white where x + y is odd */
	cmp $16, %ebp
	jae 7f
	xor %ecx, %ecx				/* x */
6:	mov %ecx, %eax
	add %ebp, %eax
	and $1, %eax
	neg %eax				/* 0 or all ones */
	and $0xffffff, %eax
	mov %eax, (%edx,%ecx,4)
	inc %ecx
	cmp $16, %ecx
	jb 6b
7:	inc %ebp
	cmp $H, %ebp
	jb row

	mov $msg, %si
	call puts
halt:
	/* HLT with interrupts off would be bhyve's halt (the VM exits): sleep with them on instead,
	 * every vector a bare iret, nothing programmed to interrupt */
	call ivt_quiet
9:	sti
	hlt
	jmp 9b

nodev:
	mov %eax, %ebx				/* puts clobbers %al */
	mov $s_nodev, %si
	call puts
	mov %ebx, %eax
	call puthex32
	mov $'\n', %al
	call putc
	jmp halt


	.p2align 3
gdt:	.quad 0
	.quad 0x00cf92000000ffff		/* 0x08: data, base 0, limit 4 GiB, writable */
gdtr:	.word gdtr - gdt - 1
	.long gdt
colours:
	.long 0xFF0000, 0x00FF00, 0x0000FF, 0xFFFF00, 0xFF00FF, 0x00FFFF, 0xFFFFFF, 0x808080
rowcol:	.fill 8, 4, 0
vram:	.long 0
mmio:	.long 0
msg:	.asciz "pattern drawn\n"
s_nodev: .asciz "no Bochs display at 0:29.0: "
