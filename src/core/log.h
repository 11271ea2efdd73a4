#ifndef KB_LOG_H
#define KB_LOG_H

#include <stdbool.h>

/* One line on stderr, prefixed with the program name. */
void kb_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Debug lines appear only when KBHYVE_DEBUG is set in the environment. */
void kb_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Also records the program start time for kb_uptime_ms(). */
void kb_log_set_prog(const char *prog);
double kb_uptime_ms(void);
/* While the terminal is raw (com1 on stdio), lines must end in CR LF. */
void kb_log_set_raw_terminal(bool raw);

#endif
