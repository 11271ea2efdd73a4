/* SPDX-License-Identifier: BSD-2-Clause */
/* virtio-blk end to end without KVM: the -s option string through the emulation's parser, the
 * device created by the PCI bus on a fake VM, driven through BAR 0 as a Linux driver would
 * (feature negotiation, queue setup, doorbell writes that take the MMIO slow path), with
 * request chains built by hand in fake guest RAM and a temporary image file behind it.
 * Completions arrive on the VM's event loop, which the tests pump. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vm_harness.h"

#include "core/vm.h"
#include "pci/pci.h"
#include "virtio/virtio.h"

#define RAM_SIZE (8u << 20)
#define DISK_SIZE (1u << 20) /* 2048 sectors */
#define SLOT 4
#define QSIZE 256
#define DESC_GPA 0x10000
#define AVAIL_GPA 0x20000
#define USED_GPA 0x30000
#define IND_GPA 0x40000	 /* indirect tables, 256 bytes each */
#define HDR_GPA 0x100000 /* request headers, 16 bytes each */
#define STATUS_GPA 0x110000
#define DATA_GPA 0x200000

/* virtio-blk wire values (virtio 1.x 5.2) */
#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8
#define T_DISCARD 11
#define T_WRITE_ZEROES 13
#define S_OK 0
#define S_IOERR 1
#define S_UNSUPP 2
#define F_SEG_MAX (1ULL << 2)
#define F_RO (1ULL << 5)
#define F_BLK_SIZE (1ULL << 6)
#define F_FLUSH (1ULL << 9)
#define F_TOPOLOGY (1ULL << 10)
#define F_DISCARD (1ULL << 13)

struct env {
	struct vm *vm;
	uint8_t *ram;
	char path[64];
	uint64_t bar0;
	uint64_t offered;
	uint16_t next_desc, avail_idx, used_seen;
	unsigned nreq; /* request number: picks header/status slots */
};

struct seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

/* ---- a fake VM with the device at 0:4.0 ---- */

static void fill_pattern(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 13 + seed + (i >> 9) * 7);
}

/* The image: DISK_SIZE bytes of pattern, then a hole up to `size` bytes. */
static void make_disk(struct env *e, uint64_t size)
{
	strcpy(e->path, "/tmp/kb-vblk-XXXXXX");
	int fd = mkstemp(e->path);
	assert_true(fd >= 0);
	uint8_t *b = malloc(DISK_SIZE);
	fill_pattern(b, DISK_SIZE, 1);
	assert_int_equal(pwrite(fd, b, DISK_SIZE, 0), DISK_SIZE);
	free(b);
	if (size > DISK_SIZE)
		assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
}

/* Build the VM config from an -s conf string ("%s" stands for the image path) and create the PCI
 * devices, on an image of `disk_size` bytes. Returns pci_init_all's result; *out is set either
 * way. */
static int make_env_sized(const char *conf_fmt, uint64_t disk_size, struct env **out)
{
	struct env *e = calloc(1, sizeof(*e));
	make_disk(e, disk_size);
	e->vm = harness_vm_new();
	e->ram = calloc(1, RAM_SIZE);
	guestmem_init_from(&e->vm->mem, e->ram, RAM_SIZE, 0);
	char conf[512] = "";
	const char *at = strstr(conf_fmt, "%s");
	if (at)
		snprintf(conf, sizeof(conf), "%.*s%s%s", (int)(at - conf_fmt), conf_fmt, e->path,
			 at + 2);
	else
		snprintf(conf, sizeof(conf), "%s", conf_fmt);
	struct cfgnode *dev = config_node_create(e->vm->cfg, "pci.0.4.0");
	const struct pci_devemu *emu = pci_emul_find("virtio-blk");
	assert_non_null(emu);
	assert_int_equal(config_set(dev, "device", "virtio-blk"), 0);
	*out = e;
	int r = emu->legacy_config(dev, conf);
	if (r < 0)
		return r;
	return pci_init_all(e->vm);
}

static int make_env(const char *conf_fmt, struct env **out)
{
	return make_env_sized(conf_fmt, DISK_SIZE, out);
}

static void free_env(struct env *e)
{
	harness_vm_free(e->vm);
	unlink(e->path);
	free(e->ram);
	free(e);
}

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

/* The transport's layout: common config at 0, ISR 0x1000, device config 0x2000, doorbells
 * 0x3000 (checked against the capabilities once in test_identity). */
#define COMMON 0x0000
#define ISR 0x1000
#define DEVCFG 0x2000
#define NOTIFY 0x3000

static void map_bar(struct env *e)
{
	e->bar0 = cfgr(e, PCIR_BAR0, 4) & ~0xfULL;
	cfgw(e, PCIR_COMMAND, 2, 0x6);
}

static uint64_t read_offered(struct env *e)
{
	mw(e, COMMON + 0x00, 4, 1);
	uint64_t hi = mr(e, COMMON + 0x04, 4);
	mw(e, COMMON + 0x00, 4, 0);
	return hi << 32 | mr(e, COMMON + 0x04, 4);
}

/* Reset, negotiate `want` (VERSION_1 added), one queue of QSIZE, DRIVER_OK. */
static void driver_start(struct env *e, uint64_t want)
{
	mw(e, COMMON + 0x14, 1, 0);
	/* virtio 1.x 4.1.4.3.2: wait until status reads 0 (the device may still be finishing I/O)
	 */
	for (int i = 0; mr(e, COMMON + 0x14, 1) != 0; i++) {
		assert_true(i < 20000);
		usleep(1000);
	}
	mw(e, COMMON + 0x14, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	e->offered = read_offered(e);
	want |= VIRTIO_F_VERSION_1;
	mw(e, COMMON + 0x08, 4, 0);
	mw(e, COMMON + 0x0c, 4, (uint32_t)want);
	mw(e, COMMON + 0x08, 4, 1);
	mw(e, COMMON + 0x0c, 4, (uint32_t)(want >> 32));
	mw(e, COMMON + 0x14, 1,
	   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(mr(e, COMMON + 0x14, 1) & VIRTIO_STATUS_FEATURES_OK,
			 VIRTIO_STATUS_FEATURES_OK);
	memset(e->ram + DESC_GPA, 0, 16 * QSIZE);
	memset(e->ram + AVAIL_GPA, 0, 6 + 2 * QSIZE);
	memset(e->ram + USED_GPA, 0, 6 + 8 * QSIZE);
	e->next_desc = e->avail_idx = e->used_seen = 0;
	mw(e, COMMON + 0x16, 2, 0);
	assert_int_equal(mr(e, COMMON + 0x18, 2), QSIZE);
	mw(e, COMMON + 0x20, 8, DESC_GPA);
	mw(e, COMMON + 0x28, 8, AVAIL_GPA);
	mw(e, COMMON + 0x30, 8, USED_GPA);
	mw(e, COMMON + 0x1c, 2, 1);
	mw(e, COMMON + 0x14, 1,
	   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
	       VIRTIO_STATUS_DRIVER_OK);
}

static uint8_t dev_status(struct env *e)
{
	return (uint8_t)mr(e, COMMON + 0x14, 1);
}

/* ---- rings in guest memory ---- */

static void put16(uint64_t gpa, uint16_t v, struct env *e)
{
	memcpy(e->ram + gpa, &v, 2);
}
static uint16_t get16(struct env *e, uint64_t gpa)
{
	uint16_t v;
	memcpy(&v, e->ram + gpa, 2);
	return v;
}
static uint32_t get32(struct env *e, uint64_t gpa)
{
	uint32_t v;
	memcpy(&v, e->ram + gpa, 4);
	return v;
}

static void write_desc(struct env *e, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
		       uint16_t flags, uint16_t next)
{
	uint8_t *d = e->ram + table + 16 * (uint64_t)i;
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

/* Queue a chain of n segments (without kicking). Returns the head. */
static uint16_t add_chain(struct env *e, const struct seg *s, unsigned n)
{
	uint16_t head = e->next_desc;
	for (unsigned i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((head + i) % QSIZE);
		uint16_t flags = (uint16_t)((s[i].write ? VRING_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VRING_DESC_F_NEXT : 0));
		write_desc(e, DESC_GPA, idx, s[i].gpa, s[i].len, flags,
			   (uint16_t)((idx + 1) % QSIZE));
	}
	e->next_desc = (uint16_t)((head + n) % QSIZE);
	put16(AVAIL_GPA + 4 + 2 * (uint64_t)(e->avail_idx % QSIZE), head, e);
	e->avail_idx++;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	put16(AVAIL_GPA + 2, e->avail_idx, e);
	return head;
}

/* Queue a chain as one indirect descriptor whose table lives at IND_GPA + 256 * slot. */
static uint16_t add_indirect(struct env *e, const struct seg *s, unsigned n, unsigned slot)
{
	uint64_t table = IND_GPA + 256 * (uint64_t)slot;
	for (unsigned i = 0; i < n; i++)
		write_desc(e, table, i, s[i].gpa, s[i].len,
			   (uint16_t)((s[i].write ? VRING_DESC_F_WRITE : 0) |
				      (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
			   (uint16_t)(i + 1));
	struct seg ind = {table, 16 * n, false};
	uint16_t head = e->next_desc;
	write_desc(e, DESC_GPA, head, ind.gpa, ind.len, VRING_DESC_F_INDIRECT, 0);
	e->next_desc = (uint16_t)((head + 1) % QSIZE);
	put16(AVAIL_GPA + 4 + 2 * (uint64_t)(e->avail_idx % QSIZE), head, e);
	e->avail_idx++;
	put16(AVAIL_GPA + 2, e->avail_idx, e);
	return head;
}

static void kick(struct env *e)
{
	mw(e, NOTIFY, 2, 0);
}

static uint16_t used_idx(struct env *e)
{
	return get16(e, USED_GPA + 2);
}

struct pump {
	struct env *e;
	uint16_t want;
	int ticks;
};

static void pump_tick(void *opaque)
{
	struct pump *p = opaque;
	if ((uint16_t)(used_idx(p->e) - p->e->used_seen) >= p->want)
		evloop_stop(p->e->vm->ev, 0);
	else if (++p->ticks > 5000)
		evloop_stop(p->e->vm->ev, -1);
}

/* Run the event loop until `n` more used entries appeared (5 s at most). */
static void wait_used(struct env *e, uint16_t n)
{
	struct pump p = {e, n, 0};
	if ((uint16_t)(used_idx(e) - e->used_seen) < n) {
		struct evloop_handle *t = evloop_add_timer(e->vm->ev, 1, 1, pump_tick, &p);
		assert_int_equal(evloop_run(e->vm->ev), 0);
		evloop_del(e->vm->ev, t);
	}
	assert_int_equal((uint16_t)(used_idx(e) - e->used_seen), n);
}

/* Let the loop run for `ms` whatever happens. */
static void pump_for(struct env *e, unsigned ms)
{
	struct pump p = {e, 0xffff, 0};
	p.ticks = 5001 - (int)ms;
	struct evloop_handle *t = evloop_add_timer(e->vm->ev, 1, 1, pump_tick, &p);
	evloop_run(e->vm->ev);
	evloop_del(e->vm->ev, t);
}

/* The k-th used entry since the last take_used(): id and len. */
static void used_entry(struct env *e, unsigned k, uint32_t *id, uint32_t *len)
{
	uint64_t at = USED_GPA + 4 + 8 * (uint64_t)((e->used_seen + k) % QSIZE);
	*id = get32(e, at);
	*len = get32(e, at + 4);
}

static void take_used(struct env *e, uint16_t n)
{
	e->used_seen = (uint16_t)(e->used_seen + n);
}

/* ---- one request ---- */

static uint64_t put_hdr(struct env *e, uint32_t type, uint64_t sector)
{
	uint64_t gpa = HDR_GPA + 16 * (uint64_t)(e->nreq % 256);
	uint8_t *h = e->ram + gpa;
	memcpy(h, &type, 4);
	memset(h + 4, 0, 4);
	memcpy(h + 8, &sector, 8);
	return gpa;
}

static uint64_t status_gpa(struct env *e)
{
	return STATUS_GPA + (uint64_t)(e->nreq % 256);
}

/* Submit header + data segment (readable for OUT, writable otherwise) + status, wait for it and
 * return the status byte; *used_len gets the length the device reported. */
static uint8_t do_request(struct env *e, uint32_t type, uint64_t sector, uint64_t data_gpa,
			  uint32_t data_len, bool data_write, uint32_t *used_len)
{
	e->nreq++;
	uint64_t st = status_gpa(e);
	e->ram[st] = 0xee;
	struct seg s[3] = {{put_hdr(e, type, sector), 16, false}};
	unsigned n = 1;
	if (data_len)
		s[n++] = (struct seg){data_gpa, data_len, data_write};
	s[n++] = (struct seg){st, 1, true};
	uint16_t head = add_chain(e, s, n);
	kick(e);
	wait_used(e, 1);
	uint32_t id, len;
	used_entry(e, 0, &id, &len);
	take_used(e, 1);
	assert_int_equal(id, head);
	if (used_len)
		*used_len = len;
	return e->ram[st];
}

static void file_read(struct env *e, void *buf, size_t n, off_t off)
{
	int fd = open(e->path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, n, off), (ssize_t)n);
	close(fd);
}

/* ---- configuration strings ---- */

static void test_config_good(void **state)
{
	struct env *e;
	assert_int_equal(make_env("%s,ro,sectorsize=4096/16384,ser=DISK-01,nocache,direct", &e), 0);
	struct cfgnode *dev = config_node(e->vm->cfg, "pci.0.4.0");
	assert_string_equal(config_get(dev, "path"), e->path);
	assert_string_equal(config_get(dev, "ro"), "true");
	assert_string_equal(config_get(dev, "sectorsize"), "4096/16384");
	assert_string_equal(config_get(dev, "ser"), "DISK-01");
	assert_non_null(pci_find_dev(e->vm, 0, SLOT, 0));
	free_env(e);

	/* path= spelled out; a 20-character serial is the maximum */
	assert_int_equal(make_env("path=%s,ser=ABCDEFGHIJ0123456789,nodelete,bootindex=1", &e), 0);
	assert_string_equal(config_get(config_node(e->vm->cfg, "pci.0.4.0"), "path"), e->path);
	free_env(e);
}

static void test_config_bad(void **state)
{
	static const char *const bad[] = {
	    "%s,sectorsize=1000",
	    "%s,sectorsize=4096/512",
	    "%s,ser=ABCDEFGHIJ0123456789X", /* 21 characters */
	    "%s,nocahce",		    /* unknown option */
	    "%s,ro=perhaps",
	    "ro,nocache", /* path "ro" does not exist */
	    "/nonexistent/kb-disk.img",
	    "",		 /* no path */
	    "ser=X",	 /* no path */
	    "/dev/null", /* not a disk */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct env *e;
		int r = make_env(bad[i], &e);
		if (r == 0)
			fail_msg("'%s' was accepted", bad[i]);
		free_env(e);
	}
	/* an empty first field is refused by the option parser already */
	struct env *e;
	assert_int_equal(make_env(",ro", &e), -EINVAL);
	free_env(e);
}

/* ---- identity and configuration space ---- */

static void test_identity_and_config(void **state)
{
	struct env *e;
	assert_int_equal(make_env("%s,sectorsize=512/4096", &e), 0);
	map_bar(e);
	assert_int_equal(cfgr(e, 0, 4), (0x1040u + VIRTIO_ID_BLOCK) << 16 | 0x1af4);
	assert_int_equal(cfgr(e, 0x08, 4) >> 8, 0x018000);
	/* the capabilities put the structures where the tests expect them */
	unsigned found = 0;
	for (unsigned p = cfgr(e, PCIR_CAP_PTR, 1); p; p = cfgr(e, p + 1, 1)) {
		if (cfgr(e, p, 1) != 0x09)
			continue;
		unsigned type = cfgr(e, p + 3, 1), off = cfgr(e, p + 8, 4);
		static const unsigned want[] = {0, COMMON, NOTIFY, ISR, DEVCFG};
		if (type >= 1 && type <= 4) {
			assert_int_equal(off, want[type]);
			found |= 1u << type;
		}
		if (type == 4)
			assert_true(cfgr(e, p + 12, 4) >= 48);
	}
	assert_int_equal(found, 0x1e);

	uint64_t f = read_offered(e);
	assert_true(f & F_SEG_MAX);
	assert_true(f & (1ULL << 1)); /* SIZE_MAX */
	assert_true(f & F_BLK_SIZE);
	assert_true(f & F_TOPOLOGY);
	assert_true(f & F_FLUSH);
	assert_true(f & F_DISCARD); /* a file on a file system with holes */
	assert_false(f & F_RO);
	assert_true(f & VIRTIO_F_VERSION_1);

	assert_int_equal(mr(e, DEVCFG + 0, 8), DISK_SIZE / 512); /* capacity */
	assert_int_equal(mr(e, DEVCFG + 8, 4), 128 * 1024);	 /* size_max */
	assert_int_equal(mr(e, DEVCFG + 12, 4), QSIZE - 2);	 /* seg_max */
	assert_int_equal(mr(e, DEVCFG + 20, 4), 512);		 /* blk_size */
	assert_int_equal(mr(e, DEVCFG + 24, 1), 3);		 /* 4096 = 512 << 3 */
	assert_int_equal(mr(e, DEVCFG + 25, 1), 0);
	assert_int_equal(mr(e, DEVCFG + 26, 2), 8);  /* min_io_size in blocks */
	assert_true(mr(e, DEVCFG + 36, 4) > 0);	     /* max_discard_sectors */
	assert_int_equal(mr(e, DEVCFG + 40, 4), 32); /* max_discard_seg */
	assert_int_equal(mr(e, DEVCFG + 44, 4), 1);  /* discard_sector_alignment */
	/* the guest cannot change the configuration */
	mw(e, DEVCFG + 0, 4, 0x12345678);
	mw(e, DEVCFG + 20, 1, 0xff);
	assert_int_equal(mr(e, DEVCFG + 0, 8), DISK_SIZE / 512);
	assert_int_equal(mr(e, DEVCFG + 20, 4), 512);
	free_env(e);

	/* ro: RO offered, no discard; nodelete: no discard; sectorsize 4096 */
	assert_int_equal(make_env("%s,ro,sectorsize=4096", &e), 0);
	map_bar(e);
	f = read_offered(e);
	assert_true(f & F_RO);
	assert_false(f & F_DISCARD);
	assert_int_equal(mr(e, DEVCFG + 20, 4), 4096);
	assert_int_equal(mr(e, DEVCFG + 24, 1), 0);
	assert_int_equal(mr(e, DEVCFG + 36, 4), 0);
	free_env(e);
	assert_int_equal(make_env("%s,nodelete", &e), 0);
	map_bar(e);
	assert_false(read_offered(e) & F_DISCARD);
	free_env(e);
}

/* ---- requests ---- */

static int setup_rw(void **state)
{
	struct env *e;
	assert_int_equal(make_env("%s,ser=SERIAL-0042", &e), 0);
	map_bar(e);
	driver_start(e, F_SEG_MAX | F_BLK_SIZE | F_FLUSH | F_TOPOLOGY | F_DISCARD |
			    VIRTIO_RING_F_INDIRECT_DESC);
	*state = e;
	return 0;
}

static int teardown_env(void **state)
{
	free_env(*state);
	return 0;
}

static void test_write_read(void **state)
{
	struct env *e = *state;
	uint8_t *data = e->ram + DATA_GPA;
	fill_pattern(data, 4096, 55);
	uint32_t len;
	/* OUT: 8 sectors at sector 10 with the data in two descriptors */
	e->nreq++;
	uint64_t st = status_gpa(e);
	struct seg w[4] = {{put_hdr(e, T_OUT, 10), 16, false},
			   {DATA_GPA, 1000, false},
			   {DATA_GPA + 1000, 3096, false},
			   {st, 1, true}};
	uint16_t head = add_chain(e, w, 4);
	kick(e);
	wait_used(e, 1);
	uint32_t id;
	used_entry(e, 0, &id, &len);
	take_used(e, 1);
	assert_int_equal(id, head);
	assert_int_equal(len, 1);
	assert_int_equal(e->ram[st], S_OK);
	uint8_t file[4096];
	file_read(e, file, 4096, 10 * 512);
	assert_memory_equal(file, data, 4096);
	assert_true(mr(e, ISR, 1) & 1); /* queue interrupt (INTx: no MSI-X enabled) */

	/* IN back into another buffer; the device reports data + status bytes */
	memset(e->ram + DATA_GPA + 0x10000, 0, 4096);
	assert_int_equal(do_request(e, T_IN, 10, DATA_GPA + 0x10000, 4096, true, &len), S_OK);
	assert_int_equal(len, 4097);
	assert_memory_equal(e->ram + DATA_GPA + 0x10000, data, 4096);

	/* header and data in one readable descriptor, data and status in one writable one */
	e->nreq++;
	uint64_t h = put_hdr(e, T_IN, 0);
	memcpy(e->ram + DATA_GPA + 0x20000, e->ram + h, 16);
	struct seg one[2] = {{DATA_GPA + 0x20000, 16, false}, {DATA_GPA + 0x30000, 513, true}};
	add_chain(e, one, 2);
	kick(e);
	wait_used(e, 1);
	used_entry(e, 0, &id, &len);
	take_used(e, 1);
	assert_int_equal(len, 513);
	assert_int_equal(e->ram[DATA_GPA + 0x30000 + 512], S_OK);
	uint8_t expect[512];
	fill_pattern(expect, 512, 1);
	assert_memory_equal(e->ram + DATA_GPA + 0x30000, expect, 512);

	/* the last sector is readable, one past it is not */
	assert_int_equal(do_request(e, T_IN, DISK_SIZE / 512 - 1, DATA_GPA, 512, true, NULL), S_OK);
	assert_int_equal(do_request(e, T_IN, DISK_SIZE / 512 - 1, DATA_GPA, 1024, true, NULL),
			 S_IOERR);
	assert_int_equal(do_request(e, T_IN, DISK_SIZE / 512, DATA_GPA, 512, true, NULL), S_IOERR);
	/* overflow: sector * 512 wraps */
	assert_int_equal(do_request(e, T_IN, UINT64_MAX / 256, DATA_GPA, 512, true, NULL), S_IOERR);
	assert_int_equal(do_request(e, T_OUT, UINT64_MAX, DATA_GPA, 512, false, NULL), S_IOERR);
	/* not a multiple of 512 */
	assert_int_equal(do_request(e, T_IN, 0, DATA_GPA, 511, true, &len), S_IOERR);
	assert_int_equal(len, 1);
	assert_int_equal(do_request(e, T_OUT, 0, DATA_GPA, 1000, false, NULL), S_IOERR);
	/* zero-length data is fine */
	assert_int_equal(do_request(e, T_IN, 0, 0, 0, true, &len), S_OK);
	assert_int_equal(len, 1);
	/* data in the wrong direction */
	assert_int_equal(do_request(e, T_IN, 0, DATA_GPA, 512, false, NULL), S_IOERR);
	assert_int_equal(do_request(e, T_OUT, 0, DATA_GPA, 512, true, NULL), S_IOERR);
	/* nothing above touched the file outside sectors 10..17 */
	uint8_t *all = malloc(DISK_SIZE), *orig = malloc(DISK_SIZE);
	file_read(e, all, DISK_SIZE, 0);
	fill_pattern(orig, DISK_SIZE, 1);
	assert_memory_equal(all, orig, 10 * 512);
	assert_memory_equal(all + 18 * 512, orig + 18 * 512, DISK_SIZE - 18 * 512);
	free(all);
	free(orig);
	assert_int_equal(dev_status(e) & VIRTIO_STATUS_NEEDS_RESET, 0);
}

static void test_flush_getid_unsupported(void **state)
{
	struct env *e = *state;
	uint32_t len;
	assert_int_equal(do_request(e, T_FLUSH, 0, 0, 0, true, &len), S_OK);
	assert_int_equal(len, 1);
	/* a flush with data is malformed for the device */
	assert_int_equal(do_request(e, T_FLUSH, 0, DATA_GPA, 512, true, NULL), S_IOERR);

	memset(e->ram + DATA_GPA, 0xcc, 32);
	assert_int_equal(do_request(e, T_GET_ID, 0, DATA_GPA, 20, true, &len), S_OK);
	assert_int_equal(len, 21);
	assert_memory_equal(e->ram + DATA_GPA, "SERIAL-0042\0\0\0\0\0\0\0\0\0", 20);
	/* a short buffer gets what fits */
	memset(e->ram + DATA_GPA, 0xcc, 32);
	assert_int_equal(do_request(e, T_GET_ID, 0, DATA_GPA, 6, true, &len), S_OK);
	assert_int_equal(len, 7);
	assert_memory_equal(e->ram + DATA_GPA, "SERIAL", 6);
	assert_int_equal(e->ram[DATA_GPA + 6], 0xcc);

	assert_int_equal(do_request(e, 99, 0, DATA_GPA, 512, true, &len), S_UNSUPP);
	assert_int_equal(len, 1);
	assert_int_equal(do_request(e, T_WRITE_ZEROES, 0, DATA_GPA, 16, false, NULL), S_UNSUPP);
	assert_int_equal(dev_status(e) & VIRTIO_STATUS_NEEDS_RESET, 0);
}

static void test_default_serial(void **state)
{
	struct env *e;
	assert_int_equal(make_env("%s", &e), 0);
	map_bar(e);
	driver_start(e, F_FLUSH);
	memset(e->ram + DATA_GPA, 0, 32);
	uint32_t len;
	assert_int_equal(do_request(e, T_GET_ID, 0, DATA_GPA, 20, true, &len), S_OK);
	assert_int_equal(len, 21);
	const char *id = (const char *)e->ram + DATA_GPA;
	assert_int_equal(strnlen(id, 20), 20); /* "BHYVE-XXXX-XXXX-XXXX", no NUL */
	assert_memory_equal(id, "BHYVE-", 6);
	assert_int_equal(id[10], '-');
	assert_int_equal(id[15], '-');
	free_env(e);
}

static void put_discard_seg(struct env *e, uint64_t gpa, uint64_t sector, uint32_t n,
			    uint32_t flags)
{
	memcpy(e->ram + gpa, &sector, 8);
	memcpy(e->ram + gpa + 8, &n, 4);
	memcpy(e->ram + gpa + 12, &flags, 4);
}

static blkcnt_t file_blocks(struct env *e)
{
	struct stat st;
	assert_int_equal(stat(e->path, &st), 0);
	return st.st_blocks;
}

static void test_discard(void **state)
{
	struct env *e = *state;
	int fd = open(e->path, O_RDONLY);
	blkcnt_t before = file_blocks(e);
	/* three segments: 64 KiB at 128 KiB, 64 KiB at 512 KiB, and an empty one */
	put_discard_seg(e, DATA_GPA, 256, 128, 0);
	put_discard_seg(e, DATA_GPA + 16, 1024, 128, 0);
	put_discard_seg(e, DATA_GPA + 32, 0, 0, 0);
	uint32_t len;
	assert_int_equal(do_request(e, T_DISCARD, 0, DATA_GPA, 48, false, &len), S_OK);
	assert_int_equal(len, 1);
	assert_true(file_blocks(e) <= before - 2 * 128);
	assert_int_equal(lseek(fd, 0, SEEK_HOLE), 128 * 1024);
	assert_int_equal(lseek(fd, 128 * 1024, SEEK_DATA), 192 * 1024);
	assert_int_equal(lseek(fd, 192 * 1024, SEEK_HOLE), 512 * 1024);
	close(fd);
	/* reads of the range give zeros */
	memset(e->ram + DATA_GPA + 0x1000, 0xcc, 512);
	assert_int_equal(do_request(e, T_IN, 300, DATA_GPA + 0x1000, 512, true, NULL), S_OK);
	for (int i = 0; i < 512; i++)
		assert_int_equal(e->ram[DATA_GPA + 0x1000 + i], 0);

	/* the unmap flag (WRITE_ZEROES only) and unknown flags: UNSUPP */
	put_discard_seg(e, DATA_GPA, 0, 8, 1);
	assert_int_equal(do_request(e, T_DISCARD, 0, DATA_GPA, 16, false, NULL), S_UNSUPP);
	put_discard_seg(e, DATA_GPA, 0, 8, 0x80);
	assert_int_equal(do_request(e, T_DISCARD, 0, DATA_GPA, 16, false, NULL), S_UNSUPP);
	/* out of range, overflowing, too many segments, a partial segment, no segment */
	put_discard_seg(e, DATA_GPA, DISK_SIZE / 512 - 4, 8, 0);
	assert_int_equal(do_request(e, T_DISCARD, 0, DATA_GPA, 16, false, NULL), S_IOERR);
	put_discard_seg(e, DATA_GPA, UINT64_MAX - 2, 8, 0);
	assert_int_equal(do_request(e, T_DISCARD, 0, DATA_GPA, 16, false, NULL), S_IOERR);
	for (int i = 0; i < 33; i++)
		put_discard_seg(e, DATA_GPA + 16 * (uint64_t)i, (uint64_t)i * 8, 8, 0);
	assert_int_equal(do_request(e, T_DISCARD, 0, DATA_GPA, 33 * 16, false, NULL), S_IOERR);
	assert_int_equal(do_request(e, T_DISCARD, 0, DATA_GPA, 24, false, NULL), S_IOERR);
	assert_int_equal(do_request(e, T_DISCARD, 0, 0, 0, false, NULL), S_IOERR);
	/* none of the refused discards punched anything */
	fd = open(e->path, O_RDONLY);
	assert_int_equal(lseek(fd, 0, SEEK_HOLE), 128 * 1024);
	close(fd);
	assert_int_equal(dev_status(e) & VIRTIO_STATUS_NEEDS_RESET, 0);
}

static void test_discard_not_negotiated(void **state)
{
	struct env *e;
	assert_int_equal(make_env("%s", &e), 0);
	map_bar(e);
	driver_start(e, F_FLUSH); /* the driver did not take DISCARD */
	put_discard_seg(e, DATA_GPA, 0, 8, 0);
	assert_int_equal(do_request(e, T_DISCARD, 0, DATA_GPA, 16, false, NULL), S_UNSUPP);
	free_env(e);
	assert_int_equal(make_env("%s,nodelete", &e), 0);
	map_bar(e);
	driver_start(e, F_FLUSH);
	assert_int_equal(do_request(e, T_DISCARD, 0, DATA_GPA, 16, false, NULL), S_UNSUPP);
	free_env(e);
}

static void test_readonly(void **state)
{
	struct env *e;
	assert_int_equal(make_env("%s,ro", &e), 0);
	map_bar(e);
	driver_start(e, F_FLUSH | F_RO);
	memset(e->ram + DATA_GPA, 0x77, 512);
	assert_int_equal(do_request(e, T_OUT, 0, DATA_GPA, 512, false, NULL), S_IOERR);
	assert_int_equal(do_request(e, T_IN, 1, DATA_GPA, 512, true, NULL), S_OK);
	uint8_t expect[1024], file[512];
	fill_pattern(expect, sizeof(expect), 1);
	assert_memory_equal(e->ram + DATA_GPA, expect + 512, 512);
	file_read(e, file, 512, 0);
	assert_memory_equal(file, expect, 512);
	assert_int_equal(do_request(e, T_FLUSH, 0, 0, 0, true, NULL), S_OK);
	free_env(e);
}

/* Without FLUSH negotiated the device is write-through; writes still work. */
static void test_write_through(void **state)
{
	struct env *e;
	assert_int_equal(make_env("%s", &e), 0);
	map_bar(e);
	driver_start(e, 0);
	fill_pattern(e->ram + DATA_GPA, 1024, 3);
	assert_int_equal(do_request(e, T_OUT, 100, DATA_GPA, 1024, false, NULL), S_OK);
	uint8_t file[1024];
	file_read(e, file, 1024, 100 * 512);
	assert_memory_equal(file, e->ram + DATA_GPA, 1024);
	free_env(e);
}

/* More requests than the backend takes at once (250 > BLOCKIF_MAX_INFLIGHT), as indirect
 * chains: the device stalls, resumes on completions, and answers every one exactly once. */
static void test_many_in_flight(void **state)
{
	struct env *e = *state;
	enum { N = 250 };
	uint16_t heads[N];
	for (unsigned i = 0; i < N; i++) {
		e->nreq = i;
		uint64_t st = status_gpa(e);
		e->ram[st] = 0xee;
		struct seg s[3] = {{put_hdr(e, T_IN, (uint64_t)i * 8), 16, false},
				   {DATA_GPA + 4096 * (uint64_t)i, 4096, true},
				   {st, 1, true}};
		heads[i] = add_indirect(e, s, 3, i);
	}
	kick(e);
	wait_used(e, N);
	bool seen[QSIZE] = {false};
	for (unsigned k = 0; k < N; k++) {
		uint32_t id, len;
		used_entry(e, k, &id, &len);
		assert_true(id < QSIZE);
		assert_false(seen[id]);
		seen[id] = true;
		assert_int_equal(len, 4097);
	}
	take_used(e, N);
	uint8_t *orig = malloc(DISK_SIZE);
	fill_pattern(orig, DISK_SIZE, 1);
	for (unsigned i = 0; i < N; i++) {
		assert_true(seen[heads[i]]);
		e->nreq = i;
		assert_int_equal(e->ram[status_gpa(e)], S_OK);
		assert_memory_equal(e->ram + DATA_GPA + 4096 * (uint64_t)i,
				    orig + 4096 * (uint64_t)i, 4096);
	}
	free(orig);
}

/* Chains the device cannot parse stop it until the driver resets it. */
static void test_malformed_needs_reset(void **state)
{
	struct env *e = *state;
	/* a header of 8 bytes */
	struct seg s[2] = {{HDR_GPA, 8, false}, {STATUS_GPA, 1, true}};
	add_chain(e, s, 2);
	kick(e);
	assert_true(dev_status(e) & VIRTIO_STATUS_NEEDS_RESET);
	/* nothing more is processed */
	uint16_t before = used_idx(e);
	assert_int_equal(before, e->used_seen);
	struct seg f[2] = {{put_hdr(e, T_FLUSH, 0), 16, false}, {STATUS_GPA, 1, true}};
	add_chain(e, f, 2);
	kick(e);
	pump_for(e, 20);
	assert_int_equal(used_idx(e), before);

	/* after a reset the device works again; a chain without a status byte stops it */
	driver_start(e, F_FLUSH);
	assert_int_equal(dev_status(e) & VIRTIO_STATUS_NEEDS_RESET, 0);
	assert_int_equal(do_request(e, T_FLUSH, 0, 0, 0, true, NULL), S_OK);
	struct seg nostatus[1] = {{put_hdr(e, T_FLUSH, 0), 16, false}};
	add_chain(e, nostatus, 1);
	kick(e);
	assert_true(dev_status(e) & VIRTIO_STATUS_NEEDS_RESET);

	/* a head index out of range (the virtqueue layer refuses it) */
	driver_start(e, F_FLUSH);
	put16(AVAIL_GPA + 4, 999, e);
	put16(AVAIL_GPA + 2, 1, e);
	kick(e);
	assert_true(dev_status(e) & VIRTIO_STATUS_NEEDS_RESET);
}

/* Requests in flight at reset: their completions must not land in the new queue. */
static void test_reset_with_requests_in_flight(void **state)
{
	struct env *e = *state;
	for (unsigned i = 0; i < 64; i++) {
		e->nreq = i;
		e->ram[status_gpa(e)] = 0xee;
		struct seg s[3] = {{put_hdr(e, T_IN, (uint64_t)i * 8), 16, false},
				   {DATA_GPA + 4096 * (uint64_t)i, 4096, true},
				   {status_gpa(e), 1, true}};
		add_indirect(e, s, 3, i);
	}
	kick(e);
	/* reset before the loop delivered anything, then set the queue up again at once */
	driver_start(e, F_FLUSH | F_DISCARD);
	assert_int_equal(used_idx(e), 0);
	pump_for(e, 100); /* the old completions arrive and are dropped */
	assert_int_equal(used_idx(e), 0);
	for (unsigned i = 0; i < 64; i++) {
		e->nreq = i;
		assert_int_equal(e->ram[status_gpa(e)], 0xee); /* no status written after reset */
	}
	e->nreq = 100;
	/* the new queue works, and its first used entry is the new request */
	uint32_t len;
	assert_int_equal(do_request(e, T_GET_ID, 0, DATA_GPA, 20, true, &len), S_OK);
	assert_int_equal(used_idx(e), 1);
	assert_int_equal(do_request(e, T_IN, 0, DATA_GPA, 512, true, &len), S_OK);
	assert_int_equal(len, 513);
}

/* ---- budgets: what one doorbell may cost the event loop ---- */

#define BIG_DISK (2300ull << 20) /* sparse: 1 MiB of data, then a hole */
#define BIG_BUF_GPA 0x600000ull	 /* one 2 MiB buffer every big request points at */
#define BIG_BUF_LEN (2u << 20)
#define BIG_IND_GPA 0x400000ull	 /* indirect tables, 16 KiB each */
#define SEG_MAX_SEGS (QSIZE - 2) /* advertised seg_max */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Queue request i as one indirect table: header (IN at `sector`), `nseg` writable segments of
 * `seglen` bytes all pointing at the same guest buffer, status. Tables hold 1024 entries. */
static void add_big_read(struct env *e, unsigned i, uint64_t sector, unsigned nseg, uint32_t seglen)
{
	e->nreq = i;
	uint64_t table = BIG_IND_GPA + 16384ull * i;
	assert_true(nseg + 2 <= 1024 && table + 16384 <= BIG_BUF_GPA);
	uint64_t st = status_gpa(e);
	e->ram[st] = 0xee;
	write_desc(e, table, 0, put_hdr(e, T_IN, sector), 16, VRING_DESC_F_NEXT, 1);
	for (unsigned k = 0; k < nseg; k++)
		write_desc(e, table, k + 1, BIG_BUF_GPA, seglen,
			   VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, (uint16_t)(k + 2));
	write_desc(e, table, nseg + 1, st, 1, VRING_DESC_F_WRITE, 0);
	uint16_t head = e->next_desc;
	write_desc(e, DESC_GPA, head, table, 16 * (nseg + 2), VRING_DESC_F_INDIRECT, 0);
	e->next_desc = (uint16_t)((head + 1) % QSIZE);
	put16(AVAIL_GPA + 4 + 2 * (uint64_t)(e->avail_idx % QSIZE), head, e);
	e->avail_idx++;
}

static void publish_avail(struct env *e)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	put16(AVAIL_GPA + 2, e->avail_idx, e);
}

/* The largest request the device takes: size_max * seg_max bytes of data. */
static uint64_t max_request_bytes(struct env *e)
{
	uint64_t size_max = mr(e, DEVCFG + 8, 4), seg_max = mr(e, DEVCFG + 12, 4);
	return size_max * seg_max;
}

static int setup_big(void **state)
{
	struct env *e;
	assert_int_equal(make_env_sized("%s", BIG_DISK, &e), 0);
	map_bar(e);
	uint64_t want = F_SEG_MAX | F_BLK_SIZE | F_FLUSH | VIRTIO_RING_F_INDIRECT_DESC |
			(1ULL << 1) /* SIZE_MAX */;
	driver_start(e, want & read_offered(e));
	*state = e;
	return 0;
}

/* The review's recipe: reads of ~2 GiB each (1022 descriptors of 2 MiB on one guest buffer).
 * The device advertises SIZE_MAX and SEG_MAX, and a request over size_max * seg_max bytes gets
 * IOERR at once, without costing the event loop the copy. */
static void test_oversized_requests_refused(void **state)
{
	struct env *e = *state;
	enum { N = 16 };
	for (unsigned i = 0; i < N; i++)
		add_big_read(e, i, 2048 + (uint64_t)i * 8, 1022, BIG_BUF_LEN);
	publish_avail(e);
	double t0 = now_s();
	kick(e);
	double kick_s = now_s() - t0;
	print_message("16 reads of 2044 MiB: the kick took %.3f s\n", kick_s);
	wait_used(e, N);
	assert_true(kick_s < 0.5);
	for (unsigned i = 0; i < N; i++) {
		e->nreq = i;
		assert_int_equal(e->ram[status_gpa(e)], S_IOERR);
	}
	take_used(e, N);
	assert_int_equal(dev_status(e) & VIRTIO_STATUS_NEEDS_RESET, 0);
	assert_true(read_offered(e) & (1ULL << 1)); /* SIZE_MAX offered */
	uint64_t max = max_request_bytes(e);
	assert_true(max >= (1u << 20) && max <= (64u << 20));

	/* the limit itself is served, one segment more is refused */
	uint32_t seglen = (uint32_t)(max / 127);
	assert_int_equal((uint64_t)seglen * 127, max);
	add_big_read(e, 20, 0, 127, seglen);
	add_big_read(e, 21, 0, 128, seglen);
	publish_avail(e);
	kick(e);
	wait_used(e, 2);
	e->nreq = 20;
	assert_int_equal(e->ram[status_gpa(e)], S_OK);
	e->nreq = 21;
	assert_int_equal(e->ram[status_gpa(e)], S_IOERR);
	take_used(e, 2);
}

struct probe {
	double last, worst;
	struct env *e;
	uint16_t want;
};

static void probe_tick(void *opaque)
{
	struct probe *p = opaque;
	double t = now_s();
	if (t - p->last > p->worst)
		p->worst = t - p->last;
	p->last = t;
	if ((uint16_t)(used_idx(p->e) - p->e->used_seen) >= p->want)
		evloop_stop(p->e->vm->ev, 0);
}

/* 128 of the largest requests the device takes (4 GiB of reads in all, cached): the doorbell
 * returns at once and another event on the loop (a 5 ms timer) keeps being served while they
 * complete; the worst gap between its runs is the event-loop stall the guest caused. (Before
 * the budgets, the copies ran inside the doorbell: about 0.35 s here.) */
static void test_large_reads_keep_loop_responsive(void **state)
{
	struct env *e = *state;
	uint64_t max = max_request_bytes(e);
	if (max == 0)
		max =
		    SEG_MAX_SEGS * (128u << 10); /* no SIZE_MAX advertised: what we would cap at */
	unsigned n = 128;			 /* as many as the backend takes at once: 4 GiB */
	unsigned nseg = SEG_MAX_SEGS;
	uint32_t seglen = (uint32_t)(max / nseg);
	for (unsigned i = 0; i < n; i++)
		add_big_read(e, i, 2048 + (uint64_t)i * 8, nseg, seglen);
	publish_avail(e);
	struct probe p = {now_s(), 0, e, (uint16_t)n};
	double t0 = now_s();
	kick(e);
	double kick_s = now_s() - t0;
	struct evloop_handle *t = evloop_add_timer(e->vm->ev, 5, 5, probe_tick, &p);
	p.last = now_s();
	assert_int_equal(evloop_run(e->vm->ev), 0);
	evloop_del(e->vm->ev, t);
	double total_s = now_s() - t0;
	print_message("%u reads of %llu bytes: kick %.3f s, worst loop stall %.3f s, all done in "
		      "%.2f s\n",
		      n, (unsigned long long)max, kick_s, p.worst, total_s);
	for (unsigned i = 0; i < n; i++) {
		e->nreq = i;
		assert_int_equal(e->ram[status_gpa(e)], S_OK);
	}
	take_used(e, (uint16_t)n);
	assert_true(kick_s < 0.2);
	assert_true(p.worst < 0.2);
}

/* A reset while gigabytes of reads are in flight: the status write returns at once (the vCPU and
 * the event loop do not wait for the disk), status reads non-zero until the device no longer
 * touches guest memory, and once it reads 0 nothing writes into the old buffers any more. */
static void test_reset_does_not_wait_for_io(void **state)
{
	struct env *e = *state;
	uint64_t max = max_request_bytes(e);
	unsigned n = 128, nseg = SEG_MAX_SEGS;
	for (unsigned i = 0; i < n; i++)
		add_big_read(e, i, 2048 + (uint64_t)i * 8, nseg, (uint32_t)(max / nseg));
	publish_avail(e);
	kick(e);
	double t0 = now_s();
	mw(e, COMMON + 0x14, 1, 0);
	double reset_s = now_s() - t0;
	uint8_t first = dev_status(e);
	unsigned polls = 1;
	while (dev_status(e) != 0) {
		assert_true(now_s() - t0 < 20);
		polls++;
		usleep(1000);
	}
	double quiet_s = now_s() - t0;
	print_message("reset with %u x %llu bytes in flight: the write took %.3f s, status read "
		      "non-zero %u times (%#x first), quiescent after %.3f s\n",
		      n, (unsigned long long)max, reset_s, polls - 1, first, quiet_s);
	assert_true(reset_s < 0.05);
	assert_int_not_equal(first, 0); /* the reads were still running: not reset yet */
	/* nothing in flight any more: the old buffer stays as the driver leaves it */
	memset(e->ram + BIG_BUF_GPA, 0xaa, BIG_BUF_LEN);
	pump_for(e, 100);
	for (uint32_t i = 0; i < BIG_BUF_LEN; i += 4096)
		assert_int_equal(e->ram[BIG_BUF_GPA + i], 0xaa);
	assert_int_equal(used_idx(e), 0);
	/* and the device works again after the driver set it up */
	driver_start(e, F_FLUSH);
	assert_int_equal(do_request(e, T_FLUSH, 0, 0, 0, true, NULL), S_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_config_good),
	    cmocka_unit_test(test_config_bad),
	    cmocka_unit_test(test_identity_and_config),
	    cmocka_unit_test_setup_teardown(test_write_read, setup_rw, teardown_env),
	    cmocka_unit_test_setup_teardown(test_flush_getid_unsupported, setup_rw, teardown_env),
	    cmocka_unit_test(test_default_serial),
	    cmocka_unit_test_setup_teardown(test_discard, setup_rw, teardown_env),
	    cmocka_unit_test(test_discard_not_negotiated),
	    cmocka_unit_test(test_readonly),
	    cmocka_unit_test(test_write_through),
	    cmocka_unit_test_setup_teardown(test_many_in_flight, setup_rw, teardown_env),
	    cmocka_unit_test_setup_teardown(test_malformed_needs_reset, setup_rw, teardown_env),
	    cmocka_unit_test_setup_teardown(test_reset_with_requests_in_flight, setup_rw,
					    teardown_env),
	    cmocka_unit_test_setup_teardown(test_oversized_requests_refused, setup_big,
					    teardown_env),
	    cmocka_unit_test_setup_teardown(test_large_reads_keep_loop_responsive, setup_big,
					    teardown_env),
	    cmocka_unit_test_setup_teardown(test_reset_does_not_wait_for_io, setup_big,
					    teardown_env),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
