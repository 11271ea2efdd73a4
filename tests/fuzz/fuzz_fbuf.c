/* SPDX-License-Identifier: BSD-2-Clause */
/* libFuzzer target for fbuf and its VNC server: a VM without KVM with one fbuf at 0:29.0 (VRAM
 * on MMIO exits, as without a KVM memory slot), driven by a hostile guest and a hostile viewer at
 * once. The guest writes and reads any register of the Bochs window (EDID, VGA, DISPI, QEMU
 * extension) or of bhyve's model, DISPI registers by index (so that odd modes are reached: huge
 * virtual widths, offsets past VRAM, wrong depths), and VRAM anywhere. A viewer connects over TCP,
 * sends the RFB handshake and then bytes from the input (the server's filter and message handling
 * see them; update requests make it encode the guest's current mode, Raw or ZRLE as the bytes
 * ask); loop passes run the server's refresh, which reads the mode and the dirty pages.
 *
 * Checked: ASan/UBSan, the work bounds of fixture.h (time, descriptors, log lines).
 *
 * Input: a setup byte (bit 0: model=bhyve; bits 1-2: w x h preset), then operations (op byte,
 * low 3 bits):
 *   0 register write   offset u16 (within the window), size (op bits 3-4: 1/2/4/8), value
 *   1 register read    offset u16, size
 *   2 DISPI write      index u8 (mod 16), value u16 (Bochs only; bhyve model: a register write)
 *   3 VRAM write       offset u32 (within VRAM, op bit 3: near the end), size, value
 *   4 VRAM read        offset u32, size
 *   5 viewer           connect (once), send length u8 bytes of client messages, loop passes
 *   6 loop pass
 *   7 a Linux-like mode set  w u16, h u16, bpp u8, virt_width u16, y offset u16 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/vm.h"
#include "fixture.h"
#include "pci/pci.h"

#define SLOT 29
#define VRAM (32u << 20)
#define MAX_OPS 256

struct fz {
	struct vm *vm;
	bool bhyve;
	uint64_t regs, vram;
	uint64_t regs_size;
	int viewer;
};

/* sizes a viewer may ask to see whole, many times: 4K frames cost a second each under ASan */
static const unsigned presets[4][2] = {{1024, 768}, {640, 480}, {800, 600}, {1920, 1080}};

static unsigned op_size(uint8_t op)
{
	return 1u << ((op >> 3) & 3);
}

static void dispi(struct fz *f, unsigned idx, uint16_t v)
{
	fuzz_guest_access(f->vm, IOBUS_MMIO, f->regs + 0x500 + 2 * idx, 2, true, v);
}

/* The port neatvnc listens on: the only TCP listener this process opened on 127.0.0.1 */
static int viewer_connect(struct fz *f)
{
	int lfd = -1;
	for (int fd = 3; fd < 1024 && lfd < 0; fd++) {
		int type = 0, listening = 0;
		socklen_t l = sizeof(type);
		struct sockaddr_in a;
		socklen_t al = sizeof(a);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) == 0 && type == SOCK_STREAM &&
		    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &l) == 0 && listening &&
		    getsockname(fd, (struct sockaddr *)&a, &al) == 0 && a.sin_family == AF_INET)
			lfd = fd;
	}
	FUZZ_CHECK(lfd >= 0, "no VNC listener");
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	getsockname(lfd, (struct sockaddr *)&a, &al);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	FUZZ_CHECK(s >= 0, "socket: %s", strerror(errno));
	if (connect(s, (struct sockaddr *)&a, al) < 0 && errno != EINPROGRESS) {
		close(s);
		return -1;
	}
	/* version, security None, ClientInit, SetEncodings [ZRLE, Raw, DesktopSize] */
	static const char hello[] = "RFB 003.008\n\001\001"
				    "\002\000\000\003\000\000\000\020\000\000\000\000\377\377\377\041";
	fuzz_loop_pass(f->vm);
	(void)!send(s, hello, sizeof(hello) - 1, MSG_NOSIGNAL);
	return s;
}

static void drain(int s)
{
	char buf[65536];
	while (s >= 0 && read(s, buf, sizeof(buf)) > 0)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_work_begin();
	struct fuzz_input in = {data, size};
	struct fz f = {.viewer = -1};
	uint8_t setup = in_u8(&in);
	f.bhyve = setup & 1;
	char wopt[32], hopt[32];
	snprintf(wopt, sizeof(wopt), "pci.0.29.0.w=%u", presets[(setup >> 1) & 3][0]);
	snprintf(hopt, sizeof(hopt), "pci.0.29.0.h=%u", presets[(setup >> 1) & 3][1]);
	const char *assign[] = {"name=fuzz",
				"pci.0.29.0.device=fbuf",
				"pci.0.29.0.tcp=127.0.0.1:0",
				f.bhyve ? "pci.0.29.0.model=bhyve" : "pci.0.29.0.model=bochs",
				wopt,
				hopt,
				NULL};
	f.vm = fuzz_vm_create(assign, 1u << 20, false);
	fuzz_cfg_write(f.vm, SLOT, PCIR_COMMAND, 2, 0x2);
	int regs_bar = f.bhyve ? 0 : 2, vram_bar = f.bhyve ? 1 : 0;
	f.regs = fuzz_cfg_read(f.vm, SLOT, PCIR_BAR0 + 4 * regs_bar, 4) & ~0xfULL;
	f.vram = fuzz_cfg_read(f.vm, SLOT, PCIR_BAR0 + 4 * vram_bar, 4) & ~0xfULL;
	f.regs_size = f.bhyve ? 128 : 0x1000;
	unsigned viewer_sends = 0;

	for (int n = 0; n < MAX_OPS && in.left; n++) {
		uint8_t op = in_u8(&in);
		unsigned sz = op_size(op);
		switch (op & 7) {
		case 0: {
			uint64_t off = in_u16(&in) % f.regs_size;
			fuzz_guest_access(f.vm, IOBUS_MMIO, f.regs + off, sz, true, in_le(&in, sz));
			break;
		}
		case 1:
			fuzz_guest_access(f.vm, IOBUS_MMIO, f.regs + in_u16(&in) % f.regs_size, sz, false, 0);
			break;
		case 2: {
			unsigned idx = in_u8(&in) % 16;
			uint16_t v = in_u16(&in);
			if (!f.bhyve)
				dispi(&f, idx, v);
			else
				fuzz_guest_access(f.vm, IOBUS_MMIO, f.regs + (idx * 2) % 128, 2, true, v);
			break;
		}
		case 3: {
			uint64_t off = in_u32(&in) % VRAM;
			if (op & 0x20)
				off = VRAM - 1 - off % 16;
			fuzz_guest_access(f.vm, IOBUS_MMIO, f.vram + off, sz, true, in_le(&in, sz));
			break;
		}
		case 4:
			fuzz_guest_access(f.vm, IOBUS_MMIO, f.vram + in_u32(&in) % VRAM, sz, false, 0);
			break;
		case 5: {
			if (viewer_sends >= 8)
				break; /* bound the work of one input */
			viewer_sends++;
			if (f.viewer < 0)
				f.viewer = viewer_connect(&f);
			unsigned len = in_u8(&in);
			uint8_t buf[256];
			for (unsigned i = 0; i < len; i++)
				buf[i] = in_u8(&in);
			if (f.viewer >= 0 && len)
				/* the server may have dropped this viewer already */
				(void)!send(f.viewer, buf, len, MSG_NOSIGNAL);
			for (int i = 0; i < 4; i++)
				fuzz_loop_pass(f.vm);
			drain(f.viewer);
			break;
		}
		case 6:
			/* a loop pass; op bit 3: long enough for the refresh timer */
			if (op & 8)
				fuzz_loop_run_ms(f.vm, 40);
			else
				fuzz_loop_pass(f.vm);
			drain(f.viewer);
			break;
		case 7: {
			unsigned w = in_u16(&in), h = in_u16(&in), bpp = in_u8(&in);
			unsigned vw = in_u16(&in), yoff = in_u16(&in);
			if (f.bhyve) {
				fuzz_guest_access(f.vm, IOBUS_MMIO, f.regs + 4, 4, true, h << 16 | w);
				fuzz_guest_access(f.vm, IOBUS_MMIO, f.regs + 8, 2, true, bpp);
				break;
			}
			dispi(&f, 4, 0);
			dispi(&f, 3, (uint16_t)bpp);
			dispi(&f, 1, (uint16_t)w);
			dispi(&f, 2, (uint16_t)h);
			dispi(&f, 6, (uint16_t)vw);
			dispi(&f, 9, (uint16_t)yoff);
			dispi(&f, 4, 0x41);
			break;
		}
		}
	}
	if (f.viewer >= 0) {
		for (int i = 0; i < 4; i++)
			fuzz_loop_pass(f.vm);
		drain(f.viewer);
		close(f.viewer);
		fuzz_loop_pass(f.vm);
	}
	fuzz_work_check();
	fuzz_vm_destroy(f.vm);
	fuzz_work_end();
	return 0;
}
