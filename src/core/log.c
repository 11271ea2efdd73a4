#include "core/log.h"

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

void kb_log(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

void kb_debug(const char *fmt, ...)
{
	static int enabled = -1;
	if (enabled < 0)
		enabled = getenv("KBHYVE_DEBUG") != NULL;
	if (!enabled)
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}
