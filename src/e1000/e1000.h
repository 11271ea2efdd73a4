/* SPDX-License-Identifier: BSD-2-Clause */
/* e1000: the device state shared by the files of the Intel 82545EM model (e1000.c: PCI function,
 * register file, interrupts; e1000_eeprom.c: EEPROM and PHY; e1000_tx.c; e1000_rx.c).
 *
 * Locking: one mutex per device (`mtx`) covers everything here. Register accesses come from
 * vCPU threads, received frames and timers from the event-loop thread; every function below
 * expects the mutex held unless it says otherwise. The backend may be called with it held. */
#ifndef KB_E1000_H
#define KB_E1000_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/netbe.h"
#include "core/log.h"
#include "e1000/e1000_regs.h"

struct vm;
struct pci_dev;

/* The largest packet assembled from transmit descriptors: 64 KiB of TSO payload plus headers.
 * Anything longer is dropped and its descriptors completed. */
#define E1000_TX_MAX (65536 + 256)
/* The largest frame received (LPE, 16 KiB buffers); a longer one is dropped. */
#define E1000_RX_MAX 16384
/* What one read from the backend may bring (a tap with a large MTU): more is cut and dropped. */
#define E1000_RX_READ_MAX (65536 + 64)

struct e1000_eeprom {
	uint16_t words[E1000_EEPROM_WORDS];
	uint32_t eecd; /* software-written bits */
	/* Microwire state: idle (waiting for the start bit), command, data in, data out */
	enum { EE_IDLE, EE_CMD, EE_DATA_IN, EE_DATA_OUT, EE_DONE } state;
	unsigned nbits;
	uint32_t shift;
	uint8_t addr;
	bool all;      /* WRAL */
	bool do_bit;   /* DO as the guest reads it */
	bool write_en; /* EWEN */
};

/* The offload context of the last context descriptor. */
struct e1000_txctx {
	uint8_t ipcss, ipcso, tucss, tucso, tucmd, hdrlen;
	uint16_t ipcse, tucse, mss;
	uint32_t paylen;
};

struct e1000 {
	pthread_mutex_t mtx;
	struct vm *vm;
	struct pci_dev *pd;
	char name[40]; /* "e1000 0:3.0" */
	uint8_t mac[6];

	struct net_backend *be;
	bool be_hdr; /* frames to and from the backend carry a virtio-net header */
	size_t hdr_len;

	/* registers */
	uint32_t ctrl, ctrl_ext, eerd, mdic, fla;
	uint32_t icr, ims, itr;
	uint32_t rctl, rdbal, rdbah, rdlen, rdh, rdt, rdtr, radv, rxdctl, rsrpd, rxcsum;
	uint32_t tctl, tipg, ait, tdbal, tdbah, tdlen, tdh, tdt, tidv, tadv, txdctl, tspmt;
	uint32_t fcal, fcah, fct, fcttv, fcrtl, fcrth, vet, txcw, ledctl, pba, manc, wuc, wufc, wus;
	uint32_t ra[2 * E1000_RA_N], mta[E1000_MTA_N], vfta[E1000_VFTA_N];
	uint64_t stats[E1000_ST_N]; /* clear-on-read counters; 64-bit pairs kept at the low index */
	uint32_t ioaddr;	    /* I/O BAR: the register IODATA reaches */

	struct e1000_eeprom ee;
	uint16_t phy[32];

	/* interrupts: INTx follows (icr & ims) != 0; assertions at most one per ITR interval */
	bool intx;
	uint64_t next_intr_ns; /* CLOCK_MONOTONIC: earliest next assertion */
	int itr_fd;	       /* timerfd for a deferred assertion */
	bool itr_armed;
	struct evloop_handle *itr_h;

	/* transmit */
	bool tx_stopped; /* a bad ring: nothing until the guest reprograms it */
	struct e1000_txctx ctx;
	uint8_t *pkt; /* the packet being assembled (E1000_TX_MAX) */
	uint8_t *seg; /* one TSO segment */
	size_t pkt_len;
	bool pkt_started, pkt_drop, pkt_tse;
	uint8_t pkt_popts, pkt_cmd, pkt_css, pkt_cso;
	bool pkt_legacy_ic;
	uint16_t pkt_special;
	int more_fd; /* eventfd: transmit work left over from a doorbell */
	struct evloop_handle *more_h;
	struct kb_ratelimit tx_log;

	/* receive */
	bool rx_stopped;       /* a bad ring */
	bool rx_paused;	       /* backend reception paused (a frame is held for lack of buffers) */
	bool held;	       /* rx_buf holds a frame waiting for descriptors */
	bool rx_nobuf;	       /* the held frame was counted in RNBC */
	uint8_t *rx_buf;       /* virtio-net header + E1000_RX_READ_MAX + spare */
	size_t rx_off, rx_len; /* the held frame: rx_buf[rx_off, rx_off + rx_len), FCS included */
	uint16_t rx_special, rx_csum;
	uint8_t rx_status, rx_errors; /* for its last descriptor */
	struct kb_ratelimit rx_log;
	struct kb_ratelimit reg_log;
};

/* ---- e1000.c ---- */
/* Add interrupt causes and re-evaluate INTx. */
void e1000_set_cause(struct e1000 *e, uint32_t causes);
/* Count into a statistics register (64-bit pairs at their low index). */
static inline void e1000_stat(struct e1000 *e, unsigned idx, uint64_t n)
{
	e->stats[idx] += n;
}

/* ---- e1000_eeprom.c ---- */
/* Build the EEPROM image for `mac` (IDs, init words, checksum). */
void e1000_eeprom_init(struct e1000 *e);
void e1000_eecd_write(struct e1000 *e, uint32_t v);
uint32_t e1000_eecd_read(const struct e1000 *e);
void e1000_eerd_write(struct e1000 *e, uint32_t v);
void e1000_phy_reset(struct e1000 *e);
void e1000_mdic_write(struct e1000 *e, uint32_t v);

/* ---- e1000_tx.c ---- */
/* Process descriptors from TDH to TDT (bounded; leftover work goes to the event loop). */
void e1000_tx_run(struct e1000 *e);
/* Forget the packet being assembled and the context (reset, ring reprogrammed). */
void e1000_tx_reset(struct e1000 *e);

/* ---- e1000_rx.c ---- */
/* The backend has frames (event-loop thread; takes the mutex). */
void e1000_rx_backend(void *opaque);
/* Receive state changed (RDT moved, RCTL written, ring reprogrammed): deliver a held frame and
 * resume the backend if there is room. */
void e1000_rx_kick(struct e1000 *e);
/* Drop a held frame (reset) and resume the backend. */
void e1000_rx_reset(struct e1000 *e);

/* ---- Internet checksums (16-bit big-endian words, ones' complement) ---- */
static inline uint32_t e1000_csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	uint64_t s = sum;
	size_t i = 0;
	for (; i + 1 < len; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (i < len)
		s += (uint32_t)p[i] << 8;
	while (s >> 32)
		s = (s & 0xffffffffu) + (s >> 32);
	return (uint32_t)s;
}

static inline uint16_t e1000_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static inline uint16_t be16_get(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void be16_put(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

#endif
