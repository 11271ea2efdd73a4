/* SPDX-License-Identifier: BSD-2-Clause */
/* The state KVM keeps for the VM (PIT, kvmclock, PIC and IOAPIC) and for each vCPU (registers,
 * FPU/XSAVE, LAPIC, MSRs, pending events), saved and loaded in the orders KVM needs (see
 * ../shared/reference/snapshot-migration-gdb.md §2). */
#ifndef KB_KVMSTATE_H
#define KB_KVMSTATE_H

#include <stdbool.h>
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

/* regs: a LAPIC register page as KVM_GET_LAPIC gives it (struct kvm_lapic_state's). A one-shot
 * timer that has run out while its vCPU was parked outside KVM_RUN has its interrupt only in
 * KVM's private "pending" count, which KVM_GET_LAPIC leaves out (KVM injects it at the next guest
 * entry): restored from that page it would be lost, and with it every later tick of that vCPU's
 * clock event (a Linux guest without the TSC-deadline timer, as on every AMD host, then sleeps
 * there for ever). Mark the timer's vector requested (IRR) when the timer is one-shot, not
 * masked, armed (initial count) and at zero (current count). If the guest had taken that
 * interrupt already, it sees one spurious timer tick, which it handles as an early one. True
 * when the page was changed. */
bool kvmstate_lapic_keep_timer_irq(uint8_t *regs, size_t len);

#endif
