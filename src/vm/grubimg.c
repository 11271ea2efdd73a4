/* SPDX-License-Identifier: BSD-2-Clause */
/* Build the guest's GRUB image (see grubimg.h). */
#include "vm/grubimg.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vm/bhyvecmd.h"

/* The last line the tool printed, for the error message. */
static void last_line(int fd, char *line, size_t len)
{
	char buf[4096];
	size_t have = 0;
	for (;;) {
		if (have == sizeof(buf)) { /* keep the newer half */
			memmove(buf, buf + sizeof(buf) / 2, sizeof(buf) / 2);
			have = sizeof(buf) / 2;
		}
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	while (have && (buf[have - 1] == '\n' || buf[have - 1] == '\r'))
		have--;
	size_t start = have;
	while (start && buf[start - 1] != '\n')
		start--;
	snprintf(line, len, "%.*s", (int)(have - start), buf + start);
}

int grubimg_build(const struct guest *g, const char *cfg, char *err, size_t errlen)
{
	int r = guest_file_replace(g, BHYVECMD_GRUB_CFG, cfg);
	if (r < 0) {
		snprintf(err, errlen, "cannot write %s/" BHYVECMD_GRUB_CFG ": %s", g->dir,
			 strerror(-r));
		return r;
	}
	char cfgpath[PATH_MAX + 16], out[PATH_MAX + 16], tmp[PATH_MAX + 32], arg[PATH_MAX + 64];
	snprintf(cfgpath, sizeof(cfgpath), "%s/" BHYVECMD_GRUB_CFG, g->dir);
	snprintf(out, sizeof(out), "%s/" BHYVECMD_GRUB_IMAGE, g->dir);
	snprintf(tmp, sizeof(tmp), "%s/." BHYVECMD_GRUB_IMAGE ".XXXXXX", g->dir);
	snprintf(arg, sizeof(arg), "boot/grub/grub.cfg=%s", cfgpath);
	/* a new file the tool then fills: never one somebody put in the folder */
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot make the GRUB image in %s: %s", g->dir, strerror(-r));
		return r;
	}
	close(fd);
	const char *tool = getenv("KBHYVE_GRUB_MKSTANDALONE");
	if (!tool || !*tool)
		tool = GRUBIMG_TOOL_DEFAULT;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		r = -errno;
		unlink(tmp);
		snprintf(err, errlen, "pipe: %s", strerror(-r));
		return r;
	}
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		dup2(p[1], STDOUT_FILENO);
		dup2(p[1], STDERR_FILENO);
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, STDIN_FILENO);
		execlp(tool, tool, "-O", "x86_64-efi", "-o", tmp, arg, (char *)NULL);
		fprintf(stderr, "cannot run %s: %s\n", tool, strerror(errno));
		_exit(127);
	}
	close(p[1]);
	if (pid < 0) {
		r = -errno;
		close(p[0]);
		unlink(tmp);
		snprintf(err, errlen, "fork: %s", strerror(-r));
		return r;
	}
	char line[512];
	last_line(p[0], line, sizeof(line));
	close(p[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		unlink(tmp);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
			snprintf(err, errlen,
				 "loader=\"grub\" needs %s (Debian packages grub-common and "
				 "grub-efi-amd64-bin): %s",
				 tool, line);
		else
			snprintf(err, errlen, "%s failed to build the GRUB image: %s", tool,
				 line[0] ? line : "no output");
		return -EIO;
	}
	/* rename replaces whatever has the name, a symlink included, without following it */
	if (chmod(tmp, 0644) < 0 || rename(tmp, out) < 0) {
		r = -errno;
		unlink(tmp);
		snprintf(err, errlen, "cannot install %s: %s", out, strerror(-r));
		return r;
	}
	return 0;
}
