/* SPDX-License-Identifier: BSD-2-Clause */
/* AHCI end to end without KVM: the -s option strings through the emulations' parsers, the
 * controller created by the PCI bus on a fake VM (vm_harness), driven through BAR 5 the way
 * libahci does (HBA reset, port start, command list and table, PRDT, received FIS), with
 * temporary image files behind the ports. Backend completions arrive on the VM's event loop,
 * which the tests pump until the command's PxCI bit clears. */
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

#include "ahci/ahci.h"
#include "core/byteorder.h"
#include "core/vm.h"
#include "pci/pci.h"

#define RAM_SIZE (8u << 20)
#define DISK_SIZE (1u << 20) /* 2048 sectors */
#define CD_SIZE (64u * 2048)
#define SLOT 4
#define CLB_GPA(p) (0x100000ULL + (uint64_t)(p)*0x1000)
#define FB_GPA(p) (0x180000ULL + (uint64_t)(p)*0x100)
#define CT_GPA(p, s) (0x200000ULL + (uint64_t)(p)*0x20000 + (uint64_t)(s)*0x1000)
#define DATA_GPA 0x600000ULL

struct env {
	struct vm *vm;
	uint8_t *ram;
	char hd[64], cd[64];
	uint64_t abar;
};

struct prd {
	uint64_t gpa;
	uint32_t len;
};

/* ---- environment ---- */

static void fill_pattern(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + seed + (i >> 9) * 13);
}

static void make_file(char *path, const char *tmpl, size_t size, unsigned seed)
{
	strcpy(path, tmpl);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	uint8_t *b = malloc(size);
	fill_pattern(b, size, seed);
	assert_int_equal(pwrite(fd, b, size, 0), (ssize_t)size);
	free(b);
	close(fd);
}

/* conf: "%h" stands for the disk image, "%c" for the CD image. */
static int make_env(const char *emu, const char *conf_fmt, struct env **out)
{
	struct env *e = calloc(1, sizeof(*e));
	make_file(e->hd, "/tmp/kb-ahci-hd-XXXXXX", DISK_SIZE, 1);
	make_file(e->cd, "/tmp/kb-ahci-cd-XXXXXX", CD_SIZE, 2);
	e->vm = harness_vm_new();
	e->ram = calloc(1, RAM_SIZE);
	guestmem_init_from(&e->vm->mem, e->ram, RAM_SIZE, 0);
	char conf[1024] = "";
	size_t n = 0;
	for (const char *s = conf_fmt; *s && n < sizeof(conf) - 80; s++) {
		if (s[0] == '%' && (s[1] == 'h' || s[1] == 'c')) {
			n += (size_t)snprintf(conf + n, sizeof(conf) - n, "%s",
					      s[1] == 'h' ? e->hd : e->cd);
			s++;
		} else
			conf[n++] = *s;
	}
	conf[n] = '\0';
	*out = e;
	int r = harness_add_device(e->vm, SLOT, emu, conf);
	if (r < 0)
		return r;
	r = pci_init_all(e->vm);
	if (r < 0)
		return r;
	e->abar = harness_cfg_read(e->vm, SLOT, PCIR_BAR0 + 4 * AHCI_BAR, 4) & ~0xfULL;
	harness_cfg_write(e->vm, SLOT, PCIR_COMMAND, 2, 0x6); /* memory, bus master */
	return 0;
}

static void free_env(struct env *e)
{
	harness_vm_free(e->vm);
	unlink(e->hd);
	unlink(e->cd);
	free(e->ram);
	free(e);
}

static uint32_t rd(struct env *e, uint64_t off)
{
	return (uint32_t)harness_mmio_read(e->vm, e->abar + off, 4);
}

static void wr(struct env *e, uint64_t off, uint32_t v)
{
	harness_mmio_write(e->vm, e->abar + off, 4, v);
}

static uint64_t preg(unsigned port, unsigned reg)
{
	return AHCI_PORT_BASE + (uint64_t)port * AHCI_PORT_STEP + reg;
}

static uint32_t prd32(struct env *e, unsigned port, unsigned reg)
{
	return rd(e, preg(port, reg));
}

static void pwr(struct env *e, unsigned port, unsigned reg, uint32_t v)
{
	wr(e, preg(port, reg), v);
}

/* As libahci: command list and FIS area, FRE, then ST; every interrupt enabled. */
static void port_start(struct env *e, unsigned port)
{
	pwr(e, port, AHCI_P_CLB, (uint32_t)CLB_GPA(port));
	pwr(e, port, AHCI_P_CLBU, 0);
	pwr(e, port, AHCI_P_FB, (uint32_t)FB_GPA(port));
	pwr(e, port, AHCI_P_FBU, 0);
	pwr(e, port, AHCI_P_CMD, AHCI_P_CMD_FRE | AHCI_P_CMD_SUD | AHCI_P_CMD_POD);
	pwr(e, port, AHCI_P_IS, ~0u);
	pwr(e, port, AHCI_P_IE, AHCI_P_IE_MASK);
	pwr(e, port, AHCI_P_CMD, AHCI_P_CMD_FRE | AHCI_P_CMD_ST | AHCI_P_CMD_SUD | AHCI_P_CMD_POD);
}

static void port_restart(struct env *e, unsigned port)
{
	pwr(e, port, AHCI_P_CMD, AHCI_P_CMD_FRE);
	assert_int_equal(prd32(e, port, AHCI_P_CMD) & AHCI_P_CMD_CR, 0);
	assert_int_equal(prd32(e, port, AHCI_P_CI), 0);
	pwr(e, port, AHCI_P_IS, ~0u);
	wr(e, AHCI_IS, ~0u);
	pwr(e, port, AHCI_P_CMD, AHCI_P_CMD_FRE | AHCI_P_CMD_ST);
}

/* ---- commands ---- */

struct fis {
	uint8_t cmd, features, device;
	uint16_t features_exp;
	uint64_t lba;
	uint16_t count;
	uint8_t control; /* without C bit when non-zero */
};

/* Write slot `slot`'s command header and table. */
static void build(struct env *e, unsigned port, unsigned slot, const struct fis *f,
		  const uint8_t *acmd, const struct prd *prds, unsigned nprd, bool write)
{
	uint64_t ct = CT_GPA(port, slot);
	uint8_t *t = e->ram + ct;
	memset(t, 0, 0x80 + 16 * (size_t)nprd);
	t[0] = FIS_H2D;
	t[1] = f->control ? 0 : FIS_H2D_C;
	t[2] = f->cmd;
	t[3] = (uint8_t)f->features;
	t[4] = (uint8_t)f->lba;
	t[5] = (uint8_t)(f->lba >> 8);
	t[6] = (uint8_t)(f->lba >> 16);
	t[7] = f->device ? f->device : 0x40;
	t[8] = (uint8_t)(f->lba >> 24);
	t[9] = (uint8_t)(f->lba >> 32);
	t[10] = (uint8_t)(f->lba >> 40);
	t[11] = (uint8_t)f->features_exp;
	t[12] = (uint8_t)f->count;
	t[13] = (uint8_t)(f->count >> 8);
	t[15] = f->control;
	if (acmd)
		memcpy(t + 0x40, acmd, 12);
	for (unsigned i = 0; i < nprd; i++) {
		uint8_t *p = t + 0x80 + 16 * i;
		put_le64(p, prds[i].gpa);
		put_le32(p + 12, prds[i].len - 1);
	}
	uint8_t *h = e->ram + CLB_GPA(port) + 32 * (uint64_t)slot;
	memset(h, 0, 32);
	put_le32(h, 5 | (acmd ? AHCI_CMDHDR_A : 0) | (write ? AHCI_CMDHDR_W : 0) | nprd << 16);
	put_le32(h + 4, 0xdeadbeef); /* PRDBC: the HBA overwrites it */
	put_le64(h + 8, ct);
}

static uint32_t prdbc(struct env *e, unsigned port, unsigned slot)
{
	return le32_at(e->ram + CLB_GPA(port) + 32 * (uint64_t)slot + 4);
}

struct waiter {
	struct env *e;
	unsigned port;
	uint32_t ci_mask, sact_mask;
	int ticks;
};

static void tick(void *opaque)
{
	struct waiter *w = opaque;
	uint32_t ci = prd32(w->e, w->port, AHCI_P_CI), sact = prd32(w->e, w->port, AHCI_P_SACT);
	bool err = prd32(w->e, w->port, AHCI_P_IS) & (AHCI_P_IX_TFES | AHCI_P_IX_HBFS);
	if (err || (!(ci & w->ci_mask) && !(sact & w->sact_mask)))
		evloop_stop(w->e->vm->ev, 0);
	else if (++w->ticks > 5000)
		evloop_stop(w->e->vm->ev, -1);
}

/* Pump the loop until the slots in `ci_mask` (and SACT bits in `sact_mask`) are done or the port
 * reports an error (5 s at most). */
static void wait_done(struct env *e, unsigned port, uint32_t ci_mask, uint32_t sact_mask)
{
	struct waiter w = {e, port, ci_mask, sact_mask, 0};
	struct evloop_handle *t = evloop_add_timer(e->vm->ev, 1, 1, tick, &w);
	assert_int_equal(evloop_run(e->vm->ev), 0);
	evloop_del(e->vm->ev, t);
}

static void stop_tick(void *opaque)
{
	struct waiter *w = opaque;
	if (++w->ticks >= 0)
		evloop_stop(w->e->vm->ev, 0);
}

/* Let the loop run for about `ms` whatever happens. */
static void pump_for(struct env *e, int ms)
{
	struct waiter w = {e, 0, 0, 0, -ms};
	struct evloop_handle *t = evloop_add_timer(e->vm->ev, 1, 1, stop_tick, &w);
	evloop_run(e->vm->ev);
	evloop_del(e->vm->ev, t);
}

/* Issue one slot and wait; returns PxTFD. */
static uint32_t run(struct env *e, unsigned port, unsigned slot)
{
	pwr(e, port, AHCI_P_CI, 1u << slot);
	wait_done(e, port, 1u << slot, 0);
	return prd32(e, port, AHCI_P_TFD);
}

static uint32_t simple(struct env *e, unsigned port, uint8_t cmd, uint64_t lba, uint16_t count,
		       uint64_t gpa, uint32_t len, bool write)
{
	struct fis f = {.cmd = cmd, .lba = lba, .count = count};
	struct prd p = {gpa, len};
	build(e, port, 0, &f, NULL, &p, len ? 1 : 0, write);
	return run(e, port, 0);
}

static void file_read(const char *path, void *buf, size_t n, off_t off)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, n, off), (ssize_t)n);
	close(fd);
}

static void ata_str(const uint8_t *id, unsigned word, unsigned len, char *out)
{
	for (unsigned i = 0; i < len; i += 2) {
		out[i] = (char)id[2 * word + i + 1];
		out[i + 1] = (char)id[2 * word + i];
	}
	out[len] = '\0';
	for (int i = (int)len - 1; i >= 0 && out[i] == ' '; i--)
		out[i] = '\0';
}

static uint16_t idw(const uint8_t *id, unsigned w)
{
	return le16_at(id + 2 * w);
}

/* ---- tests ---- */

static void test_reset_values(void **state)
{
	struct env *e;
	assert_int_equal(make_env("ahci-hd", "%h", &e), 0);
	assert_int_equal(harness_cfg_read(e->vm, SLOT, PCIR_VENDOR, 2), 0x8086);
	assert_int_equal(harness_cfg_read(e->vm, SLOT, PCIR_DEVICE, 2), 0x2821);
	assert_int_equal(harness_cfg_read(e->vm, SLOT, PCIR_REVID, 4) >> 8, 0x010601);
	assert_int_equal(harness_cfg_read(e->vm, SLOT, PCIR_INTPIN, 1), 1);
	/* the ABAR: 0x100 + 6 ports * 0x80 = 0x400 bytes, which the bus makes a page */
	harness_cfg_write(e->vm, SLOT, PCIR_BAR0 + 4 * AHCI_BAR, 4, ~0u);
	assert_int_equal(harness_cfg_read(e->vm, SLOT, PCIR_BAR0 + 4 * AHCI_BAR, 4) & ~0xfu,
			 (uint32_t)~0xfffu);
	harness_cfg_write(e->vm, SLOT, PCIR_BAR0 + 4 * AHCI_BAR, 4, (uint32_t)e->abar);
	harness_cfg_write(e->vm, SLOT, PCIR_COMMAND, 2, 0x6);

	uint32_t cap = rd(e, AHCI_CAP);
	assert_int_equal(cap & AHCI_CAP_NP_MASK, 5);
	assert_int_equal((cap >> AHCI_CAP_NCS_SHIFT) & 0x1f, 31);
	assert_true(cap & AHCI_CAP_S64A);
	assert_true(cap & AHCI_CAP_SNCQ);
	assert_true(cap & AHCI_CAP_SCLO);
	assert_int_equal((cap >> AHCI_CAP_ISS_SHIFT) & 0xf, 3);
	assert_int_equal(rd(e, AHCI_GHC), AHCI_GHC_AE);
	assert_int_equal(rd(e, AHCI_PI), 1);
	assert_int_equal(rd(e, AHCI_VS), 0x10300);
	assert_int_equal(rd(e, AHCI_IS), 0);
	assert_int_equal(prd32(e, 0, AHCI_P_SIG), AHCI_SIG_ATA);
	assert_int_equal(prd32(e, 0, AHCI_P_SSTS), 0x133);
	assert_int_equal(prd32(e, 0, AHCI_P_TFD) & 0xff, 0x50);
	assert_int_equal(prd32(e, 0, AHCI_P_CMD) & (AHCI_P_CMD_ST | AHCI_P_CMD_CR), 0);
	assert_int_equal(prd32(e, 1, AHCI_P_SSTS), 0); /* no device on port 1 */
	/* byte and 8-byte reads */
	assert_int_equal(harness_mmio_read(e->vm, e->abar + AHCI_VS + 2, 1), 0x01);
	assert_int_equal(harness_mmio_read(e->vm, e->abar + AHCI_CAP, 8),
			 (uint64_t)AHCI_GHC_AE << 32 | cap);
	/* read-only registers */
	wr(e, AHCI_CAP, 0);
	wr(e, AHCI_PI, 0xff);
	assert_int_equal(rd(e, AHCI_CAP), cap);
	assert_int_equal(rd(e, AHCI_PI), 1);
	free_env(e);
}

static void test_hba_reset_and_start_stop(void **state)
{
	struct env *e;
	assert_int_equal(make_env("ahci-hd", "%h", &e), 0);
	pwr(e, 0, AHCI_P_CLB, 0x12345400);
	pwr(e, 0, AHCI_P_IE, ~0u);
	assert_int_equal(prd32(e, 0, AHCI_P_IE), AHCI_P_IE_MASK);
	pwr(e, 0, AHCI_P_CMD, AHCI_P_CMD_FRE);
	assert_true(prd32(e, 0, AHCI_P_CMD) & AHCI_P_CMD_FR);
	pwr(e, 0, AHCI_P_CMD, AHCI_P_CMD_FRE | AHCI_P_CMD_ST);
	assert_true(prd32(e, 0, AHCI_P_CMD) & AHCI_P_CMD_CR);
	pwr(e, 0, AHCI_P_CMD, AHCI_P_CMD_FRE);
	assert_int_equal(prd32(e, 0, AHCI_P_CMD) & AHCI_P_CMD_CR, 0);
	assert_true(prd32(e, 0, AHCI_P_CMD) & AHCI_P_CMD_FR);
	pwr(e, 0, AHCI_P_CMD, 0);
	assert_int_equal(prd32(e, 0, AHCI_P_CMD) & AHCI_P_CMD_FR, 0);
	wr(e, AHCI_GHC, AHCI_GHC_IE);
	assert_int_equal(rd(e, AHCI_GHC), AHCI_GHC_AE | AHCI_GHC_IE);
	wr(e, AHCI_GHC, AHCI_GHC_HR);
	assert_int_equal(rd(e, AHCI_GHC), AHCI_GHC_AE);
	assert_int_equal(prd32(e, 0, AHCI_P_CLB), 0);
	assert_int_equal(prd32(e, 0, AHCI_P_IE), 0);
	assert_int_equal(prd32(e, 0, AHCI_P_SIG), AHCI_SIG_ATA);
	assert_int_equal(prd32(e, 0, AHCI_P_SSTS), 0x133);
	/* COMRESET writes the signature FIS into the receive area */
	port_start(e, 0);
	pwr(e, 0, AHCI_P_CMD, AHCI_P_CMD_FRE);
	pwr(e, 0, AHCI_P_SCTL, 1);
	pwr(e, 0, AHCI_P_SCTL, 0);
	assert_int_equal(e->ram[FB_GPA(0) + 0x40], FIS_D2H);
	assert_int_equal(e->ram[FB_GPA(0) + 0x40 + 4], 1);
	assert_int_equal(prd32(e, 0, AHCI_P_TFD) & ATA_S_BSY, 0);
	free_env(e);
}

static void identify(struct env *e, unsigned port, uint8_t cmd, uint8_t *id)
{
	memset(e->ram + DATA_GPA, 0xee, 512);
	uint32_t tfd = simple(e, port, cmd, 0, 0, DATA_GPA, 512, false);
	assert_int_equal(tfd & ATA_S_ERR, 0);
	assert_int_equal(prdbc(e, port, 0), 512);
	memcpy(id, e->ram + DATA_GPA, 512);
	uint8_t sum = 0;
	for (int i = 0; i < 512; i++)
		sum = (uint8_t)(sum + id[i]);
	assert_int_equal(sum, 0);
	assert_int_equal(id[510], 0xa5);
}

static void test_identify(void **state)
{
	struct env *e;
	char s[48];
	uint8_t id[512];
	assert_int_equal(
	    make_env("ahci-hd", "%h,ser=SER-0001,rev=R9,model=Test Model X,nmrr=1", &e), 0);
	port_start(e, 0);
	identify(e, 0, ATA_IDENTIFY, id);
	ata_str(id, 10, 20, s);
	assert_string_equal(s, "SER-0001");
	ata_str(id, 23, 8, s);
	assert_string_equal(s, "R9");
	ata_str(id, 27, 40, s);
	assert_string_equal(s, "Test Model X");
	assert_int_equal(idw(id, 217), 1);
	assert_int_equal(idw(id, 100), 2048);
	assert_int_equal(idw(id, 101) | idw(id, 102) | idw(id, 103), 0);
	assert_int_equal(idw(id, 60), 2048);
	assert_true(idw(id, 83) & 0x0400); /* LBA48 */
	assert_int_equal(idw(id, 75), 31);
	assert_true(idw(id, 76) & 0x0100);		 /* NCQ */
	assert_true(idw(id, 85) & 0x0020);		 /* write cache enabled */
	assert_int_equal(idw(id, 106) & 0xd000, 0x4000); /* 512-byte logical sectors */
	assert_int_equal(idw(id, 169) & 1, 1);		 /* TRIM: a file can punch holes */
	/* completion: PIO Setup and D2H FIS, interrupt bits */
	assert_int_equal(e->ram[FB_GPA(0) + 0x20], FIS_PIO_SETUP);
	assert_int_equal(e->ram[FB_GPA(0) + 0x20 + 15], 0x50);
	assert_int_equal(e->ram[FB_GPA(0) + 0x40], FIS_D2H);
	assert_int_equal(e->ram[FB_GPA(0) + 0x40 + 2], 0x50);
	assert_int_equal(prd32(e, 0, AHCI_P_IS) & (AHCI_P_IX_PSS | AHCI_P_IX_DHRS),
			 AHCI_P_IX_PSS | AHCI_P_IX_DHRS);
	assert_true(rd(e, AHCI_IS) & 1);
	free_env(e);

	/* defaults; nodelete and 4K sectors */
	assert_int_equal(make_env("ahci", "hd:%h,nodelete,sectorsize=4096", &e), 0);
	port_start(e, 0);
	identify(e, 0, ATA_IDENTIFY, id);
	ata_str(id, 10, 20, s);
	assert_int_equal(strncmp(s, "BHYVE-", 6), 0);
	assert_int_equal(strlen(s), 20);
	ata_str(id, 23, 8, s);
	assert_string_equal(s, "001");
	ata_str(id, 27, 40, s);
	assert_string_equal(s, "BHYVE SATA DISK");
	assert_int_equal(idw(id, 169) & 1, 0);
	assert_int_equal(idw(id, 217), 0);
	assert_int_equal(idw(id, 100), 256);
	assert_int_equal(idw(id, 106) & 0xf000, 0x5000);
	assert_int_equal(idw(id, 117), 2048);
	free_env(e);
}

static void test_dma_write_read(void **state)
{
	struct env *e;
	assert_int_equal(make_env("ahci-hd", "%h", &e), 0);
	port_start(e, 0);
	uint8_t *src = e->ram + DATA_GPA;
	fill_pattern(src, 8 * 512, 99);
	/* WRITE DMA EXT, 8 sectors at LBA 10, split over three PRDs */
	struct fis f = {.cmd = ATA_WRITE_DMA_EXT, .lba = 10, .count = 8};
	struct prd p[3] = {{DATA_GPA, 1024}, {DATA_GPA + 1024, 2048}, {DATA_GPA + 3072, 1024}};
	build(e, 0, 3, &f, NULL, p, 3, true);
	uint32_t tfd = run(e, 0, 3);
	assert_int_equal(tfd, 0x50);
	assert_int_equal(prdbc(e, 0, 3), 4096);
	assert_true(prd32(e, 0, AHCI_P_IS) & AHCI_P_IX_DHRS);
	uint8_t file[4096];
	file_read(e->hd, file, sizeof(file), 10 * 512);
	assert_memory_equal(file, src, sizeof(file));
	/* READ DMA (28-bit) back into another buffer */
	uint8_t *dst = e->ram + DATA_GPA + 0x10000;
	memset(dst, 0, 4096);
	tfd = simple(e, 0, ATA_READ_DMA, 10, 8, DATA_GPA + 0x10000, 4096, false);
	assert_int_equal(tfd, 0x50);
	assert_memory_equal(dst, src, 4096);
	/* a larger PRDT than the transfer is fine: only the transfer moves */
	memset(dst, 0, 8192);
	tfd = simple(e, 0, ATA_READ_DMA_EXT, 0, 1, DATA_GPA + 0x10000, 8192, false);
	assert_int_equal(tfd, 0x50);
	assert_int_equal(prdbc(e, 0, 0), 512);
	file_read(e->hd, file, 512, 0);
	assert_memory_equal(dst, file, 512);
	assert_int_equal(dst[512], 0);
	free_env(e);
}

static void test_pio_read_write(void **state)
{
	struct env *e;
	assert_int_equal(make_env("ahci-hd", "%h", &e), 0);
	port_start(e, 0);
	uint8_t *dst = e->ram + DATA_GPA;
	uint32_t tfd = simple(e, 0, ATA_READ_SECTORS, 100, 2, DATA_GPA, 1024, false);
	assert_int_equal(tfd, 0x50);
	uint8_t file[1024];
	file_read(e->hd, file, sizeof(file), 100 * 512);
	assert_memory_equal(dst, file, 1024);
	assert_int_equal(e->ram[FB_GPA(0) + 0x20], FIS_PIO_SETUP);
	assert_int_equal(e->ram[FB_GPA(0) + 0x20 + 1] & 0x20, 0x20); /* device to host */
	assert_true(prd32(e, 0, AHCI_P_IS) & AHCI_P_IX_PSS);
	/* WRITE SECTORS EXT */
	fill_pattern(dst, 512, 5);
	tfd = simple(e, 0, ATA_WRITE_SECTORS_EXT, 2047, 1, DATA_GPA, 512, true);
	assert_int_equal(tfd, 0x50);
	file_read(e->hd, file, 512, 2047 * 512);
	assert_memory_equal(dst, file, 512);
	/* READ MULTIPLE needs SET MULTIPLE MODE first */
	tfd = simple(e, 0, ATA_READ_MULTIPLE, 0, 1, DATA_GPA, 512, false);
	assert_true(tfd & ATA_S_ERR);
	port_restart(e, 0);
	assert_int_equal(simple(e, 0, ATA_SET_MULTIPLE, 0, 16, 0, 0, false), 0x50);
	assert_int_equal(simple(e, 0, ATA_READ_MULTIPLE, 0, 1, DATA_GPA, 512, false), 0x50);
	free_env(e);
}

static void test_ncq(void **state)
{
	struct env *e;
	assert_int_equal(make_env("ahci-hd", "%h", &e), 0);
	port_start(e, 0);
	/* tag 0: write 4 sectors at 20; tags 1 and 2: read 2 sectors at 0 and 4 */
	uint8_t *w = e->ram + DATA_GPA;
	fill_pattern(w, 2048, 42);
	struct fis f0 = {.cmd = ATA_WRITE_FPDMA_QUEUED, .lba = 20, .features = 4, .count = 0 << 3};
	struct fis f1 = {.cmd = ATA_READ_FPDMA_QUEUED, .lba = 0, .features = 2, .count = 1 << 3};
	struct fis f2 = {.cmd = ATA_READ_FPDMA_QUEUED, .lba = 4, .features = 2, .count = 2 << 3};
	struct prd p0 = {DATA_GPA, 2048}, p1 = {DATA_GPA + 0x1000, 1024},
		   p2 = {DATA_GPA + 0x2000, 1024};
	build(e, 0, 0, &f0, NULL, &p0, 1, true);
	build(e, 0, 1, &f1, NULL, &p1, 1, false);
	build(e, 0, 2, &f2, NULL, &p2, 1, false);
	pwr(e, 0, AHCI_P_SACT, 7);
	pwr(e, 0, AHCI_P_CI, 7);
	wait_done(e, 0, 7, 7);
	assert_int_equal(prd32(e, 0, AHCI_P_SACT), 0);
	assert_int_equal(prd32(e, 0, AHCI_P_CI), 0);
	assert_int_equal(prd32(e, 0, AHCI_P_IS) & (AHCI_P_IX_SDBS | AHCI_P_IX_TFES),
			 AHCI_P_IX_SDBS);
	assert_int_equal(e->ram[FB_GPA(0) + 0x58], FIS_SDB);
	uint8_t file[2048];
	file_read(e->hd, file, 2048, 20 * 512);
	assert_memory_equal(file, w, 2048);
	file_read(e->hd, file, 1024, 0);
	assert_memory_equal(e->ram + DATA_GPA + 0x1000, file, 1024);
	file_read(e->hd, file, 1024, 4 * 512);
	assert_memory_equal(e->ram + DATA_GPA + 0x2000, file, 1024);

	/* an NCQ read past the end: SDB FIS with ERR, TFES; the NCQ error log names the tag */
	struct fis bad = {
	    .cmd = ATA_READ_FPDMA_QUEUED, .lba = 2047, .features = 2, .count = 5 << 3};
	build(e, 0, 5, &bad, NULL, &p1, 1, false);
	pwr(e, 0, AHCI_P_SACT, 1u << 5);
	pwr(e, 0, AHCI_P_CI, 1u << 5);
	wait_done(e, 0, 1u << 5, 1u << 5);
	assert_true(prd32(e, 0, AHCI_P_IS) & AHCI_P_IX_TFES);
	assert_true(prd32(e, 0, AHCI_P_TFD) & ATA_S_ERR);
	assert_int_equal(e->ram[FB_GPA(0) + 0x58 + 2] & ATA_S_ERR, ATA_S_ERR);
	port_restart(e, 0);
	struct fis log = {.cmd = ATA_READ_LOG_EXT, .lba = ATA_LOG_NCQ_ERROR, .count = 1};
	struct prd lp = {DATA_GPA + 0x3000, 512};
	build(e, 0, 0, &log, NULL, &lp, 1, false);
	assert_int_equal(run(e, 0, 0), 0x50);
	assert_int_equal(e->ram[DATA_GPA + 0x3000], 5);
	assert_true(e->ram[DATA_GPA + 0x3000 + 3] & ATA_E_IDNF);
	/* the log directory lists page 0x10 */
	log.lba = ATA_LOG_DIRECTORY;
	build(e, 0, 0, &log, NULL, &lp, 1, false);
	assert_int_equal(run(e, 0, 0), 0x50);
	assert_int_equal(le16_at(e->ram + DATA_GPA + 0x3000), 1);
	assert_int_equal(le16_at(e->ram + DATA_GPA + 0x3000 + 2 * 0x10), 1);
	free_env(e);
}

static void test_flush_and_misc(void **state)
{
	struct env *e;
	assert_int_equal(make_env("ahci-hd", "%h", &e), 0);
	port_start(e, 0);
	assert_int_equal(simple(e, 0, ATA_FLUSH_CACHE_EXT, 0, 0, 0, 0, false), 0x50);
	assert_int_equal(simple(e, 0, ATA_FLUSH_CACHE, 0, 0, 0, 0, false), 0x50);
	assert_int_equal(simple(e, 0, ATA_CHECK_POWER_MODE, 0, 0, 0, 0, false), 0x50);
	assert_int_equal(e->ram[FB_GPA(0) + 0x40 + 12], 0xff);
	assert_int_equal(simple(e, 0, ATA_IDLE_IMMEDIATE, 0, 0, 0, 0, false), 0x50);
	assert_int_equal(simple(e, 0, ATA_READ_VERIFY_EXT, 5, 10, 0, 0, false), 0x50);
	/* SET FEATURES: write cache off, transfer mode UDMA5 */
	struct fis f = {.cmd = ATA_SET_FEATURES, .features = ATA_SF_DIS_WCACHE};
	build(e, 0, 0, &f, NULL, NULL, 0, false);
	assert_int_equal(run(e, 0, 0), 0x50);
	f = (struct fis){.cmd = ATA_SET_FEATURES, .features = ATA_SF_SETXFER, .count = 0x45};
	build(e, 0, 0, &f, NULL, NULL, 0, false);
	assert_int_equal(run(e, 0, 0), 0x50);
	uint8_t id[512];
	identify(e, 0, ATA_IDENTIFY, id);
	assert_int_equal(idw(id, 85) & 0x0020, 0);
	assert_int_equal(idw(id, 88) >> 8, 0x20);
	/* a write-through write still works (flush after it) */
	fill_pattern(e->ram + DATA_GPA, 512, 77);
	assert_int_equal(simple(e, 0, ATA_WRITE_DMA, 1, 1, DATA_GPA, 512, true), 0x50);
	uint8_t file[512];
	file_read(e->hd, file, 512, 512);
	assert_memory_equal(file, e->ram + DATA_GPA, 512);
	/* unknown commands, NOP and SMART abort */
	uint32_t tfd = simple(e, 0, 0x99, 0, 0, 0, 0, false);
	assert_int_equal(tfd, ATA_E_ABRT << 8 | 0x51);
	port_restart(e, 0);
	tfd = simple(e, 0, ATA_NOP, 0, 0, 0, 0, false);
	assert_int_equal(tfd, ATA_E_ABRT << 8 | 0x51);
	port_restart(e, 0);
	tfd = simple(e, 0, ATA_SMART, 0, 0, 0, 0, false);
	assert_int_equal(tfd, ATA_E_ABRT << 8 | 0x51);
	free_env(e);
}

static void test_trim(void **state)
{
	struct env *e;
	assert_int_equal(make_env("ahci-hd", "%h", &e), 0);
	port_start(e, 0);
	/* ranges: 256 sectors at 256 (128 KiB at 128 KiB), an empty entry, 8 at 2040 */
	uint8_t *r = e->ram + DATA_GPA;
	memset(r, 0, 512);
	put_le64(r, 256 | (uint64_t)256 << 48);
	put_le64(r + 16, 2040 | (uint64_t)8 << 48);
	struct fis f = {.cmd = ATA_DSM, .features = ATA_DSM_TRIM, .count = 1};
	struct prd p = {DATA_GPA, 512};
	build(e, 0, 0, &f, NULL, &p, 1, true);
	assert_int_equal(run(e, 0, 0), 0x50);
	int fd = open(e->hd, O_RDONLY);
	assert_true(fd >= 0);
	off_t hole = lseek(fd, 0, SEEK_HOLE);
	assert_int_equal(hole, 256 * 512);
	off_t data = lseek(fd, 256 * 512, SEEK_DATA);
	assert_int_equal(data, 512 * 512);
	close(fd);
	/* a range beyond the disk fails */
	put_le64(r, 2047 | (uint64_t)2 << 48);
	memset(r + 16, 0, 8);
	build(e, 0, 0, &f, NULL, &p, 1, true);
	assert_true(run(e, 0, 0) & ATA_S_ERR);
	free_env(e);

	/* nodelete: DSM aborts */
	assert_int_equal(make_env("ahci-hd", "%h,nodelete", &e), 0);
	port_start(e, 0);
	r = e->ram + DATA_GPA;
	put_le64(r, 0 | (uint64_t)8 << 48);
	build(e, 0, 0, &f, NULL, &p, 1, true);
	assert_int_equal(run(e, 0, 0), ATA_E_ABRT << 8 | 0x51);
	free_env(e);
}

static void test_readonly(void **state)
{
	struct env *e;
	assert_int_equal(make_env("ahci-hd", "%h,ro", &e), 0);
	port_start(e, 0);
	uint8_t id[512];
	identify(e, 0, ATA_IDENTIFY, id);
	assert_int_equal(idw(id, 169) & 1, 0);
	memset(e->ram + DATA_GPA, 0x5a, 512);
	uint32_t tfd = simple(e, 0, ATA_WRITE_DMA_EXT, 0, 1, DATA_GPA, 512, true);
	assert_int_equal(tfd, ATA_E_ABRT << 8 | 0x51);
	assert_true(prd32(e, 0, AHCI_P_IS) & AHCI_P_IX_TFES);
	uint8_t file[512], orig[512];
	file_read(e->hd, file, 512, 0);
	fill_pattern(orig, 512, 1);
	assert_memory_equal(file, orig, 512);
	/* reads still work after a restart */
	port_restart(e, 0);
	assert_int_equal(simple(e, 0, ATA_READ_DMA_EXT, 0, 1, DATA_GPA, 512, false), 0x50);
	assert_memory_equal(e->ram + DATA_GPA, orig, 512);
	free_env(e);
}

static void test_range_error_stalls(void **state)
{
	struct env *e;
	assert_int_equal(make_env("ahci-hd", "%h", &e), 0);
	port_start(e, 0);
	wr(e, AHCI_GHC, AHCI_GHC_IE);
	uint32_t tfd = simple(e, 0, ATA_READ_DMA_EXT, 2047, 2, DATA_GPA, 1024, false);
	assert_int_equal(tfd & 0xff, 0x51);
	assert_true((tfd >> 8) & ATA_E_IDNF);
	assert_true(prd32(e, 0, AHCI_P_IS) & AHCI_P_IX_TFES);
	assert_int_equal(e->ram[FB_GPA(0) + 0x40 + 2], 0x51);
	/* the port is stalled: a new command stays issued */
	struct fis f = {.cmd = ATA_IDENTIFY};
	struct prd p = {DATA_GPA, 512};
	build(e, 0, 1, &f, NULL, &p, 1, false);
	pwr(e, 0, AHCI_P_CI, 2);
	assert_int_equal(prd32(e, 0, AHCI_P_CI), 2);
	/* recovery: ST off clears CI, ST on runs commands again */
	port_restart(e, 0);
	assert_int_equal(run(e, 0, 1), 0x50);
	/* huge LBAs do not wrap around */
	tfd = simple(e, 0, ATA_READ_DMA_EXT, 0xffffffffffffULL, 0, DATA_GPA, 512, false);
	assert_true(tfd & ATA_S_ERR);
	port_restart(e, 0);
	tfd = simple(e, 0, ATA_READ_DMA, 0x0fffffff, 0, DATA_GPA, 512, false);
	assert_true(tfd & ATA_S_ERR);
	free_env(e);
}

static void test_bad_dma(void **state)
{
	struct env *e;
	assert_int_equal(make_env("ahci-hd", "%h", &e), 0);
	port_start(e, 0);
	/* a PRD outside RAM */
	uint32_t tfd = simple(e, 0, ATA_READ_DMA_EXT, 0, 1, 0x7fff0000, 512, false);
	assert_true(tfd & ATA_S_ERR);
	assert_true(prd32(e, 0, AHCI_P_IS) & AHCI_P_IX_HBFS);
	/* a PRD that runs off the end of RAM */
	port_restart(e, 0);
	tfd = simple(e, 0, ATA_READ_DMA_EXT, 0, 2, RAM_SIZE - 512, 1024, false);
	assert_true(prd32(e, 0, AHCI_P_IS) & AHCI_P_IX_HBFS);
	/* a PRDT shorter than the transfer */
	port_restart(e, 0);
	tfd = simple(e, 0, ATA_READ_DMA_EXT, 0, 4, DATA_GPA, 512, false);
	assert_int_equal(tfd, ATA_E_ABRT << 8 | 0x51);
	assert_true(prd32(e, 0, AHCI_P_IS) & AHCI_P_IX_TFES);
	/* no PRDT at all */
	port_restart(e, 0);
	tfd = simple(e, 0, ATA_READ_DMA_EXT, 0, 1, 0, 0, false);
	assert_true(tfd & ATA_S_ERR);
	/* a command table outside RAM */
	port_restart(e, 0);
	struct fis f = {.cmd = ATA_IDENTIFY};
	build(e, 0, 0, &f, NULL, NULL, 0, false);
	put_le64(e->ram + CLB_GPA(0) + 8, 0x7f000000);
	pwr(e, 0, AHCI_P_CI, 1);
	assert_true(prd32(e, 0, AHCI_P_IS) & AHCI_P_IX_HBFS);
	assert_int_equal(prd32(e, 0, AHCI_P_CI), 0);
	/* a command list outside RAM */
	port_restart(e, 0);
	pwr(e, 0, AHCI_P_CMD, AHCI_P_CMD_FRE);
	pwr(e, 0, AHCI_P_CLB, 0x7f000000);
	pwr(e, 0, AHCI_P_CMD, AHCI_P_CMD_FRE | AHCI_P_CMD_ST);
	pwr(e, 0, AHCI_P_CI, 1);
	assert_true(prd32(e, 0, AHCI_P_IS) & AHCI_P_IX_HBFS);
	/* a bad FIS type */
	pwr(e, 0, AHCI_P_CMD, AHCI_P_CMD_FRE);
	pwr(e, 0, AHCI_P_CLB, (uint32_t)CLB_GPA(0));
	pwr(e, 0, AHCI_P_IS, ~0u);
	pwr(e, 0, AHCI_P_CMD, AHCI_P_CMD_FRE | AHCI_P_CMD_ST);
	build(e, 0, 0, &f, NULL, NULL, 0, false);
	e->ram[CT_GPA(0, 0)] = 0x34;
	pwr(e, 0, AHCI_P_CI, 1);
	assert_true(prd32(e, 0, AHCI_P_IS) & AHCI_P_IX_IFS);
	/* without Bus Master Enable nothing runs */
	port_restart(e, 0);
	harness_cfg_write(e->vm, SLOT, PCIR_COMMAND, 2, 0x2);
	memset(e->ram + DATA_GPA, 0, 512);
	struct prd p = {DATA_GPA, 512};
	build(e, 0, 0, &f, NULL, &p, 1, false);
	pwr(e, 0, AHCI_P_CI, 1);
	assert_int_equal(prd32(e, 0, AHCI_P_CI), 1);
	assert_int_equal(e->ram[DATA_GPA], 0);
	free_env(e);
}

static uint32_t packet(struct env *e, unsigned port, const uint8_t *cdb, uint32_t len, bool dma)
{
	struct fis f = {.cmd = ATA_PACKET, .features = dma ? 1 : 0};
	struct prd p = {DATA_GPA, len};
	uint8_t acmd[12];
	memcpy(acmd, cdb, 12);
	build(e, port, 0, &f, acmd, &p, len ? 1 : 0, false);
	return run(e, port, 0);
}

static void test_atapi(void **state)
{
	struct env *e;
	assert_int_equal(make_env("ahci-cd", "%c", &e), 0);
	assert_int_equal(prd32(e, 0, AHCI_P_SIG), AHCI_SIG_ATAPI);
	assert_int_equal(prd32(e, 0, AHCI_P_SSTS), 0x133);
	port_start(e, 0);
	uint8_t id[512];
	identify(e, 0, ATA_IDENTIFY_PACKET, id);
	assert_int_equal(idw(id, 0), 0x85c0);
	char s[48];
	ata_str(id, 27, 40, s);
	assert_string_equal(s, "BHYVE SATA DVD ROM");
	/* IDENTIFY DEVICE aborts with the packet signature */
	uint32_t tfd = simple(e, 0, ATA_IDENTIFY, 0, 0, DATA_GPA, 512, false);
	assert_int_equal(tfd, ATA_E_ABRT << 8 | 0x51);
	assert_int_equal(e->ram[FB_GPA(0) + 0x40 + 5], 0x14);
	assert_int_equal(e->ram[FB_GPA(0) + 0x40 + 6], 0xeb);
	port_restart(e, 0);
	/* INQUIRY, PIO and DMA */
	uint8_t inq[12] = {0x12, 0, 0, 0, 96, 0};
	memset(e->ram + DATA_GPA, 0xee, 96);
	assert_int_equal(packet(e, 0, inq, 96, false), 0x50);
	assert_int_equal(e->ram[DATA_GPA] & 0x1f, 5); /* CD/DVD */
	assert_int_equal(memcmp(e->ram + DATA_GPA + 8, "BHYVE", 5), 0);
	assert_true(prdbc(e, 0, 0) >= 36);
	assert_true(prd32(e, 0, AHCI_P_IS) & AHCI_P_IX_PSS);
	memset(e->ram + DATA_GPA, 0xee, 96);
	assert_int_equal(packet(e, 0, inq, 96, true), 0x50);
	assert_int_equal(e->ram[DATA_GPA] & 0x1f, 5);
	/* READ CAPACITY */
	uint8_t cap[12] = {0x25};
	assert_int_equal(packet(e, 0, cap, 8, true), 0x50);
	assert_int_equal(e->ram[DATA_GPA + 3], CD_SIZE / 2048 - 1);
	/* READ(10): 2 blocks at block 3 */
	uint8_t rd10[12] = {0x28, 0, 0, 0, 0, 3, 0, 0, 2, 0};
	memset(e->ram + DATA_GPA, 0, 4096);
	assert_int_equal(packet(e, 0, rd10, 4096, true), 0x50);
	assert_int_equal(prdbc(e, 0, 0), 4096);
	uint8_t file[4096];
	file_read(e->cd, file, 4096, 3 * 2048);
	assert_memory_equal(e->ram + DATA_GPA, file, 4096);
	/* a read past the end: CHECK CONDITION, ILLEGAL REQUEST */
	uint8_t bad[12] = {0x28, 0, 0, 0, 0, 63, 0, 0, 2, 0};
	tfd = packet(e, 0, bad, 4096, true);
	assert_true(tfd & ATA_S_ERR);
	assert_int_equal((tfd >> 8) >> 4, 5);
	assert_true(prd32(e, 0, AHCI_P_IS) & AHCI_P_IX_TFES);
	/* writes are refused */
	port_restart(e, 0);
	tfd = simple(e, 0, ATA_WRITE_DMA_EXT, 0, 1, DATA_GPA, 512, true);
	assert_true(tfd & ATA_S_ERR);
	free_env(e);
}

static void test_empty_cd_and_multiport(void **state)
{
	struct env *e;
	assert_int_equal(make_env("ahci", "hd:%h,cd:%c,ro,cd:,hd:%h,ro", &e), 0);
	assert_int_equal(rd(e, AHCI_PI), 0xf);
	assert_int_equal(rd(e, AHCI_CAP) & AHCI_CAP_NP_MASK, 5);
	assert_int_equal(prd32(e, 0, AHCI_P_SIG), AHCI_SIG_ATA);
	assert_int_equal(prd32(e, 1, AHCI_P_SIG), AHCI_SIG_ATAPI);
	assert_int_equal(prd32(e, 2, AHCI_P_SIG), AHCI_SIG_ATAPI);
	assert_int_equal(prd32(e, 3, AHCI_P_SIG), AHCI_SIG_ATA);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(prd32(e, i, AHCI_P_SSTS), 0x133);
	struct cfgnode *dev = config_node(e->vm->cfg, "pci.0.4.0");
	assert_string_equal(config_get(dev, "port.0.type"), "hd");
	assert_string_equal(config_get(dev, "port.0.path"), e->hd);
	assert_string_equal(config_get(dev, "port.1.type"), "cd");
	assert_string_equal(config_get(dev, "port.1.ro"), "true");
	assert_string_equal(config_get(dev, "port.2.type"), "cd");
	assert_null(config_get(dev, "port.2.path"));
	/* the empty drive: TEST UNIT READY says NOT READY */
	port_start(e, 2);
	uint8_t tur[12] = {0};
	uint32_t tfd = packet(e, 2, tur, 0, false);
	assert_true(tfd & ATA_S_ERR);
	assert_int_equal((tfd >> 8) >> 4, 2);
	/* the other ports work side by side */
	port_start(e, 1);
	port_start(e, 3);
	uint8_t rd10[12] = {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0};
	assert_int_equal(packet(e, 1, rd10, 2048, true), 0x50);
	assert_int_equal(simple(e, 3, ATA_READ_DMA, 0, 1, DATA_GPA, 512, false), 0x50);
	free_env(e);

	/* 7 ports: the BAR grows to 2 KiB and NP follows */
	assert_int_equal(make_env("ahci", "hd:%h,ro,cd:,cd:,cd:,cd:,cd:,cd:%c", &e), 0);
	assert_int_equal(rd(e, AHCI_PI), 0x7f);
	assert_int_equal(rd(e, AHCI_CAP) & AHCI_CAP_NP_MASK, 6);
	assert_int_equal(prd32(e, 6, AHCI_P_SIG), AHCI_SIG_ATAPI);
	free_env(e);

	/* legacy: ahci,PATH is a disk on port 0; two cd ports may share an image */
	assert_int_equal(make_env("ahci", "%h,cd:%c,cd:%c", &e), 0);
	assert_int_equal(rd(e, AHCI_PI), 0x7);
	assert_int_equal(prd32(e, 0, AHCI_P_SIG), AHCI_SIG_ATA);
	free_env(e);
}

static void test_config_bad(void **state)
{
	static const struct {
		const char *emu, *conf;
	} bad[] = {
	    {"ahci", "fd:%h"},
	    {"ahci", "hd:%h,nmrr=abc"},
	    {"ahci", "hd:%h,nmrr=70000"},
	    {"ahci-hd", "%h,ser=ABCDEFGHIJ0123456789X"},
	    {"ahci-hd", "%h,rev=123456789"},
	    {"ahci-hd", "%h,model=12345678901234567890123456789012345678901"},
	    {"ahci-hd", "%h,foo=1"},
	    {"ahci-hd", "%h,sectorsize=1000"},
	    {"ahci-hd", ""},
	    {"ahci-hd", "/nonexistent/kb-ahci.img"},
	    {"ahci", "hd:%h,hd:%h"},
	    {"ahci", "hd:%h,cd:%c,/extra"},
	    {"ahci-cd", "cd:%c,hd:%h"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct env *e;
		int r = make_env(bad[i].emu, bad[i].conf, &e);
		if (r == 0)
			fail_msg("%s,%s accepted", bad[i].emu, bad[i].conf);
		free_env(e);
	}
	/* 33 ports */
	char conf[33 * 4 + 1] = "";
	for (int i = 0; i < 33; i++)
		strcat(conf, i ? ",cd:" : "cd:");
	struct env *e;
	assert_true(make_env("ahci", conf, &e) < 0);
	free_env(e);
	conf[32 * 4 - 1] = '\0'; /* 32 is fine */
	assert_int_equal(make_env("ahci", conf, &e), 0);
	assert_int_equal(rd(e, AHCI_PI), 0xffffffffu);
	assert_int_equal(rd(e, AHCI_CAP) & AHCI_CAP_NP_MASK, 31);
	/* 0x100 + 32 * 0x80 bytes: an 8 KiB BAR */
	harness_cfg_write(e->vm, SLOT, PCIR_BAR0 + 4 * AHCI_BAR, 4, ~0u);
	assert_int_equal(harness_cfg_read(e->vm, SLOT, PCIR_BAR0 + 4 * AHCI_BAR, 4) & ~0xfu,
			 (uint32_t)~0x1fffu);
	free_env(e);
	/* the same image on a writable and a read-only disk is fine, bootindex is kept */
	assert_int_equal(make_env("ahci", "hd:%h,bootindex=1,hd:%h,ro", &e), 0);
	assert_string_equal(config_get(config_node(e->vm->cfg, "pci.0.4.0"), "port.0.bootindex"),
			    "1");
	free_env(e);
}

static void test_intx(void **state)
{
	struct env *e;
	assert_int_equal(make_env("ahci-hd", "%h", &e), 0);
	struct pci_dev *pd = pci_find_dev(e->vm, 0, SLOT, 0);
	assert_non_null(pd);
	port_start(e, 0);
	/* GHC.IE off: no interrupt */
	uint8_t id[512];
	identify(e, 0, ATA_IDENTIFY, id);
	assert_true(rd(e, AHCI_IS) & 1);
	assert_false(pci_intx_level(e->vm, pd->gsi));
	wr(e, AHCI_GHC, AHCI_GHC_IE);
	assert_true(pci_intx_level(e->vm, pd->gsi));
	/* HBA IS cannot be cleared while the port's IS is set */
	wr(e, AHCI_IS, 1);
	assert_true(pci_intx_level(e->vm, pd->gsi));
	pwr(e, 0, AHCI_P_IS, ~0u);
	wr(e, AHCI_IS, 1);
	assert_false(pci_intx_level(e->vm, pd->gsi));
	/* masked port events latch in PxIS but do not interrupt */
	pwr(e, 0, AHCI_P_IE, 0);
	identify(e, 0, ATA_IDENTIFY, id);
	assert_false(pci_intx_level(e->vm, pd->gsi));
	assert_int_equal(rd(e, AHCI_IS), 0);
	pwr(e, 0, AHCI_P_IE, AHCI_P_IX_DHRS);
	assert_true(pci_intx_level(e->vm, pd->gsi));
	wr(e, AHCI_GHC, 0);
	assert_false(pci_intx_level(e->vm, pd->gsi));
	free_env(e);
}

static void test_stop_with_io_in_flight(void **state)
{
	struct env *e;
	assert_int_equal(make_env("ahci-hd", "%h", &e), 0);
	port_start(e, 0);
	for (unsigned s = 0; s < 8; s++) {
		struct fis f = {.cmd = ATA_READ_FPDMA_QUEUED,
				.lba = s * 16,
				.features = 16,
				.count = (uint16_t)(s << 3)};
		struct prd p = {DATA_GPA + s * 0x2000, 8192};
		build(e, 0, s, &f, NULL, &p, 1, false);
	}
	pwr(e, 0, AHCI_P_SACT, 0xff);
	pwr(e, 0, AHCI_P_CI, 0xff);
	/* stop at once: everything is forgotten; late completions must not touch the port */
	pwr(e, 0, AHCI_P_CMD, AHCI_P_CMD_FRE);
	assert_int_equal(prd32(e, 0, AHCI_P_CI), 0);
	assert_int_equal(prd32(e, 0, AHCI_P_SACT), 0);
	pwr(e, 0, AHCI_P_IS, ~0u);
	memset(e->ram + FB_GPA(0), 0, 256);
	pump_for(e, 50);
	assert_int_equal(prd32(e, 0, AHCI_P_IS), 0);
	assert_int_equal(e->ram[FB_GPA(0) + 0x58], 0);
	/* and the port works again, also after an HBA reset with I/O in flight */
	pwr(e, 0, AHCI_P_CMD, AHCI_P_CMD_FRE | AHCI_P_CMD_ST);
	assert_int_equal(simple(e, 0, ATA_READ_DMA_EXT, 0, 16, DATA_GPA, 8192, false), 0x50);
	build(e, 0, 0, &(struct fis){.cmd = ATA_READ_DMA_EXT, .lba = 0, .count = 16}, NULL,
	      &(struct prd){DATA_GPA, 8192}, 1, false);
	pwr(e, 0, AHCI_P_CI, 1);
	wr(e, AHCI_GHC, AHCI_GHC_HR);
	assert_int_equal(prd32(e, 0, AHCI_P_CI), 0);
	free_env(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reset_values),
	    cmocka_unit_test(test_hba_reset_and_start_stop),
	    cmocka_unit_test(test_identify),
	    cmocka_unit_test(test_dma_write_read),
	    cmocka_unit_test(test_pio_read_write),
	    cmocka_unit_test(test_ncq),
	    cmocka_unit_test(test_flush_and_misc),
	    cmocka_unit_test(test_trim),
	    cmocka_unit_test(test_readonly),
	    cmocka_unit_test(test_range_error_stalls),
	    cmocka_unit_test(test_bad_dma),
	    cmocka_unit_test(test_atapi),
	    cmocka_unit_test(test_empty_cd_and_multiport),
	    cmocka_unit_test(test_config_bad),
	    cmocka_unit_test(test_intx),
	    cmocka_unit_test(test_stop_with_io_in_flight),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
