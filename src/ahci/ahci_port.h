/* SPDX-License-Identifier: BSD-2-Clause */
/* AHCI: the private interface between the two halves of the controller model,
 *   ahci.c      the PCI function, registers, command slots, FIS, completion, PRDT, requests
 *   ahci_ata.c  executing one ATA or ATAPI command on a port
 * the controller, port, request and command structures and the few helpers ahci_ata.c calls.
 * Everything here runs with the controller's mutex (struct ahci.mtx) held, except ahci_req_done,
 * the backend's completion callback, which takes it. Not for use outside src/ahci/. */
#ifndef KB_AHCI_PORT_H
#define KB_AHCI_PORT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "ahci/ahci.h"
#include "ahci/atapi.h"
#include "core/log.h"

#define STATUS_OK (ATA_S_DRDY | ATA_S_DSC)
#define ATAPI_REASON_DONE 0x03 /* interrupt reason: I/O and C/D (command complete) */

struct blockif;
struct vm;
struct pci_dev;
struct ahci;
struct ahci_port;

/* A command handed to the backend, freed by its completion (or at teardown). */
struct ahci_req {
	struct ahci_port *p;
	uint64_t gen;
	unsigned slot;
	uint8_t cfis[20];
	bool ncq, pio, write, atapi, dps;
	bool flush_after; /* write with the write cache disabled */
	uint32_t bytes;
	struct iovec *iov;
	/* DATA SET MANAGEMENT: byte ranges discarded one after another */
	struct {
		uint64_t off, len;
	} * ranges;
	unsigned nranges, range;
	struct ahci_req *prev, *next; /* the port's outstanding list */
};

struct ahci_port {
	struct ahci *sc;
	unsigned num;
	enum ahci_port_type type;
	struct blockif *bc; /* NULL: no port, or an empty drive */
	struct atapi_drive atapi;
	char serial[21], rev[9], model[41];
	unsigned nmrr;
	uint64_t sectors; /* disk: logical sectors */
	unsigned sectsz, psectsz;
	bool trim;
	/* device state */
	bool wce, srst;
	unsigned mult;
	uint8_t xfer_mode;
	struct {
		bool valid;
		uint8_t tag, status, error, device;
		uint64_t lba;
		uint16_t count;
	} ncq_err;
	/* registers */
	uint32_t clb, clbu, fb, fbu, is, ie, cmd, tfd, sig, ssts, sctl, serr, sact, ci, sntf;
	uint32_t busy; /* slots with a request in the backend */
	bool stalled;  /* an error: nothing runs until ST is cleared and set again */
	uint64_t gen;
	struct ahci_req *outstanding;
	uint8_t reply[ATAPI_REPLY_MAX];
};

struct ahci {
	pthread_mutex_t mtx;
	struct vm *vm;
	struct pci_dev *pd;
	unsigned nports;
	uint32_t cap, ghc, is, pi, cap2, bohc;
	struct kb_ratelimit log;
	struct ahci_port port[AHCI_MAX_PORTS];
};

/* What a command in execution needs from its slot. */
struct cmd {
	unsigned slot;
	uint32_t flags; /* command header DW0 */
	uint64_t ctba;
	unsigned prdtl;
	uint8_t cfis[64];
	uint8_t acmd[16];
};

#define guest_log(p, ...) kb_guest_log(&(p)->sc->log, __VA_ARGS__)

/* ---- completion (ahci.c) ---- */

/* How a command ends: which FIS a completion writes (D2H; PIO Setup first; Set Device Bits). */
enum done_how { DONE_DMA, DONE_PIO_IN, DONE_PIO_OUT, DONE_NCQ };

/* Finish slot `slot`: error 0 for success. `count` >= 0 overrides the D2H sector count;
 * `extra_is` adds PxIS bits (DPS). An error stalls the port. */
void ahci_finish(struct ahci_port *p, unsigned slot, const uint8_t *cfis, uint8_t error,
		 uint32_t bytes, enum done_how how, int count, uint32_t extra_is);
/* Success with `bytes` moved, the command FIS's registers in the reply. */
void ahci_finish_ok(struct ahci_port *p, const struct cmd *c, uint32_t bytes, enum done_how how);
/* Failure with error register `error` (0: ABRT); an NCQ command ends with a Set Device Bits FIS. */
void ahci_abort_cmd(struct ahci_port *p, const struct cmd *c, uint8_t error);
/* A fatal error outside the device (bus or FIS): port IS `bit`, the port stalls. */
void ahci_fatal(struct ahci_port *p, unsigned slot, uint32_t bit);

/* ---- PRDT (ahci.c) ---- */

/* Copy `len` bytes between `buf` and the PRDT's buffers (fewer when the PRDT is shorter).
 * Return the bytes copied or -EFAULT (not in guest RAM) / -ENOMEM. */
int64_t ahci_copy_to_prdt(struct ahci_port *p, const struct cmd *c, const void *buf, uint64_t len);
int64_t ahci_copy_from_prdt(struct ahci_port *p, const struct cmd *c, void *buf, uint64_t len);

/* ---- requests in the backend (ahci.c) ---- */

/* A request for the command (on the port's outstanding list, the port's generation); NULL when
 * out of memory. ahci_req_free unlinks and frees it with its iovecs and ranges. */
struct ahci_req *ahci_req_new(struct ahci_port *p, const struct cmd *c);
void ahci_req_free(struct ahci_req *r);
/* The blockif completion callback of every request (`opaque` is the request): runs its next
 * step (the flush after a write, the next discarded range) or finishes the slot. Takes the lock. */
void ahci_req_done(void *opaque, int result);
/* Read or write `bytes` at byte offset `off` through the PRDT: a request in the backend, or the
 * command ends at once when the PRDT is short or outside guest RAM or the backend refuses. */
void ahci_start_rw(struct ahci_port *p, const struct cmd *c, uint64_t off, uint64_t bytes,
		   bool write, bool ncq, bool pio, bool atapi);

/* ---- command execution (ahci_ata.c) ---- */

/* Execute the command of a slot: the ATA command set on a disk port, PACKET (atapi.c) and the
 * few ATA commands of a packet device on a cd port. The command ends through ahci_finish and
 * the like, now or when the backend completes it. */
void ahci_exec_command(struct ahci_port *p, const struct cmd *c);

#endif
