/* SPDX-License-Identifier: BSD-2-Clause */
/* libFuzzer target for the NVMe controller: a VM without KVM (the stand-in KVM descriptor, so
 * MSI-X routes are made as under KVM) with one `nvme` at 0:4.0 (maxq=2, qsz=64, ioslots=4) on a
 * small image, in 1 MiB of guest RAM between guard pages. A driver enables the controller and
 * creates two I/O queue pairs as Linux does, then the input drives everything a guest controls:
 * raw RAM (queue entries, PRP lists, DSM ranges), any register or doorbell write, commands on
 * any queue with any opcode, PRPs inside or outside RAM, CQ consumption, resets with I/O in
 * flight, config-space writes (MSI-X, Bus Master Enable) and event-loop passes that deliver
 * backend completions and run the continuation timer.
 *
 * Checked: ASan/UBSan (the guard pages fault on any access outside guest RAM), the work bounds
 * of fixture.h (a doorbell cannot hold the VMM), the image keeps its size, CSTS.SHST is 0 or
 * complete.
 *
 * Input: one setup byte (bit 0 ro, bit 1 nodelete, bit 2 sectsz=4096, bit 3 dsm=enable), then
 * operations (op byte, low 3 bits):
 *   0 RAM write       offset u16 (x16), length u8, bytes
 *   1 register write  offset u16 (BAR 0, dword aligned), value u32 (op bit 3: 8 bytes, u64)
 *   2 command         queue u8 (mod 3), opcode u8 (index into a list, or raw), nsid u8
 *                     (0: 1, 1: raw u32, else as is), cdw10 u32, cdw11 u32, cdw12 u32,
 *                     prp mode u8 (bit 0: raw u64 PRP1, bit 1: raw u64 PRP2, else u16 x 4 in the
 *                     data area); op bit 3: do not ring the doorbell
 *   3 doorbell / reap op bit 3: reap queue u8 (mod 3); else a raw doorbell index u8, value u16
 *   4 loop pass       (op bit 3: run the loop for 2 ms)
 *   5 reset           kind u8: disable, enable, shutdown, driver restart, bus master off/on
 *   6 register read   offset u16, size (op bits 4-5)
 *   7 config write    offset u8 (0x04 command or the capability area), size u8, value u32 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/byteorder.h"
#include "core/vm.h"
#include "fixture.h"
#include "nvme/nvme.h"
#include "pci/pci.h"

#define RAM_SIZE (1u << 20)
#define DISK_SIZE (64u * 1024)
#define SLOT 4
#define NQ 3
#define QSZ 16
#define MAX_OPS 256
#define SQ_GPA(q) (0x1000ULL + 0x2000ULL * (q))
#define CQ_GPA(q) (0x2000ULL + 0x2000ULL * (q))
#define DATA_GPA 0x10000ULL

static const uint8_t opcodes[] = {
    NVME_CMD_READ,	  NVME_CMD_WRITE,	 NVME_CMD_FLUSH,	NVME_CMD_DSM,
    NVME_ADM_IDENTIFY,	  NVME_ADM_GET_LOG_PAGE, NVME_ADM_SET_FEATURES, NVME_ADM_GET_FEATURES,
    NVME_ADM_CREATE_CQ,	  NVME_ADM_CREATE_SQ,	 NVME_ADM_DELETE_SQ,	NVME_ADM_DELETE_CQ,
    NVME_ADM_ASYNC_EVENT, NVME_ADM_ABORT,	 NVME_ADM_FORMAT_NVM,	NVME_ADM_FW_COMMIT,
};

static char disk_path[96];

struct drv {
	struct vm *vm;
	uint64_t bar;
	unsigned tail[NQ], head[NQ];
	bool phase[NQ];
	uint16_t cid;
};

static void unlink_file(void)
{
	if (disk_path[0])
		unlink(disk_path);
}

static void wr(struct drv *d, uint64_t off, uint32_t v)
{
	fuzz_guest_access(d->vm, IOBUS_MMIO, d->bar + off, 4, true, v);
}

static uint32_t rd(struct drv *d, uint64_t off)
{
	return (uint32_t)fuzz_guest_access(d->vm, IOBUS_MMIO, d->bar + off, 4, false, 0);
}

static uint8_t *ram(struct drv *d, uint64_t gpa)
{
	return d->vm->mem.host + gpa;
}

static void put_cmd(struct drv *d, unsigned q, uint8_t opc, uint32_t nsid, uint64_t prp1,
		    uint64_t prp2, uint32_t c10, uint32_t c11, uint32_t c12)
{
	uint8_t *p = ram(d, SQ_GPA(q) + 64ULL * d->tail[q]);
	memset(p, 0, 64);
	put_le32(p, opc | (uint32_t)++d->cid << 16);
	put_le32(p + 4, nsid);
	put_le64(p + 24, prp1);
	put_le64(p + 32, prp2);
	put_le32(p + 40, c10);
	put_le32(p + 44, c11);
	put_le32(p + 48, c12);
	d->tail[q] = (d->tail[q] + 1) % QSZ;
}

static void ring(struct drv *d, unsigned q)
{
	wr(d, NVME_REG_DBS + 8ULL * q, d->tail[q]);
}

/* Consume what the controller posted on CQ q and move its head doorbell. */
static void reap(struct drv *d, unsigned q)
{
	unsigned n = 0;
	while (n < QSZ) {
		uint32_t dw3 = le32_at(ram(d, CQ_GPA(q) + 16ULL * d->head[q] + 12));
		if (((dw3 >> 16) & 1) != d->phase[q])
			break;
		if (++d->head[q] == QSZ) {
			d->head[q] = 0;
			d->phase[q] = !d->phase[q];
		}
		n++;
	}
	if (n)
		wr(d, NVME_REG_DBS + 8ULL * q + 4, d->head[q]);
}

/* As Linux: disable, admin queue, enable, two I/O queue pairs. */
static void driver_start(struct drv *d)
{
	wr(d, NVME_REG_CC, 0);
	memset(d->tail, 0, sizeof(d->tail));
	memset(d->head, 0, sizeof(d->head));
	for (unsigned q = 0; q < NQ; q++) {
		d->phase[q] = true;
		memset(ram(d, CQ_GPA(q)), 0, QSZ * 16);
	}
	wr(d, NVME_REG_AQA, (QSZ - 1) << 16 | (QSZ - 1));
	wr(d, NVME_REG_ASQ, (uint32_t)SQ_GPA(0));
	wr(d, NVME_REG_ASQ + 4, 0);
	wr(d, NVME_REG_ACQ, (uint32_t)CQ_GPA(0));
	wr(d, NVME_REG_ACQ + 4, 0);
	wr(d, NVME_REG_CC, NVME_CC_EN | 6u << 16 | 4u << 20);
	for (unsigned q = 1; q < NQ; q++) {
		put_cmd(d, 0, NVME_ADM_CREATE_CQ, 0, CQ_GPA(q), 0, (QSZ - 1) << 16 | q, q << 16 | 3,
			0);
		put_cmd(d, 0, NVME_ADM_CREATE_SQ, 0, SQ_GPA(q), 0, (QSZ - 1) << 16 | q, q << 16 | 1,
			0);
	}
	ring(d, 0);
	reap(d, 0);
}

static void command(struct drv *d, uint8_t op, struct fuzz_input *in)
{
	unsigned q = in_u8(in) % NQ;
	uint8_t oi = in_u8(in);
	uint8_t opc = oi < 2 * sizeof(opcodes) ? opcodes[oi % sizeof(opcodes)] : in_u8(in);
	uint8_t nm = in_u8(in);
	uint32_t nsid = nm == 0 ? 1 : nm == 1 ? in_u32(in) : nm;
	uint32_t c10 = in_u32(in), c11 = in_u32(in), c12 = in_u32(in);
	uint8_t pm = in_u8(in);
	uint64_t prp1 = (pm & 1) ? in_u64(in) : DATA_GPA + (uint64_t)in_u16(in) * 4;
	uint64_t prp2 = (pm & 2) ? in_u64(in) : DATA_GPA + (uint64_t)in_u16(in) * 4;
	put_cmd(d, q, opc, nsid, prp1, prp2, c10, c11, c12);
	if (!(op & 8))
		ring(d, q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool once;
	if (!once) {
		once = true;
		snprintf(disk_path, sizeof(disk_path), "%s/nvme-disk.img", fuzz_tmpdir());
		int fd = open(disk_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		FUZZ_CHECK(fd >= 0, "create %s", disk_path);
		FUZZ_CHECK(ftruncate(fd, DISK_SIZE) == 0, "truncate");
		close(fd);
		atexit(unlink_file);
	}
	fuzz_work_begin();
	struct fuzz_input in = {data, size};
	uint8_t setup = in_u8(&in);
	char p0[160];
	snprintf(p0, sizeof(p0), "pci.0.4.0.path=%s", disk_path);
	const char *assign[12] = {"pci.0.4.0.device=nvme", p0, "pci.0.4.0.maxq=2",
				  "pci.0.4.0.qsz=64", "pci.0.4.0.ioslots=4"};
	int na = 5;
	if (setup & 1)
		assign[na++] = "pci.0.4.0.ro=true";
	if (setup & 2)
		assign[na++] = "pci.0.4.0.nodelete=true";
	if (setup & 4)
		assign[na++] = "pci.0.4.0.sectsz=4096";
	if (setup & 8)
		assign[na++] = "pci.0.4.0.dsm=enable";
	assign[na] = NULL;
	struct drv d = {0};
	d.vm = fuzz_vm_create_flags(assign, RAM_SIZE, false, FUZZ_VM_FAKE_KVM);
	fuzz_cfg_write(d.vm, SLOT, PCIR_COMMAND, 2, 0x6);
	d.bar = (fuzz_cfg_read(d.vm, SLOT, PCIR_BAR0, 4) & ~0xfULL) |
		(uint64_t)fuzz_cfg_read(d.vm, SLOT, PCIR_BAR0 + 4, 4) << 32;
	driver_start(&d);

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
			uint64_t off = in_u16(&in) % (NVME_REG_DBS + 8 * 4) & ~3u;
			if (op & 8)
				fuzz_guest_access(d.vm, IOBUS_MMIO, d.bar + (off & ~7ull), 8, true,
						  in_u64(&in));
			else
				wr(&d, off, in_u32(&in));
			break;
		}
		case 2:
			command(&d, op, &in);
			break;
		case 3:
			if (op & 8) {
				reap(&d, in_u8(&in) % NQ);
			} else {
				unsigned idx = in_u8(&in) % 16;
				wr(&d, NVME_REG_DBS + 4ULL * idx, in_u16(&in));
			}
			break;
		case 4:
			if (op & 8)
				fuzz_loop_run_ms(d.vm, 2);
			else
				fuzz_loop_pass(d.vm);
			break;
		case 5:
			switch (in_u8(&in) % 6) {
			case 0:
				wr(&d, NVME_REG_CC, 0);
				break;
			case 1:
				wr(&d, NVME_REG_CC, rd(&d, NVME_REG_CC) | NVME_CC_EN);
				break;
			case 2:
				wr(&d, NVME_REG_CC, rd(&d, NVME_REG_CC) | 1u << 14);
				break;
			case 3:
				driver_start(&d);
				break;
			case 4:
				fuzz_cfg_write(d.vm, SLOT, PCIR_COMMAND, 2, 0x2);
				break;
			case 5:
				fuzz_cfg_write(d.vm, SLOT, PCIR_COMMAND, 2, 0x6);
				break;
			}
			break;
		case 6: {
			unsigned off = in_u16(&in) % 0x2000;
			unsigned sz = 1u << (op >> 4 & 3);
			fuzz_guest_access(d.vm, IOBUS_MMIO, d.bar + (off & ~(sz - 1)), sz, false,
					  0);
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
	uint32_t csts = rd(&d, NVME_REG_CSTS);
	FUZZ_CHECK((csts & NVME_CSTS_SHST_MASK) == 0 ||
		       (csts & NVME_CSTS_SHST_MASK) == NVME_CSTS_SHST_DONE,
		   "CSTS %#x", csts);
	FUZZ_CHECK(rd(&d, NVME_REG_VS) == NVME_VERSION, "VS changed");
	fuzz_work_check();
	fuzz_vm_destroy(d.vm); /* waits for the backend's in-flight I/O */
	fuzz_work_end();
	struct stat st;
	FUZZ_CHECK(stat(disk_path, &st) == 0 && st.st_size == DISK_SIZE,
		   "the disk image changed size to %lld", (long long)st.st_size);
	return 0;
}
