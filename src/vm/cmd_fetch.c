/* SPDX-License-Identifier: BSD-2-Clause */
/* vm iso [-c SHA256] [URL] and vm img [-c SHA256] [URL]: list $vm_dir/.iso or $vm_dir/.img, or
 * download into it (download.h); vm img then unpacks and converts to a raw sparse image. */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vm/cmds.h"
#include "vm/download.h"
#include "vm/opts.h"

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* vm-bhyve's listing: DATASTORE and FILENAME, the files sorted (no hidden ones: downloads in
 * progress are .NAME.part). */
static int list(const char *dir)
{
	printf("%-19s %s\n", "DATASTORE", "FILENAME");
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	char **v = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char **nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv)
			break;
		v = nv;
		if ((v[n] = strdup(e->d_name)))
			n++;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_str);
	for (size_t i = 0; i < n; i++) {
		printf("%-19s %s\n", "default", v[i]);
		free(v[i]);
	}
	free(v);
	return 0;
}

static int fetch_cmd(struct vm_settings *s, int argc, char **argv, bool image)
{
	const char *cmd = image ? "img" : "iso";
	const char *usage = image ? "usage: vm img [-c sha256] [url]" : "usage: vm iso [-c sha256] [url]";
	const char *o[128];
	int i = vm_opts_parse(cmd, argc, argv, "c:", usage, o);
	if (i < 0)
		return 1;
	char dir[PATH_MAX + 8];
	snprintf(dir, sizeof(dir), "%s/.%s", s->vm_dir, cmd);
	if (argc - i == 0) {
		if (o['c']) {
			fprintf(stderr, "vm %s: -c needs a URL to check (%s)\n", cmd, usage);
			return 1;
		}
		return list(dir);
	}
	if (argc - i != 1) {
		fprintf(stderr, "vm %s: one URL, please (%s)\n", cmd, usage);
		return 1;
	}
	char sum[65];
	if (o['c'] && !dl_sha256_parse(o['c'], sum)) {
		fprintf(stderr, "vm %s: -c %s: not a SHA-256 (64 hex digits)\n", cmd, o['c']);
		return 1;
	}
	bool tty = isatty(STDERR_FILENO);
	struct dl_request r = { .url = argv[i], .dir = dir, .sha256 = o['c'] ? sum : NULL, .progress = tty };
	char path[PATH_MAX + 300], final[PATH_MAX + 300], err[1024];
	if (dl_fetch(&r, path, sizeof(path), err, sizeof(err)) < 0) {
		fprintf(stderr, "vm %s: %s\n", cmd, err);
		return 1;
	}
	if (image && dl_prepare_image(path, tty, final, sizeof(final), err, sizeof(err)) < 0) {
		fprintf(stderr, "vm img: %s\n", err);
		return 1;
	}
	printf("%s\n", image ? final : path);
	return 0;
}

int cmd_iso(struct vm_settings *s, int argc, char **argv)
{
	return fetch_cmd(s, argc, argv, false);
}

int cmd_img(struct vm_settings *s, int argc, char **argv)
{
	return fetch_cmd(s, argc, argv, true);
}
