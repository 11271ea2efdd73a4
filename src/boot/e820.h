/* SPDX-License-Identifier: BSD-2-Clause */
/* The guest's physical memory map (E820), shared by boot_params, PVH start_info and tests. */
#ifndef KB_E820_H
#define KB_E820_H

#include <stdint.h>

#define E820_RAM 1
#define E820_RESERVED 2
#define E820_ACPI 3
#define E820_MAX 32

struct e820_entry {
	uint64_t addr, size;
	uint32_t type;
};

struct e820_map {
	int n;
	struct e820_entry e[E820_MAX];
};

/* RAM [0, 0x9FC00), reserved 0x9FC00-0x100000 (EBDA, VGA, BIOS area incl. ACPI/MP tables),
 * RAM [1 MiB, lowmem), reserved for the IOAPIC/LAPIC/firmware page range, RAM [4G, 4G+highmem). */
void e820_build(struct e820_map *m, uint64_t lowmem, uint64_t highmem);
/* Add an entry keeping the map sorted; overlapping entries are split so `type` wins. -ENOSPC if full. */
int e820_add(struct e820_map *m, uint64_t addr, uint64_t size, uint32_t type);
/* Sum of E820_RAM bytes. */
uint64_t e820_ram_total(const struct e820_map *m);

#endif
