/* SPDX-License-Identifier: BSD-2-Clause */
/* libFuzzer target for the AHCI controller: a VM without KVM (the stand-in KVM descriptor, so
 * MSI routes are made as under KVM) with one `ahci` at 0:4.0: port 0 a disk on a small image,
 * port 1 a CD on a small image, port 2 an empty CD drive, in 1 MiB of guest RAM between guard
 * pages. A driver resets the HBA and starts the ports as libahci does, then the input drives
 * everything a guest controls: raw RAM, command headers and tables (any FIS, ATA command,
 * ATAPI packet, PRDT entries inside or outside RAM, huge PRDTLs), PxCI/PxSACT writes, any
 * register write, ST toggles, COMRESET, HBA reset with I/O in flight, config-space writes (MSI,
 * Bus Master Enable) and event-loop passes that deliver backend completions.
 *
 * Checked: ASan/UBSan (no access outside the VMM's buffers or guest RAM: the guard pages fault),
 * the work bounds of fixture.h, the images keep their sizes, and the registers stay consistent
 * (PxCI and PxSACT only on implemented ports, CR only with ST, FR only with FRE).
 *
 * Input: one setup byte (bit 0 disk ro, bit 1 nodelete, bit 2 sectorsize=4096, bit 3 no FRE on
 * port 0), then operations (op byte, low 3 bits):
 *   0 RAM write       offset u16 (x16), length u8, bytes
 *   1 register write  target u8 (bits 0-1 port 0-2 or 3 = HBA), offset u8, value u32
 *   2 command         port u8, slot u8, command u8 (index into a list, or raw), lba u32,
 *                     count u16, features u8, prd count u8 (op bit 3: u16), then per PRD
 *                     (at most 4 described): mode u8 (bit 0 raw u64 address), address, length
 *                     u16 (mode bit 1: u32); for a CD port a packet: template u8 + 2 bytes
 *   3 issue           port u8, slots u32 (op bit 3: also into PxSACT)
 *   4 loop pass       (op bit 3: run the loop for 2 ms)
 *   5 reset           port u8, kind u8: ST off/on, COMRESET, HBA reset, FRE off/on
 *   6 register read   target u8, offset u8
 *   7 config write    offset u8 (0x04 command or the capability area), size u8, value u32 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ahci/ahci.h"
#include "core/byteorder.h"
#include "core/vm.h"
#include "fixture.h"
#include "pci/pci.h"

#define RAM_SIZE (1u << 20)
#define DISK_SIZE (64u * 1024)
#define CD_SIZE (32u * 2048)
#define SLOT 4
#define NPORTS 3
#define MAX_OPS 256
#define CLB_GPA(p) (0x1000ULL * (p))
#define FB_GPA(p) (0x4000ULL + 0x100ULL * (p))
#define CT_GPA(p, s) (0x10000ULL + 0x8000ULL * (p) + 0x400ULL * (s))
#define DATA_GPA 0x40000ULL
#define DATA_SIZE (RAM_SIZE - DATA_GPA)

static const uint8_t commands[] = {
    ATA_IDENTIFY,
    ATA_IDENTIFY_PACKET,
    ATA_READ_DMA,
    ATA_READ_DMA_EXT,
    ATA_WRITE_DMA,
    ATA_WRITE_DMA_EXT,
    ATA_READ_SECTORS,
    ATA_WRITE_SECTORS_EXT,
    ATA_READ_MULTIPLE,
    ATA_WRITE_MULTIPLE_EXT,
    ATA_SET_MULTIPLE,
    ATA_READ_FPDMA_QUEUED,
    ATA_WRITE_FPDMA_QUEUED,
    ATA_FLUSH_CACHE_EXT,
    ATA_DSM,
    ATA_READ_LOG_EXT,
    ATA_READ_LOG_DMA_EXT,
    ATA_SET_FEATURES,
    ATA_CHECK_POWER_MODE,
    ATA_READ_VERIFY_EXT,
    ATA_PACKET,
    ATA_PACKET,
    ATA_PACKET,
    ATA_SMART,
};

/* ATAPI packets: opcode and the byte the template's two input bytes go to */
static const uint8_t packets[][2] = {
    {0x00, 0}, {0x03, 4}, {0x12, 4}, {0x25, 0}, {0x28, 5}, {0xa8, 5}, {0x1a, 2},
    {0x5a, 2}, {0x43, 6}, {0x46, 2}, {0x4a, 4}, {0x51, 7}, {0xbe, 5}, {0x1b, 4},
};

static char disk_path[96], cd_path[96];

static void make_file(char *path, size_t len, const char *name, uint64_t size)
{
	snprintf(path, len, "%s/%s", fuzz_tmpdir(), name);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	FUZZ_CHECK(fd >= 0, "create %s", path);
	FUZZ_CHECK(ftruncate(fd, (off_t)size) == 0, "truncate");
	close(fd);
}

static void unlink_files(void)
{
	if (disk_path[0])
		unlink(disk_path);
	if (cd_path[0])
		unlink(cd_path);
}

struct drv {
	struct vm *vm;
	uint64_t abar;
};

static void wr(struct drv *d, uint64_t off, uint32_t v)
{
	fuzz_guest_access(d->vm, IOBUS_MMIO, d->abar + off, 4, true, v);
}

static uint32_t rd(struct drv *d, uint64_t off)
{
	return (uint32_t)fuzz_guest_access(d->vm, IOBUS_MMIO, d->abar + off, 4, false, 0);
}

static uint64_t preg(unsigned port, unsigned reg)
{
	return AHCI_PORT_BASE + (uint64_t)port * AHCI_PORT_STEP + reg;
}

static uint8_t *ram(struct drv *d, uint64_t gpa)
{
	return d->vm->mem.host + gpa;
}

static void port_start(struct drv *d, unsigned p, bool fre)
{
	wr(d, preg(p, AHCI_P_CMD), 0);
	wr(d, preg(p, AHCI_P_CLB), (uint32_t)CLB_GPA(p));
	wr(d, preg(p, AHCI_P_CLBU), 0);
	wr(d, preg(p, AHCI_P_FB), (uint32_t)FB_GPA(p));
	wr(d, preg(p, AHCI_P_FBU), 0);
	wr(d, preg(p, AHCI_P_IS), ~0u);
	wr(d, preg(p, AHCI_P_IE), AHCI_P_IE_MASK);
	uint32_t f = fre ? AHCI_P_CMD_FRE : 0;
	wr(d, preg(p, AHCI_P_CMD), f);
	wr(d, preg(p, AHCI_P_CMD), f | AHCI_P_CMD_ST);
}

static void driver_start(struct drv *d, bool fre0)
{
	wr(d, AHCI_GHC, AHCI_GHC_HR);
	wr(d, AHCI_GHC, AHCI_GHC_IE);
	for (unsigned p = 0; p < NPORTS; p++)
		port_start(d, p, p != 0 || fre0);
}

static void build_command(struct drv *d, uint8_t op, struct fuzz_input *in)
{
	unsigned port = in_u8(in) % NPORTS, slot = in_u8(in) % AHCI_SLOTS;
	uint8_t ci = in_u8(in);
	uint8_t cmd = ci < 2 * sizeof(commands) ? commands[ci % sizeof(commands)] : in_u8(in);
	uint32_t lba = in_u32(in);
	uint16_t count = in_u16(in);
	uint8_t features = in_u8(in);
	unsigned nprd = (op & 8) ? in_u16(in) : in_u8(in) % 9;
	uint8_t *t = ram(d, CT_GPA(port, slot));
	memset(t, 0, 0x80);
	t[0] = FIS_H2D;
	t[1] = (op & 0x10) ? 0 : FIS_H2D_C; /* sometimes a control FIS */
	t[2] = cmd;
	t[3] = features;
	t[4] = (uint8_t)lba;
	t[5] = (uint8_t)(lba >> 8);
	t[6] = (uint8_t)(lba >> 16);
	t[7] = 0x40;
	t[8] = (uint8_t)(lba >> 24);
	t[12] = (uint8_t)count;
	t[13] = (uint8_t)(count >> 8);
	t[15] = (op & 0x20) ? ATA_CTL_SRST : 0;
	if (cmd == ATA_READ_FPDMA_QUEUED || cmd == ATA_WRITE_FPDMA_QUEUED) {
		t[3] = (uint8_t)count;
		t[11] = (uint8_t)(count >> 8);
		t[12] = (uint8_t)(slot << 3);
	}
	if (cmd == ATA_PACKET) {
		uint8_t k = in_u8(in);
		const uint8_t *tp = packets[k % (sizeof(packets) / sizeof(packets[0]))];
		t[0x40] = tp[0];
		uint8_t a = in_u8(in), b = in_u8(in);
		if (tp[1])
			t[0x40 + tp[1]] = a;
		t[0x40 + 8] = b;
		t[0x40 + 4] = (uint8_t)(t[0x40 + 4] | (k >= 128 ? a : 0));
	}
	/* PRDs: up to 4 described by the input, the rest repeat the last one */
	uint64_t prdt = CT_GPA(port, slot) + AHCI_CT_PRDT;
	uint64_t addr = DATA_GPA;
	uint32_t len = 512;
	unsigned fit = (unsigned)((RAM_SIZE - prdt) / AHCI_PRD_SIZE);
	for (unsigned i = 0; i < nprd && i < fit && i < 64; i++) {
		if (i < 4) {
			uint8_t mode = in_u8(in);
			addr = (mode & 1) ? in_u64(in) : DATA_GPA + (uint64_t)in_u16(in) * 16;
			len = (mode & 2) ? in_u32(in) % (4u << 20) + 1 : (uint32_t)in_u16(in) + 1;
		}
		uint8_t *e = ram(d, prdt + (uint64_t)i * AHCI_PRD_SIZE);
		put_le64(e, addr);
		put_le32(e + 8, 0);
		put_le32(e + 12, (len - 1) & AHCI_PRD_DBC_MASK);
	}
	uint8_t *h = ram(d, CLB_GPA(port) + (uint64_t)slot * AHCI_CMDHDR_SIZE);
	uint32_t flags = 5 | (cmd == ATA_PACKET ? AHCI_CMDHDR_A : 0) | (uint32_t)nprd << 16;
	put_le32(h, flags);
	put_le32(h + 4, 0);
	put_le64(h + 8, CT_GPA(port, slot));
}

/* Register invariants the guest cannot break. */
static void check_regs(struct drv *d)
{
	uint32_t pi = rd(d, AHCI_PI);
	FUZZ_CHECK(pi == 7, "PI changed to %#x", pi);
	FUZZ_CHECK(rd(d, AHCI_GHC) & AHCI_GHC_AE, "GHC.AE clear");
	for (unsigned p = 0; p < 6; p++) {
		uint32_t cmd = rd(d, preg(p, AHCI_P_CMD));
		uint32_t ci = rd(d, preg(p, AHCI_P_CI)), sact = rd(d, preg(p, AHCI_P_SACT));
		if (p >= NPORTS)
			FUZZ_CHECK(ci == 0 && sact == 0, "port %u without a device has CI %#x", p,
				   ci);
		FUZZ_CHECK(!(cmd & AHCI_P_CMD_CR) || (cmd & AHCI_P_CMD_ST),
			   "port %u: CR without ST (%#x)", p, cmd);
		FUZZ_CHECK(!(cmd & AHCI_P_CMD_FR) == !(cmd & AHCI_P_CMD_FRE),
			   "port %u: FR does not follow FRE (%#x)", p, cmd);
		FUZZ_CHECK((cmd & AHCI_P_CMD_ST) || (ci == 0 && sact == 0),
			   "port %u: commands issued while stopped (CI %#x SACT %#x)", p, ci, sact);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool once;
	if (!once) {
		once = true;
		make_file(disk_path, sizeof(disk_path), "ahci-disk.img", DISK_SIZE);
		make_file(cd_path, sizeof(cd_path), "ahci-cd.iso", CD_SIZE);
		atexit(unlink_files);
	}
	fuzz_work_begin();
	struct fuzz_input in = {data, size};
	uint8_t setup = in_u8(&in);
	char p0[160], p1[160];
	snprintf(p0, sizeof(p0), "pci.0.4.0.port.0.path=%s", disk_path);
	snprintf(p1, sizeof(p1), "pci.0.4.0.port.1.path=%s", cd_path);
	const char *assign[12] = {"pci.0.4.0.device=ahci",
				  "pci.0.4.0.port.0.type=hd",
				  p0,
				  "pci.0.4.0.port.1.type=cd",
				  p1,
				  "pci.0.4.0.port.2.type=cd"};
	int na = 6;
	if (setup & 1)
		assign[na++] = "pci.0.4.0.port.0.ro=true";
	if (setup & 2)
		assign[na++] = "pci.0.4.0.port.0.nodelete=true";
	if (setup & 4)
		assign[na++] = "pci.0.4.0.port.0.sectorsize=4096";
	assign[na] = NULL;
	struct drv d = {0};
	d.vm = fuzz_vm_create_flags(assign, RAM_SIZE, false, FUZZ_VM_FAKE_KVM);
	fuzz_cfg_write(d.vm, SLOT, PCIR_COMMAND, 2, 0x6);
	d.abar = fuzz_cfg_read(d.vm, SLOT, PCIR_BAR0 + 4 * AHCI_BAR, 4) & ~0xfULL;
	driver_start(&d, !(setup & 8));

	for (int n = 0; n < MAX_OPS && in.left; n++) {
		uint8_t op = in_u8(&in);
		switch (op & 7) {
		case 0: {
			uint64_t off = (uint64_t)in_u16(&in) * 16;
			unsigned len = in_u8(&in);
			for (unsigned i = 0; i < len; i++) {
				uint8_t b = in_u8(&in);
				if (off + i < RAM_SIZE)
					*ram(&d, off + i) = b;
			}
			break;
		}
		case 1: {
			uint8_t target = in_u8(&in);
			unsigned off = in_u8(&in) & 0x7c;
			uint32_t v = in_u32(&in);
			if ((target & 3) == 3) {
				if (off <= AHCI_BOHC)
					wr(&d, off, v);
			} else
				wr(&d, preg(target & 3, off), v);
			break;
		}
		case 2:
			build_command(&d, op, &in);
			break;
		case 3: {
			unsigned p = in_u8(&in) % NPORTS;
			uint32_t slots = in_u32(&in);
			if (op & 8)
				wr(&d, preg(p, AHCI_P_SACT), slots);
			wr(&d, preg(p, AHCI_P_CI), slots);
			break;
		}
		case 4:
			if (op & 8)
				fuzz_loop_run_ms(d.vm, 2);
			else
				fuzz_loop_pass(d.vm);
			break;
		case 5: {
			unsigned p = in_u8(&in) % NPORTS;
			switch (in_u8(&in) % 4) {
			case 0:
				port_start(&d, p, true);
				break;
			case 1:
				wr(&d, preg(p, AHCI_P_CMD), AHCI_P_CMD_FRE);
				wr(&d, preg(p, AHCI_P_SCTL), AHCI_SCTL_DET_COMRESET);
				wr(&d, preg(p, AHCI_P_SCTL), 0);
				break;
			case 2:
				driver_start(&d, true);
				break;
			case 3:
				wr(&d, preg(p, AHCI_P_CMD), 0);
				break;
			}
			break;
		}
		case 6: {
			uint8_t target = in_u8(&in);
			unsigned off = in_u8(&in);
			fuzz_guest_access(d.vm, IOBUS_MMIO,
					  d.abar +
					      ((target & 3) == 3 ? off : preg(target & 7, off)),
					  1u << (op >> 4 & 3), false, 0);
			break;
		}
		case 7: {
			unsigned off = in_u8(&in);
			unsigned sz = 1u << (in_u8(&in) % 3);
			uint32_t v = in_u32(&in);
			if (off < 0x40 && off != PCIR_COMMAND)
				break; /* BARs stay where the driver put them */
			fuzz_cfg_write(d.vm, SLOT, off & ~(sz - 1), sz, v);
			break;
		}
		}
	}
	fuzz_loop_pass(d.vm);
	fuzz_cfg_write(d.vm, SLOT, PCIR_COMMAND, 2, 0x6);
	check_regs(&d);
	fuzz_work_check();
	fuzz_vm_destroy(d.vm); /* waits for the backends' in-flight I/O */
	fuzz_work_end();
	struct stat st;
	FUZZ_CHECK(stat(disk_path, &st) == 0 && st.st_size == DISK_SIZE,
		   "the disk image changed size to %lld", (long long)st.st_size);
	FUZZ_CHECK(stat(cd_path, &st) == 0 && st.st_size == CD_SIZE && st.st_blocks == 0,
		   "the CD image changed: size %lld, %lld blocks", (long long)st.st_size,
		   (long long)st.st_blocks);
	return 0;
}
