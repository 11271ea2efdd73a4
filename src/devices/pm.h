/* SPDX-License-Identifier: BSD-2-Clause */
#ifndef KB_PM_H
#define KB_PM_H

/* Press the ACPI power button (SIGTERM, bhyvectl): sets PWRBTN_STS and raises the SCI. */
void pm_power_button(void);

#endif
