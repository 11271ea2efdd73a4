/* SPDX-License-Identifier: BSD-2-Clause */
/* The confinement of a running bhyve (bhyve's Capsicum mode on FreeBSD): entered once every
 * device and backend is open and before the first vCPU runs. It sets no_new_privs, confines the
 * file system with Landlock to the files the configuration names (core/hostpath.h), drops every
 * capability and installs seccomp filters: one for the whole process, narrowed per thread role
 * (core/threadrole.h). A forbidden system call stops the process with one line naming it. */
#ifndef KB_SANDBOX_H
#define KB_SANDBOX_H

#include <stddef.h>

#include "core/hostpath.h"

/* Everything above, for the calling process, which must have one thread. 0, or -errno with a
 * one-line message in err. A kernel without Landlock is said once on stderr and the rest goes on. */
int sandbox_enter(char *err, size_t errlen);

/* The parts, for sandbox_enter and the unit tests. */
/* Restrict the calling thread (and threads it creates later) to LIST. 1 when confined, 0 when the
 * kernel has no Landlock, -errno with err otherwise. */
int sandbox_landlock(const struct hostpath *list, size_t n, char *err, size_t errlen);
/* Empty the bounding, ambient, inheritable, permitted and effective sets of the calling thread.
 * Without CAP_SETPCAP (an unprivileged bhyve) the bounding set stays, which no_new_privs makes
 * moot. 0 or -errno with err. */
int sandbox_drop_caps(char *err, size_t errlen);
/* Build the per-role filters and install the process-wide one on every thread (TSYNC); then
 * registers the thread-role hook that narrows new threads. 0 or -errno with err. */
int sandbox_seccomp(char *err, size_t errlen);

#endif
