/* SPDX-License-Identifier: BSD-2-Clause */
/* ACPI tables for firmware that takes them over fw_cfg (edk2's OVMF): QEMU's "linker/loader"
 * scheme. The tables go into one blob (etc/acpi/tables) whose pointer fields hold offsets into
 * it, the RSDP into a second one (etc/acpi/rsdp), and etc/table-loader lists the commands that
 * tell the firmware to allocate both, turn the offsets into addresses and fill in checksums. */
#ifndef KB_ACPI_LOADER_H
#define KB_ACPI_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "acpi/acpi.h"

#define ACPI_LOADER_TABLES_FILE "etc/acpi/tables"
#define ACPI_LOADER_RSDP_FILE "etc/acpi/rsdp"
#define ACPI_LOADER_SCRIPT_FILE "etc/table-loader"

/* The script's 128-byte entries (little-endian): a u32 command, then its fields. */
#define ACPI_LOADER_ENTRY 128
#define ACPI_LOADER_NAME 56	   /* file names, NUL included */
#define ACPI_LOADER_ALLOCATE 1	   /* file, u32 alignment, u8 zone */
#define ACPI_LOADER_ADD_POINTER 2  /* pointer file, pointee file, u32 offset, u8 size */
#define ACPI_LOADER_ADD_CHECKSUM 3 /* file, u32 result offset, u32 start, u32 length */
#define ACPI_LOADER_ZONE_HIGH 1
#define ACPI_LOADER_ZONE_FSEG 2

struct acpi_loader_blobs {
	uint8_t *tables;
	size_t tables_len;
	uint8_t rsdp[36];
	uint8_t *script;
	size_t script_len;
};

/* Build the three blobs for platform p. 0, or -EINVAL / -ENOMEM / -ENOSPC. */
int acpi_loader_build(const struct acpi_platform *p, struct acpi_loader_blobs *out);
void acpi_loader_free(struct acpi_loader_blobs *b);

#endif
