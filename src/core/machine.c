/* SPDX-License-Identifier: BSD-2-Clause */
#include "core/machine.h"

#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acpi/acpi.h"
#include "boot/boot.h"
#include "boot/fwcfg_items.h"
#include "core/log.h"
#include "core/vcpu.h"
#include "core/vm.h"
#include "pci/pci.h"

DEVSET_DECLARE(platform_devices);

static int cmp_order(const void *a, const void *b)
{
	const struct platform_device *x = *(const struct platform_device *const *)a;
	const struct platform_device *y = *(const struct platform_device *const *)b;
	return (x->order > y->order) - (x->order < y->order);
}

int machine_init_devices(struct vm *vm, char *err, size_t errlen)
{
	const struct platform_device *d, *list[64];
	size_t n = 0;
	DEVSET_FOREACH(platform_devices, const struct platform_device *, d)
	if (n < sizeof(list) / sizeof(list[0]))
		list[n++] = d;
	qsort(list, n, sizeof(list[0]), cmp_order);
	for (size_t i = 0; i < n; i++) {
		unsigned long logged = kb_log_lines();
		int rc = list[i]->init(vm);
		if (rc) {
			if (kb_log_lines() != logged)
				err[0] = '\0'; /* the device logged the one line that says why */
			else
				snprintf(err, errlen, "device %s failed to initialise: %s",
					 list[i]->name, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

/* The host's physical address width (CPUID 0x80000008), which KVM passes on to the guest. */
static unsigned phys_addr_bits(void)
{
	unsigned a, b, c, d;
	if (__get_cpuid(0x80000008, &a, &b, &c, &d)) /* 0 when the CPU has no such leaf */
		return a & 0xff;
	return 36;
}

/* The platform the ACPI tables describe; the caller frees p->apic_ids. */
static int acpi_platform_of(struct vm *vm, struct acpi_platform *p)
{
	uint32_t *ids = calloc((size_t)vm->nvcpus, sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	uint32_t max_id = 0;
	for (int i = 0; i < vm->nvcpus; i++) {
		ids[i] = vm_apic_id(vm, i);
		if (ids[i] > max_id)
			max_id = ids[i];
	}
	*p = (struct acpi_platform){
	    .ncpus = vm->nvcpus,
	    .apic_ids = ids,
	    .ioapic_addr = VM_IOAPIC_ADDR,
	    .ioapic_id = (uint8_t)(max_id + 1 < 255 ? max_id + 1 : 0),
	    .pci_io = {PCI_IO_BASE, PCI_IO_LIMIT - PCI_IO_BASE},
	    .pci_mem32 = {PCI_MEM32_BASE, PCI_MEM32_LIMIT - PCI_MEM32_BASE},
	    .pci_mem64 = {pci_mem64_base(vm), PCI_MEM64_SIZE},
	    .intx_gsi = pci_intx_gsi,
	    .oem_id = "BHYVE ",
	    .pci_dsdt = pci_write_dsdt,
	    .pci_dsdt_opaque = vm,
	};
	if (vm->bootrom) {
		/* The firmware places every BAR itself. OVMF (uefi.md §4): 32-bit ones in
		 * [4 GiB - 2^k, 0xFC000000) with 2^k the largest power of two not above
		 * 4 GiB - lowmem, 64-bit ones from the 32 GiB-aligned end of RAM up to, at most,
		 * the physical address width. SeaBIOS: 32-bit ones downwards from the IOAPIC
		 * (0xFEC00000) to at least 2 or 3 GiB (by RAM size), 64-bit ones (when the 32-bit
		 * window is full) from the end of RAM above 4 GiB. _CRS covers both, so an OS
		 * keeps the firmware's assignment. */
		uint64_t gap = GM_4G - vm->mem.lowmem, pow = 1;
		while (pow * 2 <= gap)
			pow *= 2;
		p->pci_mem32.base = GM_4G - pow;
		p->pci_mem32.size = VM_IOAPIC_ADDR - p->pci_mem32.base;
		p->pci_mem64.base = GM_4G + vm->mem.highmem;
		unsigned bits = phys_addr_bits();
		uint64_t top = 1ULL << (bits < 36 ? 36 : bits > 52 ? 52 : bits);
		p->pci_mem64.size = top > p->pci_mem64.base ? top - p->pci_mem64.base : 0;
	}
	return 0;
}

static int build_firmware_tables(struct vm *vm, uint64_t *rsdp, char *err, size_t errlen)
{
	struct acpi_platform p;
	if (acpi_platform_of(vm, &p) < 0)
		return -ENOMEM;
	uint32_t *ids = (uint32_t *)p.apic_ids;
	int rc = 0;
	uint8_t *buf = gm_ptr(&vm->mem, ACPI_TABLES_ADDR, ACPI_TABLES_MAX);
	long used = buf ? acpi_build(&p, buf, ACPI_TABLES_ADDR, ACPI_TABLES_MAX, rsdp) : -EFAULT;
	if (used < 0) {
		snprintf(err, errlen, "cannot build ACPI tables: %s", strerror((int)-used));
		rc = (int)used;
		goto out;
	}
	bool mptable = true;
	config_get_bool(vm->cfg, "x86.mptable", true, &mptable);
	if (mptable) {
		buf = gm_ptr(&vm->mem, MPTABLE_ADDR, MPTABLE_MAX);
		used = buf ? mptable_build(&p, buf, MPTABLE_ADDR, MPTABLE_MAX) : -EFAULT;
		if (used < 0) {
			snprintf(err, errlen, "cannot build the MP table: %s",
				 strerror((int)-used));
			rc = (int)used;
		}
	}
out:
	free(ids);
	return rc;
}

/* boot.raw: a flat binary entered in real mode at boot.raw.addr (tiny test guests). */
static int boot_raw(struct vm *vm, const char *path, char *err, size_t errlen)
{
	long long addr;
	if (config_get_int(vm->cfg, "boot.raw.addr", 0x8000, &addr) < 0 || addr < 0x500 ||
	    addr > 0xFFFF) {
		snprintf(err, errlen, "boot.raw.addr: must be a number in 0x500-0xFFFF");
		return -EINVAL;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	struct stat st;
	uint64_t room = 0xA0000 - (uint64_t)addr; /* conventional memory below the VGA hole */
	int rc = 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		rc = -EINVAL;
	} else if ((uint64_t)st.st_size > room ||
		   (uint64_t)st.st_size > vm->mem.lowmem - (uint64_t)addr) {
		snprintf(err, errlen, "%s: %lld bytes do not fit below 640 KiB at %#llx", path,
			 (long long)st.st_size, addr);
		rc = -EFBIG;
	} else {
		uint8_t *dst = gm_ptr(&vm->mem, (uint64_t)addr, (uint64_t)st.st_size);
		ssize_t got = dst ? read(fd, dst, (size_t)st.st_size) : -1;
		if (got != st.st_size) {
			snprintf(err, errlen, "%s: short read", path);
			rc = -EIO;
		}
	}
	close(fd);
	if (rc == 0)
		rc = vcpu_set_real_mode(vm->vcpus[0], (uint16_t)addr);
	return rc;
}

static int boot_kernel(struct vm *vm, uint64_t rsdp, char *err, size_t errlen)
{
	const char *kernel = config_get(vm->cfg, "boot.kernel");
	if (!kernel || !*kernel) {
		snprintf(err, errlen,
			 "nothing to boot: give a kernel with -o boot.kernel=PATH "
			 "or firmware with -l bootrom,CODE[,VARS]");
		return -EINVAL;
	}
	struct e820_map map;
	e820_build(&map, vm->mem.lowmem, vm->mem.highmem);
	struct boot_params_in in = {
	    .kernel_path = kernel,
	    .initrd_path = config_get(vm->cfg, "boot.initrd"),
	    .cmdline = config_get(vm->cfg, "boot.cmdline"),
	    .rsdp_gpa = rsdp,
	    .e820 = &map,
	};
	struct boot_cpu_state st;
	int rc = boot_linux(&vm->mem, &in, &st, err, errlen);
	if (rc)
		return rc;
	rc = vcpu_set_boot_state(vm->vcpus[0], &st);
	if (rc)
		snprintf(err, errlen, "cannot set the boot vCPU state: %s", strerror(-rc));
	return rc;
}

/* The chipset edk2's OVMF expects (uefi.md §4): PIIX4 PM at 0:1.3 (added here) and an i440FX
 * host bridge at 0:0.0 (the hostbridge emulations take that identity with a boot ROM). */
static int add_firmware_chipset(struct vm *vm, char *err, size_t errlen)
{
	if (config_node(vm->cfg, "pci.0.1.3")) {
		snprintf(err, errlen,
			 "pci.0.1.3: with a boot ROM this function is the chipset's "
			 "PM device (PIIX4); put the device in another slot");
		return -EINVAL;
	}
	if (config_set(vm->cfg, "pci.0.1.3.device", "piix4-pm") < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

int machine_setup(struct vm *vm, char *err, size_t errlen)
{
	int rc = machine_init_devices(vm, err, errlen);
	if (rc)
		return rc;
	if (vm->bootrom) {
		rc = add_firmware_chipset(vm, err, errlen);
		if (rc)
			return rc;
	}
	rc = pci_init_all(vm);
	if (rc) {
		err[0] = '\0'; /* the bus or the device has logged the one line that says why */
		return rc;
	}
	if (vm->bootrom && !pci_find_dev(vm, 0, 0, 0)) {
		snprintf(err, errlen,
			 "a boot ROM needs a host bridge at 0:0.0 (-s 0,hostbridge): "
			 "the firmware identifies the machine by it");
		return -EINVAL;
	}
	/* Firmware boot: the BSP stays in KVM's reset state (real mode, CS base 0xffff0000, IP
	 * 0xfff0: the ROM's reset vector), the APs wait for INIT-SIPI, and the firmware finds
	 * memory and the machine itself; no direct-boot tables or register presets. */
	if (vm->bootrom) {
		const char *fwcfg = config_get(vm->cfg, "lpc.fwcfg");
		if (fwcfg && strcmp(fwcfg, "qemu") == 0) {
			struct acpi_platform p;
			if (acpi_platform_of(vm, &p) < 0) {
				snprintf(err, errlen, "out of memory");
				return -ENOMEM;
			}
			p.fw_cfg = true;
			rc = fwcfg_setup(vm, &p, err, errlen);
			free((void *)p.apic_ids);
			return rc;
		}
		if (fwcfg_has_user_items(vm->cfg)) {
			snprintf(err, errlen,
				 "-f: fw_cfg files need QEMU's interface "
				 "(-l bootrom,...,fwcfg=qemu)");
			return -EINVAL;
		}
		/* bhyve's own interface (its default) serves FreeBSD's BhyvePkg firmware only */
		kb_log("lpc.fwcfg=%s: bhyve's own fw_cfg interface is not emulated, the firmware "
		       "gets none (Debian's OVMF needs fwcfg=qemu)",
		       fwcfg ? fwcfg : "bhyve");
		return 0;
	}
	if (fwcfg_has_user_items(vm->cfg)) {
		snprintf(err, errlen,
			 "-f: fw_cfg files are for a firmware boot "
			 "(-l bootrom,...,fwcfg=qemu)");
		return -EINVAL;
	}
	uint64_t rsdp = 0;
	rc = build_firmware_tables(vm, &rsdp, err, errlen);
	if (rc)
		return rc;
	const char *raw = config_get(vm->cfg, "boot.raw");
	if (raw && *raw)
		return boot_raw(vm, raw, err, errlen);
	return boot_kernel(vm, rsdp, err, errlen);
}
