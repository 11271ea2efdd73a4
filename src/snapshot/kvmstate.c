/* SPDX-License-Identifier: BSD-2-Clause */
#include "snapshot/kvmstate.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "core/log.h"
#include "core/vcpu.h"
#include "core/vm.h"
#include "snapshot/snapstate.h"

#define MSR_IA32_TSC_DEADLINE 0x6e0
#define MSRS_MAX 1024 /* far more than KVM saves today (about 100) */

/* ---- VM-wide: PIT, kvmclock, PIC master and slave, IOAPIC ---- */

struct vm_kvm_state {
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
	struct kvm_irqchip chip[3];
};

static int vm_get(struct vm *vm, struct vm_kvm_state *st, struct snap *s)
{
	memset(st, 0, sizeof(*st));
	if (ioctl(vm->vm_fd, KVM_GET_PIT2, &st->pit) < 0 ||
	    ioctl(vm->vm_fd, KVM_GET_CLOCK, &st->clock) < 0) {
		snap_fail(s, "cannot read the PIT or the clock: %s", strerror(errno));
		return -1;
	}
	for (unsigned i = 0; i < 3; i++) {
		st->chip[i].chip_id = i; /* KVM_IRQCHIP_PIC_MASTER, _PIC_SLAVE, _IOAPIC */
		if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &st->chip[i]) < 0) {
			snap_fail(s, "cannot read interrupt controller %u: %s", i, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Order: PIT, then the clock, then the interrupt controllers (Firecracker's). The clock is
 * loaded without KVM_CLOCK_REALTIME: the guest's time continues from the saved instant instead
 * of jumping by the time spent suspended (its wall clock is then behind, as after any pause;
 * NTP or the RTC corrects it). */
static void vm_set(struct vm *vm, struct vm_kvm_state *st, struct snap *s)
{
	st->clock.flags = 0;
	memset(st->clock.pad, 0, sizeof(st->clock.pad));
	if (ioctl(vm->vm_fd, KVM_SET_PIT2, &st->pit) < 0) {
		snap_fail(s, "KVM_SET_PIT2: %s", strerror(errno));
		return;
	}
	if (ioctl(vm->vm_fd, KVM_SET_CLOCK, &st->clock) < 0) {
		snap_fail(s, "KVM_SET_CLOCK: %s", strerror(errno));
		return;
	}
	for (unsigned i = 0; i < 3; i++) {
		if (!snap_check(s, st->chip[i].chip_id == i, "interrupt controller id"))
			return;
		if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &st->chip[i]) < 0) {
			snap_fail(s, "KVM_SET_IRQCHIP %u: %s", i, strerror(errno));
			return;
		}
	}
}

static void vm_visit(struct snap *s, void *opaque)
{
	struct vm *vm = opaque;
	struct vm_kvm_state st;
	if (!snap_loading(s) && vm_get(vm, &st, s) < 0)
		return;
	/* kernel ABI structures, fixed in size and layout */
	snap_bytes(s, &st.pit, sizeof(st.pit));
	snap_bytes(s, &st.clock, sizeof(st.clock));
	snap_bytes(s, st.chip, sizeof(st.chip));
	if (snap_loading(s) && !snap_failed(s))
		vm_set(vm, &st, s);
}

static const struct snapshot_ops vm_ops = {.visit = vm_visit};

/* ---- per vCPU ---- */

/* The MSRs KVM can save (KVM_GET_MSR_INDEX_LIST), read once. */
static uint32_t *msr_list;
static uint32_t msr_count;

static int load_msr_list(int kvm_fd)
{
	if (msr_list)
		return 0;
	struct kvm_msr_list probe = {.nmsrs = 0};
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
		return -errno;
	uint32_t n = probe.nmsrs > MSRS_MAX ? MSRS_MAX : probe.nmsrs;
	struct kvm_msr_list *l = calloc(1, sizeof(*l) + n * sizeof(uint32_t));
	if (!l)
		return -ENOMEM;
	l->nmsrs = n;
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, l) < 0) {
		int e = errno;
		free(l);
		return -e;
	}
	msr_list = malloc(l->nmsrs * sizeof(uint32_t) + 1);
	if (!msr_list) {
		free(l);
		return -ENOMEM;
	}
	memcpy(msr_list, l->indices, l->nmsrs * sizeof(uint32_t));
	msr_count = l->nmsrs;
	free(l);
	return 0;
}

struct vcpu_kvm_state {
	struct kvm_mp_state mp;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	uint32_t xsave_len;
	struct kvm_xsave *xsave;
	struct kvm_xcrs xcrs;
	struct kvm_debugregs dregs;
	struct kvm_lapic_state lapic;
	uint32_t nmsrs;
	struct kvm_msr_entry msrs[MSRS_MAX];
	struct kvm_vcpu_events events;
};

/* The XSAVE area KVM uses: larger than 4 KiB with KVM_CAP_XSAVE2 (AMX state). */
static uint32_t xsave_size(struct vm *vm)
{
	int n = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	return n > (int)sizeof(struct kvm_xsave) ? (uint32_t)n : (uint32_t)sizeof(struct kvm_xsave);
}

/* Every listed MSR KVM lets us read: KVM_GET_MSRS stops at the first it refuses, which is
 * skipped (an MSR of a feature this CPU lacks). */
static int get_msrs(struct vcpu *v, struct vcpu_kvm_state *st)
{
	struct kvm_msrs *buf = calloc(1, sizeof(*buf) + MSRS_MAX * sizeof(buf->entries[0]));
	if (!buf)
		return -ENOMEM;
	st->nmsrs = 0;
	for (uint32_t i = 0; i < msr_count;) {
		uint32_t n = msr_count - i;
		buf->nmsrs = n;
		for (uint32_t k = 0; k < n; k++)
			buf->entries[k] = (struct kvm_msr_entry){.index = msr_list[i + k]};
		int got = ioctl(v->fd, KVM_GET_MSRS, buf);
		if (got < 0) {
			int e = errno;
			free(buf);
			return -e;
		}
		memcpy(&st->msrs[st->nmsrs], buf->entries, (size_t)got * sizeof(buf->entries[0]));
		st->nmsrs += (uint32_t)got;
		i += (uint32_t)got + ((uint32_t)got < n ? 1 : 0); /* skip the refused one */
	}
	free(buf);
	return 0;
}

/* Firecracker's order: MP state first (it settles pending INIT/SIPI into the LAPIC), the
 * events last (GET ioctls may change them). */
static int vcpu_get(struct vcpu *v, struct vcpu_kvm_state *st, struct snap *s)
{
	const char *what = "KVM_GET_MP_STATE";
	if (ioctl(v->fd, KVM_GET_MP_STATE, &st->mp) < 0)
		goto fail;
	what = "KVM_GET_REGS";
	if (ioctl(v->fd, KVM_GET_REGS, &st->regs) < 0)
		goto fail;
	what = "KVM_GET_SREGS";
	if (ioctl(v->fd, KVM_GET_SREGS, &st->sregs) < 0)
		goto fail;
	what = "KVM_GET_XSAVE";
	unsigned long req = st->xsave_len > sizeof(struct kvm_xsave) ? KVM_GET_XSAVE2 : KVM_GET_XSAVE;
	if (ioctl(v->fd, req, st->xsave) < 0)
		goto fail;
	what = "KVM_GET_XCRS";
	if (ioctl(v->fd, KVM_GET_XCRS, &st->xcrs) < 0)
		goto fail;
	what = "KVM_GET_DEBUGREGS";
	if (ioctl(v->fd, KVM_GET_DEBUGREGS, &st->dregs) < 0)
		goto fail;
	what = "KVM_GET_LAPIC";
	if (ioctl(v->fd, KVM_GET_LAPIC, &st->lapic) < 0)
		goto fail;
	int rc = get_msrs(v, st);
	if (rc < 0) {
		errno = -rc;
		what = "KVM_GET_MSRS";
		goto fail;
	}
	what = "KVM_GET_VCPU_EVENTS";
	if (ioctl(v->fd, KVM_GET_VCPU_EVENTS, &st->events) < 0)
		goto fail;
	return 0;
fail:
	snap_fail(s, "%s: %s", what, strerror(errno));
	return -1;
}

/* Set MSRs [from, to) of st except (or only, with `deadline`) the TSC deadline: KVM restores it
 * only once the LAPIC and the TSC are in place. */
static int set_msrs(struct vcpu *v, const struct vcpu_kvm_state *st, bool deadline,
		    struct snap *s)
{
	struct kvm_msrs *buf = calloc(1, sizeof(*buf) + MSRS_MAX * sizeof(buf->entries[0]));
	if (!buf)
		return -ENOMEM;
	uint32_t n = 0;
	for (uint32_t i = 0; i < st->nmsrs; i++)
		if ((st->msrs[i].index == MSR_IA32_TSC_DEADLINE) == deadline)
			buf->entries[n++] = st->msrs[i];
	buf->nmsrs = n;
	int got = n ? ioctl(v->fd, KVM_SET_MSRS, buf) : 0;
	int rc = 0;
	if (got < 0) {
		snap_fail(s, "KVM_SET_MSRS: %s", strerror(errno));
		rc = -1;
	} else if ((uint32_t)got < n) {
		snap_fail(s, "KVM refused MSR %#x", buf->entries[got].index);
		rc = -1;
	}
	free(buf);
	return rc;
}

/* Firecracker's order: MP state, registers, special registers (APIC base, before the LAPIC),
 * XSAVE, XCRs, debug registers, LAPIC, MSRs, the TSC deadline, events (after REGS, which clears
 * pending exceptions). CPUID was set when the vCPU was made, from the same configuration. */
static void vcpu_set(struct vcpu *v, struct vcpu_kvm_state *st, struct snap *s)
{
	const char *what = "KVM_SET_MP_STATE";
	if (ioctl(v->fd, KVM_SET_MP_STATE, &st->mp) < 0)
		goto fail;
	what = "KVM_SET_REGS";
	if (ioctl(v->fd, KVM_SET_REGS, &st->regs) < 0)
		goto fail;
	what = "KVM_SET_SREGS";
	if (ioctl(v->fd, KVM_SET_SREGS, &st->sregs) < 0)
		goto fail;
	what = "KVM_SET_XSAVE";
	if (ioctl(v->fd, KVM_SET_XSAVE, st->xsave) < 0)
		goto fail;
	what = "KVM_SET_XCRS";
	if (ioctl(v->fd, KVM_SET_XCRS, &st->xcrs) < 0)
		goto fail;
	what = "KVM_SET_DEBUGREGS";
	if (ioctl(v->fd, KVM_SET_DEBUGREGS, &st->dregs) < 0)
		goto fail;
	what = "KVM_SET_LAPIC";
	if (ioctl(v->fd, KVM_SET_LAPIC, &st->lapic) < 0)
		goto fail;
	if (set_msrs(v, st, false, s) < 0 || set_msrs(v, st, true, s) < 0)
		return;
	what = "KVM_SET_VCPU_EVENTS";
	if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &st->events) < 0)
		goto fail;
	/* tell a kvmclock guest it was paused (no soft-lockup warnings); EINVAL without kvmclock */
	ioctl(v->fd, KVM_KVMCLOCK_CTRL, 0);
	return;
fail:
	snap_fail(s, "%s: %s", what, strerror(errno));
}

static void vcpu_visit(struct snap *s, void *opaque)
{
	struct vcpu *v = opaque;
	struct vcpu_kvm_state *st = calloc(1, sizeof(*st));
	uint32_t xlen = xsave_size(v->vm);
	if (st)
		st->xsave = calloc(1, xlen);
	if (!st || !st->xsave) {
		snap_fail(s, "out of memory");
		goto out;
	}
	st->xsave_len = xlen;
	if (!snap_loading(s) && vcpu_get(v, st, s) < 0)
		goto out;
	snap_bytes(s, &st->mp, sizeof(st->mp));
	snap_bytes(s, &st->regs, sizeof(st->regs));
	snap_bytes(s, &st->sregs, sizeof(st->sregs));
	uint32_t len = st->xsave_len;
	snap_u32(s, &len);
	if (!snap_check(s, len == xlen, "XSAVE area size (this host's KVM uses another)"))
		goto out;
	snap_bytes(s, st->xsave, xlen);
	snap_bytes(s, &st->xcrs, sizeof(st->xcrs));
	snap_bytes(s, &st->dregs, sizeof(st->dregs));
	snap_bytes(s, &st->lapic, sizeof(st->lapic));
	snap_u32(s, &st->nmsrs);
	if (!snap_check(s, st->nmsrs <= MSRS_MAX, "MSR count"))
		goto out;
	snap_bytes(s, st->msrs, st->nmsrs * sizeof(st->msrs[0]));
	snap_bytes(s, &st->events, sizeof(st->events));
	if (snap_loading(s) && !snap_failed(s))
		vcpu_set(v, st, s);
out:
	if (st)
		free(st->xsave);
	free(st);
}

static const struct snapshot_ops vcpu_ops = {.visit = vcpu_visit};

int kvmstate_register(struct vm *vm)
{
	int rc = load_msr_list(vm->kvm_fd);
	if (rc < 0)
		return rc;
	rc = snapshot_register(vm, "kvm.vm", &vm_ops, vm);
	for (int i = 0; rc == 0 && i < vm->nvcpus; i++) {
		char name[SNAP_NAME_MAX + 1];
		snprintf(name, sizeof(name), "kvm.vcpu%d", i);
		rc = snapshot_register(vm, name, &vcpu_ops, vm->vcpus[i]);
	}
	return rc;
}

uint32_t kvmstate_tsc_khz(struct vm *vm)
{
	int khz = vm->nvcpus ? ioctl(vm->vcpus[0]->fd, KVM_GET_TSC_KHZ, 0) : -1;
	return khz > 0 ? (uint32_t)khz : 0;
}

int kvmstate_set_tsc_khz(struct vm *vm, uint32_t khz)
{
	for (int i = 0; i < vm->nvcpus; i++)
		if (ioctl(vm->vcpus[i]->fd, KVM_SET_TSC_KHZ, (unsigned long)khz) < 0)
			return -errno;
	return 0;
}
