/* SPDX-License-Identifier: BSD-2-Clause */
/* The live-migration stream between two bhyve processes (bhyvectl --migrate, bhyve -R): framed
 * and versioned, little-endian. Every frame is a 16-byte header, "KBMG", u16 version, u16 type,
 * u64 payload length, then the payload:
 *   source -> destination                       destination -> source
 *   HELLO  the VM's description (.meta JSON)     OK / ERROR (text): it fits / why not
 *   MEM    u64 RAM offset, then whole pages
 *   ZERO   u64 RAM offset, u64 length (pages)
 *   STATE  the .kern image (vCPUs and devices)
 *   DONE   the stream is complete                READY: loaded, waiting / ERROR
 *   COMMIT the source has stopped: run           (the destination runs; the source exits)
 * RAM offsets count guest RAM as one range, low memory then memory above 4 GiB (as FILE of a
 * snapshot). The parser takes untrusted bytes: lengths and offsets are checked here. */
#ifndef KB_MIGPROTO_H
#define KB_MIGPROTO_H

#include <stddef.h>
#include <stdint.h>

#define MIG_MAGIC "KBMG"
#define MIG_VERSION 1
#define MIG_HDR 16
#define MIG_PAGE 4096u
#define MIG_MEM_MAX (16u << 20)	 /* bytes of pages in one MEM frame */
#define MIG_TEXT_MAX (16u << 20) /* HELLO, ERROR */

enum mig_type {
	MIG_HELLO = 1,
	MIG_OK,
	MIG_ERROR,
	MIG_MEM,
	MIG_ZERO,
	MIG_STATE,
	MIG_DONE,
	MIG_READY,
	MIG_COMMIT,
};

struct mig_frame {
	uint16_t type;
	uint64_t len; /* payload bytes */
};

void mig_header(uint8_t hdr[MIG_HDR], uint16_t type, uint64_t len);
/* Check a header: known type, version, a payload length the type allows (STATE up to
 * state_max). 0, or -EPROTO with one line in err. */
int mig_parse_header(const uint8_t hdr[MIG_HDR], size_t state_max, struct mig_frame *f,
		     char *err, size_t errlen);
/* A MEM payload's (offset, bytes) or a ZERO payload's (offset, length) inside RAM of `ramsize`
 * bytes, page aligned. 0 with *off and *len set, or -EPROTO with one line in err. */
int mig_parse_range(const struct mig_frame *f, const uint8_t *payload, uint64_t ramsize,
		    uint64_t *off, uint64_t *len, char *err, size_t errlen);
const char *mig_type_name(uint16_t type);

/* Blocking stream helpers over a socket: the whole buffer or -errno (-EPIPE at the end of the
 * stream). timeout_ms < 0 waits without limit. */
int mig_send(int fd, uint16_t type, const void *payload, size_t len);
int mig_send2(int fd, uint16_t type, const void *a, size_t alen, const void *b, size_t blen);
int mig_recv_all(int fd, void *buf, size_t len, int timeout_ms);

#endif
