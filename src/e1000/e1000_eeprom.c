/* SPDX-License-Identifier: BSD-2-Clause */
/* e1000: the 64-word Microwire EEPROM (bit-banged through EECD, or read through EERD) and the
 * Marvell 88E1011 copper PHY behind MDIC.
 *
 * EEPROM: words 0-2 the MAC address, the init control words and IDs of an 82545EM, word 0x3F
 * the checksum that makes the sum of all 64 words 0xBABA (Linux refuses the NIC otherwise).
 * Microwire frames, sampled on SK's rising edge while CS is high: leading zeros, a start bit,
 * a 2-bit opcode, 6 address bits; READ (10b) then shifts the word out on DO, MSB first, after a
 * dummy 0, and continues with the next words while CS stays high. EWEN/EWDS, WRITE, ERASE,
 * WRAL and ERAL change the in-memory copy only (and only after EWEN); DO reads 1 (ready) when
 * no word is being shifted out. CS low ends any frame; any bit pattern is harmless.
 *
 * PHY (MDIO address 1): always linked at 1000 Mb/s full duplex with autonegotiation complete;
 * the control and advertisement registers keep what the driver writes, the status and ID
 * registers are read-only. MDIC completes at once (READY), other PHY addresses answer ERROR.
 */
#include <string.h>

#include "e1000/e1000.h"

void e1000_eeprom_init(struct e1000 *e)
{
	uint16_t *w = e->ee.words;
	memset(w, 0, sizeof(e->ee.words));
	for (int i = 0; i < 3; i++)
		w[i] = (uint16_t)(e->mac[2 * i] | e->mac[2 * i + 1] << 8);
	w[0x04] = 0xFFFF; /* LED settings: the driver's defaults */
	w[0x08] = 0x2000; /* PBA number */
	w[0x09] = 0x0100;
	/* ICW1: signature 01b, load subsystem and device IDs from here */
	w[E1000_EE_ICW1] = 0x4000 | 0x0002 | 0x0001;
	w[E1000_EE_SUBSYS] = E1000_SUBSYS_ID;
	w[E1000_EE_SUBVEND] = E1000_VENDOR_INTEL;
	w[E1000_EE_DEVID] = E1000_DEV_82545EM;
	w[E1000_EE_VENDID] = E1000_VENDOR_INTEL;
	/* ICW2: symmetric and asymmetric pause advertised (the driver's flow-control default) */
	w[E1000_EE_ICW2] = 0x3000;
	w[0x24] = 0x0000; /* init control 3: no wake-on-LAN */
	uint16_t sum = 0;
	for (int i = 0; i < E1000_EE_CHECKSUM; i++)
		sum = (uint16_t)(sum + w[i]);
	w[E1000_EE_CHECKSUM] = (uint16_t)(E1000_EEPROM_SUM - sum);
	e->ee.eecd = 0;
	e->ee.state = EE_IDLE;
	e->ee.do_bit = true;
	e->ee.write_en = false;
}

static void ee_store(struct e1000_eeprom *ee, unsigned addr, uint16_t v)
{
	if (ee->write_en)
		ee->words[addr % E1000_EEPROM_WORDS] = v;
}

/* The 8 bits after the start bit are in: opcode (2) and address (6). */
static void ee_command(struct e1000_eeprom *ee)
{
	unsigned op = (ee->shift >> 6) & 3, addr = ee->shift & 0x3f;
	ee->addr = (uint8_t)addr;
	ee->nbits = 0;
	ee->shift = 0;
	ee->all = false;
	switch (op) {
	case 2: /* READ */
		ee->state = EE_DATA_OUT;
		ee->shift = ee->words[addr];
		ee->do_bit = false; /* the dummy bit */
		return;
	case 1: /* WRITE */
		ee->state = EE_DATA_IN;
		return;
	case 3: /* ERASE */
		ee_store(ee, addr, 0xFFFF);
		break;
	default:
		switch (addr >> 4) {
		case 0: /* EWDS */
			ee->write_en = false;
			break;
		case 1: /* WRAL */
			ee->all = true;
			ee->state = EE_DATA_IN;
			return;
		case 2: /* ERAL */
			for (unsigned i = 0; i < E1000_EEPROM_WORDS; i++)
				ee_store(ee, i, 0xFFFF);
			break;
		default: /* EWEN */
			ee->write_en = true;
			break;
		}
	}
	ee->state = EE_DONE;
	ee->do_bit = true;
}

/* One rising edge of SK with CS high. */
static void ee_clock(struct e1000_eeprom *ee, bool di)
{
	switch (ee->state) {
	case EE_IDLE:
		if (di) { /* the start bit; leading zeros are ignored */
			ee->state = EE_CMD;
			ee->nbits = 0;
			ee->shift = 0;
		}
		break;
	case EE_CMD:
		ee->shift = ee->shift << 1 | di;
		if (++ee->nbits == 8)
			ee_command(ee);
		break;
	case EE_DATA_IN:
		ee->shift = (ee->shift << 1 | di) & 0xffff;
		if (++ee->nbits == 16) {
			if (ee->all) {
				for (unsigned i = 0; i < E1000_EEPROM_WORDS; i++)
					ee_store(ee, i, (uint16_t)ee->shift);
			} else {
				ee_store(ee, ee->addr, (uint16_t)ee->shift);
			}
			ee->state = EE_DONE;
			ee->do_bit = true;
		}
		break;
	case EE_DATA_OUT:
		ee->do_bit = (ee->shift >> 15) & 1;
		ee->shift = (ee->shift << 1) & 0xffff;
		if (++ee->nbits == 16) { /* sequential read: the next word follows */
			ee->nbits = 0;
			ee->addr = (uint8_t)((ee->addr + 1) % E1000_EEPROM_WORDS);
			ee->shift = ee->words[ee->addr];
		}
		break;
	case EE_DONE:
		break;
	}
}

void e1000_eecd_write(struct e1000 *e, uint32_t v)
{
	struct e1000_eeprom *ee = &e->ee;
	uint32_t old = ee->eecd;
	ee->eecd = v & E1000_EECD_WRITABLE;
	if (!(v & E1000_EECD_CS)) {
		/* deselected: the next frame starts over */
		ee->state = EE_IDLE;
		ee->nbits = 0;
		ee->do_bit = true;
		return;
	}
	if ((v & E1000_EECD_SK) && !(old & E1000_EECD_SK))
		ee_clock(ee, (v & E1000_EECD_DI) != 0);
}

uint32_t e1000_eecd_read(const struct e1000 *e)
{
	uint32_t v = e->ee.eecd | E1000_EECD_PRES; /* 64 words: SIZE clear */
	if (v & E1000_EECD_REQ)
		v |= E1000_EECD_GNT; /* granted at once: no firmware competes */
	if (e->ee.do_bit)
		v |= E1000_EECD_DO;
	return v;
}

void e1000_eerd_write(struct e1000 *e, uint32_t v)
{
	if (!(v & E1000_EERD_START)) {
		e->eerd = v & ~E1000_EERD_DONE;
		return;
	}
	unsigned addr = (v >> E1000_EERD_ADDR_SHIFT) & 0xff;
	uint16_t data = addr < E1000_EEPROM_WORDS ? e->ee.words[addr] : 0;
	e->eerd = (uint32_t)data << E1000_EERD_DATA_SHIFT | addr << E1000_EERD_ADDR_SHIFT |
		  E1000_EERD_DONE;
}

/* ---- PHY ---- */

void e1000_phy_reset(struct e1000 *e)
{
	uint16_t *p = e->phy;
	memset(e->phy, 0, sizeof(e->phy));
	p[PHY_CTRL] = 0x1140;	/* autoneg enabled, full duplex, 1000 Mb/s */
	p[PHY_STATUS] = 0x796D; /* 10/100 abilities, ext status, autoneg complete, link up */
	p[PHY_ID1] = M88E1011_ID1;
	p[PHY_ID2] = M88E1011_ID2;
	p[PHY_AUTONEG_ADV] = 0x0DE1;
	p[PHY_LP_ABILITY] = 0x45E1; /* partner: 10/100 both duplexes, pause, acknowledged */
	p[PHY_AUTONEG_EXP] = 0x0001;
	p[PHY_1000T_CTRL] = 0x0300;
	p[PHY_1000T_STATUS] = 0x3C00; /* local and remote receivers OK, partner 1000 FD/HD */
	p[PHY_EXT_STATUS] = 0x3000;
	p[M88_PHY_SPEC_CTRL] = 0x0068;
	/* 1000 Mb/s, full duplex, resolved, link up */
	p[M88_PHY_SPEC_STATUS] = 0x8000 | 0x2000 | 0x0800 | 0x0400;
	p[M88_EXT_PHY_SPEC_CTRL] = 0x0D60;
}

static bool phy_read_only(unsigned reg)
{
	switch (reg) {
	case PHY_STATUS:
	case PHY_ID1:
	case PHY_ID2:
	case PHY_LP_ABILITY:
	case PHY_AUTONEG_EXP:
	case PHY_1000T_STATUS:
	case PHY_EXT_STATUS:
	case M88_PHY_SPEC_STATUS:
	case M88_INT_STATUS:
	case M88_RX_ERR_CNTR:
		return true;
	default:
		return false;
	}
}

void e1000_mdic_write(struct e1000 *e, uint32_t v)
{
	unsigned reg = (v >> E1000_MDIC_REG_SHIFT) & 0x1f, phy = (v >> E1000_MDIC_PHY_SHIFT) & 0x1f;
	uint32_t op = v & (E1000_MDIC_OP_READ | E1000_MDIC_OP_WRITE);
	uint32_t r = v & ~(E1000_MDIC_READY | E1000_MDIC_ERROR);
	if (phy != E1000_PHY_ADDR || (op != E1000_MDIC_OP_READ && op != E1000_MDIC_OP_WRITE)) {
		r |= E1000_MDIC_ERROR;
	} else if (op == E1000_MDIC_OP_READ) {
		r = (r & ~E1000_MDIC_DATA_MASK) | e->phy[reg];
	} else if (!phy_read_only(reg)) {
		uint16_t d = (uint16_t)(v & E1000_MDIC_DATA_MASK);
		if (reg == PHY_CTRL) /* reset and restart complete at once */
			d &= (uint16_t) ~(MII_CR_RESET | MII_CR_RESTART_AUTO_NEG);
		e->phy[reg] = d;
	}
	e->mdic = r | E1000_MDIC_READY;
	if (v & E1000_MDIC_INT_EN)
		e1000_set_cause(e, E1000_ICR_MDAC);
}
