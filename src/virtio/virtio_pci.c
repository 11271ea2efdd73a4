/* SPDX-License-Identifier: BSD-2-Clause */
/* The virtio-PCI transport (virtio 1.x "modern" interface), shared by every virtio device.
 *
 * BAR 0 (32-bit MMIO, 16 KiB) holds the virtio structures, BAR 1 the MSI-X table and PBA:
 *   0x0000 common configuration    0x1000 ISR status
 *   0x2000 device configuration    0x3000 notifications, queue q at 0x3000 + 4 q
 * Doorbell writes go to an ioeventfd per queue and reach the device on the event-loop thread;
 * interrupts are MSI-X messages, served by the PCI bus (pci_msi.c: table, PBA, irqfd routes).
 * Without MSI-X (virtio_msix=false, -W) the device offers one MSI vector, else INTx, and the
 * ISR register tells the driver why. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/irqroute.h"
#include "core/byteorder.h"
#include "core/log.h"
#include "core/vm.h"
#include "pci/pci.h"
#include "pci/pci_msi.h"
#include "snapshot/snapstate.h"
#include "virtio/virtio.h"

#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040

#define BAR_VIRTIO 0
#define BAR_MSIX 1
#define VIRTIO_BAR_SIZE 0x4000
#define COMMON_OFF 0x0000
#define COMMON_LEN 0x38
#define ISR_OFF 0x1000
#define DEVCFG_OFF 0x2000
#define NOTIFY_OFF 0x3000
#define NOTIFY_MULT 4
#define MSIX_BAR_SIZE 0x1000
#define MSIX_PBA_OFF 0x800

/* virtio_pci_cap cfg_type */
#define CAP_COMMON 1
#define CAP_NOTIFY 2
#define CAP_ISR 3
#define CAP_DEVICE 4
#define PCI_CAP_VNDR 0x09

#define NO_VECTOR 0xffff

#define TRANSPORT_FEATURES (VIRTIO_F_VERSION_1 | VIRTIO_RING_F_INDIRECT_DESC | VIRTIO_RING_F_EVENT_IDX)

struct virtio_transport {
	struct virtio_dev *vd;
	struct pci_dev *pd;
	struct vm *vm;
	uint64_t offered;
	uint32_t dev_feature_sel, drv_feature_sel;
	uint64_t drv_features;
	uint16_t queue_sel;
	uint16_t msix_config;
	uint16_t queue_vector[VIRTIO_MAX_QUEUES];
	uint8_t isr;
	uint8_t config_gen;
	bool needs_reset;
	bool intx_asserted;
	/* a reset whose in-flight I/O is not finished yet: status reads status_before_reset */
	bool reset_pending;
	uint8_t status_before_reset;
	/* guest-caused log lines, one bucket per kind */
	struct kb_ratelimit needs_reset_log, status_log;
	/* MSI-X vectors offered (queues + config), 0 without MSI-X */
	bool has_msix;
	int nvectors;
	/* doorbells */
	int kick_efd[VIRTIO_MAX_QUEUES];
	struct evloop_handle *kick_h[VIRTIO_MAX_QUEUES];
	uint64_t kick_addr; /* BAR 0 address the ioeventfds are bound to, 0 if none */
};

void virtio_lock(struct virtio_dev *vd)
{
	pthread_mutex_lock(&vd->lock);
}

void virtio_unlock(struct virtio_dev *vd)
{
	pthread_mutex_unlock(&vd->lock);
}

/* ---- interrupts ---- */

static void interrupt(struct virtio_transport *t, uint16_t vector, uint8_t isr_bit)
{
	if (t->has_msix && pci_msi_enabled(t->pd)) {
		if (vector != NO_VECTOR && vector < t->nvectors)
			pci_msi_notify(t->pd, vector);
		return;
	}
	t->isr |= isr_bit;
	if (!t->has_msix && pci_msi_enabled(t->pd)) {
		/* -W: one MSI vector for everything; the driver reads ISR to see why */
		pci_msi_notify(t->pd, 0);
		return;
	}
	if (!t->intx_asserted) {
		t->intx_asserted = true;
		pci_intx_assert(t->pd);
	}
}

void virtio_interrupt_queue(struct virtio_dev *vd, int q)
{
	struct virtio_transport *t = vd->transport;
	if (!t)
		return; /* not attached to a transport (unit tests of a model) */
	if (q < 0 || q >= vd->ops->nqueues || !vq_should_interrupt(&vd->vq[q]))
		return;
	interrupt(t, t->queue_vector[q], 1);
}

void virtio_interrupt_config(struct virtio_dev *vd)
{
	struct virtio_transport *t = vd->transport;
	if (!t)
		return;
	t->config_gen++;
	interrupt(t, t->msix_config, 2);
}

void virtio_set_needs_reset(struct virtio_dev *vd, const char *why)
{
	struct virtio_transport *t = vd->transport;
	if (!t) {
		vd->status |= VIRTIO_STATUS_NEEDS_RESET;
		return;
	}
	if (t->needs_reset)
		return;
	kb_guest_log(&t->needs_reset_log,
		     "%s at %02x:%02x.%x: %s; device stopped until the guest resets it",
		     vd->ops->name, t->pd->bus, t->pd->slot, t->pd->func, why);
	t->needs_reset = true;
	vd->status |= VIRTIO_STATUS_NEEDS_RESET;
	if (vd->status & VIRTIO_STATUS_DRIVER_OK)
		virtio_interrupt_config(vd);
}

/* ---- doorbells ---- */

static void kick(struct virtio_transport *t, int q)
{
	struct virtio_dev *vd = t->vd;
	if (q < 0 || q >= vd->ops->nqueues)
		return;
	virtio_lock(vd);
	/* without Bus Master Enable the device must not touch guest memory: the kick is dropped
	 * (a driver sets the bit before DRIVER_OK and kicks again after setting it) */
	if (vd->started && !t->needs_reset && vd->vq[q].ready && pci_bus_master(t->pd))
		vd->ops->notify(vd, q);
	virtio_unlock(vd);
}

bool virtio_bus_master(struct virtio_dev *vd)
{
	struct virtio_transport *t = vd->transport;
	return !t || pci_bus_master(t->pd);
}

static void kick_event(int fd, uint32_t events, void *opaque)
{
	struct virtio_transport *t = opaque;
	uint64_t n;
	if (read(fd, &n, sizeof(n)) != sizeof(n))
		return;
	for (int q = 0; q < t->vd->ops->nqueues; q++)
		if (t->kick_efd[q] == fd) {
			kick(t, q);
			return;
		}
}

static void bind_doorbells(struct virtio_transport *t, uint64_t base)
{
	for (int q = 0; q < t->vd->ops->nqueues; q++) {
		uint64_t addr = base + NOTIFY_OFF + (uint64_t)q * NOTIFY_MULT;
		if (vm_ioeventfd(t->vm, addr, 2, false, t->kick_efd[q], true) < 0)
			kb_debug("%s: no ioeventfd for queue %d (kicks take the slow path)",
				 t->vd->ops->name, q);
	}
	t->kick_addr = base;
}

static void unbind_doorbells(struct virtio_transport *t)
{
	if (!t->kick_addr)
		return;
	for (int q = 0; q < t->vd->ops->nqueues; q++)
		vm_ioeventfd(t->vm, t->kick_addr + NOTIFY_OFF + (uint64_t)q * NOTIFY_MULT, 2, false,
			     t->kick_efd[q], false);
	t->kick_addr = 0;
}

void virtio_pci_bar_mapped(struct pci_dev *pd, int bar, bool mapped)
{
	struct virtio_transport *t = ((struct virtio_dev *)pd->priv)->transport;
	if (bar != BAR_VIRTIO)
		return;
	unbind_doorbells(t);
	if (mapped)
		bind_doorbells(t, pd->bar[BAR_VIRTIO].addr);
}

/* ---- common configuration ---- */

static void device_reset(struct virtio_transport *t)
{
	struct virtio_dev *vd = t->vd;
	if (vd->ops->reset)
		vd->ops->reset(vd);
	t->status_before_reset = vd->status ? vd->status : VIRTIO_STATUS_ACKNOWLEDGE;
	t->reset_pending = vd->ops->quiesced && !vd->ops->quiesced(vd);
	vd->started = false;
	vd->status = 0;
	vd->features = 0;
	t->drv_features = 0;
	t->dev_feature_sel = t->drv_feature_sel = 0;
	t->queue_sel = 0;
	t->needs_reset = false;
	t->msix_config = NO_VECTOR;
	for (int q = 0; q < vd->ops->nqueues; q++) {
		vq_reset(&vd->vq[q]);
		vd->vq[q].size = vd->ops->queue_size;
		t->queue_vector[q] = NO_VECTOR;
	}
	t->isr = 0;
	if (t->intx_asserted) {
		t->intx_asserted = false;
		pci_intx_deassert(t->pd);
	}
}

static void status_write(struct virtio_transport *t, uint8_t v)
{
	struct virtio_dev *vd = t->vd;
	if (v == 0) {
		device_reset(t);
		return;
	}
	uint8_t old = vd->status;
	/* Once the features are accepted only a reset may take status bits away (virtio 1.x 2.1.2:
	 * the driver must not clear bits; clearing FEATURES_OK would reopen the negotiation of a
	 * running device). Such a write is ignored. */
	uint8_t kept = old & (uint8_t)~VIRTIO_STATUS_NEEDS_RESET;
	if ((old & (VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK)) && (v & kept) != kept) {
		kb_guest_log(
		    &t->status_log,
		    "%s at %02x:%02x.%x: status %#x would clear bits of %#x without a reset; "
		    "ignored",
		    vd->ops->name, t->pd->bus, t->pd->slot, t->pd->func, v, old);
		return;
	}
	if ((v & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
		/* accept only what was offered, and only the 1.x interface */
		if ((t->drv_features & ~t->offered) || !(t->drv_features & VIRTIO_F_VERSION_1))
			v &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
		else
			vd->features = t->drv_features;
	}
	vd->status = (uint8_t)(v | (old & VIRTIO_STATUS_NEEDS_RESET));
	if ((v & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK) &&
	    (vd->status & VIRTIO_STATUS_FEATURES_OK) && !t->needs_reset) {
		for (int q = 0; q < vd->ops->nqueues; q++) {
			vd->vq[q].event_idx = vd->features & VIRTIO_RING_F_EVENT_IDX;
			vd->vq[q].indirect = vd->features & VIRTIO_RING_F_INDIRECT_DESC;
		}
		int rc = vd->ops->start ? vd->ops->start(vd) : 0;
		if (rc) {
			virtio_set_needs_reset(vd, "device failed to start");
			return;
		}
		vd->started = true;
		/* kicks that arrived before DRIVER_OK */
		for (int q = 0; q < vd->ops->nqueues && pci_bus_master(t->pd); q++)
			if (vd->vq[q].ready && vq_has_work(&vd->vq[q]))
				vd->ops->notify(vd, q);
	}
}

static void common_fill(struct virtio_transport *t, uint8_t *b)
{
	struct virtio_dev *vd = t->vd;
	uint16_t q = t->queue_sel;
	bool valid = q < vd->ops->nqueues;
	memset(b, 0, COMMON_LEN);
	put_le32(b + 0x00, t->dev_feature_sel);
	put_le32(b + 0x04, t->dev_feature_sel < 2 ? (uint32_t)(t->offered >> (32 * t->dev_feature_sel)) : 0);
	put_le32(b + 0x08, t->drv_feature_sel);
	put_le32(b + 0x0c, t->drv_feature_sel < 2 ? (uint32_t)(t->drv_features >> (32 * t->drv_feature_sel)) : 0);
	put_le16(b + 0x10, t->msix_config);
	put_le16(b + 0x12, (uint16_t)vd->ops->nqueues);
	if (t->reset_pending && (vd->status || vd->ops->quiesced(vd)))
		t->reset_pending = false; /* done, or the driver went on without waiting */
	b[0x14] = t->reset_pending ? t->status_before_reset : vd->status;
	b[0x15] = t->config_gen;
	put_le16(b + 0x16, q);
	if (valid) {
		struct virtqueue *vq = &vd->vq[q];
		put_le16(b + 0x18, vq->size);
		put_le16(b + 0x1a, t->queue_vector[q]);
		put_le16(b + 0x1c, vq->ready);
		put_le16(b + 0x1e, q); /* queue_notify_off: doorbell at NOTIFY_OFF + q * NOTIFY_MULT */
		put_le64(b + 0x20, vq->desc_gpa);
		put_le64(b + 0x28, vq->avail_gpa);
		put_le64(b + 0x30, vq->used_gpa);
	}
}

static bool touches(uint64_t off, unsigned size, unsigned field, unsigned flen)
{
	return off < field + flen && field < off + size;
}

static void common_write(struct virtio_transport *t, uint64_t off, unsigned size, uint64_t val)
{
	struct virtio_dev *vd = t->vd;
	uint8_t b[COMMON_LEN];
	common_fill(t, b);
	for (unsigned i = 0; i < size; i++)
		b[off + i] = (val >> (8 * i)) & 0xff;
	uint16_t q = t->queue_sel;
	bool valid = q < vd->ops->nqueues;
	struct virtqueue *vq = valid ? &vd->vq[q] : NULL;

	if (touches(off, size, 0x00, 4))
		t->dev_feature_sel = le32_at(b + 0x00);
	if (touches(off, size, 0x08, 4))
		t->drv_feature_sel = le32_at(b + 0x08);
	if (touches(off, size, 0x0c, 4) && t->drv_feature_sel < 2 &&
	    !(vd->status & VIRTIO_STATUS_FEATURES_OK)) {
		unsigned sh = 32 * t->drv_feature_sel;
		t->drv_features = (t->drv_features & ~(0xffffffffULL << sh)) | (uint64_t)le32_at(b + 0x0c) << sh;
	}
	if (touches(off, size, 0x10, 2)) {
		uint16_t v = le16_at(b + 0x10);
		t->msix_config = (t->has_msix && v < t->nvectors) ? v : NO_VECTOR;
	}
	if (touches(off, size, 0x14, 1))
		status_write(t, b[0x14]);
	if (touches(off, size, 0x16, 2))
		t->queue_sel = le16_at(b + 0x16);
	if (vq && touches(off, size, 0x1a, 2)) {
		uint16_t v = le16_at(b + 0x1a);
		t->queue_vector[q] = (t->has_msix && v < t->nvectors) ? v : NO_VECTOR;
	}
	if (!vq || vq->ready)
		return; /* the rest configures a disabled queue */
	if (touches(off, size, 0x18, 2)) {
		uint16_t s = le16_at(b + 0x18);
		/* split rings: a power of two (virtio 1.x 2.6), at most what the device offers */
		if (s >= 1 && s <= vd->ops->queue_size && !(s & (s - 1)))
			vq->size = s;
	}
	if (touches(off, size, 0x20, 8))
		vq->desc_gpa = le64_at(b + 0x20);
	if (touches(off, size, 0x28, 8))
		vq->avail_gpa = le64_at(b + 0x28);
	if (touches(off, size, 0x30, 8))
		vq->used_gpa = le64_at(b + 0x30);
	if (touches(off, size, 0x1c, 2) && le16_at(b + 0x1c) == 1) {
		if (vq_enable(vq, vd->gm) < 0) {
			char why[96];
			snprintf(why, sizeof(why), "queue %u has invalid ring addresses", q);
			virtio_set_needs_reset(vd, why);
		}
	}
}

/* ---- BAR accesses ---- */

int virtio_pci_barread(struct pci_dev *pd, int bar, uint64_t off, unsigned size, uint64_t *val)
{
	struct virtio_dev *vd = pd->priv;
	struct virtio_transport *t = vd->transport;
	*val = 0;
	virtio_lock(vd);
	if (bar == BAR_MSIX) {
		/* outside the table and PBA (those are the bus's): reads as zero */
	} else if (off + size <= COMMON_OFF + COMMON_LEN) {
		uint8_t b[COMMON_LEN];
		common_fill(t, b);
		for (unsigned i = 0; i < size; i++)
			*val |= (uint64_t)b[off + i] << (8 * i);
	} else if (off == ISR_OFF) {
		*val = t->isr; /* reading acknowledges */
		t->isr = 0;
		if (t->intx_asserted) {
			t->intx_asserted = false;
			pci_intx_deassert(pd);
		}
	} else if (off >= DEVCFG_OFF && off - DEVCFG_OFF + size <= vd->ops->config_size) {
		for (unsigned i = 0; i < size; i++)
			*val |= (uint64_t)vd->config[off - DEVCFG_OFF + i] << (8 * i);
	}
	virtio_unlock(vd);
	return 0;
}

int virtio_pci_barwrite(struct pci_dev *pd, int bar, uint64_t off, unsigned size, uint64_t val)
{
	struct virtio_dev *vd = pd->priv;
	struct virtio_transport *t = vd->transport;
	if (bar == BAR_VIRTIO && off >= NOTIFY_OFF &&
	    off < NOTIFY_OFF + (uint64_t)vd->ops->nqueues * NOTIFY_MULT) {
		/* doorbell without an ioeventfd (or of another width): the slow path */
		kick(t, (int)((off - NOTIFY_OFF) / NOTIFY_MULT));
		return 0;
	}
	virtio_lock(vd);
	if (bar == BAR_MSIX) {
		/* outside the table and PBA: ignored */
	} else if (off + size <= COMMON_OFF + COMMON_LEN) {
		common_write(t, off, size, val);
	} else if (off >= DEVCFG_OFF && off - DEVCFG_OFF + size <= vd->ops->config_size) {
		for (unsigned i = 0; i < size; i++)
			vd->config[off - DEVCFG_OFF + i] = (val >> (8 * i)) & 0xff;
		if (vd->ops->config_written)
			vd->ops->config_written(vd, (uint32_t)(off - DEVCFG_OFF), size);
	}
	virtio_unlock(vd);
	return 0;
}

/* ---- checkpoint and restore (the bus saves configuration space and MSI-X first) ---- */

static void transport_visit(struct snap *s, void *opaque)
{
	struct pci_dev *pd = opaque;
	struct virtio_dev *vd = pd->priv;
	struct virtio_transport *t = vd->transport;
	int nq = vd->ops->nqueues;
	virtio_lock(vd);
	snap_u64(s, &t->offered);
	snap_check(s, t->offered == (vd->ops->features | TRANSPORT_FEATURES), "offered features");
	snap_u32(s, &t->dev_feature_sel);
	snap_u32(s, &t->drv_feature_sel);
	snap_u64(s, &t->drv_features);
	snap_u16(s, &t->queue_sel);
	snap_u16(s, &t->msix_config);
	snap_check(s, t->msix_config == NO_VECTOR || t->msix_config < t->nvectors,
		   "config vector");
	for (int q = 0; q < nq; q++) {
		snap_u16(s, &t->queue_vector[q]);
		snap_check(s, t->queue_vector[q] == NO_VECTOR || t->queue_vector[q] < t->nvectors,
			   "queue vector");
	}
	snap_u8(s, &t->isr);
	snap_u8(s, &t->config_gen);
	snap_bool(s, &t->needs_reset);
	snap_bool(s, &t->intx_asserted);
	snap_bool(s, &t->reset_pending);
	snap_u8(s, &t->status_before_reset);
	snap_u64(s, &vd->features);
	snap_check(s, !(vd->features & ~t->offered), "negotiated features");
	snap_u8(s, &vd->status);
	snap_bool(s, &vd->started);
	snap_bytes(s, vd->config, vd->ops->config_size);
	for (int q = 0; q < nq; q++) {
		bool paused = vd->vq[q].paused;
		vq_snapshot(s, &vd->vq[q], vd->gm, vd->ops->queue_size);
		vd->vq[q].paused = paused;
	}
	if (vd->ops->snapshot)
		vd->ops->snapshot(s, vd);
	if (snap_loading(s))
		vd->restoring = true;
	virtio_unlock(vd);
}

static void transport_pause(void *opaque)
{
	struct pci_dev *pd = opaque;
	struct virtio_dev *vd = pd->priv;
	virtio_lock(vd);
	for (int q = 0; q < vd->ops->nqueues; q++)
		vd->vq[q].paused = true;
	if (vd->ops->pause)
		vd->ops->pause(vd);
	virtio_unlock(vd);
}

static bool transport_drained(void *opaque)
{
	struct pci_dev *pd = opaque;
	struct virtio_dev *vd = pd->priv;
	virtio_lock(vd);
	bool done = !vd->ops->drained || vd->ops->drained(vd);
	virtio_unlock(vd);
	return done;
}

static int transport_restored(void *opaque, char *err, size_t errlen)
{
	struct pci_dev *pd = opaque;
	struct virtio_dev *vd = pd->priv;
	virtio_lock(vd);
	int rc = 0;
	/* the model's side of DRIVER_OK (backend offloads, header size) for the loaded features */
	if (vd->started && vd->ops->start && (rc = vd->ops->start(vd)) < 0)
		snprintf(err, errlen, "%s at %02x:%02x.%x: cannot start the restored device: %s",
			 vd->ops->name, pd->bus, pd->slot, pd->func, strerror(-rc));
	else if (vd->ops->restored)
		rc = vd->ops->restored(vd, err, errlen);
	virtio_unlock(vd);
	return rc;
}

/* Queues take chains again and every ready one is looked at (work that came while paused);
 * after a restore each one also interrupts once, for a message the guest may not have seen. */
static void transport_resume(void *opaque)
{
	struct pci_dev *pd = opaque;
	struct virtio_dev *vd = pd->priv;
	struct virtio_transport *t = vd->transport;
	virtio_lock(vd);
	for (int q = 0; q < vd->ops->nqueues; q++)
		vd->vq[q].paused = false;
	bool restoring = vd->restoring;
	vd->restoring = false;
	if (vd->started && !t->needs_reset && pci_bus_master(pd)) {
		for (int q = 0; q < vd->ops->nqueues; q++) {
			if (!vd->vq[q].ready)
				continue;
			vd->ops->notify(vd, q);
			if (restoring)
				interrupt(t, t->queue_vector[q], 1);
		}
	}
	virtio_unlock(vd);
}

const struct snapshot_ops virtio_pci_snapshot = {
    .pause = transport_pause,
    .drained = transport_drained,
    .visit = transport_visit,
    .restored = transport_restored,
    .resume = transport_resume,
};

/* ---- creation ---- */

static int add_virtio_cap(struct pci_dev *pd, uint8_t type, uint32_t offset, uint32_t length,
			  bool notify)
{
	uint8_t c[20] = {PCI_CAP_VNDR, 0, notify ? 20 : 16, type, BAR_VIRTIO};
	put_le32(c + 8, offset);
	put_le32(c + 12, length);
	if (notify)
		put_le32(c + 16, NOTIFY_MULT);
	int at = pci_add_cap(pd, c, notify ? 20 : 16);
	return at < 0 ? at : 0;
}

static void transport_teardown(void *opaque)
{
	struct virtio_transport *t = opaque;
	unbind_doorbells(t);
	for (int q = 0; q < t->vd->ops->nqueues; q++) {
		evloop_del(t->vm->ev, t->kick_h[q]);
		if (t->kick_efd[q] >= 0)
			close(t->kick_efd[q]);
	}
	pthread_mutex_destroy(&t->vd->lock);
	free(t);
}

int virtio_pci_create(struct vm *vm, struct pci_dev *pd, struct virtio_dev *vd)
{
	const struct virtio_dev_ops *ops = vd->ops;
	if (ops->nqueues < 1 || ops->nqueues > VIRTIO_MAX_QUEUES || ops->queue_size < 1 ||
	    ops->queue_size > VQ_MAX_SIZE || !ops->notify || ops->config_size > NOTIFY_OFF - DEVCFG_OFF)
		return -EINVAL;
	struct virtio_transport *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->vd = vd;
	t->pd = pd;
	t->vm = vm;
	vd->transport = t;
	vd->vm = vm;
	vd->gm = &vm->mem;
	pd->priv = vd;
	pthread_mutex_init(&vd->lock, NULL);
	t->offered = ops->features | TRANSPORT_FEATURES;
	for (int q = 0; q < VIRTIO_MAX_QUEUES; q++)
		t->kick_efd[q] = -1;
	bool msix = true;
	config_get_bool(vm->cfg, "virtio_msix", true, &msix);
	t->has_msix = msix;
	t->nvectors = msix ? ops->nqueues + 1 : 0;
	int rc = vm_at_destroy(vm, transport_teardown, t);
	if (rc) {
		free(t);
		return rc;
	}
	if (ops->cannot_save) {
		char name[SNAP_NAME_MAX + 1];
		snprintf(name, sizeof(name), "%s.%u.%u.%u", ops->name, pd->bus, pd->slot, pd->func);
		rc = snapshot_unsupported(vm, name, ops->cannot_save);
		if (rc)
			return rc;
	}
	for (int q = 0; q < ops->nqueues; q++) {
		t->kick_efd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (t->kick_efd[q] < 0)
			return -errno;
		t->kick_h[q] = evloop_add_fd(vm->ev, t->kick_efd[q], EPOLLIN, kick_event, t);
		if (!t->kick_h[q])
			return -EIO;
	}
	device_reset(t);

	pci_set_cfg16(pd, PCIR_VENDOR, VIRTIO_PCI_VENDOR);
	pci_set_cfg16(pd, PCIR_DEVICE, (uint16_t)(VIRTIO_PCI_DEVICE_BASE + ops->device_id));
	pci_set_cfg8(pd, PCIR_REVID, 1); /* modern: revision 1 or later */
	pci_set_cfg8(pd, PCIR_PROGIF, ops->pci_class & 0xff);
	pci_set_cfg8(pd, PCIR_SUBCLASS, (ops->pci_class >> 8) & 0xff);
	pci_set_cfg8(pd, PCIR_CLASS, (ops->pci_class >> 16) & 0xff);
	pci_set_cfg16(pd, PCIR_SUBVEND, VIRTIO_PCI_VENDOR);
	pci_set_cfg16(pd, PCIR_SUBDEV, 0x40);
	rc = pci_alloc_bar(pd, BAR_VIRTIO, PCI_BAR_MEM32, VIRTIO_BAR_SIZE);
	if (!rc && msix)
		rc = pci_alloc_bar(pd, BAR_MSIX, PCI_BAR_MEM32, MSIX_BAR_SIZE);
	if (!rc)
		rc = pci_alloc_intx(pd, 1);
	if (rc)
		return rc;

	if (msix)
		rc = pci_msix_add(pd, BAR_MSIX, (unsigned)t->nvectors, 0, MSIX_PBA_OFF);
	else
		rc = pci_msi_add(pd, 1); /* bhyve -W: MSI instead of MSI-X (INTx without either) */
	if (!rc)
		rc = add_virtio_cap(pd, CAP_COMMON, COMMON_OFF, COMMON_LEN, false);
	if (!rc)
		rc = add_virtio_cap(pd, CAP_ISR, ISR_OFF, 1, false);
	if (!rc && ops->config_size)
		rc = add_virtio_cap(pd, CAP_DEVICE, DEVCFG_OFF, (uint32_t)ops->config_size, false);
	if (!rc)
		rc = add_virtio_cap(pd, CAP_NOTIFY, NOTIFY_OFF, (uint32_t)ops->nqueues * NOTIFY_MULT,
				    true);
	return rc;
}
