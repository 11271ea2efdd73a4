/* SPDX-License-Identifier: BSD-2-Clause */
/* NVMe 1.4 controller (bhyve's `nvme`): register layout, command and status codes, the
 * controller state, and the interfaces between the parts of the model:
 *   nvme.c        the PCI function, controller registers, queues, doorbells, completions and
 *                 interrupts, the backend requests and their completions
 *   nvme_admin.c  the admin command set
 *   nvme_io.c     the NVM command set and the PRP walker (guest data buffers)
 *   nvme_config.c the -s option string and the configuration (pci.B.S.F.*)
 * Everything in guest memory (queue entries, PRP lists, data structures) is little-endian.
 * The controller state is guarded by nvme_ctrl.mtx; every function declared here below the
 * configuration section expects it held. */
#ifndef KB_NVME_H
#define KB_NVME_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/log.h"

struct cfgnode;
struct vm;
struct pci_dev;
struct blockif;
struct evloop_handle;

#define NVME_MAX_QUEUES 16 /* I/O queue pairs at most (maxq is clamped to it) */
#define NVME_DEF_QSZ 2048
#define NVME_MAX_QSZ 65536 /* CAP.MQES is 16 bits */
#define NVME_DEF_IOSLOTS 8
#define NVME_PAGE 4096u /* CC.MPS 0: the only memory page size (MPSMIN = MPSMAX = 0) */
#define NVME_MDTS 9	/* 2^9 pages: 2 MiB per command */
#define NVME_MAX_XFER (NVME_PAGE << NVME_MDTS)
#define NVME_AERL 3 /* four Asynchronous Event Requests outstanding */
#define NVME_DSM_MAX_RANGES 256
#define NVME_BAR_REGS 0
#define NVME_BAR_MSIX 4
#define NVME_MSIX_PBA 0x800

/* ---- controller registers (BAR 0) ---- */
#define NVME_REG_CAP 0x00
#define NVME_REG_VS 0x08
#define NVME_REG_INTMS 0x0c
#define NVME_REG_INTMC 0x10
#define NVME_REG_CC 0x14
#define NVME_REG_CSTS 0x1c
#define NVME_REG_NSSR 0x20
#define NVME_REG_AQA 0x24
#define NVME_REG_ASQ 0x28
#define NVME_REG_ACQ 0x30
#define NVME_REG_DBS 0x1000 /* SQ y tail at 0x1000 + 8y, CQ y head at 0x1000 + 8y + 4 */

#define NVME_VERSION 0x00010400u
#define NVME_CAP_CQR (1ull << 16)
#define NVME_CAP_TO_SHIFT 24
#define NVME_CAP_CSS_NVM (1ull << 37)

#define NVME_CC_EN (1u << 0)
#define NVME_CC_CSS(cc) (((cc) >> 4) & 7)
#define NVME_CC_MPS(cc) (((cc) >> 7) & 0xf)
#define NVME_CC_AMS(cc) (((cc) >> 11) & 7)
#define NVME_CC_SHN(cc) (((cc) >> 14) & 3)
#define NVME_CC_IOSQES(cc) (((cc) >> 16) & 0xf)
#define NVME_CC_IOCQES(cc) (((cc) >> 20) & 0xf)
#define NVME_CC_WMASK 0x00fffff1u

#define NVME_CSTS_RDY (1u << 0)
#define NVME_CSTS_CFS (1u << 1)
#define NVME_CSTS_SHST_DONE (2u << 2)
#define NVME_CSTS_SHST_MASK (3u << 2)

#define NVME_SQE_SIZE 64
#define NVME_CQE_SIZE 16

/* ---- status: SC | SCT << 8 | DNR << 14 (the CQE's status field without the phase) ---- */
#define NVME_SCT_CMD 0x100
#define NVME_DNR 0x4000
#define NVME_SC_SUCCESS 0x00
#define NVME_SC_INVALID_OPCODE 0x01
#define NVME_SC_INVALID_FIELD 0x02
#define NVME_SC_DATA_XFER_ERROR 0x04
#define NVME_SC_INTERNAL 0x06
#define NVME_SC_ABORT_SQ_DELETED 0x08
#define NVME_SC_INVALID_NS 0x0b
#define NVME_SC_PRP_OFFSET 0x13
#define NVME_SC_NS_WRITE_PROTECTED 0x20
#define NVME_SC_LBA_RANGE 0x80
/* command specific (SCT 1) */
#define NVME_SC_CQ_INVALID (NVME_SCT_CMD | 0x00)
#define NVME_SC_INVALID_QID (NVME_SCT_CMD | 0x01)
#define NVME_SC_INVALID_QSIZE (NVME_SCT_CMD | 0x02)
#define NVME_SC_AER_LIMIT (NVME_SCT_CMD | 0x05)
#define NVME_SC_INVALID_FW_SLOT (NVME_SCT_CMD | 0x06)
#define NVME_SC_INVALID_VECTOR (NVME_SCT_CMD | 0x08)
#define NVME_SC_INVALID_LOG_PAGE (NVME_SCT_CMD | 0x09)
#define NVME_SC_INVALID_FORMAT (NVME_SCT_CMD | 0x0a)
#define NVME_SC_INVALID_QDELETE (NVME_SCT_CMD | 0x0c)
#define NVME_SC_NOT_SAVEABLE (NVME_SCT_CMD | 0x0d)
/* a status that is not a completion now: the command went to the backend or is held (AER) */
#define NVME_PENDING 0xffff

/* ---- admin opcodes ---- */
#define NVME_ADM_DELETE_SQ 0x00
#define NVME_ADM_CREATE_SQ 0x01
#define NVME_ADM_GET_LOG_PAGE 0x02
#define NVME_ADM_DELETE_CQ 0x04
#define NVME_ADM_CREATE_CQ 0x05
#define NVME_ADM_IDENTIFY 0x06
#define NVME_ADM_ABORT 0x08
#define NVME_ADM_SET_FEATURES 0x09
#define NVME_ADM_GET_FEATURES 0x0a
#define NVME_ADM_ASYNC_EVENT 0x0c
#define NVME_ADM_FW_COMMIT 0x10
#define NVME_ADM_FW_DOWNLOAD 0x11
#define NVME_ADM_FORMAT_NVM 0x80
#define NVME_ADM_SECURITY_SEND 0x81
#define NVME_ADM_SECURITY_RECV 0x82
#define NVME_ADM_SANITIZE 0x84
#define NVME_ADM_GET_LBA_STATUS 0x86

/* ---- NVM opcodes ---- */
#define NVME_CMD_FLUSH 0x00
#define NVME_CMD_WRITE 0x01
#define NVME_CMD_READ 0x02
#define NVME_CMD_DSM 0x09
#define NVME_DSM_AD (1u << 2)

/* ---- features, log pages, identify ---- */
#define NVME_FEAT_ARBITRATION 0x01
#define NVME_FEAT_POWER_MGMT 0x02
#define NVME_FEAT_TEMP_THRESH 0x04
#define NVME_FEAT_ERROR_RECOVERY 0x05
#define NVME_FEAT_VOLATILE_WC 0x06
#define NVME_FEAT_NUM_QUEUES 0x07
#define NVME_FEAT_IRQ_COALESCE 0x08
#define NVME_FEAT_IRQ_CONFIG 0x09
#define NVME_FEAT_WRITE_ATOMIC 0x0a
#define NVME_FEAT_ASYNC_EVENT 0x0b

#define NVME_LOG_ERROR 0x01
#define NVME_LOG_SMART 0x02
#define NVME_LOG_FIRMWARE 0x03

#define NVME_CNS_NS 0x00
#define NVME_CNS_CTRL 0x01
#define NVME_CNS_NS_LIST 0x02
#define NVME_CNS_NS_DESC 0x03
#define NVME_IDENTIFY_SIZE 4096

#define NVME_ONCS_DSM (1u << 2)
#define NVME_NSID 1 /* the one namespace */

/* Asynchronous events: error status type, and the infos used here */
#define NVME_AER_TYPE_ERROR 0
#define NVME_AER_INVALID_DB 0x00
#define NVME_AER_INVALID_DB_VALUE 0x01

/* ---- configuration (nvme_config.c) ---- */

enum nvme_dsm { NVME_DSM_AUTO, NVME_DSM_ENABLE, NVME_DSM_DISABLE };

struct nvme_cfg {
	unsigned maxq, qsz, ioslots, sectsz; /* sectsz 0: the backend's (ram: 4096) */
	uint64_t ram_mib;		     /* 0: a path */
	char serial[21];		     /* "" until set */
	bool eui64_set;
	uint64_t eui64;
	enum nvme_dsm dsm;
};

/* -s S,nvme,PATH|ram=MiB[,opts]: the first field as path (unless it holds '='), the rest as
 * key=value. 0 or -EINVAL after one kb_log line. */
int nvme_legacy_config(struct cfgnode *devnode, const char *opts);
/* Check the node's keys and values; defaults for what is absent. 0 or -EINVAL after one kb_log
 * line. */
int nvme_read_config(struct cfgnode *devnode, struct nvme_cfg *c);

/* ---- the controller (nvme.c) ---- */

struct nvme_ctrl;

struct nvme_sq {
	bool valid;
	uint16_t qid, cqid;
	uint32_t size; /* entries */
	uint32_t head, tail;
	uint64_t base;
};

struct nvme_cq {
	bool valid;
	uint16_t qid, vector;
	bool ien, phase;
	uint32_t size, head, tail;
	uint32_t reserved; /* commands taken whose completion has not been posted yet */
	unsigned nsq;	   /* SQs bound to it */
	uint64_t base;
};

/* A command that went to the backend (or an admin command that waits for one). */
struct nvme_req {
	struct nvme_ctrl *sc;
	uint64_t gen; /* sc->gen when taken; 0 once its queue was deleted */
	uint16_t sqid, cid, opc;
	uint32_t bytes;
	uint64_t off, blocks; /* byte offset in the backend; logical blocks (statistics) */
	bool write, flush_after;
	struct iovec *iov;
	int iovcnt;
	struct {
		uint64_t off, len;
	} * ranges; /* DSM / format: discarded one after another */
	unsigned nranges, range;
	struct nvme_req *prev, *next;
};

struct nvme_ctrl {
	pthread_mutex_t mtx;
	struct vm *vm;
	struct pci_dev *pd;
	struct blockif *bc;
	struct kb_ratelimit log;
	struct evloop_handle *more; /* continuation timer for budget-limited processing */
	bool more_armed;
	/* configuration */
	unsigned maxq, qsz, ioslots, nvec;
	uint64_t nsze;	 /* namespace size, logical blocks */
	unsigned sectsz; /* logical block, bytes */
	bool ro, dsm;
	char serial[21];
	uint64_t eui64;
	/* registers */
	uint32_t cc, csts, aqa, intms;
	uint64_t asq, acq;
	/* queues: index = queue id, 0 the admin pair */
	struct nvme_sq sq[NVME_MAX_QUEUES + 1];
	struct nvme_cq cq[NVME_MAX_QUEUES + 1];
	unsigned rr;	     /* the SQ the next pass starts with */
	uint64_t pass_bytes; /* bytes copied by admin commands in this pass */
	uint64_t gen;
	unsigned nreqs; /* request structures alive, stale ones included (ioslots bound) */
	struct nvme_req *outstanding;
	/* asynchronous events */
	uint16_t aer_cid[NVME_AERL + 1];
	unsigned naer;
	uint32_t aen_pending; /* bit = error info byte (0 or 1), waiting for an AER */
	bool aen_error_masked;
	/* features */
	uint32_t feat_arb, feat_pm, feat_temp_over, feat_temp_under, feat_err_rec, feat_coalesce,
	    feat_atomic, feat_aec;
	bool wce;
	bool irq_cd[NVME_MAX_QUEUES + 1];
	/* SMART counters */
	uint64_t units_read, units_written, cmds_read, cmds_written;
};

/* A submission queue entry as the handlers see it. */
struct nvme_cmd {
	uint16_t sqid;
	uint8_t opc;
	uint16_t cid;
	uint32_t nsid;
	uint64_t prp1, prp2;
	uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
	uint32_t dw0; /* the completion's DW0, set by the handler */
};

/* Budget of one processing pass (a doorbell, a completion, the continuation timer): commands
 * taken, and bytes copied by admin commands; the rest waits for the continuation timer. */
#define NVME_PASS_CMDS 64
#define NVME_PASS_BYTES (4u << 20)
#define NVME_CONTINUE_MS 1

#define nvme_log(sc, ...) kb_guest_log(&(sc)->log, __VA_ARGS__)

/* A request for cmd, on the outstanding list; NULL when out of memory. */
struct nvme_req *nvme_req_new(struct nvme_ctrl *sc, const struct nvme_cmd *c);
void nvme_req_free(struct nvme_req *r);
/* Start r's first backend step: discard ranges[0] when it has ranges, else flush when it has no
 * iov, else read or write. NVME_PENDING, or a status when nothing was started (r freed). */
uint16_t nvme_req_start(struct nvme_req *r);
/* Delete an I/O queue (admin commands): 0 or the status. */
uint16_t nvme_delete_sq(struct nvme_ctrl *sc, unsigned qid);
uint16_t nvme_delete_cq(struct nvme_ctrl *sc, unsigned qid);
/* Queue an asynchronous event (error type, `info`) and deliver what can be. */
void nvme_post_event(struct nvme_ctrl *sc, uint8_t info);
void nvme_deliver_events(struct nvme_ctrl *sc);

/* ---- admin commands (nvme_admin.c) ---- */

/* Execute an admin command: the status, or NVME_PENDING (completed later). */
uint16_t nvme_admin(struct nvme_ctrl *sc, struct nvme_cmd *c);
void nvme_features_reset(struct nvme_ctrl *sc);

/* ---- I/O commands and PRPs (nvme_io.c) ---- */

uint16_t nvme_io(struct nvme_ctrl *sc, struct nvme_cmd *c);
/* Map `len` bytes of the PRP pair into a malloc'd iovec array (NULL when len is 0). 0 or a
 * status: PRP offset invalid, data transfer error (outside RAM, a list too long), internal. */
uint16_t nvme_prp_map(struct nvme_ctrl *sc, uint64_t prp1, uint64_t prp2, uint64_t len,
		      struct iovec **iov, int *iovcnt);
/* Copy between a host buffer and the PRP pair's buffers. 0 or a status. */
uint16_t nvme_prp_write(struct nvme_ctrl *sc, const struct nvme_cmd *c, const void *buf,
			uint32_t len);
uint16_t nvme_prp_read(struct nvme_ctrl *sc, const struct nvme_cmd *c, void *buf, uint32_t len);

#endif
