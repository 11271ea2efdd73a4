/* fw_cfg items of a firmware boot (see fwcfg_items.h). */
#include "boot/fwcfg_items.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acpi/acpi_loader.h"
#include "core/byteorder.h"
#include "core/vm.h"
#include "devices/fw_cfg.h"

/* QEMU reserves KVM's TSS and identity map (just below the flash window) in etc/e820 too. */
#define KVM_PRIVATE_BASE 0xFEFFC000ULL
#define KVM_PRIVATE_SIZE 0x4000ULL
#define E820_ENTRY 20 /* packed {u64 base, u64 length, u32 type} */

static void put_e820(uint8_t *p, uint64_t base, uint64_t len, uint32_t type)
{
	put_le64(p, base);
	put_le64(p + 8, len);
	put_le32(p + 16, type);
}

static void fwcfg_teardown(void *opaque)
{
	fw_cfg_fini(opaque);
	free(opaque);
}

int fwcfg_setup(struct vm *vm, const struct acpi_platform *acpi, char *err, size_t errlen)
{
	struct fw_cfg *fc = malloc(sizeof(*fc));
	if (!fc || fw_cfg_init(fc, &vm->mem) < 0) {
		free(fc);
		snprintf(err, errlen, "fw_cfg: out of memory");
		return -ENOMEM;
	}
	int rc = vm_at_destroy(vm, fwcfg_teardown, fc);
	if (rc) {
		fwcfg_teardown(fc);
		snprintf(err, errlen, "fw_cfg: out of memory");
		return rc;
	}
	uint8_t cpus[2];
	put_le16(cpus, (uint16_t)vm->nvcpus);
	uint8_t e820[3 * E820_ENTRY];
	size_t n = 0;
	put_e820(e820 + n++ * E820_ENTRY, 0, vm->mem.lowmem, 1 /* RAM */);
	if (vm->mem.highmem)
		put_e820(e820 + n++ * E820_ENTRY, GM_4G, vm->mem.highmem, 1);
	put_e820(e820 + n++ * E820_ENTRY, KVM_PRIVATE_BASE, KVM_PRIVATE_SIZE, 2 /* reserved */);
	rc = fw_cfg_add_item(fc, FW_CFG_NB_CPUS, cpus, sizeof(cpus));
	if (rc == 0)
		rc = fw_cfg_add_item(fc, FW_CFG_MAX_CPUS, cpus, sizeof(cpus));
	if (rc == 0)
		rc = fw_cfg_add_file(fc, "etc/e820", e820, (uint32_t)(n * E820_ENTRY));
	/* ACPI: OVMF installs only the tables a loader script describes (no in-memory scan) */
	struct acpi_loader_blobs acpi_blobs;
	if (rc == 0) {
		rc = acpi_loader_build(acpi, &acpi_blobs);
		if (rc) {
			snprintf(err, errlen, "fw_cfg: cannot build the ACPI tables: %s",
				 strerror(-rc));
			return rc;
		}
		rc = fw_cfg_add_file(fc, ACPI_LOADER_TABLES_FILE, acpi_blobs.tables,
				     (uint32_t)acpi_blobs.tables_len);
		if (rc == 0)
			rc = fw_cfg_add_file(fc, ACPI_LOADER_RSDP_FILE, acpi_blobs.rsdp,
					     sizeof(acpi_blobs.rsdp));
		if (rc == 0)
			rc = fw_cfg_add_file(fc, ACPI_LOADER_SCRIPT_FILE, acpi_blobs.script,
					     (uint32_t)acpi_blobs.script_len);
		acpi_loader_free(&acpi_blobs);
	}
	if (rc == 0)
		rc = iobus_register(&vm->bus, IOBUS_PIO, FW_CFG_PORT_SEL, 2, fw_cfg_io, fc,
				    "fw_cfg");
	if (rc == 0)
		rc = iobus_register(&vm->bus, IOBUS_PIO, FW_CFG_PORT_DMA, 8, fw_cfg_dma_io, fc,
				    "fw_cfg_dma");
	if (rc)
		snprintf(err, errlen, "fw_cfg: cannot set up: %s", strerror(-rc));
	return rc;
}
