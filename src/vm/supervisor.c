/* SPDX-License-Identifier: BSD-2-Clause */
/* The per-guest supervisor: one process per running guest, holding its run.lock (supervisor.h).
 *
 * Exit codes of bhyve: 0 reboot, 1 poweroff, 2 halt, 3 triple fault, 4 error. A reboot (0) runs
 * bhyve again unless on_restart="shutdown"; a fault (>= 3, or killed by a signal) stops unless
 * on_fault="restart". `vm restart` leaves <guest>/restart and presses the power button: when
 * that run of bhyve ends with 0 to 2, bhyve runs again; the flag goes with the run it was left
 * in, used or not. A stop request (a signal to us) is passed to bhyve as SIGTERM (the ACPI power
 * button) and no new run follows. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctlsocket.h"
#include "vm/bhyvecmd.h"
#include "vm/cgroup.h"
#include "vm/grubimg.h"
#include "vm/guest.h"
#include "vm/netlink.h"
#include "vm/runas.h"
#include "vm/runlock.h"
#include "vm/supervisor.h"
#include "vm/suspendstate.h"
#include "vm/tcpport.h"
#include "vm/vswitch.h"

#define FAULT_RESTART_DELAY_S 2 /* on_fault="restart": do not spin on a guest that cannot run */

/* debug="yes": bhyve's output as is, in the guest folder */
#define BHYVE_DEBUG_LOG "bhyve.log"

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t bhyve_pid;

static void on_stop_signal(int sig)
{
	int saved = errno;
	stop_requested = 1;
	if (bhyve_pid > 0)
		kill((pid_t)bhyve_pid, SIGTERM);
	errno = saved;
}

void supervisor_tmux_session(const char *name, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s", name);
	for (char *p = out; *p; p++)
		if (*p == '.')
			*p = '~';
}

struct sup {
	struct vm_settings *s;
	const struct supervisor_opts *o;
	struct guest g;
	int notify_fd;
	char last_output[512]; /* bhyve's last line of output, for `vm start`'s error */
	/* bhyve's output in vm-bhyve.log is limited per window (see log_output_line) */
	struct timespec out_window;
	size_t out_bytes;
	unsigned long dropped_lines, dropped_bytes;
	/* run_as: this run's user, run folder and the control socket bound for bhyve */
	struct runas ra;
	char run_dir[PATH_MAX];
	int ctl_fd;
	char ctl_path[108];
	struct stat ctl_st;
	char cg_path[PATH_MAX]; /* this run's cgroup, "" when none */
};

/* The first start's outcome to `vm start`, once. */
static void notify(struct sup *u, const char *msg)
{
	if (u->notify_fd < 0)
		return;
	size_t n = strlen(msg);
	if (write(u->notify_fd, msg, n) < 0 || write(u->notify_fd, "\n", 1) < 0) {
		/* `vm start` gave up waiting: nobody to tell */
	}
	close(u->notify_fd);
	u->notify_fd = -1;
}

/* A failure before bhyve could run: logged, on stderr and to `vm start`. */
static void __attribute__((format(printf, 2, 3))) fail(struct sup *u, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	guest_log(&u->g, "%s", msg);
	fprintf(stderr, "vm: %s: %s\n", u->g.name, msg);
	char line[1100];
	snprintf(line, sizeof(line), "%s: %s", u->g.name, msg);
	notify(u, line);
}

static int guest_file(const struct sup *u, const char *leaf, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s/%s", u->g.dir, leaf);
	return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

static void remove_guest_file(const struct sup *u, const char *leaf)
{
	char p[PATH_MAX];
	if (guest_file(u, leaf, p, sizeof(p)) == 0)
		unlink(p);
}

static int write_console_file(struct sup *u, const struct bhyvecmd *c)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return -errno;
	if (u->o->tmux) {
		char sess[256];
		supervisor_tmux_session(u->g.name, sess, sizeof(sess));
		fprintf(f, "com1=tmux/%s\n", sess);
	} else if (u->o->com_stdio) {
		fprintf(f, "com1=stdio\n");
	}
	for (int i = 0; i < c->nconsoles; i++)
		if (!(u->o->com_stdio && strncmp(c->consoles[i], "com1=", 5) == 0))
			fprintf(f, "%s\n", c->consoles[i]);
	if (fclose(f) != 0) {
		free(text);
		return -ENOMEM;
	}
	int r = guest_file_replace(&u->g, SUPERVISOR_CONSOLE_FILE, text);
	free(text);
	return r;
}

/* graphics="yes" without graphics_port: the first port from 5900 that nothing listens on at
 * graphics_listen, as vm-bhyve scans (200 ports); 0 when none is (bhyve then reports 5900 busy). */
static unsigned free_vnc_port(const struct vmconf *conf)
{
	const char *port = vmconf_get(conf, "graphics_port");
	if (!vmconf_truthy(vmconf_get(conf, "graphics")) || (port && *port))
		return 0;
	const char *listen = vmconf_get(conf, "graphics_listen");
	if (!listen || !*listen)
		listen = "0.0.0.0";
	return tcp_first_free_port(listen, 5900, 200);
}

/* Undo create_taps for NICs [0, upto): our taps deleted, existing devices we added to a switch
 * taken out of it. Only what is still this guest's is touched. */
static void destroy_taps(struct sup *u, struct bhyvecmd *c, int upto)
{
	for (int i = upto - 1; i >= 0; i--) {
		struct bhyvecmd_nic *n = &c->nics[i];
		if (n->existing) {
			if (n->attached)
				vswitch_device_detach(u->s, n->sw, n->tap);
			n->attached = false;
			continue;
		}
		int r = vswitch_tap_destroy(n->tap, u->g.name, n->index);
		if (r == -EPERM)
			guest_log(&u->g,
				  "network%d: %s is not this guest's tap any more: left alone",
				  n->index, n->tap);
		else if (r < 0 && r != -ENODEV)
			guest_log(&u->g, "cannot remove tap %s: %s", n->tap, strerror(-r));
	}
}

/* networkN_device with networkN_switch: the existing interface joins the switch for the run. */
static int attach_device(struct sup *u, struct bhyvecmd_nic *n)
{
	char err[512] = "";
	int r = vswitch_device_attach(u->s, n->sw, n->tap, &n->attached, err, sizeof(err));
	if (r < 0) {
		fail(u, "network%d: %s", n->index, err);
		return r;
	}
	if (r == 1)
		guest_log(&u->g, "network%d: %s", n->index, err);
	guest_log(&u->g, "network%d: device %s%s%s", n->index, n->tap,
		  n->attached ? " added to switch " : "", n->attached ? n->sw : "");
	return 0;
}

static int create_taps(struct sup *u, struct bhyvecmd *c)
{
	for (int i = 0; i < c->nnics; i++) {
		struct bhyvecmd_nic *n = &c->nics[i];
		if (n->existing) {
			if (n->sw[0] && attach_device(u, n) < 0) {
				destroy_taps(u, c, i);
				return -EINVAL;
			}
			continue;
		}
		char err[512] = "";
		int r =
		    vswitch_tap_create(u->s, n->sw, n->tap, u->g.name, n->index, err, sizeof(err));
		if (r == -EEXIST) {
			/* replaced only when it is this guest's own (its supervisor was killed);
			 * another program's or guest's interface is never taken over */
			int d = vswitch_tap_destroy(n->tap, u->g.name, n->index);
			if (d == -EPERM || d == -EINVAL) {
				fail(u, "network%d: interface %s exists and is not this guest's",
				     n->index, n->tap);
				destroy_taps(u, c, i);
				return -EEXIST;
			}
			guest_log(&u->g, "tap %s was left by this guest: replacing it", n->tap);
			err[0] = '\0';
			r = vswitch_tap_create(u->s, n->sw, n->tap, u->g.name, n->index, err,
					       sizeof(err));
		}
		if (r < 0) {
			fail(u, "network%d: cannot create tap %s: %s", n->index, n->tap,
			     err[0] ? err : strerror(-r));
			destroy_taps(u, c, i);
			return r;
		}
		/* a tap with no owner is any local user's to attach: bhyve's user's only */
		uid_t owner = u->ra.set ? u->ra.uid : 0;
		gid_t group = u->ra.set ? u->ra.gid : 0;
		if (r >= 0 && (r = vnl_tap_set_owner(n->tap, owner, group)) < 0) {
			fail(u, "network%d: cannot give tap %s to %s: %s", n->index, n->tap,
			     u->ra.set ? u->ra.user : "root", strerror(-r));
			destroy_taps(u, c, i + 1);
			return r;
		}
		if (r == 1)
			guest_log(&u->g, "network%d: %s", n->index, err);
		guest_log(&u->g, "network%d: tap %s%s%s", n->index, n->tap,
			  n->sw[0] ? " on switch " : "", n->sw);
	}
	return 0;
}

/* prestart="script": run as `script <guest> ""` in the guest folder (vm-bhyve passes the ZFS
 * dataset second; there is none here). A failure is logged and the start goes on, as in
 * vm-bhyve. */
static void run_prestart(struct sup *u)
{
	const char *script = vmconf_get(u->g.conf, "prestart");
	if (!script || !script[0])
		return;
	guest_log(&u->g, "running prestart script %s", script);
	pid_t pid = fork();
	if (pid < 0) {
		guest_log(&u->g, "prestart: fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		if (chdir(u->g.dir) < 0)
			_exit(126);
		execl(script, script, u->g.name, "", (char *)NULL);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		guest_log(&u->g, "prestart script %s failed (status %d)", script,
			  WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

/* priority="N": the nice value bhyve runs at (-20..19). 0 when unset; -EINVAL when bad. */
static int read_priority(struct sup *u, int *prio)
{
	const char *v = vmconf_get(u->g.conf, "priority");
	*prio = 0;
	if (!v || !v[0])
		return 0;
	char *end;
	errno = 0;
	long p = strtol(v, &end, 10);
	if (errno || *end || p < -20 || p > 19) {
		fail(u, "priority=\"%s\": not a nice value from -20 to 19", v);
		return -EINVAL;
	}
	*prio = (int)p;
	return 1;
}

static void log_argv(struct sup *u, int run, char **argv)
{
	char line[4096];
	size_t off = 0;
	line[0] = '\0';
	for (int i = 0; argv[i] && off < sizeof(line) - 1; i++) {
		int n = snprintf(line + off, sizeof(line) - off, "%s%s", i ? " " : "", argv[i]);
		if (n < 0)
			break;
		off += (size_t)n;
	}
	guest_log(&u->g, "starting bhyve (run %d)", run);
	guest_log(&u->g, " [bhyve options: %s]", line);
}

/* run_as, in spawn_bhyve's child: the control socket on fd 3 for bhyve (socket activation,
 * LISTEN_PID/LISTEN_FDS), locked memory for wired_memory (the user's limit is small), then the
 * user's groups, gid and uid. The parent-death signal goes with the old credentials: set again. */
static int start_as_user(struct sup *u)
{
	if (u->ctl_fd >= 0) {
		if ((u->ctl_fd == 3 ? fcntl(3, F_SETFD, 0) : dup2(u->ctl_fd, 3)) < 0)
			return -1;
		char pid[16];
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		setenv("LISTEN_PID", pid, 1);
		setenv("LISTEN_FDS", "1", 1);
		unsetenv("LISTEN_FDNAMES");
	}
	if (vmconf_truthy(vmconf_get(u->g.conf, "wired_memory"))) {
		struct rlimit unlimited = {RLIM_INFINITY, RLIM_INFINITY};
		setrlimit(RLIMIT_MEMLOCK, &unlimited);
	}
	pid_t supervisor = getppid();
	int r = runas_become(&u->ra);
	if (r < 0) {
		fprintf(stderr, "vm: run_as: cannot become %s: %s\n", u->ra.user, strerror(-r));
		return -1;
	}
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	return getppid() == supervisor ? 0 : -1;
}

/* bhyve, with its stdout/stderr on a pipe (*outfd, read by pump_output) unless com1 is on our
 * stdio, where it shares our terminal. */
static pid_t spawn_bhyve(struct sup *u, char **argv, int prio, bool set_prio, int *outfd)
{
	int p[2] = {-1, -1};
	pid_t supervisor = getpid();
	*outfd = -1;
	if (!u->o->com_stdio && pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		if (p[0] >= 0) {
			close(p[0]);
			close(p[1]);
		}
		return -e;
	}
	if (pid) {
		if (p[0] >= 0) {
			close(p[1]);
			*outfd = p[0];
		}
		return pid;
	}
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	/* a supervisor that is killed leaves no unmanaged guest behind: bhyve gets the power
	 * button (the guest shuts down; nobody restarts it) */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != supervisor)
		_exit(4); /* the supervisor died before prctl */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (!u->o->com_stdio) {
		int in = open("/dev/null", O_RDONLY);
		if (in < 0 || dup2(in, 0) < 0 || dup2(p[1], 1) < 0 || dup2(p[1], 2) < 0)
			_exit(4);
		if (in > 2)
			close(in);
	}
	if (set_prio && setpriority(PRIO_PROCESS, 0, prio) < 0)
		fprintf(stderr, "vm: priority %d: %s\n", prio, strerror(errno));
	int cg = u->cg_path[0] ? cg_join(u->cg_path) : 0;
	if (cg < 0) {
		fprintf(stderr, "vm: cannot join the cgroup %s: %s\n", u->cg_path, strerror(-cg));
		_exit(4);
	}
	if (u->ra.set && start_as_user(u) < 0)
		_exit(4);
	execv(argv[0], argv);
	fprintf(stderr, "vm: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(4);
}

#define START_CHECK_MS 1000 /* bhyve that lives this long has started, for `vm start` */
#define RESTORE_WAIT_MS (30 * 60 * 1000) /* reading a large guest's RAM from a slow disk */
#define BHYVE_STATUS_SUSPENDED 5 /* bhyve's exit status after a suspend (vm suspend) */

static long ms_since(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

/* A bhyve (or guest) that floods its output would rotate vm-bhyve.log every few seconds and wipe
 * the supervisor's start, exit and stop lines: at most OUTPUT_BUDGET bytes of it are logged per
 * OUTPUT_WINDOW_S; the rest is counted in one line. The supervisor's own lines always go in. */
#define OUTPUT_WINDOW_S 60
#define OUTPUT_BUDGET (16 * 1024)

static void log_dropped_output(struct sup *u)
{
	if (!u->dropped_lines)
		return;
	guest_log(&u->g,
		  "%lu lines of bhyve output not logged (%lu bytes; more than %d KiB in %d s)",
		  u->dropped_lines, u->dropped_bytes, OUTPUT_BUDGET / 1024, OUTPUT_WINDOW_S);
	u->dropped_lines = u->dropped_bytes = 0;
}

static void log_output_line(struct sup *u, char *line, size_t n)
{
	while (n && (line[n - 1] == '\r' || line[n - 1] == '\n'))
		n--;
	line[n] = '\0';
	if (!n)
		return;
	if (ms_since(&u->out_window) >= OUTPUT_WINDOW_S * 1000L) {
		log_dropped_output(u);
		clock_gettime(CLOCK_MONOTONIC, &u->out_window);
		u->out_bytes = 0;
	}
	if (u->out_bytes + n > OUTPUT_BUDGET) {
		u->dropped_lines++;
		u->dropped_bytes += n;
	} else {
		u->out_bytes += n;
		/* bhyve's own messages already start with "bhyve: " */
		guest_log(&u->g, "%s%s", strncmp(line, "bhyve:", 6) ? "bhyve: " : "", line);
	}
	if (n >= sizeof(u->last_output))
		n = sizeof(u->last_output) - 1;
	memcpy(u->last_output, line, n);
	u->last_output[n] = '\0';
}

/* Until bhyve closes its output (it has exited): each line into vm-bhyve.log, and as is into
 * <guest>/bhyve.log with debug="yes". On the first run, `vm start` hears "ok" once bhyve has
 * lived START_CHECK_MS. A signal interrupts poll; the handler has already passed it on. */
static void pump_output(struct sup *u, int fd)
{
	int dbg = -1;
	if (vmconf_truthy(vmconf_get(u->g.conf, "debug")))
		dbg = guest_file_open(&u->g, BHYVE_DEBUG_LOG, O_WRONLY | O_CREAT | O_APPEND, 0644);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	u->out_window = t0;
	u->out_bytes = 0;
	char buf[2048];
	size_t len = 0;
	for (;;) {
		int timeout = -1;
		if (u->notify_fd >= 0) {
			long left = START_CHECK_MS - ms_since(&t0);
			if (left <= 0) {
				notify(u, "ok");
				continue;
			}
			timeout = (int)left;
		}
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		int r = poll(&pf, 1, timeout);
		if (r < 0 && errno != EINTR)
			break;
		if (r <= 0)
			continue;
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		if (dbg >= 0 && write(dbg, buf + len, (size_t)n) < 0) {
			close(dbg);
			dbg = -1;
		}
		len += (size_t)n;
		char *nl;
		while ((nl = memchr(buf, '\n', len))) {
			size_t l = (size_t)(nl - buf) + 1;
			log_output_line(u, buf, l - 1);
			memmove(buf, buf + l, len - l);
			len -= l;
		}
		if (len == sizeof(buf) - 1) { /* a very long line: log it in pieces */
			log_output_line(u, buf, len);
			len = 0;
		}
	}
	if (len)
		log_output_line(u, buf, len);
	log_dropped_output(u);
	if (dbg >= 0)
		close(dbg);
	close(fd);
}

/* bhyve on our terminal (tmux) with someone waiting for the first start: wait up to
 * START_CHECK_MS for it to fail, then report. True when it has ended (*st: its status). */
static bool watch_start(struct sup *u, pid_t pid, int *st)
{
	struct timespec t0, tick = {.tv_sec = 0, .tv_nsec = 20 * 1000 * 1000};
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (ms_since(&t0) < START_CHECK_MS) {
		pid_t r = waitpid(pid, st, WNOHANG);
		if (r == pid)
			return true;
		if (r < 0 && errno != EINTR)
			break;
		nanosleep(&tick, NULL);
	}
	notify(u, "ok");
	return false;
}

/* Sleep up to `secs`, returning early on a stop request. */
static void pause_unless_stopped(int secs)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = 100 * 1000 * 1000};
	for (int i = 0; i < secs * 10 && !stop_requested; i++)
		nanosleep(&ts, NULL);
}

enum next { NEXT_RUN, NEXT_STOP, NEXT_FAIL };

/* One run of bhyve: config, taps, console file, bhyve, cleanup. What to do next. */
/* loader="uefi": the guest's variable store, a copy of the template (system.conf
 * uefi_vars_template, Debian's OVMF_VARS_4M.fd by default): made at the first start and kept
 * with uefi_vars="yes", as vm-bhyve does; made afresh at every start otherwise. */
static int prepare_uefi_vars(struct sup *u, const struct bhyvecmd *c)
{
	char err[1024];
	if (guest_file_check(&u->g, BHYVECMD_UEFI_VARS_FILE, err, sizeof(err)) < 0) {
		fail(u, "%s", err);
		return -1;
	}
	struct stat st;
	if (c->uefi_vars_keep && stat(c->uefi_vars, &st) == 0 && st.st_size > 0)
		return 0;
	const char *tpl = vmconf_get(u->s->sys, "uefi_vars_template");
	if (!tpl || !*tpl)
		tpl = BHYVECMD_UEFI_VARS_DEFAULT;
	int fd = open(tpl, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    st.st_size > (64 << 20)) {
		fail(u, "uefi_vars_template %s: %s", tpl,
		     fd < 0 ? strerror(errno)
			    : "not a firmware variable store (a regular file up to 64 MiB)");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	char *buf = malloc((size_t)st.st_size);
	ssize_t got = buf ? read(fd, buf, (size_t)st.st_size) : -1;
	close(fd);
	int r = got == st.st_size ? guest_file_replace_bytes(&u->g, BHYVECMD_UEFI_VARS_FILE, buf,
							     (size_t)got, 0600)
				  : -EIO;
	free(buf);
	if (r < 0) {
		fail(u, "cannot make %s from %s: %s", c->uefi_vars, tpl, strerror(-r));
		return -1;
	}
	if (c->uefi_vars_keep)
		guest_log(&u->g, "made %s from %s", BHYVECMD_UEFI_VARS_FILE, tpl);
	return 0;
}

/* run_as: the user gets its run folder, the disks and the variable store bhyve writes; the
 * control socket is bound here, in the root-owned folder, and handed to bhyve. */
static int prepare_run_as(struct sup *u, const struct bhyvecmd *c)
{
	char err[1024];
	int r = runas_prepare_run_dir(&u->ra, u->run_dir, err, sizeof(err));
	if (r == 0)
		r = runas_open_folder(&u->ra, u->g.dir, err, sizeof(err));
	for (int i = 0; r == 0 && i < c->ndisks_rw; i++)
		r = runas_give(&u->ra, c->disks_rw[i], u->g.dir, err, sizeof(err));
	if (r == 0 && c->uefi_vars)
		r = runas_give(&u->ra, c->uefi_vars, u->g.dir, err, sizeof(err));
	if (r == 0) {
		r = ctl_listen(u->g.name, CTL_BACKLOG, u->ctl_path, sizeof(u->ctl_path), &u->ctl_st,
			       err, sizeof(err));
		u->ctl_fd = r >= 0 ? r : -1;
		if (r < 0)
			u->ctl_path[0] = '\0';
	}
	if (r < 0) {
		fail(u, "%s", err);
		return -1;
	}
	guest_log(&u->g, "running bhyve as %s (uid %u, gid %u)", u->ra.user, (unsigned)u->ra.uid,
		  (unsigned)u->ra.gid);
	return 0;
}

static void note_cgroup(void *ctx, const char *line)
{
	struct sup *u = ctx;
	guest_log(&u->g, "warning: %s", line);
}

/* kbhyve.slice/NAME with the guest's limit_* keys (cgroup.h). A bad value stops the start; a
 * host without cgroup v2 or its controllers runs the guest without them, saying so when limits
 * were asked for. */
static int setup_cgroup(struct sup *u, const struct bhyvecmd *c)
{
	char err[1024], root[PATH_MAX];
	struct cg_limits l;
	u->cg_path[0] = '\0';
	if (cg_limits_parse(u->g.conf, &l, err, sizeof(err)) < 0) {
		fail(u, "%s", err);
		return -1;
	}
	bool asked = l.pcpu || l.rbps || l.wbps || l.riops || l.wiops;
	if (cg_root(root, sizeof(root)) < 0) {
		if (asked)
			guest_log(&u->g, "warning: limit_*: no cgroup v2 hierarchy mounted: the "
					 "limits are not applied");
		return 0;
	}
	if (cg_setup(root, u->g.name, &l, c->disks, note_cgroup, u, u->cg_path, sizeof(u->cg_path),
		     err, sizeof(err)) < 0) {
		u->cg_path[0] = '\0';
		if (asked)
			guest_log(&u->g, "warning: %s: the limits are not applied", err);
		else
			guest_log(&u->g, "%s: bhyve runs in the supervisor's cgroup", err);
	}
	return 0;
}

static void end_cgroup(struct sup *u)
{
	if (u->cg_path[0])
		cg_remove(u->cg_path);
	u->cg_path[0] = '\0';
}

static void end_run_as(struct sup *u)
{
	if (!u->ra.set)
		return;
	if (u->ctl_fd >= 0) {
		close(u->ctl_fd);
		u->ctl_fd = -1;
	}
	if (u->ctl_path[0]) {
		ctl_unlink_if_same(u->ctl_path, &u->ctl_st);
		u->ctl_path[0] = '\0';
	}
	runas_remove_run_dir(u->run_dir);
}

static enum next run_once(struct sup *u, int run, bool *warned)
{
	char err[1024] = "";
	guest_close(&u->g);
	char name[sizeof(u->g.name)];
	snprintf(name, sizeof(name), "%s", u->g.name);
	struct guest fresh;
	if (guest_open(u->s, name, &fresh, err, sizeof(err)) < 0) {
		/* keep the folder so the log still works */
		fresh = u->g;
		fresh.conf = NULL;
		u->g = fresh;
		fail(u, "%s", err);
		return NEXT_FAIL;
	}
	u->g = fresh;
	/* as vm-bhyve: a NIC without a MAC gets one written into the conf at its first start */
	if (guest_fill_macs(&u->g, err, sizeof(err)) < 0)
		guest_log(&u->g, "warning: cannot record generated MACs: %s", err);

	run_prestart(u);
	if (stop_requested)
		return NEXT_STOP;

	if (runas_for_guest(u->g.conf, u->s->sys, &u->ra, err, sizeof(err)) < 0 ||
	    (u->ra.set && runas_run_dir(u->g.name, u->run_dir, sizeof(u->run_dir)) < 0)) {
		fail(u, "%s", err[0] ? err : "run_as: the run folder's path is too long");
		return NEXT_FAIL;
	}
	char uefi_custom[PATH_MAX + 32];
	snprintf(uefi_custom, sizeof(uefi_custom), "%s/.config/BHYVE_UEFI.fd", u->s->vm_dir);
	/* a suspended guest (vm suspend) resumes from its state on the first run */
	char restore[PATH_MAX];
	const char *listen = run == 1 ? u->o->migrate_listen : NULL;
	bool restoring = run == 1 && !listen && suspend_state_exists(u->g.dir) &&
			 suspend_state_path(u->g.dir, restore, sizeof(restore)) == 0;
	if (restoring)
		guest_log(&u->g, "resuming from %s", SUSPEND_STATE_FILE);
	if (listen)
		guest_log(&u->g, "receiving the guest live at %s (vm migrate)", listen);
	struct bhyvecmd_input in = {
	    .name = u->g.name,
	    .dir = u->g.dir,
	    .conf = u->g.conf,
	    .bhyve = u->s->bhyve,
	    .iso = run == 1 ? u->o->iso : NULL,
	    .restore = restoring ? restore : NULL,
	    .migrate_listen = listen,
	    .com_stdio = u->o->com_stdio,
	    .uefi_code = vmconf_get(u->s->sys, "uefi_code"),
	    .bios_code = vmconf_get(u->s->sys, "bios_code"),
	    .uefi_custom = uefi_custom,
	    .grub_shim = u->s->grubshim,
	    .vnc_port = free_vnc_port(u->g.conf),
	    .console_dir = u->ra.set ? u->run_dir : NULL,
	};
	struct bhyvecmd cmd;
	memset(&cmd, 0, sizeof(cmd));
	if (bhyvecmd_build(&in, &cmd, err, sizeof(err)) < 0) {
		fail(u, "%s", err);
		return NEXT_FAIL;
	}
	if (!*warned) {
		for (int i = 0; i < cmd.nwarnings; i++) {
			guest_log(&u->g, "warning: %s", cmd.warnings[i]);
			fprintf(stderr, "vm: %s: warning: %s\n", u->g.name, cmd.warnings[i]);
		}
		*warned = true;
	}
	int prio;
	int has_prio = read_priority(u, &prio);
	if (has_prio < 0) {
		bhyvecmd_free(&cmd);
		return NEXT_FAIL;
	}
	/* files written during the run: never through a symlink somebody put in the folder */
	if (guest_file_check(&u->g, GUEST_LOG_FILE, err, sizeof(err)) < 0 ||
	    (vmconf_truthy(vmconf_get(u->g.conf, "debug")) &&
	     guest_file_check(&u->g, BHYVE_DEBUG_LOG, err, sizeof(err)) < 0)) {
		fail(u, "%s", err);
		bhyvecmd_free(&cmd);
		return NEXT_FAIL;
	}
	if (cmd.uefi_vars && prepare_uefi_vars(u, &cmd) < 0) {
		bhyvecmd_free(&cmd);
		return NEXT_FAIL;
	}
	if (cmd.grub_cfg && grubimg_build(&u->g, cmd.grub_cfg, err, sizeof(err)) < 0) {
		fail(u, "%s", err);
		bhyvecmd_free(&cmd);
		return NEXT_FAIL;
	}
	if (restoring && u->ra.set) {
		/* bhyve, as the user, opens the state files itself */
		char p[PATH_MAX + 8];
		for (int i = 0; i < 3; i++) {
			snprintf(p, sizeof(p), "%s%s", restore, i == 0 ? "" : i == 1 ? ".kern" : ".meta");
			if (runas_give(&u->ra, p, u->g.dir, err, sizeof(err)) < 0) {
				fail(u, "%s", err);
				bhyvecmd_free(&cmd);
				return NEXT_FAIL;
			}
		}
	}
	if (u->ra.set && prepare_run_as(u, &cmd) < 0) {
		end_run_as(u);
		bhyvecmd_free(&cmd);
		return NEXT_FAIL;
	}
	if (setup_cgroup(u, &cmd) < 0) {
		end_run_as(u);
		bhyvecmd_free(&cmd);
		return NEXT_FAIL;
	}
	if (create_taps(u, &cmd) < 0) {
		end_cgroup(u);
		end_run_as(u);
		bhyvecmd_free(&cmd);
		return NEXT_FAIL;
	}
	int r = write_console_file(u, &cmd);
	if (r < 0)
		guest_log(&u->g, "cannot write the console file: %s", strerror(-r));

	log_argv(u, run, cmd.argv);
	int outfd;
	u->last_output[0] = '\0';
	pid_t pid = spawn_bhyve(u, cmd.argv, prio, has_prio > 0, &outfd);
	if (pid < 0) {
		fail(u, "cannot start bhyve: %s", strerror((int)-pid));
		end_cgroup(u);
		end_run_as(u);
		destroy_taps(u, &cmd, cmd.nnics);
		remove_guest_file(u, SUPERVISOR_CONSOLE_FILE);
		bhyvecmd_free(&cmd);
		return NEXT_FAIL;
	}
	bhyve_pid = pid;
	if (u->ctl_fd >= 0) { /* bhyve's now; the file stays ours to remove */
		close(u->ctl_fd);
		u->ctl_fd = -1;
	}
	if (stop_requested)
		kill(pid, SIGTERM); /* the request came in while we were forking */
	bool restored = false;
	if (restoring) {
		/* the state is used up once bhyve has taken it: the guest's disks move on from
		 * there, and a second restore of it would undo that */
		if (suspend_state_wait_restored(u->g.name, pid, RESTORE_WAIT_MS, err, sizeof(err)) ==
		    0) {
			suspend_state_remove(u->g.dir);
			guest_log(&u->g, "resumed; %s removed", SUSPEND_STATE_FILE);
			restored = true;
		} else {
			guest_log(&u->g, "the resume failed (%s): %s is kept", err,
				  SUSPEND_STATE_FILE);
		}
	}
	int st = 0;
	bool reaped = false;
	if (outfd >= 0)
		pump_output(u, outfd);
	else if (u->notify_fd >= 0)
		reaped = watch_start(u, pid, &st); /* on a terminal (tmux): watch it for a while */

	while (!reaped && waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			st = 0xff00; /* cannot happen: report as exit 255 */
			break;
		}
	}
	bhyve_pid = 0;
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	if (WIFSIGNALED(st))
		guest_log(&u->g, "bhyve killed by signal %d", WTERMSIG(st));
	else
		guest_log(&u->g, "bhyve exited with status %d", code);
	destroy_taps(u, &cmd, cmd.nnics);
	remove_guest_file(u, SUPERVISOR_CONSOLE_FILE);
	end_cgroup(u);
	end_run_as(u);
	bhyvecmd_free(&cmd);
	if (restoring && !restored) {
		/* not a fresh boot over the saved state: the user decides (vm.8) */
		fail(u, "the suspend state could not be restored (bhyve status %d%s%s); remove %s, "
			"%s.kern and %s.meta to boot the guest afresh",
		     code, u->last_output[0] ? ": " : "", u->last_output, SUSPEND_STATE_FILE,
		     SUSPEND_STATE_FILE, SUSPEND_STATE_FILE);
		return NEXT_FAIL;
	}
	if (listen && code == 4) {
		/* never a fresh boot instead: the guest may still run at the source */
		fail(u, "the live migration did not complete (bhyve status 4%s%s)",
		     u->last_output[0] ? ": " : "", u->last_output);
		return NEXT_FAIL;
	}
	if (u->notify_fd >= 0) {
		/* bhyve ended before START_CHECK_MS: a fault is a failed start (a suspend is not) */
		if (code >= 3 && code != BHYVE_STATUS_SUSPENDED) {
			fail(u, "bhyve exited with status %d%s%s", code,
			     u->last_output[0] ? ": " : "", u->last_output);
			return NEXT_FAIL;
		}
		notify(u, "ok");
	}

	char flag[PATH_MAX];
	if (guest_file(u, SUPERVISOR_RESTART_FLAG, flag, sizeof(flag)) == 0 && unlink(flag) == 0) {
		/* `vm restart` is a shutdown and a start: not after a fault */
		if (code <= 2) {
			guest_log(&u->g, "restart requested: starting again");
			stop_requested = 0;
			return NEXT_RUN;
		}
		guest_log(&u->g, "restart request dropped: bhyve ended with status %d", code);
	}
	if (stop_requested) {
		guest_log(&u->g, "stopped on request");
		return NEXT_STOP;
	}
	const char *on_restart = vmconf_get_default(u->g.conf, "on_restart", "restart");
	const char *on_fault = vmconf_get_default(u->g.conf, "on_fault", "shutdown");
	switch (code) {
	case 0:
		if (strcmp(on_restart, "shutdown") == 0) {
			guest_log(&u->g, "guest rebooted; on_restart=\"shutdown\": stopping");
			return NEXT_STOP;
		}
		guest_log(&u->g, "guest rebooted");
		return NEXT_RUN;
	case 1:
		guest_log(&u->g, "guest powered off");
		return NEXT_STOP;
	case 2:
		guest_log(&u->g, "guest halted");
		return NEXT_STOP;
	case BHYVE_STATUS_SUSPENDED:
		if (suspend_state_exists(u->g.dir))
			guest_log(&u->g, "guest suspended to %s", SUSPEND_STATE_FILE);
		else /* bhyvectl --suspend to another file, or --migrate */
			guest_log(&u->g, "guest saved or migrated elsewhere (bhyve status 5; no %s "
					 "here): stopping",
				  SUSPEND_STATE_FILE);
		return NEXT_STOP;
	default:
		guest_log(&u->g, "guest fault (bhyve status %d%s)", code,
			  code == 3   ? ": triple fault"
			  : code == 4 ? ": error"
				      : "");
		if (strcmp(on_fault, "restart") == 0) {
			guest_log(&u->g, "on_fault=\"restart\": starting again in %d s",
				  FAULT_RESTART_DELAY_S);
			pause_unless_stopped(FAULT_RESTART_DELAY_S);
			return stop_requested ? NEXT_STOP : NEXT_RUN;
		}
		return NEXT_STOP;
	}
}

int supervisor_run(struct vm_settings *s, const char *name, const struct supervisor_opts *o)
{
	struct sup u = {.s = s, .o = o, .notify_fd = o->notify_fd, .ctl_fd = -1};
	char err[1024];
	if (u.notify_fd >= 0)
		fcntl(u.notify_fd, F_SETFD, FD_CLOEXEC); /* not for bhyve */
	if (guest_open(s, name, &u.g, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm: %s\n", err);
		u.g.dir[0] = '\0';
		notify(&u, err);
		return 1;
	}
	int lockfd;
	int r = runlock_acquire(u.g.dir, &lockfd, err, sizeof(err));
	if (r < 0) {
		char msg[1200];
		snprintf(msg, sizeof(msg), "%s: %s", name, err);
		fprintf(stderr, "vm: %s\n", msg);
		notify(&u, msg);
		guest_close(&u.g);
		return 1;
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	remove_guest_file(&u, SUPERVISOR_RESTART_FLAG); /* left by a supervisor that died */
	guest_log(&u.g, "supervisor %d started%s", (int)getpid(),
		  o->tmux	 ? " in tmux"
		  : o->com_stdio ? " in the foreground"
				 : "");
	bool warned = false;
	enum next n = NEXT_RUN;
	for (int run = 1; n == NEXT_RUN; run++) {
		if (stop_requested) {
			n = NEXT_STOP;
			break;
		}
		n = run_once(&u, run, &warned);
	}
	guest_log(&u.g, "supervisor %d exiting", (int)getpid());
	remove_guest_file(&u, SUPERVISOR_CONSOLE_FILE);
	runlock_release(u.g.dir, lockfd);
	guest_close(&u.g);
	return n == NEXT_FAIL ? 1 : 0;
}
