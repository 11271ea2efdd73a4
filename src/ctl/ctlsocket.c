/* SPDX-License-Identifier: BSD-2-Clause */
#include "ctl/ctlsocket.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl/ctlproto.h"

#define SUN_PATH_SIZE sizeof(((struct sockaddr_un *)0)->sun_path)

/* mkdir -p with mode 0700 for the directories it creates. */
static int make_dirs(const char *dir, char *err, size_t errlen)
{
	char p[SUN_PATH_SIZE];
	snprintf(p, sizeof(p), "%s", dir);
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char saved = *s;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST) {
			int e = errno;
			snprintf(err, errlen, "cannot create %s: %s (set KBHYVE_RUNDIR?)", p,
				 strerror(e));
			return -e;
		}
		*s = saved;
		if (saved == '\0')
			break;
	}
	struct stat st;
	if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", p);
		return -ENOTDIR;
	}
	return 0;
}

/* An existing file at the socket path: a live VM (error), a stale socket (removed) or
 * something else (error). */
static int clear_stale(const char *name, const struct sockaddr_un *sa, char *err, size_t errlen)
{
	const char *path = sa->sun_path;
	struct stat st;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", path);
		return -EEXIST;
	}
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (probe < 0) {
		int e = errno;
		snprintf(err, errlen, "socket: %s", strerror(e));
		return -e;
	}
	int rc = connect(probe, (const struct sockaddr *)sa, sizeof(*sa));
	int e = errno;
	close(probe);
	if (rc == 0 || e == EAGAIN || e == EINPROGRESS) {
		snprintf(err, errlen, "VM %s is already running (%s)", name, path);
		return -EEXIST;
	}
	if (e != ECONNREFUSED) {
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		e = errno;
		snprintf(err, errlen, "cannot remove the stale socket %s: %s", path, strerror(e));
		return -e;
	}
	return 0;
}

static int bind_listen(const char *name, int backlog, const char *path, struct stat *st,
		       char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int rc = clear_stale(name, &sa, err, errlen);
	if (rc)
		return rc;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return rc;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: bind: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	if (stat(path, st) < 0 || chmod(path, 0600) < 0 || listen(fd, backlog) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		unlink(path);
		close(fd);
		return rc;
	}
	return fd;
}

int ctl_listen(const char *name, int backlog, char *path, size_t pathlen, struct stat *st,
	       char *err, size_t errlen)
{
	char dir[SUN_PATH_SIZE];
	int rc = ctl_socket_path(name, path, pathlen, err, errlen);
	if (rc == 0)
		rc = ctl_vmm_dir(dir, sizeof(dir), err, errlen);
	if (rc == 0)
		rc = make_dirs(dir, err, errlen);
	if (rc)
		return rc;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || flock(dfd, LOCK_EX) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return rc;
	}
	rc = bind_listen(name, backlog, path, st, err, errlen);
	close(dfd); /* releases the lock */
	return rc;
}

void ctl_unlink_if_same(const char *path, const struct stat *st)
{
	struct stat now;
	if (path[0] && lstat(path, &now) == 0 && now.st_dev == st->st_dev &&
	    now.st_ino == st->st_ino)
		unlink(path);
}
