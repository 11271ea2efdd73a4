/* SPDX-License-Identifier: BSD-2-Clause */
/* PVH loader: an uncompressed ELF vmlinux entered at its XEN_ELFNOTE_PHYS32_ENTRY address in
 * 32-bit flat protected mode with ebx = struct hvm_start_info (the Xen PVH start-of-day ABI,
 * version 1: command line, initrd as module 0, RSDP and the memory map).
 * The ELF file is untrusted: every header, segment and note is bounds-checked against it. */
#include <assert.h>
#include <elf.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "boot/boot.h"
#include "boot/linux_load.h"

#define HVM_START_MAGIC 0x336ec578u
#define HVM_START_VERSION 1
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define MAX_PHDRS 256

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr; /* version 1 */
	uint32_t memmap_entries;
	uint32_t reserved;
};
static_assert(offsetof(struct hvm_start_info, nr_modules) == 0x0c, "nr_modules");
static_assert(offsetof(struct hvm_start_info, modlist_paddr) == 0x10, "modlist_paddr");
static_assert(offsetof(struct hvm_start_info, cmdline_paddr) == 0x18, "cmdline_paddr");
static_assert(offsetof(struct hvm_start_info, rsdp_paddr) == 0x20, "rsdp_paddr");
static_assert(offsetof(struct hvm_start_info, memmap_paddr) == 0x28, "memmap_paddr");
static_assert(offsetof(struct hvm_start_info, memmap_entries) == 0x30, "memmap_entries");
static_assert(sizeof(struct hvm_start_info) == 0x38, "hvm_start_info size");

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};
static_assert(sizeof(struct hvm_modlist_entry) == 32, "hvm_modlist_entry size");

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type; /* same numbering as E820 */
	uint32_t reserved;
};
static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "hvm_memmap_table_entry size");

/* Layout of the start-of-day block at BOOT_PVH_INFO_ADDR (one page). */
#define PVH_MODLIST_ADDR (BOOT_PVH_INFO_ADDR + 0x40)
#define PVH_MEMMAP_ADDR (PVH_MODLIST_ADDR + sizeof(struct hvm_modlist_entry))
static_assert(sizeof(struct hvm_start_info) <= 0x40, "start_info overlaps the module list");
static_assert(PVH_MEMMAP_ADDR - BOOT_PVH_INFO_ADDR +
		      E820_MAX * sizeof(struct hvm_memmap_table_entry) <=
		  0x1000,
	      "PVH block larger than its page");
static_assert(BOOT_PVH_INFO_ADDR + 0x1000 <= BOOT_ZERO_PAGE_ADDR, "PVH block overlaps");

/* [off, off+len) lies inside a file of `size` bytes (overflow-safe). */
static bool in_file(uint64_t off, uint64_t len, size_t size)
{
	return off <= size && len <= size - off;
}

static int check_ehdr(struct linux_load *ld, Elf64_Ehdr *eh)
{
	const char *path = ld->kernel_path;
	if (ld->kernel_size < sizeof(*eh))
		return boot_fail(ld, -EINVAL, "%s: truncated ELF header", path);
	memcpy(eh, ld->kernel, sizeof(*eh));
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_ident[EI_VERSION] != EV_CURRENT || eh->e_machine != EM_X86_64 ||
	    eh->e_version != EV_CURRENT)
		return boot_fail(ld, -EINVAL, "%s: not an x86-64 little-endian ELF64 file", path);
	if (eh->e_type != ET_EXEC)
		return boot_fail(ld, -EINVAL, "%s: ELF file is not an executable (vmlinux)", path);
	if (eh->e_ehsize != sizeof(Elf64_Ehdr) || eh->e_phentsize != sizeof(Elf64_Phdr) ||
	    eh->e_phnum == 0 || eh->e_phnum > MAX_PHDRS ||
	    !in_file(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr), ld->kernel_size))
		return boot_fail(ld, -EINVAL, "%s: bad ELF program header table", path);
	return 0;
}

static void read_phdr(const struct linux_load *ld, const Elf64_Ehdr *eh, int i, Elf64_Phdr *ph)
{
	memcpy(ph, ld->kernel + eh->e_phoff + (uint64_t)i * sizeof(*ph), sizeof(*ph));
}

/* Scan one PT_NOTE segment for the PVH entry note. 1 found, 0 not there, <0 malformed. */
static int find_entry_note(struct linux_load *ld, const Elf64_Phdr *ph, uint64_t *entry)
{
	static const char xen[4] = "Xen"; /* with its NUL, as namesz counts it */
	uint64_t align = ph->p_align == 8 ? 8 : 4;
	const uint8_t *p = ld->kernel + ph->p_offset;
	uint64_t left = ph->p_filesz;
	while (left >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nh;
		memcpy(&nh, p, sizeof(nh));
		uint64_t name_len = ((uint64_t)nh.n_namesz + align - 1) & ~(align - 1);
		uint64_t desc_len = ((uint64_t)nh.n_descsz + align - 1) & ~(align - 1);
		if (name_len > left - sizeof(nh) || desc_len > left - sizeof(nh) - name_len)
			return boot_fail(ld, -EINVAL, "%s: malformed ELF note", ld->kernel_path);
		const uint8_t *name = p + sizeof(nh), *desc = name + name_len;
		if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == sizeof(xen) &&
		    memcmp(name, xen, sizeof(xen)) == 0) {
			if (nh.n_descsz == 4) {
				uint32_t v;
				memcpy(&v, desc, 4);
				*entry = v;
			} else if (nh.n_descsz == 8) {
				memcpy(entry, desc, 8);
			} else {
				return boot_fail(ld, -EINVAL, "%s: malformed PVH entry note",
						 ld->kernel_path);
			}
			return 1;
		}
		p += sizeof(nh) + name_len + desc_len;
		left -= sizeof(nh) + name_len + desc_len;
	}
	return 0;
}

/* Validate all program headers; find the entry note and the end of the loaded image. */
static int scan_phdrs(struct linux_load *ld, const Elf64_Ehdr *eh, uint64_t *entry,
		      uint64_t *image_end)
{
	const char *path = ld->kernel_path;
	uint64_t lowmem = ld->gm->lowmem;
	bool have_entry = false, have_load = false;
	*image_end = 0;
	for (int i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;
		read_phdr(ld, eh, i, &ph);
		if (ph.p_type == PT_NOTE) {
			if (!in_file(ph.p_offset, ph.p_filesz, ld->kernel_size))
				return boot_fail(ld, -EINVAL,
						 "%s: ELF note segment %d lies outside the file",
						 path, i);
			if (have_entry)
				continue;
			int rc = find_entry_note(ld, &ph, entry);
			if (rc < 0)
				return rc;
			have_entry = rc == 1;
			continue;
		}
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if (ph.p_filesz > ph.p_memsz)
			return boot_fail(ld, -EINVAL, "%s: ELF segment %d has p_filesz > p_memsz",
					 path, i);
		if (!in_file(ph.p_offset, ph.p_filesz, ld->kernel_size))
			return boot_fail(ld, -EINVAL, "%s: ELF segment %d lies outside the file",
					 path, i);
		if (ph.p_paddr < BOOT_HIGH_START || ph.p_paddr >= lowmem ||
		    ph.p_memsz > lowmem - ph.p_paddr ||
		    !boot_range_is_ram(ld, ph.p_paddr, ph.p_memsz))
			return boot_fail(
			    ld, -ENOMEM,
			    "%s: ELF segment %d at 0x%llx-0x%llx is not in guest low RAM "
			    "above 1 MiB (guest low memory ends at 0x%llx)",
			    path, i, (unsigned long long)ph.p_paddr,
			    (unsigned long long)(ph.p_paddr + ph.p_memsz),
			    (unsigned long long)lowmem);
		have_load = true;
		if (ph.p_paddr + ph.p_memsz > *image_end)
			*image_end = ph.p_paddr + ph.p_memsz;
	}
	if (!have_load)
		return boot_fail(ld, -EINVAL, "%s: ELF file has no loadable segment", path);
	if (!have_entry)
		return boot_fail(ld, -EINVAL,
				 "%s: ELF kernel has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); "
				 "build it with CONFIG_PVH=y or boot the bzImage",
				 path);
	/* The entry must be code that this loader actually puts into memory. */
	for (int i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;
		read_phdr(ld, eh, i, &ph);
		if (ph.p_type == PT_LOAD && *entry >= ph.p_paddr &&
		    *entry - ph.p_paddr < ph.p_filesz)
			return 0;
	}
	return boot_fail(ld, -EINVAL, "%s: PVH entry 0x%llx is outside the loaded segments", path,
			 (unsigned long long)*entry);
}

static int write_start_info(struct linux_load *ld, uint64_t initrd)
{
	struct hvm_start_info si = {
	    .magic = HVM_START_MAGIC,
	    .version = HVM_START_VERSION,
	    .cmdline_paddr = BOOT_CMDLINE_ADDR,
	    .rsdp_paddr = ld->rsdp_gpa,
	    .memmap_paddr = PVH_MEMMAP_ADDR,
	    .memmap_entries = (uint32_t)ld->e820->n,
	};
	if (ld->initrd_fd >= 0) {
		struct hvm_modlist_entry mod = {.paddr = initrd, .size = ld->initrd_size};
		si.nr_modules = 1;
		si.modlist_paddr = PVH_MODLIST_ADDR;
		if (gm_write(ld->gm, PVH_MODLIST_ADDR, &mod, sizeof(mod)) != 0)
			return boot_fail(ld, -EFAULT, "guest memory too small for PVH start info");
	}
	for (int i = 0; i < ld->e820->n; i++) {
		const struct e820_entry *e = &ld->e820->e[i];
		struct hvm_memmap_table_entry me = {
		    .addr = e->addr, .size = e->size, .type = e->type};
		if (gm_write(ld->gm, PVH_MEMMAP_ADDR + (uint64_t)i * sizeof(me), &me, sizeof(me)) !=
		    0)
			return boot_fail(ld, -EFAULT, "guest memory too small for PVH start info");
	}
	if (gm_write(ld->gm, BOOT_PVH_INFO_ADDR, &si, sizeof(si)) != 0)
		return boot_fail(ld, -EFAULT, "guest memory too small for PVH start info");
	return 0;
}

int linux_load_pvh(struct linux_load *ld, struct boot_cpu_state *out)
{
	Elf64_Ehdr eh;
	int rc = check_ehdr(ld, &eh);
	if (rc)
		return rc;
	uint64_t entry = 0, image_end = 0;
	rc = scan_phdrs(ld, &eh, &entry, &image_end);
	if (rc)
		return rc;
	rc = boot_write_cmdline(ld, BOOT_CMDLINE_MAX - 1);
	if (rc)
		return rc;
	uint64_t floor = (image_end + BOOT_PAGE_SIZE - 1) & ~(BOOT_PAGE_SIZE - 1);
	uint64_t initrd = 0;
	rc = boot_load_initrd(ld, floor, ld->gm->lowmem, &initrd);
	if (rc)
		return rc;
	/* Checked by scan_phdrs: inside the file and inside guest RAM. */
	for (int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		read_phdr(ld, &eh, i, &ph);
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		uint8_t *dst = gm_ptr(ld->gm, ph.p_paddr, ph.p_memsz);
		if (!dst)
			return boot_fail(ld, -EFAULT, "%s: segment %d does not fit",
					 ld->kernel_path, i);
		memcpy(dst, ld->kernel + ph.p_offset, ph.p_filesz);
		memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
	}
	rc = write_start_info(ld, initrd);
	if (rc)
		return rc;
	rc = boot_write_gdt(ld, BOOT_GDT_CODE32, out);
	if (rc)
		return rc;
	out->mode = BOOT_MODE_PROT32_FLAT;
	out->rip = entry;
	out->rbx = BOOT_PVH_INFO_ADDR;
	out->rsp = BOOT_STACK_TOP;
	out->rsi = 0;
	out->cr3 = 0;
	return 0;
}
