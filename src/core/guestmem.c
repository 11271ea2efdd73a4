/* SPDX-License-Identifier: BSD-2-Clause */
#include "core/guestmem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

void guestmem_layout(uint64_t size, uint64_t *lowmem, uint64_t *highmem)
{
	*lowmem = size > GM_LOWMEM_LIMIT ? GM_LOWMEM_LIMIT : size;
	*highmem = size - *lowmem;
}

int guestmem_init(struct guestmem *gm, uint64_t size, bool wired)
{
	memset(gm, 0, sizeof(*gm));
	if (size == 0)
		return -EINVAL;
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	/* Guest RAM is large and its contents are the guest's: keep it out of core dumps and
	 * let the kernel back it with huge pages where it can. */
	madvise(p, size, MADV_DONTDUMP);
	madvise(p, size, MADV_HUGEPAGE);
	if (wired && mlock(p, size) != 0) {
		int e = errno;
		munmap(p, size);
		return -e;
	}
	gm->host = p;
	gm->size = size;
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
		munmap(gm->host, gm->size);
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
