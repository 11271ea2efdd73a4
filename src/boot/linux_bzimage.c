/* SPDX-License-Identifier: BSD-2-Clause */
/* bzImage loader: the Linux/x86 boot protocol (>= 2.12) entered at the 64-bit entry point.
 * The protected-mode kernel goes to its preferred address, the zero page (struct boot_params)
 * carries the setup header, command line, initrd and E820 map, and the vCPU starts in long mode
 * on identity-mapped page tables at load address + 0x200 (startup_64) with rsi = zero page. */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "boot/boot.h"
#include "boot/linux_load.h"

/* Setup header, at offset 0x1f1 of the kernel file and of the zero page. */
struct setup_header {
	uint8_t setup_sects;
	uint16_t root_flags;
	uint32_t syssize;
	uint16_t ram_size;
	uint16_t vid_mode;
	uint16_t root_dev;
	uint16_t boot_flag;
	uint16_t jump;
	uint32_t header;
	uint16_t version;
	uint32_t realmode_swtch;
	uint16_t start_sys_seg;
	uint16_t kernel_version;
	uint8_t type_of_loader;
	uint8_t loadflags;
	uint16_t setup_move_size;
	uint32_t code32_start;
	uint32_t ramdisk_image;
	uint32_t ramdisk_size;
	uint32_t bootsect_kludge;
	uint16_t heap_end_ptr;
	uint8_t ext_loader_ver;
	uint8_t ext_loader_type;
	uint32_t cmd_line_ptr;
	uint32_t initrd_addr_max;
	uint32_t kernel_alignment;
	uint8_t relocatable_kernel;
	uint8_t min_alignment;
	uint16_t xloadflags;
	uint32_t cmdline_size;
	uint32_t hardware_subarch;
	uint64_t hardware_subarch_data;
	uint32_t payload_offset;
	uint32_t payload_length;
	uint64_t setup_data;
	uint64_t pref_address;
	uint32_t init_size;
	uint32_t handover_offset;
	uint32_t kernel_info_offset;
} __attribute__((packed));

#define HDR_OFF 0x1f1
#define HDR_AT(field, off)                                                                         \
	static_assert(offsetof(struct setup_header, field) == (off)-HDR_OFF, #field)
HDR_AT(setup_sects, 0x1f1);
HDR_AT(vid_mode, 0x1fa);
HDR_AT(jump, 0x200);
HDR_AT(header, 0x202);
HDR_AT(version, 0x206);
HDR_AT(type_of_loader, 0x210);
HDR_AT(loadflags, 0x211);
HDR_AT(code32_start, 0x214);
HDR_AT(ramdisk_image, 0x218);
HDR_AT(ramdisk_size, 0x21c);
HDR_AT(heap_end_ptr, 0x224);
HDR_AT(cmd_line_ptr, 0x228);
HDR_AT(initrd_addr_max, 0x22c);
HDR_AT(kernel_alignment, 0x230);
HDR_AT(relocatable_kernel, 0x234);
HDR_AT(xloadflags, 0x236);
HDR_AT(cmdline_size, 0x238);
HDR_AT(hardware_subarch, 0x23c);
HDR_AT(setup_data, 0x250);
HDR_AT(pref_address, 0x258);
HDR_AT(init_size, 0x260);
HDR_AT(kernel_info_offset, 0x268);
static_assert(sizeof(struct setup_header) == 0x26c - HDR_OFF, "setup_header size");

struct boot_e820_entry {
	uint64_t addr, size;
	uint32_t type;
} __attribute__((packed));
static_assert(sizeof(struct boot_e820_entry) == 20, "boot_e820_entry size");

#define ZP_E820_MAX 128
#define ZP_HDR_END 0x290 /* room the zero page leaves for the setup header */

/* The zero page; fields this loader does not fill are kept as opaque padding. */
struct boot_params {
	uint8_t screen_info[0x40];
	uint8_t apm_bios_info[0x14];
	uint8_t pad_054[4];
	uint64_t tboot_addr;
	uint8_t ist_info[0x10];
	uint64_t acpi_rsdp_addr;
	uint8_t pad_078[8];
	uint8_t hd_info[0x20];
	uint8_t sys_desc_table[0x10];
	uint8_t olpc_ofw_header[0x10];
	uint32_t ext_ramdisk_image;
	uint32_t ext_ramdisk_size;
	uint32_t ext_cmd_line_ptr;
	uint8_t pad_0cc[0x1e0 - 0x0cc]; /* cc_blob_address, edid_info, efi_info */
	uint32_t alt_mem_k;
	uint32_t scratch;
	uint8_t e820_entries;
	uint8_t eddbuf_entries;
	uint8_t edd_mbr_sig_buf_entries;
	uint8_t kbd_status;
	uint8_t secure_boot;
	uint8_t pad_1ed[2];
	uint8_t sentinel;
	uint8_t pad_1f0;
	struct setup_header hdr;
	uint8_t pad_26c[ZP_HDR_END - 0x26c];
	uint32_t edd_mbr_sig_buffer[16];
	struct boot_e820_entry e820_table[ZP_E820_MAX];
	uint8_t pad_cd0[0x1000 - 0xcd0]; /* eddbuf */
} __attribute__((packed));

#define ZP_AT(field, off) static_assert(offsetof(struct boot_params, field) == (off), #field)
ZP_AT(acpi_rsdp_addr, 0x070);
ZP_AT(ext_ramdisk_image, 0x0c0);
ZP_AT(ext_ramdisk_size, 0x0c4);
ZP_AT(ext_cmd_line_ptr, 0x0c8);
ZP_AT(alt_mem_k, 0x1e0);
ZP_AT(e820_entries, 0x1e8);
ZP_AT(sentinel, 0x1ef);
ZP_AT(hdr, HDR_OFF);
ZP_AT(edd_mbr_sig_buffer, 0x290);
ZP_AT(e820_table, 0x2d0);
static_assert(sizeof(struct boot_params) == 0x1000, "boot_params size");

#define HDRS_MAGIC 0x53726448u /* "HdrS" */
#define MIN_PROTOCOL 0x020c    /* 2.12: xloadflags */
#define ACPI_RSDP_PROTOCOL 0x020e
#define LOADED_HIGH 0x01
#define XLF_KERNEL_64 0x0001
#define XLF_CAN_BE_LOADED_ABOVE_4G 0x0002
#define VID_MODE_NORMAL 0xffff
#define LOADER_TYPE_UNDEFINED 0xff
#define STARTUP_64_OFFSET 0x200
#define SECTOR 512

/* Identity map of [0, 4 GiB) with 2 MiB pages: PML4, PDPT and four page directories. */
#define PT_PRESENT_RW 0x3ULL
#define PT_LARGE 0x80ULL
#define PT_PDPT_ADDR (BOOT_PML4_ADDR + 0x1000)
#define PT_PD_ADDR (BOOT_PML4_ADDR + 0x2000)
#define PT_ENTRIES 512

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v)); /* x86 host: little-endian, as the guest expects */
}

static int write_page_tables(struct linux_load *ld)
{
	uint8_t *pt = gm_ptr(ld->gm, BOOT_PML4_ADDR, 6 * BOOT_PAGE_SIZE);
	if (!pt)
		return boot_fail(ld, -EFAULT, "guest memory too small for the boot page tables");
	memset(pt, 0, 6 * BOOT_PAGE_SIZE);
	put64(pt, PT_PDPT_ADDR | PT_PRESENT_RW);
	uint8_t *pdpt = pt + BOOT_PAGE_SIZE, *pd = pt + 2 * BOOT_PAGE_SIZE;
	for (uint64_t i = 0; i < 4 * PT_ENTRIES; i++) {
		if (i % PT_ENTRIES == 0)
			put64(pdpt + i / PT_ENTRIES * 8,
			      (PT_PD_ADDR + i / PT_ENTRIES * BOOT_PAGE_SIZE) | PT_PRESENT_RW);
		put64(pd + i * 8, (i << 21) | PT_LARGE | PT_PRESENT_RW);
	}
	return 0;
}

/* Where the protected-mode kernel goes: its preferred address when that fits in low RAM, else
 * (relocatable kernels) the lowest suitably aligned address at or above 1 MiB. */
static int choose_load_addr(struct linux_load *ld, const struct setup_header *h, uint64_t need,
			    uint64_t *addr)
{
	uint64_t lowmem = ld->gm->lowmem;
	uint64_t align = h->kernel_alignment;
	bool reloc = h->relocatable_kernel != 0;
	if (reloc && (align < BOOT_PAGE_SIZE || (align & (align - 1)) != 0))
		return boot_fail(ld, -EINVAL, "%s: bad kernel_alignment 0x%llx in the setup header",
				 ld->kernel_path, (unsigned long long)align);
	uint64_t cand[2];
	int n = 0;
	uint64_t pref = h->pref_address;
	if (reloc) {
		if (pref >= BOOT_HIGH_START && pref <= UINT64_MAX - align)
			cand[n++] = (pref + align - 1) & ~(align - 1);
		cand[n++] = (BOOT_HIGH_START + align - 1) & ~(align - 1);
	} else {
		if (pref < BOOT_HIGH_START)
			return boot_fail(
			    ld, -EINVAL,
			    "%s: kernel is not relocatable and wants address 0x%llx below 1 "
			    "MiB",
			    ld->kernel_path, (unsigned long long)pref);
		cand[n++] = pref;
	}
	for (int i = 0; i < n; i++) {
		if (cand[i] < lowmem && need <= lowmem - cand[i] &&
		    boot_range_is_ram(ld, cand[i], need)) {
			*addr = cand[i];
			return 0;
		}
	}
	return boot_fail(ld, -ENOMEM,
			 "%s: kernel needs %llu bytes at 0x%llx, more than guest low memory (%llu "
			 "bytes) holds",
			 ld->kernel_path, (unsigned long long)need, (unsigned long long)cand[0],
			 (unsigned long long)lowmem);
}

int linux_load_bzimage(struct linux_load *ld, struct boot_cpu_state *out)
{
	const uint8_t *k = ld->kernel;
	size_t ksize = ld->kernel_size;
	const char *path = ld->kernel_path;

	/* The header's end is given by the jump at 0x200: 0x202 + its displacement byte. */
	if (ksize < 0x202 + 4 + 2)
		return boot_fail(ld, -EINVAL, "%s: truncated bzImage setup header", path);
	uint16_t version = (uint16_t)(k[0x206] | k[0x207] << 8);
	if (version < MIN_PROTOCOL)
		return boot_fail(ld, -EINVAL,
				 "%s: boot protocol %u.%02u is too old (64-bit entry needs 2.12+)",
				 path, (unsigned)version >> 8, (unsigned)version & 0xff);
	size_t hdr_end = 0x202 + (size_t)k[0x201];
	if (hdr_end < offsetof(struct setup_header, handover_offset) + HDR_OFF || hdr_end > ksize)
		return boot_fail(ld, -EINVAL, "%s: truncated bzImage setup header", path);
	if (hdr_end > ZP_HDR_END)
		hdr_end = ZP_HDR_END;

	struct boot_params zp;
	memset(&zp, 0, sizeof(zp));
	memcpy((uint8_t *)&zp + HDR_OFF, k + HDR_OFF, hdr_end - HDR_OFF);
	struct setup_header *h = &zp.hdr;

	if (!(h->loadflags & LOADED_HIGH))
		return boot_fail(ld, -EINVAL, "%s: kernel does not load high (LOADED_HIGH clear)",
				 path);
	if (!(h->xloadflags & XLF_KERNEL_64))
		return boot_fail(ld, -EINVAL,
				 "%s: kernel has no 64-bit entry point (XLF_KERNEL_64)", path);
	uint64_t setup_size = ((uint64_t)(h->setup_sects ? h->setup_sects : 4) + 1) * SECTOR;
	if (ksize <= setup_size)
		return boot_fail(ld, -EINVAL, "%s: truncated bzImage (no protected-mode kernel)",
				 path);
	uint64_t pm_size = ksize - setup_size;
	uint64_t need = pm_size > h->init_size ? pm_size : h->init_size;

	uint64_t load = 0;
	int rc = choose_load_addr(ld, h, need, &load);
	if (rc)
		return rc;
	rc = boot_write_cmdline(ld, h->cmdline_size);
	if (rc)
		return rc;
	uint64_t initrd_limit = (h->xloadflags & XLF_CAN_BE_LOADED_ABOVE_4G)
				    ? UINT64_MAX
				    : (uint64_t)h->initrd_addr_max + 1;
	if (initrd_limit > ld->gm->lowmem)
		initrd_limit = ld->gm->lowmem;
	uint64_t initrd = 0;
	rc = boot_load_initrd(ld, load + need, initrd_limit, &initrd);
	if (rc)
		return rc;
	if (gm_write(ld->gm, load, k + setup_size, pm_size) != 0)
		return boot_fail(ld, -EFAULT, "%s: kernel does not fit in guest memory", path);

	h->vid_mode = VID_MODE_NORMAL;
	h->type_of_loader = LOADER_TYPE_UNDEFINED;
	h->code32_start = (uint32_t)load;
	h->cmd_line_ptr = BOOT_CMDLINE_ADDR;
	h->ramdisk_image = (uint32_t)initrd;
	h->ramdisk_size = ld->initrd_fd >= 0 ? (uint32_t)ld->initrd_size : 0;
	zp.ext_ramdisk_image = (uint32_t)(initrd >> 32);
	zp.ext_ramdisk_size = ld->initrd_fd >= 0 ? (uint32_t)(ld->initrd_size >> 32) : 0;
	h->hardware_subarch = 0; /* a plain PC */
	h->hardware_subarch_data = 0;
	h->setup_data = 0; /* a pointer the kernel follows: never pass on the file's value */
	if (version >= ACPI_RSDP_PROTOCOL)
		zp.acpi_rsdp_addr = ld->rsdp_gpa;
	const struct e820_map *m = ld->e820;
	for (int i = 0; i < m->n && i < ZP_E820_MAX; i++)
		zp.e820_table[i] =
		    (struct boot_e820_entry){m->e[i].addr, m->e[i].size, m->e[i].type};
	zp.e820_entries = (uint8_t)m->n;
	if (gm_write(ld->gm, BOOT_ZERO_PAGE_ADDR, &zp, sizeof(zp)) != 0)
		return boot_fail(ld, -EFAULT, "guest memory too small for the zero page");

	rc = write_page_tables(ld);
	if (rc)
		return rc;
	rc = boot_write_gdt(ld, BOOT_GDT_CODE64, out);
	if (rc)
		return rc;
	out->mode = BOOT_MODE_LONG64;
	out->rip = load + STARTUP_64_OFFSET;
	out->rsi = BOOT_ZERO_PAGE_ADDR;
	out->rsp = BOOT_STACK_TOP;
	out->rbx = 0;
	out->cr3 = BOOT_PML4_ADDR;
	return 0;
}
