/* SPDX-License-Identifier: BSD-2-Clause */
/* The guest's E820 map: the platform layout and entry insertion where the newest entry wins.
 *
 * Layout decisions:
 *  - [0x9FC00, 1 MiB) is reserved: EBDA, VGA window, option ROM and BIOS area (ACPI/MP tables).
 *  - Of the 32-bit hole above low memory only the IOAPIC and LAPIC register pages are reserved.
 *    The rest of the hole stays a gap, as on real machines: Linux picks its PCI MMIO area from
 *    E820 gaps and would clip a host bridge window that overlaps a reserved range. There is no
 *    firmware image in the hole when booting Linux directly, so nothing else is reserved.
 */
#include "boot/e820.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "core/guestmem.h"
#include "core/vm.h"

#define E820_EBDA_START 0x9FC00ULL
#define E820_1M 0x100000ULL
#define E820_APIC_PAGE 0x1000ULL

void e820_build(struct e820_map *m, uint64_t lowmem, uint64_t highmem)
{
	memset(m, 0, sizeof(*m));
	/* At most six entries, all disjoint: e820_add cannot fail here. */
	if (lowmem)
		e820_add(m, 0, lowmem < E820_EBDA_START ? lowmem : E820_EBDA_START, E820_RAM);
	e820_add(m, E820_EBDA_START, E820_1M - E820_EBDA_START, E820_RESERVED);
	if (lowmem > E820_1M)
		e820_add(m, E820_1M, lowmem - E820_1M, E820_RAM);
	e820_add(m, VM_IOAPIC_ADDR, E820_APIC_PAGE, E820_RESERVED);
	e820_add(m, VM_LAPIC_ADDR, E820_APIC_PAGE, E820_RESERVED);
	if (highmem)
		e820_add(m, GM_4G, highmem, E820_RAM);
}

static void sort_by_addr(struct e820_entry *e, int n)
{
	for (int i = 1; i < n; i++) {
		struct e820_entry t = e[i];
		int j = i - 1;
		for (; j >= 0 && e[j].addr > t.addr; j--)
			e[j + 1] = e[j];
		e[j + 1] = t;
	}
}

/* Join neighbours of the same type that touch; returns the new count. */
static int merge_adjacent(struct e820_entry *e, int n)
{
	int out = 0;
	for (int i = 0; i < n; i++) {
		if (out > 0 && e[out - 1].type == e[i].type &&
		    e[out - 1].addr + e[out - 1].size == e[i].addr) {
			e[out - 1].size += e[i].size;
			continue;
		}
		e[out++] = e[i];
	}
	return out;
}

int e820_add(struct e820_map *m, uint64_t addr, uint64_t size, uint32_t type)
{
	if (m->n < 0 || m->n > E820_MAX || size == 0 || type == 0 || size > UINT64_MAX - addr)
		return -EINVAL;
	uint64_t end = addr + size;
	/* Each old entry leaves at most a head and a tail outside [addr, end). */
	struct e820_entry tmp[2 * E820_MAX + 1];
	int n = 0;
	for (int i = 0; i < m->n; i++) {
		const struct e820_entry *o = &m->e[i];
		uint64_t oend = o->addr + o->size;
		if (oend <= addr || o->addr >= end) {
			tmp[n++] = *o;
			continue;
		}
		if (o->addr < addr)
			tmp[n++] = (struct e820_entry){o->addr, addr - o->addr, o->type};
		if (oend > end)
			tmp[n++] = (struct e820_entry){end, oend - end, o->type};
	}
	tmp[n++] = (struct e820_entry){addr, size, type};
	sort_by_addr(tmp, n);
	n = merge_adjacent(tmp, n);
	if (n > E820_MAX)
		return -ENOSPC;
	memcpy(m->e, tmp, (size_t)n * sizeof(tmp[0]));
	m->n = n;
	return 0;
}

uint64_t e820_ram_total(const struct e820_map *m)
{
	uint64_t total = 0;
	for (int i = 0; i < m->n && i < E820_MAX; i++)
		if (m->e[i].type == E820_RAM)
			total += m->e[i].size;
	return total;
}
