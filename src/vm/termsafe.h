/* SPDX-License-Identifier: BSD-2-Clause */
/* Text from configs and guest files shown on a terminal (`vm list`, `vm info`): a conf value can
 * hold escape sequences that retitle, clear or reprogram the terminal. Every control character
 * (C0, DEL, and C1 as UTF-8), and every byte that is not part of valid UTF-8, is shown as \ooo
 * (octal, e.g. \033); everything else, UTF-8 text included, is shown as is. */
#ifndef VM_TERMSAFE_H
#define VM_TERMSAFE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* s made safe into out (always terminated when outlen > 0; cut before a character or escape
 * that does not fit). Returns out. */
char *term_safe(const char *s, char *out, size_t outlen);
/* s made safe onto f; with keep_newlines, '\n' is written as is (multi-line output). */
void term_safe_fputs(const char *s, bool keep_newlines, FILE *f);

#endif
