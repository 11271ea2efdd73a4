/* SPDX-License-Identifier: BSD-2-Clause */
/* The virtio-PCI transport driven as a Linux driver would, through the real PCI config space and
 * BAR decoding (no KVM: doorbells take the MMIO slow path, interrupts use INTx/ISR state). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/log.h"

#include "core/vm.h"
#include "pci/pci.h"
#include "virtio/virtio.h"

/* A virtio device used only here: counts callbacks, echoes nothing. */
struct testvirtio {
	struct virtio_dev vd;
	uint8_t config[8];
	int notifies[4], starts, resets, config_writes;
};
static struct testvirtio *the_dev;

static void tv_notify(struct virtio_dev *vd, int q)
{
	struct testvirtio *tv = vd->priv;
	tv->notifies[q]++;
}
static int tv_start(struct virtio_dev *vd)
{
	((struct testvirtio *)vd->priv)->starts++;
	return 0;
}
static void tv_reset(struct virtio_dev *vd)
{
	((struct testvirtio *)vd->priv)->resets++;
}
static void tv_config_written(struct virtio_dev *vd, uint32_t off, uint32_t len)
{
	((struct testvirtio *)vd->priv)->config_writes++;
}

static const struct virtio_dev_ops tv_ops = {
	.name = "test-virtio",
	.device_id = VIRTIO_ID_RNG,
	.pci_class = 0x00ff00,
	.nqueues = 2,
	.queue_size = 64,
	.features = 1ULL << 5,
	.config_size = 8,
	.config_written = tv_config_written,
	.notify = tv_notify,
	.start = tv_start,
	.reset = tv_reset,
};

static int tv_init(struct vm *vm, struct pci_dev *pd, struct cfgnode *n)
{
	struct testvirtio *tv = calloc(1, sizeof(*tv));
	tv->vd.ops = &tv_ops;
	tv->vd.priv = tv;
	tv->vd.config = tv->config;
	memcpy(tv->config, "\x11\x22\x33\x44\x55\x66\x77\x88", 8);
	the_dev = tv;
	return virtio_pci_create(vm, pd, &tv->vd);
}

static const struct pci_devemu tv_emu = {.name = "test-virtio", .init = tv_init, VIRTIO_PCI_HOOKS};
PCI_EMUL(tv_emu);

#define GUEST_MEM (1 << 20)

struct env {
	struct vm *vm;
	uint8_t *ram;
	uint64_t bar0, bar1;
	unsigned common, notify, isr, device, msix, msi;
};

static uint32_t cfgr(struct env *e, unsigned reg, unsigned size)
{
	uint64_t a = 0x80000000u | (3u << 11) | (reg & 0xfc), v = 0;
	iobus_dispatch(&e->vm->bus, IOBUS_PIO, 0xcf8, 4, true, &a);
	iobus_dispatch(&e->vm->bus, IOBUS_PIO, 0xcfc + (reg & 3), size, false, &v);
	return (uint32_t)v;
}

static void cfgw(struct env *e, unsigned reg, unsigned size, uint32_t val)
{
	uint64_t a = 0x80000000u | (3u << 11) | (reg & 0xfc), v = val;
	iobus_dispatch(&e->vm->bus, IOBUS_PIO, 0xcf8, 4, true, &a);
	iobus_dispatch(&e->vm->bus, IOBUS_PIO, 0xcfc + (reg & 3), size, true, &v);
}

static uint64_t mr(struct env *e, uint64_t addr, unsigned size)
{
	uint64_t v = 0;
	assert_int_equal(iobus_dispatch(&e->vm->bus, IOBUS_MMIO, addr, size, false, &v), 0);
	return v;
}

static void mw(struct env *e, uint64_t addr, unsigned size, uint64_t v)
{
	assert_int_equal(iobus_dispatch(&e->vm->bus, IOBUS_MMIO, addr, size, true, &v), 0);
}

static int setup(void **state)
{
	bool no_msix = *state != NULL; /* prestate: a VM with -W */
	struct env *e = calloc(1, sizeof(*e));
	e->vm = calloc(1, sizeof(*e->vm));
	e->vm->vm_fd = -1;
	e->vm->cfg = config_new();
	e->vm->ev = evloop_new();
	atomic_store(&e->vm->exit_code, -1);
	iobus_init(&e->vm->bus);
	e->ram = calloc(1, GUEST_MEM);
	guestmem_init_from(&e->vm->mem, e->ram, GUEST_MEM, 0);
	config_set_assignment(e->vm->cfg, "pci.0.3.0.device=test-virtio");
	if (no_msix)
		config_set_assignment(e->vm->cfg, "virtio_msix=false");
	assert_int_equal(pci_init_all(e->vm), 0);
	/* walk the capability list as the Linux driver does */
	assert_int_equal(cfgr(e, PCIR_STATUS, 2) & 0x10, 0x10);
	for (unsigned p = cfgr(e, PCIR_CAP_PTR, 1); p; p = cfgr(e, p + 1, 1)) {
		unsigned id = cfgr(e, p, 1);
		if (id == 0x11 || id == 0x05) {
			*(id == 0x11 ? &e->msix : &e->msi) = p;
			continue;
		}
		assert_int_equal(id, 0x09);
		unsigned type = cfgr(e, p + 3, 1), off = cfgr(e, p + 8, 4);
		assert_int_equal(cfgr(e, p + 4, 1), 0); /* BAR 0 */
		if (type == 1)
			e->common = off;
		else if (type == 2) {
			e->notify = off;
			assert_int_equal(cfgr(e, p + 16, 4), 4); /* notify_off_multiplier */
		} else if (type == 3)
			e->isr = off;
		else if (type == 4)
			e->device = off;
	}
	e->bar0 = cfgr(e, PCIR_BAR0, 4) & ~0xfULL;
	e->bar1 = cfgr(e, PCIR_BAR0 + 4, 4) & ~0xfULL;
	cfgw(e, PCIR_COMMAND, 2, 0x6); /* memory decoding + bus master */
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	vm_run_destroy_hooks(e->vm);
	pci_fini_all(e->vm);
	iobus_fini(&e->vm->bus);
	evloop_free(e->vm->ev);
	config_free(e->vm->cfg);
	free(the_dev);
	free(e->ram);
	free(e->vm);
	free(e);
	return 0;
}

static void test_identity_and_caps(void **state)
{
	struct env *e = *state;
	assert_int_equal(cfgr(e, 0, 4), (0x1040u + VIRTIO_ID_RNG) << 16 | 0x1af4);
	assert_true(cfgr(e, PCIR_REVID, 1) >= 1);
	assert_int_not_equal(e->msix, 0);
	assert_int_equal(cfgr(e, e->msix + 2, 2) & 0x7ff, 2); /* 3 vectors: 2 queues + config */
	assert_int_equal(e->isr, 0x1000);
	assert_int_equal(e->device, 0x2000);
	assert_int_equal(e->notify, 0x3000);
	/* device config through BAR 0 */
	assert_int_equal(mr(e, e->bar0 + e->device, 4), 0x44332211);
	assert_int_equal(mr(e, e->bar0 + e->device + 6, 2), 0x8877);
	mw(e, e->bar0 + e->device + 1, 1, 0xaa);
	assert_int_equal(the_dev->config[1], 0xaa);
	assert_int_equal(the_dev->config_writes, 1);
	/* beyond the device config: reads 0, writes ignored */
	assert_int_equal(mr(e, e->bar0 + e->device + 8, 4), 0);
}

/* The Linux probe sequence: reset, ACK, DRIVER, features, FEATURES_OK, queues, DRIVER_OK. */
static void negotiate(struct env *e, uint64_t want)
{
	uint64_t c = e->bar0 + e->common;
	mw(e, c + 0x14, 1, 0);
	mw(e, c + 0x14, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	mw(e, c + 0x00, 4, 1);
	uint64_t hi = mr(e, c + 0x04, 4);
	mw(e, c + 0x00, 4, 0);
	uint64_t lo = mr(e, c + 0x04, 4);
	uint64_t offered = hi << 32 | lo;
	assert_true(offered & VIRTIO_F_VERSION_1);
	assert_true(offered & (1ULL << 5));
	mw(e, c + 0x08, 4, 0);
	mw(e, c + 0x0c, 4, (uint32_t)want);
	mw(e, c + 0x08, 4, 1);
	mw(e, c + 0x0c, 4, (uint32_t)(want >> 32));
	mw(e, c + 0x14, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
}

static void setup_queue(struct env *e, int q, uint64_t base, uint16_t size, uint16_t vector)
{
	uint64_t c = e->bar0 + e->common;
	mw(e, c + 0x16, 2, (uint64_t)q);
	assert_int_equal(mr(e, c + 0x18, 2), 64);
	mw(e, c + 0x18, 2, size);
	mw(e, c + 0x1a, 2, vector);
	mw(e, c + 0x20, 4, base);
	mw(e, c + 0x24, 4, 0);
	mw(e, c + 0x28, 8, base + 0x1000);
	mw(e, c + 0x30, 8, base + 0x2000);
	mw(e, c + 0x1c, 2, 1);
	assert_int_equal(mr(e, c + 0x1c, 2), 1);
	assert_int_equal(mr(e, c + 0x1e, 2), (uint64_t)q);
}

static void test_negotiation_and_kicks(void **state)
{
	struct env *e = *state;
	uint64_t c = e->bar0 + e->common;
	/* a feature that was not offered: FEATURES_OK does not stick */
	negotiate(e, VIRTIO_F_VERSION_1 | (1ULL << 7));
	assert_int_equal(mr(e, c + 0x14, 1) & VIRTIO_STATUS_FEATURES_OK, 0);
	/* without VERSION_1 neither */
	negotiate(e, 1ULL << 5);
	assert_int_equal(mr(e, c + 0x14, 1) & VIRTIO_STATUS_FEATURES_OK, 0);
	negotiate(e, VIRTIO_F_VERSION_1 | VIRTIO_RING_F_EVENT_IDX | (1ULL << 5));
	assert_int_equal(mr(e, c + 0x14, 1) & VIRTIO_STATUS_FEATURES_OK, VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(mr(e, c + 0x12, 2), 2);
	setup_queue(e, 0, 0x10000, 32, 0);
	setup_queue(e, 1, 0x20000, 64, 1);
	/* a kick before DRIVER_OK is not delivered */
	mw(e, e->bar0 + e->notify, 2, 0);
	assert_int_equal(the_dev->notifies[0], 0);
	mw(e, c + 0x14, 1, 0xf & ~VIRTIO_STATUS_FAILED);
	assert_int_equal(the_dev->starts, 1);
	assert_true(the_dev->vd.started);
	assert_true(the_dev->vd.vq[0].event_idx);
	assert_int_equal(the_dev->vd.features, VIRTIO_F_VERSION_1 | VIRTIO_RING_F_EVENT_IDX | (1ULL << 5));
	/* doorbells: queue q at notify + 4q */
	mw(e, e->bar0 + e->notify + 4, 2, 1);
	mw(e, e->bar0 + e->notify + 4, 2, 1);
	mw(e, e->bar0 + e->notify, 2, 0);
	assert_int_equal(the_dev->notifies[1], 2);
	assert_int_equal(the_dev->notifies[0], 1);
	/* an enabled queue's configuration is frozen */
	mw(e, c + 0x16, 2, 0);
	mw(e, c + 0x20, 8, 0x50000);
	assert_int_equal(the_dev->vd.vq[0].desc_gpa, 0x10000);
	/* sizes that are not a power of two, or above the maximum, are refused */
	mw(e, c + 0x16, 2, 0);
	assert_int_equal(mr(e, c + 0x18, 2), 32);
	/* an out-of-range queue select reads size 0 */
	mw(e, c + 0x16, 2, 7);
	assert_int_equal(mr(e, c + 0x18, 2), 0);
	/* reset */
	mw(e, c + 0x14, 1, 0);
	/* creation, each of the three probes (status 0 first) and this one */
	assert_int_equal(the_dev->resets, 5);
	assert_false(the_dev->vd.started);
	assert_int_equal(mr(e, c + 0x14, 1), 0);
	mw(e, c + 0x16, 2, 0);
	assert_int_equal(mr(e, c + 0x1c, 2), 0);
	assert_int_equal(mr(e, c + 0x18, 2), 64);
	assert_int_equal(mr(e, c + 0x1a, 2), 0xffff);
}

static void test_bad_ring_needs_reset(void **state)
{
	struct env *e = *state;
	uint64_t c = e->bar0 + e->common;
	negotiate(e, VIRTIO_F_VERSION_1);
	mw(e, c + 0x16, 2, 0);
	mw(e, c + 0x20, 8, GUEST_MEM - 16); /* descriptor table runs past RAM */
	mw(e, c + 0x28, 8, 0x1000);
	mw(e, c + 0x30, 8, 0x2000);
	mw(e, c + 0x1c, 2, 1);
	assert_int_equal(mr(e, c + 0x1c, 2), 0);
	assert_true(mr(e, c + 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET);
	/* the guest resets and can start over */
	mw(e, c + 0x14, 1, 0);
	assert_int_equal(mr(e, c + 0x14, 1), 0);
}

static void test_isr_and_msix_table(void **state)
{
	struct env *e = *state;
	uint64_t c = e->bar0 + e->common;
	negotiate(e, VIRTIO_F_VERSION_1);
	setup_queue(e, 0, 0x10000, 16, 0);
	mw(e, c + 0x14, 1, 0xf & ~VIRTIO_STATUS_FAILED);
	/* INTx mode (MSI-X disabled): an interrupt sets ISR bit 0; reading ISR clears it */
	virtio_lock(&the_dev->vd);
	virtio_interrupt_queue(&the_dev->vd, 0);
	virtio_unlock(&the_dev->vd);
	assert_int_equal(mr(e, e->bar0 + e->isr, 1), 1);
	assert_int_equal(mr(e, e->bar0 + e->isr, 1), 0);
	virtio_lock(&the_dev->vd);
	virtio_interrupt_config(&the_dev->vd);
	virtio_unlock(&the_dev->vd);
	assert_int_equal(mr(e, e->bar0 + e->isr, 1), 2);
	assert_int_equal(mr(e, c + 0x15, 1), 1); /* config generation moved */
	/* MSI-X table: entries start masked; address/data/control read back */
	assert_int_equal(mr(e, e->bar1 + 12, 4), 1);
	mw(e, e->bar1 + 16, 4, 0xfee00000);
	mw(e, e->bar1 + 24, 4, 0x4041);
	mw(e, e->bar1 + 28, 4, 0xfffffffe); /* only the mask bit is writable */
	assert_int_equal(mr(e, e->bar1 + 16, 4), 0xfee00000);
	assert_int_equal(mr(e, e->bar1 + 24, 4), 0x4041);
	assert_int_equal(mr(e, e->bar1 + 28, 4), 0);
	assert_int_equal(mr(e, e->bar1 + 0x800, 8), 0); /* nothing pending */
	/* enable MSI-X with the function masked: an interrupt becomes pending in the PBA */
	cfgw(e, e->msix + 2, 2, 0xc000);
	assert_int_equal(cfgr(e, e->msix + 2, 2) & 0xc000, 0xc000);
	assert_int_equal(cfgr(e, e->msix + 2, 2) & 0x7ff, 2); /* table size is read-only */
	mw(e, c + 0x16, 2, 1);
	mw(e, c + 0x18, 2, 24);
	assert_int_equal(mr(e, c + 0x18, 2), 64);
	mw(e, c + 0x18, 2, 128);
	assert_int_equal(mr(e, c + 0x18, 2), 64);
	mw(e, c + 0x16, 2, 0);
	mw(e, c + 0x1a, 2, 5); /* beyond the table: NO_VECTOR, as the spec asks */
	assert_int_equal(mr(e, c + 0x1a, 2), 0xffff);
	mw(e, c + 0x10, 2, 2);
	assert_int_equal(mr(e, c + 0x10, 2), 2);
	virtio_lock(&the_dev->vd);
	virtio_interrupt_config(&the_dev->vd);
	virtio_unlock(&the_dev->vd);
	assert_int_equal(mr(e, e->bar1 + 0x800, 8), 1 << 2);
	assert_int_equal(mr(e, e->bar0 + e->isr, 1), 0); /* no ISR bits with MSI-X */
}

static void test_out_of_range_accesses(void **state)
{
	struct env *e = *state;
	/* reads of holes in the BARs return 0, writes are ignored, nothing crashes */
	assert_int_equal(mr(e, e->bar0 + 0x38, 4), 0);
	assert_int_equal(mr(e, e->bar0 + 0x0ffc, 4), 0);
	mw(e, e->bar0 + 0x3ff0, 4, 0xffffffff);           /* notify area past the queues */
	mw(e, e->bar0 + 0x0036, 4, 0xffffffff);           /* straddles the end of common cfg */
	mw(e, e->bar1 + 3 * 16, 4, 0xffffffff);           /* past the last vector */
	assert_int_equal(mr(e, e->bar1 + 0x808, 8), 0);   /* past the PBA */
	assert_int_equal(mr(e, e->bar0 + e->common + 0x14, 1), 0);
}

/* ---- what a hostile driver can do with the transport ---- */

/* Run fn with stderr going to a temporary file; returns the number of lines written. */
static unsigned count_stderr_lines(void (*fn)(struct env *), struct env *e)
{
	FILE *tmp = tmpfile();
	assert_non_null(tmp);
	fflush(stderr);
	int saved = dup(2);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(tmp), 2) >= 0);
	fn(e);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	unsigned lines = 0;
	int ch, last = '\n';
	while ((ch = fgetc(tmp)) != EOF) {
		if (ch == '\n')
			lines++;
		last = ch;
	}
	if (last != '\n')
		lines++;
	fclose(tmp);
	return lines;
}

/* The review's reset/enable loop: every cycle makes the device log "invalid ring addresses". */
static void reset_storm(struct env *e)
{
	uint64_t c = e->bar0 + e->common;
	for (int i = 0; i < 20000; i++) {
		mw(e, c + 0x14, 1, 0);
		mw(e, c + 0x14, 1, 3);
		mw(e, c + 0x08, 4, 1);
		mw(e, c + 0x0c, 4, 1); /* VERSION_1 */
		mw(e, c + 0x14, 1, 0xb);
		mw(e, c + 0x16, 2, 0);
		mw(e, c + 0x20, 8, 0x7ffff000); /* outside RAM */
		mw(e, c + 0x1c, 2, 1);
	}
}

static void test_reset_storm_log_bounded(void **state)
{
	struct env *e = *state;
	unsigned lines = count_stderr_lines(reset_storm, e);
	print_message("20000 reset/enable cycles: %u log lines\n", lines);
	assert_true(mr(e, e->bar0 + e->common + 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET);
	assert_true(lines >= 1 && lines <= KB_GUEST_LOG_BURST + 1);
}

/* Once FEATURES_OK is set, only a reset reopens the negotiation (the review's sequence). */
static void test_no_renegotiation_without_reset(void **state)
{
	struct env *e = *state;
	uint64_t c = e->bar0 + e->common;
	mw(e, c + 0x14, 1, 0);
	mw(e, c + 0x14, 1, 3);
	mw(e, c + 0x08, 4, 1);
	mw(e, c + 0x0c, 4, 1);
	mw(e, c + 0x14, 1, 0xb);
	mw(e, c + 0x14, 1, 0xf);
	assert_int_equal(the_dev->vd.features, VIRTIO_F_VERSION_1);
	assert_int_equal(the_dev->starts, 1);
	/* ACK|DRIVER without a reset, other features, FEATURES_OK|DRIVER_OK again */
	mw(e, c + 0x14, 1, 3);
	mw(e, c + 0x08, 4, 0);
	mw(e, c + 0x0c, 4, 0x30000000);
	mw(e, c + 0x14, 1, 0xb);
	mw(e, c + 0x14, 1, 0xf);
	assert_int_equal(the_dev->vd.features, VIRTIO_F_VERSION_1);
	assert_int_equal(the_dev->starts, 1);
	assert_int_equal(mr(e, c + 0x14, 1), 0xf);
	assert_int_equal(mr(e, c + 0x0c, 4), 0); /* driver features unchanged */
	assert_true(the_dev->vd.started);
	/* after a reset the driver negotiates anew */
	negotiate(e, VIRTIO_F_VERSION_1 | VIRTIO_RING_F_INDIRECT_DESC);
	mw(e, c + 0x14, 1, 0xf);
	assert_int_equal(the_dev->vd.features, VIRTIO_F_VERSION_1 | VIRTIO_RING_F_INDIRECT_DESC);
	assert_int_equal(the_dev->starts, 2);
}

/* Bus Master Enable clear: the device takes nothing from its queues (no DMA). */
static void test_bus_master_disabled(void **state)
{
	struct env *e = *state;
	negotiate(e, VIRTIO_F_VERSION_1);
	setup_queue(e, 0, 0x10000, 16, 0);
	mw(e, e->bar0 + e->common + 0x14, 1, 0xf);
	mw(e, e->bar0 + e->notify, 2, 0);
	assert_int_equal(the_dev->notifies[0], 1);
	cfgw(e, PCIR_COMMAND, 2, 0x2); /* memory decoding only */
	mw(e, e->bar0 + e->notify, 2, 0);
	mw(e, e->bar0 + e->notify, 2, 0);
	assert_int_equal(the_dev->notifies[0], 1);
	cfgw(e, PCIR_COMMAND, 2, 0x6);
	mw(e, e->bar0 + e->notify, 2, 0);
	assert_int_equal(the_dev->notifies[0], 2);
}

/* INTx Disable masks the line (the interrupt stays pending in the status register). */
static void test_intx_disable(void **state)
{
	struct env *e = *state;
	negotiate(e, VIRTIO_F_VERSION_1);
	setup_queue(e, 0, 0x10000, 16, 0);
	mw(e, e->bar0 + e->common + 0x14, 1, 0xf);
	struct pci_dev *pd = pci_find_dev(e->vm, 0, 3, 0);
	assert_non_null(pd);
	assert_false(pci_intx_level(e->vm, pd->gsi));
	virtio_lock(&the_dev->vd);
	virtio_interrupt_config(&the_dev->vd);
	virtio_unlock(&the_dev->vd);
	assert_true(pci_intx_level(e->vm, pd->gsi));
	assert_true(cfgr(e, PCIR_STATUS, 2) & 0x08); /* Interrupt Status */
	cfgw(e, PCIR_COMMAND, 2, 0x406);		  /* INTx Disable */
	assert_false(pci_intx_level(e->vm, pd->gsi));
	assert_true(cfgr(e, PCIR_STATUS, 2) & 0x08);
	virtio_lock(&the_dev->vd);
	virtio_interrupt_config(&the_dev->vd);
	virtio_unlock(&the_dev->vd);
	assert_false(pci_intx_level(e->vm, pd->gsi));
	cfgw(e, PCIR_COMMAND, 2, 0x6);
	assert_true(pci_intx_level(e->vm, pd->gsi));
	assert_int_equal(mr(e, e->bar0 + e->isr, 1), 2); /* reading ISR lowers it */
	assert_false(pci_intx_level(e->vm, pd->gsi));
	assert_false(cfgr(e, PCIR_STATUS, 2) & 0x08);
}

static void fire_one(struct env *e)
{
	virtio_lock(&the_dev->vd);
	virtio_interrupt_config(&the_dev->vd);
	virtio_unlock(&the_dev->vd);
}

static unsigned count_stderr_lines(void (*fn)(struct env *), struct env *e);

/* -W (virtio_msix=false): no MSI-X but one MSI vector, as bhyve; the ISR says why. */
static void test_msi_instead_of_msix(void **state)
{
	struct env *e = *state;
	struct pci_dev *pd = pci_find_dev(e->vm, 0, 3, 0);
	assert_int_equal(e->msix, 0);
	assert_int_not_equal(e->msi, 0);
	assert_int_equal(cfgr(e, e->msi + 2, 2) & 0x0e, 0); /* one vector offered */
	negotiate(e, VIRTIO_F_VERSION_1);
	setup_queue(e, 0, 0x10000, 16, 0);
	assert_int_equal(mr(e, e->bar0 + e->common + 0x1a, 2), 0xffff); /* no vectors */
	mw(e, e->bar0 + e->common + 0x14, 1, 0xf);
	/* MSI off: INTx */
	fire_one(e);
	assert_true(pci_intx_level(e->vm, pd->gsi));
	assert_int_equal(mr(e, e->bar0 + e->isr, 1), 2);
	assert_false(pci_intx_level(e->vm, pd->gsi));
	/* MSI on: the message goes out (its route fails without KVM: one line), no INTx */
	cfgw(e, e->msi + 4, 4, 0xfee00000);
	cfgw(e, e->msi + 12, 2, 0x4041);
	cfgw(e, e->msi + 2, 2, 1);
	assert_int_equal(count_stderr_lines(fire_one, e), 1);
	assert_false(pci_intx_level(e->vm, pd->gsi));
	assert_int_equal(mr(e, e->bar0 + e->isr, 1), 2);
}

static int open_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 4096; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

static void fire_2000(struct env *e)
{
	for (int i = 0; i < 2000; i++) {
		virtio_lock(&the_dev->vd);
		virtio_interrupt_config(&the_dev->vd);
		virtio_unlock(&the_dev->vd);
	}
}

/* An MSI-X vector whose route cannot be created (here: no KVM routing table) is not retried,
 * with an eventfd and a log line, on every interrupt; rewriting the entry tries once more. */
static void test_msix_unroutable_not_retried(void **state)
{
	struct env *e = *state;
	uint64_t c = e->bar0 + e->common;
	negotiate(e, VIRTIO_F_VERSION_1);
	setup_queue(e, 0, 0x10000, 16, 0);
	mw(e, c + 0x14, 1, 0xf);
	cfgw(e, e->msix + 2, 2, 0x8000); /* MSI-X on, function not masked */
	mw(e, e->bar1 + 32, 4, 0xfee00000); /* vector 2: the config vector */
	mw(e, e->bar1 + 40, 4, 0x4041);
	mw(e, e->bar1 + 44, 4, 0); /* unmasked */
	mw(e, c + 0x10, 2, 2);
	int fds = open_fds();
	unsigned lines = count_stderr_lines(fire_2000, e);
	print_message("2000 interrupts on an unroutable vector: %u log lines, %d -> %d fds\n",
		      lines, fds, open_fds());
	assert_int_equal(lines, 1);
	assert_int_equal(open_fds(), fds);
	/* a new message address: one more try (and one more line) */
	mw(e, e->bar1 + 32, 4, 0xfee01000);
	assert_int_equal(count_stderr_lines(fire_2000, e), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity_and_caps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_negotiation_and_kicks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_ring_needs_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_isr_and_msix_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_range_accesses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_storm_log_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_renegotiation_without_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bus_master_disabled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intx_disable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msix_unroutable_not_retried, setup, teardown),
		cmocka_unit_test_prestate_setup_teardown(test_msi_instead_of_msix, setup, teardown,
							 (void *)"-W"),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
