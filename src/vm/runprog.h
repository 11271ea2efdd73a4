/* SPDX-License-Identifier: BSD-2-Clause */
/* Running the helper programs vm drives (nft, dnsmasq, xz, gzip, qemu-img): found in PATH, then
 * in /usr/sbin, /sbin, /usr/bin and /bin (vm runs from cron and units with a short PATH). */
#ifndef VM_RUNPROG_H
#define VM_RUNPROG_H

#include <stdbool.h>
#include <stddef.h>

#define RUNPROG_STDOUT_NULL (-1)    /* the program's stdout goes to /dev/null */
#define RUNPROG_STDOUT_INHERIT (-2) /* it writes to ours (qemu-img -p's progress) */

/* Run argv[0] with input on its stdin (NULL: /dev/null) and its stdout to out_fd (or one of the
 * above), and wait. Its exit status (127: not installed; 128 + signal), the first line it wrote
 * on stderr in why. */
int runprog(char *const argv[], const char *input, int out_fd, char *why, size_t whylen);

/* Whether runprog would find the program name (an executable in the same folders). */
bool runprog_installed(const char *name);

#endif
