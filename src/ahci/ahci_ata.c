/* SPDX-License-Identifier: BSD-2-Clause */
/* AHCI: executing one command on a port. ahci.c has read the slot's command header, command FIS
 * and ATAPI packet (struct cmd) and calls ahci_exec_command with the controller's mutex held; the
 * command ends here or in the backend through ahci.c's completion, PRDT and request helpers
 * (ahci_port.h).
 *
 * A disk port runs the ATA command set: IDENTIFY DEVICE, READ/WRITE DMA, PIO (SECTORS, and
 * MULTIPLE once SET MULTIPLE MODE set a block size) and NCQ (FPDMA QUEUED), 28- and 48-bit,
 * READ VERIFY, DATA SET MANAGEMENT TRIM, FLUSH CACHE, SET FEATURES (write cache, transfer mode),
 * READ LOG EXT / READ LOG DMA EXT (the log directory and the NCQ command error log), CHECK POWER
 * MODE and the power commands (accepted, no state). A cd port runs PACKET through atapi.c,
 * IDENTIFY PACKET DEVICE, SET FEATURES, the power commands, and aborts IDENTIFY DEVICE with the
 * packet signature. NOP, SMART and anything unknown abort.
 *
 * Rules: reads, writes, flushes and TRIM go to the blockif backend as requests (ahci_start_rw,
 * ahci_req_new; ahci_req_done completes them); everything else completes at once. Guest memory
 * is reached only through the PRDT helpers. A transfer past the end of the disk aborts with
 * IDNF|ABRT, a write to a read-only disk with ABRT; a PRDT shorter than the data aborts, except
 * an ATAPI reply, which is cut to fit (the allocation length rules); a PRDT outside guest RAM is a
 * host bus fatal error (PxIS.HBFS). TRIM ranges are sorted and merged, then discarded one after
 * another. The device state set here (write cache, multiple count, transfer mode) lives in
 * struct ahci_port; COMRESET puts it back to the power-on defaults (ahci.c). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ahci/ahci.h"
#include "ahci/ahci_port.h"
#include "ahci/atapi.h"
#include "backends/blockif.h"
#include "core/byteorder.h"
#include "core/log.h"

#define MAX_MULT 128 /* READ/WRITE MULTIPLE: sectors per block */

/* ---- ATA commands ---- */

static void ident_info(const struct ahci_port *p, struct ata_ident_info *in)
{
	*in = (struct ata_ident_info){
	    .serial = p->serial,
	    .rev = p->rev,
	    .model = p->model,
	    .sectors = p->sectors,
	    .sectsz = p->sectsz,
	    .psectsz = p->psectsz,
	    .trim = p->trim,
	    .wce = p->wce,
	    .nmrr = p->nmrr,
	    .mult = p->mult,
	    .xfer_mode = p->xfer_mode,
	};
}

/* A data-in command that completes at once: `len` bytes of `buf` through the PRDT. */
static void data_in(struct ahci_port *p, const struct cmd *c, const void *buf, uint32_t len,
		    bool pio)
{
	int64_t n = ahci_copy_to_prdt(p, c, buf, len);
	if (n == -EFAULT) {
		ahci_fatal(p, c->slot, AHCI_P_IX_HBFS);
		return;
	}
	if (n < (int64_t)len) {
		guest_log(p, "ahci port %u: command %#x returns %u bytes, the PRDT holds %lld",
			  p->num, c->cfis[2], len, (long long)(n < 0 ? 0 : n));
		ahci_abort_cmd(p, c, ATA_E_ABRT);
		return;
	}
	ahci_finish_ok(p, c, len, pio ? DONE_PIO_IN : DONE_DMA);
}

static void cmd_identify(struct ahci_port *p, const struct cmd *c, bool packet)
{
	uint16_t w[256];
	uint8_t b[512];
	struct ata_ident_info in;
	ident_info(p, &in);
	if (packet)
		ata_identify_packet(&in, w);
	else
		ata_identify_disk(&in, w);
	for (int i = 0; i < 256; i++)
		put_le16(b + 2 * i, w[i]);
	data_in(p, c, b, sizeof(b), true);
}

static void log_checksum(uint8_t *page)
{
	uint8_t sum = 0;
	for (int i = 0; i < 511; i++)
		sum = (uint8_t)(sum + page[i]);
	page[511] = (uint8_t)-sum;
}

static void cmd_read_log(struct ahci_port *p, const struct cmd *c, bool dma)
{
	const uint8_t *f = c->cfis;
	unsigned log = f[4], page = f[5] | f[9] << 8, count = f[12] | f[13] << 8;
	uint8_t b[512] = {0};
	if (count != 1 || page != 0) { /* every log here has one page */
		ahci_abort_cmd(p, c, ATA_E_ABRT);
		return;
	}
	switch (log) {
	case ATA_LOG_DIRECTORY:
		put_le16(b, 0x0001);
		put_le16(b + 2 * ATA_LOG_NCQ_ERROR, 1);
		break;
	case ATA_LOG_NCQ_ERROR:
		if (p->ncq_err.valid) {
			b[0] = p->ncq_err.tag;
			b[2] = p->ncq_err.status;
			b[3] = p->ncq_err.error;
			b[4] = (uint8_t)p->ncq_err.lba;
			b[5] = (uint8_t)(p->ncq_err.lba >> 8);
			b[6] = (uint8_t)(p->ncq_err.lba >> 16);
			b[7] = p->ncq_err.device;
			b[8] = (uint8_t)(p->ncq_err.lba >> 24);
			b[9] = (uint8_t)(p->ncq_err.lba >> 32);
			b[10] = (uint8_t)(p->ncq_err.lba >> 40);
			put_le16(b + 12, p->ncq_err.count);
			p->ncq_err.valid = false; /* reading the log clears the error */
		} else {
			b[0] = 0x80; /* NQ: no NCQ command failed */
		}
		log_checksum(b);
		break;
	default:
		ahci_abort_cmd(p, c, ATA_E_ABRT);
		return;
	}
	data_in(p, c, b, sizeof(b), !dma);
}

/* LBA and sector count (0 meaning 256 or 65536) of a read/write command. */
static void rw_args(const uint8_t *f, bool ext, bool ncq, uint64_t *lba, uint32_t *count)
{
	if (ext || ncq) {
		*lba = (uint64_t)f[4] | (uint64_t)f[5] << 8 | (uint64_t)f[6] << 16 |
		       (uint64_t)f[8] << 24 | (uint64_t)f[9] << 32 | (uint64_t)f[10] << 40;
		*count = ncq ? (uint32_t)(f[3] | f[11] << 8) : (uint32_t)(f[12] | f[13] << 8);
		if (*count == 0)
			*count = 65536;
	} else {
		*lba = (uint64_t)f[4] | (uint64_t)f[5] << 8 | (uint64_t)f[6] << 16 |
		       (uint64_t)(f[7] & 0x0f) << 24;
		*count = f[12] ? f[12] : 256;
	}
}

static bool range_ok(const struct ahci_port *p, uint64_t lba, uint64_t count)
{
	return lba <= p->sectors && count <= p->sectors - lba;
}

static void cmd_rw(struct ahci_port *p, const struct cmd *c)
{
	uint8_t op = c->cfis[2];
	bool write = false, ext = false, ncq = false, pio = false, mult = false, verify = false;
	switch (op) {
	case ATA_READ_DMA:
		break;
	case ATA_READ_DMA_EXT:
		ext = true;
		break;
	case ATA_WRITE_DMA:
		write = true;
		break;
	case ATA_WRITE_DMA_EXT:
		write = ext = true;
		break;
	case ATA_READ_SECTORS:
		pio = true;
		break;
	case ATA_READ_SECTORS_EXT:
		pio = ext = true;
		break;
	case ATA_WRITE_SECTORS:
		pio = write = true;
		break;
	case ATA_WRITE_SECTORS_EXT:
		pio = write = ext = true;
		break;
	case ATA_READ_MULTIPLE:
		pio = mult = true;
		break;
	case ATA_READ_MULTIPLE_EXT:
		pio = mult = ext = true;
		break;
	case ATA_WRITE_MULTIPLE:
		pio = mult = write = true;
		break;
	case ATA_WRITE_MULTIPLE_EXT:
		pio = mult = write = ext = true;
		break;
	case ATA_READ_FPDMA_QUEUED:
		ncq = true;
		break;
	case ATA_WRITE_FPDMA_QUEUED:
		ncq = write = true;
		break;
	case ATA_READ_VERIFY:
		verify = true;
		break;
	case ATA_READ_VERIFY_EXT:
		verify = ext = true;
		break;
	}
	uint64_t lba;
	uint32_t count;
	rw_args(c->cfis, ext, ncq, &lba, &count);
	if ((mult && p->mult == 0) || (write && blockif_is_ro(p->bc))) {
		ahci_abort_cmd(p, c, ATA_E_ABRT);
		return;
	}
	if (!range_ok(p, lba, count)) {
		guest_log(p, "ahci port %u: command %#x: LBA %llu + %u beyond the %llu sectors",
			  p->num, op, (unsigned long long)lba, count,
			  (unsigned long long)p->sectors);
		ahci_abort_cmd(p, c, ATA_E_IDNF | ATA_E_ABRT);
		return;
	}
	if (verify) {
		ahci_finish_ok(p, c, 0, DONE_DMA);
		return;
	}
	if (ncq) {
		unsigned tag = c->cfis[12] >> 3;
		p->sact |= 1u << tag; /* the driver set it already; keep them consistent */
	}
	ahci_start_rw(p, c, lba * p->sectsz, (uint64_t)count * p->sectsz, write, ncq, pio, false);
}

static int cmp_range(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;
	return (*x > *y) - (*x < *y);
}

static void cmd_dsm(struct ahci_port *p, const struct cmd *c)
{
	unsigned blocks = c->cfis[12] | c->cfis[13] << 8;
	if (!(c->cfis[3] & ATA_DSM_TRIM) || !p->trim || blockif_is_ro(p->bc) || blocks == 0 ||
	    blocks > ATA_DSM_MAX_BLOCKS) {
		ahci_abort_cmd(p, c, ATA_E_ABRT);
		return;
	}
	uint8_t buf[ATA_DSM_MAX_BLOCKS * 512];
	uint32_t len = blocks * 512;
	int64_t got = ahci_copy_from_prdt(p, c, buf, len);
	if (got == -EFAULT) {
		ahci_fatal(p, c->slot, AHCI_P_IX_HBFS);
		return;
	}
	if (got < (int64_t)len) {
		ahci_abort_cmd(p, c, ATA_E_ABRT);
		return;
	}
	struct ahci_req *r = ahci_req_new(p, c);
	if (!r || !(r->ranges = calloc(len / 8, sizeof(*r->ranges)))) {
		if (r)
			ahci_req_free(r);
		ahci_abort_cmd(p, c, ATA_E_ABRT);
		return;
	}
	unsigned n = 0;
	for (uint32_t i = 0; i < len; i += 8) {
		uint64_t e = le64_at(buf + i);
		uint64_t lba = e & 0xffffffffffffULL, cnt = e >> 48;
		if (cnt == 0)
			continue;
		if (!range_ok(p, lba, cnt)) {
			ahci_req_free(r);
			ahci_abort_cmd(p, c, ATA_E_IDNF | ATA_E_ABRT);
			return;
		}
		r->ranges[n].off = lba * p->sectsz;
		r->ranges[n].len = cnt * p->sectsz;
		n++;
	}
	/* sort and merge adjacent or overlapping ranges: fewer backend operations */
	qsort(r->ranges, n, sizeof(*r->ranges), cmp_range);
	unsigned m = 0;
	for (unsigned i = 0; i < n; i++) {
		if (m > 0 && r->ranges[i].off <= r->ranges[m - 1].off + r->ranges[m - 1].len) {
			uint64_t end = r->ranges[i].off + r->ranges[i].len;
			if (end > r->ranges[m - 1].off + r->ranges[m - 1].len)
				r->ranges[m - 1].len = end - r->ranges[m - 1].off;
		} else
			r->ranges[m++] = r->ranges[i];
	}
	if (m == 0) {
		ahci_req_free(r);
		ahci_finish_ok(p, c, len, DONE_DMA);
		return;
	}
	r->nranges = m;
	r->bytes = len;
	p->busy |= 1u << c->slot;
	int e = blockif_discard(p->bc, r->ranges[0].off, r->ranges[0].len, ahci_req_done, r);
	if (e < 0) {
		ahci_req_free(r);
		p->busy &= ~(1u << c->slot);
		ahci_abort_cmd(p, c, ATA_E_ABRT);
	}
}

static void cmd_flush(struct ahci_port *p, const struct cmd *c)
{
	struct ahci_req *r = ahci_req_new(p, c);
	if (!r) {
		ahci_abort_cmd(p, c, ATA_E_ABRT);
		return;
	}
	p->busy |= 1u << c->slot;
	int e = blockif_flush(p->bc, ahci_req_done, r);
	if (e < 0) {
		ahci_req_free(r);
		p->busy &= ~(1u << c->slot);
		ahci_abort_cmd(p, c, ATA_E_ABRT);
	}
}

static void cmd_set_features(struct ahci_port *p, const struct cmd *c)
{
	uint8_t mode = c->cfis[12];
	switch (c->cfis[3]) {
	case ATA_SF_ENAB_WCACHE:
		p->wce = true;
		break;
	case ATA_SF_DIS_WCACHE:
		p->wce = false;
		break;
	case ATA_SF_SETXFER:
		/* PIO default/0-4, MWDMA 0-2, UDMA 0-6 */
		if (mode > 0x0c && !((mode & 0xf8) == 0x20 && (mode & 7) <= 2) &&
		    !((mode & 0xf8) == 0x40 && (mode & 7) <= 6)) {
			ahci_abort_cmd(p, c, ATA_E_ABRT);
			return;
		}
		p->xfer_mode = mode;
		break;
	case ATA_SF_ENAB_SATA:
	case ATA_SF_DIS_SATA:
	case ATA_SF_ENAB_RLA:
	case ATA_SF_DIS_RLA:
		break;
	default:
		ahci_abort_cmd(p, c, ATA_E_ABRT);
		return;
	}
	ahci_finish_ok(p, c, 0, DONE_DMA);
}

static void cmd_ata(struct ahci_port *p, const struct cmd *c)
{
	uint8_t op = c->cfis[2];
	switch (op) {
	case ATA_IDENTIFY:
		cmd_identify(p, c, false);
		break;
	case ATA_SET_FEATURES:
		cmd_set_features(p, c);
		break;
	case ATA_SET_MULTIPLE: {
		unsigned n = c->cfis[12];
		if (n > MAX_MULT || (n & (n - 1))) {
			ahci_abort_cmd(p, c, ATA_E_ABRT);
			return;
		}
		p->mult = n;
		ahci_finish_ok(p, c, 0, DONE_DMA);
		break;
	}
	case ATA_READ_DMA:
	case ATA_READ_DMA_EXT:
	case ATA_WRITE_DMA:
	case ATA_WRITE_DMA_EXT:
	case ATA_READ_SECTORS:
	case ATA_READ_SECTORS_EXT:
	case ATA_WRITE_SECTORS:
	case ATA_WRITE_SECTORS_EXT:
	case ATA_READ_MULTIPLE:
	case ATA_READ_MULTIPLE_EXT:
	case ATA_WRITE_MULTIPLE:
	case ATA_WRITE_MULTIPLE_EXT:
	case ATA_READ_FPDMA_QUEUED:
	case ATA_WRITE_FPDMA_QUEUED:
	case ATA_READ_VERIFY:
	case ATA_READ_VERIFY_EXT:
		cmd_rw(p, c);
		break;
	case ATA_FLUSH_CACHE:
	case ATA_FLUSH_CACHE_EXT:
		cmd_flush(p, c);
		break;
	case ATA_DSM:
		cmd_dsm(p, c);
		break;
	case ATA_READ_LOG_EXT:
	case ATA_READ_LOG_DMA_EXT:
		cmd_read_log(p, c, op == ATA_READ_LOG_DMA_EXT);
		break;
	case ATA_CHECK_POWER_MODE:
		ahci_finish(p, c->slot, c->cfis, 0, 0, DONE_DMA, 0xff, 0); /* active or idle */
		break;
	case ATA_IDLE:
	case ATA_IDLE_IMMEDIATE:
	case ATA_STANDBY:
	case ATA_STANDBY_IMMEDIATE:
	case ATA_SLEEP:
	case ATA_SECURITY_FREEZE_LOCK:
		ahci_finish_ok(p, c, 0, DONE_DMA);
		break;
	default: /* NOP, SMART and anything unknown */
		ahci_abort_cmd(p, c, ATA_E_ABRT);
		break;
	}
}

/* ---- ATAPI ---- */

static void cmd_packet(struct ahci_port *p, const struct cmd *c)
{
	bool dma = c->cfis[3] & 0x01;
	struct atapi_result res;
	atapi_command(&p->atapi, c->acmd, p->reply, &res);
	switch (res.action) {
	case ATAPI_DATA: {
		uint32_t len = res.len > ATAPI_REPLY_MAX ? ATAPI_REPLY_MAX : res.len;
		int64_t n = len ? ahci_copy_to_prdt(p, c, p->reply, len) : 0;
		if (n == -EFAULT) {
			ahci_fatal(p, c->slot, AHCI_P_IX_HBFS);
			return;
		}
		if (n < 0)
			n = 0;
		/* a PRDT shorter than the reply gets what fits (the allocation length rules) */
		ahci_finish(p, c->slot, c->cfis, 0, (uint32_t)n, dma ? DONE_DMA : DONE_PIO_IN,
			    ATAPI_REASON_DONE, 0);
		break;
	}
	case ATAPI_READ: {
		uint64_t bytes = (uint64_t)res.nblocks * ATAPI_BLOCK;
		if (res.nblocks == 0) {
			ahci_finish(p, c->slot, c->cfis, 0, 0, DONE_DMA, ATAPI_REASON_DONE, 0);
			return;
		}
		if (!p->bc || bytes > (1u << 30)) {
			atapi_set_read_error(&p->atapi);
			ahci_finish(p, c->slot, c->cfis, atapi_error_reg(&p->atapi), 0, DONE_DMA,
				    -1, 0);
			return;
		}
		ahci_start_rw(p, c, res.lba * ATAPI_BLOCK, bytes, false, false, !dma, true);
		break;
	}
	case ATAPI_ERROR:
	default:
		ahci_finish(p, c->slot, c->cfis, atapi_error_reg(&p->atapi), 0, DONE_DMA, -1, 0);
		break;
	}
}

static void cmd_atapi(struct ahci_port *p, const struct cmd *c)
{
	switch (c->cfis[2]) {
	case ATA_PACKET:
		cmd_packet(p, c);
		break;
	case ATA_IDENTIFY_PACKET:
		cmd_identify(p, c, true);
		break;
	case ATA_IDENTIFY: {
		/* a packet device aborts it and shows its signature (ACS-3 7.12.6) */
		uint8_t fis[20];
		memcpy(fis, c->cfis, sizeof(fis));
		fis[4] = 0x01;
		fis[5] = 0x14;
		fis[6] = 0xeb;
		fis[12] = 0x01;
		ahci_finish(p, c->slot, fis, ATA_E_ABRT, 0, DONE_DMA, -1, 0);
		break;
	}
	case ATA_SET_FEATURES:
		cmd_set_features(p, c);
		break;
	case ATA_CHECK_POWER_MODE:
		ahci_finish(p, c->slot, c->cfis, 0, 0, DONE_DMA, 0xff, 0);
		break;
	case ATA_IDLE:
	case ATA_IDLE_IMMEDIATE:
	case ATA_STANDBY:
	case ATA_STANDBY_IMMEDIATE:
	case ATA_SLEEP:
		ahci_finish_ok(p, c, 0, DONE_DMA);
		break;
	default:
		ahci_abort_cmd(p, c, ATA_E_ABRT);
		break;
	}
}

/* ---- entry ---- */

void ahci_exec_command(struct ahci_port *p, const struct cmd *c)
{
	if (p->type == AHCI_PORT_CD)
		cmd_atapi(p, c);
	else
		cmd_ata(p, c);
}
