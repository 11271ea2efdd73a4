/* SPDX-License-Identifier: BSD-2-Clause */
/* ACPI PM block ("acpi-pm"): its registers through the I/O bus, the power button, and its saved
 * state (section "pm"): a round trip, the PM timer continuing from its saved value, bad states,
 * and the power button waiting while a checkpoint is taken. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "acpi/acpi.h"
#include "core/vm.h"
#include "devices/pm.h"
#include "snapshot/snapbuf.h"
#include "snapshot/snapreg.h"
#include "vm_harness.h"

DEVSET_DECLARE(platform_devices);

#define PM1_PWRBTN 0x0100
#define PM1_SCI_EN 0x0001
#define PM_TIMER_HZ 3579545u
#define PM_TIMER_MASK 0xFFFFFFu
/* The section: PM1 status, enable, control, GPE0 status, enable (u16 each), port 0x92 (u8),
 * the PM timer (u32). */
#define SNAP_LEN 15
#define SNAP_PM1_CNT 4
#define SNAP_PORT92 10
#define SNAP_TMR 11

static struct vm *new_vm(void)
{
	const struct platform_device *d, *pm = NULL;
	DEVSET_FOREACH(platform_devices, const struct platform_device *, d)
	if (strcmp(d->name, "acpi-pm") == 0)
		pm = d;
	assert_non_null(pm);
	struct vm *vm = harness_vm_new();
	assert_int_equal(pm->init(vm), 0);
	return vm;
}

static const struct snapshot_entry *section(struct vm *vm)
{
	for (const struct snapshot_entry *e = vm->snapshots; e; e = e->next)
		if (strcmp(e->name, "pm") == 0) {
			assert_non_null(e->ops);
			return e;
		}
	fail_msg("no section \"pm\"");
	return NULL;
}

static uint64_t pio_read(struct vm *vm, uint16_t port, unsigned size)
{
	uint64_t v = 0;
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_PIO, port, size, false, &v), 0);
	return v;
}

static void pio_write(struct vm *vm, uint16_t port, unsigned size, uint64_t v)
{
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_PIO, port, size, true, &v), 0);
}

static uint32_t pm_timer(struct vm *vm)
{
	return (uint32_t)pio_read(vm, ACPI_PM_TMR_PORT, 4) & PM_TIMER_MASK;
}

/* Ticks from a to b on the 24-bit counter. */
static uint32_t ticks_between(uint32_t a, uint32_t b)
{
	return (b - a) & PM_TIMER_MASK;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Everything the guest reads, but the timer. */
struct regs {
	uint64_t pm1_evt, pm1_cnt, gpe0, port92;
};

static struct regs read_regs(struct vm *vm)
{
	return (struct regs){
	    .pm1_evt = pio_read(vm, ACPI_PM1A_EVT_PORT, 4),
	    .pm1_cnt = pio_read(vm, ACPI_PM1A_CNT_PORT, 2),
	    .gpe0 = pio_read(vm, ACPI_GPE0_PORT, 4),
	    .port92 = pio_read(vm, 0x92, 1),
	};
}

static void assert_regs_equal(struct regs a, struct regs b)
{
	assert_int_equal(a.pm1_evt, b.pm1_evt);
	assert_int_equal(a.pm1_cnt, b.pm1_cnt);
	assert_int_equal(a.gpe0, b.gpe0);
	assert_int_equal(a.port92, b.port92);
}

static uint8_t *save(struct vm *vm, size_t *len)
{
	const struct snapshot_entry *e = section(vm);
	struct snap *s = snap_new_save(e->name);
	assert_non_null(s);
	e->ops->visit(s, e->opaque);
	char err[160];
	assert_int_equal(snap_finish(s, err, sizeof(err)), 0);
	const void *data = snap_data(s, len);
	uint8_t *copy = malloc(*len);
	assert_non_null(copy);
	memcpy(copy, data, *len);
	snap_free(s);
	return copy;
}

static int load(struct vm *vm, const uint8_t *data, size_t len, char *err, size_t errlen)
{
	const struct snapshot_entry *e = section(vm);
	struct snap *s = snap_new_load(e->name, data, len);
	assert_non_null(s);
	e->ops->visit(s, e->opaque);
	int rc = snap_finish(s, err, errlen);
	snap_free(s);
	return rc;
}

/* Programmed enables, a pressed power button, a sleep type, the A20 bit off: the same after a
 * restore into a new VM, and the PM timer reads on from its saved value instead of from the new
 * VM's start or the host's clock. */
static void test_round_trip(void **state)
{
	struct vm *vm = new_vm();
	pio_write(vm, ACPI_PM1A_EVT_PORT + 2, 2, PM1_PWRBTN); /* PWRBTN_EN */
	pio_write(vm, ACPI_GPE0_PORT + 2, 2, 0x0003);	      /* GPE0 enables */
	pio_write(vm, ACPI_PM1A_CNT_PORT, 2, 3 << 10);	      /* SLP_TYP 3, no SLP_EN */
	pio_write(vm, 0x92, 1, 0x00);			      /* A20 off */
	pm_power_button();
	struct regs before = read_regs(vm);
	assert_int_equal(before.pm1_evt, PM1_PWRBTN | (uint64_t)PM1_PWRBTN << 16);
	assert_int_equal(before.pm1_cnt, 3 << 10 | PM1_SCI_EN);
	sleep_ms(200); /* the saved timer is ~715909 ticks on */
	size_t len;
	uint8_t *data = save(vm, &len);
	assert_int_equal(len, SNAP_LEN);
	uint32_t saved_tmr = 0;
	for (int i = 0; i < 4; i++)
		saved_tmr |= (uint32_t)data[SNAP_TMR + i] << (8 * i);
	assert_true(saved_tmr <= PM_TIMER_MASK);

	struct vm *vm2 = new_vm();
	sleep_ms(100); /* without the re-basing the new VM's timer would read ~357954 */
	char err[160];
	assert_int_equal(load(vm2, data, len, err, sizeof(err)), 0);
	const struct snapshot_entry *e = section(vm2);
	assert_int_equal(e->ops->restored(e->opaque, err, sizeof(err)), 0);
	uint32_t t = pm_timer(vm2);
	/* on from the saved value: at most 50 ms later (179k ticks), the old VM is 100 ms on */
	assert_true(ticks_between(saved_tmr, t) < PM_TIMER_HZ / 20);
	assert_true(ticks_between(t, pm_timer(vm)) > PM_TIMER_HZ / 20);
	/* it counts */
	sleep_ms(20);
	uint32_t t2 = pm_timer(vm2);
	assert_true(ticks_between(t, t2) >= PM_TIMER_HZ / 50 && ticks_between(t, t2) < PM_TIMER_HZ);
	assert_regs_equal(read_regs(vm2), before);
	/* the restored SCI level follows the registers: clearing the button's status drops it
	 * (vm_fd is -1, so only the register side is visible) and the status is gone */
	pio_write(vm2, ACPI_PM1A_EVT_PORT, 2, PM1_PWRBTN);
	assert_int_equal(pio_read(vm2, ACPI_PM1A_EVT_PORT, 2), 0);
	free(data);
	harness_vm_free(vm2);
	harness_vm_free(vm);
}

/* Bad sections fail; a rejected value or a short section leaves the registers as they were. */
static void test_bad_states(void **state)
{
	struct vm *vm = new_vm();
	pio_write(vm, ACPI_PM1A_EVT_PORT + 2, 2, PM1_PWRBTN);
	size_t len;
	uint8_t *good = save(vm, &len);
	assert_int_equal(len, SNAP_LEN);
	struct vm *vm2 = new_vm();
	pio_write(vm2, ACPI_GPE0_PORT + 2, 2, 0x0001);
	struct regs before = read_regs(vm2);
	uint8_t bad[SNAP_LEN + 1];
	char err[160];
	for (size_t n = 0; n < len; n++) {
		assert_int_equal(load(vm2, good, n, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "ends early"));
		assert_regs_equal(read_regs(vm2), before);
	}
	memcpy(bad, good, len);
	bad[len] = 0;
	assert_int_equal(load(vm2, bad, len + 1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "bytes of state"));
	/* (found by snap_finish after a visit that took a valid state: the registers are vm's) */
	assert_regs_equal(read_regs(vm2), read_regs(vm));
	before = read_regs(vm2);
	/* a PM timer beyond 24 bits */
	memcpy(bad, good, len);
	bad[SNAP_TMR + 3] = 0x01;
	assert_int_equal(load(vm2, bad, len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "pm: PM timer out of range"));
	/* SCI_EN clear, SLP_EN set, port 0x92's reset bit: states the registers never hold */
	memcpy(bad, good, len);
	bad[SNAP_PM1_CNT] &= (uint8_t)~PM1_SCI_EN;
	assert_int_equal(load(vm2, bad, len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "PM1 control"));
	memcpy(bad, good, len);
	bad[SNAP_PM1_CNT + 1] |= 0x20; /* SLP_EN */
	assert_int_equal(load(vm2, bad, len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "PM1 control"));
	memcpy(bad, good, len);
	bad[SNAP_PORT92] = 0x03;
	assert_int_equal(load(vm2, bad, len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "port 0x92"));
	assert_regs_equal(read_regs(vm2), before);
	assert_int_equal(load(vm2, good, len, err, sizeof(err)), 0);
	assert_int_equal(pio_read(vm2, ACPI_PM1A_EVT_PORT + 2, 2), PM1_PWRBTN);
	free(good);
	harness_vm_free(vm2);
	harness_vm_free(vm);
}

/* A power button press between pause and resume is not in the checkpoint; it lands at resume. */
static void test_button_waits_for_resume(void **state)
{
	struct vm *vm = new_vm();
	const struct snapshot_entry *e = section(vm);
	e->ops->pause(e->opaque);
	pm_power_button();
	assert_int_equal(pio_read(vm, ACPI_PM1A_EVT_PORT, 2), 0);
	size_t len;
	uint8_t *data = save(vm, &len);
	assert_int_equal(data[0] | data[1] << 8, 0); /* PM1 status as saved */
	e->ops->resume(e->opaque);
	assert_int_equal(pio_read(vm, ACPI_PM1A_EVT_PORT, 2), PM1_PWRBTN);
	/* and presses go straight through again */
	pio_write(vm, ACPI_PM1A_EVT_PORT, 2, PM1_PWRBTN);
	pm_power_button();
	assert_int_equal(pio_read(vm, ACPI_PM1A_EVT_PORT, 2), PM1_PWRBTN);
	free(data);
	harness_vm_free(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_bad_states),
	    cmocka_unit_test(test_button_waits_for_resume),
	};
	return cmocka_run_group_tests_name("pm", tests, NULL, NULL);
}
