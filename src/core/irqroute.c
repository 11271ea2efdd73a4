/* SPDX-License-Identifier: BSD-2-Clause */
#include "core/irqroute.h"

#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "core/log.h"
#include "core/vm.h"

#define MAX_ROUTES 1024
#define FIRST_MSI_GSI 24

struct irqroute {
	pthread_mutex_t lock;
	struct kvm_irq_routing *table; /* header + MAX_ROUTES entries */
	uint8_t msi_used[MAX_ROUTES];  /* by GSI */
};

static void add_irqchip(struct kvm_irq_routing *t, uint32_t gsi, uint32_t chip, uint32_t pin)
{
	struct kvm_irq_routing_entry *e = &t->entries[t->nr++];
	memset(e, 0, sizeof(*e));
	e->gsi = gsi;
	e->type = KVM_IRQ_ROUTING_IRQCHIP;
	e->u.irqchip.irqchip = chip;
	e->u.irqchip.pin = pin;
}

static int commit(struct vm *vm)
{
	if (ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, vm->irqroute->table) < 0) {
		int e = errno;
		kb_log("KVM_SET_GSI_ROUTING: %s", strerror(e));
		return -e;
	}
	return 0;
}

int irqroute_init(struct vm *vm)
{
	struct irqroute *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->table = calloc(1, sizeof(*r->table) + MAX_ROUTES * sizeof(struct kvm_irq_routing_entry));
	if (!r->table) {
		free(r);
		return -ENOMEM;
	}
	pthread_mutex_init(&r->lock, NULL);
	struct kvm_irq_routing *t = r->table;
	for (uint32_t i = 0; i < 16; i++) {
		if (i != 2) /* the slave PIC cascade */
			add_irqchip(t, i, i < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, i % 8);
	}
	for (uint32_t i = 0; i < VM_IOAPIC_PINS; i++) {
		if (i == 0)
			add_irqchip(t, 0, KVM_IRQCHIP_IOAPIC, 2); /* ISA IRQ0 -> GSI 2, as the MADT says */
		else if (i != 2)
			add_irqchip(t, i, KVM_IRQCHIP_IOAPIC, i);
	}
	vm->irqroute = r;
	int rc = commit(vm);
	if (rc) {
		irqroute_fini(vm);
		return rc;
	}
	return 0;
}

void irqroute_fini(struct vm *vm)
{
	struct irqroute *r = vm->irqroute;
	if (!r)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r->table);
	free(r);
	vm->irqroute = NULL;
}

static struct kvm_irq_routing_entry *find_msi(struct irqroute *r, int gsi)
{
	for (uint32_t i = 0; i < r->table->nr; i++)
		if (r->table->entries[i].gsi == (uint32_t)gsi &&
		    r->table->entries[i].type == KVM_IRQ_ROUTING_MSI)
			return &r->table->entries[i];
	return NULL;
}

static void set_msi(struct kvm_irq_routing_entry *e, int gsi, uint64_t addr, uint32_t data)
{
	memset(e, 0, sizeof(*e));
	e->gsi = (uint32_t)gsi;
	e->type = KVM_IRQ_ROUTING_MSI;
	e->u.msi.address_lo = (uint32_t)addr;
	e->u.msi.address_hi = (uint32_t)(addr >> 32);
	e->u.msi.data = data;
}

int irqroute_msi_add(struct vm *vm, uint64_t addr, uint32_t data, int efd)
{
	struct irqroute *r = vm->irqroute;
	if (!r)
		return -ENODEV; /* no in-kernel interrupt routing (a VM without KVM) */
	pthread_mutex_lock(&r->lock);
	int gsi = -1;
	for (int g = FIRST_MSI_GSI; g < MAX_ROUTES; g++)
		if (!r->msi_used[g]) {
			gsi = g;
			break;
		}
	int rc = -ENOSPC;
	if (gsi >= 0 && r->table->nr < MAX_ROUTES) {
		set_msi(&r->table->entries[r->table->nr++], gsi, addr, data);
		rc = commit(vm);
		if (rc) {
			r->table->nr--;
		} else {
			struct kvm_irqfd irqfd = {.fd = (uint32_t)efd, .gsi = (uint32_t)gsi};
			if (ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0) {
				rc = -errno;
				kb_log("KVM_IRQFD: %s", strerror(errno));
				r->table->nr--;
				commit(vm);
			} else {
				r->msi_used[gsi] = 1;
				rc = gsi;
			}
		}
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

int irqroute_msi_update(struct vm *vm, int gsi, uint64_t addr, uint32_t data)
{
	struct irqroute *r = vm->irqroute;
	pthread_mutex_lock(&r->lock);
	struct kvm_irq_routing_entry *e = find_msi(r, gsi);
	int rc = -ENOENT;
	if (e) {
		set_msi(e, gsi, addr, data);
		rc = commit(vm);
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

void irqroute_msi_remove(struct vm *vm, int gsi, int efd)
{
	struct irqroute *r = vm->irqroute;
	if (!r)
		return;
	struct kvm_irqfd irqfd = {.fd = (uint32_t)efd, .gsi = (uint32_t)gsi, .flags = KVM_IRQFD_FLAG_DEASSIGN};
	ioctl(vm->vm_fd, KVM_IRQFD, &irqfd);
	pthread_mutex_lock(&r->lock);
	struct kvm_irq_routing_entry *e = find_msi(r, gsi);
	if (e) {
		*e = r->table->entries[--r->table->nr];
		commit(vm);
	}
	if (gsi >= 0 && gsi < MAX_ROUTES)
		r->msi_used[gsi] = 0;
	pthread_mutex_unlock(&r->lock);
}

int vm_ioeventfd(struct vm *vm, uint64_t addr, unsigned len, bool pio, int efd, bool assign)
{
	struct kvm_ioeventfd io = {
		.addr = addr,
		.len = len,
		.fd = efd,
		.flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) | (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};
	return ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}
