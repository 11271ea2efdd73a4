/* SPDX-License-Identifier: BSD-2-Clause */
/* grub.cfg for loader="grub" (see grubcfg.h). */
#include "vm/grubcfg.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The most numbered commands read: vm-bhyve reads grub_run0.. until the first gap. */
#define GRUB_MAX_CMDS 100

struct text {
	char *s;
	size_t len, cap;
	bool oom;
};

static void add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct text *t, const char *fmt, ...)
{
	if (t->oom)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		t->oom = true;
		return;
	}
	if (t->len + (size_t)n + 1 > t->cap) {
		size_t cap = (t->cap ? t->cap * 2 : 256) + (size_t)n;
		char *s = realloc(t->s, cap);
		if (!s) {
			t->oom = true;
			return;
		}
		t->s = s;
		t->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* A partition as grub-bhyve takes it after "hd0,": a number, or a partition map and a number
 * (msdos1, gpt2, openbsd4); possibly nested (msdos1,bsd1). */
static bool partition_ok(const char *p)
{
	if (!*p)
		return false;
	for (const char *part = p; *part;) {
		while (islower((unsigned char)*part))
			part++;
		if (!isdigit((unsigned char)*part))
			return false;
		while (isdigit((unsigned char)*part))
			part++;
		if (*part == ',')
			part++;
		else if (*part)
			return false;
	}
	return p[strlen(p) - 1] != ',';
}

/* A path GRUB can take unquoted: no blanks, quotes, braces, semicolons or control bytes. */
static bool word_ok(const char *w)
{
	if (!*w)
		return false;
	for (; *w; w++)
		if ((unsigned char)*w <= ' ' || strchr("\"'`\\{};|&$<>#", *w) || *w == 0x7f)
			return false;
	return true;
}

static bool line_ok(const char *l)
{
	for (; *l; l++)
		if (*l == '\n' || *l == '\r')
			return false;
	return true;
}

/* "linux ..." (or linux16, linuxefi) without a console= argument */
static bool needs_console(const char *cmd)
{
	while (*cmd == ' ' || *cmd == '\t')
		cmd++;
	size_t n = strcspn(cmd, " \t");
	bool is_linux = (n == 5 && !strncmp(cmd, "linux", 5)) ||
			(n == 7 && !strncmp(cmd, "linux16", 7)) ||
			(n == 8 && !strncmp(cmd, "linuxefi", 8));
	return is_linux && !strstr(cmd, "console=");
}

int grubcfg_build(const struct vmconf *conf, const char *name, bool install, char **out, char *err,
		  size_t errlen)
{
	*out = NULL;
	const char *kind = install ? "install" : "run";
	const char *part = vmconf_get(conf, "grub_run_partition");
	if (!part || !*part)
		part = "1";
	else if (!partition_ok(part))
		return fail(err, errlen,
			    "grub_run_partition=\"%s\": expected a partition number, or a map "
			    "and a number (msdos1, gpt2)",
			    part);
	const char *dir = vmconf_get(conf, "grub_run_dir");
	if (!dir || !*dir)
		dir = "/boot/grub";
	else if (dir[0] != '/' || !word_ok(dir))
		return fail(err, errlen,
			    "grub_run_dir=\"%s\": expected an absolute path without blanks or "
			    "quotes",
			    dir);
	const char *file = vmconf_get(conf, "grub_run_file");
	if (!file || !*file)
		file = "grub.cfg";
	else if (!word_ok(file))
		return fail(err, errlen,
			    "grub_run_file=\"%s\": expected a file name without blanks or quotes",
			    file);
	const char *timeout = vmconf_get(conf, "loader_timeout");
	if (!timeout || !*timeout)
		timeout = "3";
	else if (strspn(timeout, "0123456789") != strlen(timeout) || strlen(timeout) > 5)
		return fail(err, errlen, "loader_timeout=\"%s\": expected seconds", timeout);

	struct text t = {0};
	add(&t, "# made by vm for guest %s (loader=\"grub\", %s): rewritten at every start\n", name,
	    kind);
	/* a standalone GRUB loads no partition map by itself (grub-bhyve has them built in) */
	add(&t, "insmod part_msdos\ninsmod part_gpt\ninsmod part_bsd\n");
	/* on `vm install` the image sits below the disks: the firmware's first disk */
	if (install)
		add(&t, "set root=(hd0)\n");
	else
		add(&t, "set root=(hd0,%s)\n", part);
	int ncmds = 0;
	for (; ncmds < GRUB_MAX_CMDS; ncmds++) {
		const char *c = vmconf_getn(conf, install ? "grub_install" : "grub_run", ncmds, "");
		if (!c || !*c)
			break;
		if (!line_ok(c)) {
			free(t.s);
			return fail(err, errlen, "grub_%s%d: a command on more than one line", kind,
				    ncmds);
		}
	}
	if (ncmds == 0) {
		if (install)
			add(&t, "configfile /boot/grub/grub.cfg\n");
		else
			add(&t, "configfile %s%s%s\n", dir, dir[strlen(dir) - 1] == '/' ? "" : "/",
			    file);
	} else {
		add(&t, "set timeout=%s\n", timeout);
		add(&t, "menuentry \"%s (bhyve %s)\" {\n", name, kind);
		for (int i = 0; i < ncmds; i++) {
			const char *c =
			    vmconf_getn(conf, install ? "grub_install" : "grub_run", i, "");
			add(&t, "\t%s%s\n", c, needs_console(c) ? " console=ttyS0" : "");
		}
		add(&t, "}\n");
	}
	if (t.oom) {
		free(t.s);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	*out = t.s;
	return 0;
}
