/* SPDX-License-Identifier: BSD-2-Clause */
/* The TCP connection a live migration travels on: bhyvectl --migrate and vm migrate open it and
 * hand it to the source bhyve over its control socket (bhyve itself opens no sockets). */
#ifndef KB_MIGCONNECT_H
#define KB_MIGCONNECT_H

#include <stddef.h>

/* Split "[<host>:]<port>" (host a name, an IPv4 address or a [v6addr]) into host (the brackets
 * taken off; "" when spec has no host) and *port (points into spec). 0, or -EINVAL when the host
 * does not fit hostlen. */
int migrate_hostport(const char *spec, char *host, size_t hostlen, const char **port);

/* Connect to spec, "<host>:<port>" ("[v6addr]:<port>" too). The socket's descriptor (TCP_NODELAY,
 * close-on-exec), or -errno with one line in err: -EINVAL for a spec without both parts,
 * -ENOENT when the host does not resolve, -ECONNREFUSED when nothing listens there yet. */
int migrate_connect(const char *spec, char *err, size_t errlen);

#endif
