/* SPDX-License-Identifier: BSD-2-Clause */
#include "core/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "boot/bootrom.h"
#include "config/options.h"
#include "core/cpuid.h"
#include "core/irqroute.h"
#include "core/exitcode.h"
#include "core/log.h"
#include "core/vcpu.h"
#include "pci/pci.h"

/* Addresses KVM needs on Intel for real-mode emulation (3 pages of TSS, 1 of identity map): just
 * below the 16 MiB boot ROM window, where QEMU keeps them too. */
#define KVM_TSS_ADDR 0xfeffd000
#define KVM_IDENTITY_MAP_ADDR 0xfeffc000
#define BOOTROM_SLOT 2 /* after low (0) and high (1) RAM; VARS takes 3 */
#define FIRST_DEVICE_SLOT 4
_Static_assert(KVM_TSS_ADDR + 3 * 4096 <= BOOTROM_WINDOW_BASE &&
		   KVM_IDENTITY_MAP_ADDR + 4096 <= KVM_TSS_ADDR,
	       "KVM's TSS and identity map must stay out of the boot ROM window");
#define HALT_PROBE_MS 500

static unsigned bits_for(unsigned n)
{
	unsigned b = 0;
	while ((1u << b) < n)
		b++;
	return b;
}

uint32_t vm_apic_id(const struct vm *vm, int i)
{
	const struct cpu_topology *t = &vm->topo;
	unsigned tb = bits_for((unsigned)t->threads), cb = bits_for((unsigned)t->cores);
	unsigned thread = (unsigned)i % (unsigned)t->threads;
	unsigned core = ((unsigned)i / (unsigned)t->threads) % (unsigned)t->cores;
	unsigned socket = (unsigned)i / (unsigned)(t->threads * t->cores);
	return (socket << (tb + cb)) | (core << tb) | thread;
}

int vm_irq_line(struct vm *vm, unsigned gsi, bool level)
{
	struct kvm_irq_level irq = {.irq = gsi, .level = level ? 1 : 0};
	return ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0 ? -errno : 0;
}

int vm_irq_pulse(struct vm *vm, unsigned gsi)
{
	int rc = vm_irq_line(vm, gsi, true);
	if (rc == 0)
		rc = vm_irq_line(vm, gsi, false);
	return rc;
}

void vm_request_exit(struct vm *vm, int code)
{
	int expected = -1;
	if (atomic_compare_exchange_strong(&vm->exit_code, &expected, code))
		evloop_stop(vm->ev, code);
}

static int open_kvm(char *err, size_t errlen)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT)
			snprintf(err, errlen, "/dev/kvm: no such device (load kvm-intel or kvm-amd; "
					      "is virtualization enabled?)");
		else if (e == EACCES || e == EPERM)
			snprintf(err, errlen, "/dev/kvm: permission denied (run as root or join the "
					      "kvm group)");
		else
			snprintf(err, errlen, "/dev/kvm: %s", strerror(e));
		return -e;
	}
	int ver = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (ver != KVM_API_VERSION) {
		snprintf(err, errlen, "/dev/kvm: unsupported KVM API version %d", ver);
		close(fd);
		return -ENOTSUP;
	}
	return fd;
}

static int setup_memory(struct vm *vm, uint64_t size, bool wired, char *err, size_t errlen)
{
	int rc = guestmem_init(&vm->mem, size, wired);
	if (rc) {
		snprintf(err, errlen, "cannot allocate %llu MiB of guest memory%s: %s",
			 (unsigned long long)(size >> 20), wired ? " (wired, -S)" : "",
			 strerror(-rc));
		return rc;
	}
	struct kvm_userspace_memory_region low = {
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = vm->mem.lowmem,
		.userspace_addr = (uintptr_t)vm->mem.host,
	};
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &low) < 0)
		goto fail;
	if (vm->mem.highmem) {
		struct kvm_userspace_memory_region high = {
			.slot = 1,
			.guest_phys_addr = GM_4G,
			.memory_size = vm->mem.highmem,
			.userspace_addr = (uintptr_t)(vm->mem.host + vm->mem.lowmem),
		};
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &high) < 0)
			goto fail;
	}
	return 0;
fail:
	rc = -errno;
	snprintf(err, errlen, "KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
	return rc;
}

static int read_policy(struct vm *vm, char *err, size_t errlen)
{
	static const struct {
		const char *key;
		bool def;
		size_t off;
	} bools[] = {
		{"x86.strictio", false, offsetof(struct vm, strictio)},
		{"x86.strictmsr", true, offsetof(struct vm, strictmsr)},
		{"x86.x2apic", true, offsetof(struct vm, x2apic)},
		{"rtc.use_localtime", true, offsetof(struct vm, localtime_rtc)},
	};
	for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
		bool *dst = (bool *)((char *)vm + bools[i].off);
		if (config_get_bool(vm->cfg, bools[i].key, bools[i].def, dst) < 0) {
			snprintf(err, errlen, "%s: not a boolean: '%s'", bools[i].key,
				 config_get(vm->cfg, bools[i].key));
			return -EINVAL;
		}
	}
	/* booleans that other layers read with their default: a bad value stops the VM here,
	 * rather than silently counting as the default there */
	static const char *const checked[] = {"x86.mptable", "virtio_msix", "memory.guest_in_core"};
	for (size_t i = 0; i < sizeof(checked) / sizeof(checked[0]); i++) {
		bool b;
		if (config_get_bool(vm->cfg, checked[i], false, &b) < 0) {
			snprintf(err, errlen, "%s: not a boolean: '%s'", checked[i],
				 config_get(vm->cfg, checked[i]));
			return -EINVAL;
		}
	}
	return 0;
}

static int setup_kvm_vm(struct vm *vm, char *err, size_t errlen)
{
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		snprintf(err, errlen, "KVM_CREATE_VM: %s", strerror(errno));
		return -errno;
	}
	vm->vcpu_mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->vcpu_mmap_size <= 0) {
		snprintf(err, errlen, "KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
		return -EINVAL;
	}
	int max = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max > 0 && vm->topo.cpus > max) {
		snprintf(err, errlen, "%d vCPUs requested but KVM supports at most %d",
			 vm->topo.cpus, max);
		return -EINVAL;
	}
	vm->tsc_deadline = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	/* Harmless on AMD; needed on Intel without unrestricted guest. */
	ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR);
	uint64_t idmap = KVM_IDENTITY_MAP_ADDR;
	ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap);
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		snprintf(err, errlen, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
		return -errno;
	}
	int rc = irqroute_init(vm);
	if (rc) {
		snprintf(err, errlen, "cannot set up interrupt routing: %s", strerror(-rc));
		return rc;
	}
	struct kvm_pit_config pit = {.flags = 0};
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		snprintf(err, errlen, "KVM_CREATE_PIT2: %s", strerror(errno));
		return -errno;
	}
	if (!vm->strictmsr) {
		/* -w: unknown MSRs come to user space, which ignores them */
		struct kvm_enable_cap cap = {.cap = KVM_CAP_X86_USER_SPACE_MSR,
					     .args = {KVM_MSR_EXIT_REASON_UNKNOWN}};
		if (ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
			kb_log("warning: -w (x86.strictmsr=false) needs KVM_CAP_X86_USER_SPACE_MSR: %s",
			       strerror(errno));
	}
	return 0;
}

static int setup_vcpus(struct vm *vm, char *err, size_t errlen)
{
	vm->cpuid = cpuid_supported(vm->kvm_fd);
	if (!vm->cpuid) {
		snprintf(err, errlen, "cannot read KVM's supported CPUID");
		return -EIO;
	}
	vm->vcpus = calloc((size_t)vm->topo.cpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return -ENOMEM;
	for (int i = 0; i < vm->topo.cpus; i++) {
		int rc = vcpu_create(vm, i, &vm->vcpus[i]);
		if (rc) {
			snprintf(err, errlen, "cannot create vCPU %d: %s", i, strerror(-rc));
			return rc;
		}
		vm->nvcpus++;
		struct kvm_cpuid2 *c;
		rc = cpuid_for_vcpu(vm, vm->cpuid, vm->vcpus[i]->apic_id, &c, err, errlen);
		if (rc)
			return rc;
		rc = ioctl(vm->vcpus[i]->fd, KVM_SET_CPUID2, c) < 0 ? -errno : 0;
		free(c);
		if (rc) {
			snprintf(err, errlen, "vCPU %d: KVM_SET_CPUID2: %s", i, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

struct vm *vm_create(struct cfgnode *cfg, char *err, size_t errlen)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	if (!vm) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	vm->cfg = cfg;
	vm->kvm_fd = vm->vm_fd = -1;
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&vm->pause_cv, &ca);
	pthread_condattr_destroy(&ca);
	atomic_store(&vm->exit_code, -1);
	vm->next_memslot = FIRST_DEVICE_SLOT;
	iobus_init(&vm->bus);
	vm->name = config_get(cfg, "name");

	uint64_t memsize;
	const char *ms = config_get(cfg, "memory.size");
	if (!ms || parse_memsize(ms, &memsize) < 0) {
		snprintf(err, errlen, "memory.size: invalid memory size '%s'", ms ? ms : "");
		goto fail;
	}
	if (memsize < (2u << 20)) {
		snprintf(err, errlen, "memory.size: %s is too small (at least 2M)", ms);
		goto fail;
	}
	if (topology_from_config(cfg, &vm->topo, err, errlen) < 0)
		goto fail;
	bool wired = false;
	if (config_get_bool(cfg, "memory.wired", false, &wired) < 0) {
		snprintf(err, errlen, "memory.wired: not a boolean");
		goto fail;
	}
	if (read_policy(vm, err, errlen) < 0)
		goto fail;
	/* Firmware files are checked before KVM is touched: bad input fails the same everywhere. */
	if (bootrom_open(cfg, &vm->bootrom, err, errlen) < 0)
		goto fail;
	vm->ev = evloop_new();
	if (!vm->ev) {
		snprintf(err, errlen, "cannot create the event loop");
		goto fail;
	}
	vm->kvm_fd = open_kvm(err, errlen);
	if (vm->kvm_fd < 0)
		goto fail;
	if (setup_kvm_vm(vm, err, errlen) < 0)
		goto fail;
	if (setup_memory(vm, memsize, wired, err, errlen) < 0)
		goto fail;
	if (vm->bootrom && bootrom_map(vm, vm->bootrom, BOOTROM_SLOT, err, errlen) < 0)
		goto fail;
	/* Guest RAM stays out of core dumps unless -C (memory.guest_in_core) asks for it. */
	bool in_core = false;
	config_get_bool(cfg, "memory.guest_in_core", false, &in_core);
	if (in_core)
		madvise(vm->mem.host, vm->mem.size, MADV_DODUMP);
	if (setup_vcpus(vm, err, errlen) < 0)
		goto fail;
	vcpu_signal_setup(); /* here, before a sandbox forbids changing signal handlers */
	return vm;
fail:
	vm_destroy(vm);
	return NULL;
}

/* bhyve's "halt": every active vCPU sits in HLT with interrupts disabled. The in-kernel LAPIC
 * handles HLT without exiting, so the state is sampled periodically from each vCPU thread. */
static void halt_probe(void *opaque)
{
	struct vm *vm = opaque;
	int halted = 0, active = 0;
	for (int i = 0; i < vm->nvcpus; i++) {
		int s = atomic_load(&vm->vcpus[i]->halted_no_if);
		if (s >= 0)
			active++;
		if (s == 1)
			halted++;
	}
	if (active > 0 && halted == active) {
		kb_debug("all %d active vCPUs halted with interrupts disabled", active);
		vm_request_exit(vm, BHYVE_EXIT_HALT);
		return;
	}
	for (int i = 0; i < vm->nvcpus; i++) {
		atomic_store(&vm->vcpus[i]->halted_no_if, 0);
		atomic_store(&vm->vcpus[i]->probe, true);
		vcpu_kick(vm->vcpus[i]);
	}
}

static void start_vcpus(struct vm *vm)
{
	for (int i = 0; i < vm->nvcpus; i++) {
		int rc = vcpu_start(vm->vcpus[i]);
		if (rc) { /* vcpu_start said why */
			vm_request_exit(vm, BHYVE_EXIT_ERROR);
			break;
		}
	}
}

void vm_hold_start(struct vm *vm)
{
	vm->start_holds++;
}

void vm_release_start(struct vm *vm)
{
	if (vm->start_holds > 0 && --vm->start_holds == 0 && vm->vcpus_wanted) {
		vm->vcpus_wanted = false;
		start_vcpus(vm);
	}
}

int vm_alloc_memslot(struct vm *vm)
{
	int max = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
	if (max <= 0)
		max = 32;
	if ((int)vm->next_memslot >= max || vm->next_memslot > UINT16_MAX)
		return -ENOSPC;
	return (int)vm->next_memslot++;
}

int vm_set_memslot(struct vm *vm, unsigned slot, uint64_t gpa, uint64_t size, void *host,
		   uint32_t flags)
{
	struct kvm_userspace_memory_region r = {
	    .slot = slot,
	    .flags = size ? flags : 0,
	    .guest_phys_addr = gpa,
	    .memory_size = size,
	    .userspace_addr = (uintptr_t)host,
	};
	return ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -errno : 0;
}

int vm_get_dirty_log(struct vm *vm, unsigned slot, void *bitmap)
{
	struct kvm_dirty_log d = {.slot = slot, .dirty_bitmap = bitmap};
	return ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &d) < 0 ? -errno : 0;
}

int vm_pause_vcpus(struct vm *vm, int timeout_ms)
{
	int running = 0;
	for (int i = 0; i < vm->nvcpus; i++)
		running += vm->vcpus[i]->started;
	if (running == 0 || running != vm->nvcpus || atomic_load(&vm->exit_code) >= 0)
		return -EAGAIN;
	pthread_mutex_lock(&vm->pause_lock);
	vm->pause_req = true;
	pthread_mutex_unlock(&vm->pause_lock);
	for (int i = 0; i < vm->nvcpus; i++)
		vcpu_kick(vm->vcpus[i]);
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	int rc = 0;
	pthread_mutex_lock(&vm->pause_lock);
	while (vm->parked < running && rc == 0) {
		if (atomic_load(&vm->exit_code) >= 0)
			rc = -EAGAIN; /* a vCPU ended the VM meanwhile */
		else if (pthread_cond_timedwait(&vm->pause_cv, &vm->pause_lock, &until) == ETIMEDOUT)
			rc = -ETIMEDOUT;
	}
	pthread_mutex_unlock(&vm->pause_lock);
	if (rc)
		vm_resume_vcpus(vm);
	return rc;
}

void vm_resume_vcpus(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	vm->pause_req = false;
	pthread_cond_broadcast(&vm->pause_cv);
	pthread_mutex_unlock(&vm->pause_lock);
}

void vm_vcpu_park(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	if (vm->pause_req) {
		vm->parked++;
		pthread_cond_broadcast(&vm->pause_cv);
		while (vm->pause_req && atomic_load(&vm->exit_code) < 0)
			pthread_cond_wait(&vm->pause_cv, &vm->pause_lock);
		vm->parked--;
	}
	pthread_mutex_unlock(&vm->pause_lock);
}

int vm_run(struct vm *vm)
{
	if (vm->start_holds > 0)
		vm->vcpus_wanted = true; /* vm_release_start starts them */
	else
		start_vcpus(vm);
	vm->halt_timer = evloop_add_timer(vm->ev, HALT_PROBE_MS, HALT_PROBE_MS, halt_probe, vm);
	int code = evloop_run(vm->ev);
	if (code < 0)
		code = BHYVE_EXIT_ERROR;
	int requested = atomic_load(&vm->exit_code);
	if (requested >= 0)
		code = requested;
	/* parked vCPUs (a checkpoint that ends the VM) see exit_code set */
	pthread_mutex_lock(&vm->pause_lock);
	pthread_cond_broadcast(&vm->pause_cv);
	pthread_mutex_unlock(&vm->pause_lock);
	/* stop and join every vCPU before devices go away */
	for (int i = 0; i < vm->nvcpus; i++) {
		atomic_store(&vm->vcpus[i]->stop, true);
		vcpu_kick(vm->vcpus[i]);
	}
	for (int i = 0; i < vm->nvcpus; i++) {
		if (vm->vcpus[i]->started) {
			pthread_join(vm->vcpus[i]->thread, NULL);
			vm->vcpus[i]->started = false;
		}
	}
	return code;
}

struct vm_cleanup {
	void (*fn)(void *opaque);
	void *opaque;
	struct vm_cleanup *next;
};

int vm_at_destroy(struct vm *vm, void (*fn)(void *opaque), void *opaque)
{
	struct vm_cleanup *c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fn = fn;
	c->opaque = opaque;
	c->next = vm->cleanups;
	vm->cleanups = c;
	return 0;
}

void vm_run_destroy_hooks(struct vm *vm)
{
	while (vm->cleanups) {
		struct vm_cleanup *c = vm->cleanups;
		vm->cleanups = c->next;
		c->fn(c->opaque);
		free(c);
	}
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	for (int i = 0; i < vm->nvcpus; i++)
		vcpu_destroy(vm->vcpus[i]);
	vm_run_destroy_hooks(vm);
	free(vm->vcpus);
	free(vm->cpuid);
	pci_fini_all(vm);
	irqroute_fini(vm);
	guestmem_fini(&vm->mem);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	bootrom_free(vm->bootrom);
	if (vm->ev)
		evloop_free(vm->ev);
	iobus_fini(&vm->bus);
	pthread_mutex_destroy(&vm->pause_lock);
	pthread_cond_destroy(&vm->pause_cv);
	free(vm);
}
