/* SPDX-License-Identifier: BSD-2-Clause */
/* libFuzzer target for the control-socket server (src/core/ctl.c on its event loop, and the
 * line assembly and request parsing of src/ctl/ctlproto.c): a VM with its control socket in the
 * fuzzer's private directory and up to 20 local clients that connect, send requests in chunks of
 * any size and content, half-close, close and read, while the loop runs between steps. A device
 * counter source whose number of lines the input sets lets replies reach the size cap.
 *
 * Checked on what each client reads (the product's line splitter on the client side): the first
 * line is the greeting (or the one-line refusal past the connection limit), no line is longer
 * than CTL_REPLY_LINE_MAX, a client never gets more replies ("ok"/"error: ...") than the request
 * lines it sent (an over-long line counts once), plus ASan/UBSan and the work bounds of
 * fixture.h.
 *
 * Input: operations, op byte; low 3 bits pick the operation, bits 3-7 the client:
 *   0 connect   a new client
 *   1 send      length u8, bytes (no newline is added)
 *   2 request   a well-formed request line: command index u8
 *   3 shutdown  the client's write side (EOF for the server)
 *   4 close
 *   5 read      what the server sent, checked
 *   6 loop      one event-loop pass
 *   7 counters  lines u16 (modulo 1400) in the next "stats" reply */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/ctl.h"
#include "core/vm.h"
#include "ctl/ctlproto.h"
#include "fixture.h"

#define RAM_SIZE (1u << 20)
#define MAX_CLIENTS 20
#define MAX_OPS 512

struct client {
	int fd;			      /* -1: none */
	unsigned lines_sent, replies; /* requests the server may answer, answers seen */
	size_t line_len;	      /* bytes sent since the last newline */
	bool long_line;
	bool greeted, refused;
	struct ctl_linebuf in;
};

static unsigned stats_lines;

static void stats_fn(struct ctl_stats_out *out, void *opaque)
{
	/* lines of ~220 bytes: 1200 of them pass the reply cap (CTL_REPLY_MAX) */
	static char filler[201];
	if (!filler[0])
		memset(filler, 'v', sizeof(filler) - 1);
	for (unsigned i = 0; i < stats_lines; i++) {
		char key[32];
		snprintf(key, sizeof(key), "counter%u", i);
		ctl_stats_printf(out, key, "%u \x01control %s", i, filler);
	}
}

static void client_read(struct client *c)
{
	for (;;) {
		size_t room;
		char *tail = ctl_linebuf_tail(&c->in, &room);
		ssize_t n = recv(c->fd, tail, room, MSG_DONTWAIT);
		if (n <= 0)
			break;
		ctl_linebuf_commit(&c->in, (size_t)n);
		char line[CTL_REPLY_LINE_MAX + 1];
		size_t len;
		enum ctl_line_status st;
		while ((st = ctl_linebuf_next(&c->in, line, sizeof(line), &len)) != CTL_LINE_NONE) {
			FUZZ_CHECK(st == CTL_LINE_OK, "the server sent a line over %d bytes",
				   CTL_REPLY_LINE_MAX);
			if (!c->greeted && !c->refused) {
				int version;
				if (strcmp(line, "error: too many control connections") == 0) {
					c->refused = true;
					continue;
				}
				FUZZ_CHECK(ctl_parse_greeting(line, &version) == 0 &&
					       version == CTL_PROTO_VERSION,
					   "first line \"%.80s\" is not the greeting", line);
				c->greeted = true;
				continue;
			}
			FUZZ_CHECK(!c->refused, "a refused client got \"%.80s\"", line);
			const char *msg;
			if (ctl_reply_kind(line, &msg) != 0)
				c->replies++;
			FUZZ_CHECK(c->replies <= c->lines_sent, "%u replies to %u request lines",
				   c->replies, c->lines_sent);
		}
	}
}

/* Count the requests the server may answer: each line ended by a newline, and each line that
 * grew past CTL_REQUEST_MAX (answered with an error as soon as it does, once; its newline then
 * ends the skipped line without a reply). A "\r" before the newline may or may not count
 * towards the length, so a line at the limit counts as long: an upper bound is all we need. */
static void client_send(struct client *c, const char *buf, size_t len)
{
	ssize_t n = send(c->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			c->lines_sent += !c->long_line;
			c->line_len = 0;
			c->long_line = false;
		} else if (++c->line_len >= CTL_REQUEST_MAX && !c->long_line) {
			c->long_line = true;
			c->lines_sent++;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[160];
	if (!path[0]) {
		setenv("KBHYVE_RUNDIR", fuzz_tmpdir(), 1);
		snprintf(path, sizeof(path), "%s/vmm/fuzzvm", fuzz_tmpdir());
	}
	fuzz_work_begin();
	struct fuzz_input in = {data, size};
	const char *const assign[] = {NULL};
	struct vm *vm = fuzz_vm_create(assign, RAM_SIZE, false);
	vm->name = "fuzzvm";
	stats_lines = 0;
	FUZZ_CHECK(ctl_register_stats(vm, "dev0", stats_fn, NULL) == 0, "ctl_register_stats");
	char err[256];
	FUZZ_CHECK(ctl_init(vm, err, sizeof(err)) == 0, "ctl_init: %s", err);
	struct client cl[MAX_CLIENTS];
	for (int i = 0; i < MAX_CLIENTS; i++)
		cl[i].fd = -1;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);

	for (int n = 0; n < MAX_OPS && in.left; n++) {
		uint8_t op = in_u8(&in);
		struct client *c = &cl[(op >> 3) % MAX_CLIENTS];
		switch (op & 7) {
		case 0:
			if (c->fd >= 0)
				break;
			memset(c, 0, sizeof(*c));
			ctl_linebuf_init(&c->in, CTL_REPLY_LINE_MAX);
			c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
			FUZZ_CHECK(c->fd >= 0, "socket: %s", strerror(errno));
			FUZZ_CHECK(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ||
				       errno == EAGAIN,
				   "connect %s: %s", path, strerror(errno));
			break;
		case 1: {
			char buf[256];
			size_t len = in_u8(&in);
			for (size_t i = 0; i < len; i++)
				buf[i] = (char)in_u8(&in);
			if (c->fd >= 0)
				client_send(c, buf, len);
			break;
		}
		case 2: {
			char buf[64];
			int len =
			    snprintf(buf, sizeof(buf), "%s\n",
				     ctl_cmd_name((enum ctl_cmd)(in_u8(&in) % CTL_CMD_COUNT)));
			if (c->fd >= 0)
				client_send(c, buf, (size_t)len);
			break;
		}
		case 3:
			if (c->fd >= 0)
				shutdown(c->fd, SHUT_WR);
			break;
		case 4:
			if (c->fd >= 0)
				close(c->fd);
			c->fd = -1;
			break;
		case 5:
			if (c->fd >= 0)
				client_read(c);
			break;
		case 6:
			fuzz_loop_pass(vm);
			break;
		case 7:
			stats_lines = in_u16(&in) % 1400;
			break;
		}
	}
	fuzz_loop_pass(vm);
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (cl[i].fd >= 0)
			client_read(&cl[i]);
	fuzz_work_check();
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (cl[i].fd >= 0)
			close(cl[i].fd);
	fuzz_vm_destroy(vm);
	fuzz_work_end();
	return 0;
}
