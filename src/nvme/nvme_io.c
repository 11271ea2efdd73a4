/* SPDX-License-Identifier: BSD-2-Clause */
/* NVMe: the NVM command set (read, write, flush, dataset management) and the PRP walker that
 * turns a command's PRP1/PRP2 into host iovecs for blockif.
 *
 * PRPs (4 KiB pages): PRP1 may start anywhere dword aligned in its page; when the transfer
 * needs two pages PRP2 is the second page, else PRP2 points to a PRP list (8-byte aligned) whose
 * entries are page aligned; the last entry of a full list page points to the next list page
 * (page aligned). The walk consumes at least one data page per list entry except for chain
 * pointers, takes at most as many list pages as the transfer has pages, and maps every entry
 * through gm_ptr, so a list that loops or points outside RAM ends in an error status: never a
 * hang or an access outside guest RAM. Transfers are bounded by MDTS (2 MiB). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backends/blockif.h"
#include "core/byteorder.h"
#include "core/guestmem.h"
#include "core/vm.h"
#include "nvme/nvme.h"

#define PAGE_MASK ((uint64_t)NVME_PAGE - 1)

/* ---- PRPs ---- */

static bool add_seg(const struct guestmem *gm, struct iovec *iov, int *n, uint64_t gpa,
		    uint64_t len)
{
	uint8_t *h = gm_ptr(gm, gpa, len);
	if (!h)
		return false;
	if (*n > 0 && (uint8_t *)iov[*n - 1].iov_base + iov[*n - 1].iov_len == h) {
		iov[*n - 1].iov_len += len; /* contiguous in the host mapping: one segment */
		return true;
	}
	iov[*n].iov_base = h;
	iov[*n].iov_len = len;
	(*n)++;
	return true;
}

uint16_t nvme_prp_map(struct nvme_ctrl *sc, uint64_t prp1, uint64_t prp2, uint64_t len,
		      struct iovec **out, int *outcnt)
{
	const struct guestmem *gm = &sc->vm->mem;
	*out = NULL;
	*outcnt = 0;
	if (len == 0)
		return 0;
	if (len > NVME_MAX_XFER)
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	if (prp1 & 3) {
		nvme_log(sc, "nvme: PRP1 %#llx is not dword aligned", (unsigned long long)prp1);
		return NVME_SC_PRP_OFFSET | NVME_DNR;
	}
	uint64_t pages = (len + (prp1 & PAGE_MASK) + PAGE_MASK) / NVME_PAGE;
	struct iovec *iov = calloc(pages, sizeof(*iov));
	if (!iov)
		return NVME_SC_INTERNAL;
	int n = 0;
	uint16_t status = NVME_SC_DATA_XFER_ERROR;
	uint64_t first = NVME_PAGE - (prp1 & PAGE_MASK);
	if (first > len)
		first = len;
	if (!add_seg(gm, iov, &n, prp1, first))
		goto bad_addr;
	uint64_t left = len - first;
	if (left > 0 && left <= NVME_PAGE) {
		if (prp2 & PAGE_MASK) {
			status = NVME_SC_PRP_OFFSET | NVME_DNR;
			goto bad;
		}
		if (!add_seg(gm, iov, &n, prp2, left))
			goto bad_addr;
		left = 0;
	} else if (left > 0) {
		if (prp2 & 7) {
			status = NVME_SC_PRP_OFFSET | NVME_DNR;
			goto bad;
		}
		uint64_t list = prp2;
		/* the list pages seen: a chain back to one of them is a loop (at most 3 list
		 * pages describe MDTS bytes) */
		uint64_t seen[8];
		unsigned list_pages = 0;
		while (left > 0) {
			for (unsigned k = 0; k < list_pages; k++)
				if (seen[k] == (list & ~PAGE_MASK)) {
					nvme_log(sc, "nvme: PRP list at %#llx loops",
						 (unsigned long long)list);
					goto bad;
				}
			if (list_pages == sizeof(seen) / sizeof(seen[0]))
				goto bad;
			seen[list_pages++] = list & ~PAGE_MASK;
			/* entries from `list` up to the end of its page */
			unsigned entries = (unsigned)((NVME_PAGE - (list & PAGE_MASK)) / 8);
			uint8_t buf[NVME_PAGE];
			if (gm_read(gm, list, buf, (size_t)entries * 8) < 0) {
				nvme_log(sc, "nvme: PRP list at %#llx is not in guest RAM",
					 (unsigned long long)list);
				goto bad;
			}
			for (unsigned i = 0; i < entries && left > 0; i++) {
				uint64_t e = le64_at(buf + 8 * i);
				if (i == entries - 1 && left > NVME_PAGE) {
					/* the last entry chains to the next list page */
					if (e & PAGE_MASK) {
						nvme_log(sc,
							 "nvme: PRP list chain to %#llx is not "
							 "page aligned",
							 (unsigned long long)e);
						status = NVME_SC_PRP_OFFSET | NVME_DNR;
						goto bad;
					}
					list = e;
					break;
				}
				if (e & PAGE_MASK) {
					nvme_log(sc, "nvme: PRP entry %#llx is not page aligned",
						 (unsigned long long)e);
					status = NVME_SC_PRP_OFFSET | NVME_DNR;
					goto bad;
				}
				uint64_t chunk = left < NVME_PAGE ? left : NVME_PAGE;
				if (!add_seg(gm, iov, &n, e, chunk))
					goto bad_addr;
				left -= chunk;
			}
		}
	}
	*out = iov;
	*outcnt = n;
	return 0;
bad_addr:
	nvme_log(sc, "nvme: a data buffer of the PRPs (%#llx, %#llx) is not in guest RAM",
		 (unsigned long long)prp1, (unsigned long long)prp2);
bad:
	free(iov);
	return status;
}

static uint16_t prp_copy(struct nvme_ctrl *sc, const struct nvme_cmd *c, void *buf, uint32_t len,
			 bool to_guest)
{
	struct iovec *iov;
	int n;
	uint16_t st = nvme_prp_map(sc, c->prp1, c->prp2, len, &iov, &n);
	if (st)
		return st;
	size_t off = 0;
	for (int i = 0; i < n; i++) {
		if (to_guest)
			memcpy(iov[i].iov_base, (uint8_t *)buf + off, iov[i].iov_len);
		else
			memcpy((uint8_t *)buf + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	free(iov);
	sc->pass_bytes += len;
	return 0;
}

uint16_t nvme_prp_write(struct nvme_ctrl *sc, const struct nvme_cmd *c, const void *buf,
			uint32_t len)
{
	return prp_copy(sc, c, (void *)(uintptr_t)buf, len, true);
}

uint16_t nvme_prp_read(struct nvme_ctrl *sc, const struct nvme_cmd *c, void *buf, uint32_t len)
{
	return prp_copy(sc, c, buf, len, false);
}

/* ---- commands ---- */

static bool range_ok(const struct nvme_ctrl *sc, uint64_t slba, uint64_t nlb)
{
	return slba < sc->nsze && nlb <= sc->nsze - slba;
}

static uint16_t cmd_rw(struct nvme_ctrl *sc, struct nvme_cmd *c, bool write)
{
	uint64_t slba = (uint64_t)c->cdw11 << 32 | c->cdw10;
	uint64_t nlb = (uint64_t)(c->cdw12 & 0xffff) + 1;
	bool fua = c->cdw12 & (1u << 30);
	if (write && sc->ro)
		return NVME_SC_NS_WRITE_PROTECTED | NVME_DNR;
	uint64_t bytes = nlb * sc->sectsz;
	if (bytes > NVME_MAX_XFER) {
		nvme_log(sc, "nvme: %llu-byte transfer beyond MDTS", (unsigned long long)bytes);
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	}
	if (!range_ok(sc, slba, nlb))
		return NVME_SC_LBA_RANGE | NVME_DNR;
	struct iovec *iov;
	int n;
	uint16_t st = nvme_prp_map(sc, c->prp1, c->prp2, bytes, &iov, &n);
	if (st)
		return st;
	struct nvme_req *r = nvme_req_new(sc, c);
	if (!r) {
		free(iov);
		return NVME_SC_INTERNAL;
	}
	r->iov = iov;
	r->iovcnt = n;
	r->bytes = (uint32_t)bytes;
	r->off = slba * sc->sectsz;
	r->blocks = nlb;
	r->write = write;
	r->flush_after = write && fua;
	return nvme_req_start(r);
}

static uint16_t cmd_flush(struct nvme_ctrl *sc, struct nvme_cmd *c)
{
	struct nvme_req *r = nvme_req_new(sc, c);
	if (!r)
		return NVME_SC_INTERNAL;
	return nvme_req_start(r);
}

static int cmp_range(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;
	return (*x > *y) - (*x < *y);
}

static uint16_t cmd_dsm(struct nvme_ctrl *sc, struct nvme_cmd *c)
{
	if (!sc->dsm)
		return NVME_SC_INVALID_OPCODE | NVME_DNR;
	unsigned nr = (c->cdw10 & 0xff) + 1;
	if (!(c->cdw11 & NVME_DSM_AD))
		return NVME_SC_SUCCESS; /* attributes only: hints */
	if (sc->ro)
		return NVME_SC_NS_WRITE_PROTECTED | NVME_DNR;
	uint8_t buf[NVME_DSM_MAX_RANGES * 16];
	uint16_t st = nvme_prp_read(sc, c, buf, nr * 16);
	if (st)
		return st;
	struct nvme_req *r = nvme_req_new(sc, c);
	if (!r || !(r->ranges = calloc(nr, sizeof(*r->ranges)))) {
		if (r)
			nvme_req_free(r);
		return NVME_SC_INTERNAL;
	}
	unsigned n = 0;
	for (unsigned i = 0; i < nr; i++) {
		const uint8_t *e = buf + 16 * i;
		uint64_t len = le32_at(e + 4), slba = le64_at(e + 8);
		if (len == 0)
			continue;
		if (!range_ok(sc, slba, len)) {
			nvme_req_free(r);
			return NVME_SC_LBA_RANGE | NVME_DNR;
		}
		r->ranges[n].off = slba * sc->sectsz;
		r->ranges[n].len = len * sc->sectsz;
		n++;
	}
	/* sort and merge: fewer backend operations */
	qsort(r->ranges, n, sizeof(*r->ranges), cmp_range);
	unsigned m = 0;
	for (unsigned i = 0; i < n; i++) {
		uint64_t end = r->ranges[i].off + r->ranges[i].len;
		if (m > 0 && r->ranges[i].off <= r->ranges[m - 1].off + r->ranges[m - 1].len) {
			if (end > r->ranges[m - 1].off + r->ranges[m - 1].len)
				r->ranges[m - 1].len = end - r->ranges[m - 1].off;
		} else
			r->ranges[m++] = r->ranges[i];
	}
	if (m == 0 || !blockif_candelete(sc->bc)) {
		/* deallocation is advisory: nothing to do, or a backend that cannot */
		nvme_req_free(r);
		return NVME_SC_SUCCESS;
	}
	r->nranges = m;
	return nvme_req_start(r);
}

uint16_t nvme_io(struct nvme_ctrl *sc, struct nvme_cmd *c)
{
	bool flush = c->opc == NVME_CMD_FLUSH;
	if (c->nsid != NVME_NSID && !(flush && c->nsid == 0xffffffffu))
		return NVME_SC_INVALID_NS | NVME_DNR;
	switch (c->opc) {
	case NVME_CMD_FLUSH:
		return cmd_flush(sc, c);
	case NVME_CMD_WRITE:
		return cmd_rw(sc, c, true);
	case NVME_CMD_READ:
		return cmd_rw(sc, c, false);
	case NVME_CMD_DSM:
		return cmd_dsm(sc, c);
	default:
		return NVME_SC_INVALID_OPCODE | NVME_DNR;
	}
}
