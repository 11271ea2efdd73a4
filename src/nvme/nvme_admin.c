/* SPDX-License-Identifier: BSD-2-Clause */
/* NVMe: the admin command set. Identify (namespace, controller, active namespace list,
 * namespace identification descriptors), create/delete I/O queues (physically contiguous, inside
 * guest RAM, sizes up to CAP.MQES + 1), get log page (error information, SMART / health,
 * firmware slot), set/get features, asynchronous event requests (held, at most AERL + 1),
 * abort (never aborts), format NVM (the one LBA format; secure erase deallocates everything).
 * Firmware commit answers "invalid firmware slot"; security send/receive, sanitize and get LBA
 * status "invalid field"; anything else "invalid opcode". Data goes through the PRP walker
 * (nvme_io.c) and is bounded by MDTS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/blockif.h"
#include "core/byteorder.h"
#include "core/guestmem.h"
#include "core/vm.h"
#include "nvme/nvme.h"

#define TEMP_KELVIN 0x0143 /* 323 K reported as the composite temperature */
#define TEMP_WARN 0x0157
#define TEMP_CRIT 0x0175

static void put_str(uint8_t *dst, const char *s, size_t len)
{
	size_t n = strlen(s);
	memset(dst, ' ', len);
	memcpy(dst, s, n < len ? n : len);
}

/* ---- identify ---- */

static void identify_ctrl(const struct nvme_ctrl *sc, uint8_t *d)
{
	put_le16(d + 0, 0xfb5d); /* VID */
	put_le16(d + 2, 0xfb5d); /* SSVID */
	put_str(d + 4, sc->serial, 20);
	put_str(d + 24, "bhyve-NVMe", 40);
	put_str(d + 64, "1.0", 8);
	d[72] = 4;    /* RAB */
	d[73] = 0xfc; /* IEEE OUI 58-9C-FC, least significant byte first */
	d[74] = 0x9c;
	d[75] = 0x58;
	d[77] = NVME_MDTS;
	put_le32(d + 80, NVME_VERSION);
	d[111] = 1;		    /* CNTRTYPE: I/O controller */
	put_le16(d + 256, 1u << 1); /* OACS: Format NVM */
	d[258] = 3;		    /* ACL: 4 aborts */
	d[259] = NVME_AERL;
	d[260] = 1u << 0 | 1u << 1; /* FRMW: slot 1 read-only, one slot */
	d[262] = 0;		    /* ELPE: one error log entry */
	d[263] = 0;		    /* NPSS: one power state */
	put_le16(d + 266, TEMP_WARN);
	put_le16(d + 268, TEMP_CRIT);
	d[512] = 6 << 4 | 6;  /* SQES: 64 bytes */
	d[513] = 4 << 4 | 4;  /* CQES: 16 bytes */
	put_le32(d + 516, 1); /* NN */
	put_le16(d + 520, sc->dsm ? NVME_ONCS_DSM : 0);
	d[525] = 1; /* VWC present */
	char nqn[256];
	snprintf(nqn, sizeof(nqn), "nqn.2014-08.org.nvmexpress:uuid:bhyve-%s-%016llx", sc->serial,
		 (unsigned long long)sc->eui64);
	memcpy(d + 768, nqn, strlen(nqn)); /* SUBNQN, NUL padded */
	put_le16(d + 2048, 2500);	   /* power state 0: 25 W */
}

static void identify_ns(const struct nvme_ctrl *sc, uint8_t *d)
{
	put_le64(d + 0, sc->nsze);  /* NSZE */
	put_le64(d + 8, sc->nsze);  /* NCAP */
	put_le64(d + 16, sc->nsze); /* NUSE */
	d[25] = 0;		    /* NLBAF: one format */
	d[26] = 0;		    /* FLBAS: format 0 */
	d[99] = sc->ro ? 1 : 0;	    /* NSATTR: write protected */
	for (int i = 0; i < 8; i++)
		d[120 + i] = (uint8_t)(sc->eui64 >> (56 - 8 * i));    /* EUI64, big-endian */
	put_le32(d + 128, (uint32_t)__builtin_ctz(sc->sectsz) << 16); /* LBAF0: LBADS */
}

static uint16_t cmd_identify(struct nvme_ctrl *sc, struct nvme_cmd *c)
{
	uint8_t d[NVME_IDENTIFY_SIZE] = {0};
	switch (c->cdw10 & 0xff) {
	case NVME_CNS_NS:
		if (c->nsid != NVME_NSID)
			return NVME_SC_INVALID_NS | NVME_DNR;
		identify_ns(sc, d);
		break;
	case NVME_CNS_CTRL:
		identify_ctrl(sc, d);
		break;
	case NVME_CNS_NS_LIST:
		if (c->nsid >= 0xfffffffeu)
			return NVME_SC_INVALID_NS | NVME_DNR;
		if (c->nsid < NVME_NSID)
			put_le32(d, NVME_NSID);
		break;
	case NVME_CNS_NS_DESC:
		if (c->nsid != NVME_NSID)
			return NVME_SC_INVALID_NS | NVME_DNR;
		d[0] = 1; /* EUI-64 */
		d[1] = 8;
		for (int i = 0; i < 8; i++)
			d[4 + i] = (uint8_t)(sc->eui64 >> (56 - 8 * i));
		break;
	default:
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	}
	return nvme_prp_write(sc, c, d, sizeof(d));
}

/* ---- queues ---- */

/* Check that a queue of `bytes` at base lies in RAM and starts on a page. */
static uint16_t queue_memory(struct nvme_ctrl *sc, uint64_t base, uint64_t bytes)
{
	if (base & (NVME_PAGE - 1))
		return NVME_SC_PRP_OFFSET | NVME_DNR;
	if (!gm_ptr(&sc->vm->mem, base, bytes)) {
		nvme_log(sc, "nvme: queue of %llu bytes at %#llx is not in guest RAM",
			 (unsigned long long)bytes, (unsigned long long)base);
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	}
	return 0;
}

static uint16_t cmd_create_cq(struct nvme_ctrl *sc, struct nvme_cmd *c)
{
	unsigned qid = c->cdw10 & 0xffff, size = (c->cdw10 >> 16) + 1;
	unsigned vector = c->cdw11 >> 16;
	if (qid == 0 || qid > sc->maxq || sc->cq[qid].valid)
		return NVME_SC_INVALID_QID | NVME_DNR;
	if (size < 2 || size > sc->qsz)
		return NVME_SC_INVALID_QSIZE | NVME_DNR;
	if (!(c->cdw11 & 1) || NVME_CC_IOCQES(sc->cc) != 4) /* PC: CAP.CQR */
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	if (vector >= sc->nvec)
		return NVME_SC_INVALID_VECTOR | NVME_DNR;
	uint16_t st = queue_memory(sc, c->prp1, (uint64_t)size * NVME_CQE_SIZE);
	if (st)
		return st;
	sc->cq[qid] = (struct nvme_cq){.valid = true,
				       .qid = (uint16_t)qid,
				       .vector = (uint16_t)vector,
				       .ien = c->cdw11 & 2,
				       .phase = true,
				       .size = size,
				       .base = c->prp1};
	return NVME_SC_SUCCESS;
}

static uint16_t cmd_create_sq(struct nvme_ctrl *sc, struct nvme_cmd *c)
{
	unsigned qid = c->cdw10 & 0xffff, size = (c->cdw10 >> 16) + 1;
	unsigned cqid = c->cdw11 >> 16;
	if (qid == 0 || qid > sc->maxq || sc->sq[qid].valid)
		return NVME_SC_INVALID_QID | NVME_DNR;
	if (size < 2 || size > sc->qsz)
		return NVME_SC_INVALID_QSIZE | NVME_DNR;
	if (!(c->cdw11 & 1) || NVME_CC_IOSQES(sc->cc) != 6)
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	if (cqid == 0 || cqid > sc->maxq || !sc->cq[cqid].valid)
		return NVME_SC_CQ_INVALID | NVME_DNR;
	uint16_t st = queue_memory(sc, c->prp1, (uint64_t)size * NVME_SQE_SIZE);
	if (st)
		return st;
	sc->sq[qid] = (struct nvme_sq){.valid = true,
				       .qid = (uint16_t)qid,
				       .cqid = (uint16_t)cqid,
				       .size = size,
				       .base = c->prp1};
	sc->cq[cqid].nsq++;
	return NVME_SC_SUCCESS;
}

/* ---- log pages ---- */

static void put_le128(uint8_t *p, uint64_t v)
{
	put_le64(p, v);
	put_le64(p + 8, 0);
}

static uint16_t cmd_get_log(struct nvme_ctrl *sc, struct nvme_cmd *c)
{
	unsigned lid = c->cdw10 & 0xff;
	bool rae = c->cdw10 & (1u << 15);
	uint64_t numd = ((uint64_t)(c->cdw11 & 0xffff) << 16 | c->cdw10 >> 16) + 1;
	uint64_t len = numd * 4, off = (uint64_t)c->cdw13 << 32 | c->cdw12;
	uint8_t page[512] = {0};
	size_t size;
	switch (lid) {
	case NVME_LOG_ERROR:
		size = 64; /* one entry, empty */
		if (!rae)
			sc->aen_error_masked = false;
		break;
	case NVME_LOG_SMART:
		size = 512;
		put_le16(page + 1, TEMP_KELVIN);
		page[3] = 100; /* available spare */
		page[4] = 10;  /* threshold */
		/* data units: thousands of 512-byte units, rounded up */
		put_le128(page + 32, (sc->units_read + 999) / 1000);
		put_le128(page + 48, (sc->units_written + 999) / 1000);
		put_le128(page + 64, sc->cmds_read);
		put_le128(page + 80, sc->cmds_written);
		break;
	case NVME_LOG_FIRMWARE:
		size = 512;
		page[0] = 1; /* slot 1 active */
		put_str(page + 8, "1.0", 8);
		break;
	default:
		return NVME_SC_INVALID_LOG_PAGE | NVME_DNR;
	}
	if (len > NVME_MAX_XFER || (off & 3) || off > size)
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	uint8_t *buf = calloc(1, len);
	if (!buf)
		return NVME_SC_INTERNAL;
	memcpy(buf, page + off, size - off < len ? size - off : len);
	uint16_t st = nvme_prp_write(sc, c, buf, (uint32_t)len);
	free(buf);
	if (st == 0)
		nvme_deliver_events(sc); /* reading the error log may unmask one */
	return st;
}

/* ---- features ---- */

void nvme_features_reset(struct nvme_ctrl *sc)
{
	sc->feat_arb = 0;
	sc->feat_pm = 0;
	sc->feat_temp_over = TEMP_WARN;
	sc->feat_temp_under = 0;
	sc->feat_err_rec = 0;
	sc->feat_coalesce = 0;
	sc->feat_atomic = 0;
	sc->feat_aec = 0;
	sc->wce = true;
	memset(sc->irq_cd, 0, sizeof(sc->irq_cd));
}

static uint16_t cmd_set_features(struct nvme_ctrl *sc, struct nvme_cmd *c)
{
	unsigned fid = c->cdw10 & 0xff;
	uint32_t v = c->cdw11;
	if (c->cdw10 & (1u << 31))
		return NVME_SC_NOT_SAVEABLE | NVME_DNR;
	switch (fid) {
	case NVME_FEAT_ARBITRATION:
		sc->feat_arb = v;
		break;
	case NVME_FEAT_POWER_MGMT:
		if (v & 0x1f) /* power state 0 only */
			return NVME_SC_INVALID_FIELD | NVME_DNR;
		sc->feat_pm = v;
		break;
	case NVME_FEAT_TEMP_THRESH: {
		unsigned sel = v >> 16 & 0xf, thsel = v >> 20 & 3;
		if (sel != 0 || thsel > 1)
			return NVME_SC_INVALID_FIELD | NVME_DNR;
		if (thsel == 0)
			sc->feat_temp_over = v & 0xffff;
		else
			sc->feat_temp_under = v & 0xffff;
		break;
	}
	case NVME_FEAT_ERROR_RECOVERY:
		sc->feat_err_rec = v & 0x1ffff;
		break;
	case NVME_FEAT_VOLATILE_WC:
		sc->wce = v & 1;
		break;
	case NVME_FEAT_NUM_QUEUES:
		if ((v & 0xffff) == 0xffff || (v >> 16) == 0xffff)
			return NVME_SC_INVALID_FIELD | NVME_DNR;
		c->dw0 = (sc->maxq - 1) | (sc->maxq - 1) << 16;
		break;
	case NVME_FEAT_IRQ_COALESCE:
		sc->feat_coalesce = v & 0xffff;
		break;
	case NVME_FEAT_IRQ_CONFIG:
		if ((v & 0xffff) >= sc->nvec)
			return NVME_SC_INVALID_FIELD | NVME_DNR;
		sc->irq_cd[v & 0xffff] = v & (1u << 16);
		break;
	case NVME_FEAT_WRITE_ATOMIC:
		sc->feat_atomic = v & 1;
		break;
	case NVME_FEAT_ASYNC_EVENT:
		sc->feat_aec = v;
		break;
	default:
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	}
	return NVME_SC_SUCCESS;
}

static uint16_t cmd_get_features(struct nvme_ctrl *sc, struct nvme_cmd *c)
{
	unsigned fid = c->cdw10 & 0xff, sel = c->cdw10 >> 8 & 7;
	bool dflt = sel == 1 || sel == 2; /* default and saved: the power-on values */
	switch (fid) {
	case NVME_FEAT_ARBITRATION:
		c->dw0 = dflt ? 0 : sc->feat_arb;
		break;
	case NVME_FEAT_POWER_MGMT:
		c->dw0 = dflt ? 0 : sc->feat_pm;
		break;
	case NVME_FEAT_TEMP_THRESH: {
		unsigned tsel = c->cdw11 >> 16 & 0xf, thsel = c->cdw11 >> 20 & 3;
		if (tsel != 0 || thsel > 1)
			return NVME_SC_INVALID_FIELD | NVME_DNR;
		c->dw0 = thsel == 0 ? (dflt ? TEMP_WARN : sc->feat_temp_over)
				    : (dflt ? 0 : sc->feat_temp_under);
		break;
	}
	case NVME_FEAT_ERROR_RECOVERY:
		c->dw0 = dflt ? 0 : sc->feat_err_rec;
		break;
	case NVME_FEAT_VOLATILE_WC:
		c->dw0 = dflt || sc->wce ? 1 : 0;
		break;
	case NVME_FEAT_NUM_QUEUES:
		c->dw0 = (sc->maxq - 1) | (sc->maxq - 1) << 16;
		break;
	case NVME_FEAT_IRQ_COALESCE:
		c->dw0 = dflt ? 0 : sc->feat_coalesce;
		break;
	case NVME_FEAT_IRQ_CONFIG: {
		unsigned iv = c->cdw11 & 0xffff;
		if (iv >= sc->nvec)
			return NVME_SC_INVALID_FIELD | NVME_DNR;
		c->dw0 = iv | (!dflt && sc->irq_cd[iv] ? 1u << 16 : 0);
		break;
	}
	case NVME_FEAT_WRITE_ATOMIC:
		c->dw0 = dflt ? 0 : sc->feat_atomic;
		break;
	case NVME_FEAT_ASYNC_EVENT:
		c->dw0 = dflt ? 0 : sc->feat_aec;
		break;
	default:
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	}
	if (sel == 3) /* supported capabilities: changeable, not saveable */
		c->dw0 = 1u << 2;
	else if (sel > 3)
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	return NVME_SC_SUCCESS;
}

/* ---- the rest ---- */

static uint16_t cmd_aer(struct nvme_ctrl *sc, struct nvme_cmd *c)
{
	if (sc->naer > NVME_AERL)
		return NVME_SC_AER_LIMIT;
	sc->aer_cid[sc->naer++] = c->cid;
	nvme_deliver_events(sc);
	return NVME_PENDING; /* completed by an event, or never (reset) */
}

static uint16_t cmd_format(struct nvme_ctrl *sc, struct nvme_cmd *c)
{
	unsigned lbaf = c->cdw10 & 0xf, ses = c->cdw10 >> 9 & 7;
	if (c->nsid != NVME_NSID && c->nsid != 0xffffffffu)
		return NVME_SC_INVALID_NS | NVME_DNR;
	if (lbaf != 0)
		return NVME_SC_INVALID_FORMAT | NVME_DNR;
	if (c->cdw10 & (7u << 5)) /* protection information: none */
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	if (ses > 1)
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	if (ses == 0 || sc->nsze == 0)
		return NVME_SC_SUCCESS;
	if (sc->ro)
		return NVME_SC_NS_WRITE_PROTECTED | NVME_DNR;
	if (!blockif_candelete(sc->bc))
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	/* user data erase: deallocate the whole namespace */
	struct nvme_req *r = nvme_req_new(sc, c);
	if (!r || !(r->ranges = calloc(1, sizeof(*r->ranges)))) {
		if (r)
			nvme_req_free(r);
		return NVME_SC_INTERNAL;
	}
	r->ranges[0].len = sc->nsze * sc->sectsz;
	r->nranges = 1;
	return nvme_req_start(r);
}

uint16_t nvme_admin(struct nvme_ctrl *sc, struct nvme_cmd *c)
{
	switch (c->opc) {
	case NVME_ADM_DELETE_SQ:
		return nvme_delete_sq(sc, c->cdw10 & 0xffff);
	case NVME_ADM_CREATE_SQ:
		return cmd_create_sq(sc, c);
	case NVME_ADM_GET_LOG_PAGE:
		return cmd_get_log(sc, c);
	case NVME_ADM_DELETE_CQ:
		return nvme_delete_cq(sc, c->cdw10 & 0xffff);
	case NVME_ADM_CREATE_CQ:
		return cmd_create_cq(sc, c);
	case NVME_ADM_IDENTIFY:
		return cmd_identify(sc, c);
	case NVME_ADM_ABORT:
		c->dw0 = 1; /* not aborted */
		return NVME_SC_SUCCESS;
	case NVME_ADM_SET_FEATURES:
		return cmd_set_features(sc, c);
	case NVME_ADM_GET_FEATURES:
		return cmd_get_features(sc, c);
	case NVME_ADM_ASYNC_EVENT:
		return cmd_aer(sc, c);
	case NVME_ADM_FW_COMMIT:
		return NVME_SC_INVALID_FW_SLOT | NVME_DNR;
	case NVME_ADM_FORMAT_NVM:
		return cmd_format(sc, c);
	case NVME_ADM_SECURITY_SEND:
	case NVME_ADM_SECURITY_RECV:
	case NVME_ADM_SANITIZE:
	case NVME_ADM_GET_LBA_STATUS:
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	default:
		return NVME_SC_INVALID_OPCODE | NVME_DNR;
	}
}
