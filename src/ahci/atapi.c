/* SPDX-License-Identifier: BSD-2-Clause */
/* ATAPI packet commands of a read-only CD/DVD drive (see atapi.h): SPC-3 and MMC-5 as far as Linux
 * (sr, libata, udev's cdrom_id) and OVMF's ScsiDiskDxe use them. Each command builds its whole
 * reply in a small local buffer; only min(reply size, allocation length) bytes of it are copied to
 * the caller's buffer, so nothing past that (and never past ATAPI_REPLY_MAX) is written. */
#include "ahci/atapi.h"

#include <stdio.h>
#include <string.h>

/* Additional sense codes (ASC, ASCQ) */
#define ASC_INVALID_OPCODE 0x20
#define ASC_LBA_OUT_OF_RANGE 0x21
#define ASC_INVALID_FIELD_IN_CDB 0x24
#define ASC_SAVING_PARAMS_UNSUPPORTED 0x39
#define ASC_MEDIUM_NOT_PRESENT 0x3a
#define ASC_UNRECOVERED_READ_ERROR 0x11
#define ASC_MEDIUM_REMOVAL_PREVENTED 0x53 /* ASCQ 0x02 */

/* MMC profiles */
#define PROFILE_NONE 0x0000
#define PROFILE_CDROM 0x0008
#define PROFILE_DVDROM 0x0010

/* A medium larger than an 80-minute CD (360000 sectors) is presented as a DVD. */
#define CD_MAX_BLOCKS 360000u

/* The largest reply any command below builds (MODE SENSE(10) of page 0x3f, 80 bytes, is the
 * biggest). */
#define BUF_MAX 256u
_Static_assert(BUF_MAX <= ATAPI_REPLY_MAX, "replies must fit the caller's buffer");

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Read speed reported in mode page 0x2a, kB/s (40x CD). */
#define READ_SPEED_KBS 7056u

struct cmd {
	struct atapi_drive *d;
	uint8_t cdb[ATAPI_CDB_MAX]; /* bytes past cdb_len are zero */
	unsigned cdb_len;
	uint8_t buf[BUF_MAX]; /* the reply as built, before the allocation length cut */
	uint32_t n;	      /* bytes built */
	uint32_t alloc;	      /* the CDB's allocation length */
	bool failed;
	bool read;
	uint64_t lba;
	uint32_t nblocks;
};

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint32_t get16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t get24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | get16(p + 1);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | get24(p + 1);
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* Copy a string into a fixed-width, space-padded ASCII field (INQUIRY style). */
static void put_ascii(uint8_t *p, const char *s, size_t width)
{
	size_t l = strnlen(s, width);
	memcpy(p, s, l);
	memset(p + l, ' ', width - l);
}

static uint64_t blocks(const struct atapi_drive *d)
{
	return d->size / ATAPI_BLOCK;
}

static bool is_dvd(const struct atapi_drive *d)
{
	return blocks(d) > CD_MAX_BLOCKS;
}

/* The last LBA as READ CAPACITY reports it (0 for a medium under one block). */
static uint64_t last_lba(const struct atapi_drive *d)
{
	uint64_t b = blocks(d);
	return b ? b - 1 : 0;
}

/* LBA -> MSF (the 150-frame pregap added), saturating at 255:59:74. Writes 4 bytes: 0, M, S, F. */
static void put_msf(uint8_t *p, uint64_t lba)
{
	uint64_t f = lba + 150;
	if (lba > 255ull * 4500 + 59 * 75 + 74 - 150)
		f = 255ull * 4500 + 59 * 75 + 74;
	p[0] = 0;
	p[1] = (uint8_t)(f / 4500);
	p[2] = (uint8_t)(f / 75 % 60);
	p[3] = (uint8_t)(f % 75);
}

static void fail(struct cmd *c, uint8_t key, uint8_t asc, uint8_t ascq)
{
	c->failed = true;
	c->d->sense_key = key;
	c->d->asc = asc;
	c->d->ascq = ascq;
}

static void invalid_field(struct cmd *c)
{
	fail(c, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, 0);
}

static void reply(struct cmd *c, uint32_t n, uint32_t alloc)
{
	c->n = n;
	c->alloc = alloc;
}

/* A medium access of count blocks from lba: it must neither start nor end past the last block.
 * Returns false (sense set) when out of range. */
static bool range_ok(struct cmd *c, uint64_t lba, uint64_t count)
{
	uint64_t b = blocks(c->d);
	if (lba >= b || count > b - lba) {
		fail(c, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, 0);
		return false;
	}
	return true;
}

static void read_blocks(struct cmd *c, uint64_t lba, uint32_t count)
{
	if (!range_ok(c, lba, count))
		return;
	c->read = true;
	c->lba = lba;
	c->nblocks = count;
}

static void cmd_test_unit_ready(struct cmd *c)
{
	reply(c, 0, 0);
}

/* Fixed-format sense data; sense cleared afterwards. With nothing pending, an empty drive
 * reports its current condition (SPC: "sense data describing the current state"). */
static void cmd_request_sense(struct cmd *c)
{
	struct atapi_drive *d = c->d;
	uint8_t *p = c->buf;
	uint8_t key = d->sense_key, asc = d->asc, ascq = d->ascq;
	if (key == SENSE_NONE && asc == 0 && !d->has_medium) {
		key = SENSE_NOT_READY;
		asc = ASC_MEDIUM_NOT_PRESENT;
		ascq = 0;
	}
	p[0] = 0x70; /* current error, fixed format */
	p[2] = key;
	p[7] = 10; /* additional sense length */
	p[12] = asc;
	p[13] = ascq;
	reply(c, 18, c->cdb[4]);
}

static void cmd_inquiry(struct cmd *c)
{
	const struct atapi_drive *d = c->d;
	uint8_t *p = c->buf;
	uint32_t alloc = get16(&c->cdb[3]);
	bool evpd = c->cdb[1] & 0x01;
	uint8_t page = c->cdb[2];
	size_t sl = strnlen(d->serial, sizeof(d->serial) - 1);

	p[0] = 0x05; /* peripheral type: CD/DVD */
	if (!evpd) {
		if (page != 0) {
			invalid_field(c);
			return;
		}
		p[1] = 0x80; /* removable */
		p[2] = 0x05; /* SPC-3 */
		p[3] = 0x02; /* response data format */
		p[4] = 36 - 5;
		put_ascii(&p[8], "BHYVE", 8);
		put_ascii(&p[16], d->model, 16);
		put_ascii(&p[32], d->rev, 4);
		reply(c, 36, alloc);
		return;
	}
	p[1] = page;
	switch (page) {
	case 0x00: /* supported pages */
		p[3] = 3;
		p[4] = 0x00;
		p[5] = 0x80;
		p[6] = 0x83;
		reply(c, 7, alloc);
		break;
	case 0x80: /* unit serial number */
		p[3] = (uint8_t)sl;
		memcpy(&p[4], d->serial, sl);
		reply(c, 4 + (uint32_t)sl, alloc);
		break;
	case 0x83: {
		/* device identification: one T10 vendor ID designator */
		p[4] = 0x02; /* code set ASCII */
		p[5] = 0x01; /* association LU, type T10 vendor ID */
		p[7] = (uint8_t)(24 + sl);
		put_ascii(&p[8], "BHYVE", 8);
		put_ascii(&p[16], d->model, 16);
		memcpy(&p[32], d->serial, sl);
		put16(&p[2], (uint32_t)(4 + 24 + sl));
		reply(c, 8 + 24 + (uint32_t)sl, alloc);
		break;
	}
	default:
		invalid_field(c);
	}
}

static void cmd_read_capacity(struct cmd *c)
{
	uint64_t last = last_lba(c->d);
	put32(&c->buf[0], last > 0xffffffffu ? 0xffffffffu : (uint32_t)last);
	put32(&c->buf[4], ATAPI_BLOCK);
	reply(c, 8, 8);
}

/* SERVICE ACTION IN(16): only READ CAPACITY(16). */
static void cmd_service_action_in(struct cmd *c)
{
	if ((c->cdb[1] & 0x1f) != 0x10) {
		invalid_field(c);
		return;
	}
	if (!c->d->has_medium) {
		fail(c, SENSE_NOT_READY, ASC_MEDIUM_NOT_PRESENT, 0);
		return;
	}
	put64(&c->buf[0], last_lba(c->d));
	put32(&c->buf[8], ATAPI_BLOCK);
	/* A 12-byte packet lacks the low half of the allocation length: send it all. */
	reply(c, 32, c->cdb_len >= 14 ? get32(&c->cdb[10]) : 32);
}

static void cmd_read10(struct cmd *c)
{
	read_blocks(c, get32(&c->cdb[2]), get16(&c->cdb[7]));
}

static void cmd_read12(struct cmd *c)
{
	read_blocks(c, get32(&c->cdb[2]), get32(&c->cdb[6]));
}

static void cmd_read16(struct cmd *c)
{
	if (c->cdb_len < 14) { /* the transfer length is not all there */
		invalid_field(c);
		return;
	}
	read_blocks(c, get64(&c->cdb[2]), get32(&c->cdb[10]));
}

/* READ CD: user data of any-type or mode-1 sectors, nothing else (no headers, EDC, subchannel). */
static void cmd_read_cd(struct cmd *c)
{
	uint8_t type = (c->cdb[1] >> 2) & 0x07;
	uint8_t fields = c->cdb[9];
	uint8_t subch = c->cdb[10] & 0x07;
	uint64_t lba = get32(&c->cdb[2]);
	uint32_t count = get24(&c->cdb[6]);

	if ((type != 0 && type != 2) || subch != 0 || (fields != 0x10 && fields != 0x00)) {
		invalid_field(c);
		return;
	}
	if (fields == 0x00) { /* no fields selected: nothing is transferred */
		if (range_ok(c, lba, count))
			reply(c, 0, 0);
		return;
	}
	read_blocks(c, lba, count);
}

/* One mode page at p (current, changeable or default values); returns its length. */
static uint32_t mode_page(const struct atapi_drive *d, uint8_t page, bool changeable, uint8_t *p)
{
	switch (page) {
	case 0x01: /* read/write error recovery */
		p[0] = 0x01;
		p[1] = 0x0a;
		if (!changeable)
			p[3] = 5; /* read retry count */
		return 12;
	case 0x0e: /* CD audio control */
		p[0] = 0x0e;
		p[1] = 0x0e;
		if (!changeable) {
			p[2] = 0x04; /* IMMED */
			p[8] = 0x01; /* port 0: channel 0 */
			p[9] = 0xff;
			p[10] = 0x02; /* port 1: channel 1 */
			p[11] = 0xff;
		}
		return 16;
	case 0x1a: /* power condition: no timers */
		p[0] = 0x1a;
		p[1] = 0x0a;
		return 12;
	case 0x2a: /* CD/DVD capabilities and mechanical status */
		p[0] = 0x2a;
		p[1] = 0x1e;
		if (changeable)
			return 32;
		p[2] = 0x3f; /* reads CD-R, CD-RW, method 2, DVD-ROM, DVD-R, DVD-RAM */
		p[3] = 0x00; /* writes nothing */
		p[4] = 0x40; /* multi-session */
		p[5] = 0x00;
		/* tray loader, eject, lock, lock state */
		p[6] = 0x20 | 0x08 | 0x01 | (d->prevent_removal ? 0x02 : 0);
		put16(&p[8], READ_SPEED_KBS);  /* maximum read speed (obsolete) */
		put16(&p[14], READ_SPEED_KBS); /* current read speed (obsolete) */
		return 32;
	default:
		return 0;
	}
}

/* MODE SENSE(6) and (10): no block descriptors. */
static void cmd_mode_sense(struct cmd *c)
{
	static const uint8_t all[] = {0x01, 0x0e, 0x1a, 0x2a};
	bool ten = c->cdb[0] == 0x5a;
	uint8_t pc = c->cdb[2] >> 6;
	uint8_t page = c->cdb[2] & 0x3f;
	uint8_t subpage = c->cdb[3];
	uint32_t hdr = ten ? 8 : 4;
	uint32_t n = hdr;

	if (pc == 3) {
		fail(c, SENSE_ILLEGAL_REQUEST, ASC_SAVING_PARAMS_UNSUPPORTED, 0);
		return;
	}
	if (subpage != 0 && !(page == 0x3f && subpage == 0xff)) {
		invalid_field(c);
		return;
	}
	if (page == 0x3f) {
		for (size_t i = 0; i < ARRAY_LEN(all); i++)
			n += mode_page(c->d, all[i], pc == 1, &c->buf[n]);
	} else {
		uint32_t l = mode_page(c->d, page, pc == 1, &c->buf[n]);
		if (l == 0) {
			invalid_field(c);
			return;
		}
		n += l;
	}
	if (ten) {
		put16(&c->buf[0], n - 2);
		reply(c, n, get16(&c->cdb[7]));
	} else {
		c->buf[0] = (uint8_t)(n - 1);
		reply(c, n, c->cdb[4]);
	}
}

/* READ TOC/PMA/ATIP formats 0 (TOC), 1 (session info), 2 (raw TOC). */
static void cmd_read_toc(struct cmd *c)
{
	const struct atapi_drive *d = c->d;
	bool msf = c->cdb[1] & 0x02;
	uint8_t format = c->cdb[2] & 0x0f;
	uint8_t track = c->cdb[6];
	uint8_t *p = c->buf;
	uint32_t n = 4;

	if (format == 0 && (c->cdb[9] >> 6) != 0)
		format = c->cdb[9] >> 6; /* SFF-8020: the format in the control byte */
	switch (format) {
	case 0:
		if (track > 1 && track != 0xaa) {
			invalid_field(c);
			return;
		}
		p[2] = 1; /* first track */
		p[3] = 1; /* last track */
		if (track <= 1) {
			p[n + 1] = 0x14; /* ADR 1, data track */
			p[n + 2] = 1;
			if (msf)
				put_msf(&p[n + 4], 0);
			n += 8;
		}
		p[n + 1] = 0x14;
		p[n + 2] = 0xaa; /* lead-out */
		if (msf)
			put_msf(&p[n + 4], blocks(d));
		else
			put32(&p[n + 4],
			      blocks(d) > 0xffffffffu ? 0xffffffffu : (uint32_t)blocks(d));
		n += 8;
		break;
	case 1:
		p[2] = 1; /* first session */
		p[3] = 1; /* last session */
		p[n + 1] = 0x14;
		p[n + 2] = 1; /* first track in the last session, at LBA 0 */
		if (msf)
			put_msf(&p[n + 4], 0);
		n += 8;
		break;
	case 2: {
		/* Raw TOC: points A0 (first track), A1 (last track), A2 (lead-out), then track 1.
		 */
		static const uint8_t points[] = {0xa0, 0xa1, 0xa2, 0x01};
		if (track > 1) {
			invalid_field(c);
			return;
		}
		p[2] = 1;
		p[3] = 1;
		for (size_t i = 0; i < ARRAY_LEN(points); i++) {
			uint8_t *q = &p[n];
			q[0] = 1; /* session */
			q[1] = 0x14;
			q[3] = points[i];
			if (points[i] == 0xa0 || points[i] == 0xa1) {
				q[8] = 1; /* PMIN: track number; PSEC 0: CD-DA/CD-ROM disc */
			} else {
				uint8_t a[4];
				put_msf(a, points[i] == 0xa2 ? blocks(d) : 0);
				memcpy(&q[8], &a[1], 3);
			}
			n += 11;
		}
		break;
	}
	default:
		invalid_field(c);
		return;
	}
	put16(&p[0], n - 2);
	reply(c, n, get16(&c->cdb[7]));
}

/* One GET CONFIGURATION feature descriptor at p; returns its length. */
static uint32_t feature(const struct atapi_drive *d, uint16_t code, uint8_t *p)
{
	bool dvd = is_dvd(d), m = d->has_medium;
	put16(&p[0], code);
	switch (code) {
	case 0x0000: /* profile list */
		/* persistent, current */
		p[2] = 0x03;
		p[3] = 8;
		put16(&p[4], PROFILE_DVDROM);
		p[6] = m && dvd;
		put16(&p[8], PROFILE_CDROM);
		p[10] = m && !dvd;
		return 12;
	case 0x0001: /* core */
		/* version 1, persistent, current */
		p[2] = 0x04 | 0x03;
		p[3] = 8;
		put32(&p[4], 2); /* physical interface: ATAPI */
		p[8] = 0x01;	 /* DBE: device busy events */
		return 12;
	case 0x0002: /* morphing */
		p[2] = 0x04 | 0x03;
		p[3] = 4;
		p[4] = 0x02; /* OCEvent: operational change events */
		return 8;
	case 0x0003: /* removable medium */
		p[2] = 0x03;
		p[3] = 4;
		p[4] = 0x20 | 0x08 | 0x01; /* tray, eject, lock */
		return 8;
	case 0x0010: /* random readable */
		p[2] = m;
		p[3] = 8;
		put32(&p[4], ATAPI_BLOCK);
		put16(&p[8], dvd ? 16 : 1); /* blocking */
		return 12;
	case 0x001e: /* CD read */
		p[2] = 0x04 | (m && !dvd);
		p[3] = 4;
		return 8;
	case 0x001f: /* DVD read */
		p[2] = m && dvd;
		p[3] = 0;
		return 4;
	default:
		return 0;
	}
}

static void cmd_get_configuration(struct cmd *c)
{
	static const uint16_t codes[] = {0x0000, 0x0001, 0x0002, 0x0003, 0x0010, 0x001e, 0x001f};
	const struct atapi_drive *d = c->d;
	uint8_t rt = c->cdb[1] & 0x03;
	uint16_t start = (uint16_t)get16(&c->cdb[2]);
	uint32_t n = 8;

	if (rt == 3) {
		invalid_field(c);
		return;
	}
	for (size_t i = 0; i < ARRAY_LEN(codes); i++) {
		if (codes[i] < start || (rt == 2 && codes[i] != start))
			continue;
		uint32_t l = feature(d, codes[i], &c->buf[n]);
		if (rt == 1 && !(c->buf[n + 2] & 0x01)) { /* only current features */
			memset(&c->buf[n], 0, l);
			continue;
		}
		n += l;
	}
	put32(&c->buf[0], n - 4);
	put16(&c->buf[6], !d->has_medium ? PROFILE_NONE
			  : is_dvd(d)	 ? PROFILE_DVDROM
					 : PROFILE_CDROM);
	reply(c, n, get16(&c->cdb[7]));
}

/* GET EVENT STATUS NOTIFICATION, polled only; the media class is the only one supported. */
static void cmd_get_event_status(struct cmd *c)
{
	struct atapi_drive *d = c->d;
	uint8_t *p = c->buf;
	uint32_t alloc = get16(&c->cdb[7]);

	if (!(c->cdb[1] & 0x01)) {
		invalid_field(c);
		return;
	}
	p[3] = 0x10; /* supported classes: media */
	if (!(c->cdb[4] & 0x10)) {
		p[2] = 0x80; /* NEA: no event available of the requested classes */
		put16(&p[0], 2);
		reply(c, 4, alloc);
		return;
	}
	p[2] = 0x04; /* media class */
	put16(&p[0], 6);
	if (d->media_event && d->has_medium) {
		p[4] = 0x02; /* new media */
		/* Consumed once the host has actually received the descriptor. */
		if (alloc >= 8)
			d->media_event = false;
	}
	p[5] = d->has_medium ? 0x02 : 0x00; /* media present, tray closed */
	reply(c, 8, alloc);
}

static void cmd_read_disc_information(struct cmd *c)
{
	uint8_t *p = c->buf;
	if ((c->cdb[1] & 0x07) != 0) { /* only standard disc information */
		invalid_field(c);
		return;
	}
	put16(&p[0], 32);
	p[2] = 0x0e;		    /* last session complete, disc finalized */
	p[3] = 1;		    /* first track */
	p[4] = 1;		    /* sessions */
	p[5] = 1;		    /* first track in the last session */
	p[6] = 1;		    /* last track in the last session */
	put32(&p[16], 0xffffffffu); /* last session lead-in: none on a complete disc */
	put32(&p[20], 0xffffffffu); /* last possible lead-out: none */
	reply(c, 34, get16(&c->cdb[7]));
}

static void cmd_read_track_information(struct cmd *c)
{
	const struct atapi_drive *d = c->d;
	uint8_t *p = c->buf;
	uint32_t v = get32(&c->cdb[2]);
	uint64_t b = blocks(d);

	switch (c->cdb[1] & 0x03) {
	case 0: /* the track holding LBA v */
		if (v >= b) {
			fail(c, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, 0);
			return;
		}
		break;
	case 1: /* track v */
	case 2: /* the first track of session v */
		if (v != 1) {
			invalid_field(c);
			return;
		}
		break;
	default:
		invalid_field(c);
		return;
	}
	put16(&p[0], 46);
	p[2] = 1;    /* track */
	p[3] = 1;    /* session */
	p[5] = 0x04; /* track mode: data, recorded uninterrupted */
	p[6] = 0x01; /* data mode 1 */
	put32(&p[24], b > 0xffffffffu ? 0xffffffffu : (uint32_t)b); /* track size */
	put32(&p[28], last_lba(d) > 0xffffffffu ? 0xffffffffu : (uint32_t)last_lba(d)); /* last */
	reply(c, 48, get16(&c->cdb[7]));
}

static void cmd_prevent_allow(struct cmd *c)
{
	c->d->prevent_removal = c->cdb[4] & 0x01;
	reply(c, 0, 0);
}

/* START STOP UNIT: accepted, but the medium stays; an eject while locked is refused. */
static void cmd_start_stop(struct cmd *c)
{
	bool start = c->cdb[4] & 0x01, loej = c->cdb[4] & 0x02;
	if (loej && !start && c->d->prevent_removal) {
		fail(c, SENSE_ILLEGAL_REQUEST, ASC_MEDIUM_REMOVAL_PREVENTED, 0x02);
		return;
	}
	reply(c, 0, 0);
}

/* MECHANISM STATUS: no changer, idle, tray closed, no slot table. */
static void cmd_mechanism_status(struct cmd *c)
{
	reply(c, 8, get16(&c->cdb[8]));
}

static void cmd_report_luns(struct cmd *c)
{
	uint32_t alloc = get32(&c->cdb[6]);
	uint8_t select = c->cdb[2];
	if (alloc < 16 || select > 2) { /* SPC-3: at least 16 bytes */
		invalid_field(c);
		return;
	}
	if (select == 1) { /* well-known LUNs only: none */
		reply(c, 8, alloc);
		return;
	}
	put32(&c->buf[0], 8); /* one LUN: 0 */
	reply(c, 16, alloc);
}

static void cmd_accept(struct cmd *c)
{
	reply(c, 0, 0);
}

static void cmd_seek(struct cmd *c)
{
	if (range_ok(c, get32(&c->cdb[2]), 0))
		reply(c, 0, 0);
}

static void cmd_verify(struct cmd *c)
{
	if (c->cdb[1] & 0x02) { /* BYTCHK: would need data from the host */
		invalid_field(c);
		return;
	}
	if (range_ok(c, get32(&c->cdb[2]), get16(&c->cdb[7])))
		reply(c, 0, 0);
}

struct command {
	uint8_t opcode;
	bool needs_medium;
	void (*fn)(struct cmd *c);
};

static const struct command commands[] = {
    {0x00, true, cmd_test_unit_ready},
    {0x03, false, cmd_request_sense},
    {0x12, false, cmd_inquiry},
    {0x1a, false, cmd_mode_sense},
    {0x1b, false, cmd_start_stop},
    {0x1e, false, cmd_prevent_allow},
    {0x25, true, cmd_read_capacity},
    {0x28, true, cmd_read10},
    {0x2b, true, cmd_seek},
    {0x2f, true, cmd_verify},
    {0x43, true, cmd_read_toc},
    {0x46, false, cmd_get_configuration},
    {0x4a, false, cmd_get_event_status},
    {0x51, true, cmd_read_disc_information},
    {0x52, true, cmd_read_track_information},
    {0x5a, false, cmd_mode_sense},
    {0x88, true, cmd_read16},
    {0x9e, false, cmd_service_action_in}, /* checks the medium after the service action */
    {0xa0, false, cmd_report_luns},
    {0xa8, true, cmd_read12},
    {0xbb, false, cmd_accept}, /* SET CD SPEED */
    {0xbd, false, cmd_mechanism_status},
    {0xbe, true, cmd_read_cd},
};

void atapi_init(struct atapi_drive *d, uint64_t size, bool has_medium, const char *model,
		const char *rev, const char *serial)
{
	memset(d, 0, sizeof(*d));
	d->size = size;
	d->has_medium = has_medium;
	snprintf(d->model, sizeof(d->model), "%s", model ? model : "BHYVE DVD-ROM");
	snprintf(d->rev, sizeof(d->rev), "%s", rev ? rev : "001");
	snprintf(d->serial, sizeof(d->serial), "%s", serial ? serial : "");
	d->media_event = has_medium;
}

void atapi_command_len(struct atapi_drive *d, const uint8_t *cdb, unsigned cdb_len,
		       uint8_t *reply_buf, struct atapi_result *r)
{
	struct cmd c;
	const struct command *cmd = NULL;

	memset(&c, 0, sizeof(c));
	c.d = d;
	if (cdb_len > ATAPI_CDB_MAX)
		cdb_len = ATAPI_CDB_MAX;
	memcpy(c.cdb, cdb, cdb_len);
	c.cdb_len = cdb_len;
	memset(r, 0, sizeof(*r));

	for (size_t i = 0; i < ARRAY_LEN(commands); i++) {
		if (commands[i].opcode == c.cdb[0]) {
			cmd = &commands[i];
			break;
		}
	}
	if (!cmd)
		fail(&c, SENSE_ILLEGAL_REQUEST, ASC_INVALID_OPCODE, 0);
	else if (cmd->needs_medium && !d->has_medium)
		fail(&c, SENSE_NOT_READY, ASC_MEDIUM_NOT_PRESENT, 0);
	else
		cmd->fn(&c);

	if (c.failed) {
		r->action = ATAPI_ERROR;
		return;
	}
	/* Success clears the sense data (REQUEST SENSE has already copied it out). */
	d->sense_key = SENSE_NONE;
	d->asc = 0;
	d->ascq = 0;
	if (c.read) {
		r->action = ATAPI_READ;
		r->lba = c.lba;
		r->nblocks = c.nblocks;
		return;
	}
	r->action = ATAPI_DATA;
	r->len = c.n < c.alloc ? c.n : c.alloc;
	memcpy(reply_buf, c.buf, r->len);
}

void atapi_command(struct atapi_drive *d, const uint8_t cdb[12], uint8_t *reply_buf,
		   struct atapi_result *r)
{
	atapi_command_len(d, cdb, 12, reply_buf, r);
}

uint8_t atapi_error_reg(const struct atapi_drive *d)
{
	return (uint8_t)(d->sense_key << 4 | (d->sense_key == SENSE_ILLEGAL_REQUEST ? 0x04 : 0));
}

void atapi_set_read_error(struct atapi_drive *d)
{
	d->sense_key = SENSE_MEDIUM_ERROR;
	d->asc = ASC_UNRECOVERED_READ_ERROR;
	d->ascq = 0;
}
