/* SPDX-License-Identifier: BSD-2-Clause */
/* One thread per vCPU running KVM_RUN and routing exits to the I/O bus. */
#ifndef KB_VCPU_H
#define KB_VCPU_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "boot/boot.h"

struct vm;
struct kvm_run;

/* Per-vCPU exit counters (bhyvectl --get-stats later). */
enum vcpu_stat {
	VSTAT_EXITS,
	VSTAT_IO,
	VSTAT_MMIO,
	VSTAT_MSR,
	VSTAT_INTR,
	VSTAT_HALT_PROBES,
	VSTAT_MAX
};

struct vcpu {
	struct vm *vm;
	int index;
	uint32_t apic_id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	atomic_bool stop;        /* leave the run loop */
	atomic_bool probe;       /* report halted-with-interrupts-off state */
	atomic_int halted_no_if; /* result of the last probe: 1 yes, 0 no, -1 not active */
	uint64_t stats[VSTAT_MAX];
};

/* Create the KVM vCPU and apply CPUID. */
int vcpu_create(struct vm *vm, int index, struct vcpu **out);
/* Put the bootstrap processor into the loader's entry state. */
int vcpu_set_boot_state(struct vcpu *v, const struct boot_cpu_state *st);
/* Real mode at CS:IP = 0:addr (tiny guests loaded with boot.raw). */
int vcpu_set_real_mode(struct vcpu *v, uint16_t ip);
/* Starts the vCPU's thread, on the host CPUs of vcpu.N.cpuset if set; -errno after one line. */
int vcpu_start(struct vcpu *v);
/* Interrupt KVM_RUN (sets immediate_exit and signals the thread). */
void vcpu_kick(struct vcpu *v);
void vcpu_destroy(struct vcpu *v);
/* Act on the exit KVM_RUN left in v->run (port I/O and MMIO to the bus, MSRs, shutdown and
 * system events, errors): what the vCPU thread does after each KVM_RUN. Separate so that exit
 * decoding can be fuzzed with a made-up struct kvm_run. */
void vcpu_handle_exit(struct vcpu *v);

/* Install the signal used to kick vCPU threads out of KVM_RUN. */
void vcpu_signal_setup(void);

#endif
