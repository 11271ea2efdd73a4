/* SPDX-License-Identifier: BSD-2-Clause */
/* The VM control channel: protocol parsing and formatting (ctl/ctlproto), and the server
 * (core/ctl) on a real socket file, served by a real event loop for a VM built without KVM,
 * driven by the real client (ctl/ctlclient) and by raw sockets for malformed input. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "acpi/acpi.h"
#include "core/ctl.h"
#include "core/exitcode.h"
#include "core/vcpu.h"
#include "core/vm.h"
#include "ctl/ctlclient.h"
#include "ctl/ctlproto.h"
#include "devices/pm.h"
#include "snapshot/snapstate.h"

DEVSET_DECLARE(platform_devices);

#define TMO 5000

static char rundir[64];

/* ---------------- protocol ---------------- */

static void test_parse_requests(void **state)
{
	static const struct {
		const char *line;
		enum ctl_cmd cmd;
	} good[] = {
	    {"status", CTL_CMD_STATUS},
	    {"stats", CTL_CMD_STATS},
	    {"destroy", CTL_CMD_DESTROY},
	    {"force-reset", CTL_CMD_FORCE_RESET},
	    {"force-poweroff", CTL_CMD_FORCE_POWEROFF},
	    {"poweroff", CTL_CMD_POWEROFF},
	    {"help", CTL_CMD_HELP},
	    {"  \tstats \t ", CTL_CMD_STATS},
	};
	char err[128];
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		enum ctl_cmd cmd = CTL_CMD_COUNT;
		assert_int_equal(
		    ctl_parse_request(good[i].line, strlen(good[i].line), &cmd, err, sizeof(err)),
		    0);
		assert_int_equal(cmd, good[i].cmd);
		if (good[i].line[0] != ' ')
			assert_string_equal(ctl_cmd_name(cmd), good[i].line);
	}
}

static void expect_bad(const char *line, size_t len, const char *msg)
{
	char err[128] = "";
	enum ctl_cmd cmd;
	assert_int_equal(ctl_parse_request(line, len, &cmd, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, msg);
}

/* migrate takes one optional number, the downtime target; nothing else takes an argument */
static void test_parse_migrate_argument(void **state)
{
	(void)state;
	enum ctl_cmd cmd;
	long arg;
	char err[160];
	assert_int_equal(ctl_parse_request_arg("migrate", 7, &cmd, &arg, err, sizeof(err)), 0);
	assert_int_equal(cmd, CTL_CMD_MIGRATE);
	assert_int_equal(arg, -1);
	assert_int_equal(ctl_parse_request_arg("migrate  250 ", 13, &cmd, &arg, err, sizeof(err)),
			 0);
	assert_int_equal(arg, 250);
	static const char *const bad[] = {"migrate 0", "migrate x", "migrate 25x", "migrate -5",
					  "migrate 3600001", "migrate 99999999999999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(
		    ctl_parse_request_arg(bad[i], strlen(bad[i]), &cmd, &arg, err, sizeof(err)),
		    -EINVAL);
		assert_string_equal(err, "'migrate' takes a downtime in milliseconds (1-3600000)");
	}
	assert_int_equal(ctl_parse_request_arg("stats 5", 7, &cmd, &arg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "'stats' takes no arguments");
	/* the plain parser takes none at all */
	assert_int_equal(ctl_parse_request("migrate 250", 11, &cmd, err, sizeof(err)), -EINVAL);
	assert_int_equal(ctl_parse_request("migrate", 7, &cmd, err, sizeof(err)), 0);
}

static void test_parse_malformed(void **state)
{
	expect_bad("", 0, "empty request (try 'help')");
	expect_bad(" \t ", 3, "empty request (try 'help')");
	expect_bad("STATUS", 6, "unknown request 'STATUS' (try 'help')");
	expect_bad("stat", 4, "unknown request 'stat' (try 'help')");
	expect_bad("statsx", 6, "unknown request 'statsx' (try 'help')");
	expect_bad("destroy now", 11, "'destroy' takes no arguments");
	expect_bad("stats\033[2J", 9, "request contains control characters");
	expect_bad("stats\0x", 7, "request contains control characters");
	expect_bad("stats\x7f", 6, "request contains control characters");
	char big[CTL_REQUEST_MAX + 2];
	memset(big, 'a', sizeof(big));
	expect_bad(big, CTL_REQUEST_MAX + 1, "request longer than 256 bytes");
	/* the echoed word is cut */
	expect_bad(big, 100,
		   "unknown request 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' (try 'help')");
}

static void feed(struct ctl_linebuf *lb, const char *s, size_t n)
{
	size_t room;
	char *tail = ctl_linebuf_tail(lb, &room);
	assert_true(n <= room);
	memcpy(tail, s, n);
	ctl_linebuf_commit(lb, n);
}

static void test_linebuf_partial(void **state)
{
	struct ctl_linebuf lb;
	char out[CTL_REQUEST_MAX + 1];
	size_t len;
	ctl_linebuf_init(&lb, CTL_REQUEST_MAX);
	assert_int_equal(ctl_linebuf_next(&lb, out, sizeof(out), &len), CTL_LINE_NONE);
	feed(&lb, "sta", 3);
	assert_int_equal(ctl_linebuf_next(&lb, out, sizeof(out), &len), CTL_LINE_NONE);
	feed(&lb, "ts\r", 3);
	assert_int_equal(ctl_linebuf_next(&lb, out, sizeof(out), &len), CTL_LINE_NONE);
	feed(&lb, "\nhel", 4);
	assert_int_equal(ctl_linebuf_next(&lb, out, sizeof(out), &len), CTL_LINE_OK);
	assert_string_equal(out, "stats");
	assert_int_equal(len, 5);
	assert_int_equal(ctl_linebuf_next(&lb, out, sizeof(out), &len), CTL_LINE_NONE);
	feed(&lb, "p\n\nx\0y\n", 7);
	assert_int_equal(ctl_linebuf_next(&lb, out, sizeof(out), &len), CTL_LINE_OK);
	assert_string_equal(out, "help");
	assert_int_equal(ctl_linebuf_next(&lb, out, sizeof(out), &len), CTL_LINE_OK);
	assert_int_equal(len, 0);
	assert_int_equal(ctl_linebuf_next(&lb, out, sizeof(out), &len), CTL_LINE_OK);
	assert_int_equal(len, 3); /* the NUL byte is kept for the parser to reject */
	assert_memory_equal(out, "x\0y", 3);
	assert_int_equal(ctl_linebuf_next(&lb, out, sizeof(out), &len), CTL_LINE_NONE);
}

static void test_linebuf_oversized(void **state)
{
	struct ctl_linebuf lb;
	char out[17];
	size_t len, room;
	ctl_linebuf_init(&lb, 16);
	/* exactly cap bytes, with CR LF: accepted */
	feed(&lb, "0123456789abcdef\r\n", 18);
	assert_int_equal(ctl_linebuf_next(&lb, out, sizeof(out), &len), CTL_LINE_OK);
	assert_int_equal(len, 16);
	/* cap + 1 bytes with a newline: reported, nothing left over */
	feed(&lb, "0123456789abcdefg\n", 18);
	assert_int_equal(ctl_linebuf_next(&lb, out, sizeof(out), &len), CTL_LINE_TOO_LONG);
	assert_int_equal(ctl_linebuf_next(&lb, out, sizeof(out), &len), CTL_LINE_NONE);
	/* a long line arriving in pieces: reported once when the buffer fills, then skipped */
	feed(&lb, "aaaaaaaaaaaaaaaaaa", 18);
	assert_int_equal(ctl_linebuf_next(&lb, out, sizeof(out), &len), CTL_LINE_TOO_LONG);
	for (int i = 0; i < 100; i++) {
		ctl_linebuf_tail(&lb, &room);
		assert_int_equal(room, 18);
		feed(&lb, "bbbbbbbbbb", 10);
		assert_int_equal(ctl_linebuf_next(&lb, out, sizeof(out), &len), CTL_LINE_NONE);
	}
	feed(&lb, "cc\nstatus\n", 10);
	assert_int_equal(ctl_linebuf_next(&lb, out, sizeof(out), &len), CTL_LINE_OK);
	assert_string_equal(out, "status");
	assert_int_equal(ctl_linebuf_next(&lb, out, sizeof(out), &len), CTL_LINE_NONE);
	/* the cap never exceeds the buffer */
	ctl_linebuf_init(&lb, 1u << 20);
	assert_int_equal(lb.cap, CTL_REPLY_LINE_MAX);
	ctl_linebuf_tail(&lb, &room);
	assert_int_equal(room, sizeof(lb.buf));
}

static void test_format_replies(void **state)
{
	struct ctl_buf b;
	ctl_buf_init(&b, 4096);
	assert_int_equal(ctl_buf_greeting(&b), 0);
	assert_int_equal(ctl_buf_data(&b, "vcpu0.exits", "%d", 42), 0);
	assert_int_equal(ctl_buf_data(&b, "name", "a\nb\tc"), 0);
	assert_int_equal(ctl_buf_data(&b, "bad key", "1"), -EINVAL);
	assert_int_equal(ctl_buf_data(&b, "ok:", "1"), -EINVAL);
	assert_int_equal(ctl_buf_data(&b, "", "1"), -EINVAL);
	assert_int_equal(ctl_buf_error(&b, "no %s\r", "way"), 0);
	assert_int_equal(ctl_buf_ok(&b), 0);
	const char want[] = "kbhyve-ctl 1\nvcpu0.exits 42\nname a?b?c\nerror: no way?\nok\n";
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.data, want, b.len);

	/* values are cut to one reply line */
	ctl_buf_reset(&b);
	char big[3000];
	memset(big, 'v', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(ctl_buf_data(&b, "k", "%s", big), 0);
	assert_int_equal(b.len, CTL_REPLY_LINE_MAX + 1);
	assert_int_equal(b.data[b.len - 1], '\n');

	/* the limit: a write that does not fit leaves the buffer as it was */
	ctl_buf_free(&b);
	ctl_buf_init(&b, 20);
	assert_int_equal(ctl_buf_data(&b, "a", "123456"), 0);
	assert_int_equal(ctl_buf_data(&b, "b", "123456789012"), -ENOSPC);
	assert_true(b.overflow);
	assert_int_equal(b.len, 9);
	assert_int_equal(ctl_buf_ok(&b), -ENOSPC);
	ctl_buf_consume(&b, 2);
	assert_memory_equal(b.data, "123456\n", 7);
	ctl_buf_free(&b);

	/* reply lines and greetings as the client sees them */
	const char *msg = NULL;
	int v = 0;
	assert_int_equal(ctl_reply_kind("ok", &msg), 1);
	assert_int_equal(ctl_reply_kind("error: bad", &msg), -1);
	assert_string_equal(msg, "bad");
	assert_int_equal(ctl_reply_kind("okay 1", &msg), 0);
	assert_int_equal(ctl_parse_greeting("kbhyve-ctl 1", &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(ctl_parse_greeting("kbhyve-ctl 7 extra", &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(ctl_parse_greeting("kbhyve-ctl", &v), -EPROTO);
	assert_int_equal(ctl_parse_greeting("kbhyve-ctl x", &v), -EPROTO);
	assert_int_equal(ctl_parse_greeting("kbhyve-ctl 0", &v), -EPROTO);
	assert_int_equal(ctl_parse_greeting("SSH-2.0-x", &v), -EPROTO);
}

static void test_names_and_paths(void **state)
{
	char err[256], path[108];
	assert_int_equal(ctl_name_check("vm-1_a.b", err, sizeof(err)), 0);
	assert_int_equal(ctl_name_check("", err, sizeof(err)), -EINVAL);
	assert_int_equal(ctl_name_check(".", err, sizeof(err)), -EINVAL);
	assert_int_equal(ctl_name_check("..", err, sizeof(err)), -EINVAL);
	assert_int_equal(ctl_name_check("a/b", err, sizeof(err)), -EINVAL);
	assert_int_equal(ctl_name_check("a b", err, sizeof(err)), -EINVAL);
	assert_int_equal(ctl_name_check("a\nb", err, sizeof(err)), -EINVAL);
	char longname[CTL_NAME_MAX + 2];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(ctl_name_check(longname, err, sizeof(err)), -EINVAL);

	setenv("KBHYVE_RUNDIR", "/x/run", 1);
	assert_int_equal(ctl_socket_path("guest", path, sizeof(path), err, sizeof(err)), 0);
	assert_string_equal(path, "/x/run/vmm/guest");
	unsetenv("KBHYVE_RUNDIR");
	assert_int_equal(ctl_socket_path("guest", path, sizeof(path), err, sizeof(err)), 0);
	assert_string_equal(path, "/run/kbhyve/vmm/guest");
	/* a name that fits FreeBSD's limit but not a unix socket path */
	longname[150] = '\0';
	assert_int_equal(ctl_socket_path(longname, path, sizeof(path), err, sizeof(err)),
			 -ENAMETOOLONG);
	assert_non_null(strstr(err, "longer than 107 bytes"));
	setenv("KBHYVE_RUNDIR", rundir, 1);
}

/* ---------------- the server ---------------- */

struct tvm {
	struct vm *vm;
	pthread_t loop;
	int loop_rc;
	bool running;
	char path[108];
};

static struct vm *make_vm(const char *name, int ncpus)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	assert_non_null(vm);
	vm->name = name;
	vm->vm_fd = vm->kvm_fd = -1;
	vm->ev = evloop_new();
	assert_non_null(vm->ev);
	atomic_store(&vm->exit_code, -1);
	iobus_init(&vm->bus);
	vm->mem.size = 256ull << 20;
	vm->nvcpus = ncpus;
	vm->vcpus = calloc((size_t)ncpus, sizeof(*vm->vcpus));
	for (int i = 0; i < ncpus; i++) {
		vm->vcpus[i] = calloc(1, sizeof(struct vcpu));
		vm->vcpus[i]->vm = vm;
		vm->vcpus[i]->index = i;
	}
	return vm;
}

/* Everything but the struct itself (a test may keep a pointer to it). */
static void release_vm(struct vm *vm)
{
	vm_run_destroy_hooks(vm);
	evloop_free(vm->ev);
	vm->ev = NULL;
	iobus_fini(&vm->bus);
	for (int i = 0; i < vm->nvcpus; i++)
		free(vm->vcpus[i]);
	free(vm->vcpus);
}

static void *loop_thread(void *arg)
{
	struct tvm *t = arg;
	t->loop_rc = evloop_run(t->vm->ev);
	return NULL;
}

static void start(struct tvm *t, const char *name, int ncpus)
{
	char err[256] = "";
	memset(t, 0, sizeof(*t));
	t->vm = make_vm(name, ncpus);
	int rc = ctl_init(t->vm, err, sizeof(err));
	if (rc)
		fail_msg("ctl_init: %s", err);
	snprintf(t->path, sizeof(t->path), "%s/vmm/%s", rundir, name);
	struct stat st;
	assert_int_equal(lstat(t->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(pthread_create(&t->loop, NULL, loop_thread, t), 0);
	t->running = true;
}

/* Wait for the event loop to end (a request stopped it, or stop with `code`). */
static int join(struct tvm *t, int code)
{
	if (code >= 0)
		evloop_stop(t->vm->ev, code);
	pthread_join(t->loop, NULL);
	t->running = false;
	return t->loop_rc;
}

static void finish(struct tvm *t)
{
	if (t->running)
		join(t, 99);
	release_vm(t->vm);
	free(t->vm);
	struct stat st;
	assert_int_equal(lstat(t->path, &st), -1); /* the socket file is gone */
}

static void conn(struct tvm *t, struct ctl_conn *c)
{
	char err[256] = "";
	int rc = ctl_connect(c, t->path, TMO, err, sizeof(err));
	if (rc)
		fail_msg("ctl_connect: %s", err);
	assert_int_equal(c->version, CTL_PROTO_VERSION);
}

struct kv {
	int n;
	char keys[2000][CTL_KEY_MAX + 1];
	char vals[2000][128];
};

static void collect(const char *key, const char *value, void *opaque)
{
	struct kv *kv = opaque;
	if (kv->n < 2000) {
		snprintf(kv->keys[kv->n], sizeof(kv->keys[0]), "%s", key);
		snprintf(kv->vals[kv->n], sizeof(kv->vals[0]), "%.127s", value);
		kv->n++;
	}
}

static const char *get(const struct kv *kv, const char *key)
{
	for (int i = 0; i < kv->n; i++)
		if (strcmp(kv->keys[i], key) == 0)
			return kv->vals[i];
	return NULL;
}

static int req(struct ctl_conn *c, const char *r, struct kv *kv, char *err, size_t errlen)
{
	if (kv)
		kv->n = 0;
	return ctl_request(c, r, kv ? collect : NULL, kv, TMO, err, errlen);
}

struct devstats {
	uint64_t packets;
};

static void dev_stats(struct ctl_stats_out *out, void *opaque)
{
	struct devstats *d = opaque;
	ctl_stats_u64(out, "packets", d->packets);
	ctl_stats_printf(out, "mode", "%s", "fast\npath");
	ctl_stats_u64(out, "bad key", 1); /* dropped */
}

static void test_status_and_stats(void **state)
{
	struct kv *kv = calloc(1, sizeof(*kv));
	struct devstats ds = {.packets = 77};
	struct tvm t;
	memset(&t, 0, sizeof(t));
	t.vm = make_vm("statvm", 2);
	/* a device registers before the socket exists (as during machine setup) */
	assert_int_equal(ctl_register_stats(t.vm, "net0", dev_stats, &ds), 0);
	assert_int_equal(ctl_register_stats(t.vm, "net0", dev_stats, &ds), -EEXIST);
	assert_int_equal(ctl_register_stats(t.vm, "", dev_stats, &ds), -EINVAL);
	assert_int_equal(ctl_register_stats(t.vm, "a.b", dev_stats, &ds), -EINVAL);
	assert_int_equal(ctl_register_stats(t.vm, "x", NULL, NULL), -EINVAL);
	release_vm(t.vm); /* drops the registration with the VM */
	free(t.vm);

	start(&t, "statvm", 2);
	assert_int_equal(ctl_register_stats(t.vm, "net0", dev_stats, &ds), 0);
	t.vm->vcpus[0]->stats[VSTAT_EXITS] = 123;
	t.vm->vcpus[1]->stats[VSTAT_EXITS] = 5;
	t.vm->vcpus[1]->stats[VSTAT_HALT_PROBES] = 9;
	t.vm->vcpus[1]->stats[VSTAT_MMIO] = 1ull << 40;
	usleep(20000);

	struct ctl_conn c;
	char err[256];
	conn(&t, &c);
	assert_int_equal(req(&c, "status", kv, err, sizeof(err)), 0);
	assert_string_equal(get(kv, "name"), "statvm");
	char pid[32];
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	assert_string_equal(get(kv, "pid"), pid);
	assert_string_equal(get(kv, "cpus"), "2");
	assert_string_equal(get(kv, "memory"), "268435456");
	assert_non_null(get(kv, "uptime_ms"));
	assert_true(atoll(get(kv, "uptime_ms")) >= 20);
	assert_int_equal(kv->n, 5);

	assert_int_equal(req(&c, "stats", kv, err, sizeof(err)), 0);
	assert_string_equal(get(kv, "vm.vcpus"), "2");
	assert_string_equal(get(kv, "vm.memory"), "268435456");
	assert_non_null(get(kv, "vm.uptime_ms"));
	assert_string_equal(get(kv, "vcpu0.exits"), "123");
	assert_string_equal(get(kv, "vcpu0.io"), "0");
	assert_string_equal(get(kv, "vcpu1.exits"), "5");
	assert_string_equal(get(kv, "vcpu1.halt_probes"), "9");
	assert_string_equal(get(kv, "vcpu1.mmio"), "1099511627776");
	assert_non_null(get(kv, "vcpu1.msr"));
	assert_non_null(get(kv, "vcpu1.intr"));
	assert_string_equal(get(kv, "net0.packets"), "77");
	assert_string_equal(get(kv, "net0.mode"), "fast?path");
	assert_int_equal(kv->n, 3 + 2 * VSTAT_MAX + 2);

	assert_int_equal(req(&c, "help", kv, err, sizeof(err)), 0);
	assert_string_equal(get(kv, "commands"),
			    "status stats destroy force-reset force-poweroff poweroff help checkpoint "
			    "suspend migrate");
	assert_int_equal(req(&c, "reboot", kv, err, sizeof(err)), -EREMOTEIO);
	assert_string_equal(err, "unknown request 'reboot' (try 'help')");
	/* the connection stays usable after an error */
	assert_int_equal(req(&c, "status", kv, err, sizeof(err)), 0);
	ctl_disconnect(&c);
	assert_int_equal(atomic_load(&t.vm->exit_code), -1);
	assert_int_equal(join(&t, 99), 99);
	finish(&t);
	free(kv);
}

/* checkpoint and suspend take three descriptors with the request; the server refuses what it
 * cannot save before touching the files (the guest side is in tests/testbed/in-l1-snapshot.sh) */
static void test_checkpoint_requests(void **state)
{
	(void)state;
	struct tvm t;
	struct ctl_conn c;
	char err[256];
	char path[] = "/tmp/kbhyve-ctl-ckpt-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	int fds[3] = {fd, fd, fd};
	start(&t, "ckptvm", 1);
	conn(&t, &c);
	assert_int_equal(req(&c, "checkpoint", NULL, err, sizeof(err)), -EREMOTEIO);
	assert_string_equal(err, "checkpoint needs three open files passed with the request "
				 "(FILE, FILE.kern, FILE.meta)");
	assert_int_equal(ctl_request_fds(&c, "suspend", fds, 2, NULL, NULL, TMO, err, sizeof(err)),
			 -EREMOTEIO);
	assert_string_equal(err, "suspend needs three open files passed with the request "
				 "(FILE, FILE.kern, FILE.meta)");
	/* the vCPUs of this VM never started */
	assert_int_equal(
	    ctl_request_fds(&c, "checkpoint", fds, 3, NULL, NULL, TMO, err, sizeof(err)),
	    -EREMOTEIO);
	assert_string_equal(err, "the guest is not running");
	/* descriptors sent with another request are dropped with it */
	assert_int_equal(ctl_request_fds(&c, "status", fds, 3, NULL, NULL, TMO, err, sizeof(err)),
			 0);
	assert_int_equal(req(&c, "suspend", NULL, err, sizeof(err)), -EREMOTEIO);
	assert_string_equal(err, "suspend needs three open files passed with the request "
				 "(FILE, FILE.kern, FILE.meta)");
	/* a device that cannot be saved is named, before anything is paused */
	assert_int_equal(snapshot_unsupported(t.vm, "pci.0.4.0", "ahci cannot be saved yet"), 0);
	assert_int_equal(
	    ctl_request_fds(&c, "checkpoint", fds, 3, NULL, NULL, TMO, err, sizeof(err)),
	    -EREMOTEIO);
	assert_string_equal(err, "pci.0.4.0: ahci cannot be saved yet");
	assert_int_equal(atomic_load(&t.vm->exit_code), -1);
	ctl_disconnect(&c);
	close(fd);
	finish(&t);
}

static void stop_case(const char *request, int want)
{
	struct tvm t;
	struct ctl_conn c;
	char err[256];
	start(&t, "stopvm", 1);
	conn(&t, &c);
	assert_int_equal(req(&c, request, NULL, err, sizeof(err)), 0);
	assert_int_equal(join(&t, -1), want); /* the request ended the event loop */
	assert_int_equal(atomic_load(&t.vm->exit_code), want);
	/* bhyve now destroys the VM: the client sees its connection close, the file is gone */
	vm_run_destroy_hooks(t.vm);
	assert_int_equal(ctl_wait_closed(&c, TMO), 0);
	ctl_disconnect(&c);
	finish(&t);
}

static void test_destroy(void **state)
{
	stop_case("destroy", BHYVE_EXIT_ERROR);
}

static void test_force_reset(void **state)
{
	stop_case("force-reset", BHYVE_EXIT_REBOOT);
}

static void test_force_poweroff(void **state)
{
	stop_case("force-poweroff", BHYVE_EXIT_POWEROFF);
}

static void test_stop_while_stopping(void **state)
{
	struct tvm t;
	struct ctl_conn c;
	char err[256];
	start(&t, "stopvm", 1);
	atomic_store(&t.vm->exit_code, BHYVE_EXIT_HALT); /* the guest got there first */
	conn(&t, &c);
	assert_int_equal(req(&c, "force-reset", NULL, err, sizeof(err)), -EREMOTEIO);
	assert_string_equal(err, "the VM is already stopping");
	assert_int_equal(atomic_load(&t.vm->exit_code), BHYVE_EXIT_HALT);
	ctl_disconnect(&c);
	finish(&t);
}

/* Raw sockets: what a careless or hostile client can send. */
static int raw_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct timeval tv = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* One line without its newline; "" at end of stream. */
static char *raw_line(int fd, char *buf, size_t len)
{
	size_t n = 0;
	while (n + 1 < len) {
		char ch;
		ssize_t r = read(fd, &ch, 1);
		if (r == 0)
			break;
		assert_int_equal(r, 1);
		if (ch == '\n')
			break;
		buf[n++] = ch;
	}
	buf[n] = '\0';
	return buf;
}

static void raw_send(int fd, const void *data, size_t len)
{
	assert_int_equal(send(fd, data, len, MSG_NOSIGNAL), (ssize_t)len);
}

static void test_malformed_requests(void **state)
{
	struct tvm t;
	char line[2048];
	start(&t, "rawvm", 1);
	int fd = raw_connect(t.path);
	assert_string_equal(raw_line(fd, line, sizeof(line)), "kbhyve-ctl 1");

	raw_send(fd, "bogus\n", 6);
	assert_string_equal(raw_line(fd, line, sizeof(line)),
			    "error: unknown request 'bogus' (try 'help')");
	raw_send(fd, "\n", 1);
	assert_string_equal(raw_line(fd, line, sizeof(line)), "error: empty request (try 'help')");
	raw_send(fd, "sta\0ts\n", 7);
	assert_string_equal(raw_line(fd, line, sizeof(line)),
			    "error: request contains control characters");
	raw_send(fd, "\xff\xfe\n", 3);
	assert_true(strncmp(raw_line(fd, line, sizeof(line)), "error: unknown request", 22) == 0);

	/* an oversized line, in pieces: one error, then the connection works again */
	char big[1000];
	memset(big, 'x', sizeof(big));
	for (int i = 0; i < 20; i++)
		raw_send(fd, big, sizeof(big));
	assert_string_equal(raw_line(fd, line, sizeof(line)),
			    "error: request longer than 256 bytes");
	raw_send(fd, "yyy\nhelp\n", 9);
	assert_true(strncmp(raw_line(fd, line, sizeof(line)), "commands ", 9) == 0);
	assert_string_equal(raw_line(fd, line, sizeof(line)), "ok");

	/* a request a byte at a time */
	const char *slow = "status\r\n";
	for (size_t i = 0; slow[i]; i++) {
		raw_send(fd, slow + i, 1);
		usleep(2000);
	}
	assert_string_equal(raw_line(fd, line, sizeof(line)), "name rawvm");
	while (strcmp(raw_line(fd, line, sizeof(line)), "ok") != 0)
		assert_true(line[0] != '\0' && strncmp(line, "error", 5) != 0);

	/* pipelined requests, then end of input: every one is answered, in order */
	raw_send(fd, "help\nnope\nhelp\n", 15);
	shutdown(fd, SHUT_WR);
	assert_true(strncmp(raw_line(fd, line, sizeof(line)), "commands ", 9) == 0);
	assert_string_equal(raw_line(fd, line, sizeof(line)), "ok");
	assert_string_equal(raw_line(fd, line, sizeof(line)),
			    "error: unknown request 'nope' (try 'help')");
	assert_true(strncmp(raw_line(fd, line, sizeof(line)), "commands ", 9) == 0);
	assert_string_equal(raw_line(fd, line, sizeof(line)), "ok");
	assert_string_equal(raw_line(fd, line, sizeof(line)), ""); /* then the server closes */
	close(fd);

	/* a client that goes away mid-request, and one that never reads its replies */
	fd = raw_connect(t.path);
	raw_send(fd, "sta", 3);
	close(fd);
	fd = raw_connect(t.path);
	for (int i = 0; i < 2000; i++) {
		if (send(fd, "stats\n", 6, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			break; /* the server stopped reading: it holds one reply at most */
	}
	close(fd);

	/* the server still answers */
	struct ctl_conn c;
	char err[256];
	conn(&t, &c);
	assert_int_equal(req(&c, "status", NULL, err, sizeof(err)), 0);
	ctl_disconnect(&c);
	assert_int_equal(atomic_load(&t.vm->exit_code), -1);
	finish(&t);
}

static void big_stats(struct ctl_stats_out *out, void *opaque)
{
	int lines = *(int *)opaque;
	char key[32];
	for (int i = 0; i < lines; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		ctl_stats_printf(out, key, "%0900d", i);
	}
}

static void count_lines(const char *key, const char *value, void *opaque)
{
	(*(int *)opaque)++;
}

static void test_large_replies(void **state)
{
	struct tvm t;
	int lines = 200; /* ~180 KiB: more than a socket buffer, less than the reply limit */
	start(&t, "bigvm", 1);
	assert_int_equal(ctl_register_stats(t.vm, "big", big_stats, &lines), 0);
	struct ctl_conn c;
	char err[256];
	conn(&t, &c);
	int n = 0;
	assert_int_equal(ctl_request(&c, "stats", count_lines, &n, TMO, err, sizeof(err)), 0);
	assert_int_equal(n, 3 + VSTAT_MAX + 200);
	lines = 400; /* past CTL_REPLY_MAX: an error instead of a cut reply */
	n = 0;
	assert_int_equal(ctl_request(&c, "stats", count_lines, &n, TMO, err, sizeof(err)),
			 -EREMOTEIO);
	assert_string_equal(err, "reply larger than 262144 bytes");
	assert_int_equal(n, 0);
	assert_int_equal(req(&c, "status", NULL, err, sizeof(err)), 0);
	ctl_disconnect(&c);

	/* 100 pipelined requests for ~2 MiB of replies, read only afterwards: the server holds
	 * back (one reply buffered at most) and every reply arrives whole and in order */
	lines = 20;
	int fd = raw_connect(t.path);
	char line[2048];
	assert_string_equal(raw_line(fd, line, sizeof(line)), "kbhyve-ctl 1");
	for (int i = 0; i < 100; i++)
		raw_send(fd, "stats\n", 6);
	usleep(100000);
	for (int r = 0; r < 100; r++) {
		int data = 0;
		while (strcmp(raw_line(fd, line, sizeof(line)), "ok") != 0) {
			assert_true(line[0] != '\0' && strncmp(line, "error", 5) != 0);
			data++;
		}
		assert_int_equal(data, 3 + VSTAT_MAX + 20);
	}
	close(fd);
	finish(&t);
}

static void test_too_many_clients(void **state)
{
	struct tvm t;
	struct ctl_conn c[17];
	char err[256] = "";
	start(&t, "busyvm", 1);
	for (int i = 0; i < 16; i++)
		conn(&t, &c[i]);
	assert_int_equal(ctl_connect(&c[16], t.path, TMO, err, sizeof(err)), -EREMOTEIO);
	assert_string_equal(err, "too many control connections");
	ctl_disconnect(&c[0]);
	/* a slot is free once the server has seen the close */
	int rc = -EREMOTEIO;
	for (int i = 0; i < 100 && rc == -EREMOTEIO; i++) {
		usleep(10000);
		rc = ctl_connect(&c[16], t.path, TMO, err, sizeof(err));
	}
	assert_int_equal(rc, 0);
	assert_int_equal(req(&c[16], "status", NULL, err, sizeof(err)), 0);
	for (int i = 1; i < 17; i++)
		ctl_disconnect(&c[i]);
	finish(&t);
}

/* Sixteen connections that say nothing cannot lock the owner out: once they have been idle for
 * a while, a new connection takes the slot of the one idle the longest. */
static void test_idle_clients_dropped(void **state)
{
	struct tvm t;
	int idle[16];
	char err[256] = "";
	start(&t, "idlevm", 1);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", t.path);
	for (int i = 0; i < 16; i++) {
		idle[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_int_equal(connect(idle[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
		usleep(1000); /* connection 0 is the oldest */
	}
	usleep(2500 * 1000);
	struct ctl_conn c;
	int rc = ctl_connect(&c, t.path, TMO, err, sizeof(err));
	if (rc)
		fail_msg("a new connection was refused: %s", err);
	assert_int_equal(req(&c, "status", NULL, err, sizeof(err)), 0);
	ctl_disconnect(&c);
	/* one idle connection was closed by the server: EOF after the greeting. Which one is the
	 * server's choice (the one idle the longest; connections accepted in one burst of a
	 * loaded event loop tie), so every socket is drained without blocking, for up to 10 s */
	int closed = -1, nclosed = 0;
	for (int i = 0; i < 16; i++)
		assert_int_equal(fcntl(idle[i], F_SETFL, O_NONBLOCK), 0);
	for (int tries = 0; tries < 1000 && nclosed == 0; tries++) {
		for (int i = 0; i < 16; i++) {
			char buf[512];
			ssize_t n;
			while ((n = read(idle[i], buf, sizeof(buf))) > 0)
				;
			if (n == 0) {
				closed = i;
				nclosed++;
			}
		}
		if (nclosed == 0)
			usleep(10 * 1000);
	}
	print_message("idle connection %d of 16 closed\n", closed);
	assert_int_equal(nclosed, 1);
	for (int i = 0; i < 16; i++)
		close(idle[i]);
	finish(&t);
}

static void test_already_running_and_stale(void **state)
{
	struct tvm t;
	char err[256] = "", want[256];
	start(&t, "dupvm", 1);
	/* a second VM with the same name */
	struct vm *other = make_vm("dupvm", 1);
	assert_int_equal(ctl_init(other, err, sizeof(err)), -EEXIST);
	snprintf(want, sizeof(want), "VM dupvm is already running (%s)", t.path);
	assert_string_equal(err, want);
	release_vm(other); /* must not remove the first VM's socket */
	free(other);
	struct ctl_conn c;
	conn(&t, &c);
	assert_int_equal(req(&c, "status", NULL, err, sizeof(err)), 0);
	ctl_disconnect(&c);
	/* once it is gone the name is free again */
	finish(&t);
	start(&t, "dupvm", 1);
	finish(&t);

	/* a stale socket (its bhyve was killed) is replaced */
	char path[108];
	snprintf(path, sizeof(path), "%s/vmm/stalevm", rundir);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(ctl_connect(&c, path, TMO, err, sizeof(err)), -ECONNREFUSED);
	start(&t, "stalevm", 1);
	conn(&t, &c);
	ctl_disconnect(&c);
	finish(&t);

	/* something else in the way is not touched */
	snprintf(path, sizeof(path), "%s/vmm/filevm", rundir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	other = make_vm("filevm", 1);
	assert_int_equal(ctl_init(other, err, sizeof(err)), -EEXIST);
	snprintf(want, sizeof(want), "%s exists and is not a socket", path);
	assert_string_equal(err, want);
	release_vm(other);
	free(other);
	assert_int_equal(unlink(path), 0);

	/* names that cannot be socket files */
	other = make_vm("a/b", 1);
	assert_int_equal(ctl_init(other, err, sizeof(err)), -EINVAL);
	release_vm(other);
	free(other);
	assert_int_equal(ctl_connect(&c, "/nonexistent/kbhyve/x", TMO, err, sizeof(err)), -ENOENT);
}

static void test_rundir_created(void **state)
{
	char dir[128], err[256];
	snprintf(dir, sizeof(dir), "%s/nested/run", rundir);
	setenv("KBHYVE_RUNDIR", dir, 1);
	struct vm *vm = make_vm("dirvm", 1);
	assert_int_equal(ctl_init(vm, err, sizeof(err)), 0);
	char vmm[160];
	snprintf(vmm, sizeof(vmm), "%s/vmm", dir);
	struct stat st;
	assert_int_equal(stat(vmm, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	release_vm(vm);
	free(vm);
	rmdir(vmm);
	rmdir(dir);
	snprintf(dir, sizeof(dir), "%s/nested", rundir);
	rmdir(dir);

	/* a file where the directory should be */
	snprintf(dir, sizeof(dir), "%s/afile", rundir);
	FILE *f = fopen(dir, "w");
	fclose(f);
	setenv("KBHYVE_RUNDIR", dir, 1);
	vm = make_vm("dirvm", 1);
	assert_true(ctl_init(vm, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "cannot create"));
	release_vm(vm);
	free(vm);
	unlink(dir);
	setenv("KBHYVE_RUNDIR", rundir, 1);
}

/* "poweroff" presses the real ACPI power button: PM1 status bit 8 (PWRBTN_STS). */
static void test_poweroff_button(void **state)
{
	struct tvm t;
	start(&t, "pwrvm", 1);
	const struct platform_device *d, *pm = NULL;
	DEVSET_FOREACH(platform_devices, const struct platform_device *, d)
	if (strcmp(d->name, "acpi-pm") == 0)
		pm = d;
	assert_non_null(pm);
	assert_int_equal(pm->init(t.vm), 0); /* vm_fd is -1: the SCI line change fails quietly */
	uint64_t sts = 0;
	assert_int_equal(iobus_dispatch(&t.vm->bus, IOBUS_PIO, ACPI_PM1A_EVT_PORT, 2, false, &sts),
			 0);
	assert_int_equal(sts & 0x100, 0);
	struct ctl_conn c;
	char err[256];
	conn(&t, &c);
	assert_int_equal(req(&c, "poweroff", NULL, err, sizeof(err)), 0);
	assert_int_equal(iobus_dispatch(&t.vm->bus, IOBUS_PIO, ACPI_PM1A_EVT_PORT, 2, false, &sts),
			 0);
	assert_int_equal(sts & 0x100, 0x100);
	assert_int_equal(atomic_load(&t.vm->exit_code), -1); /* the guest decides */
	ctl_disconnect(&c);
	join(&t, 99);
	release_vm(t.vm); /* runs the PM device's destroy hook too */
	free(t.vm);
}

static int setup_rundir(void **state)
{
	snprintf(rundir, sizeof(rundir), "/tmp/kbctl-test.XXXXXX");
	if (!mkdtemp(rundir))
		return -1;
	setenv("KBHYVE_RUNDIR", rundir, 1);
	return 0;
}

static int remove_rundir(void **state)
{
	char vmm[128];
	snprintf(vmm, sizeof(vmm), "%s/vmm", rundir);
	rmdir(vmm);
	return rmdir(rundir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_requests),
	    cmocka_unit_test(test_parse_malformed),
	    cmocka_unit_test(test_linebuf_partial),
	    cmocka_unit_test(test_linebuf_oversized),
	    cmocka_unit_test(test_format_replies),
	    cmocka_unit_test(test_names_and_paths),
	    cmocka_unit_test(test_parse_migrate_argument),
	    cmocka_unit_test(test_status_and_stats),
	    cmocka_unit_test(test_checkpoint_requests),
	    cmocka_unit_test(test_destroy),
	    cmocka_unit_test(test_force_reset),
	    cmocka_unit_test(test_force_poweroff),
	    cmocka_unit_test(test_stop_while_stopping),
	    cmocka_unit_test(test_malformed_requests),
	    cmocka_unit_test(test_large_replies),
	    cmocka_unit_test(test_too_many_clients),
	    cmocka_unit_test(test_idle_clients_dropped),
	    cmocka_unit_test(test_already_running_and_stale),
	    cmocka_unit_test(test_rundir_created),
	    cmocka_unit_test(test_poweroff_button),
	};
	return cmocka_run_group_tests(tests, setup_rundir, remove_rundir);
}
