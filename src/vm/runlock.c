/* <guest>/run.lock: the supervisor's flock, with "<hostname> <pid>" inside (see runlock.h).
 *
 * The lock is the flock, not the file: a file that exists but that nobody holds was left by a
 * supervisor that died, and is removed. Whoever removes the file holds its flock while doing so,
 * and every acquirer checks after flock() that the path still names the inode it locked (else it
 * locked a file someone has just unlinked, and tries again). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vm/guest.h"
#include "vm/runlock.h"

#define LOCK_NAME "run.lock"

static int lock_path(const char *guest_dir, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s/" LOCK_NAME, guest_dir);
	return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

static void this_host(char *out, size_t outlen)
{
	if (gethostname(out, outlen) < 0 || !out[0])
		snprintf(out, outlen, "localhost");
	out[outlen - 1] = '\0';
}

/* "<host> <pid>" from an open lock file; host "" when the file is empty (being written). */
static void read_owner(int fd, char *host, size_t hostlen, pid_t *pid)
{
	char buf[HOST_NAME_MAX + 32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	host[0] = '\0';
	*pid = 0;
	if (n <= 0)
		return;
	buf[n] = '\0';
	char *sp = strchr(buf, ' ');
	if (sp) {
		*sp = '\0';
		*pid = (pid_t)strtol(sp + 1, NULL, 10);
	} else {
		buf[strcspn(buf, "\n")] = '\0';
	}
	size_t len = strlen(buf);
	if (len >= hostlen)
		len = hostlen - 1;
	memcpy(host, buf, len);
	host[len] = '\0';
}

/* Does `path` still name the file open on fd? */
static bool same_file(int fd, const char *path)
{
	struct stat a, b;
	if (fstat(fd, &a) < 0 || stat(path, &b) < 0)
		return false;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* A line in the guest's log: the lock code has only the folder, which is all guest_log needs. */
static void log_stale(const char *guest_dir, const char *host, pid_t pid)
{
	struct guest g;
	memset(&g, 0, sizeof(g));
	snprintf(g.dir, sizeof(g.dir), "%s", guest_dir);
	const char *base = strrchr(guest_dir, '/');
	snprintf(g.name, sizeof(g.name), "%s", base ? base + 1 : guest_dir);
	guest_log(&g, "removed a stale run.lock (supervisor %s %d is gone)", host[0] ? host : "?",
		  (int)pid);
}

int runlock_acquire(const char *guest_dir, int *fd_out, char *err, size_t errlen)
{
	char path[PATH_MAX], me[HOST_NAME_MAX + 1], host[HOST_NAME_MAX + 1];
	if (lock_path(guest_dir, path, sizeof(path)) < 0) {
		snprintf(err, errlen, "%s: path too long", guest_dir);
		return -ENAMETOOLONG;
	}
	this_host(me, sizeof(me));
	for (int attempt = 0; attempt < 100; attempt++) {
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (fd < 0) {
			int e = errno;
			snprintf(err, errlen, "%s: %s", path, strerror(e));
			return -e;
		}
		pid_t pid;
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			int e = errno;
			read_owner(fd, host, sizeof(host), &pid);
			close(fd);
			if (e != EWOULDBLOCK) {
				snprintf(err, errlen, "%s: flock: %s", path, strerror(e));
				return -e;
			}
			if (host[0] && strcmp(host, me) != 0)
				snprintf(err, errlen, "locked by host %s (pid %d)", host, (int)pid);
			else
				snprintf(err, errlen, "already running (supervisor pid %d)",
					 (int)pid);
			return -EBUSY;
		}
		if (!same_file(fd, path)) {
			close(fd); /* unlinked (released or cleared) under us: take the new file */
			continue;
		}
		read_owner(fd, host, sizeof(host), &pid);
		if (host[0] && strcmp(host, me) != 0) {
			/* shared storage: the other host's flock is not visible here */
			close(fd);
			snprintf(err, errlen, "locked by host %s (pid %d)", host, (int)pid);
			return -EBUSY;
		}
		if (host[0])
			log_stale(guest_dir, host, pid);
		char line[HOST_NAME_MAX + 32];
		int n = snprintf(line, sizeof(line), "%s %d\n", me, (int)getpid());
		if (ftruncate(fd, 0) < 0 || pwrite(fd, line, (size_t)n, 0) != n || fsync(fd) < 0) {
			int e = errno ? errno : EIO;
			unlink(path);
			close(fd);
			snprintf(err, errlen, "%s: write: %s", path, strerror(e));
			return -e;
		}
		*fd_out = fd;
		return 0;
	}
	snprintf(err, errlen, "%s: keeps changing, giving up", path);
	return -EAGAIN;
}

void runlock_release(const char *guest_dir, int fd)
{
	char path[PATH_MAX];
	if (fd < 0)
		return;
	/* unlink while still holding the flock, so nobody can see the file unheld */
	if (lock_path(guest_dir, path, sizeof(path)) == 0 && same_file(fd, path))
		unlink(path);
	close(fd);
}

enum run_state runlock_probe(const char *guest_dir, pid_t *pid_out, char *host_out, size_t hostlen)
{
	char path[PATH_MAX], me[HOST_NAME_MAX + 1], host[HOST_NAME_MAX + 1];
	pid_t pid = 0;
	enum run_state st = RUN_STOPPED;
	if (pid_out)
		*pid_out = 0;
	if (host_out && hostlen)
		host_out[0] = '\0';
	if (lock_path(guest_dir, path, sizeof(path)) < 0)
		return RUN_STOPPED;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return RUN_STOPPED;
	this_host(me, sizeof(me));
	read_owner(fd, host, sizeof(host), &pid);
	if (host[0] && strcmp(host, me) != 0) {
		st = RUN_OTHER_HOST;
	} else if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		st = RUN_RUNNING; /* held: its supervisor is alive */
		/* an acquirer writes its line just after taking the lock: wait for it (callers
		 * signal the pid) */
		for (int i = 0; i < 100 && pid <= 0; i++) {
			usleep(10000);
			read_owner(fd, host, sizeof(host), &pid);
		}
	} else {
		/* nobody holds it. Re-read under our lock: an acquirer may have just written it,
		 * and only a file that still is the path's gets removed. */
		read_owner(fd, host, sizeof(host), &pid);
		if (same_file(fd, path) && (!host[0] || strcmp(host, me) == 0)) {
			unlink(path);
			if (host[0])
				log_stale(guest_dir, host, pid);
		}
		st = RUN_STOPPED;
		pid = 0;
		host[0] = '\0';
	}
	close(fd);
	if (pid_out)
		*pid_out = pid;
	if (host_out && hostlen)
		snprintf(host_out, hostlen, "%s", host);
	return st;
}
