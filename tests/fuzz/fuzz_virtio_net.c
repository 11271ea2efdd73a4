/* SPDX-License-Identifier: BSD-2-Clause */
/* libFuzzer target for virtio-net's transmit and receive paths: a VM without KVM with one
 * virtio-net at 0:3.0 whose backend is one end of a socket pair (fd:N; frames without headers,
 * so the device makes up and strips the virtio-net header), a driver that negotiates features
 * and sets up both queues through BAR 0, then guest operations from the input: raw RAM and
 * descriptor writes, transmit chains and receive buffers (well-formed and not), kicks, frames
 * of any size arriving from the far end, event-loop passes, device resets with buffers held.
 * What the device transmits is read from the far end and discarded.
 *
 * Checked: ASan/UBSan (nothing outside guest RAM or the device's buffers is touched), the device
 * never returns a chain it did not take, holds at most a ring's worth of receive chains and no
 * transmit chain beyond the one that stopped it; the work bounds of fixture.h.
 *
 * Built a second time as fuzz_virtio_net_tap (FUZZ_NET_TAP): the backend is then a real tap
 * with a virtio-net header (the offloads the guest negotiates are set on it, and the guest's
 * TX header goes to the host kernel), in a private network namespace the target enters at start
 * (unshare; needs root and /dev/net/tun, else every input is skipped with "fuzz-skip: ..."); the
 * far end is a packet socket bound to the tap: its frames arrive at the device, and what the
 * guest sends is read there. Setup bit 3 (datagram/seqpacket) means nothing for it.
 *
 * Input: a setup byte, then operations (op byte, low 3 bits; bit 3 picks the queue: 0 rx, 1 tx):
 *   setup: bit 0 MRG_RXBUF, bit 1 INDIRECT_DESC, bit 2 EVENT_IDX, bit 3 datagram (else
 *          seqpacket) socket, bits 4-5 rx queue size 256/64/8/1, bits 6-7 tx queue size
 *   0 RAM write      offset u16 (x16), length u8, bytes
 *   1 descriptor     index u8, addr u16 (x16 into the data area; op bit 4: raw u64), len u16
 *                    (op bit 5: x 16), flags u8, next u8
 *   2 chain          segments u8 (1-4) then per segment len u16 (x 4 with op bit 4), as the
 *                    queue expects (tx readable, rx writable); op bit 5 flips one direction;
 *                    op bit 6 on tx: the first segment's 12 header bytes follow its length
 *   3 avail entry    head u16
 *   4 kick
 *   5 frame          length u16 (op bit 4: + 65536 - 4096, up to 70 KiB) arriving at the device
 *   6 event loop     one pass (the backend's "frames waiting" callback), far end drained
 *   7 reset          status 0 with buffers held, then set up again; op bit 4: negotiate
 *                    MRG_RXBUF the other way from before; op bit 5: device config write u32 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef FUZZ_NET_TAP
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#endif

#include "core/vm.h"
#include "fixture.h"
#include "pci/pci.h"
#include "virtio/virtio.h"

#define RAM_SIZE (1u << 20)
#define SLOT 3
#define RING_GPA(q) (0x3000u * (q)) /* desc +0, avail +0x1000, used +0x2000 */
#define DATA_GPA 0x8000u
#define MAX_OPS 256
#define F_MRG_RXBUF (1ULL << 15)

struct drv {
	struct vm *vm;
	uint64_t bar0;
	uint16_t qsize[2], next_desc[2], avail_idx[2];
	uint64_t features;
	uint32_t data_next;
	int peer;
};

static void mw(struct drv *d, uint64_t off, unsigned size, uint64_t v)
{
	fuzz_guest_access(d->vm, IOBUS_MMIO, d->bar0 + off, size, true, v);
}

static uint64_t mr(struct drv *d, uint64_t off, unsigned size)
{
	return fuzz_guest_access(d->vm, IOBUS_MMIO, d->bar0 + off, size, false, 0);
}

static uint8_t *ram(struct drv *d, uint64_t gpa)
{
	return d->vm->mem.host + gpa;
}

/* Reset and bring the device up as a driver does (common config at 0, doorbells at 0x3000). */
static void driver_start(struct drv *d)
{
	mw(d, 0x14, 1, 0);
	mw(d, 0x14, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	mw(d, 0x00, 4, 0);
	uint64_t offered = mr(d, 0x04, 4);
	mw(d, 0x00, 4, 1);
	offered |= mr(d, 0x04, 4) << 32;
	uint64_t want = d->features & offered;
	mw(d, 0x08, 4, 0);
	mw(d, 0x0c, 4, (uint32_t)want);
	mw(d, 0x08, 4, 1);
	mw(d, 0x0c, 4, (uint32_t)(want >> 32));
	mw(d, 0x14, 1,
	   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	for (int q = 0; q < 2; q++) {
		memset(ram(d, RING_GPA(q)), 0, 0x3000);
		mw(d, 0x16, 2, (uint64_t)q);
		mw(d, 0x18, 2, d->qsize[q]);
		mw(d, 0x20, 8, RING_GPA(q));
		mw(d, 0x28, 8, RING_GPA(q) + 0x1000);
		mw(d, 0x30, 8, RING_GPA(q) + 0x2000);
		mw(d, 0x1c, 2, 1);
		d->next_desc[q] = d->avail_idx[q] = 0;
	}
	mw(d, 0x14, 1, 0x0f);
}

static void put_desc(struct drv *d, int q, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	uint8_t *p = ram(d, RING_GPA(q) + 16 * (uint64_t)(i % d->qsize[q]));
	memcpy(p, &addr, 8);
	memcpy(p + 8, &len, 4);
	memcpy(p + 12, &flags, 2);
	memcpy(p + 14, &next, 2);
}

static void make_available(struct drv *d, int q, uint16_t head)
{
	memcpy(ram(d, RING_GPA(q) + 0x1000 + 4 + 2 * (uint64_t)(d->avail_idx[q] % d->qsize[q])),
	       &head, 2);
	d->avail_idx[q]++;
	memcpy(ram(d, RING_GPA(q) + 0x1000 + 2), &d->avail_idx[q], 2);
}

/* Space for a buffer in the data area (wrapping round: buffers may overlap old ones). */
static uint64_t data_alloc(struct drv *d, uint32_t len)
{
	if (len > RAM_SIZE - DATA_GPA)
		len = RAM_SIZE - DATA_GPA;
	if (d->data_next + len > RAM_SIZE - DATA_GPA)
		d->data_next = 0;
	uint64_t gpa = DATA_GPA + d->data_next;
	d->data_next += (len + 15) & ~15u;
	return gpa;
}

static void add_chain(struct drv *d, int q, uint8_t op, struct fuzz_input *in)
{
	unsigned nseg = in_u8(in) % 4 + 1;
	uint16_t head = (uint16_t)(d->next_desc[q] % d->qsize[q]);
	unsigned i = d->next_desc[q];
	for (unsigned s = 0; s < nseg; s++) {
		uint32_t len = in_u16(in);
		if (op & 0x10)
			len *= 4;
		bool write = q == 0;
		if ((op & 0x20) && s == nseg - 1)
			write = !write;
		uint64_t gpa = data_alloc(d, len);
		if (q == 1 && len && s == 0 && (op & 0x40)) {
			/* the guest's own header: flags, gso_type, hdr_len, gso_size, csum_* */
			for (uint32_t k = 0; k < 12; k++) {
				uint8_t v = in_u8(in);
				if (k < len)
					*ram(d, gpa + k) = v;
			}
		} else if (q == 1 && len) {
			memset(ram(d, gpa), 0, len < 12 ? len : 12); /* a plain header */
		}
		put_desc(d, q, i, gpa, len,
			 (uint16_t)((write ? VRING_DESC_F_WRITE : 0) |
				    (s + 1 < nseg ? VRING_DESC_F_NEXT : 0)),
			 (uint16_t)((i + 1) % d->qsize[q]));
		i++;
	}
	d->next_desc[q] = (uint16_t)(i % d->qsize[q]);
	make_available(d, q, head);
}

static void send_frame(struct drv *d, uint8_t op, struct fuzz_input *in)
{
	static uint8_t frame[70 * 1024];
	size_t len = in_u16(in);
	if (op & 0x10)
		len += 65536 - 4096;
	if (len > sizeof(frame))
		len = sizeof(frame);
	uint8_t fill = in_u8(in);
	memset(frame, fill, len);
	ssize_t r = send(d->peer, frame, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)r; /* a full socket just loses the frame */
}

static void drain_peer(struct drv *d)
{
	static uint8_t buf[70 * 1024];
	while (recv(d->peer, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		;
}

/* One pass of the event loop: a backend with frames waiting gets its callback. */
static void loop_pass(struct drv *d)
{
	fuzz_loop_pass(d->vm);
}

#ifdef FUZZ_NET_TAP
#define TAP_NAME "kbfuzz0"
/* Enter a private network namespace once and make a persistent tap there (each VM attaches to
 * it: creating and registering a network device per input would cost more than the input);
 * false (and a skip note) where that is not allowed. */
static bool tap_ready(void)
{
	static int ok = -1;
	if (ok >= 0)
		return ok;
	ok = 0;
	int fd = -1;
	if (unshare(CLONE_NEWNET) == 0)
		fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fuzz_skip("no private network namespace with /dev/net/tun (needs root)");
		return false;
	}
	struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", TAP_NAME);
	FUZZ_CHECK(ioctl(fd, TUNSETIFF, &ifr) == 0 && ioctl(fd, TUNSETPERSIST, 1) == 0,
		   "tap %s: %s", TAP_NAME, strerror(errno));
	close(fd);
	ok = 1;
	return true;
}

/* The far end: a packet socket on the tap. */
static int tap_peer(void)
{
	unsigned idx = if_nametoindex(TAP_NAME);
	FUZZ_CHECK(idx, "no interface %s after the VM opened it", TAP_NAME);
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ALL));
	FUZZ_CHECK(fd >= 0, "packet socket: %s", strerror(errno));
	struct sockaddr_ll sa = {
	    .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = (int)idx};
	FUZZ_CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind to %s: %s", TAP_NAME,
		   strerror(errno));
	return fd;
}
#endif

/* The device's own counters (the guest may scribble over the rings in RAM). */
static void check_queues(struct drv *d)
{
	struct pci_dev *pd = pci_find_dev(d->vm, 0, SLOT, 0);
	FUZZ_CHECK(pd && pd->priv, "no virtio-net at 0:%d.0", SLOT);
	const struct virtio_dev *vd = pd->priv;
	const struct virtqueue *rx = &vd->vq[0], *tx = &vd->vq[1];
	uint16_t rx_held = (uint16_t)(rx->last_avail - rx->used_idx);
	uint16_t tx_held = (uint16_t)(tx->last_avail - tx->used_idx);
	FUZZ_CHECK(rx_held <= rx->size, "%u receive chains held with a ring of %u", rx_held,
		   rx->size);
	FUZZ_CHECK(tx_held <= 1, "%u transmit chains taken and not returned", tx_held);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
#ifdef FUZZ_NET_TAP
	if (!tap_ready())
		return 0;
#endif
	fuzz_work_begin();
	struct fuzz_input in = {data, size};
	uint8_t setup = in_u8(&in);
	struct drv d = {0};
#ifdef FUZZ_NET_TAP
	const char *assign[] = {"name=fuzz", "pci.0.3.0.device=virtio-net",
				"pci.0.3.0.backend=" TAP_NAME, "pci.0.3.0.mtu=9000", NULL};
	d.vm = fuzz_vm_create(assign, RAM_SIZE, false);
	d.peer = tap_peer();
#else
	int sv[2];
	FUZZ_CHECK(socketpair(AF_UNIX, ((setup & 8) ? SOCK_DGRAM : SOCK_SEQPACKET) | SOCK_CLOEXEC,
			      0, sv) == 0,
		   "socketpair: %s", strerror(errno));
	char backend[48];
	snprintf(backend, sizeof(backend), "pci.0.3.0.backend=fd:%d", sv[0]);
	const char *assign[] = {"name=fuzz", "pci.0.3.0.device=virtio-net", backend,
				"pci.0.3.0.mtu=9000", NULL};
	d.peer = sv[1];
	d.vm = fuzz_vm_create(assign, RAM_SIZE, false); /* adopts sv[0] */
#endif
	static const uint16_t qsizes[] = {256, 64, 8, 1};
	d.qsize[0] = qsizes[(setup >> 4) & 3];
	d.qsize[1] = qsizes[setup >> 6];
	d.features = VIRTIO_F_VERSION_1 | 0xffffffULL; /* whatever the device offers */
	if (!(setup & 1))
		d.features &= ~F_MRG_RXBUF;
	if (setup & 2)
		d.features |= VIRTIO_RING_F_INDIRECT_DESC;
	if (setup & 4)
		d.features |= VIRTIO_RING_F_EVENT_IDX;
	fuzz_cfg_write(d.vm, SLOT, PCIR_COMMAND, 2, 0x6);
	d.bar0 = fuzz_cfg_read(d.vm, SLOT, PCIR_BAR0, 4) & ~0xfULL;
	driver_start(&d);

	for (int n = 0; n < MAX_OPS && in.left; n++) {
		uint8_t op = in_u8(&in);
		int q = (op >> 3) & 1;
		switch (op & 7) {
		case 0: {
			uint64_t off = (uint64_t)in_u16(&in) * 16;
			unsigned len = in_u8(&in);
			for (unsigned i = 0; i < len && off + i < RAM_SIZE; i++)
				*ram(&d, off + i) = in_u8(&in);
			break;
		}
		case 1: {
			unsigned idx = in_u8(&in);
			uint64_t addr =
			    (op & 0x10) ? in_u64(&in) : DATA_GPA + (uint64_t)in_u16(&in) * 16;
			uint32_t len = in_u16(&in);
			if (op & 0x20)
				len *= 16;
			uint16_t flags = in_u8(&in);
			uint16_t next = in_u8(&in);
			put_desc(&d, q, idx, addr, len, flags, next);
			break;
		}
		case 2:
			add_chain(&d, q, op, &in);
			break;
		case 3:
			make_available(&d, q, in_u16(&in));
			break;
		case 4:
			mw(&d, 0x3000 + 4u * (unsigned)q, 2, (uint64_t)q);
			break;
		case 5:
			send_frame(&d, op, &in);
			break;
		case 6:
			loop_pass(&d);
			drain_peer(&d);
			break;
		case 7:
			check_queues(&d);
			if (op & 0x20)
				mw(&d, 0x2000 + in_u8(&in) % 12, 1, in_u8(&in));
			if (op & 0x10)
				d.features ^= F_MRG_RXBUF;
			driver_start(&d);
			break;
		}
		check_queues(&d);
		drain_peer(&d);
	}
	mw(&d, 0x3000, 2, 0);
	mw(&d, 0x3004, 2, 1);
	loop_pass(&d);
	check_queues(&d);
	fuzz_work_check();
	close(d.peer);
	fuzz_vm_destroy(d.vm);
	fuzz_work_end();
	return 0;
}
