/* SPDX-License-Identifier: BSD-2-Clause */
#include "core/hostpath.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static struct hostpath *paths;
static size_t npaths, cap;

int hostpath_note(const char *path, unsigned access)
{
	if (!path || !path[0])
		return 0;
	for (size_t i = 0; i < npaths; i++) {
		if (strcmp(paths[i].path, path) == 0) {
			paths[i].access |= access;
			return 0;
		}
	}
	if (npaths == cap) {
		size_t ncap = cap ? cap * 2 : 16;
		struct hostpath *p = realloc(paths, ncap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		paths = p;
		cap = ncap;
	}
	char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	paths[npaths++] = (struct hostpath){.path = copy, .access = access};
	return 0;
}

const struct hostpath *hostpath_list(size_t *n)
{
	*n = npaths;
	return paths;
}
