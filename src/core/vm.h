/* SPDX-License-Identifier: BSD-2-Clause */
/* The VM: KVM VM fd, vCPUs, guest memory, the I/O bus, the event loop and the config. */
#ifndef KB_VM_H
#define KB_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/devset.h"
#include "core/evloop.h"
#include "core/guestmem.h"
#include "core/iobus.h"

#define VM_MAX_VCPUS 256

/* Interrupt controller layout (KVM in-kernel PIC + IOAPIC + LAPIC). */
#define VM_IOAPIC_ADDR 0xFEC00000u
#define VM_IOAPIC_PINS 24
#define VM_LAPIC_ADDR 0xFEE00000u

struct vcpu;
struct snapshot_entry;

struct cpu_topology {
	int cpus, sockets, cores, threads;
};

struct vm {
	const char *name;
	struct cfgnode *cfg;
	int kvm_fd, vm_fd;
	int vcpu_mmap_size;
	struct guestmem mem;
	struct iobus bus;
	struct evloop *ev;
	struct cpu_topology topo;
	int nvcpus;
	struct vcpu **vcpus;
	/* x86 policy, read from the config once */
	bool strictio, strictmsr, x2apic, localtime_rtc;
	bool tsc_deadline; /* KVM emulates the LAPIC TSC-deadline timer */
	void *cpuid; /* struct kvm_cpuid2: KVM's supported CPUID */
	struct pci_state *pci;
	struct bootrom *bootrom; /* -l bootrom, or NULL for direct kernel boot */
	struct irqroute *irqroute;
	struct evloop_handle *halt_timer;
	struct vm_cleanup *cleanups; /* run by vm_destroy, last registered first */
	struct snapshot_entry *snapshots; /* saved state, in order (snapshot/snapreg.c) */
	/* First exit request wins: BHYVE_EXIT_* code, or -1 while running. */
	atomic_int exit_code;
	unsigned next_memslot; /* device memory slots after RAM and the boot ROM */
	/* vm_pause_vcpus: the request, and how many vCPU threads are parked by it */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cv;
	bool pause_req;
	int parked;
	/* vCPUs start when the last hold is released (fbuf's wait); evloop thread only */
	int start_holds;
	bool vcpus_wanted;
};

/* Create the KVM VM, guest memory and vCPUs from the config (memory.size, cpus/sockets/cores/threads,
 * x86.*). NULL on failure with a one-line message in err. */
struct vm *vm_create(struct cfgnode *cfg, char *err, size_t errlen);
/* Start the vCPU threads and run the event loop until the guest or a signal ends the VM.
 * Returns the bhyve exit code. */
int vm_run(struct vm *vm);
void vm_destroy(struct vm *vm);

/* The APIC ID of vCPU `i` under the VM's topology (thread, core, socket bit fields). */
uint32_t vm_apic_id(const struct vm *vm, int i);

/* Assert/deassert an IOAPIC/PIC input (KVM_IRQ_LINE). */
int vm_irq_line(struct vm *vm, unsigned gsi, bool level);
/* Edge-triggered interrupt: raise and lower. */
int vm_irq_pulse(struct vm *vm, unsigned gsi);

/* Ask the VM to stop with a bhyve exit code (reset = 0, poweroff = 1, ...).
 * Safe from any thread; the first request wins. */
void vm_request_exit(struct vm *vm, int code);

/* Register host-side cleanup (restore a terminal, remove a socket file...) for vm_destroy. */
int vm_at_destroy(struct vm *vm, void (*fn)(void *opaque), void *opaque);
/* Run and forget the registered cleanups (vm_destroy does this after joining the vCPUs). */
void vm_run_destroy_hooks(struct vm *vm);

/* Device memory a guest reads and writes without exits (a framebuffer's VRAM): a KVM memory
 * slot of its own. vm_alloc_memslot reserves a slot number (-ENOSPC when none is left);
 * vm_set_memslot maps `size` bytes of `host` at `gpa` (size 0 removes the mapping) with
 * KVM_MEM_* flags; vm_get_dirty_log copies and clears the slot's dirty-page bitmap (one bit per
 * 4 KiB page, for a slot mapped with KVM_MEM_LOG_DIRTY_PAGES). 0 or -errno. */
int vm_alloc_memslot(struct vm *vm);
int vm_set_memslot(struct vm *vm, unsigned slot, uint64_t gpa, uint64_t size, void *host,
		   uint32_t flags);
int vm_get_dirty_log(struct vm *vm, unsigned slot, void *bitmap);

/* Park every vCPU thread outside KVM_RUN, with the exit it was handling finished (a checkpoint
 * reads their state then). Waits at most timeout_ms: 0, -EAGAIN when the vCPUs are not running
 * (not started yet, or the VM is stopping), -ETIMEDOUT (then they are resumed). Event-loop
 * thread. vm_resume_vcpus lets them run again. */
int vm_pause_vcpus(struct vm *vm, int timeout_ms);
void vm_resume_vcpus(struct vm *vm);
/* Whether a vCPU should park now, and parking itself (the vCPU thread, after KVM_RUN returned
 * EINTR). */
void vm_vcpu_park(struct vm *vm);

/* Hold the vCPUs at start (before vm_run) until as many vm_release_start calls as holds, made
 * on the event-loop thread (bhyve's fbuf "wait": boot when the first viewer connects). */
void vm_hold_start(struct vm *vm);
void vm_release_start(struct vm *vm);

/* Platform devices (RTC, PM block, i8042, debug port...) register through this set and are
 * initialised in ascending `order` after memory and vCPUs exist, before PCI devices. */
struct platform_device {
	const char *name;
	int order;
	int (*init)(struct vm *vm); /* 0 or -errno, after logging the problem */
};
#define PLATFORM_DEVICE(sym) DEVSET_ENTRY(platform_devices, sym)

#endif
