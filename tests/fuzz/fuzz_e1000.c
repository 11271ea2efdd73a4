/* SPDX-License-Identifier: BSD-2-Clause */
/* libFuzzer target for the e1000 (82545EM) NIC: a VM without KVM with one e1000 at 0:3.0 whose
 * backend is one end of a socket pair (fd:N: plain frames), 1 MiB of guest RAM between guard
 * pages. A driver sets up both rings as Linux's e1000 does (RAL, TX ring at 0x1000, RX ring at
 * 0x3000 with buffers in the data area, RCTL/TCTL enabled, IMS), then the input drives what a
 * guest controls: any register write or read (BAR 0 and the I/O BAR's IOADDR/IODATA), raw RAM,
 * raw transmit descriptors, TDT/RDT doorbells, offload packets built from a context and a data
 * descriptor (checksum or TSO with any MSS and header length), EEPROM bit-banging, MDIC,
 * config-space writes (Bus Master Enable, INTx Disable), device resets, ITR/ICS, and frames of
 * any size arriving from the far end, with event-loop passes between them.
 *
 * Checked: ASan/UBSan (guard pages around RAM), the work bounds of fixture.h, and the device
 * state: INTx asserted only while ICR & IMS is non-zero, the assembled packet and a held frame
 * within their buffers, frames on the wire no longer than the largest packet plus a VLAN tag.
 *
 * Input: a setup byte (bit 0 datagram socket, else seqpacket; bits 1-3 ring size 8 << n
 * descriptors, at most 256; bit 4 RCTL.SECRC; bit 5 LPE with 4 KiB buffers; bit 6 RXCSUM
 * offloads; bit 7 CTRL.VME), then operations (op byte, low 4 bits):
 *   0 register write  offset u16 (x4, within 128 KiB), value u32
 *   1 register read   offset u16 (x4)
 *   2 RAM write       offset u16 (x16), length u8, bytes
 *   3 TX descriptor   index u8, 16 bytes (op bit 4: the address points into the data area)
 *   4 TDT             u8 (op bit 4: raw u16)
 *   5 RDT             u8 (op bit 4: raw u16)
 *   6 frame           length u16 (op bit 4: + 60000), fill u8; op bit 5: to our MAC, op bit 6:
 *                     an IPv4/TCP header
 *   7 loop pass       (op bit 4: run the loop for 1 ms: ITR timers)
 *   8 EECD            count u8 (at most 64), then that many EECD values u8
 *   9 I/O BAR         IOADDR u32, then IODATA: op bit 4 write u32, else read
 *  10 MDIC            u32
 *  11 config command  u16
 *  12 offload packet  tucmd u8, popts u8, hdrlen u8, mss u16, payload u16, ipcss u8, tucss u8
 *  13 CTRL.RST        then the driver's setup again (op bit 4: without it)
 *  14 ITR/ICS         ITR u16, ICS u32
 *  15 RX ring         RDLEN u16 (x16), RDH u8, BSIZE/BSEX bits u8 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/byteorder.h"
#include "core/vm.h"
#include "e1000/e1000.h"
#include "fixture.h"
#include "pci/pci.h"

#define RAM_SIZE (1u << 20)
#define SLOT 3
#define TX_RING 0x1000u
#define RX_RING 0x3000u
#define DATA_GPA 0x8000u
#define RX_BUFS 0x20000u
#define MAX_OPS 256

static const uint8_t MAC[6] = {0x58, 0x9c, 0xfc, 0x00, 0x00, 0x01};

struct drv {
	struct vm *vm;
	uint64_t bar0, bar2;
	unsigned ndesc, txt, rxt;
	uint8_t setup;
	int peer;
};

static void wr(struct drv *d, uint32_t off, uint32_t v)
{
	fuzz_guest_access(d->vm, IOBUS_MMIO, d->bar0 + off, 4, true, v);
}

static uint32_t rd(struct drv *d, uint32_t off)
{
	return (uint32_t)fuzz_guest_access(d->vm, IOBUS_MMIO, d->bar0 + off, 4, false, 0);
}

static uint8_t *ram(struct drv *d, uint64_t gpa)
{
	return d->vm->mem.host + gpa;
}

static struct e1000 *dev(struct drv *d)
{
	struct pci_dev *pd = pci_find_dev(d->vm, 0, SLOT, 0);
	FUZZ_CHECK(pd && pd->priv, "no e1000 at 0:%d.0", SLOT);
	return pd->priv;
}

/* The driver's bring-up (Linux e1000_configure_tx/rx, simplified). */
static void driver_start(struct drv *d)
{
	wr(d, E1000_RA, (uint32_t)MAC[0] | MAC[1] << 8 | MAC[2] << 16 | (uint32_t)MAC[3] << 24);
	wr(d, E1000_RA + 4, MAC[4] | MAC[5] << 8 | E1000_RAH_AV);
	memset(ram(d, TX_RING), 0, d->ndesc * 16);
	wr(d, E1000_TDBAL, TX_RING);
	wr(d, E1000_TDBAH, 0);
	wr(d, E1000_TDLEN, d->ndesc * 16);
	wr(d, E1000_TDH, 0);
	wr(d, E1000_TDT, 0);
	d->txt = 0;
	wr(d, E1000_TCTL, E1000_TCTL_EN | E1000_TCTL_PSP);
	for (unsigned i = 0; i < d->ndesc; i++) {
		uint64_t a = RX_BUFS + (uint64_t)(i % 64) * 4096;
		memset(ram(d, RX_RING + 16 * i), 0, 16);
		memcpy(ram(d, RX_RING + 16 * i), &a, 8);
	}
	wr(d, E1000_RDBAL, RX_RING);
	wr(d, E1000_RDBAH, 0);
	wr(d, E1000_RDLEN, d->ndesc * 16);
	wr(d, E1000_RDH, 0);
	d->rxt = d->ndesc - 1;
	wr(d, E1000_RDT, d->rxt);
	if (d->setup & 0x40)
		wr(d, E1000_RXCSUM, E1000_RXCSUM_IPOFL | E1000_RXCSUM_TUOFL);
	if (d->setup & 0x80)
		wr(d, E1000_CTRL, rd(d, E1000_CTRL) | E1000_CTRL_VME);
	uint32_t rctl = E1000_RCTL_EN | E1000_RCTL_BAM;
	if (d->setup & 0x10)
		rctl |= E1000_RCTL_SECRC;
	if (d->setup & 0x20) /* 4 KiB buffers */
		rctl |= E1000_RCTL_LPE | E1000_RCTL_BSEX | 3u << E1000_RCTL_BSIZE_SHIFT;
	wr(d, E1000_RCTL, rctl);
	wr(d, E1000_IMS, E1000_ICR_TXDW | E1000_ICR_RXT0 | E1000_ICR_RXDMT0 | E1000_ICR_LSC);
}

static void send_frame(struct drv *d, uint8_t op, struct fuzz_input *in)
{
	static uint8_t frame[70 * 1024];
	size_t len = in_u16(in);
	if (op & 0x10)
		len += 60000;
	if (len > sizeof(frame))
		len = sizeof(frame);
	memset(frame, in_u8(in), len);
	if ((op & 0x20) && len >= 6)
		memcpy(frame, MAC, 6);
	if ((op & 0x40) && len >= 54) {
		frame[12] = 0x08;
		frame[13] = 0x00;
		frame[14] = 0x45;
		frame[16] = (uint8_t)((len - 14) >> 8);
		frame[17] = (uint8_t)(len - 14);
		frame[20] = frame[21] = 0;
		frame[23] = 6;
	}
	ssize_t r = send(d->peer, frame, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)r; /* a full socket just loses the frame */
}

static void drain_peer(struct drv *d)
{
	static uint8_t buf[72 * 1024];
	ssize_t n;
	while ((n = recv(d->peer, buf, sizeof(buf), MSG_DONTWAIT)) >= 0)
		FUZZ_CHECK((size_t)n <= E1000_TX_MAX + 4, "a %zd-byte frame on the wire", n);
}

/* A context descriptor and one data descriptor holding a packet of the data area. */
static void offload_packet(struct drv *d, struct fuzz_input *in)
{
	uint8_t tucmd = in_u8(in), popts = in_u8(in), hdrlen = in_u8(in);
	uint16_t mss = in_u16(in), paylen = in_u16(in);
	uint8_t ipcss = in_u8(in), tucss = in_u8(in);
	uint32_t len = (uint32_t)hdrlen + paylen;
	if (len > RAM_SIZE - DATA_GPA)
		len = RAM_SIZE - DATA_GPA;
	uint8_t *c = ram(d, TX_RING + 16 * (d->txt % d->ndesc));
	memset(c, 0, 16);
	c[0] = ipcss;
	c[1] = (uint8_t)(ipcss + 10);
	c[2] = (uint8_t)(tucss - 1);
	c[4] = tucss;
	c[5] = (uint8_t)(tucss + 16);
	uint32_t w = paylen;
	memcpy(c + 8, &w, 4);
	c[11] = tucmd | E1000_TXD_CMD_DEXT;
	c[13] = hdrlen;
	memcpy(c + 14, &mss, 2);
	d->txt = (d->txt + 1) % d->ndesc;
	uint8_t *p = ram(d, TX_RING + 16 * (d->txt % d->ndesc));
	uint64_t a = DATA_GPA;
	memcpy(p, &a, 8);
	w = len | (uint32_t)E1000_TXD_DTYP_D << 20;
	memcpy(p + 8, &w, 4);
	p[11] = (uint8_t)(E1000_TXD_CMD_DEXT | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS |
			  (tucmd & E1000_TXD_CMD_TSE));
	p[12] = 0;
	p[13] = popts;
	d->txt = (d->txt + 1) % d->ndesc;
	wr(d, E1000_TDT, d->txt);
}

static void check(struct drv *d)
{
	struct e1000 *e = dev(d);
	FUZZ_CHECK(!e->intx || (e->icr & e->ims), "INTx asserted with ICR %#x IMS %#x", e->icr,
		   e->ims);
	FUZZ_CHECK(e->pkt_len <= E1000_TX_MAX, "a %zu-byte packet assembled", e->pkt_len);
	FUZZ_CHECK(!e->held || e->rx_len <= E1000_RX_MAX, "a %zu-byte frame held", e->rx_len);
	FUZZ_CHECK(e->tdh <= 0xffff && e->rdh <= 0xffff, "TDH %u RDH %u", e->tdh, e->rdh);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_work_begin();
	struct fuzz_input in = {data, size};
	struct drv d = {0};
	d.setup = in_u8(&in);
	unsigned shift = (d.setup >> 1) & 7;
	d.ndesc = 8u << (shift > 5 ? 5 : shift);
	int sv[2];
	FUZZ_CHECK(socketpair(AF_UNIX, ((d.setup & 1) ? SOCK_DGRAM : SOCK_SEQPACKET) | SOCK_CLOEXEC,
			      0, sv) == 0,
		   "socketpair: %s", strerror(errno));
	char backend[48];
	snprintf(backend, sizeof(backend), "pci.0.3.0.backend=fd:%d", sv[0]);
	const char *assign[] = {"name=fuzz", "pci.0.3.0.device=e1000", backend,
				"pci.0.3.0.mac=58:9c:fc:00:00:01", NULL};
	d.peer = sv[1];
	d.vm = fuzz_vm_create(assign, RAM_SIZE, false); /* adopts sv[0] */
	fuzz_cfg_write(d.vm, SLOT, PCIR_COMMAND, 2, 0x7);
	d.bar0 = fuzz_cfg_read(d.vm, SLOT, PCIR_BAR0, 4) & ~0xfULL;
	d.bar2 = fuzz_cfg_read(d.vm, SLOT, PCIR_BAR0 + 8, 4) & ~0x3ULL;
	driver_start(&d);

	for (int n = 0; n < MAX_OPS && in.left; n++) {
		uint8_t op = in_u8(&in);
		switch (op & 15) {
		case 0: {
			uint32_t off = (uint32_t)in_u16(&in) * 4 % E1000_REGS_SIZE;
			wr(&d, off, in_u32(&in));
			break;
		}
		case 1:
			rd(&d, (uint32_t)in_u16(&in) * 4 % E1000_REGS_SIZE);
			break;
		case 2: {
			uint64_t off = (uint64_t)in_u16(&in) * 16;
			unsigned len = in_u8(&in);
			for (unsigned i = 0; i < len && off + i < RAM_SIZE; i++)
				*ram(&d, off + i) = in_u8(&in);
			break;
		}
		case 3: {
			unsigned idx = in_u8(&in) % d.ndesc;
			uint8_t *p = ram(&d, TX_RING + 16 * idx);
			for (int i = 0; i < 16; i++)
				p[i] = in_u8(&in);
			if (op & 0x10) {
				uint64_t a = DATA_GPA + (uint64_t)le16_at(p) * 8;
				memcpy(p, &a, 8);
			}
			break;
		}
		case 4:
			d.txt = (op & 0x10) ? in_u16(&in) : in_u8(&in) % d.ndesc;
			wr(&d, E1000_TDT, d.txt);
			break;
		case 5:
			d.rxt = (op & 0x10) ? in_u16(&in) : in_u8(&in) % d.ndesc;
			wr(&d, E1000_RDT, d.rxt);
			break;
		case 6:
			send_frame(&d, op, &in);
			break;
		case 7:
			if (op & 0x10)
				fuzz_loop_run_ms(d.vm, 1);
			else
				fuzz_loop_pass(d.vm);
			drain_peer(&d);
			break;
		case 8: {
			unsigned cnt = in_u8(&in) % 65;
			for (unsigned i = 0; i < cnt; i++)
				wr(&d, E1000_EECD, in_u8(&in));
			break;
		}
		case 9:
			fuzz_guest_access(d.vm, IOBUS_PIO, d.bar2, 4, true, in_u32(&in));
			if (op & 0x10)
				fuzz_guest_access(d.vm, IOBUS_PIO, d.bar2 + 4, 4, true,
						  in_u32(&in));
			else
				fuzz_guest_access(d.vm, IOBUS_PIO, d.bar2 + 4, 4, false, 0);
			break;
		case 10:
			wr(&d, E1000_MDIC, in_u32(&in));
			break;
		case 11:
			fuzz_cfg_write(d.vm, SLOT, PCIR_COMMAND, 2, in_u16(&in) & 0x0407);
			break;
		case 12:
			offload_packet(&d, &in);
			break;
		case 13:
			wr(&d, E1000_CTRL, E1000_CTRL_RST);
			if (!(op & 0x10))
				driver_start(&d);
			break;
		case 14:
			wr(&d, E1000_ITR, in_u16(&in));
			wr(&d, E1000_ICS, in_u32(&in));
			break;
		case 15:
			wr(&d, E1000_RDLEN, (uint32_t)in_u16(&in) * 16);
			wr(&d, E1000_RDH, in_u8(&in));
			wr(&d, E1000_RCTL,
			   (rd(&d, E1000_RCTL) & ~(3u << 16 | E1000_RCTL_BSEX)) |
			       ((uint32_t)in_u8(&in) & 3) << 16 | E1000_RCTL_LPE);
			break;
		}
		check(&d);
		drain_peer(&d);
	}
	fuzz_loop_pass(d.vm);
	check(&d);
	fuzz_work_check();
	close(d.peer);
	fuzz_vm_destroy(d.vm);
	fuzz_work_end();
	return 0;
}
