/* SPDX-License-Identifier: BSD-2-Clause */
/* libFuzzer target for the i8042 with its PS/2 keyboard and mouse, as bhyve sets it up
 * (machine_init_devices, with a -K layout file) on the stand-in KVM descriptor: a guest's
 * accesses to ports 0x60/0x64 (controller commands, keyboard and mouse commands with or
 * without their data bytes, reads, 2- and 4-byte accesses) mixed with keys and pointer moves
 * from the console input service.
 *
 * Checked after every access and event, beyond ASan/UBSan and the work bounds of fixture.h:
 *   - the status register: IBF never set, SYS and the key-lock bit always, AUXOBF only with OBF;
 *   - IRQs: only lines 1 and 12 move, as pulses (low again when the access returns), at most
 *     one per access, and a pulse on 12 leaves a mouse byte waiting (OBF|AUXOBF), one on 1 a
 *     keyboard-side byte (OBF without AUXOBF);
 *   - a data read with nothing waiting returns the previous byte again;
 *   - the VM's exit code is unset or reboot (the reset line).
 *
 * Input: operations, op byte low 3 bits:
 *   0 command     out 0x64, value u8
 *   1 data        out 0x60, value u8
 *   2 read        in 0x60
 *   3 key         flags u8 (bit 0 down; bit 1 a key code u8 follows; bit 2 a keysym u8 follows,
 *                 bit 3 puts it at 0xFF00 + u8, the function keys)
 *   4 pointer     buttons u8, x u16, y u16
 *   5 drain       read status and data while a byte waits, at most 40 bytes
 *   6 wide        a 2-byte (op bit 3: 4-byte) access to 0x60 (op bit 4: 0x64), a write when op
 *                 bit 5 is set, with its value u32
 *   7 two-step    controller command (op >> 3: 60, D1, D2, D3, D4, D4, D4, 61) then data u8 */
#include <stdlib.h>
#include <string.h>

#include "core/exitcode.h"
#include "core/vm.h"
#include "fixture.h"
#include "input/console_input.h"

#define RAM_SIZE (1u << 20)
#define MAX_OPS 4096
#define DATA 0x60
#define STATUS 0x64

#define STS_OBF 0x01
#define STS_IBF 0x02
#define STS_SYS 0x04
#define STS_UNLOCKED 0x10
#define STS_AUXOBF 0x20

/* A layout with a few entries, some of them extended, so that keysym lookups go through it. */
static const char layout[] = "# fuzz layout\n"
			     "'\"',0x1e;\n"
			     "'z',0x35;\n"
			     "0xa7,0x26;\n"
			     "0xff50,0x6c,0xe0;\n"
			     "0xff13,0x77;\n";

struct state {
	struct vm *vm;
	uint8_t last_data; /* the last byte read from port 0x60 */
	bool read_once;
	unsigned long raised1, raised12;
};

static uint8_t status(struct state *s)
{
	uint8_t st = (uint8_t)fuzz_guest_access(s->vm, IOBUS_PIO, STATUS, 1, false, 0);
	FUZZ_CHECK(!(st & STS_IBF), "status %#04x: IBF set", st);
	FUZZ_CHECK((st & (STS_SYS | STS_UNLOCKED)) == (STS_SYS | STS_UNLOCKED),
		   "status %#04x: SYS or key-lock bit clear", st);
	FUZZ_CHECK(!(st & STS_AUXOBF) || (st & STS_OBF), "status %#04x: AUXOBF without OBF", st);
	return st;
}

/* After an access or event: the IRQ lines and what they announce. */
static void check(struct state *s, const char *what)
{
	for (unsigned gsi = 0; gsi < 24; gsi++) {
		FUZZ_CHECK(!fuzz_fake_kvm_irq_level(gsi), "%s: IRQ %u left high", what, gsi);
		if (gsi != 1 && gsi != 12)
			FUZZ_CHECK(fuzz_fake_kvm_irq_raised(gsi) == 0, "%s: IRQ %u raised", what,
				   gsi);
	}
	unsigned long r1 = fuzz_fake_kvm_irq_raised(1), r12 = fuzz_fake_kvm_irq_raised(12);
	unsigned long d1 = r1 - s->raised1, d12 = r12 - s->raised12;
	s->raised1 = r1;
	s->raised12 = r12;
	FUZZ_CHECK(d1 + d12 <= 1, "%s: %lu pulses on IRQ 1 and %lu on IRQ 12", what, d1, d12);
	uint8_t st = status(s);
	if (d1)
		FUZZ_CHECK((st & (STS_OBF | STS_AUXOBF)) == STS_OBF,
			   "%s: IRQ 1 pulsed, status %#04x", what, st);
	if (d12)
		FUZZ_CHECK((st & (STS_OBF | STS_AUXOBF)) == (STS_OBF | STS_AUXOBF),
			   "%s: IRQ 12 pulsed, status %#04x", what, st);
	int code = atomic_load(&s->vm->exit_code);
	FUZZ_CHECK(code == -1 || code == BHYVE_EXIT_REBOOT, "%s: exit code %d", what, code);
}

static void write_port(struct state *s, uint16_t port, unsigned size, uint32_t val)
{
	fuzz_guest_access(s->vm, IOBUS_PIO, port, size, true, val);
	check(s, port == DATA ? "data write" : "command write");
}

static void read_data(struct state *s, unsigned size)
{
	bool waiting = status(s) & STS_OBF;
	uint64_t v = fuzz_guest_access(s->vm, IOBUS_PIO, DATA, size, false, 0);
	uint8_t b = (uint8_t)v;
	if (size > 1)
		FUZZ_CHECK(v >> 8 == (size == 2 ? 0xFFu : 0xFFFFFFu),
			   "%u-byte read of port 0x60: %#llx, upper bytes not all ones", size,
			   (unsigned long long)v);
	if (!waiting && s->read_once)
		FUZZ_CHECK(b == s->last_data,
			   "empty buffer read %#04x, the previous byte was %#04x", b, s->last_data);
	s->last_data = b;
	s->read_once = true;
	check(s, "data read");
}

static const char *layout_path(void)
{
	static struct fuzz_memfile f;
	static char assign[96];
	if (!assign[0]) {
		fuzz_memfile_open(&f, "kbdlayout");
		fuzz_memfile_set(&f, layout, strlen(layout));
		snprintf(assign, sizeof(assign), "keyboard.layout=%s", f.path);
	}
	return assign;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *const assign[] = {layout_path(), NULL}; /* its descriptor stays open */
	fuzz_work_begin();
	struct fuzz_input in = {data, size};
	struct state s = {0};
	s.vm = fuzz_vm_create_flags(assign, RAM_SIZE, true, FUZZ_VM_FAKE_KVM);
	s.raised1 = fuzz_fake_kvm_irq_raised(1);
	s.raised12 = fuzz_fake_kvm_irq_raised(12);
	check(&s, "start");
	static const uint8_t two_step[8] = {0x60, 0xD1, 0xD2, 0xD3, 0xD4, 0xD4, 0xD4, 0x61};
	for (int n = 0; n < MAX_OPS && in.left; n++) {
		uint8_t op = in_u8(&in);
		switch (op & 7) {
		case 0:
			write_port(&s, STATUS, 1, in_u8(&in));
			break;
		case 1:
			write_port(&s, DATA, 1, in_u8(&in));
			break;
		case 2:
			read_data(&s, 1);
			break;
		case 3: {
			uint8_t flags = in_u8(&in);
			uint32_t code = flags & 2 ? in_u8(&in) : 0;
			uint32_t keysym = flags & 4 ? in_u8(&in) : 0;
			if (flags & 8)
				keysym |= 0xFF00;
			console_key_event(flags & 1, keysym, code);
			check(&s, "key");
			break;
		}
		case 4: {
			uint8_t buttons = in_u8(&in);
			unsigned x = in_u16(&in), y = in_u16(&in);
			console_ptr_event(buttons, x, y);
			check(&s, "pointer");
			break;
		}
		case 5:
			for (int i = 0; i < 40 && (status(&s) & STS_OBF); i++)
				read_data(&s, 1);
			break;
		case 6: {
			unsigned sz = op & 8 ? 4 : 2;
			uint16_t port = op & 16 ? STATUS : DATA;
			if (op & 32)
				write_port(&s, port, sz, in_u32(&in));
			else if (port == DATA)
				read_data(&s, sz);
			else
				status(&s);
			break;
		}
		case 7:
			write_port(&s, STATUS, 1, two_step[(op >> 3) & 7]);
			write_port(&s, DATA, 1, in_u8(&in));
			break;
		}
	}
	fuzz_work_check();
	fuzz_vm_destroy(s.vm);
	/* the controller's console sinks went with the VM */
	console_key_event(true, 'a', 0);
	console_ptr_event(1, 2, 3);
	fuzz_work_end();
	return 0;
}
