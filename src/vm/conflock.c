/* SPDX-License-Identifier: BSD-2-Clause */
/* The config lock: an flock on the folder of a config file (see conflock.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vm/conflock.h"

int conflock_take(const char *dir, int *fd_out, char *err, size_t errlen)
{
	*fd_out = -1;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", dir, e == ELOOP ? "is a symlink" : strerror(e));
		return -e;
	}
	int r;
	while ((r = flock(fd, LOCK_EX)) < 0 && errno == EINTR)
		;
	if (r < 0) {
		int e = errno;
		close(fd);
		snprintf(err, errlen, "%s: flock: %s", dir, strerror(e));
		return -e;
	}
	/* the holder we waited for may have renamed or removed the folder */
	struct stat a, b;
	if (fstat(fd, &a) < 0 || lstat(dir, &b) < 0 || a.st_dev != b.st_dev ||
	    a.st_ino != b.st_ino) {
		close(fd);
		snprintf(err, errlen, "%s: renamed or removed meanwhile", dir);
		return -ENOENT;
	}
	*fd_out = fd;
	return 0;
}

void conflock_release(int fd)
{
	if (fd >= 0)
		close(fd);
}
