/* SPDX-License-Identifier: BSD-2-Clause */
/* xHCI 1.0 host controller: bhyve's `xhci` (8086:1E31, class 0C/03/30, SBRN 3.0), with the USB
 * devices of its configuration (usb_dev.h) on its root hub ports. BAR 0 (32-bit memory, 8 KiB)
 * holds the capability registers, the operational registers with 8 port register sets (USB 3 on
 * ports 1-4, USB 2 on ports 5-8, described by two Supported Protocol capabilities), doorbells and
 * the runtime registers of one interrupter. One MSI vector, INTx pin A when MSI is off.
 *
 * Capabilities: 64 device slots, 32-byte contexts, 64-bit addressing (AC64: every pointer is
 * used as written, and gm_ptr decides whether it is RAM), no scratchpad buffers, no streams,
 * event ring segment tables of up to 16 segments, no port power switching (PP is always 1).
 *
 * Ports: a port with a device reads connected (CCS, CSC) after reset; a port reset completes at
 * once (PED, U0, PRC); U3, Resume and U0 link state writes follow USB 2 / USB 3 suspend and resume
 * (PLC on the return to U0). A change bit going to 1 sets USBSTS.PCD and, while the controller
 * runs, queues a Port Status Change event; starting the controller queues one for every port
 * with change bits set.
 *
 * Interrupts: an event asks for an interrupt; when ERDP.EHB is clear the interrupter sets IP,
 * EHB and USBSTS.EINT. With MSI enabled, IP && IE && USBCMD.INTE sends the message and clears IP;
 * without, INTx follows IP && IE && INTE as a level. Writing ERDP with EHB while events the host
 * has not consumed remain raises the interrupt again. There is no interrupt moderation.
 *
 * Save State / Restore State (suspend and resume) keep the event ring's enqueue position across
 * the ERSTBA rewrite a resuming host does; nothing else is lost while halted.
 *
 * Guest mistakes never stop the VMM: a command or transfer ring, or the event ring, outside RAM
 * halts the controller with USBSTS.HSE (one rate-limited line); contexts outside RAM complete the
 * command with Parameter Error; data buffers outside RAM end the transfer with Data Buffer Error;
 * malformed TRBs with TRB Error; a doorbell, a command or a wakeup reads at most a fixed number
 * of TRBs (Link TRBs included). Nothing touches guest memory while Bus Master Enable is off. The
 * rest of what a guest may do wrong is a debug line (KBHYVE_DEBUG).
 *
 * Concurrency: one mutex per controller serialises register accesses (vCPU threads) and device
 * input (the console's thread, through usb_dev_lock and the wakeup callback). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/byteorder.h"
#include "core/guestmem.h"
#include "core/log.h"
#include "core/vm.h"
#include "pci/pci.h"
#include "pci/pci_msi.h"
#include "usb/xhci.h"

/* ---- guest memory ---- */

int xhci_dma_read(struct xhci *xc, uint64_t gpa, void *buf, uint32_t len)
{
	if (!pci_bus_master(xc->pd))
		return -1;
	return gm_read(&xc->vm->mem, gpa, buf, len) < 0 ? -1 : 0;
}

int xhci_dma_write(struct xhci *xc, uint64_t gpa, const void *buf, uint32_t len)
{
	if (!pci_bus_master(xc->pd))
		return -1;
	return gm_write(&xc->vm->mem, gpa, buf, len) < 0 ? -1 : 0;
}

bool xhci_dma_ok(const struct xhci *xc)
{
	return pci_bus_master(xc->pd);
}

bool xhci_running(const struct xhci *xc)
{
	return (xc->usbcmd & XHCI_CMD_RS) && !(xc->usbsts & XHCI_STS_HCH);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void halt(struct xhci *xc)
{
	if (!(xc->usbsts & XHCI_STS_HCH))
		xc->mf_start_ns = mono_ns() - xc->mf_start_ns; /* keeps MFINDEX while halted */
	xc->usbsts |= XHCI_STS_HCH;
	xc->crr = false;
}

void xhci_host_error(struct xhci *xc, const char *what, uint64_t gpa)
{
	xhci_warn(xc, "xhci: %s at %#llx is not in guest RAM: host system error, controller halted",
		  what, (unsigned long long)gpa);
	xc->usbsts |= XHCI_STS_HSE;
	xc->usbcmd &= ~XHCI_CMD_RS;
	halt(xc);
}

bool xhci_read_trb(struct xhci *xc, uint64_t gpa, uint64_t *param, uint32_t *status, uint32_t *ctrl)
{
	uint8_t t[XHCI_TRB_SIZE];
	if (xhci_dma_read(xc, gpa, t, sizeof(t)) < 0) {
		xhci_host_error(xc, "a TRB", gpa);
		return false;
	}
	*param = le64_at(t);
	*status = le32_at(t + 8);
	*ctrl = le32_at(t + 12);
	return true;
}

/* ---- interrupts ---- */

static void irq_update(struct xhci *xc)
{
	bool on =
	    (xc->iman & XHCI_IMAN_IP) && (xc->iman & XHCI_IMAN_IE) && (xc->usbcmd & XHCI_CMD_INTE);
	if (pci_msi_enabled(xc->pd)) {
		pci_intx_deassert(xc->pd);
		if (on) {
			pci_msi_notify(xc->pd, 0);
			xc->iman &= ~XHCI_IMAN_IP; /* cleared once the message is sent */
		}
	} else if (on)
		pci_intx_assert(xc->pd);
	else
		pci_intx_deassert(xc->pd);
}

static void irq_signal(struct xhci *xc)
{
	if (xc->ev_pending && !(xc->erdp & XHCI_ERDP_EHB)) {
		xc->ev_pending = false;
		xc->erdp |= XHCI_ERDP_EHB;
		xc->iman |= XHCI_IMAN_IP;
		xc->usbsts |= XHCI_STS_EINT;
	}
	irq_update(xc);
}

/* ---- the event ring ---- */

static void er_init(struct xhci *xc)
{
	xc->erst_n = 0;
	xc->er_seg = xc->er_idx = 0;
	xc->er_pcs = true;
	xc->er_full = false;
	unsigned n = xc->erstsz & 0xffff;
	if (n == 0)
		return;
	if (n > XHCI_ERST_MAX) {
		xhci_dbg("xhci: ERSTSZ %u beyond the %u segments allowed: no event ring", n,
			 XHCI_ERST_MAX);
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		uint8_t e[16];
		uint64_t at = xc->erstba + 16ull * i;
		if (xhci_dma_read(xc, at, e, sizeof(e)) < 0) {
			xhci_dbg("xhci: event ring segment table entry at %#llx not readable",
				 (unsigned long long)at);
			return;
		}
		xc->erst[i].base = le64_at(e) & ~0x3full;
		xc->erst[i].size = le32_at(e + 8) & 0xffff;
		if (xc->erst[i].size < 16 || xc->erst[i].size > 4096) {
			xhci_dbg(
			    "xhci: event ring segment %u of %u TRBs (16 to 4096): no event ring", i,
			    xc->erst[i].size);
			return;
		}
	}
	xc->erst_n = n;
}

/* Where ERDP points in the segments: false when it is outside all of them. */
static bool er_deq_pos(const struct xhci *xc, unsigned *seg, unsigned *idx)
{
	uint64_t a = xc->erdp & ~0xfull;
	for (unsigned i = 0; i < xc->erst_n; i++) {
		const struct xhci_erst *s = &xc->erst[i];
		if (a >= s->base && a - s->base < 16ull * s->size) {
			*seg = i;
			*idx = (unsigned)((a - s->base) / 16);
			return true;
		}
	}
	return false;
}

static void er_next(const struct xhci *xc, unsigned *seg, unsigned *idx)
{
	if (++*idx == xc->erst[*seg].size) {
		*idx = 0;
		*seg = (*seg + 1) % xc->erst_n;
	}
}

/* Events the host has not consumed (ERDP behind the enqueue pointer, or a full ring). */
static bool er_unconsumed(const struct xhci *xc)
{
	unsigned s, i;
	if (!xc->erst_n || !er_deq_pos(xc, &s, &i))
		return false;
	return xc->er_full || s != xc->er_seg || i != xc->er_idx;
}

static bool er_write(struct xhci *xc, uint64_t param, uint32_t status, uint32_t ctrl)
{
	uint8_t t[XHCI_TRB_SIZE];
	uint64_t at = xc->erst[xc->er_seg].base + 16ull * xc->er_idx;
	put_le64(t, param);
	put_le32(t + 8, status);
	put_le32(t + 12, (ctrl & ~TRB_C) | (xc->er_pcs ? TRB_C : 0));
	/* the cycle bit last: the host must not see a new cycle with old contents */
	if (xhci_dma_write(xc, at, t, 12) < 0) {
		xhci_host_error(xc, "the event ring", at);
		return false;
	}
	__atomic_thread_fence(__ATOMIC_RELEASE);
	xhci_dma_write(xc, at + 12, t + 12, 4);
	if (++xc->er_idx == xc->erst[xc->er_seg].size) {
		xc->er_idx = 0;
		if (++xc->er_seg == xc->erst_n) {
			xc->er_seg = 0;
			xc->er_pcs = !xc->er_pcs;
		}
	}
	return true;
}

/* Where the next event goes: 0 the ring has room, 1 this is the last entry before the ring
 * would be full (it gets an Event Ring Full Error), 2 full. The ring never fills completely:
 * enqueue == dequeue reads as empty. An ERDP outside the segments tells nothing: room. */
static int er_room(const struct xhci *xc)
{
	unsigned ds, di;
	if (!er_deq_pos(xc, &ds, &di))
		return 0;
	unsigned s = xc->er_seg, i = xc->er_idx;
	er_next(xc, &s, &i);
	if (s == ds && i == di)
		return 2;
	er_next(xc, &s, &i);
	return s == ds && i == di ? 1 : 0;
}

void xhci_event(struct xhci *xc, uint64_t param, uint32_t status, uint32_t ctrl, bool intr)
{
	if (!xhci_running(xc))
		return;
	if (!xc->erst_n) {
		xhci_dbg("xhci: event (type %u) dropped: no event ring", TRB_TYPE(ctrl));
		return;
	}
	int room = xc->er_full ? 2 : er_room(xc);
	if (room) {
		xhci_dbg("xhci: event (type %u) dropped: the event ring is full", TRB_TYPE(ctrl));
		if (room == 2)
			return;
		param = 0;
		status = (uint32_t)CC_EVENT_RING_FULL << 24;
		ctrl = TRB_EV_HOST << 10;
		intr = true;
	}
	if (!er_write(xc, param, status, ctrl))
		return;
	if (room)
		xc->er_full = true;
	if (intr) {
		xc->ev_pending = true;
		irq_signal(xc);
	}
}

void xhci_transfer_event(struct xhci *xc, unsigned slot, unsigned dci, uint64_t trb, unsigned cc,
			 uint32_t residual, bool event_data, bool intr)
{
	xhci_event(xc, trb, (uint32_t)cc << 24 | (residual & 0xffffff),
		   (uint32_t)TRB_EV_TRANSFER << 10 | (event_data ? 1u << 2 : 0) | dci << 16 |
		       slot << 24,
		   intr);
}

/* ---- ports ---- */

static void port_init(struct xhci *xc, unsigned p)
{
	struct xhci_port *pt = &xc->port[p];
	pt->portsc = XHCI_PS_PP | (uint32_t)XHCI_PLS_RXDETECT << XHCI_PS_PLS_SHIFT;
	pt->portpmsc = pt->porthlpmc = 0;
	pt->slot = 0;
	if (!pt->dev)
		return;
	usb_dev_reset(pt->dev);
	pt->portsc = XHCI_PS_PP | XHCI_PS_CCS | XHCI_PS_CSC |
		     (uint32_t)pt->dev->speed << XHCI_PS_SPEED_SHIFT;
	if (pt->usb3) /* the link trains by itself: enabled */
		pt->portsc |= XHCI_PS_PED | (uint32_t)XHCI_PLS_U0 << XHCI_PS_PLS_SHIFT;
	else /* USB 2 Disabled state, waiting for a port reset */
		pt->portsc |= (uint32_t)XHCI_PLS_POLLING << XHCI_PS_PLS_SHIFT;
}

static void port_event(struct xhci *xc, unsigned p)
{
	xc->usbsts |= XHCI_STS_PCD;
	if (xhci_running(xc) && pci_bus_master(xc->pd))
		xhci_event(xc, (uint64_t)p << 24, (uint32_t)CC_SUCCESS << 24, TRB_EV_PORT << 10,
			   true);
}

static uint32_t set_pls(uint32_t ps, unsigned pls)
{
	return (ps & ~XHCI_PS_PLS_MASK) | (uint32_t)pls << XHCI_PS_PLS_SHIFT;
}

static uint32_t link_write(struct xhci *xc, unsigned p, uint32_t ps, unsigned pls)
{
	struct xhci_port *pt = &xc->port[p];
	unsigned cur = (ps & XHCI_PS_PLS_MASK) >> XHCI_PS_PLS_SHIFT;
	bool en = ps & XHCI_PS_PED;
	switch (pls) {
	case XHCI_PLS_U0:
		if (en && (cur == XHCI_PLS_U3 || cur == XHCI_PLS_RESUME))
			ps = set_pls(ps, XHCI_PLS_U0) | XHCI_PS_PLC; /* resume complete */
		else if (en && cur <= 2)
			ps = set_pls(ps, XHCI_PLS_U0);
		break;
	case 1:
	case 2:
		if (pt->usb3 && en && cur <= 2)
			ps = set_pls(ps, pls);
		break;
	case XHCI_PLS_U3:
		if (en && cur <= 2)
			ps = set_pls(ps, XHCI_PLS_U3); /* suspended */
		break;
	case XHCI_PLS_RESUME:
		if (!pt->usb3 && en && cur == XHCI_PLS_U3)
			ps = set_pls(ps, XHCI_PLS_RESUME); /* the host drives resume, then U0 */
		break;
	case XHCI_PLS_DISABLED:
		if (pt->usb3)
			ps = set_pls(ps & ~XHCI_PS_PED, XHCI_PLS_DISABLED);
		break;
	case XHCI_PLS_RXDETECT:
		if (pt->usb3 && cur == XHCI_PLS_DISABLED)
			ps = (ps & XHCI_PS_CCS) ? set_pls(ps, XHCI_PLS_U0) | XHCI_PS_PED
						: set_pls(ps, XHCI_PLS_RXDETECT);
		break;
	default:
		xhci_dbg("xhci: port %u: link state %u written (from %u): ignored", p, pls, cur);
		break;
	}
	return ps;
}

static void port_write(struct xhci *xc, unsigned p, uint32_t v)
{
	struct xhci_port *pt = &xc->port[p];
	uint32_t old = pt->portsc, ps = old;
	ps &= ~(v & XHCI_PS_CHANGES);
	ps = (ps & ~(XHCI_PS_WAKE | XHCI_PS_PIC_MASK)) | (v & (XHCI_PS_WAKE | XHCI_PS_PIC_MASK));
	if ((v & XHCI_PS_PED) && (ps & XHCI_PS_PED) && !pt->usb3)
		ps = set_pls(ps & ~XHCI_PS_PED, XHCI_PLS_POLLING); /* the host disabled the port */
	if (v & XHCI_PS_LWS)
		ps = link_write(xc, p, ps, (v & XHCI_PS_PLS_MASK) >> XHCI_PS_PLS_SHIFT);
	bool warm = pt->usb3 && (v & XHCI_PS_WPR);
	if (((v & XHCI_PS_PR) || warm) && (ps & XHCI_PS_CCS)) {
		/* the reset completes at once: the device is reset and the port enabled */
		usb_dev_reset(pt->dev);
		ps =
		    set_pls(ps, XHCI_PLS_U0) | XHCI_PS_PED | XHCI_PS_PRC | (warm ? XHCI_PS_WRC : 0);
	}
	pt->portsc = ps;
	if ((ps & XHCI_PS_CHANGES) & ~(old & XHCI_PS_CHANGES))
		port_event(xc, p);
}

/* ---- reset, run and halt ---- */

static void hc_reset(struct xhci *xc)
{
	xc->usbcmd = 0;
	xc->usbsts = XHCI_STS_HCH;
	xc->dnctrl = xc->config = 0;
	xc->crcr = xc->dcbaap = 0;
	xc->crr = false;
	xc->cr_deq = 0;
	xc->cr_ccs = false;
	xc->iman = 0;
	xc->imod = 4000; /* IMODI default: 1 ms */
	xc->erstsz = 0;
	xc->erstba = xc->erdp = 0;
	xc->erst_n = 0;
	xc->er_seg = xc->er_idx = 0;
	xc->er_pcs = true;
	xc->er_full = xc->ev_pending = false;
	xc->saved = false;
	xc->mf_start_ns = 0;
	xhci_slots_reset(xc);
	for (unsigned p = 1; p <= XHCI_MAX_PORTS; p++)
		port_init(xc, p);
	irq_update(xc);
}

static void run(struct xhci *xc)
{
	xc->usbsts &= ~XHCI_STS_HCH;
	xc->mf_start_ns = mono_ns() - xc->mf_start_ns;
	/* the host learns about what happened while halted (connections after reset) */
	for (unsigned p = 1; p <= XHCI_MAX_PORTS; p++)
		if (xc->port[p].portsc & XHCI_PS_CHANGES)
			port_event(xc, p);
}

static uint32_t mfindex(const struct xhci *xc)
{
	uint64_t ns = xhci_running(xc) ? mono_ns() - xc->mf_start_ns : xc->mf_start_ns;
	return (uint32_t)(ns / 125000) & 0x3fff;
}

static void write_usbcmd(struct xhci *xc, uint32_t v)
{
	if (v & XHCI_CMD_HCRST) {
		hc_reset(xc);
		return;
	}
	uint32_t old = xc->usbcmd;
	xc->usbcmd = v & XHCI_CMD_WMASK;
	if (!(old & XHCI_CMD_RS) && (v & XHCI_CMD_RS))
		run(xc);
	else if ((old & XHCI_CMD_RS) && !(v & XHCI_CMD_RS))
		halt(xc);
	/* Save and Restore State (4.23.2) complete at once, so SSS and RSS never read 1. All
	 * state survives here; what the host rewrites on resume is the event ring (ERSTBA restarts
	 * it at segment 0), so Save keeps its enqueue position and Restore puts it back. */
	if ((v & XHCI_CMD_CSS) && (xc->usbsts & XHCI_STS_HCH)) {
		xc->saved = xc->erst_n != 0;
		xc->sv_seg = xc->er_seg;
		xc->sv_idx = xc->er_idx;
		xc->sv_pcs = xc->er_pcs;
	}
	if ((v & XHCI_CMD_CRS) && (xc->usbsts & XHCI_STS_HCH)) {
		if (xc->saved && xc->sv_seg < xc->erst_n &&
		    xc->sv_idx < xc->erst[xc->sv_seg].size) {
			xc->er_seg = xc->sv_seg;
			xc->er_idx = xc->sv_idx;
			xc->er_pcs = xc->sv_pcs;
			xc->er_full = false;
		} else
			xc->usbsts |= XHCI_STS_SRE; /* the host reinitialises the controller */
		xc->saved = false;
	}
	irq_update(xc);
}

/* ---- doorbells ---- */

static void cmd_doorbell(struct xhci *xc, uint32_t v)
{
	if ((v & 0xff) != 0) {
		xhci_dbg("xhci: host controller doorbell with target %u ignored", v & 0xff);
		return;
	}
	if (!xhci_running(xc)) {
		xhci_dbg("xhci: command doorbell while halted ignored");
		return;
	}
	if (!pci_bus_master(xc->pd)) {
		xhci_dbg("xhci: command doorbell without Bus Master Enable ignored");
		return;
	}
	xc->crr = true;
	xhci_cmd_run(xc);
}

/* A device has data on IN endpoint ep: complete what the guest left pending in the slot that
 * addressed the device last (lock held). */
static void dev_wakeup(void *opaque, struct usb_dev *d, unsigned ep)
{
	struct xhci *xc = opaque;
	if (!xhci_running(xc) || !pci_bus_master(xc->pd) || ep == 0 || ep > 15)
		return;
	unsigned dci = 2 * ep + 1;
	for (unsigned p = 1; p <= XHCI_MAX_PORTS; p++) {
		unsigned s = xc->port[p].slot;
		if (xc->port[p].dev != d || s == 0)
			continue;
		struct xhci_slot *sl = &xc->slot[s];
		if (sl->enabled && sl->dev == d && sl->ep[dci].state == EP_RUNNING)
			xhci_xfer_run(xc, s, dci);
		return;
	}
}

/* ---- registers ---- */

static uint32_t cap_read(uint64_t off)
{
	switch (off) {
	case XHCI_CAP_CAPLENGTH:
		return XHCI_CAPLEN | (uint32_t)XHCI_HCIVERSION << 16;
	case XHCI_CAP_HCSPARAMS1:
		return XHCI_MAX_SLOTS | 1u << 8 | (uint32_t)XHCI_MAX_PORTS << 24;
	case XHCI_CAP_HCSPARAMS2:
		return 1 | 4u << 4; /* IST 1 microframe, ERST Max 2^4, no scratchpads */
	case XHCI_CAP_HCCPARAMS1:
		/* AC64, NSS (no secondary stream IDs), xECP */
		return 1u << 0 | 1u << 7 | (uint32_t)(XHCI_XECP / 4) << 16;
	case XHCI_CAP_DBOFF:
		return XHCI_DBOFF;
	case XHCI_CAP_RTSOFF:
		return XHCI_RTSOFF;
	default: /* HCSPARAMS3 (no U1/U2 exit latency), HCCPARAMS2 */
		return 0;
	}
}

/* Supported Protocol capabilities: USB 3.0 on ports 1-4, USB 2.0 on ports 5-8. */
static uint32_t xecp_read(uint64_t off)
{
	static const uint32_t caps[8] = {
	    0x02 | 4u << 8 | 0x03u << 24,		 /* ID 2, next 4 dwords on, USB 3.0 */
	    0x20425355,					 /* "USB " */
	    XHCI_USB3_PORT1 | XHCI_PORTS_PER_PROTO << 8, /* ports 1-4 */
	    0,						 /* protocol slot type 0 */
	    0x02 | 0u << 8 | 0x02u << 24,		 /* ID 2, the last one, USB 2.0 */
	    0x20425355,					 /* "USB " */
	    XHCI_USB2_PORT1 | XHCI_PORTS_PER_PROTO << 8, /* ports 5-8 */
	    0,						 /* protocol slot type 0 */
	};
	return caps[(off - XHCI_XECP) / 4];
}

static uint32_t reg_read(struct xhci *xc, uint64_t off)
{
	if (off < XHCI_CAPLEN)
		return cap_read(off);
	if (off >= XHCI_PORTREGS && off < XHCI_PORTREGS + 16 * XHCI_MAX_PORTS) {
		const struct xhci_port *pt = &xc->port[1 + (off - XHCI_PORTREGS) / 16];
		switch ((off - XHCI_PORTREGS) % 16) {
		case XHCI_PORTSC:
			return pt->portsc;
		case XHCI_PORTPMSC:
			return pt->portpmsc;
		case XHCI_PORTHLPMC:
			return pt->porthlpmc;
		default:
			return 0;
		}
	}
	if (off >= XHCI_OP && off < XHCI_PORTREGS) {
		switch (off - XHCI_OP) {
		case XHCI_USBCMD:
			return xc->usbcmd;
		case XHCI_USBSTS:
			return xc->usbsts;
		case XHCI_PAGESIZE:
			return 1; /* 4 KiB */
		case XHCI_DNCTRL:
			return xc->dnctrl;
		case XHCI_CRCR:
			return xc->crr ? (uint32_t)XHCI_CRCR_CRR : 0; /* the pointer reads 0 */
		case XHCI_DCBAAP:
			return (uint32_t)xc->dcbaap;
		case XHCI_DCBAAP + 4:
			return (uint32_t)(xc->dcbaap >> 32);
		case XHCI_CONFIG:
			return xc->config;
		default:
			return 0;
		}
	}
	if (off >= XHCI_XECP && off < XHCI_XECP + 32)
		return xecp_read(off);
	if (off == XHCI_RTSOFF)
		return mfindex(xc);
	if (off >= XHCI_IR0 && off < XHCI_IR0 + 32) {
		switch (off - XHCI_IR0) {
		case XHCI_IMAN:
			return xc->iman;
		case XHCI_IMOD:
			return xc->imod;
		case XHCI_ERSTSZ:
			return xc->erstsz;
		case XHCI_ERSTBA:
			return (uint32_t)xc->erstba;
		case XHCI_ERSTBA + 4:
			return (uint32_t)(xc->erstba >> 32);
		case XHCI_ERDP:
			return (uint32_t)xc->erdp;
		case XHCI_ERDP + 4:
			return (uint32_t)(xc->erdp >> 32);
		default:
			return 0;
		}
	}
	return 0; /* doorbells read 0, reserved space */
}

static uint64_t merge(uint64_t cur, uint64_t v, uint64_t mask)
{
	return (cur & ~mask) | (v & mask);
}

/* A 64-bit register written in one access (mask all ones) or one half (mask one half). */
static void write64(struct xhci *xc, uint64_t off, uint64_t v, uint64_t mask)
{
	const uint64_t lo = 0xffffffffull;
	switch (off) {
	case XHCI_OP + XHCI_CRCR:
		if (xc->crr) {
			/* the pointer is ignored while the ring runs; CS and CA stop it */
			if ((mask & lo) && (v & (XHCI_CRCR_CS | XHCI_CRCR_CA)))
				xhci_cmd_stop(xc);
			break;
		}
		xc->crcr = merge(xc->crcr, v, mask) & ~(0x3eull);
		xc->cr_deq = xc->crcr & ~0x3full;
		xc->cr_ccs = xc->crcr & XHCI_CRCR_RCS;
		break;
	case XHCI_OP + XHCI_DCBAAP:
		xc->dcbaap = merge(xc->dcbaap, v, mask) & ~0x3full;
		break;
	case XHCI_IR0 + XHCI_ERSTBA:
		xc->erstba = merge(xc->erstba, v, mask) & ~0x3full;
		er_init(xc);
		break;
	case XHCI_IR0 + XHCI_ERDP: {
		uint64_t old = xc->erdp;
		xc->erdp = (merge(old, v, mask) & ~XHCI_ERDP_EHB) | (old & XHCI_ERDP_EHB);
		if ((mask & lo) && (v & XHCI_ERDP_EHB))
			xc->erdp &= ~XHCI_ERDP_EHB;
		if ((xc->erdp ^ old) & ~0xfull)
			xc->er_full = false;
		/* events the host has not consumed interrupt again once EHB is clear */
		xc->ev_pending = er_unconsumed(xc);
		irq_signal(xc);
		break;
	}
	default:
		break;
	}
}

static bool is_reg64(uint64_t off)
{
	return off == XHCI_OP + XHCI_CRCR || off == XHCI_OP + XHCI_DCBAAP ||
	       off == XHCI_IR0 + XHCI_ERSTBA || off == XHCI_IR0 + XHCI_ERDP;
}

static void reg_write(struct xhci *xc, uint64_t off, uint32_t v)
{
	if (is_reg64(off)) {
		write64(xc, off, v, 0xffffffffull);
		return;
	}
	if (is_reg64(off - 4)) {
		write64(xc, off - 4, (uint64_t)v << 32, 0xffffffffull << 32);
		return;
	}
	if (off >= XHCI_PORTREGS && off < XHCI_PORTREGS + 16 * XHCI_MAX_PORTS) {
		unsigned p = 1 + (unsigned)((off - XHCI_PORTREGS) / 16);
		switch ((off - XHCI_PORTREGS) % 16) {
		case XHCI_PORTSC:
			port_write(xc, p, v);
			break;
		case XHCI_PORTPMSC:
			xc->port[p].portpmsc = v;
			break;
		case XHCI_PORTHLPMC:
			xc->port[p].porthlpmc = v;
			break;
		default: /* PORTLI is read-only */
			break;
		}
		return;
	}
	if (off >= XHCI_DBOFF && off < XHCI_DBOFF + 4 * (XHCI_MAX_SLOTS + 1)) {
		unsigned slot = (unsigned)(off - XHCI_DBOFF) / 4;
		if (slot == 0)
			cmd_doorbell(xc, v);
		else
			xhci_doorbell(xc, slot, v);
		return;
	}
	switch (off) {
	case XHCI_OP + XHCI_USBCMD:
		write_usbcmd(xc, v);
		break;
	case XHCI_OP + XHCI_USBSTS:
		xc->usbsts &= ~(v & XHCI_STS_W1C);
		break;
	case XHCI_OP + XHCI_DNCTRL:
		xc->dnctrl = v & 0xffff;
		break;
	case XHCI_OP + XHCI_CONFIG:
		xc->config = v & 0x3ff;
		break;
	case XHCI_IR0 + XHCI_IMAN:
		xc->iman &= ~(v & XHCI_IMAN_IP);
		xc->iman = (xc->iman & ~XHCI_IMAN_IE) | (v & XHCI_IMAN_IE);
		irq_update(xc);
		break;
	case XHCI_IR0 + XHCI_IMOD:
		xc->imod = v;
		break;
	case XHCI_IR0 + XHCI_ERSTSZ:
		xc->erstsz = v & 0xffff;
		break;
	default: /* capabilities, PAGESIZE, MFINDEX and reserved space are read-only */
		break;
	}
}

static int xhci_barread(struct pci_dev *pd, int bar, uint64_t off, unsigned size, uint64_t *val)
{
	struct xhci *xc = pd->priv;
	*val = 0;
	if (bar != 0 || !xc)
		return 0;
	pthread_mutex_lock(&xc->mtx);
	uint64_t v = reg_read(xc, off & ~3ull);
	if (size == 8)
		v |= (uint64_t)reg_read(xc, (off & ~3ull) + 4) << 32;
	else
		v >>= 8 * (off & 3);
	pthread_mutex_unlock(&xc->mtx);
	*val = size >= 8 ? v : v & ((1ull << (8 * size)) - 1);
	return 0;
}

static int xhci_barwrite(struct pci_dev *pd, int bar, uint64_t off, unsigned size, uint64_t val)
{
	struct xhci *xc = pd->priv;
	if (bar != 0 || !xc)
		return 0;
	if ((size != 4 && size != 8) || (off & 3)) {
		xhci_dbg("xhci: %u-byte register write at %#llx ignored", size,
			 (unsigned long long)off);
		return 0;
	}
	pthread_mutex_lock(&xc->mtx);
	if (size == 8 && is_reg64(off))
		write64(xc, off, val, ~0ull);
	else {
		reg_write(xc, off, (uint32_t)val);
		if (size == 8)
			reg_write(xc, off + 4, (uint32_t)(val >> 32));
	}
	pthread_mutex_unlock(&xc->mtx);
	return 0;
}

/* ---- creation ---- */

static void xhci_destroy(void *opaque)
{
	struct xhci *xc = opaque;
	/* without the lock: a device's console sink may be waiting for it */
	for (unsigned i = 0; i < xc->ndevs; i++)
		usb_dev_destroy(xc->devs[i]);
	pthread_mutex_destroy(&xc->mtx);
	free(xc);
}

static int setup_pci(struct pci_dev *pd)
{
	pci_set_cfg16(pd, PCIR_VENDOR, 0x8086);
	pci_set_cfg16(pd, PCIR_DEVICE, 0x1e31); /* 7 Series / C216 (Panther Point) xHCI */
	pci_set_cfg8(pd, PCIR_CLASS, 0x0c);	/* serial bus */
	pci_set_cfg8(pd, PCIR_SUBCLASS, 0x03);	/* USB */
	pci_set_cfg8(pd, PCIR_PROGIF, 0x30);	/* xHCI */
	pci_set_cfg8(pd, 0x60, 0x30);		/* SBRN: USB 3.0 */
	pci_set_cfg8(pd, 0x61, 0x20);		/* FLADJ: 60000 bit times (default) */
	int rc = pci_alloc_bar(pd, 0, PCI_BAR_MEM32, XHCI_BAR_SIZE);
	if (rc == 0)
		rc = pci_alloc_intx(pd, 1);
	if (rc == 0)
		rc = pci_msi_add(pd, 1);
	if (rc < 0)
		kb_log("xhci: cannot set up the PCI function: %s", strerror(-rc));
	return rc;
}

static int xhci_init(struct vm *vm, struct pci_dev *pd, struct cfgnode *devnode)
{
	struct xhci_devcfg devs[XHCI_MAX_DEVS];
	int n = xhci_read_config(devnode, devs);
	if (n < 0)
		return -EINVAL;
	struct xhci *xc = calloc(1, sizeof(*xc));
	if (!xc)
		return -ENOMEM;
	pthread_mutex_init(&xc->mtx, NULL);
	xc->vm = vm;
	xc->pd = pd;
	int rc = vm_at_destroy(vm, xhci_destroy, xc);
	if (rc) {
		pthread_mutex_destroy(&xc->mtx);
		free(xc);
		return rc;
	}
	/* from here on the destroy hook frees xc and its devices, also when init fails */
	rc = setup_pci(pd);
	if (rc < 0)
		return rc;
	for (unsigned p = 1; p <= XHCI_MAX_PORTS; p++)
		xc->port[p].usb3 = p < XHCI_USB2_PORT1;
	const struct usb_hc hc = {.lock = &xc->mtx, .wakeup = dev_wakeup, .opaque = xc};
	for (int i = 0; i < n; i++) {
		struct usb_dev *d = NULL;
		rc = devs[i].emu->create(devs[i].node, &hc, &d);
		if (rc < 0)
			return rc;
		xc->devs[xc->ndevs++] = d;
		pthread_mutex_lock(&xc->mtx);
		xc->port[devs[i].port].dev = d;
		pthread_mutex_unlock(&xc->mtx);
	}
	pthread_mutex_lock(&xc->mtx);
	hc_reset(xc);
	pthread_mutex_unlock(&xc->mtx);
	pd->priv = xc;
	return 0;
}

static const struct pci_devemu xhci_emu = {
    .name = "xhci",
    .legacy_config = xhci_legacy_config,
    .init = xhci_init,
    .barread = xhci_barread,
    .barwrite = xhci_barwrite,
};
PCI_EMUL(xhci_emu);
