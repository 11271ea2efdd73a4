/* SPDX-License-Identifier: BSD-2-Clause */
#ifndef KB_PROCTITLE_H
#define KB_PROCTITLE_H

/* Make /proc/PID/cmdline (ps, pgrep -f) read `title`, as FreeBSD's setproctitle() does for
 * "bhyve: NAME". Overwrites the original argv strings: call after they have been copied. */
void proctitle_set(int argc, char **argv, const char *title);

#endif
