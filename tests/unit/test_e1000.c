/* SPDX-License-Identifier: BSD-2-Clause */
/* e1000 (82545EM) at the register level, through the real PCI function: BARs and IDs, reset
 * values, the EEPROM read by Microwire bit-banging (as Linux's e1000 does for the 82545) and
 * through EERD, the PHY behind MDIC, transmit (legacy, checksum offload, TSO) and receive
 * (single and spanning buffers, address filters, a full ring) with rings built by hand in guest
 * RAM, ICR/IMS/INTx and ITR, malformed rings, and the -s options. The backend is one end of a
 * SEQPACKET socket pair (fd:N: plain frames); the event loop runs on its own thread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vm_harness.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "backends/netbe.h"
#include "config/config.h"
#include "core/vm.h"
#include "e1000/e1000_regs.h"
#include "pci/pci.h"

#define GUEST_MEM (8u << 20)
#define SLOT 4
#define TX_RING 0x10000u
#define RX_RING 0x20000u
#define TX_BUF 0x100000u
#define RX_BUF 0x200000u
#define NDESC 8

static const uint8_t MAC[6] = {0x00, 0xa0, 0x98, 0x11, 0x22, 0x33};

struct env {
	struct vm *vm;
	uint8_t *ram;
	uint64_t bar0, bar2;
	int peer;
	pthread_t loop;
	bool loop_running;
};

static uint32_t cfgr(struct env *e, unsigned reg, unsigned size)
{
	return harness_cfg_read(e->vm, SLOT, reg, size);
}

static void cfgw(struct env *e, unsigned reg, unsigned size, uint32_t v)
{
	harness_cfg_write(e->vm, SLOT, reg, size, v);
}

static uint32_t rd(struct env *e, uint32_t off)
{
	return (uint32_t)harness_mmio_read(e->vm, e->bar0 + off, 4);
}

static void wr(struct env *e, uint32_t off, uint32_t v)
{
	harness_mmio_write(e->vm, e->bar0 + off, 4, v);
}

static uint32_t io(struct env *e, unsigned off, bool w, uint32_t v)
{
	uint64_t x = v;
	assert_int_equal(iobus_dispatch(&e->vm->bus, IOBUS_PIO, e->bar2 + off, 4, w, &x), 0);
	return (uint32_t)x;
}

static int env_open(struct env **out, const char *opts)
{
	struct env *e = calloc(1, sizeof(*e));
	e->peer = -1;
	e->vm = harness_vm_new();
	e->ram = calloc(1, GUEST_MEM);
	guestmem_init_from(&e->vm->mem, e->ram, GUEST_MEM, 0);
	assert_int_equal(config_set(e->vm->cfg, "name", "testvm"), 0);
	int rc = harness_add_device(e->vm, SLOT, "e1000", opts);
	if (rc == 0)
		rc = pci_init_all(e->vm);
	if (rc) {
		harness_vm_free(e->vm);
		free(e->ram);
		free(e);
		*out = NULL;
		return rc;
	}
	e->bar0 = cfgr(e, PCIR_BAR0, 4) & ~0xfULL;
	e->bar2 = cfgr(e, PCIR_BAR0 + 8, 4) & ~0x3ULL;
	cfgw(e, PCIR_COMMAND, 2, 0x7);
	*out = e;
	return 0;
}

/* The device on a SEQPACKET socket pair with MAC, the event loop running. */
static struct env *env_socket(void)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	int big = 4 << 20;
	if (setsockopt(sv[0], SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)) < 0)
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	char opts[96];
	snprintf(opts, sizeof(opts), "fd:%d,mac=00:a0:98:11:22:33", sv[0]);
	struct env *e;
	assert_int_equal(env_open(&e, opts), 0);
	e->peer = sv[1];
	assert_int_equal(pthread_create(&e->loop, NULL, harness_loop_thread, e->vm->ev), 0);
	e->loop_running = true;
	return e;
}

static void env_close(struct env *e)
{
	if (e->loop_running) {
		evloop_stop(e->vm->ev, 0);
		pthread_join(e->loop, NULL);
	}
	harness_vm_free(e->vm);
	if (e->peer >= 0)
		close(e->peer);
	free(e->ram);
	free(e);
}

static unsigned gsi(struct env *e)
{
	return pci_find_dev(e->vm, 0, SLOT, 0)->gsi;
}

static bool intx(struct env *e)
{
	return pci_intx_level(e->vm, gsi(e));
}

/* A frame from the far end: -1 when none arrives in 1 s. */
static ssize_t peer_recv(struct env *e, uint8_t *buf, size_t len)
{
	struct pollfd p = {e->peer, POLLIN, 0};
	if (poll(&p, 1, 1000) <= 0)
		return -1;
	return recv(e->peer, buf, len, 0);
}

static bool peer_quiet(struct env *e)
{
	struct pollfd p = {e->peer, POLLIN, 0};
	return poll(&p, 1, 100) == 0;
}

/* ---- checksums ---- */

static uint32_t sum16(uint32_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)be16(p) << 16 | be16(p + 2);
}

/* The IPv4 header and TCP/UDP checksums of a frame are right. */
static void assert_ipv4_csums(const uint8_t *f, size_t len)
{
	assert_true(len >= 34);
	const uint8_t *ip = f + 14;
	size_t ihl = (ip[0] & 0xf) * 4u, tot = be16(ip + 2);
	assert_true(14 + tot <= len);
	assert_int_equal(fold(sum16(0, ip, ihl)), 0xffff);
	size_t l4len = tot - ihl;
	uint32_t ps = sum16(0, ip + 12, 8) + ip[9] + (uint32_t)l4len;
	assert_int_equal(fold(sum16(ps, ip + ihl, l4len)), 0xffff);
}

/* An Ethernet + IPv4 + TCP (or UDP) frame to `dst` with `plen` payload bytes; the L4 checksum
 * field holds the pseudo-header sum as a driver leaves it for offload (with or without the
 * length), the IP checksum is 0. Returns the length. */
static size_t make_ip_frame(uint8_t *f, const uint8_t dst[6], bool tcp, size_t plen,
			    bool pseudo_len)
{
	memcpy(f, dst, 6);
	static const uint8_t src[6] = {0x02, 0, 0, 0, 0, 0x42};
	memcpy(f + 6, src, 6);
	f[12] = 0x08;
	f[13] = 0x00;
	uint8_t *ip = f + 14;
	size_t l4h = tcp ? 20 : 8, tot = 20 + l4h + plen;
	memset(ip, 0, 20);
	ip[0] = 0x45;
	ip[2] = (uint8_t)(tot >> 8);
	ip[3] = (uint8_t)tot;
	ip[4] = 0x12;
	ip[5] = 0x34;
	ip[6] = 0x40;
	ip[8] = 64;
	ip[9] = tcp ? 6 : 17;
	static const uint8_t addrs[8] = {10, 0, 0, 1, 10, 0, 0, 2};
	memcpy(ip + 12, addrs, 8);
	uint8_t *l4 = ip + 20;
	memset(l4, 0, l4h);
	l4[0] = 0x30;
	l4[1] = 0x39;
	l4[2] = 0x00;
	l4[3] = 0x50;
	if (tcp) {
		l4[4] = 0x01;
		l4[5] = 0x02;
		l4[6] = 0x03;
		l4[7] = 0x04;
		l4[12] = 0x50;
		l4[13] = 0x18 | 0x01; /* ACK PSH FIN */
		l4[14] = 0xff;
	} else {
		l4[4] = (uint8_t)((8 + plen) >> 8);
		l4[5] = (uint8_t)(8 + plen);
	}
	for (size_t i = 0; i < plen; i++)
		l4[l4h + i] = (uint8_t)(i * 13 + 7);
	uint32_t ps = sum16(0, ip + 12, 8) + ip[9] + (pseudo_len ? (uint32_t)(l4h + plen) : 0);
	uint16_t c = fold(ps);
	size_t at = tcp ? 16 : 6;
	l4[at] = (uint8_t)(c >> 8);
	l4[at + 1] = (uint8_t)c;
	return 14 + tot;
}

/* ---- rings ---- */

static void tx_setup(struct env *e)
{
	memset(e->ram + TX_RING, 0, NDESC * 16);
	wr(e, E1000_TDBAL, TX_RING);
	wr(e, E1000_TDBAH, 0);
	wr(e, E1000_TDLEN, NDESC * 16);
	wr(e, E1000_TDH, 0);
	wr(e, E1000_TDT, 0);
	wr(e, E1000_TCTL, E1000_TCTL_EN | E1000_TCTL_PSP);
}

static void put_legacy(struct env *e, unsigned i, uint64_t addr, uint16_t len, uint8_t cmd,
		       uint8_t css, uint8_t cso)
{
	uint8_t *d = e->ram + TX_RING + 16 * i;
	memset(d, 0, 16);
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 2);
	d[10] = cso;
	d[11] = cmd;
	d[13] = css;
}

static void put_context(struct env *e, unsigned i, uint8_t ipcss, uint8_t ipcso, uint16_t ipcse,
			uint8_t tucss, uint8_t tucso, uint16_t tucse, uint32_t paylen,
			uint8_t tucmd, uint8_t hdrlen, uint16_t mss)
{
	uint8_t *d = e->ram + TX_RING + 16 * i;
	d[0] = ipcss;
	d[1] = ipcso;
	memcpy(d + 2, &ipcse, 2);
	d[4] = tucss;
	d[5] = tucso;
	memcpy(d + 6, &tucse, 2);
	uint32_t w = paylen & 0xfffff;
	memcpy(d + 8, &w, 4);
	d[11] = tucmd | E1000_TXD_CMD_DEXT;
	d[12] = 0;
	d[13] = hdrlen;
	memcpy(d + 14, &mss, 2);
}

static void put_data(struct env *e, unsigned i, uint64_t addr, uint32_t len, uint8_t dcmd,
		     uint8_t popts)
{
	uint8_t *d = e->ram + TX_RING + 16 * i;
	memcpy(d, &addr, 8);
	uint32_t w = (len & 0xfffff) | (uint32_t)E1000_TXD_DTYP_D << 20;
	memcpy(d + 8, &w, 4);
	d[11] = dcmd | E1000_TXD_CMD_DEXT;
	d[12] = 0;
	d[13] = popts;
	d[14] = d[15] = 0;
}

static uint8_t tx_status(struct env *e, unsigned i)
{
	return e->ram[TX_RING + 16 * i + 12];
}

static void rx_setup(struct env *e, uint32_t rctl, unsigned bufsize, unsigned tail)
{
	memset(e->ram + RX_RING, 0, NDESC * 16);
	for (unsigned i = 0; i < NDESC; i++) {
		uint64_t a = RX_BUF + (uint64_t)i * 0x4000;
		memcpy(e->ram + RX_RING + 16 * i, &a, 8);
		memset(e->ram + a, 0xee, bufsize + 64);
	}
	wr(e, E1000_RDBAL, RX_RING);
	wr(e, E1000_RDBAH, 0);
	wr(e, E1000_RDLEN, NDESC * 16);
	wr(e, E1000_RDH, 0);
	wr(e, E1000_RDT, tail);
	wr(e, E1000_RCTL, rctl | E1000_RCTL_EN);
}

static uint8_t *rx_desc(struct env *e, unsigned i)
{
	return e->ram + RX_RING + 16 * i;
}

static uint8_t *rx_buf(struct env *e, unsigned i)
{
	return e->ram + RX_BUF + (size_t)i * 0x4000;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* Wait until RDH reaches `h` (2 s). */
static bool wait_rdh(struct env *e, uint32_t h)
{
	for (int i = 0; i < 400; i++) {
		if (rd(e, E1000_RDH) == h)
			return true;
		usleep(5000);
	}
	return false;
}

static void peer_send(struct env *e, const uint8_t *f, size_t len)
{
	assert_int_equal(send(e->peer, f, len, 0), (ssize_t)len);
}

static size_t simple_frame(uint8_t *f, const uint8_t dst[6], size_t len, uint8_t tag)
{
	memcpy(f, dst, 6);
	static const uint8_t src[6] = {0x02, 0, 0, 0, 0, 0x42};
	memcpy(f + 6, src, 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	for (size_t i = 14; i < len; i++)
		f[i] = (uint8_t)(tag + i * 3);
	return len;
}

/* ---- identity, reset, options ---- */

static void test_identity(void **state)
{
	struct env *e;
	assert_int_equal(env_open(&e, "mac=00:a0:98:11:22:33"), 0);
	assert_int_equal(cfgr(e, PCIR_VENDOR, 2), 0x8086);
	assert_int_equal(cfgr(e, PCIR_DEVICE, 2), 0x100F);
	assert_int_equal(cfgr(e, PCIR_SUBVEND, 2), 0x8086);
	assert_int_equal(cfgr(e, PCIR_SUBDEV, 2), 0x1008);
	assert_int_equal(cfgr(e, PCIR_REVID, 1), 0);
	assert_int_equal(cfgr(e, PCIR_CLASS, 1), 0x02);
	assert_int_equal(cfgr(e, PCIR_SUBCLASS, 1), 0x00);
	assert_int_equal(cfgr(e, PCIR_PROGIF, 1), 0x00);
	assert_int_equal(cfgr(e, PCIR_INTPIN, 1), 1);
	/* BAR sizes: 128 KiB and 64 KiB memory, I/O (8 bytes used; the bus allocates 16) */
	static const uint32_t want[3] = {0xfffe0000, 0xffff0000, 0xfffffff0};
	for (int b = 0; b < 3; b++) {
		unsigned reg = PCIR_BAR0 + 4 * (unsigned)b;
		uint32_t old = cfgr(e, reg, 4);
		cfgw(e, reg, 4, 0xffffffff);
		uint32_t m = cfgr(e, reg, 4);
		cfgw(e, reg, 4, old);
		if (b < 2) {
			assert_int_equal(m & 0xf, 0); /* MEM32, not prefetchable */
			assert_int_equal(m & ~0xfu, want[b]);
		} else {
			assert_int_equal(m & 3, 1);			/* I/O */
			assert_int_equal(m & 0xfffc, want[b] & 0xfffc); /* 64 KiB I/O space */
		}
	}
	assert_int_equal(cfgr(e, PCIR_BAR0 + 12, 4), 0);
	/* the flash BAR reads all ones and ignores writes */
	uint64_t flash = cfgr(e, PCIR_BAR0 + 4, 4) & ~0xfULL;
	harness_mmio_write(e->vm, flash + 0x100, 4, 0);
	assert_int_equal(harness_mmio_read(e->vm, flash + 0x100, 4), 0xffffffff);
	env_close(e);
}

static void test_reset_values(void **state)
{
	struct env *e;
	assert_int_equal(env_open(&e, "mac=00:a0:98:11:22:33"), 0);
	uint32_t st = rd(e, E1000_STATUS);
	assert_true(st & E1000_STATUS_LU);
	assert_true(st & E1000_STATUS_FD);
	assert_int_equal(st & 0xc0, 0x80); /* 1000 Mb/s */
	wr(e, E1000_STATUS, 0);
	assert_int_equal(rd(e, E1000_STATUS), st); /* read-only */
	assert_true(rd(e, E1000_EECD) & E1000_EECD_PRES);
	assert_int_equal(rd(e, E1000_RA), 0x1198a000);
	assert_int_equal(rd(e, E1000_RA + 4), 0x80003322);
	assert_int_equal(rd(e, E1000_ICR), 0);
	assert_int_equal(rd(e, E1000_MDIC) & E1000_MDIC_READY, E1000_MDIC_READY);
	/* unknown registers read 0 and ignore writes */
	wr(e, 0x1234 * 4, 0xdeadbeef);
	assert_int_equal(rd(e, 0x1234 * 4), 0);
	/* CTRL.RST: back to reset values */
	wr(e, E1000_IMS, 0x9d);
	wr(e, E1000_RCTL, 0x8002);
	wr(e, E1000_TDLEN, 0x1000);
	wr(e, E1000_MTA + 8, 0x55);
	wr(e, E1000_RA + 8, 0x12345678);
	wr(e, E1000_RA + 12, 0x80001234);
	assert_int_equal(rd(e, E1000_IMS), 0x9d);
	wr(e, E1000_CTRL, rd(e, E1000_CTRL) | E1000_CTRL_RST);
	assert_int_equal(rd(e, E1000_CTRL) & E1000_CTRL_RST, 0);
	assert_int_equal(rd(e, E1000_IMS), 0);
	assert_int_equal(rd(e, E1000_RCTL), 0);
	assert_int_equal(rd(e, E1000_TDLEN), 0);
	assert_int_equal(rd(e, E1000_MTA + 8), 0);
	assert_int_equal(rd(e, E1000_RA + 12), 0);
	assert_int_equal(rd(e, E1000_RA + 4), 0x80003322); /* RA[0] from the EEPROM again */
	/* ring lengths keep multiples of 128 bytes only */
	wr(e, E1000_RDLEN, 0x1234);
	assert_int_equal(rd(e, E1000_RDLEN), 0x1200);
	/* 8-byte and 2-byte accesses */
	assert_int_equal(harness_mmio_read(e->vm, e->bar0 + E1000_RA, 8), 0x800033221198a000ULL);
	assert_int_equal(harness_mmio_read(e->vm, e->bar0 + E1000_RA + 2, 2), 0x1198);
	env_close(e);
}

static void test_options(void **state)
{
	struct env *e;
	/* no backend: the generated MAC */
	assert_int_equal(env_open(&e, NULL), 0);
	uint8_t gen[6];
	netbe_gen_mac("testvm", 0, SLOT, 0, gen);
	uint32_t lo = rd(e, E1000_RA), hi = rd(e, E1000_RA + 4);
	uint8_t got[6] = {(uint8_t)lo,	       (uint8_t)(lo >> 8), (uint8_t)(lo >> 16),
			  (uint8_t)(lo >> 24), (uint8_t)hi,	   (uint8_t)(hi >> 8)};
	assert_memory_equal(got, gen, 6);
	assert_int_equal(gen[0], 0x58);
	env_close(e);
	static const char *const bad[] = {
	    "mac=zz",
	    "mac=01:00:5e:00:00:01",
	    "mac=00:00:00:00:00:00",
	    "mac=ff:ff:ff:ff:ff:ff",
	    "mac=00:a0:98:01:02",
	    "color=blue",
	    "mtu=9000",
	    "fd:999999",
	    "netgraph",
	    "slirp",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_not_equal(env_open(&e, bad[i]), 0);
		assert_null(e);
	}
}

/* ---- EEPROM and PHY ---- */

static void ee_out(struct env *e, uint32_t *eecd, unsigned val, unsigned bits)
{
	for (int b = (int)bits - 1; b >= 0; b--) {
		*eecd &= ~E1000_EECD_DI;
		if ((val >> b) & 1)
			*eecd |= E1000_EECD_DI;
		wr(e, E1000_EECD, *eecd);
		wr(e, E1000_EECD, *eecd | E1000_EECD_SK);
		wr(e, E1000_EECD, *eecd);
	}
}

static uint16_t ee_in(struct env *e, uint32_t *eecd)
{
	uint16_t v = 0;
	for (int b = 0; b < 16; b++) {
		wr(e, E1000_EECD, *eecd | E1000_EECD_SK);
		v = (uint16_t)(v << 1 | ((rd(e, E1000_EECD) & E1000_EECD_DO) ? 1 : 0));
		wr(e, E1000_EECD, *eecd);
	}
	return v;
}

/* Linux's e1000_read_eeprom for a Microwire part: request, select, opcode 110b and 6 address
 * bits, 16 data bits, deselect. */
static uint16_t ee_read_bitbang(struct env *e, unsigned addr)
{
	uint32_t eecd = rd(e, E1000_EECD) | E1000_EECD_REQ;
	wr(e, E1000_EECD, eecd);
	assert_true(rd(e, E1000_EECD) & E1000_EECD_GNT);
	eecd &= ~(E1000_EECD_DI | E1000_EECD_SK);
	wr(e, E1000_EECD, eecd);
	eecd |= E1000_EECD_CS;
	wr(e, E1000_EECD, eecd);
	ee_out(e, &eecd, 0x6, 3);
	ee_out(e, &eecd, addr, 6);
	uint16_t v = ee_in(e, &eecd);
	eecd &= ~(E1000_EECD_CS | E1000_EECD_REQ);
	wr(e, E1000_EECD, eecd);
	return v;
}

static uint16_t ee_read_eerd(struct env *e, unsigned addr)
{
	wr(e, E1000_EERD, addr << E1000_EERD_ADDR_SHIFT | E1000_EERD_START);
	uint32_t v = rd(e, E1000_EERD);
	assert_true(v & E1000_EERD_DONE);
	return (uint16_t)(v >> E1000_EERD_DATA_SHIFT);
}

static void test_eeprom(void **state)
{
	struct env *e;
	assert_int_equal(env_open(&e, "mac=00:a0:98:11:22:33"), 0);
	uint16_t w[64], sum = 0;
	for (unsigned i = 0; i < 64; i++) {
		w[i] = ee_read_bitbang(e, i);
		assert_int_equal(ee_read_eerd(e, i), w[i]);
		sum = (uint16_t)(sum + w[i]);
	}
	assert_int_equal(sum, 0xBABA);
	assert_int_equal(w[0], 0xa000);
	assert_int_equal(w[1], 0x1198);
	assert_int_equal(w[2], 0x3322);
	assert_int_equal(w[0x0B], 0x1008);
	assert_int_equal(w[0x0C], 0x8086);
	assert_int_equal(w[0x0D], 0x100F);
	assert_int_equal(w[0x0E], 0x8086);
	assert_int_equal(w[0x0A] >> 14, 1); /* signature */

	/* WRITE is ignored without EWEN, then lands in the copy */
	uint32_t eecd = E1000_EECD_CS;
	wr(e, E1000_EECD, eecd);
	ee_out(e, &eecd, 0x5, 3); /* 101b WRITE */
	ee_out(e, &eecd, 0x20, 6);
	ee_out(e, &eecd, 0xbeef, 16);
	wr(e, E1000_EECD, 0);
	assert_int_equal(ee_read_bitbang(e, 0x20), w[0x20]);
	eecd = E1000_EECD_CS;
	wr(e, E1000_EECD, eecd);
	ee_out(e, &eecd, 0x4, 3); /* 100b + 11xxxx: EWEN */
	ee_out(e, &eecd, 0x30, 6);
	wr(e, E1000_EECD, 0);
	eecd = E1000_EECD_CS;
	wr(e, E1000_EECD, eecd);
	ee_out(e, &eecd, 0x5, 3);
	ee_out(e, &eecd, 0x20, 6);
	ee_out(e, &eecd, 0xbeef, 16);
	assert_true(rd(e, E1000_EECD) & E1000_EECD_DO); /* ready */
	wr(e, E1000_EECD, 0);
	assert_int_equal(ee_read_bitbang(e, 0x20), 0xbeef);
	assert_int_equal(ee_read_eerd(e, 0x20), 0xbeef);

	/* garbage: random clocking, then a clean read still works */
	srand(7);
	for (int i = 0; i < 2000; i++)
		wr(e, E1000_EECD, (uint32_t)rand());
	wr(e, E1000_EECD, 0);
	assert_int_equal(ee_read_bitbang(e, 1), 0x1198);
	/* EERD beyond the EEPROM reads 0 */
	assert_int_equal(ee_read_eerd(e, 200), 0);
	env_close(e);
}

static uint32_t mdic(struct env *e, unsigned phy, unsigned reg, bool write, uint16_t data)
{
	wr(e, E1000_MDIC,
	   (uint32_t)data | reg << E1000_MDIC_REG_SHIFT | phy << E1000_MDIC_PHY_SHIFT |
	       (write ? E1000_MDIC_OP_WRITE : E1000_MDIC_OP_READ));
	uint32_t v = rd(e, E1000_MDIC);
	assert_true(v & E1000_MDIC_READY);
	return v;
}

static void test_phy(void **state)
{
	struct env *e;
	assert_int_equal(env_open(&e, NULL), 0);
	uint32_t id1 = mdic(e, 1, PHY_ID1, false, 0) & 0xffff;
	uint32_t id2 = mdic(e, 1, PHY_ID2, false, 0) & 0xffff;
	assert_int_equal((id1 << 16 | id2) & 0xfffffff0, 0x01410C20); /* M88E1011 */
	uint32_t st = mdic(e, 1, PHY_STATUS, false, 0) & 0xffff;
	assert_true(st & 0x0004); /* link */
	assert_true(st & 0x0020); /* autoneg complete */
	assert_int_equal(mdic(e, 1, M88_PHY_SPEC_STATUS, false, 0) & 0xc400, 0x8400);
	/* reset and restart autoneg complete at once; advertisement keeps what is written */
	mdic(e, 1, PHY_CTRL, true, 0x1140 | MII_CR_RESET | MII_CR_RESTART_AUTO_NEG);
	assert_int_equal(mdic(e, 1, PHY_CTRL, false, 0) & 0xffff, 0x1140);
	mdic(e, 1, PHY_AUTONEG_ADV, true, 0x01e1);
	assert_int_equal(mdic(e, 1, PHY_AUTONEG_ADV, false, 0) & 0xffff, 0x01e1);
	mdic(e, 1, PHY_STATUS, true, 0);
	assert_int_equal(mdic(e, 1, PHY_STATUS, false, 0) & 0xffff, st);
	/* another PHY address: error */
	assert_true(mdic(e, 2, PHY_ID1, false, 0) & E1000_MDIC_ERROR);
	env_close(e);
}

/* ---- transmit ---- */

static void test_tx_legacy(void **state)
{
	struct env *e = env_socket();
	tx_setup(e);
	uint8_t f[300];
	simple_frame(f, (const uint8_t *)"\xff\xff\xff\xff\xff\xff", sizeof(f), 1);
	memcpy(e->ram + TX_BUF, f, 100);
	memcpy(e->ram + TX_BUF + 0x1000, f + 100, 200);
	put_legacy(e, 0, TX_BUF, 100, 0, 0, 0);
	put_legacy(e, 1, TX_BUF + 0x1000, 200,
		   E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS, 0, 0);
	/* a short frame is padded to 60 bytes (PSP) */
	simple_frame(e->ram + TX_BUF + 0x2000, (const uint8_t *)"\x02\0\0\0\0\1", 42, 2);
	put_legacy(e, 2, TX_BUF + 0x2000, 42, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0, 0);
	wr(e, E1000_IMS, E1000_ICR_TXDW);
	wr(e, E1000_TDT, 3);
	assert_int_equal(rd(e, E1000_TDH), 3);
	uint8_t got[2048];
	assert_int_equal(peer_recv(e, got, sizeof(got)), 300);
	assert_memory_equal(got, f, 300);
	assert_int_equal(peer_recv(e, got, sizeof(got)), 60);
	assert_int_equal(got[59], 0);
	assert_int_equal(tx_status(e, 0), 0); /* no RS: no write-back */
	assert_int_equal(tx_status(e, 1) & E1000_TXD_STAT_DD, E1000_TXD_STAT_DD);
	assert_int_equal(tx_status(e, 2) & E1000_TXD_STAT_DD, E1000_TXD_STAT_DD);
	assert_true(intx(e));
	uint32_t icr = rd(e, E1000_ICR);
	assert_int_equal(icr & (E1000_ICR_TXDW | E1000_ICR_TXQE), E1000_ICR_TXDW | E1000_ICR_TXQE);
	assert_false(intx(e));
	/* counters, cleared on read */
	assert_int_equal(rd(e, 0x4080), 2); /* GPTC */
	assert_int_equal(rd(e, 0x4080), 0);
	assert_int_equal(rd(e, 0x40D4), 2); /* TPT */
	assert_int_equal(rd(e, 0x4090), 300 + 60 + 8);
	assert_int_equal(rd(e, 0x4094), 0);
	assert_int_equal(rd(e, 0x4090), 0);

	/* legacy checksum insertion: the sum from CSS to the end stored at CSO */
	uint8_t ipf[200];
	size_t len = make_ip_frame(ipf, MAC, false, 50, true);
	memcpy(e->ram + TX_BUF, ipf, len);
	/* the UDP checksum field holds the pseudo-header sum */
	put_legacy(e, 3, TX_BUF, (uint16_t)len,
		   E1000_TXD_CMD_EOP | E1000_TXD_CMD_IC | E1000_TXD_CMD_RS, 34, 40);
	wr(e, E1000_TDT, 4);
	assert_int_equal(peer_recv(e, got, sizeof(got)), (ssize_t)len);
	uint8_t *ip = got + 14;
	uint32_t ps = sum16(0, ip + 12, 8) + 17 + 58;
	assert_int_equal(fold(sum16(ps, ip + 20, 58)), 0xffff);
	env_close(e);
}

static void test_tx_csum_offload(void **state)
{
	struct env *e = env_socket();
	tx_setup(e);
	uint8_t got[2048];
	for (int tcp = 0; tcp < 2; tcp++) {
		uint8_t f[1500];
		size_t len = make_ip_frame(f, MAC, tcp, 333, true);
		memcpy(e->ram + TX_BUF, f, len);
		unsigned base = (unsigned)rd(e, E1000_TDT);
		put_context(e, base, 14, 24, 33, 34, tcp ? 50 : 40, 0, 0,
			    (uint8_t)(E1000_TXD_CMD_IP | (tcp ? E1000_TXD_CMD_TCP : 0)), 0, 0);
		/* split over two data descriptors */
		put_data(e, base + 1, TX_BUF, 40, 0, E1000_TXD_POPTS_IXSM | E1000_TXD_POPTS_TXSM);
		put_data(e, base + 2, TX_BUF + 40, (uint32_t)len - 40,
			 E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0);
		wr(e, E1000_TDT, base + 3);
		assert_int_equal(peer_recv(e, got, sizeof(got)), (ssize_t)len);
		assert_ipv4_csums(got, len);
		assert_memory_equal(got + 54, f + 54, len - 54);
		assert_true(tx_status(e, base + 2) & E1000_TXD_STAT_DD);
	}
	env_close(e);
}

static void test_tx_tso(void **state)
{
	struct env *e = env_socket();
	tx_setup(e);
	static uint8_t f[8000];
	size_t plen = 3500, mss = 1000;
	size_t len = make_ip_frame(f, MAC, true, plen, false);
	memcpy(e->ram + TX_BUF, f, len);
	put_context(e, 0, 14, 24, 33, 34, 50, 0, (uint32_t)plen,
		    E1000_TXD_CMD_IP | E1000_TXD_CMD_TCP | E1000_TXD_CMD_TSE, 54, (uint16_t)mss);
	put_data(e, 1, TX_BUF, 54, E1000_TXD_CMD_TSE, E1000_TXD_POPTS_IXSM | E1000_TXD_POPTS_TXSM);
	put_data(e, 2, TX_BUF + 54, (uint32_t)plen,
		 E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0);
	wr(e, E1000_TDT, 3);
	uint8_t got[2048];
	size_t off = 0;
	for (unsigned s = 0; s < 4; s++) {
		size_t chunk = plen - off < mss ? plen - off : mss;
		ssize_t n = peer_recv(e, got, sizeof(got));
		assert_int_equal(n, (ssize_t)(54 + chunk));
		assert_ipv4_csums(got, (size_t)n);
		assert_int_equal(be16(got + 16), 40 + chunk);	    /* IP total length */
		assert_int_equal(be16(got + 18), 0x1234 + s);	    /* IP id */
		assert_int_equal(be32(got + 38), 0x01020304 + off); /* TCP sequence */
		uint8_t flags = got[47];
		assert_int_equal(flags & 0x10, 0x10); /* ACK always */
		assert_int_equal(flags & 0x09, s == 3 ? 0x09 : 0);
		assert_memory_equal(got + 54, f + 54 + off, chunk);
		off += chunk;
	}
	assert_true(peer_quiet(e));
	assert_true(tx_status(e, 2) & E1000_TXD_STAT_DD);
	env_close(e);
}

static void test_tx_oversize_and_bad_rings(void **state)
{
	struct env *e = env_socket();
	tx_setup(e);
	/* a packet over 64 KiB + headers: dropped, descriptors completed */
	put_data(e, 0, TX_BUF, 0x10000, 0, 0);
	put_data(e, 1, TX_BUF, 0x10000, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0);
	/* then a good one */
	simple_frame(e->ram + TX_BUF + 0x20000, MAC, 100, 3);
	put_legacy(e, 2, TX_BUF + 0x20000, 100, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0, 0);
	wr(e, E1000_TDT, 3);
	assert_int_equal(rd(e, E1000_TDH), 3);
	assert_true(tx_status(e, 1) & E1000_TXD_STAT_DD);
	uint8_t got[2048];
	assert_int_equal(peer_recv(e, got, sizeof(got)), 100);
	assert_true(peer_quiet(e));

	/* a buffer outside RAM: that packet is dropped */
	put_legacy(e, 3, 0x7ffff000000ULL, 100, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0, 0);
	wr(e, E1000_TDT, 4);
	assert_int_equal(rd(e, E1000_TDH), 4);
	assert_true(peer_quiet(e));

	/* TDT beyond the ring: transmission stops, TDH stays */
	wr(e, E1000_TDT, 100);
	assert_int_equal(rd(e, E1000_TDH), 4);
	/* until the ring is reprogrammed */
	wr(e, E1000_TDH, 0);
	put_legacy(e, 0, TX_BUF + 0x20000, 100, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0, 0);
	wr(e, E1000_TDT, 1);
	assert_int_equal(rd(e, E1000_TDH), 1);
	assert_int_equal(peer_recv(e, got, sizeof(got)), 100);

	/* a ring outside RAM */
	wr(e, E1000_TDBAL, 0xfffff000);
	wr(e, E1000_TDBAH, 0x7f);
	wr(e, E1000_TDH, 0);
	wr(e, E1000_TDT, 5);
	assert_int_equal(rd(e, E1000_TDH), 0);
	/* a ring that runs off the end of RAM */
	wr(e, E1000_TDBAH, 0);
	wr(e, E1000_TDBAL, GUEST_MEM - 64);
	wr(e, E1000_TDLEN, 128);
	wr(e, E1000_TDH, 0);
	wr(e, E1000_TDT, 7);
	assert_true(rd(e, E1000_TDH) <= 4);

	/* Bus Master Enable clear: nothing is read until it is set again */
	tx_setup(e);
	put_legacy(e, 0, TX_BUF + 0x20000, 100, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0, 0);
	cfgw(e, PCIR_COMMAND, 2, 0x3);
	wr(e, E1000_TDT, 1);
	assert_int_equal(rd(e, E1000_TDH), 0);
	cfgw(e, PCIR_COMMAND, 2, 0x7);
	wr(e, E1000_TDT, 1);
	assert_int_equal(rd(e, E1000_TDH), 1);
	assert_int_equal(peer_recv(e, got, sizeof(got)), 100);
	env_close(e);
}

/* ---- receive ---- */

static void test_rx_basic(void **state)
{
	struct env *e = env_socket();
	wr(e, E1000_IMS, E1000_ICR_RXT0);
	rx_setup(e, E1000_RCTL_BAM | E1000_RCTL_SECRC, 2048, NDESC - 1);
	uint8_t f[1514];
	simple_frame(f, MAC, 1000, 9);
	peer_send(e, f, 1000);
	assert_true(wait_rdh(e, 1));
	uint8_t *d = rx_desc(e, 0);
	assert_int_equal(le16(d + 8), 1000);
	assert_int_equal(d[12] & (E1000_RXD_STAT_DD | E1000_RXD_STAT_EOP),
			 E1000_RXD_STAT_DD | E1000_RXD_STAT_EOP);
	assert_true(d[12] & E1000_RXD_STAT_IXSM); /* RXCSUM offloads off */
	assert_int_equal(d[13], 0);
	assert_memory_equal(rx_buf(e, 0), f, 1000);
	assert_true(intx(e));
	assert_true(rd(e, E1000_ICR) & E1000_ICR_RXT0);
	assert_false(intx(e));
	assert_int_equal(rd(e, 0x4074), 1); /* GPRC */
	assert_int_equal(rd(e, 0x40D0), 1); /* TPR */

	/* without SECRC the FCS is appended; a runt is padded to 60 */
	wr(e, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_BAM);
	simple_frame(f, MAC, 42, 1);
	peer_send(e, f, 42);
	assert_true(wait_rdh(e, 2));
	d = rx_desc(e, 1);
	assert_int_equal(le16(d + 8), 64);
	assert_memory_equal(rx_buf(e, 1), f, 42);
	static const uint8_t zero[18];
	assert_memory_equal(rx_buf(e, 1) + 42, zero, 18);
	/* the FCS is the CRC-32 of the padded frame: the residue over frame + FCS is constant */
	uint32_t c = 0xffffffff;
	for (int i = 0; i < 64; i++) {
		c ^= rx_buf(e, 1)[i];
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
	}
	assert_int_equal(c, 0xDEBB20E3);

	/* RXCSUM: good TCP and IP checksums reported */
	wr(e, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_SECRC);
	wr(e, E1000_RXCSUM, E1000_RXCSUM_IPOFL | E1000_RXCSUM_TUOFL);
	size_t len = make_ip_frame(f, MAC, true, 100, true);
	/* finish the checksums as a sender would */
	uint8_t *ip = f + 14;
	uint16_t ic = (uint16_t)~fold(sum16(0, ip, 20));
	ip[10] = (uint8_t)(ic >> 8);
	ip[11] = (uint8_t)ic;
	uint16_t tc = (uint16_t)~fold(sum16(0, ip + 20, 120));
	ip[36] = (uint8_t)(tc >> 8);
	ip[37] = (uint8_t)tc;
	assert_ipv4_csums(f, len);
	peer_send(e, f, len);
	assert_true(wait_rdh(e, 3));
	d = rx_desc(e, 2);
	assert_int_equal(d[12] & (E1000_RXD_STAT_IPCS | E1000_RXD_STAT_TCPCS | E1000_RXD_STAT_IXSM),
			 E1000_RXD_STAT_IPCS | E1000_RXD_STAT_TCPCS);
	assert_int_equal(d[13], 0);
	/* a bad TCP checksum: TCPE */
	f[60] ^= 0xff;
	peer_send(e, f, len);
	assert_true(wait_rdh(e, 4));
	d = rx_desc(e, 3);
	assert_int_equal(d[13], E1000_RXD_ERR_TCPE);
	env_close(e);
}

static void test_rx_spanning(void **state)
{
	struct env *e = env_socket();
	/* BSIZE 256 */
	rx_setup(e, E1000_RCTL_SECRC | 3u << E1000_RCTL_BSIZE_SHIFT, 256, NDESC - 1);
	uint8_t f[1514];
	simple_frame(f, MAC, 1000, 5);
	peer_send(e, f, 1000);
	assert_true(wait_rdh(e, 4));
	for (unsigned i = 0; i < 4; i++) {
		uint8_t *d = rx_desc(e, i);
		assert_true(d[12] & E1000_RXD_STAT_DD);
		assert_int_equal(!!(d[12] & E1000_RXD_STAT_EOP), i == 3);
		assert_int_equal(le16(d + 8), i == 3 ? 1000 - 768 : 256);
		assert_memory_equal(rx_buf(e, i), f + 256 * i, le16(d + 8));
		assert_int_equal(rx_buf(e, i)[256], 0xee); /* nothing past the buffer */
	}
	/* a frame longer than 1518 bytes without LPE is dropped; with LPE it is taken */
	uint8_t big[3000];
	simple_frame(big, MAC, sizeof(big), 6);
	peer_send(e, big, sizeof(big));
	simple_frame(f, MAC, 100, 7);
	peer_send(e, f, 100);
	assert_true(wait_rdh(e, 5));
	assert_int_equal(le16(rx_desc(e, 4) + 8), 100);
	/* BSEX with BSIZE 01b: 16 KiB buffers */
	rx_setup(e,
		 E1000_RCTL_SECRC | E1000_RCTL_LPE | E1000_RCTL_BSEX | 1u << E1000_RCTL_BSIZE_SHIFT,
		 16384, NDESC - 1);
	peer_send(e, big, sizeof(big));
	assert_true(wait_rdh(e, 1));
	assert_int_equal(le16(rx_desc(e, 0) + 8), sizeof(big));
	assert_true(rx_desc(e, 0)[12] & E1000_RXD_STAT_EOP);
	env_close(e);
}

static void test_rx_filter(void **state)
{
	struct env *e = env_socket();
	rx_setup(e, E1000_RCTL_SECRC, 2048, NDESC - 1);
	uint8_t f[200];
	static const uint8_t other[6] = {0x02, 0x11, 0x11, 0x11, 0x11, 0x11};
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t mcast[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb};
	/* another unicast, broadcast without BAM, multicast without its MTA bit: dropped */
	peer_send(e, f, simple_frame(f, other, 100, 1));
	peer_send(e, f, simple_frame(f, bcast, 101, 1));
	peer_send(e, f, simple_frame(f, mcast, 102, 1));
	peer_send(e, f, simple_frame(f, MAC, 103, 1));
	assert_true(wait_rdh(e, 1));
	assert_int_equal(le16(rx_desc(e, 0) + 8), 103);
	/* broadcast with BAM, multicast through the MTA hash (MO 0: bits 47:36) */
	wr(e, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_SECRC | E1000_RCTL_BAM);
	unsigned h = (mcast[4] >> 4 | mcast[5] << 4) & 0xfff;
	wr(e, E1000_MTA + 4 * (h >> 5), 1u << (h & 31));
	peer_send(e, f, simple_frame(f, bcast, 104, 1));
	peer_send(e, f, simple_frame(f, mcast, 105, 1));
	assert_true(wait_rdh(e, 3));
	assert_int_equal(le16(rx_desc(e, 1) + 8), 104);
	assert_int_equal(le16(rx_desc(e, 2) + 8), 105);
	/* a second exact address in RA[1]; UPE takes any unicast */
	wr(e, E1000_RA + 8, 0x11111102);
	wr(e, E1000_RA + 12, 0x1111 | E1000_RAH_AV);
	peer_send(e, f, simple_frame(f, other, 106, 1));
	assert_true(wait_rdh(e, 4));
	wr(e, E1000_RA + 12, 0);
	static const uint8_t third[6] = {0x02, 0x22, 0x22, 0x22, 0x22, 0x22};
	wr(e, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_SECRC | E1000_RCTL_UPE);
	peer_send(e, f, simple_frame(f, third, 107, 1));
	assert_true(wait_rdh(e, 5));
	assert_int_equal(le16(rx_desc(e, 4) + 8), 107);
	/* RCTL.EN clear: dropped */
	wr(e, E1000_RCTL, E1000_RCTL_SECRC | E1000_RCTL_UPE);
	peer_send(e, f, simple_frame(f, MAC, 108, 1));
	usleep(100000);
	wr(e, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_SECRC);
	peer_send(e, f, simple_frame(f, MAC, 109, 1));
	assert_true(wait_rdh(e, 6));
	assert_int_equal(le16(rx_desc(e, 5) + 8), 109);
	env_close(e);
}

static void test_rx_ring_full(void **state)
{
	struct env *e = env_socket();
	wr(e, E1000_IMS, E1000_ICR_RXDMT0);
	rx_setup(e, E1000_RCTL_SECRC, 2048, 3); /* three free descriptors */
	uint8_t f[200];
	for (unsigned i = 0; i < 6; i++)
		peer_send(e, f, simple_frame(f, MAC, 100 + i, (uint8_t)i));
	assert_true(wait_rdh(e, 3));
	usleep(50000);
	assert_int_equal(rd(e, E1000_RDH), 3); /* the rest waits */
	assert_true(rd(e, E1000_ICR) & E1000_ICR_RXDMT0);
	/* the guest frees descriptors: the waiting frames arrive in order */
	wr(e, E1000_RDT, 7);
	assert_true(wait_rdh(e, 6));
	for (unsigned i = 0; i < 6; i++) {
		assert_int_equal(le16(rx_desc(e, i) + 8), 100 + i);
		assert_int_equal(rx_buf(e, i)[20], (uint8_t)(i + 20 * 3));
	}
	assert_true(rd(e, 0x40A0) >= 1); /* RNBC */
	env_close(e);
}

static void test_rx_bad_rings(void **state)
{
	struct env *e = env_socket();
	rx_setup(e, E1000_RCTL_SECRC, 2048, NDESC - 1);
	/* a buffer outside RAM: the descriptor completes with RXE */
	uint64_t bad = 0x7fff0000000ULL;
	memcpy(rx_desc(e, 0), &bad, 8);
	uint8_t f[200];
	peer_send(e, f, simple_frame(f, MAC, 100, 1));
	assert_true(wait_rdh(e, 1));
	assert_int_equal(rx_desc(e, 0)[13] & E1000_RXD_ERR_RXE, E1000_RXD_ERR_RXE);
	/* RDT beyond the ring: stopped, frames wait */
	wr(e, E1000_RDT, 50);
	peer_send(e, f, simple_frame(f, MAC, 101, 1));
	usleep(100000);
	assert_int_equal(rd(e, E1000_RDH), 1);
	/* a ring outside RAM */
	wr(e, E1000_RDBAL, 0xfffff000);
	wr(e, E1000_RDBAH, 0x7f);
	wr(e, E1000_RDT, 5);
	usleep(50000);
	assert_int_equal(rd(e, E1000_RDH), 1);
	/* fixed: the waiting frame arrives */
	wr(e, E1000_RDBAL, RX_RING);
	wr(e, E1000_RDBAH, 0);
	assert_true(wait_rdh(e, 2));
	assert_int_equal(le16(rx_desc(e, 1) + 8), 101);
	/* a frame that needs more buffers than the ring has: dropped with RXO */
	wr(e, E1000_RCTL,
	   E1000_RCTL_EN | E1000_RCTL_SECRC | E1000_RCTL_LPE | 3u << E1000_RCTL_BSIZE_SHIFT);
	static uint8_t big[4000];
	peer_send(e, big, simple_frame(big, MAC, sizeof(big), 1));
	peer_send(e, f, simple_frame(f, MAC, 102, 1));
	assert_true(wait_rdh(e, 3));
	assert_true(rd(e, E1000_ICR) & E1000_ICR_RXO);
	assert_int_equal(le16(rx_desc(e, 2) + 8), 102);
	env_close(e);
}

/* ---- interrupts, I/O BAR ---- */

static void test_interrupts(void **state)
{
	struct env *e = env_socket();
	assert_false(intx(e));
	wr(e, E1000_ICS, E1000_ICR_LSC);
	assert_false(intx(e)); /* masked */
	wr(e, E1000_IMS, E1000_ICR_LSC | E1000_ICR_RXT0);
	assert_int_equal(rd(e, E1000_IMS), E1000_ICR_LSC | E1000_ICR_RXT0);
	assert_true(intx(e));
	wr(e, E1000_IMC, E1000_ICR_LSC);
	assert_false(intx(e));
	wr(e, E1000_IMS, E1000_ICR_LSC);
	assert_true(intx(e));
	assert_int_equal(rd(e, E1000_ICR), E1000_ICR_LSC);
	assert_false(intx(e));
	assert_int_equal(rd(e, E1000_ICR), 0);
	/* INTx Disable in the command register */
	wr(e, E1000_ICS, E1000_ICR_RXT0);
	assert_true(intx(e));
	cfgw(e, PCIR_COMMAND, 2, 0x7 | 0x400);
	assert_false(intx(e));
	cfgw(e, PCIR_COMMAND, 2, 0x7);
	assert_true(intx(e));
	/* writing ICR clears the causes written */
	wr(e, E1000_ICR, E1000_ICR_RXT0);
	assert_false(intx(e));

	/* ITR: the next assertion waits for the interval (0xffff * 256 ns ~ 16.8 ms) */
	wr(e, E1000_ITR, 0xffff);
	wr(e, E1000_ICS, E1000_ICR_RXT0);
	assert_true(intx(e)); /* the first: at once */
	rd(e, E1000_ICR);
	wr(e, E1000_ICS, E1000_ICR_RXT0);
	assert_false(intx(e)); /* too soon */
	bool seen = false;
	for (int i = 0; i < 200 && !seen; i++) {
		usleep(1000);
		seen = intx(e);
	}
	assert_true(seen);
	rd(e, E1000_ICR);
	assert_false(intx(e));
	/* a cause cleared before the timer fires raises nothing */
	wr(e, E1000_ICS, E1000_ICR_RXT0);
	rd(e, E1000_ICR);
	usleep(30000);
	assert_false(intx(e));
	env_close(e);
}

static void test_io_bar(void **state)
{
	struct env *e;
	assert_int_equal(env_open(&e, "mac=00:a0:98:11:22:33"), 0);
	io(e, 0, true, E1000_STATUS);
	assert_int_equal(io(e, 0, false, 0), E1000_STATUS);
	assert_int_equal(io(e, 4, false, 0), rd(e, E1000_STATUS));
	io(e, 0, true, E1000_IMS);
	io(e, 4, true, 0x84);
	assert_int_equal(rd(e, E1000_IMS), 0x84);
	io(e, 0, true, E1000_RA + 4);
	assert_int_equal(io(e, 4, false, 0), 0x80003322);
	/* any offset, any value: no crash */
	srand(3);
	for (int i = 0; i < 5000; i++) {
		uint32_t off = (uint32_t)rand();
		if ((off & 0x1fffc) == E1000_CTRL || (off & 0x1fffc) == E1000_TDT ||
		    (off & 0x1fffc) == E1000_EECD)
			continue;
		io(e, 0, true, off);
		if (rand() & 1)
			io(e, 4, true, (uint32_t)rand());
		else
			io(e, 4, false, 0);
	}
	uint64_t x = 0;
	iobus_dispatch(&e->vm->bus, IOBUS_PIO, e->bar2 + 5, 1, false, &x);
	iobus_dispatch(&e->vm->bus, IOBUS_PIO, e->bar2 + 2, 2, true, &x);
	env_close(e);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_identity),
	    cmocka_unit_test(test_reset_values),
	    cmocka_unit_test(test_options),
	    cmocka_unit_test(test_eeprom),
	    cmocka_unit_test(test_phy),
	    cmocka_unit_test(test_tx_legacy),
	    cmocka_unit_test(test_tx_csum_offload),
	    cmocka_unit_test(test_tx_tso),
	    cmocka_unit_test(test_tx_oversize_and_bad_rings),
	    cmocka_unit_test(test_rx_basic),
	    cmocka_unit_test(test_rx_spanning),
	    cmocka_unit_test(test_rx_filter),
	    cmocka_unit_test(test_rx_ring_full),
	    cmocka_unit_test(test_rx_bad_rings),
	    cmocka_unit_test(test_interrupts),
	    cmocka_unit_test(test_io_bar),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
