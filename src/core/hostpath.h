/* SPDX-License-Identifier: BSD-2-Clause */
/* The host files a VM uses, as its backends open them: disk images, firmware and VARS files,
 * consoles, sockets. The sandbox (src/sandbox/) confines the file system to exactly this list.
 * Filled during setup, on the main thread, before the sandbox is entered. */
#ifndef KB_HOSTPATH_H
#define KB_HOSTPATH_H

#include <stddef.h>

enum {
	HOSTPATH_READ = 1u << 0,  /* read the file */
	HOSTPATH_WRITE = 1u << 1, /* write (and truncate) the file */
	HOSTPATH_UNLINK = 1u << 2 /* remove the file at exit: needs the right in its folder */
};

struct hostpath {
	char *path;
	unsigned access;
};

/* Record PATH with ACCESS (HOSTPATH_* bits; a path noted twice gets the union). 0 or -ENOMEM. */
int hostpath_note(const char *path, unsigned access);
/* The list so far; valid until the next hostpath_note. It lives as long as the process. */
const struct hostpath *hostpath_list(size_t *n);

#endif
