/* SPDX-License-Identifier: BSD-2-Clause */
#include "core/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static const char *log_prog = "bhyve";
static volatile bool log_raw;

void kb_log_set_raw_terminal(bool raw)
{
	log_raw = raw;
}

static struct timespec log_t0;

void kb_log_set_prog(const char *prog)
{
	log_prog = prog;
	clock_gettime(CLOCK_MONOTONIC, &log_t0);
}

const char *kb_log_prog(void)
{
	return log_prog;
}

double kb_uptime_ms(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - log_t0.tv_sec) * 1e3 + (double)(now.tv_nsec - log_t0.tv_nsec) / 1e6;
}

__attribute__((format(printf, 1, 0))) static void vlog(const char *fmt, va_list ap)
{
	char line[1024];
	vsnprintf(line, sizeof(line), fmt, ap);
	/* one write keeps lines from different threads whole */
	fprintf(stderr, "%s: %s%s", log_prog, line, log_raw ? "\r\n" : "\n");
}

static unsigned long log_lines;

unsigned long kb_log_lines(void)
{
	return __atomic_load_n(&log_lines, __ATOMIC_RELAXED);
}

void kb_log(const char *fmt, ...)
{
	__atomic_add_fetch(&log_lines, 1, __ATOMIC_RELAXED);
	va_list ap;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

bool kb_debug_enabled(void)
{
	static int enabled = -1;
	if (enabled < 0)
		enabled = getenv("KBHYVE_DEBUG") != NULL;
	return enabled;
}

void kb_debug(const char *fmt, ...)
{
	if (!kb_debug_enabled())
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

static pthread_mutex_t ratelimit_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Take a token: true with *suppressed set to the lines dropped since the last one that passed. */
static bool ratelimit_take(struct kb_ratelimit *rl, unsigned long *suppressed)
{
	uint64_t now = mono_ns();
	pthread_mutex_lock(&ratelimit_lock);
	unsigned burst = rl->burst ? rl->burst : KB_GUEST_LOG_BURST;
	uint64_t period =
	    (uint64_t)(rl->period_ms ? rl->period_ms : KB_GUEST_LOG_PERIOD_MS) * 1000000ull;
	if (!rl->primed) {
		rl->primed = true;
		rl->tokens = burst;
		rl->refill_ns = now;
	} else if (now - rl->refill_ns >= period) {
		uint64_t add = (now - rl->refill_ns) / period;
		rl->tokens = add >= burst - rl->tokens ? burst : rl->tokens + (unsigned)add;
		rl->refill_ns += add * period;
	}
	bool ok = rl->tokens > 0;
	if (ok) {
		rl->tokens--;
		*suppressed = rl->suppressed;
		rl->suppressed = 0;
	} else {
		rl->suppressed++;
	}
	pthread_mutex_unlock(&ratelimit_lock);
	return ok;
}

void kb_guest_log(struct kb_ratelimit *rl, const char *fmt, ...)
{
	char msg[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	unsigned long suppressed;
	if (!ratelimit_take(rl, &suppressed)) {
		kb_debug("%s", msg);
		return;
	}
	if (suppressed)
		kb_log("%s (%lu similar lines suppressed)", msg, suppressed);
	else
		kb_log("%s", msg);
}
