/* SPDX-License-Identifier: BSD-2-Clause */
/* PCI: emulation registry, configuration mechanism #1, BAR decoding, INTx routing. */
#include "pci/pci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/vm.h"
#include "pci/pci_msi.h"
#include "snapshot/snapstate.h"

#define CONF1_ADDR_PORT 0xCF8
#define CONF1_DATA_PORT 0xCFC
#define CONF1_ENABLE 0x80000000u

#define PCIM_CMD_PORTEN 0x0001
#define PCIM_CMD_MEMEN 0x0002
#define PCIM_CMD_BUSMASTER 0x0004
#define PCIM_CMD_INTxDIS 0x0400

DEVSET_DECLARE(pci_devemus);

struct pci_state {
	pthread_mutex_t lock; /* serialises config-space access and BAR moves */
	uint32_t cf8;
	struct pci_dev **bus[PCI_MAX_BUS]; /* lazily allocated: slot * 8 + func */
	uint64_t next_io, next_mem32, next_mem64;
	pthread_mutex_t intx_lock; /* separate: device hooks under `lock` may raise INTx */
	int intx_count[VM_IOAPIC_PINS]; /* functions driving each GSI (lines are shared) */
};

const struct pci_devemu *pci_emul_find(const char *name)
{
	const struct pci_devemu *e;
	DEVSET_FOREACH(pci_devemus, const struct pci_devemu *, e)
		if (strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

void pci_emul_print_all(FILE *out)
{
	const struct pci_devemu *e;
	DEVSET_FOREACH(pci_devemus, const struct pci_devemu *, e)
		fprintf(out, "%s\n", e->name);
}

unsigned pci_intx_gsi(unsigned slot, unsigned pin)
{
	return 16 + ((slot + pin) % 8);
}

uint64_t pci_mem64_base(const struct vm *vm)
{
	uint64_t top = GM_4G + vm->mem.highmem;
	return (top + PCI_MEM64_SIZE - 1) & ~(PCI_MEM64_SIZE - 1);
}

struct pci_dev *pci_find_dev(struct vm *vm, int bus, int slot, int func)
{
	if (!vm->pci || bus < 0 || bus >= PCI_MAX_BUS || slot < 0 || slot >= PCI_MAX_SLOT ||
	    func < 0 || func >= PCI_MAX_FUNC || !vm->pci->bus[bus])
		return NULL;
	return vm->pci->bus[bus][slot * PCI_MAX_FUNC + func];
}

/* ---- BARs ---- */

static int bar_io(void *opaque, uint64_t off, unsigned size, bool is_write, uint64_t *val)
{
	struct pci_bar *b = opaque;
	struct pci_dev *pd = b->pd;
	if (pci_msix_bar_access(pd, b->idx, off, size, is_write, val))
		return 0; /* the MSI-X table or PBA, served by the bus */
	if (is_write)
		return pd->emu->barwrite ? pd->emu->barwrite(pd, b->idx, off, size, *val) : 0;
	*val = ~0ULL;
	return pd->emu->barread ? pd->emu->barread(pd, b->idx, off, size, val) : 0;
}

static enum iobus_space bar_space(const struct pci_bar *b)
{
	return b->type == PCI_BAR_IO ? IOBUS_PIO : IOBUS_MMIO;
}

static bool bar_enabled(const struct pci_dev *pd, const struct pci_bar *b)
{
	uint16_t cmd = (uint16_t)pci_get_cfg(pd, PCIR_COMMAND, 2);
	return b->type == PCI_BAR_IO ? (cmd & PCIM_CMD_PORTEN) : (cmd & PCIM_CMD_MEMEN);
}

static void bar_unmap(struct pci_dev *pd, struct pci_bar *b)
{
	if (!b->registered)
		return;
	iobus_unregister(&pd->vm->bus, bar_space(b), b->addr);
	b->registered = false;
	if (pd->emu->bar_mapped)
		pd->emu->bar_mapped(pd, b->idx, false);
}

static void bar_map(struct pci_dev *pd, struct pci_bar *b)
{
	if (b->registered || !bar_enabled(pd, b) || b->addr == 0)
		return;
	/* The guest may program a BAR over RAM or another device; such a BAR just doesn't
	 * decode (the address ranges the guest can reach through it stay unchanged). */
	int rc = iobus_register(&pd->vm->bus, bar_space(b), b->addr, b->size, bar_io, b,
				pd->emu->name);
	if (rc == 0) {
		b->registered = true;
		if (pd->emu->bar_mapped)
			pd->emu->bar_mapped(pd, b->idx, true);
	} else
		kb_debug("%s %02x:%02x.%x: BAR%d at %#llx not decoded (%d)", pd->emu->name,
			 pd->bus, pd->slot, pd->func, b->idx, (unsigned long long)b->addr, rc);
}

static void bar_write_cfg(struct pci_dev *pd, int idx)
{
	struct pci_bar *b = &pd->bar[idx];
	unsigned off = PCIR_BAR0 + 4 * (unsigned)idx;
	uint32_t lo;
	switch (b->type) {
	case PCI_BAR_IO:
		lo = (uint32_t)(b->addr & ~3ULL) | 1;
		break;
	case PCI_BAR_MEM32:
		lo = (uint32_t)(b->addr & ~0xfULL) | (b->prefetchable ? 8 : 0);
		break;
	case PCI_BAR_MEM64:
		lo = (uint32_t)(b->addr & ~0xfULL) | 4 | (b->prefetchable ? 8 : 0);
		pci_set_cfg32(pd, off + 4, (uint32_t)(b->addr >> 32));
		break;
	default:
		return;
	}
	pci_set_cfg32(pd, off, lo);
}

int pci_alloc_bar(struct pci_dev *pd, int idx, enum pci_bar_type type, uint64_t size)
{
	return pci_alloc_bar_flags(pd, idx, type, size, 0);
}

int pci_alloc_bar_flags(struct pci_dev *pd, int idx, enum pci_bar_type type, uint64_t size,
			unsigned flags)
{
	struct pci_state *ps = pd->vm->pci;
	if (idx < 0 || idx >= PCI_BARS || (type == PCI_BAR_MEM64 && idx == PCI_BARS - 1))
		return -EINVAL;
	if ((flags & ~PCI_BAR_PREFETCHABLE) || ((flags & PCI_BAR_PREFETCHABLE) && type == PCI_BAR_IO))
		return -EINVAL;
	if (size < 16 || (size & (size - 1)))
		return -EINVAL;
	if (type == PCI_BAR_IO && size > 256)
		return -EINVAL;
	uint64_t *next, limit;
	switch (type) {
	case PCI_BAR_IO:
		next = &ps->next_io;
		limit = PCI_IO_LIMIT;
		break;
	case PCI_BAR_MEM32:
		next = &ps->next_mem32;
		limit = PCI_MEM32_LIMIT;
		break;
	case PCI_BAR_MEM64:
		next = &ps->next_mem64;
		limit = pci_mem64_base(pd->vm) + PCI_MEM64_SIZE;
		break;
	default:
		return -EINVAL;
	}
	if (size < 4096 && type != PCI_BAR_IO)
		size = 4096; /* keep MMIO BARs page-sized so they never share a page */
	uint64_t base = (*next + size - 1) & ~(size - 1);
	if (base + size > limit || base + size < base)
		return -ENOSPC;
	*next = base + size;
	struct pci_bar *b = &pd->bar[idx];
	b->type = type;
	b->addr = base;
	b->size = size;
	b->pd = pd;
	b->idx = idx;
	b->prefetchable = flags & PCI_BAR_PREFETCHABLE;
	bar_write_cfg(pd, idx);
	return 0;
}

/* A BAR register write: keep the size alignment and type bits, then remap if decoding. */
static void bar_cfgwrite(struct pci_dev *pd, unsigned off, uint32_t val)
{
	int idx = (int)(off - PCIR_BAR0) / 4;
	struct pci_bar *b = &pd->bar[idx];
	bool upper = false;
	if (b->type == PCI_BAR_NONE && idx > 0 && pd->bar[idx - 1].type == PCI_BAR_MEM64) {
		b = &pd->bar[idx - 1];
		upper = true;
	}
	if (b->type == PCI_BAR_NONE)
		return; /* unimplemented BARs stay zero */
	bar_unmap(pd, b);
	if (upper) {
		uint64_t mask = ~(b->size - 1);
		b->addr = ((b->addr & 0xffffffffULL) | ((uint64_t)val << 32)) & mask;
	} else if (b->type == PCI_BAR_MEM64) {
		uint64_t mask = ~(b->size - 1);
		b->addr = ((b->addr & ~0xffffffffULL) | (val & ~0xfu)) & mask;
	} else {
		uint64_t mask = ~(b->size - 1) & 0xffffffffULL;
		b->addr = (uint64_t)(val & (b->type == PCI_BAR_IO ? ~3u : ~0xfu)) & mask;
		if (b->type == PCI_BAR_IO)
			b->addr &= 0xffff; /* I/O space is 64 KiB */
	}
	bar_write_cfg(pd, b->idx);
	bar_map(pd, b);
}

static void update_decoding(struct pci_dev *pd)
{
	for (int i = 0; i < PCI_BARS; i++) {
		struct pci_bar *b = &pd->bar[i];
		if (b->type == PCI_BAR_NONE)
			continue;
		if (bar_enabled(pd, b))
			bar_map(pd, b);
		else
			bar_unmap(pd, b);
	}
}

/* ---- configuration space ---- */

/* Bits the guest may change in the standard header (everything else is read-only). */
static uint8_t cfg_writable(unsigned off)
{
	switch (off) {
	case PCIR_COMMAND:
		return 0xff; /* I/O, memory, bus master, ... */
	case PCIR_COMMAND + 1:
		return 0x07; /* SERR, fast b2b, INTx disable */
	case 0x0c:           /* cache line size */
	case 0x0d:           /* latency timer */
	case PCIR_INTLINE:
		return 0xff;
	default:
		return 0;
	}
}

static bool intx_pending(struct pci_dev *pd);
static void intx_disable_written(struct pci_dev *pd, bool disabled);

static uint32_t cfg_read(struct pci_dev *pd, unsigned off, unsigned size)
{
	uint32_t v;
	if (pd->emu->cfgread && pd->emu->cfgread(pd, off, size, &v))
		return v;
	v = pci_get_cfg(pd, off, size);
	/* status bit 3: the function's INTx request, whatever INTx Disable says */
	if (off <= PCIR_STATUS && PCIR_STATUS < off + size && intx_pending(pd))
		v |= 0x08u << (8 * (PCIR_STATUS - off));
	return v;
}

static void cfg_write(struct pci_dev *pd, unsigned off, unsigned size, uint32_t val)
{
	if (pci_msi_cfgwrite(pd, off, size, val))
		return;
	if (pd->emu->cfgwrite && pd->emu->cfgwrite(pd, off, size, val))
		return;
	if (off >= PCIR_BAR0 && off < PCIR_BAR0 + 4 * PCI_BARS) {
		/* BARs are handled per dword; narrower writes merge into the current value */
		unsigned base = off & ~3u;
		uint32_t cur = pci_get_cfg(pd, base, 4);
		unsigned shift = (off - base) * 8;
		uint32_t mask = size == 4 ? 0xffffffffu : ((1u << (size * 8)) - 1) << shift;
		cur = (cur & ~mask) | ((val << shift) & mask);
		bar_cfgwrite(pd, base, cur);
		return;
	}
	uint16_t old_cmd = (uint16_t)pci_get_cfg(pd, PCIR_COMMAND, 2);
	for (unsigned i = 0; i < size; i++) {
		uint8_t wm = cfg_writable(off + i);
		uint8_t b = (val >> (8 * i)) & 0xff;
		__atomic_store_n(&pd->cfg[off + i], (uint8_t)((pd->cfg[off + i] & ~wm) | (b & wm)),
				 __ATOMIC_RELAXED);
	}
	uint16_t cmd = (uint16_t)pci_get_cfg(pd, PCIR_COMMAND, 2);
	if ((cmd ^ old_cmd) & PCIM_CMD_INTxDIS)
		intx_disable_written(pd, cmd & PCIM_CMD_INTxDIS);
	if ((cmd ^ old_cmd) & (PCIM_CMD_PORTEN | PCIM_CMD_MEMEN))
		update_decoding(pd);
}

static int conf1_addr(void *opaque, uint64_t off, unsigned size, bool is_write, uint64_t *val)
{
	struct pci_state *ps = opaque;
	if (size != 4) {
		if (!is_write)
			*val = ~0ULL;
		return 0;
	}
	pthread_mutex_lock(&ps->lock);
	if (is_write)
		ps->cf8 = (uint32_t)*val;
	else
		*val = ps->cf8;
	pthread_mutex_unlock(&ps->lock);
	return 0;
}

static int conf1_data(void *opaque, uint64_t off, unsigned size, bool is_write, uint64_t *val)
{
	struct vm *vm = opaque;
	struct pci_state *ps = vm->pci;
	pthread_mutex_lock(&ps->lock);
	uint32_t a = ps->cf8;
	struct pci_dev *pd = NULL;
	unsigned reg = (a & 0xfc) + (unsigned)off;
	if ((a & CONF1_ENABLE) && reg + size <= PCI_CFG_SIZE)
		pd = pci_find_dev(vm, (a >> 16) & 0xff, (a >> 11) & 0x1f, (a >> 8) & 7);
	if (!is_write)
		*val = pd ? cfg_read(pd, reg, size) : 0xffffffffu;
	else if (pd)
		cfg_write(pd, reg, size, (uint32_t)*val);
	pthread_mutex_unlock(&ps->lock);
	return 0;
}

/* ---- INTx ---- */

int pci_alloc_intx(struct pci_dev *pd, int pin)
{
	if (pin < 1 || pin > 4)
		return -EINVAL;
	pd->intpin = (uint8_t)pin;
	pd->gsi = pci_intx_gsi(pd->slot, (unsigned)pin - 1);
	pci_set_cfg8(pd, PCIR_INTPIN, (uint8_t)pin);
	pci_set_cfg8(pd, PCIR_INTLINE, (uint8_t)pd->gsi);
	return 0;
}

/* Drive the line or not from the function's request and INTx Disable (intx_lock held). */
static void intx_update(struct pci_state *ps, struct pci_dev *pd)
{
	bool drive = pd->intx_pending && !pd->intx_disabled && !pd->msi_active;
	if (drive == pd->intx_driving)
		return;
	pd->intx_driving = drive;
	int before = ps->intx_count[pd->gsi];
	int after = before + (drive ? 1 : -1);
	if (after < 0)
		after = 0;
	ps->intx_count[pd->gsi] = after;
	if ((before == 0) != (after == 0))
		vm_irq_line(pd->vm, pd->gsi, after > 0);
}

static void intx_set(struct pci_dev *pd, bool pending)
{
	struct pci_state *ps = pd->vm->pci;
	if (!pd->intpin || pd->gsi >= VM_IOAPIC_PINS)
		return;
	pthread_mutex_lock(&ps->intx_lock);
	pd->intx_pending = pending;
	intx_update(ps, pd);
	pthread_mutex_unlock(&ps->intx_lock);
}

/* The command register's INTx Disable changed (config lock held). */
static void intx_disable_written(struct pci_dev *pd, bool disabled)
{
	struct pci_state *ps = pd->vm->pci;
	if (!ps || !pd->intpin || pd->gsi >= VM_IOAPIC_PINS)
		return;
	pthread_mutex_lock(&ps->intx_lock);
	pd->intx_disabled = disabled;
	intx_update(ps, pd);
	pthread_mutex_unlock(&ps->intx_lock);
}

void pci_intx_msi_active(struct pci_dev *pd, bool on)
{
	struct pci_state *ps = pd->vm->pci;
	if (!ps) {
		pd->msi_active = on;
		return;
	}
	pthread_mutex_lock(&ps->intx_lock);
	pd->msi_active = on;
	if (pd->intpin && pd->gsi < VM_IOAPIC_PINS)
		intx_update(ps, pd);
	pthread_mutex_unlock(&ps->intx_lock);
}

static bool intx_pending(struct pci_dev *pd)
{
	struct pci_state *ps = pd->vm->pci;
	if (!ps || !pd->intpin || pd->gsi >= VM_IOAPIC_PINS)
		return false;
	pthread_mutex_lock(&ps->intx_lock);
	bool p = pd->intx_pending;
	pthread_mutex_unlock(&ps->intx_lock);
	return p;
}

void pci_intx_assert(struct pci_dev *pd)
{
	intx_set(pd, true);
}

void pci_intx_deassert(struct pci_dev *pd)
{
	intx_set(pd, false);
}

bool pci_bus_master(const struct pci_dev *pd)
{
	/* one byte, written under the config lock; a stale read only delays the change a little */
	return __atomic_load_n(&pd->cfg[PCIR_COMMAND], __ATOMIC_RELAXED) & PCIM_CMD_BUSMASTER;
}

bool pci_intx_level(struct vm *vm, unsigned gsi)
{
	struct pci_state *ps = vm->pci;
	if (!ps || gsi >= VM_IOAPIC_PINS)
		return false;
	pthread_mutex_lock(&ps->intx_lock);
	bool on = ps->intx_count[gsi] > 0;
	pthread_mutex_unlock(&ps->intx_lock);
	return on;
}

void pci_write_dsdt(struct aml *a, void *opaque)
{
	struct vm *vm = opaque;
	if (!vm->pci)
		return;
	for (int b = 0; b < PCI_MAX_BUS; b++)
		for (int i = 0; vm->pci->bus[b] && i < PCI_MAX_SLOT * PCI_MAX_FUNC; i++) {
			struct pci_dev *pd = vm->pci->bus[b][i];
			if (pd && pd->emu->write_dsdt)
				pd->emu->write_dsdt(pd, a);
		}
}

/* ---- checkpoint and restore ---- */

/* The bus's own state: the configuration address latch (a vCPU may be parked between writing
 * 0xCF8 and reading 0xCFC). */
static void bus_visit(struct snap *s, void *opaque)
{
	struct pci_state *ps = opaque;
	pthread_mutex_lock(&ps->lock);
	snap_u32(s, &ps->cf8);
	pthread_mutex_unlock(&ps->lock);
}

static const struct snapshot_ops bus_snapshot = {.visit = bus_visit};

static void no_state_visit(struct snap *s, void *opaque)
{
	(void)s;
	(void)opaque;
}

const struct snapshot_ops pci_no_state_snapshot = {.visit = no_state_visit};

/* Every function: configuration space (MSI's registers included), BAR addresses, the INTx
 * request and masks, the MSI-X table; then the emulation's own state. */
static void dev_visit(struct snap *s, void *opaque)
{
	struct pci_dev *pd = opaque;
	struct pci_state *ps = pd->vm->pci;
	pthread_mutex_lock(&ps->lock);
	snap_bytes(s, pd->cfg, sizeof(pd->cfg));
	for (int i = 0; i < PCI_BARS; i++) {
		struct pci_bar *b = &pd->bar[i];
		uint64_t addr = b->addr;
		snap_u64(s, &addr);
		bool ok = b->type == PCI_BAR_NONE ? addr == 0 : !(addr & (b->size - 1));
		if (snap_check(s, ok, "BAR address") && snap_loading(s) && !snap_failed(s)) {
			bar_unmap(pd, b);
			b->addr = addr;
		}
	}
	pthread_mutex_unlock(&ps->lock);
	pthread_mutex_lock(&ps->intx_lock);
	snap_bool(s, &pd->intx_pending);
	snap_bool(s, &pd->intx_disabled);
	snap_bool(s, &pd->msi_active);
	pthread_mutex_unlock(&ps->intx_lock);
	pci_msi_snapshot(s, pd);
	if (pd->emu->snapshot)
		pd->emu->snapshot->visit(s, pd);
}

/* After a load: decode the BARs where the guest had them and drive INTx as the function did
 * (the restored IOAPIC does not remember which source held a level line). */
static int dev_restored(void *opaque, char *err, size_t errlen)
{
	struct pci_dev *pd = opaque;
	struct pci_state *ps = pd->vm->pci;
	pthread_mutex_lock(&ps->lock);
	update_decoding(pd);
	pthread_mutex_unlock(&ps->lock);
	if (pd->intpin && pd->gsi < VM_IOAPIC_PINS) {
		pthread_mutex_lock(&ps->intx_lock);
		if (pd->intx_driving) {
			pd->intx_driving = false;
			ps->intx_count[pd->gsi]--;
		}
		intx_update(ps, pd);
		pthread_mutex_unlock(&ps->intx_lock);
	}
	const struct snapshot_ops *o = pd->emu->snapshot;
	return o->restored ? o->restored(pd, err, errlen) : 0;
}

static void dev_pause(void *opaque)
{
	struct pci_dev *pd = opaque;
	if (pd->emu->snapshot->pause)
		pd->emu->snapshot->pause(pd);
}

static bool dev_drained(void *opaque)
{
	struct pci_dev *pd = opaque;
	return !pd->emu->snapshot->drained || pd->emu->snapshot->drained(pd);
}

static void dev_resume(void *opaque)
{
	struct pci_dev *pd = opaque;
	if (pd->emu->snapshot->resume)
		pd->emu->snapshot->resume(pd);
}

static const struct snapshot_ops dev_snapshot = {
    .pause = dev_pause,
    .drained = dev_drained,
    .visit = dev_visit,
    .restored = dev_restored,
    .resume = dev_resume,
};

static int register_snapshot(struct pci_dev *pd)
{
	char name[SNAP_NAME_MAX + 1];
	snprintf(name, sizeof(name), "pci.%u.%u.%u", pd->bus, pd->slot, pd->func);
	if (!pd->emu->snapshot) {
		char why[96];
		snprintf(why, sizeof(why), "%s cannot be saved yet", pd->emu->name);
		return snapshot_unsupported(pd->vm, name, why);
	}
	return snapshot_register(pd->vm, name, &dev_snapshot, pd);
}

/* ---- bus creation from the config tree ---- */

static int parse_index(const char *s, int max)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < 0 || v >= max)
		return -1;
	return (int)v;
}

static int create_dev(struct vm *vm, int b, int s, int f, struct cfgnode *fn)
{
	struct cfgnode *dn = config_node(fn, "device");
	const char *emuname = dn ? config_value(dn) : NULL;
	if (!emuname) {
		kb_log("pci.%d.%d.%d: no device= given", b, s, f);
		return -EINVAL;
	}
	const struct pci_devemu *emu = pci_emul_find(emuname);
	if (!emu) {
		kb_log("pci.%d.%d.%d: unknown PCI emulation '%s' (see bhyve -s help)", b, s, f,
		       emuname);
		return -EINVAL;
	}
	struct pci_state *ps = vm->pci;
	if (!ps->bus[b]) {
		ps->bus[b] = calloc(PCI_MAX_SLOT * PCI_MAX_FUNC, sizeof(struct pci_dev *));
		if (!ps->bus[b])
			return -ENOMEM;
	}
	struct pci_dev *pd = calloc(1, sizeof(*pd));
	if (!pd)
		return -ENOMEM;
	pd->emu = emu;
	pd->vm = vm;
	pd->bus = (uint8_t)b;
	pd->slot = (uint8_t)s;
	pd->func = (uint8_t)f;
	for (int i = 0; i < PCI_BARS; i++) {
		pd->bar[i].pd = pd;
		pd->bar[i].idx = i;
	}
	ps->bus[b][s * PCI_MAX_FUNC + f] = pd;
	unsigned long logged = kb_log_lines();
	int rc = emu->init(vm, pd, fn);
	if (rc) {
		/* the emulation names the problem itself; this line only when it said nothing */
		if (kb_log_lines() == logged)
			kb_log("%s at %d:%d:%d: initialisation failed: %s", emuname, b, s, f,
			       strerror(-rc));
		ps->bus[b][s * PCI_MAX_FUNC + f] = NULL;
		pci_msi_free(pd);
		free(pd);
		return rc;
	}
	return register_snapshot(pd);
}

static int pci_state_init(struct vm *vm)
{
	struct pci_state *ps = calloc(1, sizeof(*ps));
	if (!ps)
		return -ENOMEM;
	pthread_mutex_init(&ps->lock, NULL);
	pthread_mutex_init(&ps->intx_lock, NULL);
	ps->next_io = PCI_IO_BASE;
	ps->next_mem32 = PCI_MEM32_BASE;
	ps->next_mem64 = pci_mem64_base(vm);
	vm->pci = ps;
	int rc = snapshot_register(vm, "pci", &bus_snapshot, ps);
	if (rc == 0)
		rc = iobus_register(&vm->bus, IOBUS_PIO, CONF1_ADDR_PORT, 1, conf1_addr, ps, "pci-cf8");
	if (rc == 0)
		rc = iobus_register(&vm->bus, IOBUS_PIO, CONF1_DATA_PORT, 4, conf1_data, vm,
				    "pci-cfc");
	return rc;
}

int pci_init_all(struct vm *vm)
{
	int rc = pci_state_init(vm);
	if (rc) {
		kb_log("cannot set up PCI configuration ports: %s", strerror(-rc));
		return rc;
	}
	struct cfgnode *pci = config_node(vm->cfg, "pci");
	if (!pci)
		return 0;
	for (struct cfgnode *bn = config_first_child(pci); bn; bn = config_next_sibling(bn)) {
		int b = parse_index(config_name(bn), PCI_MAX_BUS);
		if (b < 0 || config_is_leaf(bn)) {
			kb_log("pci.%s: invalid PCI bus number", config_name(bn));
			return -EINVAL;
		}
		for (struct cfgnode *sn = config_first_child(bn); sn; sn = config_next_sibling(sn)) {
			int s = parse_index(config_name(sn), PCI_MAX_SLOT);
			if (s < 0 || config_is_leaf(sn)) {
				kb_log("pci.%d.%s: invalid PCI slot number (0-31)", b,
				       config_name(sn));
				return -EINVAL;
			}
			for (struct cfgnode *fn = config_first_child(sn); fn;
			     fn = config_next_sibling(fn)) {
				int f = parse_index(config_name(fn), PCI_MAX_FUNC);
				if (f < 0 || config_is_leaf(fn)) {
					kb_log("pci.%d.%d.%s: invalid PCI function number (0-7)",
					       b, s, config_name(fn));
					return -EINVAL;
				}
				rc = create_dev(vm, b, s, f, fn);
				if (rc)
					return rc;
			}
		}
	}
	/* Multi-function slots: function 0 advertises it, as scanners only probe further
	 * functions when header type bit 7 is set. */
	for (int b = 0; b < PCI_MAX_BUS; b++) {
		if (!vm->pci->bus[b])
			continue;
		for (int s = 0; s < PCI_MAX_SLOT; s++) {
			struct pci_dev *f0 = pci_find_dev(vm, b, s, 0);
			int n = 0;
			for (int f = 1; f < PCI_MAX_FUNC; f++) {
				struct pci_dev *pd = pci_find_dev(vm, b, s, f);
				n += pd && !(pd->emu->chipset_function && !f0);
			}
			if (n && !f0) {
				kb_log("PCI slot %d:%d has functions but no function 0; the guest "
				       "would not find them",
				       b, s);
				return -EINVAL;
			}
			if (n)
				f0->cfg[PCIR_HDRTYPE] |= 0x80;
		}
	}
	return 0;
}

void pci_fini_all(struct vm *vm)
{
	struct pci_state *ps = vm->pci;
	if (!ps)
		return;
	for (int b = 0; b < PCI_MAX_BUS; b++) {
		if (!ps->bus[b])
			continue;
		for (int i = 0; i < PCI_MAX_SLOT * PCI_MAX_FUNC; i++) {
			if (ps->bus[b][i])
				pci_msi_free(ps->bus[b][i]);
			free(ps->bus[b][i]);
		}
		free(ps->bus[b]);
	}
	pthread_mutex_destroy(&ps->lock);
	pthread_mutex_destroy(&ps->intx_lock);
	free(ps);
	vm->pci = NULL;
}
