/* SPDX-License-Identifier: BSD-2-Clause */
/* uring_restrict_and_enable on a real io_uring ring: what is allowed runs, any other operation,
 * SQE flag or registration is refused by the kernel. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/uring_restrict.h"

/* Submits one prepared SQE and returns its completion's result. */
static int run_one(struct io_uring *ring)
{
	assert_int_equal(io_uring_submit(ring), 1);
	struct io_uring_cqe *cqe;
	assert_int_equal(io_uring_wait_cqe(ring, &cqe), 0);
	int res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return res;
}

static void test_only_listed_operations_run(void **state)
{
	(void)state;
	struct io_uring ring;
	int e = io_uring_queue_init(8, &ring, IORING_SETUP_R_DISABLED);
	if (e == -ENOSYS || e == -EPERM)
		skip(); /* io_uring off on this kernel: blockif uses worker threads */
	assert_int_equal(e, 0);
	static const uint8_t ops[] = {IORING_OP_READV};
	assert_int_equal(uring_restrict_and_enable(&ring, ops, 1, IOSQE_ASYNC), 0);

	char path[] = "/tmp/kb-uring-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, "restricted", 10), 10);
	char buf[16] = "";
	struct iovec iov = {.iov_base = buf, .iov_len = 10};

	io_uring_prep_readv(io_uring_get_sqe(&ring), fd, &iov, 1, 0);
	assert_int_equal(run_one(&ring), 10);
	assert_memory_equal(buf, "restricted", 10);

	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	io_uring_prep_readv(sqe, fd, &iov, 1, 0);
	sqe->flags |= IOSQE_ASYNC; /* an allowed flag */
	assert_int_equal(run_one(&ring), 10);

	io_uring_prep_writev(io_uring_get_sqe(&ring), fd, &iov, 1, 0);
	assert_int_equal(run_one(&ring), -EACCES); /* not listed */
	io_uring_prep_openat(io_uring_get_sqe(&ring), AT_FDCWD, "/etc/hostname", O_RDONLY, 0);
	assert_int_equal(run_one(&ring), -EACCES);
	io_uring_prep_nop(io_uring_get_sqe(&ring));
	assert_int_equal(run_one(&ring), -EACCES);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_readv(sqe, fd, &iov, 1, 0);
	sqe->flags |= IOSQE_IO_DRAIN; /* a flag not allowed */
	assert_int_equal(run_one(&ring), -EACCES);

	/* and nothing can be registered any more */
	int efd = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(io_uring_register_eventfd(&ring, efd), -EACCES);
	close(efd);
	close(fd);
	io_uring_queue_exit(&ring);
}

static void test_refuses_too_many_operations(void **state)
{
	(void)state;
	struct io_uring ring;
	int e = io_uring_queue_init(8, &ring, IORING_SETUP_R_DISABLED);
	if (e == -ENOSYS || e == -EPERM)
		skip();
	assert_int_equal(e, 0);
	uint8_t ops[40] = {0};
	assert_int_equal(uring_restrict_and_enable(&ring, ops, sizeof(ops), 0), -E2BIG);
	io_uring_queue_exit(&ring);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_only_listed_operations_run),
	    cmocka_unit_test(test_refuses_too_many_operations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
