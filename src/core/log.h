/* SPDX-License-Identifier: BSD-2-Clause */
#ifndef KB_LOG_H
#define KB_LOG_H

#include <stdbool.h>
#include <stdint.h>

/* One line on stderr, prefixed with the program name. */
void kb_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Lines kb_log has written so far: a caller that reports a failure checks whether the code it
 * called has already said why, so that bad input gets one line, not one per layer. */
unsigned long kb_log_lines(void);
/* Debug lines appear only when KBHYVE_DEBUG is set in the environment. */
void kb_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool kb_debug_enabled(void);
/* Lines a guest can cause (a malformed ring, a bad control message...) go through a token
 * bucket, one per device and kind of message, so that a guest repeating the mistake cannot flood
 * the host log: a burst of KB_GUEST_LOG_BURST lines, then one per KB_GUEST_LOG_PERIOD_MS. Lines
 * over the limit go to the debug log and are counted; the next line that passes ends with how
 * many were suppressed. Zero-initialise (burst and period_ms may be set to other values
 * first); thread-safe. */
#define KB_GUEST_LOG_BURST 5
#define KB_GUEST_LOG_PERIOD_MS 10000
struct kb_ratelimit {
	unsigned burst;	    /* 0: KB_GUEST_LOG_BURST */
	unsigned period_ms; /* 0: KB_GUEST_LOG_PERIOD_MS */
	unsigned tokens;
	bool primed;	    /* tokens was filled once */
	uint64_t refill_ns; /* CLOCK_MONOTONIC of the last refill */
	unsigned long suppressed;
};
void kb_guest_log(struct kb_ratelimit *rl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Also records the program start time for kb_uptime_ms(). */
void kb_log_set_prog(const char *prog);
const char *kb_log_prog(void);
double kb_uptime_ms(void);
/* While the terminal is raw (com1 on stdio), lines must end in CR LF. */
void kb_log_set_raw_terminal(bool raw);

#endif
