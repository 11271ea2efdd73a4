/* SPDX-License-Identifier: BSD-2-Clause */
/* The xHCI command ring (xHCI 1.2 4.6): device slots, their contexts and endpoint states.
 *
 * The controller keeps its own copy of every enabled slot's output device context and writes it
 * to guest memory (the DCBAA entry taken at Address Device) whenever it changes, so what the
 * guest writes there is never read back. Input contexts are read once per command, and checked
 * before anything changes: a command either completes with Success and all its effects, or with
 * an error code and none.
 *
 * Commands: Enable Slot, Disable Slot, Address Device (BSR), Configure Endpoint (deconfigure
 * included), Evaluate Context (slot: max exit latency, interrupter target; EP 0: max packet
 * size), Reset Endpoint, Stop Endpoint, Set TR Dequeue Pointer, Reset Device, No Op. Anything
 * else completes with TRB Error. */
#include <string.h>

#include "core/byteorder.h"
#include "core/guestmem.h"
#include "core/vm.h"
#include "usb/xhci.h"

/* ---- contexts ---- */

void xhci_ctx_flush(struct xhci *xc, struct xhci_slot *s, unsigned dci)
{
	uint8_t b[XHCI_CTX_SIZE];
	for (unsigned i = 0; i < 8; i++)
		put_le32(b + 4 * i, s->ctx[dci][i]);
	uint64_t at = s->octx + (uint64_t)XHCI_CTX_SIZE * dci;
	if (xhci_dma_write(xc, at, b, sizeof(b)) < 0)
		xhci_dbg("xhci: output context at %#llx is not writable", (unsigned long long)at);
}

static void ctx_flush_all(struct xhci *xc, struct xhci_slot *s)
{
	uint8_t b[XHCI_DEV_CTX_SIZE];
	for (unsigned c = 0; c < 32; c++)
		for (unsigned i = 0; i < 8; i++)
			put_le32(b + XHCI_CTX_SIZE * c + 4 * i, s->ctx[c][i]);
	if (xhci_dma_write(xc, s->octx, b, sizeof(b)) < 0)
		xhci_dbg("xhci: output context at %#llx is not writable",
			 (unsigned long long)s->octx);
}

void xhci_ep_sync(struct xhci *xc, struct xhci_slot *s, unsigned dci)
{
	const struct xhci_ep *ep = &s->ep[dci];
	uint32_t *c = s->ctx[dci];
	c[0] = (c[0] & ~7u) | ep->state;
	c[2] = ((uint32_t)ep->deq & ~0xfu) | (ep->ccs ? 1 : 0);
	c[3] = (uint32_t)(ep->deq >> 32);
	xhci_ctx_flush(xc, s, dci);
}

static void set_slot_state(struct xhci_slot *s, unsigned state, unsigned address)
{
	s->state = (uint8_t)state;
	s->ctx[0][3] = (address & 0xff) | (uint32_t)state << SLOT_STATE_SHIFT;
}

static void set_context_entries(struct xhci_slot *s, unsigned n)
{
	s->ctx[0][0] = (s->ctx[0][0] & ~(0x1fu << 27)) | (uint32_t)(n & 0x1f) << 27;
}

/* Read input context `idx` (0 the input control context, 1 the slot, 1 + DCI an endpoint). */
static bool read_input(struct xhci *xc, uint64_t icp, unsigned idx, uint32_t ctx[8])
{
	uint8_t b[XHCI_CTX_SIZE];
	uint64_t at = (icp & ~0xfull) + (uint64_t)XHCI_CTX_SIZE * idx;
	if (xhci_dma_read(xc, at, b, sizeof(b)) < 0) {
		xhci_dbg("xhci: input context at %#llx is not in guest RAM",
			 (unsigned long long)at);
		return false;
	}
	for (unsigned i = 0; i < 8; i++)
		ctx[i] = le32_at(b + 4 * i);
	return true;
}

static uint64_t ctx_deq(const uint32_t ctx[8])
{
	return (ctx[2] | (uint64_t)ctx[3] << 32);
}

static void ep_disable(struct xhci_slot *s, unsigned dci)
{
	memset(&s->ep[dci], 0, sizeof(s->ep[dci]));
	memset(s->ctx[dci], 0, sizeof(s->ctx[dci]));
}

void xhci_slots_reset(struct xhci *xc)
{
	memset(xc->slot, 0, sizeof(xc->slot));
}

static struct xhci_slot *slot_get(struct xhci *xc, unsigned id)
{
	if (id == 0 || id > XHCI_MAX_SLOTS || !xc->slot[id].enabled) {
		xhci_dbg("xhci: command for slot %u, which is not enabled", id);
		return NULL;
	}
	return &xc->slot[id];
}

/* ---- commands ---- */

static unsigned cmd_enable_slot(struct xhci *xc, unsigned *id)
{
	unsigned max = xc->config & 0xff;
	if (max > XHCI_MAX_SLOTS)
		max = XHCI_MAX_SLOTS;
	for (unsigned i = 1; i <= max; i++) {
		struct xhci_slot *s = &xc->slot[i];
		if (s->enabled)
			continue;
		memset(s, 0, sizeof(*s));
		s->enabled = true;
		s->state = SLOT_ENABLED;
		*id = i;
		return CC_SUCCESS;
	}
	xhci_dbg("xhci: Enable Slot: all %u slots (CONFIG.MaxSlotsEn) in use", max);
	return CC_NO_SLOTS;
}

static unsigned cmd_disable_slot(struct xhci *xc, unsigned id)
{
	struct xhci_slot *s = slot_get(xc, id);
	if (!s)
		return CC_SLOT_NOT_ENABLED;
	if (s->port && xc->port[s->port].slot == id)
		xc->port[s->port].slot = 0;
	memset(s, 0, sizeof(*s));
	return CC_SUCCESS;
}

static unsigned cmd_address_device(struct xhci *xc, unsigned id, uint64_t icp, bool bsr)
{
	struct xhci_slot *s = slot_get(xc, id);
	if (!s)
		return CC_SLOT_NOT_ENABLED;
	if (bsr ? s->state != SLOT_ENABLED : s->state > SLOT_DEFAULT) {
		xhci_dbg("xhci: Address Device (BSR %d) for slot %u in state %u", bsr, id,
			 s->state);
		return CC_CONTEXT_STATE;
	}
	uint32_t sctx[8], ep0[8];
	if (!read_input(xc, icp, 1, sctx) || !read_input(xc, icp, 2, ep0))
		return CC_PARAMETER;
	unsigned port = (sctx[1] >> 16) & 0xff;
	if (port < 1 || port > XHCI_MAX_PORTS) {
		xhci_dbg("xhci: Address Device: root hub port %u does not exist", port);
		return CC_PARAMETER;
	}
	struct xhci_port *pt = &xc->port[port];
	if (!pt->dev || !(pt->portsc & XHCI_PS_PED) || (sctx[0] & 0xfffff)) {
		xhci_dbg("xhci: Address Device: no enabled device at port %u route %#x", port,
			 sctx[0] & 0xfffff);
		return CC_TRANSACTION;
	}
	uint64_t deq = ctx_deq(ep0);
	if (((ep0[1] >> 3) & 7) != EPT_CONTROL || (ep0[1] >> 16) == 0 || (deq & ~0xfull) == 0) {
		xhci_dbg("xhci: Address Device: invalid endpoint 0 context");
		return CC_PARAMETER;
	}
	uint8_t e[8];
	uint64_t entry = xc->dcbaap + 8ull * id;
	if (xhci_dma_read(xc, entry, e, sizeof(e)) < 0) {
		xhci_dbg("xhci: DCBAA entry at %#llx is not in guest RAM",
			 (unsigned long long)entry);
		return CC_PARAMETER;
	}
	uint64_t octx = le64_at(e) & ~0x3full;
	if (octx == 0 || !gm_ptr(&xc->vm->mem, octx, XHCI_DEV_CTX_SIZE)) {
		xhci_dbg("xhci: slot %u: output context at %#llx is not in guest RAM", id,
			 (unsigned long long)octx);
		return CC_PARAMETER;
	}
	s->octx = octx;
	s->port = (uint8_t)port;
	s->dev = pt->dev;
	pt->slot = (uint8_t)id;
	memset(s->ctx, 0, sizeof(s->ctx));
	memset(s->ep, 0, sizeof(s->ep));
	memset(&s->ctrl, 0, sizeof(s->ctrl));
	memcpy(s->ctx[0], sctx, sizeof(sctx));
	memcpy(s->ctx[1], ep0, sizeof(ep0));
	s->ep[1] = (struct xhci_ep){EP_RUNNING, EPT_CONTROL, deq & 1, deq & ~0xfull};
	/* the USB address is the slot ID (1-64) */
	set_slot_state(s, bsr ? SLOT_DEFAULT : SLOT_ADDRESSED, bsr ? 0 : id);
	if (!bsr)
		usb_dev_set_address(s->dev, (uint8_t)id);
	s->ctx[1][0] = (s->ctx[1][0] & ~7u) | EP_RUNNING;
	ctx_flush_all(xc, s);
	return CC_SUCCESS;
}

static bool ep_ctx_valid(unsigned dci, const uint32_t ctx[8])
{
	unsigned type = (ctx[1] >> 3) & 7;
	if (type == EPT_INVALID || ((ctx[0] >> 10) & 0x1f) != 0 || (ctx_deq(ctx) & ~0xfull) == 0)
		return false; /* no type, streams (MaxPSASize is 0), no ring */
	if (type == EPT_CONTROL)
		return true;
	return (type >= EPT_ISOCH_IN) == ((dci & 1) != 0); /* direction matches the DCI */
}

static unsigned cmd_configure_ep(struct xhci *xc, unsigned id, uint64_t icp, bool dc)
{
	struct xhci_slot *s = slot_get(xc, id);
	if (!s)
		return CC_SLOT_NOT_ENABLED;
	if (s->state != SLOT_ADDRESSED && s->state != SLOT_CONFIGURED) {
		xhci_dbg("xhci: Configure Endpoint for slot %u in state %u", id, s->state);
		return CC_CONTEXT_STATE;
	}
	if (dc) {
		for (unsigned dci = 2; dci <= XHCI_MAX_DCI; dci++)
			ep_disable(s, dci);
		set_context_entries(s, 1);
		set_slot_state(s, SLOT_ADDRESSED, s->ctx[0][3] & 0xff);
		ctx_flush_all(xc, s);
		return CC_SUCCESS;
	}
	uint32_t icc[8], sctx[8];
	if (!read_input(xc, icp, 0, icc))
		return CC_PARAMETER;
	uint32_t drop = icc[0] & ~3u, add = icc[1];
	if ((add & 1) && !read_input(xc, icp, 1, sctx))
		return CC_PARAMETER;
	uint32_t in[32][8];
	for (unsigned dci = 2; dci <= XHCI_MAX_DCI; dci++) {
		if (!(add & (1u << dci)))
			continue;
		if (!read_input(xc, icp, dci + 1, in[dci]))
			return CC_PARAMETER;
		if (!ep_ctx_valid(dci, in[dci])) {
			xhci_dbg("xhci: Configure Endpoint: slot %u: invalid context for DCI %u",
				 id, dci);
			return CC_PARAMETER;
		}
	}
	bool any = false;
	for (unsigned dci = 2; dci <= XHCI_MAX_DCI; dci++) {
		if ((drop | add) & (1u << dci))
			ep_disable(s, dci);
		if (add & (1u << dci)) {
			uint64_t deq = ctx_deq(in[dci]);
			memcpy(s->ctx[dci], in[dci], sizeof(in[dci]));
			s->ep[dci] = (struct xhci_ep){EP_RUNNING, (uint8_t)((in[dci][1] >> 3) & 7),
						      deq & 1, deq & ~0xfull};
			s->ctx[dci][0] = (s->ctx[dci][0] & ~7u) | EP_RUNNING;
		}
		any |= s->ep[dci].state != EP_DISABLED;
	}
	if (add & 1)
		set_context_entries(s, sctx[0] >> 27);
	set_slot_state(s, any ? SLOT_CONFIGURED : SLOT_ADDRESSED, s->ctx[0][3] & 0xff);
	ctx_flush_all(xc, s);
	return CC_SUCCESS;
}

static unsigned cmd_evaluate_ctx(struct xhci *xc, unsigned id, uint64_t icp)
{
	struct xhci_slot *s = slot_get(xc, id);
	if (!s)
		return CC_SLOT_NOT_ENABLED;
	if (s->state == SLOT_ENABLED)
		return CC_CONTEXT_STATE;
	uint32_t icc[8], sctx[8], ep0[8];
	if (!read_input(xc, icp, 0, icc))
		return CC_PARAMETER;
	if ((icc[1] & 1) && !read_input(xc, icp, 1, sctx))
		return CC_PARAMETER;
	if ((icc[1] & 2) && !read_input(xc, icp, 2, ep0))
		return CC_PARAMETER;
	if (icc[1] & 1) { /* max exit latency, interrupter target */
		s->ctx[0][1] = (s->ctx[0][1] & ~0xffffu) | (sctx[1] & 0xffff);
		s->ctx[0][2] = (s->ctx[0][2] & 0x3fffffu) | (sctx[2] & ~0x3fffffu);
		xhci_ctx_flush(xc, s, 0);
	}
	if (icc[1] & 2) { /* max packet size */
		s->ctx[1][1] = (s->ctx[1][1] & 0xffffu) | (ep0[1] & 0xffff0000u);
		xhci_ctx_flush(xc, s, 1);
	}
	return CC_SUCCESS;
}

/* The endpoint a Reset/Stop Endpoint or Set TR Dequeue command names, or NULL (*cc set). */
static struct xhci_ep *cmd_ep(struct xhci *xc, uint32_t ctrl, struct xhci_slot **sp, unsigned *dci,
			      unsigned *cc)
{
	struct xhci_slot *s = slot_get(xc, TRB_SLOT(ctrl));
	*dci = TRB_EP(ctrl);
	if (!s) {
		*cc = CC_SLOT_NOT_ENABLED;
		return NULL;
	}
	if (*dci == 0) {
		*cc = CC_TRB;
		return NULL;
	}
	*sp = s;
	return &s->ep[*dci];
}

static unsigned cmd_reset_ep(struct xhci *xc, uint32_t ctrl)
{
	struct xhci_slot *s;
	unsigned dci, cc;
	struct xhci_ep *ep = cmd_ep(xc, ctrl, &s, &dci, &cc);
	if (!ep)
		return cc;
	if (ep->state != EP_HALTED) {
		xhci_dbg("xhci: Reset Endpoint: slot %u DCI %u in state %u, not halted",
			 TRB_SLOT(ctrl), dci, ep->state);
		return CC_CONTEXT_STATE;
	}
	ep->state = EP_STOPPED;
	if (dci == 1)
		memset(&s->ctrl, 0, sizeof(s->ctrl));
	xhci_ep_sync(xc, s, dci);
	return CC_SUCCESS;
}

static unsigned cmd_stop_ep(struct xhci *xc, uint32_t ctrl)
{
	struct xhci_slot *s;
	unsigned dci, cc;
	struct xhci_ep *ep = cmd_ep(xc, ctrl, &s, &dci, &cc);
	if (!ep)
		return cc;
	if (ep->state != EP_RUNNING) {
		xhci_dbg("xhci: Stop Endpoint: slot %u DCI %u in state %u, not running",
			 TRB_SLOT(ctrl), dci, ep->state);
		return CC_CONTEXT_STATE;
	}
	xhci_xfer_stop(xc, TRB_SLOT(ctrl), dci);
	if (!xhci_running(xc))
		return CC_SUCCESS; /* its ring was not in RAM: halted, no completion */
	ep->state = EP_STOPPED;
	xhci_ep_sync(xc, s, dci);
	return CC_SUCCESS;
}

static unsigned cmd_set_tr_deq(struct xhci *xc, uint64_t param, uint32_t ctrl)
{
	struct xhci_slot *s;
	unsigned dci, cc;
	struct xhci_ep *ep = cmd_ep(xc, ctrl, &s, &dci, &cc);
	if (!ep)
		return cc;
	if (ep->state != EP_STOPPED && ep->state != EP_ERROR) {
		xhci_dbg("xhci: Set TR Dequeue Pointer: slot %u DCI %u in state %u", TRB_SLOT(ctrl),
			 dci, ep->state);
		return CC_CONTEXT_STATE;
	}
	if ((param & ~0xfull) == 0)
		return CC_PARAMETER;
	ep->deq = param & ~0xfull;
	ep->ccs = param & 1;
	if (dci == 1)
		memset(&s->ctrl, 0, sizeof(s->ctrl));
	xhci_ep_sync(xc, s, dci);
	return CC_SUCCESS;
}

static unsigned cmd_reset_device(struct xhci *xc, unsigned id)
{
	struct xhci_slot *s = slot_get(xc, id);
	if (!s)
		return CC_SLOT_NOT_ENABLED;
	if (s->state != SLOT_ADDRESSED && s->state != SLOT_CONFIGURED) {
		xhci_dbg("xhci: Reset Device for slot %u in state %u", id, s->state);
		return CC_CONTEXT_STATE;
	}
	for (unsigned dci = 2; dci <= XHCI_MAX_DCI; dci++)
		ep_disable(s, dci);
	memset(&s->ctrl, 0, sizeof(s->ctrl));
	set_context_entries(s, 1);
	set_slot_state(s, SLOT_DEFAULT, 0);
	ctx_flush_all(xc, s);
	return CC_SUCCESS;
}

static unsigned execute(struct xhci *xc, uint64_t param, uint32_t ctrl, unsigned *slot)
{
	unsigned type = TRB_TYPE(ctrl);
	*slot = TRB_SLOT(ctrl);
	switch (type) {
	case TRB_ENABLE_SLOT:
		*slot = 0;
		return cmd_enable_slot(xc, slot);
	case TRB_DISABLE_SLOT:
		return cmd_disable_slot(xc, *slot);
	case TRB_ADDRESS_DEVICE:
		return cmd_address_device(xc, *slot, param, ctrl & TRB_BSR);
	case TRB_CONFIGURE_EP:
		return cmd_configure_ep(xc, *slot, param, ctrl & TRB_DC);
	case TRB_EVALUATE_CTX:
		return cmd_evaluate_ctx(xc, *slot, param);
	case TRB_RESET_EP:
		return cmd_reset_ep(xc, ctrl);
	case TRB_STOP_EP:
		return cmd_stop_ep(xc, ctrl);
	case TRB_SET_TR_DEQ:
		return cmd_set_tr_deq(xc, param, ctrl);
	case TRB_RESET_DEVICE:
		return cmd_reset_device(xc, *slot);
	case TRB_NOOP_CMD:
		return CC_SUCCESS;
	default:
		xhci_dbg("xhci: command TRB type %u not supported", type);
		return CC_TRB;
	}
}

void xhci_cmd_run(struct xhci *xc)
{
	for (unsigned n = 0; n < XHCI_CMD_BUDGET; n++) {
		if (!xc->crr || !xhci_running(xc))
			return;
		uint64_t at = xc->cr_deq, param;
		uint32_t status, ctrl;
		if (!xhci_read_trb(xc, at, &param, &status, &ctrl))
			return;
		if (!(ctrl & TRB_C) != !xc->cr_ccs)
			return; /* the ring is empty */
		if (TRB_TYPE(ctrl) == TRB_LINK) {
			xc->cr_deq = param & ~0xfull;
			if (ctrl & TRB_TC)
				xc->cr_ccs = !xc->cr_ccs;
			continue;
		}
		unsigned slot;
		unsigned cc = execute(xc, param, ctrl, &slot);
		if (!xhci_running(xc))
			return;
		xc->cr_deq = at + XHCI_TRB_SIZE;
		xhci_event(xc, at, cc << 24, (uint32_t)TRB_EV_COMMAND << 10 | slot << 24, true);
	}
	xhci_dbg("xhci: %u command ring TRBs in one doorbell: the rest waits for the next",
		 XHCI_CMD_BUDGET);
}

void xhci_cmd_stop(struct xhci *xc)
{
	/* Skip Link TRBs, as the host's own dequeue pointer does, so that the event names the
	 * TRB it expects next. */
	for (unsigned i = 0; i < 8; i++) {
		uint8_t t[XHCI_TRB_SIZE];
		if (xhci_dma_read(xc, xc->cr_deq, t, sizeof(t)) < 0 ||
		    TRB_TYPE(le32_at(t + 12)) != TRB_LINK)
			break;
		xc->cr_deq = le64_at(t) & ~0xfull;
		if (le32_at(t + 12) & TRB_TC)
			xc->cr_ccs = !xc->cr_ccs;
	}
	xc->crr = false;
	xhci_event(xc, xc->cr_deq, (uint32_t)CC_CMD_RING_STOPPED << 24,
		   (uint32_t)TRB_EV_COMMAND << 10, true);
}
