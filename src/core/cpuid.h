/* SPDX-License-Identifier: BSD-2-Clause */
/* The CPUID a guest sees: KVM's supported set, topology made consistent, features hidden by config. */
#ifndef KB_CPUID_H
#define KB_CPUID_H

#include <stddef.h>
#include <stdint.h>

struct vm;
struct kvm_cpuid2;

/* KVM_GET_SUPPORTED_CPUID, allocated; NULL on failure (logged). */
struct kvm_cpuid2 *cpuid_supported(int kvm_fd);

/* Patch a copy of the supported table for one vCPU: APIC ID, topology leaves (1, 4, 0xB, 0x1F,
 * 0x80000008, 0x8000001E), x2APIC per x86.x2apic, hypervisor bit, and every feature named in
 * x86.cpuid.disable. 0 or -EINVAL with a message in err (unknown feature name). */
int cpuid_for_vcpu(const struct vm *vm, const struct kvm_cpuid2 *supported, uint32_t apic_id,
		   struct kvm_cpuid2 **out, char *err, size_t errlen);

/* Feature names accepted in x86.cpuid.disable (comma separated). */
const char *cpuid_feature_names(void);

#endif
