/* SPDX-License-Identifier: BSD-2-Clause */
#include "core/guestmem.h"

#include <errno.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>

void guestmem_layout(uint64_t size, uint64_t *lowmem, uint64_t *highmem)
{
	*lowmem = size > GM_LOWMEM_LIMIT ? GM_LOWMEM_LIMIT : size;
	*highmem = size - *lowmem;
}

/* Guest RAM at a 2 MiB-aligned host address. KVM maps a guest page with a huge page only where
 * the guest physical and host virtual addresses are aligned alike, and the kernel backs only
 * 2 MiB-aligned host ranges with transparent huge pages: at mmap's page-aligned address every
 * first touch of guest memory was its own 4 KiB nested page fault (some 20,000 exits in a Linux
 * boot), at this one it is one per 2 MiB. The slack below stays reserved (PROT_NONE, *guard
 * bytes): the mappings made next (thread stacks) land below it, not ending at a 2 MiB boundary,
 * where with THP "always" a stack's first touch would take a whole huge page. The slack above is
 * given back. NULL with errno on failure. */
static void *map_aligned(uint64_t size, uint64_t align, uint64_t *guard)
{
	if (size > UINT64_MAX - align)
		return (errno = ENOMEM, NULL);
	uint64_t total = size + align;
	uint8_t *raw = mmap(NULL, total, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	uintptr_t start = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
	uint8_t *p = (uint8_t *)start;
	size_t head = (size_t)(p - raw);
	uint64_t end = (start + size + 4095) & ~(uint64_t)4095;
	size_t tail = (size_t)((uintptr_t)raw + total - end);
	if (head)
		mprotect(raw, head, PROT_NONE);
	if (tail)
		munmap((void *)(uintptr_t)end, tail);
	*guard = head;
	return p;
}

int guestmem_init(struct guestmem *gm, uint64_t size, bool wired)
{
	memset(gm, 0, sizeof(*gm));
	if (size == 0)
		return -EINVAL;
	uint64_t guard;
	void *p = map_aligned(size, GM_HUGE_ALIGN, &guard);
	if (!p)
		return -errno;
	/* Guest RAM is large and its contents are the guest's: keep it out of core dumps and
	 * let the kernel back it with huge pages where it can. */
	madvise(p, size, MADV_DONTDUMP);
	madvise(p, size, MADV_HUGEPAGE);
	if (wired && mlock(p, size) != 0) {
		int e = errno;
		munmap((uint8_t *)p - guard, guard + size);
		return -e;
	}
	gm->host = p;
	gm->size = size;
	gm->guard = guard;
	gm->wired = wired;
	guestmem_layout(size, &gm->lowmem, &gm->highmem);
	return 0;
}

void guestmem_init_from(struct guestmem *gm, void *host, uint64_t lowmem, uint64_t highmem)
{
	memset(gm, 0, sizeof(*gm));
	gm->host = host;
	gm->lowmem = lowmem;
	gm->highmem = highmem;
	gm->size = lowmem + highmem;
}

void guestmem_fini(struct guestmem *gm)
{
	if (gm->host && gm->size)
		munmap(gm->host - gm->guard, gm->guard + gm->size);
	gm->host = NULL;
	gm->size = 0;
}

void *gm_ptr(const struct guestmem *gm, uint64_t gpa, uint64_t len)
{
	if (!gm->host)
		return NULL;
	/* Overflow-safe: compare against remaining space instead of computing gpa + len. */
	if (gpa < gm->lowmem) {
		if (len > gm->lowmem - gpa)
			return NULL;
		return gm->host + gpa;
	}
	if (gpa >= GM_4G && gpa - GM_4G < gm->highmem) {
		uint64_t off = gpa - GM_4G;
		if (len > gm->highmem - off)
			return NULL;
		return gm->host + gm->lowmem + off;
	}
	return NULL;
}

int gm_read(const struct guestmem *gm, uint64_t gpa, void *dst, size_t len)
{
	void *p = gm_ptr(gm, gpa, len);
	if (!p)
		return -EFAULT;
	memcpy(dst, p, len);
	return 0;
}

int gm_write(const struct guestmem *gm, uint64_t gpa, const void *src, size_t len)
{
	void *p = gm_ptr(gm, gpa, len);
	if (!p)
		return -EFAULT;
	memcpy(p, src, len);
	return 0;
}
