/* SPDX-License-Identifier: BSD-2-Clause */
/* `vm console name [com1|com2]`: attach to a running guest's serial port. With console="tmux"
 * that is the guest's tmux session; otherwise the pty bhyve made (its link is in <guest>/console)
 * relayed to our stdin/stdout. "~." or cu's "~^D" at the start of a line detaches (what was typed
 * before it still reaches the guest), "~~" sends one "~". Works
 * with pipes as well as terminals: without a terminal, end of input detaches too. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

#include "vm/cmds.h"
#include "vm/guest.h"
#include "vm/runas.h"
#include "vm/runlock.h"
#include "vm/supervisor.h"

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

/* Unix98 pseudo-terminal slaves, /dev/pts/N: majors 136 to 143 */
static bool is_pty_slave(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && major(st->st_rdev) >= 136 && major(st->st_rdev) <= 143;
}

/* The guest's console: the pty link bhyve made, <dir>/<port>, in the guest folder or, for a guest
 * run as another user (run_as), in its run folder, which that user owns. Whoever can write in the
 * folder can change the link; what the user types must never go to another file or terminal:
 * the link must lead to a pseudo-terminal, and from the user's folder to one of that user's
 * (bhyve's, not an administrator's terminal). An fd, or -1 with the one-line reason on stderr. */
static int open_console(const struct guest *g, const char *port, const char *where)
{
	char want[PATH_MAX + 16], run_dir[PATH_MAX], in_run_dir[PATH_MAX + 16] = "";
	snprintf(want, sizeof(want), "%s/%s", g->dir, port);
	if (runas_run_dir(g->name, run_dir, sizeof(run_dir)) == 0)
		snprintf(in_run_dir, sizeof(in_run_dir), "%s/%s", run_dir, port);
	bool users = in_run_dir[0] && strcmp(where, in_run_dir) == 0;
	if (strcmp(where, want) != 0 && !users) {
		fprintf(stderr, "vm: %s: the console file names %s, not %s: refusing it\n", g->name,
			where, want);
		return -1;
	}
	struct stat st, dir;
	if (users && (lstat(run_dir, &dir) < 0 || !S_ISDIR(dir.st_mode))) {
		fprintf(stderr, "vm: %s: %s is not a folder: refusing the console\n", g->name,
			run_dir);
		return -1;
	}
	int dev = -1;
	/* looked at before opening as well: opening some devices does something */
	if (stat(where, &st) == 0 && is_pty_slave(&st) &&
	    (dev = open(where, O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK)) < 0) {
		fprintf(stderr, "vm: %s: %s: %s\n", g->name, where, strerror(errno));
		return -1;
	}
	if (dev < 0 || fstat(dev, &st) < 0 || !is_pty_slave(&st)) {
		if (dev >= 0)
			close(dev);
		fprintf(stderr, "vm: %s: %s is not a pseudo-terminal: refusing it\n", g->name,
			where);
		return -1;
	}
	if (users && st.st_uid != dir.st_uid) {
		close(dev);
		fprintf(stderr,
			"vm: %s: %s leads to a terminal of uid %u, not of the guest's user (%u): "
			"refusing it\n",
			g->name, where, (unsigned)st.st_uid, (unsigned)dir.st_uid);
		return -1;
	}
	return dev;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd pf = {.fd = fd, .events = POLLOUT};
				poll(&pf, 1, 1000);
				continue;
			}
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The "~." escape over the user's input: bytes to send to the guest, or detach. */
struct escape {
	bool line_start; /* at the start of the input or after a newline */
	bool tilde;	 /* a "~" at the line start is held back */
};

/* Filter in[0..n) into out (room for 2n); returns the bytes for the guest, which include those
 * typed before a "~." or "~^D" in the same read; *detach is set on either escape. */
static size_t escape_filter(struct escape *e, const char *in, size_t n, char *out, bool *detach)
{
	size_t o = 0;
	*detach = false;
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		if (e->tilde) {
			e->tilde = false;
			if (c == '.' || c == '\004') { /* cu(1): ~. and ~^D both disconnect */
				*detach = true;
				break;
			}
			if (c != '~')
				out[o++] = '~'; /* not an escape: the held "~" goes through */
			out[o++] = c;
		} else if (e->line_start && c == '~') {
			e->tilde = true;
			continue;
		} else {
			out[o++] = c;
		}
		e->line_start = c == '\r' || c == '\n';
	}
	return o;
}

static int relay(const char *name, const char *port, int dev)
{
	struct termios saved, raw;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
	if (tty) {
		raw = saved;
		cfmakeraw(&raw);
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	fprintf(stderr, "[connected to %s %s; ~. or ~^D to detach]%s\n", name, port, tty ? "\r" : "");

	struct escape esc = {.line_start = true};
	char in[4096], out[8192];
	const char *why = "detached";
	bool in_open = true;
	int rc = 0;
	while (!got_signal) {
		struct pollfd pf[2] = {
		    {.fd = dev, .events = POLLIN},
		    {.fd = in_open ? STDIN_FILENO : -1, .events = POLLIN},
		};
		int r = poll(pf, 2, -1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			why = strerror(errno);
			rc = 1;
			break;
		}
		if (pf[0].revents) {
			ssize_t n = read(dev, in, sizeof(in));
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0) { /* EIO: bhyve closed its side */
				why = "console closed: the guest's bhyve has exited";
				break;
			}
			if (write_all(STDOUT_FILENO, in, (size_t)n) < 0) {
				why = "output closed";
				break;
			}
		}
		if (in_open && pf[1].revents) {
			ssize_t n = read(STDIN_FILENO, in, sizeof(in));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				/* end of input: a pipe has said all it had */
				why = "end of input";
				in_open = false;
				break;
			}
			bool detach;
			size_t m = escape_filter(&esc, in, (size_t)n, out, &detach);
			if (m > 0 && write_all(dev, out, m) < 0) {
				why = "console closed";
				break;
			}
			if (detach)
				break;
		}
	}
	if (tty)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	if (got_signal)
		why = "interrupted";
	fprintf(stderr, "\n[%s %s: %s]\n", name, port, why);
	return rc;
}

static int attach_tmux(const char *name)
{
	char sess[256], target[300];
	supervisor_tmux_session(name, sess, sizeof(sess));
	/* "=": this session exactly, not one whose name merely starts with it */
	snprintf(target, sizeof(target), "=%s", sess);
	execlp("tmux", "tmux", "attach-session", "-t", target, (char *)NULL);
	fprintf(stderr, "vm console: cannot run tmux: %s\n", strerror(errno));
	return 1;
}

/* vm console --web [-l ADDR] [-p PORT] NAME|HOST:PORT */
static int cmd_console_web(struct vm_settings *s, int argc, char **argv)
{
	const char *listen = NULL, *port = NULL, *target = NULL;
	for (int i = 2; i < argc; i++) {
		if ((!strcmp(argv[i], "-l") || !strcmp(argv[i], "-p")) && i + 1 < argc) {
			*(argv[i][1] == 'l' ? &listen : &port) = argv[i + 1];
			i++;
		} else if (argv[i][0] == '-' || target) {
			fprintf(stderr, "vm console: '%s': unexpected (usage: vm console --web "
					"[-l address] [-p port] <name>|<host:port>)\n", argv[i]);
			return 1;
		} else {
			target = argv[i];
		}
	}
	if (!target) {
		fprintf(stderr, "vm console: no guest named (usage: vm console --web [-l address] "
				"[-p port] <name>|<host:port>)\n");
		return 1;
	}
	if (strchr(target, ':')) /* guest names have no colon: a VNC server's address */
		return console_web(s, NULL, target, listen, port);
	struct guest g;
	char err[1024], vnc[300];
	if (settings_require_init(s, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm: %s\n", err);
		return 1;
	}
	if (guest_open(s, target, &g, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm: %s\n", err);
		return 1;
	}
	char host[256];
	pid_t pid;
	enum run_state st = runlock_probe(g.dir, &pid, host, sizeof(host));
	int r = st == RUN_RUNNING ? guest_console_entry(&g, "vnc", vnc, sizeof(vnc)) : -1;
	guest_close(&g);
	if (st != RUN_RUNNING) {
		fprintf(stderr, st == RUN_OTHER_HOST ? "vm: %s: running on host %s\n"
						     : "vm: %s: not running\n", target, host);
		return 1;
	}
	if (r < 0) {
		fprintf(stderr, "vm: %s: no graphical console (graphics=\"yes\" gives one)\n",
			target);
		return 1;
	}
	return console_web(s, target, vnc, listen, port);
}

int cmd_console(struct vm_settings *s, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "--web") == 0)
		return cmd_console_web(s, argc, argv);
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "vm console: %s (usage: vm console <name> [com1|com2])\n",
			argc < 2 ? "no guest named" : "too many arguments");
		return 1;
	}
	char err[1024];
	if (settings_require_init(s, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm: %s\n", err);
		return 1;
	}
	const char *name = argv[1];
	const char *port = argc == 3 ? argv[2] : "com1";
	if (strcmp(port, "com1") && strcmp(port, "com2")) {
		fprintf(stderr, "vm console: '%s': the port is com1 or com2\n", port);
		return 1;
	}
	struct guest g;
	if (guest_open(s, name, &g, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm: %s\n", err);
		return 1;
	}
	char host[256];
	pid_t pid;
	enum run_state st = runlock_probe(g.dir, &pid, host, sizeof(host));
	if (st != RUN_RUNNING) {
		if (st == RUN_OTHER_HOST)
			fprintf(stderr, "vm: %s: running on host %s\n", name, host);
		else
			fprintf(stderr, "vm: %s: not running\n", name);
		guest_close(&g);
		return 1;
	}
	char where[PATH_MAX];
	int r = guest_console_entry(&g, port, where, sizeof(where));
	guest_close(&g);
	if (r < 0) {
		fprintf(stderr,
			"vm: %s: no %s console (not configured, or bhyve is between runs)\n", name,
			port);
		return 1;
	}
	if (strncmp(where, "tmux/", 5) == 0)
		return attach_tmux(name);
	if (strcmp(where, "stdio") == 0) {
		fprintf(stderr, "vm: %s: %s is on the terminal of `vm start -f`\n", name, port);
		return 1;
	}
	int dev = open_console(&g, port, where);
	if (dev < 0)
		return 1;
	struct termios t;
	if (tcgetattr(dev, &t) == 0) {
		cfmakeraw(&t); /* no echo or line editing between us and the guest */
		tcsetattr(dev, TCSANOW, &t);
	}
	r = relay(name, port, dev);
	close(dev);
	return r;
}
