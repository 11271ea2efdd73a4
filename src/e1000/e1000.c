/* SPDX-License-Identifier: BSD-2-Clause */
/* e1000: bhyve's `-s S,e1000,BACKEND[,mac=xx:xx:xx:xx:xx:xx]`, an Intel 82545EM copper NIC
 * (8086:100F, subsystem 8086:1008), as Linux's e1000 and FreeBSD's em drive it. This file: the
 * PCI function, the register file behind BAR 0 (and the I/O BAR's IOADDR/IODATA window),
 * interrupts and reset. EEPROM/PHY, transmit and receive live in their own files (e1000.h).
 *
 * BARs: 0 MEM32 128 KiB registers; 1 MEM32 64 KiB flash (reads all ones, writes ignored);
 * 2 I/O (8 bytes used; see E1000_IO_SIZE): IOADDR at 0 selects a register offset, IODATA at 4 reads
 * or writes it. INTx pin A, no MSI (as the 82545EM).
 *
 * Registers are 32 bits wide; narrower reads return part of the register (with its read side
 * effects), narrower writes are ignored, 8-byte accesses are two 32-bit ones. Unknown offsets
 * read 0 and ignore writes (a debug line). Statistics (0x4000-0x40FF) clear on read; 64-bit
 * pairs clear when the high half is read.
 *
 * Interrupts: INTx is asserted while ICR & IMS is non-zero, and deasserted as soon as it is
 * not (ICR read clears it, IMC masks). ITR (units of 256 ns) spaces assertions: a cause that
 * arrives sooner after the previous assertion is delivered by a timerfd when the interval ends.
 *
 * Link: always up at 1000 Mb/s full duplex (STATUS read-only); the driver's ICS LSC starts its
 * watchdog. CTRL.RST returns every register to its reset value and stops both rings.
 *
 * Guest mistakes (bad rings, buffers outside RAM) stop the ring concerned and log through a
 * rate limit; nothing here trusts a register value as an index without bounding it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "core/evloop.h"
#include "core/vm.h"
#include "e1000/e1000.h"
#include "pci/pci.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- interrupts ---- */

static void intx_update(struct e1000 *e)
{
	bool want = (e->icr & e->ims) != 0;
	if (!want) {
		if (e->intx) {
			e->intx = false;
			pci_intx_deassert(e->pd);
		}
		return;
	}
	if (e->intx)
		return;
	uint64_t now = now_ns();
	if (e->itr && now < e->next_intr_ns) {
		/* too soon after the last one: the timer delivers it */
		if (!e->itr_armed && e->itr_fd >= 0) {
			uint64_t d = e->next_intr_ns - now;
			struct itimerspec its = {
			    .it_value = {(time_t)(d / 1000000000ull), (long)(d % 1000000000ull)}};
			if (timerfd_settime(e->itr_fd, 0, &its, NULL) == 0) {
				e->itr_armed = true;
				return;
			}
		} else if (e->itr_armed) {
			return;
		}
	}
	e->intx = true;
	e->next_intr_ns = now + (uint64_t)(e->itr & 0xffff) * 256;
	pci_intx_assert(e->pd);
}

void e1000_set_cause(struct e1000 *e, uint32_t causes)
{
	e->icr |= causes & E1000_ICR_VALID;
	intx_update(e);
}

static void itr_timer(int fd, uint32_t events, void *opaque)
{
	struct e1000 *e = opaque;
	uint64_t v;
	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return;
	pthread_mutex_lock(&e->mtx);
	e->itr_armed = false;
	intx_update(e);
	pthread_mutex_unlock(&e->mtx);
}

static void itr_disarm(struct e1000 *e)
{
	if (e->itr_armed && e->itr_fd >= 0) {
		struct itimerspec its = {0};
		timerfd_settime(e->itr_fd, 0, &its, NULL);
	}
	e->itr_armed = false;
}

/* ---- reset ---- */

static void load_ra0(struct e1000 *e)
{
	e->ra[0] = (uint32_t)e->mac[0] | (uint32_t)e->mac[1] << 8 | (uint32_t)e->mac[2] << 16 |
		   (uint32_t)e->mac[3] << 24;
	e->ra[1] = (uint32_t)e->mac[4] | (uint32_t)e->mac[5] << 8 | E1000_RAH_AV;
}

/* Every register to its power-on value, both rings stopped, INTx off. The EEPROM's contents
 * and the PHY stay (they are separate parts). */
static void dev_reset(struct e1000 *e)
{
	e->ctrl = E1000_CTRL_FD | E1000_CTRL_SLU | E1000_CTRL_SPD_1000;
	e->ctrl_ext = e->eerd = e->fla = 0;
	e->mdic = E1000_MDIC_READY;
	e->icr = e->ims = e->itr = 0;
	e->rctl = e->rdbal = e->rdbah = e->rdlen = e->rdh = e->rdt = 0;
	e->rdtr = e->radv = e->rsrpd = e->rxcsum = 0;
	e->rxdctl = 0x00010000;
	e->tctl = e->tdbal = e->tdbah = e->tdlen = e->tdh = e->tdt = 0;
	e->tipg = e->ait = e->tidv = e->tadv = e->tspmt = 0;
	e->txdctl = 0x00010000;
	e->fcal = e->fcah = e->fct = e->fcttv = e->fcrtl = e->fcrth = e->txcw = 0;
	e->vet = 0x8100;
	e->ledctl = 0x07068302;
	e->pba = 0x00000030; /* 48 KiB receive, 16 KiB transmit */
	e->manc = e->wuc = e->wufc = e->wus = 0;
	memset(e->ra, 0, sizeof(e->ra));
	memset(e->mta, 0, sizeof(e->mta));
	memset(e->vfta, 0, sizeof(e->vfta));
	memset(e->stats, 0, sizeof(e->stats));
	load_ra0(e);
	e->ioaddr = 0;
	e->ee.eecd = 0;
	e->ee.state = EE_IDLE;
	e->ee.do_bit = true;
	e->tx_stopped = e->rx_stopped = false;
	e1000_tx_reset(e);
	itr_disarm(e);
	e->next_intr_ns = 0;
	intx_update(e);
	e1000_rx_reset(e);
}

/* ---- the register file ---- */

static uint32_t stat_read(struct e1000 *e, unsigned idx)
{
	switch (idx) {
	case E1000_ST_GORCL:
	case E1000_ST_GOTCL:
	case E1000_ST_TORL:
	case E1000_ST_TOTL:
		return (uint32_t)e->stats[idx];
	case E1000_ST_GORCL + 1:
	case E1000_ST_GOTCL + 1:
	case E1000_ST_TORL + 1:
	case E1000_ST_TOTL + 1: {
		uint32_t v = (uint32_t)(e->stats[idx - 1] >> 32);
		e->stats[idx - 1] = 0;
		return v;
	}
	default: {
		uint64_t v = e->stats[idx];
		e->stats[idx] = 0;
		return v > 0xffffffffu ? 0xffffffffu : (uint32_t)v;
	}
	}
}

static uint32_t reg_read(struct e1000 *e, uint32_t off)
{
	off &= (E1000_REGS_SIZE - 1) & ~3u;
	if (off >= E1000_MTA && off < E1000_MTA + 4 * E1000_MTA_N)
		return e->mta[(off - E1000_MTA) / 4];
	if (off >= E1000_RA && off < E1000_RA + 8 * E1000_RA_N)
		return e->ra[(off - E1000_RA) / 4];
	if (off >= E1000_VFTA && off < E1000_VFTA + 4 * E1000_VFTA_N)
		return e->vfta[(off - E1000_VFTA) / 4];
	if (off >= E1000_STATS_BASE && off < E1000_STATS_END)
		return stat_read(e, (off - E1000_STATS_BASE) / 4);
	switch (off) {
	case E1000_CTRL:
		return e->ctrl;
	case E1000_STATUS:
		return E1000_STATUS_FD | E1000_STATUS_LU | E1000_STATUS_SPEED_1000;
	case E1000_EECD:
		return e1000_eecd_read(e);
	case E1000_EERD:
		return e->eerd;
	case E1000_CTRL_EXT:
		return e->ctrl_ext;
	case E1000_FLA:
		return e->fla;
	case E1000_MDIC:
		return e->mdic;
	case E1000_FCAL:
		return e->fcal;
	case E1000_FCAH:
		return e->fcah;
	case E1000_FCT:
		return e->fct;
	case E1000_VET:
		return e->vet;
	case E1000_ICR: {
		uint32_t v = e->icr;
		e->icr = 0;
		intx_update(e);
		return v;
	}
	case E1000_ITR:
		return e->itr;
	case E1000_IMS:
		return e->ims;
	case E1000_RCTL:
		return e->rctl;
	case E1000_FCTTV:
		return e->fcttv;
	case E1000_TXCW:
		return e->txcw;
	case E1000_RXCW:
		return 0x0C000000; /* synchronized, config word received (no meaning on copper) */
	case E1000_TCTL:
		return e->tctl;
	case E1000_TIPG:
		return e->tipg;
	case E1000_AIT:
		return e->ait;
	case E1000_LEDCTL:
		return e->ledctl;
	case E1000_PBA:
		return e->pba;
	case E1000_FCRTL:
		return e->fcrtl;
	case E1000_FCRTH:
		return e->fcrth;
	case E1000_RDBAL:
		return e->rdbal;
	case E1000_RDBAH:
		return e->rdbah;
	case E1000_RDLEN:
		return e->rdlen;
	case E1000_RDH:
		return e->rdh;
	case E1000_RDT:
		return e->rdt;
	case E1000_RDTR:
		return e->rdtr;
	case E1000_RXDCTL:
		return e->rxdctl;
	case E1000_RADV:
		return e->radv;
	case E1000_RSRPD:
		return e->rsrpd;
	case E1000_TDBAL:
		return e->tdbal;
	case E1000_TDBAH:
		return e->tdbah;
	case E1000_TDLEN:
		return e->tdlen;
	case E1000_TDH:
		return e->tdh;
	case E1000_TDT:
		return e->tdt;
	case E1000_TIDV:
		return e->tidv;
	case E1000_TXDCTL:
		return e->txdctl;
	case E1000_TADV:
		return e->tadv;
	case E1000_TSPMT:
		return e->tspmt;
	case E1000_RXCSUM:
		return e->rxcsum;
	case E1000_WUC:
		return e->wuc;
	case E1000_WUFC:
		return e->wufc;
	case E1000_WUS:
		return e->wus;
	case E1000_MANC:
		return e->manc;
	default:
		kb_debug("%s: read of unknown register %#x", e->name, off);
		return 0;
	}
}

/* The receive ring was reprogrammed: a stopped ring may run again. */
static void rx_ring_changed(struct e1000 *e)
{
	e->rx_stopped = false;
	e1000_rx_kick(e);
}

/* The transmit ring was reprogrammed: a stopped ring may run again, and a packet half
 * assembled from the old ring is forgotten. */
static void tx_ring_changed(struct e1000 *e)
{
	e->tx_stopped = false;
	e1000_tx_reset(e);
}

static void reg_write(struct e1000 *e, uint32_t off, uint32_t v)
{
	off &= (E1000_REGS_SIZE - 1) & ~3u;
	if (off >= E1000_MTA && off < E1000_MTA + 4 * E1000_MTA_N) {
		e->mta[(off - E1000_MTA) / 4] = v;
		return;
	}
	if (off >= E1000_RA && off < E1000_RA + 8 * E1000_RA_N) {
		unsigned i = (off - E1000_RA) / 4;
		e->ra[i] = (i & 1) ? v & (E1000_RAH_AV | 0x0003FFFF) : v;
		return;
	}
	if (off >= E1000_VFTA && off < E1000_VFTA + 4 * E1000_VFTA_N) {
		e->vfta[(off - E1000_VFTA) / 4] = v;
		return;
	}
	if (off >= E1000_STATS_BASE && off < E1000_STATS_END)
		return; /* read-only counters */
	switch (off) {
	case E1000_CTRL:
		if (v & E1000_CTRL_RST) {
			dev_reset(e);
			return;
		}
		if (v & E1000_CTRL_PHY_RST)
			e1000_phy_reset(e);
		e->ctrl = v & ~(E1000_CTRL_RST | E1000_CTRL_PHY_RST);
		return;
	case E1000_EECD:
		e1000_eecd_write(e, v);
		return;
	case E1000_EERD:
		e1000_eerd_write(e, v);
		return;
	case E1000_CTRL_EXT:
		e->ctrl_ext = v;
		return;
	case E1000_FLA:
		e->fla = v;
		return;
	case E1000_MDIC:
		e1000_mdic_write(e, v);
		return;
	case E1000_FCAL:
		e->fcal = v;
		return;
	case E1000_FCAH:
		e->fcah = v & 0xffff;
		return;
	case E1000_FCT:
		e->fct = v & 0xffff;
		return;
	case E1000_VET:
		e->vet = v & 0xffff;
		return;
	case E1000_ICR: /* writing ones clears */
		e->icr &= ~v;
		intx_update(e);
		return;
	case E1000_ITR:
		e->itr = v & 0xffff;
		return;
	case E1000_ICS:
		e1000_set_cause(e, v);
		return;
	case E1000_IMS:
		e->ims |= v & E1000_ICR_VALID;
		intx_update(e);
		return;
	case E1000_IMC:
		e->ims &= ~v;
		intx_update(e);
		return;
	case E1000_RCTL:
		e->rctl = v;
		rx_ring_changed(e);
		return;
	case E1000_FCTTV:
		e->fcttv = v & 0xffff;
		return;
	case E1000_TXCW:
		e->txcw = v;
		return;
	case E1000_TCTL:
		e->tctl = v;
		e->tx_stopped = false;
		e1000_tx_run(e);
		return;
	case E1000_TIPG:
		e->tipg = v;
		return;
	case E1000_AIT:
		e->ait = v & 0xffff;
		return;
	case E1000_LEDCTL:
		e->ledctl = v;
		return;
	case E1000_PBA:
		e->pba = v & 0x3f;
		return;
	case E1000_FCRTL:
		e->fcrtl = v;
		return;
	case E1000_FCRTH:
		e->fcrth = v;
		return;
	case E1000_RDBAL:
		e->rdbal = v & ~0xfu;
		rx_ring_changed(e);
		return;
	case E1000_RDBAH:
		e->rdbah = v;
		rx_ring_changed(e);
		return;
	case E1000_RDLEN:
		e->rdlen = v & E1000_RING_LEN_MASK;
		rx_ring_changed(e);
		return;
	case E1000_RDH:
		e->rdh = v & E1000_RING_IDX_MASK;
		rx_ring_changed(e);
		return;
	case E1000_RDT:
		e->rdt = v & E1000_RING_IDX_MASK;
		e1000_rx_kick(e);
		return;
	case E1000_RDTR:
		e->rdtr = v;
		return;
	case E1000_RXDCTL:
		e->rxdctl = v;
		return;
	case E1000_RADV:
		e->radv = v & 0xffff;
		return;
	case E1000_RSRPD:
		e->rsrpd = v & 0xfff;
		return;
	case E1000_TDBAL:
		e->tdbal = v & ~0xfu;
		tx_ring_changed(e);
		return;
	case E1000_TDBAH:
		e->tdbah = v;
		tx_ring_changed(e);
		return;
	case E1000_TDLEN:
		e->tdlen = v & E1000_RING_LEN_MASK;
		tx_ring_changed(e);
		return;
	case E1000_TDH:
		e->tdh = v & E1000_RING_IDX_MASK;
		tx_ring_changed(e);
		return;
	case E1000_TDT:
		e->tdt = v & E1000_RING_IDX_MASK;
		e1000_tx_run(e);
		return;
	case E1000_TIDV:
		e->tidv = v & 0xffff;
		return;
	case E1000_TXDCTL:
		e->txdctl = v;
		return;
	case E1000_TADV:
		e->tadv = v & 0xffff;
		return;
	case E1000_TSPMT:
		e->tspmt = v;
		return;
	case E1000_RXCSUM:
		e->rxcsum = v & (E1000_RXCSUM_PCSS_MASK | E1000_RXCSUM_IPOFL | E1000_RXCSUM_TUOFL);
		return;
	case E1000_WUC:
		e->wuc = v;
		return;
	case E1000_WUFC:
		e->wufc = v;
		return;
	case E1000_WUS:
		e->wus &= ~v;
		return;
	case E1000_MANC:
		e->manc = v;
		return;
	case E1000_STATUS:
		return; /* read-only */
	default:
		kb_debug("%s: write of %#x to unknown register %#x", e->name, v, off);
		return;
	}
}

/* ---- BARs ---- */

static int e1000_barread(struct pci_dev *pd, int bar, uint64_t off, unsigned size, uint64_t *val)
{
	struct e1000 *e = pd->priv;
	if (bar == E1000_BAR_FLASH) {
		*val = size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
		return 0;
	}
	pthread_mutex_lock(&e->mtx);
	if (bar == E1000_BAR_REGS) {
		if (size == 8 && (off & 7) == 0) {
			uint64_t lo = reg_read(e, (uint32_t)off),
				 hi = reg_read(e, (uint32_t)off + 4);
			*val = lo | hi << 32;
		} else {
			uint32_t r = reg_read(e, (uint32_t)off);
			unsigned sh = 8 * (off & 3);
			*val = size >= 4 ? r : (r >> sh) & ((1u << (8 * size)) - 1);
		}
	} else if (bar == E1000_BAR_IO && off < 8) {
		uint32_t r = off < 4 ? e->ioaddr : reg_read(e, e->ioaddr);
		unsigned sh = 8 * (off & 3);
		*val = size >= 4 ? r : (r >> sh) & ((1u << (8 * size)) - 1);
	} else {
		*val = 0;
	}
	pthread_mutex_unlock(&e->mtx);
	return 0;
}

static int e1000_barwrite(struct pci_dev *pd, int bar, uint64_t off, unsigned size, uint64_t val)
{
	struct e1000 *e = pd->priv;
	if (bar == E1000_BAR_FLASH)
		return 0;
	pthread_mutex_lock(&e->mtx);
	if (bar == E1000_BAR_REGS) {
		if (size == 8 && (off & 7) == 0) {
			reg_write(e, (uint32_t)off, (uint32_t)val);
			reg_write(e, (uint32_t)off + 4, (uint32_t)(val >> 32));
		} else if (size == 4 && (off & 3) == 0) {
			reg_write(e, (uint32_t)off, (uint32_t)val);
		} else {
			kb_debug("%s: %u-byte write at %#llx ignored", e->name, size,
				 (unsigned long long)off);
		}
	} else if (bar == E1000_BAR_IO) {
		if (off == 0 && size == 4)
			e->ioaddr = (uint32_t)val & (E1000_REGS_SIZE - 1) & ~3u;
		else if (off == 4 && size == 4)
			reg_write(e, e->ioaddr, (uint32_t)val);
		else
			kb_debug("%s: I/O write of %u bytes at %llu ignored", e->name, size,
				 (unsigned long long)off);
	}
	pthread_mutex_unlock(&e->mtx);
	return 0;
}

/* ---- creation and teardown ---- */

static void e1000_destroy(void *opaque)
{
	struct e1000 *e = opaque;
	if (e->be) {
		struct netbe_stats st;
		netbe_get_stats(e->be, &st);
		kb_debug("%s: rx %llu frames %llu dropped, tx %llu frames %llu dropped", e->name,
			 (unsigned long long)st.rx_packets, (unsigned long long)st.rx_drops,
			 (unsigned long long)st.tx_packets, (unsigned long long)st.tx_drops);
	}
	netbe_close(e->be);
	if (e->itr_h)
		evloop_del(e->vm->ev, e->itr_h);
	if (e->itr_fd >= 0)
		close(e->itr_fd);
	if (e->more_h)
		evloop_del(e->vm->ev, e->more_h);
	if (e->more_fd >= 0)
		close(e->more_fd);
	pthread_mutex_destroy(&e->mtx);
	free(e->pkt);
	free(e->seg);
	free(e->rx_buf);
	free(e);
}

static int check_keys(struct cfgnode *devnode, const char *name)
{
	static const char *const known[] = {"device", "backend", "type", "mac"};
	for (struct cfgnode *c = config_first_child(devnode); c; c = config_next_sibling(c)) {
		bool ok = false;
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			ok |= strcmp(config_name(c), known[i]) == 0;
		if (!ok) {
			kb_log("%s: unknown setting '%s' (e1000 takes backend, type, mac)", name,
			       config_name(c));
			return -EINVAL;
		}
	}
	return 0;
}

static void tx_more_event(int fd, uint32_t events, void *opaque)
{
	struct e1000 *e = opaque;
	uint64_t v;
	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return;
	pthread_mutex_lock(&e->mtx);
	e1000_tx_run(e);
	pthread_mutex_unlock(&e->mtx);
}

static int e1000_init(struct vm *vm, struct pci_dev *pd, struct cfgnode *devnode)
{
	char name[40];
	snprintf(name, sizeof(name), "e1000 %d:%d.%d", pd->bus, pd->slot, pd->func);
	int rc = check_keys(devnode, name);
	if (rc)
		return rc;
	uint8_t mac[6];
	rc = netbe_mac_from_config(devnode, config_get(vm->cfg, "name"), pd->bus, pd->slot,
				   pd->func, name, mac);
	if (rc)
		return rc;

	struct e1000 *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	pthread_mutex_init(&e->mtx, NULL);
	e->vm = vm;
	e->pd = pd;
	e->itr_fd = e->more_fd = -1;
	e->rx_paused = true;
	memcpy(e->mac, mac, 6);
	snprintf(e->name, sizeof(e->name), "%s", name);
	rc = vm_at_destroy(vm, e1000_destroy, e);
	if (rc) {
		pthread_mutex_destroy(&e->mtx);
		free(e);
		return rc;
	}
	/* from here on the destroy hook frees e, also when init fails */
	e->pkt = malloc(E1000_TX_MAX);
	e->seg = malloc(E1000_TX_MAX);
	e->rx_buf = malloc(NETBE_VNET_HDR_MRG_LEN + E1000_RX_READ_MAX + 1);
	if (!e->pkt || !e->seg || !e->rx_buf)
		return -ENOMEM;
	e->itr_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (e->itr_fd >= 0)
		e->itr_h = evloop_add_fd(vm->ev, e->itr_fd, EPOLLIN, itr_timer, e);
	e->more_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (e->more_fd >= 0)
		e->more_h = evloop_add_fd(vm->ev, e->more_fd, EPOLLIN, tx_more_event, e);
	if (!e->itr_h || !e->more_h) {
		kb_log("%s: cannot create its timer and wake-up descriptors", name);
		return -ENOMEM;
	}
	if (config_get(devnode, "backend")) {
		char err[256];
		rc = netbe_open_config(&e->be, devnode, e->name, vm->ev, e1000_rx_backend, e, err,
				       sizeof(err));
		if (rc < 0) {
			kb_log("%s: %s", e->name, err);
			return rc;
		}
		e->be_hdr = netbe_vnet_hdr_supported(e->be);
		if (e->be_hdr) {
			/* plain frames with a 10-byte header: checksums and segmentation are done
			 * here, so the tap must hand over complete frames only */
			e->hdr_len = NETBE_VNET_HDR_LEN;
			rc = netbe_set_vnet_hdr_len(e->be, e->hdr_len);
			if (rc == 0)
				rc = netbe_set_offload(e->be, 0);
			if (rc < 0) {
				kb_log("%s: cannot configure %s: %s", e->name,
				       netbe_describe(e->be), strerror(-rc));
				return rc;
			}
		}
	} else {
		kb_log("%s: no network backend; the guest's frames are discarded", e->name);
	}

	pci_set_cfg16(pd, PCIR_VENDOR, E1000_VENDOR_INTEL);
	pci_set_cfg16(pd, PCIR_DEVICE, E1000_DEV_82545EM);
	pci_set_cfg16(pd, PCIR_SUBVEND, E1000_VENDOR_INTEL);
	pci_set_cfg16(pd, PCIR_SUBDEV, E1000_SUBSYS_ID);
	pci_set_cfg8(pd, PCIR_CLASS, 0x02); /* network, Ethernet */
	pci_set_cfg8(pd, PCIR_SUBCLASS, 0x00);
	pci_set_cfg8(pd, PCIR_PROGIF, 0x00);
	pci_set_cfg8(pd, PCIR_REVID, 0x00);
	rc = pci_alloc_bar(pd, E1000_BAR_REGS, PCI_BAR_MEM32, E1000_REGS_SIZE);
	if (rc == 0)
		rc = pci_alloc_bar(pd, E1000_BAR_FLASH, PCI_BAR_MEM32, E1000_FLASH_SIZE);
	if (rc == 0)
		rc = pci_alloc_bar(pd, E1000_BAR_IO, PCI_BAR_IO, E1000_IO_SIZE);
	if (rc == 0)
		rc = pci_alloc_intx(pd, 1);
	if (rc < 0) {
		kb_log("%s: cannot set up the PCI function: %s", e->name, strerror(-rc));
		return rc;
	}
	e1000_eeprom_init(e);
	e1000_phy_reset(e);
	dev_reset(e);
	pd->priv = e;
	if (e->be)
		kb_debug("%s: %s, MAC %02x:%02x:%02x:%02x:%02x:%02x", e->name,
			 netbe_describe(e->be), mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	return 0;
}

static const struct pci_devemu e1000_emu = {
    .name = "e1000",
    .legacy_config = netbe_legacy_config,
    .init = e1000_init,
    .barread = e1000_barread,
    .barwrite = e1000_barwrite,
};
PCI_EMUL(e1000_emu);
