/* SPDX-License-Identifier: BSD-2-Clause */
/* The sandbox, entered by the product's own code in a forked child (the test process stays
 * unconfined): Landlock lets the child open exactly its listed files; after sandbox_enter the
 * kernel shows seccomp mode 2, no_new_privs and no capabilities; a forbidden call kills the child
 * with one line naming the call and the thread's role. Built twice: the release build's filter
 * (build/tests) is the one bhyve ships; the ASan build allows its runtime a few more calls. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/hostpath.h"
#include "core/threadrole.h"
#include "sandbox/sandbox.h"

#define SKIP_STATUS 77

struct child {
	pid_t pid;
	int status;
	char err[4096]; /* the child's stderr */
};

/* Reads the child's stderr until it closes, into c->err; closes fd. */
static void read_stderr(struct child *c, int fd)
{
	size_t n = 0;
	ssize_t r;
	while (n < sizeof(c->err) - 1 && (r = read(fd, c->err + n, sizeof(c->err) - 1 - n)) > 0)
		n += (size_t)r;
	c->err[n] = '\0';
	close(fd);
}

/* Runs fn in a child whose stderr is captured; fn's return value is the child's exit status. */
static void run_child(struct child *c, int (*fn)(void *), void *arg)
{
	int pipefd[2];
	assert_int_equal(pipe(pipefd), 0);
	fflush(NULL);
	c->pid = fork();
	assert_true(c->pid >= 0);
	if (c->pid == 0) {
		close(pipefd[0]);
		dup2(pipefd[1], 2);
		close(pipefd[1]);
		_exit(fn(arg));
	}
	close(pipefd[1]);
	read_stderr(c, pipefd[0]);
	assert_int_equal(waitpid(c->pid, &c->status, 0), c->pid);
}

static bool landlock_available(void)
{
	return syscall(SYS_landlock_create_ruleset, NULL, 0, 1 /* VERSION */) >= 1;
}

/* ---- Landlock ---- */

struct files {
	char dir[64], ro[96], rw[96], other[96], created[96];
};

static int landlock_child(void *arg)
{
	struct files *f = arg;
	struct hostpath list[] = {{f->ro, HOSTPATH_READ}, {f->rw, HOSTPATH_READ | HOSTPATH_WRITE}};
	char err[256] = "";
	if (sandbox_landlock(list, 2, err, sizeof(err)) != 1) {
		fprintf(stderr, "sandbox_landlock: %s\n", err);
		return 10;
	}
	int fd = open(f->ro, O_RDONLY);
	if (fd < 0)
		return 11; /* listed read-only: reads */
	close(fd);
	if (open(f->ro, O_WRONLY) >= 0 || errno != EACCES)
		return 12; /* listed read-only: no writes */
	fd = open(f->rw, O_RDWR);
	if (fd < 0 || write(fd, "x", 1) != 1)
		return 13; /* listed read-write */
	close(fd);
	if (open(f->other, O_RDONLY) >= 0 || errno != EACCES)
		return 14; /* not listed: cannot even read */
	if (open(f->created, O_WRONLY | O_CREAT, 0600) >= 0 || errno != EACCES)
		return 15; /* no new files */
	if (unlink(f->rw) == 0 || errno != EACCES)
		return 16; /* no removal without HOSTPATH_UNLINK */
	if (open("/etc/passwd", O_RDONLY) >= 0 || errno != EACCES)
		return 17;
	return 0;
}

static void test_landlock_opens_only_listed_files(void **state)
{
	(void)state;
	if (!landlock_available())
		skip(); /* the kernel has none: sandbox_enter says so and goes on */
	struct files f;
	snprintf(f.dir, sizeof(f.dir), "/tmp/kbsandbox.XXXXXX");
	assert_non_null(mkdtemp(f.dir));
	snprintf(f.ro, sizeof(f.ro), "%s/ro.img", f.dir);
	snprintf(f.rw, sizeof(f.rw), "%s/rw.img", f.dir);
	snprintf(f.other, sizeof(f.other), "%s/other.img", f.dir);
	snprintf(f.created, sizeof(f.created), "%s/new.img", f.dir);
	const char *make[] = {f.ro, f.rw, f.other};
	for (int i = 0; i < 3; i++) {
		int fd = open(make[i], O_WRONLY | O_CREAT | O_TRUNC, 0600);
		assert_true(fd >= 0);
		close(fd);
	}
	struct child c;
	run_child(&c, landlock_child, &f);
	if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0)
		fail_msg("child: status 0x%x; %s", c.status, c.err);
	struct stat st;
	assert_int_equal(stat(f.rw, &st), 0);
	assert_int_equal(st.st_size, 1); /* the write went through */
	assert_int_equal(stat(f.created, &st), -1);
	unlink(f.ro);
	unlink(f.rw);
	unlink(f.other);
	rmdir(f.dir);
}

/* ---- the whole sandbox ---- */

/* A child that enters the sandbox, says so on `ready`, waits for a byte on `go`, then runs what
 * the test asks for. */
struct confined {
	int ready[2], go[2];
	void (*after)(void);
};

static int confined_child(void *arg)
{
	struct confined *c = arg;
	close(c->ready[0]);
	close(c->go[1]);
	char err[512] = "";
	if (sandbox_enter(err, sizeof(err)) < 0) {
		fprintf(stderr, "sandbox_enter: %s\n", err);
		return 20;
	}
	char b = 1;
	if (write(c->ready[1], &b, 1) != 1 || read(c->go[0], &b, 1) != 1)
		return 21;
	c->after();
	return 0;
}

/* Starts a confined child; before letting it go on, the parent reads the child's status from
 * /proc (the child cannot: its /proc is out of bounds). */
static void run_confined(struct child *ch, void (*after)(void), char *status, size_t len)
{
	struct confined c = {.after = after};
	assert_int_equal(pipe(c.ready), 0);
	assert_int_equal(pipe(c.go), 0);
	int errpipe[2];
	assert_int_equal(pipe(errpipe), 0);
	fflush(NULL);
	ch->pid = fork();
	assert_true(ch->pid >= 0);
	if (ch->pid == 0) {
		close(errpipe[0]);
		dup2(errpipe[1], 2);
		close(errpipe[1]);
		_exit(confined_child(&c));
	}
	close(errpipe[1]);
	close(c.ready[1]);
	close(c.go[0]);
	char b;
	status[0] = '\0';
	if (read(c.ready[0], &b, 1) == 1) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/status", (int)ch->pid);
		FILE *f = fopen(path, "r");
		assert_non_null(f);
		size_t n = fread(status, 1, len - 1, f);
		status[n] = '\0';
		fclose(f);
	}
	assert_int_equal(write(c.go[1], "g", 1), 1);
	close(c.go[1]);
	close(c.ready[0]);
	read_stderr(ch, errpipe[0]);
	assert_int_equal(waitpid(ch->pid, &ch->status, 0), ch->pid);
}

static void assert_status_line(const char *status, const char *line)
{
	if (!strstr(status, line))
		fail_msg("'%s' not in /proc/PID/status:\n%s", line, status);
}

static void assert_killed_for(const struct child *c, const char *role, const char *call)
{
	if (!WIFSIGNALED(c->status) || WTERMSIG(c->status) != SIGSYS)
		fail_msg("child not killed by SIGSYS (status 0x%x); stderr: %s", c->status, c->err);
	char want[160];
	snprintf(want, sizeof(want), "sandbox: the %s thread made a forbidden system call: %s (",
		 role, call);
	if (!strstr(c->err, want))
		fail_msg("'%s' not in the child's stderr: %s", want, c->err);
	/* one line */
	const char *nl = strchr(c->err, '\n');
	assert_non_null(nl);
	assert_true(nl[1] == '\0');
}

/* A confined child runs `after`, which must be killed for `call` in a `role` thread. */
static void expect_killed(void (*after)(void), const char *role, const char *call)
{
	struct child c;
	char status[4096];
	run_confined(&c, after, status, sizeof(status));
	assert_killed_for(&c, role, call);
}

static void do_nothing(void)
{
	/* an open fails quietly rather than killing: glibc probes files lazily */
	if (open("/etc/hostname", O_RDONLY) >= 0 || errno != EACCES)
		_exit(30);
	/* memory without PROT_EXEC is fine */
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		_exit(31);
	munmap(p, 4096);
}

static void test_confined_status(void **state)
{
	(void)state;
	struct child c;
	char status[4096];
	run_confined(&c, do_nothing, status, sizeof(status));
	if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0)
		fail_msg("child: status 0x%x; %s", c.status, c.err);
	assert_status_line(status, "\nSeccomp:\t2\n");
	assert_status_line(status, "\nNoNewPrivs:\t1\n");
	assert_status_line(status, "\nCapInh:\t0000000000000000\n");
	assert_status_line(status, "\nCapPrm:\t0000000000000000\n");
	assert_status_line(status, "\nCapEff:\t0000000000000000\n");
	assert_status_line(status, "\nCapAmb:\t0000000000000000\n");
	if (geteuid() == 0) /* the bounding set needs CAP_SETPCAP to shrink */
		assert_status_line(status, "\nCapBnd:\t0000000000000000\n");
}

static void call_chroot(void)
{
	syscall(SYS_chroot, "/");
	_exit(40); /* not reached */
}

static void test_forbidden_call_kills_and_names_it(void **state)
{
	(void)state;
	expect_killed(call_chroot, "main", "chroot");
}

static void map_exec(void)
{
	mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	_exit(41);
}

static void test_no_executable_memory(void **state)
{
	(void)state;
	expect_killed(map_exec, "main", "mmap");
}

static void inet_socket(void)
{
	/* a local socket only fails; another family stops the VMM */
	if (socket(AF_UNIX, SOCK_DGRAM, 0) >= 0 || errno != EACCES)
		_exit(42);
	socket(AF_INET, SOCK_STREAM, 0);
	_exit(43);
}

static void test_socket_families(void **state)
{
	(void)state;
	expect_killed(inet_socket, "main", "socket");
}

/* A thread that takes a role, makes one call the main thread may make but its role may not. */
struct role_call {
	enum thread_role role;
	int which;
};
static struct role_call role_call;

static void *role_thread(void *arg)
{
	(void)arg;
	thread_role_enter(role_call.role);
	if (write(2, "", 0) < 0) /* allowed in every role */
		_exit(50);
	if (role_call.which == 0)
		accept4(-1, NULL, NULL, 0); /* the event loop's, not a vCPU's */
	else
		syscall(SYS_epoll_wait, -1, NULL, 1, 0); /* not a block worker's */
	_exit(51);
}

static void start_role_thread(void)
{
	pthread_t t;
	if (pthread_create(&t, NULL, role_thread, NULL) != 0)
		_exit(52);
	pthread_join(t, NULL);
	_exit(53);
}

static void test_vcpu_role_is_narrower(void **state)
{
	(void)state;
	role_call = (struct role_call){THREAD_ROLE_VCPU, 0};
	expect_killed(start_role_thread, "vCPU", "accept4");
}

static void test_block_io_role_is_narrower(void **state)
{
	(void)state;
	role_call = (struct role_call){THREAD_ROLE_BLOCK_IO, 1};
	expect_killed(start_role_thread, "block I/O", "epoll_wait");
}

/* A vCPU thread may start a thread (a block device's workers start with the first request,
 * which an AHCI or NVMe doorbell makes on a vCPU); the new thread takes its own role. */
static int zero_fd = -1;

static void *worker_thread(void *arg)
{
	(void)arg;
	thread_role_enter(THREAD_ROLE_BLOCK_IO);
	char b[8];
	if (pread(zero_fd, b, sizeof(b), 0) != (ssize_t)sizeof(b))
		_exit(80);
	return NULL;
}

static void *vcpu_starting_worker(void *arg)
{
	(void)arg;
	thread_role_enter(THREAD_ROLE_VCPU);
	pthread_t t;
	if (pthread_create(&t, NULL, worker_thread, NULL) != 0)
		_exit(81);
	pthread_join(t, NULL);
	return NULL;
}

static void vcpu_starts_worker(void)
{
	pthread_t t;
	if (pthread_create(&t, NULL, vcpu_starting_worker, NULL) != 0)
		_exit(82);
	pthread_join(t, NULL);
}

static void test_vcpu_starts_a_block_worker(void **state)
{
	(void)state;
	zero_fd = open("/dev/zero", O_RDONLY | O_CLOEXEC); /* before the sandbox, as blockif */
	assert_true(zero_fd >= 0);
	struct child c;
	char status[4096];
	run_confined(&c, vcpu_starts_worker, status, sizeof(status));
	close(zero_fd);
	if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0)
		fail_msg("child: status 0x%x; %s", c.status, c.err);
}

static void fork_process(void)
{
	fork(); /* clone without CLONE_THREAD: no new processes */
	_exit(60);
}

static void test_no_new_processes(void **state)
{
	(void)state;
#ifdef __SANITIZE_ADDRESS__
	skip(); /* the ASan build lets its runtime start a symbolizer; build/tests checks this */
#endif
	expect_killed(fork_process, "main", "clone");
}

static void *sleeper(void *arg)
{
	(void)arg;
	pause();
	return NULL;
}

static int two_threads_child(void *arg)
{
	(void)arg;
	pthread_t t;
	if (pthread_create(&t, NULL, sleeper, NULL) != 0)
		return 70;
	char err[256] = "";
	int rc = sandbox_enter(err, sizeof(err));
	fprintf(stderr, "%s\n", err);
	return rc == -EBUSY ? 0 : 71;
}

static void test_refuses_a_second_thread(void **state)
{
	(void)state;
	struct child c;
	run_child(&c, two_threads_child, NULL);
	if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0)
		fail_msg("child: status 0x%x; %s", c.status, c.err);
	assert_non_null(strstr(c.err, "sandbox: 2 threads run already; only one can be confined"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_landlock_opens_only_listed_files),
	    cmocka_unit_test(test_confined_status),
	    cmocka_unit_test(test_forbidden_call_kills_and_names_it),
	    cmocka_unit_test(test_no_executable_memory),
	    cmocka_unit_test(test_socket_families),
	    cmocka_unit_test(test_vcpu_role_is_narrower),
	    cmocka_unit_test(test_block_io_role_is_narrower),
	    cmocka_unit_test(test_vcpu_starts_a_block_worker),
	    cmocka_unit_test(test_no_new_processes),
	    cmocka_unit_test(test_refuses_a_second_thread),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
