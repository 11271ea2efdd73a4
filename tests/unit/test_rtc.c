/* SPDX-License-Identifier: BSD-2-Clause */
/* MC146818 model against a fake clock: formats, setting the time, flags, CMOS memory sizes. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/vm.h"
#include "devices/rtc.h"

DEVSET_DECLARE(platform_devices);

#define MiB (1024ull * 1024)
#define GiB (1024 * MiB)

struct harness {
	struct rtc_model m;
	struct timespec now;
	bool levels[32];
	size_t nlevels;
};

static void fake_clock(void *opaque, struct timespec *now)
{
	struct harness *h = opaque;
	*now = h->now;
}

static void on_irq(void *opaque, bool level)
{
	struct harness *h = opaque;
	assert_true(h->nlevels < sizeof(h->levels));
	h->levels[h->nlevels++] = level;
}

static void advance_ms(struct harness *h, long ms)
{
	long long ns = h->now.tv_nsec + (long long)(ms % 1000) * 1000000;
	h->now.tv_sec += ms / 1000 + ns / 1000000000;
	h->now.tv_nsec = ns % 1000000000;
}

static time_t utc(int y, int mon, int d, int hh, int mm, int ss)
{
	struct tm tm = {.tm_year = y - 1900,
			.tm_mon = mon - 1,
			.tm_mday = d,
			.tm_hour = hh,
			.tm_min = mm,
			.tm_sec = ss};
	return timegm(&tm);
}

/* 2024-02-29 13:45:56.250 UTC, a Thursday */
static int setup(void **state)
{
	struct harness *h = calloc(1, sizeof(*h));
	h->now.tv_sec = utc(2024, 2, 29, 13, 45, 56);
	h->now.tv_nsec = 250000000;
	rtc_model_init(&h->m, 256 * MiB, 0, false, fake_clock, on_irq, h);
	*state = h;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

static uint8_t rd(struct harness *h, uint8_t reg)
{
	return rtc_model_read(&h->m, reg);
}

static void wr(struct harness *h, uint8_t reg, uint8_t val)
{
	rtc_model_write(&h->m, reg, val);
}

static void test_bcd_24h(void **state)
{
	struct harness *h = *state;
	assert_int_equal(rd(h, RTC_REG_B), RTC_B_24H);
	assert_int_equal(rd(h, RTC_SEC), 0x56);
	assert_int_equal(rd(h, RTC_MIN), 0x45);
	assert_int_equal(rd(h, RTC_HOUR), 0x13);
	assert_int_equal(rd(h, RTC_DOW), 5);
	assert_int_equal(rd(h, RTC_DOM), 0x29);
	assert_int_equal(rd(h, RTC_MONTH), 0x02);
	assert_int_equal(rd(h, RTC_YEAR), 0x24);
	assert_int_equal(rd(h, RTC_CENTURY), 0x20);
	assert_int_equal(rd(h, RTC_REG_D), RTC_D_VRT);
	assert_int_equal(rd(h, RTC_REG_A), 0x26);
	/* time passes on the host clock: Feb 29 rolls into March */
	advance_ms(h, (10 * 3600 + 14 * 60 + 4) * 1000L);
	assert_int_equal(rd(h, RTC_HOUR), 0x00);
	assert_int_equal(rd(h, RTC_MIN), 0x00);
	assert_int_equal(rd(h, RTC_SEC), 0x00);
	assert_int_equal(rd(h, RTC_DOM), 0x01);
	assert_int_equal(rd(h, RTC_MONTH), 0x03);
	assert_int_equal(rd(h, RTC_DOW), 6);
}

static void test_binary_12h(void **state)
{
	struct harness *h = *state;
	wr(h, RTC_REG_B, RTC_B_DM_BINARY); /* binary, 12-hour */
	assert_int_equal(rd(h, RTC_SEC), 56);
	assert_int_equal(rd(h, RTC_MIN), 45);
	assert_int_equal(rd(h, RTC_HOUR), 0x80 | 1); /* 1 PM */
	assert_int_equal(rd(h, RTC_YEAR), 24);
	assert_int_equal(rd(h, RTC_CENTURY), 20);
	h->now.tv_sec = utc(2024, 3, 1, 0, 30, 0);
	assert_int_equal(rd(h, RTC_HOUR), 12); /* 12 AM */
	h->now.tv_sec = utc(2024, 3, 1, 12, 30, 0);
	assert_int_equal(rd(h, RTC_HOUR), 0x80 | 12); /* 12 PM */
	h->now.tv_sec = utc(2024, 3, 1, 11, 30, 0);
	assert_int_equal(rd(h, RTC_HOUR), 11);
	/* BCD 12-hour */
	wr(h, RTC_REG_B, 0);
	h->now.tv_sec = utc(2024, 3, 1, 23, 30, 0);
	assert_int_equal(rd(h, RTC_HOUR), 0x80 | 0x11);
}

/* Linux's mc146818_set_time: SET, divider reset, write, clear SET, restore the divider. */
static void test_set_time_then_tick(void **state)
{
	struct harness *h = *state;
	uint8_t b = rd(h, RTC_REG_B), a = rd(h, RTC_REG_A);
	wr(h, RTC_REG_B, b | RTC_B_SET);
	wr(h, RTC_REG_A, a | 0x70);
	wr(h, RTC_YEAR, 0x30);
	wr(h, RTC_MONTH, 0x01);
	wr(h, RTC_DOM, 0x02);
	wr(h, RTC_HOUR, 0x03);
	wr(h, RTC_MIN, 0x04);
	wr(h, RTC_SEC, 0x05);
	wr(h, RTC_CENTURY, 0x20);
	advance_ms(h, 5000); /* frozen while being set */
	assert_int_equal(rd(h, RTC_SEC), 0x05);
	wr(h, RTC_REG_B, b);
	wr(h, RTC_REG_A, a);
	assert_int_equal(rtc_model_time(&h->m), utc(2030, 1, 2, 3, 4, 5));
	/* the first update comes 500 ms after the divider restarts */
	advance_ms(h, 499);
	assert_int_equal(rd(h, RTC_SEC), 0x05);
	advance_ms(h, 2);
	assert_int_equal(rd(h, RTC_SEC), 0x06);
	advance_ms(h, 3600 * 1000L);
	assert_int_equal(rd(h, RTC_HOUR), 0x04);
	assert_int_equal(rd(h, RTC_MIN), 0x04);
	assert_int_equal(rd(h, RTC_SEC), 0x06);
	assert_int_equal(rd(h, RTC_YEAR), 0x30);
	assert_int_equal(rd(h, RTC_DOW), 4); /* 2030-01-02 is a Wednesday */
	assert_int_equal(rtc_model_time(&h->m), utc(2030, 1, 2, 4, 4, 6));
}

static void test_set_freezes_updates(void **state)
{
	struct harness *h = *state;
	wr(h, RTC_REG_B, RTC_B_24H | RTC_B_SET | RTC_B_UIE);
	assert_int_equal(rd(h, RTC_REG_B), RTC_B_24H | RTC_B_SET); /* SET clears UIE */
	advance_ms(h, 10000);
	assert_int_equal(rd(h, RTC_SEC), 0x56); /* frozen at the moment SET went up */
	assert_int_equal(rd(h, RTC_MIN), 0x45);
	assert_false(rd(h, RTC_REG_A) & RTC_A_UIP);
	wr(h, RTC_MIN, 0x10);
	assert_int_equal(rd(h, RTC_MIN), 0x10);
	advance_ms(h, 10000);
	assert_int_equal(rd(h, RTC_MIN), 0x10);
	/* no update flag while frozen */
	assert_int_equal(rd(h, RTC_REG_C) & RTC_C_UF, 0);
	/* running again from the written value, the phase of the second kept (.25) */
	wr(h, RTC_REG_B, RTC_B_24H);
	assert_int_equal(rtc_model_time(&h->m), utc(2024, 2, 29, 13, 10, 56));
	advance_ms(h, 700);
	assert_int_equal(rd(h, RTC_SEC), 0x56);
	advance_ms(h, 100);
	assert_int_equal(rd(h, RTC_SEC), 0x57);
}

static void test_write_while_running(void **state)
{
	struct harness *h = *state;
	wr(h, RTC_HOUR, 0x08);
	assert_int_equal(rd(h, RTC_HOUR), 0x08);
	assert_int_equal(rd(h, RTC_MIN), 0x45);
	advance_ms(h, 2000);
	assert_int_equal(rd(h, RTC_SEC), 0x58);
	assert_int_equal(rd(h, RTC_HOUR), 0x08);
	assert_int_equal(rtc_model_time(&h->m), utc(2024, 2, 29, 8, 45, 58));
}

static void test_reg_c_flags_and_irq(void **state)
{
	struct harness *h = *state;
	/* flags are set whether or not their interrupt is enabled, without IRQF */
	advance_ms(h, 1000);
	uint8_t c = rd(h, RTC_REG_C);
	assert_int_equal(c, RTC_C_UF | RTC_C_PF);
	assert_int_equal(rd(h, RTC_REG_C), 0); /* read clears */
	assert_int_equal(h->nlevels, 0);

	wr(h, RTC_REG_B, RTC_B_24H | RTC_B_UIE);
	rtc_model_tick(&h->m);
	assert_int_equal(h->nlevels, 0); /* still within the same second */
	advance_ms(h, 1000);
	rtc_model_tick(&h->m);
	assert_int_equal(h->nlevels, 1);
	assert_true(h->levels[0]);
	c = rd(h, RTC_REG_C);
	assert_true(c & RTC_C_IRQF);
	assert_true(c & RTC_C_UF);
	assert_int_equal(h->nlevels, 2);
	assert_false(h->levels[1]);
	assert_int_equal(rd(h, RTC_REG_C), 0);

	/* periodic: rate 6 is 1024 Hz */
	wr(h, RTC_REG_B, RTC_B_24H | RTC_B_PIE);
	advance_ms(h, 1);
	rtc_model_tick(&h->m);
	assert_int_equal(h->nlevels, 3);
	assert_int_equal(rd(h, RTC_REG_C), RTC_C_IRQF | RTC_C_PF);
	/* rate 0 stops the periodic flag */
	wr(h, RTC_REG_A, 0x20);
	advance_ms(h, 10);
	assert_int_equal(rd(h, RTC_REG_C) & RTC_C_PF, 0);
	/* disabling the source with a flag pending drops IRQF */
	wr(h, RTC_REG_A, 0x2F);
	advance_ms(h, 600);
	rtc_model_tick(&h->m);
	assert_true(h->levels[h->nlevels - 1]);
	wr(h, RTC_REG_B, RTC_B_24H);
	assert_false(h->levels[h->nlevels - 1]);
	assert_int_equal(rd(h, RTC_REG_C), RTC_C_PF);
}

static void test_alarm(void **state)
{
	struct harness *h = *state;
	wr(h, RTC_SEC_ALARM, 0x58);
	wr(h, RTC_MIN_ALARM, 0x45);
	wr(h, RTC_HOUR_ALARM, 0xC0); /* any hour */
	wr(h, RTC_REG_B, RTC_B_24H | RTC_B_AIE);
	advance_ms(h, 1000);
	rtc_model_tick(&h->m);
	assert_int_equal(rd(h, RTC_REG_C) & (RTC_C_AF | RTC_C_IRQF), 0);
	advance_ms(h, 1000);
	rtc_model_tick(&h->m);
	assert_int_equal(rd(h, RTC_REG_C) & (RTC_C_AF | RTC_C_IRQF), RTC_C_AF | RTC_C_IRQF);
	/* the next match is an hour later; a long gap between evaluations still finds it */
	advance_ms(h, 3 * 3600 * 1000L);
	assert_true(rd(h, RTC_REG_C) & RTC_C_AF);
	advance_ms(h, 1000);
	assert_false(rd(h, RTC_REG_C) & RTC_C_AF);
}

static void test_uip_window(void **state)
{
	struct harness *h = *state;
	h->now.tv_nsec = 999900000; /* 100 us before the update */
	assert_true(rd(h, RTC_REG_A) & RTC_A_UIP);
	h->now.tv_nsec = 999700000;
	assert_false(rd(h, RTC_REG_A) & RTC_A_UIP);
	h->now.tv_nsec = 0;
	assert_false(rd(h, RTC_REG_A) & RTC_A_UIP);
	/* UIP is read-only */
	wr(h, RTC_REG_A, 0xA6);
	h->now.tv_nsec = 500000000;
	assert_int_equal(rd(h, RTC_REG_A), 0x26);
	/* register D and C ignore writes */
	wr(h, RTC_REG_D, 0);
	assert_int_equal(rd(h, RTC_REG_D), RTC_D_VRT);
	rd(h, RTC_REG_C); /* clear what the time that passed set */
	wr(h, RTC_REG_C, 0xF0);
	assert_int_equal(rd(h, RTC_REG_C), 0);
}

static void test_timer_period(void **state)
{
	struct harness *h = *state;
	assert_int_equal(rtc_model_timer_ms(&h->m), 0);
	wr(h, RTC_REG_A, 0x2F); /* 2 Hz */
	wr(h, RTC_REG_B, RTC_B_24H | RTC_B_PIE);
	assert_int_equal(rtc_model_timer_ms(&h->m), 500);
	wr(h, RTC_REG_A, 0x26); /* 1024 Hz: coalesced to 1 ms */
	assert_int_equal(rtc_model_timer_ms(&h->m), 1);
	wr(h, RTC_REG_B, RTC_B_24H | RTC_B_AIE);
	assert_int_equal(rtc_model_timer_ms(&h->m), 250);
	wr(h, RTC_REG_B, RTC_B_24H | RTC_B_UIE | RTC_B_AIE);
	assert_int_equal(rtc_model_timer_ms(&h->m), 10);
	wr(h, RTC_REG_B, RTC_B_24H);
	assert_int_equal(rtc_model_timer_ms(&h->m), 0);
}

static void test_port_access_and_nvram(void **state)
{
	struct harness *h = *state;
	rtc_model_port_write(&h->m, 0, 0x80 | 0x40); /* NMI-disable bit ignored */
	rtc_model_port_write(&h->m, 1, 0xAB);
	rtc_model_port_write(&h->m, 0, 0x40);
	assert_int_equal(rtc_model_port_read(&h->m, 1), 0xAB);
	rtc_model_port_write(&h->m, 0, 0x80 | RTC_MIN);
	assert_int_equal(rtc_model_port_read(&h->m, 1), 0x45);
	assert_int_equal(rtc_model_port_read(&h->m, 0), 0xFF);
	assert_int_equal(rtc_model_port_read(&h->m, 2), 0xFF);
	rtc_model_port_write(&h->m, 3, 0x12); /* ignored */
	assert_int_equal(rd(h, 0x7F), 0);
	wr(h, 0x7F, 0x5A);
	assert_int_equal(rd(h, 0x7F), 0x5A);
	assert_int_equal(rd(h, 0xFF), 0x5A); /* indexes wrap at 128 */
}

static void check_memory(uint64_t lowmem, uint64_t highmem, unsigned ext_kib, unsigned above16_64k,
			 unsigned above4g_64k)
{
	struct harness h = {0};
	rtc_model_init(&h.m, lowmem, highmem, false, fake_clock, on_irq, &h);
	assert_int_equal(rtc_model_read(&h.m, 0x15) | rtc_model_read(&h.m, 0x16) << 8, 640);
	assert_int_equal(rtc_model_read(&h.m, 0x17) | rtc_model_read(&h.m, 0x18) << 8, ext_kib);
	assert_int_equal(rtc_model_read(&h.m, 0x30) | rtc_model_read(&h.m, 0x31) << 8, ext_kib);
	assert_int_equal(rtc_model_read(&h.m, 0x34) | rtc_model_read(&h.m, 0x35) << 8, above16_64k);
	assert_int_equal(rtc_model_read(&h.m, 0x5B) | rtc_model_read(&h.m, 0x5C) << 8 |
			     rtc_model_read(&h.m, 0x5D) << 16,
			 above4g_64k);
	unsigned sum = 0;
	for (uint8_t i = 0x10; i <= 0x2D; i++)
		sum += rtc_model_read(&h.m, i);
	assert_int_equal(rtc_model_read(&h.m, 0x2E) << 8 | rtc_model_read(&h.m, 0x2F), sum);
}

static void test_memory_sizes(void **state)
{
	/* 256 MiB: 255 MiB above 1 MiB exceeds the 16-bit KiB field */
	check_memory(256 * MiB, 0, 0xFFFF, (256 - 16) * 16, 0);
	/* 15 MiB fits the KiB fields; nothing above 16 MiB */
	check_memory(15 * MiB, 0, 14 * 1024, 0, 0);
	/* 3 GiB, all below the PCI hole */
	check_memory(3 * GiB, 0, 0xFFFF, (3072 - 16) * 16, 0);
	/* 8 GiB: 3 GiB low, 5 GiB above 4 GiB */
	check_memory(3 * GiB, 5 * GiB, 0xFFFF, (3072 - 16) * 16, 5 * 1024 * 16);
}

static void test_localtime(void **state)
{
	struct harness *h = *state;
	char *old = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
	setenv("TZ", "XYZ-2", 1); /* two hours east of UTC, no DST */
	tzset();
	rtc_model_init(&h->m, 256 * MiB, 0, true, fake_clock, on_irq, h);
	assert_int_equal(rd(h, RTC_HOUR), 0x15);
	assert_int_equal(rd(h, RTC_MIN), 0x45);
	/* the guest sets 10:00 local; the clock keeps running from there */
	wr(h, RTC_REG_B, RTC_B_24H | RTC_B_SET);
	wr(h, RTC_HOUR, 0x10);
	wr(h, RTC_MIN, 0x00);
	wr(h, RTC_REG_B, RTC_B_24H);
	advance_ms(h, 60 * 1000);
	assert_int_equal(rd(h, RTC_HOUR), 0x10);
	assert_int_equal(rd(h, RTC_MIN), 0x01);
	if (old) {
		setenv("TZ", old, 1);
		free(old);
	} else {
		unsetenv("TZ");
	}
	tzset();
}

/* The registered device: ports 0x70/0x71 on the bus, host time, sizes from vm->mem. */
static void test_platform_device(void **state)
{
	const struct platform_device *d, *rtc = NULL;
	DEVSET_FOREACH(platform_devices, const struct platform_device *, d)
	if (strcmp(d->name, "rtc") == 0)
		rtc = d;
	assert_non_null(rtc);
	struct vm vm = {.vm_fd = -1}; /* no KVM: IRQ 8 changes fail and are only logged */
	iobus_init(&vm.bus);
	vm.ev = evloop_new();
	vm.mem.lowmem = 3 * GiB;
	vm.mem.highmem = 5 * GiB;
	assert_int_equal(rtc->init(&vm), 0);

	uint64_t v = 0x34;
	assert_int_equal(iobus_dispatch(&vm.bus, IOBUS_PIO, 0x70, 1, true, &v), 0);
	assert_int_equal(iobus_dispatch(&vm.bus, IOBUS_PIO, 0x71, 1, false, &v), 0);
	assert_int_equal(v, (3072 - 16) * 16 & 0xFF);
	/* a 16-bit access: index, then data */
	v = 0x5C;
	assert_int_equal(iobus_dispatch(&vm.bus, IOBUS_PIO, 0x70, 1, true, &v), 0);
	assert_int_equal(iobus_dispatch(&vm.bus, IOBUS_PIO, 0x70, 2, false, &v), 0);
	assert_int_equal(v, 0x4000 | 0xFF); /* index port reads 0xFF, data 0x40 */
	v = 0x0B | (0x06 << 8);		    /* register B: binary, 24 hours */
	assert_int_equal(iobus_dispatch(&vm.bus, IOBUS_PIO, 0x70, 2, true, &v), 0);

	/* UTC from the host clock (a second may turn between the two reads) */
	time_t before = time(NULL);
	uint8_t regs[3];
	const uint8_t idx[3] = {RTC_HOUR, RTC_MIN, RTC_SEC};
	for (int i = 0; i < 3; i++) {
		v = idx[i];
		iobus_dispatch(&vm.bus, IOBUS_PIO, 0x70, 1, true, &v);
		iobus_dispatch(&vm.bus, IOBUS_PIO, 0x71, 1, false, &v);
		regs[i] = (uint8_t)v;
	}
	time_t after = time(NULL);
	long got = regs[0] * 3600L + regs[1] * 60L + regs[2];
	long lo = (long)(before % 86400), hi = (long)(after % 86400);
	assert_true((got >= lo && got <= hi) || (hi < lo && (got >= lo || got <= hi)));

	/* enabling and disabling interrupts creates and removes the timer without trouble */
	v = 0x0B;
	iobus_dispatch(&vm.bus, IOBUS_PIO, 0x70, 1, true, &v);
	v = RTC_B_24H | RTC_B_UIE | RTC_B_PIE;
	iobus_dispatch(&vm.bus, IOBUS_PIO, 0x71, 1, true, &v);
	v = RTC_B_24H;
	iobus_dispatch(&vm.bus, IOBUS_PIO, 0x71, 1, true, &v);
	vm_run_destroy_hooks(&vm);
	evloop_free(vm.ev);
	iobus_fini(&vm.bus);
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	int n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* The review's toggle loop (register B's UIE on and off) with the event loop not running: the
 * RTC keeps one timer and re-arms it, so the descriptor count stays flat. */
static void test_timer_toggles_keep_fds_flat(void **state)
{
	const struct platform_device *d, *rtc = NULL;
	DEVSET_FOREACH(platform_devices, const struct platform_device *, d)
	if (strcmp(d->name, "rtc") == 0)
		rtc = d;
	struct vm vm = {.vm_fd = -1};
	iobus_init(&vm.bus);
	vm.ev = evloop_new();
	assert_int_equal(rtc->init(&vm), 0);
	uint64_t v;
	/* one toggle first: the timer exists from here on */
	v = 0x0B;
	iobus_dispatch(&vm.bus, IOBUS_PIO, 0x70, 1, true, &v);
	v = RTC_B_24H | RTC_B_UIE;
	iobus_dispatch(&vm.bus, IOBUS_PIO, 0x71, 1, true, &v);
	int before = open_fds();
	for (int i = 0; i < 5000; i++) {
		v = 0x0B;
		iobus_dispatch(&vm.bus, IOBUS_PIO, 0x70, 1, true, &v);
		v = RTC_B_24H | RTC_B_UIE;
		iobus_dispatch(&vm.bus, IOBUS_PIO, 0x71, 1, true, &v);
		v = 0x0B;
		iobus_dispatch(&vm.bus, IOBUS_PIO, 0x70, 1, true, &v);
		v = RTC_B_24H;
		iobus_dispatch(&vm.bus, IOBUS_PIO, 0x71, 1, true, &v);
	}
	int after = open_fds();
	print_message("5000 UIE toggles: %d -> %d open descriptors\n", before, after);
	assert_true(after <= before + 1);
	vm_run_destroy_hooks(&vm);
	evloop_free(vm.ev);
	iobus_fini(&vm.bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_bcd_24h, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_binary_12h, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_set_time_then_tick, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_set_freezes_updates, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_while_running, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reg_c_flags_and_irq, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_alarm, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_uip_window, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timer_period, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_port_access_and_nvram, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_localtime, setup, teardown),
	    cmocka_unit_test(test_memory_sizes),
	    cmocka_unit_test(test_platform_device),
	    cmocka_unit_test(test_timer_toggles_keep_fds_flat),
	};
	return cmocka_run_group_tests_name("rtc", tests, NULL, NULL);
}
