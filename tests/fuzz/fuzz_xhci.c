/* SPDX-License-Identifier: BSD-2-Clause */
/* libFuzzer target for the xHCI controller and the USB tablet: a VM without KVM (the stand-in
 * KVM descriptor, so the MSI route is made as under KVM) with `xhci` at 0:4.0 and one or two
 * tablets, in 1 MiB of guest RAM between guard pages. A driver resets and starts the controller
 * as Linux does and, when the setup byte asks, enumerates the tablet (port reset, Enable Slot,
 * Address Device, Configure Endpoint, SET_CONFIGURATION); then the input drives everything a
 * guest controls: raw RAM (rings, contexts, the event ring segment table, DCBAA entries), any
 * register, doorbell or port write (8-byte ones too), commands of any type for any slot with
 * any pointer, transfer TRBs of any type on EP 0, EP 1 or a raw ring, console pointer events
 * (the tablet's wakeups), event ring consumption, and config-space writes (MSI, Bus Master
 * Enable, INTx Disable).
 *
 * Checked: ASan/UBSan (the guard pages fault on any access outside guest RAM), the work bounds
 * of fixture.h (a doorbell or a ring of Link TRBs cannot hold a vCPU), the capability
 * registers never change, CNR stays clear, every port keeps PP and the tablet's port CCS.
 *
 * Input: one setup byte (bit 0 enumerate the tablet, bit 1 a second tablet, bit 2 an event
 * ring of two 16-TRB segments instead of one of 64, bit 3 enable MSI), then operations (op
 * byte, low 3 bits):
 *   0 RAM write        offset u16 (x16), length u8, bytes
 *   1 register write   offset u16 (BAR 0, dword aligned), value u32 (op bit 3: 8 bytes, u64)
 *   2 command          type u8 (index into a list, or raw), slot u8, flags u8 (bit 0 BSR/DC,
 *                      bits 1-5 the endpoint ID), pointer mode u8 (0 input context, 1 raw u64,
 *                      2 EP 1's ring, else 0); op bit 3: do not ring doorbell 0
 *   3 transfer TRB     ring u8 (0 EP 0, 1 EP 1, else raw slot u8 and target u8), type u8
 *                      (index into a list, or raw), parameter mode u8 (0 data area + u16 x 16,
 *                      1 raw u64, 2 a setup packet of 8 bytes), length u32, flags u8 (IOC,
 *                      ISP, CH, IDT, BEI, DIR); op bit 3: do not ring the doorbell; op bit 4:
 *                      instead a whole control transfer on EP 0: setup packet u64 (its
 *                      wLength is the data stage's length), data offset u16 (x 16)
 *   4 pointer event    buttons u8, x u16, y u16 (op bit 3: screen size u16 x u16 first)
 *   5 reap events      consume what the controller wrote, move ERDP (op bit 3: without EHB)
 *   6 register read    offset u16, size (op bits 4-5)
 *   7 config write     offset u8 (0x04 command or the capability area), size u8, value u32 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/byteorder.h"
#include "core/vm.h"
#include "fixture.h"
#include "input/console_input.h"
#include "pci/pci.h"
#include "usb/xhci.h"

#define RAM_SIZE (1u << 20)
#define SLOT 4
#define MAX_OPS 256
#define DCBAA_GPA 0x1000ULL
#define CR_GPA 0x2000ULL
#define ERST_GPA 0x3000ULL
#define ER_GPA 0x4000ULL
#define ICTX_GPA 0x5000ULL
#define OCTX_GPA 0x6000ULL
#define EP0_GPA 0x8000ULL
#define EP1_GPA 0x9000ULL
#define DATA_GPA 0x10000ULL
#define CR_SIZE 64
#define XR_SIZE 64
#define TABLET_PORT 5

static const uint8_t cmd_types[] = {
    TRB_ENABLE_SLOT,  TRB_DISABLE_SLOT, TRB_ADDRESS_DEVICE, TRB_CONFIGURE_EP,
    TRB_EVALUATE_CTX, TRB_RESET_EP,	TRB_STOP_EP,	    TRB_SET_TR_DEQ,
    TRB_RESET_DEVICE, TRB_NOOP_CMD,	TRB_LINK,	    TRB_NORMAL,
};
static const uint8_t xfer_types[] = {
    TRB_NORMAL, TRB_SETUP, TRB_DATA, TRB_STATUS, TRB_LINK, TRB_EVENT_DATA, TRB_NOOP, TRB_ISOCH,
};

struct ring {
	uint64_t base;
	unsigned idx, size;
	bool cycle;
};

struct drv {
	struct vm *vm;
	uint64_t bar;
	struct ring cr, ep0, ep1;
	unsigned er_idx, er_seg, er_segsize, er_nseg;
	bool er_cycle;
	unsigned slot;
};

static void wr(struct drv *d, uint64_t off, uint32_t v)
{
	fuzz_guest_access(d->vm, IOBUS_MMIO, d->bar + off, 4, true, v);
}

static void wr64(struct drv *d, uint64_t off, uint64_t v)
{
	wr(d, off, (uint32_t)v);
	wr(d, off + 4, (uint32_t)(v >> 32));
}

static uint32_t rd(struct drv *d, uint64_t off)
{
	return (uint32_t)fuzz_guest_access(d->vm, IOBUS_MMIO, d->bar + off, 4, false, 0);
}

static uint8_t *ram(struct drv *d, uint64_t gpa)
{
	return d->vm->mem.host + gpa;
}

static void ring_init(struct drv *d, struct ring *r, uint64_t base, unsigned size)
{
	*r = (struct ring){base, 0, size, true};
	memset(ram(d, base), 0, 16ull * size);
}

static uint64_t ring_put(struct drv *d, struct ring *r, uint64_t param, uint32_t status,
			 uint32_t ctrl)
{
	uint64_t at = r->base + 16ull * r->idx;
	uint8_t *p = ram(d, at);
	put_le64(p, param);
	put_le32(p + 8, status);
	put_le32(p + 12, (ctrl & ~TRB_C) | (r->cycle ? TRB_C : 0));
	if (++r->idx == r->size - 1) {
		p = ram(d, r->base + 16ull * r->idx);
		put_le64(p, r->base);
		put_le32(p + 8, 0);
		put_le32(p + 12, TRB_LINK << 10 | TRB_TC | (r->cycle ? TRB_C : 0));
		r->idx = 0;
		r->cycle = !r->cycle;
	}
	return at;
}

/* Consume the events the controller wrote (at most a ring's worth), then move ERDP. */
static void reap(struct drv *d, bool ehb)
{
	for (unsigned n = 0; n < d->er_nseg * d->er_segsize; n++) {
		uint64_t at = ER_GPA + 0x400ull * d->er_seg + 16ull * d->er_idx;
		if (!(le32_at(ram(d, at) + 12) & TRB_C) != !d->er_cycle)
			break;
		if (++d->er_idx == d->er_segsize) {
			d->er_idx = 0;
			if (++d->er_seg == d->er_nseg) {
				d->er_seg = 0;
				d->er_cycle = !d->er_cycle;
			}
		}
	}
	wr64(d, XHCI_IR0 + XHCI_ERDP,
	     (ER_GPA + 0x400ull * d->er_seg + 16ull * d->er_idx) | (ehb ? XHCI_ERDP_EHB : 0));
}

static void start(struct drv *d, bool two_segments)
{
	wr(d, XHCI_OP + XHCI_USBCMD, 0);
	wr(d, XHCI_OP + XHCI_USBCMD, XHCI_CMD_HCRST);
	wr(d, XHCI_OP + XHCI_CONFIG, XHCI_MAX_SLOTS);
	memset(ram(d, DCBAA_GPA), 0, 8 * (XHCI_MAX_SLOTS + 1));
	wr64(d, XHCI_OP + XHCI_DCBAAP, DCBAA_GPA);
	ring_init(d, &d->cr, CR_GPA, CR_SIZE);
	wr64(d, XHCI_OP + XHCI_CRCR, CR_GPA | 1);
	d->er_nseg = two_segments ? 2 : 1;
	d->er_segsize = two_segments ? 16 : 64;
	d->er_idx = d->er_seg = 0;
	d->er_cycle = true;
	memset(ram(d, ER_GPA), 0, 0x800);
	for (unsigned s = 0; s < d->er_nseg; s++) {
		put_le64(ram(d, ERST_GPA + 16 * s), ER_GPA + 0x400ull * s);
		put_le32(ram(d, ERST_GPA + 16 * s + 8), d->er_segsize);
	}
	wr(d, XHCI_IR0 + XHCI_ERSTSZ, d->er_nseg);
	wr64(d, XHCI_IR0 + XHCI_ERSTBA, ERST_GPA);
	wr64(d, XHCI_IR0 + XHCI_ERDP, ER_GPA);
	wr(d, XHCI_OP + XHCI_USBCMD, XHCI_CMD_INTE);
	wr(d, XHCI_IR0 + XHCI_IMAN, XHCI_IMAN_IE);
	wr(d, XHCI_OP + XHCI_USBCMD, XHCI_CMD_INTE | XHCI_CMD_RS);
	reap(d, true);
}

static void command(struct drv *d, uint64_t param, uint32_t ctrl)
{
	ring_put(d, &d->cr, param, 0, ctrl);
	wr(d, XHCI_DBOFF, 0);
	reap(d, true);
}

static void control(struct drv *d, uint8_t type, uint8_t req, uint16_t value, uint16_t length)
{
	bool in = type & USB_DIR_IN;
	ring_put(d, &d->ep0,
		 type | (uint64_t)req << 8 | (uint64_t)value << 16 | (uint64_t)length << 48, 8,
		 TRB_SETUP << 10 | TRB_IDT);
	if (length)
		ring_put(d, &d->ep0, DATA_GPA, length, TRB_DATA << 10 | (in ? TRB_DIR_IN : 0));
	ring_put(d, &d->ep0, 0, 0, TRB_STATUS << 10 | TRB_IOC | (in && length ? 0 : TRB_DIR_IN));
	wr(d, XHCI_DBOFF + 4 * d->slot, 1);
	reap(d, true);
}

/* Port reset, Enable Slot, Address Device, Configure Endpoint (EP 1 IN), SET_CONFIGURATION, and
 * a Normal TRB waiting on EP 1. */
static void enumerate(struct drv *d)
{
	uint32_t port = XHCI_PORTREGS + 16 * (TABLET_PORT - 1);
	wr(d, port, XHCI_PS_PP | XHCI_PS_CSC);
	wr(d, port, XHCI_PS_PP | XHCI_PS_PR);
	wr(d, port, XHCI_PS_PP | XHCI_PS_PRC);
	d->slot = 1;
	put_le64(ram(d, DCBAA_GPA + 8), OCTX_GPA);
	command(d, 0, TRB_ENABLE_SLOT << 10);
	ring_init(d, &d->ep0, EP0_GPA, XR_SIZE);
	uint8_t *ic = ram(d, ICTX_GPA);
	memset(ic, 0, 33 * 32);
	put_le32(ic + 4, 3);
	put_le32(ic + 32, 1u << 27 | (uint32_t)USB_SPEED_HIGH << 20);
	put_le32(ic + 36, TABLET_PORT << 16);
	put_le32(ic + 68, 3u << 1 | EPT_CONTROL << 3 | 64u << 16);
	put_le64(ic + 72, EP0_GPA | 1);
	command(d, ICTX_GPA, TRB_ADDRESS_DEVICE << 10 | d->slot << 24);
	control(d, 0x80, USB_REQ_GET_DESCRIPTOR, USB_DT_DEVICE << 8, 18);
	memset(ic, 0, 33 * 32);
	put_le32(ic + 4, 1u | 1u << 3);
	put_le32(ic + 32, 3u << 27 | (uint32_t)USB_SPEED_HIGH << 20);
	put_le32(ic + 36, TABLET_PORT << 16);
	ring_init(d, &d->ep1, EP1_GPA, XR_SIZE);
	put_le32(ic + 4 * 32, 3u << 16);
	put_le32(ic + 4 * 32 + 4, 3u << 1 | EPT_INTR_IN << 3 | 8u << 16);
	put_le64(ic + 4 * 32 + 8, EP1_GPA | 1);
	command(d, ICTX_GPA, TRB_CONFIGURE_EP << 10 | d->slot << 24);
	control(d, 0x00, USB_REQ_SET_CONFIGURATION, 1, 0);
	ring_put(d, &d->ep1, DATA_GPA + 0x100, 8, TRB_NORMAL << 10 | TRB_ISP | TRB_IOC);
	wr(d, XHCI_DBOFF + 4 * d->slot, 3);
}

static void op_command(struct drv *d, uint8_t op, struct fuzz_input *in)
{
	uint8_t ti = in_u8(in);
	unsigned type = ti < 2 * sizeof(cmd_types) ? cmd_types[ti % sizeof(cmd_types)] : ti & 0x3f;
	unsigned slot = in_u8(in);
	uint8_t flags = in_u8(in), pm = in_u8(in);
	uint64_t param = pm == 0 ? ICTX_GPA : pm == 1 ? in_u64(in) : pm == 2 ? EP1_GPA | 1 : 0;
	uint32_t ctrl = type << 10 | (flags & 1 ? TRB_BSR : 0) |
			(uint32_t)((flags >> 1) & 0x1f) << 16 | slot << 24;
	ring_put(d, &d->cr, param, 0, ctrl);
	if (!(op & 8))
		wr(d, XHCI_DBOFF, 0);
}

static void op_transfer(struct drv *d, uint8_t op, struct fuzz_input *in)
{
	if (op & 16) {
		uint64_t setup = in_u64(in);
		uint64_t buf = DATA_GPA + (uint64_t)in_u16(in) * 16;
		uint16_t length = (uint16_t)(setup >> 48);
		bool in_dir = setup & USB_DIR_IN;
		if (!d->slot)
			return;
		ring_put(d, &d->ep0, setup, 8, TRB_SETUP << 10 | TRB_IDT);
		if (length)
			ring_put(d, &d->ep0, buf, length,
				 TRB_DATA << 10 | (in_dir ? TRB_DIR_IN | TRB_ISP : 0));
		ring_put(d, &d->ep0, 0, 0,
			 TRB_STATUS << 10 | TRB_IOC | (in_dir && length ? 0 : TRB_DIR_IN));
		wr(d, XHCI_DBOFF + 4 * d->slot, 1);
		return;
	}
	uint8_t which = in_u8(in);
	unsigned slot = d->slot, target = which == 0 ? 1 : 3;
	struct ring *r = which == 0 ? &d->ep0 : which == 1 ? &d->ep1 : NULL;
	if (!r) {
		slot = in_u8(in);
		target = in_u8(in);
	}
	uint8_t ti = in_u8(in);
	unsigned type =
	    ti < 2 * sizeof(xfer_types) ? xfer_types[ti % sizeof(xfer_types)] : ti & 0x3f;
	uint8_t pm = in_u8(in);
	uint64_t param = pm == 1   ? in_u64(in)
			 : pm == 2 ? in_u64(in) /* a setup packet */
				   : DATA_GPA + (uint64_t)in_u16(in) * 16;
	uint32_t status = in_u32(in);
	uint8_t f = in_u8(in);
	uint32_t ctrl = type << 10 | (f & 1 ? TRB_IOC : 0) | (f & 2 ? TRB_ISP : 0) |
			(f & 4 ? TRB_CH : 0) | (f & 8 ? TRB_IDT : 0) | (f & 16 ? TRB_BEI : 0) |
			(f & 32 ? TRB_DIR_IN : 0) | (uint32_t)(f >> 6) << 16;
	if (type == TRB_SETUP && pm == 2) {
		status = 8;
		ctrl |= TRB_IDT;
	}
	if (r && d->slot)
		ring_put(d, r, param, status, ctrl);
	if (!(op & 8))
		wr(d, XHCI_DBOFF + 4 * (slot % (XHCI_MAX_SLOTS + 1)), target);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_work_begin();
	struct fuzz_input in = {data, size};
	uint8_t setup = in_u8(&in);
	const char *assign[6] = {"pci.0.4.0.device=xhci", "pci.0.4.0.slot.1.device=tablet"};
	int na = 2;
	if (setup & 2)
		assign[na++] = "pci.0.4.0.slot.2.device=tablet";
	assign[na] = NULL;
	struct drv d = {0};
	d.vm = fuzz_vm_create_flags(assign, RAM_SIZE, false, FUZZ_VM_FAKE_KVM);
	fuzz_cfg_write(d.vm, SLOT, PCIR_COMMAND, 2, 0x6);
	d.bar = fuzz_cfg_read(d.vm, SLOT, PCIR_BAR0, 4) & ~0xfULL;
	unsigned msi = 0;
	for (unsigned p = fuzz_cfg_read(d.vm, SLOT, PCIR_CAP_PTR, 1), n = 0; p && n < 16;
	     p = fuzz_cfg_read(d.vm, SLOT, p + 1, 1), n++)
		if (fuzz_cfg_read(d.vm, SLOT, p, 1) == 0x05)
			msi = p;
	FUZZ_CHECK(msi != 0, "no MSI capability");
	if (setup & 8) {
		fuzz_cfg_write(d.vm, SLOT, msi + 4, 4, 0xfee00000);
		fuzz_cfg_write(d.vm, SLOT, msi + 12, 2, 0x41);
		fuzz_cfg_write(d.vm, SLOT, msi + 2, 2, 1);
	}
	start(&d, setup & 4);
	if (setup & 1)
		enumerate(&d);
	else {
		ring_init(&d, &d.ep0, EP0_GPA, XR_SIZE);
		ring_init(&d, &d.ep1, EP1_GPA, XR_SIZE);
	}

	for (int n = 0; n < MAX_OPS && in.left; n++) {
		uint8_t op = in_u8(&in);
		switch (op & 7) {
		case 0: {
			uint64_t off = (uint64_t)in_u16(&in) * 16;
			unsigned len = in_u8(&in);
			for (unsigned i = 0; i < len && off + i < RAM_SIZE; i++)
				*ram(&d, off + i) = in_u8(&in);
			break;
		}
		case 1: {
			uint64_t off = (in_u16(&in) % XHCI_BAR_SIZE) & ~3ull;
			if (op & 8)
				fuzz_guest_access(d.vm, IOBUS_MMIO, d.bar + (off & ~7ull), 8, true,
						  in_u64(&in));
			else
				wr(&d, off, in_u32(&in));
			break;
		}
		case 2:
			op_command(&d, op, &in);
			break;
		case 3:
			op_transfer(&d, op, &in);
			break;
		case 4:
			if (op & 8)
				console_set_screen_size(in_u16(&in), in_u16(&in));
			{
				uint8_t b = in_u8(&in);
				unsigned x = in_u16(&in), y = in_u16(&in);
				console_ptr_event(b, x, y);
			}
			break;
		case 5:
			reap(&d, !(op & 8));
			break;
		case 6: {
			uint64_t off = in_u16(&in) % XHCI_BAR_SIZE;
			unsigned sz = 1u << ((op >> 4) & 3);
			fuzz_guest_access(d.vm, IOBUS_MMIO, d.bar + (off & ~(uint64_t)(sz - 1)), sz,
					  false, 0);
			break;
		}
		case 7: {
			unsigned off = in_u8(&in);
			unsigned sz = 1u << (in_u8(&in) % 3);
			uint32_t v = in_u32(&in);
			if (off < 0x40 && off != PCIR_COMMAND)
				break; /* the BAR stays where the driver put it */
			fuzz_cfg_write(d.vm, SLOT, off & ~(sz - 1), sz, v);
			break;
		}
		}
	}
	fuzz_cfg_write(d.vm, SLOT, PCIR_COMMAND, 2, 0x6);
	FUZZ_CHECK(rd(&d, 0) == (XHCI_CAPLEN | XHCI_HCIVERSION << 16), "CAPLENGTH/HCIVERSION %#x",
		   rd(&d, 0));
	FUZZ_CHECK((rd(&d, XHCI_CAP_HCSPARAMS1) & 0xff) == XHCI_MAX_SLOTS, "HCSPARAMS1 changed");
	FUZZ_CHECK(!(rd(&d, XHCI_OP + XHCI_USBSTS) & XHCI_STS_CNR), "CNR set");
	for (unsigned p = 1; p <= XHCI_MAX_PORTS; p++) {
		uint32_t ps = rd(&d, XHCI_PORTREGS + 16 * (p - 1));
		FUZZ_CHECK(ps & XHCI_PS_PP, "port %u lost power: %#x", p, ps);
		FUZZ_CHECK(p != TABLET_PORT || (ps & XHCI_PS_CCS), "the tablet disconnected: %#x",
			   ps);
	}
	console_set_screen_size(1024, 768);
	fuzz_work_check();
	fuzz_vm_destroy(d.vm);
	fuzz_work_end();
	return 0;
}
