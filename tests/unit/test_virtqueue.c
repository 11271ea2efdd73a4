/* SPDX-License-Identifier: BSD-2-Clause */
/* Split virtqueues: rings built by hand in fake guest memory. Well-formed chains (direct,
 * indirect, zero-length segments, index wrap, odd queue sizes), the used ring, interrupt
 * suppression, ring checks at enable time, and every malformed-ring case: each must break the
 * queue with the right error and leave guest memory untouched. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/guestmem.h"
#include "virtio/virtqueue.h"

/* Guest RAM: 64 KiB low memory at 0, 64 KiB high memory at 4 GiB. */
#define LOW 0x10000ULL
#define HIGH 0x10000ULL
#define MEMSZ (LOW + HIGH)
#define DESC 0x1000ULL  /* descriptor table (up to 256 entries) */
#define AVAIL 0x2000ULL /* available ring */
#define USED 0x3000ULL  /* used ring */
#define IND 0x4000ULL   /* indirect tables: up to 0x4000 bytes (1024 entries) */
#define DATA 0x8000ULL  /* buffers */

struct fx {
	uint8_t *mem;
	uint8_t *snap;
	struct guestmem gm;
	struct virtqueue vq;
	struct vq_chain *c;
	char err[256];
};

/* Host address of a guest-physical address inside the fake RAM. */
static uint8_t *host(struct fx *f, uint64_t gpa)
{
	if (gpa >= 0x100000000ULL)
		return f->mem + LOW + (gpa - 0x100000000ULL);
	return f->mem + gpa;
}

static void wr16(struct fx *f, uint64_t gpa, uint16_t v)
{
	memcpy(host(f, gpa), &v, 2);
}

static uint16_t rd16(struct fx *f, uint64_t gpa)
{
	uint16_t v;
	memcpy(&v, host(f, gpa), 2);
	return v;
}

static uint32_t rd32(struct fx *f, uint64_t gpa)
{
	uint32_t v;
	memcpy(&v, host(f, gpa), 4);
	return v;
}

static void put_desc(struct fx *f, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	uint8_t *p = host(f, table + 16ULL * i);
	memcpy(p, &addr, 8);
	memcpy(p + 8, &len, 4);
	memcpy(p + 12, &flags, 2);
	memcpy(p + 14, &next, 2);
}

static void desc(struct fx *f, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		 uint16_t next)
{
	put_desc(f, DESC, i, addr, len, flags, next);
}

static void ind(struct fx *f, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		uint16_t next)
{
	put_desc(f, IND, i, addr, len, flags, next);
}

static uint64_t used_event_gpa(struct fx *f)
{
	return AVAIL + 4 + 2ULL * f->vq.size;
}

static uint64_t avail_event_gpa(struct fx *f)
{
	return USED + 4 + 8ULL * f->vq.size;
}

/* The driver makes chain `head` available (ring entry, then idx). */
static void offer(struct fx *f, uint16_t head)
{
	uint16_t idx = rd16(f, AVAIL + 2);
	wr16(f, AVAIL + 4 + 2ULL * (idx % f->vq.size), head);
	wr16(f, AVAIL + 2, (uint16_t)(idx + 1));
}

static void fx_init(struct fx *f, uint16_t size, bool indirect, bool event_idx)
{
	memset(f, 0, sizeof(*f));
	f->mem = calloc(1, MEMSZ);
	f->snap = malloc(MEMSZ);
	f->c = malloc(sizeof(*f->c));
	assert_non_null(f->mem);
	assert_non_null(f->snap);
	assert_non_null(f->c);
	guestmem_init_from(&f->gm, f->mem, LOW, HIGH);
	f->vq.size = size;
	f->vq.desc_gpa = DESC;
	f->vq.avail_gpa = AVAIL;
	f->vq.used_gpa = USED;
	f->vq.indirect = indirect;
	f->vq.event_idx = event_idx;
	assert_int_equal(vq_enable(&f->vq, &f->gm), 0);
	assert_true(f->vq.ready);
}

static void fx_fini(struct fx *f)
{
	free(f->mem);
	free(f->snap);
	free(f->c);
}

static int pop(struct fx *f)
{
	f->err[0] = 0;
	return vq_pop(&f->vq, f->c, f->err, sizeof(f->err));
}

/* Pop a malformed chain: `code`, a message containing `needle`, the queue broken, guest memory
 * untouched, and the queue staying broken (pop, push, interrupt) even once the ring is fixed
 * by `fix` (when given). */
static void expect_malformed(struct fx *f, int code, const char *needle, void (*fix)(struct fx *))
{
	uint16_t last = f->vq.last_avail;
	memcpy(f->snap, f->mem, MEMSZ);
	assert_int_equal(pop(f), code);
	assert_true(f->vq.broken);
	if (!strstr(f->err, needle))
		fail_msg("message \"%s\" does not contain \"%s\"", f->err, needle);
	assert_memory_equal(f->snap, f->mem, MEMSZ);
	assert_int_equal(f->vq.last_avail, last);

	if (fix) {
		fix(f);
		memcpy(f->snap, f->mem, MEMSZ);
	}
	assert_true(pop(f) < 0);
	assert_true(f->err[0] != 0);
	assert_true(pop(f) < 0);
	assert_false(vq_has_work(&f->vq));
	vq_push(&f->vq, 0, 100);
	assert_false(vq_should_interrupt(&f->vq));
	assert_memory_equal(f->snap, f->mem, MEMSZ);
	assert_int_equal(f->vq.last_avail, last);
	assert_int_equal(f->vq.used_idx, 0);

	/* a device reset brings the queue back */
	vq_reset(&f->vq);
	assert_false(f->vq.broken);
	assert_false(f->vq.ready);
	assert_int_equal(pop(f), 0);
}

/* ---- enable ---- */

static void expect_enable_fails(struct fx *f, uint16_t size, uint64_t d, uint64_t a, uint64_t u)
{
	f->vq.size = size;
	f->vq.desc_gpa = d;
	f->vq.avail_gpa = a;
	f->vq.used_gpa = u;
	assert_int_equal(vq_enable(&f->vq, &f->gm), -EINVAL);
	assert_false(f->vq.ready);
	assert_null(f->vq.desc);
	assert_int_equal(pop(f), 0); /* not ready: nothing, no access */
}

static void test_enable_checks(void **state)
{
	struct fx f;
	fx_init(&f, 16, false, false);
	assert_ptr_equal(f.vq.desc, f.mem + DESC);
	assert_ptr_equal(f.vq.avail, f.mem + AVAIL);
	assert_ptr_equal(f.vq.used, f.mem + USED);

	expect_enable_fails(&f, 0, DESC, AVAIL, USED);
	expect_enable_fails(&f, VQ_MAX_SIZE + 1, DESC, AVAIL, USED);
	/* alignment: desc 16, avail 2, used 4 */
	expect_enable_fails(&f, 16, DESC + 8, AVAIL, USED);
	expect_enable_fails(&f, 16, DESC, AVAIL + 1, USED);
	expect_enable_fails(&f, 16, DESC, AVAIL, USED + 2);
	/* the descriptor table must fit entirely */
	expect_enable_fails(&f, 16, LOW - 16 * 15, AVAIL, USED);
	/* avail ring: flags, idx, ring, plus the used_event word (always reserved) */
	expect_enable_fails(&f, 16, DESC, LOW - (4 + 2 * 16), USED);
	/* used ring: flags, idx, ring, plus the avail_event word */
	expect_enable_fails(&f, 16, DESC, AVAIL, LOW - (4 + 8 * 16));
	/* in the PCI hole, past high RAM, wrapping the address space */
	expect_enable_fails(&f, 16, 0xC0000000ULL, AVAIL, USED);
	expect_enable_fails(&f, 16, DESC, 0x100000000ULL + HIGH - 16, USED);
	expect_enable_fails(&f, 16, DESC, AVAIL, UINT64_MAX - 3);
	/* VQ_MAX_SIZE needs 16 KiB of descriptors: not inside 0x1000..LOW from 0xd000 */
	expect_enable_fails(&f, VQ_MAX_SIZE, 0xd000, AVAIL, USED);

	/* each ring ending exactly at the end of low RAM is fine */
	f.vq.size = 16;
	f.vq.desc_gpa = LOW - 16 * 16;
	assert_int_equal(vq_enable(&f.vq, &f.gm), 0);
	assert_true(f.vq.ready);
	f.vq.desc_gpa = DESC;
	f.vq.avail_gpa = LOW - (6 + 2 * 16);
	assert_int_equal(vq_enable(&f.vq, &f.gm), 0);
	f.vq.avail_gpa = AVAIL;
	f.vq.used_gpa = LOW - (8 + 8 * 16); /* 6 + 8 * 16 rounded up to the 4-byte alignment */
	assert_int_equal(vq_enable(&f.vq, &f.gm), 0);
	/* and rings in high RAM */
	f.vq.desc_gpa = 0x100000000ULL;
	f.vq.avail_gpa = 0x100000000ULL + 0x1000;
	f.vq.used_gpa = 0x100000000ULL + HIGH - (8 + 8 * 16);
	assert_int_equal(vq_enable(&f.vq, &f.gm), 0);
	assert_ptr_equal(f.vq.desc, f.mem + LOW);
	assert_ptr_equal(f.vq.used, f.mem + MEMSZ - (8 + 8 * 16));
	/* maximum size, any size in between */
	f.vq.desc_gpa = 0x1000;
	f.vq.avail_gpa = 0x5000;
	f.vq.used_gpa = 0x6000;
	f.vq.size = VQ_MAX_SIZE;
	assert_int_equal(vq_enable(&f.vq, &f.gm), 0);
	f.vq.size = 1;
	assert_int_equal(vq_enable(&f.vq, &f.gm), 0);
	fx_fini(&f);
}

static void test_reset(void **state)
{
	struct fx f;
	fx_init(&f, 8, true, true);
	desc(&f, 0, DATA, 4, 0, 0);
	offer(&f, 0);
	assert_int_equal(pop(&f), 1);
	vq_push(&f.vq, 0, 0);
	vq_reset(&f.vq);
	assert_false(f.vq.ready);
	assert_int_equal(f.vq.last_avail, 0);
	assert_int_equal(f.vq.used_idx, 0);
	assert_false(f.vq.event_idx);
	assert_false(f.vq.indirect);
	assert_null(f.vq.avail);
	assert_ptr_equal(f.vq.gm, &f.gm);
	assert_int_equal(f.vq.size, 8);
	assert_false(vq_has_work(&f.vq));
	assert_int_equal(pop(&f), 0);
	fx_fini(&f);
}

/* ---- well-formed chains ---- */

static void test_simple_chain(void **state)
{
	struct fx f;
	fx_init(&f, 16, false, false);
	assert_false(vq_has_work(&f.vq));
	assert_int_equal(pop(&f), 0);

	desc(&f, 3, DATA, 100, 0, 0);
	offer(&f, 3);
	assert_true(vq_has_work(&f.vq));
	assert_int_equal(pop(&f), 1);
	assert_int_equal(f.c->head, 3);
	assert_int_equal(f.c->nread, 1);
	assert_int_equal(f.c->nwrite, 0);
	assert_int_equal(f.c->read_len, 100);
	assert_int_equal(f.c->write_len, 0);
	assert_ptr_equal(f.c->iov[0].iov_base, f.mem + DATA);
	assert_int_equal(f.c->iov[0].iov_len, 100);
	assert_int_equal(f.vq.last_avail, 1);
	assert_false(vq_has_work(&f.vq));
	assert_int_equal(pop(&f), 0);

	vq_push(&f.vq, 3, 0);
	assert_int_equal(rd16(&f, USED + 2), 1);
	assert_int_equal(rd32(&f, USED + 4), 3);
	assert_int_equal(rd32(&f, USED + 8), 0);
	fx_fini(&f);
}

static void test_read_write_split(void **state)
{
	struct fx f;
	fx_init(&f, 16, false, false);
	/* 0 -> 5 -> 2 -> 9: two readable (4 + 6 bytes), two writable (3 + 5 bytes), one in high
	 * RAM */
	desc(&f, 0, DATA, 4, VRING_DESC_F_NEXT, 5);
	desc(&f, 5, DATA + 0x100, 6, VRING_DESC_F_NEXT, 2);
	desc(&f, 2, DATA + 0x200, 3, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 9);
	desc(&f, 9, 0x100000000ULL + 0x40, 5, VRING_DESC_F_WRITE, 0);
	memcpy(host(&f, DATA), "abcd", 4);
	memcpy(host(&f, DATA + 0x100), "efghij", 6);
	offer(&f, 0);
	assert_int_equal(pop(&f), 1);
	assert_int_equal(f.c->nread, 2);
	assert_int_equal(f.c->nwrite, 2);
	assert_int_equal(f.c->read_len, 10);
	assert_int_equal(f.c->write_len, 8);
	assert_ptr_equal(f.c->iov[1].iov_base, f.mem + DATA + 0x100);
	assert_ptr_equal(f.c->iov[2].iov_base, f.mem + DATA + 0x200);
	assert_ptr_equal(f.c->iov[3].iov_base, f.mem + LOW + 0x40);
	assert_int_equal(f.c->iov[3].iov_len, 5);

	/* reads cross the segment boundary; offsets count in the readable part only */
	char buf[16] = {0};
	assert_int_equal(vq_chain_read(f.c, 0, buf, sizeof(buf)), 10);
	assert_memory_equal(buf, "abcdefghij", 10);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(vq_chain_read(f.c, 2, buf, 5), 5);
	assert_memory_equal(buf, "cdefg", 5);
	assert_int_equal(vq_chain_read(f.c, 4, buf, 6), 6);
	assert_memory_equal(buf, "efghij", 6);
	assert_int_equal(vq_chain_read(f.c, 9, buf, 8), 1);
	assert_int_equal(buf[0], 'j');
	assert_int_equal(vq_chain_read(f.c, 10, buf, 8), 0);
	assert_int_equal(vq_chain_read(f.c, 1000, buf, 8), 0);
	assert_int_equal(vq_chain_read(f.c, 0, buf, 0), 0);

	/* writes only reach the writable part, across its boundary, never past it */
	assert_int_equal(vq_chain_write(f.c, 1, "XYZW", 4), 4);
	assert_memory_equal(host(&f, DATA + 0x200), "\0XY", 3);
	assert_memory_equal(host(&f, 0x100000000ULL + 0x40), "ZW\0\0\0", 5);
	assert_int_equal(vq_chain_write(f.c, 6, "123456", 6), 2);
	assert_memory_equal(host(&f, 0x100000000ULL + 0x40), "ZW\0" "12", 5);
	assert_int_equal(host(&f, 0x100000000ULL + 0x45)[0], 0);
	assert_int_equal(vq_chain_write(f.c, 8, "q", 1), 0);
	assert_memory_equal(host(&f, DATA), "abcd", 4); /* readable part untouched */
	assert_int_equal(vq_chain_write(f.c, 0, "0123456789", 10), 8);
	assert_memory_equal(host(&f, DATA + 0x200), "012", 3);
	assert_memory_equal(host(&f, 0x100000000ULL + 0x40), "34567", 5);

	vq_push(&f.vq, f.c->head, 8);
	assert_int_equal(rd32(&f, USED + 4), 0);
	assert_int_equal(rd32(&f, USED + 8), 8);
	fx_fini(&f);
}

static void test_copy_helpers_empty_parts(void **state)
{
	struct fx f;
	fx_init(&f, 4, false, false);
	/* writable only: reads see nothing */
	desc(&f, 1, DATA, 8, VRING_DESC_F_WRITE, 0);
	offer(&f, 1);
	assert_int_equal(pop(&f), 1);
	assert_int_equal(f.c->nread, 0);
	assert_int_equal(f.c->nwrite, 1);
	char buf[8];
	assert_int_equal(vq_chain_read(f.c, 0, buf, sizeof(buf)), 0);
	assert_int_equal(vq_chain_write(f.c, 0, "abcdefghij", 10), 8);
	assert_memory_equal(host(&f, DATA), "abcdefgh", 8);
	assert_int_equal(host(&f, DATA + 8)[0], 0);
	/* readable only: writes go nowhere */
	desc(&f, 2, DATA + 0x100, 8, 0, 0);
	offer(&f, 2);
	assert_int_equal(pop(&f), 1);
	assert_int_equal(vq_chain_write(f.c, 0, "zz", 2), 0);
	assert_int_equal(host(&f, DATA + 0x100)[0], 0);
	fx_fini(&f);
}

static void test_indirect_chain(void **state)
{
	struct fx f;
	fx_init(&f, 8, true, false);
	/* table of 4 entries walked 0 -> 2 -> 1 (entry 3 unused); the WRITE flag on the
	 * descriptor that points at the table is ignored */
	ind(&f, 0, DATA, 16, VRING_DESC_F_NEXT, 2);
	ind(&f, 2, DATA + 0x100, 32, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	ind(&f, 1, 0x100000000ULL, 64, VRING_DESC_F_WRITE, 0);
	ind(&f, 3, 0xdeadbeef000ULL, 1, 0, 0);
	desc(&f, 6, IND, 4 * 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE, 0);
	offer(&f, 6);
	assert_int_equal(pop(&f), 1);
	assert_int_equal(f.c->head, 6);
	assert_int_equal(f.c->nread, 1);
	assert_int_equal(f.c->nwrite, 2);
	assert_int_equal(f.c->read_len, 16);
	assert_int_equal(f.c->write_len, 96);
	assert_ptr_equal(f.c->iov[0].iov_base, f.mem + DATA);
	assert_ptr_equal(f.c->iov[1].iov_base, f.mem + DATA + 0x100);
	assert_ptr_equal(f.c->iov[2].iov_base, f.mem + LOW);
	assert_int_equal(vq_chain_write(f.c, 30, "abcd", 4), 4);
	assert_memory_equal(host(&f, DATA + 0x100 + 30), "ab", 2);
	assert_memory_equal(host(&f, 0x100000000ULL), "cd", 2);
	fx_fini(&f);
}

static void test_direct_then_indirect(void **state)
{
	/* spec: zero or more normal descriptors followed by one indirect descriptor */
	struct fx f;
	fx_init(&f, 8, true, false);
	ind(&f, 0, DATA + 0x100, 8, VRING_DESC_F_NEXT, 1);
	ind(&f, 1, DATA + 0x200, 8, VRING_DESC_F_WRITE, 0);
	desc(&f, 0, DATA, 4, VRING_DESC_F_NEXT, 7);
	desc(&f, 7, IND, 2 * 16, VRING_DESC_F_INDIRECT, 0);
	offer(&f, 0);
	assert_int_equal(pop(&f), 1);
	assert_int_equal(f.c->nread, 2);
	assert_int_equal(f.c->nwrite, 1);
	assert_int_equal(f.c->read_len, 12);
	assert_int_equal(f.c->write_len, 8);
	assert_ptr_equal(f.c->iov[1].iov_base, f.mem + DATA + 0x100);
	assert_ptr_equal(f.c->iov[2].iov_base, f.mem + DATA + 0x200);
	fx_fini(&f);
}

static void test_index_wrap(void **state)
{
	struct fx f;
	fx_init(&f, 4, false, false);
	/* the driver's and the device's free-running indices are about to wrap */
	f.vq.last_avail = 65534;
	f.vq.used_idx = 65534;
	wr16(&f, AVAIL + 2, 65534);
	wr16(&f, USED + 2, 65534);
	for (unsigned i = 0; i < 4; i++) {
		desc(&f, i, DATA + 0x100 * i, 10 + i, VRING_DESC_F_WRITE, 0);
		offer(&f, (uint16_t)i);
	}
	assert_int_equal(rd16(&f, AVAIL + 2), 2);
	/* the entries went to positions 2, 3, 0, 1 */
	assert_int_equal(rd16(&f, AVAIL + 4 + 2 * 2), 0);
	assert_int_equal(rd16(&f, AVAIL + 4 + 2 * 1), 3);
	for (unsigned i = 0; i < 4; i++) {
		assert_true(vq_has_work(&f.vq));
		assert_int_equal(pop(&f), 1);
		assert_int_equal(f.c->head, i);
		assert_int_equal(f.c->write_len, 10 + i);
		vq_push(&f.vq, f.c->head, 10 + i);
	}
	assert_int_equal(pop(&f), 0);
	assert_int_equal(f.vq.last_avail, 2);
	assert_int_equal(f.vq.used_idx, 2);
	assert_int_equal(rd16(&f, USED + 2), 2);
	/* used positions 65534 % 4 = 2, 3, 0, 1 */
	assert_int_equal(rd32(&f, USED + 4 + 8 * 2), 0);
	assert_int_equal(rd32(&f, USED + 4 + 8 * 3), 1);
	assert_int_equal(rd32(&f, USED + 4 + 8 * 0), 2);
	assert_int_equal(rd32(&f, USED + 4 + 8 * 1), 3);
	assert_int_equal(rd32(&f, USED + 8 + 8 * 1), 13);

	/* a full ring across the wrap (exactly size pending) is fine too */
	f.vq.last_avail = 65533;
	wr16(&f, AVAIL + 2, 1);
	assert_int_equal(pop(&f), 1);
	fx_fini(&f);
}

static void test_odd_sizes(void **state)
{
	static const uint16_t sizes[] = {1, 3, 5, 7, 100};
	for (unsigned s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		struct fx f;
		uint16_t n = sizes[s];
		fx_init(&f, n, false, false);
		/* three rounds: ring positions are taken modulo the size */
		for (unsigned round = 0; round < 3; round++) {
			for (unsigned i = 0; i < n; i++) {
				uint16_t d = (uint16_t)(n - 1 - i);
				desc(&f, d, DATA + 8 * d, 1 + d, 0, 0);
				offer(&f, d);
			}
			assert_int_equal(rd16(&f, AVAIL + 4 + 2ULL * ((round * n) % n)), n - 1);
			for (unsigned i = 0; i < n; i++) {
				assert_int_equal(pop(&f), 1);
				assert_int_equal(f.c->head, n - 1 - i);
				assert_int_equal(f.c->read_len, n - i);
				vq_push(&f.vq, f.c->head, i);
			}
			assert_int_equal(pop(&f), 0);
			assert_int_equal(rd16(&f, USED + 2), (round + 1) * n);
			for (unsigned i = 0; i < n; i++) {
				assert_int_equal(rd32(&f, USED + 4 + 8ULL * i), n - 1 - i);
				assert_int_equal(rd32(&f, USED + 8 + 8ULL * i), i);
			}
		}
		/* more than size pending is malformed for this size */
		wr16(&f, AVAIL + 2, (uint16_t)(f.vq.last_avail + n + 1));
		assert_int_equal(pop(&f), -EINVAL);
		fx_fini(&f);
	}
}

static void test_zero_length_descriptors(void **state)
{
	struct fx f;
	fx_init(&f, 8, true, false);
	/* zero-length descriptors contribute no segment and their address is never used */
	desc(&f, 0, 0xffffffffffff0000ULL, 0, VRING_DESC_F_NEXT, 1);
	desc(&f, 1, DATA, 8, VRING_DESC_F_NEXT, 2);
	desc(&f, 2, 0xC0000000ULL, 0, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 3);
	desc(&f, 3, DATA + 0x100, 4, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 4);
	desc(&f, 4, UINT64_MAX, 0, VRING_DESC_F_WRITE, 0);
	offer(&f, 0);
	assert_int_equal(pop(&f), 1);
	assert_int_equal(f.c->nread, 1);
	assert_int_equal(f.c->nwrite, 1);
	assert_int_equal(f.c->read_len, 8);
	assert_int_equal(f.c->write_len, 4);
	assert_ptr_equal(f.c->iov[0].iov_base, f.mem + DATA);
	assert_ptr_equal(f.c->iov[1].iov_base, f.mem + DATA + 0x100);
	/* a chain of only zero-length descriptors is an empty request, not an error */
	ind(&f, 0, 0, 0, 0, 0);
	desc(&f, 5, IND, 16, VRING_DESC_F_INDIRECT, 0);
	offer(&f, 5);
	assert_int_equal(pop(&f), 1);
	assert_int_equal(f.c->nread + f.c->nwrite, 0);
	assert_int_equal(f.c->read_len + f.c->write_len, 0);
	fx_fini(&f);
}

static void test_longest_chains(void **state)
{
	struct fx f;
	fx_init(&f, 16, true, false);
	/* a direct chain of exactly `size` descriptors */
	for (unsigned i = 0; i < 16; i++)
		desc(&f, i, DATA + i, 1, i < 15 ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	offer(&f, 0);
	assert_int_equal(pop(&f), 1);
	assert_int_equal(f.c->nread, 16);
	assert_int_equal(f.c->read_len, 16);
	/* an indirect table of VQ_MAX_SEGS entries */
	for (unsigned i = 0; i < VQ_MAX_SEGS; i++)
		ind(&f, i, DATA + (i % 256), 2, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
		    (uint16_t)(i + 1));
	ind(&f, VQ_MAX_SEGS - 1, DATA, 2, VRING_DESC_F_WRITE, 0);
	desc(&f, 3, IND, 16 * VQ_MAX_SEGS, VRING_DESC_F_INDIRECT, 0);
	offer(&f, 3);
	assert_int_equal(pop(&f), 1);
	assert_int_equal(f.c->nwrite, VQ_MAX_SEGS);
	assert_int_equal(f.c->write_len, 2 * VQ_MAX_SEGS);
	fx_fini(&f);
}

static void test_large_lengths(void **state)
{
	/* byte totals are 64-bit: lengths near 4 GiB in high RAM would overflow 32 bits */
	size_t high = 0x100000000ULL + 0x1000;
	uint8_t *mem = calloc(1, 0x10000);
	assert_non_null(mem);
	struct guestmem gm;
	/* only the rings and descriptors are touched: pretend a big high RAM (never accessed) */
	guestmem_init_from(&gm, mem, 0x10000, high);
	struct virtqueue vq = {.size = 4, .desc_gpa = DESC, .avail_gpa = AVAIL, .used_gpa = USED};
	assert_int_equal(vq_enable(&vq, &gm), 0);
	struct fx f = {.mem = mem};
	f.vq.size = 4;
	desc(&f, 0, 0x100000000ULL, 0xffffffffu, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	desc(&f, 1, 0x100000000ULL, 0xffffffffu, VRING_DESC_F_WRITE, 0);
	wr16(&f, AVAIL + 4, 0);
	wr16(&f, AVAIL + 2, 1);
	struct vq_chain *c = malloc(sizeof(*c));
	assert_non_null(c);
	char err[128];
	assert_int_equal(vq_pop(&vq, c, err, sizeof(err)), 1);
	assert_int_equal(c->write_len, 2ULL * 0xffffffffu);
	assert_int_equal(c->nwrite, 2);
	free(c);
	free(mem);
}

/* ---- used ring and interrupts ---- */

static void test_used_ring(void **state)
{
	struct fx f;
	fx_init(&f, 8, false, false);
	for (unsigned i = 0; i < 3; i++) {
		desc(&f, i, DATA, 8, VRING_DESC_F_WRITE, 0);
		offer(&f, (uint16_t)i);
		assert_int_equal(pop(&f), 1);
	}
	/* completions in any order, with their lengths */
	vq_push(&f.vq, 2, 0x12345678);
	assert_int_equal(rd16(&f, USED + 2), 1);
	vq_push(&f.vq, 0, 0);
	vq_push(&f.vq, 1, 8);
	assert_int_equal(rd16(&f, USED + 2), 3);
	assert_int_equal(rd32(&f, USED + 4), 2);
	assert_int_equal(rd32(&f, USED + 8), 0x12345678);
	assert_int_equal(rd32(&f, USED + 12), 0);
	assert_int_equal(rd32(&f, USED + 20), 1);
	assert_int_equal(rd32(&f, USED + 24), 8);
	assert_int_equal(rd16(&f, USED), 0); /* flags untouched */
	fx_fini(&f);
}

static void test_no_interrupt_flag(void **state)
{
	struct fx f;
	fx_init(&f, 8, false, false);
	desc(&f, 0, DATA, 8, VRING_DESC_F_WRITE, 0);
	offer(&f, 0);
	assert_int_equal(pop(&f), 1);
	vq_push(&f.vq, 0, 8);
	assert_true(vq_should_interrupt(&f.vq));
	wr16(&f, AVAIL, VRING_AVAIL_F_NO_INTERRUPT);
	assert_false(vq_should_interrupt(&f.vq));
	/* without EVENT_IDX used_event means nothing */
	wr16(&f, used_event_gpa(&f), 1);
	assert_false(vq_should_interrupt(&f.vq));
	wr16(&f, AVAIL, 0);
	wr16(&f, used_event_gpa(&f), 100);
	assert_true(vq_should_interrupt(&f.vq));
	/* without EVENT_IDX the device leaves avail_event alone */
	assert_int_equal(rd16(&f, avail_event_gpa(&f)), 0);
	fx_fini(&f);
}

static void push_n(struct fx *f, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		vq_push(&f->vq, 0, 0);
}

static void test_event_idx_interrupts(void **state)
{
	struct fx f;
	fx_init(&f, 8, false, true);
	/* the flags are ignored with EVENT_IDX */
	wr16(&f, AVAIL, VRING_AVAIL_F_NO_INTERRUPT);
	wr16(&f, used_event_gpa(&f), 0);
	push_n(&f, 1); /* used idx 1: entry 0 written, used_event 0 -> interrupt */
	assert_true(vq_should_interrupt(&f.vq));
	assert_false(vq_should_interrupt(&f.vq)); /* nothing new since */

	/* the driver wants an interrupt once entry 4 is used */
	wr16(&f, used_event_gpa(&f), 4);
	push_n(&f, 1); /* 2 */
	assert_false(vq_should_interrupt(&f.vq));
	push_n(&f, 2); /* 3, 4 */
	assert_false(vq_should_interrupt(&f.vq));
	push_n(&f, 2); /* 5, 6: entry 4 passed in this batch */
	assert_true(vq_should_interrupt(&f.vq));
	push_n(&f, 1); /* 7: used_event 4 is behind us */
	assert_false(vq_should_interrupt(&f.vq));

	/* used_event right at the next entry */
	wr16(&f, used_event_gpa(&f), 7);
	push_n(&f, 1); /* 8 */
	assert_true(vq_should_interrupt(&f.vq));

	/* across the 16-bit wrap */
	f.vq.used_idx = 65534;
	f.vq.signalled_used = 65534;
	wr16(&f, used_event_gpa(&f), 65535);
	push_n(&f, 1); /* 65535 */
	assert_false(vq_should_interrupt(&f.vq));
	push_n(&f, 1); /* 0: entry 65535 written */
	assert_true(vq_should_interrupt(&f.vq));
	wr16(&f, used_event_gpa(&f), 1);
	push_n(&f, 1); /* 1 */
	assert_false(vq_should_interrupt(&f.vq));
	push_n(&f, 1); /* 2 */
	assert_true(vq_should_interrupt(&f.vq));

	/* after enable (and reset) the first check always interrupts */
	f.vq.event_idx = true;
	assert_int_equal(vq_enable(&f.vq, &f.gm), 0);
	wr16(&f, used_event_gpa(&f), 1000);
	push_n(&f, 1);
	assert_true(vq_should_interrupt(&f.vq));
	push_n(&f, 1);
	assert_false(vq_should_interrupt(&f.vq));
	fx_fini(&f);
}

static void test_event_idx_avail_event(void **state)
{
	struct fx f;
	fx_init(&f, 8, false, true);
	wr16(&f, avail_event_gpa(&f), 0xffff);
	/* an empty pop asks for a kick at the next entry */
	assert_int_equal(pop(&f), 0);
	assert_int_equal(rd16(&f, avail_event_gpa(&f)), 0);
	for (unsigned i = 0; i < 3; i++) {
		desc(&f, i, DATA, 8, 0, 0);
		offer(&f, (uint16_t)i);
	}
	/* while chains remain, avail_event stays put: no kick is wanted for each refill */
	assert_int_equal(pop(&f), 1);
	assert_int_equal(rd16(&f, avail_event_gpa(&f)), 0);
	assert_int_equal(pop(&f), 1);
	assert_int_equal(pop(&f), 1);
	assert_int_equal(rd16(&f, avail_event_gpa(&f)), 0);
	/* found empty: ask for a kick at the next entry */
	assert_int_equal(pop(&f), 0);
	assert_int_equal(rd16(&f, avail_event_gpa(&f)), 3);
	assert_int_equal(rd16(&f, USED), 0); /* used flags stay 0 with EVENT_IDX */
	fx_fini(&f);
}

/* ---- malformed rings ---- */

static void test_bad_head(void **state)
{
	struct fx f;
	fx_init(&f, 8, true, true);
	desc(&f, 0, DATA, 8, 0, 0);
	offer(&f, 8);
	expect_malformed(&f, -EINVAL, "head index 8 out of range", NULL);
	fx_fini(&f);
	fx_init(&f, 8, true, true);
	offer(&f, 0xffff);
	expect_malformed(&f, -EINVAL, "head index 65535 out of range", NULL);
	fx_fini(&f);
}

static void fix_first_desc(struct fx *f)
{
	desc(f, 0, DATA, 8, 0, 0);
}

static void test_bad_next(void **state)
{
	struct fx f;
	fx_init(&f, 8, true, true);
	desc(&f, 0, DATA, 8, VRING_DESC_F_NEXT, 1);
	desc(&f, 1, DATA, 8, VRING_DESC_F_NEXT, 8);
	offer(&f, 0);
	expect_malformed(&f, -EINVAL, "next index 8 out of range", fix_first_desc);
	fx_fini(&f);
}

static void test_direct_loop(void **state)
{
	struct fx f;
	fx_init(&f, 8, true, true);
	desc(&f, 2, DATA, 8, VRING_DESC_F_NEXT, 5);
	desc(&f, 5, DATA, 8, VRING_DESC_F_NEXT, 2);
	offer(&f, 2);
	expect_malformed(&f, -EINVAL, "loops", NULL);
	fx_fini(&f);
}

static void test_self_loop(void **state)
{
	struct fx f;
	/* with zero-length descriptors too: the walk is bounded by descriptors, not bytes */
	fx_init(&f, 4, true, true);
	desc(&f, 1, DATA, 0, VRING_DESC_F_NEXT, 1);
	offer(&f, 1);
	expect_malformed(&f, -EINVAL, "loops", NULL);
	fx_fini(&f);
	fx_init(&f, 1, true, true);
	desc(&f, 0, DATA, 4, VRING_DESC_F_NEXT, 0);
	offer(&f, 0);
	expect_malformed(&f, -EINVAL, "loops", NULL);
	fx_fini(&f);
}

static void test_chain_longer_than_size(void **state)
{
	struct fx f;
	fx_init(&f, 16, true, true);
	/* 0 -> 1 -> ... -> 15 -> 3: the 17th descriptor */
	for (unsigned i = 0; i < 16; i++)
		desc(&f, i, DATA + i, 1, VRING_DESC_F_NEXT, (uint16_t)(i + 1));
	desc(&f, 15, DATA, 1, VRING_DESC_F_NEXT, 3);
	offer(&f, 0);
	expect_malformed(&f, -EINVAL, "longer than the queue size 16", NULL);
	fx_fini(&f);
}

static void test_indirect_not_negotiated(void **state)
{
	struct fx f;
	fx_init(&f, 8, false, true);
	ind(&f, 0, DATA, 8, 0, 0);
	desc(&f, 0, IND, 16, VRING_DESC_F_INDIRECT, 0);
	offer(&f, 0);
	expect_malformed(&f, -EINVAL, "INDIRECT_DESC was not negotiated", NULL);
	fx_fini(&f);
}

static void test_indirect_with_next(void **state)
{
	struct fx f;
	fx_init(&f, 8, true, true);
	ind(&f, 0, DATA, 8, 0, 0);
	desc(&f, 0, IND, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	desc(&f, 1, DATA, 8, VRING_DESC_F_WRITE, 0);
	offer(&f, 0);
	expect_malformed(&f, -EINVAL, "both INDIRECT and NEXT", NULL);
	fx_fini(&f);
}

static void test_nested_indirect(void **state)
{
	struct fx f;
	fx_init(&f, 8, true, true);
	ind(&f, 0, DATA, 8, VRING_DESC_F_NEXT, 1);
	ind(&f, 1, IND + 0x100, 16, VRING_DESC_F_INDIRECT, 0);
	put_desc(&f, IND + 0x100, 0, DATA, 8, 0, 0);
	desc(&f, 0, IND, 32, VRING_DESC_F_INDIRECT, 0);
	offer(&f, 0);
	expect_malformed(&f, -EINVAL, "itself indirect", NULL);
	fx_fini(&f);
}

static void bad_indirect_table(uint64_t addr, uint32_t len, int code, const char *needle)
{
	struct fx f;
	fx_init(&f, 8, true, true);
	ind(&f, 0, DATA, 8, 0, 0);
	desc(&f, 4, addr, len, VRING_DESC_F_INDIRECT, 0);
	offer(&f, 4);
	expect_malformed(&f, code, needle, NULL);
	fx_fini(&f);
}

static void test_indirect_bad_table(void **state)
{
	bad_indirect_table(IND, 0, -EINVAL, "not a non-zero multiple of 16");
	bad_indirect_table(IND, 20, -EINVAL, "not a non-zero multiple of 16");
	bad_indirect_table(IND, 8, -EINVAL, "not a non-zero multiple of 16");
	bad_indirect_table(IND, 16 * (VQ_MAX_SEGS + 1), -EINVAL, "1025 entries");
	bad_indirect_table(IND, 0xfffffff0u, -EINVAL, "entries");
	/* straddling the end of low RAM, in the PCI hole, past high RAM, wrapping 2^64 */
	bad_indirect_table(LOW - 16, 32, -EFAULT, "not entirely guest RAM");
	bad_indirect_table(0xC0000000ULL, 16, -EFAULT, "not entirely guest RAM");
	bad_indirect_table(0x100000000ULL + HIGH - 16, 32, -EFAULT, "not entirely guest RAM");
	bad_indirect_table(UINT64_MAX - 15, 32, -EFAULT, "not entirely guest RAM");
}

static void test_indirect_loop(void **state)
{
	struct fx f;
	fx_init(&f, 8, true, true);
	ind(&f, 0, DATA, 8, VRING_DESC_F_NEXT, 1);
	ind(&f, 1, DATA, 8, VRING_DESC_F_NEXT, 2);
	ind(&f, 2, DATA, 8, VRING_DESC_F_NEXT, 1);
	desc(&f, 0, IND, 3 * 16, VRING_DESC_F_INDIRECT, 0);
	offer(&f, 0);
	expect_malformed(&f, -EINVAL, "indirect chain loops", NULL);
	fx_fini(&f);
	/* self-loop of zero-length entries */
	fx_init(&f, 8, true, true);
	ind(&f, 0, 0, 0, VRING_DESC_F_NEXT, 0);
	desc(&f, 0, IND, 16, VRING_DESC_F_INDIRECT, 0);
	offer(&f, 0);
	expect_malformed(&f, -EINVAL, "indirect chain loops", NULL);
	fx_fini(&f);
}

static void test_indirect_bad_next(void **state)
{
	struct fx f;
	fx_init(&f, 8, true, true);
	/* next must be inside the table (2 entries), even though the queue has 8 */
	ind(&f, 0, DATA, 8, VRING_DESC_F_NEXT, 2);
	ind(&f, 2, DATA, 8, 0, 0);
	desc(&f, 0, IND, 2 * 16, VRING_DESC_F_INDIRECT, 0);
	offer(&f, 0);
	expect_malformed(&f, -EINVAL, "next index 2 out of range (table has 2 entries)", NULL);
	fx_fini(&f);
}

static void bad_buffer(uint64_t addr, uint32_t len, bool indirect)
{
	struct fx f;
	fx_init(&f, 8, true, true);
	if (indirect) {
		ind(&f, 0, DATA, 8, VRING_DESC_F_NEXT, 1);
		ind(&f, 1, addr, len, VRING_DESC_F_WRITE, 0);
		desc(&f, 0, IND, 32, VRING_DESC_F_INDIRECT, 0);
	} else {
		desc(&f, 0, DATA, 8, VRING_DESC_F_NEXT, 1);
		desc(&f, 1, addr, len, VRING_DESC_F_WRITE, 0);
	}
	offer(&f, 0);
	expect_malformed(&f, -EFAULT, "not entirely guest RAM", NULL);
	fx_fini(&f);
}

static void test_buffer_outside_ram(void **state)
{
	for (int i = 0; i < 2; i++) {
		bool indirect = i;
		bad_buffer(0xC0000000ULL, 16, indirect);                  /* PCI hole */
		bad_buffer(LOW, 1, indirect);                             /* right after low RAM */
		bad_buffer(LOW - 8, 16, indirect);                        /* straddles into the hole */
		bad_buffer(LOW - 1, 2, indirect);
		bad_buffer(0x100000000ULL - 8, 16, indirect);             /* hole into high RAM */
		bad_buffer(0x100000000ULL + HIGH - 8, 9, indirect);       /* past high RAM */
		bad_buffer(0x100000000ULL + HIGH, 1, indirect);
		bad_buffer(UINT64_MAX - 7, 16, indirect);                 /* wraps 2^64 */
		bad_buffer(UINT64_MAX, 1, indirect);
		bad_buffer(0, 0xffffffffu, indirect);                     /* too long */
		bad_buffer(0x100000000ULL, (uint32_t)HIGH + 1, indirect);
	}
	/* the last byte of low and of high RAM are fine */
	struct fx f;
	fx_init(&f, 8, false, false);
	desc(&f, 0, LOW - 1, 1, VRING_DESC_F_NEXT, 1);
	desc(&f, 1, 0x100000000ULL + HIGH - 1, 1, 0, 0);
	offer(&f, 0);
	assert_int_equal(pop(&f), 1);
	assert_ptr_equal(f.c->iov[1].iov_base, f.mem + MEMSZ - 1);
	fx_fini(&f);
}

static void test_readable_after_writable(void **state)
{
	struct fx f;
	fx_init(&f, 8, true, true);
	desc(&f, 0, DATA, 8, VRING_DESC_F_NEXT, 1);
	desc(&f, 1, DATA, 8, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	desc(&f, 2, DATA, 8, 0, 0);
	offer(&f, 0);
	expect_malformed(&f, -EINVAL, "descriptor 2 is device-readable after a device-writable",
			 NULL);
	fx_fini(&f);
	/* inside an indirect table */
	fx_init(&f, 8, true, true);
	ind(&f, 0, DATA, 8, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	ind(&f, 1, DATA, 8, 0, 0);
	desc(&f, 0, IND, 32, VRING_DESC_F_INDIRECT, 0);
	offer(&f, 0);
	expect_malformed(&f, -EINVAL, "indirect descriptor 1 is device-readable", NULL);
	fx_fini(&f);
	/* a writable direct descriptor followed by a readable indirect table */
	fx_init(&f, 8, true, true);
	ind(&f, 0, DATA, 8, 0, 0);
	desc(&f, 0, DATA, 8, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	desc(&f, 1, IND, 16, VRING_DESC_F_INDIRECT, 0);
	offer(&f, 0);
	expect_malformed(&f, -EINVAL, "indirect descriptor 0 is device-readable", NULL);
	fx_fini(&f);
}

static void test_avail_jump(void **state)
{
	struct fx f;
	fx_init(&f, 16, true, true);
	desc(&f, 0, DATA, 8, 0, 0);
	wr16(&f, AVAIL + 2, 17);
	assert_true(vq_has_work(&f.vq));
	expect_malformed(&f, -EINVAL, "avail index jumped by 17 with queue size 16", NULL);
	fx_fini(&f);
	/* a driver moving idx backwards looks like a huge jump */
	fx_init(&f, 16, true, true);
	f.vq.last_avail = 100;
	wr16(&f, AVAIL + 2, 99);
	expect_malformed(&f, -EINVAL, "avail index jumped by 65535 with queue size 16", NULL);
	fx_fini(&f);
	/* exactly size pending is fine */
	fx_init(&f, 16, true, true);
	desc(&f, 0, DATA, 8, 0, 0);
	wr16(&f, AVAIL + 2, 16);
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(pop(&f), 1);
	assert_int_equal(pop(&f), 0);
	fx_fini(&f);
}

static void test_too_many_segments(void **state)
{
	struct fx f;
	fx_init(&f, 16, true, true);
	/* two direct segments, then a full indirect table: VQ_MAX_SEGS + 2 segments */
	for (unsigned i = 0; i < VQ_MAX_SEGS; i++)
		ind(&f, i, DATA, 1, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, (uint16_t)(i + 1));
	ind(&f, VQ_MAX_SEGS - 1, DATA, 1, VRING_DESC_F_WRITE, 0);
	desc(&f, 0, DATA, 4, VRING_DESC_F_NEXT, 1);
	desc(&f, 1, DATA, 4, VRING_DESC_F_NEXT, 2);
	desc(&f, 2, IND, 16 * VQ_MAX_SEGS, VRING_DESC_F_INDIRECT, 0);
	offer(&f, 0);
	expect_malformed(&f, -EINVAL, "more than 1024 segments", NULL);
	fx_fini(&f);
}

static void test_malformed_after_good(void **state)
{
	/* good chains complete normally, the bad one breaks the queue, later good ones are not
	 * taken */
	struct fx f;
	fx_init(&f, 8, true, true);
	desc(&f, 0, DATA, 8, 0, 0);
	desc(&f, 1, DATA, 8, VRING_DESC_F_NEXT, 1);
	offer(&f, 0);
	offer(&f, 1);
	offer(&f, 0);
	assert_int_equal(pop(&f), 1);
	vq_push(&f.vq, 0, 0);
	assert_int_equal(rd16(&f, USED + 2), 1);
	assert_int_equal(f.vq.used_idx, 1);
	memcpy(f.snap, f.mem, MEMSZ);
	assert_int_equal(pop(&f), -EINVAL);
	assert_true(f.vq.broken);
	assert_int_equal(f.vq.last_avail, 1);
	assert_int_equal(pop(&f), -EINVAL);
	assert_memory_equal(f.snap, f.mem, MEMSZ);
	fx_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_enable_checks),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_simple_chain),
		cmocka_unit_test(test_read_write_split),
		cmocka_unit_test(test_copy_helpers_empty_parts),
		cmocka_unit_test(test_indirect_chain),
		cmocka_unit_test(test_direct_then_indirect),
		cmocka_unit_test(test_index_wrap),
		cmocka_unit_test(test_odd_sizes),
		cmocka_unit_test(test_zero_length_descriptors),
		cmocka_unit_test(test_longest_chains),
		cmocka_unit_test(test_large_lengths),
		cmocka_unit_test(test_used_ring),
		cmocka_unit_test(test_no_interrupt_flag),
		cmocka_unit_test(test_event_idx_interrupts),
		cmocka_unit_test(test_event_idx_avail_event),
		cmocka_unit_test(test_bad_head),
		cmocka_unit_test(test_bad_next),
		cmocka_unit_test(test_direct_loop),
		cmocka_unit_test(test_self_loop),
		cmocka_unit_test(test_chain_longer_than_size),
		cmocka_unit_test(test_indirect_not_negotiated),
		cmocka_unit_test(test_indirect_with_next),
		cmocka_unit_test(test_nested_indirect),
		cmocka_unit_test(test_indirect_bad_table),
		cmocka_unit_test(test_indirect_loop),
		cmocka_unit_test(test_indirect_bad_next),
		cmocka_unit_test(test_buffer_outside_ram),
		cmocka_unit_test(test_readable_after_writable),
		cmocka_unit_test(test_avail_jump),
		cmocka_unit_test(test_too_many_segments),
		cmocka_unit_test(test_malformed_after_good),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
