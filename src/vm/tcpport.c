/* SPDX-License-Identifier: BSD-2-Clause */
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vm/tcpport.h"

unsigned tcp_first_free_port(const char *listen, unsigned from, unsigned count)
{
	for (unsigned p = from; p < from + count && p <= 65535; p++) {
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
		struct addrinfo *res;
		char svc[8];
		snprintf(svc, sizeof(svc), "%u", p);
		if (getaddrinfo(listen, svc, &hints, &res) != 0)
			return 0;
		int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bool ok = fd >= 0 && bind(fd, res->ai_addr, res->ai_addrlen) == 0;
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		if (ok)
			return p;
	}
	return 0;
}
