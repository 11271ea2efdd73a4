/* SPDX-License-Identifier: BSD-2-Clause */
/* Snapshot files and saved device state from untrusted bytes: what `bhyve -r FILE` reads. The
 * first input byte picks (value % 6) what the rest of the input is:
 *   0  a FILE.kern image for kern_parse. On success: the table lies inside the image, aligned,
 *      in order, with well-formed unique names; kern_find finds each section (and no other
 *      name); the image rebuilt with kern_append has the same size and parses to the same table.
 *   1  a FILE.meta text for meta_parse. On success: the values are in range (lowmem + highmem =
 *      memsize, 1-4096 vCPUs, 64-digit hashes) and meta_format of them parses back the same.
 *   2  a virtqueue's section (vq_snapshot, device maximum 256) over 48 KiB of guest RAM at 0 and
 *      16 KiB at 4 GiB, between guard pages.
 *   3  a 16550 UART's section (uart_snapshot).
 *   4  the RTC's section (rtc_model_snapshot), on a fake clock.
 *   5  the i8042's section (i8042_snapshot: controller, keyboard, mouse).
 * A section is loaded as bhyve -r loads it (snap_new_load, the visit, snap_finish) into a model
 * in its power-on state. A visit that fails leaves the model as it was, byte for byte (the queue:
 * not ready). One that takes the state saves back to the same bytes (the RTC: but for register
 * A's UIP and register C's IRQF, which a load recomputes), or to the part of them it took when
 * snap_finish refuses bytes left over; then the model is driven a little through its
 * register interface (a data byte first, for a command the state says is waiting for one), so
 * that any loaded index or length out of range trips ASan; interrupt callbacks must follow the
 * model's output. The first byte / 6 (0-42) varies the values written there. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/guestmem.h"
#include "devices/i8042.h"
#include "devices/rtc.h"
#include "devices/uart16550.h"
#include "fixture.h"
#include "snapshot/snapbuf.h"
#include "snapshot/snapfile.h"
#include "virtio/virtqueue.h"

#define ERRLEN 256

/* ---- a section: load, check, save back ---- */

/* Load `len` bytes with `visit` into `model`: whether the visit took the state (it may still
 * have left bytes over, which snap_finish refuses: *finish is its result). A failure must come
 * with a message naming the section. */
static bool load(const char *name, const uint8_t *data, size_t len,
		 void (*visit)(struct snap *, void *), void *model, int *finish)
{
	struct snap *s = snap_new_load(name, data, len);
	FUZZ_CHECK(s, "snap_new_load: out of memory");
	visit(s, model);
	bool took = !snap_failed(s);
	char err[ERRLEN] = "";
	int rc = snap_finish(s, err, sizeof(err));
	snap_free(s);
	FUZZ_CHECK(rc == 0 || (rc == -EINVAL && strncmp(err, name, strlen(name)) == 0 &&
			       err[strlen(name)] == ':'),
		   "load failed (%d) with \"%s\"", rc, err);
	FUZZ_CHECK(took || rc, "a failed visit passed snap_finish");
	*finish = rc;
	return took;
}

/* Save `model` with `visit`; the bytes are malloc'd. */
static uint8_t *save(const char *name, void (*visit)(struct snap *, void *), void *model,
		     size_t *len)
{
	struct snap *s = snap_new_save(name);
	FUZZ_CHECK(s, "snap_new_save: out of memory");
	visit(s, model);
	char err[ERRLEN] = "";
	FUZZ_CHECK(snap_finish(s, err, sizeof(err)) == 0, "saving failed: %s", err);
	const void *d = snap_data(s, len);
	uint8_t *copy = malloc(*len ? *len : 1);
	FUZZ_CHECK(copy, "out of memory");
	if (*len)
		memcpy(copy, d, *len);
	snap_free(s);
	return copy;
}

/* The loaded state saves back to the input, or to the part of it the visit took when bytes
 * were left over (snap_finish's result `finish` says so); bytes at `ign` (up to 2, -1 for none)
 * may differ in the bits of `ign_mask`. */
static void check_saves_back(const char *name, void (*visit)(struct snap *, void *), void *model,
			     const uint8_t *data, size_t len, int finish, const long ign[2],
			     uint8_t ign_mask)
{
	size_t n;
	uint8_t *again = save(name, visit, model, &n);
	FUZZ_CHECK(n <= len && (n == len) == (finish == 0),
		   "%s: loaded %zu bytes (snap_finish %d), saves %zu", name, len, finish, n);
	for (size_t i = 0; i < n; i++) {
		uint8_t mask = 0xFF;
		if ((long)i == ign[0] || (long)i == ign[1])
			mask = (uint8_t)~ign_mask;
		FUZZ_CHECK((again[i] & mask) == (data[i] & mask),
			   "%s: byte %zu loaded as %#x saves as %#x", name, i, data[i], again[i]);
	}
	free(again);
}

/* ---- 0: FILE.kern ---- */

static bool name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > SNAPFILE_NAME_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x21 || (unsigned char)name[i] > 0x7e)
			return false;
	return true;
}

static void fuzz_kern(const uint8_t *data, size_t size)
{
	/* an exact-size copy: any read past the end is an ASan report */
	uint8_t *buf = malloc(size ? size : 1);
	FUZZ_CHECK(buf, "out of memory");
	if (size)
		memcpy(buf, data, size);
	struct kern_index idx;
	char err[ERRLEN] = "";
	int rc = kern_parse(buf, size, &idx, err, sizeof(err));
	if (rc) {
		FUZZ_CHECK(rc == -EINVAL || rc == -ENOMEM, "kern_parse returned %d", rc);
		FUZZ_CHECK(err[0], "kern_parse refused without a message");
		FUZZ_CHECK(idx.count == 0 && !idx.sec, "a refused image left an index");
		free(buf);
		return;
	}
	FUZZ_CHECK(idx.version == SNAPFILE_VERSION, "version %u accepted", idx.version);
	uint64_t end = 16;
	for (uint32_t i = 0; i < idx.count; i++) {
		const struct kern_section *s = &idx.sec[i];
		FUZZ_CHECK(name_ok(s->name), "section %u: malformed name accepted", i);
		FUZZ_CHECK(s->offset == end + SNAPFILE_NAME_LEN + 8, "section %s at %llu, not %llu",
			   s->name, (unsigned long long)s->offset, (unsigned long long)end + 56);
		FUZZ_CHECK(s->offset % 8 == 0 && s->len <= size && s->offset <= size - s->len,
			   "section %s outside the image", s->name);
		FUZZ_CHECK(s->data == buf + s->offset, "section %s: data is not at its offset",
			   s->name);
		end = s->offset + s->len + (8 - s->len % 8) % 8;
		FUZZ_CHECK(kern_find(&idx, s->name) == s, "kern_find(%s) is not section %u",
			   s->name, i);
	}
	FUZZ_CHECK(end == size, "table ends at %llu, the image at %zu", (unsigned long long)end,
		   size);
	static const char *const names[] = {"rtc", "i8042", "lpc.com1", "cpu.0", "vm", "", "x"};
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		const struct kern_section *s = kern_find(&idx, names[k]);
		FUZZ_CHECK(!s || strcmp(s->name, names[k]) == 0, "kern_find(%s) gave %s", names[k],
			   s->name);
		FUZZ_CHECK(names[k][0] || !s, "kern_find found an empty name");
	}

	/* rebuilt, it is the same table (the padding bytes, not checked by the parser, are 0) */
	if (idx.count) {
		uint8_t *img = NULL;
		size_t len = 0, cap = 0;
		for (uint32_t i = 0; i < idx.count; i++)
			FUZZ_CHECK(kern_append(&img, &len, &cap, idx.sec[i].name, idx.sec[i].data,
					       idx.sec[i].len) == 0,
				   "kern_append(%s) failed", idx.sec[i].name);
		FUZZ_CHECK(len == size, "rebuilt image has %zu bytes, not %zu", len, size);
		struct kern_index again;
		FUZZ_CHECK(kern_parse(img, len, &again, err, sizeof(err)) == 0,
			   "rebuilt image refused: %s", err);
		FUZZ_CHECK(again.count == idx.count, "rebuilt image has %u sections, not %u",
			   again.count, idx.count);
		for (uint32_t i = 0; i < idx.count; i++) {
			const struct kern_section *a = &idx.sec[i], *b = &again.sec[i];
			FUZZ_CHECK(strcmp(a->name, b->name) == 0 && a->len == b->len &&
				       a->offset == b->offset &&
				       (a->len == 0 || memcmp(a->data, b->data, a->len) == 0),
				   "rebuilt section %u differs", i);
		}
		FUZZ_CHECK(memcmp(img, buf, 16) == 0, "rebuilt header differs");
		kern_index_free(&again);
		free(img);
	}
	kern_index_free(&idx);
	FUZZ_CHECK(idx.count == 0 && !idx.sec, "kern_index_free left an index");
	free(buf);
}

/* ---- 1: FILE.meta ---- */

static bool hex64(const char *h)
{
	return strlen(h) == 64 && strspn(h, "0123456789abcdef") == 64;
}

static void fuzz_meta(const uint8_t *data, size_t size)
{
	char *text = malloc(size ? size : 1);
	FUZZ_CHECK(text, "out of memory");
	if (size)
		memcpy(text, data, size);
	struct snap_meta m;
	char err[ERRLEN] = "";
	int rc = meta_parse(text, size, &m, err, sizeof(err));
	free(text);
	if (rc) {
		FUZZ_CHECK(rc == -EINVAL, "meta_parse returned %d", rc);
		FUZZ_CHECK(err[0], "meta_parse refused without a message");
		FUZZ_CHECK(!m.name && !m.config, "a refused text left strings");
		return;
	}
	FUZZ_CHECK(m.name && m.config, "no name or configuration");
	FUZZ_CHECK(m.memsize > 0 && m.lowmem + m.highmem == m.memsize && m.lowmem <= m.memsize,
		   "memory sizes %llu + %llu != %llu", (unsigned long long)m.lowmem,
		   (unsigned long long)m.highmem, (unsigned long long)m.memsize);
	FUZZ_CHECK(m.ncpus >= 1 && m.ncpus <= 4096, "%d vCPUs", m.ncpus);
	FUZZ_CHECK(hex64(m.cpuid) && hex64(m.kern_sha256), "malformed hash accepted");
	FUZZ_CHECK(m.kern_size <= (uint64_t)INT64_MAX, "kern size %llu",
		   (unsigned long long)m.kern_size);
	FUZZ_CHECK(!m.sections, "meta_parse set sections");

	char *again = meta_format(&m);
	FUZZ_CHECK(again, "meta_format of a parsed meta failed");
	struct snap_meta b;
	FUZZ_CHECK(meta_parse(again, strlen(again), &b, err, sizeof(err)) == 0,
		   "meta_format's text refused: %s", err);
	FUZZ_CHECK(strcmp(m.name, b.name) == 0 && strcmp(m.config, b.config) == 0 &&
		       m.memsize == b.memsize && m.lowmem == b.lowmem && m.highmem == b.highmem &&
		       m.ncpus == b.ncpus && strcmp(m.cpuid, b.cpuid) == 0 &&
		       m.tsc_khz == b.tsc_khz && strcmp(m.kern_sha256, b.kern_sha256) == 0 &&
		       m.kern_size == b.kern_size && m.created == b.created,
		   "meta_format / meta_parse changed a value");
	free(again);
	meta_free(&b);
	meta_free(&m);
	FUZZ_CHECK(!m.name && !m.config, "meta_free left strings");
}

/* ---- 2: a virtqueue ---- */

#define VQ_LOW 0xC000ULL
#define VQ_HIGH 0x4000ULL
#define VQ_MEM (VQ_LOW + VQ_HIGH)
#define VQ_DEV_MAX 256

static uint8_t *vq_ram;
static struct guestmem vq_gm;

static void vq_visit(struct snap *s, void *opaque)
{
	vq_snapshot(s, opaque, &vq_gm, VQ_DEV_MAX);
}

/* The host range of guest RAM. */
static bool in_ram(const void *p, uint64_t len)
{
	const uint8_t *b = p;
	return b >= vq_ram && len <= VQ_MEM && b - vq_ram <= (ptrdiff_t)(VQ_MEM - len);
}

static void wr_gpa(uint64_t gpa, const void *src, size_t len)
{
	(void)gm_write(&vq_gm, gpa, src, len); /* rings anywhere: a write outside RAM is dropped */
}

static void fuzz_vq(const uint8_t *data, size_t size, unsigned variant)
{
	if (!vq_ram) {
		vq_ram = fuzz_ram_alloc(VQ_MEM);
		guestmem_init_from(&vq_gm, vq_ram, VQ_LOW, VQ_HIGH);
	}
	memset(vq_ram, 0, VQ_MEM);
	struct virtqueue vq;
	memset(&vq, 0, sizeof(vq));
	int finish;
	if (!load("virtio.0", data, size, vq_visit, &vq, &finish)) {
		FUZZ_CHECK(!vq.ready, "a queue whose state failed to load is ready");
		return;
	}
	static const long none[2] = {-1, -1};
	check_saves_back("virtio.0", vq_visit, &vq, data, size, finish, none, 0);
	if (!vq.ready)
		return;
	uint16_t n = vq.size;
	FUZZ_CHECK(n >= 1 && n <= VQ_DEV_MAX && !(n & (n - 1)), "queue size %u loaded", n);
	FUZZ_CHECK(vq.gm == &vq_gm, "ready queue without the guest memory");
	FUZZ_CHECK(in_ram(vq.desc, 16ULL * n) && in_ram(vq.avail, 6 + 2ULL * n) &&
		       in_ram(vq.used, 6 + 8ULL * n),
		   "a ring of the loaded queue is outside guest RAM");

	/* the guest makes 1-4 chains available (descriptors i -> i + 8, the second writable) */
	unsigned chains = 1 + variant % 4;
	for (unsigned i = 0; i < chains; i++) {
		uint8_t d[16];
		uint64_t addr = 0x8000 + 0x200ULL * i;
		uint32_t len = 0x100;
		uint16_t flags = VRING_DESC_F_NEXT, next = (uint16_t)((i + 8) % n);
		memcpy(d, &addr, 8);
		memcpy(d + 8, &len, 4);
		memcpy(d + 12, &flags, 2);
		memcpy(d + 14, &next, 2);
		wr_gpa(vq.desc_gpa + 16ULL * (i % n), d, sizeof(d));
		addr += 0x100;
		flags = VRING_DESC_F_WRITE;
		next = 0;
		memcpy(d, &addr, 8);
		memcpy(d + 12, &flags, 2);
		memcpy(d + 14, &next, 2);
		wr_gpa(vq.desc_gpa + 16ULL * ((i + 8) % n), d, sizeof(d));
		uint16_t head = (uint16_t)(i % n);
		wr_gpa(vq.avail_gpa + 4 + 2ULL * ((uint16_t)(vq.last_avail + i) % n), &head, 2);
	}
	uint16_t avail_idx = (uint16_t)(vq.last_avail + chains);
	wr_gpa(vq.avail_gpa + 2, &avail_idx, 2);
	struct vq_chain *c = malloc(sizeof(*c));
	FUZZ_CHECK(c, "out of memory");
	(void)vq_has_work(&vq);
	for (unsigned i = 0; i < chains + 1; i++) {
		char err[ERRLEN];
		int rc = vq_pop(&vq, c, err, sizeof(err));
		if (rc <= 0)
			break;
		FUZZ_CHECK(c->head < n, "chain head %u of %u", c->head, n);
		uint8_t buf[64];
		memset(buf, (int)variant, sizeof(buf));
		(void)vq_chain_read(c, 0, buf, sizeof(buf));
		size_t w = vq_chain_write(c, 8, buf, sizeof(buf));
		vq_push(&vq, c->head, (uint32_t)w);
		(void)vq_should_interrupt(&vq);
	}
	free(c);
}

/* ---- 3: the UART ---- */

struct uart_h {
	struct uart16550 u;
	bool level; /* INTR as the callback last reported it */
};

static void uart_on_tx(void *opaque, uint8_t byte)
{
	(void)opaque;
	(void)byte;
}

static void uart_on_intr(void *opaque, bool level)
{
	struct uart_h *h = opaque;
	FUZZ_CHECK(level != h->level, "INTR callback without a change (%d)", level);
	h->level = level;
}

static void uart_visit(struct snap *s, void *opaque)
{
	uart_snapshot(s, opaque);
}

static void uart_op_check(struct uart_h *h)
{
	FUZZ_CHECK(uart_intr(&h->u) == h->level, "INTR %d, the callback said %d", uart_intr(&h->u),
		   h->level);
	FUZZ_CHECK(h->u.rx_count <= UART_FIFO_SIZE && h->u.rx_head < UART_FIFO_SIZE,
		   "FIFO head %u count %u", h->u.rx_head, h->u.rx_count);
}

static void fuzz_uart(const uint8_t *data, size_t size, unsigned variant)
{
	static struct uart_h h;
	memset(&h, 0, sizeof(h));
	uart_init(&h.u, uart_on_tx, uart_on_intr, &h);
	struct uart16550 before = h.u;
	int finish;
	if (!load("lpc.com1", data, size, uart_visit, &h.u, &finish)) {
		FUZZ_CHECK(memcmp(&before, &h.u, sizeof(before)) == 0,
			   "a failed load changed the UART");
		return;
	}
	static const long none[2] = {-1, -1};
	check_saves_back("lpc.com1", uart_visit, &h.u, data, size, finish, none, 0);
	FUZZ_CHECK(h.u.tx == uart_on_tx && h.u.intr_changed == uart_on_intr && h.u.opaque == &h,
		   "a load changed the callbacks");
	h.level = uart_intr(&h.u);
	/* INTR is what IIR says (the read may acknowledge THR empty and lower it) */
	bool was = h.level;
	uint8_t iir = uart_read(&h.u, UART_IIR);
	FUZZ_CHECK(!(iir & UART_IIR_NOPEND) == was, "IIR %#x with INTR %d", iir, was);
	uart_op_check(&h);
	for (unsigned off = 0; off < UART_NPORTS; off++) {
		(void)uart_read(&h.u, off);
		uart_op_check(&h);
	}
	/* drain the receiver */
	uart_write(&h.u, UART_LCR, h.u.lcr & (uint8_t)~UART_LCR_DLAB);
	unsigned got = 0;
	while (uart_read(&h.u, UART_LSR) & UART_LSR_DR) {
		(void)uart_read(&h.u, UART_RBR);
		FUZZ_CHECK(++got <= UART_FIFO_SIZE, "more than %u bytes received", UART_FIFO_SIZE);
		uart_op_check(&h);
	}
	static const uint8_t line[20] = "0123456789abcdefghij";
	(void)uart_rx_push(&h.u, line, 1 + variant % sizeof(line));
	uart_op_check(&h);
	uart_rx_idle(&h.u);
	uart_op_check(&h);
	(void)uart_read(&h.u, UART_IIR);
	uart_write(&h.u, UART_FCR, (uint8_t)((variant << 6) | UART_FCR_ENABLE));
	uart_op_check(&h);
	uart_write(&h.u, UART_IER, (uint8_t)(variant & 0x0F));
	uart_write(&h.u, UART_THR, 'x');
	uart_op_check(&h);
	uart_write(&h.u, UART_MCR, (uint8_t)(variant & 1 ? 0x1F : 0x0B));
	uart_write(&h.u, UART_THR, 'y');
	uart_op_check(&h);
	for (unsigned off = 0; off < UART_NPORTS; off++) {
		(void)uart_read(&h.u, off);
		uart_op_check(&h);
	}
	(void)uart_rx_room(&h.u);
}

/* ---- 4: the RTC ---- */

#define RTC_START_SEC 1709214356LL /* 2024-02-29 13:45:56 UTC */

struct rtc_h {
	struct rtc_model m;
	struct timespec now;
	bool level;
};

static void rtc_clock(void *opaque, struct timespec *now)
{
	struct rtc_h *h = opaque;
	*now = h->now;
}

static void rtc_on_irq(void *opaque, bool level)
{
	struct rtc_h *h = opaque;
	FUZZ_CHECK(level != h->level, "IRQ callback without a change (%d)", level);
	h->level = level;
}

static void rtc_visit(struct snap *s, void *opaque)
{
	rtc_model_snapshot(s, opaque);
}

static void rtc_advance(struct rtc_h *h, long ms)
{
	long ns = h->now.tv_nsec + (ms % 1000) * 1000000L;
	h->now.tv_sec += ms / 1000 + ns / 1000000000L;
	h->now.tv_nsec = ns % 1000000000L;
}

static void rtc_op_check(struct rtc_h *h)
{
	FUZZ_CHECK(h->m.irq == h->level, "IRQ %d, the callback said %d", h->m.irq, h->level);
	FUZZ_CHECK(h->m.index < RTC_CMOS_SIZE, "CMOS index %u", h->m.index);
}

static void fuzz_rtc(const uint8_t *data, size_t size, unsigned variant)
{
	static struct rtc_h h;
	memset(&h, 0, sizeof(h));
	h.now.tv_sec = RTC_START_SEC;
	h.now.tv_nsec = 250000000L;
	rtc_model_init(&h.m, 0xC0000000ULL, 0x40000000ULL, variant & 1, rtc_clock, rtc_on_irq, &h);
	h.level = h.m.irq;
	struct rtc_model before = h.m;
	int finish;
	if (!load("rtc", data, size, rtc_visit, &h.m, &finish)) {
		FUZZ_CHECK(memcmp(&before, &h.m, sizeof(before)) == 0,
			   "a failed load changed the RTC");
		return;
	}
	static const long recomputed[2] = {RTC_REG_A, RTC_REG_C}; /* UIP, IRQF */
	check_saves_back("rtc", rtc_visit, &h.m, data, size, finish, recomputed, 0x80);
	FUZZ_CHECK(h.m.clock == rtc_clock && h.m.irq_changed == rtc_on_irq && h.m.opaque == &h,
		   "a load changed the callbacks");
	FUZZ_CHECK(!(h.m.cmos[RTC_REG_A] & RTC_A_UIP), "UIP stored");
	bool irqf = h.m.cmos[RTC_REG_C] & RTC_C_IRQF;
	FUZZ_CHECK(irqf == (bool)(h.m.cmos[RTC_REG_C] & h.m.cmos[RTC_REG_B] &
				  (RTC_C_PF | RTC_C_AF | RTC_C_UF)),
		   "IRQF %d with B %#x C %#x", irqf, h.m.cmos[RTC_REG_B], h.m.cmos[RTC_REG_C]);
	FUZZ_CHECK(h.m.irq == irqf, "IRQ output %d with IRQF %d", h.m.irq, irqf);
	h.level = h.m.irq;

	/* the index the state holds, then every register */
	(void)rtc_model_port_read(&h.m, 1);
	rtc_model_port_write(&h.m, 1, (uint8_t)variant);
	rtc_op_check(&h);
	for (unsigned r = 0; r < RTC_CMOS_SIZE; r++) {
		(void)rtc_model_read(&h.m, (uint8_t)r);
		rtc_op_check(&h);
	}
	(void)rtc_model_time(&h.m);
	(void)rtc_model_timer_ms(&h.m);
	rtc_advance(&h, 1500);
	rtc_model_tick(&h.m);
	rtc_op_check(&h);
	rtc_model_write(&h.m, RTC_REG_B, (uint8_t)(0x70 | (variant & 0x06)));
	rtc_op_check(&h);
	rtc_model_write(&h.m, RTC_REG_A, 0x26);
	rtc_advance(&h, 1000 + variant * 37);
	rtc_model_tick(&h.m);
	rtc_op_check(&h);
	(void)rtc_model_read(&h.m, RTC_REG_C);
	rtc_op_check(&h);
	for (unsigned r = 0; r <= RTC_YEAR; r++)
		(void)rtc_model_read(&h.m, (uint8_t)r);
	(void)rtc_model_read(&h.m, RTC_CENTURY);
	(void)rtc_model_time(&h.m);
	(void)rtc_model_timer_ms(&h.m);
	rtc_model_port_write(&h.m, 0, 0x8D);
	(void)rtc_model_port_read(&h.m, 1);
	rtc_op_check(&h);
}

/* ---- 5: the i8042 ---- */

struct kbc_h {
	struct i8042 c;
};

static void kbc_on_irq(void *opaque, unsigned irq)
{
	(void)opaque;
	FUZZ_CHECK(irq == I8042_KBD_IRQ || irq == I8042_AUX_IRQ, "IRQ %u pulsed", irq);
}

static void kbc_on_reset(void *opaque, const char *why)
{
	(void)opaque;
	(void)why;
}

static void kbc_visit(struct snap *s, void *opaque)
{
	i8042_snapshot(s, opaque);
}

static void kbc_op_check(struct kbc_h *h)
{
	uint8_t st = i8042_read_status(&h->c);
	FUZZ_CHECK(!(st & I8042_STS_AUXOBF) || (st & I8042_STS_OBF), "status %#x", st);
	FUZZ_CHECK(h->c.ctlq_head < I8042_CTLQ_SIZE && h->c.ctlq_len <= I8042_CTLQ_SIZE,
		   "controller queue %u/%u", h->c.ctlq_head, h->c.ctlq_len);
	FUZZ_CHECK(h->c.kbd.head < PS2KBD_FIFO_SIZE && h->c.kbd.len <= PS2KBD_FIFO_SIZE &&
		       h->c.kbd.rhead < PS2KBD_REPLY_SIZE && h->c.kbd.rlen <= PS2KBD_REPLY_SIZE,
		   "keyboard queues");
	FUZZ_CHECK(h->c.mouse.head < PS2MOUSE_FIFO_SIZE && h->c.mouse.len <= PS2MOUSE_FIFO_SIZE,
		   "mouse queue");
}

static void kbc_drain(struct kbc_h *h, unsigned most)
{
	for (unsigned i = 0; i < most && (i8042_read_status(&h->c) & I8042_STS_OBF); i++) {
		(void)i8042_read_data(&h->c);
		kbc_op_check(h);
	}
}

static void fuzz_i8042(const uint8_t *data, size_t size, unsigned variant)
{
	static struct kbc_h h;
	memset(&h, 0, sizeof(h));
	i8042_model_init(&h.c, NULL, kbc_on_irq, kbc_on_reset, &h);
	struct i8042 before = h.c;
	int finish;
	if (!load("i8042", data, size, kbc_visit, &h.c, &finish)) {
		FUZZ_CHECK(memcmp(&before, &h.c, sizeof(before)) == 0,
			   "a failed load changed the i8042");
		return;
	}
	static const long none[2] = {-1, -1};
	check_saves_back("i8042", kbc_visit, &h.c, data, size, finish, none, 0);
	FUZZ_CHECK(h.c.irq == kbc_on_irq && h.c.reset == kbc_on_reset && h.c.opaque == &h,
		   "a load changed the callbacks");
	kbc_op_check(&h);

	/* a data byte for whatever waits for one (controller, keyboard or mouse command) */
	i8042_write_data(&h.c, (uint8_t)(variant * 6));
	kbc_op_check(&h);
	kbc_drain(&h, 4);
	i8042_write_command(&h.c, 0xD4); /* to the mouse */
	i8042_write_data(&h.c, (uint8_t)(variant * 6 + 1));
	kbc_op_check(&h);
	kbc_drain(&h, 4);
	i8042_write_command(&h.c, 0x20); /* read the command byte */
	kbc_drain(&h, 2);
	i8042_write_command(&h.c, 0x60); /* write it: IRQs, translation as the variant says */
	i8042_write_data(&h.c, (uint8_t)(0x04 | (variant & 0x43) | (variant & 4 ? 0x30 : 0)));
	kbc_op_check(&h);
	i8042_write_data(&h.c, 0xF2); /* keyboard: identify */
	i8042_write_command(&h.c, 0xD4);
	i8042_write_data(&h.c, 0xF4); /* mouse: enable */
	kbc_op_check(&h);
	i8042_key_event(&h.c, true, 'a', 0);
	i8042_key_event(&h.c, false, 'a', 0);
	i8042_ptr_event(&h.c, (uint8_t)(variant & 7), 100 + variant, 200);
	i8042_ptr_event(&h.c, 0, 50, 300 + variant);
	kbc_op_check(&h);
	i8042_write_command(&h.c, 0xD3); /* as if from the mouse */
	i8042_write_data(&h.c, 0x5A);
	kbc_drain(&h, 2 * (PS2KBD_FIFO_SIZE + PS2MOUSE_FIFO_SIZE + I8042_CTLQ_SIZE));
	(void)i8042_read_data(&h.c); /* empty: the last byte again */
	kbc_op_check(&h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned pick = data[0] % 6, variant = data[0] / 6;
	data++;
	size--;
	switch (pick) {
	case 0:
		fuzz_kern(data, size);
		break;
	case 1:
		fuzz_meta(data, size);
		break;
	case 2:
		fuzz_vq(data, size, variant);
		break;
	case 3:
		fuzz_uart(data, size, variant);
		break;
	case 4:
		fuzz_rtc(data, size, variant);
		break;
	default:
		fuzz_i8042(data, size, variant);
		break;
	}
	return 0;
}
