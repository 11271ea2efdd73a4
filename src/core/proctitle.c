/* SPDX-License-Identifier: BSD-2-Clause */
#include "core/proctitle.h"

#include <string.h>
#include <sys/prctl.h>

void proctitle_set(int argc, char **argv, const char *title)
{
	if (argc < 1 || !argv[0])
		return;
	/* argv strings are contiguous; reuse their whole span */
	char *start = argv[0];
	char *end = argv[0] + strlen(argv[0]) + 1;
	for (int i = 1; i < argc; i++)
		if (argv[i] == end)
			end = argv[i] + strlen(argv[i]) + 1;
	size_t room = (size_t)(end - start);
	size_t n = strlen(title);
	if (n >= room)
		n = room - 1;
	memcpy(start, title, n);
	memset(start + n, 0, room - n);
	for (int i = 1; i < argc; i++)
		argv[i] = start + room - 1; /* now empty strings */
	prctl(PR_SET_NAME, title, 0, 0, 0);
}
