/* SPDX-License-Identifier: BSD-2-Clause */
#include "devices/rtc.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/evloop.h"
#include "core/iobus.h"
#include "core/log.h"
#include "core/vm.h"
#include "snapshot/snapstate.h"

#define NSEC 1000000000L
/* The largest offset from the host clock a restore accepts: 2^40 s (some 34,000 years) is
 * beyond anything the guest can set through the registers (at most ~25,800 years from 1970)
 * and keeps the time arithmetic far from overflow. */
#define MAX_OFFSET_SEC (INT64_C(1) << 40)
/* UIP is set this long before each update (MC146818 datasheet, tBUC). */
#define UIP_WINDOW_NS 244000L
/* Time registers, computed from the clock while running. */
static const uint8_t time_regs[] = {RTC_SEC, RTC_MIN,	RTC_HOUR, RTC_DOW,
				    RTC_DOM, RTC_MONTH, RTC_YEAR, RTC_CENTURY};

/* ---- the model ---- */

static bool is_time_reg(uint8_t reg)
{
	for (size_t i = 0; i < sizeof(time_regs); i++)
		if (time_regs[i] == reg)
			return true;
	return false;
}

static bool divider_reset(const struct rtc_model *m)
{
	return (m->cmos[RTC_REG_A] & 0x60) == 0x60; /* DV = 11x */
}

static bool should_freeze(const struct rtc_model *m)
{
	return (m->cmos[RTC_REG_B] & RTC_B_SET) || divider_reset(m);
}

static int64_t host_ns(struct rtc_model *m, struct timespec *ts)
{
	m->clock(m->opaque, ts);
	return (int64_t)ts->tv_sec * NSEC + ts->tv_nsec;
}

/* The running RTC time: host time, shifted to local time if asked, plus the guest's offset. */
static void rtc_now(struct rtc_model *m, int64_t *sec, long *nsec)
{
	struct timespec ts;
	m->clock(m->opaque, &ts);
	int64_t s = (int64_t)ts.tv_sec + m->off_sec;
	long ns = ts.tv_nsec + m->off_nsec;
	if (m->localtime) {
		struct tm tm;
		time_t t = ts.tv_sec;
		if (localtime_r(&t, &tm))
			s += tm.tm_gmtoff;
	}
	if (ns >= NSEC) {
		ns -= NSEC;
		s++;
	}
	*sec = s;
	*nsec = ns;
}

/* Make the running RTC read (sec, nsec) now. */
static void rtc_set_now(struct rtc_model *m, int64_t sec, long nsec)
{
	int64_t cur_sec;
	long cur_nsec;
	m->off_sec = m->off_nsec = 0;
	rtc_now(m, &cur_sec, &cur_nsec);
	int64_t s = sec - cur_sec;
	long ns = nsec - cur_nsec;
	if (ns < 0) {
		ns += NSEC;
		s--;
	}
	m->off_sec = s;
	m->off_nsec = ns;
}

static uint8_t to_reg(const struct rtc_model *m, unsigned v)
{
	if (m->cmos[RTC_REG_B] & RTC_B_DM_BINARY)
		return (uint8_t)v;
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static unsigned from_reg(const struct rtc_model *m, uint8_t v)
{
	if (m->cmos[RTC_REG_B] & RTC_B_DM_BINARY)
		return v;
	return (v >> 4) * 10u + (v & 0x0F);
}

/* The time registers for second `sec`, in the current format. */
static void encode_time(const struct rtc_model *m, int64_t sec, uint8_t regs[RTC_CMOS_SIZE])
{
	struct tm tm;
	time_t t = (time_t)sec;
	if (!gmtime_r(&t, &tm))
		memset(&tm, 0, sizeof(tm));
	regs[RTC_SEC] = to_reg(m, (unsigned)tm.tm_sec);
	regs[RTC_MIN] = to_reg(m, (unsigned)tm.tm_min);
	if (m->cmos[RTC_REG_B] & RTC_B_24H) {
		regs[RTC_HOUR] = to_reg(m, (unsigned)tm.tm_hour);
	} else {
		unsigned h = (unsigned)tm.tm_hour % 12;
		regs[RTC_HOUR] = to_reg(m, h ? h : 12) | (tm.tm_hour >= 12 ? 0x80 : 0);
	}
	regs[RTC_DOW] = to_reg(m, (unsigned)tm.tm_wday + 1);
	regs[RTC_DOM] = to_reg(m, (unsigned)tm.tm_mday);
	regs[RTC_MONTH] = to_reg(m, (unsigned)tm.tm_mon + 1);
	unsigned year = (unsigned)(tm.tm_year + 1900);
	regs[RTC_YEAR] = to_reg(m, year % 100);
	regs[RTC_CENTURY] = to_reg(m, (year / 100) % 100);
}

/* The time held in the registers, as seconds since the epoch. Invalid values are normalised
 * (a 32nd of a month rolls over), which is as good as hardware does with garbage. */
static int64_t decode_time(const struct rtc_model *m)
{
	const uint8_t *r = m->cmos;
	struct tm tm = {0};
	tm.tm_sec = (int)from_reg(m, r[RTC_SEC]);
	tm.tm_min = (int)from_reg(m, r[RTC_MIN]);
	if (r[RTC_REG_B] & RTC_B_24H)
		tm.tm_hour = (int)from_reg(m, r[RTC_HOUR] & 0x7F);
	else
		tm.tm_hour =
		    (int)(from_reg(m, r[RTC_HOUR] & 0x7F) % 12) + (r[RTC_HOUR] & 0x80 ? 12 : 0);
	tm.tm_mday = (int)from_reg(m, r[RTC_DOM]);
	tm.tm_mon = (int)from_reg(m, r[RTC_MONTH]) - 1;
	tm.tm_year = (int)(from_reg(m, r[RTC_CENTURY]) * 100 + from_reg(m, r[RTC_YEAR])) - 1900;
	return (int64_t)timegm(&tm);
}

static void update_irq(struct rtc_model *m)
{
	uint8_t *c = &m->cmos[RTC_REG_C];
	if (*c & m->cmos[RTC_REG_B] & (RTC_C_PF | RTC_C_AF | RTC_C_UF))
		*c |= RTC_C_IRQF;
	else
		*c &= ~RTC_C_IRQF;
	bool level = *c & RTC_C_IRQF;
	if (level != m->irq) {
		m->irq = level;
		if (m->irq_changed)
			m->irq_changed(m->opaque, level);
	}
}

static int64_t periodic_ns(unsigned rate)
{
	if (rate == 0)
		return 0;
	if (rate <= 2) /* rates 1 and 2 repeat 8 and 9 with a 32.768 kHz base */
		rate += 7;
	return (int64_t)(((uint64_t)NSEC << (rate - 1)) / 32768);
}

static bool alarm_matches(const struct rtc_model *m, int64_t sec)
{
	static const uint8_t pairs[3][2] = {
	    {RTC_SEC, RTC_SEC_ALARM}, {RTC_MIN, RTC_MIN_ALARM}, {RTC_HOUR, RTC_HOUR_ALARM}};
	uint8_t regs[RTC_CMOS_SIZE];
	encode_time(m, sec, regs);
	for (int i = 0; i < 3; i++) {
		uint8_t alarm = m->cmos[pairs[i][1]];
		if ((alarm & 0xC0) != 0xC0 && alarm != regs[pairs[i][0]])
			return false; /* 0xC0-0xFF is "don't care" */
	}
	return true;
}

/* Raise the flags for everything that happened since the last evaluation. */
static void catch_up(struct rtc_model *m)
{
	struct timespec ts;
	int64_t now = host_ns(m, &ts);
	int64_t period = periodic_ns(m->cmos[RTC_REG_A] & RTC_A_RATE);
	if (period && !divider_reset(m) && now > m->last_host_ns &&
	    now / period != m->last_host_ns / period)
		m->cmos[RTC_REG_C] |= RTC_C_PF;
	m->last_host_ns = now;

	if (!m->frozen) {
		int64_t sec;
		long nsec;
		rtc_now(m, &sec, &nsec);
		if (sec > m->last_rtc_sec) {
			m->cmos[RTC_REG_C] |= RTC_C_UF;
			/* a day covers every alarm time; look no further back */
			int64_t from = m->last_rtc_sec + 1;
			if (sec - from >= 86400)
				from = sec - 86399;
			for (int64_t s = from; s <= sec; s++) {
				if (alarm_matches(m, s)) {
					m->cmos[RTC_REG_C] |= RTC_C_AF;
					break;
				}
			}
		}
		m->last_rtc_sec = sec;
	}
	update_irq(m);
}

/* Freeze the time into the registers, or run again from them. `phase_ns` is where in the
 * second the restarted clock begins (-1: keep the current phase). */
static void apply_freeze(struct rtc_model *m, long phase_ns)
{
	bool freeze = should_freeze(m);
	if (freeze == m->frozen)
		return;
	int64_t sec;
	long nsec;
	if (freeze) {
		rtc_now(m, &sec, &nsec);
		encode_time(m, sec, m->cmos);
		m->frozen = true;
		return;
	}
	rtc_now(m, &sec, &nsec);
	sec = decode_time(m);
	rtc_set_now(m, sec, phase_ns >= 0 ? phase_ns : nsec);
	m->last_rtc_sec = sec;
	m->frozen = false;
}

static void write_time_reg(struct rtc_model *m, uint8_t reg, uint8_t val)
{
	if (m->frozen) {
		m->cmos[reg] = val;
		return;
	}
	/* running: the write lands in the current time, which keeps counting from there */
	int64_t sec;
	long nsec;
	rtc_now(m, &sec, &nsec);
	encode_time(m, sec, m->cmos);
	m->cmos[reg] = val;
	sec = decode_time(m);
	rtc_set_now(m, sec, nsec);
	m->last_rtc_sec = sec;
}

static void set_cmos_word(uint8_t *cmos, uint8_t lo, uint64_t v)
{
	cmos[lo] = (uint8_t)v;
	cmos[lo + 1] = (uint8_t)(v >> 8);
}

/* Memory sizes where BIOSes (and Linux's last-resort probing) look, as bhyve and QEMU do. */
static void set_memory_size(uint8_t *cmos, uint64_t lowmem, uint64_t highmem)
{
	const uint64_t KiB = 1024, MiB = 1024 * KiB;
	set_cmos_word(cmos, 0x15, 640); /* base memory, KiB */
	uint64_t ext = lowmem > MiB ? (lowmem - MiB) / KiB : 0;
	if (ext > 0xFFFF)
		ext = 0xFFFF;
	set_cmos_word(cmos, 0x17, ext); /* extended memory above 1 MiB, KiB */
	set_cmos_word(cmos, 0x30, ext);
	uint64_t above16 = lowmem > 16 * MiB ? (lowmem - 16 * MiB) / (64 * KiB) : 0;
	if (above16 > 0xFFFF)
		above16 = 0xFFFF;
	set_cmos_word(cmos, 0x34, above16); /* above 16 MiB below 4 GiB, 64 KiB units */
	uint64_t high = highmem / (64 * KiB);
	if (high > 0xFFFFFF)
		high = 0xFFFFFF;
	cmos[0x5B] = (uint8_t)high; /* above 4 GiB, 64 KiB units, 24 bits */
	cmos[0x5C] = (uint8_t)(high >> 8);
	cmos[0x5D] = (uint8_t)(high >> 16);
	/* standard checksum over 0x10-0x2D, big-endian at 0x2E */
	unsigned sum = 0;
	for (int i = 0x10; i <= 0x2D; i++)
		sum += cmos[i];
	cmos[0x2E] = (uint8_t)(sum >> 8);
	cmos[0x2F] = (uint8_t)sum;
}

void rtc_model_init(struct rtc_model *m, uint64_t lowmem, uint64_t highmem, bool localtime,
		    rtc_clock_fn clock, rtc_irq_fn irq_changed, void *opaque)
{
	memset(m, 0, sizeof(*m));
	m->localtime = localtime;
	m->clock = clock;
	m->irq_changed = irq_changed;
	m->opaque = opaque;
	m->cmos[RTC_REG_A] = 0x26; /* 32.768 kHz divider, 1024 Hz periodic rate */
	m->cmos[RTC_REG_B] = RTC_B_24H;
	m->cmos[RTC_REG_D] = RTC_D_VRT;
	set_memory_size(m->cmos, lowmem, highmem);
	struct timespec ts;
	m->last_host_ns = host_ns(m, &ts);
	long nsec;
	rtc_now(m, &m->last_rtc_sec, &nsec);
}

uint8_t rtc_model_read(struct rtc_model *m, uint8_t reg)
{
	reg &= RTC_CMOS_SIZE - 1;
	int64_t sec;
	long nsec;
	switch (reg) {
	case RTC_REG_A: {
		uint8_t a = m->cmos[RTC_REG_A] & ~RTC_A_UIP;
		if (!m->frozen) {
			rtc_now(m, &sec, &nsec);
			if (nsec >= NSEC - UIP_WINDOW_NS)
				a |= RTC_A_UIP;
		}
		return a;
	}
	case RTC_REG_C: {
		catch_up(m);
		uint8_t c = m->cmos[RTC_REG_C];
		m->cmos[RTC_REG_C] = 0;
		update_irq(m);
		return c;
	}
	case RTC_REG_D:
		return RTC_D_VRT;
	default:
		if (!m->frozen && is_time_reg(reg)) {
			uint8_t regs[RTC_CMOS_SIZE];
			rtc_now(m, &sec, &nsec);
			encode_time(m, sec, regs);
			return regs[reg];
		}
		return m->cmos[reg];
	}
}

void rtc_model_write(struct rtc_model *m, uint8_t reg, uint8_t val)
{
	reg &= RTC_CMOS_SIZE - 1;
	switch (reg) {
	case RTC_REG_A: {
		bool was_reset = divider_reset(m);
		catch_up(m);
		m->cmos[RTC_REG_A] = val & ~RTC_A_UIP;
		/* leaving divider reset: the first update comes half a second later */
		apply_freeze(m, was_reset && !divider_reset(m) ? NSEC / 2 : -1);
		break;
	}
	case RTC_REG_B:
		catch_up(m);
		if (val & RTC_B_SET)
			val &= ~RTC_B_UIE; /* setting SET clears UIE */
		if (m->frozen || !(val & RTC_B_SET)) {
			m->cmos[RTC_REG_B] = val;
		} else {
			/* freeze in the format the registers had until now */
			m->cmos[RTC_REG_B] |= RTC_B_SET;
			apply_freeze(m, -1);
			m->cmos[RTC_REG_B] = val;
		}
		apply_freeze(m, -1);
		update_irq(m);
		break;
	case RTC_REG_C:
	case RTC_REG_D:
		break; /* read-only */
	default:
		if (is_time_reg(reg))
			write_time_reg(m, reg, val);
		else
			m->cmos[reg] = val;
	}
}

uint8_t rtc_model_port_read(struct rtc_model *m, unsigned offset)
{
	if (offset == 1)
		return rtc_model_read(m, m->index);
	return 0xFF; /* the index register is write-only */
}

void rtc_model_port_write(struct rtc_model *m, unsigned offset, uint8_t val)
{
	if (offset == 0)
		m->index = val & 0x7F;
	else if (offset == 1)
		rtc_model_write(m, m->index, val);
}

void rtc_model_tick(struct rtc_model *m)
{
	catch_up(m);
}

unsigned rtc_model_timer_ms(const struct rtc_model *m)
{
	uint8_t b = m->cmos[RTC_REG_B];
	unsigned ms = 0;
	int64_t period = periodic_ns(m->cmos[RTC_REG_A] & RTC_A_RATE);
	if ((b & RTC_B_PIE) && period && !divider_reset(m)) {
		/* faster rates are coalesced: each tick reports the ticks since the last one */
		ms = (unsigned)(period / 1000000);
		if (ms == 0)
			ms = 1;
	}
	/* update interrupts promptly after the second turns; alarms have 1 s resolution */
	unsigned other = (b & RTC_B_UIE) ? 10 : (b & RTC_B_AIE) ? 250 : 0;
	if (other && (ms == 0 || other < ms))
		ms = other;
	return ms;
}

int64_t rtc_model_time(struct rtc_model *m)
{
	if (m->frozen)
		return decode_time(m);
	int64_t sec;
	long nsec;
	rtc_now(m, &sec, &nsec);
	return sec;
}

/* Section layout: 128 bytes CMOS; u8 index; bool local time; i64 offset seconds; i64 offset
 * nanoseconds. */
void rtc_model_snapshot(struct snap *s, struct rtc_model *m)
{
	/* a copy: a load that fails half-way leaves the model as it was */
	struct rtc_model v = *m;
	int64_t off_nsec = v.off_nsec;
	snap_bytes(s, v.cmos, sizeof(v.cmos));
	snap_u8(s, &v.index);
	snap_bool(s, &v.localtime);
	snap_i64(s, &v.off_sec);
	snap_i64(s, &off_nsec);
	if (!snap_loading(s) || snap_failed(s))
		return;
	snap_check(s, v.index < RTC_CMOS_SIZE, "CMOS index");
	snap_check(s, v.off_sec >= -MAX_OFFSET_SEC && v.off_sec <= MAX_OFFSET_SEC, "time offset");
	snap_check(s, off_nsec >= 0 && off_nsec < NSEC, "time offset nanoseconds");
	if (snap_failed(s))
		return;
	v.off_nsec = (long)off_nsec;
	v.cmos[RTC_REG_A] &= ~RTC_A_UIP; /* computed when read, never stored */
	/* SET or a divider reset: the registers hold the time, as they did when saved */
	v.frozen = should_freeze(&v);
	/* interrupts are evaluated from now on */
	struct timespec ts;
	v.last_host_ns = host_ns(&v, &ts);
	long nsec;
	rtc_now(&v, &v.last_rtc_sec, &nsec);
	/* IRQF and the output follow from the flags and enables */
	uint8_t *c = &v.cmos[RTC_REG_C];
	if (*c & v.cmos[RTC_REG_B] & (RTC_C_PF | RTC_C_AF | RTC_C_UF))
		*c |= RTC_C_IRQF;
	else
		*c &= ~RTC_C_IRQF;
	v.irq = *c & RTC_C_IRQF;
	*m = v;
}

/* ---- the platform device ---- */

static struct {
	pthread_mutex_t lock; /* the model */
	pthread_mutex_t timer_lock;
	struct rtc_model m;
	struct vm *vm;
	struct evloop_handle *timer;
	unsigned timer_ms;
	bool paused; /* a checkpoint is under way: timer ticks raise no flags (lock) */
} rtc = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .timer_lock = PTHREAD_MUTEX_INITIALIZER,
};

static void host_clock(void *opaque, struct timespec *now)
{
	clock_gettime(CLOCK_REALTIME, now);
}

static void rtc_irq(void *opaque, bool level)
{
	int rc = vm_irq_line(rtc.vm, RTC_IRQ, level);
	if (rc)
		kb_debug("rtc: IRQ %d: %s", RTC_IRQ, strerror(-rc));
}

static void rtc_timer(void *opaque)
{
	pthread_mutex_lock(&rtc.lock);
	if (!rtc.paused)
		rtc_model_tick(&rtc.m);
	pthread_mutex_unlock(&rtc.lock);
}

/* Run a timer only while an interrupt source is enabled. Not under the model lock: the
 * timer callback takes that lock. */
static void rtc_sync_timer(void)
{
	pthread_mutex_lock(&rtc.timer_lock);
	pthread_mutex_lock(&rtc.lock);
	unsigned want = rtc_model_timer_ms(&rtc.m);
	pthread_mutex_unlock(&rtc.lock);
	if (want != rtc.timer_ms) {
		/* one timer for the VM's life, re-armed: a guest toggling its interrupt enables
		 * faster than the timer fires must not pile up descriptors */
		if (!rtc.timer && want)
			rtc.timer = evloop_add_timer(rtc.vm->ev, want, want, rtc_timer, NULL);
		else if (rtc.timer && evloop_timer_set(rtc.timer, want, want) < 0)
			want = 0;
		rtc.timer_ms = rtc.timer ? want : 0;
	}
	pthread_mutex_unlock(&rtc.timer_lock);
}

static int rtc_io(void *opaque, uint64_t offset, unsigned size, bool is_write, uint64_t *val)
{
	uint64_t out = 0;
	pthread_mutex_lock(&rtc.lock);
	for (unsigned i = 0; i < size && i < 8; i++) {
		uint64_t port = offset + i;
		if (is_write) {
			if (port < 2)
				rtc_model_port_write(&rtc.m, (unsigned)port,
						     (uint8_t)(*val >> (8 * i)));
		} else {
			uint8_t b = port < 2 ? rtc_model_port_read(&rtc.m, (unsigned)port) : 0xFF;
			out |= (uint64_t)b << (8 * i);
		}
	}
	pthread_mutex_unlock(&rtc.lock);
	if (is_write)
		rtc_sync_timer();
	else
		*val = out;
	return 0;
}

static void rtc_teardown(void *opaque)
{
	pthread_mutex_lock(&rtc.timer_lock);
	evloop_del(rtc.vm->ev, rtc.timer);
	rtc.timer = NULL;
	rtc.timer_ms = 0;
	pthread_mutex_unlock(&rtc.timer_lock);
}

/* ---- checkpoint and restore: section "rtc" (rtc_model_snapshot's layout) ---- */

/* The timer raises no flags (and moves no IRQ) while a checkpoint is taken; the first tick
 * after resume catches up, as the flags are evaluated from the clock. */
static void rtc_pause(void *opaque)
{
	pthread_mutex_lock(&rtc.lock);
	rtc.paused = true;
	pthread_mutex_unlock(&rtc.lock);
}

static void rtc_visit(struct snap *s, void *opaque)
{
	pthread_mutex_lock(&rtc.lock);
	rtc_model_snapshot(s, &rtc.m);
	pthread_mutex_unlock(&rtc.lock);
}

/* The loaded interrupt enables decide the timer; IRQ 8 itself is restored with the interrupt
 * controller's state. */
static int rtc_restored(void *opaque, char *err, size_t errlen)
{
	rtc_sync_timer();
	return 0;
}

static void rtc_resume(void *opaque)
{
	pthread_mutex_lock(&rtc.lock);
	rtc.paused = false;
	pthread_mutex_unlock(&rtc.lock);
}

static const struct snapshot_ops rtc_snapshot_ops = {
    .pause = rtc_pause,
    .visit = rtc_visit,
    .restored = rtc_restored,
    .resume = rtc_resume,
};

static int rtc_init(struct vm *vm)
{
	rtc.vm = vm;
	rtc.timer = NULL; /* a previous VM's timer belonged to its event loop */
	rtc.timer_ms = 0;
	rtc.paused = false;
	int hrc = vm_at_destroy(vm, rtc_teardown, NULL);
	if (hrc)
		return hrc;
	rtc_model_init(&rtc.m, vm->mem.lowmem, vm->mem.highmem, vm->localtime_rtc, host_clock,
		       rtc_irq, NULL);
	int rc = iobus_register(&vm->bus, IOBUS_PIO, RTC_PORT, 2, rtc_io, NULL, "rtc");
	if (rc) {
		kb_log("rtc: I/O ports %#x-%#x: %s", RTC_PORT, RTC_PORT + 1, strerror(-rc));
		return rc;
	}
	rc = snapshot_register(vm, "rtc", &rtc_snapshot_ops, NULL);
	if (rc)
		kb_log("rtc: cannot register its saved state: %s", strerror(-rc));
	return rc;
}

static const struct platform_device rtc_device = {.name = "rtc", .order = 20, .init = rtc_init};
PLATFORM_DEVICE(rtc_device);
