/* SPDX-License-Identifier: BSD-2-Clause */
/* AHCI 1.3 SATA controller: bhyve's `ahci`, `ahci-hd` and `ahci-cd` (Intel ICH8 8086:2821,
 * class 01/06/01, the registers in BAR 5, INTx pin A plus one MSI vector). Up to 32 ports, each a
 * disk (ATA, NCQ, TRIM) on a blockif backend or a CD/DVD drive (ATAPI through atapi.c), maybe
 * empty. This file is the controller: the PCI function, the HBA and port registers, port
 * start/stop/reset, fetching the command slots, the FIS it writes, completion and interrupts, the
 * PRDT and the requests in the backend. Executing one command is ahci_ata.c's (ahci_port.h).
 *
 * Commands: writing PxCI with PxCMD.ST set executes the slots: the 32-byte command header in the
 * command list, the command FIS (H2D register FIS 0x27), the ATAPI packet and the PRDT in the
 * command table. A FIS without the C bit is a device control update (SRST); any other goes to
 * ahci_exec_command. Data moves between the backend and the PRDT's buffers; reads and writes are
 * asynchronous (blockif; the completion arrives on the event loop), everything else completes at
 * once. A completion writes PRDBC and the D2H register FIS (plus a PIO Setup FIS for PIO
 * commands, or a Set Device Bits FIS for NCQ) into the received-FIS area when PxCMD.FRE is set,
 * sets PxIS and PxTFD, clears the PxCI/PxSACT bit and interrupts.
 *
 * Errors: a command that fails sets PxIS.TFES (or HBFS for a command list, table or buffer
 * outside guest RAM, IFS for a malformed FIS) and PxTFD.ERR; the port then executes nothing
 * more until software clears and sets PxCMD.ST again (as libahci's error handling expects).
 * Guest memory is only reached through gm_ptr/gm_read/gm_write, only while Bus Master Enable is
 * set; guest mistakes are logged through one rate limiter per controller.
 *
 * Concurrency: one mutex per controller serialises register accesses (vCPU threads) and backend
 * completions (event loop). Every request records the port's generation; stopping a port
 * (ST cleared, COMRESET, HBA reset) waits until the backend no longer touches guest buffers
 * (blockif_quiesce) and bumps the generation, so completions that arrive later are dropped. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "ahci/ahci.h"
#include "ahci/ahci_port.h"
#include "ahci/atapi.h"
#include "backends/blockif.h"
#include "backends/blockif_serial.h"
#include "core/byteorder.h"
#include "core/log.h"
#include "core/vm.h"
#include "pci/pci.h"
#include "pci/pci_msi.h"

static uint64_t clb_addr(const struct ahci_port *p)
{
	return (uint64_t)p->clbu << 32 | p->clb;
}

static uint64_t fb_addr(const struct ahci_port *p)
{
	return (uint64_t)p->fbu << 32 | p->fb;
}

/* ---- interrupts ---- */

/* INTx follows GHC.IE && IS; MSI is sent when `fresh` (a new enabled port event). */
static void hba_signal(struct ahci *sc, bool fresh)
{
	bool on = (sc->ghc & AHCI_GHC_IE) && sc->is;
	if (pci_msi_enabled(sc->pd)) {
		pci_intx_deassert(sc->pd);
		if (on && fresh)
			pci_msi_notify(sc->pd, 0);
	} else if (on)
		pci_intx_assert(sc->pd);
	else
		pci_intx_deassert(sc->pd);
}

static void port_raise(struct ahci_port *p, uint32_t bits)
{
	struct ahci *sc = p->sc;
	p->is |= bits;
	if (bits & p->ie) {
		sc->is |= 1u << p->num;
		hba_signal(sc, true);
	}
}

/* ---- received FIS ---- */

static void write_rfis(struct ahci_port *p, unsigned off, const uint8_t *fis, size_t len)
{
	if (!(p->cmd & AHCI_P_CMD_FR) || !pci_bus_master(p->sc->pd))
		return;
	if (gm_write(&p->sc->vm->mem, fb_addr(p) + off, fis, len) < 0)
		guest_log(p, "ahci port %u: received-FIS area at %#llx is not in guest RAM", p->num,
			  (unsigned long long)fb_addr(p));
}

/* The register part of a FIS from the command's, with status and error. */
static void fis_regs(uint8_t *fis, const uint8_t *cfis, uint8_t status, uint8_t error)
{
	fis[2] = status;
	fis[3] = error;
	memcpy(fis + 4, cfis + 4, 7); /* LBA 0-2, device, LBA 3-5 */
	fis[12] = cfis[12];
	fis[13] = cfis[13];
}

static void send_d2h(struct ahci_port *p, const uint8_t *cfis, uint8_t status, uint8_t error,
		     int count)
{
	uint8_t fis[20] = {FIS_D2H, FIS_I};
	fis_regs(fis, cfis, status, error);
	if (count >= 0)
		fis[12] = (uint8_t)count;
	write_rfis(p, AHCI_RFIS_RFIS, fis, sizeof(fis));
}

static void send_pio_setup(struct ahci_port *p, const uint8_t *cfis, bool to_host, uint32_t bytes)
{
	uint8_t fis[20] = {FIS_PIO_SETUP, (uint8_t)(FIS_I | (to_host ? 0x20 : 0))};
	fis_regs(fis, cfis, STATUS_OK | ATA_S_DRQ, 0);
	fis[15] = STATUS_OK; /* E_Status: the status at the end of the transfer */
	put_le16(fis + 16, (uint16_t)(bytes > 0xffff ? 0xffff : bytes));
	write_rfis(p, AHCI_RFIS_PSFIS, fis, sizeof(fis));
}

/* The register values a port shows after a reset, and its D2H FIS with the signature. */
static void device_signature(struct ahci_port *p)
{
	bool atapi = p->type == AHCI_PORT_CD;
	p->sig = atapi ? AHCI_SIG_ATAPI : AHCI_SIG_ATA;
	p->tfd = atapi ? 0 : STATUS_OK;
	p->ssts = p->type == AHCI_PORT_NONE ? 0 : AHCI_SSTS_PRESENT;
	if (p->type == AHCI_PORT_NONE)
		return;
	uint8_t fis[20] = {FIS_D2H, 0, (uint8_t)p->tfd, 0x01};
	fis[4] = 0x01; /* LBA low, sector count: 1 */
	fis[12] = 0x01;
	fis[5] = (uint8_t)(p->sig >> 16);
	fis[6] = (uint8_t)(p->sig >> 24);
	write_rfis(p, AHCI_RFIS_RFIS, fis, sizeof(fis));
}

/* ---- completion ---- */

static void write_prdbc(struct ahci_port *p, unsigned slot, uint32_t bytes)
{
	uint8_t b[4];
	if (!pci_bus_master(p->sc->pd))
		return;
	put_le32(b, bytes);
	gm_write(&p->sc->vm->mem, clb_addr(p) + (uint64_t)slot * AHCI_CMDHDR_SIZE + 4, b, 4);
}

/* Finish slot `slot`: error 0 for success. `count` >= 0 overrides the D2H sector count. */
void ahci_finish(struct ahci_port *p, unsigned slot, const uint8_t *cfis, uint8_t error,
		 uint32_t bytes, enum done_how how, int count, uint32_t extra_is)
{
	uint32_t bit = 1u << slot;
	uint8_t status = STATUS_OK | (error ? ATA_S_ERR : 0);
	uint32_t is = extra_is;
	if (how != DONE_NCQ)
		write_prdbc(p, slot, bytes);
	p->tfd = (uint32_t)error << 8 | status;
	if (how == DONE_NCQ) {
		unsigned tag = cfis[12] >> 3;
		uint8_t fis[8] = {FIS_SDB, FIS_I, (uint8_t)(status & 0x77), error};
		put_le32(fis + 4, 1u << tag);
		write_rfis(p, AHCI_RFIS_SDBFIS, fis, sizeof(fis));
		p->sact &= ~(1u << tag);
		is |= AHCI_P_IX_SDBS;
		if (error) {
			p->ncq_err.valid = true;
			p->ncq_err.tag = (uint8_t)tag;
			p->ncq_err.status = status;
			p->ncq_err.error = error;
			p->ncq_err.device = cfis[7];
			p->ncq_err.lba = (uint64_t)cfis[4] | (uint64_t)cfis[5] << 8 |
					 (uint64_t)cfis[6] << 16 | (uint64_t)cfis[8] << 24 |
					 (uint64_t)cfis[9] << 32 | (uint64_t)cfis[10] << 40;
			p->ncq_err.count = (uint16_t)(cfis[3] | cfis[11] << 8);
		}
	} else {
		if (!error && (how == DONE_PIO_IN || how == DONE_PIO_OUT)) {
			send_pio_setup(p, cfis, how == DONE_PIO_IN, bytes);
			is |= AHCI_P_IX_PSS;
		}
		send_d2h(p, cfis, status, error, count);
		is |= AHCI_P_IX_DHRS;
	}
	p->ci &= ~bit;
	p->busy &= ~bit;
	if (error) {
		is |= AHCI_P_IX_TFES;
		p->stalled = true;
		p->cmd = (p->cmd & ~AHCI_P_CMD_CCS_MASK) | slot << AHCI_P_CMD_CCS_SHIFT;
	}
	port_raise(p, is);
}

void ahci_finish_ok(struct ahci_port *p, const struct cmd *c, uint32_t bytes, enum done_how how)
{
	ahci_finish(p, c->slot, c->cfis, 0, bytes, how, -1, 0);
}

void ahci_abort_cmd(struct ahci_port *p, const struct cmd *c, uint8_t error)
{
	bool ncq = c->cfis[2] == ATA_READ_FPDMA_QUEUED || c->cfis[2] == ATA_WRITE_FPDMA_QUEUED;
	ahci_finish(p, c->slot, c->cfis, error ? error : ATA_E_ABRT, 0, ncq ? DONE_NCQ : DONE_DMA,
		    -1, 0);
}

/* A fatal error outside the device (bus or FIS): port IS `bit`, the port stalls. */
void ahci_fatal(struct ahci_port *p, unsigned slot, uint32_t bit)
{
	p->ci &= ~(1u << slot);
	p->tfd = ATA_E_ABRT << 8 | STATUS_OK | ATA_S_ERR;
	p->stalled = true;
	p->cmd = (p->cmd & ~AHCI_P_CMD_CCS_MASK) | slot << AHCI_P_CMD_CCS_SHIFT;
	port_raise(p, bit);
}

/* ---- PRDT ---- */

/* Map the PRDT's buffers for up to `len` bytes: iovecs (malloc'd, NULL when *covered is 0)
 * and the bytes they cover (less than len when the PRDT is shorter). -EFAULT for a table or a
 * buffer outside guest RAM, -ENOMEM. *dps: an entry asked for an interrupt. */
static int prdt_map(struct ahci_port *p, const struct cmd *c, uint64_t len, struct iovec **out,
		    int *cnt, uint64_t *covered, bool *dps)
{
	const struct guestmem *gm = &p->sc->vm->mem;
	*out = NULL;
	*cnt = 0;
	*covered = 0;
	if (dps)
		*dps = false;
	if (c->prdtl == 0 || len == 0)
		return 0;
	const uint8_t *t = gm_ptr(gm, c->ctba + AHCI_CT_PRDT, (uint64_t)c->prdtl * AHCI_PRD_SIZE);
	if (!t) {
		guest_log(p, "ahci port %u: PRDT of %u entries at %#llx is not in guest RAM",
			  p->num, c->prdtl, (unsigned long long)(c->ctba + AHCI_CT_PRDT));
		return -EFAULT;
	}
	struct iovec *iov = malloc(sizeof(*iov) * c->prdtl);
	if (!iov)
		return -ENOMEM;
	uint64_t left = len;
	int n = 0;
	for (unsigned i = 0; i < c->prdtl && left > 0; i++) {
		const uint8_t *e = t + (size_t)i * AHCI_PRD_SIZE;
		uint64_t dba = le64_at(e);
		uint32_t dw3 = le32_at(e + 12);
		uint64_t dbc = (uint64_t)(dw3 & AHCI_PRD_DBC_MASK) + 1;
		if (dbc > left)
			dbc = left;
		void *h = gm_ptr(gm, dba, dbc);
		if (!h) {
			guest_log(p, "ahci port %u: PRD %u (%#llx, %llu bytes) is not in guest RAM",
				  p->num, i, (unsigned long long)dba, (unsigned long long)dbc);
			free(iov);
			return -EFAULT;
		}
		if (dps && (dw3 & AHCI_PRD_I))
			*dps = true;
		iov[n].iov_base = h;
		iov[n].iov_len = dbc;
		n++;
		left -= dbc;
	}
	*out = iov;
	*cnt = n;
	*covered = len - left;
	return 0;
}

/* Copy `len` bytes of `buf` into the PRDT's buffers (fewer when the PRDT is shorter).
 * Returns the bytes copied or -EFAULT / -ENOMEM. */
int64_t ahci_copy_to_prdt(struct ahci_port *p, const struct cmd *c, const void *buf, uint64_t len)
{
	struct iovec *iov;
	int n;
	uint64_t covered;
	int r = prdt_map(p, c, len, &iov, &n, &covered, NULL);
	if (r < 0)
		return r;
	size_t off = 0;
	for (int i = 0; i < n; i++) {
		memcpy(iov[i].iov_base, (const uint8_t *)buf + off, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	free(iov);
	return (int64_t)covered;
}

int64_t ahci_copy_from_prdt(struct ahci_port *p, const struct cmd *c, void *buf, uint64_t len)
{
	struct iovec *iov;
	int n;
	uint64_t covered;
	int r = prdt_map(p, c, len, &iov, &n, &covered, NULL);
	if (r < 0)
		return r;
	size_t off = 0;
	for (int i = 0; i < n; i++) {
		memcpy((uint8_t *)buf + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	free(iov);
	return (int64_t)covered;
}

/* ---- requests in the backend ---- */

struct ahci_req *ahci_req_new(struct ahci_port *p, const struct cmd *c)
{
	struct ahci_req *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->p = p;
	r->gen = p->gen;
	r->slot = c->slot;
	memcpy(r->cfis, c->cfis, sizeof(r->cfis));
	r->next = p->outstanding;
	if (r->next)
		r->next->prev = r;
	p->outstanding = r;
	return r;
}

void ahci_req_free(struct ahci_req *r)
{
	struct ahci_port *p = r->p;
	if (r->prev)
		r->prev->next = r->next;
	else
		p->outstanding = r->next;
	if (r->next)
		r->next->prev = r->prev;
	free(r->iov);
	free(r->ranges);
	free(r);
}

/* Start the request's next backend step after a completed one: 1 started, 0 nothing more,
 * -errno failed. */
static int req_next_step(struct ahci_req *r)
{
	struct ahci_port *p = r->p;
	if (r->flush_after) {
		r->flush_after = false;
		int e = blockif_flush(p->bc, ahci_req_done, r);
		return e < 0 ? e : 1;
	}
	if (r->ranges && ++r->range < r->nranges) {
		int e = blockif_discard(p->bc, r->ranges[r->range].off, r->ranges[r->range].len,
					ahci_req_done, r);
		return e < 0 ? e : 1;
	}
	return 0;
}

/* Backend completion, on the event-loop thread. */
void ahci_req_done(void *opaque, int result)
{
	struct ahci_req *r = opaque;
	struct ahci_port *p = r->p;
	struct ahci *sc = p->sc;
	pthread_mutex_lock(&sc->mtx);
	if (r->gen != p->gen) { /* the port was stopped or reset since */
		ahci_req_free(r);
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
	uint32_t dps = r->dps ? AHCI_P_IX_DPS : 0;
	enum done_how how = r->ncq   ? DONE_NCQ
			    : r->pio ? (r->write ? DONE_PIO_OUT : DONE_PIO_IN)
				     : DONE_DMA;
	if (result < 0) {
		kb_debug("ahci port %u: backend error %d", p->num, result);
		uint8_t err = ATA_E_ABRT;
		if (r->atapi) {
			atapi_set_read_error(&p->atapi);
			err = atapi_error_reg(&p->atapi);
		} else if (!r->write && !r->ranges && r->bytes)
			err = ATA_E_UNC;
		ahci_finish(p, r->slot, r->cfis, err, 0, how, -1, 0);
	} else {
		ahci_finish(p, r->slot, r->cfis, 0, r->bytes, how,
			    r->atapi ? ATAPI_REASON_DONE : -1, dps);
	}
	ahci_req_free(r);
	pthread_mutex_unlock(&sc->mtx);
}

/* Read or write `bytes` at byte offset `off` through the PRDT. */
void ahci_start_rw(struct ahci_port *p, const struct cmd *c, uint64_t off, uint64_t bytes,
		   bool write, bool ncq, bool pio, bool atapi)
{
	struct iovec *iov;
	int n;
	uint64_t covered;
	bool dps;
	int e = prdt_map(p, c, bytes, &iov, &n, &covered, &dps);
	if (e == -EFAULT) {
		ahci_fatal(p, c->slot, AHCI_P_IX_HBFS);
		return;
	}
	if (e < 0 || covered < bytes) {
		if (e == 0)
			guest_log(p,
				  "ahci port %u: command %#x moves %llu bytes, the PRDT holds %llu",
				  p->num, c->cfis[2], (unsigned long long)bytes,
				  (unsigned long long)covered);
		free(iov);
		if (atapi)
			ahci_finish(p, c->slot, c->cfis, SENSE_ILLEGAL_REQUEST << 4 | ATA_E_ABRT, 0,
				    DONE_DMA, -1, 0);
		else
			ahci_abort_cmd(p, c, ATA_E_ABRT);
		return;
	}
	struct ahci_req *r = ahci_req_new(p, c);
	if (!r) {
		free(iov);
		ahci_abort_cmd(p, c, ATA_E_ABRT);
		return;
	}
	r->iov = iov;
	r->bytes = (uint32_t)bytes;
	r->write = write;
	r->ncq = ncq;
	r->pio = pio;
	r->atapi = atapi;
	r->dps = dps;
	r->flush_after = write && !p->wce;
	p->busy |= 1u << c->slot;
	e = write ? blockif_write(p->bc, iov, n, off, ahci_req_done, r)
		  : blockif_read(p->bc, iov, n, off, ahci_req_done, r);
	if (e < 0) {
		kb_debug("ahci port %u: backend refused a request: %s", p->num, strerror(-e));
		ahci_req_free(r);
		p->busy &= ~(1u << c->slot);
		ahci_abort_cmd(p, c, ATA_E_ABRT);
	}
}

/* ---- command slots ---- */

/* A FIS without the C bit: device control. SRST set then cleared resets the device. */
static void control_fis(struct ahci_port *p, const struct cmd *c)
{
	if (c->cfis[15] & ATA_CTL_SRST) {
		p->srst = true;
		p->tfd = ATA_S_BSY;
	} else if (p->srst) {
		p->srst = false;
		device_signature(p);
	}
	write_prdbc(p, c->slot, 0);
	p->ci &= ~(1u << c->slot);
}

static void run_slot(struct ahci_port *p, unsigned slot)
{
	const struct guestmem *gm = &p->sc->vm->mem;
	uint8_t hdr[AHCI_CMDHDR_SIZE];
	struct cmd c = {.slot = slot};
	uint64_t at = clb_addr(p) + (uint64_t)slot * AHCI_CMDHDR_SIZE;
	if (gm_read(gm, at, hdr, sizeof(hdr)) < 0) {
		guest_log(p, "ahci port %u: command header at %#llx is not in guest RAM", p->num,
			  (unsigned long long)at);
		ahci_fatal(p, slot, AHCI_P_IX_HBFS);
		return;
	}
	c.flags = le32_at(hdr);
	c.prdtl = c.flags >> 16;
	c.ctba = le64_at(hdr + 8) & ~0x7fULL;
	if (gm_read(gm, c.ctba, c.cfis, sizeof(c.cfis)) < 0 ||
	    gm_read(gm, c.ctba + AHCI_CT_ACMD, c.acmd, sizeof(c.acmd)) < 0) {
		guest_log(p, "ahci port %u: command table at %#llx is not in guest RAM", p->num,
			  (unsigned long long)c.ctba);
		ahci_fatal(p, slot, AHCI_P_IX_HBFS);
		return;
	}
	if (c.cfis[0] != FIS_H2D || (c.flags & AHCI_CMDHDR_CFL_MASK) < 5) {
		guest_log(p, "ahci port %u: slot %u: not a host-to-device register FIS (%#x)",
			  p->num, slot, c.cfis[0]);
		ahci_fatal(p, slot, AHCI_P_IX_IFS);
		return;
	}
	if (!(c.cfis[1] & FIS_H2D_C)) {
		control_fis(p, &c);
		return;
	}
	if ((c.cfis[1] & 0x0f) || ((c.flags >> AHCI_CMDHDR_PMP_SHIFT) & 0xf)) {
		ahci_abort_cmd(p, &c, ATA_E_ABRT); /* no port multiplier */
		return;
	}
	ahci_exec_command(p, &c);
}

/* Execute the issued slots that are not running yet (lock held). */
static void port_run(struct ahci_port *p)
{
	if (!(p->cmd & AHCI_P_CMD_ST) || p->stalled || p->type == AHCI_PORT_NONE)
		return;
	if (!pci_bus_master(p->sc->pd)) {
		guest_log(p, "ahci port %u: commands issued without Bus Master Enable", p->num);
		return;
	}
	uint32_t todo = p->ci & ~p->busy;
	for (unsigned slot = 0; slot < AHCI_SLOTS && todo && !p->stalled; slot++) {
		if (!(todo & (1u << slot)))
			continue;
		todo &= ~(1u << slot);
		p->cmd = (p->cmd & ~AHCI_P_CMD_CCS_MASK) | slot << AHCI_P_CMD_CCS_SHIFT;
		run_slot(p, slot);
	}
}

/* Forget every command: the backend no longer touches guest buffers when this returns, and
 * completions still on their way are dropped. */
static void port_stop(struct ahci_port *p)
{
	if (p->busy && p->bc)
		blockif_quiesce(p->bc);
	p->gen++;
	p->busy = 0;
	p->ci = 0;
	p->sact = 0;
	p->stalled = false;
	p->cmd &= ~(AHCI_P_CMD_CCS_MASK | AHCI_P_CMD_CR);
}

/* COMRESET: the device starts over (its settings back to the power-on defaults). */
static void port_comreset(struct ahci_port *p)
{
	port_stop(p);
	p->wce = true;
	p->mult = 0;
	p->xfer_mode = 0;
	p->srst = false;
	device_signature(p);
}

static void port_hba_reset(struct ahci_port *p)
{
	port_stop(p);
	p->clb = p->clbu = p->fb = p->fbu = 0;
	p->is = p->ie = 0;
	p->cmd = AHCI_P_CMD_SUD | AHCI_P_CMD_POD;
	p->sctl = p->serr = p->sntf = 0;
	port_comreset(p);
}

static void hba_reset(struct ahci *sc)
{
	sc->ghc = AHCI_GHC_AE;
	sc->is = 0;
	sc->bohc = 0;
	for (unsigned i = 0; i < AHCI_MAX_PORTS; i++)
		port_hba_reset(&sc->port[i]);
	hba_signal(sc, false);
}

/* ---- registers ---- */

static uint32_t port_read(struct ahci_port *p, unsigned off)
{
	switch (off) {
	case AHCI_P_CLB:
		return p->clb;
	case AHCI_P_CLBU:
		return p->clbu;
	case AHCI_P_FB:
		return p->fb;
	case AHCI_P_FBU:
		return p->fbu;
	case AHCI_P_IS:
		return p->is;
	case AHCI_P_IE:
		return p->ie;
	case AHCI_P_CMD:
		return p->cmd;
	case AHCI_P_TFD:
		return p->tfd;
	case AHCI_P_SIG:
		return p->sig;
	case AHCI_P_SSTS:
		return p->ssts;
	case AHCI_P_SCTL:
		return p->sctl;
	case AHCI_P_SERR:
		return p->serr;
	case AHCI_P_SACT:
		return p->sact;
	case AHCI_P_CI:
		return p->ci;
	case AHCI_P_SNTF:
		return p->sntf;
	default:
		return 0;
	}
}

static void port_write_cmd(struct ahci_port *p, uint32_t v)
{
	uint32_t old = p->cmd;
	p->cmd = (old & ~AHCI_P_CMD_RW) | (v & AHCI_P_CMD_RW);
	if (v & AHCI_P_CMD_CLO)
		p->tfd &= ~(uint32_t)(ATA_S_BSY | ATA_S_DRQ);
	if (p->cmd & AHCI_P_CMD_FRE)
		p->cmd |= AHCI_P_CMD_FR;
	else
		p->cmd &= ~AHCI_P_CMD_FR;
	if ((old & AHCI_P_CMD_ST) && !(v & AHCI_P_CMD_ST))
		port_stop(p);
	else if (!(old & AHCI_P_CMD_ST) && (v & AHCI_P_CMD_ST)) {
		p->cmd |= AHCI_P_CMD_CR;
		p->stalled = false;
		port_run(p);
	}
}

static void port_write(struct ahci *sc, struct ahci_port *p, unsigned off, uint32_t v)
{
	switch (off) {
	case AHCI_P_CLB:
		p->clb = v & ~0x3ffu;
		break;
	case AHCI_P_CLBU:
		p->clbu = v;
		break;
	case AHCI_P_FB:
		p->fb = v & ~0xffu;
		break;
	case AHCI_P_FBU:
		p->fbu = v;
		break;
	case AHCI_P_IS:
		p->is &= ~v;
		break;
	case AHCI_P_IE: {
		uint32_t newly = v & AHCI_P_IE_MASK & ~p->ie;
		p->ie = v & AHCI_P_IE_MASK;
		if (p->is & newly) {
			sc->is |= 1u << p->num;
			hba_signal(sc, true);
		}
		break;
	}
	case AHCI_P_CMD:
		port_write_cmd(p, v);
		break;
	case AHCI_P_SCTL:
		p->sctl = v & 0xfff;
		if (!(p->cmd & AHCI_P_CMD_ST) && (v & AHCI_SCTL_DET_MASK) == AHCI_SCTL_DET_COMRESET)
			port_comreset(p);
		break;
	case AHCI_P_SERR:
		p->serr &= ~v;
		break;
	case AHCI_P_SACT:
		if (p->cmd & AHCI_P_CMD_ST)
			p->sact |= v;
		break;
	case AHCI_P_CI:
		if (p->cmd & AHCI_P_CMD_ST) {
			p->ci |= v;
			port_run(p);
		}
		break;
	case AHCI_P_SNTF:
		p->sntf &= ~v;
		break;
	default: /* TFD, SIG, SSTS and reserved registers are read-only */
		break;
	}
}

static uint32_t reg_read(struct ahci *sc, uint64_t off)
{
	if (off >= AHCI_PORT_BASE) {
		unsigned n = (unsigned)((off - AHCI_PORT_BASE) / AHCI_PORT_STEP);
		if (n >= sc->nports)
			return 0;
		return port_read(&sc->port[n], (unsigned)((off - AHCI_PORT_BASE) % AHCI_PORT_STEP));
	}
	switch (off) {
	case AHCI_CAP:
		return sc->cap;
	case AHCI_GHC:
		return sc->ghc;
	case AHCI_IS:
		return sc->is;
	case AHCI_PI:
		return sc->pi;
	case AHCI_VS:
		return AHCI_VERSION;
	case AHCI_CAP2:
		return sc->cap2;
	case AHCI_BOHC:
		return sc->bohc;
	default:
		return 0;
	}
}

static void reg_write(struct ahci *sc, uint64_t off, uint32_t v)
{
	if (off >= AHCI_PORT_BASE) {
		unsigned n = (unsigned)((off - AHCI_PORT_BASE) / AHCI_PORT_STEP);
		if (n < sc->nports)
			port_write(sc, &sc->port[n],
				   (unsigned)((off - AHCI_PORT_BASE) % AHCI_PORT_STEP), v);
		return;
	}
	switch (off) {
	case AHCI_GHC:
		if (v & AHCI_GHC_HR) {
			hba_reset(sc);
			break;
		}
		{
			bool was = sc->ghc & AHCI_GHC_IE;
			sc->ghc = AHCI_GHC_AE | (v & AHCI_GHC_IE);
			hba_signal(sc, !was && (v & AHCI_GHC_IE));
		}
		break;
	case AHCI_IS: {
		sc->is &= ~v;
		uint32_t again = 0;
		for (unsigned i = 0; i < sc->nports; i++)
			if ((v & (1u << i)) && (sc->port[i].is & sc->port[i].ie))
				again |= 1u << i; /* the port still has a pending event */
		sc->is |= again;
		hba_signal(sc, again != 0);
		break;
	}
	case AHCI_BOHC:
		/* BIOS/OS handoff (CAP2.BOH is clear): only the OS-owned bit is kept */
		sc->bohc = v & 0x02;
		break;
	default: /* CAP, PI, VS, CAP2 and the rest are read-only */
		break;
	}
}

static int ahci_barread(struct pci_dev *pd, int bar, uint64_t off, unsigned size, uint64_t *val)
{
	struct ahci *sc = pd->priv;
	if (bar != AHCI_BAR)
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

static int ahci_barwrite(struct pci_dev *pd, int bar, uint64_t off, unsigned size, uint64_t val)
{
	struct ahci *sc = pd->priv;
	if (bar != AHCI_BAR)
		return 0;
	if ((size != 4 && size != 8) || (off & 3)) {
		kb_guest_log(&sc->log, "ahci: %u-byte register write at %#llx ignored", size,
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

static void ahci_destroy(void *opaque)
{
	struct ahci *sc = opaque;
	for (unsigned i = 0; i < AHCI_MAX_PORTS; i++) {
		struct ahci_port *p = &sc->port[i];
		blockif_close(p->bc); /* waits for the I/O; undelivered completions are dropped */
		p->bc = NULL;
		while (p->outstanding)
			ahci_req_free(p->outstanding);
	}
	pthread_mutex_destroy(&sc->mtx);
	free(sc);
}

static int open_port(struct ahci *sc, struct ahci_port *p, const struct ahci_port_cfg *c)
{
	char err[256];
	p->type = c->type;
	p->nmrr = c->nmrr;
	strcpy(p->rev, c->rev);
	strcpy(p->model, c->model);
	p->wce = true;
	struct blockif_opts o;
	bool have = c->has_path;
	if (have) {
		int rc = blockif_opts_from_config(c->node, &o, err, sizeof(err));
		if (rc == 0 && c->type == AHCI_PORT_CD)
			o.ro = true;
		if (rc == 0)
			rc = blockif_open(&o, sc->vm->ev, &p->bc, err, sizeof(err));
		if (rc < 0) {
			kb_log("ahci port %u: %s", p->num, err);
			blockif_opts_free(&o);
			return rc;
		}
		if (c->serial_set)
			strcpy(p->serial, c->serial);
		else
			blockif_default_serial(o.path, p->serial);
		blockif_opts_free(&o);
	} else if (c->serial_set)
		strcpy(p->serial, c->serial);
	if (c->type == AHCI_PORT_HD) {
		p->sectsz = blockif_sectsz(p->bc);
		p->psectsz = blockif_psectsz(p->bc);
		p->sectors = blockif_size(p->bc) / p->sectsz;
		p->trim = blockif_candelete(p->bc) && !blockif_is_ro(p->bc);
	} else {
		p->sectsz = p->psectsz = ATAPI_BLOCK;
		bool def_model = strcmp(c->model, "BHYVE SATA DVD ROM") == 0;
		atapi_init(&p->atapi, p->bc ? blockif_size(p->bc) : 0, p->bc != NULL,
			   def_model ? NULL : c->model, c->rev, p->serial);
	}
	return 0;
}

/* Two writable disks on one file would corrupt it. */
static int check_shared_paths(struct ahci *sc, const struct ahci_port_cfg *cfg)
{
	struct stat st[AHCI_MAX_PORTS];
	bool have[AHCI_MAX_PORTS] = {false};
	for (unsigned i = 0; i < AHCI_MAX_PORTS; i++) {
		const struct ahci_port *p = &sc->port[i];
		if (p->type != AHCI_PORT_HD || !p->bc || blockif_is_ro(p->bc))
			continue;
		const char *path = config_get(cfg[i].node, "path");
		have[i] = path && stat(path, &st[i]) == 0;
		for (unsigned j = 0; have[i] && j < i; j++)
			if (have[j] && st[j].st_dev == st[i].st_dev &&
			    st[j].st_ino == st[i].st_ino) {
				kb_log("ahci: ports %u and %u are both writable disks on %s", j, i,
				       path);
				return -EINVAL;
			}
	}
	return 0;
}

static int ahci_init(struct vm *vm, struct pci_dev *pd, struct cfgnode *devnode)
{
	struct ahci_port_cfg cfg[AHCI_MAX_PORTS];
	int rc = ahci_read_config(devnode, pd->emu->name, cfg);
	if (rc < 0)
		return rc;
	struct ahci *sc = calloc(1, sizeof(*sc));
	if (!sc)
		return -ENOMEM;
	pthread_mutex_init(&sc->mtx, NULL);
	sc->vm = vm;
	sc->pd = pd;
	rc = vm_at_destroy(vm, ahci_destroy, sc);
	if (rc) {
		pthread_mutex_destroy(&sc->mtx);
		free(sc);
		return rc;
	}
	/* from here on the destroy hook frees sc, also when init fails */
	unsigned last = 0;
	for (unsigned i = 0; i < AHCI_MAX_PORTS; i++) {
		struct ahci_port *p = &sc->port[i];
		p->sc = sc;
		p->num = i;
		if (cfg[i].type == AHCI_PORT_NONE)
			continue;
		rc = open_port(sc, p, &cfg[i]);
		if (rc < 0)
			return rc;
		sc->pi |= 1u << i;
		last = i + 1;
	}
	rc = check_shared_paths(sc, cfg);
	if (rc < 0)
		return rc;
	sc->nports = last < AHCI_MIN_PORTS ? AHCI_MIN_PORTS : last;
	sc->cap = AHCI_CAP_S64A | AHCI_CAP_SNCQ | AHCI_CAP_SSNTF | AHCI_CAP_SCLO |
		  3u << AHCI_CAP_ISS_SHIFT | (AHCI_SLOTS - 1) << AHCI_CAP_NCS_SHIFT |
		  (sc->nports - 1);
	sc->cap2 = 0;

	pci_set_cfg16(pd, PCIR_VENDOR, 0x8086);
	pci_set_cfg16(pd, PCIR_DEVICE, 0x2821);
	pci_set_cfg8(pd, PCIR_CLASS, 0x01);    /* mass storage */
	pci_set_cfg8(pd, PCIR_SUBCLASS, 0x06); /* SATA */
	pci_set_cfg8(pd, PCIR_PROGIF, 0x01);   /* AHCI 1.0 */
	uint64_t size = AHCI_PORT_BASE + (uint64_t)sc->nports * AHCI_PORT_STEP, bar = 1;
	while (bar < size)
		bar <<= 1;
	rc = pci_alloc_bar(pd, AHCI_BAR, PCI_BAR_MEM32, bar);
	if (rc == 0)
		rc = pci_alloc_intx(pd, 1);
	if (rc == 0)
		rc = pci_msi_add(pd, 1);
	if (rc < 0) {
		kb_log("ahci: cannot set up the PCI function: %s", strerror(-rc));
		return rc;
	}
	hba_reset(sc);
	pd->priv = sc;
	return 0;
}

static const struct pci_devemu ahci_emu = {
    .name = "ahci",
    .legacy_config = ahci_legacy_config,
    .init = ahci_init,
    .barread = ahci_barread,
    .barwrite = ahci_barwrite,
};
PCI_EMUL(ahci_emu);

static const struct pci_devemu ahci_hd_emu = {
    .name = "ahci-hd",
    .legacy_config = ahci_hd_legacy_config,
    .init = ahci_init,
    .barread = ahci_barread,
    .barwrite = ahci_barwrite,
};
PCI_EMUL(ahci_hd_emu);

static const struct pci_devemu ahci_cd_emu = {
    .name = "ahci-cd",
    .legacy_config = ahci_cd_legacy_config,
    .init = ahci_init,
    .barread = ahci_barread,
    .barwrite = ahci_barwrite,
};
PCI_EMUL(ahci_cd_emu);
