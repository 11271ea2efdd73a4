/* SPDX-License-Identifier: BSD-2-Clause */
#include "ctl/migconnect.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int migrate_hostport(const char *spec, char *host, size_t hostlen, const char **port)
{
	const char *colon = strrchr(spec, ':');
	host[0] = '\0';
	*port = colon ? colon + 1 : spec;
	if (!colon)
		return 0;
	size_t n = (size_t)(colon - spec);
	if (n >= hostlen)
		return -EINVAL;
	memcpy(host, spec, n);
	host[n] = '\0';
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	}
	return 0;
}

int migrate_connect(const char *spec, char *err, size_t errlen)
{
	char host[256];
	const char *port;
	if (migrate_hostport(spec, host, sizeof(host), &port) < 0 || !host[0] || !*port) {
		snprintf(err, errlen, "%s: give <host>:<port>", spec);
		return -EINVAL;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai = NULL;
	int rc = getaddrinfo(host, port, &hints, &ai);
	if (rc) {
		snprintf(err, errlen, "%s: %s", spec, gai_strerror(rc));
		return -ENOENT;
	}
	int fd = -1, e = 0;
	for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			e = errno;
		} else if (connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
			e = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(ai);
	if (fd < 0) {
		e = e ? e : EHOSTUNREACH;
		snprintf(err, errlen, "%s: %s (is bhyve -R waiting there?)", spec, strerror(e));
		return -e;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}
