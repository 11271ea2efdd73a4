/* SPDX-License-Identifier: BSD-2-Clause */
/* virtio-blk: the virtio block device (virtio 1.x "Block Device"), bhyve's
 * `-s S,virtio-blk,PATH[,ro][,nocache][,direct|sync][,nodelete][,sectorsize=L[/P]][,ser=ID]`.
 *
 * One request queue of 256 entries. A request is a descriptor chain: a 16-byte header (type,
 * reserved, sector) at the start of the device-readable part, the data (readable for writes and
 * discard segments, writable for reads and GET_ID), and the status byte as the last writable
 * byte. Reads, writes, flushes and discards go to the block backend asynchronously (several in
 * flight; they complete on the event loop in any order); GET_ID and requests that fail
 * validation complete at once.
 *
 * Validation: a chain without a 16-byte header or without a status byte is malformed (the
 * device stops until reset); everything else the guest gets wrong in a well-formed chain is
 * reported in the status byte: IOERR for a range beyond the capacity (overflow-safe), a length
 * that is not a multiple of 512, more data than seg_max * size_max (31.75 MiB), a write to a
 * read-only disk, data in the wrong direction or a
 * bad discard segment list; UNSUPP for unknown types and flags.
 *
 * Reset: every request carries the generation it was started in; reset bumps the generation,
 * and completions of older generations are dropped without touching the (reset) queue. The
 * reset does not wait for the backend: the status register reads non-zero until the backend no
 * longer touches guest buffers, and drivers wait for it to read 0 before reusing them.
 *
 * Default serial: "BHYVE-XXXX-XXXX-XXXX" from a hash of the path (blockif_serial.h), as bhyve
 * (which uses MD5; this is FNV-1a, so the digits differ from bhyve's for the same path). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/blockif.h"
#include "backends/blockif_serial.h"
#include "core/byteorder.h"
#include "config/options.h"
#include "core/log.h"
#include "core/vm.h"
#include "pci/pci.h"
#include "virtio/virtio.h"

#define VTBLK_QUEUE_SIZE 256
#define VTBLK_SEG_MAX (VTBLK_QUEUE_SIZE - 2) /* data segments besides header and status */
/* Advertised per-segment maximum. A compliant driver's request carries at most
 * VTBLK_SEG_MAX * VTBLK_SIZE_MAX bytes of data (31.75 MiB); a larger one gets IOERR, so one
 * request cannot ask for gigabytes (an indirect table may repeat one guest buffer 1024 times). */
#define VTBLK_SIZE_MAX (128u * 1024)
#define VTBLK_MAX_REQ_BYTES ((uint64_t)VTBLK_SEG_MAX * VTBLK_SIZE_MAX)
#define VTBLK_ID_BYTES 20
#define VTBLK_HDR_LEN 16
#define VTBLK_SECTOR 512u
#define VTBLK_MAX_DISCARD_SEG 32
#define VTBLK_MAX_DISCARD_SECTORS (1u << 22) /* 2 GiB per segment */
/* Chains, and bytes of data, taken per kick or completion before the rest is left to a
 * continuation timer, so a driver that keeps refilling the queue cannot hold the event loop. */
#define VTBLK_BUDGET (2 * VTBLK_QUEUE_SIZE)
#define VTBLK_BYTE_BUDGET (256ull << 20)
#define VTBLK_CONTINUE_MS 1

/* Feature bits (virtio 1.x 5.2.3) */
#define VIRTIO_BLK_F_SIZE_MAX (1ULL << 1)
#define VIRTIO_BLK_F_SEG_MAX (1ULL << 2)
#define VIRTIO_BLK_F_RO (1ULL << 5)
#define VIRTIO_BLK_F_BLK_SIZE (1ULL << 6)
#define VIRTIO_BLK_F_FLUSH (1ULL << 9)
#define VIRTIO_BLK_F_TOPOLOGY (1ULL << 10)
#define VIRTIO_BLK_F_DISCARD (1ULL << 13)

/* Request types and status values (5.2.6) */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

/* struct virtio_blk_config offsets (5.2.4) */
#define CFG_CAPACITY 0
#define CFG_SIZE_MAX 8
#define CFG_SEG_MAX 12
#define CFG_BLK_SIZE 20
#define CFG_PHYS_EXP 24
#define CFG_ALIGN_OFF 25
#define CFG_MIN_IO 26
#define CFG_OPT_IO 28
#define CFG_NUM_QUEUES 34
#define CFG_MAX_DISCARD_SECTORS 36
#define CFG_MAX_DISCARD_SEG 40
#define CFG_DISCARD_ALIGN 44
#define VTBLK_CONFIG_SIZE 60 /* through write_zeroes_may_unmap and its padding */

struct vtblk;

struct vtblk_req {
	struct vtblk *sc;
	uint64_t gen;
	uint16_t head;
	uint32_t type;
	uint8_t *status;  /* the status byte in guest memory (checked by vq_pop) */
	uint32_t written; /* bytes written into the chain, not counting the status byte */
	bool flush_after; /* write-through: FLUSH was not negotiated */
	/* discard: segments in bytes, done one after another */
	unsigned nseg, seg;
	struct {
		uint64_t off, len;
	} segs[VTBLK_MAX_DISCARD_SEG];
	struct vtblk_req *next; /* free list or waiting list */
};

struct vtblk {
	struct virtio_dev vd;
	struct virtio_dev_ops ops; /* features depend on the backend */
	struct vm *vm;
	struct blockif *bc;
	uint8_t config[VTBLK_CONFIG_SIZE];
	char ident[VTBLK_ID_BYTES]; /* GET_ID answer, zero padded, not NUL-terminated when full */
	uint64_t capacity;	    /* 512-byte sectors */
	uint64_t gen;		    /* bumped on reset */
	bool stalled;		    /* chains left in the queue because the backend was full */
	struct vtblk_req reqs[BLOCKIF_MAX_INFLIGHT];
	struct vtblk_req *free;
	/* requests whose next backend operation (discard segment, write-through flush) met a
	 * full backend: resubmitted on the next completion */
	struct vtblk_req *waiting;
	struct evloop_handle *more; /* continuation timer */
	struct vq_chain chain;	    /* scratch for vq_pop (large: kept off the stack) */
	struct iovec data[VQ_MAX_SEGS];
};

/* ---- request completion ---- */

static struct vtblk_req *req_alloc(struct vtblk *sc)
{
	struct vtblk_req *r = sc->free;
	if (r)
		sc->free = r->next;
	return r;
}

static void req_free(struct vtblk *sc, struct vtblk_req *r)
{
	r->next = sc->free;
	sc->free = r;
}

/* Write the status byte, return the chain and free the request (lock held). */
static void req_complete(struct vtblk *sc, struct vtblk_req *r, uint8_t status)
{
	*r->status = status;
	vq_push(&sc->vd.vq[0], r->head, r->written + 1);
	req_free(sc, r);
}

static void vtblk_done(void *opaque, int result);

/* Start the request's next backend operation after the first: a discard segment or the
 * write-through flush. 0, -EAGAIN (retry on the next completion) or another -errno. */
static int req_continue(struct vtblk *sc, struct vtblk_req *r)
{
	if (r->type == VIRTIO_BLK_T_DISCARD)
		return blockif_discard(sc->bc, r->segs[r->seg].off, r->segs[r->seg].len, vtblk_done,
				       r);
	return blockif_flush(sc->bc, vtblk_done, r);
}

/* A request's backend operation finished: 1 when the request is complete (status set in
 * *status), 0 when it goes on with another operation. */
static int req_step_done(struct vtblk *sc, struct vtblk_req *r, int result, uint8_t *status)
{
	if (result < 0) {
		*status = VIRTIO_BLK_S_IOERR;
		return 1;
	}
	if (r->type == VIRTIO_BLK_T_IN)
		r->written = (uint32_t)result;
	bool more = (r->type == VIRTIO_BLK_T_DISCARD && ++r->seg < r->nseg) ||
		    (r->type == VIRTIO_BLK_T_OUT && r->flush_after);
	if (!more) {
		*status = VIRTIO_BLK_S_OK;
		return 1;
	}
	r->flush_after = false; /* the flush is the write's last step */
	int e = req_continue(sc, r);
	if (e == -EAGAIN) {
		r->next = sc->waiting;
		sc->waiting = r;
		return 0;
	}
	if (e < 0) {
		*status = VIRTIO_BLK_S_IOERR;
		return 1;
	}
	return 0;
}

static void process_queue(struct vtblk *sc);

/* Backend completion, on the event-loop thread. */
static void vtblk_done(void *opaque, int result)
{
	struct vtblk_req *r = opaque;
	struct vtblk *sc = r->sc;
	struct virtio_dev *vd = &sc->vd;
	virtio_lock(vd);
	if (r->gen != sc->gen) {
		req_free(sc, r); /* started before a reset: the queue it came from is gone */
	} else {
		uint8_t status;
		if (req_step_done(sc, r, result, &status)) {
			req_complete(sc, r, status);
			virtio_interrupt_queue(vd, 0);
		}
	}
	/* a slot is free now: operations that found the backend full go first */
	struct vtblk_req *w = sc->waiting;
	sc->waiting = NULL;
	bool pushed = false;
	while (w) {
		struct vtblk_req *next = w->next;
		int e = req_continue(sc, w);
		if (e == -EAGAIN) {
			w->next = sc->waiting;
			sc->waiting = w;
		} else if (e < 0) {
			req_complete(sc, w, VIRTIO_BLK_S_IOERR);
			pushed = true;
		}
		w = next;
	}
	if (pushed)
		virtio_interrupt_queue(vd, 0);
	if (sc->stalled) {
		sc->stalled = false;
		process_queue(sc);
	}
	virtio_unlock(vd);
}

/* ---- request parsing ---- */

/* The iovecs covering bytes [off, off+len) of segments src[0..n). Returns how many. */
static unsigned iov_slice(const struct iovec *src, unsigned n, uint64_t off, uint64_t len,
			  struct iovec *dst)
{
	unsigned k = 0;
	for (unsigned i = 0; i < n && len > 0; i++) {
		if (off >= src[i].iov_len) {
			off -= src[i].iov_len;
			continue;
		}
		size_t chunk = src[i].iov_len - off;
		if (chunk > len)
			chunk = len;
		dst[k].iov_base = (uint8_t *)src[i].iov_base + off;
		dst[k].iov_len = chunk;
		k++;
		len -= chunk;
		off = 0;
	}
	return k;
}

/* Whether [sector, sector + bytes/512) lies inside the disk, without overflow. */
static bool range_ok(const struct vtblk *sc, uint64_t sector, uint64_t bytes)
{
	return sector <= sc->capacity && bytes / VTBLK_SECTOR <= sc->capacity - sector;
}

/* Validate the discard segments (readable bytes after the header) into r->segs.
 * Returns a VIRTIO_BLK_S_* status; OK means r->nseg segments are ready. */
static uint8_t parse_discard(struct vtblk *sc, struct vtblk_req *r, const struct vq_chain *c,
			     uint64_t len)
{
	if (len == 0 || len % 16)
		return VIRTIO_BLK_S_IOERR;
	uint64_t n = len / 16;
	if (n > VTBLK_MAX_DISCARD_SEG)
		return VIRTIO_BLK_S_IOERR;
	uint8_t status = VIRTIO_BLK_S_OK;
	r->nseg = 0;
	for (unsigned i = 0; i < n; i++) {
		uint8_t s[16];
		vq_chain_read(c, VTBLK_HDR_LEN + (size_t)i * 16, s, sizeof(s));
		uint64_t sector = le64_at(s);
		uint32_t num = le32_at(s + 8), flags = le32_at(s + 12);
		if (flags) /* unmap is for WRITE_ZEROES only; other bits are unknown */
			return VIRTIO_BLK_S_UNSUPP;
		if (num > VTBLK_MAX_DISCARD_SECTORS || !range_ok(sc, sector, (uint64_t)num * 512))
			status = VIRTIO_BLK_S_IOERR; /* keep looking for UNSUPP flags */
		else if (num > 0) {
			r->segs[r->nseg].off = sector * VTBLK_SECTOR;
			r->segs[r->nseg].len = (uint64_t)num * VTBLK_SECTOR;
			r->nseg++;
		}
	}
	return status;
}

/* Handle one chain. 1: completed at once (pushed); 0: handed to the backend; -1: malformed
 * (the device needs a reset). */
static int handle_chain(struct vtblk *sc, const struct vq_chain *c)
{
	struct virtio_dev *vd = &sc->vd;
	char why[160];
	if (c->read_len < VTBLK_HDR_LEN || c->write_len < 1) {
		snprintf(why, sizeof(why),
			 "request %u: %llu readable bytes (header needs %d), %llu writable (status "
			 "needs 1)",
			 c->head, (unsigned long long)c->read_len, VTBLK_HDR_LEN,
			 (unsigned long long)c->write_len);
		virtio_set_needs_reset(vd, why);
		return -1;
	}
	uint8_t hdr[VTBLK_HDR_LEN];
	vq_chain_read(c, 0, hdr, sizeof(hdr));
	const struct iovec *last = &c->iov[c->nread + c->nwrite - 1];

	struct vtblk_req *r = req_alloc(sc); /* the caller checked that one is free */
	r->sc = sc;
	r->gen = sc->gen;
	r->head = c->head;
	r->type = le32_at(hdr);
	r->status = (uint8_t *)last->iov_base + last->iov_len - 1;
	r->written = 0;
	r->flush_after = false;
	r->nseg = r->seg = 0;

	uint64_t sector = le64_at(hdr + 8);
	uint64_t out_len = c->read_len - VTBLK_HDR_LEN; /* data the device reads */
	uint64_t in_len = c->write_len - 1;		/* data the device writes */
	uint8_t status = VIRTIO_BLK_S_IOERR;
	int e = 0;
	unsigned n;

	switch (r->type) {
	case VIRTIO_BLK_T_IN:
		if (out_len || in_len % VTBLK_SECTOR || in_len > VTBLK_MAX_REQ_BYTES ||
		    !range_ok(sc, sector, in_len))
			break;
		if (in_len == 0) {
			status = VIRTIO_BLK_S_OK;
			break;
		}
		n = iov_slice(&c->iov[c->nread], c->nwrite, 0, in_len, sc->data);
		e = blockif_read(sc->bc, sc->data, (int)n, sector * VTBLK_SECTOR, vtblk_done, r);
		if (e == 0)
			return 0;
		break;
	case VIRTIO_BLK_T_OUT:
		if (blockif_is_ro(sc->bc) || in_len || out_len % VTBLK_SECTOR ||
		    out_len > VTBLK_MAX_REQ_BYTES || !range_ok(sc, sector, out_len))
			break;
		if (out_len == 0) {
			status = VIRTIO_BLK_S_OK;
			break;
		}
		n = iov_slice(c->iov, c->nread, VTBLK_HDR_LEN, out_len, sc->data);
		r->flush_after = !(vd->features & VIRTIO_BLK_F_FLUSH);
		e = blockif_write(sc->bc, sc->data, (int)n, sector * VTBLK_SECTOR, vtblk_done, r);
		if (e == 0)
			return 0;
		break;
	case VIRTIO_BLK_T_FLUSH:
		if (out_len || in_len)
			break;
		e = blockif_flush(sc->bc, vtblk_done, r);
		if (e == 0)
			return 0;
		break;
	case VIRTIO_BLK_T_GET_ID:
		if (out_len)
			break;
		r->written = (uint32_t)vq_chain_write(
		    c, 0, sc->ident, in_len < VTBLK_ID_BYTES ? (size_t)in_len : VTBLK_ID_BYTES);
		status = VIRTIO_BLK_S_OK;
		break;
	case VIRTIO_BLK_T_DISCARD:
		if (!(vd->features & VIRTIO_BLK_F_DISCARD)) {
			status = VIRTIO_BLK_S_UNSUPP;
			break;
		}
		if (in_len)
			break;
		status = parse_discard(sc, r, c, out_len);
		if (status != VIRTIO_BLK_S_OK || r->nseg == 0)
			break;
		e = blockif_discard(sc->bc, r->segs[0].off, r->segs[0].len, vtblk_done, r);
		if (e == 0)
			return 0;
		status = VIRTIO_BLK_S_IOERR;
		break;
	default:
		status = VIRTIO_BLK_S_UNSUPP;
		break;
	}
	if (e < 0) {
		kb_debug("virtio-blk: request %u (type %u): backend refused: %s", c->head, r->type,
			 strerror(-e));
		status = VIRTIO_BLK_S_IOERR;
	}
	req_complete(sc, r, status);
	return 1;
}

/* ---- queue processing ---- */

static void continue_timer(void *opaque)
{
	struct vtblk *sc = opaque;
	virtio_lock(&sc->vd);
	evloop_del(sc->vm->ev, sc->more); /* on the loop thread: safe inside its own callback */
	sc->more = NULL;
	process_queue(sc);
	virtio_unlock(&sc->vd);
}

/* Take chains while the backend has room (lock held). */
static void process_queue(struct vtblk *sc)
{
	struct virtio_dev *vd = &sc->vd;
	struct virtqueue *vq = &vd->vq[0];
	bool pushed = false;
	char err[160];
	uint64_t bytes = 0;

	if (!vd->started || (vd->status & VIRTIO_STATUS_NEEDS_RESET))
		return;
	blockif_plug(sc->bc); /* one submission for everything taken below */
	for (int budget = VTBLK_BUDGET;; budget--) {
		if (!sc->free || blockif_free_slots(sc->bc) == 0) {
			sc->stalled = vq_has_work(vq); /* the next completion comes back here */
			break;
		}
		if (budget == 0 || bytes >= VTBLK_BYTE_BUDGET) {
			if (vq_has_work(vq) && !sc->more && sc->vm && sc->vm->ev)
				sc->more = evloop_add_timer(sc->vm->ev, VTBLK_CONTINUE_MS, 0,
							    continue_timer, sc);
			break;
		}
		int rc = vq_pop(vq, &sc->chain, err, sizeof(err));
		if (rc == 0)
			break;
		if (rc < 0) {
			virtio_set_needs_reset(vd, err);
			break;
		}
		bytes += sc->chain.read_len + sc->chain.write_len;
		rc = handle_chain(sc, &sc->chain);
		if (rc < 0)
			break;
		pushed |= rc == 1;
	}
	blockif_unplug(sc->bc);
	if (pushed)
		virtio_interrupt_queue(vd, 0);
}

static void vtblk_notify(struct virtio_dev *vd, int q)
{
	if (q == 0)
		process_queue(vd->priv);
}

static void vtblk_reset(struct virtio_dev *vd)
{
	struct vtblk *sc = vd->priv;
	sc->gen++;
	sc->stalled = false;
	/* waiting requests belong to the old generation: drop them now */
	while (sc->waiting) {
		struct vtblk_req *r = sc->waiting;
		sc->waiting = r->next;
		req_free(sc, r);
	}
	/* Requests still in the backend may write into the old buffers: the transport keeps the
	 * status register non-zero until vtblk_quiesced (the reset does not wait here: it runs
	 * on a vCPU thread holding the device lock, which the event loop's completions take). */
}

static bool vtblk_quiesced(struct virtio_dev *vd)
{
	struct vtblk *sc = vd->priv;
	return !sc->bc || blockif_idle(sc->bc);
}

/* Checkpoint: the queue is paused; done when every request is back in the free list (its
 * status pushed to the guest) and none waits for the backend. */
static bool vtblk_drained(struct virtio_dev *vd)
{
	struct vtblk *sc = vd->priv;
	unsigned n = 0;
	for (struct vtblk_req *r = sc->free; r; r = r->next)
		n++;
	return n == BLOCKIF_MAX_INFLIGHT && !sc->waiting;
}

/* ---- configuration space ---- */

static void fill_config(struct vtblk *sc)
{
	uint8_t *c = sc->config;
	unsigned ss = blockif_sectsz(sc->bc), ps = blockif_psectsz(sc->bc);
	unsigned exp = 0;
	while ((ss << exp) < ps)
		exp++;
	memset(c, 0, VTBLK_CONFIG_SIZE);
	put_le64(c + CFG_CAPACITY, sc->capacity);
	put_le32(c + CFG_SIZE_MAX, VTBLK_SIZE_MAX);
	put_le32(c + CFG_SEG_MAX, VTBLK_SEG_MAX);
	put_le32(c + CFG_BLK_SIZE, ss);
	c[CFG_PHYS_EXP] = (uint8_t)exp;
	c[CFG_ALIGN_OFF] = 0;
	put_le16(c + CFG_MIN_IO, (uint16_t)(1u << exp)); /* one physical sector, in blocks */
	put_le32(c + CFG_OPT_IO, 0);
	put_le16(c + CFG_NUM_QUEUES, 1);
	if (sc->ops.features & VIRTIO_BLK_F_DISCARD) {
		put_le32(c + CFG_MAX_DISCARD_SECTORS, VTBLK_MAX_DISCARD_SECTORS);
		put_le32(c + CFG_MAX_DISCARD_SEG, VTBLK_MAX_DISCARD_SEG);
		put_le32(c + CFG_DISCARD_ALIGN, ss / VTBLK_SECTOR);
	}
}

/* Nothing here is writable (no CONFIG_WCE): undo what the transport stored. */
static void vtblk_config_written(struct virtio_dev *vd, uint32_t off, uint32_t len)
{
	fill_config(vd->priv);
}

/* ---- creation ---- */

static void default_ident(const char *path, char *ident)
{
	char buf[BLOCKIF_SERIAL_LEN + 1];
	blockif_default_serial(path, buf);
	memcpy(ident, buf, VTBLK_ID_BYTES);
}

static void vtblk_destroy(void *opaque)
{
	struct vtblk *sc = opaque;
	blockif_close(sc->bc); /* waits for the I/O; undelivered completions are dropped */
	if (sc->more)
		evloop_del(sc->vm->ev, sc->more);
	free(sc);
}

/* `-s S,virtio-blk,PATH[,opts]`: a first field without '=' is the path; `path=...` works too. */
static int vtblk_legacy_config(struct cfgnode *devnode, const char *opts)
{
	if (!opts || !*opts)
		return 0; /* init reports the missing path */
	size_t n = strcspn(opts, ",");
	if (n == 0) {
		kb_log("virtio-blk: empty path in '%s'", opts);
		return -EINVAL;
	}
	if (memchr(opts, '=', n))
		return pci_parse_legacy_config(devnode, opts);
	char *path = strndup(opts, n);
	if (!path)
		return -ENOMEM;
	int r = config_set(devnode, "path", path);
	free(path);
	if (r == 0 && opts[n] == ',')
		r = pci_parse_legacy_config(devnode, opts + n + 1);
	return r;
}

static const char *const known_keys[] = {"device", "path",     "ro",	   "nocache",
					 "direct", "sync",     "nodelete", "sectorsize",
					 "ser",	   "bootindex"};

static int check_keys(struct cfgnode *devnode)
{
	for (struct cfgnode *n = config_first_child(devnode); n; n = config_next_sibling(n)) {
		bool known = false;
		for (size_t i = 0; i < sizeof(known_keys) / sizeof(known_keys[0]); i++)
			known |= strcmp(config_name(n), known_keys[i]) == 0;
		if (!known || !config_is_leaf(n)) {
			kb_log("virtio-blk: unknown option '%s' (known: path, ro, nocache, direct, "
			       "sync, nodelete, sectorsize, ser, bootindex)",
			       config_name(n));
			return -EINVAL;
		}
	}
	return 0;
}

static int vtblk_init(struct vm *vm, struct pci_dev *pd, struct cfgnode *devnode)
{
	char err[256];
	if (check_keys(devnode) < 0)
		return -EINVAL;
	const char *ser = config_get(devnode, "ser");
	if (ser && strlen(ser) > VTBLK_ID_BYTES) {
		kb_log("virtio-blk: ser=%s: at most %d characters", ser, VTBLK_ID_BYTES);
		return -EINVAL;
	}
	struct blockif_opts o;
	int rc = blockif_opts_from_config(devnode, &o, err, sizeof(err));
	if (rc < 0) {
		kb_log("virtio-blk: %s", err);
		return rc;
	}
	struct vtblk *sc = calloc(1, sizeof(*sc));
	if (!sc) {
		blockif_opts_free(&o);
		return -ENOMEM;
	}
	sc->vm = vm;
	/* registered before the transport's hook, so it runs after it (last registered first) */
	rc = vm_at_destroy(vm, vtblk_destroy, sc);
	if (rc) {
		free(sc);
		blockif_opts_free(&o);
		return rc;
	}
	rc = blockif_open(&o, vm->ev, &sc->bc, err, sizeof(err));
	if (rc < 0) {
		kb_log("virtio-blk: %s", err);
		blockif_opts_free(&o);
		return rc;
	}
	if (ser)
		memcpy(sc->ident, ser, strlen(ser)); /* <= 20 bytes, zero padded (calloc) */
	else
		default_ident(o.path, sc->ident);
	blockif_opts_free(&o);

	unsigned ss = blockif_sectsz(sc->bc);
	sc->capacity = blockif_size(sc->bc) / ss * (ss / VTBLK_SECTOR);
	for (int i = BLOCKIF_MAX_INFLIGHT - 1; i >= 0; i--)
		req_free(sc, &sc->reqs[i]);

	sc->ops = (struct virtio_dev_ops){
	    .name = "virtio-blk",
	    .device_id = VIRTIO_ID_BLOCK,
	    .pci_class = 0x018000, /* mass storage, other */
	    .nqueues = 1,
	    .queue_size = VTBLK_QUEUE_SIZE,
	    .features = VIRTIO_BLK_F_SIZE_MAX | VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_BLK_SIZE |
			VIRTIO_BLK_F_TOPOLOGY | VIRTIO_BLK_F_FLUSH,
	    .config_size = VTBLK_CONFIG_SIZE,
	    .config_written = vtblk_config_written,
	    .notify = vtblk_notify,
	    .reset = vtblk_reset,
	    .quiesced = vtblk_quiesced,
	    .drained = vtblk_drained,
	};
	if (blockif_is_ro(sc->bc))
		sc->ops.features |= VIRTIO_BLK_F_RO;
	if (blockif_candelete(sc->bc))
		sc->ops.features |= VIRTIO_BLK_F_DISCARD;
	fill_config(sc);
	sc->vd.ops = &sc->ops;
	sc->vd.priv = sc;
	sc->vd.config = sc->config;
	return virtio_pci_create(vm, pd, &sc->vd);
}

static const struct pci_devemu vtblk_emu = {
    .name = "virtio-blk",
    .legacy_config = vtblk_legacy_config,
    .init = vtblk_init,
    VIRTIO_PCI_HOOKS,
};
PCI_EMUL(vtblk_emu);
