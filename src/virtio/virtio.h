/* SPDX-License-Identifier: BSD-2-Clause */
/* Virtio devices: the model interface. A device model fills struct virtio_dev_ops and calls
 * virtio_pci_create() from its PCI init; the one virtio-PCI transport (virtio_pci.c) does the
 * rest (feature negotiation, queue setup, notifications via ioeventfd, interrupts via irqfd).
 * Device models never see the transport. Callbacks run on the event-loop thread. */
#ifndef KB_VIRTIO_H
#define KB_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/virtqueue.h"

struct vm;
struct pci_dev;
struct snap;
struct snapshot_ops;

/* Device types (virtio 1.x 5) */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4

/* Transport-independent feature bits */
#define VIRTIO_RING_F_INDIRECT_DESC (1ULL << 28)
#define VIRTIO_RING_F_EVENT_IDX (1ULL << 29)
#define VIRTIO_F_VERSION_1 (1ULL << 32)

/* Device status bits */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

#define VIRTIO_MAX_QUEUES 64

struct virtio_dev;

struct virtio_dev_ops {
	const char *name;
	uint16_t device_id;     /* VIRTIO_ID_* */
	uint32_t pci_class;     /* class << 16 | subclass << 8 | prog-if, e.g. 0x010000 storage */
	int nqueues;
	uint16_t queue_size;    /* maximum size offered per queue (power of two, <= VQ_MAX_SIZE) */
	uint64_t features;      /* device features offered, besides VERSION_1/INDIRECT/EVENT_IDX */
	size_t config_size;     /* bytes of device-specific config space (vd->config) */
	/* Optional: the guest wrote device config bytes [off, off+len) (already stored). */
	void (*config_written)(struct virtio_dev *vd, uint32_t off, uint32_t len);
	/* Queue q was kicked by the guest (or became ready). */
	void (*notify)(struct virtio_dev *vd, int q);
	/* The driver set DRIVER_OK; vd->features holds the negotiated set. 0 or -errno. */
	int (*start)(struct virtio_dev *vd);
	/* Device reset by the driver: drop in-flight state; queues are reset by the transport.
	 * Must not wait for I/O: a device whose backend may still write guest buffers provides
	 * `quiesced`. */
	void (*reset)(struct virtio_dev *vd);
	/* Optional: after a reset, whether the backend is done with the old requests' guest
	 * buffers. Until it is, the status register reads non-zero, so a driver waiting for 0
	 * (virtio 1.x 4.1.4.3.2) does not reuse the memory early. Must not block. */
	bool (*quiesced)(struct virtio_dev *vd);
	/* Checkpoint and restore (snapshot/snapstate.h). The transport saves itself, the queues
	 * and the device config; it pauses the queues (vq_pop takes nothing) and notifies every
	 * ready queue on resume. A model that holds popped chains gives them back in `pause`
	 * (its queue's last_avail moved back) or completes them before `drained` says true.
	 * `snapshot` saves the model's own state (optional: none beyond the queues). Called with
	 * vd->lock held. A model that cannot be saved yet names the reason in `cannot_save`, and
	 * checkpoints of its VM are refused. */
	const char *cannot_save;
	void (*pause)(struct virtio_dev *vd);
	bool (*drained)(struct virtio_dev *vd);
	void (*snapshot)(struct snap *s, struct virtio_dev *vd);
	int (*restored)(struct virtio_dev *vd, char *err, size_t errlen);
};

struct virtio_dev {
	const struct virtio_dev_ops *ops;
	void *priv;                     /* the model's state */
	struct vm *vm;
	const struct guestmem *gm;
	uint64_t features;              /* negotiated */
	uint8_t status;
	bool started;
	bool restoring; /* loaded from a snapshot: interrupt every queue once on resume */
	struct virtqueue vq[VIRTIO_MAX_QUEUES];
	uint8_t *config;                /* ops->config_size bytes, owned by the model */
	pthread_mutex_t lock;           /* see virtio_lock() */
	struct virtio_transport *transport;
};

/* The transport's PCI hooks. Every virtio emulation's struct pci_devemu includes them:
 *   static const struct pci_devemu blk = {.name = "virtio-blk", .init = ..., VIRTIO_PCI_HOOKS};
 * pd->priv belongs to the transport (it points at the struct virtio_dev). */
int virtio_pci_barread(struct pci_dev *pd, int bar, uint64_t off, unsigned size, uint64_t *val);
int virtio_pci_barwrite(struct pci_dev *pd, int bar, uint64_t off, unsigned size, uint64_t val);
void virtio_pci_bar_mapped(struct pci_dev *pd, int bar, bool mapped);
extern const struct snapshot_ops virtio_pci_snapshot;
#define VIRTIO_PCI_HOOKS                                                                        \
	.barread = virtio_pci_barread, .barwrite = virtio_pci_barwrite,                       \
	.bar_mapped = virtio_pci_bar_mapped, .snapshot = &virtio_pci_snapshot

/* Create the virtio-PCI function for `vd` on `pd` (IDs, capabilities, BARs, MSI-X or, with
 * virtio_msix=false (-W), MSI). vd->ops, vd->priv and vd->config must be set. 0 or -errno. */
int virtio_pci_create(struct vm *vm, struct pci_dev *pd, struct virtio_dev *vd);

/* Interrupt the guest for queue q if it wants one (vq_should_interrupt). Call with vd->lock held
 * (callbacks already hold it). A device with no transport (unit tests) interrupts nobody. */
void virtio_interrupt_queue(struct virtio_dev *vd, int q);
/* Device configuration changed: config interrupt. Call with vd->lock held. */
void virtio_interrupt_config(struct virtio_dev *vd);
/* The device hit a malformed request or ring: one log line naming the device and the problem,
 * status NEEDS_RESET, a config interrupt, and no more processing until the driver resets it. */
void virtio_set_needs_reset(struct virtio_dev *vd, const char *why);
/* Whether the driver allows the device to access guest memory (PCI Bus Master Enable). Device
 * code that starts work on its own (a frame from the network, console input) checks it; kicks
 * are not delivered while it is clear. true for a device without a transport. */
bool virtio_bus_master(struct virtio_dev *vd);
/* The device lock. The transport holds it around every callback (guest register accesses come
 * from vCPU threads, kicks from the event loop). Device code running from its own event handlers
 * (a backend completion, a readable tap) takes it around queue work. */
void virtio_lock(struct virtio_dev *vd);
void virtio_unlock(struct virtio_dev *vd);

#endif
