/* SPDX-License-Identifier: BSD-2-Clause */
#include "core/cpuid.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "core/log.h"
#include "core/vm.h"

enum reg { EAX, EBX, ECX, EDX };

struct feature {
	const char *name;
	uint32_t leaf, subleaf;
	enum reg reg;
	int bit;
};

/* Features that can be hidden with x86.cpuid.disable=name[,name...]. */
static const struct feature features[] = {
	{"xsave", 1, 0, ECX, 26},  {"osxsave", 1, 0, ECX, 27}, {"avx", 1, 0, ECX, 28},
	{"x2apic", 1, 0, ECX, 21}, {"tsc-deadline", 1, 0, ECX, 24}, {"rdrand", 1, 0, ECX, 30},
	{"pcid", 1, 0, ECX, 17},   {"monitor", 1, 0, ECX, 3},  {"aes", 1, 0, ECX, 25},
	{"avx2", 7, 0, EBX, 5},    {"smep", 7, 0, EBX, 7},     {"invpcid", 7, 0, EBX, 10},
	{"avx512f", 7, 0, EBX, 16}, {"rdseed", 7, 0, EBX, 18}, {"smap", 7, 0, EBX, 20},
	{"la57", 7, 0, ECX, 16},   {"waitpkg", 7, 0, ECX, 5},  {"pdpe1gb", 0x80000001, 0, EDX, 26},
	{"rdtscp", 0x80000001, 0, EDX, 27},
};

const char *cpuid_feature_names(void)
{
	static char names[512];
	if (!names[0]) {
		size_t off = 0;
		for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++)
			off += (size_t)snprintf(names + off, sizeof(names) - off, "%s%s",
						i ? "," : "", features[i].name);
	}
	return names;
}

struct kvm_cpuid2 *cpuid_supported(int kvm_fd)
{
	for (int n = 64; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c =
			calloc(1, sizeof(*c) + (size_t)n * sizeof(struct kvm_cpuid_entry2));
		if (!c)
			return NULL;
		c->nent = (uint32_t)n;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		int e = errno;
		free(c);
		if (e != E2BIG) {
			kb_log("KVM_GET_SUPPORTED_CPUID: %s", strerror(e));
			return NULL;
		}
	}
	return NULL;
}

static uint32_t *reg_of(struct kvm_cpuid_entry2 *e, enum reg r)
{
	switch (r) {
	case EAX:
		return &e->eax;
	case EBX:
		return &e->ebx;
	case ECX:
		return &e->ecx;
	default:
		return &e->edx;
	}
}

static struct kvm_cpuid_entry2 *find(struct kvm_cpuid2 *c, uint32_t leaf, uint32_t subleaf)
{
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function != leaf)
			continue;
		if ((e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && e->index != subleaf)
			continue;
		return e;
	}
	return NULL;
}

static void clear_bit(struct kvm_cpuid2 *c, uint32_t leaf, uint32_t subleaf, enum reg r, int bit)
{
	struct kvm_cpuid_entry2 *e = find(c, leaf, subleaf);
	if (e)
		*reg_of(e, r) &= ~(1u << bit);
}

/* Number of bits needed to hold values 0..n-1. */
static unsigned bits_for(unsigned n)
{
	unsigned b = 0;
	while ((1u << b) < n)
		b++;
	return b;
}

/* Leaves 0xB and 0x1F: SMT level then core level, then an invalid level. */
static void fill_ext_topology(struct kvm_cpuid2 *c, uint32_t leaf, const struct cpu_topology *t,
			      uint32_t apic_id)
{
	unsigned tbits = bits_for((unsigned)t->threads);
	unsigned cbits = bits_for((unsigned)t->cores);
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function != leaf)
			continue;
		e->edx = apic_id;
		switch (e->index) {
		case 0:
			e->eax = tbits;
			e->ebx = (uint32_t)t->threads;
			e->ecx = (1u << 8) | 0;
			break;
		case 1:
			e->eax = tbits + cbits;
			e->ebx = (uint32_t)(t->threads * t->cores);
			e->ecx = (2u << 8) | 1;
			break;
		default:
			e->eax = 0;
			e->ebx = 0;
			e->ecx = e->index & 0xff;
			break;
		}
	}
}

static int apply_disable_list(struct kvm_cpuid2 *c, const char *list, char *err, size_t errlen)
{
	char *copy = strdup(list), *save = NULL;
	if (!copy)
		return -ENOMEM;
	int rc = 0;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		const struct feature *f = NULL;
		for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++)
			if (strcmp(features[i].name, tok) == 0)
				f = &features[i];
		if (!f) {
			snprintf(err, errlen,
				 "x86.cpuid.disable: unknown CPU feature '%s' (known: %s)", tok,
				 cpuid_feature_names());
			rc = -EINVAL;
			break;
		}
		clear_bit(c, f->leaf, f->subleaf, f->reg, f->bit);
		if (strcmp(f->name, "xsave") == 0) {
			/* Without XSAVE the OS must not see OSXSAVE or the XSAVE state leaf;
			 * AVX and later depend on it and Linux clears them itself. */
			clear_bit(c, 1, 0, ECX, 27);
			clear_bit(c, 1, 0, ECX, 28);
			for (uint32_t i = 0; i < c->nent; i++)
				if (c->entries[i].function == 0xD)
					c->entries[i].eax = c->entries[i].ebx = c->entries[i].ecx =
						c->entries[i].edx = 0;
		}
	}
	free(copy);
	return rc;
}

int cpuid_for_vcpu(const struct vm *vm, const struct kvm_cpuid2 *supported, uint32_t apic_id,
		   struct kvm_cpuid2 **out, char *err, size_t errlen)
{
	size_t sz = sizeof(*supported) + supported->nent * sizeof(struct kvm_cpuid_entry2);
	struct kvm_cpuid2 *c = malloc(sz);
	if (!c)
		return -ENOMEM;
	memcpy(c, supported, sz);
	const struct cpu_topology *t = &vm->topo;
	unsigned per_pkg = (unsigned)(t->cores * t->threads);
	unsigned pkg_bits = bits_for((unsigned)t->threads) + bits_for((unsigned)t->cores);

	struct kvm_cpuid_entry2 *e = find(c, 1, 0);
	if (e) {
		/* KVM reports the TSC-deadline timer as a capability, not in its supported CPUID:
		 * the in-kernel LAPIC emulates it, and without it Linux programs the LAPIC timer
		 * through more exits. */
		if (vm->tsc_deadline)
			e->ecx |= 1u << 24;
		e->ebx = (e->ebx & 0x0000ffff) | (apic_id << 24) | ((1u << pkg_bits) & 0xff) << 16;
		if (per_pkg > 1)
			e->edx |= 1u << 28; /* HTT: more than one logical processor per package */
		else
			e->edx &= ~(1u << 28);
		e->ecx |= 1u << 31; /* running under a hypervisor */
		if (!vm->x2apic)
			e->ecx &= ~(1u << 21);
	}
	/* Intel deterministic cache parameters: cores per package and threads per cache. */
	for (uint32_t i = 0; i < c->nent; i++) {
		e = &c->entries[i];
		if (e->function != 4 || (e->eax & 0x1f) == 0)
			continue;
		unsigned level = (e->eax >> 5) & 7;
		unsigned sharing = level >= 3 ? per_pkg : (unsigned)t->threads;
		e->eax &= 0x3fff;
		e->eax |= ((1u << bits_for((unsigned)t->cores)) - 1) << 26;
		e->eax |= ((1u << bits_for(sharing)) - 1) << 14;
	}
	fill_ext_topology(c, 0xB, t, apic_id);
	fill_ext_topology(c, 0x1F, t, apic_id);
	/* AMD: logical processors per package and APIC ID bits for them. */
	e = find(c, 0x80000008, 0);
	if (e)
		e->ecx = (e->ecx & ~0xf0ffu) | (pkg_bits << 12) | ((per_pkg - 1) & 0xff);
	e = find(c, 0x80000001, 0);
	if (e) {
		if (per_pkg > 1)
			e->ecx |= 1u << 1; /* CmpLegacy */
		else
			e->ecx &= ~(1u << 1);
	}
	e = find(c, 0x8000001E, 0);
	if (e) {
		e->eax = apic_id;
		e->ebx = ((uint32_t)(t->threads - 1) << 8) | ((apic_id >> bits_for((unsigned)t->threads)) & 0xff);
		e->ecx = apic_id >> pkg_bits;
	}
	const char *disable = config_get(vm->cfg, "x86.cpuid.disable");
	if (disable && *disable) {
		int rc = apply_disable_list(c, disable, err, errlen);
		if (rc) {
			free(c);
			return rc;
		}
	}
	*out = c;
	return 0;
}
