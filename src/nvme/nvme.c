/* SPDX-License-Identifier: BSD-2-Clause */
/* NVMe 1.4 controller: bhyve's `nvme` (FB5D:0A0A, class 01/08/02). BAR 0 (64-bit memory) holds
 * the controller registers and, from 0x1000, the doorbells (stride 4); BAR 4 the MSI-X table and
 * PBA (maxq + 1 vectors, served by the PCI bus); INTx pin A when MSI-X is off; a PCI Express
 * capability (root-complex integrated endpoint). One namespace on a blockif backend.
 *
 * Queues: CC.EN 0 -> 1 checks AQA/ASQ/ACQ and CC (else CSTS.CFS) and creates the admin pair;
 * the admin commands create and delete I/O queues (physically contiguous only). A SQ tail
 * doorbell makes the controller take commands: round robin over the SQs, one command per SQ
 * per round, at most NVME_PASS_CMDS commands and NVME_PASS_BYTES of admin data per pass, the
 * rest from a continuation timer on the event loop, so a guest cannot hold a vCPU or the loop.
 * A command is only taken when its CQ has a free entry for its completion (entries posted plus
 * completions owed < size - 1): a full CQ stops the SQs bound to it until the host moves the
 * CQ head, and no completion is ever dropped. I/O commands also need one of `ioslots` request
 * structures; a completion that frees one resumes taking commands.
 *
 * Interrupts: MSI-X to the CQ's vector when enabled (only for CQs created with IEN), else INTx
 * as a level: on while some CQ with IEN holds entries the host has not consumed (head doorbell
 * behind tail) and INTMS bit 0 is clear.
 *
 * Guest mistakes: doorbells for missing queues or values beyond the queue are ignored, logged
 * (rate-limited) and reported as an asynchronous event (error status: invalid doorbell); a
 * submission queue outside RAM sets CSTS.CFS. Guest memory is reached only through
 * gm_read/gm_write/gm_ptr, and only with Bus Master Enable set.
 *
 * Concurrency: one mutex per controller serialises register accesses (vCPU threads), backend
 * completions and the continuation timer (event loop). Every request records sc->gen; a
 * controller reset waits until the backend no longer touches guest buffers (blockif_quiesce)
 * and bumps the generation, and deleting a SQ aborts its commands and marks their requests
 * stale (gen 0), so completions that arrive later are dropped. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backends/blockif.h"
#include "core/byteorder.h"
#include "core/evloop.h"
#include "core/guestmem.h"
#include "core/log.h"
#include "core/vm.h"
#include "nvme/nvme.h"
#include "pci/pci.h"
#include "pci/pci_msi.h"

/* ---- interrupts ---- */

static void update_intx(struct nvme_ctrl *sc)
{
	bool level = false;
	if (!pci_msi_enabled(sc->pd) && !(sc->intms & 1))
		for (unsigned i = 0; i <= sc->maxq && !level; i++) {
			const struct nvme_cq *cq = &sc->cq[i];
			level = cq->valid && cq->ien && cq->head != cq->tail;
		}
	if (level)
		pci_intx_assert(sc->pd);
	else
		pci_intx_deassert(sc->pd);
}

static void signal_cq(struct nvme_ctrl *sc, struct nvme_cq *cq)
{
	if (pci_msi_enabled(sc->pd)) {
		if (cq->ien)
			pci_msi_notify(sc->pd, cq->vector);
	} else
		update_intx(sc);
}

/* ---- completion queues ---- */

static uint32_t cq_used(const struct nvme_cq *cq)
{
	return (cq->tail + cq->size - cq->head) % cq->size;
}

/* Entries that can still be promised to new commands. */
static uint32_t cq_room(const struct nvme_cq *cq)
{
	uint32_t busy = cq_used(cq) + cq->reserved;
	return busy >= cq->size - 1 ? 0 : cq->size - 1 - busy;
}

/* Post the completion of command `cid` of SQ `sqid` (which reserved an entry when taken). */
static void complete(struct nvme_ctrl *sc, unsigned sqid, uint16_t cid, uint16_t status,
		     uint32_t dw0)
{
	struct nvme_sq *sq = &sc->sq[sqid];
	struct nvme_cq *cq = &sc->cq[sq->cqid];
	if (!sq->valid || !cq->valid || cq->reserved == 0)
		return; /* cannot happen: a queue with commands owed is never deleted silently */
	cq->reserved--;
	if (!pci_bus_master(sc->pd)) {
		nvme_log(sc, "nvme: completion for CQ %u dropped: Bus Master Enable is off",
			 cq->qid);
		return;
	}
	uint8_t e[NVME_CQE_SIZE];
	put_le32(e, dw0);
	put_le32(e + 4, 0);
	put_le32(e + 8, sq->head | (uint32_t)sqid << 16);
	put_le32(e + 12, cid | (uint32_t)cq->phase << 16 | (uint32_t)(status & 0x7fff) << 17);
	uint64_t at = cq->base + (uint64_t)cq->tail * NVME_CQE_SIZE;
	/* the phase tag last: the host must not see a new phase with old contents */
	if (gm_write(&sc->vm->mem, at, e, 12) < 0) {
		nvme_log(sc, "nvme: CQ %u entry at %#llx is not in guest RAM", cq->qid,
			 (unsigned long long)at);
		return;
	}
	__atomic_thread_fence(__ATOMIC_RELEASE);
	gm_write(&sc->vm->mem, at + 12, e + 12, 4);
	if (++cq->tail == cq->size) {
		cq->tail = 0;
		cq->phase = !cq->phase;
	}
	signal_cq(sc, cq);
}

/* ---- asynchronous events ---- */

void nvme_deliver_events(struct nvme_ctrl *sc)
{
	while (sc->aen_pending && sc->naer && !sc->aen_error_masked) {
		unsigned info = (unsigned)__builtin_ctz(sc->aen_pending);
		sc->aen_pending &= ~(1u << info);
		uint16_t cid = sc->aer_cid[--sc->naer];
		/* an error event stays masked until the host reads the error log */
		sc->aen_error_masked = true;
		complete(sc, 0, cid, NVME_SC_SUCCESS,
			 NVME_AER_TYPE_ERROR | info << 8 | (uint32_t)NVME_LOG_ERROR << 16);
	}
}

void nvme_post_event(struct nvme_ctrl *sc, uint8_t info)
{
	if (!(sc->csts & NVME_CSTS_RDY))
		return;
	sc->aen_pending |= 1u << info;
	nvme_deliver_events(sc);
}

/* ---- requests ---- */

struct nvme_req *nvme_req_new(struct nvme_ctrl *sc, const struct nvme_cmd *c)
{
	struct nvme_req *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->sc = sc;
	r->gen = sc->gen;
	r->sqid = c->sqid;
	r->cid = c->cid;
	r->opc = c->opc;
	r->next = sc->outstanding;
	if (r->next)
		r->next->prev = r;
	sc->outstanding = r;
	sc->nreqs++;
	return r;
}

void nvme_req_free(struct nvme_req *r)
{
	struct nvme_ctrl *sc = r->sc;
	if (r->prev)
		r->prev->next = r->next;
	else
		sc->outstanding = r->next;
	if (r->next)
		r->next->prev = r->prev;
	sc->nreqs--;
	free(r->iov);
	free(r->ranges);
	free(r);
}

static void req_done(void *opaque, int result);
static void process(struct nvme_ctrl *sc);

static int req_submit(struct nvme_req *r)
{
	struct nvme_ctrl *sc = r->sc;
	if (r->ranges)
		return blockif_discard(sc->bc, r->ranges[r->range].off, r->ranges[r->range].len,
				       req_done, r);
	if (!r->iov)
		return blockif_flush(sc->bc, req_done, r);
	return r->write ? blockif_write(sc->bc, r->iov, r->iovcnt, r->off, req_done, r)
			: blockif_read(sc->bc, r->iov, r->iovcnt, r->off, req_done, r);
}

uint16_t nvme_req_start(struct nvme_req *r)
{
	int e = req_submit(r);
	if (e == 0)
		return NVME_PENDING;
	kb_debug("nvme: the backend refused a request: %s", strerror(-e));
	nvme_req_free(r);
	return e == -EROFS ? NVME_SC_NS_WRITE_PROTECTED : NVME_SC_INTERNAL;
}

/* The request's next backend step after a completed one: 1 started, 0 none, -errno. */
static int req_next_step(struct nvme_req *r)
{
	struct nvme_ctrl *sc = r->sc;
	if (r->ranges && ++r->range < r->nranges) {
		int e = blockif_discard(sc->bc, r->ranges[r->range].off, r->ranges[r->range].len,
					req_done, r);
		return e < 0 ? e : 1;
	}
	if (r->flush_after) {
		r->flush_after = false;
		int e = blockif_flush(sc->bc, req_done, r);
		return e < 0 ? e : 1;
	}
	return 0;
}

/* Backend completion, on the event-loop thread. */
static void req_done(void *opaque, int result)
{
	struct nvme_req *r = opaque;
	struct nvme_ctrl *sc = r->sc;
	pthread_mutex_lock(&sc->mtx);
	if (r->gen != sc->gen) { /* reset or queue deleted since: nothing to post */
		nvme_req_free(r);
		process(sc); /* a request slot came free */
		pthread_mutex_unlock(&sc->mtx);
		return;
	}
	if (result >= 0) {
		int e = req_next_step(r);
		if (e > 0) {
			pthread_mutex_unlock(&sc->mtx);
			return;
		}
		if (e < 0)
			result = e;
	}
	uint16_t status = NVME_SC_SUCCESS;
	if (result < 0) {
		kb_debug("nvme: backend error %d (opcode %#x)", result, r->opc);
		/* media errors (SCT 2): write fault, unrecovered read error */
		status = r->ranges || !r->iov ? NVME_SC_INTERNAL
			 : r->write	      ? (0x200 | 0x80)
					      : (0x200 | 0x81);
	} else if (r->iov && r->write) {
		sc->cmds_written++;
		sc->units_written += r->bytes / 512;
	} else if (r->iov) {
		sc->cmds_read++;
		sc->units_read += r->bytes / 512;
	}
	complete(sc, r->sqid, r->cid, status, 0);
	nvme_req_free(r);
	process(sc);
	pthread_mutex_unlock(&sc->mtx);
}

/* ---- submission queues ---- */

static bool can_take(const struct nvme_ctrl *sc, const struct nvme_sq *sq)
{
	if (!sq->valid || sq->head == sq->tail)
		return false;
	if (cq_room(&sc->cq[sq->cqid]) == 0)
		return false;
	return sq->qid == 0 || sc->nreqs < sc->ioslots;
}

static void controller_fatal(struct nvme_ctrl *sc)
{
	sc->csts |= NVME_CSTS_CFS;
}

/* Take and execute the command at sq's head. */
static void take_one(struct nvme_ctrl *sc, struct nvme_sq *sq)
{
	uint8_t e[NVME_SQE_SIZE];
	uint64_t at = sq->base + (uint64_t)sq->head * NVME_SQE_SIZE;
	if (gm_read(&sc->vm->mem, at, e, sizeof(e)) < 0) {
		nvme_log(sc, "nvme: SQ %u entry at %#llx is not in guest RAM: controller fatal",
			 sq->qid, (unsigned long long)at);
		controller_fatal(sc);
		return;
	}
	sq->head = (sq->head + 1) % sq->size;
	sc->cq[sq->cqid].reserved++;
	uint32_t dw0 = le32_at(e);
	struct nvme_cmd c = {
	    .sqid = sq->qid,
	    .opc = (uint8_t)dw0,
	    .cid = (uint16_t)(dw0 >> 16),
	    .nsid = le32_at(e + 4),
	    .prp1 = le64_at(e + 24),
	    .prp2 = le64_at(e + 32),
	    .cdw10 = le32_at(e + 40),
	    .cdw11 = le32_at(e + 44),
	    .cdw12 = le32_at(e + 48),
	    .cdw13 = le32_at(e + 52),
	    .cdw14 = le32_at(e + 56),
	    .cdw15 = le32_at(e + 60),
	};
	uint16_t status;
	if (dw0 & 0xc300) /* fused operations, SGLs: not supported */
		status = NVME_SC_INVALID_FIELD | NVME_DNR;
	else
		status = sq->qid == 0 ? nvme_admin(sc, &c) : nvme_io(sc, &c);
	if (status != NVME_PENDING)
		complete(sc, sq->qid, c.cid, status, c.dw0);
}

static bool work_left(const struct nvme_ctrl *sc)
{
	for (unsigned i = 0; i <= sc->maxq; i++)
		if (can_take(sc, &sc->sq[i]))
			return true;
	return false;
}

/* One pass over the SQs within the budget (lock held). */
static void process(struct nvme_ctrl *sc)
{
	if ((sc->csts & (NVME_CSTS_RDY | NVME_CSTS_CFS)) != NVME_CSTS_RDY)
		return;
	if (!pci_bus_master(sc->pd)) {
		if (work_left(sc))
			nvme_log(sc, "nvme: doorbell without Bus Master Enable");
		return;
	}
	unsigned budget = NVME_PASS_CMDS, nq = sc->maxq + 1;
	sc->pass_bytes = 0;
	bool progress = true;
	while (progress && budget && sc->pass_bytes < NVME_PASS_BYTES &&
	       !(sc->csts & NVME_CSTS_CFS)) {
		progress = false;
		for (unsigned i = 0; i < nq && budget; i++) {
			struct nvme_sq *sq = &sc->sq[(sc->rr + i) % nq];
			if (!can_take(sc, sq))
				continue;
			take_one(sc, sq);
			budget--;
			progress = true;
			if (sc->pass_bytes >= NVME_PASS_BYTES || (sc->csts & NVME_CSTS_CFS))
				break;
		}
		sc->rr = (sc->rr + 1) % nq;
	}
	if (!(sc->csts & NVME_CSTS_CFS) && !sc->more_armed && sc->more && work_left(sc)) {
		if (evloop_timer_set(sc->more, NVME_CONTINUE_MS, 0) == 0)
			sc->more_armed = true;
	}
}

static void continue_timer(void *opaque)
{
	struct nvme_ctrl *sc = opaque;
	pthread_mutex_lock(&sc->mtx);
	sc->more_armed = false;
	process(sc);
	pthread_mutex_unlock(&sc->mtx);
}

/* ---- queue deletion (admin commands) ---- */

uint16_t nvme_delete_sq(struct nvme_ctrl *sc, unsigned qid)
{
	if (qid == 0 || qid > sc->maxq || !sc->sq[qid].valid)
		return NVME_SC_INVALID_QID | NVME_DNR;
	bool busy = false;
	for (struct nvme_req *r = sc->outstanding; r; r = r->next)
		busy |= r->sqid == qid && r->gen == sc->gen;
	if (busy) {
		blockif_quiesce(sc->bc); /* then no request touches its buffers any more */
		for (struct nvme_req *r = sc->outstanding; r; r = r->next)
			if (r->sqid == qid && r->gen == sc->gen) {
				complete(sc, qid, r->cid, NVME_SC_ABORT_SQ_DELETED, 0);
				r->gen = 0;
			}
	}
	struct nvme_sq *sq = &sc->sq[qid];
	sc->cq[sq->cqid].nsq--;
	memset(sq, 0, sizeof(*sq));
	return NVME_SC_SUCCESS;
}

uint16_t nvme_delete_cq(struct nvme_ctrl *sc, unsigned qid)
{
	if (qid == 0 || qid > sc->maxq || !sc->cq[qid].valid)
		return NVME_SC_INVALID_QID | NVME_DNR;
	if (sc->cq[qid].nsq)
		return NVME_SC_INVALID_QDELETE | NVME_DNR;
	memset(&sc->cq[qid], 0, sizeof(sc->cq[qid]));
	update_intx(sc);
	return NVME_SC_SUCCESS;
}

/* ---- controller reset and enable ---- */

static void ctrl_reset(struct nvme_ctrl *sc)
{
	if (sc->nreqs && sc->bc)
		blockif_quiesce(sc->bc);
	sc->gen++;
	memset(sc->sq, 0, sizeof(sc->sq));
	memset(sc->cq, 0, sizeof(sc->cq));
	sc->naer = 0;
	sc->aen_pending = 0;
	sc->aen_error_masked = false;
	sc->csts = 0;
	sc->rr = 0;
	nvme_features_reset(sc);
	update_intx(sc);
}

static void ctrl_enable(struct nvme_ctrl *sc)
{
	unsigned asqs = (sc->aqa & 0xfff) + 1, acqs = (sc->aqa >> 16 & 0xfff) + 1;
	const char *why = NULL;
	if (asqs < 2 || acqs < 2 || asqs > sc->qsz || acqs > sc->qsz)
		why = "admin queue sizes";
	else if (NVME_CC_MPS(sc->cc) != 0)
		why = "memory page size (only 4 KiB)";
	else if (NVME_CC_CSS(sc->cc) != 0 || NVME_CC_AMS(sc->cc) != 0)
		why = "command set or arbitration";
	else if ((NVME_CC_IOSQES(sc->cc) != 0 && NVME_CC_IOSQES(sc->cc) != 6) ||
		 (NVME_CC_IOCQES(sc->cc) != 0 && NVME_CC_IOCQES(sc->cc) != 4))
		why = "I/O queue entry sizes";
	if (why) {
		nvme_log(sc, "nvme: enable refused: invalid %s (CC %#x AQA %#x)", why, sc->cc,
			 sc->aqa);
		sc->csts = NVME_CSTS_CFS;
		return;
	}
	sc->sq[0] =
	    (struct nvme_sq){.valid = true, .qid = 0, .cqid = 0, .size = asqs, .base = sc->asq};
	sc->cq[0] = (struct nvme_cq){.valid = true,
				     .qid = 0,
				     .ien = true,
				     .phase = true,
				     .size = acqs,
				     .nsq = 1,
				     .base = sc->acq};
	sc->csts = NVME_CSTS_RDY;
}

/* ---- registers ---- */

static uint64_t cap_value(const struct nvme_ctrl *sc)
{
	return (uint64_t)(sc->qsz - 1) | NVME_CAP_CQR | (uint64_t)60 << NVME_CAP_TO_SHIFT |
	       NVME_CAP_CSS_NVM;
}

static uint32_t reg_read(struct nvme_ctrl *sc, uint64_t off)
{
	switch (off) {
	case NVME_REG_CAP:
		return (uint32_t)cap_value(sc);
	case NVME_REG_CAP + 4:
		return (uint32_t)(cap_value(sc) >> 32);
	case NVME_REG_VS:
		return NVME_VERSION;
	case NVME_REG_INTMS:
	case NVME_REG_INTMC:
		return sc->intms;
	case NVME_REG_CC:
		return sc->cc;
	case NVME_REG_CSTS:
		return sc->csts;
	case NVME_REG_AQA:
		return sc->aqa;
	case NVME_REG_ASQ:
		return (uint32_t)sc->asq;
	case NVME_REG_ASQ + 4:
		return (uint32_t)(sc->asq >> 32);
	case NVME_REG_ACQ:
		return (uint32_t)sc->acq;
	case NVME_REG_ACQ + 4:
		return (uint32_t)(sc->acq >> 32);
	default: /* NSSR, CMB, doorbells (write-only) and reserved registers */
		return 0;
	}
}

static void write_cc(struct nvme_ctrl *sc, uint32_t v)
{
	uint32_t old = sc->cc;
	sc->cc = v & NVME_CC_WMASK;
	if ((old & NVME_CC_EN) && !(v & NVME_CC_EN))
		ctrl_reset(sc);
	else if (!(old & NVME_CC_EN) && (v & NVME_CC_EN))
		ctrl_enable(sc);
	if (NVME_CC_SHN(sc->cc)) /* nothing is cached here: shutdown completes at once */
		sc->csts = (sc->csts & ~NVME_CSTS_SHST_MASK) | NVME_CSTS_SHST_DONE;
	else if (NVME_CC_SHN(old))
		sc->csts &= ~NVME_CSTS_SHST_MASK;
}

static void doorbell(struct nvme_ctrl *sc, uint64_t off, uint32_t v)
{
	unsigned idx = (unsigned)((off - NVME_REG_DBS) / 4), qid = idx / 2;
	bool is_cq = idx & 1;
	if ((sc->csts & (NVME_CSTS_RDY | NVME_CSTS_CFS)) != NVME_CSTS_RDY)
		return;
	if (qid > sc->maxq || (is_cq ? !sc->cq[qid].valid : !sc->sq[qid].valid)) {
		nvme_log(sc, "nvme: write to the %s doorbell of missing queue %u",
			 is_cq ? "CQ head" : "SQ tail", qid);
		nvme_post_event(sc, NVME_AER_INVALID_DB);
		return;
	}
	if (is_cq) {
		struct nvme_cq *cq = &sc->cq[qid];
		/* the new head may only move over entries posted and not consumed yet */
		if (v >= cq->size || (v + cq->size - cq->head) % cq->size > cq_used(cq)) {
			nvme_log(sc,
				 "nvme: CQ %u head doorbell %u invalid (head %u tail %u size %u)",
				 qid, v, cq->head, cq->tail, cq->size);
			nvme_post_event(sc, NVME_AER_INVALID_DB_VALUE);
			return;
		}
		cq->head = v;
		update_intx(sc);
		nvme_deliver_events(sc);
	} else {
		struct nvme_sq *sq = &sc->sq[qid];
		if (v >= sq->size) {
			nvme_log(sc, "nvme: SQ %u tail doorbell %u beyond its %u entries", qid, v,
				 sq->size);
			nvme_post_event(sc, NVME_AER_INVALID_DB_VALUE);
			return;
		}
		sq->tail = v;
	}
	process(sc);
}

static void reg_write(struct nvme_ctrl *sc, uint64_t off, uint32_t v)
{
	if (off >= NVME_REG_DBS) {
		doorbell(sc, off, v);
		return;
	}
	switch (off) {
	case NVME_REG_INTMS:
		sc->intms |= v;
		update_intx(sc);
		break;
	case NVME_REG_INTMC:
		sc->intms &= ~v;
		update_intx(sc);
		break;
	case NVME_REG_CC:
		write_cc(sc, v);
		break;
	case NVME_REG_AQA:
		sc->aqa = v & 0x0fff0fffu;
		break;
	case NVME_REG_ASQ:
		sc->asq = (sc->asq & ~0xffffffffULL) | (v & ~0xfffu);
		break;
	case NVME_REG_ASQ + 4:
		sc->asq = (sc->asq & 0xffffffffULL) | (uint64_t)v << 32;
		break;
	case NVME_REG_ACQ:
		sc->acq = (sc->acq & ~0xffffffffULL) | (v & ~0xfffu);
		break;
	case NVME_REG_ACQ + 4:
		sc->acq = (sc->acq & 0xffffffffULL) | (uint64_t)v << 32;
		break;
	default: /* CAP, VS, CSTS, NSSR (no subsystem reset) and reserved registers */
		break;
	}
}

static int nvme_barread(struct pci_dev *pd, int bar, uint64_t off, unsigned size, uint64_t *val)
{
	struct nvme_ctrl *sc = pd->priv;
	*val = 0;
	if (bar != NVME_BAR_REGS || !sc)
		return 0;
	pthread_mutex_lock(&sc->mtx);
	uint64_t v = reg_read(sc, off & ~3ULL);
	if (size == 8)
		v |= (uint64_t)reg_read(sc, (off & ~3ULL) + 4) << 32;
	else
		v >>= 8 * (off & 3);
	pthread_mutex_unlock(&sc->mtx);
	*val = size >= 8 ? v : v & ((1ULL << (8 * size)) - 1);
	return 0;
}

static int nvme_barwrite(struct pci_dev *pd, int bar, uint64_t off, unsigned size, uint64_t val)
{
	struct nvme_ctrl *sc = pd->priv;
	if (bar != NVME_BAR_REGS || !sc)
		return 0;
	if ((size != 4 && size != 8) || (off & 3)) {
		nvme_log(sc, "nvme: %u-byte register write at %#llx ignored", size,
			 (unsigned long long)off);
		return 0;
	}
	pthread_mutex_lock(&sc->mtx);
	reg_write(sc, off, (uint32_t)val);
	if (size == 8)
		reg_write(sc, off + 4, (uint32_t)(val >> 32));
	pthread_mutex_unlock(&sc->mtx);
	return 0;
}

/* ---- creation ---- */

static void nvme_destroy(void *opaque)
{
	struct nvme_ctrl *sc = opaque;
	if (sc->more)
		evloop_del(sc->vm->ev, sc->more);
	blockif_close(sc->bc); /* waits for the I/O; undelivered completions are dropped */
	sc->bc = NULL;
	while (sc->outstanding)
		nvme_req_free(sc->outstanding);
	pthread_mutex_destroy(&sc->mtx);
	free(sc);
}

/* A RAM disk: a memfd of `mib` MiB, opened by blockif through /proc/self/fd. */
static int open_ram(struct nvme_ctrl *sc, struct cfgnode *devnode, uint64_t mib, char *err,
		    size_t errlen)
{
	struct blockif_opts o = {0};
	char path[64];
	int rc;
	if (config_get_bool(devnode, "ro", false, &o.ro) < 0 ||
	    config_get_bool(devnode, "nodelete", false, &o.nodelete) < 0) {
		snprintf(err, errlen, "ro/nodelete: not a boolean");
		return -EINVAL;
	}
	int fd = memfd_create("kbhyve-nvme-ram", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)(mib << 20)) < 0) {
		rc = -errno;
		snprintf(err, errlen, "ram=%llu: cannot create the RAM disk: %s",
			 (unsigned long long)mib, strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	o.path = path;
	o.sectsz = 4096;
	rc = blockif_open(&o, sc->vm->ev, &sc->bc, err, errlen);
	close(fd); /* blockif holds its own descriptor of the same file */
	return rc;
}

static int open_backend(struct nvme_ctrl *sc, struct cfgnode *devnode, const struct nvme_cfg *c)
{
	char err[256];
	int rc;
	if (c->ram_mib) {
		rc = open_ram(sc, devnode, c->ram_mib, err, sizeof(err));
	} else {
		struct blockif_opts o;
		rc = blockif_opts_from_config(devnode, &o, err, sizeof(err));
		if (rc == 0) {
			if (c->sectsz)
				o.sectsz = o.psectsz = c->sectsz;
			rc = blockif_open(&o, sc->vm->ev, &sc->bc, err, sizeof(err));
			blockif_opts_free(&o);
		}
	}
	if (rc < 0) {
		kb_log("nvme: %s", err);
		return rc;
	}
	return 0;
}

static uint64_t default_eui64(const struct vm *vm, const struct pci_dev *pd)
{
	char s[256];
	snprintf(s, sizeof(s), "%s-%u-%u-%u", vm->name ? vm->name : "", pd->bus, pd->slot,
		 pd->func);
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
	for (const char *p = s; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ULL;
	return 0x589CFCULL << 40 | (h & 0xffffffffffULL); /* FreeBSD's OUI, as bhyve */
}

static int setup_pci(struct nvme_ctrl *sc, struct pci_dev *pd)
{
	pci_set_cfg16(pd, PCIR_VENDOR, 0xfb5d);
	pci_set_cfg16(pd, PCIR_DEVICE, 0x0a0a);
	pci_set_cfg16(pd, PCIR_SUBVEND, 0xfb5d);
	pci_set_cfg16(pd, PCIR_SUBDEV, 0x0a0a);
	pci_set_cfg8(pd, PCIR_CLASS, 0x01);    /* mass storage */
	pci_set_cfg8(pd, PCIR_SUBCLASS, 0x08); /* non-volatile memory */
	pci_set_cfg8(pd, PCIR_PROGIF, 0x02);   /* NVMe */
	uint64_t regs = NVME_REG_DBS + 8ULL * (sc->maxq + 1), bar = 16384;
	while (bar < regs)
		bar <<= 1;
	int rc = pci_alloc_bar(pd, NVME_BAR_REGS, PCI_BAR_MEM64, bar);
	if (rc == 0)
		rc = pci_alloc_bar(pd, NVME_BAR_MSIX, PCI_BAR_MEM32, 4096);
	if (rc == 0)
		rc = pci_alloc_intx(pd, 1);
	if (rc == 0)
		rc = pci_msix_add(pd, NVME_BAR_MSIX, sc->nvec, 0, NVME_MSIX_PBA);
	if (rc == 0) {
		/* PCI Express capability v2, root-complex integrated endpoint, no link */
		uint8_t cap[0x3c] = {0x10, 0, 0x92, 0x00};
		put_le32(cap + 4, 1u << 15); /* device capabilities: role-based error reporting */
		int at = pci_add_cap(pd, cap, sizeof(cap));
		rc = at < 0 ? at : 0;
	}
	if (rc < 0)
		kb_log("nvme: cannot set up the PCI function: %s", strerror(-rc));
	return rc;
}

static int nvme_init(struct vm *vm, struct pci_dev *pd, struct cfgnode *devnode)
{
	struct nvme_cfg cfg;
	int rc = nvme_read_config(devnode, &cfg);
	if (rc < 0)
		return rc;
	struct nvme_ctrl *sc = calloc(1, sizeof(*sc));
	if (!sc)
		return -ENOMEM;
	pthread_mutex_init(&sc->mtx, NULL);
	sc->vm = vm;
	sc->pd = pd;
	rc = vm_at_destroy(vm, nvme_destroy, sc);
	if (rc) {
		pthread_mutex_destroy(&sc->mtx);
		free(sc);
		return rc;
	}
	/* from here on the destroy hook frees sc, also when init fails */
	sc->maxq = cfg.maxq;
	sc->qsz = cfg.qsz;
	sc->ioslots = cfg.ioslots;
	sc->nvec = cfg.maxq + 1;
	sc->gen = 1;
	rc = open_backend(sc, devnode, &cfg);
	if (rc < 0)
		return rc;
	sc->sectsz = blockif_sectsz(sc->bc);
	sc->nsze = blockif_size(sc->bc) / sc->sectsz;
	sc->ro = blockif_is_ro(sc->bc);
	sc->dsm = cfg.dsm == NVME_DSM_ENABLE ||
		  (cfg.dsm == NVME_DSM_AUTO && blockif_candelete(sc->bc) && !sc->ro);
	if (cfg.serial[0])
		strcpy(sc->serial, cfg.serial);
	else
		snprintf(sc->serial, sizeof(sc->serial), "NVME-%u-%u", pd->slot, pd->func);
	sc->eui64 = cfg.eui64_set ? cfg.eui64 : default_eui64(vm, pd);
	rc = setup_pci(sc, pd);
	if (rc < 0)
		return rc;
	if (vm->ev) {
		sc->more = evloop_add_timer(vm->ev, 1000, 0, continue_timer, sc);
		if (!sc->more || evloop_timer_set(sc->more, 0, 0) < 0) {
			kb_log("nvme: cannot create the continuation timer");
			return -ENOMEM;
		}
	}
	ctrl_reset(sc);
	pd->priv = sc;
	return 0;
}

static const struct pci_devemu nvme_emu = {
    .name = "nvme",
    .legacy_config = nvme_legacy_config,
    .init = nvme_init,
    .barread = nvme_barread,
    .barwrite = nvme_barwrite,
};
PCI_EMUL(nvme_emu);
