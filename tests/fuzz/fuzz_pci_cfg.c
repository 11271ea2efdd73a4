/* SPDX-License-Identifier: BSD-2-Clause */
/* PCI configuration mechanism #1 and BAR programming: config-space reads and writes through
 * 0xCF8/0xCFC interleaved with accesses to wherever the BARs decode, on a bus with the host
 * bridge and three devices that each have a 32-bit MMIO, an I/O and a 64-bit MMIO BAR (one of
 * them a multi-function pair, so BARs of different devices can collide).
 *
 * After every operation the bus must still be consistent: ranges sorted and disjoint, the
 * configuration ports in place, and each BAR on the bus exactly when the device says it
 * decodes, at the address its BAR registers hold.
 *
 * Input: a sequence of operations, each an op byte (low 3 bits select it) and its operands:
 *   0 config write   device, register, size, value    (CF8 then CFC+(reg&3), as a guest does)
 *   1 config read    device, register, size
 *   2 CF8 write      raw 32-bit value
 *   3 CFC access     op bits 3-4 offset, bit 5 write, bits 6-7 size; value for writes
 *   4 BAR sizing     device, BAR: write all ones, read back, write the value given
 *   5 command write  device, 16-bit value (decoding on/off)
 *   6 BAR access     device, BAR, offset u16, op bit 3 write, bits 4-5 size; value for writes
 *   7 generic        a port I/O or MMIO access as in fuzz_pio (next byte is its op byte)
 * A device operand is one byte: bits 0-2 pick an entry of `targets` below (the four devices,
 * 0:3.0 again, then an absent function, an absent slot, another bus); with bit 7 set, bus and
 * slot/function come from the next two bytes instead. The BAR access op's device byte picks
 * a test device (value mod 3) and, in bits 2-3, BAR 0, 1 or 2. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/vm.h"
#include "fixture.h"
#include "pci/pci.h"

#define RAM_SIZE (2u << 20)
#define CONF1_ADDR_PORT 0xCF8
#define CONF1_DATA_PORT 0xCFC
#define TESTDEV_VENDOR 0x1af4
#define TESTDEV_DEVICE 0xbeef

/* ---- the test device (registered in this binary only) ---- */

struct testdev_state {
	unsigned reads, writes;
};

static struct testdev_state testdev_states[PCI_MAX_SLOT * PCI_MAX_FUNC];

static int testdev_init(struct vm *vm, struct pci_dev *pd, struct cfgnode *n)
{
	struct testdev_state *st = &testdev_states[pd->slot * PCI_MAX_FUNC + pd->func];
	memset(st, 0, sizeof(*st));
	pd->priv = st;
	pci_set_cfg16(pd, PCIR_VENDOR, TESTDEV_VENDOR);
	pci_set_cfg16(pd, PCIR_DEVICE, TESTDEV_DEVICE);
	if (pci_alloc_bar(pd, 0, PCI_BAR_MEM32, 0x1000) || pci_alloc_bar(pd, 1, PCI_BAR_IO, 0x20) ||
	    pci_alloc_bar(pd, 2, PCI_BAR_MEM64, 0x4000) || pci_alloc_intx(pd, 1))
		return -EINVAL;
	return 0;
}

/* The bus hands a BAR handler only accesses inside a BAR that is decoding. */
static void check_bar_access(struct pci_dev *pd, int bar, uint64_t off, unsigned size)
{
	FUZZ_CHECK(bar >= 0 && bar < PCI_BARS && pd->bar[bar].type != PCI_BAR_NONE,
		   "access to BAR %d of %02x.%x", bar, pd->slot, pd->func);
	FUZZ_CHECK(pd->bar[bar].registered, "access to BAR%d of %02x.%x, which does not decode",
		   bar, pd->slot, pd->func);
	FUZZ_CHECK(off < pd->bar[bar].size, "offset %#llx in BAR%d of size %#llx",
		   (unsigned long long)off, bar, (unsigned long long)pd->bar[bar].size);
	FUZZ_CHECK(size == 1 || size == 2 || size == 4 || size == 8, "access size %u", size);
}

static int testdev_barread(struct pci_dev *pd, int bar, uint64_t off, unsigned size, uint64_t *val)
{
	check_bar_access(pd, bar, off, size);
	((struct testdev_state *)pd->priv)->reads++;
	*val = 0xb0 + (uint64_t)bar;
	return 0;
}

/* Writes to the I/O BAR drive the INTx line, so that shared-line counting runs as well. */
static int testdev_barwrite(struct pci_dev *pd, int bar, uint64_t off, unsigned size, uint64_t val)
{
	check_bar_access(pd, bar, off, size);
	((struct testdev_state *)pd->priv)->writes++;
	if (bar == 1 && off == 0) {
		if (val & 1)
			pci_intx_assert(pd);
		else
			pci_intx_deassert(pd);
	}
	return 0;
}

static const struct pci_devemu testdev = {
    .name = "test-bars",
    .init = testdev_init,
    .barread = testdev_barread,
    .barwrite = testdev_barwrite,
};
PCI_EMUL(testdev);

/* ---- the bus ---- */

static const char *const config[] = {
    "pci.0.0.0.device=hostbridge",
    "pci.0.3.0.device=test-bars",
    "pci.0.4.0.device=test-bars",
    "pci.0.4.1.device=test-bars",
    NULL,
};

static const struct {
	uint8_t bus, slot, func;
} targets[8] = {
    {0, 0, 0}, {0, 3, 0}, {0, 4, 0}, {0, 4, 1}, {0, 3, 0}, {0, 3, 1}, {0, 9, 0}, {1, 3, 0},
};
#define NTESTDEVS 3
static const uint8_t testdev_slots[NTESTDEVS][2] = {{3, 0}, {4, 0}, {4, 1}};

struct target {
	uint8_t bus, slot, func;
};

static struct target read_target(struct fuzz_input *in)
{
	uint8_t b = in_u8(in);
	if (b & 0x80) {
		uint8_t bus = in_u8(in), sf = in_u8(in);
		return (struct target){bus, sf >> 3, sf & 7};
	}
	return (struct target){targets[b & 7].bus, targets[b & 7].slot, targets[b & 7].func};
}

static void set_address(struct vm *vm, struct target t, unsigned reg)
{
	uint32_t a = 0x80000000u | (uint32_t)t.bus << 16 | (uint32_t)t.slot << 11 |
		     (uint32_t)t.func << 8 | (reg & 0xfc);
	fuzz_guest_access(vm, IOBUS_PIO, CONF1_ADDR_PORT, 4, true, a);
}

static uint32_t cfg_read(struct vm *vm, struct target t, unsigned reg, unsigned size)
{
	set_address(vm, t, reg);
	return (uint32_t)fuzz_guest_access(vm, IOBUS_PIO, CONF1_DATA_PORT + (reg & 3), size, false,
					   0);
}

static void cfg_write(struct vm *vm, struct target t, unsigned reg, unsigned size, uint32_t val)
{
	set_address(vm, t, reg);
	fuzz_guest_access(vm, IOBUS_PIO, CONF1_DATA_PORT + (reg & 3), size, true, val);
}

/* ---- invariants ---- */

static unsigned base_ranges[2];

static void check_bar(struct vm *vm, struct pci_dev *pd, int i, unsigned *registered)
{
	const struct pci_bar *b = &pd->bar[i];
	if (b->type == PCI_BAR_NONE || (i > 0 && pd->bar[i - 1].type == PCI_BAR_MEM64))
		return;
	FUZZ_CHECK(b->pd == pd && b->idx == i, "BAR%d of %02x.%x: wrong back pointers", i, pd->slot,
		   pd->func);
	FUZZ_CHECK(b->size && (b->addr & (b->size - 1)) == 0,
		   "BAR%d of %02x.%x at %#llx not aligned to its size %#llx", i, pd->slot, pd->func,
		   (unsigned long long)b->addr, (unsigned long long)b->size);
	uint32_t lo = pci_get_cfg(pd, PCIR_BAR0 + 4 * (unsigned)i, 4);
	uint64_t reg = lo;
	switch (b->type) {
	case PCI_BAR_IO:
		FUZZ_CHECK(b->addr <= 0xffff, "I/O BAR at %#llx", (unsigned long long)b->addr);
		FUZZ_CHECK((lo & 3) == 1, "I/O BAR register %#x lost its type bits", lo);
		reg &= ~3ULL;
		break;
	case PCI_BAR_MEM32:
		FUZZ_CHECK(b->addr <= 0xffffffffULL, "32-bit BAR at %#llx",
			   (unsigned long long)b->addr);
		FUZZ_CHECK((lo & 0xf) == 0, "32-bit BAR register %#x has type bits %#x", lo,
			   lo & 0xf);
		reg &= ~0xfULL;
		break;
	case PCI_BAR_MEM64:
		FUZZ_CHECK((lo & 0xf) == 4, "64-bit BAR register %#x has type bits %#x", lo,
			   lo & 0xf);
		reg = (reg & ~0xfULL) |
		      (uint64_t)pci_get_cfg(pd, PCIR_BAR0 + 4 * (unsigned)i + 4, 4) << 32;
		break;
	default:
		FUZZ_CHECK(0, "BAR%d type %d", i, (int)b->type);
	}
	FUZZ_CHECK(reg == b->addr, "BAR%d of %02x.%x: register says %#llx, decoder %#llx", i,
		   pd->slot, pd->func, (unsigned long long)reg, (unsigned long long)b->addr);

	enum iobus_space sp = b->type == PCI_BAR_IO ? IOBUS_PIO : IOBUS_MMIO;
	uint16_t cmd = (uint16_t)pci_get_cfg(pd, PCIR_COMMAND, 2);
	bool enabled = b->type == PCI_BAR_IO ? (cmd & 1) : (cmd & 2);
	const struct iobus_range *r = vm->bus.ranges[sp];
	int mine = 0;
	for (int k = 0; k < vm->bus.count[sp]; k++) {
		if (r[k].opaque != b)
			continue;
		mine++;
		FUZZ_CHECK(r[k].base == b->addr && r[k].len == b->size,
			   "BAR%d of %02x.%x decodes %#llx+%#llx but is at %#llx+%#llx", i,
			   pd->slot, pd->func, (unsigned long long)r[k].base,
			   (unsigned long long)r[k].len, (unsigned long long)b->addr,
			   (unsigned long long)b->size);
	}
	FUZZ_CHECK(mine == (b->registered ? 1 : 0),
		   "BAR%d of %02x.%x: %d bus ranges, registered %d", i, pd->slot, pd->func, mine,
		   b->registered);
	FUZZ_CHECK(!b->registered || (enabled && b->addr != 0),
		   "BAR%d of %02x.%x decodes with command %#x at %#llx", i, pd->slot, pd->func, cmd,
		   (unsigned long long)b->addr);
	*registered += b->registered;
}

static void check_all(struct vm *vm)
{
	fuzz_check_bus(&vm->bus);
	const struct iobus_range *r = vm->bus.ranges[IOBUS_PIO];
	bool cf8 = false, cfc = false;
	for (int k = 0; k < vm->bus.count[IOBUS_PIO]; k++) {
		cf8 |= r[k].base == CONF1_ADDR_PORT && r[k].len == 1;
		cfc |= r[k].base == CONF1_DATA_PORT && r[k].len == 4;
	}
	FUZZ_CHECK(cf8 && cfc, "configuration ports lost (0xCF8 %d, 0xCFC %d)", cf8, cfc);
	unsigned registered[2] = {0, 0};
	for (int d = 0; d < NTESTDEVS; d++) {
		struct pci_dev *pd = pci_find_dev(vm, 0, testdev_slots[d][0], testdev_slots[d][1]);
		FUZZ_CHECK(pd, "test device %d vanished", d);
		for (int i = 0; i < PCI_BARS; i++) {
			unsigned *n = &registered[pd->bar[i].type == PCI_BAR_IO ? 0 : 1];
			check_bar(vm, pd, i, n);
		}
	}
	for (int sp = 0; sp < 2; sp++)
		FUZZ_CHECK((unsigned)vm->bus.count[sp] == base_ranges[sp] + registered[sp],
			   "space %d: %d ranges, expected %u fixed + %u BARs", sp,
			   vm->bus.count[sp], base_ranges[sp], registered[sp]);
}

/* ---- operations ---- */

static const unsigned cfg_sizes[4] = {1, 2, 4, 4};

static void run_op(struct vm *vm, uint8_t op, struct fuzz_input *in)
{
	switch (op & 7) {
	case 0: {
		struct target t = read_target(in);
		uint8_t reg = in_u8(in);
		unsigned size = cfg_sizes[in_u8(in) & 3];
		cfg_write(vm, t, reg, size, in_u32(in));
		break;
	}
	case 1: {
		struct target t = read_target(in);
		uint8_t reg = in_u8(in);
		cfg_read(vm, t, reg, cfg_sizes[in_u8(in) & 3]);
		break;
	}
	case 2:
		fuzz_guest_access(vm, IOBUS_PIO, CONF1_ADDR_PORT, 4, true, in_u32(in));
		break;
	case 3: {
		unsigned off = (op >> 3) & 3, size = cfg_sizes[op >> 6];
		bool is_write = op & 0x20;
		uint64_t val = is_write ? in_le(in, size) : 0;
		fuzz_guest_access(vm, IOBUS_PIO, CONF1_DATA_PORT + off, size, is_write, val);
		break;
	}
	case 4: {
		struct target t = read_target(in);
		unsigned reg = PCIR_BAR0 + 4 * (unsigned)(in_u8(in) % PCI_BARS);
		cfg_write(vm, t, reg, 4, 0xffffffffu);
		cfg_read(vm, t, reg, 4);
		cfg_write(vm, t, reg, 4, in_u32(in));
		break;
	}
	case 5: {
		struct target t = read_target(in);
		cfg_write(vm, t, PCIR_COMMAND, 2, in_u16(in));
		break;
	}
	case 6: {
		uint8_t d = in_u8(in);
		const uint8_t *sf = testdev_slots[d % NTESTDEVS];
		struct pci_dev *pd = pci_find_dev(vm, 0, sf[0], sf[1]);
		static const int bars[4] = {0, 1, 2, 2};
		const struct pci_bar *b = &pd->bar[bars[(d >> 2) & 3]];
		uint64_t off = in_u16(in);
		static const unsigned sizes[4] = {1, 2, 4, 8};
		unsigned size = sizes[(op >> 4) & 3];
		enum iobus_space sp = b->type == PCI_BAR_IO ? IOBUS_PIO : IOBUS_MMIO;
		if (sp == IOBUS_PIO && size == 8)
			size = 4;
		bool is_write = op & 8;
		uint64_t val = is_write ? in_le(in, size) : 0;
		fuzz_guest_access(vm, sp, b->addr + off % b->size, size, is_write, val);
		break;
	}
	case 7:
		fuzz_generic_op(vm, in_u8(in), in);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_work_begin();
	struct vm *vm = fuzz_vm_create(config, RAM_SIZE, false);
	/* at power-on nothing decodes (command register 0): the fixed ranges are all there is */
	base_ranges[0] = (unsigned)vm->bus.count[0];
	base_ranges[1] = (unsigned)vm->bus.count[1];
	check_all(vm);
	struct fuzz_input in = {data, size};
	while (in.left) {
		run_op(vm, in_u8(&in), &in);
		check_all(vm);
	}
	/* whatever the guest did, configuration space still answers */
	for (int d = 0; d < NTESTDEVS; d++) {
		struct target t = {0, testdev_slots[d][0], testdev_slots[d][1]};
		uint32_t id = cfg_read(vm, t, PCIR_VENDOR, 4);
		FUZZ_CHECK(id == ((uint32_t)TESTDEV_DEVICE << 16 | TESTDEV_VENDOR),
			   "device %d reads ID %#x", d, id);
	}
	fuzz_work_check();
	fuzz_vm_destroy(vm);
	fuzz_work_end();
	return 0;
}
