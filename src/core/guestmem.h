/* SPDX-License-Identifier: BSD-2-Clause */
/* Guest physical memory: RAM below the PCI hole and above 4 GiB, one host mapping. */
#ifndef KB_GUESTMEM_H
#define KB_GUESTMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GM_4G 0x100000000ULL
/* bhyve puts the top of low memory at 3 GiB; the hole above holds PCI MMIO, IOAPIC, LAPIC. */
#define GM_LOWMEM_LIMIT 0xC0000000ULL
/* host alignment of guest RAM: a huge page (2 MiB), so that KVM can map it with huge pages */
#define GM_HUGE_ALIGN 0x200000ULL

struct guestmem {
	uint8_t *host;    /* one mapping: [0, lowmem) then [4G, 4G + highmem) */
	uint64_t size;    /* total RAM bytes = lowmem + highmem */
	uint64_t lowmem;  /* RAM bytes mapped at guest-physical 0 */
	uint64_t highmem; /* RAM bytes mapped at guest-physical 4 GiB */
	uint64_t guard;   /* bytes reserved (PROT_NONE) just below host, from its alignment */
	bool wired;
	/* a live migration: the RAM pages the VMM itself writes (device buffers, used rings),
	 * which KVM's dirty log does not see; one bit per 4 KiB page of [host, host + size), set
	 * atomically; NULL when nobody tracks */
	uint64_t *vmm_dirty;
};

/* Split a RAM size into low and high parts (no mapping). */
void guestmem_layout(uint64_t size, uint64_t *lowmem, uint64_t *highmem);

/* Map anonymous memory for the guest; `wired` locks it (bhyve -S). 0 or -errno. */
int guestmem_init(struct guestmem *gm, uint64_t size, bool wired);
/* Use caller-provided host memory (unit tests, fuzzers). */
void guestmem_init_from(struct guestmem *gm, void *host, uint64_t lowmem, uint64_t highmem);
void guestmem_fini(struct guestmem *gm);

/* Host pointer for [gpa, gpa+len) when the whole range is guest RAM, else NULL.
 * Every access to guest memory on behalf of a guest goes through this check. */
void *gm_ptr(const struct guestmem *gm, uint64_t gpa, uint64_t len);

/* Note that the VMM writes (or will write) [p, p + len) of guest RAM, a range inside the host
 * mapping, for a migration in progress; nothing when none is. Any thread. */
static inline void gm_mark_dirty(const struct guestmem *gm, const void *p, size_t len)
{
	uint64_t *bits = __atomic_load_n(&gm->vmm_dirty, __ATOMIC_ACQUIRE);
	if (!bits || len == 0)
		return;
	uint64_t off = (uint64_t)((const uint8_t *)p - gm->host);
	if (off >= gm->size)
		return;
	uint64_t end = off + len > gm->size ? gm->size : off + len;
	for (uint64_t pg = off >> 12; pg <= (end - 1) >> 12; pg++)
		__atomic_fetch_or(&bits[pg / 64], 1ULL << (pg % 64), __ATOMIC_RELAXED);
}

/* Copy helpers; return 0 or -EFAULT when the range is not entirely RAM. */
int gm_read(const struct guestmem *gm, uint64_t gpa, void *dst, size_t len);
int gm_write(const struct guestmem *gm, uint64_t gpa, const void *src, size_t len);

#endif
