/* SPDX-License-Identifier: BSD-2-Clause */
#include "core/vcpu.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config/config.h"
#include "core/cpuid.h"
#include "core/exitcode.h"
#include "core/log.h"
#include "core/threadrole.h"
#include "core/vm.h"

#define VCPU_KICK_SIGNAL SIGUSR2

/* Only this vCPU's thread writes its counters; bhyvectl reads them with relaxed loads. */
static inline void vstat_inc(struct vcpu *v, enum vcpu_stat s)
{
	__atomic_store_n(&v->stats[s], __atomic_load_n(&v->stats[s], __ATOMIC_RELAXED) + 1,
			 __ATOMIC_RELAXED);
}

static void kick_handler(int sig)
{
	(void)sig; /* only interrupts KVM_RUN */
}

void vcpu_signal_setup(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(VCPU_KICK_SIGNAL, &sa, NULL); /* no SA_RESTART: KVM_RUN must return EINTR */
}

int vcpu_create(struct vm *vm, int index, struct vcpu **out)
{
	struct vcpu *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->vm = vm;
	v->index = index;
	v->apic_id = vm_apic_id(vm, index);
	atomic_store(&v->halted_no_if, -1);
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)v->apic_id);
	if (v->fd < 0) {
		int e = errno;
		kb_log("vCPU %d: KVM_CREATE_VCPU: %s", index, strerror(e));
		free(v);
		return -e;
	}
	v->run = mmap(NULL, (size_t)vm->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		int e = errno;
		kb_log("vCPU %d: mmap kvm_run: %s", index, strerror(e));
		close(v->fd);
		free(v);
		return -e;
	}
	*out = v;
	return 0;
}

static void set_seg(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code64, bool big)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->l = code64;
	s->db = big;
	s->g = 1;
}

int vcpu_set_boot_state(struct vcpu *v, const struct boot_cpu_state *st)
{
	struct kvm_sregs sregs;
	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	bool lm = st->mode == BOOT_MODE_LONG64;
	set_seg(&sregs.cs, 0x10, 0xb, lm, !lm);
	set_seg(&sregs.ds, 0x18, 0x3, false, true);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.gdt.base = st->gdt_base;
	sregs.gdt.limit = st->gdt_limit;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	if (lm) {
		sregs.cr3 = st->cr3;
		sregs.cr4 = 0x20;            /* PAE */
		sregs.cr0 = 0x80000011;      /* PG | ET | PE */
		sregs.efer = 0x500;          /* LME | LMA */
	} else {
		sregs.cr0 = 0x11;            /* ET | PE, paging off */
		sregs.cr4 = 0;
		sregs.efer = 0;
	}
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;
	struct kvm_regs regs;
	memset(&regs, 0, sizeof(regs));
	regs.rflags = 2;
	regs.rip = st->rip;
	regs.rsp = st->rsp;
	regs.rsi = st->rsi;
	regs.rbx = st->rbx;
	if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}

int vcpu_set_real_mode(struct vcpu *v, uint16_t ip)
{
	struct kvm_sregs sregs;
	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	sregs.cs.selector = 0;
	sregs.cs.base = 0;
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;
	struct kvm_regs regs;
	memset(&regs, 0, sizeof(regs));
	regs.rflags = 2;
	regs.rip = ip;
	regs.rsp = 0x7000; /* below the conventional 0x7c00 load area */
	if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}

static void handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	struct vm *vm = v->vm;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
	unsigned size = run->io.size;
	vstat_inc(v, VSTAT_IO);
	for (uint32_t i = 0; i < run->io.count; i++, data += size) {
		uint64_t val = 0;
		if (is_write)
			memcpy(&val, data, size);
		int rc = iobus_dispatch(&vm->bus, IOBUS_PIO, run->io.port, size, is_write, &val);
		if (rc == -ENOENT) {
			if (vm->strictio) {
				kb_log("vCPU %d: unhandled I/O %s port %#x (%u bytes) with -e (x86.strictio)",
				       v->index, is_write ? "write to" : "read from", run->io.port,
				       size);
				vm_request_exit(vm, BHYVE_EXIT_ERROR);
				return;
			}
			val = ~0ULL; /* an empty ISA bus reads as all ones */
		}
		if (!is_write)
			memcpy(data, &val, size);
	}
}

static void handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	unsigned len = run->mmio.len;
	vstat_inc(v, VSTAT_MMIO);
	if (len == 0 || len > 8)
		return;
	uint64_t val = 0;
	if (run->mmio.is_write)
		memcpy(&val, run->mmio.data, len);
	int rc = iobus_dispatch(&v->vm->bus, IOBUS_MMIO, run->mmio.phys_addr, len,
				run->mmio.is_write, &val);
	if (rc == -ENOENT) {
		kb_debug("vCPU %d: unhandled MMIO %s %#llx", v->index,
			 run->mmio.is_write ? "write" : "read",
			 (unsigned long long)run->mmio.phys_addr);
		val = ~0ULL;
	}
	if (!run->mmio.is_write)
		memcpy(run->mmio.data, &val, len);
}

/* Record whether this vCPU sits in HLT with interrupts disabled (bhyve's "halt" state). */
static void do_halt_probe(struct vcpu *v)
{
	struct kvm_mp_state mp;
	int state = 0;
	vstat_inc(v, VSTAT_HALT_PROBES);
	if (ioctl(v->fd, KVM_GET_MP_STATE, &mp) == 0) {
		if (mp.mp_state == KVM_MP_STATE_UNINITIALIZED ||
		    mp.mp_state == KVM_MP_STATE_INIT_RECEIVED) {
			state = -1; /* never started by the guest: not an active CPU */
		} else if (mp.mp_state == KVM_MP_STATE_HALTED) {
			struct kvm_regs regs;
			if (ioctl(v->fd, KVM_GET_REGS, &regs) == 0 && !(regs.rflags & (1u << 9)))
				state = 1;
		}
	}
	atomic_store(&v->halted_no_if, state);
}

static void internal_error(struct vcpu *v, const char *what)
{
	struct kvm_regs regs;
	unsigned long long rip = 0;
	if (ioctl(v->fd, KVM_GET_REGS, &regs) == 0)
		rip = regs.rip;
	kb_log("vCPU %d: %s at rip %#llx", v->index, what, rip);
	vm_request_exit(v->vm, BHYVE_EXIT_ERROR);
}

/* Act on the exit that KVM_RUN left in v->run. */
void vcpu_handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	struct vm *vm = v->vm;
	vstat_inc(v, VSTAT_EXITS);
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(v);
		break;
	case KVM_EXIT_MMIO:
		handle_mmio(v);
		break;
	case KVM_EXIT_X86_RDMSR:
		/* only reached with -w: unknown MSRs read as zero */
		vstat_inc(v, VSTAT_MSR);
		kb_debug("vCPU %d: ignored rdmsr %#x", v->index, run->msr.index);
		run->msr.data = 0;
		run->msr.error = 0;
		break;
	case KVM_EXIT_X86_WRMSR:
		vstat_inc(v, VSTAT_MSR);
		kb_debug("vCPU %d: ignored wrmsr %#x", v->index, run->msr.index);
		run->msr.error = 0;
		break;
	case KVM_EXIT_SHUTDOWN:
		kb_debug("vCPU %d: triple fault", v->index);
		vm_request_exit(vm, BHYVE_EXIT_TRIPLEFAULT);
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_RESET)
			vm_request_exit(vm, BHYVE_EXIT_REBOOT);
		else if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN)
			vm_request_exit(vm, BHYVE_EXIT_POWEROFF);
		else
			internal_error(v, "unexpected system event");
		break;
	case KVM_EXIT_HLT:
		/* HLT with the in-kernel LAPIC never exits; seen only if it is missing */
		break;
	case KVM_EXIT_INTR:
		vstat_inc(v, VSTAT_INTR);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		kb_log("vCPU %d: VM entry failed (hardware reason %#llx)", v->index,
		       (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		vm_request_exit(vm, BHYVE_EXIT_ERROR);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		internal_error(v, "KVM internal error (emulation failure)");
		break;
	default:
		kb_log("vCPU %d: unexpected KVM exit reason %u", v->index, run->exit_reason);
		vm_request_exit(vm, BHYVE_EXIT_ERROR);
		break;
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct kvm_run *run = v->run;
	struct vm *vm = v->vm;
	char name[16];
	snprintf(name, sizeof(name), "vcpu %d", v->index);
	pthread_setname_np(pthread_self(), name);
	thread_role_enter(THREAD_ROLE_VCPU);

	while (!atomic_load(&v->stop)) {
		int rc = ioctl(v->fd, KVM_RUN, 0);
		if (rc < 0) {
			if (errno != EINTR && errno != EAGAIN) {
				kb_log("vCPU %d: KVM_RUN: %s", v->index, strerror(errno));
				vm_request_exit(vm, BHYVE_EXIT_ERROR);
				break;
			}
			run->immediate_exit = 0;
			vstat_inc(v, VSTAT_INTR);
			if (atomic_exchange(&v->probe, false))
				do_halt_probe(v);
			/* a checkpoint: KVM_RUN with immediate_exit finished the last exit's I/O */
			vm_vcpu_park(vm);
			continue;
		}
		vcpu_handle_exit(v);
		if (atomic_load(&vm->exit_code) >= 0)
			break;
	}
	return NULL;
}

/* vcpu.N.cpuset (bhyve's -p vcpu:hostcpu, repeatable): host CPUs as "a,b,c-d". 0 with the set
 * filled, or -1 for a malformed list. */
static int parse_cpuset(const char *s, cpu_set_t *set)
{
	CPU_ZERO(set);
	while (*s) {
		char *end;
		errno = 0;
		unsigned long a = strtoul(s, &end, 10), b = a;
		if (end == s || errno || a >= CPU_SETSIZE)
			return -1;
		if (*end == '-') {
			s = end + 1;
			b = strtoul(s, &end, 10);
			if (end == s || errno || b >= CPU_SETSIZE || b < a)
				return -1;
		}
		for (unsigned long c = a; c <= b; c++)
			CPU_SET(c, set);
		if (*end == ',' && end[1])
			end++;
		else if (*end)
			return -1;
		s = end;
	}
	return CPU_COUNT(set) ? 0 : -1;
}

int vcpu_start(struct vcpu *v)
{
	char key[32];
	snprintf(key, sizeof(key), "vcpu.%d.cpuset", v->index);
	const char *pins = config_get(v->vm->cfg, key);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	if (pins) {
		cpu_set_t set;
		if (parse_cpuset(pins, &set) < 0) {
			kb_log("%s: '%s' is not a list of host CPUs (a,b,c-d)", key, pins);
			pthread_attr_destroy(&attr);
			return -EINVAL;
		}
		pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	}
	int rc = pthread_create(&v->thread, &attr, vcpu_thread, v);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		if (pins)
			kb_log("vCPU %d: cannot run on host CPUs %s: %s", v->index, pins,
			       strerror(rc));
		else
			kb_log("cannot start vCPU %d: %s", v->index, strerror(rc));
		return -rc;
	}
	v->started = true;
	return 0;
}

void vcpu_kick(struct vcpu *v)
{
	v->run->immediate_exit = 1;
	if (v->started)
		pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

void vcpu_destroy(struct vcpu *v)
{
	if (!v)
		return;
	if (v->started) {
		atomic_store(&v->stop, true);
		vcpu_kick(v);
		pthread_join(v->thread, NULL);
	}
	munmap(v->run, (size_t)v->vm->vcpu_mmap_size);
	close(v->fd);
	free(v);
}
