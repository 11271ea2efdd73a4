/* SPDX-License-Identifier: BSD-2-Clause */
/* libFuzzer target for virtio-console's control and data paths: a VM with a two-port console
 * (alpha, beta; unix sockets in the fuzzer's private directory, to which the input may connect a
 * client of its own that sends, reads, half-closes and closes) driven through
 * the real virtio-PCI transport by a guest driver whose every step comes from the input:
 * control buffers of any size and shape, control messages well-formed or not, data buffers,
 * descriptors and ring indices overwritten, resets and stray status writes and kicks.
 *
 * Invariants checked after every step:
 *  - every control message the device returns is a device-to-driver event (PORT_ADD, PORT_NAME,
 *    PORT_OPEN) for a port below max_nr_ports, with value 0/1, fits the buffer it was given,
 *    and PORT_NAME carries the name of that port;
 *  - no queue's used index moves by more than the queue size in one step;
 *  - once the device reports NEEDS_RESET it returns nothing on any queue until a reset;
 *  - a client never reads more bytes than the guest wrote to its port since it connected;
 *  - the work bounds of fixture.h (time, descriptors, log lines per input).
 *
 * Input: byte 0 picks the features the driver takes (bit 0 MULTIPORT, bit 1 EVENT_IDX,
 * bit 2 INDIRECT_DESC); then operations, one byte each plus their arguments (see step()). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/vm.h"
#include "fixture.h"
#include "pci/pci.h"
#include "virtio/virtio.h"

#define RAM_SIZE (2u << 20)
#define SLOT 4
#define QS 16
#define NQ 6 /* two ports: queues 0/1, control 2/3, 4/5 */
#define RING(q) (0x10000u + 0x1000u * (unsigned)(q))
#define BUF_BASE 0x100000u
#define F_MULTIPORT (1ULL << 1)

static const char *const port_names[] = {"alpha", "beta"};

struct drv {
	struct vm *vm;
	uint8_t *ram;
	uint64_t bar0;
	unsigned common, notify, device;
	uint64_t features;
	uint16_t avail_idx[NQ], used_seen[NQ], next_desc[NQ];
	bool tampered[NQ];     /* descriptors or indices rewritten by the input */
	bool replays[2];       /* a port's transmit queue was tampered with while its client was
				* connected: stale buffers may reach the client again */
	uint64_t ctrl_gpa[QS]; /* control receive buffers by head (one segment each) */
	uint32_t ctrl_len[QS];
	bool ctrl_shaped[QS]; /* posted as more than one writable segment, or with a readable one */
	uint64_t next_buf;
	bool frozen;
	uint16_t frozen_used[NQ];
	/* a client of ours on each port's socket */
	int client[2];
	uint64_t written[2], read[2]; /* bytes the guest offered on the port / the client got */
};

static char sock_path[2][108];

static uint32_t cfg_read(struct vm *vm, unsigned reg, unsigned size)
{
	fuzz_guest_access(vm, IOBUS_PIO, 0xcf8, 4, true, 0x80000000u | (SLOT << 11) | (reg & 0xfc));
	return (uint32_t)fuzz_guest_access(vm, IOBUS_PIO, 0xcfc + (reg & 3), size, false, 0);
}

static void cfg_write(struct vm *vm, unsigned reg, unsigned size, uint32_t v)
{
	fuzz_guest_access(vm, IOBUS_PIO, 0xcf8, 4, true, 0x80000000u | (SLOT << 11) | (reg & 0xfc));
	fuzz_guest_access(vm, IOBUS_PIO, 0xcfc + (reg & 3), size, true, v);
}

static uint64_t mmio_read(struct drv *d, uint64_t off, unsigned size)
{
	return fuzz_guest_access(d->vm, IOBUS_MMIO, d->bar0 + off, size, false, 0);
}

static void mmio_write(struct drv *d, uint64_t off, unsigned size, uint64_t v)
{
	fuzz_guest_access(d->vm, IOBUS_MMIO, d->bar0 + off, size, true, v);
}

static uint16_t used_idx(struct drv *d, int q)
{
	uint16_t v;
	memcpy(&v, d->ram + RING(q) + 0x800 + 2, 2);
	return v;
}

static uint64_t alloc_buf(struct drv *d, uint32_t len)
{
	if (d->next_buf + len > RAM_SIZE)
		d->next_buf = BUF_BASE;
	uint64_t gpa = d->next_buf;
	d->next_buf += (len + 15) & ~15u;
	return gpa;
}

/* Reset and bring the device up with the chosen features, every queue QS entries. */
static void probe(struct drv *d)
{
	unsigned c = d->common;
	mmio_write(d, c + 0x14, 1, 0);
	mmio_write(d, c + 0x14, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	mmio_write(d, c + 0x08, 4, 0);
	mmio_write(d, c + 0x0c, 4, (uint32_t)d->features);
	mmio_write(d, c + 0x08, 4, 1);
	mmio_write(d, c + 0x0c, 4, (uint32_t)(d->features >> 32));
	mmio_write(d, c + 0x14, 1,
		   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	FUZZ_CHECK(mmio_read(d, c + 0x12, 2) == NQ, "queue count %u",
		   (unsigned)mmio_read(d, c + 0x12, 2));
	for (int q = 0; q < NQ; q++) {
		memset(d->ram + RING(q), 0, 0x1000);
		mmio_write(d, c + 0x16, 2, (uint64_t)q);
		mmio_write(d, c + 0x18, 2, QS);
		mmio_write(d, c + 0x20, 8, RING(q));
		mmio_write(d, c + 0x28, 8, RING(q) + 0x400);
		mmio_write(d, c + 0x30, 8, RING(q) + 0x800);
		mmio_write(d, c + 0x1c, 2, 1);
		d->avail_idx[q] = d->used_seen[q] = d->next_desc[q] = 0;
		d->tampered[q] = false;
	}
	mmio_write(d, c + 0x14, 1, 0xf & ~VIRTIO_STATUS_FAILED);
	d->frozen = false;
}

struct seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

/* Make a chain available; -1 when the descriptors it needs may still be in use (a driver never
 * rewrites a chain the device has not returned; chains are returned in order here). */
static int add_chain(struct drv *d, int q, const struct seg *s, int n)
{
	unsigned outstanding = (uint16_t)(d->avail_idx[q] - used_idx(d, q));
	if (outstanding * 2 + (unsigned)n > QS)
		return -1;
	uint16_t head = d->next_desc[q];
	for (int i = 0; i < n; i++) {
		uint16_t k = (uint16_t)((head + i) % QS);
		uint8_t *p = d->ram + RING(q) + 16u * k;
		uint16_t flags =
		    (s[i].write ? VRING_DESC_F_WRITE : 0) | (i + 1 < n ? VRING_DESC_F_NEXT : 0);
		uint16_t next = (uint16_t)((k + 1) % QS);
		memcpy(p, &s[i].gpa, 8);
		memcpy(p + 8, &s[i].len, 4);
		memcpy(p + 12, &flags, 2);
		memcpy(p + 14, &next, 2);
	}
	d->next_desc[q] = (uint16_t)((head + n) % QS);
	uint16_t *avail = (uint16_t *)(d->ram + RING(q) + 0x400);
	avail[2 + d->avail_idx[q] % QS] = head;
	d->avail_idx[q]++;
	avail[1] = d->avail_idx[q];
	return head;
}

static void kick(struct drv *d, int q)
{
	mmio_write(d, d->notify + 4u * (unsigned)q, 2, (uint64_t)q);
}

static void client_connect(struct drv *d, int p)
{
	if (d->client[p] >= 0)
		return;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	FUZZ_CHECK(fd >= 0, "socket: %s", strerror(errno));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path[p]);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EAGAIN) {
		close(fd);
		return;
	}
	d->client[p] = fd;
	d->written[p] = d->read[p] = 0;
	d->replays[p] = d->tampered[p ? 5 : 1];
}

/* Read what the port sent; never more than the guest wrote there since we connected, unless the
 * guest tampered with the port's transmit queue: a moved avail index or a rewritten descriptor
 * makes the device send stale buffers again, which is the guest's doing, not the device's. */
static void client_drain(struct drv *d, int p)
{
	char buf[4096];
	ssize_t n;
	while ((n = recv(d->client[p], buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		d->read[p] += (uint64_t)n;
	FUZZ_CHECK(d->replays[p] || d->read[p] <= d->written[p],
		   "port %d: the client read %llu bytes, the guest wrote %llu", p,
		   (unsigned long long)d->read[p], (unsigned long long)d->written[p]);
}

/* One driver step from the input. */
static void step(struct drv *d, struct fuzz_input *in)
{
	uint8_t op = in_u8(in);
	switch (op % 14) {
	case 0: { /* control receive buffer: usually one writable segment, sometimes odd shapes */
		uint8_t shape = in_u8(in);
		uint32_t len = in_u16(in) % 600;
		struct seg s[2];
		int n = 0;
		if (shape & 1)
			s[n++] = (struct seg){alloc_buf(d, 8), 8, false};
		s[n++] = (struct seg){alloc_buf(d, len), len, true};
		memset(d->ram + s[n - 1].gpa, 0xee, len);
		int head = add_chain(d, 2, s, n);
		if (head >= 0) {
			d->ctrl_gpa[head] = s[n - 1].gpa;
			d->ctrl_len[head] = len;
			d->ctrl_shaped[head] = n > 1;
		}
		kick(d, 2);
		break;
	}
	case 1: { /* a control message of raw bytes, any length, maybe with a writable segment */
		uint8_t shape = in_u8(in);
		uint32_t len = shape % 16;
		uint64_t g = alloc_buf(d, 16);
		for (uint32_t i = 0; i < len; i++)
			d->ram[g + i] = in_u8(in);
		struct seg s[2] = {{g, len, false}, {alloc_buf(d, 8), 8, true}};
		add_chain(d, 3, s, (shape & 0x10) ? 2 : 1);
		kick(d, 3);
		break;
	}
	case 2: { /* a well-formed control message with fuzzed fields */
		uint8_t sel = in_u8(in);
		uint32_t id = sel == 0xff ? 0xffffffffu : sel % 20;
		uint16_t ev = in_u8(in) % 10, val = in_u8(in) % 3;
		uint64_t g = alloc_buf(d, 8);
		memcpy(d->ram + g, &id, 4);
		memcpy(d->ram + g + 4, &ev, 2);
		memcpy(d->ram + g + 6, &val, 2);
		struct seg s = {g, 8, false};
		add_chain(d, 3, &s, 1);
		kick(d, 3);
		break;
	}
	case 3: { /* a receive buffer for a port */
		int q = (in_u8(in) & 1) ? 4 : 0;
		uint32_t len = in_u16(in) % 5000;
		struct seg s = {alloc_buf(d, len), len, true};
		add_chain(d, q, &s, 1);
		kick(d, q);
		break;
	}
	case 4: { /* guest output on a port (to the client, or dropped when none) */
		int q = (in_u8(in) & 1) ? 5 : 1;
		uint32_t len = in_u8(in);
		if (op & 0x80)
			len = len * 256 + 255; /* up to 64 KiB: more than a socket buffer takes */
		struct seg s = {alloc_buf(d, len), len, false};
		add_chain(d, q, &s, 1);
		d->written[q == 5] += len;
		kick(d, q);
		break;
	}
	case 5: { /* overwrite a descriptor */
		int q = in_u8(in) % NQ;
		unsigned k = in_u8(in) % QS;
		for (int i = 0; i < 16; i++)
			d->ram[RING(q) + 16 * k + (unsigned)i] = in_u8(in);
		d->tampered[q] = true;
		kick(d, q);
		break;
	}
	case 6: { /* move an avail index */
		int q = in_u8(in) % NQ;
		uint16_t v = in_u16(in);
		memcpy(d->ram + RING(q) + 0x400 + 2, &v, 2);
		d->tampered[q] = true;
		kick(d, q);
		break;
	}
	case 7:
		probe(d);
		break;
	case 8: /* any doorbell, also past the last queue */
		kick(d, in_u8(in) % 64);
		break;
	case 9: { /* a stray status write */
		uint8_t v = in_u8(in);
		mmio_write(d, d->common + 0x14, 1, v);
		if (v == 0) {
			d->frozen = false;
			for (int q = 0; q < NQ; q++)
				d->tampered[q] = true; /* queues are off until the next probe */
		}
		break;
	}
	case 10: /* connect a client to a port */
		client_connect(d, in_u8(in) & 1);
		fuzz_loop_pass(d->vm);
		break;
	case 11: { /* the client sends bytes: guest input */
		int p = in_u8(in) & 1;
		char buf[256];
		size_t len = in_u8(in);
		for (size_t i = 0; i < len; i++)
			buf[i] = (char)in_u8(in);
		if (d->client[p] >= 0 &&
		    send(d->client[p], buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			FUZZ_CHECK(errno == EAGAIN || errno == EPIPE || errno == ECONNRESET,
				   "send: %s", strerror(errno));
		fuzz_loop_pass(d->vm);
		break;
	}
	case 12: { /* the client reads; op bit 4: then half-closes, bit 5: closes */
		int p = in_u8(in) & 1;
		if (d->client[p] < 0)
			break;
		client_drain(d, p);
		if (op & 0x10)
			shutdown(d->client[p], SHUT_WR);
		if (op & 0x20) {
			close(d->client[p]);
			d->client[p] = -1;
		}
		fuzz_loop_pass(d->vm);
		break;
	}
	case 13:
		fuzz_loop_pass(d->vm);
		break;
	}
}

/* Control messages returned since the last check are device-to-driver events for real ports. */
static void check_control(struct drv *d)
{
	uint32_t max_ports = (uint32_t)mmio_read(d, d->device + 4, 4);
	FUZZ_CHECK(max_ports == 2, "max_nr_ports %u", max_ports);
	uint16_t idx = used_idx(d, 2);
	FUZZ_CHECK((uint16_t)(idx - d->used_seen[2]) <= QS, "control used index jumped %u -> %u",
		   d->used_seen[2], idx);
	for (; d->used_seen[2] != idx; d->used_seen[2]++) {
		if (d->tampered[2])
			continue;
		const uint8_t *el = d->ram + RING(2) + 0x800 + 4 + 8u * (d->used_seen[2] % QS);
		uint32_t head, len;
		memcpy(&head, el, 4);
		memcpy(&len, el + 4, 4);
		FUZZ_CHECK(head < QS, "control used head %u", head);
		FUZZ_CHECK(!d->ctrl_shaped[head], "a misshapen control buffer was used (head %u)",
			   head);
		FUZZ_CHECK(len >= 8 && len <= d->ctrl_len[head],
			   "control message of %u bytes in a "
			   "%u-byte buffer",
			   len, d->ctrl_len[head]);
		const uint8_t *m = d->ram + d->ctrl_gpa[head];
		uint32_t id;
		uint16_t ev, val;
		memcpy(&id, m, 4);
		memcpy(&ev, m + 4, 2);
		memcpy(&val, m + 6, 2);
		FUZZ_CHECK(ev == 1 || ev == 6 || ev == 7, "device sent event %u", ev);
		FUZZ_CHECK(id < max_ports, "device sent event %u for port %u", ev, id);
		FUZZ_CHECK(val <= 1, "device sent value %u", val);
		if (ev == 7) {
			const char *name = port_names[id];
			FUZZ_CHECK(len == 8 + strlen(name) &&
				       memcmp(m + 8, name, strlen(name)) == 0,
				   "PORT_NAME for port %u is wrong (%u bytes)", id, len);
		} else {
			FUZZ_CHECK(len == 8, "event %u with %u bytes", ev, len);
		}
	}
}

static void check_frozen(struct drv *d)
{
	uint8_t st = (uint8_t)mmio_read(d, d->common + 0x14, 1);
	if (!(st & VIRTIO_STATUS_NEEDS_RESET))
		return;
	if (!d->frozen) {
		d->frozen = true;
		for (int q = 0; q < NQ; q++)
			d->frozen_used[q] = used_idx(d, q);
		return;
	}
	for (int q = 0; q < NQ; q++)
		FUZZ_CHECK(used_idx(d, q) == d->frozen_used[q],
			   "queue %d returned buffers after NEEDS_RESET", q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char cfg[4][160];
	if (!cfg[0][0]) {
		snprintf(sock_path[0], sizeof(sock_path[0]), "%s/vc-alpha", fuzz_tmpdir());
		snprintf(sock_path[1], sizeof(sock_path[1]), "%s/vc-beta", fuzz_tmpdir());
		snprintf(cfg[0], sizeof(cfg[0]), "pci.0.%d.0.port.0.path=%s", SLOT, sock_path[0]);
		snprintf(cfg[1], sizeof(cfg[1]), "pci.0.%d.0.port.1.path=%s", SLOT, sock_path[1]);
		snprintf(cfg[2], sizeof(cfg[2]), "pci.0.%d.0.port.0.name=%s", SLOT, port_names[0]);
		snprintf(cfg[3], sizeof(cfg[3]), "pci.0.%d.0.port.1.name=%s", SLOT, port_names[1]);
	}
	char dev[48];
	snprintf(dev, sizeof(dev), "pci.0.%d.0.device=virtio-console", SLOT);
	const char *const config[] = {dev, cfg[0], cfg[1], cfg[2], cfg[3], NULL};
	fuzz_work_begin();
	struct vm *vm = fuzz_vm_create(config, RAM_SIZE, false);

	static struct drv d;
	memset(&d, 0, sizeof(d));
	d.vm = vm;
	d.ram = vm->mem.host;
	d.next_buf = BUF_BASE;
	d.client[0] = d.client[1] = -1;
	for (unsigned p = cfg_read(vm, PCIR_CAP_PTR, 1); p; p = cfg_read(vm, p + 1, 1)) {
		if (cfg_read(vm, p, 1) != 0x09)
			continue;
		unsigned type = cfg_read(vm, p + 3, 1), off = cfg_read(vm, p + 8, 4);
		if (type == 1)
			d.common = off;
		else if (type == 2)
			d.notify = off;
		else if (type == 4)
			d.device = off;
	}
	FUZZ_CHECK(d.notify && d.device, "virtio capabilities not found");
	d.bar0 = cfg_read(vm, PCIR_BAR0, 4) & ~0xfULL;
	cfg_write(vm, PCIR_COMMAND, 2, 0x6);

	struct fuzz_input in = {data, size};
	uint8_t f = in_u8(&in);
	d.features = VIRTIO_F_VERSION_1 | ((f & 1) ? F_MULTIPORT : 0) |
		     ((f & 2) ? VIRTIO_RING_F_EVENT_IDX : 0) |
		     ((f & 4) ? VIRTIO_RING_F_INDIRECT_DESC : 0);
	probe(&d);
	for (int steps = 0; in.left && steps < 256; steps++) {
		step(&d, &in);
		for (int p = 0; p < 2; p++)
			d.replays[p] = d.replays[p] || d.tampered[p ? 5 : 1];
		check_control(&d);
		if (d.frozen ||
		    (uint8_t)mmio_read(&d, d.common + 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET)
			check_frozen(&d);
		for (int q = 0; q < NQ; q++)
			if (!d.tampered[q] && q != 2) {
				uint16_t idx = used_idx(&d, q);
				FUZZ_CHECK((uint16_t)(idx - d.used_seen[q]) <= QS,
					   "queue %d used index jumped %u -> %u", q, d.used_seen[q],
					   idx);
				d.used_seen[q] = idx;
			}
	}
	fuzz_work_check();
	for (int p = 0; p < 2; p++)
		if (d.client[p] >= 0)
			close(d.client[p]);
	fuzz_vm_destroy(vm);
	fuzz_work_end();
	return 0;
}
