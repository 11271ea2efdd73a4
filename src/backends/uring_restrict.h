/* SPDX-License-Identifier: BSD-2-Clause */
/* io_uring's operations run in the kernel without passing through seccomp: a ring the sandbox
 * leaves open could open files or sockets that the system-call filter forbids. A ring created
 * with IORING_SETUP_R_DISABLED is therefore limited to the operations its user submits (and no
 * further registrations) before it is enabled. */
#ifndef KB_URING_RESTRICT_H
#define KB_URING_RESTRICT_H

#include <liburing.h>
#include <stddef.h>
#include <stdint.h>

/* Allow only OPS (IORING_OP_*) with no SQE flags but FLAGS (IOSQE_*), then enable the ring.
 * 0 or -errno (the ring stays disabled: the caller gives it up). */
int uring_restrict_and_enable(struct io_uring *ring, const uint8_t *ops, size_t nops,
			      uint8_t flags);

#endif
