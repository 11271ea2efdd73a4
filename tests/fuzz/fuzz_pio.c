/* SPDX-License-Identifier: BSD-2-Clause */
/* The generic guest-I/O fuzzer: a VM as bhyve assembles it (platform devices, host bridge, LPC
 * bridge with com1 and com2) and a sequence of port I/O and MMIO accesses decoded from the input
 * (see fuzz_generic_op), dispatched through the I/O bus as the vCPU threads dispatch KVM exits.
 * Each input gets a freshly built VM, so a crash reproduces from its input alone.
 *
 * The serial ports use unix-socket backends in a private directory. A client of our own is
 * connected to com1, so that serial input can arrive while the guest programs the UART: an op
 * byte with bits 1 and 5-7 set (an MMIO access with a repeat count, otherwise meaningless) sends
 * 1 + bits 2-4 bytes from the input to com1 and lets the event loop handle them. Nothing else
 * runs the loop, and never once the guest has asked the VM to stop. Guest output is read and
 * dropped; nothing reaches the fuzzer's stdout. The work bounds of fixture.h apply to each
 * input. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/exitcode.h"
#include "core/vm.h"
#include "fixture.h"

#define RAM_SIZE (16u << 20)
#define HOST_INPUT_OP 0xE2 /* bits that mark the serial-input op */

static char com1_path[108], com1[160], com2[160];
static const char *const config[] = {
    "pci.0.0.0.device=hostbridge", "pci.0.31.0.device=lpc", com1, com2, NULL,
};

/* The host side: the com1 client and a way to run the event loop for one round. */
struct host {
	int client; /* connected to com1's socket */
	int wake;   /* eventfd whose handler stops the loop after the round it is in */
};

static void on_wake(int fd, uint32_t events, void *opaque)
{
	uint64_t v;
	ssize_t r = read(fd, &v, sizeof(v));
	(void)r;
	evloop_stop(opaque, 0);
}

/* Run the event loop until it has handled what is ready now: the backend accepting our client,
 * input for the UART, output to flush, input the guest made room for. The round ends at our
 * eventfd; the stop it requests is seen at the start of the next round. */
static void pump(struct vm *vm, struct host *h)
{
	if (atomic_load(&vm->exit_code) >= 0)
		return; /* the VM is stopping: its loop would return at once */
	uint64_t one = 1;
	FUZZ_CHECK(write(h->wake, &one, sizeof(one)) == sizeof(one), "eventfd: %s",
		   strerror(errno));
	evloop_run(vm->ev);
	char sink[4096];
	while (recv(h->client, sink, sizeof(sink), MSG_DONTWAIT) > 0)
		; /* the guest's output */
}

static void host_attach(struct vm *vm, struct host *h)
{
	h->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	FUZZ_CHECK(h->wake >= 0, "eventfd: %s", strerror(errno));
	FUZZ_CHECK(evloop_add_fd(vm->ev, h->wake, EPOLLIN, on_wake, vm->ev), "evloop_add_fd");
	h->client = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	FUZZ_CHECK(h->client >= 0, "socket: %s", strerror(errno));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", com1_path);
	FUZZ_CHECK(connect(h->client, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect %s: %s",
		   com1_path, strerror(errno));
	pump(vm, h); /* the backend accepts */
}

static void host_input(struct vm *vm, struct host *h, uint8_t op, struct fuzz_input *in)
{
	uint8_t buf[8];
	unsigned n = 1 + ((op >> 2) & 7);
	for (unsigned i = 0; i < n; i++)
		buf[i] = in_u8(in);
	ssize_t r = send(h->client, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)r; /* a full socket buffer drops them, as a line would */
	pump(vm, h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!com1[0]) {
		snprintf(com1_path, sizeof(com1_path), "%s/com1", fuzz_tmpdir());
		snprintf(com1, sizeof(com1), "lpc.com1.path=unix=%s", com1_path);
		snprintf(com2, sizeof(com2), "lpc.com2.path=unix=%s/com2", fuzz_tmpdir());
	}
	fuzz_work_begin();
	struct vm *vm = fuzz_vm_create(config, RAM_SIZE, true);
	struct host h;
	host_attach(vm, &h);
	fuzz_check_bus(&vm->bus);
	struct fuzz_input in = {data, size};
	while (in.left) {
		uint8_t op = in_u8(&in);
		if ((op & HOST_INPUT_OP) == HOST_INPUT_OP)
			host_input(vm, &h, op, &in);
		else
			fuzz_generic_op(vm, op, &in);
		fuzz_check_bus(&vm->bus);
		int code = atomic_load(&vm->exit_code);
		FUZZ_CHECK(code >= -1 && code <= BHYVE_EXIT_ERROR, "exit code %d requested", code);
	}
	fuzz_work_check();
	fuzz_vm_destroy(vm);
	close(h.client);
	close(h.wake);
	fuzz_work_end();
	return 0;
}
