/* SPDX-License-Identifier: BSD-2-Clause */
/* ATAPI: the SCSI/MMC packet commands of a read-only CD/DVD drive (bhyve's `ahci-cd`), as pure
 * logic. The AHCI port hands over a 12-byte command packet; this module answers it with reply
 * data in a buffer, a medium read to perform (2048-byte blocks), or an error with sense data. It
 * never touches guest memory or the backing file: the port does the I/O and the DMA.
 *
 * Commands: TEST UNIT READY, REQUEST SENSE, INQUIRY (standard data, VPD pages 0x00/0x80/0x83),
 * READ CAPACITY(10), READ(10), READ(12), READ CD (user data only), MODE SENSE(6/10) (pages 0x01,
 * 0x0e, 0x1a, 0x2a, 0x3f), READ TOC/PMA/ATIP formats 0/1/2 (LBA and MSF), GET CONFIGURATION,
 * GET EVENT STATUS NOTIFICATION (polled, media class), READ DISC INFORMATION, READ TRACK
 * INFORMATION, PREVENT ALLOW MEDIUM REMOVAL, START STOP UNIT, MECHANISM STATUS, REPORT LUNS,
 * SET CD SPEED, READ(16)/READ CAPACITY(16)... Anything else: ILLEGAL REQUEST, INVALID COMMAND
 * OPERATION CODE. An empty drive (no medium) answers NOT READY, MEDIUM NOT PRESENT to media
 * commands. */
#ifndef KB_ATAPI_H
#define KB_ATAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ATAPI_BLOCK 2048u
/* The largest reply a non-read command produces; the reply buffer must hold this many bytes. */
#define ATAPI_REPLY_MAX 4096u
/* The longest command packet atapi_command_len takes (16-byte packets, for READ(16) etc.). */
#define ATAPI_CDB_MAX 16u

/* SCSI sense keys used */
#define SENSE_NONE 0x0
#define SENSE_NOT_READY 0x2
#define SENSE_MEDIUM_ERROR 0x3
#define SENSE_ILLEGAL_REQUEST 0x5
#define SENSE_UNIT_ATTENTION 0x6

struct atapi_drive {
	/* set by the owner */
	uint64_t size;    /* medium size in bytes (blocks = size / 2048, a partial tail ignored) */
	bool has_medium;  /* false: an empty drive */
	char model[41];   /* INQUIRY product (first 16 bytes), NUL-terminated */
	char rev[9];      /* INQUIRY revision (first 4 bytes) */
	char serial[21];  /* VPD page 0x80 */
	/* state kept by this module */
	uint8_t sense_key, asc, ascq; /* of the last command that failed (REQUEST SENSE reads it) */
	bool prevent_removal;
	bool media_event; /* a "new media" event not yet reported by GET EVENT STATUS */
};

enum atapi_action {
	ATAPI_DATA,  /* reply bytes in the buffer (len may be 0: no data phase) */
	ATAPI_READ,  /* read `nblocks` 2048-byte blocks from block `lba` of the medium */
	ATAPI_ERROR, /* CHECK CONDITION: sense set in the drive; see atapi_error_reg */
};

struct atapi_result {
	enum atapi_action action;
	uint32_t len;     /* ATAPI_DATA: reply bytes (already cut to the CDB's allocation length) */
	uint64_t lba;     /* ATAPI_READ */
	uint32_t nblocks; /* ATAPI_READ: 0 means a read of nothing (complete without data) */
};

/* Set up a drive: sense cleared, a "new media" event pending when a medium is present. model,
 * rev and serial may be NULL for the defaults ("BHYVE DVD-ROM", "001", ""). */
void atapi_init(struct atapi_drive *d, uint64_t size, bool has_medium, const char *model,
		const char *rev, const char *serial);

/* Execute one packet command. `reply` holds ATAPI_REPLY_MAX bytes. A successful command clears
 * the sense data (except REQUEST SENSE, which reports then clears it). Reads are range-checked
 * here: a read past the last block fails with ILLEGAL REQUEST, LBA OUT OF RANGE. */
void atapi_command(struct atapi_drive *d, const uint8_t cdb[12], uint8_t *reply,
		   struct atapi_result *r);

/* The same for a packet of cdb_len bytes (12 or 16; more is ignored, missing bytes read as 0).
 * Only a 16-byte packet carries all of READ(16) (else INVALID FIELD IN CDB) and the allocation
 * length of READ CAPACITY(16) (else its whole 32 bytes are sent). */
void atapi_command_len(struct atapi_drive *d, const uint8_t *cdb, unsigned cdb_len, uint8_t *reply,
		       struct atapi_result *r);

/* The ATA error register after a failed packet command: sense key << 4 (plus ABRT for
 * ILLEGAL REQUEST). */
uint8_t atapi_error_reg(const struct atapi_drive *d);

/* A read that failed in the backend: record MEDIUM ERROR, UNRECOVERED READ ERROR. */
void atapi_set_read_error(struct atapi_drive *d);

#endif
