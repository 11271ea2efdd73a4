/* SPDX-License-Identifier: BSD-2-Clause */
/* vmmprobe: starts a VMM (or N of them) and times what its guest does, seen from outside.
 *
 * All times are CLOCK_MONOTONIC milliseconds from the moment just before fork() of that VMM
 * ("spawn"), taken as the bytes arrive on the VMM's pipes, so every VMM is timed the same way:
 *   marker_ms       the first occurrence of the marker text on the marker stream (bhyve's
 *                   "debug port 0x80: 0x1" line on stderr, QEMU's debugcon byte on fd 3...)
 *   first_out_ms    the first byte on stdout (the guest's serial console)
 *   exit_ms         the VMM process ended (pidfd readable)
 * and, with --sample-ms, the VMM's memory from /proc/PID/smaps that many ms after its marker:
 *   rss_kb          sum of Rss over all mappings
 *   guest_rss_kb    Rss of the guest RAM mapping: the one mapping whose Size is --guest-mb
 *   pss_kb          sum of Pss (shared pages split between the processes that map them)
 *   overhead_kb     rss_kb - guest_rss_kb (Firecracker's "VMM memory overhead")
 *   kvm             KVM's statistics of the VM at that moment (exits, io_exits...), read from
 *                   /sys/kernel/debug/kvm/PID-FD/ when debugfs is there (a diagnostic)
 *
 *   vmmprobe [options] -- COMMAND [ARG...]
 *     -n N              N instances ("{i}" in an argument becomes the instance number 1..N)
 *     --parallel        start them all at once (default: one after another, each after the
 *                       previous one exited or was killed)
 *     --marker S:TEXT   marker on stream S (out, err or fd3: a pipe the VMM gets as fd 3);
 *                       TEXT takes \xNN, \n, \r, \\ escapes
 *     --expect-out TEXT stdout must contain TEXT (proof that the guest really ran)
 *     --expect-exit N   exit status the VMM must end with (unless we killed it)
 *     --sample-ms MS    sample smaps MS ms after the marker (with --parallel: after the last
 *                       instance's marker), then, with --kill, SIGKILL the VMM(s)
 *     --guest-mb MB     guest RAM size, to find its mapping in smaps
 *     --kill            kill after sampling (the guest would otherwise run on)
 *     --timeout S       give up (and kill everything) after S seconds (default 300)
 *     --logdir DIR      write each instance's stdout/stderr/fd3 to DIR/I.out, I.err, I.fd3
 *
 * Prints one JSON object on stdout. Exit status 0 when every instance did what was expected,
 * 1 otherwise ("error" in the JSON says what failed), 2 for bad usage. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>

#define MAX_INST 64
#define NSTREAM 3
#define MAX_TEXT 256
#define TAIL_KEEP 4096

enum { S_OUT, S_ERR, S_FD3 };
static const char *const stream_name[NSTREAM] = {"out", "err", "fd3"};

/* KVM's per-VM statistics (debugfs, summed over vCPUs), read with the memory sample: a
 * diagnostic of where the guest's time went. */
static const char *const kvm_stat[] = {"exits", "io_exits", "mmio_exits", "halt_exits",
				       "irq_exits", "irq_window_exits", "insn_emulation",
				       "signal_exits", "hypercalls", "halt_wakeup"};
#define NKVM (sizeof(kvm_stat) / sizeof(kvm_stat[0]))

struct inst {
	pid_t pid;
	int pidfd;
	int fd[NSTREAM];	/* read ends, -1 when closed */
	FILE *log[NSTREAM];
	double t_spawn;		/* absolute ms */
	double marker_ms, first_out_ms, exit_ms; /* relative to t_spawn, < 0: not yet */
	int status;		/* wait status */
	bool exited, killed, sampled, started;
	char win[NSTREAM][2 * MAX_TEXT]; /* last bytes of each stream, for matches across reads */
	size_t winlen[NSTREAM];
	bool out_ok;
	long rss_kb, guest_rss_kb, pss_kb;
	long kvm[16];	/* KVM statistics at the sample (debugfs), -1 where unavailable */
	char errtail[TAIL_KEEP];	/* last bytes of stderr, for error messages */
	size_t errtail_len;
};

static struct {
	int n;
	bool parallel, kill_after;
	int marker_stream;
	char marker[MAX_TEXT];
	size_t marker_len;
	char expect_out[MAX_TEXT];
	size_t expect_out_len;
	int expect_exit;	/* -1: any */
	double sample_ms;	/* < 0: no sampling */
	long guest_kb;
	double timeout_ms;
	const char *logdir;
	char **argv;
} opt = {.n = 1, .marker_stream = -1, .expect_exit = -1, .sample_ms = -1, .timeout_ms = 300000};

static struct inst inst[MAX_INST];
static char error_msg[1024];

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	if (error_msg[0])
		return; /* keep the first problem */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(error_msg, sizeof(error_msg), fmt, ap);
	va_end(ap);
}

static void usage(void)
{
	fprintf(stderr, "usage: vmmprobe [-n N] [--parallel] [--marker out|err|fd3:TEXT] "
			"[--expect-out TEXT] [--expect-exit N] [--sample-ms MS --guest-mb MB] [--kill] "
			"[--timeout S] [--logdir DIR] -- COMMAND [ARG...]\n");
	exit(2);
}

/* Decodes \xNN, \n, \r, \t and \\ into out; returns the length or -1. */
static int unescape(const char *in, char *out, size_t cap)
{
	size_t n = 0;
	while (*in) {
		if (n + 1 >= cap)
			return -1;
		char c = *in++;
		if (c == '\\') {
			c = *in++;
			switch (c) {
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case '\\': break;
			case 'x': {
				char hex[3] = {0};
				if (!in[0] || !in[1])
					return -1;
				hex[0] = in[0];
				hex[1] = in[1];
				char *end;
				c = (char)strtoul(hex, &end, 16);
				if (*end)
					return -1;
				in += 2;
				break;
			}
			default:
				return -1;
			}
		}
		out[n++] = c;
	}
	out[n] = 0;
	return (int)n;
}

static long parse_long(const char *s, const char *what)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end) {
		fprintf(stderr, "vmmprobe: %s: not a number: '%s'\n", what, s);
		exit(2);
	}
	return v;
}

static void parse_args(int argc, char **argv)
{
	int i;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--")) {
			i++;
			break;
		} else if (!strcmp(a, "--parallel")) {
			opt.parallel = true;
		} else if (!strcmp(a, "--kill")) {
			opt.kill_after = true;
		} else if (!v) {
			usage();
		} else if (!strcmp(a, "-n")) {
			opt.n = (int)parse_long(v, "-n");
			i++;
		} else if (!strcmp(a, "--marker")) {
			const char *colon = strchr(v, ':');
			if (!colon)
				usage();
			opt.marker_stream = -1;
			for (int s = 0; s < NSTREAM; s++)
				if ((size_t)(colon - v) == strlen(stream_name[s]) &&
				    !strncmp(v, stream_name[s], (size_t)(colon - v)))
					opt.marker_stream = s;
			int len = unescape(colon + 1, opt.marker, MAX_TEXT);
			if (opt.marker_stream < 0 || len <= 0)
				usage();
			opt.marker_len = (size_t)len;
			i++;
		} else if (!strcmp(a, "--expect-out")) {
			int len = unescape(v, opt.expect_out, MAX_TEXT);
			if (len <= 0)
				usage();
			opt.expect_out_len = (size_t)len;
			i++;
		} else if (!strcmp(a, "--expect-exit")) {
			opt.expect_exit = (int)parse_long(v, "--expect-exit");
			i++;
		} else if (!strcmp(a, "--sample-ms")) {
			opt.sample_ms = (double)parse_long(v, "--sample-ms");
			i++;
		} else if (!strcmp(a, "--guest-mb")) {
			opt.guest_kb = parse_long(v, "--guest-mb") * 1024;
			i++;
		} else if (!strcmp(a, "--timeout")) {
			opt.timeout_ms = (double)parse_long(v, "--timeout") * 1000;
			i++;
		} else if (!strcmp(a, "--logdir")) {
			opt.logdir = v;
			i++;
		} else {
			usage();
		}
	}
	if (i >= argc || opt.n < 1 || opt.n > MAX_INST || opt.marker_stream < 0)
		usage();
	if (opt.sample_ms >= 0 && opt.guest_kb <= 0)
		usage();
	if (opt.kill_after && opt.sample_ms < 0)
		usage();
	opt.argv = argv + i;
}

/* argv with "{i}" replaced by the instance number (allocated; exits on ENOMEM) */
static char **instance_argv(int idx)
{
	int argc = 0;
	while (opt.argv[argc])
		argc++;
	char **out = calloc((size_t)argc + 1, sizeof(*out));
	if (!out)
		abort();
	for (int a = 0; a < argc; a++) {
		const char *src = opt.argv[a];
		const char *hit = strstr(src, "{i}");
		if (!hit) {
			out[a] = opt.argv[a];
			continue;
		}
		if (asprintf(&out[a], "%.*s%d%s", (int)(hit - src), src, idx, hit + 3) < 0)
			abort();
	}
	return out;
}

static void spawn(struct inst *in, int idx)
{
	int p[NSTREAM][2];
	for (int s = 0; s < NSTREAM; s++) {
		if (pipe2(p[s], O_CLOEXEC) < 0) {
			fail("pipe: %s", strerror(errno));
			return;
		}
	}
	char **argv = instance_argv(idx);
	if (opt.logdir) {
		for (int s = 0; s < NSTREAM; s++) {
			char path[4096];
			snprintf(path, sizeof(path), "%s/%d.%s", opt.logdir, idx, stream_name[s]);
			in->log[s] = fopen(path, "w");
		}
	}
	in->t_spawn = now_ms();
	pid_t pid = fork();
	if (pid < 0) {
		fail("fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(p[S_OUT][1], 1) < 0 ||
		    dup2(p[S_ERR][1], 2) < 0 || dup2(p[S_FD3][1], 3) < 0)
			_exit(127);
		execvp(argv[0], argv);
		fprintf(stderr, "vmmprobe: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	for (int s = 0; s < NSTREAM; s++) {
		close(p[s][1]);
		in->fd[s] = p[s][0];
	}
	in->pid = pid;
	in->started = true;
	in->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (in->pidfd < 0)
		fail("pidfd_open: %s", strerror(errno));
	for (int a = 0; argv[a]; a++)
		if (argv[a] != opt.argv[a])
			free(argv[a]);
	free(argv);
}

static bool window_has(const char *win, size_t len, const char *text, size_t tlen)
{
	return tlen && len >= tlen && memmem(win, len, text, tlen) != NULL;
}

/* Appends fresh bytes to the stream's sliding window and checks marker and expected text. */
static void feed(struct inst *in, int s, const char *buf, size_t n, double t)
{
	if (in->log[s])
		fwrite(buf, 1, n, in->log[s]);
	if (s == S_OUT && in->first_out_ms < 0)
		in->first_out_ms = t;
	if (s == S_ERR) {
		for (size_t k = 0; k < n; k++) {
			if (in->errtail_len == TAIL_KEEP) {
				memmove(in->errtail, in->errtail + TAIL_KEEP / 2, TAIL_KEEP / 2);
				in->errtail_len = TAIL_KEEP / 2;
			}
			in->errtail[in->errtail_len++] = buf[k];
		}
	}
	/* the window keeps the last MAX_TEXT bytes before this chunk; scan chunk by chunk */
	while (n > 0) {
		size_t take = n < MAX_TEXT ? n : MAX_TEXT;
		if (in->winlen[s] + take > sizeof(in->win[s])) {
			size_t keep = MAX_TEXT - 1 < in->winlen[s] ? MAX_TEXT - 1 : in->winlen[s];
			memmove(in->win[s], in->win[s] + in->winlen[s] - keep, keep);
			in->winlen[s] = keep;
		}
		memcpy(in->win[s] + in->winlen[s], buf, take);
		in->winlen[s] += take;
		buf += take;
		n -= take;
		if (s == opt.marker_stream && in->marker_ms < 0 &&
		    window_has(in->win[s], in->winlen[s], opt.marker, opt.marker_len))
			in->marker_ms = t;
		if (s == S_OUT && !in->out_ok &&
		    window_has(in->win[s], in->winlen[s], opt.expect_out, opt.expect_out_len))
			in->out_ok = true;
	}
}

/* KVM's debugfs folder of a VM is named PID-FD; without debugfs the numbers stay -1. */
static void read_kvm_stats(struct inst *in)
{
	for (size_t k = 0; k < NKVM; k++)
		in->kvm[k] = -1;
	DIR *d = opendir("/sys/kernel/debug/kvm");
	if (!d)
		return;
	char prefix[32], dir[300];
	snprintf(prefix, sizeof(prefix), "%d-", (int)in->pid);
	dir[0] = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, prefix, strlen(prefix)))
			snprintf(dir, sizeof(dir), "/sys/kernel/debug/kvm/%s", e->d_name);
	closedir(d);
	if (!dir[0])
		return;
	for (size_t k = 0; k < NKVM; k++) {
		char path[400];
		snprintf(path, sizeof(path), "%s/%s", dir, kvm_stat[k]);
		FILE *f = fopen(path, "r");
		if (f) {
			if (fscanf(f, "%ld", &in->kvm[k]) != 1)
				in->kvm[k] = -1;
			fclose(f);
		}
	}
}

/* Sums Rss over all mappings and finds the guest RAM mapping: Size == guest size, anonymous
 * or memfd. Exactly one must match. */
static void sample_smaps(struct inst *in, int idx)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)in->pid);
	FILE *f = fopen(path, "r");
	if (!f) {
		fail("instance %d: cannot read %s: %s", idx, path, strerror(errno));
		return;
	}
	char line[4096];
	long rss_total = 0, pss_total = 0, size = -1, guest_rss = -1;
	int guest_maps = 0;
	bool candidate = false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		long kb;
		char name[4096] = "";
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %4095[^\n]", &lo, &hi, name) >= 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			size = (long)((hi - lo) / 1024);
			candidate = size == opt.guest_kb &&
				    (name[0] == 0 || !strncmp(name, "/memfd:", 7));
			continue;
		}
		if (sscanf(line, "Pss: %ld kB", &kb) == 1)
			pss_total += kb;
		if (sscanf(line, "Rss: %ld kB", &kb) == 1) {
			rss_total += kb;
			if (candidate) {
				guest_maps++;
				guest_rss = kb;
			}
		}
	}
	fclose(f);
	if (in->exited) {
		fail("instance %d: the VMM exited before its memory could be sampled", idx);
		return;
	}
	if (opt.sample_ms >= 0 && guest_maps != 1) {
		fail("instance %d: %d anonymous mappings of the guest size (%ld kB) in %s, want 1",
		     idx, guest_maps, opt.guest_kb, path);
		return;
	}
	in->rss_kb = rss_total;
	in->pss_kb = pss_total;
	in->guest_rss_kb = guest_rss;
	in->sampled = true;
	read_kvm_stats(in);
}

static void kill_inst(struct inst *in)
{
	if (in->started && !in->exited && !in->killed) {
		kill(in->pid, SIGKILL);
		in->killed = true;
	}
}

static void reap(struct inst *in, double t)
{
	if (waitpid(in->pid, &in->status, 0) == in->pid) {
		in->exited = true;
		in->exit_ms = t - in->t_spawn;
	}
	close(in->pidfd);
	in->pidfd = -1;
}

static bool inst_done(const struct inst *in)
{
	if (!in->exited)
		return false;
	for (int s = 0; s < NSTREAM; s++)
		if (in->fd[s] >= 0)
			return false;
	return true;
}

/* Runs instances [first, last) until all of them are done; starts them all first. */
static void run_group(int first, int last, double deadline)
{
	for (int k = first; k < last && !error_msg[0]; k++)
		spawn(&inst[k], k + 1);
	for (;;) {
		struct pollfd pfd[MAX_INST * (NSTREAM + 1)];
		int who[MAX_INST * (NSTREAM + 1)], what[MAX_INST * (NSTREAM + 1)];
		int np = 0;
		bool all_done = true, all_marked = true;
		double last_marker = 0;
		for (int k = first; k < last; k++) {
			struct inst *in = &inst[k];
			if (!in->started)
				continue;
			if (!inst_done(in))
				all_done = false;
			else if (in->marker_ms < 0 && last - first > 1)
				fail("instance %d: the VMM ended before its guest reached the marker",
				     k + 1); /* the others may wait forever for the sample */
			if (in->marker_ms < 0)
				all_marked = false;
			else if (in->t_spawn + in->marker_ms > last_marker)
				last_marker = in->t_spawn + in->marker_ms;
			for (int s = 0; s < NSTREAM; s++) {
				if (in->fd[s] >= 0) {
					pfd[np] = (struct pollfd){.fd = in->fd[s], .events = POLLIN};
					who[np] = k;
					what[np++] = s;
				}
			}
			if (in->pidfd >= 0) {
				pfd[np] = (struct pollfd){.fd = in->pidfd, .events = POLLIN};
				who[np] = k;
				what[np++] = NSTREAM;
			}
		}
		if (all_done || error_msg[0])
			break;
		double t = now_ms();
		if (t >= deadline) {
			fail("timeout: not done within %.0f s", opt.timeout_ms / 1000);
			break;
		}
		double wake = deadline;
		/* sampling: once every instance of the group shows its marker, wait sample_ms */
		bool want_sample = opt.sample_ms >= 0 && all_marked && !inst[first].sampled;
		if (want_sample) {
			double at = last_marker + opt.sample_ms;
			if (t >= at) {
				for (int k = first; k < last; k++)
					sample_smaps(&inst[k], k + 1);
				if (opt.kill_after)
					for (int k = first; k < last; k++)
						kill_inst(&inst[k]);
				continue;
			}
			if (at < wake)
				wake = at;
		}
		int ms = (int)(wake - t) + 1;
		int r = poll(pfd, (nfds_t)np, ms);
		if (r < 0 && errno != EINTR) {
			fail("poll: %s", strerror(errno));
			break;
		}
		t = now_ms();
		for (int i = 0; i < np && r > 0; i++) {
			if (!pfd[i].revents)
				continue;
			struct inst *in = &inst[who[i]];
			if (what[i] == NSTREAM) {
				reap(in, t);
				continue;
			}
			char buf[65536];
			ssize_t n = read(pfd[i].fd, buf, sizeof(buf));
			if (n > 0) {
				feed(in, what[i], buf, (size_t)n, t - in->t_spawn);
			} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
				close(in->fd[what[i]]);
				in->fd[what[i]] = -1;
			}
		}
	}
}

static void check_inst(struct inst *in, int idx)
{
	if (!in->started)
		return;
	if (in->exited && WIFEXITED(in->status) && WEXITSTATUS(in->status) == 127 &&
	    in->marker_ms < 0)
		fail("instance %d: the VMM could not be started", idx);
	if (in->marker_ms < 0)
		fail("instance %d: no marker (the guest did not reach it)", idx);
	if (opt.expect_out_len && !in->out_ok)
		fail("instance %d: the expected guest output did not appear", idx);
	if (!in->killed && opt.expect_exit >= 0 &&
	    !(WIFEXITED(in->status) && WEXITSTATUS(in->status) == opt.expect_exit)) {
		if (WIFSIGNALED(in->status))
			fail("instance %d: the VMM died of signal %d", idx, WTERMSIG(in->status));
		else
			fail("instance %d: exit status %d, want %d", idx, WEXITSTATUS(in->status),
			     opt.expect_exit);
	}
	if (opt.sample_ms >= 0 && !in->sampled)
		fail("instance %d: memory not sampled (the VMM ended first)", idx);
}

static void json_num(const char *key, double v, bool comma)
{
	if (v < 0)
		printf("\"%s\": null%s", key, comma ? ", " : "");
	else
		printf("\"%s\": %.3f%s", key, v, comma ? ", " : "");
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	for (int k = 0; k < MAX_INST; k++)
	{
		for (int s = 0; s < NSTREAM; s++)
			inst[k].fd[s] = -1;
		inst[k].marker_ms = inst[k].first_out_ms = inst[k].exit_ms = -1;
	}
	double t0 = now_ms(), deadline = t0 + opt.timeout_ms;
	if (opt.parallel) {
		run_group(0, opt.n, deadline);
	} else {
		for (int k = 0; k < opt.n && !error_msg[0]; k++) {
			run_group(k, k + 1, deadline);
			check_inst(&inst[k], k + 1); /* stop at the first failing instance */
		}
	}
	for (int k = 0; k < opt.n; k++)
		kill_inst(&inst[k]); /* only after an error or timeout: the others ended */
	for (int k = 0; k < opt.n; k++) {
		if (inst[k].started && !inst[k].exited)
			reap(&inst[k], now_ms());
		for (int s = 0; s < NSTREAM; s++)
			if (inst[k].log[s])
				fclose(inst[k].log[s]);
	}
	for (int k = 0; k < opt.n; k++)
		check_inst(&inst[k], k + 1);

	/* spans from the first spawn: last marker, last exit; sums of memory */
	double first = inst[0].t_spawn, last_marker = -1, last_exit = -1;
	long rss = 0, guest = 0, pss = 0;
	printf("{\"instances\": [");
	for (int k = 0; k < opt.n; k++) {
		struct inst *in = &inst[k];
		if (in->marker_ms >= 0 && in->t_spawn + in->marker_ms - first > last_marker)
			last_marker = in->t_spawn + in->marker_ms - first;
		if (in->exit_ms >= 0 && !in->killed && in->t_spawn + in->exit_ms - first > last_exit)
			last_exit = in->t_spawn + in->exit_ms - first;
		printf("%s{", k ? ", " : "");
		json_num("start_ms", in->started ? in->t_spawn - first : -1, true);
		json_num("marker_ms", in->marker_ms, true);
		json_num("first_out_ms", in->first_out_ms, true);
		json_num("exit_ms", in->killed ? -1 : in->exit_ms, true);
		printf("\"killed\": %s, ", in->killed ? "true" : "false");
		printf("\"exit_status\": %d, ",
		       in->exited && WIFEXITED(in->status) ? WEXITSTATUS(in->status) : -1);
		json_num("rss_kb", in->sampled ? (double)in->rss_kb : -1, true);
		json_num("guest_rss_kb", in->sampled ? (double)in->guest_rss_kb : -1, true);
		json_num("pss_kb", in->sampled ? (double)in->pss_kb : -1, true);
		json_num("overhead_kb", in->sampled ? (double)(in->rss_kb - in->guest_rss_kb) : -1,
			 false);
		if (in->sampled) {
			printf(", \"kvm\": {");
			bool any = false;
			for (size_t j = 0; j < NKVM; j++) {
				if (in->kvm[j] < 0)
					continue;
				printf("%s\"%s\": %ld", any ? ", " : "", kvm_stat[j], in->kvm[j]);
				any = true;
			}
			printf("}");
		}
		printf("}");
		rss += in->rss_kb;
		guest += in->guest_rss_kb;
		pss += in->pss_kb;
	}
	printf("], ");
	json_num("all_marker_ms", error_msg[0] ? -1 : last_marker, true);
	json_num("all_exit_ms", error_msg[0] || opt.kill_after ? -1 : last_exit, true);
	json_num("sum_rss_kb", error_msg[0] || opt.sample_ms < 0 ? -1 : (double)rss, true);
	json_num("sum_pss_kb", error_msg[0] || opt.sample_ms < 0 ? -1 : (double)pss, true);
	json_num("sum_overhead_kb", error_msg[0] || opt.sample_ms < 0 ? -1 : (double)(rss - guest),
		 true);
	printf("\"error\": ");
	if (error_msg[0])
		json_string(error_msg);
	else
		printf("null");
	printf("}\n");
	if (error_msg[0]) {
		fprintf(stderr, "vmmprobe: %s\n", error_msg);
		for (int k = 0; k < opt.n; k++) {
			if (inst[k].errtail_len) {
				fprintf(stderr, "vmmprobe: instance %d stderr (last bytes):\n%.*s\n", k + 1,
					(int)inst[k].errtail_len, inst[k].errtail);
			}
		}
		return 1;
	}
	return 0;
}
