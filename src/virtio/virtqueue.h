/* SPDX-License-Identifier: BSD-2-Clause */
/* Split virtqueues (virtio 1.x 2.7) over guest memory, with strict validation of everything the
 * guest writes: descriptor indices, chain length and loops, indirect tables, guest-physical
 * ranges. A malformed ring marks the queue broken; nothing is read or written outside RAM. */
#ifndef KB_VIRTQUEUE_H
#define KB_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/guestmem.h"

#define VQ_MAX_SIZE 1024
/* Segments one chain may have (direct + indirect); longer chains are malformed. */
#define VQ_MAX_SEGS 1024

#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_DESC_F_INDIRECT 4
#define VRING_AVAIL_F_NO_INTERRUPT 1
#define VRING_USED_F_NO_NOTIFY 1

struct virtqueue {
	const struct guestmem *gm;
	uint16_t size;            /* 1..VQ_MAX_SIZE (any value: ring indices are taken modulo size) */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	bool ready;
	bool event_idx;           /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;            /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	bool broken;              /* set on the first malformed chain; the queue stops */
	bool paused;              /* a checkpoint is being taken: vq_pop takes nothing */
	uint16_t last_avail;      /* next avail entry the device will take */
	uint16_t used_idx;        /* next used entry the device will fill */
	uint16_t signalled_used;  /* used_idx at the last interrupt (event idx) */
	bool signalled_valid;
	/* host pointers, set by vq_enable() after the ranges were checked */
	void *desc, *avail, *used;
};

/* One descriptor chain: device-readable segments first (nread), then device-writable (nwrite). */
struct vq_chain {
	uint16_t head;
	unsigned nread, nwrite;
	uint64_t read_len, write_len; /* byte totals */
	struct iovec iov[VQ_MAX_SEGS]; /* iov[0..nread) readable, iov[nread..nread+nwrite) writable */
};

struct snap;
/* Save or load the queue (snapshot/snapstate.h). A loaded ready queue is checked and enabled
 * again as vq_enable does, over gm; `max_size` bounds a loaded size. */
void vq_snapshot(struct snap *s, struct virtqueue *vq, const struct guestmem *gm,
		 uint16_t max_size);

/* Reset to the state after device reset (not ready, indices 0). */
void vq_reset(struct virtqueue *vq);
/* Check the ring addresses (alignment, inside RAM) and make the queue ready.
 * -EINVAL with the queue left not ready when they are bad. */
int vq_enable(struct virtqueue *vq, const struct guestmem *gm);
/* Take the next available chain. 1: *c filled; 0: nothing available (or the queue is paused);
 * -EINVAL/-EFAULT: the
 * guest wrote something malformed (the queue is now broken; the message says what). */
int vq_pop(struct virtqueue *vq, struct vq_chain *c, char *err, size_t errlen);
/* Return a chain to the guest with the number of bytes the device wrote into it. */
void vq_push(struct virtqueue *vq, uint16_t head, uint32_t written);
/* After one or more vq_push(): whether the guest wants an interrupt now (honours
 * VRING_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX). */
bool vq_should_interrupt(struct virtqueue *vq);
/* Whether chains are waiting (without consuming them). */
bool vq_has_work(struct virtqueue *vq);
/* Copy helpers over a chain's readable / writable segments. Return bytes copied. */
size_t vq_chain_read(const struct vq_chain *c, size_t off, void *dst, size_t len);
size_t vq_chain_write(const struct vq_chain *c, size_t off, const void *src, size_t len);

#endif
