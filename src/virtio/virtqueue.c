/* SPDX-License-Identifier: BSD-2-Clause */
/* Split virtqueues (virtio 1.x "Split Virtqueues") with strict validation.
 *
 * The guest driver runs on other CPUs and may rewrite the rings at any moment, so every
 * guest-written value is loaded exactly once into a local, validated there, and only the local
 * is used afterwards. Ring indices and flags are read with atomic loads; descriptors are copied
 * out whole and a compiler barrier keeps the compiler from re-reading guest memory in their
 * place. Nothing outside the three rings, checked by vq_enable(), and buffers checked with
 * gm_ptr() is ever touched. */
#include "virtio/virtqueue.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "snapshot/snapstate.h"

/* struct virtq_desc in guest memory (little-endian, as is the host) */
struct vq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
_Static_assert(sizeof(struct vq_desc) == 16, "virtq_desc is 16 bytes");

#define VQ_DESC_SIZE 16u
#define VQ_USED_ELEM_SIZE 8u
/* flags, idx, ring[size], used_event (always reserved, whether EVENT_IDX is used or not) */
#define VQ_AVAIL_BYTES(n) (6u + 2u * (n))
/* flags, idx, ring[size] of {id, len}, avail_event */
#define VQ_USED_BYTES(n) (6u + VQ_USED_ELEM_SIZE * (n))

/* Ring fields. The ring bases were checked for alignment and size in vq_enable(). */
static uint16_t *avail_idx_p(const struct virtqueue *vq)
{
	return (uint16_t *)((uint8_t *)vq->avail + 2);
}

static uint16_t *avail_flags_p(const struct virtqueue *vq)
{
	return (uint16_t *)vq->avail;
}

static uint16_t *avail_ring_p(const struct virtqueue *vq, uint16_t pos)
{
	return (uint16_t *)((uint8_t *)vq->avail + 4 + 2u * pos);
}

static uint16_t *used_event_p(const struct virtqueue *vq)
{
	return avail_ring_p(vq, vq->size);
}

static uint16_t *used_idx_p(const struct virtqueue *vq)
{
	return (uint16_t *)((uint8_t *)vq->used + 2);
}

static uint32_t *used_elem_p(const struct virtqueue *vq, uint16_t pos)
{
	return (uint32_t *)((uint8_t *)vq->used + 4 + VQ_USED_ELEM_SIZE * pos);
}

static uint16_t *avail_event_p(const struct virtqueue *vq)
{
	return (uint16_t *)((uint8_t *)vq->used + 4 + VQ_USED_ELEM_SIZE * vq->size);
}

/* One copy of a descriptor; the barrier stops the compiler from turning later uses of *d back
 * into loads from guest memory (which the guest may have changed in between). */
static void desc_load(const void *src, struct vq_desc *d)
{
	memcpy(d, src, sizeof(*d));
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

void vq_reset(struct virtqueue *vq)
{
	/* The transport owns gm and size (it sets size back to its maximum itself). */
	const struct guestmem *gm = vq->gm;
	uint16_t size = vq->size;
	memset(vq, 0, sizeof(*vq));
	vq->gm = gm;
	vq->size = size;
}

/* The transport reports a failed enable (NEEDS_RESET with one log line); the exact reason
 * goes to the debug log only, so a guest cannot flood the log by retrying. */
int vq_enable(struct virtqueue *vq, const struct guestmem *gm)
{
	vq->ready = false;
	vq->desc = vq->avail = vq->used = NULL;
	vq->gm = gm;
	if (vq->size == 0 || vq->size > VQ_MAX_SIZE) {
		kb_debug("virtqueue: size %u is not within 1..%u", vq->size, VQ_MAX_SIZE);
		return -EINVAL;
	}
	if (vq->desc_gpa % 16 || vq->avail_gpa % 2 || vq->used_gpa % 4) {
		kb_debug("virtqueue: misaligned ring (desc 0x%" PRIx64 " avail 0x%" PRIx64
		       " used 0x%" PRIx64 ")",
		       vq->desc_gpa, vq->avail_gpa, vq->used_gpa);
		return -EINVAL;
	}
	void *desc = gm_ptr(gm, vq->desc_gpa, (uint64_t)VQ_DESC_SIZE * vq->size);
	void *avail = gm_ptr(gm, vq->avail_gpa, VQ_AVAIL_BYTES(vq->size));
	void *used = gm_ptr(gm, vq->used_gpa, VQ_USED_BYTES(vq->size));
	if (!desc || !avail || !used) {
		kb_debug("virtqueue: %s ring at 0x%" PRIx64 " (size %u) is not entirely guest RAM",
		       !desc ? "descriptor" : !avail ? "available" : "used",
		       !desc ? vq->desc_gpa : !avail ? vq->avail_gpa : vq->used_gpa, vq->size);
		return -EINVAL;
	}
	/* The atomic accesses below need the host addresses aligned too; guest RAM mappings are
	 * page aligned, so this only guards against an odd caller-provided buffer. */
	if ((uintptr_t)avail % 2 || (uintptr_t)used % 4) {
		kb_debug("virtqueue: ring host mapping is misaligned");
		return -EINVAL;
	}
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->signalled_valid = false;
	vq->ready = true;
	return 0;
}

static int vq_fail(struct virtqueue *vq, char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Mark the queue broken and describe why. */
static int vq_fail(struct virtqueue *vq, char *err, size_t errlen, int code, const char *fmt, ...)
{
	vq->broken = true;
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* State of one chain walk: descriptors are appended in chain order. */
struct vq_walk {
	struct virtqueue *vq;
	struct vq_chain *c;
	bool seen_write;
	char *err;
	size_t errlen;
};

/* Append one (already copied) descriptor's buffer to the chain. `where` and `idx` name the
 * descriptor in messages. */
static int walk_add(struct vq_walk *w, const struct vq_desc *d, const char *where, unsigned idx)
{
	struct vq_chain *c = w->c;
	bool writable = d->flags & VRING_DESC_F_WRITE;

	if (!writable && w->seen_write)
		return vq_fail(w->vq, w->err, w->errlen, -EINVAL,
			       "%sdescriptor %u is device-readable after a device-writable one",
			       where, idx);
	if (writable)
		w->seen_write = true;
	if (d->len == 0)
		return 0; /* nothing to transfer; the address is not used */
	void *p = gm_ptr(w->vq->gm, d->addr, d->len);
	if (!p)
		return vq_fail(w->vq, w->err, w->errlen, -EFAULT,
			       "%sdescriptor %u buffer 0x%" PRIx64 "+0x%" PRIx32
			       " is not entirely guest RAM",
			       where, idx, d->addr, d->len);
	unsigned n = c->nread + c->nwrite;
	if (n >= VQ_MAX_SEGS)
		return vq_fail(w->vq, w->err, w->errlen, -EINVAL,
			       "descriptor chain has more than %u segments", VQ_MAX_SEGS);
	c->iov[n].iov_base = p;
	c->iov[n].iov_len = d->len;
	if (writable) {
		c->nwrite++;
		c->write_len += d->len;
	} else {
		c->nread++;
		c->read_len += d->len;
	}
	return 0;
}

/* Walk the indirect table that descriptor `from` (already copied into *ind) refers to. */
static int walk_indirect(struct vq_walk *w, const struct vq_desc *ind, unsigned from)
{
	struct virtqueue *vq = w->vq;

	if (ind->len == 0 || ind->len % VQ_DESC_SIZE)
		return vq_fail(vq, w->err, w->errlen, -EINVAL,
			       "descriptor %u: indirect table length %" PRIu32
			       " is not a non-zero multiple of 16",
			       from, ind->len);
	uint32_t count = ind->len / VQ_DESC_SIZE;
	if (count > VQ_MAX_SEGS)
		return vq_fail(vq, w->err, w->errlen, -EINVAL,
			       "descriptor %u: indirect table has %" PRIu32 " entries (at most %u)",
			       from, count, VQ_MAX_SEGS);
	const uint8_t *table = gm_ptr(vq->gm, ind->addr, ind->len);
	if (!table)
		return vq_fail(vq, w->err, w->errlen, -EFAULT,
			       "descriptor %u: indirect table 0x%" PRIx64 "+0x%" PRIx32
			       " is not entirely guest RAM",
			       from, ind->addr, ind->len);

	uint32_t i = 0;
	for (uint32_t walked = 1;; walked++) {
		struct vq_desc d;
		/* each entry is visited at most once in a chain without loops */
		if (walked > count)
			return vq_fail(vq, w->err, w->errlen, -EINVAL,
				       "descriptor %u: indirect chain loops (more than %" PRIu32
				       " entries)",
				       from, count);
		desc_load(table + (size_t)i * VQ_DESC_SIZE, &d);
		if (d.flags & VRING_DESC_F_INDIRECT)
			return vq_fail(vq, w->err, w->errlen, -EINVAL,
				       "indirect descriptor %" PRIu32 " (table of descriptor %u) is "
				       "itself indirect",
				       i, from);
		int r = walk_add(w, &d, "indirect ", i);
		if (r < 0)
			return r;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		if (d.next >= count)
			return vq_fail(vq, w->err, w->errlen, -EINVAL,
				       "indirect descriptor %" PRIu32 ": next index %u out of range "
				       "(table has %" PRIu32 " entries)",
				       i, d.next, count);
		i = d.next;
	}
}

/* Walk the chain that starts at descriptor `head` (< size, checked by the caller). */
static int walk_chain(struct vq_walk *w, uint16_t head)
{
	struct virtqueue *vq = w->vq;
	const uint8_t *table = vq->desc;
	uint16_t i = head;

	for (unsigned walked = 1;; walked++) {
		struct vq_desc d;
		if (walked > vq->size)
			return vq_fail(vq, w->err, w->errlen, -EINVAL,
				       "descriptor chain from head %u loops or is longer than the "
				       "queue size %u",
				       head, vq->size);
		desc_load(table + (size_t)i * VQ_DESC_SIZE, &d);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (!vq->indirect)
				return vq_fail(vq, w->err, w->errlen, -EINVAL,
					       "descriptor %u is indirect but INDIRECT_DESC was not "
					       "negotiated",
					       i);
			/* the indirect descriptor ends the chain (spec: not both INDIRECT and
			 * NEXT); its WRITE flag is ignored */
			if (d.flags & VRING_DESC_F_NEXT)
				return vq_fail(vq, w->err, w->errlen, -EINVAL,
					       "descriptor %u has both INDIRECT and NEXT set", i);
			return walk_indirect(w, &d, i);
		}
		int r = walk_add(w, &d, "", i);
		if (r < 0)
			return r;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		if (d.next >= vq->size)
			return vq_fail(vq, w->err, w->errlen, -EINVAL,
				       "descriptor %u: next index %u out of range (queue size %u)", i,
				       d.next, vq->size);
		i = d.next;
	}
}

int vq_pop(struct virtqueue *vq, struct vq_chain *c, char *err, size_t errlen)
{
	if (!vq->ready || vq->paused)
		return 0;
	if (vq->broken) {
		if (err && errlen)
			snprintf(err, errlen, "virtqueue is broken by an earlier malformed request");
		return -EINVAL;
	}

	/* acquire: the ring entry and descriptors the driver wrote before idx are visible */
	uint16_t avail_idx = __atomic_load_n(avail_idx_p(vq), __ATOMIC_ACQUIRE);
	if (avail_idx == vq->last_avail) {
		if (!vq->event_idx)
			return 0;
		/* Ask for a kick on the next chain, then look again: the driver may have added
		 * one after our load and before it could see the new avail_event. */
		__atomic_store_n(avail_event_p(vq), vq->last_avail, __ATOMIC_RELEASE);
		gm_mark_dirty(vq->gm, avail_event_p(vq), sizeof(uint16_t));
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		avail_idx = __atomic_load_n(avail_idx_p(vq), __ATOMIC_ACQUIRE);
		if (avail_idx == vq->last_avail)
			return 0;
	}
	uint16_t pending = (uint16_t)(avail_idx - vq->last_avail);
	if (pending > vq->size)
		return vq_fail(vq, err, errlen, -EINVAL,
			       "avail index jumped by %u with queue size %u (avail idx %u, last "
			       "seen %u)",
			       pending, vq->size, avail_idx, vq->last_avail);

	uint16_t head = __atomic_load_n(avail_ring_p(vq, vq->last_avail % vq->size),
					__ATOMIC_RELAXED);
	if (head >= vq->size)
		return vq_fail(vq, err, errlen, -EINVAL,
			       "avail ring entry %u: head index %u out of range (queue size %u)",
			       vq->last_avail, head, vq->size);

	c->head = head;
	c->nread = c->nwrite = 0;
	c->read_len = c->write_len = 0;
	struct vq_walk w = {.vq = vq, .c = c, .err = err, .errlen = errlen};
	int r = walk_chain(&w, head);
	if (r < 0)
		return r;

	vq->last_avail++;
	/* a migration resends what the device will write into the chain */
	for (unsigned i = c->nread; i < c->nread + c->nwrite; i++)
		gm_mark_dirty(vq->gm, c->iov[i].iov_base, c->iov[i].iov_len);
	/* avail_event is only moved when the ring is found empty (above): while a device still has
	 * chains to take (a receive queue full of buffers) the driver need not kick for each refill,
	 * as QEMU does by turning notifications off while it has buffers. */
	return 1;
}

void vq_push(struct virtqueue *vq, uint16_t head, uint32_t written)
{
	if (!vq->ready || vq->broken)
		return;
	uint32_t *elem = used_elem_p(vq, vq->used_idx % vq->size);
	__atomic_store_n(&elem[0], (uint32_t)head, __ATOMIC_RELAXED);
	__atomic_store_n(&elem[1], written, __ATOMIC_RELAXED);
	vq->used_idx++;
	/* release: the element (and the data written into the buffers) before the index */
	__atomic_store_n(used_idx_p(vq), vq->used_idx, __ATOMIC_RELEASE);
	gm_mark_dirty(vq->gm, vq->used, VQ_USED_BYTES(vq->size));
}

/* virtio's vring_need_event(): whether moving the index from old to new_idx passed event. */
static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

bool vq_should_interrupt(struct virtqueue *vq)
{
	if (!vq->ready || vq->broken)
		return false;
	/* the used idx store must be visible before we read the driver's suppression state,
	 * or we could miss the interrupt the driver is about to ask for */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx) {
		uint16_t flags = __atomic_load_n(avail_flags_p(vq), __ATOMIC_RELAXED);
		return !(flags & VRING_AVAIL_F_NO_INTERRUPT);
	}
	uint16_t old = vq->signalled_used;
	uint16_t new_idx = vq->used_idx;
	bool valid = vq->signalled_valid;
	vq->signalled_used = new_idx;
	vq->signalled_valid = true;
	if (!valid)
		return true; /* first time: nothing known about what the driver has seen */
	uint16_t event = __atomic_load_n(used_event_p(vq), __ATOMIC_RELAXED);
	return need_event(event, new_idx, old);
}

bool vq_has_work(struct virtqueue *vq)
{
	if (!vq->ready || vq->broken)
		return false;
	return __atomic_load_n(avail_idx_p(vq), __ATOMIC_ACQUIRE) != vq->last_avail;
}

/* Copy between segments iov[first, first+n), starting `off` bytes into them, and a buffer:
 * into `out` when it is set (reading the chain), else from `in` (writing the chain). */
static size_t chain_copy(const struct vq_chain *c, unsigned first, unsigned n, size_t off,
			 uint8_t *out, const uint8_t *in, size_t len)
{
	size_t done = 0;
	for (unsigned k = first; k < first + n && done < len; k++) {
		const struct iovec *v = &c->iov[k];
		if (off >= v->iov_len) {
			off -= v->iov_len;
			continue;
		}
		size_t chunk = v->iov_len - off;
		if (chunk > len - done)
			chunk = len - done;
		uint8_t *seg = (uint8_t *)v->iov_base + off;
		if (out)
			memcpy(out + done, seg, chunk);
		else
			memcpy(seg, in + done, chunk);
		done += chunk;
		off = 0;
	}
	return done;
}

size_t vq_chain_read(const struct vq_chain *c, size_t off, void *dst, size_t len)
{
	if (len == 0)
		return 0;
	return chain_copy(c, 0, c->nread, off, dst, NULL, len);
}

size_t vq_chain_write(const struct vq_chain *c, size_t off, const void *src, size_t len)
{
	if (len == 0)
		return 0;
	return chain_copy(c, c->nread, c->nwrite, off, NULL, src, len);
}

void vq_snapshot(struct snap *s, struct virtqueue *vq, const struct guestmem *gm,
		 uint16_t max_size)
{
	snap_u16(s, &vq->size);
	snap_check(s, vq->size >= 1 && vq->size <= max_size && !(vq->size & (vq->size - 1)),
		   "queue size");
	snap_u64(s, &vq->desc_gpa);
	snap_u64(s, &vq->avail_gpa);
	snap_u64(s, &vq->used_gpa);
	bool ready = vq->ready;
	snap_bool(s, &ready);
	snap_bool(s, &vq->event_idx);
	snap_bool(s, &vq->indirect);
	snap_bool(s, &vq->broken);
	snap_u16(s, &vq->last_avail);
	snap_u16(s, &vq->used_idx);
	snap_u16(s, &vq->signalled_used);
	snap_bool(s, &vq->signalled_valid);
	if (!snap_loading(s))
		return;
	if (snap_failed(s)) {
		/* a state that does not load leaves no half-set ring behind */
		vq->ready = false;
		vq->desc = vq->avail = vq->used = NULL;
		return;
	}
	bool signalled = vq->signalled_valid;
	vq->ready = false;
	if (ready && vq_enable(vq, gm) < 0)
		snap_fail(s, "queue rings outside guest RAM");
	vq->signalled_valid = signalled;
}
