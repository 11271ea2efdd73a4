/* SPDX-License-Identifier: BSD-2-Clause */
/* libFuzzer target for the virtio-PCI transport behind virtio-rnd, with the KVM side that the
 * other targets leave out: the VM has the stand-in KVM descriptor (fake_kvm.c), so irqroute.c
 * keeps a real GSI routing table, MSI-X vectors get real routes and irqfds when the guest enables
 * them, doorbell writes at the notify address land on the ioeventfd and reach the device through
 * kick_event() on the event loop, and virtio-rnd's continuation timer runs when the loop does.
 *
 * Operations: BAR 0 accesses anywhere (common config, ISR, device config, doorbells) of any
 * width, MSI-X table and PBA accesses in BAR 1, MSI-X message control and other config-space
 * writes, RAM, descriptor and avail writes, kicks, event-loop passes, driver (re)starts.
 *
 * Checked after every input: ASan/UBSan; the device never has more chains taken and unreturned
 * than the ring holds; every irqfd the VMM bound is on
 * a GSI that has a route; the KVM calls are ones KVM accepts (fake_kvm.c); and the work bounds
 * (fixture.h): a reset-and-enable loop must not write a log line per cycle.
 *
 * Input: a setup byte (bit 0 INDIRECT_DESC, bit 1 EVENT_IDX, bit 2 MSI-X on at start, bits 6-7
 * queue size 64/16/2/1), then operations (op byte, low 4 bits; see step()). */
#include <string.h>

#include "core/vm.h"
#include "fixture.h"
#include "pci/pci.h"
#include "virtio/virtio.h"

#define RAM_SIZE (1u << 20)
#define SLOT 3
#define DESC_GPA 0x0000u
#define AVAIL_GPA 0x1000u
#define USED_GPA 0x2000u
#define BUF_GPA 0x10000u
#define MAX_OPS 4096
#define MSIX_CAP 0x40 /* the transport puts the MSI-X capability first */

struct drv {
	struct vm *vm;
	uint64_t bar0, bar1;
	uint16_t qsize, avail_idx;
	uint64_t features;
};

static void mw(struct drv *d, uint64_t off, unsigned size, uint64_t v)
{
	fuzz_guest_access(d->vm, IOBUS_MMIO, d->bar0 + off, size, true, v);
}

static uint64_t mr(struct drv *d, uint64_t off, unsigned size)
{
	return fuzz_guest_access(d->vm, IOBUS_MMIO, d->bar0 + off, size, false, 0);
}

static uint8_t *ram(struct drv *d, uint64_t gpa)
{
	return d->vm->mem.host + gpa % RAM_SIZE;
}

static struct virtio_dev *device(struct drv *d)
{
	struct pci_dev *pd = pci_find_dev(d->vm, 0, SLOT, 0);
	FUZZ_CHECK(pd && pd->priv, "no virtio-rnd at 0:%d.0", SLOT);
	return pd->priv;
}

/* Reset, negotiate, set queue 0 up with vectors 0 (config) and 1 (queue), DRIVER_OK. */
static void driver_start(struct drv *d)
{
	mw(d, 0x14, 1, 0);
	mw(d, 0x14, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	mw(d, 0x00, 4, 0);
	uint64_t offered = mr(d, 0x04, 4);
	mw(d, 0x00, 4, 1);
	offered |= mr(d, 0x04, 4) << 32;
	uint64_t want = d->features & offered;
	mw(d, 0x08, 4, 0);
	mw(d, 0x0c, 4, (uint32_t)want);
	mw(d, 0x08, 4, 1);
	mw(d, 0x0c, 4, (uint32_t)(want >> 32));
	mw(d, 0x14, 1, 0x0b);
	memset(ram(d, DESC_GPA), 0, 0x3000);
	mw(d, 0x10, 2, 0); /* msix_config */
	mw(d, 0x16, 2, 0);
	mw(d, 0x18, 2, d->qsize);
	mw(d, 0x1a, 2, 1); /* queue_msix_vector */
	mw(d, 0x20, 8, DESC_GPA);
	mw(d, 0x28, 8, AVAIL_GPA);
	mw(d, 0x30, 8, USED_GPA);
	mw(d, 0x1c, 2, 1);
	mw(d, 0x14, 1, 0x0f);
	d->avail_idx = 0;
}

/* Unmask every MSI-X vector with a distinct message and enable MSI-X. */
static void msix_on(struct drv *d)
{
	for (unsigned v = 0; v < 2; v++) {
		uint64_t e = d->bar1 + 16 * v;
		fuzz_guest_access(d->vm, IOBUS_MMIO, e, 4, true, 0xfee00000u);
		fuzz_guest_access(d->vm, IOBUS_MMIO, e + 4, 4, true, 0);
		fuzz_guest_access(d->vm, IOBUS_MMIO, e + 8, 4, true, 0x40 + v);
		fuzz_guest_access(d->vm, IOBUS_MMIO, e + 12, 4, true, 0);
	}
	fuzz_cfg_write(d->vm, SLOT, MSIX_CAP + 2, 2, 0x8000);
}

static void put_desc(struct drv *d, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	uint8_t *p = ram(d, DESC_GPA + 16 * (uint64_t)(i % d->qsize));
	memcpy(p, &addr, 8);
	memcpy(p + 8, &len, 4);
	memcpy(p + 12, &flags, 2);
	memcpy(p + 14, &next, 2);
}

static void make_available(struct drv *d, uint16_t head)
{
	memcpy(ram(d, AVAIL_GPA + 4 + 2 * (uint64_t)(d->avail_idx % d->qsize)), &head, 2);
	d->avail_idx++;
	memcpy(ram(d, AVAIL_GPA + 2), &d->avail_idx, 2);
}

static unsigned width(uint8_t op)
{
	return 1u << (op >> 4 & 3);
}

static void check(struct drv *d)
{
	const struct virtqueue *vq = &device(d)->vq[0];
	if (vq->ready && vq->size) {
		FUZZ_CHECK((uint16_t)(vq->last_avail - vq->used_idx) <= vq->size,
			   "%u chains taken and not returned",
			   (uint16_t)(vq->last_avail - vq->used_idx));
	}
	fuzz_fake_kvm_check();
}

static void step(struct drv *d, uint8_t op, struct fuzz_input *in)
{
	switch (op & 15) {
	case 0: /* common config write */
		mw(d, in_u8(in) % 0x38, width(op), in_u64(in));
		break;
	case 1: /* BAR 0 read anywhere */
		mr(d, in_u16(in) % 0x4000, width(op));
		break;
	case 2: /* BAR 0 write anywhere: ISR, device config, doorbells, holes */
		mw(d, in_u16(in) % 0x4000, width(op), in_u64(in));
		break;
	case 3: /* MSI-X table / PBA write */
		fuzz_guest_access(d->vm, IOBUS_MMIO, d->bar1 + in_u16(in) % 0x1000, width(op), true,
				  in_u64(in));
		break;
	case 4: /* MSI-X table / PBA read */
		fuzz_guest_access(d->vm, IOBUS_MMIO, d->bar1 + in_u16(in) % 0x1000, width(op),
				  false, 0);
		break;
	case 5: /* config space: MSI-X message control, or anywhere with op bit 6 */
		if (op & 0x40) {
			unsigned reg = in_u8(in);
			unsigned sz = width(op) > 4 ? 4 : width(op);
			if (reg != PCIR_BAR0 &&
			    reg != PCIR_BAR0 + 4) /* keep the BARs where they are */
				fuzz_cfg_write(d->vm, SLOT, reg, sz, in_u32(in));
		} else {
			fuzz_cfg_write(d->vm, SLOT, MSIX_CAP + 2, 2, in_u16(in));
		}
		break;
	case 6: { /* RAM write in the ring area */
		uint64_t off = (uint64_t)(in_u16(in) % 0x3000);
		unsigned len = in_u8(in);
		for (unsigned i = 0; i < len; i++)
			*ram(d, off + i) = in_u8(in);
		break;
	}
	case 7: { /* descriptor */
		unsigned idx = in_u8(in);
		uint64_t addr = (op & 0x40) ? in_u64(in) : BUF_GPA + (uint64_t)in_u16(in) * 16;
		uint32_t len = (op & 0x80) ? in_u32(in) : in_u16(in);
		uint16_t flags = in_u8(in);
		put_desc(d, idx, addr, len, flags, in_u8(in));
		break;
	}
	case 8: /* writable buffer chain of 1-4 segments, made available */
	{
		unsigned n = in_u8(in) % 4 + 1, head = in_u8(in);
		for (unsigned i = 0; i < n; i++)
			put_desc(
			    d, head + i, BUF_GPA + 0x1000 * (uint64_t)i, in_u16(in),
			    (uint16_t)(VRING_DESC_F_WRITE | (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
			    (uint16_t)((head + i + 1) % d->qsize));
		make_available(d, (uint16_t)(head % d->qsize));
		break;
	}
	case 9: /* avail entry */
		make_available(d, in_u16(in));
		break;
	case 10: /* kick: the 2-byte doorbell (ioeventfd) or another width (the slow path) */
		mw(d, 0x3000, (op & 0x10) ? 4 : 2, 0);
		break;
	case 11: /* one event-loop pass; op bit 4: run it 2 ms (continuation timers fire) */
		if (op & 0x10)
			fuzz_loop_run_ms(d->vm, 2);
		else
			fuzz_loop_pass(d->vm);
		break;
	case 12:
		d->features = VIRTIO_F_VERSION_1 | ((op & 0x10) ? VIRTIO_RING_F_INDIRECT_DESC : 0) |
			      ((op & 0x20) ? VIRTIO_RING_F_EVENT_IDX : 0);
		driver_start(d);
		break;
	case 13: /* status */
		mw(d, 0x14, 1, in_u8(in));
		break;
	case 14: /* queue 0 at guest-chosen addresses, then enable (the NEEDS_RESET path) */
		mw(d, 0x16, 2, 0);
		mw(d, 0x20, 8, in_u64(in));
		mw(d, 0x28, 8, AVAIL_GPA);
		mw(d, 0x30, 8, USED_GPA);
		mw(d, 0x1c, 2, 1);
		break;
	case 15:
		if (op & 0x10)
			msix_on(d);
		else
			mr(d, 0x1000, 1); /* ISR: read to clear */
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_work_begin();
	struct fuzz_input in = {data, size};
	uint8_t setup = in_u8(&in);
	const char *assign[] = {"pci.0.3.0.device=virtio-rnd", NULL};
	struct drv d = {0};
	d.vm = fuzz_vm_create_flags(assign, RAM_SIZE, false, FUZZ_VM_FAKE_KVM);
	static const uint16_t qsizes[] = {64, 16, 2, 1};
	d.qsize = qsizes[setup >> 6];
	d.features = VIRTIO_F_VERSION_1 | ((setup & 1) ? VIRTIO_RING_F_INDIRECT_DESC : 0) |
		     ((setup & 2) ? VIRTIO_RING_F_EVENT_IDX : 0);
	fuzz_cfg_write(d.vm, SLOT, PCIR_COMMAND, 2, 0x6);
	d.bar0 = fuzz_cfg_read(d.vm, SLOT, PCIR_BAR0, 4) & ~0xfULL;
	d.bar1 = fuzz_cfg_read(d.vm, SLOT, PCIR_BAR0 + 4, 4) & ~0xfULL;
	FUZZ_CHECK((fuzz_cfg_read(d.vm, SLOT, MSIX_CAP, 1)) == 0x11, "no MSI-X capability at %#x", MSIX_CAP);
	if (setup & 4)
		msix_on(&d);
	driver_start(&d);

	for (int n = 0; n < MAX_OPS && in.left; n++) {
		step(&d, in_u8(&in), &in);
		check(&d);
	}
	mw(&d, 0x3000, 2, 0);
	fuzz_loop_pass(d.vm);
	check(&d);
	fuzz_work_check();
	fuzz_vm_destroy(d.vm);
	fuzz_work_end();
	return 0;
}
