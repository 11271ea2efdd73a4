/* SPDX-License-Identifier: BSD-2-Clause */
/* e1000: the receive path. Frames come from the backend on the event-loop thread, one at a
 * time into the device's own buffer, and are then written into legacy receive descriptors:
 *   - the virtio-net header of a tap is stripped; a frame with NEEDS_CSUM gets its checksum
 *     completed here, a GSO frame (never asked for) is dropped,
 *   - dropped: RCTL.EN or Bus Master Enable clear, runts, frames longer than 1518 bytes
 *     (16384 with LPE), addresses the filters refuse (exact RAL/RAH matches, broadcast with
 *     BAM, multicast through the MTA hash or MPE, anything with UPE; VLAN filter with VFE),
 *   - CTRL.VME strips an 802.1Q tag into the descriptor (VP, special); short frames are padded
 *     to 60 bytes; without RCTL.SECRC the 4-byte FCS is appended, as on the wire,
 *   - RXCSUM.IPOFL/TUOFL: IPv4 header and TCP/UDP checksums are verified here and reported
 *     (IPCS/TCPCS, errors IPE/TCPE); without them every descriptor says IXSM,
 *   - a frame longer than the buffer size (BSIZE/BSEX: 256..16384) spans several descriptors,
 *     EOP on the last.
 * When the ring has fewer free descriptors than the frame needs, the frame is held and the
 * backend paused (frames wait in the tap) until RDT moves; none is lost. A frame that needs
 * more descriptors than the ring has is dropped with RXO. Causes: RXT0 after each frame (the
 * RDTR/RADV delays are not modelled; ITR spaces the interrupts), RXDMT0 when the free
 * descriptors fall to the RCTL.RDMTS threshold.
 *
 * Bounds: RDH/RDT beyond the ring or a ring outside RAM stops reception (frames wait) until the
 * guest reprograms the ring; a buffer outside RAM gets its descriptor completed with RXE. Work
 * per event is bounded (RX_BUDGET frames; the backend calls again while frames wait).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/byteorder.h"
#include "core/vm.h"
#include "e1000/e1000.h"
#include "pci/pci.h"

#define RX_BUDGET 64
#define ETH_HLEN 14
#define ETH_MIN_FRAME 60
#define ETH_MAX_FRAME 1518 /* without FCS, room for one VLAN tag */
#define VNET_F_NEEDS_CSUM 1

/* ---- Ethernet FCS (CRC-32, reflected) ---- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t fcs(const uint8_t *p, size_t len)
{
	pthread_once(&crc_once, crc_init);
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < len; i++)
		c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
	return ~c;
}

/* ---- backend pause/resume ---- */

static void rx_pause(struct e1000 *e)
{
	if (!e->rx_paused && e->be)
		netbe_rx_pause(e->be);
	e->rx_paused = true;
}

static void rx_resume(struct e1000 *e)
{
	if (e->rx_paused && e->be)
		netbe_rx_resume(e->be);
	e->rx_paused = false;
}

void e1000_rx_reset(struct e1000 *e)
{
	e->held = false;
	rx_resume(e);
}

/* ---- filters and preparation ---- */

static unsigned buf_size(uint32_t rctl)
{
	unsigned bs = (rctl >> E1000_RCTL_BSIZE_SHIFT) & 3;
	if (rctl & E1000_RCTL_BSEX)
		return bs == 0 ? 2048 : 32768u >> bs; /* 16384, 8192, 4096 */
	return 2048u >> bs;			      /* 2048, 1024, 512, 256 */
}

static bool addr_match(const struct e1000 *e, const uint8_t *da)
{
	for (unsigned i = 0; i < E1000_RA_N; i++) {
		uint32_t lo = e->ra[2 * i], hi = e->ra[2 * i + 1];
		if (!(hi & E1000_RAH_AV))
			continue;
		uint8_t m[6] = {(uint8_t)lo,	     (uint8_t)(lo >> 8), (uint8_t)(lo >> 16),
				(uint8_t)(lo >> 24), (uint8_t)hi,	 (uint8_t)(hi >> 8)};
		if (memcmp(m, da, 6) == 0)
			return true;
	}
	return false;
}

static bool accept_frame(const struct e1000 *e, const uint8_t *f, size_t len)
{
	const uint8_t *da = f;
	bool ok;
	if (addr_match(e, da)) {
		ok = true;
	} else if (memcmp(da, "\xff\xff\xff\xff\xff\xff", 6) == 0) {
		ok = e->rctl & (E1000_RCTL_BAM | E1000_RCTL_MPE);
	} else if (da[0] & 1) {
		ok = e->rctl & E1000_RCTL_MPE;
		if (!ok) {
			unsigned mo = (e->rctl >> E1000_RCTL_MO_SHIFT) & 3;
			static const unsigned shift[4] = {4, 3, 2, 0};
			unsigned h =
			    ((unsigned)da[4] >> shift[mo] | (unsigned)da[5] << (8 - shift[mo])) &
			    0xfff;
			ok = (e->mta[h >> 5] >> (h & 31)) & 1;
		}
	} else {
		ok = e->rctl & E1000_RCTL_UPE;
	}
	if (ok && (e->rctl & E1000_RCTL_VFE) && len >= 18 && be16_get(f + 12) == e->vet) {
		unsigned vid = be16_get(f + 14) & 0xfff;
		ok = (e->vfta[vid >> 5] >> (vid & 31)) & 1;
	}
	return ok;
}

/* Sum of the pseudo-header of a TCP/UDP segment. */
static uint32_t pseudo_sum(const uint8_t *addrs, size_t alen, uint8_t proto, size_t l4len)
{
	return e1000_csum_add(0, addrs, alen) + proto + (uint32_t)l4len;
}

/* RXCSUM: verify IP and TCP/UDP checksums into the status and error bits. */
static void rx_checksums(struct e1000 *e, const uint8_t *f, size_t len)
{
	uint8_t st = 0, er = 0;
	if (!(e->rxcsum & (E1000_RXCSUM_IPOFL | E1000_RXCSUM_TUOFL))) {
		e->rx_status = E1000_RXD_STAT_IXSM;
		e->rx_errors = 0;
		return;
	}
	size_t l3 = ETH_HLEN;
	if (len >= 18 && be16_get(f + 12) == e->vet)
		l3 += 4; /* a tag that was not stripped */
	uint16_t et = be16_get(f + l3 - 2);
	size_t l4 = 0, l4len = 0;
	uint8_t proto = 0;
	uint32_t pseudo = 0;
	if (et == 0x0800 && len >= l3 + 20) {
		size_t ihl = (size_t)(f[l3] & 0xf) * 4;
		size_t tot = be16_get(f + l3 + 2);
		if (ihl >= 20 && l3 + ihl <= len) {
			if (e->rxcsum & E1000_RXCSUM_IPOFL) {
				st |= E1000_RXD_STAT_IPCS;
				if (e1000_csum_fold(e1000_csum_add(0, f + l3, ihl)) != 0xffff)
					er |= E1000_RXD_ERR_IPE;
			}
			proto = f[l3 + 9];
			bool frag = be16_get(f + l3 + 6) & 0x3fff;
			if (!frag && tot >= ihl && l3 + tot <= len) {
				l4 = l3 + ihl;
				l4len = tot - ihl;
				pseudo = pseudo_sum(f + l3 + 12, 8, proto, l4len);
			}
		}
	} else if (et == 0x86DD && len >= l3 + 40) {
		size_t plen = be16_get(f + l3 + 4);
		proto = f[l3 + 6];
		if (l3 + 40 + plen <= len) {
			l4 = l3 + 40;
			l4len = plen;
			pseudo = pseudo_sum(f + l3 + 8, 32, proto, l4len);
		}
	}
	if (l4 && (e->rxcsum & E1000_RXCSUM_TUOFL) &&
	    ((proto == 6 && l4len >= 20) || (proto == 17 && l4len >= 8))) {
		st |= E1000_RXD_STAT_TCPCS;
		bool none = proto == 17 && et == 0x0800 && be16_get(f + l4 + 6) == 0;
		if (!none && e1000_csum_fold(e1000_csum_add(pseudo, f + l4, l4len)) != 0xffff)
			er |= E1000_RXD_ERR_TCPE;
	}
	e->rx_status = st;
	e->rx_errors = er;
}

/* A frame of `got` bytes (header included) is in rx_buf: filter it and make it ready for the
 * ring (held). false: dropped. */
static bool rx_prepare(struct e1000 *e, size_t got)
{
	size_t off = e->be_hdr ? e->hdr_len : 0;
	if (got < off + ETH_HLEN)
		return false;
	uint8_t *h = e->rx_buf, *f = e->rx_buf + off;
	size_t len = got - off;
	if (!(e->rctl & E1000_RCTL_EN) || !pci_bus_master(e->pd)) {
		e1000_stat(e, E1000_ST_MPC, 1);
		return false;
	}
	size_t limit = (e->rctl & E1000_RCTL_LPE) ? E1000_RX_MAX - 4 : ETH_MAX_FRAME;
	if (len > limit) {
		e1000_stat(e, E1000_ST_ROC, 1);
		return false;
	}
	if (!accept_frame(e, f, len))
		return false;
	if (e->be_hdr) {
		if (h[1] != 0)
			return false; /* GSO was not enabled on the tap */
		if (h[0] & VNET_F_NEEDS_CSUM) {
			size_t start = le16_at(h + 6), at = start + le16_at(h + 8);
			if (start >= len || at + 2 > len)
				return false;
			uint16_t c =
			    (uint16_t)~e1000_csum_fold(e1000_csum_add(0, f + start, len - start));
			be16_put(f + at, c);
		}
	}
	e->rx_special = 0;
	bool vlan = false;
	if ((e->ctrl & E1000_CTRL_VME) && len >= 18 && be16_get(f + 12) == e->vet) {
		e->rx_special = be16_get(f + 14);
		memmove(f + 12, f + 16, len - 16);
		len -= 4;
		vlan = true;
	}
	if (len < ETH_MIN_FRAME) {
		memset(f + len, 0, ETH_MIN_FRAME - len);
		len = ETH_MIN_FRAME;
	}
	rx_checksums(e, f, len);
	if (vlan)
		e->rx_status |= E1000_RXD_STAT_VP;
	unsigned pcss = e->rxcsum & E1000_RXCSUM_PCSS_MASK;
	e->rx_csum = pcss < len ? e1000_csum_fold(e1000_csum_add(0, f + pcss, len - pcss)) : 0;
	if (!(e->rctl & E1000_RCTL_SECRC)) {
		put_le32(f + len, fcs(f, len));
		len += 4;
	}
	e->rx_off = off;
	e->rx_len = len;
	e->held = true;
	e->rx_nobuf = false;
	return true;
}

/* ---- into the ring ---- */

static void rx_stop(struct e1000 *e, const char *why)
{
	e->rx_stopped = true;
	kb_guest_log(&e->rx_log, "%s: receive stopped: %s", e->name, why);
}

/* Write the held frame into descriptors. true: delivered or dropped; false: it must wait. */
static bool deliver_held(struct e1000 *e)
{
	const uint8_t *f = e->rx_buf + e->rx_off;
	if (!(e->rctl & E1000_RCTL_EN) || !pci_bus_master(e->pd)) {
		e->held = false;
		e1000_stat(e, E1000_ST_MPC, 1);
		return true;
	}
	uint32_t n = e->rdlen / E1000_DESC_SIZE;
	if (e->rx_stopped || n == 0)
		return false;
	char why[128];
	if (e->rdh >= n || e->rdt >= n) {
		snprintf(why, sizeof(why), "head %u or tail %u beyond the ring of %u descriptors",
			 e->rdh, e->rdt, n);
		rx_stop(e, why);
		return false;
	}
	uint64_t base = (uint64_t)e->rdbah << 32 | e->rdbal;
	if (!gm_ptr(&e->vm->mem, base, (uint64_t)n * E1000_DESC_SIZE)) {
		snprintf(why, sizeof(why), "ring %#llx+%u outside RAM", (unsigned long long)base,
			 n * E1000_DESC_SIZE);
		rx_stop(e, why);
		return false;
	}
	size_t bs = buf_size(e->rctl);
	size_t need = (e->rx_len + bs - 1) / bs;
	if (need > n - 1) { /* can never fit: the ring holds n - 1 buffers */
		e->held = false;
		e1000_stat(e, E1000_ST_MPC, 1);
		e1000_set_cause(e, E1000_ICR_RXO);
		return true;
	}
	uint32_t avail = (e->rdt + n - e->rdh) % n;
	if (avail < need) {
		if (!e->rx_nobuf)
			e1000_stat(e, E1000_ST_RNBC, 1);
		e->rx_nobuf = true;
		return false;
	}
	size_t done = 0;
	for (size_t i = 0; i < need; i++) {
		uint64_t gpa = base + (uint64_t)e->rdh * E1000_DESC_SIZE;
		uint8_t *d = gm_ptr(&e->vm->mem, gpa, E1000_DESC_SIZE);
		uint64_t buf = le64_at(d);
		size_t chunk = e->rx_len - done < bs ? e->rx_len - done : bs;
		bool last = i + 1 == need;
		uint8_t st = E1000_RXD_STAT_DD, er = 0;
		if (gm_write(&e->vm->mem, buf, f + done, chunk) < 0) {
			er |= E1000_RXD_ERR_RXE;
			kb_guest_log(&e->rx_log, "%s: receive buffer %#llx+%zu outside RAM",
				     e->name, (unsigned long long)buf, chunk);
		}
		if (last) {
			st |= E1000_RXD_STAT_EOP | e->rx_status;
			er |= e->rx_errors;
		} else {
			st |= e->rx_status & E1000_RXD_STAT_VP;
		}
		uint8_t wb[8];
		put_le16(wb, (uint16_t)chunk);
		be16_put(wb + 2, last ? e->rx_csum : 0);
		wb[4] = st;
		wb[5] = er;
		put_le16(wb + 6, e->rx_special);
		/* status last, after the data: the driver polls DD */
		memcpy(d + E1000_RXD_LEN, wb, 4);
		memcpy(d + E1000_RXD_SPECIAL, wb + 6, 2);
		d[E1000_RXD_ERRORS] = er;
		__atomic_store_n(d + E1000_RXD_STATUS, st, __ATOMIC_RELEASE);
		done += chunk;
		e->rdh = (e->rdh + 1) % n;
	}
	e->held = false;
	e1000_stat(e, E1000_ST_GPRC, 1);
	e1000_stat(e, E1000_ST_TPR, 1);
	e1000_stat(e, E1000_ST_GORCL, e->rx_len);
	e1000_stat(e, E1000_ST_TORL, e->rx_len);
	if (f[0] & 1)
		e1000_stat(e,
			   memcmp(f, "\xff\xff\xff\xff\xff\xff", 6) == 0 ? E1000_ST_BPRC
									 : E1000_ST_MPRC,
			   1);
	uint32_t causes = E1000_ICR_RXT0;
	uint32_t thr = n >> (((e->rctl >> E1000_RCTL_RDMTS_SHIFT) & 3) + 1);
	uint32_t left = avail - (uint32_t)need;
	if (left <= thr) /* at or below the threshold: the driver should refill */
		causes |= E1000_ICR_RXDMT0;
	e1000_set_cause(e, causes);
	return true;
}

void e1000_rx_kick(struct e1000 *e)
{
	if (e->held && !deliver_held(e))
		return; /* still waiting: the backend stays paused */
	rx_resume(e);
}

void e1000_rx_backend(void *opaque)
{
	struct e1000 *e = opaque;
	pthread_mutex_lock(&e->mtx);
	for (int budget = RX_BUDGET; budget > 0 && e->be; budget--) {
		if (e->held) {
			if (!deliver_held(e)) {
				rx_pause(e); /* resumed when the guest frees descriptors */
				break;
			}
			continue;
		}
		struct iovec v = {e->rx_buf, (e->be_hdr ? e->hdr_len : 0) + E1000_RX_READ_MAX + 1};
		ssize_t got = netbe_recv(e->be, &v, 1);
		if (got <= 0)
			break;
		if ((size_t)got > v.iov_len - 1 || !rx_prepare(e, (size_t)got))
			netbe_count_rx_drop(e->be);
	}
	/* a frame taken last may still be waiting */
	if (e->held && !deliver_held(e))
		rx_pause(e);
	pthread_mutex_unlock(&e->mtx);
}
