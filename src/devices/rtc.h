/* SPDX-License-Identifier: BSD-2-Clause */
/* MC146818 RTC and CMOS memory at ports 0x70 (index) and 0x71 (data), IRQ 8.
 *
 * The model is pure (the caller serialises and supplies the clock): the time registers are
 * computed from the host clock when read, plus an offset that changes when the guest sets the
 * time. Interrupt flags are evaluated lazily from the clock (on register C reads and on
 * rtc_model_tick()), so the owner only needs a timer while an interrupt is enabled; see
 * rtc_model_timer_ms(). The registered device ("rtc") wires it to the I/O bus, IRQ 8 and an
 * event-loop timer. */
#ifndef KB_RTC_H
#define KB_RTC_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct snap;

#define RTC_PORT 0x70
#define RTC_IRQ 8
#define RTC_CMOS_SIZE 128

/* Registers (CMOS indexes). */
#define RTC_SEC 0x00
#define RTC_SEC_ALARM 0x01
#define RTC_MIN 0x02
#define RTC_MIN_ALARM 0x03
#define RTC_HOUR 0x04
#define RTC_HOUR_ALARM 0x05
#define RTC_DOW 0x06
#define RTC_DOM 0x07
#define RTC_MONTH 0x08
#define RTC_YEAR 0x09
#define RTC_REG_A 0x0A
#define RTC_REG_B 0x0B
#define RTC_REG_C 0x0C
#define RTC_REG_D 0x0D
#define RTC_CENTURY 0x32

#define RTC_A_UIP 0x80
#define RTC_A_DV 0x70
#define RTC_A_RATE 0x0F
#define RTC_B_SET 0x80
#define RTC_B_PIE 0x40
#define RTC_B_AIE 0x20
#define RTC_B_UIE 0x10
#define RTC_B_DM_BINARY 0x04
#define RTC_B_24H 0x02
#define RTC_C_IRQF 0x80
#define RTC_C_PF 0x40
#define RTC_C_AF 0x20
#define RTC_C_UF 0x10
#define RTC_D_VRT 0x80

/* Host wall-clock time (CLOCK_REALTIME). */
typedef void (*rtc_clock_fn)(void *opaque, struct timespec *now);
/* IRQ output level changed. */
typedef void (*rtc_irq_fn)(void *opaque, bool level);

struct rtc_model {
	uint8_t cmos[RTC_CMOS_SIZE];
	uint8_t index;
	bool localtime; /* the RTC shows the host's local time, else UTC */
	/* RTC time = host time (+ local UTC offset) + off_sec + off_nsec, while running. */
	int64_t off_sec;
	long off_nsec;
	bool frozen;	      /* SET or divider reset: the time registers hold the time */
	int64_t last_rtc_sec; /* RTC second up to which updates and alarms were evaluated */
	int64_t last_host_ns; /* host time up to which periodic ticks were evaluated */
	bool irq;
	rtc_clock_fn clock;
	rtc_irq_fn irq_changed;
	void *opaque;
};

/* Power-on state with the CMOS memory-size fields for `lowmem` bytes of RAM below 4 GiB and
 * `highmem` above. */
void rtc_model_init(struct rtc_model *m, uint64_t lowmem, uint64_t highmem, bool localtime,
		    rtc_clock_fn clock, rtc_irq_fn irq_changed, void *opaque);

/* Port access: offset 0 is the index port (bit 7, NMI disable, is ignored), 1 the data port. */
uint8_t rtc_model_port_read(struct rtc_model *m, unsigned offset);
void rtc_model_port_write(struct rtc_model *m, unsigned offset, uint8_t val);

/* Register access by CMOS index (0-127), with the side effects of a guest access. */
uint8_t rtc_model_read(struct rtc_model *m, uint8_t reg);
void rtc_model_write(struct rtc_model *m, uint8_t reg, uint8_t val);

/* Bring the interrupt flags up to the current time (call from the timer). */
void rtc_model_tick(struct rtc_model *m);
/* How often the owner should call rtc_model_tick(): 0 when no interrupt is enabled. */
unsigned rtc_model_timer_ms(const struct rtc_model *m);

/* The current RTC time as seconds since the epoch, read as UTC (what the guest sees). */
int64_t rtc_model_time(struct rtc_model *m);

/* Save or load the guest-visible state (snapshot/snapstate.h): the CMOS memory (registers and
 * NVRAM), the index register, whether the RTC keeps local time, and the RTC's offset from the
 * host clock. The RTC runs on from the host clock plus that offset, so a restored RTC shows
 * the current time, as a battery clock would after the machine was off; the time that passed
 * in between raises no update, alarm or periodic flags (as when the guest sets the time), but
 * flags pending in register C at the checkpoint stay pending. A load is checked as a whole and
 * changes nothing when a value is out of range or the section ends early (bytes left over are
 * found by snap_finish later); the IRQ output is recomputed from registers B and C without
 * calling irq_changed. The callbacks and their opaque are kept. */
void rtc_model_snapshot(struct snap *s, struct rtc_model *m);

#endif
