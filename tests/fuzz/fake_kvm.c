/* SPDX-License-Identifier: BSD-2-Clause */
/* The KVM VM file descriptor as the fuzzers see it. The targets are linked with
 * -Wl,--wrap=ioctl, so every ioctl() the VMM code makes lands in __wrap_ioctl() below: requests on
 * the stand-in VM fd that fuzz_fake_kvm_open() returns are answered here, everything else goes to
 * the real ioctl. The product code runs unchanged (irqroute.c builds and commits its real routing
 * table, virtio_pci.c binds real eventfds); what the kernel would refuse is refused here with
 * KVM's errno, and what the kernel would never accept from a correct VMM is a fuzz failure. */
#include <errno.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixture.h"

int __real_ioctl(int fd, unsigned long req, ...);
int __wrap_ioctl(int fd, unsigned long req, ...);

#define MAX_GSI 4096 /* KVM_MAX_IRQ_ROUTES */
#define MAX_IRQFDS 256
#define MAX_IOEVENTFDS 256

struct ioeventfd {
	uint64_t addr;
	unsigned len;
	bool pio;
	int efd;
};

static struct {
	int vm_fd; /* -1: no fake VM open */
	unsigned routes;
	bool routed[MAX_GSI];
	struct {
		int efd;
		unsigned gsi;
	} irqfd[MAX_IRQFDS];
	unsigned nirqfd;
	struct ioeventfd ioev[MAX_IOEVENTFDS];
	unsigned nioev;
	bool level[MAX_GSI];		/* KVM_IRQ_LINE: the line's last level */
	unsigned long raised[MAX_GSI]; /* and how often it went from 0 to 1 */
} kvm = {.vm_fd = -1};

/* An eventfd the VMM still owns (KVM takes a reference; a closed or wrong fd is EBADF/EINVAL). */
static bool is_eventfd(int fd)
{
	char link[64], target[64];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = 0;
	return strcmp(target, "anon_inode:[eventfd]") == 0;
}

/* KVM_SET_GSI_ROUTING replaces the whole table: check it as kvm_set_irq_routing() does. */
static int set_routing(const struct kvm_irq_routing *t)
{
	if (t->nr > MAX_GSI || t->flags)
		return -EINVAL;
	bool chip_seen[MAX_GSI][3] = {{false}}, msi_seen[MAX_GSI] = {false};
	for (uint32_t i = 0; i < t->nr; i++) {
		const struct kvm_irq_routing_entry *e = &t->entries[i];
		if (e->gsi >= MAX_GSI || e->flags)
			return -EINVAL;
		if (e->type == KVM_IRQ_ROUTING_IRQCHIP) {
			if (e->u.irqchip.irqchip > KVM_IRQCHIP_IOAPIC ||
			    e->u.irqchip.pin >=
				(e->u.irqchip.irqchip == KVM_IRQCHIP_IOAPIC ? 24u : 8u))
				return -EINVAL;
			/* one GSI maps to a given irqchip at most once, never with an MSI */
			if (chip_seen[e->gsi][e->u.irqchip.irqchip] || msi_seen[e->gsi])
				return -EINVAL;
			chip_seen[e->gsi][e->u.irqchip.irqchip] = true;
		} else if (e->type == KVM_IRQ_ROUTING_MSI) {
			if (msi_seen[e->gsi] || chip_seen[e->gsi][0] || chip_seen[e->gsi][1] ||
			    chip_seen[e->gsi][2])
				return -EINVAL;
			msi_seen[e->gsi] = true;
		} else {
			return -EINVAL;
		}
	}
	for (unsigned g = 0; g < MAX_GSI; g++)
		kvm.routed[g] =
		    msi_seen[g] || chip_seen[g][0] || chip_seen[g][1] || chip_seen[g][2];
	kvm.routes = t->nr;
	return 0;
}

static int irqfd(const struct kvm_irqfd *a)
{
	if (a->flags & ~(uint32_t)KVM_IRQFD_FLAG_DEASSIGN)
		return -EINVAL;
	if (a->flags & KVM_IRQFD_FLAG_DEASSIGN) {
		for (unsigned i = 0; i < kvm.nirqfd; i++)
			if (kvm.irqfd[i].efd == (int)a->fd && kvm.irqfd[i].gsi == a->gsi) {
				kvm.irqfd[i] = kvm.irqfd[--kvm.nirqfd];
				return 0;
			}
		return 0; /* KVM ignores a deassign of nothing */
	}
	if (!is_eventfd((int)a->fd))
		return -EINVAL;
	for (unsigned i = 0; i < kvm.nirqfd; i++)
		if (kvm.irqfd[i].efd == (int)a->fd)
			return -EBUSY;
	FUZZ_CHECK(kvm.nirqfd < MAX_IRQFDS, "more than %d irqfds at once", MAX_IRQFDS);
	kvm.irqfd[kvm.nirqfd].efd = (int)a->fd;
	kvm.irqfd[kvm.nirqfd++].gsi = a->gsi;
	return 0;
}

static int ioeventfd(const struct kvm_ioeventfd *a)
{
	bool pio = a->flags & KVM_IOEVENTFD_FLAG_PIO;
	if (a->flags & ~(uint32_t)(KVM_IOEVENTFD_FLAG_PIO | KVM_IOEVENTFD_FLAG_DEASSIGN) ||
	    (a->len != 0 && a->len != 1 && a->len != 2 && a->len != 4 && a->len != 8) ||
	    a->addr + a->len < a->addr)
		return -EINVAL;
	for (unsigned i = 0; i < kvm.nioev; i++) {
		struct ioeventfd *e = &kvm.ioev[i];
		if (e->addr != a->addr || e->len != a->len || e->pio != pio)
			continue;
		if (a->flags & KVM_IOEVENTFD_FLAG_DEASSIGN) {
			if (e->efd != a->fd)
				continue;
			*e = kvm.ioev[--kvm.nioev];
			return 0;
		}
		return -EEXIST;
	}
	if (a->flags & KVM_IOEVENTFD_FLAG_DEASSIGN)
		return -ENOENT;
	if (!is_eventfd(a->fd))
		return -EINVAL;
	FUZZ_CHECK(kvm.nioev < MAX_IOEVENTFDS, "more than %d ioeventfds at once", MAX_IOEVENTFDS);
	kvm.ioev[kvm.nioev++] = (struct ioeventfd){a->addr, a->len, pio, a->fd};
	return 0;
}

static int irq_line(const struct kvm_irq_level *a)
{
	FUZZ_CHECK(a->irq < MAX_GSI && (a->level == 0 || a->level == 1),
		   "KVM_IRQ_LINE gsi %u level %u", a->irq, a->level);
	if (a->level && !kvm.level[a->irq])
		kvm.raised[a->irq]++;
	kvm.level[a->irq] = a->level;
	return 0;
}

int __wrap_ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (kvm.vm_fd < 0 || fd != kvm.vm_fd)
		return __real_ioctl(fd, req, arg);
	int rc;
	switch (req) {
	case KVM_SET_GSI_ROUTING:
		rc = set_routing(arg);
		break;
	case KVM_IRQFD:
		rc = irqfd(arg);
		break;
	case KVM_IOEVENTFD:
		rc = ioeventfd(arg);
		break;
	case KVM_IRQ_LINE:
		rc = irq_line(arg);
		break;
	default:
		rc = -ENOTTY;
		break;
	}
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return rc;
}

int fuzz_fake_kvm_open(void)
{
	FUZZ_CHECK(kvm.vm_fd < 0, "one fake KVM VM at a time");
	memset(&kvm, 0, sizeof(kvm));
	/* a real descriptor, so nothing else in the process can get this number meanwhile */
	kvm.vm_fd = eventfd(0, EFD_CLOEXEC);
	FUZZ_CHECK(kvm.vm_fd >= 0, "eventfd: %s", strerror(errno));
	return kvm.vm_fd;
}

void fuzz_fake_kvm_close(int fd)
{
	FUZZ_CHECK(fd == kvm.vm_fd, "closing fd %d, the fake VM is %d", fd, kvm.vm_fd);
	/* the VMM releases its routes and ioeventfds before the VM goes (vm_destroy order) */
	FUZZ_CHECK(kvm.nioev == 0, "%u ioeventfds still assigned at VM teardown", kvm.nioev);
	close(fd);
	kvm.vm_fd = -1;
}

bool fuzz_fake_kvm_active(void)
{
	return kvm.vm_fd >= 0;
}

int fuzz_fake_kvm_ioeventfd(bool pio, uint64_t addr, unsigned len)
{
	if (kvm.vm_fd < 0)
		return -1;
	for (unsigned i = 0; i < kvm.nioev; i++) {
		const struct ioeventfd *e = &kvm.ioev[i];
		if (e->pio == pio && e->addr == addr && (e->len == 0 || e->len == len))
			return e->efd;
	}
	return -1;
}

int fuzz_fake_kvm_irqfd_gsi(int efd)
{
	for (unsigned i = 0; i < kvm.nirqfd; i++)
		if (kvm.irqfd[i].efd == efd)
			return (int)kvm.irqfd[i].gsi;
	return -1;
}

bool fuzz_fake_kvm_irq_level(unsigned gsi)
{
	return gsi < MAX_GSI && kvm.level[gsi];
}

unsigned long fuzz_fake_kvm_irq_raised(unsigned gsi)
{
	return gsi < MAX_GSI ? kvm.raised[gsi] : 0;
}

bool fuzz_fake_kvm_routed(unsigned gsi)
{
	return gsi < MAX_GSI && kvm.routed[gsi];
}

void fuzz_fake_kvm_check(void)
{
	for (unsigned i = 0; i < kvm.nirqfd; i++)
		FUZZ_CHECK(
		    kvm.routed[kvm.irqfd[i].gsi],
		    "irqfd %d is bound to GSI %u, which has no route: its interrupts are lost",
		    kvm.irqfd[i].efd, kvm.irqfd[i].gsi);
}
