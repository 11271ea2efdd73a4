/* SPDX-License-Identifier: BSD-2-Clause */
/* Helper programs run and waited for (see runprog.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vm/runprog.h"

/* PATH, then the folders a short cron or unit PATH leaves out */
static void search_path(char *full, size_t len)
{
	const char *path = getenv("PATH");
	snprintf(full, len, "%s%s/usr/sbin:/sbin:/usr/bin:/bin", path && *path ? path : "",
		 path && *path ? ":" : "");
}

bool runprog_installed(const char *name)
{
	char full[4096], cand[4096];
	search_path(full, sizeof(full));
	for (char *save = NULL, *dir = strtok_r(full, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		int n = snprintf(cand, sizeof(cand), "%s/%s", dir, name);
		if (n > 0 && (size_t)n < sizeof(cand) && access(cand, X_OK) == 0)
			return true;
	}
	return false;
}

int runprog(char *const argv[], const char *input, int out_fd, char *why, size_t whylen)
{
	int in[2] = { -1, -1 }, er[2];
	why[0] = '\0';
	if (input && pipe2(in, O_CLOEXEC) < 0) {
		snprintf(why, whylen, "pipe: %s", strerror(errno));
		return -1;
	}
	if (pipe2(er, O_CLOEXEC) < 0) {
		snprintf(why, whylen, "pipe: %s", strerror(errno));
		if (input) {
			close(in[0]);
			close(in[1]);
		}
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(why, whylen, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);
		dup2(input ? in[0] : devnull, 0);
		if (out_fd >= 0)
			dup2(out_fd, 1);
		else if (out_fd == RUNPROG_STDOUT_NULL)
			dup2(devnull, 1);
		dup2(er[1], 2);
		signal(SIGPIPE, SIG_DFL);
		char full[4096];
		search_path(full, sizeof(full));
		setenv("PATH", full, 1);
		execvp(argv[0], argv);
		fprintf(stderr, "%s is not installed (%s)\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(er[1]);
	if (input) {
		close(in[0]);
		void (*old)(int) = signal(SIGPIPE, SIG_IGN);
		size_t len = strlen(input), off = 0;
		while (off < len) {
			ssize_t w = write(in[1], input + off, len - off);
			if (w <= 0)
				break;
			off += (size_t)w;
		}
		close(in[1]);
		signal(SIGPIPE, old);
	}
	char buf[1024];
	size_t got = 0;
	ssize_t r;
	while ((r = read(er[0], buf + got, sizeof(buf) - 1 - got)) > 0) {
		got += (size_t)r;
		if (got == sizeof(buf) - 1) {
			char rest[512]; /* keep the first KiB, read the rest away */
			while (read(er[0], rest, sizeof(rest)) > 0) {
			}
			break;
		}
	}
	close(er[0]);
	buf[got] = '\0';
	char *nl = strchr(buf, '\n');
	if (nl)
		*nl = '\0';
	const char *w = buf + strspn(buf, " \t"); /* lvm indents its messages */
	snprintf(why, whylen, "%.*s", (int)(whylen ? whylen - 1 : 0), w);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}
