/* SPDX-License-Identifier: BSD-2-Clause */
/* The source of a live migration (bhyvectl --migrate): a thread streams RAM while the guest runs;
 * the event loop parks the vCPUs and drains the devices for the last round (their completions
 * arrive on it) and ends the VM or lets it run on. */
#include "snapshot/migrate.h"

#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/exitcode.h"
#include "core/log.h"
#include "core/threadrole.h"
#include "core/vcpu.h"
#include "core/vm.h"
#include "snapshot/migproto.h"
#include "snapshot/snapreg.h"
#include "snapshot/vmstate.h"

#define PAUSE_TIMEOUT_MS 5000
#define DRAIN_TIMEOUT_MS 30000
#define REPLY_TIMEOUT_MS 120000 /* the destination checks the description, loads the state */
#define MAX_ROUNDS 30		/* then the last round, whatever it costs */
#define PAGE MIG_PAGE

enum phase {
	PH_PRECOPY,  /* the thread streams; the guest runs */
	PH_PAUSING,  /* the thread asked the event loop to park everything */
	PH_PAUSED,   /* parked and drained, state saved: the thread sends the rest */
	PH_FINISHED, /* the thread is done (rc says how) */
};

struct migration {
	struct vm *vm;
	int sock;
	unsigned downtime_ms;
	migrate_done_fn done;
	void *opaque;
	pthread_t thread;
	bool joined;
	int efd; /* thread -> event loop: "look at the phase" */
	struct evloop_handle *efd_h, *drain_h;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	enum phase phase;
	atomic_bool abort; /* the VM is going away */
	int rc;
	char err[256];
	uint8_t *kern; /* saved by the event loop once paused */
	size_t klen;
	uint64_t *kvm_bits[2]; /* KVM's dirty log of slots 0 (low RAM) and 1 (high RAM) */
	uint64_t *vmm_bits;    /* pages the devices wrote (guestmem.vmm_dirty) */
	uint64_t *send_bits;
	uint64_t t0, paused_at;
	bool vcpus_paused, devices_paused, logging;
	struct migrate_result res;
};

static struct migration *active;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t pages_of(uint64_t bytes)
{
	return (bytes + PAGE - 1) / PAGE;
}

static void poke_loop(struct migration *m)
{
	uint64_t one = 1;
	if (write(m->efd, &one, sizeof(one)) < 0)
		kb_debug("migration: cannot wake the event loop");
}

/* ---- the stream (migration thread) ---- */

static bool page_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;
	for (size_t i = 0; i < PAGE / 8; i++)
		if (w[i])
			return false;
	return true;
}

/* Send the pages [first, first + n) of RAM: runs of data as MEM, runs of zero pages as ZERO
 * (the destination's RAM holds its own boot's bytes, so zeros are sent too). */
static int send_pages(struct migration *m, uint64_t first, uint64_t n, uint64_t *bytes)
{
	const uint8_t *ram = m->vm->mem.host;
	uint64_t pg = first, end = first + n;
	while (pg < end) {
		bool zero = page_zero(ram + pg * PAGE);
		uint64_t run = 1;
		while (pg + run < end && page_zero(ram + (pg + run) * PAGE) == zero &&
		       (zero || run * PAGE < MIG_MEM_MAX))
			run++;
		uint8_t off[16];
		uint64_t at = pg * PAGE, len = run * PAGE;
		for (int i = 0; i < 8; i++) {
			off[i] = (uint8_t)(at >> (8 * i));
			off[8 + i] = (uint8_t)(len >> (8 * i));
		}
		int rc = zero ? mig_send(m->sock, MIG_ZERO, off, 16)
			      : mig_send2(m->sock, MIG_MEM, off, 8, ram + at, len);
		if (rc)
			return rc;
		if (!zero)
			*bytes += len;
		pg += run;
		if (atomic_load(&m->abort))
			return -ECANCELED;
	}
	return 0;
}

/* Send every page whose bit is set in `bits` (covering all of RAM); the bits are cleared. */
static int send_marked(struct migration *m, uint64_t *bits, uint64_t *bytes, uint64_t *pages)
{
	uint64_t npages = pages_of(m->vm->mem.size);
	for (uint64_t w = 0; w < (npages + 63) / 64; w++) {
		uint64_t word = bits[w];
		bits[w] = 0;
		while (word) {
			unsigned b = (unsigned)__builtin_ctzll(word);
			uint64_t run = 1;
			while (b + run < 64 && (word >> (b + run) & 1))
				run++;
			word &= run == 64 ? 0 : ~(((1ULL << run) - 1) << b);
			uint64_t pg = w * 64 + b;
			if (pg >= npages)
				break;
			if (pg + run > npages)
				run = npages - pg;
			int rc = send_pages(m, pg, run, bytes);
			if (rc)
				return rc;
			*pages += run;
		}
	}
	return 0;
}

/* KVM's dirty pages since the last call, and with `vmm` the devices' too, into send_bits. */
static int collect_dirty(struct migration *m, bool vmm)
{
	struct vm *vm = m->vm;
	uint64_t low = pages_of(vm->mem.lowmem);
	for (unsigned slot = 0; slot < 2; slot++) {
		uint64_t pages = slot == 0 ? low : pages_of(vm->mem.highmem);
		if (pages == 0)
			continue;
		int rc = vm_get_dirty_log(vm, slot, m->kvm_bits[slot]);
		if (rc)
			return rc;
		for (uint64_t p = 0; p < pages; p++)
			if (m->kvm_bits[slot][p / 64] >> (p % 64) & 1) {
				uint64_t at = (slot == 0 ? 0 : low) + p;
				m->send_bits[at / 64] |= 1ULL << (at % 64);
			}
	}
	if (vmm) {
		uint64_t words = (pages_of(vm->mem.size) + 63) / 64;
		for (uint64_t w = 0; w < words; w++)
			m->send_bits[w] |= __atomic_exchange_n(&m->vmm_bits[w], 0, __ATOMIC_RELAXED);
	}
	return 0;
}

static int set_logging(struct migration *m, bool on)
{
	struct vm *vm = m->vm;
	uint32_t flags = on ? KVM_MEM_LOG_DIRTY_PAGES : 0;
	int rc = vm_set_memslot(vm, 0, 0, vm->mem.lowmem, vm->mem.host, flags);
	if (rc == 0 && vm->mem.highmem)
		rc = vm_set_memslot(vm, 1, GM_4G, vm->mem.highmem, vm->mem.host + vm->mem.lowmem,
				    flags);
	return rc;
}

static int wait_reply(struct migration *m, uint16_t want)
{
	uint8_t hdr[MIG_HDR];
	struct mig_frame f;
	int rc = mig_recv_all(m->sock, hdr, sizeof(hdr), REPLY_TIMEOUT_MS);
	if (rc == 0)
		rc = mig_parse_header(hdr, 0, &f, m->err, sizeof(m->err));
	if (rc)
		return rc;
	if (f.type == MIG_ERROR) {
		char msg[200] = "";
		size_t n = f.len < sizeof(msg) - 1 ? f.len : sizeof(msg) - 1;
		if (mig_recv_all(m->sock, msg, n, REPLY_TIMEOUT_MS) == 0)
			for (size_t i = 0; i < n; i++)
				if (msg[i] < 0x20 || msg[i] == 0x7f)
					msg[i] = '?';
		snprintf(m->err, sizeof(m->err), "the destination refused: %s", msg);
		return -EREMOTEIO;
	}
	if (f.type != want || f.len) {
		snprintf(m->err, sizeof(m->err), "the destination answered %s, not %s",
			 mig_type_name(f.type), mig_type_name(want));
		return -EPROTO;
	}
	return 0;
}

static void set_phase(struct migration *m, enum phase p)
{
	pthread_mutex_lock(&m->lock);
	m->phase = p;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->lock);
	poke_loop(m);
}

static int stream(struct migration *m)
{
	struct vm *vm = m->vm;
	char *hello = vmstate_meta_text(vm, NULL, 0);
	if (!hello)
		return -ENOMEM;
	int rc = mig_send(m->sock, MIG_HELLO, hello, strlen(hello));
	free(hello);
	if (rc == 0)
		rc = wait_reply(m, MIG_OK);
	if (rc)
		return rc;
	/* from here on, writes are logged: by the guest's vCPUs (KVM) and by the devices (us) */
	rc = set_logging(m, true);
	if (rc) {
		snprintf(m->err, sizeof(m->err), "cannot log dirty pages: %s", strerror(-rc));
		return rc;
	}
	m->logging = true;
	__atomic_store_n(&vm->mem.vmm_dirty, m->vmm_bits, __ATOMIC_RELEASE);
	uint64_t npages = pages_of(vm->mem.size);
	uint64_t t = now_ms(), bytes = 0, pages = 0;
	rc = send_pages(m, 0, npages, &bytes);
	m->res.rounds = 1;
	m->res.mem_bytes = bytes;
	/* rounds of what changed, until one would fit the downtime at the rate seen */
	while (rc == 0) {
		uint64_t ms = now_ms() - t;
		double rate = (double)(bytes ? bytes : 1) / (double)(ms ? ms : 1); /* bytes/ms */
		rc = collect_dirty(m, false);
		if (rc)
			break;
		uint64_t dirty = 0;
		for (uint64_t w = 0; w < (npages + 63) / 64; w++)
			dirty += (uint64_t)__builtin_popcountll(m->send_bits[w]);
		if ((double)(dirty * PAGE) / rate <= m->downtime_ms || m->res.rounds >= MAX_ROUNDS)
			break;
		t = now_ms();
		bytes = pages = 0;
		rc = send_marked(m, m->send_bits, &bytes, &pages);
		m->res.rounds++;
		m->res.mem_bytes += bytes;
	}
	if (rc)
		return rc;
	/* the last round: everything parked and drained by the event loop, the state saved */
	set_phase(m, PH_PAUSING);
	pthread_mutex_lock(&m->lock);
	while (m->phase == PH_PAUSING)
		pthread_cond_wait(&m->cv, &m->lock);
	bool paused = m->phase == PH_PAUSED;
	pthread_mutex_unlock(&m->lock);
	if (!paused)
		return m->rc ? m->rc : -ECANCELED;
	bytes = pages = 0;
	rc = collect_dirty(m, true);
	if (rc == 0)
		rc = send_marked(m, m->send_bits, &bytes, &pages);
	m->res.final_bytes = bytes;
	m->res.mem_bytes += bytes;
	if (rc == 0)
		rc = mig_send(m->sock, MIG_STATE, m->kern, m->klen);
	if (rc == 0)
		rc = mig_send(m->sock, MIG_DONE, NULL, 0);
	if (rc == 0)
		rc = wait_reply(m, MIG_READY);
	/* the point of no return: once COMMIT is out, the destination runs the guest */
	if (rc == 0)
		rc = mig_send(m->sock, MIG_COMMIT, NULL, 0);
	return rc;
}

static void *migration_thread(void *arg)
{
	struct migration *m = arg;
	pthread_setname_np(pthread_self(), "migration");
	thread_role_enter(THREAD_ROLE_MAIN);
	int rc = stream(m);
	if (rc && !m->err[0])
		snprintf(m->err, sizeof(m->err), "%s",
			 rc == -EPIPE || rc == -ECONNRESET ? "the destination disconnected"
			 : rc == -ETIMEDOUT		   ? "the destination went silent"
			 : rc == -ECANCELED		   ? "cancelled"
							   : strerror(-rc));
	if (rc && rc != -EPIPE && rc != -ECONNRESET) /* tell the destination, if it listens */
		mig_send(m->sock, MIG_ERROR, m->err, strlen(m->err));
	pthread_mutex_lock(&m->lock);
	m->rc = rc;
	m->phase = PH_FINISHED;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->lock);
	poke_loop(m);
	return NULL;
}

/* ---- the event loop's part ---- */

static void release(struct migration *m)
{
	struct vm *vm = m->vm;
	if (m->logging) {
		__atomic_store_n(&vm->mem.vmm_dirty, NULL, __ATOMIC_RELEASE);
		set_logging(m, false);
		m->logging = false;
	}
	if (m->devices_paused)
		vmstate_resume(vm);
	if (m->vcpus_paused)
		vm_resume_vcpus(vm);
	m->devices_paused = m->vcpus_paused = false;
}

static void finish(struct migration *m)
{
	struct vm *vm = m->vm;
	pthread_join(m->thread, NULL);
	m->joined = true;
	evloop_del(vm->ev, m->efd_h);
	evloop_del(vm->ev, m->drain_h);
	m->efd_h = m->drain_h = NULL;
	m->res.total_ms = (unsigned)(now_ms() - m->t0);
	if (m->paused_at)
		m->res.pause_ms = (unsigned)(now_ms() - m->paused_at);
	if (m->rc == 0) {
		kb_debug("migrated: the destination runs the guest; this VM exits");
		__atomic_store_n(&vm->mem.vmm_dirty, NULL, __ATOMIC_RELEASE);
		vm_request_exit(vm, BHYVE_EXIT_SUSPEND);
	} else {
		release(m); /* the guest runs on here, as before */
	}
	active = NULL;
	m->done(m->opaque, m->rc, m->err, &m->res);
}

static void paused_and_saved(struct migration *m, int rc)
{
	pthread_mutex_lock(&m->lock);
	if (rc) {
		m->rc = rc;
		atomic_store(&m->abort, true);
	}
	m->phase = rc ? PH_FINISHED : PH_PAUSED;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->lock);
}

static void drain_poll(void *opaque)
{
	struct migration *m = opaque;
	const struct snapshot_entry *busy = vmstate_busy(m->vm);
	if (busy && now_ms() - m->paused_at < DRAIN_TIMEOUT_MS)
		return;
	evloop_del(m->vm->ev, m->drain_h);
	m->drain_h = NULL;
	int rc = 0;
	if (busy) {
		snprintf(m->err, sizeof(m->err), "%s did not finish its I/O within %d s",
			 busy->name, DRAIN_TIMEOUT_MS / 1000);
		rc = -ETIMEDOUT;
	} else {
		rc = vmstate_save_kern(m->vm, &m->kern, &m->klen, m->err, sizeof(m->err));
	}
	paused_and_saved(m, rc);
}

static void on_thread(int fd, uint32_t events, void *opaque)
{
	struct migration *m = opaque;
	uint64_t n;
	if (read(fd, &n, sizeof(n)) < 0)
		return;
	pthread_mutex_lock(&m->lock);
	enum phase p = m->phase;
	pthread_mutex_unlock(&m->lock);
	if (p == PH_FINISHED) {
		finish(m);
		return;
	}
	if (p != PH_PAUSING || m->vcpus_paused)
		return;
	int rc = vm_pause_vcpus(m->vm, PAUSE_TIMEOUT_MS);
	if (rc) {
		snprintf(m->err, sizeof(m->err), "%s",
			 rc == -EAGAIN ? "the guest stopped" : "the vCPUs did not stop");
		paused_and_saved(m, rc);
		return;
	}
	m->vcpus_paused = true;
	m->paused_at = now_ms();
	vmstate_pause(m->vm);
	m->devices_paused = true;
	m->drain_h = evloop_add_timer(m->vm->ev, 0, 1, drain_poll, m);
	if (!m->drain_h) {
		snprintf(m->err, sizeof(m->err), "cannot start the drain timer");
		paused_and_saved(m, -ENOMEM);
	}
}

/* The VM goes away with a migration running: stop the thread first. */
static void teardown(void *opaque)
{
	struct migration *m = opaque;
	if (!m->joined && m->thread) {
		atomic_store(&m->abort, true);
		shutdown(m->sock, SHUT_RDWR);
		pthread_mutex_lock(&m->lock);
		if (m->phase == PH_PAUSING) {
			m->phase = PH_FINISHED;
			pthread_cond_broadcast(&m->cv);
		}
		pthread_mutex_unlock(&m->lock);
		pthread_join(m->thread, NULL);
	}
	if (m->vm->mem.vmm_dirty == m->vmm_bits)
		__atomic_store_n(&m->vm->mem.vmm_dirty, NULL, __ATOMIC_RELEASE);
	if (active == m)
		active = NULL;
	close(m->sock);
	close(m->efd);
	free(m->kern);
	free(m->kvm_bits[0]);
	free(m->kvm_bits[1]);
	free(m->vmm_bits);
	free(m->send_bits);
	pthread_mutex_destroy(&m->lock);
	pthread_cond_destroy(&m->cv);
	free(m);
}

int migrate_start(struct vm *vm, int sock, unsigned downtime_ms, migrate_done_fn done,
		  void *opaque, char *err, size_t errlen)
{
	const struct snapshot_entry *no = NULL;
	int rc = 0;
	if (active) {
		snprintf(err, errlen, "a migration is running already");
		rc = -EBUSY;
	} else if (vm->bootrom) {
		snprintf(err, errlen, "a VM booted from firmware (-l bootrom) cannot migrate yet");
		rc = -ENOTSUP;
	} else if ((no = vmstate_unsupported(vm))) {
		snprintf(err, errlen, "%s: %s", no->name, no->why);
		rc = -ENOTSUP;
	} else if (atomic_load(&vm->exit_code) >= 0 || !vm->nvcpus || !vm->vcpus[0]->started) {
		snprintf(err, errlen, "the guest is not running");
		rc = -EAGAIN;
	}
	if (rc) {
		close(sock);
		return rc;
	}
	struct migration *m = calloc(1, sizeof(*m));
	uint64_t words = (pages_of(vm->mem.size) + 63) / 64;
	if (m) {
		m->vm = vm;
		m->sock = sock;
		m->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		m->kvm_bits[0] = calloc((pages_of(vm->mem.lowmem) + 63) / 64 + 1, 8);
		m->kvm_bits[1] = calloc((pages_of(vm->mem.highmem) + 63) / 64 + 1, 8);
		m->vmm_bits = calloc(words + 1, 8);
		m->send_bits = calloc(words + 1, 8);
		pthread_mutex_init(&m->lock, NULL);
		pthread_cond_init(&m->cv, NULL);
	}
	if (!m || m->efd < 0 || !m->kvm_bits[0] || !m->kvm_bits[1] || !m->vmm_bits ||
	    !m->send_bits || vm_at_destroy(vm, teardown, m) < 0) {
		if (m) {
			m->thread = 0;
			m->joined = true;
			teardown(m);
		} else {
			close(sock);
		}
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	m->downtime_ms = downtime_ms ? downtime_ms : MIGRATE_DOWNTIME_MS;
	m->done = done;
	m->opaque = opaque;
	m->t0 = now_ms();
	m->efd_h = evloop_add_fd(vm->ev, m->efd, EPOLLIN, on_thread, m);
	rc = m->efd_h ? pthread_create(&m->thread, NULL, migration_thread, m) : ENOMEM;
	if (rc) {
		evloop_del(vm->ev, m->efd_h);
		m->efd_h = NULL;
		m->joined = true; /* teardown at vm_destroy frees it */
		snprintf(err, errlen, "cannot start the migration thread: %s", strerror(rc));
		return -rc;
	}
	active = m;
	return 0;
}
