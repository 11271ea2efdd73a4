/* SPDX-License-Identifier: BSD-2-Clause */
/* ACPI PM block (PM1a event/control, PM timer, GPE0), the power button, and the reset ports
 * (0xCF9 reset control, 0x92 fast reset). Poweroff is S5 via PM1a_CNT: bhyve exits 1. */
#include "devices/pm.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "acpi/acpi.h"
#include "core/exitcode.h"
#include "core/log.h"
#include "core/vm.h"
#include "snapshot/snapstate.h"

#define PM1_TMR_STS 0x0001
#define PM1_PWRBTN_STS 0x0100
#define PM1_WAK_STS 0x8000
#define PM1_SCI_EN 0x0001
#define PM1_SLP_EN 0x2000
#define PM1_SLP_TYP_SHIFT 10
#define PM_TIMER_HZ 3579545ULL
#define PM_TIMER_MASK 0xffffffu /* a 24-bit counter (FADT TMR_VAL_EXT clear) */
#define NSEC 1000000000ULL
#define FIRMWARE_SHUTDOWN_PORT 0xB004

struct pm {
	struct vm *vm;
	pthread_mutex_t lock;
	uint16_t pm1_sts, pm1_en, pm1_cnt;
	uint16_t gpe0_sts, gpe0_en;
	bool sci_level;
	uint8_t port92;
	/* CLOCK_MONOTONIC nanoseconds at which the PM timer read 0; read without the lock by
	 * the timer port, moved only by a restore */
	_Atomic int64_t t0_ns;
	uint32_t tmr_loaded; /* the PM timer value a restore continues from */
	bool paused;	     /* a checkpoint is under way: the power button waits */
	bool button_pending; /* pressed while paused */
};

static struct pm *the_pm; /* the power button is reached from the SIGTERM handler path */

static void update_sci(struct pm *pm)
{
	bool level = (pm->pm1_sts & pm->pm1_en & PM1_PWRBTN_STS) || (pm->gpe0_sts & pm->gpe0_en);
	if (level != pm->sci_level) {
		pm->sci_level = level;
		vm_irq_line(pm->vm, ACPI_SCI_IRQ, level);
	}
}

static int64_t monotonic_ns(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)now.tv_sec * (int64_t)NSEC + now.tv_nsec;
}

static uint32_t pm_timer(struct pm *pm)
{
	int64_t t0 = atomic_load_explicit(&pm->t0_ns, memory_order_relaxed);
	uint64_t ns = (uint64_t)(monotonic_ns() - t0);
	/* ticks = ns * 3579545 / 1e9, split to avoid overflow */
	uint64_t ticks = (ns / NSEC) * PM_TIMER_HZ + (ns % NSEC) * PM_TIMER_HZ / NSEC;
	return (uint32_t)(ticks & PM_TIMER_MASK);
}

/* Make the PM timer read `ticks` now and count on from there. */
static void pm_timer_set(struct pm *pm, uint32_t ticks)
{
	/* the fewest nanoseconds that make `ticks` ticks (a tick is ~279 ns, so not one more) */
	int64_t ns = (int64_t)(((uint64_t)ticks * NSEC + PM_TIMER_HZ - 1) / PM_TIMER_HZ);
	atomic_store_explicit(&pm->t0_ns, monotonic_ns() - ns, memory_order_relaxed);
}

static void pm1_cnt_write(struct pm *pm, uint16_t v)
{
	/* SCI_EN stays set: there is no SMM to hand ACPI over from */
	pm->pm1_cnt = (uint16_t)((v & ~PM1_SLP_EN) | PM1_SCI_EN);
	if (v & PM1_SLP_EN) {
		unsigned typ = (v >> PM1_SLP_TYP_SHIFT) & 7;
		if (typ == ACPI_S5_SLP_TYP) {
			kb_debug("guest entered S5: power off");
			vm_request_exit(pm->vm, BHYVE_EXIT_POWEROFF);
		} else {
			kb_debug("guest asked for sleep state with SLP_TYP %u: ignored", typ);
		}
	}
}

/* A status/enable register pair (PM1a event block, GPE0 block): 16-bit status at +0 whose bits
 * the guest clears by writing 1, 16-bit enable at +2. Accesses of 1, 2 or 4 bytes. */
static void sts_en_access(struct pm *pm, uint16_t *sts, uint16_t *en, uint64_t off, unsigned size,
			  bool is_write, uint64_t *val)
{
	unsigned shift = (unsigned)off * 8;
	uint32_t mask = (size >= 4 ? 0xffffffffu : (1u << (size * 8)) - 1) << shift;
	pthread_mutex_lock(&pm->lock);
	uint32_t reg = (uint32_t)*sts | ((uint32_t)*en << 16);
	if (!is_write) {
		*val = (reg & mask) >> shift;
	} else {
		uint32_t w = ((uint32_t)*val << shift) & mask;
		*sts &= (uint16_t)~(w & 0xffff);
		uint32_t en32 = ((uint32_t)*en << 16 & ~mask) | (w & mask & 0xffff0000u);
		*en = (uint16_t)(en32 >> 16);
		update_sci(pm);
	}
	pthread_mutex_unlock(&pm->lock);
}

/* edk2's ResetShutdown writes SLP_TYP 0 | SLP_EN to the fixed port 0xB004 (QEMU's PM1a_CNT after
 * OVMF relocates the block there); QEMU treats that as soft-off, and so does kbhyve with a boot ROM. */
static int firmware_shutdown_io(void *opaque, uint64_t off, unsigned size, bool is_write,
				uint64_t *val)
{
	struct pm *pm = opaque;
	if (!is_write) {
		*val = 0;
		return 0;
	}
	if (off == 0 && size >= 2 && (*val & PM1_SLP_EN)) {
		kb_debug("firmware shutdown through port 0xb004: power off");
		vm_request_exit(pm->vm, BHYVE_EXIT_POWEROFF);
	}
	return 0;
}

static int pm1_evt_io(void *opaque, uint64_t off, unsigned size, bool is_write, uint64_t *val)
{
	struct pm *pm = opaque;
	sts_en_access(pm, &pm->pm1_sts, &pm->pm1_en, off, size, is_write, val);
	return 0;
}

/* No GPEs are wired yet; the block exists because the FADT describes it. */
static int gpe0_io(void *opaque, uint64_t off, unsigned size, bool is_write, uint64_t *val)
{
	struct pm *pm = opaque;
	sts_en_access(pm, &pm->gpe0_sts, &pm->gpe0_en, off, size, is_write, val);
	return 0;
}

static int pm1_cnt_io(void *opaque, uint64_t off, unsigned size, bool is_write, uint64_t *val)
{
	struct pm *pm = opaque;
	pthread_mutex_lock(&pm->lock);
	if (!is_write) {
		*val = off == 0 ? pm->pm1_cnt : (uint64_t)(pm->pm1_cnt >> 8);
	} else if (off == 0 && size >= 2) {
		pm1_cnt_write(pm, (uint16_t)*val);
	} else if (off == 0) {
		pm1_cnt_write(pm, (uint16_t)((pm->pm1_cnt & 0xff00) | (*val & 0xff)));
	} else {
		pm1_cnt_write(pm, (uint16_t)((pm->pm1_cnt & 0x00ff) | ((*val & 0xff) << 8)));
	}
	pthread_mutex_unlock(&pm->lock);
	return 0;
}

static int pm_tmr_io(void *opaque, uint64_t off, unsigned size, bool is_write, uint64_t *val)
{
	struct pm *pm = opaque;
	if (!is_write)
		*val = pm_timer(pm) >> (8 * off);
	return 0;
}

/* 0xCF9 reset control: RST (bit 2) with SYS_RST or not, as PIIX/ICH decode it. */
static int reset_cf9_io(void *opaque, uint64_t off, unsigned size, bool is_write, uint64_t *val)
{
	struct pm *pm = opaque;
	if (!is_write) {
		*val = 0;
		return 0;
	}
	if (*val & 0x04) {
		kb_debug("reset through port 0xCF9");
		vm_request_exit(pm->vm, BHYVE_EXIT_REBOOT);
	}
	return 0;
}

/* 0x92 system control port A: bit 0 is a fast reset, bit 1 the A20 gate. */
static int port92_io(void *opaque, uint64_t off, unsigned size, bool is_write, uint64_t *val)
{
	struct pm *pm = opaque;
	pthread_mutex_lock(&pm->lock);
	if (!is_write) {
		*val = pm->port92;
	} else {
		uint8_t v = (uint8_t)*val;
		if ((v & 1) && !(pm->port92 & 1)) {
			kb_debug("reset through port 0x92");
			vm_request_exit(pm->vm, BHYVE_EXIT_REBOOT);
		}
		pm->port92 = v & 0x02;
	}
	pthread_mutex_unlock(&pm->lock);
	return 0;
}

void pm_power_button(void)
{
	struct pm *pm = the_pm;
	if (!pm)
		return;
	pthread_mutex_lock(&pm->lock);
	if (pm->paused) {
		pm->button_pending = true; /* pressed once the checkpoint is taken */
	} else {
		pm->pm1_sts |= PM1_PWRBTN_STS;
		update_sci(pm);
	}
	pthread_mutex_unlock(&pm->lock);
}

/* ---- checkpoint and restore: section "pm" ----
 * Layout: u16 PM1 status, PM1 enable, PM1 control, GPE0 status, GPE0 enable; u8 port 0x92;
 * u32 the PM timer's value at the checkpoint. A restored PM timer continues from that value
 * (a guest using it as its clocksource sees no jump), counting again from `restored`. */

/* A power button press while the checkpoint is taken would change the SCI behind the saved
 * interrupt controller's back: it waits for resume. */
static void pm_pause(void *opaque)
{
	struct pm *pm = opaque;
	pthread_mutex_lock(&pm->lock);
	pm->paused = true;
	pthread_mutex_unlock(&pm->lock);
}

static void pm_visit(struct snap *s, void *opaque)
{
	struct pm *pm = opaque;
	pthread_mutex_lock(&pm->lock);
	uint16_t pm1_sts = pm->pm1_sts, pm1_en = pm->pm1_en, pm1_cnt = pm->pm1_cnt;
	uint16_t gpe0_sts = pm->gpe0_sts, gpe0_en = pm->gpe0_en;
	uint8_t port92 = pm->port92;
	uint32_t tmr = snap_loading(s) ? 0 : pm_timer(pm);
	snap_u16(s, &pm1_sts);
	snap_u16(s, &pm1_en);
	snap_u16(s, &pm1_cnt);
	snap_u16(s, &gpe0_sts);
	snap_u16(s, &gpe0_en);
	snap_u8(s, &port92);
	snap_u32(s, &tmr);
	if (snap_loading(s) && !snap_failed(s)) {
		snap_check(s, (pm1_cnt & PM1_SCI_EN) && !(pm1_cnt & PM1_SLP_EN), "PM1 control");
		snap_check(s, (port92 & ~0x02) == 0, "port 0x92");
		snap_check(s, tmr <= PM_TIMER_MASK, "PM timer");
		if (!snap_failed(s)) {
			pm->pm1_sts = pm1_sts;
			pm->pm1_en = pm1_en;
			pm->pm1_cnt = pm1_cnt;
			pm->gpe0_sts = gpe0_sts;
			pm->gpe0_en = gpe0_en;
			pm->port92 = port92;
			pm->tmr_loaded = tmr;
			/* the SCI output follows the registers; the line itself is restored with
			 * the interrupt controller */
			pm->sci_level = (pm1_sts & pm1_en & PM1_PWRBTN_STS) || (gpe0_sts & gpe0_en);
		}
	}
	pthread_mutex_unlock(&pm->lock);
}

static int pm_restored(void *opaque, char *err, size_t errlen)
{
	struct pm *pm = opaque;
	pthread_mutex_lock(&pm->lock);
	pm_timer_set(pm, pm->tmr_loaded);
	pthread_mutex_unlock(&pm->lock);
	return 0;
}

static void pm_resume(void *opaque)
{
	struct pm *pm = opaque;
	pthread_mutex_lock(&pm->lock);
	pm->paused = false;
	if (pm->button_pending) {
		pm->button_pending = false;
		pm->pm1_sts |= PM1_PWRBTN_STS;
		update_sci(pm);
	}
	pthread_mutex_unlock(&pm->lock);
}

static const struct snapshot_ops pm_snapshot_ops = {
    .pause = pm_pause,
    .visit = pm_visit,
    .restored = pm_restored,
    .resume = pm_resume,
};

static void pm_teardown(void *opaque)
{
	struct pm *pm = opaque;
	if (the_pm == pm)
		the_pm = NULL;
	pthread_mutex_destroy(&pm->lock);
	free(pm);
}

static int pm_init(struct vm *vm)
{
	struct pm *pm = calloc(1, sizeof(*pm));
	if (!pm)
		return -ENOMEM;
	pm->vm = vm;
	pthread_mutex_init(&pm->lock, NULL);
	int hrc = vm_at_destroy(vm, pm_teardown, pm);
	if (hrc) {
		pthread_mutex_destroy(&pm->lock);
		free(pm);
		return hrc;
	}
	pm->pm1_cnt = PM1_SCI_EN;
	pm->port92 = 0x02; /* A20 enabled */
	atomic_store(&pm->t0_ns, monotonic_ns());
	static const struct {
		uint16_t port, len;
		iobus_handler_fn fn;
		const char *name;
	} regs[] = {
		{ACPI_PM1A_EVT_PORT, 4, pm1_evt_io, "pm1a_evt"},
		{ACPI_PM1A_CNT_PORT, 2, pm1_cnt_io, "pm1a_cnt"},
		{ACPI_PM_TMR_PORT, 4, pm_tmr_io, "pm_tmr"},
		{ACPI_GPE0_PORT, 4, gpe0_io, "gpe0"},
		{ACPI_RESET_PORT, 1, reset_cf9_io, "reset_cf9"},
		{0x92, 1, port92_io, "port92"},
	};
	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
		int rc = iobus_register(&vm->bus, IOBUS_PIO, regs[i].port, regs[i].len, regs[i].fn,
					pm, regs[i].name);
		if (rc) {
			kb_log("pm: cannot register %s at %#x: %d", regs[i].name, regs[i].port, rc);
			return rc;
		}
	}
	if (vm->bootrom) {
		int rc = iobus_register(&vm->bus, IOBUS_PIO, FIRMWARE_SHUTDOWN_PORT, 2,
					firmware_shutdown_io, pm, "firmware_shutdown");
		if (rc) {
			kb_log("pm: cannot register the firmware shutdown port: %d", rc);
			return rc;
		}
	}
	int rc = snapshot_register(vm, "pm", &pm_snapshot_ops, pm);
	if (rc) {
		kb_log("pm: cannot register its saved state: %d", rc);
		return rc;
	}
	the_pm = pm;
	return 0;
}

static const struct platform_device pm_device = {.name = "acpi-pm", .order = 10, .init = pm_init};
PLATFORM_DEVICE(pm_device);
