/* SPDX-License-Identifier: BSD-2-Clause */
/* The state KVM keeps for the VM (PIT, kvmclock, PIC and IOAPIC) and for each vCPU (registers,
 * FPU/XSAVE, LAPIC, MSRs, pending events), saved and loaded in the orders KVM needs (see
 * ../shared/reference/snapshot-migration-gdb.md §2). */
#ifndef KB_KVMSTATE_H
#define KB_KVMSTATE_H

#include <stddef.h>
#include <stdint.h>

struct vm;
struct vcpu;
struct snap;

/* Register the sections "kvm.vm" and "kvm.vcpuN" of every vCPU (before any device: the VM's
 * interrupt controllers are loaded before devices drive their lines again). 0 or -errno. */
int kvmstate_register(struct vm *vm);

/* The TSC frequency KVM gives vCPU 0, in kHz (0 when unknown). */
uint32_t kvmstate_tsc_khz(struct vm *vm);
/* Make every vCPU's TSC run at khz (a snapshot from a host with another frequency). 0 or -errno
 * (no TSC scaling on this host). */
int kvmstate_set_tsc_khz(struct vm *vm, uint32_t khz);

#endif
