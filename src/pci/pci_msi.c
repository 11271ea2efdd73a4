/* SPDX-License-Identifier: BSD-2-Clause */
/* MSI and MSI-X for any PCI function (see pci_msi.h): capability registers, the MSI-X table and
 * PBA, and an irqfd on a KVM MSI route per vector.
 *
 * Routes are created on a vector's first message and re-pointed when the guest rewrites its
 * address or data, so a message costs one eventfd write and no VM exit. A route that cannot be
 * created (the kernel's routing table is full) is logged once and not retried until the guest
 * rewrites that vector. */
#include "pci/pci_msi.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/byteorder.h"
#include "core/irqroute.h"
#include "core/log.h"
#include "pci/pci.h"
#include "snapshot/snapstate.h"

/* MSI capability, 64-bit with per-vector masking (PCI 3.0 6.8.1) */
#define MSI_CTRL 2
#define MSI_ADDR_LO 4
#define MSI_ADDR_HI 8
#define MSI_DATA 12
#define MSI_MASK 16
#define MSI_PENDING 20
#define MSI_CAP_LEN 24
#define MSI_CTRL_ENABLE 0x0001
#define MSI_CTRL_MME_SHIFT 4
#define MSI_CTRL_64BIT 0x0080
#define MSI_CTRL_PVM 0x0100

/* MSI-X capability (6.8.2) */
#define MSIX_CTRL 2
#define MSIX_CAP_LEN 12
#define MSIX_CTRL_ENABLE 0x8000
#define MSIX_CTRL_FMASK 0x4000
#define MSIX_ENTRY 16
#define MSIX_MAX_VECTORS 2048

struct msi_route {
	int efd, gsi; /* created on first use; -1 until then */
	bool unroutable;
};

struct msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;
	bool pending;
	struct msi_route r;
};

struct pci_msi_state {
	pthread_mutex_t lock;
	struct kb_ratelimit log;
	/* MSI */
	unsigned msi_cap, msi_nvec; /* msi_nvec 0: no MSI capability */
	struct msi_route msi_r[32];
	/* MSI-X */
	unsigned msix_cap, msix_nvec; /* msix_nvec 0: no MSI-X capability */
	int msix_bar;
	uint32_t table_off, pba_off;
	struct msix_entry *tab;
};

static struct pci_msi_state *state(struct pci_dev *pd)
{
	if (!pd->msi) {
		struct pci_msi_state *s = calloc(1, sizeof(*s));
		if (!s)
			return NULL;
		pthread_mutex_init(&s->lock, NULL);
		for (int v = 0; v < 32; v++)
			s->msi_r[v].efd = s->msi_r[v].gsi = -1;
		s->msix_bar = -1;
		pd->msi = s;
	}
	return pd->msi;
}

/* ---- capability list ---- */

int pci_add_cap(struct pci_dev *pd, const uint8_t *cap, unsigned len)
{
	/* capabilities follow the standard header, dword aligned, each linked after the last */
	unsigned at = pd->cap_end ? pd->cap_end : 0x40;
	if (len < 2 || at + len > PCI_CFG_SIZE)
		return -ENOSPC;
	unsigned link = PCIR_CAP_PTR;
	for (unsigned p = pd->cfg[PCIR_CAP_PTR]; p; p = pd->cfg[p + 1])
		link = p + 1;
	memcpy(&pd->cfg[at], cap, len);
	pd->cfg[at + 1] = 0;
	pd->cfg[link] = (uint8_t)at;
	pd->cfg[PCIR_STATUS] |= 0x10; /* capabilities list */
	pd->cap_end = (at + len + 3) & ~3u;
	return (int)at;
}

int pci_msi_add(struct pci_dev *pd, unsigned nvec)
{
	if (nvec < 1 || nvec > 32 || (nvec & (nvec - 1)))
		return -EINVAL;
	struct pci_msi_state *s = state(pd);
	if (!s)
		return -ENOMEM;
	if (s->msi_nvec)
		return -EEXIST;
	uint8_t c[MSI_CAP_LEN] = {PCI_CAP_MSI};
	unsigned mmc = (unsigned)__builtin_ctz(nvec);
	put_le16(c + MSI_CTRL, (uint16_t)(MSI_CTRL_64BIT | MSI_CTRL_PVM | mmc << 1));
	int at = pci_add_cap(pd, c, sizeof(c));
	if (at < 0)
		return at;
	s->msi_cap = (unsigned)at;
	s->msi_nvec = nvec;
	return 0;
}

int pci_msix_add(struct pci_dev *pd, int bar, unsigned nvec, uint32_t table_off, uint32_t pba_off)
{
	if (nvec < 1 || nvec > MSIX_MAX_VECTORS || bar < 0 || bar >= PCI_BARS)
		return -EINVAL;
	const struct pci_bar *b = &pd->bar[bar];
	uint64_t tlen = (uint64_t)nvec * MSIX_ENTRY, plen = ((nvec + 63) / 64) * 8;
	if ((b->type != PCI_BAR_MEM32 && b->type != PCI_BAR_MEM64) || (table_off & 7) ||
	    (pba_off & 7) || table_off + tlen > b->size || pba_off + plen > b->size ||
	    (table_off < pba_off + plen && pba_off < table_off + tlen))
		return -EINVAL;
	struct pci_msi_state *s = state(pd);
	if (!s)
		return -ENOMEM;
	if (s->msix_nvec)
		return -EEXIST;
	s->tab = calloc(nvec, sizeof(*s->tab));
	if (!s->tab)
		return -ENOMEM;
	for (unsigned v = 0; v < nvec; v++) {
		s->tab[v].ctrl = 1; /* masked at reset */
		s->tab[v].r.efd = s->tab[v].r.gsi = -1;
	}
	uint8_t c[MSIX_CAP_LEN] = {PCI_CAP_MSIX};
	put_le16(c + MSIX_CTRL, (uint16_t)(nvec - 1));
	put_le32(c + 4, table_off | (uint32_t)bar);
	put_le32(c + 8, pba_off | (uint32_t)bar);
	int at = pci_add_cap(pd, c, sizeof(c));
	if (at < 0) {
		free(s->tab);
		s->tab = NULL;
		return at;
	}
	s->msix_cap = (unsigned)at;
	s->msix_nvec = nvec;
	s->msix_bar = bar;
	s->table_off = table_off;
	s->pba_off = pba_off;
	return 0;
}

/* ---- state read from config space (the capability registers are the truth) ---- */

static uint16_t msi_ctrl(const struct pci_dev *pd, const struct pci_msi_state *s)
{
	return s->msi_nvec ? (uint16_t)pci_get_cfg(pd, s->msi_cap + MSI_CTRL, 2) : 0;
}

static uint16_t msix_ctrl(const struct pci_dev *pd, const struct pci_msi_state *s)
{
	return s->msix_nvec ? (uint16_t)pci_get_cfg(pd, s->msix_cap + MSIX_CTRL, 2) : 0;
}

static bool msix_on(const struct pci_dev *pd, const struct pci_msi_state *s)
{
	return msix_ctrl(pd, s) & MSIX_CTRL_ENABLE;
}

/* MSI counts only while MSI-X is off (enabling both is undefined; MSI-X wins, as in Linux) */
static bool msi_on(const struct pci_dev *pd, const struct pci_msi_state *s)
{
	return !msix_on(pd, s) && (msi_ctrl(pd, s) & MSI_CTRL_ENABLE);
}

static unsigned msi_enabled_vectors(const struct pci_dev *pd, const struct pci_msi_state *s)
{
	unsigned mme = (msi_ctrl(pd, s) >> MSI_CTRL_MME_SHIFT) & 7;
	unsigned n = 1u << (mme > 5 ? 5 : mme);
	return n < s->msi_nvec ? n : s->msi_nvec;
}

static uint64_t msi_addr(const struct pci_dev *pd, const struct pci_msi_state *s)
{
	return (uint64_t)pci_get_cfg(pd, s->msi_cap + MSI_ADDR_HI, 4) << 32 |
	       pci_get_cfg(pd, s->msi_cap + MSI_ADDR_LO, 4);
}

/* Vector v of a multiple-message MSI: the low bits of the data carry the vector number. */
static uint32_t msi_data(const struct pci_dev *pd, const struct pci_msi_state *s, unsigned v)
{
	unsigned n = msi_enabled_vectors(pd, s);
	uint32_t d = pci_get_cfg(pd, s->msi_cap + MSI_DATA, 2);
	return (d & ~(n - 1)) | v;
}

static void set_msi_pending(struct pci_dev *pd, struct pci_msi_state *s, unsigned v, bool on)
{
	uint32_t p = pci_get_cfg(pd, s->msi_cap + MSI_PENDING, 4);
	p = on ? p | 1u << v : p & ~(1u << v);
	for (int i = 0; i < 4; i++)
		__atomic_store_n(&pd->cfg[s->msi_cap + MSI_PENDING + i], (uint8_t)(p >> (8 * i)),
				 __ATOMIC_RELAXED);
}

/* ---- sending ---- */

static void route_send(struct pci_dev *pd, struct pci_msi_state *s, struct msi_route *r,
		       uint64_t addr, uint32_t data, const char *kind, unsigned v)
{
	if (r->gsi < 0) {
		if (r->unroutable)
			return;
		r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		int gsi = r->efd < 0 ? -errno : irqroute_msi_add(pd->vm, addr, data, r->efd);
		if (gsi < 0) {
			if (r->efd >= 0)
				close(r->efd);
			r->efd = -1;
			r->unroutable = true;
			kb_guest_log(&s->log,
				     "%s at %02x:%02x.%x: cannot route %s vector %u: %s; its "
				     "interrupts are lost until the guest rewrites it",
				     pd->emu->name, pd->bus, pd->slot, pd->func, kind, v,
				     strerror(-gsi));
			return;
		}
		r->gsi = gsi;
	}
	uint64_t one = 1;
	if (write(r->efd, &one, sizeof(one)) < 0)
		kb_debug("%s: irqfd write failed", pd->emu->name);
}

static void msix_send(struct pci_dev *pd, struct pci_msi_state *s, unsigned v)
{
	struct msix_entry *e = &s->tab[v];
	if ((msix_ctrl(pd, s) & MSIX_CTRL_FMASK) || (e->ctrl & 1)) {
		e->pending = true;
		return;
	}
	e->pending = false;
	route_send(pd, s, &e->r, (uint64_t)e->addr_hi << 32 | e->addr_lo, e->data, "MSI-X", v);
}

static void msi_send(struct pci_dev *pd, struct pci_msi_state *s, unsigned v)
{
	if (pci_get_cfg(pd, s->msi_cap + MSI_MASK, 4) & (1u << v)) {
		set_msi_pending(pd, s, v, true);
		return;
	}
	set_msi_pending(pd, s, v, false);
	route_send(pd, s, &s->msi_r[v], msi_addr(pd, s), msi_data(pd, s, v), "MSI", v);
}

bool pci_msi_enabled(struct pci_dev *pd)
{
	struct pci_msi_state *s = pd->msi;
	if (!s)
		return false;
	pthread_mutex_lock(&s->lock);
	bool on = msix_on(pd, s) || msi_on(pd, s);
	pthread_mutex_unlock(&s->lock);
	return on;
}

unsigned pci_msi_nvectors(struct pci_dev *pd)
{
	struct pci_msi_state *s = pd->msi;
	if (!s)
		return 0;
	pthread_mutex_lock(&s->lock);
	unsigned n = msix_on(pd, s) ? s->msix_nvec : msi_on(pd, s) ? msi_enabled_vectors(pd, s) : 0;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void pci_msi_notify(struct pci_dev *pd, unsigned vector)
{
	struct pci_msi_state *s = pd->msi;
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	if (msix_on(pd, s)) {
		if (vector < s->msix_nvec)
			msix_send(pd, s, vector);
	} else if (msi_on(pd, s)) {
		if (vector < msi_enabled_vectors(pd, s))
			msi_send(pd, s, vector);
	}
	pthread_mutex_unlock(&s->lock);
}

/* ---- configuration space ---- */

static bool overlaps(unsigned off, unsigned size, unsigned start, unsigned len)
{
	return off < start + len && start < off + size;
}

/* Merge the writable bits of a config write into the capability bytes. */
static void merge(struct pci_dev *pd, unsigned off, unsigned size, uint32_t val, unsigned start,
		  const uint8_t *wmask, unsigned len)
{
	for (unsigned i = 0; i < size; i++) {
		unsigned o = off + i;
		if (o < start || o >= start + len)
			continue;
		uint8_t m = wmask[o - start];
		uint8_t b = (val >> (8 * i)) & 0xff;
		__atomic_store_n(&pd->cfg[o], (uint8_t)((pd->cfg[o] & ~m) | (b & m)),
				 __ATOMIC_RELAXED);
	}
}

/* Re-point the routes that exist after an address/data change. */
static void msi_reroute(struct pci_dev *pd, struct pci_msi_state *s)
{
	for (unsigned v = 0; v < s->msi_nvec; v++) {
		struct msi_route *r = &s->msi_r[v];
		r->unroutable = false;
		if (r->gsi >= 0)
			irqroute_msi_update(pd->vm, r->gsi, msi_addr(pd, s), msi_data(pd, s, v));
	}
}

static void msi_cfgwrite(struct pci_dev *pd, struct pci_msi_state *s, unsigned off, unsigned size,
			 uint32_t val)
{
	uint8_t wm[MSI_CAP_LEN] = {0};
	wm[MSI_CTRL] = 0x71; /* enable, multiple message enable */
	wm[MSI_ADDR_LO] = 0xfc;
	memset(wm + MSI_ADDR_LO + 1, 0xff, 3 + 4 + 2);
	uint32_t vmask = s->msi_nvec == 32 ? ~0u : (1u << s->msi_nvec) - 1;
	for (int i = 0; i < 4; i++)
		wm[MSI_MASK + i] = (uint8_t)(vmask >> (8 * i));
	uint32_t old_mask = pci_get_cfg(pd, s->msi_cap + MSI_MASK, 4);
	bool was_on = msi_on(pd, s);
	merge(pd, off, size, val, s->msi_cap, wm, MSI_CAP_LEN);
	if (overlaps(off, size, s->msi_cap + MSI_ADDR_LO, 10) ||
	    overlaps(off, size, s->msi_cap + MSI_CTRL, 1))
		msi_reroute(pd, s);
	uint32_t mask = pci_get_cfg(pd, s->msi_cap + MSI_MASK, 4);
	uint32_t pend = pci_get_cfg(pd, s->msi_cap + MSI_PENDING, 4);
	/* unmasked, or just enabled: pending messages go out */
	if (msi_on(pd, s) && (pend & ~mask) && ((old_mask & ~mask) || !was_on))
		for (unsigned v = 0; v < msi_enabled_vectors(pd, s); v++)
			if (pend & ~mask & (1u << v))
				msi_send(pd, s, v);
}

static void msix_cfgwrite(struct pci_dev *pd, struct pci_msi_state *s, unsigned off, unsigned size,
			  uint32_t val)
{
	uint8_t wm[MSIX_CAP_LEN] = {0};
	wm[MSIX_CTRL + 1] = 0xc0; /* enable, function mask */
	bool was_masked = msix_ctrl(pd, s) & MSIX_CTRL_FMASK;
	merge(pd, off, size, val, s->msix_cap, wm, MSIX_CAP_LEN);
	if (was_masked && msix_on(pd, s) && !(msix_ctrl(pd, s) & MSIX_CTRL_FMASK))
		for (unsigned v = 0; v < s->msix_nvec; v++)
			if (s->tab[v].pending)
				msix_send(pd, s, v);
}

int pci_msi_cfgwrite(struct pci_dev *pd, unsigned off, unsigned size, uint32_t val)
{
	struct pci_msi_state *s = pd->msi;
	if (!s)
		return 0;
	bool in_msi = s->msi_nvec && overlaps(off, size, s->msi_cap, MSI_CAP_LEN);
	bool in_msix = s->msix_nvec && overlaps(off, size, s->msix_cap, MSIX_CAP_LEN);
	if (!in_msi && !in_msix)
		return 0;
	pthread_mutex_lock(&s->lock);
	bool was = msix_on(pd, s) || msi_on(pd, s);
	if (in_msi)
		msi_cfgwrite(pd, s, off, size, val);
	if (in_msix)
		msix_cfgwrite(pd, s, off, size, val);
	bool now = msix_on(pd, s) || msi_on(pd, s);
	pthread_mutex_unlock(&s->lock);
	if (was != now)
		pci_intx_msi_active(pd, now);
	return 1;
}

/* ---- MSI-X table and PBA ---- */

static void entry_bytes(const struct msix_entry *e, uint8_t b[MSIX_ENTRY])
{
	put_le32(b, e->addr_lo);
	put_le32(b + 4, e->addr_hi);
	put_le32(b + 8, e->data);
	put_le32(b + 12, e->ctrl);
}

int pci_msix_bar_access(struct pci_dev *pd, int bar, uint64_t off, unsigned size, bool is_write,
			uint64_t *val)
{
	struct pci_msi_state *s = pd->msi;
	if (!s || !s->msix_nvec || bar != s->msix_bar)
		return 0;
	uint64_t tlen = (uint64_t)s->msix_nvec * MSIX_ENTRY;
	uint64_t plen = ((s->msix_nvec + 63) / 64) * 8;
	bool in_table = off >= s->table_off && off < s->table_off + tlen;
	bool in_pba = off >= s->pba_off && off < s->pba_off + plen;
	if (!in_table && !in_pba)
		return 0;
	pthread_mutex_lock(&s->lock);
	if (!is_write)
		*val = 0;
	if (in_table) {
		uint64_t t = off - s->table_off;
		struct msix_entry *e = &s->tab[t / MSIX_ENTRY];
		unsigned at = (unsigned)(t % MSIX_ENTRY);
		uint8_t b[MSIX_ENTRY];
		entry_bytes(e, b);
		/* an access is a dword or qword inside one entry; the rest of a wider one is lost
		 */
		if (!is_write) {
			for (unsigned i = 0; i < size && at + i < MSIX_ENTRY; i++)
				*val |= (uint64_t)b[at + i] << (8 * i);
		} else {
			for (unsigned i = 0; i < size && at + i < MSIX_ENTRY; i++)
				b[at + i] = (*val >> (8 * i)) & 0xff;
			bool was_masked = e->ctrl & 1;
			e->addr_lo = le32_at(b);
			e->addr_hi = le32_at(b + 4);
			e->data = le32_at(b + 8);
			e->ctrl = le32_at(b + 12) & 1;
			e->r.unroutable = false; /* new address or data: worth another try */
			if (e->r.gsi >= 0)
				irqroute_msi_update(pd->vm, e->r.gsi,
						    (uint64_t)e->addr_hi << 32 | e->addr_lo,
						    e->data);
			if (was_masked && !(e->ctrl & 1) && e->pending && msix_on(pd, s))
				msix_send(pd, s, (unsigned)(t / MSIX_ENTRY));
		}
	} else if (!is_write) {
		/* PBA: read-only pending bits, 64 vectors per qword */
		uint64_t p = off - s->pba_off;
		for (unsigned i = 0; i < size && p + i < plen; i++) {
			uint64_t byte = p + i;
			uint8_t bits = 0;
			for (unsigned k = 0; k < 8; k++) {
				uint64_t v = byte * 8 + k;
				if (v < s->msix_nvec && s->tab[v].pending)
					bits |= (uint8_t)(1u << k);
			}
			*val |= (uint64_t)bits << (8 * i);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return 1;
}

/* ---- teardown ---- */

static void route_free(struct pci_dev *pd, struct msi_route *r)
{
	if (r->gsi >= 0)
		irqroute_msi_remove(pd->vm, r->gsi, r->efd);
	if (r->efd >= 0)
		close(r->efd);
	r->gsi = r->efd = -1;
}

void pci_msi_free(struct pci_dev *pd)
{
	struct pci_msi_state *s = pd->msi;
	if (!s)
		return;
	for (unsigned v = 0; v < s->msi_nvec; v++)
		route_free(pd, &s->msi_r[v]);
	for (unsigned v = 0; v < s->msix_nvec; v++)
		route_free(pd, &s->tab[v].r);
	pthread_mutex_destroy(&s->lock);
	free(s->tab);
	free(s);
	pd->msi = NULL;
}

void pci_msi_snapshot(struct snap *s, struct pci_dev *pd)
{
	struct pci_msi_state *st = pd->msi;
	uint32_t n = st ? st->msix_nvec : 0;
	snap_u32(s, &n);
	if (!snap_check(s, n == (st ? st->msix_nvec : 0), "MSI-X table size"))
		return;
	if (!n)
		return;
	pthread_mutex_lock(&st->lock);
	for (unsigned v = 0; v < n; v++) {
		struct msix_entry *e = &st->tab[v];
		snap_u32(s, &e->addr_lo);
		snap_u32(s, &e->addr_hi);
		snap_u32(s, &e->data);
		snap_u32(s, &e->ctrl);
		snap_bool(s, &e->pending);
		if (snap_loading(s) && e->r.gsi >= 0)
			irqroute_msi_update(pd->vm, e->r.gsi,
					    (uint64_t)e->addr_hi << 32 | e->addr_lo, e->data);
	}
	pthread_mutex_unlock(&st->lock);
}
