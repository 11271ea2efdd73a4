/* SPDX-License-Identifier: BSD-2-Clause */
#include "vm/migratelink.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

bool migratelink_word_ok(const char *s)
{
	if (!*s || *s == '-' || strlen(s) > 255)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("._-:@", *s)))
			return false;
	return true;
}

int migratelink_open(struct migratelink *l, const char *host, bool cold, const char *ds,
		     const char *name)
{
	memset(l, 0, sizeof(*l));
	l->ssh = -1;
	l->to = l->from = -1;
	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC) < 0) {
		fprintf(stderr, "vm migrate: pipe: %s\n", strerror(errno));
		return -1;
	}
	if (pipe2(out, O_CLOEXEC) < 0) {
		fprintf(stderr, "vm migrate: pipe: %s\n", strerror(errno));
		close(in[0]);
		close(in[1]);
		return -1;
	}
	pid_t pid = fork();
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		/* BatchMode: our stdin is the link, nobody can answer a password prompt */
		const char *av[16];
		int n = 0;
		av[n++] = "ssh";
		av[n++] = "-o";
		av[n++] = "BatchMode=yes";
		av[n++] = "--";
		av[n++] = host;
		av[n++] = "vm";
		av[n++] = "_migrate_in";
		if (cold)
			av[n++] = "-c";
		if (ds) {
			av[n++] = "-d";
			av[n++] = ds;
		}
		av[n++] = name;
		av[n] = NULL;
		execvp("ssh", (char *const *)av);
		fprintf(stderr, "vm migrate: cannot run ssh: %s\n", strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	if (pid < 0) {
		fprintf(stderr, "vm migrate: fork: %s\n", strerror(errno));
		close(in[1]);
		close(out[0]);
		return -1;
	}
	l->ssh = pid;
	l->to = in[1];
	l->from = out[0];
	signal(SIGPIPE, SIG_IGN); /* a link that closes is an error to report */
	return 0;
}

static int send_all(struct migratelink *l, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = l->to >= 0 ? write(l->to, p, len) : -1;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(l->why, sizeof(l->why), "the link to the other host closed");
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int migratelink_send_conf(struct migratelink *l, const char *conf, size_t len)
{
	char head[64];
	int n = snprintf(head, sizeof(head), "conf %zu\n", len);
	return send_all(l, head, (size_t)n) < 0 ? -1 : send_all(l, conf, len);
}

int migratelink_say(struct migratelink *l, const char *word)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "%s\n", word);
	return send_all(l, line, (size_t)n);
}

int migratelink_send_folder(struct migratelink *l, const char *parent, const char *name)
{
	char lock[300], console[300];
	snprintf(lock, sizeof(lock), "--exclude=%s/run.lock", name);
	snprintf(console, sizeof(console), "--exclude=%s/console", name);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(l->to, 1);
		char *const av[] = {"tar", "-C", (char *)parent, "--sparse",   lock, console,
				    "-cf", "-",	 "--",		 (char *)name, NULL};
		execvp("tar", av);
		fprintf(stderr, "vm migrate: cannot run tar: %s\n", strerror(errno));
		_exit(127);
	}
	int st = 0;
	if (pid > 0)
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
	close(l->to);
	l->to = -1;
	if (pid < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		snprintf(l->why, sizeof(l->why), "tar of %s/%s ended with status %d", parent, name,
			 pid < 0	 ? -1
			 : WIFEXITED(st) ? WEXITSTATUS(st)
					 : 128 + WTERMSIG(st));
		return -1;
	}
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The link has closed: why, with ssh's status. */
static void closed(struct migratelink *l)
{
	int st = 0;
	if (l->ssh > 0 && waitpid(l->ssh, &st, 0) == l->ssh) {
		l->ssh = -1;
		snprintf(l->why, sizeof(l->why), "ssh ended with status %d",
			 WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	} else {
		snprintf(l->why, sizeof(l->why), "the link to the other host closed");
	}
}

int migratelink_expect(struct migratelink *l, const char *word, char *out, size_t outlen,
		       int timeout_ms)
{
	long long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	size_t wl = strlen(word), tl = strlen(MIGRATELINK_TAG);
	for (;;) {
		char *nl;
		while ((nl = memchr(l->in, '\n', l->inlen))) {
			*nl = '\0';
			size_t used = (size_t)(nl - l->in) + 1;
			const char *line = l->in;
			bool found = false;
			if (!strncmp(line, MIGRATELINK_TAG " ", tl + 1) &&
			    !strncmp(line + tl + 1, word, wl) &&
			    (line[tl + 1 + wl] == ' ' || line[tl + 1 + wl] == '\0')) {
				const char *rest = line + tl + 1 + wl;
				snprintf(out, outlen, "%s", *rest ? rest + 1 : "");
				found = true;
			} else if (strncmp(line, MIGRATELINK_TAG " ", tl + 1)) {
				printf("%s\n", line); /* the other side's own output */
				fflush(stdout);
			}
			memmove(l->in, l->in + used, l->inlen - used);
			l->inlen -= used;
			if (found)
				return 0;
		}
		if (l->inlen == sizeof(l->in)) /* a line this long is nobody's */
			l->inlen = 0;
		int left = -1;
		if (deadline >= 0) {
			long long d = deadline - now_ms();
			if (d <= 0) {
				snprintf(l->why, sizeof(l->why), "no answer in %d s",
					 timeout_ms / 1000);
				return -1;
			}
			left = (int)d;
		}
		struct pollfd pf = {.fd = l->from, .events = POLLIN};
		int r = poll(&pf, 1, left);
		if (r < 0 && errno != EINTR) {
			closed(l);
			return -1;
		}
		if (r <= 0)
			continue;
		ssize_t n = read(l->from, l->in + l->inlen, sizeof(l->in) - l->inlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			closed(l);
			return -1;
		}
		l->inlen += (size_t)n;
	}
}

void migratelink_close(struct migratelink *l)
{
	if (l->to >= 0)
		close(l->to);
	l->to = -1;
	if (l->ssh > 0) {
		/* whatever the other side still says goes to our output */
		char buf[1024];
		ssize_t n;
		while (l->from >= 0 &&
		       ((n = read(l->from, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)))
			if (n > 0 && fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
				break;
		while (waitpid(l->ssh, NULL, 0) < 0 && errno == EINTR)
			;
		l->ssh = -1;
	}
	if (l->from >= 0)
		close(l->from);
	l->from = -1;
}
