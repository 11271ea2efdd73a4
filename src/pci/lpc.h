/* SPDX-License-Identifier: BSD-2-Clause */
/* The LPC bridge's DSDT registry: devices behind the bridge (the i8042...) describe themselves
 * inside its Device (ISA) without the bridge knowing them. One line in the device's file:
 *     static const struct lpc_dsdt foo_dsdt = {"foo", foo_write_dsdt};
 *     LPC_DSDT(foo_dsdt);
 * lpc_write_dsdt calls every entry, in name order, after its own COM port nodes. */
#ifndef KB_LPC_H
#define KB_LPC_H

#include "core/devset.h"

struct aml;
struct vm;

struct lpc_dsdt {
	const char *name;
	/* Emit Device () nodes into the open Device (ISA) scope. */
	void (*write)(struct vm *vm, struct aml *a);
};
#define LPC_DSDT(sym) DEVSET_ENTRY(lpc_dsdt, sym)

#endif
