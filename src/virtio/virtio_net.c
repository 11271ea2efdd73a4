/* SPDX-License-Identifier: BSD-2-Clause */
/* virtio-net: the network device (virtio 1.x "Network Device"), bhyve's
 * `-s S,virtio-net,BACKEND[,mac=xx:xx:xx:xx:xx:xx][,mtu=N]` (backends: backends/netbe.h).
 *
 * Queues: 0 receive, 1 transmit; no control queue. Every frame starts with the 12-byte
 * struct virtio_net_hdr_mrg_rxbuf (the transport insists on VERSION_1).
 *
 * Offloads pass through: a tap carries the same header, so checksum and segmentation offloads
 * are offered to the guest exactly as far as the tap accepted them when probed (CSUM/GUEST_CSUM,
 * HOST/GUEST_TSO4, TSO6, ECN, UFO), and at DRIVER_OK the tap is told which the guest takes
 * (TUNSETOFFLOAD). Backends without headers (a packet socket) get plain frames and the guest no
 * offloads: headers are stripped on transmit and made up on receive.
 *
 * Transmit: on a kick, each chain's device-readable part (header + frame) is written to the
 * backend in one call and returned with length 0. Sending never blocks: what the backend cannot
 * take is dropped and counted there.
 *
 * Receive: frames are read straight into the guest's buffers. The device pops receive chains
 * ahead and keeps them (in order) until a frame has used them:
 *   - with MRG_RXBUF, enough chains to hold the largest frame a tap can produce (64 KiB GSO +
 *     Ethernet + VLAN + header) and one readv() over all of them; the frame takes as many as it
 *     needs (num_buffers in the header), the rest wait for the next frame. When the guest has
 *     not posted that much, the frame goes through a bounce buffer and is copied once enough
 *     buffers are there (or dropped when every buffer the ring can hold would not do).
 *   - without it, one chain per frame; a frame larger than the chain is dropped and counted
 *     (one spare byte after the chain tells a cut frame from one that fit exactly).
 * With no buffers, the device stops reading the backend (frames wait in the tap's queue) until
 * the guest kicks the receive queue.
 *
 * Transmit headers are checked before a header-carrying backend sees them: checksum and
 * segmentation requests must match offloads the driver negotiated, else the frame is dropped
 * (and counted); the backend gets the device's copy of the header, not the guest's memory. A
 * frame longer than VTNET_MAX_FRAME is dropped too.
 *
 * Malformed requests stop the device until reset: a transmit chain shorter than the header, a
 * receive chain with less writable space than the header. Work per event is bounded
 * (VTNET_BUDGET frames) so that one busy queue cannot starve the event loop.
 *
 * MAC: mac= (unicast) or a stable address in bhyve's 58:9c:fc OUI from the VM name and PCI
 * address. MTU: mtu= (68..65535) is advertised with VIRTIO_NET_F_MTU; without it the config field
 * still says 1500 and the feature is not offered (as bhyve). Link status: always up (as bhyve).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "backends/netbe.h"
#include "core/byteorder.h"
#include "config/config.h"
#include "core/log.h"
#include "core/vm.h"
#include "pci/pci.h"
#include "virtio/virtio.h"

/* Feature bits (virtio 1.x 5.1.3) */
#define VIRTIO_NET_F_CSUM (1ULL << 0)
#define VIRTIO_NET_F_GUEST_CSUM (1ULL << 1)
#define VIRTIO_NET_F_MTU (1ULL << 3)
#define VIRTIO_NET_F_MAC (1ULL << 5)
#define VIRTIO_NET_F_GUEST_TSO4 (1ULL << 7)
#define VIRTIO_NET_F_GUEST_TSO6 (1ULL << 8)
#define VIRTIO_NET_F_GUEST_ECN (1ULL << 9)
#define VIRTIO_NET_F_GUEST_UFO (1ULL << 10)
#define VIRTIO_NET_F_HOST_TSO4 (1ULL << 11)
#define VIRTIO_NET_F_HOST_TSO6 (1ULL << 12)
#define VIRTIO_NET_F_HOST_ECN (1ULL << 13)
#define VIRTIO_NET_F_HOST_UFO (1ULL << 14)
#define VIRTIO_NET_F_MRG_RXBUF (1ULL << 15)
#define VIRTIO_NET_F_STATUS (1ULL << 16)

#define VIRTIO_NET_S_LINK_UP 1

/* struct virtio_net_config: mac[6], status, max_virtqueue_pairs, mtu (le16 each) */
#define VTNET_CFG_MAC 0
#define VTNET_CFG_STATUS 6
#define VTNET_CFG_MAX_VQ_PAIRS 8
#define VTNET_CFG_MTU 10
#define VTNET_CONFIG_SIZE 12

/* struct virtio_net_hdr: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset,
 * num_buffers (virtio 1.x / MRG_RXBUF only) */
#define VTNET_HDR_FLAGS 0
#define VTNET_HDR_GSO_TYPE 1
#define VTNET_HDR_GSO_SIZE 4
#define VTNET_HDR_CSUM_START 6
#define VTNET_HDR_CSUM_OFFSET 8
#define VTNET_HDR_NUM_BUFFERS 10
#define VTNET_HDR_F_NEEDS_CSUM 1
#define VTNET_HDR_GSO_NONE 0
#define VTNET_HDR_GSO_TCPV4 1
#define VTNET_HDR_GSO_UDP 3
#define VTNET_HDR_GSO_TCPV6 4
#define VTNET_HDR_GSO_ECN 0x80

#define VTNET_RXQ 0
#define VTNET_TXQ 1
#define VTNET_QUEUE_SIZE 1024 /* bhyve's VTNET_RINGSZ */
#define VTNET_BUDGET 256      /* frames per queue and event */
#define VTNET_MIN_MTU 68
#define VTNET_MAX_MTU 65535
#define VTNET_DEFAULT_MTU 1500

/* The largest frame a tap hands over: a 64 KiB GSO frame plus Ethernet and VLAN headers. */
#define VTNET_MAX_FRAME (65536 + 14 + 4)
/* What the receive cache aims at with MRG_RXBUF: the largest frame with its header. */
#define VTNET_RX_TARGET (NETBE_VNET_HDR_MRG_LEN + VTNET_MAX_FRAME)
/* Writable segments kept in the cache: the cache stops growing past VQ_MAX_SEGS, and one more
 * chain can add VQ_MAX_SEGS - 1 beyond that. */
#define VTNET_RX_SEGS (2 * VQ_MAX_SEGS)
/* Segments one readv() may take, keeping one for the spare byte. */
#define VTNET_READV_SEGS (IOV_MAX - 1)

/* A receive chain popped ahead: its writable segments are iov[first, first + nseg). */
struct rx_buf {
	uint16_t head;
	unsigned first, nseg;
	uint64_t len;
};

struct vtnet {
	struct virtio_dev vd;
	struct virtio_dev_ops ops; /* features depend on the backend and mtu= */
	struct vm *vm;
	char name[40]; /* "virtio-net 0:3.0" */
	struct net_backend *be;
	uint8_t config[VTNET_CONFIG_SIZE];
	uint8_t config_orig[VTNET_CONFIG_SIZE]; /* the config space is read-only to the driver */

	/* from the negotiated features, set at DRIVER_OK */
	size_t hdr_len;
	bool mrg;	 /* MRG_RXBUF */
	bool be_hdr;	 /* the backend carries the header */
	bool guest_csum; /* GUEST_CSUM: header flags go to the guest as the tap set them */

	/* receive chains popped ahead, oldest first */
	struct rx_buf bufs[VQ_MAX_SIZE];
	unsigned nbufs;
	struct iovec seg[VTNET_RX_SEGS];
	unsigned nseg;
	uint64_t cache_len;
	bool rx_paused; /* waiting for the guest to post buffers */
	/* a frame read before there was room for it (MRG_RXBUF only) */
	uint8_t *bounce;
	size_t held_len;
	bool held;
	uint8_t spare; /* one byte after the buffers: a frame that reaches it did not fit */
	struct iovec rd[IOV_MAX];

	/* transmit through a header-carrying backend: our checked copy of the header, then the
	 * frame's segments */
	uint8_t tx_hdr[NETBE_VNET_HDR_MRG_LEN];
	struct iovec txv[VQ_MAX_SEGS + 1];
	struct kb_ratelimit tx_hdr_log; /* transmit requests dropped for their header or size */

	int more_fd; /* eventfd: transmit work left over from a kick */
	struct evloop_handle *more_h;
	uint64_t tx_dropped;   /* frames not sent: no backend, or empty */
	struct vq_chain chain; /* scratch for vq_pop (large: kept off the stack) */
};

/* Write `len` bytes at offset `off` of a segment list. */
static void iov_put(const struct iovec *iov, unsigned n, size_t off, const void *src, size_t len)
{
	const uint8_t *s = src;
	for (unsigned i = 0; i < n && len; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		size_t chunk = iov[i].iov_len - off;
		if (chunk > len)
			chunk = len;
		memcpy((uint8_t *)iov[i].iov_base + off, s, chunk);
		s += chunk;
		len -= chunk;
		off = 0;
	}
}

/* Copy segments [0, n) to dst without their first `skip` bytes. Returns the count. */
static unsigned iov_slice(struct iovec *dst, const struct iovec *src, unsigned n, size_t skip)
{
	unsigned k = 0;
	for (unsigned i = 0; i < n; i++) {
		if (skip >= src[i].iov_len) {
			skip -= src[i].iov_len;
			continue;
		}
		dst[k].iov_base = (uint8_t *)src[i].iov_base + skip;
		dst[k].iov_len = src[i].iov_len - skip;
		skip = 0;
		k++;
	}
	return k;
}

static bool stopped(struct vtnet *n)
{
	return !n->vd.started || (n->vd.status & VIRTIO_STATUS_NEEDS_RESET);
}

static void rx_pause(struct vtnet *n)
{
	if (!n->rx_paused && n->be)
		netbe_rx_pause(n->be);
	n->rx_paused = true;
}

static void rx_drop_cache(struct vtnet *n)
{
	n->nbufs = n->nseg = 0;
	n->cache_len = 0;
	n->held = false;
	n->held_len = 0;
}

/* ---- receive ---- */

/* Pop receive chains into the cache: with MRG_RXBUF until it holds VTNET_RX_TARGET bytes, else
 * one chain. 1: nothing more is needed or can be held; 0: the ring ran dry; -1: the guest
 * posted a malformed chain (the device now needs a reset). */
static int rx_refill(struct vtnet *n)
{
	struct virtqueue *vq = &n->vd.vq[VTNET_RXQ];
	char err[160];
	for (;;) {
		if (n->mrg ? n->cache_len >= VTNET_RX_TARGET : n->nbufs > 0)
			return 1;
		/* full: the segment array, or every chain the ring has is here already */
		if (n->nseg >= VQ_MAX_SEGS || n->nbufs >= VQ_MAX_SIZE || n->nbufs >= vq->size)
			return 1;
		int rc = vq_pop(vq, &n->chain, err, sizeof(err));
		if (rc == 0)
			return 0;
		if (rc < 0) {
			virtio_set_needs_reset(&n->vd, err);
			return -1;
		}
		struct vq_chain *c = &n->chain;
		if (c->write_len < n->hdr_len) {
			snprintf(
			    err, sizeof(err),
			    "receive buffer %u has %llu writable bytes, less than the %zu-byte "
			    "header",
			    c->head, (unsigned long long)c->write_len, n->hdr_len);
			virtio_set_needs_reset(&n->vd, err);
			return -1;
		}
		/* device-readable segments have no use here: only the writable part is kept */
		struct rx_buf *b = &n->bufs[n->nbufs++];
		b->head = c->head;
		b->first = n->nseg;
		b->nseg = c->nwrite;
		b->len = c->write_len;
		memcpy(&n->seg[n->nseg], &c->iov[c->nread], sizeof(struct iovec) * c->nwrite);
		n->nseg += c->nwrite;
		n->cache_len += c->write_len;
	}
}

/* Remove the k oldest chains from the cache. */
static void rx_consume(struct vtnet *n, unsigned k)
{
	if (k == 0)
		return;
	unsigned segs = 0;
	uint64_t len = 0;
	for (unsigned i = 0; i < k; i++) {
		segs += n->bufs[i].nseg;
		len += n->bufs[i].len;
	}
	memmove(n->bufs, n->bufs + k, sizeof(n->bufs[0]) * (n->nbufs - k));
	n->nbufs -= k;
	memmove(n->seg, n->seg + segs, sizeof(n->seg[0]) * (n->nseg - segs));
	n->nseg -= segs;
	for (unsigned i = 0; i < n->nbufs; i++)
		n->bufs[i].first -= segs;
	n->cache_len -= len;
}

/* A frame of `total` bytes (header included) now lies at the start of the cached buffers:
 * complete its header and return the chains it used to the guest. */
static void rx_complete(struct vtnet *n, size_t total)
{
	struct virtqueue *vq = &n->vd.vq[VTNET_RXQ];
	unsigned k = 0;
	uint64_t left = total;
	while (left > 0 && k < n->nbufs) {
		left -= left < n->bufs[k].len ? left : n->bufs[k].len;
		k++;
	}
	if (!n->be_hdr) {
		uint8_t hdr[NETBE_VNET_HDR_MRG_LEN] = {0}; /* no offloads: flags 0, GSO_NONE */
		iov_put(n->seg, n->bufs[0].nseg, 0, hdr, n->hdr_len);
	} else if (!n->guest_csum) {
		/* the tap may mark checksums as verified; without GUEST_CSUM flags must be 0 */
		uint8_t zero = 0;
		iov_put(n->seg, n->bufs[0].nseg, VTNET_HDR_FLAGS, &zero, 1);
	}
	if (n->hdr_len >= NETBE_VNET_HDR_MRG_LEN) {
		uint8_t nb[2];
		put_le16(nb, (uint16_t)k);
		iov_put(n->seg, n->bufs[0].nseg, VTNET_HDR_NUM_BUFFERS, nb, 2);
	}
	left = total;
	for (unsigned i = 0; i < k; i++) {
		uint64_t part = left < n->bufs[i].len ? left : n->bufs[i].len;
		vq_push(vq, n->bufs[i].head, (uint32_t)part);
		left -= part;
	}
	rx_consume(n, k);
}

/* Deliver the frame held in the bounce buffer. 1: delivered or dropped; 0: waiting for more
 * buffers; -1: malformed ring. */
static int rx_deliver_held(struct vtnet *n)
{
	int rc = rx_refill(n);
	if (rc < 0)
		return -1;
	uint64_t room = n->mrg ? n->cache_len : (n->nbufs ? n->bufs[0].len : 0);
	if (room < n->held_len) {
		/* without MRG_RXBUF a chain is all a frame gets; with it, waiting helps only while
		 * the ring can still hand over more */
		if ((!n->mrg && n->nbufs > 0) || (n->mrg && rc == 1)) {
			n->held = false;
			if (n->be)
				netbe_count_rx_drop(n->be);
			return 1;
		}
		return 0;
	}
	size_t off = 0;
	for (unsigned i = 0; i < n->nbufs && off < n->held_len; i++) {
		const struct rx_buf *b = &n->bufs[i];
		for (unsigned s = b->first; s < b->first + b->nseg && off < n->held_len; s++) {
			size_t chunk = n->seg[s].iov_len;
			if (chunk > n->held_len - off)
				chunk = n->held_len - off;
			memcpy(n->seg[s].iov_base, n->bounce + off, chunk);
			off += chunk;
		}
	}
	n->held = false;
	rx_complete(n, n->held_len);
	return 1;
}

/* Read one frame into the bounce buffer and deliver it from there. Same returns as
 * netbe_recv() for nothing (0) or an error (< 0); 1 when a frame was taken. */
static int rx_read_bounce(struct vtnet *n)
{
	size_t skip = n->be_hdr ? 0 : n->hdr_len;
	size_t cap = (n->be_hdr ? n->hdr_len : 0) + VTNET_MAX_FRAME;
	if (!n->bounce) {
		n->bounce = malloc(NETBE_VNET_HDR_MRG_LEN + VTNET_MAX_FRAME + 1);
		if (!n->bounce)
			return -ENOMEM;
	}
	struct iovec v = {n->bounce + skip, cap + 1};
	ssize_t got = netbe_recv(n->be, &v, 1);
	if (got <= 0)
		return (int)got;
	if ((size_t)got > cap || (n->be_hdr && (size_t)got < n->hdr_len)) {
		netbe_count_rx_drop(n->be);
		return 1;
	}
	memset(n->bounce, 0, skip);
	n->held = true;
	n->held_len = (size_t)got + skip;
	return 1;
}

/* Read one frame straight into the cached buffers when they can take any frame (or, without
 * MRG_RXBUF, into the next chain), else through the bounce buffer. 1: a frame was taken
 * (delivered, held or dropped); 0: the backend has nothing; < 0: backend error. */
static int rx_read(struct vtnet *n)
{
	unsigned k = 0, segs = 0;
	uint64_t cap = 0;
	unsigned limit = n->mrg ? n->nbufs : 1;
	while (k < limit && segs + n->bufs[k].nseg <= VTNET_READV_SEGS &&
	       (!n->mrg || cap < VTNET_RX_TARGET)) {
		segs += n->bufs[k].nseg;
		cap += n->bufs[k].len;
		k++;
	}
	bool direct = k > 0 && (n->mrg ? cap >= VTNET_RX_TARGET : true);
	if (!direct)
		return rx_read_bounce(n);

	size_t skip = n->be_hdr ? 0 : n->hdr_len;
	unsigned cnt = iov_slice(n->rd, n->seg, segs, skip);
	n->rd[cnt].iov_base = &n->spare;
	n->rd[cnt].iov_len = 1;
	ssize_t got = netbe_recv(n->be, n->rd, (int)cnt + 1);
	if (got <= 0)
		return (int)got;
	size_t total = (size_t)got + skip;
	if (total > cap || total < n->hdr_len) {
		netbe_count_rx_drop(n->be); /* larger than the buffer (or a runt header) */
		return 1;
	}
	rx_complete(n, total);
	return 1;
}

/* Move frames from the backend to the guest. Device lock held. */
static void rx_run(struct vtnet *n)
{
	struct virtqueue *vq = &n->vd.vq[VTNET_RXQ];
	if (!n->be)
		return;
	/* no buffers may be written without Bus Master Enable: frames wait in the backend until
	 * the driver starts the device again (or kicks the receive queue) */
	if (stopped(n) || !virtio_bus_master(&n->vd)) {
		rx_pause(n);
		return;
	}
	uint16_t used_before = vq->used_idx;
	for (int budget = VTNET_BUDGET; budget > 0; budget--) {
		if (n->held) {
			int rc = rx_deliver_held(n);
			if (rc < 0) {
				rx_pause(n);
				break;
			}
			if (rc == 0) {
				rx_pause(n); /* resumed by the next receive kick */
				break;
			}
			continue;
		}
		int rc = rx_refill(n);
		if (rc < 0) {
			rx_pause(n);
			break;
		}
		if (n->nbufs == 0) {
			rx_pause(n); /* no buffers: frames wait in the backend */
			break;
		}
		if (rx_read(n) <= 0)
			break; /* nothing waiting, or the backend failed (it logged why) */
	}
	if (vq->used_idx != used_before)
		virtio_interrupt_queue(&n->vd, VTNET_RXQ);
}

/* The backend has frames (event-loop thread). */
static void vtnet_backend_rx(void *opaque)
{
	struct vtnet *n = opaque;
	virtio_lock(&n->vd);
	rx_run(n);
	virtio_unlock(&n->vd);
}

/* ---- transmit ---- */

/* Whether a transmit header asks only for offloads the driver negotiated, so that the host
 * kernel never sees a GSO or checksum request the guest was not offered (virtio 1.x 5.1.6.2).
 * `frame_len`: bytes after the header. On refusal, *why says what is wrong. */
static bool tx_hdr_ok(const struct vtnet *n, const uint8_t *h, uint64_t frame_len, const char **why)
{
	uint64_t f = n->vd.features;
	uint8_t flags = h[VTNET_HDR_FLAGS], gso = h[VTNET_HDR_GSO_TYPE];
	if (flags & ~VTNET_HDR_F_NEEDS_CSUM) {
		*why = "flags other than NEEDS_CSUM";
		return false;
	}
	if (flags & VTNET_HDR_F_NEEDS_CSUM) {
		uint32_t at = (uint32_t)le16_at(h + VTNET_HDR_CSUM_START) +
			      le16_at(h + VTNET_HDR_CSUM_OFFSET);
		if (!(f & VIRTIO_NET_F_CSUM)) {
			*why = "checksum offload without CSUM";
			return false;
		}
		if ((uint64_t)at + 2 > frame_len) {
			*why = "checksum field beyond the frame";
			return false;
		}
	}
	uint64_t need;
	switch (gso & ~VTNET_HDR_GSO_ECN) {
	case VTNET_HDR_GSO_NONE:
		if (gso & VTNET_HDR_GSO_ECN) {
			*why = "ECN without segmentation";
			return false;
		}
		return true;
	case VTNET_HDR_GSO_TCPV4:
		need = VIRTIO_NET_F_HOST_TSO4;
		break;
	case VTNET_HDR_GSO_TCPV6:
		need = VIRTIO_NET_F_HOST_TSO6;
		break;
	case VTNET_HDR_GSO_UDP:
		need = VIRTIO_NET_F_HOST_UFO;
		break;
	default:
		*why = "unknown segmentation type";
		return false;
	}
	if (gso & VTNET_HDR_GSO_ECN)
		need |= VIRTIO_NET_F_HOST_ECN;
	if ((f & need) != need) {
		*why = "segmentation offload that was not negotiated";
		return false;
	}
	if (!(flags & VTNET_HDR_F_NEEDS_CSUM) || le16_at(h + VTNET_HDR_GSO_SIZE) == 0) {
		*why = "segmentation without checksum offload or segment size";
		return false;
	}
	return true;
}

/* Send one chain through a header-carrying backend: the header is read once, checked, and our
 * copy is what the backend gets (the guest cannot change it after the check). */
static void tx_send_with_hdr(struct vtnet *n, const struct vq_chain *c)
{
	vq_chain_read(c, 0, n->tx_hdr, n->hdr_len);
	const char *why = NULL;
	unsigned cnt = iov_slice(n->txv + 1, c->iov, c->nread, n->hdr_len);
	if (!tx_hdr_ok(n, n->tx_hdr, c->read_len - n->hdr_len, &why)) {
		n->tx_dropped++;
		kb_guest_log(&n->tx_hdr_log,
			     "%s: transmit request %u dropped: its header asks for %s", n->name,
			     c->head, why);
		return;
	}
	if (cnt + 1 > IOV_MAX) {
		n->tx_dropped++; /* cannot happen for a frame the guest's driver builds */
		return;
	}
	if (n->hdr_len >= NETBE_VNET_HDR_MRG_LEN)
		memset(n->tx_hdr + VTNET_HDR_NUM_BUFFERS, 0, 2); /* receive-only field */
	n->txv[0].iov_base = n->tx_hdr;
	n->txv[0].iov_len = n->hdr_len;
	netbe_send(n->be, n->txv, (int)cnt + 1);
}

static void tx_run(struct vtnet *n)
{
	struct virtio_dev *vd = &n->vd;
	struct virtqueue *vq = &vd->vq[VTNET_TXQ];
	struct vq_chain *c = &n->chain;
	bool pushed = false;
	char err[160];

	if (stopped(n))
		return;
	for (int budget = VTNET_BUDGET; budget > 0; budget--) {
		int rc = vq_pop(vq, c, err, sizeof(err));
		if (rc == 0)
			break;
		if (rc < 0) {
			virtio_set_needs_reset(vd, err);
			break;
		}
		if (c->read_len < n->hdr_len) {
			snprintf(
			    err, sizeof(err),
			    "transmit request %u has %llu readable bytes, less than the %zu-byte "
			    "header",
			    c->head, (unsigned long long)c->read_len, n->hdr_len);
			virtio_set_needs_reset(vd, err);
			break;
		}
		if (!n->be || (!n->be_hdr && c->read_len == n->hdr_len)) {
			n->tx_dropped++; /* no backend, or an empty frame */
		} else if (c->read_len - n->hdr_len > VTNET_MAX_FRAME) {
			/* larger than any frame (64 KiB GSO included): the backend never sees it,
			 * so one kick cannot hand it gigabytes */
			n->tx_dropped++;
			kb_guest_log(&n->tx_hdr_log, "%s: transmit request %u dropped: %llu bytes",
				     n->name, c->head,
				     (unsigned long long)(c->read_len - n->hdr_len));
		} else if (n->be_hdr) {
			tx_send_with_hdr(n, c);
		} else {
			/* a backend without headers: the frame only (offloads were not offered) */
			unsigned cnt = iov_slice(c->iov, c->iov, c->nread, n->hdr_len);
			netbe_send(n->be, c->iov, (int)cnt);
		}
		vq_push(vq, c->head, 0);
		pushed = true;
	}
	if (pushed)
		virtio_interrupt_queue(vd, VTNET_TXQ);
	/* Left-over requests are served from the event loop, not on the next kick: with EVENT_IDX
	 * the driver may have been told not to kick for them. */
	if (vq_has_work(vq) && !stopped(n) && n->more_fd >= 0) {
		uint64_t one = 1;
		if (write(n->more_fd, &one, sizeof(one)) < 0)
			kb_debug("%s: cannot schedule transmit work", n->name);
	}
}

static void tx_more_event(int fd, uint32_t events, void *opaque)
{
	struct vtnet *n = opaque;
	uint64_t v;
	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return;
	virtio_lock(&n->vd);
	tx_run(n);
	virtio_unlock(&n->vd);
}

/* ---- virtio callbacks ---- */

static void vtnet_notify(struct virtio_dev *vd, int q)
{
	struct vtnet *n = vd->priv;
	if (q == VTNET_TXQ) {
		tx_run(n);
	} else if (q == VTNET_RXQ && n->be) {
		/* new buffers: deliver a held frame, then read again */
		if (n->rx_paused && !stopped(n)) {
			n->rx_paused = false;
			netbe_rx_resume(n->be);
		}
		rx_run(n);
	}
}

static unsigned guest_offloads(uint64_t f)
{
	if (!(f & VIRTIO_NET_F_GUEST_CSUM))
		return 0;
	unsigned off = NETBE_OFFLOAD_CSUM;
	if (f & VIRTIO_NET_F_GUEST_TSO4)
		off |= NETBE_OFFLOAD_TSO4;
	if (f & VIRTIO_NET_F_GUEST_TSO6)
		off |= NETBE_OFFLOAD_TSO6;
	if ((f & VIRTIO_NET_F_GUEST_ECN) && (off & (NETBE_OFFLOAD_TSO4 | NETBE_OFFLOAD_TSO6)))
		off |= NETBE_OFFLOAD_ECN;
	if (f & VIRTIO_NET_F_GUEST_UFO)
		off |= NETBE_OFFLOAD_UFO;
	return off;
}

static int vtnet_start(struct virtio_dev *vd)
{
	struct vtnet *n = vd->priv;
	uint64_t f = vd->features;
	n->mrg = f & VIRTIO_NET_F_MRG_RXBUF;
	n->hdr_len = (f & (VIRTIO_F_VERSION_1 | VIRTIO_NET_F_MRG_RXBUF)) ? NETBE_VNET_HDR_MRG_LEN
									 : NETBE_VNET_HDR_LEN;
	n->guest_csum = f & VIRTIO_NET_F_GUEST_CSUM;
	rx_drop_cache(n);
	if (!n->be)
		return 0;
	if (n->be_hdr) {
		int rc = netbe_set_vnet_hdr_len(n->be, n->hdr_len);
		if (rc == 0)
			rc = netbe_set_offload(n->be, guest_offloads(f) & netbe_offloads(n->be));
		if (rc < 0) {
			kb_log("%s: cannot configure %s for the negotiated features: %s", n->name,
			       netbe_describe(n->be), strerror(-rc));
			return rc;
		}
	}
	n->rx_paused = false;
	netbe_rx_resume(n->be);
	return 0;
}

/* Checkpoint: receive chains popped ahead go back to the ring (they are the last ones taken, in
 * order), so the saved queue owes the guest nothing; reading the backend stops until resume. A
 * frame held for lack of room is dropped, as a full ring would. */
static void vtnet_pause(struct virtio_dev *vd)
{
	struct vtnet *n = vd->priv;
	vd->vq[VTNET_RXQ].last_avail = (uint16_t)(vd->vq[VTNET_RXQ].last_avail - n->nbufs);
	rx_drop_cache(n);
	rx_pause(n);
}

/* After a restore the guest's MAC address is announced from the backend (a RARP broadcast, as
 * QEMU and Cloud Hypervisor do), so switches learn the port the guest now sits behind. */
static int vtnet_restored(struct virtio_dev *vd, char *err, size_t errlen)
{
	struct vtnet *n = vd->priv;
	if (!n->be)
		return 0;
	uint8_t hdr[NETBE_VNET_HDR_MRG_LEN] = {0};
	uint8_t f[60] = {0}; /* the minimum Ethernet frame, padding included */
	memset(f, 0xff, 6);
	memcpy(f + 6, n->config + VTNET_CFG_MAC, 6);
	f[12] = 0x80, f[13] = 0x35;		 /* RARP */
	f[14] = 0, f[15] = 1;			 /* Ethernet */
	f[16] = 0x08, f[17] = 0;		 /* IPv4 */
	f[18] = 6, f[19] = 4, f[20] = 0, f[21] = 3; /* reverse request */
	memcpy(f + 22, n->config + VTNET_CFG_MAC, 6);
	memcpy(f + 32, n->config + VTNET_CFG_MAC, 6);
	struct iovec iov[2] = {{hdr, n->hdr_len}, {f, sizeof(f)}};
	bool with_hdr = n->be_hdr && n->vd.started;
	if (netbe_send(n->be, with_hdr ? iov : iov + 1, with_hdr ? 2 : 1) < 0)
		kb_debug("%s: the RARP announcement was not sent", n->name);
	return 0;
}

static void vtnet_reset(struct virtio_dev *vd)
{
	struct vtnet *n = vd->priv;
	rx_pause(n);
	rx_drop_cache(n);
	if (n->be && n->be_hdr)
		netbe_set_offload(n->be, 0);
}

/* The device config is read-only for a 1.x driver: undo whatever it wrote. */
static void vtnet_config_written(struct virtio_dev *vd, uint32_t off, uint32_t len)
{
	struct vtnet *n = vd->priv;
	memcpy(n->config, n->config_orig, sizeof(n->config));
}

/* ---- creation ---- */

static int parse_mtu(const char *s, uint16_t *mtu)
{
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (*end || errno || v < VTNET_MIN_MTU || v > VTNET_MAX_MTU)
		return -EINVAL;
	*mtu = (uint16_t)v;
	return 0;
}

static uint64_t offered_features(struct vtnet *n, bool mtu_given)
{
	uint64_t f = VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS | VIRTIO_NET_F_MRG_RXBUF;
	if (mtu_given)
		f |= VIRTIO_NET_F_MTU;
	unsigned off = n->be && n->be_hdr ? netbe_offloads(n->be) : 0;
	if (!(off & NETBE_OFFLOAD_CSUM))
		return f;
	f |= VIRTIO_NET_F_CSUM | VIRTIO_NET_F_GUEST_CSUM;
	if (off & NETBE_OFFLOAD_TSO4)
		f |= VIRTIO_NET_F_HOST_TSO4 | VIRTIO_NET_F_GUEST_TSO4;
	if (off & NETBE_OFFLOAD_TSO6)
		f |= VIRTIO_NET_F_HOST_TSO6 | VIRTIO_NET_F_GUEST_TSO6;
	if ((off & NETBE_OFFLOAD_ECN) && (off & (NETBE_OFFLOAD_TSO4 | NETBE_OFFLOAD_TSO6)))
		f |= VIRTIO_NET_F_HOST_ECN | VIRTIO_NET_F_GUEST_ECN;
	if (off & NETBE_OFFLOAD_UFO)
		f |= VIRTIO_NET_F_HOST_UFO | VIRTIO_NET_F_GUEST_UFO;
	return f;
}

/* Registered before the transport's own hook, so it runs after it (last registered first):
 * the transport no longer touches the device when this frees it. */
static void vtnet_destroy(void *opaque)
{
	struct vtnet *n = opaque;
	if (n->be) {
		struct netbe_stats st;
		netbe_get_stats(n->be, &st);
		kb_debug("%s: rx %llu frames %llu bytes %llu dropped, tx %llu frames %llu bytes "
			 "%llu dropped",
			 n->name, (unsigned long long)st.rx_packets,
			 (unsigned long long)st.rx_bytes, (unsigned long long)st.rx_drops,
			 (unsigned long long)st.tx_packets, (unsigned long long)st.tx_bytes,
			 (unsigned long long)st.tx_drops);
	}
	netbe_close(n->be);
	if (n->more_h)
		evloop_del(n->vm->ev, n->more_h);
	if (n->more_fd >= 0)
		close(n->more_fd);
	free(n->bounce);
	free(n);
}

static int vtnet_check_keys(struct cfgnode *devnode, const char *name)
{
	static const char *const known[] = {"device", "backend", "type", "mac", "mtu"};
	for (struct cfgnode *c = config_first_child(devnode); c; c = config_next_sibling(c)) {
		bool ok = false;
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			ok |= strcmp(config_name(c), known[i]) == 0;
		if (!ok) {
			kb_log(
			    "%s: unknown setting '%s' (virtio-net takes backend, type, mac, mtu)",
			    name, config_name(c));
			return -EINVAL;
		}
	}
	return 0;
}

static int vtnet_init(struct vm *vm, struct pci_dev *pd, struct cfgnode *devnode)
{
	char name[40];
	snprintf(name, sizeof(name), "virtio-net %d:%d.%d", pd->bus, pd->slot, pd->func);
	int rc = vtnet_check_keys(devnode, name);
	if (rc)
		return rc;

	uint8_t mac[6];
	rc = netbe_mac_from_config(devnode, config_get(vm->cfg, "name"), pd->bus, pd->slot,
				   pd->func, name, mac);
	if (rc)
		return rc;
	uint16_t mtu = VTNET_DEFAULT_MTU;
	const char *v = config_get(devnode, "mtu");
	bool mtu_given = v != NULL;
	if (v && parse_mtu(v, &mtu) < 0) {
		kb_log("%s: mtu=%s: not a number from %d to %d", name, v, VTNET_MIN_MTU,
		       VTNET_MAX_MTU);
		return -EINVAL;
	}

	struct vtnet *n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->vm = vm;
	n->more_fd = -1;
	n->rx_paused = true;
	n->hdr_len = NETBE_VNET_HDR_MRG_LEN;
	snprintf(n->name, sizeof(n->name), "%s", name);
	if (config_get(devnode, "backend")) {
		char err[256];
		rc = netbe_open_config(&n->be, devnode, n->name, vm->ev, vtnet_backend_rx, n, err,
				       sizeof(err));
		if (rc < 0) {
			kb_log("%s: %s", n->name, err);
			free(n);
			return rc;
		}
		n->be_hdr = netbe_vnet_hdr_supported(n->be);
	} else {
		kb_log("%s: no network backend; the guest's frames are discarded", n->name);
	}
	n->more_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (n->more_fd >= 0)
		n->more_h = evloop_add_fd(vm->ev, n->more_fd, EPOLLIN, tx_more_event, n);
	if (!n->more_h) {
		kb_log("%s: cannot create the transmit wake-up", n->name);
		n->more_h = NULL;
		vtnet_destroy(n);
		return -ENOMEM;
	}

	memcpy(n->config + VTNET_CFG_MAC, mac, 6);
	put_le16(n->config + VTNET_CFG_STATUS, VIRTIO_NET_S_LINK_UP);
	put_le16(n->config + VTNET_CFG_MAX_VQ_PAIRS, 1);
	put_le16(n->config + VTNET_CFG_MTU, mtu);
	memcpy(n->config_orig, n->config, sizeof(n->config));

	n->ops = (struct virtio_dev_ops){
	    .name = "virtio-net",
	    .device_id = VIRTIO_ID_NET,
	    .pci_class = 0x020000, /* network, Ethernet */
	    .nqueues = 2,
	    .queue_size = VTNET_QUEUE_SIZE,
	    .features = offered_features(n, mtu_given),
	    .config_size = VTNET_CONFIG_SIZE,
	    .config_written = vtnet_config_written,
	    .notify = vtnet_notify,
	    .start = vtnet_start,
	    .reset = vtnet_reset,
	    .pause = vtnet_pause,
	    .restored = vtnet_restored,
	};
	n->vd.ops = &n->ops;
	n->vd.priv = n;
	n->vd.config = n->config;
	rc = vm_at_destroy(vm, vtnet_destroy, n);
	if (rc) {
		vtnet_destroy(n);
		return rc;
	}
	if (n->be)
		kb_debug("%s: %s, MAC %02x:%02x:%02x:%02x:%02x:%02x, features %#llx", n->name,
			 netbe_describe(n->be), mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
			 (unsigned long long)n->ops.features);
	/* on failure the destroy hook frees n once the transport has let go of it */
	return virtio_pci_create(vm, pd, &n->vd);
}

static const struct pci_devemu vtnet_emu = {
    .name = "virtio-net",
    .legacy_config = netbe_legacy_config,
    .init = vtnet_init,
    VIRTIO_PCI_HOOKS,
};
PCI_EMUL(vtnet_emu);
