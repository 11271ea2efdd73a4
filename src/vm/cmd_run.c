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
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctlclient.h"
#include "ctl/ctlproto.h"
#include "vm/cmds.h"
#include "vm/guest.h"
#include "vm/opts.h"
#include "vm/runlock.h"
#include "vm/supervisor.h"

#define DEFAULT_VM_DELAY 5
#define START_WAIT_S 60	     /* for the supervisor to report its first start */
#define CTL_TIMEOUT_MS 10000 /* control socket replies */
#define CTL_STOP_MS 30000    /* force-poweroff/-reset: until bhyve lets go */

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

/* Open guest `name` and read its run state; prints a one-line error on failure. */
static int open_guest(struct vm_settings *s, const char *name, struct guest *g, enum run_state *st,
		      pid_t *pid)
{
	char err[1024];
	if (guest_open(s, name, g, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm: %s\n", err);
		return -1;
	}
	char host[256];
	*st = runlock_probe(g->dir, pid, host, sizeof(host));
	if (*st == RUN_OTHER_HOST) {
		fprintf(stderr, "vm: %s: running on host %s (pid %d)\n", name, host, (int)*pid);
		guest_close(g);
		return -1;
	}
	return 0;
}

/* Open a guest that must be running here: 0 with *pid its supervisor. */
static int open_running(struct vm_settings *s, const char *name, struct guest *g, pid_t *pid)
{
	enum run_state st;
	if (open_guest(s, name, g, &st, pid) < 0)
		return -1;
	if (st != RUN_RUNNING || *pid <= 0) {
		fprintf(stderr, "vm: %s: not running\n", name);
		guest_close(g);
		return -1;
	}
	return 0;
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

/* Supervisor in its own session, stdio on /dev/null; waits for its report. */
static int spawn_detached(struct vm_settings *s, const struct guest *g, const char *iso)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		fprintf(stderr, "vm: pipe: %s\n", strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "vm: fork: %s\n", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		setsid();
		int nul = open("/dev/null", O_RDWR);
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(nul, 1) < 0 || dup2(nul, 2) < 0)
			_exit(1);
		int wfd = dup(p[1]); /* without O_CLOEXEC */
		char fdnum[16];
		snprintf(fdnum, sizeof(fdnum), "%d", wfd);
		setenv(SUPERVISOR_NOTIFY_ENV, fdnum, 1);
		if (iso)
			execl(s->self, "vm", "_run", "-I", iso, g->name, (char *)NULL);
		else
			execl(s->self, "vm", "_run", g->name, (char *)NULL);
		_exit(1);
	}
	close(p[1]);
	char msg[1200];
	size_t len = 0;
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
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len >= sizeof(msg) - 1)
			break;
	}
	close(p[0]);
	msg[len] = '\0';
	msg[strcspn(msg, "\n")] = '\0';
	waitpid(pid, NULL, WNOHANG); /* reap it if it has already gone */
	if (strcmp(msg, "ok") == 0)
		return 0;
	if (msg[0]) {
		fprintf(stderr, "vm: %s\n", msg);
		return -1;
	}
	if (runlock_probe(g->dir, NULL, NULL, 0) == RUN_RUNNING)
		return 0; /* slow to report, but up */
	char last[1024];
	last_log_line(g, last, sizeof(last));
	fprintf(stderr, "vm: %s: the supervisor did not start%s%s\n", g->name,
		last[0] ? "; last log line: " : "", last);
	return -1;
}

/* Supervisor in a detached tmux session "<name with . as ~>"; waits until it holds the lock. */
static int spawn_tmux(struct vm_settings *s, const struct guest *g, const char *iso)
{
	char sess[256];
	supervisor_tmux_session(g->name, sess, sizeof(sess));
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "vm: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
		}
		/* The session's command gets the tmux server's environment, which may be an
		 * older server's: pass on the variables that say where things are. */
		static const char *const vars[] = {"vm_dir", "KBHYVE_CONF", "KBHYVE_RUNDIR",
						   "KBHYVE_BHYVE", "KBHYVE_SHARE"};
		char envs[5][PATH_MAX + 32];
		const char *av[24];
		int n = 0;
		av[n++] = "tmux";
		av[n++] = "new-session";
		av[n++] = "-d";
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
		av[n++] = s->self;
		av[n++] = "_run";
		av[n++] = "-t";
		if (iso) {
			av[n++] = "-I";
			av[n++] = iso;
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
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "vm: %s: tmux new-session -s %s failed\n", g->name, sess);
		return -1;
	}
	for (int i = 0; i < START_WAIT_S * 10; i++) {
		if (runlock_probe(g->dir, NULL, NULL, 0) == RUN_RUNNING)
			return 0;
		/* the session ends when the supervisor does */
		if (i % 5 == 4) {
			pid_t t = fork();
			if (t == 0) {
				int nul = open("/dev/null", O_RDWR);
				if (nul >= 0) {
					dup2(nul, 1);
					dup2(nul, 2);
				}
				execlp("tmux", "tmux", "has-session", "-t", sess, (char *)NULL);
				_exit(127);
			}
			int ts = 0;
			if (t > 0)
				waitpid(t, &ts, 0);
			if (t > 0 && WIFEXITED(ts) && WEXITSTATUS(ts) == 1)
				break;
		}
		sleep_ms(100);
	}
	char last[1024];
	last_log_line(g, last, sizeof(last));
	fprintf(stderr, "vm: %s: the supervisor did not start in tmux%s%s\n", g->name,
		last[0] ? "; last log line: " : "", last);
	return -1;
}

/* Start one stopped guest in the background. */
static int start_one(struct vm_settings *s, const struct guest *g, bool tmux, const char *iso)
{
	int r = tmux ? spawn_tmux(s, g, iso) : spawn_detached(s, g, iso);
	if (r == 0)
		printf("Starting %s\n", g->name);
	return r;
}

/* start / install: flags f (foreground), i (tmux); names already parsed. */
static int start_guests(struct vm_settings *s, bool fg, bool tmux, char **names, int n,
			const char *iso)
{
	/* every name checked first: bad input starts nothing */
	for (int i = 0; i < n; i++) {
		struct guest g;
		enum run_state st;
		pid_t pid;
		if (open_guest(s, names[i], &g, &st, &pid) < 0)
			return 1;
		guest_close(&g);
		if (st == RUN_RUNNING) {
			fprintf(stderr, "vm: %s: already running (supervisor pid %d)\n", names[i],
				(int)pid);
			return 1;
		}
	}
	if (fg) {
		struct supervisor_opts o = {.com_stdio = true, .iso = iso, .notify_fd = -1};
		return supervisor_run(s, names[0], &o);
	}
	int delay = vm_delay(s), rc = 0;
	for (int i = 0; i < n; i++) {
		if (i)
			sleep_ms(delay * 1000);
		struct guest g;
		char err[1024];
		if (guest_open(s, names[i], &g, err, sizeof(err)) < 0) {
			fprintf(stderr, "vm: %s\n", err);
			rc = 1;
			continue;
		}
		if (start_one(s, &g, tmux, iso) < 0)
			rc = 1;
		guest_close(&g);
	}
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
	return start_guests(s, f['f'], f['i'] || console_is_tmux(s), argv + i, argc - i, NULL);
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
	return start_guests(s, f['f'], f['i'] || console_is_tmux(s), argv + i, 1, abs);
}

/* SIGTERM to each supervisor (which presses bhyve's power button), again 1 s later as vm-bhyve
 * does; returns without waiting for the guests to go down. */
static void signal_stop(struct vm_settings *s, char **names, const pid_t *pids, int n)
{
	for (int i = 0; i < n; i++) {
		printf("Sending ACPI shutdown to %s\n", names[i]);
		kill(pids[i], SIGTERM);
	}
	fflush(stdout);
	sleep_ms(1000);
	for (int i = 0; i < n; i++) {
		struct guest g;
		char err[1024];
		pid_t now = 0;
		if (guest_open(s, names[i], &g, err, sizeof(err)) < 0)
			continue;
		/* only the same supervisor, still running */
		if (runlock_probe(g.dir, &now, NULL, 0) == RUN_RUNNING && now == pids[i])
			kill(pids[i], SIGTERM);
		guest_close(&g);
	}
}

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
	pid_t *pids = calloc((size_t)n, sizeof(*pids));
	if (!pids)
		return 1;
	for (int k = 0; k < n; k++) {
		struct guest g;
		if (open_running(s, argv[i + k], &g, &pids[k]) < 0) {
			free(pids);
			return 1;
		}
		guest_close(&g);
	}
	signal_stop(s, argv + i, pids, n);
	free(pids);
	return 0;
}

int cmd_restart(struct vm_settings *s, int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "vm restart: %s (usage: vm restart <name>)\n",
			argc < 2 ? "no guest named" : "one guest only");
		return 1;
	}
	struct guest g;
	pid_t pid;
	if (open_running(s, argv[1], &g, &pid) < 0)
		return 1;
	char err[PATH_MAX + 128];
	int fd = guest_file_check(&g, SUPERVISOR_RESTART_FLAG, err, sizeof(err));
	if (fd == 0 && (fd = guest_file_open(&g, SUPERVISOR_RESTART_FLAG, O_WRONLY | O_CREAT,
					     0644)) < 0)
		snprintf(err, sizeof(err), "%s/%s: %s", g.dir, SUPERVISOR_RESTART_FLAG,
			 fd == -ELOOP	? "a symbolic link: refusing to write through it"
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
	signal_stop(s, argv + 1, &pid, 1);
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
	pid_t pid;
	if (open_running(s, name, &g, &pid) < 0)
		return 1;
	if (!f['f'] && !confirm(question)) {
		fprintf(stderr, "vm %s: %s: not confirmed, nothing done\n", argv[0], name);
		guest_close(&g);
		return 1;
	}
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)], err[CTL_REPLY_LINE_MAX + 64];
	int rc = 1;
	struct ctl_conn c;
	if (ctl_socket_path(name, path, sizeof(path), err, sizeof(err)) < 0) {
		fprintf(stderr, "vm: %s: %s\n", name, err);
		goto out;
	}
	int r = ctl_connect(&c, path, CTL_TIMEOUT_MS, err, sizeof(err));
	if (r == -ENOENT || r == -ECONNREFUSED) {
		fprintf(stderr,
			"vm: %s: bhyve is not running (supervisor pid %d is between runs)\n", name,
			(int)pid);
		goto out;
	}
	if (r < 0) {
		fprintf(stderr, "vm: %s: %s\n", name, err);
		goto out;
	}
	guest_log(&g, "%s requested", request);
	r = ctl_request(&c, request, NULL, NULL, CTL_TIMEOUT_MS, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "vm: %s: %s\n", name, err);
	} else if (ctl_wait_closed(&c, CTL_STOP_MS) < 0) {
		fprintf(stderr, "vm: %s: bhyve did not stop within %d s\n", name,
			CTL_STOP_MS / 1000);
	} else {
		printf("%s %s\n", done, name);
		rc = 0;
	}
	ctl_disconnect(&c);
out:
	guest_close(&g);
	return rc;
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
		enum run_state st;
		pid_t pid;
		if (open_guest(s, list[i], &g, &st, &pid) < 0) {
			rc = 1;
			continue;
		}
		if (st == RUN_RUNNING) {
			printf("%s is already running\n", g.name);
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
	pid_t pid;
};

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
		pid_t pid;
		if (runlock_probe(all[k].dir, &pid, NULL, 0) == RUN_RUNNING && pid > 0) {
			snprintf(run[nrun].name, sizeof(run[nrun].name), "%s", all[k].name);
			snprintf(run[nrun].dir, sizeof(run[nrun].dir), "%s", all[k].dir);
			run[nrun++].pid = pid;
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
		if (!listed[k] || f['f']) {
			printf("Sending ACPI shutdown to %s\n", run[k].name);
			kill(run[k].pid, SIGTERM);
		}
	fflush(stdout);
	if (!f['f']) {
		int delay = vm_delay(s), sent = 0;
		for (int l = nlist - 1; l >= 0; l--)
			for (int k = 0; k < nrun; k++)
				if (listed[k] && strcmp(run[k].name, list[l]) == 0) {
					if (sent++)
						sleep_ms(delay * 1000);
					/* vm_delay seconds on: still that supervisor (never a pid
					 * that has been reused meanwhile)? */
					pid_t now = 0;
					if (runlock_probe(run[k].dir, &now, NULL, 0) != RUN_RUNNING ||
					    now != run[k].pid)
						continue;
					printf("Sending ACPI shutdown to %s\n", run[k].name);
					fflush(stdout);
					kill(run[k].pid, SIGTERM);
				}
	}
	/* until every supervisor has gone (each has released its lock) */
	for (int left = nrun; left > 0;) {
		left = 0;
		for (int k = 0; k < nrun; k++) {
			pid_t now;
			if (run[k].pid && runlock_probe(run[k].dir, &now, NULL, 0) == RUN_RUNNING &&
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

/* _run [-f] [-t] [-I iso] name */
int cmd_run_supervisor(struct vm_settings *s, int argc, char **argv)
{
	struct supervisor_opts o = {.notify_fd = -1};
	const char *f[128];
	int first = vm_opts_parse("_run", argc, argv, "ftI:", NULL, f);
	if (first < 0)
		return 1;
	o.com_stdio = f['f'] || f['t'];
	o.tmux = f['t'] != NULL;
	o.iso = f['I'];
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
	return supervisor_run(s, argv[first], &o);
}
