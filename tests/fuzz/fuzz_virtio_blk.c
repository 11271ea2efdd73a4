/* SPDX-License-Identifier: BSD-2-Clause */
/* libFuzzer target for virtio-blk's request path: a VM without KVM with one virtio-blk at 0:4.0
 * backed by a small temporary image, a driver that negotiates features and sets up the request
 * queue through BAR 0, then guest operations from the input: raw RAM and descriptor writes,
 * well-formed and malformed requests, kicks, event-loop passes that deliver backend completions,
 * and device resets with requests in flight.
 *
 * Checked after every input: ASan/UBSan (the VMM never touches memory outside its buffers), the
 * device never returns a chain it did not take (and never has more outstanding than the
 * backend's queue depth), and the image keeps its size (no request escaped the capacity).
 *
 * The VM has the stand-in KVM descriptor (fake_kvm.c): 2-byte doorbell writes land on the
 * queue's ioeventfd and reach the device when the event loop runs (kick_event), as under KVM;
 * other widths take the slow path. The work bounds of fixture.h apply: one input (one kick) must
 * not keep the VMM busy for long however large the requests are.
 *
 * Input: two setup bytes, then operations (op byte, low 3 bits):
 *   setup: bit 0 ro, bit 1 nodelete, bit 2 sectorsize=4096, bit 3 no FLUSH (write-through),
 *          bit 4 INDIRECT_DESC, bit 5 EVENT_IDX, bits 6-7 queue size 256/64/8/1
 *   setup 2: bit 0 a large sparse image (2.5 GiB, read-only: reads of holes cost no memory)
 *   0 RAM write      offset u16 (x16), length u8, bytes
 *   1 descriptor     index u8, addr u16 (x16 into the data area; op bit 3: raw u64),
 *                    len u16, flags u8, next u8
 *   2 request        kind u8, sector u8 (op bit 3: raw u64), sectors u8, split u8: a chain
 *                    built from those (often valid, sometimes deliberately not); op bit 4: a
 *                    request through one indirect table instead: write u8 (bit 0), sector
 *                    u32, segments u16 (1-1022), segment length u32 (up to 2 MiB): every
 *                    segment points at the same buffer, so RAM stays small
 *   3 avail entry    head u16
 *   4 kick           the 2-byte doorbell (op bit 3: 4 bytes, the slow path)
 *   5 event loop     one pass: kicks on the ioeventfd, completions that are ready
 *   6 reset          status 0 with whatever is in flight, then set the queue up again
 *   7 register write offset u8 in the device config or common config (op bit 3), value u32 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/blockif.h"
#include "core/vm.h"
#include "fixture.h"
#include "pci/pci.h"
#include "virtio/virtio.h"

#define RAM_SIZE (4u << 20)
#define DISK_SIZE (64u * 1024)
#define BIG_DISK_SIZE (5ULL << 29)
#define ITABLE_GPA 0x10000 /* indirect tables: 1024 descriptors */
#define BIGBUF_GPA 0x100000
#define BIGBUF_MAX (2u << 20)
#define SLOT 4
#define DESC_GPA 0x0000
#define AVAIL_GPA 0x1000
#define USED_GPA 0x2000
#define HDR_GPA 0x3000
#define DATA_GPA 0x4000
#define MAX_OPS 256

/* virtio-blk request types */
static const uint32_t types[] = {0, 1, 4, 8, 11, 13, 99};

struct drv {
	struct vm *vm;
	uint64_t bar0;
	uint16_t qsize, next_desc, avail_idx;
	uint64_t features;
	unsigned nreq;
};

static char disk_path[96], big_path[96];

static void make_file(char *path, size_t len, const char *name, uint64_t size)
{
	snprintf(path, len, "%s/%s", fuzz_tmpdir(), name);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	FUZZ_CHECK(fd >= 0, "create %s", path);
	FUZZ_CHECK(ftruncate(fd, (off_t)size) == 0, "truncate");
	close(fd);
}

static void make_disk(void)
{
	make_file(disk_path, sizeof(disk_path), "disk.img", DISK_SIZE);
	make_file(big_path, sizeof(big_path), "big.img", BIG_DISK_SIZE);
}

static void unlink_disk(void)
{
	if (disk_path[0])
		unlink(disk_path);
	if (big_path[0])
		unlink(big_path);
}

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

/* Reset and bring the device up as a driver does (the transport layout is fixed: common config
 * at 0, device config at 0x2000, doorbells at 0x3000). */
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
	memset(ram(d, DESC_GPA), 0, 0x3000);
	mw(d, 0x16, 2, 0);
	mw(d, 0x18, 2, d->qsize);
	mw(d, 0x20, 8, DESC_GPA);
	mw(d, 0x28, 8, AVAIL_GPA);
	mw(d, 0x30, 8, USED_GPA);
	mw(d, 0x1c, 2, 1);
	mw(d, 0x14, 1, 0x0f & ~0u);
	d->next_desc = d->avail_idx = 0;
}

static void put_desc(struct drv *d, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	uint8_t *p = ram(d, DESC_GPA + 16 * (uint64_t)(i % d->qsize));
	memcpy(p, &addr, 8);
	memcpy(p + 8, &len, 4);
	memcpy(p + 12, &flags, 2);
	memcpy(p + 14, &next, 2);
}

static void make_available(struct drv *d, uint16_t head)
{
	memcpy(ram(d, AVAIL_GPA + 4 + 2 * (uint64_t)(d->avail_idx % d->qsize)), &head, 2);
	d->avail_idx++;
	memcpy(ram(d, AVAIL_GPA + 2), &d->avail_idx, 2);
}

/* A request chain: header, data split into up to 3 segments, status byte. `split` bits 0-1:
 * data segments, bit 2: data in the wrong direction, bit 3: no status descriptor, bit 4:
 * header of 8 bytes, bit 5: status folded into the last data segment. */
static void add_request(struct drv *d, uint32_t type, uint64_t sector, unsigned sectors,
			unsigned split)
{
	d->nreq++;
	uint64_t hdr = HDR_GPA + 16 * (uint64_t)(d->nreq % 64);
	memcpy(ram(d, hdr), &type, 4);
	memset(ram(d, hdr + 4), 0, 4);
	memcpy(ram(d, hdr + 8), &sector, 8);
	uint32_t len = sectors * 512u;
	bool data_write = type == 0 || type == 8;
	if (type == 8)
		len = 20;
	if (type == 11 || type == 13) { /* discard / write zeroes segments */
		unsigned nseg = sectors % 4 + 1;
		len = 16 * nseg;
		for (unsigned i = 0; i < nseg; i++) {
			uint64_t s = (sector + i * 16) % 160;
			uint32_t n = (sectors + i) % 40, flags = (split >> 6) & 1;
			uint8_t *p = ram(d, DATA_GPA + 16 * (uint64_t)i);
			memcpy(p, &s, 8);
			memcpy(p + 8, &n, 4);
			memcpy(p + 12, &flags, 4);
		}
	}
	if (split & 4)
		data_write = !data_write;
	unsigned nseg = len ? (split & 3) % 3 + 1 : 0;
	uint16_t head = (uint16_t)(d->next_desc % d->qsize);
	unsigned i = d->next_desc;
	put_desc(d, i, hdr, (split & 16) ? 8 : 16, VRING_DESC_F_NEXT,
		 (uint16_t)((i + 1) % d->qsize));
	i++;
	uint32_t off = 0;
	for (unsigned s = 0; s < nseg; s++) {
		uint32_t l = s + 1 < nseg ? len / nseg : len - off;
		bool last = s + 1 == nseg && (split & 8);
		put_desc(d, i, DATA_GPA + off, l + ((split & 32) && s + 1 == nseg ? 1 : 0),
			 (uint16_t)((data_write ? VRING_DESC_F_WRITE : 0) |
				    (last ? 0 : VRING_DESC_F_NEXT)),
			 (uint16_t)((i + 1) % d->qsize));
		off += l;
		i++;
	}
	if (!(split & 8) && !(split & 32)) {
		put_desc(d, i, DATA_GPA + 0x8000 + d->nreq % 64, 1, VRING_DESC_F_WRITE, 0);
		i++;
	}
	d->next_desc = (uint16_t)(i % d->qsize);
	make_available(d, head);
}

/* A request through one indirect table: header, `nseg` data segments of `seglen` bytes all on
 * the same guest buffer, status byte (the review's finding 1 shape with nseg 1022 x 2 MiB). */
static void add_indirect_request(struct drv *d, bool write, uint64_t sector, unsigned nseg,
				 uint32_t seglen)
{
	d->nreq++;
	uint64_t hdr = HDR_GPA + 16 * (uint64_t)(d->nreq % 64);
	uint32_t type = write ? 1 : 0;
	memcpy(ram(d, hdr), &type, 4);
	memset(ram(d, hdr + 4), 0, 4);
	memcpy(ram(d, hdr + 8), &sector, 8);
	uint8_t *t = ram(d, ITABLE_GPA);
	unsigned n = 0;
	struct {
		uint64_t addr;
		uint32_t len;
		uint16_t flags, next;
	} e;
	e = (typeof(e)){hdr, 16, VRING_DESC_F_NEXT, 1};
	memcpy(t + 16 * n++, &e, 16);
	for (unsigned i = 0; i < nseg; i++) {
		e = (typeof(e)){BIGBUF_GPA, seglen,
				(uint16_t)(VRING_DESC_F_NEXT | (write ? 0 : VRING_DESC_F_WRITE)),
				(uint16_t)(n + 1)};
		memcpy(t + 16 * n++, &e, 16);
	}
	e = (typeof(e)){DATA_GPA + 0x8000, 1, VRING_DESC_F_WRITE, 0};
	memcpy(t + 16 * n++, &e, 16);
	uint16_t head = (uint16_t)(d->next_desc % d->qsize);
	put_desc(d, head, ITABLE_GPA, 16 * n, VRING_DESC_F_INDIRECT, 0);
	d->next_desc = (uint16_t)((head + 1) % d->qsize);
	make_available(d, head);
}

static void loop_pass(struct drv *d)
{
	fuzz_loop_pass(d->vm);
}

/* Every chain returned was taken first, and no more are in flight than the backend takes.
 * (The device's own counters: the guest may scribble over the rings in RAM.) */
static void check_used(struct drv *d)
{
	struct pci_dev *pd = pci_find_dev(d->vm, 0, SLOT, 0);
	FUZZ_CHECK(pd && pd->priv, "no virtio-blk at 0:%d.0", SLOT);
	const struct virtqueue *vq = &((struct virtio_dev *)pd->priv)->vq[0];
	uint16_t outstanding = (uint16_t)(vq->last_avail - vq->used_idx);
	FUZZ_CHECK(outstanding <= BLOCKIF_MAX_INFLIGHT,
		   "%u chains taken and not returned (or returned twice)", outstanding);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool once;
	if (!once) {
		once = true;
		make_disk();
		atexit(unlink_disk);
	}
	fuzz_work_begin();
	struct fuzz_input in = {data, size};
	uint8_t setup = in_u8(&in), setup2 = in_u8(&in);
	bool big = setup2 & 1;
	char path[128];
	snprintf(path, sizeof(path), "pci.0.4.0.path=%s", big ? big_path : disk_path);
	const char *assign[8] = {"pci.0.4.0.device=virtio-blk", path};
	int na = 2;
	if ((setup & 1) || big)
		assign[na++] = "pci.0.4.0.ro=true";
	if (setup & 2)
		assign[na++] = "pci.0.4.0.nodelete=true";
	if (setup & 4)
		assign[na++] = "pci.0.4.0.sectorsize=4096";
	assign[na] = NULL;
	struct drv d = {0};
	d.vm = fuzz_vm_create_flags(assign, RAM_SIZE, false, FUZZ_VM_FAKE_KVM);
	static const uint16_t qsizes[] = {256, 64, 8, 1};
	d.qsize = qsizes[setup >> 6];
	d.features = VIRTIO_F_VERSION_1 | 0x7fffULL; /* every virtio-blk bit the device offers */
	if (setup & 8)
		d.features &= ~(1ULL << 9);
	if (setup & 16)
		d.features |= VIRTIO_RING_F_INDIRECT_DESC;
	if (setup & 32)
		d.features |= VIRTIO_RING_F_EVENT_IDX;
	fuzz_cfg_write(d.vm, SLOT, PCIR_COMMAND, 2, 0x6);
	d.bar0 = fuzz_cfg_read(d.vm, SLOT, PCIR_BAR0, 4) & ~0xfULL;
	driver_start(&d);

	for (int n = 0; n < MAX_OPS && in.left; n++) {
		uint8_t op = in_u8(&in);
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
			    (op & 8) ? in_u64(&in) : DATA_GPA + (uint64_t)in_u16(&in) * 16;
			uint32_t len = in_u16(&in);
			uint16_t flags = in_u8(&in);
			uint16_t next = in_u8(&in);
			put_desc(&d, idx, addr, len, flags, next);
			break;
		}
		case 2: {
			if (op & 16) {
				bool write = in_u8(&in) & 1;
				uint64_t sector = in_u32(&in);
				unsigned nseg = in_u16(&in) % 1022 + 1;
				uint32_t seglen = in_u32(&in) % BIGBUF_MAX + 1;
				add_indirect_request(&d, write, sector, nseg, seglen);
				break;
			}
			uint8_t kind = in_u8(&in);
			uint64_t sector = (op & 8) ? in_u64(&in) : in_u8(&in);
			unsigned sectors = in_u8(&in) % 65;
			unsigned split = in_u8(&in);
			uint32_t type = kind < 250 ? types[kind % 7] : in_u32(&in);
			add_request(&d, type, sector, sectors, split);
			break;
		}
		case 3:
			make_available(&d, in_u16(&in));
			break;
		case 4:
			mw(&d, 0x3000, (op & 8) ? 4 : 2, 0);
			break;
		case 5:
			loop_pass(&d);
			break;
		case 6:
			check_used(&d);
			driver_start(&d);
			break;
		case 7: {
			unsigned off = in_u8(&in);
			uint32_t v = in_u32(&in);
			unsigned sz = 1u << (op >> 4 & 3);
			if (op & 8) {
				if (off % 0x38 != 0x14) /* status writes are op 6's business */
					mw(&d, off % 0x38, sz > 4 ? 4 : sz, v);
			} else {
				mw(&d, 0x2000 + off % 64, sz > 4 ? 4 : sz, v);
			}
			break;
		}
		}
	}
	mw(&d, 0x3000, 2, 0);
	loop_pass(&d);
	check_used(&d);
	fuzz_work_check();
	fuzz_vm_destroy(d.vm); /* waits for the backend's in-flight I/O */
	fuzz_work_end();
	struct stat st;
	FUZZ_CHECK(stat(disk_path, &st) == 0 && st.st_size == DISK_SIZE,
		   "the image changed size to %lld", (long long)st.st_size);
	FUZZ_CHECK(stat(big_path, &st) == 0 && st.st_size == (off_t)BIG_DISK_SIZE &&
		       st.st_blocks == 0,
		   "the large image changed: size %lld, %lld blocks", (long long)st.st_size,
		   (long long)st.st_blocks);
	return 0;
}
