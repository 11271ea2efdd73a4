/* SPDX-License-Identifier: BSD-2-Clause */
/* IDENTIFY DEVICE and IDENTIFY PACKET DEVICE data of the AHCI ports (ACS-3 7.12, 7.13), built
 * from the port's backend and options each time the guest asks, so SET FEATURES / SET MULTIPLE
 * changes show. Words are host values here; the port stores them little-endian.
 *
 * What a disk reports: LBA48 capacity (and the 28-bit field capped), NCQ with 32 tags, SATA
 * Gen1-3, write cache (enabled per SET FEATURES), FLUSH CACHE (EXT), General Purpose Logging,
 * DATA SET MANAGEMENT TRIM only when the backend can delete, logical/physical sector sizes and
 * the rotation rate (nmrr). A cd reports the PACKET feature set, a removable CD-ROM device. */
#include <string.h>

#include "ahci/ahci.h"

void ata_string(uint16_t *w, const char *s, unsigned len)
{
	size_t n = s ? strlen(s) : 0;
	for (unsigned i = 0; i < len; i += 2) {
		uint8_t a = i < n ? (uint8_t)s[i] : ' ';
		uint8_t b = i + 1 < n ? (uint8_t)s[i + 1] : ' ';
		w[i / 2] = (uint16_t)(a << 8 | b); /* first character in the high byte */
	}
}

static void checksum(uint16_t w[256])
{
	uint8_t sum = 0xa5;
	w[255] = 0xa5;
	for (int i = 0; i < 255; i++)
		sum = (uint8_t)(sum + (w[i] & 0xff) + (w[i] >> 8));
	w[255] = (uint16_t)(0xa5 | (uint8_t)(-sum) << 8);
}

/* Words 63 and 88 with the mode chosen by SET FEATURES (mode: 0x20+n MWDMA n, 0x40+n UDMA n) */
static void dma_modes(const struct ata_ident_info *in, uint16_t w[256])
{
	w[63] = 0x0007;
	w[88] = 0x007f;
	if ((in->xfer_mode & 0xf8) == 0x20)
		w[63] |= (uint16_t)(1u << ((in->xfer_mode & 7) + 8));
	else if ((in->xfer_mode & 0xf8) == 0x40)
		w[88] |= (uint16_t)(1u << ((in->xfer_mode & 7) + 8));
	else
		w[88] |= 1u << (6 + 8); /* UDMA 6 until told otherwise */
}

static void common(const struct ata_ident_info *in, uint16_t w[256])
{
	memset(w, 0, 512);
	ata_string(&w[10], in->serial, 20);
	ata_string(&w[23], in->rev, 8);
	ata_string(&w[27], in->model, 40);
	w[53] = 0x0006; /* words 64-70 and 88 valid */
	w[64] = 0x0003; /* PIO 3 and 4 */
	w[65] = w[66] = w[67] = w[68] = 120;
	dma_modes(in, w);
	w[80] = 0x07f0;	 /* ATA/ATAPI-4 .. ACS-3 */
	w[222] = 0x103f; /* SATA 1.0a .. 3.1 */
}

void ata_identify_disk(const struct ata_ident_info *in, uint16_t w[256])
{
	common(in, w);
	uint64_t n = in->sectors;
	/* legacy CHS: 16 heads, 63 sectors, at most 16383 cylinders */
	uint64_t cyl = n / (16 * 63);
	if (cyl > 16383)
		cyl = 16383;
	w[0] = 0x0040; /* fixed device */
	w[1] = w[54] = (uint16_t)cyl;
	w[3] = w[55] = 16;
	w[6] = w[56] = 63;
	uint32_t chs = (uint32_t)(cyl * 16 * 63);
	w[57] = (uint16_t)chs;
	w[58] = (uint16_t)(chs >> 16);
	w[47] = 0x8000 | 128; /* READ/WRITE MULTIPLE: up to 128 sectors */
	w[49] = 0x0f00;	      /* IORDY, LBA, DMA */
	w[50] = 0x4000;
	w[59] = (uint16_t)(in->mult ? 0x100 | in->mult : 0);
	uint32_t lba28 = n > 0x0fffffff ? 0x0fffffff : (uint32_t)n;
	w[60] = (uint16_t)lba28;
	w[61] = (uint16_t)(lba28 >> 16);
	w[75] = 31;	/* queue depth - 1 */
	w[76] = 0x010e; /* NCQ, Gen1-3 */
	w[77] = 0x0006; /* current speed Gen3 */
	w[82] = 0x4060; /* NOP, read look-ahead, write cache */
	w[83] = 0x7400; /* FLUSH CACHE EXT, FLUSH CACHE, 48-bit */
	w[84] = 0x4020; /* General Purpose Logging */
	w[85] = (uint16_t)(0x0040 | (in->wce ? 0x0020 : 0));
	w[86] = 0x3400;
	w[87] = 0x4020;
	for (int i = 0; i < 4; i++)
		w[100 + i] = (uint16_t)(n >> (16 * i));
	unsigned ss = in->sectsz ? in->sectsz : 512, ps = in->psectsz ? in->psectsz : ss;
	w[106] = 0x4000;
	unsigned exp = 0;
	while ((ss << exp) < ps && exp < 15)
		exp++;
	if (exp)
		w[106] |= (uint16_t)(0x2000 | exp);
	if (ss > 512) {
		w[106] |= 0x1000;
		w[117] = (uint16_t)(ss / 2);
		w[118] = (uint16_t)((ss / 2) >> 16);
	}
	if (in->trim) {
		w[105] = ATA_DSM_MAX_BLOCKS;
		w[169] = 0x0001;
	}
	w[217] = (uint16_t)in->nmrr;
	checksum(w);
}

void ata_identify_packet(const struct ata_ident_info *in, uint16_t w[256])
{
	common(in, w);
	w[0] = 0x85c0;	/* ATAPI, CD-ROM, removable, 50 us DRQ, 12-byte packets */
	w[49] = 0x0300; /* LBA, DMA */
	w[76] = 0x000e; /* Gen1-3, no NCQ */
	w[77] = 0x0006;
	w[82] = 0x0010; /* PACKET feature set */
	w[83] = 0x4000;
	w[84] = 0x4000;
	w[85] = 0x0010;
	w[87] = 0x4000;
	checksum(w);
}
