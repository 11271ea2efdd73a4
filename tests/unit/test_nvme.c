/* SPDX-License-Identifier: BSD-2-Clause */
/* NVMe end to end without KVM: the -s option string through the emulation's parser, the
 * controller created by the PCI bus on a fake VM (vm_harness), driven through BAR 0 the way
 * Linux's nvme driver does (CC/CSTS handshake, admin queue, I/O queue pairs, doorbells, PRPs),
 * with a temporary image file behind the namespace. Backend completions arrive on the VM's event
 * loop, which the tests pump until the expected completion queue entry shows its phase tag. */
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
#include <unistd.h>

#include <cmocka.h>

#include "vm_harness.h"

#include "core/byteorder.h"
#include "core/vm.h"
#include "nvme/nvme.h"
#include "pci/pci.h"

#define RAM_SIZE (16u << 20)
#define DISK_SIZE (4u << 20) /* 8192 sectors of 512 bytes */
#define SECTORS (DISK_SIZE / 512)
#define SLOT 4
#define ASQ_GPA 0x10000ULL
#define ACQ_GPA 0x20000ULL
#define IOSQ_GPA 0x30000ULL
#define IOCQ_GPA 0x40000ULL
#define LIST_GPA 0x50000ULL
#define DATA_GPA 0x100000ULL
#define DATA2_GPA 0x400000ULL
#define ADMIN_QSZ 32

struct queue {
	unsigned qid, sqsize, cqsize, tail, head;
	uint64_t sq, cq;
	bool phase;
};

struct env {
	struct vm *vm;
	uint8_t *ram;
	char img[64];
	uint64_t bar;
	struct queue aq, ioq;
	uint16_t cid;
};

struct cqe {
	uint32_t dw0;
	uint16_t status; /* SC | SCT << 8 (no DNR / more bits) */
	uint16_t cid, sqhd, sqid;
};

/* ---- environment ---- */

static void fill_pattern(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + seed + (i >> 9) * 13);
}

static void make_file(char *path, size_t size)
{
	strcpy(path, "/tmp/kb-nvme-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	uint8_t *b = malloc(size);
	fill_pattern(b, size, 1);
	assert_int_equal(pwrite(fd, b, size, 0), (ssize_t)size);
	free(b);
	close(fd);
}

/* conf: "%p" stands for the image path. */
static int make_env(const char *conf_fmt, struct env **out)
{
	struct env *e = calloc(1, sizeof(*e));
	make_file(e->img, DISK_SIZE);
	e->vm = harness_vm_new();
	e->ram = calloc(1, RAM_SIZE);
	guestmem_init_from(&e->vm->mem, e->ram, RAM_SIZE, 0);
	char conf[512] = "";
	size_t n = 0;
	for (const char *s = conf_fmt; *s && n < sizeof(conf) - 80; s++) {
		if (s[0] == '%' && s[1] == 'p') {
			n += (size_t)snprintf(conf + n, sizeof(conf) - n, "%s", e->img);
			s++;
		} else
			conf[n++] = *s;
	}
	conf[n] = '\0';
	*out = e;
	int r = harness_add_device(e->vm, SLOT, "nvme", conf);
	if (r < 0)
		return r;
	r = pci_init_all(e->vm);
	if (r < 0)
		return r;
	e->bar = (harness_cfg_read(e->vm, SLOT, PCIR_BAR0, 4) & ~0xfULL) |
		 (uint64_t)harness_cfg_read(e->vm, SLOT, PCIR_BAR0 + 4, 4) << 32;
	harness_cfg_write(e->vm, SLOT, PCIR_COMMAND, 2, 0x6); /* memory, bus master */
	return 0;
}

static void free_env(struct env *e)
{
	harness_vm_free(e->vm);
	unlink(e->img);
	free(e->ram);
	free(e);
}

static uint32_t rd(struct env *e, uint64_t off)
{
	return (uint32_t)harness_mmio_read(e->vm, e->bar + off, 4);
}

static void wr(struct env *e, uint64_t off, uint32_t v)
{
	harness_mmio_write(e->vm, e->bar + off, 4, v);
}

static void enable(struct env *e)
{
	e->aq = (struct queue){0, ADMIN_QSZ, ADMIN_QSZ, 0, 0, ASQ_GPA, ACQ_GPA, true};
	memset(e->ram + ACQ_GPA, 0, ADMIN_QSZ * 16);
	wr(e, NVME_REG_AQA, (ADMIN_QSZ - 1) << 16 | (ADMIN_QSZ - 1));
	harness_mmio_write(e->vm, e->bar + NVME_REG_ASQ, 8, ASQ_GPA);
	harness_mmio_write(e->vm, e->bar + NVME_REG_ACQ, 8, ACQ_GPA);
	wr(e, NVME_REG_CC, NVME_CC_EN | 6u << 16 | 4u << 20);
	assert_int_equal(rd(e, NVME_REG_CSTS), NVME_CSTS_RDY);
}

/* ---- queues ---- */

struct sqe {
	uint8_t opc;
	uint32_t nsid;
	uint64_t prp1, prp2;
	uint32_t cdw10, cdw11, cdw12, cdw13;
};

/* Write the entry at the tail (without ringing the doorbell); returns its CID. */
static uint16_t put_sqe(struct env *e, struct queue *q, const struct sqe *s)
{
	uint8_t *p = e->ram + q->sq + (uint64_t)q->tail * 64;
	uint16_t cid = ++e->cid;
	memset(p, 0, 64);
	put_le32(p, s->opc | (uint32_t)cid << 16);
	put_le32(p + 4, s->nsid);
	put_le64(p + 24, s->prp1);
	put_le64(p + 32, s->prp2);
	put_le32(p + 40, s->cdw10);
	put_le32(p + 44, s->cdw11);
	put_le32(p + 48, s->cdw12);
	put_le32(p + 52, s->cdw13);
	q->tail = (q->tail + 1) % q->sqsize;
	return cid;
}

static void ring_sq(struct env *e, struct queue *q)
{
	wr(e, NVME_REG_DBS + 8ULL * q->qid, q->tail);
}

static bool cqe_ready(struct env *e, struct queue *q)
{
	const uint8_t *p = e->ram + q->cq + (uint64_t)q->head * 16;
	return ((le32_at(p + 12) >> 16) & 1) == q->phase;
}

struct waiter {
	struct env *e;
	struct queue *q;
	int ticks;
};

static void tick(void *opaque)
{
	struct waiter *w = opaque;
	if ((w->q && cqe_ready(w->e, w->q)) || ++w->ticks > 5000)
		evloop_stop(w->e->vm->ev, 0);
}

/* Pump the loop until q has a new entry (5 s at most), or for `ms` when q is NULL. */
static void pump(struct env *e, struct queue *q, int ms)
{
	struct waiter w = {e, q, q ? 0 : 5000 - ms};
	if (q && cqe_ready(e, q))
		return;
	struct evloop_handle *t = evloop_add_timer(e->vm->ev, 1, 1, tick, &w);
	evloop_run(e->vm->ev);
	evloop_del(e->vm->ev, t);
}

/* Take the next entry (waiting for it) and move the CQ head doorbell. */
static struct cqe reap(struct env *e, struct queue *q)
{
	pump(e, q, 0);
	assert_true(cqe_ready(e, q));
	const uint8_t *p = e->ram + q->cq + (uint64_t)q->head * 16;
	struct cqe c = {
	    .dw0 = le32_at(p),
	    .sqhd = le16_at(p + 8),
	    .sqid = le16_at(p + 10),
	    .cid = le16_at(p + 12),
	    .status = (uint16_t)((le32_at(p + 12) >> 17) & 0x7ff),
	};
	if (++q->head == q->cqsize) {
		q->head = 0;
		q->phase = !q->phase;
	}
	wr(e, NVME_REG_DBS + 8ULL * q->qid + 4, q->head);
	return c;
}

static struct cqe run(struct env *e, struct queue *q, const struct sqe *s)
{
	uint16_t cid = put_sqe(e, q, s);
	ring_sq(e, q);
	struct cqe c = reap(e, q);
	assert_int_equal(c.cid, cid);
	assert_int_equal(c.sqid, q->qid);
	return c;
}

static uint16_t admin(struct env *e, const struct sqe *s)
{
	return run(e, &e->aq, s).status;
}

static void identify(struct env *e, unsigned cns, uint32_t nsid, uint8_t *out)
{
	memset(e->ram + DATA_GPA, 0xee, 4096);
	struct sqe s = {.opc = NVME_ADM_IDENTIFY, .nsid = nsid, .prp1 = DATA_GPA, .cdw10 = cns};
	assert_int_equal(admin(e, &s), 0);
	memcpy(out, e->ram + DATA_GPA, 4096);
}

static uint16_t create_cq(struct env *e, unsigned qid, unsigned size, uint64_t gpa, uint32_t flags)
{
	struct sqe s = {.opc = NVME_ADM_CREATE_CQ,
			.prp1 = gpa,
			.cdw10 = (size - 1) << 16 | qid,
			.cdw11 = flags};
	return admin(e, &s);
}

static uint16_t create_sq(struct env *e, unsigned qid, unsigned size, uint64_t gpa, unsigned cqid,
			  uint32_t flags)
{
	struct sqe s = {.opc = NVME_ADM_CREATE_SQ,
			.prp1 = gpa,
			.cdw10 = (size - 1) << 16 | qid,
			.cdw11 = cqid << 16 | flags};
	return admin(e, &s);
}

/* I/O queue pair 1 with `sqsize`/`cqsize` entries. */
static void make_ioq(struct env *e, unsigned sqsize, unsigned cqsize)
{
	memset(e->ram + IOCQ_GPA, 0, (size_t)cqsize * 16);
	assert_int_equal(create_cq(e, 1, cqsize, IOCQ_GPA, 3), 0);
	assert_int_equal(create_sq(e, 1, sqsize, IOSQ_GPA, 1, 1), 0);
	e->ioq = (struct queue){1, sqsize, cqsize, 0, 0, IOSQ_GPA, IOCQ_GPA, true};
}

static uint16_t io(struct env *e, uint8_t opc, uint64_t slba, unsigned nlb, uint64_t prp1,
		   uint64_t prp2)
{
	struct sqe s = {.opc = opc,
			.nsid = 1,
			.prp1 = prp1,
			.prp2 = prp2,
			.cdw10 = (uint32_t)slba,
			.cdw11 = (uint32_t)(slba >> 32),
			.cdw12 = nlb - 1};
	return run(e, &e->ioq, &s).status;
}

static void file_read(const char *path, void *buf, size_t n, off_t off)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, n, off), (ssize_t)n);
	close(fd);
}

static void str_field(const uint8_t *p, size_t len, char *out)
{
	memcpy(out, p, len);
	out[len] = '\0';
	for (int i = (int)len - 1; i >= 0 && out[i] == ' '; i--)
		out[i] = '\0';
}

/* ---- tests ---- */

static unsigned find_cap(struct env *e, uint8_t id)
{
	unsigned at = harness_cfg_read(e->vm, SLOT, PCIR_CAP_PTR, 1);
	for (int n = 0; at && n < 48; n++) {
		if (harness_cfg_read(e->vm, SLOT, at, 1) == id)
			return at;
		at = harness_cfg_read(e->vm, SLOT, at + 1, 1);
	}
	return 0;
}

static void test_reset_registers(void **state)
{
	struct env *e;
	assert_int_equal(make_env("%p", &e), 0);
	assert_int_equal(harness_cfg_read(e->vm, SLOT, PCIR_VENDOR, 2), 0xfb5d);
	assert_int_equal(harness_cfg_read(e->vm, SLOT, PCIR_DEVICE, 2), 0x0a0a);
	assert_int_equal(harness_cfg_read(e->vm, SLOT, PCIR_REVID, 4) >> 8, 0x010802);
	assert_int_equal(harness_cfg_read(e->vm, SLOT, PCIR_BAR0, 4) & 0x6, 0x4); /* 64-bit */
	assert_int_equal(harness_cfg_read(e->vm, SLOT, PCIR_INTPIN, 1), 1);
	unsigned msix = find_cap(e, 0x11);
	assert_true(msix != 0);
	assert_int_equal((harness_cfg_read(e->vm, SLOT, msix + 2, 2) & 0x7ff) + 1, 17);
	assert_int_equal(harness_cfg_read(e->vm, SLOT, msix + 4, 4), NVME_BAR_MSIX);
	assert_true(find_cap(e, 0x10) != 0);
	/* BAR 0 sizing: 16 KiB */
	harness_cfg_write(e->vm, SLOT, PCIR_BAR0, 4, ~0u);
	assert_int_equal(harness_cfg_read(e->vm, SLOT, PCIR_BAR0, 4) & ~0xfu, (uint32_t)~0x3fffu);
	harness_cfg_write(e->vm, SLOT, PCIR_BAR0, 4, (uint32_t)e->bar);
	harness_cfg_write(e->vm, SLOT, PCIR_COMMAND, 2, 0x6);

	uint64_t cap = harness_mmio_read(e->vm, e->bar + NVME_REG_CAP, 8);
	assert_int_equal(cap & 0xffff, 2047);	  /* MQES */
	assert_true(cap & NVME_CAP_CQR);	  /* contiguous queues required */
	assert_int_equal((cap >> 24) & 0xff, 60); /* TO */
	assert_int_equal((cap >> 32) & 0xf, 0);	  /* DSTRD */
	assert_true(cap & NVME_CAP_CSS_NVM);	  /* NVM command set */
	assert_int_equal((cap >> 48) & 0xf, 0);	  /* MPSMIN 4 KiB */
	assert_int_equal(rd(e, NVME_REG_CAP + 4), (uint32_t)(cap >> 32));
	assert_int_equal(rd(e, NVME_REG_VS), 0x10400);
	assert_int_equal(rd(e, NVME_REG_CC), 0);
	assert_int_equal(rd(e, NVME_REG_CSTS), 0);
	/* read-only registers */
	wr(e, NVME_REG_CAP, 0);
	wr(e, NVME_REG_VS, 0);
	assert_int_equal(rd(e, NVME_REG_VS), 0x10400);
	assert_int_equal(harness_mmio_read(e->vm, e->bar + NVME_REG_CAP, 8), cap);
	free_env(e);
}

static void test_enable_disable_shutdown(void **state)
{
	struct env *e;
	assert_int_equal(make_env("%p,qsz=64", &e), 0);
	assert_int_equal(harness_mmio_read(e->vm, e->bar, 8) & 0xffff, 63);
	enable(e);
	assert_int_equal(rd(e, NVME_REG_ASQ), (uint32_t)ASQ_GPA);
	/* shutdown notification: complete at once */
	wr(e, NVME_REG_CC, rd(e, NVME_REG_CC) | 1u << 14);
	assert_int_equal(rd(e, NVME_REG_CSTS) & NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_DONE);
	/* disable: not ready, shutdown status cleared */
	wr(e, NVME_REG_CC, 0);
	assert_int_equal(rd(e, NVME_REG_CSTS), 0);
	/* admin queue sizes beyond MQES + 1 or of one entry: fatal status */
	wr(e, NVME_REG_AQA, 64 << 16 | 63);
	wr(e, NVME_REG_CC, NVME_CC_EN);
	assert_int_equal(rd(e, NVME_REG_CSTS), NVME_CSTS_CFS);
	wr(e, NVME_REG_CC, 0);
	assert_int_equal(rd(e, NVME_REG_CSTS), 0);
	wr(e, NVME_REG_AQA, 0);
	wr(e, NVME_REG_CC, NVME_CC_EN);
	assert_int_equal(rd(e, NVME_REG_CSTS), NVME_CSTS_CFS);
	wr(e, NVME_REG_CC, 0);
	/* a memory page size other than 4 KiB, a bad I/O SQ entry size */
	wr(e, NVME_REG_AQA, 31 << 16 | 31);
	wr(e, NVME_REG_CC, NVME_CC_EN | 1u << 7);
	assert_int_equal(rd(e, NVME_REG_CSTS), NVME_CSTS_CFS);
	wr(e, NVME_REG_CC, 0);
	wr(e, NVME_REG_CC, NVME_CC_EN | 7u << 16);
	assert_int_equal(rd(e, NVME_REG_CSTS), NVME_CSTS_CFS);
	wr(e, NVME_REG_CC, 0);
	/* enabled again: the admin queue works, and a reset forgets it */
	enable(e);
	uint8_t id[4096];
	identify(e, NVME_CNS_CTRL, 0, id);
	wr(e, NVME_REG_CC, 0);
	enable(e);
	identify(e, NVME_CNS_CTRL, 0, id);
	free_env(e);
}

static void test_identify(void **state)
{
	struct env *e;
	uint8_t id[4096];
	char s[48];
	assert_int_equal(make_env("%p,ser=SER-0001,eui64=0x0123456789abcdef", &e), 0);
	enable(e);
	identify(e, NVME_CNS_CTRL, 0, id);
	assert_int_equal(le16_at(id), 0xfb5d);
	str_field(id + 4, 20, s);
	assert_string_equal(s, "SER-0001");
	str_field(id + 24, 40, s);
	assert_string_equal(s, "bhyve-NVMe");
	str_field(id + 64, 8, s);
	assert_string_equal(s, "1.0");
	assert_int_equal(id[77], 9);			/* MDTS */
	assert_int_equal(le32_at(id + 80), 0x10400);	/* VER */
	assert_int_equal(id[259], 3);			/* AERL */
	assert_int_equal(id[512], 0x66);		/* SQES */
	assert_int_equal(id[513], 0x44);		/* CQES */
	assert_int_equal(le32_at(id + 516), 1);		/* NN */
	assert_true(le16_at(id + 520) & NVME_ONCS_DSM); /* a file can punch holes */
	identify(e, NVME_CNS_NS, 1, id);
	assert_int_equal(le64_at(id), DISK_SIZE / 512);
	assert_int_equal(le64_at(id + 8), DISK_SIZE / 512);
	assert_int_equal(id[25], 0);
	assert_int_equal((le32_at(id + 128) >> 16) & 0xff, 9);
	assert_int_equal(id[120], 0x01); /* EUI64, big-endian */
	assert_int_equal(id[127], 0xef);
	identify(e, NVME_CNS_NS_LIST, 0, id);
	assert_int_equal(le32_at(id), 1);
	assert_int_equal(le32_at(id + 4), 0);
	identify(e, NVME_CNS_NS_LIST, 1, id);
	assert_int_equal(le32_at(id), 0);
	identify(e, NVME_CNS_NS_DESC, 1, id);
	assert_int_equal(id[0], 1);
	assert_int_equal(id[1], 8);
	assert_int_equal(id[4], 0x01);
	/* bad CNS, bad namespace */
	struct sqe q = {.opc = NVME_ADM_IDENTIFY, .prp1 = DATA_GPA, .cdw10 = 0x1f};
	assert_int_equal(admin(e, &q), NVME_SC_INVALID_FIELD);
	q.cdw10 = NVME_CNS_NS;
	q.nsid = 2;
	assert_int_equal(admin(e, &q), NVME_SC_INVALID_NS);
	/* unknown opcode, firmware commit */
	q = (struct sqe){.opc = 0x7f};
	assert_int_equal(admin(e, &q), NVME_SC_INVALID_OPCODE);
	q.opc = NVME_ADM_FW_COMMIT;
	assert_int_equal(admin(e, &q), NVME_SC_INVALID_FW_SLOT);
	free_env(e);

	/* defaults; dsm=disable; 4 KiB sectors */
	assert_int_equal(make_env("%p,dsm=disable,sectsz=4096", &e), 0);
	enable(e);
	identify(e, NVME_CNS_CTRL, 0, id);
	str_field(id + 4, 20, s);
	assert_string_equal(s, "NVME-4-0");
	assert_int_equal(le16_at(id + 520) & NVME_ONCS_DSM, 0);
	identify(e, NVME_CNS_NS, 1, id);
	assert_int_equal(le64_at(id), DISK_SIZE / 4096);
	assert_int_equal((le32_at(id + 128) >> 16) & 0xff, 12);
	assert_int_equal(id[120], 0x58); /* the OUI of the default EUI-64 */
	free_env(e);
}

static void test_features_and_logs(void **state)
{
	struct env *e;
	assert_int_equal(make_env("%p,maxq=4", &e), 0);
	enable(e);
	struct sqe s = {
	    .opc = NVME_ADM_SET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES, .cdw11 = 63 << 16 | 63};
	struct cqe c = run(e, &e->aq, &s);
	assert_int_equal(c.status, 0);
	assert_int_equal(c.dw0, 3 << 16 | 3);
	s = (struct sqe){.opc = NVME_ADM_SET_FEATURES, .cdw10 = NVME_FEAT_VOLATILE_WC, .cdw11 = 0};
	assert_int_equal(admin(e, &s), 0);
	s = (struct sqe){.opc = NVME_ADM_GET_FEATURES, .cdw10 = NVME_FEAT_VOLATILE_WC};
	c = run(e, &e->aq, &s);
	assert_int_equal(c.status, 0);
	assert_int_equal(c.dw0, 0);
	s = (struct sqe){.opc = NVME_ADM_SET_FEATURES, .cdw10 = 0x7e};
	assert_int_equal(admin(e, &s), NVME_SC_INVALID_FIELD);
	s = (struct sqe){.opc = NVME_ADM_SET_FEATURES, .cdw10 = NVME_FEAT_ARBITRATION | 1u << 31};
	assert_int_equal(admin(e, &s), NVME_SC_NOT_SAVEABLE);
	/* logs: SMART, firmware slot, an unknown page, a length beyond MDTS */
	s = (struct sqe){.opc = NVME_ADM_GET_LOG_PAGE,
			 .prp1 = DATA_GPA,
			 .cdw10 = (512 / 4 - 1) << 16 | NVME_LOG_SMART};
	assert_int_equal(admin(e, &s), 0);
	assert_int_equal(e->ram[DATA_GPA + 3], 100);
	s.cdw10 = (512 / 4 - 1) << 16 | NVME_LOG_FIRMWARE;
	assert_int_equal(admin(e, &s), 0);
	assert_int_equal(e->ram[DATA_GPA + 8], '1');
	s.cdw10 = (512 / 4 - 1) << 16 | 0x7f;
	assert_int_equal(admin(e, &s), NVME_SC_INVALID_LOG_PAGE);
	s.cdw10 = 0xffffu << 16 | NVME_LOG_ERROR;
	s.cdw11 = 0xffff;
	assert_int_equal(admin(e, &s), NVME_SC_INVALID_FIELD);
	/* abort never aborts; format of the only LBA format works, another does not */
	s = (struct sqe){.opc = NVME_ADM_ABORT};
	c = run(e, &e->aq, &s);
	assert_int_equal(c.status, 0);
	assert_int_equal(c.dw0 & 1, 1);
	s = (struct sqe){.opc = NVME_ADM_FORMAT_NVM, .nsid = 1};
	assert_int_equal(admin(e, &s), 0);
	s.cdw10 = 1;
	assert_int_equal(admin(e, &s), NVME_SC_INVALID_FORMAT);
	free_env(e);
}

static void test_create_queues_bad(void **state)
{
	struct env *e;
	assert_int_equal(make_env("%p,maxq=4,qsz=256", &e), 0);
	enable(e);
	assert_int_equal(create_cq(e, 0, 16, IOCQ_GPA, 3), NVME_SC_INVALID_QID);
	assert_int_equal(create_cq(e, 5, 16, IOCQ_GPA, 3), NVME_SC_INVALID_QID);
	assert_int_equal(create_cq(e, 1, 1, IOCQ_GPA, 3), NVME_SC_INVALID_QSIZE);
	assert_int_equal(create_cq(e, 1, 257, IOCQ_GPA, 3), NVME_SC_INVALID_QSIZE);
	assert_int_equal(create_cq(e, 1, 16, IOCQ_GPA, 2), NVME_SC_INVALID_FIELD); /* PC = 0 */
	assert_int_equal(create_cq(e, 1, 16, IOCQ_GPA, 5u << 16 | 3), NVME_SC_INVALID_VECTOR);
	assert_int_equal(create_cq(e, 1, 16, IOCQ_GPA + 8, 3), NVME_SC_PRP_OFFSET);
	assert_int_equal(create_cq(e, 1, 16, RAM_SIZE - 128, 3) & 0xff, NVME_SC_PRP_OFFSET);
	assert_int_equal(create_cq(e, 1, 16, 0x100000000ULL, 3), NVME_SC_INVALID_FIELD);
	assert_int_equal(create_sq(e, 1, 16, IOSQ_GPA, 1, 1), NVME_SC_CQ_INVALID);
	assert_int_equal(create_sq(e, 1, 16, IOSQ_GPA, 0, 1), NVME_SC_CQ_INVALID);
	assert_int_equal(create_cq(e, 1, 16, IOCQ_GPA, 4u << 16 | 3), 0);
	assert_int_equal(create_cq(e, 1, 16, IOCQ_GPA, 3), NVME_SC_INVALID_QID); /* exists */
	assert_int_equal(create_sq(e, 1, 16, IOSQ_GPA, 1, 0), NVME_SC_INVALID_FIELD);
	assert_int_equal(create_sq(e, 0, 16, IOSQ_GPA, 1, 1), NVME_SC_INVALID_QID);
	assert_int_equal(create_sq(e, 1, 300, IOSQ_GPA, 1, 1), NVME_SC_INVALID_QSIZE);
	assert_int_equal(create_sq(e, 1, 16, IOSQ_GPA, 1, 1), 0);
	assert_int_equal(create_sq(e, 1, 16, IOSQ_GPA, 1, 1), NVME_SC_INVALID_QID);
	/* deleting a CQ with a SQ on it; missing queues; then in order */
	struct sqe s = {.opc = NVME_ADM_DELETE_CQ, .cdw10 = 1};
	assert_int_equal(admin(e, &s), NVME_SC_INVALID_QDELETE);
	s = (struct sqe){.opc = NVME_ADM_DELETE_SQ, .cdw10 = 2};
	assert_int_equal(admin(e, &s), NVME_SC_INVALID_QID);
	s.cdw10 = 0;
	assert_int_equal(admin(e, &s), NVME_SC_INVALID_QID);
	s.cdw10 = 1;
	assert_int_equal(admin(e, &s), 0);
	s = (struct sqe){.opc = NVME_ADM_DELETE_CQ, .cdw10 = 1};
	assert_int_equal(admin(e, &s), 0);
	assert_int_equal(admin(e, &s), NVME_SC_INVALID_QID);
	free_env(e);
}

static void test_read_write_prp(void **state)
{
	struct env *e;
	uint8_t host[65536];
	assert_int_equal(make_env("%p", &e), 0);
	enable(e);
	make_ioq(e, 16, 16);
	/* PRP1 only: 4 KiB at LBA 8 */
	fill_pattern(e->ram + DATA_GPA, 4096, 33);
	assert_int_equal(io(e, NVME_CMD_WRITE, 8, 8, DATA_GPA, 0), 0);
	file_read(e->img, host, 4096, 8 * 512);
	assert_memory_equal(host, e->ram + DATA_GPA, 4096);
	memset(e->ram + DATA2_GPA, 0, 4096);
	assert_int_equal(io(e, NVME_CMD_READ, 8, 8, DATA2_GPA, 0), 0);
	assert_memory_equal(e->ram + DATA2_GPA, e->ram + DATA_GPA, 4096);
	/* PRP1 with an offset and PRP2: 4 KiB across two pages */
	fill_pattern(e->ram + DATA_GPA + 0x800, 4096, 44);
	assert_int_equal(io(e, NVME_CMD_WRITE, 100, 8, DATA_GPA + 0x800, DATA_GPA + 0x2000), 0);
	file_read(e->img, host, 2048, 100 * 512);
	assert_memory_equal(host, e->ram + DATA_GPA + 0x800, 2048);
	file_read(e->img, host, 2048, 100 * 512 + 2048);
	assert_memory_equal(host, e->ram + DATA_GPA + 0x2000, 2048);
	/* a PRP list: 64 KiB in 16 pages, in reverse order */
	uint8_t *src = malloc(65536);
	fill_pattern(src, 65536, 55);
	uint64_t page[16];
	for (int i = 0; i < 16; i++) {
		page[i] = DATA_GPA + 0x10000 + (uint64_t)(15 - i) * 0x2000;
		memcpy(e->ram + page[i], src + 4096 * i, 4096);
		if (i > 0)
			put_le64(e->ram + LIST_GPA + 8 * (i - 1), page[i]);
	}
	assert_int_equal(io(e, NVME_CMD_WRITE, 256, 128, page[0], LIST_GPA), 0);
	file_read(e->img, host, 65536, 256 * 512);
	assert_memory_equal(host, src, 65536);
	for (int i = 0; i < 16; i++)
		memset(e->ram + page[i], 0, 4096);
	assert_int_equal(io(e, NVME_CMD_READ, 256, 128, page[0], LIST_GPA), 0);
	for (int i = 0; i < 16; i++)
		assert_memory_equal(e->ram + page[i], src + 4096 * i, 4096);
	/* a list that chains: the first list page holds 2 entries (offset 0xff0) */
	uint64_t list2 = LIST_GPA + 0x1000;
	put_le64(e->ram + LIST_GPA + 0xff0, page[1]);
	put_le64(e->ram + LIST_GPA + 0xff8, list2);
	for (int i = 2; i < 16; i++)
		put_le64(e->ram + list2 + 8 * (i - 2), page[i]);
	for (int i = 0; i < 16; i++)
		memset(e->ram + page[i], 0, 4096);
	assert_int_equal(io(e, NVME_CMD_READ, 256, 128, page[0], LIST_GPA + 0xff0), 0);
	for (int i = 0; i < 16; i++)
		assert_memory_equal(e->ram + page[i], src + 4096 * i, 4096);
	free(src);
	/* flush */
	assert_int_equal(io(e, NVME_CMD_FLUSH, 0, 1, 0, 0), 0);
	/* wrong namespace, unknown opcode */
	struct sqe s = {.opc = NVME_CMD_READ, .nsid = 2, .prp1 = DATA_GPA};
	assert_int_equal(run(e, &e->ioq, &s).status, NVME_SC_INVALID_NS);
	s = (struct sqe){.opc = 0x7e, .nsid = 1};
	assert_int_equal(run(e, &e->ioq, &s).status, NVME_SC_INVALID_OPCODE);
	free_env(e);
}

static void test_dsm_deallocate(void **state)
{
	struct env *e;
	assert_int_equal(make_env("%p", &e), 0);
	enable(e);
	make_ioq(e, 16, 16);
	struct stat before, after;
	assert_int_equal(stat(e->img, &before), 0);
	/* two ranges: 256 KiB at LBA 512 and an empty one */
	uint8_t *r = e->ram + DATA_GPA;
	memset(r, 0, 32);
	put_le32(r + 4, 512);
	put_le64(r + 8, 512);
	put_le32(r + 16 + 4, 0);
	struct sqe s = {
	    .opc = NVME_CMD_DSM, .nsid = 1, .prp1 = DATA_GPA, .cdw10 = 1, .cdw11 = NVME_DSM_AD};
	assert_int_equal(run(e, &e->ioq, &s).status, 0);
	assert_int_equal(stat(e->img, &after), 0);
	assert_int_equal(after.st_size, DISK_SIZE);
	assert_true(after.st_blocks < before.st_blocks);
	int fd = open(e->img, O_RDONLY);
	assert_int_equal(lseek(fd, 512 * 512, SEEK_HOLE), 512 * 512);
	close(fd);
	/* a range beyond the namespace */
	put_le64(r + 8, SECTORS - 1);
	put_le32(r + 4, 2);
	assert_int_equal(run(e, &e->ioq, &s).status, NVME_SC_LBA_RANGE);
	free_env(e);
}

static void test_lba_range_and_mdts(void **state)
{
	struct env *e;
	assert_int_equal(make_env("%p", &e), 0);
	enable(e);
	make_ioq(e, 16, 16);
	assert_int_equal(io(e, NVME_CMD_READ, SECTORS, 1, DATA_GPA, 0), NVME_SC_LBA_RANGE);
	assert_int_equal(io(e, NVME_CMD_READ, SECTORS - 1, 2, DATA_GPA, DATA_GPA + 4096),
			 NVME_SC_LBA_RANGE);
	assert_int_equal(io(e, NVME_CMD_READ, SECTORS - 1, 1, DATA_GPA, 0), 0);
	assert_int_equal(io(e, NVME_CMD_WRITE, ~0ULL, 2, DATA_GPA, DATA_GPA + 4096),
			 NVME_SC_LBA_RANGE);
	/* 32 MiB: beyond MDTS */
	assert_int_equal(io(e, NVME_CMD_READ, 0, 65536, DATA_GPA, LIST_GPA), NVME_SC_INVALID_FIELD);
	free_env(e);
}

static void test_readonly(void **state)
{
	struct env *e;
	uint8_t id[4096];
	assert_int_equal(make_env("%p,ro", &e), 0);
	enable(e);
	identify(e, NVME_CNS_NS, 1, id);
	assert_int_equal(id[99] & 1, 1);
	identify(e, NVME_CNS_CTRL, 0, id);
	assert_int_equal(le16_at(id + 520) & NVME_ONCS_DSM, 0); /* auto: no DSM on ro */
	make_ioq(e, 16, 16);
	assert_int_equal(io(e, NVME_CMD_WRITE, 0, 1, DATA_GPA, 0), NVME_SC_NS_WRITE_PROTECTED);
	assert_int_equal(io(e, NVME_CMD_READ, 0, 1, DATA_GPA, 0), 0);
	free_env(e);
}

static void test_bad_prp(void **state)
{
	struct env *e;
	assert_int_equal(make_env("%p", &e), 0);
	enable(e);
	make_ioq(e, 16, 16);
	uint8_t before[4096];
	file_read(e->img, before, sizeof(before), 0);
	/* outside RAM, across its end, misaligned */
	assert_int_equal(io(e, NVME_CMD_READ, 0, 1, 0x80000000ULL, 0), NVME_SC_DATA_XFER_ERROR);
	assert_int_equal(io(e, NVME_CMD_READ, 0, 8, RAM_SIZE - 2048, RAM_SIZE),
			 NVME_SC_DATA_XFER_ERROR);
	assert_int_equal(io(e, NVME_CMD_WRITE, 0, 1, DATA_GPA + 2, 0), NVME_SC_PRP_OFFSET);
	assert_int_equal(io(e, NVME_CMD_WRITE, 0, 16, DATA_GPA, DATA_GPA + 0x1100),
			 NVME_SC_PRP_OFFSET);
	/* a PRP list outside RAM, an entry outside RAM, an entry not page aligned */
	assert_int_equal(io(e, NVME_CMD_READ, 0, 24, DATA_GPA, 0x90000000ULL),
			 NVME_SC_DATA_XFER_ERROR);
	put_le64(e->ram + LIST_GPA, DATA_GPA + 0x1000);
	put_le64(e->ram + LIST_GPA + 8, 0xa0000000ULL);
	assert_int_equal(io(e, NVME_CMD_READ, 0, 24, DATA_GPA, LIST_GPA), NVME_SC_DATA_XFER_ERROR);
	put_le64(e->ram + LIST_GPA + 8, DATA_GPA + 0x2010);
	assert_int_equal(io(e, NVME_CMD_READ, 0, 24, DATA_GPA, LIST_GPA), NVME_SC_PRP_OFFSET);
	/* a list whose last entry chains back to its own page: 2 MiB need the chain: an error */
	for (int i = 0; i < 511; i++)
		put_le64(e->ram + LIST_GPA + 8 * i, DATA_GPA + 0x1000);
	put_le64(e->ram + LIST_GPA + 8 * 511, LIST_GPA);
	assert_int_equal(io(e, NVME_CMD_WRITE, 0, 4096, DATA_GPA, LIST_GPA + 0x800),
			 NVME_SC_DATA_XFER_ERROR);
	/* the same list for a transfer it holds: fine */
	assert_int_equal(io(e, NVME_CMD_READ, 0, 4096, DATA_GPA, LIST_GPA), 0);
	/* a chain outside RAM, a chain not page aligned */
	put_le64(e->ram + LIST_GPA + 8 * 511, 0x90000000ULL);
	assert_int_equal(io(e, NVME_CMD_WRITE, 0, 4096, DATA_GPA, LIST_GPA + 0x800),
			 NVME_SC_DATA_XFER_ERROR);
	put_le64(e->ram + LIST_GPA + 8 * 511, LIST_GPA + 0x1008);
	assert_int_equal(io(e, NVME_CMD_WRITE, 0, 4096, DATA_GPA, LIST_GPA + 0x800),
			 NVME_SC_PRP_OFFSET);
	/* a chain from an offset list of one entry to itself */
	put_le64(e->ram + LIST_GPA + 0xff8, LIST_GPA);
	assert_int_equal(io(e, NVME_CMD_WRITE, 0, 4096, DATA_GPA, LIST_GPA + 0xff8),
			 NVME_SC_DATA_XFER_ERROR);
	uint8_t after[4096];
	file_read(e->img, after, sizeof(after), 0);
	assert_memory_equal(before, after, sizeof(after));
	free_env(e);
}

static void test_cq_phase_wrap(void **state)
{
	struct env *e;
	assert_int_equal(make_env("%p", &e), 0);
	enable(e);
	make_ioq(e, 8, 4);
	for (int i = 0; i < 13; i++) {
		bool phase = e->ioq.phase;
		unsigned slot = e->ioq.head;
		assert_int_equal(io(e, NVME_CMD_FLUSH, 0, 1, 0, 0), 0);
		uint32_t dw3 = le32_at(e->ram + IOCQ_GPA + 16 * slot + 12);
		assert_int_equal((dw3 >> 16) & 1, phase);
	}
	assert_false(e->ioq.phase); /* wrapped three times: 13 entries in a 4-entry queue */
	free_env(e);
}

static void test_cq_full_backpressure(void **state)
{
	struct env *e;
	assert_int_equal(make_env("%p", &e), 0);
	enable(e);
	make_ioq(e, 16, 4);
	bool seen[16] = {false};
	uint16_t first = 0;
	for (int i = 0; i < 8; i++) {
		struct sqe s = {.opc = NVME_CMD_FLUSH, .nsid = 1};
		uint16_t cid = put_sqe(e, &e->ioq, &s);
		if (i == 0)
			first = cid;
	}
	ring_sq(e, &e->ioq);
	pump(e, NULL, 50);
	/* three entries posted (a queue of 4 holds 3), the fourth slot untouched */
	for (int i = 0; i < 3; i++)
		assert_int_equal((le32_at(e->ram + IOCQ_GPA + 16 * i + 12) >> 16) & 1, 1);
	assert_int_equal(le32_at(e->ram + IOCQ_GPA + 16 * 3 + 12), 0);
	/* consume them; the rest follow */
	for (int i = 0; i < 8; i++) {
		struct cqe c = reap(e, &e->ioq);
		assert_int_equal(c.status, 0);
		unsigned k = (unsigned)(c.cid - first);
		assert_true(k < 8);
		assert_false(seen[k]);
		seen[k] = true;
	}
	pump(e, NULL, 20);
	assert_false(cqe_ready(e, &e->ioq));
	free_env(e);
}

static void test_bad_doorbells_and_aer(void **state)
{
	struct env *e;
	assert_int_equal(make_env("%p,maxq=2", &e), 0);
	enable(e);
	make_ioq(e, 8, 8);
	struct sqe s = {.opc = NVME_ADM_ASYNC_EVENT};
	uint16_t cid = put_sqe(e, &e->aq, &s);
	ring_sq(e, &e->aq);
	assert_false(cqe_ready(e, &e->aq));
	/* SQ 2 does not exist: the AER completes with "invalid doorbell" */
	wr(e, NVME_REG_DBS + 8 * 2, 1);
	struct cqe c = reap(e, &e->aq);
	assert_int_equal(c.cid, cid);
	assert_int_equal(c.dw0, NVME_LOG_ERROR << 16 | NVME_AER_INVALID_DB << 8);
	/* beyond the last queue, a tail beyond the queue, a CQ head beyond the tail: ignored */
	wr(e, NVME_REG_DBS + 8 * 9, 1);
	wr(e, NVME_REG_DBS + 8 * 1, 8);
	wr(e, NVME_REG_DBS + 8 * 1 + 4, 5);
	assert_int_equal(rd(e, NVME_REG_CSTS), NVME_CSTS_RDY);
	assert_int_equal(io(e, NVME_CMD_FLUSH, 0, 1, 0, 0), 0);
	/* five AERs: the fifth is refused */
	for (int i = 0; i < 4; i++)
		put_sqe(e, &e->aq, &s);
	ring_sq(e, &e->aq);
	assert_false(cqe_ready(e, &e->aq));
	c = run(e, &e->aq, &s);
	assert_int_equal(c.status, NVME_SC_AER_LIMIT);
	/* an admin SQ outside RAM: controller fatal, never a crash */
	wr(e, NVME_REG_CC, 0);
	wr(e, NVME_REG_AQA, 31 << 16 | 31);
	harness_mmio_write(e->vm, e->bar + NVME_REG_ASQ, 8, 0x7ffff000ULL);
	wr(e, NVME_REG_CC, NVME_CC_EN | 6u << 16 | 4u << 20);
	wr(e, NVME_REG_DBS, 1);
	assert_true(rd(e, NVME_REG_CSTS) & NVME_CSTS_CFS);
	free_env(e);
}

static void test_intx(void **state)
{
	struct env *e;
	uint8_t id[4096];
	assert_int_equal(make_env("%p", &e), 0);
	struct pci_dev *pd = pci_find_dev(e->vm, 0, SLOT, 0);
	assert_non_null(pd);
	enable(e);
	assert_false(pci_intx_level(e->vm, pd->gsi));
	struct sqe s = {.opc = NVME_ADM_IDENTIFY, .prp1 = DATA_GPA, .cdw10 = NVME_CNS_CTRL};
	put_sqe(e, &e->aq, &s);
	ring_sq(e, &e->aq);
	assert_true(cqe_ready(e, &e->aq));
	assert_true(pci_intx_level(e->vm, pd->gsi));
	wr(e, NVME_REG_INTMS, 1);
	assert_int_equal(rd(e, NVME_REG_INTMS), 1);
	assert_false(pci_intx_level(e->vm, pd->gsi));
	wr(e, NVME_REG_INTMC, 1);
	assert_true(pci_intx_level(e->vm, pd->gsi));
	reap(e, &e->aq); /* the head doorbell acknowledges it */
	assert_false(pci_intx_level(e->vm, pd->gsi));
	identify(e, NVME_CNS_CTRL, 0, id);
	assert_false(pci_intx_level(e->vm, pd->gsi));
	/* an I/O CQ without IEN does not interrupt */
	memset(e->ram + IOCQ_GPA, 0, 256);
	assert_int_equal(create_cq(e, 1, 16, IOCQ_GPA, 1), 0);
	assert_int_equal(create_sq(e, 1, 16, IOSQ_GPA, 1, 1), 0);
	e->ioq = (struct queue){1, 16, 16, 0, 0, IOSQ_GPA, IOCQ_GPA, true};
	s = (struct sqe){.opc = NVME_CMD_FLUSH, .nsid = 1};
	put_sqe(e, &e->ioq, &s);
	ring_sq(e, &e->ioq);
	pump(e, &e->ioq, 0);
	assert_true(cqe_ready(e, &e->ioq));
	assert_false(pci_intx_level(e->vm, pd->gsi));
	free_env(e);
}

static void test_ram_disk(void **state)
{
	struct env *e;
	uint8_t id[4096];
	assert_int_equal(make_env("ram=16,bootindex=2", &e), 0);
	enable(e);
	identify(e, NVME_CNS_NS, 1, id);
	assert_int_equal(le64_at(id), (16u << 20) / 4096);
	assert_int_equal((le32_at(id + 128) >> 16) & 0xff, 12);
	make_ioq(e, 16, 16);
	fill_pattern(e->ram + DATA_GPA, 8192, 9);
	assert_int_equal(io(e, NVME_CMD_WRITE, 3, 2, DATA_GPA, DATA_GPA + 4096), 0);
	memset(e->ram + DATA2_GPA, 0, 8192);
	assert_int_equal(io(e, NVME_CMD_READ, 3, 2, DATA2_GPA, DATA2_GPA + 4096), 0);
	assert_memory_equal(e->ram + DATA2_GPA, e->ram + DATA_GPA, 8192);
	free_env(e);
}

static void test_config_bad(void **state)
{
	static const char *const bad[] = {
	    "%p,maxq=0",
	    "%p,qsz=1",
	    "%p,sectsz=1000",
	    "%p,bogus=1",
	    "",
	    "%p,ioslots=0",
	    "%p,dsm=maybe",
	    "%p,ser=123456789012345678901",
	    "%p,eui64=zz",
	    "%p,ram=16",
	    "ram=0",
	    "ram=abc",
	    "%p,maxq=-1",
	    "%p,ro=perhaps",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct env *e;
		int r = make_env(bad[i], &e);
		if (r == 0)
			fail_msg("'%s' was accepted", bad[i]);
		free_env(e);
	}
	/* clamps: maxq above 16, qsz above 65536 */
	struct env *e;
	assert_int_equal(make_env("%p,maxq=64,qsz=100000,ioslots=1000", &e), 0);
	assert_int_equal(harness_mmio_read(e->vm, e->bar, 8) & 0xffff, 65535);
	enable(e);
	struct sqe s = {.opc = NVME_ADM_GET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES};
	assert_int_equal(run(e, &e->aq, &s).dw0, 15u << 16 | 15);
	free_env(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reset_registers),
	    cmocka_unit_test(test_enable_disable_shutdown),
	    cmocka_unit_test(test_identify),
	    cmocka_unit_test(test_features_and_logs),
	    cmocka_unit_test(test_create_queues_bad),
	    cmocka_unit_test(test_read_write_prp),
	    cmocka_unit_test(test_dsm_deallocate),
	    cmocka_unit_test(test_lba_range_and_mdts),
	    cmocka_unit_test(test_readonly),
	    cmocka_unit_test(test_bad_prp),
	    cmocka_unit_test(test_cq_phase_wrap),
	    cmocka_unit_test(test_cq_full_backpressure),
	    cmocka_unit_test(test_bad_doorbells_and_aer),
	    cmocka_unit_test(test_intx),
	    cmocka_unit_test(test_ram_disk),
	    cmocka_unit_test(test_config_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
