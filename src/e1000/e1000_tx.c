/* SPDX-License-Identifier: BSD-2-Clause */
/* e1000: the transmit path. A TDT write (vCPU thread) processes descriptors from TDH to TDT:
 *   - legacy descriptors (DEXT clear): data, optional checksum insertion (IC: the sum from CSS
 *     to the end of the packet stored at CSO), VLAN insertion (VLE),
 *   - context descriptors (DEXT, DTYP 0): the offload context (IP and TCP/UDP checksum start,
 *     offset and end, MSS, header length, TSE, TCP and IPv4 bits) for the data that follows,
 *   - data descriptors (DEXT, DTYP 1): data; the first descriptor's POPTS (IXSM, TXSM) and TSE
 *     decide the offloads of the packet.
 * Descriptors are gathered up to EOP into one packet (at most E1000_TX_MAX bytes: anything
 * longer is dropped and its descriptors completed). Checksums are computed here and TSO is
 * segmented here (IP total length, id and checksum, TCP sequence, flags and checksum per
 * segment), so the backend always gets complete frames (behind a zeroed virtio-net header for
 * a tap). RS/RPS descriptors get DD written back; TXDW and TXQE follow.
 *
 * Bounds: TDH or TDT beyond the ring, or a descriptor outside RAM, stops transmission until the
 * guest reprograms the ring (one rate-limited log line). Work per call is bounded (a ring's
 * worth of descriptors, TX_BYTE_BUDGET bytes); what is left continues from the event loop.
 * Nothing is read from guest memory while Bus Master Enable is clear.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/byteorder.h"
#include "core/vm.h"
#include "e1000/e1000.h"
#include "pci/pci.h"

/* Bytes copied and sent per call before the rest is left to the event loop. */
#define TX_BYTE_BUDGET (2u << 20)
#define ETH_MIN_FRAME 60 /* without FCS */

void e1000_tx_reset(struct e1000 *e)
{
	memset(&e->ctx, 0, sizeof(e->ctx));
	e->pkt_len = 0;
	e->pkt_started = e->pkt_drop = e->pkt_tse = e->pkt_legacy_ic = false;
	e->pkt_popts = e->pkt_cmd = e->pkt_css = e->pkt_cso = 0;
	e->pkt_special = 0;
}

static void tx_stop(struct e1000 *e, const char *why)
{
	e->tx_stopped = true;
	kb_guest_log(&e->tx_log, "%s: transmit stopped: %s", e->name, why);
}

/* Send one frame of `len` bytes at f (f has room up to E1000_TX_MAX for padding). */
static size_t send_frame(struct e1000 *e, uint8_t *f, size_t len, bool vle, uint16_t special)
{
	if ((e->tctl & E1000_TCTL_PSP) && len < ETH_MIN_FRAME) {
		memset(f + len, 0, ETH_MIN_FRAME - len);
		len = ETH_MIN_FRAME;
	}
	if (!e->be || len < 14)
		return len;
	uint8_t hdr[NETBE_VNET_HDR_MRG_LEN] = {0};
	uint8_t tag[4];
	struct iovec iov[4];
	int n = 0;
	if (e->be_hdr)
		iov[n++] = (struct iovec){hdr, e->hdr_len};
	if (vle && (e->ctrl & E1000_CTRL_VME)) {
		be16_put(tag, (uint16_t)e->vet);
		be16_put(tag + 2, special);
		iov[n++] = (struct iovec){f, 12};
		iov[n++] = (struct iovec){tag, 4};
		iov[n++] = (struct iovec){f + 12, len - 12};
	} else {
		iov[n++] = (struct iovec){f, len};
	}
	if (netbe_send(e->be, iov, n) >= 0) {
		e1000_stat(e, E1000_ST_GPTC, 1);
		e1000_stat(e, E1000_ST_TPT, 1);
		e1000_stat(e, E1000_ST_GOTCL, len + 4);
		e1000_stat(e, E1000_ST_TOTL, len + 4);
		if (f[0] & 1) {
			bool bcast = memcmp(f, "\xff\xff\xff\xff\xff\xff", 6) == 0;
			e1000_stat(e, bcast ? E1000_ST_BPTC : E1000_ST_MPTC, 1);
		}
	}
	return len;
}

/* Store the checksum of f[start, end) (plus `add`) at f[at]. false when the offsets do not fit
 * the frame (nothing is changed then). */
static bool put_csum(uint8_t *f, size_t len, size_t start, size_t end, size_t at, uint32_t add,
		     bool udp)
{
	if (end > len)
		end = len;
	if (start >= end || at + 2 > len)
		return false;
	uint16_t c = (uint16_t)~e1000_csum_fold(e1000_csum_add(add, f + start, end - start));
	if (udp && c == 0)
		c = 0xffff; /* UDP sends a computed zero as all ones */
	be16_put(f + at, c);
	return true;
}

/* The checksum offloads of a packet that is not segmented. */
static void offload_csums(struct e1000 *e, uint8_t *f, size_t len)
{
	const struct e1000_txctx *c = &e->ctx;
	bool ok = true;
	if (e->pkt_legacy_ic)
		ok &= put_csum(f, len, e->pkt_css, len, e->pkt_cso, 0, false);
	if (e->pkt_popts & E1000_TXD_POPTS_IXSM) {
		if ((size_t)c->ipcso + 2 <= len)
			memset(f + c->ipcso, 0, 2);
		ok &= put_csum(f, len, c->ipcss, c->ipcse ? (size_t)c->ipcse + 1 : len, c->ipcso, 0,
			       false);
	}
	if (e->pkt_popts & E1000_TXD_POPTS_TXSM)
		ok &= put_csum(f, len, c->tucss, c->tucse ? (size_t)c->tucse + 1 : len, c->tucso, 0,
			       !(c->tucmd & E1000_TXD_CMD_TCP));
	if (!ok)
		kb_guest_log(&e->tx_log, "%s: checksum offsets outside a %zu-byte packet", e->name,
			     len);
}

/* TCP/UDP segmentation of the assembled packet with the current context. Returns the bytes
 * sent. */
static size_t tso_send(struct e1000 *e, bool vle, uint16_t special)
{
	const struct e1000_txctx *c = &e->ctx;
	size_t len = e->pkt_len, hl = c->hdrlen, mss = c->mss;
	bool ip4 = c->tucmd & E1000_TXD_CMD_IP, tcp = c->tucmd & E1000_TXD_CMD_TCP;
	size_t iphl = ip4 ? 20 : 40, l4hl = tcp ? 20 : 8;
	if (hl == 0 || hl > len || mss == 0 || (size_t)c->ipcss + iphl > hl ||
	    (ip4 && (size_t)c->ipcso + 2 > hl) || (size_t)c->tucss + l4hl > hl ||
	    (size_t)c->tucso + 2 > hl || c->tucss < c->ipcss + iphl) {
		kb_guest_log(&e->tx_log,
			     "%s: segmentation packet dropped: header length %zu, MSS %zu, IP at "
			     "%u, TCP/UDP at %u in %zu bytes",
			     e->name, hl, mss, c->ipcss, c->tucss, len);
		return 0;
	}
	const uint8_t *p = e->pkt;
	uint8_t *s = e->seg;
	size_t payload = len - hl, sent = 0;
	uint16_t id = ip4 ? be16_get(p + c->ipcss + 4) : 0;
	uint32_t seq =
	    tcp ? (uint32_t)be16_get(p + c->tucss + 4) << 16 | be16_get(p + c->tucss + 6) : 0;
	uint8_t flags = tcp ? p[c->tucss + 13] : 0;
	size_t off = 0;
	for (unsigned i = 0;; i++) {
		size_t chunk = payload - off < mss ? payload - off : mss;
		bool last = off + chunk >= payload;
		memcpy(s, p, hl);
		memcpy(s + hl, p + hl + off, chunk);
		size_t flen = hl + chunk, l4len = flen - c->tucss;
		if (ip4) {
			be16_put(s + c->ipcss + 2, (uint16_t)(flen - c->ipcss));
			be16_put(s + c->ipcss + 4, (uint16_t)(id + i));
			memset(s + c->ipcso, 0, 2);
			put_csum(s, flen, c->ipcss, c->ipcse ? (size_t)c->ipcse + 1 : c->tucss,
				 c->ipcso, 0, false);
		} else {
			be16_put(s + c->ipcss + 4, (uint16_t)(flen - c->ipcss - 40));
		}
		if (tcp) {
			uint32_t sq = seq + (uint32_t)off;
			be16_put(s + c->tucss + 4, (uint16_t)(sq >> 16));
			be16_put(s + c->tucss + 6, (uint16_t)sq);
			uint8_t fl = flags;
			if (!last)
				fl &= (uint8_t)~0x09; /* FIN and PSH on the last segment only */
			if (i > 0)
				fl &= (uint8_t)~0x80; /* CWR on the first only */
			s[c->tucss + 13] = fl;
		} else {
			be16_put(s + c->tucss + 4, (uint16_t)l4len);
		}
		/* the driver left the pseudo-header sum without the length in the field */
		put_csum(s, flen, c->tucss, flen, c->tucso, (uint32_t)l4len, !tcp);
		sent += send_frame(e, s, flen, vle, special);
		off += chunk;
		if (last)
			break;
	}
	return sent;
}

/* EOP: send the assembled packet (or drop it) and start over. Returns the bytes sent. */
static size_t finish_packet(struct e1000 *e, uint8_t cmd, uint16_t special)
{
	size_t sent = 0;
	bool vle = cmd & E1000_TXD_CMD_VLE;
	if (e->pkt_drop) {
		/* already logged */
	} else if (e->pkt_tse && (e->ctx.tucmd & E1000_TXD_CMD_TSE)) {
		sent = tso_send(e, vle, special);
	} else {
		offload_csums(e, e->pkt, e->pkt_len);
		sent = send_frame(e, e->pkt, e->pkt_len, vle, special);
	}
	e->pkt_len = 0;
	e->pkt_started = e->pkt_drop = e->pkt_tse = e->pkt_legacy_ic = false;
	e->pkt_popts = 0;
	return sent;
}

/* Append a data buffer to the packet. Returns the bytes copied. */
static size_t append(struct e1000 *e, uint64_t addr, size_t len)
{
	if (e->pkt_drop || len == 0)
		return 0;
	if (len > E1000_TX_MAX - e->pkt_len) {
		e->pkt_drop = true;
		kb_guest_log(&e->tx_log, "%s: packet longer than %u bytes dropped", e->name,
			     (unsigned)E1000_TX_MAX);
		return 0;
	}
	if (gm_read(&e->vm->mem, addr, e->pkt + e->pkt_len, len) < 0) {
		e->pkt_drop = true;
		kb_guest_log(&e->tx_log,
			     "%s: transmit buffer %#llx+%zu outside RAM: packet dropped", e->name,
			     (unsigned long long)addr, len);
		return 0;
	}
	e->pkt_len += len;
	return len;
}

static void load_context(struct e1000 *e, const uint8_t *d)
{
	struct e1000_txctx *c = &e->ctx;
	c->ipcss = d[0];
	c->ipcso = d[1];
	c->ipcse = le16_at(d + 2);
	c->tucss = d[4];
	c->tucso = d[5];
	c->tucse = le16_at(d + 6);
	c->paylen = le32_at(d + 8) & E1000_TXD_LEN20_MASK;
	c->tucmd = d[E1000_TXD_CMD];
	c->hdrlen = d[E1000_TXD_HDRLEN];
	c->mss = le16_at(d + E1000_TXD_MSS);
}

/* One descriptor. Returns the work done (bytes copied and sent). */
static size_t tx_desc(struct e1000 *e, const uint8_t *d)
{
	uint8_t cmd = d[E1000_TXD_CMD];
	bool ext = cmd & E1000_TXD_CMD_DEXT;
	unsigned dtyp = (le32_at(d + 8) >> E1000_TXD_DTYP_SHIFT) & 0xf;
	if (ext && dtyp == E1000_TXD_DTYP_C) {
		load_context(e, d);
		return 0;
	}
	if (ext && dtyp != E1000_TXD_DTYP_D)
		return 0; /* reserved type: completed, nothing sent */
	uint64_t addr = le64_at(d);
	size_t len = ext ? (le32_at(d + 8) & E1000_TXD_LEN20_MASK) : le16_at(d + E1000_TXD_LEN);
	if (!e->pkt_started) {
		e->pkt_started = true;
		e->pkt_popts = ext ? d[E1000_TXD_POPTS] : 0;
		e->pkt_tse = ext && (cmd & E1000_TXD_CMD_TSE);
	}
	if (!ext && (cmd & E1000_TXD_CMD_IC)) {
		e->pkt_legacy_ic = true;
		e->pkt_css = d[E1000_TXD_CSS];
		e->pkt_cso = d[E1000_TXD_CSO];
	}
	size_t work = append(e, addr, len);
	if (cmd & E1000_TXD_CMD_EOP)
		work += finish_packet(e, cmd, le16_at(d + E1000_TXD_SPECIAL));
	return work;
}

void e1000_tx_run(struct e1000 *e)
{
	if (!(e->tctl & E1000_TCTL_EN) || e->tx_stopped || !pci_bus_master(e->pd))
		return;
	uint32_t n = e->tdlen / E1000_DESC_SIZE;
	if (n == 0 || e->tdh == e->tdt)
		return;
	char why[128];
	if (e->tdh >= n || e->tdt >= n) {
		snprintf(why, sizeof(why), "head %u or tail %u beyond the ring of %u descriptors",
			 e->tdh, e->tdt, n);
		tx_stop(e, why);
		return;
	}
	uint64_t base = (uint64_t)e->tdbah << 32 | e->tdbal;
	size_t work = 0;
	unsigned done = 0;
	bool wb = false;
	while (e->tdh != e->tdt) {
		if (done >= n || work >= TX_BYTE_BUDGET) {
			uint64_t one = 1;
			if (e->more_fd < 0 || write(e->more_fd, &one, sizeof(one)) < 0)
				kb_debug("%s: cannot schedule transmit work", e->name);
			break;
		}
		uint8_t d[E1000_DESC_SIZE];
		uint64_t gpa = base + (uint64_t)e->tdh * E1000_DESC_SIZE;
		if (gm_read(&e->vm->mem, gpa, d, sizeof(d)) < 0) {
			snprintf(why, sizeof(why), "descriptor %u at %#llx is outside RAM", e->tdh,
				 (unsigned long long)gpa);
			tx_stop(e, why);
			break;
		}
		work += tx_desc(e, d) + E1000_DESC_SIZE;
		if (d[E1000_TXD_CMD] & (E1000_TXD_CMD_RS | E1000_TXD_CMD_RPS)) {
			uint8_t st = d[E1000_TXD_STATUS] | E1000_TXD_STAT_DD;
			gm_write(&e->vm->mem, gpa + E1000_TXD_STATUS, &st, 1);
			wb = true;
		}
		e->tdh = (e->tdh + 1) % n;
		done++;
	}
	uint32_t causes = 0;
	if (wb)
		causes |= E1000_ICR_TXDW;
	if (e->tdh == e->tdt)
		causes |= E1000_ICR_TXQE;
	if (causes)
		e1000_set_cause(e, causes);
}
