/* SPDX-License-Identifier: BSD-2-Clause */
/* Entering the sandbox: the order matters. Landlock needs no_new_privs (an unprivileged caller)
 * and its rule paths opened before anything is denied; the bounding set needs CAP_SETPCAP, so
 * capabilities go after it; seccomp comes last, synchronised onto every thread, which is why the
 * process must still have just one: capabilities and Landlock apply to the calling thread only,
 * and the threads started later (vCPUs, block workers) inherit all of it. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#include "core/log.h"
#include "sandbox/sandbox.h"

static bool entered;

#ifdef __SANITIZE_ADDRESS__
/* The ASan build (make SAN=1): LeakSanitizer's exit check ptraces every thread from a helper
 * task, which a confined process cannot do; it stays on for sandbox=off and the unit tests. */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
	return entered;
}
#endif

static int count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return -errno;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

int sandbox_enter(char *err, size_t errlen)
{
	int threads = count_threads();
	if (threads != 1) {
		snprintf(err, errlen, "sandbox: %d threads run already; only one can be confined",
			 threads);
		return -EBUSY;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		int e = errno;
		snprintf(err, errlen, "sandbox: cannot set no_new_privs: %s", strerror(e));
		return -e;
	}
	size_t n;
	const struct hostpath *paths = hostpath_list(&n);
	int rc = sandbox_landlock(paths, n, err, errlen);
	if (rc < 0)
		return rc;
	if (rc == 0)
		kb_log("sandbox: this kernel has no Landlock: the file system is not confined "
		       "(the rest of the sandbox is)");
	rc = sandbox_drop_caps(err, errlen);
	if (rc < 0)
		return rc;
	rc = sandbox_seccomp(err, errlen);
	if (rc < 0)
		return rc;
	entered = true;
	kb_debug("sandbox: entered (%zu host paths allowed)", n);
	return 0;
}
