/* SPDX-License-Identifier: BSD-2-Clause */
/* MC146818 model against a fake clock: formats, setting the time, flags, CMOS memory sizes. */
#include <dirent.h>
#include <errno.h>
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
#include "snapshot/snapbuf.h"
#include "snapshot/snapreg.h"

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

/* ---- saved state (rtc_model_snapshot) ---- */

/* The section: 128 bytes CMOS, index, local time, offset seconds, offset nanoseconds. */
#define SNAP_LEN 146
#define SNAP_INDEX 128
#define SNAP_LOCALTIME 129
#define SNAP_OFF_SEC 130
#define SNAP_OFF_NSEC 138

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The model's state as a section; the caller frees it. */
static uint8_t *save(struct rtc_model *m, size_t *len)
{
	struct snap *s = snap_new_save("rtc");
	assert_non_null(s);
	rtc_model_snapshot(s, m);
	char err[160];
	assert_int_equal(snap_finish(s, err, sizeof(err)), 0);
	const void *data = snap_data(s, len);
	uint8_t *copy = malloc(*len);
	assert_non_null(copy);
	memcpy(copy, data, *len);
	snap_free(s);
	return copy;
}

static int load(struct rtc_model *m, const uint8_t *data, size_t len, char *err, size_t errlen)
{
	struct snap *s = snap_new_load("rtc", data, len);
	assert_non_null(s);
	rtc_model_snapshot(s, m);
	int rc = snap_finish(s, err, errlen);
	snap_free(s);
	return rc;
}

/* A fresh model, as a restoring VM has one: powered on at host time `now`. */
static struct harness *fresh(struct timespec now)
{
	struct harness *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	r->now = now;
	rtc_model_init(&r->m, 256 * MiB, 0, false, fake_clock, on_irq, r);
	return r;
}

/* The guest set the clock back to 1999-12-31 23:59:59 in binary 24-hour mode, with a 2 Hz
 * periodic and an update interrupt enabled, an alarm, NVRAM bytes and the index at 0x40; a
 * second later (the year 2000) the update, alarm and periodic flags are pending and the IRQ is
 * up. */
static void drive(struct harness *h)
{
	wr(h, RTC_REG_B, RTC_B_SET | RTC_B_24H | RTC_B_DM_BINARY);
	wr(h, RTC_YEAR, 99);
	wr(h, RTC_CENTURY, 19);
	wr(h, RTC_MONTH, 12);
	wr(h, RTC_DOM, 31);
	wr(h, RTC_HOUR, 23);
	wr(h, RTC_MIN, 59);
	wr(h, RTC_SEC, 59);
	wr(h, RTC_REG_A, 0x2F); /* 2 Hz */
	wr(h, RTC_REG_B, RTC_B_24H | RTC_B_DM_BINARY | RTC_B_PIE | RTC_B_UIE);
	wr(h, RTC_SEC_ALARM, 0xC0);
	wr(h, RTC_MIN_ALARM, 0);
	wr(h, RTC_HOUR_ALARM, 0);
	wr(h, 0x40, 0x5A);
	wr(h, 0x7F, 0xA5);
	rtc_model_port_write(&h->m, 0, 0x40);
	advance_ms(h, 1000);
	rtc_model_tick(&h->m);
	assert_true(h->m.irq);
}

static void test_snapshot_round_trip(void **state)
{
	struct harness *h = *state;
	drive(h);
	size_t len;
	uint8_t *data = save(&h->m, &len);
	assert_int_equal(len, SNAP_LEN);
	/* what the saved model's register C holds (no time passes between the two) */
	uint8_t c = rd(h, RTC_REG_C);
	assert_int_equal(c, RTC_C_IRQF | RTC_C_PF | RTC_C_AF | RTC_C_UF);

	/* restored an hour later on the host clock */
	struct timespec later = h->now;
	later.tv_sec += 3600;
	struct harness *r = fresh(later);
	char err[160];
	assert_int_equal(load(&r->m, data, len, err, sizeof(err)), 0);
	/* the IRQ is up as it was saved, and nothing was pulsed at the load */
	assert_int_equal(r->nlevels, 0);
	assert_true(r->m.irq);
	/* the same bytes again */
	size_t len2;
	uint8_t *again = save(&r->m, &len2);
	assert_int_equal(len2, len);
	assert_memory_equal(again, data, len);
	free(again);
	/* the index register, the registers and the NVRAM */
	assert_int_equal(rtc_model_port_read(&r->m, 1), 0x5A);
	assert_int_equal(rd(r, RTC_REG_A), 0x2F);
	assert_int_equal(rd(r, RTC_REG_B), RTC_B_24H | RTC_B_DM_BINARY | RTC_B_PIE | RTC_B_UIE);
	assert_int_equal(rd(r, RTC_SEC_ALARM), 0xC0);
	assert_int_equal(rd(r, 0x7F), 0xA5);
	for (unsigned i = 0x10; i < RTC_CMOS_SIZE; i++)
		assert_int_equal(rd(r, (uint8_t)i), rd(h, (uint8_t)i));
	assert_int_equal(rtc_model_timer_ms(&r->m), rtc_model_timer_ms(&h->m));
	/* the flags pending at the checkpoint, no more: reading C drops the IRQ */
	assert_int_equal(rd(r, RTC_REG_C), c);
	assert_int_equal(r->nlevels, 1);
	assert_false(r->levels[0]);
	/* the clock ran on with the host's: checkpointed at 2000-01-01 00:00:00 (23:59:59 set a
	 * second before), restored an hour later */
	assert_int_equal(rtc_model_time(&r->m), utc(2000, 1, 1, 1, 0, 0));
	assert_int_equal(rd(r, RTC_HOUR), 1);
	assert_int_equal(rd(r, RTC_YEAR), 0);
	assert_int_equal(rd(r, RTC_CENTURY), 20);
	/* and the saved model, read at the same host time, agrees */
	h->now = later;
	assert_int_equal(rtc_model_time(&h->m), rtc_model_time(&r->m));
	for (unsigned i = 0; i < 10; i++)
		assert_int_equal(rd(r, (uint8_t)i), rd(h, (uint8_t)i));
	/* interrupts go on: the next half second raises PF, the next second UF */
	advance_ms(r, 500);
	rtc_model_tick(&r->m);
	assert_true(r->m.irq);
	assert_int_equal(rd(r, RTC_REG_C), RTC_C_IRQF | RTC_C_PF);
	advance_ms(r, 500);
	rtc_model_tick(&r->m);
	assert_int_equal(rd(r, RTC_REG_C), RTC_C_IRQF | RTC_C_PF | RTC_C_UF);
	free(data);
	free(r);
}

/* The time between checkpoint and restore raises no flags, whether the guest's clock is ahead
 * of the host's or not: an alarm every second, nothing pending at the checkpoint. */
static void test_snapshot_gap_raises_nothing(void **state)
{
	struct harness *h = *state;
	wr(h, RTC_REG_B, RTC_B_SET | RTC_B_24H);
	wr(h, RTC_CENTURY, 0x20);
	wr(h, RTC_YEAR, 0x99);
	wr(h, RTC_REG_B, RTC_B_24H | RTC_B_AIE);
	wr(h, RTC_SEC_ALARM, 0xC0);
	wr(h, RTC_MIN_ALARM, 0xC0);
	wr(h, RTC_HOUR_ALARM, 0xC0);
	advance_ms(h, 300);
	rd(h, RTC_REG_C);
	size_t len;
	uint8_t *data = save(&h->m, &len);
	struct timespec later = h->now;
	later.tv_sec += 7200;
	struct harness *r = fresh(later);
	advance_ms(r, 5000); /* the new VM was set up a while before the load */
	char err[160];
	assert_int_equal(load(&r->m, data, len, err, sizeof(err)), 0);
	assert_false(r->m.irq);
	assert_int_equal(rd(r, RTC_REG_C), 0);
	assert_int_equal(r->nlevels, 0);
	assert_int_equal(rd(r, RTC_YEAR), 0x99);
	/* and the next second is an update and an alarm (PF follows the 1024 Hz rate) */
	advance_ms(r, 1000);
	rtc_model_tick(&r->m);
	assert_int_equal(rd(r, RTC_REG_C), RTC_C_IRQF | RTC_C_PF | RTC_C_AF | RTC_C_UF);
	free(data);
	free(r);
}

/* Saved with SET held: the registers hold the time the guest wrote, whatever the host time. */
static void test_snapshot_frozen(void **state)
{
	struct harness *h = *state;
	wr(h, RTC_REG_B, RTC_B_SET | RTC_B_24H);
	wr(h, RTC_HOUR, 0x07);
	wr(h, RTC_MIN, 0x30);
	wr(h, RTC_SEC, 0x00);
	size_t len;
	uint8_t *data = save(&h->m, &len);
	struct timespec later = h->now;
	later.tv_sec += 86400 + 5;
	struct harness *r = fresh(later);
	char err[160];
	assert_int_equal(load(&r->m, data, len, err, sizeof(err)), 0);
	assert_int_equal(rd(r, RTC_HOUR), 0x07);
	assert_int_equal(rd(r, RTC_MIN), 0x30);
	assert_int_equal(rd(r, RTC_DOM), 0x29);
	advance_ms(r, 10000);
	assert_int_equal(rd(r, RTC_SEC), 0x00); /* still frozen */
	/* released: it runs from the time in the registers */
	wr(r, RTC_REG_B, RTC_B_24H);
	advance_ms(r, 2000);
	assert_int_equal(rd(r, RTC_SEC), 0x02);
	assert_int_equal(rd(r, RTC_HOUR), 0x07);
	free(data);
	free(r);
}

/* Local time is part of the state: the offset counts from the host's local time. */
static void test_snapshot_localtime(void **state)
{
	struct harness *h = *state;
	char *old = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
	setenv("TZ", "XYZ-2", 1);
	tzset();
	rtc_model_init(&h->m, 256 * MiB, 0, true, fake_clock, on_irq, h);
	size_t len;
	uint8_t *data = save(&h->m, &len);
	struct harness *r = fresh(h->now); /* a UTC RTC */
	char err[160];
	assert_int_equal(load(&r->m, data, len, err, sizeof(err)), 0);
	assert_int_equal(rd(r, RTC_HOUR), 0x15);
	assert_int_equal(rd(r, RTC_MIN), 0x45);
	if (old) {
		setenv("TZ", old, 1);
		free(old);
	} else {
		unsetenv("TZ");
	}
	tzset();
	free(data);
	free(r);
}

/* A rejected section: out-of-range values and short sections leave the model as it was. */
static void expect_rejected(struct harness *h, const uint8_t *data, size_t len, const char *why,
			    bool unchanged)
{
	size_t before_len;
	uint8_t *before = save(&h->m, &before_len);
	char err[160] = "";
	assert_int_equal(load(&h->m, data, len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "rtc: "));
	assert_non_null(strstr(err, why));
	if (unchanged) {
		size_t after_len;
		uint8_t *after = save(&h->m, &after_len);
		assert_int_equal(after_len, before_len);
		assert_memory_equal(after, before, before_len);
		free(after);
	}
	free(before);
	/* the model still works within its CMOS */
	rtc_model_port_write(&h->m, 1, 0x12);
	rtc_model_port_read(&h->m, 1);
	rd(h, RTC_SEC);
	rd(h, RTC_REG_C);
}

static void test_snapshot_bad_states(void **state)
{
	struct harness *h = *state;
	drive(h);
	size_t len;
	uint8_t *good = save(&h->m, &len);
	assert_int_equal(len, SNAP_LEN);
	uint8_t bad[SNAP_LEN + 1];
	struct harness *r = fresh(h->now);
	for (size_t n = 0; n < len; n++)
		expect_rejected(r, good, n, "ends early", true);
	memcpy(bad, good, len);
	bad[len] = 0;
	expect_rejected(r, bad, len + 1, "bytes of state", false);
	/* the CMOS index beyond the 128 bytes */
	memcpy(bad, good, len);
	bad[SNAP_INDEX] = RTC_CMOS_SIZE;
	expect_rejected(r, bad, len, "CMOS index", true);
	bad[SNAP_INDEX] = 0xFF;
	expect_rejected(r, bad, len, "CMOS index", true);
	memcpy(bad, good, len);
	bad[SNAP_LOCALTIME] = 7;
	expect_rejected(r, bad, len, "boolean", true);
	/* offsets the time arithmetic must not overflow on */
	memcpy(bad, good, len);
	put64(bad + SNAP_OFF_SEC, (uint64_t)INT64_MAX);
	expect_rejected(r, bad, len, "time offset", true);
	put64(bad + SNAP_OFF_SEC, (uint64_t)INT64_MIN);
	expect_rejected(r, bad, len, "time offset", true);
	memcpy(bad, good, len);
	put64(bad + SNAP_OFF_NSEC, 1000000000);
	expect_rejected(r, bad, len, "nanoseconds", true);
	put64(bad + SNAP_OFF_NSEC, (uint64_t)-1);
	expect_rejected(r, bad, len, "nanoseconds", true);
	char err[160];
	assert_int_equal(load(&r->m, good, len, err, sizeof(err)), 0);
	free(good);
	free(r);
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

static const struct snapshot_entry *find_section(struct vm *vm, const char *name)
{
	for (const struct snapshot_entry *e = vm->snapshots; e; e = e->next)
		if (strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

/* Section "rtc" of the platform device: a state with an interrupt enabled, loaded into a new
 * VM, gets its timer at `restored` (one more timer descriptor), not before. */
static void test_platform_snapshot(void **state)
{
	const struct platform_device *d, *rtc = NULL;
	DEVSET_FOREACH(platform_devices, const struct platform_device *, d)
	if (strcmp(d->name, "rtc") == 0)
		rtc = d;
	assert_non_null(rtc);
	struct vm vm = {.vm_fd = -1};
	iobus_init(&vm.bus);
	vm.ev = evloop_new();
	assert_int_equal(rtc->init(&vm), 0);
	const struct snapshot_entry *e = find_section(&vm, "rtc");
	assert_non_null(e);
	assert_non_null(e->ops);
	uint64_t v = 0x0B;
	iobus_dispatch(&vm.bus, IOBUS_PIO, 0x70, 1, true, &v);
	v = RTC_B_24H | RTC_B_UIE;
	iobus_dispatch(&vm.bus, IOBUS_PIO, 0x71, 1, true, &v);
	v = 0x50; /* the index the guest left */
	iobus_dispatch(&vm.bus, IOBUS_PIO, 0x70, 1, true, &v);
	e->ops->pause(e->opaque);
	struct snap *s = snap_new_save("rtc");
	e->ops->visit(s, e->opaque);
	char err[160];
	assert_int_equal(snap_finish(s, err, sizeof(err)), 0);
	size_t len;
	const void *p = snap_data(s, &len);
	assert_int_equal(len, SNAP_LEN);
	uint8_t saved[SNAP_LEN];
	memcpy(saved, p, len);
	snap_free(s);
	e->ops->resume(e->opaque);
	vm_run_destroy_hooks(&vm);
	evloop_free(vm.ev);
	iobus_fini(&vm.bus);

	struct vm vm2 = {.vm_fd = -1};
	iobus_init(&vm2.bus);
	vm2.ev = evloop_new();
	assert_int_equal(rtc->init(&vm2), 0);
	e = find_section(&vm2, "rtc");
	assert_non_null(e);
	int before = open_fds();
	s = snap_new_load("rtc", saved, sizeof(saved));
	e->ops->visit(s, e->opaque);
	assert_int_equal(snap_finish(s, err, sizeof(err)), 0);
	snap_free(s);
	assert_int_equal(open_fds(), before);
	assert_int_equal(e->ops->restored(e->opaque, err, sizeof(err)), 0);
	assert_int_equal(open_fds(), before + 1); /* the update interrupt's timer */
	e->ops->resume(e->opaque);
	/* the guest's index and register B came back */
	v = 0x12;
	assert_int_equal(iobus_dispatch(&vm2.bus, IOBUS_PIO, 0x71, 1, true, &v), 0);
	v = 0x50;
	iobus_dispatch(&vm2.bus, IOBUS_PIO, 0x70, 1, true, &v);
	iobus_dispatch(&vm2.bus, IOBUS_PIO, 0x71, 1, false, &v);
	assert_int_equal(v, 0x12);
	v = 0x0B;
	iobus_dispatch(&vm2.bus, IOBUS_PIO, 0x70, 1, true, &v);
	iobus_dispatch(&vm2.bus, IOBUS_PIO, 0x71, 1, false, &v);
	assert_int_equal(v, RTC_B_24H | RTC_B_UIE);
	vm_run_destroy_hooks(&vm2);
	evloop_free(vm2.ev);
	iobus_fini(&vm2.bus);
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
	    cmocka_unit_test_setup_teardown(test_snapshot_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_gap_raises_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_frozen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_localtime, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_bad_states, setup, teardown),
	    cmocka_unit_test(test_platform_snapshot),
	};
	return cmocka_run_group_tests_name("rtc", tests, NULL, NULL);
}
