/* SPDX-License-Identifier: BSD-2-Clause */
/* <guest>/run.lock: the supervisor's flock, with "<hostname> <pid>" inside (see runlock.h).
 *
 * The lock is the flock, not the file: a file that exists but that nobody holds was left by a
 * supervisor that died, and is removed. Whoever removes the file holds its flock while doing so,
 * and every acquirer checks after flock() that the path still names the inode it locked (else it
 * locked a file someone has just unlinked, and tries again).
 *
 * A held lock's line is only believed when /proc/locks shows that the pid in it holds the flock:
 * an acquirer never writes into a dead holder's file (it removes it and makes a fresh one), and a
 * probe never hands out a pid that is not the holder's (a `vm stop` signals that pid). Probes take
 * the flock shared, and an acquirer that meets a holder that has not written its line yet (a probe,
 * or another acquirer) waits a moment before it reports the guest as running. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "vm/guest.h"
#include "vm/runlock.h"

#define LOCK_NAME "run.lock"
#define LOCK_MODE 0600	  /* only root can open it, so only root can hold it */
#define WAIT_STEP_US 1000 /* 1 ms: a probe holds the file for microseconds */
#define WAIT_MS 1000	  /* time a holder has to write its line */

struct owner {
	char host[HOST_NAME_MAX + 1]; /* "" when the file is empty (being written) */
	pid_t pid;
	char op[32]; /* the vm command holding it ("destroy"), "" for a supervisor */
};

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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

/* "<host> <pid> [<op>]" from an open lock file. */
static void read_owner(int fd, struct owner *o)
{
	char buf[HOST_NAME_MAX + 64];
	memset(o, 0, sizeof(*o));
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	char *save = NULL, *host = strtok_r(buf, " ", &save), *pid = strtok_r(NULL, " ", &save),
	     *op = strtok_r(NULL, " ", &save);
	if (host)
		snprintf(o->host, sizeof(o->host), "%s", host);
	if (pid)
		o->pid = (pid_t)strtol(pid, NULL, 10);
	if (op)
		snprintf(o->op, sizeof(o->op), "%s", op);
}

/* Does `path` still name the file open on fd? */
static bool same_file(int fd, const char *path)
{
	struct stat a, b;
	if (fstat(fd, &a) < 0 || lstat(path, &b) < 0)
		return false;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Who holds a flock on the file open on fd, from /proc/locks: 1 with *pid (an exclusive holder
 * when there is one), 0 when nobody does, -1 when /proc/locks cannot tell: unreadable, or it names
 * the lock under another device than stat() gives (overlayfs, as in containers, lists the upper
 * layer's inode) while a non-blocking shared flock shows that the file is locked. */
static int flock_holder(int fd, pid_t *pid, bool *exclusive)
{
	struct stat st;
	FILE *f = fstat(fd, &st) == 0 ? fopen("/proc/locks", "re") : NULL;
	if (!f)
		return -1;
	char line[256];
	int found = 0;
	while (fgets(line, sizeof(line), f)) {
		char type[16], mode[16];
		long p;
		unsigned maj, min;
		unsigned long long ino;
		if (strstr(line, "->")) /* a waiter, not a holder */
			continue;
		if (sscanf(line, "%*d: %15s %*s %15s %ld %x:%x:%llu", type, mode, &p, &maj, &min,
			   &ino) != 6 ||
		    strcmp(type, "FLOCK") != 0 || ino != (unsigned long long)st.st_ino ||
		    maj != major(st.st_dev) || min != minor(st.st_dev))
			continue;
		*pid = (pid_t)p;
		*exclusive = !strcmp(mode, "WRITE");
		found = 1;
		if (*exclusive)
			break;
	}
	fclose(f);
	if (!found) {
		if (flock(fd, LOCK_SH | LOCK_NB) < 0)
			return errno == EWOULDBLOCK ? -1 : 0;
		flock(fd, LOCK_UN);
	}
	return found;
}

static bool alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/* The line's pid is the process holding the flock exclusively now. /proc/locks names the process
 * that called flock(); when that one has gone while the lock stays held, the descriptor was
 * inherited, and a live writer of the line is its holder. A live locker other than the writer is
 * an acquirer that has not written its line yet: the line is a dead holder's. */
static bool holder_confirmed(int fd, const struct owner *o)
{
	pid_t h = 0;
	bool ex = false;
	if (o->pid <= 0)
		return false;
	int r = flock_holder(fd, &h, &ex);
	if (r < 0) /* no /proc/locks: a live writer is the best there is */
		return alive(o->pid);
	return r == 1 && ex && (h == o->pid || (!alive(h) && alive(o->pid)));
}

/* A process running as another user than this one (a vm process runs as root, like us). */
static bool foreign_user(pid_t pid)
{
	char p[32];
	struct stat st;
	snprintf(p, sizeof(p), "/proc/%d", (int)pid);
	return pid > 0 && stat(p, &st) == 0 && st.st_uid != geteuid();
}

/* A line in the guest's log: the lock code has only the folder, which is all guest_log needs. */
static void log_line(const char *guest_dir, const char *what, const struct owner *o)
{
	struct guest g;
	memset(&g, 0, sizeof(g));
	snprintf(g.dir, sizeof(g.dir), "%s", guest_dir);
	const char *base = strrchr(guest_dir, '/');
	snprintf(g.name, sizeof(g.name), "%s", base ? base + 1 : guest_dir);
	guest_log(&g, "%s (%s %s %d)", what, o->op[0] ? o->op : "supervisor",
		  o->host[0] ? o->host : "?", (int)o->pid);
}

static void busy_message(char *err, size_t errlen, const struct owner *o)
{
	if (o->op[0])
		snprintf(err, errlen, "busy: vm %s in progress (pid %d)", o->op, (int)o->pid);
	else
		snprintf(err, errlen, "already running (supervisor pid %d)", (int)o->pid);
}

int runlock_acquire_op(const char *guest_dir, const char *op, int *fd_out, char *err, size_t errlen)
{
	char path[PATH_MAX], me[HOST_NAME_MAX + 1];
	if (lock_path(guest_dir, path, sizeof(path)) < 0) {
		snprintf(err, errlen, "%s: path too long", guest_dir);
		return -ENAMETOOLONG;
	}
	this_host(me, sizeof(me));
	bool replaced = false;
	long start = now_ms();
	for (int tries = 0; now_ms() - start < 3 * WAIT_MS || tries < 100; tries++) {
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, LOCK_MODE);
		if (fd < 0) {
			int e = errno;
			snprintf(err, errlen, "%s: %s", path, strerror(e));
			return -e;
		}
		struct owner o;
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			int e = errno;
			if (e != EWOULDBLOCK) {
				close(fd);
				snprintf(err, errlen, "%s: flock: %s", path, strerror(e));
				return -e;
			}
			/* held here: running here, whatever host the file names */
			read_owner(fd, &o);
			if (holder_confirmed(fd, &o)) {
				close(fd);
				busy_message(err, errlen, &o);
				return -EBUSY;
			}
			if (now_ms() - start <
			    WAIT_MS) { /* a probe, or a holder about to write its line */
				close(fd);
				usleep(WAIT_STEP_US);
				continue;
			}
			/* A second on, the holder has written nothing of its own: it is no vm
			 * process. One of another user (who could open an older vm's 0644 file)
			 * cannot keep the guest from running: its file is replaced. */
			pid_t h = 0;
			bool ex = false;
			if (!replaced && flock_holder(fd, &h, &ex) == 1 && foreign_user(h) &&
			    same_file(fd, path)) {
				unlink(path);
				struct owner who = {.pid = h};
				snprintf(who.op, sizeof(who.op), "another user's process");
				log_line(guest_dir,
					 "replaced a run.lock held by a process that is not vm's",
					 &who);
				replaced = true;
				close(fd);
				continue;
			}
			close(fd);
			snprintf(err, errlen,
				 "%s is held by process %d, which is not a vm supervisor", path,
				 (int)h);
			return -EBUSY;
		}
		if (!same_file(fd, path)) {
			close(fd); /* unlinked (released or cleared) under us: take the new file */
			continue;
		}
		read_owner(fd, &o);
		if (o.host[0] && strcmp(o.host, me) != 0) {
			/* shared storage: the other host's flock is not visible here */
			close(fd);
			snprintf(err, errlen, "locked by host %s (pid %d)", o.host, (int)o.pid);
			return -EBUSY;
		}
		if (o.host[0]) {
			/* a dead holder's line: never hold a file that names someone else, start
			 * afresh */
			log_line(guest_dir, "removed a stale run.lock", &o);
			unlink(path);
			close(fd);
			continue;
		}
		char line[HOST_NAME_MAX + 64];
		int n = snprintf(line, sizeof(line), "%s %d%s%s\n", me, (int)getpid(),
				 op ? " " : "", op ? op : "");
		if (fchmod(fd, LOCK_MODE) < 0 || pwrite(fd, line, (size_t)n, 0) != n ||
		    fsync(fd) < 0) {
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

int runlock_acquire(const char *guest_dir, int *fd, char *err, size_t errlen)
{
	return runlock_acquire_op(guest_dir, NULL, fd, err, errlen);
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
	char path[PATH_MAX], me[HOST_NAME_MAX + 1], desc[HOST_NAME_MAX + 16] = "";
	pid_t pid = 0;
	enum run_state st = RUN_STOPPED;
	if (pid_out)
		*pid_out = 0;
	if (host_out && hostlen)
		host_out[0] = '\0';
	if (lock_path(guest_dir, path, sizeof(path)) < 0)
		return RUN_STOPPED;
	this_host(me, sizeof(me));
	long start = now_ms();
	for (;;) {
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			break; /* no file: stopped */
		struct owner o;
		/* Held? /proc/locks tells without taking the lock, so that probes (a `vm list` in a
		 * loop) never stand in a starting supervisor's way; flock(LOCK_SH) where it cannot.
		 */
		pid_t h = 0;
		bool ex = false;
		int r = flock_holder(fd, &h, &ex);
		bool held = r < 0 ? flock(fd, LOCK_SH | LOCK_NB) < 0 : r == 1 && ex;
		if (!held) {
			read_owner(fd, &o);
			if (o.host[0] && strcmp(o.host, me) != 0) {
				st = RUN_OTHER_HOST; /* shared storage: left alone */
				pid = o.pid;
				snprintf(desc, sizeof(desc), "%s", o.host);
				close(fd);
				break;
			}
			if (!o.host[0]) {
				close(fd); /* empty: an acquirer's new file, or a bare one */
				break;
			}
			/* A line nobody holds: stale, removed under the exclusive lock (acquirers
			 * never write into a file that has a line, so it still is the dead
			 * holder's). If the lock is taken meanwhile, or the file replaced, look
			 * again. */
			if (flock(fd, LOCK_EX | LOCK_NB) == 0 && same_file(fd, path)) {
				unlink(path);
				log_line(guest_dir, "removed a stale run.lock", &o);
				close(fd);
				break;
			}
			close(fd);
			if (now_ms() - start >= 2 * WAIT_MS)
				break;
			usleep(WAIT_STEP_US);
			continue;
		}
		read_owner(fd, &o);
		if (holder_confirmed(fd, &o)) {
			st = o.op[0] ? RUN_BUSY : RUN_RUNNING;
			pid = o.pid;
			snprintf(desc, sizeof(desc), "%s%s", o.op[0] ? "vm " : "",
				 o.op[0] ? o.op : o.host);
			close(fd);
			break;
		}
		bool moved = !same_file(fd, path);
		close(fd);
		long waited = now_ms() - start;
		if (waited >= 2 * WAIT_MS || (!moved && waited >= WAIT_MS)) {
			/* held, and nobody's line in it: not a vm process */
			st = RUN_BUSY;
			snprintf(desc, sizeof(desc), "another process");
			break;
		}
		if (!moved)
			usleep(WAIT_STEP_US); /* its holder is writing its line */
	}
	if (pid_out)
		*pid_out = pid;
	if (host_out && hostlen)
		snprintf(host_out, hostlen, "%s", desc);
	return st;
}
