/* SPDX-License-Identifier: BSD-2-Clause */
/* The MC146818 model on a fake clock: guest port and register accesses interleaved with the
 * clock moving on (nanoseconds to days) and timer ticks. Invariants after every operation:
 *   - register D reads 0x80 (valid RAM and time), registers C's IRQF flag and the IRQ output
 *     follow the flags and enables, reading C twice at one instant gives 0 the second time;
 *   - UIP is never stuck: 250 us after a read that shows it, it is clear;
 *   - while the clock runs, the time registers hold valid values in the format register B
 *     selects (BCD or binary, 12 or 24 hours), and they decode to rtc_model_time();
 *   - CMOS bytes without side effects read back what was written;
 *   - rtc_model_timer_ms() asks for a timer exactly while an interrupt source is enabled.
 *
 * Input: 4 bytes of start time offset (seconds after 2024-02-29 13:45:56 UTC) and a flags byte
 * (bit 0: the RTC shows local time), then operations,
 * op byte low 4 bits:
 *   0 index port write (value)     1 data port write (value)     2 data port read
 *   3 register read (index)        4 register write (index, value)
 *   5 clock += u16 ns * 16         6 clock += u16 us             7 clock += u16 ms
 *   8 clock += u8 s                9 clock += u8 * 10 ms (op 0xF9: u8 hours, up to 10 days)
 *   10 rtc_model_tick              11 check rtc_model_time against the registers
 *   12 index port read            13-15 select a register in bits 4-7 and read it */
#include <string.h>
#include <time.h>

#include "devices/rtc.h"
#include "fixture.h"

#define NSEC 1000000000LL
#define UIP_CLEAR_AFTER_NS 250000 /* UIP covers the last 244 us before an update */
/* 2024-02-29 13:45:56.250 UTC */
#define START_SEC 1709214356LL
#define START_NSEC 250000000L

struct harness {
	struct rtc_model m;
	struct timespec now;
	bool level; /* IRQ as last reported */
};

static void fake_clock(void *opaque, struct timespec *now)
{
	struct harness *h = opaque;
	*now = h->now;
}

static void on_irq(void *opaque, bool level)
{
	struct harness *h = opaque;
	FUZZ_CHECK(level != h->level, "IRQ callback without a change (level %d)", level);
	h->level = level;
}

static void advance_ns(struct harness *h, long long ns)
{
	long long total = h->now.tv_nsec + ns % NSEC;
	h->now.tv_sec += (time_t)(ns / NSEC + total / NSEC);
	h->now.tv_nsec = (long)(total % NSEC);
}

/* ---- register checks ---- */

static bool running(const struct rtc_model *m)
{
	return !m->frozen;
}

static bool binary(const struct rtc_model *m)
{
	return m->cmos[RTC_REG_B] & RTC_B_DM_BINARY;
}

/* A value as the registers hold it: BCD digits must be digits. -1 if it is not valid. */
static int reg_value(const struct rtc_model *m, uint8_t v)
{
	if (binary(m))
		return v;
	if ((v & 0x0F) > 9 || (v >> 4) > 9)
		return -1;
	return (v >> 4) * 10 + (v & 0x0F);
}

static void check_in_range(const struct rtc_model *m, uint8_t reg, uint8_t v, int lo, int hi)
{
	int x = reg_value(m, v);
	FUZZ_CHECK(x >= lo && x <= hi, "register %#x reads %#x (%s), expected %d-%d", reg, v,
		   binary(m) ? "binary" : "BCD", lo, hi);
}

/* A time register read while the clock runs: valid in the current format. */
static void check_time_reg(const struct rtc_model *m, uint8_t reg, uint8_t v)
{
	switch (reg) {
	case RTC_SEC:
	case RTC_MIN:
		check_in_range(m, reg, v, 0, 59);
		break;
	case RTC_HOUR:
		if (m->cmos[RTC_REG_B] & RTC_B_24H)
			check_in_range(m, reg, v, 0, 23);
		else
			check_in_range(m, reg, v & 0x7F, 1, 12);
		break;
	case RTC_DOW:
		check_in_range(m, reg, v, 1, 7);
		break;
	case RTC_DOM:
		check_in_range(m, reg, v, 1, 31);
		break;
	case RTC_MONTH:
		check_in_range(m, reg, v, 1, 12);
		break;
	case RTC_YEAR:
	case RTC_CENTURY:
		check_in_range(m, reg, v, 0, 99);
		break;
	}
}

static bool is_time_reg(uint8_t reg)
{
	return reg == RTC_SEC || reg == RTC_MIN || reg == RTC_HOUR || reg == RTC_DOW ||
	       reg == RTC_DOM || reg == RTC_MONTH || reg == RTC_YEAR || reg == RTC_CENTURY;
}

/* Bytes of CMOS memory that read back what was written (alarms included). */
static bool plain_ram(uint8_t reg)
{
	return reg > RTC_REG_D
		   ? reg != RTC_CENTURY
		   : reg == RTC_SEC_ALARM || reg == RTC_MIN_ALARM || reg == RTC_HOUR_ALARM;
}

/* A model that shares the clock but not the IRQ bookkeeping, for reads with side effects. */
static struct rtc_model shadow(const struct harness *h)
{
	struct rtc_model c = h->m;
	c.irq_changed = NULL;
	return c;
}

/* What a read of `reg` must satisfy; `v` is what it returned. */
static void check_read(struct harness *h, uint8_t reg, uint8_t v, uint8_t b_before)
{
	reg &= RTC_CMOS_SIZE - 1;
	if (reg == RTC_REG_D) {
		FUZZ_CHECK(v == RTC_D_VRT, "register D reads %#x", v);
	} else if (reg == RTC_REG_C) {
		FUZZ_CHECK(!(v & 0x0F), "register C reads %#x: low bits set", v);
		bool pending = v & b_before & (RTC_C_PF | RTC_C_AF | RTC_C_UF);
		FUZZ_CHECK(!!(v & RTC_C_IRQF) == pending, "register C %#x with B %#x: IRQF wrong",
			   v, b_before);
		FUZZ_CHECK(!h->m.irq && h->m.cmos[RTC_REG_C] == 0, "reading C left IRQ %d, C %#x",
			   h->m.irq, h->m.cmos[RTC_REG_C]);
		struct rtc_model c = shadow(h);
		uint8_t again = rtc_model_read(&c, RTC_REG_C);
		FUZZ_CHECK(again == 0, "register C read twice at one instant gives %#x", again);
	} else if (reg == RTC_REG_A) {
		FUZZ_CHECK((v & ~RTC_A_UIP) == (h->m.cmos[RTC_REG_A] & ~RTC_A_UIP),
			   "register A reads %#x, holds %#x", v, h->m.cmos[RTC_REG_A]);
		if (v & RTC_A_UIP) {
			FUZZ_CHECK(running(&h->m), "UIP set while the clock is stopped");
			struct rtc_model c = shadow(h);
			struct timespec saved = h->now;
			advance_ns(h, UIP_CLEAR_AFTER_NS);
			uint8_t later = rtc_model_read(&c, RTC_REG_A);
			h->now = saved;
			FUZZ_CHECK(!(later & RTC_A_UIP), "UIP still set 250 us later (A %#x)",
				   later);
		}
	} else if (is_time_reg(reg) && running(&h->m)) {
		check_time_reg(&h->m, reg, v);
	} else if (!is_time_reg(reg)) {
		FUZZ_CHECK(v == h->m.cmos[reg], "register %#x reads %#x, holds %#x", reg, v,
			   h->m.cmos[reg]);
	}
}

/* The time registers, decoded as a guest would, must give rtc_model_time(). Only for years
 * 1000-9999: two digits of century and two of year cannot say more. */
static void check_time(struct harness *h)
{
	struct rtc_model c = shadow(h);
	long long t = rtc_model_time(&c);
	struct tm now;
	time_t tt = (time_t)t;
	if (!gmtime_r(&tt, &now) || now.tm_year + 1900 < 1000 || now.tm_year + 1900 > 9999)
		return;
	uint8_t r[RTC_CMOS_SIZE];
	static const uint8_t regs[] = {RTC_SEC,	  RTC_MIN,  RTC_HOUR,	RTC_DOM,
				       RTC_MONTH, RTC_YEAR, RTC_CENTURY};
	for (size_t i = 0; i < sizeof(regs); i++)
		r[regs[i]] = rtc_model_read(&c, regs[i]);
	struct tm tm = {0};
	tm.tm_sec = reg_value(&c, r[RTC_SEC]);
	tm.tm_min = reg_value(&c, r[RTC_MIN]);
	if (c.cmos[RTC_REG_B] & RTC_B_24H)
		tm.tm_hour = reg_value(&c, r[RTC_HOUR]);
	else
		tm.tm_hour = reg_value(&c, r[RTC_HOUR] & 0x7F) % 12 + (r[RTC_HOUR] & 0x80 ? 12 : 0);
	tm.tm_mday = reg_value(&c, r[RTC_DOM]);
	tm.tm_mon = reg_value(&c, r[RTC_MONTH]) - 1;
	tm.tm_year = reg_value(&c, r[RTC_CENTURY]) * 100 + reg_value(&c, r[RTC_YEAR]) - 1900;
	long long decoded = (long long)timegm(&tm);
	FUZZ_CHECK(decoded == t, "rtc_model_time %lld, the registers say %lld", t, decoded);
}

static void check_model(struct harness *h)
{
	struct rtc_model *m = &h->m;
	FUZZ_CHECK(m->irq == h->level, "IRQ %d but the callback last reported %d", m->irq,
		   h->level);
	uint8_t c = m->cmos[RTC_REG_C], b = m->cmos[RTC_REG_B];
	FUZZ_CHECK(!!(c & RTC_C_IRQF) == !!(c & b & (RTC_C_PF | RTC_C_AF | RTC_C_UF)),
		   "C %#x with B %#x: IRQF out of date", c, b);
	FUZZ_CHECK(m->irq == !!(c & RTC_C_IRQF), "IRQ %d with C %#x", m->irq, c);
	FUZZ_CHECK(!(m->cmos[RTC_REG_A] & RTC_A_UIP), "UIP stored in register A");
	FUZZ_CHECK(m->index < RTC_CMOS_SIZE, "index %#x", m->index);

	unsigned ms = rtc_model_timer_ms(m);
	bool divider_reset = (m->cmos[RTC_REG_A] & 0x60) == 0x60;
	bool periodic = (b & RTC_B_PIE) && (m->cmos[RTC_REG_A] & RTC_A_RATE) && !divider_reset;
	if (b & (RTC_B_UIE | RTC_B_AIE))
		FUZZ_CHECK(ms >= 1 && ms <= 250, "update/alarm interrupts with a %u ms timer", ms);
	else if (periodic)
		FUZZ_CHECK(ms >= 1 && ms <= 500, "periodic interrupts with a %u ms timer", ms);
	else
		FUZZ_CHECK(ms == 0, "a %u ms timer with no interrupt enabled (A %#x B %#x)", ms,
			   m->cmos[RTC_REG_A], b);
}

/* ---- operations ---- */

static void reg_write(struct harness *h, uint8_t reg, uint8_t val, bool through_ports)
{
	if (through_ports)
		rtc_model_port_write(&h->m, 1, val);
	else
		rtc_model_write(&h->m, reg, val);
	reg &= RTC_CMOS_SIZE - 1;
	if (plain_ram(reg)) {
		struct rtc_model c = shadow(h);
		uint8_t v = rtc_model_read(&c, reg);
		FUZZ_CHECK(v == val, "CMOS %#x reads %#x after writing %#x", reg, v, val);
	}
}

static void reg_read(struct harness *h, uint8_t reg, bool through_ports)
{
	uint8_t b = h->m.cmos[RTC_REG_B];
	uint8_t v = through_ports ? rtc_model_port_read(&h->m, 1) : rtc_model_read(&h->m, reg);
	check_read(h, reg, v, b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = {data, size};
	struct harness h;
	memset(&h, 0, sizeof(h));
	/* the host clock starts at 2024-02-29 13:45:56.25 UTC plus up to ~136 years */
	h.now.tv_sec = (time_t)(START_SEC + in_u32(&in));
	h.now.tv_nsec = START_NSEC;
	bool localtime = in_u8(&in) & 1;
	rtc_model_init(&h.m, 256ull << 20, 1ull << 30, localtime, fake_clock, on_irq, &h);
	check_model(&h);
	while (in.left) {
		uint8_t op = in_u8(&in);
		switch (op & 0x0F) {
		case 0:
			rtc_model_port_write(&h.m, 0, in_u8(&in));
			break;
		case 1:
			reg_write(&h, h.m.index, in_u8(&in), true);
			break;
		case 2:
			reg_read(&h, h.m.index, true);
			break;
		case 3:
			reg_read(&h, in_u8(&in), false);
			break;
		case 4: {
			uint8_t reg = in_u8(&in);
			reg_write(&h, reg, in_u8(&in), false);
			break;
		}
		case 5:
			advance_ns(&h, (long long)in_u16(&in) * 16);
			break;
		case 6:
			advance_ns(&h, (long long)in_u16(&in) * 1000);
			break;
		case 7:
			advance_ns(&h, (long long)in_u16(&in) * 1000000);
			break;
		case 8:
			advance_ns(&h, (long long)in_u8(&in) * NSEC);
			break;
		case 9:
			/* A gap of hours makes the next update scan up to a day of seconds for an
			 * alarm match (milliseconds each time), so only op 0xF9 takes it. */
			if (op == 0xF9)
				advance_ns(&h, (long long)in_u8(&in) * 3600 * NSEC);
			else
				advance_ns(&h, (long long)in_u8(&in) * 10000000);
			break;
		case 10:
			rtc_model_tick(&h.m);
			break;
		case 11:
			if (running(&h.m))
				check_time(&h);
			break;
		case 12:
			FUZZ_CHECK(rtc_model_port_read(&h.m, 0) == 0xFF,
				   "the index port is readable");
			break;
		default: {
			static const uint8_t regs[16] = {
			    RTC_SEC,	   RTC_MIN,	  RTC_HOUR,  RTC_DOW,
			    RTC_DOM,	   RTC_MONTH,	  RTC_YEAR,  RTC_CENTURY,
			    RTC_REG_A,	   RTC_REG_B,	  RTC_REG_C, RTC_REG_D,
			    RTC_SEC_ALARM, RTC_MIN_ALARM, 0x10,	     0x7F};
			reg_read(&h, regs[op >> 4], false);
			break;
		}
		}
		check_model(&h);
	}
	return 0;
}
