/* SPDX-License-Identifier: BSD-2-Clause */
/* Running guests: start/install (spawn the supervisor), stop/restart (signal it), poweroff/reset
 * (bhyve's control socket), startall/stopall, and `_run`, the supervisor's entry point.
 *
 * vm_delay (rc file): seconds between guests in start with several names, startall and stopall.
 * Default 5, the value vm-bhyve's manual documents (its code uses 2). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctlproto.h"
#include "vm/cmds.h"
#include "vm/guest.h"
#include "vm/opts.h"
#include "vm/runlock.h"
#include "vm/runstate.h"
#include "vm/supervisor.h"
#include "vm/suspendstate.h"

#define DEFAULT_VM_DELAY 5
#define START_WAIT_S 60	  /* for the supervisor to report its first start */
#define CTL_STOP_MS 30000 /* force-poweroff/-reset: until bhyve lets go */

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int vm_delay(const struct vm_settings *s)
{
	const char *v = vmconf_get(s->rc, "vm_delay");
	if (!v || !v[0])
		return DEFAULT_VM_DELAY;
	char *end;
	long d = strtol(v, &end, 10);
	if (*end || d < 0 || d > 3600) {
		fprintf(stderr, "vm: vm_delay=\"%s\" in %s is not a number of seconds: using %d\n",
			v, s->rc_path, DEFAULT_VM_DELAY);
		return DEFAULT_VM_DELAY;
	}
	return (int)d;
}

static bool console_is_tmux(const struct vm_settings *s)
{
	const char *c = vmconf_get(s->sys, "console");
	return c && strcmp(c, "tmux") == 0;
}

/* Open guest `name` and read its run state; prints a one-line error on failure (a guest locked by
 * another host is one). */
static int open_guest(struct vm_settings *s, const char *name, struct guest *g,
		      struct guest_state *st)
{
	char err[1024];
	if (guest_open(s, name, g, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm: %s\n", err);
		return -1;
	}
	guest_state_get(g, st);
	if (st->run == GUEST_OTHER_HOST) {
		fprintf(stderr, "vm: %s: running on host %s\n", name, st->host);
		guest_close(g);
		return -1;
	}
	return 0;
}

/* Open a guest that must be running here, under a supervisor or (with orphan_ok) as a bhyve
 * without one. */
static int open_running(struct vm_settings *s, const char *name, struct guest *g,
			struct guest_state *st, bool orphan_ok)
{
	if (open_guest(s, name, g, st) < 0)
		return -1;
	if (st->run == GUEST_ORPHAN && !orphan_ok) {
		fprintf(stderr,
			"vm: %s: bhyve (pid %d) runs without a supervisor: nobody would start it "
			"again (use vm stop or vm poweroff)\n",
			name, (int)st->bhyve);
		guest_close(g);
		return -1;
	}
	if (st->run == GUEST_STOPPED || (st->run == GUEST_RUNNING && st->supervisor <= 0)) {
		fprintf(stderr, "vm: %s: not running\n", name);
		guest_close(g);
		return -1;
	}
	return 0;
}

static void print_orphan_refusal(const char *name, const struct guest_state *st)
{
	fprintf(stderr,
		"vm: %s: bhyve (pid %d) is still running without a supervisor: stop it first "
		"(vm stop or vm poweroff)\n",
		name, (int)st->bhyve);
}

/* The guest's last log line (other than the supervisor's own start/exit), for a supervisor that
 * died without saying why. */
static void last_log_line(const struct guest *g, char *out, size_t outlen)
{
	char p[PATH_MAX + 32];
	snprintf(p, sizeof(p), "%s/vm-bhyve.log", g->dir);
	out[0] = '\0';
	FILE *f = fopen(p, "re");
	if (!f)
		return;
	char line[1024];
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] && !strstr(line, ": supervisor ")) /* its start/exit say nothing */
			snprintf(out, outlen, "%s", line);
	}
	fclose(f);
}

/* Does the guest's log say supervisor `pid` started? */
static bool log_has_start(const struct guest *g, pid_t pid)
{
	char p[PATH_MAX + 32], want[64], line[1024];
	snprintf(p, sizeof(p), "%s/vm-bhyve.log", g->dir);
	snprintf(want, sizeof(want), ": supervisor %d started", (int)pid);
	FILE *f = fopen(p, "re");
	bool found = false;
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, want) != NULL;
	fclose(f);
	return found;
}

/* In a child that is to become (or start) a supervisor: run in /, stdin and stdout (and stderr
 * unless keep_stderr) on /dev/null, `keep` (or -1) moved to descriptor 3, every other descriptor
 * of the caller closed. Returns the new number of `keep`. */
static int leave_caller(int keep, bool keep_stderr)
{
	/* the variables that name files, made absolute before we leave the caller's folder */
	static const char *const vars[] = {"KBHYVE_CONF", "KBHYVE_BHYVE", "KBHYVE_RUNDIR",
					   "KBHYVE_SHARE"};
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i]);
		char abs[PATH_MAX];
		if (v && v[0] && v[0] != '/' && realpath(v, abs))
			setenv(vars[i], abs, 1);
	}
	if (chdir("/") < 0)
		_exit(1);
	int nul = open("/dev/null", O_RDWR);
	if (nul < 0 || dup2(nul, 0) < 0 || dup2(nul, 1) < 0 || (!keep_stderr && dup2(nul, 2) < 0))
		_exit(1);
	if (nul > 2)
		close(nul);
	int first_closed = 3;
	if (keep >= 0) {
		if ((keep != 3 && dup2(keep, 3) < 0) || fcntl(3, F_SETFD, 0) < 0)
			_exit(1);
		keep = 3;
		first_closed = 4;
	}
	if (syscall(SYS_close_range, (unsigned)first_closed, ~0U, 0) < 0) {
		long max = sysconf(_SC_OPEN_MAX);
		for (long fd = first_closed; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
			close((int)fd);
	}
	return keep;
}

/* A supervisor started from a login session (its cgroup is under user.slice) of a host run by
 * systemd, as root, goes into a transient scope of its own: logind's KillUserProcesses would
 * otherwise stop the guests at logout. From a service (kbhyve-vm.service) it stays there. */
static bool want_scope(void)
{
	struct stat st;
	if (geteuid() != 0 || stat("/run/systemd/system", &st) < 0 || !S_ISDIR(st.st_mode))
		return false;
	FILE *f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return false;
	char line[1024];
	bool user = false;
	while (!user && fgets(line, sizeof(line), f))
		user = strstr(line, "/user.slice/") != NULL;
	fclose(f);
	return user;
}

/* Fork the supervisor `vm _run`, in a session of its own (and a scope when `scope`), with only
 * the notify pipe's write end. Its pid, or -1 with the message printed. */
static pid_t fork_supervisor(struct vm_settings *s, const struct guest *g, const char *iso,
			     const char *listen, int notify_w, bool scope)
{
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "vm: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid > 0)
		return pid;
	setsid();
	int wfd = leave_caller(notify_w, false);
	char fdnum[16], desc[300];
	snprintf(fdnum, sizeof(fdnum), "%d", wfd);
	setenv(SUPERVISOR_NOTIFY_ENV, fdnum, 1);
	snprintf(desc, sizeof(desc), "--description=kbhyve guest %s", g->name);
	const char *av[20];
	int n = 0, self;
	if (scope) {
		av[n++] = "systemd-run";
		av[n++] = "--scope";
		av[n++] = "--quiet";
		av[n++] = "--collect";
		av[n++] = desc;
		av[n++] = "--property=TimeoutStopSec=300";
		av[n++] = "--";
	}
	self = n;
	av[n++] = scope ? s->self : "vm";
	av[n++] = "_run";
	if (iso) {
		av[n++] = "-I";
		av[n++] = iso;
	}
	if (listen) {
		av[n++] = "-R";
		av[n++] = listen;
	}
	av[n++] = g->name;
	av[n] = NULL;
	if (scope) {
		execvp(av[0], (char *const *)av);
		av[self] = "vm"; /* no systemd-run: without a scope */
	}
	execv(s->self, (char *const *)av + self);
	_exit(1);
}

/* Supervisor in its own session, stdio on /dev/null; waits for its report. */
static int spawn_detached(struct vm_settings *s, const struct guest *g, const char *iso,
			  const char *listen)
{
	bool scope = want_scope();
again:;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		fprintf(stderr, "vm: pipe: %s\n", strerror(errno));
		return -1;
	}
	pid_t pid = fork_supervisor(s, g, iso, listen, p[1], scope);
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return -1;
	}
	char msg[1200];
	size_t len = 0;
	bool eof = false;
	time_t deadline = time(NULL) + START_WAIT_S;
	for (;;) {
		struct pollfd pf = {.fd = p[0], .events = POLLIN};
		int left = (int)(deadline - time(NULL));
		if (left <= 0)
			break;
		int r = poll(&pf, 1, left * 1000);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		ssize_t n = read(p[0], msg + len, sizeof(msg) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			eof = n == 0;
			break;
		}
		len += (size_t)n;
		if (len >= sizeof(msg) - 1)
			break;
	}
	close(p[0]);
	msg[len] = '\0';
	msg[strcspn(msg, "\n")] = '\0';
	int st = 0;
	pid_t reaped = waitpid(pid, &st, WNOHANG); /* reap it if it has already gone */
	if (strcmp(msg, "ok") == 0)
		return 0;
	if (msg[0]) {
		fprintf(stderr, "vm: %s\n", msg);
		return -1;
	}
	if (scope && eof && reaped == 0) {
		/* closed without a word but still there: give it a moment to exit */
		for (int i = 0; i < 20 && (reaped = waitpid(pid, &st, WNOHANG)) == 0; i++)
			sleep_ms(50);
	}
	if (scope && eof && reaped == pid && !(WIFEXITED(st) && WEXITSTATUS(st) == 0) &&
	    !log_has_start(g, pid)) {
		/* systemd-run failed before the supervisor ran: without a scope, then */
		guest_log(g, "systemd-run --scope failed (status %d): starting without a scope",
			  WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		scope = false;
		goto again;
	}
	if (runlock_probe(g->dir, NULL, NULL, 0) == RUN_RUNNING)
		return 0; /* slow to report, but up */
	char last[1024];
	last_log_line(g, last, sizeof(last));
	fprintf(stderr, "vm: %s: the supervisor did not start%s%s\n", g->name,
		last[0] ? "; last log line: " : "", last);
	return -1;
}

/* tmux SUBCOMMAND -t =SESSION (an exact match: "-t NAME" also matches a session NAMEx), its
 * output on /dev/null: tmux's exit status, or -1. */
static int tmux_on_session(const char *sub, const char *sess)
{
	char target[300];
	snprintf(target, sizeof(target), "=%s", sess);
	pid_t t = fork();
	if (t < 0)
		return -1;
	if (t == 0) {
		leave_caller(-1, false);
		execlp("tmux", "tmux", sub, "-t", target, (char *)NULL);
		_exit(127);
	}
	int ts = 0;
	while (waitpid(t, &ts, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(ts) ? WEXITSTATUS(ts) : -1;
}

/* Supervisor in a detached tmux session "<name with . as ~>". The session's command cannot
 * inherit a pipe from us (the tmux server runs it), so the supervisor reports its first start
 * through a FIFO in a private folder, named by SUPERVISOR_NOTIFY_FIFO_ENV. */
static int spawn_tmux(struct vm_settings *s, const struct guest *g, const char *iso,
		      const char *listen)
{
	char sess[256], dir[PATH_MAX], fifo[PATH_MAX + 16];
	supervisor_tmux_session(g->name, sess, sizeof(sess));
	/* The guest is not running, but the session of its last supervisor may still be closing
	 * (tmux ends it shortly after its command exits): give it 2 s before new-session. */
	for (int i = 0; tmux_on_session("has-session", sess) == 0; i++) {
		if (i == 20) {
			fprintf(stderr,
				"vm: %s: a tmux session '%s' exists and is not this guest's\n",
				g->name, sess);
			return -1;
		}
		sleep_ms(100);
	}
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/kbhyve-start.XXXXXX", tmp && tmp[0] == '/' ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		fprintf(stderr, "vm: %s: cannot make a folder for tmux's report: %s\n", g->name,
			strerror(errno));
		return -1;
	}
	snprintf(fifo, sizeof(fifo), "%s/notify", dir);
	int rfd = -1;
	if (mkfifo(fifo, 0600) < 0 || (rfd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
		fprintf(stderr, "vm: %s: %s: %s\n", g->name, fifo, strerror(errno));
		unlink(fifo);
		rmdir(dir);
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "vm: fork: %s\n", strerror(errno));
		close(rfd);
		unlink(fifo);
		rmdir(dir);
		return -1;
	}
	if (pid == 0) {
		leave_caller(-1, true);
		/* The session's command gets the tmux server's environment, which may be an
		 * older server's: pass on the variables that say where things are. */
		static const char *const vars[] = {"vm_dir", "KBHYVE_CONF", "KBHYVE_RUNDIR",
						   "KBHYVE_BHYVE", "KBHYVE_SHARE"};
		char envs[5][PATH_MAX + 32], fenv[PATH_MAX + 64];
		const char *av[28];
		int n = 0;
		av[n++] = "tmux";
		av[n++] = "new-session";
		av[n++] = "-d";
		av[n++] = "-c";
		av[n++] = "/";
		av[n++] = "-s";
		av[n++] = sess;
		av[n++] = "env";
		for (size_t k = 0; k < sizeof(vars) / sizeof(vars[0]); k++) {
			const char *v = getenv(vars[k]);
			if (v) {
				snprintf(envs[k], sizeof(envs[k]), "%s=%s", vars[k], v);
				av[n++] = envs[k];
			}
		}
		snprintf(fenv, sizeof(fenv), "%s=%s", SUPERVISOR_NOTIFY_FIFO_ENV, fifo);
		av[n++] = fenv;
		av[n++] = s->self;
		av[n++] = "_run";
		av[n++] = "-t";
		if (iso) {
			av[n++] = "-I";
			av[n++] = iso;
		}
		if (listen) {
			av[n++] = "-R";
			av[n++] = listen;
		}
		av[n++] = g->name;
		av[n] = NULL;
		execvp("tmux", (char *const *)av);
		fprintf(stderr, "vm: cannot run tmux: %s\n", strerror(errno));
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	int rc = -1;
	char msg[1200] = "";
	size_t len = 0;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "vm: %s: tmux new-session -s %s failed\n", g->name, sess);
		goto out;
	}
	/* the report, or the end of the session (it ends with the supervisor) */
	bool heard = false, ended = false;
	for (int i = 0; i < START_WAIT_S * 4 && !heard && !ended; i++) {
		struct pollfd pf = {.fd = rfd, .events = POLLIN};
		int r = poll(&pf, 1, 250);
		if (r > 0 && (pf.revents & POLLIN)) {
			ssize_t n = read(rfd, msg + len, sizeof(msg) - 1 - len);
			if (n > 0) {
				len += (size_t)n;
				msg[len] = '\0';
				heard = strchr(msg, '\n') != NULL || len == sizeof(msg) - 1;
				continue;
			}
		}
		if (r > 0 && (pf.revents & POLLHUP) && !(pf.revents & POLLIN))
			ended = true; /* the supervisor closed it without a word */
		else if (i % 2 == 1 && tmux_on_session("has-session", sess) == 1)
			ended = true;
	}
	msg[strcspn(msg, "\n")] = '\0';
	if (strcmp(msg, "ok") == 0) {
		rc = 0;
	} else if (msg[0]) {
		fprintf(stderr, "vm: %s\n", msg);
	} else {
		char last[1024];
		last_log_line(g, last, sizeof(last));
		fprintf(stderr, "vm: %s: the supervisor did not start in tmux%s%s\n", g->name,
			last[0] ? "; last log line: " : "", last);
	}
out:
	close(rfd);
	unlink(fifo);
	rmdir(dir);
	return rc;
}

/* Attach the terminal to the guest's tmux session until the user detaches. */
static void attach_tmux_session(const struct guest *g)
{
	char sess[256], target[300];
	supervisor_tmux_session(g->name, sess, sizeof(sess));
	snprintf(target, sizeof(target), "=%s", sess);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		execlp("tmux", "tmux", "attach-session", "-t", target, (char *)NULL);
		fprintf(stderr, "vm: cannot run tmux: %s\n", strerror(errno));
		_exit(127);
	}
	while (pid > 0 && waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* Start one stopped guest in the background. */
static int start_one(struct vm_settings *s, const struct guest *g, bool tmux, const char *iso)
{
	int r = tmux ? spawn_tmux(s, g, iso, NULL) : spawn_detached(s, g, iso, NULL);
	if (r == 0)
		printf("Starting %s\n", g->name);
	return r;
}

int start_migration_receiver(struct vm_settings *s, const struct guest *g, const char *listen)
{
	return console_is_tmux(s) ? spawn_tmux(s, g, NULL, listen) : spawn_detached(s, g, NULL, listen);
}

/* start / install: flags f (foreground), i (tmux), attach (console="tmux" with -i: the terminal
 * goes to the session); names already parsed. Guests already running are skipped with a
 * warning, as vm-bhyve does. */
static int start_guests(struct vm_settings *s, bool fg, bool tmux, bool attach, char **names, int n,
			const char *iso)
{
	bool *skip = calloc((size_t)n, sizeof(bool));
	if (!skip)
		return 1;
	/* every name checked first: bad input starts nothing */
	for (int i = 0; i < n; i++) {
		struct guest g;
		struct guest_state st;
		if (open_guest(s, names[i], &g, &st) < 0) {
			free(skip);
			return 1;
		}
		guest_close(&g);
		if (st.run == GUEST_ORPHAN) {
			print_orphan_refusal(names[i], &st);
			free(skip);
			return 1;
		}
		if (st.run == GUEST_RUNNING) {
			fprintf(stderr, "vm: %s: already running (supervisor pid %d): skipped\n",
				names[i], (int)st.supervisor);
			skip[i] = true;
		}
	}
	if (fg) {
		struct supervisor_opts o = {.com_stdio = true, .iso = iso, .notify_fd = -1};
		int rc = skip[0] ? 0 : supervisor_run(s, names[0], &o);
		free(skip);
		return rc;
	}
	int delay = vm_delay(s), rc = 0, started = 0;
	for (int i = 0; i < n; i++) {
		if (skip[i])
			continue;
		if (started)
			sleep_ms(delay * 1000);
		struct guest g;
		char err[1024];
		if (guest_open(s, names[i], &g, err, sizeof(err)) < 0) {
			fprintf(stderr, "vm: %s\n", err);
			rc = 1;
			continue;
		}
		started++;
		if (start_one(s, &g, tmux, iso) < 0)
			rc = 1;
		else if (attach && n == 1)
			attach_tmux_session(&g);
		guest_close(&g);
	}
	free(skip);
	return rc;
}

int cmd_start(struct vm_settings *s, int argc, char **argv)
{
	const char *f[128];
	int i = vm_opts_parse(argv[0], argc, argv, "fi", NULL, f);
	if (i < 0)
		return 1;
	if (i >= argc) {
		fprintf(stderr, "vm start: no guest named (usage: vm start [-fi] <name> [...])\n");
		return 1;
	}
	if (f['f'] && f['i']) {
		fprintf(stderr, "vm start: -f and -i cannot be used together\n");
		return 1;
	}
	if (f['f'] && argc - i > 1) {
		fprintf(stderr, "vm start: -f runs one guest in the foreground, not %d\n",
			argc - i);
		return 1;
	}
	/* -i: in tmux; with console="tmux" (where every start is in tmux), -i also attaches */
	return start_guests(s, f['f'], f['i'] || console_is_tmux(s),
			    f['i'] && console_is_tmux(s) && isatty(0), argv + i, argc - i, NULL);
}

/* install [-fi] name iso: iso is a path, or a file in $vm_dir/.iso. */
int cmd_install(struct vm_settings *s, int argc, char **argv)
{
	const char *f[128];
	int i = vm_opts_parse(argv[0], argc, argv, "fi", NULL, f);
	if (i < 0)
		return 1;
	if (argc - i != 2) {
		fprintf(stderr, "vm install: %s (usage: vm install [-fi] <name> <iso>)\n",
			argc - i < 2 ? "a guest and an ISO are needed" : "too many arguments");
		return 1;
	}
	if (f['f'] && f['i']) {
		fprintf(stderr, "vm install: -f and -i cannot be used together\n");
		return 1;
	}
	const char *iso = argv[i + 1];
	char path[PATH_MAX];
	if (strchr(iso, '/'))
		snprintf(path, sizeof(path), "%s", iso);
	else if (snprintf(path, sizeof(path), "%s/.iso/%s", s->vm_dir, iso) >= (int)sizeof(path)) {
		fprintf(stderr, "vm install: %s: name too long\n", iso);
		return 1;
	}
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "vm install: %s: no such ISO file\n", path);
		return 1;
	}
	char abs[PATH_MAX];
	if (!realpath(path, abs)) {
		fprintf(stderr, "vm install: %s: %s\n", path, strerror(errno));
		return 1;
	}
	return start_guests(s, f['f'], f['i'] || console_is_tmux(s),
			    f['i'] && console_is_tmux(s) && isatty(0), argv + i, 1, abs);
}

/* A guest being stopped: its supervisor, or (orphan) the bhyve that runs without one. */
struct stop_target {
	const char *name;
	pid_t supervisor;
	pid_t bhyve;
	bool orphan;
};

/* The power button, through the supervisor (SIGTERM, passed on to bhyve) or, for an orphan,
 * bhyve's control socket. */
static void press_power_button(const struct stop_target *t)
{
	if (!t->orphan) {
		kill(t->supervisor, SIGTERM);
		return;
	}
	char err[CTL_REPLY_LINE_MAX + 64];
	if (guest_ctl_request(t->name, "poweroff", 0, err, sizeof(err)) < 0)
		fprintf(stderr, "vm: %s: %s\n", t->name, err);
}

/* Is the guest still run by the same supervisor (or the same orphaned bhyve)? */
static bool still_same(struct vm_settings *s, const struct stop_target *t)
{
	struct guest g;
	char err[1024];
	if (guest_open(s, t->name, &g, err, sizeof(err)) < 0)
		return false;
	bool same;
	if (t->orphan) {
		same = guest_ctl_pid(t->name) == t->bhyve;
	} else {
		pid_t now = 0;
		same = runlock_probe(g.dir, &now, NULL, 0) == RUN_RUNNING && now == t->supervisor;
	}
	guest_close(&g);
	return same;
}

/* The power button of each guest; with `twice`, again 1 s later as vm-bhyve does (a guest still
 * booting may miss the first). Returns without waiting for the guests to go down. */
static void signal_stop(struct vm_settings *s, const struct stop_target *t, int n, bool twice)
{
	for (int i = 0; i < n; i++) {
		printf("Sending ACPI shutdown to %s\n", t[i].name);
		fflush(stdout);
		press_power_button(&t[i]);
	}
	if (!twice)
		return;
	sleep_ms(1000);
	for (int i = 0; i < n; i++)
		if (still_same(s, &t[i]))
			press_power_button(&t[i]);
}

/* A stop or a poweroff overrides an earlier `vm restart`. */
static void drop_restart_flag(const struct guest *g)
{
	char flag[PATH_MAX + 16];
	snprintf(flag, sizeof(flag), "%s/" SUPERVISOR_RESTART_FLAG, g->dir);
	if (unlink(flag) == 0)
		guest_log(g, "restart request dropped");
}

/* stop name...: guests that are not running are skipped with a warning (exit 0), as vm-bhyve
 * does; an unknown name stops nothing. */
int cmd_stop(struct vm_settings *s, int argc, char **argv)
{
	const char *f[128];
	int i = vm_opts_parse(argv[0], argc, argv, "", NULL, f);
	if (i < 0)
		return 1;
	int n = argc - i;
	if (n < 1) {
		fprintf(stderr, "vm stop: no guest named (usage: vm stop <name> [...])\n");
		return 1;
	}
	struct stop_target *t = calloc((size_t)n, sizeof(*t));
	if (!t)
		return 1;
	int nt = 0;
	for (int k = 0; k < n; k++) {
		struct guest g;
		struct guest_state st;
		if (open_guest(s, argv[i + k], &g, &st) < 0) {
			free(t);
			return 1;
		}
		if (st.run == GUEST_STOPPED || (st.run == GUEST_RUNNING && st.supervisor <= 0)) {
			fprintf(stderr, "vm: %s: not running: skipped\n", argv[i + k]);
		} else {
			t[nt].name = argv[i + k];
			t[nt].supervisor = st.supervisor;
			t[nt].bhyve = st.bhyve;
			t[nt].orphan = st.run == GUEST_ORPHAN;
			nt++;
			drop_restart_flag(&g);
		}
		guest_close(&g);
	}
	signal_stop(s, t, nt, true);
	free(t);
	return 0;
}

/* restart: the flag, then the power button once (a second press could reach the bhyve of the
 * restarted run, and stop it). */
int cmd_restart(struct vm_settings *s, int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "vm restart: %s (usage: vm restart <name>)\n",
			argc < 2 ? "no guest named" : "one guest only");
		return 1;
	}
	struct guest g;
	struct guest_state st;
	if (open_running(s, argv[1], &g, &st, false) < 0)
		return 1;
	char err[PATH_MAX + 128];
	int fd = guest_file_check(&g, SUPERVISOR_RESTART_FLAG, err, sizeof(err));
	if (fd == 0 &&
	    (fd = guest_file_open(&g, SUPERVISOR_RESTART_FLAG, O_WRONLY | O_CREAT, 0644)) < 0)
		snprintf(err, sizeof(err), "%s/%s: %s", g.dir, SUPERVISOR_RESTART_FLAG,
			 fd == -ELOOP	 ? "a symbolic link: refusing to write through it"
			 : fd == -EINVAL ? "not a regular file: refusing to write to it"
					 : strerror(-fd));
	if (fd < 0) {
		fprintf(stderr, "vm: %s\n", err);
		guest_close(&g);
		return 1;
	}
	close(fd);
	guest_log(&g, "restart requested");
	guest_close(&g);
	struct stop_target t = {.name = argv[1], .supervisor = st.supervisor, .bhyve = st.bhyve};
	signal_stop(s, &t, 1, false);
	return 0;
}

static bool confirm(const char *question)
{
	fprintf(stderr, "%s (y/n)? ", question);
	fflush(stderr);
	char line[32];
	if (!fgets(line, sizeof(line), stdin))
		return false;
	return line[0] == 'y' || line[0] == 'Y';
}

/* A control-socket request to the guest's bhyve, then wait until bhyve lets go. */
static int ctl_stop_request(struct vm_settings *s, int argc, char **argv, const char *request,
			    const char *question, const char *done)
{
	const char *f[128];
	int i = vm_opts_parse(argv[0], argc, argv, "f", NULL, f);
	if (i < 0)
		return 1;
	if (argc - i != 1) {
		fprintf(stderr, "vm %s: %s (usage: vm %s [-f] <name>)\n", argv[0],
			argc - i < 1 ? "no guest named" : "one guest only", argv[0]);
		return 1;
	}
	const char *name = argv[i];
	struct guest g;
	struct guest_state st;
	bool reset = strcmp(request, "force-reset") == 0;
	/* an orphan that is reset would not run again: nobody is there to start it */
	if (open_running(s, name, &g, &st, !reset) < 0)
		return 1;
	if (!f['f'] && !confirm(question)) {
		fprintf(stderr, "vm %s: %s: not confirmed, nothing done\n", argv[0], name);
		guest_close(&g);
		return 1;
	}
	if (!reset)
		drop_restart_flag(&g);
	char err[CTL_REPLY_LINE_MAX + 64];
	guest_log(&g, "%s requested%s", request, st.run == GUEST_ORPHAN ? " (no supervisor)" : "");
	int r = guest_ctl_request(name, request, CTL_STOP_MS, err, sizeof(err));
	if (r == -ENOENT || r == -ECONNREFUSED)
		fprintf(stderr,
			"vm: %s: bhyve is not running (supervisor pid %d is between runs)\n", name,
			(int)st.supervisor);
	else if (r < 0)
		fprintf(stderr, "vm: %s: %s\n", name, err);
	else
		printf("%s %s\n", done, name);
	guest_close(&g);
	return r < 0 ? 1 : 0;
}

int cmd_poweroff(struct vm_settings *s, int argc, char **argv)
{
	return ctl_stop_request(s, argc, argv, "force-poweroff",
				"Are you sure you want to forcefully power off this guest",
				"Powered off");
}

int cmd_reset(struct vm_settings *s, int argc, char **argv)
{
	return ctl_stop_request(s, argc, argv, "force-reset",
				"Are you sure you want to forcefully reset this guest", "Reset");
}

/* suspend <name>: bhyve saves the guest into its folder's suspend state and stops; the next
 * `vm start` or `vm resume` continues it from there. */
int cmd_suspend(struct vm_settings *s, int argc, char **argv)
{
	const char *f[128];
	int i = vm_opts_parse(argv[0], argc, argv, "", NULL, f);
	if (i < 0)
		return 1;
	if (argc - i != 1) {
		fprintf(stderr, "vm suspend: %s (usage: vm suspend <name>)\n",
			argc - i < 1 ? "no guest named" : "one guest only");
		return 1;
	}
	const char *name = argv[i];
	struct guest g;
	struct guest_state st;
	if (open_running(s, name, &g, &st, false) < 0)
		return 1;
	/* a pending vm restart is dropped by the supervisor when bhyve exits 5 */
	guest_log(&g, "suspend requested");
	char err[CTL_REPLY_LINE_MAX + 64];
	unsigned pause_ms = 0;
	int r = suspend_state_save(name, g.dir, &pause_ms, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "vm suspend: %s: %s\n", name, err);
		guest_log(&g, "suspend failed: %s", err);
	} else {
		printf("Suspended %s (paused %u ms)\n", name, pause_ms);
	}
	guest_close(&g);
	return r < 0 ? 1 : 0;
}

/* resume [-fi] <name>: vm start for a suspended guest (which vm start also resumes); refused
 * for a guest that has no suspend state, so that it is never booted by mistake. */
int cmd_resume(struct vm_settings *s, int argc, char **argv)
{
	const char *f[128];
	int i = vm_opts_parse(argv[0], argc, argv, "fi", NULL, f);
	if (i < 0)
		return 1;
	if (argc - i != 1) {
		fprintf(stderr, "vm resume: %s (usage: vm resume [-fi] <name>)\n",
			argc - i < 1 ? "no guest named" : "one guest only");
		return 1;
	}
	if (f['f'] && f['i']) {
		fprintf(stderr, "vm resume: -f and -i cannot be used together\n");
		return 1;
	}
	struct guest g;
	struct guest_state st;
	if (open_guest(s, argv[i], &g, &st) < 0)
		return 1;
	bool suspended = suspend_state_exists(g.dir);
	guest_close(&g);
	if (!suspended) {
		fprintf(stderr, "vm resume: %s: not suspended (no %s; vm start boots it)\n", argv[i],
			SUSPEND_STATE_FILE);
		return 1;
	}
	return start_guests(s, f['f'], f['i'] || console_is_tmux(s),
			    f['i'] && console_is_tmux(s) && isatty(0), argv + i, 1, NULL);
}

/* The names of $vm_list (rc file), malloc'd, NULL-terminated. */
static char **vm_list(const struct vm_settings *s, int *n)
{
	const char *v = vmconf_get(s->rc, "vm_list");
	char *copy = strdup(v ? v : "");
	char **out = calloc(strlen(copy) / 2 + 2, sizeof(char *));
	*n = 0;
	if (!copy || !out) {
		free(copy);
		free(out);
		return NULL;
	}
	char *save = NULL;
	for (char *t = strtok_r(copy, " \t,", &save); t; t = strtok_r(NULL, " \t,", &save))
		out[(*n)++] = strdup(t);
	free(copy);
	return out;
}

static void free_list(char **v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int cmd_startall(struct vm_settings *s, int argc, char **argv)
{
	if (argc != 1) {
		fprintf(stderr, "vm startall: takes no arguments (usage: vm startall)\n");
		return 1;
	}
	int n, rc = 0, started = 0;
	char **list = vm_list(s, &n);
	if (!list)
		return 1;
	bool tmux = console_is_tmux(s);
	int delay = vm_delay(s);
	for (int i = 0; i < n; i++) {
		struct guest g;
		struct guest_state st;
		if (open_guest(s, list[i], &g, &st) < 0) {
			rc = 1;
			continue;
		}
		if (st.run == GUEST_RUNNING) {
			printf("%s is already running\n", g.name);
		} else if (st.run == GUEST_ORPHAN) {
			print_orphan_refusal(g.name, &st);
			rc = 1;
		} else {
			if (started++)
				sleep_ms(delay * 1000);
			if (start_one(s, &g, tmux, NULL) < 0)
				rc = 1;
			fflush(stdout);
		}
		guest_close(&g);
	}
	free_list(list, n);
	return rc;
}

struct running {
	char name[232];
	char dir[PATH_MAX];
	pid_t pid;   /* its supervisor; 0 once gone */
	pid_t bhyve; /* orphan: the bhyve that runs without a supervisor */
	bool orphan;
};

static void stopall_press(const struct running *r)
{
	printf("Sending ACPI shutdown to %s\n", r->name);
	fflush(stdout);
	struct stop_target t = {
	    .name = r->name, .supervisor = r->pid, .bhyve = r->bhyve, .orphan = r->orphan};
	press_power_button(&t);
}

/* stopall [-f]: guests not in vm_list all at once, then vm_list in reverse order vm_delay apart
 * (no delay with -f); then wait for every supervisor to go. */
int cmd_stopall(struct vm_settings *s, int argc, char **argv)
{
	const char *f[128];
	int i = vm_opts_parse(argv[0], argc, argv, "f", NULL, f);
	if (i < 0)
		return 1;
	if (i != argc) {
		fprintf(stderr, "vm stopall: unexpected argument '%s' (usage: vm stopall [-f])\n",
			argv[i]);
		return 1;
	}
	struct guest *all;
	size_t nall;
	if (guest_list_all(s, &all, &nall) < 0) {
		fprintf(stderr, "vm stopall: cannot list the guests\n");
		return 1;
	}
	struct running *run = calloc(nall + 1, sizeof(*run));
	int nrun = 0;
	for (size_t k = 0; run && k < nall; k++) {
		struct guest_state st;
		guest_state_get(&all[k], &st);
		bool orphan = st.run == GUEST_ORPHAN;
		if ((st.run == GUEST_RUNNING && st.supervisor > 0) || orphan) {
			snprintf(run[nrun].name, sizeof(run[nrun].name), "%s", all[k].name);
			snprintf(run[nrun].dir, sizeof(run[nrun].dir), "%s", all[k].dir);
			run[nrun].orphan = orphan;
			run[nrun].bhyve = st.bhyve;
			run[nrun++].pid = orphan ? st.bhyve : st.supervisor;
		}
	}
	guest_list_free(all, nall);
	if (!run)
		return 1;
	int nlist;
	char **list = vm_list(s, &nlist);
	bool *listed = calloc((size_t)nrun + 1, sizeof(bool));
	if (!list || !listed) {
		free(run);
		free(listed);
		return 1;
	}
	for (int k = 0; k < nrun; k++)
		for (int l = 0; l < nlist; l++)
			if (strcmp(run[k].name, list[l]) == 0)
				listed[k] = true;
	for (int k = 0; k < nrun; k++)
		if (!listed[k] || f['f'])
			stopall_press(&run[k]);
	fflush(stdout);
	if (!f['f']) {
		int delay = vm_delay(s), sent = 0;
		for (int l = nlist - 1; l >= 0; l--)
			for (int k = 0; k < nrun; k++)
				if (listed[k] && strcmp(run[k].name, list[l]) == 0) {
					if (sent++)
						sleep_ms(delay * 1000);
					/* vm_delay seconds on, probe again: a pid read before the
					 * delay may belong to another process by now; a guest that
					 * stopped is skipped, one started again meanwhile (another
					 * supervisor) is stopped too */
					pid_t now = 0;
					if (!run[k].orphan) {
						if (runlock_probe(run[k].dir, &now, NULL, 0) !=
							RUN_RUNNING ||
						    now <= 0) {
							run[k].pid = 0;
							continue;
						}
						run[k].pid = now;
					}
					stopall_press(&run[k]);
				}
	}
	/* until every supervisor has gone (each has released its lock), and every orphaned bhyve
	 * (its control socket no longer answers) */
	for (int left = nrun; left > 0;) {
		left = 0;
		for (int k = 0; k < nrun; k++) {
			pid_t now;
			if (run[k].pid && run[k].orphan &&
			    guest_ctl_pid(run[k].name) == run[k].bhyve)
				left++;
			else if (run[k].pid && !run[k].orphan &&
				 runlock_probe(run[k].dir, &now, NULL, 0) == RUN_RUNNING &&
				 now == run[k].pid)
				left++;
			else
				run[k].pid = 0;
		}
		if (left)
			sleep_ms(200);
	}
	free_list(list, nlist);
	free(listed);
	free(run);
	return 0;
}

/* _run [-f] [-t] [-I iso] [-R [addr:]port] name */
int cmd_run_supervisor(struct vm_settings *s, int argc, char **argv)
{
	struct supervisor_opts o = {.notify_fd = -1};
	const char *f[128];
	int first = vm_opts_parse("_run", argc, argv, "ftI:R:", NULL, f);
	if (first < 0)
		return 1;
	o.com_stdio = f['f'] || f['t'];
	o.tmux = f['t'] != NULL;
	o.iso = f['I'];
	o.migrate_listen = f['R'];
	if (argc - first != 1) {
		fprintf(stderr, "vm _run: one guest name needed\n");
		return 1;
	}
	const char *fd = getenv(SUPERVISOR_NOTIFY_ENV);
	if (fd) {
		char *end;
		long v = strtol(fd, &end, 10);
		if (!*end && v > 2 && v < INT_MAX && fcntl((int)v, F_GETFD) >= 0)
			o.notify_fd = (int)v;
		unsetenv(SUPERVISOR_NOTIFY_ENV);
	}
	const char *fifo = getenv(SUPERVISOR_NOTIFY_FIFO_ENV);
	if (fifo && o.notify_fd < 0) {
		/* no reader: `vm start` has given up waiting */
		int w = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (w >= 0 && fcntl(w, F_SETFL, 0) == 0)
			o.notify_fd = w;
		else if (w >= 0)
			close(w);
	}
	unsetenv(SUPERVISOR_NOTIFY_FIFO_ENV);
	return supervisor_run(s, argv[first], &o);
}
