/* SPDX-License-Identifier: BSD-2-Clause */
/* libFuzzer target for the split virtqueue: the input is the guest's RAM (zero-padded to a
 * fixed size, allocated exactly that big so ASan catches any access outside it). Its first
 * bytes also choose the queue size, the ring addresses, the negotiated ring features and the
 * starting ring indices. The device side then pops, reads, writes and pushes chains the way a
 * device model does, and checks the queue's promises: segments inside RAM and in order,
 * totals that add up, errors that break the queue without touching guest memory.
 *
 * Header (little-endian, at guest-physical 0):
 *   0  u16  queue size (low 11 bits: 0..2047, so 0 and > VQ_MAX_SIZE occur too)
 *   2  u32  descriptor table address selector (see ring_gpa())
 *   6  u32  available ring address selector
 *   10 u32  used ring address selector
 *   14 u8   bit 0: INDIRECT_DESC, bit 1: EVENT_IDX, bits 2..7: device write size selector
 *   15 u8   starting last_avail / used_idx (byte repeated: 0x0000 .. 0xffff, wrap-around) */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/guestmem.h"
#include "virtio/virtqueue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_LOW 0xC000ULL  /* low RAM at 0 */
#define FUZZ_HIGH 0x4000ULL /* high RAM at 4 GiB */
#define FUZZ_MEM (FUZZ_LOW + FUZZ_HIGH)
#define FUZZ_ROUNDS 32

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Mostly addresses inside (or just past) low or high RAM, so the rings often fit. */
static uint64_t ring_gpa(uint32_t sel)
{
	if (sel & 0x80000000u)
		return GM_4G + (sel & 0x7fffffffu) % (FUZZ_HIGH + 0x40);
	return sel % (FUZZ_LOW + 0x40);
}

static void check(bool ok)
{
	if (!ok)
		abort();
}

/* Segments lie inside guest RAM; readable ones first; totals match. */
static void check_chain(const struct vq_chain *c, const uint8_t *mem, uint16_t qsize)
{
	check(c->head < qsize);
	check(c->nread + c->nwrite <= VQ_MAX_SEGS);
	uint64_t r = 0, w = 0;
	for (unsigned i = 0; i < c->nread + c->nwrite; i++) {
		const uint8_t *b = c->iov[i].iov_base;
		size_t len = c->iov[i].iov_len;
		check(len > 0);
		check(b >= mem && b <= mem + FUZZ_MEM && len <= (size_t)(mem + FUZZ_MEM - b));
		if (i < c->nread)
			r += len;
		else
			w += len;
	}
	check(r == c->read_len && w == c->write_len);
}

/* Bytes a copy of `len` at `off` within a part of `total` bytes moves. */
static size_t expect_copy(uint64_t total, size_t off, size_t len)
{
	if (off >= total)
		return 0;
	return total - off < len ? (size_t)(total - off) : len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t scratch[8192];
	static struct vq_chain chain;
	uint8_t *mem = malloc(FUZZ_MEM);
	uint8_t *snap = malloc(FUZZ_MEM);
	if (!mem || !snap)
		abort();
	memset(mem, 0, FUZZ_MEM);
	memcpy(mem, data, size < FUZZ_MEM ? size : FUZZ_MEM);

	struct guestmem gm;
	guestmem_init_from(&gm, mem, FUZZ_LOW, FUZZ_HIGH);
	struct virtqueue vq;
	memset(&vq, 0, sizeof(vq));
	vq_reset(&vq);
	vq.size = (uint16_t)((mem[0] | mem[1] << 8) & 0x7ff);
	vq.desc_gpa = ring_gpa(le32(mem + 2));
	vq.avail_gpa = ring_gpa(le32(mem + 6));
	vq.used_gpa = ring_gpa(le32(mem + 10));
	vq.indirect = mem[14] & 1;
	vq.event_idx = mem[14] & 2;
	size_t wsize = (size_t)(mem[14] >> 2) * 97;
	uint16_t start = (uint16_t)(mem[15] | mem[15] << 8);

	int r = vq_enable(&vq, &gm);
	if (r < 0) {
		check(r == -EINVAL && !vq.ready);
		goto out;
	}
	check(vq.ready && vq.desc && vq.avail && vq.used);
	vq.last_avail = vq.used_idx = start;

	for (int round = 0; round < FUZZ_ROUNDS; round++) {
		char err[160];
		bool work = vq_has_work(&vq);
		memcpy(snap, mem, FUZZ_MEM);
		r = vq_pop(&vq, &chain, err, sizeof(err));
		if (r == 0) {
			check(!work); /* nothing changed memory since vq_has_work() */
			break;
		}
		if (r < 0) {
			check((r == -EINVAL || r == -EFAULT) && vq.broken && err[0]);
			check(memcmp(snap, mem, FUZZ_MEM) == 0);
			/* broken for good, and still without touching memory */
			check(vq_pop(&vq, &chain, err, sizeof(err)) < 0);
			vq_push(&vq, 0, 1);
			check(!vq_should_interrupt(&vq) && !vq_has_work(&vq));
			check(memcmp(snap, mem, FUZZ_MEM) == 0);
			break;
		}
		check(r == 1 && work);
		check_chain(&chain, mem, vq.size);

		/* what a device model does: read the request (from an offset too), write a
		 * reply (which may land on the rings themselves), complete it */
		size_t off = (size_t)round * 13;
		size_t got = vq_chain_read(&chain, 0, scratch, sizeof(scratch));
		check(got == (chain.read_len < sizeof(scratch) ? chain.read_len : sizeof(scratch)));
		got = vq_chain_read(&chain, off, scratch, 100);
		check(got == expect_copy(chain.read_len, off, 100));
		size_t n = wsize < sizeof(scratch) ? wsize : sizeof(scratch);
		size_t put = vq_chain_write(&chain, off, scratch, n);
		check(put == expect_copy(chain.write_len, off, n));
		vq_push(&vq, chain.head, (uint32_t)put);
		(void)vq_should_interrupt(&vq);
	}
out:
	free(snap);
	free(mem);
	return 0;
}
