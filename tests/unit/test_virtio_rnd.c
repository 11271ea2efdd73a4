/* SPDX-License-Identifier: BSD-2-Clause */
/* virtio-rnd through the real PCI function and virtio-PCI transport, driven the way the Linux
 * driver (drivers/char/hw_random/virtio-rng.c) drives it: split rings built by hand in guest RAM,
 * requests made available and kicked through the notify BAR (no KVM: doorbells take the MMIO
 * slow path). Also the -s option handling and the malformed requests that stop the device. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vm_harness.h"

#include "config/config.h"
#include "core/vm.h"
#include "pci/pci.h"
#include "virtio/virtio.h"

#define GUEST_MEM (4u << 20)
#define SLOT 3
#define RING_BASE 0x10000u  /* desc; avail +0x1000; used +0x2000 */
#define DATA_BASE 0x100000u /* request buffers */
#define QSIZE 64

/* ---- a VM without KVM, and a guest driver ---- */

struct env {
	struct vm *vm;
	uint8_t *ram;
	uint64_t bar0;
	unsigned common, notify, isr;
	uint16_t avail_idx, used_seen, next_desc;
	pthread_t loop;
	bool loop_running;
};

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

/* -s SLOT,virtio-rnd[,opts] as the command line does it; 0 or the legacy_config error. */
static int add_device(struct vm *vm, const char *opts)
{
	return harness_add_device(vm, SLOT, "virtio-rnd", opts);
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	e->vm = harness_vm_new();
	e->ram = calloc(1, GUEST_MEM);
	guestmem_init_from(&e->vm->mem, e->ram, GUEST_MEM, 0);
	assert_int_equal(add_device(e->vm, NULL), 0);
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
	}
	e->bar0 = cfgr(e, PCIR_BAR0, 4) & ~0xfULL;
	cfgw(e, PCIR_COMMAND, 2, 0x6);
	*state = e;
	return 0;
}

static void stop_loop(struct env *e)
{
	if (e->loop_running) {
		evloop_stop(e->vm->ev, 0);
		pthread_join(e->loop, NULL);
		e->loop_running = false;
	}
}

static int teardown(void **state)
{
	struct env *e = *state;
	stop_loop(e);
	harness_vm_free(e->vm);
	free(e->ram);
	free(e);
	return 0;
}

static uint8_t status(struct env *e)
{
	return (uint8_t)mr(e, e->common + 0x14, 1);
}

/* Reset, features (VERSION_1 + EVENT_IDX as Linux takes them), queue 0, DRIVER_OK. */
static void driver_probe(struct env *e, uint16_t qsize)
{
	unsigned c = e->common;
	mw(e, c + 0x14, 1, 0);
	mw(e, c + 0x14, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	mw(e, c + 0x00, 4, 0);
	assert_int_equal(mr(e, c + 0x04, 4) & 0xffffff, 0); /* no device-specific features */
	uint64_t want = VIRTIO_F_VERSION_1 | VIRTIO_RING_F_EVENT_IDX;
	mw(e, c + 0x08, 4, 0);
	mw(e, c + 0x0c, 4, (uint32_t)want);
	mw(e, c + 0x08, 4, 1);
	mw(e, c + 0x0c, 4, (uint32_t)(want >> 32));
	mw(e, c + 0x14, 1,
	   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(mr(e, c + 0x12, 2), 1); /* one queue */
	memset(e->ram + RING_BASE, 0, 0x3000);
	mw(e, c + 0x16, 2, 0);
	assert_int_equal(mr(e, c + 0x18, 2), QSIZE);
	mw(e, c + 0x18, 2, qsize);
	mw(e, c + 0x20, 8, RING_BASE);
	mw(e, c + 0x28, 8, RING_BASE + 0x1000);
	mw(e, c + 0x30, 8, RING_BASE + 0x2000);
	mw(e, c + 0x1c, 2, 1);
	mw(e, c + 0x14, 1, 0xf & ~VIRTIO_STATUS_FAILED);
	e->avail_idx = e->used_seen = e->next_desc = 0;
}

struct seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

/* Make one chain available (not kicked); returns its head. */
static uint16_t add_chain(struct env *e, uint16_t qsize, const struct seg *s, int n)
{
	uint16_t head = e->next_desc;
	for (int i = 0; i < n; i++) {
		uint16_t d = (uint16_t)((e->next_desc + i) % qsize);
		uint8_t *p = e->ram + RING_BASE + 16u * d;
		uint16_t flags =
		    (s[i].write ? VRING_DESC_F_WRITE : 0) | (i + 1 < n ? VRING_DESC_F_NEXT : 0);
		uint16_t next = (uint16_t)((d + 1) % qsize);
		memcpy(p, &s[i].gpa, 8);
		memcpy(p + 8, &s[i].len, 4);
		memcpy(p + 12, &flags, 2);
		memcpy(p + 14, &next, 2);
	}
	e->next_desc = (uint16_t)((e->next_desc + n) % qsize);
	uint16_t *avail = (uint16_t *)(e->ram + RING_BASE + 0x1000);
	avail[2 + e->avail_idx % qsize] = head;
	__atomic_store_n(&avail[1], (uint16_t)(e->avail_idx + 1), __ATOMIC_RELEASE);
	e->avail_idx++;
	return head;
}

static void kick(struct env *e)
{
	mw(e, e->notify, 2, 0);
}

/* The next used entry, if any: 1 with its id and length, else 0. */
static int get_used(struct env *e, uint16_t qsize, uint32_t *id, uint32_t *len)
{
	uint8_t *used = e->ram + RING_BASE + 0x2000;
	uint16_t idx = __atomic_load_n((uint16_t *)(used + 2), __ATOMIC_ACQUIRE);
	if (idx == e->used_seen)
		return 0;
	uint8_t *el = used + 4 + 8u * (e->used_seen % qsize);
	memcpy(id, el, 4);
	memcpy(len, el + 4, 4);
	e->used_seen++;
	return 1;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* ---- tests ---- */

static void test_options_rejected(void **state)
{
	struct vm *vm = harness_vm_new();
	assert_int_equal(add_device(vm, ""), 0);
	harness_vm_free(vm);

	vm = harness_vm_new();
	assert_int_equal(add_device(vm, "foo"), -EINVAL);
	harness_vm_free(vm);

	vm = harness_vm_new();
	assert_int_equal(add_device(vm, "bar=1"), -EINVAL);
	harness_vm_free(vm);

	/* a setting that reaches the device through -o: init refuses it */
	vm = harness_vm_new();
	uint8_t ram[4096];
	guestmem_init_from(&vm->mem, ram, sizeof(ram), 0);
	assert_int_equal(add_device(vm, NULL), 0);
	assert_int_equal(config_set_assignment(vm->cfg, "pci.0.3.0.seed=42"), 0);
	assert_int_not_equal(pci_init_all(vm), 0);
	assert_null(pci_find_dev(vm, 0, SLOT, 0));
	harness_vm_free(vm);
}

static void test_identity(void **state)
{
	struct env *e = *state;
	assert_int_equal(cfgr(e, PCIR_VENDOR, 2), 0x1af4);
	assert_int_equal(cfgr(e, PCIR_DEVICE, 2), 0x1040 + VIRTIO_ID_RNG);
	assert_int_equal(cfgr(e, PCIR_CLASS, 1), 0x10);
	assert_int_equal(cfgr(e, PCIR_SUBCLASS, 1), 0x00);
	assert_int_equal(cfgr(e, PCIR_PROGIF, 1), 0x00);
}

static void test_request_filled(void **state)
{
	struct env *e = *state;
	driver_probe(e, QSIZE);
	uint8_t *a = e->ram + DATA_BASE, *b = e->ram + DATA_BASE + 0x1000;
	struct seg s = {DATA_BASE, 64, true};
	uint16_t head = add_chain(e, QSIZE, &s, 1);
	kick(e);
	uint32_t id, len;
	assert_int_equal(get_used(e, QSIZE, &id, &len), 1);
	assert_int_equal(id, head);
	assert_int_equal(len, 64);
	assert_false(all_zero(a, 64));
	assert_true(all_zero(a + 64, 64)); /* nothing beyond the buffer */
	/* the queue's interrupt: INTx here, ISR bit 0 */
	assert_int_equal(mr(e, e->isr, 1) & 1, 1);

	s.gpa = DATA_BASE + 0x1000;
	head = add_chain(e, QSIZE, &s, 1);
	kick(e);
	assert_int_equal(get_used(e, QSIZE, &id, &len), 1);
	assert_int_equal(id, head);
	assert_int_equal(len, 64);
	assert_memory_not_equal(a, b, 64);
	assert_int_equal(get_used(e, QSIZE, &id, &len), 0);
	assert_int_equal(status(e) & VIRTIO_STATUS_NEEDS_RESET, 0);
}

static void test_segments_and_bound(void **state)
{
	struct env *e = *state;
	driver_probe(e, QSIZE);
	/* three writable segments, one of them empty */
	struct seg s3[3] = {
	    {DATA_BASE, 100, true}, {DATA_BASE + 0x1000, 0, true}, {DATA_BASE + 0x2000, 200, true}};
	add_chain(e, QSIZE, s3, 3);
	kick(e);
	uint32_t id, len;
	assert_int_equal(get_used(e, QSIZE, &id, &len), 1);
	assert_int_equal(len, 300);
	assert_false(all_zero(e->ram + DATA_BASE, 100));
	assert_false(all_zero(e->ram + DATA_BASE + 0x2000, 200));
	assert_true(all_zero(e->ram + DATA_BASE + 100, 0x1000 - 100));

	/* 192 KiB offered: 64 KiB filled, the rest untouched */
	struct seg big = {DATA_BASE + 0x10000, 192 * 1024, true};
	add_chain(e, QSIZE, &big, 1);
	kick(e);
	assert_int_equal(get_used(e, QSIZE, &id, &len), 1);
	assert_int_equal(len, 64 * 1024);
	assert_false(all_zero(e->ram + DATA_BASE + 0x10000 + 60 * 1024, 4096));
	assert_true(all_zero(e->ram + DATA_BASE + 0x10000 + 64 * 1024, 128 * 1024));
}

/* More requests than one run serves: the rest come from the event loop, without a new kick. */
static void test_budget_continues(void **state)
{
	struct env *e = *state;
	driver_probe(e, QSIZE);
	const int n = 60;
	for (int i = 0; i < n; i++) {
		struct seg s = {DATA_BASE + 64u * (unsigned)i, 64, true};
		add_chain(e, QSIZE, &s, 1);
	}
	kick(e);
	uint32_t id, len;
	int done = 0;
	while (get_used(e, QSIZE, &id, &len))
		done++;
	assert_true(done > 0 && done < n); /* bounded work per kick */
	assert_int_equal(pthread_create(&e->loop, NULL, harness_loop_thread, e->vm->ev), 0);
	e->loop_running = true;
	for (int tries = 0; tries < 400 && done < n; tries++) {
		while (get_used(e, QSIZE, &id, &len)) {
			assert_int_equal(len, 64);
			done++;
		}
		if (done < n)
			usleep(5000);
	}
	stop_loop(e);
	assert_int_equal(done, n);
	for (int i = 0; i < n; i++)
		assert_false(all_zero(e->ram + DATA_BASE + 64u * (unsigned)i, 64));
}

static void test_readable_segment_needs_reset(void **state)
{
	struct env *e = *state;
	driver_probe(e, QSIZE);
	struct seg s[2] = {{DATA_BASE, 16, false}, {DATA_BASE + 0x1000, 64, true}};
	add_chain(e, QSIZE, s, 2);
	kick(e);
	uint32_t id, len;
	assert_int_equal(get_used(e, QSIZE, &id, &len), 0);
	assert_true(status(e) & VIRTIO_STATUS_NEEDS_RESET);
	assert_true(all_zero(e->ram + DATA_BASE + 0x1000, 64));
	/* stopped: a good request is not served until the driver resets the device */
	struct seg good = {DATA_BASE + 0x2000, 64, true};
	add_chain(e, QSIZE, &good, 1);
	kick(e);
	assert_int_equal(get_used(e, QSIZE, &id, &len), 0);
	assert_true(all_zero(e->ram + DATA_BASE + 0x2000, 64));
	/* after a reset it works again */
	driver_probe(e, QSIZE);
	assert_int_equal(status(e) & VIRTIO_STATUS_NEEDS_RESET, 0);
	uint16_t head = add_chain(e, QSIZE, &good, 1);
	kick(e);
	assert_int_equal(get_used(e, QSIZE, &id, &len), 1);
	assert_int_equal(id, head);
	assert_false(all_zero(e->ram + DATA_BASE + 0x2000, 64));
}

static void test_no_writable_space_needs_reset(void **state)
{
	struct env *e = *state;
	driver_probe(e, QSIZE);
	struct seg s = {DATA_BASE, 0, true};
	add_chain(e, QSIZE, &s, 1);
	kick(e);
	uint32_t id, len;
	assert_int_equal(get_used(e, QSIZE, &id, &len), 0);
	assert_true(status(e) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_buffer_outside_ram_needs_reset(void **state)
{
	struct env *e = *state;
	driver_probe(e, QSIZE);
	struct seg s = {GUEST_MEM - 32, 64, true};
	add_chain(e, QSIZE, &s, 1);
	kick(e);
	uint32_t id, len;
	assert_int_equal(get_used(e, QSIZE, &id, &len), 0);
	assert_true(status(e) & VIRTIO_STATUS_NEEDS_RESET);
	assert_true(all_zero(e->ram + GUEST_MEM - 32, 32));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_options_rejected),
	    cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_request_filled, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_segments_and_bound, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_budget_continues, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_readable_segment_needs_reset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_writable_space_needs_reset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_buffer_outside_ram_needs_reset, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
