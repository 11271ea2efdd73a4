/* SPDX-License-Identifier: BSD-2-Clause */
/* Dropping every capability of the calling thread: bounding, ambient, inheritable, permitted and
 * effective sets (the raw system calls: a few lines do not call for libcap). */
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/log.h"
#include "sandbox/sandbox.h"

int sandbox_drop_caps(char *err, size_t errlen)
{
	/* the bounding set first: dropping from it needs CAP_SETPCAP, which goes last */
	for (int cap = 0; cap < 64; cap++) {
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0)
			break; /* past the last capability this kernel knows */
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EPERM) {
				kb_debug("sandbox: no CAP_SETPCAP: the bounding set stays (no_new_privs "
					 "keeps it unusable)");
				break;
			}
			int e = errno;
			snprintf(err, errlen, "sandbox: cannot drop capability %d from the bounding set: %s",
				 cap, strerror(e));
			return -e;
		}
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
		int e = errno;
		snprintf(err, errlen, "sandbox: cannot clear the ambient capabilities: %s", strerror(e));
		return -e;
	}
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) < 0) {
		int e = errno;
		snprintf(err, errlen, "sandbox: cannot drop capabilities: %s", strerror(e));
		return -e;
	}
	return 0;
}
