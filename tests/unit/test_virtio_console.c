/* SPDX-License-Identifier: BSD-2-Clause */
/* virtio-console through the real PCI function and virtio-PCI transport, with real unix sockets
 * and the event loop on its own thread. The guest side is played the way the Linux driver
 * (drivers/char/virtio_console.c) plays it: MULTIPORT negotiated, control receive buffers posted,
 * DEVICE_READY, then per announced port: receive buffers and PORT_READY; PORT_OPEN when a program
 * opens the port. Rings are built by hand in guest RAM; kicks take the MMIO slow path.
 * Also the -s option syntax and the configuration checks. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vm_harness.h"

#include "config/config.h"
#include "core/vm.h"
#include "pci/pci.h"
#include "virtio/virtio.h"

#define GUEST_MEM (16u << 20)
#define SLOT 3
#define RING_BASE                                                                                  \
	0x10000u /* queue q: desc at RING_BASE + q * 0x4000, avail +0x1000, used +0x2000 */
#define DATA_BASE 0x200000u
#define QSIZE 64
#define MAXQ 34
#define PAGE 4096
#define TIMEOUT_MS 3000

#define F_MULTIPORT (1ULL << 1)
#define BAD_ID 0xffffffffu
enum {
	DEVICE_READY,
	PORT_ADD,
	PORT_REMOVE,
	PORT_READY,
	CONSOLE_PORT,
	RESIZE,
	PORT_OPEN,
	PORT_NAME
};

struct ctrl {
	uint32_t id;
	uint16_t event, value;
	char name[300];
};

struct drvq {
	uint16_t avail_idx, used_seen, next_desc;
};

struct env {
	struct vm *vm;
	uint8_t *ram;
	uint64_t bar0;
	unsigned common, notify, isr, device;
	int nq;
	struct drvq q[MAXQ];
	uint64_t data_next;
	pthread_t loop;
	bool loop_running;
	char dir[64];
	char path[4][96];
};

/* ---- the VM (no KVM) and its event loop ---- */

static uint32_t cfgr(struct env *e, unsigned reg, unsigned size)
{
	return harness_cfg_read(e->vm, SLOT, reg, size);
}

static void cfgw(struct env *e, unsigned reg, unsigned size, uint32_t val)
{
	harness_cfg_write(e->vm, SLOT, reg, size, val);
}

static uint64_t mr(struct env *e, uint64_t off, unsigned size)
{
	return harness_mmio_read(e->vm, e->bar0 + off, size);
}

static void mw(struct env *e, uint64_t off, unsigned size, uint64_t v)
{
	harness_mmio_write(e->vm, e->bar0 + off, size, v);
}

/* -s SLOT,virtio-console,opts as the command line does it: legacy_config's result. */
static int add_device(struct vm *vm, const char *opts)
{
	assert_non_null(pci_emul_find("virtio-console")->legacy_config);
	return harness_add_device(vm, SLOT, "virtio-console", opts);
}

static void make_dir(struct env *e)
{
	snprintf(e->dir, sizeof(e->dir), "/tmp/kbvtcon.XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	for (int i = 0; i < 4; i++)
		snprintf(e->path[i], sizeof(e->path[i]), "%s/p%d.sock", e->dir, i);
}

/* Create the device from opts; finds the capabilities and enables memory decoding. */
static void env_start(struct env *e, const char *opts)
{
	e->ram = calloc(1, GUEST_MEM);
	guestmem_init_from(&e->vm->mem, e->ram, GUEST_MEM, 0);
	assert_int_equal(add_device(e->vm, opts), 0);
	assert_int_equal(pci_init_all(e->vm), 0);
	for (unsigned p = cfgr(e, PCIR_CAP_PTR, 1); p; p = cfgr(e, p + 1, 1)) {
		if (cfgr(e, p, 1) != 0x09)
			continue;
		unsigned type = cfgr(e, p + 3, 1), off = cfgr(e, p + 8, 4);
		if (type == 1)
			e->common = off;
		else if (type == 2)
			e->notify = off;
		else if (type == 3)
			e->isr = off;
		else if (type == 4)
			e->device = off;
	}
	e->bar0 = cfgr(e, PCIR_BAR0, 4) & ~0xfULL;
	cfgw(e, PCIR_COMMAND, 2, 0x6);
	assert_int_equal(pthread_create(&e->loop, NULL, harness_loop_thread, e->vm->ev), 0);
	e->loop_running = true;
}

static void stop_loop(struct env *e)
{
	if (e->loop_running) {
		evloop_stop(e->vm->ev, 0);
		pthread_join(e->loop, NULL);
		e->loop_running = false;
	}
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	e->vm = harness_vm_new();
	make_dir(e);
	*state = e;
	return 0;
}

/* Two ports: alpha (0) and beta (1). */
static int setup2(void **state)
{
	setup(state);
	struct env *e = *state;
	char opts[300];
	snprintf(opts, sizeof(opts), "alpha=%s,beta=%s", e->path[0], e->path[1]);
	env_start(e, opts);
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	stop_loop(e);
	harness_vm_free(e->vm);
	free(e->ram);
	for (int i = 0; i < 4; i++)
		unlink(e->path[i]);
	rmdir(e->dir);
	free(e);
	return 0;
}

/* ---- the guest driver ---- */

static uint8_t status(struct env *e)
{
	return (uint8_t)mr(e, e->common + 0x14, 1);
}

static uint64_t ring(int q)
{
	return RING_BASE + 0x4000u * (unsigned)q;
}

/* Reset, features, every queue (size QSIZE), DRIVER_OK: the Linux probe. */
static void probe(struct env *e, uint64_t features)
{
	unsigned c = e->common;
	mw(e, c + 0x14, 1, 0);
	mw(e, c + 0x14, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	mw(e, c + 0x00, 4, 0);
	assert_true(mr(e, c + 0x04, 4) & F_MULTIPORT);
	mw(e, c + 0x08, 4, 0);
	mw(e, c + 0x0c, 4, (uint32_t)features);
	mw(e, c + 0x08, 4, 1);
	mw(e, c + 0x0c, 4, (uint32_t)(features >> 32));
	mw(e, c + 0x14, 1,
	   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	assert_true(status(e) & VIRTIO_STATUS_FEATURES_OK);
	e->nq = (int)mr(e, c + 0x12, 2);
	assert_true(e->nq >= 4 && e->nq <= MAXQ);
	memset(e->q, 0, sizeof(e->q));
	for (int q = 0; q < e->nq; q++) {
		memset(e->ram + ring(q), 0, 0x3000);
		mw(e, c + 0x16, 2, (uint64_t)q);
		assert_int_equal(mr(e, c + 0x18, 2), QSIZE);
		mw(e, c + 0x20, 8, ring(q));
		mw(e, c + 0x28, 8, ring(q) + 0x1000);
		mw(e, c + 0x30, 8, ring(q) + 0x2000);
		mw(e, c + 0x1c, 2, 1);
	}
	mw(e, c + 0x14, 1, 0xf & ~VIRTIO_STATUS_FAILED);
	assert_int_equal(status(e) & VIRTIO_STATUS_NEEDS_RESET, 0);
	e->data_next = DATA_BASE;
}

static uint64_t alloc_buf(struct env *e, uint32_t len)
{
	uint64_t gpa = e->data_next;
	e->data_next += (len + PAGE - 1) / PAGE * PAGE;
	assert_true(e->data_next <= GUEST_MEM);
	memset(e->ram + gpa, 0, len);
	return gpa;
}

struct seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

static uint16_t add_chain(struct env *e, int q, const struct seg *s, int n)
{
	struct drvq *dq = &e->q[q];
	uint16_t head = dq->next_desc;
	for (int i = 0; i < n; i++) {
		uint16_t d = (uint16_t)((dq->next_desc + i) % QSIZE);
		uint8_t *p = e->ram + ring(q) + 16u * d;
		uint16_t flags =
		    (s[i].write ? VRING_DESC_F_WRITE : 0) | (i + 1 < n ? VRING_DESC_F_NEXT : 0);
		uint16_t next = (uint16_t)((d + 1) % QSIZE);
		memcpy(p, &s[i].gpa, 8);
		memcpy(p + 8, &s[i].len, 4);
		memcpy(p + 12, &flags, 2);
		memcpy(p + 14, &next, 2);
	}
	dq->next_desc = (uint16_t)((dq->next_desc + n) % QSIZE);
	uint16_t *avail = (uint16_t *)(e->ram + ring(q) + 0x1000);
	avail[2 + dq->avail_idx % QSIZE] = head;
	__atomic_store_n(&avail[1], (uint16_t)(dq->avail_idx + 1), __ATOMIC_RELEASE);
	dq->avail_idx++;
	return head;
}

static void kick(struct env *e, int q)
{
	mw(e, e->notify + 4u * (unsigned)q, 2, (uint64_t)q);
}

static int get_used(struct env *e, int q, uint32_t *id, uint32_t *len)
{
	struct drvq *dq = &e->q[q];
	uint8_t *used = e->ram + ring(q) + 0x2000;
	uint16_t idx = __atomic_load_n((uint16_t *)(used + 2), __ATOMIC_ACQUIRE);
	if (idx == dq->used_seen)
		return 0;
	uint8_t *el = used + 4 + 8u * (dq->used_seen % QSIZE);
	memcpy(id, el, 4);
	memcpy(len, el + 4, 4);
	dq->used_seen++;
	return 1;
}

static int wait_used(struct env *e, int q, uint32_t *id, uint32_t *len, int timeout_ms)
{
	for (int t = 0;; t += 2) {
		if (get_used(e, q, id, len))
			return 1;
		if (t >= timeout_ms)
			return 0;
		usleep(2000);
	}
}

/* The guest address of a one-segment chain's buffer (its head descriptor). */
static uint64_t desc_addr(struct env *e, int q, uint32_t head)
{
	uint64_t a;
	memcpy(&a, e->ram + ring(q) + 16u * head, 8);
	return a;
}

static void post_rx(struct env *e, int q, int n)
{
	for (int i = 0; i < n; i++) {
		struct seg s = {alloc_buf(e, PAGE), PAGE, true};
		add_chain(e, q, &s, 1);
	}
	kick(e, q);
}

/* Send a control message; the device returns the buffer at once. */
static void send_ctrl(struct env *e, uint32_t id, uint16_t event, uint16_t value)
{
	uint64_t gpa = alloc_buf(e, 8);
	memcpy(e->ram + gpa, &id, 4);
	memcpy(e->ram + gpa + 4, &event, 2);
	memcpy(e->ram + gpa + 6, &value, 2);
	struct seg s = {gpa, 8, false};
	uint16_t head = add_chain(e, 3, &s, 1);
	kick(e, 3);
	uint32_t uid, ulen;
	assert_int_equal(get_used(e, 3, &uid, &ulen), 1);
	assert_int_equal(uid, head);
}

/* The next control message from the device, and its buffer posted again as Linux does. */
static int recv_ctrl(struct env *e, struct ctrl *m, int timeout_ms)
{
	uint32_t head, len;
	if (!wait_used(e, 2, &head, &len, timeout_ms))
		return 0;
	assert_true(len >= 8 && len < 8 + sizeof(m->name));
	uint64_t gpa = desc_addr(e, 2, head);
	const uint8_t *p = e->ram + gpa;
	memcpy(&m->id, p, 4);
	memcpy(&m->event, p + 4, 2);
	memcpy(&m->value, p + 6, 2);
	memcpy(m->name, p + 8, len - 8);
	m->name[len - 8] = '\0';
	struct seg s = {gpa, PAGE, true};
	add_chain(e, 2, &s, 1);
	kick(e, 2);
	return 1;
}

static void expect_ctrl(struct env *e, uint32_t id, uint16_t event, uint16_t value,
			const char *name)
{
	struct ctrl m;
	assert_int_equal(recv_ctrl(e, &m, TIMEOUT_MS), 1);
	assert_int_equal(m.event, event);
	assert_int_equal(m.id, id);
	assert_int_equal(m.value, value);
	if (name)
		assert_string_equal(m.name, name);
}

static void expect_no_ctrl(struct env *e)
{
	struct ctrl m;
	assert_int_equal(recv_ctrl(e, &m, 100), 0);
}

static int rxq(uint32_t id)
{
	return id == 0 ? 0 : (int)(2 * id + 2);
}
static int txq(uint32_t id)
{
	return id == 0 ? 1 : (int)(2 * id + 3);
}

/* Give the event loop time to accept a connection (or to do nothing). */
static void let_loop_run(void)
{
	usleep(100000);
}

/* The Linux driver's bring-up of a two-port device: PORT_ADD for each, receive buffers,
 * PORT_READY, and the names; PORT_OPEN too for the ports in `connected` (bit per port) that
 * have a client. */
static void handshake_with(struct env *e, unsigned connected)
{
	probe(e, VIRTIO_F_VERSION_1 | VIRTIO_RING_F_EVENT_IDX | F_MULTIPORT);
	assert_int_equal(mr(e, e->device + 4, 4), 2); /* max_nr_ports */
	post_rx(e, 2, 8);
	send_ctrl(e, BAD_ID, DEVICE_READY, 1);
	expect_ctrl(e, 0, PORT_ADD, 1, NULL);
	expect_ctrl(e, 1, PORT_ADD, 1, NULL);
	static const char *const names[] = {"alpha", "beta"};
	for (uint32_t id = 0; id < 2; id++) {
		post_rx(e, rxq(id), 4);
		send_ctrl(e, id, PORT_READY, 1);
		expect_ctrl(e, id, PORT_NAME, 1, names[id]);
		if (connected & (1u << id))
			expect_ctrl(e, id, PORT_OPEN, 1, NULL);
	}
	expect_no_ctrl(e);
}

static void handshake(struct env *e)
{
	handshake_with(e, 0);
}

/* Guest output: one readable chain on the port's transmitq. */
static uint16_t guest_write(struct env *e, uint32_t id, const void *data, uint32_t len)
{
	uint64_t gpa = alloc_buf(e, len);
	memcpy(e->ram + gpa, data, len);
	struct seg s = {gpa, len, false};
	uint16_t head = add_chain(e, txq(id), &s, 1);
	kick(e, txq(id));
	return head;
}

/* Guest input: up to `max` bytes from the port's receiveq within the timeout. */
static size_t guest_read(struct env *e, uint32_t id, uint8_t *out, size_t max, int timeout_ms)
{
	size_t got = 0;
	uint32_t head, len;
	while (got < max && wait_used(e, rxq(id), &head, &len, got ? 200 : timeout_ms)) {
		assert_true(len > 0 && len <= PAGE);
		assert_true(got + len <= max);
		memcpy(out + got, e->ram + desc_addr(e, rxq(id), head), len);
		got += len;
		/* the buffer goes back, as Linux re-adds it after a read */
		struct seg s = {desc_addr(e, rxq(id), head), PAGE, true};
		add_chain(e, rxq(id), &s, 1);
		kick(e, rxq(id));
	}
	return got;
}

/* ---- host clients ---- */

static struct sockaddr_un unix_addr(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	return sa;
}

static int client_connect(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_un sa = unix_addr(path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* A socket bound at path (and listening if asked), as another program would leave it. */
static int bound_socket(const char *path, bool listening)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_un sa = unix_addr(path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (listening)
		assert_int_equal(listen(fd, 1), 0);
	return fd;
}

/* Read exactly n bytes within the timeout; returns the bytes read (0 at EOF). */
static size_t client_read(int fd, void *buf, size_t n, int timeout_ms)
{
	size_t got = 0;
	while (got < n) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (poll(&pfd, 1, timeout_ms) <= 0)
			break;
		ssize_t r = read(fd, (uint8_t *)buf + got, n - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

/* Whether the peer closed the connection within the timeout. */
static bool client_sees_eof(int fd, int timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	if (poll(&pfd, 1, timeout_ms) <= 0)
		return false;
	char b;
	return read(fd, &b, 1) == 0;
}

/* ---- configuration ---- */

static const char *dev_get(struct vm *vm, const char *key)
{
	char path[64];
	snprintf(path, sizeof(path), "pci.0.%d.0.%s", SLOT, key);
	return config_get(vm->cfg, path);
}

static void test_conf_good(void **state)
{
	struct vm *vm = harness_vm_new();
	assert_int_equal(add_device(vm, "port1=/tmp/x/one.sock,org.qemu.guest_agent.0=/tmp/x/ga"),
			 0);
	assert_string_equal(dev_get(vm, "port.0.name"), "port1");
	assert_string_equal(dev_get(vm, "port.0.path"), "/tmp/x/one.sock");
	assert_string_equal(dev_get(vm, "port.1.name"), "org.qemu.guest_agent.0");
	assert_string_equal(dev_get(vm, "port.1.path"), "/tmp/x/ga");
	assert_null(dev_get(vm, "port.2.name"));
	harness_vm_free(vm);
	/* no options: a device without ports, as bhyve allows */
	vm = harness_vm_new();
	assert_int_equal(add_device(vm, NULL), 0);
	assert_null(dev_get(vm, "port.0.name"));
	harness_vm_free(vm);
}

static void test_conf_port_count(void **state)
{
	char opts[1024] = "";
	for (int i = 0; i < 17; i++) {
		char item[48];
		snprintf(item, sizeof(item), "%sp%d=/tmp/x/p%d", i ? "," : "", i, i);
		strcat(opts, item);
		struct vm *vm = harness_vm_new();
		assert_int_equal(add_device(vm, opts), i < 16 ? 0 : -EINVAL);
		harness_vm_free(vm);
	}
}

static void test_conf_bad(void **state)
{
	static const char *const bad[] = {
	    "a=/tmp/x/1,a=/tmp/x/2", /* duplicate names */
	    "a=/tmp/x/1,b=/tmp/x/1", /* duplicate paths */
	    "alpha",		     /* no path */
	    "alpha=",		     /* empty path */
	    "=/tmp/x/1",	     /* no name */
	    "a=/tmp/x/1,",	     /* empty item */
	    "a/b=/tmp/x/1",	     /* '/' in the name */
	    "a b=/tmp/x/1",	     /* space */
	    "..=/tmp/x/1",	     /* a name that is a directory */
	    "caf\xc3\xa9=/tmp/x/1",  /* not ASCII */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vm *vm = harness_vm_new();
		assert_int_equal(add_device(vm, bad[i]), -EINVAL);
		harness_vm_free(vm);
	}
	/* a socket path longer than sun_path, a name longer than 255 characters */
	char opts[400];
	memset(opts, 'n', sizeof(opts));
	snprintf(opts + 256, sizeof(opts) - 256, "=/tmp/x/1");
	struct vm *vm = harness_vm_new();
	assert_int_equal(add_device(vm, opts), -EINVAL);
	harness_vm_free(vm);
	snprintf(opts, sizeof(opts), "a=/tmp/%0120d", 0);
	vm = harness_vm_new();
	assert_int_equal(add_device(vm, opts), -EINVAL);
	harness_vm_free(vm);
}

/* Settings given as config variables (-o, -k) are checked when the device starts. */
static void test_conf_tree(void **state)
{
	struct env *e = *state;
	static const char *const bad[][2] = {
	    {"port.16.name=x", "port.16.path=/tmp/x/1"},
	    {"port.abc.name=x", "port.abc.path=/tmp/x/1"},
	    {"port.01.name=x", "port.01.path=/tmp/x/1"},
	    {"port.0.name=x", "port.0.pth=/tmp/x/1"},
	    {"port.0.name=x", NULL},
	    {"port.0.path=/tmp/x/1", NULL},
	    {"port=1", NULL},
	};
	uint8_t *ram = calloc(1, 1 << 20);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vm *vm = harness_vm_new();
		guestmem_init_from(&vm->mem, ram, 1 << 20, 0);
		assert_int_equal(add_device(vm, NULL), 0);
		for (int k = 0; k < 2 && bad[i][k]; k++) {
			char a[96];
			snprintf(a, sizeof(a), "pci.0.%d.0.%s", SLOT, bad[i][k]);
			assert_int_equal(config_set_assignment(vm->cfg, a), 0);
		}
		assert_int_not_equal(pci_init_all(vm), 0);
		harness_vm_free(vm);
	}
	free(ram);
	/* port 3 alone: max_nr_ports 4, queues for ports 0-3 */
	char a[160];
	snprintf(a, sizeof(a), "pci.0.%d.0.port.3.name=third", SLOT);
	config_set_assignment(e->vm->cfg, a);
	snprintf(a, sizeof(a), "pci.0.%d.0.port.3.path=%s", SLOT, e->path[3]);
	config_set_assignment(e->vm->cfg, a);
	env_start(e, NULL);
	assert_int_equal(mr(e, e->device + 4, 4), 4);
	assert_int_equal(mr(e, e->common + 0x12, 2), 10);
	struct stat st;
	assert_int_equal(stat(e->path[3], &st), 0);
}

/* ---- sockets ---- */

static void test_socket_files(void **state)
{
	struct env *e = *state;
	/* a stale socket (nobody listening) at port 1's path is replaced */
	close(bound_socket(e->path[1], false));
	char opts[300];
	snprintf(opts, sizeof(opts), "alpha=%s,beta=%s", e->path[0], e->path[1]);
	env_start(e, opts);
	for (int i = 0; i < 2; i++) {
		struct stat st;
		assert_int_equal(lstat(e->path[i], &st), 0);
		assert_true(S_ISSOCK(st.st_mode));
		assert_int_equal(st.st_mode & 0777, 0600);
	}
	int c = client_connect(e->path[1]);
	close(c);
	/* removed when the VM goes away */
	stop_loop(e);
	vm_run_destroy_hooks(e->vm);
	assert_int_equal(access(e->path[0], F_OK), -1);
	assert_int_equal(access(e->path[1], F_OK), -1);
}

static void test_socket_refuses_clobber(void **state)
{
	struct env *e = *state;
	/* a regular file: refused and left alone */
	int fd = open(e->path[0], O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "keep", 4), 4);
	close(fd);
	char opts[300];
	snprintf(opts, sizeof(opts), "alpha=%s", e->path[0]);
	e->ram = calloc(1, 1 << 20);
	guestmem_init_from(&e->vm->mem, e->ram, 1 << 20, 0);
	assert_int_equal(add_device(e->vm, opts), 0);
	assert_int_not_equal(pci_init_all(e->vm), 0);
	char buf[8] = "";
	fd = open(e->path[0], O_RDONLY);
	assert_int_equal(read(fd, buf, sizeof(buf)), 4);
	close(fd);
	assert_memory_equal(buf, "keep", 4);

	/* a live socket (someone listening): refused, and not removed at destroy */
	struct vm *vm2 = harness_vm_new();
	guestmem_init_from(&vm2->mem, e->ram, 1 << 20, 0);
	int s = bound_socket(e->path[1], true);
	snprintf(opts, sizeof(opts), "beta=%s", e->path[1]);
	assert_int_equal(add_device(vm2, opts), 0);
	assert_int_not_equal(pci_init_all(vm2), 0);
	harness_vm_free(vm2);
	assert_int_equal(access(e->path[1], F_OK), 0);
	close(s);
}

/* ---- the protocol ---- */

static void test_identity(void **state)
{
	struct env *e = *state;
	assert_int_equal(cfgr(e, PCIR_VENDOR, 2), 0x1af4);
	assert_int_equal(cfgr(e, PCIR_DEVICE, 2), 0x1040 + VIRTIO_ID_CONSOLE);
	assert_int_equal(cfgr(e, PCIR_CLASS, 1), 0x07);
	assert_int_equal(cfgr(e, PCIR_SUBCLASS, 1), 0x80);
	assert_int_equal(mr(e, e->device + 4, 4), 2);
	assert_int_equal(mr(e, e->common + 0x12, 2), 6); /* 2 ports + control */
}

static void test_handshake_and_open(void **state)
{
	struct env *e = *state;
	/* a client that is already there when the driver comes up */
	int c0 = client_connect(e->path[0]);
	let_loop_run();
	handshake_with(e, 1); /* PORT_OPEN for alpha: its host side is connected */
	/* a client for beta now: PORT_OPEN right away */
	int c1 = client_connect(e->path[1]);
	expect_ctrl(e, 1, PORT_OPEN, 1, NULL);
	close(c1);
	expect_ctrl(e, 1, PORT_OPEN, 0, NULL);
	close(c0);
	expect_ctrl(e, 0, PORT_OPEN, 0, NULL);
	expect_no_ctrl(e);
	assert_int_equal(status(e) & VIRTIO_STATUS_NEEDS_RESET, 0);
	/* after a driver reset the whole handshake happens again */
	handshake(e);
}

static void test_data_both_ways(void **state)
{
	struct env *e = *state;
	handshake(e);
	int c = client_connect(e->path[0]);
	expect_ctrl(e, 0, PORT_OPEN, 1, NULL);
	send_ctrl(e, 0, PORT_OPEN, 1); /* a guest program opens /dev/vport0p0 */

	const char host_msg[] = "hello from the host";
	assert_int_equal(write(c, host_msg, sizeof(host_msg)), sizeof(host_msg));
	uint8_t buf[256];
	assert_int_equal(guest_read(e, 0, buf, sizeof(host_msg), TIMEOUT_MS), sizeof(host_msg));
	assert_memory_equal(buf, host_msg, sizeof(host_msg));

	const char guest_msg[] = "and hello from the guest";
	uint16_t head = guest_write(e, 0, guest_msg, sizeof(guest_msg));
	uint32_t id, len;
	assert_int_equal(wait_used(e, txq(0), &id, &len, TIMEOUT_MS), 1);
	assert_int_equal(id, head);
	assert_int_equal(client_read(c, buf, sizeof(guest_msg), TIMEOUT_MS), sizeof(guest_msg));
	assert_memory_equal(buf, guest_msg, sizeof(guest_msg));

	/* a second client is refused; the first keeps working */
	int c2 = client_connect(e->path[0]);
	assert_true(client_sees_eof(c2, TIMEOUT_MS));
	close(c2);
	expect_no_ctrl(e);
	assert_int_equal(write(c, "x", 1), 1);
	assert_int_equal(guest_read(e, 0, buf, 1, TIMEOUT_MS), 1);
	assert_int_equal(buf[0], 'x');

	/* port 1 is independent: a multi-segment write reaches its own client */
	int c1 = client_connect(e->path[1]);
	expect_ctrl(e, 1, PORT_OPEN, 1, NULL);
	uint64_t g = alloc_buf(e, 8);
	memcpy(e->ram + g, "abcdefgh", 8);
	struct seg s[3] = {{g, 3, false}, {g + 3, 0, false}, {g + 3, 5, false}};
	add_chain(e, txq(1), s, 3);
	kick(e, txq(1));
	assert_int_equal(client_read(c1, buf, 8, TIMEOUT_MS), 8);
	assert_memory_equal(buf, "abcdefgh", 8);
	assert_int_equal(client_read(c, buf, 1, 100), 0); /* nothing on port 0's client */

	close(c);
	expect_ctrl(e, 0, PORT_OPEN, 0, NULL);
	close(c1);
	expect_ctrl(e, 1, PORT_OPEN, 0, NULL);
}

static void test_output_without_client_dropped(void **state)
{
	struct env *e = *state;
	handshake(e);
	send_ctrl(e, 1, PORT_OPEN, 1);
	uint16_t head = guest_write(e, 1, "lost", 4);
	uint32_t id, len;
	assert_int_equal(get_used(e, txq(1), &id, &len), 1); /* returned at once */
	assert_int_equal(id, head);
	assert_int_equal(len, 0);
	int c = client_connect(e->path[1]);
	expect_ctrl(e, 1, PORT_OPEN, 1, NULL);
	guest_write(e, 1, "kept", 4);
	char buf[8];
	assert_int_equal(client_read(c, buf, 4, TIMEOUT_MS), 4);
	assert_memory_equal(buf, "kept", 4);
	assert_int_equal(client_read(c, buf, 1, 100), 0);
	close(c);
}

/* Client input waits in the socket until a guest program opens the port, also when the client
 * hung up in between. */
static void test_input_waits_for_guest(void **state)
{
	struct env *e = *state;
	handshake(e);
	int c = client_connect(e->path[0]);
	expect_ctrl(e, 0, PORT_OPEN, 1, NULL);
	assert_int_equal(write(c, "early", 5), 5);
	close(c);
	uint8_t buf[16];
	assert_int_equal(guest_read(e, 0, buf, sizeof(buf), 200), 0);
	expect_no_ctrl(e); /* the client is still "there" until its data is read */
	send_ctrl(e, 0, PORT_OPEN, 1);
	assert_int_equal(guest_read(e, 0, buf, 5, TIMEOUT_MS), 5);
	assert_memory_equal(buf, "early", 5);
	expect_ctrl(e, 0, PORT_OPEN, 0, NULL);

	/* the guest closes the port: input waits again, and flows when it reopens */
	c = client_connect(e->path[0]);
	expect_ctrl(e, 0, PORT_OPEN, 1, NULL);
	send_ctrl(e, 0, PORT_OPEN, 0);
	assert_int_equal(write(c, "later", 5), 5);
	assert_int_equal(guest_read(e, 0, buf, sizeof(buf), 200), 0);
	send_ctrl(e, 0, PORT_OPEN, 1);
	assert_int_equal(guest_read(e, 0, buf, 5, TIMEOUT_MS), 5);
	assert_memory_equal(buf, "later", 5);

	close(c);
	expect_ctrl(e, 0, PORT_OPEN, 0, NULL);
}

static void test_input_waits_for_buffers(void **state)
{
	struct env *e = *state;
	probe(e, VIRTIO_F_VERSION_1 | F_MULTIPORT);
	post_rx(e, 2, 8);
	send_ctrl(e, BAD_ID, DEVICE_READY, 1);
	expect_ctrl(e, 0, PORT_ADD, 1, NULL);
	expect_ctrl(e, 1, PORT_ADD, 1, NULL);
	send_ctrl(e, 0, PORT_READY, 1); /* no receive buffers yet */
	expect_ctrl(e, 0, PORT_NAME, 1, "alpha");
	send_ctrl(e, 0, PORT_OPEN, 1);
	int c = client_connect(e->path[0]);
	expect_ctrl(e, 0, PORT_OPEN, 1, NULL);
	char big[3 * PAGE];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	assert_int_equal(write(c, big, sizeof(big)), sizeof(big));
	uint32_t id, len;
	assert_int_equal(wait_used(e, rxq(0), &id, &len, 200), 0);
	/* one buffer: one page arrives, the rest waits */
	struct seg s = {alloc_buf(e, PAGE), PAGE, true};
	add_chain(e, rxq(0), &s, 1);
	kick(e, rxq(0));
	assert_int_equal(wait_used(e, rxq(0), &id, &len, TIMEOUT_MS), 1);
	assert_int_equal(len, PAGE);
	assert_memory_equal(e->ram + s.gpa, big, PAGE);
	assert_int_equal(wait_used(e, rxq(0), &id, &len, 200), 0);
	uint8_t rest[2 * PAGE];
	post_rx(e, rxq(0), 2);
	assert_int_equal(guest_read(e, 0, rest, sizeof(rest), TIMEOUT_MS), sizeof(rest));
	assert_memory_equal(rest, big + PAGE, sizeof(rest));
	close(c);
	expect_ctrl(e, 0, PORT_OPEN, 0, NULL);
}

/* A client that does not read holds up the guest's output (no loss, no busy loop). */
static void test_output_backpressure(void **state)
{
	struct env *e = *state;
	handshake(e);
	int c = client_connect(e->path[0]);
	expect_ctrl(e, 0, PORT_OPEN, 1, NULL);
	int sz = 16 * 1024;
	setsockopt(c, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	const int chains = 24;
	const uint32_t each = 64 * 1024;
	uint64_t first = 0;
	for (int i = 0; i < chains; i++) {
		uint64_t g = alloc_buf(e, each);
		if (!i)
			first = g;
		for (uint32_t k = 0; k < each; k++)
			e->ram[g + k] = (uint8_t)(i * 7 + k % 251);
		struct seg s = {g, each, false};
		add_chain(e, txq(0), &s, 1);
	}
	kick(e, txq(0));
	usleep(100000);
	uint32_t id, len;
	int returned = 0;
	while (get_used(e, txq(0), &id, &len))
		returned++;
	assert_true(returned < chains);
	/* the client reads everything, in order */
	uint8_t *buf = malloc(each);
	for (int i = 0; i < chains; i++) {
		assert_int_equal(client_read(c, buf, each, TIMEOUT_MS), each);
		assert_memory_equal(buf, e->ram + first + (uint64_t)i * each, each);
	}
	free(buf);
	for (int t = 0; t < 1000 && returned < chains; t++)
		returned += wait_used(e, txq(0), &id, &len, 10);
	assert_int_equal(returned, chains);
	close(c);
}

/* ---- budgets ---- */

struct drain {
	int fd;
	uint64_t want, got;
};

/* A fast client: reads everything the port sends. */
static void *drain_thread(void *arg)
{
	struct drain *d = arg;
	static uint8_t buf[1 << 20];
	while (d->got < d->want) {
		struct pollfd p = {d->fd, POLLIN, 0};
		if (poll(&p, 1, 10000) != 1)
			break;
		ssize_t n = read(d->fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		d->got += (uint64_t)n;
	}
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One transmit chain of 504 MiB (63 descriptors on one 8 MiB buffer) to a client that reads as
 * fast as it can: the doorbell sends a bounded slice and returns; the rest goes out from the
 * event loop in slices too. */
static void test_large_output_bounded_per_event(void **state)
{
	struct env *e = *state;
	handshake(e);
	int c = client_connect(e->path[0]);
	expect_ctrl(e, 0, PORT_OPEN, 1, NULL);
	const uint32_t each = 8u << 20;
	const int nseg = QSIZE - 1;
	uint64_t g = alloc_buf(e, each);
	struct seg s[QSIZE];
	for (int i = 0; i < nseg; i++)
		s[i] = (struct seg){g, each, false};
	struct drain d = {c, (uint64_t)each * nseg, 0};
	pthread_t reader;
	assert_int_equal(pthread_create(&reader, NULL, drain_thread, &d), 0);
	uint16_t head = add_chain(e, txq(0), s, nseg);
	double t0 = now_s();
	kick(e, txq(0));
	double kick_s = now_s() - t0;
	uint32_t id, len;
	assert_int_equal(wait_used(e, txq(0), &id, &len, 20000), 1);
	double total_s = now_s() - t0;
	pthread_join(reader, NULL);
	print_message("504 MiB to a fast client: the kick took %.3f s, all sent in %.2f s\n",
		      kick_s, total_s);
	assert_int_equal(id, head);
	assert_int_equal(d.got, d.want);
	assert_true(kick_s < 0.1);
	close(c);
}

/* ---- malformed driver messages ---- */

static void test_control_ignored(void **state)
{
	struct env *e = *state;
	handshake(e);
	send_ctrl(e, 9, PORT_READY, 1); /* no such port */
	send_ctrl(e, 2, PORT_OPEN, 1);	/* beyond max_nr_ports */
	send_ctrl(e, 0, PORT_OPEN, 2);	/* not 0 or 1 */
	send_ctrl(e, 0, 42, 1);		/* unknown event */
	send_ctrl(e, 0, PORT_ADD, 1);	/* device-to-driver events */
	send_ctrl(e, 0, PORT_NAME, 1);
	send_ctrl(e, 0, RESIZE, 1);
	expect_no_ctrl(e);
	assert_int_equal(status(e) & VIRTIO_STATUS_NEEDS_RESET, 0);
	/* still working */
	int c = client_connect(e->path[1]);
	expect_ctrl(e, 1, PORT_OPEN, 1, NULL);
	close(c);
	expect_ctrl(e, 1, PORT_OPEN, 0, NULL);
}

static void test_short_control_message_needs_reset(void **state)
{
	struct env *e = *state;
	handshake(e);
	uint64_t g = alloc_buf(e, 8);
	struct seg s = {g, 4, false};
	add_chain(e, 3, &s, 1);
	kick(e, 3);
	assert_true(status(e) & VIRTIO_STATUS_NEEDS_RESET);
	/* nothing more happens until the reset; then all is well again */
	int c = client_connect(e->path[0]);
	expect_no_ctrl(e);
	handshake_with(e, 1);
	close(c);
	expect_ctrl(e, 0, PORT_OPEN, 0, NULL);
}

static void test_control_with_writable_needs_reset(void **state)
{
	struct env *e = *state;
	handshake(e);
	uint64_t g = alloc_buf(e, 16);
	uint32_t id = 0;
	uint16_t ev = PORT_OPEN, val = 1;
	memcpy(e->ram + g, &id, 4);
	memcpy(e->ram + g + 4, &ev, 2);
	memcpy(e->ram + g + 6, &val, 2);
	struct seg s[2] = {{g, 8, false}, {g + 8, 8, true}};
	add_chain(e, 3, s, 2);
	kick(e, 3);
	assert_true(status(e) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_small_control_buffer_needs_reset(void **state)
{
	struct env *e = *state;
	probe(e, VIRTIO_F_VERSION_1 | F_MULTIPORT);
	struct seg s = {alloc_buf(e, 8), 6, true};
	add_chain(e, 2, &s, 1);
	kick(e, 2);
	send_ctrl(e, BAD_ID, DEVICE_READY, 1);
	assert_true(status(e) & VIRTIO_STATUS_NEEDS_RESET);
	uint32_t id, len;
	assert_int_equal(get_used(e, 2, &id, &len), 0);
}

static void test_tx_writable_needs_reset(void **state)
{
	struct env *e = *state;
	handshake(e);
	send_ctrl(e, 0, PORT_OPEN, 1);
	uint64_t g = alloc_buf(e, 8);
	struct seg s[2] = {{g, 4, false}, {g + 4, 4, true}};
	add_chain(e, txq(0), s, 2);
	kick(e, txq(0));
	assert_true(status(e) & VIRTIO_STATUS_NEEDS_RESET);
}

/* A driver without MULTIPORT: port 0 alone on queues 0/1, open from the start. */
static void test_without_multiport(void **state)
{
	struct env *e = *state;
	int c = client_connect(e->path[0]);
	let_loop_run();
	probe(e, VIRTIO_F_VERSION_1);
	post_rx(e, 0, 2);
	assert_int_equal(write(c, "hi", 2), 2);
	uint8_t buf[8];
	assert_int_equal(guest_read(e, 0, buf, 2, TIMEOUT_MS), 2);
	assert_memory_equal(buf, "hi", 2);
	guest_write(e, 0, "yo", 2);
	assert_int_equal(client_read(c, buf, 2, TIMEOUT_MS), 2);
	assert_memory_equal(buf, "yo", 2);
	/* the control queues are not in use */
	uint32_t id, len;
	post_rx(e, 2, 1);
	assert_int_equal(wait_used(e, 2, &id, &len, 100), 0);
	close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_conf_good),
	    cmocka_unit_test(test_conf_port_count),
	    cmocka_unit_test(test_conf_bad),
	    cmocka_unit_test_setup_teardown(test_conf_tree, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_socket_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_socket_refuses_clobber, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_identity, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_handshake_and_open, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_data_both_ways, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_output_without_client_dropped, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_input_waits_for_guest, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_input_waits_for_buffers, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_output_backpressure, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_large_output_bounded_per_event, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_control_ignored, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_short_control_message_needs_reset, setup2,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_control_with_writable_needs_reset, setup2,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_small_control_buffer_needs_reset, setup2,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_tx_writable_needs_reset, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_without_multiport, setup2, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
