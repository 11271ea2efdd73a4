/* SPDX-License-Identifier: BSD-2-Clause */
/* xHCI transfer rings (xHCI 1.2 4.9-4.11): TDs taken from an endpoint's ring and carried out on
 * its USB device.
 *
 * A TD is the TRBs from the dequeue pointer to the first one without the Chain bit (Link TRBs
 * followed, at most XHCI_TD_MAX_TRBS TRBs); it is only taken once all its TRBs carry the ring's
 * cycle state. EP 0 runs control transfers stage by stage: the Setup Stage TRB (IDT, 8 bytes)
 * carries out IN requests and requests without data at once (the answer waits in the slot's
 * control state), OUT requests with data at the Status Stage once the Data Stage collected it.
 * Other endpoints run Normal TRBs: an IN TD asks the device for at most the TD's length (a NAK
 * leaves the TD where it is: a wakeup from the device or the next doorbell retries it), an OUT TD
 * hands the device the TD's bytes. Event Data TRBs and No Op TRBs are honoured.
 *
 * Completion follows 4.10.1.1: IOC gives a Success event; a short packet gives a Short Packet
 * event on its TRB (when ISP or IOC is set there, else on the TD's last TRB if that has IOC) and
 * skips the rest of the TD but its Event Data TRBs. A refused request or transfer halts the
 * endpoint with a Stall Error event on the TRB where it was found; a malformed TD halts it with
 * TRB Error, a data buffer outside RAM with Data Buffer Error. A halted endpoint keeps its
 * dequeue pointer on the TD that failed (the output context says so) until Reset Endpoint and
 * Set TR Dequeue Pointer. */
#include <string.h>

#include "usb/xhci.h"

struct td_trb {
	uint64_t addr, param;
	uint32_t status, ctrl;
};

/* The TD at ep's dequeue pointer: 1 complete (n TRBs; *next and *next_ccs after it), 0 not
 * there (yet), -1 the ring is not in RAM (host system error), -2 longer than allowed. */
static int td_gather(struct xhci *xc, const struct xhci_ep *ep, struct td_trb *td, unsigned *n,
		     uint64_t *next, bool *next_ccs, unsigned *budget)
{
	uint64_t at = ep->deq;
	bool ccs = ep->ccs;
	unsigned k = 0;
	for (;;) {
		if (*budget == 0)
			return 0;
		(*budget)--;
		uint64_t param;
		uint32_t status, ctrl;
		if (!xhci_read_trb(xc, at, &param, &status, &ctrl))
			return -1;
		if (!(ctrl & TRB_C) != !ccs)
			return 0;
		if (TRB_TYPE(ctrl) == TRB_LINK) {
			at = param & ~0xfull;
			if (ctrl & TRB_TC)
				ccs = !ccs;
			continue;
		}
		if (k == XHCI_TD_MAX_TRBS)
			return -2;
		td[k++] = (struct td_trb){at, param, status, ctrl};
		at += XHCI_TRB_SIZE;
		if (!(ctrl & TRB_CH))
			break;
	}
	*n = k;
	*next = at;
	*next_ccs = ccs;
	return 1;
}

/* Halt the endpoint with an error event on `trb`. */
static void ep_halt(struct xhci *xc, unsigned sid, unsigned dci, uint64_t trb, unsigned cc,
		    uint32_t residual)
{
	struct xhci_slot *s = &xc->slot[sid];
	xhci_dbg("xhci: slot %u DCI %u halted: completion code %u on the TRB at %#llx", sid, dci,
		 cc, (unsigned long long)trb);
	s->ep[dci].state = EP_HALTED;
	xhci_ep_sync(xc, s, dci);
	xhci_transfer_event(xc, sid, dci, trb, cc, residual, false, true);
}

static bool intr_of(const struct td_trb *t)
{
	return TRB_TYPE(t->ctrl) != TRB_NORMAL || !(t->ctrl & TRB_BEI);
}

/* Events of a TD that moved no data, or all of it (OUT): IOC, Event Data. */
static void td_events(struct xhci *xc, unsigned sid, unsigned dci, const struct td_trb *td,
		      unsigned n)
{
	uint32_t edtla = 0;
	for (unsigned i = 0; i < n; i++) {
		const struct td_trb *t = &td[i];
		unsigned type = TRB_TYPE(t->ctrl);
		if (type == TRB_EVENT_DATA) {
			if (t->ctrl & TRB_IOC)
				xhci_transfer_event(xc, sid, dci, t->param, CC_SUCCESS, edtla, true,
						    !(t->ctrl & TRB_BEI));
			edtla = 0;
			continue;
		}
		if (type == TRB_NORMAL || type == TRB_DATA)
			edtla += TRB_LEN(t->status);
		if (t->ctrl & TRB_IOC)
			xhci_transfer_event(xc, sid, dci, t->addr, CC_SUCCESS, 0, false,
					    intr_of(t));
	}
}

/* Whether every TRB of the TD may appear in it: `first` for td[0], Normal, Event Data and No Op
 * after it; IDT only on OUT data. */
static bool td_valid(const struct td_trb *td, unsigned n, unsigned first, bool in)
{
	for (unsigned i = 0; i < n; i++) {
		unsigned type = TRB_TYPE(td[i].ctrl);
		if (i == 0 ? type != first
			   : type != TRB_NORMAL && type != TRB_EVENT_DATA && type != TRB_NOOP)
			return false;
		if ((type == TRB_NORMAL || type == TRB_DATA) && (td[i].ctrl & TRB_IDT) &&
		    (in || TRB_LEN(td[i].status) > 8))
			return false;
	}
	return true;
}

/* Move `avail` bytes of data into the TD's buffers, with its events. 1, or -1 (halted). */
static int td_in(struct xhci *xc, unsigned sid, unsigned dci, const struct td_trb *td, unsigned n,
		 const uint8_t *data, uint32_t avail, uint32_t *moved)
{
	uint32_t pos = 0, edtla = 0;
	bool shorted = false, reported = false;
	for (unsigned i = 0; i < n; i++) {
		const struct td_trb *t = &td[i];
		unsigned type = TRB_TYPE(t->ctrl);
		if (type == TRB_EVENT_DATA) {
			if (t->ctrl & TRB_IOC) {
				xhci_transfer_event(xc, sid, dci, t->param,
						    shorted ? CC_SHORT_PACKET : CC_SUCCESS, edtla,
						    true, !(t->ctrl & TRB_BEI));
				reported |= shorted;
			}
			edtla = 0;
			continue;
		}
		if (type == TRB_NOOP || shorted)
			continue;
		uint32_t len = TRB_LEN(t->status), k = avail - pos < len ? avail - pos : len;
		if (k && xhci_dma_write(xc, t->param, data + pos, k) < 0) {
			xhci_dbg("xhci: slot %u DCI %u: data buffer %#llx+%u is not in guest RAM",
				 sid, dci, (unsigned long long)t->param, k);
			ep_halt(xc, sid, dci, t->addr, CC_DATA_BUFFER, len);
			return -1;
		}
		pos += k;
		edtla += k;
		if (k < len) {
			shorted = true;
			if (t->ctrl & (TRB_ISP | TRB_IOC)) {
				xhci_transfer_event(xc, sid, dci, t->addr, CC_SHORT_PACKET, len - k,
						    false, intr_of(t));
				reported = true;
			}
		} else if (t->ctrl & TRB_IOC)
			xhci_transfer_event(xc, sid, dci, t->addr, CC_SUCCESS, 0, false,
					    intr_of(t));
	}
	const struct td_trb *last = &td[n - 1];
	if (shorted && !reported && (last->ctrl & TRB_IOC) &&
	    TRB_TYPE(last->ctrl) != TRB_EVENT_DATA)
		xhci_transfer_event(xc, sid, dci, last->addr, CC_SHORT_PACKET,
				    TRB_LEN(last->status), false, intr_of(last));
	if (moved)
		*moved = pos;
	return 1;
}

/* Gather the TD's OUT data into buf (at most `max` bytes; the rest is dropped). */
static int td_out(struct xhci *xc, unsigned sid, unsigned dci, const struct td_trb *td, unsigned n,
		  uint8_t *buf, uint32_t max, uint32_t *got)
{
	uint32_t pos = 0;
	for (unsigned i = 0; i < n; i++) {
		const struct td_trb *t = &td[i];
		unsigned type = TRB_TYPE(t->ctrl);
		if (type != TRB_NORMAL && type != TRB_DATA)
			continue;
		uint32_t len = TRB_LEN(t->status), k = max - pos < len ? max - pos : len;
		if (!k)
			continue;
		if (t->ctrl & TRB_IDT) {
			uint8_t imm[8];
			for (unsigned b = 0; b < 8; b++)
				imm[b] = (uint8_t)(t->param >> (8 * b));
			memcpy(buf + pos, imm, k);
		} else if (xhci_dma_read(xc, t->param, buf + pos, k) < 0) {
			xhci_dbg("xhci: slot %u DCI %u: data buffer %#llx+%u is not in guest RAM",
				 sid, dci, (unsigned long long)t->param, k);
			ep_halt(xc, sid, dci, t->addr, CC_DATA_BUFFER, len);
			return -1;
		}
		pos += k;
	}
	*got = pos;
	return 1;
}

/* ---- EP 0: control transfers ---- */

static int run_ctrl_td(struct xhci *xc, unsigned sid, const struct td_trb *td, unsigned n)
{
	struct xhci_slot *s = &xc->slot[sid];
	struct xhci_ctrl *c = &s->ctrl;
	unsigned type = TRB_TYPE(td[0].ctrl);
	const unsigned dci = 1;
	int r;
	switch (type) {
	case TRB_SETUP: {
		if (!(td[0].ctrl & TRB_IDT) || TRB_LEN(td[0].status) != 8 ||
		    !td_valid(td, n, TRB_SETUP, false)) {
			ep_halt(xc, sid, dci, td[0].addr, CC_TRB, 0);
			return -1;
		}
		uint64_t p = td[0].param;
		memset(c, 0, sizeof(*c));
		c->active = true;
		c->setup = (struct usb_setup){
		    .type = (uint8_t)p,
		    .request = (uint8_t)(p >> 8),
		    .value = (uint16_t)(p >> 16),
		    .index = (uint16_t)(p >> 32),
		    .length = (uint16_t)(p >> 48),
		};
		if ((c->setup.type & USB_DIR_IN) || c->setup.length == 0) {
			unsigned max =
			    c->setup.length < USB_CTRL_MAX ? c->setup.length : USB_CTRL_MAX;
			r = usb_dev_control(s->dev, &c->setup, c->buf, max);
			c->stall = r < 0;
			c->len = r < 0 ? 0 : (uint32_t)r;
		} else
			c->deferred = true;
		td_events(xc, sid, dci, td, n);
		return 1;
	}
	case TRB_DATA: {
		bool in = c->setup.type & USB_DIR_IN;
		if (!c->active || !td_valid(td, n, TRB_DATA, in)) {
			ep_halt(xc, sid, dci, td[0].addr, CC_TRB, 0);
			return -1;
		}
		if (c->stall) {
			ep_halt(xc, sid, dci, td[0].addr, CC_STALL, TRB_LEN(td[0].status));
			return -1;
		}
		if (in) {
			uint32_t moved = 0;
			r = td_in(xc, sid, dci, td, n, c->buf + c->pos, c->len - c->pos, &moved);
			c->pos += moved;
			return r;
		}
		uint32_t got = 0;
		r = td_out(xc, sid, dci, td, n, c->buf + c->len, USB_CTRL_MAX - c->len, &got);
		if (r < 0)
			return r;
		c->len += got;
		td_events(xc, sid, dci, td, n);
		return 1;
	}
	case TRB_STATUS:
		if (!c->active || !td_valid(td, n, TRB_STATUS, false)) {
			ep_halt(xc, sid, dci, td[0].addr, CC_TRB, 0);
			return -1;
		}
		if (c->deferred) {
			unsigned len = c->len < c->setup.length ? c->len : c->setup.length;
			c->stall = usb_dev_control(s->dev, &c->setup, c->buf, len) < 0;
			c->deferred = false;
		}
		c->active = false;
		if (c->stall) {
			ep_halt(xc, sid, dci, td[0].addr, CC_STALL, 0);
			return -1;
		}
		td_events(xc, sid, dci, td, n);
		return 1;
	case TRB_NOOP:
		td_events(xc, sid, dci, td, n);
		return 1;
	default:
		xhci_dbg("xhci: slot %u EP 0: TRB type %u out of place", sid, type);
		ep_halt(xc, sid, dci, td[0].addr, CC_TRB, 0);
		return -1;
	}
}

/* ---- other endpoints ---- */

static int run_data_td(struct xhci *xc, unsigned sid, unsigned dci, const struct td_trb *td,
		       unsigned n)
{
	struct xhci_slot *s = &xc->slot[sid];
	unsigned epn = dci / 2;
	bool in = dci & 1;
	if (TRB_TYPE(td[0].ctrl) == TRB_NOOP && td_valid(td, n, TRB_NOOP, in)) {
		td_events(xc, sid, dci, td, n);
		return 1;
	}
	if (!td_valid(td, n, TRB_NORMAL, in)) {
		xhci_dbg("xhci: slot %u DCI %u: malformed TD (first TRB type %u)", sid, dci,
			 TRB_TYPE(td[0].ctrl));
		ep_halt(xc, sid, dci, td[0].addr, CC_TRB, 0);
		return -1;
	}
	uint32_t total = 0;
	for (unsigned i = 0; i < n; i++)
		if (TRB_TYPE(td[i].ctrl) == TRB_NORMAL)
			total += TRB_LEN(td[i].status);
	if (total > XHCI_XFER_MAX)
		total = XHCI_XFER_MAX;
	int r;
	if (in) {
		r = usb_dev_data_in(s->dev, epn, xc->xfer_buf, total);
		if (r == USB_NAK)
			return 0;
		if (r < 0) {
			ep_halt(xc, sid, dci, td[0].addr, CC_STALL, TRB_LEN(td[0].status));
			return -1;
		}
		return td_in(xc, sid, dci, td, n, xc->xfer_buf, (uint32_t)r, NULL);
	}
	uint32_t got = 0;
	if (td_out(xc, sid, dci, td, n, xc->xfer_buf, total, &got) < 0)
		return -1;
	r = usb_dev_data_out(s->dev, epn, xc->xfer_buf, got);
	if (r == USB_NAK)
		return 0;
	if (r < 0) {
		ep_halt(xc, sid, dci, td[0].addr, CC_STALL, TRB_LEN(td[0].status));
		return -1;
	}
	td_events(xc, sid, dci, td, n);
	return 1;
}

void xhci_xfer_run(struct xhci *xc, unsigned sid, unsigned dci)
{
	struct xhci_slot *s = &xc->slot[sid];
	struct xhci_ep *ep = &s->ep[dci];
	struct td_trb td[XHCI_TD_MAX_TRBS];
	unsigned budget = XHCI_XFER_BUDGET;
	if (!s->dev)
		return;
	while (ep->state == EP_RUNNING && xhci_running(xc)) {
		unsigned n = 0;
		uint64_t next = 0;
		bool next_ccs = false;
		int g = td_gather(xc, ep, td, &n, &next, &next_ccs, &budget);
		if (g == -2) {
			xhci_dbg("xhci: slot %u DCI %u: a TD of more than %u TRBs", sid, dci,
				 XHCI_TD_MAX_TRBS);
			ep_halt(xc, sid, dci, td[0].addr, CC_TRB, 0);
			return;
		}
		if (g <= 0) {
			if (g == 0 && budget == 0)
				xhci_dbg(
				    "xhci: slot %u DCI %u: %u TRBs in one pass: the rest waits",
				    sid, dci, XHCI_XFER_BUDGET);
			return;
		}
		int r = dci == 1 ? run_ctrl_td(xc, sid, td, n) : run_data_td(xc, sid, dci, td, n);
		if (r <= 0)
			return; /* NAK: the TD stays; or halted */
		ep->deq = next;
		ep->ccs = next_ccs;
	}
}

void xhci_xfer_stop(struct xhci *xc, unsigned sid, unsigned dci)
{
	struct xhci_slot *s = &xc->slot[sid];
	struct xhci_ep *ep = &s->ep[dci];
	struct td_trb td[XHCI_TD_MAX_TRBS];
	unsigned n = 0, budget = XHCI_XFER_BUDGET;
	uint64_t next;
	bool next_ccs;
	/* a complete TD still at the dequeue pointer of a data endpoint is one the device NAKed:
	 * it ends with Stopped, nothing transferred */
	if (dci == 1 || td_gather(xc, ep, td, &n, &next, &next_ccs, &budget) != 1)
		return;
	unsigned type = TRB_TYPE(td[0].ctrl);
	if (type == TRB_NORMAL)
		xhci_transfer_event(xc, sid, dci, td[0].addr, CC_STOPPED, TRB_LEN(td[0].status),
				    false, true);
}

void xhci_doorbell(struct xhci *xc, unsigned sid, uint32_t v)
{
	unsigned dci = v & 0xff;
	if (!xhci_running(xc)) {
		xhci_dbg("xhci: doorbell of slot %u while halted ignored", sid);
		return;
	}
	if (sid > XHCI_MAX_SLOTS || !xc->slot[sid].enabled || dci < 1 || dci > XHCI_MAX_DCI) {
		xhci_dbg("xhci: doorbell of slot %u target %u: no such endpoint", sid, dci);
		return;
	}
	if (!xhci_dma_ok(xc)) {
		xhci_dbg("xhci: doorbell without Bus Master Enable ignored");
		return;
	}
	struct xhci_slot *s = &xc->slot[sid];
	struct xhci_ep *ep = &s->ep[dci];
	if (ep->state == EP_STOPPED) {
		ep->state = EP_RUNNING;
		xhci_ep_sync(xc, s, dci);
	}
	if (ep->state != EP_RUNNING) {
		xhci_dbg("xhci: doorbell of slot %u DCI %u in state %u ignored", sid, dci,
			 ep->state);
		return;
	}
	xhci_xfer_run(xc, sid, dci);
}
