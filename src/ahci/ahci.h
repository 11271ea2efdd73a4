/* SPDX-License-Identifier: BSD-2-Clause */
/* AHCI 1.3 SATA controller (bhyve's `ahci`, `ahci-hd`, `ahci-cd`): register layout, FIS and ATA
 * command codes, and the interfaces between the parts of the model:
 *   ahci.c         the PCI function, HBA and port registers, command slots, completion, DMA
 *   ahci_ata.c     executing one ATA command, or an ATAPI PACKET through atapi.c, on a port
 *   ahci_port.h    the structures and helpers ahci.c and ahci_ata.c share (private)
 *   ahci_config.c  the -s option strings and the per-port configuration (pci.B.S.F.port.N.*)
 *   ata_identify.c IDENTIFY DEVICE and IDENTIFY PACKET DEVICE data
 *   atapi.c        the ATAPI packet commands of a cd port (atapi.h)
 * Every multi-byte value in guest memory (command headers, FIS, PRDT) is little-endian. */
#ifndef KB_AHCI_H
#define KB_AHCI_H

#include <stdbool.h>
#include <stdint.h>

struct cfgnode;

#define AHCI_MAX_PORTS 32
#define AHCI_MIN_PORTS 6 /* bhyve's DEF_PORTS: NP and the BAR cover at least this many */
#define AHCI_SLOTS 32
#define AHCI_BAR 5

/* ---- HBA registers (ABAR offsets) ---- */
#define AHCI_CAP 0x00
#define AHCI_GHC 0x04
#define AHCI_IS 0x08
#define AHCI_PI 0x0c
#define AHCI_VS 0x10
#define AHCI_CCC_CTL 0x14
#define AHCI_CCC_PORTS 0x18
#define AHCI_EM_LOC 0x1c
#define AHCI_EM_CTL 0x20
#define AHCI_CAP2 0x24
#define AHCI_BOHC 0x28
#define AHCI_PORT_BASE 0x100
#define AHCI_PORT_STEP 0x80

#define AHCI_CAP_NP_MASK 0x1fu
#define AHCI_CAP_SXS (1u << 5)
#define AHCI_CAP_NCS_SHIFT 8
#define AHCI_CAP_PSC (1u << 13)
#define AHCI_CAP_SSC (1u << 14)
#define AHCI_CAP_PMD (1u << 15)
#define AHCI_CAP_ISS_SHIFT 20
#define AHCI_CAP_SCLO (1u << 24)
#define AHCI_CAP_SAL (1u << 25)
#define AHCI_CAP_SALP (1u << 26)
#define AHCI_CAP_SSS (1u << 27)
#define AHCI_CAP_SSNTF (1u << 29)
#define AHCI_CAP_SNCQ (1u << 30)
#define AHCI_CAP_S64A (1u << 31)

#define AHCI_GHC_HR (1u << 0)
#define AHCI_GHC_IE (1u << 1)
#define AHCI_GHC_AE (1u << 31)

#define AHCI_VERSION 0x00010300u /* 1.3 */

/* ---- port registers (offsets inside a port's 0x80 bytes) ---- */
#define AHCI_P_CLB 0x00
#define AHCI_P_CLBU 0x04
#define AHCI_P_FB 0x08
#define AHCI_P_FBU 0x0c
#define AHCI_P_IS 0x10
#define AHCI_P_IE 0x14
#define AHCI_P_CMD 0x18
#define AHCI_P_TFD 0x20
#define AHCI_P_SIG 0x24
#define AHCI_P_SSTS 0x28
#define AHCI_P_SCTL 0x2c
#define AHCI_P_SERR 0x30
#define AHCI_P_SACT 0x34
#define AHCI_P_CI 0x38
#define AHCI_P_SNTF 0x3c
#define AHCI_P_FBS 0x40

/* PxIS / PxIE */
#define AHCI_P_IX_DHRS (1u << 0)
#define AHCI_P_IX_PSS (1u << 1)
#define AHCI_P_IX_DSS (1u << 2)
#define AHCI_P_IX_SDBS (1u << 3)
#define AHCI_P_IX_UFS (1u << 4)
#define AHCI_P_IX_DPS (1u << 5)
#define AHCI_P_IX_PCS (1u << 6)
#define AHCI_P_IX_IFS (1u << 27)
#define AHCI_P_IX_HBDS (1u << 28)
#define AHCI_P_IX_HBFS (1u << 29)
#define AHCI_P_IX_TFES (1u << 30)
#define AHCI_P_IX_CPDS (1u << 31)
#define AHCI_P_IE_MASK 0xfdc000ffu /* the writable PxIE bits */

/* PxCMD */
#define AHCI_P_CMD_ST (1u << 0)
#define AHCI_P_CMD_SUD (1u << 1)
#define AHCI_P_CMD_POD (1u << 2)
#define AHCI_P_CMD_CLO (1u << 3)
#define AHCI_P_CMD_FRE (1u << 4)
#define AHCI_P_CMD_CCS_SHIFT 8
#define AHCI_P_CMD_CCS_MASK (0x1fu << 8)
#define AHCI_P_CMD_FR (1u << 14)
#define AHCI_P_CMD_CR (1u << 15)
#define AHCI_P_CMD_ATAPI (1u << 24)
#define AHCI_P_CMD_DLAE (1u << 25)
#define AHCI_P_CMD_ALPE (1u << 26)
#define AHCI_P_CMD_ASP (1u << 27)
#define AHCI_P_CMD_ICC_MASK (0xfu << 28)
/* bits the driver may set; the rest are read-only or self-clearing */
#define AHCI_P_CMD_RW                                                                              \
	(AHCI_P_CMD_ST | AHCI_P_CMD_FRE | AHCI_P_CMD_ATAPI | AHCI_P_CMD_DLAE | AHCI_P_CMD_ALPE |   \
	 AHCI_P_CMD_ASP)

/* PxSSTS: DET 3 (device present, communication established), SPD Gen3, IPM active */
#define AHCI_SSTS_PRESENT 0x133u
#define AHCI_SCTL_DET_MASK 0xfu
#define AHCI_SCTL_DET_COMRESET 0x1u

/* Signatures */
#define AHCI_SIG_ATA 0x00000101u
#define AHCI_SIG_ATAPI 0xeb140101u

/* ---- guest memory structures ---- */
#define AHCI_CMDHDR_SIZE 32
#define AHCI_CMDHDR_CFL_MASK 0x1fu
#define AHCI_CMDHDR_A (1u << 5)
#define AHCI_CMDHDR_W (1u << 6)
#define AHCI_CMDHDR_PMP_SHIFT 12
#define AHCI_CT_CFIS 0x00
#define AHCI_CT_ACMD 0x40
#define AHCI_CT_PRDT 0x80
#define AHCI_PRD_SIZE 16
#define AHCI_PRD_DBC_MASK 0x3fffffu /* byte count - 1, bit 0 always 1 (even counts) */
#define AHCI_PRD_I (1u << 31)

/* Received-FIS area (256 bytes, no FIS-based switching) */
#define AHCI_RFIS_SIZE 256
#define AHCI_RFIS_PSFIS 0x20
#define AHCI_RFIS_RFIS 0x40
#define AHCI_RFIS_SDBFIS 0x58

/* FIS types */
#define FIS_H2D 0x27
#define FIS_D2H 0x34
#define FIS_PIO_SETUP 0x5f
#define FIS_SDB 0xa1
#define FIS_H2D_C 0x80 /* byte 1: command (else a device control update) */
#define FIS_I 0x40     /* byte 1 of a device-to-host FIS: interrupt */

/* ATA status and error register bits */
#define ATA_S_ERR 0x01
#define ATA_S_DRQ 0x08
#define ATA_S_DSC 0x10
#define ATA_S_DF 0x20
#define ATA_S_DRDY 0x40
#define ATA_S_BSY 0x80
#define ATA_E_ABRT 0x04
#define ATA_E_IDNF 0x10
#define ATA_E_UNC 0x40
#define ATA_CTL_SRST 0x04

/* ATA commands */
#define ATA_NOP 0x00
#define ATA_DSM 0x06
#define ATA_READ_SECTORS 0x20
#define ATA_READ_SECTORS_EXT 0x24
#define ATA_READ_DMA_EXT 0x25
#define ATA_READ_MULTIPLE_EXT 0x29
#define ATA_READ_LOG_EXT 0x2f
#define ATA_WRITE_SECTORS 0x30
#define ATA_WRITE_SECTORS_EXT 0x34
#define ATA_WRITE_DMA_EXT 0x35
#define ATA_WRITE_MULTIPLE_EXT 0x39
#define ATA_READ_VERIFY 0x40
#define ATA_READ_VERIFY_EXT 0x42
#define ATA_READ_LOG_DMA_EXT 0x47
#define ATA_READ_FPDMA_QUEUED 0x60
#define ATA_WRITE_FPDMA_QUEUED 0x61
#define ATA_PACKET 0xa0
#define ATA_IDENTIFY_PACKET 0xa1
#define ATA_SMART 0xb0
#define ATA_READ_MULTIPLE 0xc4
#define ATA_WRITE_MULTIPLE 0xc5
#define ATA_SET_MULTIPLE 0xc6
#define ATA_READ_DMA 0xc8
#define ATA_WRITE_DMA 0xca
#define ATA_STANDBY_IMMEDIATE 0xe0
#define ATA_IDLE_IMMEDIATE 0xe1
#define ATA_STANDBY 0xe2
#define ATA_IDLE 0xe3
#define ATA_CHECK_POWER_MODE 0xe5
#define ATA_SLEEP 0xe6
#define ATA_FLUSH_CACHE 0xe7
#define ATA_FLUSH_CACHE_EXT 0xea
#define ATA_IDENTIFY 0xec
#define ATA_SET_FEATURES 0xef
#define ATA_SECURITY_FREEZE_LOCK 0xf5

/* SET FEATURES subcommands */
#define ATA_SF_ENAB_WCACHE 0x02
#define ATA_SF_SETXFER 0x03
#define ATA_SF_ENAB_SATA 0x10
#define ATA_SF_DIS_RLA 0x55
#define ATA_SF_DIS_WCACHE 0x82
#define ATA_SF_DIS_SATA 0x90
#define ATA_SF_ENAB_RLA 0xaa

/* DATA SET MANAGEMENT */
#define ATA_DSM_TRIM 0x01
#define ATA_DSM_MAX_BLOCKS 8 /* 512-byte blocks of ranges per command (IDENTIFY word 105) */

/* General Purpose Logging pages */
#define ATA_LOG_DIRECTORY 0x00
#define ATA_LOG_NCQ_ERROR 0x10

/* ---- per-port configuration (ahci_config.c) ---- */

enum ahci_port_type { AHCI_PORT_NONE = 0, AHCI_PORT_HD, AHCI_PORT_CD };

struct ahci_port_cfg {
	enum ahci_port_type type;
	struct cfgnode *node; /* pci.B.S.F.port.N (block options are read from it) */
	bool has_path;	      /* a cd port without a path is an empty drive */
	unsigned nmrr;	      /* IDENTIFY word 217: 0 not reported, 1 non-rotating */
	char serial[21], rev[9], model[41];
	bool serial_set; /* ser= given (else the default from the path) */
};

/* -s conf parsers: "hd:PATH[,opts],cd:PATH[,opts],..." for ahci; "PATH[,opts]" as port 0 for
 * ahci-hd and ahci-cd. 0 or -EINVAL after one kb_log line. */
int ahci_legacy_config(struct cfgnode *devnode, const char *opts);
int ahci_hd_legacy_config(struct cfgnode *devnode, const char *opts);
int ahci_cd_legacy_config(struct cfgnode *devnode, const char *opts);

/* Validate the device node and read every port: cfg[0..AHCI_MAX_PORTS) (type NONE where no port
 * is configured). `emu` is the emulation name: a node with `path` but no `port` node is port 0
 * of that type (ahci-hd / ahci-cd set through -o). 0 or -EINVAL after one kb_log line. */
int ahci_read_config(struct cfgnode *devnode, const char *emu, struct ahci_port_cfg *cfg);

/* ---- IDENTIFY data (ata_identify.c) ---- */

struct ata_ident_info {
	const char *serial, *rev, *model;
	uint64_t sectors;	  /* logical sectors */
	unsigned sectsz, psectsz; /* logical and physical sector size, bytes */
	bool trim;		  /* DATA SET MANAGEMENT TRIM works */
	bool wce;		  /* write cache enabled */
	unsigned nmrr;		  /* nominal media rotation rate */
	unsigned mult;		  /* SET MULTIPLE MODE sectors (0: not set) */
	uint8_t xfer_mode;	  /* last SET FEATURES transfer mode (0: none) */
};

/* 256 words of IDENTIFY DEVICE (disk) or IDENTIFY PACKET DEVICE (cd), little-endian words,
 * with the checksum in word 255. */
void ata_identify_disk(const struct ata_ident_info *in, uint16_t w[256]);
void ata_identify_packet(const struct ata_ident_info *in, uint16_t w[256]);
/* An ATA string: `len` bytes, space padded, the two bytes of each word swapped. */
void ata_string(uint16_t *w, const char *s, unsigned len);

#endif
