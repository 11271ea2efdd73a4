/* SPDX-License-Identifier: BSD-2-Clause */
#include "vm/suspendstate.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctlclient.h"
#include "ctl/ctlproto.h"
#include "vm/runstate.h"

#define SAVE_TIMEOUT_MS 3600000 /* a large guest's RAM to a slow disk */
#define POLL_MS 100

static const char *const suffix[3] = {"", ".kern", ".meta"};

int suspend_state_path(const char *dir, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s/%s", dir, SUSPEND_STATE_FILE);
	return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

static int file_path(const char *dir, int i, bool tmp, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s/%s%s%s", dir, SUSPEND_STATE_FILE, suffix[i],
			 tmp ? ".new" : "");
	return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

bool suspend_state_exists(const char *dir)
{
	char p[PATH_MAX];
	struct stat st;
	return file_path(dir, 2, false, p, sizeof(p)) == 0 && lstat(p, &st) == 0 &&
	       S_ISREG(st.st_mode);
}

void suspend_state_remove(const char *dir)
{
	char p[PATH_MAX];
	for (int i = 2; i >= 0; i--) /* the .meta first: a half-removed state is no state */
		if (file_path(dir, i, false, p, sizeof(p)) == 0)
			unlink(p);
}

static void take_pause(const char *key, const char *value, void *opaque)
{
	if (strcmp(key, "pause_ms") == 0)
		*(unsigned *)opaque = (unsigned)strtoul(value, NULL, 10);
}

int suspend_state_save(const char *name, const char *dir, unsigned *pause_ms, char *err,
		       size_t errlen)
{
	char tmp[3][PATH_MAX], dst[PATH_MAX];
	int fds[3] = {-1, -1, -1}, r = 0;
	*pause_ms = 0;
	for (int i = 0; i < 3 && r == 0; i++) {
		r = file_path(dir, i, true, tmp[i], sizeof(tmp[i]));
		if (r == 0) {
			/* O_EXCL|O_NOFOLLOW: never through a link somebody left in the folder */
			unlink(tmp[i]);
			fds[i] = open(tmp[i], O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
				      0600);
			if (fds[i] < 0) {
				r = -errno;
				snprintf(err, errlen, "%s: %s", tmp[i], strerror(errno));
			}
		} else {
			snprintf(err, errlen, "%s: path too long", dir);
		}
	}
	struct ctl_conn c = {.fd = -1};
	if (r == 0)
		r = guest_ctl_connect(name, &c, 5000, err, errlen);
	if (r == 0)
		r = ctl_request_fds(&c, "suspend", fds, 3, take_pause, pause_ms, SAVE_TIMEOUT_MS,
				    err, errlen);
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (r == 0) {
		if (file_path(dir, 2, false, dst, sizeof(dst)) == 0)
			unlink(dst);
		for (int i = 0; i < 3 && r == 0; i++) {
			file_path(dir, i, false, dst, sizeof(dst));
			if (rename(tmp[i], dst) < 0) {
				r = -errno;
				snprintf(err, errlen, "%s: %s", dst, strerror(errno));
			}
		}
	}
	if (r < 0)
		for (int i = 0; i < 3; i++)
			if (fds[i] >= 0)
				unlink(tmp[i]);
	if (r == 0) /* bhyve exits once the reply is out: until its socket closes */
		ctl_wait_closed(&c, 30000);
	ctl_disconnect(&c);
	return r;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int suspend_state_wait_restored(const char *name, pid_t pid, int timeout_ms, char *err,
				size_t errlen)
{
	long long deadline = now_ms() + timeout_ms;
	for (;;) {
		struct ctl_conn c = {.fd = -1};
		/* the greeting comes from bhyve's event loop, which runs after the restore */
		int left = (int)(deadline - now_ms());
		int r = guest_ctl_connect(name, &c, left > 0 ? left : 1, err, errlen);
		if (r == 0)
			r = ctl_request(&c, "status", NULL, NULL, 5000, err, errlen);
		ctl_disconnect(&c);
		if (r == 0)
			return 0;
		siginfo_t si = {0};
		/* ended, without reaping it: the supervisor collects its status afterwards */
		if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid) {
			snprintf(err, errlen, "bhyve ended before the restore completed");
			return -ECHILD;
		}
		if (now_ms() >= deadline) {
			snprintf(err, errlen, "bhyve did not complete the restore within %d s",
				 timeout_ms / 1000);
			return -ETIMEDOUT;
		}
		usleep(POLL_MS * 1000);
	}
}
