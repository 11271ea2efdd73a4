/* SPDX-License-Identifier: BSD-2-Clause */
/* fbuf: the graphical console's display, with bhyve's options and a VNC server.
 *
 * By default it is the Bochs/QEMU standard display (1234:1111, class 03/80, revision 2), because
 * that is what Debian's OVMF (QemuVideoDxe) and Linux (bochs DRM, then efifb) drive; bhyve's own
 * device (FB5D:40FB) has no driver there. model=bhyve gives bhyve's device for guests that carry
 * bhyve's firmware.
 *
 *   Bochs:  BAR0 VRAM (32 MiB, prefetchable); BAR2 4 KiB of registers: EDID at 0, VGA ports
 *           0x3C0-0x3DF at 0x400, DISPI at 0x500 (16-bit registers), QEMU extensions at 0x600.
 *   bhyve:  BAR0 128 bytes of mode registers {u32 fbsize; u16 width, height, depth, refresh};
 *           BAR1 VRAM.
 *
 * VRAM is a memfd mapped into the guest as a KVM memory slot wherever the guest puts the BAR, with
 * dirty-page logging: the guest draws without exits and the VNC server sends only what changed.
 * Until the slot exists (or where KVM refuses it), BAR accesses reach VRAM through MMIO exits. */
#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/log.h"
#include "core/vm.h"
#include "fbuf/fbuf_config.h"
#include "fbuf/fbuf_dispi.h"
#include "fbuf/fbuf_edid.h"
#include "pci/pci.h"
#include "vnc/display.h"
#include "vnc/vnc_server.h"

#define VRAM_SIZE (32u << 20) /* bhyve's; holds 3840x2160 at 32 bpp */
#define VRAM_PAGES (VRAM_SIZE >> DISPLAY_PAGE_SHIFT)
#define BITS_PER_WORD (8 * sizeof(unsigned long))

/* Bochs register window (BAR2) */
#define MMIO_SIZE 0x1000
#define MMIO_EDID 0x000
#define MMIO_VGA 0x400
#define MMIO_VGA_SIZE 0x20
#define MMIO_DISPI 0x500
#define MMIO_QEXT 0x600
#define QEXT_SIZE 8
#define QEXT_LITTLE_ENDIAN 0x1e1e1e1e
#define VGA_INPUT_STATUS1 (0x3da - 0x3c0)

/* bhyve register window (BAR0 of model=bhyve) */
#define BHYVE_REGS_SIZE 128
#define BHYVE_REG_FBSIZE 0
#define BHYVE_REG_WIDTH 4
#define BHYVE_REG_HEIGHT 6
#define BHYVE_REG_DEPTH 8
#define BHYVE_REG_REFRESH 10

struct fbuf {
	pthread_mutex_t lock;
	struct vm *vm;
	struct fbuf_config cfg;
	int vram_bar;
	uint8_t *vram;
	int memslot;	    /* KVM slot number, or -1 */
	bool slot_mapped;   /* the slot maps VRAM at the BAR's address now */
	unsigned long soft_dirty[VRAM_PAGES / BITS_PER_WORD]; /* pages written through exits */
	/* Bochs */
	struct dispi dispi;
	uint8_t edid[FBUF_EDID_SIZE];
	uint8_t vga[MMIO_VGA_SIZE];
	uint32_t byteorder;
	/* bhyve */
	uint16_t bh_width, bh_height, bh_depth, bh_refresh;
	struct kb_ratelimit guest_rl;
	struct display display;
	struct vnc_server *vnc;
};

static bool fbuf_present; /* one fbuf per VM (and bhyve runs one VM per process) */

/* --- the display the VNC server reads --- */

static bool display_mode_locked(struct fbuf *fb, struct display_mode *m, const char **why)
{
	if (fb->cfg.model == FBUF_MODEL_BOCHS) {
		if (fb->byteorder != QEXT_LITTLE_ENDIAN) {
			*why = "big-endian frame buffer";
			return false;
		}
		return dispi_mode(&fb->dispi, m, why);
	}
	*why = NULL;
	if (fb->bh_width == 0 || fb->bh_height == 0)
		return false; /* VGA mode: nothing drawn in VRAM */
	if (fb->bh_width > FBUF_MAX_WIDTH || fb->bh_height > FBUF_MAX_HEIGHT ||
	    fb->bh_depth != 32) {
		*why = "mode out of range";
		return false;
	}
	*m = (struct display_mode){fb->bh_width, fb->bh_height, 32, fb->bh_width * 4u, 0};
	return true;
}

static bool display_mode(void *opaque, struct display_mode *m)
{
	struct fbuf *fb = opaque;
	const char *why;
	pthread_mutex_lock(&fb->lock);
	bool ok = display_mode_locked(fb, m, &why);
	pthread_mutex_unlock(&fb->lock);
	return ok;
}

static void display_dirty(void *opaque, unsigned long *bitmap)
{
	struct fbuf *fb = opaque;
	static unsigned long kvm_dirty[VRAM_PAGES / BITS_PER_WORD];
	pthread_mutex_lock(&fb->lock);
	for (size_t i = 0; i < VRAM_PAGES / BITS_PER_WORD; i++) {
		bitmap[i] |= fb->soft_dirty[i];
		fb->soft_dirty[i] = 0;
	}
	bool mapped = fb->slot_mapped;
	pthread_mutex_unlock(&fb->lock);
	/* KVM's log: copied and cleared in one ioctl. A slot being moved can make it fail once;
	 * the move marks every page dirty. */
	if (mapped && vm_get_dirty_log(fb->vm, (unsigned)fb->memslot, kvm_dirty) == 0)
		for (size_t i = 0; i < VRAM_PAGES / BITS_PER_WORD; i++)
			bitmap[i] |= kvm_dirty[i];
}

static const struct display_ops display_ops = {
    .mode = display_mode,
    .dirty = display_dirty,
};

static void mark_dirty(struct fbuf *fb, uint64_t off, unsigned size)
{
	for (uint64_t p = off >> DISPLAY_PAGE_SHIFT; p <= (off + size - 1) >> DISPLAY_PAGE_SHIFT &&
						     p < VRAM_PAGES;
	     p++)
		fb->soft_dirty[p / BITS_PER_WORD] |= 1UL << (p % BITS_PER_WORD);
}

/* --- VRAM: a memory slot that follows the BAR --- */

static void vram_bar_mapped(struct pci_dev *pd, int bar, bool mapped)
{
	struct fbuf *fb = pd->priv;
	if (bar != fb->vram_bar || fb->memslot < 0)
		return;
	pthread_mutex_lock(&fb->lock);
	if (fb->slot_mapped) {
		vm_set_memslot(fb->vm, (unsigned)fb->memslot, 0, 0, NULL, 0);
		fb->slot_mapped = false;
	}
	if (mapped) {
		int rc = vm_set_memslot(fb->vm, (unsigned)fb->memslot, pd->bar[bar].addr, VRAM_SIZE,
					fb->vram, KVM_MEM_LOG_DIRTY_PAGES);
		if (rc < 0)
			kb_debug("fbuf: VRAM at 0x%llx stays on MMIO exits: %s",
				 (unsigned long long)pd->bar[bar].addr, strerror(-rc));
		fb->slot_mapped = rc == 0;
		mark_dirty(fb, 0, VRAM_SIZE);
	}
	pthread_mutex_unlock(&fb->lock);
}

static uint64_t vram_read(struct fbuf *fb, uint64_t off, unsigned size)
{
	uint64_t v = 0;
	if (off < VRAM_SIZE && size <= VRAM_SIZE - off)
		memcpy(&v, fb->vram + off, size);
	return v;
}

static void vram_write(struct fbuf *fb, uint64_t off, unsigned size, uint64_t val)
{
	if (off >= VRAM_SIZE || size > VRAM_SIZE - off)
		return;
	memcpy(fb->vram + off, &val, size);
	mark_dirty(fb, off, size);
}

/* --- Bochs register window --- */

static void check_mode(struct fbuf *fb)
{
	struct display_mode m;
	const char *why = NULL;
	if (!display_mode_locked(fb, &m, &why) && why)
		kb_guest_log(&fb->guest_rl,
			     "fbuf: the guest set an impossible mode (%ux%u, %u bpp): %s; the "
			     "screen stays blank",
			     fb->dispi.regs[DISPI_INDEX_XRES], fb->dispi.regs[DISPI_INDEX_YRES],
			     fb->dispi.regs[DISPI_INDEX_BPP], why);
}

static uint64_t bochs_mmio_read(struct fbuf *fb, uint64_t off, unsigned size)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < size; i++) {
		uint64_t o = off + i;
		uint8_t b = 0;
		if (o < MMIO_EDID + FBUF_EDID_SIZE)
			b = fb->edid[o - MMIO_EDID];
		else if (o >= MMIO_VGA && o < MMIO_VGA + MMIO_VGA_SIZE)
			b = o - MMIO_VGA == VGA_INPUT_STATUS1 ? 0 : fb->vga[o - MMIO_VGA];
		else if (o >= MMIO_DISPI && o < MMIO_DISPI + 2 * DISPI_NREGS)
			b = (uint8_t)(dispi_read(&fb->dispi, (unsigned)(o - MMIO_DISPI) / 2) >>
				      (8 * ((o - MMIO_DISPI) & 1)));
		else if (o >= MMIO_QEXT && o < MMIO_QEXT + 4)
			b = (uint8_t)(QEXT_SIZE >> (8 * (o - MMIO_QEXT)));
		else if (o >= MMIO_QEXT + 4 && o < MMIO_QEXT + 8)
			b = (uint8_t)(fb->byteorder >> (8 * (o - MMIO_QEXT - 4)));
		v |= (uint64_t)b << (8 * i);
	}
	return v;
}

static void bochs_mmio_write(struct fbuf *fb, uint64_t off, unsigned size, uint64_t val)
{
	if (off >= MMIO_VGA && off + size <= MMIO_VGA + MMIO_VGA_SIZE) {
		for (unsigned i = 0; i < size; i++)
			fb->vga[off - MMIO_VGA + i] = (uint8_t)(val >> (8 * i));
	} else if (off >= MMIO_DISPI && off + size <= MMIO_DISPI + 2 * DISPI_NREGS &&
		   !(off & 1) && (size == 2 || size == 4)) {
		/* 16-bit registers; a 32-bit write sets two */
		for (unsigned i = 0; i < size; i += 2) {
			unsigned idx = (unsigned)(off + i - MMIO_DISPI) / 2;
			dispi_write(&fb->dispi, idx, (uint16_t)(val >> (8 * i)));
			if (idx == DISPI_INDEX_ENABLE)
				check_mode(fb);
		}
	} else if (off == MMIO_QEXT + 4 && size == 4) {
		fb->byteorder = (uint32_t)val;
	}
	/* EDID and the rest are read-only */
}

/* --- bhyve register window --- */

static uint64_t bhyve_regs_read(struct fbuf *fb, uint64_t off, unsigned size)
{
	uint8_t r[BHYVE_REGS_SIZE] = {0};
	uint32_t fbsize = VRAM_SIZE;
	memcpy(r + BHYVE_REG_FBSIZE, &fbsize, 4);
	memcpy(r + BHYVE_REG_WIDTH, &fb->bh_width, 2);
	memcpy(r + BHYVE_REG_HEIGHT, &fb->bh_height, 2);
	memcpy(r + BHYVE_REG_DEPTH, &fb->bh_depth, 2);
	memcpy(r + BHYVE_REG_REFRESH, &fb->bh_refresh, 2);
	uint64_t v = 0;
	if (off < BHYVE_REGS_SIZE && size <= BHYVE_REGS_SIZE - off)
		memcpy(&v, r + off, size);
	return v;
}

static void bhyve_regs_write(struct fbuf *fb, uint64_t off, unsigned size, uint64_t val)
{
	uint16_t *reg = NULL;
	if (size != 2 && size != 4)
		return;
	for (unsigned i = 0; i < size; i += 2) {
		switch (off + i) {
		case BHYVE_REG_WIDTH:
			reg = &fb->bh_width;
			break;
		case BHYVE_REG_HEIGHT:
			reg = &fb->bh_height;
			break;
		case BHYVE_REG_DEPTH:
			reg = &fb->bh_depth;
			break;
		case BHYVE_REG_REFRESH:
			reg = &fb->bh_refresh;
			break;
		default:
			continue;
		}
		*reg = (uint16_t)(val >> (8 * i));
	}
}

static int fbuf_barread(struct pci_dev *pd, int bar, uint64_t off, unsigned size, uint64_t *val)
{
	struct fbuf *fb = pd->priv;
	pthread_mutex_lock(&fb->lock);
	if (bar == fb->vram_bar)
		*val = vram_read(fb, off, size);
	else if (fb->cfg.model == FBUF_MODEL_BOCHS)
		*val = bochs_mmio_read(fb, off, size);
	else
		*val = bhyve_regs_read(fb, off, size);
	pthread_mutex_unlock(&fb->lock);
	return 0;
}

static int fbuf_barwrite(struct pci_dev *pd, int bar, uint64_t off, unsigned size, uint64_t val)
{
	struct fbuf *fb = pd->priv;
	pthread_mutex_lock(&fb->lock);
	if (bar == fb->vram_bar)
		vram_write(fb, off, size, val);
	else if (fb->cfg.model == FBUF_MODEL_BOCHS)
		bochs_mmio_write(fb, off, size, val);
	else
		bhyve_regs_write(fb, off, size, val);
	pthread_mutex_unlock(&fb->lock);
	return 0;
}

/* --- life cycle --- */

static void fbuf_teardown(void *opaque)
{
	struct fbuf *fb = opaque;
	vnc_server_close(fb->vnc);
	if (fb->vram)
		munmap(fb->vram, VRAM_SIZE);
	pthread_mutex_destroy(&fb->lock);
	free(fb);
	fbuf_present = false;
}

static int alloc_vram(struct fbuf *fb)
{
	int fd = memfd_create("kbhyve-vram", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = 0;
	if (ftruncate(fd, VRAM_SIZE) < 0)
		rc = -errno;
	void *p = rc ? MAP_FAILED : mmap(NULL, VRAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (!rc && p == MAP_FAILED)
		rc = -errno;
	close(fd);
	if (rc)
		return rc;
	fb->vram = p;
	return 0;
}

static int fbuf_setup_pci(struct pci_dev *pd, struct fbuf *fb)
{
	int rc;
	if (fb->cfg.model == FBUF_MODEL_BOCHS) {
		pci_set_cfg16(pd, PCIR_VENDOR, 0x1234);
		pci_set_cfg16(pd, PCIR_DEVICE, 0x1111);
		pci_set_cfg8(pd, PCIR_REVID, 2);
		pci_set_cfg8(pd, PCIR_CLASS, 0x03);
		pci_set_cfg8(pd, PCIR_SUBCLASS, 0x80); /* "other display": no legacy VGA decode */
		pci_set_cfg16(pd, PCIR_SUBVEND, 0x1af4);
		pci_set_cfg16(pd, PCIR_SUBDEV, 0x1100);
		fb->vram_bar = 0;
		rc = pci_alloc_bar_flags(pd, 0, PCI_BAR_MEM32, VRAM_SIZE, PCI_BAR_PREFETCHABLE);
		if (rc == 0)
			rc = pci_alloc_bar(pd, 2, PCI_BAR_MEM32, MMIO_SIZE);
	} else {
		pci_set_cfg16(pd, PCIR_VENDOR, 0xfb5d);
		pci_set_cfg16(pd, PCIR_DEVICE, 0x40fb);
		pci_set_cfg8(pd, PCIR_CLASS, 0x03);
		pci_set_cfg8(pd, PCIR_SUBCLASS, 0x00);
		fb->vram_bar = 1;
		rc = pci_alloc_bar(pd, 0, PCI_BAR_MEM32, BHYVE_REGS_SIZE);
		if (rc == 0)
			rc = pci_alloc_bar_flags(pd, 1, PCI_BAR_MEM32, VRAM_SIZE,
						 PCI_BAR_PREFETCHABLE);
	}
	if (rc)
		kb_log("fbuf: cannot place its BARs: %s", strerror(-rc));
	return rc;
}

static int fbuf_init(struct vm *vm, struct pci_dev *pd, struct cfgnode *devnode)
{
	char err[256];
	if (fbuf_present) {
		kb_log("fbuf: only one fbuf per VM");
		return -EINVAL;
	}
	struct fbuf *fb = calloc(1, sizeof(*fb));
	if (!fb)
		return -ENOMEM;
	pthread_mutex_init(&fb->lock, NULL);
	fb->vm = vm;
	fb->memslot = -1;
	if (fbuf_read_config(devnode, &fb->cfg, err, sizeof(err)) < 0) {
		kb_log("%s", err);
		pthread_mutex_destroy(&fb->lock);
		free(fb);
		return -EINVAL;
	}
	fbuf_present = true;
	int rc = vm_at_destroy(vm, fbuf_teardown, fb);
	if (rc) {
		fbuf_teardown(fb);
		return rc;
	}
	rc = alloc_vram(fb);
	if (rc) {
		kb_log("fbuf: cannot allocate %u MiB of VRAM: %s", VRAM_SIZE >> 20, strerror(-rc));
		return rc;
	}
	pd->priv = fb;
	dispi_reset(&fb->dispi, VRAM_SIZE);
	fb->byteorder = QEXT_LITTLE_ENDIAN;
	fbuf_edid_build(fb->edid, fb->cfg.width, fb->cfg.height);
	if (vm->vm_fd >= 0) {
		fb->memslot = vm_alloc_memslot(vm);
		if (fb->memslot < 0)
			kb_debug("fbuf: no KVM memory slot left; VRAM uses MMIO exits");
	}
	rc = fbuf_setup_pci(pd, fb);
	if (rc)
		return rc;
	fb->display = (struct display){
	    .ops = &display_ops,
	    .opaque = fb,
	    .vram = fb->vram,
	    .vram_size = VRAM_SIZE,
	    .blank_width = fb->cfg.width,
	    .blank_height = fb->cfg.height,
	};
	struct vnc_options vo = {
	    .host = fb->cfg.host,
	    .port = fb->cfg.port,
	    .wait = fb->cfg.wait,
	    .password = fb->cfg.password,
	    .name = vm->name,
	};
	fb->vnc = vnc_server_open(vm, &vo, &fb->display, err, sizeof(err));
	if (!fb->vnc) {
		kb_log("fbuf: %s", err);
		return -EADDRNOTAVAIL;
	}
	return 0;
}

static const struct pci_devemu fbuf_emu = {
    .name = "fbuf",
    .init = fbuf_init,
    .barread = fbuf_barread,
    .barwrite = fbuf_barwrite,
    .bar_mapped = vram_bar_mapped,
};
PCI_EMUL(fbuf_emu);
