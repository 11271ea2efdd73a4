/* SPDX-License-Identifier: BSD-2-Clause */
#include "backends/uring_restrict.h"

#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* liburing 2.3 (Debian 12) declares io_uring_register_restrictions and io_uring_enable_rings
 * but its shared library does not export them: the system call directly. */
static int ring_register(struct io_uring *ring, unsigned op, void *arg, unsigned n)
{
	return syscall(__NR_io_uring_register, ring->ring_fd, op, arg, n) < 0 ? -errno : 0;
}

int uring_restrict_and_enable(struct io_uring *ring, const uint8_t *ops, size_t nops,
			      uint8_t flags)
{
	struct io_uring_restriction res[16];
	if (nops + 1 > sizeof(res) / sizeof(res[0]))
		return -E2BIG;
	memset(res, 0, sizeof(res));
	for (size_t i = 0; i < nops; i++) {
		res[i].opcode = IORING_RESTRICTION_SQE_OP;
		res[i].sqe_op = ops[i];
	}
	res[nops].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
	res[nops].sqe_flags = flags;
	/* no IORING_RESTRICTION_REGISTER_OP: once enabled, nothing more can be registered */
	int rc = ring_register(ring, IORING_REGISTER_RESTRICTIONS, res, (unsigned)nops + 1);
	if (rc < 0)
		return rc;
	return ring_register(ring, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
}
