/* SPDX-License-Identifier: BSD-2-Clause */
/* virtio-net through the real PCI function and virtio-PCI transport, driven the way the Linux
 * driver (drivers/net/virtio_net.c) drives it: split rings built by hand in guest RAM, buffers
 * made available and kicked through the notify BAR (no KVM: doorbells take the MMIO slow path),
 * the event loop on its own thread. Backends: a SEQPACKET socket pair (fd:N: frames without
 * headers, exact control over what arrives) and a real tap (headers and offloads pass through;
 * frames go in and out through an AF_PACKET socket on the tap). Also the -s options, the MAC
 * address rules and the malformed requests that stop the device. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vm_harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "backends/netbe.h"
#include "config/config.h"
#include "core/vm.h"
#include "pci/pci.h"
#include "virtio/virtio.h"

#define GUEST_MEM (8u << 20)
#define SLOT 3
#define QSIZE 512
#define RING(q) (0x10000u + 0x10000u * (q)) /* desc; avail +0x4000; used +0x5000 */
#define DATA_BASE 0x100000u
#define HDR 12
#define RXQ 0
#define TXQ 1
#define TEST_ETHERTYPE 0x88B5

/* feature bits the tests look at */
#define F_CSUM (1ULL << 0)
#define F_GUEST_CSUM (1ULL << 1)
#define F_MTU (1ULL << 3)
#define F_MAC (1ULL << 5)
#define F_GUEST_TSO4 (1ULL << 7)
#define F_GUEST_TSO6 (1ULL << 8)
#define F_GUEST_ECN (1ULL << 9)
#define F_GUEST_UFO (1ULL << 10)
#define F_HOST_TSO4 (1ULL << 11)
#define F_HOST_TSO6 (1ULL << 12)
#define F_HOST_ECN (1ULL << 13)
#define F_HOST_UFO (1ULL << 14)
#define F_MRG_RXBUF (1ULL << 15)
#define F_STATUS (1ULL << 16)

/* ---- a VM without KVM, and a guest driver ---- */

struct drvq {
	uint16_t size, avail_idx, used_seen, next_desc;
};

struct env {
	struct vm *vm;
	uint8_t *ram;
	uint64_t bar0;
	unsigned common, notify, isr, devcfg;
	struct drvq q[2];
	pthread_t loop;
	bool loop_running;
	int peer;	       /* the other end of the fd: backend, -1 */
	char ifname[IFNAMSIZ]; /* tap tests */
	int ps;		       /* AF_PACKET socket on the tap, -1 */
	uint64_t data_next;    /* bump allocator in guest RAM */
};

static uint32_t cfgr(struct env *e, unsigned reg, unsigned size)
{
	return harness_cfg_read(e->vm, SLOT, reg, size);
}

static void cfgw(struct env *e, unsigned reg, unsigned size, uint32_t val)
{
	harness_cfg_write(e->vm, SLOT, reg, size, val);
}

static uint64_t mr(struct env *e, uint64_t off, unsigned size)
{
	return harness_mmio_read(e->vm, e->bar0 + off, size);
}

static void mw(struct env *e, uint64_t off, unsigned size, uint64_t v)
{
	harness_mmio_write(e->vm, e->bar0 + off, size, v);
}

/* -s SLOT,virtio-net[,opts] as the command line does it; 0 or the legacy_config error. */
static int add_device(struct vm *vm, const char *opts)
{
	return harness_add_device(vm, SLOT, "virtio-net", opts);
}

/* A VM with the device made from `opts`: 0, or pci_init_all's error (env freed then). */
static int env_open(struct env **out, const char *opts)
{
	struct env *e = calloc(1, sizeof(*e));
	e->peer = e->ps = -1;
	e->vm = harness_vm_new();
	e->ram = calloc(1, GUEST_MEM);
	guestmem_init_from(&e->vm->mem, e->ram, GUEST_MEM, 0);
	assert_int_equal(config_set(e->vm->cfg, "name", "testvm"), 0);
	int rc = add_device(e->vm, opts);
	if (rc == 0)
		rc = pci_init_all(e->vm);
	if (rc) {
		harness_vm_free(e->vm);
		free(e->ram);
		free(e);
		*out = NULL;
		return rc;
	}
	for (unsigned p = cfgr(e, PCIR_CAP_PTR, 1); p; p = cfgr(e, p + 1, 1)) {
		if (cfgr(e, p, 1) != 0x09)
			continue;
		unsigned type = cfgr(e, p + 3, 1), off = cfgr(e, p + 8, 4);
		if (type == 1)
			e->common = off;
		else if (type == 2)
			e->notify = off;
		else if (type == 3)
			e->isr = off;
		else if (type == 4)
			e->devcfg = off;
	}
	e->bar0 = cfgr(e, PCIR_BAR0, 4) & ~0xfULL;
	cfgw(e, PCIR_COMMAND, 2, 0x6);
	e->data_next = DATA_BASE;
	*out = e;
	return 0;
}

/* The device on the near end of a SEQPACKET socket pair; e->peer is the far end. */
static struct env *env_socket(const char *extra)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	/* room for a few hundred queued frames (root may go past wmem_max) */
	int big = 4 << 20;
	if (setsockopt(sv[0], SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)) < 0)
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	char opts[128];
	snprintf(opts, sizeof(opts), "fd:%d%s%s", sv[0], extra ? "," : "", extra ? extra : "");
	struct env *e;
	assert_int_equal(env_open(&e, opts), 0);
	e->peer = sv[1];
	return e;
}

static void start_loop(struct env *e)
{
	assert_int_equal(pthread_create(&e->loop, NULL, harness_loop_thread, e->vm->ev), 0);
	e->loop_running = true;
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
	if (e->ps >= 0)
		close(e->ps);
	free(e->ram);
	free(e);
}

static uint8_t status(struct env *e)
{
	return (uint8_t)mr(e, e->common + 0x14, 1);
}

static uint64_t device_features(struct env *e)
{
	mw(e, e->common + 0x00, 4, 0);
	uint64_t f = mr(e, e->common + 0x04, 4);
	mw(e, e->common + 0x00, 4, 1);
	return f | mr(e, e->common + 0x04, 4) << 32;
}

/* Reset, negotiate `want` (what the device offers of it, plus VERSION_1 and EVENT_IDX as Linux
 * takes them), both queues of `qsize`, DRIVER_OK. Returns the negotiated features. */
static uint64_t driver_probe_size(struct env *e, uint64_t want, uint16_t qsize)
{
	unsigned c = e->common;
	mw(e, c + 0x14, 1, 0);
	mw(e, c + 0x14, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	uint64_t f = (want | VIRTIO_F_VERSION_1 | VIRTIO_RING_F_EVENT_IDX) & device_features(e);
	mw(e, c + 0x08, 4, 0);
	mw(e, c + 0x0c, 4, (uint32_t)f);
	mw(e, c + 0x08, 4, 1);
	mw(e, c + 0x0c, 4, (uint32_t)(f >> 32));
	mw(e, c + 0x14, 1,
	   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	assert_true(status(e) & VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(mr(e, c + 0x12, 2), 2); /* rx and tx, no control queue */
	for (int q = 0; q < 2; q++) {
		memset(e->ram + RING(q), 0, 0x8000);
		mw(e, c + 0x16, 2, (uint64_t)q);
		assert_int_equal(mr(e, c + 0x18, 2), 1024);
		mw(e, c + 0x18, 2, qsize);
		mw(e, c + 0x20, 8, RING(q));
		mw(e, c + 0x28, 8, RING(q) + 0x4000);
		mw(e, c + 0x30, 8, RING(q) + 0x5000);
		mw(e, c + 0x1c, 2, 1);
		e->q[q] = (struct drvq){.size = qsize};
	}
	mw(e, c + 0x14, 1, 0xf & ~VIRTIO_STATUS_FAILED);
	e->data_next = DATA_BASE;
	return f;
}

static uint64_t driver_probe(struct env *e, uint64_t want)
{
	return driver_probe_size(e, want, QSIZE);
}

struct seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

/* Make one chain available on queue q (not kicked); returns its head. */
static uint16_t add_chain(struct env *e, int q, const struct seg *s, int n)
{
	struct drvq *d = &e->q[q];
	uint16_t head = d->next_desc;
	for (int i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((d->next_desc + i) % d->size);
		uint8_t *p = e->ram + RING(q) + 16u * idx;
		uint16_t flags =
		    (s[i].write ? VRING_DESC_F_WRITE : 0) | (i + 1 < n ? VRING_DESC_F_NEXT : 0);
		uint16_t next = (uint16_t)((idx + 1) % d->size);
		memcpy(p, &s[i].gpa, 8);
		memcpy(p + 8, &s[i].len, 4);
		memcpy(p + 12, &flags, 2);
		memcpy(p + 14, &next, 2);
	}
	d->next_desc = (uint16_t)((d->next_desc + n) % d->size);
	uint16_t *avail = (uint16_t *)(e->ram + RING(q) + 0x4000);
	avail[2 + d->avail_idx % d->size] = head;
	__atomic_store_n(&avail[1], (uint16_t)(d->avail_idx + 1), __ATOMIC_RELEASE);
	d->avail_idx++;
	return head;
}

static uint64_t alloc_data(struct env *e, uint32_t len)
{
	uint64_t gpa = e->data_next;
	e->data_next += (len + 63) & ~63u;
	assert_true(e->data_next <= GUEST_MEM);
	return gpa;
}

/* One receive buffer of `len` bytes (a single writable descriptor, as Linux posts them with
 * mergeable buffers). Returns its guest address. */
static uint64_t post_rx(struct env *e, uint32_t len, uint16_t *head)
{
	uint64_t gpa = alloc_data(e, len);
	struct seg s = {gpa, len, true};
	uint16_t h = add_chain(e, RXQ, &s, 1);
	if (head)
		*head = h;
	return gpa;
}

static void kick(struct env *e, int q)
{
	mw(e, e->notify + 4u * (unsigned)q, 2, (uint64_t)q);
}

/* The next used entry of queue q, if any: 1 with its id and length, else 0. */
static int get_used(struct env *e, int q, uint32_t *id, uint32_t *len)
{
	struct drvq *d = &e->q[q];
	uint8_t *used = e->ram + RING(q) + 0x5000;
	uint16_t idx = __atomic_load_n((uint16_t *)(used + 2), __ATOMIC_ACQUIRE);
	if (idx == d->used_seen)
		return 0;
	uint8_t *el = used + 4 + 8u * (d->used_seen % d->size);
	memcpy(id, el, 4);
	memcpy(len, el + 4, 4);
	d->used_seen++;
	return 1;
}

/* get_used, waiting up to 2 s for the event loop. */
static int wait_used(struct env *e, int q, uint32_t *id, uint32_t *len)
{
	for (int i = 0; i < 400; i++) {
		if (get_used(e, q, id, len))
			return 1;
		usleep(5000);
	}
	return 0;
}

static size_t make_frame(uint8_t *p, uint8_t tag, size_t len)
{
	memset(p, 0xff, 6);
	static const uint8_t src[6] = {0x02, 0, 0, 0, 0, 0x42};
	memcpy(p + 6, src, 6);
	p[12] = TEST_ETHERTYPE >> 8;
	p[13] = TEST_ETHERTYPE & 0xff;
	for (size_t i = 14; i < len; i++)
		p[i] = (uint8_t)(tag + i * 7);
	return len;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void devcfg_mac(struct env *e, uint8_t mac[6])
{
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)mr(e, e->devcfg + (unsigned)i, 1);
}

/* ---- options and MAC addresses ---- */

static void test_mac_parse(void **state)
{
	uint8_t m[6];
	assert_int_equal(netbe_parse_mac("00:a0:98:01:02:03", m), 0);
	static const uint8_t want[6] = {0x00, 0xa0, 0x98, 0x01, 0x02, 0x03};
	assert_memory_equal(m, want, 6);
	assert_int_equal(netbe_parse_mac("2:0:0:A:b:C", m), 0);
	static const uint8_t want2[6] = {2, 0, 0, 0xa, 0xb, 0xc};
	assert_memory_equal(m, want2, 6);
	static const char *const bad[] = {
	    "",
	    "01:00:5e:00:00:01", /* multicast */
	    "ff:ff:ff:ff:ff:ff", /* broadcast */
	    "00:00:00:00:00:00",
	    "00:a0:98:01:02",
	    "00:a0:98:01:02:03:04",
	    "00:a0:98:01:02:0g",
	    "00-a0-98-01-02-03",
	    "000:a0:98:01:02:03",
	    "00:a0:98:01:02:03:",
	    ":00:a0:98:01:02:03",
	    "00:a0:98::02:03",
	    "00:a0:98:01:02:03 ",
	    "0x0:a0:98:01:02:03",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(m, 0x77, 6);
		assert_int_equal(netbe_parse_mac(bad[i], m), -EINVAL);
		assert_int_equal(m[0], 0x77); /* untouched on error */
	}
}

static void test_mac_generated(void **state)
{
	uint8_t a[6], b[6];
	netbe_gen_mac("vm1", 0, 3, 0, a);
	netbe_gen_mac("vm1", 0, 3, 0, b);
	assert_memory_equal(a, b, 6); /* stable */
	assert_int_equal(a[0], 0x58);
	assert_int_equal(a[1], 0x9c);
	assert_int_equal(a[2], 0xfc);
	assert_int_equal(a[0] & 1, 0); /* unicast */
	netbe_gen_mac("vm2", 0, 3, 0, b);
	assert_memory_not_equal(a, b, 6);
	netbe_gen_mac("vm1", 0, 4, 0, b);
	assert_memory_not_equal(a, b, 6);
	netbe_gen_mac("vm1", 0, 3, 1, b);
	assert_memory_not_equal(a, b, 6);
	netbe_gen_mac("vm1", 1, 3, 0, b);
	assert_memory_not_equal(a, b, 6);
	netbe_gen_mac(NULL, 0, 3, 0, b);
	assert_int_equal(b[0], 0x58);
	/* every function of every slot of one VM gets its own address */
	static uint8_t seen[256][3];
	int n = 0;
	for (int s = 0; s < 32; s++)
		for (int f = 0; f < 8; f++) {
			uint8_t m[6];
			netbe_gen_mac("guest", 0, s, f, m);
			for (int i = 0; i < n; i++)
				assert_memory_not_equal(seen[i], m + 3, 3);
			memcpy(seen[n++], m + 3, 3);
		}
}

static void test_options(void **state)
{
	struct env *e;
	/* mac= reaches the config space; mtu= is advertised */
	assert_int_equal(env_open(&e, "mac=00:a0:98:01:02:03,mtu=9000"), 0);
	uint8_t mac[6];
	devcfg_mac(e, mac);
	static const uint8_t want[6] = {0x00, 0xa0, 0x98, 0x01, 0x02, 0x03};
	assert_memory_equal(mac, want, 6);
	assert_int_equal(mr(e, e->devcfg + 10, 2), 9000);
	assert_true(device_features(e) & F_MTU);
	env_close(e);

	/* defaults: the generated MAC, MTU 1500 in the config but not advertised, link up */
	assert_int_equal(env_open(&e, NULL), 0);
	devcfg_mac(e, mac);
	uint8_t gen[6];
	netbe_gen_mac("testvm", 0, SLOT, 0, gen);
	assert_memory_equal(mac, gen, 6);
	assert_int_equal(mr(e, e->devcfg + 10, 2), 1500);
	assert_int_equal(mr(e, e->devcfg + 6, 2), 1); /* VIRTIO_NET_S_LINK_UP */
	assert_int_equal(mr(e, e->devcfg + 8, 2), 1); /* one queue pair */
	uint64_t f = device_features(e);
	assert_false(f & F_MTU);
	assert_true(f & F_MAC);
	assert_true(f & F_STATUS);
	assert_true(f & F_MRG_RXBUF);
	assert_false(f & (F_CSUM | F_GUEST_CSUM)); /* no backend, no offloads */
	env_close(e);

	/* the MTU range */
	assert_int_equal(env_open(&e, "mtu=68"), 0);
	env_close(e);
	assert_int_equal(env_open(&e, "mtu=65535"), 0);
	env_close(e);
	static const char *const bad[] = {
	    "mtu=67",
	    "mtu=65536",
	    "mtu=abc",
	    "mtu=",
	    "mtu=-1500",
	    "mtu=1500x",
	    "mtu= 1500",
	    "mac=01:00:5e:00:00:01",
	    "mac=00:00:00:00:00:00",
	    "mac=00:a0:98:01:02",
	    "mac=zz:a0:98:01:02:03",
	    "mac=ff:ff:ff:ff:ff:ff",
	    "color=blue",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_not_equal(env_open(&e, bad[i]), 0);
		assert_null(e);
	}
	/* backends that cannot be opened */
	assert_int_not_equal(env_open(&e, "netgraph"), 0);
	assert_int_not_equal(env_open(&e, "netgraph,path=ng0:,peerhook=a"), 0);
	assert_int_not_equal(env_open(&e, "slirp"), 0);
	assert_int_not_equal(env_open(&e, "abcdefghijklmnopq"), 0);
	assert_int_not_equal(env_open(&e, "fd:999999"), 0);
}

static void test_identity(void **state)
{
	struct env *e;
	assert_int_equal(env_open(&e, NULL), 0);
	assert_int_equal(cfgr(e, PCIR_VENDOR, 2), 0x1af4);
	assert_int_equal(cfgr(e, PCIR_DEVICE, 2), 0x1040 + VIRTIO_ID_NET);
	assert_int_equal(cfgr(e, PCIR_CLASS, 1), 0x02);
	assert_int_equal(cfgr(e, PCIR_SUBCLASS, 1), 0x00);
	/* the config space is read-only: a driver's write changes nothing */
	uint8_t before[6], after[6];
	devcfg_mac(e, before);
	mw(e, e->devcfg, 4, 0x12345678);
	mw(e, e->devcfg + 10, 2, 1234);
	devcfg_mac(e, after);
	assert_memory_equal(before, after, 6);
	assert_int_equal(mr(e, e->devcfg + 10, 2), 1500);
	env_close(e);
}

/* ---- transmit ---- */

static void test_tx_socket(void **state)
{
	struct env *e = env_socket(NULL);
	uint64_t f = driver_probe(e, ~0ULL);
	assert_false(f & (F_CSUM | F_HOST_TSO4)); /* a socket takes no offloads */
	/* header and frame split over three descriptors, as a driver may */
	uint8_t frame[600];
	make_frame(frame, 1, sizeof(frame));
	uint64_t h = alloc_data(e, HDR), p1 = alloc_data(e, 100), p2 = alloc_data(e, 500);
	memset(e->ram + h, 0, HDR);
	memcpy(e->ram + p1, frame, 100);
	memcpy(e->ram + p2, frame + 100, 500);
	struct seg s[3] = {{h, HDR, false}, {p1, 100, false}, {p2, 500, false}};
	uint16_t head = add_chain(e, TXQ, s, 3);
	/* and one with header and frame in one buffer */
	uint64_t one = alloc_data(e, HDR + 64);
	memset(e->ram + one, 0, HDR);
	make_frame(e->ram + one + HDR, 2, 64);
	struct seg s1 = {one, HDR + 64, false};
	uint16_t head2 = add_chain(e, TXQ, &s1, 1);
	kick(e, TXQ);

	uint32_t id, len;
	assert_int_equal(get_used(e, TXQ, &id, &len), 1);
	assert_int_equal(id, head);
	assert_int_equal(len, 0);
	assert_int_equal(get_used(e, TXQ, &id, &len), 1);
	assert_int_equal(id, head2);
	assert_int_equal(mr(e, e->isr, 1) & 1, 1);

	uint8_t got[2048];
	assert_int_equal(recv(e->peer, got, sizeof(got), MSG_DONTWAIT), 600);
	assert_memory_equal(got, frame, 600);
	assert_int_equal(recv(e->peer, got, sizeof(got), MSG_DONTWAIT), 64);
	assert_memory_equal(got, e->ram + one + HDR, 64);
	assert_int_equal(status(e) & VIRTIO_STATUS_NEEDS_RESET, 0);
	env_close(e);
}

/* A transmit chain longer than any Ethernet frame a tap takes (64 KiB GSO + headers) is not
 * handed to the backend (a socket with a large buffer would take megabytes per frame); it goes
 * back to the guest, and the next frame still goes out. */
static void test_tx_oversized_frame_dropped(void **state)
{
	struct env *e = env_socket(NULL);
	driver_probe(e, 0);
	const uint32_t big = 65536 + 14 + 4 + 1; /* one byte over */
	uint64_t g = alloc_data(e, HDR + big);
	memset(e->ram + g, 0, HDR);
	make_frame(e->ram + g + HDR, 3, big);
	struct seg s = {g, HDR + big, false};
	uint16_t head = add_chain(e, TXQ, &s, 1);
	uint64_t ok = alloc_data(e, HDR + 64);
	memset(e->ram + ok, 0, HDR);
	make_frame(e->ram + ok + HDR, 4, 64);
	struct seg s1 = {ok, HDR + 64, false};
	add_chain(e, TXQ, &s1, 1);
	kick(e, TXQ);
	uint32_t id, len;
	assert_int_equal(get_used(e, TXQ, &id, &len), 1);
	assert_int_equal(id, head);
	assert_int_equal(get_used(e, TXQ, &id, &len), 1);
	static uint8_t got[1 << 17];
	assert_int_equal(recv(e->peer, got, sizeof(got), MSG_DONTWAIT), 64);
	assert_int_equal(recv(e->peer, got, sizeof(got), MSG_DONTWAIT), -1);
	assert_int_equal(status(e) & VIRTIO_STATUS_NEEDS_RESET, 0);
	env_close(e);
}

/* More frames than one kick may send: the rest go from the event loop without a new kick. */
static void test_tx_budget_continues(void **state)
{
	struct env *e = env_socket(NULL);
	driver_probe(e, ~0ULL);
	const int n = 300;
	for (int i = 0; i < n; i++) {
		uint64_t g = alloc_data(e, HDR + 60);
		memset(e->ram + g, 0, HDR);
		make_frame(e->ram + g + HDR, (uint8_t)i, 60);
		struct seg s = {g, HDR + 60, false};
		add_chain(e, TXQ, &s, 1);
	}
	kick(e, TXQ);
	uint32_t id, len;
	int done = 0;
	while (get_used(e, TXQ, &id, &len))
		done++;
	assert_int_equal(done, 256); /* bounded work per event */
	start_loop(e);
	while (done < n && wait_used(e, TXQ, &id, &len))
		done++;
	assert_int_equal(done, n);
	uint8_t got[128];
	for (int i = 0; i < n; i++) {
		assert_int_equal(recv(e->peer, got, sizeof(got), MSG_DONTWAIT), 60);
		assert_int_equal(got[14], (uint8_t)(i + 14 * 7));
	}
	env_close(e);
}

static void test_tx_short_header_needs_reset(void **state)
{
	struct env *e = env_socket(NULL);
	driver_probe(e, ~0ULL);
	uint64_t g = alloc_data(e, 64);
	struct seg s = {g, 10, false}; /* shorter than the 12-byte header */
	add_chain(e, TXQ, &s, 1);
	kick(e, TXQ);
	uint32_t id, len;
	assert_int_equal(get_used(e, TXQ, &id, &len), 0);
	assert_true(status(e) & VIRTIO_STATUS_NEEDS_RESET);
	uint8_t got[64];
	assert_int_equal(recv(e->peer, got, sizeof(got), MSG_DONTWAIT), -1);
	/* after a reset it works again */
	driver_probe(e, ~0ULL);
	assert_int_equal(status(e) & VIRTIO_STATUS_NEEDS_RESET, 0);
	memset(e->ram + g, 0, HDR);
	make_frame(e->ram + g + HDR, 5, 40);
	struct seg ok = {g, HDR + 40, false};
	add_chain(e, TXQ, &ok, 1);
	kick(e, TXQ);
	assert_int_equal(get_used(e, TXQ, &id, &len), 1);
	assert_int_equal(recv(e->peer, got, sizeof(got), MSG_DONTWAIT), 40);
	env_close(e);
}

/* Without a backend (allowed, as bhyve): frames are taken and discarded. */
static void test_tx_without_backend(void **state)
{
	struct env *e;
	assert_int_equal(env_open(&e, NULL), 0);
	driver_probe(e, ~0ULL);
	uint64_t g = alloc_data(e, HDR + 60);
	struct seg s = {g, HDR + 60, false};
	uint16_t head = add_chain(e, TXQ, &s, 1);
	kick(e, TXQ);
	uint32_t id, len;
	assert_int_equal(get_used(e, TXQ, &id, &len), 1);
	assert_int_equal(id, head);
	/* receive buffers just wait */
	post_rx(e, 2048, NULL);
	kick(e, RXQ);
	assert_int_equal(get_used(e, RXQ, &id, &len), 0);
	env_close(e);
}

/* ---- receive ---- */

static void check_hdr(const uint8_t *h, uint16_t num_buffers)
{
	static const uint8_t zero[10] = {0};
	assert_memory_equal(h, zero, 10); /* no offloads: flags 0, GSO_NONE */
	assert_int_equal(le16(h + 10), num_buffers);
}

/* Mergeable buffers, plenty of them: frames land directly, large ones span several buffers. */
static void test_rx_mergeable(void **state)
{
	struct env *e = env_socket(NULL);
	uint64_t f = driver_probe(e, F_MRG_RXBUF);
	assert_true(f & F_MRG_RXBUF);
	uint64_t buf[64];
	uint16_t head[64];
	for (int i = 0; i < 64; i++)
		buf[i] = post_rx(e, 2048, &head[i]);
	kick(e, RXQ);
	start_loop(e);

	uint8_t frame[5000];
	make_frame(frame, 3, 100);
	assert_int_equal(send(e->peer, frame, 100, 0), 100);
	uint32_t id, len;
	assert_int_equal(wait_used(e, RXQ, &id, &len), 1);
	assert_int_equal(id, head[0]);
	assert_int_equal(len, HDR + 100);
	check_hdr(e->ram + buf[0], 1);
	assert_memory_equal(e->ram + buf[0] + HDR, frame, 100);
	assert_int_equal(e->ram[buf[0] + HDR + 100], 0); /* nothing past the frame */

	/* 5000 bytes + header over three 2 KiB buffers */
	make_frame(frame, 4, 5000);
	assert_int_equal(send(e->peer, frame, 5000, 0), 5000);
	uint32_t lens[3];
	for (int i = 0; i < 3; i++) {
		assert_int_equal(wait_used(e, RXQ, &id, &lens[i]), 1);
		assert_int_equal(id, head[1 + i]);
	}
	assert_int_equal(lens[0], 2048);
	assert_int_equal(lens[1], 2048);
	assert_int_equal(lens[2], HDR + 5000 - 4096);
	check_hdr(e->ram + buf[1], 3);
	assert_memory_equal(e->ram + buf[1] + HDR, frame, 2048 - HDR);
	assert_memory_equal(e->ram + buf[2], frame + 2048 - HDR, 2048);
	assert_memory_equal(e->ram + buf[3], frame + 4096 - HDR, 5000 - 4096 + HDR);

	/* the next frame takes the next buffer: nothing was lost or reordered */
	make_frame(frame, 5, 60);
	assert_int_equal(send(e->peer, frame, 60, 0), 60);
	assert_int_equal(wait_used(e, RXQ, &id, &len), 1);
	assert_int_equal(id, head[4]);
	assert_memory_equal(e->ram + buf[4] + HDR, frame, 60);
	assert_int_equal(status(e) & VIRTIO_STATUS_NEEDS_RESET, 0);
	env_close(e);
}

/* Frames that arrive with no buffers wait in the backend (not dropped) until the guest posts
 * buffers and kicks; few buffers: frames go through the bounce buffer, a large one waits for
 * enough buffers. */
static void test_rx_waits_for_buffers(void **state)
{
	struct env *e = env_socket(NULL);
	driver_probe(e, F_MRG_RXBUF);
	start_loop(e);
	uint8_t frame[10000];
	for (int i = 0; i < 3; i++) {
		make_frame(frame, (uint8_t)(10 + i), 200);
		assert_int_equal(send(e->peer, frame, 200, 0), 200);
	}
	usleep(50000);
	uint32_t id, len;
	assert_int_equal(get_used(e, RXQ, &id, &len), 0);

	/* four small buffers (far less than the largest frame): bounce path */
	uint64_t buf[8];
	uint16_t head[8];
	for (int i = 0; i < 4; i++)
		buf[i] = post_rx(e, 2048, &head[i]);
	kick(e, RXQ);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(wait_used(e, RXQ, &id, &len), 1);
		assert_int_equal(id, head[i]);
		assert_int_equal(len, HDR + 200);
		make_frame(frame, (uint8_t)(10 + i), 200);
		check_hdr(e->ram + buf[i], 1);
		assert_memory_equal(e->ram + buf[i] + HDR, frame, 200);
	}

	/* 10000 bytes with one 2 KiB buffer left: held until four more arrive */
	make_frame(frame, 20, 10000);
	assert_int_equal(send(e->peer, frame, 10000, 0), 10000);
	usleep(50000);
	assert_int_equal(get_used(e, RXQ, &id, &len), 0);
	for (int i = 4; i < 8; i++)
		buf[i] = post_rx(e, 2048, &head[i]);
	kick(e, RXQ);
	size_t off = 0;
	for (int i = 3; i < 8; i++) {
		assert_int_equal(wait_used(e, RXQ, &id, &len), 1);
		assert_int_equal(id, head[i]);
		size_t data = len - (i == 3 ? HDR : 0);
		assert_memory_equal(e->ram + buf[i] + (i == 3 ? HDR : 0), frame + off, data);
		off += data;
	}
	assert_int_equal(off, 10000);
	assert_int_equal(le16(e->ram + buf[3] + 10), 5);
	env_close(e);
}

/* A frame larger than every buffer the ring can hold is dropped, not waited for forever. */
static void test_rx_frame_larger_than_ring(void **state)
{
	struct env *e = env_socket(NULL);
	/* a ring of 8 (the driver may choose a smaller size), 512-byte buffers: 4 KiB in all */
	driver_probe_size(e, F_MRG_RXBUF, 8);
	uint64_t buf[8];
	uint16_t head[8];
	for (int i = 0; i < 8; i++)
		buf[i] = post_rx(e, 512, &head[i]);
	kick(e, RXQ);
	start_loop(e);
	uint8_t frame[6000];
	make_frame(frame, 30, 6000);
	assert_int_equal(send(e->peer, frame, 6000, 0), 6000);
	make_frame(frame, 31, 900);
	assert_int_equal(send(e->peer, frame, 900, 0), 900);
	/* the big one is dropped; the small one that follows arrives in the first buffer */
	uint32_t id, len;
	assert_int_equal(wait_used(e, RXQ, &id, &len), 1);
	assert_int_equal(id, head[0]);
	assert_int_equal(len, 512);
	assert_int_equal(wait_used(e, RXQ, &id, &len), 1);
	assert_int_equal(id, head[1]);
	assert_int_equal(len, HDR + 900 - 512);
	assert_int_equal(le16(e->ram + buf[0] + 10), 2);
	assert_memory_equal(e->ram + buf[0] + HDR, frame, 512 - HDR);
	assert_int_equal(status(e) & VIRTIO_STATUS_NEEDS_RESET, 0);
	env_close(e);
}

/* Without MRG_RXBUF: one chain per frame (header in its own descriptor, as legacy drivers post
 * them); a frame larger than its chain is dropped and the chain used for the next one. */
static void test_rx_not_mergeable(void **state)
{
	struct env *e = env_socket(NULL);
	uint64_t f = driver_probe(e, 0);
	assert_false(f & F_MRG_RXBUF);
	uint64_t h[2], d[2];
	uint16_t head[2];
	for (int i = 0; i < 2; i++) {
		h[i] = alloc_data(e, HDR);
		d[i] = alloc_data(e, 1514);
		struct seg s[2] = {{h[i], HDR, true}, {d[i], 1514, true}};
		head[i] = add_chain(e, RXQ, s, 2);
	}
	kick(e, RXQ);
	start_loop(e);
	uint8_t frame[3000];
	make_frame(frame, 40, 1514); /* exactly fits */
	assert_int_equal(send(e->peer, frame, 1514, 0), 1514);
	uint32_t id, len;
	assert_int_equal(wait_used(e, RXQ, &id, &len), 1);
	assert_int_equal(id, head[0]);
	assert_int_equal(len, HDR + 1514);
	check_hdr(e->ram + h[0], 1); /* num_buffers is 1 without MRG_RXBUF */
	assert_memory_equal(e->ram + d[0], frame, 1514);

	make_frame(frame, 41, 1515); /* one byte too many: dropped */
	assert_int_equal(send(e->peer, frame, 1515, 0), 1515);
	make_frame(frame, 42, 800);
	assert_int_equal(send(e->peer, frame, 800, 0), 800);
	assert_int_equal(wait_used(e, RXQ, &id, &len), 1);
	assert_int_equal(id, head[1]);
	assert_int_equal(len, HDR + 800);
	assert_memory_equal(e->ram + d[1], frame, 800);
	env_close(e);
}

static void test_rx_small_buffer_needs_reset(void **state)
{
	struct env *e = env_socket(NULL);
	driver_probe(e, F_MRG_RXBUF);
	uint64_t g = alloc_data(e, 64);
	struct seg s = {g, 8, true}; /* cannot even hold the header */
	add_chain(e, RXQ, &s, 1);
	kick(e, RXQ);
	start_loop(e);
	uint8_t frame[100];
	make_frame(frame, 50, 100);
	assert_int_equal(send(e->peer, frame, 100, 0), 100);
	for (int i = 0; i < 100 && !(status(e) & VIRTIO_STATUS_NEEDS_RESET); i++)
		usleep(5000);
	assert_true(status(e) & VIRTIO_STATUS_NEEDS_RESET);
	uint32_t id, len;
	assert_int_equal(get_used(e, RXQ, &id, &len), 0);
	static const uint8_t zero[64] = {0};
	assert_memory_equal(e->ram + g, zero, 64);

	/* a chain without writable space at all */
	driver_probe(e, F_MRG_RXBUF);
	struct seg r = {g, 64, false};
	add_chain(e, RXQ, &r, 1);
	kick(e, RXQ);
	assert_true(status(e) & VIRTIO_STATUS_NEEDS_RESET);

	/* reset, good buffers: the waiting frame arrives */
	driver_probe(e, F_MRG_RXBUF);
	uint16_t head;
	uint64_t b = post_rx(e, 2048, &head);
	kick(e, RXQ);
	assert_int_equal(wait_used(e, RXQ, &id, &len), 1);
	assert_int_equal(id, head);
	assert_memory_equal(e->ram + b + HDR, frame, 100);
	env_close(e);
}

/* ---- a real tap: headers and offloads end to end ---- */

static bool have_tun(void)
{
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return false;
	close(fd);
	return geteuid() == 0;
}

static struct env *env_tap(void)
{
	char name[IFNAMSIZ];
	static int seq;
	snprintf(name, sizeof(name), "kbv%d_%d", (int)(getpid() % 100000), seq++);
	struct env *e;
	assert_int_equal(env_open(&e, name), 0);
	snprintf(e->ifname, sizeof(e->ifname), "%s", name);
	char path[128];
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
	FILE *f = fopen(path, "w");
	if (f) {
		fputs("1", f);
		fclose(f);
	}
	e->ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	assert_true(e->ps >= 0);
	struct sockaddr_ll sll = {.sll_family = AF_PACKET,
				  .sll_protocol = htons(ETH_P_ALL),
				  .sll_ifindex = (int)if_nametoindex(name)};
	assert_int_equal(bind(e->ps, (struct sockaddr *)&sll, sizeof(sll)), 0);
	return e;
}

static int ethtool_tso(const char *ifname)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct ethtool_value ev = {.cmd = ETHTOOL_GTSO};
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&ev;
	int rc = ioctl(s, SIOCETHTOOL, &ifr);
	close(s);
	return rc < 0 ? -1 : (int)ev.data;
}

static void test_tap_features_and_offload(void **state)
{
	if (!have_tun())
		skip();
	struct env *e = env_tap();
	uint64_t offered = device_features(e);
	/* this kernel's tap takes all five: every matching feature pair is offered */
	uint64_t all = F_CSUM | F_GUEST_CSUM | F_HOST_TSO4 | F_GUEST_TSO4 | F_HOST_TSO6 |
		       F_GUEST_TSO6 | F_HOST_ECN | F_GUEST_ECN | F_HOST_UFO | F_GUEST_UFO;
	assert_int_equal(offered & all, all);
	/* the guest's choice reaches the tap at DRIVER_OK, and goes at reset */
	assert_int_equal(ethtool_tso(e->ifname), 0);
	driver_probe(e, F_MRG_RXBUF | F_GUEST_CSUM | F_GUEST_TSO4 | F_GUEST_TSO6);
	assert_int_equal(ethtool_tso(e->ifname), 1);
	mw(e, e->common + 0x14, 1, 0);
	assert_int_equal(ethtool_tso(e->ifname), 0);
	driver_probe(e, F_MRG_RXBUF | F_CSUM);
	assert_int_equal(ethtool_tso(e->ifname), 0);
	env_close(e);
}

static void test_tap_rx_tx(void **state)
{
	if (!have_tun())
		skip();
	struct env *e = env_tap();
	driver_probe(e, F_MRG_RXBUF | F_CSUM);
	uint64_t buf[48];
	uint16_t head[48];
	for (int i = 0; i < 48; i++)
		buf[i] = post_rx(e, 1536, &head[i]); /* 72 KiB: every frame fits directly */
	kick(e, RXQ);
	start_loop(e);

	/* host -> guest: the tap's header, num_buffers filled in */
	uint8_t frame[1514];
	make_frame(frame, 60, 1514);
	assert_int_equal(send(e->ps, frame, 1514, 0), 1514);
	uint32_t id, len;
	int i = 0;
	for (;; i++) {
		/* skip anything else the host stack sent (there should be nothing with IPv6 off) */
		assert_int_equal(wait_used(e, RXQ, &id, &len), 1);
		assert_int_equal(id, head[i]);
		if (len >= HDR + 14 && e->ram[buf[i] + HDR + 12] == (TEST_ETHERTYPE >> 8) &&
		    e->ram[buf[i] + HDR + 13] == (TEST_ETHERTYPE & 0xff))
			break;
	}
	assert_int_equal(len, HDR + 1514);
	check_hdr(e->ram + buf[i], 1);
	assert_memory_equal(e->ram + buf[i] + HDR, frame, 1514);

	/* guest -> host: header and frame go to the tap; the frame shows on the interface */
	uint64_t g = alloc_data(e, HDR + 300);
	memset(e->ram + g, 0, HDR);
	make_frame(e->ram + g + HDR, 61, 300);
	struct seg s = {g, HDR + 300, false};
	add_chain(e, TXQ, &s, 1);
	kick(e, TXQ);
	assert_int_equal(get_used(e, TXQ, &id, &len), 1);
	uint8_t got[2048];
	for (;;) {
		struct pollfd p = {e->ps, POLLIN, 0};
		assert_int_equal(poll(&p, 1, 2000), 1);
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(e->ps, got, sizeof(got), 0, (struct sockaddr *)&from, &fl);
		assert_true(n > 0);
		if (from.sll_pkttype != PACKET_OUTGOING && n >= 14 && got[12] == 0x88 &&
		    got[13] == 0xB5) {
			assert_int_equal(n, 300);
			break;
		}
	}
	assert_memory_equal(got, e->ram + g + HDR, 300);
	env_close(e);
}

/* Send a 300-byte test frame with the given header fields through the transmit queue. */
static void tx_with_hdr(struct env *e, uint8_t flags, uint8_t gso_type, uint16_t gso_size,
			uint16_t csum_start, uint16_t csum_offset, uint8_t tag)
{
	uint64_t g = alloc_data(e, HDR + 300);
	uint8_t *h = e->ram + g;
	memset(h, 0, HDR);
	h[0] = flags;
	h[1] = gso_type;
	h[4] = (uint8_t)gso_size;
	h[5] = (uint8_t)(gso_size >> 8);
	h[6] = (uint8_t)csum_start;
	h[7] = (uint8_t)(csum_start >> 8);
	h[8] = (uint8_t)csum_offset;
	h[9] = (uint8_t)(csum_offset >> 8);
	make_frame(h + HDR, tag, 300);
	struct seg s = {g, HDR + 300, false};
	uint16_t head = add_chain(e, TXQ, &s, 1);
	kick(e, TXQ);
	uint32_t id, len;
	assert_int_equal(get_used(e, TXQ, &id, &len), 1); /* returned either way */
	assert_int_equal(id, head);
}

/* The tag of the next test frame that shows on the tap (-1 when none within 300 ms). */
static int next_tap_frame(struct env *e)
{
	uint8_t got[2048];
	for (;;) {
		struct pollfd p = {e->ps, POLLIN, 0};
		if (poll(&p, 1, 300) != 1)
			return -1;
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(e->ps, got, sizeof(got), 0, (struct sockaddr *)&from, &fl);
		assert_true(n > 0);
		if (from.sll_pkttype != PACKET_OUTGOING && n == 300 && got[12] == 0x88 &&
		    got[13] == 0xB5)
			return (uint8_t)(got[20] - 20 * 7);
	}
}

/* The guest's transmit header reaches the tap only when it asks for offloads the driver
 * negotiated: checksum offload needs CSUM, segmentation needs HOST_TSO4/TSO6/UFO (and ECN). */
static void test_tap_tx_header_checked(void **state)
{
	if (!have_tun())
		skip();
	struct env *e = env_tap();
	driver_probe(e, F_MRG_RXBUF);	       /* no offloads */
	tx_with_hdr(e, 1, 0, 0, 34, 6, 1);     /* NEEDS_CSUM without CSUM */
	tx_with_hdr(e, 1, 1, 1000, 14, 16, 2); /* TCPv4 GSO without HOST_TSO4 */
	tx_with_hdr(e, 2, 0, 0, 0, 0, 3);      /* DATA_VALID is for receive only */
	tx_with_hdr(e, 0, 0, 0, 0, 0, 4);      /* a plain frame */
	assert_int_equal(next_tap_frame(e), 4);
	assert_int_equal(next_tap_frame(e), -1);

	driver_probe(e, F_MRG_RXBUF | F_CSUM);
	tx_with_hdr(e, 1, 0, 0, 34, 6, 5);	/* checksum offload: negotiated now */
	tx_with_hdr(e, 1, 0, 0, 298, 2, 6);	/* the checksum field past the frame */
	tx_with_hdr(e, 1, 4, 1000, 14, 16, 7);	/* TCPv6 GSO without HOST_TSO6 */
	tx_with_hdr(e, 0, 0x81, 1000, 0, 0, 8); /* GSO without NEEDS_CSUM, with ECN */
	tx_with_hdr(e, 0, 0, 0, 0, 0, 9);
	assert_int_equal(next_tap_frame(e), 5);
	assert_int_equal(next_tap_frame(e), 9);
	assert_int_equal(next_tap_frame(e), -1);
	assert_int_equal(status(e) & VIRTIO_STATUS_NEEDS_RESET, 0);
	env_close(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mac_parse),
	    cmocka_unit_test(test_mac_generated),
	    cmocka_unit_test(test_options),
	    cmocka_unit_test(test_identity),
	    cmocka_unit_test(test_tx_socket),
	    cmocka_unit_test(test_tx_oversized_frame_dropped),
	    cmocka_unit_test(test_tx_budget_continues),
	    cmocka_unit_test(test_tx_short_header_needs_reset),
	    cmocka_unit_test(test_tx_without_backend),
	    cmocka_unit_test(test_rx_mergeable),
	    cmocka_unit_test(test_rx_waits_for_buffers),
	    cmocka_unit_test(test_rx_frame_larger_than_ring),
	    cmocka_unit_test(test_rx_not_mergeable),
	    cmocka_unit_test(test_rx_small_buffer_needs_reset),
	    cmocka_unit_test(test_tap_features_and_offload),
	    cmocka_unit_test(test_tap_rx_tx),
	    cmocka_unit_test(test_tap_tx_header_checked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
