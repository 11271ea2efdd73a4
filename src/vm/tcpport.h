/* SPDX-License-Identifier: BSD-2-Clause */
/* Finding a TCP port nothing listens on yet (graphics_port, vm console --web). */
#ifndef KBHYVE_VM_TCPPORT_H
#define KBHYVE_VM_TCPPORT_H

/* The first port in [from, from + count) that binds at address listen (an IP literal or a
 * host name), or 0 when none does or listen does not resolve. */
unsigned tcp_first_free_port(const char *listen, unsigned from, unsigned count);

#endif
