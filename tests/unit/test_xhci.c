/* SPDX-License-Identifier: BSD-2-Clause */
/* xHCI and the USB tablet end to end without KVM: `-s 5,xhci,tablet` through the emulation's
 * parser, the controller created by the PCI bus on a fake VM (vm_harness), and a driver written
 * here that does what Linux's xhci_hcd, the USB core and usbhid do: halt and reset, DCBAA,
 * command ring, event ring segment table, run; port reset; Enable Slot, Address Device (BSR 1
 * then 0), control transfers for the descriptors, Configure Endpoint for EP 1 IN,
 * SET_CONFIGURATION, a Normal TRB on the interrupt endpoint completed by console pointer events.
 * Then the error paths a guest can take: bad slots and endpoints, rings made of Link TRBs, rings,
 * contexts and buffers outside RAM, Bus Master Enable off, a full event ring. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vm_harness.h"

#include "config/config.h"
#include "core/byteorder.h"
#include "core/vm.h"
#include "input/console_input.h"
#include "pci/pci.h"
#include "usb/xhci.h"

#define RAM_SIZE (16u << 20)
#define SLOT 5
#define DCBAA_GPA 0x10000ULL
#define CR_GPA 0x11000ULL
#define ERST_GPA 0x12000ULL
#define ER_GPA 0x13000ULL
#define ER2_GPA 0x14000ULL
#define ICTX_GPA 0x20000ULL
#define OCTX_GPA 0x21000ULL
#define EP0_GPA 0x22000ULL
#define EP1_GPA 0x23000ULL
#define BUF_GPA 0x30000ULL
#define REPORT_GPA 0x31000ULL
#define CR_SIZE 32 /* TRBs, the last one a Link TRB */
#define ER_SIZE 64
#define XR_SIZE 32
#define TABLET_PORT 5
#define DCI_EP1_IN 3

struct ring {
	uint64_t base;
	unsigned idx, size;
	bool cycle;
};

struct event {
	uint64_t param;
	uint32_t status, ctrl;
	unsigned type, cc, slot, dci;
	uint32_t len;
};

struct env {
	struct vm *vm;
	uint8_t *ram;
	uint64_t bar;
	struct pci_dev *pd;
	struct ring cr, ep0, ep1;
	uint64_t er_base;
	unsigned er_idx, er_size;
	bool er_cycle;
	unsigned slot;
};

/* ---- environment ---- */

static int make_env(const char *opts, struct env **out)
{
	struct env *e = calloc(1, sizeof(*e));
	e->vm = harness_vm_new();
	e->ram = calloc(1, RAM_SIZE);
	guestmem_init_from(&e->vm->mem, e->ram, RAM_SIZE, 0);
	*out = e;
	int r = harness_add_device(e->vm, SLOT, "xhci", opts);
	if (r < 0)
		return r;
	r = pci_init_all(e->vm);
	if (r < 0)
		return r;
	e->pd = pci_find_dev(e->vm, 0, SLOT, 0);
	assert_non_null(e->pd);
	e->bar = harness_cfg_read(e->vm, SLOT, PCIR_BAR0, 4) & ~0xfULL;
	harness_cfg_write(e->vm, SLOT, PCIR_COMMAND, 2, 0x6); /* memory, bus master */
	return 0;
}

static void free_env(struct env *e)
{
	harness_vm_free(e->vm);
	free(e->ram);
	free(e);
}

static uint32_t rd(struct env *e, uint64_t off)
{
	return (uint32_t)harness_mmio_read(e->vm, e->bar + off, 4);
}

static void wr(struct env *e, uint64_t off, uint32_t v)
{
	harness_mmio_write(e->vm, e->bar + off, 4, v);
}

static void wr64(struct env *e, uint64_t off, uint64_t v)
{
	wr(e, off, (uint32_t)v); /* as Linux's lo_hi_writeq */
	wr(e, off + 4, (uint32_t)(v >> 32));
}

static uint32_t portsc(struct env *e, unsigned port)
{
	return rd(e, XHCI_PORTREGS + 16 * (port - 1));
}

static void set_portsc(struct env *e, unsigned port, uint32_t v)
{
	wr(e, XHCI_PORTREGS + 16 * (port - 1), v);
}

static unsigned find_cap(struct env *e, unsigned id)
{
	for (unsigned p = harness_cfg_read(e->vm, SLOT, PCIR_CAP_PTR, 1); p;
	     p = harness_cfg_read(e->vm, SLOT, p + 1, 1))
		if (harness_cfg_read(e->vm, SLOT, p, 1) == id)
			return p;
	return 0;
}

/* ---- rings ---- */

static void ring_init(struct env *e, struct ring *r, uint64_t base, unsigned size)
{
	*r = (struct ring){base, 0, size, true};
	memset(e->ram + base, 0, 16ull * size);
}

static void put_trb(struct env *e, uint64_t at, uint64_t param, uint32_t status, uint32_t ctrl)
{
	uint8_t *p = e->ram + at;
	put_le64(p, param);
	put_le32(p + 8, status);
	put_le32(p + 12, ctrl);
}

/* Queue a TRB (the cycle bit is added); a Link TRB with Toggle Cycle closes the ring. */
static uint64_t ring_put(struct env *e, struct ring *r, uint64_t param, uint32_t status,
			 uint32_t ctrl)
{
	uint64_t at = r->base + 16ull * r->idx;
	put_trb(e, at, param, status, (ctrl & ~TRB_C) | (r->cycle ? TRB_C : 0));
	if (++r->idx == r->size - 1) {
		put_trb(e, r->base + 16ull * r->idx, r->base, 0,
			TRB_LINK << 10 | TRB_TC | (r->cycle ? TRB_C : 0));
		r->idx = 0;
		r->cycle = !r->cycle;
	}
	return at;
}

/* The next event, if the controller wrote one; the driver then moves ERDP (clearing EHB). */
static bool next_event(struct env *e, struct event *ev)
{
	const uint8_t *p = e->ram + e->er_base + 16ull * e->er_idx;
	uint32_t ctrl = le32_at(p + 12);
	if (!(ctrl & TRB_C) != !e->er_cycle)
		return false;
	ev->param = le64_at(p);
	ev->status = le32_at(p + 8);
	ev->ctrl = ctrl;
	ev->type = TRB_TYPE(ctrl);
	ev->cc = ev->status >> 24;
	ev->len = ev->status & 0xffffff;
	ev->slot = ctrl >> 24;
	ev->dci = (ctrl >> 16) & 0x1f;
	if (++e->er_idx == e->er_size) {
		e->er_idx = 0;
		e->er_cycle = !e->er_cycle;
	}
	wr64(e, XHCI_IR0 + XHCI_ERDP, (e->er_base + 16ull * e->er_idx) | XHCI_ERDP_EHB);
	return true;
}

static struct event must_event(struct env *e, unsigned type)
{
	struct event ev;
	assert_true(next_event(e, &ev));
	if (ev.type != type)
		fail_msg("event type %u (cc %u) where %u was expected", ev.type, ev.cc, type);
	return ev;
}

static void no_event(struct env *e)
{
	struct event ev;
	if (next_event(e, &ev))
		fail_msg("unexpected event type %u cc %u", ev.type, ev.cc);
}

/* Run a command: its completion code; *slot gets the event's slot ID. */
static unsigned command(struct env *e, uint64_t param, uint32_t ctrl, unsigned *slot)
{
	uint64_t at = ring_put(e, &e->cr, param, 0, ctrl);
	wr(e, XHCI_DBOFF, 0);
	struct event ev = must_event(e, TRB_EV_COMMAND);
	assert_int_equal(ev.param, at);
	if (slot)
		*slot = ev.slot;
	return ev.cc;
}

/* As Linux's xhci_gen_setup, xhci_mem_init and xhci_run. */
static void start(struct env *e)
{
	wr(e, XHCI_OP + XHCI_USBCMD, 0);
	assert_true(rd(e, XHCI_OP + XHCI_USBSTS) & XHCI_STS_HCH);
	wr(e, XHCI_OP + XHCI_USBCMD, XHCI_CMD_HCRST);
	assert_int_equal(rd(e, XHCI_OP + XHCI_USBCMD) & XHCI_CMD_HCRST, 0);
	assert_int_equal(rd(e, XHCI_OP + XHCI_USBSTS) & XHCI_STS_CNR, 0);
	wr(e, XHCI_OP + XHCI_CONFIG, XHCI_MAX_SLOTS);
	memset(e->ram + DCBAA_GPA, 0, 8 * (XHCI_MAX_SLOTS + 1));
	wr64(e, XHCI_OP + XHCI_DCBAAP, DCBAA_GPA);
	ring_init(e, &e->cr, CR_GPA, CR_SIZE);
	wr64(e, XHCI_OP + XHCI_CRCR, CR_GPA | 1);
	e->er_base = ER_GPA;
	e->er_size = ER_SIZE;
	e->er_idx = 0;
	e->er_cycle = true;
	memset(e->ram + ER_GPA, 0, 16 * ER_SIZE);
	put_le64(e->ram + ERST_GPA, ER_GPA);
	put_le32(e->ram + ERST_GPA + 8, ER_SIZE);
	wr(e, XHCI_IR0 + XHCI_ERSTSZ, 1);
	wr64(e, XHCI_IR0 + XHCI_ERSTBA, ERST_GPA);
	wr64(e, XHCI_IR0 + XHCI_ERDP, ER_GPA);
	wr(e, XHCI_IR0 + XHCI_IMOD, 160);
	wr(e, XHCI_OP + XHCI_USBCMD, XHCI_CMD_INTE);
	wr(e, XHCI_IR0 + XHCI_IMAN, rd(e, XHCI_IR0 + XHCI_IMAN) | XHCI_IMAN_IE);
	wr(e, XHCI_OP + XHCI_USBCMD, XHCI_CMD_INTE | XHCI_CMD_RS);
	assert_int_equal(rd(e, XHCI_OP + XHCI_USBSTS) & XHCI_STS_HCH, 0);
}

/* Clear the connect change and reset the port, as the hub driver does. */
static void reset_port(struct env *e, unsigned port)
{
	uint32_t ps = portsc(e, port);
	assert_true(ps & XHCI_PS_CCS);
	set_portsc(e, port, XHCI_PS_PP | XHCI_PS_CSC);
	set_portsc(e, port, XHCI_PS_PP | XHCI_PS_PR);
	ps = portsc(e, port);
	assert_true(ps & XHCI_PS_PED);
	assert_true(ps & XHCI_PS_PRC);
	assert_int_equal(ps & XHCI_PS_PR, 0);
	assert_int_equal((ps & XHCI_PS_PLS_MASK) >> XHCI_PS_PLS_SHIFT, XHCI_PLS_U0);
	assert_int_equal((ps & XHCI_PS_SPEED_MASK) >> XHCI_PS_SPEED_SHIFT, USB_SPEED_HIGH);
	struct event ev = must_event(e, TRB_EV_PORT);
	assert_int_equal(ev.param >> 24, port);
	set_portsc(e, port, XHCI_PS_PP | XHCI_PS_PRC);
	assert_int_equal(portsc(e, port) & XHCI_PS_CHANGES, 0);
}

/* Input context for Address Device: slot (port, 1 entry) and EP 0 on the EP 0 ring. */
static void input_address(struct env *e, unsigned port, uint64_t ring, unsigned mps)
{
	uint8_t *ic = e->ram + ICTX_GPA;
	memset(ic, 0, 33 * 32);
	put_le32(ic + 4, 3);					       /* A0, A1 */
	put_le32(ic + 32, 1u << 27 | (uint32_t)USB_SPEED_HIGH << 20);  /* 1 entry, HS */
	put_le32(ic + 32 + 4, port << 16);			       /* root hub port */
	put_le32(ic + 64 + 4, 3u << 1 | EPT_CONTROL << 3 | mps << 16); /* CErr 3 */
	put_le64(ic + 64 + 8, ring);
	put_le32(ic + 64 + 16, 8);
}

/* The EP 0 ring's enqueue pointer and cycle: what Linux puts in the EP 0 context of an Address
 * Device after the first one (xhci_copy_ep0_dequeue_into_input_ctx). */
static uint64_t ep0_enq(struct env *e)
{
	return (e->ep0.base + 16ull * e->ep0.idx) | (e->ep0.cycle ? 1 : 0);
}

static uint32_t octx(struct env *e, unsigned idx, unsigned dw)
{
	return le32_at(e->ram + OCTX_GPA + 32 * idx + 4 * dw);
}

static unsigned enable_and_address(struct env *e, bool bsr_first)
{
	unsigned slot;
	assert_int_equal(command(e, 0, TRB_ENABLE_SLOT << 10, &slot), CC_SUCCESS);
	assert_true(slot >= 1 && slot <= XHCI_MAX_SLOTS);
	e->slot = slot;
	memset(e->ram + OCTX_GPA, 0xee, XHCI_DEV_CTX_SIZE);
	put_le64(e->ram + DCBAA_GPA + 8 * slot, OCTX_GPA);
	ring_init(e, &e->ep0, EP0_GPA, XR_SIZE);
	input_address(e, TABLET_PORT, ep0_enq(e), 64);
	if (bsr_first) {
		assert_int_equal(
		    command(e, ICTX_GPA, TRB_ADDRESS_DEVICE << 10 | TRB_BSR | slot << 24, NULL),
		    CC_SUCCESS);
		assert_int_equal(octx(e, 0, 3), (uint32_t)SLOT_DEFAULT << 27);
		input_address(e, TABLET_PORT, ep0_enq(e), 64);
	}
	assert_int_equal(command(e, ICTX_GPA, TRB_ADDRESS_DEVICE << 10 | slot << 24, NULL),
			 CC_SUCCESS);
	assert_int_equal(octx(e, 0, 3), (uint32_t)SLOT_ADDRESSED << 27 | slot);
	assert_int_equal((octx(e, 0, 1) >> 16) & 0xff, TABLET_PORT);
	assert_int_equal(octx(e, 1, 0) & 7, EP_RUNNING);
	assert_int_equal(octx(e, 2, 0), 0); /* the rest of the context is written, zero */
	return slot;
}

/* A control transfer on EP 0 as Linux queues it (Setup, Data with ISP for IN, Status with
 * IOC): the completion code of the TD; *got the bytes an IN data stage moved. */
static unsigned control(struct env *e, uint8_t type, uint8_t req, uint16_t value, uint16_t index,
			uint16_t length, uint64_t buf, unsigned *got)
{
	bool in = type & USB_DIR_IN;
	uint64_t setup = type | (uint64_t)req << 8 | (uint64_t)value << 16 | (uint64_t)index << 32 |
			 (uint64_t)length << 48;
	unsigned trt = length ? (in ? 3 : 2) : 0;
	ring_put(e, &e->ep0, setup, 8, TRB_SETUP << 10 | TRB_IDT | trt << 16);
	uint64_t data = 0;
	if (length)
		data = ring_put(e, &e->ep0, buf, length,
				TRB_DATA << 10 | (in ? TRB_DIR_IN | TRB_ISP : 0));
	uint64_t status = ring_put(e, &e->ep0, 0, 0,
				   TRB_STATUS << 10 | TRB_IOC | (in && length ? 0 : TRB_DIR_IN));
	wr(e, XHCI_DBOFF + 4 * e->slot, 1);
	struct event ev = must_event(e, TRB_EV_TRANSFER);
	assert_int_equal(ev.slot, e->slot);
	assert_int_equal(ev.dci, 1);
	if (got)
		*got = length;
	if (ev.cc == CC_SHORT_PACKET) {
		assert_int_equal(ev.param, data);
		if (got)
			*got = length - ev.len;
		ev = must_event(e, TRB_EV_TRANSFER);
	}
	if (ev.cc == CC_STALL) {
		assert_int_equal(ev.param, length ? data : status);
		return CC_STALL;
	}
	assert_int_equal(ev.param, status);
	return ev.cc;
}

static void recover_ep0(struct env *e)
{
	/* after a stall: Reset Endpoint, then Set TR Dequeue Pointer past the failed TD */
	assert_int_equal(octx(e, 1, 0) & 7, EP_HALTED);
	assert_int_equal(command(e, 0, TRB_RESET_EP << 10 | 1u << 16 | e->slot << 24, NULL),
			 CC_SUCCESS);
	assert_int_equal(octx(e, 1, 0) & 7, EP_STOPPED);
	uint64_t deq = e->ep0.base + 16ull * e->ep0.idx;
	assert_int_equal(
	    command(e, deq | e->ep0.cycle, TRB_SET_TR_DEQ << 10 | 1u << 16 | e->slot << 24, NULL),
	    CC_SUCCESS);
	assert_int_equal(octx(e, 1, 2) & ~0xfu, (uint32_t)deq);
}

/* Configure Endpoint adding EP 1 IN (interrupt, 8 bytes) on its ring. */
static void configure_ep1(struct env *e)
{
	uint8_t *ic = e->ram + ICTX_GPA;
	memset(ic, 0, 33 * 32);
	put_le32(ic + 4, 1u | 1u << DCI_EP1_IN);
	put_le32(ic + 32, (uint32_t)DCI_EP1_IN << 27 | (uint32_t)USB_SPEED_HIGH << 20);
	put_le32(ic + 32 + 4, TABLET_PORT << 16);
	uint8_t *ep = ic + 32 * (DCI_EP1_IN + 1);
	put_le32(ep, 3u << 16); /* interval */
	put_le32(ep + 4, 3u << 1 | EPT_INTR_IN << 3 | 8u << 16);
	ring_init(e, &e->ep1, EP1_GPA, XR_SIZE);
	put_le64(ep + 8, EP1_GPA | 1);
	put_le32(ep + 16, 8 | 8u << 16);
	assert_int_equal(command(e, ICTX_GPA, TRB_CONFIGURE_EP << 10 | e->slot << 24, NULL),
			 CC_SUCCESS);
	assert_int_equal(octx(e, 0, 3) >> 27, SLOT_CONFIGURED);
	assert_int_equal(octx(e, 0, 0) >> 27, DCI_EP1_IN);
	assert_int_equal(octx(e, DCI_EP1_IN, 0) & 7, EP_RUNNING);
	assert_int_equal(octx(e, DCI_EP1_IN, 2), (uint32_t)EP1_GPA | 1);
}

/* Everything up to a configured tablet, as Linux enumerates it. */
static void enumerate(struct env *e)
{
	start(e);
	must_event(e, TRB_EV_PORT); /* the connection, reported when the controller starts */
	reset_port(e, TABLET_PORT);
	enable_and_address(e, true);
	configure_ep1(e);
	assert_int_equal(control(e, 0x00, USB_REQ_SET_CONFIGURATION, 1, 0, 0, 0, NULL), CC_SUCCESS);
}

/* Queue a Normal TRB for one report on EP 1 IN and ring its doorbell. */
static uint64_t queue_report(struct env *e, uint32_t len)
{
	memset(e->ram + REPORT_GPA, 0xaa, 16);
	uint64_t at = ring_put(e, &e->ep1, REPORT_GPA, len, TRB_NORMAL << 10 | TRB_ISP | TRB_IOC);
	wr(e, XHCI_DBOFF + 4 * e->slot, DCI_EP1_IN);
	return at;
}

/* ---- tests ---- */

static void test_pci_and_registers(void **state)
{
	struct env *e;
	assert_int_equal(make_env("tablet", &e), 0);
	assert_int_equal(harness_cfg_read(e->vm, SLOT, PCIR_VENDOR, 4), 0x1e318086);
	assert_int_equal(harness_cfg_read(e->vm, SLOT, PCIR_PROGIF, 1), 0x30);
	assert_int_equal(harness_cfg_read(e->vm, SLOT, PCIR_SUBCLASS, 1), 0x03);
	assert_int_equal(harness_cfg_read(e->vm, SLOT, PCIR_CLASS, 1), 0x0c);
	assert_int_equal(harness_cfg_read(e->vm, SLOT, 0x60, 1), 0x30); /* SBRN */
	assert_int_equal(harness_cfg_read(e->vm, SLOT, PCIR_INTPIN, 1), 1);
	unsigned msi = find_cap(e, 0x05);
	assert_true(msi != 0);
	assert_int_equal((harness_cfg_read(e->vm, SLOT, msi + 2, 2) >> 1) & 7, 0); /* 1 vector */
	/* capability registers */
	assert_int_equal(rd(e, 0) & 0xff, XHCI_CAPLEN);
	assert_int_equal(harness_mmio_read(e->vm, e->bar + 2, 2), 0x0100);
	uint32_t hcs1 = rd(e, XHCI_CAP_HCSPARAMS1);
	assert_int_equal(hcs1 & 0xff, XHCI_MAX_SLOTS);
	assert_int_equal((hcs1 >> 8) & 0x7ff, 1);
	assert_int_equal(hcs1 >> 24, XHCI_MAX_PORTS);
	uint32_t hcc = rd(e, XHCI_CAP_HCCPARAMS1);
	assert_int_equal(hcc & 1, 1);			       /* AC64 */
	assert_int_equal(hcc & 4, 0);			       /* 32-byte contexts */
	assert_int_equal(rd(e, XHCI_CAP_HCSPARAMS2) >> 21, 0); /* no scratchpads */
	assert_int_equal(rd(e, XHCI_CAP_DBOFF), XHCI_DBOFF);
	assert_int_equal(rd(e, XHCI_CAP_RTSOFF), XHCI_RTSOFF);
	assert_int_equal(rd(e, XHCI_OP + XHCI_PAGESIZE), 1);
	/* extended capabilities: Supported Protocol USB 3.0 (ports 1-4), USB 2.0 (ports 5-8) */
	unsigned at = (hcc >> 16) * 4, found = 0;
	for (int guard = 0; at && guard < 8; guard++) {
		uint32_t d0 = rd(e, at);
		assert_int_equal(d0 & 0xff, 2);
		assert_int_equal(rd(e, at + 4), 0x20425355);
		uint32_t d2 = rd(e, at + 8);
		if (d0 >> 24 == 3) {
			assert_int_equal(d2 & 0xffff, 0x0401);
			found |= 1;
		} else {
			assert_int_equal(d0 >> 24, 2);
			assert_int_equal(d2 & 0xffff, 0x0405);
			found |= 2;
		}
		at = (d0 >> 8) & 0xff ? at + 4 * ((d0 >> 8) & 0xff) : 0;
	}
	assert_int_equal(found, 3);
	/* ports: the tablet on port 5 (connected, high speed), nothing elsewhere */
	assert_int_equal(portsc(e, TABLET_PORT) & (XHCI_PS_CCS | XHCI_PS_CSC | XHCI_PS_PP |
						   XHCI_PS_PED | XHCI_PS_SPEED_MASK),
			 XHCI_PS_CCS | XHCI_PS_CSC | XHCI_PS_PP | 3u << XHCI_PS_SPEED_SHIFT);
	for (unsigned p = 1; p <= XHCI_MAX_PORTS; p++)
		if (p != TABLET_PORT)
			assert_int_equal(portsc(e, p) & (XHCI_PS_CCS | XHCI_PS_PP), XHCI_PS_PP);
	/* halted after reset; MFINDEX runs only while running */
	assert_int_equal(rd(e, XHCI_OP + XHCI_USBSTS), XHCI_STS_HCH);
	free_env(e);
}

static void test_run_commands_and_ring_wrap(void **state)
{
	struct env *e;
	assert_int_equal(make_env("tablet", &e), 0);
	start(e);
	struct event ev = must_event(e, TRB_EV_PORT);
	assert_int_equal(ev.param >> 24, TABLET_PORT);
	assert_true(rd(e, XHCI_OP + XHCI_USBSTS) & XHCI_STS_PCD);
	set_portsc(e, TABLET_PORT, XHCI_PS_PP | XHCI_PS_CSC);
	wr(e, XHCI_OP + XHCI_USBSTS, XHCI_STS_PCD | XHCI_STS_EINT);
	assert_int_equal(rd(e, XHCI_OP + XHCI_USBSTS) & (XHCI_STS_PCD | XHCI_STS_EINT), 0);
	/* No Op commands through the Link TRB, twice around the ring */
	for (int i = 0; i < 2 * CR_SIZE + 3; i++)
		assert_int_equal(command(e, 0, TRB_NOOP_CMD << 10, NULL), CC_SUCCESS);
	assert_int_equal(rd(e, XHCI_OP + XHCI_CRCR), XHCI_CRCR_CRR);
	/* an unknown command: TRB Error */
	assert_int_equal(command(e, 0, 50u << 10, NULL), CC_TRB);
	/* command ring stop: Command Ring Stopped, naming the next TRB */
	wr(e, XHCI_OP + XHCI_CRCR, XHCI_CRCR_CS);
	ev = must_event(e, TRB_EV_COMMAND);
	assert_int_equal(ev.cc, CC_CMD_RING_STOPPED);
	assert_int_equal(ev.param, e->cr.base + 16ull * e->cr.idx);
	assert_int_equal(rd(e, XHCI_OP + XHCI_CRCR) & XHCI_CRCR_CRR, 0);
	assert_int_equal(command(e, 0, TRB_NOOP_CMD << 10, NULL), CC_SUCCESS); /* resumes */
	/* the event ring wraps: more events than its size */
	for (int i = 0; i < ER_SIZE + 5; i++)
		assert_int_equal(command(e, 0, TRB_NOOP_CMD << 10, NULL), CC_SUCCESS);
	/* halt: doorbells do nothing, MFINDEX stops */
	wr(e, XHCI_OP + XHCI_USBCMD, XHCI_CMD_INTE);
	assert_true(rd(e, XHCI_OP + XHCI_USBSTS) & XHCI_STS_HCH);
	ring_put(e, &e->cr, 0, 0, TRB_NOOP_CMD << 10);
	wr(e, XHCI_DBOFF, 0);
	no_event(e);
	uint32_t mf = rd(e, XHCI_RTSOFF);
	usleep(2000);
	assert_int_equal(rd(e, XHCI_RTSOFF), mf);
	wr(e, XHCI_OP + XHCI_USBCMD, XHCI_CMD_INTE | XHCI_CMD_RS);
	usleep(2000);
	assert_true(rd(e, XHCI_RTSOFF) != mf);
	wr(e, XHCI_DBOFF, 0); /* the waiting No Op now */
	ev = must_event(e, TRB_EV_COMMAND);
	assert_int_equal(ev.cc, CC_SUCCESS);
	free_env(e);
}

static void test_enumerate_and_descriptors(void **state)
{
	struct env *e;
	uint8_t *buf;
	unsigned got;
	assert_int_equal(make_env("tablet", &e), 0);
	start(e);
	must_event(e, TRB_EV_PORT);
	reset_port(e, TABLET_PORT);
	unsigned slot;
	assert_int_equal(command(e, 0, TRB_ENABLE_SLOT << 10, &slot), CC_SUCCESS);
	e->slot = slot;
	put_le64(e->ram + DCBAA_GPA + 8 * slot, OCTX_GPA);
	ring_init(e, &e->ep0, EP0_GPA, XR_SIZE);
	input_address(e, TABLET_PORT, ep0_enq(e), 64);
	assert_int_equal(
	    command(e, ICTX_GPA, TRB_ADDRESS_DEVICE << 10 | TRB_BSR | slot << 24, NULL),
	    CC_SUCCESS);
	assert_int_equal(octx(e, 0, 3), (uint32_t)SLOT_DEFAULT << 27);
	/* BSR 1 twice: the slot is in the Default state already */
	assert_int_equal(
	    command(e, ICTX_GPA, TRB_ADDRESS_DEVICE << 10 | TRB_BSR | slot << 24, NULL),
	    CC_CONTEXT_STATE);
	/* at address 0: the first 64 bytes of the device descriptor (a short packet: 18) */
	buf = e->ram + BUF_GPA;
	memset(buf, 0, 64);
	assert_int_equal(
	    control(e, 0x80, USB_REQ_GET_DESCRIPTOR, USB_DT_DEVICE << 8, 0, 64, BUF_GPA, &got),
	    CC_SUCCESS);
	assert_int_equal(got, 18);
	assert_int_equal(buf[7], 64); /* bMaxPacketSize0 */
	input_address(e, TABLET_PORT, ep0_enq(e), 64);
	assert_int_equal(command(e, ICTX_GPA, TRB_ADDRESS_DEVICE << 10 | slot << 24, NULL),
			 CC_SUCCESS);
	assert_int_equal(octx(e, 0, 3), (uint32_t)SLOT_ADDRESSED << 27 | slot);
	/* the device descriptor: 18 bytes */
	memset(buf, 0, 64);
	assert_int_equal(
	    control(e, 0x80, USB_REQ_GET_DESCRIPTOR, USB_DT_DEVICE << 8, 0, 18, BUF_GPA, &got),
	    CC_SUCCESS);
	assert_int_equal(got, 18);
	static const uint8_t dev[18] = {18,   1, 0x00, 0x02, 0, 0, 0, 64, 0x5d,
					0xfb, 1, 0,    0,    1, 1, 2, 3,  1};
	assert_memory_equal(buf, dev, 18);
	/* the configuration: 9 bytes, then all of it */
	assert_int_equal(
	    control(e, 0x80, USB_REQ_GET_DESCRIPTOR, USB_DT_CONFIG << 8, 0, 9, BUF_GPA, &got),
	    CC_SUCCESS);
	assert_int_equal(got, 9);
	unsigned total = le16_at(buf + 2);
	assert_int_equal(total, 34);
	memset(buf, 0, 64);
	assert_int_equal(
	    control(e, 0x80, USB_REQ_GET_DESCRIPTOR, USB_DT_CONFIG << 8, 0, 255, BUF_GPA, &got),
	    CC_SUCCESS);
	assert_int_equal(got, 34);
	assert_int_equal(buf[9 + 1], USB_DT_INTERFACE);
	assert_int_equal(buf[9 + 5], 3);       /* HID */
	assert_int_equal(buf[18 + 1], 0x21);   /* HID descriptor */
	unsigned rlen = le16_at(buf + 18 + 7); /* report descriptor length */
	assert_int_equal(buf[27 + 1], USB_DT_ENDPOINT);
	assert_int_equal(buf[27 + 2], 0x81); /* EP 1 IN */
	assert_int_equal(buf[27 + 3], 3);    /* interrupt */
	/* strings: language IDs, then "HID Tablet" */
	assert_int_equal(
	    control(e, 0x80, USB_REQ_GET_DESCRIPTOR, USB_DT_STRING << 8, 0, 255, BUF_GPA, &got),
	    CC_SUCCESS);
	assert_int_equal(got, 4);
	assert_int_equal(le16_at(buf + 2), 0x0409);
	assert_int_equal(control(e, 0x80, USB_REQ_GET_DESCRIPTOR, USB_DT_STRING << 8 | 2, 0x0409,
				 255, BUF_GPA, &got),
			 CC_SUCCESS);
	assert_int_equal(got, 2 + 2 * 10);
	assert_int_equal(buf[2], 'H');
	assert_int_equal(buf[20], 't');
	/* the report descriptor (interface request): absolute X/Y 0..32767 */
	memset(buf, 0, 256);
	assert_int_equal(
	    control(e, 0x81, USB_REQ_GET_DESCRIPTOR, 0x22 << 8, 0, (uint16_t)rlen, BUF_GPA, &got),
	    CC_SUCCESS);
	assert_int_equal(got, rlen);
	assert_int_equal(buf[0], 0x05);
	static const uint8_t xy_max[] = {0x26, 0xff, 0x7f};
	assert_non_null(memmem(buf, rlen, xy_max, sizeof(xy_max)));
	/* configure EP 1 IN, SET_CONFIGURATION, HID requests */
	configure_ep1(e);
	assert_int_equal(control(e, 0x00, USB_REQ_SET_CONFIGURATION, 1, 0, 0, 0, NULL), CC_SUCCESS);
	assert_int_equal(control(e, 0x80, USB_REQ_GET_CONFIGURATION, 0, 0, 1, BUF_GPA, &got),
			 CC_SUCCESS);
	assert_int_equal(buf[0], 1);
	assert_int_equal(control(e, 0x21, 0x0a /* SET_IDLE */, 0, 0, 0, 0, NULL), CC_SUCCESS);
	assert_int_equal(control(e, 0xa1, 0x03 /* GET_PROTOCOL */, 0, 0, 1, BUF_GPA, &got),
			 CC_SUCCESS);
	assert_int_equal(buf[0], 1);
	assert_int_equal(control(e, 0xa1, 0x01 /* GET_REPORT */, 0x0100, 0, 6, BUF_GPA, &got),
			 CC_SUCCESS);
	assert_int_equal(got, 6);
	/* SET_REPORT with an immediate data stage is accepted and ignored */
	assert_int_equal(control(e, 0x21, 0x09, 0x0200, 0, 1, 0x01, NULL), CC_SUCCESS);
	assert_int_equal(control(e, 0x80, USB_REQ_GET_STATUS, 0, 0, 2, BUF_GPA, &got), CC_SUCCESS);
	assert_int_equal(got, 2);
	free_env(e);
}

static void test_pointer_reports(void **state)
{
	struct env *e;
	assert_int_equal(make_env("tablet", &e), 0);
	enumerate(e);
	console_set_screen_size(800, 600);
	/* nothing to report: the TRB stays pending (NAK) */
	uint64_t trb = queue_report(e, 8);
	no_event(e);
	/* the pointer moves: the TRB completes, a short packet of 6 bytes */
	console_ptr_event(CONSOLE_BTN_LEFT, 799, 0);
	struct event ev = must_event(e, TRB_EV_TRANSFER);
	assert_int_equal(ev.param, trb);
	assert_int_equal(ev.cc, CC_SHORT_PACKET);
	assert_int_equal(ev.len, 2);
	assert_int_equal(ev.dci, DCI_EP1_IN);
	const uint8_t *r = e->ram + REPORT_GPA;
	assert_int_equal(r[0], 1);
	assert_int_equal(le16_at(r + 1), 0x7fff);
	assert_int_equal(le16_at(r + 3), 0);
	assert_int_equal(r[5], 0);
	assert_int_equal(r[6], 0xaa); /* nothing beyond the report */
	/* moves before the next TRB merge into one report; right + middle buttons */
	console_ptr_event(0, 100, 100);
	console_ptr_event(CONSOLE_BTN_RIGHT | CONSOLE_BTN_MIDDLE, 400, 300);
	no_event(e);
	trb = queue_report(e, 6);
	ev = must_event(e, TRB_EV_TRANSFER);
	assert_int_equal(ev.cc, CC_SUCCESS);
	assert_int_equal(ev.len, 0);
	assert_int_equal(r[0], 2 | 4);
	assert_int_equal(le16_at(r + 1), (400u * 0x7fff + 399) / 799);
	assert_int_equal(le16_at(r + 3), (300u * 0x7fff + 299) / 599);
	/* beyond the screen: clamped; the wheel: one step per press */
	queue_report(e, 8);
	console_ptr_event(CONSOLE_BTN_WHEEL_UP, 5000, 5000);
	ev = must_event(e, TRB_EV_TRANSFER);
	assert_int_equal(le16_at(r + 1), 0x7fff);
	assert_int_equal(le16_at(r + 3), 0x7fff);
	assert_int_equal(r[5], 1);
	queue_report(e, 8);
	console_ptr_event(0, 5000, 5000); /* release: nothing changed */
	no_event(e);
	console_ptr_event(CONSOLE_BTN_WHEEL_DOWN, 5000, 5000);
	ev = must_event(e, TRB_EV_TRANSFER);
	assert_int_equal(r[5], 0xff);
	/* the same position again: no report */
	queue_report(e, 8);
	console_ptr_event(0, 5000, 5000);
	console_ptr_event(0, 5000, 5000);
	no_event(e);
	console_ptr_event(0, 0, 0);
	ev = must_event(e, TRB_EV_TRANSFER);
	assert_int_equal(le16_at(r + 1), 0);
	console_set_screen_size(1024, 768);
	free_env(e);
}

static void test_stall_and_recovery(void **state)
{
	struct env *e;
	unsigned got;
	assert_int_equal(make_env("tablet", &e), 0);
	enumerate(e);
	/* a BOS descriptor (the device is USB 2.0): STALL on the data stage, EP 0 halted */
	assert_int_equal(control(e, 0x80, USB_REQ_GET_DESCRIPTOR, 0x0f << 8, 0, 5, BUF_GPA, &got),
			 CC_STALL);
	/* a halted endpoint ignores its doorbell */
	wr(e, XHCI_DBOFF + 4 * e->slot, 1);
	no_event(e);
	recover_ep0(e);
	/* unknown class request without data: STALL on the status stage */
	assert_int_equal(control(e, 0x21, 0x55, 0, 0, 0, 0, NULL), CC_STALL);
	recover_ep0(e);
	/* Reset Endpoint on a running endpoint: Context State Error */
	assert_int_equal(command(e, 0, TRB_RESET_EP << 10 | 1u << 16 | e->slot << 24, NULL),
			 CC_CONTEXT_STATE);
	/* EP 0 works again */
	assert_int_equal(
	    control(e, 0x80, USB_REQ_GET_DESCRIPTOR, USB_DT_DEVICE << 8, 0, 18, BUF_GPA, &got),
	    CC_SUCCESS);
	assert_int_equal(got, 18);
	/* a halted interrupt endpoint (SET_FEATURE ENDPOINT_HALT) stalls its transfer */
	assert_int_equal(control(e, 0x02, USB_REQ_SET_FEATURE, 0, 0x81, 0, 0, NULL), CC_SUCCESS);
	uint64_t trb = queue_report(e, 8);
	struct event ev = must_event(e, TRB_EV_TRANSFER);
	assert_int_equal(ev.cc, CC_STALL);
	assert_int_equal(ev.param, trb);
	assert_int_equal(octx(e, DCI_EP1_IN, 0) & 7, EP_HALTED);
	assert_int_equal(octx(e, DCI_EP1_IN, 2) & ~0xfu, (uint32_t)trb);
	assert_int_equal(control(e, 0x02, USB_REQ_CLEAR_FEATURE, 0, 0x81, 0, 0, NULL), CC_SUCCESS);
	assert_int_equal(
	    command(e, 0, TRB_RESET_EP << 10 | (uint32_t)DCI_EP1_IN << 16 | e->slot << 24, NULL),
	    CC_SUCCESS);
	/* ring the doorbell again without moving the dequeue pointer: the TD is retried */
	wr(e, XHCI_DBOFF + 4 * e->slot, DCI_EP1_IN);
	assert_int_equal(octx(e, DCI_EP1_IN, 0) & 7, EP_RUNNING);
	console_ptr_event(0, 10, 10);
	ev = must_event(e, TRB_EV_TRANSFER);
	assert_int_equal(ev.param, trb);
	assert_int_equal(ev.cc, CC_SHORT_PACKET);
	free_env(e);
}

static void test_stop_endpoint_and_set_deq(void **state)
{
	struct env *e;
	assert_int_equal(make_env("tablet", &e), 0);
	enumerate(e);
	uint64_t trb = queue_report(e, 8);
	no_event(e);
	/* Stop Endpoint with a TRB waiting: Stopped on it, then the completion */
	uint64_t at = ring_put(e, &e->cr, 0, 0,
			       TRB_STOP_EP << 10 | (uint32_t)DCI_EP1_IN << 16 | e->slot << 24);
	wr(e, XHCI_DBOFF, 0);
	struct event ev = must_event(e, TRB_EV_TRANSFER);
	assert_int_equal(ev.cc, CC_STOPPED);
	assert_int_equal(ev.param, trb);
	ev = must_event(e, TRB_EV_COMMAND);
	assert_int_equal(ev.param, at);
	assert_int_equal(ev.cc, CC_SUCCESS);
	assert_int_equal(octx(e, DCI_EP1_IN, 0) & 7, EP_STOPPED);
	assert_int_equal(octx(e, DCI_EP1_IN, 2), (uint32_t)trb | 1);
	/* a stopped endpoint: Stop again is a Context State Error; input while stopped waits */
	assert_int_equal(
	    command(e, 0, TRB_STOP_EP << 10 | (uint32_t)DCI_EP1_IN << 16 | e->slot << 24, NULL),
	    CC_CONTEXT_STATE);
	console_ptr_event(0, 1, 1);
	no_event(e);
	/* the driver gives the TD up: dequeue past it, then a new TD and the doorbell */
	uint64_t next = e->ep1.base + 16ull * e->ep1.idx;
	assert_int_equal(command(e, next | e->ep1.cycle,
				 TRB_SET_TR_DEQ << 10 | (uint32_t)DCI_EP1_IN << 16 | e->slot << 24,
				 NULL),
			 CC_SUCCESS);
	trb = queue_report(e, 8);
	ev = must_event(e, TRB_EV_TRANSFER);
	assert_int_equal(ev.param, trb);
	assert_int_equal(octx(e, DCI_EP1_IN, 0) & 7, EP_RUNNING);
	/* Set TR Dequeue on a running endpoint: Context State Error */
	assert_int_equal(command(e, next | 1,
				 TRB_SET_TR_DEQ << 10 | (uint32_t)DCI_EP1_IN << 16 | e->slot << 24,
				 NULL),
			 CC_CONTEXT_STATE);
	free_env(e);
}

/* Linux's xhci_endpoint_reset (usb_reset_endpoint after SET_CONFIGURATION or a cleared halt):
 * Stop Endpoint on an idle endpoint, then Configure Endpoint dropping and adding it with the
 * slot and endpoint contexts copied from the output context. */
static void test_endpoint_reset_as_linux(void **state)
{
	struct env *e;
	assert_int_equal(make_env("tablet", &e), 0);
	enumerate(e);
	/* one report goes through, so the dequeue pointer is not the ring's start */
	uint64_t trb = queue_report(e, 8);
	console_ptr_event(0, 20, 20);
	assert_int_equal(must_event(e, TRB_EV_TRANSFER).param, trb);
	assert_int_equal(
	    command(e, 0, TRB_STOP_EP << 10 | (uint32_t)DCI_EP1_IN << 16 | e->slot << 24, NULL),
	    CC_SUCCESS);
	no_event(e); /* an empty ring: no Stopped transfer event */
	uint64_t next = e->ep1.base + 16ull * e->ep1.idx;
	assert_int_equal(octx(e, DCI_EP1_IN, 2), (uint32_t)next | e->ep1.cycle);
	uint8_t *ic = e->ram + ICTX_GPA;
	memset(ic, 0, 33 * 32);
	put_le32(ic, 1u << DCI_EP1_IN);
	put_le32(ic + 4, 1u | 1u << DCI_EP1_IN);
	memcpy(ic + 32, e->ram + OCTX_GPA, 32);
	memcpy(ic + 32 * (DCI_EP1_IN + 1), e->ram + OCTX_GPA + 32 * DCI_EP1_IN, 32);
	assert_int_equal(command(e, ICTX_GPA, TRB_CONFIGURE_EP << 10 | e->slot << 24, NULL),
			 CC_SUCCESS);
	assert_int_equal(octx(e, 0, 3) >> 27, SLOT_CONFIGURED);
	assert_int_equal(octx(e, 0, 0) >> 27, DCI_EP1_IN);
	assert_int_equal(octx(e, DCI_EP1_IN, 0) & 7, EP_RUNNING);
	assert_int_equal(octx(e, DCI_EP1_IN, 2), (uint32_t)next | e->ep1.cycle);
	trb = queue_report(e, 8);
	console_ptr_event(0, 30, 30);
	assert_int_equal(must_event(e, TRB_EV_TRANSFER).param, trb);
	free_env(e);
}

static void test_slot_commands(void **state)
{
	struct env *e;
	unsigned slot;
	assert_int_equal(make_env("tablet", &e), 0);
	enumerate(e);
	/* Evaluate Context: EP 0 max packet size */
	uint8_t *ic = e->ram + ICTX_GPA;
	memset(ic, 0, 33 * 32);
	put_le32(ic + 4, 2);
	put_le32(ic + 64 + 4, EPT_CONTROL << 3 | 32u << 16);
	assert_int_equal(command(e, ICTX_GPA, TRB_EVALUATE_CTX << 10 | e->slot << 24, NULL),
			 CC_SUCCESS);
	assert_int_equal(octx(e, 1, 1) >> 16, 32);
	/* deconfigure: back to Addressed, EP 1 disabled */
	assert_int_equal(command(e, 0, TRB_CONFIGURE_EP << 10 | TRB_DC | e->slot << 24, NULL),
			 CC_SUCCESS);
	assert_int_equal(octx(e, 0, 3) >> 27, SLOT_ADDRESSED);
	assert_int_equal(octx(e, DCI_EP1_IN, 0) & 7, EP_DISABLED);
	wr(e, XHCI_DBOFF + 4 * e->slot, DCI_EP1_IN); /* a disabled endpoint: ignored */
	no_event(e);
	/* configure again, then drop EP 1 through the drop flag */
	configure_ep1(e);
	memset(ic, 0, 33 * 32);
	put_le32(ic, 1u << DCI_EP1_IN);
	assert_int_equal(command(e, ICTX_GPA, TRB_CONFIGURE_EP << 10 | e->slot << 24, NULL),
			 CC_SUCCESS);
	assert_int_equal(octx(e, 0, 3) >> 27, SLOT_ADDRESSED);
	/* an endpoint context without a type: Parameter Error, nothing changes */
	memset(ic, 0, 33 * 32);
	put_le32(ic + 4, 1u << DCI_EP1_IN);
	put_le64(ic + 32 * (DCI_EP1_IN + 1) + 8, EP1_GPA | 1);
	assert_int_equal(command(e, ICTX_GPA, TRB_CONFIGURE_EP << 10 | e->slot << 24, NULL),
			 CC_PARAMETER);
	assert_int_equal(octx(e, 0, 3) >> 27, SLOT_ADDRESSED);
	/* Reset Device: Default state, address 0; then Address Device again */
	configure_ep1(e);
	assert_int_equal(command(e, 0, TRB_RESET_DEVICE << 10 | e->slot << 24, NULL), CC_SUCCESS);
	assert_int_equal(octx(e, 0, 3), (uint32_t)SLOT_DEFAULT << 27);
	assert_int_equal(octx(e, DCI_EP1_IN, 0) & 7, EP_DISABLED);
	assert_int_equal(command(e, 0, TRB_RESET_DEVICE << 10 | e->slot << 24, NULL),
			 CC_CONTEXT_STATE);
	input_address(e, TABLET_PORT, ep0_enq(e), 64);
	assert_int_equal(command(e, ICTX_GPA, TRB_ADDRESS_DEVICE << 10 | e->slot << 24, NULL),
			 CC_SUCCESS);
	/* Disable Slot, twice */
	assert_int_equal(command(e, 0, TRB_DISABLE_SLOT << 10 | e->slot << 24, NULL), CC_SUCCESS);
	assert_int_equal(command(e, 0, TRB_DISABLE_SLOT << 10 | e->slot << 24, NULL),
			 CC_SLOT_NOT_ENABLED);
	/* slots run out at CONFIG.MaxSlotsEn */
	wr(e, XHCI_OP + XHCI_USBCMD, XHCI_CMD_INTE);
	wr(e, XHCI_OP + XHCI_CONFIG, 2);
	wr(e, XHCI_OP + XHCI_USBCMD, XHCI_CMD_INTE | XHCI_CMD_RS);
	assert_int_equal(command(e, 0, TRB_ENABLE_SLOT << 10, &slot), CC_SUCCESS);
	assert_int_equal(command(e, 0, TRB_ENABLE_SLOT << 10, &slot), CC_SUCCESS);
	assert_int_equal(slot, 2);
	assert_int_equal(command(e, 0, TRB_ENABLE_SLOT << 10, &slot), CC_NO_SLOTS);
	free_env(e);
}

static void test_bad_slots_and_contexts(void **state)
{
	struct env *e;
	unsigned slot;
	assert_int_equal(make_env("tablet", &e), 0);
	start(e);
	must_event(e, TRB_EV_PORT);
	/* slot IDs that are not enabled or do not exist */
	unsigned bad[] = {0, 1, XHCI_MAX_SLOTS, XHCI_MAX_SLOTS + 1, 255};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(command(e, 0, TRB_DISABLE_SLOT << 10 | bad[i] << 24, NULL),
				 CC_SLOT_NOT_ENABLED);
		assert_int_equal(
		    command(e, ICTX_GPA, TRB_ADDRESS_DEVICE << 10 | bad[i] << 24, NULL),
		    CC_SLOT_NOT_ENABLED);
		assert_int_equal(command(e, 0, TRB_STOP_EP << 10 | 1u << 16 | bad[i] << 24, NULL),
				 CC_SLOT_NOT_ENABLED);
		wr(e, XHCI_DBOFF + 4 * (bad[i] % (XHCI_MAX_SLOTS + 1)), 1);
		no_event(e);
	}
	assert_int_equal(command(e, 0, TRB_ENABLE_SLOT << 10, &slot), CC_SUCCESS);
	e->slot = slot;
	/* Address Device before the port was reset (not enabled): USB Transaction Error */
	ring_init(e, &e->ep0, EP0_GPA, XR_SIZE);
	put_le64(e->ram + DCBAA_GPA + 8 * slot, OCTX_GPA);
	input_address(e, TABLET_PORT, ep0_enq(e), 64);
	assert_int_equal(command(e, ICTX_GPA, TRB_ADDRESS_DEVICE << 10 | slot << 24, NULL),
			 CC_TRANSACTION);
	reset_port(e, TABLET_PORT);
	/* a port without a device, a port that does not exist */
	input_address(e, 6, ep0_enq(e), 64);
	assert_int_equal(command(e, ICTX_GPA, TRB_ADDRESS_DEVICE << 10 | slot << 24, NULL),
			 CC_TRANSACTION);
	input_address(e, 9, ep0_enq(e), 64);
	assert_int_equal(command(e, ICTX_GPA, TRB_ADDRESS_DEVICE << 10 | slot << 24, NULL),
			 CC_PARAMETER);
	/* input context outside RAM; device context (DCBAA entry) outside RAM */
	input_address(e, TABLET_PORT, ep0_enq(e), 64);
	assert_int_equal(command(e, RAM_SIZE - 32, TRB_ADDRESS_DEVICE << 10 | slot << 24, NULL),
			 CC_PARAMETER);
	assert_int_equal(command(e, 0xfffffffffff0ULL, TRB_ADDRESS_DEVICE << 10 | slot << 24, NULL),
			 CC_PARAMETER);
	put_le64(e->ram + DCBAA_GPA + 8 * slot, RAM_SIZE - 512);
	assert_int_equal(command(e, ICTX_GPA, TRB_ADDRESS_DEVICE << 10 | slot << 24, NULL),
			 CC_PARAMETER);
	put_le64(e->ram + DCBAA_GPA + 8 * slot, 0);
	assert_int_equal(command(e, ICTX_GPA, TRB_ADDRESS_DEVICE << 10 | slot << 24, NULL),
			 CC_PARAMETER);
	/* none of that changed the slot: it addresses normally now */
	put_le64(e->ram + DCBAA_GPA + 8 * slot, OCTX_GPA);
	assert_int_equal(command(e, ICTX_GPA, TRB_ADDRESS_DEVICE << 10 | slot << 24, NULL),
			 CC_SUCCESS);
	/* commands for endpoint 0 (DCI 0) and for a disabled endpoint */
	assert_int_equal(command(e, 0, TRB_STOP_EP << 10 | slot << 24, NULL), CC_TRB);
	assert_int_equal(command(e, 0, TRB_STOP_EP << 10 | 9u << 16 | slot << 24, NULL),
			 CC_CONTEXT_STATE);
	/* Configure Endpoint with an input context outside RAM */
	assert_int_equal(command(e, RAM_SIZE, TRB_CONFIGURE_EP << 10 | slot << 24, NULL),
			 CC_PARAMETER);
	/* a data buffer outside RAM: Data Buffer Error, EP 0 halted */
	ring_put(e, &e->ep0,
		 0x80 | USB_REQ_GET_DESCRIPTOR << 8 | (uint64_t)USB_DT_DEVICE << 24 | 18ull << 48,
		 8, TRB_SETUP << 10 | TRB_IDT | 3u << 16);
	uint64_t data = ring_put(e, &e->ep0, RAM_SIZE - 4, 18, TRB_DATA << 10 | TRB_DIR_IN);
	ring_put(e, &e->ep0, 0, 0, TRB_STATUS << 10 | TRB_IOC);
	wr(e, XHCI_DBOFF + 4 * slot, 1);
	struct event ev = must_event(e, TRB_EV_TRANSFER);
	assert_int_equal(ev.cc, CC_DATA_BUFFER);
	assert_int_equal(ev.param, data);
	recover_ep0(e);
	/* a Setup TRB without IDT: TRB Error */
	uint64_t s = ring_put(e, &e->ep0, 0, 8, TRB_SETUP << 10);
	wr(e, XHCI_DBOFF + 4 * slot, 1);
	ev = must_event(e, TRB_EV_TRANSFER);
	assert_int_equal(ev.cc, CC_TRB);
	assert_int_equal(ev.param, s);
	assert_false(rd(e, XHCI_OP + XHCI_USBSTS) & XHCI_STS_HSE);
	free_env(e);
}

static void test_link_rings_and_ram_bounds(void **state)
{
	struct env *e;
	assert_int_equal(make_env("tablet", &e), 0);
	enumerate(e);
	/* EP 1's ring: a Link TRB to itself with the cycle bit set, no toggle */
	put_trb(e, EP1_GPA, EP1_GPA, 0, TRB_LINK << 10 | TRB_C);
	uint64_t next = EP1_GPA;
	assert_int_equal(
	    command(e, 0, TRB_STOP_EP << 10 | (uint32_t)DCI_EP1_IN << 16 | e->slot << 24, NULL),
	    CC_SUCCESS);
	assert_int_equal(command(e, next | 1,
				 TRB_SET_TR_DEQ << 10 | (uint32_t)DCI_EP1_IN << 16 | e->slot << 24,
				 NULL),
			 CC_SUCCESS);
	wr(e, XHCI_DBOFF + 4 * e->slot, DCI_EP1_IN); /* returns */
	console_ptr_event(0, 3, 3);		     /* the wakeup returns too */
	no_event(e);
	/* the command ring: Link TRBs toggling through two segments forever */
	put_trb(e, 0x40000, 0x40010, 0, TRB_LINK << 10 | TRB_C);
	put_trb(e, 0x40010, 0x40000, 0, TRB_LINK << 10 | TRB_C);
	wr(e, XHCI_OP + XHCI_CRCR, XHCI_CRCR_CA);
	must_event(e, TRB_EV_COMMAND);
	wr64(e, XHCI_OP + XHCI_CRCR, 0x40000 | 1);
	wr(e, XHCI_DBOFF, 0);
	no_event(e);
	assert_false(rd(e, XHCI_OP + XHCI_USBSTS) & XHCI_STS_HCH);
	/* the command ring ends outside RAM: host system error, halted */
	wr(e, XHCI_OP + XHCI_CRCR, XHCI_CRCR_CA);
	must_event(e, TRB_EV_COMMAND);
	put_trb(e, 0x40000, RAM_SIZE + 0x1000, 0, TRB_LINK << 10 | TRB_C);
	wr64(e, XHCI_OP + XHCI_CRCR, 0x40000 | 1);
	wr(e, XHCI_DBOFF, 0);
	uint32_t sts = rd(e, XHCI_OP + XHCI_USBSTS);
	assert_true(sts & XHCI_STS_HSE);
	assert_true(sts & XHCI_STS_HCH);
	assert_int_equal(rd(e, XHCI_OP + XHCI_USBCMD) & XHCI_CMD_RS, 0);
	/* the driver resets the controller and starts over */
	enumerate(e);
	assert_int_equal(command(e, 0, TRB_NOOP_CMD << 10, NULL), CC_SUCCESS);
	free_env(e);
}

static void test_event_ring_outside_ram(void **state)
{
	struct env *e;
	assert_int_equal(make_env("tablet", &e), 0);
	start(e);
	must_event(e, TRB_EV_PORT);
	put_le64(e->ram + ERST_GPA, 0xfff00000000ULL);
	wr64(e, XHCI_IR0 + XHCI_ERSTBA, ERST_GPA);
	ring_put(e, &e->cr, 0, 0, TRB_NOOP_CMD << 10);
	wr(e, XHCI_DBOFF, 0);
	assert_true(rd(e, XHCI_OP + XHCI_USBSTS) & XHCI_STS_HSE);
	assert_true(rd(e, XHCI_OP + XHCI_USBSTS) & XHCI_STS_HCH);
	/* an event ring segment table with a segment too small: no events, nothing else */
	start(e);
	put_le32(e->ram + ERST_GPA + 8, 4);
	wr64(e, XHCI_IR0 + XHCI_ERSTBA, ERST_GPA);
	ring_put(e, &e->cr, 0, 0, TRB_NOOP_CMD << 10);
	wr(e, XHCI_DBOFF, 0);
	assert_false(rd(e, XHCI_OP + XHCI_USBSTS) & XHCI_STS_HSE);
	free_env(e);
}

static void test_bus_master_off(void **state)
{
	struct env *e;
	assert_int_equal(make_env("tablet", &e), 0);
	enumerate(e);
	harness_cfg_write(e->vm, SLOT, PCIR_COMMAND, 2, 0x2); /* memory only */
	ring_put(e, &e->cr, 0, 0, TRB_NOOP_CMD << 10);
	wr(e, XHCI_DBOFF, 0);
	queue_report(e, 8);
	console_ptr_event(0, 7, 7);
	set_portsc(e, TABLET_PORT, XHCI_PS_PP | XHCI_PS_PR); /* a port change: no event either */
	no_event(e);
	assert_false(rd(e, XHCI_OP + XHCI_USBSTS) & XHCI_STS_HSE);
	/* on again: the doorbells do their work */
	harness_cfg_write(e->vm, SLOT, PCIR_COMMAND, 2, 0x6);
	set_portsc(e, TABLET_PORT, XHCI_PS_PP | XHCI_PS_PRC);
	wr(e, XHCI_DBOFF, 0);
	struct event ev = must_event(e, TRB_EV_COMMAND);
	assert_int_equal(ev.cc, CC_SUCCESS);
	free_env(e);
}

static void test_event_ring_full_and_segments(void **state)
{
	struct env *e;
	assert_int_equal(make_env("tablet", &e), 0);
	start(e);
	must_event(e, TRB_EV_PORT);
	/* two segments of 16 TRBs: events cross from one to the other */
	memset(e->ram + ER_GPA, 0, 4096);
	memset(e->ram + ER2_GPA, 0, 4096);
	put_le64(e->ram + ERST_GPA, ER_GPA);
	put_le32(e->ram + ERST_GPA + 8, 16);
	put_le64(e->ram + ERST_GPA + 16, ER2_GPA);
	put_le32(e->ram + ERST_GPA + 24, 16);
	wr(e, XHCI_IR0 + XHCI_ERSTSZ, 2);
	wr64(e, XHCI_IR0 + XHCI_ERSTBA, ERST_GPA);
	wr64(e, XHCI_IR0 + XHCI_ERDP, ER_GPA | XHCI_ERDP_EHB);
	/* 40 commands without consuming: 31 entries fill, the last is Event Ring Full */
	for (int i = 0; i < 40; i++) {
		ring_put(e, &e->cr, 0, 0, TRB_NOOP_CMD << 10);
		if (i % 20 == 19) /* the command ring holds 31 */
			wr(e, XHCI_DBOFF, 0);
	}
	unsigned n = 0;
	for (;; n++) {
		const uint8_t *p = e->ram + (n < 16 ? ER_GPA + 16 * n : ER2_GPA + 16 * (n - 16));
		if (n == 32 || !(le32_at(p + 12) & TRB_C))
			break;
		if (TRB_TYPE(le32_at(p + 12)) == TRB_EV_HOST)
			assert_int_equal(le32_at(p + 8) >> 24, CC_EVENT_RING_FULL);
		else
			assert_int_equal(TRB_TYPE(le32_at(p + 12)), TRB_EV_COMMAND);
	}
	assert_int_equal(n, 31);
	assert_int_equal(TRB_TYPE(le32_at(e->ram + ER2_GPA + 16 * 14 + 12)), TRB_EV_HOST);
	/* the host consumes: events flow again (the next ones land at the wrap, cycle 0) */
	wr64(e, XHCI_IR0 + XHCI_ERDP, (ER2_GPA + 16 * 15) | XHCI_ERDP_EHB);
	ring_put(e, &e->cr, 0, 0, TRB_NOOP_CMD << 10);
	wr(e, XHCI_DBOFF, 0);
	assert_int_equal(TRB_TYPE(le32_at(e->ram + ER2_GPA + 16 * 15 + 12)), TRB_EV_COMMAND);
	assert_int_equal(le32_at(e->ram + ER2_GPA + 16 * 15 + 12) & TRB_C, TRB_C);
	assert_int_equal(le32_at(e->ram + ER_GPA + 12) & TRB_C, TRB_C); /* not yet overwritten */
	free_env(e);
}

static void test_intx_and_msi(void **state)
{
	struct env *e;
	assert_int_equal(make_env("tablet", &e), 0);
	unsigned gsi = e->pd->gsi;
	start(e);
	/* the port event raised IP: INTx on while IP && IE && INTE */
	assert_true(rd(e, XHCI_IR0 + XHCI_IMAN) & XHCI_IMAN_IP);
	assert_true(rd(e, XHCI_OP + XHCI_USBSTS) & XHCI_STS_EINT);
	assert_true(pci_intx_level(e->vm, gsi));
	wr(e, XHCI_IR0 + XHCI_IMAN, XHCI_IMAN_IE); /* IP not written: it stays */
	assert_true(pci_intx_level(e->vm, gsi));
	wr(e, XHCI_IR0 + XHCI_IMAN, 0); /* IE off: the line drops, IP stays */
	assert_false(pci_intx_level(e->vm, gsi));
	wr(e, XHCI_IR0 + XHCI_IMAN, XHCI_IMAN_IE);
	assert_true(pci_intx_level(e->vm, gsi));
	wr(e, XHCI_OP + XHCI_USBCMD, XHCI_CMD_RS); /* INTE off */
	assert_false(pci_intx_level(e->vm, gsi));
	wr(e, XHCI_OP + XHCI_USBCMD, XHCI_CMD_RS | XHCI_CMD_INTE);
	assert_true(pci_intx_level(e->vm, gsi));
	/* the handler: clear EINT and IP, consume, ERDP with EHB */
	wr(e, XHCI_OP + XHCI_USBSTS, XHCI_STS_EINT);
	wr(e, XHCI_IR0 + XHCI_IMAN, XHCI_IMAN_IE | XHCI_IMAN_IP);
	assert_false(pci_intx_level(e->vm, gsi));
	/* EHB is still set: a new event does not interrupt until ERDP clears it */
	ring_put(e, &e->cr, 0, 0, TRB_NOOP_CMD << 10);
	wr(e, XHCI_DBOFF, 0);
	assert_false(pci_intx_level(e->vm, gsi));
	assert_true(harness_mmio_read(e->vm, e->bar + XHCI_IR0 + XHCI_ERDP, 8) & XHCI_ERDP_EHB);
	/* ERDP written (EHB cleared) with the command event not consumed: interrupt again */
	wr64(e, XHCI_IR0 + XHCI_ERDP, (ER_GPA + 16) | XHCI_ERDP_EHB);
	assert_true(pci_intx_level(e->vm, gsi));
	wr(e, XHCI_IR0 + XHCI_IMAN, XHCI_IMAN_IE | XHCI_IMAN_IP);
	must_event(e, TRB_EV_PORT);
	must_event(e, TRB_EV_COMMAND);
	wr(e, XHCI_IR0 + XHCI_IMAN, XHCI_IMAN_IE | XHCI_IMAN_IP);
	assert_false(pci_intx_level(e->vm, gsi));
	/* MSI, the vector masked: the message waits in the pending bit; IP is cleared */
	unsigned msi = find_cap(e, 0x05);
	harness_cfg_write(e->vm, SLOT, msi + 4, 4, 0xfee00000);
	harness_cfg_write(e->vm, SLOT, msi + 12, 2, 0x41);
	harness_cfg_write(e->vm, SLOT, msi + 16, 4, 1);
	harness_cfg_write(e->vm, SLOT, msi + 2, 2, 1);
	assert_int_equal(harness_cfg_read(e->vm, SLOT, msi + 20, 4), 0);
	assert_int_equal(command(e, 0, TRB_NOOP_CMD << 10, NULL), CC_SUCCESS);
	assert_int_equal(harness_cfg_read(e->vm, SLOT, msi + 20, 4), 1);
	assert_int_equal(rd(e, XHCI_IR0 + XHCI_IMAN) & XHCI_IMAN_IP, 0);
	assert_true(rd(e, XHCI_OP + XHCI_USBSTS) & XHCI_STS_EINT);
	assert_false(pci_intx_level(e->vm, gsi));
	/* with IE off the message waits for IE */
	wr(e, XHCI_IR0 + XHCI_IMAN, 0);
	assert_int_equal(command(e, 0, TRB_NOOP_CMD << 10, NULL), CC_SUCCESS);
	assert_true(rd(e, XHCI_IR0 + XHCI_IMAN) & XHCI_IMAN_IP);
	wr(e, XHCI_IR0 + XHCI_IMAN, XHCI_IMAN_IE);
	assert_int_equal(rd(e, XHCI_IR0 + XHCI_IMAN) & XHCI_IMAN_IP, 0);
	free_env(e);
}

static void test_port_suspend_resume(void **state)
{
	struct env *e;
	assert_int_equal(make_env("tablet", &e), 0);
	enumerate(e);
	uint32_t u3 = XHCI_PS_PP | XHCI_PS_LWS | (uint32_t)XHCI_PLS_U3 << XHCI_PS_PLS_SHIFT;
	set_portsc(e, TABLET_PORT, u3);
	assert_int_equal((portsc(e, TABLET_PORT) & XHCI_PS_PLS_MASK) >> XHCI_PS_PLS_SHIFT,
			 XHCI_PLS_U3);
	no_event(e);
	/* USB 2 resume: Resume, then U0, which sets PLC and reports the change */
	set_portsc(e, TABLET_PORT,
		   XHCI_PS_PP | XHCI_PS_LWS | (uint32_t)XHCI_PLS_RESUME << XHCI_PS_PLS_SHIFT);
	assert_int_equal((portsc(e, TABLET_PORT) & XHCI_PS_PLS_MASK) >> XHCI_PS_PLS_SHIFT,
			 XHCI_PLS_RESUME);
	set_portsc(e, TABLET_PORT, XHCI_PS_PP | XHCI_PS_LWS);
	uint32_t ps = portsc(e, TABLET_PORT);
	assert_int_equal((ps & XHCI_PS_PLS_MASK) >> XHCI_PS_PLS_SHIFT, XHCI_PLS_U0);
	assert_true(ps & XHCI_PS_PLC);
	must_event(e, TRB_EV_PORT);
	set_portsc(e, TABLET_PORT, XHCI_PS_PP | XHCI_PS_PLC);
	/* wake bits are kept; PED written 1 disables the port */
	set_portsc(e, TABLET_PORT, XHCI_PS_PP | XHCI_PS_WAKE);
	assert_int_equal(portsc(e, TABLET_PORT) & XHCI_PS_WAKE, XHCI_PS_WAKE);
	set_portsc(e, TABLET_PORT, XHCI_PS_PP | XHCI_PS_PED);
	assert_int_equal(portsc(e, TABLET_PORT) & XHCI_PS_PED, 0);
	assert_true(portsc(e, TABLET_PORT) & XHCI_PS_CCS);
	/* empty USB 3 port: a reset does nothing */
	set_portsc(e, 1, XHCI_PS_PP | XHCI_PS_WPR | XHCI_PS_PR);
	assert_int_equal(portsc(e, 1) & (XHCI_PS_PED | XHCI_PS_CHANGES), 0);
	free_env(e);
}

/* Linux's xhci_suspend / xhci_resume (s2idle, hibernation): halt, Save State; on resume the
 * registers are written back (ERSTBA restarts the event ring), Restore State, run. Events go on
 * where the host expects them. */
static void test_save_restore_state(void **state)
{
	struct env *e;
	assert_int_equal(make_env("tablet", &e), 0);
	enumerate(e);
	for (int i = 0; i < 5; i++)
		assert_int_equal(command(e, 0, TRB_NOOP_CMD << 10, NULL), CC_SUCCESS);
	wr(e, XHCI_OP + XHCI_USBCMD, XHCI_CMD_INTE);
	assert_true(rd(e, XHCI_OP + XHCI_USBSTS) & XHCI_STS_HCH);
	uint32_t erstsz = rd(e, XHCI_IR0 + XHCI_ERSTSZ);
	uint64_t erstba = harness_mmio_read(e->vm, e->bar + XHCI_IR0 + XHCI_ERSTBA, 8);
	uint64_t erdp = harness_mmio_read(e->vm, e->bar + XHCI_IR0 + XHCI_ERDP, 8);
	wr(e, XHCI_OP + XHCI_USBCMD, XHCI_CMD_INTE | XHCI_CMD_CSS);
	assert_int_equal(rd(e, XHCI_OP + XHCI_USBSTS) & XHCI_STS_SSS, 0);
	/* resume: registers back, the command ring restarted (CRCR's pointer is 64-byte aligned),
	 * Restore State */
	wr64(e, XHCI_OP + XHCI_DCBAAP, DCBAA_GPA);
	wr(e, XHCI_IR0 + XHCI_ERSTSZ, erstsz);
	wr64(e, XHCI_IR0 + XHCI_ERSTBA, erstba);
	wr64(e, XHCI_IR0 + XHCI_ERDP, erdp);
	ring_init(e, &e->cr, CR_GPA, CR_SIZE); /* xhci_clear_command_ring: back to its start */
	wr64(e, XHCI_OP + XHCI_CRCR, CR_GPA | 1);
	wr(e, XHCI_OP + XHCI_USBCMD, XHCI_CMD_INTE | XHCI_CMD_CRS);
	uint32_t sts = rd(e, XHCI_OP + XHCI_USBSTS);
	assert_int_equal(sts & (XHCI_STS_RSS | XHCI_STS_SRE), 0);
	wr(e, XHCI_OP + XHCI_USBCMD, XHCI_CMD_INTE | XHCI_CMD_RS);
	assert_int_equal(command(e, 0, TRB_NOOP_CMD << 10, NULL), CC_SUCCESS);
	uint64_t trb = queue_report(e, 8);
	console_ptr_event(0, 40, 40);
	assert_int_equal(must_event(e, TRB_EV_TRANSFER).param, trb);
	/* Restore without a Save: Save/Restore Error, the host reinitialises */
	wr(e, XHCI_OP + XHCI_USBCMD, XHCI_CMD_INTE);
	wr(e, XHCI_OP + XHCI_USBCMD, XHCI_CMD_INTE | XHCI_CMD_CRS);
	assert_true(rd(e, XHCI_OP + XHCI_USBSTS) & XHCI_STS_SRE);
	free_env(e);
}

static void test_config(void **state)
{
	static const char *const bad[] = {
	    "keyboard",		 "tablet,tablet,tablet,tablet,tablet", ",tablet", "tablet,",
	    "tablet=speed=full",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct env *e;
		int r = make_env(bad[i], &e);
		if (r == 0)
			fail_msg("'%s' was accepted", bad[i]);
		free_env(e);
	}
	/* four tablets take ports 5-8; no device at all is a controller without ports */
	struct env *e;
	assert_int_equal(make_env("tablet,tablet,tablet,tablet", &e), 0);
	for (unsigned p = 5; p <= 8; p++)
		assert_true(portsc(e, p) & XHCI_PS_CCS);
	free_env(e);
	assert_int_equal(make_env("", &e), 0);
	for (unsigned p = 1; p <= 8; p++)
		assert_false(portsc(e, p) & XHCI_PS_CCS);
	free_env(e);
	/* the config-tree form, as -o or a -k file gives it */
	struct cfgnode *root = config_new();
	struct cfgnode *dev = config_node_create(root, "pci.0.5.0");
	assert_int_equal(config_set(dev, "device", "xhci"), 0);
	assert_int_equal(config_set(dev, "slot.3.device", "tablet"), 0);
	assert_int_equal(config_set(dev, "slot.1.device", "tablet"), 0);
	struct xhci_devcfg devs[XHCI_MAX_DEVS];
	assert_int_equal(xhci_read_config(dev, devs), 2);
	assert_int_equal(devs[0].port, 5);
	assert_ptr_equal(devs[0].node, config_node(dev, "slot.1"));
	assert_int_equal(devs[1].port, 6);
	assert_int_equal(config_set(dev, "slot.65.device", "tablet"), 0);
	assert_int_equal(xhci_read_config(dev, devs), -EINVAL);
	config_unset(dev, "slot.65");
	assert_int_equal(config_set(dev, "slot.2.color", "blue"), 0);
	assert_int_equal(xhci_read_config(dev, devs), -EINVAL);
	config_unset(dev, "slot.2");
	assert_int_equal(config_set(dev, "ports", "4"), 0);
	assert_int_equal(xhci_read_config(dev, devs), -EINVAL);
	config_free(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pci_and_registers),
	    cmocka_unit_test(test_run_commands_and_ring_wrap),
	    cmocka_unit_test(test_enumerate_and_descriptors),
	    cmocka_unit_test(test_pointer_reports),
	    cmocka_unit_test(test_stall_and_recovery),
	    cmocka_unit_test(test_stop_endpoint_and_set_deq),
	    cmocka_unit_test(test_endpoint_reset_as_linux),
	    cmocka_unit_test(test_slot_commands),
	    cmocka_unit_test(test_bad_slots_and_contexts),
	    cmocka_unit_test(test_link_rings_and_ram_bounds),
	    cmocka_unit_test(test_event_ring_outside_ram),
	    cmocka_unit_test(test_bus_master_off),
	    cmocka_unit_test(test_event_ring_full_and_segments),
	    cmocka_unit_test(test_intx_and_msi),
	    cmocka_unit_test(test_port_suspend_resume),
	    cmocka_unit_test(test_save_restore_state),
	    cmocka_unit_test(test_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
