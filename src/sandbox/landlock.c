/* SPDX-License-Identifier: BSD-2-Clause */
/* File-system confinement with Landlock: every access right the kernel knows is handled, and only
 * the VM's own files (core/hostpath.h) get some back: read for read-only disks and firmware, read
 * and write for writable ones, removal in the folders of the sockets bhyve deletes at exit. */
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

/* rights newer than some distributions' headers (ABI 3 and 5) */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif

/* The rights of each ABI version: 1 up to MAKE_SYM, 2 adds REFER, 3 TRUNCATE, 5 IOCTL_DEV. */
static uint64_t handled_for_abi(int abi)
{
	uint64_t fs = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;
	if (abi >= 2)
		fs |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return fs;
}

static int add_rule(int ruleset, const char *path, uint64_t access, char *err, size_t errlen)
{
	int fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "sandbox: %s: %s", path, strerror(e));
		return -e;
	}
	struct landlock_path_beneath_attr rule = {.allowed_access = access, .parent_fd = fd};
	int rc = (int)syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
	int e = errno;
	close(fd);
	if (rc < 0) {
		snprintf(err, errlen, "sandbox: cannot allow %s: %s", path, strerror(e));
		return -e;
	}
	return 0;
}

/* The folder that holds PATH, into buf. */
static void parent_of(const char *path, char *buf, size_t len)
{
	snprintf(buf, len, "%s", path);
	char *slash = strrchr(buf, '/');
	if (!slash)
		snprintf(buf, len, ".");
	else if (slash == buf)
		buf[1] = '\0';
	else
		*slash = '\0';
}

int sandbox_landlock(const struct hostpath *list, size_t n, char *err, size_t errlen)
{
	int abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 0) {
		if (errno == ENOSYS || errno == EOPNOTSUPP)
			return 0;
		int e = errno;
		snprintf(err, errlen, "sandbox: Landlock: %s", strerror(e));
		return -e;
	}
	uint64_t handled = handled_for_abi(abi);
	struct landlock_ruleset_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.handled_access_fs = handled;
	/* only the file-system member, whatever this header's struct has grown */
	int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr.handled_access_fs), 0);
	if (ruleset < 0) {
		int e = errno;
		snprintf(err, errlen, "sandbox: cannot create a Landlock ruleset: %s", strerror(e));
		return -e;
	}
	const uint64_t file_rw = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE |
				 LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_IOCTL_DEV;
	int rc = 0;
	for (size_t i = 0; !rc && i < n; i++) {
		uint64_t access = 0;
		if (list[i].access & HOSTPATH_READ)
			access |= LANDLOCK_ACCESS_FS_READ_FILE;
		if (list[i].access & HOSTPATH_WRITE)
			access |= file_rw;
		struct stat st;
		/* a socket or a link being removed at exit may be absent: nothing to allow then */
		if (access && stat(list[i].path, &st) == 0) {
			if (S_ISDIR(st.st_mode)) /* a folder: read only, what is beneath it */
				access = (access & LANDLOCK_ACCESS_FS_READ_FILE) ? LANDLOCK_ACCESS_FS_READ_FILE |
										 LANDLOCK_ACCESS_FS_READ_DIR
										 : 0;
			if (access)
				rc = add_rule(ruleset, list[i].path, access & handled, err, errlen);
		}
		if (!rc && (list[i].access & HOSTPATH_UNLINK)) {
			char dir[4096];
			parent_of(list[i].path, dir, sizeof(dir));
			rc = add_rule(ruleset, dir, LANDLOCK_ACCESS_FS_REMOVE_FILE, err, errlen);
		}
	}
	if (!rc && syscall(SYS_landlock_restrict_self, ruleset, 0) < 0) {
		rc = -errno;
		snprintf(err, errlen, "sandbox: cannot enter the Landlock domain: %s", strerror(-rc));
	}
	close(ruleset);
	return rc < 0 ? rc : 1;
}
