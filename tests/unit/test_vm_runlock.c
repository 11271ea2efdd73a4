/* SPDX-License-Identifier: BSD-2-Clause */
/* run.lock: one holder at a time, stale locks of dead supervisors cleared, other hosts' locks
 * left alone, and release removing the file. Real files and processes in a temporary folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

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
#include <sys/wait.h>
#include <unistd.h>

#include "vm/runlock.h"

static char dir[PATH_MAX];
static char lockfile[PATH_MAX + 16];

static int make_dir(const char *base)
{
	snprintf(dir, sizeof(dir), "%s/test_vm_runlock.XXXXXX", base);
	if (!mkdtemp(dir))
		return -1;
	snprintf(lockfile, sizeof(lockfile), "%s/run.lock", dir);
	return 0;
}

static int setup(void **state)
{
	return make_dir("/tmp");
}

/* On tmpfs where there is one: the many-iterations test would otherwise time the disk's fsync. */
static int setup_tmpfs(void **state)
{
	struct stat st;
	return make_dir(stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp");
}

static pid_t kid; /* a child a test left holding something: killed in teardown */

static int teardown(void **state)
{
	if (kid > 0) {
		kill(kid, SIGKILL);
		waitpid(kid, NULL, 0);
		kid = 0;
	}
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static bool exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0;
}

static void read_file(const char *p, char *buf, size_t len)
{
	FILE *f = fopen(p, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

static void test_stopped_without_file(void **state)
{
	pid_t pid = 123;
	char host[64] = "x";
	assert_int_equal(runlock_probe(dir, &pid, host, sizeof(host)), RUN_STOPPED);
	assert_int_equal(pid, 0);
	assert_string_equal(host, "");
}

static void test_acquire_twice_busy(void **state)
{
	char err[256] = "";
	int fd = -1, fd2 = -1;
	assert_int_equal(runlock_acquire(dir, &fd, err, sizeof(err)), 0);
	assert_true(fd >= 0);

	/* the file names this host and this process */
	char content[256], host[256], want[300];
	gethostname(host, sizeof(host));
	snprintf(want, sizeof(want), "%s %d\n", host, (int)getpid());
	read_file(lockfile, content, sizeof(content));
	assert_string_equal(content, want);

	assert_int_equal(runlock_acquire(dir, &fd2, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "already running"));

	pid_t pid = 0;
	assert_int_equal(runlock_probe(dir, &pid, NULL, 0), RUN_RUNNING);
	assert_int_equal(pid, getpid());
	/* probing a held lock leaves it */
	assert_true(exists(lockfile));

	runlock_release(dir, fd);
	assert_false(exists(lockfile));
	assert_int_equal(runlock_probe(dir, NULL, NULL, 0), RUN_STOPPED);

	/* free again after release */
	assert_int_equal(runlock_acquire(dir, &fd, err, sizeof(err)), 0);
	runlock_release(dir, fd);
}

/* A child takes the lock, reports, and is killed: its file stays, nobody holds it. */
static pid_t child_holding_lock(void)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		char err[256];
		int fd;
		close(p[0]);
		char c = runlock_acquire(dir, &fd, err, sizeof(err)) == 0 ? 'y' : 'n';
		if (write(p[1], &c, 1) != 1)
			_exit(2);
		pause();
		_exit(0);
	}
	close(p[1]);
	char c = 0;
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	assert_int_equal(c, 'y');
	return child;
}

static void test_killed_holder_is_stale(void **state)
{
	pid_t child = child_holding_lock();
	pid_t pid = 0;
	assert_int_equal(runlock_probe(dir, &pid, NULL, 0), RUN_RUNNING);
	assert_int_equal(pid, child);

	char err[256];
	int fd;
	assert_int_equal(runlock_acquire(dir, &fd, err, sizeof(err)), -EBUSY);

	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	assert_true(exists(lockfile)); /* left behind by the dead holder */

	assert_int_equal(runlock_probe(dir, &pid, NULL, 0), RUN_STOPPED);
	assert_int_equal(pid, 0);
	assert_false(exists(lockfile)); /* cleared */
}

static void test_acquire_over_stale_lock(void **state)
{
	pid_t child = child_holding_lock();
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	assert_true(exists(lockfile));

	char err[256];
	int fd = -1;
	assert_int_equal(runlock_acquire(dir, &fd, err, sizeof(err)), 0);
	pid_t pid = 0;
	assert_int_equal(runlock_probe(dir, &pid, NULL, 0), RUN_RUNNING);
	assert_int_equal(pid, getpid());
	runlock_release(dir, fd);
}

static void test_other_host_left_alone(void **state)
{
	FILE *f = fopen(lockfile, "w");
	assert_non_null(f);
	fprintf(f, "some-other-host.example 4242\n");
	fclose(f);

	pid_t pid = 0;
	char host[128];
	assert_int_equal(runlock_probe(dir, &pid, host, sizeof(host)), RUN_OTHER_HOST);
	assert_int_equal(pid, 4242);
	assert_string_equal(host, "some-other-host.example");

	char err[256];
	int fd;
	assert_int_equal(runlock_acquire(dir, &fd, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "some-other-host.example"));
	assert_true(exists(lockfile));
	char content[256];
	read_file(lockfile, content, sizeof(content));
	assert_string_equal(content, "some-other-host.example 4242\n");
	unlink(lockfile);
}

/* Many processes race for the lock at once: exactly one wins. */
static void test_concurrent_acquire_one_winner(void **state)
{
	enum { N = 8 };
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t kids[N];
	for (int i = 0; i < N; i++) {
		kids[i] = fork();
		assert_true(kids[i] >= 0);
		if (kids[i] == 0) {
			char err[256];
			int fd;
			close(p[0]);
			/* half of them also probe, which may clear what looks stale */
			if (i % 2)
				runlock_probe(dir, NULL, NULL, 0);
			char c = runlock_acquire(dir, &fd, err, sizeof(err)) == 0 ? 'y' : 'n';
			if (write(p[1], &c, 1) != 1)
				_exit(2);
			sleep(2); /* hold it while the others try */
			_exit(0);
		}
	}
	close(p[1]);
	int won = 0;
	for (int i = 0; i < N; i++) {
		char c;
		assert_int_equal(read(p[0], &c, 1), 1);
		won += c == 'y';
	}
	close(p[0]);
	assert_int_equal(won, 1);
	for (int i = 0; i < N; i++)
		waitpid(kids[i], NULL, 0);
	assert_int_equal(runlock_probe(dir, NULL, NULL, 0), RUN_STOPPED);
}

static void test_missing_folder(void **state)
{
	char err[256] = "";
	char missing[PATH_MAX + 16];
	int fd;
	snprintf(missing, sizeof(missing), "%s/nope", dir);
	assert_int_equal(runlock_acquire(missing, &fd, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "nope"));
	assert_int_equal(runlock_probe(missing, NULL, NULL, 0), RUN_STOPPED);
}


/* Finding 14: a `vm list` (probe) running beside a start must never make the start fail. Three
 * probers loop while this process takes and releases the lock 20000 times (the review saw 98 fail). */
static void test_probe_never_fails_acquire(void **state)
{
	enum { PROBERS = 3 };
	pid_t probers[PROBERS];
	for (int k = 0; k < PROBERS; k++) {
		probers[k] = fork();
		assert_true(probers[k] >= 0);
		if (probers[k] == 0) {
			for (;;)
				runlock_probe(dir, NULL, NULL, 0);
		}
	}
	int failures = 0;
	char first[256] = "";
	for (int i = 0; i < 20000; i++) {
		char err[256];
		int fd;
		if (runlock_acquire(dir, &fd, err, sizeof(err)) < 0) {
			if (!failures++)
				snprintf(first, sizeof(first), "%s", err);
			continue;
		}
		runlock_release(dir, fd);
	}
	for (int k = 0; k < PROBERS; k++) {
		kill(probers[k], SIGKILL);
		waitpid(probers[k], NULL, 0);
	}
	if (failures)
		fprintf(stderr, "%d of 20000 acquisitions failed, first: %s\n", failures, first);
	assert_int_equal(failures, 0);
}

/* Finding 6: the hostname changed while the guest ran. A lock held on this host means the guest
 * runs here, whatever name the file holds. */
static void test_held_lock_runs_here_whatever_hostname(void **state)
{
	pid_t child = kid = child_holding_lock();
	FILE *f = fopen(lockfile, "r+");
	assert_non_null(f);
	fprintf(f, "oldhost %d\n", (int)child);
	fclose(f);

	pid_t pid = 0;
	char host[64] = "";
	assert_int_equal(runlock_probe(dir, &pid, host, sizeof(host)), RUN_RUNNING);
	assert_int_equal(pid, child);
	char err[256] = "";
	int fd;
	assert_int_equal(runlock_acquire(dir, &fd, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "already running"));
}

/* Finding 12: the file only root can open. */
static void test_lock_file_is_private(void **state)
{
	char err[256];
	int fd;
	assert_int_equal(runlock_acquire(dir, &fd, err, sizeof(err)), 0);
	struct stat st;
	assert_int_equal(stat(lockfile, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	runlock_release(dir, fd);
}

/* A process that is not a vm supervisor, running as another user, holds the flock of a stale
 * 0644 file (an older vm made it): it must not keep the guest from starting. */
static void test_foreign_user_cannot_block(void **state)
{
	if (geteuid() != 0)
		skip();
	FILE *f = fopen(lockfile, "w");
	assert_non_null(f);
	fclose(f);
	chmod(lockfile, 0644);
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t child = kid = fork();
	assert_true(child >= 0);
	if (child == 0) {
		close(p[0]);
		int fd = open(lockfile, O_RDONLY);
		if (fd < 0 || setgid(65534) < 0 || setuid(65534) < 0 || flock(fd, LOCK_EX) < 0)
			_exit(2);
		if (write(p[1], "y", 1) != 1)
			_exit(2);
		pause();
		_exit(0);
	}
	close(p[1]);
	char c = 0;
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);

	char err[256] = "";
	int fd = -1;
	int r = runlock_acquire(dir, &fd, err, sizeof(err));
	if (r < 0)
		fprintf(stderr, "acquire: %s\n", err);
	assert_int_equal(r, 0);
	pid_t pid = 0;
	assert_int_equal(runlock_probe(dir, &pid, NULL, 0), RUN_RUNNING);
	assert_int_equal(pid, getpid());
	runlock_release(dir, fd);
}

/* Finding 17 (PID reuse): the file names a dead supervisor while some other process holds the
 * flock (a new supervisor taking over, before it writes its line). The probe must never hand out
 * the dead pid: a `vm stop` would signal whatever process has it now. */
static void test_probe_never_returns_a_pid_that_does_not_hold_it(void **state)
{
	pid_t dead = fork();
	assert_true(dead >= 0);
	if (dead == 0)
		_exit(0);
	waitpid(dead, NULL, 0);
	char me[256];
	gethostname(me, sizeof(me));
	FILE *f = fopen(lockfile, "w");
	assert_non_null(f);
	fprintf(f, "%s %d\n", me, (int)dead);
	fclose(f);
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t holder = kid = fork();
	assert_true(holder >= 0);
	if (holder == 0) {
		close(p[0]);
		int fd = open(lockfile, O_RDWR);
		if (fd < 0 || flock(fd, LOCK_EX) < 0 || write(p[1], "y", 1) != 1)
			_exit(2);
		pause();
		_exit(0);
	}
	close(p[1]);
	char c = 0;
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	pid_t pid = 0;
	runlock_probe(dir, &pid, NULL, 0);
	assert_int_not_equal(pid, dead);
}

/* A vm command (destroy) holding the lock: probes say busy, naming it; a start is refused. */
static void test_command_holding_lock_is_busy(void **state)
{
	char err[256] = "";
	int fd, fd2;
	assert_int_equal(runlock_acquire_op(dir, "destroy", &fd, err, sizeof(err)), 0);
	pid_t pid = 0;
	char what[64] = "";
	assert_int_equal(runlock_probe(dir, &pid, what, sizeof(what)), RUN_BUSY);
	assert_int_equal(pid, getpid());
	assert_string_equal(what, "vm destroy");
	assert_int_equal(runlock_acquire(dir, &fd2, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "vm destroy in progress"));
	runlock_release(dir, fd);
	assert_int_equal(runlock_probe(dir, NULL, NULL, 0), RUN_STOPPED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_stopped_without_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_acquire_twice_busy, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_killed_holder_is_stale, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_acquire_over_stale_lock, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_host_left_alone, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_acquire_one_winner, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_folder, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_probe_never_fails_acquire, setup_tmpfs, teardown),
	    cmocka_unit_test_setup_teardown(test_held_lock_runs_here_whatever_hostname, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lock_file_is_private, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_command_holding_lock_is_busy, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_foreign_user_cannot_block, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_probe_never_returns_a_pid_that_does_not_hold_it, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
