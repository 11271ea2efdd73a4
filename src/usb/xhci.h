/* SPDX-License-Identifier: BSD-2-Clause */
/* xHCI 1.0 host controller (bhyve's `xhci`): register layout, TRB and context formats, the
 * controller state, and the interfaces between the parts of the model:
 *   xhci.c         the PCI function, registers, ports, the event ring and interrupts
 *   xhci_cmd.c     the command ring and its commands (slots, contexts, endpoints)
 *   xhci_xfer.c    transfer rings: control transfers on EP 0, interrupt and bulk endpoints
 *   xhci_config.c  the -s option string and the configuration (pci.B.S.F.slot.N.device)
 * Everything in guest memory (TRBs, contexts, the event ring segment table) is little-endian.
 * The controller state, and the state of its USB devices, is guarded by xhci.mtx; every function
 * declared here below the configuration section expects it held. */
#ifndef KB_XHCI_H
#define KB_XHCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/log.h"
#include "usb/usb_dev.h"

struct cfgnode;
struct vm;
struct pci_dev;

#define XHCI_MAX_SLOTS 64
#define XHCI_MAX_PORTS 8
#define XHCI_USB3_PORT1 1 /* ports 1-4: USB 3 */
#define XHCI_USB2_PORT1 5 /* ports 5-8: USB 2 */
#define XHCI_PORTS_PER_PROTO 4
#define XHCI_ERST_MAX 16 /* HCSPARAMS2.ERST Max = 4 */
#define XHCI_MAX_DEVS (2 * XHCI_PORTS_PER_PROTO)

/* Work bounds: TRBs read per command-ring doorbell, per transfer-ring doorbell or wakeup
 * (Link TRBs included), TRBs in one TD, bytes of one TD the device sees. */
#define XHCI_CMD_BUDGET 256
#define XHCI_XFER_BUDGET 256
#define XHCI_TD_MAX_TRBS 64
#define XHCI_XFER_MAX 16384

/* ---- BAR 0 layout ---- */
#define XHCI_BAR_SIZE 0x2000
#define XHCI_CAPLEN 0x20
#define XHCI_OP XHCI_CAPLEN
#define XHCI_PORTREGS (XHCI_OP + 0x400) /* 16 bytes per port */
#define XHCI_XECP 0x500			/* extended capabilities */
#define XHCI_DBOFF 0x800		/* doorbells: 4 bytes each, 0 = command ring */
#define XHCI_RTSOFF 0x1000		/* runtime registers */
#define XHCI_IR0 (XHCI_RTSOFF + 0x20)	/* interrupter 0 */

/* capability registers */
#define XHCI_CAP_CAPLENGTH 0x00
#define XHCI_CAP_HCSPARAMS1 0x04
#define XHCI_CAP_HCSPARAMS2 0x08
#define XHCI_CAP_HCSPARAMS3 0x0c
#define XHCI_CAP_HCCPARAMS1 0x10
#define XHCI_CAP_DBOFF 0x14
#define XHCI_CAP_RTSOFF 0x18
#define XHCI_CAP_HCCPARAMS2 0x1c
#define XHCI_HCIVERSION 0x0100

/* operational registers (offsets from XHCI_OP) */
#define XHCI_USBCMD 0x00
#define XHCI_USBSTS 0x04
#define XHCI_PAGESIZE 0x08
#define XHCI_DNCTRL 0x14
#define XHCI_CRCR 0x18
#define XHCI_DCBAAP 0x30
#define XHCI_CONFIG 0x38

#define XHCI_CMD_RS (1u << 0)
#define XHCI_CMD_HCRST (1u << 1)
#define XHCI_CMD_INTE (1u << 2)
#define XHCI_CMD_HSEE (1u << 3)
#define XHCI_CMD_LHCRST (1u << 7)
#define XHCI_CMD_CSS (1u << 8)
#define XHCI_CMD_CRS (1u << 9)
#define XHCI_CMD_EWE (1u << 10)
#define XHCI_CMD_EU3S (1u << 11)
#define XHCI_CMD_WMASK (XHCI_CMD_RS | XHCI_CMD_INTE | XHCI_CMD_HSEE | XHCI_CMD_EWE | XHCI_CMD_EU3S)

#define XHCI_STS_HCH (1u << 0)
#define XHCI_STS_HSE (1u << 2)
#define XHCI_STS_EINT (1u << 3)
#define XHCI_STS_PCD (1u << 4)
#define XHCI_STS_SSS (1u << 8)
#define XHCI_STS_RSS (1u << 9)
#define XHCI_STS_SRE (1u << 10)
#define XHCI_STS_CNR (1u << 11)
#define XHCI_STS_HCE (1u << 12)
#define XHCI_STS_W1C (XHCI_STS_HSE | XHCI_STS_EINT | XHCI_STS_PCD | XHCI_STS_SRE)

#define XHCI_CRCR_RCS (1ull << 0)
#define XHCI_CRCR_CS (1ull << 1)
#define XHCI_CRCR_CA (1ull << 2)
#define XHCI_CRCR_CRR (1ull << 3)

/* port register set (offsets from XHCI_PORTREGS + 16 * (port - 1)) */
#define XHCI_PORTSC 0x0
#define XHCI_PORTPMSC 0x4
#define XHCI_PORTLI 0x8
#define XHCI_PORTHLPMC 0xc

#define XHCI_PS_CCS (1u << 0)
#define XHCI_PS_PED (1u << 1)
#define XHCI_PS_OCA (1u << 3)
#define XHCI_PS_PR (1u << 4)
#define XHCI_PS_PLS_SHIFT 5
#define XHCI_PS_PLS_MASK (0xfu << XHCI_PS_PLS_SHIFT)
#define XHCI_PS_PP (1u << 9)
#define XHCI_PS_SPEED_SHIFT 10
#define XHCI_PS_SPEED_MASK (0xfu << XHCI_PS_SPEED_SHIFT)
#define XHCI_PS_PIC_MASK (3u << 14)
#define XHCI_PS_LWS (1u << 16)
#define XHCI_PS_CSC (1u << 17)
#define XHCI_PS_PEC (1u << 18)
#define XHCI_PS_WRC (1u << 19)
#define XHCI_PS_OCC (1u << 20)
#define XHCI_PS_PRC (1u << 21)
#define XHCI_PS_PLC (1u << 22)
#define XHCI_PS_CEC (1u << 23)
#define XHCI_PS_CAS (1u << 24)
#define XHCI_PS_WCE (1u << 25)
#define XHCI_PS_WDE (1u << 26)
#define XHCI_PS_WOE (1u << 27)
#define XHCI_PS_DR (1u << 30)
#define XHCI_PS_WPR (1u << 31)
#define XHCI_PS_CHANGES                                                                            \
	(XHCI_PS_CSC | XHCI_PS_PEC | XHCI_PS_WRC | XHCI_PS_OCC | XHCI_PS_PRC | XHCI_PS_PLC |       \
	 XHCI_PS_CEC)
#define XHCI_PS_WAKE (XHCI_PS_WCE | XHCI_PS_WDE | XHCI_PS_WOE)

/* link states */
#define XHCI_PLS_U0 0
#define XHCI_PLS_U3 3
#define XHCI_PLS_DISABLED 4
#define XHCI_PLS_RXDETECT 5
#define XHCI_PLS_POLLING 7
#define XHCI_PLS_RESUME 15

/* interrupter registers (offsets from XHCI_IR0) */
#define XHCI_IMAN 0x00
#define XHCI_IMOD 0x04
#define XHCI_ERSTSZ 0x08
#define XHCI_ERSTBA 0x10
#define XHCI_ERDP 0x18
#define XHCI_IMAN_IP (1u << 0)
#define XHCI_IMAN_IE (1u << 1)
#define XHCI_ERDP_EHB (1ull << 3)

/* ---- TRBs ---- */
#define XHCI_TRB_SIZE 16

#define TRB_C (1u << 0)
#define TRB_TC (1u << 1)  /* Link: toggle cycle */
#define TRB_ENT (1u << 1) /* transfer: evaluate next TRB */
#define TRB_ISP (1u << 2)
#define TRB_CH (1u << 4)
#define TRB_IOC (1u << 5)
#define TRB_IDT (1u << 6)
#define TRB_BSR (1u << 9) /* Address Device: block SET_ADDRESS request */
#define TRB_DC (1u << 9)  /* Configure Endpoint: deconfigure */
#define TRB_BEI (1u << 9) /* Normal: block event interrupt */
#define TRB_DIR_IN (1u << 16)
#define TRB_TYPE(ctrl) (((ctrl) >> 10) & 0x3f)
#define TRB_SLOT(ctrl) ((ctrl) >> 24)
#define TRB_EP(ctrl) (((ctrl) >> 16) & 0x1f)
#define TRB_LEN(status) ((status)&0x1ffff)

enum {
	TRB_NORMAL = 1,
	TRB_SETUP = 2,
	TRB_DATA = 3,
	TRB_STATUS = 4,
	TRB_ISOCH = 5,
	TRB_LINK = 6,
	TRB_EVENT_DATA = 7,
	TRB_NOOP = 8,
	TRB_ENABLE_SLOT = 9,
	TRB_DISABLE_SLOT = 10,
	TRB_ADDRESS_DEVICE = 11,
	TRB_CONFIGURE_EP = 12,
	TRB_EVALUATE_CTX = 13,
	TRB_RESET_EP = 14,
	TRB_STOP_EP = 15,
	TRB_SET_TR_DEQ = 16,
	TRB_RESET_DEVICE = 17,
	TRB_NOOP_CMD = 23,
	TRB_EV_TRANSFER = 32,
	TRB_EV_COMMAND = 33,
	TRB_EV_PORT = 34,
	TRB_EV_HOST = 37,
};

/* completion codes */
enum {
	CC_SUCCESS = 1,
	CC_DATA_BUFFER = 2,
	CC_TRANSACTION = 4,
	CC_TRB = 5,
	CC_STALL = 6,
	CC_RESOURCE = 7,
	CC_NO_SLOTS = 9,
	CC_SLOT_NOT_ENABLED = 11,
	CC_EP_NOT_ENABLED = 12,
	CC_SHORT_PACKET = 13,
	CC_PARAMETER = 17,
	CC_CONTEXT_STATE = 19,
	CC_EVENT_RING_FULL = 21,
	CC_CMD_RING_STOPPED = 24,
	CC_CMD_ABORTED = 25,
	CC_STOPPED = 26,
	CC_STOPPED_LENGTH_INVALID = 27,
};

/* ---- contexts (32 bytes: HCCPARAMS1.CSZ is 0) ---- */
#define XHCI_CTX_SIZE 32
#define XHCI_DEV_CTX_SIZE (32 * XHCI_CTX_SIZE) /* slot context + 31 endpoint contexts */
#define XHCI_MAX_DCI 31

/* slot context dword 3: the xHC's fields */
#define SLOT_STATE_SHIFT 27
enum { SLOT_ENABLED = 0, SLOT_DEFAULT = 1, SLOT_ADDRESSED = 2, SLOT_CONFIGURED = 3 };
/* endpoint context dword 0 bits 2:0 */
enum { EP_DISABLED = 0, EP_RUNNING = 1, EP_HALTED = 2, EP_STOPPED = 3, EP_ERROR = 4 };
/* endpoint context dword 1 bits 5:3 */
enum {
	EPT_INVALID = 0,
	EPT_ISOCH_OUT = 1,
	EPT_BULK_OUT = 2,
	EPT_INTR_OUT = 3,
	EPT_CONTROL = 4,
	EPT_ISOCH_IN = 5,
	EPT_BULK_IN = 6,
	EPT_INTR_IN = 7,
};

/* ---- configuration (xhci_config.c) ---- */

/* One device of the configuration: its emulation and its node (pci.B.S.F.slot.N). */
struct xhci_devcfg {
	const struct usb_devemu *emu;
	struct cfgnode *node;
	unsigned port; /* root hub port 1..8 */
};

/* -s S,xhci,DEV[,DEV...]: each DEV (NAME or NAME=opts) into slot.N.device (N from 1). 0 or
 * -EINVAL after one kb_log line. */
int xhci_legacy_config(struct cfgnode *devnode, const char *opts);
/* Read and check the device list: emulations, keys, ports (USB 2 devices on ports 5-8, USB 3 on
 * 1-4, in slot.N order). Returns the number of devices or -EINVAL after one kb_log line. */
int xhci_read_config(struct cfgnode *devnode, struct xhci_devcfg *devs);

/* ---- the controller ---- */

struct xhci_port {
	uint32_t portsc, portpmsc, porthlpmc;
	struct usb_dev *dev; /* attached device or NULL */
	bool usb3;
	uint8_t slot; /* the slot that addressed the device last (its wakeups go there), or 0 */
};

struct xhci_ep {
	uint8_t state; /* EP_* */
	uint8_t type;  /* EPT_* */
	bool ccs;      /* consumer cycle state */
	uint64_t deq;  /* TR dequeue pointer */
};

/* A control transfer on EP 0 between its stages. */
struct xhci_ctrl {
	bool active;   /* a Setup Stage was taken */
	bool stall;    /* the device refused the request */
	bool deferred; /* OUT with a data stage: executed at the Status Stage */
	struct usb_setup setup;
	uint32_t len, pos; /* IN: response bytes, bytes given; OUT: bytes collected */
	uint8_t buf[USB_CTRL_MAX];
};

struct xhci_slot {
	bool enabled;
	uint8_t state; /* SLOT_* */
	uint8_t port;  /* root hub port (from Address Device) */
	struct usb_dev *dev;
	uint64_t octx;	       /* output device context */
	uint32_t ctx[32][8];   /* our copy of it: [0] slot, [dci] endpoint contexts */
	struct xhci_ep ep[32]; /* by DCI; [0] unused */
	struct xhci_ctrl ctrl; /* EP 0 */
};

struct xhci_erst {
	uint64_t base;
	uint32_t size; /* TRBs */
};

struct xhci {
	pthread_mutex_t mtx;
	struct vm *vm;
	struct pci_dev *pd;
	struct kb_ratelimit log;
	/* operational registers */
	uint32_t usbcmd, usbsts, dnctrl, config;
	uint64_t crcr; /* as written: pointer and RCS */
	uint64_t dcbaap;
	/* command ring */
	bool crr; /* running */
	uint64_t cr_deq;
	bool cr_ccs;
	/* interrupter 0 */
	uint32_t iman, imod, erstsz;
	uint64_t erstba, erdp;
	struct xhci_erst erst[XHCI_ERST_MAX];
	unsigned erst_n;	 /* 0: no event ring */
	unsigned er_seg, er_idx; /* enqueue position */
	bool er_pcs;		 /* producer cycle state */
	bool er_full;		 /* Event Ring Full Error written; waiting for ERDP */
	bool ev_pending;	 /* events the interrupter has not signalled yet */
	/* Save State (CSS): the event ring's enqueue position, put back by Restore State (CRS)
	 * after the host rewrote ERSTBA (which restarts the ring) */
	bool saved;
	unsigned sv_seg, sv_idx;
	bool sv_pcs;
	uint64_t mf_start_ns;			   /* MFINDEX 0 (when RS was set) */
	struct xhci_port port[XHCI_MAX_PORTS + 1]; /* [1..8] */
	struct xhci_slot slot[XHCI_MAX_SLOTS + 1]; /* [1..64] */
	struct usb_dev *devs[XHCI_MAX_DEVS];
	unsigned ndevs;
	uint8_t xfer_buf[XHCI_XFER_MAX];
};

/* Guest-behaviour lines: rate-limited for what stops the controller, debug for the rest. */
#define xhci_warn(xc, ...) kb_guest_log(&(xc)->log, __VA_ARGS__)
#define xhci_dbg(...) kb_debug(__VA_ARGS__)

/* DMA on behalf of the controller: only with Bus Master Enable and inside guest RAM. 0 or -1. */
int xhci_dma_read(struct xhci *xc, uint64_t gpa, void *buf, uint32_t len);
int xhci_dma_write(struct xhci *xc, uint64_t gpa, const void *buf, uint32_t len);
bool xhci_dma_ok(const struct xhci *xc);
bool xhci_running(const struct xhci *xc);
/* The controller cannot go on (a ring or the event ring outside RAM): USBSTS.HSE, halted. */
void xhci_host_error(struct xhci *xc, const char *what, uint64_t gpa);

/* Queue an event TRB (parameter, status, control without the cycle bit); `intr` asks for an
 * interrupt (false: Block Event Interrupt). */
void xhci_event(struct xhci *xc, uint64_t param, uint32_t status, uint32_t ctrl, bool intr);
void xhci_transfer_event(struct xhci *xc, unsigned slot, unsigned dci, uint64_t trb, unsigned cc,
			 uint32_t residual, bool event_data, bool intr);

/* Read a TRB; false (after xhci_host_error) when it is not in RAM. */
bool xhci_read_trb(struct xhci *xc, uint64_t gpa, uint64_t *param, uint32_t *status,
		   uint32_t *ctrl);

/* ---- commands (xhci_cmd.c) ---- */

/* Doorbell 0: run the command ring within XHCI_CMD_BUDGET TRBs. */
void xhci_cmd_run(struct xhci *xc);
/* CRCR.CS or CA while the ring runs: stop it, Command Ring Stopped event. */
void xhci_cmd_stop(struct xhci *xc);
/* Write the slot context / endpoint context `dci` of our copy to the output context. */
void xhci_ctx_flush(struct xhci *xc, struct xhci_slot *s, unsigned dci);
/* An endpoint's state changed: our copy of its context follows (state, dequeue pointer). */
void xhci_ep_sync(struct xhci *xc, struct xhci_slot *s, unsigned dci);
void xhci_slots_reset(struct xhci *xc);

/* ---- transfers (xhci_xfer.c) ---- */

/* Doorbell `slot` written with `v` (DB Target: the DCI): run that transfer ring. */
void xhci_doorbell(struct xhci *xc, unsigned slot, uint32_t v);
/* Process endpoint `dci` of slot s (Running) within XHCI_XFER_BUDGET TRBs. */
void xhci_xfer_run(struct xhci *xc, unsigned slot, unsigned dci);
/* Stop Endpoint on a Running endpoint: a transfer waiting for data ends with a Stopped event. */
void xhci_xfer_stop(struct xhci *xc, unsigned slot, unsigned dci);

#endif
