/* SPDX-License-Identifier: BSD-2-Clause */
/* e1000 (Intel 82545EM) register offsets, bit definitions and descriptor layouts, as the
 * 8254x family software developer's manual names them. Only what the device model uses.
 * Descriptors are little-endian 16-byte records in guest memory; the offsets below are byte
 * offsets inside one descriptor. */
#ifndef KB_E1000_REGS_H
#define KB_E1000_REGS_H

/* ---- PCI identity ---- */
#define E1000_VENDOR_INTEL 0x8086
#define E1000_DEV_82545EM 0x100F
#define E1000_SUBSYS_ID 0x1008

#define E1000_BAR_REGS 0
#define E1000_BAR_FLASH 1
#define E1000_BAR_IO 2
#define E1000_REGS_SIZE 0x20000u /* 128 KiB */
#define E1000_FLASH_SIZE 0x10000u
/* The 82545EM's I/O BAR is 8 bytes (IOADDR, IODATA); the PCI bus allocates 16 at least, so
 * offsets 8-15 read 0 and ignore writes. */
#define E1000_IO_SIZE 16u

/* ---- register offsets ---- */
#define E1000_CTRL 0x0000
#define E1000_STATUS 0x0008
#define E1000_EECD 0x0010
#define E1000_EERD 0x0014
#define E1000_CTRL_EXT 0x0018
#define E1000_FLA 0x001C
#define E1000_MDIC 0x0020
#define E1000_FCAL 0x0028
#define E1000_FCAH 0x002C
#define E1000_FCT 0x0030
#define E1000_VET 0x0038
#define E1000_ICR 0x00C0
#define E1000_ITR 0x00C4
#define E1000_ICS 0x00C8
#define E1000_IMS 0x00D0
#define E1000_IMC 0x00D8
#define E1000_RCTL 0x0100
#define E1000_FCTTV 0x0170
#define E1000_TXCW 0x0178
#define E1000_RXCW 0x0180
#define E1000_TCTL 0x0400
#define E1000_TIPG 0x0410
#define E1000_AIT 0x0458
#define E1000_LEDCTL 0x0E00
#define E1000_PBA 0x1000
#define E1000_FCRTL 0x2160
#define E1000_FCRTH 0x2168
#define E1000_RDBAL 0x2800
#define E1000_RDBAH 0x2804
#define E1000_RDLEN 0x2808
#define E1000_RDH 0x2810
#define E1000_RDT 0x2818
#define E1000_RDTR 0x2820
#define E1000_RXDCTL 0x2828
#define E1000_RADV 0x282C
#define E1000_RSRPD 0x2C00
#define E1000_TDBAL 0x3800
#define E1000_TDBAH 0x3804
#define E1000_TDLEN 0x3808
#define E1000_TDH 0x3810
#define E1000_TDT 0x3818
#define E1000_TIDV 0x3820
#define E1000_TXDCTL 0x3828
#define E1000_TADV 0x382C
#define E1000_TSPMT 0x3830
#define E1000_STATS_BASE 0x4000
#define E1000_STATS_END 0x4100
#define E1000_RXCSUM 0x5000
#define E1000_MTA 0x5200  /* 128 entries */
#define E1000_RA 0x5400	  /* 16 pairs RAL/RAH */
#define E1000_VFTA 0x5600 /* 128 entries */
#define E1000_WUC 0x5800
#define E1000_WUFC 0x5808
#define E1000_WUS 0x5810
#define E1000_MANC 0x5820

#define E1000_MTA_N 128
#define E1000_RA_N 16
#define E1000_VFTA_N 128

/* statistics (dword index from E1000_STATS_BASE) */
#define E1000_ST(off) (((off)-E1000_STATS_BASE) / 4)
#define E1000_ST_MPC E1000_ST(0x4010)
#define E1000_ST_GPRC E1000_ST(0x4074)
#define E1000_ST_BPRC E1000_ST(0x4078)
#define E1000_ST_MPRC E1000_ST(0x407C)
#define E1000_ST_GPTC E1000_ST(0x4080)
#define E1000_ST_GORCL E1000_ST(0x4088) /* 64-bit pairs: low, high */
#define E1000_ST_GOTCL E1000_ST(0x4090)
#define E1000_ST_RNBC E1000_ST(0x40A0)
#define E1000_ST_ROC E1000_ST(0x40AC)
#define E1000_ST_TORL E1000_ST(0x40C0)
#define E1000_ST_TOTL E1000_ST(0x40C8)
#define E1000_ST_TPR E1000_ST(0x40D0)
#define E1000_ST_TPT E1000_ST(0x40D4)
#define E1000_ST_MPTC E1000_ST(0x40F0)
#define E1000_ST_BPTC E1000_ST(0x40F4)
#define E1000_ST_N 64

/* ---- CTRL ---- */
#define E1000_CTRL_FD 0x00000001u
#define E1000_CTRL_ASDE 0x00000020u
#define E1000_CTRL_SLU 0x00000040u
#define E1000_CTRL_SPD_1000 0x00000200u
#define E1000_CTRL_RST 0x04000000u
#define E1000_CTRL_VME 0x40000000u
#define E1000_CTRL_PHY_RST 0x80000000u

/* ---- STATUS ---- */
#define E1000_STATUS_FD 0x00000001u
#define E1000_STATUS_LU 0x00000002u
#define E1000_STATUS_SPEED_1000 0x00000080u

/* ---- EECD: Microwire bit-banging ---- */
#define E1000_EECD_SK 0x00000001u
#define E1000_EECD_CS 0x00000002u
#define E1000_EECD_DI 0x00000004u
#define E1000_EECD_DO 0x00000008u
#define E1000_EECD_FWE 0x00000030u
#define E1000_EECD_REQ 0x00000040u
#define E1000_EECD_GNT 0x00000080u
#define E1000_EECD_PRES 0x00000100u
/* what software may set */
#define E1000_EECD_WRITABLE                                                                        \
	(E1000_EECD_SK | E1000_EECD_CS | E1000_EECD_DI | E1000_EECD_FWE | E1000_EECD_REQ)

/* ---- EERD ---- */
#define E1000_EERD_START 0x00000001u
#define E1000_EERD_DONE 0x00000010u
#define E1000_EERD_ADDR_SHIFT 8
#define E1000_EERD_DATA_SHIFT 16

#define E1000_EEPROM_WORDS 64
#define E1000_EEPROM_SUM 0xBABA
#define E1000_EE_ICW1 0x0A
#define E1000_EE_SUBSYS 0x0B
#define E1000_EE_SUBVEND 0x0C
#define E1000_EE_DEVID 0x0D
#define E1000_EE_VENDID 0x0E
#define E1000_EE_ICW2 0x0F
#define E1000_EE_CHECKSUM 0x3F

/* ---- MDIC and the PHY (Marvell 88E1011 at MDIO address 1) ---- */
#define E1000_MDIC_DATA_MASK 0x0000FFFFu
#define E1000_MDIC_REG_SHIFT 16
#define E1000_MDIC_PHY_SHIFT 21
#define E1000_MDIC_OP_WRITE 0x04000000u
#define E1000_MDIC_OP_READ 0x08000000u
#define E1000_MDIC_READY 0x10000000u
#define E1000_MDIC_INT_EN 0x20000000u
#define E1000_MDIC_ERROR 0x40000000u

#define E1000_PHY_ADDR 1
#define PHY_CTRL 0x00
#define PHY_STATUS 0x01
#define PHY_ID1 0x02
#define PHY_ID2 0x03
#define PHY_AUTONEG_ADV 0x04
#define PHY_LP_ABILITY 0x05
#define PHY_AUTONEG_EXP 0x06
#define PHY_1000T_CTRL 0x09
#define PHY_1000T_STATUS 0x0A
#define PHY_EXT_STATUS 0x0F
#define M88_PHY_SPEC_CTRL 0x10
#define M88_PHY_SPEC_STATUS 0x11
#define M88_INT_ENABLE 0x12
#define M88_INT_STATUS 0x13
#define M88_EXT_PHY_SPEC_CTRL 0x14
#define M88_RX_ERR_CNTR 0x15

#define MII_CR_RESTART_AUTO_NEG 0x0200u
#define MII_CR_RESET 0x8000u
#define M88E1011_ID1 0x0141u
#define M88E1011_ID2 0x0C20u

/* ---- interrupt causes (ICR/ICS/IMS/IMC) ---- */
#define E1000_ICR_TXDW 0x00000001u
#define E1000_ICR_TXQE 0x00000002u
#define E1000_ICR_LSC 0x00000004u
#define E1000_ICR_RXSEQ 0x00000008u
#define E1000_ICR_RXDMT0 0x00000010u
#define E1000_ICR_RXO 0x00000040u
#define E1000_ICR_RXT0 0x00000080u
#define E1000_ICR_MDAC 0x00000200u
#define E1000_ICR_VALID 0x0001F6DFu /* causes the 82545 has */

/* ---- RCTL ---- */
#define E1000_RCTL_EN 0x00000002u
#define E1000_RCTL_UPE 0x00000008u
#define E1000_RCTL_MPE 0x00000010u
#define E1000_RCTL_LPE 0x00000020u
#define E1000_RCTL_RDMTS_SHIFT 8
#define E1000_RCTL_MO_SHIFT 12
#define E1000_RCTL_BAM 0x00008000u
#define E1000_RCTL_BSIZE_SHIFT 16
#define E1000_RCTL_VFE 0x00040000u
#define E1000_RCTL_BSEX 0x02000000u
#define E1000_RCTL_SECRC 0x04000000u

/* ---- RXCSUM ---- */
#define E1000_RXCSUM_PCSS_MASK 0x000000FFu
#define E1000_RXCSUM_IPOFL 0x00000100u
#define E1000_RXCSUM_TUOFL 0x00000200u

/* ---- RAH ---- */
#define E1000_RAH_AV 0x80000000u

/* ---- TCTL ---- */
#define E1000_TCTL_EN 0x00000002u
#define E1000_TCTL_PSP 0x00000008u

/* ---- descriptor rings ---- */
#define E1000_DESC_SIZE 16
#define E1000_RING_LEN_MASK 0x000FFF80u /* RDLEN/TDLEN: multiples of 128 bytes */
#define E1000_RING_IDX_MASK 0x0000FFFFu

/* receive descriptor: addr le64 @0, length le16 @8, csum le16 @10, status @12, errors @13,
 * special le16 @14 */
#define E1000_RXD_LEN 8
#define E1000_RXD_CSUM 10
#define E1000_RXD_STATUS 12
#define E1000_RXD_ERRORS 13
#define E1000_RXD_SPECIAL 14
#define E1000_RXD_STAT_DD 0x01
#define E1000_RXD_STAT_EOP 0x02
#define E1000_RXD_STAT_IXSM 0x04
#define E1000_RXD_STAT_VP 0x08
#define E1000_RXD_STAT_TCPCS 0x20
#define E1000_RXD_STAT_IPCS 0x40
#define E1000_RXD_ERR_TCPE 0x20
#define E1000_RXD_ERR_IPE 0x40
#define E1000_RXD_ERR_RXE 0x80

/* transmit descriptors. Legacy: addr le64 @0, length le16 @8, cso @10, cmd @11, status @12,
 * css @13, special le16 @14. Context: ipcss @0, ipcso @1, ipcse le16 @2, tucss @4, tucso @5,
 * tucse le16 @6, paylen (20 bits) + dtyp (4 bits) le32 @8, tucmd @11, status @12, hdrlen @13,
 * mss le16 @14. Data: addr le64 @0, length (20 bits) + dtyp le32 @8, dcmd @11, status @12,
 * popts @13, special le16 @14. */
#define E1000_TXD_LEN 8
#define E1000_TXD_CSO 10
#define E1000_TXD_CMD 11
#define E1000_TXD_STATUS 12
#define E1000_TXD_CSS 13
#define E1000_TXD_POPTS 13
#define E1000_TXD_HDRLEN 13
#define E1000_TXD_SPECIAL 14
#define E1000_TXD_MSS 14
#define E1000_TXD_DTYP_SHIFT 20
#define E1000_TXD_DTYP_C 0
#define E1000_TXD_DTYP_D 1
#define E1000_TXD_LEN20_MASK 0x000FFFFFu
/* command byte */
#define E1000_TXD_CMD_EOP 0x01
#define E1000_TXD_CMD_IFCS 0x02
#define E1000_TXD_CMD_IC 0x04
#define E1000_TXD_CMD_TCP 0x01 /* context: TCP (else UDP) */
#define E1000_TXD_CMD_IP 0x02  /* context: IPv4 (else IPv6) */
#define E1000_TXD_CMD_TSE 0x04
#define E1000_TXD_CMD_RS 0x08
#define E1000_TXD_CMD_RPS 0x10
#define E1000_TXD_CMD_DEXT 0x20
#define E1000_TXD_CMD_VLE 0x40
#define E1000_TXD_CMD_IDE 0x80
#define E1000_TXD_STAT_DD 0x01
#define E1000_TXD_POPTS_IXSM 0x01
#define E1000_TXD_POPTS_TXSM 0x02

#endif
